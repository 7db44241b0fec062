from photocull.pick import StarMapping, pick, rank_series
from photocull.records import BLURRED, NOISY, FrameScore, Series


def test_rank_puts_failures_last():
    scores = [FrameScore(9.0, problems=[BLURRED]), FrameScore(6.0), FrameScore(7.0, problems=[NOISY])]
    assert rank_series([0, 1, 2], scores) == [2, 1, 0]


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
