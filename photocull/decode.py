"""One fast decode per file, to the working size every later stage needs.

Why draft mode: a 24 MP JPEG decodes in ~60 ms in full but in ~15-30 ms when libjpeg
scales the DCT by 1/2, 1/4 or 1/8 while decoding. Every later stage (hashes, sharpness,
embeddings, tokens, thumbnails) works on a few hundred to ~1500 pixels, so the full
image is never needed. Orientation is applied here, once, so no stage has to care.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PIL import Image, ImageOps

from .capture_time import normal_offset, parse_exif_datetime
from .inputs.errors import DecodeError
from .inputs.formats import FORMATS
from .records import FileError

__all__ = ["CaptureInfo", "DecodeError", "Decoded", "decode", "decode_error", "parse_exif_datetime"]

DEFAULT_MAX_PIXELS = 250_000_000  # 250 MP: larger than any camera, smaller than a bomb
MIN_SIDE = 64  # the technical measures judge 16 x 16 tiles of at least 4 px: smaller is an icon, not a photo
DEFAULT_DECODE_SIZE = 640  # the draft decode keeps at least this many pixels on the short side

_EXIF_IFD = 0x8769
_DATETIME = 0x0132
_DATETIME_ORIGINAL = 0x9003
_SUBSEC_ORIGINAL = 0x9291
_SUBSEC = 0x9290
_OFFSET_ORIGINAL = 0x9011
_OFFSET = 0x9010
_ORIENTATION = 0x0112
_MAKE, _MODEL = 0x010F, 0x0110
_BODY_SERIAL = 0xA431


@dataclass
class CaptureInfo:
    capture_time: float | None  # seconds since the epoch (see capture_time.parse_exif_datetime)
    orientation: int
    camera: str | None
    utc_offset: str | None = None  # "+09:00" when the file records it
    serial: str | None = None  # the body's serial number when recorded
    found: bool = False  # did the file carry any of these (else defaults)


@dataclass
class Decoded:
    image: Image.Image  # RGB (or L if asked), oriented, short side between ``decode_size`` and twice that (or the original if smaller)
    width: int  # full-resolution size after orientation
    height: int
    info: CaptureInfo


def capture_info(img: Image.Image) -> CaptureInfo:
    """Capture time, orientation and camera from an opened image's EXIF (never raises)."""
    try:
        exif = img.getexif()
    except Exception:  # corrupt EXIF must not cost the photo
        return CaptureInfo(None, 1, None)
    return exif_capture_info(exif)


def exif_capture_info(exif: Image.Exif) -> CaptureInfo:
    """Capture time, orientation and camera from an EXIF mapping (never raises)."""
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:
        sub = {}
    return capture_from_tags(exif, sub)


def capture_from_tags(ifd0: Mapping[int, Any], sub: Mapping[int, Any], serial: str | None = None) -> CaptureInfo:
    """The one reading of EXIF tags (by number; values as Pillow or exiv2 give them), whoever parsed them."""
    when, offset = sub.get(_DATETIME_ORIGINAL), sub.get(_OFFSET_ORIGINAL)
    ts = parse_exif_datetime(when, sub.get(_SUBSEC_ORIGINAL), offset)
    if ts is None:
        offset = sub.get(_OFFSET)
        ts = parse_exif_datetime(ifd0.get(_DATETIME), sub.get(_SUBSEC), offset)
    orientation = ifd0.get(_ORIENTATION, 1)
    if isinstance(orientation, str) and orientation.strip().isdigit():
        orientation = int(orientation)
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = 1
    make, model = (_clean(ifd0.get(t)) for t in (_MAKE, _MODEL))
    camera = model if make and model.lower().startswith(make.lower()) else " ".join(p for p in (make, model) if p)
    body = _clean(sub.get(_BODY_SERIAL)) or _clean(serial)
    found = ts is not None or bool(camera) or _ORIENTATION in ifd0
    return CaptureInfo(ts, orientation, camera or None, normal_offset(offset) if ts is not None else None,
                       body or None, found)


