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


# ---------------------------------------------------------------- #3 links out of the shoot

def test_link_out_of_the_shoot_rates_nothing_outside(tmp_path: Path):
    shoot = _shoot(tmp_path / "shoot", 2)
    album = _shoot(tmp_path / "album", 2)  # a sibling album the card's link leads to
    outside = save_jpeg(tmp_path / "elsewhere" / "private.jpg", scene(50, (160, 120)), datetime(2026, 3, 1, 11, 0, 0))
    (shoot / "up").symlink_to("..")
    (shoot / "private.jpg").symlink_to(outside)
    before = {p: p.read_bytes() for p in [*album.iterdir(), outside]}
    report = tmp_path / "report.json"
    res = runner.invoke(app, ["cull", str(shoot), *FAST, "--json", str(report)])
    assert res.exit_code == 0, res.output
    assert {p: p.read_bytes() for p in before} == before  # byte-identical
    data = json.loads(report.read_text())
    assert sorted(f["path"] for f in data["files"]) == ["f000.jpg", "f001.jpg"]
    warned = {w["path"]: w["message"] for w in data["warnings"]}
    assert "outside the shoot" in warned["private.jpg"] and "--follow-links" in warned["private.jpg"]
    assert "loop" in warned["up"] or "outside the shoot" in warned["up"]


def test_follow_links_is_a_setting_and_loops_are_loops(tmp_path: Path):
    from photocull.scan import scan

    shoot = _shoot(tmp_path / "shoot", 1)
    outside = save_jpeg(tmp_path / "elsewhere" / "x.jpg", scene(50, (160, 120)))
    (shoot / "x.jpg").symlink_to(outside)
    (shoot / "self.jpg").symlink_to("self.jpg")  # a link to itself
    (shoot / "sub").mkdir()
    (shoot / "sub" / "back").symlink_to("..")  # a folder link to a folder above it
    (shoot / "inside.jpg").symlink_to("f000.jpg")  # stays in the shoot: followed
    found = scan(shoot)
    assert sorted(f.path.name for f in found.files) == ["f000.jpg", "inside.jpg"]
    messages = {w.path.name: w.message for w in found.warnings}
    assert messages["self.jpg"].startswith("link loop") and messages["back"].startswith("link loop")
    assert not any("permission" in e.message for e in found.errors)
    assert "x.jpg" in {f.path.name for f in scan(shoot, follow_links=True).files}
    (shoot / "photocull.toml").write_text("[cull]\nfollow_links = true\n")
    from photocull.settings import load

    assert load(shoot).cull_options("cull").follow_links is True
