"""Plain dataclasses passed between pipeline stages.

Data flows one way: scan -> decode/analyse -> group -> score -> pick -> write -> report.
Each stage takes these records and returns new ones; none of them holds a file handle
or a model, so they can cross process boundaries and be cached.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterable, Literal

import numpy as np

# Problem flags a frame can carry (shown in the report, lower its rank).
BLURRED = "blurred"
UNDEREXPOSED = "underexposed"
OVEREXPOSED = "overexposed"
NOISY = "noisy"
COMPRESSED = "compressed"  # heavy JPEG compression (now or in the frame's past), beyond its mates'
LOW_CONTRAST = "low contrast"
EYES_CLOSED = "eyes closed"
FACE_BLURRED = "face out of focus"

# The formats a frame can have (what scan's sniffing decides; see inputs).
Format = Literal["jpeg", "png", "tiff", "webp", "heic", "gif", "raw"]
# What a write (or undo, copy, move) did to a file. "kept": the photographer's own rating,
# reject or label was found and left as it is (the message says which: "kept your rating (3★)").
WriteStatus = Literal["written", "unchanged", "dry-run", "skipped", "kept"]

# Problems serious enough that the frame counts as a technical failure (rated lowest).
FAILURES = frozenset({BLURRED, UNDEREXPOSED, OVEREXPOSED})


@dataclass(frozen=True)
class FileError:
    """A per-file problem: reported, never raised past the stage that met it."""

    path: Path
    stage: str  # "scan", "decode", "score", "write", ...
    message: str  # one line a photographer understands: what, and what to do
    detail: str | None = None  # exception text, shown with --verbose


@dataclass
class Frame:
    """One photo found by the scan (a RAW+JPEG pair is one frame)."""

    path: Path
    fmt: Format
    size: int
    mtime_ns: int
    capture_time: float  # seconds since the epoch: the true instant when the file records its UTC offset, else camera local time taken as UTC; plus clock_offset
    time_source: str  # "exif" (the file's metadata) or "file" (its modification time)
    orientation: int = 1  # EXIF orientation 1..8
    camera: str | None = None  # "Make Model"
    companions: tuple[Path, ...] = ()  # other files of the same frame (RAW of a RAW+JPEG pair)
    utc_offset: str | None = None  # "+09:00" when the file records it (OffsetTimeOriginal)
    serial: str | None = None  # the body's serial number, when recorded
    clock_offset: float = 0.0  # seconds --clock-offset added to the camera's reading (capture_time includes it)

    @property
    def name(self) -> str:
        return self.path.name


# Bumped when a measure (scorers.measures) changes meaning: cached measurements of another
# version are measured again (an entry without one is version 1, what every cache held before;
# 2: floor_share; 3: structure).
METRICS_VERSION = 3


@dataclass
class TechnicalMetrics:
    """Weight-free image measurements, computed once from the decoded working image."""

    sharpness: float  # fine-band over coarse-band detail in the most structured tiles (noise, clipping removed)
    sharpness_mean: float  # the same without the weakest-direction penalty (sharpness well below it: shake)
    clipped_highlights: float  # fraction of pixels at or near white
    clipped_shadows: float  # fraction of pixels at or near black
    mean_luma: float  # 0..1
    contrast: float  # RMS contrast of luma, 0..1
    noise: float  # estimated noise sigma in 0..255 units, per pixel of the file (not of the draft decode)
    noise_levels: list[float]  # fine-band grain per luma bin (scorers.measures.NOISE_LEVELS) as a white-noise sigma, shadows first; 0: no estimate
    blockiness: float  # JPEG 8 x 8 grid edges over other edges (1 = none; heavy re-compression >> 1)
    exposure: float  # mean luma in linear light, 0..1 (stops between frames = log2 of the ratio)
    exposure_quantiles: list[float]  # linear-light luma at 5, 10, ... 95 % of the histogram (clipping-proof stops)
    jpeg_step: float  # coarsest JPEG quantisation step of low-frequency luma, 8 x 8 DCT units (q92 ~ 2, q30 ~ 19; 0 = none seen)
    # A small luma copy (scorers.registration.encode_thumb; "": none), for measuring the frame against
    # its registered series mates (scorers.consensus). Kept in the cache, left out of the report.
    thumb: str = ""
    # The noise energy taken out of the fine band, over the coarse band (the scale of ``sharpness``):
    # a sharpness within a tenth of it is the floor's error as much as detail (0: not measured).
    floor_share: float = 0.0
    # Coarse-band (4 x 4 binned) detail energy per pixel in the same tiles, 8-bit units squared:
    # what tells a defocused frame from a sharp one where the fine band is all floor (0: not measured).
    structure: float = 0.0

    def __post_init__(self) -> None:
        # Plain floats, as JSON (cache, report) brings them back; anything else (a cache or saved
        # run planted on a card) is a ValueError here, which its readers turn into a miss or a
        # message, never a TypeError deep in the scoring.
        for f in fields(self):
            if f.type == "float":
                setattr(self, f.name, _number(getattr(self, f.name), f.name))
        self.exposure_quantiles = [_number(v, "exposure_quantiles") for v in self.exposure_quantiles]
        self.noise_levels = [_number(v, "noise_levels") for v in self.noise_levels]
        if not isinstance(self.thumb, str):
            raise ValueError(f"thumb: not a string: {self.thumb!r}")


def _number(v: object, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"{name}: not a number: {v!r}")
    return float(v)


@dataclass
class Analysis:
    """Everything computed from one decode of one frame."""

    width: int  # full-resolution size, after orientation
    height: int
    phash: str  # hex strings, imagehash's own format
    dhash: str
    metrics: TechnicalMetrics
    image: np.ndarray | None = None  # working image (H, W, 3) uint8, oriented; dropped when not needed
    embedding: np.ndarray | None = None  # L2-normalised image embedding (float32), when a backbone ran
    faces: object | None = None  # faces.FaceReport when face checks ran (None: not checked)
    # faces.face_crops of this decode (gray face crops for the eye check after grouping);
    # transient like ``image``: never cached, dropped once scored.
    face_crops: list | None = None


@dataclass
class Series:
    """Near-duplicate frames (a burst, a bracket, re-takes) or a singleton."""

    id: int
    members: list[int]  # indices into the frame list, in capture order

    @property
    def is_singleton(self) -> bool:
        return len(self.members) == 1

    @property
    def number(self) -> int:
        return series_number(self.id)


def series_number(series_id: int) -> int:
    """The series number a person sees (table, JSON report, contact sheet, review page): id + 1."""
    return series_id + 1


def series_id_of(number: int) -> int:
    """The inverse of :func:`series_number` (reading a report back)."""
    return number - 1


@dataclass
class FrameScore:
    """A scorer's verdict on one frame. ``score`` is on a 0..10 scale, higher is better."""

    score: float
    components: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # What the technical judgement measured the frame against: "series" (the consensus of its
    # registered mates), "none" (no-reference measures: a singleton, a pair, a frame that did
    # not register); "" where no technical judgement was made.
    reference: str = ""


