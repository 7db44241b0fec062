"""The ``photocull`` typer app; each command lives in its own module and registers on it."""

from __future__ import annotations

import typer

from .. import __version__

app = typer.Typer(
    help=(
        "Cull a photo shoot: group bursts into series, score every frame, pick the best, "
        "and write star ratings your photo editor shows.\n\n"
        "Start with:  photocull cull SHOOT/ --dry-run   (look, write nothing)\n\n"
        "Then:        photocull cull SHOOT/             (write ratings; undo with: photocull undo SHOOT/)"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"photocull {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    pass
