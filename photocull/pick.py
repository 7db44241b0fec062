"""Picks and star ratings.

Ranking inside a series: frames without a technical problem first, then noisy frames, then
failures; by score inside each.
Stars (0 means "unrated" to every editor, so photocull never writes it):

* 5 / 4 / 3: the pick of each series (singletons are their own pick), by where its
  score falls among all the shoot's picks: the top ``five_star`` fraction gets 5, the
  next ``four_star`` fraction 4, the rest 3. Relative to the shoot, so any scorer's
  scale works and every shoot gets some 5s.
* 2: the other frames of a series that have no technical problem (always below their pick).
* 1: technically failed frames (blurred, badly over/under-exposed): rated lowest; with
  ``reject_failures`` (``--reject``) those that are not picks are also rejects.

``keep`` (``--keep N``): the N best of each series stay and every other frame is a reject,
failed or not; a failed frame is never kept while a clean one is not (so with clean frames
in a series only clean frames stay). Picks are always among the kept (``top_k`` <= ``keep``).
A reject is written as xmp:Rating -1 (Lightroom's reject) and 1 star where a format cannot
say "rejected" (EXIF). ``Rating.rejected`` is true exactly for the frames to be written as
rejects.

A pick that itself failed (every frame of its series failed) is capped at 2 stars.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .records import FAILURES, NOISY, FrameResult, FrameScore, Rating, Series


@dataclass(frozen=True)
class StarMapping:
    five_star: float = 0.2  # fraction of picks rated 5
    four_star: float = 0.4  # fraction of picks rated 4 (next after the 5s)
    other_stars: int = 2  # non-pick frames without problems
    failed_stars: int = 1  # technically failed frames


def failed(score: FrameScore) -> bool:
    return any(p in FAILURES for p in score.problems)


def rank_series(members: Sequence[int], scores: Sequence[FrameScore]) -> list[int]:
    """Members of one series, best first: clean frames, then noisy ones, then failures; by score
    inside each, then capture order. Noise is no failure (a noisy frame keeps its stars), but
    when picking it is a problem like the others: a clean mate goes first."""
    return sorted(members, key=lambda i: (failed(scores[i]), NOISY in scores[i].problems, -scores[i].score, members.index(i)))


def pick(
    series: Sequence[Series],
    scores: Sequence[FrameScore],
    top_k: int = 1,
    mapping: StarMapping = StarMapping(),
    *,
    keep: int | None = None,
    reject_failures: bool = True,
) -> list[Rating | None]:
    """A Rating for every frame that belongs to a series (None for frames in no series)."""
    if keep is not None and keep < top_k:
        raise ValueError(f"keep ({keep}) must be at least top_k ({top_k}): picks are kept frames")
    ratings: list[Rating | None] = [None] * len(scores)
    picks: list[int] = []
    for s in series:
        ranked = rank_series(s.members, scores)
        clean = [i for i in ranked if not failed(scores[i])]
        kept = set((clean or ranked)[:keep]) if keep is not None else set(ranked)
        for rank, idx in enumerate(ranked, start=1):
            is_pick = rank <= top_k and (rank == 1 or not failed(scores[idx]))
            fail = failed(scores[idx])
            rejected = (idx not in kept) or (reject_failures and fail and not is_pick)
            stars = mapping.failed_stars if (fail or rejected) else mapping.other_stars
            ratings[idx] = Rating(stars=stars, rank=rank, is_pick=is_pick, rejected=rejected)
            if is_pick:
                picks.append(idx)
    healthy = [i for i in picks if not failed(scores[i])]
    if healthy:
        values = np.array([scores[i].score for i in healthy])
        n = len(values)
        cut5 = max(1, round(n * mapping.five_star))  # the shoot's best pick always gets 5
        cut4 = max(cut5, round(n * (mapping.five_star + mapping.four_star)))
        for idx, v in zip(healthy, values):
            better = int((values > v).sum())  # picks that score strictly better
            stars = 5 if better < cut5 else 4 if better < cut4 else 3
            ratings[idx].stars = stars  # type: ignore[union-attr]
    for idx in picks:
        if failed(scores[idx]):
            ratings[idx].stars = mapping.other_stars  # type: ignore[union-attr]
    return ratings


def companion_ratings(fr: FrameResult) -> list[tuple[Path, str, Rating]]:
    """The other files of a frame with the rating each gets: a RAW beside its JPEG is the
    same photograph, so it gets the same rating (written in its sidecar). (path, fmt, rating)."""
    if fr.rating is None:
        return []
    return [(p, "raw", fr.rating) for p in fr.frame.companions]
