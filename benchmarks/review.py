"""``photocull review`` on a 3,000-frame shoot, measured in headless Chromium (Debian's chromium
and chromium-driver, driven by selenium).

    python -m benchmarks review [--frames 3000] [--repeats 3] [--steps 40] [--width 640 --height 427]

The shoot: N small generated JPEGs (``data.scale_pool``: a new scene every 5 frames, grain,
EXIF times), hard-linked into a temporary folder, with a saved run whose series are those
bursts of 5 (rows copied from a real cull of the first 30 frames: no scoring is timed).

Measured (medians of ``--repeats``; latencies as p50 / p95 over all steps of all repeats):

* **first screen**: from starting ``photocull review SHOOT --no-browser`` (a new Python
  process: imports, the saved run, every frame's rating header) to the grid drawn with every
  thumbnail in the window loaded and decoded; cold (no thumbnail cache) and warm (a second
  opening). The browser is already running, as a photographer's is;
* **next frame**: in the loupe, from the → key event to the next frame painted (decoded,
  swapped in, a task after the next frame): ``--steps`` presses, one every ``--pace`` s
  (someone looking at each frame; the page prefetches the neighbours meanwhile);
* **compare**: from the C key event to both frames painted at 100 %, ``--steps`` times
  (select the next frame, C, back to the grid);
* **memory**: JS heap (after a forced GC), DOM nodes and the browser's resident memory
  (all its processes) at the top, and after scrolling the whole grid (every stack open:
  all N cards) to 1/4, 1/2, 3/4 and the end.

Results: benchmarks/results/review-<machine>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import machine_info, machine_label, median, write_results

REPO = Path(__file__).resolve().parents[1]
BURST = 5  # data.scale_pool renders a new scene every 5 frames
TARGETS = {"first_screen_s": 2.0, "next_frame_ms": 50.0, "compare_ms": 150.0}


def make_shoot(root: Path, n: int, width: int, height: int) -> Path:
    """N hard links to the generated pool and a last_run.json that groups them in bursts of 5."""
    from typer.testing import CliRunner

    from photocull.cli import app

    from .data import scale_pool

    pool = scale_pool(n, width, height)
    names = sorted(p.name for p in pool.glob("*.JPG"))[:n]
    seed = root / "seed"
    seed.mkdir()
    for name in names[:30]:
        shutil.copy2(pool / name, seed / name)
    res = CliRunner().invoke(app, ["cull", str(seed), "-q", "--scorer", "technical", "--no-embeddings"])
    assert res.exit_code == 0, res.output
    run = json.loads((seed / ".photocull" / "last_run.json").read_text())
    template = run["files"]
    shoot = root / "shoot"
    (shoot / ".photocull").mkdir(parents=True)
    files, series = [], []
    for k, name in enumerate(names):
        os.link(pool / name, shoot / name)
        s, r = k // BURST + 1, k % BURST + 1
        row = dict(template[k % len(template)])
        row.update(path=name, series=s, rank=r, pick=r == 1, stars=4 if r == 1 else 2, rejected=False,
                   why="highest score of the series" if r == 1 else "lower score than the pick")
        files.append(row)
        if r == 1:
            series.append({"id": s, "frames": []})
        series[-1]["frames"].append(name)
    run.update(root=str(shoot), files=files, series=series)
    (shoot / ".photocull" / "last_run.json").write_text(json.dumps(run))
    return shoot


def browser(profile: Path):
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--force-device-scale-factor=1",
              f"--user-data-dir={profile}", "--window-size=1400,1000"):
        opts.add_argument(a)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver") or "chromedriver")
    d = webdriver.Chrome(options=opts, service=service)
    d.set_window_size(1400, 1000)
    return d


def start_review(shoot: Path, code: Path = REPO) -> tuple[subprocess.Popen, str]:
    """``photocull review SHOOT --no-browser`` in a new process (photocull from ``code``); its
    address once it listens."""
    env = dict(os.environ, PYTHONPATH=str(code))
    proc = subprocess.Popen([sys.executable, "-c", "from photocull.cli import main; main()", "review", str(shoot),
                             "--no-browser"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert proc.stderr is not None
    for line in proc.stderr:
        m = re.search(r"(http://127\.0\.0\.1:\d+/\?t=\S+)", line)
        if m:
            return proc, m.group(1)
    raise RuntimeError(f"photocull review did not start (exit {proc.wait()})")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


FIRST_SCREEN_JS = """
if (document.body.dataset.drawn !== "1" && document.body.dataset.ready !== "1") return false;
var h = window.innerHeight, cards = document.querySelectorAll('#grid .frame:not(.hidden)');
var lo = 0, hi = cards.length;  // the first card not above the window (cards are in page order)
while (lo < hi) { var mid = (lo + hi) >> 1; if (cards[mid].getBoundingClientRect().bottom < 0) lo = mid + 1; else hi = mid; }
var n = 0;
for (var i = lo; i < cards.length; i++) {
  var r = cards[i].getBoundingClientRect();
  if (r.top > h) break;
  var img = cards[i].querySelector('.thumb img');
  if (!img.complete || !img.naturalWidth) return false;
  n++;
}
return n;
"""


def wait_for(driver, fn, timeout: float = 120.0, poll: float = 0.005):
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        v = fn()
        if v:
            return v
        time.sleep(poll)
    raise TimeoutError("condition not met")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (its share of a loaded machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_screen(driver, shoot: Path, code: Path = REPO) -> dict[str, Any]:
    """Seconds to the server listening, to the first screen (and the server's CPU seconds by
    then), until every file's rating was read; thumbnails on the first screen; the process."""
    driver.get("about:blank")
    t0 = time.perf_counter()
    proc, url = start_review(shoot, code)
    listening = time.perf_counter() - t0
    driver.get(url)
    n = wait_for(driver, lambda: driver.execute_script(FIRST_SCREEN_JS))
    t1 = time.perf_counter()
    cpu = cpu_seconds(proc.pid)
    wait_for(driver, lambda: driver.execute_script("return document.body.dataset.ready") == "1")
    return {"s": t1 - t0, "listening_s": listening, "server_cpu_s": cpu, "read_s": time.perf_counter() - t0,
            "thumbs": int(n), "proc": proc}


