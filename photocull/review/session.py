"""The shoot as the review page sees it: the last run's frames, each checked to lie inside
the shoot, numbered the same way as the table and the JSON report (``records.series_number``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..records import FrameResult, iter_ranked
from ..report.json import from_dict
from ..report.why import explain
from .decisions import inside

LAST_RUN = Path(".photocull") / "last_run.json"
MAX_RUN_BYTES = 256 * 2**20


class NoRun(Exception):
    """The shoot has no readable saved run; the text says what to do."""


@dataclass
class Entry:
    """One frame the page may show and write: its index is its id in every URL."""

    id: int
    fr: FrameResult
    series: int  # the series number shown everywhere (records.series_number; 0: in no series)
    in_series: bool  # part of a multi-frame series (else a single)
    name: str = ""  # POSIX path relative to the shoot: what the page shows and the journal stores

    @property
    def path(self) -> Path:
        return self.fr.frame.path


@dataclass
class Session:
    root: Path
    entries: list[Entry]
    refused: list[str] = field(default_factory=list)  # paths from the run that point outside the shoot
    scorer: str = ""


def load_session(shoot: Path) -> Session:
    """Read SHOOT/.photocull/last_run.json (untrusted: crafted paths are refused, not served)."""
    root = Path(shoot).resolve()
    saved = root / LAST_RUN
    if not saved.is_file() or not inside(saved, root):
        raise NoRun(f"{shoot} has no saved run; run 'photocull cull {shoot}' first.")
    try:
        if saved.stat().st_size > MAX_RUN_BYTES:
            raise NoRun(f"{saved} is unexpectedly large; run the cull again.")
        data: dict[str, Any] = json.loads(saved.read_text(encoding="utf-8"))
        data["root"] = str(root)  # the shoot given on the command line, never the file's own claim
        result = from_dict(data)
        explain(result)  # runs saved before "why" existed explain themselves too
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NoRun(f"{saved} cannot be read ({exc}); run the cull again.") from None
    refused: list[str] = []

    def safe(fr: FrameResult) -> bool:
        paths = (fr.frame.path, *fr.frame.companions)
        ok = all(inside(p, root) for p in paths)
        if not ok:
            refused.append(str(fr.frame.path))
        return ok

    entries: list[Entry] = []
    seen: set[int] = set()
    for s, members in iter_ranked(result):
        for fr in members:
            seen.add(id(fr))
            if safe(fr):
                entries.append(Entry(len(entries), fr, s.number, len(members) > 1, _rel(fr, root)))
    for fr in result.frames:  # a frame in no series (a failed decode) is still shown
        if id(fr) not in seen and safe(fr):
            entries.append(Entry(len(entries), fr, 0, False, _rel(fr, root)))
    return Session(root, entries, refused, result.scorer)


def _rel(fr: FrameResult, root: Path) -> str:
    """The frame's path relative to the shoot, as ``Journal.rel`` writes it (checked inside already)."""
    try:
        return fr.frame.path.relative_to(root).as_posix()
    except ValueError:
        return fr.frame.path.name
