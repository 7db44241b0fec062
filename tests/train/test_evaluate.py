from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from photocull.train.adapters import make_scorer_fn
from photocull.train.cli import eval_command, train_command
from photocull.train.datasets import EditPairDataset, load_coarse, load_fine
from photocull.train.edits import EditPairSampler, procedural_images
from photocull.train.loop import evaluate


def sharpness(images):
    return [float(np.abs(np.diff(im.astype(float).mean(-1), axis=1)).mean()) for im in images]


def test_evaluate_fine_with_a_scorer_function(tiny_data):
    root, _, _ = tiny_data
    ds = load_fine(root / "fine" / "labels.csv")
    r = evaluate(sharpness, ds)
    assert r["kind"] == "fine" and r["series"] == 2 and r["pairs"] == 6
    assert r["pair_acc"] == 1.0 and r["s_acc"] == 1.0 and r["s_srcc"] == pytest.approx(1.0)
    inv = evaluate(lambda ims: [-s for s in sharpness(ims)], ds)
    assert inv["pair_acc"] == 0.0 and inv["s_acc"] == 0.0 and inv["s_srcc"] == pytest.approx(-1.0)


def test_evaluate_coarse_and_edits(tiny_data):
    root, _, _ = tiny_data
    ds = load_coarse(root / "coarse" / "votes.csv")
    order = {it.path.name: it.mos for it in ds.items}
    seen = []

    def oracle(images):
        seen.append(len(images))
        return [order[f"{len(seen) - 1}.png"]]

    r = evaluate(oracle, ds)
    assert r["kind"] == "coarse" and r["srcc"] == pytest.approx(1.0) and r["plcc"] == pytest.approx(1.0)
    assert seen == [1, 1, 1, 1]
    eds = EditPairDataset(EditPairSampler(procedural_images(3, 64, 5), ["defocus"], seed=1), 12)
    e = evaluate(sharpness, eds)
    assert e["kind"] == "edits" and e["pairs"] == 12 and e["pair_acc"] == 1.0 and e["pair_f1"] == 1.0
    assert e["by_family"] == {"defocus": 1.0}


def test_technical_scorer_adapter_prefers_sharp(tiny_data):
    root, _, _ = tiny_data
    fn, label = make_scorer_fn("technical")
    r = evaluate(fn, load_fine(root / "fine" / "labels.csv"))
    assert label == "technical" and r["pair_acc"] >= 0.8


def _app():
    app = typer.Typer()
    app.command("train")(train_command)
    app.command("eval")(eval_command)
    return app


def test_cli_train_then_eval_checkpoint(tmp_path, tiny_data):
    root, imgs, _ = tiny_data
    cfgf = tmp_path / "t.toml"
    cfgf.write_text('model = "tiny"\nseed = 1\ntext = "hashed"\ncheckpoint_every = 2\neval_every = 2\n'
                    f'[data]\nedits = "procedural:6"\nheldout = "procedural:3"\nheldout_pairs = 6\nlong_side = 64\n'
                    '[[stages]]\nname = "edit_pairs"\nsteps = 3\nlr = 1e-3\nwarmup = 1\nbatch_pairs = 2\n'
                    'mix = { edits = 1.0 }\nloss = { rank = 1.0, ctalign = 0.1 }\n')
    run = tmp_path / "run"
    r = CliRunner().invoke(_app(), ["train", "--config", str(cfgf), "--out", str(run), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert (run / "checkpoint.safetensors").is_file() and (run / "step_000002.safetensors").is_file()
    r = CliRunner().invoke(_app(), ["eval", str(root / "fine"), "--scorer", "technical",
                                    "--scorer", str(run / "checkpoint.safetensors"), "--device", "cpu",
                                    "--json", str(tmp_path / "e.json")])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "e.json").read_text())["results"]
    assert set(res) == {"technical", str(run / "checkpoint.safetensors")}
    assert all(0.0 <= v["pair_acc"] <= 1.0 for v in res.values())


def test_cli_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "labels.csv"
    (tmp_path / "s").mkdir()
    bad.write_text("series,a,b,p\ns,x.jpg,y.jpg,0.5\n")
    r = CliRunner().invoke(_app(), ["eval", str(bad)])
    assert r.exit_code == 2 and f"{bad}:2:" in r.output.replace("\n", "")
    r = CliRunner().invoke(_app(), ["train", "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "no training data" in r.output
