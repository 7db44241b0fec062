"""The machine-readable report: every file's series, scores, rating, write and errors.

The records are (de)serialised by :mod:`photocull.cache.codec` (the one codec); this module
adds the schema, the version and the totals around them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..cache.codec import json_text, result_from_dict, result_to_dict
from ..runtime import atomic_write_text
from ..records import CullResult

SCHEMA = "photocull.report/1"


def to_dict(result: CullResult, elapsed: float | None = None) -> dict[str, Any]:
    records = result_to_dict(result)
    head = {"schema": SCHEMA, "photocull": __version__, "root": records.pop("root"),
            "scorer": records.pop("scorer"), "totals": totals(result, elapsed)}
    return head | records


def totals(result: CullResult, elapsed: float | None = None) -> dict[str, Any]:
    frames = result.frames
    written = sum(1 for fr in frames if fr.write and fr.write.status == "written")
    out: dict[str, Any] = {
        "photos": len(frames),
        "series": sum(1 for s in result.series if not s.is_singleton),
        "singletons": sum(1 for s in result.series if s.is_singleton),
        "picks": sum(1 for fr in frames if fr.rating and fr.rating.is_pick),
        "with_problems": sum(1 for fr in frames if fr.score and fr.score.problems),
        "written": written,
        "unchanged": sum(1 for fr in frames if fr.write and fr.write.status == "unchanged"),
        "skipped": sum(1 for fr in frames if fr.write and fr.write.status == "skipped"),
        "errors": len(result.failed),
        "decoded": result.decoded,
    }
    if elapsed is not None:
        out["seconds"] = round(elapsed, 3)
        out["images_per_second"] = round(len(frames) / elapsed, 2) if elapsed > 0 else None
    return out


def write_json(result: CullResult, target: str, elapsed: float | None = None) -> str:
    """Write the report to a path (atomically), or return it when target is '-' (the CLI prints it)."""
    text = json_text(to_dict(result, elapsed), indent=2)
    if target != "-":
        atomic_write_text(Path(target), text + "\n")
    return text


def from_dict(data: dict[str, Any]) -> CullResult:
    """Rebuild a CullResult from :func:`to_dict` output (for 'photocull report')."""
    return result_from_dict(data)


def read_json(path: Path) -> CullResult:
    return from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
