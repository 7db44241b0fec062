"""Copy picks and move rejects: journaled file operations on a user's photos.

Never deletes: a move is a rename (or, across file systems, a synced copy followed by
removing the source), a copy leaves the source alone. A frame travels whole: the
photo, its companions (the RAW of a RAW+JPEG pair) and the files each metadata target
keeps beside them (their sidecars: ``Target.companions``), under one clash-free name.
Each file operation is journaled before it happens, so ``photocull undo`` moves files
back (and removes copies it made).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..records import WriteOutcome
from .atomic import atomic_unlink, fsync_dir
from .common import Skip
from .journal import Journal
from .targets import companions_of


def frame_files(photo: Path, companions: Sequence[Path] = ()) -> list[Path]:
    """The photo, its companions and every file a metadata target keeps beside them (existing files only)."""
    files: list[Path] = []
    for p in [photo, *companions]:
        for candidate in (p, *companions_of(p)):
            if candidate.is_file() and candidate not in files:
                files.append(candidate)
    return files


def _names(files: Sequence[Path], dest: Path, n: int) -> list[Path]:
    """The names of a frame's files in ``dest`` with the shared suffix ``-n`` (none for 0)."""
    stem = files[0].stem
    return [dest / (f"{stem}-{n}{p.name[len(stem):]}" if n and p.name.startswith(stem) else p.name) for p in files]


def _free_names(files: Sequence[Path], dest: Path) -> list[Path]:
    """Destination names for a group of files, with one shared '-n' suffix when any clashes."""
    for n in range(0, 10_000):
        names = _names(files, dest, n)
        if not any(os.path.lexists(x) for x in names):
            return names
    raise FileExistsError(f"no free name for {files[0].name} in {dest}")


def _already_there(files: Sequence[Path], dest: Path) -> Path | None:
    """Where an earlier run already copied this frame (same names, or the same ' -n' names,
    byte for byte): a re-run of --copy-picks recognises its copies instead of duplicating them."""
    for n in range(0, 10_000):
        names = _names(files, dest, n)
        present = [os.path.lexists(x) for x in names]
        if not any(present):
            return None  # names are taken in order: no later ' -n' either
        if all(present) and all(os.path.isfile(b) and _same_bytes(a, b) for a, b in zip(files, names)):
            return names[0]
    return None


def _copies_made(journal: Journal, dest: Path) -> dict[str, Path]:
    """Photo (as the journal names it) -> the copy an earlier run made of it in ``dest``, still
    there and not undone. A re-run may rate the photo differently (scores are relative to
    the series, and the rejects have left it), so its copy is recognised by the journal,
    not only by equal bytes."""
    out: dict[str, Path] = {}
    for rec in journal.pending():
        if rec.get("kind") != "copy" or not isinstance(rec.get("src"), str) or not isinstance(rec.get("dst"), str):
            continue
        dst = journal.signed_path(rec, "dst")
        if dst is not None and os.path.lexists(dst) and os.path.realpath(dst.parent) == os.path.realpath(dest):
            out.setdefault(rec["src"], dst)
    return out


def _missing_folders(dest: Path) -> list[str]:
    """``dest`` and the parents of it that do not exist yet, deepest first (undo removes them)."""
    out, p = [], Path(os.path.abspath(dest))
    while not p.exists() and p != p.parent:
        out.append(str(p))
        p = p.parent
    return out


def transfer_folders(shoot: Path, *extra: Path | None) -> tuple[Path, ...]:
    """The picks and rejects folders of a shoot: ``extra`` (this run's) and every folder an
    earlier run copied or moved into and that was not undone (from the journal). A record
    undo would refuse (an unsigned path outside the shoot, a torn journal) names no folder."""
    from .. import paths

    journal = Journal(paths.shoot_folder(shoot))
    found = {Path(p) for p in extra if p is not None}
    try:
        pending = journal.pending()
    except Skip:  # the journal is not a file photocull can read: undo says so
        pending = []
    for r in pending:
        dst = journal.signed_path(r, "dst") if r.get("kind") in ("move", "copy") else None
        if dst is not None:
            found.add(dst.parent)
    return tuple(sorted(found))


def moved_away(shoot: Path) -> frozenset[Path]:
    """The files earlier runs moved out of the shoot (``--move-rejects``), not undone and still
    where photocull put them: they still belong to their series' judgement (a re-run that
    judged the sharp frame against only the mates left behind would reject it)."""
    from .. import paths

    journal = Journal(paths.shoot_folder(shoot))
    try:
        pending = journal.pending()
    except Skip:
        return frozenset()
    found: set[Path] = set()
    for r in pending:
        dst = journal.signed_path(r, "dst") if r.get("kind") == "move" else None
        try:
            if dst is not None and os.path.isfile(dst) and not os.path.islink(dst) and _identity_matches(dst, r):
                found.add(dst)
        except OSError:
            continue
    return frozenset(found)


