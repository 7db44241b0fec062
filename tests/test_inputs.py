"""Inputs beyond JPEG: HEIC, camera RAW previews, and a corpus of bad files through cull."""

import io
import os
import zlib
from datetime import datetime
from pathlib import Path

import piexif
import pytest
from PIL import Image
from typer.testing import CliRunner

from photocull.analyse import analyse_path
from photocull.cli import app
from photocull.decode import parse_exif_datetime
from photocull.scan import scan
from tests.conftest import exif_bytes, jpeg_bytes, save_jpeg, scene

runner = CliRunner()


def _tiff_with_exif(when: str) -> bytes:
    """A minimal TIFF container (what CR2/NEF/ARW/DNG are) carrying EXIF capture time."""
    buf = io.BytesIO()
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"RawCam", piexif.ImageIFD.Orientation: 1}, "Exif": {piexif.ExifIFD.DateTimeOriginal: when.encode()}})
    Image.new("RGB", (16, 16)).save(buf, "TIFF", exif=exif)
    return buf.getvalue()


def test_raw_preview_and_capture_time(tmp_path: Path):
    preview = jpeg_bytes(scene(3, (1200, 800)), quality=85)  # the camera's embedded JPEG, no EXIF of its own
    raw = tmp_path / "DSC_0001.NEF"
    raw.write_bytes(_tiff_with_exif("2026:04:05 06:07:08") + b"\x00" * 512 + preview + b"\x00" * 256)
    frame, analysis = analyse_path(raw, "raw")
    assert (analysis.width, analysis.height) == (1200, 800)
    assert frame.time_source == "exif"
    assert frame.capture_time == parse_exif_datetime("2026:04:05 06:07:08")


def test_raw_without_preview_is_a_clear_error(tmp_path: Path):
    raw = tmp_path / "IMG_0001.CR2"
    raw.write_bytes(_tiff_with_exif("2026:04:05 06:07:08"))
    out = analyse_path(raw, "raw")
    assert "no readable embedded JPEG preview" in out.message


def test_heic_is_decoded_and_gets_a_sidecar(tmp_path: Path):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    root = tmp_path / "phone"
    root.mkdir()
    scene(4, (640, 480)).save(root / "IMG_1001.HEIC", exif=exif_bytes(datetime(2026, 2, 3, 4, 5, 6)), quality=80)
    before = (root / "IMG_1001.HEIC").read_bytes()
    res = runner.invoke(app, ["cull", str(root), "-q", "--no-faces"])
    assert res.exit_code == 0, res.output
    assert (root / "IMG_1001.HEIC").read_bytes() == before  # never rewritten
    assert 'xmp:Rating="' in (root / "IMG_1001.xmp").read_text()


def _png_bomb(path: Path, side: int) -> None:
    """A valid PNG header claiming side x side pixels over a tiny compressed body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])  # 8-bit gray
    body = zlib.compress(b"\x00" * (side + 1) * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def test_bad_corpus_finishes_and_changes_nothing_else(tmp_path: Path):
    root = tmp_path / "bad corpus"
    good = save_jpeg(root / "été photo 1.jpg", scene(1), datetime(2026, 3, 1, 12, 0, 0))
    save_jpeg(root / "二 photo.jpg", scene(2), datetime(2026, 3, 1, 13, 0, 0))
    trunc = save_jpeg(root / "truncated.jpg", scene(3))
    trunc.write_bytes(trunc.read_bytes()[:3000])
    (root / "zero.jpg").write_bytes(b"")
    scene(4).save(root / "really_a_png.jpg", "PNG")
    corrupt = save_jpeg(root / "corrupt_exif.jpg", scene(5), datetime(2026, 3, 1, 14, 0, 0))
    data = bytearray(corrupt.read_bytes())
    tiff = data.index(b"Exif\x00\x00") + 6
    data[tiff + 4 : tiff + 8] = (0x7FFFFFF0).to_bytes(4, "little" if data[tiff : tiff + 2] == b"II" else "big")
    corrupt.write_bytes(bytes(data))
    _png_bomb(root / "bomb.png", 30000)  # 900 MP claimed in a few KB
    locked = save_jpeg(root / "locked.jpg", scene(6), datetime(2026, 3, 1, 15, 0, 0))
    os.chmod(locked, 0o444)
    (root / "sub").mkdir()
    os.symlink(root, root / "sub" / "loop")
    before = {p: p.read_bytes() for p in root.iterdir() if p.is_file()}

    res = runner.invoke(app, ["cull", str(root), "--json", "-", "-q", "--no-faces"])
    assert res.exit_code == 1, res.output
    import json

    report = json.loads(res.stdout[res.stdout.index("{") :])
    errors = {e["path"]: e["message"] for e in report["errors"]}
    per_file = {f["path"]: f for f in report["files"]}
    assert "truncated" in errors["truncated.jpg"]
    assert "empty" in errors["zero.jpg"]
    assert "over the" in errors["bomb.png"] or "too large" in errors["bomb.png"]
    assert per_file["locked.jpg"]["write"]["status"] == "skipped"
    assert "read-only" in per_file["locked.jpg"]["write"]["message"]
    assert per_file["été photo 1.jpg"]["write"]["status"] == "written"
    assert per_file["二 photo.jpg"]["write"]["status"] == "written"
    assert per_file["really_a_png.jpg"]["format"] == "png"
    # Corrupt EXIF: the photo is still scored; its rating goes where it safely can, or it is refused.
    assert per_file["corrupt_exif.jpg"]["write"]["status"] in ("written", "skipped")
    for p, b in before.items():
        if p.name not in ("été photo 1.jpg", "二 photo.jpg", "corrupt_exif.jpg"):
            assert p.read_bytes() == b, p.name
    with Image.open(good) as im:
        assert im.getexif().get(0x4746) is not None
    assert not any(".photocull-tmp" in p.name for p in root.rglob("*"))


def test_heic_without_pillow_heif_names_this_photocull_install(tmp_path, monkeypatch):
    """Without pillow-heif a HEIC file is a per-file error whose hint installs the `heic` extra with
    this interpreter's pip (a bare `pip install` may be another Python's)."""
    import sys

    from photocull.inputs.errors import DecodeError
    from photocull.inputs.formats import open_heic

    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import fails as if not installed
    with pytest.raises(DecodeError) as err:
        open_heic(tmp_path / "IMG_0001.HEIC", 10**8)
    assert "pillow-heif" in str(err.value) and "heic]" in str(err.value) and sys.executable in str(err.value)
