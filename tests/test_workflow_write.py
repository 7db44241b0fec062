"""What a cull writes and when (issue 15), from the CLI, judged by exiftool:
the photographer's decisions kept, --keep N, --preset, safe re-runs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photocull.cli import app

runner = CliRunner()
EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool not installed (apt install libimage-exiftool-perl)")
BASE = ["--scorer", "technical", "--no-embeddings", "--no-faces", "-q"]


def exiftool_set(path: Path, *assignments: str) -> None:
    subprocess.run([EXIFTOOL, "-q", "-overwrite_original", *assignments, str(path)], check=True)


def tags(path: Path) -> dict:
    """exiftool's reading of the rating fields (group-qualified, -n: numbers as stored)."""
    out = subprocess.run([EXIFTOOL, "-j", "-G1", "-n", "-a", "-EXIF:Rating", "-XMP-xmp:Rating", "-XMP-xmp:Label",
                          "-XMP-lr:HierarchicalSubject", "-XMP-dc:Subject", str(path)],
                         check=True, capture_output=True, text=True).stdout
    d = json.loads(out)[0]
    d.pop("SourceFile")
    return d


def cull(shoot: Path, *args: str) -> dict:
    res = runner.invoke(app, ["cull", str(shoot), *BASE, "--json", "-", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout[res.stdout.index("{"):])


def by_name(report: dict) -> dict[str, dict]:
    return {Path(f["path"]).name: f for f in report["files"]}


@needs_exiftool
def test_manual_rating_and_reject_survive_cull_and_rerun_until_overwrite(burst_shoot: Path):
    # B2 is blurred (photocull would give it 1 star); B1 is the clean pick of its burst (3-5 stars).
    exiftool_set(burst_shoot / "B2.jpg", "-EXIF:Rating=5")
    exiftool_set(burst_shoot / "B1.jpg", "-XMP-xmp:Rating=-1")
    for _ in range(2):  # a cull, then a re-run
        files = by_name(cull(burst_shoot))
        assert tags(burst_shoot / "B2.jpg")["IFD0:Rating"] == 5
        assert tags(burst_shoot / "B1.jpg")["XMP-xmp:Rating"] == -1
        assert files["B2.jpg"]["write"]["status"] == "kept"
        assert files["B2.jpg"]["write"]["message"] == "kept your rating (5★)"
        assert files["B1.jpg"]["write"]["status"] == "kept"
        assert files["B1.jpg"]["write"]["message"] == "kept your reject"
        assert files["B1.jpg"]["rejected"] and not files["B1.jpg"]["pick"]
        # photocull's own ratings of the other frames are photocull's to rewrite: never "kept".
        assert {f["write"]["status"] for n, f in files.items() if n not in ("B1.jpg", "B2.jpg")} <= {"written", "unchanged"}
    a1 = tags(burst_shoot / "A1.jpg")["IFD0:Rating"]
    files = by_name(cull(burst_shoot, "--overwrite"))
    assert files["B2.jpg"]["write"]["status"] == "written"
    assert tags(burst_shoot / "B2.jpg")["IFD0:Rating"] == 1
    assert 3 <= tags(burst_shoot / "B1.jpg")["XMP-xmp:Rating"] <= 5
    assert tags(burst_shoot / "A1.jpg")["IFD0:Rating"] == a1


@needs_exiftool
def test_a_rating_changed_after_photocull_wrote_it_is_theirs(burst_shoot: Path):
    cull(burst_shoot)
    assert tags(burst_shoot / "A1.jpg")["XMP-xmp:Rating"] == 1
    exiftool_set(burst_shoot / "A1.jpg", "-XMP-xmp:Rating=4")  # the photographer disagrees in an editor
    files = by_name(cull(burst_shoot))
    assert files["A1.jpg"]["write"]["message"] == "kept your rating (4★)"
    assert tags(burst_shoot / "A1.jpg")["XMP-xmp:Rating"] == 4


@needs_exiftool
def test_their_label_is_kept_while_the_rating_is_written(burst_shoot: Path):
    exiftool_set(burst_shoot / "C1.jpg", "-XMP-xmp:Label=Purple")
    files = by_name(cull(burst_shoot, "--label-picks"))
    t = tags(burst_shoot / "C1.jpg")
    assert t["XMP-xmp:Label"] == "Purple" and t["IFD0:Rating"] >= 3
    assert files["C1.jpg"]["write"]["status"] == "written"
    assert "kept your label (Purple)" in files["C1.jpg"]["write"]["message"]
    assert tags(burst_shoot / "B1.jpg")["XMP-xmp:Label"] == "Green"


@needs_exiftool
def test_a_decision_made_in_review_is_the_photographers(burst_shoot: Path):
    from photocull.metadata import write_rating
    from photocull.review.decisions import ReviewJournal

    cull(burst_shoot)
    out = write_rating(burst_shoot / "A1.jpg", 2, fmt="jpeg", journal=ReviewJournal(burst_shoot))
    assert out.status == "written"
    files = by_name(cull(burst_shoot))
    assert files["A1.jpg"]["write"]["message"] == "kept your rating (2★)"
    assert tags(burst_shoot / "A1.jpg")["IFD0:Rating"] == 2
