"""Append-only undo journal (JSON lines) in the shoot folder, and ``undo``.

Each write is recorded (and fsync'd) BEFORE its rename, with the previous and new values of
every field photocull touches, so undo works even after a crash mid-run. Undo restores
field by field, newest first, and only where the file still carries what photocull wrote
(a rating changed by hand since is left alone). Undone records are marked by appending an
"undone" line, so re-running undo, or finishing an interrupted one, is safe.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ..records import WriteOutcome
from . import exif, sidecar, writer, xmp
from .atomic import atomic_unlink, atomic_write_bytes, cleanup_temp_files, fsync_dir, ChangedSinceRead, Stamp

JOURNAL_DIR = ".photocull"
JOURNAL_NAME = "journal.jsonl"


class Journal:
    """The journal of one shoot folder; paths are stored relative to it (the folder can move)."""

    def __init__(self, root: Path, run_id: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.path = self.root / JOURNAL_DIR / JOURNAL_NAME
        self.run_id = run_id or time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self._lock = threading.Lock()
        self._ready = False

    def rel(self, path: Path) -> str:
        p = Path(os.path.abspath(path))
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return str(p)

    def resolve(self, stored: str) -> Path:
        return self.root / stored

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, default=self._default, sort_keys=True) + "\n").encode("utf-8")
        with self._lock:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fsync_dir(self.path.parent.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if not self._ready:
                    # A killed writer can leave a torn last line: start ours on a fresh line.
                    size = os.fstat(fd).st_size
                    if size and _last_byte(self.path) != b"\n":
                        line = b"\n" + line
                    self._ready = True
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def _default(self, obj: Any) -> Any:
        if isinstance(obj, Path):
            return self.rel(obj)
        raise TypeError(f"not JSON serialisable: {type(obj).__name__}")

    def _stamp(self, kind: str) -> dict[str, Any]:
        return {"v": 1, "id": uuid.uuid4().hex, "run": self.run_id, "kind": kind, "time": time.time()}

    def record_write(self, entry: dict[str, Any]) -> str:
        """Record a metadata write (called before the rename); returns its id."""
        rec = self._stamp("write") | entry
        self._append(rec)
        return rec["id"]

    def record_move(self, src: Path, dst: Path) -> str:
        """Record a file move (call before moving) so undo can move it back."""
        rec = self._stamp("move") | {"src": src, "dst": dst}
        self._append(rec)
        return rec["id"]

    def record_copy(self, src: Path, dst: Path) -> str:
        """Record a copy (call before copying) so undo can remove the copy."""
        rec = self._stamp("copy") | {"src": src, "dst": dst}
        self._append(rec)
        return rec["id"]

    def mark_undone(self, ref: str) -> None:
        self._append(self._stamp("undone") | {"ref": ref})

    def records(self) -> list[dict[str, Any]]:
        """Every readable record, oldest first (a torn line from a crash is ignored)."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_bytes().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and "kind" in rec and "id" in rec:
                out.append(rec)
        return out

    def pending(self, run: str | None = None) -> list[dict[str, Any]]:
        """Write/move records not yet undone, newest first (optionally of one run only)."""
        recs = self.records()
        undone = {r.get("ref") for r in recs if r["kind"] == "undone"}
        todo = [r for r in recs if r["kind"] in ("write", "move", "copy") and r["id"] not in undone]
        if run is not None:
            todo = [r for r in todo if r.get("run") == run]
        return todo[::-1]

    def last_run(self) -> str | None:
        todo = self.pending()
        return todo[0].get("run") if todo else None


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)


# ---------------------------------------------------------------- undo

def undo(directory: Path, *, run: str | None = None, dry_run: bool = False) -> list[WriteOutcome]:
    """Revert photocull's writes and moves in ``directory``, newest first.

    ``run``: only that run's records (``Journal(d).last_run()`` for the latest). Safe to run
    twice and to re-run after an interruption.
    """
    journal = Journal(directory)
    if not dry_run and journal.path.exists():
        cleanup_temp_files(journal.root)
    outcomes = []
    for rec in journal.pending(run):
        try:
            undo_one = {"move": _undo_move, "copy": _undo_copy}.get(rec["kind"], _undo_write)
            out = undo_one(journal, rec, dry_run)
        except writer.Skip as exc:
            out = WriteOutcome(journal.resolve(rec.get("path", rec.get("src", "?"))), "skipped", str(exc))
        except OSError as exc:
            out = WriteOutcome(journal.resolve(rec.get("path", rec.get("src", "?"))), "skipped",
                               f"could not undo ({exc.strerror or exc})")
        except Exception as exc:  # never let one record stop the others
            out = WriteOutcome(journal.resolve(rec.get("path", rec.get("src", "?"))), "skipped",
                               f"unexpected error while undoing ({type(exc).__name__}: {exc})")
        if not dry_run and out.status in ("written", "unchanged"):
            journal.mark_undone(rec["id"])
        outcomes.append(out)
    return outcomes


def _state(current: dict[str, Any], before: dict[str, Any], after: dict[str, Any], as_int: bool) -> str:
    """"before", "after" or "other": which recorded version the current fields match."""
    def norm(v: Any, key: str) -> Any:
        return xmp.as_int(v) if as_int and key != "Label" and isinstance(v, str) else v
    cur = {k: norm(current.get(k), k) for k in after}
    if cur == {k: norm(before.get(k), k) for k in after}:
        return "before"
    if cur == {k: norm(after.get(k), k) for k in after}:
        return "after"
    return "other"


