"""The pipeline with cache and embeddings: re-runs decode nothing; a local CLIP checkpoint works end to end."""

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import photocull.pipeline as pipeline
from tests.report_schema import valid_report
from photocull.cli import app
from photocull.pipeline import CullOptions, run
from photocull.scorers.technical import TechnicalScorer
from tests.conftest import save_jpeg, scene

runner = CliRunner()


def test_second_run_decodes_nothing(sample_copy: Path, monkeypatch):
    first = run(sample_copy, TechnicalScorer(), CullOptions(write=False, workers=1))
    assert first.decoded == 28

    def no_decode(*a, **k):
        raise AssertionError("a cached file was decoded again")

    monkeypatch.setattr(pipeline.stages, "analyse_file", no_decode)
    second = run(sample_copy, TechnicalScorer(), CullOptions(write=False, workers=1))
    assert second.decoded == 0
    assert [s.members for s in second.series] == [s.members for s in first.series]
    assert [fr.score.score for fr in second.frames] == pytest.approx([fr.score.score for fr in first.frames])


def test_written_files_stay_cached(sample_copy: Path):
    res = runner.invoke(app, ["cull", str(sample_copy), "-q", "--no-embeddings", "--workers", "1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["cull", str(sample_copy), "-q", "--no-embeddings", "--json", "-"])
    data = valid_report(res.stdout)
    assert data["totals"]["decoded"] == 0  # ratings changed the bytes, the cache followed them
    assert data["totals"]["unchanged"] == 28


def test_corrupt_cache_is_rebuilt(sample_copy: Path):
    run(sample_copy, TechnicalScorer(), CullOptions(write=False, workers=1))
    db = sample_copy / ".photocull" / "cache.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    res = run(sample_copy, TechnicalScorer(), CullOptions(write=False, workers=1))
    assert res.decoded == 28 and not res.failed
    assert any("corrupt" in n.lower() for n in res.notes)


def test_local_clip_checkpoint_end_to_end(sample_copy: Path, tiny_name, tiny_weights):
    _, weights, _ = tiny_weights
    args = ["cull", str(sample_copy), "-q", "--dry-run", "--model", tiny_name, "--pretrained", str(weights), "--device", "cpu"]
    res = runner.invoke(app, args + ["--json", "-"])
    assert res.exit_code == 0, res.output
    first = valid_report(res.stdout)
    assert first["totals"]["decoded"] == 28
    res = runner.invoke(app, args + ["--json", "-"])
    second = valid_report(res.stdout)
    assert second["totals"]["decoded"] == 0  # embeddings came from the cache too
    assert second["series"] == first["series"]


def test_explicit_model_without_weights_fails_fast(sample_copy: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PHOTOCULL_ALLOW_DOWNLOAD", raising=False)
    res = runner.invoke(app, ["cull", str(sample_copy), "-q", "--dry-run", "--model", "ViT-B-32", "--pretrained", "openai"])
    assert res.exit_code == 2
    assert "ViT-B-32" in res.output and "--scorer technical" in res.output
    res = runner.invoke(app, ["cull", str(sample_copy), "-q", "--dry-run"])  # implicit default: warn, go on
    assert res.exit_code == 0
    assert "grouping by capture time and perceptual hashes only" in " ".join(res.output.split())


class _SceneBackbone:
    """A stand-in backbone whose embedding knows the scene (a CLIP model's job), for pipeline plumbing."""

    key, dim, batch_size = "stub/scene", 2, 4

    def embed_images(self, images, batch_size=None):
        out = []
        for im in images:
            red = float(np.asarray(im)[..., 0].mean() > np.asarray(im)[..., 2].mean())
            v = np.array([red, 1.0 - red], dtype=np.float32)
            out.append(v / np.linalg.norm(v))
        return np.stack(out)


def test_embeddings_group_zoomed_interleaved_bursts(tmp_path: Path):
    """Zoom breaks perceptual hashes; with embeddings the two interleaved bursts come out whole."""
    root = tmp_path / "zoom"
    warm, cool = scene(21), scene(22)

    def tint(img, red: bool):
        a = np.asarray(img).astype(np.float32)
        a[..., 0 if red else 2] = np.clip(a[..., 0 if red else 2] * 1.6 + 40, 0, 255)
        return Image.fromarray(a.astype(np.uint8))

    def zoom(img, f):
        w, h = img.size
        cw, ch = int(w / f), int(h / f)
        return img.crop(((w - cw) // 2, (h - ch) // 2, (w + cw) // 2, (h + ch) // 2)).resize((w, h))

    t0 = datetime(2026, 6, 1, 10, 0, 0).timestamp()
    for k, f in enumerate([1.0, 1.5, 2.2]):
        save_jpeg(root / f"W{k}.jpg", zoom(tint(warm, True), f), datetime.fromtimestamp(t0 + 2 * k))
        save_jpeg(root / f"C{k}.jpg", zoom(tint(cool, False), f), datetime.fromtimestamp(t0 + 2 * k + 1))
    opts = CullOptions(write=False, workers=1, cache=False)
    plain = run(root, TechnicalScorer(), opts)
    names = lambda res: sorted(sorted(res.frames[i].frame.path.name[0] for i in s.members) for s in res.series)  # noqa: E731
    assert len(plain.series) > 2  # hashes alone split the zoom steps
    with_emb = run(root, TechnicalScorer(), opts, backbone=_SceneBackbone())
    assert names(with_emb) == [["C", "C", "C"], ["W", "W", "W"]]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is only chosen on Linux")
def test_workers_fork_only_while_that_is_safe():
    """Plain fork (workers start in ms) while single-threaded without torch; the forkserver
    once a thread runs (a progress bar) or torch is loaded."""
    code = (
        "import sys, threading; from photocull.pipeline import executor as e\n"
        "print(e._mp_context().get_start_method())\n"
        "ev = threading.Event(); t = threading.Thread(target=ev.wait); t.start()\n"
        "print(e._mp_context().get_start_method()); ev.set(); t.join()\n"
        "sys.modules['torch'] = object(); print(e._mp_context().get_start_method())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    assert out == ["fork", "forkserver", "forkserver"]


def test_luma_only_decode_matches_the_colour_decode(tmp_path: Path):
    """Without faces or a working image the worker decodes luma only (no colour conversion);
    its pixels are the colour decode's luma up to rounding and clipping, so hashes and measures agree."""
    from photocull.analyse import AnalyseOptions, analyse_path
    from photocull.decode import decode

    path = tmp_path / "A.jpg"
    save_jpeg(path, scene(2).resize((1600, 1200)), datetime(2026, 5, 1, 9, 0, 0))
    rgb, luma = decode(path, "jpeg"), decode(path, "jpeg", mode="L")
    assert rgb.image.mode == "RGB" and luma.image.mode == "L" and luma.image.size == rgb.image.size
    diff = np.abs(np.asarray(rgb.image.convert("L"), np.int16) - np.asarray(luma.image, np.int16))
    assert diff.max() <= 8 and diff.mean() < 0.05  # clipped saturated colours differ most
    _, a = analyse_path(path, "jpeg", AnalyseOptions())
    _, b = analyse_path(path, "jpeg", AnalyseOptions(keep_image=256))
    assert a.image is None and b.image is not None and a.phash == b.phash
    assert abs(a.metrics.sharpness - b.metrics.sharpness) <= 0.02 * b.metrics.sharpness
