"""Journal hardening: a short journal write stops the photo's write; bad lines are skipped and
named; a moved photo is followed, never confused with a new file of its name; --touch undone."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from photocull.metadata import Journal, read_rating, undo, write_rating


def _disk_full_after(monkeypatch, keep: int | None, *, also_truncate_fails: bool = False) -> None:
    """The next journal write gets ``keep`` bytes onto the disk, then ENOSPC (None: nothing)."""
    real_write = os.write
    calls = {"n": 0}

    def write(fd, data):
        # the record's first write gets ``keep`` bytes down, the one that would finish it fails
        if calls["n"] < 2 and (b'"kind": "write"' in bytes(data) or calls["n"] == 1):
            calls["n"] += 1
            if calls["n"] == 1 and keep:
                return real_write(fd, bytes(data)[:keep])
            calls["n"] = 2
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    if also_truncate_fails:
        def no_truncate(fd, size):
            raise OSError(errno.EIO, "I/O error")
        monkeypatch.setattr(os, "ftruncate", no_truncate)


@pytest.mark.parametrize("keep", [None, 40])
def test_a_short_journal_write_leaves_the_photo_untouched(shoot: Path, monkeypatch, keep) -> None:
    j = Journal(shoot)
    assert write_rating(shoot / "plain.jpg", 4, fmt="jpeg", journal=j).status == "written"
    journal_before = j.path.read_bytes()
    photo = (shoot / "camera.jpg").read_bytes()
    _disk_full_after(monkeypatch, keep)
    out = write_rating(shoot / "camera.jpg", 5, fmt="jpeg", journal=j)
    monkeypatch.undo()
    assert out.status == "skipped" and "undo journal" in out.message and "untouched" in out.message
    assert (shoot / "camera.jpg").read_bytes() == photo
    assert j.path.read_bytes() == journal_before  # the cut line was taken back
    assert write_rating(shoot / "thumb.jpg", 3, fmt="jpeg", journal=j).status == "written"
    assert [o.status for o in undo(shoot)] == ["written", "written"]
    assert read_rating(shoot / "thumb.jpg", "jpeg")["exif_rating"] is None


def test_a_cut_line_that_could_not_be_taken_back_does_not_swallow_the_next(shoot: Path, monkeypatch) -> None:
    j = Journal(shoot)
    photo = (shoot / "camera.jpg").read_bytes()
    _disk_full_after(monkeypatch, 30, also_truncate_fails=True)
    assert write_rating(shoot / "camera.jpg", 5, fmt="jpeg", journal=j).status == "skipped"
    monkeypatch.undo()
    assert not j.path.read_bytes().endswith(b"\n")  # a torn line stays behind
    assert write_rating(shoot / "plain.jpg", 2, fmt="jpeg", journal=j).status == "written"
    assert json.loads(j.path.read_bytes().splitlines()[-1])["path"] == "plain.jpg"
    warnings: list[str] = []
    assert [o.status for o in undo(shoot, warnings=warnings)] == ["written"]
    assert (shoot / "camera.jpg").read_bytes() == photo
    assert len(warnings) == 1 and "line 1" in warnings[0]


def test_a_failed_journal_fsync_leaves_the_photo_untouched(shoot: Path, monkeypatch) -> None:
    j = Journal(shoot)
    photo = (shoot / "camera.jpg").read_bytes()
    real = os.fsync

    def fsync(fd):
        if fd >= 0 and os.path.realpath(f"/proc/self/fd/{fd}") == str(j.path):
            raise OSError(errno.EIO, "Input/output error")
        return real(fd)

    if not Path("/proc/self/fd").exists():
        pytest.skip("needs /proc to tell the journal's descriptor apart")
    monkeypatch.setattr(os, "fsync", fsync)
    out = write_rating(shoot / "camera.jpg", 5, fmt="jpeg", journal=j)
    monkeypatch.undo()
    assert out.status == "skipped" and "Input/output error" in out.message
    assert (shoot / "camera.jpg").read_bytes() == photo and j.path.read_bytes() == b""


def test_malformed_journal_lines_are_skipped_by_number_and_the_rest_undone(shoot: Path) -> None:
    from typer.testing import CliRunner

    from photocull.cli import app

    j = Journal(shoot)
    write_rating(shoot / "plain.jpg", 4, fmt="jpeg", journal=j)
    with open(j.path, "ab") as fh:
        fh.write(b'{"kind": "undone", "id": "x", "ref": {"not": "an id"}}\n')  # aborted the old undo
        fh.write(b'[1, 2]\n{"kind": "write", "id": 7}\n\xff\xfe not json\n' + b"[" * 5000 + b"\n")
    write_rating(shoot / "camera.jpg", 2, fmt="jpeg", journal=j)
    res = CliRunner().invoke(app, ["undo", str(shoot)])
    assert res.exit_code == 0, res.output
    assert "2 files restored, 0 could not be restored" in res.stdout
    for n in (2, 3, 4, 5, 6):
        assert f"line {n}:" in res.stderr
    assert "line 1:" not in res.stderr and "line 7:" not in res.stderr
    assert read_rating(shoot / "plain.jpg", "jpeg")["exif_rating"] is None
    assert read_rating(shoot / "camera.jpg", "jpeg")["exif_rating"] is None


@pytest.mark.parametrize("outside", [False, True])
def test_undo_after_move_rejects_follows_the_moved_photo_not_its_old_name(shoot: Path, tmp_path: Path,
                                                                         outside: bool) -> None:
    from photocull.metadata.transfer import transfer

    photo = shoot / "camera.jpg"
    original = photo.read_bytes()
    rejects = (tmp_path / "rejects") if outside else (shoot / "rejects")
    j = Journal(shoot)
    assert write_rating(photo, 1, fmt="jpeg", journal=j).status == "written"
    assert transfer([(photo, ())], rejects, move=True, journal=j)[0].status == "written"
    # A new photo takes the name; it even carries the same rating photocull wrote (worst case).
    (shoot / "camera.jpg").write_bytes((shoot / "thumb.jpg").read_bytes())
    write_rating(shoot / "camera.jpg", 1, fmt="jpeg", journal=None)
    newcomer = photo.read_bytes()

    outs = undo(shoot)
    assert photo.read_bytes() == newcomer  # the new file is not touched
    move, write = outs
    assert move.status == "skipped" and "another file now has this name" in move.message
    assert str(rejects / "camera.jpg") in move.message
    assert write.status == "written" and write.path == rejects / "camera.jpg"
    assert (rejects / "camera.jpg").read_bytes() == original  # its rating undone where it is

    photo.unlink()  # the photographer clears the name, as the message says
    again = undo(shoot)
    assert [o.status for o in again] == ["written"], again
    assert photo.read_bytes() == original and not (rejects / "camera.jpg").exists()
    assert undo(shoot) == []


def test_a_moved_photo_that_is_gone_is_not_confused_with_a_new_file_of_its_name(shoot: Path) -> None:
    from photocull.metadata.transfer import transfer

    photo = shoot / "camera.jpg"
    j = Journal(shoot)
    write_rating(photo, 1, fmt="jpeg", journal=j)
    transfer([(photo, ())], shoot / "rejects", move=True, journal=j)
    (shoot / "rejects" / "camera.jpg").unlink()
    photo.write_bytes((shoot / "thumb.jpg").read_bytes())
    write_rating(photo, 1, fmt="jpeg", journal=None)
    newcomer = photo.read_bytes()
    outs = undo(shoot)
    assert [o.status for o in outs] == ["skipped", "skipped"]
    assert "no longer there" in outs[0].message and "another one, left alone" in outs[1].message
    assert photo.read_bytes() == newcomer


def test_undo_of_a_touch_write_puts_the_old_mtime_back(shoot: Path, exiftool) -> None:
    from .conftest import XMP_WITH_FIELDS

    photo, raw = shoot / "camera.jpg", shoot / "IMG_9.NEF"
    raw.write_bytes(b"MM\x00* fake")
    (shoot / "IMG_9.xmp").write_text(XMP_WITH_FIELDS.format(rating=2), encoding="utf-8")
    old = {p: (p.read_bytes(), 1_600_000_000_123_456_789 + i) for i, p in enumerate([photo, shoot / "IMG_9.xmp"])}
    for p, (_, t) in old.items():
        os.utime(p, ns=(t, t))
    j = Journal(shoot)
    assert write_rating(photo, 5, fmt="jpeg", journal=j, preserve_mtime=False).status == "written"
    assert write_rating(raw, 5, fmt="raw", journal=j, preserve_mtime=False).status == "written"
    assert write_rating(photo, 3, fmt="jpeg", journal=j, preserve_mtime=False).status == "written"  # a 2nd run
    assert all(p.stat().st_mtime_ns != t for p, (_, t) in old.items())  # --touch did touch them
    assert exiftool(photo, "-Rating")["IFD0:Rating"] == 3
    assert [o.status for o in undo(shoot)] == ["written"] * 3
    for p, (_, t) in old.items():
        assert p.stat().st_mtime_ns == t, p.name
    assert photo.read_bytes() == old[photo][0]  # (a sidecar is restored field by field)
    assert read_rating(raw, "raw")["sidecar_rating"] == 2
    assert "IFD0:Rating" not in exiftool(photo, "-Rating")


def test_a_hard_linked_photo_is_not_split_silently(shoot: Path, exiftool) -> None:
    photo, twin = shoot / "camera.jpg", shoot / "camera-twin.jpg"
    os.link(photo, twin)
    data = photo.read_bytes()
    out = write_rating(photo, 4, fmt="jpeg", journal=Journal(shoot))
    assert out.status == "skipped" and "2 names (hard links)" in out.message and "--write sidecar" in out.message
    assert photo.read_bytes() == data and os.stat(photo).st_nlink == 2
    # The way the message names: a sidecar, the photo (both names) untouched.
    out = write_rating(photo, 4, fmt="jpeg", targets=frozenset({"sidecar"}), journal=Journal(shoot))
    assert out.status == "written" and os.stat(photo).st_nlink == 2 and photo.read_bytes() == data
    assert exiftool(shoot / "camera.xmp", "-XMP:Rating")["XMP-xmp:Rating"] == 4
    assert "IFD0:Rating" not in exiftool(twin, "-Rating")


def test_undo_does_not_split_a_photo_hard_linked_since(shoot: Path) -> None:
    photo = shoot / "camera.jpg"
    write_rating(photo, 4, fmt="jpeg", journal=Journal(shoot))
    os.link(photo, shoot / "backup.jpg")
    (out,) = undo(shoot)
    assert out.status == "skipped" and "hard links" in out.message and "photocull undo again" in out.message
    assert os.stat(photo).st_nlink == 2 and read_rating(shoot / "backup.jpg", "jpeg")["exif_rating"] == 4
