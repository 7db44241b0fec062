"""Download FGAesQ and CLIP weights from the Hugging Face hub, where photocull finds them.

Why through ``huggingface_hub``: it resumes interrupted downloads (``.incomplete`` blobs),
shows a progress bar and keeps the hub cache layout that open_clip and
:func:`photocull.backbones.weights.resolve_weights` already search. We add what it does not do for us:
the size is known (and can be shown) before anything is fetched, and the file is checked
against the hub's SHA-256 (the LFS object id) after the fetch; a file that does not match is
deleted and refused.

* ``clip``: open_clip's ``ViT-B-16`` / ``openai`` weights (``timm/vit_base_patch16_clip_224.openai``),
  left in the hub cache, where photocull's CLIP loader looks.
* ``fgaesq``: the published checkpoint (``yzc002/FGAesQ``), then converted once into
  ``<model folder>/fgaesq.safetensors``, the file ``photocull cull`` loads by default.

Endpoint: ``HF_ENDPOINT`` (read at call time) or ``endpoint=``; nothing here runs at import.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TARGETS", "DownloadError", "HubTarget", "RemoteFile", "download", "plan_download"]

_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")


@dataclass(frozen=True)
class HubTarget:
    """What ``photocull models download NAME`` fetches: a repo and the file names to prefer
    (``None``: the largest checkpoint-looking file of the repo)."""

    name: str
    repo_id: str
    filenames: tuple[str, ...] | None = None
    revision: str = "main"


TARGETS = {
    "fgaesq": HubTarget("fgaesq", "yzc002/FGAesQ"),
    # open_clip's pretrained.py: ViT-B-16 "openai" -> hf_hub "timm/vit_base_patch16_clip_224.openai/"
    "clip": HubTarget("clip", "timm/vit_base_patch16_clip_224.openai",
                      ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")),
}


@dataclass(frozen=True)
class RemoteFile:
    repo_id: str
    filename: str
    revision: str
    size: int | None
    sha256: str | None  # the LFS object id; None for a small non-LFS file


class DownloadError(RuntimeError):
    """A download that could not be done; ``str(exc)`` is the message for the user."""


def _endpoint(endpoint: str | None) -> str | None:
    return endpoint or os.environ.get("HF_ENDPOINT") or None


def _cache_dir(cache_dir: str | os.PathLike | None) -> str | None:
    if cache_dir is not None:
        return str(cache_dir)
    return os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or None


def plan_download(name: str, *, endpoint: str | None = None, token: str | bool | None = None) -> RemoteFile:
    """The file ``download(name)`` would fetch, with its size and checksum (one API call)."""
    if name not in TARGETS:
        raise DownloadError(f"unknown model {name!r}; choose one of: {', '.join(TARGETS)}")
    t = TARGETS[name]
    from huggingface_hub import HfApi

    try:
        info = HfApi(endpoint=_endpoint(endpoint), token=token).model_info(
            t.repo_id, revision=t.revision, files_metadata=True)
    except Exception as exc:
        raise DownloadError(f"cannot reach the model hub for {t.repo_id}: {_short(exc)}. "
                            "Check the network (or HF_ENDPOINT) and try again.") from exc
    files = {s.rfilename: s for s in (info.siblings or [])}
    chosen = None
    if t.filenames:
        chosen = next((files[f] for f in t.filenames if f in files), None)
    else:
        ckpts = [s for f, s in files.items() if f.lower().endswith(_CHECKPOINT_SUFFIXES)]
        chosen = max(ckpts, key=lambda s: s.size or 0, default=None)
    if chosen is None:
        raise DownloadError(f"{t.repo_id} has no weights file photocull knows "
                            f"(files: {', '.join(sorted(files)) or 'none'}).")
    lfs = getattr(chosen, "lfs", None)
    sha = getattr(lfs, "sha256", None) if lfs is not None else None
    size = getattr(chosen, "size", None) or (getattr(lfs, "size", None) if lfs is not None else None)
    return RemoteFile(t.repo_id, chosen.rfilename, info.sha or t.revision, size, sha)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def download(name: str, *, endpoint: str | None = None, cache_dir: str | os.PathLike | None = None,
             model_dir: str | os.PathLike | None = None, token: str | bool | None = None,
             on_plan: Callable[[RemoteFile], None] | None = None, progress: bool = True,
             tqdm_class: type | None = None) -> Path:
    """Fetch ``name`` (``"fgaesq"`` or ``"clip"``) and return where photocull will now find it.

    ``on_plan(remote)`` is called before the transfer (show the size, ask, ...). An interrupted
    transfer resumes on the next call. The file is checked against the hub's SHA-256; a
    mismatch deletes it and raises :class:`DownloadError`. For ``fgaesq`` the checkpoint is
    then converted into ``<model_dir>/fgaesq.safetensors`` (default: the model folder).
    ``tqdm_class``: the progress bar (a tqdm subclass; default the hub client's own).
    """
    remote = plan_download(name, endpoint=endpoint, token=token)
    if on_plan is not None:
        on_plan(remote)
    from huggingface_hub import hf_hub_download

    try:
        path = Path(hf_hub_download(remote.repo_id, remote.filename, revision=remote.revision,
                                    cache_dir=_cache_dir(cache_dir), endpoint=_endpoint(endpoint),
                                    token=token, tqdm_class=(tqdm_class if progress else _silent_tqdm())))
    except Exception as exc:
        raise DownloadError(f"downloading {remote.repo_id}/{remote.filename} failed: {_short(exc)}. "
                            "Run the same command again to resume.") from exc
    if remote.sha256 is not None:
        got = _sha256(path)
        if got != remote.sha256:
            _remove_cached(path)
            raise DownloadError(f"{remote.repo_id}/{remote.filename}: the downloaded file is damaged "
                                f"(SHA-256 {got[:12]}…, expected {remote.sha256[:12]}…) and was deleted. "
                                "Run the same command again.")
    if name == "fgaesq":
        from photocull.model.checkpoint import convert_official
        from photocull.model.paths import DEFAULT_MODEL_FILE, default_model_dir

        dest = Path(model_dir) if model_dir is not None else default_model_dir()
        try:
            out, _ = convert_official(path, dest / DEFAULT_MODEL_FILE, strict=True)
        except Exception as exc:
            raise DownloadError(f"{remote.repo_id}/{remote.filename} is not an FGAesQ checkpoint "
                                f"photocull can read: {_short(exc)}") from exc
        return out
    return path


def _remove_cached(path: Path) -> None:
    """Delete a snapshot entry and the blob it points to."""
    blob = path.resolve()
    for p in (path, blob):
        try:
            p.unlink()
        except OSError:
            pass


def _silent_tqdm():
    from tqdm.auto import tqdm

    class _Silent(tqdm):  # progress=False: the same bar, disabled
        def __init__(self, *a, **k):
            k["disable"] = True
            super().__init__(*a, **k)

    return _Silent
