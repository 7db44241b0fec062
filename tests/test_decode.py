from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photocull.analyse import analyse_path
from photocull.decode import DecodeError, decode, parse_exif_datetime
from photocull.records import FileError
from tests.conftest import save_jpeg, scene


def test_exif_datetime_with_subseconds():
    base = parse_exif_datetime("2026:05:01 09:00:00")
    assert parse_exif_datetime("2026:05:01 09:00:00", "25") == pytest.approx(base + 0.25)
    assert parse_exif_datetime("not a date") is None
    assert parse_exif_datetime(b"2026:05:01 09:00:00\x00") == base


def test_draft_decode_shrinks_large_jpegs(tmp_path: Path):
    p = save_jpeg(tmp_path / "big.jpg", scene(1, (4000, 3000)), datetime(2026, 1, 2, 3, 4, 5), subsec=500)
    d = decode(p, "jpeg", decode_size=512)
    assert (d.width, d.height) == (4000, 3000)
    assert min(d.image.size) < 1500  # DCT-scaled, never the full 12 MP
    assert d.info.capture_time == pytest.approx(parse_exif_datetime("2026:01:02 03:04:05") + 0.5)
    assert d.info.camera == "TestCam T1"


def test_orientation_is_applied(tmp_path: Path):
    p = save_jpeg(tmp_path / "rot.jpg", scene(1, (600, 400)), datetime(2026, 1, 1), orientation=6)
    d = decode(p, "jpeg")
    assert d.info.orientation == 6
    assert (d.width, d.height) == (400, 600)
    assert d.image.size[0] < d.image.size[1]


def test_truncated_jpeg_is_a_clear_error(tmp_path: Path):
    p = save_jpeg(tmp_path / "t.jpg", scene(1, (800, 600)))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="truncated"):
        decode(p, "jpeg")


def test_pixel_bomb_guard(tmp_path: Path):
    p = save_jpeg(tmp_path / "b.jpg", scene(1, (800, 600)))
    with pytest.raises(DecodeError, match="over the"):
        decode(p, "jpeg", max_pixels=100_000)


def test_analyse_falls_back_to_file_time(tmp_path: Path):
    p = save_jpeg(tmp_path / "noexif.jpg", scene(1, (320, 240)))
    frame, analysis = analyse_path(p, "jpeg")
    assert frame.time_source == "file"
    assert frame.capture_time == pytest.approx(p.stat().st_mtime, abs=1)
    assert len(analysis.phash) == 16


def test_analyse_returns_error_not_exception(tmp_path: Path):
    p = tmp_path / "junk.jpg"
    p.write_bytes(b"\xff\xd8\xff\xe0garbage")
    out = analyse_path(p, "jpeg")
    assert isinstance(out, FileError)
    assert out.stage == "decode"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_luma_is_turned_upright_exactly_as_pillow_does(orientation):
    """decode.orient turns luma with numpy (2x faster than Pillow); every EXIF orientation must
    give Pillow's own exif_transpose result, pixel for pixel."""
    from PIL import ImageOps

    from photocull.decode import orient

    rng = np.random.default_rng(orientation)
    img = Image.fromarray(rng.integers(0, 256, size=(37, 53), dtype=np.uint8), "L")
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.info["exif"] = exif.tobytes()
    want = ImageOps.exif_transpose(img.copy())
    got = orient(img, orientation)
    assert got.size == want.size and np.array_equal(np.asarray(got), np.asarray(want))
