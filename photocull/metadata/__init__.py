"""The only code that writes to a user's photos: ratings into EXIF/XMP or sidecars.

Atomic writes, pixel data kept byte-identical, a journal for undo, and a clear per-file
"skipped" message instead of an exception whenever a write would not be safe.
"""

from .atomic import atomic_write_bytes, cleanup_temp_files
from .journal import Journal, undo
from .writer import read_rating, write_rating

__all__ = ["Journal", "atomic_write_bytes", "cleanup_temp_files", "read_rating", "undo", "write_rating"]
