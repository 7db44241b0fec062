"""Why a frame got its place, in words: "highest score of 5; 2 mates blurred, 1 overexposed".

A photographer trusts a pick they can check. The words are derived from the records alone
(series, scores, problems, ratings), so the table, the JSON report and both pages say the
same thing, and a reloaded run (``photocull report``) explains itself the same way.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from ..records import FAILURES, CullResult, FrameResult, iter_ranked


def _problems(fr: FrameResult) -> list[str]:
    return list(fr.score.problems) if fr.score else []


def _failed(fr: FrameResult) -> bool:
    return any(p in FAILURES for p in _problems(fr))


def _score(fr: FrameResult) -> float | None:
    return fr.score.score if fr.score else None


def _sharpness(fr: FrameResult) -> float | None:
    return fr.analysis.metrics.sharpness if fr.analysis else None


def _count_problems(frames: Sequence[FrameResult]) -> str:
    """ "2 mates blurred, 1 overexposed" (each frame counted once per problem it has)."""
    counts = Counter(p for fr in frames for p in dict.fromkeys(_problems(fr)))
    parts = [f"{n} {'mate' if n == 1 else 'mates'} {p}" if k == 0 else f"{n} {p}"
             for k, (p, n) in enumerate(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))]
    return ", ".join(parts)


def _pick_why(fr: FrameResult, members: Sequence[FrameResult]) -> str:
    n = len(members)
    own = _problems(fr)
    if n == 1:
        return "single frame" + (f"; {', '.join(own)}" if own else "")
    mates = [m for m in members if m is not fr]
    if _failed(fr):
        return f"every frame of {n} has a problem; least bad: {', '.join(own)}"
    score = _score(fr)
    better = [m for m in mates if score is not None and _score(m) is not None and _score(m) > score]  # type: ignore[operator]
    sharp = _sharpness(fr)
    sharpest = sharp is not None and all((_sharpness(m) or 0.0) <= sharp for m in mates)
    if not better:
        lead = f"highest score{' and sharpest' if sharpest else ''} of {n}"
    elif all(_failed(m) for m in better):
        top = max(better, key=lambda m: _score(m) or 0.0)
        lead = (f"best clean frame of {n}: {top.frame.name} scores higher ({_score(top):.2f}) "
                f"but is {', '.join(p for p in _problems(top) if p in FAILURES)}")
    else:
        rank = fr.rating.rank if fr.rating else len(better) + 1
        lead = f"rank {rank} of {n} (more than one pick per series)"
    rest = _count_problems(mates)
    tail = f"; {rest}" if rest else "; no problems among the mates"
    if own:
        tail += f"; itself {', '.join(own)}"
    return lead + tail


def _other_why(fr: FrameResult, members: Sequence[FrameResult], pick: FrameResult | None) -> str:
    n = len(members)
    rank = fr.rating.rank if fr.rating else None
    where = f"rank {rank} of {n}" if rank else f"one of {n}"
    own = _problems(fr)
    if own:
        return f"{where}: {', '.join(own)}"
    s, ps = _score(fr), _score(pick) if pick is not None else None
    if s is not None and ps is not None:
        return f"{where}: score {s:.2f} below the pick's {ps:.2f}"
    return where


def explain_series(members: Sequence[FrameResult]) -> list[str]:
    """One sentence per member (members in any order; a frame without a rating gets "")."""
    picks = [m for m in members if m.rating and m.rating.is_pick]
    first = min(picks, key=lambda m: m.rating.rank) if picks else None  # type: ignore[union-attr]
    out = []
    for fr in members:
        if fr.rating is None:
            out.append("")
        elif fr.rating.is_pick:
            out.append(_pick_why(fr, members))
        else:
            out.append(_other_why(fr, members, first))
    return out


def headline(why: str) -> str:
    """The first clause of a why (the table's column; the mates' problems have their own)."""
    return why.split("; ", 1)[0]


def explain(result: CullResult) -> None:
    """Fill ``Rating.why`` of every rated frame that has none (idempotent; what the reports call)."""
    for _, members in iter_ranked(result):
        for fr, text in zip(members, explain_series(members)):
            if fr.rating is not None and not fr.rating.why:
                fr.rating.why = text
