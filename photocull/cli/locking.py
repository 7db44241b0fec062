"""Holding a shoot for the rest of a command (``photocull.lock``), in the CLI's words."""

from __future__ import annotations

from pathlib import Path

import typer

from ..lock import ShootBusy, UnsafeStateFolder, shoot_lock
from .errors import fail, note

WAIT_S = 3.0  # how long a second command waits for the first before giving up (exit 2)


def hold_shoot(ctx: typer.Context, shoot: Path, command: str) -> None:
    """Lock ``shoot`` until the command of ``ctx`` ends (exit 2, naming the holder, if another
    photocull process has it for longer than :data:`WAIT_S`)."""
    try:
        held = ctx.with_resource(shoot_lock(shoot, command, wait=WAIT_S))
    except (ShootBusy, UnsafeStateFolder) as exc:
        fail(str(exc))
    if not held.locked:
        note(f"{held.why_not}; going on without the shoot lock (do not run two photocull commands on it at once)")
