"""Property tests: damaged EXIF/XMP payloads never crash the writer or corrupt a file."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photocull.metadata import read_rating, write_rating

from .conftest import XMP_ELEMENT_FORM, XMP_WITH_FIELDS, camera_exif, make_jpeg, markers, tail, xmp_segment

BASES = [
    make_jpeg(seed=1, exif=camera_exif(thumbnail=True), extra=(xmp_segment(XMP_WITH_FIELDS.format(rating=2)),)),
    make_jpeg(seed=2, exif=camera_exif(rating=4, makernote=500), icc=True),
    make_jpeg(seed=3, extra=(xmp_segment(XMP_ELEMENT_FORM.format(rating=1)),)),
]


def _app1_positions(data: bytes) -> list[tuple[int, int]]:
    """(start of payload, length of payload) of each APP1 segment."""
    out, pos = [], 2
    while data[pos + 1] != 0xDA:
        n = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if data[pos + 1] == 0xE1:
            out.append((pos + 4, n - 2))
        pos += 2 + n
    return out


@st.composite
def damaged_jpeg(draw) -> bytes:
    data = BASES[draw(st.integers(0, len(BASES) - 1))]
    segs = _app1_positions(data)
    start, length = segs[draw(st.integers(0, len(segs) - 1))]
    payload = bytearray(data[start : start + length])
    header = 6 if payload.startswith(b"Exif") else 29
    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(header if draw(st.booleans()) else 0, len(payload) - 1))
        payload[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        payload = payload[: draw(st.integers(0, len(payload)))]
    # keep the segment length field consistent with the damaged payload
    return data[: start - 2] + struct.pack(">H", len(payload) + 2) + bytes(payload) + data[start + length :]


@settings(derandomize=True, max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=damaged_jpeg(), stars=st.integers(0, 5))
def test_damaged_metadata_written_correctly_or_skipped(data: bytes, stars: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.jpg"
        p.write_bytes(data)
        out = write_rating(p, stars, fmt="jpeg", journal=None)
        after = p.read_bytes()
        assert "unexpected" not in out.message, out
        if out.status == "skipped":
            assert after == data and out.message
        elif out.status == "unchanged":
            assert after == data
        else:
            assert out.status == "written", out
            assert tail(after) == tail(data)
            keep = [s for s in markers(data) if s[1] != 0xE1]
            assert [s for s in markers(after) if s[1] != 0xE1] == keep
            got = read_rating(p, "jpeg")
            assert got["errors"] == [] and got["exif_rating"] == stars and got["xmp_rating"] == stars
        assert [x.name for x in Path(d).iterdir()] == ["x.jpg"]


@settings(derandomize=True, max_examples=60, deadline=None)
@given(junk=st.binary(min_size=0, max_size=300), keep=st.integers(0, 400))
def test_arbitrary_prefixes_and_junk_never_raise(junk: bytes, keep: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.jpg"
        data = BASES[0][:keep] + junk
        p.write_bytes(data)
        out = write_rating(p, 3, fmt="jpeg", journal=None)
        assert out.status == "skipped" and "unexpected" not in out.message, out
        assert p.read_bytes() == data
