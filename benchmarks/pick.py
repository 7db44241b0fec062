"""Does photocull pick the frame a photographer would?  Shoots it was not fitted to, with peers.

    python -m benchmarks pick [--long-side 1200] [--families lomiri,mate,samples,plasma,opencv,pillow,piexif] [--levels strong,subtle] [--no-peers] [--series-consensus]

Renders one strong and one subtle shoot per source family (``pick_shoots``: wide randomised
defects, four noise models, double defects, brackets, soft series), runs the real CLI on each
(``photocull cull --dry-run --json -``, the default weight-free scorer) and reports per family:
best of burst (and by burst kind), per-defect "the clean frame outranks the mate", flag
precision/recall, series ARI, and in the same run the picks of BRISQUE (its bundled model),
cleanvision and the variance of Laplacian. Constants are set on ``CALIBRATION_FAMILY`` only:
the other families' figures are leave-one-family-out figures.
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
WORK = pd.CACHE / "pick4"
FLAGS = ("blurred", "noisy", "overexposed", "underexposed", "compressed")


def add_pick_args(ap) -> None:
    ap.add_argument("--long-side", type=int, default=1200, help="output long side of the rendered frames (px; the reported figures: 1200)")
    ap.add_argument("--families", default="lomiri,mate,samples,plasma,opencv,pillow,piexif", help="source families to render (pick_shoots)")
    ap.add_argument("--no-peers", action="store_true", help="skip BRISQUE and cleanvision (variance of Laplacian stays)")
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--levels", default="strong,subtle")
    ap.add_argument("--workdir", type=Path, default=WORK)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--machine", default=None)
    ap.add_argument("--photocull-src", type=Path, default=REPO, help="run photocull from this source tree (a before/after comparison)")
    ap.add_argument("--series-consensus", action="store_true",
                    help="turn on [technical] series_consensus (each frame against its registered mates) for the run")


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


def peer_scores(shoot: Path, cache: Path) -> dict[str, dict[str, float]]:
    """Per-file scores of the peers (cached beside the shoot): variance of Laplacian (higher is
    sharper), BRISQUE with its bundled model (lower is better; at 512 px, the size it was trained
    on) and cleanvision (issues found, then its mean issue score; fewer issues and higher scores
    are better). A peer that is not installed has no column."""
    if cache.exists():
        return json.loads(cache.read_text())
    files = sorted(p.name for p in shoot.glob("*.JPG"))
    out: dict[str, dict[str, float]] = {"laplacian": {f: laplacian_variance(shoot / f) for f in files}}
    try:
        from brisque import BRISQUE

        class _Brisque(BRISQUE):  # brisque 0.2: some features come back as 1-element arrays, which its own scaling refuses
            def scale_features(self, features):
                return super().scale_features([float(np.ravel(f)[0]) for f in features])

        b = _Brisque(url=False)
        scores = {}
        for f in files:
            im = Image.open(shoot / f).convert("RGB")
            im.thumbnail((512, 512), Image.Resampling.LANCZOS)
            scores[f] = float(b.score(np.asarray(im)))
        out["brisque"] = scores
    except ImportError:
        pass
    try:
        import contextlib
        import io

        from cleanvision import Imagelab

        lab = Imagelab(data_path=str(shoot))
        with contextlib.redirect_stdout(io.StringIO()):
            lab.find_issues(issue_types={"blurry": {}, "dark": {}, "light": {}, "low_information": {}})
        df = lab.issues
        score_cols = [c for c in df.columns if c.endswith("_score")]
        issue_cols = [c for c in df.columns if c.startswith("is_") and c.endswith("_issue")]
        # one number, higher is better: minus the issues found, plus the mean score in [0, 1]
        out["cleanvision"] = {Path(str(i)).name: float(-df.loc[i, issue_cols].sum() + df.loc[i, score_cols].mean()) for i in df.index}
    except ImportError:
        pass
    cache.write_text(json.dumps(out))
    return out


PEER_BETTER = {"laplacian": max, "brisque": min, "cleanvision": max}


def evaluate_family(rows: list[dict], report: dict, peers: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Best of burst (ours and each peer's), per-defect win rates, flags P/R, per burst kind."""
    from . import pick_shoots as ps

    files = {f["path"]: f for f in report["files"]}
    bursts: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        bursts[r["burst"]].append(r)
    best_ok: dict[str, bool] = {}
    peer_ok: dict[str, list[bool]] = defaultdict(list)
    by_kind: dict[str, list[bool]] = defaultdict(list)
    win: dict[str, list[bool]] = defaultdict(list)
    for bid, rs in bursts.items():
        best = next(r for r in rs if r["best"])
        fb = files.get(best["file"])
        same = [files[r["file"]] for r in rs if r["file"] in files and fb and files[r["file"]]["series"] == fb["series"]]
        ok = bool(fb and fb["pick"] and all(not f["pick"] for f in same if f["path"] != best["file"]))
        best_ok[bid] = ok
        by_kind[rs[0]["kind"]].append(ok)
        for name, sc in peers.items():
            pick_f = PEER_BETTER[name](rs, key=lambda r: sc.get(r["file"], float("nan")))["file"]
            peer_ok[name].append(pick_f == best["file"])
        for r in rs:
            if r["best"]:
                continue
            f = files.get(r["file"])
            w = bool(fb and f and (f["series"] != fb["series"] or fb["rank"] < f["rank"]))
            key = "bracket" if r["family"].startswith("bracket") else ("double" if "+" in r["family"] else r["family"])
            win[key].append(w)
    flags: dict[str, dict[str, Any]] = {}
    for flag in FLAGS:
        tp = fp = fn = 0
        for r in rows:
            f = files.get(r["file"])
            got = set(f["problems"]) if f else set()
            want, allowed = ps.expected_flags(r["family"]), ps.allowed_flags(r["family"])
            if flag in got:
                tp += flag in allowed
                fp += flag not in allowed
            elif flag in want and not (got & allowed - {flag} and "noise_nr" in r["family"]):
                fn += 1
        flags[flag] = {"precision": tp / (tp + fp) if tp + fp else None, "recall": tp / (tp + fn) if tp + fn else None,
                       "tp": tp, "fp": fp, "fn": fn}
    return {
        "bursts": len(bursts), "frames": len(rows),
        "best_of_burst": float(np.mean(list(best_ok.values()))),
        "peers_best_of_burst": {k: float(np.mean(v)) for k, v in peer_ok.items()},
        "best_of_burst_by_kind": {k: {"rate": float(np.mean(v)), "n": len(v)} for k, v in sorted(by_kind.items())},
        "defect_win": {k: {"rate": float(np.mean(v)), "n": len(v)} for k, v in sorted(win.items())},
        "flags": flags,
        "ari": ari([r["burst"] for r in rows], [files[r["file"]]["series"] if r["file"] in files else f"err-{r['file']}" for r in rows]),
        "lost_bursts": [b for b, ok in best_ok.items() if not ok],
    }


