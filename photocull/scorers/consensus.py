"""The series as its own reference: each frame measured against the consensus of its registered mates.

Why: a no-reference measure cannot tell grain from fine detail (both are energy in the fine
band), nor a soft scene from a soft frame. The frames of a burst show one scene: registered
on their small copies and exposure-normalised in linear light, the per-pixel median of a
frame's mates is the scene without any one frame's grain or blur. Against it, fine detail
that agrees with the consensus (the part of the frame's fine band a small linear filter of
the consensus explains) is structure; what no such filter explains is grain, compression
or artefact. Blur is a filter, so a blurred frame is explained well and only loses gain.

Singletons, pairs (a pair's median is the other frame: whose grain is whose cannot be told)
and frames that do not register get no consensus (None), and the scorer falls back to the
no-reference measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .measures import CLIP_HI, CLIP_LO, LINEAR
from .registration import IDENTITY, Registration, box, register, warp

MIN_CONFIDENCE = 0.5  # a mate registered worse than this is no reference (its misfit would read as grain)
MIN_MATES = 2  # a consensus needs at least two registered mates (a median of one is that mate)
MIN_OVERLAP = 0.25  # ... and this share of the frame seen by all of them, unclipped
QUIET_SHARE = 50  # grain is read on the consensus' smoother half (percentile of its local activity)
_SRGB = np.round(np.interp(np.linspace(0.0, 1.0, 4097), LINEAR, np.arange(256.0)), 3)  # linear (4096 steps) -> sRGB level


@dataclass(frozen=True)
class ConsensusMeasure:
    """One frame against the consensus of its mates (on the small copies)."""

    detail: float  # fine-band gain against the consensus: 1 as sharp as it, < 1 softer
    grain: float  # RMS of the fine band no 3 x 3 filter of the consensus explains (8-bit levels of the small copy)
    confidence: float  # its registration's
    mates: int  # how many registered mates made the consensus


def _to_srgb(lin: np.ndarray) -> np.ndarray:
    return _SRGB[np.clip(np.rint(lin * 4096.0), 0, 4096).astype(np.intp)]


def _fine(x: np.ndarray) -> np.ndarray:
    """The finest band: the frame less its 3 x 3 mean."""
    return x - box(x, 1)


def _explained(f: np.ndarray, c: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(gain, residual RMS) of the fine band of ``f`` against that of ``c`` where ``mask``.

    Gain: the projection of f's fine band on c's (noise in f, uncorrelated with c, adds
    nothing to it). Residual: what is left of f's fine band after the best 3 x 3 linear
    filter of c's (least squares): blur, shake or sharpening are filters and leave nothing;
    grain, blocks and misfit remain. The residual is read where the consensus is smoothest
    (its quieter half): at edges a tenth of a pixel of misfit outweighs any grain.
    """
    ff, cf = _fine(f), _fine(c)
    inner = box(mask.astype(np.float32), 2) > 0.999  # the fine band and its 3 x 3 taps see no pixel outside
    inner[:2, :] = inner[-2:, :] = inner[:, :2] = inner[:, -2:] = False
    inner[1::2, :] = False  # every other row and column: a quarter of the cost, the same fit
    inner[:, 1::2] = False
    y = ff[inner].astype(np.float64)
    cols = [np.roll(np.roll(cf, dy, 0), dx, 1)[inner] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    a = np.stack(cols, axis=1).astype(np.float64)
    centre = a[:, 4]
    gain = float(centre @ y / max(float(centre @ centre), 1e-9))
    coef = np.linalg.solve(a.T @ a + 1e-6 * np.eye(9), a.T @ y)
    resid = y - a @ coef
    activity = box(np.abs(c - box(c, 2)), 2)[inner]
    quiet = activity <= np.percentile(activity, QUIET_SHARE)
    return gain, float(np.sqrt(np.mean(resid[quiet] ** 2)))


def _registrations(thumbs: Sequence[np.ndarray], gains: Sequence[float]) -> tuple[list[Registration], int]:
    """Each frame registered to the anchor (mapping the anchor's pixels into it), and the anchor's index.

    The anchor is the frame with the least clipped area (a blown or crushed frame has nothing
    to register on there), and every frame is brought to the series' middle exposure first (the
    fit compares levels).
    """
    common = float(np.median(gains))
    levels = [_to_srgb(LINEAR[t] * (common / g)).astype(np.float32) for t, g in zip(thumbs, gains)]
    clipped = [float(np.mean((t <= CLIP_LO) | (t >= CLIP_HI))) for t in thumbs]
    anchor = min(range(len(thumbs)), key=lambda i: (round(clipped[i], 2), abs(i - len(thumbs) // 2)))
    out = [register(levels[anchor], v) if i != anchor else IDENTITY for i, v in enumerate(levels)]
    # The anchor is as trustworthy as its best-registered mate.
    best = max((r.confidence for i, r in enumerate(out) if i != anchor), default=0.0)
    out[anchor] = Registration(1.0, 0.0, 0.0, 0.0, best)
    return out, anchor


def leave_one_out_medians(stack: Sequence[np.ndarray]) -> list[np.ndarray]:
    """For each image of ``stack``, the per-pixel median of all the others (one sort for all).

    With the n values of a pixel sorted, leaving out the one at rank r shifts every rank at
    or above r down by one: the others' k-th value is the k-th sorted value below r, the
    (k + 1)-th from r on.
    """
    a = np.stack(stack)
    n = len(a)
    order = np.argsort(a, axis=0, kind="stable")
    s = np.take_along_axis(a, order, axis=0)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n)[:, None, None], axis=0)
    lo, hi = (n - 2) // 2, (n - 1) // 2  # the middle rank(s) among n - 1 values
    out = []
    for i in range(n):
        r = rank[i]
        a_lo = np.where(r > lo, s[lo], s[min(lo + 1, n - 1)])
        a_hi = np.where(r > hi, s[hi], s[min(hi + 1, n - 1)])
        out.append(0.5 * (a_lo + a_hi))
    return out


def _in_anchor_grid(thumbs: Sequence[np.ndarray], gains: Sequence[float], regs: Sequence[Registration],
                    ok: Sequence[bool], anchor: int) -> tuple[list[np.ndarray | None], np.ndarray]:
    """Every registered frame's light at the series' middle exposure, resampled on the anchor's grid
    (None for the others), and where each is seen unclipped (a boolean stack)."""
    shape = thumbs[anchor].shape
    common = float(np.median(gains))  # every frame is judged at the series' middle exposure: a dark frame's grain brightened
    lights: list[np.ndarray | None] = []
    seen = np.zeros((len(thumbs), *shape), dtype=bool)
    for j, (tj, reg) in enumerate(zip(thumbs, regs)):
        if not ok[j]:
            lights.append(None)
            continue
        lin = LINEAR[tj].astype(np.float32) * np.float32(common / gains[j])
        clip = np.where((tj <= CLIP_LO) | (tj >= CLIP_HI), np.float32(np.nan), np.float32(0.0))
        v, cover = warp(lin + clip, reg.matrix(), shape)  # a clipped pixel's neighbours come back NaN
        seen[j] = cover & np.isfinite(v)
        lights.append(np.nan_to_num(v))
    return lights, seen


def _frame_against(i: int, thumbs: Sequence[np.ndarray], gains: Sequence[float], regs: Sequence[Registration],
                   lights: Sequence[np.ndarray | None], seen: np.ndarray, medians: dict[int, np.ndarray]) -> ConsensusMeasure | None:
    """Frame i against the per-pixel median of its registered mates (on the anchor's grid, then
    resampled on frame i's own: its grain is measured as it was recorded, never interpolated)."""
    mates = [j for j, v in enumerate(lights) if v is not None and j != i]
    if len(mates) < MIN_MATES:
        return None
    both = np.all(seen[mates], axis=0)
    median = medians[i]
    t = thumbs[i]
    back = np.linalg.inv(regs[i].matrix())  # frame i's pixels on the anchor's grid
    value, cover = warp(np.where(both, median, np.float32(np.nan)), back, t.shape)
    common = float(np.median(gains))
    own = _to_srgb(LINEAR[t] * (common / gains[i])).astype(np.float32)
    consensus = _to_srgb(np.nan_to_num(value)).astype(np.float32)
    inside = cover & np.isfinite(value) & (t > CLIP_LO) & (t < CLIP_HI)
    inside &= (consensus > CLIP_LO) & (consensus < CLIP_HI) & (own > CLIP_LO) & (own < CLIP_HI)
    if inside.mean() < MIN_OVERLAP:
        return None
    gain, resid = _explained(own, consensus, inside)
    return ConsensusMeasure(round(gain, 4), round(resid, 4), round(regs[i].confidence, 4), len(mates))


def consensus_measures(thumbs: Sequence[np.ndarray | None], gains: Sequence[float]) -> list[ConsensusMeasure | None]:
    """Each frame of a series against the consensus of its mates; None where there is none.

    ``thumbs``: the frames' small luma copies (None: not kept); ``gains``: each frame's
    exposure as a factor of linear light (2 ** stops, any common origin). A frame gets a
    consensus when it and at least MIN_MATES mates registered with MIN_CONFIDENCE.
    """
    if len(thumbs) < MIN_MATES + 1 or any(t is None for t in thumbs):
        return [None] * len(thumbs)
    ts = [t for t in thumbs if t is not None]
    shape = ts[0].shape
    if any(abs(t.shape[0] - shape[0]) > 2 or abs(t.shape[1] - shape[1]) > 2 for t in ts):
        return [None] * len(thumbs)  # another aspect or size: not one burst's frames
    regs, anchor = _registrations(ts, gains)
    ok = [r.confidence >= MIN_CONFIDENCE for r in regs]
    if sum(ok) < MIN_MATES + 1:
        return [None] * len(ts)
    lights, seen = _in_anchor_grid(ts, gains, regs, ok, anchor)
    registered = [j for j, v in enumerate(lights) if v is not None]
    medians = dict(zip(registered, leave_one_out_medians([lights[j] for j in registered])))
    return [_frame_against(i, ts, gains, regs, lights, seen, medians) if ok[i] else None for i in range(len(ts))]
