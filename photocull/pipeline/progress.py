"""How the pipeline tells a user interface what it is doing (the CLI draws rich bars)."""

from __future__ import annotations

from typing import Callable, Protocol

Advance = Callable[[int], None]  # called with the number of items just finished


class Progress(Protocol):
    """What the pipeline tells the user interface: a named stage of ``total`` items."""

    def stage(self, name: str, total: int | None) -> Advance: ...


class Silent:
    """No user interface: every stage's advance does nothing."""

    def stage(self, name: str, total: int | None) -> Advance:
        return lambda n=1: None