def baseline_code(rev: str, dst: Path) -> Path | None:
    """photocull as of ``rev`` (the page before this work), unpacked from git, or None."""
    try:
        data = subprocess.run(["git", "-C", str(REPO), "archive", rev, "photocull"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    dst.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dst)], input=data, check=True)
    return dst


def latencies(driver, kind: str) -> list[float]:
    return list(driver.execute_script(f"return window.__pcLatency.{kind}"))


def loupe_steps(driver, steps: int, pace: float) -> list[float]:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys("e").perform()
    wait_for(driver, lambda: driver.execute_script("var i=document.getElementById('loupe-img');return i.complete&&i.naturalWidth>0"))
    for k in range(steps):
        time.sleep(pace)
        ActionChains(driver).send_keys("\ue014").perform()  # →
        wait_for(driver, lambda: len(latencies(driver, "loupe")) > k)
    ActionChains(driver).send_keys("g").perform()
    return latencies(driver, "loupe")


def compare_steps(driver, steps: int, pace: float) -> list[float]:
    from selenium.webdriver.common.action_chains import ActionChains

    for k in range(steps):
        ActionChains(driver).send_keys("\ue014").perform()
        time.sleep(pace)
        ActionChains(driver).send_keys("c").perform()
        wait_for(driver, lambda: len(latencies(driver, "compare")) > k)
        ActionChains(driver).send_keys("g").perform()
    return latencies(driver, "compare")


def _descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def browser_rss_mb(driver) -> float:
    total = 0
    for p in _descendants(driver.service.process.pid):
        try:
            m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{p}/status").read_text())
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total / 1024


def memory_sample(driver) -> dict[str, float]:
    driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    metrics = {m["name"]: m["value"] for m in driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}
    return {"js_heap_mb": round(metrics.get("JSHeapUsedSize", 0) / 2**20, 2), "dom_nodes": int(metrics.get("Nodes", 0)),
            "browser_rss_mb": round(browser_rss_mb(driver), 1)}


