"""Speed: photocull against the decode-only bound and peer tools, in ONE run, same files.

    python -m benchmarks speed                      # 200 x 24 MP, 3 repeats (medians)
    python -m benchmarks speed --n 60 --repeats 3   # smaller
    python -m benchmarks speed --device cuda        # + nvJPEG bound, + backbone row on the GPU
    python -m benchmarks scale                      # 100 / 1,000 / 10,000 small files

Rows (each repeat runs every row once, interleaved; the table quotes medians):

* ``decode bound (CPU, N procs)``: every file decoded to photocull's working size (Pillow
  draft mode to ``photocull.decode.DEFAULT_DECODE_SIZE``, as photocull asks for it) in a
  ProcessPoolExecutor over all cores, pool start-up included: the fastest this machine can
  read the shoot the way photocull reads it. On CUDA also nvJPEG (torchvision.io.decode_jpeg on
  device='cuda', batches, files read by threads, resized on the GPU).
* ``photocull cold``: ``photocull.session.Session.run`` in-process (``cull --dry-run``: the
  CLI's options, journal and writer), the technical scorer, no embeddings, after deleting
  ``SHOOT/.photocull`` (the headline). ``photocull warm``: the same again with the cache.
* ``photocull cold, face checks``: the cold run with ``--faces`` (OpenCV's
  cascades: skin-window coarse pass, fine confirmation, eyes), its share of the decode bound
  is the face-check target (>= 0.80).
* ``photocull CLI cold``: the ``photocull cull --dry-run`` command in a subprocess (interpreter
  start and imports included), with ``--no-faces`` and with ``--faces``.
* ``CLI start-up``: seconds from starting ``photocull cull`` to its first progress bar on
  stderr (interpreter, imports, scan, cache look-ups), in ``cli_startup`` of the results.
* ``photocull +backbone``: cold run with an open_clip backbone (on CUDA: ViT-B-16, pretrained
  if its weights are here, else RANDOM weights and labelled so).
* ``photocull cold/warm, --model + FGAesQ``: ``--model`` (a tiny open_clip architecture,
  random weights saved to a .safetensors file) and ``--scorer fgaesq --weights FILE`` (a
  small random FGAesQ, width 64, 2 layers, saved as a file marked as converted from the
  official checkpoint, so it takes the official full-resolution tokens), built as the CLI
  builds them (loaded on first use): the cold run loads both models, decodes, embeds and
  scores; the warm run on the unchanged shoot must load neither (embeddings and series
  scores from the cache). ``warm_with_models`` in the results: the median of the per-repeat
  cold/warm ratios (target >= 20x).
* peers (``--peer-python``): imagededup PHash (and CNN), difPy, the czkawka bindings, pyiqa
  nima / laion_aes, each in a subprocess of the peers' own interpreter; those that need
  weights offline say so (see ``peers.py`` for the peers that cannot run here at all).

Every measurement runs in a fresh subprocess, so peak memory is per measurement: ``peak RSS``
is the measuring process's VmHWM, ``worker`` the largest child process's peak. Files are read
once before timing (the OS page cache is warm for every row alike; dropping it needs root).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from photocull.backbones.spec import DEFAULT_MODEL

from . import common
from .common import fmt, median

ROOT = Path(__file__).resolve().parents[1]
PROBE_TAG = "PROBE-RESULT "


# ----------------------------------------------------------------------------------------------
# Probes (run in a fresh subprocess: python -m benchmarks.speed --probe KIND ...)


def _jpegs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))


def _cpu_now() -> float:
    """CPU seconds (user + system) of this process and its reaped children (pool workers).

    Why: on a shared, loaded machine wall-clock ratios swing with the neighbours' load; the
    CPU seconds a row spends per image do not, so ``cpu`` in the results compares rows by
    work done (it cannot see idle cores: serial phases show only in the wall-clock ratio).
    """
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _draft_decode(path: str, size: int) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (size, size))
        im.load()
        return im.size


def probe_decode_cpu(root: Path, workers: int) -> dict[str, Any]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from photocull.decode import DEFAULT_DECODE_SIZE
    from photocull.pipeline.stages import decode_batch_size
    from photocull.scan import FoundFile

    files = [str(p) for p in _jpegs(root)]
    # Units of work as photocull sizes them (one 24 MP file each): with units of 25 files,
    # one worker idled for up to a unit at the end and the bound came out ~5 % low.
    chunk = decode_batch_size([FoundFile(Path(f), "jpeg", os.path.getsize(f), 0) for f in files])
    c0 = _cpu_now()
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("fork")  # the cheapest start: this process imports no model
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        sizes = list(pool.map(_draft_decode, files, [DEFAULT_DECODE_SIZE] * len(files), chunksize=chunk))
    dt = time.perf_counter() - t0
    return {"seconds": dt, "cpu_s": _cpu_now() - c0, "images": len(files), "decoded_size": list(sizes[0]) if sizes else None, "decode_size": DEFAULT_DECODE_SIZE}


def probe_decode_nvjpeg(root: Path, workers: int) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    import torch
    import torch.nn.functional as F
    import torchvision
    from torchvision.io import decode_jpeg

    from photocull.decode import DEFAULT_DECODE_SIZE

    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device")
    files = _jpegs(root)
    dev = torch.device("cuda")
    # CUDA context and nvJPEG handle: initialised once, not counted (a long-running tool pays it once)
    t_init = time.perf_counter()
    decode_jpeg(torchvision.io.read_file(str(files[0])), device=dev)
    torch.cuda.synchronize()
    init_s = time.perf_counter() - t_init
    torch.cuda.reset_peak_memory_stats()

    def read(p: Path):
        return torch.frombuffer(bytearray(p.read_bytes()), dtype=torch.uint8)

    batch = 32
    t0 = time.perf_counter()
    n = 0
    with ThreadPoolExecutor(max_workers=max(2, workers)) as pool:
        datas = pool.map(read, files)
        buf = []
        for d in datas:
            buf.append(d)
            if len(buf) == batch:
                n += _nvjpeg_batch(buf, dev, DEFAULT_DECODE_SIZE, decode_jpeg, F)
                buf = []
        if buf:
            n += _nvjpeg_batch(buf, dev, DEFAULT_DECODE_SIZE, decode_jpeg, F)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"seconds": dt, "images": n, "init_s": init_s, "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20}


def _nvjpeg_batch(buf, dev, size, decode_jpeg, F) -> int:
    imgs = decode_jpeg(buf, device=dev)
    for im in imgs:  # resize each to the working size (short side = size), as photocull would use
        h, w = im.shape[-2:]
        s = size / min(h, w)
        F.interpolate(im[None].float(), size=(max(1, round(h * s)), max(1, round(w * s))), mode="area")
    return len(imgs)


def probe_photocull(root: Path, workers: int, backbone: str | None, device: str, warm: bool, scorer_name: str = "technical", faces: bool = False) -> dict[str, Any]:
    from photocull.scorers import create_scorer
    from photocull.session import Mode, Session

    bb, label = None, None
    t_load = time.perf_counter()
    if backbone:
        bb, label, _ = common.load_bench_backbone(backbone, device, ROOT / "benchmarks" / "_work")
    load_s = time.perf_counter() - t_load
    model = _random_fgaesq(device) if scorer_name == "fgaesq" else None
    scorer = create_scorer(scorer_name, model=model, device=device, batch_size=16, backbone=bb)
    _forget(root)
    session = Session.open(root, common.run_settings(dry_run=True, workers=workers, faces=faces), Mode.CULL, backbone=bb,
                           scorer=scorer)  # the CLI's writer, journal and options, the benchmark's models
    gpu = None
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()
        gpu = torch
    common.reset_peak()
    base_mb = common.vm_rss_mb()
    c0 = _cpu_now()
    t0 = time.perf_counter()
    res = session.run()
    cold = time.perf_counter() - t0
    out: dict[str, Any] = {
        "seconds": cold,
        "cpu_s": _cpu_now() - c0,
        "images": len(res.frames),
        "decoded": res.decoded,
        "series": len(res.series),
        "errors": len(res.failed),
        "timings": res.timings,
        "peak_rss_mb": common.vm_hwm_mb(),
        "rss_before_mb": base_mb,
        "worker_peak_rss_mb": common.children_peak_mb(),
        "backbone": label,
        "backbone_load_s": load_s if backbone else None,
        "faces_found": sum(1 for fr in res.frames if getattr(fr.analysis, "faces", None) is not None and fr.analysis.faces.faces) if faces else None,
    }
    if gpu is not None:
        out["gpu_peak_mb"] = gpu.cuda.max_memory_allocated() / 2**20
    del res
    if warm:
        common.reset_peak()
        t0 = time.perf_counter()
        res = session.run()
        out["warm"] = {
            "seconds": time.perf_counter() - t0,
            "images": len(res.frames),
            "decoded": res.decoded,
            "timings": res.timings,
            "peak_rss_mb": common.vm_hwm_mb(),
        }
    return out


def _random_fgaesq(device: str):
    """The FGAesQ model with the published architecture and RANDOM weights (cost, not quality)."""
    import torch

    from photocull.model.config import FGAesQConfig
    from photocull.model.fgaesq import FGAesQ
    from photocull.runtime import pick_device

    dev = pick_device(device)
    torch.manual_seed(0)
    cfg = FGAesQConfig()
    if getattr(cfg, "pretrained", None):
        from dataclasses import replace

        cfg = replace(cfg, pretrained=None)
    return FGAesQ.from_config(cfg).eval().to(dev)


def probe_warm_models(root: Path, workers: int, device: str) -> dict[str, Any]:
    """Cold then warm run with a CLIP backbone and FGAesQ loaded from files, lazily, as the CLI does."""
    import torch
    from safetensors.torch import save_file

    from photocull.compat import import_open_clip
    from photocull.model.config import FGAesQConfig
    from photocull.model.fgaesq import FGAesQ
    from photocull.model.weights import SOURCE_METADATA_KEY
    from photocull.session import Mode, Session

    work = ROOT / "benchmarks" / "_work" / "warm-models"
    name = common.register_tiny_model(work / "oc_cfg")
    torch.manual_seed(0)
    clip_file = work / "tiny-clip.safetensors"
    save_file({k: v.contiguous() for k, v in import_open_clip().create_model(name, pretrained=None).state_dict().items()},
              str(clip_file))
    fg_file = FGAesQ.from_config(FGAesQConfig(width=64, layers=2, heads=2)).eval().save_safetensors(
        work / "fgaesq-small.safetensors", extra_metadata={SOURCE_METADATA_KEY: "benchmark: random weights"})
    os.environ["PHOTOCULL_MODEL_DIR"] = str(work / "models")
    _forget(root)
    # 'photocull score --model NAME --pretrained FILE --scorer fgaesq --weights FILE': the cache is kept
    settings = common.run_settings(workers=workers, model=name, pretrained=str(clip_file), scorer="fgaesq", weights=str(fg_file),
                         device=device, batch_size=16)

    def once() -> dict[str, Any]:
        t0 = time.perf_counter()
        with Session.open(root, settings, Mode.SCORE) as session:  # models built as the CLI builds them
            res = session.run(save=False)
        return {"seconds": time.perf_counter() - t0, "images": len(res.frames), "decoded": res.decoded,
                "series": len(res.series), "timings": res.timings, "fgaesq_loaded": session.scorer.loaded,
                "backbone_loaded": session.backbone.loaded, "peak_rss_mb": common.vm_hwm_mb()}

    cold = once()
    common.reset_peak()
    warm = once()
    return {**cold, "warm": warm, "cold_over_warm": cold["seconds"] / warm["seconds"]}


def probe_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", required=True)
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--workers", type=int, required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backbone", default=None)
    ap.add_argument("--scorer", default="technical")
    ap.add_argument("--warm", action="store_true")
    ap.add_argument("--faces", action="store_true")
    a = ap.parse_args(argv)
    try:
        if a.probe == "decode-cpu":
            res = probe_decode_cpu(a.root, a.workers)
        elif a.probe == "decode-nvjpeg":
            res = probe_decode_nvjpeg(a.root, a.workers)
        elif a.probe == "photocull":
            res = probe_photocull(a.root, a.workers, a.backbone, a.device, a.warm, a.scorer, a.faces)
        elif a.probe == "warm-models":
            res = probe_warm_models(a.root, a.workers, a.device)
        else:
            raise SystemExit(f"unknown probe {a.probe}")
        res["ok"] = True
    except Exception as exc:  # noqa: BLE001 - a row that fails says why; the others still run
        import traceback

        res = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500], "trace": traceback.format_exc()[-2000:]}
    res.setdefault("peak_rss_mb", common.vm_hwm_mb())
    res.setdefault("worker_peak_rss_mb", common.children_peak_mb())
    print(PROBE_TAG + json.dumps(res, default=str), flush=True)


# ----------------------------------------------------------------------------------------------
# The orchestrator


def _parse(stdout: str, tag: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(tag):
            return json.loads(line[len(tag):])
    return None


def run_probe(kind: str, root: Path, workers: int, device: str, timeout: float, **kw) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.speed", "--probe", kind, "--root", str(root), "--workers", str(workers), "--device", device]
    for k, v in kw.items():
        if v is True:
            cmd.append(f"--{k}")
        elif v not in (None, False):
            cmd += [f"--{k}", str(v)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=_env())
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    res = _parse(p.stdout, PROBE_TAG) or {"ok": False, "error": f"no result (rc {p.returncode}): {p.stderr[-500:]}"}
    res["wall_s"] = time.perf_counter() - t0
    return res


# Dry runs keep their cache in the user cache folder (they leave the card untouched), so the
# benchmark owns that folder: a cold row must find no cache there either.
BENCH_USER_CACHE = ROOT / "benchmarks" / "_work" / "user-cache"
os.environ["XDG_CACHE_HOME"] = str(BENCH_USER_CACHE)


def _forget(root: Path) -> None:
    """Make the next run on ``root`` cold: no shoot cache, no user cache."""
    shutil.rmtree(root / ".photocull", ignore_errors=True)
    shutil.rmtree(BENCH_USER_CACHE / "photocull", ignore_errors=True)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def run_cli(root: Path, workers: int, timeout: float, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """``photocull cull ROOT --dry-run`` as a user types it (technical scorer, no embeddings), cold."""
    _forget(root)
    cmd = [sys.executable, "-c", "from photocull.cli import main; main()", "cull", str(root), "--dry-run", "--scorer", "technical", "--no-embeddings", "--quiet", "--workers", str(workers), *extra]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    try:
        _, status, ru = _wait4(p, timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    dt = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    ok = rc in (0, 1)
    return {"ok": ok, "seconds": dt, "images": len(_jpegs(root)), "rc": rc, "peak_rss_mb": ru.ru_maxrss / 1024, "error": None if ok else err[-500:]}


def run_cli_first_bar(root: Path, workers: int, timeout: float) -> dict[str, Any]:
    """Seconds from ``photocull cull`` being started to its first progress bar on screen.

    The CLI runs as a user sees it (progress on, ``FORCE_COLOR`` so rich draws as on a
    terminal); its stderr (where the bars go; stdout keeps the table) is read as it comes
    and the clock stops at the first stage name of a bar ("Decoding", "Scoring", ...). Rich refreshes a live display 10 times a second,
    so the figure is good to ~0.1 s. Interpreter start, imports, option parsing, the scan
    and the cache look-ups all fall inside it; the run itself is then stopped.
    """
    _forget(root)
    cmd = [sys.executable, "-c", "from photocull.cli import main; main()", "cull", str(root), "--dry-run", "--scorer", "technical", "--no-embeddings", "--no-faces", "--workers", str(workers)]
    env = _env()
    env.update({"FORCE_COLOR": "1", "COLUMNS": "120", "TERM": "xterm-256color"})
    import selectors

    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    stream = p.stderr
    seen = b""
    first = None
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    try:
        while first is None and time.perf_counter() - t0 < timeout:
            if not sel.select(timeout=0.05):
                if p.poll() is not None:
                    break
                continue
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                break
            seen = (seen + chunk)[-4096:]
            if any(k in seen for k in (b"Decoding", b"Scoring", b"Checking", b"Writing")):
                first = time.perf_counter() - t0
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        sel.close()
        stream.close()
        _forget(root)
    if first is None:
        return {"ok": False, "error": "no progress bar seen on stderr", "images": len(_jpegs(root))}
    return {"ok": True, "seconds_to_first_bar": first, "images": len(_jpegs(root))}


def _wait4(p: subprocess.Popen, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return pid, status, ru
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(p.args, timeout)
        time.sleep(0.02)


def run_peer(peer_python: str, tool: str, root: Path, workers: int, timeout: float) -> dict[str, Any]:
    cmd = [peer_python, str(ROOT / "benchmarks" / "peers.py"), tool, str(root), str(workers)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HF_HUB_OFFLINE"] = "1"
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"tool": tool, "ok": False, "error": f"timed out after {timeout:.0f} s"}
    res = _parse(p.stdout, "PEER-RESULT ") or {"tool": tool, "ok": False, "error": f"no result (rc {p.returncode}): {p.stderr[-400:]}"}
    res["wall_s"] = time.perf_counter() - t0
    return res


def _warm_page_cache(root: Path) -> None:
    for p in _jpegs(root):
        with open(p, "rb") as fh:
            while fh.read(1 << 22):
                pass


def _ips(r: dict[str, Any] | None, key: str = "seconds") -> float | None:
    if not r or not r.get("ok", True) or not r.get(key):
        return None
    return r["images"] / r[key] if r.get("images") else None


def speed(args: argparse.Namespace) -> dict[str, Any]:
    from . import data

    device = args.device
    if device == "auto":
        device = "cuda" if common.gpu_name() else "cpu"
    workers = args.workers or common.cores()
    root = data.speed_shoot(args.n, args.width, args.height, seed=args.seed, workers=workers)
    truth = json.loads((root / "truth.json").read_text())
    _warm_page_cache(root)
    timeout = args.timeout
    rows: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []

    def add(name: str, r: dict[str, Any]) -> None:
        rows.setdefault(name, []).append(r)
        status = f"{_ips(r) or 0:.2f} img/s" if r.get("ok", True) and r.get("seconds") else f"FAILED: {r.get('error')}"
        print(f"  {name:<34} {status}", flush=True)
        if getattr(args, "out", None):  # after every row: a run stopped at its time limit keeps what it measured
            common.write_results("speed", "partial", {"partial": True, "device": device, "raw": rows}, args.out)

    have_fgaesq = importlib.util.find_spec("photocull.scorers.fgaesq") is not None
    if not have_fgaesq:
        notes.append("FGAesQ scorer: photocull.scorers.fgaesq does not exist yet; row skipped.")
    backbone = args.backbone
    if backbone == "auto":
        backbone = DEFAULT_MODEL if device.startswith("cuda") else None
        if backbone is None:
            notes.append("photocull +backbone: skipped on CPU by default (ViT-B-16 runs ~4.6 img/s on 2 cores); --backbone tiny|ViT-B-16 to add it.")
    peers = [] if args.no_peers or not args.peer_python else ["imagededup-phash", "imagededup-cnn", "difpy", "czkawka", "pyiqa-nima", "pyiqa-laion_aes"]
    if not peers:
        notes.append("peers: not run (no --peer-python)." if not args.no_peers else "peers: --no-peers.")
    peer_failed: set[str] = set()
    startup: list[dict[str, Any]] = []

    for rep in range(args.repeats):
        print(f"repeat {rep + 1}/{args.repeats}", flush=True)
        add("decode bound (CPU)", run_probe("decode-cpu", root, workers, device, timeout))
        if device.startswith("cuda"):
            add("decode bound (nvJPEG, GPU)", run_probe("decode-nvjpeg", root, workers, device, timeout))
        r = run_probe("photocull", root, workers, device, timeout, warm=True)
        add("photocull cold (in-process)", r)
        warm = dict(r.get("warm") or {"ok": False, "error": r.get("error")})
        warm.setdefault("ok", r.get("ok", False))
        add("photocull warm cache", warm)
        add("photocull cold, face checks (in-process)", run_probe("photocull", root, workers, device, timeout, faces=True))
        if not args.no_cli:
            add("photocull CLI cold (subprocess, --no-faces)", run_cli(root, workers, timeout, ("--no-faces",)))
            add("photocull CLI cold (subprocess, face checks)", run_cli(root, workers, timeout, ("--faces",)))
            startup.append(run_cli_first_bar(root, workers, timeout))
            print(f"  {'CLI start-up (to first progress bar)':<34} {startup[-1].get('seconds_to_first_bar') or 0:.2f} s", flush=True)
        if backbone:
            add("photocull cold +backbone", run_probe("photocull", root, workers, device, timeout, backbone=backbone))
        if not args.no_warm_models:
            r = run_probe("warm-models", root, workers, device, timeout)
            add("photocull cold, --model + FGAesQ (small)", r)
            w = dict(r.get("warm") or {"ok": False, "error": r.get("error")})
            w.setdefault("ok", r.get("ok", False))
            w["cold_over_warm"] = r.get("cold_over_warm")
            add("photocull warm, --model + FGAesQ (small)", w)
        if have_fgaesq and rep < args.fgaesq_repeats:
            add("photocull cold, FGAesQ (random)", run_probe("photocull", root, workers, device, timeout, scorer="fgaesq"))
        for tool in peers:
            if tool in peer_failed:
                continue
            pr = run_peer(args.peer_python, tool, root, workers, timeout)
            add(f"peer: {tool}", pr)
            if not pr.get("ok"):
                peer_failed.add(tool)  # e.g. weights unavailable offline: no point repeating
    _forget(root)

    bound = median(_ips(r) for r in rows["decode bound (CPU)"])
    pc = median(_ips(r) for r in rows["photocull cold (in-process)"])
    summary: dict[str, Any] = {}
    for name, rs in rows.items():
        ok = [r for r in rs if r.get("ok", True) and r.get("seconds")]
        ips = median(_ips(r) for r in ok)
        s = {
            "ok": bool(ok),
            "repeats": len(ok),
            "images_per_s": ips,
            "images_per_s_range": common.spread(_ips(r) for r in ok),
            "seconds": median(r["seconds"] for r in ok),
            "peak_rss_mb": median(r.get("peak_rss_mb") for r in ok),
            "worker_peak_rss_mb": median(r.get("worker_peak_rss_mb") or r.get("peak_rss_children_mb") for r in ok),
            "gpu_peak_mb": median(r.get("gpu_peak_mb") for r in ok),
            "vs_decode_bound": (ips / bound) if ips and bound else None,
            "photocull_vs_this": (pc / ips) if ips and pc and not name.startswith("photocull") else None,
            "error": None if ok else (rs[0].get("error") if rs else None),
        }
        if name.startswith("photocull") and ok and "timings" in ok[0]:
            keys = ok[0]["timings"].keys()
            s["stage_seconds"] = {k: median(r["timings"].get(k) for r in ok) for k in keys}
        if ok and ok[0].get("backbone"):
            s["backbone"] = ok[0]["backbone"]
        if ok and "decoded_size" in ok[0]:
            s["decoded_size"] = ok[0]["decoded_size"]
        summary[name] = s
    return {
        "device": device,
        "workers": workers,
        "repeats": args.repeats,
        "cpu": _cpu_summary(rows),
        "shoot": {"dir": str(root), "n": truth["n"], "size": truth["size"], "quality": truth["quality"], "seed": truth["seed"], "mean_mb": truth["bytes"] / truth["n"] / 1e6},
        "headline": {
            "decode_bound_images_per_s": bound,
            "photocull_cold_images_per_s": pc,
            "photocull_cold_vs_bound": (pc / bound) if pc and bound else None,
            "photocull_warm_images_per_s": summary.get("photocull warm cache", {}).get("images_per_s"),
            "photocull_faces_vs_bound": summary.get("photocull cold, face checks (in-process)", {}).get("vs_decode_bound"),
            "paired": paired_ratios(rows),
            "warm_with_models": _warm_models_summary(rows.get("photocull warm, --model + FGAesQ (small)", [])),
            "target": ">= 0.90 of the decode bound cold, >= 0.80 with face checks, warm with models >= 20x faster than cold (issue 17)",
        },
        "cli_startup": {
            "seconds_to_first_progress_bar": median(r["seconds_to_first_bar"] for r in startup if r.get("ok")),
            "range": common.spread(r["seconds_to_first_bar"] for r in startup if r.get("ok")),
            "repeats": sum(1 for r in startup if r.get("ok")),
            "error": next((r.get("error") for r in startup if not r.get("ok")), None),
        },
        "rows": summary,
        "raw": rows,
        "notes": notes,
    }


def paired_ratios(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Each photocull row over the decode bound *of the same repeat*, median over repeats.

    Why beside the ratio of medians: the rows of one repeat run back to back, so a neighbour's
    load that slows a whole repeat cancels in its own ratio; across repeats it does not.
    """
    bounds = [_ips(r) if r.get("ok", True) else None for r in rows.get("decode bound (CPU)", [])]
    out = {}
    for name, rs in rows.items():
        if not name.startswith("photocull") or "warm" in name:
            continue
        ratios = [_ips(r) / b for r, b in zip(rs, bounds) if b and r.get("ok", True) and r.get("seconds")]
        if ratios:
            out[name] = {"median": median(ratios), "range": common.spread(ratios)}
    return out


