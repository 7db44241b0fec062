"""Camera RAW files: metadata through exiv2, the picture through the largest embedded JPEG.

Why exiv2 (the ``pyexiv2`` wheels, which bundle libexiv2): measured on exiftool's own
sample files (README, "Camera files"), it read the capture time of CR2, CRW, DNG, RAF,
MRW, NEF, RW2 and IIQ, where ``exifread`` read five of them (none of RAF, CRW, MRW, CR3)
and ``rawpy`` exposes no EXIF at all. Pillow reads only TIFF-shaped RAWs, so a RAF or a CR3
used to fall back to the file's modification time. exiv2 reads a Canon CR3 it is given
whole; when it refuses one (the stripped exiftool sample), the CR3's ``CMT1``/``CMT2`` boxes
are TIFF directories that Pillow parses.

Why not LibRaw for the preview: on the same samples ``rawpy.extract_thumb`` found exactly
the JPEGs the scan below finds, and it refuses every container without real sensor data
(the stripped CR2, files a test builds), where the scan still finds the JPEG.
"""

from __future__ import annotations

import io
import mmap
import struct
import warnings
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import DecodeError

_PREVIEW_HEADER_BYTES = 512 * 1024  # enough for a preview's EXIF/ICC segments up to its SOF
_MOOV_MAX = 32 * 1024 * 1024  # a CR3's moov holds metadata and tables: never more than this
CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")

# exiv2 key -> (IFD, EXIF tag): the one tag layout ``decode.capture_from_tags`` reads.
_IFD0, _SUB = 0, 1
_KEYS = {
    "Exif.Image.Make": (_IFD0, 0x010F),
    "Exif.Image.Model": (_IFD0, 0x0110),
    "Exif.Image.Orientation": (_IFD0, 0x0112),
    "Exif.Image.DateTime": (_IFD0, 0x0132),
    "Exif.Image.DateTimeOriginal": (_SUB, 0x9003),  # TIFF/EP: in IFD0 (Minolta, some DNGs)
    "Exif.Photo.DateTimeOriginal": (_SUB, 0x9003),
    "Exif.Photo.SubSecTimeOriginal": (_SUB, 0x9291),
    "Exif.Photo.SubSecTime": (_SUB, 0x9290),
    "Exif.Photo.OffsetTimeOriginal": (_SUB, 0x9011),
    "Exif.Photo.OffsetTime": (_SUB, 0x9010),
    "Exif.Photo.BodySerialNumber": (_SUB, 0xA431),
}
# Where makers keep the body's serial number when the EXIF 2.3 tag is missing (first found wins).
_SERIAL_KEYS = ("Exif.Image.CameraSerialNumber", "Exif.Canon.SerialNumber", "Exif.Nikon3.SerialNumber",
                "Exif.Nikon3.SerialNO", "Exif.Fujifilm.SerialNumber", "Exif.Olympus.SerialNumber",
                "Exif.OlympusEq.SerialNumber", "Exif.Pentax.SerialNumber", "Exif.Sony2.SerialNumber",
                "Exif.Samsung2.SerialNumber", "Exif.Photo.BodySerialNumber")

_pyexiv2: Any = None


def _exiv2() -> Any:
    global _pyexiv2
    if _pyexiv2 is None:
        import pyexiv2  # type: ignore[import-untyped]

        pyexiv2.set_log_level(4)  # exiv2 warns on stderr about every odd maker note: mute
        _pyexiv2 = pyexiv2
    return _pyexiv2


def read_exiv2(path: Path) -> dict[str, str]:
    """Every EXIF key exiv2 reads in ``path`` (``{}`` when it reads none or refuses the file)."""
    try:
        pyexiv2 = _exiv2()
    except ImportError:
        return {}
    try:
        name = str(path)
        name.encode("utf-8")
        with pyexiv2.Image(name) as img:
            return img.read_exif()
    except UnicodeEncodeError:  # a name that is not UTF-8 (surrogate-escaped bytes): hand exiv2 the bytes
        try:
            with pyexiv2.ImageData(path.read_bytes()) as img:
                return img.read_exif()
        except Exception:  # noqa: BLE001 - a refusal is "no metadata", never the photo's loss
            return {}
    except Exception:  # noqa: BLE001
        return {}


