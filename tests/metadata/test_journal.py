"""Journal + undo: exact restoration, created sidecars removed, idempotent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from photocull.metadata import Journal, read_rating, undo, write_rating

from .conftest import tail

NO_RATING = ["plain.jpg", "camera.jpg", "thumb.jpg", "icc.jpg", "huge_app.jpg", "big_makernote.jpg"]


def snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}


def test_write_then_undo_restores_exact_bytes(shoot: Path) -> None:
    before = snapshot(shoot)
    mtimes = {n: os.stat(shoot / n).st_mtime_ns for n in before}
    j = Journal(shoot)
    for name in NO_RATING + ["lightroom.jpg", "element.jpg"]:
        assert write_rating(shoot / name, 5, fmt="jpeg", label="Green", journal=j).status == "written"
    for name in NO_RATING:  # a second run on top
        assert write_rating(shoot / name, 3, fmt="jpeg", journal=j).status == "written"
    assert write_rating(shoot / "graphic.png", 4, fmt="png", journal=j).status == "written"
    assert (shoot / "graphic.xmp").exists()
    outs = undo(shoot)
    assert all(o.status == "written" for o in outs), outs
    assert not (shoot / "graphic.xmp").exists()
    after = snapshot(shoot)
    for name in NO_RATING + ["graphic.png"]:
        assert after[name] == before[name], name
        assert os.stat(shoot / name).st_mtime_ns == mtimes[name]
    for name in ("lightroom.jpg", "element.jpg"):  # had XMP: fields and pixels restored
        assert tail(after[name]) == tail(before[name])
        got = read_rating(shoot / name, "jpeg")
        assert got["xmp_rating"] == {"lightroom.jpg": 2, "element.jpg": 1}[name]
        assert got["xmp_label"] is None and got["ms_rating"] is None
    assert read_rating(shoot / "lightroom.jpg", "jpeg")["exif_rating"] == 2
    assert undo(shoot) == []  # twice: a no-op
    assert snapshot(shoot) == after


def test_undo_leaves_hand_edited_rating_alone(shoot: Path) -> None:
    j = Journal(shoot)
    p = shoot / "camera.jpg"
    write_rating(p, 5, fmt="jpeg", journal=j)
    # the photographer changes it afterwards (simulated with our own writer, no journal)
    write_rating(p, 1, fmt="jpeg", journal=None)
    out = undo(shoot)
    assert [o.status for o in out] == ["skipped"] and "changed since" in out[0].message
    assert read_rating(p, "jpeg")["exif_rating"] == 1


def test_sidecar_update_undo_and_hand_edited_created_sidecar(shoot: Path) -> None:
    from .conftest import XMP_WITH_FIELDS

    raw = shoot / "IMG_1.NEF"
    raw.write_bytes(b"MM\x00* fake")
    sc = shoot / "IMG_1.xmp"
    sc.write_text(XMP_WITH_FIELDS.format(rating=2), encoding="utf-8")
    other = shoot / "IMG_2.NEF"
    other.write_bytes(b"MM\x00* fake")
    j = Journal(shoot)
    assert write_rating(raw, 4, fmt="raw", journal=j).status == "written"
    assert write_rating(other, 4, fmt="raw", journal=j).status == "written"
    # another tool adds a keyword to the sidecar photocull created: undo must not delete it
    created = shoot / "IMG_2.xmp"
    created.write_bytes(created.read_bytes().replace(b'rdf:about=""', b'rdf:about="" xmlns:z="urn:z" z:k="v"'))
    outs = undo(shoot)
    assert {o.status for o in outs} == {"written"}
    assert read_rating(raw, "raw")["sidecar_rating"] == 2
    assert b"beach" in sc.read_bytes()
    assert created.exists() and read_rating(other, "raw")["sidecar_rating"] is None
    assert b'z:k="v"' in created.read_bytes()


def test_crash_between_journal_and_rename_is_undone_cleanly(shoot: Path, monkeypatch) -> None:

    p = shoot / "camera.jpg"
    before = p.read_bytes()
    j = Journal(shoot)

    def boom(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("photocull.metadata.common.atomic_write_bytes", boom)
    monkeypatch.setattr("photocull.metadata.atomic.atomic_write_bytes", boom)
    out = write_rating(p, 4, fmt="jpeg", journal=j)
    assert out.status == "skipped" and "No space left" in out.message
    monkeypatch.undo()
    assert p.read_bytes() == before
    outs = undo(shoot)
    assert [o.status for o in outs] == ["unchanged"]
    assert undo(shoot) == []


def test_move_records_are_undone(shoot: Path) -> None:
    j = Journal(shoot)
    src = shoot / "plain.jpg"
    dst = shoot / "_rejected" / "plain.jpg"
    dst.parent.mkdir()
    j.record_move(src, dst)
    os.rename(src, dst)
    outs = undo(shoot)
    assert [o.status for o in outs] == ["written"] and src.exists() and not dst.exists()
    assert undo(shoot) == []


def test_torn_journal_line_is_tolerated(shoot: Path) -> None:
    j = Journal(shoot)
    write_rating(shoot / "plain.jpg", 2, fmt="jpeg", journal=j)
    with open(j.path, "ab") as fh:
        fh.write(b'{"kind": "write", "id": "torn')  # a killed run
    j2 = Journal(shoot)
    write_rating(shoot / "camera.jpg", 2, fmt="jpeg", journal=j2)
    lines = j.path.read_bytes().splitlines()
    assert json.loads(lines[-1])["path"] == "camera.jpg"
    assert len(Journal(shoot).pending()) == 2
    assert [o.status for o in undo(shoot)] == ["written", "written"]


def test_paths_are_relative_so_the_folder_can_move(shoot: Path, tmp_path: Path) -> None:
    before = (shoot / "camera.jpg").read_bytes()
    write_rating(shoot / "camera.jpg", 4, fmt="jpeg", journal=Journal(shoot))
    moved = tmp_path / "elsewhere"
    shoot.rename(moved)
    assert [o.status for o in undo(moved)] == ["written"]
    assert (moved / "camera.jpg").read_bytes() == before


def test_undo_one_run_only(shoot: Path) -> None:
    write_rating(shoot / "plain.jpg", 2, fmt="jpeg", journal=Journal(shoot, run_id="r1"))
    write_rating(shoot / "plain.jpg", 4, fmt="jpeg", journal=Journal(shoot, run_id="r2"))
    assert Journal(shoot).last_run() == "r2"
    assert [o.status for o in undo(shoot, run="r2")] == ["written"]
    assert read_rating(shoot / "plain.jpg", "jpeg")["exif_rating"] == 2


def test_dry_run_undo_changes_nothing(shoot: Path) -> None:
    write_rating(shoot / "plain.jpg", 2, fmt="jpeg", journal=Journal(shoot))
    snap = snapshot(shoot)
    assert [o.status for o in undo(shoot, dry_run=True)] == ["dry-run"]
    assert snapshot(shoot) == snap
    assert len(Journal(shoot).pending()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_journal_skips_the_write(shoot: Path) -> None:
    (shoot / ".photocull").mkdir()
    os.chmod(shoot / ".photocull", 0o555)
    try:
        out = write_rating(shoot / "plain.jpg", 2, fmt="jpeg", journal=Journal(shoot))
        assert out.status == "skipped" and "journal" in out.message
    finally:
        os.chmod(shoot / ".photocull", 0o755)
