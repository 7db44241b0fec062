"""``photocull config``: the settings in force and the file each comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from .. import paths
from .app import app
from .errors import fail, stdout


@app.command("config")
def show_config(
    shoot: Optional[Path] = typer.Argument(None, exists=True, help="A shoot folder (its photocull.toml applies on top of yours)."),
) -> None:
    """Show the settings in force and the files they come from.

    Settings live in photocull.toml: yours in ~/.config/photocull/ (or $XDG_CONFIG_HOME),
    a shoot's own in its folder. Options on the command line override both.

    Example photocull.toml:

      \\[cull]
      scorer = "technical"
      write = "xmp,sidecar"
      label_picks = true

      \\[stars]
      five_star = 0.1
    """
    from ..settings import ConfigError, load

    try:
        settings = load(shoot)
    except ConfigError as exc:
        fail(str(exc))
    table = Table(title="photocull settings", title_justify="left")
    for col in ("setting", "value", "from"):
        table.add_column(col)
    for name, value, source in settings.rows():
        table.add_row(name, escape(repr(value)), escape(source))
    out = stdout()
    out.print(table)
    user = paths.user_config_path()
    out.print(escape(f"user settings file: {user}" + ("" if user.exists() else " (none)")))
