"""One writer per shoot: a cull, an undo or a review write holds ``SHOOT/.photocull/lock``.

Two culls of one shoot at once interleave their journals and their writes (stray labels
after two undos were the result). The lock is an OS lock on an open file (``flock`` on
Linux and macOS, ``msvcrt.locking`` on Windows), so the kernel drops it when its process
ends however it ends: a killed run never leaves a lock behind. The file's content (pid,
command, start time) only names the holder in the message of whoever has to wait.

Where the file system cannot lock (some network mounts) or the state folder cannot be
written (a read-only card: nothing can be written there then, the journal included), the
command goes on unlocked, as before locks existed; :attr:`ShootLock.locked` says which.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import paths

LOCK_NAME = "lock"
SERVER_WAIT_S = 2.0  # how long a review write waits for a running cull or undo
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted as the lock must never block an open

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
try:  # Windows
    import msvcrt
except ImportError:
    msvcrt = None  # type: ignore[assignment]


class ShootBusy(Exception):
    """Another photocull process holds the shoot; the text says which and what to do."""


class UnsafeStateFolder(Exception):
    """``SHOOT/.photocull`` is a link, or its lock is not a regular file (a crafted card?):
    photocull will not write through it, nor run unlocked because of it."""


@dataclass
class ShootLock:
    """A held (or, where locking is impossible, an unheld) lock; ``why_not`` says why not."""

    shoot: Path
    locked: bool
    why_not: str = ""


def _try_lock(fd: int) -> bool:
    """Take the lock without waiting: True, or False while another process has it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        elif msvcrt is not None:  # pragma: no cover - Windows
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:  # pragma: no cover
            raise OSError(errno.ENOTSUP, "no file locking on this platform")
    except (BlockingIOError, PermissionError):
        return False
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EDEADLK):
            return False
        raise
    return True


def holder(shoot: Path) -> str:
    """Who holds (or last held) the shoot's lock, in words, from the lock file's content."""
    try:
        fd = os.open(paths.state_dir(shoot) / LOCK_NAME, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return "another photocull process"
            info = json.loads(fh.read(4096))
        return f"photocull {str(info['command'])[:40]} (pid {int(info['pid'])})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another photocull process"


@contextmanager
def shoot_lock(shoot: Path, command: str, *, wait: float = 0.0, poll: float = 0.1) -> Iterator[ShootLock]:
    """Hold the shoot's lock for the body; wait up to ``wait`` seconds for another holder,
    then raise :class:`ShootBusy` naming the shoot and the holder."""
    shoot = paths.shoot_folder(shoot)
    state = paths.state_dir(shoot)
    if os.path.islink(state):
        raise UnsafeStateFolder(f"{state} is a link, not a folder; photocull keeps its journal there and will not "
                                "follow a link out of the shoot. Remove the link and run again")
    path = state / LOCK_NAME
    try:
        state.mkdir(exist_ok=True)
        _refuse_odd_lock(path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _NONBLOCK, 0o644)
    except UnsafeStateFolder:
        raise
    except OSError as exc:
        yield ShootLock(shoot, False, f"cannot create {path} ({exc.strerror or exc})")
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped in between the check and the open
            raise UnsafeStateFolder(_odd_lock_message(path))
        try:
            deadline = time.monotonic() + max(0.0, wait)
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    raise ShootBusy(f"{shoot} is in use by {holder(shoot)}; wait for it to finish, then run again "
                                    "(one cull, undo or review write at a time per shoot)")
                time.sleep(poll)
        except ShootBusy:
            raise
        except OSError as exc:  # a file system without locks
            yield ShootLock(shoot, False, f"this file system cannot lock files ({exc.strerror or exc})")
            return
        info = json.dumps({"pid": os.getpid(), "command": command, "since": time.time()}).encode()
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, info)
        except OSError:
            pass  # the content only names the holder
        yield ShootLock(shoot, True)
    finally:
        os.close(fd)  # releases the lock


def _odd_lock_message(path: Path) -> str:
    return (f"{path} is not a regular file (a folder, link or pipe: a crafted card?); photocull will not run "
            "without its lock. Remove it and run again")


def _refuse_odd_lock(path: Path) -> None:
    """Raise :class:`UnsafeStateFolder` when the lock's name holds anything but a regular file:
    with a folder or link there no lock could be taken, and a pipe would block every reader."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeStateFolder(_odd_lock_message(path))


@contextmanager
def busy_reason(shoot: Path, command: str, *, wait: float | None = None) -> Iterator[str | None]:
    """:func:`shoot_lock` for a server: yields None while held, or the reason it is not
    (another process has it, or the state folder is a link) instead of raising."""
    try:
        with shoot_lock(shoot, command, wait=SERVER_WAIT_S if wait is None else wait):
            yield None
            return
    except (ShootBusy, UnsafeStateFolder) as exc:
        reason = str(exc)
    yield reason
