"""The per-block ``1 − SSIM`` that ranks FGAesQ's blocks in series mode, exactly and fast.

What the official code computes for a pair of aligned images: for every 32-px block ``k``
(row-major over the rows both images have), ``skimage.metrics.structural_similarity`` of
the two blocks per channel (float32 pixels ``ToTensor`` gives, 7×7 uniform window, sample
covariance, ``data_range`` 1), ``1 − mean over channels``, clamped to [0, 1]. Blocks are then
ranked by it, and 14 ranks of the top half drawn at random keep full resolution.

Why exact and not merely close: a rank is a position in a sorted list, and a smooth photograph
has thousands of blocks within 1e-4 of each other; any value off by a rounding error can move
the block at a drawn rank, and with it the score.

How it is exact: skimage's float32 arithmetic is reproduced op by op (:func:`_ssim_map`)
from the 7×7 box means, and the box means are computed **exactly** as the float64-accumulated
reference (:func:`_box_reference`, scipy's ``uniform_filter`` on float32) gives them: each 1-D
pass is ``float32(float64(sum of 7) / 7)``. The sums are exact in float64 whatever the order of
additions, because every term lies on a fixed grid that 53 bits cover: pixels are
``float32(k / 255)`` (multiples of 2⁻³¹, ≤ 1), their float32 squares and products are ≥ 2⁻¹⁷ or 0
(multiples of 2⁻⁴⁰, ≤ 1), and a first-pass mean is ≥ 2⁻¹⁹ or 0 (multiples of 2⁻⁴², ≤ 1): seven
of them sum below 2³ with at most 45 significant bits. So the sums may be taken in any order:
by a compiled kernel (numba: :func:`_ssim_maps_python`, one pass over each block, ~50 µs a block
on one core, ~8× the block-by-block reference) or, without numba, by banded 0/1 matrix
products over whole rows of blocks (:func:`_box_exact`, ~5× slower than the kernel) — the
same bits either way. The per-window values
are then averaged by the reference's own torch reduction (:func:`_difference`), so the order
of that float64 sum is the reference's too. ``tests/model/test_official_ssim.py`` checks the
bits against the reference on the goldens and on near-tie inputs.

Only pixels that come from 8-bit images satisfy the grid argument, so the fast path takes
``uint8`` images; the reference path takes any float blocks.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["BLOCK", "WIN", "block_ssim_difference", "pair_block_difference", "unit_pixels"]

BLOCK = 32
WIN = 7
_VALID = BLOCK - WIN + 1  # 26 window positions per axis inside a block
_ROWS_PER_STEP = 4  # block rows per step: bounded temporaries (~20 MB at 6000 px wide, ~60 MB without numba)


def unit_pixels(u8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 → float32 in [0, 1] exactly as torchvision's ``ToTensor`` (``k / 255``)."""
    t = torch.from_numpy(np.ascontiguousarray(u8)) if isinstance(u8, np.ndarray) else u8
    return t.float().div(255)


# -- box means -----------------------------------------------------------------------------


