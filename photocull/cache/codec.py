"""The only (de)serialisation of stage records: to plain JSON-able dicts and back.

The cache, the JSON report and ``last_run.json`` all go through here, so a new field of
:class:`~photocull.records.Frame` or :class:`~photocull.records.Analysis` is one edit in
the record and one here. Frame content fields (what a file's bytes decide: capture time,
orientation, camera) and the analysis share one flat layout in the cache entry and the
report's ``files`` rows; paths are written relative to the shoot root.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from ..records import (
    Analysis,
    CullResult,
    FileError,
    Frame,
    FrameResult,
    FrameScore,
    Rating,
    Series,
    METRICS_VERSION,
    TechnicalMetrics,
    series_id_of,
    series_number,
    WriteOutcome,
)

# Frame fields the file's content decides (the cache may keep them; path/size/mtime it may not).
FRAME_CONTENT_FIELDS = ("capture_time", "time_source", "orientation", "camera", "utc_offset", "serial")


def rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when under it, else as given."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(data: Any, **kwargs: Any) -> str:
    """``json.dumps`` that any UTF-8 writer can write: readable non-ASCII names, and a file
    name that is not UTF-8 (its bytes decoded as surrogates, PEP 383) kept as ``\\udcXX``
    escapes, which ``json.loads`` turns back into the same name (``os.fsencode`` gives the bytes)."""
    text = json.dumps(data, ensure_ascii=False, **kwargs)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# ---------------------------------------------------------------- frames and analyses

def frame_content_to_dict(frame: Frame) -> dict[str, Any]:
    """What the file says (a --clock-offset correction is the run's, not the file's: taken off)."""
    out = {k: getattr(frame, k) for k in FRAME_CONTENT_FIELDS}
    out["capture_time"] = frame.capture_time - frame.clock_offset
    return out


def frame_to_dict(frame: Frame, root: Path) -> dict[str, Any]:
    return {"path": rel(frame.path, root), "format": frame.fmt, "size": frame.size, "mtime_ns": frame.mtime_ns,
            "companions": [rel(p, root) for p in frame.companions], **frame_content_to_dict(frame),
            "capture_time": frame.capture_time, "clock_offset": frame.clock_offset}


def frame_from_dict(d: dict[str, Any], root: Path, **where: Any) -> Frame:
    """A Frame from :func:`frame_to_dict` output; ``where`` (path, fmt, size, mtime_ns,
    companions) overrides what the dict says about the file (a cache entry knows none of it)."""
    fields = dict(
        path=root / d["path"] if "path" in d else None,
        fmt=d.get("format"),
        size=d.get("size", 0),
        mtime_ns=d.get("mtime_ns", 0),
        companions=tuple(root / c for c in d.get("companions", ())),
        capture_time=float(d["capture_time"]),
        time_source=d.get("time_source", "exif"),
        orientation=int(d.get("orientation", 1)),
        camera=d.get("camera"),
        utc_offset=d.get("utc_offset"),
        serial=d.get("serial"),
        clock_offset=float(d.get("clock_offset", 0.0)),
    )
    return Frame(**(fields | where))


def analysis_to_dict(a: Analysis, *, faces: bool = False, thumb: bool = False) -> dict[str, Any]:
    """Everything but the working image and the embedding (those are not JSON); the metrics'
    small luma copy only with ``thumb`` (the cache keeps it for scoring; the report has no use for it)."""
    metrics = dataclasses.asdict(a.metrics)
    if not thumb:
        metrics.pop("thumb", None)
    out: dict[str, Any] = {"width": a.width, "height": a.height, "phash": a.phash, "dhash": a.dhash,
                           "metrics": metrics}
    if faces and a.faces is not None:
        from ..faces import FACES_VERSION

        out["faces"] = dataclasses.asdict(a.faces)
        out["faces_version"] = FACES_VERSION
    return out


def analysis_from_dict(d: dict[str, Any], *, faces: bool = False) -> Analysis:
    a = Analysis(int(d["width"]), int(d["height"]), d["phash"], d["dhash"], TechnicalMetrics(**d["metrics"]))
    if faces:
        from ..faces import report_from_dict

        a.faces = report_from_dict(d["faces"])
    return a


def cache_entry(frame: Frame, analysis: Analysis) -> dict[str, Any]:
    """What the cache keeps of one decode: content fields of the frame and the analysis,
    stamped with the capture-time readers' version."""
    from ..capture_time import CAPTURE_VERSION

    return (frame_content_to_dict(frame) | analysis_to_dict(analysis, faces=True, thumb=True)
            | {"capture_version": CAPTURE_VERSION, "metrics_version": METRICS_VERSION})


