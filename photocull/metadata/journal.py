"""Append-only undo journal (JSON lines) in the shoot folder (``undo`` reads it: :mod:`.undo`).

Each write is recorded (and fsync'd) BEFORE its rename, with the previous and new values of
every field photocull touches, so undo works even after a crash mid-run. Undo restores
field by field, newest first, and only where the file still carries what photocull wrote
(a rating changed by hand since is left alone). Undone records are marked by appending an
"undone" line, so re-running undo, or finishing an interrupted one, is safe.

The journal travels with the card, so undo treats it as untrusted input: every path in a
record must resolve (links followed) inside the shoot, with no ``..``. The one exception is
a copy or move to a folder outside the shoot (``--copy-picks ~/selects``): such a record is
signed with a key kept on this computer (``paths.user_state_dir()``), so a journal crafted
elsewhere cannot lead undo out of the card. The signature also covers the shoot's identity
(a random id photocull keeps in ``SHOOT/.photocull/shoot.id``), so a record copied from one
card's journal into another's is refused there. An outside path without a valid signature
is only ever refused by undo: reading the journal for anything else (the picks folders a
re-run leaves alone) skips it, never fails.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .. import paths
from ..paths import STATE_DIRNAME
from .atomic import fsync_dir
from .common import Skip

JOURNAL_DIR = STATE_DIRNAME  # SHOOT/.photocull (photocull.paths)
JOURNAL_NAME = "journal.jsonl"
KEY_NAME = "journal.key"
KEY_BYTES = 32
SHOOT_ID_NAME = "shoot.id"
KINDS = ("write", "move", "copy", "undone")
MAX_LINE = 1 << 20  # a record is a few hundred bytes; a longer line is not one of ours
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class OutsideShoot(Skip):
    """A journal path that leads outside the shoot (or is not a path at all): refused."""


class Journal:
    """The journal of one shoot folder; paths are stored relative to it (the folder can move)."""

    def __init__(self, root: Path, run_id: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.path = self.root / JOURNAL_DIR / JOURNAL_NAME
        self.run_id = run_id or time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.problems: list[str] = []  # unreadable lines found by the last records()
        self._lock = threading.Lock()
        self._ready = False
        self._real_root = os.path.realpath(self.root)
        self._trusted: frozenset[str] = frozenset()  # outside paths of the signed record being undone
        self._shoot_id: str | None = None

    def rel(self, path: Path) -> str:
        p = Path(os.path.abspath(path))
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return str(p)

    def inside(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` (links followed) lies inside the shoot (the shoot itself is not)."""
        real = os.path.realpath(path)
        try:
            return real != self._real_root and os.path.commonpath([real, self._real_root]) == self._real_root
        except ValueError:  # another drive (Windows)
            return False

    def resolve(self, stored: Any) -> Path:
        """The file a record names; :class:`OutsideShoot` (a Skip) unless it lies inside the shoot."""
        if not isinstance(stored, str) or not stored or "\x00" in stored:
            raise OutsideShoot("journal record names no valid path; left alone")
        p = Path(stored)
        if ".." in p.parts or ".." in Path(stored.replace("\\", "/")).parts:
            raise OutsideShoot(f"journal path {stored!r} contains '..'; refused, nothing touched")
        full = p if p.is_absolute() else self.root / p
        if not self.inside(full) and os.path.realpath(full) not in self._trusted:
            raise OutsideShoot(f"journal path {stored!r} leads outside the shoot {self.root}; refused, nothing "
                               "touched (only copies and moves this computer's photocull made may)")
        return full

    def _append(self, record: dict[str, Any]) -> None:
        outside: list[str] = []

        def default(obj: Any) -> Any:
            if isinstance(obj, Path):
                if not self.inside(obj):
                    outside.append(os.path.realpath(obj))
                return self.rel(obj)
            raise TypeError(f"not JSON serialisable: {type(obj).__name__}")

        rec = json.loads(json.dumps(record, default=default))
        if outside:
            rec["outside"] = sorted(set(outside))
            rec["sig"] = _signature(rec, self.shoot_id(create=True), create=True)
            if rec["sig"] is None:  # a record undo could never honour: the copy or move must not happen
                raise OSError(errno.EPERM, f"cannot sign the journal record with the key in {paths.user_state_dir()}")
        line = (json.dumps(rec, sort_keys=True) + "\n").encode("utf-8")
        with self._lock:
            state = self.path.parent
            if os.path.islink(state):
                raise OSError(errno.ELOOP, f"{state} is a link; photocull does not follow it out of the shoot")
            if not self._ready:
                state.mkdir(parents=True, exist_ok=True)
                fsync_dir(state.parent)
                self._ready = True
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _NONBLOCK, 0o644)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):  # a pipe would swallow the record: no undo
                    raise OSError(errno.EINVAL, f"the journal {self.path} is not a regular file")
                _append_line(fd, line)
            finally:
                os.close(fd)

    def shoot_id(self, create: bool = False) -> str | None:
        """The shoot's random identity, which signatures cover (made on first need; read once)."""
        if self._shoot_id is None:
            self._shoot_id = self._read_or_make_shoot_id(create)
        return self._shoot_id

    def _read_or_make_shoot_id(self, create: bool) -> str | None:
        path = self.path.parent / SHOOT_ID_NAME
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
        except FileNotFoundError:
            fd = -1
        except OSError:
            return None
        if fd >= 0:
            with os.fdopen(fd, "rb") as fh:
                data = fh.read(65) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
            text = data.decode("ascii", "replace").strip()
            return text if len(text) == 32 and all(c in "0123456789abcdef" for c in text) else None
        if not create:
            return None
        state = self.path.parent
        if os.path.islink(state):
            raise OSError(errno.ELOOP, f"{state} is a link; photocull does not follow it out of the shoot")
        state.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
        except FileExistsError:
            return self._read_or_make_shoot_id(False)
        with os.fdopen(fd, "wb") as fh:
            fh.write(uuid.uuid4().hex.encode("ascii") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        fsync_dir(state)
        return self._read_or_make_shoot_id(False)

    def _stamp(self, kind: str) -> dict[str, Any]:
        return {"v": 1, "id": uuid.uuid4().hex, "run": self.run_id, "kind": kind, "time": time.time()}

    def record_write(self, entry: dict[str, Any]) -> str:
        """Record a metadata write (called before the rename); returns its id."""
        rec = self._stamp("write") | entry
        self._append(rec)
        return rec["id"]

    def record_move(self, src: Path, dst: Path, **extra: Any) -> str:
        """Record a file move (call before moving) so undo can move it back, and only that file."""
        st = os.stat(src)
        rec = self._stamp("move") | {"src": src, "dst": dst, "size": st.st_size, "mtime_ns": st.st_mtime_ns} | extra
        self._append(rec)
        return rec["id"]

    def record_copy(self, src: Path, dst: Path, **extra: Any) -> str:
        """Record a copy (call before copying) so undo can remove the copy."""
        rec = self._stamp("copy") | {"src": src, "dst": dst} | extra
        self._append(rec)
        return rec["id"]

    def mark_undone(self, ref: str) -> None:
        self._append(self._stamp("undone") | {"ref": ref})

    def records(self) -> list[dict[str, Any]]:
        """Every readable record, oldest first; an unreadable line is skipped and described in
        ``self.problems`` by its line number (a torn line from a crash, or a crafted one)."""
        self.problems = []
        out: list[dict[str, Any]] = []
        for n, line in _lines(self.path):
            if not line.strip():
                continue
            why = _malformed(line)
            if isinstance(why, str):
                self.problems.append(f"{self.path}: line {n}: {why}; skipped (the other records are undone)")
            else:
                out.append(why)
        return out

    def problem(self) -> str | None:
        """Why the journal cannot be used (not a regular file, unreadable), or None: commands
        that write ask first and stop with this message, before touching any photo."""
        try:
            for _ in _lines(self.path):
                break
        except Skip as exc:
            return str(exc)
        return None

    def pending(self, run: str | None = None) -> list[dict[str, Any]]:
        """Write/move records not yet undone, newest first (optionally of one run only)."""
        return pending_records(self.records(), run)

    def last_run(self) -> str | None:
        todo = self.pending()
        return todo[0].get("run") if todo else None

    def trusting(self, rec: dict[str, Any], also: frozenset[str] = frozenset()) -> frozenset[str]:
        """Let :meth:`resolve` accept the outside paths of ``rec`` if this computer signed it
        (and ``also``: those of the signed move that took its photo away); returns them."""
        out = rec.get("outside")
        ok = isinstance(out, list) and all(isinstance(x, str) for x in out) and _verify(rec, self.shoot_id())
        self._trusted = (frozenset(out) if ok else frozenset()) | also
        return self._trusted

    def signed_path(self, rec: dict[str, Any], field: str) -> Path | None:
        """The path ``rec[field]`` names if undo would accept it (inside the shoot, or outside
        in a record this computer signed for this shoot); None otherwise, never an error."""
        self.trusting(rec)
        try:
            return self.resolve(rec.get(field))
        except Skip:
            return None
        finally:
            self.trusting({})


def pending_records(recs: list[dict[str, Any]], run: str | None) -> list[dict[str, Any]]:
    """The write/move/copy records of ``recs`` not undone yet, newest first (of one run only)."""
    undone = {r["ref"] for r in recs if r["kind"] == "undone"}
    todo = [r for r in recs if r["kind"] != "undone" and r["id"] not in undone]
    if run is not None:
        todo = [r for r in todo if r.get("run") == run]
    return todo[::-1]


def _append_line(fd: int, line: bytes) -> None:
    """Append one whole, fsync'd line, or raise OSError leaving the file as it was.

    A short write (a nearly full disk) is an error, not a success: the part written is cut
    off again, so the next record is not glued to a torn one. A file that does not end in a
    newline (a crash, or a cut we could not undo) gets one first.
    """
    size = os.fstat(fd).st_size
    if size:
        os.lseek(fd, size - 1, os.SEEK_SET)  # (no pread on Windows; writes still append)
        if os.read(fd, 1) != b"\n":
            line = b"\n" + line
    done = 0
    try:
        while done < len(line):
            n = os.write(fd, line[done:])
            if n <= 0:
                raise OSError(errno.ENOSPC, "journal record cut short (disk full?)")
            done += n
        os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        except OSError:
            pass
        raise


def _lines(path: Path):
    """(number, bytes) of each line of a regular file, no line longer than MAX_LINE kept whole."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise Skip(f"cannot read the journal {path} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # (before fdopen, which refuses a folder with its own error)
        os.close(fd)
        raise Skip(f"the journal {path} is not a regular file (a folder, link or pipe: a crafted card?); "
                   "nothing was done. Remove it and run again")
    with os.fdopen(fd, "rb") as fh:
        n = 0
        while True:
            line = fh.readline(MAX_LINE + 1)
            if not line:
                return
            n += 1
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                while (rest := fh.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    pass
                line = b"\x00"  # not JSON: reported as unreadable
            yield n, line


def _malformed(line: bytes) -> str | dict[str, Any]:
    """Why a journal line is not a usable record, or the record."""
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):
        return "not a complete record (cut short by a crash, or not written by photocull)"
    if not isinstance(rec, dict):
        return "not a photocull record"
    kind, rid = rec.get("kind"), rec.get("id")
    if kind not in KINDS or not isinstance(rid, str):
        return "not a photocull record (no known kind and id)"
    if kind == "undone" and not isinstance(rec.get("ref"), str):
        return "an 'undone' mark without a record id"
    if rec.get("run") is not None and not isinstance(rec.get("run"), str):
        return "a record with an invalid run id"
    return rec


def _key(create: bool) -> bytes | None:
    """This computer's secret for signing journal records (made on first need). A key file
    shorter than :data:`KEY_BYTES` (cut short, or made by hand) signs nothing and verifies
    nothing; when a record must be signed it is replaced by a new key (atomically)."""
    folder = paths.user_state_dir()
    path = folder / KEY_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = None
    if data is not None and len(data) >= KEY_BYTES:
        return data
    if not create:
        return None
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A first key is created exclusively (two first runs agree on one key); a short one is replaced.
    target = path if data is None else folder / f".{KEY_NAME}.{uuid.uuid4().hex}.tmp"
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _key(create=False)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(KEY_BYTES))
        fh.flush()
        os.fsync(fh.fileno())
    if target != path:
        os.replace(target, path)
    return _key(create=False)


def _signature(rec: dict[str, Any], shoot_id: str | None, create: bool = False) -> str | None:
    """HMAC of the record (less its signature) and the shoot's identity: valid on this computer,
    for this shoot only. None without a key or a shoot identity."""
    key = _key(create) if shoot_id else None
    if key is None:
        return None
    body = json.dumps({"record": {k: v for k, v in rec.items() if k != "sig"}, "shoot": shoot_id},
                      sort_keys=True, separators=(",", ":"))
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def _verify(rec: dict[str, Any], shoot_id: str | None) -> bool:
    sig = rec.get("sig")
    want = _signature(rec, shoot_id) if isinstance(sig, str) else None
    return want is not None and hmac.compare_digest(sig, want)
