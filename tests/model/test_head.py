"""The score head: official parameter names, distribution and expected score."""

from __future__ import annotations

import torch
from torch import nn

from photocull.model.config import FGAesQConfig
from photocull.model.head import ScoreHead, expected_score


def test_official_layout_and_names():
    head = ScoreHead()
    linear = [i for i, m in enumerate(head) if isinstance(m, nn.Linear)]
    assert linear == [0, 3, 6]
    assert [(head[i].in_features, head[i].out_features) for i in linear] == [(512, 256), (256, 64), (64, 10)]
    assert [m.p for m in head if isinstance(m, nn.Dropout)] == [0.2, 0.1]
    assert sorted(head.state_dict()) == sorted(f"{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias"))


def test_scores_lie_in_1_to_10():
    torch.manual_seed(0)
    head = ScoreHead().eval()
    x = torch.randn(64, 512) * 50  # extreme inputs push the softmax to one end
    dist, score = head(x)
    assert dist.shape == (64, 10) and score.shape == (64,)
    torch.testing.assert_close(dist.sum(-1), torch.ones(64))
    assert (score >= 1.0).all() and (score <= 10.0).all()
    torch.testing.assert_close(score, (dist * torch.arange(1, 11)).sum(-1))


def test_expected_score_extremes():
    one_hot = torch.eye(10)
    torch.testing.assert_close(expected_score(one_hot), torch.arange(1, 11, dtype=torch.float32))
    assert float(expected_score(torch.full((10,), 0.1))) == 5.5


def test_tiny_head_from_config():
    cfg = FGAesQConfig.tiny()
    head = ScoreHead(cfg.output_dim, cfg.head_hidden, cfg.num_bins, cfg.head_dropout)
    assert head[0].in_features == 32 and head[6].out_features == 10
