"""FGAesQ weights from whatever file the user has: the published ``.pt/.pth/.bin`` or ours.

Why: users download ``yzc002/FGAesQ`` and point ``--weights`` at it; there should be no
import step. The official file is converted once into photocull's safetensors and cached
under its content hash (a renamed or re-downloaded copy is found again; an edited file is
converted again). Anything that is not an FGAesQ checkpoint raises :class:`WeightsError`
whose message is meant for the user as it is (no traceback needed).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from photocull.model.paths import default_model_dir
from photocull.pretrained import WEIGHTS

__all__ = ["CONVERTED_DIR", "SOURCE_METADATA_KEY", "WeightsError", "check_weights_file", "file_sha256", "is_photocull_file", "load_fgaesq_model",
           "load_fgaesq_weights", "token_convention", "truncated"]

CONVERTED_DIR = "converted"  # under the model folder
SOURCE_METADATA_KEY = "photocull.fgaesq.source"  # written by checkpoint.convert_official


class WeightsError(ValueError):
    """A weights file that cannot be used; ``str(exc)`` says which file, why and what to do."""


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _is_photocull_file(path: Path) -> bool:
    from photocull.model.fgaesq import CONFIG_METADATA_KEY

    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return CONFIG_METADATA_KEY in (f.metadata() or {})
    except Exception:
        return False


is_photocull_file = _is_photocull_file  # a .safetensors photocull wrote (config in its metadata)


_HINT = (f"Pass the official FGAesQ checkpoint ({WEIGHTS['fgaesq'].repo_id}, a .pt/.pth/.bin) or a .safetensors "
         "file written by photocull.")


def check_weights_file(path: str | os.PathLike) -> Path:
    """The cheap checks (there, a file, not empty), before anything is read. Raises WeightsError."""
    p = Path(path)
    if not p.exists():
        raise WeightsError(f"{p}: no such file. {_HINT}")
    if not p.is_file():
        raise WeightsError(f"{p}: not a file. {_HINT}")
    if p.stat().st_size == 0:
        raise WeightsError(f"{p}: the file is empty (an interrupted download?). {_HINT}")
    return p


SAFETENSORS_MAX_HEADER = 100_000_000  # the safetensors format refuses larger headers


def truncated(path: Path) -> bool:
    """Whether ``path`` is a checkpoint cut short (an interrupted download or copy): a zip-based
    ``.pt`` whose central directory (at the end) is missing, or a ``.safetensors`` whose header
    promises more bytes than there are."""
    import json
    import struct
    import zipfile

    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if head[:4] == b"PK\x03\x04":
                return not zipfile.is_zipfile(path)
            if path.suffix == ".safetensors" and len(head) == 8:
                n = struct.unpack("<Q", head)[0]
                if n > SAFETENSORS_MAX_HEADER or f.read(1) != b"{":
                    return False  # no safetensors header at all: not a cut file, another kind of file
                if 8 + n > size:
                    return True
                header = json.loads(b"{" + f.read(n - 1))
                end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
                return 8 + n + end > size
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return False
    return False


def _incomplete(p: Path) -> WeightsError:
    return WeightsError(f"{p}: the file is incomplete ({p.stat().st_size / 1e6:.1f} MB, cut short: an interrupted "
                        "download or copy?). Download it again ('photocull models download fgaesq' resumes) "
                        "or copy it again.")


def _digest(p: Path, cache: Path) -> str:
    """The file's SHA-256, hashed once per (path, size, mtime): a 600 MB checkpoint is not read
    again on every run while it is unchanged (an edited or replaced file is hashed again)."""
    st = p.stat()
    key = hashlib.sha256(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:24]
    note = cache / "hashes" / key
    try:
        known = note.read_text().strip()
        if len(known) == 64:
            return known
    except OSError:
        pass
    digest = file_sha256(p)
    try:
        note.parent.mkdir(parents=True, exist_ok=True)
        tmp = note.with_name(note.name + f".{os.getpid()}.tmp")
        tmp.write_text(digest)
        os.replace(tmp, note)
    except OSError:
        pass  # a read-only model folder: hash again next time
    return digest


def load_fgaesq_weights(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """A photocull ``.safetensors`` for ``path``: the file itself when it is one, else its
    conversion (made once, cached as ``<cache_dir>/fgaesq-<sha256[:16]>.safetensors``;
    default cache: ``<model folder>/converted``). Raises :class:`WeightsError`."""
    p = check_weights_file(path)
    if _is_photocull_file(p):
        return p
    if truncated(p):
        raise _incomplete(p)
    cache = Path(cache_dir) if cache_dir is not None else default_model_dir() / CONVERTED_DIR
    try:
        digest = _digest(p, cache)
    except OSError as exc:
        raise WeightsError(f"{p}: cannot be read ({exc.strerror or exc}).") from exc
    dest = cache / f"fgaesq-{digest[:16]}.safetensors"
    if dest.is_file() and _is_photocull_file(dest):
        return dest
    from photocull.model.checkpoint import convert_official

    try:
        convert_official(p, dest, strict=True)
    except MemoryError as exc:
        raise WeightsError(f"{p}: not enough memory to convert it.") from exc
    except OSError as exc:
        if exc.errno is not None and exc.filename is not None and Path(exc.filename).parent == cache:
            raise WeightsError(f"cannot write the converted weights to {cache}: {exc.strerror}. "
                               "Set PHOTOCULL_MODEL_DIR to a writable folder.") from exc
        raise WeightsError(f"{p}: not an FGAesQ checkpoint ({_short(exc)}). {_HINT}") from exc
    except Exception as exc:  # pickle/zip/safetensors/shape errors: the file is not what we need
        text = str(exc)
        if text.startswith("the checkpoint does not fill the model"):  # name the tensors, all lines
            raise WeightsError(f"{p}: the tensors do not fit the FGAesQ model ({_report(text)}). {_HINT}") from exc
        if isinstance(exc, EOFError) or "ran out of input" in text.lower() or "unexpected eof" in text.lower():
            raise _incomplete(p) from exc
        raise WeightsError(f"{p}: not an FGAesQ checkpoint ({_short(exc)}). {_HINT}") from exc
    return dest


def _report(text: str) -> str:
    """The import report's lines that name tensors, joined on one line."""
    lines = [ln.strip() for ln in text.splitlines()[1:] if ln.strip() and not ln.startswith("loaded ")]
    return "; ".join(lines) or text.splitlines()[0]


def token_convention(path: str | os.PathLike) -> str:
    """``"official"`` for weights converted from the published checkpoint (they were trained on
    the official tokens), ``"photocull"`` for weights photocull trained itself."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception:
        return "official"
    return "official" if SOURCE_METADATA_KEY in meta else "photocull"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def load_fgaesq_model(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None, *,
                      device: str = "cpu"):
    """``(model, token convention)`` for any accepted weights file (see :func:`token_convention`)."""
    from photocull.model.fgaesq import FGAesQ

    sf = load_fgaesq_weights(path, cache_dir)
    try:
        return FGAesQ.load_safetensors(sf, device=device), token_convention(sf)
    except Exception as exc:
        raise WeightsError(f"{path}: the weights do not fit the FGAesQ model ({_short(exc)}). {_HINT}") from exc
