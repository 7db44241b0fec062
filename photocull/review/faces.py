"""The faces the cull's ``--faces`` checks found, for the page's strip of face crops.

The saved run keeps only the verdicts ("eyes closed" in a frame's problems); the boxes are
in the shoot's cache (``SHOOT/.photocull/cache.sqlite``), stored with each file's analysis
when the cull ran with ``--faces``. They are looked up one frame at a time, when the page
shows it, and checked like any input from a card: a box must be four whole numbers inside
the measured image, or the frame simply shows no strip.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..cache.identity import shoot_cache_path
from .session import Entry

if TYPE_CHECKING:
    from pathlib import Path

    from ..faces import FaceReport

MAX_FACES = 8  # the strip shows the largest ones


class FaceCache:
    """Face reports by frame, read from the shoot's cache (opened on first need, never created)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: Any = None
        self._opened = False
        self._lock = threading.Lock()
        self._reports: dict[int, FaceReport | None] = {}

    def _store(self) -> Any:
        if not self._opened:
            self._opened = True
            path = shoot_cache_path(self.root)
            if path.is_file() and not path.is_symlink():
                from ..cache.store import Cache

                try:
                    self._cache = Cache.open(path, root=self.root, check=False)
                except Exception:  # noqa: BLE001 - no cache, no strip: the page works without it
                    self._cache = None
        return self._cache

    def faces_of(self, e: Entry) -> FaceReport | None:
        """The frame's face report (largest faces first), or None: not checked, or not usable."""
        with self._lock:
            if e.id in self._reports:
                return self._reports[e.id]
            report = None
            cache = self._store()
            if cache is not None and cache.enabled:
                try:
                    data = cache.get_analysis(cache.identify(e.path))
                    report = _checked(data.get("faces")) if isinstance(data, dict) else None
                except Exception:  # noqa: BLE001 - a damaged entry is no strip, not a broken page
                    report = None
            self._reports[e.id] = report
            return report

    def faces_json(self, e: Entry) -> list[dict[str, Any]]:
        rep = self.faces_of(e)
        if rep is None:
            return []
        return [{"k": k, "eyes_open": f.eyes_open, "eyes_found": f.eyes_found,
                 "verdict": "eyes open" if f.eyes_open else "eyes closed" if f.eyes_open is False else "too small to judge",
                 "box": list(f.box)} for k, f in enumerate(rep.faces)]


def _checked(data: Any) -> FaceReport | None:
    """A FaceReport from a cache entry's dict, or None if any part of it is not plausible."""
    from ..faces import report_from_dict

    if not isinstance(data, dict):
        return None
    rep = report_from_dict(data)
    W, H = rep.size
    if not (isinstance(W, int) and isinstance(H, int) and 0 < W <= 100_000 and 0 < H <= 100_000):
        return None
    faces = []
    for f in rep.faces[:MAX_FACES]:
        box = f.box
        if len(box) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in box):
            return None
        x, y, w, h = box
        if not (0 <= x < W and 0 <= y < H and 0 < w <= W - x and 0 < h <= H - y):
            return None
        faces.append(f)
    rep.faces = faces
    return rep
