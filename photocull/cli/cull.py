"""``photocull cull``, ``score`` and ``group``: one body, one set of options (``photocull.settings``).

They differ only in their :class:`~photocull.mode.Mode` (what it writes, scores with and
shows); :class:`photocull.session.Session` assembles and runs the run, this module reads the
command line and prints.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from ..mode import Mode
from ..session import Session, SessionError
from ..settings import ConfigError, Settings
from . import locking
from .app import app
from .errors import EXIT_USAGE, fail, note, stderr, tell
from .options import given_on_command_line, settings_options
from .output import check_output_paths, finish, interrupt_message, progress_bars


def _settings(ctx: typer.Context) -> Settings:
    """photocull.toml (user, then shoot) with what was typed on the command line on top."""
    from ..settings import load

    try:
        return load(ctx.params["shoot"]).with_options(given_on_command_line(ctx))
    except ConfigError as exc:
        fail(str(exc))


def execute(ctx: typer.Context, mode: Mode) -> None:
    """The body of cull / score / group: the session does the run (``photocull.session``);
    this reads the options, shows progress and the result, and turns its errors into exit codes."""
    settings = _settings(ctx)
    c = settings.cull
    check_output_paths(c.json_path, c.html if mode.html else None, c.list_path)
    started = time.perf_counter()
    try:  # the session (and the shoot's lock) lives until the command ends
        session = ctx.with_resource(Session.open(ctx.params["shoot"], settings, mode, on_notice=tell,
                                                 lock_wait=locking.WAIT_S))
        with interrupt_message(), progress_bars(not c.quiet) as progress:
            result = session.run(progress)
    except SessionError as exc:
        fail(str(exc), exc.exit_code)
    if c.html and mode.html:
        from ..report.html import write_html

        with progress_bars(not c.quiet) as progress:
            progress.stage("Contact sheet", None)
            write_html(result, c.html)
        note(f"contact sheet written to {c.html}", stderr())
    finish(result, started, c.json_path, c.verbose, show_scores=mode.show_scores, list_path=c.list_path,
           details=c.details)


@app.command()
@settings_options(Mode.CULL.name)
def cull(ctx: typer.Context, shoot: Path, **options: Any) -> None:
    """Group, score, pick and write star ratings into the photos.

    Picks get 3-5 stars, their series mates 2, technically failed frames 1.
    Ratings, rejects and labels you set yourself are kept (--overwrite replaces them).
    Every write is atomic and journaled: [bold]photocull undo SHOOT/[/] restores what was there.

    Examples:

      photocull cull ~/Pictures/2026-11-24/ --dry-run

      photocull cull SHOOT/ --top-k 2 --json report.json

      photocull cull SHOOT/ --write sidecar       (never touch the originals)

      photocull cull SHOOT/ --keep 2 --preset lightroom   (the 2 best of each series; the rest rejected)
    """
    execute(ctx, Mode.CULL)


@app.command()
@settings_options(Mode.SCORE.name)
def score(ctx: typer.Context, shoot: Path, **options: Any) -> None:
    """Group and score, show picks and stars; write nothing to the photos.

    Example:  photocull score SHOOT/ --json -
    """
    execute(ctx, Mode.SCORE)


@app.command()
@settings_options(Mode.GROUP.name)
def group(ctx: typer.Context, shoot: Path, **options: Any) -> None:
    """Find the series (bursts, brackets, re-takes) only: no ratings written.

    Example:  photocull group SHOOT/ --max-gap 5
    """
    execute(ctx, Mode.GROUP)


__all__ = ["EXIT_USAGE", "cull", "execute", "group", "score"]
