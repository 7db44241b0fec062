"""The weight-free technical scorer: each frame judged against its series mates.

The measurements are in ``measures``; this module is the scoring. Why these: in a burst
the frames share subject and light, so what separates the keeper from its mates is
mostly technical: the sharp one (focus or motion), the one exposed right, the clean one.
Measurements are absolute (computed once per frame, cached); scores are relative to the
frame's series, so a dark scene is not "underexposed" just for being dark, and a soft
lens is not "blurred" when every frame is as soft.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from ..records import (
    BLURRED,
    COMPRESSED,
    NOISY,
    OVEREXPOSED,
    UNDEREXPOSED,
    Analysis,
    FrameScore,
    Series,
    TechnicalMetrics,
)
from .base import ScorerDefaults
from .consensus import ConsensusMeasure, consensus_measures
from .measures import LINEAR, QUANTILE_HI, QUANTILE_LO
from .registration import decode_thumb
from .measures import jpeg_tables, measure  # noqa: F401  (re-exported: callers of the scorer's module)

NOISE_GRACE = 1.4  # grain counts past 40 % over the reference: mild compression also quietens it


@dataclass(frozen=True)
class TechnicalThresholds:
    """When a measurement becomes a problem flag (documented in the README).

    Relative thresholds are in physical units a photographer uses: stops of light,
    halvings of fine detail, ratios of noise sigma per file pixel.
    """

    blur_rel_ev: float = 0.5  # blurred: fine-detail energy this many halvings (-30 %) below the series' sharpest
    blur_abs: float = 0.02  # ... or fine/coarse detail below this (any frame, singletons too)
    clip_high: float = 0.15  # overexposed: this fraction of pixels at white ...
    clip_low: float = 0.60  # underexposed: this fraction at black (night skies exist) ...
    clip_rel: float = 0.05  # ... (both) and this much beyond 1.5 x the series' median clipping
    dark_luma: float = 0.05  # underexposed: mean brightness below this, whatever the series
    exposure_rel_ev: float = 0.45  # over/under: this many stops (linear light) from the series' right exposure ...
    bracket_same_ev: float = 0.25  # ... its median, when two frames lie this close; else (a bracket) the ...
    bracket_clip: float = 0.02  # ... brightest frame clipping at most this much more highlight than the least clipped
    structure_blur_ev: float = 1.0  # blurred: coarse structure halved (a blur of a few px), where the fine band is all floor ...
    structure_noise_rel: float = 1.6  # ... and a mate shows it only when its frame-wide grain is not this many times ...
    structure_noise_min: float = 0.8  # ... and this much above the frame's (grain adds coarse energy; texture is structure)
    noise_rel: float = 1.6  # noisy: noise sigma this many times the quietest detailed, well-exposed mate's ...
    noise_min: float = 0.8  # ... and this much above it (0..255 per file pixel: about one visible level)
    noise_abs: float = 10.0  # noisy regardless of the series
    blocky_rel: float = 1.25  # JPEG block edges this much stronger than the series' median: re-compressed
    jpeg_rel_ev: float = 1.0  # compressed: JPEG step this many doublings coarser than the mates' (and than q~80) ...
    jpeg_abs_step: float = 30.0  # ... or at least this (8 x 8 DCT units: IJG quality ~18 or lower), whatever the series
    # Measure each frame against the consensus of its registered mates (scorers.consensus). Off by
    # default: it measured no better on the held-out families (docs/pick.md) and costs time.
    series_consensus: bool = False
    consensus_rel: float = 1.6  # noisy (against the series' consensus): unexplained fine band this many times the reference's


FLOOR_DOUBT = 0.1  # of the noise floor's energy: its percentile's bias (3-6 %) plus two standard errors (docs/pick.md)
CONSENSUS_FLOOR = 0.3  # 8-bit levels of the small copy added to every consensus residual (its own rounding)
JPEG_VISIBLE = 6.0  # low-frequency JPEG step below which compression is not seen at 100 % (IJG quality ~75-80)


def _ev(x: float, ref: float) -> float:
    return math.log2(max(x, 1e-5) / max(ref, 1e-5))


def _stops_between(a: TechnicalMetrics, b: TechnicalMetrics) -> float:
    """Stops of light from frame b to frame a, from the parts of the histogram neither has clipped.

    Exposure scales linear light, so every quantile of the luma histogram moves by the
    same factor, as long as it is not clipped in either frame. Clipped pixels do not move
    at all: a mean over a frame with a blown sky reads +0.8 EV as +0.4. The median of the
    per-quantile ratios is immune to both the clipped ends and a noisy frame's spread.
    """
    lo, hi = LINEAR[QUANTILE_LO], LINEAR[QUANTILE_HI]
    logs = [math.log2(x / y) for x, y in zip(a.exposure_quantiles, b.exposure_quantiles) if lo < x < hi and lo < y < hi]
    if len(logs) >= 3:
        return float(np.median(logs))
    return _ev(a.exposure, b.exposure)  # almost everything clipped: the means are all there is


def _exposure_evs(metrics: Sequence[TechnicalMetrics], t: TechnicalThresholds) -> list[float]:
    """Each frame's stops from the series' right exposure.

    Mostly the frames of a burst share one exposure and a few stray: the right exposure
    is the series' middle (a frame's stops: the median of its stops to every frame). In a
    bracket no two frames share an exposure, and its middle is no better than its ends: then the
    right exposure is the brightest frame that clips no more highlights than the least
    clipped one, plus ``bracket_clip`` (expose to the right, keep the highlights).
    """
    if len(metrics) < 3:
        return [0.0] * len(metrics)
    evs = [float(np.median([0.0 if i == j else _stops_between(a, b) for j, b in enumerate(metrics)])) for i, a in enumerate(metrics)]
    if any(abs(_stops_between(a, b)) <= t.bracket_same_ev for i, a in enumerate(metrics) for b in metrics[i + 1 :]):
        return evs  # two frames share an exposure: not a bracket
    budget = min(m.clipped_highlights for m in metrics) + t.bracket_clip
    ref = max((i for i, m in enumerate(metrics) if m.clipped_highlights <= budget), key=lambda i: evs[i])
    return [0.0 if i == ref else _stops_between(m, metrics[ref]) for i, m in enumerate(metrics)]


def _compression_ev(step: float, typical: float) -> float:
    """Doublings of the JPEG step beyond the mates' (both floored at what is visible)."""
    return math.log2(max(step, JPEG_VISIBLE) / max(typical, JPEG_VISIBLE))


