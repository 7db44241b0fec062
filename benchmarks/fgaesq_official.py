"""FGAesQ with the official tokens: O(n) reference pairs vs the official all pairs.

Why: the official series script scores every pair of a series (n(n−1) passes: 870 for 30
frames). photocull's O(n) mode scores each frame only in its pair with the series medoid
(the medoid with its nearest neighbour): at most 2(n−1) passes, and each O(n) score is
exactly one of the exhaustive run's pair scores (same pair ids, same tokens). This measures
how close the O(n) ranking stays to the exhaustive one (Spearman's rho, same top frame) and
what each costs (passes, passes/s, wall time), on seeded synthetic bursts.

The ranking model is the golden test's seeded random checkpoint recipe at a small size
(2 layers, width 128: its scores spread and react to content, so rankings are not ties);
its rankings carry no aesthetic meaning, only the *agreement* between the modes does. Cost
is measured on it and, for passes/s of the real architecture, on ViT-B/16 at full size.

    python -m benchmarks fgaesq-official [--lengths 3,5,8,15,30] [--series 2] [--size 320x240]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import common

_TESTS = Path(__file__).resolve().parents[1] / "tests" / "model"


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--lengths", default="3,5,8,15,30", help="series lengths (comma-separated)")
    ap.add_argument("--series", type=int, default=2, help="series per length")
    ap.add_argument("--size", default="320x240", help="frame size WxH (small frames are up-scaled, as officially)")
    ap.add_argument("--full-pairs", type=int, default=3, help="pairs scored with full-size ViT-B/16 for passes/s (0: skip)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--out", type=Path, default=None)


def _fixture():
    if str(_TESTS.parent.parent) not in sys.path:
        sys.path.insert(0, str(_TESTS.parent.parent))
    from tests.model import official_fixture

    return official_fixture


def _model(layers: int, width: int):
    from photocull.model.checkpoint import import_official

    fx = _fixture()
    model, _ = import_official(fx.official_state_dict(fx.CHECKPOINT_SEED, layers=layers, width=width), strict=True)
    return model.eval()


def _burst(fx, seed: int, n: int, w: int, h: int) -> list[np.ndarray]:
    """n frames of one scene: shifts, exposure steps and grain growing along the burst, in a
    seeded random order (so frame order says nothing)."""
    frames = fx.series_frames(seed, [(w, h)] * n)
    order = np.random.default_rng(seed).permutation(n)
    return [frames[i] for i in order]


def _quality(model, lengths: list[int], n_series: int, w: int, h: int, device: str,
             on_row=None) -> list[dict[str, Any]]:
    from photocull.model.official import score_series, thumbnail_similarity
    from photocull.model.series import choose_references, rank_agreement

    fx = _fixture()
    rows = []
    for n in lengths:
        agree, cost = [], {"reference": [0, 0.0], "exhaustive": [0, 0.0]}
        for k in range(n_series):
            frames = _burst(fx, 1000 * n + k, n, w, h)
            t0 = time.perf_counter()
            refs = choose_references(thumbnail_similarity(frames))
            ref = score_series(model, frames, series_id=str(k), exhaustive=False, references=refs, device=device)
            t1 = time.perf_counter()
            exh = score_series(model, frames, series_id=str(k), exhaustive=True, device=device)
            t2 = time.perf_counter()
            cost["reference"][0] += ref.passes
            cost["reference"][1] += t1 - t0
            cost["exhaustive"][0] += exh.passes
            cost["exhaustive"][1] += t2 - t1
            agree.append(rank_agreement(ref.scores, exh.scores))
        rows.append({
            "length": n, "series": n_series,
            "spearman": float(np.nanmean([a.spearman for a in agree])),
            "top1": float(np.mean([a.top1 for a in agree])),
            "passes_reference": cost["reference"][0], "passes_exhaustive": cost["exhaustive"][0],
            "seconds_reference": round(cost["reference"][1], 2), "seconds_exhaustive": round(cost["exhaustive"][1], 2),
            "passes_per_s_reference": round(cost["reference"][0] / cost["reference"][1], 1),
            "passes_per_s_exhaustive": round(cost["exhaustive"][0] / cost["exhaustive"][1], 1),
            "speedup": round(cost["exhaustive"][1] / cost["reference"][1], 2),
        })
        print(rows[-1], flush=True)
        if on_row is not None:
            on_row(rows)
    return rows


def _full_size(n_pairs: int, device: str) -> dict[str, Any]:
    """Passes/s of the published ViT-B/16 on 1600×1200 pairs: tokens and forward timed apart."""
    import torch

    from photocull.model.official import forward_official
    from photocull.model.official_tokens import pair_tokens

    fx = _fixture()
    model = _model(12, 768)
    pe = model.tower.visual.positional_embedding.detach()
    frames = fx.series_frames(7, [(1600, 1200)] * (n_pairs + 1))
    t0 = time.perf_counter()
    toks = []
    for i in range(n_pairs):
        toks.extend(pair_tokens(frames[i], frames[i + 1], pe, f"0_{i}_{i + 1}"))
    t1 = time.perf_counter()
    from photocull.model.difftoken import build_pair_tokens

    for i in range(n_pairs):  # photocull's earlier tokenizer on the same pairs (for comparison)
        build_pair_tokens(frames[i], frames[i + 1], identity_a=str(i), identity_b=str(i + 1))
    t1b = time.perf_counter()
    forward_official(model, toks[:2], device=device)  # warm-up
    t2 = time.perf_counter()
    forward_official(model, toks, batch_size=8, device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t3 = time.perf_counter()
    return {"what": "ViT-B/16, 1600x1200 pairs", "passes": len(toks),
            "tokens_s_per_pair": round((t1 - t0) / n_pairs, 3),
            "photocull_tokens_s_per_pair": round((t1b - t1) / n_pairs, 3),
            "forward_passes_per_s": round(len(toks) / (t3 - t2), 2),
            "passes_per_s_with_tokens": round(len(toks) / ((t1 - t0) + (t3 - t2)), 2)}


def main(a: argparse.Namespace) -> None:
    import torch

    torch.manual_seed(0)
    if a.threads:
        torch.set_num_threads(a.threads)
    w, h = (int(x) for x in a.size.lower().split("x"))
    lengths = [int(x) for x in a.lengths.split(",") if x]
    model = _model(2, 128)
    label = common.machine_label(a.device)

    def save(rows, full=None):
        payload = {"model": "golden recipe, 2 layers, width 128", "frame_size": a.size, "rows": rows,
                   "full_size": full, "torch": torch.__version__, "device": a.device,
                   "threads": torch.get_num_threads(), "machine_info": common.machine_info(a.device)}
        return common.write_results("fgaesq-official", label, payload, a.out)

    full = _full_size(a.full_pairs, a.device) if a.full_pairs else None
    print(full, flush=True)
    rows = _quality(model, lengths, a.series, w, h, a.device, on_row=lambda r: save(r, full))
    print(f"{'n':>3} {'rho':>6} {'top1':>5} {'passes O(n)/exh':>16} {'s O(n)/exh':>14} {'speed-up':>8}")
    for r in rows:
        print(f"{r['length']:>3} {r['spearman']:>6.3f} {r['top1']:>5.2f} "
              f"{r['passes_reference']:>7}/{r['passes_exhaustive']:<8} "
              f"{r['seconds_reference']:>6.1f}/{r['seconds_exhaustive']:<7.1f} {r['speedup']:>7.1f}x")
    print(f"results: {save(rows, full)}")