def _clean(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = " ".join(str(value).replace("\x00", " ").split()) if value is not None else ""
    return text if text.isprintable() else ""


def _open(path: Path, fmt: str, max_pixels: int) -> Image.Image:
    return FORMATS[fmt].open(path, max_pixels)


def decode(path: Path, fmt: str, *, decode_size: int = DEFAULT_DECODE_SIZE, max_pixels: int = DEFAULT_MAX_PIXELS,
           mode: str = "RGB") -> Decoded:
    """Decode ``path`` once: oriented RGB image with a short side of ``decode_size`` to twice that.

    ``mode="L"``: luma only, for callers that need no colour (hashes and technical measures):
    libjpeg then outputs its Y channel directly, with no colour conversion to undo.

    Raises DecodeError with a photographer-facing message for every expected failure.
    """
    try:
        img = _open(path, fmt, max_pixels)
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError("image is too large to decode safely (a decompression bomb?)", str(exc)) from exc
    except Image.UnidentifiedImageError as exc:
        raise DecodeError("not a readable image: the file may be corrupt or not a photo", str(exc)) from exc
    except OSError as exc:
        raise DecodeError("cannot be opened: the file may be corrupt or unreadable", str(exc)) from exc
    try:
        w, h = img.size
        if w * h > max_pixels:
            raise DecodeError(
                f"image is {w}x{h} ({w * h / 1e6:.0f} MP), over the {max_pixels / 1e6:.0f} MP limit; "
                "raise it with --max-pixels if the file is genuine"
            )
        if min(w, h) < MIN_SIDE:
            raise DecodeError(f"image is only {w}x{h} pixels, too small to judge (at least {MIN_SIDE} on each side "
                              "is needed); left unrated")
        info = capture_info(img)
        if fmt == "raw":
            info = _raw_info(path, info)
        if img.format == "JPEG":
            img.draft(mode, (decode_size, decode_size))
        img.load()
        if info.orientation != 1:
            img = orient(img, info.orientation)
        if img.mode != mode:
            img = _to_rgb(img) if mode == "RGB" else _to_rgb(img).convert(mode)
    except DecodeError:
        raise
    except OSError as exc:
        text = str(exc)
        if "truncated" in text:
            raise DecodeError("truncated file: the image data ends early (an interrupted copy?)", text) from exc
        raise DecodeError("image data is corrupt and cannot be decoded", text) from exc
    except (ValueError, SyntaxError, IndexError, TypeError, MemoryError) as exc:
        raise DecodeError("image data is corrupt and cannot be decoded", repr(exc)) from exc
    if info.orientation in (5, 6, 7, 8):
        w, h = h, w
    if min(img.size) > decode_size * 2:
        img = img.reduce(max(1, min(img.size) // decode_size))
    return Decoded(img, w, h, info)


# EXIF orientation -> numpy view that shows the image upright (np.rot90: k=1 is counter-clockwise)
_UPRIGHT = {
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: a.T,
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).T,
    8: lambda a: np.rot90(a, 1),
}


def orient(img: Image.Image, orientation: int) -> Image.Image:
    """``img`` turned upright for its EXIF ``orientation``, exactly as ``ImageOps.exif_transpose``.

    Why not just that: Pillow's 90-degree turn of a 1.5 MP luma image costs ~6 ms (it walks
    the image cache-unfriendly); numpy's copy of the turned view costs ~2.5 ms, and one burst
    in seven is shot upright. Other modes keep Pillow's way.
    """
    turn = _UPRIGHT.get(orientation)
    if turn is None:
        return img
    if img.mode != "L":
        return ImageOps.exif_transpose(img)
    return Image.fromarray(np.ascontiguousarray(turn(np.asarray(img))))


def read_capture(path: Path, fmt: str) -> CaptureInfo:
    """Capture time, orientation and camera of a file without decoding its pixels (never raises)."""
    if fmt == "raw":
        return _raw_info(path, CaptureInfo(None, 1, None))
    try:
        with _open(path, fmt, DEFAULT_MAX_PIXELS) as img:
            return capture_info(img)
    except Exception:  # noqa: BLE001 - an unreadable file has no metadata
        return CaptureInfo(None, 1, None)


def _raw_info(path: Path, preview: CaptureInfo) -> CaptureInfo:
    """The RAW's own metadata (exiv2), the embedded preview's EXIF filling what it lacks."""
    from .inputs.raw import raw_tags

    tags = raw_tags(path)
    if tags is None:
        return preview
    raw = capture_from_tags(*tags)
    if not raw.found:
        return preview
    if _ORIENTATION not in tags[0]:  # e.g. a Phase One IIQ: the preview may say how it is held
        raw.orientation = preview.orientation
    if raw.capture_time is None:  # e.g. a Sigma X3F: only its preview says when
        raw.capture_time, raw.utc_offset = preview.capture_time, preview.utc_offset
    raw.camera = raw.camera or preview.camera
    raw.serial = raw.serial or preview.serial
    return raw


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB for every mode: 16-bit TIFF/PNG scaled down, alpha flattened on white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):

        arr = np.asarray(img, dtype=np.float32)
        peak = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray((arr * (255.0 / peak)).clip(0, 255).astype("uint8"), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("RGB")


def decode_error(path: Path, exc: BaseException) -> FileError:
    """Turn any decode exception into a per-file error record."""
    if isinstance(exc, DecodeError):
        return FileError(path, "decode", exc.message, exc.detail)
    return FileError(path, "decode", "unexpected error while decoding; run with --verbose for details", repr(exc))