def raw_tags(path: Path) -> tuple[dict[int, Any], dict[int, Any], str | None] | None:
    """(IFD0 tags, Exif IFD tags, serial) of a RAW, by EXIF tag number; None when unreadable."""
    found = read_exiv2(path)
    if found:
        ifd0: dict[int, Any] = {}
        sub: dict[int, Any] = {}
        for key, (ifd, tag) in _KEYS.items():
            value = found.get(key)
            if value not in (None, ""):
                (ifd0 if ifd == _IFD0 else sub).setdefault(tag, value)
        serial = next((found[k] for k in _SERIAL_KEYS if _printable(found.get(k))), None)
        if ifd0 or sub:
            return ifd0, sub, serial
    return cr3_tags(path) or tiff_tags(path)


def tiff_tags(path: Path) -> tuple[dict[int, Any], dict[int, Any], str | None] | None:
    """IFD0 and Exif IFD of a TIFF-shaped RAW as Pillow reads them: the fallback where exiv2
    is not installed or refuses a file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a RAW's odd tags and sizes are no reason to warn
            with Image.open(path) as img:
                exif = img.getexif()
                return dict(exif), dict(exif.get_ifd(0x8769)), None
    except Exception:  # noqa: BLE001 - not TIFF-shaped, or corrupt: no metadata
        return None


def _printable(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip()) and value.strip().isprintable()


# ---------------------------------------------------------------- Canon CR3 (ISO base media)

def _boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, payload start, payload end) of each box in ``data[start:end]``; stops at the first
    malformed or truncated box (a card copy cut short keeps what came before)."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        head = 8
        if size == 1 and pos + 16 <= end:
            size, head = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            return
        yield kind, pos + head, pos + size
        pos += size


def cr3_tags(path: Path) -> tuple[dict[int, Any], dict[int, Any], str | None] | None:
    """IFD0 (``CMT1``) and Exif IFD (``CMT2``) of a Canon CR3, parsed by Pillow; None otherwise."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if head[4:12] != b"ftypcrx ":
                return None
            fh.seek(0)
            top = fh.read(1024 * 1024)  # ftyp and the start of moov; moov's size tells the rest
            for kind, start, stop in _boxes(top):
                if kind == b"moov":
                    if stop - start > _MOOV_MAX:
                        return None
                    fh.seek(start)
                    moov = fh.read(stop - start)
                    break
            else:
                return None
    except OSError:
        return None
    cmt: dict[bytes, bytes] = {}
    for kind, start, stop in _boxes(moov):
        if kind == b"uuid" and moov[start : start + 16] == CANON_UUID:
            for sub_kind, s, e in _boxes(moov, start + 16, stop):
                if sub_kind in (b"CMT1", b"CMT2"):
                    cmt[sub_kind] = moov[s:e]
    if b"CMT1" not in cmt and b"CMT2" not in cmt:
        return None
    try:
        ifd0, sub = (_tiff_ifd(cmt.get(k, b"")) for k in (b"CMT1", b"CMT2"))
    except Exception:  # noqa: BLE001 - a corrupt box: no metadata
        return None
    return ifd0, sub, None


def _tiff_ifd(data: bytes) -> dict[int, Any]:
    """The first IFD of a TIFF byte string (the layout of each CMT box), as Pillow reads it."""
    if not data:
        return {}
    exif = Image.Exif()
    exif.load(b"Exif\x00\x00" + data)
    return dict(exif)


# ---------------------------------------------------------------- the preview

def open_raw_preview(path: Path, max_pixels: int) -> Image.Image:
    """The largest JPEG embedded in a camera RAW file (no RAW development).

    Every JPEG start marker is tried and each candidate's header (up to its frame header)
    says its size, so the file is never decoded in full; the file is mapped, not read.
    """
    with open(path, "rb") as fh:
        try:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file
            raise DecodeError("camera RAW file is empty") from None
    with data:
        best_at, best_pixels = -1, 0
        start = data.find(b"\xff\xd8\xff")
        while start != -1:
            try:
                head = Image.open(io.BytesIO(data[start : start + _PREVIEW_HEADER_BYTES]))
                pixels = head.width * head.height
                if head.format == "JPEG" and best_pixels < pixels <= max_pixels:
                    best_at, best_pixels = start, pixels
            except Exception:  # noqa: BLE001 - a marker inside sensor data is no JPEG
                pass
            start = data.find(b"\xff\xd8\xff", start + 3)
        try:
            best = Image.open(io.BytesIO(data[best_at:])) if best_at >= 0 else None
        except Exception:  # noqa: BLE001
            best = None
    if best is None:
        raise DecodeError("camera RAW file has no readable embedded JPEG preview; left unrated "
                          "(export a JPEG of the same name beside it to cull the pair)")
    return best
