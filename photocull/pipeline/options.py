"""The options of one cull: defined with the settings they come from (``photocull.settings``)."""

from __future__ import annotations

from ..settings import CullOptions

__all__ = ["CullOptions"]
