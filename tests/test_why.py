"""Why the pick won: words derived from the records alone (report.why)."""

from __future__ import annotations

from pathlib import Path

from photocull.pick import pick
from photocull.records import (Analysis, CullResult, Frame, FrameResult, FrameScore, Series,
                               TechnicalMetrics)
from photocull.report.why import explain, explain_series, headline


def _fr(name: str, score: float, problems=(), sharp: float = 1.0) -> FrameResult:
    f = Frame(Path("/s") / name, "jpeg", 1, 0, 0.0, "exif")
    m = TechnicalMetrics(sharp, sharp, 0, 0, 0.5, 0.2, 1.0, [1.0] * 5, 1.0, 0.2, [0.05, 0.2, 0.6], 2.0)
    return FrameResult(f, 0, Analysis(10, 10, "0", "0", m), FrameScore(score, problems=list(problems)))


def _rate(frames: list[FrameResult], top_k: int = 1) -> CullResult:
    """Ratings by the real picker, as the pipeline makes them."""
    series = [Series(0, list(range(len(frames))))]
    for fr, r in zip(frames, pick(series, [fr.score for fr in frames], top_k=top_k)):
        fr.rating = r
    return CullResult(Path("/s"), frames, series, [], [], "technical")


def test_pick_sharpest_of_five_counts_the_mates_problems():
    frames = [_fr("a.jpg", 7.0, sharp=3.0), _fr("b.jpg", 6.0, ["blurred"], 0.5), _fr("c.jpg", 5.0, ["blurred"], 0.4),
              _fr("d.jpg", 5.5, ["overexposed"], 1.0), _fr("e.jpg", 6.5, sharp=2.0)]
    _rate(frames)
    why = dict(zip((fr.frame.name for fr in frames), explain_series(frames)))
    assert why["a.jpg"] == "highest score and sharpest of 5; 2 mates blurred, 1 overexposed"
    assert why["e.jpg"] == "rank 2 of 5: score 6.50 below the pick's 7.00"
    assert why["b.jpg"].endswith(": blurred")


def test_pick_scoring_below_a_mate_says_the_mate_has_a_problem():
    frames = [_fr("a.jpg", 9.0, ["overexposed"]), _fr("b.jpg", 6.0)]
    _rate(frames)
    assert frames[1].rating.is_pick
    text = explain_series(frames)[1]
    assert text.startswith("best clean frame of 2: a.jpg scores higher (9.00) but is overexposed")
    assert headline(text) == "best clean frame of 2: a.jpg scores higher (9.00) but is overexposed"


def test_single_and_all_failed_series():
    one = [_fr("s.jpg", 4.0)]
    _rate(one)
    assert explain_series(one) == ["single frame"]
    bad = [_fr("a.jpg", 4.0, ["blurred"]), _fr("b.jpg", 3.0, ["underexposed", "noisy"])]
    _rate(bad)
    assert explain_series(bad)[0] == "every frame of 2 has a problem; least bad: blurred"


def test_not_sharpest_and_no_mate_problems():
    frames = [_fr("a.jpg", 8.0, sharp=1.0), _fr("b.jpg", 7.0, sharp=2.0)]
    _rate(frames)
    assert explain_series(frames)[0] == "highest score of 2; no problems among the mates"


def test_second_pick_with_top_k():
    frames = [_fr("a.jpg", 8.0), _fr("b.jpg", 7.0), _fr("c.jpg", 6.0)]
    _rate(frames, top_k=2)
    assert explain_series(frames)[1].startswith("rank 2 of 3 (more than one pick per series)")


def test_explain_fills_ratings_once_and_keeps_a_saved_why():
    frames = [_fr("a.jpg", 8.0), _fr("b.jpg", 7.0)]
    result = _rate(frames)
    frames[1].rating.why = "saved"
    explain(result)
    assert frames[0].rating.why.startswith("highest score")
    assert frames[1].rating.why == "saved"
