"""The CLIP ViT image tower, fed native-resolution, variable-length token sets.

The tower *is* open_clip's ``VisionTransformer`` (kept as :attr:`NativeViT.visual`, so
open_clip's ``openai`` weights, cache and state-dict layout apply unchanged); only the
forward pass is ours:

1. Patch embedding: the input is a set of pre-extracted 16×16 RGB patches, CLIP-normalised
   and flattened channel-first (``c·256 + y·16 + x``, the layout of ``conv1.weight``), so
   ``conv1`` is applied as a linear map ``patches @ conv1.weight.view(width, -1).T``.
2. Position: CLIP's 14×14 positional grid is bicubically interpolated to the image's patch
   grid ``(gh, gw)`` and sampled at each token's ``(row, col)``. A down-scaled token (scale 1:
   a 32-px block shrunk to 16 px) carries the position of its block's *top-left* cell and
   gets the *mean of the four cells its block covers* — the interpolated embedding at the
   block's centre, bilinearly — rather than the corner's.
3. Scale: ``scale_embedding[0, scale_id]`` is added (0 = full resolution, 1 = down-scaled).
4. Padding (``valid == False``) is replaced by ``mask_token`` and excluded as an attention
   *key* in every block, so appending padding never changes the output (CLS is always valid,
   so no attention row is empty).
5. CLS (``class_embedding`` + ``positional_embedding[0]``) is prepended; then ``ln_pre``,
   ``transformer.resblocks``, ``ln_post(CLS) @ proj`` → ``(B, output_dim)``.

Attention runs in one of two ways (the same numbers): ``attn_impl="sdpa"`` (default) calls each
block's own modules (``ln_1``, ``attn.in_proj_*``, ``attn.out_proj``, ``ln_2``, ``mlp``) with
``torch.nn.functional.scaled_dot_product_attention`` and a broadcast ``(B, 1, 1, L)`` key mask
(memory-efficient kernels on CUDA); ``attn_impl="open_clip"`` calls the blocks themselves with
the additive float mask ``nn.MultiheadAttention`` takes, ``(B·heads, L, L)`` with ``-inf`` at
padding keys (open_clip's ``ResidualAttentionBlock.forward(x, attn_mask=...)`` casts it to the
activations' dtype and passes it through).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from photocull.compat import import_open_clip
from photocull.model.config import FGAesQConfig
from photocull.backbones.constants import CLIP_MEAN, CLIP_STD

__all__ = ["CLIP_MEAN", "CLIP_STD", "NativeViT", "build_clip_visual", "key_padding_mask"]


def build_clip_visual(cfg: FGAesQConfig, *, allow_download: bool | None = None) -> nn.Module:
    """open_clip's ``VisionTransformer`` for ``cfg``.

    ``cfg.pretrained is None``: built directly (random init) with the same arguments open_clip's
    model factory uses for a CLIP ViT (QuickGELU when ``cfg.quick_gelu``), so the state-dict
    layout is open_clip's. Otherwise ``open_clip.create_model(cfg.clip_model, pretrained=...)``'s
    ``.visual``, with the weights found locally first (:func:`photocull.backbones.resolve_weights`);
    without local weights and without permission to download this raises
    :class:`photocull.backbones.WeightsUnavailable` at once, never waiting on a network.
    """
    oc = import_open_clip()
    if cfg.pretrained is None:
        act = oc.transformer.QuickGELU if cfg.quick_gelu else nn.GELU
        return oc.transformer.VisionTransformer(
            image_size=cfg.image_size,
            patch_size=cfg.patch,
            width=cfg.width,
            layers=cfg.layers,
            heads=cfg.heads,
            mlp_ratio=cfg.mlp_ratio,
            output_dim=cfg.output_dim,
            act_layer=act,
            norm_layer=oc.transformer.LayerNorm,
        )

    from photocull.backbones import BackboneSpec, WeightsUnavailable, download_allowed, resolve_weights

    spec = BackboneSpec(model=cfg.clip_model, pretrained=cfg.pretrained)
    path = resolve_weights(spec)
    if path is None and not download_allowed(allow_download):
        raise WeightsUnavailable(
            f"CLIP weights {spec.label} are not on this machine; FGAesQ only needs them to start "
            "training (an FGAesQ checkpoint carries the whole tower). Set "
            "PHOTOCULL_ALLOW_DOWNLOAD=1 to fetch them.",
            model=spec.model, pretrained=spec.pretrained)
    clip = oc.create_model(cfg.clip_model, pretrained=str(path) if path else cfg.pretrained,
                           force_quick_gelu=cfg.quick_gelu)
    visual = clip.visual
    got = (visual.conv1.weight.shape[0], len(visual.transformer.resblocks), visual.proj.shape[1])
    want = (cfg.width, cfg.layers, cfg.output_dim)
    if got != want:
        raise ValueError(f"{cfg.clip_model} has (width, layers, output_dim) {got}, config says {want}")
    return visual


def key_padding_mask(valid: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` token validity → ``(B, 1 + N)`` keep-mask with the CLS slot first (always kept)."""
    cls = torch.ones(valid.shape[0], 1, dtype=torch.bool, device=valid.device)
    return torch.cat([cls, valid.to(torch.bool)], dim=1)


