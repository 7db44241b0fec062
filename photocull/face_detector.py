"""BlazeFace, MediaPipe's short-range face detector, run by LiteRT or OpenCV's DNN module.

Why this detector: finding faces is what face checks cost. OpenCV's Haar cascades need a
search over every position and scale: 17-25 ms a frame on textured frames (2 cores, the
speed shoot), a third of the decode itself. BlazeFace is a small fully convolutional
network: one forward pass over the whole frame (~5 ms at 288 x 192 on one core, whatever
the content). Its weights ship inside photocull (230 KB, Apache-2.0, ``weights/NOTICE.md``):
nothing is downloaded, and MediaPipe itself is not needed (its last wheel carrying the
models pins numpy < 2). OpenCV's DNN module reads TFLite from 4.8.

How it is run: on the frame's luma, scaled to a short side of ``DETECT_SHORT`` px (the model
was trained on 128 x 128 colour squares; nothing in it is tied to that size, and its
anchors are laid out here for any size). Why luma at 192 px: the luma is what the
technical measures decode anyway, so face checks add no colour decode (7-13 ms a 24 MP
frame); and at 192 px the luma finds smaller faces than colour did at 128 (``python -m
benchmarks face-recall``: every labelled face from 7 % of the long side, where two colour
views of 128 px found 8 of 20 there and 19 of 20 at 8 %). Black-and-white frames need no
other search.

Its limit: faces under about 6-7 % of the frame's long side are missed more and more often
(a group photo's faces can be smaller); it is trained on near, frontal-ish faces. Boxes are
then confirmed and re-framed by the Haar cascade in a fine search around each
(``faces._refine``), which the eye check was calibrated on.

Two runtimes (``RUNTIMES``): Google's LiteRT interpreter (``ai-edge-litert``, with XNNPACK)
when it is installed, 4.7 ms a 288 x 192 pass on one core where OpenCV's DNN takes 8.1 ms
(measured side by side, same process), else OpenCV's DNN, which the face checks need
anyway. Their outputs agree to 1e-4.

Decoding follows MediaPipe's published graph options for this model: SSD anchors (strides
8, 16, 16, 16; fixed size), box and keypoint offsets in input pixels, sigmoid scores, and
weighted non-maximum suppression at IoU 0.3.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np

MODEL = Path(__file__).resolve().parent / "weights" / "face_detection_short_range.tflite"
INPUT = 128  # the model's training input (square), in pixels
DETECT_SHORT = 192  # the luma is scaled to this short side for the pass ...
DETECT_MAX_LONG = 4 * DETECT_SHORT  # ... and at most this long side (a crafted 64 x 40,000 px file costs one 768 px pass)
GRID = 16  # input sides are multiples of the coarsest stride
STRIDES = (8, 16, 16, 16)  # SSD layers (consecutive equal strides share a grid), two anchors per layer and cell
MIN_SCORE = 0.5  # MediaPipe's own threshold for this model
NMS_IOU = 0.3
KEYPOINTS = ("right eye", "left eye", "nose tip", "mouth", "right ear", "left ear")  # the subject's right/left


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x, y, w, h in the input image's pixels
    score: float
    keypoints: tuple[tuple[float, float], ...]  # KEYPOINTS, in the input image's pixels


def _stride_groups() -> list[tuple[int, int]]:
    """(stride, anchors per cell) of each run of equal STRIDES, in output order."""
    groups: list[tuple[int, int]] = []
    for i, stride in enumerate(STRIDES):
        if i and stride == STRIDES[i - 1]:
            groups[-1] = (stride, groups[-1][1] + 2)
        else:
            groups.append((stride, 2))
    return groups


@functools.lru_cache(maxsize=8)  # a shoot's frames share a few input sizes
def ssd_anchors(height: int = INPUT, width: int = INPUT) -> np.ndarray:
    """(n, 2) anchor centres (x, y) in input pixels for a ``width`` x ``height`` input, in
    the order of the model's outputs (each stride's grid row by row, its anchors per cell
    together). 896 for the 128 x 128 input the model was trained on. Read-only (cached)."""
    out = []
    for stride, per_cell in _stride_groups():
        gh, gw = height // stride, width // stride
        ys, xs = np.meshgrid((np.arange(gh) + 0.5) * stride, (np.arange(gw) + 0.5) * stride, indexing="ij")
        out.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), per_cell, axis=0))
    anchors = np.concatenate(out).astype(np.float32)
    anchors.setflags(write=False)
    return anchors


def input_size(width: int, height: int) -> tuple[int, int]:
    """The (w, h) the luma is scaled to: short side DETECT_SHORT, long side at most
    DETECT_MAX_LONG, both multiples of GRID (so every anchor grid is whole)."""
    k = min(DETECT_SHORT / max(1, min(width, height)), DETECT_MAX_LONG / max(1, width, height))

    def side(v: int) -> int:
        return max(GRID, int(round(v * k / GRID)) * GRID)

    return side(width), side(height)


def to_gray(cv2: Any, img: np.ndarray) -> np.ndarray:
    """8-bit luma of an RGB (or already gray) array, contiguous; a luma array passes through."""
    if img.ndim == 2:
        return np.ascontiguousarray(img, dtype=np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(img[..., :3], dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def halve_down(cv2: Any, img: np.ndarray, min_w: int, min_h: int) -> np.ndarray:
    """``img`` halved (area) as long as the result stays at least ``min_w`` x ``min_h``.

    OpenCV's area resize is fast only for a factor of exactly 2 (SIMD): 1500 x 1000 RGB to
    128 px costs 5 ms directly, 0.7 ms as three halvings and a last small step.
    """
    while img.shape[1] >= 2 * min_w and img.shape[0] >= 2 * min_h:
        img = cv2.resize(np.ascontiguousarray(img), (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return img


def area_resize(cv2: Any, img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area (box) resampling to ``size`` (w, h), by halvings first (:func:`halve_down`)."""
    img = halve_down(cv2, img, *size)
    if (img.shape[1], img.shape[0]) == size:
        return img
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, min_score: float = MIN_SCORE) -> list[tuple[np.ndarray, float]]:
    """The model's (n, 16) regressors and (n,) logits as ([x0, y0, x1, y1, kx, ky, ...] in
    input pixels, score), best first, before suppression. ``anchors``: :func:`ssd_anchors`."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.astype(np.float64), -80.0, 80.0)))
    keep = np.flatnonzero(scores >= min_score)
    out = []
    for i in keep[np.argsort(-scores[keep], kind="stable")]:
        r = raw_boxes[i].astype(np.float64)
        ax, ay = float(anchors[i, 0]), float(anchors[i, 1])
        cx, cy, bw, bh = r[0] + ax, r[1] + ay, r[2], r[3]
        kps = (r[4:16].reshape(6, 2) + (ax, ay)).ravel()
        out.append((np.concatenate([[cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], kps]), float(scores[i])))
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(dets: list[tuple[np.ndarray, float]], iou: float = NMS_IOU) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted suppression: each kept detection is the score-weighted mean of
    the detections overlapping it (boxes and keypoints), with the best one's score."""
    remaining = list(dets)  # best first
    out = []
    while remaining:
        best = remaining[0]
        group = [d for d in remaining if _iou(best[0], d[0]) > iou]
        remaining = [d for d in remaining if _iou(best[0], d[0]) <= iou]
        weights = np.array([s for _, s in group])
        merged = (np.stack([v for v, _ in group]) * weights[:, None]).sum(axis=0) / weights.sum()
        out.append((merged, best[1]))
    return out


