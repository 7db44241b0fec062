"""Thumbnails and full-size images for the page, made one at a time as the browser asks.

Thumbnails are cached: as files in the shoot's ``.photocull/review-thumbs/`` when the shoot
already has a ``.photocull`` folder (photocull made it; a second review opens instantly),
else in a bounded in-memory map. A cache key covers path, size and mtime, so an edited
photo gets a new thumbnail. The full image is the original JPEG bytes when no rotation is
needed (exact pixels, no re-encode), else an upright re-encode.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from PIL import Image, ImageOps

from ..decode import DEFAULT_MAX_PIXELS, decode
from ..report.html import make_thumbnail
from .decisions import inside

THUMB_DIR = "review-thumbs"
MEMORY_ITEMS = 2000  # ~25 KB each: ~50 MB at most
FULL_QUALITY = 92


class ThumbCache:
    """Thumbnails by (path, size, mtime): on disk under ``.photocull/`` if it exists, else in memory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        pc = self.root / ".photocull"
        # Only a real folder of the shoot (a crafted symlink to elsewhere is not written into).
        self.folder = pc / THUMB_DIR if pc.is_dir() and not pc.is_symlink() and inside(pc, self.root) else None
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.made = 0  # thumbnails decoded (not served from the cache): for tests and stats

    @staticmethod
    def key(path: Path, st: os.stat_result) -> str:
        return hashlib.sha256(f"{path}\0{st.st_size}\0{st.st_mtime_ns}".encode("utf-8", "surrogateescape")).hexdigest()[:32]

    def get(self, path: Path, fmt: str) -> bytes:
        key = self.key(path, os.stat(path))
        data = self._lookup(key)
        if data is None:
            data = make_thumbnail(path, fmt)
            self.made += 1
            self._store(key, data)
        return data

    def _lookup(self, key: str) -> bytes | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        if self.folder is not None:
            try:
                return (self.folder / f"{key}.jpg").read_bytes()
            except OSError:
                return None
        return None

    def _store(self, key: str, data: bytes) -> None:
        if self.folder is not None:
            try:
                self.folder.mkdir(exist_ok=True)
                if self.folder.is_symlink() or not inside(self.folder, self.root):
                    raise OSError("thumbnail folder is a link out of the shoot")
                fd, tmp = tempfile.mkstemp(prefix=".thumb.", dir=self.folder)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, self.folder / f"{key}.jpg")
                return
            except OSError:
                pass  # a read-only card: fall back to memory
        with self._lock:
            self._memory[key] = data
            while len(self._memory) > MEMORY_ITEMS:
                self._memory.popitem(last=False)


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block means "as stored"
        return 1


def full_image(path: Path, fmt: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The whole photo upright, as JPEG bytes (raises decode.DecodeError / OSError)."""
    if fmt == "jpeg":
        with Image.open(path) as img:
            w, h = img.size
            if img.format == "JPEG" and w * h <= max_pixels and _orientation(img) == 1:
                return Path(path).read_bytes()
            if w * h > max_pixels:
                raise OSError(f"image is {w}x{h}, over the {max_pixels / 1e6:.0f} MP limit")
            img.load()
            up = ImageOps.exif_transpose(img).convert("RGB")
    else:  # RAW previews, HEIC, TIFF...: the shared decoder at full size (already upright)
        up = decode(Path(path), fmt, decode_size=1 << 30, max_pixels=max_pixels).image
    buf = io.BytesIO()
    up.save(buf, "JPEG", quality=FULL_QUALITY)
    return buf.getvalue()
