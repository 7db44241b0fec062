"""--max-pixels: the decompression-bomb guard the error message points to is an option that exists."""

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from photocull.cli import app
from tests.conftest import save_jpeg, scene

runner = CliRunner()
FAST = ["--scorer", "technical", "--no-embeddings", "--no-faces", "-q", "--dry-run"]


def test_a_frame_over_the_limit_is_reported_and_the_limit_can_be_raised(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    save_jpeg(shoot / "PANO.JPG", scene(1).resize((3000, 2000)))  # 6 MP
    save_jpeg(shoot / "IMG_0001.JPG", scene(2))
    low = runner.invoke(app, ["cull", str(shoot), *FAST, "--max-pixels", "5", "--json", "-"])
    assert low.exit_code == 1, low.output
    errors = {Path(e["path"]).name: e["message"] for e in json.loads(low.stdout)["errors"]}
    assert "over the 5 MP limit" in errors["PANO.JPG"] and "--max-pixels" in errors["PANO.JPG"]
    high = runner.invoke(app, ["cull", str(shoot), *FAST, "--max-pixels", "7", "--json", "-"])
    assert high.exit_code == 0, high.output  # raised: decoded, not read back from a cached refusal
    assert {Path(f["path"]).name for f in json.loads(high.stdout)["files"]} == {"PANO.JPG", "IMG_0001.JPG"}
    assert runner.invoke(app, ["cull", str(shoot), *FAST, "--max-pixels", "0"]).exit_code == 2
