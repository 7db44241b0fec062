"""photocull.toml settings, 'photocull config', and 'photocull report' from the saved run."""

import json
from html.parser import HTMLParser
from pathlib import Path

from typer.testing import CliRunner

from tests.report_schema import valid_report
from photocull.cli import app

runner = CliRunner()


def test_shoot_settings_apply_and_the_command_line_wins(sample_copy: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    (sample_copy / "photocull.toml").write_text('[cull]\nwrite = "sidecar"\ntop_k = 2\n\n[stars]\nfive_star = 0.5\n')
    res = runner.invoke(app, ["cull", str(sample_copy), "-q", "--json", "-", "--no-faces"])
    assert res.exit_code == 0, res.output
    data = valid_report(res.stdout)
    assert {tuple(f["write"]["targets"]) for f in data["files"]} == {("sidecar",)}
    assert sum(f["pick"] for f in data["files"]) == 13  # top_k = 2 (5 bursts x 2 + 3 singles)
    assert sum(1 for f in data["files"] if f["stars"] == 5) >= 6  # five_star = 0.5 of 13 picks
    res = runner.invoke(app, ["score", str(sample_copy), "-q", "--json", "-", "--top-k", "1", "--no-faces"])
    assert sum(f["pick"] for f in valid_report(res.stdout)["files"]) == 8

    shown = runner.invoke(app, ["config", str(sample_copy)], env={"COLUMNS": "250"})
    assert shown.exit_code == 0
    flat = " ".join(shown.output.split())
    assert "stars.five_star" in flat and "photocull.toml" in flat


def test_bad_settings_name_the_file_and_key(sample_copy: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    (sample_copy / "photocull.toml").write_text("[cull]\ntop_k = 'two'\n")
    res = runner.invoke(app, ["score", str(sample_copy), "-q"])
    assert res.exit_code == 2
    assert "top_k must be int" in " ".join(res.output.split())
    (sample_copy / "photocull.toml").write_text("[cull]\nsharpen = true\n")
    res = runner.invoke(app, ["score", str(sample_copy), "-q"])
    assert res.exit_code == 2 and "unknown key 'sharpen'" in " ".join(res.output.split())


class _Imgs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs = 0

    def handle_starttag(self, tag, attrs):
        self.imgs += tag == "img"


def test_report_redraws_the_last_run_without_rescoring(sample_copy: Path, tmp_path: Path):
    assert runner.invoke(app, ["report", str(sample_copy)]).exit_code == 2  # nothing saved yet
    res = runner.invoke(app, ["score", str(sample_copy), "-q", "--json", "-", "--no-faces"])
    scored = valid_report(res.stdout)
    page = tmp_path / "sheet.html"
    res = runner.invoke(app, ["report", str(sample_copy), "--html", str(page), "--json", "-"])
    assert res.exit_code == 0, res.output
    again = valid_report(res.stdout)
    assert [(f["path"], f["score"], f["stars"]) for f in again["files"]] == [
        (f["path"], f["score"], f["stars"]) for f in scored["files"]
    ]
    parser = _Imgs()
    parser.feed(page.read_text())
    assert parser.imgs == 28