class Runtime(Protocol):
    """Runs the model on one input of any size (multiples of GRID)."""

    name: str

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x``: (1, h, w, 3) float32 in [-1, 1]. Raw (n, 1) logits and (n, 16) regressors,
        one row per anchor of :func:`ssd_anchors` (h, w)."""
        ...


class OpenCVRuntime:
    """OpenCV's DNN module (reads TFLite from 4.8)."""

    name = "opencv-dnn"

    def __init__(self, cv2: Any, model: Path = MODEL):
        self.net = cv2.dnn.readNetFromTFLite(str(model))

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.net.setInput(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # NCHW
        scores, boxes = self.net.forward(["classificators", "regressors"])
        return scores.reshape(-1, 1), boxes.reshape(-1, 16)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence native code's stderr (LiteRT announces its XNNPACK delegate there once, a
    line the photographer has no use for)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


class LiteRTRuntime:
    """Google's LiteRT interpreter (``ai-edge-litert``) with its XNNPACK kernels, one thread
    (photocull runs one decode worker per core)."""

    name = "litert"

    def __init__(self, model: Path = MODEL):
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-not-found]

        with _quiet_stderr():
            self.interpreter = Interpreter(model_path=str(model), num_threads=1)
            self.input = self.interpreter.get_input_details()[0]["index"]
            self.outputs = {o["name"]: o["index"] for o in self.interpreter.get_output_details()}
            self._shape: tuple[int, ...] = ()
            self._resize((1, INPUT, INPUT, 3))  # the delegate is made (and announced) here
        if set(self.outputs) != {"classificators", "regressors"}:
            raise ValueError(f"unexpected outputs {sorted(self.outputs)} in {model.name}")

    def _resize(self, shape: tuple[int, ...]) -> None:
        if shape != self._shape:  # a shoot's frames share a size: this is rare
            self.interpreter.resize_tensor_input(self.input, list(shape))
            self.interpreter.allocate_tensors()
            self._shape = shape

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._resize(tuple(x.shape))
        self.interpreter.set_tensor(self.input, np.ascontiguousarray(x, dtype=np.float32))
        self.interpreter.invoke()
        get = self.interpreter.get_tensor
        return get(self.outputs["classificators"]).reshape(-1, 1), get(self.outputs["regressors"]).reshape(-1, 16)


