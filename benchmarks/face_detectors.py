"""Face detectors side by side: MediaPipe's in-wheel models, for the choice in photocull.faces.

Stand-alone (imports neither photocull nor the benchmarks package): MediaPipe cannot share
photocull's environment, so it runs in its own (see below). Per-frame CPU time
(``time.process_time``, all threads; robust on a shared machine) on a speed shoot's frames
decoded as photocull decodes them (Pillow draft to >= 640 px on the short side), and eye
openness from FaceMesh's eyelid landmarks on the labelled set in ``tests/faces_data``:

    python -m venv /tmp/mpvenv
    /tmp/mpvenv/bin/pip install --no-deps mediapipe==0.10.21 "numpy<2" "protobuf>=4.25.3,<5" \\
        absl-py attrs flatbuffers opencv-contrib-python-headless pillow matplotlib
    /tmp/mpvenv/bin/python benchmarks/face_detectors.py benchmarks/_work/speed-n60-6000x4000-q92-s1-v3 \\
        benchmarks/results/face-detectors-cpu-2c.json

Why only 0.10.21: it is the last MediaPipe whose wheel carries its face models
(``mediapipe/modules/face_detection/*.tflite``, ``face_landmark/*.tflite``) and the legacy
``solutions`` API that runs them. From 0.10.30 (and 1.x) the wheel has no models: the
FaceLandmarker task needs ``face_landmarker.task`` downloaded at run time, impossible here.
0.10.21 pins ``numpy<2`` and ``protobuf<5`` and pulls ``opencv-contrib-python`` (a second
``cv2``), so it cannot join photocull's environment (numpy 2). The Haar figures to compare
with come from ``photocull.faces`` in photocull's own environment (see the report in the
speed results).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[1] / "tests" / "faces_data"


def _load(path: Path) -> np.ndarray:
    im = Image.open(path)
    im.draft("RGB", (640, 640))
    return np.asarray(im.convert("RGB"))


def _cpu_ms(fn, xs) -> tuple[float, float]:
    c, w = time.process_time(), time.perf_counter()
    for x in xs:
        fn(x)
    return (time.process_time() - c) / len(xs) * 1000, (time.perf_counter() - w) / len(xs) * 1000


def main(shoot_dir: Path, n: int = 20) -> dict:
    import mediapipe as mp

    shoot = [_load(p) for p in sorted(shoot_dir.glob("*.JPG"))[:n]]
    labels = json.loads((DATA / "labels.json").read_text())
    lab = {name: np.asarray(Image.open(DATA / name).convert("RGB")) for name in sorted(labels)}
    out: dict = {"mediapipe": mp.__version__, "frames": len(shoot), "frame_shape": list(shoot[0].shape)}
    for sel, name in [(0, "blazeface_short_range"), (1, "blazeface_full_range")]:
        with mp.solutions.face_detection.FaceDetection(model_selection=sel, min_detection_confidence=0.5) as fd:
            fd.process(shoot[0])
            cpu, wall = _cpu_ms(fd.process, shoot)
            out[name] = {
                "cpu_ms_per_frame": cpu,
                "wall_ms_per_frame": wall,
                "labelled_faces_found": sum(1 for x in lab.values() if fd.process(x).detections),
                "detections_on_face_free_shoot": sum(len(fd.process(x).detections or []) for x in shoot),
            }
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=4, refine_landmarks=True) as fm:
        fm.process(shoot[0])
        cpu, wall = _cpu_ms(fm.process, shoot)
        ears: dict[str, float | None] = {}
        t = time.process_time()
        for name, x in lab.items():
            r = fm.process(x)
            if not r.multi_face_landmarks:
                ears[name] = None
                continue
            lm = r.multi_face_landmarks[0].landmark

            def d(a: int, b: int) -> float:
                return float(np.hypot(lm[a].x - lm[b].x, lm[a].y - lm[b].y))

            # eye aspect ratio: lid gap over eye width, both eyes
            ears[name] = (d(159, 145) / d(33, 133) + d(386, 374) / d(362, 263)) / 2
        per_face = (time.process_time() - t) / len(lab) * 1000
        op = sorted(v for k, v in ears.items() if v is not None and labels[k]["eyes"] == "open")
        cl = sorted(v for k, v in ears.items() if v is not None and labels[k]["eyes"] == "closed")
        best = max((sum(v > th for v in op) + sum(v <= th for v in cl), float(th)) for th in np.linspace(0.05, 0.4, 71))
        out["facemesh"] = {
            "cpu_ms_per_face_free_frame": cpu,
            "wall_ms_per_face_free_frame": wall,
            "cpu_ms_per_labelled_face": per_face,
            "labelled_faces_found": sum(v is not None for v in ears.values()),
            "eye_aspect_open_min": op[0] if op else None,
            "eye_aspect_closed_max": cl[-1] if cl else None,
            "best_threshold": best[1],
            "correct_at_best_threshold": int(best[0]),
            "labelled": len(op) + len(cl),
        }
    return out


if __name__ == "__main__":
    res = main(Path(sys.argv[1]))
    text = json.dumps(res, indent=1, default=float)
    print(text)
    if len(sys.argv) > 2:
        Path(sys.argv[2]).write_text(text + "\n")
