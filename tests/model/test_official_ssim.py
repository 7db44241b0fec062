"""The fast per-block SSIM that ranks FGAesQ's blocks equals the float64 reference bit for bit.

A drawn rank picks whichever block sits there, so a value off by one rounding can change the
tokens; these inputs are the ones where that would show: exact ties (duplicate frames,
constant images), one block apart, extreme pixel values (the largest sums the exactness
argument allows), flat blocks with a grey level of noise (variance cancellation), padded
edges and grids of different widths (blocks gathered from different places).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from photocull.model import official_ssim as ssim
from photocull.model import official_tokens as ot


def _grids(a: np.ndarray, b: np.ndarray) -> tuple[ot._Grid, ot._Grid, int]:
    ga, gb = ot._Grid(a), ot._Grid(b)
    rows = min(ga.h, gb.h) // 32
    return ga, gb, min(rows * ga.bw, rows * gb.bw)


def _reference(ga, gb, n: int) -> np.ndarray:
    idx = np.arange(n)
    return ssim.block_ssim_difference(ga.unit(idx), gb.unit(idx)).numpy()


def _noise(seed: int, h: int, w: int, lo: int = 0, hi: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(lo, hi, (h, w, 3), dtype=np.uint8)


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    noise = _noise(1, 200, 264)
    one_block = noise.copy()
    one_block[64:96, 96:128] = 255 - one_block[64:96, 96:128]
    flat = np.full((160, 224, 3), 200, np.uint8)
    grain = flat + _noise(2, 160, 224, 0, 2)  # one grey level of noise on a bright flat
    checker = ((np.indices((160, 224)).sum(0) % 2) * 255).astype(np.uint8)[..., None].repeat(3, 2)
    return {
        "duplicates": (noise, noise.copy()),  # every value 0: the ranking is all ties
        "constant images": (flat, np.full_like(flat, 90)),  # every block the same value
        "one block apart": (noise, one_block),
        "bright flat with grain": (grain, flat + _noise(3, 160, 224, 0, 2)),
        "extremes": (checker, 255 - checker),  # 0 and 255 only: the largest exact sums
        "padded edges": (_noise(4, 170, 250), _noise(5, 170, 250)),  # 170x250: partial blocks
        "different widths": (_noise(6, 192, 320), _noise(7, 224, 256)),  # blocks gathered
    }


@pytest.mark.parametrize("name", list(_cases()))
@pytest.mark.parametrize("path", ["compiled", "numpy"])
def test_fast_values_equal_the_reference_bit_for_bit(name, path, monkeypatch):
    if path == "numpy":  # the fallback without numba gives the same bits
        monkeypatch.setattr(ssim, "_kernel", lambda: None)
    elif ssim._kernel() is None:
        pytest.skip("numba is not installed")
    a, b = _cases()[name]
    ga, gb, n = _grids(a, b)
    got = ssim.pair_block_difference(ga, gb, n, workers=2)
    want = _reference(ga, gb, n)
    assert got.dtype == np.float64 and got.shape == (n,)
    assert np.array_equal(got, want), float(np.abs(got - want).max())


def test_near_tie_cases_are_near_ties():
    """The cases do what they claim (else the equality above proves little)."""
    cases = _cases()
    dup = ssim.pair_block_difference(*_grids(*cases["duplicates"]))
    assert np.all(dup == 0.0)
    const = ssim.pair_block_difference(*_grids(*cases["constant images"]))
    assert len(set(const.tolist())) == 1
    one = ssim.pair_block_difference(*_grids(*cases["one block apart"]))
    assert np.count_nonzero(one) == 1
    grain = ssim.pair_block_difference(*_grids(*cases["bright flat with grain"]))
    assert len(grain) > 20 and np.ptp(grain) < 0.1 and len(set(grain.tolist())) > 10  # dense, distinct


@pytest.mark.parametrize("name", ["duplicates", "one block apart", "bright flat with grain", "different widths"])
def test_pair_tokens_equal_the_reference_ranking(name):
    """The tokens built from the fast ranking are the reference ranking's, ties included."""
    a, b = _cases()[name]
    big_a = np.tile(a, (3, 3, 1))  # > 512 patches: the ranked (multi-scale) path
    big_b = np.tile(b, (3, 3, 1))
    pe = torch.randn(197, 768, generator=torch.Generator().manual_seed(0))
    for pid in ("s_1_2", "s_2_5"):
        fast = ot.pair_tokens(big_a, big_b, pe, pid)
        ref = ot.pair_tokens(big_a, big_b, pe, pid, reference=True)
        for f, r in zip(fast, ref):
            assert torch.equal(f.patches, r.patches) and torch.equal(f.scale, r.scale), (name, pid)
            assert torch.equal(f.pos, r.pos), (name, pid)


def test_ties_rank_by_block_number_as_pythons_stable_sort():
    values = [0.5, 0.0, 0.5, 0.25, 0.0, 0.5]
    want = sorted(range(len(values)), key=lambda i: values[i], reverse=True)
    assert ot._ranked(values).tolist() == want == [0, 2, 5, 3, 1, 4]


def test_pixels_are_totensor_values():
    """The kernel's table is ToTensor's k / 255 in float32, value for value."""
    k = np.arange(256, dtype=np.uint8)
    assert np.array_equal(ssim._LUT, (torch.from_numpy(k).float() / 255).numpy())
    assert np.array_equal(ssim._LUT, ot._to_tensor(k.reshape(16, 16, 1).repeat(3, 2))[0].numpy().ravel())
