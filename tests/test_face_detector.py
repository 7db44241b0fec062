"""BlazeFace as photocull runs it: anchors, decoding, suppression, batching, placement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photocull import face_detector as fd
from photocull import faces
from tests.conftest import scene

DATA = Path(__file__).resolve().parent / "faces_data"
needs_cv2 = pytest.mark.skipif(not faces.available(), reason=f"face checks unavailable: {faces.unavailable_reason()}")


def test_anchors_follow_the_ssd_layout():
    a = fd.ssd_anchors()  # the model's own 128 x 128: 16 x 16 x 2 + 8 x 8 x 6
    assert a.shape == (896, 2)
    assert np.allclose(a[0], (4, 4)) and np.allclose(a[1], a[0])  # 2 anchors per stride-8 cell
    assert np.allclose(a[2], (12, 4))  # then the next cell along x
    assert np.allclose(a[512], (8, 8)) and np.allclose(a[512:518], a[512])  # 6 per stride-16 cell
    assert np.allclose(a[-1], (120, 120))
    wide = fd.ssd_anchors(192, 288)  # any size: the same layout over a larger grid
    assert wide.shape == (24 * 36 * 2 + 12 * 18 * 6, 2) and np.allclose(wide[-1], (280, 184))


def test_input_size_keeps_the_aspect_and_bounds_the_cost():
    assert fd.input_size(1500, 1000) == (288, 192)
    assert fd.input_size(1000, 1500) == (192, 288)
    assert fd.input_size(6000, 4000) == (288, 192)
    w, h = fd.input_size(40_000, 64)  # an untrusted strip: one pass of at most DETECT_MAX_LONG
    assert w == fd.DETECT_MAX_LONG and h == fd.GRID
    assert all(v % fd.GRID == 0 for v in fd.input_size(1337, 999))


def test_decode_places_a_box_on_its_anchor():
    anchors = fd.ssd_anchors()
    boxes = np.zeros((896, 16), np.float32)
    logits = np.full(896, -10.0, np.float32)
    i = 530  # a stride-16 anchor
    logits[i] = 3.0
    boxes[i, :4] = (6.4, -3.2, 32.0, 38.4)  # dx, dy, w, h in input pixels
    boxes[i, 4:6] = (-8.0, -8.0)  # right eye
    (v, score), = fd.decode(boxes, logits, anchors)
    cx, cy = anchors[i] + (6.4, -3.2)
    assert score == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert v[:4] == pytest.approx([cx - 16.0, cy - 19.2, cx + 16.0, cy + 19.2], abs=1e-4)
    assert v[4:6] == pytest.approx(anchors[i] - 8.0, abs=1e-4)
    assert fd.decode(boxes, logits - 5.0, anchors) == []  # under MIN_SCORE


def test_weighted_nms_merges_overlaps_and_keeps_the_rest():
    a = (np.array([0.0, 0.0, 1.0, 1.0]), 0.9)
    b = (np.array([0.1, 0.0, 1.1, 1.0]), 0.6)
    c = (np.array([3.0, 3.0, 4.0, 4.0]), 0.7)
    out = fd.weighted_nms([a, b, c])
    assert len(out) == 2 and out[0][1] == 0.9 and out[1][1] == 0.7
    assert out[0][0][0] == pytest.approx(0.6 * 0.1 / 1.5)  # score-weighted mean of the overlapping pair


def _runtimes() -> list[str]:
    """The runtimes installed here (LiteRT is optional; OpenCV comes with face checks)."""
    out = []
    for name in fd.RUNTIMES:
        try:
            fd.load_runtime(faces._load()[0] if faces.available() else None, name=name)
            out.append(name)
        except Exception:  # noqa: BLE001 - not installed here
            pass
    return out


RUNTIMES = _runtimes()


@needs_cv2
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_each_output_row_belongs_to_its_anchor(runtime):
    """A face placed in a wide input fires the anchors under it: the outputs follow
    ``ssd_anchors``' order for any input size, on every runtime."""
    rt = fd.load_runtime(faces._load()[0], name=runtime)
    face = np.asarray(Image.open(DATA / "open_00.jpg").convert("L").resize((64, 64)), np.float32)
    for at in ((16, 32), (208, 96)):
        x = np.full((1, 192, 288, 3), 0.0, np.float32)
        x[0, at[1] : at[1] + 64, at[0] : at[0] + 64] = (face[..., None] - 127.5) / 127.5
        scores, boxes = rt.forward(x)
        anchors = fd.ssd_anchors(192, 288)
        assert scores.shape == (len(anchors), 1) and boxes.shape == (len(anchors), 16)
        best = int(np.argmax(scores[:, 0]))
        assert scores[best, 0] > 1.0
        cx, cy = anchors[best] + boxes[best, :2]
        assert abs(cx - (at[0] + 32)) < 12 and abs(cy - (at[1] + 32)) < 12


@needs_cv2
@pytest.mark.parametrize("at", [(150, 300), (1100, 300), (650, 500)])
def test_faces_anywhere_in_a_wide_frame_are_placed_right(at):
    """Left, right and middle of a wide frame: boxes come back in frame pixels."""
    _, _, _, det = faces._load()
    face = Image.open(DATA / "open_02.jpg").convert("RGB")  # a 200 px face in 440 x 480
    canvas = scene(5).resize((1500, 1000))
    canvas.paste(face, at)
    dets = det.detect(np.asarray(canvas))
    assert len(dets) == 1
    x, y, w, h = dets[0].box
    assert at[0] <= x and x + w <= at[0] + face.width and at[1] <= y and y + h <= at[1] + face.height
    assert 150 <= w <= 260
    (rx, ry), (lx, ly) = dets[0].keypoints[:2]
    assert x < rx < lx < x + w and y < ry < y + h / 2  # the eyes: side by side, in the upper half


