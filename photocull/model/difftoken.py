"""DiffToken: difference-preserving native-resolution tokens for FGAesQ.

An image becomes at most ``max_tokens`` 16-px tokens (+ CLS, added by the model):

1. **Resize** (:func:`target_size`). The image is scaled, keeping its aspect ratio, so that its
   16-px patch grid holds about ``patch_budget_factor × (max_tokens + 1)`` patches (1.2 × 512
   ≈ 614 for the published model): small images are scaled up, large ones down. The short side
   is then raised to at least ``min_short_side`` (384 px) — unless that would leave more 32-px
   blocks than the token budget can represent (``blocks + 3·keep_blocks > max_tokens``), in
   which case the scale is capped there so every block still gets a token. Both sides are
   rounded to multiples of 32 (the block size). Resampling is bilinear, antialiased when
   shrinking, on float RGB in [0, 1].
2. **Importance per 32×32 block.**
   *With a reference* (another frame of the series): the reference is resized to the image's
   working size and a block's importance is its difference ``1 − SSIM`` (mean over R, G, B).
   SSIM follows scikit-image's ``structural_similarity`` applied to each block on its own
   (7×7 uniform windows inside the block, sample covariance, ``data_range`` 1, K1 0.01, K2 0.03,
   mean over the 26×26 window positions), computed for all blocks at once with
   ``avg_pool2d`` (:func:`block_ssim`).
   *Single-image mode* (no reference): importance is the block's gradient energy — the mean
   of squared horizontal and vertical luma differences (:func:`block_detail`) — i.e. detail and
   local contrast, where a partner frame would most likely differ too.
3. **Selection.** ``keep_blocks`` blocks (14) are drawn *at random* among the most important
   ``important_fraction`` (half) of the blocks, with a ``torch.Generator`` seeded from SHA-256 of
   the identities (:func:`token_seed`; the pair's two identities *sorted*, so both directions of
   a pair keep the same blocks; the image's content digest when no identity is given). Each
   kept block gives four full-resolution 16-px tokens (scale 0); every other block is
   down-scaled 32→16 px by 2×2 averaging into one token (scale 1), positioned at the block's
   top-left patch cell (the model gives it the mean positional embedding of the four cells).
4. **Budget.** Tokens are ordered: kept blocks (raster order, each as its 2×2 patches in raster
   order), then down-scaled blocks by decreasing importance (ties in raster order). Over
   ``max_tokens``, the tail — the least important down-scaled tokens — is dropped. Under it,
   :func:`collate` pads with invalid tokens, which the model replaces by ``mask_token`` and
   masks out of attention.

Patches are CLIP-normalised and flattened channel-first (``c·p² + y·p + x``), the layout of
the ViT's ``conv1.weight``. Nothing here needs a model: tokens can be built in worker processes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from photocull.model.config import DiffTokenConfig
from photocull.backbones.constants import CLIP_MEAN, CLIP_STD

__all__ = [
    "Prepared",
    "TokenBatch",
    "Tokens",
    "block_detail",
    "block_difference",
    "block_ssim",
    "build_pair_tokens",
    "build_tokens",
    "collate",
    "prepare",
    "select_blocks",
    "target_size",
    "to_rgb01",
    "token_seed",
]

_SEED_PREFIX = "photocull/fgaesq/difftoken/v1"
_SSIM_WIN = 7
_K1, _K2 = 0.01, 0.03


# ------------------------------------------------------------------------------------------
# Records


@dataclass
class Tokens:
    """One image's token set (unpadded unless built with padding).

    ``patches (N, 3·p·p)`` float32, CLIP-normalised, channel-first; ``positions (N, 2)`` long
    ``(row, col)`` in the patch grid; ``grid (gh, gw)``; ``scales (N,)`` long (0 full
    resolution, 1 down-scaled block); ``valid (N,)`` bool; ``importance (N,)`` the block
    importance each token came from (0 for padding); ``size`` the working ``(H, W)``.
    """

    patches: torch.Tensor
    positions: torch.Tensor
    grid: tuple[int, int]
    scales: torch.Tensor
    valid: torch.Tensor
    importance: torch.Tensor
    size: tuple[int, int]

    def __len__(self) -> int:
        return int(self.patches.shape[0])

    @property
    def n_valid(self) -> int:
        return int(self.valid.sum())

    def padded(self, length: int) -> Tokens:
        """This token set with invalid tokens appended up to ``length``."""
        n = len(self)
        if length < n:
            raise ValueError(f"cannot pad {n} tokens to {length}")
        extra = length - n
        if extra == 0:
            return self
        return replace(
            self,
            patches=torch.cat([self.patches, self.patches.new_zeros(extra, self.patches.shape[1])]),
            positions=torch.cat([self.positions, self.positions.new_zeros(extra, 2)]),
            scales=torch.cat([self.scales, self.scales.new_zeros(extra)]),
            valid=torch.cat([self.valid, self.valid.new_zeros(extra)]),
            importance=torch.cat([self.importance, self.importance.new_zeros(extra)]),
        )


@dataclass
class TokenBatch:
    """Padded token sets: ``patches (B, L, D)``, ``positions (B, L, 2)``, ``grids (B, 2)``,
    ``scales (B, L)``, ``valid (B, L)``."""

    patches: torch.Tensor
    positions: torch.Tensor
    grids: torch.Tensor
    scales: torch.Tensor
    valid: torch.Tensor

    def __len__(self) -> int:
        return int(self.patches.shape[0])

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None,
           non_blocking: bool = False) -> TokenBatch:
        return TokenBatch(
            patches=self.patches.to(device, dtype=dtype, non_blocking=non_blocking),
            positions=self.positions.to(device, non_blocking=non_blocking),
            grids=self.grids.to(device, non_blocking=non_blocking),
            scales=self.scales.to(device, non_blocking=non_blocking),
            valid=self.valid.to(device, non_blocking=non_blocking),
        )

    def pin_memory(self) -> TokenBatch:
        return TokenBatch(*(t.pin_memory() for t in (self.patches, self.positions, self.grids,
                                                     self.scales, self.valid)))


def collate(items: Sequence[Tokens], pad_to: int | None = None) -> TokenBatch:
    """Stack token sets, padding each to the longest (or to ``pad_to``) with invalid tokens."""
    if not items:
        raise ValueError("collate needs at least one token set")
    length = max(len(t) for t in items)
    if pad_to is not None:
        if pad_to < length:
            raise ValueError(f"pad_to={pad_to} is shorter than the longest token set ({length})")
        length = pad_to
    b, d = len(items), items[0].patches.shape[1]
    patches = torch.zeros(b, length, d, dtype=items[0].patches.dtype)
    positions = torch.zeros(b, length, 2, dtype=torch.long)
    scales = torch.zeros(b, length, dtype=torch.long)
    valid = torch.zeros(b, length, dtype=torch.bool)
    for i, t in enumerate(items):
        n = len(t)
        patches[i, :n] = t.patches
        positions[i, :n] = t.positions
        scales[i, :n] = t.scales
        valid[i, :n] = t.valid
    grids = torch.tensor([t.grid for t in items], dtype=torch.long)
    return TokenBatch(patches, positions, grids, scales, valid)


# ------------------------------------------------------------------------------------------
# Images


def _as_chw(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """An RGB image → a ``(3, H, W)`` view, dtype kept (uint8 or float in [0, 1])."""
    t = torch.from_numpy(np.ascontiguousarray(image)) if isinstance(image, np.ndarray) else image
    if t.ndim == 2:
        t = t.unsqueeze(-1)
    if t.ndim != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {tuple(t.shape)}")
    channels_first = t.shape[0] in (1, 3, 4) and t.shape[-1] not in (1, 3, 4)
    if not channels_first:
        t = t.permute(2, 0, 1)
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    t = t[:3]
    if t.dtype != torch.uint8 and not t.is_floating_point():
        raise ValueError(f"expected uint8 or float pixels, got {t.dtype}")
    return t


def to_rgb01(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """An RGB image → ``(3, H, W)`` float32 in [0, 1].

    Accepts ``(H, W, 3)`` uint8 or float (numpy or torch; floats taken as [0, 1]) and
    ``(3, H, W)`` tensors. A 4th (alpha) channel is dropped; greyscale is repeated.
    """
    t = _as_chw(image)
    if t.dtype == torch.uint8:
        return t.float().div_(255.0)
    return t.float()


def target_size(height: int, width: int, cfg: DiffTokenConfig) -> tuple[int, int]:
    """The working ``(H, W)`` for an image of ``height × width`` (see the module docstring)."""
    p, blk = cfg.patch, cfg.block
    area = float(height) * float(width)
    budget = cfg.patch_budget_factor * (cfg.max_tokens + 1) * p * p
    s = math.sqrt(budget / area)
    s = max(s, cfg.min_short_side / min(height, width))
    # every block must fit in the token budget next to the kept blocks
    max_blocks = max(1, cfg.max_tokens - 3 * cfg.keep_blocks)
    s = min(s, math.sqrt(max_blocks * blk * blk / area))
    h = max(blk, int(round(height * s / blk)) * blk)
    w = max(blk, int(round(width * s / blk)) * blk)
    while (h // blk) * (w // blk) > max_blocks and max(h, w) > blk:  # rounding went over
        if h >= w:
            h -= blk
        else:
            w -= blk
    return h, w


def _resize(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(3, H, W)`` uint8 or float → float32 in [0, 1] at ``size`` (bilinear, antialiased).

    uint8 images are resized *before* conversion (torch's fast uint8 path; the result is
    rounded to 8 bits, as a decoder's would be), which is several times faster on big frames.
    """
    if tuple(img.shape[-2:]) != tuple(size):
        shrink = size[0] < img.shape[-2] or size[1] < img.shape[-1]
        antialias = shrink or img.dtype == torch.uint8
        img = F.interpolate(img.unsqueeze(0), size=size, mode="bilinear", align_corners=False,
                            antialias=antialias)[0]
    if img.dtype == torch.uint8:
        return img.float().div_(255.0)
    return img.float().clamp(0.0, 1.0)


