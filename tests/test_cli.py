"""End to end through the CLI (typer's CliRunner), on copies of the sample shoot and on bad input."""

import json
from datetime import datetime
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from tests.report_schema import valid_report
from photocull.cli import app
from tests.conftest import TRUTH, save_jpeg, scan_data, scene

runner = CliRunner()


def _exif_rating(path: Path) -> int | None:
    with Image.open(path) as im:
        return im.getexif().get(0x4746)


def _jpegs(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() == ".jpg" and ".photocull" not in p.parts)


def test_cull_sample_writes_ratings_keeps_pixels_and_undoes(sample_copy: Path, tmp_path: Path):
    before = {p: p.read_bytes() for p in _jpegs(sample_copy)}
    report = tmp_path / "report.json"
    res = runner.invoke(app, ["cull", str(sample_copy), "--json", str(report), "-q"])
    assert res.exit_code == 0, res.output
    data = valid_report(report)
    truth = json.loads(TRUTH.read_text())
    by_path = {f["path"]: f for f in data["files"]}
    for p in _jpegs(sample_copy):
        rating = _exif_rating(p)
        assert rating is not None and 1 <= rating <= 5, p
        assert scan_data(p) == scan_data(before[p]), "pixel data changed"
    for s in truth["series"]:
        best = by_path[s["best"]]
        assert best["pick"] and best["stars"] >= 3
        for other in s["frames"]:
            if other != s["best"]:
                assert by_path[other]["stars"] < best["stars"]
    assert data["totals"]["written"] == len(before)

    res = runner.invoke(app, ["undo", str(sample_copy)])
    assert res.exit_code == 0, res.output
    for p, data_before in before.items():
        assert p.read_bytes() == data_before


def test_dry_run_writes_nothing(sample_copy: Path):
    before = {p: p.read_bytes() for p in _jpegs(sample_copy)}
    res = runner.invoke(app, ["cull", str(sample_copy), "--dry-run", "--json", "-", "-q"])
    assert res.exit_code == 0, res.output
    data = valid_report(res.stdout)
    assert {f["write"]["status"] for f in data["files"]} == {"dry-run"}
    assert all(p.read_bytes() == b for p, b in before.items())


def test_bad_input_folder_completes_and_reports_each_file(tmp_path: Path):
    root = tmp_path / "bad"
    good = save_jpeg(root / "good.jpg", scene(1), datetime(2026, 3, 1, 12, 0, 0))
    noexif = save_jpeg(root / "noexif.jpg", scene(2))
    (root / "empty.jpg").write_bytes(b"")
    trunc_src = save_jpeg(root / "truncated.jpg", scene(3), datetime(2026, 3, 1, 12, 5, 0))
    trunc_src.write_bytes(trunc_src.read_bytes()[:4000])
    (root / "text.jpg").write_text("not a photo at all")
    scene(4).save(root / "graphic.png")
    before = {p: p.read_bytes() for p in root.iterdir()}

    report = tmp_path / "r.json"
    res = runner.invoke(app, ["cull", str(root), "--json", str(report), "-q"])
    assert res.exit_code == 1, res.output
    data = valid_report(report)
    errors = {e["path"]: e["message"] for e in data["errors"]}
    assert "empty" in errors["empty.jpg"]
    assert "truncated" in errors["truncated.jpg"]
    assert "not an image" in errors["text.jpg"]
    rated = {f["path"]: f for f in data["files"]}
    assert set(rated) == {"good.jpg", "noexif.jpg", "graphic.png"}
    assert rated["noexif.jpg"]["time_source"] == "file"
    # Nothing lost or half-written: bad files untouched, good ones rated with pixels intact.
    for name in ("empty.jpg", "truncated.jpg", "text.jpg", "graphic.png"):
        assert (root / name).read_bytes() == before[root / name]
    for p in (good, noexif):
        assert _exif_rating(p) is not None
        assert scan_data(p) == scan_data(before[p])
    assert (root / "graphic.xmp").exists()  # other formats get a sidecar, never a rewrite
    # The table names every problem file.
    res = runner.invoke(app, ["score", str(root), "-q"])
    assert res.exit_code == 1
    for name in ("empty.jpg", "truncated.jpg", "text.jpg"):
        assert name in res.output


def test_group_and_usage_errors(sample_copy: Path, tmp_path: Path):
    res = runner.invoke(app, ["group", str(sample_copy), "--json", "-", "-q"])
    assert res.exit_code == 0
    data = valid_report(res.stdout)
    assert len(data["series"]) == 8
    assert runner.invoke(app, ["cull", str(tmp_path / "missing")]).exit_code == 2
    assert runner.invoke(app, ["cull", str(sample_copy), "--write", "paper"]).exit_code == 2
    assert runner.invoke(app, ["cull", str(sample_copy), "--scorer", "nonsense"]).exit_code == 2


def test_help_teaches():
    res = runner.invoke(app, ["cull", "--help"])
    assert res.exit_code == 0
    assert "--dry-run" in res.output and "Examples" in res.output
