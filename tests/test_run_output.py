"""What a run shows (issue 23, item 7): pick lists from a relative folder, an empty folder,
the photographer's kept stars in the reports, and a table that never cuts a pick's name.

Run through the command line as CI runs it: stdout and stderr not terminals, COLUMNS unset
(Rich's 80 columns), so nothing here depends on the terminal or the temporary path."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photocull.cli import app

runner = CliRunner()
CULL = ["-q", "--scorer", "technical", "--no-embeddings"]


@pytest.fixture(autouse=True)
def no_columns(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)


def test_list_from_a_relative_folder_names_the_files(sample_copy: Path, monkeypatch) -> None:
    monkeypatch.chdir(sample_copy.parent)
    res = runner.invoke(app, ["score", sample_copy.name, *CULL, "--list", "-"])
    assert res.exit_code == 0, res.output
    listed = res.stdout.splitlines()
    assert len(listed) == 8 and all(Path(p).is_absolute() and Path(p).is_file() for p in listed), listed


@pytest.mark.parametrize("content", [[], ["notes.txt", "IMG_1.xmp"]])
def test_a_folder_without_photos_says_so(tmp_path: Path, content: list[str]) -> None:
    for name in content:
        (tmp_path / name).write_text("x")
    res = runner.invoke(app, ["cull", str(tmp_path), *CULL])
    assert res.exit_code == 2
    assert "no photos found in" in res.stderr and "JPEG" in res.stderr and "Pick" not in res.stdout


def test_the_reports_show_the_stars_the_file_keeps(sample_copy: Path, tmp_path: Path) -> None:
    photo = sample_copy / "IMG_0002.JPG"  # a blurred frame photocull gives 1 star
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP:Rating=4", str(photo)], check=True)
    html = tmp_path / "sheet.html"
    res = runner.invoke(app, ["cull", str(sample_copy), *CULL, "--json", "-", "--html", str(html)])
    assert res.exit_code == 0, res.output
    row = next(f for f in json.loads(res.stdout)["files"] if f["path"] == "IMG_0002.JPG")
    assert row["write"]["status"] == "kept" and row["stars"] == 4 and not row["rejected"]
    out = subprocess.run(["exiftool", "-s3", "-XMP:Rating", str(photo)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "4"  # the file was not touched (an independent reader says so)
    card = re.search(r'IMG_0002\.JPG.*?<span class="stars"[^>]*>([^<]*)<', html.read_text(), re.S)
    assert card and card.group(1) == "★★★★☆", card and card.group(1)


def test_the_table_never_cuts_a_picks_name_at_80_columns(sample_copy: Path) -> None:
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP:Rating=4", str(sample_copy / "IMG_0004.JPG")],
                   check=True)  # adds the "Rating" column (kept your rating)
    res = runner.invoke(app, ["cull", str(sample_copy), *CULL])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines if line[:1] in "┏┃┡│└")  # the table fits
    for name in ("IMG_0001.JPG", "IMG_0004.JPG", "IMG_0009.JPG", "day2/IMG_0025.JPG"):
        assert name in res.stdout, name
    totals = [line for line in lines if " photos · " in line]
    assert len(totals) == 1 and "errors" in totals[0]  # the totals: one line, never wrapped


def test_the_readme_says_what_the_darktable_preset_writes() -> None:
    from photocull.metadata.presets import get_preset

    from conftest import REPO

    row = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| darktable |"))
    preset = get_preset("darktable")
    assert {"exif", "xmp"} <= set(preset.write.split(","))  # it writes embedded ratings ...
    assert "ignores ratings embedded" not in row and "embedded" in row  # ... which darktable reads
    assert preset.sidecar_naming == "name-ext" and "NAME.EXT.xmp" in row
