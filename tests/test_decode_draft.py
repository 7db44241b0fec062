"""Draft decoding is what makes a 24 MP frame cheap: libjpeg's DCT scaling, not a decode at full
size followed by a box filter. These tests fail when ``img.draft`` is removed from decode()
(issue 27: the older tests all passed without it)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photocull.decode import decode
from tests.conftest import save_jpeg, scene


@pytest.fixture()
def big_jpeg(tmp_path: Path) -> Path:
    img = scene(3, size=(640, 480)).resize((2560, 1920), Image.Resampling.BICUBIC)
    return save_jpeg(tmp_path / "IMG_0001.JPG", img, quality=90)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_large_jpeg_is_decoded_by_dct_scaling(big_jpeg: Path, mode: str) -> None:
    with Image.open(big_jpeg) as ref:  # what libjpeg's 1/4 scaling gives, by itself
        ref.draft(mode, (480, 480))
        assert ref.size == (640, 480)
        expected = np.asarray(ref.convert(mode))
    got = decode(big_jpeg, "jpeg", decode_size=480, mode=mode)
    assert (got.width, got.height) == (2560, 1920)  # the file's size, not the decode's
    assert got.image.size == (640, 480)
    assert np.array_equal(np.asarray(got.image), expected)


def test_the_full_size_decode_and_box_filter_differ(big_jpeg: Path) -> None:
    """The check above can tell the two paths apart: a full decode reduced by 4 is not the same."""
    with Image.open(big_jpeg) as full:
        reduced = np.asarray(full.convert("RGB").reduce(4), dtype=np.int16)
    got = np.asarray(decode(big_jpeg, "jpeg", decode_size=480).image, dtype=np.int16)
    assert reduced.shape == got.shape and np.abs(reduced - got).max() > 0
