"""The settings of cull, score and group, declared once: ``photocull.toml``'s schema AND the CLI's options.

Each field of :class:`RunSettings` is one command-line option (``--top-k`` for ``top_k``)
and, unless marked ``toml=False``, one key of the ``[cull]`` table; its metadata carries the
help text, the allowed range and which commands take it. The CLI builds its signatures from
these fields (``photocull.cli.options``), so a new option is one field here. ``[stars]`` and
``[technical]`` are the :class:`~photocull.pick.StarMapping` and
:class:`~photocull.scorers.technical.TechnicalThresholds` dataclasses themselves.

``photocull.toml`` in the user config folder applies to every shoot; one in the shoot folder
overrides it for that shoot; an option given on the command line overrides both::

    [cull]                 # any cull/score/group option, by its long name with _ for -
    scorer = "technical"
    top_k = 1
    write = "exif,xmp,sidecar"
    max_gap = 20.0
    label_picks = true

    [stars]                # the star mapping (photocull.pick.StarMapping)
    five_star = 0.2
    four_star = 0.4

    [technical]            # problem thresholds (photocull.scorers.technical.TechnicalThresholds)
    blur_rel_ev = 1.4

An unknown table or key, a value of the wrong type or out of range is a :class:`ConfigError`
naming the file, the key and what is allowed: a typo on a card never silently does nothing.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

from . import paths
from .runtime import cpu_count
from .analyse import AnalyseOptions
from .decode import DEFAULT_MAX_PIXELS
from .capture_time import ClockOffset, parse_clock_offset
from .backbones.spec import DEFAULT_MODEL, DEFAULT_PRETRAINED
from .pretrained import WEIGHTS
from .group import GroupOptions
from .pick import StarMapping
from .scorers.technical import TechnicalThresholds
from .metadata import default_fields, write_fields
from .mode import Mode
from .pipeline.options import CullOptions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ALL = ("cull", "score", "group")
SCORING = ("cull", "score")
CULL = ("cull",)
OFFICIAL = WEIGHTS["fgaesq"].repo_id  # where the published FGAesQ checkpoint lives
WRITE_DEFAULT = ",".join(f for f in write_fields() if f in default_fields())  # --write's default

MAX_WORKERS = max(4, 4 * cpu_count())  # decode processes beyond 4 per CPU only cost memory (48 took 2.3 GB on 2 cores)


class ConfigError(ValueError):
    """A settings file (or value) that cannot be used: says which file and which key."""


def opt(
    default: Any,
    help: str,
    *,
    flags: tuple[str, ...] = (),
    commands: tuple[str, ...] = ALL,
    toml: bool = True,
    panel: str | None = None,
    min: float | None = None,
    max: float | None = None,
    choices: Callable[[], tuple[str, ...]] | None = None,
    metavar: str | None = None,
    path: dict[str, Any] | None = None,
    validate: Callable[[Any], Any] | None = None,
) -> Any:
    """A settings field: its default plus what the CLI and the TOML reader need to know.

    ``flags``: the option's names (default ``--name-with-dashes``; ``--x/--no-x`` for flags);
    ``choices``: a function giving the allowed values (read from a registry when asked, so a
    scorer registered by a plugin is accepted); ``validate``: raises ConfigError for a bad
    value; ``path``: typer path checks.
    """
    meta = dict(help=help, flags=flags, commands=commands, toml=toml, panel=panel, min=min, max=max,
                choices=choices, metavar=metavar, path=path, validate=validate)
    return field(default=default, metadata={"photocull": meta})


def _scorer_names() -> tuple[str, ...]:
    from .scorers import scorer_names

    return ("auto", *scorer_names())


def _engines() -> tuple[str, ...]:
    from .pipeline.options import ENGINES

    return ENGINES


def _preset_names() -> tuple[str, ...]:
    from .metadata.presets import preset_names

    return preset_names()


def _sidecar_namings() -> tuple[str, ...]:
    from .metadata import SIDECAR_NAMINGS

    return tuple(SIDECAR_NAMINGS)


_MODEL = "Model"
SERIES_MODES = ("auto", "reference", "all-pairs")


def parse_clock_offsets(values: Any) -> tuple[ClockOffset, ...]:
    """``["EOS R5=+00:01:30", ...]`` (or one such string) -> ClockOffsets; ConfigError naming the bad one."""
    items = [values] if isinstance(values, str) else list(values or ())
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"expected strings MODEL=+HH:MM:SS, got {item!r}")
        try:
            out.append(parse_clock_offset(item))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return tuple(out)


def parse_targets(value: str) -> frozenset[str]:
    """``"exif,xmp"`` -> the set of metadata targets (ConfigError when empty or unknown)."""
    targets = frozenset(t.strip().lower() for t in value.split(",") if t.strip())
    if targets - set(write_fields()) or not targets:  # asked now: a target registered since counts
        raise ConfigError(f"choose from {', '.join(write_fields())} (comma-separated), got {value!r}")
    return targets


@dataclass
class RunSettings:
    """What one cull/score/group run is asked to do: the ``[cull]`` table and the CLI options."""

    scorer: str = opt("auto", "auto (FGAesQ when its weights are here, else CLIP prompts with --model, else technical), "
                      "technical (weight-free: sharpness, exposure, noise), clip, fgaesq.",
                      commands=SCORING, choices=_scorer_names)
    weights: Optional[str] = opt(None, f"FGAesQ weights: the official checkpoint as published ({OFFICIAL} .pt/.pth/.bin, "
                                 "converted once and cached) or a .safetensors from 'photocull train' (default: the model "
                                 "folder, filled by 'photocull models download fgaesq').", commands=SCORING, panel=_MODEL,
                                 metavar="FILE")
    series_mode: str = opt("auto", "FGAesQ series scoring: all-pairs (the official O(n^2) averaging), reference (one pair "
                           "per frame, O(n)), auto (all pairs up to 5 frames, reference beyond; chosen by "
                           "benchmarks/results/fgaesq-official-cpu-2c.json).", commands=SCORING, panel=_MODEL,
                           choices=lambda: SERIES_MODES)
    exhaustive: bool = opt(False, "Same as --series-mode all-pairs (the official code's numbers for every series).",
                           commands=SCORING, panel=_MODEL, toml=False)
    seed: int = opt(0, "FGAesQ single-image mode draws blocks at random, as the official code does: the seed of that "
                    "draw (the official code run after random.seed(SEED) gives the same scores).", commands=SCORING,
                    panel=_MODEL, min=0, max=2**32 - 1)
    faces: bool = opt(False, "Flag closed eyes and faces out of focus, against series mates (off by default: it makes "
                      "a cull about a quarter slower; needs pip install 'photocull[faces]').", flags=("--faces/--no-faces",),
                      commands=SCORING, toml=False)
    html: Optional[Path] = opt(None, "Also write a self-contained HTML contact sheet to PATH (open it in any browser).",
                               commands=SCORING, toml=False, metavar="PATH")
    top_k: int = opt(1, "Picks per series (3-5 stars; the other clean frames get 2).", commands=SCORING, min=1, max=1000)
    keep: Optional[int] = opt(None, "Keep the N best frames of each series (at least --top-k; never a failed frame while a "
                              "clean one goes) and reject the rest: xmp:Rating -1, 1 star in EXIF. Without it only "
                              "--reject marks rejects.", commands=SCORING, min=1, max=1000, metavar="N")
    dry_run: bool = opt(False, "Do everything but write: see what would happen.", flags=("--dry-run", "-n"),
                        commands=CULL, toml=False)
    write: str = opt(WRITE_DEFAULT, f"Where ratings go: {', '.join(write_fields())} (comma-separated). JPEGs get EXIF+XMP; "
                     "other formats an XMP sidecar.", commands=CULL, validate=parse_targets)
    label_picks: bool = opt(False, "Also give picks the colour label 'Green' and rejects 'Red' (xmp:Label).", commands=CULL)
    reject: bool = opt(False, "Also reject technically failed frames that are not picks (xmp:Rating -1; 1 star in EXIF); "
                       "--keep rejects beyond the N best, failed or not.", commands=CULL)
    overwrite: bool = opt(False, "Replace ratings, rejects and labels you set yourself (by default they are kept: "
                          "photocull only rewrites what it wrote, as its journal knows).", commands=CULL, toml=False)
    preset: Optional[str] = opt(None, "Write what one editor reads: lightroom, darktable, digikam, capture-one, rawtherapee, "
                                "bridge. Sets --write, --sidecar-naming and --reject (unless given), labels picks Green and "
                                "rejects Red and adds the keyword photocull|pick or photocull|reject.", commands=CULL,
                                choices=_preset_names)
    keep_mtime: bool = opt(True, "Keep each photo's modification time after writing.", flags=("--keep-mtime/--touch",),
                           commands=CULL)
    copy_picks: Optional[Path] = opt(None, "Copy every pick (with its RAW and sidecars) into DIR; a re-run recognises its "
                                     "earlier copies. DIR is never culled as part of the shoot.", commands=CULL,
                                     toml=False, metavar="DIR", path=dict(file_okay=False))
    move_rejects: Optional[Path] = opt(None, "Move the rejects (failed frames, implying --reject, and those beyond --keep) "
                                       "into DIR (never deleted; undo moves them back). DIR is never culled as part of the shoot.",
                                       commands=CULL, toml=False, metavar="DIR", path=dict(file_okay=False))
    sidecar_naming: str = opt("name", "'name': IMG_1.xmp (Lightroom, darktable read); 'name-ext': IMG_1.CR2.xmp (darktable writes).",
                              commands=CULL, choices=_sidecar_namings)
    clock_offset: Optional[list[str]] = opt(None, "Correct a body whose clock was wrong: MODEL=+HH:MM:SS adds that much to "
                                            "the capture time of every frame whose camera (make and model, model alone, "
                                            "or serial number) is MODEL; repeat for several bodies.", metavar="MODEL=±HH:MM:SS",
                                            validate=parse_clock_offsets)
    recursive: bool = opt(True, "Look into subfolders.", flags=("--recursive/--no-recursive",))
    follow_links: bool = opt(False, "Also follow links that lead outside the shoot folder (default: skipped with a warning, "
                             "so a link such as 'up -> ..' on a card never rates other albums).")
    max_gap: float = opt(GroupOptions.max_gap, "Seconds of pause that always end a series.", min=0.0, max=86400.0)
    hash_threshold: float = opt(GroupOptions.hash_threshold, "Mean pHash/dHash distance (bits of 64) under which frames are "
                                "the same shot.", min=0.0, max=64.0)
    embed_threshold: float = opt(GroupOptions.embed_threshold, "Embedding cosine similarity above which frames are the same shot.",
                                 min=0.0, max=1.0)
    model: Optional[str] = opt(None, f"open_clip backbone for grouping (default {DEFAULT_MODEL}; used when its weights are here).",
                               panel=_MODEL)
    pretrained: Optional[str] = opt(None, f"open_clip tag (default {DEFAULT_PRETRAINED}) or a local checkpoint file (.safetensors/.pt).",
                                    panel=_MODEL)
    no_embeddings: bool = opt(False, "Group by capture time and hashes only (no CLIP model).", panel=_MODEL)
    device: str = opt("auto", "auto, cpu, cuda, cuda:N or mps.", panel=_MODEL)
    batch_size: Optional[int] = opt(None, "Images per model batch (default: fitted to GPU memory; 32 on CPU).", panel=_MODEL,
                                    min=1, max=4096)
    cache: bool = opt(True, "Reuse what earlier runs computed (SHOOT/.photocull/cache.sqlite).", flags=("--cache/--no-cache",))
    user_cache: bool = opt(False, "Keep the cache in your user cache folder instead of the shoot (read-only cards).")
    json_path: Optional[str] = opt(None, "Write a machine-readable report to PATH ('-' prints it instead of the table).",
                                   flags=("--json",), toml=False, metavar="PATH")
    list_path: Optional[str] = opt(None, "Write the picks' paths to PATH, one a line, for any other tool ('-' prints them "
                                   "instead of the table).", flags=("--list",), commands=SCORING, toml=False, metavar="PATH")
    details: bool = opt(False, "Also print every frame with its problems, rating and why (frames with problems first).",
                        toml=False)
    workers: Optional[int] = opt(None, "Decode processes (default: one per core; at most 4 per core).", min=1, max=MAX_WORKERS)
    max_pixels: int = opt(DEFAULT_MAX_PIXELS // 1_000_000, "Largest image decoded, in megapixels: a larger file is "
                          "reported and left alone (a guard against decompression bombs on a card); raise it for a "
                          "genuine giant panorama.", min=1, max=100_000, metavar="MP")
    engine: str = opt("local", "Where files are decoded: local (processes on this machine) or ray (a Ray cluster, "
                      "for whole libraries: pip install 'photocull[ray]').", choices=_engines)
    ray_address: Optional[str] = opt(None, "With --engine ray: the cluster (ray://HOST:10001 or auto; default: start Ray here).",
                                     metavar="ADDR")
    verbose: bool = opt(False, "Show error details.", flags=("--verbose", "-v"), toml=False)
    quiet: bool = opt(False, "No progress bars.", flags=("--quiet", "-q"), toml=False)

    def targets(self) -> frozenset[str]:
        """``write`` as a set of metadata targets."""
        return parse_targets(self.write)

    def exhaustive_series(self) -> bool | None:
        """The series mode as scorers take it: True all pairs, False reference, None auto."""
        if self.exhaustive:
            return True
        return {"all-pairs": True, "reference": False}.get(self.series_mode)


# Allowed ranges of the [stars] and [technical] values (their dataclasses live with their stages).
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "stars": {"five_star": (0.0, 1.0), "four_star": (0.0, 1.0), "other_stars": (1, 2), "failed_stars": (1, 2)},  # picks get 3-5
    "technical": {
        "blur_rel_ev": (0.0, 20.0), "blur_abs": (0.0, 1.0), "clip_high": (0.0, 1.0), "clip_low": (0.0, 1.0),
        "dark_luma": (0.0, 1.0), "exposure_rel_ev": (0.0, 20.0), "clip_rel": (0.0, 1.0), "noise_rel": (0.0, 100.0),
        "noise_min": (0.0, 255.0), "noise_abs": (0.0, 255.0),
        # a halving is 1.0; at 0 every frame would be "half" of itself
        "structure_blur_ev": (0.05, 20.0), "structure_noise_rel": (0.0, 100.0), "structure_noise_min": (0.0, 255.0),
    },
}
SECTION_TYPES: dict[str, type] = {"cull": RunSettings, "stars": StarMapping, "technical": TechnicalThresholds}


def option_meta(f: dataclasses.Field) -> dict[str, Any]:
    """The CLI/TOML metadata of a RunSettings field."""
    return f.metadata["photocull"]


def toml_keys(section: str) -> dict[str, type]:
    """``key -> type`` of one ``photocull.toml`` table (types without ``Optional``)."""
    cls = SECTION_TYPES[section]
    hints = typing.get_type_hints(cls)
    return {f.name: value_type(hints[f.name]) for f in dataclasses.fields(cls)
            if section != "cull" or option_meta(f)["toml"]}


def value_type(hint: Any) -> type:
    """``Optional[int]`` -> ``int``; ``Path`` stays ``Path``."""
    origin = typing.get_origin(hint)
    if origin is list:
        return list
    if origin is Union or (sys.version_info >= (3, 10) and origin is types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return value_type(args[0])
    return hint


def value_range(section: str, key: str) -> tuple[float | None, float | None]:
    if section == "cull":
        meta = option_meta(next(f for f in dataclasses.fields(RunSettings) if f.name == key))
        return meta["min"], meta["max"]
    return RANGES.get(section, {}).get(key, (None, None))


def check_value(section: str, key: str, value: Any, where: str) -> Any:
    """``value`` for ``[section] key``, coerced (int -> float) and checked against its type,
    range and choices; ConfigError naming ``where`` (a file) and the key otherwise."""
    kind = toml_keys(section)[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is Path and isinstance(value, str):
        value = Path(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: [{section}] {key} must be {kind.__name__}, got {value!r}")
    if kind is float and not math.isfinite(value):  # TOML has nan and inf: no threshold means either
        raise ConfigError(f"{where}: [{section}] {key} must be a finite number, got {value!r}")
    lo, hi = value_range(section, key)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{where}: [{section}] {key} = {value!r} is out of range; allowed {_fmt(lo)}..{_fmt(hi)}")
    if section == "cull":
        meta = option_meta(next(f for f in dataclasses.fields(RunSettings) if f.name == key))
        if meta["choices"] is not None and str(value).lower() not in meta["choices"]():
            raise ConfigError(f"{where}: [{section}] {key} = {value!r} is not one of {', '.join(meta['choices']())}")
        if meta["validate"] is not None:
            try:
                meta["validate"](value)
            except ConfigError as exc:
                raise ConfigError(f"{where}: [{section}] {key}: {exc}") from None
    return value


def _fmt(x: float | None) -> str:
    return "" if x is None else (str(int(x)) if float(x).is_integer() else str(x))


def dataclass_from_dict(cls: type, d: dict[str, Any], where: str) -> Any:
    """``cls(**d)``, refusing unknown keys with an error naming ``where`` and the keys (the
    one rule for every settings dataclass read from a file: a typo never does nothing)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}; known: {', '.join(sorted(names))}")
    return cls(**d)


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; ConfigError (naming the file) when unreadable or invalid.
    The one TOML reader: settings files and training configs both use it."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc


