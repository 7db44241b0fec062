"""The one entry point the pipeline calls to put a rating into (or next to) a photo.

Every per-file problem becomes a "skipped" WriteOutcome with a one-line message; the file
is then byte-identical to before. The write itself is done by the registered targets
(:mod:`.targets`) that handle the photo, one per slot: JPEGs get EXIF + XMP embedded (kept in
agreement), other formats an XMP sidecar; a target with a slot of its own writes as well.
Writes are journaled before the rename so ``undo`` can revert.
The cull's writer (:func:`create_writer`) first asks :mod:`.ownership` whose the present
rating is: the photographer's is kept ("kept" outcome) unless ``overwrite``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..records import FrameResult, WriteOutcome, Writer
from .common import (  # noqa: F401 (desired_values: re-exported)
    DEFAULT_MAX_BYTES,
    PICK_KEYWORD,
    REJECT_KEYWORD,
    Skip,
    WriteRequest,
    desired_values,
)
from .targets import TARGETS, Target, default_fields, fields_writing, held_fields, targets_for, write_fields
from .xmp_sidecar import check_naming

if TYPE_CHECKING:
    from .journal import Journal

def write_rating(
    path: Path,
    stars: int,
    *,
    fmt: str,
    targets: frozenset[str] | None = None,
    rejected: bool = False,
    label: str | None = None,
    keyword: str | None = None,
    journal: Journal | None = None,
    dry_run: bool = False,
    preserve_mtime: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    sidecar_naming: str = "name",
    expected: tuple[int, int] | None = None,
) -> WriteOutcome:
    """Write ``stars`` (0..5) to ``path``; never raises for per-file problems.

    ``targets`` are the ``--write`` fields (None: ``--write``'s default): every registered
    target that handles the photo writes (one per slot: a JPEG gets EXIF and/or XMP embedded,
    a sidecar only when neither is asked for; other formats a sidecar when "sidecar" is
    asked for). ``expected`` is (size, mtime_ns) from the scan: a file changed since is
    skipped. Raises ValueError only for a bad argument (stars, sidecar naming).
    """
    if not 0 <= stars <= 5:
        raise ValueError(f"stars must be 0..5, got {stars}")
    path = Path(path)
    fields = frozenset(targets) if targets is not None else default_fields()
    req = WriteRequest(path, stars, fmt, fields, rejected, label, journal, dry_run,
                       preserve_mtime, max_bytes, check_naming(sidecar_naming), expected, keyword)
    chosen = targets_for(fmt, req.fields)
    if not chosen:
        can = fields_writing(fmt)
        why = (f"only --write {' or '.join(can)} rates {fmt} files; add it" if can
               else f"no metadata target writes {fmt} files")
        return WriteOutcome(path, "skipped", f"nothing to write: {why}")
    outcomes = []
    for k, target in enumerate(chosen):
        outcomes.append(_write_one(target, req))
        if outcomes[-1].status == "written" and req.expected is not None and k + 1 < len(chosen):
            # The photo as that target left it (rewritten, with its checks passed) is what the next one expects.
            req = replace(req, expected=_identity(path))
    return outcomes[0] if len(outcomes) == 1 else _combined(path, outcomes)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _write_one(target: Target, req: WriteRequest) -> WriteOutcome:
    """One target's write; its refusal, an OS error or a bug becomes a "skipped" outcome."""
    try:
        return target.write(req)
    except Skip as exc:
        return WriteOutcome(req.path, "skipped", str(exc))
    except OSError as exc:
        return WriteOutcome(req.path, "skipped", f"could not write ({exc.strerror or exc}); file left untouched")
    except Exception as exc:  # a bug must not take the run down; the file is untouched (no rename happened)
        return WriteOutcome(req.path, "skipped", f"unexpected error ({type(exc).__name__}: {exc}); file left untouched")


_SEVERITY = ("unchanged", "dry-run", "written", "skipped")  # a photo's outcome: its most telling target's


def _combined(path: Path, outcomes: list[WriteOutcome]) -> WriteOutcome:
    """One outcome for a photo several targets wrote: the worst status (a skip shows), every
    target's message, every field written."""
    status = max((o.status for o in outcomes), key=lambda st: _SEVERITY.index(st) if st in _SEVERITY else 0)
    message = "; ".join(o.message for o in outcomes if o.message)
    return WriteOutcome(path, status, message, tuple(t for o in outcomes for t in o.targets))


def read_rating(path: Path, fmt: str, sidecar_naming: str = "name") -> dict[str, Any]:
    """Every rating the registered targets hold for ``path`` (each ``read_keys``, None when
    absent); problems go to "errors", never raised."""
    path = Path(path)
    out: dict[str, Any] = {k: None for t in TARGETS.values() for k in t.read_keys}
    out["errors"] = []
    for target in TARGETS.values():
        try:
            out.update(target.read(path, fmt, sidecar_naming))
        except (Skip, OSError) as exc:
            out["errors"].append(str(exc))
    return out


def create_writer(
    targets: frozenset[str],
    label_picks: bool,
    reject: bool,
    preserve_mtime: bool,
    sidecar_naming: str,
    journal: Journal | None,
    *,
    overwrite: bool = False,
    keywords: bool = False,
) -> Writer:
    """The pipeline's writer for a cull's options: ratings, labels and rejects as asked.

    The photographer's decisions come first: a rating, reject or label photocull did not
    write (:mod:`.ownership` asks the journal) is kept, the outcome "kept" says so, and the
    frame's Rating is updated to what its file says (a kept reject stays a reject, a kept
    rating is no reject, and its stars are the file's); ``overwrite`` replaces them. ``reject``: the pick stage's rejects
    are written as xmp:Rating -1 (else as their stars only). ``label_picks``: picks get the
    Green label, rejects Red. ``keywords``: picks and rejects also get the hierarchical
    keyword ``photocull|pick`` / ``photocull|reject`` (lr:hierarchicalSubject + dc:subject).

    Raises ValueError up front (before any file is touched, dry run or not) for a
    ``targets`` field no target serves or an unknown ``sidecar_naming``. A RAW beside its
    JPEG gets the same rating (:func:`photocull.pick.companion_ratings`), in a sidecar.
    """
    from .ownership import Ledger

    unknown = set(targets) - set(write_fields())
    if unknown or not targets:
        raise ValueError(f"choose from {', '.join(write_fields())}, got {', '.join(sorted(targets)) or 'nothing'}")
    naming = check_naming(sidecar_naming)
    ledger = Ledger.from_records(journal.records() if journal is not None and not overwrite else [])
    return _RatingWriter(targets, label_picks, reject, preserve_mtime, naming, journal, overwrite, keywords, ledger)


@dataclass
class _RatingWriter:
    """The writer :func:`create_writer` returns: one call per frame (see its docstring)."""

    targets: frozenset[str]
    label_picks: bool
    reject: bool
    preserve_mtime: bool
    naming: str
    journal: Journal | None
    overwrite: bool
    keywords: bool
    ledger: Any

    def _rel(self, p: Any) -> str | None:
        if p is None:
            return None
        return self.journal.rel(Path(p)) if self.journal is not None else str(p)

    def _theirs(self, path: Path, fmt: str) -> tuple[Any, bool]:
        """Their decisions on ``path``, and whether it carries a label at all."""
        from .ownership import Theirs

        current = read_rating(path, fmt, self.naming)
        labelled = any(current.get(h.key) for h in held_fields("label"))
        if self.overwrite:
            return Theirs(), labelled
        return self.ledger.theirs(self._rel(path) or "", current, self._rel), labelled

    def __call__(self, fr: FrameResult, dry_run: bool) -> WriteOutcome:
        from ..pick import companion_ratings

        r = fr.rating
        files = [(fr.frame.path, fr.frame.fmt, r)] + [(p, f, rt) for p, f, rt in companion_ratings(fr)]
        looked = [self._theirs(p, f) for p, f, _ in files]
        kept = next((t for t, _ in looked if t.rating is not None), None)
        if kept is not None:
            # Their rating wins for the whole frame (a RAW and its JPEG never disagree), and the
            # reports show it: the stars the file keeps, not the ones photocull would have given.
            r.rejected = kept.rating is not None and kept.rating < 0
            r.is_pick = r.is_pick and not r.rejected
            r.stars = kept.rating if kept.rating > 0 else 1
            return WriteOutcome(fr.frame.path, "kept", kept.message)
        outcome = self._write_files(fr, files, looked, dry_run)
        if not (self.reject or self.label_picks or self.keywords):
            r.rejected = False  # JSON "rejected": only frames written as rejects (here: as 1 star only)
        return outcome

    def _write_files(self, fr: FrameResult, files: list[tuple[Path, str, Any]], looked: list[tuple[Any, bool]],
                     dry_run: bool) -> WriteOutcome:
        """Write the frame and its companions; the outcome is the first skip, else the frame's."""
        r = fr.rating
        # A frame that is neither pick nor reject (now) loses photocull's own label and keyword
        # ("" clears; None leaves alone), never the photographer's.
        wanted_label = ("Green" if r.is_pick else "Red" if r.rejected else "") if self.label_picks else None
        keyword = (PICK_KEYWORD if r.is_pick else REJECT_KEYWORD if r.rejected else "") if self.keywords else None
        outcome: WriteOutcome | None = None
        for (path, fmt, rating), (their, labelled) in zip(files, looked):
            label = None if their.label or (wanted_label == "" and not labelled) else wanted_label
            one = write_rating(
                path, rating.stars, fmt=fmt, targets=self.targets, rejected=self.reject and r.rejected,
                label=label, keyword=keyword, journal=self.journal,
                dry_run=dry_run, preserve_mtime=self.preserve_mtime, sidecar_naming=self.naming,
                expected=(fr.frame.size, fr.frame.mtime_ns) if path == fr.frame.path else None,
            )
            if their.label and one.status != "skipped":
                one.message = f"{one.message}; {their.message}" if one.message else their.message
            if outcome is None or (one.status == "skipped" and outcome.status != "skipped"):
                outcome = one
        assert outcome is not None
        return outcome
