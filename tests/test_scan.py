import os
from pathlib import Path

import pytest

from photocull.scan import classify, scan, sniff
from tests.conftest import save_jpeg, scene


def test_sniff_knows_formats():
    assert sniff(b"\xff\xd8\xff\xe0" + b"\0" * 28) == "jpeg"
    assert sniff(b"\x89PNG\r\n\x1a\n" + b"\0" * 24) == "png"
    assert sniff(b"RIFF\0\0\0\0WEBPVP8 ") == "webp"
    assert sniff(b"\0\0\0\x18ftypheic" + b"\0" * 20) == "heic"
    assert sniff(b"II*\x00" + b"\0" * 28) == "tiff"
    assert sniff(b"hello world, not an image") is None


def test_raw_extension_wins_over_tiff_container():
    assert classify(Path("a.NEF"), b"II*\x00" + b"\0" * 28) == ("raw", None)


def test_scan_recursion_and_sniffing(tmp_path: Path):
    save_jpeg(tmp_path / "a.jpg", scene(1, (64, 48)))
    save_jpeg(tmp_path / "sub" / "b.JPG", scene(2, (64, 48)))
    scene(3, (64, 48)).save(tmp_path / "png_named.jpg", "PNG")
    (tmp_path / "notes.jpg").write_text("this is not a photo")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "readme.txt").write_text("ignored")
    (tmp_path / ".hidden.jpg").write_bytes(b"\xff\xd8\xff")

    res = scan(tmp_path)
    names = sorted(f.path.name for f in res.files)
    assert names == ["a.jpg", "b.JPG", "png_named.jpg"]
    assert {f.path.name: f.fmt for f in res.files}["png_named.jpg"] == "png"
    assert any("content is PNG" in w.message for w in res.warnings)
    errs = {e.path.name: e.message for e in res.errors}
    assert "not an image" in errs["notes.jpg"]
    assert "empty file" in errs["empty.jpg"]
    assert res.ignored == 1

    flat = scan(tmp_path, recursive=False)
    assert "b.JPG" not in [f.path.name for f in flat.files]


def test_symlink_loop_terminates(tmp_path: Path):
    save_jpeg(tmp_path / "a.jpg", scene(1, (64, 48)))
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    os.symlink(tmp_path / "missing.jpg", tmp_path / "dangling.jpg")
    res = scan(tmp_path)
    assert [f.path.name for f in res.files] == ["a.jpg"]
    assert any("broken link" in e.message for e in res.errors)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder; permissions cannot be tested")
def test_unreadable_folder_is_reported(tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir()
    save_jpeg(locked / "x.jpg", scene(1, (64, 48)))
    locked.chmod(0)
    try:
        res = scan(tmp_path)
        assert any(e.path == locked for e in res.errors)
    finally:
        locked.chmod(0o755)


def test_raw_jpeg_pair_is_one_frame(tmp_path: Path):
    save_jpeg(tmp_path / "IMG_1.JPG", scene(1, (64, 48)))
    (tmp_path / "IMG_1.CR2").write_bytes(b"II*\x00" + b"\0" * 100)
    res = scan(tmp_path)
    assert len(res.files) == 1
    assert res.files[0].path.name == "IMG_1.JPG"
    assert [p.name for p in res.files[0].companions] == ["IMG_1.CR2"]
