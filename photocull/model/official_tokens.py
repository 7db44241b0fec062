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
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from photocull.model.official_ssim import block_ssim_difference, pair_block_difference, unit_pixels
from photocull.model.vit import CLIP_MEAN, CLIP_STD

__all__ = [
    "SEQ_LEN",
    "OfficialTokens",
    "align_pair",
    "as_array",
    "block_ssim_difference",
    "load_image",
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
_CHUNK = 1024  # blocks per step of the block-by-block reference SSIM (tests): ~4 MB a quantity


@dataclass
class OfficialTokens:
    """One token set: ``patches (512, 3, 16, 16)`` (slot 0 is CLS's, unused), ``pos (512, D)``
    (slot 0 is CLS's), ``scale (512,)`` official scale index (0 coarse or padding, 1 fine),
    ``pad (512,)`` True where the mask token goes."""

    patches: torch.Tensor
    pos: torch.Tensor
    scale: torch.Tensor
    pad: torch.Tensor


# -- the pixels FGAesQ sees ---------------------------------------------------------------------


def load_image(path: str | os.PathLike, fmt: str | None = None) -> np.ndarray:
    """A file's full-resolution frame as FGAesQ scores it, ``(H, W, 3)`` uint8, read exactly as
    the CLI reads it (:func:`photocull.decode.decode` at full size): EXIF orientation applied,
    alpha flattened on white, 16-bit scaled to 8, any format photocull reads (RAW: its preview).

    Why not the official ``Image.open(path).convert('RGB')``: it scores a portrait shot as a
    sideways picture (the paper's images are upright) and keeps whatever colour hides under
    transparent pixels. Raises :class:`photocull.decode.DecodeError` for an unreadable file.
    """
    from photocull.decode import DecodeError, decode
    from photocull.inputs.formats import by_extension, sniff

    p = Path(path)
    if fmt is None:
        try:
            with open(p, "rb") as f:
                head = f.read(64)
        except OSError as exc:
            raise DecodeError("cannot be opened: the file may be missing or unreadable", str(exc)) from exc
        known = by_extension(p.suffix)
        fmt = sniff(head) or (known.name if known else None)
        if fmt is None:
            raise DecodeError("not an image format photocull reads")
    with decode(p, fmt, decode_size=1 << 30).image as img:
        return np.asarray(img)


def as_array(image) -> np.ndarray:
    """``(H, W, 3)`` uint8 from a path (:func:`load_image`), a PIL image (alpha flattened on
    white, as :func:`load_image` does; its pixels otherwise as given) or such an array."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 array, got {image.shape} {image.dtype}")
        return image
    if isinstance(image, Image.Image):
        from photocull.decode import _to_rgb  # the decoder's own conversion: one rule for alpha

        return np.asarray(_to_rgb(image))
    return load_image(image)


def to_pil(image) -> Image.Image:
    """:func:`as_array` as a PIL image."""
    if isinstance(image, Image.Image) and image.mode == "RGB":
        return image
    return Image.fromarray(as_array(image))


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    """``(3, H, W)`` float32 in [0, 1], as torchvision's ``ToTensor``."""
    return torch.from_numpy(np.array(arr, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div(255)


_MEAN = torch.tensor(CLIP_MEAN, dtype=torch.float32).view(3, 1, 1)
_STD = torch.tensor(CLIP_STD, dtype=torch.float32).view(3, 1, 1)


def _normalise(t: torch.Tensor) -> torch.Tensor:
    return (t - _MEAN) / _STD


def _pad_to(t: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad right and bottom to multiples of ``size``."""
    _, h, w = t.shape
    return F.pad(t, (0, (-w) % size, 0, (-h) % size))


def _pad_or_crop_size(h: int, w: int, size: int) -> tuple[int, int]:
    """The official rule: pad when its pixel count (product of the per-axis amounts, 1 for an
    axis that fits) is not larger than the crop's, else crop. Returns the new ``(h, w)``."""
    crop = (h % size or 1) * (w % size or 1)
    pad = (((size - h % size) % size) if h % size else 1) * (((size - w % size) % size) if w % size else 1)
    if pad > crop:
        return h - h % size, w - w % size
    return h + (-h) % size, w + (-w) % size


def _blocks(t: torch.Tensor, size: int) -> torch.Tensor:
    """``(3, H, W)`` (multiples of ``size``) → ``(n, 3, size, size)`` in row-major order."""
    c, h, w = t.shape
    return t.reshape(c, h // size, size, w // size, size).permute(1, 3, 0, 2, 4).reshape(-1, c, size, size)


class _Grid:
    """An image seen as 32-px blocks after the official pad-or-crop, without copying it:
    blocks are cut out on demand (zeros where the image was padded)."""

    def __init__(self, arr: np.ndarray, rows: int | None = None):
        self.arr = arr
        h, w = arr.shape[:2]
        self.h, self.w = _pad_or_crop_size(h, w, BLOCK)
        self.bh, self.bw = self.h // BLOCK, self.w // BLOCK
        if rows is not None:  # only the first ``rows`` block rows (the pair's overlap)
            self.bh = rows
        self.vh, self.vw = min(h, self.h), min(w, self.w)  # real pixels inside the grid

    @property
    def n(self) -> int:
        return self.bh * self.bw

    def uint8(self, idx: np.ndarray) -> np.ndarray:
        """Blocks ``idx`` (row-major numbers) as ``(k, 32, 32, 3)`` uint8, zero outside the image."""
        out = np.zeros((len(idx), BLOCK, BLOCK, 3), np.uint8)
        rows, cols = np.divmod(np.asarray(idx, np.int64), self.bw)
        inner = ((rows + 1) * BLOCK <= self.vh) & ((cols + 1) * BLOCK <= self.vw)
        k = np.flatnonzero(inner)
        if len(k):
            y = rows[k, None] * BLOCK + np.arange(BLOCK)  # (k, 32)
            x = cols[k, None] * BLOCK + np.arange(BLOCK)
            out[k] = self.arr[y[:, :, None], x[:, None, :]]
        for e in np.flatnonzero(~inner):  # edge blocks: only their real pixels
            y0, x0 = rows[e] * BLOCK, cols[e] * BLOCK
            part = self.arr[y0:min(y0 + BLOCK, self.vh), x0:min(x0 + BLOCK, self.vw)]
            out[e, :part.shape[0], :part.shape[1]] = part
        return out

    def unit(self, idx) -> torch.Tensor:
        """Blocks in [0, 1], ``(k, 3, 32, 32)`` float32 (padding 0), as ``ToTensor`` gives them."""
        return unit_pixels(self.uint8(idx)).permute(0, 3, 1, 2)

    def block_rows(self, r0: int, r1: int) -> np.ndarray:
        """Block rows ``r0 .. r1 − 1`` as one ``(32·(r1 − r0), 32·bw, 3)`` uint8 strip, zero
        outside the image (a view of the image when no padding falls inside)."""
        y0, y1, w = r0 * BLOCK, r1 * BLOCK, self.bw * BLOCK
        part = self.arr[y0:min(y1, self.vh), :min(w, self.vw)]
        if part.shape[:2] == (y1 - y0, w):
            return part
        out = np.zeros((y1 - y0, w, 3), np.uint8)
        out[:part.shape[0], :part.shape[1]] = part
        return out

    def normalised(self, idx) -> torch.Tensor:
        """Blocks CLIP-normalised with padding 0 *after* normalising, as the official code pads."""
        t = _normalise(self.unit(idx))
        rows, cols = np.divmod(np.asarray(idx, np.int64), self.bw)
        edge = np.flatnonzero(((rows + 1) * BLOCK > self.vh) | ((cols + 1) * BLOCK > self.vw))
        for e in edge:
            t[e, :, max(0, self.vh - rows[e] * BLOCK):, :] = 0.0
            t[e, :, :, max(0, self.vw - cols[e] * BLOCK):] = 0.0
        return t


@lru_cache(maxsize=64)
def _cubic_matrix(n_out: int, n_in: int, factor: float) -> torch.Tensor:
    """``(n_out, n_in)`` float64 weights of PyTorch's bicubic resampling along one axis
    (``align_corners=False``, A = −0.75, border samples clamped, ``scale_factor`` given)."""
    a = -0.75
    w = torch.zeros(n_out, n_in, dtype=torch.float64)
    for d in range(n_out):
        src = (d + 0.5) / factor - 0.5
        i0 = math.floor(src)
        t = src - i0
        coeffs = (((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
                  ((a + 2) * t - (a + 3)) * t * t + 1,
                  ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
                  ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a)
        for k, c in enumerate(coeffs):
            w[d, min(max(i0 - 1 + k, 0), n_in - 1)] += c
    return w


def _pos_rows(pos_embed: torch.Tensor, gh: int, gw: int, cells) -> torch.Tensor:
    """Rows ``cells`` (row-major numbers) of :func:`_pos_grid` without building the grid: a
    24 MP frame's 16-px grid is 94,000 rows × 768 (290 MB), of which a token set keeps ≤ 511.
    Separable bicubic weights in float64; within ~1e-6 of the full interpolation."""
    n = pos_embed.shape[0] - 1
    side = int(math.sqrt(n))
    base = pos_embed[1:].detach().double().cpu().reshape(side, side, -1)
    cells = torch.as_tensor(cells, dtype=torch.long)
    wy = _cubic_matrix(gh, side, (gh + _INTERP_OFFSET) / side)[cells // gw]  # (k, side)
    wx = _cubic_matrix(gw, side, (gw + _INTERP_OFFSET) / side)[cells % gw]
    return torch.einsum("ki,kj,ijd->kd", wy, wx, base).float()


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


def _keep(n: int, drop) -> torch.Tensor:
    """Which of ``n`` token slots (CLS first) survive ``drop(n)`` (nothing dropped when they fit)."""
    keep = torch.ones(n, dtype=torch.bool)
    if n > SEQ_LEN:
        keep[list(drop(n))] = False
    return keep


def _finish(patches: torch.Tensor, pos: torch.Tensor, scale: torch.Tensor) -> OfficialTokens:
    """Kept tokens (CLS slot first) padded to :data:`SEQ_LEN`."""
    n = patches.shape[0]
    extra = SEQ_LEN - n
    return OfficialTokens(
        patches=torch.cat([patches, torch.zeros(extra, *patches.shape[1:])]),
        pos=torch.cat([pos, torch.zeros(extra, pos.shape[1])]),
        scale=torch.cat([scale, torch.zeros(extra, dtype=torch.long)]),
        pad=torch.cat([torch.zeros(n, dtype=torch.bool), torch.ones(extra, dtype=torch.bool)]),
    )


def _uniform_drop(rng: random.Random):
    return lambda n: rng.sample(range(1, n), n - SEQ_LEN)


def _small(arr: np.ndarray, pos_embed: torch.Tensor, rng: random.Random) -> OfficialTokens:
    t = _pad_to(_normalise(_to_tensor(arr)), PATCH)
    gh, gw = t.shape[1] // PATCH, t.shape[2] // PATCH
    patches = torch.cat([torch.zeros(1, 3, PATCH, PATCH), _blocks(t, PATCH)])
    pos = torch.cat([pos_embed[:1].detach().float().cpu(), _pos_grid(pos_embed, gh, gw)])
    scale = torch.zeros(patches.shape[0], dtype=torch.long)
    keep = _keep(patches.shape[0], _uniform_drop(rng))
    return _finish(patches[keep], pos[keep], scale[keep])


@dataclass
class _LargePlan:
    """The draws of the multi-scale path, made before any pixel is touched: which blocks stay
    fine and which token slots survive the drop. Building the tokens from it costs ~511 block
    cut-outs instead of the whole image."""

    grid: _Grid
    coarse: np.ndarray  # block numbers of the coarse tokens, in token order
    fine: list[int]  # fine block numbers, sorted (their 4 patches each follow the coarse tokens)
    keep: torch.Tensor  # (1 + len(coarse) + 4·len(fine),) bool, slot 0 = CLS


def _plan_large(grid: _Grid, rng: random.Random, importance: list[float | None] | None) -> _LargePlan:
    """The official draws: 14 fine blocks (uniform, or from the top half by importance in pair
    mode), then the drop down to 512 (uniform, or sparing the selected block numbers).

    Pair mode: ``rng.sample`` picks positions in the ranked top half whatever their content,
    so the blocks are those at the drawn ranks of the exact order (:func:`_ranked`)."""
    nb = grid.n
    if importance is None:
        fine = rng.sample(range(nb), FINE_BLOCKS)
    else:
        values = list(importance[:nb])
        values += [rng.random() for _ in range(nb - len(values))]
        values = [s if s is not None else rng.random() for s in values]
        half = max(1, int(nb * TOP_FRACTION))
        order = _ranked(values)
        ranks = rng.sample(range(half), FINE_BLOCKS) if FINE_BLOCKS <= half else range(half)
        fine = [int(order[p]) for p in ranks]  # fewer candidates than fine blocks: all of them
    fine_sorted = sorted(set(fine))
    is_fine = np.zeros(nb, bool)
    is_fine[fine_sorted] = True
    coarse = np.flatnonzero(~is_fine)
    n = 1 + len(coarse) + 4 * len(fine_sorted)
    drop = _uniform_drop(rng) if importance is None else _priority_drop(rng, list(importance), fine)
    return _LargePlan(grid, coarse, fine_sorted, _keep(n, drop))


def _build_large(plan: _LargePlan, pos_embed: torch.Tensor) -> OfficialTokens:
    """The kept tokens of a plan: coarse blocks shrunk bicubically to 16 px (block order), then
    each fine block's four 16-px patches. Positions: coarse cells row-major on the block grid;
    fine cells row-major on the 16-px grid (the official mismatch with the emission order)."""
    g = plan.grid
    nc = len(plan.coarse)
    slots = np.flatnonzero(plan.keep[1:].numpy())  # kept token numbers, 0-based after CLS
    kept_coarse = slots[slots < nc]
    kept_fine = slots[slots >= nc] - nc
    parts = [torch.zeros(1, 3, PATCH, PATCH)]
    if len(kept_coarse):
        blocks = g.normalised(plan.coarse[kept_coarse])
        parts.append(F.interpolate(blocks, size=(PATCH, PATCH), mode="bicubic"))
    if len(kept_fine):
        fine = _blocks_of(g.normalised(np.asarray(plan.fine, np.int64)))
        parts.append(fine[torch.from_numpy(kept_fine)])
    patches = torch.cat(parts)
    cells = sorted((2 * (b // g.bw) + dy) * (2 * g.bw) + 2 * (b % g.bw) + dx
                   for b in plan.fine for dy in (0, 1) for dx in (0, 1))
    kept = plan.keep[1:].numpy()
    pos = torch.cat([pos_embed[:1].detach().float().cpu(),
                     _pos_rows(pos_embed, g.bh, g.bw, plan.coarse[kept[:nc]]),
                     _pos_rows(pos_embed, 2 * g.bh, 2 * g.bw, np.asarray(cells, np.int64)[kept[nc:]])])
    scale = torch.tensor([0] + [0] * nc + [1] * (4 * len(plan.fine)), dtype=torch.long)
    return _finish(patches, pos, scale[plan.keep])


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


def _is_small(arr: np.ndarray) -> bool:
    return math.ceil(arr.shape[0] / PATCH) * math.ceil(arr.shape[1] / PATCH) <= SEQ_LEN


def _tokens(arr: np.ndarray, pos_embed: torch.Tensor, rng: random.Random,
            importance: list[float | None] | None, build: bool = True) -> OfficialTokens | None:
    """The token set of one image (``None`` when ``build`` is false: the draws are still made,
    so a pair's stream goes on as if it had been built)."""
    if _is_small(arr):
        return _small(arr, pos_embed, rng)
    plan = _plan_large(_Grid(arr), rng, importance)
    return _build_large(plan, pos_embed) if build else None


def single_tokens(image, pos_embed: torch.Tensor, seed: int | random.Random = 0) -> OfficialTokens:
    """Single-image mode tokens (the image is never resized); ``seed`` plays ``random.seed(seed)``.

    ``image``: a path, an ``(H, W, 3)`` uint8 array or a PIL image, at full resolution (see
    :func:`as_array`). ``pos_embed``: the checkpoint's ``positional_embedding`` ``(1 + 14·14, D)``.
    """
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    return _tokens(as_array(image), pos_embed, rng, None)


# -- pair mode -------------------------------------------------------------------------------


def pair_seed(pair_id: str) -> int:
    """The official seed of a pair id ``"{series}_{i}_{j}"``: md5 as an integer, mod 10000."""
    return int(hashlib.md5(pair_id.encode()).hexdigest(), 16) % 10000


def pair_rng(pair_id: str) -> random.Random:
    return random.Random(pair_seed(pair_id))


def _resize(arr: np.ndarray, w: int, h: int) -> np.ndarray:
    """LANCZOS resize (PIL's, as the official code), a no-op at the same size."""
    if (w, h) == (arr.shape[1], arr.shape[0]):
        return arr
    return np.asarray(Image.fromarray(arr).resize((w, h), Image.Resampling.LANCZOS))


def _ensure_large(arr: np.ndarray) -> np.ndarray:
    h, w = arr.shape[:2]
    n = math.ceil(w / PATCH) * math.ceil(h / PATCH)
    if n > SEQ_LEN:
        return arr
    f = math.sqrt(SEQ_LEN * 1.2 / n)
    if min(w, h) < MIN_LARGE_SIDE:
        f = max(f, MIN_LARGE_SIDE / min(w, h))
    return _resize(arr, int(w * f), int(h * f))


def align_pair(a, b, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """Resize the pair to a common width or height (a draw picks which), then up-scale small
    images so both have > 512 patches, at one common factor when their factors differ.
    Frames of one size that are large already are returned as they are (no copy)."""
    a, b = as_array(a), as_array(b)
    (h1, w1), (h2, w2) = a.shape[:2], b.shape[:2]
    if rng.choice(["width", "height"]) == "width":
        tw = max(w1, w2)
        a = _resize(a, tw, int(h1 * tw / w1))
        b = _resize(b, tw, int(h2 * tw / w2))
    else:
        th = max(h1, h2)
        a = _resize(a, int(w1 * th / h1), th)
        b = _resize(b, int(w2 * th / h2), th)
    a_l, b_l = _ensure_large(a), _ensure_large(b)
    s1 = max(a_l.shape[1] / a.shape[1], a_l.shape[0] / a.shape[0])
    s2 = max(b_l.shape[1] / b.shape[1], b_l.shape[0] / b.shape[0])
    if abs(s1 - s2) > 0.01:
        s = max(s1, s2)
        a_l = _resize(a, int(a.shape[1] * s), int(a.shape[0] * s))
        b_l = _resize(b, int(b.shape[1] * s), int(b.shape[0] * s))
    return a_l, b_l


# -- block ranking (1 − SSIM) ------------------------------------------------------------------


def _pair_importance(ga: _Grid, gb: _Grid, *, reference: bool = False) -> tuple[list, list]:
    """Per-block ``1 − SSIM`` of the two (already aligned) images as each side's list: block
    ``k`` of one against block ``k`` of the other over the block rows both have (row-major
    numbers, as the official code pairs them), ``None`` for the blocks below. Exact
    (:mod:`.official_ssim`); ``reference`` computes them block by block with the float64
    reference filter instead (slow; the same values)."""
    rows = min(ga.h, gb.h) // BLOCK
    n = min(rows * ga.bw, rows * gb.bw)
    if reference:
        diff: list[float] = []
        for s in range(0, n, _CHUNK):
            idx = np.arange(s, min(n, s + _CHUNK))
            diff += block_ssim_difference(ga.unit(idx), gb.unit(idx)).tolist()
    else:
        diff = pair_block_difference(ga, gb, n).tolist()
    return diff + [None] * (ga.n - rows * ga.bw), diff + [None] * (gb.n - rows * gb.bw)


def _ranked(values: list[float]) -> np.ndarray:
    """Block numbers in the official order: value descending, lower number first on ties
    (Python's stable ``sort(key=..., reverse=True)``)."""
    v = np.asarray(values, np.float64)
    return np.lexsort((np.arange(len(v)), -v))


def pair_tokens(a, b, pos_embed: torch.Tensor, pair_id: str, *, need: tuple[bool, bool] = (True, True),
                reference: bool = False) -> tuple[OfficialTokens | None, OfficialTokens | None]:
    """Series-mode tokens of ``a`` given ``b`` and of ``b`` given ``a``, as the official
    series script builds them for the pair id ``"{series}_{i}_{j}"`` (``a`` is frame ``i``).

    ``need``: which of the two to build (an unneeded one is ``None``; its draws are still made,
    so the other is unchanged). ``reference``: rank blocks by the block-by-block float64
    reference SSIM (slow; the default computes the same values bit for bit, row by row)."""
    rng = pair_rng(pair_id)
    a_al, b_al = align_pair(a, b, rng)
    imp_a, imp_b = _pair_importance(_Grid(a_al), _Grid(b_al), reference=reference)
    ta = _tokens(a_al, pos_embed, rng, imp_a, build=need[0])
    tb = _tokens(b_al, pos_embed, rng, imp_b, build=need[1])
    return ta, tb
