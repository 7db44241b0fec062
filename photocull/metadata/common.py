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
from typing import TYPE_CHECKING, Any

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
    keyword: str | None = None  # photocull's hierarchical keyword ("" drops ours, None leaves keywords alone)


@dataclass(frozen=True)
class Held:
    """One field of a target that holds part of a decision: ownership asks whether its value
    is photocull's (the journal's last write there) or the photographer's, and the review
    page shows it. A target declares these as ``HELD``."""

    key: str  # the key its read() gives the value under ("xmp_rating")
    kind: str  # "rating", "label" or "keywords"
    part: str  # the journal record part its writes record before/after values in ("xmp")
    field: str  # the field name there ("Rating")
    rejects: bool = False  # a rating that can say "rejected" (-1): asked before one that cannot (EXIF)
    file_key: str | None = None  # read()'s key for the file it lives in (a sidecar); None: the photo


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


PICK_KEYWORD = "photocull|pick"
REJECT_KEYWORD = "photocull|reject"
OUR_KEYWORDS = (PICK_KEYWORD, REJECT_KEYWORD)


def desired_values(stars: int, rejected: bool, label: str | None,
                   keyword: str | None = None) -> tuple[dict[str, int | None], dict[str, Any]]:
    """EXIF and XMP values for a decision. A reject is xmp:Rating -1 (Lightroom's flag); EXIF
    and MicrosoftPhoto cannot say "rejected", so they carry ``stars`` as given. A ``keyword``
    is a placeholder until :func:`with_keywords` merges it into the photo's own keywords."""
    ex = {"Rating": stars, "RatingPercent": exif.PERCENT[stars]}
    xm: dict[str, Any] = {"Rating": "-1" if rejected else str(stars), "MSRating": str(xmp.MS_PERCENT[stars])}
    if label is not None:
        xm["Label"] = label
    if keyword is not None:
        xm["Keyword"] = keyword
    return ex, xm


def with_keywords(want: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """``want`` with its keyword placeholder turned into the full keyword lists to write:
    the photo's own keywords kept, photocull's other keyword (pick <-> reject) replaced.

    ``photocull|pick`` goes into lr:hierarchicalSubject; dc:subject gets its levels
    ("photocull", "pick"), as Lightroom writes a hierarchical keyword for other programs.
    """
    want = dict(want)
    keyword = want.pop("Keyword", None)
    if keyword is None:
        return want
    hier = list(current.get("Hierarchical") or [])
    subj = list(current.get("Subject") or [])
    for ours in OUR_KEYWORDS:
        if ours != keyword and ours in hier:
            hier.remove(ours)
            leaf = ours.split("|")[-1]
            if leaf in subj:
                subj.remove(leaf)
    if keyword:
        if keyword not in hier:
            hier.append(keyword)
        subj += [part for part in keyword.split("|") if part not in subj]
    elif "photocull" in subj and not any(h.startswith("photocull|") for h in hier):
        subj.remove("photocull")
    if hier != list(current.get("Hierarchical") or []) or current.get("Hierarchical") is not None:
        want["Hierarchical"] = hier or None
    if subj != list(current.get("Subject") or []) or current.get("Subject") is not None:
        want["Subject"] = subj or None
    return want


def same_xmp(current: dict[str, Any], want: dict[str, Any]) -> bool:
    """Whether the XMP fields already say what we would write (numbers compared as numbers)."""
    for k, v in want.items():
        if k in xmp.BAGS:
            if (current.get(k) or None) != (v or None):
                return False
        elif k == "Label":
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
    """"before", "after" or "other": which recorded version the current fields match.

    Keyword bags do not make a field "other": their undo takes photocull's items back out
    and leaves items added since (:func:`restored_values`)."""
    def norm(v, key: str):
        return xmp.as_int(v) if as_int and key != "Label" and isinstance(v, str) else v
    scalars = [k for k in after if k not in xmp.BAGS]
    cur = {k: norm(current.get(k), k) for k in scalars}
    bags_back = all((current.get(k) or None) == (v or None)
                    for k, v in restored_values(current, before, after).items() if k in xmp.BAGS)
    if cur == {k: norm(before.get(k), k) for k in scalars} and bags_back:
        return "before"
    if cur == {k: norm(after.get(k), k) for k in scalars} or cur == {k: norm(before.get(k), k) for k in scalars}:
        return "after"
    return "other"


def restored_values(current: dict, before: dict, after: dict) -> dict[str, Any]:
    """The values an undo writes: ``before`` for plain fields; for keyword bags the current
    items less those photocull added, plus those it removed (the photographer's later
    keywords stay)."""
    out = dict(before)
    for k in xmp.BAGS & set(after):
        was, wrote = list(before.get(k) or []), list(after.get(k) or [])
        items = [i for i in (current.get(k) or []) if i in was or i not in wrote]
        items += [i for i in was if i not in wrote and i not in items]
        out[k] = items or (None if before.get(k) is None else [])
    return out
