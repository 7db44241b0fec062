"""One cull, undo or review write per shoot at a time (photocull.lock), and a cull clears the
temp files a killed run left (in the shoot and in the --copy-picks folder)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photocull import lock
from photocull.cli import app
from photocull.cli import locking
from photocull.lock import ShootBusy, shoot_lock

from conftest import REPO, save_jpeg, scene

runner = CliRunner()
CULL = ["-q", "--scorer", "technical", "--no-embeddings"]


def tiny_shoot(root: Path) -> Path:
    t = datetime(2026, 7, 1, 8, 0, 0)
    for i in range(3):
        save_jpeg(root / f"IMG_{i}.JPG", scene(40 + i, (160, 120)), t.replace(second=i * 20))
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def no_wait(monkeypatch):
    monkeypatch.setattr(locking, "WAIT_S", 0.0)
    monkeypatch.setattr(lock, "SERVER_WAIT_S", 0.0)


def test_the_holder_is_named_and_a_killed_holder_does_not_block(tmp_path: Path) -> None:
    shoot = tiny_shoot(tmp_path / "shoot")
    code = ("import sys; from photocull.lock import shoot_lock\n"
            "with shoot_lock(sys.argv[1], 'cull'):\n    print('held', flush=True); sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(shoot)], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(ShootBusy) as exc:
            with shoot_lock(shoot, "undo"):
                pass
        assert str(shoot) in str(exc.value) and f"photocull cull (pid {proc.pid})" in str(exc.value)
    finally:
        proc.kill()  # a kill -9: no clean-up code runs
        proc.wait()
    with shoot_lock(shoot, "undo") as held:  # the kernel dropped the lock with the process
        assert held.locked
        assert json.loads((shoot / ".photocull" / "lock").read_text())["command"] == "undo"


def test_cull_and_undo_exit_2_while_another_photocull_holds_the_shoot(tmp_path: Path, no_wait) -> None:
    shoot = tiny_shoot(tmp_path / "shoot")
    before = snapshot(shoot)
    with shoot_lock(shoot, "review"):
        for cmd in (["cull", str(shoot), *CULL], ["undo", str(shoot)]):
            res = runner.invoke(app, cmd)
            assert res.exit_code == 2, res.output
            assert "in use by photocull review (pid" in res.stderr and str(shoot) in res.stderr.replace("\n", "")
    assert {k: v for k, v in snapshot(shoot).items() if not k.startswith(".photocull")} == before
    assert not (shoot / ".photocull" / "journal.jsonl").exists()
    res = runner.invoke(app, ["cull", str(shoot), *CULL])  # free again
    assert res.exit_code == 0, res.output


def test_a_state_folder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    shoot = tiny_shoot(tmp_path / "shoot")
    (tmp_path / "elsewhere").mkdir()
    (shoot / ".photocull").symlink_to(tmp_path / "elsewhere")
    res = runner.invoke(app, ["undo", str(shoot)])
    assert res.exit_code == 2 and "is a link" in res.stderr
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_review_write_waits_for_a_running_cull_then_says_so(tmp_path: Path, no_wait) -> None:
    from photocull.review.server import ReviewApp

    shoot = tiny_shoot(tmp_path / "shoot")
    assert runner.invoke(app, ["cull", str(shoot), *CULL]).exit_code == 0
    review = ReviewApp(shoot, token="t")
    photo = review.session.entries[0].path
    body = json.dumps({"id": review.session.entries[0].id, "action": "stars", "stars": 0}).encode()
    headers = {"Host": "127.0.0.1", "X-Photocull-Token": "t"}
    data = photo.read_bytes()
    with shoot_lock(shoot, "cull"):
        r = review.handle("POST", "/api/decide", headers, body)
        assert r.status == 409 and b"in use by photocull cull (pid" in r.body
        assert photo.read_bytes() == data
    assert review.handle("POST", "/api/decide", headers, body).status == 200
    assert photo.read_bytes() != data


def test_cull_clears_temp_copies_a_killed_run_left(tmp_path: Path) -> None:
    shoot = tiny_shoot(tmp_path / "shoot")
    picks = tmp_path / "picks"
    picks.mkdir()
    stray = [shoot / ".IMG_0.JPG.photocull-tmp-x1y2", shoot / "sub" / ".IMG_9.JPG.photocull-tmp-abcd",
             picks / ".IMG_1.JPG.photocull-tmp-copy"]
    for p in stray:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"half a photo")
    mine = picks / "holiday.photocull.jpg"  # the user's own files are never touched
    mine.write_bytes(b"mine")
    res = runner.invoke(app, ["cull", str(shoot), *CULL, "--copy-picks", str(picks)])
    assert res.exit_code == 0, res.output
    assert not any(p.exists() for p in stray)
    assert mine.read_bytes() == b"mine" and any(p.suffix == ".JPG" for p in picks.iterdir())