def _additive_mask(keep: torch.Tensor, heads: int, dtype: torch.dtype) -> torch.Tensor:
    """``(B, L)`` keep-mask → the ``(B·heads, L, L)`` float mask ``nn.MultiheadAttention`` adds."""
    b, length = keep.shape
    mask = torch.zeros(b, length, dtype=dtype, device=keep.device)
    mask = mask.masked_fill(~keep, float("-inf"))
    return mask[:, None, None, :].expand(b, heads, length, length).reshape(b * heads, length, length)


def _block_sdpa(blk: nn.Module, x: torch.Tensor, keep4: torch.Tensor, heads: int) -> torch.Tensor:
    """One open_clip ``ResidualAttentionBlock`` (pre-norm, batch-first) with SDPA and a key mask."""
    b, length, d = x.shape
    attn = blk.attn
    y = blk.ln_1(x)
    qkv = F.linear(y, attn.in_proj_weight, attn.in_proj_bias)
    qkv = qkv.view(b, length, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
    o = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=keep4)
    o = attn.out_proj(o.transpose(1, 2).reshape(b, length, d))
    x = x + blk.ls_1(o)
    return x + blk.ls_2(blk.mlp(blk.ln_2(x)))


class NativeViT(nn.Module):
    """CLIP ViT over DiffToken sets: ``forward(patches, positions, grids, scales, valid)``.

    Parameters: ``visual`` (open_clip's tower, all of it), ``scale_embedding`` (1×2×width)
    and ``mask_token`` (1×1×width).
    """

    def __init__(self, cfg: FGAesQConfig, visual: nn.Module | None = None, *,
                 attn_impl: str = "sdpa", allow_download: bool | None = None):
        super().__init__()
        self.cfg = cfg
        self.visual = visual if visual is not None else build_clip_visual(cfg, allow_download=allow_download)
        blk0 = self.visual.transformer.resblocks[0]
        self.heads = blk0.attn.num_heads
        self.scale_embedding = nn.Parameter(torch.zeros(1, 2, cfg.width))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        nn.init.trunc_normal_(self.scale_embedding, std=0.02)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        if attn_impl not in ("sdpa", "open_clip"):
            raise ValueError(f"attn_impl must be 'sdpa' or 'open_clip', not {attn_impl!r}")
        # SDPA needs the plain pre-norm block; anything else goes through the block itself.
        plain = all(type(b).__name__ == "ResidualAttentionBlock" and not hasattr(b, "ln_1_kv")
                    for b in self.visual.transformer.resblocks)
        self.attn_impl = attn_impl if plain else "open_clip"

    # -- embeddings -------------------------------------------------------------------------

    def _grid_table(self, grids: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Interpolated positional grids of every distinct ``(gh, gw)`` in the batch, stacked.

        Returns ``(table (T, width), offset (B,))``: token ``(r, c)`` of image ``b`` reads row
        ``offset[b] + r·gw_b + c``.
        """
        pe = self.visual.positional_embedding
        g = self.cfg.pos_grid
        base = pe[1:].reshape(g, g, -1).permute(2, 0, 1).unsqueeze(0).float()
        pairs = [tuple(int(v) for v in row) for row in grids.tolist()]
        starts: dict[tuple[int, int], int] = {}
        tables = []
        n = 0
        for gh, gw in pairs:
            if (gh, gw) in starts:
                continue
            if (gh, gw) == (g, g):
                t = base
            else:
                t = F.interpolate(base, size=(gh, gw), mode="bicubic", align_corners=False)
            tables.append(t[0].permute(1, 2, 0).reshape(gh * gw, -1))
            starts[(gh, gw)] = n
            n += gh * gw
        offset = torch.tensor([starts[p] for p in pairs], dtype=torch.long, device=pe.device)
        return torch.cat(tables, 0).to(dtype), offset

    def position_embedding(self, positions: torch.Tensor, grids: torch.Tensor,
                           scales: torch.Tensor) -> torch.Tensor:
        """``(B, N, width)`` positional embeddings of the tokens (see the module docstring)."""
        table, offset = self._grid_table(grids, self.visual.positional_embedding.dtype)
        gh = grids[:, 0].to(positions.device).view(-1, 1)
        gw = grids[:, 1].to(positions.device).view(-1, 1)
        r = positions[..., 0].clamp(min=0)
        c = positions[..., 1].clamp(min=0)
        r = torch.minimum(r, gh - 1)
        c = torch.minimum(c, gw - 1)
        r1 = torch.minimum(r + 1, gh - 1)
        c1 = torch.minimum(c + 1, gw - 1)
        off = offset.to(positions.device).view(-1, 1)
        corner = table[off + r * gw + c]
        block = (corner + table[off + r1 * gw + c] + table[off + r * gw + c1] + table[off + r1 * gw + c1]) / 4
        return torch.where((scales == 1).unsqueeze(-1), block, corner)

    def embed(self, patches: torch.Tensor, positions: torch.Tensor, grids: torch.Tensor,
              scales: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Token embeddings with CLS first, before ``ln_pre``: ``(B, 1 + N, width)``."""
        v = self.visual
        w = v.conv1.weight.reshape(v.conv1.weight.shape[0], -1)
        x = F.linear(patches.to(w.dtype), w)
        x = x + self.position_embedding(positions, grids, scales).to(x.dtype)
        x = x + self.scale_embedding[0, scales.clamp(0, 1)].to(x.dtype)
        x = torch.where(valid.unsqueeze(-1), x, self.mask_token.to(x.dtype).expand_as(x))
        cls = (v.class_embedding + v.positional_embedding[0]).to(x.dtype)
        return torch.cat([cls.expand(x.shape[0], 1, -1), x], dim=1)

    # -- forward ----------------------------------------------------------------------------

    def forward(self, patches: torch.Tensor, positions: torch.Tensor, grids: torch.Tensor,
                scales: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``patches (B, N, 3·p·p)``, ``positions (B, N, 2)`` long, ``grids (B, 2)`` long,
        ``scales (B, N)`` long, ``valid (B, N)`` bool → image embedding ``(B, output_dim)``."""
        v = self.visual
        x = v.ln_pre(self.embed(patches, positions, grids, scales, valid))
        keep = key_padding_mask(valid)
        if self.attn_impl == "sdpa":
            keep4 = keep[:, None, None, :]
            for blk in v.transformer.resblocks:
                x = _block_sdpa(blk, x, keep4, self.heads)
        else:
            mask = _additive_mask(keep, self.heads, x.dtype)
            for blk in v.transformer.resblocks:
                x = blk(x, attn_mask=mask)
        cls = v.ln_post(x[:, 0])
        return cls @ v.proj

    def forward_tokens(self, batch: Any) -> torch.Tensor:
        """:meth:`forward` on a :class:`photocull.model.difftoken.TokenBatch`."""
        return self(batch.patches, batch.positions, batch.grids, batch.scales, batch.valid)
