"""The only code that writes to a user's photos: ratings into EXIF/XMP or sidecars.

Atomic writes, pixel data kept byte-identical, a journal for undo, and a clear per-file
"skipped" message instead of an exception whenever a write would not be safe. Where a
rating can go is a registry of targets (:mod:`.targets`), each one module holding its
write, read, undo, the files that travel with a photo and the fields it keeps the
photographer's decisions in.
"""

from .atomic import atomic_write_bytes, cleanup_temp_files
from .journal import Journal
from .undo import undo
from .common import Held
from .targets import TARGETS, Target, default_fields, register_target, unregister_target, write_fields
from .writer import Writer, create_writer, read_rating, write_rating
from .xmp_sidecar import SIDECAR_NAMINGS, check_naming

__all__ = [
    "Held", "Journal", "SIDECAR_NAMINGS", "TARGETS", "Target", "Writer", "atomic_write_bytes", "check_naming",
    "cleanup_temp_files", "create_writer", "default_fields", "read_rating", "register_target", "undo",
    "unregister_target",
    "write_fields", "write_rating",
]
