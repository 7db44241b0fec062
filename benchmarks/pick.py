"""Does photocull pick the frame a photographer would?  Real photographs, modelled defects.

    python -m benchmarks pick [--long-side 2000] [--bursts-per-photo 2] [--photos N] [--no-plot]

Renders a strong and a subtle shoot from Debian's lomiri-wallpapers-16.04 (see
``pick_data``), runs the real CLI on each (``photocull cull --dry-run --json -``, the
default weight-free scorer), and measures on the held-out photographs (calibration =
every third photo by name): best of burst, per-family "the clean frame outranks the
mate with this defect", flag precision/recall per family, series ARI, and in the same
run the variance-of-Laplacian pick most culling scripts use. ms/frame: the CLI's own
analyse time per photo, next to the bare decode of the same files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import pick_data as pd
from .common import fmt, save_and_print

REPO = Path(__file__).resolve().parent.parent
WORK = pd.CACHE / "pick"
FLAG_OF = {"defocus": "blurred", "motion": "blurred", "over": "overexposed", "under": "underexposed", "noise": "noisy", "jpeg": "compressed"}
FLAGS = ("blurred", "noisy", "overexposed", "underexposed", "compressed")


def add_pick_args(ap) -> None:
    ap.add_argument("--long-side", type=int, default=2000, help="output long side of the rendered frames (px)")
    ap.add_argument("--bursts-per-photo", type=int, default=2)
    ap.add_argument("--photos", type=int, default=0, help="use only the first N photos (0: all)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--levels", default="strong,subtle")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--workdir", type=Path, default=WORK)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--machine", default=None)
    ap.add_argument("--photocull-src", type=Path, default=REPO, help="run photocull from this source tree (a before/after comparison)")


def _env(src: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(src) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_cli(shoot: Path, src: Path = REPO) -> dict[str, Any]:
    env = _env(src)
    cmd = [sys.executable, "-c", "from photocull.cli import main; main()", "cull", str(shoot), "--dry-run", "--json", "-", "--no-cache"]
    # cwd=src: `python -c` puts the working directory first on sys.path
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=src)
    if p.returncode not in (0, 1) or not p.stdout.strip():
        cmd.remove("--no-cache")  # older CLIs: no such flag
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=src)
    if not p.stdout.strip():
        raise RuntimeError(f"photocull cull failed ({p.returncode}): {p.stderr[-2000:]}")
    return json.loads(p.stdout)


def ari(truth: list[str], pred: list[Any]) -> float:
    """Adjusted Rand index (Hubert & Arabie) from the contingency table."""
    from math import comb

    pairs: dict[tuple, int] = defaultdict(int)
    for t, p in zip(truth, pred):
        pairs[(t, str(p))] += 1
    a: dict = defaultdict(int)
    b: dict = defaultdict(int)
    for (t, p), n in pairs.items():
        a[t] += n
        b[p] += n
    index = sum(comb(n, 2) for n in pairs.values())
    sa, sb, total = sum(comb(n, 2) for n in a.values()), sum(comb(n, 2) for n in b.values()), comb(len(truth), 2)
    expected = sa * sb / total if total else 0.0
    top = (sa + sb) / 2
    return 1.0 if top == expected else float((index - expected) / (top - expected))


def laplacian_variance(path: Path, long_side: int = 1000) -> float:
    """The classic blur score: variance of the 3x3 Laplacian of luma (what most scripts use)."""
    im = Image.open(path)
    im.draft("L", (long_side, long_side))
    g = np.asarray(im.convert("L"), dtype=np.float32)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(lap.var())


def evaluate(rows: list[dict], report: dict, shoot: Path, held_out: set[str]) -> dict[str, Any]:
    files = {f["path"]: f for f in report["files"]}
    rows = [r for r in rows if r["photo"] in held_out]
    bursts: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        bursts[r["burst"]].append(r)
    best_ok, base_ok = [], []
    fam_win: dict[str, list[bool]] = defaultdict(list)
    base_fam: dict[str, list[bool]] = defaultdict(list)
    for bid, rs in bursts.items():
        best = next(r for r in rs if r["best"])
        fb = files.get(best["file"])
        same = [files.get(r["file"]) for r in rs if files.get(r["file"]) and fb and files[r["file"]]["series"] == fb["series"]]
        ok = bool(fb and fb["pick"] and all(not f["pick"] for f in same if f["path"] != best["file"]))
        best_ok.append(ok)
        vol = {r["file"]: laplacian_variance(shoot / r["file"]) for r in rs}
        base_ok.append(max(vol, key=vol.get) == best["file"])
        for r in rs:
            if r["best"]:
                continue
            f = files.get(r["file"])
            win = bool(fb and f and (f["series"] != fb["series"] or fb["rank"] < f["rank"]))
            fam_win[r["family"]].append(win)
            base_fam[r["family"]].append(vol[best["file"]] > vol[r["file"]])
    flags: dict[str, dict[str, float | int]] = {}
    for flag in FLAGS:
        tp = fp = fn = 0
        for r in rows:
            f = files.get(r["file"])
            has = bool(f and flag in f["problems"])
            want = FLAG_OF.get(r["family"]) == flag
            tp += has and want
            fp += has and not want
            fn += want and not has
        flags[flag] = {"precision": tp / (tp + fp) if tp + fp else None, "recall": tp / (tp + fn) if tp + fn else None, "tp": tp, "fp": fp, "fn": fn}
    truth_lab = [r["burst"] for r in rows]
    pred_lab = [files[r["file"]]["series"] if r["file"] in files else f"err-{r['file']}" for r in rows]
    return {
        "bursts": len(bursts),
        "frames": len(rows),
        "best_of_burst": float(np.mean(best_ok)),
        "baseline_laplacian_best_of_burst": float(np.mean(base_ok)),
        "family_win": {k: {"rate": float(np.mean(v)), "n": len(v)} for k, v in sorted(fam_win.items())},
        "baseline_family_win": {k: float(np.mean(v)) for k, v in sorted(base_fam.items())},
        "flags": flags,
        "ari": ari(truth_lab, pred_lab),
        "lost_bursts": [bid for bid, ok in zip(bursts, best_ok) if not ok],
    }


_TIMING = """
import json, statistics, sys, time
from pathlib import Path
from photocull.analyse import analyse_path
from photocull.decode import decode
dec, ana = [], []
for p in sorted(Path(sys.argv[1]).glob("*.JPG"))[: int(sys.argv[2])]:
    t = time.perf_counter(); decode(p, "jpeg"); dec.append(time.perf_counter() - t)
    t = time.perf_counter(); analyse_path(p, "jpeg"); ana.append(time.perf_counter() - t)
