"""The photocull command line: one module per command, all registered on one typer app.

Thin by design: commands read options (``options``, built from ``photocull.settings``),
call the library (scorer and backbone policy live there) and print (``output``,
``errors``: messages on stderr, escaped). ``app`` is what the ``photocull`` script runs.
"""

from __future__ import annotations

import typer

from . import config, cull, models, report, review, train, undo  # noqa: F401  (each registers its commands)
from .app import app
from .errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE

__all__ = ["EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "app", "main"]


def main() -> None:
    """The ``photocull`` script. On a terminal typer prints usage errors in a coloured panel;
    on a pipe or file each is one plain line (``errors.usage_error``), never hard-wrapped."""
    import sys

    from .errors import stderr_is_terminal, usage_error, usage_exceptions
    from .output import tolerate_undecodable_names

    tolerate_undecodable_names()
    if stderr_is_terminal():
        app()
        return
    try:
        code = typer.main.get_command(app).main(standalone_mode=False)
    except usage_exceptions() as exc:
        code = usage_error(exc)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        code = 1
    sys.exit(code if isinstance(code, int) else EXIT_OK)
