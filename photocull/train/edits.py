"""Edit-induced pairs (RED-Aes-like) made on the fly from any folder of good photos.

A controlled photographic edit with a known direction turns one good photo into a pair
``(original, edited)`` whose better member is known: the original. Each edit family has a
*magnitude* ``m`` in (0, 1] (how strong the damage is) and a comparative *caption* naming
what the better photo has ("the sharper photo"). The calibrated preference grows with the
magnitude::

    P(original > edited) = σ(k · m),  k = 5   (m = 0.1 → 0.62, m = 0.5 → 0.92, m = 1 → 0.99)

Families (:data:`FAMILIES`): ``defocus`` (Gaussian blur), ``motion`` (linear motion blur at a
random angle), ``noise`` (luma + chroma Gaussian noise), ``underexpose`` / ``overexpose``
(exposure shifts in linear light, with clipping), ``white_balance`` (a warm or cool cast),
``jpeg`` (heavy JPEG re-compression), ``tilt`` (rotation + crop to the largest upright
rectangle: a tilted horizon), ``crop`` (an off-centre tight crop). Sizes are relative to the
image (a blur radius is a fraction of the short side), so an edit means the same at any scale.

Everything is numpy/PIL and deterministic: :meth:`EditPairSampler.pair` of index ``i`` is a
pure function of ``(seed, i)``. :func:`procedural_images` makes synthetic "photos" (sky
gradients, textures, sharp shapes) for tests and benchmarks without a photo folder.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

__all__ = [
    "CAPTIONS",
    "EASY_FAMILIES",
    "FAMILIES",
    "EditPair",
    "EditPairSampler",
    "apply_edit",
    "edit_preference",
    "load_photo_folder",
    "procedural_images",
]

PREFERENCE_SLOPE = 5.0

# family -> the comparative caption describing the *better* (unedited) photo
CAPTIONS: dict[str, str] = {
    "defocus": "the sharper photo",
    "motion": "the sharper photo, without motion blur",
    "noise": "the cleaner photo, with less noise",
    "underexpose": "the better exposed photo",
    "overexpose": "the better exposed photo",
    "white_balance": "the more natural colours",
    "jpeg": "the cleaner photo, without compression artefacts",
    "tilt": "the straighter horizon",
    "crop": "the better composition",
}

EASY_FAMILIES: tuple[str, ...] = ("defocus", "noise", "underexpose", "overexpose")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"}


def edit_preference(magnitude: float) -> float:
    """``P(original > edited)`` for an edit of ``magnitude`` in [0, 1]: ``σ(5 m)``."""
    return 1.0 / (1.0 + math.exp(-PREFERENCE_SLOPE * float(magnitude)))


# ------------------------------------------------------------------------------------------
# The edits: (uint8 HxWx3, magnitude, rng) -> uint8 HxWx3 of the same size


def _f(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32)


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(a + 0.5, 0, 255).astype(np.uint8)


def _short(img: np.ndarray) -> int:
    return min(img.shape[0], img.shape[1])


def _defocus(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    radius = _short(img) * (0.004 + 0.026 * m)  # 0.5 .. 3.8 px at 128 px; 1 .. 15 px at 512
    return np.array(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius)))


def _motion(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    length = max(2.0, _short(img) * (0.01 + 0.07 * m))
    angle = rng.uniform(0, math.pi)
    n = int(math.ceil(length))
    a = _f(img)
    pad = n + 1
    p = np.pad(a, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    h, w = img.shape[:2]
    acc = np.zeros_like(a)
    for t in np.linspace(-length / 2, length / 2, n + 1):
        dy, dx = int(round(t * math.sin(angle))), int(round(t * math.cos(angle)))
        acc += p[pad + dy: pad + dy + h, pad + dx: pad + dx + w]
    return _u8(acc / (n + 1))


def _noise(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    sigma = 3.0 + 32.0 * m
    h, w = img.shape[:2]
    luma = rng.normal(0.0, sigma, (h, w, 1)).astype(np.float32)
    chroma = rng.normal(0.0, 0.5 * sigma, (h, w, 3)).astype(np.float32)
    return _u8(_f(img) + luma + chroma)


def _exposure(img: np.ndarray, ev: float) -> np.ndarray:
    lin = (_f(img) / 255.0) ** 2.2
    return _u8(255.0 * np.clip(lin * 2.0 ** ev, 0.0, 1.0) ** (1 / 2.2))


def _underexpose(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    return _exposure(img, -(0.3 + 2.7 * m))


def _overexpose(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    return _exposure(img, 0.3 + 2.2 * m)


def _white_balance(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    k = 1.0 + 0.6 * m
    warm = rng.random() < 0.5
    gains = np.array([k, 1.0, 1.0 / k] if warm else [1.0 / k, 1.0, k], np.float32)
    lin = (_f(img) / 255.0) ** 2.2 * gains
    return _u8(255.0 * np.clip(lin, 0, 1) ** (1 / 2.2))


def _jpeg(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    quality = int(round(45 - 42 * m))  # 45 .. 3
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=max(2, quality), subsampling=2)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.array(im.convert("RGB"))


def _largest_rotated_rect(w: float, h: float, angle: float) -> tuple[float, float]:
    """Width and height of the largest axis-aligned rectangle inside a w×h one rotated by angle."""
    if w <= 0 or h <= 0:
        return 0.0, 0.0
    long, short = (w, h) if w >= h else (h, w)
    s, c = abs(math.sin(angle)), abs(math.cos(angle))
    if short <= 2.0 * s * c * long or abs(s - c) < 1e-10:
        x = 0.5 * short
        wr, hr = (x / s, x / c) if w >= h else (x / c, x / s)
    else:
        cos2 = c * c - s * s
        wr, hr = (w * c - h * s) / cos2, (h * c - w * s) / cos2
    return wr, hr


def _resize_to(pil: Image.Image, size: tuple[int, int]) -> np.ndarray:
    return np.array(pil.resize(size, Image.Resampling.BILINEAR, reducing_gap=None))


def _tilt(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    deg = (1.5 + 8.5 * m) * (1 if rng.random() < 0.5 else -1)
    h, w = img.shape[:2]
    rot = Image.fromarray(img).rotate(deg, resample=Image.Resampling.BILINEAR, expand=False)
    wr, hr = _largest_rotated_rect(w, h, math.radians(deg))
    wr, hr = max(8, int(wr)), max(8, int(hr))
    left, top = (w - wr) // 2, (h - hr) // 2
    return _resize_to(rot.crop((left, top, left + wr, top + hr)), (w, h))


def _crop(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    keep = 0.9 - 0.45 * m  # fraction of each side kept
    h, w = img.shape[:2]
    cw, ch = max(8, int(w * keep)), max(8, int(h * keep))
    # push the crop towards a corner: the subject ends up cut and off-centre
    fx = rng.choice([0.0, 1.0]) * 0.85 + rng.uniform(0, 0.15)
    fy = rng.choice([0.0, 1.0]) * 0.85 + rng.uniform(0, 0.15)
    left, top = int((w - cw) * fx), int((h - ch) * fy)
    return _resize_to(Image.fromarray(img).crop((left, top, left + cw, top + ch)), (w, h))


EditFn = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

FAMILIES: dict[str, EditFn] = {
    "defocus": _defocus,
    "motion": _motion,
    "noise": _noise,
    "underexpose": _underexpose,
    "overexpose": _overexpose,
    "white_balance": _white_balance,
    "jpeg": _jpeg,
    "tilt": _tilt,
    "crop": _crop,
}


def apply_edit(image: np.ndarray, family: str, magnitude: float,
               rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``image`` (uint8 HxWx3) damaged by ``family`` at ``magnitude`` in [0, 1]; same size."""
    if family not in FAMILIES:
        raise ValueError(f"unknown edit family {family!r}; choose from {', '.join(FAMILIES)}")
    if not 0.0 <= magnitude <= 1.0:
        raise ValueError(f"edit magnitude must be in [0, 1], got {magnitude}")
    img = np.ascontiguousarray(np.asarray(image, dtype=np.uint8)[..., :3])
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return FAMILIES[family](img, float(magnitude), rng)


