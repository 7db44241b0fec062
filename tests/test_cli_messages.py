"""Errors on a pipe or file: one plain line each, never boxed, never wrapped (issue 23, item 6).

CI runs with stdout not a terminal and COLUMNS unset, where Rich would wrap at 80 columns and
typer would draw a panel; a path split across lines cannot be copied or grepped."""

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from photocull.cli import app
from photocull.lock import shoot_lock
from tests.conftest import save_jpeg, scene

runner = CliRunner()
SCRIPT = "import sys; from photocull.cli import main; sys.argv[0] = 'photocull'; main()"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE")}
    return subprocess.run([sys.executable, "-c", SCRIPT, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _long(tmp_path: Path) -> Path:
    deep = tmp_path / ("a-folder-with-a-long-name-" * 3) / ("and-another-one-" * 4)
    deep.mkdir(parents=True)
    return deep


def test_a_missing_folder_is_one_plain_line_on_a_pipe(tmp_path: Path) -> None:
    missing = _long(tmp_path) / "no-such-shoot"
    res = _run("cull", str(missing), cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and str(missing) in lines[0]
    assert not any(ch in res.stderr for ch in "╭│╰─\x1b")
    assert "photocull cull --help" in lines[0]


def test_an_unknown_option_is_one_plain_line_on_a_pipe(tmp_path: Path) -> None:
    res = _run("cull", str(tmp_path), "--no-such-flag", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.splitlines() == [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert "--no-such-flag" in res.stderr and "╭" not in res.stderr


def test_photocull_s_own_messages_are_never_wrapped(tmp_path: Path) -> None:
    shoot = _long(tmp_path) / "shoot"
    shoot.mkdir()
    save_jpeg(shoot / "IMG_0001.JPG", scene(0))
    assert len(str(shoot)) > 80
    with shoot_lock(shoot, "review"):
        res = _run("undo", str(shoot), cwd=tmp_path)
    assert res.returncode == 2
    line = next(line for line in res.stderr.splitlines() if "in use by photocull review" in line)
    assert str(shoot) in line and line.startswith("error: ")
    assert "\x1b" not in res.stderr


def test_per_file_errors_notes_and_totals_are_one_line_each_on_a_pipe(tmp_path: Path) -> None:
    shoot = _long(tmp_path) / "shoot"
    save_jpeg(shoot / "IMG_0001.JPG", scene(0, (160, 120)))
    (shoot / "IMG_0002.JPG").write_bytes(b"not a photo at all, only a name")  # a per-file error
    (shoot / "IMG_0003.JPG").write_bytes(b"")  # another one: an empty file
    json_path = shoot / "report.json"
    res = _run("cull", str(shoot), "-q", "--scorer", "technical", "--no-embeddings", "--json", str(json_path),
               cwd=tmp_path)
    assert res.returncode == 1, res.stderr  # some files failed
    lines = res.stderr.splitlines()
    for name in ("IMG_0002.JPG", "IMG_0003.JPG"):
        line = next(x for x in lines if name in x)
        assert line.startswith("error: ")
    note = next(x for x in lines if "report written to" in x)
    assert str(json_path) in note and note.startswith("note: ")
    assert all(x.startswith(("error: ", "warning: ", "note: ")) for x in lines), lines
    totals = [x for x in res.stdout.splitlines() if " photos · " in x]
    assert len(totals) == 1 and totals[0].rstrip().endswith("images/s)")
    res = _run("undo", str(shoot), "--verbose", cwd=tmp_path)
    restored = [x for x in res.stdout.splitlines() if x.startswith("restored ")]
    assert restored == [f"restored {shoot / 'IMG_0001.JPG'}"]
