"""One function per stage: scan, look up, analyse (decode + embed), remember, group, score,
pick, write, transfer. Each takes records and returns (or fills in) records; only
:func:`photocull.pipeline.run` knows their order. Per-file problems become FileErrors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..analyse import AnalyseOptions, analyse_file
from ..cache import Cache, FileIdent
from ..cache.codec import cache_entry, from_cache_entry
from ..backbones.stream import embed_stream
from ..group import GroupOptions, group_frames
from ..pick import StarMapping, pick
from ..records import NOISY, Analysis, FileError, FrameResult, FrameScore, Rating, Series, WriteOutcome, Writer
from ..scan import FoundFile, ScanResult, scan
from ..scorers.base import Scorer
from .executor import Executor, ItemFailure
from .options import CullOptions
from .progress import Progress

@dataclass
class Slots:
    """The scanned files, each with its cache identity and (once known) its FrameResult."""

    files: list[FoundFile]
    idents: list[FileIdent | None]
    results: list[FrameResult | None]
    todo: list[int] = field(default_factory=list)  # indices still to decode
    fresh: list[int] = field(default_factory=list)  # indices decoded this run

    def frames(self) -> list[FrameResult]:
        return [fr for fr in self.results if fr is not None]

    def ident_of(self) -> dict[int, FileIdent | None]:
        """id(FrameResult) -> its identity (for the writer's cache relink)."""
        return {id(fr): self.idents[k] for k, fr in enumerate(self.results) if fr is not None}


def scan_files(root: Path, opts: CullOptions) -> ScanResult:
    """The shoot's photos, never those in a picks or rejects folder (this run's or earlier ones')."""
    from ..metadata.transfer import transfer_folders

    return scan(root, recursive=opts.recursive, exclude=transfer_folders(root, opts.copy_picks, opts.move_rejects))


def open_cache(root: Path, opts: CullOptions) -> Cache:
    if not opts.cache:
        return Cache.open(None)
    root = Path(root)
    return Cache.for_shoot(root if root.is_dir() else root.parent, user_cache=opts.user_cache)


def look_up(scanned: ScanResult, cache: Cache, executor: Executor, scorer: Scorer, backbone,
            opts: CullOptions) -> Slots:
    """Frames the cache already knows; the rest are left to decode.

    The fast path (path + size + mtime) runs first: it tells how much decoding is ahead, so
    the executor's workers start while the unknown files' content hashes are computed.
    """
    files = scanned.files
    idents = [cache.lookup(cache.key_for(f.path), f.size, f.mtime_ns) for f in files]
    executor.start(sum(i is None for i in idents))
    for k, f in enumerate(files):
        if idents[k] is None:
            try:
                idents[k] = cache.identify(f.path)
            except OSError:
                pass
    known = [i for i in idents if i is not None]
    cached = cache.get_analyses(known)
    model_key = backbone.key if backbone is not None else None
    cached_emb = cache.get_embeddings(known, model_key) if model_key else {}
    slots = Slots(files, idents, [None] * len(files))
    for k, (f, ident) in enumerate(zip(files, idents)):
        hit = None
        if ident in cached:
            hit = from_cache_entry(cached[ident], path=f.path, fmt=f.fmt, size=f.size, mtime_ns=f.mtime_ns,
                                   companions=f.companions, faces=opts.faces)
        if hit is None or scorer.needs_images or (model_key and ident not in cached_emb):
            slots.todo.append(k)
            continue
        frame, analysis = hit
        analysis.embedding = cached_emb.get(ident)
        slots.results[k] = FrameResult(frame=frame, analysis=analysis)
    return slots


def analyse(slots: Slots, executor: Executor, opts: CullOptions, scorer: Scorer, backbone,
            progress: Progress, errors: list[FileError]) -> None:
    """Decode, hash and measure what the cache did not know, embedding as batches fill.

    The model embeds one batch while the executor decodes the next.
    """
    keep = opts.working_size if (backbone is not None or scorer.needs_images) else 0
    analyse_opts = AnalyseOptions(opts.analyse.decode_size, opts.analyse.max_pixels, keep, opts.faces)
    files = [slots.files[k] for k in slots.todo]
    outcomes = executor.map(analyse_file, files, analyse_opts, progress=progress.stage("Decoding", len(files)))

    def decoded() -> Iterator[tuple[FrameResult, np.ndarray | None]]:
        for k, outcome in zip(slots.todo, outcomes):
            if isinstance(outcome, ItemFailure):  # a bug in the worker: this file's error only
                outcome = FileError(outcome.item.path, "decode",
                                    "unexpected error while decoding; run with --verbose for details", outcome.error)
            if isinstance(outcome, FileError):
                errors.append(outcome)
                continue
            fr = FrameResult(frame=outcome[0], analysis=outcome[1])
            slots.results[k] = fr
            slots.fresh.append(k)
            yield fr, fr.analysis.image

    if backbone is None:
        for _ in decoded():
            pass
    else:
        for batch, vectors in embed_stream(backbone, decoded()):
            for fr, v in zip(batch, vectors):
                fr.analysis.embedding = v


def remember(cache: Cache, slots: Slots, backbone) -> None:
    """Keep this run's analyses (and embeddings) under each file's content identity."""
    fresh = [(slots.idents[k], slots.results[k]) for k in slots.fresh if slots.idents[k] is not None]
    cache.put_analyses((ident, cache_entry(fr.frame, fr.analysis)) for ident, fr in fresh)
    if backbone is not None:
        with_emb = [(ident, fr) for ident, fr in fresh if fr.analysis.embedding is not None]
        if with_emb:
            cache.put_embeddings([i for i, _ in with_emb], backbone.key,
                                 np.stack([fr.analysis.embedding for _, fr in with_emb]))


def group(frames: Sequence[FrameResult], backbone, opts: GroupOptions) -> list[Series]:
    """Series of near-duplicates; each frame learns its series id."""
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
        opts,
    )
    for s in series:
        for i in s.members:
            frames[i].series_id = s.id
    return series


