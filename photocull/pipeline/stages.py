"""One function per stage: scan, look up, analyse (decode + embed), remember, group, score,
pick, write, transfer. Each takes records and returns (or fills in) records; only
:func:`photocull.pipeline.run` knows their order. Per-file problems become FileErrors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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

    def frame_idents(self) -> list[FileIdent | None]:
        """The identity of each of :meth:`frames`, in the same order."""
        return [self.idents[k] for k, fr in enumerate(self.results) if fr is not None]

    def ident_of(self) -> dict[int, FileIdent | None]:
        """id(FrameResult) -> its identity (for the writer's cache relink)."""
        return {id(fr): self.idents[k] for k, fr in enumerate(self.results) if fr is not None}


def scan_files(root: Path, opts: CullOptions) -> tuple[ScanResult, frozenset[Path]]:
    """The shoot's photos, never those in a picks or rejects folder (this run's or earlier ones'),
    except the frames earlier runs moved out (``--move-rejects``): they rejoin their series, so
    a re-run judges each series as the first run did. Returns the scan and those moved frames
    (their photo and companion paths), which this run neither writes nor moves again."""
    from ..metadata.transfer import moved_away, transfer_folders

    scanned = scan(root, recursive=opts.recursive, follow_links=opts.follow_links,
                   exclude=transfer_folders(root, opts.copy_picks, opts.move_rejects))
    away = frozenset(_as_given(p, Path(root)) for p in moved_away(root)) if Path(root).is_dir() else frozenset()
    for folder in sorted({p.parent for p in away}):
        there = scan(folder, recursive=False)
        for f in there.files:
            if f.path in away:
                scanned.files.append(replace(f, companions=tuple(c for c in f.companions if c in away)))
        scanned.errors += [e for e in there.errors if Path(e.path) in away]
        scanned.warnings += [w for w in there.warnings if Path(w.path) in away]
    return scanned, away


def _as_given(path: Path, root: Path) -> Path:
    """``path`` (from the journal, under the resolved shoot) under ``root`` as the user named it,
    like the scanned files' paths (so reports name it relative to the shoot)."""
    try:
        return root / path.relative_to(root.resolve())
    except ValueError:
        return path  # outside the shoot (--move-rejects ~/rejects)


def moved_out(fr: FrameResult, away: frozenset[Path]) -> bool:
    """Whether an earlier run moved this frame out of the shoot (it is left where it is)."""
    return fr.frame.path in away


def open_cache(root: Path, opts: CullOptions) -> Cache:
    """The shoot's cache; for a dry run the user's (a dry run leaves the card untouched)."""
    if not opts.cache:
        return Cache.open(None)
    root = Path(root)
    return Cache.for_shoot(root if root.is_dir() else root.parent, user_cache=opts.user_cache or opts.dry_run)


def worker_modules(opts: CullOptions) -> tuple[str, ...]:
    """Modules the decode workers should import once, before they fork (OpenCV for faces)."""
    return ("cv2", "photocull.faces_loaded") if opts.faces else ()


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
                                   companions=f.companions, faces=opts.faces, thumb=opts.analyse.thumb)
        # A scorer that keeps its scores (cache_key) gets working images later, and only for
        # the series whose scores are not in the cache (see score()).
        wants_image = scorer.needs_images and scorer.cache_key is None
        if hit is None or wants_image or (model_key and ident not in cached_emb):
            slots.todo.append(k)
            continue
        frame, analysis = hit
        analysis.embedding = cached_emb.get(ident)
        slots.results[k] = FrameResult(frame=frame, analysis=analysis)
    return slots


DECODE_BATCH_BYTES = 8 << 20  # a unit of decode work is about this much file data ...
DECODE_BATCH_MAX = 16  # ... and at most this many files


