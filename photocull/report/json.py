"""The machine-readable report: every file's series, scores, rating, write and errors."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import __version__
from ..pipeline import CullResult
from ..records import (
    Analysis,
    FileError,
    Frame,
    FrameResult,
    FrameScore,
    Rating,
    Series,
    TechnicalMetrics,
    WriteOutcome,
)

SCHEMA = "photocull.report/1"


def _error(e: FileError, root: Path) -> dict[str, Any]:
    return {"path": _rel(e.path, root), "stage": e.stage, "message": e.message, "detail": e.detail}


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _frame(fr: FrameResult, root: Path) -> dict[str, Any]:
    f, a = fr.frame, fr.analysis
    return {
        "path": _rel(f.path, root),
        "format": f.fmt,
        "size": f.size,
        "mtime_ns": f.mtime_ns,
        "companions": [_rel(p, root) for p in f.companions],
        "capture_time": f.capture_time,
        "time_source": f.time_source,
        "orientation": f.orientation,
        "camera": f.camera,
        "width": a.width if a else None,
        "height": a.height if a else None,
        "phash": a.phash if a else None,
        "dhash": a.dhash if a else None,
        "metrics": asdict(a.metrics) if a else None,
        "series": fr.series_id,
        "score": fr.score.score if fr.score else None,
        "score_components": fr.score.components if fr.score else {},
        "problems": fr.score.problems if fr.score else [],
        "rank": fr.rating.rank if fr.rating else None,
        "pick": fr.rating.is_pick if fr.rating else False,
        "stars": fr.rating.stars if fr.rating else None,
        "rejected": fr.rating.rejected if fr.rating else False,
        "write": (
            {"status": fr.write.status, "message": fr.write.message, "targets": list(fr.write.targets)}
            if fr.write
            else None
        ),
        "errors": [_error(e, root) for e in fr.errors],
    }


def to_dict(result: CullResult, elapsed: float | None = None) -> dict[str, Any]:
    root = result.root
    return {
        "schema": SCHEMA,
        "photocull": __version__,
        "root": str(root),
        "scorer": result.scorer,
        "totals": totals(result, elapsed),
        "series": [
            {"id": s.id, "frames": [_rel(result.frames[i].frame.path, root) for i in s.members]}
            for s in result.series
        ],
        "files": [_frame(fr, root) for fr in result.frames],
        "errors": [_error(e, root) for e in result.errors],
        "warnings": [_error(e, root) for e in result.warnings],
        "notes": result.notes,
        "transfers": [
            {"path": _rel(o.path, root), "status": o.status, "message": o.message} for o in result.transfers
        ],
        "timings": {k: round(v, 4) for k, v in result.timings.items()},
    }


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
    """Write the report to a path, or return it when target is '-' (the CLI prints it)."""
    text = json.dumps(to_dict(result, elapsed), indent=2, ensure_ascii=False)
    if target != "-":
        Path(target).write_text(text + "\n", encoding="utf-8")
    return text


def _error_from(d: dict[str, Any], root: Path) -> FileError:
    return FileError(root / d["path"], d["stage"], d["message"], d.get("detail"))


def from_dict(data: dict[str, Any]) -> CullResult:
    """Rebuild a CullResult from :func:`to_dict` output (for 'photocull report')."""
    root = Path(data["root"])
    frames = []
    for f in data["files"]:
        frame = Frame(
            path=root / f["path"],
            fmt=f["format"],
            size=f.get("size", 0),
            mtime_ns=f.get("mtime_ns", 0),
            capture_time=f["capture_time"],
            time_source=f["time_source"],
            orientation=f["orientation"],
            camera=f["camera"],
            companions=tuple(root / c for c in f["companions"]),
        )
        analysis = None
        if f.get("metrics"):
            analysis = Analysis(f["width"], f["height"], f["phash"], f["dhash"], TechnicalMetrics(**f["metrics"]))
        score = FrameScore(f["score"], dict(f["score_components"]), list(f["problems"])) if f["score"] is not None else None
        rating = Rating(f["stars"], f["rank"], f["pick"], f["rejected"]) if f["rank"] is not None else None
        write = None
        if f.get("write"):
            w = f["write"]
            write = WriteOutcome(frame.path, w["status"], w["message"], tuple(w["targets"]))
        frames.append(
            FrameResult(frame, f["series"], analysis, score, rating, write, [_error_from(e, root) for e in f["errors"]])
        )
    index = {str(Path(fr.frame.path).relative_to(root)): k for k, fr in enumerate(frames)}
    series = [Series(s["id"], [index[p] for p in s["frames"]]) for s in data["series"]]
    result = CullResult(
        root,
        frames,
        series,
        [_error_from(e, root) for e in data["errors"]],
        [_error_from(e, root) for e in data["warnings"]],
        data["scorer"],
        dict(data.get("timings", {})),
        data["totals"].get("decoded", 0),
        list(data.get("notes", [])),
    )
    result.transfers = [WriteOutcome(root / t["path"], t["status"], t["message"]) for t in data.get("transfers", [])]
    return result


def read_json(path: Path) -> CullResult:
    return from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
