"""Seeded synthetic shoots for the benchmarks (never the bundled sample shoot).

Two kinds:

* ``speed``: N camera-like JPEGs (default 200 at 24 MP, 6000x4000, quality 92) in bursts of
  3-8 with handheld jitter and the usual defects (focus/motion blur, exposure error, noise),
  about one burst in seven shot in portrait (EXIF Orientation 6). Content has natural-image
  statistics: 1/f ("fractal") fields for clouds, ridges and ground texture, hard-edged objects,
  a fine-detail layer and sensor grain, so JPEG sizes and decode costs look like a camera's
  (several MB per frame), not like flat test cards.
* ``grouping``: >= 300 frames (1600x1067) in >= 40 bursts with singletons between them, with
  edits HARDER than the sample shoot: zoom (1.0-1.6x), reframing/panning, exposure bracketing
  (+-2 EV), a subject moving across the frame, mixed edits, and pairs of look-alike bursts
  (same palette and layout, different scene) a few seconds apart. Ground truth in
  ``truth.json``: every file's series and the series' kind.

Every file carries EXIF Make/Model/DateTimeOriginal/SubSecTimeOriginal/Orientation (piexif) and
its mtime is set to the capture time. Generation is deterministic for a seed (each burst has
its own RNG derived from the seed, so the worker count does not matter), runs in a process
pool, and is cached under ``benchmarks/_work/`` (``truth.json`` is written last and marks a
complete set).

    python -m benchmarks.data speed --n 60          # prints the folder
    python -m benchmarks.data grouping
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import piexif
from PIL import Image, ImageFilter

from photocull.runtime import cpu_count as cores  # the CPUs this process may use

WORK = Path(__file__).resolve().parent / "_work"
VERSION = 3  # bump when the generator's output changes (invalidates the cache)
T0 = datetime(2026, 6, 14, 7, 30, 0, tzinfo=timezone.utc)
CAMERAS = [("Canon", "Canon EOS R6m2"), ("NIKON CORPORATION", "NIKON Z 6_2"), ("SONY", "ILCE-7M4"), ("FUJIFILM", "X-T5")]


# ----------------------------------------------------------------------------------------------
# Procedural scenes


def fbm(rng: np.random.Generator, h: int, w: int, beta: float) -> np.ndarray:
    """A zero-mean, unit-std 2-D field with a 1/f^beta power spectrum (natural images: beta ~ 2)."""
    fy = np.fft.fftfreq(h).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(w).astype(np.float32)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2.0)
    amp[0, 0] = 0.0
    spec = (rng.standard_normal(amp.shape, dtype=np.float32) + 1j * rng.standard_normal(amp.shape, dtype=np.float32)) * amp
    n = np.fft.irfft2(spec, s=(h, w)).astype(np.float32)
    return n / (n.std() + 1e-8)


def fbm1d(rng: np.random.Generator, n: int, beta: float = 2.0) -> np.ndarray:
    f = np.fft.rfftfreq(n)
    f[0] = 1.0
    amp = f ** (-beta / 2.0)
    amp[0] = 0.0
    x = np.fft.irfft((rng.standard_normal(amp.shape) + 1j * rng.standard_normal(amp.shape)) * amp, n=n)
    return (x / (x.std() + 1e-8)).astype(np.float32)


@dataclass(frozen=True)
class Style:
    """What look-alike scenes share: palette and layout (not the geometry)."""

    sky_top: tuple[float, float, float]
    sky_bottom: tuple[float, float, float]
    ground: tuple[float, float, float]
    ground2: tuple[float, float, float]
    ridge: tuple[float, float, float]
    horizon: float  # fraction of the height
    layers: int
    objects: str  # "trees", "rocks", "buildings"
    cloudiness: float


def make_style(rng: np.random.Generator) -> Style:
    def col(lo, hi):
        return tuple(float(v) for v in rng.uniform(lo, hi, 3))

    warm = rng.random() < 0.4
    sky_top = col(20, 90) if not warm else col(60, 140)
    sky_bottom = tuple(min(255.0, c + float(rng.uniform(60, 120))) for c in sky_top)
    if not warm:
        sky_top = (sky_top[0] * 0.6, sky_top[1] * 0.8, min(255.0, sky_top[2] * 1.8 + 40))
    return Style(
        sky_top=sky_top,
        sky_bottom=sky_bottom,
        ground=col(30, 130),
        ground2=col(50, 170),
        ridge=col(40, 120),
        horizon=float(rng.uniform(0.32, 0.62)),
        layers=int(rng.integers(1, 4)),
        objects=str(rng.choice(["trees", "rocks", "buildings"])),
        cloudiness=float(rng.uniform(0.0, 1.0)),
    )


def render_scene(style: Style, geom_seed: int, h: int, w: int) -> np.ndarray:
    """An HxWx3 float32 image (0..255): sky with clouds, ridges, textured ground, objects."""
    rng = np.random.default_rng(geom_seed)
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    img = np.empty((h, w, 3), np.float32)
    top, bot = np.array(style.sky_top, np.float32), np.array(style.sky_bottom, np.float32)
    t = np.clip(yy / max(style.horizon, 1e-3), 0, 1)[..., None]
    img[:] = top * (1 - t) + bot * t
    # clouds: a thresholded 1/f^3 field
    clouds = fbm(rng, h, w, 3.2)
    cover = np.clip((clouds - (1.2 - 1.6 * style.cloudiness)) * 0.8, 0, 1)[..., None]
    img = img * (1 - cover) + (np.float32(235) - 25 * clouds[..., None].clip(-1, 1)) * cover
    # ridges (far to near, hazier far away)
    texture = fbm(rng, h, w, 1.6)  # mid/fine texture, reused by ridges and ground
    rows = np.arange(h, dtype=np.float32)[:, None]
    ridge_col = np.array(style.ridge, np.float32)
    for k in range(style.layers):
        base = style.horizon - 0.12 * (style.layers - k) / style.layers
        line = (base + 0.06 * fbm1d(rng, w, 2.2) / (1 + k)) * h
        mask = rows >= line[None, :]
        haze = 0.55 * (style.layers - k) / style.layers
        col = ridge_col * (1 - haze) + bot * haze
        shade = col[None, None, :] * (1 + 0.12 * texture[..., None])
        img = np.where(mask[..., None], shade, img)
    # ground: low-frequency colour mix + texture
    g_low = fbm(rng, h, w, 2.6)
    mix = np.clip(0.5 + 0.35 * g_low, 0, 1)[..., None]
    gcol = np.array(style.ground, np.float32) * (1 - mix) + np.array(style.ground2, np.float32) * mix
    ground = gcol * (1 + 0.22 * texture[..., None]) * (0.75 + 0.45 * yy[..., None])
    gmask = (rows >= style.horizon * h)[..., None]
    img = np.where(gmask, ground, img)
    # objects with hard edges
    y, x = np.ogrid[0:h, 0:w]
    n_obj = int(rng.integers(6, 16))
    for _ in range(n_obj):
        cx = rng.uniform(0, w)
        cy = rng.uniform(style.horizon * h, h)
        s = rng.uniform(0.03, 0.12) * h * (0.5 + (cy / h))
        c = rng.uniform(10, 220, 3).astype(np.float32)
        x0, x1 = int(max(0, cx - s)), int(min(w, cx + s + 1))
        y0, y1 = int(max(0, cy - 2.5 * s)), int(min(h, cy + s + 1))
        if x1 <= x0 or y1 <= y0:
            continue
        sub_y, sub_x = y[y0:y1], x[:, x0:x1]
        if style.objects == "trees":
            trunk = (np.abs(sub_x - cx) < s * 0.08) & (sub_y > cy - s * 0.4) & (sub_y < cy)
            crown = (np.abs(sub_x - cx) < (sub_y - (cy - 2.4 * s)) * 0.45) & (sub_y < cy - s * 0.3)
            region = img[y0:y1, x0:x1]
            region[trunk] = np.array([70, 50, 30], np.float32)
            leaf = c * np.array([0.4, 1.0, 0.45], np.float32)
            region[crown] = leaf * (1 + 0.25 * texture[y0:y1, x0:x1][crown][:, None])
        elif style.objects == "rocks":
            m = ((sub_x - cx) / s) ** 2 + ((sub_y - cy) / (0.6 * s)) ** 2 < 1
            light = np.clip(1.1 - 0.5 * (sub_y - (cy - 0.6 * s)) / (1.2 * s) + 0.0 * sub_x, 0.4, 1.2)
            region = img[y0:y1, x0:x1]
            region[m] = (c * 0.7)[None, :] * light[m][:, None] * (1 + 0.3 * texture[y0:y1, x0:x1][m][:, None])
        else:
            bw, bh = s * 0.8, s * 2.2
            m = (np.abs(sub_x - cx) < bw) & (sub_y > cy - bh) & (sub_y < cy)
            win = m & (((sub_x - cx) % (s * 0.25)) < s * 0.1) & (((sub_y - cy) % (s * 0.3)) < s * 0.12)
            region = img[y0:y1, x0:x1]
            region[m] = c
            region[win] = np.array([240, 230, 170], np.float32) if rng.random() < 0.5 else np.array([30, 35, 45], np.float32)
    # fine detail everywhere (stronger on the ground): a 1/f^1 field
    fine = fbm(rng, h, w, 1.0)
    amp = np.where(gmask[..., 0], 9.0, 2.5).astype(np.float32)
    img += (fine * amp)[..., None]
    return img


def draw_subject(img: np.ndarray, cx: float, cy: float, size: float, color: tuple[float, float, float]) -> None:
    """A person-like figure (body, head, striped shirt) centred at (cx, cy) in pixel units, in place."""
    h, w = img.shape[:2]
    s = size
    x0, x1 = int(max(0, cx - s)), int(min(w, cx + s))
    y0, y1 = int(max(0, cy - 1.6 * s)), int(min(h, cy + 1.6 * s))
    if x1 <= x0 or y1 <= y0:
        return
    y, x = np.ogrid[y0:y1, x0:x1]
    body = ((x - cx) / (0.45 * s)) ** 2 + ((y - (cy + 0.3 * s)) / (1.1 * s)) ** 2 < 1
    head = (x - cx) ** 2 + (y - (cy - 1.15 * s)) ** 2 < (0.33 * s) ** 2
    stripes = body & ((((y - cy) / (0.18 * s)).astype(int) % 2) == 0)
    r = img[y0:y1, x0:x1]
    r[body] = np.array(color, np.float32)
    r[stripes] = np.array(color, np.float32) * 0.35
    r[head] = np.array([225, 180, 150], np.float32)


# ----------------------------------------------------------------------------------------------
# Frame edits


def expose(u8: np.ndarray, ev: float) -> np.ndarray:
    if abs(ev) < 1e-6:
        return u8
    v = np.arange(256, dtype=np.float64) / 255.0
    lut = np.clip(((v ** 2.2) * 2.0**ev) ** (1 / 2.2) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return lut[u8]


def motion_blur(img: np.ndarray, length: int, axis: int) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d

    return uniform_filter1d(img, size=max(1, length), axis=axis, mode="nearest")


_GRAIN: dict[int, np.ndarray] = {}


def grain_tile(seed: int = 7, size: int = 1024) -> np.ndarray:
    """A per-process tile of Gaussian sensor grain (int16, sigma 1), tiled over big frames."""
    if seed not in _GRAIN:
        _GRAIN[seed] = (np.random.default_rng(seed).standard_normal((size, size, 3), dtype=np.float32) * 16).astype(np.int16)
    return _GRAIN[seed]


def add_grain(u8: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add sensor grain of ``sigma`` (0..255 units) cheaply: a rolled, tiled grain field."""
    if sigma <= 0:
        return u8
    tile = grain_tile()
    h, w = u8.shape[:2]
    ty, tx = tile.shape[:2]
    oy, ox = int(rng.integers(0, ty)), int(rng.integers(0, tx))
    reps = (math.ceil((h + oy) / ty), math.ceil((w + ox) / tx), 1)
    g = np.tile(tile, reps)[oy : oy + h, ox : ox + w]
    out = u8.astype(np.int16)
    out += (g * int(round(sigma * 16)) >> 8).astype(np.int16)
    return np.clip(out, 0, 255).astype(np.uint8)


