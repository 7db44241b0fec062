"""The GPU path, end to end: nvJPEG batch decode -> ViT-B/16 embeddings -> FGAesQ series scores.

Why a script of its own: the CUDA paths (nvJPEG, bf16 autocast) cannot run on the 2-core
development machine, and a lent GPU machine is there for minutes. This measures, in one
run, what the GPU path would give a cull of 24 MP JPEGs:

* ``decode+embed (nvJPEG)``: files read by threads, decoded in batches by
  ``torchvision.io.decode_jpeg(device="cuda")``, resized on the GPU to photocull's working
  image (long side ``--working``) and to the backbone's input, ViT-B/16 embeddings
  (open_clip, RANDOM weights: cost, not quality); the working images come back to the host
  as uint8 (the FGAesQ tokens are built there). Images/s and peak GPU memory.
* ``decode+embed (CPU draft + nvJPEG)``: the same, with a share of the files (``--cpu-share``)
  decoded by a process pool in Pillow's draft mode at the same time (the CPUs feed the GPU
  alongside nvJPEG; photocull's cull decodes this way).
* ``FGAesQ series``: the published architecture (ViT-B/16 tower + head, RANDOM weights)
  scoring series of the shoot with the official tokens from the **full-resolution** frames
  (what the CLI scores: nvJPEG decode, then EXIF orientation, which nvJPEG ignores, then the
  tokens on the CPU), O(n) (one reference per frame) and exhaustive (all pairs, the
  official procedure). The token sets are built once per mode (timed: the CPU's share) and
  scored in float32 and in bf16 autocast (timed: the GPU's share): seconds per frame, peak
  GPU memory, and bf16-vs-float32 agreement (max |diff|, Pearson, same top-1 per series).

Every decode applies the file's EXIF orientation after nvJPEG, checked once against
photocull's own reading (``orientation_check``).

    python -m benchmarks gpu-path --device cuda --n 200            # on the GPU machine
    python -m benchmarks gpu-path --tiny                           # CPU dry run: tiny models, tiny images

``--tiny`` runs every code path on the CPU with tiny random models and small generated JPEGs
(torchvision's CPU JPEG decoder stands in for nvJPEG): it proves the script works, its
figures mean nothing. Results: JSON (``--out``), a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from . import common

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"


def _shoot(args) -> tuple[list[Path], list[list[int]]]:
    """The JPEGs (sorted) and the series as lists of indices into them."""
    if args.tiny:
        from PIL import Image

        root = WORK / "gpu-path-tiny"
        root.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        files, series = [], []
        for s in range(2):
            base = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
            members = []
            for k in range(3):
                img = Image.fromarray(base).resize((320, 240), Image.Resampling.BICUBIC)
                arr = np.clip(np.asarray(img, np.int16) + rng.normal(0, 4 * k, (240, 320, 3)), 0, 255).astype(np.uint8)
                p = root / f"S{s}_{k}.jpg"
                exif = Image.Exif()
                exif[0x0112] = 6 if s == 1 else 1  # the second series shot upright: the camera turned
                Image.fromarray(arr).save(p, quality=90, exif=exif)
                members.append(len(files))
                files.append(p)
            series.append(members)
        return files, series
    from . import data

    root = data.speed_shoot(args.n, 6000, 4000, workers=common.cores())
    truth = json.loads((root / "truth.json").read_text())
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    index = {p.name: i for i, p in enumerate(files)}
    series = [[index[name] for name in names if name in index] for names in truth["series"]]
    return files, [s for s in series if s]


def _models(args, device):
    import torch

    from photocull.model.config import FGAesQConfig
    from photocull.model.fgaesq import FGAesQ

    from photocull.backbones import DEFAULT_MODEL

    backbone, label, _ = common.load_bench_backbone("tiny" if args.tiny else DEFAULT_MODEL, device, WORK)
    torch.manual_seed(0)
    if args.tiny:  # the official layout at width 64 (16-px patches, 14x14 grid), as the tests build it
        import sys

        sys.path.insert(0, str(ROOT))
        from photocull.model.checkpoint import import_official
        from tests.model.official_fixture import official_state_dict

        fgaesq, _ = import_official(official_state_dict(3, layers=1, width=64), strict=True)
        return backbone, label, fgaesq.eval().to(device)
    fgaesq = FGAesQ(FGAesQConfig()).eval().to(device)
    return backbone, label, fgaesq


def _gpu_resize(img, long_side: int):
    """(3, H, W) uint8 on the device -> float (3, h, w) with the long side ``long_side``."""
    import torch.nn.functional as F

    h, w = img.shape[-2:]
    s = min(1.0, long_side / max(h, w))
    size = (max(1, round(h * s)), max(1, round(w * s)))
    return F.interpolate(img[None].float(), size=size, mode="area")[0] if s < 1.0 else img.float()


def _backbone_input(backbone, work):
    """Working images (float 0..255, (3, h, w) each) -> the backbone's normalised batch
    (shortest side to its input size, centre crop), on the device, in its dtype."""
    import torch
    import torch.nn.functional as F

    H, W = backbone.image_size
    out = []
    for t in work:
        h, w = t.shape[-2:]
        s = max(H / h, W / w)
        r = F.interpolate(t[None], size=(max(H, round(h * s)), max(W, round(w * s))), mode="bilinear", antialias=True, align_corners=False)
        y, x = (r.shape[-2] - H) // 2, (r.shape[-1] - W) // 2
        out.append(r[0, :, y:y + H, x:x + W])
    x = torch.stack(out) / 255.0
    mean = torch.tensor(backbone.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(backbone.std, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).to(backbone.dtype)


def orientation(path: Path) -> int:
    """The EXIF orientation of a file (1 when none): read from its header only."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1) or 1)
    except (OSError, ValueError):
        return 1


