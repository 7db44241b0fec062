"""Bursts rendered from real photographs, one physically modelled defect per non-best frame.

Why real photographs: synthetic scenes have clean edges and flat fills, where every
sharpness measure works; real photos have texture, bokeh, grain and highlights, where
clipped edges and noise pass for detail. Source: Debian's ``lomiri-wallpapers-16.04``
(13 camera photographs, CC-BY-4.0 / CC-BY-SA-4.0 / CC0, see its copyright file),
fetched with ``apt-get download`` when not already unpacked.

Every defect is applied in linear light at the output size, so it behaves like the
camera would: exposure scales photons and clips at the sensor's white, noise is shot
(Poisson, signal-dependent) plus read noise, defocus is a disk or Gaussian PSF, motion a
line PSF at any angle; heavy JPEG re-compression is the one defect in sRGB.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import piexif
from PIL import Image

PACKAGE = "lomiri-wallpapers-16.04"
UNPACKED = Path("/work/data/lomiri")  # where this machine keeps it unpacked (optional)
CACHE = Path(__file__).resolve().parent / "_work"
BACKGROUNDS = "usr/share/backgrounds"
NOT_PHOTOS = ("umang",)  # a graphic, not a photograph
FAMILIES = ("defocus", "motion", "over", "under", "noise", "jpeg")

# Defect strengths at the output size. Subtle is what a photographer still sees at 100 %:
# defocus sigma ~1 px, 3-4 px of shake, 0.6-1 EV, light noise, a low-quality re-save.
LEVELS = {
    "strong": {
        "defocus_sigma": (2.0, 3.0), "disk_radius": (3.0, 4.5), "motion_px": (9.0, 15.0),
        "over_ev": (1.3, 2.0), "under_ev": (1.5, 2.2), "full_well": (80.0, 200.0), "read_e": 3.0,
        "jpeg_q": (8, 14),
    },
    "subtle": {
        "defocus_sigma": (0.9, 1.2), "disk_radius": (1.3, 1.7), "motion_px": (3.0, 4.5),
        "over_ev": (0.6, 1.0), "under_ev": (0.6, 1.0), "full_well": (1000.0, 2000.0), "read_e": 2.0,
        "jpeg_q": (25, 35),
    },
}


def photo_dir() -> Path:
    """The unpacked wallpapers, fetched into benchmarks/_work/ when not on this machine."""
    for root in (UNPACKED, CACHE / "lomiri"):
        d = root / BACKGROUNDS
        if d.is_dir() and any(d.glob("*.jpg")):
            return d
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, check=True, capture_output=True)
        (deb,) = Path(tmp).glob("*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(CACHE / "lomiri")], check=True)
    return CACHE / "lomiri" / BACKGROUNDS


def find_photo_dir() -> Path | None:
    """Like :func:`photo_dir` but never fetches (for tests: skip when absent)."""
    for root in (UNPACKED, CACHE / "lomiri"):
        d = root / BACKGROUNDS
        if d.is_dir() and any(d.glob("*.jpg")):
            return d
    return None


def photos(d: Path) -> list[Path]:
    return sorted(p for p in d.glob("*.jpg") if not any(p.name.startswith(x) for x in NOT_PHOTOS))


def split(paths: list[Path], offset: int = 0) -> tuple[list[Path], list[Path]]:
    """Calibration = every third photo by name (from ``offset``), held out = the rest (by source photo).

    Offset 0 is the split the scorer was calibrated on; 1 and 2 are the other thirds, to
    show that figures on held-out photos do not hang on which photos were held out.
    """
    return [p for i, p in enumerate(paths) if i % 3 == offset], [p for i, p in enumerate(paths) if i % 3 != offset]


# ---------------------------------------------------------------------------------------------
# Linear light


def to_linear(u8: np.ndarray) -> np.ndarray:
    x = u8.astype(np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def to_srgb(lin: np.ndarray) -> np.ndarray:
    x = np.clip(lin, 0.0, 1.0)
    y = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.clip(np.round(y * 255.0), 0, 255).astype(np.uint8)


def _convolve(lin: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    from scipy.signal import oaconvolve

    kernel = (kernel / kernel.sum()).astype(np.float32)
    p = kernel.shape[0] // 2
    padded = np.pad(lin, ((p, p), (p, p), (0, 0)), mode="reflect")
    return np.stack([oaconvolve(padded[..., c], kernel, mode="valid") for c in range(lin.shape[2])], axis=-1)


def disk_psf(radius: float) -> np.ndarray:
    """A defocus disk, anti-aliased by 4x supersampling."""
    r = int(math.ceil(radius)) + 1
    ss = 4
    y, x = np.mgrid[-r : r + 1 : 1 / ss, -r : r + 1 : 1 / ss][:, : (2 * r + 1) * ss, : (2 * r + 1) * ss]
    inside = ((x + 0.5 / ss) ** 2 + (y + 0.5 / ss) ** 2 <= radius * radius).astype(np.float32)
    return inside.reshape(2 * r + 1, ss, 2 * r + 1, ss).mean(axis=(1, 3))


def gaussian_psf(sigma: float) -> np.ndarray:
    r = int(math.ceil(3.5 * sigma))
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return np.exp(-(x * x + y * y) / (2 * sigma * sigma)).astype(np.float32)


def line_psf(length: float, angle_deg: float) -> np.ndarray:
    """Camera shake during the exposure: a straight line of ``length`` px at ``angle_deg``."""
    r = int(math.ceil(length / 2)) + 1
    k = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
    a = math.radians(angle_deg)
    for t in np.linspace(-length / 2, length / 2, int(length * 8) + 1):
        x, y = r + t * math.cos(a), r - t * math.sin(a)
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0
        for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            if 0 <= y0 + dy < k.shape[0] and 0 <= x0 + dx < k.shape[1]:
                k[y0 + dy, x0 + dx] += w
    return k


def jpeg_resave(u8: np.ndarray, ranges: dict, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A re-save at a quality drawn from ``ranges["jpeg_q"]`` (the one defect made in sRGB)."""
    q = int(rng.integers(ranges["jpeg_q"][0], ranges["jpeg_q"][1] + 1))
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(buf).convert("RGB")), {"quality": q}


