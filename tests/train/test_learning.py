"""PROOF that training works: the tiny FGAesQ learns, from random init, to prefer the
original of an edit pair, on pairs made from procedural images it never saw.

Real model (FGAesQ.tiny: DiffToken pairs, NativeViT, score head), real losses (RankReg +
CTAlign), real loop (AdamW, warm-up + cosine, checkpoints). Easy edit families only
(defocus, noise, under/over-exposure). Deterministic: seeded data, seeded dropout.
"""

from __future__ import annotations

import time

import pytest
import torch

from photocull.model.fgaesq import FGAesQ
from photocull.train.config import DataConfig, StageConfig, TrainConfig
from photocull.train.edits import EASY_FAMILIES, procedural_images
from photocull.train.loop import train

STEPS = 600


@pytest.mark.slow
def test_tiny_fgaesq_learns_edit_preferences(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, threads))
    try:
        train_imgs = procedural_images(64, 96, seed=1)
        held_imgs = procedural_images(16, 96, seed=2)  # never seen in training
        cfg = TrainConfig(
            seed=0, model="tiny", init="random", out=str(tmp_path / "run"), device="cpu",
            text="hashed", checkpoint_every=0, eval_every=200, deterministic=True,
            data=DataConfig(edit_families=list(EASY_FAMILIES), heldout_pairs=128),
            stages=[StageConfig("edit_pairs", STEPS, 1e-3, warmup=10, batch_pairs=16, weight_decay=0.01,
                                loss={"rank": 1.0, "ctalign": 0.1})],
        )
        t0 = time.perf_counter()
        res = train(cfg, edit_images=train_imgs, heldout_images=held_imgs)
        seconds = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    curve = [(h["step"], round(h["heldout_acc"], 3)) for h in res.history]
    print(f"held-out pair accuracy by step: {curve}; {seconds:.1f} s")
    assert res.step == STEPS
    assert 0.35 <= res.heldout_before <= 0.65, curve  # chance before training
    assert res.heldout_after >= 0.85, curve
    # the saved checkpoint is the trained model
    m = FGAesQ.load_safetensors(res.run_dir / "checkpoint.safetensors")
    for (k, v), (k2, v2) in zip(sorted(m.state_dict().items()), sorted(res.model.state_dict().items())):
        assert k == k2 and torch.equal(v, v2)
