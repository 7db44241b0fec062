"""BlazeFace, MediaPipe's short-range face detector, run by LiteRT or OpenCV's DNN module.

Why this detector: finding faces is what face checks cost. OpenCV's Haar cascades need a
search over every position and scale: 17-25 ms a frame on textured frames (2 cores, the
speed shoot), a third of the decode itself. BlazeFace is one 128 x 128 forward pass of a
small CNN (~5 ms on one core, whatever the content) and found every face of the labelled
set (see ``benchmarks/results``). Its weights ship inside photocull (230 KB, Apache-2.0,
``weights/NOTICE.md``): nothing is downloaded, and MediaPipe itself is not needed (its last
wheel carrying the models pins numpy < 2). OpenCV's DNN module reads TFLite from 4.8.

Its limit: the frame is seen as two 128 px squares (its short side at either end), so
faces under about a twelfth of the frame's long side are missed more and more often (a
group photo's faces can be smaller), and it finds faces in black-and-white frames less
well (``faces`` searches those with the Haar cascade instead); it is trained on near,
frontal-ish faces. Boxes are then confirmed and re-framed by the Haar cascade in a
fine search around each (``faces._refine``), which the eye check was calibrated on.

Two runtimes (``RUNTIMES``): Google's LiteRT interpreter (``ai-edge-litert``, with XNNPACK)
when it is installed, 2.0 ms a view on one core where OpenCV's DNN takes 3.7 ms (measured
side by side, same process: the forward pass was most of a face check's cost), else
OpenCV's DNN, which the face checks need anyway. Their outputs agree to 1e-4.

Decoding follows MediaPipe's published graph options for this model: SSD anchors (strides
8, 16, 16, 16; fixed size; 896 in all), box and keypoint offsets scaled by 128, sigmoid
scores, and weighted non-maximum suppression at IoU 0.3.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np

MODEL = Path(__file__).resolve().parent / "weights" / "face_detection_short_range.tflite"
INPUT = 128  # the model's square input, in pixels
STRIDES = (8, 16, 16, 16)  # SSD layers (consecutive equal strides share a grid), two anchors per layer and cell
MIN_SCORE = 0.5  # MediaPipe's own threshold for this model
NMS_IOU = 0.3
MAX_VIEWS = 6  # squares per frame at most (a 6:1 panorama is covered; longer ones are sampled)
KEYPOINTS = ("right eye", "left eye", "nose tip", "mouth", "right ear", "left ear")  # the subject's right/left


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x, y, w, h in the input image's pixels
    score: float
    keypoints: tuple[tuple[float, float], ...]  # KEYPOINTS, in the input image's pixels


def _stride_groups() -> list[tuple[int, int]]:
    """(grid cells per side, anchors per cell) of each run of equal STRIDES, in output order."""
    groups: list[tuple[int, int]] = []
    for i, stride in enumerate(STRIDES):
        if i and stride == STRIDES[i - 1]:
            cells, per_cell = groups[-1]
            groups[-1] = (cells, per_cell + 2)
        else:
            groups.append((INPUT // stride, 2))
    return groups


def ssd_anchors() -> np.ndarray:
    """(896, 2) anchor centres in [0, 1], in the order of the model's outputs."""
    out = []
    for cells, per_cell in _stride_groups():
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        out.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


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


def letterbox(cv2: Any, rgb: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """The image scaled to fit INPUT x INPUT, centred on black: (square, scale, pad x, pad y)."""
    h, w = rgb.shape[:2]
    s = INPUT / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = area_resize(cv2, rgb, (nw, nh))
    square = np.zeros((INPUT, INPUT, 3), dtype=np.uint8)
    px, py = (INPUT - nw) // 2, (INPUT - nh) // 2
    square[py : py + nh, px : px + nw] = small.reshape(nh, nw, -1)
    return square, s, float(px), float(py)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, min_score: float = MIN_SCORE) -> list[tuple[np.ndarray, float]]:
    """The model's (896, 16) regressors and (896,) logits as ([x0, y0, x1, y1, kx, ky, ...] in [0, 1], score),
    best first, before suppression."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.astype(np.float64), -100.0, 100.0)))
    keep = np.flatnonzero(scores >= min_score)
    out = []
    for i in keep[np.argsort(-scores[keep], kind="stable")]:
        r = raw_boxes[i].astype(np.float64) / INPUT
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


def _per_image(raw: np.ndarray, n: int) -> np.ndarray:
    """(n * 896, k) batch output as (n, 896, k).

    The graph reshapes each stride group's output to one image's worth and concatenates,
    so both runtimes return the batch inside each stride group: all images' stride-8
    anchors, then all images' stride-16 anchors (checked by ``tests/test_face_detector.py``
    with a batch in both orders, on every runtime).
    """
    parts, at = [], 0
    for size in (cells * cells * per_cell for cells, per_cell in _stride_groups()):
        parts.append(raw[at : at + n * size].reshape(n, size, -1))
        at += n * size
    return np.concatenate(parts, axis=1)


class Runtime(Protocol):
    """Runs the model on a batch of INPUT x INPUT RGB squares."""

    name: str

    def forward(self, squares: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Raw (n * 896, 1) logits and (n * 896, 16) regressors, in the graph's own order
        (``_per_image`` splits them per square)."""
        ...


