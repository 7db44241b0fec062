"""Scenario test (issue 23): any sequence of the README's commands on one shoot, ended by
``undo``, leaves every file byte-identical to the pristine copy and nothing behind.

Commands: cull, cull --preset X, --keep N, --copy-picks and --move-rejects inside and
outside the shoot, a decision in the review page, undo --last, undo. The sequences (2 to 4
commands, the last always ``undo``) are chosen so that every ordered pair of commands
occurs in one of them. The shoot is small and generated: a burst (sharp, blurred, noisy), a
RAW+JPEG pair beside a blurred RAW+JPEG mate, a photo without EXIF, and one carrying the
photographer's own 4 stars.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photocull.cli import app
from photocull.metadata import write_rating

from conftest import blurred, noisy, save_jpeg, scene

runner = CliRunner()
CULL = ["-q", "--scorer", "technical", "--no-embeddings", "--workers", "1"]
PRESETS = ("lightroom", "darktable", "digikam", "rawtherapee")
COMMANDS = ("cull", "preset", "keep", "copy_in", "copy_out", "move", "move_out", "review", "undo_last", "undo")


def sequences() -> list[tuple[str, ...]]:
    """Sequences ending in ``undo`` that together hold every ordered pair of COMMANDS."""
    todo = [(a, b) for a in COMMANDS for b in COMMANDS]
    seqs: list[tuple[str, ...]] = []
    while todo:
        a, b = todo.pop(0)
        seq = [a, b]
        if b != "undo":
            nxt = next((p for p in todo if p[0] == b and p[1] != "undo"), None)
            if nxt is not None:
                todo.remove(nxt)
                seq.append(nxt[1])
            if (seq[-1], "undo") in todo:
                todo.remove((seq[-1], "undo"))
            seq.append("undo")
        seqs.append(tuple(seq))
    return seqs


SEQUENCES = sequences()


def test_the_sequences_cover_every_ordered_pair() -> None:
    pairs = {(s[i], s[i + 1]) for s in SEQUENCES for i in range(len(s) - 1)}
    assert pairs == {(a, b) for a in COMMANDS for b in COMMANDS}
    assert all(2 <= len(s) <= 4 and s[-1] == "undo" for s in SEQUENCES)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine") / "shoot"
    t = datetime(2026, 7, 1, 8, 0, 0)
    base, pair = scene(11, (160, 120)), scene(12, (160, 120))
    save_jpeg(root / "IMG_1.JPG", base, t)
    save_jpeg(root / "IMG_2.JPG", blurred(base, 4), t.replace(second=1))
    save_jpeg(root / "IMG_3.JPG", noisy(base, 25), t.replace(second=2))
    save_jpeg(root / "IMG_4.JPG", scene(13, (160, 120)), t.replace(minute=5))
    save_jpeg(root / "IMG_5.JPG", pair, t.replace(minute=10))
    (root / "IMG_5.CR2").write_bytes(b"II*\x00" + b"\x05" * 64)  # RAW companions (no preview needed)
    save_jpeg(root / "IMG_6.JPG", blurred(pair, 5), t.replace(minute=10, second=1))
    (root / "IMG_6.CR2").write_bytes(b"II*\x00" + b"\x06" * 64)
    save_jpeg(root / "sub" / "NOEXIF.JPG", scene(14, (160, 120)))
    save_jpeg(root / "IMG_7.JPG", scene(15, (160, 120)), t.replace(minute=20))
    assert write_rating(root / "IMG_7.JPG", 4, fmt="jpeg").status == "written"  # the photographer's 4 stars
    return root


def tree(root: Path) -> dict[str, bytes | None]:
    """Files (bytes) and folders (None) under ``root``, photocull's state folder aside."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*")) if ".photocull" not in p.relative_to(root).parts}


def run_command(name: str, shoot: Path, outside: Path, n: int) -> None:
    """Run one command as a user would; fail on a traceback or an unexpected exit code."""
    if name == "review":
        review(shoot)
        return
    args = {
        "cull": ["cull", str(shoot), *CULL],
        "preset": ["cull", str(shoot), *CULL, "--preset", PRESETS[n % len(PRESETS)]],
        "keep": ["cull", str(shoot), *CULL, "--keep", "1"],
        "copy_in": ["cull", str(shoot), *CULL, "--copy-picks", str(shoot / "_picks")],
        "copy_out": ["cull", str(shoot), *CULL, "--copy-picks", str(outside / "Picks")],
        "move": ["cull", str(shoot), *CULL, "--move-rejects", str(shoot / "_rejects")],
        "move_out": ["cull", str(shoot), *CULL, "--move-rejects", str(outside / "Rejects")],
        "undo_last": ["undo", str(shoot), "--last"],
        "undo": ["undo", str(shoot)],
    }[name]
    res = runner.invoke(app, args)
    said = res.output + res.stderr
    assert res.exception is None or isinstance(res.exception, SystemExit), (name, repr(res.exception))
    assert "Traceback" not in said, (name, said)
    assert res.exit_code == 0, (name, said)


def review(shoot: Path) -> None:
    """Give the first frame of the saved run 5 stars in the review page (or be told to cull first)."""
    from photocull.review.server import ReviewApp
    from photocull.review.session import NoRun

    try:
        app_ = ReviewApp(shoot, token="t")
    except NoRun:
        return  # no saved run (none yet, or undone): the page says to cull first
    entry = app_.session.entries[0]
    body = json.dumps({"id": entry.id, "action": "stars", "stars": 5}).encode()
    r = app_.handle("POST", "/api/decide", {"Host": "127.0.0.1", "X-Photocull-Token": "t"}, body)
    assert r.status < 500, r.body
    if entry.path.exists():
        assert r.status == 200, r.body


@pytest.mark.parametrize("seq", SEQUENCES, ids=["-".join(s) for s in SEQUENCES])
def test_any_sequence_ended_by_undo_restores_the_shoot(seq: tuple[str, ...], pristine: Path, tmp_path: Path) -> None:
    shoot, outside = tmp_path / "shoot", tmp_path / "outside"
    shutil.copytree(pristine, shoot, copy_function=shutil.copy2)
    outside.mkdir()
    before = tree(shoot)
    for n, name in enumerate(seq):
        run_command(name, shoot, outside, SEQUENCES.index(seq) + n)
    assert tree(shoot) == before
    assert list(outside.iterdir()) == []  # the outside folders photocull made are gone
