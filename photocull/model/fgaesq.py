"""The FGAesQ model: the native-resolution CLIP tower plus the score head, and its file format.

Parameter names (``FGAesQ.state_dict()``)::

    tower.visual.*            open_clip's VisionTransformer (conv1, class_embedding,
                              positional_embedding, ln_pre, transformer.resblocks.N.*, ln_post, proj)
    tower.scale_embedding     (1, 2, width)
    tower.mask_token          (1, 1, width)
    iqa_head.{0,3,6}.{weight,bias}

Files: one ``.safetensors`` holding the tensors, with the :class:`FGAesQConfig` as JSON in its
metadata (``"photocull.fgaesq.config"``) and ``"format": "pt"``. Tensors are stored in float32
unless a smaller ``dtype`` is asked for; loading casts them to the model's dtype.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from photocull.model.config import FGAesQConfig
from photocull.model.difftoken import TokenBatch
from photocull.model.head import ScoreHead
from photocull.model.vit import NativeViT

__all__ = ["CONFIG_METADATA_KEY", "FGAesQ", "read_config"]

CONFIG_METADATA_KEY = "photocull.fgaesq.config"


class FGAesQ(nn.Module):
    """``forward(TokenBatch) -> (dist (B, 10), score (B,))``; scores lie in [1, 10]."""

    def __init__(self, cfg: FGAesQConfig, *, visual: nn.Module | None = None,
                 attn_impl: str = "sdpa", allow_download: bool | None = None):
        super().__init__()
        self.cfg = cfg
        self.tower = NativeViT(cfg, visual, attn_impl=attn_impl, allow_download=allow_download)
        self.iqa_head = ScoreHead(cfg.output_dim, cfg.head_hidden, cfg.num_bins, cfg.head_dropout)

    @classmethod
    def from_config(cls, cfg: FGAesQConfig | dict | None = None, **kwargs) -> FGAesQ:
        """A model for ``cfg`` (default: the published architecture); random init unless
        ``cfg.pretrained`` names CLIP weights for the tower."""
        if cfg is None:
            cfg = FGAesQConfig()
        elif isinstance(cfg, dict):
            cfg = FGAesQConfig.from_dict(cfg)
        return cls(cfg, **kwargs)

    def embed(self, batch: TokenBatch) -> torch.Tensor:
        """The tower's ``(B, output_dim)`` image embedding."""
        return self.tower.forward_tokens(batch)

    def forward(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return self.iqa_head(self.embed(batch))

    # -- files ------------------------------------------------------------------------------

    def save_safetensors(self, path: str | os.PathLike, *, dtype: torch.dtype | None = None,
                         extra_metadata: dict[str, str] | None = None) -> Path:
        """Write the weights and config to ``path`` atomically (temporary file + rename)."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for k, v in self.state_dict().items():
            v = v.detach().to("cpu")
            if dtype is not None and v.is_floating_point():
                v = v.to(dtype)
            tensors[k] = v.contiguous().clone()
        meta = {"format": "pt", CONFIG_METADATA_KEY: json.dumps(self.cfg.to_dict())}
        meta.update(extra_metadata or {})
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata=meta)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load_safetensors(cls, path: str | os.PathLike, cfg: FGAesQConfig | None = None, *,
                         device: str | torch.device = "cpu", strict: bool = True,
                         attn_impl: str = "sdpa") -> FGAesQ:
        """A model from :meth:`save_safetensors`' file (config from its metadata unless given)."""
        from safetensors.torch import load_file

        if cfg is None:
            cfg = read_config(path)
        cfg = FGAesQConfig.from_dict({**cfg.to_dict(), "pretrained": None})  # the file has the weights
        state = load_file(str(path), device="cpu")
        model = _without_init(cls, cfg, attn_impl) if strict else None
        if model is None:
            model = cls(cfg, attn_impl=attn_impl)
            model.load_state_dict(state, strict=strict)
        else:  # the file's tensors become the parameters (as float32 etc.): no second copy
            want = model.state_dict()
            state = {k: v.to(want[k].dtype) if k in want else v for k, v in state.items()}
            model.load_state_dict(state, strict=True, assign=True)
        return model.to(device).eval()


def _without_init(cls, cfg: FGAesQConfig, attn_impl: str) -> FGAesQ | None:
    """The module without storage (meta device), for a strict load to supply every tensor: a
    random init costs ~4 CPU-s for 86 M parameters and a copy 345 MB, and the load replaces
    both. ``None`` when a buffer is not saved in a state dict (the load would not supply it)."""
    from photocull.model.vit import import_open_clip

    import_open_clip()  # imported outside the meta context (torchvision registers its operators)
    with torch.device("meta"):
        model = cls(cfg, attn_impl=attn_impl)
    if {n for n, _ in model.named_buffers()} - set(model.state_dict()):
        return None
    return model


def read_config(path: str | os.PathLike) -> FGAesQConfig:
    """The :class:`FGAesQConfig` stored in a photocull FGAesQ ``.safetensors`` file."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if CONFIG_METADATA_KEY not in meta:
        raise ValueError(f"{path} has no FGAesQ config in its metadata (not written by photocull?)")
    return FGAesQConfig.from_dict(json.loads(meta[CONFIG_METADATA_KEY]))