def score(frames: Sequence[FrameResult], series: list[Series], scorer: Scorer, faces: bool,
          progress: Progress) -> list[FrameScore]:
    """Every frame's score (face flags judged against series mates when asked)."""
    if not frames:
        return []
    analyses = [fr.analysis for fr in frames]
    advance = progress.stage("Scoring", len(frames)) if scorer.needs_images else None
    scores = scorer.score(series, analyses, progress=advance)
    if faces:
        scores = with_face_flags(series, analyses, scores)
    return scores


def rate(frames: Sequence[FrameResult], series: list[Series], scores: list[FrameScore], top_k: int,
         stars: StarMapping, *, keep: int | None = None, reject: bool = False) -> list[Rating]:
    """Picks, stars and rejects; working images are dropped (no later stage needs them)."""
    ratings = pick(series, scores, top_k=top_k, mapping=stars, keep=keep, reject_failures=reject)
    for fr, sc, rt in zip(frames, scores, ratings):
        fr.score, fr.rating = sc, rt
        fr.analysis.image = None
    return ratings


def with_face_flags(series: list[Series], analyses: list[Analysis], scores: list) -> list:
    """Closed eyes and faces out of focus, judged against series mates, lower a frame's rank.

    Noisy frames are left out of the comparison: noise reads as detail to any focus
    measure, so a noisy mate would make every clean face look soft.
    """
    from ..faces import apply_face_flags, face_problems

    scores = list(scores)
    for s in series:
        flags = face_problems([None if NOISY in scores[i].problems else analyses[i].faces for i in s.members])
        for idx, fs in zip(s.members, apply_face_flags([scores[i] for i in s.members], flags)):
            scores[idx] = fs
    return scores


def write(frames: Sequence[FrameResult], writer: Writer, dry_run: bool, cache: Cache, slots: Slots,
          progress: Progress) -> None:
    """Each frame's rating into its file; a skipped write is that frame's error."""
    ident_of = slots.ident_of()
    advance = progress.stage("Writing ratings" if not dry_run else "Checking (dry run)", len(frames))
    for fr in frames:
        fr.write = writer(fr, dry_run)
        if fr.write.status == "skipped":
            fr.errors.append(FileError(fr.frame.path, "write", fr.write.message))
        elif fr.write.status == "written" and ident_of[id(fr)] is not None:
            # New bytes, same pixels: carry the cache entries over to the new identity.
            try:
                cache.relink(ident_of[id(fr)], cache.identify(fr.frame.path))
            except OSError:
                pass
        advance(1)


def transfer(frames: Sequence[FrameResult], opts: CullOptions, journal) -> list[WriteOutcome]:
    """Copy picks and move rejects after the ratings are written (so copies carry them)."""
    from ..metadata.transfer import transfer as transfer_frames

    outcomes: list[WriteOutcome] = []
    if opts.copy_picks:
        picks = [(fr.frame.path, fr.frame.companions) for fr in frames if fr.rating and fr.rating.is_pick]
        outcomes += transfer_frames(picks, Path(opts.copy_picks), move=False, journal=journal, dry_run=opts.dry_run)
    if opts.move_rejects:
        rejects = [(fr.frame.path, fr.frame.companions) for fr in frames if fr.rating and fr.rating.rejected]
        outcomes += transfer_frames(rejects, Path(opts.move_rejects), move=True, journal=journal, dry_run=opts.dry_run)
    return outcomes