def blur(lin: np.ndarray, family: str, ranges: dict, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Defocus (a Gaussian or a disk PSF, even odds) or shake (a line PSF at any angle), in linear light."""
    u = lambda lo_hi: float(rng.uniform(*lo_hi))  # noqa: E731
    if family == "defocus":
        if rng.random() < 0.5:
            s = u(ranges["defocus_sigma"])
            return _convolve(lin, gaussian_psf(s)), {"psf": "gaussian", "sigma_px": round(s, 2)}
        r = u(ranges["disk_radius"])
        return _convolve(lin, disk_psf(r)), {"psf": "disk", "radius_px": round(r, 2)}
    n, a = u(ranges["motion_px"]), float(rng.uniform(0, 180))
    return _convolve(lin, line_psf(n, a)), {"length_px": round(n, 2), "angle_deg": round(a, 1)}


def poisson_gauss(lin: np.ndarray, full_well: float, read_e: float, rng: np.random.Generator) -> np.ndarray:
    """Shot noise (Poisson in electrons, ``full_well`` at white) plus read noise, in linear light."""
    electrons = rng.poisson(np.clip(lin, 0, 1) * full_well).astype(np.float32)
    electrons += rng.normal(0.0, read_e, size=lin.shape).astype(np.float32)
    return electrons / full_well


def apply_defect(u8: np.ndarray, family: str, level: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """One defect on an sRGB frame, modelled in linear light; returns the frame and its parameters."""
    L = LEVELS[level]
    u = lambda lo_hi: float(rng.uniform(*lo_hi))  # noqa: E731
    if family == "jpeg":
        return jpeg_resave(u8, L, rng)
    lin = to_linear(u8)
    if family in ("defocus", "motion"):
        lin, p = blur(lin, family, L, rng)
    elif family in ("over", "under"):
        ev = u(L[f"{family}_ev"]) * (1 if family == "over" else -1)
        lin, p = lin * 2.0**ev, {"ev": round(ev, 2)}  # clipping happens at the sensor's white below
    elif family == "noise":
        fw = u(L["full_well"])  # electrons at white: small = high ISO
        lin, p = poisson_gauss(lin, fw, L["read_e"], rng), {"full_well_e": round(fw, 1), "read_e": L["read_e"]}
    else:
        raise ValueError(family)
    return to_srgb(lin), p


# ---------------------------------------------------------------------------------------------
# Bursts


@dataclass
class PlannedFrame:
    name: str
    when: str
    family: str  # "" for the clean (best) frame
    dx: float
    dy: float
    rot_deg: float
    zoom: float
    params: dict = field(default_factory=dict)


@dataclass
class PlannedBurst:
    id: str
    photo: str
    crop: tuple[float, float, float]  # centre x, centre y (0..1), fraction of the photo kept
    frames: list[PlannedFrame]
    best: str


def plan_shoot(photo_paths: list[Path], level: str, seed: int, bursts_per_photo: int = 2, start: datetime = datetime(2025, 5, 3, 9, 0, 0)) -> list[PlannedBurst]:
    """Bursts of 3-7 frames, frames 0.1-0.6 s apart, bursts minutes apart; families balanced."""
    rng = np.random.default_rng(seed)
    bag: list[str] = []
    when = start
    out, k = [], 0
    for bi in range(bursts_per_photo):
        for p in photo_paths:
            n = int(rng.integers(3, 8))
            fams = []
            for _ in range(n - 1):
                if not bag:
                    bag = list(rng.permutation(FAMILIES))
                fams.append(bag.pop())
            best_at = int(rng.integers(0, n))
            fams.insert(best_at, "")
            crop = (0.5, 0.5, 1.0) if bi == 0 else (float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.35, 0.65)), 0.6)
            frames = []
            zoom_step = float(rng.uniform(-0.008, 0.008))  # slow optical zoom through the burst
            for i, fam in enumerate(fams):
                k += 1
                frames.append(PlannedFrame(
                    name=f"IMG_{k:04d}.JPG", when=when.isoformat(timespec="milliseconds"), family=fam,
                    dx=float(rng.normal(0, 8)), dy=float(rng.normal(0, 8)), rot_deg=float(rng.normal(0, 0.4)),
                    zoom=1.0 + zoom_step * i,
                ))
                when += timedelta(milliseconds=int(rng.integers(100, 601)))
            out.append(PlannedBurst(f"{p.stem}#{bi}", p.name, crop, frames, frames[best_at].name))
            when += timedelta(minutes=int(rng.integers(3, 12)), seconds=int(rng.integers(0, 60)))
    return out


def canvas(photo: Path, crop: tuple[float, float, float], long_side: int, margin: float = 1.2) -> Image.Image:
    """The photo's crop, downscaled (LANCZOS, draft-free) to ``margin`` x the output size."""
    im = Image.open(photo)
    im = im.convert("RGB")
    W, H = im.size
    cx, cy, f = crop
    w, h = W * f, H * f
    box = (cx * W - w / 2, cy * H - h / 2, cx * W + w / 2, cy * H + h / 2)
    box = tuple(int(round(v)) for v in (max(box[0], 0), max(box[1], 0), min(box[2], W), min(box[3], H)))
    im = im.crop(box)
    s = long_side * margin / max(im.size)
    return im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.Resampling.LANCZOS, reducing_gap=3.0)


