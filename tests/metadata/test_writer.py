"""write_rating / read_rating on real (generated) files, checked with exiftool."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from photocull.metadata import read_rating, write_rating
from photocull.metadata.writer import desired_values

from .conftest import markers, make_jpeg, tail

JPEGS = ["plain.jpg", "camera.jpg", "thumb.jpg", "icc.jpg", "lightroom.jpg", "element.jpg",
         "huge_app.jpg", "big_makernote.jpg"]
EXIFTOOL_INHERENT = {  # exiftool says these about any file carrying the rating tags
    "[minor] Non-standard IFD0 tag 0x4746 Rating",
    "[minor] Non-standard IFD0 tag 0x4749 RatingPercent",
    "[minor] Fixed incorrect URI for xmlns:MicrosoftPhoto",  # Microsoft's own spelling has the slash
}


def non_metadata_segments(data: bytes) -> list[bytes]:
    return [s for s in markers(data) if not (s[1] == 0xE1 and (s[4:10] == b"Exif\x00\x00" or s[4:8] == b"http"))]


@pytest.mark.parametrize("name", JPEGS)
@pytest.mark.parametrize("stars", [0, 3, 5])
def test_pixels_and_other_segments_preserved(shoot: Path, name: str, stars: int) -> None:
    p = shoot / name
    before = p.read_bytes()
    out = write_rating(p, stars, fmt="jpeg", journal=None)
    assert out.status in ("written", "unchanged"), out
    after = p.read_bytes()
    assert tail(after) == tail(before)
    assert non_metadata_segments(after) == non_metadata_segments(before)
    got = read_rating(p, "jpeg")
    assert (got["exif_rating"], got["xmp_rating"]) == (stars, stars)
    assert got["exif_rating_percent"] == {0: 0, 3: 50, 5: 99}[stars]
    assert got["ms_rating"] == {0: 0, 3: 50, 5: 99}[stars]
    assert got["errors"] == []


@pytest.mark.parametrize("name", JPEGS)
def test_exiftool_reads_the_rating_and_validates(shoot: Path, name: str, exiftool, validate) -> None:
    p = shoot / name
    warnings_before = validate(p)
    assert write_rating(p, 4, fmt="jpeg", label="Green", journal=None).status == "written"
    info = exiftool(p, "-EXIF:Rating", "-EXIF:RatingPercent", "-XMP:Rating", "-XMP:Label",
                    "-XMP-microsoft:RatingPercent", "-ExifIFD:DateTimeOriginal", "-IFD1:ThumbnailLength")
    assert info["IFD0:Rating"] == 4
    assert info["IFD0:RatingPercent"] == 75
    assert info["XMP-xmp:Rating"] == 4
    assert info["XMP-xmp:Label"] == "Green"
    assert info["XMP-microsoft:RatingPercent"] == 75
    if name not in ("plain.jpg", "icc.jpg", "element.jpg"):
        assert info["ExifIFD:DateTimeOriginal"] == "2024:05:01 10:00:00"
    if name == "thumb.jpg":
        assert info["IFD1:ThumbnailLength"] > 0
    new = validate(p) - warnings_before - EXIFTOOL_INHERENT
    assert not new, new


def test_existing_xmp_fields_survive_and_sources_agree(shoot: Path, exiftool) -> None:
    p = shoot / "lightroom.jpg"
    # make EXIF and XMP disagree first (EXIF 2 from the fixture, XMP says 1)
    data = p.read_bytes().replace(b'xmp:Rating="2"', b'xmp:Rating="1"')
    p.write_bytes(data)
    assert read_rating(p, "jpeg")["xmp_rating"] == 1
    assert write_rating(p, 5, fmt="jpeg", journal=None).status == "written"
    info = exiftool(p, "-XMP:all", "-EXIF:Rating")
    assert info["IFD0:Rating"] == 5 and info["XMP-xmp:Rating"] == 5
    assert info["XMP-dc:Subject"] == ["beach", "sunset"]
    assert info["XMP-crs:Exposure2012"] == "+0.35"
    assert info["XMP-crs:ColorTemperature"] == 5200
    assert b'acme:Secret="keep &amp; me"' in p.read_bytes()
    assert b"Adobe XMP Core 7.0" in p.read_bytes()


def test_element_form_rating_updated_in_place(shoot: Path, exiftool) -> None:
    p = shoot / "element.jpg"
    assert write_rating(p, 3, fmt="jpeg", journal=None).status == "written"
    data = p.read_bytes()
    assert b"<xap:Rating>3</xap:Rating>" in data  # same prefix, same form
    assert exiftool(p, "-XMP:Rating", "-XMP:Subject")["XMP-xmp:Rating"] == 3


def test_rejected_and_label(shoot: Path) -> None:
    p = shoot / "camera.jpg"
    assert write_rating(p, 1, fmt="jpeg", rejected=True, label="Red", journal=None).status == "written"
    got = read_rating(p, "jpeg")
    assert got["xmp_rating"] == -1 and got["exif_rating"] == 1 and got["xmp_label"] == "Red"
    assert desired_values(0, True, None)[1]["Rating"] == "-1"


def test_unchanged_is_not_rewritten(shoot: Path) -> None:
    p = shoot / "camera.jpg"
    assert write_rating(p, 2, fmt="jpeg", journal=None).status == "written"
    st = os.stat(p)
    out = write_rating(p, 2, fmt="jpeg", journal=None)
    assert out.status == "unchanged"
    assert os.stat(p).st_ino == st.st_ino


def test_dry_run_touches_nothing(shoot: Path) -> None:
    p = shoot / "camera.jpg"
    before = p.read_bytes()
    out = write_rating(p, 4, fmt="jpeg", dry_run=True, journal=None)
    assert out.status == "dry-run" and "would" in out.message
    assert p.read_bytes() == before


def test_mode_and_mtime_preserved(shoot: Path) -> None:
    p = shoot / "camera.jpg"
    os.chmod(p, 0o640)
    os.utime(p, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    assert write_rating(p, 4, fmt="jpeg", journal=None).status == "written"
    st = os.stat(p)
    assert st.st_mode & 0o777 == 0o640 and st.st_mtime_ns == 1_600_000_000_000_000_000
    assert write_rating(p, 5, fmt="jpeg", journal=None, preserve_mtime=False).status == "written"
    assert os.stat(p).st_mtime_ns != 1_600_000_000_000_000_000


def test_symlink_target_is_written_link_kept(shoot: Path) -> None:
    link = shoot / "link.jpg"
    link.symlink_to(shoot / "camera.jpg")
    assert write_rating(link, 4, fmt="jpeg", journal=None).status == "written"
    assert link.is_symlink()
    assert read_rating(shoot / "camera.jpg", "jpeg")["exif_rating"] == 4


def test_targets_exif_only_and_xmp_only(shoot: Path) -> None:
    a, b = shoot / "plain.jpg", shoot / "icc.jpg"
    assert write_rating(a, 4, fmt="jpeg", targets=frozenset({"exif"}), journal=None).targets == ("exif",)
    assert write_rating(b, 4, fmt="jpeg", targets=frozenset({"xmp"}), journal=None).targets == ("xmp",)
    ra, rb = read_rating(a, "jpeg"), read_rating(b, "jpeg")
    assert (ra["exif_rating"], ra["xmp_rating"]) == (4, None)
    assert (rb["exif_rating"], rb["xmp_rating"]) == (None, 4)


# ------------------------------------------------------------------ refusals

def _corrupt_exif_offsets(data: bytes) -> bytes:
    """Point the ExifIFD pointer far outside the EXIF block."""
    i = data.index(b"Exif\x00\x00") + 6
    e = "<" if data[i : i + 2] == b"II" else ">"
    ifd0 = i + struct.unpack(e + "I", data[i + 4 : i + 8])[0]
    n = struct.unpack(e + "H", data[ifd0 : ifd0 + 2])[0]
    for k in range(n):
        at = ifd0 + 2 + 12 * k
        if struct.unpack(e + "H", data[at : at + 2])[0] == 0x8769:
            return data[: at + 8] + struct.pack(e + "I", 0x00FFFFF0) + data[at + 12 :]
    raise AssertionError("no ExifIFD pointer")


def _bad_ifd0(data: bytes) -> bytes:
    i = data.index(b"Exif\x00\x00") + 6
    e = "<" if data[i : i + 2] == b"II" else ">"
    return data[: i + 4] + struct.pack(e + "I", 0x7FFFFFF0) + data[i + 8 :]


REFUSALS = {
    "truncated": (lambda d: d[: len(d) * 2 // 3], "truncated"),
    "truncated_by_2": (lambda d: d[:-2], "truncated"),
    "zero_bytes": (lambda d: b"", "empty"),
    "text_file": (lambda d: b"hello, I am not a photo\n" * 10, "not a JPEG"),
    "png_named_jpg": (lambda d: b"\x89PNG\r\n\x1a\n" + d[8:], "not a JPEG"),
    "exif_offsets": (_corrupt_exif_offsets, "damaged EXIF"),
    "exif_ifd0": (_bad_ifd0, "damaged EXIF"),
    "garbage_after_eoi": (lambda d: d + b"JUNKJUNK", "after the end of the image"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_leave_file_identical(shoot: Path, case: str) -> None:
    mutate, needle = REFUSALS[case]
    p = shoot / "camera.jpg"
    p.write_bytes(mutate(p.read_bytes()))
    before = p.read_bytes()
    out = write_rating(p, 4, fmt="jpeg", journal=None)
    assert out.status == "skipped", out
    assert needle in out.message, out.message
    assert "unexpected" not in out.message
    assert p.read_bytes() == before
    assert [x.name for x in shoot.iterdir() if "photocull-tmp" in x.name] == []


def test_exif_too_large_for_app1_refused(tmp_path: Path) -> None:
    from .conftest import camera_exif
    base = len(camera_exif(makernote=256))
    exif = camera_exif(makernote=256 + 65533 - base - 40)  # just fits; one more IFD0 copy does not
    assert 65533 - 40 <= len(exif) <= 65533
    p = tmp_path / "big.jpg"
    p.write_bytes(make_jpeg(exif=exif))
    before = p.read_bytes()
    out = write_rating(p, 3, fmt="jpeg", journal=None)
    assert out.status == "skipped" and "does not fit" in out.message
    assert p.read_bytes() == before


def test_read_only_file_refused(shoot: Path) -> None:
    """Mode 0444 means read-only for photocull, whoever runs it (root included)."""
    p = shoot / "camera.jpg"
    os.chmod(p, 0o444)
    out = write_rating(p, 4, fmt="jpeg", journal=None)
    assert out.status == "skipped" and out.message == "file is read-only; make it writable or use --write sidecar"


def test_read_only_file_refused_even_as_root(shoot: Path, monkeypatch) -> None:
    p = shoot / "camera.jpg"
    before = p.read_bytes()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda f, m, **k: False if Path(f) == p and m & os.W_OK else real_access(f, m))
    out = write_rating(p, 4, fmt="jpeg", journal=None)
    assert out.status == "skipped" and "read-only" in out.message and "--write sidecar" in out.message
    assert p.read_bytes() == before


def test_changed_since_scan_refused(shoot: Path) -> None:
    p = shoot / "camera.jpg"
    st = os.stat(p)
    before = p.read_bytes()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    out = write_rating(p, 4, fmt="jpeg", journal=None, expected=(st.st_size, st.st_mtime_ns))
    assert out.status == "skipped" and "changed since" in out.message
    assert p.read_bytes() == before


def test_changed_between_read_and_rename_refused(shoot: Path, monkeypatch) -> None:
    """Another program writes the file while we prepare ours: we must not clobber it."""
    from photocull.metadata import jpeg_embedded as writer

    p = shoot / "camera.jpg"
    real_verify = writer.verify

    def meddle(*a, **k):
        real_verify(*a, **k)
        p.write_bytes(p.read_bytes() + b"\x00")  # someone appends
    monkeypatch.setattr(writer, "verify", meddle)
    out = write_rating(p, 4, fmt="jpeg", journal=None)
    assert out.status == "skipped" and "changed since it was read" in out.message
    assert p.read_bytes().endswith(b"\xff\xd9\x00")
    assert [x.name for x in shoot.iterdir() if "photocull-tmp" in x.name] == []


def test_over_size_bound_refused(shoot: Path) -> None:
    p = shoot / "camera.jpg"
    out = write_rating(p, 4, fmt="jpeg", journal=None, max_bytes=100)
    assert out.status == "skipped" and "limit" in out.message


def test_missing_file(shoot: Path) -> None:
    out = write_rating(shoot / "nope.jpg", 4, fmt="jpeg", journal=None)
    assert out.status == "skipped" and "not found" in out.message


def test_bad_arguments_raise(shoot: Path) -> None:
    with pytest.raises(ValueError):
        write_rating(shoot / "camera.jpg", 6, fmt="jpeg", journal=None)


# ------------------------------------------------------------------ sidecars

def test_sidecar_created_for_png(shoot: Path, exiftool) -> None:
    p = shoot / "graphic.png"
    before = p.read_bytes()
    out = write_rating(p, 4, fmt="png", label="Green", journal=None)
    assert out.status == "written" and out.targets == ("sidecar",)
    assert p.read_bytes() == before
    sc = shoot / "graphic.xmp"
    info = exiftool(sc, "-XMP:Rating", "-XMP:Label")
    assert info["XMP-xmp:Rating"] == 4 and info["XMP-xmp:Label"] == "Green"
    assert read_rating(p, "png")["sidecar_rating"] == 4
    assert write_rating(p, 4, fmt="png", label="Green", journal=None).status == "unchanged"


def test_sidecar_ext_naming_and_update_keeps_fields(shoot: Path, exiftool) -> None:
    from .conftest import XMP_WITH_FIELDS

    raw = shoot / "IMG_0001.CR2"
    raw.write_bytes(b"II*\x00 fake raw")
    sc = shoot / "IMG_0001.CR2.xmp"
    sc.write_text(XMP_WITH_FIELDS.format(rating=1), encoding="utf-8")
    out = write_rating(raw, 5, fmt="raw", sidecar_naming="ext", journal=None)
    assert out.status == "written" and "updated" in out.message
    info = exiftool(sc, "-XMP:all")
    assert info["XMP-xmp:Rating"] == 5
    assert info["XMP-dc:Subject"] == ["beach", "sunset"] and info["XMP-crs:ColorTemperature"] == 5200
    assert not (shoot / "IMG_0001.xmp").exists()


def test_jpeg_sidecar_only(shoot: Path) -> None:
    p = shoot / "camera.jpg"
    before = p.read_bytes()
    out = write_rating(p, 2, fmt="jpeg", targets=frozenset({"sidecar"}), journal=None)
    assert out.status == "written" and (shoot / "camera.xmp").exists()
    assert p.read_bytes() == before


def test_broken_sidecar_refused(shoot: Path) -> None:
    sc = shoot / "graphic.xmp"
    sc.write_text("<x:xmpmeta><unclosed>", encoding="utf-8")
    out = write_rating(shoot / "graphic.png", 3, fmt="png", journal=None)
    assert out.status == "skipped" and "graphic.xmp" in out.message
    assert sc.read_text(encoding="utf-8") == "<x:xmpmeta><unclosed>"


def test_format_without_sidecar_target(shoot: Path) -> None:
    out = write_rating(shoot / "graphic.png", 3, fmt="png", targets=frozenset({"exif"}), journal=None)
    assert out.status == "skipped" and "sidecar" in out.message
