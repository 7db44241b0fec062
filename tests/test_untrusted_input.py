"""Untrusted input on a card: odd names, links out of the shoot, tiny or padded files,
settings out of range, unwritable outputs, interrupts (issue 14)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from photocull.cli import app
from tests.conftest import REPO, save_jpeg, scene

runner = CliRunner()
FAST = ["-q", "--no-embeddings", "--scorer", "technical", "--no-faces"]


def _shoot(root: Path, n: int, size: tuple[int, int] = (160, 120)) -> Path:
    """``n`` distinct frames a minute apart (every one a single: each gets a rating)."""
    for i in range(n):
        save_jpeg(root / f"f{i:03d}.jpg", scene(i, size), datetime(2026, 3, 1, 10, i % 60, 0))
    return root


def _rating(path: Path | bytes) -> int | None:
    with Image.open(path) as im:
        return im.getexif().get(0x4746)


def _cli(args: list[str], cwd: Path | None = None, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """The real ``photocull`` entry point in a child process (what a user's shell runs)."""
    code = "import sys; from photocull.cli import main; sys.argv[0] = 'photocull'; main()"
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=full_env, capture_output=True,
                          timeout=timeout)


# ---------------------------------------------------------------- #4 names that are not UTF-8

@pytest.mark.parametrize("cache", ["--cache", "--no-cache"])
def test_name_that_is_not_utf8_is_rated_reported_and_undone(tmp_path: Path, cache: str):
    shoot = _shoot(tmp_path / "shoot", 3)
    odd = os.fsencode(shoot) + b"/b\xff.jpg"
    os.rename(os.fsencode(shoot / "f001.jpg"), odd)
    before = open(odd, "rb").read()
    report = tmp_path / "report.json"
    res = _cli(["cull", str(shoot), *FAST, cache, "--json", str(report)], PYTHONIOENCODING="utf-8")
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert b"Traceback" not in res.stderr
    assert _rating(odd) is not None
    data = json.loads(report.read_text(encoding="utf-8"))  # valid UTF-8 JSON
    paths = {os.fsencode(f["path"]) for f in data["files"]}
    assert b"b\xff.jpg" in paths and len(paths) == 3
    if cache == "--cache":
        with sqlite3.connect(shoot / ".photocull" / "cache.sqlite") as db:
            keys = {k if isinstance(k, bytes) else k.encode() for (k,) in db.execute("SELECT key FROM paths")}
        assert b"b\xff.jpg" in keys
        again = _cli(["score", str(shoot), *FAST, "--json", "-"])  # warm: served from the cache
        assert json.loads(again.stdout)["totals"]["decoded"] == 0
    html = tmp_path / "sheet.html"
    shown = _cli(["report", str(shoot), "--html", str(html)], PYTHONIOENCODING="utf-8")
    assert shown.returncode == 0, shown.stderr.decode(errors="replace")
    assert 'data-name="b\ufffd.jpg"' in html.read_text(encoding="utf-8")
    undone = _cli(["undo", str(shoot)])
    assert undone.returncode == 0, undone.stderr.decode(errors="replace")
    assert open(odd, "rb").read() == before
