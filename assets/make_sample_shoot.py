"""Build the bundled sample shoot in ``assets/sample_shoot/`` and its ground truth.

Why: photocull needs a small, redistributable shoot to demo the CLI and to test grouping and
picking end to end. Real shoots cannot be shipped (licences, size), so this script fakes one
from scikit-image's bundled public-domain / CC0 photos: several bursts of near-identical frames
(handheld jitter: integer shifts, small rotations) where every frame but one carries a known
defect (motion blur, focus blur, exposure error with clipping, heavy noise), plus unrelated
single frames. Because the defects are applied here, the best frame of every burst is known
exactly and written to ``assets/sample_shoot_truth.json``.

Run:  python assets/make_sample_shoot.py   (needs scikit-image, which ships the source photos)

The output is deterministic (fixed seeds, fixed EXIF, no wall-clock time): running it twice
gives byte-identical files. It deletes and rewrites ``assets/sample_shoot/`` every time.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import piexif
from PIL import Image, ImageFilter
from scipy import ndimage
from skimage import data as skdata

ASSETS = Path(__file__).resolve().parent
OUT_DIR = ASSETS / "sample_shoot"
TRUTH_PATH = ASSETS / "sample_shoot_truth.json"

SEED = 20240615
JPEG_QUALITY = 90

# Defect names used in the ground truth.
CLEAN = "clean"
MOTION = "motion_blur"
FOCUS = "focus_blur"
OVER = "overexposed"
UNDER = "underexposed"
NOISE = "noise"


# --------------------------------------------------------------------------------------------
# Scenes: a source image, the crop of it that the "camera" sees, and the output size.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    name: str  # scikit-image loader name (skimage.data.<name>)
    crop: tuple[float, float, float, float]  # (left, top, right, bottom) as fractions of source
    size: tuple[int, int]  # upright output size (width, height)


SCENES = {
    "astronaut": Scene("astronaut", (0.0, 0.0, 1.0, 0.75), (1400, 1050)),
    "chelsea": Scene("chelsea", (0.0, 0.0, 1.0, 1.0), (1350, 898)),
    "coffee": Scene("coffee", (0.0, 0.0, 1.0, 1.0), (1500, 1000)),
    # portrait crop around the rocket; the burst is shot with the camera turned (Orientation 6)
    "rocket": Scene("rocket", (0.278, 0.0, 0.722, 1.0), (800, 1200)),
    "hubble_deep_field": Scene("hubble_deep_field", (0.0, 0.0, 1.0, 0.86), (1400, 1050)),
    # singletons
    "camera": Scene("camera", (0.0, 0.0, 0.75, 1.0), (900, 1200)),
    "grass": Scene("grass", (0.0, 0.0, 1.0, 0.75), (1200, 900)),
    "retina": Scene("retina", (0.0, 0.125, 1.0, 0.875), (1400, 1050)),
}


# --------------------------------------------------------------------------------------------
# The shoot plan: every burst lists its frames' defects in capture order; exactly one is CLEAN.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Camera:
    make: str
    model: str


CAM_A = Camera("PHOTOCULL", "Sample Cam")
CAM_B = Camera("PHOTOCULL", "Sample Cam II")


@dataclass
class Shot:
    """One planned capture: a burst (several frames) or a singleton (one frame)."""

    id: str
    scene: str
    start: datetime  # capture time of the first frame
    defects: list[tuple[str, ...]]  # per frame; (CLEAN,) for the one clean frame
    camera: Camera = CAM_A
    orientation: int = 1  # EXIF orientation of every frame of the shot (1, 6 or 8)
    folder: str = ""  # subfolder of sample_shoot/
    frames: list[str] = field(default_factory=list)  # filled in when written


DAY1 = datetime(2024, 6, 15)
DAY2 = datetime(2024, 6, 16)

SHOTS = [
    Shot("camera", "camera", DAY1.replace(hour=9, minute=58, second=12),
         [(CLEAN,)], orientation=8),
    Shot("astronaut", "astronaut", DAY1.replace(hour=10, minute=2, second=3),
         [(MOTION,), (FOCUS,), (CLEAN,), (OVER,), (NOISE,)]),
    Shot("chelsea", "chelsea", DAY1.replace(hour=10, minute=5, second=40),
         [(FOCUS,), (NOISE, UNDER), (MOTION,), (CLEAN,)]),
    # starts ~5 s after the chelsea burst ends: close in time, different scene
    Shot("coffee", "coffee", DAY1.replace(hour=10, minute=5, second=47),
         [(OVER,), (CLEAN,), (MOTION,), (NOISE,), (FOCUS,), (UNDER,)]),
    Shot("grass", "grass", DAY1.replace(hour=10, minute=9, second=31), [(CLEAN,)]),
    Shot("rocket", "rocket", DAY1.replace(hour=10, minute=14, second=5),
         [(MOTION,), (MOTION, OVER), (FOCUS,), (NOISE,), (CLEAN,), (UNDER,), (FOCUS, NOISE)],
         orientation=6),
    Shot("retina", "retina", DAY2.replace(hour=14, minute=20, second=44), [(CLEAN,)],
         camera=CAM_B, folder="day2"),
    Shot("hubble", "hubble_deep_field", DAY2.replace(hour=14, minute=25, second=9),
         [(CLEAN,), (MOTION,), (OVER, NOISE)], camera=CAM_B, folder="day2"),
]


# --------------------------------------------------------------------------------------------
# Image helpers (float images are linear-light RGB in 0..1 unless said otherwise)
# --------------------------------------------------------------------------------------------


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def margin_for(size: tuple[int, int]) -> int:
    """Canvas margin around the frame: room for shifts (<= 16 px) and rotations (<= 2 deg)."""
    half_diag = math.hypot(*size) / 2
    return int(math.ceil(half_diag * math.radians(2.0))) + 16 + 4


def load_canvas(scene: Scene) -> Image.Image:
    """The scene at output scale plus a margin on every side (sRGB, RGB mode)."""
    src = getattr(skdata, scene.name)()
    img = Image.fromarray(src).convert("RGB")
    w, h = img.size
    l, t, r, b = scene.crop
    img = img.crop((round(l * w), round(t * h), round(r * w), round(b * h)))
    m = margin_for(scene.size)
    cw, ch = scene.size[0] + 2 * m, scene.size[1] + 2 * m
    # scale to cover the canvas, keep the aspect ratio, centre-crop the excess
    scale = max(cw / img.width, ch / img.height)
    sw, sh = math.ceil(img.width * scale), math.ceil(img.height * scale)
    img = img.resize((sw, sh), Image.Resampling.LANCZOS)
    x0, y0 = (sw - cw) // 2, (sh - ch) // 2
    img = img.crop((x0, y0, x0 + cw, y0 + ch))
    # a mild unsharp mask so the upscaled scene looks like a crisp photo (same for every frame)
    return img.filter(ImageFilter.UnsharpMask(radius=2, percent=60, threshold=2))


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """Normalised line kernel: camera shake of ``length`` px in direction ``angle_deg``."""
    n = int(math.ceil(length)) | 1
    k = np.zeros((n + 2, n + 2), np.float64)
    c = (n + 1) / 2
    dx, dy = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    for s in np.linspace(-length / 2, length / 2, 4 * n):
        x, y = c + s * dx, c + s * dy
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0  # bilinear splat keeps the line smooth at any angle
        k[y0, x0] += (1 - fx) * (1 - fy)
        k[y0, x0 + 1] += fx * (1 - fy)
        k[y0 + 1, x0] += (1 - fx) * fy
        k[y0 + 1, x0 + 1] += fx * fy
    return k / k.sum()


def per_channel(img: np.ndarray, fn) -> np.ndarray:
    return np.stack([fn(img[..., c]) for c in range(img.shape[-1])], axis=-1)


def render_frame(canvas: Image.Image, scene: Scene, defects: tuple[str, ...],
                 rng: np.random.Generator) -> tuple[Image.Image, dict]:
    """One upright frame of ``scene`` with handheld jitter and the given defects."""
    w, h = scene.size
    m = margin_for(scene.size)
    params: dict = {}

    # handheld jitter: an integer shift for every frame, a small rotation for defective ones
    dx, dy = (int(v) for v in rng.integers(-16, 17, size=2))
    params["shift_px"] = [dx, dy]
    img = canvas
    if CLEAN not in defects and rng.random() < 0.6:
        angle = float(rng.uniform(0.4, 2.0) * rng.choice([-1, 1]))
        params["rotate_deg"] = round(angle, 2)
        img = img.rotate(angle, resample=Image.Resampling.BICUBIC)
    left, top = m + dx, m + dy
    img = img.crop((left, top, left + w, top + h))

    lin = srgb_to_linear(np.asarray(img, np.float64) / 255.0)
    if MOTION in defects:
        length = float(rng.uniform(8.0, 16.0))
        angle = float(rng.uniform(0.0, 180.0))
        params["motion_blur_px"] = round(length, 1)
        params["motion_blur_angle_deg"] = round(angle, 1)
        k = motion_kernel(length, angle)
        lin = per_channel(lin, lambda ch: ndimage.convolve(ch, k, mode="reflect"))
    if FOCUS in defects:
        sigma = float(rng.uniform(2.0, 3.5))
        params["focus_blur_sigma_px"] = round(sigma, 2)
        lin = per_channel(lin, lambda ch: ndimage.gaussian_filter(ch, sigma, mode="reflect"))
    if OVER in defects:
        ev = float(rng.uniform(1.4, 2.0))
        params["exposure_ev"] = round(ev, 2)
        lin = lin * 2.0**ev  # highlights clip at 1.0
    if UNDER in defects:
        ev = -float(rng.uniform(1.7, 2.3))
        params["exposure_ev"] = round(ev, 2)
        # darker, and the deepest shadows crushed to black (a sensor's black-level clip)
        lin = np.maximum(lin * 2.0**ev - 0.003, 0.0)
    out = linear_to_srgb(lin) * 255.0
    if NOISE in defects:
        sigma = float(rng.uniform(14.0, 20.0))
        params["noise_sigma"] = round(sigma, 1)
        # mostly luminance grain with some colour noise, like a high-ISO sensor
        luma = rng.normal(0.0, sigma * 0.85, size=(h, w, 1))
        chroma = rng.normal(0.0, sigma * 0.5, size=(h, w, 3))
        out = out + luma + chroma
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGB"), params


# --------------------------------------------------------------------------------------------
# EXIF and file writing
# --------------------------------------------------------------------------------------------


def store_rotated(img: Image.Image, orientation: int) -> Image.Image:
    """Pixel data as a camera held sideways stores it, so that ``orientation`` makes it upright."""
    if orientation == 6:  # viewer rotates 90 deg clockwise, so store it 90 deg counter-clockwise
        return img.transpose(Image.Transpose.ROTATE_90)
    if orientation == 8:  # viewer rotates 90 deg counter-clockwise, so store it clockwise
        return img.transpose(Image.Transpose.ROTATE_270)
    return img


def exif_bytes(shot: Shot, when: datetime, size: tuple[int, int], noisy: bool) -> bytes:
    stamp = when.strftime("%Y:%m:%d %H:%M:%S").encode()
    subsec = f"{when.microsecond // 1000:03d}".encode()
    iso = 3200 if noisy else 200
    zeroth = {
        piexif.ImageIFD.Make: shot.camera.make.encode(),
        piexif.ImageIFD.Model: shot.camera.model.encode(),
        piexif.ImageIFD.Orientation: shot.orientation,
        piexif.ImageIFD.XResolution: (72, 1),
        piexif.ImageIFD.YResolution: (72, 1),
        piexif.ImageIFD.ResolutionUnit: 2,
        piexif.ImageIFD.Software: b"photocull make_sample_shoot.py",
        piexif.ImageIFD.DateTime: stamp,
    }
    exif = {
        piexif.ExifIFD.ExifVersion: b"0232",
        piexif.ExifIFD.DateTimeOriginal: stamp,
        piexif.ExifIFD.DateTimeDigitized: stamp,
        piexif.ExifIFD.SubSecTime: subsec,
        piexif.ExifIFD.SubSecTimeOriginal: subsec,
        piexif.ExifIFD.SubSecTimeDigitized: subsec,
        piexif.ExifIFD.ExposureTime: (1, 250),
        piexif.ExifIFD.FNumber: (56, 10),
        piexif.ExifIFD.ISOSpeedRatings: iso,
        piexif.ExifIFD.FocalLength: (50, 1),
        piexif.ExifIFD.ColorSpace: 1,
        piexif.ExifIFD.PixelXDimension: size[0],
        piexif.ExifIFD.PixelYDimension: size[1],
    }
    return piexif.dump({"0th": zeroth, "Exif": exif, "GPS": {}, "1st": {}, "thumbnail": None})


def main() -> None:
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    OUT_DIR.mkdir(parents=True)

    master = np.random.default_rng(SEED)
    canvases: dict[str, Image.Image] = {}
    defects_truth: dict[str, list[str]] = {}
    params_truth: dict[str, dict] = {}
    number = 0

    for shot in SHOTS:
        scene = SCENES[shot.scene]
        if shot.scene not in canvases:
            canvases[shot.scene] = load_canvas(scene)
        when = shot.start.replace(microsecond=int(master.integers(0, 1000)) * 1000)
        for i, defects in enumerate(shot.defects):
            if i:  # burst cadence: 0.1 .. 0.5 s between frames (ms resolution)
                when += timedelta(milliseconds=int(master.integers(100, 501)))
            number += 1
            rng = np.random.default_rng([SEED, number])  # per-frame stream, order-independent
            upright, params = render_frame(canvases[shot.scene], scene, defects, rng)
            stored = store_rotated(upright, shot.orientation)
            rel = f"{shot.folder}/IMG_{number:04d}.JPG" if shot.folder else f"IMG_{number:04d}.JPG"
            path = OUT_DIR / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            exif = exif_bytes(shot, when, stored.size, NOISE in defects)
            stored.save(path, "JPEG", quality=JPEG_QUALITY, exif=exif)
            shot.frames.append(rel)
            defects_truth[rel] = [d for d in defects if d != CLEAN]
            params_truth[rel] = {
                "capture_time": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}",
                "orientation": shot.orientation,
                **params,
            }

    series = []
    singletons = []
    for shot in SHOTS:
        if len(shot.frames) == 1:
            singletons.append({"id": shot.id, "frame": shot.frames[0], "scene": shot.scene})
            continue
        clean = [f for f, d in zip(shot.frames, shot.defects) if CLEAN in d]
        assert len(clean) == 1, shot.id
        series.append({"id": shot.id, "frames": shot.frames, "best": clean[0], "scene": shot.scene})

    truth = {
        "source": "assets/make_sample_shoot.py",
        "seed": SEED,
        "series": series,
        "singletons": singletons,
        "defects": defects_truth,
        "frame_params": params_truth,
    }
    TRUTH_PATH.write_text(json.dumps(truth, indent=2) + "\n")
    total = sum(p.stat().st_size for p in OUT_DIR.rglob("*") if p.is_file())
    print(f"wrote {number} frames ({total / 1e6:.2f} MB) to {OUT_DIR}, truth in {TRUTH_PATH.name}")


if __name__ == "__main__":
    main()
