"""Unit tests of the building blocks: JPEG parser, EXIF editor, XMP reader/writer, atomic."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import piexif
import pytest
from PIL import Image

from photocull.metadata import atomic, exif, jpeg, xmp

from .conftest import XMP_WITH_FIELDS, camera_exif, make_jpeg, segment, xmp_segment


@pytest.mark.parametrize("progressive", [False, True])
def test_parse_roundtrip_and_truncation_everywhere(progressive: bool) -> None:
    buf = io.BytesIO()
    Image.effect_noise((40, 30), 50).convert("RGB").save(buf, "JPEG", progressive=progressive)
    data = buf.getvalue()
    assert jpeg.parse(data).to_bytes() == data
    for cut in range(0, len(data) - 1, 7):
        with pytest.raises(jpeg.JpegError):
            jpeg.parse(data[:cut])
    assert jpeg.parse(data + b"\x00" * 16).to_bytes() == data + b"\x00" * 16  # zero padding is fine


def test_appended_image_after_eoi_accepted_but_truncated_one_refused() -> None:
    main, extra = make_jpeg(seed=1), make_jpeg(seed=2)
    assert jpeg.parse(main + extra).tail.endswith(extra)
    with pytest.raises(jpeg.JpegError):
        jpeg.parse(main + extra[:-10])


def test_splice_keeps_order_and_inserts_after_app0() -> None:
    data = make_jpeg(icc=True, extra=(segment(0xFE, b"c"),))
    jf = jpeg.parse(data)
    out = jpeg.splice(jf, exif=b"Exif\x00\x00" + b"MM\x00*" + b"\x00" * 10, xmp=jpeg.XMP_HEADER + b"<x/>")
    kinds = [(s.marker, s.is_exif, s.is_xmp) for s in out.segments]
    assert kinds[0][0] == jpeg.APP0 and kinds[1][1] and kinds[2][2]
    assert [s.raw for s in out.segments[3:]] == [s.raw for s in jf.segments[1:]]
    back = jpeg.splice(out, exif=None, xmp=None)
    assert back.to_bytes() == data


def test_segment_too_large() -> None:
    with pytest.raises(jpeg.JpegError):
        jpeg.make_segment(jpeg.APP1, b"x" * 65534)


def test_mpf_layout_change_after_index_refused() -> None:
    data = make_jpeg(extra=(segment(0xE2, b"MPF\x00" + b"\x00" * 20), xmp_segment("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")))
    jf = jpeg.parse(data)
    with pytest.raises(jpeg.JpegError, match="multi-picture"):
        jpeg.splice(jf, xmp=jpeg.XMP_HEADER + b"<longer packet/>" * 3)
    jpeg.splice(jf, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00")  # before MPF: fine


def test_exif_append_patch_remove_and_exact_revert() -> None:
    payload = camera_exif(thumbnail=True, makernote=300)
    assert exif.read(payload) == {"Rating": None, "RatingPercent": None}
    new, layout = exif.write(payload, {"Rating": 3, "RatingPercent": 50})
    assert layout is not None and exif.read(new) == {"Rating": 3, "RatingPercent": 50}
    loaded = piexif.load(new)  # an independent reader agrees, other tags intact
    assert loaded["0th"][piexif.ImageIFD.Rating] == 3 and loaded["0th"][piexif.ImageIFD.Make] == b"Canon"
    assert loaded["thumbnail"] and loaded["Exif"][piexif.ExifIFD.MakerNote][:4] == b"\x00\x01\x02\x03"
    patched, lay2 = exif.write(new, {"Rating": 5, "RatingPercent": 99})
    assert lay2 is None and len(patched) == len(new)
    back, _ = exif.write(patched, {"Rating": None, "RatingPercent": None}, layout)
    assert back == payload
    shrunk, _ = exif.write(patched, {"Rating": None, "RatingPercent": None})  # no layout: in place
    assert exif.read(shrunk) == {"Rating": None, "RatingPercent": None} and len(shrunk) == len(patched)
    assert piexif.load(shrunk)["0th"][piexif.ImageIFD.Model] == b"EOS R6"


def test_exif_little_endian_and_new_block() -> None:
    le = b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHIHH", 0x010F, 2, 4, 0x6261, 0x61) + b"\x00" * 4
    new, _ = exif.write(le, {"Rating": 1, "RatingPercent": 1})
    assert exif.read(new) == {"Rating": 1, "RatingPercent": 1}
    fresh = exif.new_payload({"Rating": 2, "RatingPercent": 25}, (1, 300, 300))
    d = piexif.load(fresh)
    assert d["0th"][piexif.ImageIFD.XResolution] == (300, 1) and d["0th"][piexif.ImageIFD.Rating] == 2


@pytest.mark.parametrize("bad", [b"Exif\x00\x00", b"Exif\x00\x00XX*\x00\x00\x00\x00\x08",
                                 b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x00\x00"])
def test_exif_damaged_raises_exif_error(bad: bytes) -> None:
    with pytest.raises(exif.ExifError):
        exif.write(bad, {"Rating": 1, "RatingPercent": 1})


def test_xmp_prefixes_kept_and_fields_survive() -> None:
    p = xmp.parse(XMP_WITH_FIELDS.format(rating=3).encode())
    assert xmp.read(p) == {"Rating": 3, "Label": None, "MSRating": None}
    xmp.update(p, {"Rating": "-1", "Label": "Red"})
    out = xmp.serialize(p).decode()
    for needle in ('xmp:Rating="-1"', 'xmp:Label="Red"', "crs:Exposure2012", "<rdf:li>beach</rdf:li>",
                   'xmlns:acme="http://example.com/acme/1.0/"', "Adobe XMP Core 7.0", '<?xpacket end="w"?>'):
        assert needle in out
    assert out.count(" " * 99) >= 20  # padding


def test_xmp_microsoft_uri_without_slash_is_read_and_updated() -> None:
    src = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:MP="http://ns.microsoft.com/photo/1.0"><MP:Rating>25</MP:Rating>'
           b"</rdf:Description></rdf:RDF></x:xmpmeta>")
    p = xmp.parse(src)
    assert xmp.read(p)["MSRating"] == 25
    xmp.update(p, {"MSRating": "99"})
    out = xmp.serialize(p, wrapper=False)
    assert b"<MP:Rating>99</MP:Rating>" in out and out.count(b"Rating") == 2


@pytest.mark.parametrize("bad", [b"", b"<x:xmpmeta", b"<a/>", b'<!DOCTYPE x [<!ENTITY e "boom">]><x/>'])
def test_xmp_bad_packets(bad: bytes) -> None:
    with pytest.raises(xmp.XmpError):
        xmp.parse(bad)


def test_atomic_write_preserves_mode_and_cleans_up(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"old")
    os.chmod(f, 0o600)
    stamp = atomic.Stamp.of(f)
    atomic.atomic_write_bytes(f, b"new", expected=stamp)
    assert f.read_bytes() == b"new" and os.stat(f).st_mode & 0o777 == 0o600
    with pytest.raises(atomic.ChangedSinceRead):
        atomic.atomic_write_bytes(f, b"newer", expected=stamp)
    assert f.read_bytes() == b"new"
    with pytest.raises(atomic.ChangedSinceRead):
        atomic.atomic_write_bytes(f, b"x", create=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_cleanup_only_removes_our_temp_files(tmp_path: Path) -> None:
    (tmp_path / ".a.jpg.photocull-tmp-abc123").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".b.jpg.photocull-tmp-zz").write_bytes(b"x")
    (tmp_path / "a.jpg").write_bytes(b"keep")
    (tmp_path / ".hidden").write_bytes(b"keep")
    removed = atomic.cleanup_temp_files(tmp_path)
    assert len(removed) == 2
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".hidden", "a.jpg", "sub"]
