"""FGAesQ series scoring: O(n) reference conditioning vs the official all-pairs procedure.

Why: the official inference scores every ordered pair of a series (n(n-1) passes: 870 for a
burst of 30); photocull conditions each frame on one reference (the series medoid), n
passes. This measures what that costs in ranking quality, on series whose true order is
known: a photo and its edits of growing magnitude (defocus, noise, exposure), the
original best. The scorer is a tiny FGAesQ trained here from random weights on edit pairs
of *other* photos (so its rankings mean something), or ``--weights`` for a checkpoint.

Reported, for series of each length: s-Acc and s-SRCC against the truth for both modes,
their agreement (Spearman between the two rankings, top-1 agreement), forward passes and
time; plus token-building throughput and scoring throughput of the published ViT-B/16
architecture (random weights: cost, not quality) for series of 5 and 30.

    python -m benchmarks fgaesq [--series 24] [--lengths 5,8] [--device cpu|cuda] [--weights PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import common

FAMILIES = ("defocus", "noise", "underexpose", "overexpose")


def add_fgaesq_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--series", type=int, default=24, help="held-out series per length")
    ap.add_argument("--lengths", default="5,8", help="series lengths (comma-separated)")
    ap.add_argument("--steps", type=int, default=600, help="training steps for the tiny scorer")
    ap.add_argument("--weights", type=Path, default=None, help="score with this FGAesQ checkpoint instead")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--throughput-series", type=int, default=None, help="series per throughput row (default: 2 on CPU, 40 on CUDA)")
    ap.add_argument("--out", type=Path, default=None)


def _truth_series(images: list[np.ndarray], n: int, seed: int) -> list[tuple[list[np.ndarray], list[float]]]:
    """Series of n frames: the original and n-1 edits of one family, magnitudes increasing.

    Quality truth: the original scores n, the mildest edit n-1, ..., the strongest 1.
    """
    from photocull.train.edits import FAMILIES as EDITS

    rng = np.random.default_rng(seed)
    out = []
    for k, img in enumerate(images):
        family = FAMILIES[k % len(FAMILIES)]
        mags = np.linspace(0.2, 1.0, n - 1)
        frames = [img] + [EDITS[family](img, float(m), np.random.default_rng([seed, k, j])) for j, m in enumerate(mags)]
        order = rng.permutation(n)  # present frames in a random order
        truth = [float(n - i) for i in range(n)]
        out.append(([frames[i] for i in order], [truth[i] for i in order]))
    return out


def _trained_tiny(steps: int, workdir: Path):
    from photocull.train.config import DataConfig, StageConfig, TrainConfig
    from photocull.train.edits import EASY_FAMILIES, procedural_images
    from photocull.train.loop import train

    cfg = TrainConfig(
        seed=0, model="tiny", init="random", out=str(workdir / "tiny-run"), device="cpu", text="hashed",
        checkpoint_every=0, eval_every=steps, deterministic=True,
        data=DataConfig(edit_families=list(EASY_FAMILIES), heldout_pairs=128),
        stages=[StageConfig("edit_pairs", steps, 1e-3, warmup=10, batch_pairs=16, weight_decay=0.01, loss={"rank": 1.0, "ctalign": 0.1})],
    )
    res = train(cfg, edit_images=procedural_images(64, 96, seed=1), heldout_images=procedural_images(16, 96, seed=2))
    return res.model, {"steps": steps, "seconds": round(res.seconds, 1), "heldout_before": res.heldout_before, "heldout_after": res.heldout_after}


def _spearman(a, b) -> float:
    from photocull.metrics import srcc

    return float(srcc(np.asarray(a, float), np.asarray(b, float)))


def _quality_rows(model, lengths: list[int], n_series: int, device: str) -> list[dict[str, Any]]:
    from photocull.model.series import SeriesInput, rank_agreement, score_many
    from photocull.train.edits import procedural_images

    rows = []
    images = procedural_images(n_series, 96, seed=7)  # photos neither training nor held-out saw
    for n in lengths:
        series = _truth_series(images, n, seed=100 + n)
        inputs = [SeriesInput(frames, None, [f"s{k}f{j}" for j in range(n)]) for k, (frames, _) in enumerate(series)]
        res = {}
        for mode, exhaustive in (("O(n) medoid", False), ("exhaustive", True)):
            t0 = time.perf_counter()
            out = score_many(inputs, model, exhaustive=exhaustive, device=device)
            res[mode] = (out, time.perf_counter() - t0)
        for mode, (out, secs) in res.items():
            truths = [t for _, t in series]
            rows.append({
                "length": n, "mode": mode, "series": len(series),
                "s_acc": float(np.mean([int(np.argmax(o.scores) == int(np.argmax(t))) for o, t in zip(out, truths)])),
                "s_srcc": float(np.mean([_spearman(o.scores, t) for o, t in zip(out, truths)])),
                "passes": int(sum(o.passes for o in out)), "seconds": round(secs, 3),
            })
        agree = [rank_agreement(a.scores, b.scores) for a, b in zip(res["O(n) medoid"][0], res["exhaustive"][0])]
        rows.append({
            "length": n, "mode": "agreement O(n) vs exhaustive", "series": len(series),
            "spearman": float(np.mean([a.spearman for a in agree])), "top1": float(np.mean([a.top1 for a in agree])),
        })
    return rows


def _throughput_rows(device: str, n_series: int) -> list[dict[str, Any]]:
    """Tokens built/s and frames scored/s with the published ViT-B/16 (random weights)."""
    import torch

    from photocull.model.config import FGAesQConfig
    from photocull.model.difftoken import build_tokens
    from photocull.model.fgaesq import FGAesQ
    from photocull.model.series import SeriesInput, score_many
    from photocull.train.edits import procedural_images

    torch.manual_seed(0)
    model = FGAesQ(FGAesQConfig()).eval()
    imgs = procedural_images(8, (512, 341), seed=3)
    t0 = time.perf_counter()
    reps = 16
    ntok = 0
    for k in range(reps):
        t = build_tokens(imgs[k % 8], imgs[(k + 1) % 8], identity=str(k), reference_identity=str(k + 1))
        ntok += int(t.valid.sum()) if hasattr(t, "valid") else len(t)
    build = time.perf_counter() - t0
    rows = [{"what": "token building (512x341 pair, CPU)", "token_sets_per_s": round(reps / build, 1), "tokens_per_s": round(ntok / build)}]
    for n in (5, 30):
        frames = procedural_images(n, (512, 341), seed=10 + n)
        inputs = [SeriesInput(frames, None, [f"{k}:{j}" for j in range(n)]) for k in range(n_series)]
        score_many(inputs[:1], model, device=device)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = score_many(inputs, model, device=device, batch_size=64 if device.startswith("cuda") else 16)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        secs = time.perf_counter() - t0
        rows.append({"what": f"score series of {n} (O(n), ViT-B/16 random)", "frames_per_s": round(n * n_series / secs, 2),
                     "series": n_series, "passes": int(sum(o.passes for o in out)), "seconds": round(secs, 2)})
    return rows


def main_fgaesq(a: argparse.Namespace) -> None:
    import tempfile

    import torch
    from rich.console import Console
    from rich.table import Table

    from photocull.model.fgaesq import FGAesQ

    lengths = [int(x) for x in a.lengths.split(",") if x]
    with tempfile.TemporaryDirectory() as tmp:
        if a.weights:
            model, trained = FGAesQ.load_safetensors(a.weights).eval(), {"weights": str(a.weights)}
        else:
            model, trained = _trained_tiny(a.steps, Path(tmp))
    quality = _quality_rows(model, lengths, a.series, a.device)
    n_tp = a.throughput_series or (40 if a.device.startswith("cuda") else 2)
    throughput = _throughput_rows(a.device, n_tp)
    console = Console(width=140)
    t = Table(title=f"FGAesQ series scoring: O(n) vs exhaustive ({'trained tiny' if not a.weights else a.weights})")
    for col in ("length", "mode", "s-Acc", "s-SRCC", "spearman O(n)~exh", "top-1 agree", "passes", "seconds"):
        t.add_column(col)
    for r in quality:
        t.add_row(str(r["length"]), r["mode"], common.fmt(r.get("s_acc"), 3), common.fmt(r.get("s_srcc"), 3),
                  common.fmt(r.get("spearman"), 3), common.fmt(r.get("top1"), 3), str(r.get("passes", "")), common.fmt(r.get("seconds"), 2))
    console.print(t)
    for r in throughput:
        console.print(r)
    payload = {"trained": trained, "quality": quality, "throughput": throughput, "device": a.device,
               "torch": torch.__version__, "machine_info": common.machine_info(a.device)}
    path = common.write_results("fgaesq-series", common.machine_label(a.device), payload, a.out)
    console.print(f"results: {path}")
