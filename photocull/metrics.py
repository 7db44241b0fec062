"""Evaluation metrics of the FGAesQ paper, in numpy (no scipy at run time).

* Pair level: :func:`pair_accuracy` (the better frame of a labelled pair scores higher) and
  :func:`pair_f1` (macro F1 over the two outcomes "a better" / "b better").
* Series level: :func:`series_accuracy` (s-Acc: the top-scored frame is a labelled best) and
  :func:`series_srcc` (s-SRCC: Spearman correlation within each series, averaged).
* Coarse: :func:`srcc` (Spearman, average ranks for ties) and :func:`plcc` (Pearson).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

__all__ = ["pair_accuracy", "pair_f1", "plcc", "rankdata", "series_accuracy", "series_srcc", "srcc"]


def _pairs(s_a, s_b, p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s_a, s_b = np.asarray(s_a, np.float64).ravel(), np.asarray(s_b, np.float64).ravel()
    p = np.ones_like(s_a) if p is None else np.asarray(p, np.float64).ravel()
    if not (s_a.shape == s_b.shape == p.shape):
        raise ValueError("s_a, s_b and p must have the same length")
    keep = p != 0.5  # a tie labels no direction
    return s_a[keep], s_b[keep], p[keep]


def pair_accuracy(s_a: Sequence[float], s_b: Sequence[float], p: Sequence[float] | None = None) -> float:
    """Fraction of labelled pairs ordered correctly: ``s_a > s_b`` when ``p = P(a > b) > 0.5``.

    Pairs labelled ``p = 0.5`` are skipped; a tied score counts half. ``p=None``: a is better.
    """
    s_a, s_b, p = _pairs(s_a, s_b, p)
    if s_a.size == 0:
        return float("nan")
    truth = np.where(p > 0.5, 1.0, -1.0)
    pred = np.sign(s_a - s_b)
    return float(np.mean(np.where(pred == 0, 0.5, (pred == truth).astype(np.float64))))


def pair_f1(s_a: Sequence[float], s_b: Sequence[float], p: Sequence[float] | None = None) -> float:
    """Macro F1 over the two classes "a better" and "b better" (a tied score predicts "b")."""
    s_a, s_b, p = _pairs(s_a, s_b, p)
    if s_a.size == 0:
        return float("nan")
    truth = p > 0.5
    pred = s_a > s_b
    f1s = []
    for cls in (True, False):
        tp = np.sum((pred == cls) & (truth == cls))
        fp = np.sum((pred == cls) & (truth != cls))
        fn = np.sum((pred != cls) & (truth == cls))
        denom = 2 * tp + fp + fn
        if denom == 0:
            continue  # the class appears neither in truth nor in predictions
        f1s.append(2 * tp / denom)
    return float(np.mean(f1s))


def rankdata(x: Sequence[float]) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (scipy's ``rankdata(method="average")``)."""
    x = np.asarray(x, np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(x.size, np.float64)
    i = 0
    while i < x.size:
        j = i
        while j + 1 < x.size and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks


def plcc(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson linear correlation; ``nan`` when either side is constant or shorter than 2."""
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError("x and y must have the same length")
    if x.size < 2:
        return float("nan")
    xc, yc = x - x.mean(), y - y.mean()
    den = np.sqrt((xc * xc).sum() * (yc * yc).sum())
    if den == 0:
        return float("nan")
    return float(np.clip((xc * yc).sum() / den, -1.0, 1.0))


def srcc(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (Pearson of average ranks)."""
    return plcc(rankdata(x), rankdata(y))


def series_accuracy(scores: Sequence[Sequence[float]], best: Sequence[int | Collection[int]]) -> float:
    """s-Acc: the fraction of series whose top-scored frame is (one of) its labelled best.

    ``best[k]`` is an index or a set of indices into ``scores[k]``; a tie at the top counts
    as the share of the tied frames that are labelled best.
    """
    if len(scores) != len(best):
        raise ValueError("one best label per series")
    if not scores:
        return float("nan")
    hits = []
    for s, b in zip(scores, best):
        s = np.asarray(s, np.float64)
        bset = {int(b)} if isinstance(b, (int, np.integer)) else {int(i) for i in b}
        top = np.flatnonzero(s == s.max())
        hits.append(np.mean([i in bset for i in top]))
    return float(np.mean(hits))


def series_srcc(scores: Sequence[Sequence[float]], truth: Sequence[Sequence[float]]) -> float:
    """s-SRCC: Spearman correlation of predicted and true scores within each series, averaged
    over the series with at least two frames and a non-constant truth (a constant prediction
    counts 0)."""
    if len(scores) != len(truth):
        raise ValueError("one truth vector per series")
    vals = []
    for s, t in zip(scores, truth):
        t = np.asarray(t, np.float64)
        if t.size < 2 or np.all(t == t[0]):
            continue
        r = srcc(s, t)
        vals.append(0.0 if np.isnan(r) else r)
    return float(np.mean(vals)) if vals else float("nan")
