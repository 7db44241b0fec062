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
    from photocull.model.official import score_images, score_series, series_naming
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
    name, numbers = series_naming(paths[:3])  # not the official layout: a digest of the names
    assert name.startswith("s") and numbers == [1, 2, 3]
    want = score_series(tiny_official, frames, series_id=name, exhaustive=True).scores
    assert np.allclose([got[0], got[1], got[2]], want, atol=1e-6)
    assert got[3] == pytest.approx(float(score_images(tiny_official, [single], 3)[0]), abs=1e-6)
    # O(n): each frame's score is its pair score with its reference, from the same pair tokens
    on = FGAesQScorer(tiny_official, exhaustive=False, seed=3)._score_official(series, analyses, None, paths)
    ex = score_series(tiny_official, frames, series_id=name, exhaustive=True)
    from photocull.model.official import thumbnail_similarity
    from photocull.model.series import choose_references

    refs = choose_references(thumbnail_similarity([a.image for a in analyses[:3]]))
    for i in range(3):
        assert on[i] == pytest.approx(ex.pair_scores[(i, refs[i])], abs=1e-6)


def test_series_naming_follows_the_official_layout(tmp_path):
    """A folder per series with ``<stem>-<k>`` files: the folder's name (numeric names as the
    official ``str(int(name))``) and the ``k``; anything else: a digest of the file names,
    the same from any parent folder and for any order of the members."""
    from photocull.model.official import frame_index, series_naming

    assert frame_index("f-12.png") == 12 and frame_index("IMG_0001.JPG") is None
    assert frame_index("a-b-3.jpg") is None  # the official rule reads between the first '-' and '.'
    assert series_naming([tmp_path / "007" / "x-3.jpg", tmp_path / "007" / "x-1.jpg"]) == ("7", [3, 1])
    assert series_naming([tmp_path / "beach" / "f-1.png", tmp_path / "beach" / "f-2.png"]) == ("beach", [1, 2])
    a = series_naming([tmp_path / "day" / "IMG_1.JPG", tmp_path / "day" / "IMG_2.JPG"])
    b = series_naming([tmp_path / "x" / "y" / "IMG_2.JPG", tmp_path / "x" / "y" / "IMG_1.JPG"])
    assert a[0] == b[0] and a[0] != series_naming([tmp_path / "IMG_1.JPG", tmp_path / "IMG_3.JPG"])[0]
    # duplicate numbers or two folders are not the official layout
    assert series_naming([tmp_path / "a" / "f-1.png", tmp_path / "b" / "f-2.png"])[0].startswith("s")
    assert series_naming([tmp_path / "a" / "f-1.png", tmp_path / "a" / "g-1.png"])[1] == [1, 2]


def test_pairs_are_formed_lower_number_first(tiny_official):
    """Frames given out of number order still form the official pairs ``{series}_{lo}_{hi}``
    with the lower-numbered frame first: the scores follow the frames, not their order."""
    from photocull.model.official import score_series

    frames = fx.series_frames(21, [(420, 300)] * 3)
    fwd = score_series(tiny_official, frames, series_id="b", indices=[1, 2, 3])
    rev = score_series(tiny_official, frames[::-1], series_id="b", indices=[3, 2, 1])
    assert np.allclose(fwd.scores, rev.scores[::-1], atol=1e-6)
    assert fwd.pair_scores[(0, 1)] == pytest.approx(rev.pair_scores[(2, 1)], abs=1e-6)


def test_o_n_mode_builds_only_the_token_sets_it_uses(tiny_official):
    """O(n): each frame's score is its pair score with its reference, as in the exhaustive run,
    and only those token sets go through the model."""
    from photocull.model.official import score_series

    frames = fx.series_frames(31, [(420, 300)] * 4)
    refs = [1, 2, 1, 1]
    on = score_series(tiny_official, frames, series_id="r", exhaustive=False, references=refs)
    ex = score_series(tiny_official, frames, series_id="r", exhaustive=True)
    assert on.passes == 4 and set(on.pair_scores) == {(0, 1), (1, 2), (2, 1), (3, 1)}
    for i, r in enumerate(refs):
        assert on.scores[i] == pytest.approx(ex.pair_scores[(i, r)], abs=1e-6)


def test_frames_are_read_when_needed_within_a_budget(tiny_official):
    """Frames given as loaders are read on demand; with a budget of one frame every pair reads
    its two frames again, and the scores do not change."""
    from photocull.model.official import FrameCache, score_series

    frames = fx.series_frames(41, [(420, 300)] * 4)
    reads: list[int] = []

    def loader(k):
        def load():
            reads.append(k)
            return frames[k]
        return load

    held = score_series(tiny_official, frames, series_id="m")
    lazy = score_series(tiny_official, [loader(k) for k in range(4)], series_id="m", budget=1)
    assert np.array_equal(held.scores, lazy.scores)
    # nothing kept past its pair but the frame the next pair shares: 8 reads for 6 pairs
    assert reads == [0, 1, 2, 3, 1, 2, 3, 2]
    cache = FrameCache([loader(k) for k in range(3)], budget=frames[0].nbytes * 2)
    reads.clear()
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        cache.get(i, keep=(j,))
        cache.get(j, keep=(i,))
    assert reads == [0, 1, 2, 1] and cache.reads == 4  # two frames fit: 0 made room for 2, 1 read again


def test_reference_mode_reads_each_frame_once_holding_only_the_pair(tiny_official, monkeypatch):
    """O(n) mode: every pair is a frame with the medoid, so by default nothing is kept past
    the pair at hand (peak memory: two frames) and still each frame is read once."""
    from photocull.model import official
    from photocull.model.series import choose_references

    frames = fx.series_frames(43, [(420, 300)] * 5)
    refs = choose_references(official.thumbnail_similarity(frames))
    reads: list[int] = []
    held: list[int] = []
    real_get = official.FrameCache.get

    def get(self, i, keep=()):
        out = real_get(self, i, keep)
        held.append(len(self._kept))
        return out

    monkeypatch.setattr(official.FrameCache, "get", get)

    def loader(k):
        return lambda: reads.append(k) or frames[k]

    lazy = official.score_series(tiny_official, [loader(k) for k in range(5)], series_id="r",
                                 exhaustive=False, references=refs)
    assert sorted(reads) == list(range(5)) and max(held) == 2
    held_all = official.score_series(tiny_official, frames, series_id="r", exhaustive=False,
                                     references=refs, budget=1 << 30)
    assert max(held) == 5  # the default is what kept it to two
    assert np.array_equal(lazy.scores, held_all.scores)