@dataclass
class Settings:
    """The settings tree in force: ``[cull]`` run settings, ``[stars]`` and ``[technical]``,
    plus which file each value came from."""

    cull: RunSettings = field(default_factory=RunSettings)
    stars: StarMapping = field(default_factory=StarMapping)
    technical: TechnicalThresholds = field(default_factory=TechnicalThresholds)
    sources: dict[str, str] = field(default_factory=dict)  # "section.key" -> file it came from
    files: list[Path] = field(default_factory=list)

    def merge(self, data: dict[str, Any], where: str) -> None:
        """Apply one file's tables (later files win). Unknown tables or keys are errors."""
        for section, table in data.items():
            if section not in SECTION_TYPES or not isinstance(table, dict):
                known = ", ".join(f"[{s}]" for s in SECTION_TYPES)
                raise ConfigError(f"{where}: unknown section [{section}]; known: {known}")
            keys = toml_keys(section)
            updates = {}
            for key, value in table.items():
                if key not in keys:
                    raise ConfigError(f"{where}: unknown key '{key}' in [{section}]; known: {', '.join(sorted(keys))}")
                updates[key] = check_value(section, key, value, where)
                self.sources[f"{section}.{key}"] = where
            setattr(self, section, dataclasses.replace(getattr(self, section), **updates))
        self.check_stars(where)

    def check_stars(self, where: str) -> None:
        """What no single range can say: failed frames never above good ones, fractions of picks within 1."""
        st = self.stars
        if st.failed_stars > st.other_stars:
            raise ConfigError(f"{where}: [stars] failed_stars = {st.failed_stars} is above other_stars = "
                              f"{st.other_stars}; a failed frame must not outrank a good one")
        if st.five_star + st.four_star > 1.0:
            raise ConfigError(f"{where}: [stars] five_star + four_star = {st.five_star + st.four_star:g} is over 1; "
                              "they are fractions of the picks")

    def with_options(self, given: dict[str, Any]) -> Settings:
        """These settings with command-line values (only those the user typed) on top, then
        the preset's values for the options neither the command line nor a file set.
        ConfigError for options that contradict each other (--keep below --top-k)."""
        out = dataclasses.replace(self, cull=dataclasses.replace(self.cull, **given))
        c = out.cull
        if c.keep is not None and c.keep < c.top_k:
            raise ConfigError(f"--keep {c.keep} is below --top-k {c.top_k}: picks are kept frames; "
                              f"use --keep {c.top_k} or more")
        if c.preset:
            from .metadata.presets import get_preset

            preset = get_preset(c.preset)
            unset = [k for k in ("write", "sidecar_naming", "label_picks", "reject")
                     if k not in given and f"cull.{k}" not in self.sources]
            values = {"write": preset.write, "sidecar_naming": preset.sidecar_naming, "label_picks": True, "reject": True}
            out.cull = dataclasses.replace(c, **{k: values[k] for k in unset})
        return out

    def writer_options(self) -> dict[str, Any]:
        """The arguments of ``metadata.create_writer`` for these settings (journal aside)."""
        from .metadata.presets import get_preset

        c = self.cull
        preset = get_preset(c.preset) if c.preset else None
        return dict(targets=c.targets(), label_picks=c.label_picks, reject=preset.reject if preset else True,
                    preserve_mtime=c.keep_mtime, sidecar_naming=c.sidecar_naming, overwrite=c.overwrite,
                    keywords=preset is not None)

    def cull_options(self, mode: Mode | str, *, faces: bool = False) -> CullOptions:
        """What ``pipeline.run`` needs for ``mode`` (a :class:`~photocull.mode.Mode` or its name):
        only a mode that writes rejects, writes, dry-runs, copies and moves."""
        c = self.cull
        writes = Mode.of(mode).writes
        return CullOptions(
            recursive=c.recursive,
            follow_links=c.follow_links,
            workers=c.workers,
            analyse=AnalyseOptions(max_pixels=c.max_pixels * 1_000_000, thumb=self.technical.series_consensus),
            group=GroupOptions(max_gap=c.max_gap, hash_threshold=c.hash_threshold, embed_threshold=c.embed_threshold),
            cache=c.cache,
            user_cache=c.user_cache,
            top_k=c.top_k,
            keep=c.keep,
            reject=(c.reject or c.move_rejects is not None) and writes,
            stars=self.stars,
            write=writes,
            dry_run=c.dry_run and writes,
            copy_picks=c.copy_picks if writes else None,
            move_rejects=c.move_rejects if writes else None,
            faces=faces,
            clock_offsets=parse_clock_offsets(c.clock_offset),
        )

    def rows(self) -> list[tuple[str, Any, str]]:
        """``(section.key, value, source)`` for every TOML key (``photocull config``)."""
        out = []
        for section in SECTION_TYPES:
            obj = getattr(self, section)
            for key in sorted(toml_keys(section)):
                name = f"{section}.{key}"
                out.append((name, getattr(obj, key), self.sources.get(name, "default")))
        return out


def load(shoot: Path | None) -> Settings:
    """Defaults, then the user's ``photocull.toml``, then the shoot's own on top."""
    settings = Settings()
    candidates = [paths.user_config_path()]
    if shoot is not None:
        candidates.append(paths.shoot_folder(shoot) / paths.SETTINGS_FILENAME)
    for path in candidates:
        if path.is_file():
            settings.merge(read_toml(path), str(path))
            settings.files.append(path)
    return settings
