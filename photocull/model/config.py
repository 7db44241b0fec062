"""FGAesQ configuration as plain dataclasses (JSON-serialisable, stored beside the weights).

:class:`FGAesQConfig` describes the network (the CLIP ViT image tower, the extra token
embeddings and the score head); :class:`DiffTokenConfig` describes how an image becomes
tokens (:mod:`photocull.model.difftoken`). The defaults are the published model: OpenAI
CLIP ViT-B/16 (width 768, 12 layers, 12 heads, patch 16, QuickGELU, 512-d projection),
at most 511 tokens + CLS, and the head 512→256→64→10.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from photocull.pretrained import WEIGHTS

FGAESQ = WEIGHTS["fgaesq"]  # its table entry: repo, and the open_clip model (and tag training starts from) of its tower

__all__ = ["DiffTokenConfig", "FGAesQConfig"]


@dataclass
class DiffTokenConfig:
    """How :func:`photocull.model.difftoken.build_tokens` turns an image into tokens.

    ``patch_budget_factor`` × (``max_tokens`` + 1) is the number of 16-px patches the
    resized image's grid should hold (1.2 × 512 ≈ 614 for the published model); the
    short side is never smaller than ``min_short_side`` (384 px). Both sides are multiples
    of ``block`` (32). ``keep_blocks`` blocks (14 → 56 tokens) stay at full resolution,
    chosen among the ``important_fraction`` most different blocks.
    """

    patch: int = 16
    block: int = 32
    keep_blocks: int = 14
    important_fraction: float = 0.5
    patch_budget_factor: float = 1.2
    min_short_side: int = 384
    max_tokens: int = 511

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DiffTokenConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class FGAesQConfig:
    """The FGAesQ network.

    ``clip_model``/``pretrained`` name the open_clip model whose image tower is the
    backbone (``pretrained=FGAESQ.tag``, "openai", loads OpenAI's CLIP weights from the local cache —
    only needed to start training; an FGAesQ checkpoint carries the whole tower).
    ``pos_grid`` is the side of CLIP's positional grid (224 / 16 = 14).
    """

    width: int = 768
    layers: int = 12
    heads: int = 12
    patch: int = 16
    mlp_ratio: float = 4.0
    output_dim: int = 512
    max_tokens: int = 511
    pos_grid: int = 14
    quick_gelu: bool = True
    head_hidden: tuple[int, ...] = (256, 64)
    num_bins: int = 10
    head_dropout: tuple[float, ...] = (0.2, 0.1)
    clip_model: str = FGAESQ.model or ""
    pretrained: str | None = None
    tokens: DiffTokenConfig = field(default_factory=DiffTokenConfig)

    def __post_init__(self) -> None:
        self.head_hidden = tuple(int(h) for h in self.head_hidden)
        self.head_dropout = tuple(float(p) for p in self.head_dropout)
        if isinstance(self.tokens, dict):
            self.tokens = DiffTokenConfig.from_dict(self.tokens)
        if len(self.head_dropout) != len(self.head_hidden):
            raise ValueError("head_dropout needs one rate per hidden layer")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")
        if self.tokens.patch != self.patch:
            raise ValueError(f"token patch {self.tokens.patch} != model patch {self.patch}")
        if self.tokens.max_tokens != self.max_tokens:
            raise ValueError(f"token budget {self.tokens.max_tokens} != max_tokens {self.max_tokens}")

    @property
    def head_width(self) -> int:
        return self.width // self.heads

    @property
    def image_size(self) -> int:
        """The square input size CLIP was trained at (its positional grid × patch)."""
        return self.pos_grid * self.patch

    @classmethod
    def tiny(cls) -> FGAesQConfig:
        """A few-thousand-parameter model with the same structure, for tests."""
        return cls(width=64, layers=2, heads=2, output_dim=32, max_tokens=63, pos_grid=4,
                   head_hidden=(16, 8), clip_model="fgaesq-tiny",
                   tokens=DiffTokenConfig(keep_blocks=6, min_short_side=64, max_tokens=63))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["head_hidden"] = list(self.head_hidden)
        d["head_dropout"] = list(self.head_dropout)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FGAesQConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if isinstance(kw.get("tokens"), dict):
            kw["tokens"] = DiffTokenConfig.from_dict(kw["tokens"])
        return cls(**kw)
