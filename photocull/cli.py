"""The photocull command line (thin: parses options, calls the pipeline, prints)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import __version__
from .group import GroupOptions
from .pipeline import CullOptions, CullResult, run

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
DEFAULT_MODEL, DEFAULT_PRETRAINED = "ViT-B-16", "openai"
WRITE_TARGETS = ("exif", "xmp", "sidecar")

app = typer.Typer(
    help=(
        "Cull a photo shoot: group bursts into series, score every frame, pick the best, "
        "and write star ratings your photo editor shows.\n\n"
        "Start with:  photocull cull SHOOT/ --dry-run   (look, write nothing)\n\n"
        "Then:        photocull cull SHOOT/             (write ratings; undo with: photocull undo SHOOT/)"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


class _RichProgress:
    """Adapts rich progress bars to the pipeline's Progress protocol."""

    def __init__(self, progress: Progress | None):
        self.progress = progress

    def stage(self, name: str, total: int | None) -> Callable[[int], None]:
        if self.progress is None or not total:
            return lambda n=1: None
        task = self.progress.add_task(name, total=total)
        return lambda n=1: self.progress.advance(task, n)  # type: ignore[union-attr]


@contextmanager
def _progress(console: Console, enabled: bool) -> Iterator[_RichProgress]:
    if not enabled:
        yield _RichProgress(None)
        return
    bar = Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with bar:
        yield _RichProgress(bar)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"photocull {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    pass


def _parse_targets(value: str) -> frozenset[str]:
    targets = frozenset(t.strip().lower() for t in value.split(",") if t.strip())
    unknown = targets - set(WRITE_TARGETS)
    if unknown or not targets:
        raise typer.BadParameter(f"choose from {', '.join(WRITE_TARGETS)} (comma-separated), got {value!r}")
    return targets


def _make_scorer(name: str, console: Console, settings, backbone, weights: Optional[Path], device: str, exhaustive: bool, batch_size: Optional[int]):
    """The scorer for --scorer; 'auto' takes the best one whose weights are here, and says so."""
    from .model.paths import default_model_dir, find_model
    from .scorers.technical import TechnicalScorer

    name = name.lower()
    thresholds = settings.thresholds()
    if name == "auto":
        if weights is not None or find_model() is not None:
            name = "fgaesq"
        elif backbone is not None:
            name = "clip"
            console.print(f"[dim]note: no FGAesQ weights in {default_model_dir()}; scoring with CLIP prompts (--scorer clip).[/]")
        else:
            console.print(
                f"[dim]note: no FGAesQ weights in {default_model_dir()} and no CLIP backbone; scoring with the "
                "technical scorer (sharpness, exposure, noise). See 'photocull models --help'.[/]"
            )
            return TechnicalScorer(thresholds)
    if name == "technical":
        return TechnicalScorer(thresholds)
    if name == "clip":
        if backbone is None:
            console.print("[red]error[/]: --scorer clip needs a CLIP backbone: pass --model/--pretrained (and drop --no-embeddings).")
            raise typer.Exit(EXIT_USAGE)
        from .scorers.clip_iqa import ClipIQAScorer

        return ClipIQAScorer(backbone, thresholds)
    if name == "fgaesq":
        from .embed import DeviceUnavailable
        from .scorers.fgaesq import load_scorer

        try:
            return load_scorer(weights, device, exhaustive=exhaustive, batch_size=batch_size or 16, thresholds=thresholds)
        except (FileNotFoundError, DeviceUnavailable, ValueError, OSError) as exc:
            console.print(f"[red]error[/]: {exc}", highlight=False)
            console.print("Alternatives: --weights PATH.safetensors, 'photocull models import-fgaesq CHECKPOINT', or --scorer technical.")
            raise typer.Exit(EXIT_USAGE)
    raise typer.BadParameter(f"unknown scorer {name!r}; choose auto, technical, clip or fgaesq", param_hint="--scorer")


