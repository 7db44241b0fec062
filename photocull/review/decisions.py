"""The photographer's decisions: read them from a photo's metadata, write them back.

:func:`write_decision` is the ONE place the review page reaches the metadata writer. It
writes with the options of the cull that made the shoot (:mod:`.run_writer`: ``--write``
fields, sidecar naming, how a reject is written, keywords), so after ``--preset darktable``
a sidecar edit lands in ``IMG.JPG.xmp`` as the cull's did.

A decision made in review is the photographer's own: its journal record carries
``"source": "review"`` so a later cull treats the rating (a cleared 0 included) and the
label as user-set (kept unless ``--overwrite``), not as something photocull wrote.

A pick is the Green label (what ``cull --label-picks`` and the presets write), a reject
Lightroom's ``xmp:Rating -1``; with a preset whose editor shows -1 as 1 star (digiKam) a
reject is 1 star, the Red label and the ``photocull|reject`` keyword, as the cull writes it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..metadata.common import PICK_KEYWORD, REJECT_KEYWORD
from ..metadata.journal import Journal
from ..metadata.ownership import REVIEW_SOURCE
from ..metadata.targets import held_fields, widened_for
from ..metadata.writer import read_rating, write_rating
from .run_writer import RunWriter

PICK_LABEL = "Green"  # the label ``cull --label-picks`` gives a pick
REJECT_LABEL = "Red"  # ... and a reject
LABELS = ("Red", "Yellow", "Green", "Blue")  # keys 6, 7, 8, 9 (Lightroom's order)
SOURCE = REVIEW_SOURCE
ACTIONS = ("stars", "pick", "reject", "unflag", "label")


@dataclass
class Decision:
    """What a frame's metadata says now (None stars: unrated or unreadable)."""

    stars: int | None
    rejected: bool
    pick: bool
    label: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"stars": self.stars, "rejected": self.rejected, "pick": self.pick, "label": self.label, "error": self.error}


@dataclass(frozen=True)
class Change:
    """What one key press writes: stars, the reject flag, the label (None: leave it) and
    photocull's keyword (None: leave keywords alone; "" drops ours)."""

    stars: int
    rejected: bool
    label: str | None
    keyword: str | None


class ReviewJournal(Journal):
    """The shoot's journal, marking every write as the photographer's (``source: review``)
    and remembering the ids of the records of the decision being written (for page undo)."""

    def __init__(self, root: Path, run_id: str | None = None) -> None:
        super().__init__(root, run_id)
        self.written: list[str] = []

    def record_write(self, entry: dict[str, Any]) -> str:
        rid = super().record_write(entry | {"source": SOURCE})
        self.written.append(rid)
        return rid


def read_decision(path: Path, fmt: str, writer: RunWriter | None = None) -> Decision:
    """The rating, flags and label of one photo, from its metadata segments and sidecar
    only (a header read, not the whole file: listing a 3,000-frame shoot stays fast)."""
    w = writer or RunWriter()
    got = read_rating(path, fmt, w.sidecar_naming)
    # Each part of the decision from the first target holding it (those the run writes first):
    # a rating that can say "rejected" (XMP), one that cannot (EXIF), the label, the keywords.
    xmp_r, exif_r, label, keywords = (
        next((got[h.key] for h in held_fields(kind, first=w.targets) if rejects in (None, h.rejects)
              and got.get(h.key) is not None), None)
        for kind, rejects in (("rating", True), ("rating", False), ("label", None), ("keywords", None)))
    keywords = list(keywords or [])
    rejected = (xmp_r is not None and xmp_r < 0) or REJECT_KEYWORD in keywords
    stars = xmp_r if xmp_r is not None and xmp_r >= 0 else exif_r
    if rejected and xmp_r is not None and xmp_r < 0:
        stars = None
    pick = not rejected and (label == PICK_LABEL or PICK_KEYWORD in keywords)
    error = "; ".join(got["errors"]) or None
    return Decision(stars, rejected, pick, label or None, error)


def apply_action(current: Decision, action: str, stars: int | None = None, label: str | None = None,
                 writer: RunWriter | None = None) -> Change:
    """What to write for a key press (ValueError for a bad one).

    Stars keep a pick (and end a reject); a pick clears a reject and gives Green; a reject
    gives the run's reject form; un-flag clears them (and only a flag label, Green or Red,
    never another label of the photographer's); a label key toggles that label (pressing 6
    on a Red frame clears it, as Lightroom does). ``current.pick`` may come from the run (a
    photocull pick with no label): un-flagging it writes an empty label, so the journal
    records the photographer's flag decision.
    """
    w = writer or RunWriter()
    now = current.stars or 0
    flag_label = current.label if current.label in (PICK_LABEL, REJECT_LABEL) else None
    keyword_off = "" if w.keywords else None
    if action == "stars":  # a rating ends a reject (one xmp:Rating cannot say both)
        if not isinstance(stars, int) or isinstance(stars, bool) or not 0 <= stars <= 5:
            raise ValueError("stars must be 0..5")
        if not current.rejected:
            return Change(stars, False, None, None)
        return Change(stars, False, "" if flag_label == REJECT_LABEL and not w.reject else None, keyword_off)
    if action == "label":
        if label not in LABELS:
            raise ValueError(f"label must be one of {', '.join(LABELS)}")
        toggled = "" if current.label == label else label
        if current.rejected and w.reject:
            return Change(1, True, toggled, None)
        return Change(now, False, toggled, None)
    if action == "pick":
        return Change(0 if current.rejected else now, False, PICK_LABEL, PICK_KEYWORD if w.keywords else None)
    if action == "reject":
        if w.reject:  # EXIF cannot say "rejected": it gets 1 star
            return Change(1, True, "" if flag_label == PICK_LABEL or (current.pick and not current.label) else None,
                          REJECT_KEYWORD if w.keywords else None)
        return Change(1, False, REJECT_LABEL, REJECT_KEYWORD if w.keywords else None)
    if action == "unflag":
        return Change(0 if current.rejected else now, False, "" if flag_label or (current.pick and not current.label) else None,
                      keyword_off if (current.pick or current.rejected) else None)
    raise ValueError(f"unknown action {action!r}; choose from {', '.join(ACTIONS)}")


def write_decision(path: Path, fmt: str, companions: tuple[Path, ...], change: Change, journal: Journal,
                   writer: RunWriter | None = None):
    """Write one decision (and the same to a RAW companion, in the form its format takes:
    the XMP in a sidecar), journaled first."""
    w = writer or RunWriter()
    common: dict[str, Any] = dict(rejected=change.rejected, label=change.label, keyword=change.keyword,
                                  journal=journal, dry_run=False, preserve_mtime=w.preserve_mtime,
                                  sidecar_naming=w.sidecar_naming)
    outcome = write_rating(path, change.stars, fmt=fmt, targets=w.targets, **common)
    for companion in companions:
        extra = write_rating(companion, change.stars, fmt="raw", targets=widened_for("raw", w.targets), **common)
        if extra.status == "skipped" and outcome.status != "skipped":
            outcome = extra
    return outcome


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (symlinks followed) lies inside ``root`` (itself resolved)."""
    real = os.path.realpath(path)
    base = _real_root(os.fspath(root))
    return os.path.commonpath([real, base]) == base and real != base


@functools.lru_cache(maxsize=8)
def _real_root(root: str) -> str:
    """A shoot folder's real path, resolved once per session (checked for every frame)."""
    return os.path.realpath(root)
