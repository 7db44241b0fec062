"""Register one frame of a handheld burst to another: sub-pixel shift, zoom and small rotation.

Why: a burst shows one scene, so its frames can be each other's reference (``consensus``),
but only once they are aligned; a misaligned mate reads as grain. Everything here works on
the small luma copy every frame keeps (``thumb``, a few hundred pixels across), in numpy
alone: log-polar phase correlation of the magnitude spectra for zoom and rotation (which a
shift leaves alone), phase correlation for the shift, then Gauss-Newton on the four
similarity parameters for the sub-pixel fit. The confidence is the correlation of the two
frames' band-passed structure where they overlap after the fit: unrelated pictures, or a
fit that failed, score near 0.
"""

from __future__ import annotations

import base64
import math
import zlib
from dataclasses import dataclass

import numpy as np

THUMB_SIDE = 384  # long side (at most) of the luma copy kept per frame: registration and consensus
MAX_ZOOM = 1.5  # zoom between two frames searched up to this factor (digital zoom, a pan's step)
MAX_ROTATION_DEG = 8.0  # rotation searched within +- this (a handheld burst turns well under a degree)
_LP_ANGLES, _LP_RADII = 180, 128  # log-polar grid of the magnitude spectrum
_REFINE_STEPS = 6


@dataclass(frozen=True)
class Registration:
    """Where each pixel of the reference frame lies in the moving frame (centred coordinates):
    ``x' = zoom * R(angle) x + (dx, dy)``, in thumb pixels; ``confidence`` 0..1 (see module)."""

    zoom: float
    angle: float  # radians
    dx: float
    dy: float
    confidence: float

    def matrix(self) -> np.ndarray:
        """The 3 x 3 homogeneous matrix of the mapping."""
        c, s = self.zoom * math.cos(self.angle), self.zoom * math.sin(self.angle)
        return np.array([[c, -s, self.dx], [s, c, self.dy], [0.0, 0.0, 1.0]])


IDENTITY = Registration(1.0, 0.0, 0.0, 0.0, 1.0)


# ------------------------------------------------------------------------------- the small copy

def encode_thumb(t: np.ndarray) -> str:
    """A thumb as text for the cache (JSON): ``HxW:`` then base64 of the zlib'd bytes."""
    return f"{t.shape[0]}x{t.shape[1]}:" + base64.b64encode(zlib.compress(t.tobytes(), 1)).decode("ascii")


def decode_thumb(s: str) -> np.ndarray | None:
    """The thumb back from :func:`encode_thumb`; None for an empty, damaged or oversized one (no
    reference then). It comes from the shoot's cache, which a card may carry: its size is checked
    before anything is inflated, and no more than that size is ever inflated (no zlib bomb)."""
    try:
        size, data = s.split(":", 1)
        h, w = (int(v) for v in size.split("x"))
        if not (16 <= h <= THUMB_SIDE and 16 <= w <= THUMB_SIDE):
            return None
        inflate = zlib.decompressobj()
        raw = inflate.decompress(base64.b64decode(data.encode("ascii")), h * w + 1)
        return np.frombuffer(raw, dtype=np.uint8).reshape(h, w) if len(raw) == h * w and inflate.eof else None
    except (ValueError, zlib.error, TypeError):
        return None


# ------------------------------------------------------------------------------- filters, sampling

def box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r + 1)^2 window, edges clamped (separable sums of shifted views, float32)."""
    if r <= 0:
        return x.astype(np.float32)
    n = 2 * r + 1
    p = np.pad(x.astype(np.float32), r, mode="edge")
    rows = p[:, :-2 * r].copy()
    for i in range(1, n):
        rows += p[:, i : i + x.shape[1]]
    out = rows[:-2 * r].copy()
    for i in range(1, n):
        out += rows[i : i + x.shape[0]]
    return out * np.float32(1.0 / (n * n))


def band(x: np.ndarray) -> np.ndarray:
    """Mid-band structure (difference of two box means): what registration and its confidence look at.
    It leaves out the finest band, where grain and a mate's blur differ most."""
    return box(x, 1) - box(x, 4)