def _exposure_problem(m: TechnicalMetrics, exposure_ev: float, med_hi: float, med_lo: float, alone: bool, t: TechnicalThresholds) -> str | None:
    """Over/under: stops away from the mates, or clipping far beyond theirs.

    Clipping alone is judged against the mates too: a high-key picture with a white
    sky is blown in every frame, and that is the photographer's choice. Only a frame
    with no mates to compare (or clipping beyond any intent) is judged on its own.
    """
    hot = exposure_ev > t.exposure_rel_ev or (
        m.clipped_highlights > t.clip_high and (alone or m.clipped_highlights > 1.5 * med_hi + t.clip_rel)
    )
    dark = (
        exposure_ev < -t.exposure_rel_ev
        or (m.clipped_shadows > t.clip_low and (alone or m.clipped_shadows > 1.5 * med_lo + t.clip_rel))
        or m.mean_luma < t.dark_luma
    )
    if hot and not dark:
        return OVEREXPOSED
    if dark and not hot:
        return UNDEREXPOSED
    return None


def _softened(m: TechnicalMetrics, mates: Sequence[TechnicalMetrics], t: TechnicalThresholds) -> bool:
    """Is ``m`` a blurred version of some mate (so its grain is quieter for that reason alone)?

    Blur takes away grain and fine detail together, grain (a sigma) at most in proportion
    to fine-detail energy (for white grain it falls as its square root). Added noise is
    the other way round: grain up several-fold, detail barely. So a mate that is sharper
    by a blur step and whose extra grain its extra detail explains shows ``m`` was
    softened. This holds when most of a burst is soft, where the median cannot tell.
    Its limit: white per-pixel grain much finer than the scene's detail falls under blur
    faster than detail does, and then a soft mate still passes for clean.
    Where the fine band holds nothing but its floor (a featureless or already soft scene), blur
    shows on the coarse band instead: a mate with twice the coarse structure shows ``m``
    softened, unless its flattest tiles are grainier by the noisy flag's margin (white grain adds
    coarse energy too; smeared, blotchy noise still can, and is the limit of this path).
    """
    return any(_finer(o, m, t) or _more_structured(o, m, t) for o in mates)