def decode_batch_size(files: Sequence[FoundFile]) -> int:
    """Files per unit of work sent to a decode worker: one 24 MP JPEG, or up to 16 small files.

    Why by size: a unit's files are decoded by one worker, so at the end of a run the other
    workers wait for the last unit. Twelve 24 MP frames are over a second of that wait (2 cores,
    200 frames: idle CPU 0.8-1.0 core-s with units of 12, 0.4 with units of 1), where the
    cost of sending a unit (~0.2 ms) matters only for small files.
    """
    if not files:
        return 1
    mean = sum(f.size for f in files) / len(files)
    return max(1, min(DECODE_BATCH_MAX, int(DECODE_BATCH_BYTES // max(mean, 1.0))))


def analyse(slots: Slots, executor: Executor, opts: CullOptions, scorer: Scorer, backbone,
            progress: Progress, errors: list[FileError]) -> None:
    """Decode, hash and measure what the cache did not know, embedding as batches fill.

    The model embeds one batch while the executor decodes the next.
    """
    keep = opts.working_size if (backbone is not None or scorer.needs_images) else 0
    analyse_opts = replace(opts.analyse, keep_image=keep, faces=opts.faces)
    files = [slots.files[k] for k in slots.todo]
    bar = progress.stage("Decoding", len(files))
    # A cluster with GPUs embeds on its own actors (pipeline/ray_executor.py); else the driver does.
    gpu = executor.gpu_embedding(backbone, scorer.needs_images)
    batch = decode_batch_size(files)
    outcomes = (executor.map_embedded(analyse_file, files, analyse_opts, gpu, progress=bar) if gpu is not None
                else executor.map(analyse_file, files, analyse_opts, progress=bar, batch_size=batch))

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

    if backbone is None or gpu is not None:
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
    # The width comes from the vectors themselves: a backbone not loaded (every embedding
    # came from the cache) stays unloaded.
    dim = next((len(a.embedding) for a in analyses if a.embedding is not None), None)
    if backbone is not None and dim is not None:
        embeddings = np.zeros((len(frames), dim), dtype=np.float32)
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
          progress: Progress, cache: Cache | None = None, idents: Sequence[FileIdent | None] | None = None,
          opts: CullOptions | None = None) -> list[FrameScore]:
    """Every frame's score (face flags judged against series mates when asked).

    A scorer with a ``cache_key`` has its scores kept per series: a series whose members (by
    content, names and order, :func:`_series_key`) were scored before with the same key is read
    back, so a warm run never calls the scorer nor loads its model. The other series are
    scored, their frames' working images decoded first where the cache had none.
    """
    if not frames:
        return []
    analyses = [fr.analysis for fr in frames]
    key = scorer.cache_key if cache is not None and idents is not None else None
    out: list[FrameScore | None] = [None] * len(frames)
    todo = list(series)
    if key:
        todo = []
        for s in series:
            hit = _cached_series_scores(cache, key, s, idents, frames)
            if hit is None:
                todo.append(s)
            else:
                for i, fs in zip(s.members, hit):
                    out[i] = fs
    if todo:
        members = [i for s in todo for i in s.members]
        if scorer.needs_images:
            _ensure_images(frames, members, opts or CullOptions())
        advance = progress.stage("Scoring", len(members)) if scorer.needs_images else None
        extra = {}
        if scorer.needs_sources:
            extra["sources"] = [(fr.frame.path, fr.frame.fmt) for fr in frames]
        fresh = scorer.score(todo, analyses, progress=advance, **extra)
        for i in members:
            out[i] = fresh[i]
        if key:
            for s in todo:
                ids = _series_idents(s, idents)
                if ids is not None:
                    cache.store_scores(zip(ids, (out[i] for i in s.members)), _series_key(key, s, ids, frames))
    scores = [fs if fs is not None else FrameScore(0.0, problems=["not scored"]) for fs in out]
    if faces:
        scores = with_face_flags(series, analyses, scores, [fr.frame for fr in frames])
    return scores


def _series_idents(s: Series, idents: Sequence[FileIdent | None]) -> list[FileIdent] | None:
    """The members' identities, or None when one is unknown or two share content (their
    scores could differ but would be stored under one content hash)."""
    ids = [idents[i] for i in s.members]
    if any(i is None for i in ids) or len({i.content_hash for i in ids}) != len(ids):
        return None
    return ids


def _series_key(key: str, s: Series, ids: Sequence[FileIdent], frames: Sequence[FrameResult]) -> str:
    """Scores of a series are valid for these members, in this order, with these names, under
    this scorer key: the members' folder and file names are what FGAesQ seeds its pairs from
    (:func:`photocull.model.official.series_naming`), never the series' place in the run, so
    a burst culled alone or within its parent folder reads the same entries, and a reordered,
    renamed or changed series misses."""
    import hashlib

    names = (f"{_folder_name(frames[i].frame.path)}/{frames[i].frame.path.name}" for i in s.members)
    desc = "\n".join(f"{n}|{i.content_hash}" for n, i in zip(names, ids))
    return f"{key}|series:{hashlib.sha256(desc.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}"


def _folder_name(path: Path) -> str:
    """The name of the folder holding ``path`` (resolved: a relative path still has one)."""
    try:
        return path.resolve().parent.name
    except (OSError, RuntimeError):
        return path.parent.name


def _cached_series_scores(cache: Cache, key: str, s: Series, idents, frames) -> list[FrameScore] | None:
    ids = _series_idents(s, idents)
    if ids is None:
        return None
    hit = cache.load_scores(ids, _series_key(key, s, ids, frames))
    if len(hit) != len(ids):
        return None
    return [hit[i] for i in ids]


def _ensure_images(frames: Sequence[FrameResult], members: Sequence[int], opts: CullOptions) -> None:
    """Working images for frames the cache answered without one (their series must be scored)."""
    from ..analyse import working_image
    from ..decode import decode

    for i in members:
        fr = frames[i]
        if fr.analysis.image is not None:
            continue
        try:
            d = decode(fr.frame.path, fr.frame.fmt, decode_size=opts.analyse.decode_size,
                       max_pixels=opts.analyse.max_pixels)
        except Exception as exc:  # noqa: BLE001 - read fine before; now it does not: that frame's error
            fr.errors.append(FileError(fr.frame.path, "score", "could not be read again for scoring", repr(exc)))
            continue
        fr.analysis.image = working_image(d.image, opts.working_size)


def rate(frames: Sequence[FrameResult], series: list[Series], scores: list[FrameScore], top_k: int,
         stars: StarMapping, *, keep: int | None = None, reject: bool = False) -> list[Rating]:
    """Picks, stars and rejects; working images are dropped (no later stage needs them)."""
    ratings = pick(series, scores, top_k=top_k, mapping=stars, keep=keep, reject_failures=reject)
    for fr, sc, rt in zip(frames, scores, ratings):
        fr.score, fr.rating = sc, rt
        fr.analysis.image = fr.analysis.face_crops = None
    return ratings


def with_face_flags(series: list[Series], analyses: list[Analysis], scores: list, frames: Sequence | None = None) -> list:
    """Closed eyes and faces out of focus, judged against series mates, lower a frame's rank.

    Faces were found while decoding; eyes are judged here, from the crops the worker kept,
    and only on faces a series mate can be compared with (``face_flags_for_series``). The
    judged reports replace ``analyses[i].faces`` (so the cache and the reports keep the
    verdicts) and the crops are dropped. A cached frame whose faces were never judged (it
    had no mate then) is decoded again for its crops when it now has one (``frames``). Noisy frames are left out of the comparison:
    noise reads as detail to any focus measure, so a noisy mate would make every clean
    face look soft.
    """
    from ..faces import apply_face_flags, face_flags_for_series

    scores = list(scores)
    for s in series:
        reports = [None if NOISY in scores[i].problems else analyses[i].faces for i in s.members]
        load = None
        if frames is not None:
            def load(k: int, members=s.members):
                return _face_crops_from_file(frames[members[k]], analyses[members[k]].faces)
        judged, flags = face_flags_for_series(reports, [analyses[i].face_crops for i in s.members], load)
        for i, rep in zip(s.members, judged):
            if rep is not None:
                analyses[i].faces = rep
        for idx, fs in zip(s.members, apply_face_flags([scores[i] for i in s.members], flags)):
            scores[idx] = fs
    for a in analyses:
        a.face_crops = None
    return scores


def _face_crops_from_file(frame, report):
    """Face crops of a frame decoded again (as its analysis was: same decode size), or None."""
    from ..decode import decode
    from ..faces import face_crops

    try:
        img = decode(frame.path, frame.fmt).image
        return face_crops(np.asarray(img), report) if img.size == tuple(report.size) else None
    except Exception:  # noqa: BLE001 - a face check never costs the photo
        return None


def face_reports(slots: Slots) -> dict[int, object]:
    """Each slot's face report object before scoring (see :func:`remember_faces`)."""
    return {k: fr.analysis.faces for k, fr in enumerate(slots.results) if fr is not None and fr.analysis is not None}


def remember_faces(cache: Cache, slots: Slots, before: dict[int, object]) -> None:
    """Store again the analyses whose eyes were judged after grouping (``before``: the
    reports as they were before scoring; a judged report is a new object).

    Why: analyses are stored before grouping (a crash in scoring keeps the decodes), when
    no eye is judged yet; without this a warm run would have no eye verdicts to flag with.
    """
    judged = []
    for k, fr in enumerate(slots.results):
        ident = slots.idents[k]
        if fr is None or fr.analysis is None or ident is None or fr.analysis.faces is None:
            continue
        if fr.analysis.faces is not before.get(k):
            judged.append((ident, cache_entry(fr.frame, fr.analysis)))
    if judged:
        cache.put_analyses(judged)


def write(frames: Sequence[FrameResult], writer: Writer, dry_run: bool, cache: Cache, slots: Slots,
          progress: Progress, away: frozenset[Path] = frozenset()) -> None:
    """Each frame's rating into its file; a skipped write is that frame's error. A frame an
    earlier run moved out (``away``) keeps what that run wrote (it may lie outside the shoot)."""
    ident_of = slots.ident_of()
    advance = progress.stage("Writing ratings" if not dry_run else "Checking (dry run)", len(frames))
    for fr in frames:
        if moved_out(fr, away):
            fr.write = WriteOutcome(fr.frame.path, "unchanged", "moved out by an earlier run; left as it is")
            advance(1)
            continue
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


def transfer(frames: Sequence[FrameResult], opts: CullOptions, journal,
             away: frozenset[Path] = frozenset()) -> list[WriteOutcome]:
    """Copy picks and move rejects after the ratings are written (so copies carry them). A
    frame an earlier run moved out stays where it is (never moved twice, never copied from there)."""
    from ..metadata.transfer import transfer as transfer_frames

    outcomes: list[WriteOutcome] = []
    here = [fr for fr in frames if fr.rating and not moved_out(fr, away)]
    if opts.copy_picks:
        picks = [(fr.frame.path, fr.frame.companions) for fr in here if fr.rating.is_pick]
        outcomes += transfer_frames(picks, Path(opts.copy_picks), move=False, journal=journal, dry_run=opts.dry_run)
    if opts.move_rejects:
        rejects = [(fr.frame.path, fr.frame.companions) for fr in here if fr.rating.rejected]
        outcomes += transfer_frames(rejects, Path(opts.move_rejects), move=True, journal=journal, dry_run=opts.dry_run)
    return outcomes
