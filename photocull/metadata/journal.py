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

from ..paths import STATE_DIRNAME
from ..records import WriteOutcome
from .atomic import cleanup_temp_files, fsync_dir
from .common import Skip
from .targets import target_of_record

JOURNAL_DIR = STATE_DIRNAME  # SHOOT/.photocull (photocull.paths)
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

    def record_move(self, src: Path, dst: Path, **extra: Any) -> str:
        """Record a file move (call before moving) so undo can move it back."""
        rec = self._stamp("move") | {"src": src, "dst": dst} | extra
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
            if rec["kind"] in ("move", "copy"):
                from . import transfer

                undo_one = transfer.undo_move if rec["kind"] == "move" else transfer.undo_copy
            else:
                undo_one = target_of_record(rec).undo
            out = undo_one(journal, rec, dry_run)
        except Skip as exc:
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
