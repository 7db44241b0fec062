"""How the CLI speaks to people: errors, warnings and notes on stderr, exit codes.

Everything printed here is escaped: a file named ``[red]x.jpg`` prints as its name, not as
Rich markup. Results (tables, JSON) go to stdout; these messages never mix into them.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2  # 1: some files failed; 2: nothing was done (usage)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def error(message: str, console: Console | None = None) -> None:
    (console or stderr()).print(f"[red]error[/]: {escape(message)}")


def warning(message: str, console: Console | None = None) -> None:
    (console or stderr()).print(f"[yellow]warning[/]: {escape(message)}")


def note(message: str, console: Console | None = None) -> None:
    (console or stderr()).print(f"[dim]note: {escape(message)}[/]")


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``message`` as an error and end the command with ``code`` (2: usage)."""
    error(message)
    raise typer.Exit(code)
