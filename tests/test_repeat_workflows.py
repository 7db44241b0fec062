"""A week of use on one shoot (issue 23): copies outside it, re-runs, undo after many runs.

Each test is a workflow the README suggests, run through the command line on the bundled
sample shoot (or a tiny generated one), and checked against the pristine copy byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from typer.testing import CliRunner

from photocull.cli import app
from photocull.metadata import journal as journal_mod
from photocull.metadata.journal import Journal
from photocull.metadata.transfer import transfer
from photocull.paths import user_state_dir

from conftest import save_jpeg, scene

runner = CliRunner()
CULL = ["-q", "--scorer", "technical", "--no-embeddings"]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but photocull's own state folder, with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".photocull" not in p.relative_to(root).parts}


def cli(*args: str, code: int = 0):
    res = runner.invoke(app, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output and "Traceback" not in res.stderr
    assert res.exit_code == code, res.output + res.stderr
    return res


def test_copies_outside_the_shoot_never_break_a_later_run(sample_copy: Path, tmp_path: Path) -> None:
    picks = tmp_path / "Picks"
    cli("cull", str(sample_copy), *CULL, "--copy-picks", str(picks))
    assert len(list(picks.iterdir())) == 8
    for cmd in (["cull", *CULL, "--dry-run"], ["score", *CULL], ["group", "-q", "--no-embeddings"], ["cull", *CULL]):
        res = cli(cmd[0], str(sample_copy), *cmd[1:])
        assert "outside" not in res.stderr
    assert len(list(picks.iterdir())) == 8  # the re-run recognised its copies


def test_a_crafted_outside_record_is_refused_by_undo_and_breaks_nothing_else(sample_copy: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    save_jpeg(elsewhere / "IMG_0026.JPG", scene(5, (64, 48)))
    state = sample_copy / ".photocull"
    state.mkdir()
    crafted = {"v": 1, "id": "f" * 32, "run": "x", "kind": "copy", "time": 0, "src": "IMG_0001.JPG",
               "dst": str(elsewhere / "IMG_0026.JPG"), "outside": [str(elsewhere / "IMG_0026.JPG")], "sig": "0" * 64}
    (state / "journal.jsonl").write_text(json.dumps(crafted) + "\n")
    before = tree(sample_copy)
    cli("cull", str(sample_copy), *CULL, "--dry-run")
    cli("cull", str(sample_copy), *CULL)
    res = cli("undo", str(sample_copy), code=1)  # the crafted record: refused, said so
    assert "outside the shoot" in res.stderr
    assert tree(sample_copy) == before and (elsewhere / "IMG_0026.JPG").exists()
    cli("cull", str(sample_copy), *CULL)  # and after the undo, still usable
    cli("undo", str(sample_copy), code=1)
    assert tree(sample_copy) == before


def _shoot(root: Path, seed: int) -> Path:
    from datetime import datetime

    from conftest import blurred

    t = datetime(2026, 7, 1, 8, 0, 0)
    base = scene(seed, (160, 120))
    save_jpeg(root / "IMG_1.JPG", base, t)
    save_jpeg(root / "IMG_2.JPG", blurred(base, 4), t.replace(second=1))
    return root


def test_records_copied_from_another_cards_journal_are_refused(tmp_path: Path) -> None:
    a, b = _shoot(tmp_path / "A", 1), _shoot(tmp_path / "B", 2)
    out = {k: tmp_path / f"{k}-out" for k in ("pa", "ra", "pb", "rb")}
    cli("cull", str(a), *CULL, "--copy-picks", str(out["pa"]), "--move-rejects", str(out["ra"]))
    cli("cull", str(b), *CULL, "--copy-picks", str(out["pb"]), "--move-rejects", str(out["rb"]))
    outside_a = {k: tree(out[k]) for k in ("pa", "ra")}
    assert outside_a["pa"] and outside_a["ra"]
    ja, jb = a / ".photocull" / "journal.jsonl", b / ".photocull" / "journal.jsonl"
    jb.write_text(jb.read_text() + ja.read_text())  # A's signed records replayed on card B

    res = cli("undo", str(b), code=1)
    assert "outside the shoot" in res.stderr
    assert {k: tree(out[k]) for k in ("pa", "ra")} == outside_a  # A's folders untouched
    assert sorted(tree(b)) == ["IMG_1.JPG", "IMG_2.JPG"]
    res = cli("undo", str(a))  # A's own undo: every record still works
    assert "0 could not be restored" in res.stdout
    assert not out["pa"].exists() and not out["ra"].exists()


def test_move_rejects_twice_keeps_the_first_runs_decisions(sample_copy: Path) -> None:
    pristine = tree(sample_copy)
    rejects = sample_copy / "_rejects"
    cli("cull", str(sample_copy), *CULL, "--move-rejects", str(rejects))
    first = sorted(p.name for p in rejects.iterdir())
    kept = sorted(p for p in tree(sample_copy) if not p.startswith("_rejects/"))
    res = cli("cull", str(sample_copy), *CULL, "--move-rejects", str(rejects), "--json", "-")
    assert sorted(p.name for p in rejects.iterdir()) == first  # nothing the first run kept was moved
    assert sorted(p for p in tree(sample_copy) if not p.startswith("_rejects/")) == kept
    report = json.loads(res.stdout)
    frames = [f for s in report["series"] for f in s["frames"]] if "series" in report else report["frames"]
    assert len(frames) == len(pristine)  # the moved frames still count in their series
    cli("undo", str(sample_copy))
    assert tree(sample_copy) == pristine


def test_undo_after_two_writing_runs_is_byte_identical(sample_copy: Path) -> None:
    pristine = tree(sample_copy)
    cli("cull", str(sample_copy), *CULL)
    cli("cull", str(sample_copy), *CULL, "--preset", "lightroom")
    cli("undo", str(sample_copy))
    assert tree(sample_copy) == pristine


def test_undo_removes_a_sidecar_later_runs_rewrote(tmp_path: Path) -> None:
    shoot = _shoot(tmp_path / "s", 3)
    (shoot / "IMG_1.CR2").write_bytes(b"II*\x00" + b"\x00" * 64)
    pristine = tree(shoot)
    cli("cull", str(shoot), *CULL)
    assert (shoot / "IMG_1.xmp").exists()
    cli("cull", str(shoot), *CULL, "--preset", "digikam")
    cli("undo", str(shoot))
    assert tree(shoot) == pristine


def test_a_short_signing_key_is_replaced_never_signing_nothing(tmp_path: Path) -> None:
    shoot = _shoot(tmp_path / "s", 4)
    key = user_state_dir() / journal_mod.KEY_NAME
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_bytes(b"short")
    picks = tmp_path / "picks"
    out = transfer([(shoot / "IMG_1.JPG", ())], picks, move=False, journal=Journal(shoot))
    assert out[0].status == "written"
    rec = json.loads((shoot / ".photocull" / "journal.jsonl").read_text().splitlines()[0])
    assert isinstance(rec["sig"], str) and len(key.read_bytes()) == journal_mod.KEY_BYTES
    cli("undo", str(shoot))
    assert not picks.exists()


def test_no_key_can_be_made_means_no_copy_outside(tmp_path: Path, monkeypatch) -> None:
    shoot = _shoot(tmp_path / "s", 5)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))  # the key's folder cannot be made
    out = transfer([(shoot / "IMG_1.JPG", ())], tmp_path / "picks", move=False, journal=Journal(shoot))
    assert out[0].status == "skipped" and not (tmp_path / "picks" / "IMG_1.JPG").exists()


def test_the_shoot_id_is_kept_and_a_foreign_one_breaks_signatures(tmp_path: Path) -> None:
    shoot = _shoot(tmp_path / "s", 6)
    j = Journal(shoot)
    transfer([(shoot / "IMG_1.JPG", ())], tmp_path / "picks", move=False, journal=j)
    rec = j.records()[0]
    assert j.trusting(rec)  # signed for this shoot
    sid = shoot / ".photocull" / journal_mod.SHOOT_ID_NAME
    sid.write_text(os.urandom(16).hex())  # another card's identity
    assert not Journal(shoot).trusting(rec)
    shutil.rmtree(tmp_path / "picks")


def test_install_hints_name_this_checkouts_editable_install() -> None:
    import sys

    from photocull.install import install_command

    repo = Path(__file__).resolve().parents[1]
    cmd = install_command("faces")
    assert cmd.startswith(sys.executable) and " -e " in cmd and f"{repo}[faces]" in cmd
    assert f"-c {repo / 'constraints.txt'}" in cmd


def test_undo_removes_the_half_copy_a_killed_copy_picks_left_outside(tmp_path: Path, monkeypatch) -> None:
    from photocull.metadata import transfer as transfer_mod

    shoot = _shoot(tmp_path / "s", 7)
    pristine = tree(shoot)
    picks = tmp_path / "Picks"

    def killed(src: Path, dst: Path) -> None:  # SIGKILL mid-copy: the temp name stays, no clean-up runs
        shutil.copyfile(src, dst.with_name(f".{dst.name}.photocull-tmp-copy"))
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(transfer_mod, "copy_synced", killed)
        try:
            transfer([(shoot / "IMG_1.JPG", ())], picks, move=False, journal=Journal(shoot))
        except KeyboardInterrupt:
            pass
    assert [p.name for p in picks.iterdir()] == [".IMG_1.JPG.photocull-tmp-copy"]
    cli("undo", str(shoot))
    assert not picks.exists() and tree(shoot) == pristine


def _plant(lock: Path, kind: str, tmp_path: Path) -> None:
    lock.parent.mkdir(parents=True, exist_ok=True)
    if kind == "folder":
        lock.mkdir()
    elif kind == "link":
        (tmp_path / "elsewhere").write_text("")
        lock.symlink_to(tmp_path / "elsewhere")
    else:
        os.mkfifo(lock)


import pytest  # noqa: E402


@pytest.mark.parametrize("kind", ["folder", "link", "fifo"])
def test_a_planted_lock_that_is_no_file_stops_photocull_and_never_hangs(tmp_path: Path, kind: str) -> None:
    import subprocess
    import sys

    from conftest import REPO

    shoot = _shoot(tmp_path / "s", 8)
    pristine = tree(shoot)
    _plant(shoot / ".photocull" / "lock", kind, tmp_path)
    for cmd in (["cull", str(shoot), *CULL], ["undo", str(shoot)]):
        # A subprocess with a timeout: a lock that blocks would hang the test run itself.
        script = "import sys; from photocull.cli import main; sys.argv[0] = 'photocull'; main()"
        res = subprocess.run([sys.executable, "-c", script, *cmd], cwd=REPO, capture_output=True, text=True,
                             timeout=120, env=os.environ | {"PYTHONPATH": str(REPO)})
        assert res.returncode == 2, res.stderr
        assert "is not a regular file" in res.stderr and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1  # one plain line on a pipe
    assert tree(shoot) == pristine
    assert not (shoot / ".photocull" / "journal.jsonl").exists()


@pytest.mark.parametrize("kind", ["folder", "link", "fifo"])
def test_a_planted_journal_that_is_no_file_stops_every_command_cleanly(tmp_path: Path, kind: str) -> None:
    shoot = _shoot(tmp_path / "s", 9)
    pristine = tree(shoot)
    _plant(shoot / ".photocull" / "journal.jsonl", kind, tmp_path)
    for cmd in (["cull", *CULL], ["cull", *CULL, "--dry-run"], ["cull", *CULL, "--copy-picks", str(tmp_path / "p")],
                ["undo"], ["undo", "--last"]):
        res = cli(cmd[0], str(shoot), *cmd[1:], code=2)
        assert "journal" in res.stderr and "Traceback" not in res.stderr
    cli("score", str(shoot), *CULL)  # a command that writes nothing needs no journal
    assert tree(shoot) == pristine and not (tmp_path / "p").exists()
