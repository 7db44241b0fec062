"""Build the labelled eyes-open / eyes-closed face set in ``tests/faces_data/``.

Why: the face checks (``photocull/faces.py``) need faces with known eye state, and no
redistributable photo set of closed eyes ships with any installed package. So this script
takes the one public-domain portrait bundled with scikit-image (``skimage.data.astronaut``,
Eileen Collins, NASA) and makes, for every variant, a pair of images that differ only in the
eyes: the original (open) and a copy whose eyes are painted shut (eyelid skin cloned from
just below each eye, a dark lash line along the lower lid, a faint crease above, feathered edges).
Variants differ in framing, face size (64-240 px), rotation (+-8 degrees), mirroring,
brightness/gamma, grain, blur and JPEG quality, so the detector sees 20 different images of
each state (the last four deliberately hard: a 64 px face, a dark frame, a soft one, heavy grain).

Limits: one identity, one pose (frontal, smiling), synthetic closed eyes. Precision/recall
measured on this set tell whether the check works at all and catch regressions; they are not
an estimate for real shoots.

Run:  python tests/faces_data/make_faces.py   (needs scikit-image; tests only read the JPEGs)
Deterministic: fixed seed and parameters; rerunning with the same Pillow/NumPy gives the same files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent
SEED = 20261124
UP = 4  # paint on a 4x upscaled canvas so painted edges stay smooth at every output size

# Landmarks of skimage.data.astronaut() in source pixels (512x512), read off the image.
FACE_CENTRE = (225.0, 114.0)
FACE_WIDTH = 97.0  # Haar frontal-face box width around that centre
EYES = [  # (centre x, centre y, half width, half height) of the visible eye opening
    (203.5, 101.0, 11.5, 5.5),
    (247.0, 103.3, 11.5, 5.5),
]

# (face px, canvas w / face, canvas h / face, face centre x frac, y frac, rotation deg,
#  mirror, gain, gamma, grain sigma, jpeg quality[, blur sigma in output px])
# The last four are deliberately hard: a small face, a dark frame, a soft frame, heavy grain.
VARIANTS = [
    (160, 2.4, 2.8, 0.50, 0.40, 0.0, False, 1.00, 1.00, 0.0, 92),
    (120, 2.6, 3.0, 0.45, 0.38, 3.0, False, 1.10, 0.90, 2.0, 90),
    (200, 2.2, 2.4, 0.55, 0.42, -4.0, True, 0.85, 1.10, 1.5, 88),
    (100, 3.0, 2.6, 0.40, 0.45, 6.0, False, 1.00, 1.25, 3.0, 85),
    (240, 2.0, 2.2, 0.50, 0.45, -2.0, False, 1.20, 0.85, 1.0, 92),
    (140, 2.8, 3.2, 0.60, 0.35, 8.0, True, 0.75, 1.00, 2.5, 90),
    (180, 2.4, 2.4, 0.48, 0.50, -6.0, False, 1.05, 1.15, 0.0, 86),
    (90, 3.2, 3.0, 0.55, 0.40, 1.0, True, 0.95, 0.95, 4.0, 88),
    (220, 2.1, 2.6, 0.45, 0.40, 4.5, False, 0.65, 1.00, 2.0, 90),
    (130, 2.5, 2.5, 0.52, 0.48, -8.0, True, 1.30, 0.80, 1.0, 92),
    (170, 2.6, 2.2, 0.42, 0.46, 2.0, True, 1.00, 1.30, 3.0, 84),
    (110, 2.8, 3.4, 0.50, 0.32, -3.0, False, 0.90, 0.90, 1.5, 90),
    (80, 3.5, 3.5, 0.50, 0.45, 0.0, False, 1.00, 1.00, 2.0, 92),
    (150, 2.3, 2.9, 0.58, 0.44, -1.0, False, 1.15, 1.05, 5.0, 88),
    (190, 2.5, 2.3, 0.44, 0.42, 6.5, True, 0.80, 0.95, 0.5, 91),
    (210, 2.2, 2.8, 0.52, 0.38, -5.5, True, 1.00, 1.20, 2.5, 87),
    (64, 4.0, 4.0, 0.50, 0.45, 2.0, False, 1.00, 1.00, 1.5, 90),
    (150, 2.5, 2.8, 0.50, 0.42, -2.0, False, 0.40, 1.40, 3.0, 85),
    (180, 2.4, 2.6, 0.47, 0.40, 3.0, True, 1.00, 1.00, 1.0, 90, 2.0),
    (130, 2.6, 2.8, 0.53, 0.44, -4.0, False, 1.00, 1.00, 9.0, 80),
]


def _source() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def close_eyes(img: Image.Image, scale: float = UP) -> Image.Image:
    """Paint both eyes of the (upscaled) astronaut shut: eyelid skin, lash line, crease."""
    arr = np.asarray(img).astype(np.float32)
    h, w = arr.shape[:2]
    out = arr.copy()
    for cx, cy, ax, ay in EYES:
        cx, cy, ax, ay = cx * scale, cy * scale, ax * scale * 1.25, ay * scale * 1.45
        # Eyelid skin: cloned from the skin just below the eye (texture and shading kept),
        # a little darker, blended in with a feathered elliptical mask.
        dy = int(round(ay * 2.1))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        d = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2
        lid = np.clip((1.1 - d) / 0.45, 0.0, 1.0)  # 1 inside, feathered edge
        below = np.roll(arr, -dy, axis=0) * 0.95
        out = out * (1 - lid[..., None]) + below * lid[..., None]
    res = Image.fromarray(out.clip(0, 255).astype(np.uint8))
    # Lash line along the lower edge of the closed lid, and a faint crease above it.
    lines = Image.new("L", res.size, 0)
    draw = ImageDraw.Draw(lines)
    for cx, cy, ax, ay in EYES:
        cx, cy, ax, ay = cx * scale, cy * scale, ax * scale, ay * scale
        lash = [(cx + ax * t, cy + ay * (0.35 + 0.45 * (1 - t * t))) for t in np.linspace(-1.05, 1.05, 40)]
        draw.line(lash, fill=230, width=max(2, round(scale * 1.0)))
        crease = [(cx + ax * 0.9 * t, cy - ay * (0.9 + 0.35 * (1 - t * t))) for t in np.linspace(-1, 1, 30)]
        draw.line(crease, fill=90, width=max(1, round(scale * 0.8)))
    lines = lines.filter(ImageFilter.GaussianBlur(scale * 0.45))
    a = np.asarray(res).astype(np.float32)
    m = np.asarray(lines).astype(np.float32)[..., None] / 255.0
    dark = np.array([62, 40, 34], np.float32)
    return Image.fromarray((a * (1 - m) + dark * m).clip(0, 255).astype(np.uint8))


def render(canvas: Image.Image, v: tuple, rng: np.random.Generator) -> Image.Image:
    face_px, kw, kh, fx, fy, rot, mirror, gain, gamma, grain, _q = v[:11]
    blur = v[11] if len(v) > 11 else 0.0
    W, H = round(face_px * kw), round(face_px * kh)
    s = face_px / (FACE_WIDTH * UP)  # output px per canvas px
    th = math.radians(rot)
    cos, sin = math.cos(th) / s, math.sin(th) / s
    cx, cy = FACE_CENTRE[0] * UP, FACE_CENTRE[1] * UP
    ox, oy = W * fx, H * fy
    # Inverse map output (x, y) -> canvas: rotate/scale about the face centre.
    coeffs = (cos, -sin, cx - cos * ox + sin * oy, sin, cos, cy - sin * ox - cos * oy)
    img = canvas.transform((W, H), Image.Transform.AFFINE, coeffs, Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))
    a = np.asarray(img).astype(np.float32) / 255.0
    a = np.clip(a * gain, 0, 1) ** gamma * 255.0
    if grain:
        a = a + rng.normal(0, grain, (H, W, 1))
    img = Image.fromarray(a.clip(0, 255).astype(np.uint8))
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirror else img


def main() -> None:
    src = Image.fromarray(_source())
    big = src.resize((src.width * UP, src.height * UP), Image.Resampling.LANCZOS)
    canvases = {"open": big, "closed": close_eyes(big)}
    labels = {}
    for old in OUT.glob("*.jpg"):
        old.unlink()
    for i, v in enumerate(VARIANTS):
        for state, canvas in canvases.items():
            rng = np.random.default_rng(SEED + i)  # same grain for both states of a variant
            name = f"{state}_{i:02d}.jpg"
            render(canvas, v, rng).save(OUT / name, "JPEG", quality=v[10])
            labels[name] = {"eyes": state, "variant": i, "face_px": v[0]}
    (OUT / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(labels)} images to {OUT}")


if __name__ == "__main__":
    main()