def _finer(o: TechnicalMetrics, m: TechnicalMetrics, t: TechnicalThresholds) -> bool:
    """``o`` has a blur step more fine detail than ``m``, its extra grain explained by it, and has
    not lost half of ``m``'s coarse structure (then its "detail" is the floor's, not the scene's)."""
    shown = _detail_shown(o, m)
    return (_ev(shown, m.sharpness) >= t.blur_rel_ev and _grain(o, m)[0] <= shown / max(m.sharpness, 1e-6)
            and _structure_ev(o, m) > -t.structure_blur_ev)


def _more_structured(o: TechnicalMetrics, m: TechnicalMetrics, t: TechnicalThresholds) -> bool:
    """``o`` has twice ``m``'s coarse structure and its flattest tiles are not grainier by the
    margin (white grain adds coarse energy too; per-level grain may be texture, which is structure)."""
    return (_structure_ev(o, m) >= t.structure_blur_ev
            and not (o.noise > t.structure_noise_rel * m.noise and o.noise - m.noise > t.structure_noise_min))


def _structure(m: TechnicalMetrics) -> float:
    """Coarse-band detail energy, brought to a common exposure (an exposure step of k stops
    scales sRGB contrast energy by about 2^(2k/2.2)); 0: not measured."""
    return m.structure / max(m.exposure, 1e-4) ** (2.0 / 2.2) if m.structure > 0 else 0.0


def _structure_ev(a: TechnicalMetrics, b: TechnicalMetrics) -> float:
    """Halvings of coarse structure from ``b`` up to ``a`` (0 when either was not measured)."""
    sa, sb = _structure(a), _structure(b)
    return math.log2(sa / sb) if sa > 0 and sb > 0 else 0.0


def _detail_shown(o: TechnicalMetrics, m: TechnicalMetrics) -> float:
    """The part of ``o``'s measured detail that its extra grain over ``m`` cannot account for.

    The floor taken out of the fine band is an estimate (a low percentile of the flat tiles: a
    few per cent below the grain, give or take its sampling error), so a tenth of it may be left
    in as "detail". Over a featureless scene (sky, water, a soft upscale) that remainder of a
    heavy grain is more than all the clean frame's detail: such a frame cannot show its clean
    mate to be a softened copy of it. Only the floor ``o`` carries beyond ``m``'s counts (grain
    both share does not tell them apart); where the grain is faint, this changes nothing.
    """
    return max(o.sharpness - FLOOR_DOUBT * max(o.floor_share - m.floor_share, 0.0), 0.0)


def _grain(m: TechnicalMetrics, ref: TechnicalMetrics) -> tuple[float, float]:
    """(ratio, excess): how many times ``ref``'s grain ``m`` carries, and by how many levels, at
    the luma level where it carries most (of the levels both have an estimate for).

    Why level by level: read noise lives in the shadows and shot noise in the mid-tones, so
    a frame's added grain shows at some levels and not at others; one sigma per frame (its
    flattest tiles, often a clean bright sky) misses it.
    """
    pairs = [(a, b) for a, b in zip(m.noise_levels, ref.noise_levels) if a > 0 and b > 0] or [(m.noise, ref.noise)]
    a, b = max(pairs, key=lambda p: (p[0] + 0.5) / (p[1] + 0.5))
    return (a + 0.5) / (b + 0.5), a - b


