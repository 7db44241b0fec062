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
from .scorers.technical import jpeg_tables, measure


@dataclass(frozen=True)
class AnalyseOptions:
    decode_size: int = DEFAULT_DECODE_SIZE
    max_pixels: int = DEFAULT_MAX_PIXELS
    keep_image: int = 0  # long side of the working image to keep for later stages (0: none)
    faces: bool = False  # find faces, judge their focus and eyes (needs OpenCV)


def working_image(img: Image.Image, long_side: int) -> np.ndarray:
    """A small RGB uint8 array for embeddings, tokens and thumbnails."""
    if max(img.size) > long_side:
        img = img.copy()
        img.thumbnail((long_side, long_side), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


DETECTOR_COPY_SHORT = 240  # the detector's copy keeps a short side of 240-479 px: about twice its 128 px views


def _detector_copy(img: Image.Image) -> np.ndarray:
    """The colour frame subsampled to a short side of 240-479 px, as RGB: all the face
    detector reads (squares of the short side, area-averaged to 128 px).

    Why nearest-neighbour: the draft decode is already low-passed by libjpeg's scaled IDCT,
    and the detector's own area resampling follows. Measured (``python -m benchmarks
    face-recall``): the same recall as the half-size copy it replaced (19/20 faces at 8 % of
    the long side), where box-averaged copies lost 2-3 of those small faces; and taking only
    the pixels it keeps, then converting that small copy to RGB, costs 2.6 ms less.
    """
    k = max(1, min(img.size) // DETECTOR_COPY_SHORT)
    small = img.resize((img.width // k, img.height // k), Image.Resampling.NEAREST) if k > 1 else img
    return np.asarray(small if small.mode == "RGB" else small.convert("RGB"))


def _find_faces(img: Image.Image, gray: np.ndarray):
    """(FaceReport, face crops) with eyes not yet judged, or (None, None).

    Only the search runs here, with the decoded frame at hand; eyes are judged after
    grouping, from the small crops, and only on frames with series mates
    (``faces.face_flags_for_series``). A face check never costs the photo.
    """
    from .faces import detect_faces, face_crops

    try:
        report = detect_faces(_detector_copy(img), gray)  # boxes in the luma's pixels
        return report, face_crops(gray, report)
    except Exception:  # noqa: BLE001 - FacesUnavailable or an OpenCV error: no face check
        return None, None


def analyse_file(found: FoundFile, opts: AnalyseOptions) -> tuple[Frame, Analysis] | FileError:
    """Decode, hash and measure one file; never raises for a bad file."""
    try:
        colour = bool(opts.keep_image or opts.faces)  # else luma is all any stage reads
        # Face checks alone need colour only for the detector's small copy: a JPEG then comes
        # as its own Y, Cb, Cr (no colour conversion), and Y is exactly the luma-only decode's,
        # so the measures do not depend on whether faces are checked.
        mode = "L" if not colour else "YCbCr" if opts.faces and not opts.keep_image and found.fmt == "jpeg" else "RGB"
        d = decode(found.path, found.fmt, decode_size=opts.decode_size, max_pixels=opts.max_pixels, mode=mode)
        ycbcr = d.image.mode == "YCbCr"
        gray = d.image if mode == "L" else d.image.getchannel(0) if ycbcr else d.image.convert("L")  # one luma for hashes and measures
        hashes = perceptual_hashes(gray)
        tables = jpeg_tables(found.path) if found.fmt == "jpeg" else None  # header only: how hard it was compressed
        luma = np.asarray(gray)  # one copy out of Pillow, for the measures and the face checks
        metrics = measure(gray, native_scale=d.width / d.image.width, jpeg_tables=tables, luma=luma)  # noise per file pixel
        image = working_image(d.image, opts.keep_image) if opts.keep_image else None
    except Exception as exc:  # noqa: BLE001 - every failure becomes a per-file error
        return decode_error(found.path, exc)
    faces = crops = None
    if opts.faces:
        faces, crops = _find_faces(d.image, luma)
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
    )
    return frame, Analysis(d.width, d.height, hashes.phash, hashes.dhash, metrics, image, faces=faces, face_crops=crops)


def analyse_path(path: Path, fmt: str, opts: AnalyseOptions = AnalyseOptions()) -> tuple[Frame, Analysis] | FileError:
    """Convenience for tests and tools: analyse a path without a scan."""
    st = path.stat()
    return analyse_file(FoundFile(path, fmt, st.st_size, st.st_mtime_ns), opts)
