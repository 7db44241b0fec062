"""The registry of input formats: extensions, magic bytes, opener. Adding a format is one entry.

Scan uses the extensions and the sniffers (the content decides, never the name alone);
decode uses the opener. A RAW file is read through its embedded JPEG preview, so the RAW
"format" also claims TIFF-like containers (CR2, NEF, ARW, DNG) when its extension says RAW.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PIL import Image

from ..registry import register_in
from .errors import DecodeError


@dataclass(frozen=True)
class InputFormat:
    """One kind of photo file photocull reads."""

    name: str  # what Frame.fmt says
    extensions: tuple[str, ...]  # lower-case, with the dot
    sniff: Callable[[bytes], bool]  # does a file's head (first 32+ bytes) say this format
    open: Callable[[Path, int], Image.Image]  # (path, max_pixels) -> a lazily loaded PIL image
    preference: int  # of two files of one frame (RAW+JPEG), the lower is decoded
    containers: tuple[str, ...] = ()  # sniffed formats that are this one when the extension claims it


def open_with_pillow(path: Path, max_pixels: int) -> Image.Image:
    """Pillow's own opener, a decompression bomb an error rather than a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return Image.open(path)


def open_heic(path: Path, max_pixels: int) -> Image.Image:
    try:
        import pillow_heif  # type: ignore[import-not-found]
    except ImportError as exc:
        from ..install import install_command

        raise DecodeError(f"HEIC needs the pillow-heif package: {install_command('heic')}") from exc
    pillow_heif.register_heif_opener()
    return open_with_pillow(path, max_pixels)


def open_raw_preview(path: Path, max_pixels: int) -> Image.Image:
    from .raw import open_raw_preview as preview

    return preview(path, max_pixels)


# Every RAW extension exiv2 or LibRaw reads (the camera makers' own and DNG). TIFF-shaped ones
# (NEF, ARW, PEF, SRW, IIQ, 3FR, ...) are sniffed as TIFF and claimed by their extension.
RAW_EXTENSIONS = (".3fr", ".ari", ".arw", ".cap", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".fff",
                  ".gpr", ".iiq", ".k25", ".kdc", ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".ori", ".pef",
                  ".raf", ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f")

_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif")

FORMATS: dict[str, InputFormat] = {}


def register_format(fmt: InputFormat, *, replace: bool = False) -> InputFormat:
    """Add an input format; a name taken already is refused unless ``replace``."""
    return register_in(FORMATS, fmt.name, fmt, kind="input format", replace=replace)


# Sniffed in this order (TIFF last: it is also the container of several RAW formats).
for _f in (
    # MPO (stereo, multi-picture): its first picture is a JPEG, the others follow it.
    InputFormat("jpeg", (".jpg", ".jpeg", ".jpe", ".jfif", ".mpo"), lambda h: h.startswith(b"\xff\xd8\xff"),
                open_with_pillow, 0),
    InputFormat("png", (".png",), lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"), open_with_pillow, 4),
    InputFormat("webp", (".webp",), lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP", open_with_pillow, 3),
    InputFormat("heic", (".heic", ".heif", ".hif"), lambda h: h[4:8] == b"ftyp" and h[8:12] in _HEIF_BRANDS,
                open_heic, 1),
    InputFormat("gif", (".gif",), lambda h: h[:6] in (b"GIF87a", b"GIF89a"), open_with_pillow, 6),
    InputFormat("raw", RAW_EXTENSIONS,
                lambda h: (h[4:8] == b"ftyp" and h[8:12] == b"crx ")  # Canon CR3
                or h.startswith(b"FUJIFILMCCD-RAW")
                or h[:4] in (b"IIRO", b"IIRS", b"IIU\x00")  # Olympus ORF, Panasonic RW2/RWL
                or h[6:14] == b"HEAPCCDR"  # Canon CRW (CIFF)
                or h[:4] == b"\x00MRM"  # Minolta MRW
                or h[:4] == b"FOVb",  # Sigma X3F
                open_raw_preview, 5, containers=("tiff",)),
    InputFormat("tiff", (".tif", ".tiff"), lambda h: h[:4] in (b"II*\x00", b"MM\x00*"), open_with_pillow, 2),
):
    register_format(_f)


def by_extension(suffix: str) -> InputFormat | None:
    """The format a file name's extension claims."""
    suffix = suffix.lower()
    return next((f for f in FORMATS.values() if suffix in f.extensions), None)


def sniff(head: bytes) -> str | None:
    """The image format of a file from its first bytes, or None when unknown."""
    return next((f.name for f in FORMATS.values() if f.sniff(head)), None)


def get(name: str) -> InputFormat:
    return FORMATS[name]
