"""Series scoring: O(n) medoid references, the official all-pairs procedure, rank agreement."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from photocull.model.difftoken import build_tokens, collate
from photocull.model.series import (
    SeriesInput,
    blend_weight,
    choose_references,
    predict,
    rank_agreement,
    score_many,
    score_series,
)

from .conftest import burst, photo

IDS = [f"/shoot/IMG_{i:04d}.JPG:{1000 + i}" for i in range(6)]


def test_o_n_and_exhaustive_run_and_agree_in_form(tiny_model):
    frames = burst(70, 5)
    fast = score_series(frames, tiny_model, identities=IDS[:5])
    full = score_series(frames, tiny_model, identities=IDS[:5], exhaustive=True, batch_size=7)
    assert fast.mode == "reference" and full.mode == "exhaustive"
    assert fast.scores.shape == full.scores.shape == (5,)
    assert fast.dist.shape == full.dist.shape == (5, 10)
    assert fast.passes == 5 and full.passes == 20 and len(full.pair_scores) == 20
    for s in (fast.scores, full.scores):
        assert np.all((s >= 1) & (s <= 10))
    agreement = rank_agreement(fast.scores, full.scores)
    assert -1.0 <= agreement.spearman <= 1.0 and isinstance(agreement.top1, bool)


def test_reference_mode_conditions_on_the_medoid(tiny_model, tiny_cfg):
    frames = burst(71, 4)
    # frame 1 is like all the others (the medoid); frame 2 is its nearest neighbour
    emb = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.2, 1.0, 0.0], [0.0, 0.0, 1.0]])
    res = score_series(frames, tiny_model, embeddings=emb, identities=IDS[:4])
    assert res.references == [1, 2, 1, 1]
    # each score is exactly the model's score of the frame given its reference
    toks = [build_tokens(frames[i], frames[r], identity=IDS[i], reference_identity=IDS[r], cfg=tiny_cfg.tokens)
            for i, r in enumerate(res.references)]
    with torch.no_grad():
        want = torch.cat([tiny_model(collate([t]))[1] for t in toks]).numpy()
    np.testing.assert_allclose(res.scores, want, atol=1e-5)


def test_references_without_embeddings(tiny_model):
    frames = burst(72, 5)
    res = score_series(frames, tiny_model)
    m = max(set(res.references), key=res.references.count)
    assert all(r is not None and r != i for i, r in enumerate(res.references))
    assert res.references.count(m) == 4 and res.references[m] != m


def test_choose_references_rules():
    sim = np.array([[1.0, 0.2, 0.9], [0.2, 1.0, 0.3], [0.9, 0.3, 1.0]])
    assert choose_references(sim) == [2, 2, 0]
    assert choose_references(np.ones((1, 1))) == [None]


def test_exhaustive_blending_is_exactly_the_official_rule(tiny_model):
    frames = burst(73, 5)
    res = score_series(frames, tiny_model, identities=IDS[:5], exhaustive=True)
    own = np.array([np.mean([s for (i, _), s in res.pair_scores.items() if i == k]) for k in range(5)])
    np.testing.assert_allclose(res.scores, 0.9 * own + 0.1 * own.mean(), atol=1e-9)
    # restricted pairs: 3, 2, 2, 1 and 0 pair scores
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2)]
    res = score_series(frames, tiny_model, identities=IDS[:5], exhaustive=True, pairs=pairs)
    counts = [3, 2, 2, 1]
    own = np.array([np.mean([s for (i, _), s in res.pair_scores.items() if i == k]) for k in range(4)])
    series_mean = own.mean()
    for k in range(4):
        w = {1: 0.3, 2: 0.7, 3: 0.9}[counts[k]]
        assert blend_weight(counts[k]) == w
        assert res.scores[k] == pytest.approx(w * own[k] + (1 - w) * series_mean, abs=1e-9)
    alone = score_series([frames[4]], tiny_model, identities=[IDS[4]])  # frame 4: single-image mode
    assert res.scores[4] == pytest.approx(float(alone.scores[0]), abs=1e-5)
    assert res.passes == 2 * len(pairs) + 1


def test_small_series_are_not_blended(tiny_model):
    frames = burst(74, 3)
    res = score_series(frames, tiny_model, identities=IDS[:3], exhaustive=True)
    for k in range(3):
        mine = [s for (i, _), s in res.pair_scores.items() if i == k]
        assert len(mine) == 2 and res.scores[k] == pytest.approx(np.mean(mine), abs=1e-9)


def test_singleton_and_determinism(tiny_model):
    img = photo(75)
    a = score_series([img], tiny_model, identities=["x"])
    b = score_series([img], tiny_model, identities=["x"], exhaustive=True)
    assert a.mode == b.mode == "single" and a.references == [None]
    assert a.scores[0] == b.scores[0]
    frames = burst(76, 4)
    r1 = score_series(frames, tiny_model, identities=IDS[:4], exhaustive=True, batch_size=3)
    r2 = score_series(frames, tiny_model, identities=IDS[:4], exhaustive=True, batch_size=16)
    np.testing.assert_allclose(r1.scores, r2.scores, atol=1e-5)


def test_score_many_equals_one_by_one(tiny_model):
    s1, s2 = burst(77, 3), burst(78, 2, 100, 160)
    many = score_many([SeriesInput(s1, identities=IDS[:3]), SeriesInput(s2, identities=IDS[3:5])], tiny_model)
    np.testing.assert_allclose(many[0].scores, score_series(s1, tiny_model, identities=IDS[:3]).scores, atol=1e-5)
    np.testing.assert_allclose(many[1].scores, score_series(s2, tiny_model, identities=IDS[3:5]).scores, atol=1e-5)


def test_predict_empty_and_mode_restored(tiny_model, tiny_cfg):
    dist, score = predict(tiny_model, [])
    assert dist.shape == (0, 10) and score.shape == (0,)
    tiny_model.train()
    d, s = predict(tiny_model, [build_tokens(photo(79), cfg=tiny_cfg.tokens)] * 2)
    assert tiny_model.training and s[0] == s[1]  # dropout was off while scoring


def test_rank_agreement():
    r = rank_agreement([1, 2, 3, 4], [10, 20, 30, 40])
    assert r.spearman == pytest.approx(1.0) and r.top1
    r = rank_agreement([1, 2, 3, 4], [4, 3, 2, 1])
    assert r.spearman == pytest.approx(-1.0) and not r.top1
    r = rank_agreement([1.0, 2.0, 2.0, 5.0], [0.1, 0.3, 0.2, 0.9])  # ties take the average rank
    assert r.spearman == pytest.approx(0.9486832980505138) and r.top1
    assert math.isnan(rank_agreement([3.0], [1.0]).spearman) and rank_agreement([3.0], [1.0]).top1
    assert math.isnan(rank_agreement([1, 1, 1], [1, 2, 3]).spearman)
    with pytest.raises(ValueError):
        rank_agreement([1, 2], [1, 2, 3])