def main_pick(args) -> dict[str, Any]:
    from . import pick_shoots as ps

    sources = ps.source_photos(tuple(args.families.split(",")))
    res: dict[str, Any] = {
        "sources": {k: [p.name for p in v] for k, v in sources.items()}, "calibration_family": ps.CALIBRATION_FAMILY,
        "long_side": args.long_side, "seed": args.seed, "ranges": ps.RANGES, "families": {},
        "photocull_src": str(args.photocull_src), "scorer": "technical (CLI default, no weights)",
        "series_consensus": args.series_consensus,
    }
    families = [f for f in args.families.split(",") if f in sources]
    for fam in families:
        for level in args.levels.split(","):
            out = args.workdir / f"{fam}-{level}-{args.long_side}-s{args.seed}"
            t0 = time.perf_counter()
            rows = ps.render(fam, sources[fam], level, out, args.long_side, seed=args.seed)
            render_s = time.perf_counter() - t0
            settings = out / "shoot" / "photocull.toml"  # the shoot's own settings: what the CLI reads there
            if args.series_consensus:
                settings.write_text("[technical]\nseries_consensus = true\n")
            else:
                settings.unlink(missing_ok=True)
            t0 = time.perf_counter()
            report = run_cli(out / "shoot", args.photocull_src)
            cli_s = time.perf_counter() - t0
            peers = (peer_scores(out / "shoot", out / "peers.json") if not args.no_peers
                     else {"laplacian": {p.name: laplacian_variance(p) for p in (out / "shoot").glob("*.JPG")}})
            r = evaluate_family(rows, report, peers)
            r |= {"render_s": round(render_s, 1), "cli_s": round(cli_s, 1),
                  "cli_analyse_ms_per_frame": 1000 * report["timings"]["analyse"] / max(1, report["totals"]["photos"])}
            res["families"].setdefault(fam, {})[level] = r
            (out / "report.json").write_text(json.dumps(report))
    res = save_and_print("pick", res, args, "cpu", print_pick)
    return res


def print_pick(res: dict[str, Any]) -> None:
    print(f"constants set on family: {res['calibration_family']} (the other families are held out)")
    for fam, levels in res["families"].items():
        for level, h in levels.items():
            tag = "calibration" if fam == res["calibration_family"] else "held out"
            peers = "  ".join(f"{k} {v:.2f}" for k, v in h["peers_best_of_burst"].items())
            print(f"\n{fam} / {level} ({tag}: {h['bursts']} bursts, {h['frames']} frames)")
            print(f"  best of burst {h['best_of_burst']:.3f}   peers: {peers}   ARI {h['ari']:.3f}")
            print("  by kind: " + "  ".join(f"{k} {v['rate']:.2f} (n={v['n']})" for k, v in h["best_of_burst_by_kind"].items()))
            print("  clean frame outranks: " + "  ".join(f"{k} {v['rate']:.2f} ({v['n']})" for k, v in h["defect_win"].items()))
            print("  flags P/R: " + "  ".join(f"{k} {fmt(v['precision'], 2)}/{fmt(v['recall'], 2)}" for k, v in h["flags"].items()))
            print(f"  CLI analyse {h['cli_analyse_ms_per_frame']:.0f} ms/frame")
            if h["lost_bursts"]:
                print("  lost: " + ", ".join(h["lost_bursts"]))
