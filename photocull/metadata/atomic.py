"""Atomic file replacement: a reader sees the old file or the new one, never a mix.

The new content goes to a hidden temp file in the same folder (same file system, so the
rename is atomic), is fsync'd, given the original's mode (and mtime), then renamed over the
original, and the folder is fsync'd so the rename itself survives a power cut. A SIGKILL at
any moment leaves at most a stray temp file, which ``cleanup_temp_files`` removes.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

TEMP_MARK = ".photocull-tmp-"


class ChangedSinceRead(OSError):
    """The file changed between our read and the replace (another program wrote it)."""


@dataclass(frozen=True)
class Stamp:
    """What identifies the version of a file we read."""

    size: int
    mtime_ns: int
    ino: int = 0
    ctime_ns: int = 0  # cannot be set back by a tool that preserves mtime (exiftool -P, us)

    @classmethod
    def of(cls, path: Path) -> Stamp:
        return cls.from_stat(os.stat(path))

    @classmethod
    def from_stat(cls, st: os.stat_result) -> Stamp:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def temp_name_prefix(path: Path) -> str:
    return f".{path.name}{TEMP_MARK}"


def fsync_dir(directory: Path) -> None:
    """Make a rename/unlink in ``directory`` durable (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
    """Replace ``path`` with ``data`` atomically.

    ``expected``: the Stamp of the version we read; if the file no longer matches just
    before the rename, raise ChangedSinceRead and leave it alone. ``create``: the file must
    not exist yet (a new sidecar); never overwrite one that appeared meanwhile.
    ``mtime_ns`` sets an explicit modification time (undo restores the old one).
    Symlinks are followed: the link's target is replaced, the link stays a link.
    """
    path = Path(os.path.realpath(path))
    directory = path.parent
    old = None if create else os.stat(path)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_name_prefix(path), dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if old is not None and preserve_mode:
            os.chmod(tmp, old.st_mode & 0o7777)
            if hasattr(os, "chown") and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.chown(tmp, old.st_uid, old.st_gid)
                except OSError:
                    pass
        elif old is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        if mtime_ns is not None:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
        elif old is not None and preserve_mtime:
            os.utime(tmp, ns=(old.st_atime_ns, old.st_mtime_ns))
        if create:
            try:
                os.link(tmp, path)  # fails if the name exists: no clobbering
            except FileExistsError:
                raise ChangedSinceRead(f"{path.name} appeared while writing") from None
            except OSError:  # no hard links here (some FUSE/SMB mounts)
                if os.path.lexists(path):
                    raise ChangedSinceRead(f"{path.name} appeared while writing") from None
                os.replace(tmp, path)
            else:
                os.unlink(tmp)
        else:
            now = os.stat(path)
            if expected is not None and Stamp.from_stat(now) != expected:
                raise ChangedSinceRead(f"{path.name} changed since it was read")
            if Stamp.from_stat(now) != Stamp.from_stat(old):
                raise ChangedSinceRead(f"{path.name} changed while writing")
            os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Create or replace a file of photocull's own (a report, ``last_run.json``) atomically:
    a reader (or a crash) sees the old file or the new one, never half of it. Until
    ``photocull.runtime.atomic_write_text`` exists this is the one helper for such files.

    A link at ``path`` is replaced, not followed: a crafted ``.photocull/last_run.json``
    link on a card must not lead a write outside the shoot."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_name_prefix(path), dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode(encoding))
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_unlink(path: Path) -> None:
    """Delete a file and make the deletion durable."""
    os.unlink(path)
    fsync_dir(Path(path).parent)


def cleanup_temp_files(directory: Path, *, recursive: bool = True) -> list[Path]:
    """Remove temp files a killed run left behind; returns what was removed.

    Only names photocull creates (``.NAME.photocull-tmp-XXXX``) are touched. Run it when no
    other photocull process writes in ``directory``.
    """
    removed: list[Path] = []
    pattern = f".*{TEMP_MARK}*"
    candidates = Path(directory).rglob(pattern) if recursive else Path(directory).glob(pattern)
    for p in candidates:
        try:
            if p.is_file() and not p.is_symlink():
                p.unlink()
                removed.append(p)
        except OSError:
            continue
    return removed
