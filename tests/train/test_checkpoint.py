"""Run folders, checkpoints and resume: a resumed run ends with the same weights."""

from __future__ import annotations

import json

import pytest
import torch

from photocull.model.fgaesq import FGAesQ
from photocull.train.config import DataConfig, StageConfig, TrainConfig
from photocull.train.edits import procedural_images
from photocull.train.loop import lr_at, train


def _cfg(out, tiny_data):
    root, _, _ = tiny_data
    return TrainConfig(
        seed=3, model="tiny", init="random", out=str(out), device="cpu", accum=2, text="random-clip",
        checkpoint_every=3, eval_every=4, deterministic=True,
        data=DataConfig(fine=str(root / "fine" / "labels.csv"), coarse=str(root / "coarse" / "votes.csv"),
                        edit_families=["defocus", "noise"], heldout_pairs=8, long_side=64),
        stages=[StageConfig("edit_pairs", 4, 1e-3, warmup=2, batch_pairs=3, loss={"rank": 1.0, "ctalign": 0.2}),
                StageConfig("mixed", 4, 5e-4, warmup=1, batch_pairs=3, batch_images=4,
                            mix={"coarse": 0.5, "fine": 0.5, "edits": 0.2},
                            loss={"emd": 1.0, "rank": 1.0, "ctalign": 0.1})],
    )


def _state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_resume_gives_the_same_final_weights(tmp_path, tiny_data):
    edit, held = procedural_images(6, 64, seed=1), procedural_images(3, 64, seed=2)
    full = train(_cfg(tmp_path / "full", tiny_data), edit_images=edit, heldout_images=held)
    assert full.step == 8

    events = []
    part = train(_cfg(tmp_path / "part", tiny_data), edit_images=edit, heldout_images=held,
                 stop_after=5, callback=events.append)
    assert part.step == 5
    run = tmp_path / "part"
    assert (run / "train_state.pt").is_file() and (run / "checkpoint.safetensors").is_file()
    assert (run / "step_000003.safetensors").is_file()
    assert torch.load(run / "train_state.pt", weights_only=False)["step"] == 5
    cfg_json = json.loads((run / "config.json").read_text())
    assert cfg_json["train"]["seed"] == 3 and cfg_json["model"]["width"] == 64
    kinds = {e.kind for e in events}
    assert {"step", "eval", "checkpoint", "note"} <= kinds
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == [1, 2, 3, 4, 5] and all(e.loss is not None and e.lr > 0 for e in steps)

    resumed_events = []
    res = train(_cfg(tmp_path / "part", tiny_data), edit_images=edit, heldout_images=held, resume=True,
                callback=resumed_events.append)
    assert res.step == 8
    assert [e.step for e in resumed_events if e.kind == "step"] == [6, 7, 8]
    a, b = _state(full.model), _state(res.model)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # and the saved final checkpoint loads as an FGAesQ
    m = FGAesQ.load_safetensors(tmp_path / "full" / "checkpoint.safetensors")
    for k, v in m.state_dict().items():
        assert torch.equal(v, a[k])
    # training changed the weights
    assert full.history[0]["step"] == 0 and full.history[-1]["step"] == 8


def test_resume_without_state_is_an_error(tmp_path, tiny_data):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(_cfg(tmp_path / "none", tiny_data), resume=True)


def test_lr_schedule():
    st = StageConfig("s", steps=110, lr=1.0, warmup=10, min_lr_ratio=0.1)
    assert lr_at(st, 0) == pytest.approx(0.1)
    assert lr_at(st, 9) == pytest.approx(1.0)
    assert lr_at(st, 10) == pytest.approx(1.0)
    assert lr_at(st, 60) == pytest.approx(0.55)
    assert lr_at(st, 110) == pytest.approx(0.1)


def test_toml_config(tmp_path):
    f = tmp_path / "train.toml"
    f.write_text('seed = 4\nmodel = "tiny"\n[data]\nedits = "procedural:8"\n'
                 '[[stages]]\nname = "a"\nsteps = 2\nmix = { edits = 1.0 }\nloss = { rank = 1.0 }\n'
                 '[[stages]]\nname = "b"\nsteps = 3\nlr = 1e-4\nmix = { coarse = 1.0 }\nloss = { emd = 1.0 }\n')
    cfg = TrainConfig.from_toml(f, out=str(tmp_path / "r"))
    assert cfg.seed == 4 and cfg.total_steps == 5 and cfg.stages[1].lr == 1e-4 and cfg.out.endswith("r")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    f.write_text('[[stages]]\nname = "a"\nloss = { hinge = 1.0 }\n')
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        TrainConfig.from_toml(f)
    f.write_text('sed = 1\n')
    with pytest.raises(ValueError, match=r"unknown key\(s\) 'sed'"):
        TrainConfig.from_toml(f)
