"""The weight-free technical scorer: sharpness, exposure, noise, contrast.

Why these: in a burst the frames share subject and light, so what separates the keeper
from its mates is mostly technical: the sharp one (focus or motion), the one exposed
right, the clean one. Measurements are absolute (computed once per frame, cached);
scores are relative to the frame's series, so a dark scene is not "underexposed"
just for being dark, and a soft lens is not "blurred" when every frame is as soft.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from ..records import (
    BLURRED,
    NOISY,
    OVEREXPOSED,
    UNDEREXPOSED,
    Analysis,
    FrameScore,
    Series,
    TechnicalMetrics,
)

METRIC_LONG_SIDE = 1600  # exposure and noise are measured on at most this many pixels across
SHARPNESS_LONG_SIDE = 800  # sharpness at ~800 px: fine enough for focus, coarse enough to beat noise
NOISE_PATCH = 24  # noise is estimated on a 24 x 24 window of each of the 256 tiles
TILES = 16  # the frame is judged by its sharpest tiles (the subject), not the mean (the bokeh)
_IMMERKAER = math.sqrt(math.pi / 2) / 6


def _gray(img: Image.Image) -> Image.Image:
    """8-bit luma at most METRIC_LONG_SIDE across (PIL's C code: ~1 ms for a draft-decoded 24 MP)."""
    gray = img if img.mode == "L" else img.convert("L")
    if max(gray.size) > METRIC_LONG_SIDE:
        gray = gray.reduce(math.ceil(max(gray.size) / METRIC_LONG_SIDE))
    return gray


def _tile_means(a: np.ndarray, tiles: int) -> np.ndarray:
    """Mean of ``a`` over a tiles x tiles grid (edges trimmed to fit), flattened."""
    th, tw = a.shape[0] // tiles, a.shape[1] // tiles
    a = a[: th * tiles, : tw * tiles]
    return a.reshape(tiles, th, tiles, tw).mean(axis=(1, 3)).ravel()


def _noise_sigma(g: np.ndarray, patch: int | None = None) -> float:
    """Noise sigma (0..255) by Immerkaer's estimate over the flattest unclipped tiles.

    Immerkaer's 3x3 mask cancels smooth image structure; the flattest tiles keep
    texture out, and clipped black or white (which hides noise) is skipped. With
    ``patch``, only a patch x patch window in the middle of each tile is examined: the
    10th percentile over 256 tiles needs no more, and it is 5x cheaper at full size.
    """
    th, tw = g.shape[0] // TILES, g.shape[1] // TILES
    tiles = g[: th * TILES, : tw * TILES].reshape(TILES, th, TILES, tw)
    if patch is not None and patch < min(th, tw):
        y0, x0 = (th - patch) // 2, (tw - patch) // 2
        tiles = tiles[:, y0 : y0 + patch, :, x0 : x0 + patch]
    tiles = tiles.astype(np.float32)  # only the examined pixels are converted
    c = tiles[:, 1:-1, :, 1:-1]
    edges = tiles[:, :-2, :, 1:-1] + tiles[:, 2:, :, 1:-1] + tiles[:, 1:-1, :, :-2] + tiles[:, 1:-1, :, 2:]
    corners = tiles[:, :-2, :, :-2] + tiles[:, :-2, :, 2:] + tiles[:, 2:, :, :-2] + tiles[:, 2:, :, 2:]
    sigma = _IMMERKAER * np.abs(4 * c - 2 * edges + corners).mean(axis=(1, 3)).ravel()
    level = c.mean(axis=(1, 3)).ravel()
    unclipped = (level > 25) & (level < 230)
    return float(np.percentile(sigma[unclipped] if unclipped.sum() >= 8 else sigma, 10))


def _directional_detail(g: np.ndarray, noise: float) -> tuple[float, float]:
    """Detail energy of the sharpest tiles and of all tiles, over the image variance.

    Second differences along four directions (horizontal, vertical, two diagonals);
    the geometric mean over directions drops sharply under motion blur, which wipes
    out detail along one direction only. White noise of sigma s adds 6 s^2 to each
    direction's energy: taken out, so noise is not "detail". Dividing by the
    variance makes the measure exposure-invariant (+1 EV quadruples both).
    """
    c2 = 2 * g[1:-1, 1:-1]
    diffs = (
        g[1:-1, :-2] + g[1:-1, 2:] - c2,
        g[:-2, 1:-1] + g[2:, 1:-1] - c2,
        g[:-2, :-2] + g[2:, 2:] - c2,
        g[:-2, 2:] + g[2:, :-2] - c2,
    )
    variance = max(float(g.var()), 1.0)
    floor = 6.0 * noise * noise
    top_k = max(1, TILES * TILES // 10)
    tops, means = [], []
    for d in diffs:
        energy = _tile_means(d * d, TILES)
        tops.append(max(float(np.sort(energy)[-top_k:].mean()) - floor, 1e-6) / variance)
        means.append(max(float(energy.mean()) - floor, 1e-6) / variance)
    return float(np.exp(np.mean(np.log(tops)))), float(np.exp(np.mean(np.log(means))))


def measure(img: Image.Image) -> TechnicalMetrics:
    """Absolute technical measurements of one decoded frame (RGB or L, any size)."""
    gray = _gray(img)
    if min(gray.size) < 4 * TILES:
        raise ValueError(f"image too small to measure ({gray.size[0]}x{gray.size[1]} pixels)")
    hist = np.asarray(gray.histogram(), dtype=np.float64)
    total = hist.sum()
    levels = np.arange(256, dtype=np.float64)
    mean = float((hist * levels).sum() / total)
    std = float(np.sqrt(max((hist * (levels - mean) ** 2).sum() / total, 0.0)))
    small = gray.reduce(max(1, round(max(gray.size) / SHARPNESS_LONG_SIDE)))
    gs = np.asarray(small if min(small.size) >= 4 * TILES else gray, dtype=np.float32)
    sharp, sharp_mean = _directional_detail(gs, _noise_sigma(gs, patch=NOISE_PATCH))
    return TechnicalMetrics(
        sharpness=sharp,
        sharpness_mean=sharp_mean,
        clipped_highlights=float(hist[250:].sum() / total),
        clipped_shadows=float(hist[:6].sum() / total),
        mean_luma=mean / 255.0,
        contrast=std / 255.0,
        noise=_noise_sigma(np.asarray(gray), patch=NOISE_PATCH),
    )


@dataclass(frozen=True)
class TechnicalThresholds:
    """When a measurement becomes a problem flag (documented in the README)."""

    blur_rel_ev: float = 1.4  # blurred: sharpness this many halvings below the series' sharpest
    blur_abs: float = 0.005  # ... or below this absolute sharpness (any frame, singletons too)
    clip_high: float = 0.15  # overexposed: this fraction of pixels at white, whatever the series
    clip_low: float = 0.60  # underexposed: this fraction at black, whatever the series (night skies exist)
    dark_luma: float = 0.05  # underexposed: mean brightness below this, whatever the series
    exposure_rel_ev: float = 0.7  # over/under: this many stops from the series' median ...
    clip_rel: float = 0.02  # ... with this much more clipping than the series' median
    noise_rel: float = 2.0  # noisy: noise this many times the series' cleanest ...
    noise_min: float = 4.0  # ... and above this sigma (0..255)
    noise_abs: float = 12.0  # noisy regardless of the series


def _ev(x: float, ref: float) -> float:
    return math.log2(max(x, 1e-5) / max(ref, 1e-5))


def _exposure_problem(m: TechnicalMetrics, exposure_ev: float, med_hi: float, med_lo: float, t: TechnicalThresholds) -> str | None:
    hot = m.clipped_highlights > t.clip_high or (
        exposure_ev > t.exposure_rel_ev and m.clipped_highlights > med_hi + t.clip_rel
    )
    dark = (
        m.clipped_shadows > t.clip_low
        or m.mean_luma < t.dark_luma
        or (exposure_ev < -t.exposure_rel_ev and (m.clipped_shadows > med_lo + t.clip_rel or m.mean_luma < 0.2))
    )
    if hot and not dark:
        return OVEREXPOSED
    if dark and not hot:
        return UNDEREXPOSED
    return None


def score_series(metrics: Sequence[TechnicalMetrics], t: TechnicalThresholds = TechnicalThresholds()) -> list[FrameScore]:
    """Score the frames of one series relative to each other (0..10).

    Sharpness is compared only with frames of similar noise: noise reads as fine detail
    to any sharpness measure, so a noisy frame neither sets the series' reference
    nor gets credit above it.
    """
    cleanest = min(m.noise for m in metrics)
    noisy = [
        ((m.noise + 1.0) / (cleanest + 1.0) > t.noise_rel and m.noise > t.noise_min) or m.noise > t.noise_abs
        for m in metrics
    ]
    trusted = [m.sharpness for m, bad in zip(metrics, noisy) if not bad] or [m.sharpness for m in metrics]
    best_sharp = max(trusted)
    median_luma = float(np.median([m.mean_luma for m in metrics]))
    med_hi = float(np.median([m.clipped_highlights for m in metrics]))
    med_lo = float(np.median([m.clipped_shadows for m in metrics]))
    out = []
    for m, is_noisy in zip(metrics, noisy):
        sharp_ev = min(_ev(m.sharpness, best_sharp), 0.0)
        noise_ratio = (m.noise + 1.0) / (cleanest + 1.0)
        exposure_ev = _ev(m.mean_luma, median_luma) if len(metrics) > 2 else 0.0
        # Absolute terms make scores comparable across series (for the star mapping).
        abs_sharp = min(max((math.log2(m.sharpness) + 9.0) / 8.0, 0.0), 1.0)  # 1 = crisp (energy >= variance)
        clipping = max(m.clipped_highlights - max(med_hi, 0.01), 0.0) + max(m.clipped_shadows - max(med_lo, 0.02), 0.0)
        components = {
            "sharpness": round(-2.0 * min(-sharp_ev, 3.0), 4),
            "noise": round(-2.0 * min(math.log2(noise_ratio), 2.0) - 0.08 * max(m.noise - 3.0, 0.0), 4),
            "exposure": round(-6.0 * min(clipping, 0.5) - 1.5 * min(abs(exposure_ev), 2.0), 4),
            "contrast": round(-4.0 * max(0.12 - m.contrast, 0.0), 4),
            "detail": round(1.5 * abs_sharp, 4),
        }
        score = min(max(8.5 + sum(components.values()), 0.0), 10.0)
        problems = []
        if sharp_ev < -t.blur_rel_ev or m.sharpness < t.blur_abs:
            problems.append(BLURRED)
        exposure = _exposure_problem(m, exposure_ev, med_hi, med_lo, t)
        if exposure:
            problems.append(exposure)
        if is_noisy:
            problems.append(NOISY)
        out.append(FrameScore(round(score, 4), components, problems))
    return out


class TechnicalScorer:
    """Scorer interface over :func:`score_series`."""

    name = "technical"
    version = "1"
    needs_images = False
    needs_embeddings = False

    def __init__(self, thresholds: TechnicalThresholds | None = None):
        self.thresholds = thresholds or TechnicalThresholds()

    def score(self, series: Sequence[Series], analyses: Sequence[Analysis], progress=None) -> list[FrameScore]:
        scores: list[FrameScore | None] = [None] * len(analyses)
        for s in series:
            for idx, fs in zip(s.members, score_series([analyses[i].metrics for i in s.members], self.thresholds)):
                scores[idx] = fs
        return [fs if fs is not None else FrameScore(0.0, problems=["not scored"]) for fs in scores]