def orient_chw(t, o: int):
    """A decoded ``(3, H, W)`` tensor turned upright for EXIF orientation ``o`` (nvJPEG does not),
    the same turns as :func:`photocull.decode.orient`."""
    import torch

    if o == 2:
        return t.flip(-1)
    if o == 3:
        return t.flip(-1, -2)
    if o == 4:
        return t.flip(-2)
    if o == 5:
        return t.transpose(-1, -2)
    if o == 6:
        return torch.rot90(t, -1, dims=(-2, -1))
    if o == 7:
        return t.flip(-1, -2).transpose(-1, -2)
    if o == 8:
        return torch.rot90(t, 1, dims=(-2, -1))
    return t


def full_frame(path: Path, device, decode_jpeg):
    """A function reading the full-resolution upright frame as the CLI scores it: nvJPEG on
    ``device``, orientation applied there, then ``(H, W, 3)`` uint8 on the host."""
    import torch

    def load():
        data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
        img = orient_chw(decode_jpeg([data], device=device)[0], orientation(path))
        return img.permute(1, 2, 0).contiguous().cpu().numpy()

    return load


def _embed_batch(backbone, datas, device, working: int, decode_jpeg, orients=None):
    """Decode a batch of JPEG byte tensors on ``device`` (turned upright); embeddings and host
    working images."""
    import torch

    imgs = decode_jpeg(datas, device=device)
    if orients is not None:
        imgs = [orient_chw(im, o) for im, o in zip(imgs, orients)]
    work = [_gpu_resize(im, working) for im in imgs]
    with torch.inference_mode():
        feats = backbone.model.encode_image(_backbone_input(backbone, work)).float()
        feats = torch.nn.functional.normalize(feats, dim=-1)
    hosts = [w.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy() for w in work]
    return feats.cpu().numpy(), hosts


