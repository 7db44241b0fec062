"""``photocull report``: show the last run again (table, HTML, JSON) without re-scoring."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .. import paths
from .app import app
from .errors import fail, note, stderr
from .options import JSON
from .output import finish


@app.command()
def report(
    shoot: Path = typer.Argument(..., exists=True, file_okay=False, help="A shoot folder photocull has culled."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write the HTML contact sheet to PATH.", metavar="PATH"),
    json_path: Optional[str] = JSON,
) -> None:
    """Show the last run's result again (table, --html, --json) without re-scoring.

    Example:  photocull report SHOOT/ --html contact.html
    """
    from ..report.json import read_json

    saved = paths.last_run_path(shoot)
    if not saved.is_file() and saved.with_name("last_run.undone.json").is_file():
        fail(f"the last run of {shoot} was undone ('photocull undo'); run 'photocull cull {shoot}' again for a report.")
    if not saved.is_file():
        fail(f"{shoot} has no saved run; run 'photocull cull {shoot}' (or score) first.")
    try:
        result = read_json(saved)
    except (ValueError, KeyError, TypeError) as exc:
        fail(f"{saved} cannot be read ({exc}); run the cull again.")
    if html:
        from ..report.html import write_html

        write_html(result, html)
        note(f"contact sheet written to {html}", stderr())
    finish(result, None, json_path, False)
