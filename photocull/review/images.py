"""Thumbnails and full-size images for the page, made one at a time as the browser asks.

Thumbnails are cached: as files in the shoot's ``.photocull/review-thumbs/`` when the shoot
already has a ``.photocull`` folder (photocull made it; a second review opens instantly),
else in a bounded in-memory map. A cache key is an HMAC, under this computer's secret, of
the file's path, size, mtime and inode: an edited photo gets a new thumbnail, and a card
cannot plant a picture under a key it cannot compute (a file found in the folder is only
ever served under the name this server derived itself). Screen-sized views (the loupe's
fit, survey, compare) are made on demand and kept in a small memory map. The full image is
the original JPEG bytes when no rotation is needed (exact pixels, no re-encode), else an
upright re-encode.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from PIL import Image, ImageOps

from ..decode import DEFAULT_MAX_PIXELS, decode
from ..metadata.journal import _key as local_secret  # this computer's secret (never on a card)
from ..report.html import make_thumbnail
from .decisions import inside

THUMB_DIR = "review-thumbs"
MEMORY_ITEMS = 2000  # ~25 KB each: ~50 MB at most
FULL_QUALITY = 92
VIEW_ITEMS = 64  # screen-sized views kept (~300 KB each)
VIEW_STEP = 128  # view sizes are rounded up to this (a resized window reuses them)
VIEW_MAX = 4096
VIEW_QUALITY = 88


class ThumbCache:
    """Thumbnails by (path, size, mtime): on disk under ``.photocull/`` if it exists, else in memory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        pc = self.root / ".photocull"
        # Only a real folder of the shoot (a crafted symlink to elsewhere is not written into).
        self.folder = pc / THUMB_DIR if pc.is_dir() and not pc.is_symlink() and inside(pc, self.root) else None
        try:
            self._secret = local_secret(True) or b""
        except OSError:  # no state folder to keep a secret in: thumbnails in memory only
            self._secret, self.folder = b"", None
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.made = 0  # thumbnails decoded (not served from the cache): for tests and stats

    def key(self, path: Path, st: os.stat_result) -> str:
        """The HMAC of the file's identity under this computer's secret (unguessable on a card)."""
        ident = f"review-thumb\0{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}"
        return hmac.new(self._secret, ident.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()[:40]

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


class ViewCache:
    """Photos sized to the screen (long side ``size``), made once per (photo, size) and kept
    in a bounded memory map: the page prefetches the neighbours of the frame it shows."""

    def __init__(self) -> None:
        self._memory: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def size_for(w: int, h: int) -> int:
        """The long side to make for a w x h screen box, rounded up to a step, bounded."""
        side = max(VIEW_STEP, min(VIEW_MAX, max(w, h)))
        return -(-side // VIEW_STEP) * VIEW_STEP

    def get(self, path: Path, fmt: str, size: int) -> bytes:
        st = os.stat(path)
        key = (str(path), st.st_size, st.st_mtime_ns, size)
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        data = make_thumbnail(path, fmt, long_side=size, quality=VIEW_QUALITY)
        with self._lock:
            self._memory[key] = data
            while len(self._memory) > VIEW_ITEMS:
                self._memory.popitem(last=False)
        return data


def face_crop(path: Path, fmt: str, box: tuple[int, int, int, int], measured: tuple[int, int],
              max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """One face at 100 % of the photo (with a margin), as JPEG bytes. ``box`` is in the pixels
    of the face check's image (``measured``: its width, height), scaled here to the photo's."""
    data = full_image(path, fmt, max_pixels)
    with Image.open(io.BytesIO(data)) as img:
        W, H = img.size
        sx, sy = W / max(measured[0], 1), H / max(measured[1], 1)
        x, y, w, h = box
        m = 0.35  # margin around the face box (the eyes and the brow, as Narrative Select shows)
        left, top = max(0, int((x - m * w) * sx)), max(0, int((y - m * h) * sy))
        right, bottom = min(W, int((x + w * (1 + m)) * sx)), min(H, int((y + h * (1 + m)) * sy))
        if right - left < 2 or bottom - top < 2:
            raise ValueError("face box outside the photo")
        crop = img.crop((left, top, right, bottom)).convert("RGB")
    buf = io.BytesIO()
    crop.save(buf, "JPEG", quality=FULL_QUALITY)
    return buf.getvalue()