def _cpu_summary(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Median CPU seconds per image of each row that reports them, and the bound's over each
    (the load-insensitive twin of ``vs_decode_bound``; 1.0: no CPU beyond the decode)."""
    per = {}
    for name, rs in rows.items():
        vals = [r["cpu_s"] / r["images"] for r in rs if r.get("ok", True) and r.get("cpu_s") and r.get("images")]
        if vals:
            per[name] = median(vals)
    bound = per.get("decode bound (CPU)")
    return {name: {"cpu_ms_per_image": 1000 * v, "bound_cpu_over_this": (bound / v) if bound else None} for name, v in per.items()}


def _warm_models_summary(warm_rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Median cold/warm ratio with models, and whether any warm run loaded a model (it must not)."""
    ok = [r for r in warm_rows if r.get("ok", True) and r.get("cold_over_warm")]
    if not ok:
        return None
    return {"cold_over_warm_median": median(r["cold_over_warm"] for r in ok),
            "range": common.spread(r["cold_over_warm"] for r in ok), "repeats": len(ok),
            "warm_loaded_a_model": any(r.get("fgaesq_loaded") or r.get("backbone_loaded") for r in ok),
            "warm_decoded": max(r.get("decoded") or 0 for r in ok), "target": ">= 20x"}


def print_speed(res: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    sh = res["shoot"]
    t = Table(title=f"photocull speed: {sh['n']} JPEGs {sh['size'][0]}x{sh['size'][1]} q{sh['quality']} (~{sh['mean_mb']:.1f} MB each), "
              f"{res['workers']} workers, {res['device']}, median of {res['repeats']}")
    for col in ("row", "images/s", "range", "÷ decode bound", "photocull ÷ this", "peak RSS MB", "worker peak MB", "GPU MB", "note"):
        t.add_column(col, justify="left" if col in ("row", "note") else "right")
    for name, s in res["rows"].items():
        note = s.get("backbone") or ""
        if not s["ok"]:
            note = f"unavailable: {s.get('error') or ''}"[:90]
        elif s.get("decoded_size"):
            note = f"draft to {s['decoded_size'][0]}x{s['decoded_size'][1]}"
        rng = s["images_per_s_range"]
        t.add_row(
            name,
            fmt(s["images_per_s"], 2),
            f"{rng[0]:.2f}–{rng[1]:.2f}" if rng else "—",
            fmt(s["vs_decode_bound"], 2, "×") if s["vs_decode_bound"] is not None else "—",
            fmt(s["photocull_vs_this"], 2, "×") if s["photocull_vs_this"] is not None else "—",
            fmt(s["peak_rss_mb"], 0),
            fmt(s["worker_peak_rss_mb"], 0),
            fmt(s["gpu_peak_mb"], 0),
            note,
        )
    c = Console(width=200)
    c.print(t)
    st = res["rows"].get("photocull cold (in-process)", {}).get("stage_seconds")
    if st:
        c.print("photocull cold, stage seconds (median): " + ", ".join(f"{k} {v:.2f}" for k, v in st.items()))
    st = res["rows"].get("photocull warm cache", {}).get("stage_seconds")
    if st:
        c.print("photocull warm, stage seconds (median): " + ", ".join(f"{k} {v:.3f}" for k, v in st.items()))
    h = res["headline"]
    c.print(f"[bold]headline[/]: photocull cold {fmt(h['photocull_cold_images_per_s'], 2)} img/s = "
            f"{fmt((h['photocull_cold_vs_bound'] or 0) * 100, 0)} % of the decode bound ({fmt(h['decode_bound_images_per_s'], 2)} img/s); "
            f"warm {fmt(h['photocull_warm_images_per_s'], 0)} img/s. Target: {h['target']}.")
    if h.get("photocull_faces_vs_bound") is not None:
        c.print(f"with face checks: {fmt(h['photocull_faces_vs_bound'] * 100, 0)} % of the decode bound (target >= 80 %).")
    if h.get("paired"):
        c.print("each row over the bound of its own repeat (median of repeats): " + ", ".join(
            f"{k} {fmt(v['median'], 2)}" for k, v in h["paired"].items()))
    cpu = res.get("cpu") or {}
    if cpu:
        c.print("CPU ms per image (median; the bound's over the row's): " + ", ".join(
            f"{k} {v['cpu_ms_per_image']:.0f} ({fmt(v['bound_cpu_over_this'], 2)})" for k, v in cpu.items()))
    wm = h.get("warm_with_models")
    if wm:
        c.print(f"warm run with --model + FGAesQ: {fmt(wm['cold_over_warm_median'], 0)}x faster than cold (median of "
                f"{wm['repeats']}; target >= 20x); a model loaded on a warm run: {'YES' if wm['warm_loaded_a_model'] else 'no'}.")
    su = res.get("cli_startup") or {}
    if su.get("seconds_to_first_progress_bar") is not None:
        c.print(f"CLI start-up: first progress bar after {su['seconds_to_first_progress_bar']:.2f} s (median of {su['repeats']}; interpreter, imports, scan, cache).")
    elif su.get("error"):
        c.print(f"CLI start-up: not measured ({su['error']}).")
    for n in res["notes"]:
        c.print(f"note: {n}")


# ----------------------------------------------------------------------------------------------
# Scale


def scale(args: argparse.Namespace) -> dict[str, Any]:
    from . import data

    workers = args.workers or common.cores()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    pool = data.scale_pool(max(sizes), args.width, args.height, workers=workers)
    out: dict[str, Any] = {"workers": workers, "size": [args.width, args.height], "repeats": args.repeats, "points": []}
    for n in sizes:
        root = data.scale_subset(pool, n)
        _warm_page_cache(root)
        reps = []
        for rep in range(args.repeats if n < args.single_above else 1):
            r = run_probe("photocull", root, workers, "cpu", args.timeout, warm=True)
            reps.append(r)
            print(f"  {n:>6} files: cold {_ips(r) or 0:.1f} img/s, warm {_ips(r.get('warm')) or 0:.0f} img/s, peak RSS {r.get('peak_rss_mb') or 0:.0f} MB", flush=True)
        _forget(root)
        ok = [r for r in reps if r.get("ok")]
        point = {
            "files": n,
            "repeats": len(ok),
            "cold_ms_per_image": median(1000 * r["seconds"] / r["images"] for r in ok),
            "warm_ms_per_image": median(1000 * r["warm"]["seconds"] / r["warm"]["images"] for r in ok if r.get("warm")),
            "cold_images_per_s": median(_ips(r) for r in ok),
            "warm_images_per_s": median(_ips(r.get("warm")) for r in ok),
            "peak_rss_mb": median(r.get("peak_rss_mb") for r in ok),
            "rss_before_mb": median(r.get("rss_before_mb") for r in ok),
            "warm_peak_rss_mb": median(r["warm"].get("peak_rss_mb") for r in ok if r.get("warm")),
            "worker_peak_rss_mb": median(r.get("worker_peak_rss_mb") for r in ok),
            "stage_seconds": {k: median(r["timings"].get(k) for r in ok) for k in (ok[0]["timings"] if ok else {})},
            "errors": [r.get("error") for r in reps if not r.get("ok")],
        }
        out["points"].append(point)
    pts = [p for p in out["points"] if p["peak_rss_mb"] is not None]
    if len(pts) >= 2:
        a, b = pts[0], pts[-1]
        growth = (b["peak_rss_mb"] - a["peak_rss_mb"]) / max(1, b["files"] - a["files"])
        out["rss_growth_kb_per_file"] = growth * 1024
        if a["cold_ms_per_image"] and b["cold_ms_per_image"]:
            out["cold_time_per_image_ratio_largest_vs_smallest"] = b["cold_ms_per_image"] / a["cold_ms_per_image"]
    return out


def print_scale(res: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"photocull scale: {res['size'][0]}x{res['size'][1]} JPEGs, {res['workers']} workers, dry run, technical scorer")
    for col in ("files", "repeats", "cold ms/img", "cold img/s", "warm ms/img", "warm img/s", "peak RSS MB (cold)", "peak RSS MB (warm)", "worker peak MB"):
        t.add_column(col, justify="right")
    for p in res["points"]:
        t.add_row(f"{p['files']:,}", str(p["repeats"]), fmt(p["cold_ms_per_image"], 2), fmt(p["cold_images_per_s"], 0), fmt(p["warm_ms_per_image"], 3),
                  fmt(p["warm_images_per_s"], 0), fmt(p["peak_rss_mb"], 0), fmt(p["warm_peak_rss_mb"], 0), fmt(p["worker_peak_rss_mb"], 0))
    c = Console(width=200)
    c.print(t)
    if "rss_growth_kb_per_file" in res:
        c.print(f"main-process peak RSS grows {res['rss_growth_kb_per_file']:.1f} KB per extra file; "
                f"cold time/image at the largest size is {res.get('cold_time_per_image_ratio_largest_vs_smallest', float('nan')):.2f}× the smallest.")


# ----------------------------------------------------------------------------------------------


def add_speed_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--n", type=int, default=200, help="images in the speed shoot (default 200)")
    ap.add_argument("--width", type=int, default=6000)
    ap.add_argument("--height", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="decode processes for every row (default: all cores)")
    ap.add_argument("--device", default="auto", help=f"auto, cpu or cuda (cuda adds the nvJPEG bound and a {DEFAULT_MODEL} row)")
    ap.add_argument("--backbone", default="auto", help=f"auto ({DEFAULT_MODEL} on CUDA, none on CPU), none, tiny, MODEL or MODEL:PRETRAINED")
    ap.add_argument("--peer-python", default=_default_peer_python(), help="interpreter with imagededup/pyiqa (default /work/peervenv/bin/python if present)")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-cli", action="store_true", help="skip the CLI-in-a-subprocess row")
    ap.add_argument("--no-warm-models", action="store_true", help="skip the cold/warm rows with --model and FGAesQ")
    ap.add_argument("--fgaesq-repeats", type=int, default=1, help="repeats of the FGAesQ row (slow on a CPU; default 1, 0 skips)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per measurement")
    ap.add_argument("--machine", default=None, help="label in the results file name (default: cpu-<cores>c or the GPU's name)")
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default benchmarks/results/speed-<machine>.json)")


def add_scale_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=427)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--single-above", type=int, default=5000, help="sizes >= this run once (time)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--machine", default=None)
    ap.add_argument("--out", type=Path, default=None)


def _default_peer_python() -> str | None:
    p = Path("/work/peervenv/bin/python")
    return str(p) if p.exists() else None


def main_speed(args: argparse.Namespace) -> dict[str, Any]:
    if args.backbone == "none":
        args.backbone = None
    res = speed(args)
    return common.save_and_print("speed", res, args, res["device"], print_speed)


def main_scale(args: argparse.Namespace) -> dict[str, Any]:
    res = scale(args)
    return common.save_and_print("scale", res, args, "cpu", print_scale)


if __name__ == "__main__":
    if "--probe" in sys.argv:
        probe_main(sys.argv[1:])
    else:
        ap = argparse.ArgumentParser(prog="python -m benchmarks.speed")
        add_speed_args(ap)
        main_speed(ap.parse_args())