def from_cache_entry(d: dict[str, Any], *, path: Path, fmt: str, size: int, mtime_ns: int,
                     companions: tuple[Path, ...] = (), faces: bool = False,
                     thumb: bool = False) -> tuple[Frame, Analysis] | None:
    """The frame and analysis of a cache entry, or None when it cannot serve (another
    version's entry, or face checks asked for and not stored, or stored by another
    version of the face checks, or a capture time read by other readers, or measurements
    made by another version of the measures, or the series
    consensus's small copy asked for and not stored)."""
    from ..capture_time import CAPTURE_VERSION

    if d.get("capture_version") != CAPTURE_VERSION or d.get("metrics_version", 1) != METRICS_VERSION:
        return None
    if thumb and not (d.get("metrics") or {}).get("thumb"):
        return None  # measured without the small copy: no series consensus without it

    if faces:
        from ..faces import FACES_VERSION

        if "faces" not in d or d.get("faces_version") != FACES_VERSION:
            return None
    try:
        frame = frame_from_dict(d, Path("."), path=path, fmt=fmt, size=size, mtime_ns=mtime_ns, companions=companions)
        return frame, analysis_from_dict(d, faces=faces)
    except (KeyError, TypeError, ValueError):
        return None


# ---------------------------------------------------------------- results

def error_to_dict(e: FileError, root: Path) -> dict[str, Any]:
    return {"path": rel(e.path, root), "stage": e.stage, "message": e.message, "detail": e.detail}


def error_from_dict(d: dict[str, Any], root: Path) -> FileError:
    return FileError(root / d["path"], d["stage"], d["message"], d.get("detail"))


def score_to_dict(s: FrameScore) -> dict[str, Any]:
    return {"score": s.score, "score_components": s.components, "problems": s.problems, "reference": s.reference}


def score_from_dict(d: dict[str, Any]) -> FrameScore | None:
    if d.get("score") is None:
        return None
    return FrameScore(float(d["score"]), dict(d.get("score_components", {})), list(d.get("problems", [])),
                      str(d.get("reference", "")))


def frame_result_to_dict(fr: FrameResult, root: Path) -> dict[str, Any]:
    """One row of the report's ``files``."""
    a, r, w = fr.analysis, fr.rating, fr.write
    empty_analysis = dict.fromkeys(("width", "height", "phash", "dhash", "metrics"))
    return {
        **frame_to_dict(fr.frame, root),
        **(analysis_to_dict(a) if a else empty_analysis),
        "series": series_number(fr.series_id) if fr.series_id is not None else None,
        **(score_to_dict(fr.score) if fr.score else {"score": None, "score_components": {}, "problems": [], "reference": ""}),
        "rank": r.rank if r else None,
        "pick": r.is_pick if r else False,
        "stars": r.stars if r else None,
        "rejected": r.rejected if r else False,
        "why": r.why if r else None,
        "write": {"status": w.status, "message": w.message, "targets": list(w.targets)} if w else None,
        "errors": [error_to_dict(e, root) for e in fr.errors],
    }


def frame_result_from_dict(d: dict[str, Any], root: Path, numbered: bool = True) -> FrameResult:
    frame = frame_from_dict(d, root)
    analysis = analysis_from_dict(d) if d.get("metrics") else None
    rating = Rating(d["stars"], d["rank"], d["pick"], d["rejected"], d.get("why") or "") if d["rank"] is not None else None
    write = None
    if d.get("write"):
        w = d["write"]
        write = WriteOutcome(frame.path, w["status"], w["message"], tuple(w["targets"]))
    sid = d["series"]
    if numbered and sid is not None:
        sid = series_id_of(sid)
    return FrameResult(frame, sid, analysis, score_from_dict(d), rating, write,
                       [error_from_dict(e, root) for e in d["errors"]])


def result_to_dict(result: CullResult) -> dict[str, Any]:
    """A CullResult's records (the report adds its schema, version and totals, which carry
    ``decoded``, around them)."""
    root = result.root
    return {
        "root": str(root),
        "scorer": result.scorer,
        "series": [{"id": series_number(s.id), "frames": [rel(result.frames[i].frame.path, root) for i in s.members]}
                   for s in result.series],
        "files": [frame_result_to_dict(fr, root) for fr in result.frames],
        "errors": [error_to_dict(e, root) for e in result.errors],
        "warnings": [error_to_dict(e, root) for e in result.warnings],
        "notes": result.notes,
        "transfers": [{"path": rel(o.path, root), "status": o.status, "message": o.message} for o in result.transfers],
        "timings": {k: round(v, 4) for k, v in result.timings.items()},
        "skipped": [error_to_dict(e, root) for e in result.skipped],
    }


def result_from_dict(data: dict[str, Any]) -> CullResult:
    """The CullResult of a report. Series are numbered from 1 in reports (``series_number``);
    reports of schema ``photocull.report/1`` kept the 0-based ids, read as they are."""
    root = Path(data["root"])
    numbered = data.get("schema") != "photocull.report/1"
    frames = [frame_result_from_dict(f, root, numbered) for f in data["files"]]
    index = {str(Path(fr.frame.path).relative_to(root)): k for k, fr in enumerate(frames)}
    series = [Series(series_id_of(s["id"]) if numbered else s["id"], [index[p] for p in s["frames"]])
              for s in data["series"]]
    decoded = data.get("decoded", data.get("totals", {}).get("decoded", 0))
    return CullResult(
        root, frames, series,
        [error_from_dict(e, root) for e in data["errors"]],
        [error_from_dict(e, root) for e in data["warnings"]],
        data["scorer"], dict(data.get("timings", {})), decoded, list(data.get("notes", [])),
        [WriteOutcome(root / t["path"], t["status"], t["message"]) for t in data.get("transfers", [])],
        [error_from_dict(e, root) for e in data.get("skipped", [])],
    )