# ------------------------------------------------------------------------------------------
# Pairs


@dataclass
class EditPair:
    """``original`` and ``edited`` (uint8 HxWx3), the edit, its caption and P(original > edited)."""

    original: np.ndarray
    edited: np.ndarray
    family: str
    magnitude: float
    caption: str
    p: float
    source: int  # index of the source photo
    key: str  # a stable identity for token seeds

    def as_labelled(self, swap: bool) -> tuple[np.ndarray, np.ndarray, float]:
        """``(a, b, P(a > b))``, the original first unless ``swap``."""
        if swap:
            return self.edited, self.original, 1.0 - self.p
        return self.original, self.edited, self.p


class EditPairSampler:
    """Deterministic edit pairs from a list of good photos.

    ``pair(i)`` draws (from ``np.random.default_rng([seed, i])``) a source photo, a family
    among ``families`` (uniformly, or by ``family_weights``), a magnitude in
    ``magnitude_range``, and a random crop-free flip; the result depends only on ``(seed, i)``.
    """

    def __init__(self, images: Sequence[np.ndarray], families: Sequence[str] | None = None, *,
                 seed: int = 0, magnitude_range: tuple[float, float] = (0.15, 1.0),
                 family_weights: Sequence[float] | None = None, flip: bool = True):
        if not len(images):
            raise ValueError("edit pairs need at least one source photo")
        fams = tuple(families) if families else tuple(FAMILIES)
        for f in fams:
            if f not in FAMILIES:
                raise ValueError(f"unknown edit family {f!r}; choose from {', '.join(FAMILIES)}")
        lo, hi = magnitude_range
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"magnitude_range must satisfy 0 <= lo <= hi <= 1, got {magnitude_range}")
        self.images = list(images)
        self.families = fams
        self.seed = int(seed)
        self.magnitude_range = (float(lo), float(hi))
        w = np.ones(len(fams)) if family_weights is None else np.asarray(family_weights, float)
        if w.shape != (len(fams),) or (w < 0).any() or w.sum() <= 0:
            raise ValueError("family_weights needs one non-negative weight per family")
        self.family_p = w / w.sum()
        self.flip = flip

    def __len__(self) -> int:  # an endless stream; the length is the number of sources
        return len(self.images)

    def pair(self, index: int) -> EditPair:
        rng = np.random.default_rng([self.seed, int(index)])
        src = int(rng.integers(len(self.images)))
        family = self.families[int(rng.choice(len(self.families), p=self.family_p))]
        lo, hi = self.magnitude_range
        m = float(rng.uniform(lo, hi))
        img = np.asarray(self.images[src], dtype=np.uint8)[..., :3]
        if self.flip and rng.random() < 0.5:
            img = img[:, ::-1]
        img = np.ascontiguousarray(img)
        edited = FAMILIES[family](img, m, rng)
        return EditPair(img, edited, family, m, CAPTIONS[family], edit_preference(m), src,
                        key=f"edit:{self.seed}:{index}")

    def swap(self, index: int) -> bool:
        """Whether pair ``index`` is presented edited-first (half of them, deterministic)."""
        return bool(np.random.default_rng([self.seed, int(index), 1]).random() < 0.5)