def scroll_memory(driver) -> list[dict[str, Any]]:
    from selenium.webdriver.common.action_chains import ActionChains

    driver.execute_cdp_cmd("Performance.enable", {})
    ActionChains(driver).key_down("\ue008").send_keys("s").key_up("\ue008").perform()  # Shift+S: every stack open
    wait_for(driver, lambda: driver.execute_script(
        "return document.querySelectorAll('#grid .frame:not(.hidden)').length === document.querySelectorAll('#grid .frame').length"))
    driver.execute_script("window.scrollTo(0, 0)")
    out = [{"at": 0.0, **memory_sample(driver)}]
    total = driver.execute_script("return document.documentElement.scrollHeight - window.innerHeight")
    step = driver.execute_script("return window.innerHeight")
    y, marks = 0, [0.25, 0.5, 0.75, 1.0]
    while marks:
        y = min(total, y + step)
        driver.execute_script(f"window.scrollTo(0, {y})")
        wait_for(driver, lambda: driver.execute_script(FIRST_SCREEN_JS) is not False, timeout=60)
        total = driver.execute_script("return document.documentElement.scrollHeight - window.innerHeight")
        while marks and y >= marks[0] * total - 1:
            out.append({"at": marks.pop(0), **memory_sample(driver)})
        if y >= total:
            while marks:
                out.append({"at": marks.pop(0), **memory_sample(driver)})
    return out


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40, help="loupe and compare key presses per repeat")
    ap.add_argument("--pace", type=float, default=0.3, help="seconds between presses (a photographer looking)")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=427)
    ap.add_argument("--baseline", default="fcdffb3", help="git revision whose review page is the baseline "
                    "(default: the page before issue 24); '' for none")
    ap.add_argument("--out", type=Path, default=None)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks review", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(ap)
    a = ap.parse_args(argv)
    runs: dict[str, list] = {k: [] for k in ("cold", "warm", "base_cold", "base_warm", "listening", "server_cpu", "read")}
    shown, loupe, compare, memory = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="pc-review-bench-") as tmp:
        shoot = make_shoot(Path(tmp), a.frames, a.width, a.height)
        base = baseline_code(a.baseline, Path(tmp) / "baseline") if a.baseline else None
        driver = browser(Path(tmp) / "chrome")
        try:
            for rep in range(a.repeats):
                if base is not None:  # the same shoot, the same browser, the page before this work
                    for key in ("base_cold", "base_warm"):
                        if key == "base_cold":
                            shutil.rmtree(shoot / ".photocull" / "review-thumbs", ignore_errors=True)
                        r = first_screen(driver, shoot, base)
                        stop(r["proc"])
                        runs[key].append(r["s"])
                shutil.rmtree(shoot / ".photocull" / "review-thumbs", ignore_errors=True)
                r = first_screen(driver, shoot)
                stop(r["proc"])
                runs["cold"].append(r["s"])
                shown.append(r["thumbs"])
                r = first_screen(driver, shoot)
                for key, k in (("warm", "s"), ("listening", "listening_s"), ("server_cpu", "server_cpu_s"), ("read", "read_s")):
                    runs[key].append(r[k])
                try:
                    loupe += loupe_steps(driver, a.steps, a.pace)
                    compare += compare_steps(driver, a.steps, a.pace)
                    if rep == 0:
                        memory = scroll_memory(driver)
                finally:
                    stop(r["proc"])
        finally:
            driver.quit()
    res: dict[str, Any] = {
        "frames": a.frames, "repeats": a.repeats, "steps": a.steps, "pace_s": a.pace, "size": [a.width, a.height],
        "window": [1400, 1000], "thumbnails_on_first_screen": median(shown),
        "first_screen_cold_s": median(runs["cold"]), "first_screen_warm_s": median(runs["warm"]),
        "baseline": a.baseline or None, "baseline_first_screen_cold_s": median(runs["base_cold"]),
        "baseline_first_screen_warm_s": median(runs["base_warm"]),
        "warm_breakdown": {"listening_s": median(runs["listening"]), "server_cpu_s_at_first_screen": median(runs["server_cpu"]),
                           "ratings_read_s": median(runs["read"])},
        "load_average": os.getloadavg(),
        "next_frame_ms": {"p50": pct(loupe, 0.5), "p95": pct(loupe, 0.95), "n": len(loupe)},
        "compare_ms": {"p50": pct(compare, 0.5), "p95": pct(compare, 0.95), "n": len(compare)},
        "memory_while_scrolling": memory, "targets": TARGETS,
        "runs": runs | {"loupe_ms": loupe, "compare_ms": compare},
        "machine_info": machine_info(),
    }
    path = write_results("review", machine_label(), res, a.out)
    m0, m1 = (memory[0], memory[-1]) if memory else ({}, {})
    print(f"photocull review, {a.frames} frames, headless Chromium 1400x1000, medians of {a.repeats}:")
    wb = res["warm_breakdown"]
    print(f"  first screen ({res['thumbnails_on_first_screen']} thumbnails): cold {res['first_screen_cold_s']:.2f} s, "
          f"warm {res['first_screen_warm_s']:.2f} s (target <= {TARGETS['first_screen_s']} s); listening after "
          f"{wb['listening_s']:.2f} s, server CPU {wb['server_cpu_s_at_first_screen']:.2f} s by then; every file's rating "
          f"read by {wb['ratings_read_s']:.2f} s")
    if res["baseline_first_screen_cold_s"] is not None:
        print(f"  baseline ({a.baseline}, the page before): cold {res['baseline_first_screen_cold_s']:.2f} s, warm "
              f"{res['baseline_first_screen_warm_s']:.2f} s -> {res['baseline_first_screen_cold_s'] / res['first_screen_cold_s']:.2f}x "
              f"/ {res['baseline_first_screen_warm_s'] / res['first_screen_warm_s']:.2f}x faster now")
    print(f"  load average during the run: {res['load_average'][0]:.1f} (2 cores shared)")
    for name, key, target in (("next frame (loupe)", "next_frame_ms", "next_frame_ms"), ("compare", "compare_ms", "compare_ms")):
        r = res[key]
        print(f"  {name}: p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms over {r['n']} key presses (target <= {TARGETS[target]:.0f} ms)")
    if memory:
        print(f"  memory scrolling all {a.frames} cards: JS heap {m0['js_heap_mb']} -> {m1['js_heap_mb']} MB, DOM nodes "
              f"{m0['dom_nodes']} -> {m1['dom_nodes']}, browser RSS {m0['browser_rss_mb']} -> {m1['browser_rss_mb']} MB")
    print(f"results: {path}")
    return res


if __name__ == "__main__":
    main()
