"""``photocull undo``: revert what the journal records, newest first (see :mod:`.journal`).

Apart from the journal so the journal, which every target and transfer writes to, imports none
of them: undo is the one place that needs all three (a target undoes its write, transfer its
copy or move).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records import WriteOutcome
from . import transfer
from .atomic import cleanup_temp_files
from .common import Skip
from .journal import Journal, pending_records
from .targets import file_parts, target_of_record


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
    journal = Journal(directory)
    if not dry_run and journal.path.exists():
        cleanup_temp_files(journal.root)
    try:
        if not dry_run:
            transfer.remove_temp_copies(journal)  # a killed --copy-picks: also in a picks folder outside the shoot
        recs = journal.records()
    except Skip as exc:
        return [WriteOutcome(journal.path, "skipped", str(exc))]
    if warnings is not None:
        warnings.extend(journal.problems)
    since = _moved_identities(recs)
    away: dict[str, _Away] = {}  # a moved photo's old name (normalised) -> where it is now
    outcomes = []
    for rec in pending_records(recs, run):
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
    for part in sorted(file_parts()):  # a target's own file (a sidecar) must lie inside the shoot too
        if isinstance(rec.get(part), dict):
            out.append(rec[part].get("path"))
        elif rec.get(part):
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
    for part in sorted(file_parts()):  # a target's own file (a sidecar) travels on its own move record
        sc = rec.get(part)
        a = away.get(_key_of(journal, sc.get("path")) or "") if isinstance(sc, dict) else None
        if a is not None:
            via.append(a)
            if a.dst is None:
                out["_gone"] = f"photocull moved the sidecar {sc.get('path')} away and it is no longer there; left alone"
            else:
                out[part] = sc | {"path": a.dst}
    return out, [a for a in via if a.dst is not None]
