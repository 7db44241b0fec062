"""``photocull review``: serve the review page (``photocull.review``) of a shoot's last run."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app
from .errors import fail, stderr


@app.command()
def review(
    shoot: Path = typer.Argument(..., exists=True, file_okay=False, help="A shoot folder photocull has culled."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the address instead of opening a browser."),
) -> None:
    """Cull in a browser with Lightroom's keys: stacks, loupe, compare, survey, face close-ups.

    Serves a page on 127.0.0.1 only, behind a one-time token in its address.

    Keys: 0-5 stars, 6-9 red/yellow/green/blue label, P pick, X reject, U un-flag (auto-advance
    on; Shift+key or Caps Lock the other way), Ctrl+Z undo, S open/close a series' stack,
    G grid, E/Space loupe (Z 100 %), C compare (shared zoom and pan), N survey, ? all keys.

    Every decision is written at once (atomically, journaled) with the writer settings of the
    cull that made the shoot, and kept as yours by later culls; 'photocull undo SHOOT/ --last'
    reverts the session. Closing the page (or Ctrl-C) stops the server and prints a summary.

    Example:  photocull review SHOOT/
    """

    from ..review.server import serve
    from ..errors import SessionError

    err = stderr()
    try:
        serve(shoot, port=port, open_browser=not no_browser, announce=lambda s: err.print(s, markup=False))
    except SessionError as exc:  # no saved run (none yet, undone, damaged)
        fail(str(exc), exc.exit_code)
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); try another --port")
