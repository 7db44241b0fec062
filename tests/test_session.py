"""photocull.session: one run assembled from the settings and a Mode, used as a library (no
typer), its Mode rules, and its exceptions as the CLI reports them (exit 2, one line)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from photocull import paths
from photocull.lock import shoot_lock
from photocull.metadata.journal import Journal
from photocull.metadata.undo import undo
from photocull.metadata.writer import read_rating
from photocull.mode import MODES, Mode
from photocull.session import (ModelUnavailable, NoPhotos, NoRun, Session, SessionError, SetupError,
                               ShootUnavailable, cull_shoot, load_last_run)
from photocull.settings import RunSettings, Settings

from conftest import REPO, blurred, save_jpeg, scene

FAST = dict(scorer="technical", no_embeddings=True, workers=1)


def settings(**options) -> Settings:
    """Run settings as typed options would give them; no photocull.toml of this machine is read."""
    return Settings(cull=RunSettings(**{**FAST, **options}))


@pytest.fixture
def shoot(tmp_path: Path) -> Path:
    """Two bursts of three (one blurred frame each) and a single: series, picks and a reject."""
    root = tmp_path / "shoot"
    t = datetime(2026, 7, 1, 8, 0, 0)
    n = 0
    for burst, seed in enumerate((11, 12)):
        for k in range(3):
            img = scene(seed, (240, 180))
            save_jpeg(root / f"IMG_{n:04d}.JPG", blurred(img, 4.0) if k == 1 else img,
                      t.replace(minute=burst * 10, second=k))
            n += 1
    save_jpeg(root / f"IMG_{n:04d}.JPG", scene(13, (240, 180)), t.replace(minute=30))
    return root


def photos(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.glob("*.JPG"))}


def test_a_library_cull_writes_ratings_journals_them_and_undo_restores_the_bytes(shoot: Path) -> None:
    before = photos(shoot)
    with Session.open(shoot, settings(), Mode.CULL) as session:
        result = session.run()
    assert len(result.frames) == 7 and not result.failed and result.scorer == "technical"
    ratings = {p.name: read_rating(p, "jpeg")["xmp_rating"] for p in shoot.glob("*.JPG")}
    assert all(r is not None for r in ratings.values()), ratings
    assert sum(1 for fr in result.frames if fr.rating.is_pick) == 3  # one per series, the single too
    assert photos(shoot) != before
    journal = Journal(shoot)
    assert {Path(r["path"]).name for r in journal.pending()} == set(before)
    saved = json.loads(paths.last_run_path(shoot).read_text())
    assert saved["scorer"] == "technical" and len(saved["files"]) == 7
    assert json.loads((paths.state_dir(shoot) / "writer.json").read_text())["targets"]  # review writes as this did
    undo(shoot)
    assert photos(shoot) == before


def test_the_library_needs_no_command_line(shoot: Path) -> None:
    """A program runs a cull without typer or rich: neither is imported."""
    code = ("import sys\nfrom photocull.session import Mode, cull_shoot\nfrom photocull.settings import RunSettings, Settings\n"
            "r = cull_shoot(sys.argv[1], Settings(cull=RunSettings(scorer='technical', no_embeddings=True, workers=1)), "
            "Mode.SCORE)\nprint(len(r.frames), sorted(m for m in ('typer', 'rich', 'click') if m in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-c", code, str(shoot)], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[0] == "7 []"


def test_the_modes_carry_the_rules() -> None:
    assert MODES == {"cull": Mode.CULL, "score": Mode.SCORE, "group": Mode.GROUP}
    assert Mode.of("group") is Mode.GROUP and Mode.of(Mode.CULL) is Mode.CULL
    with pytest.raises(ValueError, match="cull, score, group"):
        Mode.of("sort")
    assert [m.name for m in MODES.values() if m.writes] == ["cull"]
    assert Mode.GROUP.scorer == "technical" and Mode.CULL.scorer is Mode.SCORE.scorer is None
    assert not Mode.GROUP.html and not Mode.GROUP.faces and not Mode.GROUP.show_scores
    s = settings(reject=True, dry_run=True, copy_picks=Path("/picks"), move_rejects=Path("/rejects"))
    cull, group = s.cull_options(Mode.CULL), s.cull_options(Mode.GROUP)
    assert (cull.write, cull.reject, cull.dry_run, cull.copy_picks) == (True, True, True, Path("/picks"))
    assert (group.write, group.reject, group.dry_run, group.copy_picks, group.move_rejects) == (False, False, False, None, None)


def test_group_scores_with_technical_and_writes_nothing(shoot: Path) -> None:
    before = photos(shoot)
    # CLIP prompts need embeddings: asked of score they cannot be built; group never asks for them
    with pytest.raises(ModelUnavailable):
        Session.open(shoot, settings(scorer="clip"), Mode.SCORE)
    with Session.open(shoot, settings(scorer="clip", reject=True), Mode.GROUP) as session:
        assert session.scorer.name == "technical" and session.writer is None and session.journal is None
        result = session.run()
    assert result.scorer == "technical" and len(result.series) == 3
    assert photos(shoot) == before
    assert not (paths.state_dir(shoot) / "journal.jsonl").exists()
    assert not (paths.state_dir(shoot) / "writer.json").exists()  # only a writing run leaves writer options
    assert load_last_run(shoot)[0].scorer == "technical"  # but the run is kept for 'photocull report'


def test_score_writes_nothing_and_a_dry_run_keeps_nothing(shoot: Path) -> None:
    before = photos(shoot)
    cull_shoot(shoot, settings(), Mode.SCORE)
    assert photos(shoot) == before and not (paths.state_dir(shoot) / "journal.jsonl").exists()
    paths.last_run_path(shoot).unlink()
    with Session.open(shoot, settings(dry_run=True), Mode.CULL) as session:
        assert session.options.dry_run and session.writer is not None
        result = session.run()
    assert all(fr.write is not None and fr.write.status == "dry-run" for fr in result.frames), \
        {fr.write.status for fr in result.frames if fr.write}
    assert photos(shoot) == before and not paths.last_run_path(shoot).exists()


def test_a_held_shoot_is_a_session_error_and_a_failed_open_releases_the_lock(shoot: Path) -> None:
    with shoot_lock(shoot, "review"):
        with pytest.raises(ShootUnavailable, match="in use by photocull review"):
            Session.open(shoot, settings(), Mode.CULL, lock_wait=0.0)
        with Session.open(shoot, settings(), Mode.SCORE, lock_wait=0.0):  # only a writing run takes the shoot
            pass
    with pytest.raises(SetupError, match="nope"):
        Session.open(shoot, settings(scorer="nope"), Mode.CULL, lock_wait=0.0)  # took the lock, then failed
    with shoot_lock(shoot, "undo", wait=0.0) as held:  # ... and let it go
        assert held.locked
    session = Session.open(shoot, settings(), Mode.CULL, lock_wait=0.0)
    with pytest.raises(ShootUnavailable):
        Session.open(shoot, settings(), Mode.CULL, lock_wait=0.0)  # one writer at a time, in one process too
    session.close()
    Session.open(shoot, settings(), Mode.CULL, lock_wait=0.0).close()


def test_notices_are_heard_as_they_arise_and_only_report_ones_reach_the_result(shoot: Path, tmp_path: Path,
                                                                               monkeypatch) -> None:
    monkeypatch.setenv("PHOTOCULL_MODEL_DIR", str(tmp_path / "no-models"))  # --scorer auto finds no FGAesQ here
    heard = []
    with Session.open(shoot, settings(scorer="auto", ray_address="ray://x:1"), Mode.SCORE,
                      on_notice=heard.append) as session:
        assert session.scorer.name == "technical"
        result = session.run()
    assert [(n.level, n.in_report) for n in heard] == [("note", True), ("warning", False)]
    assert "no FGAesQ weights" in heard[0].text and "ray_address" in heard[1].text
    assert session.notices == heard
    assert [(w.stage, w.message) for w in result.warnings if w.stage == "run"] == [("run", heard[0].text)]


def test_an_empty_folder_and_an_undone_run_are_session_errors(tmp_path: Path, shoot: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoPhotos, match="no photos found"):
        cull_shoot(empty, settings(), Mode.SCORE)
    with pytest.raises(NoRun, match="has no saved run"):
        load_last_run(shoot)
    cull_shoot(shoot, settings(), Mode.CULL)
    assert len(load_last_run(shoot)[0].frames) == 7
    from photocull.review.session import load_session
    from photocull.session import mark_last_run_undone

    undo(shoot)
    mark_last_run_undone(shoot)  # what 'photocull undo' does after restoring
    with pytest.raises(NoRun, match="was undone"):  # the review page reads the last run the same way
        load_session(shoot)
    assert issubclass(NoRun, SessionError) and issubclass(NoPhotos, SessionError)


SCRIPT = "import sys; from photocull.cli import main; sys.argv[0] = 'photocull'; main()"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE")}
    return subprocess.run([sys.executable, "-c", SCRIPT, *args], cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("case", ["held", "no photos", "missing weights"])
def test_the_cli_prints_a_session_error_as_one_line_and_exits_2(tmp_path: Path, shoot: Path, case: str) -> None:
    target = shoot
    args = ["--scorer", "technical", "--no-embeddings", "-q", "--workers", "1"]
    if case == "no photos":
        target = tmp_path / "empty"
        target.mkdir()
    if case == "missing weights":  # an explicit checkpoint that is not there: the session refuses to start
        args = [*args[:2], "--pretrained", str(tmp_path / "no-such.safetensors"), *args[3:]]
    before = photos(shoot)
    if case == "held":
        with shoot_lock(shoot, "review"):  # the CLI waits 3 s, then gives up
            res = _cli("cull", str(target), *args, cwd=tmp_path)
    else:
        res = _cli("cull", str(target), *args, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.stderr, res.stderr
    expected = {"held": "in use by photocull review", "no photos": "no photos found", "missing weights": "no-such.safetensors"}[case]
    assert expected in lines[0]
    assert photos(shoot) == before and res.stdout == ""


def test_the_cli_names_no_mode() -> None:
    """The commands ask a Mode's fields; no module of the CLI compares the strings cull/score/group."""
    for path in (REPO / "photocull" / "cli").glob("*.py"):
        text = path.read_text()
        assert not re.search(r'(==|!=|\bin)\s*\(?"(cull|score|group)"', text), path.name
        assert not re.search(r'"(cull|score|group)"\s*(==|!=)', text), path.name


def test_settings_read_from_the_shoot_and_a_bad_file_is_a_session_error(shoot: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))  # no user photocull.toml
    (shoot / "photocull.toml").write_text('[cull]\nscorer = "technical"\nno_embeddings = true\ntop_k = 2\n')
    with Session.open(shoot, mode=Mode.SCORE) as session:  # settings=None: the shoot's own file
        assert session.options.top_k == 2 and session.scorer.name == "technical" and session.backbone is None
    (shoot / "photocull.toml").write_text("[cull]\ntop_k = 0\n")
    with pytest.raises(SetupError, match=r"photocull\.toml.*top_k"):
        Session.open(shoot, mode=Mode.SCORE)