def _make_writer(targets: frozenset[str], label_picks: bool, reject: bool, preserve_mtime: bool, sidecar_naming: str, journal):
    from .metadata.writer import write_rating

    def writer(fr, dry_run: bool):
        r = fr.rating
        common = dict(
            targets=targets,
            rejected=reject and r.rejected,
            label=("Green" if (label_picks and r.is_pick) else None),
            journal=journal,
            dry_run=dry_run,
            preserve_mtime=preserve_mtime,
            sidecar_naming=sidecar_naming,
        )
        outcome = write_rating(
            fr.frame.path, r.stars, fmt=fr.frame.fmt, expected=(fr.frame.size, fr.frame.mtime_ns), **common
        )
        # A RAW beside its JPEG is the same frame: it gets the same rating, in a sidecar.
        for companion in fr.frame.companions:
            extra = write_rating(companion, r.stars, fmt="raw", **common)
            if extra.status == "skipped" and outcome.status != "skipped":
                outcome = extra
        return outcome

    return writer


def _load_backbone(model: Optional[str], pretrained: Optional[str], no_embeddings: bool, device: str, batch_size: Optional[int], console: Console):
    """The CLIP backbone for grouping, or None. Without an explicit --model, missing weights
    are a warning (hash + time grouping); with one, they are an error (exit 2)."""
    if no_embeddings:
        return None
    from .embed import (
        BackboneSpec,
        DeviceUnavailable,
        WeightsUnavailable,
        download_allowed,
        load_backbone,
        surely_absent,
    )

    spec = BackboneSpec(model=model or DEFAULT_MODEL, pretrained=pretrained if pretrained is not None else DEFAULT_PRETRAINED)
    if spec.pretrained and spec.pretrained.lower() == "none":
        spec = BackboneSpec(model=spec.model, pretrained=None)
    implicit = model is None and pretrained is None
    try:
        if implicit and surely_absent(spec) and not download_allowed():
            raise WeightsUnavailable("default weights not cached", model=spec.model, pretrained=spec.pretrained)
        return load_backbone(spec, device, batch_size=batch_size)
    except DeviceUnavailable as exc:
        console.print(f"[red]error[/]: {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    except (WeightsUnavailable, ValueError) as exc:
        if implicit:
            console.print(
                f"[yellow]warning[/]: no weights for the default {spec.label} backbone here; "
                "grouping by capture time and perceptual hashes only "
                "(pass --model/--pretrained PATH to use a local checkpoint, --no-embeddings to silence this).",
                highlight=False,
            )
            return None
        console.print(f"[red]error[/]: {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE)


def _finish(result: CullResult, console: Console, started: Optional[float], json_path: Optional[str], verbose: bool, show_scores: bool = True) -> None:
    from .report.json import write_json
    from .report.table import print_errors, series_table, totals_line

    elapsed = None if started is None else time.perf_counter() - started
    if json_path == "-":
        typer.echo(write_json(result, "-", elapsed))
    else:
        console.print(series_table(result, show_scores=show_scores))
        print_errors(console, result, verbose)
        for note in result.notes:
            console.print(f"[yellow]note[/]: {note}", highlight=False)
        console.print(totals_line(result, elapsed), highlight=False)
        if json_path:
            write_json(result, json_path, elapsed)
            console.print(f"[dim]report written to {json_path}[/]")
    raise typer.Exit(EXIT_PARTIAL if result.failed else EXIT_OK)


# Options shared by cull, score and group (typer reads them from each signature).
_DIR = typer.Argument(..., exists=True, file_okay=True, dir_okay=True, readable=True, help="The shoot: a folder (or one file).")
_RECURSIVE = typer.Option(True, "--recursive/--no-recursive", help="Look into subfolders.")
_MAX_GAP = typer.Option(GroupOptions.max_gap, help="Seconds of pause that always end a series.")
_HASH = typer.Option(GroupOptions.hash_threshold, help="Mean pHash/dHash distance (bits of 64) under which frames are the same shot.")
_JSON = typer.Option(None, "--json", help="Write a machine-readable report to PATH ('-' prints it instead of the table).", metavar="PATH")
_WORKERS = typer.Option(None, help="Decode processes (default: one per core).", min=1)
_VERBOSE = typer.Option(False, "--verbose", "-v", help="Show error details.")
_MODEL = typer.Option(None, "--model", help=f"open_clip backbone for grouping (default {DEFAULT_MODEL}; used when its weights are here).", rich_help_panel="Model")
_PRETRAINED = typer.Option(None, "--pretrained", help=f"open_clip tag (default {DEFAULT_PRETRAINED}) or a local checkpoint file (.safetensors/.pt).", rich_help_panel="Model")
_NO_EMB = typer.Option(False, "--no-embeddings", help="Group by capture time and hashes only (no CLIP model).", rich_help_panel="Model")
_DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or mps.", rich_help_panel="Model")
_BATCH = typer.Option(None, "--batch-size", min=1, help="Images per model batch (default: fitted to GPU memory; 32 on CPU).", rich_help_panel="Model")
_EMB_T = typer.Option(GroupOptions.embed_threshold, help="Embedding cosine similarity above which frames are the same shot.")
_CACHE = typer.Option(True, "--cache/--no-cache", help="Reuse what earlier runs computed (SHOOT/.photocull/cache.sqlite).")
_USER_CACHE = typer.Option(False, "--user-cache", help="Keep the cache in your user cache folder instead of the shoot (read-only cards).")
_QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars.")
_SCORER = typer.Option("auto", help="auto (FGAesQ when its weights are here, else CLIP prompts with --model, else technical), technical (weight-free: sharpness, exposure, noise), clip, fgaesq.")
_WEIGHTS = typer.Option(None, "--weights", help="FGAesQ weights (.safetensors from 'photocull models import-fgaesq' or 'photocull train').", rich_help_panel="Model")
_FACES = typer.Option(None, "--faces/--no-faces", help="Flag closed eyes and faces out of focus, against series mates (default: on when OpenCV is installed: pip install 'photocull[faces]').")
_HTML = typer.Option(None, "--html", help="Also write a self-contained HTML contact sheet to PATH (open it in any browser).", metavar="PATH")
_EXHAUSTIVE = typer.Option(False, "--exhaustive", help="FGAesQ: score every pair of a series (the official O(n^2) averaging) instead of one reference per frame.", rich_help_panel="Model")


def _merged_params(ctx: typer.Context, console: Console):
    """Command-line values, with photocull.toml settings filling what was not given."""
    from .config import ConfigError, load

    p = dict(ctx.params)
    try:
        settings = load(p["shoot"])
    except ConfigError as exc:
        console.print(f"[red]error[/]: {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    for key, value in settings.values["cull"].items():
        source = ctx.get_parameter_source(key)  # typer vendors click: compare by name, not class
        if key in p and source is not None and source.name in ("DEFAULT", "DEFAULT_MAP"):
            p[key] = value
    return p, settings


def _execute(ctx: typer.Context, mode: str) -> None:
    """The body of cull / score / group: they differ only in what they write and show."""
    from .scorers.technical import TechnicalScorer

    console = _console(ctx.params.get("json_path"))
    p, settings = _merged_params(ctx, console)
    shoot: Path = p["shoot"]
    writing = mode == "cull"
    if writing:
        targets = _parse_targets(p["write"])
        if p["sidecar_naming"] not in ("name", "name-ext"):
            raise typer.BadParameter("choose 'name' or 'name-ext'", param_hint="--sidecar-naming")
    started = time.perf_counter()
    backbone = _load_backbone(p["model"], p["pretrained"], p["no_embeddings"], p["device"], p["batch_size"], console)
    if mode == "group":
        sc = TechnicalScorer(settings.thresholds())
    else:
        weights = Path(p["weights"]) if p.get("weights") else None
        sc = _make_scorer(p["scorer"], console, settings, backbone, weights, p["device"], p["exhaustive"], p["batch_size"])
    opts = CullOptions(
        recursive=p["recursive"],
        workers=p["workers"],
        group=GroupOptions(max_gap=p["max_gap"], hash_threshold=p["hash_threshold"], embed_threshold=p["embed_threshold"]),
        cache=p["cache"],
        user_cache=p["user_cache"],
        top_k=p.get("top_k", 1),
        stars=settings.stars(),
        write=writing,
        dry_run=p.get("dry_run", False),
        copy_picks=p.get("copy_picks"),
        move_rejects=p.get("move_rejects"),
        faces=_faces_enabled(p.get("faces"), console) if mode != "group" else False,
    )
    writer = journal = None
    if writing:
        from .metadata.journal import Journal

        journal = Journal(shoot if shoot.is_dir() else shoot.parent)
        writer = _make_writer(targets, p["label_picks"], p["reject"], p["keep_mtime"], p["sidecar_naming"], journal)
    with _progress(console, not p["quiet"]) as progress:
        result = run(shoot, sc, opts, writer=writer, progress=progress, backbone=backbone, journal=journal)
    _save_last_run(result, shoot)
    if p.get("html"):
        from .report.html import write_html

        with _progress(console, not p["quiet"]) as progress:
            progress.stage("Contact sheet", None)
            write_html(result, p["html"])
        console.print(f"[dim]contact sheet written to {p['html']}[/]", highlight=False)
    _finish(result, console, started, p["json_path"], p["verbose"], show_scores=mode != "group")


def _faces_enabled(requested: Optional[bool], console: Console) -> bool:
    from .faces import unavailable_reason

    if requested is False:
        return False
    reason = unavailable_reason()
    if reason is None:
        return True
    if requested:
        console.print(f"[red]error[/]: {reason}", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    console.print(f"[dim]note: face checks off: {reason}[/]", highlight=False)
    return False


def _save_last_run(result: CullResult, shoot: Path) -> None:
    """Keep the run's report in SHOOT/.photocull/ so 'photocull report' needs no re-scoring."""
    from .report.json import write_json

    folder = (shoot if shoot.is_dir() else shoot.parent) / ".photocull"
    try:
        folder.mkdir(exist_ok=True)
        write_json(result, str(folder / "last_run.json"))
    except OSError:
        pass  # a read-only shoot: the report command will say there is nothing to show


def _console(json_path: Optional[str]) -> Console:
    # With --json - the report owns stdout: everything else goes to stderr.
    return Console(stderr=json_path == "-")


@app.command()
def cull(
    ctx: typer.Context,
    shoot: Path = _DIR,
    scorer: str = _SCORER,
    weights: Optional[str] = _WEIGHTS,
    exhaustive: bool = _EXHAUSTIVE,
    faces: Optional[bool] = _FACES,
    html: Optional[Path] = _HTML,
    top_k: int = typer.Option(1, "--top-k", min=1, help="Picks per series."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Do everything but write: see what would happen."),
    write: str = typer.Option(",".join(WRITE_TARGETS), "--write", help="Where ratings go: exif, xmp, sidecar (comma-separated). JPEGs get EXIF+XMP; other formats an XMP sidecar."),
    label_picks: bool = typer.Option(False, "--label-picks", help="Also give picks the colour label 'Green' (xmp:Label)."),
    reject: bool = typer.Option(False, "--reject", help="Mark technically failed frames as rejected (xmp:Rating -1) instead of 1 star."),
    keep_mtime: bool = typer.Option(True, "--keep-mtime/--touch", help="Keep each photo's modification time after writing."),
    copy_picks: Optional[Path] = typer.Option(None, "--copy-picks", file_okay=False, help="Copy every pick (with its RAW and sidecars) into DIR.", metavar="DIR"),
    move_rejects: Optional[Path] = typer.Option(None, "--move-rejects", file_okay=False, help="Move technically failed frames into DIR (never deleted; undo moves them back).", metavar="DIR"),
    sidecar_naming: str = typer.Option("name", "--sidecar-naming", help="'name': IMG_1.xmp (Lightroom, darktable read); 'name-ext': IMG_1.CR2.xmp (darktable writes)."),
    recursive: bool = _RECURSIVE,
    max_gap: float = _MAX_GAP,
    hash_threshold: float = _HASH,
    embed_threshold: float = _EMB_T,
    model: Optional[str] = _MODEL,
    pretrained: Optional[str] = _PRETRAINED,
    no_embeddings: bool = _NO_EMB,
    device: str = _DEVICE,
    batch_size: Optional[int] = _BATCH,
    cache: bool = _CACHE,
    user_cache: bool = _USER_CACHE,
    json_path: Optional[str] = _JSON,
    workers: Optional[int] = _WORKERS,
    verbose: bool = _VERBOSE,
    quiet: bool = _QUIET,
) -> None:
    """Group, score, pick and write star ratings into the photos.

    Picks get 3-5 stars, their series mates 2, technically failed frames 1.
    Every write is atomic and journaled: [bold]photocull undo SHOOT/[/] restores what was there.

    Examples:

      photocull cull ~/Pictures/2026-11-24/ --dry-run

      photocull cull SHOOT/ --top-k 2 --json report.json

      photocull cull SHOOT/ --write sidecar       (never touch the originals)
    """
    _execute(ctx, "cull")


@app.command()
def score(
    ctx: typer.Context,
    shoot: Path = _DIR,
    scorer: str = _SCORER,
    weights: Optional[str] = _WEIGHTS,
    exhaustive: bool = _EXHAUSTIVE,
    faces: Optional[bool] = _FACES,
    html: Optional[Path] = _HTML,
    top_k: int = typer.Option(1, "--top-k", min=1, help="Picks per series."),
    recursive: bool = _RECURSIVE,
    max_gap: float = _MAX_GAP,
    hash_threshold: float = _HASH,
    embed_threshold: float = _EMB_T,
    model: Optional[str] = _MODEL,
    pretrained: Optional[str] = _PRETRAINED,
    no_embeddings: bool = _NO_EMB,
    device: str = _DEVICE,
    batch_size: Optional[int] = _BATCH,
    cache: bool = _CACHE,
    user_cache: bool = _USER_CACHE,
    json_path: Optional[str] = _JSON,
    workers: Optional[int] = _WORKERS,
    verbose: bool = _VERBOSE,
    quiet: bool = _QUIET,
) -> None:
    """Group and score, show picks and stars; write nothing to the photos.

    Example:  photocull score SHOOT/ --json -
    """
    _execute(ctx, "score")


@app.command()
def group(
    ctx: typer.Context,
    shoot: Path = _DIR,
    recursive: bool = _RECURSIVE,
    max_gap: float = _MAX_GAP,
    hash_threshold: float = _HASH,
    embed_threshold: float = _EMB_T,
    model: Optional[str] = _MODEL,
    pretrained: Optional[str] = _PRETRAINED,
    no_embeddings: bool = _NO_EMB,
    device: str = _DEVICE,
    batch_size: Optional[int] = _BATCH,
    cache: bool = _CACHE,
    user_cache: bool = _USER_CACHE,
    json_path: Optional[str] = _JSON,
    workers: Optional[int] = _WORKERS,
    verbose: bool = _VERBOSE,
    quiet: bool = _QUIET,
) -> None:
    """Find the series (bursts, brackets, re-takes) only: no ratings written.

    Example:  photocull group SHOOT/ --max-gap 5
    """
    _execute(ctx, "group")


@app.command()
def undo(
    shoot: Path = typer.Argument(..., exists=True, file_okay=False, help="The shoot folder a cull wrote to."),
    verbose: bool = _VERBOSE,
) -> None:
    """Restore the ratings (and files) as they were before photocull wrote them.

    Reads SHOOT/.photocull/journal.jsonl; safe to interrupt and run again.
    """
    from .metadata.journal import undo as undo_journal

    console = Console()
    outcomes = undo_journal(shoot)
    failed = [o for o in outcomes if o.status == "skipped"]
    restored = [o for o in outcomes if o.status != "skipped"]
    for o in failed:
        console.print(f"[red]error[/]: {o.path}: {o.message}", highlight=False)
    if verbose:
        for o in restored:
            console.print(f"restored {o.path}", highlight=False)
    console.print(f"{len(restored)} files restored, {len(failed)} could not be restored" if outcomes else "nothing to undo")
    raise typer.Exit(EXIT_PARTIAL if failed else EXIT_OK)


@app.command()
def report(
    shoot: Path = typer.Argument(..., exists=True, file_okay=False, help="A shoot folder photocull has culled."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write the HTML contact sheet to PATH.", metavar="PATH"),
    json_path: Optional[str] = _JSON,
) -> None:
    """Show the last run's result again (table, --html, --json) without re-scoring.

    Example:  photocull report SHOOT/ --html contact.html
    """
    from .report.json import read_json

    console = _console(json_path)
    saved = shoot / ".photocull" / "last_run.json"
    if not saved.is_file():
        console.print(f"[red]error[/]: {shoot} has no saved run; run 'photocull cull {shoot}' (or score) first.", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    try:
        result = read_json(saved)
    except (ValueError, KeyError, TypeError) as exc:
        console.print(f"[red]error[/]: {saved} cannot be read ({exc}); run the cull again.", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    if html:
        from .report.html import write_html

        write_html(result, html)
        console.print(f"[dim]contact sheet written to {html}[/]", highlight=False)
    _finish(result, console, None, json_path, False)


models_app = typer.Typer(help="Model weights: where they are, and importing the official FGAesQ checkpoint.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("import-fgaesq")
def import_fgaesq(
    checkpoint: Path = typer.Argument(..., exists=True, dir_okay=False, help="The official FGAesQ state dict (.pt/.pth/.bin or .safetensors)."),
    dest: Optional[Path] = typer.Option(None, help="Where to store it (default: the model cache, used by --scorer auto)."),
    half: bool = typer.Option(False, "--half", help="Store float16 weights (half the size)."),
) -> None:
    """Convert the published FGAesQ checkpoint (yzc002/FGAesQ) into photocull's safetensors.

    Reports missing and unexpected keys. Afterwards 'photocull cull SHOOT/' uses it by itself.

    Example:  photocull models import-fgaesq ~/Downloads/FGAesQ.pth
    """
    import torch

    from .model.checkpoint import convert_official

    console = Console()
    try:
        path, report = convert_official(checkpoint, dest, dtype=torch.float16 if half else None, strict=False)
    except (ValueError, OSError, RuntimeError, KeyError) as exc:
        console.print(f"[red]error[/]: {checkpoint}: cannot import: {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    console.print(report.summary(), highlight=False)
    if not report.ok:
        console.print(f"[red]error[/]: the checkpoint does not fill the model; stored anyway at {path} for inspection")
        raise typer.Exit(EXIT_PARTIAL)
    console.print(f"stored {path}", highlight=False)


@models_app.command("list")
def list_models() -> None:
    """Show where photocull looks for weights and what it finds."""
    from .model.paths import default_model_dir, find_model

    console = Console()
    found = find_model()
    console.print(f"FGAesQ: {found or 'not found'} (folder {default_model_dir()}; set PHOTOCULL_MODEL_DIR to change)", highlight=False)
    from .embed import BackboneSpec, searched_locations, surely_absent

    spec = BackboneSpec(DEFAULT_MODEL, DEFAULT_PRETRAINED)
    state = "not found" if surely_absent(spec) else "maybe present"
    console.print(f"CLIP {spec.label}: {state}; looked in:", highlight=False)
    for loc in searched_locations(spec):
        console.print(f"  {loc}", highlight=False)


@app.command("config")
def show_config(
    shoot: Optional[Path] = typer.Argument(None, exists=True, help="A shoot folder (its photocull.toml applies on top of yours)."),
) -> None:
    """Show the settings in force and the files they come from.

    Settings live in photocull.toml: yours in ~/.config/photocull/ (or $XDG_CONFIG_HOME),
    a shoot's own in its folder. Options on the command line override both.

    Example photocull.toml:

      [cull]
      scorer = "technical"
      write = "xmp,sidecar"
      label_picks = true

      [stars]
      five_star = 0.1
    """
    from rich.table import Table

    from .config import SECTIONS, ConfigError, load, user_config_path

    console = Console()
    try:
        settings = load(shoot)
    except ConfigError as exc:
        console.print(f"[red]error[/]: {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    defaults = {"stars": settings.stars(), "technical": settings.thresholds()}
    table = Table(title="photocull settings", title_justify="left")
    for col in ("setting", "value", "from"):
        table.add_column(col)
    for section in SECTIONS:
        keys = sorted(set(settings.values[section]) | (set(vars(defaults[section])) if section in defaults else set()))
        for key in keys:
            if section in defaults:
                value = getattr(defaults[section], key)
            else:
                value = settings.values[section][key]
            table.add_row(f"{section}.{key}", repr(value), settings.sources.get(f"{section}.{key}", "default"))
    console.print(table)
    console.print(f"user settings file: {user_config_path()}" + ("" if user_config_path().exists() else " (none)"), highlight=False)


def _register_training() -> None:
    """train / eval live in photocull.train (imported lazily: torch is heavy)."""
    from .train.cli import eval_command, train_command

    app.command("train")(train_command)
    app.command("eval")(eval_command)


_register_training()

from .review.command import review as _review  # noqa: E402 - the lead wires this into the CLI package
app.command("review")(_review)


def main() -> None:
    app()