def _noisy(m: TechnicalMetrics, ref: TechnicalMetrics, t: TechnicalThresholds, shifted: bool = False) -> bool:
    """Grainier than the reference mate, level by level. ``shifted``: the frame's exposure is off,
    so its levels hold other parts of the scene than the reference's: only twice the margin counts."""
    ratio, excess = _grain(m, ref)
    k = 2.0 if shifted else 1.0
    return (ratio > k * t.noise_rel and excess > k * t.noise_min) or m.noise > t.noise_abs


def _consensus(metrics: Sequence[TechnicalMetrics], exposure_evs: Sequence[float]) -> list[ConsensusMeasure | None]:
    """Each frame against the consensus of its registered mates (None where there is none)."""
    thumbs = [decode_thumb(m.thumb) if m.thumb else None for m in metrics]
    return consensus_measures(thumbs, [2.0 ** ev for ev in exposure_evs])


def _consensus_grain(cms: Sequence[ConsensusMeasure | None], detailed: Sequence[bool]) -> list[float | None]:
    """How many times the reference's unexplained fine band each frame carries (None: no consensus).

    The reference is the quietest ``detailed`` frame (usable, and no mate shows it softened: the
    full-size measures see a slight blur the small copies do not): blur is explained by the
    consensus and leaves less residual, so a blurred frame, quieter for that alone, cannot set it.
    """
    cand = [c.grain for c, ok in zip(cms, detailed) if c is not None and ok]
    if not cand:
        return [None] * len(cms)
    ref = min(cand)
    return [(c.grain + CONSENSUS_FLOOR) / (ref + CONSENSUS_FLOOR) if c is not None else None for c in cms]


