"""The local engine against the Ray engine on one machine: ``python -m benchmarks scale-engines``.

A library of ``--n`` small JPEGs (default 10,000 at 320x240, bursts of 5, generated once by
``data.scale_pool`` and hard-linked into shoot folders of ``--per-folder`` files) is culled
as a user types it, in a fresh process each time (``photocull cull LIB --dry-run --scorer
technical --no-embeddings --no-faces --no-cache --quiet --workers W`` with ``--engine local`` or
``--engine ray``), alternating engines, ``--repeats`` times each. Per run: wall seconds
(interpreter and Ray start included), the analyse stage's seconds from the JSON report,
peak RSS of the driver and the peak of the summed RSS of its whole process tree (Ray's GCS,
raylet and workers; shared pages are counted in each process, so this is an upper bound).
Ray's start-up overhead is measured on its own: ``ray.init`` plus a one-item map (the
first worker starting and importing photocull) and the shutdown, in a fresh process.

Medians are quoted; the ratio is Ray's images/s over the local engine's, measured in the
same run. Results: ``benchmarks/results/scale-engines-<machine>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import common
from .common import fmt, median

ROOT = Path(__file__).resolve().parents[1]
TAG = "RAY-STARTUP "


def library(pool: Path, n: int, per_folder: int) -> Path:
    """The first ``n`` files of ``pool`` hard-linked into shoot folders of ``per_folder`` files."""
    out = pool.with_name(f"{pool.name}-lib{n}x{per_folder}")
    names = sorted(p.name for p in pool.glob("*.JPG"))[:n]
    if len(names) < n:
        raise SystemExit(f"the pool has {len(names)} files, fewer than {n}")
    if (out / "done").is_file():
        return out
    shutil.rmtree(out, ignore_errors=True)
    for k, name in enumerate(names):
        folder = out / f"shoot_{k // per_folder:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            os.link(pool / name, folder / name)
        except OSError:
            shutil.copy2(pool / name, folder / name)
    (out / "done").write_text(str(n))
    return out


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    return env


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_rss_mb(root: int) -> float:
    """Summed RSS of ``root`` and every descendant now (Linux /proc)."""
    kids = _children()
    todo, total = [root], 0.0
    while todo:
        pid = todo.pop()
        total += _rss_mb(pid)
        todo += kids.get(pid, [])
    return total


def run_engine(lib: Path, engine: str, workers: int, timeout: float, report: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-c", "from photocull.cli import main; main()", "cull", str(lib), "--dry-run",
           "--scorer", "technical", "--no-embeddings", "--no-faces", "--no-cache", "--quiet", "--workers", str(workers),
           "--engine", engine, "--json", str(report)]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    peak_tree = 0.0
    while p.poll() is None:
        peak_tree = max(peak_tree, tree_rss_mb(p.pid))
        if time.perf_counter() - t0 > timeout:
            p.kill()
            p.wait()
            return {"ok": False, "engine": engine, "error": f"timed out after {timeout:.0f} s"}
        time.sleep(0.25)
    seconds = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        return {"ok": False, "engine": engine, "error": f"rc {p.returncode}: {err[-500:]}"}
    t = data["totals"]
    return {
        "ok": p.returncode in (0, 1) and t["errors"] == 0, "engine": engine, "seconds": seconds,
        "images": t["photos"], "decoded": t["decoded"], "timings": data["timings"],
        "images_per_s": t["photos"] / seconds, "ms_per_image": 1000 * seconds / t["photos"],
        "analyse_images_per_s": t["decoded"] / data["timings"]["analyse"],
        "peak_tree_rss_mb": peak_tree, "rc": p.returncode, "stderr": err[-300:] or None,
        "picks": t["picks"], "series": t["series"],
    }


STARTUP_PROBE = f"""
import json, operator, time
t0 = time.perf_counter()
from photocull.pipeline.ray_executor import RayExecutor
t1 = time.perf_counter()
ex = RayExecutor(workers=int(__import__('sys').argv[1]))
ex.start(1)
t2 = time.perf_counter()
assert list(ex.map(operator.getitem, [(1, 2)], 1)) == [2]
t3 = time.perf_counter()
ex.close()
t4 = time.perf_counter()
print({TAG!r} + json.dumps(dict(import_s=t1 - t0, init_s=t2 - t1, first_map_s=t3 - t2, shutdown_s=t4 - t3, total_s=t4 - t0)))
"""


def ray_startup(workers: int, timeout: float) -> dict[str, Any]:
    p = subprocess.run([sys.executable, "-c", STARTUP_PROBE, str(workers)], cwd=ROOT, capture_output=True, text=True,
                       timeout=timeout, env=_env())
    for line in reversed(p.stdout.splitlines()):
        if line.startswith(TAG):
            return {"ok": True, **json.loads(line[len(TAG):])}
    return {"ok": False, "error": p.stderr[-500:]}


def scale_engines(args: argparse.Namespace) -> dict[str, Any]:
    from . import data

    workers = args.workers or common.cores()
    t0 = time.perf_counter()
    pool = data.scale_pool(max(args.n, args.pool), args.width, args.height, workers=workers)
    lib = library(pool, args.n, args.per_folder)
    print(f"library: {args.n} files in {-(-args.n // args.per_folder)} folders ({time.perf_counter() - t0:.0f} s to prepare) -> {lib}", flush=True)
    for p in lib.rglob("*.JPG"):  # warm the page cache: both engines read from memory
        p.read_bytes()
    runs: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
    startup = []
    report = lib.parent / f"{lib.name}-report.json"
    for rep in range(args.repeats):
        for engine in ("local", "ray"):
            r = run_engine(lib, engine, workers, args.timeout, report)
            runs[engine].append(r)
            print(f"  {engine:>5} #{rep + 1}: " + (f"{r['seconds']:.1f} s, {r['images_per_s']:.0f} img/s, analyse "
                  f"{r['analyse_images_per_s']:.0f} img/s, peak tree RSS {r['peak_tree_rss_mb']:.0f} MB" if r["ok"] else r["error"]), flush=True)
        s = ray_startup(workers, args.timeout)
        startup.append(s)
        print(f"  ray start-up #{rep + 1}: " + (f"{s['total_s']:.1f} s (import {s['import_s']:.1f}, init {s['init_s']:.1f}, "
              f"first map {s['first_map_s']:.1f}, shutdown {s['shutdown_s']:.1f})" if s["ok"] else s["error"]), flush=True)
    report.unlink(missing_ok=True)
    out: dict[str, Any] = {"files": args.n, "per_folder": args.per_folder, "size": [args.width, args.height],
                           "workers": workers, "repeats": args.repeats, "engines": {}, "runs": runs}
    for engine, rs in runs.items():
        ok = [r for r in rs if r["ok"]]
        out["engines"][engine] = {
            "runs_ok": len(ok),
            "images_per_s": median(r["images_per_s"] for r in ok),
            "ms_per_image": median(r["ms_per_image"] for r in ok),
            "analyse_images_per_s": median(r["analyse_images_per_s"] for r in ok),
            "seconds": median(r["seconds"] for r in ok),
            "peak_tree_rss_mb": median(r["peak_tree_rss_mb"] for r in ok),
            "stage_seconds": {k: median(r["timings"].get(k) for r in ok) for k in (ok[0]["timings"] if ok else {})},
            "errors": [r.get("error") for r in rs if not r["ok"]],
        }
    ok = [s for s in startup if s["ok"]]
    out["ray_startup"] = {k: median(s[k] for s in ok) for k in ("import_s", "init_s", "first_map_s", "shutdown_s", "total_s")}
    loc, ray_ = out["engines"]["local"], out["engines"]["ray"]
    if loc["images_per_s"] and ray_["images_per_s"]:
        out["ray_over_local_images_per_s"] = ray_["images_per_s"] / loc["images_per_s"]
        out["ray_over_local_analyse_images_per_s"] = ray_["analyse_images_per_s"] / loc["analyse_images_per_s"]
    same = {(r["picks"], r["series"]) for rs in runs.values() for r in rs if r["ok"]}
    out["same_picks_and_series"] = len(same) == 1
    return out


def print_scale_engines(res: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"photocull engines: {res['files']:,} JPEGs {res['size'][0]}x{res['size'][1]} in folders of "
                    f"{res['per_folder']}, {res['workers']} CPUs, dry run, technical scorer (medians of {res['repeats']})")
    for col in ("engine", "runs", "wall s", "img/s", "ms/img", "analyse img/s", "peak tree RSS MB"):
        t.add_column(col, justify="right")
    for name, e in res["engines"].items():
        t.add_row(name, str(e["runs_ok"]), fmt(e["seconds"], 1), fmt(e["images_per_s"], 0), fmt(e["ms_per_image"], 2),
                  fmt(e["analyse_images_per_s"], 0), fmt(e["peak_tree_rss_mb"], 0))
    c = Console(width=200)
    c.print(t)
    s = res["ray_startup"]
    c.print(f"Ray start-up (median): {fmt(s['total_s'], 1)} s = import {fmt(s['import_s'], 1)} + init {fmt(s['init_s'], 1)} "
            f"+ first one-item map {fmt(s['first_map_s'], 1)} + shutdown {fmt(s['shutdown_s'], 1)}")
    if "ray_over_local_images_per_s" in res:
        c.print(f"ray / local: {res['ray_over_local_images_per_s']:.2f}× images/s end to end, "
                f"{res['ray_over_local_analyse_images_per_s']:.2f}× in the analyse stage; "
                f"same picks and series in every run: {res['same_picks_and_series']}")


def add_scale_engines_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--n", type=int, default=10000, help="files in the library (default 10,000)")
    ap.add_argument("--pool", type=int, default=10000, help="files generated once; a smaller --n takes the first of them")
    ap.add_argument("--per-folder", type=int, default=200, help="files per shoot folder (default 200)")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="CPUs for both engines (default: all)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    ap.add_argument("--machine", default=None)
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default benchmarks/results/scale-engines-<machine>.json)")


def main_scale_engines(args: argparse.Namespace) -> dict[str, Any]:
    res = scale_engines(args)
    return common.save_and_print("scale-engines", res, args, "cpu", print_scale_engines)
