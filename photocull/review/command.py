"""The ``photocull review`` command (the lead registers it: ``app.command("review")(review)``)."""

from __future__ import annotations

from pathlib import Path

import typer


def review(
    shoot: Path = typer.Argument(..., exists=True, file_okay=False, help="A shoot folder photocull has culled."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the address instead of opening a browser."),
) -> None:
    """Cull in a browser: series side by side, a 100 % loupe, keys for stars, pick and reject.

    Serves a page on 127.0.0.1 only, behind a one-time token in its address.

    Keys: arrows move, 0-5 set stars, P picks, X rejects, U un-flags, Space opens the loupe.

    Every decision is written at once (atomically, journaled) and kept as yours by later culls; 'photocull undo SHOOT/' reverts them.

    Example:  photocull review SHOOT/
    """

    from .server import serve
    from .session import NoRun

    from rich.console import Console
    from rich.markup import escape

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        serve(shoot, port=port, open_browser=not no_browser, announce=lambda s: err.print(s, highlight=False, markup=False, soft_wrap=True))
    except NoRun as exc:
        err.print(f"[red]error[/]: {escape(str(exc))}")
        raise typer.Exit(2)
    except OSError as exc:
        err.print(f"[red]error[/]: cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); try another --port", highlight=False)
        raise typer.Exit(2)
