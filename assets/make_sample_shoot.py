"""Build the bundled sample shoot in ``assets/sample_shoot/`` and its ground truth.

Why: photocull needs a small, redistributable shoot to demo the CLI and to test grouping and
picking end to end, and the first thing a newcomer sees should be real photographs. Real
shoots cannot be shipped, so this script renders one from the camera photographs in Debian's
``lomiri-wallpapers-16.04`` (CC-BY-4.0 / CC-BY-SA-4.0 / CC0; see assets/README.md): bursts of
handheld frames (sub-pixel jitter, small rotations, a slow zoom) where every frame but one
carries one physically modelled defect (defocus, motion blur, exposure error with clipping,
shot + read noise, heavy JPEG re-compression; see ``benchmarks/pick_data.py``), plus single
frames. Because the defects are applied here, the best frame of every burst is known exactly
and written to ``assets/sample_shoot_truth.json``.

Run:  python assets/make_sample_shoot.py
(uses /work/data/lomiri or benchmarks/_work/lomiri, else fetches the package with
``apt-get download lomiri-wallpapers-16.04`` and unpacks it with ``dpkg-deb -x``)

Deterministic: fixed seeds, fixed EXIF, no wall-clock time. It deletes and rewrites
``assets/sample_shoot/`` every time.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

ASSETS = Path(__file__).resolve().parent
sys.path.insert(0, str(ASSETS.parent))
from benchmarks import pick_data as pd  # noqa: E402

OUT_DIR = ASSETS / "sample_shoot"
TRUTH_PATH = ASSETS / "sample_shoot_truth.json"
SEED = 20240615
JPEG_QUALITY = 88
LONG_SIDE = 1400
LEVEL = "strong"  # the sample shows what culling is for; the benchmark covers subtle defects


@dataclass
class Shot:
    id: str
    photo: str
    crop: tuple[float, float, float]  # centre x, centre y, fraction kept (see pick_data.canvas)
    start: datetime
    families: list[str]  # per frame, "" = the clean frame
    orientation: int = 1  # stored rotated; applying the EXIF tag gives the upright picture
    model: str = "Sample Cam"
    folder: str = ""
    long_side: int = LONG_SIDE


DAY1 = datetime(2024, 6, 15)
DAY2 = datetime(2024, 6, 16)
SHOTS = [
    Shot("friends", "friends_by_Aitzol_Berasategi.jpg", (0.5, 0.5, 1.0), DAY1.replace(hour=9, minute=58, second=12), [""], orientation=8, long_side=1200),
    Shot("bridge", "Bridge_by_Sander_Klootwijk.jpg", (0.5, 0.5, 1.0), DAY1.replace(hour=10, minute=2, second=3),
         ["motion", "defocus", "", "over", "noise"]),
    Shot("dragonfly", "Dragonfly_by_Bolly.jpg", (0.5, 0.5, 0.8), DAY1.replace(hour=10, minute=5, second=40),
         ["defocus", "under", "", "jpeg"]),
    # starts ~5 s after the dragonfly burst ends: close in time, different scene
    Shot("seeding", "seeding_by_Clements_Engelhardt.jpg", (0.5, 0.5, 1.0), DAY1.replace(hour=10, minute=5, second=47),
         ["over", "", "motion", "noise", "defocus", "under"]),
    Shot("greentock", "greentock_by_Peter_Nerlich.jpg", (0.5, 0.5, 1.0), DAY1.replace(hour=10, minute=9, second=31), [""]),
    Shot("wine", "Wine_by_Jakkub_Mede.jpg", (0.5, 0.5, 1.0), DAY1.replace(hour=10, minute=14, second=5),
         ["motion", "over", "defocus", "noise", "", "under", "jpeg"], orientation=6, long_side=1200),
    Shot("sunset", "sunset_by_Aitzol_Berasategi.jpg", (0.5, 0.5, 1.0), DAY2.replace(hour=14, minute=20, second=44), [""],
         model="Sample Cam II", folder="day2"),
    Shot("aitzgorri", "aitzgorri_by_Aitzol_Berasategi.jpg", (0.5, 0.5, 1.0), DAY2.replace(hour=14, minute=25, second=9),
         ["", "motion", "noise"], model="Sample Cam II", folder="day2"),
]
# Stored-orientation transposes: what, applied to the upright picture, gives the stored pixels.
STORE = {1: None, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def main() -> None:
    root = pd.photo_dir()
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    rng = np.random.default_rng(SEED)
    series, singletons, defects, params = [], [], {}, {}
    k = 0
    for shot in SHOTS:
        folder = OUT_DIR / shot.folder
        folder.mkdir(parents=True, exist_ok=True)
        cv = pd.canvas(root / shot.photo, shot.crop, shot.long_side)
        when = shot.start + timedelta(milliseconds=int(rng.integers(100, 900)))
        zoom_step = float(rng.uniform(-0.006, 0.006))
        names = []
        for i, fam in enumerate(shot.families):
            k += 1
            rel = (f"{shot.folder}/" if shot.folder else "") + f"IMG_{k:04d}.JPG"
            jitter = len(shot.families) > 1
            fr = pd.PlannedFrame(rel, when.isoformat(timespec="milliseconds"), fam,
                                 dx=float(rng.normal(0, 6)) if jitter else 0.0, dy=float(rng.normal(0, 6)) if jitter else 0.0,
                                 rot_deg=float(rng.normal(0, 0.4)) if jitter and fam else 0.0, zoom=1.0 + zoom_step * i)
            u8 = pd.frame_view(cv, fr, shot.long_side)
            p = {}
            if fam:
                u8, p = pd.apply_defect(u8, fam, LEVEL, rng)
            im = Image.fromarray(u8)
            if STORE[shot.orientation] is not None:
                im = im.transpose(STORE[shot.orientation])
            path = OUT_DIR / rel
            im.save(path, "JPEG", quality=JPEG_QUALITY, exif=pd.exif_bytes(when, shot.orientation, shot.model))
            ts = when.timestamp()
            os.utime(path, (ts, ts))
            names.append(rel)
            defects[rel] = [fam] if fam else []
            params[rel] = {"capture_time": fr.when, "orientation": shot.orientation, "photo": shot.photo,
                           "shift_px": [round(fr.dx, 2), round(fr.dy, 2)], "rotate_deg": round(fr.rot_deg, 3),
                           "zoom": round(fr.zoom, 4), **p}
            when += timedelta(milliseconds=int(rng.integers(100, 601)))
        if len(names) == 1:
            singletons.append({"id": shot.id, "frame": names[0], "scene": shot.photo})
        else:
            best = names[shot.families.index("")]
            series.append({"id": shot.id, "frames": names, "best": best, "scene": shot.photo})
    TRUTH_PATH.write_text(json.dumps({
        "source": "assets/make_sample_shoot.py", "photos": "Debian lomiri-wallpapers-16.04", "seed": SEED, "level": LEVEL,
        "series": series, "singletons": singletons, "defects": defects, "frame_params": params,
    }, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT_DIR.rglob("*.JPG"))
    print(f"{len(defects)} frames, {total / 1e6:.1f} MB in {OUT_DIR}")


if __name__ == "__main__":
    main()
