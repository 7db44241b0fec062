"""The options of one cull (the lead points this at ``photocull.settings`` at merge)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..analyse import AnalyseOptions
from ..group import GroupOptions
from ..pick import StarMapping


@dataclass
class CullOptions:
    recursive: bool = True
    workers: int | None = None  # decode processes (default: all cores)
    analyse: AnalyseOptions = field(default_factory=AnalyseOptions)
    group: GroupOptions = field(default_factory=GroupOptions)
    top_k: int = 1
    stars: StarMapping = field(default_factory=StarMapping)
    write: bool = True  # False: group/score only
    dry_run: bool = False
    cache: bool = True  # keep what was computed in SHOOT/.photocull/cache.sqlite
    user_cache: bool = False  # ... or in the user's cache folder (read-only shoots, cards)
    working_size: int = 512  # long side of the image kept for embeddings and model scorers
    faces: bool = False  # closed eyes / face out of focus checks (OpenCV)
    copy_picks: Path | None = None  # copy each pick (with RAW companion and sidecars) here
    move_rejects: Path | None = None  # move technically failed frames here (never deleted)
