"""Run the stages in order: scan -> analyse (decode, hash, measure) -> group -> score -> pick -> write.

The only module that knows the order. It owns parallelism (decode in worker
processes, so it is not bound by the GIL) and progress reporting; it has no image
logic of its own.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from .analyse import AnalyseOptions, analyse_file
from .embed import embed_stream
from .group import GroupOptions, group_frames
from .pick import StarMapping, pick
from .records import NOISY, Analysis, FileError, Frame, FrameResult, Series, TechnicalMetrics, WriteOutcome
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
    cache: bool = True  # keep what was computed in SHOOT/.photocull/cache.sqlite
    user_cache: bool = False  # ... or in the user's cache folder (read-only shoots, cards)
    working_size: int = 512  # long side of the image kept for embeddings and model scorers
    faces: bool = False  # closed eyes / face out of focus checks (OpenCV)
    copy_picks: Path | None = None  # copy each pick (with RAW companion and sidecars) here
    move_rejects: Path | None = None  # move technically failed frames here (never deleted)


@dataclass
class CullResult:
    root: Path
    frames: list[FrameResult]
    series: list[Series]
    errors: list[FileError]  # files that never became frames (unreadable, not images, ...)
    warnings: list[FileError]
    scorer: str
    timings: dict[str, float] = field(default_factory=dict)
    decoded: int = 0  # files actually decoded this run (0 on a fully cached re-run)
    notes: list[str] = field(default_factory=list)  # run-level messages (cache fallbacks, ...)
    transfers: list[WriteOutcome] = field(default_factory=list)  # --copy-picks / --move-rejects

    @property
    def failed(self) -> list[FileError]:
        moved = [FileError(o.path, "move", o.message) for o in self.transfers if o.status == "skipped"]
        return self.errors + [e for fr in self.frames for e in fr.errors] + moved


# A writer takes (frame result, dry_run) and returns what happened to the file.
Writer = Callable[[FrameResult, bool], WriteOutcome]


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _mp_context():
    """forkserver where available (workers fork from a clean server that has imported the
    decode stack once), else spawn; plain fork is unsafe once torch or threads are running."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["photocull.analyse"])
        return ctx
    return multiprocessing.get_context("spawn")


