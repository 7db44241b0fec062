"""Download FGAesQ and CLIP weights from the Hugging Face hub, where photocull finds them.

``huggingface_hub`` asks the hub what to fetch (one API call: file, size, SHA-256); the
transfer is photocull's own, because the hub client (2.x) deletes its partial file when a
transfer stops, so a Ctrl-C or a dropped line meant starting 600 MB again. Here:

* every request has a time-out (:func:`hub_timeout`: ``PHOTOCULL_HUB_TIMEOUT`` seconds,
  default 30): a hub that accepts the connection and never answers is an error, not silence;
* the partial file is kept (``blobs/<sha256>.part`` in the hub cache) through an error, a
  time-out or a Ctrl-C, and the next run continues it with a ``Range`` request;
* the file is checked against the hub's SHA-256 (the LFS object id) as it arrives; a file
  that does not match is deleted and refused;
* a verified file is stamped (size, mtime, SHA-256): a re-run that finds it unchanged neither
  hashes it again nor, for FGAesQ, converts it again;
* the result keeps the hub cache layout (``blobs/``, ``snapshots/<commit>/<file>``, ``refs/``)
  that open_clip and :func:`photocull.backbones.weights.resolve_weights` search.

What each name fetches is the one weights table, :data:`photocull.pretrained.WEIGHTS`:

* ``clip``: the default backbone's open_clip weights (``DEFAULT_BACKBONE``), left in the hub
  cache, where photocull's CLIP loader looks.
* ``fgaesq``: the published checkpoint, then converted once into
  ``<model folder>/fgaesq.safetensors``, the file ``photocull cull`` loads by default.

Endpoint: ``HF_ENDPOINT`` (read at call time) or ``endpoint=``; nothing here runs at import.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from photocull.pretrained import DOWNLOADS, Weights, download_entry

__all__ = ["DownloadError", "DownloadInterrupted", "RemoteFile", "download", "hub_timeout", "plan_download"]

_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
_CHUNK = 1 << 20
_ATTEMPTS = 5  # a transfer that ends early is continued this many times within one run


def hub_timeout() -> float:
    """Seconds any one hub request may wait for an answer (``PHOTOCULL_HUB_TIMEOUT``, default 30)."""
    try:
        return max(0.1, float(os.environ.get("PHOTOCULL_HUB_TIMEOUT", "30")))
    except ValueError:
        return 30.0

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


class DownloadInterrupted(KeyboardInterrupt):
    """Ctrl-C during a transfer: ``kept`` bytes of ``size`` stay for the next run."""

    def __init__(self, kept: int, size: int | None):
        super().__init__(kept, size)
        self.kept, self.size = kept, size


def plan_download(name: str, *, endpoint: str | None = None, token: str | bool | None = None) -> RemoteFile:
    """The file ``download(name)`` would fetch, with its size and checksum (one API call);
    a file other than the table pins (its SHA-256 or size) is refused."""
    t = download_entry(name)
    if t is None:
        raise DownloadError(f"unknown model {name!r}; choose one of: {', '.join(DOWNLOADS)}")
    from huggingface_hub import HfApi

    try:
        info = HfApi(endpoint=_endpoint(endpoint), token=token).model_info(
            t.repo_id, revision=t.revision, files_metadata=True, timeout=hub_timeout())
    except Exception as exc:
        raise DownloadError(f"cannot reach the model hub for {t.repo_id}: {_why(exc)}. "
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
    _check_pins(t, chosen.rfilename, sha, size)
    return RemoteFile(t.repo_id, chosen.rfilename, info.sha or t.revision, size, sha)


def _check_pins(t: Weights, filename: str, sha: str | None, size: int | None) -> None:
    """Refuse a hub file that is not the one the weights table pins (nothing fetched yet)."""
    if t.sha256 is not None and sha != t.sha256:
        raise DownloadError(f"{t.repo_id}/{filename} on the hub is not the file photocull knows "
                            f"(SHA-256 {(sha or 'unknown')[:12]}…, expected {t.sha256[:12]}…); nothing downloaded.")
    if t.size is not None and size != t.size:
        raise DownloadError(f"{t.repo_id}/{filename} on the hub is {size} bytes, not the {t.size} photocull "
                            "knows; nothing downloaded.")



def download(name: str, *, endpoint: str | None = None, cache_dir: str | os.PathLike | None = None,
             model_dir: str | os.PathLike | None = None, token: str | bool | None = None,
             on_plan: Callable[[RemoteFile], None] | None = None, progress: bool = True,
             tqdm_class: type | None = None) -> Path:
    """Fetch ``name`` (one of :data:`photocull.pretrained.DOWNLOADS`) and return where photocull will now find it.

    ``on_plan(remote)`` is called before the transfer (show the size, ask, ...). An interrupted
    transfer (an error, a time-out, or Ctrl-C: :class:`DownloadInterrupted`) resumes on the
    next call. The file is checked against the hub's SHA-256; a mismatch deletes it and raises
    :class:`DownloadError`. For ``fgaesq`` the checkpoint is then converted into
    ``<model_dir>/fgaesq.safetensors`` (default: the model folder), once: a re-run that finds
    this checkpoint converted and unchanged returns at once.
    ``tqdm_class``: the progress bar (a tqdm subclass; default tqdm's own).
    """
    remote = plan_download(name, endpoint=endpoint, token=token)
    if on_plan is not None:
        on_plan(remote)
    cache = Path(_cache_dir(cache_dir) or _default_cache())
    bar = None
    if progress:
        if tqdm_class is None:
            from tqdm.auto import tqdm as tqdm_class
        bar = tqdm_class(total=remote.size, initial=0, unit="B", unit_scale=True, desc=remote.filename)
    try:
        path = _fetch_to_cache(remote, _endpoint(endpoint), cache, token, bar)
    except (DownloadError, DownloadInterrupted):
        raise
    except Exception as exc:  # noqa: BLE001 - the disk, a refused rename: say what and where
        raise DownloadError(f"downloading {remote.repo_id}/{remote.filename} failed: {_why(exc)}. "
                            "Run the same command again to resume.") from exc
    finally:
        if bar is not None:
            bar.close()
    entry = download_entry(name)
    if entry is not None and not entry.backbone:  # FGAesQ: converted into the file photocull cull loads
        return _convert_once(remote, path, model_dir)
    return path


def _convert_once(remote: RemoteFile, path: Path, model_dir) -> Path:
    """The official checkpoint converted into the model folder, unless that file is already
    this checkpoint's conversion (recorded next to it with the source's SHA-256) and unchanged."""
    from photocull.model.checkpoint import convert_official
    from photocull.model.paths import DEFAULT_MODEL_FILE, default_model_dir

    dest = (Path(model_dir) if model_dir is not None else default_model_dir()) / DEFAULT_MODEL_FILE
    source = remote.sha256 or f"{remote.repo_id}@{remote.revision}/{remote.filename}"
    record = dest.with_name(dest.name + ".source")
    try:
        if dest.exists() and json.loads(record.read_text()) == {"source": source, "stamp": _stamp(dest, source)}:
            return dest
    except (OSError, ValueError):
        pass
    try:
        out, _ = convert_official(path, dest, strict=True)
    except Exception as exc:
        raise DownloadError(f"{remote.repo_id}/{remote.filename} is not an FGAesQ checkpoint "
                            f"photocull can read: {_short(exc)}") from exc
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps({"source": source, "stamp": _stamp(out, source)}))
    os.replace(tmp, record)
    return out


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _is_timeout(exc: BaseException | None) -> bool:
    """A time-out anywhere in the chain of causes (socket, urllib, the hub client's httpx)."""
    seen: set[int] = set()
    while isinstance(exc, BaseException) and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (TimeoutError, socket.timeout)) or "timed out" in str(exc).lower() \
                or type(exc).__name__.lower().endswith("timeout"):
            return True
        exc = exc.__cause__ or exc.__context__ or getattr(exc, "reason", None)
    return False


