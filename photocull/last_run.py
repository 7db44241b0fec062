"""What a shoot keeps of its last run: ``SHOOT/.photocull/last_run.json``, saved by a session,
read by ``photocull report`` and the review page, set aside by ``photocull undo``."""

from __future__ import annotations

from pathlib import Path

from . import paths
from .errors import NoRun
from .records import CullResult

__all__ = ["UNDONE_LAST_RUN", "load_last_run", "mark_last_run_undone", "save_last_run"]

UNDONE_LAST_RUN = "last_run.undone.json"  # the last run's report, set aside by an undo


def save_last_run(result: CullResult, shoot: Path) -> None:
    """Keep the run's report in SHOOT/.photocull/ so 'photocull report' and the review page
    need no re-scoring (a read-only shoot keeps nothing: they will say there is no run)."""
    from .report.json import write_json

    target = paths.last_run_path(shoot)
    try:
        target.parent.mkdir(exist_ok=True)
        write_json(result, str(target))
    except OSError:
        pass


def load_last_run(shoot: Path) -> tuple[CullResult, list[str]]:
    """The shoot's last run as :func:`save_last_run` kept it, confined to ``shoot`` (it travels
    with the card: files that lie outside are left out and returned as refused, and a saved
    run that is a link out of the shoot is not read). :class:`NoRun` says what to do when
    there is none, it was undone, or it cannot be read."""
    from .report.json import inside, read_saved_run

    saved = paths.last_run_path(shoot)
    if not saved.is_file() and saved.with_name(UNDONE_LAST_RUN).is_file():
        raise NoRun(f"the last run of {shoot} was undone ('photocull undo'); run 'photocull cull {shoot}' again "
                    "for a report.")
    if not saved.is_file() or not inside(saved, paths.shoot_folder(shoot)):
        raise NoRun(f"{shoot} has no saved run; run 'photocull cull {shoot}' (or score) first.")
    try:
        return read_saved_run(shoot, saved)
    except (OSError, ValueError, RecursionError) as exc:
        raise NoRun(f"{saved} cannot be read ({exc}); run the cull again.") from None


def mark_last_run_undone(shoot: Path) -> None:
    """After an undo the saved report no longer describes the photos: set it aside, so
    :func:`load_last_run` says the run was undone instead of showing ratings that are gone."""
    import os

    saved = paths.last_run_path(shoot)
    try:
        os.replace(saved, saved.with_name(UNDONE_LAST_RUN))
    except OSError:
        pass  # none saved (or a read-only shoot): nothing to correct
