"""What a review session did: the journal's marks per photo, and the line printed on leaving."""

from __future__ import annotations

from typing import Any

from ..metadata.journal import Journal
from ..metadata.ownership import REVIEW_SOURCE
from ..metadata.targets import journal_parts

_FLAG_FIELDS = ("Label", "Hierarchical")  # a flag decision writes the label or photocull's keyword


def review_marks(journal: Journal) -> tuple[set[str], set[str]]:
    """(photos with a decision made in review, photos whose flag was set in review), as the
    journal stores their paths; undone decisions do not count."""
    recs = journal.records()
    undone = {r.get("ref") for r in recs if r.get("kind") == "undone"}
    reviewed: set[str] = set()
    flagged: set[str] = set()
    for r in recs:
        if r.get("kind") != "write" or r.get("source") != REVIEW_SOURCE or r.get("id") in undone:
            continue
        path = r.get("path")
        if not isinstance(path, str):
            continue
        reviewed.add(path)
        for loc in journal_parts():
            after = (r.get(loc) or {}).get("after") if isinstance(r.get(loc), dict) else None
            if isinstance(after, dict) and any(k in after for k in _FLAG_FIELDS):
                flagged.add(path)
    return reviewed, flagged


class Tally:
    """The frames this session decided on, as they stand now (for the leaving summary)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.decisions = 0
        self._count: dict[int, int] = {}
        self._state: dict[int, dict[str, Any]] = {}

    def decided(self, i: int, frame: dict[str, Any]) -> None:
        self.decisions += 1
        self._count[i] = self._count.get(i, 0) + 1
        self._state[i] = frame

    def undone(self, i: int, frame: dict[str, Any]) -> None:
        self.decisions = max(0, self.decisions - 1)
        left = self._count.get(i, 0) - 1
        if left > 0:
            self._count[i], self._state[i] = left, frame
        else:
            self._count.pop(i, None)
            self._state.pop(i, None)

    def counts(self) -> dict[str, int]:
        s = list(self._state.values())
        return {"kept": sum(1 for f in s if f["pick"]), "rejected": sum(1 for f in s if f["rejected"]),
                "rated": sum(1 for f in s if f["stars"] and not f["rejected"]),
                "labelled": sum(1 for f in s if f["label"]), "untouched": self.total - len(s)}

    def line(self, name: str) -> str:
        c = self.counts()
        return (f"Reviewed {name}: {self.decisions} decision{'s' * (self.decisions != 1)} on "
                f"{len(self._state)} of {self.total} frames: {c['kept']} kept, {c['rejected']} rejected, "
                f"{c['rated']} rated, {c['labelled']} labelled, {c['untouched']} left untouched.")