def _window_mean(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Valid 1-D box mean along ``dim`` (-2 or -1), accumulated in float64 and stored in
    float32 — what ``scipy.ndimage.uniform_filter1d`` does for float32 input (away from the
    borders)."""
    shape = x.shape
    x64 = x.double().reshape(-1, 1, shape[-2], shape[-1])
    kernel = (WIN, 1) if dim == -2 else (1, WIN)
    out = F.avg_pool2d(x64, kernel, stride=1)
    return out.float().reshape(*shape[:-2], *out.shape[-2:])


def _box_reference(x: torch.Tensor) -> torch.Tensor:
    """skimage's 7×7 uniform filter over ``(..., 32, 32)`` blocks, cropped by 3 on each side
    (float64 accumulation, block by block: the reference)."""
    return _window_mean(_window_mean(x, -2), -1)


@lru_cache(maxsize=2)
def _band(n: int = BLOCK) -> torch.Tensor:
    """``(n, n − 6)`` float64 0/1 matrix: column ``i`` sums rows ``i .. i + 6``."""
    m = torch.zeros(n, n - WIN + 1, dtype=torch.float64)
    for i in range(n - WIN + 1):
        m[i:i + WIN, i] = 1.0
    return m


def _box_exact(q: torch.Tensor) -> torch.Tensor:
    """The reference box means of every block in ``q (C, R, 32, W)`` float32 (``R`` rows of
    ``W / 32`` blocks, side by side), bit for bit, as ``(R · W/32, C, 26, 26)``.

    Each pass: exact float64 sums of seven (see the module docstring) by a banded matrix
    product, ``/ 7`` in float64, rounded to float32 — the reference's arithmetic."""
    c, r, _, w = q.shape
    band = _band()
    rows = torch.matmul(band.T, q.double())  # (C, R, 26, W): sums down each block's columns
    rows = rows.div_(WIN).float()
    cols = torch.matmul(rows.double().view(c, r, _VALID, w // BLOCK, BLOCK), band)  # (C, R, 26, bw, 26)
    cols = cols.div_(WIN).float()
    return cols.permute(1, 3, 0, 2, 4).reshape(r * (w // BLOCK), c, _VALID, _VALID)


# -- SSIM from the box means ------------------------------------------------------------------


_COV = torch.tensor(49 / 48, dtype=torch.float32)
_C1 = torch.tensor((0.01 * 1.0) ** 2, dtype=torch.float32)
_C2 = torch.tensor((0.03 * 1.0) ** 2, dtype=torch.float32)


def _ssim_map(ux, uy, uxx, uyy, uxy) -> torch.Tensor:
    """The per-window SSIM from float32 box means: skimage's float32 formula, op for op (its
    rounding is part of the value)."""
    cov, c1, c2 = _COV, _C1, _C2
    vx = cov * (uxx - ux * ux)
    vy = cov * (uyy - uy * uy)
    vxy = cov * (uxy - ux * uy)
    a1 = 2 * ux * uy + c1
    a2 = 2 * vxy + c2
    b1 = ux * ux + uy * uy + c1
    b2 = vx + vy + c2
    return (a1 * a2) / (b1 * b2)


def _difference(s: torch.Tensor) -> torch.Tensor:
    """``(n, 3, 26, 26)`` float32 SSIM maps → ``(n,)`` float64 ``1 − mean_c SSIM`` clamped to
    [0, 1]: the float64 mean over windows, then over channels (one reduction for every path)."""
    per_channel = s.double().mean(dim=(-2, -1))  # (n, 3)
    m = ((per_channel[:, 0] + per_channel[:, 1]) + per_channel[:, 2]) / 3
    return (1 - m).clamp(0, 1)


def block_ssim_difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(n, 3, 32, 32)`` pairs of blocks in [0, 1] → ``(n,)`` float64 ``1 − mean_c SSIM``, by the
    float64-accumulated reference filter, block by block (slow: the values the fast path must
    equal)."""
    a, b = a.float(), b.float()
    return _difference(_ssim_map(_box_reference(a), _box_reference(b), _box_reference(a * a),
                                 _box_reference(b * b), _box_reference(a * b)))


def _strip_maps_numpy(x8: np.ndarray, y8: np.ndarray) -> torch.Tensor:
    """SSIM maps ``(R·W/32, 3, 26, 26)`` of the blocks of two uint8 strips ``(32·R, W, 3)``
    (``R`` rows of ``W/32`` blocks, row-major) without numba: box means by matrix products."""
    r = x8.shape[0] // BLOCK
    x = unit_pixels(x8).permute(2, 0, 1).reshape(3, r, BLOCK, -1)
    y = unit_pixels(y8).permute(2, 0, 1).reshape(3, r, BLOCK, -1)
    return _ssim_map(_box_exact(x), _box_exact(y), _box_exact(x * x), _box_exact(y * y), _box_exact(x * y))


def _ssim_maps_python(xa, ya, bw, k0, k1, lut, cov, c1, c2, out):  # pragma: no cover - compiled
    """Blocks ``k0 .. k1 − 1`` (block ``k`` at rows ``32·(k // bw)``, columns ``32·(k % bw)`` of
    both uint8 images) → their SSIM maps in ``out[k − k0]`` ``(3, 26, 26)`` float32. The
    reference's arithmetic: ``lut`` is ``ToTensor``'s k/255, products in float32, each box pass
    an exact float64 sum of seven ``/ 7`` rounded to float32, skimage's formula in float32."""
    two = np.float32(2.0)
    q = np.empty((5, BLOCK, BLOCK), np.float32)
    u1 = np.empty((5, _VALID, BLOCK), np.float32)
    u = np.empty((5, _VALID, _VALID), np.float32)
    for k in range(k0, k1):
        r0 = (k // bw) * BLOCK
        col0 = (k % bw) * BLOCK
        for c in range(3):
            for i in range(BLOCK):
                for j in range(BLOCK):
                    x = lut[xa[r0 + i, col0 + j, c]]
                    y = lut[ya[r0 + i, col0 + j, c]]
                    q[0, i, j] = x
                    q[1, i, j] = y
                    q[2, i, j] = x * x
                    q[3, i, j] = y * y
                    q[4, i, j] = x * y
            for m in range(5):
                for i in range(_VALID):
                    for j in range(BLOCK):
                        s = 0.0
                        for t in range(WIN):
                            s += np.float64(q[m, i + t, j])
                        u1[m, i, j] = np.float32(s / 7.0)
                for i in range(_VALID):
                    for j in range(_VALID):
                        s = 0.0
                        for t in range(WIN):
                            s += np.float64(u1[m, i, j + t])
                        u[m, i, j] = np.float32(s / 7.0)
            for i in range(_VALID):
                for j in range(_VALID):
                    ux, uy = u[0, i, j], u[1, i, j]
                    uxux, uyuy = ux * ux, uy * uy
                    vx = cov * (u[2, i, j] - uxux)
                    vy = cov * (u[3, i, j] - uyuy)
                    vxy = cov * (u[4, i, j] - ux * uy)
                    a1 = two * ux * uy + c1
                    a2 = two * vxy + c2
                    b1 = uxux + uyuy + c1
                    b2 = vx + vy + c2
                    out[k - k0, c, i, j] = (a1 * a2) / (b1 * b2)


@lru_cache(maxsize=1)
def _kernel():
    """The compiled kernel (numba, on first use: its import and compile, cached on disk, are
    paid only by a run that ranks blocks), or ``None`` without numba: the numpy path gives
    the same bits."""
    try:
        from numba import njit
    except ImportError:  # pragma: no cover - numba is a declared dependency
        return None
    return njit(nogil=True, cache=True)(_ssim_maps_python)

_LUT = unit_pixels(np.arange(256, dtype=np.uint8)).numpy()


def _strip_maps(xa: np.ndarray, ya: np.ndarray, bw: int, k0: int, k1: int) -> torch.Tensor:
    """SSIM maps of blocks ``k0 .. k1 − 1`` of two uint8 images laid out ``bw`` blocks a row."""
    kernel = _kernel()
    if kernel is None:
        r0, r1 = k0 // bw, -(-k1 // bw)
        maps = _strip_maps_numpy(xa[r0 * BLOCK:r1 * BLOCK, :bw * BLOCK], ya[r0 * BLOCK:r1 * BLOCK, :bw * BLOCK])
        return maps[k0 - r0 * bw:k1 - r0 * bw]
    out = np.empty((k1 - k0, 3, _VALID, _VALID), np.float32)
    kernel(xa, ya, bw, k0, k1, _LUT, _COV.numpy()[()], _C1.numpy()[()], _C2.numpy()[()], out)
    return torch.from_numpy(out)


def _side_by_side(blocks: np.ndarray) -> np.ndarray:
    """``(k, 32, 32, 3)`` blocks → one strip ``(32, 32·k, 3)`` (block ``i`` at columns ``32i..``)."""
    return np.ascontiguousarray(blocks.transpose(1, 0, 2, 3)).reshape(BLOCK, -1, 3)


def _chunk_difference(ga, gb, s: int, e: int) -> np.ndarray:
    """``1 − SSIM`` of the block pairs ``s .. e − 1`` (see :func:`pair_block_difference`)."""
    if ga.bw == gb.bw:  # a few rows of blocks, straight from the images (a view unless padded)
        r0, r1 = s // ga.bw, -(-e // ga.bw)
        xa, ya = ga.block_rows(r0, r1), gb.block_rows(r0, r1)
        return _difference(_strip_maps(xa, ya, ga.bw, s - r0 * ga.bw, e - r0 * ga.bw)).numpy()
    idx = np.arange(s, e)  # block k sits at different places in the two: gather the pairs
    return _difference(_strip_maps(_side_by_side(ga.uint8(idx)), _side_by_side(gb.uint8(idx)),
                                   e - s, 0, e - s)).numpy()


def pair_block_difference(ga, gb, n: int, workers: int = 2) -> np.ndarray:
    """``(n,)`` float64 ``1 − SSIM`` between block ``k`` of grid ``ga`` and block ``k`` of ``gb``
    (row-major numbers, ``k < n``), as the official code pairs them — equal bit for bit to
    :func:`block_ssim_difference` of the same blocks. Chunks of ~4 block rows run on
    ``workers`` threads (the kernel and torch release the GIL); memory stays a few MB."""
    step = max(1, ga.bw) * _ROWS_PER_STEP
    bounds = [(s, min(n, s + step)) for s in range(0, n, step)]
    if workers <= 1 or len(bounds) == 1:
        parts = [_chunk_difference(ga, gb, s, e) for s, e in bounds]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(lambda b: _chunk_difference(ga, gb, *b), bounds))
    return np.concatenate(parts) if parts else np.zeros(0)
