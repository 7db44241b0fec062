"""Fixtures for the FGAesQ tests: tiny random models and synthetic photos (no weights, no network)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:  # plain `pytest` without an installed package
    sys.path.insert(0, str(_REPO))

import torch  # noqa: E402

from photocull.model.config import FGAesQConfig  # noqa: E402


def photo(seed: int, h: int = 120, w: int = 180) -> np.ndarray:
    """A synthetic photo: gradient, stripes, a few discs and grain; ``(h, w, 3)`` uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    base = rng.uniform(50, 200, 3)
    for c in range(3):
        img[..., c] = base[c] * (0.6 + 0.4 * y / h) + 20 * np.sin(x / rng.uniform(4, 20) + c)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(5, min(h, w) / 3)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 3.0, img.shape)
    return img.clip(0, 255).astype(np.uint8)


def burst(seed: int, n: int, h: int = 120, w: int = 180) -> list[np.ndarray]:
    """``n`` frames of one scene, each shifted a little and with its own grain."""
    base = photo(seed, h, w).astype(np.float32)
    rng = np.random.default_rng(seed + 1000)
    frames = []
    for i in range(n):
        f = np.roll(base, (i, 2 * i), axis=(0, 1)) + rng.normal(0, 2.0 + i, base.shape)
        frames.append(f.clip(0, 255).astype(np.uint8))
    return frames


@pytest.fixture
def tiny_cfg() -> FGAesQConfig:
    return FGAesQConfig.tiny()


@pytest.fixture
def tiny_model(tiny_cfg):
    from photocull.model.fgaesq import FGAesQ

    torch.manual_seed(0)
    model = FGAesQ.from_config(tiny_cfg).eval()
    # random init leaves the head nearly uniform; spread it so scores differ visibly
    with torch.no_grad():
        for p in model.iqa_head.parameters():
            p.mul_(4.0)
    return model