def _undo_write(journal: Journal, rec: dict[str, Any], dry_run: bool) -> WriteOutcome:
    path = journal.resolve(rec["path"])
    if rec.get("sidecar"):
        return _undo_sidecar(journal, path, rec, dry_run)
    ld = writer.load_jpeg(path)
    states: dict[str, str] = {}
    ex_payload, ex_now = writer.exif_fields(ld.jf) if rec.get("exif") else (None, {})
    xm_payload, packet, xm_now = writer.xmp_fields(ld.jf) if rec.get("xmp") else (None, None, {})
    if rec.get("exif"):
        states["exif"] = _state(ex_now, rec["exif"]["before"], rec["exif"]["after"], False)
    if rec.get("xmp"):
        states["xmp"] = _state(xm_now, rec["xmp"]["before"], rec["xmp"]["after"], True)
    if "other" in states.values():
        return WriteOutcome(path, "skipped", "rating changed since photocull wrote it; left alone")
    todo = tuple(k for k, s in states.items() if s == "after")
    if not todo:
        return WriteOutcome(path, "unchanged", "already as before photocull")
    new_ex: Any = True
    new_xm: Any = True
    if "exif" in todo:
        r = rec["exif"]
        if not r["existed"] and writer.sha256(ex_payload) == r["sha256"]:
            new_ex = None  # photocull created the whole block: drop it
        else:
            lay = exif.Layout(*r["layout"]) if r.get("layout") else None
            new_ex = exif.write(ex_payload, r["before"], lay)[0]
    if "xmp" in todo:
        r = rec["xmp"]
        if not r["existed"] and writer.sha256(xm_payload) == r["sha256"]:
            new_xm = None
        else:
            assert packet is not None
            xmp.update(packet, r["before"])
            new_xm = writer.xmp_payload(packet)
    data = writer.splice(ld.jf, exif_payload=new_ex, xmp_payload_=new_xm)
    writer.verify(data, ld.jf, rec["exif"]["before"] if "exif" in todo else None,
                  rec["xmp"]["before"] if "xmp" in todo else None)
    if dry_run:
        return WriteOutcome(path, "dry-run", "would restore the previous rating", todo)
    writer.check_writable(path, sidecar_ok=False)
    writer.commit(path, data, ld.stamp, preserve_mtime=rec.get("preserve_mtime", True))
    return WriteOutcome(path, "written", "restored the previous rating", todo)


def _undo_sidecar(journal: Journal, image: Path, rec: dict[str, Any], dry_run: bool) -> WriteOutcome:
    r = rec["sidecar"]
    sc = journal.resolve(r["path"])
    if not sc.exists():
        if r["created"]:
            return WriteOutcome(image, "unchanged", "sidecar already gone", ("sidecar",))
        return WriteOutcome(image, "skipped", f"sidecar {sc.name} no longer exists; nothing to restore")
    stamp = Stamp.of(sc)
    data = sc.read_bytes()
    try:
        current = xmp.read_raw(xmp.parse(data))
    except xmp.XmpError as exc:
        raise writer.Skip(f"sidecar {sc.name}: {exc}; left alone") from None
    state = _state(current, r["before"], r["after"], True)
    if state == "other":
        return WriteOutcome(image, "skipped", f"rating in {sc.name} changed since photocull wrote it; left alone")
    if state == "before":
        return WriteOutcome(image, "unchanged", "already as before photocull", ("sidecar",))
    delete = r["created"] and writer.sha256(data) == r["sha256"]
    if dry_run:
        verb = "delete" if delete else "restore"
        return WriteOutcome(image, "dry-run", f"would {verb} sidecar {sc.name}", ("sidecar",))
    if not os.access(sc.parent, os.W_OK | os.X_OK):
        raise writer.Skip("folder is read-only; make it writable to undo")
    if delete:
        atomic_unlink(sc)
        return WriteOutcome(image, "written", f"deleted sidecar {sc.name} created by photocull", ("sidecar",))
    try:
        atomic_write_bytes(sc, sidecar.render(data, r["before"]), expected=stamp,
                           preserve_mtime=rec.get("preserve_mtime", True))
    except ChangedSinceRead:
        raise writer.Skip(f"sidecar {sc.name} changed while undoing; re-run undo") from None
    return WriteOutcome(image, "written", f"restored the previous rating in {sc.name}", ("sidecar",))


def _undo_move(journal: Journal, rec: dict[str, Any], dry_run: bool) -> WriteOutcome:
    src, dst = journal.resolve(rec["src"]), journal.resolve(rec["dst"])
    if os.path.lexists(src) and not os.path.lexists(dst):
        return WriteOutcome(src, "unchanged", "already back in place")
    if not os.path.lexists(dst):
        return WriteOutcome(src, "skipped", f"moved file {dst} is missing; cannot move it back")
    if os.path.lexists(src):
        return WriteOutcome(src, "skipped", f"a file already exists at {src}; left {dst} where it is")
    if dry_run:
        return WriteOutcome(src, "dry-run", f"would move {dst.name} back")
    from .files import move_file

    move_file(dst, src)
    return WriteOutcome(src, "written", f"moved back from {dst.parent.name}/")


def _undo_copy(journal: Journal, rec: dict[str, Any], dry_run: bool) -> WriteOutcome:
    """Remove a copy photocull made, only while it still equals its source (never user work)."""
    src, dst = journal.resolve(rec["src"]), journal.resolve(rec["dst"])
    if not os.path.lexists(dst):
        return WriteOutcome(dst, "unchanged", "copy already removed")
    if not os.path.exists(src) or not _same_bytes(src, dst):
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
