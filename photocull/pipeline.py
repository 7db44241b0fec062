"""Run the stages in order: scan -> analyse (decode, hash, measure) -> group -> score -> pick -> write.

The only module that knows the order. It owns parallelism (decode in worker
processes, so it is not bound by the GIL) and progress reporting; it has no image
logic of its own.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

from .analyse import AnalyseOptions, analyse_file
from .group import GroupOptions, group_frames
from .pick import StarMapping, pick
from .records import FileError, FrameResult, Series, WriteOutcome
from .scan import FoundFile, scan
from .scorers.base import Scorer

PARALLEL_MIN_FILES = 12  # below this, starting worker processes costs more than it saves


class Progress(Protocol):
    """What the pipeline tells the user interface (the CLI draws rich progress bars)."""

    def stage(self, name: str, total: int | None) -> Callable[[int], None]: ...


class _Silent:
    def stage(self, name: str, total: int | None) -> Callable[[int], None]:
        return lambda n=1: None


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


@dataclass
class CullResult:
    root: Path
    frames: list[FrameResult]
    series: list[Series]
    errors: list[FileError]  # files that never became frames (unreadable, not images, ...)
    warnings: list[FileError]
    scorer: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> list[FileError]:
        return self.errors + [e for fr in self.frames for e in fr.errors]


# A writer takes (frame result, dry_run) and returns what happened to the file.
Writer = Callable[[FrameResult, bool], WriteOutcome]


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def analyse_all(files: list[FoundFile], opts: AnalyseOptions, workers: int) -> Iterator:
    """Analyse files in order, in worker processes when there are enough of them."""
    if workers <= 1 or len(files) < PARALLEL_MIN_FILES:
        for f in files:
            yield analyse_file(f, opts)
        return
    ctx = multiprocessing.get_context("spawn")  # fork after torch/threads is unsafe
    chunk = max(1, min(16, len(files) // (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        yield from pool.map(analyse_file, files, [opts] * len(files), chunksize=chunk)


def run(
    root: Path,
    scorer: Scorer,
    opts: CullOptions,
    writer: Writer | None = None,
    progress: Progress | None = None,
) -> CullResult:
    """Cull one shoot. Per-file problems end up in the result, never as exceptions."""
    progress = progress or _Silent()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    scanned = scan(root, recursive=opts.recursive)
    timings["scan"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    analyse_opts = opts.analyse
    frames: list[FrameResult] = []
    errors = list(scanned.errors)
    advance = progress.stage("Decoding", len(scanned.files))
    workers = opts.workers or default_workers()
    for outcome in analyse_all(scanned.files, analyse_opts, workers):
        if isinstance(outcome, FileError):
            errors.append(outcome)
        else:
            frame, analysis = outcome
            frames.append(FrameResult(frame=frame, analysis=analysis))
        advance(1)
    timings["analyse"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    analyses = [fr.analysis for fr in frames]
    series = group_frames(
        [fr.frame.capture_time for fr in frames],
        [a.phash for a in analyses],
        [a.dhash for a in analyses],
        None,
        opts.group,
    )
    for s in series:
        for i in s.members:
            frames[i].series_id = s.id
    timings["group"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    scores = scorer.score(series, analyses) if frames else []
    ratings = pick(series, scores, top_k=opts.top_k, mapping=opts.stars)
    for fr, sc, rt in zip(frames, scores, ratings):
        fr.score, fr.rating = sc, rt
        if fr.analysis is not None:
            fr.analysis.image = None  # working images are not needed past scoring
    timings["score"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if opts.write and writer is not None:
        advance = progress.stage("Writing ratings" if not opts.dry_run else "Checking (dry run)", len(frames))
        for fr in frames:
            fr.write = writer(fr, opts.dry_run)
            if fr.write.status == "skipped":
                fr.errors.append(FileError(fr.frame.path, "write", fr.write.message))
            advance(1)
    timings["write"] = time.perf_counter() - t0
    return CullResult(root, frames, series, errors, scanned.warnings, scorer.name, timings)


def iter_ranked(result: CullResult) -> Iterable[tuple[Series, list[FrameResult]]]:
    """Series with their frames best first (for reports)."""
    for s in result.series:
        members = [result.frames[i] for i in s.members]
        members.sort(key=lambda fr: fr.rating.rank if fr.rating else 1_000_000)
        yield s, members
