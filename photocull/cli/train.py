"""``photocull train`` and ``photocull eval`` (their bodies live in photocull.train.cli: torch is imported lazily)."""

from __future__ import annotations

from ..train.cli import eval_command, train_command
from .app import app

app.command("train")(train_command)
app.command("eval")(eval_command)
