"""EXIF Rating (0x4746) and RatingPercent (0x4749) in IFD0, edited without re-serialising.

Why not piexif.load/dump: a round trip drops tags piexif does not know and moves every
value, which breaks maker notes that use absolute offsets. Here nothing existing moves:
an existing tag is patched in place; otherwise a copy of IFD0 with the two tags added is
appended to the TIFF block and the header is pointed at it (the old IFD0 becomes unused
bytes). Undo can reverse that exactly by truncating and restoring the header pointer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .jpeg import EXIF_HEADER

RATING, RATING_PERCENT = 0x4746, 0x4749
_SUB_IFDS = (0x8769, 0x8825, 0xA005)  # ExifIFD, GPS, Interop pointers
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_SHORT, _LONG, _RATIONAL = 3, 4, 5
PERCENT = {0: 0, 1: 1, 2: 25, 3: 50, 4: 75, 5: 99}  # stars -> RatingPercent (Windows' mapping)


class ExifError(ValueError):
    """The EXIF block is damaged or unsupported; ``str()`` is a one-line reason."""


@dataclass(frozen=True)
class Layout:
    """Where IFD0 was before we appended a new one (lets undo restore the exact bytes)."""

    ifd0: int
    length: int


@dataclass
class _Tiff:
    data: bytes
    e: str  # "<" or ">"
    ifd0: int
    entries: list[bytes]  # raw 12-byte entries of IFD0
    next_ifd: int

    def tag(self, raw: bytes) -> int:
        return struct.unpack(self.e + "H", raw[:2])[0]

    def find(self, tag: int) -> int | None:
        return next((i for i, r in enumerate(self.entries) if self.tag(r) == tag), None)


def _check_ifd(data: bytes, e: str, off: int, what: str, seen: set[int], depth: int = 0) -> tuple[list[bytes], int]:
    """Parse and sanity-check one IFD (and its sub-IFDs); raise ExifError on bad offsets."""
    n = len(data)
    if off in seen or depth > 4:
        raise ExifError(f"damaged EXIF ({what} loops back on itself)")
    seen.add(off)
    if off < 8 or off + 2 > n:
        raise ExifError(f"damaged EXIF ({what} offset points outside the EXIF block)")
    count = struct.unpack(e + "H", data[off : off + 2])[0]
    end = off + 2 + 12 * count
    if end + 4 > n:
        raise ExifError(f"damaged EXIF ({what} runs past the end of the EXIF block)")
    entries = [data[off + 2 + 12 * i : off + 14 + 12 * i] for i in range(count)]
    for raw in entries:
        tag, typ, cnt = struct.unpack(e + "HHI", raw[:8])
        size = _TYPE_SIZE.get(typ)
        if size is None:
            continue  # unknown type: copied verbatim, never interpreted
        if size * cnt > 4:
            voff = struct.unpack(e + "I", raw[8:])[0]
            if voff + size * cnt > n:
                raise ExifError(f"damaged EXIF (tag 0x{tag:04x} in {what} points outside the EXIF block)")
        if tag in _SUB_IFDS and typ in (_LONG, 13) and cnt == 1:
            sub = struct.unpack(e + "I", raw[8:])[0]
            if sub:
                _check_ifd(data, e, sub, f"sub-IFD 0x{tag:04x}", seen, depth + 1)
    next_ifd = struct.unpack(e + "I", data[end : end + 4])[0]
    return entries, next_ifd


def _parse(tiff: bytes) -> _Tiff:
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        raise ExifError("damaged EXIF (bad TIFF header)")
    e = "<" if tiff[:2] == b"II" else ">"
    ifd0 = struct.unpack(e + "I", tiff[4:8])[0]
    seen: set[int] = set()
    entries, next_ifd = _check_ifd(tiff, e, ifd0, "IFD0", seen)
    if next_ifd:
        _check_ifd(tiff, e, next_ifd, "IFD1 (thumbnail)", seen)
    return _Tiff(tiff, e, ifd0, entries, next_ifd)


def _split(payload: bytes) -> bytes:
    if not payload.startswith(EXIF_HEADER):
        raise ExifError("not an EXIF block")
    return payload[len(EXIF_HEADER) :]


def _value(t: _Tiff, idx: int | None) -> int | None:
    if idx is None:
        return None
    _, typ, cnt = struct.unpack(t.e + "HHI", t.entries[idx][:8])
    if cnt != 1 or typ not in (_SHORT, _LONG, 8, 9):
        return None
    fmt = {_SHORT: "H", _LONG: "I", 8: "h", 9: "i"}[typ]
    return struct.unpack(t.e + fmt, t.entries[idx][8 : 8 + struct.calcsize(fmt)])[0]


def read(payload: bytes | None) -> dict[str, int | None]:
    """Rating and RatingPercent from an EXIF APP1 payload (None = tag absent)."""
    if payload is None:
        return {"Rating": None, "RatingPercent": None}
    t = _parse(_split(payload))
    return {"Rating": _value(t, t.find(RATING)), "RatingPercent": _value(t, t.find(RATING_PERCENT))}


def validate(payload: bytes) -> None:
    """Raise ExifError when the block's structure (IFD chain, offsets) is damaged."""
    _parse(_split(payload))


