"""FGAesQ on a burst as a photographer runs it: ``photocull score BURST --weights official.pt``.

Why: the official tokens score full-resolution frames, so memory and time per frame are set
by the camera's pixels, not by a working size. This writes a burst of ``--frames`` JPEGs of
``--size`` (default 10 × 6000×4000, 24 MP: shifted crops of one scene, each with its own grain
and exposure; ``--photo`` takes a real photograph as the scene), saves a seeded random
checkpoint of the full published size (ViT-B/16, 86 M parameters) in the *official* layout as
a ``.pt``, and runs the CLI in a child process per measurement:

* ``convert``: the first run, which also converts the checkpoint once (cached afterwards);
* ``fgaesq``: a run with the converted weights (the figure a photographer sees every time),
  in the series mode asked (``auto``: O(n) reference pairs beyond 5 frames);
* ``technical``: the same files with ``--scorer technical`` (decode and weight-free measures:
  the baseline, in the same run on the same machine);
* ``split``: where an FGAesQ run's time goes, in one more child that runs the series the way
  the scorer does (O(n) reference pairs; ``--series-mode all-pairs``: every pair) with
  timers on its parts: loading the model, decoding frames, ranking blocks (1 − SSIM),
  building tokens, the ViT forward passes (wall and process CPU seconds each).

Reported per run: wall time, CPU time (user + system), peak resident memory of the child
(``ru_maxrss``), s/frame; and FGAesQ's ratio to the baseline. The machine's load average is
recorded: on a shared machine wall times are upper bounds.

    python -m benchmarks fgaesq-burst [--frames 10] [--size 6000x4000] [--series-mode auto]
                                      [--photo JPG] [--repeats 1] [--threads 0] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import common

_ROOT = Path(__file__).resolve().parents[1]


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--size", default="6000x4000", help="frame size WxH")
    ap.add_argument("--series-mode", default="auto", choices=["auto", "all-pairs", "reference"])
    ap.add_argument("--photo", type=Path, default=None, help="a photograph to cut the burst from (else a synthetic scene)")
    ap.add_argument("--repeats", type=int, default=1, help="timed FGAesQ runs after the converting one")
    ap.add_argument("--threads", type=int, default=0, help="OMP/torch threads of the child (0: its default)")
    ap.add_argument("--layers", type=int, default=12, help="checkpoint layers (12: the published size)")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the burst and checkpoint here")
    ap.add_argument("--out", type=Path, default=None)


def _scene(args, w: int, h: int) -> np.ndarray:
    """The burst's scene, a little larger than a frame (room for the shifts)."""
    from PIL import Image

    W, H = w + 64, h + 48
    if args.photo is not None:
        with Image.open(args.photo) as im:
            return np.asarray(im.convert("RGB").resize((W, H), Image.Resampling.LANCZOS))
    sys.path.insert(0, str(_ROOT))
    from tests.model.official_fixture import scene

    return scene(7, W, H)


def make_burst(args, folder: Path) -> list[Path]:
    from PIL import Image

    w, h = (int(v) for v in args.size.lower().split("x"))
    base = _scene(args, w, h).astype(np.float32)
    rng = np.random.default_rng(11)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(args.frames):
        dy, dx = (3 * k) % 48, (5 * k) % 64
        f = base[dy:dy + h, dx:dx + w] * (1.0 + 0.02 * (k % 5))
        f += rng.normal(0, 2.0 + k % 3, f.shape).astype(np.float32)
        p = folder / f"frame-{k + 1}.jpg"
        img = Image.fromarray(f.clip(0, 255).astype(np.uint8))
        exif = Image.Exif()
        exif[0x0132] = f"2026:05:01 09:00:{k:02d}"  # DateTime: one burst
        img.save(p, "JPEG", quality=92, exif=exif)
        paths.append(p)
    return paths


def make_checkpoint(path: Path, layers: int) -> None:
    import torch

    sys.path.insert(0, str(_ROOT))
    from tests.model.official_fixture import official_state_dict

    torch.save(official_state_dict(5, layers=layers), path)


_CHILD = r"""
import resource, subprocess, sys, time, json
t0 = time.perf_counter()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_mb": ru.ru_maxrss / 1024}))
"""


def run_cli(folder: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    """One CLI run in a fresh child; its own peak RSS and CPU time (a wrapper reaps it alone)."""
    import json

    cmd = [sys.executable, "-c", _CHILD, sys.executable, "-c", "from photocull.cli import main; main()", "score", str(folder), "-q",
           "--no-faces", "--no-embeddings", "--json", str(folder.parent / "report.json"), *extra]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
    res = json.loads(line)
    if res.get("rc") != 0:
        raise SystemExit(f"photocull failed ({res}):\n{out.stderr[-2000:]}")
    return res


_SPLIT = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from photocull.model import official, official_tokens as ot
from photocull.model.series import choose_references
from photocull.model.weights import load_fgaesq_model

paths, ckpt, exhaustive = sorted(Path(sys.argv[1]).glob("*.jpg")), Path(sys.argv[2]), sys.argv[3] == "1"
parts = {}
def timed(name, fn):
    def run(*a, **k):
        w, c = time.perf_counter(), time.process_time()
        try:
            return fn(*a, **k)
        finally:
            p = parts.setdefault(name, [0.0, 0.0])
            p[0] += time.perf_counter() - w
            p[1] += time.process_time() - c
    return run
w0, c0 = time.perf_counter(), time.process_time()
model, _ = timed("load model", load_fgaesq_model)(ckpt, device="cpu")
import resource
peak_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
ot.load_image = timed("decode", ot.load_image)
ot._pair_importance = timed("rank blocks (1 - SSIM)", ot._pair_importance)
official.forward_official = timed("ViT forward", official.forward_official)
thumbs = [np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(p).reduce(16).convert("RGB")) for p in paths]
refs = None if exhaustive else choose_references(official.thumbnail_similarity(thumbs))
run = timed("series", official.score_series)
name, numbers = official.series_naming(paths)
res = run(model, [str(p) for p in paths], series_id=name, indices=numbers, exhaustive=exhaustive,
          references=refs, batch_size=16)
