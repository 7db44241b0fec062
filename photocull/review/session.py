"""The shoot as the review page sees it: the last run's frames (``photocull.last_run.load_last_run``:
each checked to lie inside the shoot), numbered the same way as the table and the JSON report (``records.series_number``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..records import FrameResult, iter_ranked
from ..report.why import explain
from ..errors import NoRun
from ..last_run import load_last_run

__all__ = ["Entry", "NoRun", "Session", "load_session"]


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
    """The shoot's last run as :func:`photocull.last_run.load_last_run` reads it (untrusted:
    files outside the shoot are refused, not served); :class:`NoRun` without a usable one."""
    root = Path(shoot).resolve()
    result, refused = load_last_run(shoot)
    try:
        explain(result)  # runs saved before "why" existed explain themselves too
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NoRun(f"{paths.last_run_path(shoot)} cannot be read ({exc}); run the cull again.") from None
    entries: list[Entry] = []
    seen: set[int] = set()
    for s, members in iter_ranked(result):
        for fr in members:
            seen.add(id(fr))
            entries.append(Entry(len(entries), fr, s.number, len(members) > 1, _rel(fr, root)))
    for fr in result.frames:  # a frame in no series (a failed decode) is still shown
        if id(fr) not in seen:
            entries.append(Entry(len(entries), fr, 0, False, _rel(fr, root)))
    return Session(root, entries, refused, result.scorer)


def _rel(fr: FrameResult, root: Path) -> str:
    """The frame's path relative to the shoot, as ``Journal.rel`` writes it (checked inside already)."""
    try:
        return fr.frame.path.relative_to(root).as_posix()
    except ValueError:
        return fr.frame.path.name
