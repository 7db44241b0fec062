"""Holding a shoot for the rest of a command (``photocull.session.hold_shoot``), in the CLI's words."""

from __future__ import annotations

from pathlib import Path

import typer

from ..lock import ShootLock
from ..session import LOCK_WAIT_S, SessionError, hold_shoot as hold
from .errors import fail, tell

WAIT_S = LOCK_WAIT_S  # how long a second command waits for the first before giving up (exit 2)


def hold_shoot(ctx: typer.Context, shoot: Path, command: str) -> ShootLock:
    """Lock ``shoot`` until the command of ``ctx`` ends (exit 2, naming the holder, if another
    photocull process has it for longer than :data:`WAIT_S`), and check its journal can be
    used (exit 2 when it is a folder, link or pipe: every write and undo goes through it)."""
    try:
        return ctx.with_resource(hold(shoot, command, wait=WAIT_S, on_notice=tell))
    except SessionError as exc:
        fail(str(exc), exc.exit_code)
