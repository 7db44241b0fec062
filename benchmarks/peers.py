"""Peer tools, run by the speed benchmark in a subprocess with the peers' own interpreter.

Stand-alone on purpose (imports neither photocull nor the benchmarks package), so it runs in
a separate virtual environment (``--peer-python``) and the project's stays clean:

    python -m venv /work/peervenv && /work/peervenv/bin/pip install imagededup difpy czkawka pyiqa "setuptools<81"
    /work/peervenv/bin/python benchmarks/peers.py imagededup-phash SHOOT/
    -> one JSON line: {"tool", "ok", "seconds", "import_s", "images", "peak_rss_mb", ...}

Tools: ``imagededup-phash`` (PHash near-duplicate search, its default threshold 10),
``imagededup-cnn`` (MobileNetV3 features; needs a weight download), ``difpy`` (difPy 4:
50 px thumbnails compared by mean squared error, "similar" setting, its own process pool),
``czkawka`` (the ``czkawka`` PyPI bindings to Czkawka's Rust image-similarity search,
perceptual hashes, similarity 10 of 50), ``pyiqa-nima`` and ``pyiqa-laion_aes`` (aesthetic
scores; need weight downloads). When a tool cannot get its weights offline the line says
``"ok": false`` with the error; nothing is faked.

Peers that cannot run here at all (no row): the Czkawka desktop/CLI app itself (a Rust
binary, not on PyPI; the bindings above run its library), fastdup (its embedding model is
downloaded at run time), and learned culling tools that need hosted models or accounts
(AfterShoot, Aftershoot-style cloud services, Excire, Narrative Select): not installable
offline, nothing to run.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path


def _peak_mb() -> dict:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"peak_rss_mb": round(self_kb / 1024, 1), "peak_rss_children_mb": round(kids_kb / 1024, 1)}


def _images(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))


def _torchvision_workaround() -> None:
    """Same fix as photocull.compat, applied only after its exact error: the registry's
    torchvision is a CUDA build whose compiled ops are missing beside a CPU torch."""
    try:
        import torchvision  # noqa: F401

        return
    except RuntimeError as exc:
        if "torchvision::nms does not exist" not in str(exc):
            raise
    import torch

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    lib = torch.library.Library("torchvision", "DEF")  # noqa: TOR901
    for schema in ("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
                   "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"):
        try:
            lib.define(schema)
        except RuntimeError:
            pass
    _KEEP.append(lib)
    import torchvision  # noqa: F401,F811


_KEEP: list = []


def run(tool: str, root: Path, workers: int) -> dict:
    t_import = time.perf_counter()
    out: dict = {"tool": tool, "images": len(_images(root)), "workers": workers}
    if tool.startswith(("imagededup", "pyiqa")):
        _torchvision_workaround()  # only these import torchvision
    if tool.startswith("imagededup"):
        from imagededup.methods import CNN, PHash

        out["import_s"] = round(time.perf_counter() - t_import, 3)
        t0 = time.perf_counter()
        if tool == "imagededup-phash":
            dups = PHash(verbose=False).find_duplicates(image_dir=str(root), max_distance_threshold=10, num_enc_workers=workers, num_dist_workers=workers)
        else:
            dups = CNN(verbose=False).find_duplicates(image_dir=str(root), min_similarity_threshold=0.9, num_enc_workers=0)
        out["seconds"] = time.perf_counter() - t0
        out["files_with_duplicates"] = sum(1 for v in dups.values() if v)
    elif tool == "difpy":
        import difPy

        out["import_s"] = round(time.perf_counter() - t_import, 3)
        t0 = time.perf_counter()
        dif = difPy.build(str(root), recursive=False, show_progress=False, processes=workers)
        found = difPy.search(dif, similarity="similar", show_progress=False, processes=workers)
        out["seconds"] = time.perf_counter() - t0
        out["files_with_duplicates"] = _difpy_count(found.result)
    elif tool == "czkawka":
        from czkawka import ImageSimilarity

        out["import_s"] = round(time.perf_counter() - t_import, 3)
        t0 = time.perf_counter()
        finder = ImageSimilarity()
        finder.set_directories([root])
        finder.set_similarity(10)
        groups = finder.find_similar()
        out["seconds"] = time.perf_counter() - t0
        out["files_with_duplicates"] = sum(len(g) for g in groups)
        out["threads"] = "rayon (all cores; the binding has no worker setting)"
    elif tool.startswith("pyiqa-"):
        import pyiqa
        import torch

        out["import_s"] = round(time.perf_counter() - t_import, 3)
        torch.set_num_threads(workers)
        name = tool.split("-", 1)[1]
        t_load = time.perf_counter()
        metric = pyiqa.create_metric(name, device="cuda" if torch.cuda.is_available() else "cpu")
        out["load_s"] = round(time.perf_counter() - t_load, 3)
        t0 = time.perf_counter()
        scores = [float(metric(str(p))) for p in _images(root)]
        out["seconds"] = time.perf_counter() - t0
        out["mean_score"] = sum(scores) / max(1, len(scores))
    else:
        raise SystemExit(f"unknown tool {tool}")
    out["ok"] = True
    out["images_per_s"] = out["images"] / out["seconds"] if out["seconds"] > 0 else None
    return out


def _difpy_count(result: dict) -> int:
    """Files in difPy's result that have a match (its result format changed between 4.x releases)."""
    files = set()
    for key, val in result.items():
        matches = val.get("matches", {}) if isinstance(val, dict) and "matches" in val else val
        items = matches.values() if isinstance(matches, dict) else matches
        got = [m[0] if isinstance(m, (list, tuple)) else m for m in items]
        if got:
            files.add(str(val.get("location", key)) if isinstance(val, dict) else str(key))
            files.update(str(g) for g in got)
    return len(files)


def main() -> None:
    tool, root = sys.argv[1], Path(sys.argv[2])
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    # never wait on a network: fail fast where weights would be downloaded from the hub
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        res = run(tool, root, workers)
    except BaseException as exc:  # noqa: BLE001 - report, never crash the benchmark
        msg = f"{type(exc).__name__}: {exc}".strip()
        res = {"tool": tool, "ok": False, "error": msg[:400], "trace": traceback.format_exc()[-1500:]}
    res.update(_peak_mb())
    print("PEER-RESULT " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