def sample(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear samples of ``img`` at pixel positions (xs, ys), and where they fell inside it."""
    h, w = img.shape
    inside = (xs >= 0) & (ys >= 0) & (xs <= w - 1) & (ys <= h - 1)
    x = np.clip(xs, 0, w - 1.001)
    y = np.clip(ys, 0, h - 1.001)
    x0, y0 = x.astype(np.intp), y.astype(np.intp)
    fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
    flat = np.ascontiguousarray(img, dtype=np.float32).ravel()
    i = y0 * w + x0  # flat gathers: several times faster than two-index ones
    top = flat.take(i) * (1 - fx) + flat.take(i + 1) * fx
    bottom = flat.take(i + w) * (1 - fx) + flat.take(i + w + 1) * fx
    return top * (1 - fy) + bottom * fy, inside


def warp(img: np.ndarray, m: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``img`` resampled on a grid of ``shape``: pixel x of the grid takes img at ``m`` x (both
    in coordinates centred on their own image). Returns (values, inside)."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xc, yc = xs - (w - 1) / 2, ys - (h - 1) / 2
    ih, iw = img.shape
    px = m[0, 0] * xc + m[0, 1] * yc + m[0, 2] + (iw - 1) / 2
    py = m[1, 0] * xc + m[1, 1] * yc + m[1, 2] + (ih - 1) / 2
    return sample(img, px, py)


# ------------------------------------------------------------------------------- phase correlation

def _phase_peak(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(dy, dx, peak): the shift that moves ``a`` onto ``b``, sub-pixel (parabola through the peak)."""
    fa, fb = np.fft.rfft2(a), np.fft.rfft2(b)
    cross = np.conj(fa) * fb
    r = np.fft.irfft2(cross / np.maximum(np.abs(cross), 1e-9), s=a.shape)
    iy, ix = np.unravel_index(int(np.argmax(r)), r.shape)
    out = []
    for i, n, axis in ((iy, r.shape[0], 0), (ix, r.shape[1], 1)):
        lo = r[(iy - 1) % r.shape[0], ix] if axis == 0 else r[iy, (ix - 1) % r.shape[1]]
        hi = r[(iy + 1) % r.shape[0], ix] if axis == 0 else r[iy, (ix + 1) % r.shape[1]]
        den = lo - 2 * r[iy, ix] + hi
        frac = 0.5 * (lo - hi) / den if den < 0 else 0.0
        v = i + frac
        out.append(v - n if v > n / 2 else v)
    return out[0], out[1], float(r[iy, ix])


def _hann(shape: tuple[int, int]) -> np.ndarray:
    return np.outer(np.hanning(shape[0]), np.hanning(shape[1])).astype(np.float32)


def _log_polar(mag: np.ndarray) -> tuple[np.ndarray, float]:
    """The centred magnitude spectrum on a (angle, log radius) grid over half a turn; and the log step."""
    h, w = mag.shape
    r_max = min(h, w) / 2 - 1
    log_step = math.log(r_max / 2.0) / (_LP_RADII - 1)
    radii = 2.0 * np.exp(np.arange(_LP_RADII) * log_step)
    theta = np.arange(_LP_ANGLES) * math.pi / _LP_ANGLES
    xs = (w / 2 + np.cos(theta)[:, None] * radii[None, :]).astype(np.float32)
    ys = (h / 2 + np.sin(theta)[:, None] * radii[None, :]).astype(np.float32)
    return sample(mag, xs, ys)[0], log_step


def _spectrum(x: np.ndarray) -> np.ndarray:
    """Windowed, high-pass weighted magnitude spectrum (centred): a shift does not change it."""
    f = np.abs(np.fft.fftshift(np.fft.fft2((x - x.mean()) * _hann(x.shape))))
    fy = np.fft.fftshift(np.fft.fftfreq(x.shape[0]))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(x.shape[1]))[None, :]
    emphasis = (1.0 - np.cos(math.pi * fx) * np.cos(math.pi * fy)) * (2.0 - np.cos(math.pi * fx) * np.cos(math.pi * fy))
    return np.log1p(f * emphasis).astype(np.float32)


def _zoom_rotation(ref: np.ndarray, mov: np.ndarray) -> tuple[float, float]:
    """(zoom, angle) of ``mov`` relative to ``ref`` from log-polar phase correlation of their spectra."""
    lp_r, log_step = _log_polar(_spectrum(ref))
    lp_m, _ = _log_polar(_spectrum(mov))
    da, dr, _ = _phase_peak(lp_r, lp_m)
    angle = da * math.pi / _LP_ANGLES  # the spectrum turns with the image; an image enlarged has it shrunk
    zoom = math.exp(-dr * log_step)
    if abs(math.degrees(angle)) > MAX_ROTATION_DEG or not 1 / MAX_ZOOM <= zoom <= MAX_ZOOM:
        return 1.0, 0.0
    return zoom, angle


# ------------------------------------------------------------------------------- the fit