def exif_bytes(when: datetime, camera: tuple[str, str], orientation: int = 1) -> bytes:
    zeroth = {piexif.ImageIFD.Make: camera[0].encode(), piexif.ImageIFD.Model: camera[1].encode(), piexif.ImageIFD.Orientation: orientation}
    stamp = when.strftime("%Y:%m:%d %H:%M:%S").encode()
    exif = {
        piexif.ExifIFD.DateTimeOriginal: stamp,
        piexif.ExifIFD.SubSecTimeOriginal: f"{when.microsecond // 1000:03d}".encode(),
    }
    return piexif.dump({"0th": zeroth, "Exif": exif})


def save(path: Path, u8: np.ndarray, when: datetime, camera: tuple[str, str], orientation: int, quality: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(u8).save(path, "JPEG", quality=quality, exif=exif_bytes(when, camera, orientation), subsampling=0 if quality >= 95 else 2)
    ts = when.timestamp()
    os.utime(path, (ts, ts))
    return path.stat().st_size


# ----------------------------------------------------------------------------------------------
# Speed shoot


@dataclass
class SpeedFrame:
    name: str
    when: str  # ISO
    dx: int
    dy: int
    defect: str  # clean, focus_blur, motion_blur, over, under, noise
    amount: float


@dataclass
class SpeedBurst:
    index: int
    seed: int
    orientation: int
    camera: tuple[str, str]
    frames: list[SpeedFrame] = field(default_factory=list)


def plan_speed(n: int, seed: int) -> list[SpeedBurst]:
    rng = np.random.default_rng(seed)
    bursts: list[SpeedBurst] = []
    t = T0
    k = 0
    while k < n:
        size = int(min(n - k, rng.integers(3, 9)))
        b = SpeedBurst(len(bursts), int(rng.integers(1 << 31)), 6 if rng.random() < 0.15 else 1, CAMERAS[int(rng.integers(len(CAMERAS)))])
        clean = int(rng.integers(size))
        for j in range(size):
            defect = "clean" if j == clean else str(rng.choice(["clean", "focus_blur", "motion_blur", "over", "under", "noise"], p=[0.35, 0.15, 0.15, 0.1, 0.1, 0.15]))
            amount = float(rng.uniform(0.6, 1.0))
            b.frames.append(SpeedFrame(f"IMG_{k + 1:05d}.JPG", t.isoformat(), int(rng.integers(-12, 13)), int(rng.integers(-8, 9)), defect, amount))
            k += 1
            t += timedelta(seconds=float(rng.uniform(0.12, 0.9)))
        bursts.append(b)
        t += timedelta(seconds=float(rng.uniform(25, 240)))
    return bursts


def _render_speed_burst(args: tuple[SpeedBurst, Path, int, int, int]) -> list[tuple[str, int]]:
    b, out, width, height, quality = args
    rng = np.random.default_rng(b.seed)
    style = make_style(rng)
    # The scene is rendered at half the output size (plus a margin for jitter) and enlarged 2x;
    # a full-resolution fine-detail and grain layer restores camera-like high frequencies.
    lw, lh = width // 2, height // 2
    margin = 16
    scene = render_scene(style, int(rng.integers(1 << 31)), lh + 2 * margin, lw + 2 * margin)
    detail = fbm(np.random.default_rng(b.seed ^ 0x5EED), 1024, 1024, 0.6)
    detail = np.clip(detail * 6.0, -40, 40).astype(np.int16)
    written = []
    for f in b.frames:
        crop = scene[margin + f.dy : margin + f.dy + lh, margin + f.dx : margin + f.dx + lw]
        sharp = f.defect not in ("focus_blur", "motion_blur")
        if f.defect == "focus_blur":
            crop = np.asarray(Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2.5 * f.amount)))
        elif f.defect == "motion_blur":
            crop = motion_blur(np.clip(crop, 0, 255).astype(np.uint8), int(8 + 10 * f.amount), axis=1)
        small = Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8))
        big = np.asarray(small.resize((width, height), Image.Resampling.BICUBIC))
        if sharp:
            reps = (math.ceil(height / 1024), math.ceil(width / 1024))
            d = np.tile(detail, reps)[:height, :width]
            big = np.clip(big.astype(np.int16) + d[..., None], 0, 255).astype(np.uint8)
        if f.defect == "over":
            big = expose(big, 1.2 + 0.8 * f.amount)
        elif f.defect == "under":
            big = expose(big, -(1.2 + 0.8 * f.amount))
        sigma = 3.0 if f.defect != "noise" else 10.0 + 8.0 * f.amount
        big = add_grain(big, sigma, rng)
        # orientation 6 (portrait): pixels stay landscape, as a sensor reads them; EXIF says rotate
        size = save(out / f.name, big, datetime.fromisoformat(f.when), b.camera, b.orientation, quality)
        written.append((f.name, size))
    return written


