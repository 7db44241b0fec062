"""SIGKILL a rating run at random moments: every photo stays fully old or fully new."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from photocull.metadata import cleanup_temp_files, read_rating, undo

from .conftest import tail

N_FILES = 200
ROUNDS = 5
REPO = Path(__file__).resolve().parents[2]

CHILD = """
import sys
from pathlib import Path
from photocull.metadata import Journal, write_rating, undo
d, stars = Path(sys.argv[1]), int(sys.argv[2])
if stars < 0:
    undo(d)
else:
    j = Journal(d)
    print("ready", flush=True)
    for p in sorted(d.glob("*.jpg")):
        out = write_rating(p, stars, fmt="jpeg", journal=j)
        assert out.status in ("written", "unchanged"), out
"""


def _spawn(d: Path, stars: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", CHILD, str(d), str(stars)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run_and_kill(d: Path, stars: int, rng: random.Random) -> bool:
    """Start a child, kill it after a random delay; True if it was killed before finishing."""
    proc = _spawn(d, stars)
    if stars >= 0:
        assert proc.stdout is not None
        proc.stdout.readline()  # imports done: the kill lands among the writes
    time.sleep(rng.uniform(0.0, 0.25))
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode in (0, -signal.SIGKILL), err.decode()
    return proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_sigkill_leaves_files_old_or_new(tmp_path: Path) -> None:
    rng = random.Random(1234)
    originals: dict[str, bytes] = {}
    for i in range(N_FILES):
        buf = io.BytesIO()
        Image.new("RGB", (24, 16), (i % 256, (i * 7) % 256, (i * 13) % 256)).save(buf, "JPEG")
        (tmp_path / f"f{i:03d}.jpg").write_bytes(buf.getvalue())
        originals[f"f{i:03d}.jpg"] = buf.getvalue()
    state = {name: None for name in originals}  # last rating known to be fully written
    kills = 0
    for rnd in range(ROUNDS):
        stars = rnd % 5 + 1
        kills += _run_and_kill(tmp_path, stars, rng)
        cleanup_temp_files(tmp_path)
        for name, data in originals.items():
            p = tmp_path / name
            now = p.read_bytes()
            assert tail(now) == tail(data), name
            got = read_rating(p, "jpeg")
            assert got["errors"] == [], (name, got)
            assert got["exif_rating"] == got["xmp_rating"], (name, got)
            assert got["exif_rating"] in (state[name], stars), (name, got, state[name], stars)
            state[name] = got["exif_rating"]
    assert kills >= 3  # the test really interrupted runs
    assert any(v is not None for v in state.values())
    # an undo that is itself killed, then a full undo: every file byte-identical to the start
    _run_and_kill(tmp_path, -1, rng)
    cleanup_temp_files(tmp_path)
    undo(tmp_path)
    assert not [p for p in tmp_path.iterdir() if "photocull-tmp" in p.name]
    for name, data in originals.items():
        now = (tmp_path / name).read_bytes()
        assert now == data, name
        Image.open(io.BytesIO(now)).load()
