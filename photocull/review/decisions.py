"""The photographer's decisions: read them from a photo's metadata, write them back.

:func:`write_decision` is the ONE place the review page reaches the metadata writer, so
that re-pointing it (e.g. at ``photocull.metadata.create_writer``) is a one-function change.

A decision made in review is the photographer's own: its journal record carries
``"source": "review"`` so a later cull treats the rating as user-set (kept unless
``--overwrite``), not as something photocull wrote and may replace.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..metadata import SIDECAR_NAMINGS, write_fields, xmp
from ..metadata.common import Skip
from ..metadata.jpeg_embedded import exif_fields, load_jpeg_head, xmp_fields
from ..metadata.journal import Journal
from ..metadata.writer import write_rating
from ..metadata.xmp_sidecar import find_sidecar, read_fields
from ..records import WriteOutcome

PICK_LABEL = "Green"  # the label ``cull --label-picks`` gives a pick
SOURCE = "review"


@dataclass
class Decision:
    """What a frame's metadata says now (None stars: unrated or unreadable)."""

    stars: int | None
    rejected: bool
    pick: bool
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class ReviewJournal(Journal):
    """The shoot's journal, marking every write as the photographer's (``source: review``)."""

    def record_write(self, entry: dict[str, Any]) -> str:
        return super().record_write(entry | {"source": SOURCE})


def _as_int(v: str | None) -> int | None:
    return xmp.as_int(v) if v is not None else None


def read_decision(path: Path, fmt: str) -> Decision:
    """The rating, reject flag and pick label of one photo, from its metadata segments only
    (a header read, not the whole file: listing a 3,000-frame shoot stays fast)."""
    try:
        if fmt == "jpeg":
            ld = load_jpeg_head(path)
            ex = exif_fields(ld.jf)[1]
            raw = xmp_fields(ld.jf)[2]
            return _decision(ex.get("Rating"), _as_int(raw["Rating"]), raw["Label"])
        sc = next((s for s in (find_sidecar(path, n) for n in SIDECAR_NAMINGS) if s), None)
        if sc is None:
            return Decision(None, False, False)
        raw = read_fields(sc)
        return _decision(None, _as_int(raw["Rating"]), raw["Label"])
    except (Skip, OSError, xmp.XmpError) as exc:
        return Decision(None, False, False, str(exc))


def _decision(exif_rating: int | None, xmp_rating: int | None, label: str | None) -> Decision:
    rejected = xmp_rating is not None and xmp_rating < 0
    stars = exif_rating if exif_rating is not None else (xmp_rating if xmp_rating is not None and xmp_rating >= 0 else None)
    return Decision(stars, rejected, label == PICK_LABEL)


def apply_action(current: Decision, action: str, stars: int | None = None) -> tuple[int, bool, str | None]:
    """(stars, rejected, label) to write for a key press; label None leaves the label alone.

    A reject is Lightroom's ``xmp:Rating -1`` with 1 star in EXIF (which cannot say
    "rejected"); a pick is the green label. Un-flagging clears only photocull's own label.
    """
    now = current.stars or 0
    if action == "stars":
        if stars is None or not 0 <= stars <= 5:
            raise ValueError("stars must be 0..5")
        return stars, False, None
    if action == "pick":
        return (now if not current.rejected else 0), False, PICK_LABEL
    if action == "reject":
        return 1, True, ("" if current.pick else None)
    if action == "unflag":
        return (now if not current.rejected else 0), False, ("" if current.pick else None)
    raise ValueError(f"unknown action {action!r}")


def write_decision(path: Path, fmt: str, companions: tuple[Path, ...], stars: int, rejected: bool,
                   label: str | None, journal: Journal) -> WriteOutcome:
    """Write one decision (and the same to a RAW companion's sidecar), journaled first.

    Mirrors the cull's writer (metadata.create_writer) for one decision, without a scored frame.
    """
    common: dict[str, Any] = dict(targets=frozenset(write_fields()), rejected=rejected, label=label, journal=journal,
                                  dry_run=False, preserve_mtime=True, sidecar_naming="name")
    outcome = write_rating(path, stars, fmt=fmt, **common)
    for companion in companions:
        extra = write_rating(companion, stars, fmt="raw", **common)
        if extra.status == "skipped" and outcome.status != "skipped":
            outcome = extra
    return outcome


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (symlinks followed) lies inside ``root`` (itself resolved)."""
    real = os.path.realpath(path)
    base = os.path.realpath(root)
    return os.path.commonpath([real, base]) == base and real != base
