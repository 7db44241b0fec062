from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from photocull.train.losses import (
    CaptionBank,
    ctalign_loss,
    emd_loss,
    hashed_text_encoder,
    mos_loss,
    random_clip_text_encoder,
    rankreg_loss,
)


def test_emd_known_values():
    a = torch.tensor([[1.0, 0, 0, 0]])
    b = torch.tensor([[0, 0, 0, 1.0]])
    # CDF difference (1, 1, 1, 0): sqrt(3/4)
    assert float(emd_loss(a, b)) == pytest.approx(math.sqrt(0.75), abs=1e-6)
    assert float(emd_loss(a, a)) == pytest.approx(0.0, abs=1e-5)
    c = torch.tensor([[0, 1.0, 0, 0]])  # one bin away: CDF diff (1, 0, 0, 0) -> sqrt(1/4)
    assert float(emd_loss(a, c)) == pytest.approx(0.5, abs=1e-6)
    assert float(emd_loss(torch.cat([a, a]), torch.cat([b, c]))) == pytest.approx((math.sqrt(0.75) + 0.5) / 2, abs=1e-6)


def test_mos_loss():
    assert float(mos_loss(torch.tensor([5.0, 7.0]), torch.tensor([6.0, 4.0]))) == pytest.approx((1 + 9) / 2)


def test_rankreg_known_values():
    sa, sb = torch.tensor([2.0]), torch.tensor([1.0])
    q = 1 / (1 + math.exp(-1.0))
    assert float(rankreg_loss(sa, sb, torch.tensor([1.0]))) == pytest.approx(-math.log(q), rel=1e-5)
    p = 0.7
    want = -(p * math.log(q) + (1 - p) * math.log(1 - q))
    assert float(rankreg_loss(sa, sb, torch.tensor([p]))) == pytest.approx(want, rel=1e-5)
    q2 = 1 / (1 + math.exp(-0.5))  # tau = 2
    assert float(rankreg_loss(sa, sb, torch.tensor([1.0]), tau=2.0)) == pytest.approx(-math.log(q2), rel=1e-5)
    fid = 1 - math.sqrt(p * q) - math.sqrt((1 - p) * (1 - q))
    assert float(rankreg_loss(sa, sb, torch.tensor([p]), kind="fidelity")) == pytest.approx(fid, abs=1e-5)
    # equal scores against p = 0.5: BCE = log 2, fidelity = 0
    z = torch.zeros(1)
    assert float(rankreg_loss(z, z, torch.tensor([0.5]))) == pytest.approx(math.log(2), rel=1e-5)
    assert float(rankreg_loss(z, z, torch.tensor([0.5]), kind="fidelity")) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError):
        rankreg_loss(sa, sb, torch.tensor([1.0]), kind="hinge")


def test_rankreg_gradient_pushes_the_better_up():
    sa = torch.tensor([1.0], requires_grad=True)
    sb = torch.tensor([1.0], requires_grad=True)
    rankreg_loss(sa, sb, torch.tensor([0.9])).backward()
    assert sa.grad.item() < 0 < sb.grad.item()


def test_ctalign_known_values():
    ea = torch.tensor([[1.0, 0.0]])
    eb = torch.tensor([[0.0, 1.0]])
    t = torch.tensor([[1.0, -1.0]])  # exactly the direction a - b
    assert float(ctalign_loss(ea, eb, t)) == pytest.approx(0.0, abs=1e-6)
    assert float(ctalign_loss(eb, ea, t)) == pytest.approx(2.0, abs=1e-6)  # opposite
    # p < 0.5: b is the better frame, so b - a is compared with the caption
    assert float(ctalign_loss(eb, ea, t, torch.tensor([0.2]))) == pytest.approx(0.0, abs=1e-6)
    orth = torch.tensor([[1.0, 1.0]])
    assert float(ctalign_loss(ea, eb, orth)) == pytest.approx(1.0, abs=1e-6)
    # a tie carries no weight
    two = ctalign_loss(torch.cat([ea, ea]), torch.cat([eb, eb]), torch.cat([t, -t]), torch.tensor([1.0, 0.5]))
    assert float(two) == pytest.approx(0.0, abs=1e-6)


def test_caption_bank_encodes_each_caption_once():
    calls = []

    def enc(texts):
        calls.append(list(texts))
        return hashed_text_encoder(8)(texts)

    bank = CaptionBank(enc, ["the sharper photo", "the cleaner photo"])
    x = bank.lookup(["the sharper photo", None, "the cleaner photo", "the sharper photo"])
    y = bank.lookup(["the cleaner photo"])
    assert x.shape == (4, 8)
    assert torch.equal(x[0], x[3]) and torch.all(x[1] == 0) and torch.equal(x[2], y[0])
    assert len(calls) == 1
    bank.lookup(["the straighter horizon"])
    assert calls[-1] == ["the straighter horizon"] and len(calls) == 2
    assert torch.allclose(x.norm(dim=1)[[0, 2, 3]], torch.ones(3))


def test_random_clip_text_tower_is_frozen_and_deterministic():
    enc = random_clip_text_encoder(16)
    a = enc(["the sharper photo", "the better exposed photo"])
    b = random_clip_text_encoder(16)(["the sharper photo"])
    assert a.shape == (2, 16)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(a[0], a[1])
