"""The machine-readable report: every file's series, scores, rating, write and errors.

The records are (de)serialised by :mod:`photocull.cache.codec` (the one codec); this module
adds the schema, the version and the totals around them.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from .. import __version__
from ..cache.codec import json_text, result_from_dict, result_to_dict
from ..runtime import atomic_write_text
from ..records import CullResult
from .why import explain

SCHEMA = "photocull.report/2"  # 2: series numbered from 1 (as shown), why, warnings of the run


def schema() -> dict[str, Any]:
    """The JSON Schema every report (and ``last_run.json``) follows (``schema.json``, docs/report.md)."""
    from importlib.resources import files

    return json.loads(files(__package__).joinpath("schema.json").read_text(encoding="utf-8"))


def to_dict(result: CullResult, elapsed: float | None = None) -> dict[str, Any]:
    explain(result)
    records = result_to_dict(result)
    head = {"schema": SCHEMA, "photocull": __version__, "root": records.pop("root"),
            "scorer": records.pop("scorer"), "totals": totals(result, elapsed)}
    return head | records


def totals(result: CullResult, elapsed: float | None = None) -> dict[str, Any]:
    frames = result.frames
    status = Counter(fr.write.status for fr in frames if fr.write)
    written = status["written"]
    out: dict[str, Any] = {
        "photos": len(frames),
        "series": sum(1 for s in result.series if not s.is_singleton),
        "singletons": sum(1 for s in result.series if s.is_singleton),
        "picks": sum(1 for fr in frames if fr.rating and fr.rating.is_pick),
        "with_problems": sum(1 for fr in frames if fr.score and fr.score.problems),
        "written": written,
        "would_write": status["dry-run"],  # --dry-run: what a real run would have written
        "unchanged": status["unchanged"],
        "kept": status["kept"],  # the photographer's own rating, left as it was
        "skipped": status["skipped"],
        "transfers": sum(1 for o in result.transfers if o.status == "written"),
        "would_transfer": sum(1 for o in result.transfers if o.status == "dry-run"),
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


MAX_SAVED_BYTES = 256 * 2**20  # a saved run is ~1 KB per frame: far beyond any real shoot


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (symlinks followed) lies inside ``root`` (itself resolved), not ``root`` itself."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([real, base]) == base and real != base


def confine(data: dict[str, Any], root: Path) -> list[str]:
    """Drop from a report dict every file whose path or companion does not resolve inside
    ``root`` (absolute paths, ``..``, symlinks out); returns the dropped paths. Series lose the
    dropped frames; paths that are only shown (errors, transfers) are kept as text."""
    keep, refused = [], []
    for row in data.get("files", []):
        names = [row.get("path"), *row.get("companions", ())]
        if all(isinstance(n, str) and n and inside(root / n, root) for n in names):
            keep.append(row)
        else:
            refused.append(str(row.get("path")))
    kept = {row["path"] for row in keep}
    series = [dict(s, frames=[p for p in s.get("frames", []) if p in kept]) for s in data.get("series", [])]
    data["files"], data["series"] = keep, [s for s in series if s["frames"]]
    return refused


def read_saved_run(shoot: Path, saved: Path) -> tuple[CullResult, list[str]]:
    """A shoot's saved run (``last_run.json``: untrusted, it travels with the card), confined to
    the shoot the user named: its own ``root`` is ignored and every file outside the shoot is
    left out (returned as refused), so a crafted run cannot show or read anything else on disk.
    Raises ValueError (with the reason) when the file cannot be used."""
    root = Path(shoot).resolve()
    if Path(saved).stat().st_size > MAX_SAVED_BYTES:
        raise ValueError("unexpectedly large")
    data = json.loads(Path(saved).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a photocull report")
    try:
        data["root"] = str(root)
        refused = confine(data, root)
        return from_dict(data), refused
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"missing or malformed field {exc}") from None