def _why(exc: BaseException) -> str:
    if _is_timeout(exc):
        return f"no answer within {hub_timeout():g} s (PHOTOCULL_HUB_TIMEOUT sets the limit)"
    return _short(exc)


def _default_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _stamp(path: Path, sha: str) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns} {sha}"


def _verified(path: Path, sha: str | None) -> bool:
    """``path`` was checked against ``sha`` and has not changed since (no need to hash 600 MB)."""
    try:
        return sha is not None and path.with_name(path.name + ".verified").read_text() == _stamp(path, sha)
    except OSError:
        return False


def _mark_verified(path: Path, sha: str) -> None:
    mark = path.with_name(path.name + ".verified")
    tmp = mark.with_name(mark.name + ".tmp")
    tmp.write_text(_stamp(path, sha))
    os.replace(tmp, mark)


def _fetch(url: str, part: Path, size: int | None, sha: str | None, headers: dict[str, str], bar) -> None:
    """Fetch ``url`` into ``part``, continuing what it holds (``Range``) and hashing as it goes.
    Raises DownloadError (the partial file stays, unless it proved damaged) or
    DownloadInterrupted on Ctrl-C (it stays too)."""
    h = hashlib.sha256()
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if have:
        with open(part, "rb") as f:
            while block := f.read(_CHUNK):
                h.update(block)
        if bar is not None:
            bar.update(have)
    last_error: BaseException | None = None
    try:
        for _ in range(_ATTEMPTS):
            if size is not None and have >= size:
                break
            req = urllib.request.Request(url, headers={**headers, **({"Range": f"bytes={have}-"} if have else {})})
            try:
                with urllib.request.urlopen(req, timeout=hub_timeout()) as resp:
                    if have and resp.status != 206:  # the server ignored the range: start again
                        have, h = 0, hashlib.sha256()
                        part.unlink(missing_ok=True)
                    with open(part, "ab") as out:
                        while True:
                            try:
                                block = resp.read(_CHUNK)
                            except (OSError, ValueError) as exc:  # a dropped line: continue from here
                                last_error = exc
                                break
                            if not block:
                                break
                            out.write(block)
                            h.update(block)
                            have += len(block)
                            if bar is not None:
                                bar.update(len(block))
                if size is None:
                    break
            except urllib.error.HTTPError as exc:
                last_error = exc
                if exc.code < 500 and exc.code != 429:
                    break
            except (OSError, ValueError) as exc:
                last_error = exc
    except KeyboardInterrupt:
        raise DownloadInterrupted(part.stat().st_size if part.exists() else 0, size) from None
    if size is not None and have < size:
        why = _why(last_error) if last_error is not None else "the hub closed the connection"
        raise DownloadError(f"the transfer stopped at {have / 1e6:.1f} of {size / 1e6:.1f} MB: {why}. "
                            "Run the same command again to resume.")
    if sha is not None and h.hexdigest() != sha:
        part.unlink(missing_ok=True)
        raise DownloadError(f"the downloaded file is damaged (SHA-256 {h.hexdigest()[:12]}…, expected "
                            f"{sha[:12]}…) and was deleted. Run the same command again.")


