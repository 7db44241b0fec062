"""The pipeline's FGAesQ scorer on the official path: full-resolution sources, series ids,
O(n) references, single frames with the seed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from tests.model import official_fixture as fx


@pytest.fixture(scope="module")
def tiny_official():
    from photocull.model.checkpoint import import_official

    model, _ = import_official(fx.official_state_dict(4, layers=1, width=64), strict=True)
    return model.eval()


def test_scorer_uses_full_resolution_sources_and_official_series_ids(tiny_official, tmp_path):
    from photocull.model.official import score_images, score_series
    from photocull.records import Series
    from photocull.scorers.fgaesq import FGAesQScorer

    frames = fx.series_frames(11, [(400, 300)] * 3)
    single = fx.scene(12, 700, 500)
    paths = [fx.write_png(f, tmp_path / f"f{i}.png") for i, f in enumerate(frames + [single])]
    # working images are small thumbnails; the scorer must not score those
    analyses = [SimpleNamespace(image=np.asarray(f[::4, ::4]), embedding=None) for f in frames + [single]]
    series = [Series(id=7, members=[0, 1, 2]), Series(id=8, members=[3])]
    sc = FGAesQScorer(tiny_official, exhaustive=True, seed=3)
    got = sc._score_official(series, analyses, None, paths)
    want = score_series(tiny_official, frames, series_id="7", exhaustive=True).scores
    assert np.allclose([got[0], got[1], got[2]], want, atol=1e-6)
    assert got[3] == pytest.approx(float(score_images(tiny_official, [single], 3)[0]), abs=1e-6)
    # O(n): each frame's score is its pair score with its reference, from the same pair tokens
    on = FGAesQScorer(tiny_official, exhaustive=False, seed=3)._score_official(series, analyses, None, paths)
    ex = score_series(tiny_official, frames, series_id="7", exhaustive=True)
    from photocull.model.official import thumbnail_similarity
    from photocull.model.series import choose_references

    refs = choose_references(thumbnail_similarity([a.image for a in analyses[:3]]))
    for i in range(3):
        assert on[i] == pytest.approx(ex.pair_scores[(i, refs[i])], abs=1e-6)
