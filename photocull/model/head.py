"""The FGAesQ score head: an MLP to a 10-bin score distribution and its expected score.

``ScoreHead`` *is* the ``nn.Sequential`` of the official model, so its parameters are named
``iqa_head.{0,3,6}.{weight,bias}`` when the module is stored as ``iqa_head``:

    0 Linear(512, 256)  1 ReLU  2 Dropout(0.2)
    3 Linear(256, 64)   4 ReLU  5 Dropout(0.1)
    6 Linear(64, 10)

The distribution is ``softmax(logits)`` over bins 1..10 and the score its mean,
``Σ p_i · i`` (NIMA-style), so scores always lie in [1, 10].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ScoreHead", "expected_score"]


def expected_score(dist: torch.Tensor) -> torch.Tensor:
    """``(..., K)`` probabilities over bins 1..K → ``(...)`` expected bin."""
    bins = torch.arange(1, dist.shape[-1] + 1, dtype=dist.dtype, device=dist.device)
    return (dist * bins).sum(-1)


class ScoreHead(nn.Sequential):
    """``forward(embedding) -> (dist (B, K), score (B,))``; :meth:`logits` gives the raw outputs."""

    def __init__(self, in_dim: int = 512, hidden: Sequence[int] = (256, 64), num_bins: int = 10,
                 dropout: Sequence[float] = (0.2, 0.1)):
        if len(hidden) != len(dropout):
            raise ValueError("one dropout rate per hidden layer")
        layers: list[nn.Module] = []
        d = in_dim
        for h, p in zip(hidden, dropout):
            layers += [nn.Linear(d, h), nn.ReLU(), nn.Dropout(p)]
            d = h
        layers.append(nn.Linear(d, num_bins))
        super().__init__(*layers)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        for m in self:
            x = m(x)
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        dist = torch.softmax(self.logits(x).float(), dim=-1)
        return dist, expected_score(dist)
