"""Run the stages in order: scan -> look up -> analyse (decode, hash, measure, embed) -> group
-> score -> pick -> write -> transfer.

The only package that knows the order. :func:`run` reads as the stage list; each stage is a
function in :mod:`.stages`; per-item work goes through an :class:`~.executor.Executor`
(:class:`~.executor.LocalExecutor`: a process pool on this machine), and progress through
:class:`~.progress.Progress`. It has no image logic of its own.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from ..records import CullResult, FileError, Writer, iter_ranked
from ..scorers.base import Scorer
from . import stages
from .executor import Cancel, Executor, ItemFailure, LocalExecutor, default_workers
from .options import CullOptions
from .progress import Progress, Silent

__all__ = [
    "Cancel", "CullOptions", "CullResult", "Executor", "ItemFailure", "LocalExecutor", "Progress", "Silent",
    "Writer", "default_workers", "iter_ranked", "run",
]


class _Clock:
    """Seconds per stage, for the report's timings."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - t0


def run(
    root: Path,
    scorer: Scorer,
    opts: CullOptions,
    writer: Writer | None = None,
    progress: Progress | None = None,
    backbone=None,
    journal=None,
    executor: Executor | None = None,
) -> CullResult:
    """Cull one shoot. Per-file problems end up in the result, never as exceptions.

    ``backbone`` (an ``embed.Backbone``) adds image embeddings to grouping and to scorers
    that use them; without one, series come from capture time and hashes alone.
    ``executor``: where decoding runs (default: a :class:`LocalExecutor` of ``opts.workers``).
    """
    progress = progress or Silent()
    clock = _Clock()
    with clock("scan"):
        scanned = stages.scan_files(root, opts)
    errors: list[FileError] = list(scanned.errors)
    executor = executor or LocalExecutor(opts.workers or default_workers())
    try:
        with clock("cache"):
            cache = stages.open_cache(root, opts)
            notes = list(cache.warnings)
            slots = stages.look_up(scanned, cache, executor, scorer, backbone, opts)
        with clock("analyse"):
            stages.analyse(slots, executor, opts, scorer, backbone, progress, errors)
    finally:
        executor.close()
    stages.remember(cache, slots, backbone)
    frames = slots.frames()
    with clock("group"):
        series = stages.group(frames, backbone, opts.group)
    with clock("score"):
        scores = stages.score(frames, series, scorer, opts.faces, progress)
        stages.rate(frames, series, scores, opts.top_k, opts.stars, keep=opts.keep, reject=opts.reject)
    with clock("write"):
        if opts.write and writer is not None:
            stages.write(frames, writer, opts.dry_run, cache, slots, progress)
    cache.close()
    result = CullResult(root, frames, series, errors, scanned.warnings, scorer.name, clock.timings,
                        len(slots.fresh), notes)
    if journal is not None and (opts.copy_picks or opts.move_rejects):
        with clock("transfer"):
            result.transfers = stages.transfer(frames, opts, journal)
    return result