def _draft_work(path: str, working: int) -> np.ndarray:
    """A working image by photocull's own CPU decode (draft mode) - the pool's share."""
    from photocull.analyse import working_image
    from photocull.decode import decode

    return working_image(decode(Path(path), "jpeg").image, working)


def _pil_decode_jpeg(datas, device=None):
    """Stand-in for ``torchvision.io.decode_jpeg`` in a ``--tiny`` dry run where torchvision's
    image extension does not load (CPU torch builds here): (3, H, W) uint8 tensors."""
    import io

    import torch
    from PIL import Image

    return [torch.from_numpy(np.asarray(Image.open(io.BytesIO(d.numpy().tobytes())).convert("RGB"))).permute(2, 0, 1).contiguous()
            for d in datas]


def jpeg_decoder(device, tiny: bool):
    """(decode_jpeg, label): torchvision's (nvJPEG on CUDA); in a dry run Pillow if it cannot load."""
    import torch

    try:
        from torchvision.io import decode_jpeg

        decode_jpeg([torch.frombuffer(bytearray(_TINY_JPEG), dtype=torch.uint8)], device=device)
        return decode_jpeg, "torchvision.io.decode_jpeg" + (" (nvJPEG)" if device.type == "cuda" else " (CPU)")
    except Exception as exc:  # noqa: BLE001 - only a dry run may fall back
        if not tiny:
            raise
        return _pil_decode_jpeg, f"Pillow stand-in (torchvision image ops unavailable: {type(exc).__name__})"


def _tiny_jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 60, 30)).save(buf, "JPEG")
    return buf.getvalue()


_TINY_JPEG = _tiny_jpeg()


