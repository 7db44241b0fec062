"""Append-only undo journal (JSON lines) in the shoot folder, and ``undo``.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import paths
from ..paths import STATE_DIRNAME
from ..records import WriteOutcome
from .atomic import cleanup_temp_files, fsync_dir
from .common import Skip
from .targets import target_of_record

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
        return _todo(self.records(), run)

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


def _todo(recs: list[dict[str, Any]], run: str | None) -> list[dict[str, Any]]:
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


# ---------------------------------------------------------------- undo

@dataclass(frozen=True)
class _Away:
    """Where a moved photo is while its move is not undone: ``dst`` as stored (None: gone)."""

    dst: str | None
    move_id: str = ""
    trusted: frozenset[str] = frozenset()  # the signed move's outside paths


def undo(directory: Path, *, run: str | None = None, dry_run: bool = False,
         warnings: list[str] | None = None, ids: frozenset[str] | None = None) -> list[WriteOutcome]:
    """Revert photocull's writes and moves in ``directory``, newest first.

    ``run``: only that run's records (``Journal(d).last_run()`` for the latest); ``ids``: only
    the records with these ids (one decision of a review session: its Ctrl+Z). Safe to run
    twice and to re-run after an interruption. Unreadable journal lines are skipped and
    described (by line number) in ``warnings``. A photo that a move took away and that is
    not back (its old name taken by a new file) is followed: its older records are undone
    where it is, never on the file that now has its name.
    """
    from .transfer import remove_temp_copies

    journal = Journal(directory)
    if not dry_run and journal.path.exists():
        cleanup_temp_files(journal.root)
    try:
        if not dry_run:
            remove_temp_copies(journal)  # a killed --copy-picks: also in a picks folder outside the shoot
        recs = journal.records()
    except Skip as exc:
        return [WriteOutcome(journal.path, "skipped", str(exc))]
    if warnings is not None:
        warnings.extend(journal.problems)
    since = _moved_identities(recs)
    away: dict[str, _Away] = {}  # a moved photo's old name (normalised) -> where it is now
    outcomes = []
    for rec in _todo(recs, run):
        if ids is not None and rec["id"] not in ids:
            continue
        own = journal.trusting(rec)  # judged on the record as signed, before any merge below
        journal.trusting({})
        if rec["kind"] == "move" and rec["id"] in since:
            rec = rec | since[rec["id"]]  # its rating was undone where it lay: its new size and time
        followed, via = _follow_moves(journal, rec, away)
        out = _undo_record(journal, followed, dry_run, own.union(*(a.trusted for a in via)))
        if rec["kind"] == "move":
            _note_move(journal, rec, out, away, own)
        if not dry_run and out.status in ("written", "unchanged"):
            try:
                journal.mark_undone(rec["id"])
                for a in via:
                    _record_identity(journal, rec["id"], a)
            except OSError as exc:  # undone all the same; the next undo finds it undone by its state
                out = WriteOutcome(out.path, out.status, f"{out.message} (could not mark it undone in the "
                                   f"journal: {exc.strerror or exc})", out.targets)
        outcomes.append(out)
    return outcomes


def _moved_identities(recs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """move id -> the size and mtime its file has since undo restored its rating where it lay."""
    out: dict[str, dict[str, Any]] = {}
    for r in recs:
        m = r.get("moved") if r["kind"] == "undone" else None
        if isinstance(m, dict) and isinstance(m.get("ref"), str):
            out[m["ref"]] = {k: m.get(k) for k in ("size", "mtime_ns") if isinstance(m.get(k), int)}
    return out


def _record_identity(journal: Journal, ref: str, away: _Away) -> None:
    """Note the moved photo's size and time after its rating was undone where it lies, so its
    move is still recognised as photocull's and undone later."""
    journal.trusting({}, away.trusted)
    try:
        st = os.stat(journal.resolve(away.dst))
    except (Skip, OSError):
        return
    finally:
        journal.trusting({})
    journal._append(journal._stamp("undone") | {"ref": ref + ":moved", "moved": {
        "ref": away.move_id, "size": st.st_size, "mtime_ns": st.st_mtime_ns}})