@needs_cv2
def test_portrait_frames_and_faces_larger_than_the_overlap():
    _, _, _, det = faces._load()
    face = Image.open(DATA / "open_02.jpg").convert("RGB")
    tall = scene(6).resize((1000, 1500))
    tall.paste(face, (300, 520))  # straddles the middle of the long side
    assert len(det.detect(np.asarray(tall))) == 1
    big = face.resize((face.width * 2, face.height * 2))  # a 400 px face across the middle of a 1500 px frame
    wide = scene(5).resize((1500, 1000))
    wide.paste(big, (310, 40))
    dets = det.detect(np.asarray(wide))
    assert dets[0].box[2] > 300 and 250 <= dets[0].box[0] <= 600  # best first: the whole face
    # Anything else proposed scores lower, and the Haar confirmation drops it.
    assert all(d.score < dets[0].score for d in dets[1:])
    assert len(faces.detect_faces(np.asarray(wide)).faces) == 1


@needs_cv2
def test_nothing_is_found_in_face_free_frames():
    _, _, _, det = faces._load()
    for seed in (1, 2, 3):
        assert det.detect(np.asarray(scene(seed).resize((1500, 1000)))) == []


@needs_cv2
def test_a_face_in_the_middle_of_a_panorama_is_seen():
    """A 3:1 frame is covered by three squares, not only its two ends."""
    _, _, _, det = faces._load()
    face = Image.open(DATA / "open_02.jpg").convert("RGB").resize((220, 240))
    pano = scene(5).resize((2400, 800))
    pano.paste(face, (1100, 300))
    dets = det.detect(np.asarray(pano))
    assert len(dets) == 1 and 1100 <= dets[0].box[0] < 1320


@needs_cv2
def test_an_absurdly_long_frame_costs_one_bounded_pass(monkeypatch):
    """An untrusted 64 x 40,000 frame is seen once, at most DETECT_MAX_LONG px long."""
    _, _, _, det = faces._load()
    shapes = []

    class Counting:
        def __init__(self, runtime):
            self.runtime = runtime

        def forward(self, x):
            shapes.append(x.shape)
            return self.runtime.forward(x)

    monkeypatch.setattr(det, "runtime", Counting(det.runtime))
    strip = np.full((64, 40_000, 3), 120, np.uint8)
    assert det.detect(strip) == []
    assert shapes == [(1, fd.GRID, fd.DETECT_MAX_LONG, 3)]


@needs_cv2
@pytest.mark.skipif(len(RUNTIMES) < 2, reason="LiteRT (ai-edge-litert) is not installed: one runtime only")
def test_runtimes_agree():
    """LiteRT and OpenCV's DNN run the same model: the same faces, at the same places, from
    the raw outputs up."""
    cv2 = faces._load()[0]
    face = Image.open(DATA / "open_02.jpg").convert("RGB")
    canvas = scene(5).resize((1500, 1000))
    canvas.paste(face, (1000, 300))
    frame = np.asarray(canvas)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 192, 288, 3)).astype(np.float32)
    ref = fd.load_runtime(cv2, name="opencv-dnn").forward(x)
    ref_dets = fd.BlazeFace(cv2, runtime="opencv-dnn").detect(frame)
    assert len(ref_dets) == 1 and 1000 <= ref_dets[0].box[0] < 1200
    for name in RUNTIMES:
        out = fd.load_runtime(cv2, name=name).forward(x)
        assert np.allclose(out[0], ref[0], atol=1e-3) and np.allclose(out[1], ref[1], atol=1e-2)
        dets = fd.BlazeFace(cv2, runtime=name).detect(frame)
        assert len(dets) == 1 and np.allclose(dets[0].box, ref_dets[0].box, atol=0.5)
        assert dets[0].score == pytest.approx(ref_dets[0].score, abs=1e-4)


def test_the_preferred_runtime_loads_first_and_a_missing_one_is_skipped(monkeypatch):
    """LiteRT is optional: without it, OpenCV's DNN runs the model, with no error."""
    made = []

    def broken(cv2, model):
        raise ImportError("No module named 'ai_edge_litert'")

    def fine(cv2, model):
        made.append(model)
        return "runtime"

    monkeypatch.setattr(fd, "RUNTIMES", {"litert": broken, "opencv-dnn": fine})
    assert fd.load_runtime(None) == "runtime" and made == [fd.MODEL]
    monkeypatch.setattr(fd, "RUNTIMES", {"litert": broken})
    with pytest.raises(RuntimeError, match="No module named"):
        fd.load_runtime(None)


def test_litert_says_nothing_on_stderr(capfd):
    """Its 'Created TensorFlow Lite XNNPACK delegate' line must not reach the photographer."""
    if "litert" not in RUNTIMES:
        pytest.skip("LiteRT (ai-edge-litert) is not installed")
    import subprocess
    import sys

    code = "from photocull import face_detector as fd; fd.LiteRTRuntime().forward(__import__('numpy').zeros((1, 192, 288, 3), 'float32'))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
