"""The model scorers inside cull: FGAesQ (tiny random weights) and CLIP prompts (tiny random CLIP)."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.report_schema import valid_report
from photocull.cli import app
from photocull.records import Analysis, Series, TechnicalMetrics
from photocull.scorers.clip_iqa import PROMPT_PAIRS, prompt_scores

torch = pytest.importorskip("torch")
runner = CliRunner()


def _json(res):
    return valid_report(res.stdout)


@pytest.fixture(scope="module")
def tiny_fgaesq(tmp_path_factory) -> Path:
    from photocull.model.config import FGAesQConfig
    from photocull.model.fgaesq import FGAesQ

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("fg") / "tiny.safetensors"
    FGAesQ(FGAesQConfig.tiny()).save_safetensors(path)
    return path


def test_cull_with_fgaesq_weights_writes_ratings(sample_copy: Path, tiny_fgaesq: Path):
    res = runner.invoke(
        app, ["cull", str(sample_copy), "-q", "--scorer", "fgaesq", "--weights", str(tiny_fgaesq), "--device", "cpu", "--json", "-", "--no-faces"]
    )
    assert res.exit_code == 0, res.output
    data = _json(res)
    assert data["scorer"] == "fgaesq"
    assert data["totals"]["written"] == 28
    for f in data["files"]:
        assert 1.0 <= f["score_components"]["aesthetic"] <= 10.0
    # Technical failures still rank last whatever the (random) aesthetic score says.
    for s in data["series"]:
        frames = [next(f for f in data["files"] if f["path"] == p) for p in s["frames"]]
        best = min(frames, key=lambda f: f["rank"])
        assert not ({"blurred", "overexposed", "underexposed"} & set(best["problems"])) or all(
            {"blurred", "overexposed", "underexposed"} & set(f["problems"]) for f in frames
        )


def test_scorer_auto_uses_fgaesq_from_the_model_folder(sample_copy: Path, tiny_fgaesq: Path, monkeypatch, tmp_path):
    import shutil

    model_dir = tmp_path / "models"
    model_dir.mkdir()
    shutil.copy(tiny_fgaesq, model_dir / "fgaesq.safetensors")
    monkeypatch.setenv("PHOTOCULL_MODEL_DIR", str(model_dir))
    res = runner.invoke(app, ["score", str(sample_copy), "-q", "--device", "cpu", "--json", "-", "--no-faces"])
    assert res.exit_code == 0, res.output
    assert _json(res)["scorer"] == "fgaesq"


def test_missing_fgaesq_weights_is_a_usage_error(sample_copy: Path, tmp_path: Path):
    res = runner.invoke(app, ["score", str(sample_copy), "-q", "--scorer", "fgaesq", "--weights", str(tmp_path / "none.safetensors")])
    assert res.exit_code == 2
    assert "--scorer technical" in " ".join(res.output.split())


def test_clip_scorer_from_cached_embeddings(sample_copy: Path, tiny_name, tiny_weights):
    _, weights, _ = tiny_weights
    args = ["score", str(sample_copy), "-q", "--scorer", "clip", "--model", tiny_name, "--pretrained", str(weights), "--device", "cpu", "--json", "-", "--no-faces"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    data = _json(first)
    assert data["scorer"] == "clip"
    assert set(data["files"][0]["score_components"]) == {name for name, _, _ in PROMPT_PAIRS}
    second = runner.invoke(app, args)  # no second pass over the images: embeddings come from the cache
    assert _json(second)["totals"]["decoded"] == 0
    assert [f["score"] for f in _json(second)["files"]] == [f["score"] for f in data["files"]]


def test_prompt_scores_follow_the_closer_prompt():
    text = np.array([[1, 0], [0, 1]], dtype=np.float32)  # positive, negative
    img = np.array([[0.9, 0.1], [0.1, 0.9]], dtype=np.float32)
    p = prompt_scores(img / np.linalg.norm(img, axis=1, keepdims=True), text)
    assert p[0, 0] > 0.99 and p[1, 0] < 0.01


def test_clip_iqa_prompt_scores_stable_at_extreme_logits():
    """The softmax of a prompt pair is the logistic of the gap; a gap of hundreds (CLIP's scale is 100)
    must give 0 or 1 without an overflow warning, and the textbook formula elsewhere."""
    import warnings


    text = np.array([[1.0, 0.0], [-1.0, 0.0], [0.3, 0.1], [0.1, 0.2]])
    image = np.array([[9.0, 0.0], [-9.0, 0.0], [0.01, -0.02]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = prompt_scores(image, text)
    assert p[0, 0] == pytest.approx(1.0) and p[1, 0] == pytest.approx(0.0, abs=1e-300)
    logits = 100.0 * image[2] @ text.T
    assert p[2] == pytest.approx(1.0 / (1.0 + np.exp(logits[1::2] - logits[0::2])))
