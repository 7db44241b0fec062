"""Train the ViT-B/16-sized FGAesQ from random initialisation on edit pairs for N minutes.

Meant for a lent H100 (bf16 autocast, tokens built by DataLoader workers); prints and writes
JSON with steps/s, images/s, peak GPU memory and held-out pair accuracy before and after.
Smoke test on a CPU::

    python benchmarks/train_gpu.py --tiny --minutes 0.2 --device cpu

Edit pairs come from ``--photos DIR`` (any folder of good photos) or, by default, procedural
images (different seeds for training and held-out sources).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from photocull.train.config import DataConfig, StageConfig, TrainConfig  # noqa: E402
from photocull.train.edits import procedural_images  # noqa: E402
from photocull.train.loop import train  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--tiny", action="store_true", help="the tiny test config (CPU smoke test)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-pairs", type=int, default=None, help="pairs per step (default 32, tiny 16)")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--photos", default=None, help="folder of good photos (default: procedural images)")
    ap.add_argument("--heldout", default=None, help="folder of held-out photos (default: procedural)")
    ap.add_argument("--heldout-pairs", type=int, default=256)
    ap.add_argument("--workers", type=int, default=None, help="token-building worker processes")
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--out", default="runs/train_gpu")
    ap.add_argument("--json", default=None, help="write the result here too (default OUT/benchmark.json)")
    ap.add_argument("--families", default=None, help="comma-separated edit families (default: all)")
    a = ap.parse_args(argv)

    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if a.device == "auto" else a.device))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.cuda.reset_peak_memory_stats()
    size = 128 if a.tiny else 384
    bp = a.batch_pairs or (16 if a.tiny else 32)
    lr = a.lr or (1e-3 if a.tiny else 3e-4)
    workers = a.workers if a.workers is not None else (0 if a.tiny or device.type == "cpu" else
                                                        max(1, min(14, (os.cpu_count() or 2) - 2)))
    train_imgs = None if a.photos else procedural_images(64 if a.tiny else 512, size, seed=1)
    held_imgs = None if a.heldout else procedural_images(16 if a.tiny else 64, size, seed=2)
    fams = a.families.split(",") if a.families else None
    steps = 10**7  # bounded by the time limit; the cosine schedule is laid over an estimate
    est = int(a.minutes * 60 * (20 if a.tiny else 4))  # rough steps in the budget
    cfg = TrainConfig(
        seed=0, model="tiny" if a.tiny else "vit-b-16", init="random", out=a.out, device=str(device),
        text="hashed", checkpoint_every=0, eval_every=a.eval_every, log_every=1,
        data=DataConfig(edits=a.photos, heldout=a.heldout, heldout_pairs=a.heldout_pairs,
                        edit_families=fams, workers=workers, long_side=size),
        stages=[StageConfig("edit_pairs", max(est, 50), lr, warmup=min(100, max(5, est // 20)),
                            batch_pairs=bp, loss={"rank": 1.0, "ctalign": 0.1})],
    )
    del steps
    times: list[tuple[int, float, int]] = []

    def cb(ev):
        if ev.kind == "step":
            times.append((ev.step, ev.elapsed, ev.images))
            if ev.step % 50 == 0:
                print(f"step {ev.step} loss {ev.loss:.3f} lr {ev.lr:.2e} {ev.elapsed:.0f}s", flush=True)
        elif ev.kind == "eval":
            print(f"eval step {ev.step}: held-out pair acc {ev.heldout_acc:.3f} ({ev.elapsed:.0f}s)", flush=True)
        elif ev.kind == "note":
            print(ev.message, flush=True)

    t0 = time.perf_counter()
    res = train(cfg, callback=cb, edit_images=train_imgs, heldout_images=held_imgs,
                time_limit=a.minutes * 60)
    wall = time.perf_counter() - t0
    # throughput over the steady part (skip the first 10 % of steps: start-up, worker spin-up)
    if len(times) >= 4:
        k = len(times) // 10
        s0, t_0, i0 = times[k]
        s1, t_1, i1 = times[-1]
        sps = (s1 - s0) / max(1e-9, t_1 - t_0)
        ips = (i1 - i0) / max(1e-9, t_1 - t_0)
    else:
        sps = res.step / max(res.seconds, 1e-9)
        ips = res.images / max(res.seconds, 1e-9)
    out = {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "model": cfg.model, "params_m": round(sum(p.numel() for p in res.model.parameters()) / 1e6, 2),
        "batch_pairs": bp, "images_per_step": 2 * bp, "lr": lr, "workers": workers,
        "minutes": a.minutes, "steps": res.step, "train_seconds": round(res.seconds, 2),
        "wall_seconds": round(wall, 2), "steps_per_s": round(sps, 3), "images_per_s": round(ips, 1),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None,
        "heldout_acc_before": res.heldout_before, "heldout_acc_after": res.heldout_after,
        "heldout_by_family": res.history[-1].get("by_family") if res.history else None,
        "curve": [{"step": h["step"], "seconds": h["seconds"], "acc": h["heldout_acc"]} for h in res.history],
        "torch": torch.__version__,
    }
    text = json.dumps(out, indent=1)
    print(text)
    dest = Path(a.json) if a.json else Path(a.out) / "benchmark.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    return out


if __name__ == "__main__":
    main()