def frame_view(cv: Image.Image, fr: PlannedFrame, long_side: int, margin: float = 1.2) -> np.ndarray:
    """A handheld frame: jitter, small rotation, zoom, as an affine window of the canvas."""
    W, H = cv.size
    ow, oh = (long_side, round(long_side * H / W)) if W >= H else (round(long_side * W / H), long_side)
    scale = 1.0 / (fr.zoom)  # canvas px per output px (canvas is already margin x)
    a = math.radians(fr.rot_deg)
    ca, sa = math.cos(a) * scale, math.sin(a) * scale
    cx, cy = W / 2 + fr.dx, H / 2 + fr.dy
    # output (x, y) -> canvas: centre-relative rotation + scale
    ox, oy = ow / 2, oh / 2
    coeffs = (ca, -sa, cx - ca * ox + sa * oy, sa, ca, cy - sa * ox - ca * oy)
    return np.asarray(cv.transform((ow, oh), Image.Transform.AFFINE, coeffs, Image.Resampling.BICUBIC))


def exif_bytes(when: datetime, orientation: int = 1, model: str = "Bench Cam") -> bytes:
    stamp = when.strftime("%Y:%m:%d %H:%M:%S").encode()
    return piexif.dump({
        "0th": {piexif.ImageIFD.Make: b"PHOTOCULL", piexif.ImageIFD.Model: model.encode(), piexif.ImageIFD.Orientation: orientation},
        "Exif": {
            piexif.ExifIFD.DateTimeOriginal: stamp,
            piexif.ExifIFD.SubSecTimeOriginal: f"{when.microsecond // 1000:03d}".encode(),
        },
    })


