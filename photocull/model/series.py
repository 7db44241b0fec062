"""Scoring the frames of a series with FGAesQ, each frame conditioned on a partner.

Two modes:

* **O(n)** (default): every frame is conditioned on one reference, the series *medoid* — the
  frame with the highest summed cosine similarity of its embedding to the others when
  embeddings are given, else the one with the smallest summed distance between 32×32
  grey thumbnails. The medoid itself is conditioned on its nearest neighbour (same measure).
  n token sets, n forward passes.
* **exhaustive** (the official procedure): every unordered pair ``{i, j}`` is scored both
  ways (``i`` given ``j`` and ``j`` given ``i``; both directions keep the same full-resolution
  blocks), and a frame's score is the mean of its pair scores. For series of ≥ 4 frames that
  mean is blended with the series mean (the mean of the frames' own means):
  ``w · own + (1 − w) · series`` with ``w`` = 0.3, 0.7, 0.9 for 1, 2, ≥ 3 pair scores. With
  every pair scored each frame has n − 1 ≥ 3 pair scores, so ``w`` is 0.9; the smaller weights
  apply when ``pairs`` restricts the pairs. n(n − 1) forward passes.

A series of one frame is scored in single-image mode (no reference) by both.

All token sets of a call (or of many series, :func:`score_many`) go through the model in
batches of ``batch_size``, sorted by length so that little padding is computed. On CUDA the
model runs under ``torch.autocast(dtype=bfloat16)`` (``dtype`` to change it), on CPU in float32;
always under ``torch.inference_mode()``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from photocull.runtime import autocast, cpu_count
from photocull.metrics import srcc
from photocull.model.difftoken import Prepared, Tokens, build_pair_tokens, build_tokens, collate, prepare

__all__ = [
    "RankAgreement",
    "SeriesInput",
    "SeriesResult",
    "blend_weight",
    "choose_references",
    "medoid",
    "predict",
    "rank_agreement",
    "score_many",
    "score_series",
]


@dataclass
class SeriesInput:
    """One series: its frames (``(H, W, 3)`` uint8), optional embeddings ``(n, d)`` and identities."""

    images: Sequence[np.ndarray | torch.Tensor | Prepared]
    embeddings: np.ndarray | Sequence[np.ndarray] | None = None
    identities: Sequence[str] | None = None


@dataclass
class SeriesResult:
    """Per-frame results of one series, in the input order.

    ``scores`` (n,) on FGAesQ's 1..10 scale; ``dist`` (n, 10) the (mean) score distribution;
    ``references`` the frame each one was conditioned on (O(n) mode; ``None`` for none);
    ``pair_scores`` ``{(i, j): score of i given j}`` (exhaustive mode); ``passes`` forward passes.
    """

    scores: np.ndarray
    dist: np.ndarray
    mode: str
    references: list[int | None] = field(default_factory=list)
    pair_scores: dict[tuple[int, int], float] = field(default_factory=dict)
    passes: int = 0


@dataclass(frozen=True)
class RankAgreement:
    spearman: float  # Spearman's rho of the two score lists (nan when undefined)
    top1: bool  # the two put the same frame first


# ------------------------------------------------------------------------------------------
# References


def _similarity(images: Sequence[Prepared], embeddings) -> np.ndarray:
    """``(n, n)`` similarity, higher = more alike."""
    if embeddings is not None:
        e = np.asarray(embeddings, dtype=np.float64).reshape(len(images), -1)
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        return e @ e.T
    thumbs = []
    for p in images:
        y = (0.299 * p.rgb[0] + 0.587 * p.rgb[1] + 0.114 * p.rgb[2])[None, None]
        thumbs.append(F.adaptive_avg_pool2d(y, (32, 32)).reshape(-1))
    t = torch.stack(thumbs).double()
    return -torch.cdist(t, t).pow(2).div(t.shape[1]).numpy()


def medoid(similarity: np.ndarray) -> int:
    """The index with the highest summed similarity to the others (first on ties)."""
    return int(np.argmax(similarity.sum(axis=1)))


def choose_references(similarity: np.ndarray) -> list[int | None]:
    """O(n) references: the medoid for every frame, the medoid's nearest neighbour for it."""
    n = similarity.shape[0]
    if n == 1:
        return [None]
    m = medoid(similarity)
    row = similarity[m].astype(np.float64).copy()
    row[m] = -np.inf
    nn_ = int(np.argmax(row))
    return [nn_ if i == m else m for i in range(n)]


def blend_weight(n_pair_scores: int) -> float:
    """The weight of a frame's own mean against the series mean (series of ≥ 4 frames)."""
    return {1: 0.3, 2: 0.7}.get(n_pair_scores, 0.9)