other = [parts["series"][k] - sum(v[k] for n, v in parts.items() if n not in ("series", "load model")) for k in (0, 1)]
parts["tokens, alignment and the rest"] = other
parts["total"] = [time.perf_counter() - w0, time.process_time() - c0]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"passes": res.passes, "peak_mb_after_load": peak_load, "peak_mb": peak, "parts": {k: {"wall_s": v[0], "cpu_s": v[1]} for k, v in parts.items() if k != "series"}}))
"""


def measure_split(folder: Path, ckpt: Path, env: dict[str, str], exhaustive: bool) -> dict[str, Any]:
    """Where the time of scoring ``folder`` goes (see the module docstring), in a child."""
    import json

    out = subprocess.run([sys.executable, "-c", _SPLIT, str(folder), str(ckpt), "1" if exhaustive else "0"],
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"split measurement failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(args) -> dict[str, Any]:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="photocull-fgaesq-burst-"))
    burst = work / "burst"
    ckpt = work / "official.pt"
    t = time.perf_counter()
    if not burst.exists() or len(list(burst.glob("*.jpg"))) != args.frames:
        make_burst(args, burst)
    if not ckpt.exists():
        make_checkpoint(ckpt, args.layers)
    print(f"burst and checkpoint ready in {time.perf_counter() - t:.0f} s ({work})")
    env = dict(os.environ, PYTHONPATH=str(_ROOT), PHOTOCULL_MODEL_DIR=str(work / "models"),
               PHOTOCULL_CACHE_DIR=str(work / "cache"), HF_HUB_OFFLINE="1")
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    fg = ("--scorer", "fgaesq", "--weights", str(ckpt), "--series-mode", args.series_mode, "--no-cache")
    load0 = os.getloadavg()
    base = run_cli(burst, env, "--scorer", "technical", "--no-cache")
    first = run_cli(burst, env, *fg)
    runs = [run_cli(burst, env, *fg) for _ in range(args.repeats)]
    from photocull.scorers.fgaesq import AUTO_EXHAUSTIVE_MAX

    split = measure_split(burst, ckpt, env, args.series_mode == "all-pairs" or
                          (args.series_mode == "auto" and args.frames <= AUTO_EXHAUSTIVE_MAX))
    load1 = os.getloadavg()
    n = args.frames
    med = {k: common.median(r[k] for r in runs) for k in ("wall_s", "cpu_s", "peak_mb")}
    res: dict[str, Any] = {
        "frames": n, "size": args.size, "series_mode": args.series_mode, "layers": args.layers,
        "scene": str(args.photo) if args.photo else "synthetic", "threads": args.threads or "default",
        "load_avg_before": load0, "load_avg_after": load1,
        "technical": base, "fgaesq_converting": first, "fgaesq_runs": runs, "split": split,
        "fgaesq_median": med,
        "fgaesq_s_per_frame": med["wall_s"] / n, "fgaesq_cpu_s_per_frame": med["cpu_s"] / n,
        "technical_s_per_frame": base["wall_s"] / n,
        "ratio_wall_vs_technical": med["wall_s"] / base["wall_s"],
        "peak_gib": med["peak_mb"] / 1024, "converting_peak_gib": first["peak_mb"] / 1024,
    }
    return common.save_and_print("fgaesq-burst", res, args, "cpu", _print)


def _print(r: dict[str, Any]) -> None:
    m = r["fgaesq_median"]
    print(f"{r['frames']} frames {r['size']} ({r['scene']}), series mode {r['series_mode']}, threads {r['threads']}, "
          f"load {r['load_avg_before'][0]:.1f} -> {r['load_avg_after'][0]:.1f}")
    print(f"  technical: {r['technical']['wall_s']:.1f} s wall, {r['technical']['peak_mb'] / 1024:.2f} GiB peak")
    print(f"  fgaesq (first run, converting the .pt): {r['fgaesq_converting']['wall_s']:.1f} s wall, "
          f"{r['converting_peak_gib']:.2f} GiB peak")
    print(f"  fgaesq: {m['wall_s']:.1f} s wall = {r['fgaesq_s_per_frame']:.2f} s/frame "
          f"({r['fgaesq_cpu_s_per_frame']:.2f} CPU s/frame), peak {r['peak_gib']:.2f} GiB, "
          f"{r['ratio_wall_vs_technical']:.1f}× the technical run")
    sp = r["split"]
    print(f"  where the time goes (one more run in-process, {sp['passes']} forward passes):")
    for name, v in sp["parts"].items():
        print(f"    {name:32s} {v['wall_s']:7.1f} s wall {v['cpu_s']:7.1f} CPU-s  ({v['wall_s'] / r['frames']:.2f} s/frame)")