def _where(rec: dict[str, Any]) -> Any:
    """The file an outcome names: the photo, a copy, or a moved photo's old name."""
    return rec.get("dst", "?") if rec["kind"] == "copy" else rec.get("path", rec.get("src", "?"))


def _undo_record(journal: Journal, rec: dict[str, Any], dry_run: bool, also: frozenset[str]) -> WriteOutcome:
    """Undo one record; every problem becomes a per-file "skipped" outcome, never an exception."""
    journal.trusting(rec, also)
    try:
        for stored in _paths_of(rec):  # every path checked before any target sees the record
            journal.resolve(stored)
        if rec.get("_gone"):
            raise Skip(str(rec["_gone"]))
        if rec["kind"] in ("move", "copy"):
            from . import transfer

            undo_one = transfer.undo_move if rec["kind"] == "move" else transfer.undo_copy
        else:
            undo_one = target_of_record(rec).undo
        return undo_one(journal, rec, dry_run)
    except Skip as exc:
        return WriteOutcome(_shown(journal, _where(rec)), "skipped", str(exc))
    except OSError as exc:
        return WriteOutcome(_shown(journal, _where(rec)), "skipped", f"could not undo ({exc.strerror or exc})")
    except Exception as exc:  # never let one record stop the others
        return WriteOutcome(_shown(journal, _where(rec)), "skipped",
                            f"unexpected error while undoing ({type(exc).__name__}: {exc})")
    finally:
        journal.trusting({})


def _shown(journal: Journal, stored: Any) -> Path:
    """A path to name in a message (never used to touch a file)."""
    return journal.root / stored if isinstance(stored, str) and "\x00" not in stored else journal.path


def _paths_of(rec: dict[str, Any]) -> list[Any]:
    """The paths a record names where the built-in undos look (targets resolve theirs too)."""
    out = [rec[k] for k in ("path", "src", "dst") if k in rec]
    if rec["kind"] in ("move", "copy") and not ("src" in rec and "dst" in rec):
        out.append(None)  # a move or copy must name both
    if isinstance(rec.get("sidecar"), dict):
        out.append(rec["sidecar"].get("path"))
    elif "sidecar" in rec and rec["sidecar"]:
        out.append(None)
    return out


def _key_of(journal: Journal, stored: Any) -> str | None:
    return os.path.normpath(os.path.join(journal.root, stored)) if isinstance(stored, str) else None


def _note_move(journal: Journal, rec: dict[str, Any], out: WriteOutcome, away: dict[str, _Away],
               trusted: frozenset[str]) -> None:
    """After undoing a move: where older records about the moved photo must look for it."""
    src = _key_of(journal, rec.get("src"))
    if src is None:
        return
    if out.status in ("written", "unchanged"):
        away.pop(src, None)  # back under its old name
        return
    from . import transfer

    journal.trusting({}, trusted)
    try:
        ours = transfer.is_moved_file(journal, rec)
    except Exception:  # a bad record: nothing older may follow it anywhere
        ours = False
    finally:
        journal.trusting({})
    away[src] = _Away(rec["dst"], rec["id"], trusted) if ours else _Away(None)


def _follow_moves(journal: Journal, rec: dict[str, Any], away: dict[str, _Away]) -> tuple[dict[str, Any], list[_Away]]:
    """``rec`` with the paths of photos that a newer move took away (and that are not back)
    pointed at where they are now, so a new file that took the old name is never touched;
    and the moves followed."""
    if rec["kind"] == "move":
        return rec, []
    out, via = dict(rec), []
    for f in ["path", "src"] if rec["kind"] == "copy" else ["path"]:
        a = away.get(_key_of(journal, rec.get(f)) or "")
        if a is not None:
            via.append(a)
            if a.dst is None:
                out["_gone"] = (f"photocull moved this photo away and it is not where it was moved to; "
                                f"the file now named {rec[f]} is another one, left alone")
            else:
                out[f] = a.dst
    sc = rec.get("sidecar")
    a = away.get(_key_of(journal, sc.get("path")) or "") if isinstance(sc, dict) else None
    if a is not None:
        via.append(a)
        if a.dst is None:
            out["_gone"] = f"photocull moved the sidecar {sc.get('path')} away and it is no longer there; left alone"
        else:
            out["sidecar"] = sc | {"path": a.dst}
    return out, [a for a in via if a.dst is not None]