# ------------------------------------------------------------------------------------------
# Running the model


def predict(model: torch.nn.Module, tokens: Sequence[Tokens], *, device: str | torch.device = "cpu",
            dtype: torch.dtype | None = None, batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """``(dist (n, K), score (n,))`` for token sets, in their order.

    Moves ``model`` to ``device`` and runs it in eval mode (its train/eval mode is restored
    afterwards). Token sets are batched by length (padding never changes a result, it only
    costs time).
    """
    dev = torch.device(device)
    if not tokens:
        k = getattr(getattr(model, "cfg", None), "num_bins", 10)
        return np.zeros((0, k), np.float32), np.zeros(0, np.float64)
    was_training = model.training
    model.to(dev).eval()
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
    dists: list[torch.Tensor] = [None] * len(tokens)  # type: ignore[list-item]
    pin = dev.type == "cuda"
    try:
        with torch.inference_mode(), autocast(dev, dtype):
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                batch = collate([tokens[i] for i in idx])
                if pin:
                    batch = batch.pin_memory()
                dist, _ = model(batch.to(dev, non_blocking=pin))
                dist = dist.float().cpu()
                for j, i in enumerate(idx):
                    dists[i] = dist[j]
    finally:
        model.train(was_training)
    d = torch.stack(dists).numpy()
    bins = np.arange(1, d.shape[1] + 1, dtype=np.float64)
    return d, d.astype(np.float64) @ bins


# ------------------------------------------------------------------------------------------
# Series


@dataclass
class _Plan:
    mode: str
    n: int
    tokens: list[Tokens]
    targets: list[tuple[int, int | None]]  # (frame, reference) per token set
    references: list[int | None]


def _plan(series: SeriesInput, *, exhaustive: bool, cfg, keep_blocks: int | None,
          pairs: Sequence[tuple[int, int]] | None) -> _Plan:
    n = len(series.images)
    ids = list(series.identities) if series.identities is not None else [None] * n
    if len(ids) != n:
        raise ValueError(f"{len(ids)} identities for {n} images")
    preps = [prepare(img, ident, cfg) for img, ident in zip(series.images, ids)]
    if n == 1:
        t = build_tokens(preps[0], cfg=cfg, keep_blocks=keep_blocks)
        return _Plan("single", 1, [t], [(0, None)], [None])
    if not exhaustive:
        refs = choose_references(_similarity(preps, series.embeddings))
        tokens = [build_tokens(preps[i], preps[r], cfg=cfg, keep_blocks=keep_blocks)
                  for i, r in enumerate(refs)]
        return _Plan("reference", n, tokens, [(i, r) for i, r in enumerate(refs)], refs)
    todo = itertools.combinations(range(n), 2) if pairs is None else pairs
    tokens, targets, seen = [], [], set()
    for i, j in todo:
        key = (min(i, j), max(i, j))
        if i == j or key in seen:
            continue
        seen.add(key)
        ti, tj = build_pair_tokens(preps[i], preps[j], cfg=cfg, keep_blocks=keep_blocks)
        tokens += [ti, tj]
        targets += [(i, j), (j, i)]
    reached = {i for i, _ in targets}
    for i in range(n):  # frames no pair reached (only with restricted pairs): scored alone
        if i not in reached:
            tokens.append(build_tokens(preps[i], cfg=cfg, keep_blocks=keep_blocks))
            targets.append((i, None))
    return _Plan("exhaustive", n, tokens, targets, [None] * n)


def _combine(plan: _Plan, dist: np.ndarray, score: np.ndarray) -> SeriesResult:
    n = plan.n
    if plan.mode in ("single", "reference"):
        return SeriesResult(scores=score.astype(np.float64), dist=dist.copy(), mode=plan.mode,
                            references=plan.references, passes=len(plan.tokens))
    pair_scores = {(i, j): float(s) for (i, j), s in zip(plan.targets, score) if j is not None}
    per: list[list[int]] = [[] for _ in range(n)]
    alone: dict[int, int] = {}
    for k, (i, j) in enumerate(plan.targets):
        if j is None:
            alone[i] = k
        else:
            per[i].append(k)
    own = np.zeros(n, dtype=np.float64)
    own_dist = np.zeros((n, dist.shape[1]), dtype=np.float64)
    for i in range(n):
        ks = per[i] or [alone[i]]
        own[i] = float(np.mean(score[ks]))
        own_dist[i] = dist[ks].mean(axis=0)
    final = own.copy()
    if n >= 4:
        paired = [i for i in range(n) if per[i]]
        series_mean = float(np.mean(own[paired]))
        for i in paired:
            w = blend_weight(len(per[i]))
            final[i] = w * own[i] + (1.0 - w) * series_mean
    return SeriesResult(scores=final, dist=own_dist.astype(np.float32), mode="exhaustive",
                        references=plan.references, pair_scores=pair_scores, passes=len(plan.tokens))


def score_many(series: Sequence[SeriesInput], model: torch.nn.Module, *, exhaustive: bool = False,
               device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
               batch_size: int = 16, keep_blocks: int | None = None,
               pairs: Sequence[Sequence[tuple[int, int]] | None] | None = None,
               workers: int | None = None,
               progress: Callable[[int], None] | None = None) -> list[SeriesResult]:
    """Score several series in one stream of batches (see :func:`score_series`).

    Tokens are built by ``workers`` CPU threads (the SSIM and resizing run in torch ops
    that release the GIL) a few series ahead of the model, so the GPU is fed while the
    next series are prepared; the look-ahead is bounded, so memory does not grow with
    the number of series. ``progress(n)`` is called as each series of n frames is done.
    """
    cfg = model.cfg.tokens
    workers = workers or max(1, min(4, cpu_count() - 1))

    def plan(k: int) -> _Plan:
        return _plan(series[k], exhaustive=exhaustive, cfg=cfg, keep_blocks=keep_blocks,
                     pairs=None if pairs is None else pairs[k])

    results: list[SeriesResult | None] = [None] * len(series)
    waiting: list[tuple[int, _Plan]] = []

    def flush() -> None:
        tokens = [t for _, p in waiting for t in p.tokens]
        dist, score = predict(model, tokens, device=device, dtype=dtype, batch_size=batch_size)
        start = 0
        for k, p in waiting:
            m = len(p.tokens)
            results[k] = _combine(p, dist[start:start + m], score[start:start + m])
            start += m
            if progress is not None:
                progress(p.n)  # frames of this series are scored
        waiting.clear()

    ahead = 2 * workers
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures: dict[int, Future] = {}
        for k in range(len(series)):
            for j in range(k, min(len(series), k + ahead + 1)):
                if j not in futures:
                    futures[j] = pool.submit(plan, j)
            waiting.append((k, futures.pop(k).result()))
            if sum(len(p.tokens) for _, p in waiting) >= 4 * batch_size:
                flush()
        flush()
    return results  # type: ignore[return-value]


def score_series(images: Sequence[np.ndarray | torch.Tensor | Prepared], model: torch.nn.Module, *,
                 embeddings: np.ndarray | Sequence[np.ndarray] | None = None,
                 identities: Sequence[str] | None = None, exhaustive: bool = False,
                 device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                 batch_size: int = 16, keep_blocks: int | None = None,
                 pairs: Sequence[tuple[int, int]] | None = None) -> SeriesResult:
    """Score the frames of one series; ``.scores`` are per frame, in input order (1..10).

    ``images``: ``(H, W, 3)`` uint8 arrays (any size; each is resized by DiffToken).
    ``embeddings``: optional ``(n, d)`` image embeddings (pick the medoid; O(n) mode only).
    ``identities``: strings (e.g. file identities) seeding each frame's block choice, so a
    result is reproducible across runs and machines; default: content digests.
    ``exhaustive``: the official all-pairs procedure instead of the O(n) medoid references;
    ``pairs`` restricts it to those unordered pairs (frames left out are scored alone).
    """
    return score_many([SeriesInput(images, embeddings, identities)], model, exhaustive=exhaustive,
                      device=device, dtype=dtype, batch_size=batch_size, keep_blocks=keep_blocks,
                      pairs=None if pairs is None else [pairs])[0]


# ------------------------------------------------------------------------------------------
# Agreement between two rankings


def rank_agreement(a_scores: Sequence[float] | np.ndarray, b_scores: Sequence[float] | np.ndarray) -> RankAgreement:
    """Spearman's rho between two scorings of the same frames, and whether their best frame agrees.

    rho is ``nan`` for fewer than two frames or when either scoring is constant; ``top1`` compares
    the first index of each maximum.
    """
    a = np.asarray(a_scores, dtype=np.float64).reshape(-1)
    b = np.asarray(b_scores, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"score lists differ in length: {a.size} vs {b.size}")
    if a.size == 0:
        return RankAgreement(math.nan, False)
    top1 = int(np.argmax(a)) == int(np.argmax(b))
    if a.size < 2:
        return RankAgreement(math.nan, top1)
    return RankAgreement(srcc(a, b), top1)
