"""JPEG segment parser and splicer.

Why our own: piexif.insert drops the JFIF APP0 segment and happily rewrites truncated
files. Here the file is split into the segments before the first SOS and the untouched
"tail" (SOS onwards = pixel data, plus anything appended after EOI). A rebuild swaps only
the EXIF and XMP APP1 segments; every other byte is copied verbatim, in order.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

EXIF_HEADER = b"Exif\x00\x00"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
MAX_SEGMENT_PAYLOAD = 0xFFFF - 2  # a segment length field counts itself

SOI, EOI, SOS, APP0, APP1, APP2 = 0xD8, 0xD9, 0xDA, 0xE0, 0xE1, 0xE2
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: no length field
# In entropy-coded data 0xFF is followed by 0x00 (stuffing), RST0-7 or more 0xFF (fill):
# anything else is a marker. One C-level regex search per scan instead of a Python loop
# over every stuffed byte (a 9 MB photo has millions).
_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class JpegError(ValueError):
    """The data is not a JPEG we can safely rewrite; ``str()`` is a one-line reason."""


@dataclass(frozen=True)
class Segment:
    """One marker segment before SOS, kept as its exact bytes (fill bytes included)."""

    marker: int
    raw: bytes  # everything from the first 0xFF of the marker to the end of the payload
    payload_start: int  # index into ``raw`` where the payload begins

    @property
    def payload(self) -> bytes:
        return self.raw[self.payload_start :]

    @property
    def is_exif(self) -> bool:
        return self.marker == APP1 and self.payload.startswith(EXIF_HEADER)

    @property
    def is_xmp(self) -> bool:
        return self.marker == APP1 and self.payload.startswith(XMP_HEADER)

    @property
    def is_mpf(self) -> bool:
        return self.marker == APP2 and self.payload.startswith(b"MPF\x00")


def make_segment(marker: int, payload: bytes) -> Segment:
    """Build a length-prefixed segment; refuses payloads that cannot fit (64 KB limit)."""
    if len(payload) > MAX_SEGMENT_PAYLOAD:
        raise JpegError(f"metadata block of {len(payload)} bytes does not fit in a JPEG segment (max 65533)")
    return Segment(marker, bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload, 4)


@dataclass(frozen=True)
class JpegFile:
    """A parsed JPEG: SOI, the segments before SOS, then the byte-exact tail."""

    segments: tuple[Segment, ...]
    tail: bytes  # from the SOS marker to the end of the file: never modified

    def to_bytes(self) -> bytes:
        return b"\xff\xd8" + b"".join(s.raw for s in self.segments) + self.tail

    def find(self, kind: str) -> int | None:
        """Index of the first EXIF ("exif") or XMP ("xmp") segment, or None."""
        for i, seg in enumerate(self.segments):
            if (kind == "exif" and seg.is_exif) or (kind == "xmp" and seg.is_xmp):
                return i
        return None


def _skip_scans(data: bytes, pos: int) -> int:
    """Walk from an SOS marker to just past the primary image's EOI; raise if absent.

    Inside entropy-coded data 0xFF is always followed by 0x00 or RSTn, so any other pair is
    a marker; length-bearing markers between progressive scans are skipped by length.
    """
    n = len(data)
    while True:
        # pos points at 0xFF of a marker with a length field (SOS, DHT, DQT, DRI, APPn, COM...)
        if pos + 4 > n:
            raise JpegError("truncated JPEG (image data ends early)")
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if length < 2 or pos + 2 + length > n:
            raise JpegError("truncated JPEG (image data ends early)")
        pos += 2 + length
        if marker == SOS:  # entropy-coded data up to the next marker
            found = _MARKER_IN_SCAN.search(data, pos)
            if found is None:
                raise JpegError("truncated JPEG (no end-of-image marker)")
            pos = found.start()
        # pos at 0xFF of a marker
        while pos + 1 < n and data[pos + 1] == 0xFF:
            pos += 1
        if pos + 1 >= n:
            raise JpegError("truncated JPEG (no end-of-image marker)")
        if data[pos + 1] == EOI:
            return pos + 2
        if data[pos + 1] in _STANDALONE or data[pos + 1] == SOI:
            raise JpegError("damaged JPEG (unexpected marker in image data)")


def is_samsung_trailer(data: bytes) -> bool:
    """Does ``data`` (what follows the image's EOI) end with a complete Samsung SEF trailer
    (a Samsung motion photo: its video, then ``SEFH`` ... a directory ..., its length, ``SEFT``)?
    The directory's offsets count back from the trailer, so the tail kept byte-identical stays valid."""
    if len(data) < 16 or not data.endswith(b"SEFT"):
        return False
    size = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - size
    return 0 <= start and data[start : start + 4] == b"SEFH"


def is_appended_video(data: bytes) -> bool:
    """Is ``data`` (what follows the image's EOI) a complete MP4/MOV, as phones append to a
    motion photo? Its boxes must run exactly to the end: a copy cut short is not complete."""
    if data[4:8] != b"ftyp":
        return False
    pos, n = 0, len(data)
    while pos < n:
        if pos + 8 > n:
            return False
        size = int.from_bytes(data[pos : pos + 4], "big")
        if size == 0:  # the last box runs to the end of the file
            return True
        if size == 1:  # a 64-bit size follows the type
            if pos + 16 > n:
                return False
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
            if size < 16:
                return False
        elif size < 8:
            return False
        pos += size
    return pos == n


def parse(data: bytes, *, head_only: bool = False) -> JpegFile:
    """Split ``data`` into segments and tail, refusing anything incomplete or malformed.

    A file must start with SOI, have well-formed segments up to an SOS, contain a complete
    primary image (walked up to its EOI), and end with an EOI (possibly followed by zero
    padding) or a complete appended video (a motion photo), so that a file still being
    copied is never mistaken for a finished one; whatever follows the image is kept as is.
    ``head_only``: ``data`` may be just the start of the file; only the segments before
    SOS are checked (for reading metadata, never for writing).
    """
    n = len(data)
    if n == 0:
        raise JpegError("file is empty (0 bytes)")
    if n < 4 or data[0] != 0xFF or data[1] != SOI:
        raise JpegError("not a JPEG file (no JPEG signature at the start)")
    pos = 2
    segments: list[Segment] = []
    while True:
        if pos >= n:
            raise JpegError("truncated JPEG (ends before the image data)")
        if data[pos] != 0xFF:
            raise JpegError(f"damaged JPEG (garbage instead of a marker at byte {pos})")
        start = pos
        while pos < n and data[pos] == 0xFF:  # fill bytes are legal before a marker
            pos += 1
        if pos >= n:
            raise JpegError("truncated JPEG (ends before the image data)")
        marker = data[pos]
        pos += 1
        if marker == SOS:
            tail_start = start
            break
        if marker in (EOI, SOI, 0x00):
            raise JpegError("damaged JPEG (no image data before the end marker)")
        if marker in _STANDALONE:
            segments.append(Segment(marker, data[start:pos], pos - start))
            continue
        if pos + 2 > n:
            raise JpegError("truncated JPEG (ends inside a header segment)")
        length = struct.unpack(">H", data[pos : pos + 2])[0]
        if length < 2 or pos + length > n:
            raise JpegError("truncated JPEG (a header segment runs past the end of the file)")
        segments.append(Segment(marker, data[start : pos + length], pos + 2 - start))
        pos += length
    if head_only:
        return JpegFile(tuple(segments), data[tail_start:])
    end = _skip_scans(data, pos - 2)  # pos - 2: the 0xFF right before the SOS code
    trailer = data[end:].rstrip(b"\x00")
    if trailer and not trailer.endswith(b"\xff\xd9") and not is_appended_video(data[end:]) \
            and not is_samsung_trailer(data[end:]):
        raise JpegError("unrecognised or truncated data after the end of the image")
    return JpegFile(tuple(segments), data[tail_start:])


def splice(jpeg: JpegFile, *, exif: bytes | None | bool = True, xmp: bytes | None | bool = True) -> JpegFile:
    """Return a copy with the EXIF and/or XMP APP1 payload replaced, inserted or removed.

    ``True`` keeps the segment as is, ``None`` removes it, bytes (full payload including
    the ``Exif\\0\\0`` / XMP header) replaces or inserts it. New EXIF goes right after the
    leading APP0 (JFIF) segments; new XMP right after the EXIF segment.
    """
    segs = list(jpeg.segments)
    mpf_at = next((i for i, s in enumerate(segs) if s.is_mpf), None)
    for kind, new in (("exif", exif), ("xmp", xmp)):
        if new is True:
            continue
        idx = JpegFile(tuple(segs), b"").find(kind)
        old_len = len(segs[idx].raw) if idx is not None else 0
        new_seg = make_segment(APP1, new) if isinstance(new, bytes) else None
        if idx is None and new_seg is not None:
            e = JpegFile(tuple(segs), b"").find("exif")
            if kind == "xmp" and e is not None:
                idx = e + 1
            else:
                idx = 0
                while idx < len(segs) and segs[idx].marker == APP0:
                    idx += 1
            pos = idx
            segs.insert(idx, new_seg)
        elif idx is not None:
            pos = idx
            if new_seg is None:
                del segs[idx]
            else:
                segs[idx] = new_seg
        else:
            continue
        new_len = len(new_seg.raw) if new_seg is not None else 0
        # MPF offsets are relative to the MPF segment: a size change after it would break them.
        if mpf_at is not None and new_len != old_len:
            mpf_now = next(i for i, s in enumerate(segs) if s.is_mpf)
            if pos > mpf_now:
                raise JpegError("multi-picture JPEG with metadata after the MPF index; cannot rewrite safely")
    return JpegFile(tuple(segs), jpeg.tail)
