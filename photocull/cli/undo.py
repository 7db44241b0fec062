"""``photocull undo``: put back what a cull wrote, from the shoot's journal."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from .app import app
from .errors import EXIT_OK, EXIT_PARTIAL, error, stderr, warning
from .options import VERBOSE


@app.command()
def undo(
    ctx: typer.Context,
    shoot: Path = typer.Argument(..., exists=True, file_okay=False, help="The shoot folder a cull wrote to."),
    verbose: bool = VERBOSE,
) -> None:
    """Restore the ratings (and files) as they were before photocull wrote them.

    Reads SHOOT/.photocull/journal.jsonl; safe to interrupt and run again.
    """
    from ..metadata.journal import undo as undo_journal
    from .locking import hold_shoot

    hold_shoot(ctx, shoot, "undo")
    out, err = Console(highlight=False), stderr()
    warnings: list[str] = []  # unreadable journal lines, by number: skipped, the rest undone
    outcomes = undo_journal(shoot, warnings=warnings)
    for w in warnings:
        warning(w, err)
    failed = [o for o in outcomes if o.status == "skipped"]
    restored = [o for o in outcomes if o.status != "skipped"]
    for o in failed:
        error(f"{o.path}: {o.message}", err)
    if verbose:
        for o in restored:
            out.print(f"restored {escape(str(o.path))}")
    out.print(f"{len(restored)} files restored, {len(failed)} could not be restored" if outcomes else "nothing to undo")
    raise typer.Exit(EXIT_PARTIAL if failed else EXIT_OK)