def _inside(path: Path, folder: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
        return True
    except ValueError:
        return False


def _temp_copy(dst: Path) -> Path:
    """The name a copy to ``dst`` has until it is complete (a kill can leave it behind)."""
    return dst.with_name(f".{dst.name}.photocull-tmp-copy")


def remove_temp_copies(journal: Journal) -> list[Path]:
    """Remove the half-made copies a killed ``--copy-picks`` (or cross-device move) left
    beside the destinations its journal names, also in a folder outside the shoot; only
    those exact names, only regular files, only where undo may go (signed records)."""
    removed: list[Path] = []
    for rec in journal.pending():
        dst = journal.signed_path(rec, "dst") if rec.get("kind") in ("move", "copy") else None
        tmp = _temp_copy(dst) if dst is not None else None
        try:
            if tmp is not None and os.path.isfile(tmp) and not os.path.islink(tmp):
                os.unlink(tmp)
                removed.append(tmp)
        except OSError:
            continue
    return removed


def copy_synced(src: Path, dst: Path) -> None:
    """Copy with metadata through a temp name, fsync, then rename into place."""
    tmp = _temp_copy(dst)
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
    created: list[str] = _missing_folders(dest)  # recorded with the first operation; undo removes them
    copied = {} if move else _copies_made(journal, dest)
    verb = "moved" if move else "copied"
    for photo, companions in frames:
        files = frame_files(photo, companions)
        if not files:
            outcomes.append(WriteOutcome(photo, "skipped", "file is gone; nothing to " + ("move" if move else "copy")))
            continue
        if _inside(photo, dest):
            outcomes.append(WriteOutcome(photo, "unchanged", f"already in {dest.name}/"))
            continue
        try:
            earlier = None if move else (copied.get(journal.rel(photo)) or _already_there(files, dest))
            if earlier is not None:
                outcomes.append(WriteOutcome(photo, "unchanged", f"already copied to {earlier}"))
                continue
            targets = _free_names(files, dest)
            if dry_run:
                outcomes.append(WriteOutcome(photo, "dry-run", f"would be {verb} to {targets[0]}"))
                continue
            for src, dst in zip(files, targets):
                # Paths (not text): the journal signs those outside the shoot, so undo may remove them.
                extra: dict[str, Any] = {"created_folders": [Path(d) for d in created]} if created else {}
                if move:
                    journal.record_move(src, dst, **extra)
                else:  # the copy's hash: undo removes it while it is unchanged, whatever its source became
                    journal.record_copy(src, dst, sha256=_file_sha256(src), **extra)
                if created:
                    dest.mkdir(parents=True, exist_ok=True)
                    created = []
                if move:
                    move_file(src, dst)
                else:
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
    remove_created_folders(journal, rec)
    return WriteOutcome(src, "written", f"moved back from {dst.parent.name}/")


def _identity_matches(path: Path, rec: dict[str, Any]) -> bool:
    st = os.stat(path)
    size, mtime = rec.get("size"), rec.get("mtime_ns")
    return (size is None or st.st_size == size) and (mtime is None or st.st_mtime_ns == mtime)


def undo_copy(journal: Journal, rec: dict[str, Any], dry_run: bool) -> WriteOutcome:
    """Remove a copy photocull made, only while it is unchanged since (never user work): its
    bytes still hash to what was copied (records from before hashes were kept: while it still
    equals its source). A later run may have rewritten the source's rating; the copy is still
    photocull's."""
    src, dst = journal.resolve(rec["src"]), journal.resolve(rec["dst"])
    if not os.path.lexists(dst):
        if not dry_run:
            remove_created_folders(journal, rec)  # a copy a kill cut short: its folder goes all the same
        return WriteOutcome(dst, "unchanged", "copy already removed")
    if os.path.islink(dst) or not os.path.isfile(dst):
        return WriteOutcome(dst, "skipped", "not a copy photocull made (not a regular file); left in place")
    if isinstance(rec.get("sha256"), str):
        if _file_sha256(dst) != rec["sha256"]:
            return WriteOutcome(dst, "skipped", "copy changed since photocull made it (edited?); left in place")
    elif not os.path.exists(src) or os.path.samefile(src, dst) or not _same_bytes(src, dst):
        return WriteOutcome(dst, "skipped", f"copy differs from {src.name} now (edited?); left in place")
    if dry_run:
        return WriteOutcome(dst, "dry-run", "would remove the copy")
    atomic_unlink(dst)
    remove_created_folders(journal, rec)
    return WriteOutcome(dst, "written", "copy removed")


def remove_created_folders(journal: Journal, rec: dict[str, Any]) -> None:
    """Remove the folders this record's transfer created, deepest first, only when empty
    (the record is the transfer's first, so undo, newest first, reaches it last)."""
    for folder in rec.get("created_folders") or []:
        try:
            os.rmdir(journal.resolve(folder))
        except FileNotFoundError:
            continue
        except Skip:
            return  # a folder the journal may not touch (unsigned, outside the shoot): left alone
        except OSError:
            return  # not empty (the user put something there): leave it and its parents


def _file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


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
