"""Face finding: recall by face size and cost per frame, BlazeFace proposals vs the Haar search.

    python -m benchmarks face-recall [--shoot DIR]

Recall: each of the 20 open-eyed faces of the labelled set (``tests/faces_data``) pasted into
a face-free 1500 x 1000 scene (the working size of a 24 MP frame) at a given width, as a
fraction of the frame's long side, at one of six places (left, middle, right; high, low).
A face counts as found when ``photocull.faces.detect_faces`` (detection plus the Haar
confirmation) returns a box centred on it. Two detectors:

* ``blazeface-<runtime>``: what photocull runs, fed as ``analyse`` feeds it (the frame's
  luma; the detector reads it at 192 px), on each runtime installed (LiteRT, OpenCV's DNN);
* ``haar``: the Haar cascade searching the whole frame at 320 px (what every frame got
  before BlazeFace, less the skin-colour gate, which can only lower its recall).

Cost: CPU ms per frame of ``detect_faces`` on a speed shoot's frames (decoded as photocull
decodes them), median of 3 passes. Results: ``benchmarks/results/face-recall-<machine>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from . import common

DATA = Path(__file__).resolve().parents[1] / "tests" / "faces_data"
FRACTIONS = (0.05, 0.06, 0.07, 0.08, 0.10, 0.13, 0.17, 0.25)
PLACES = ((100, 150), (600, 400), (1100, 150), (100, 400), (600, 150), (1100, 400))


HAAR_LONG_SIDE = 320  # the Haar whole-frame search: a copy this size ...
HAAR_MIN_FACE_PX = 20  # ... for faces at least this wide (its own window), in steps of 1.2


def _detectors() -> dict[str, Callable[[Image.Image], list[tuple[int, int, int, int]]]]:
    """BlazeFace on each runtime installed here (``face_detector.RUNTIMES``), and Haar."""
    from photocull import face_detector, faces

    cv2, face_cascade, _, detector = faces._require()

    def on(runtime) -> Callable[[Image.Image], list[tuple[int, int, int, int]]]:
        def blazeface(frame: Image.Image) -> list[tuple[int, int, int, int]]:
            gray = np.asarray(frame.convert("L"))
            detector.runtime = runtime  # the process's detector, on this runtime
            return [f.box for f in faces.detect_faces(gray).faces]

        return blazeface

    out = {}
    for name in face_detector.RUNTIMES:
        try:
            out[f"blazeface-{name}"] = on(face_detector.load_runtime(cv2, name=name))
        except Exception as exc:  # noqa: BLE001 - not installed here: say so, measure the others
            print(f"blazeface-{name}: not run ({type(exc).__name__}: {exc})", flush=True)

    def haar(frame: Image.Image) -> list[tuple[int, int, int, int]]:
        gray = np.asarray(frame.convert("L"))
        H, W = gray.shape
        scale = min(1.0, HAAR_LONG_SIDE / max(H, W))
        small = face_detector.area_resize(cv2, gray, (max(1, round(W * scale)), max(1, round(H * scale))))
        found = face_cascade.detectMultiScale(cv2.equalizeHist(small), scaleFactor=1.2, minNeighbors=3,
                                              minSize=(HAAR_MIN_FACE_PX, HAAR_MIN_FACE_PX))
        proposals = [tuple(round(float(v) / scale) for v in b) for b in np.reshape(found, (-1, 4))]
        boxes, scale = faces._refine(cv2, face_cascade, gray, proposals)
        return [tuple(round(v / scale) for v in b) for b in boxes]

    out["haar"] = haar
    return out


def recall(detectors: dict[str, Callable]) -> dict[str, dict[str, float]]:
    from tests.conftest import scene

    labels = json.loads((DATA / "labels.json").read_text())
    names = sorted(n for n in labels if labels[n]["eyes"] == "open")
    scenes = [scene(s).resize((1500, 1000)) for s in (5, 6)]
    out: dict[str, dict[str, float]] = {name: {} for name in detectors}
    for frac in FRACTIONS:
        hits = dict.fromkeys(detectors, 0)
        for i, name in enumerate(names):
            face = Image.open(DATA / name).convert("RGB")
            k = frac * 1500 / labels[name]["face_px"]
            f = face.resize((max(1, round(face.width * k)), max(1, round(face.height * k))))
            x, y = PLACES[i % len(PLACES)]
            x, y = min(x, 1500 - f.width), min(y, 1000 - f.height)
            frame = scenes[i % 2].copy()
            frame.paste(f, (x, y))
            cx, cy = x + f.width / 2, y + f.height / 2
            for det_name, det in detectors.items():
                hits[det_name] += any(abs(bx + bw / 2 - cx) < f.width / 2 and abs(by + bh / 2 - cy) < f.height / 2
                                      for bx, by, bw, bh in det(frame))
        for det_name in detectors:
            out[det_name][f"{frac:.2f}"] = hits[det_name] / len(names)
        print(f"face {frac:.2f} of the long side: " + ", ".join(f"{d} {hits[d]}/{len(names)}" for d in detectors), flush=True)
    return out


def cost(detectors: dict[str, Callable], shoot: Path, n: int = 30) -> dict[str, float]:
    from photocull.decode import decode

    frames = [decode(p, "jpeg", mode="RGB").image for p in sorted(shoot.glob("*.JPG"))[:n]]
    out = {}
    for det_name, det in detectors.items():
        det(frames[0])
        runs = []
        for _ in range(3):
            c = time.process_time()
            for fr in frames:
                det(fr)
            runs.append((time.process_time() - c) / len(frames) * 1000)
        out[det_name] = float(np.median(runs))
        print(f"{det_name}: {out[det_name]:.1f} CPU ms per frame ({len(frames)} frames, median of 3)", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks face-recall")
    ap.add_argument("--shoot", type=Path, default=None, help="speed-shoot folder (default: the cached n=60 one)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    from .data import speed_shoot

    shoot = a.shoot or speed_shoot(60)
    detectors = _detectors()
    res = {"recall_by_face_fraction_of_long_side": recall(detectors), "cpu_ms_per_frame": cost(detectors, shoot),
           "shoot": str(shoot)}
    path = common.write_results("face-recall", common.machine_label("cpu"), res, a.out)
    print(f"results: {path}")
    return res


if __name__ == "__main__":
    main()
