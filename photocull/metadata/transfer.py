"""Copy picks and move rejects: journaled file operations on a user's photos.

Never deletes: a move is a rename (or, across file systems, a synced copy followed by
removing the source), a copy leaves the source alone. A frame travels whole: the
photo, its companions (the RAW of a RAW+JPEG pair) and their XMP sidecars, under one
clash-free name. Each file operation is journaled before it happens, so
``photocull undo`` moves files back (and removes copies it made).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..records import WriteOutcome
from .atomic import atomic_unlink, fsync_dir
from .journal import Journal
from .xmp_sidecar import sidecar_candidates


def frame_files(photo: Path, companions: Sequence[Path] = ()) -> list[Path]:
    """The photo, its companions and every sidecar that belongs to them (existing files only)."""
    files: list[Path] = []
    for p in [photo, *companions]:
        for candidate in (p, *sidecar_candidates(p)):
            if candidate.is_file() and candidate not in files:
                files.append(candidate)
    return files


def _free_names(files: Sequence[Path], dest: Path) -> list[Path]:
    """Destination names for a group of files, with one shared ' (n)' suffix when any clashes."""
    stem = files[0].stem

    def renamed(p: Path, n: int) -> Path:
        name = p.name
        if n and name.startswith(stem):
            name = f"{stem}-{n}{name[len(stem):]}"
        return dest / name

    for n in range(0, 10_000):
        names = [renamed(p, n) for p in files]
        if not any(os.path.lexists(x) for x in names):
            return names
    raise FileExistsError(f"no free name for {files[0].name} in {dest}")


def copy_synced(src: Path, dst: Path) -> None:
    """Copy with metadata through a temp name, fsync, then rename into place."""
    tmp = dst.with_name(f".{dst.name}.photocull-tmp-copy")
    try:
        shutil.copy2(src, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(dst.parent)


def move_file(src: Path, dst: Path) -> None:
    """Rename, or across file systems copy (synced) then remove the source."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy_synced(src, dst)
        os.unlink(src)
    fsync_dir(dst.parent)
    fsync_dir(src.parent)


def transfer(
    frames: Iterable[tuple[Path, Sequence[Path]]],
    dest: Path,
    *,
    move: bool,
    journal: Journal,
    dry_run: bool = False,
) -> list[WriteOutcome]:
    """Copy or move each frame (photo + companions + sidecars) into ``dest``."""
    outcomes: list[WriteOutcome] = []
    if not dry_run:
        dest.mkdir(parents=True, exist_ok=True)
    verb = "moved" if move else "copied"
    for photo, companions in frames:
        files = frame_files(photo, companions)
        if not files:
            outcomes.append(WriteOutcome(photo, "skipped", "file is gone; nothing to " + ("move" if move else "copy")))
            continue
        try:
            targets = _free_names(files, dest)
            if dry_run:
                outcomes.append(WriteOutcome(photo, "dry-run", f"would be {verb} to {targets[0]}"))
                continue
            for src, dst in zip(files, targets):
                if move:
                    journal.record_move(src, dst)
                    move_file(src, dst)
                else:
                    journal.record_copy(src, dst)
                    copy_synced(src, dst)
            outcomes.append(WriteOutcome(photo, "written", f"{verb} to {targets[0]}"))
        except OSError as exc:
            outcomes.append(
                WriteOutcome(photo, "skipped", f"could not be {verb} to {dest}: {exc.strerror or exc}; check the folder")
            )
    return outcomes


# ---------------------------------------------------------------- undo

def is_moved_file(journal: Journal, rec: dict[str, Any]) -> bool:
    """Whether the file at a move record's destination is the one photocull moved there
    (same size and modification time; records from before these were kept: any file)."""
    dst = journal.resolve(rec["dst"])
    return os.path.lexists(dst) and _identity_matches(dst, rec)


def undo_move(journal: Journal, rec: dict[str, Any], dry_run: bool) -> WriteOutcome:
    """Move a file back, only if it is still the one photocull moved and its old name is free."""
    src, dst = journal.resolve(rec["src"]), journal.resolve(rec["dst"])
    ours = is_moved_file(journal, rec)
    if not os.path.lexists(dst):
        if os.path.lexists(src) and _identity_matches(src, rec):
            return WriteOutcome(src, "unchanged", "already back in place")
        if os.path.lexists(src):
            return WriteOutcome(src, "skipped", f"photocull moved this photo to {dst} and it is no longer there; "
                                "the file now at this name is another one, left alone")
        return WriteOutcome(src, "skipped", f"moved file {dst} is missing; cannot move it back")
    if not ours:
        return WriteOutcome(src, "skipped", f"{dst} is not the file photocull moved there (changed since?); "
                            "left where it is")
    if os.path.lexists(src):
        return WriteOutcome(src, "skipped", f"another file now has this name; photocull's moved photo stays at "
                            f"{dst} (a rating photocull gave it is undone there). Rename the new file, then run "
                            "photocull undo again to bring the photo back")
    if dry_run:
        return WriteOutcome(src, "dry-run", f"would move {dst.name} back")
    move_file(dst, src)
    return WriteOutcome(src, "written", f"moved back from {dst.parent.name}/")


def _identity_matches(path: Path, rec: dict[str, Any]) -> bool:
    st = os.stat(path)
    size, mtime = rec.get("size"), rec.get("mtime_ns")
    return (size is None or st.st_size == size) and (mtime is None or st.st_mtime_ns == mtime)


def undo_copy(journal: Journal, rec: dict[str, Any], dry_run: bool) -> WriteOutcome:
    """Remove a copy photocull made, only while it still equals its source (never user work)."""
    src, dst = journal.resolve(rec["src"]), journal.resolve(rec["dst"])
    if not os.path.lexists(dst):
        return WriteOutcome(dst, "unchanged", "copy already removed")
    if os.path.islink(dst) or not os.path.isfile(dst):
        return WriteOutcome(dst, "skipped", "not a copy photocull made (not a regular file); left in place")
    if not os.path.exists(src) or os.path.samefile(src, dst) or not _same_bytes(src, dst):
        return WriteOutcome(dst, "skipped", f"copy differs from {src.name} now (edited?); left in place")
    if dry_run:
        return WriteOutcome(dst, "dry-run", "would remove the copy")
    atomic_unlink(dst)
    return WriteOutcome(dst, "written", "copy removed")


def _same_bytes(a: Path, b: Path, chunk: int = 1 << 20) -> bool:
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if x != y:
                return False
            if not x:
                return True