# The runtimes, fastest first: ``load_runtime`` takes the first that loads.
RUNTIMES: dict[str, Callable[[Any, Path], Runtime]] = {
    LiteRTRuntime.name: lambda cv2, model: LiteRTRuntime(model),
    OpenCVRuntime.name: OpenCVRuntime,
}


def load_runtime(cv2: Any, model: Path = MODEL, name: str | None = None) -> Runtime:
    """``name``'s runtime, or the first of ``RUNTIMES`` that loads (LiteRT is optional)."""
    if name is not None:
        return RUNTIMES[name](cv2, model)
    last: Exception | None = None
    for make in RUNTIMES.values():
        try:
            return make(cv2, model)
        except Exception as exc:  # noqa: BLE001 - not installed, or cannot load this model: the next one
            last = exc
    raise RuntimeError(f"no runtime can run {model.name}: {last}")


class BlazeFace:
    """The detector, loaded once per process (``faces._load``)."""

    def __init__(self, cv2: Any, model: Path = MODEL, runtime: str | None = None):
        self.cv2 = cv2
        self.runtime = load_runtime(cv2, model, runtime)

    def detect(self, img: np.ndarray, min_score: float = MIN_SCORE) -> list[Detection]:
        """Faces in a luma (or RGB, read as luma) uint8 image, best first, in its pixels.

        One pass over the whole frame scaled to :func:`input_size` (288 x 192 for 3:2):
        a face anywhere, cut by nothing, and one cost whatever the framing.
        """
        cv2 = self.cv2
        gray = to_gray(cv2, img)
        H, W = gray.shape
        w, h = input_size(W, H)
        small = area_resize(cv2, gray, (w, h))
        x = np.empty((1, h, w, 3), np.float32)
        x[0] = small[..., None]
        x -= 127.5
        x *= 1.0 / 127.5  # [-1, 1], the model's range; the three channels alike
        scores, boxes = self.runtime.forward(x)
        found = decode(boxes, scores[:, 0], ssd_anchors(h, w), min_score)
        back = np.tile([W / w, H / h], 8)  # input px -> frame px, x and y apart
        out = []
        for v, score in weighted_nms(found):
            v = v * back
            x0, y0 = max(0.0, float(v[0])), max(0.0, float(v[1]))
            x1, y1 = min(float(W), float(v[2])), min(float(H), float(v[3]))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            out.append(Detection((x0, y0, x1 - x0, y1 - y0), score, tuple((float(a), float(b)) for a, b in v[4:].reshape(-1, 2))))
        return out
