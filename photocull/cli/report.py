"""``photocull report``: show the last run again (table, HTML, JSON) without re-scoring."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .. import paths
from .app import app
from .errors import fail, note, stderr, warning
from .options import settings_option
from .output import check_output_paths, finish


@app.command()
def report(
    shoot: Path = typer.Argument(..., exists=True, file_okay=False, help="A shoot folder photocull has culled."),
    html: Optional[Path] = settings_option("html", help="Write the HTML contact sheet to PATH."),
    json_path: Optional[str] = settings_option("json_path"),
    list_path: Optional[str] = settings_option("list_path"),
    details: bool = settings_option("details"),
) -> None:
    """Show the last run's result again (table, --html, --json) without re-scoring.

    Example:  photocull report SHOOT/ --html contact.html
    """
    from ..report.table import printable
    from ..errors import SessionError
    from ..last_run import load_last_run

    check_output_paths(json_path, html, list_path)
    try:
        result, refused = load_last_run(shoot)
    except SessionError as exc:
        fail(str(exc), exc.exit_code)
    saved = paths.last_run_path(shoot)
    if refused:
        shown = ", ".join(printable(p) for p in refused[:3]) + (" ..." if len(refused) > 3 else "")
        warning(f"{len(refused)} file(s) in {saved} lie outside {shoot} and are left out: {shown}; "
                f"run 'photocull cull {shoot}' again for a fresh report.")
    if html:
        from ..report.html import write_html

        write_html(result, html)
        note(f"contact sheet written to {html}", stderr())
    finish(result, None, json_path, False, list_path=list_path, details=details)
