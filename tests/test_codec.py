"""The one codec: records survive the JSON report / last_run.json and the cache unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from photocull.cache.codec import cache_entry, from_cache_entry, result_from_dict
from photocull.faces import Face, FaceReport
from photocull.records import (
    Analysis,
    CullResult,
    FileError,
    Frame,
    FrameResult,
    FrameScore,
    Rating,
    Series,
    TechnicalMetrics,
    WriteOutcome,
)
from photocull.report.json import from_dict, read_json, to_dict, write_json


def _metrics(k: float) -> TechnicalMetrics:
    return TechnicalMetrics(0.5 + k, 0.25, 0.01, 0.02, 0.45, 0.2, 3.5 + k, [3.5 + k] * 5, 1.0, 0.2, (0.05, 0.2, 0.6), 2.0)


def _result(root: Path) -> CullResult:
    a = Frame(root / "a" / "IMG_1.JPG", "jpeg", 1234, 99, 1_700_000_000.5, "exif", 6, "Cam X",
              (root / "a" / "IMG_1.CR2",))
    b = Frame(root / "IMG_2.png", "png", 55, 7, 1_700_000_001.0, "file")
    frames = [
        FrameResult(a, 0, Analysis(4000, 3000, "ab" * 8, "cd" * 8, _metrics(0)), FrameScore(7.5, {"sharp": 1.5}, ["noisy"]),
                    Rating(5, 1, True), WriteOutcome(a.path, "written", "rated 5", ("exif", "xmp"))),
        FrameResult(b, 0, Analysis(640, 480, "12" * 8, "34" * 8, _metrics(1)), FrameScore(2.0, {}, ["blurred"]),
                    Rating(1, 2, False, True), WriteOutcome(b.path, "skipped", "read-only"),
                    [FileError(b.path, "write", "read-only", "EACCES")]),
    ]
    return CullResult(root, frames, [Series(0, [0, 1])], [FileError(root / "bad.jpg", "decode", "truncated")],
                      [FileError(root / "x.txt", "scan", "not an image")], "technical", {"scan": 0.1}, 2,
                      ["a note"], [WriteOutcome(root / "IMG_2.png", "written", "moved to rejects/IMG_2.png")])


def test_report_round_trip_is_lossless(tmp_path: Path) -> None:
    result = _result(tmp_path)
    back = from_dict(json.loads(json.dumps(to_dict(result, 1.5))))
    assert back == result
    path = tmp_path / "last_run.json"
    write_json(result, str(path))
    assert read_json(path) == result
    assert [p.name for p in tmp_path.iterdir() if "photocull-tmp" in p.name] == []  # atomic: no temp left


def test_report_keeps_its_schema_and_layout(tmp_path: Path) -> None:
    d = to_dict(_result(tmp_path))
    assert d["schema"] == "photocull.report/2" and d["totals"]["decoded"] == 2
    row = d["files"][0]
    assert row["path"] == "a/IMG_1.JPG" and row["companions"] == ["a/IMG_1.CR2"] and row["format"] == "jpeg"
    assert row["metrics"]["noise"] == 3.5 and row["score_components"] == {"sharp": 1.5}
    assert "decoded" not in d and result_from_dict(d).decoded == 2


def test_cache_entry_round_trip_with_faces(tmp_path: Path) -> None:
    fr = _result(tmp_path).frames[0]
    fr.analysis.faces = FaceReport([Face((1, 2, 30, 40), 12.5, True, 2)], False, False, (640, 480), 20.0, ["n"])
    entry = json.loads(json.dumps(cache_entry(fr.frame, fr.analysis)))
    assert "path" not in entry and "size" not in entry  # where a file is never goes into its content entry
    f = fr.frame
    frame, analysis = from_cache_entry(entry, path=f.path, fmt=f.fmt, size=f.size, mtime_ns=f.mtime_ns,
                                       companions=f.companions, faces=True)
    assert frame == f and analysis == fr.analysis
    # Face reports made by another version of the face checks are made again.
    old = dict(entry, faces_version=entry["faces_version"] - 1)
    assert from_cache_entry(old, path=f.path, fmt=f.fmt, size=1, mtime_ns=1, faces=True) is None
    assert from_cache_entry(old, path=f.path, fmt=f.fmt, size=1, mtime_ns=1) is not None  # the rest still serves
    # An entry without faces cannot serve a run that checks faces; a foreign entry is a miss.
    del entry["faces"]
    assert from_cache_entry(entry, path=f.path, fmt=f.fmt, size=1, mtime_ns=1, faces=True) is None
    assert from_cache_entry({"width": 1}, path=f.path, fmt=f.fmt, size=1, mtime_ns=1) is None


def test_report_replaces_a_link_instead_of_writing_through_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    shoot = tmp_path / "shoot" / ".photocull"
    shoot.mkdir(parents=True)
    (shoot / "last_run.json").symlink_to(outside)
    write_json(_result(tmp_path / "shoot"), str(shoot / "last_run.json"))
    assert outside.read_text() == "keep me"
    assert not (shoot / "last_run.json").is_symlink() and read_json(shoot / "last_run.json").scorer == "technical"


def test_measurements_of_another_version_of_the_measures_are_made_again(tmp_path: Path) -> None:
    """A cache filled before (or after) a measure changed meaning must not score frames with the
    other version's numbers (nor mix them with new ones in one series): such an entry is a miss
    and the frame is measured again."""
    from photocull.records import METRICS_VERSION

    fr = _result(tmp_path).frames[0]
    entry = json.loads(json.dumps(cache_entry(fr.frame, fr.analysis)))
    f = fr.frame
    where = dict(path=f.path, fmt=f.fmt, size=1, mtime_ns=1)
    assert entry["metrics_version"] == METRICS_VERSION and from_cache_entry(entry, **where) is not None
    assert from_cache_entry(dict(entry, metrics_version=METRICS_VERSION + 1), **where) is None
    del entry["metrics_version"]  # what photocull wrote before the measures had a version: version 1
    assert (from_cache_entry(entry, **where) is not None) == (METRICS_VERSION == 1)


def test_a_planted_cache_entry_with_no_numbers_is_a_miss_not_a_crash(tmp_path: Path) -> None:
    """A card's cache (or saved run) is untrusted: a metric that is no number (None, a string, a
    bool) must fail when the entry is read, where readers turn it into a miss or a message, not
    as a TypeError in the middle of scoring."""
    import pytest

    fr = _result(tmp_path).frames[0]
    entry = json.loads(json.dumps(cache_entry(fr.frame, fr.analysis)))
    f = fr.frame
    where = dict(path=f.path, fmt=f.fmt, size=1, mtime_ns=1)
    for key, bad in (("structure", "abc"), ("floor_share", None), ("sharpness", True), ("noise_levels", [1.0, None])):
        planted = json.loads(json.dumps(entry))
        planted["metrics"][key] = bad
        assert from_cache_entry(planted, **where) is None, key
    with pytest.raises(ValueError, match="sharpness"):
        TechnicalMetrics(**{**entry["metrics"], "sharpness": None})
