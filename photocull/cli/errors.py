"""How the CLI speaks to people: errors, warnings and notes on stderr, exit codes.

Everything printed here is escaped: a file named ``[red]x.jpg`` prints as its name, not as
Rich markup. Results (tables, JSON) go to stdout; these messages never mix into them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from ..session import Notice

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2  # 1: some files failed; 2: nothing was done (usage)


def stderr() -> Console:
    """The console for messages: colours on a terminal, never wrapped (``soft_wrap``), so a
    path is never split across lines and a pipe or file gets one plain line a message."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout() -> Console:
    """The console for results (tables, totals, what undo restored): lines of text are never
    wrapped either (``soft_wrap``); a table still fits the terminal's width."""
    return Console(highlight=False, soft_wrap=True)


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal as Rich decides it (``FORCE_COLOR``/``TTY_COMPATIBLE`` honoured)."""
    return stderr().is_terminal


def usage_exceptions() -> tuple[type[Exception], ...]:
    """The exceptions a command line parse raises: typer's own (it vendors click from 0.20)
    and click's, for an older typer."""
    found: list[type[Exception]] = []
    try:
        from typer.exceptions import TyperException

        found.append(TyperException)
    except ImportError:
        pass
    try:
        import click

        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(found)


def usage_error(exc: Exception) -> int:
    """Print a usage error (bad option, missing folder) as one plain unwrapped line and return its
    exit code; used where stderr is no terminal, instead of typer's boxed, 80-column panel."""
    if exc.__class__.__name__ != "NoArgsIsHelpError":  # the help was printed already
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = " ".join(str(getattr(exc, "format_message", exc.__str__)()).split())
        sys.stderr.write(f"error: {message}{hint}\n")
    return int(getattr(exc, "exit_code", EXIT_USAGE))


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


def tell(notice: Notice) -> None:
    """Print a session's notice as it arises: a warning or a note on stderr."""
    (warning if notice.level == "warning" else note)(notice.text)
