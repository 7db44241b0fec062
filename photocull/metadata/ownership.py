"""Whose decision a photo's current rating, reject or label is: photocull's or the photographer's.

Photocull never overwrites a decision it did not make (unless ``--overwrite``). It knows
what it made from the shoot's journal: every write records the values it put in each
field. A value present now is photocull's only when it equals what photocull last wrote
there (undone writes do not count; a write made in ``photocull review`` carries
``"source": "review"`` and is the photographer's own). Anything else present (a rating
set in an editor, with exiftool, on the camera) is the photographer's.

Rating 0 means "unrated" to every editor, and an empty label is no label: neither is a
decision to keep, except a 0 the photographer set in ``photocull review`` (the journal says
so): clearing a rating there is a decision a later cull keeps.

Which fields hold a decision is each metadata target's own declaration (``Target.held``):
ratings that can say "rejected" are asked first, then the others (EXIF); then the labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import xmp
from .targets import file_parts, held_fields, journal_parts

REVIEW_SOURCE = "review"


@dataclass(frozen=True)
class Theirs:
    """The photographer's decisions found on one photo (None: none of that kind)."""

    rating: int | None = None  # -1 is a reject
    label: str | None = None

    @property
    def message(self) -> str:
        """"kept your rating (3★)", "kept your reject", "kept your label (Red)"."""
        parts = []
        if self.rating is not None:
            parts.append("kept your reject" if self.rating < 0 else "kept your cleared rating (0★)"
                         if self.rating == 0 else f"kept your rating ({self.rating}★)")
        if self.label:
            parts.append(f"kept your label ({self.label})")
        return "; ".join(parts)


class Ledger:
    """What photocull last wrote into each field of each photo, from the journal's records.

    Built once per run: ``Ledger.from_records(journal.records())``.
    """

    def __init__(self, last: dict[tuple[str, str, str], tuple[Any, str | None]]) -> None:
        self._last = last  # (photo, location, field) -> (value written, source)

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> Ledger:
        undone = {r.get("ref") for r in records if r.get("kind") == "undone"}
        last: dict[tuple[str, str, str], tuple[Any, str | None]] = {}
        own_file = file_parts()
        for rec in records:
            if rec.get("kind") != "write" or rec.get("id") in undone or not isinstance(rec.get("path"), str):
                continue
            for loc in journal_parts():
                part = rec.get(loc)
                if isinstance(part, dict) and isinstance(part.get("after"), dict):
                    # A sidecar is known by its own path: IMG.xmp can serve IMG.JPG and IMG.CR2.
                    where = part.get("path") if loc in own_file else rec["path"]
                    for key, value in part["after"].items():
                        last[(str(where), loc, key)] = (value, rec.get("source"))
        return cls(last)

    def photocull_wrote(self, photo: str, loc: str, key: str, value: Any) -> bool:
        """Whether ``value`` (now in that field) is what photocull itself last wrote there."""
        got = self._last.get((photo, loc, key))
        if got is None or got[1] == REVIEW_SOURCE:
            return False
        written = got[0]
        if key == "Label":
            return (written or None) == (value or None)
        return _as_int(written) == _as_int(value)

    def cleared_in_review(self, photo: str, loc: str, key: str, value: Any) -> bool:
        """Whether ``value`` is a 0 the photographer set in review (their decision, not "unrated")."""
        got = self._last.get((photo, loc, key))
        return got is not None and got[1] == REVIEW_SOURCE and _as_int(value) == 0 == _as_int(got[0])

    def theirs(self, photo: str, current: dict[str, Any], rel: Callable[[Any], str | None] = str) -> Theirs:
        """The photographer's decisions among ``current`` (a ``read_rating`` dict) of ``photo``
        (a path as the journal stores it); ``rel`` stores a target's own file (a sidecar) so."""
        rating = label = None
        for h in sorted(held_fields("rating"), key=lambda h: not h.rejects):
            v = current.get(h.key)
            where = str(rel(current.get(h.file_key))) if h.file_key else photo
            if (v not in (None, 0) and not self.photocull_wrote(where, h.part, h.field, v)) \
                    or (v == 0 and self.cleared_in_review(where, h.part, h.field, v)):
                rating = v
                break
        for h in held_fields("label"):
            v = current.get(h.key)
            where = str(rel(current.get(h.file_key))) if h.file_key else photo
            if v and not self.photocull_wrote(where, h.part, h.field, v):
                label = v
                break
        return Theirs(rating, label)


def _as_int(v: Any) -> int | None:
    return xmp.as_int(v) if isinstance(v, str) else v