def speed_shoot(n: int = 200, width: int = 6000, height: int = 4000, quality: int = 92, seed: int = 1, workers: int | None = None, quiet: bool = False) -> Path:
    """The folder of a speed shoot (generated on first use, cached)."""
    out = WORK / f"speed-n{n}-{width}x{height}-q{quality}-s{seed}-v{VERSION}"
    if (out / "truth.json").is_file():
        return out
    if out.exists():
        shutil.rmtree(out)
    plan = plan_speed(n, seed)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    jobs = [(b, tmp, width, height, quality) for b in plan]
    sizes: dict[str, int] = {}
    with ProcessPoolExecutor(max_workers=workers or cores()) as pool:
        for done in pool.map(_render_speed_burst, jobs):
            sizes.update(dict(done))
    truth = {
        "kind": "speed",
        "n": n,
        "size": [width, height],
        "quality": quality,
        "seed": seed,
        "version": VERSION,
        "bytes": sum(sizes.values()),
        "series": [[f.name for f in b.frames] for b in plan],
        "frames": {f.name: {"series": b.index, "defect": f.defect, "orientation": b.orientation} for b in plan for f in b.frames},
        "generation_s": round(time.perf_counter() - t0, 2),
    }
    (tmp / "truth.json").write_text(json.dumps(truth, indent=1))
    tmp.rename(out)
    if not quiet:
        print(f"generated {n} frames ({truth['bytes'] / 1e6:.0f} MB) in {truth['generation_s']} s -> {out}")
    return out


