"""FGAesQ's tokens exactly as the published inference code builds them.

Why a second tokenizer: the published checkpoint was trained and is evaluated on these
tokens, and photocull must give the numbers its authors' code gives. Every convention below
was read from ``yzc-ippl/FG-IAA`` (``FGAesQ_Inference``, commit 4bfd40f) and checked against
its outputs (``tests/model/test_official_goldens.py``); quirks are reproduced, not fixed.

A token set is always 512 long: a CLS slot, then 511 tokens.

* Pixels: CLIP-normalised (``ToTensor`` then mean/std) *before* any zero padding.
* **Small images** (≤ 512 patches of 16 px at native size): zero-padded to multiples of 16,
  every patch at full resolution in row-major order, scale index 0, positions from CLIP's
  14×14 grid interpolated bicubically with ``scale_factor = (n + 0.1) / 14``.
* **Large images**: zero-padded *or* cropped to multiples of 32 (whichever the official
  pixel-count rule picks); 14 blocks of 32 px stay fine (their four 16-px patches, scale
  index 1), every other block is shrunk bicubically to 16 px (scale index 0). Coarse tokens
  come first (block order), then the fine ones (block by block). Positions: coarse tokens
  take the block grid's embedding; fine tokens take the 16-px grid's embeddings of the fine
  cells in **row-major** order, which differs from the order the patches were emitted in.
  Then tokens other than CLS are dropped at random down to 512.
* Padding (to 512): a zero patch (later the mask token), scale index 0, position zero, and
  it is *not* masked out of attention.
* Randomness: Python's ``random`` module algorithm, through a private
  :class:`random.Random` (same draws as the official code after ``random.seed(seed)``, without
  touching the global state). Single mode: the 14 fine blocks uniformly, then the drop.
  Pair (series) mode: the stream is seeded from the md5 of the pair id; it first picks the
  alignment axis, then the first image's blocks and drop, then the second image's.
* Pair mode: both images are resized (LANCZOS) to a common width or height, up-scaled when
  ≤ 512 patches, and per-block ``1 − SSIM`` (skimage's defaults, mean over channels) over the
  overlapping height ranks the blocks; the 14 fine blocks are drawn from the top half.

Known gap: an image of exactly 512 patches drops one token with state the official code
leaves over from the previous image; here that drop is uniform (the single-mode rule).
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from photocull.model.vit import CLIP_MEAN, CLIP_STD

__all__ = [
    "SEQ_LEN",
    "OfficialTokens",
    "align_pair",
    "block_ssim_difference",
    "pair_rng",
    "pair_seed",
    "pair_tokens",
    "single_tokens",
    "to_pil",
]

SEQ_LEN = 512  # CLS + 511 tokens
PATCH = 16
BLOCK = 32
FINE_BLOCKS = 14  # int(112 * 0.5 / 4) in the official code
TOP_FRACTION = 0.5
MIN_LARGE_SIDE = 384
_INTERP_OFFSET = 0.1


@dataclass
class OfficialTokens:
    """One token set: ``patches (512, 3, 16, 16)`` (slot 0 is CLS's, unused), ``pos (512, D)``
    (slot 0 is CLS's), ``scale (512,)`` official scale index (0 coarse or padding, 1 fine),
    ``pad (512,)`` True where the mask token goes."""

    patches: torch.Tensor
    pos: torch.Tensor
    scale: torch.Tensor
    pad: torch.Tensor


def to_pil(image: str | os.PathLike | np.ndarray | Image.Image) -> Image.Image:
    """A full-resolution RGB PIL image from a path, an ``(H, W, 3)`` uint8 array or an image."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 array, got {image.shape} {image.dtype}")
        return Image.fromarray(image)
    with Image.open(image) as im:
        return im.convert("RGB")


def _to_tensor(img: Image.Image) -> torch.Tensor:
    """``(3, H, W)`` float32 in [0, 1], as torchvision's ``ToTensor``."""
    return torch.from_numpy(np.array(img, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div(255)


_MEAN = torch.tensor(CLIP_MEAN, dtype=torch.float32).view(3, 1, 1)
_STD = torch.tensor(CLIP_STD, dtype=torch.float32).view(3, 1, 1)


def _normalise(t: torch.Tensor) -> torch.Tensor:
    return (t - _MEAN) / _STD


def _pad_to(t: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad right and bottom to multiples of ``size``."""
    _, h, w = t.shape
    return F.pad(t, (0, (-w) % size, 0, (-h) % size))


def _pad_or_crop(t: torch.Tensor, size: int) -> torch.Tensor:
    """The official rule: pad when its pixel count (product of the per-axis amounts, 1 for an
    axis that fits) is not larger than the crop's, else crop."""
    _, h, w = t.shape
    crop = (h % size or 1) * (w % size or 1)
    pad = (((size - h % size) % size) if h % size else 1) * (((size - w % size) % size) if w % size else 1)
    if pad > crop:
        return t[:, : h - h % size, : w - w % size]
    return _pad_to(t, size)


def _blocks(t: torch.Tensor, size: int) -> torch.Tensor:
    """``(3, H, W)`` (multiples of ``size``) → ``(n, 3, size, size)`` in row-major order."""
    c, h, w = t.shape
    return t.reshape(c, h // size, size, w // size, size).permute(1, 3, 0, 2, 4).reshape(-1, c, size, size)


def _pos_grid(pos_embed: torch.Tensor, gh: int, gw: int) -> torch.Tensor:
    """CLIP's positional grid bicubically interpolated to ``(gh, gw)``: ``(gh·gw, D)`` row-major.

    The official code passes ``scale_factor = (n + 0.1) / sqrt(N)`` (not ``size=``), which
    changes the sampling positions slightly; reproduced here.
    """
    return _pos_grid_cached(pos_embed.data_ptr(), pos_embed.shape, pos_embed._version, gh, gw, pos_embed)


@lru_cache(maxsize=64)
def _pos_grid_cached(_ptr, _shape, _ver, gh: int, gw: int, pos_embed: torch.Tensor) -> torch.Tensor:
    n = pos_embed.shape[0] - 1
    d = pos_embed.shape[1]
    side = math.sqrt(n)
    base = pos_embed[1:].detach().float().cpu().reshape(1, int(side), int(side), d).permute(0, 3, 1, 2)
    out = F.interpolate(base, scale_factor=((gh + _INTERP_OFFSET) / side, (gw + _INTERP_OFFSET) / side),
                        mode="bicubic", align_corners=False)
    if out.shape[-2:] != (gh, gw):
        raise ValueError(f"positional grid {tuple(out.shape[-2:])} for a {gh}×{gw} image")
    return out.permute(0, 2, 3, 1).reshape(gh * gw, d)


def _finish(patches: torch.Tensor, pos: torch.Tensor, scale: list[int], drop) -> OfficialTokens:
    """Add the CLS slot, then pad to :data:`SEQ_LEN` or let ``drop(n_tokens)`` choose what to remove."""
    cls_patch = torch.zeros(1, *patches.shape[1:])
    patches = torch.cat([cls_patch, patches])
    scale_t = torch.tensor([0] + scale, dtype=torch.long)
    n = patches.shape[0]
    if n <= SEQ_LEN:
        extra = SEQ_LEN - n
        return OfficialTokens(
            patches=torch.cat([patches, torch.zeros(extra, *patches.shape[1:])]),
            pos=torch.cat([pos, torch.zeros(extra, pos.shape[1])]),
            scale=torch.cat([scale_t, torch.zeros(extra, dtype=torch.long)]),
            pad=torch.cat([torch.zeros(n, dtype=torch.bool), torch.ones(extra, dtype=torch.bool)]),
        )
    keep = torch.ones(n, dtype=torch.bool)
    keep[list(drop(n))] = False
    return OfficialTokens(patches[keep], pos[keep], scale_t[keep], torch.zeros(SEQ_LEN, dtype=torch.bool))


def _uniform_drop(rng: random.Random):
    return lambda n: rng.sample(range(1, n), n - SEQ_LEN)


def _small(t: torch.Tensor, pos_embed: torch.Tensor, rng: random.Random) -> OfficialTokens:
    t = _pad_to(t, PATCH)
    gh, gw = t.shape[1] // PATCH, t.shape[2] // PATCH
    patches = _blocks(t, PATCH)
    grid = _pos_grid(pos_embed, gh, gw)
    pos = torch.cat([pos_embed[:1].detach().float().cpu(), grid])
    return _finish(patches, pos, [0] * patches.shape[0], _uniform_drop(rng))


def _large(t: torch.Tensor, pos_embed: torch.Tensor, rng: random.Random,
           importance: list[float | None] | None) -> OfficialTokens:
    """The multi-scale path. ``importance`` (pair mode) is the per-block ``1 − SSIM`` list
    (``None`` for blocks outside the pair's overlap); ``None`` means single mode."""
    t = _pad_or_crop(t, BLOCK)
    bh, bw = t.shape[1] // BLOCK, t.shape[2] // BLOCK
    nb = bh * bw
    blocks = _blocks(t, BLOCK)
    if importance is None:
        fine = rng.sample(range(nb), FINE_BLOCKS)
    else:
        scores = list(importance[:nb])
        scores += [rng.random() for _ in range(nb - len(scores))]
        scores = [s if s is not None else rng.random() for s in scores]
        ranked = sorted(zip(range(nb), scores), key=lambda x: x[1], reverse=True)
        candidates = ranked[: max(1, int(nb * TOP_FRACTION))]
        chosen = rng.sample(candidates, FINE_BLOCKS) if FINE_BLOCKS <= len(candidates) else candidates
        fine = [i for i, _ in chosen]
    fine_set = set(fine)
    fine_sorted = sorted(fine_set)
    coarse = [i for i in range(nb) if i not in fine_set]
    coarse_patches = F.interpolate(blocks[coarse], size=(PATCH, PATCH), mode="bicubic")
    fine_patches = _blocks_of(blocks[fine_sorted])
    patches = torch.cat([coarse_patches, fine_patches])
    # Positions: coarse cells row-major (= emission order); fine cells row-major on the 16-px grid.
    coarse_grid = _pos_grid(pos_embed, bh, bw)
    fine_grid = _pos_grid(pos_embed, 2 * bh, 2 * bw)
    cells = sorted((2 * (b // bw) + dy) * (2 * bw) + 2 * (b % bw) + dx
                   for b in fine_sorted for dy in (0, 1) for dx in (0, 1))
    pos = torch.cat([pos_embed[:1].detach().float().cpu(), coarse_grid[coarse], fine_grid[cells]])
    scale = [0] * len(coarse) + [1] * (4 * len(fine_sorted))
    if importance is None:
        drop = _uniform_drop(rng)
    else:
        drop = _priority_drop(rng, list(importance), fine)
    return _finish(patches, pos, scale, drop)


def _blocks_of(blocks: torch.Tensor) -> torch.Tensor:
    """Each 32-px block's four 16-px patches (TL, TR, BL, BR), block after block."""
    n, c = blocks.shape[:2]
    return blocks.reshape(n, c, 2, PATCH, 2, PATCH).permute(0, 2, 4, 1, 3, 5).reshape(n * 4, c, PATCH, PATCH)


def _priority_drop(rng: random.Random, importance: list[float | None], selected: list[int]):
    """The official pair-mode drop: uniform over tokens whose *position* (not block) is not
    one of the selected block numbers, drawing a ``random()`` for every unscored entry first."""

    def drop(n: int) -> list[int]:
        k = n - SEQ_LEN
        actual = n - 1
        imp = importance[:actual] + [0.0] * max(0, actual - len(importance))
        important = set(selected)
        candidates = []
        for i in range(actual):
            if imp[i] is None:
                rng.random()
            if i not in important:
                candidates.append(i + 1)
        removed = rng.sample(candidates, k) if len(candidates) >= k else candidates
        rest = k - len(removed)
        if rest > 0:
            extra = [i + 1 for i in important if i < actual]
            removed = removed + (rng.sample(extra, rest) if len(extra) >= rest else extra)
        return removed

    return drop


def _tokens(img: Image.Image, pos_embed: torch.Tensor, rng: random.Random,
            importance: list[float | None] | None) -> OfficialTokens:
    t = _normalise(_to_tensor(img))
    if math.ceil(t.shape[1] / PATCH) * math.ceil(t.shape[2] / PATCH) <= SEQ_LEN:
        return _small(t, pos_embed, rng)
    return _large(t, pos_embed, rng, importance)


def single_tokens(image, pos_embed: torch.Tensor, seed: int | random.Random = 0) -> OfficialTokens:
    """Single-image mode tokens (the image is never resized); ``seed`` plays ``random.seed(seed)``.

    ``image``: a path, an ``(H, W, 3)`` uint8 array or a PIL image, at full resolution.
    ``pos_embed``: the checkpoint's ``positional_embedding`` ``(1 + 14·14, D)``.
    """
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    return _tokens(to_pil(image), pos_embed, rng, None)


# -- pair mode -------------------------------------------------------------------------------


def pair_seed(pair_id: str) -> int:
    """The official seed of a pair id ``"{series}_{i}_{j}"``: md5 as an integer, mod 10000."""
    return int(hashlib.md5(pair_id.encode()).hexdigest(), 16) % 10000


def pair_rng(pair_id: str) -> random.Random:
    return random.Random(pair_seed(pair_id))


def _ensure_large(img: Image.Image) -> Image.Image:
    w, h = img.size
    n = math.ceil(w / PATCH) * math.ceil(h / PATCH)
    if n > SEQ_LEN:
        return img
    f = math.sqrt(SEQ_LEN * 1.2 / n)
    if min(w, h) < MIN_LARGE_SIDE:
        f = max(f, MIN_LARGE_SIDE / min(w, h))
    return img.resize((int(w * f), int(h * f)), Image.Resampling.LANCZOS)


def align_pair(a: Image.Image, b: Image.Image, rng: random.Random) -> tuple[Image.Image, Image.Image]:
    """Resize the pair to a common width or height (a draw picks which), then up-scale small
    images so both have > 512 patches, at one common factor when their factors differ."""
    (w1, h1), (w2, h2) = a.size, b.size
    if rng.choice(["width", "height"]) == "width":
        tw = max(w1, w2)
        if w1 != tw:
            a = a.resize((tw, int(h1 * tw / w1)), Image.Resampling.LANCZOS)
        if w2 != tw:
            b = b.resize((tw, int(h2 * tw / w2)), Image.Resampling.LANCZOS)
    else:
        th = max(h1, h2)
        if h1 != th:
            a = a.resize((int(w1 * th / h1), th), Image.Resampling.LANCZOS)
        if h2 != th:
            b = b.resize((int(w2 * th / h2), th), Image.Resampling.LANCZOS)
    a_l, b_l = _ensure_large(a), _ensure_large(b)
    s1 = max(a_l.size[0] / a.size[0], a_l.size[1] / a.size[1])
    s2 = max(b_l.size[0] / b.size[0], b_l.size[1] / b.size[1])
    if abs(s1 - s2) > 0.01:
        s = max(s1, s2)
        a_l = a.resize((int(a.size[0] * s), int(a.size[1] * s)), Image.Resampling.LANCZOS)
        b_l = b.resize((int(b.size[0] * s), int(b.size[1] * s)), Image.Resampling.LANCZOS)
    return a_l, b_l


def _window_mean(x: torch.Tensor, dim: int, win: int = 7) -> torch.Tensor:
    """Valid 1-D box mean along ``dim`` (-2 or -1), accumulated in float64 and stored in
    float32 — what ``scipy.ndimage.uniform_filter1d`` does for float32 input (away from the
    borders)."""
    shape = x.shape
    x64 = x.double().reshape(-1, 1, shape[-2], shape[-1])
    kernel = (win, 1) if dim == -2 else (1, win)
    out = F.avg_pool2d(x64, kernel, stride=1)
    return out.float().reshape(*shape[:-2], *out.shape[-2:])


def _box(x: torch.Tensor) -> torch.Tensor:
    """skimage's 7×7 uniform filter over ``(..., H, W)``, cropped by 3 on each side."""
    return _window_mean(_window_mean(x, -2), -1)


def block_ssim_difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(n, 3, s, s)`` pairs of blocks in [0, 1] → ``(n,)`` float64 ``1 − mean_c SSIM``, clamped
    to [0, 1]: ``skimage.metrics.structural_similarity(data_range=1)`` per channel (7×7 box
    window, sample covariance), in its float32 arithmetic."""
    a = a.float()
    b = b.float()
    cov = torch.tensor(49 / 48, dtype=torch.float32)
    c1 = torch.tensor((0.01 * 1.0) ** 2, dtype=torch.float32)
    c2 = torch.tensor((0.03 * 1.0) ** 2, dtype=torch.float32)
    ux, uy = _box(a), _box(b)
    uxx, uyy, uxy = _box(a * a), _box(b * b), _box(a * b)
    vx = cov * (uxx - ux * ux)
    vy = cov * (uyy - uy * uy)
    vxy = cov * (uxy - ux * uy)
    a1 = 2 * ux * uy + c1
    a2 = 2 * vxy + c2
    b1 = ux * ux + uy * uy + c1
    b2 = vx + vy + c2
    s = (a1 * a2) / (b1 * b2)
    per_channel = s.double().mean(dim=(-2, -1))  # (n, 3)
    m = ((per_channel[:, 0] + per_channel[:, 1]) + per_channel[:, 2]) / 3
    return (1 - m).clamp(0, 1)


def _pair_importance(a: torch.Tensor, b: torch.Tensor) -> tuple[list[float | None], list[float | None]]:
    """Per-block importance lists of the two (already aligned) images, in [0, 1] pixel space."""
    a = _pad_or_crop(a, BLOCK)
    b = _pad_or_crop(b, BLOCK)
    oh = min(a.shape[1], b.shape[1])
    ba, bb = _blocks(a[:, :oh], BLOCK), _blocks(b[:, :oh], BLOCK)
    n = min(len(ba), len(bb))
    diff = block_ssim_difference(ba[:n], bb[:n]).tolist() if n else []
    ua = (a.shape[1] - oh) // BLOCK * (a.shape[2] // BLOCK)
    ub = (b.shape[1] - oh) // BLOCK * (b.shape[2] // BLOCK)
    return diff + [None] * ua, diff + [None] * ub


def pair_tokens(a, b, pos_embed: torch.Tensor, pair_id: str) -> tuple[OfficialTokens, OfficialTokens]:
    """Series-mode tokens of ``a`` given ``b`` and of ``b`` given ``a``, as the official
    series script builds them for the pair id ``"{series}_{i}_{j}"`` (``a`` is frame ``i``)."""
    rng = pair_rng(pair_id)
    a_al, b_al = align_pair(to_pil(a), to_pil(b), rng)
    imp_a, imp_b = _pair_importance(_to_tensor(a_al), _to_tensor(b_al))
    ta = _tokens(a_al, pos_embed, rng, imp_a)
    tb = _tokens(b_al, pos_embed, rng, imp_b)
    return ta, tb
