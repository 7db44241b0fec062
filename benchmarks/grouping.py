"""Grouping quality on the seeded grouping set (harder than the sample shoot).

    python -m benchmarks grouping                     # default set: ~330 frames, 54 bursts
    python -m benchmarks grouping --bursts 20 --no-real

Configurations, each through ``photocull.session.Session`` (``group --no-cache``: decode, hash, embed) and then
``photocull.group.group_frames`` with the DEFAULT ``GroupOptions`` (the headline) and a small
threshold sweep:

  (i)   hash + time                       (no backbone)
  (ii)  hash + time + embeddings, a tiny RANDOM open_clip model registered here
  (iii) hash + time + embeddings, ``--model``/``--pretrained`` (default ViT-B-16 / openai) when
        the weights are on this machine; otherwise the same architecture with RANDOM weights,
        labelled so. A random backbone measures plumbing and cost, not what CLIP adds.

Scores against ``truth.json``: pairwise precision / recall / F1 (over all frame pairs), the
adjusted Rand index (numpy, no sklearn), number of series found vs true, per-kind pair recall
(zoom, pan, bracket, moving subject, ...), and how many look-alike burst pairs got merged.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import common
from .common import fmt

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------
# Scores


def _comb2(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x * (x - 1) / 2.0


def contingency(truth: Sequence[int], pred: Sequence[int]) -> np.ndarray:
    t = np.unique(np.asarray(truth), return_inverse=True)[1]
    p = np.unique(np.asarray(pred), return_inverse=True)[1]
    m = np.zeros((t.max() + 1, p.max() + 1), dtype=np.int64)
    np.add.at(m, (t, p), 1)
    return m


def pair_scores(truth: Sequence[int], pred: Sequence[int]) -> dict[str, float]:
    """Pairwise precision/recall/F1 and the adjusted Rand index (Hubert & Arabie 1985)."""
    n = len(truth)
    m = contingency(truth, pred)
    tp = _comb2(m).sum()
    true_pairs = _comb2(m.sum(axis=1)).sum()
    pred_pairs = _comb2(m.sum(axis=0)).sum()
    total = n * (n - 1) / 2.0
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    expected = true_pairs * pred_pairs / total if total else 0.0
    max_index = (true_pairs + pred_pairs) / 2.0
    ari = (tp - expected) / (max_index - expected) if max_index != expected else 1.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1), "ari": float(ari)}


def kind_scores(truth_kind: dict[int, str], truth: Sequence[int], pred: Sequence[int], lookalike_pairs: list[tuple[int, int]]) -> dict[str, Any]:
    """Pair recall within true series of each kind; merged look-alike pairs; over-merges per kind."""
    truth, pred = np.asarray(truth), np.asarray(pred)
    out: dict[str, Any] = {}
    for kind in sorted(set(truth_kind.values())):
        if kind == "single":
            continue
        ids = [s for s, k in truth_kind.items() if k == kind]
        tp = tot = 0
        whole = 0
        for s in ids:
            idx = np.flatnonzero(truth == s)
            _, counts = np.unique(pred[idx], return_counts=True)
            tp += _comb2(counts).sum()
            tot += len(idx) * (len(idx) - 1) / 2
            whole += int(len(counts) == 1)
        out[kind] = {"pair_recall": float(tp / tot) if tot else None, "series_kept_whole": f"{whole}/{len(ids)}"}
    merged = 0
    for a, b in lookalike_pairs:
        pa, pb = set(pred[truth == a]), set(pred[truth == b])
        merged += int(bool(pa & pb))
    out["lookalike_pairs_merged"] = f"{merged}/{len(lookalike_pairs)}"
    singles = [s for s, k in truth_kind.items() if k == "single"]
    alone = sum(1 for s in singles if (pred == pred[truth == s][0]).sum() == 1)
    out["singletons_left_alone"] = f"{alone}/{len(singles)}"
    return out


# ----------------------------------------------------------------------------------------------


def analyse(root: Path, backbone, workers: int | None) -> tuple[list[str], list[float], list[str], list[str], np.ndarray | None, float, dict]:
    from photocull.session import Mode, Session

    settings = common.run_settings(cache=False, workers=workers)  # 'photocull group --no-cache'
    t0 = time.perf_counter()
    with Session.open(root, settings, Mode.GROUP, backbone=backbone) as session:
        res = session.run(save=False)
    dt = time.perf_counter() - t0
    names = [fr.frame.path.name for fr in res.frames]
    times = [fr.frame.capture_time for fr in res.frames]
    ph = [fr.analysis.phash for fr in res.frames]
    dh = [fr.analysis.dhash for fr in res.frames]
    emb = None
    if backbone is not None:
        emb = np.zeros((len(res.frames), backbone.dim), np.float32)
        for i, fr in enumerate(res.frames):
            if fr.analysis.embedding is not None:
                emb[i] = fr.analysis.embedding
    return names, times, ph, dh, emb, dt, res.timings


def evaluate(names, times, ph, dh, emb, opts, truth: dict) -> dict[str, Any]:
    from photocull.group import group_frames

    series = group_frames(times, ph, dh, emb, opts)
    pred = np.empty(len(names), dtype=np.int64)
    for s in series:
        pred[s.members] = s.id
    tmap = truth["frames"]
    tl = [tmap[n]["series"] for n in names]
    kinds = {i: s["kind"] for i, s in enumerate(truth["series"])}
    look = [i for i, s in enumerate(truth["series"]) if s["kind"] == "lookalike"]
    pairs = [(look[k], look[k + 1]) for k in range(0, len(look) - 1, 2)]
    out = pair_scores(tl, pred)
    out["series_found"] = len(series)
    out["series_true"] = len(truth["series"])
    out["by_kind"] = kind_scores(kinds, tl, pred, pairs)
    return out


def grouping(args: argparse.Namespace) -> dict[str, Any]:
    from photocull.runtime import pick_device
    from photocull.group import GroupOptions

    from . import data

    root = data.grouping_set(args.bursts, args.width, args.height, seed=args.seed, workers=args.workers)
    truth = json.loads((root / "truth.json").read_text())
    device = "cuda" if args.device == "auto" and common.gpu_name() else ("cpu" if args.device == "auto" else args.device)
    configs: list[tuple[str, str | None]] = [("hash+time", None), ("hash+time+tiny-random-clip", "tiny")]
    if not args.no_real:
        configs.append(("hash+time+" + args.model, f"{args.model}:{args.pretrained}"))
    default = GroupOptions()
    results: dict[str, Any] = {}
    for name, which in configs:
        bb, label = None, "none (hash + time)"
        load_s = 0.0
        if which:
            t0 = time.perf_counter()
            bb, label, _ = common.load_bench_backbone(which, str(pick_device(device)), ROOT / "benchmarks" / "_work", batch_size=args.batch_size)
            load_s = time.perf_counter() - t0
        print(f"  {name}: {label} ...", flush=True)
        names, times, ph, dh, emb, dt, timings = analyse(root, bb, args.workers)
        r: dict[str, Any] = {"backbone": label, "analyse_s": dt, "load_s": load_s, "stage_seconds": timings, "images_per_s": len(names) / dt}
        r["default"] = evaluate(names, times, ph, dh, emb, default, truth)
        r["sweep"] = []
        for ht in args.hash_sweep:
            o = replace(default, hash_threshold=ht)
            r["sweep"].append({"hash_threshold": ht, "embed_threshold": o.embed_threshold if emb is not None else None, **_brief(evaluate(names, times, ph, dh, emb, o, truth))})
        if emb is not None:
            for et in args.embed_sweep:
                o = replace(default, embed_threshold=et)
                r["sweep"].append({"hash_threshold": o.hash_threshold, "embed_threshold": et, **_brief(evaluate(names, times, ph, dh, emb, o, truth))})
        results[name] = r
        d = r["default"]
        print(f"    F1 {d['f1']:.3f}  ARI {d['ari']:.3f}  series {d['series_found']}/{d['series_true']}  ({dt:.1f} s)", flush=True)
        del bb
    return {
        "set": {"dir": str(root), "frames": truth["n_frames"], "series": truth["n_series"], "bursts": truth["n_bursts"], "kinds": truth["kinds"], "size": truth["size"], "seed": truth["seed"]},
        "defaults": {"hash_threshold": default.hash_threshold, "embed_threshold": default.embed_threshold, "max_gap": default.max_gap, "cap": default.cap},
        "device": device,
        "configs": results,
    }


def _brief(e: dict[str, Any]) -> dict[str, Any]:
    return {k: e[k] for k in ("precision", "recall", "f1", "ari", "series_found")} | {"lookalike_pairs_merged": e["by_kind"]["lookalike_pairs_merged"]}


def print_grouping(res: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    s = res["set"]
    c = Console(width=200)
    t = Table(title=f"photocull grouping, DEFAULT options (hash {res['defaults']['hash_threshold']:g}, embed {res['defaults']['embed_threshold']:g}): "
              f"{s['frames']} frames, {s['series']} true series ({s['bursts']} bursts + singletons), {s['size'][0]}x{s['size'][1]}")
    for col in ("config", "backbone", "precision", "recall", "F1", "ARI", "series found / true", "look-alikes merged", "singletons alone", "img/s"):
        t.add_column(col, justify="left" if col in ("config", "backbone") else "right")
    for name, r in res["configs"].items():
        d = r["default"]
        t.add_row(name, r["backbone"], f"{d['precision']:.3f}", f"{d['recall']:.3f}", f"{d['f1']:.3f}", f"{d['ari']:.3f}",
                  f"{d['series_found']} / {d['series_true']}", d["by_kind"]["lookalike_pairs_merged"], d["by_kind"]["singletons_left_alone"], fmt(r["images_per_s"], 1))
    c.print(t)
    kinds = [k for k in next(iter(res["configs"].values()))["default"]["by_kind"] if isinstance(next(iter(res["configs"].values()))["default"]["by_kind"][k], dict)]
    t = Table(title="pair recall by burst kind (series kept whole)")
    t.add_column("config")
    for k in kinds:
        t.add_column(k, justify="right")
    for name, r in res["configs"].items():
        bk = r["default"]["by_kind"]
        t.add_row(name, *[f"{bk[k]['pair_recall']:.2f} ({bk[k]['series_kept_whole']})" for k in kinds])
    c.print(t)
    t = Table(title="threshold sweep (other options default)")
    for col in ("config", "hash thr", "embed thr", "precision", "recall", "F1", "ARI", "series", "look-alikes merged"):
        t.add_column(col, justify="left" if col == "config" else "right")
    for name, r in res["configs"].items():
        for e in r["sweep"]:
            t.add_row(name, f"{e['hash_threshold']:g}", "—" if e["embed_threshold"] is None else f"{e['embed_threshold']:g}", f"{e['precision']:.3f}",
                      f"{e['recall']:.3f}", f"{e['f1']:.3f}", f"{e['ari']:.3f}", str(e["series_found"]), e["lookalike_pairs_merged"])
    c.print(t)


def add_grouping_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--bursts", type=int, default=48, help="bursts in the set before look-alike twins (default 48 -> ~330 frames)")
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=1067)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--device", default="auto")
    from photocull.backbones import DEFAULT_MODEL, DEFAULT_PRETRAINED

    ap.add_argument("--model", default=DEFAULT_MODEL, help="config (iii): open_clip architecture")
    ap.add_argument("--pretrained", default=DEFAULT_PRETRAINED, help="config (iii): tag or local file; RANDOM weights (labelled) when not found here")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--no-real", action="store_true", help="skip config (iii)")
    ap.add_argument("--hash-sweep", type=lambda s: [float(x) for x in s.split(",")], default=[10.0, 13.0, 16.0, 20.0, 24.0])
    ap.add_argument("--embed-sweep", type=lambda s: [float(x) for x in s.split(",")], default=[0.80, 0.85, 0.90, 0.95])
    ap.add_argument("--machine", default=None)
    ap.add_argument("--out", type=Path, default=None)


def main_grouping(args: argparse.Namespace) -> dict[str, Any]:
    res = grouping(args)
    return common.save_and_print("grouping", res, args, res["device"], print_grouping)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m benchmarks.grouping")
    add_grouping_args(ap)
    main_grouping(ap.parse_args())
