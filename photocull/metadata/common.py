"""What every metadata target shares: the per-file Skip, stat checks, the decision's values.

A target module (``jpeg_embedded``, ``xmp_sidecar``, ...) raises :class:`Skip` with a
user-facing message whenever a write would not be safe; the dispatcher turns it into a
"skipped" WriteOutcome, so one photo's problem never stops the run.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import exif, xmp
from .atomic import ChangedSinceRead, Stamp, atomic_write_bytes

if TYPE_CHECKING:
    from .journal import Journal

DEFAULT_MAX_BYTES = 512 * 2**20


class Skip(Exception):
    """A per-file reason not to write; its text is the user-facing message."""


@dataclass(frozen=True)
class WriteRequest:
    """One rating to put into (or next to) one photo: what every target's ``write`` receives."""

    path: Path
    stars: int
    fmt: str
    fields: frozenset[str]  # the --write choices asked for: "exif", "xmp", "sidecar"
    rejected: bool = False
    label: str | None = None
    journal: Journal | None = None
    dry_run: bool = False
    preserve_mtime: bool = True
    max_bytes: int = DEFAULT_MAX_BYTES
    sidecar_naming: str = "name"
    expected: tuple[int, int] | None = None  # (size, mtime_ns) from the scan


def sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def stat_checks(path: Path, max_bytes: int, expected: tuple[int, int] | None) -> os.stat_result:
    """The photo is still there, a regular file, unchanged since the scan and not too big."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise Skip("file not found (moved or deleted since the scan?)") from None
    if not os.path.isfile(path):
        raise Skip("not a regular file")
    if expected is not None and (st.st_size, st.st_mtime_ns) != tuple(expected):
        raise Skip("file changed since it was scanned; re-run photocull on this folder")
    if st.st_size > max_bytes:
        raise Skip(
            f"file is {st.st_size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit for rewriting; "
            "use --write sidecar"
        )
    return st


def check_writable(path: Path, *, sidecar_ok: bool = True) -> None:
    """Refuse read-only files and folders (a rename could replace them, but the user said no)."""
    real = Path(os.path.realpath(path))
    # The mode bits count even for root (who may write anything): a file nobody may write
    # was marked read-only on purpose (a protected original, a card's locked files).
    if real.exists() and (not os.access(real, os.W_OK) or not real.stat().st_mode & 0o222):
        hint = "make it writable or use --write sidecar" if sidecar_ok else "make it writable"
        raise Skip(f"file is read-only; {hint}")
    if not os.access(real.parent, os.W_OK | os.X_OK):
        raise Skip("folder is read-only (a safe write needs a temp file next to the photo); make it writable")
    check_links(real, "use --write sidecar to rate it without rewriting it" if sidecar_ok
                else "remove the other names, then run photocull undo again")


def check_links(path: Path, hint: str) -> None:
    """Refuse a file with hard links: a safe write (temp + rename) gives this name a new file,
    and the other names would silently keep the old content."""
    try:
        links = os.stat(path).st_nlink
    except FileNotFoundError:
        return
    if links > 1:
        raise Skip(f"file has {links} names (hard links); rewriting it would leave the other names with the "
                   f"old rating; left untouched ({hint})")


def commit(
    path: Path, data: bytes, stamp: Stamp | None, *, preserve_mtime: bool, create: bool = False,
    mtime_ns: int | None = None,
) -> None:
    """Atomically replace (or create) ``path``; raise Skip when it changed since read.
    ``mtime_ns``: set this modification time (undo of a ``--touch`` write puts the old one back)."""
    try:
        atomic_write_bytes(path, data, expected=stamp, preserve_mtime=preserve_mtime, create=create,
                           mtime_ns=mtime_ns)
    except ChangedSinceRead:
        raise Skip("file changed since it was read (another program is writing it?); re-run photocull") from None


def record(journal: Journal | None, entry: dict, what: str) -> None:
    """Journal a write before it happens; a journal that cannot be written stops this file."""
    if journal is None:
        return
    try:
        journal.record_write(entry)
    except OSError as exc:
        raise Skip(f"could not write the undo journal ({exc.strerror or exc}); {what}") from None


def desired_values(stars: int, rejected: bool, label: str | None) -> tuple[dict[str, int | None], dict[str, str | None]]:
    """EXIF and XMP values for a decision. A reject is xmp:Rating -1 (Lightroom's flag); EXIF
    and MicrosoftPhoto cannot say "rejected", so they carry ``stars`` as given."""
    ex = {"Rating": stars, "RatingPercent": exif.PERCENT[stars]}
    xm: dict[str, str | None] = {"Rating": "-1" if rejected else str(stars), "MSRating": str(xmp.MS_PERCENT[stars])}
    if label is not None:
        xm["Label"] = label
    return ex, xm


def same_xmp(current: dict[str, str | None], want: dict[str, str | None]) -> bool:
    """Whether the XMP fields already say what we would write (numbers compared as numbers)."""
    for k, v in want.items():
        if k == "Label":
            if current.get(k) != v:
                return False
        elif current.get(k) is None or xmp.as_int(current.get(k)) != xmp.as_int(v):
            return False
    return True


def undo_mtime(rec: dict, recorded: object) -> int | None:
    """The modification time undo must set: the one from before a ``--touch`` write (None:
    keep the file's, which photocull kept when it wrote)."""
    if rec.get("preserve_mtime", True) is not False:
        return None
    return recorded if isinstance(recorded, int) and not isinstance(recorded, bool) else None


def undo_state(current: dict, before: dict, after: dict, as_int: bool) -> str:
    """"before", "after" or "other": which recorded version the current fields match."""
    def norm(v, key: str):
        return xmp.as_int(v) if as_int and key != "Label" and isinstance(v, str) else v
    cur = {k: norm(current.get(k), k) for k in after}
    if cur == {k: norm(before.get(k), k) for k in after}:
        return "before"
    if cur == {k: norm(after.get(k), k) for k in after}:
        return "after"
    return "other"
