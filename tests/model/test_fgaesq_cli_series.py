"""FGAesQ through the CLI: a burst gets the same scores culled alone or within its parent
folder, and the CLI and the Python API read a file the same way (orientation, alpha).

A tiny checkpoint in the official layout is passed to ``--weights`` as the official ``.pt``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from photocull.cli import app
from tests.conftest import save_jpeg, scene, shifted
from tests.model import official_fixture as fx

torch = pytest.importorskip("torch")
runner = CliRunner()


def _score(folder: Path, weights: Path, *extra: str) -> dict[str, float]:
    res = runner.invoke(app, ["score", str(folder), "--json", "-", "-q", "--no-faces", "--no-embeddings",
                              "--scorer", "fgaesq", "--weights", str(weights), *extra])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout[res.stdout.index("{"):])
    return {Path(f["path"]).name: f["score"] for f in report["files"]}


@pytest.mark.parametrize("mode", ["all-pairs", "reference"])
def test_a_burst_scores_the_same_alone_and_within_its_parent(tmp_path, official_pt, mode):
    """Two bursts in sibling folders, one in the official layout (``f-<k>.jpg``) and one with
    camera names: each culled alone and both culled from the parent give the same scores
    (the series seed comes from the files, not from the series' position in the run)."""
    shoot = tmp_path / "shoot"
    t0 = datetime(2026, 5, 1, 9, 0, 0)
    for folder, names, seed, minute in (("beach", "f-{}.jpg", 1, 0), ("day", "IMG_{:04d}.JPG", 3, 30)):
        base = scene(seed, (400, 300))
        for k, (dx, dy) in enumerate([(0, 0), (3, 1), (-2, 2), (1, -3)]):
            save_jpeg(shoot / folder / names.format(k + 1), shifted(base, dx, dy), t0.replace(minute=minute, second=k))
    flag = ("--series-mode", mode)
    both = _score(shoot, official_pt, *flag)
    beach = _score(shoot / "beach", official_pt, *flag)
    day = _score(shoot / "day", official_pt, *flag)
    assert len(both) == 8 and len(set(both.values())) > 4  # scored, and the scores differ
    for alone in (beach, day):
        for name, s in alone.items():
            assert both[name] == pytest.approx(s, abs=1e-4), (name, both[name], s)


def test_api_and_cli_read_a_file_alike(tmp_path, official_pt):
    """An EXIF-rotated JPEG is scored upright and an RGBA PNG flattened on white, by the API
    (a path) and by the CLI's reading of the same file; the API's array of the upright pixels
    scores the same."""
    from photocull.model.checkpoint import import_official
    from photocull.model.official import score_single
    from photocull.model.official_tokens import as_array, load_image
    from photocull.scorers.fgaesq import load_full_resolution

    model, _ = import_official(fx.official_state_dict(3, layers=1, width=64), strict=True)
    upright = Image.fromarray(fx.scene(5, 600, 900))  # a portrait
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # as the camera stored it
    jpg = save_jpeg(tmp_path / "portrait.jpg", sideways, orientation=6, quality=98)
    read = load_image(jpg)
    assert read.shape == (900, 600, 3)
    assert np.array_equal(read, np.asarray(load_full_resolution((jpg, "jpeg"))))
    decoded = np.asarray(Image.open(jpg).convert("RGB").transpose(Image.Transpose.ROTATE_270))
    assert np.array_equal(read, decoded)
    assert score_single(model, jpg) == score_single(model, decoded)

    rgba = np.dstack([fx.scene(6, 300, 200), np.tile(np.linspace(0, 255, 300, dtype=np.uint8), (200, 1))])
    png = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(png)
    flat = load_image(png)
    a = rgba[..., 3:].astype(np.float32) / 255
    want = rgba[..., :3] * a + 255 * (1 - a)
    assert np.abs(flat.astype(np.float32) - want).max() <= 1.0  # flattened on white, not dropped
    assert np.array_equal(as_array(Image.open(png)), flat)  # a PIL image with alpha: the same rule
    assert score_single(model, png) == score_single(model, Image.open(png))
