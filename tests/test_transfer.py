"""--copy-picks / --move-rejects: frames travel whole, names never clash, undo puts everything back."""

from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from photocull.cli import app
from photocull.metadata.transfer import frame_files, transfer
from photocull.metadata.journal import Journal
from photocull.metadata.undo import undo
from tests.conftest import blurred, save_jpeg, scene

runner = CliRunner()


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and ".photocull" not in p.parts}


def test_copy_and_move_with_raw_pair_and_undo(tmp_path: Path):
    root = tmp_path / "shoot"
    t = datetime(2026, 7, 1, 8, 0, 0).timestamp()
    base = scene(31)
    save_jpeg(root / "IMG_1.JPG", base, datetime.fromtimestamp(t))
    (root / "IMG_1.CR2").write_bytes(b"II*\x00" + b"\x00" * 64)  # a RAW companion (no preview needed)
    save_jpeg(root / "IMG_2.JPG", blurred(base, 4), datetime.fromtimestamp(t + 0.5))
    (root / "IMG_2.CR2").write_bytes(b"II*\x00" + b"\x01" * 64)
    before = _snapshot(root)
    picks, rejects = tmp_path / "picks", root / "rejects"
    picks.mkdir()
    save_jpeg(picks / "IMG_1.JPG", scene(99, (64, 48)))  # a clash waiting in the target folder

    res = runner.invoke(app, ["cull", str(root), "-q", "--copy-picks", str(picks), "--move-rejects", str(rejects)])
    assert res.exit_code == 0, res.output
    # The pick and its RAW (+ the RAW's new sidecar) were copied under a clash-free name.
    assert sorted(p.name for p in picks.iterdir()) == ["IMG_1-1.CR2", "IMG_1-1.JPG", "IMG_1-1.xmp", "IMG_1.JPG"]
    # The blurred frame moved with its RAW and sidecar; nothing is deleted.
    assert sorted(p.name for p in rejects.iterdir()) == ["IMG_2.CR2", "IMG_2.JPG", "IMG_2.xmp"]
    assert not (root / "IMG_2.JPG").exists()

    outcomes = undo(root)
    assert all(o.status != "skipped" for o in outcomes), [o.message for o in outcomes]
    assert _snapshot(root) == before  # byte-identical, sidecars photocull created are gone
    assert sorted(p.name for p in picks.iterdir()) == ["IMG_1.JPG"]  # only the user's own file stays
    assert undo(root) == []  # everything is marked undone: a second undo has nothing to do
    assert _snapshot(root) == before


def test_dry_run_moves_nothing(tmp_path: Path):
    root = tmp_path / "s"
    p = save_jpeg(root / "a.jpg", scene(1))
    out = transfer([(p, ())], tmp_path / "dest", move=True, journal=Journal(root), dry_run=True)
    assert out[0].status == "dry-run" and p.exists() and not (tmp_path / "dest").exists()


def test_edited_copy_is_not_removed_by_undo(tmp_path: Path):
    root = tmp_path / "s"
    p = save_jpeg(root / "a.jpg", scene(1))
    transfer([(p, ())], tmp_path / "dest", move=False, journal=Journal(root))
    copy = tmp_path / "dest" / "a.jpg"
    copy.write_bytes(copy.read_bytes() + b"edited")
    (o,) = undo(root)
    assert o.status == "skipped" and copy.exists()


def test_frame_files_finds_both_sidecar_namings(tmp_path: Path):
    p = save_jpeg(tmp_path / "x.jpg", scene(1, (64, 48)))
    (tmp_path / "x.xmp").write_text("<x/>")
    (tmp_path / "x.jpg.xmp").write_text("<x/>")
    assert [f.name for f in frame_files(p)] == ["x.jpg", "x.xmp", "x.jpg.xmp"]