def _box_matrix(n: int, win: int) -> torch.Tensor:
    """``(n − win + 1, n)`` averaging matrix: ``A @ x`` is a valid 1-D box filter of ``x``."""
    m = n - win + 1
    idx = torch.arange(m)
    a = torch.zeros(m, n)
    for j in range(win):
        a[idx, idx + j] = 1.0 / win
    return a


def _to_blocks(t: torch.Tensor, block: int) -> torch.Tensor:
    """``(C, H, W)`` → ``(nbh·nbw, C, block, block)`` in raster order."""
    c, h, w = t.shape
    nbh, nbw = h // block, w // block
    t = t[:, : nbh * block, : nbw * block]
    return t.reshape(c, nbh, block, nbw, block).permute(1, 3, 0, 2, 4).reshape(nbh * nbw, c, block, block)


def block_ssim(a: torch.Tensor, b: torch.Tensor, block: int = 32, win: int = _SSIM_WIN,
               data_range: float = 1.0) -> torch.Tensor:
    """SSIM of every ``block × block`` block of two ``(C, H, W)`` images, mean over channels.

    Returns ``(nbh, nbw)``. Equal to scikit-image's ``structural_similarity`` (defaults, with
    ``channel_axis``) run on each block pair separately; vectorised with ``avg_pool2d``.
    """
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    c, h, w = a.shape
    nbh, nbw = h // block, w // block
    x = _to_blocks(a.float(), block).reshape(-1, 1, block, block)
    y = _to_blocks(b.float(), block).reshape(-1, 1, block, block)
    # 7×7 box means of x, y, x², y², xy at every window inside a block: A · X · Aᵀ is the same
    # as avg_pool2d(X, 7, stride=1) but several times faster on CPU.
    box = _box_matrix(block, win)
    m = box @ torch.cat([x, y, x * x, y * y, x * y], dim=1) @ box.T
    ux, uy, uxx, uyy, uxy = m.unbind(1)
    n = win * win
    cov = n / (n - 1.0)
    vx = cov * (uxx - ux * ux)
    vy = cov * (uyy - uy * uy)
    vxy = cov * (uxy - ux * uy)
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(-2, -1)).view(nbh, nbw, c).mean(-1)