# ----------------------------------------------------------------------------------------------
# Grouping set

BURST_KINDS = ["jitter", "zoom", "pan", "bracket", "subject", "mixed", "lookalike"]


@dataclass
class GFrame:
    name: str
    when: str
    zoom: float = 1.0
    cx: float = 0.0  # view centre offset, fraction of the view width
    cy: float = 0.0
    ev: float = 0.0
    blur: float = 0.0
    subject: tuple[float, float] | None = None  # subject centre, fractions of the view


@dataclass
class GBurst:
    series: int
    kind: str
    style_seed: int
    geom_seed: int
    subject_color: tuple[float, float, float] = (200.0, 40.0, 40.0)
    frames: list[GFrame] = field(default_factory=list)


def plan_grouping(n_bursts: int, seed: int) -> list[GBurst]:
    rng = np.random.default_rng(seed)
    out: list[GBurst] = []
    t = T0
    k = 0

    def name() -> str:
        nonlocal k
        k += 1
        return f"DSC{k:05d}.JPG"

    def step(lo: float, hi: float) -> None:
        nonlocal t
        t += timedelta(seconds=float(rng.uniform(lo, hi)))

    kinds = [BURST_KINDS[i % len(BURST_KINDS)] for i in range(n_bursts)]
    rng.shuffle(kinds)
    i = 0
    while i < n_bursts:
        kind = kinds[i]
        pair = 2 if kind == "lookalike" else 1
        style_seed = int(rng.integers(1 << 31))
        for p in range(pair):
            size = int(rng.integers(3, 9))
            b = GBurst(len(out), kind, style_seed, int(rng.integers(1 << 31)), tuple(float(c) for c in rng.uniform(30, 230, 3)))
            sub_kind = str(rng.choice(["jitter", "zoom", "pan"])) if kind == "lookalike" else kind
            if kind == "bracket":
                size = 5 if rng.random() < 0.5 else 3
            z_end = float(rng.uniform(1.2, 1.6))
            pan_dir = np.array(rng.uniform(-1, 1, 2))
            pan_dir /= np.linalg.norm(pan_dir) + 1e-9
            pan_len = float(rng.uniform(0.08, 0.18))
            sx0, sx1 = (0.15, 0.85) if rng.random() < 0.5 else (0.85, 0.15)
            sy = float(rng.uniform(0.55, 0.75))
            for j in range(size):
                u = j / max(1, size - 1)
                f = GFrame(name(), t.isoformat(), cx=float(rng.normal(0, 0.006)), cy=float(rng.normal(0, 0.006)))
                if sub_kind == "zoom" or kind == "mixed":
                    f.zoom = 1.0 + (z_end - 1.0) * u if sub_kind == "zoom" else float(rng.uniform(1.0, 1.35))
                if sub_kind == "pan" or kind == "mixed":
                    f.cx += float(pan_dir[0] * pan_len * (u - 0.5))
                    f.cy += float(pan_dir[1] * pan_len * 0.5 * (u - 0.5))
                if kind == "bracket":
                    f.ev = [-2.0, 0.0, 2.0][j] if size == 3 else [-2.0, -1.0, 0.0, 1.0, 2.0][j]
                if kind == "mixed":
                    f.ev = float(rng.choice([-1.0, 0.0, 0.0, 1.0]))
                if kind == "subject":
                    f.subject = (sx0 + (sx1 - sx0) * u, sy)
                if rng.random() < 0.12 and kind != "bracket":
                    f.blur = float(rng.uniform(1.5, 3.5))
                b.frames.append(f)
                step(0.15, 0.3) if kind == "bracket" else step(0.2, 1.6)
            out.append(b)
            if p == 0 and pair == 2:
                step(2.0, 6.0)  # the look-alike scene follows a few seconds later
        i += 1
        # singletons and pauses between bursts: often short, so time alone cannot split
        for _ in range(int(rng.choice([0, 1, 1, 2]))):
            step(1.5, 12.0) if rng.random() < 0.5 else step(15, 90)
            b = GBurst(len(out), "single", int(rng.integers(1 << 31)), int(rng.integers(1 << 31)))
            b.frames.append(GFrame(name(), t.isoformat(), cx=float(rng.normal(0, 0.006))))
            out.append(b)
        step(1.5, 10.0) if rng.random() < 0.4 else step(20, 150)
    return out