class DecodePool:
    """Worker processes for :func:`analyse_file` (decode is CPU-bound: not for the GIL).

    Started as soon as the run knows there is decoding to do, so that the workers' start-up
    overlaps the cache look-ups; small jobs run in-process, where start-up would cost more.
    """

    def __init__(self, workers: int, expected: int):
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        if workers > 1 and expected >= PARALLEL_MIN_FILES:
            self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context())
            for _ in range(workers):
                self.pool.submit(int)  # start every worker now

    def map(self, files: list[FoundFile], opts: AnalyseOptions) -> Iterator:
        """Results in the order of ``files``."""
        if self.pool is None or len(files) < PARALLEL_MIN_FILES:
            return (analyse_file(f, opts) for f in files)
        chunk = max(1, min(16, len(files) // (self.workers * 8)))
        return self.pool.map(analyse_file, files, [opts] * len(files), chunksize=chunk)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _from_cache(found: FoundFile, data: dict, faces: bool) -> tuple[Frame, Analysis] | None:
    if faces and "faces" not in data:
        return None  # face checks were not run on this file yet
    try:
        metrics = TechnicalMetrics(**data["metrics"])
        frame = Frame(
            path=found.path,
            fmt=found.fmt,
            size=found.size,
            mtime_ns=found.mtime_ns,
            capture_time=float(data["capture_time"]),
            time_source=data.get("time_source", "exif"),
            orientation=int(data.get("orientation", 1)),
            camera=data.get("camera"),
            companions=found.companions,
        )
        analysis = Analysis(int(data["width"]), int(data["height"]), data["phash"], data["dhash"], metrics)
        if faces:
            from .faces import report_from_dict

            analysis.faces = report_from_dict(data["faces"])
        return frame, analysis
    except (KeyError, TypeError, ValueError):
        return None  # an entry from another version: analyse again


def _cache_record(frame: Frame, analysis: Analysis) -> dict:
    record = {
        "capture_time": frame.capture_time,
        "time_source": frame.time_source,
        "orientation": frame.orientation,
        "camera": frame.camera,
        "width": analysis.width,
        "height": analysis.height,
        "phash": analysis.phash,
        "dhash": analysis.dhash,
        "metrics": analysis.metrics,
    }
    if analysis.faces is not None:
        record["faces"] = dataclasses.asdict(analysis.faces)
    return record


def run(
    root: Path,
    scorer: Scorer,
    opts: CullOptions,
    writer: Writer | None = None,
    progress: Progress | None = None,
    backbone=None,
    journal=None,
) -> CullResult:
    """Cull one shoot. Per-file problems end up in the result, never as exceptions.

    ``backbone`` (an ``embed.Backbone``) adds image embeddings to grouping and to scorers
    that use them; without one, series come from capture time and hashes alone.
    """
    from .cache import Cache

    progress = progress or _Silent()
    timings: dict[str, float] = {}
    notes: list[str] = []
    t0 = time.perf_counter()
    scanned = scan(root, recursive=opts.recursive)
    timings["scan"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cache = Cache.for_shoot(root if Path(root).is_dir() else Path(root).parent, user_cache=opts.user_cache) if opts.cache else Cache.open(None)
    notes.extend(cache.warnings)
    # Fast path first (path + size + mtime): it tells how much decoding is ahead, so the
    # decode workers can start while the unknown files' content hashes are computed.
    idents = [cache.lookup(cache.key_for(f.path), f.size, f.mtime_ns) for f in scanned.files]
    pool = DecodePool(opts.workers or default_workers(), sum(i is None for i in idents))
    for k, f in enumerate(scanned.files):
        if idents[k] is None:
            try:
                idents[k] = cache.identify(f.path)
            except OSError:
                pass
    known = [i for i in idents if i is not None]
    cached = cache.get_analyses(known)
    model_key = backbone.key if backbone is not None else None
    cached_emb = cache.get_embeddings(known, model_key) if model_key else {}
    need_images = scorer.needs_images
    slots: list[FrameResult | None] = [None] * len(scanned.files)
    todo: list[int] = []
    for k, (f, ident) in enumerate(zip(scanned.files, idents)):
        hit = _from_cache(f, cached[ident], opts.faces) if ident in cached else None
        if hit is None or need_images or (model_key and ident not in cached_emb):
            todo.append(k)
            continue
        frame, analysis = hit
        analysis.embedding = cached_emb.get(ident)
        slots[k] = FrameResult(frame=frame, analysis=analysis)
    timings["cache"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    errors = list(scanned.errors)
    keep = opts.working_size if (backbone is not None or need_images) else 0
    analyse_opts = AnalyseOptions(opts.analyse.decode_size, opts.analyse.max_pixels, keep, opts.faces)
    advance = progress.stage("Decoding", len(todo))
    fresh: list[FrameResult] = []
    files = [scanned.files[k] for k in todo]

    def decoded() -> Iterator[tuple[FrameResult, np.ndarray | None]]:
        for k, outcome in zip(todo, pool.map(files, analyse_opts)):
            advance(1)
            if isinstance(outcome, FileError):
                errors.append(outcome)
                continue
            fr = FrameResult(frame=outcome[0], analysis=outcome[1])
            slots[k] = fr
            fresh.append(fr)
            yield fr, fr.analysis.image

    try:
        if backbone is None:
            for _ in decoded():
                pass
        else:  # the model embeds one batch while the pool decodes the next
            for batch, vectors in embed_stream(backbone, decoded()):
                for fr, v in zip(batch, vectors):
                    fr.analysis.embedding = v
    finally:
        pool.close()
    timings["analyse"] = time.perf_counter() - t0
    frames = [fr for fr in slots if fr is not None]
    ident_of = {id(fr): idents[k] for k, fr in enumerate(slots) if fr is not None}
    cache.put_analyses(
        (ident_of[id(fr)], _cache_record(fr.frame, fr.analysis)) for fr in fresh if ident_of[id(fr)] is not None
    )
    if model_key:
        with_emb = [fr for fr in fresh if fr.analysis.embedding is not None and ident_of[id(fr)] is not None]
        if with_emb:
            cache.put_embeddings(
                [ident_of[id(fr)] for fr in with_emb], model_key, np.stack([fr.analysis.embedding for fr in with_emb])
            )

    t0 = time.perf_counter()
    analyses = [fr.analysis for fr in frames]
    embeddings = None
    if backbone is not None and frames:
        embeddings = np.zeros((len(frames), backbone.dim), dtype=np.float32)
        for row, a in enumerate(analyses):
            if a.embedding is not None:
                embeddings[row] = a.embedding
    series = group_frames(
        [fr.frame.capture_time for fr in frames],
        [a.phash for a in analyses],
        [a.dhash for a in analyses],
        embeddings,
        opts.group,
    )
    for s in series:
        for i in s.members:
            frames[i].series_id = s.id
    timings["group"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    advance = progress.stage("Scoring", len(frames)) if scorer.needs_images else None
    scores = scorer.score(series, analyses, progress=advance) if frames else []
    if opts.faces:
        scores = _with_face_flags(series, analyses, scores)
    ratings = pick(series, scores, top_k=opts.top_k, mapping=opts.stars)
    for fr, sc, rt in zip(frames, scores, ratings):
        fr.score, fr.rating = sc, rt
        fr.analysis.image = None  # working images are not needed past scoring
    timings["score"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if opts.write and writer is not None:
        advance = progress.stage("Writing ratings" if not opts.dry_run else "Checking (dry run)", len(frames))
        for fr in frames:
            fr.write = writer(fr, opts.dry_run)
            if fr.write.status == "skipped":
                fr.errors.append(FileError(fr.frame.path, "write", fr.write.message))
            elif fr.write.status == "written" and ident_of[id(fr)] is not None:
                # New bytes, same pixels: carry the cache entries over to the new identity.
                try:
                    cache.relink(ident_of[id(fr)], cache.identify(fr.frame.path))
                except OSError:
                    pass
            advance(1)
    timings["write"] = time.perf_counter() - t0
    cache.close()
    result = CullResult(root, frames, series, errors, scanned.warnings, scorer.name, timings, len(fresh), notes)
    if journal is not None and (opts.copy_picks or opts.move_rejects):
        t0 = time.perf_counter()
        result.transfers = transfer_files(frames, opts, journal)
        timings["transfer"] = time.perf_counter() - t0
    return result


def _with_face_flags(series: list[Series], analyses: list[Analysis], scores: list) -> list:
    """Closed eyes and faces out of focus, judged against series mates, lower a frame's rank.

    Noisy frames are left out of the comparison: noise reads as detail to any focus
    measure, so a noisy mate would make every clean face look soft.
    """
    from .faces import apply_face_flags, face_problems

    scores = list(scores)
    for s in series:
        flags = face_problems([None if NOISY in scores[i].problems else analyses[i].faces for i in s.members])
        for idx, fs in zip(s.members, apply_face_flags([scores[i] for i in s.members], flags)):
            scores[idx] = fs
    return scores


def transfer_files(frames: list[FrameResult], opts: CullOptions, journal) -> list[WriteOutcome]:
    """Copy picks and move rejects after the ratings are written (so copies carry them)."""
    from .metadata.transfer import transfer

    outcomes: list[WriteOutcome] = []
    if opts.copy_picks:
        picks = [(fr.frame.path, fr.frame.companions) for fr in frames if fr.rating and fr.rating.is_pick]
        outcomes += transfer(picks, Path(opts.copy_picks), move=False, journal=journal, dry_run=opts.dry_run)
    if opts.move_rejects:
        rejects = [(fr.frame.path, fr.frame.companions) for fr in frames if fr.rating and fr.rating.rejected]
        outcomes += transfer(rejects, Path(opts.move_rejects), move=True, journal=journal, dry_run=opts.dry_run)
    return outcomes


def iter_ranked(result: CullResult) -> Iterable[tuple[Series, list[FrameResult]]]:
    """Series with their frames best first (for reports)."""
    for s in result.series:
        members = [result.frames[i] for i in s.members]
        members.sort(key=lambda fr: fr.rating.rank if fr.rating else 1_000_000)
        yield s, members