print(json.dumps([1000 * statistics.median(dec), 1000 * statistics.median(ana)]))
"""


def decode_ms(shoot: Path, src: Path = REPO, n: int = 24) -> tuple[float, float]:
    """Median ms/frame of the bare draft decode and of photocull's per-file analysis (one process)."""
    p = subprocess.run([sys.executable, "-c", _TIMING, str(shoot), str(n)], capture_output=True, text=True, env=_env(src), cwd=src, check=True)
    d, a = json.loads(p.stdout)
    return d, a


def main_pick(args) -> dict[str, Any]:
    root = pd.photo_dir()
    paths = pd.photos(root)
    if args.photos:
        paths = paths[: args.photos]
    calib, held = pd.split(paths)
    res: dict[str, Any] = {
        "source": pd.PACKAGE, "photos": [p.name for p in paths], "calibration": [p.name for p in calib],
        "held_out": [p.name for p in held], "long_side": args.long_side, "seed": args.seed, "levels": {},
        "photocull_src": str(args.photocull_src), "scorer": "technical (CLI default, no weights)",
    }
    for level in args.levels.split(","):
        out = args.workdir / f"{level}-{args.long_side}-s{args.seed}-b{args.bursts_per_photo}-n{len(paths)}"
        t0 = time.perf_counter()
        rows = pd.render_shoot(root, paths, level, out, args.long_side, seed=args.seed, bursts_per_photo=args.bursts_per_photo)
        render_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = run_cli(out / "shoot", args.photocull_src)
        cli_s = time.perf_counter() - t0
        held_res = evaluate(rows, report, out / "shoot", {p.name for p in held})
        calib_res = evaluate(rows, report, out / "shoot", {p.name for p in calib})
        other_splits = {}
        for offset in (1, 2):  # the other thirds as calibration: does the held-out figure hang on the split?
            c, h = pd.split(paths, offset)
            other_splits[str(offset)] = {"calibration": [p.name for p in c], "held_out": evaluate(rows, report, out / "shoot", {p.name for p in h})}
        d_ms, a_ms = decode_ms(out / "shoot", args.photocull_src)
        res["levels"][level] = {
            "held_out": held_res, "calibration": calib_res, "other_splits": other_splits, "render_s": round(render_s, 1), "cli_s": round(cli_s, 1),
            "cli_analyse_ms_per_frame": 1000 * report["timings"]["analyse"] / max(1, report["totals"]["photos"]),
            "decode_ms_per_frame": d_ms, "analyse_ms_per_frame": a_ms, "analyse_over_decode": a_ms / d_ms,
        }
    res = save_and_print("pick", res, args, "cpu", print_pick)
    if not args.no_plot:
        plot(res, REPO / "docs" / "pick.png")
    return res


