"""The interface every scorer implements.

A scorer sees whole series, not single frames: telling which of five nearly identical
frames is best is a comparison, and exposure or sharpness only mean something next to
the frame's own series mates.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

from ..records import Analysis, FrameScore, Series


class Scorer(Protocol):
    name: str  # what --scorer selects
    version: str  # part of the cache key: bump when scores change meaning
    needs_images: bool  # keep the decoded working image for score()
    needs_embeddings: bool

    def score(
        self, series: Sequence[Series], analyses: Sequence[Analysis], progress: Callable[[int], None] | None = None
    ) -> list[FrameScore]:
        """One FrameScore per analysis (same order); 0..10, higher is better.

        Slow (model) scorers call ``progress(n)`` as n more frames are scored.
        """
        ...
