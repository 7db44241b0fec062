"""Face checks: is the main face in focus, are the eyes open?

Why: in a burst of people the frames that lose are the ones where someone blinked or the
focus landed on the background, and the whole-frame sharpness of the technical scorer
sees neither (a sharp background makes a frame "sharp"). Faces are found by BlazeFace
(MediaPipe's short-range detector, weights bundled, run by LiteRT when installed, else by
OpenCV's DNN module: ``face_detector``) in one pass over the luma at 192 px (~5 ms, colour
and black-and-white frames alike), then each proposal is confirmed and re-boxed by
OpenCV's Haar face cascade (shipped inside ``opencv-python-headless<5``) in a fine search
around it on a 640 px copy. No downloads.
Eyes are judged only on faces that a series mate can be compared with
(``face_flags_for_series``). Per face it measures:

* **sharpness**: variance of the Laplacian of the face region over the region's own
  variance (contrast- and exposure-invariant), with the noise floor taken out, measured at
  a scale where the face is at most ``FACE_NORM`` px wide. The frame's own sharpness is the
  same measure over the frame's most detailed tiles at the same scale, so the two compare.
* **eyes open**: Haar eye cascades (``haarcascade_eye`` and
  ``haarcascade_eye_tree_eyeglasses``) on the upper part of the face, resampled to a fixed
  width. An open eye (dark iris, white sclera, lid edges) is what those cascades were
  trained on and is found; a closed eye (a band of skin with one dark line) is usually not.

Limits (document them to users; measured figures are in ``tests/test_faces.py``):

* Frontal faces only (roughly +-30 degrees of yaw, +-15 of roll: the Haar confirmation's
  range); profiles, faces under about 6-7 % of the frame's long side (BlazeFace sees the
  frame at 192 px on its short side) and heavily shadowed faces are not found: such frames
  are simply unaffected.
* Eye state is judged only on faces at least ``MIN_EYE_FACE_PX`` px wide in the input;
  otherwise ``eyes_open`` is None. Squinting or laughing eyes, dark sunglasses, strong
  reflections on glasses and very dark eyes in a dark face can read as "closed" (no eye
  found); a closed eye with heavy make-up can read as "open". That is why problem flags are
  relative to the series: a frame is flagged *eyes closed* only when the same face has its
  eyes found open in a series mate, and *face out of focus* only when the same face is
  clearly sharper in a mate. Singletons get no face flags.
* Faces are matched across series mates by position and size in the frame (bursts are
  near-identical); people walking across a burst may be matched wrongly.

OpenCV is imported lazily: without it (or with OpenCV 5, which has no Haar cascades)
``available()`` is False, ``unavailable_reason()`` says what to install, and
``check_faces`` raises ``FacesUnavailable``; the rest of photocull works unchanged.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np

from .face_detector import area_resize, to_gray
from .install import install_command
from .records import EYES_CLOSED, FACE_BLURRED, FrameScore

FACES_VERSION = 2  # bumped when face reports change meaning: cached reports of another version are re-made (2: BlazeFace on the luma)
REFINE_SCALE_STEP = 1.1  # every proposal confirmed (or dropped) by a fine Haar search around it ...
REFINE_VOTES = 5  # ... that needs this many overlapping Haar hits ...
CONFIDENT = 0.85  # ... or, for a proposal BlazeFace scores at least this, REFINE_VOTES_CONFIDENT
REFINE_VOTES_CONFIDENT = 3
REFINE_LONG_SIDE = 640  # ... on a copy this many px across (see _refine)
MAX_FACES = 8  # the largest faces kept per frame
FACE_NORM = 160  # faces are resampled to at most this width for sharpness, exactly this for eyes
MIN_EYE_FACE_PX = 56  # eye state is judged only on faces at least this wide in the input
SHARP_TILES = 8  # frame sharpness: over an 8x8 grid ...
SHARP_TOP = 0.2  # ... the mean of the most detailed 20 % of tiles

# Flagging, relative to the series (see face_problems).
FACE_BLUR_REL_EV = 1.5  # face out of focus: this many halvings below the same face's sharpest mate
FACE_VS_FRAME = 0.1  # main_face_blurred: face sharpness under this fraction of the frame's

# Score penalties applied by apply_face_flags (scores are 0..10). Neither flag is a technical
# failure (the frame still gets its stars), but the penalties outweigh the differences
# between healthy frames of a burst (usually under 1.5), so a blink or a missed focus loses
# the pick to a mate without it.
EYES_CLOSED_PENALTY = 3.0
FACE_BLURRED_PENALTY = 2.0

_INSTALL_NOTE = "face checks need OpenCV with Haar cascades; install it with: " + install_command("faces")


class FacesUnavailable(RuntimeError):
    """OpenCV (with its Haar cascades) is not installed: face checks are disabled."""


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x, y, w, h in the input image's pixels
    sharpness: float  # Laplacian energy over the face region's variance, noise floor removed
    eyes_open: bool | None  # None: face too small to judge
    eyes_found: int = 0  # eyes the cascades found in the upper face (0..2)


@dataclass
class FaceReport:
    faces: list[Face]  # largest first (faces[0] is the main face)
    main_face_blurred: bool  # the main face is much softer than the frame's sharpest detail
    eyes_closed: bool  # some judged face has no eye found
    size: tuple[int, int] = (0, 0)  # input width, height (to match faces across frames)
    frame_sharpness: float = 0.0  # the same measure over the frame's most detailed tiles
    notes: list[str] = field(default_factory=list)

    @property
    def main_face(self) -> Face | None:
        return self.faces[0] if self.faces else None


def report_from_dict(data: dict) -> FaceReport:
    """Rebuild a FaceReport from ``dataclasses.asdict`` output (the cache stores it as JSON)."""
    faces = [Face(tuple(f["box"]), f["sharpness"], f["eyes_open"], f.get("eyes_found", 0)) for f in data["faces"]]
    return FaceReport(
        faces,
        bool(data["main_face_blurred"]),
        bool(data["eyes_closed"]),
        tuple(data.get("size", (0, 0))),
        float(data.get("frame_sharpness", 0.0)),
        list(data.get("notes", [])),
    )


# ---------------------------------------------------------------------------------------
# OpenCV, lazily
# ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _load():
    """(cv2, face cascade, [eye cascades], BlazeFace detector) or a reason string."""
    try:
        import cv2  # type: ignore[import-not-found]
    except ImportError:
        return _INSTALL_NOTE
    # photocull runs one decode worker per core; OpenCV's own thread pool on top of that only
    # adds contention (each face search is a few ms).
    cv2.setNumThreads(1)
    base = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not base or not hasattr(cv2, "CascadeClassifier"):
        return f"OpenCV {cv2.__version__} has no Haar cascades; {_INSTALL_NOTE}"
    cascades = []
    for name in ("haarcascade_frontalface_alt2.xml", "haarcascade_eye.xml", "haarcascade_eye_tree_eyeglasses.xml"):
        c = cv2.CascadeClassifier(base + name)
        if c.empty():
            return f"OpenCV cascade {name} is missing or unreadable; {_INSTALL_NOTE}"
        cascades.append(c)
    from .face_detector import BlazeFace

    try:
        detector = BlazeFace(cv2)
    except (cv2.error, AttributeError, OSError, RuntimeError) as exc:  # no TFLite reader before OpenCV 4.8
        return f"OpenCV {cv2.__version__} cannot run the bundled face detector ({type(exc).__name__}); {_INSTALL_NOTE}"
    return cv2, cascades[0], cascades[1:], detector


def available() -> bool:
    return not isinstance(_load(), str)


def unavailable_reason() -> str | None:
    """None when face checks work, else a one-line note for the user."""
    loaded = _load()
    return loaded if isinstance(loaded, str) else None


def _require():
    loaded = _load()
    if isinstance(loaded, str):
        raise FacesUnavailable(loaded)
    return loaded


# ---------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------


def _noise_sigma(cv2, g: np.ndarray) -> float:
    """Robust noise sigma (Immerkaer's mask, median absolute response: edges do not count)."""
    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    r = cv2.filter2D(g, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]
    return float(1.4826 * np.median(np.abs(r)) / 6.0)


def _lap(cv2, g: np.ndarray) -> np.ndarray:
    return cv2.Laplacian(g, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]


def _region_sharpness(cv2, g: np.ndarray, noise: float) -> float:
    """Laplacian energy over the region's variance; white noise (20 sigma^2) taken out."""
    if min(g.shape) < 8:
        return 0.0
    lap = _lap(cv2, g)
    var = max(float(g.var()), 1.0)
    return max(float(lap.var()) - 20.0 * noise * noise, 1e-6) / var


def _frame_sharpness(cv2, g: np.ndarray, noise: float) -> float:
    """The region measure over the frame's most detailed tiles (its subject, not its bokeh)."""
    lap = _lap(cv2, g)
    gi = g[1:-1, 1:-1]
    th, tw = gi.shape[0] // SHARP_TILES, gi.shape[1] // SHARP_TILES
    if th < 4 or tw < 4:
        return _region_sharpness(cv2, g, noise)
    vals = []
    floor = 20.0 * noise * noise
    for i in range(SHARP_TILES):
        for j in range(SHARP_TILES):
            t = gi[i * th : (i + 1) * th, j * tw : (j + 1) * tw]
            lt = lap[i * th : (i + 1) * th, j * tw : (j + 1) * tw]
            var = float(t.var())
            if var < 100.0 + 10.0 * noise * noise:  # flat sky, wall, grain: no detail to judge
                continue
            vals.append(max(float(lt.var()) - floor, 1e-6) / var)
    if not vals:
        return _region_sharpness(cv2, g, noise)
    vals.sort()
    top = vals[-max(1, round(len(vals) * SHARP_TOP)) :]
    return float(np.mean(top))


def _norm_face(cv2, face_gray: np.ndarray) -> np.ndarray:
    """A face crop resampled to FACE_NORM px wide: all the eye check reads."""
    h, w = face_gray.shape
    if w == FACE_NORM:
        return face_gray
    f = FACE_NORM / w
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    return cv2.resize(face_gray, (FACE_NORM, max(1, round(h * f))), interpolation=interp)


def _eyes(cv2, eye_cascades, face_gray: np.ndarray) -> int:
    """How many eyes the cascades find in the upper part of a face (resampled to FACE_NORM)."""
    face = _norm_face(cv2, face_gray)
    fh = face.shape[0]
    y0, y1 = round(fh * 0.12), round(fh * 0.62)
    band = cv2.equalizeHist(face[y0:y1])
    lo, hi = round(FACE_NORM * 0.11), round(FACE_NORM * 0.42)
    found: list[tuple[float, float]] = []
    for cascade in eye_cascades:
        for x, y, ew, eh in cascade.detectMultiScale(band, scaleFactor=1.05, minNeighbors=4, minSize=(lo, lo), maxSize=(hi, hi)):
            cx, cy = (x + ew / 2) / FACE_NORM, (y0 + y + eh / 2) / fh
            if not (0.15 <= cx <= 0.85 and 0.2 <= cy <= 0.55):
                continue  # eyebrows, nostrils, hair
            if all(abs(cx - px) > 0.15 for px, _ in found):  # one per eye, across both cascades
                found.append((cx, cy))
    return min(len(found), 2)


def _detect(cv2, face_cascade, detector, gray: np.ndarray) -> tuple[list[tuple[int, int, int, int]], float]:
    """Face boxes (largest first, at most MAX_FACES) in pixels of ``gray`` scaled by the
    returned factor (the Haar confirmation's copy, ``REFINE_LONG_SIDE`` px across at most).

    BlazeFace proposes (one pass over the luma at 192 px, ``face_detector``); each proposal
    is confirmed and re-boxed by a fine Haar search around it. Haar boxes sit ~10 % of a
    face higher than BlazeFace's (labelled set: median 0.103); the search reaches half a
    face beyond the proposal, so it finds them unshifted (and shifting them by that offset
    changed two eye verdicts on the labelled set, where no shift changed one).
    """
    found = detector.detect(gray)[: 2 * MAX_FACES]
    if not found:
        return [], 1.0
    boxes, scale = _refine(cv2, face_cascade, gray, [tuple(round(v) for v in d.box) for d in found],
                           confident=[d.score >= CONFIDENT for d in found])
    boxes.sort(key=lambda b: -b[2] * b[3])
    return boxes[:MAX_FACES], scale


def _refine(cv2, face_cascade, gray: np.ndarray, boxes: list[tuple[int, int, int, int]],
            confident: Sequence[bool] | None = None) -> tuple[list[tuple[int, int, int, int]], float]:
    """Proposed boxes (in ``gray``'s pixels), re-found on a ``REFINE_LONG_SIDE`` px copy
    around each: (boxes in the copy's pixels, the copy's scale).

    Why: the eye check reads the face crop, and it was calibrated on the Haar cascade's
    framing: a box a few per cent off moves the eye band enough to change the verdict on
    hard faces. A fine search only around each proposal drops the false ones and gives
    boxes close to a full fine search's (the labelled set: same eye verdicts on every face
    found), at a fraction of that search's cost. ``confident``: per box, whether BlazeFace
    was sure of it; such a face needs fewer Haar votes (the confirmation is then mostly
    for the framing: where the search's sample grid falls moves the vote count of a
    closed-eyed face by one or two).
    """
    H, W = gray.shape
    fine = min(1.0, REFINE_LONG_SIDE / max(H, W))
    big = gray if fine == 1.0 else area_resize(cv2, gray, (max(1, round(W * fine)), max(1, round(H * fine))))
    big = cv2.equalizeHist(big)
    out = []
    for k, (bx, by, bw, bh) in enumerate(boxes):
        x, y, w, h = (round(v * fine) for v in (bx, by, bw, bh))
        m = w // 2
        x0, y0 = max(0, x - m), max(0, y - m)
        crop = big[y0 : y + h + m, x0 : x + w + m]
        lo, hi = round(w * 0.75), round(w * 1.35)
        votes = REFINE_VOTES_CONFIDENT if confident is not None and confident[k] else REFINE_VOTES
        cand = np.reshape(face_cascade.detectMultiScale(crop, scaleFactor=REFINE_SCALE_STEP, minNeighbors=votes, minSize=(lo, lo), maxSize=(hi, hi)), (-1, 4))
        if not len(cand):
            continue  # not confirmed at the finer scale: texture, not a face
        cx, cy = x + w / 2 - x0, y + h / 2 - y0
        c = min(cand, key=lambda b: abs(b[0] + b[2] / 2 - cx) + abs(b[1] + b[3] / 2 - cy))
        box = (int(c[0]) + x0, int(c[1]) + y0, int(c[2]), int(c[3]))
        if not any(_overlap(box, o) > 0.5 for o in out):
            out.append(box)
    return out, fine


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(1, min(a[2] * a[3], b[2] * b[3]))


def detect_faces(img: np.ndarray) -> FaceReport:
    """Find faces in an RGB (or gray) uint8 image and measure their focus; eyes not judged.

    The costly half of ``check_faces``, made cheap: BlazeFace proposes from the luma at
    192 px, the Haar cascade confirms at ``REFINE_LONG_SIDE``. Every face has
    ``eyes_open`` None until ``judge_eyes`` (or ``judge_eyes_in_crops`` on ``face_crops``)
    runs on it, which only frames with series mates need (``face_flags_for_series``).
    A luma array is read as it is (no copy). Raises FacesUnavailable without OpenCV.
    """
    cv2, face_cascade, _, detector = _require()
    gray = to_gray(cv2, img)
    H, W = gray.shape
    boxes, scale = _detect(cv2, face_cascade, detector, gray)
    if not boxes:
        return FaceReport([], False, False, (W, H))
    faces: list[Face] = []
    frame_sharp: float | None = None
    for bx, by, bw, bh in boxes:
        x, y = int(bx / scale), int(by / scale)
        w, h = min(int(math.ceil(bw / scale)), W - x), min(int(math.ceil(bh / scale)), H - y)
        face_gray = gray[y : y + h, x : x + w]
        # Sharpness on the inner face (no hair or background edges), at most FACE_NORM wide.
        inner = face_gray[round(h * 0.12) : round(h * 0.92), round(w * 0.15) : round(w * 0.85)].astype(np.float32)
        f = min(1.0, FACE_NORM / max(1, inner.shape[1]))
        if f < 1.0:
            inner = cv2.resize(inner, (max(8, round(inner.shape[1] * f)), max(8, round(inner.shape[0] * f))), interpolation=cv2.INTER_AREA)
        frame_g = gray.astype(np.float32)
        if f < 1.0:
            frame_g = cv2.resize(frame_g, (max(8, round(W * f)), max(8, round(H * f))), interpolation=cv2.INTER_AREA)
        noise = _noise_sigma(cv2, frame_g)
        sharp = _region_sharpness(cv2, inner, noise)
        if frame_sharp is None:  # at the main face's scale
            frame_sharp = _frame_sharpness(cv2, frame_g, noise)
        faces.append(Face((x, y, w, h), round(sharp, 6), None, 0))
    frame_sharp = frame_sharp or 0.0
    return FaceReport(
        faces=faces,
        main_face_blurred=faces[0].sharpness < FACE_VS_FRAME * frame_sharp,
        eyes_closed=False,
        size=(W, H),
        frame_sharpness=round(frame_sharp, 6),
    )


def face_crops(img: np.ndarray, report: FaceReport) -> list[np.ndarray | None]:
    """Per face of ``report``: the gray face crop the eye check needs (FACE_NORM px wide,
    ~25 KB), or None for faces too small to judge.

    Why: faces are found while the frame is decoded, in a worker, but eyes only need judging
    once the series are known. Keeping these small crops (not the frame) lets the eye check
    run after grouping, on frames with mates only (``face_flags_for_series``).
    """
    if not report.faces:
        return []
    cv2, _, _, _ = _require()
    gray = to_gray(cv2, img)  # a luma image passes through
    out: list[np.ndarray | None] = []
    for fc in report.faces:
        x, y, w, h = fc.box
        out.append(_norm_face(cv2, gray[y : y + h, x : x + w]) if w >= MIN_EYE_FACE_PX else None)
    return out


def judge_eyes_in_crops(report: FaceReport, crops: Sequence[np.ndarray | None], only: Sequence[int] | None = None) -> FaceReport:
    """The report with eye state judged from ``face_crops`` output (all faces, or ``only``).

    Faces without a crop (too small) keep ``eyes_open`` None. Runs the two eye cascades once
    per judged face (~1-3 ms a face).
    """
    if not report.faces:
        return report
    if len(crops) != len(report.faces):
        raise ValueError("one crop (or None) per face")
    cv2, _, eye_cascades, _ = _require()
    picked = set(range(len(report.faces)) if only is None else only)
    faces = []
    for i, (fc, crop) in enumerate(zip(report.faces, crops)):
        if i in picked and crop is not None:
            n = _eyes(cv2, eye_cascades, crop)
            fc = replace(fc, eyes_open=n > 0, eyes_found=n)
        faces.append(fc)
    return replace(report, faces=faces, eyes_closed=any(fc.eyes_open is False for fc in faces))


def judge_eyes(img: np.ndarray, report: FaceReport, only: Sequence[int] | None = None) -> FaceReport:
    """``judge_eyes_in_crops`` on the crops of ``img`` (all faces, or the indices in ``only``)."""
    return judge_eyes_in_crops(report, face_crops(img, report), only)


def check_faces(img: np.ndarray) -> FaceReport:
    """Find faces in an RGB uint8 image and judge their focus and eyes (every face).

    ``detect_faces`` then ``judge_eyes``. Raises FacesUnavailable when OpenCV (with Haar
    cascades) is not installed.
    """
    return judge_eyes(img, detect_faces(img))


def face_flags_for_series(
    reports: Sequence[FaceReport | None], crops: Sequence[Sequence[np.ndarray | None] | None],
    load_crops: Callable[[int], Sequence[np.ndarray | None] | None] | None = None,
) -> tuple[list[FaceReport | None], list[list[str]]]:
    """Eye verdicts and problem flags for the frames of ONE series, eyes judged only where needed.

    ``reports``: each frame's ``detect_faces`` report (None: no face check, e.g. a noisy
    frame left out); ``crops``: each frame's ``face_crops`` (None: none kept, e.g. the report
    came from the cache; faces already judged keep their verdict). Eyes are judged only
    where a comparison can flag something: in a series of two or more frames, on faces the
    same face in some mate matches. A singleton, or a frame whose faces appear in no mate,
    gets no eye check at all. Returns the (judged) reports and ``face_problems`` over them.
    ``load_crops(i)``: crops for frame ``i`` when none were kept but some face needs judging
    (a cached frame that had no mate when it was decoded); None from it skips the frame.
    """
    if len(reports) != len(crops):
        raise ValueError("reports and crops must have the same length")
    out = list(reports)
    if len(out) < 2:
        return out, [[] for _ in out]
    for i, rep in enumerate(reports):
        if rep is None or not rep.faces or (crops[i] is None and load_crops is None):
            continue
        mates = [r for j, r in enumerate(reports) if j != i and r is not None and r.faces]
        todo = [k for k, fc in enumerate(rep.faces) if fc.eyes_open is None and fc.box[2] >= MIN_EYE_FACE_PX
                and any(_match(fc, rep.size, m) is not None for m in mates)]
        if not todo:
            continue
        frame_crops = crops[i] if crops[i] is not None else load_crops(i)  # type: ignore[misc]
        if frame_crops is not None:
            out[i] = judge_eyes_in_crops(rep, frame_crops, todo)
    return out, face_problems(out)


# ---------------------------------------------------------------------------------------
# Flags relative to the series
# ---------------------------------------------------------------------------------------


def _centre(face: Face, size: tuple[int, int]) -> tuple[float, float, float]:
    x, y, w, h = face.box
    W, H = max(size[0], 1), max(size[1], 1)
    return (x + w / 2) / W, (y + h / 2) / H, w / W


def _match(face: Face, size: tuple[int, int], other: FaceReport) -> Face | None:
    """The face of ``other`` at about the same place and size (the same person in a burst)."""
    cx, cy, fw = _centre(face, size)
    best, best_d = None, float("inf")
    for cand in other.faces:
        ox, oy, ow = _centre(cand, other.size)
        if not 0.6 <= ow / max(fw, 1e-6) <= 1.67:
            continue
        d = math.hypot(cx - ox, cy - oy)
        if d < 0.6 * max(fw, ow) and d < best_d:
            best, best_d = cand, d
    return best


def face_problems(reports: Sequence[FaceReport | None]) -> list[list[str]]:
    """Problem flags per frame of ONE series, relative to its mates.

    * ``EYES_CLOSED``: some face of the frame has no eye found while the same face in a
      series mate has its eyes found open.
    * ``FACE_BLURRED``: the main face is more than ``FACE_BLUR_REL_EV`` halvings softer than
      the same face in its sharpest mate, or it is blurred against its own frame
      (``main_face_blurred``) while that face in a mate is not.

    Frames without faces, frames with no report (None) and singletons get no flags.
    """
    out: list[list[str]] = [[] for _ in reports]
    if len(reports) < 2:
        return out
    for i, rep in enumerate(reports):
        if rep is None or not rep.faces:
            continue
        mates = [r for j, r in enumerate(reports) if j != i and r is not None and r.faces]
        if not mates:
            continue
        for fc in rep.faces:
            if fc.eyes_open is False and any(
                (m := _match(fc, rep.size, r)) is not None and m.eyes_open for r in mates
            ):
                out[i].append(EYES_CLOSED)
                break
        main = rep.faces[0]
        matched = [(r, _match(main, rep.size, r)) for r in mates]
        matched = [(r, m) for r, m in matched if m is not None]
        if matched:
            best = max(m.sharpness for _, m in matched)
            drop = math.log2(max(best, 1e-6) / max(main.sharpness, 1e-6))
            mate_ok = any(not r.main_face_blurred and r.faces[0] is m for r, m in matched)
            if drop > FACE_BLUR_REL_EV or (rep.main_face_blurred and mate_ok and drop > 0.5):
                out[i].append(FACE_BLURRED)
    return out


def apply_face_flags(scores: Sequence[FrameScore], face_problems: Sequence[Sequence[str]]) -> list[FrameScore]:
    """New FrameScores with the face flags added to ``problems`` and the score lowered.

    Penalties: ``EYES_CLOSED_PENALTY`` (3.0) for eyes closed, ``FACE_BLURRED_PENALTY`` (2.0)
    for a face out of focus, summed, recorded as the ``faces`` component, score floored
    at 0. Flags already present are not added (nor penalised) twice. Neither flag is a
    technical failure (``records.FAILURES``): the frame keeps its stars band, it just ranks
    below mates without the problem.
    """
    if len(scores) != len(face_problems):
        raise ValueError("scores and face_problems must have the same length")
    penalties = {EYES_CLOSED: EYES_CLOSED_PENALTY, FACE_BLURRED: FACE_BLURRED_PENALTY}
    out = []
    for sc, flags in zip(scores, face_problems):
        new = [p for p in dict.fromkeys(flags) if p in penalties and p not in sc.problems]
        if not new:
            out.append(sc)
            continue
        penalty = sum(penalties[p] for p in new)
        components = dict(sc.components)
        components["faces"] = round(components.get("faces", 0.0) - penalty, 4)
        out.append(replace(sc, score=round(max(sc.score - penalty, 0.0), 4), components=components, problems=[*sc.problems, *new]))
    return out
