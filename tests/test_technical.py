import json

import pytest

from photocull.analyse import analyse_path
from photocull.records import BLURRED, NOISY, OVEREXPOSED, UNDEREXPOSED, Series
from photocull.scorers.technical import TechnicalScorer, measure, score_series
from tests.conftest import SAMPLE, TRUTH, blurred, exposed, noisy, scene, shifted


def _metrics(img):
    return measure(img)


def test_blur_lowers_sharpness_noise_does_not_fake_it():
    base = scene(7, (800, 600))
    sharp = _metrics(base).sharpness
    assert _metrics(blurred(base, 2.0)).sharpness < sharp / 3
    # Noise reads as detail to a naive measure; ours removes its floor.
    assert _metrics(noisy(base, 15)).sharpness < sharp * 2.5


def test_exposure_measure_is_exposure_invariant_for_sharpness():
    base = scene(7, (800, 600))
    assert _metrics(exposed(base, -1.0)).sharpness == pytest.approx(_metrics(base).sharpness, rel=0.5)


def test_series_flags_and_ranking():
    base = scene(11, (800, 600))
    variants = {
        "clean": shifted(base, 2, 1),
        "blur": blurred(base, 3.0),
        "noise": noisy(base, 22),
        "over": exposed(base, 3.5),  # highlights clip
        "under": exposed(base, -2.5),
    }
    scores = dict(zip(variants, score_series([_metrics(v) for v in variants.values()])))
    assert max(scores, key=lambda k: scores[k].score) == "clean"
    assert scores["clean"].problems == []
    assert BLURRED in scores["blur"].problems
    assert NOISY in scores["noise"].problems
    assert OVEREXPOSED in scores["over"].problems
    assert UNDEREXPOSED in scores["under"].problems


def test_dark_scene_alone_is_not_underexposed():
    night = exposed(scene(5, (800, 600)), -1.5)
    (only,) = score_series([_metrics(night)])
    assert UNDEREXPOSED not in only.problems


def test_picks_ground_truth_best_in_every_sample_burst():
    truth = json.loads(TRUTH.read_text())
    for s in truth["series"]:
        analyses = [analyse_path(SAMPLE / f, "jpeg")[1] for f in s["frames"]]
        scores = TechnicalScorer().score([Series(0, list(range(len(analyses))))], analyses)
        best = max(range(len(scores)), key=lambda i: (not scores[i].problems, scores[i].score))
        assert s["frames"][best] == s["best"], (s["id"], [x.score for x in scores])
        assert scores[best].problems == []