def _render_group_burst(args: tuple[GBurst, Path, int, int, int]) -> list[tuple[str, int]]:
    b, out, width, height, quality = args
    rng = np.random.default_rng(b.geom_seed ^ 0xA5A5)
    style = make_style(np.random.default_rng(b.style_seed))
    cw, ch = int(width * 1.25), int(height * 1.25)
    scene = render_scene(style, b.geom_seed, ch, cw)
    camera = CAMERAS[b.style_seed % len(CAMERAS)]
    written = []
    for f in b.frames:
        img = scene
        if f.subject is not None:
            img = scene.copy()
            # subject position given in view fractions of the unzoomed, centred view
            vx0, vy0 = (cw - width) / 2, (ch - height) / 2
            draw_subject(img, vx0 + f.subject[0] * width, vy0 + f.subject[1] * height, 0.11 * height, b.subject_color)
        vw, vh = width / f.zoom, height / f.zoom
        cx = cw / 2 + f.cx * width
        cy = ch / 2 + f.cy * height
        cx = min(max(cx, vw / 2), cw - vw / 2)
        cy = min(max(cy, vh / 2), ch - vh / 2)
        box = (cx - vw / 2, cy - vh / 2, cx + vw / 2, cy + vh / 2)
        u8 = np.clip(img, 0, 255).astype(np.uint8)
        pil = Image.fromarray(u8).resize((width, height), Image.Resampling.BILINEAR, box=box, reducing_gap=None)
        if f.blur > 0:
            pil = pil.filter(ImageFilter.GaussianBlur(f.blur))
        a = expose(np.asarray(pil), f.ev)
        a = add_grain(a, 2.5, rng)
        size = save(out / f.name, a, datetime.fromisoformat(f.when), camera, 1, quality)
        written.append((f.name, size))
    return written