@dataclass
class Rating:
    """The decision for one frame."""

    stars: int  # 0..5 (0 only when unrated)
    rank: int  # 1 = best in its series
    is_pick: bool
    rejected: bool = False  # written (or, dry run, to be written) as a reject: a failure, or beyond --keep
    why: str = ""  # the reason in words ("highest score of 5; 2 mates blurred"): report.why fills it


@dataclass
class WriteOutcome:
    """What happened when a rating was written to a file."""

    path: Path
    status: WriteStatus
    message: str = ""
    targets: tuple[str, ...] = ()  # what was written: "exif", "xmp", "sidecar"


@dataclass
class FrameResult:
    """One row of the final report."""

    frame: Frame
    series_id: int | None = None
    analysis: Analysis | None = None
    score: FrameScore | None = None
    rating: Rating | None = None
    write: WriteOutcome | None = None
    errors: list[FileError] = field(default_factory=list)


# What writes a rating: (frame result, dry_run) -> what happened to the file.
Writer = Callable[[FrameResult, bool], WriteOutcome]


@dataclass
class CullResult:
    """Everything a run found and did: what the reports show and ``last_run.json`` keeps."""

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
    skipped: list[FileError] = field(default_factory=list)  # files that are no photo photocull reads (videos, documents)

    @property
    def failed(self) -> list[FileError]:
        moved = [FileError(o.path, "move", o.message) for o in self.transfers if o.status == "skipped"]
        return self.errors + [e for fr in self.frames for e in fr.errors] + moved


def iter_ranked(result: CullResult) -> Iterable[tuple[Series, list[FrameResult]]]:
    """Series with their frames best first (for reports)."""
    for s in result.series:
        members = [result.frames[i] for i in s.members]
        members.sort(key=lambda fr: fr.rating.rank if fr.rating else 1_000_000)
        yield s, members
