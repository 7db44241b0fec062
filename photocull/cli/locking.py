"""Holding a shoot for the rest of a command (``photocull.lock``), in the CLI's words."""

from __future__ import annotations

from pathlib import Path

import typer

from ..lock import ShootBusy, UnsafeStateFolder, shoot_lock
from .errors import fail, note

WAIT_S = 3.0  # how long a second command waits for the first before giving up (exit 2)


def hold_shoot(ctx: typer.Context, shoot: Path, command: str) -> None:
    """Lock ``shoot`` until the command of ``ctx`` ends (exit 2, naming the holder, if another
    photocull process has it for longer than :data:`WAIT_S`), and check its journal can be
    used (exit 2 when it is a folder, link or pipe: every write and undo goes through it)."""
    try:
        held = ctx.with_resource(shoot_lock(shoot, command, wait=WAIT_S))
    except (ShootBusy, UnsafeStateFolder) as exc:
        fail(str(exc))
    if not held.locked:
        note(f"{held.why_not}; going on without the shoot lock (do not run two photocull commands on it at once)")
    from ..metadata.journal import Journal
    from ..paths import shoot_folder

    problem = Journal(shoot_folder(shoot)).problem()  # a journal that cannot be written: no write, no undo
    if problem is not None:
        fail(problem)
