"""The options of one cull (what ``pipeline.run`` needs) and the engines it can run on.

Plain values, importing only the stages' own option types, so the settings (which derive a
CullOptions from the CLI and ``photocull.toml``) sit above the pipeline, never beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..analyse import AnalyseOptions
from ..capture_time import ClockOffset
from ..group import GroupOptions
from ..pick import StarMapping

__all__ = ["CullOptions", "ENGINES"]

ENGINES = ("local", "ray")  # where per-file work runs: this machine's processes, or a Ray cluster


@dataclass
class CullOptions:
    """What ``pipeline.run`` needs, derived from the settings by :meth:`photocull.settings.Settings.cull_options`."""

    recursive: bool = True
    follow_links: bool = False  # follow links that lead outside the shoot folder
    workers: int | None = None  # decode processes (default: all cores)
    analyse: AnalyseOptions = field(default_factory=AnalyseOptions)
    group: GroupOptions = field(default_factory=GroupOptions)
    top_k: int = 1
    keep: int | None = None  # the N best of each series stay, the rest are rejects
    reject: bool = False  # technically failed frames that are not picks are rejects
    stars: StarMapping = field(default_factory=StarMapping)
    write: bool = True  # False: group/score only
    dry_run: bool = False
    cache: bool = True  # keep what was computed in SHOOT/.photocull/cache.sqlite
    user_cache: bool = False  # ... or in the user's cache folder (read-only shoots, cards)
    working_size: int = 512  # long side of the image kept for embeddings and model scorers
    faces: bool = False  # closed eyes / face out of focus checks (OpenCV)
    copy_picks: Path | None = None  # copy each pick (with RAW companion and sidecars) here
    move_rejects: Path | None = None  # move technically failed frames here (never deleted)
    clock_offsets: tuple[ClockOffset, ...] = ()  # --clock-offset corrections of capture times
