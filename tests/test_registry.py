"""The scorer registry: a new scorer is one module plus one registry line, and the CLI offers it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pytest
from typer.testing import CliRunner

from tests.report_schema import valid_report
from photocull.cli import app
from photocull.records import Analysis, FrameScore, Series
from photocull.scorers import (
    ScorerDefaults,
    ScorerUnavailable,
    create_scorer,
    register_scorer,
    resolve_auto,
    scorer_names,
    unregister_scorer,
)

runner = CliRunner()


class BrightestScorer(ScorerDefaults):
    """A toy scorer: the brighter the frame, the better (what a plugin module would hold)."""

    name = "toy"

    def score(self, series: Sequence[Series], analyses: Sequence[Analysis], progress=None) -> list[FrameScore]:
        return [FrameScore(round(10.0 * a.metrics.mean_luma, 4), {"brightness": a.metrics.mean_luma}) for a in analyses]


@pytest.fixture
def toy():
    register_scorer("toy", label="the brightness toy")(lambda req: BrightestScorer())  # the one registry line
    yield "toy"
    unregister_scorer("toy")


def test_toy_scorer_culls_the_sample_shoot_through_the_cli(sample_copy: Path, toy: str):
    assert "toy" in scorer_names()
    res = runner.invoke(app, ["score", str(sample_copy), "--scorer", "toy", "--no-embeddings", "--no-faces", "-q", "--json", "-"])
    assert res.exit_code == 0, res.output
    data = valid_report(res.stdout)
    assert data["scorer"] == "toy"
    by_path = {f["path"]: f for f in data["files"]}
    for s in data["series"]:
        members = [by_path[p] for p in s["frames"]]
        picked = [f for f in members if f["pick"]]
        assert len(picked) == 1
        problem_free = [f for f in members if not f["problems"]] or members
        assert picked[0]["score"] == max(f["score"] for f in problem_free)
    for f in data["files"]:
        assert f["score"] == pytest.approx(10.0 * f["metrics"]["mean_luma"], abs=1e-3)


def test_unregistered_scorer_is_a_usage_error(sample_copy: Path):
    assert "toy" not in scorer_names()
    res = runner.invoke(app, ["score", str(sample_copy), "--scorer", "toy", "--no-embeddings", "-q"])
    assert res.exit_code == 2
    assert "toy" in res.output and "technical" in res.output


def test_create_scorer_by_name_and_its_refusals():
    assert create_scorer("technical").name == "technical"
    with pytest.raises(ValueError, match="unknown scorer 'nope'; choose auto, technical"):
        create_scorer("nope")
    with pytest.raises(ScorerUnavailable, match="needs a CLIP backbone"):
        create_scorer("clip")  # needs_embeddings is honoured: no backbone, no CLIP scorer
    with pytest.raises(ValueError):
        register_scorer("auto")


def test_resolve_auto_takes_the_best_scorer_this_machine_can_run(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PHOTOCULL_MODEL_DIR", str(tmp_path / "no-models"))
    bare = resolve_auto()
    assert bare.name == "technical"
    assert "no FGAesQ weights" in bare.note and "no CLIP backbone" in bare.note and "--scorer technical" in bare.note
    with_clip = resolve_auto(backbone=object())
    assert with_clip.name == "clip" and "--scorer clip" in with_clip.note and "no CLIP backbone" not in with_clip.note
    named = resolve_auto(weights=tmp_path / "w.safetensors")
    assert named.name == "fgaesq" and named.note is None
    (tmp_path / "no-models").mkdir()
    (tmp_path / "no-models" / "fgaesq.safetensors").write_bytes(b"")
    assert resolve_auto().name == "fgaesq"


def test_every_registry_refuses_a_name_registered_twice_unless_replaced():
    """timm warns and lets the later one win; here a second registration is refused (a plugin or a
    typo must not silently replace the writer of a format), and replace=True warns."""
    from photocull.inputs.formats import FORMATS, register_format
    from photocull.metadata.presets import PRESETS, register_preset
    from photocull.metadata.targets import TARGETS, register_target
    from photocull.registry import DuplicateRegistration

    for register, table, name in ((register_format, FORMATS, "jpeg"), (register_preset, PRESETS, "lightroom"),
                                  (register_target, TARGETS, next(iter(TARGETS)))):
        before = table[name]
        with pytest.raises(DuplicateRegistration, match=repr(name)):
            register(before)
        assert table[name] is before
        with pytest.warns(UserWarning, match="replaced"):
            register(before, replace=True)
        assert table[name] is before
    factory = lambda req: BrightestScorer()  # noqa: E731
    with pytest.raises(DuplicateRegistration, match="'technical'"):
        register_scorer("technical")(factory)
    assert create_scorer("technical").name == "technical"  # the built-in still holds the name


def test_a_scorer_without_the_declared_capabilities_is_refused_when_built():
    """The pipeline reads needs_sources and cache_key as they are (no getattr probing), so a
    scorer that lacks them is refused at create_scorer, naming what to subclass."""

    class Bare:
        name = "bare"
        needs_images = False
        needs_embeddings = False

        def score(self, series, analyses, progress=None):
            return []

    register_scorer("bare")(lambda req: Bare())
    try:
        with pytest.raises(TypeError, match="needs_sources, cache_key.*ScorerDefaults"):
            create_scorer("bare")
    finally:
        unregister_scorer("bare")
    assert create_scorer("technical").cache_key is None and create_scorer("technical").needs_sources is False
