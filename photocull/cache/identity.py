"""Who a file is: its key path, size, mtime and a cheap content hash; where caches live.

Content hash (:func:`content_hash`): BLAKE2b, 16-byte digest, over
``b"photocull-ch1" + size (8 bytes, little endian) + first 64 KiB + last 64 KiB`` (the whole
file when it is at most 128 KiB). Cheap (two reads) and, for camera files, unique in practice:
the head holds the EXIF block (capture time, sub-seconds, serial/shutter count), the tail the
end of the compressed image. It is not a hash of the whole file: two files of the same size
differing only in the middle would collide. Writing metadata into a file changes its head
and mtime, so its hash changes; a writer that knows the pixels did not change can carry the
entries over with :meth:`Cache.relink`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..paths import STATE_DIRNAME, user_cache_dir

CACHE_DIRNAME = STATE_DIRNAME  # SHOOT/.photocull, shared with the journal and the last run
CACHE_FILENAME = "cache.sqlite"
HASH_CHUNK = 64 * 1024


def content_hash(path: str | os.PathLike[str], size: int | None = None) -> str:
    """BLAKE2b-128 hex of ``size + first 64 KiB + last 64 KiB`` (see the module docstring)."""
    h = hashlib.blake2b(b"photocull-ch1", digest_size=16)
    with open(path, "rb") as f:
        if size is None:
            size = os.fstat(f.fileno()).st_size
        h.update(int(size).to_bytes(8, "little"))
        if size <= 2 * HASH_CHUNK:
            h.update(f.read())
        else:
            h.update(f.read(HASH_CHUNK))
            f.seek(size - HASH_CHUNK)
            h.update(f.read(HASH_CHUNK))
    return h.hexdigest()


@dataclass(frozen=True)
class FileIdent:
    """Who a file is: where it is now (``key``: relative to the shoot, or absolute for the
    user cache), its size and mtime_ns (the fast check) and its content hash (what data is
    stored under). Build with :meth:`Cache.identify`."""

    key: str
    size: int
    mtime_ns: int
    content_hash: str


default_user_cache_dir = user_cache_dir  # the one rule lives in photocull.paths


def shoot_cache_path(shoot: str | os.PathLike[str]) -> Path:
    """``SHOOT/.photocull/cache.sqlite``."""
    return Path(shoot) / CACHE_DIRNAME / CACHE_FILENAME
