"""FGAesQ scoring exactly as the published inference code does it (see :mod:`.official_tokens`).

* :func:`forward_official` — the official forward pass on :class:`OfficialTokens`: ``conv1``
  on each patch, the mask token on padding, ``scale_embedding[0, index]`` with the official
  index (0 coarse/padding, 1 fine), CLS, the given positions, ``ln_pre``, the transformer
  **without an attention mask** (padding attends), ``ln_post(CLS) @ proj``, the 10-bin head.
* :func:`score_single` — single-image mode with a seed (the official script after
  ``random.seed(seed)``).
* :func:`score_series` — series mode: ``exhaustive`` is the official all-pairs procedure
  (each unordered pair ``(i, j)``, ``i < j``, tokenised together under the pair id
  ``"{series_id}_{i}_{j}"``, both images scored; an image's score is the mean of its pair
  scores, blended with the mean of all pair scores of the series for series of ≥ 4 frames);
  otherwise O(n): each frame is scored only in its pair with a reference frame (the medoid;
  the medoid with its nearest neighbour), the pair tokenised exactly as in the exhaustive run,
  so each O(n) score is one of the exhaustive run's pair scores.

The checkpoint's scale-embedding rows are used as stored (an imported official checkpoint
keeps them unchanged), so the official index applies directly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from photocull.model.official_tokens import OfficialTokens, as_array, pair_tokens, single_tokens

__all__ = ["FrameCache", "SeriesPlan", "SeriesScores", "blend", "forward_official", "frame_index", "score_images",
           "score_series", "score_single", "series_naming", "thumbnail_similarity"]


# A CPU pass of 4 token sets is as fast per set as one of 10 or 16 (its matrix products are
# already 2,048 rows tall; measured 14.7 vs 14.8 CPU-s for 10 sets of the published size) and
# holds less than half the activations (~150 MB instead of ~370 MB).
CPU_BATCH = 4


def forward_official(model: torch.nn.Module, tokens: Sequence[OfficialTokens], *,
                     batch_size: int = 8, device: str | torch.device | None = None,
                     dtype: torch.dtype | None = None) -> np.ndarray:
    """Scores ``(n,)`` float64 of token sets, ``batch_size`` at a time (inference mode; on a
    CPU at most :data:`CPU_BATCH`)."""
    tower = model.tower
    v = tower.visual
    dev = torch.device(device) if device is not None else v.conv1.weight.device
    if dev.type == "cpu":
        batch_size = min(batch_size, CPU_BATCH)
    out: list[np.ndarray] = []
    ctx = torch.autocast(dev.type, dtype=dtype) if dtype not in (None, torch.float32) else _null()
    with torch.inference_mode(), ctx:
        for s in range(0, len(tokens), batch_size):
            chunk = tokens[s:s + batch_size]
            patches = torch.stack([t.patches for t in chunk]).to(dev)
            pos = torch.stack([t.pos for t in chunk]).to(dev)
            scale = torch.stack([t.scale for t in chunk]).to(dev)
            pad = torch.stack([t.pad for t in chunk]).to(dev)
            b, n = scale.shape
            w = v.conv1.weight
            x = F.conv2d(patches[:, 1:].reshape(-1, *patches.shape[2:]).to(w.dtype), w, stride=v.conv1.stride)
            x = x.reshape(b, n - 1, -1)
            x = torch.where(pad[:, 1:, None], tower.mask_token.to(x.dtype).expand_as(x), x)
            x = x + tower.scale_embedding[0, scale[:, 1:]].to(x.dtype)
            cls = v.class_embedding.to(x.dtype).expand(b, 1, -1)
            x = torch.cat([cls, x], dim=1) + pos.to(x.dtype)
            x = v.ln_pre(x)
            for blk in v.transformer.resblocks:
                x = _block(blk, x, tower.heads)
            feat = v.ln_post(x[:, 0]) @ v.proj
            _, score = model.iqa_head(feat)
            out.append(score.double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _block(blk: torch.nn.Module, x: torch.Tensor, heads: int) -> torch.Tensor:
    """One pre-norm CLIP residual block with full (unmasked) attention."""
    b, length, d = x.shape
    attn = blk.attn
    y = blk.ln_1(x)
    qkv = F.linear(y, attn.in_proj_weight, attn.in_proj_bias)
    qkv = qkv.view(b, length, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
    o = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
    x = x + blk.ls_1(attn.out_proj(o.transpose(1, 2).reshape(b, length, d)))
    return x + blk.ls_2(blk.mlp(blk.ln_2(x)))


def _pos_embed(model: torch.nn.Module) -> torch.Tensor:
    return model.tower.visual.positional_embedding.detach().float().cpu()


def score_single(model: torch.nn.Module, image, seed: int = 0, **kw) -> float:
    """The official single-image score of ``image`` (path, ``(H, W, 3)`` uint8 or PIL image,
    full resolution) with ``random.seed(seed)`` before it."""
    return float(forward_official(model, [single_tokens(image, _pos_embed(model), seed)], **kw)[0])


def score_images(model: torch.nn.Module, images: Sequence, seed: int = 0, *, batch_size: int = 8,
                 progress: Callable[[int], None] | None = None, **kw) -> np.ndarray:
    """Single-image scores of many images, each with its own ``random.seed(seed)`` (so a
    score does not depend on the other images). ``images``: what :func:`single_tokens` takes,
    or functions returning it (read one at a time: only tokens are kept, never the pixels)."""
    pe = _pos_embed(model)
    out = []
    for s in range(0, len(images), batch_size):
        toks = [single_tokens(_frame(im), pe, seed) for im in images[s:s + batch_size]]
        out.append(forward_official(model, toks, batch_size=batch_size, **kw))
        if progress:
            progress(len(toks))
    return np.concatenate(out) if out else np.zeros(0)


def _frame(source):
    """A frame from its source: the source itself, or what calling it returns."""
    return source() if callable(source) else source


class FrameCache:
    """Full-resolution frames of one series, read when a pair needs them and kept while they
    fit in ``budget`` bytes (least recently used first out; the two frames of the pair at hand
    always stay). Why: a series held whole costs 72 MB a 24 MP frame, and a long burst or a
    100 MP body would not fit; read on demand, memory no longer grows with the series."""

    def __init__(self, sources: Sequence, budget: int = 320 << 20):
        self.sources = sources
        self.budget = budget
        self._kept: dict[int, np.ndarray] = {}
        self.reads = 0

    def get(self, i: int, keep: Sequence[int] = ()) -> np.ndarray:
        if i in self._kept:
            self._kept[i] = self._kept.pop(i)  # most recent last
            return self._kept[i]
        arr = as_array(_frame(self.sources[i]))
        self.reads += 1
        self._kept[i] = arr
        protect = {i, *keep}
        while sum(a.nbytes for a in self._kept.values()) > self.budget:
            old = next((k for k in self._kept if k not in protect), None)
            if old is None:
                break
            del self._kept[old]
        return arr


def blend(pair_scores: dict[int, list[float]]) -> dict[int, float]:
    """The official confidence adjustment: mean of each frame's pair scores, blended with the
    mean of all the series' pair scores when the series has ≥ 4 frames (own weight 0.3, 0.7,
    0.9 for 1, 2, ≥ 3 pair scores)."""
    own = {k: float(np.mean(v)) for k, v in pair_scores.items() if v}
    if len(pair_scores) < 4:
        return own
    everything = [s for v in pair_scores.values() for s in v]
    series_mean = float(np.mean(everything))
    w = {1: 0.3, 2: 0.7}
    return {k: w.get(len(pair_scores[k]), 0.9) * m + (1 - w.get(len(pair_scores[k]), 0.9)) * series_mean
            for k, m in own.items()}


@dataclass
class SeriesScores:
    """One series' result: ``scores`` (n,), ``pair_scores`` ``{(i, j): score of i in pair
    {i, j}}``, ``references`` (O(n) mode), ``passes`` (forward passes run)."""

    scores: np.ndarray
    mode: str
    pair_scores: dict[tuple[int, int], float] = field(default_factory=dict)
    references: list[int | None] = field(default_factory=list)
    passes: int = 0


def thumbnail_similarity(images: Sequence[np.ndarray]) -> np.ndarray:
    """``(n, n)`` similarity of ``(H, W, 3)`` uint8 frames (higher = more alike): minus the mean
    squared difference of 32×32 grey thumbnails. For choosing O(n) references when there are
    no embeddings; any size of working image will do."""
    from PIL import Image

    t = np.stack([np.asarray(Image.fromarray(np.asarray(im)).convert("L").resize(
        (32, 32), Image.Resampling.BILINEAR), np.float64).ravel() / 255 for im in images])
    return -((t[:, None, :] - t[None, :, :]) ** 2).mean(-1)


def frame_index(name: str) -> int | None:
    """The frame number the official series script reads from a file name ``<stem>-<k>.<ext>``
    (the text between the first ``-`` and the next ``.``), or ``None`` when there is none."""
    try:
        return int(name.split("-")[1].split(".")[0])
    except (IndexError, ValueError):
        return None


def series_naming(paths: Sequence) -> tuple[str, list[int]]:
    """The series id and frame numbers that seed a series' pairs, from its files alone (never
    from its place in a run, so a burst scores the same culled alone or within its parent).

    Official layout (every file in one folder, each named ``<stem>-<k>.<ext>`` with distinct
    ``k``): the folder's name (``str(int(name))`` when numeric) and the ``k`` — what the
    official series script uses, so photocull gives its numbers. Otherwise ``"s"`` plus 12 hex
    digits of the md5 of the sorted file names, and frames numbered 1..n in the given order."""
    from pathlib import Path

    ps = [Path(p) for p in paths]
    idx = [frame_index(p.name) for p in ps]
    folders = {p.parent.resolve() for p in ps}
    if len(folders) == 1 and None not in idx and len(set(idx)) == len(idx):
        name = next(iter(folders)).name
        try:
            name = str(int(name))
        except ValueError:
            pass
        return name, idx  # type: ignore[return-value]
    import hashlib

    digest = hashlib.md5("\n".join(sorted(p.name for p in ps)).encode("utf-8", "surrogateescape")).hexdigest()
    return "s" + digest[:12], list(range(1, len(ps) + 1))


def _ordered(i: int, j: int, idx: Sequence[int]) -> tuple[int, int]:
    """A pair as the official script forms it: the frame with the lower number first."""
    return (i, j) if idx[i] < idx[j] else (j, i)


@dataclass
class SeriesPlan:
    """Which token sets a series needs: ``pairs`` (official order, lower number first) and
    ``wanted`` ``{(i, j)}`` (frame ``i`` scored given ``j``); :meth:`finish` turns their scores
    into the frames' scores."""

    n: int
    numbers: list[int]
    exhaustive: bool
    pairs: list[tuple[int, int]]
    wanted: set[tuple[int, int]]
    references: list[int | None]

    @classmethod
    def make(cls, n: int, indices: Sequence[int] | None, exhaustive: bool,
             references: Sequence[int | None] | None) -> "SeriesPlan":
        idx = list(indices) if indices is not None else list(range(1, n + 1))
        if len(set(idx)) != n:
            raise ValueError(f"frame numbers must be distinct: {idx}")
        by_number = sorted(range(n), key=lambda k: idx[k])
        if exhaustive:
            pairs = list(itertools.combinations(by_number, 2))
            wanted = {(i, j) for i, j in pairs} | {(j, i) for i, j in pairs}
            return cls(n, idx, True, pairs, wanted, [None] * n)
        if references is None:
            raise ValueError("O(n) series scoring needs references")
        refs = list(references)
        wanted = {(i, r) for i, r in enumerate(refs) if r is not None}
        pairs = sorted({_ordered(i, r, idx) for i, r in wanted}, key=lambda p: (idx[p[0]], idx[p[1]]))
        return cls(n, idx, False, pairs, wanted, refs)

    def token_sets(self, pos_embed: torch.Tensor, images: Sequence, series_id: str,
                   budget: int | None = None):
        """``((i, j), tokens)`` for every wanted token set, pair by pair, frames read on demand
        and kept within ``budget`` bytes. Default: 320 MB for all pairs (a frame meets several
        partners in turn), none beyond the pair at hand in O(n) mode (each pair is a frame with
        the medoid, which stays as a member of every pair: a frame is read once either way)."""
        if budget is None:
            budget = 320 << 20 if self.exhaustive else 0
        frames = FrameCache(images, budget)
        for i, j in self.pairs:
            a = frames.get(i, keep=(j,))
            b = frames.get(j, keep=(i,))
            need = ((i, j) in self.wanted, (j, i) in self.wanted)
            ta, tb = pair_tokens(a, b, pos_embed, f"{series_id}_{self.numbers[i]}_{self.numbers[j]}", need=need)
            del a, b
            for key, t in (((i, j), ta), ((j, i), tb)):
                if t is not None:
                    yield key, t

    def finish(self, pair_scores: dict[tuple[int, int], float]) -> SeriesScores:
        n = self.n
        if self.exhaustive:
            order = sorted(range(n), key=lambda k: self.numbers[k])
            final = blend({i: [pair_scores[(i, j)] for j in order if j != i] for i in range(n)})
            return SeriesScores(np.array([final[i] for i in range(n)]), "exhaustive", pair_scores,
                                passes=len(pair_scores))
        scores = np.array([pair_scores[(i, self.references[i])] for i in range(n)])
        return SeriesScores(scores, "reference", pair_scores, self.references, passes=len(pair_scores))