def block_difference(a: torch.Tensor, b: torch.Tensor, block: int = 32) -> torch.Tensor:
    """``1 − SSIM`` per block, ``(nbh, nbw)`` (see :func:`block_ssim`)."""
    return 1.0 - block_ssim(a, b, block)


def block_detail(rgb: torch.Tensor, block: int = 32) -> torch.Tensor:
    """Single-image importance: mean squared luma gradient per block, ``(nbh, nbw)``."""
    r, g, b = rgb[0], rgb[1], rgb[2]
    y = (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(0)
    gx = F.pad(y[..., :, 1:] - y[..., :, :-1], (0, 1, 0, 0))
    gy = F.pad(y[..., 1:, :] - y[..., :-1, :], (0, 0, 0, 1))
    return F.avg_pool2d((gx * gx + gy * gy).unsqueeze(0), block)[0, 0]


def token_seed(identity: str, reference_identity: str | None = None) -> int:
    """A 63-bit seed from SHA-256 of the identities (order-free for a pair)."""
    ids = [identity] if reference_identity is None else sorted([identity, reference_identity])
    digest = hashlib.sha256("\0".join([_SEED_PREFIX, *ids]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def select_blocks(importance: torch.Tensor, k: int, fraction: float, seed: int) -> torch.Tensor:
    """Indices (ascending) of ``k`` blocks drawn at random among the ``fraction`` most important."""
    flat = importance.reshape(-1)
    n = flat.numel()
    k = max(0, min(k, n))
    n_cand = min(n, max(k, math.ceil(n * fraction)))
    order = torch.sort(flat, descending=True, stable=True).indices
    gen = torch.Generator().manual_seed(seed)
    pick = order[:n_cand][torch.randperm(n_cand, generator=gen)[:k]]
    return torch.sort(pick).values


# ------------------------------------------------------------------------------------------
# Token building


@dataclass
class Prepared:
    """An image at its working size, with its patches cut once (reusable across references)."""

    rgb: torch.Tensor  # (3, H, W) float in [0, 1]
    full: torch.Tensor  # (gh·gw, 3·p·p) normalised full-resolution patches, raster order
    coarse: torch.Tensor  # (nbh·nbw, 3·p·p) normalised down-scaled blocks, raster order
    identity: str
    cfg: DiffTokenConfig

    @property
    def size(self) -> tuple[int, int]:
        return int(self.rgb.shape[1]), int(self.rgb.shape[2])

    @property
    def grid(self) -> tuple[int, int]:
        return self.size[0] // self.cfg.patch, self.size[1] // self.cfg.patch

    @property
    def blocks(self) -> tuple[int, int]:
        return self.size[0] // self.cfg.block, self.size[1] // self.cfg.block


def _content_identity(rgb: torch.Tensor) -> str:
    sample = (rgb[:, ::7, ::7] * 255).round().to(torch.uint8).contiguous().numpy()
    h = hashlib.blake2b(sample.tobytes(), digest_size=16)
    h.update(str(tuple(rgb.shape)).encode())
    return "content:" + h.hexdigest()


def _patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    c, h, w = x.shape
    return x.reshape(c, h // p, p, w // p, p).permute(1, 3, 0, 2, 4).reshape((h // p) * (w // p), c * p * p)


def prepare(image: np.ndarray | torch.Tensor | Prepared, identity: str | None = None,
            cfg: DiffTokenConfig | None = None, size: tuple[int, int] | None = None) -> Prepared:
    """Resize ``image`` to its working size (or ``size``) and cut its patches."""
    if isinstance(image, Prepared):
        if size is None or image.size == tuple(size):
            return image
        image, identity, cfg = image.rgb, identity or image.identity, cfg or image.cfg
    cfg = cfg or DiffTokenConfig()
    if cfg.block != 2 * cfg.patch:
        raise ValueError("DiffToken needs block = 2 × patch")
    chw = _as_chw(image)
    if size is None:
        size = target_size(chw.shape[1], chw.shape[2], cfg)
    rgb = _resize(chw, size).contiguous()
    mean = torch.tensor(CLIP_MEAN).view(3, 1, 1)
    std = torch.tensor(CLIP_STD).view(3, 1, 1)
    norm = (rgb - mean) / std
    full = _patchify(norm, cfg.patch)
    coarse = _patchify(F.avg_pool2d(norm.unsqueeze(0), 2)[0], cfg.patch)
    return Prepared(rgb=rgb, full=full, coarse=coarse,
                    identity=identity if identity is not None else _content_identity(rgb), cfg=cfg)


def _assemble(prep: Prepared, importance: torch.Tensor, seed: int, keep_blocks: int) -> Tokens:
    cfg = prep.cfg
    gh, gw = prep.grid
    nbh, nbw = prep.blocks
    nb = nbh * nbw
    imp = importance.reshape(-1).float()
    k = max(0, min(keep_blocks, nb, cfg.max_tokens // 4))
    kept = select_blocks(imp, k, cfg.important_fraction, seed)

    is_kept = torch.zeros(nb, dtype=torch.bool)
    is_kept[kept] = True
    br, bc = kept // nbw, kept % nbw
    dr = torch.tensor([0, 0, 1, 1])
    dc = torch.tensor([0, 1, 0, 1])
    rows = (2 * br[:, None] + dr).reshape(-1)
    cols = (2 * bc[:, None] + dc).reshape(-1)
    fine_patches = prep.full[rows * gw + cols]
    fine_pos = torch.stack([rows, cols], dim=1)
    fine_imp = imp[kept].repeat_interleave(4)

    rest = (~is_kept).nonzero().squeeze(1)
    order = torch.sort(imp[rest], descending=True, stable=True).indices
    rest = rest[order][: max(0, cfg.max_tokens - 4 * k)]
    coarse_patches = prep.coarse[rest]
    coarse_pos = torch.stack([2 * (rest // nbw), 2 * (rest % nbw)], dim=1)

    n_fine, n_coarse = fine_patches.shape[0], coarse_patches.shape[0]
    return Tokens(
        patches=torch.cat([fine_patches, coarse_patches]),
        positions=torch.cat([fine_pos, coarse_pos]).long(),
        grid=(gh, gw),
        scales=torch.cat([torch.zeros(n_fine, dtype=torch.long), torch.ones(n_coarse, dtype=torch.long)]),
        valid=torch.ones(n_fine + n_coarse, dtype=torch.bool),
        importance=torch.cat([fine_imp, imp[rest]]),
        size=prep.size,
    )


def build_tokens(image: np.ndarray | torch.Tensor | Prepared,
                 reference: np.ndarray | torch.Tensor | Prepared | None = None, *,
                 identity: str | None = None, reference_identity: str | None = None,
                 cfg: DiffTokenConfig | None = None, keep_blocks: int | None = None,
                 pad: bool = False) -> Tokens:
    """DiffTokens of ``image``, conditioned on ``reference`` (single-image mode without one).

    ``identity`` / ``reference_identity`` (e.g. file identities) seed the block choice; without
    them the images' content digests do. ``keep_blocks`` overrides ``cfg.keep_blocks``;
    ``pad=True`` pads to ``cfg.max_tokens``.
    """
    if cfg is None:
        cfg = image.cfg if isinstance(image, Prepared) else DiffTokenConfig()
    prep = prepare(image, identity, cfg)
    k = cfg.keep_blocks if keep_blocks is None else keep_blocks
    if reference is None:
        importance = block_detail(prep.rgb, cfg.block)
        seed = token_seed(prep.identity)
    else:
        ref_identity = reference_identity
        if ref_identity is None and isinstance(reference, Prepared):
            ref_identity = reference.identity
        ref = prepare(reference, ref_identity, cfg, size=prep.size)
        importance = block_difference(prep.rgb, ref.rgb, cfg.block)
        seed = token_seed(prep.identity, ref.identity)
    tokens = _assemble(prep, importance, seed, k)
    return tokens.padded(cfg.max_tokens) if pad else tokens


def build_pair_tokens(a: np.ndarray | torch.Tensor | Prepared, b: np.ndarray | torch.Tensor | Prepared, *,
                      identity_a: str | None = None, identity_b: str | None = None,
                      cfg: DiffTokenConfig | None = None,
                      keep_blocks: int | None = None) -> tuple[Tokens, Tokens]:
    """``(tokens of a given b, tokens of b given a)``; one SSIM map when both share a working size."""
    if cfg is None:
        cfg = a.cfg if isinstance(a, Prepared) else DiffTokenConfig()
    pa = prepare(a, identity_a, cfg)
    pb = prepare(b, identity_b, cfg)
    k = cfg.keep_blocks if keep_blocks is None else keep_blocks
    if pa.size != pb.size:
        return (build_tokens(pa, pb, cfg=cfg, keep_blocks=k),
                build_tokens(pb, pa, cfg=cfg, keep_blocks=k))
    diff = block_difference(pa.rgb, pb.rgb, cfg.block)
    seed = token_seed(pa.identity, pb.identity)
    return _assemble(pa, diff, seed, k), _assemble(pb, diff, seed, k)
