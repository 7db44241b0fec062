"""How fast ``photocull review`` opens a big shoot, against the self-contained HTML sheet.

    python -m benchmarks.review_open [--n 600] [--repeats 3] [--first-screen 30]

A shoot of N frames is made from the sample shoot (hard links, each name distinct) with a
saved run to match (the sample's own run, repeated), so no scoring is timed. Measured:

* baseline: ``write_html`` (every thumbnail made and embedded), its seconds and bytes;
* review, cold: session load + the page + ``/api/shoot`` (every frame's rating header read)
  + the first screen of thumbnails (made, then cached in ``.photocull/``);
* review, warm: the same on a second opening (thumbnails from the cache).

Medians of ``--repeats`` runs; ratios are baseline / review. Results in
benchmarks/results/review_open-<machine>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from .common import machine_info, machine_label, median, write_results

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample_shoot"


def make_shoot(root: Path, n: int) -> Path:
    """N hard-linked frames of the sample shoot and a last_run.json listing them."""
    from photocull.cli import app
    from typer.testing import CliRunner

    seed = root / "seed"
    shutil.copytree(SAMPLE, seed, ignore=shutil.ignore_patterns("*.xmp", ".photocull", "photocull.toml"))
    res = CliRunner().invoke(app, ["cull", str(seed), "-q", "--dry-run", "--scorer", "technical", "--no-embeddings"])
    assert res.exit_code == 0, res.output
    run = json.loads((seed / ".photocull" / "last_run.json").read_text())
    shoot = root / "shoot"
    (shoot / ".photocull").mkdir(parents=True)
    files, series = [], []
    for k in range(n):
        f = dict(run["files"][k % len(run["files"])])
        name = f"{k:05d}_{Path(f['path']).name}"
        os.link(seed / f["path"], shoot / name)
        files.append({**f, "path": name, "series": k})
        series.append({"id": k, "frames": [name]})
    run.update(root=str(shoot), files=files, series=series)
    (shoot / ".photocull" / "last_run.json").write_text(json.dumps(run))
    return shoot


def open_review(shoot: Path, first_screen: int) -> tuple[float, int]:
    """Seconds and bytes until the first screen is shown (as the browser would ask)."""
    from photocull.review.server import ReviewApp

    t = time.perf_counter()
    app = ReviewApp(shoot, token="bench")
    h = {"Host": "127.0.0.1"}
    sent = 0
    for route in ("/", "/static/review.css", "/static/review.js", "/api/shoot"):
        r = app.handle("GET", route + "?t=bench", h)
        assert r.status == 200, (route, r.body)
        sent += len(r.body)
    for i in range(min(first_screen, len(app.session.entries))):
        sent += len(app.handle("GET", f"/thumb/{i}?t=bench", h).body)
    return time.perf_counter() - t, sent


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.review_open", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=600, help="frames in the shoot")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--first-screen", type=int, default=30, help="thumbnails on the first screen")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    from photocull.report.html import write_html
    from photocull.report.json import read_json

    sheet_s, sheet_b, cold_s, cold_b, warm_s = [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="pc-review-bench-") as tmp:
        shoot = make_shoot(Path(tmp), a.n)
        result = read_json(shoot / ".photocull" / "last_run.json")
        for _ in range(a.repeats):
            shutil.rmtree(shoot / ".photocull" / "review-thumbs", ignore_errors=True)
            t = time.perf_counter()
            out = write_html(result, Path(tmp) / "sheet.html")
            sheet_s.append(time.perf_counter() - t)
            sheet_b.append(out.stat().st_size)
            s, b = open_review(shoot, a.first_screen)
            cold_s.append(s)
            cold_b.append(b)
            warm_s.append(open_review(shoot, a.first_screen)[0])
    res = {
        "n": a.n, "repeats": a.repeats, "first_screen": a.first_screen,
        "sheet_seconds": median(sheet_s), "sheet_bytes": median(sheet_b),
        "review_cold_seconds": median(cold_s), "review_cold_bytes": median(cold_b),
        "review_warm_seconds": median(warm_s),
        "runs": {"sheet": sheet_s, "cold": cold_s, "warm": warm_s},
        "machine_info": machine_info(),
    }
    res["speedup_cold"] = res["sheet_seconds"] / res["review_cold_seconds"]
    res["speedup_warm"] = res["sheet_seconds"] / res["review_warm_seconds"]
    path = write_results("review_open", machine_label(), res, a.out)
    print(f"{a.n} frames: HTML sheet {res['sheet_seconds']:.2f} s, {res['sheet_bytes'] / 2**20:.1f} MB | "
          f"review first screen cold {res['review_cold_seconds']:.2f} s ({res['speedup_cold']:.1f}x faster), "
          f"{res['review_cold_bytes'] / 2**20:.2f} MB | warm {res['review_warm_seconds']:.2f} s "
          f"({res['speedup_warm']:.1f}x) — medians of {a.repeats}")
    print(f"results: {path}")
    return res


if __name__ == "__main__":
    main()
