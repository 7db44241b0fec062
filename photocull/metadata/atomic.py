"""Atomic replacement of a user's photo or sidecar: photo defaults over :mod:`photocull.runtime`.

The new content goes to a hidden temp file in the same folder (same file system, so the
rename is atomic), is fsync'd, given the original's mode (and mtime), then renamed over the
original, and the folder is fsync'd so the rename itself survives a power cut. A SIGKILL at
any moment leaves at most a stray temp file, which ``cleanup_temp_files`` removes. The one
implementation lives in ``runtime``; this module only fixes what a photo write means: the
file must exist unless ``create``, and its mtime is kept unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path

from .. import runtime
from ..runtime import (  # noqa: F401  (re-exported: the metadata package's names for them)
    TEMP_MARK,
    ChangedSinceRead,
    Stamp,
    atomic_unlink,
    atomic_write_text,
    cleanup_temp_files,
    fsync_dir,
    temp_name_prefix,
)


def atomic_write_bytes(
    path: Path,
    data: bytes,
    *,
    expected: Stamp | None = None,
    preserve_mode: bool = True,
    preserve_mtime: bool = True,
    mtime_ns: int | None = None,
    create: bool = False,
) -> None:
    """Replace the photo/sidecar ``path`` with ``data`` atomically (see ``runtime.atomic_write_bytes``).

    ``create``: the file must not exist yet (a new sidecar); otherwise it must exist, and
    ``expected`` (the Stamp of the version we read) must still match just before the rename.
    """
    runtime.atomic_write_bytes(path, data, expected=expected, preserve_mode=preserve_mode,
                               preserve_mtime=preserve_mtime, mtime_ns=mtime_ns, create=create)