# ------------------------------------------------------------------------------------------
# Sources of good photos


def load_photo_folder(folder: str | Path, *, long_side: int = 512, limit: int | None = None,
                      recursive: bool = True) -> list[np.ndarray]:
    """Every image under ``folder`` (sorted by path), RGB uint8, long side at most ``long_side``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder of photos")
    it = folder.rglob("*") if recursive else folder.glob("*")
    paths = sorted(p for p in it if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if limit is not None:
        paths = paths[:limit]
    out = []
    for p in paths:
        out.append(load_image(p, long_side))
    if not out:
        raise ValueError(f"{folder}: no photos found ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return out


def load_image(path: str | Path, long_side: int | None = 512) -> np.ndarray:
    """One image file → RGB uint8, EXIF orientation applied, long side at most ``long_side``."""
    from PIL import ImageOps

    with Image.open(path) as im:
        if long_side:
            im.draft("RGB", (long_side, long_side))
        im = ImageOps.exif_transpose(im).convert("RGB")
        if long_side and max(im.size) > long_side:
            im.thumbnail((long_side, long_side), Image.Resampling.BILINEAR)
        return np.array(im)


def procedural_images(n: int, size: int | tuple[int, int] = 128, seed: int = 0) -> list[np.ndarray]:
    """``n`` synthetic "good photos": a sky gradient, a textured ground, sharp shapes, stripes.

    Well exposed (no clipping to speak of), sharp and clean, so every edit makes them worse.
    """
    h, w = (size, size) if isinstance(size, int) else (size[1], size[0])
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for _ in range(n):
        img = np.empty((h, w, 3), np.float32)
        top, bottom = rng.uniform(60, 190, 3), rng.uniform(50, 180, 3)
        horizon = rng.uniform(0.3, 0.7) * h
        t = np.clip(y / max(horizon, 1), 0, 1)[..., None]
        img[:] = top * (1 - t) + bottom * t
        ground = y > horizon + rng.uniform(-0.1, 0.1) * (x - w / 2)
        freq = rng.uniform(0.15, 0.6)
        tex = 18 * np.sin(x * freq + rng.uniform(0, 6)) * np.cos(y * freq * rng.uniform(0.5, 1.5))
        img[ground] = (rng.uniform(50, 170, 3) + tex[ground][:, None])
        for _ in range(int(rng.integers(3, 8))):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(0.05, 0.22) * min(h, w)
            col = rng.uniform(30, 225, 3)
            if rng.random() < 0.5:
                mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
            else:
                mask = (np.abs(x - cx) < r) & (np.abs(y - cy) < r * rng.uniform(0.4, 1.2))
            img[mask] = col
        if rng.random() < 0.5:  # a striped object: fine detail
            cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
            r = rng.uniform(0.08, 0.2) * min(h, w)
            mask = (np.abs(x - cx) < r) & (np.abs(y - cy) < r)
            stripes = (np.sin((x + y) * rng.uniform(0.5, 1.2)) > 0)[..., None] * 80
            img[mask] = (rng.uniform(40, 140, 3) + stripes)[mask]
        img += rng.normal(0, 1.0, img.shape)
        out.append(np.clip(img, 8, 247).astype(np.uint8))
    return out
