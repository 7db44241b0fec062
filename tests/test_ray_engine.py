"""``--engine ray``: Ray Data decodes, the report is the local engine's (timings aside).

A private local Ray (2 CPUs, a small object store, its files in a temporary folder, no
dashboard) is started once for the module and shut down at the end; without Ray installed
the Ray tests skip and only the install hint is checked.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import operator
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photocull.install import install_command
from photocull.cli import app
from photocull.pipeline import ItemFailure

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install 'photocull[ray]')")
runner = CliRunner()


@pytest.fixture(scope="module")
def local_ray():
    import ray

    from photocull.pipeline.ray_executor import worker_runtime_env

    temp = tempfile.mkdtemp(prefix="pcray")  # short: Ray's socket paths must fit in 107 bytes
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024, _temp_dir=temp,
             runtime_env=worker_runtime_env(), logging_level=logging.ERROR, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def _cull(shoot: Path, report: Path, *extra: str) -> dict:
    res = runner.invoke(app, ["cull", str(shoot), "--json", str(report), "-q", *extra])
    assert res.exit_code in (0, 1), res.output
    data = json.loads(report.read_text())
    # What may differ between two runs of the same cull: where the copy lives and how long it took.
    text = json.dumps({k: v for k, v in data.items() if k not in ("timings", "root")}).replace(str(shoot), "SHOOT")
    data = json.loads(text)
    for key in ("seconds", "images_per_second"):
        data["totals"].pop(key, None)
    return data


@needs_ray
def test_ray_engine_report_matches_local(local_ray, sample_copy: Path, tmp_path: Path, monkeypatch):
    from photocull.pipeline.ray_executor import RayExecutor

    mapped: list[int] = []
    real_map = RayExecutor.map
    monkeypatch.setattr(RayExecutor, "map", lambda self, fn, items, *a, **kw: (mapped.append(len(items)), real_map(self, fn, items, *a, **kw))[1])
    other = tmp_path / "ray-copy"
    shutil.copytree(sample_copy, other)
    local = _cull(sample_copy, tmp_path / "local.json")
    assert mapped == []
    on_ray = _cull(other, tmp_path / "ray.json", "--engine", "ray")
    assert mapped == [on_ray["totals"]["decoded"]]  # every file went through Ray Data
    assert on_ray["totals"]["decoded"] == local["totals"]["decoded"] > 20  # Ray really decoded them
    assert on_ray["totals"]["written"] == local["totals"]["written"] > 0  # and ratings were written
    assert on_ray["series"] == local["series"]
    assert on_ray["files"] == local["files"]  # per file: series, pick, stars, scores, write status
    assert on_ray == local
    # A repeated write (a retried task, a re-run after a crash) changes nothing, journals nothing.
    journal = other / ".photocull" / "journal.jsonl"
    lines = journal.read_text().count("\n")
    again = _cull(other, tmp_path / "again.json")
    assert again["totals"]["unchanged"] == on_ray["totals"]["written"] and again["totals"]["written"] == 0
    assert journal.read_text().count("\n") == lines


@needs_ray
def test_ray_executor_contract(local_ray):
    from photocull.pipeline.ray_executor import RayExecutor

    # operator.getitem(item, 1): items of length 1 raise IndexError on the worker.
    items = [(k,) if k % 7 == 0 else (k, k * 10) for k in range(40)]
    done: list[int] = []
    ex = RayExecutor(block_rows=6)
    out = list(ex.map(operator.getitem, items, 1, progress=done.append, batch_size=4))
    ex.close()
    assert local_ray.is_initialized()  # a Ray it did not start is left running
    assert len(out) == 40 and sum(done) == 40
    for k, r in enumerate(out):
        if k % 7 == 0:
            assert isinstance(r, ItemFailure) and r.item == (k,) and r.error.startswith("IndexError")
        else:
            assert r == k * 10


def test_partition_by_folder_keeps_order():
    pytest.importorskip("ray")
    from photocull.pipeline.ray_executor import partition
    from photocull.scan import FoundFile

    files = [FoundFile(Path(folder) / f"{k}.jpg", "jpeg", 1, 1) for folder, k in
             [("a", 0), ("a", 1), ("a", 2), ("b", 3), ("a", 4), ("c", 5), ("c", 6)]]
    blocks = partition(files, block_rows=2)
    assert blocks == [[0, 1], [2, 4], [3], [5, 6]]  # one folder per block, at most 2 files each
    assert all(len({files[k].path.parent for k in b}) == 1 for b in blocks)


def test_engine_ray_without_ray_says_how_to_install(sample_copy: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    monkeypatch.setitem(sys.modules, "photocull.pipeline.ray_executor", None)
    res = runner.invoke(app, ["cull", str(sample_copy), "--engine", "ray", "-q", "--dry-run"])
    assert res.exit_code == 2
    assert install_command("ray") in res.output and res.output.count("pip install") == 1
    assert not (sample_copy / ".photocull" / "journal.jsonl").exists()


def test_engine_choices_are_checked(sample_copy: Path):
    res = runner.invoke(app, ["cull", str(sample_copy), "--engine", "spark", "-q"])
    assert res.exit_code == 2


def test_embed_actor_fills_embeddings_like_the_driver(tiny_weights, tiny_name, tmp_path: Path):
    """What a GPU actor does to a batch (here on the CPU, in this process): the same vectors
    as the driver's backbone, working images dropped, errors passed through in place."""
    pytest.importorskip("ray")
    import pickle

    import numpy as np

    from photocull.analyse import AnalyseOptions, analyse_file
    from photocull.backbones.clip import load_backbone
    from photocull.backbones.spec import BackboneSpec
    from photocull.pipeline.ray_executor import EmbedActor
    from photocull.records import FileError
    from photocull.scan import scan
    from tests.conftest import SAMPLE

    spec = BackboneSpec(model=tiny_name, pretrained=str(tiny_weights[1]))
    found = scan(SAMPLE, recursive=False).files[:5]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    found.insert(2, type(found[0])(bad, "jpeg", bad.stat().st_size, 0))
    outcomes = [analyse_file(f, AnalyseOptions(keep_image=64)) for f in found]
    assert isinstance(outcomes[2], FileError)
    batch = {"idx": np.arange(len(outcomes)), "result": [pickle.dumps(o) for o in outcomes]}
    out = EmbedActor(spec, 4, keep_images=False, device="cpu")(batch)
    back = [pickle.loads(r) for r in out["result"]]
    assert list(out["idx"]) == list(range(len(outcomes)))
    assert isinstance(back[2], FileError)
    driver = load_backbone(spec, "cpu")
    want = driver.embed_images([o[1].image for o in outcomes if isinstance(o, tuple)])
    got = np.stack([b[1].embedding for b in back if isinstance(b, tuple)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert all(b[1].image is None for b in back if isinstance(b, tuple))


@needs_ray
def test_an_address_nobody_answers_on_is_a_usage_error_at_once(sample_copy):
    """``ray.init`` retries a dead address for minutes; photocull says so within seconds."""
    import socket
    import time

    from typer.testing import CliRunner

    from photocull.cli import app

    with socket.socket() as s:  # a port that is free on this machine: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    res = CliRunner().invoke(app, ["cull", str(sample_copy), "--dry-run", "-q", "--engine", "ray",
                                   "--ray-address", f"127.0.0.1:{port}"])
    assert res.exit_code == 2 and "no Ray cluster answers at" in " ".join(res.output.split())
    assert time.monotonic() - started < 30
