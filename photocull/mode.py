"""What ``cull``, ``score`` and ``group`` each do, as values: the rules of a run, declared once.

The three commands share one body (:class:`photocull.session.Session`); they differ only in
these fields. ``group`` scores with the technical scorer (series are what it shows, and a
model would only cost time), writes nothing and shows no scores; ``score`` shows picks and
stars; ``cull`` also writes them (and so takes the shoot's lock, journals, copies and moves).
Nothing else may compare a mode's name: ask its fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = ["MODES", "Mode"]


@dataclass(frozen=True)
class Mode:
    """One kind of run. ``Mode.CULL``, ``Mode.SCORE`` and ``Mode.GROUP`` are the three there are."""

    name: str  # the command that runs it
    writes: bool  # ratings into the photos: lock, journal, rejects, --copy-picks/--move-rejects, writer.json
    scorer: str | None  # the scorer it always uses; None: the settings' --scorer
    html: bool  # makes the --html contact sheet
    faces: bool  # may run the --faces checks
    show_scores: bool  # the table shows scores, picks and stars (else series only)

    CULL: ClassVar[Mode]
    SCORE: ClassVar[Mode]
    GROUP: ClassVar[Mode]

    @classmethod
    def of(cls, mode: Mode | str) -> Mode:
        """``mode`` itself, or the mode a command name stands for (ValueError naming the choices)."""
        if isinstance(mode, Mode):
            return mode
        try:
            return MODES[mode]
        except KeyError:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}") from None


Mode.CULL = Mode("cull", writes=True, scorer=None, html=True, faces=True, show_scores=True)
Mode.SCORE = Mode("score", writes=False, scorer=None, html=True, faces=True, show_scores=True)
Mode.GROUP = Mode("group", writes=False, scorer="technical", html=False, faces=False, show_scores=False)

MODES: dict[str, Mode] = {m.name: m for m in (Mode.CULL, Mode.SCORE, Mode.GROUP)}