def decode_embed(files: list[Path], backbone, device, args, cpu_share: float) -> dict[str, Any]:
    """Images/s of decode (nvJPEG, plus a CPU pool's share) + embeddings, working images kept."""
    import torch

    decode_jpeg, decoder = jpeg_decoder(device, args.tiny)

    def read(p: Path):
        return torch.frombuffer(bytearray(p.read_bytes()), dtype=torch.uint8)

    n_cpu = int(round(len(files) * cpu_share))
    cpu_files, gpu_files = files[:n_cpu], files[n_cpu:]
    if device.type == "cuda":
        decode_jpeg(read(files[0]), device=device)  # CUDA context, nvJPEG handle: once per process, not counted
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    embs: list[np.ndarray] = []
    works: list[np.ndarray] = [None] * len(files)  # type: ignore[list-item]
    pool = None
    if cpu_files:  # forkserver: never fork a process that holds a CUDA context; warmed before the clock
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["photocull.analyse"])
        workers = max(1, common.cores() - 1)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        for f in [pool.submit(int) for _ in range(workers)]:
            f.result()
    t0 = time.perf_counter()
    cpu_futs = [pool.submit(_draft_work, str(p), args.working) for p in cpu_files] if pool else []
    with ThreadPoolExecutor(max_workers=4) as readers:
        buf: list = []
        done = n_cpu
        for data, o in readers.map(lambda p: (read(p), orientation(p)), gpu_files):
            buf.append((data, o))
            if len(buf) == args.batch:
                e, w = _embed_batch(backbone, [d for d, _ in buf], device, args.working, decode_jpeg, [o for _, o in buf])
                embs.append(e)
                works[done:done + len(w)] = w
                done += len(w)
                buf = []
        if buf:
            e, w = _embed_batch(backbone, [d for d, _ in buf], device, args.working, decode_jpeg, [o for _, o in buf])
            embs.append(e)
            works[done:done + len(w)] = w
    if cpu_futs:  # the pool's working images, embedded as photocull embeds them
        cpu_works = [f.result() for f in cpu_futs]
        works[:n_cpu] = cpu_works
        embs.insert(0, backbone.embed_images(cpu_works, batch_size=args.batch))
        pool.shutdown()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    out = {"images": len(files), "seconds": dt, "images_per_s": len(files) / dt, "cpu_share": cpu_share, "decoder": decoder,
           "embeddings": int(sum(len(e) for e in embs))}
    if device.type == "cuda":
        out["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out | {"_works": works}


def series_scores(model, works: list[np.ndarray], files: list[Path], series: list[list[int]], device, args):
    """FGAesQ series scores from full-resolution frames, O(n) then exhaustive: the token sets
    built once per mode (CPU), then scored in float32 and bf16 (GPU); (row, figures) as each
    is measured."""
    import torch

    from photocull.model.official import SeriesPlan, forward_official, series_naming, thumbnail_similarity
    from photocull.model.series import choose_references

    decode_jpeg, _ = jpeg_decoder(device, args.tiny)
    pe = model.tower.visual.positional_embedding.detach().float().cpu()
    refs = {k: choose_references(thumbnail_similarity([works[i] for i in s])) for k, s in enumerate(series)}
    frames = sum(len(s) for s in series)
    dtypes = {"float32": torch.float32, "bf16": torch.bfloat16}
    for mode in ("reference", "exhaustive"):
        t0 = time.perf_counter()
        built = []
        for k, s in enumerate(series):
            name, numbers = series_naming([files[i] for i in s])
            plan = SeriesPlan.make(len(s), numbers, mode == "exhaustive", refs[k])
            sets = list(plan.token_sets(pe, [full_frame(files[i], device, decode_jpeg) for i in s], name))
            built.append((plan, sets))
        tok_s = time.perf_counter() - t0
        n_sets = sum(len(x) for _, x in built)
        yield f"FGAesQ {mode} tokens (CPU, full res)", {"seconds": tok_s, "token_sets": n_sets,
                                                        "s_per_frame": tok_s / frames, "frames": frames}
        scores = {}
        for name, dt in dtypes.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            got = []
            for plan, sets in built:
                sc = forward_official(model, [t for _, t in sets], batch_size=args.fgaesq_batch, device=device, dtype=dt)
                got.append(plan.finish({key: float(v) for (key, _), v in zip(sets, sc)}).scores)
            if device.type == "cuda":
                torch.cuda.synchronize()
            sec = time.perf_counter() - t0
            scores[name] = got
            row = {"seconds": sec, "passes": n_sets, "passes_per_s": n_sets / sec, "frames_per_s": frames / sec,
                   "s_per_frame_with_tokens": (tok_s + sec) / frames}
            if device.type == "cuda":
                row["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
            yield f"FGAesQ {mode} {name}", row
        a, b = np.concatenate(scores["float32"]), np.concatenate(scores["bf16"])
        same_top = [int(np.argmax(x) == np.argmax(y)) for x, y in zip(scores["float32"], scores["bf16"]) if len(x) > 1]
        yield f"FGAesQ {mode} bf16 vs float32", {
            "max_abs_diff": float(np.abs(a - b).max()) if len(a) else None,
            "pearson": float(np.corrcoef(a, b)[0, 1]) if len(a) > 1 and a.std() > 0 and b.std() > 0 else None,
            "same_top1_share": float(np.mean(same_top)) if same_top else None,
            "score_range_float32": [float(a.min()), float(a.max())] if len(a) else None,
        }


def orientation_check(files: list[Path], device, tiny: bool) -> dict[str, Any]:
    """The GPU path's full-resolution frame of every oriented file (and one upright) against
    photocull's own reading: they must be the same picture (nvJPEG and libjpeg may differ by a
    few levels, never by a turn)."""
    from photocull.model.official_tokens import load_image

    decode_jpeg, _ = jpeg_decoder(device, tiny)
    turned = [p for p in files if orientation(p) != 1]
    checked = turned[:3] + [p for p in files if orientation(p) == 1][:1]
    worst = 0.0
    for p in checked:
        gpu, cpu = full_frame(p, device, decode_jpeg)(), load_image(p)
        if gpu.shape != cpu.shape:
            return {"ok": False, "file": p.name, "gpu_shape": gpu.shape, "cpu_shape": cpu.shape}
        worst = max(worst, float(np.abs(gpu.astype(np.int16) - cpu).mean()))
    return {"ok": worst < 4.0, "files": len(checked), "oriented": len(turned[:3]), "mean_abs_diff_max": worst}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks gpu-path", description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--n", type=int, default=200, help="24 MP JPEGs in the shoot (default 200)")
    ap.add_argument("--tiny", action="store_true", help="CPU dry run: tiny models and images (proves the script, measures nothing)")
    ap.add_argument("--batch", type=int, default=32, help="nvJPEG decode and embedding batch")
    ap.add_argument("--fgaesq-batch", type=int, default=32, help="token sets per FGAesQ forward pass")
    ap.add_argument("--working", type=int, default=512, help="long side of the working image (photocull's default)")
    ap.add_argument("--cpu-share", type=float, default=0.3, help="share of files decoded by the CPU pool in the mixed row")
    ap.add_argument("--series-limit", type=int, default=3,
                    help="series scored by FGAesQ (full-resolution tokens are built on the CPU, ~1 s a 24 MP pair; default 3)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    import torch

    device = torch.device("cpu" if args.tiny else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --tiny for a CPU dry run")
    t_all = time.perf_counter()
    files, series = _shoot(args)
    for p in files:  # page cache warm for every row alike
        p.read_bytes()
    backbone, label, fgaesq = _models(args, str(device))
    res: dict[str, Any] = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu (dry run)" if args.tiny else "cpu",
                           "torch": torch.__version__, "images": len(files), "series": len(series), "backbone": label,
                           "fgaesq": "tiny (random)" if args.tiny else "ViT-B/16 FGAesQ (RANDOM weights: cost, not quality)",
                           "tiny": args.tiny, "rows": {}}
    out = args.out or (WORK / "gpu-path-tiny-dry-run.json" if args.tiny else ROOT / "benchmarks" / "results" / "gpu-path.json")
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(row: str) -> None:  # after every row: a run stopped at its time limit keeps what it measured
        res["seconds_total"] = time.perf_counter() - t_all
        out.write_text(json.dumps(res, indent=1, default=str))
        print(f"  {row:<38} " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in res["rows"][row].items()), flush=True)

    nv = decode_embed(files, backbone, device, args, 0.0)
    works = nv.pop("_works")
    res["rows"]["decode+embed (nvJPEG)"] = nv
    save("decode+embed (nvJPEG)")
    mixed = decode_embed(files, backbone, device, args, args.cpu_share)
    mixed.pop("_works")
    res["rows"]["decode+embed (CPU draft + nvJPEG)"] = mixed
    save("decode+embed (CPU draft + nvJPEG)")
    res["orientation_check"] = orientation_check(files, device, args.tiny)
    res["rows"]["orientation check"] = res["orientation_check"]
    save("orientation check")
    scored = series[: args.series_limit]
    res["fgaesq_series"] = {"series": len(scored), "frames": sum(len(s) for s in scored), "lengths": [len(s) for s in scored]}
    for row, r in series_scores(fgaesq, works, files, scored, device, args):
        res["rows"][row] = r
        save(row)
    _print(res)
    print(f"results: {out}")
    return res


def _print(res: dict[str, Any]) -> None:
    print(f"\nGPU path on {res['device']}, torch {res['torch']}: {res['images']} images, {res['series']} series; "
          f"backbone {res['backbone']}; FGAesQ {res['fgaesq']}")
    for name, r in res["rows"].items():
        parts = [f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()]
        print(f"  {name:<38} " + ", ".join(parts))
    print(f"total {res['seconds_total']:.1f} s" + ("  (--tiny: a dry run, the figures mean nothing)" if res["tiny"] else ""))


if __name__ == "__main__":
    main()
