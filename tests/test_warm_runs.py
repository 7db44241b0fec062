"""Warm runs load nothing they do not need; FGAesQ wired end to end through the CLI.

A tiny checkpoint in the official layout (``tests/model/official_fixture``) saved as a
``.pt`` is passed to ``--weights`` as it is. The second run on an unchanged shoot must take
every score from the cache: the loaders are replaced by ones that fail, so a model built
anyway fails the test.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from photocull.cli import app
from tests.conftest import TINY, save_jpeg, scene, shifted

torch = pytest.importorskip("torch")

runner = CliRunner()


@pytest.fixture
def small_shoot(tmp_path) -> Path:
    """A burst of three (one series) and a single, small enough for quick full-resolution scoring."""
    from datetime import datetime

    root = tmp_path / "shoot"
    a = scene(1, (320, 240))
    t0 = datetime(2026, 5, 1, 9, 0, 0)
    for k, (dx, dy) in enumerate([(0, 0), (2, 1), (-1, 2)]):
        save_jpeg(root / f"A{k + 1}.jpg", shifted(a, dx, dy), t0.replace(second=k))
    save_jpeg(root / "C1.jpg", scene(3, (320, 240)), t0.replace(minute=5))
    return root


def _cull(shoot: Path, *extra: str) -> dict:
    """``photocull score`` (the body of cull, writing nothing to the photos; a dry run may keep no cache)."""
    res = runner.invoke(app, ["score", str(shoot), "--json", "-", "-q", "--no-faces", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout[res.stdout.index("{"):])


def _scores(report: dict) -> dict[str, float]:
    return {f["path"]: f["score"] for f in report["files"]}


def _forbid(monkeypatch, target: str, name: str, calls: list) -> None:
    def refuse(*a, **k):
        calls.append(name)
        raise AssertionError(f"{name} was loaded on a warm run")

    monkeypatch.setattr(target, refuse)


def test_weights_take_the_official_checkpoint_and_a_warm_run_loads_no_model(small_shoot, official_pt, monkeypatch):
    args = ("--scorer", "fgaesq", "--weights", str(official_pt), "--no-embeddings")
    cold = _cull(small_shoot, *args)
    assert cold["scorer"] == "fgaesq" and cold["totals"]["decoded"] == 4
    assert len(set(_scores(cold).values())) > 1  # a real model spreads its scores

    calls: list = []
    _forbid(monkeypatch, "photocull.model.weights.load_fgaesq_model", "FGAesQ", calls)
    warm = _cull(small_shoot, *args)
    assert calls == [] and warm["totals"]["decoded"] == 0
    assert _scores(warm) == _scores(cold)

    # Other settings are other scores: a new seed or series mode misses the cache and loads the model.
    with pytest.raises(AssertionError):
        runner.invoke(app, ["score", str(small_shoot), "-q", "--no-faces", *args, "--series-mode",
                            "reference"], catch_exceptions=False)
    assert calls == ["FGAesQ"]


def test_a_changed_series_is_scored_again(small_shoot, official_pt, monkeypatch):
    """Series-relative scores are only reused for the same members: a new burst frame re-scores
    its series (the model loads), the untouched single is read from the cache."""
    import photocull.model.weights as W

    args = ("--scorer", "fgaesq", "--weights", str(official_pt), "--no-embeddings")
    cold = _cull(small_shoot, *args)
    from datetime import datetime

    save_jpeg(small_shoot / "A4.jpg", shifted(scene(1, (320, 240)), 1, -1), datetime(2026, 5, 1, 9, 0, 3))
    loads: list = []
    real = W.load_fgaesq_model
    monkeypatch.setattr(W, "load_fgaesq_model", lambda *a, **k: loads.append(1) or real(*a, **k))
    # Only the series that changed needs scoring: count the frames handed to the scorer.
    from photocull.scorers.fgaesq import FGAesQScorer

    scored: list[int] = []
    real_score = FGAesQScorer.score

    def counting(self, series, analyses, progress=None, sources=None):
        scored.extend(i for s in series for i in s.members)
        return real_score(self, series, analyses, progress, sources)

    monkeypatch.setattr(FGAesQScorer, "score", counting)
    after = _cull(small_shoot, *args)
    assert loads == [1] and len(scored) == 4  # the burst of four, not the single
    assert _scores(after)["C1.jpg"] == _scores(cold)["C1.jpg"]


def test_warm_run_with_a_clip_backbone_loads_neither_model(small_shoot, official_pt, tiny_weights, monkeypatch):
    _, st, _ = tiny_weights
    args = ("--scorer", "fgaesq", "--weights", str(official_pt), "--model", TINY, "--pretrained", str(st))
    cold = _cull(small_shoot, *args)
    calls: list = []
    _forbid(monkeypatch, "photocull.model.weights.load_fgaesq_model", "FGAesQ", calls)
    _forbid(monkeypatch, "photocull.backbones.clip.load_backbone", "CLIP", calls)
    warm = _cull(small_shoot, *args)
    assert calls == [] and _scores(warm) == _scores(cold)
    assert [f["series"] for f in warm["files"]] == [f["series"] for f in cold["files"]]


def test_clip_scorer_warm_run_loads_no_backbone(small_shoot, tiny_weights, monkeypatch):
    _, st, _ = tiny_weights
    args = ("--scorer", "clip", "--model", TINY, "--pretrained", str(st))
    cold = _cull(small_shoot, *args)
    calls: list = []
    _forbid(monkeypatch, "photocull.backbones.clip.load_backbone", "CLIP", calls)
    warm = _cull(small_shoot, *args)
    assert calls == [] and _scores(warm) == _scores(cold)


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    from safetensors.numpy import save_file

    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    zipped = tmp_path / "archive.pth"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("hello.txt", "hi")
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    st = tmp_path / "random.safetensors"
    save_file({"w": np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)}, str(st))
    return {"text": text, "zip": zipped, "empty": empty, "safetensors": st}


def test_unusable_weights_files_are_messages_not_tracebacks(small_shoot, tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOCULL_MODEL_DIR", str(tmp_path / "models"))
    for kind, path in _bad_files(tmp_path).items():
        res = runner.invoke(app, ["cull", str(small_shoot), "--dry-run", "-q", "--no-faces", "--no-embeddings",
                                  "--scorer", "fgaesq", "--weights", str(path)])
        assert res.exit_code == 2, (kind, res.output)
        assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit), kind
        said = " ".join(res.output.split())  # rich wraps long lines
        assert path.name in "".join(said.split()) and "--scorer technical" in said, (kind, said)


def test_series_mode_and_seed_reach_the_scorer(tmp_path):
    from photocull.settings import ConfigError, RunSettings, Settings

    assert RunSettings().exhaustive_series() is None  # auto by default
    assert RunSettings(series_mode="reference").exhaustive_series() is False
    assert RunSettings(series_mode="all-pairs").exhaustive_series() is True
    assert RunSettings(series_mode="reference", exhaustive=True).exhaustive_series() is True  # the alias wins
    s = Settings()
    s.merge({"cull": {"series_mode": "all-pairs", "seed": 7}}, "photocull.toml")
    assert s.cull.exhaustive_series() is True and s.cull.seed == 7
    with pytest.raises(ConfigError, match="series_mode"):
        Settings().merge({"cull": {"series_mode": "sometimes"}}, "photocull.toml")


def test_series_scores_are_cached_by_the_series_own_names_not_its_place(tmp_path, official_pt, monkeypatch):
    """A burst culled within its parent folder (after another series: another series id) and
    then alone reads the same cache entries (one cache for both: ``--user-cache``), with the
    same scores and no model loaded; the same frames under other names (another FGAesQ seed)
    are scored again, not read back."""
    from datetime import datetime

    from photocull.scorers.fgaesq import FGAesQScorer

    parent = tmp_path / "day"
    t0 = datetime(2026, 5, 1, 9, 0, 0)
    b = scene(4, (320, 240))
    for k, (dx, dy) in enumerate([(0, 0), (1, 2)]):  # an earlier series: the burst is not the first
        save_jpeg(parent / "early" / f"E{k + 1}.jpg", shifted(b, dx, dy), t0.replace(hour=8, second=k))
    a = scene(1, (320, 240))
    for k, (dx, dy) in enumerate([(0, 0), (2, 1), (-1, 2)]):
        save_jpeg(parent / "burst" / f"A{k + 1}.jpg", shifted(a, dx, dy), t0.replace(second=k))
    args = ("--scorer", "fgaesq", "--weights", str(official_pt), "--no-embeddings", "--user-cache")
    scored: list[int] = []
    real_score = FGAesQScorer.score

    def counting(self, series, analyses, progress=None, sources=None):
        scored.append(sum(len(s.members) for s in series))
        return real_score(self, series, analyses, progress, sources)

    monkeypatch.setattr(FGAesQScorer, "score", counting)
    within = _cull(parent, *args)
    assert scored == [5]
    burst_series = {f["series"] for f in within["files"] if "burst" in f["path"]}
    assert len(burst_series) == 1 and burst_series != {1}  # not the run's first series
    alone = _cull(parent / "burst", *args)
    assert scored == [5] and alone["totals"]["decoded"] == 0  # every score read back
    assert {Path(p).name: s for p, s in _scores(alone).items()} == \
        {Path(p).name: s for p, s in _scores(within).items() if "burst" in p}

    for k in range(3):  # the same frames, in the same order, under other names: another seed
        (parent / "burst" / f"A{k + 1}.jpg").rename(parent / "burst" / f"Z{k + 1}.jpg")
    _cull(parent / "burst", *args)
    assert scored == [5, 3]
