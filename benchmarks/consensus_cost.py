"""What the series consensus costs: the small copy in ``measure()`` and the consensus in ``score_series``.

    python -m benchmarks consensus-cost [--bursts 6] [--long-side 1600] [--repeats 3]

Frames of the pick benchmark's ``lomiri`` strong shoot (rendered at 1200 px, or reused) resized to
``--long-side``, whole bursts. Per frame, medians of ``--repeats`` rounds, all in one run: the whole
``measure()``, the copy alone (make + encode), and ``score_series`` with the consensus on against
the same series without it (the baseline); and the copy's size in the cache.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from .common import save_and_print


def add_consensus_cost_args(ap) -> None:
    ap.add_argument("--bursts", type=int, default=6, help="lomiri strong bursts of the 'mixed' kind to time")
    ap.add_argument("--long-side", type=int, default=1600)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--machine", default=None)


def _median_ms(f: Callable[[], Any], repeats: int, per: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return round(1000.0 * float(np.median(times)) / per, 2)


def main_consensus_cost(args) -> dict[str, Any]:
    from photocull.scorers import measures, registration, technical

    from . import pick
    from . import pick_shoots as ps

    out = pick.WORK / "lomiri-strong-1200-s22"
    rows = ps.render("lomiri", ps.source_photos(("lomiri",))["lomiri"], "strong", out, 1200, seed=22)
    bursts: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        bursts[r["burst"]].append(r)
    chosen = [b for b in bursts.values() if b[0]["kind"] == "mixed"][: args.bursts]
    frames = []
    for b in chosen:
        series = []
        for r in b:
            im = Image.open(out / "shoot" / r["file"]).convert("L")
            scale = args.long_side / max(im.size)
            series.append(im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.BICUBIC))
        frames.append(series)
    n = sum(len(s) for s in frames)
    lumas = [[np.asarray(im) for im in s] for s in frames]
    metrics = [[measures.measure(im) for im in s] for s in frames]
    bare = [[dataclasses.replace(m, thumb="") for m in ms] for ms in metrics]
    on = technical.TechnicalThresholds(series_consensus=True)
    res = {
        "frames": n, "bursts": len(frames), "long_side": args.long_side, "repeats": args.repeats,
        "thumb_shape": list(measures.make_thumb(lumas[0][0]).shape),
        "measure_ms": _median_ms(lambda: [measures.measure(im) for s in frames for im in s], args.repeats, n),
        "thumb_ms": _median_ms(lambda: [registration.encode_thumb(measures.make_thumb(g)) for s in lumas for g in s],
                               args.repeats, n),
        "score_with_consensus_ms": _median_ms(lambda: [technical.score_series(ms, on) for ms in metrics], args.repeats, n),
        "score_without_ms": _median_ms(lambda: [technical.score_series(ms, on) for ms in bare], args.repeats, n),
        "thumb_bytes": int(np.mean([len(m.thumb) for ms in metrics for m in ms])),
    }
    res["consensus_over_measure"] = round(res["score_with_consensus_ms"] / res["measure_ms"], 3)
    return save_and_print("consensus-cost", res, args, "cpu", _print)


def _print(res: dict[str, Any]) -> None:
    print(f"{res['frames']} frames ({res['bursts']} bursts) at {res['long_side']} px, thumbs {res['thumb_shape']}, "
          f"median of {res['repeats']}:")
    print(f"  measure() {res['measure_ms']} ms/frame, of which the small copy {res['thumb_ms']} ms "
          f"({res['thumb_bytes'] / 1000:.0f} KB in the cache)")
    print(f"  score_series: {res['score_with_consensus_ms']} ms/frame with the series consensus, "
          f"{res['score_without_ms']} without; consensus / measure() = {res['consensus_over_measure']}")