class OpenCVRuntime:
    """OpenCV's DNN module (reads TFLite from 4.8)."""

    name = "opencv-dnn"

    def __init__(self, cv2: Any, model: Path = MODEL):
        self.cv2 = cv2
        self.net = cv2.dnn.readNetFromTFLite(str(model))

    def forward(self, squares: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        blob = self.cv2.dnn.blobFromImages(squares, scalefactor=1.0 / 127.5, mean=(127.5, 127.5, 127.5))  # [-1, 1], NCHW
        self.net.setInput(blob)
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
            self._batch = 0
            self._resize(1)  # the delegate is made (and announced) here
        if set(self.outputs) != {"classificators", "regressors"}:
            raise ValueError(f"unexpected outputs {sorted(self.outputs)} in {model.name}")

    def _resize(self, n: int) -> None:
        if n != self._batch:
            self.interpreter.resize_tensor_input(self.input, [n, INPUT, INPUT, 3])
            self.interpreter.allocate_tensors()
            self._batch = n

    def forward(self, squares: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        self._resize(len(squares))
        x = np.stack(squares).astype(np.float32)
        x -= 127.5
        x *= 1.0 / 127.5  # [-1, 1], NHWC: as OpenCV's blob, in the model's own layout
        self.interpreter.set_tensor(self.input, x)
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
        self.anchors = ssd_anchors()

    def detect(self, img: np.ndarray, min_score: float = MIN_SCORE) -> list[Detection]:
        """Faces in an RGB (or gray) uint8 image, best first.

        Two views in one batch (each costs a forward pass, 2-4 ms on one core): the
        squares of the short side at either end of the long side. They see faces 1.5x
        larger than the whole frame would at 128 px (3:2 frames), and a face up to a third
        of the long side is whole in one of them (larger ones, cut a little, are still
        found: tests). Frames closer to square are seen whole.
        """
        cv2 = self.cv2
        h, w = img.shape[:2]
        rgb = img[..., :3] if img.ndim == 3 else img
        # Halve the frame while every view still has >= INPUT px: the views are then cut
        # from a small copy, not copied out of the full frame.
        rgb = halve_down(cv2, rgb, INPUT, INPUT)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        f = rgb.shape[1] / w  # frame px -> small px
        h, w = rgb.shape[:2]
        side = min(h, w)
        if max(h, w) >= 1.25 * side:  # squares of the short side along the long side, ends included
            # 3:2 and 16:9: the two ends; panoramas: enough to cover, up to MAX_VIEWS (a crafted
            # 64 x 1,000,000 px file must not ask for thousands: beyond that they spread out).
            n = min(MAX_VIEWS, max(2, math.ceil(max(h, w) / side)))
            starts = [round(i * (max(h, w) - side) / (n - 1)) for i in range(n)]
            views = [(a, 0, side, side) if w > h else (0, a, side, side) for a in starts]
        else:
            views = [(0, 0, w, h)]
        squares, maps = [], []
        for vx, vy, vw, vh in views:
            sq, s, px, py = letterbox(cv2, np.ascontiguousarray(rgb[vy : vy + vh, vx : vx + vw]))
            squares.append(sq)
            maps.append((s * f, px - vx * s, py - vy * s))  # square px = frame px * s * f + offset
        scores, boxes = self.runtime.forward(squares)
        scores, boxes = _per_image(scores, len(views)), _per_image(boxes, len(views))
        found = []
        for k, (s, ox, oy) in enumerate(maps):
            for v, score in decode(boxes[k], scores[k, :, 0], self.anchors, min_score):
                xy = (v.reshape(-1, 2) * INPUT - (ox, oy)) / s  # back to frame pixels
                found.append((xy.ravel(), score))
        out = []
        for v, score in weighted_nms(sorted(found, key=lambda d: -d[1])):
            xy = v.reshape(-1, 2)
            x0, y0 = max(0.0, float(xy[0, 0])), max(0.0, float(xy[0, 1]))
            x1, y1 = min(float(img.shape[1]), float(xy[1, 0])), min(float(img.shape[0]), float(xy[1, 1]))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            out.append(Detection((x0, y0, x1 - x0, y1 - y0), score, tuple((float(x), float(y)) for x, y in xy[2:])))
        return out