def grouping_set(n_bursts: int = 48, width: int = 1600, height: int = 1067, quality: int = 92, seed: int = 2, workers: int | None = None, quiet: bool = False) -> Path:
    out = WORK / f"grouping-b{n_bursts}-{width}x{height}-s{seed}-v{VERSION}"
    if (out / "truth.json").is_file():
        return out
    plan = plan_grouping(n_bursts, seed)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    sizes: dict[str, int] = {}
    with ProcessPoolExecutor(max_workers=workers or cores()) as pool:
        for done in pool.map(_render_group_burst, [(b, tmp, width, height, quality) for b in plan]):
            sizes.update(dict(done))
    truth = {
        "kind": "grouping",
        "seed": seed,
        "version": VERSION,
        "size": [width, height],
        "n_frames": sum(len(b.frames) for b in plan),
        "n_series": len(plan),
        "n_bursts": sum(1 for b in plan if b.kind != "single"),
        "kinds": {k: sum(1 for b in plan if b.kind == k) for k in BURST_KINDS + ["single"]},
        "series": [{"kind": b.kind, "files": [f.name for f in b.frames]} for b in plan],
        "frames": {f.name: {"series": b.series, "kind": b.kind, **{k: v for k, v in asdict(f).items() if k not in ("name",)}} for b in plan for f in b.frames},
        "generation_s": round(time.perf_counter() - t0, 2),
    }
    (tmp / "truth.json").write_text(json.dumps(truth, indent=1))
    tmp.rename(out)
    if not quiet:
        print(f"generated grouping set: {truth['n_frames']} frames, {truth['n_bursts']} bursts, {truth['n_series']} series in {truth['generation_s']} s -> {out}")
    return out


