from __future__ import annotations

import math

import numpy as np
import pytest

from photocull.metrics import (
    pair_accuracy,
    pair_f1,
    plcc,
    rankdata,
    series_accuracy,
    series_srcc,
    srcc,
)


def test_pair_accuracy_and_f1():
    s_a = [3, 1, 2, 5]
    s_b = [1, 2, 2, 4]
    p = [0.9, 0.8, 1.0, 0.1]
    # correct, wrong, tie (half), wrong
    assert pair_accuracy(s_a, s_b, p) == pytest.approx(1.5 / 4)
    assert pair_accuracy([2, 3], [1, 1]) == 1.0
    assert pair_accuracy([1, 2], [1, 1], [0.5, 1.0]) == 1.0  # p = 0.5 skipped
    # f1: truth a,a,a,b; pred a,b,b(tie),a -> class a: tp1 fp1 fn2 -> 2/5; class b: tp0 fp2 fn1 -> 0
    assert pair_f1(s_a, s_b, p) == pytest.approx((2 / 5 + 0) / 2)
    assert pair_f1([2, 1], [1, 2], [1.0, 0.0]) == 1.0
    assert math.isnan(pair_accuracy([], [], []))


def test_rankdata_average_ties():
    assert rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_srcc_plcc_known_values():
    x = [1, 2, 3, 4, 5]
    assert srcc(x, [2, 4, 6, 8, 100]) == pytest.approx(1.0)
    assert srcc(x, [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    assert plcc(x, [2, 4, 6, 8, 10]) == pytest.approx(1.0)
    # hand value: x = 1..5, y = (1, 3, 2, 5, 4): srcc = 1 - 6*sum d^2/(n(n^2-1)) = 1 - 6*4/120 = 0.8
    assert srcc(x, [1, 3, 2, 5, 4]) == pytest.approx(0.8)
    y = np.array([2.0, 1.0, 4.0, 3.0, 7.0])
    want = np.corrcoef(x, y)[0, 1]
    assert plcc(x, y) == pytest.approx(want)
    assert math.isnan(plcc([1, 1, 1], [1, 2, 3]))


def test_srcc_matches_scipy_when_available():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 50), rng.normal(size=50)
    assert srcc(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)


def test_series_metrics():
    scores = [[0.9, 0.1, 0.5], [0.2, 0.8], [1.0, 1.0]]
    best = [0, 0, {1}]
    # hit, miss, tie at the top between a best and a non-best -> 0.5
    assert series_accuracy(scores, best) == pytest.approx(1.5 / 3)
    truth = [[3, 1, 2], [2, 1], [1, 1]]
    # srcc 1.0, -1.0, the constant truth is skipped
    assert series_srcc(scores, truth) == pytest.approx(0.0)
    assert series_srcc([[1, 2, 3]], [[1, 2, 3]]) == pytest.approx(1.0)