def render_burst(args: tuple) -> list[dict]:
    """Render one burst to ``out``; returns per-frame truth rows."""
    b, photo_root, out, level, long_side, quality, seed = args
    b = PlannedBurst(**b) if isinstance(b, dict) else b
    frames = [PlannedFrame(**f) if isinstance(f, dict) else f for f in b.frames]
    rng = np.random.default_rng(seed)
    cv = canvas(Path(photo_root) / b.photo, tuple(b.crop), long_side)
    rows = []
    for fr in frames:
        u8 = frame_view(cv, fr, long_side)
        params = {}
        if fr.family:
            u8, params = apply_defect(u8, fr.family, level, rng)
        when = datetime.fromisoformat(fr.when)
        path = Path(out) / fr.name
        Image.fromarray(u8).save(path, "JPEG", quality=quality, exif=exif_bytes(when))
        ts = when.timestamp()
        os.utime(path, (ts, ts))
        rows.append({"file": fr.name, "burst": b.id, "photo": b.photo, "family": fr.family, "best": fr.name == b.best, "params": params})
    return rows


def render_shoot(photo_root: Path, paths: list[Path], level: str, out: Path, long_side: int = 2000, quality: int = 92, seed: int = 13, bursts_per_photo: int = 2, workers: int = 2) -> list[dict]:
    """Render (or reuse, when the plan matches) one shoot; returns the truth rows."""
    import json

    plan = plan_shoot(paths, level, seed, bursts_per_photo)
    key = {"level": level, "long_side": long_side, "quality": quality, "seed": seed, "plan": [asdict(b) for b in plan], "version": 1}
    key = json.loads(json.dumps(key))  # as it reads back (tuples become lists)
    jobs = [(asdict(b), str(photo_root), str(out / "shoot"), level, long_side, quality, seed * 1000 + i) for i, b in enumerate(plan)]
    return cached_render(out, key, jobs, render_burst, workers)


def cached_render(out: Path, key: dict, jobs: list[tuple], render_one, workers: int) -> list[dict]:
    """The truth rows of the shoot in ``out``: read back when it was rendered with the same
    ``key`` (a JSON-ready dict), else rendered afresh (``render_one(job)`` per burst, in
    ``workers`` processes) into ``out/shoot``."""
    import json

    stamp = out / "truth.json"
    if stamp.exists():
        old = json.loads(stamp.read_text())
        if old.get("key") == key:
            return old["rows"]
    if out.exists():
        shutil.rmtree(out)
    (out / "shoot").mkdir(parents=True)
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as ex:
            rows = [r for rs in ex.map(render_one, jobs) for r in rs]
    else:
        rows = [r for j in jobs for r in render_one(j)]
    stamp.write_text(json.dumps({"key": key, "rows": rows}))
    return rows