# ----------------------------------------------------------------------------------------------
# Scale sets: many small, distinct frames (hard-linked subsets share one pool of files)


def _render_small(args: tuple[int, int, Path, int, int, int]) -> None:
    start, stop, out, width, height, seed = args
    rng = np.random.default_rng([seed, start])
    style = None
    scene = None
    t = T0 + timedelta(seconds=start * 3.0)
    for k in range(start, stop):
        if k % 5 == 0 or scene is None:  # a new scene every 5 frames (bursts of 5)
            style = make_style(rng)
            scene = render_scene(style, int(rng.integers(1 << 31)), height + 8, width + 8)
            if k % 5 == 0:
                t += timedelta(seconds=60)
        dx, dy = int(rng.integers(0, 9)), int(rng.integers(0, 9))
        u8 = np.clip(scene[dy : dy + height, dx : dx + width], 0, 255).astype(np.uint8)
        u8 = add_grain(u8, 2.5, rng)
        t += timedelta(seconds=0.5)
        save(out / f"S{k:06d}.JPG", u8, t, CAMERAS[0], 1, 90)


def scale_pool(n: int, width: int = 640, height: int = 427, seed: int = 3, workers: int | None = None, quiet: bool = False) -> Path:
    out = WORK / f"scalepool-n{n}-{width}x{height}-s{seed}-v{VERSION}"
    if (out / "done").is_file():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    step = 250
    jobs = [(s, min(n, s + step), out, width, height, seed) for s in range(0, n, step)]
    with ProcessPoolExecutor(max_workers=workers or cores()) as pool:
        list(pool.map(_render_small, jobs))
    (out / "done").write_text(str(round(time.perf_counter() - t0, 2)))
    if not quiet:
        print(f"generated {n} small frames in {time.perf_counter() - t0:.1f} s -> {out}")
    return out


def scale_subset(pool: Path, n: int) -> Path:
    """A folder with the first ``n`` files of ``pool`` (hard links: no copy, no new pixels)."""
    out = pool.with_name(f"{pool.name}-first{n}")
    names = sorted(p.name for p in pool.glob("*.JPG"))[:n]
    if out.is_dir() and len(list(out.glob("*.JPG"))) == n:
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for name in names:
        try:
            os.link(pool / name, out / name)
        except OSError:
            shutil.copy2(pool / name, out / name)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["speed", "grouping", "scale"])
    ap.add_argument("--n", type=int, default=None, help="speed: frames (200); grouping: bursts (48); scale: files (10000)")
    ap.add_argument("--width", type=int, default=None)
    ap.add_argument("--height", type=int, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--workers", type=int, default=None)
    a = ap.parse_args(argv)
    if a.kind == "speed":
        print(speed_shoot(a.n or 200, a.width or 6000, a.height or 4000, seed=a.seed or 1, workers=a.workers))
    elif a.kind == "grouping":
        print(grouping_set(a.n or 48, a.width or 1600, a.height or 1067, seed=a.seed or 2, workers=a.workers))
    else:
        print(scale_pool(a.n or 10000, a.width or 640, a.height or 427, seed=a.seed or 3, workers=a.workers))


if __name__ == "__main__":
    main()