def print_pick(res: dict[str, Any]) -> None:
    for level, r in res["levels"].items():
        h = r["held_out"]
        print(f"\n{level} (held out: {h['bursts']} bursts, {h['frames']} frames; calibration best-of-burst {r['calibration']['best_of_burst']:.2f})")
        print(f"  best of burst {h['best_of_burst']:.3f}   variance-of-Laplacian {h['baseline_laplacian_best_of_burst']:.3f}   ARI {h['ari']:.3f}")
        print("  clean frame outranks the mate with:  " + "  ".join(f"{k} {v['rate']:.2f} (n={v['n']})" for k, v in h["family_win"].items()))
        print("  flags P/R: " + "  ".join(f"{k} {fmt(v['precision'], 2)}/{fmt(v['recall'], 2)}" for k, v in h["flags"].items()))
        print(f"  ms/frame: analyse {r['analyse_ms_per_frame']:.1f}, decode {r['decode_ms_per_frame']:.1f} (x{r['analyse_over_decode']:.2f}); CLI analyse {r['cli_analyse_ms_per_frame']:.0f}")
        if h["lost_bursts"]:
            print("  lost: " + ", ".join(h["lost_bursts"]))
        for offset, o in r.get("other_splits", {}).items():
            oh = o["held_out"]
            print(f"  split {offset} (calibration = every third photo from #{offset}): held-out best of burst {oh['best_of_burst']:.3f} "
                  f"({oh['bursts']} bursts), ARI {oh['ari']:.3f}; " + " ".join(f"{k} {v['rate']:.2f}" for k, v in oh["family_win"].items()))


def plot(res: dict[str, Any], out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    levels = list(res["levels"])
    fams = list(pd.FAMILIES)
    fig, axes = plt.subplots(1, len(levels), figsize=(5.5 * len(levels), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, level in zip(axes, levels):
        h = res["levels"][level]["held_out"]
        x = np.arange(len(fams) + 1)
        ours = [h["family_win"].get(f, {}).get("rate", np.nan) for f in fams] + [h["best_of_burst"]]
        base = [h["baseline_family_win"].get(f, np.nan) for f in fams] + [h["baseline_laplacian_best_of_burst"]]
        ax.bar(x - 0.2, ours, 0.4, label="photocull technical")
        ax.bar(x + 0.2, base, 0.4, label="variance of Laplacian")
        ax.set_xticks(x, fams + ["best of\nburst"], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{level} defects, held-out photos (ARI {h['ari']:.3f})", fontsize=9)
        ax.axhline(0.95 if level == "strong" else 0.85, color="gray", lw=0.8, ls="--")
    axes[0].set_ylabel("clean frame ranked above the defective mate")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"plot: {out}")
