"""The photocull command line: one module per command, all registered on one typer app.

Thin by design: commands read options (``options``, built from ``photocull.settings``),
call the library (scorer and backbone policy live there) and print (``output``,
``errors``: messages on stderr, escaped). ``app`` is what the ``photocull`` script runs.
"""

from __future__ import annotations

from . import config, cull, models, report, train, undo  # noqa: F401  (each registers its commands)
from .app import app
from ..review.command import review
from .errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE

app.command("review")(review)

__all__ = ["EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "app", "main"]


def main() -> None:
    from .output import tolerate_undecodable_names

    tolerate_undecodable_names()
    app()