def _noise_judgement(metrics: Sequence[TechnicalMetrics], blocky: Sequence[bool], exposure: Sequence[str | None],
                     exposure_evs: Sequence[float], t: TechnicalThresholds,
                     ) -> tuple[list[float], list[bool], list[ConsensusMeasure | None]]:
    """(grain ratio, noisy, consensus measure) of each frame: against the consensus of its
    registered mates where it has one, else against the no-reference noise reference mate."""
    # The noise reference: the quietest frame that kept its fine detail and its exposure.
    # Nothing makes a frame cleaner than the scene except blur, compression (smoothed grain)
    # or a darker/brighter exposure (grain shifted in level): those cannot set it.
    usable = [m for m, b, e in zip(metrics, blocky, exposure) if not (b or e)] or list(metrics)
    # Grain past any series' standard is read as detail by every focus measure: such a frame
    # cannot say what "kept its detail" means (in a pair, the median is the mean of both).
    usable = [m for m in usable if m.noise <= t.noise_abs] or usable
    # "Kept its detail": no mate shows it to be a softened copy. Not "near the median": where
    # most frames are grainy (or the whole series soft) the median is grain, not detail.
    detailed = [m for m in usable if not _softened(m, usable, t)]
    ref = min(detailed, key=lambda m: m.noise) if detailed else sorted(metrics, key=lambda m: m.noise)[(len(metrics) - 1) // 2]
    grain = [_grain(m, ref)[0] for m in metrics]
    noisy = [_noisy(m, ref, t, e is not None) for m, e in zip(metrics, exposure)]
    # Against the series' consensus, grain is what no filter of the scene explains: texture,
    # focus and a soft scene all are explained, so neither passes for grain nor grain for them.
    cms = _consensus(metrics, exposure_evs) if t.series_consensus else [None] * len(metrics)
    by_consensus = _consensus_grain(cms, [any(m is d for d in detailed) for m in metrics])
    for i, (gc, b, e) in enumerate(zip(by_consensus, blocky, exposure)):
        if gc is not None:
            # On the small copies, residuals within the grace are misfit and rounding, not grain.
            grain[i] = max(grain[i], gc) if gc > NOISE_GRACE else grain[i]
            # block edges are residual too: a re-compressed frame is judged compressed, not noisy
            noisy[i] = noisy[i] or (not b and gc > t.consensus_rel * (2.0 if e else 1.0))
    return grain, noisy, cms


def score_series(metrics: Sequence[TechnicalMetrics], t: TechnicalThresholds = TechnicalThresholds()) -> list[FrameScore]:
    """Score the frames of one series relative to each other (0..10).

    Mates of a burst share subject and light, so every judgement is a comparison:
    fine detail against the sharpest clean mate, noise against the consensus of the
    registered mates (or, without one, the quietest detailed mate), JPEG blocking against
    the median, exposure in stops of linear light against the series' median (so a dark
    scene is not "underexposed" for being dark). A noisy frame never sets the sharpness reference.
    """
    typical_blocks = float(np.median([m.blockiness for m in metrics]))
    typical_step = float(np.median([m.jpeg_step for m in metrics]))
    compressed = [_compression_ev(m.jpeg_step, typical_step) >= t.jpeg_rel_ev or m.jpeg_step >= t.jpeg_abs_step for m in metrics]
    # A frame compressed hard has lost its grain (and gained block edges): it sets no reference.
    # Block edges mean re-compression only where the quantisation is coarser than the mates':
    # at the mates' own step they are the scene's edges falling on the 8 x 8 grid.
    coarser = [m.jpeg_step > typical_step for m in metrics]
    blocky = [(m.blockiness > max(typical_blocks, 1.0) * t.blocky_rel and q) or c
              for m, q, c in zip(metrics, coarser, compressed)]
    exposure_evs = _exposure_evs(metrics, t)
    med_hi = float(np.median([m.clipped_highlights for m in metrics]))
    med_lo = float(np.median([m.clipped_shadows for m in metrics]))
    exposure = [_exposure_problem(m, ev, med_hi, med_lo, len(metrics) < 3, t) for m, ev in zip(metrics, exposure_evs)]
    grain, noisy, cms = _noise_judgement(metrics, blocky, exposure, exposure_evs, t)
    # Grain past the grace, even below the flag, can still lift detail: such a frame never sets the reference.
    grainy = [g > NOISE_GRACE for g in grain]
    trusted = [i for i, (bad, b, e) in enumerate(zip(grainy, blocky, exposure)) if not (bad or b or e)] \
        or [i for i, bad in enumerate(noisy) if not bad] or list(range(len(metrics)))
    best_structure = max(trusted, key=lambda i: _structure(metrics[i]))
    # A frame that lost half the coarse structure of another sets no fine-detail reference: where
    # the fine band is all floor, blur takes the coarse band down and leaves "more" fine over coarse.
    best_sharp = max(metrics[i].sharpness for i in trusted
                     if _structure_ev(metrics[i], metrics[best_structure]) > -t.structure_blur_ev)
    out = []
    for i, m in enumerate(metrics):
        # Grain (its floor removed), heavy compression and clipping take fine detail too: a frame
        # with one of those flags is also blurred only when its detail fell twice as far.
        explained = noisy[i] or compressed[i] or exposure[i] is not None
        # Where the fine band is all floor (a featureless or already soft scene), blur shows on
        # the coarse band: a halving of its structure counts as the blur step on the fine band.
        # Not for a flagged frame: clipping, crushed shadows, grain and blocks change that band too.
        coarse_ev = 0.0 if explained else t.blur_rel_ev / t.structure_blur_ev * _structure_ev(m, metrics[best_structure])
        sharp_ev = min(_ev(m.sharpness, best_sharp), coarse_ev, 0.0)
        components = _components(m, grain[i], sharp_ev, coarser[i], exposure_evs[i], typical_blocks, typical_step, med_hi, med_lo)
        score = min(max(8.5 + sum(components.values()), 0.0), 10.0)
        problems = []
        # In a series blur is relative (a soft lens, a small picture upscaled, a shallow-focus
        # portrait: every mate is as soft); the absolute threshold judges a frame with no mates.
        if sharp_ev < -t.blur_rel_ev * (2.0 if explained else 1.0) or (len(metrics) == 1 and m.sharpness < t.blur_abs):
            problems.append(BLURRED)
        problems += [p for p, on in ((exposure[i], exposure[i] is not None), (NOISY, noisy[i]), (COMPRESSED, compressed[i])) if on]
        out.append(FrameScore(round(score, 4), components, problems, "series" if cms[i] is not None else "none"))
    return out


def _components(m: TechnicalMetrics, g: float, sharp_ev: float, is_coarser: bool, exposure_ev: float,
                typical_blocks: float, typical_step: float, med_hi: float, med_lo: float) -> dict[str, float]:
    """The score's parts for one frame, each a penalty (or the detail bonus) against its mates."""
    noise_ev = max(math.log2(g / NOISE_GRACE), 0.0)
    # Within the grace, grain still counts, gently: less per doubling than a halving of detail
    # costs, so a blurred mate (quieter by less than it is softer) never gains by it.
    grain_ev = min(max(math.log2(g), 0.0), math.log2(NOISE_GRACE))
    # Block edges count only beyond a 10 % grace: scene content moves the measure a little.
    blocks_ev = max(math.log2(max(m.blockiness, 1.0) / max(typical_blocks, 1.0) / 1.1), 0.0) if is_coarser else 0.0
    # A doubled quantisation step costs what a halving of fine detail does.
    quant_ev = min(max(_compression_ev(m.jpeg_step, typical_step), 0.0), 2.0)
    # Absolute terms make scores comparable across series (for the star mapping).
    abs_sharp = min(max((math.log2(max(m.sharpness, 1e-6)) + 7.0) / 5.0, 0.0), 1.0)
    clipping = max(m.clipped_highlights - max(med_hi, 0.005), 0.0) + max(m.clipped_shadows - max(med_lo, 0.01), 0.0)
    return {
        "sharpness": round(-2.5 * min(-sharp_ev, 3.0), 4),
        "noise": round(-2.0 * min(noise_ev, 2.5) - 1.0 * grain_ev - 0.1 * max(m.noise - 4.0, 0.0), 4),
        "exposure": round(-8.0 * min(clipping, 0.5) - 2.5 * min(max(abs(exposure_ev) - 0.1, 0.0), 2.0), 4),
        "compression": round(-max(8.0 * min(blocks_ev, 1.0), 2.5 * quant_ev), 4),
        "contrast": round(-4.0 * max(0.12 - m.contrast, 0.0), 4),
        "detail": round(1.5 * abs_sharp, 4),
    }


def with_technical_flags(
    series: Sequence[Series], analyses: Sequence[Analysis], thresholds: Any,
    own: Callable[[int, FrameScore], FrameScore],
) -> list[FrameScore]:
    """Scores of every frame of ``series``, each scorer's own, with the technical problem flags.

    Why one merge: every scorer names the same problems (blurred, noisy, ...), and they come
    from the technical scorer's series-relative judgement, so the flags (and the picks that
    avoid flagged frames) do not depend on which scorer ranks. ``own(index, technical)``
    turns the frame's technical FrameScore into the scorer's; frames of no series are "not scored".
    """
    out: list[FrameScore | None] = [None] * len(analyses)
    for s in series:
        tech = score_series([analyses[i].metrics for i in s.members], thresholds or TechnicalThresholds())
        for idx, t in zip(s.members, tech):
            fs = own(idx, t)
            out[idx] = fs if fs.reference else replace(fs, reference=t.reference)
    return [fs if fs is not None else FrameScore(0.0, problems=["not scored"]) for fs in out]


class TechnicalScorer(ScorerDefaults):
    """Scorer interface over :func:`score_series`."""

    name = "technical"
    version = "7"
    needs_images = False
    needs_embeddings = False

    def __init__(self, thresholds: TechnicalThresholds | None = None):
        self.thresholds = thresholds or TechnicalThresholds()

    def score(self, series: Sequence[Series], analyses: Sequence[Analysis], progress=None) -> list[FrameScore]:
        # The same merge as every scorer's; its own score is the technical one.
        return with_technical_flags(series, analyses, self.thresholds, lambda _idx, tech: tech)
