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

from ..capture_time import apply_clock_offsets
from ..install import install_command
from ..records import CullResult, FileError, Writer, iter_ranked
from ..scorers.base import Scorer
from . import stages
from .executor import Cancel, EngineUnavailable, Executor, ItemFailure, LocalExecutor, default_workers
from .options import ENGINES, CullOptions
from .progress import Progress, Silent

__all__ = [
    "Cancel", "CullOptions", "CullResult", "ENGINES", "EngineUnavailable", "Executor", "Interrupted", "ItemFailure",
    "LocalExecutor", "Progress", "Silent", "Writer", "create_executor", "default_workers", "iter_ranked", "run",
]

RAY_INSTALL_HINT = "the ray engine needs Ray; install it with: " + install_command("ray")


def create_executor(engine: str = "local", workers: int | None = None, address: str | None = None) -> Executor:
    """The executor for ``--engine``: ``local`` (a process pool of ``workers``) or ``ray``
    (Ray Data tasks on the cluster at ``address``, or on a Ray started here)."""
    if engine == "local":
        return LocalExecutor(workers or default_workers())
    if engine == "ray":
        try:
            from .ray_executor import RayExecutor
        except ImportError:
            raise EngineUnavailable(RAY_INSTALL_HINT) from None
        return RayExecutor(address, workers)
    raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run, after what was analysed so far went into the cache."""

    def __init__(self, kept: int, total: int, cached: bool):
        super().__init__(f"interrupted after {kept} of {total} files")
        self.kept, self.total, self.cached = kept, total, cached


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

    ``backbone`` (a :class:`photocull.backbones.clip.Backbone`, or its ``LazyBackbone``) adds image embeddings to grouping and to scorers
    that use them; without one, series come from capture time and hashes alone.
    ``executor``: where decoding runs (default: a :class:`LocalExecutor` of ``opts.workers``).
    """
    progress = progress or Silent()
    clock = _Clock()
    with clock("scan"):
        scanned, away = stages.scan_files(root, opts)
    errors: list[FileError] = list(scanned.errors)
    executor = executor or LocalExecutor(opts.workers or default_workers(), preload=stages.worker_modules(opts))
    slots: stages.Slots | None = None
    try:
        with clock("cache"):
            cache = stages.open_cache(root, opts)
            notes = list(cache.warnings)
            slots = stages.look_up(scanned, cache, executor, scorer, backbone, opts)
        with clock("analyse"):
            stages.analyse(slots, executor, opts, scorer, backbone, progress, errors)
    except KeyboardInterrupt:
        executor.close()
        if slots is None:
            raise
        kept = cache.enabled
        stages.remember(cache, slots, backbone)  # Ctrl-C keeps what was done: the next run resumes
        cache.close()
        raise Interrupted(len(slots.fresh), len(slots.todo), kept) from None
    finally:
        executor.close()
    stages.remember(cache, slots, backbone)
    frames = slots.frames()
    apply_clock_offsets((fr.frame for fr in frames), opts.clock_offsets)  # after the cache: it keeps the camera's reading
    with clock("group"):
        series = stages.group(frames, backbone, opts.group)
    faces_before = stages.face_reports(slots) if opts.faces else {}
    with clock("score"):
        scores = stages.score(frames, series, scorer, opts.faces, progress, cache, slots.frame_idents(), opts)
        stages.rate(frames, series, scores, opts.top_k, opts.stars, keep=opts.keep, reject=opts.reject)
    if opts.faces:
        stages.remember_faces(cache, slots, faces_before)
    with clock("write"):
        if opts.write and writer is not None:
            stages.write(frames, writer, opts.dry_run, cache, slots, progress, away)
    cache.close()
    result = CullResult(root, frames, series, errors, scanned.warnings, scorer.name, clock.timings,
                        len(slots.fresh), notes, skipped=scanned.skipped)
    if journal is not None and (opts.copy_picks or opts.move_rejects):
        with clock("transfer"):
            result.transfers = stages.transfer(frames, opts, journal, away)
    return result