def _entry(e: str, tag: int, value: int) -> bytes:
    return struct.pack(e + "HHIHH", tag, _SHORT, 1, value, 0)


def _rebuild(t: _Tiff, entries: list[bytes]) -> tuple[bytes, Layout]:
    """Append a new IFD0 holding ``entries`` and point the header at it."""
    entries = sorted(entries, key=t.tag)
    base = t.data + (b"\x00" if len(t.data) % 2 else b"")
    new_off = len(base)
    ifd = struct.pack(t.e + "H", len(entries)) + b"".join(entries) + struct.pack(t.e + "I", t.next_ifd)
    out = base[:4] + struct.pack(t.e + "I", new_off) + base[8:] + ifd
    return out, Layout(t.ifd0, len(t.data))


def write(payload: bytes, values: dict[str, int | None], layout: Layout | None = None) -> tuple[bytes, Layout | None]:
    """Set (int) or remove (None) Rating/RatingPercent in IFD0, keeping every other byte.

    Returns the new payload and, when a new IFD0 was appended, the Layout that undo can pass
    back (as ``layout``) to restore the exact previous bytes when removing the tags again.
    """
    t = _parse(_split(payload))
    want = {RATING: values.get("Rating"), RATING_PERCENT: values.get("RatingPercent")}
    # Exact reversal of an earlier append: the old IFD0 is still there, intact.
    if layout is not None and all(v is None for v in want.values()) and _can_revert(t, layout):
        tiff = t.data[:4] + struct.pack(t.e + "I", layout.ifd0) + t.data[8 : layout.length]
        return EXIF_HEADER + tiff, None
    for v in want.values():
        if v is not None and not 0 <= v <= 0xFFFF:
            raise ExifError(f"EXIF value {v} out of range")
    patchable = all(v is None or _value(t, t.find(tag)) is not None for tag, v in want.items())
    if not patchable:  # a tag to set is missing (or odd): append a new IFD0, move nothing
        entries = [r for r in t.entries if t.tag(r) not in want]
        entries += [_entry(t.e, tag, v) for tag, v in want.items() if v is not None]
        out, new_layout = _rebuild(t, entries)
        return EXIF_HEADER + out, new_layout
    data = bytearray(t.data)
    for tag, v in want.items():
        idx = t.find(tag)
        if v is not None and idx is not None:
            typ = struct.unpack(t.e + "H", t.entries[idx][2:4])[0]
            fmt = {_SHORT: "H", _LONG: "I", 8: "h", 9: "i"}[typ]
            at = t.ifd0 + 2 + 12 * idx + 8
            data[at : at + 4] = struct.pack(t.e + fmt, v).ljust(4, b"\x00")
    removing = [tag for tag, v in want.items() if v is None and t.find(tag) is not None]
    if removing:  # shrink IFD0 in place; freed bytes are zeroed
        size = 2 + 12 * len(t.entries) + 4
        cur = [bytes(data[t.ifd0 + 2 + 12 * i : t.ifd0 + 14 + 12 * i]) for i in range(len(t.entries))]
        keep = [r for r in cur if t.tag(r) not in removing]
        ifd = struct.pack(t.e + "H", len(keep)) + b"".join(keep) + struct.pack(t.e + "I", t.next_ifd)
        data[t.ifd0 : t.ifd0 + size] = ifd.ljust(size, b"\x00")
    return EXIF_HEADER + bytes(data), None


