"""The settings model: photocull.toml keys, CLI options and dataclass fields are one declaration."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from photocull.cli import app
from photocull.settings import MAX_WORKERS, ConfigError, RunSettings, Settings, load, option_meta, toml_keys

runner = CliRunner()


def _command_params(name: str) -> dict[str, tuple[str, ...]]:
    cmd = typer.main.get_command(app).commands[name]
    return {p.name: tuple(p.opts) + tuple(p.secondary_opts) for p in cmd.params}


def test_toml_keys_cli_options_and_fields_are_the_same_names():
    fields = {f.name: f for f in dataclasses.fields(RunSettings)}
    assert set(toml_keys("cull")) == {n for n, f in fields.items() if option_meta(f)["toml"]}
    for command in ("cull", "score", "group"):
        params = _command_params(command)
        takes = {n for n, f in fields.items() if command in option_meta(f)["commands"]}
        assert set(params) - {"shoot"} == takes, command  # every option is a field, every field an option
        for name in takes:
            flags = option_meta(fields[name])["flags"]
            expected = flags[0].split("/")[0] if flags else "--" + name.replace("_", "-")
            assert expected in params[name], (command, name)
    # score and group share the cull declaration: same flags for the same field
    assert {k: v for k, v in _command_params("group").items()} .items() <= _command_params("cull").items()


def _toml(shoot: Path, text: str) -> Path:
    path = shoot / "photocull.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, key, allowed",
    [
        ("[cull]\nworkers = 0\n", "workers", f"1..{MAX_WORKERS}"),
        ("[cull]\ntop_k = 0\n", "top_k", "1..1000"),
        ("[cull]\nembed_threshold = 1.5\n", "embed_threshold", "0..1"),
        ("[stars]\nother_stars = 7\n", "other_stars", "1..2"),
        ("[technical]\nclip_high = -0.1\n", "clip_high", "0..1"),
    ],
)
def test_out_of_range_values_name_file_key_and_range(sample_copy: Path, tmp_path: Path, monkeypatch, text, key, allowed):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    path = _toml(sample_copy, text)
    res = runner.invoke(app, ["group", str(sample_copy), "-q", "--no-embeddings"])
    assert res.exit_code == 2
    said = " ".join(res.stderr.split())
    assert str(path) in "".join(res.stderr.split()) and key in said and f"allowed {allowed}" in said
    assert "Traceback" not in res.output


def test_unknown_keys_and_bad_choices_are_errors_naming_the_file(tmp_path: Path):
    s = Settings()
    with pytest.raises(ConfigError, match=r"f\.toml: unknown key 'gold' in \[stars\]"):
        s.merge({"stars": {"gold": 1}}, "f.toml")
    with pytest.raises(ConfigError, match=r"unknown section \[paint\]"):
        s.merge({"paint": {}}, "f.toml")
    with pytest.raises(ConfigError, match=r"\[cull\] scorer = 'magic' is not one of auto, technical"):
        s.merge({"cull": {"scorer": "magic"}}, "f.toml")
    with pytest.raises(ConfigError, match=r"\[cull\] write: choose from exif, xmp, sidecar"):
        s.merge({"cull": {"write": "paper"}}, "f.toml")
    with pytest.raises(ConfigError, match="dry_run"):  # per-run options are not settings-file keys
        s.merge({"cull": {"dry_run": True}}, "f.toml")


def test_command_line_overrides_files_and_files_override_defaults(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    (tmp_path / "cfg" / "photocull").mkdir(parents=True)
    (tmp_path / "cfg" / "photocull" / "photocull.toml").write_text("[cull]\ntop_k = 3\nmax_gap = 5\n")
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    (shoot / "photocull.toml").write_text("[cull]\ntop_k = 2\n")
    s = load(shoot)
    assert s.cull.top_k == 2 and s.cull.max_gap == 5.0 and s.sources["cull.top_k"].startswith(str(shoot))
    s = s.with_options({"top_k": 4})
    opts = s.cull_options("score")
    assert opts.top_k == 4 and opts.group.max_gap == 5.0 and opts.write is False


def test_cli_ranges_and_help_text_survive_rich_markup(sample_copy: Path):
    assert runner.invoke(app, ["score", str(sample_copy), "--top-k", "0"]).exit_code == 2
    assert runner.invoke(app, ["group", str(sample_copy), "--workers", "0"]).exit_code == 2
    help_text = runner.invoke(app, ["cull", "--help"], env={"COLUMNS": "400"}).output
    assert "'photocull[faces]'" in help_text
    config_help = runner.invoke(app, ["config", "--help"], env={"COLUMNS": "200"}).output
    assert "[cull]" in config_help and "[stars]" in config_help


def test_file_names_with_markup_print_as_names(tmp_path: Path):
    shoot = tmp_path / "[bold]shoot"
    shoot.mkdir()
    res = runner.invoke(app, ["report", str(shoot)])
    assert res.exit_code == 2
    assert "[bold]shoot has no saved run" in " ".join(res.stderr.split()).replace(str(tmp_path) + "/", "")
