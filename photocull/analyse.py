"""The per-file work of the pipeline: one decode serving every later stage.

Runs in worker processes (decode is CPU-bound and must not be held by the GIL), so
it imports nothing heavy and returns plain records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .decode import DEFAULT_DECODE_SIZE, DEFAULT_MAX_PIXELS, decode, decode_error
from .hashing import perceptual_hashes
from .records import Analysis, FileError, Frame
from .scan import FoundFile
from .scorers.measures import jpeg_tables, measure


@dataclass(frozen=True)
class AnalyseOptions:
    decode_size: int = DEFAULT_DECODE_SIZE
    max_pixels: int = DEFAULT_MAX_PIXELS
    keep_image: int = 0  # long side of the working image to keep for later stages (0: none)
    faces: bool = False  # find faces, judge their focus and eyes (needs OpenCV)
    thumb: bool = False  # keep the small luma copy for the series consensus ([technical] series_consensus)


def working_image(img: Image.Image, long_side: int) -> np.ndarray:
    """A small RGB uint8 array for embeddings, tokens and thumbnails."""
    if max(img.size) > long_side:
        img = img.copy()
        img.thumbnail((long_side, long_side), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _find_faces(gray: np.ndarray):
    """(FaceReport, face crops) with eyes not yet judged, or (None, None).

    Only the search runs here, with the decoded frame at hand; eyes are judged after
    grouping, from the small crops, and only on frames with series mates
    (``faces.face_flags_for_series``). A face check never costs the photo.
    """
    from .faces import detect_faces, face_crops

    try:
        report = detect_faces(gray)
        return report, face_crops(gray, report)
    except Exception:  # noqa: BLE001 - FacesUnavailable or an OpenCV error: no face check
        return None, None


def analyse_file(found: FoundFile, opts: AnalyseOptions) -> tuple[Frame, Analysis] | FileError:
    """Decode, hash and measure one file; never raises for a bad file."""
    try:
        # Luma is all the measures, hashes and face checks read; colour only for a kept image.
        mode = "RGB" if opts.keep_image else "L"
        d = decode(found.path, found.fmt, decode_size=opts.decode_size, max_pixels=opts.max_pixels, mode=mode)
        gray = d.image if mode == "L" else d.image.convert("L")  # one luma for hashes, measures and faces
        hashes = perceptual_hashes(gray)
        tables = jpeg_tables(found.path) if found.fmt == "jpeg" else None  # header only: how hard it was compressed
        luma = np.asarray(gray)  # one copy out of Pillow, for the measures and the face checks
        metrics = measure(gray, native_scale=d.width / d.image.width, jpeg_tables=tables, luma=luma,
                          thumb=opts.thumb)  # noise per file pixel
        image = working_image(d.image, opts.keep_image) if opts.keep_image else None
    except Exception as exc:  # noqa: BLE001 - every failure becomes a per-file error
        return decode_error(found.path, exc)
    faces = crops = None
    if opts.faces:
        faces, crops = _find_faces(luma)
    capture, source = (d.info.capture_time, "exif") if d.info.capture_time is not None else (found.mtime_ns / 1e9, "file")
    frame = Frame(
        path=found.path,
        fmt=found.fmt,
        size=found.size,
        mtime_ns=found.mtime_ns,
        capture_time=capture,
        time_source=source,
        orientation=d.info.orientation,
        camera=d.info.camera,
        companions=found.companions,
        utc_offset=d.info.utc_offset if source == "exif" else None,
        serial=d.info.serial,
    )
    return frame, Analysis(d.width, d.height, hashes.phash, hashes.dhash, metrics, image, faces=faces, face_crops=crops)


def analyse_path(path: Path, fmt: str, opts: AnalyseOptions = AnalyseOptions()) -> tuple[Frame, Analysis] | FileError:
    """Convenience for tests and tools: analyse a path without a scan."""
    st = path.stat()
    return analyse_file(FoundFile(path, fmt, st.st_size, st.st_mtime_ns), opts)