def _params(m: np.ndarray) -> np.ndarray:
    return np.array([m[0, 0] - 1.0, m[1, 0], m[0, 2], m[1, 2]])


def _matrix(p: np.ndarray) -> np.ndarray:
    return np.array([[1.0 + p[0], -p[1], p[2]], [p[1], 1.0 + p[0], p[3]], [0.0, 0.0, 1.0]])


def _refine(ref: np.ndarray, mov: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Gauss-Newton on the similarity (a, b, tx, ty): minimise sum (mov(M x) - ref(x))^2 over the overlap.

    On every other pixel (a quarter of the cost, the same fit for smooth frames); the gradient
    is the mean of ref's and of the warped mov's (efficient second-order minimisation: it
    converges from further away than either alone), so one resampling per step.
    """
    r = ref[::2, ::2]
    h, w = ref.shape
    ys, xs = np.mgrid[0:h:2, 0:w:2].astype(np.float32)
    xc, yc = xs - (w - 1) / 2, ys - (h - 1) / 2
    ry, rx = np.gradient(r)
    p = _params(m)
    for _ in range(_REFINE_STEPS):
        mm = _matrix(p)
        px = mm[0, 0] * xc + mm[0, 1] * yc + mm[0, 2] + (mov.shape[1] - 1) / 2
        py = mm[1, 0] * xc + mm[1, 1] * yc + mm[1, 2] + (mov.shape[0] - 1) / 2
        val, inside = sample(mov, px, py)
        if inside.mean() < 0.3:
            break
        wy, wx = np.gradient(val)
        ix, iy = (0.25 * (rx + wx))[inside], (0.25 * (ry + wy))[inside]  # per grid step of 2 pixels
        x, y = xc[inside], yc[inside]
        jac = np.stack([ix * x + iy * y, -ix * y + iy * x, ix, iy], axis=1).astype(np.float64)
        err = (r - val)[inside].astype(np.float64)
        step = np.linalg.solve(jac.T @ jac + 1e-6 * np.eye(4), jac.T @ err)
        p = p + step
        if abs(step[2]) + abs(step[3]) < 0.01 and abs(step[0]) + abs(step[1]) < 2e-5:
            break
    return _matrix(p)


def confidence(ref: np.ndarray, mov: np.ndarray, m: np.ndarray, bands: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Correlation of the band-passed frames where they overlap after the mapping ``m`` (0 when
    little overlaps); ``bands``: (band(ref), band(mov)) when already computed."""
    band_ref, band_mov = bands if bands is not None else (band(ref), band(mov))
    val, inside = warp(band_mov, m, ref.shape)
    if inside.mean() < 0.4:
        return 0.0
    a, b = band_ref[inside], val[inside]
    a, b = a - a.mean(), b - b.mean()
    return float(max(np.sum(a * b) / max(math.sqrt(float(np.sum(a * a) * np.sum(b * b))), 1e-9), 0.0))


def register(ref: np.ndarray, mov: np.ndarray) -> Registration:
    """Where ``ref``'s pixels lie in ``mov`` (zoom, rotation, shift; thumb pixels, centred), with a confidence.

    Two thumbs of one scene from a handheld burst; shapes may differ a little. The coarse
    search sees zoom and rotation in the magnitude spectra (phase correlation on a log-polar
    grid), then the shift; the fit is finished by Gauss-Newton on the smoothed frames, which
    grain cannot move much.
    """
    a, b = box(ref.astype(np.float32), 1), box(mov.astype(np.float32), 1)
    zoom, angle = _zoom_rotation(a, b) if a.shape == b.shape else (1.0, 0.0)
    rot = Registration(zoom, angle, 0.0, 0.0, 0.0).matrix()
    turned, _ = warp(b, rot, a.shape)  # mov seen in ref's grid, shift still to find
    bands = (band(ref.astype(np.float32)), band(mov.astype(np.float32)))
    dy, dx, _ = _phase_peak(bands[0] * _hann(a.shape), band(turned) * _hann(a.shape))
    coarse = rot @ np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])
    fine = _refine(a, b, coarse)
    # A fit that wandered off (flat or clipped frames give it little to hold) loses to the coarse estimate.
    m, conf = max(((fine, confidence(ref, mov, fine, bands)), (coarse, confidence(ref, mov, coarse, bands))), key=lambda mc: mc[1])
    return Registration(math.hypot(m[0, 0], m[1, 0]), math.atan2(m[1, 0], m[0, 0]), float(m[0, 2]), float(m[1, 2]), conf)
