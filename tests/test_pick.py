from photocull.pick import StarMapping, pick, rank_series
from photocull.records import BLURRED, NOISY, FrameScore, Series


def test_rank_puts_failures_last_and_noise_after_clean_frames():
    scores = [FrameScore(9.0, problems=[BLURRED]), FrameScore(6.0), FrameScore(7.0, problems=[NOISY])]
    assert rank_series([0, 1, 2], scores) == [1, 2, 0]  # a noisy frame never outranks a clean mate
    ratings = pick([Series(0, [0, 1, 2])], scores)
    assert ratings[1].is_pick and ratings[2].stars == 2 and not ratings[2].rejected  # noisy: no failure


def test_stars_follow_the_documented_mapping():
    # Five series of two frames: the picks score 9, 8, 7, 6, 5; the mates 4; one mate is blurred.
    scores, series = [], []
    for k, s in enumerate([9.0, 8.0, 7.0, 6.0, 5.0]):
        scores += [FrameScore(s), FrameScore(4.0, problems=[BLURRED] if k == 0 else [])]
        series.append(Series(k, [2 * k, 2 * k + 1]))
    ratings = pick(series, scores)
    assert [ratings[2 * k].stars for k in range(5)] == [5, 4, 4, 3, 3]
    assert all(ratings[2 * k].is_pick for k in range(5))
    assert ratings[1].stars == 1 and ratings[1].rejected
    assert all(ratings[2 * k + 1].stars == 2 for k in range(1, 5))
    for k in range(5):  # a pick always outranks its mates
        assert ratings[2 * k].stars > ratings[2 * k + 1].stars


def test_top_k_and_failed_series():
    scores = [FrameScore(5.0, problems=[BLURRED]), FrameScore(4.0, problems=[BLURRED])]
    ratings = pick([Series(0, [0, 1])], scores, top_k=2, mapping=StarMapping())
    assert ratings[0].is_pick and not ratings[1].is_pick  # a failed frame is never a second pick
    assert ratings[0].stars == 2 and ratings[1].stars == 1
    scores = [FrameScore(5.0), FrameScore(4.0), FrameScore(3.0)]
    ratings = pick([Series(0, [0, 1, 2])], scores, top_k=2)
    assert [r.is_pick for r in ratings] == [True, True, False]


def test_keep_n_rejects_the_rest_and_never_keeps_a_failure_over_a_clean_frame():
    # Series: a blurred frame scoring highest, three clean ones.
    scores = [FrameScore(9.5, problems=[BLURRED]), FrameScore(8.0), FrameScore(7.0), FrameScore(6.0)]
    ratings = pick([Series(0, [0, 1, 2, 3])], scores, keep=2, reject_failures=False)
    assert [r.rejected for r in ratings] == [True, False, False, True]
    assert [r.stars for r in ratings] == [1, 5, 2, 1]  # rejects carry 1 star (what EXIF says)
    # Only one clean frame: the failed ones go even though N is not reached.
    scores = [FrameScore(9.0, problems=[BLURRED]), FrameScore(5.0), FrameScore(8.0, problems=[BLURRED])]
    ratings = pick([Series(0, [0, 1, 2])], scores, keep=3, reject_failures=False)
    assert [r.rejected for r in ratings] == [True, False, True]
    # Nothing clean: the N best failed frames stay (the pick among them).
    scores = [FrameScore(9.0, problems=[BLURRED]), FrameScore(5.0, problems=[BLURRED]), FrameScore(1.0, problems=[BLURRED])]
    ratings = pick([Series(0, [0, 1, 2])], scores, keep=2, reject_failures=False)
    assert [r.rejected for r in ratings] == [False, False, True] and ratings[0].is_pick


def test_without_keep_or_reject_nothing_is_a_reject():
    scores = [FrameScore(8.0), FrameScore(9.0, problems=[BLURRED])]
    ratings = pick([Series(0, [0, 1])], scores, reject_failures=False)
    assert not any(r.rejected for r in ratings) and ratings[1].stars == 1


def test_keep_below_top_k_is_refused():
    import pytest

    with pytest.raises(ValueError, match="at least top_k"):
        pick([Series(0, [0])], [FrameScore(1.0)], top_k=2, keep=1)
