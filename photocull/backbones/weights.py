"""Finding a backbone's weights on this machine, without a network.

Weights are found *locally* first (:func:`resolve_weights`): a file the user named, a
``local-dir:DIR`` export, or open_clip's own download caches (the Hugging Face hub cache and
the legacy ``~/.cache/clip`` / ``cache_dir`` for URL downloads). open_clip is only asked to
download when the caller allows it (``allow_download=True`` or ``PHOTOCULL_ALLOW_DOWNLOAD=1``);
otherwise a missing file is a :class:`WeightsUnavailable` at once, saying where we looked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..pretrained import download_name
from .spec import (
    ALLOW_DOWNLOAD_ENV,
    HF_CONFIG_NAME,
    HF_HUB_PREFIX,
    HF_SAFE_WEIGHTS_NAME,
    HF_WEIGHTS_NAME,
    LOCAL_DIR_PREFIX,
    WEIGHT_SUFFIXES,
    BackboneSpec,
    known_hub_repo,
)

# --------------------------------------------------------------------------------------------
# Finding weights without a network


def download_allowed(allow_download: bool | None = None) -> bool:
    """``allow_download`` if given, else whether ``PHOTOCULL_ALLOW_DOWNLOAD`` is set to a true value."""
    if allow_download is not None:
        return bool(allow_download)
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def open_clip_module():
    from photocull.compat import import_open_clip

    return import_open_clip()


def _hf_hub_caches(cache_dir: Path | None) -> list[Path]:
    """Hub cache roots in the order huggingface_hub would use them, read from the environment now."""
    roots: list[Path] = []
    if cache_dir is not None:
        roots.append(Path(cache_dir))
    env = os.environ
    if env.get("HF_HUB_CACHE"):
        roots.append(Path(os.path.expandvars(os.path.expanduser(env["HF_HUB_CACHE"]))))
    if env.get("HUGGINGFACE_HUB_CACHE"):
        roots.append(Path(os.path.expandvars(os.path.expanduser(env["HUGGINGFACE_HUB_CACHE"]))))
    if env.get("HF_HOME"):
        hf_home = Path(os.path.expandvars(os.path.expanduser(env["HF_HOME"])))
    else:
        xdg = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        hf_home = Path(xdg) / "huggingface"
    roots.append(hf_home / "hub")
    # huggingface_hub reads the environment once, at import: if it was imported under another
    # environment, its idea of the cache is where a download through open_clip would have gone.
    import sys

    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None and getattr(constants, "HF_HUB_CACHE", None):
        roots.append(Path(constants.HF_HUB_CACHE))
    return _dedupe(roots)


def _url_caches(cache_dir: Path | None) -> list[Path]:
    roots = [Path(cache_dir)] if cache_dir is not None else []
    roots.append(Path(os.path.expanduser("~/.cache/clip")))
    return _dedupe(roots)


def _dedupe(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    seen: set[str] = set()
    for p in paths:
        key = os.path.normpath(str(p))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _hf_filenames(filename: str | None) -> list[str]:
    """Files open_clip would fetch for a hub repo: the safetensors alternative first."""
    filename = filename or HF_WEIGHTS_NAME
    names = []
    if filename == HF_WEIGHTS_NAME:
        names.append(HF_SAFE_WEIGHTS_NAME)
    elif filename.endswith((".bin", ".pth")):
        names.append(filename[:-4] + ".safetensors")
    names.append(filename)
    return names


def _find_in_hub_cache(root: Path, repo_id: str, filenames: Sequence[str]) -> Path | None:
    """``root/models--ORG--REPO/snapshots/<rev>/<file>``: the ``refs/main`` revision first, then
    the newest snapshot holding the file. Dangling symlinks (blob missing) do not count."""
    repo_dir = root / ("models--" + repo_id.replace("/", "--"))
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return None
    revisions: list[Path] = []
    ref = repo_dir / "refs" / "main"
    with contextlib.suppress(OSError):
        commit = ref.read_text().strip()
        if commit:
            revisions.append(snapshots / commit)
    try:
        others = sorted(
            (p for p in snapshots.iterdir() if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
    except OSError:
        others = []
    revisions += [p for p in others if p not in revisions]
    for name in filenames:
        for rev in revisions:
            candidate = rev / name
            if candidate.is_file() and candidate.stat().st_size > 0:
                return candidate
    return None


def _hub_pattern(root: Path, repo_id: str, filenames: Sequence[str]) -> str:
    return str(root / ("models--" + repo_id.replace("/", "--")) / "snapshots" / "*" /
               ("{" + ",".join(filenames) + "}" if len(filenames) > 1 else filenames[0]))




def surely_absent(spec: BackboneSpec) -> bool:
    """True when the weights of a well-known tag are certainly not cached here (a cheap check).

    False means "maybe present": call :func:`load_backbone` to know.
    """
    repo = known_hub_repo(spec)
    if repo is None:
        return False
    names = _hf_filenames(None)
    if any(_find_in_hub_cache(root, repo, names) for root in _hf_hub_caches(spec.cache_dir)):
        return False
    return not any((root / f"{spec.model}.pt").is_file() for root in _url_caches(spec.cache_dir))


def _looks_like_path(value: str) -> bool:
    return (
        value.lower().endswith(WEIGHT_SUFFIXES)
        or os.sep in value
        or (os.altsep is not None and os.altsep in value)
        or value.startswith(("~", "."))
    )


@dataclass
class Resolution:
    path: Path | None
    searched: list[str] = field(default_factory=list)
    tag_cfg: dict[str, Any] = field(default_factory=dict)
    kind: str = "tag"  # "none", "file", "local-dir", "tag", "hf-hub"


def resolve(spec: BackboneSpec) -> Resolution:
    model, pretrained = spec.model, spec.pretrained
    if model.startswith(LOCAL_DIR_PREFIX) or (pretrained or "").startswith(LOCAL_DIR_PREFIX):
        raw = model if model.startswith(LOCAL_DIR_PREFIX) else pretrained
        d = Path(os.path.expanduser(raw[len(LOCAL_DIR_PREFIX):]))
        found = _local_dir_weights(d)
        return Resolution(found, [f"{d}/{HF_CONFIG_NAME} + weights"], kind="local-dir")
    if model.startswith(HF_HUB_PREFIX):
        repo_id = model[len(HF_HUB_PREFIX):].strip("/")
        res = Resolution(None, kind="hf-hub")
        names = _hf_filenames(None)
        for root in _hf_hub_caches(spec.cache_dir):
            res.searched.append(_hub_pattern(root, repo_id, names))
            hit = _find_in_hub_cache(root, repo_id, names)
            if hit is not None and (hit.parent / HF_CONFIG_NAME).is_file():
                res.path = hit
                break
        return res
    oc = open_clip_module()
    if model.replace("/", "-") not in oc.list_models():
        import difflib

        close = difflib.get_close_matches(model, oc.list_models(), n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"'{model}' is not an open_clip model architecture.{hint} "
                         "See `photocull models` or open_clip.list_models().")
    if pretrained is None:
        return Resolution(None, kind="none")
    cfg = oc.get_pretrained_cfg(model, pretrained) or {}
    if not cfg:
        # Not a known tag: a file path (open_clip's own order: tag first, then file).
        p = Path(os.path.expanduser(pretrained))
        kind = "file" if _looks_like_path(pretrained) or p.is_file() else "unknown-tag"
        return Resolution(p if p.is_file() else None, [str(p)], kind=kind)
    res = Resolution(None, tag_cfg=dict(cfg), kind="tag")
    if cfg.get("file"):
        res.searched.append(str(cfg["file"]))
        if Path(cfg["file"]).is_file():
            res.path = Path(cfg["file"])
            return res
    hf_hub = cfg.get("hf_hub") or ""
    if hf_hub:
        # open_clip's convention: "org/repo/" (default file) or "org/repo/file.bin"
        repo_id, filename = os.path.split(hf_hub)
        names = _hf_filenames(filename)
        for root in _hf_hub_caches(spec.cache_dir):
            res.searched.append(_hub_pattern(root, repo_id, names))
            if res.path is None:
                res.path = _find_in_hub_cache(root, repo_id, names)
    url = cfg.get("url") or ""
    if url:
        fname = os.path.basename(url)
        for root in _url_caches(spec.cache_dir):
            candidate = root / fname
            res.searched.append(str(candidate))
            if res.path is None and candidate.is_file() and candidate.stat().st_size > 0:
                res.path = candidate
    return res


def _local_dir_weights(d: Path) -> Path | None:
    if not (d / HF_CONFIG_NAME).is_file():
        return None
    for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
                 "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pth",
                 "model.safetensors", "pytorch_model.bin", "pytorch_model.pth", "model.pth"):
        if (d / name).is_file():
            return d / name
    found = sorted(p for p in d.iterdir() if p.suffix in (".safetensors", ".bin", ".pth"))
    return found[0] if found else None


def resolve_weights(spec: BackboneSpec) -> Path | None:
    """The local weights file for ``spec``, or ``None``; never touches the network.

    Order: a file path given as ``pretrained``; a ``local-dir:`` folder; for a tag, the
    tag's ``file`` entry, then the Hugging Face hub cache (``spec.cache_dir``, ``HF_HUB_CACHE``,
    ``HUGGINGFACE_HUB_CACHE``, ``HF_HOME/hub``, ``XDG_CACHE_HOME/huggingface/hub`` or
    ``~/.cache/huggingface/hub``; ``models--ORG--REPO/snapshots/*/open_clip_model.safetensors``
    before ``open_clip_pytorch_model.bin``), then the URL download caches (``spec.cache_dir``,
    ``~/.cache/clip``). File contents are not verified here (no SHA-256 of a GB file);
    an unreadable file is reported when :func:`load_backbone` loads it.
    """
    return resolve(spec).path


def searched_locations(spec: BackboneSpec) -> list[str]:
    """Every place :func:`resolve_weights` looks for ``spec`` (for messages and ``photocull models``)."""
    return resolve(spec).searched


def unavailable_message(spec: BackboneSpec, res: Resolution) -> str:
    what = f"open_clip model '{spec.model}'"
    if spec.pretrained is not None and res.kind in ("tag", "file", "unknown-tag") or (
            res.kind == "local-dir" and not spec.model.startswith(LOCAL_DIR_PREFIX)):
        what += f" with pretrained '{spec.pretrained}'"
    if res.kind == "unknown-tag":
        tags = open_clip_module().list_pretrained_tags_by_model(spec.model)
        head = (f"'{spec.pretrained}' is neither a pretrained tag of '{spec.model}' "
                f"(known: {', '.join(tags) or 'none'}) nor an existing file.")
    elif res.kind == "file":
        head = f"The weights file for {what} does not exist."
    elif res.kind == "local-dir":
        head = f"No open_clip_config.json with weights found for {what}."
    else:
        head = (f"The weights for {what} are not on this machine, and downloading is off "
                f"(photocull never waits on a network unless told to).")
    looked = "\n".join(f"  - {s}" for s in res.searched) or "  (nowhere: nothing to look for)"
    name = download_name(spec.model, spec.pretrained)
    if name is not None:  # what 'photocull models download NAME' fetches
        fetch = f"run 'photocull models download {name}' (on this machine, or on a connected one"
    else:
        fetch = (f"run this command once with PHOTOCULL_ALLOW_DOWNLOAD=1 set, so open_clip fetches "
                 f"'{spec.label}' (here, or on a connected machine")
    return (
        f"{head}\n"
        f"Looked in:\n{looked}\n"
        "What you can do:\n"
        "  - use a checkpoint you have: --pretrained PATH.safetensors (or .pt/.bin), "
        "or --pretrained local-dir:DIR (open_clip_config.json + weights);\n"
        "  - score without this model: --scorer technical; or skip embeddings for grouping: "
        "--no-embeddings;\n"
        f"  - download it: {fetch}, then copy its ~/.cache/huggingface/hub folder here)."
    )


@contextlib.contextmanager
def hub_offline(offline: bool):
    """Make huggingface_hub fail fast instead of retrying, for the duration of the block."""
    if not offline:
        yield
        return
    import sys

    old_env = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    old_const = getattr(constants, "HF_HUB_OFFLINE", None) if constants else None
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env
        if constants is not None:
            constants.HF_HUB_OFFLINE = old_const
