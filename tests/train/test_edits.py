from __future__ import annotations

import numpy as np
import pytest

from photocull.train.edits import (
    CAPTIONS,
    FAMILIES,
    EditPairSampler,
    apply_edit,
    edit_preference,
    procedural_images,
)


@pytest.fixture(scope="module")
def img():
    return procedural_images(1, 128, seed=3)[0]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_edit_changes_the_image_and_keeps_its_size(img, family):
    out = apply_edit(img, family, 0.7, 0)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - img).mean() > 2.0
    assert family in CAPTIONS and CAPTIONS[family].startswith("the ")


@pytest.mark.parametrize("family", ["defocus", "noise", "underexpose", "overexpose", "jpeg", "crop"])
def test_damage_grows_with_magnitude(img, family):
    d = [np.abs(apply_edit(img, family, m, 0).astype(int) - img).mean() for m in (0.1, 0.5, 1.0)]
    assert d[0] < d[1] < d[2]


def test_blur_removes_detail(img):
    def detail(a):
        g = a.astype(float).mean(-1)
        return np.abs(np.diff(g, axis=1)).mean()

    assert detail(apply_edit(img, "defocus", 0.5, 0)) < 0.7 * detail(img)
    assert detail(apply_edit(img, "motion", 0.5, 0)) < 0.8 * detail(img)


def test_exposure_direction(img):
    assert apply_edit(img, "underexpose", 0.5).mean() < img.mean() < apply_edit(img, "overexpose", 0.5).mean()


def test_preference_grows_with_magnitude():
    ps = [edit_preference(m) for m in (0.0, 0.1, 0.5, 1.0)]
    assert ps[0] == pytest.approx(0.5)
    assert all(a < b for a, b in zip(ps, ps[1:]))
    assert ps[-1] > 0.99


def test_sampler_is_deterministic():
    imgs = procedural_images(4, 64, seed=0)
    a, b = EditPairSampler(imgs, seed=5), EditPairSampler(imgs, seed=5)
    for i in (0, 7, 123):
        pa, pb = a.pair(i), b.pair(i)
        assert pa.family == pb.family and pa.magnitude == pb.magnitude
        assert np.array_equal(pa.edited, pb.edited) and np.array_equal(pa.original, pb.original)
        assert pa.caption == CAPTIONS[pa.family] and pa.p == pytest.approx(edit_preference(pa.magnitude))
    c = EditPairSampler(imgs, seed=6)
    assert any(not np.array_equal(a.pair(i).edited, c.pair(i).edited) for i in range(5))


def test_unknown_family_and_bad_magnitude(img):
    with pytest.raises(ValueError, match="unknown edit family"):
        apply_edit(img, "sepia", 0.5)
    with pytest.raises(ValueError, match="magnitude"):
        apply_edit(img, "noise", 1.5)
    with pytest.raises(ValueError, match="unknown edit family"):
        EditPairSampler([img], ["sepia"])