def _can_revert(t: _Tiff, layout: Layout) -> bool:
    """True when IFD0 is our appended copy and ``layout.ifd0`` still holds the original."""
    if not (t.ifd0 >= layout.length and t.ifd0 + 2 + 12 * len(t.entries) + 4 == len(t.data)):
        return False
    try:
        old_entries, old_next = _check_ifd(t.data[: layout.length], t.e, layout.ifd0, "IFD0", set())
    except ExifError:
        return False
    ours = [r for r in t.entries if t.tag(r) not in (RATING, RATING_PERCENT)]
    theirs = [r for r in old_entries if t.tag(r) not in (RATING, RATING_PERCENT)]
    return sorted(ours) == sorted(theirs) and len(ours) == len(old_entries) and old_next == t.next_ifd


def new_payload(values: dict[str, int | None], jfif_density: tuple[int, int, int] | None = None) -> bytes:
    """A minimal EXIF block for a JPEG that had none.

    Carries the IFD0 tags exiftool's validator requires for JPEG (resolution taken from the
    JFIF header when there is one, as exiftool does; else 72 dpi) plus the rating tags.
    """
    e = ">"
    unit, xres, yres = jfif_density if jfif_density and jfif_density[1] and jfif_density[2] else (2, 72, 72)
    unit = {0: 1, 1: 2, 2: 3}.get(unit, 2)  # JFIF units (0 none, 1 dpi, 2 dpcm) -> TIFF (1, 2, 3)
    tags: list[tuple[int, int, int, bytes]] = []
    tags.append((0x011A, _RATIONAL, 1, struct.pack(e + "II", xres, 1)))
    tags.append((0x011B, _RATIONAL, 1, struct.pack(e + "II", yres, 1)))
    tags.append((0x0128, _SHORT, 1, struct.pack(e + "HH", unit, 0)))
    tags.append((0x0213, _SHORT, 1, struct.pack(e + "HH", 1, 0)))
    for tag, key in ((RATING, "Rating"), (RATING_PERCENT, "RatingPercent")):
        if values.get(key) is not None:
            tags.append((tag, _SHORT, 1, struct.pack(e + "HH", values[key], 0)))
    count = len(tags)
    extra_at = 8 + 2 + 12 * count + 4
    entries, extra = b"", b""
    for tag, typ, cnt, val in tags:
        if len(val) > 4:
            entries += struct.pack(e + "HHII", tag, typ, cnt, extra_at + len(extra))
            extra += val
        else:
            entries += struct.pack(e + "HHI", tag, typ, cnt) + val
    tiff = b"MM\x00*" + struct.pack(e + "I", 8) + struct.pack(e + "H", count) + entries + b"\x00\x00\x00\x00" + extra
    return EXIF_HEADER + tiff


def jfif_density(app0_payload: bytes) -> tuple[int, int, int] | None:
    """(units, xdensity, ydensity) from a JFIF APP0 payload, or None."""
    if app0_payload.startswith(b"JFIF\x00") and len(app0_payload) >= 12:
        return app0_payload[7], *struct.unpack(">HH", app0_payload[8:12])
    return None