def _fetch_to_cache(remote: RemoteFile, endpoint: str | None, cache: Path, token, bar) -> Path:
    """The file in the hub cache layout (``blobs/<sha>``, ``snapshots/<commit>/<file>``,
    ``refs/main``), fetched unless it is there, verified and unchanged."""
    folder = cache / ("models--" + remote.repo_id.replace("/", "--"))
    key = remote.sha256 or hashlib.sha1(f"{remote.revision}/{remote.filename}".encode()).hexdigest()
    blob = folder / "blobs" / key
    snap = folder / "snapshots" / remote.revision / remote.filename
    if snap.exists() and (_verified(snap, remote.sha256) or _verified(snap.resolve(), remote.sha256)):
        return snap
    blob.parent.mkdir(parents=True, exist_ok=True)
    if not (blob.exists() and _verified(blob, remote.sha256)):
        base = (endpoint or "https://huggingface.co").rstrip("/")
        url = f"{base}/{remote.repo_id}/resolve/{remote.revision}/{urllib.parse.quote(remote.filename)}"
        headers = {"User-Agent": "photocull"}
        if isinstance(token, str) and token:
            headers["Authorization"] = f"Bearer {token}"
        part = blob.with_name(blob.name + ".part")
        try:
            _fetch(url, part, remote.size, remote.sha256, headers, bar)
        except DownloadError as exc:
            raise DownloadError(f"{remote.repo_id}/{remote.filename}: {exc}") from None
        os.replace(part, blob)
        if remote.sha256:
            _mark_verified(blob, remote.sha256)
    snap.parent.mkdir(parents=True, exist_ok=True)
    if snap.is_symlink() or snap.exists():
        snap.unlink()
    try:
        snap.symlink_to(os.path.relpath(blob, snap.parent))
    except OSError:  # no symlinks here (some Windows set-ups): a copy
        shutil.copyfile(blob, snap)
        if remote.sha256:
            _mark_verified(snap, remote.sha256)
    refs = folder / "refs" / "main"
    refs.parent.mkdir(parents=True, exist_ok=True)
    if not refs.exists() or refs.read_text().strip() != remote.revision:
        refs.write_text(remote.revision)
    return snap
