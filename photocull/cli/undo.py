"""``photocull undo``: put back what a cull wrote, from the shoot's journal."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ..last_run import mark_last_run_undone
from .app import app
from .errors import EXIT_OK, EXIT_PARTIAL, error, stderr, stdout, warning
from .options import settings_option

@app.command()
def undo(
    ctx: typer.Context,
    shoot: Path = typer.Argument(..., exists=True, file_okay=False, help="The shoot folder a cull wrote to."),
    last: bool = typer.Option(False, "--last", help="Undo only the latest run that is not undone yet (a cull, or a "
                              "review session); run again to step further back."),
    verbose: bool = settings_option("verbose"),
) -> None:
    """Restore the ratings (and files) as they were before photocull wrote them.

    Reads SHOOT/.photocull/journal.jsonl; safe to interrupt and run again. Folders a
    cull created for --copy-picks / --move-rejects are removed once empty.

    Examples:

      photocull undo SHOOT/           (everything photocull wrote)

      photocull undo SHOOT/ --last    (only the latest run)
    """
    from ..metadata.journal import Journal
    from ..metadata.undo import undo as undo_journal
    from .locking import hold_shoot

    hold_shoot(ctx, shoot, "undo")
    out, err = stdout(), stderr()
    warnings: list[str] = []  # unreadable journal lines, by number: skipped, the rest undone
    run = Journal(shoot).last_run() if last else None
    outcomes = undo_journal(shoot, run=run, warnings=warnings) if run is not None or not last else []
    for w in warnings:
        warning(w, err)
    if any(o.status == "written" for o in outcomes):
        mark_last_run_undone(shoot)
    failed = [o for o in outcomes if o.status == "skipped"]
    restored = [o for o in outcomes if o.status != "skipped"]
    for o in failed:
        error(f"{o.path}: {o.message}", err)
    if verbose:
        for o in restored:
            out.print(f"restored {escape(str(o.path))}")
    out.print(f"{len(restored)} files restored, {len(failed)} could not be restored" if outcomes else "nothing to undo")
    raise typer.Exit(EXIT_PARTIAL if failed else EXIT_OK)
