"""What photocull tells the photographer: names shown literally, the picks list, --details,
dry-run totals, run warnings, "kept your rating", and a saved run confined to its shoot."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photocull.cli import app
from photocull.records import CullResult, Frame, FrameResult, FrameScore, Rating, Series, WriteOutcome
from photocull.report.html import write_html
from photocull.report.json import to_dict
from photocull.report.table import printable, series_table, details_table, totals_line
from tests.conftest import save_jpeg, scene
from tests.report_schema import valid_report

runner = CliRunner()
WIDE = {"COLUMNS": "400"}
ODD_NAMES = ["x[/red]y.jpg", "[final].jpg", "[link=https:e.invalid]z.jpg", "esc\x1b[31mred.jpg"]


def _shoot(root: Path, names: list[str]) -> Path:
    for k, name in enumerate(names):
        save_jpeg(root / name, scene(k + 1), datetime(2026, 3, 1, 12, k * 5, 0))  # 5 minutes apart: singles
    return root


def test_names_with_markup_and_escapes_are_shown_literally(tmp_path: Path):
    shoot = _shoot(tmp_path / "shoot", ODD_NAMES)
    report = tmp_path / "r.json"
    res = runner.invoke(app, ["cull", str(shoot), "--json", str(report), "-q", "--no-faces", "--details"], env=WIDE)
    assert res.exit_code == 0, res.output
    data = valid_report(report)  # the run finished and the JSON was written
    assert sorted(f["path"] for f in data["files"]) == sorted(ODD_NAMES)
    assert "\x1b" not in res.output  # no raw escape sequence reaches the terminal
    for name in ["x[/red]y.jpg", "[final].jpg", "[link=https:e.invalid]z.jpg", "esc\\x1b[31mred.jpg"]:
        assert name in res.output, name  # shown as written, brackets and all


def test_printable_escapes_control_characters_and_undecodable_bytes():
    assert printable("a\x1b[31mb\r\n\x07.jpg") == "a\\x1b[31mb\\x0d\\x0a\\x07.jpg"
    assert printable("caf\udce9.jpg") == "caf\\udce9.jpg"
    assert printable("[final] ok.jpg") == "[final] ok.jpg"


def test_list_writes_the_picks_one_a_line_and_details_every_frame(sample_copy: Path, tmp_path: Path):
    listing = tmp_path / "picks.txt"
    res = runner.invoke(app, ["score", str(sample_copy), "-q", "--no-faces", "--json", str(tmp_path / "r.json"),
                              "--list", str(listing), "--details"], env=WIDE)
    assert res.exit_code == 0, res.output
    data = valid_report(tmp_path / "r.json")
    picks = sorted(str(sample_copy / f["path"]) for f in data["files"] if f["pick"])
    lines = listing.read_text().splitlines()
    assert sorted(lines) == picks and len(lines) == data["totals"]["picks"] == 8
    assert all(Path(p).is_file() for p in lines)
    for f in data["files"]:  # --details: every frame, with its problems
        assert Path(f["path"]).name in res.output
    # '-' prints the list on stdout and moves the table to stderr.
    res = runner.invoke(app, ["report", str(sample_copy), "--list", "-"])
    assert res.exit_code == 0
    assert sorted(res.stdout.splitlines()) == picks
    both = runner.invoke(app, ["report", str(sample_copy), "--list", "-", "--json", "-"])
    assert both.exit_code == 2 and "stdout" in both.output


def test_details_sorts_frames_with_problems_first(sample_copy: Path, tmp_path: Path):
    res = runner.invoke(app, ["score", str(sample_copy), "-q", "--no-faces", "--json", str(tmp_path / "r.json")])
    data = valid_report(tmp_path / "r.json")
    from photocull.report.json import from_dict
    from photocull.report.table import sorted_for_details

    result = from_dict(data)
    order = [len(fr.score.problems) + len(fr.errors) for fr in sorted_for_details(result)]
    assert order == sorted(order, reverse=True) and order[0] > 0 and order[-1] == 0
    assert res.exit_code == 0


def test_dry_run_totals_count_what_would_be_written_and_series_match_the_table(sample_copy: Path):
    res = runner.invoke(app, ["cull", str(sample_copy), "--dry-run", "-q", "--no-faces", "--json", "-"])
    assert res.exit_code == 0, res.output
    data = valid_report(res.stdout)
    t = data["totals"]
    assert t["would_write"] == t["photos"] == 28 and t["written"] == 0
    # A dry run saves no run on the card, so its own table is what the photographer sees.
    table = runner.invoke(app, ["cull", str(sample_copy), "--dry-run", "-q", "--no-faces"], env=WIDE).output
    assert "28 would be written" in table
    # The table's series numbers are the JSON's, and each row names that series' pick.
    picks = {f["series"]: f["path"] for f in data["files"] if f["pick"]}
    rows = [line for line in table.splitlines() if ".JPG" in line]
    shown = {int(r.split("│")[1]): r.split("│")[3].strip() for r in rows}
    assert shown == picks
    assert sorted(s["id"] for s in data["series"]) == list(range(1, len(data["series"]) + 1))


def test_missing_weights_warning_is_in_the_json(sample_copy: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))  # no weights anywhere
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    monkeypatch.delenv("PHOTOCULL_ALLOW_DOWNLOAD", raising=False)
    res = runner.invoke(app, ["score", str(sample_copy), "-q", "--no-faces", "--json", "-"])
    assert res.exit_code == 0, res.output
    data = valid_report(res.stdout)
    run_warnings = [w for w in data["warnings"] if w["stage"] == "run"]
    assert run_warnings and any("no weights" in w["message"] for w in run_warnings)
    assert all(w["path"] == "." for w in run_warnings)
    assert " ".join(res.stderr.split()).count("no weights for the default") == 1  # printed once, when it arose
    again = runner.invoke(app, ["report", str(sample_copy)], env=WIDE)
    assert "no weights for the default" in again.stderr  # the saved run shows it again


def test_reports_of_schema_1_keep_their_series_ids():
    from photocull.cache.codec import result_from_dict

    row = {"path": "a.jpg", "format": "jpeg", "size": 1, "mtime_ns": 0, "companions": [], "capture_time": 0.0,
           "series": 0, "score": 5.0, "rank": 1, "pick": True, "stars": 5, "rejected": False, "write": None, "errors": []}
    old = {"schema": "photocull.report/1", "root": "/s", "scorer": "technical", "files": [row],
           "series": [{"id": 0, "frames": ["a.jpg"]}], "errors": [], "warnings": []}
    result = result_from_dict(old)
    assert result.series[0].id == 0 and result.frames[0].series_id == 0 and result.frames[0].rating.why == ""
    new = dict(old, schema="photocull.report/2", files=[dict(row, series=1)], series=[{"id": 1, "frames": ["a.jpg"]}])
    assert result_from_dict(new).series[0].id == 0 and result_from_dict(new).frames[0].series_id == 0


def _kept_result(tmp_path: Path) -> CullResult:
    root = tmp_path / "s"
    paths = [save_jpeg(root / f"IMG_{k}.jpg", scene(k + 1)) for k in range(2)]
    frames = [FrameResult(Frame(p, "jpeg", p.stat().st_size, 0, 0.0, "exif"), 0, None, FrameScore(8.0 - k))
              for k, p in enumerate(paths)]
    frames[0].rating, frames[1].rating = Rating(5, 1, True), Rating(2, 2, False)
    frames[0].write = WriteOutcome(paths[0], "kept", "kept your rating (3★)")
    frames[1].write = WriteOutcome(paths[1], "written", "", ("exif",))
    return CullResult(root, frames, [Series(0, [0, 1])], [], [], "technical")


def test_kept_rating_shows_in_the_table_json_and_sheet(tmp_path: Path):
    from rich.console import Console

    result = _kept_result(tmp_path)
    data = valid_report(json.loads(json.dumps(to_dict(result))))
    assert data["totals"]["kept"] == 1 and data["files"][0]["write"]["status"] == "kept"
    console = Console(width=300, record=True)
    console.print(series_table(result))
    console.print(details_table(result))
    text = console.export_text()
    assert text.count("kept your rating (3★)") == 2
    assert "1 kept your rating" in totals_line(result, None)
    page = write_html(result, tmp_path / "sheet.html", workers=1).read_text()
    assert "kept your rating (3★)" in page and "data-kept" in page
    assert "highest score of 2" in page  # why the pick won, on the sheet


def test_report_html_refuses_paths_outside_the_named_shoot(tmp_path: Path):
    shoot = _shoot(tmp_path / "shoot", ["a.jpg", "b.jpg"])
    private = save_jpeg(tmp_path / "private" / "secret.jpg", scene(9))
    res = runner.invoke(app, ["score", str(shoot), "-q", "--no-faces", "--no-cache", "--json", "-"])
    assert res.exit_code == 0, res.output
    os.symlink(private, shoot / "link.jpg")  # a link out of the shoot, named by the saved run
    saved = shoot / ".photocull" / "last_run.json"
    data = json.loads(saved.read_text())
    row = data["files"][0]
    crafted = [str(private), "../private/secret.jpg", "link.jpg"]
    for k, p in enumerate(crafted):
        data["files"].append(dict(row, path=p))
        data["series"].append({"id": 100 + k, "frames": [p]})
    data["files"].append(dict(row, path="b2.jpg", companions=[str(private)]))  # a companion outside
    data["series"].append({"id": 200, "frames": ["b2.jpg"]})
    data["root"] = "/"
    saved.write_text(json.dumps(data))

    page = tmp_path / "sheet.html"
    res = runner.invoke(app, ["report", str(shoot), "--html", str(page), "--json", "-"], env=WIDE)
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "4 file(s)" in flat and "outside" in flat
    shown = valid_report(res.stdout[res.stdout.index("{\n"):])
    assert sorted(f["path"] for f in shown["files"]) == ["a.jpg", "b.jpg"]
    assert shown["root"] == str(shoot.resolve())
    html = page.read_text()
    assert html.count("<img") == 2 and "secret" not in html


@pytest.mark.parametrize("bad", ["[]", '{"files": 3}', "{"])
def test_report_on_a_malformed_saved_run_is_a_message(tmp_path: Path, bad: str):
    shoot = _shoot(tmp_path / "shoot", ["a.jpg"])
    (shoot / ".photocull").mkdir()
    (shoot / ".photocull" / "last_run.json").write_text(bad)
    res = runner.invoke(app, ["report", str(shoot)])
    assert res.exit_code == 2 and "cannot be read" in res.output and "Traceback" not in res.output