def score_series(model: torch.nn.Module, images: Sequence, *, series_id: str = "0",
                 indices: Sequence[int] | None = None, exhaustive: bool = True,
                 references: Sequence[int | None] | None = None, seed: int = 0,
                 batch_size: int = 8, progress: Callable[[int], None] | None = None,
                 budget: int | None = None, **kw) -> SeriesScores:
    """Series-mode scores of ``images`` (full resolution, in series order).

    ``images``: what :func:`photocull.model.official_tokens.as_array` takes, or functions
    returning it; read when a pair needs them and kept within ``budget`` bytes
    (:class:`FrameCache`; default: :meth:`SeriesPlan.token_sets`). ``indices`` are the frame
    numbers of the pair ids (the official
    script takes them from file names ``name-<k>.ext``, see :func:`series_naming`; default
    1..n); each pair is formed lower number first, as the official script does. A series of
    one frame is scored in single-image mode with ``seed``. O(n) mode needs ``references``
    (see :func:`photocull.model.series.choose_references`) and builds and scores only the
    token sets it uses (each one still exactly the exhaustive run's).
    """
    if len(images) == 1:
        s = score_images(model, images, seed, batch_size=batch_size, **kw)
        return SeriesScores(scores=s, mode="single", passes=1)
    plan = SeriesPlan.make(len(images), indices, exhaustive, references)
    pair_scores: dict[tuple[int, int], float] = {}
    pending: list[tuple[tuple[int, int], OfficialTokens]] = []

    def flush() -> None:
        scores = forward_official(model, [t for _, t in pending], batch_size=batch_size, **kw)
        for (key, _), sc in zip(pending, scores):
            pair_scores[key] = float(sc)
        if progress:
            progress(len(pending))
        pending.clear()

    for key, t in plan.token_sets(_pos_embed(model), images, series_id, budget):
        pending.append((key, t))
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return plan.finish(pair_scores)
