"""Technical measurements of one frame: sharpness, noise, exposure, JPEG history.

Absolute and computed once per frame (in the decode workers, cached); what they mean for
a frame is judged against its series mates in ``technical`` (the scoring).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image

from ..records import TechnicalMetrics
from .registration import THUMB_SIDE, encode_thumb

METRIC_LONG_SIDE = 1600  # everything is measured on at most this many pixels across
NOISE_PATCH = 24  # noise is estimated on a 24 x 24 window of each of the 256 tiles
TILES = 16  # the frame is judged by its most structured tiles (the subject), not the mean (the bokeh)
COARSE = 4  # the reference band: detail of the image binned 4 x 4, which blur of a pixel or two leaves alone
CLIP_LO, CLIP_HI = 6, 249  # 8-bit levels taken as clipped (crushed black, blown white)
_IMMERKAER = math.sqrt(math.pi / 2) / 6
EXPOSURE_QUANTILES = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 5 %, 10 %, ... 95 % of the luma histogram
# Quantiles this close to a clip point are not compared: noise and clipping distort them.
QUANTILE_LO, QUANTILE_HI = 12, 243
# sRGB level -> linear light, for exposure in stops
LINEAR = np.where((v := np.arange(256) / 255.0) <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _gray(img: Image.Image) -> Image.Image:
    """8-bit luma at most METRIC_LONG_SIDE across (PIL's C code: ~1 ms for a draft-decoded 24 MP)."""
    gray = img if img.mode == "L" else img.convert("L")
    if max(gray.size) > METRIC_LONG_SIDE:
        gray = gray.reduce(math.ceil(max(gray.size) / METRIC_LONG_SIDE))
    return gray


_NEIGHBOURS = (((1, 0), (1, 2)), ((0, 1), (2, 1)), ((0, 0), (2, 2)), ((0, 2), (2, 0)))  # [1, -2, 1] taps around (1, 1)
NOISE_LEVELS = (25, 55, 90, 135, 185, 230)  # 8-bit luma bin edges of the noise profile: shadows ... highlights
NOISE_QUANTILE = 20  # per level bin: the 20th percentile of its tiles' sigma (the flattest of them)
NOISE_MIN_TILES = 6  # a bin with fewer unclipped tiles has no estimate of its own
BAND_CAP = 2.0  # the fine-band noise floor's sigma is at most this many times Immerkaer's


def _patch_stats(patches: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Immerkaer sigma, mean level, fine-band energy) of each patch of a (k, ph, pw) stack."""
    k, ph, pw = patches.shape
    # The patches side by side (long rows are what numpy is fast on); 8-bit: exact in int16.
    n = k * pw
    wide = np.zeros((ph, n + 2), dtype=np.int16 if patches.dtype == np.uint8 else np.float32)
    wide[:, :n] = patches.transpose(1, 0, 2).reshape(ph, n)
    c = wide[1:-1, 1 : n + 1]
    resid = 4 * c
    resid -= 2 * (wide[:-2, 1 : n + 1] + wide[2:, 1 : n + 1] + wide[1:-1, :n] + wide[1:-1, 2 : n + 2])
    resid += wide[:-2, :n] + wide[:-2, 2 : n + 2] + wide[2:, :n] + wide[2:, 2 : n + 2]
    # Column j holds the residual centred on column j + 1: each patch's own are its first pw - 2.
    inner = float((ph - 2) * (pw - 2))
    sigma = _IMMERKAER * np.abs(resid).reshape(ph - 2, k, pw)[:, :, : pw - 2].sum(axis=(0, 2), dtype=np.float64) / inner
    level = c.reshape(ph - 2, k, pw)[:, :, : pw - 2].sum(axis=(0, 2), dtype=np.float64) / inner
    energy = np.zeros(k)
    c2 = (2 * c).astype(np.float32)
    for (ay, ax), (by, bx) in _NEIGHBOURS:
        d = wide[ay : ay + ph - 2, ax : ax + n].astype(np.float32) + wide[by : by + ph - 2, bx : bx + n] - c2
        energy += np.square(d).reshape(ph - 2, k, pw)[:, :, : pw - 2].sum(axis=(0, 2), dtype=np.float64)
    return sigma, level, energy / (4 * inner)


def _noise_tiles(g: np.ndarray, patch: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sigma, mean level, fine-band energy, coarse sigma) of each of the TILES x TILES tiles.

    sigma: Immerkaer's estimate, whose 3x3 mask cancels smooth image structure; it sees
    white noise. Coarse sigma: the same on the patch binned 2 x 2, times 2 (equal to sigma
    for white noise): blotchy noise (chroma noise's share of luma, grain smeared by noise
    reduction) is white at that scale. Fine-band energy: the [1, -2, 1] energy per pixel
    (mean of four directions) that the sharpness measure reads; in a flat tile it is what
    noise of any spectrum adds to that band. With ``patch``, only a patch x patch window in
    the middle of each tile is examined: a percentile over 256 tiles needs no more, and it
    is 5x cheaper at full size.
    """
    th, tw = g.shape[0] // TILES, g.shape[1] // TILES
    ph, pw = (patch, patch) if patch is not None and patch < min(th, tw) else (th, tw)
    y0, x0 = (th - ph) // 2, (tw - pw) // 2
    tiles = g[: th * TILES, : tw * TILES].reshape(TILES, th, TILES, tw)[:, y0 : y0 + ph, :, x0 : x0 + pw]
    patches = tiles.transpose(0, 2, 1, 3).reshape(TILES * TILES, ph, pw)
    sigma, level, energy = _patch_stats(patches)
    h2, w2 = ph // 2 * 2, pw // 2 * 2
    p = patches[:, :h2, :w2].astype(np.float32)
    binned = 0.25 * (p[:, 0::2, 0::2] + p[:, 1::2, 0::2] + p[:, 0::2, 1::2] + p[:, 1::2, 1::2])
    coarse = _patch_stats(binned)[0] * 2.0 if min(h2, w2) >= 8 else sigma
    return sigma, level, energy, coarse


def noise_profile(sigma: np.ndarray, level: np.ndarray) -> list[float]:
    """Noise sigma per luma bin (NOISE_LEVELS) from the flattest tiles of each; 0 where a bin has too few tiles.

    Given the tiles' fine-band energy instead, as ``sqrt(energy / 6)`` (the white noise of the
    same energy), it sees noise of any spectrum, and texture too: the comparison between mates
    uses that, the noise floor removed from detail the texture-blind Immerkaer sigma.

    Why per level: after the tone curve, read noise dominates the shadows and shot noise
    the mid-tones, while a bright sky (the flattest tiles, which one frame-wide sigma
    comes from) is nearly clean. One sigma from the sky is far below the grain where
    the subject is, so grain would pass for detail.
    """
    out = []
    for lo, hi in zip(NOISE_LEVELS[:-1], NOISE_LEVELS[1:]):
        sel = sigma[(level >= lo) & (level < hi)]
        out.append(float(np.percentile(sel, NOISE_QUANTILE)) if sel.size >= NOISE_MIN_TILES else 0.0)
    return out


def profile_at(profile: Sequence[float], levels: np.ndarray, fallback: float) -> np.ndarray:
    """The profile's sigma at each luma level, linear between bin centres (flat beyond the
    outermost bins that have an estimate; ``fallback`` where none has)."""
    known = [(0.5 * (lo + hi), v) for lo, hi, v in zip(NOISE_LEVELS[:-1], NOISE_LEVELS[1:], profile) if v > 0]
    if not known:
        return np.full(np.shape(levels), float(fallback))
    return np.interp(levels, [k[0] for k in known], [k[1] for k in known])


def _frame_sigma(sigma: np.ndarray, level: np.ndarray) -> float:
    """One sigma for the frame: the 10th percentile over unclipped tiles (clipping hides noise)."""
    unclipped = (level > 25) & (level < 230)
    return float(np.percentile(sigma[unclipped] if unclipped.sum() >= 8 else sigma, 10))


def _valid(g: np.ndarray) -> np.ndarray:
    """Interior pixels whose 3 x 3 neighbourhood has no clipped pixel (boolean, last two axes).

    A clipped highlight has a hard, invented edge: counting it would make the blown
    frame look sharpest, so clipped neighbourhoods carry no detail at all.
    """
    ok = (g > CLIP_LO) & (g < CLIP_HI)
    v = ok[..., :-2, :-2] & ok[..., :-2, 1:-1]
    for dy, dx in ((0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)):
        v &= ok[..., dy : dy + v.shape[-2], dx : dx + v.shape[-1]]
    return v


def _box_means(g: np.ndarray, k: int) -> np.ndarray:
    """Means of k x k blocks of 8-bit ``g`` (float32, exact), by k + k strided sums.

    Why not ``reshape(...).mean(axis=(1, 3))``: that is 20x slower on a 1.5 MP frame.
    """
    rows = g[0::k].astype(np.uint16)
    for i in range(1, k):
        rows += g[i::k]
    sums = rows[:, 0::k].copy()
    for j in range(1, k):
        sums += rows[:, j::k]
    return sums.astype(np.float32) * np.float32(1.0 / (k * k))


def make_thumb(g: np.ndarray) -> np.ndarray:
    """The frame's 8-bit luma reduced by a whole factor to at most THUMB_SIDE across (block means, uint8):
    what the frame is registered and compared with its series mates on (``consensus``)."""
    k = max(1, math.ceil(max(g.shape) / THUMB_SIDE))
    h, w = g.shape[0] // k * k, g.shape[1] // k * k
    means = _box_means(np.ascontiguousarray(g[:h, :w]), k) if k > 1 else g[:h, :w].astype(np.float32)
    return np.rint(means).astype(np.uint8)


_CHUNK_ROWS = 16  # 16 rows of 8-bit second differences squared stay exact in float32 (16 * 1020^2 < 2^24)


def _stack_energy(stack: np.ndarray, noise: float | np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-direction second-difference energy of each tile in a (k, h + 2, w + 2) stack.

    Energy per unclipped interior pixel, with the noise floor (white noise of sigma s adds
    6 s^2 to a [1, -2, 1] energy) removed. Why this layout: numpy is slow on many small
    tiles and on arrays larger than the cache, so the tiles are laid side by side (long
    rows; the two columns where one tile meets the next are left out) and worked through
    a few rows at a time. For 8-bit input every sum is exact. Also returns each tile's
    count of unclipped pixels.
    """
    k, hh, ww = stack.shape
    h, w = hh - 2, ww - 2
    n = k * ww
    g = np.zeros((hh, n + 2), dtype=np.float32)  # two spare columns: every shifted view is n wide
    g[:, :n] = stack.transpose(1, 0, 2).reshape(hh, n)
    if stack.min() <= CLIP_LO or stack.max() >= CLIP_HI:
        mask = _valid(g)
        mask.reshape(h, k, ww)[:, :, w:] = False
        count = np.add.reduce(mask, axis=0, dtype=np.int64).reshape(k, ww).sum(axis=1)
        weights: np.ndarray | None = mask.astype(np.float32)
    else:  # nothing clipped (the usual case): every pixel counts
        count, weights = np.full(k, h * w), None
    cols = np.zeros((len(_NEIGHBOURS), n), dtype=np.float64)
    d = np.empty((_CHUNK_ROWS, n), dtype=np.float32)
    c2 = np.empty((_CHUNK_ROWS, n), dtype=np.float32)
    for r0 in range(0, h, _CHUNK_ROWS):
        r = min(_CHUNK_ROWS, h - r0)
        dd, cc = d[:r], c2[:r]
        np.add(g[r0 + 1 : r0 + 1 + r, 1 : 1 + n], g[r0 + 1 : r0 + 1 + r, 1 : 1 + n], out=cc)
        for i, ((ay, ax), (by, bx)) in enumerate(_NEIGHBOURS):
            np.add(g[r0 + ay : r0 + ay + r, ax : ax + n], g[r0 + by : r0 + by + r, bx : bx + n], out=dd)
            dd -= cc
            if weights is not None:
                dd *= weights[r0 : r0 + r]
            cols[i] += np.einsum("ij,ij->j", dd, dd)
    cols = cols.reshape(len(_NEIGHBOURS), k, ww)
    cols[:, :, w:] = 0.0
    floor = 6.0 * np.square(noise)  # one sigma, or one per tile
    return [np.maximum(e / np.maximum(count, 1) - floor, 0.0) for e in cols.sum(axis=2)], count


def _tile_windows(g: np.ndarray, tiles: int) -> np.ndarray:
    """(tiles * tiles, th + 2, tw + 2) view: each tile of g's interior with its one-pixel halo."""
    th, tw = (g.shape[0] - 2) // tiles, (g.shape[1] - 2) // tiles
    s0, s1 = g.strides
    return np.lib.stride_tricks.as_strided(g, (tiles, tiles, th + 2, tw + 2), (th * s0, tw * s1, s0, s1), writeable=False)


def _sharpness(g: np.ndarray, noise: float, profile: Sequence[float] | None = None) -> tuple[float, float]:
    """Fine-band over coarse-band detail in the most structured tiles, geometric mean over directions.

    Why a ratio of bands: exposure, contrast and scene all scale both bands alike and
    cancel; defocus and shake take the fine band away first. Noise is taken out of both
    bands (its energy is known from its sigma; per tile, at the tile's own levels, with
    ``profile``), and it hardly reaches the coarse band (binning 4 x 4 divides its variance
    by 16), so grain does not pass for focus; in a very soft frame (an upscaled picture)
    what is left of a strong grain still can, which the noise comparison between mates
    catches. The
    tiles are chosen by coarse structure, which every mate of a burst shares whatever
    its defect, so the frames are compared on the same content. Motion blur removes
    detail along one direction only: the geometric mean over four directions sees it.

    ``g`` is 8-bit luma; only the chosen tiles' fine band is computed (a fifth of the
    frame). With ``profile`` (sigma per luma bin, :func:`noise_profile`), each tile's
    floor is the RMS over its pixels of the profile at their levels. Returns (sharpness,
    the plain geometric mean over directions, the floor's share): the first two part when
    one direction lost its detail, shake's signature, which the report shows; the floor's
    share is the noise energy taken out, on the same scale as sharpness (the floor is an
    estimate: a few per cent of it is as likely detail as grain); and the coarse band's energy
    per pixel in those tiles (the structure a blur of a few pixels takes away next, where the
    fine band holds nothing but its floor).
    """
    h, w = (g.shape[0] // COARSE) * COARSE, (g.shape[1] // COARSE) * COARSE
    coarse = _box_means(g[:h, :w], COARSE)
    tiles = max(1, min(TILES, (min(coarse.shape) - 2) // 2))  # small images (thumbnails): a coarser grid
    cw = _tile_windows(coarse, tiles)
    if profile is None:
        tile_noise: float | np.ndarray = noise
    else:  # each tile's floor from the noise at its own levels (RMS over its pixels)
        lut = np.square(profile_at(profile, np.arange(256.0), noise)).astype(np.float32)
        n2 = _tile_windows(lut[np.clip(coarse, 0, 255).astype(np.uint8)], tiles)
        tile_noise = np.sqrt(n2.reshape(tiles * tiles, -1).mean(axis=1))
    coarse_e, coarse_n = _stack_energy(cw.reshape(tiles * tiles, *cw.shape[2:]), tile_noise / COARSE)
    structure = np.sum(coarse_e, axis=0) * (coarse_n > 0.5 * coarse_n.max())  # mostly clipped tiles do not count
    top = np.argsort(structure)[-max(1, min(tiles * tiles, max(4, tiles * tiles // 5))) :]
    windows = _tile_windows(g, tiles)
    top_noise = np.broadcast_to(tile_noise, (tiles * tiles,))[top]  # one sigma, or one per tile
    fine_top, _ = _stack_energy(windows.reshape(tiles * tiles, *windows.shape[2:])[top], top_noise)
    coarse_sums = [max(float(c[top].sum()), 1e-6) for c in coarse_e]
    ratios = [max(float(f.sum()), 1e-6) / c for f, c in zip(fine_top, coarse_sums)]
    floor_e = 6.0 * float(np.sum(np.square(top_noise)))
    # Half the geometric mean, half the weakest direction: shake shows as one lost direction.
    logs = np.log(ratios)
    coarse_gm = float(np.exp(np.mean(np.log(coarse_sums))))
    return (float(np.exp(0.5 * logs.mean() + 0.5 * logs.min())), float(np.exp(logs.mean())), floor_e / coarse_gm,
            coarse_gm / len(top))


def _mean_abs_steps(g: np.ndarray, axis: int) -> np.ndarray:
    """Mean |step| between neighbours along ``axis``, per line across it (float64).

    8-bit input: |a - b| as max - min stays in uint8 (a third of int16's cost), summed exactly.
    """
    a, b = (g[1:], g[:-1]) if axis == 0 else (g[:, 1:], g[:, :-1])
    if g.dtype == np.uint8:
        steps = np.maximum(a, b)
        steps -= np.minimum(a, b)
        return np.add.reduce(steps, axis=1 - axis, dtype=np.uint32) / float(steps.shape[1 - axis])
    return np.abs(a - b).mean(axis=1 - axis, dtype=np.float64)


def _blockiness(g: np.ndarray, native_scale: float) -> float:
    """How much stronger edges are on the JPEG block grid than off it (1.0: no blocks).

    Heavy compression quantises each 8 x 8 block on its own, so steps appear on the
    block boundaries, and they would read as fine detail. The grid has period 8 file
    pixels, 8 / k in a 1/k draft decode; its phase is unknown (crops, rotations), so
    the strongest phase is compared with the median of the others, in both axes.
    """
    period = 8.0 / native_scale
    p = int(round(period))
    if p < 2 or abs(period - p) > 0.05:
        return 1.0
    out = []
    for axis in (0, 1):
        d = _mean_abs_steps(g, axis)
        n = (len(d) // p) * p
        phases = d[:n].reshape(-1, p).mean(axis=0)
        others = np.delete(phases, int(np.argmax(phases)))
        out.append(float(phases.max() / max(float(np.median(others)), 1e-3)))
    return float(np.mean(out))


# --- JPEG quantisation: how coarsely was this frame ever compressed? ---------------------------

QUANT_COEFFS = ((0, 1), (1, 0), (1, 1))  # the lowest AC frequencies: kept by every draft decode down to 1/4
_STEPS = np.arange(3.0, 64.5, 0.5)  # candidate steps in 8 x 8 DCT units (q92 ~ 2, q75 ~ 6, q50 ~ 11, q30 ~ 19, q12 ~ 48)
_BIN = 0.25
_CENTRES = (np.arange(-1024, 1024) + 0.5) * _BIN  # coefficient histogram bins, +-256
_PHASE = 2 * np.pi * _CENTRES[None, :] / _STEPS[:, None]
_OUTSIDE_ZERO = (np.abs(_CENTRES)[None, :] > _STEPS[:, None] / 2).astype(np.float64)  # the zero bin is left out
_COS = np.cos(_PHASE) * _OUTSIDE_ZERO
COMB_BLOCKS = 12_000  # blocks examined (a regular subsample): a comb needs a few thousand coefficients
COMB_MIN = 0.5  # phase coherence that counts as a comb (natural coefficients: < 0.1; a q30 re-save: ~0.9)


def _dct_basis(b: int) -> np.ndarray:
    """Orthonormal DCT-II basis of size b (row u = frequency u)."""
    k = np.arange(b)
    basis = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * b)) * math.sqrt(2 / b)
    basis[0] /= math.sqrt(2)
    return basis.astype(np.float32)


def _comb_steps(x: np.ndarray) -> list[float]:
    """For each row of ``x``, the quantisation step its values cluster on (0: none found).

    A quantised coefficient is a multiple of its step; decoding, re-saving at a fine
    quality and our own rounding move it by a level or two, so the histogram stays a
    comb. Its coherence at step q, the mean of cos(2 pi x / q) over |x| > q / 2 (the zero
    bin is left out: every smooth block has it), is ~1 at the true step and near 0 for
    a natural, never-quantised coefficient; a distribution that merely ends just past
    q / 2 (a dark or flat frame) gives a negative mean, not a positive one. It is
    required on both signs: a smooth gradient (a sky) piles one coefficient onto one
    value, which some q fits, but only on one side of zero; quantised texture has teeth
    on both.
    """
    bins = np.clip(x * (1.0 / _BIN) + len(_CENTRES) / 2, 0, len(_CENTRES) - 1).astype(np.intp)
    bins += np.arange(len(x))[:, None] * len(_CENTRES)  # one bincount for every row
    hist = np.bincount(bins.ravel(), minlength=len(x) * len(_CENTRES)).reshape(len(x), len(_CENTRES)).astype(np.float64)
    mid = len(_CENTRES) // 2
    coherence = np.ones((len(_STEPS), len(x)))
    for side in (slice(None, mid), slice(mid, None)):
        h = hist[:, side].T
        counts = _OUTSIDE_ZERO[:, side] @ h
        coherence = np.minimum(coherence, (_COS[:, side] @ h) / np.maximum(counts, 1.0) * (counts >= 50))
    best = np.argmax(coherence, axis=0)
    return [float(_STEPS[i]) if coherence[i, j] >= COMB_MIN else 0.0 for j, i in enumerate(best)]


def quantisation_step(g: np.ndarray, native_scale: float) -> float:
    """The coarsest JPEG step the frame's low-frequency luma carries, in 8 x 8 DCT units (0: none seen).

    Why: a frame compressed hard (even if re-saved at a fine quality afterwards, the
    usual fate of an edited or messaged picture) has lost its fine grain and reads as
    cleaner than its mates; its blocks are smooth, not sharp. The 8 x 8 blocks of the
    file are b x b blocks of a 1/(8/b) draft decode, whose DCT carries the block's
    lowest 8 x 8 coefficients (scaled by b / 8), so the comb survives the draft decode.
    Blocks with a clipped pixel are skipped (clipping makes its own regularities).
    """
    b = 8.0 / native_scale
    if round(b) not in (2, 4, 8) or abs(b - round(b)) > 0.02:
        return 0.0
    b = int(round(b))
    basis = _dct_basis(b)
    # The QUANT_COEFFS as b*b -> 3 projections, scaled to 8 x 8 DCT units.
    project = np.stack([np.outer(basis[u], basis[v]).ravel() for u, v in QUANT_COEFFS], axis=1) * (8.0 / b)
    h, w = g.shape
    stride = max(1, round(math.sqrt((h // b) * (w // b) / COMB_BLOCKS)))
    # The grid starts at the file's origin; an EXIF rotation may have moved it to the far edge.
    for oy in sorted({0, h % b}):
        for ox in sorted({0, w % b}):
            ny, nx = (h - oy) // b, (w - ox) // b
            blocks = g[oy : oy + ny * b, ox : ox + nx * b].reshape(ny, b, nx, b)[::stride, :, ::stride, :]
            cells = blocks.transpose(1, 3, 0, 2).reshape(b * b, -1)  # a column per block: fast min/max
            cells = cells[:, (cells.min(axis=0) > CLIP_LO) & (cells.max(axis=0) < CLIP_HI)]
            coeffs = project.T.astype(np.float32) @ cells.astype(np.float32)
            step = float(np.median(_comb_steps(coeffs)))
            if step:
                return step
    return 0.0


def table_step(quantization: dict | None) -> float:
    """The file's own luma quantisation step for the QUANT_COEFFS (Pillow's ``im.quantization``), 0 if unknown."""
    try:
        luma = list(quantization[0])  # natural order, 64 entries
        return float(np.mean([luma[8 * u + v] for u, v in QUANT_COEFFS]))
    except (TypeError, KeyError, IndexError, ValueError):
        return 0.0


def jpeg_tables(path) -> dict | None:
    """The JPEG quantisation tables from a file's header (nearly free: no pixel is decoded); None if none."""
    try:
        with Image.open(path) as im:
            return dict(im.quantization) if getattr(im, "quantization", None) else None
    except Exception:  # noqa: BLE001 - no tables is an answer, never a failure
        return None


def _linear_quantiles(hist: np.ndarray) -> list[float]:
    """Linear-light luma at EXPOSURE_QUANTILES of an 8-bit histogram (levels interpolated inside a bin)."""
    cdf = np.cumsum(hist) / hist.sum()
    levels = np.interp(EXPOSURE_QUANTILES, np.concatenate([[0.0], cdf]), np.arange(257) - 0.5)
    lin = np.interp(np.clip(levels, 0, 255), np.arange(256), LINEAR)
    return [round(float(v), 6) for v in lin]


def measure(img: Image.Image, native_scale: float = 1.0, jpeg_tables: dict | None = None,
            luma: np.ndarray | None = None, thumb: bool = True) -> TechnicalMetrics:
    """Absolute technical measurements of one decoded frame (RGB or L, any size).

    ``native_scale``: file pixels per pixel of ``img`` (draft decodes are 2-8x smaller).
    ``jpeg_tables``: the file's quantisation tables (:func:`jpeg_tables`), when it is a JPEG.
    ``luma``: ``img`` (an L image) as an array, when the caller has made one already.
    ``thumb``: keep the small luma copy the series consensus registers (off: ``thumb`` is "",
    sparing its 3 ms and its bytes in the cache when ``[technical] series_consensus`` is off).
    Noise is reported per *file* pixel: averaging k x k pixels divides white noise by k,
    so a draft decode would hide the grain the photographer sees at 100 %.
    """
    gray = _gray(img)
    if min(gray.size) < 4 * TILES:
        raise ValueError(f"image too small to measure ({gray.size[0]}x{gray.size[1]} pixels)")
    scale = native_scale * img.size[0] / gray.size[0]
    hist = np.asarray(gray.histogram(), dtype=np.float64)
    total = hist.sum()
    levels = np.arange(256, dtype=np.float64)
    mean = float((hist * levels).sum() / total)
    std = float(np.sqrt(max((hist * (levels - mean) ** 2).sum() / total, 0.0)))
    g = luma if luma is not None and gray is img else np.asarray(gray)  # uint8: every measure below works on exact 8-bit integers
    sigma, level, energy, coarse_sigma = _noise_tiles(g, NOISE_PATCH)
    noise = _frame_sigma(sigma, level)
    profile = noise_profile(sigma, level)
    # The floor: the flat tiles' own fine-band energy (any noise spectrum), but at most twice
    # the texture-blind sigma (where every tile is texture, the flattest are texture too).
    floor = [min(e, BAND_CAP * v) for e, v in zip(noise_profile(np.sqrt(energy / 6.0), level), profile)]
    sharp, sharp_mean, floor_share, structure = _sharpness(g, noise, floor)
    return TechnicalMetrics(
        sharpness=sharp,
        sharpness_mean=sharp_mean,
        clipped_highlights=float(hist[CLIP_HI + 1 :].sum() / total),
        clipped_shadows=float(hist[:CLIP_LO].sum() / total),
        mean_luma=mean / 255.0,
        contrast=std / 255.0,
        noise=noise * scale,
        noise_levels=[round(max(f, c) * scale, 4) for f, c in zip(profile, noise_profile(coarse_sigma, level))],
        blockiness=_blockiness(g, scale),
        exposure=float((hist * LINEAR).sum() / total),
        exposure_quantiles=_linear_quantiles(hist),
        jpeg_step=max(table_step(jpeg_tables), quantisation_step(g, scale)),
        thumb=encode_thumb(make_thumb(g)) if thumb else "",
        floor_share=floor_share,
        structure=structure,
    )
