"""Face checks: eyes open/closed on a labelled set, face focus, series-relative flags.

The labelled set is ``tests/faces_data/`` (made by ``make_faces.py`` from scikit-image's
public-domain astronaut portrait; see its README): 20 open / 20 closed images, paired.
Measured when written (OpenCV 4.14.0, full 640 px search): closed-eye check precision 1.00,
recall 1.00 (20 TP, 0 FP, 0 FN, 20 TN); with the coarse-to-fine search: precision 1.00, recall
0.95 (closed_09's face is not found). The test allows a margin for other OpenCV builds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from photocull.install import install_command
from photocull import faces
from photocull.decode import decode
from photocull.faces import (
    EYES_CLOSED_PENALTY,
    FACE_BLURRED_PENALTY,
    Face,
    FaceReport,
    apply_face_flags,
    check_faces,
    face_problems,
)
from photocull.pick import pick
from photocull.pipeline import CullOptions, run
from photocull.records import BLURRED, EYES_CLOSED, FACE_BLURRED, FrameScore
from photocull.scorers.technical import TechnicalScorer
from tests.conftest import noisy, save_jpeg, scene

DATA = Path(__file__).resolve().parent / "faces_data"
LABELS = json.loads((DATA / "labels.json").read_text())

# Measured: precision 1.00, recall 1.00 on 20 + 20 images. Margins: one or two misses.
MIN_PRECISION = 0.9
MIN_RECALL = 0.85

needs_cv2 = pytest.mark.skipif(not faces.available(), reason=f"face checks unavailable: {faces.unavailable_reason()}")


def load(name: str) -> np.ndarray:
    return np.asarray(Image.open(DATA / name).convert("RGB"))


@pytest.fixture(scope="module")
def reports() -> dict[str, FaceReport]:
    if not faces.available():
        pytest.skip(f"face checks unavailable: {faces.unavailable_reason()}")
    return {name: check_faces(load(name)) for name in LABELS}


def test_labelled_set_is_big_enough_and_paired():
    states = [v["eyes"] for v in LABELS.values()]
    assert states.count("open") >= 10 and states.count("closed") >= 10
    for name, v in LABELS.items():
        assert (DATA / name).exists()
        twin = name.replace(v["eyes"], "closed" if v["eyes"] == "open" else "open")
        assert twin in LABELS


@needs_cv2
def test_closed_eye_precision_and_recall(reports):
    tp = fp = fn = tn = 0
    for name, label in LABELS.items():
        rep = reports[name]
        assert len(rep.faces) <= 1, name  # no false detections
        predicted_closed = bool(rep.faces) and rep.faces[0].eyes_open is False
        closed = label["eyes"] == "closed"
        tp += predicted_closed and closed
        fp += predicted_closed and not closed
        fn += closed and not predicted_closed
        tn += not closed and not predicted_closed
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    print(f"closed-eye check: precision {precision:.2f} recall {recall:.2f} (tp {tp} fp {fp} fn {fn} tn {tn})")
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL, (precision, recall, tp, fp, fn, tn)


@needs_cv2
def test_face_box_and_sharpness(reports):
    rep = reports["open_00.jpg"]
    (face,) = rep.faces
    x, y, w, h = face.box
    assert abs(w - LABELS["open_00.jpg"]["face_px"]) < 0.2 * w
    assert face.eyes_open is True and face.eyes_found == 2
    assert not rep.main_face_blurred and not rep.eyes_closed
    assert rep.size == (Image.open(DATA / "open_00.jpg").size)
    # Blur only the face (focus on the background): the face is now blurred against its frame.
    img = Image.open(DATA / "open_00.jpg").convert("RGB")
    box = (x - w // 4, y - h // 4, x + w + w // 4, y + h + h // 4)
    img.paste(img.crop(box).filter(ImageFilter.GaussianBlur(3)), box[:2])
    soft = check_faces(np.asarray(img))
    assert soft.faces and soft.main_face_blurred
    assert soft.faces[0].sharpness < face.sharpness / 8


@needs_cv2
def test_a_frame_without_faces():
    rep = check_faces(np.asarray(scene(3)))
    assert rep.faces == [] and not rep.main_face_blurred and not rep.eyes_closed
    assert rep.main_face is None


@needs_cv2
def test_series_relative_flags(reports):
    op, cl = reports["open_00.jpg"], reports["closed_00.jpg"]
    assert face_problems([op, cl]) == [[], [EYES_CLOSED]]
    assert face_problems([cl, cl]) == [[], []]  # nobody's eyes found open: no evidence
    assert face_problems([cl]) == [[]]  # singletons get no face flags
    nothing = check_faces(np.asarray(scene(3)))
    assert face_problems([op, nothing, cl, None]) == [[], [], [EYES_CLOSED], []]
    # The same face, out of focus in one frame of the burst.
    soft = check_faces(np.asarray(Image.open(DATA / "open_00.jpg").convert("RGB").filter(ImageFilter.GaussianBlur(2.5))))
    assert face_problems([op, soft]) == [[], [FACE_BLURRED]]


def test_matching_ignores_a_different_face():
    a = FaceReport([Face((10, 10, 50, 50), 1.0, True, 2)], False, False, (400, 300))
    b = FaceReport([Face((300, 200, 50, 50), 1.0, False, 0)], False, True, (400, 300))
    assert face_problems([a, b]) == [[], []]  # different places: different people
    c = FaceReport([Face((14, 12, 52, 50), 0.1, False, 0)], True, True, (400, 300))
    assert face_problems([a, c]) == [[], [EYES_CLOSED, FACE_BLURRED]]


def test_apply_face_flags():
    scores = [FrameScore(8.0, {"sharpness": 0.0}), FrameScore(8.5, problems=[BLURRED]), FrameScore(1.0)]
    out = apply_face_flags(scores, [[], [EYES_CLOSED, FACE_BLURRED], [EYES_CLOSED]])
    assert out[0] is scores[0]
    assert out[1].score == pytest.approx(8.5 - EYES_CLOSED_PENALTY - FACE_BLURRED_PENALTY)
    assert out[1].problems == [BLURRED, EYES_CLOSED, FACE_BLURRED]
    assert out[1].components["faces"] == pytest.approx(-(EYES_CLOSED_PENALTY + FACE_BLURRED_PENALTY))
    assert out[2].score == 0.0  # floored
    assert scores[1].problems == [BLURRED] and scores[1].score == 8.5  # inputs untouched
    again = apply_face_flags(out, [[], [EYES_CLOSED], []])
    assert again[1].score == out[1].score  # not penalised twice
    with pytest.raises(ValueError):
        apply_face_flags(scores, [[]])


@needs_cv2
def test_face_flags_change_the_pick(tmp_path):
    """Two equally sharp frames of a burst, one with closed eyes: the face flag moves the pick.

    The open-eyes frame carries a little grain (well under the *noisy* threshold), so that
    without face checks the closed-eyes frame is clearly the pick (not by a rounding-level tie).
    """
    root = tmp_path / "portrait"
    t0 = datetime(2026, 5, 1, 9, 0, 0)
    closed = Image.open(DATA / "closed_00.jpg").convert("RGB")
    # sigma 1.5: the per-level noise comparison (technical v4) flags 2.5 as noisy, and it should
    opened = noisy(Image.open(DATA / "open_00.jpg").convert("RGB"), sigma=1.5, seed=1)
    save_jpeg(root / "P1.jpg", closed, t0, subsec=100)
    save_jpeg(root / "P2.jpg", opened, t0, subsec=400)
    save_jpeg(root / "Z.jpg", scene(4), datetime(2026, 5, 1, 9, 5, 0))  # an unrelated single, no face
    result = run(root, TechnicalScorer(), CullOptions(write=False, workers=1))
    names = [fr.frame.name for fr in result.frames]
    (burst,) = [s for s in result.series if len(s.members) == 2]
    scores = [fr.score for fr in result.frames]
    a, b = (scores[names.index(n)] for n in ("P1.jpg", "P2.jpg"))
    assert not a.problems and not b.problems  # no technical flags on either
    assert 0.2 < a.score - b.score < EYES_CLOSED_PENALTY
    before = pick(result.series, scores)
    assert before[names.index("P1.jpg")].is_pick  # without face checks: closed eyes win

    reports = [check_faces(np.asarray(decode(fr.frame.path, fr.frame.fmt).image)) for fr in result.frames]
    flags: list[list[str]] = [[] for _ in result.frames]
    for s in result.series:
        for idx, f in zip(s.members, face_problems([reports[i] for i in s.members])):
            flags[idx] = f
    assert flags[names.index("P1.jpg")] == [EYES_CLOSED]
    assert flags[names.index("P2.jpg")] == [] and flags[names.index("Z.jpg")] == []
    flagged = apply_face_flags(scores, flags)
    after = pick(result.series, flagged)
    assert after[names.index("P2.jpg")].is_pick and after[names.index("P2.jpg")].rank == 1
    assert after[names.index("P1.jpg")].rank == 2
    assert EYES_CLOSED in flagged[names.index("P1.jpg")].problems
    assert flagged[names.index("Z.jpg")] is scores[names.index("Z.jpg")]


def test_works_without_opencv(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    faces._load.cache_clear()
    try:
        assert not faces.available()
        assert install_command("faces") in faces.unavailable_reason()
        with pytest.raises(faces.FacesUnavailable):
            check_faces(np.zeros((64, 64, 3), np.uint8))
        # The series logic and the penalties need no OpenCV.
        assert apply_face_flags([FrameScore(5.0)], [[EYES_CLOSED]])[0].score == 5.0 - EYES_CLOSED_PENALTY
    finally:
        faces._load.cache_clear()


def test_importing_faces_does_not_import_opencv():
    code = "import sys, photocull.faces, photocull.report.html; print('cv2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "False"


# --- the cheap detector: same verdicts as the previous one, eyes only where mates exist ----------

PREVIOUS = json.loads((DATA / "previous_detector.json").read_text())



# Measured when BlazeFace proposals replaced the Haar coarse pass: every face found (closed_09,
# missed by the coarse pass, too), and one eye verdict differs from the full search's: the
# hard closed_18 (heavy grain) reads as open. One such miss is allowed, and only that way round.
MAX_DIFFERENT_VS_PREVIOUS = 1


@needs_cv2
def test_same_verdicts_as_the_previous_detector(reports):
    """``previous_detector.json`` holds what the full 640 px Haar search reported on the labelled
    set (all 40 eye verdicts right). Every face it found must be found, with a box within 20 %
    of its width and the same focus verdict. At most MAX_DIFFERENT_VS_PREVIOUS eye verdicts may
    differ, and a difference may only miss a blink (closed read as open), never call open
    eyes closed: that would cost a good frame its pick."""
    different = []
    for name, prev in PREVIOUS.items():
        rep = reports[name]
        assert len(rep.faces) == len(prev["faces"]), name
        for fc, pf in zip(rep.faces, prev["faces"]):
            # The fine search keeps the candidate nearest BlazeFace's proposal, which can be the
            # next scale up (closed_17: 151 px where the full search had 131).
            assert abs(fc.box[2] - pf["box"][2]) <= 0.2 * pf["box"][2], (name, fc.box, pf["box"])
            if (fc.eyes_open, fc.eyes_found) != (pf["eyes_open"], pf["eyes_found"]):
                different.append(name)
                assert LABELS[name]["eyes"] == "closed" and fc.eyes_open is True, name
        assert rep.main_face_blurred == prev["main_face_blurred"], name
    assert len(different) <= MAX_DIFFERENT_VS_PREVIOUS, different


class _Counting:
    """A cascade that counts its searches (and the pixels searched) and delegates."""

    def __init__(self, inner):
        self.inner, self.calls, self.pixels = inner, 0, 0

    def detectMultiScale(self, img, *a, **kw):  # noqa: N802 - OpenCV's name
        self.calls += 1
        self.pixels += img.shape[0] * img.shape[1]
        return self.inner.detectMultiScale(img, *a, **kw)


@pytest.fixture
def counting(monkeypatch):
    """faces._load patched: the face cascade and the eye cascades count their calls."""
    if not faces.available():
        pytest.skip(f"face checks unavailable: {faces.unavailable_reason()}")
    cv2, face_c, eye_cs, detector = faces._load()
    face_counter, eye_counters = _Counting(face_c), [_Counting(c) for c in eye_cs]
    monkeypatch.setattr(faces, "_load", lambda: (cv2, face_counter, eye_counters, detector))
    return face_counter, eye_counters


def _in_scene(face_img: Image.Image, size=(1500, 1000), at=(700, 300)) -> np.ndarray:
    """A labelled face pasted into a larger, face-free scene (a 24 MP frame's working size)."""
    canvas = scene(5).resize(size)
    canvas.paste(face_img, at)
    return np.asarray(canvas)


def _detected(img: np.ndarray):
    rep = faces.detect_faces(img)
    return rep, faces.face_crops(img, rep)


@needs_cv2
def test_frames_without_mates_skip_the_eye_comparison(counting):
    _, eye_counters = counting
    op, cl = load("open_00.jpg"), load("closed_00.jpg")
    (r_cl, c_cl), (r_op, c_op), (r_none, c_none) = _detected(cl), _detected(op), _detected(np.asarray(scene(3)))
    assert r_cl.faces and r_cl.faces[0].eyes_open is None and len(c_cl) == 1 and c_cl[0].shape[1] == faces.FACE_NORM
    reps, flags = faces.face_flags_for_series([r_cl], [c_cl])
    assert flags == [[]] and reps[0].faces[0].eyes_open is None
    assert sum(c.calls for c in eye_counters) == 0  # a singleton: detected, never compared
    # A mate without a face: nothing to compare against either.
    reps, flags = faces.face_flags_for_series([r_cl, r_none], [c_cl, c_none])
    assert flags == [[], []] and sum(c.calls for c in eye_counters) == 0
    # A face at another place in the mate (another person): no comparison either.
    moved = FaceReport([Face((0, 0, r_op.faces[0].box[2], r_op.faces[0].box[3]), 1.0, None)], False, False, r_op.size)
    reps, flags = faces.face_flags_for_series([r_cl, moved], [c_cl, None])
    assert flags == [[], []] and sum(c.calls for c in eye_counters) == 0
    # A real burst: both frames' faces are judged (two eye cascades per face), closed eyes flagged.
    reps, flags = faces.face_flags_for_series([r_op, r_cl], [c_op, c_cl])
    assert flags == [[], [EYES_CLOSED]]
    assert [c.calls for c in eye_counters] == [2, 2]
    assert reps[0].faces[0].eyes_open is True and reps[1].faces[0].eyes_open is False
    # The same verdicts as judging every face up front; judged reports are not judged again.
    assert flags == face_problems([check_faces(op), check_faces(cl)])
    for c in eye_counters:
        c.calls = 0
    again, flags2 = faces.face_flags_for_series(reps, [None, None])
    assert flags2 == flags and sum(c.calls for c in eye_counters) == 0


@needs_cv2
def test_a_face_in_a_large_frame_is_found_with_one_small_search(counting):
    """BlazeFace sees the whole 1500 px frame at 192 px; the Haar cascade then searches only
    around its proposal, at most ~2 x 2 face widths of the 640 px copy, never the frame."""
    face_counter, _ = counting
    face = Image.open(DATA / "open_02.jpg").convert("RGB")
    img = _in_scene(face)
    rep = check_faces(img)
    assert len(rep.faces) == 1 and rep.faces[0].eyes_open is True
    x, y, w, h = rep.faces[0].box
    assert 700 <= x < 700 + face.width and 300 <= y < 300 + face.height
    assert face_counter.calls == 1
    fine_w = w * faces.REFINE_LONG_SIDE / img.shape[1]
    assert face_counter.pixels <= (2.2 * fine_w) ** 2
    # Black and white: the detector reads luma anyway, so the same face, the same small search.
    gray = np.asarray(Image.fromarray(img).convert("L").convert("RGB"))
    face_counter.calls = face_counter.pixels = 0
    rep_bw = check_faces(gray)
    assert len(rep_bw.faces) == 1 and rep_bw.faces[0].box == rep.faces[0].box
    assert face_counter.calls == 1 and face_counter.pixels <= (2.2 * fine_w) ** 2


@needs_cv2
def test_a_frame_without_faces_runs_no_haar_search(counting):
    face_counter, _ = counting
    blue_green = np.zeros((1000, 1500, 3), np.uint8)
    blue_green[:500] = (60, 120, 200)  # sky
    blue_green[500:] = (40, 140, 60)  # grass
    rng = np.random.default_rng(0)
    blue_green = np.clip(blue_green + rng.normal(0, 6, blue_green.shape), 0, 255).astype(np.uint8)
    rep = faces.detect_faces(blue_green)
    assert rep.faces == [] and face_counter.calls == 0
    assert faces.detect_faces(np.asarray(scene(5).resize((1500, 1000)))).faces == []


@needs_cv2
def test_the_pipeline_flags_closed_eyes_with_faces_on(tmp_path):
    """The cull run itself (CullOptions(faces=True)): the closed-eyes frame of a burst is flagged
    and loses the pick; the unrelated single without a face gets nothing."""
    root = tmp_path / "portrait"
    t0 = datetime(2026, 5, 1, 9, 0, 0)
    save_jpeg(root / "P1.jpg", Image.open(DATA / "closed_00.jpg").convert("RGB"), t0, subsec=100)
    save_jpeg(root / "P2.jpg", noisy(Image.open(DATA / "open_00.jpg").convert("RGB"), sigma=1.5, seed=1), t0, subsec=400)
    save_jpeg(root / "Z.jpg", scene(4), datetime(2026, 5, 1, 9, 5, 0))
    result = run(root, TechnicalScorer(), CullOptions(write=False, workers=1, faces=True))
    by_name = {fr.frame.name: fr for fr in result.frames}
    assert EYES_CLOSED in by_name["P1.jpg"].score.problems
    assert EYES_CLOSED not in by_name["P2.jpg"].score.problems and not by_name["Z.jpg"].score.problems
    assert by_name["P2.jpg"].rating.is_pick and not by_name["P1.jpg"].rating.is_pick
    # Eyes were judged after grouping and written back into the analyses; crops are gone.
    assert by_name["P1.jpg"].analysis.faces.faces[0].eyes_open is False
    assert by_name["P2.jpg"].analysis.faces.faces[0].eyes_open is True
    assert all(fr.analysis.face_crops is None for fr in result.frames)

    # A warm run decodes nothing and keeps the same face flags (the verdicts were cached).
    warm = run(root, TechnicalScorer(), CullOptions(write=False, workers=1, faces=True))
    assert warm.decoded == 0
    flags = lambda r: {fr.frame.name: (fr.score.problems, fr.score.score, fr.rating.is_pick) for fr in r.frames}  # noqa: E731
    assert flags(warm) == flags(result)
    # Faces off (the default) on the same folder: no face flags, the closed-eyes frame wins.
    off = run(root, TechnicalScorer(), CullOptions(write=False, workers=1))
    assert all(EYES_CLOSED not in fr.score.problems for fr in off.frames)
    assert {fr.frame.name: fr for fr in off.frames}["P1.jpg"].rating.is_pick


@needs_cv2
def test_the_worker_finds_faces_and_keeps_crops_for_later(tmp_path):
    """analyse_file searches faces (eyes not judged yet) and keeps the small crops."""
    from photocull.analyse import AnalyseOptions, analyse_path

    path = tmp_path / "P.jpg"
    save_jpeg(path, Image.open(DATA / "open_00.jpg").convert("RGB"), datetime(2026, 5, 1, 9, 0, 0))
    _, a = analyse_path(path, "jpeg", AnalyseOptions(faces=True))
    assert a.faces.faces and all(f.eyes_open is None for f in a.faces.faces)
    assert len(a.face_crops) == len(a.faces.faces) and a.face_crops[0].shape[1] == faces.FACE_NORM
    _, off = analyse_path(path, "jpeg", AnalyseOptions())
    assert off.faces is None and off.face_crops is None


def test_faces_are_off_by_default_and_need_opencv_when_asked(sample_copy, monkeypatch):
    """Installing OpenCV changes nothing by itself; --faces without it is a usage error
    that names the extra (brackets shown, not eaten as Rich markup)."""
    from typer.testing import CliRunner

    from photocull.cli import app
    from photocull.settings import RunSettings

    assert RunSettings().faces is False
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    faces._load.cache_clear()
    try:
        runner = CliRunner()
        res = runner.invoke(app, ["score", str(sample_copy), "-q", "--no-embeddings", "--json", "-"])
        assert res.exit_code == 0, res.output  # faces off: OpenCV not needed, no note about it
        res = runner.invoke(app, ["score", str(sample_copy), "-q", "--no-embeddings", "--faces"])
        assert res.exit_code == 2
        err = res.stderr if hasattr(res, "stderr") else res.output
        # One command, the one for this install (the README's editable checkout here): issue 23.
        assert install_command("faces") in err and err.count("pip install") == 1
    finally:
        faces._load.cache_clear()


@needs_cv2
def test_a_cached_frame_gets_its_eyes_judged_when_a_mate_arrives(tmp_path):
    """P1 was culled alone (faces found, eyes never judged: no mate); P2 of the same burst is
    added later. The warm run decodes P2, judges P1's eyes from a fresh decode of P1 and
    flags it; the next run decodes nothing and keeps the flag (the verdict was cached)."""
    root = tmp_path / "portrait"
    t0 = datetime(2026, 5, 1, 9, 0, 0)
    save_jpeg(root / "P1.jpg", Image.open(DATA / "closed_00.jpg").convert("RGB"), t0, subsec=100)
    first = run(root, TechnicalScorer(), CullOptions(write=False, workers=1, faces=True))
    (p1,) = first.frames
    assert p1.analysis.faces.faces and p1.analysis.faces.faces[0].eyes_open is None
    save_jpeg(root / "P2.jpg", noisy(Image.open(DATA / "open_00.jpg").convert("RGB"), sigma=1.5, seed=1), t0, subsec=400)
    second = run(root, TechnicalScorer(), CullOptions(write=False, workers=1, faces=True))
    assert second.decoded == 1
    by_name = {fr.frame.name: fr for fr in second.frames}
    assert EYES_CLOSED in by_name["P1.jpg"].score.problems and by_name["P2.jpg"].rating.is_pick
    third = run(root, TechnicalScorer(), CullOptions(write=False, workers=1, faces=True))
    assert third.decoded == 0
    assert EYES_CLOSED in {fr.frame.name: fr for fr in third.frames}["P1.jpg"].score.problems


@needs_cv2
def test_face_checks_leave_the_technical_measures_unchanged(tmp_path):
    """With faces on, a JPEG is decoded as Y, Cb, Cr and the measures read Y: the very luma of
    the faces-off decode, so turning face checks on or off moves no score."""
    from photocull.analyse import AnalyseOptions, analyse_path

    path = tmp_path / "P.jpg"
    img = Image.open(DATA / "open_00.jpg").convert("RGB").resize((1200, 1400))
    save_jpeg(path, img, datetime(2026, 5, 1, 9, 0, 0))
    _, on = analyse_path(path, "jpeg", AnalyseOptions(faces=True))
    _, off = analyse_path(path, "jpeg", AnalyseOptions())
    assert on.faces.faces and on.metrics == off.metrics and (on.phash, on.dhash) == (off.phash, off.dhash)


@needs_cv2
def test_no_faces_in_real_photographs_without_people():
    """Debian's lomiri wallpapers (camera photographs: landscapes, a bridge, a dragonfly, two
    spaniels at a window) hold no human face. The detector proposes the dogs' faces and some
    texture; the Haar confirmation must drop every one."""
    from benchmarks import pick_data

    d = pick_data.find_photo_dir()
    if d is None:
        pytest.skip("lomiri-wallpapers-16.04 not unpacked here (python -m benchmarks pick fetches it)")
    detector = faces._load()[3]
    proposed = 0
    for path in sorted(d.glob("*.jpg")):
        luma = np.asarray(decode(path, "jpeg", mode="L").image)
        proposed += len(detector.detect(luma))
        assert faces.detect_faces(luma).faces == [], path.name
    assert proposed >= 2  # the spaniels: the confirmation had something to refuse
