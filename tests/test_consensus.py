"""The series as its own reference: registration on the small copies, and measures against the consensus."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from PIL import Image, ImageFilter

from photocull.records import NOISY
from photocull.scorers import consensus as cons
from photocull.scorers import registration as reg
from photocull.scorers.measures import make_thumb
from photocull.scorers.technical import TechnicalThresholds, measure, score_series
from tests.test_technical import _natural, _through_jpeg

ON = TechnicalThresholds(series_consensus=True)  # the consensus is an option (off by default: docs/pick.md)


def _smooth_scene(seed: int, size: tuple[int, int]) -> np.ndarray:
    """Luma of a photo-like scene (1/f texture, a little smoothed: a lens's own softness)."""
    g = Image.fromarray(_natural(seed, size)).convert("L").filter(ImageFilter.GaussianBlur(1.0))
    return np.asarray(g, dtype=np.float32)


def _view(canvas: np.ndarray, shape: tuple[int, int], zoom: float, angle_deg: float, dx: float, dy: float) -> np.ndarray:
    """The canvas seen by a frame of ``shape`` whose pixel x lies at the canvas centre + the mapping of x."""
    m = reg.Registration(zoom, math.radians(angle_deg), dx, dy, 1.0).matrix()
    v, inside = reg.warp(canvas, m, shape)
    assert inside.all()
    return v


@pytest.mark.parametrize("zoom, angle, dx, dy", [(1.0, 0.0, 3.4, -2.6), (1.03, 0.6, -5.3, 1.2), (0.95, -1.2, 8.7, 4.1), (1.2, 0.3, 0.0, 0.0)])
def test_registration_recovers_shift_zoom_and_rotation(zoom, angle, dx, dy):
    canvas = _smooth_scene(5, (520, 400))
    shape = (200, 300)
    ref = _view(canvas, shape, 1.0, 0.0, 0.0, 0.0)
    mov_of_ref = np.linalg.inv(reg.Registration(zoom, math.radians(angle), dx, dy, 1.0).matrix())
    mov = reg.warp(canvas, mov_of_ref, shape)[0]  # ref's pixel x lies at (zoom, angle, dx, dy) x in mov
    noise = np.random.default_rng(1).normal(0.0, 3.0, shape)
    got = reg.register(ref.round().astype(np.uint8), np.clip(mov + noise, 0, 255).round().astype(np.uint8))
    assert got.zoom == pytest.approx(zoom, abs=0.004)
    assert math.degrees(got.angle) == pytest.approx(angle, abs=0.1)
    assert (got.dx, got.dy) == pytest.approx((dx, dy), abs=0.3)
    assert got.confidence > 0.9


def test_registration_confidence_is_low_for_unrelated_pictures():
    a = _smooth_scene(5, (300, 200)).astype(np.uint8)
    b = _smooth_scene(6, (300, 200)).astype(np.uint8)
    assert reg.register(a, b).confidence < 0.3


def test_thumb_round_trip_and_damage():
    t = make_thumb(np.random.default_rng(0).integers(0, 256, (1067, 1600), dtype=np.uint8))
    assert t.shape == (213, 320)  # 1600 px reduced 5 x: at most THUMB_SIDE across
    assert np.array_equal(reg.decode_thumb(reg.encode_thumb(t)), t)
    assert reg.decode_thumb("") is None
    assert reg.decode_thumb("12x12:AAAA") is None  # too small and not zlib
    assert reg.decode_thumb(reg.encode_thumb(t)[:-8]) is None  # truncated


def test_leave_one_out_medians_are_the_medians_of_the_others():
    rng = np.random.default_rng(2)
    for n in (3, 4, 5, 6, 7):
        stack = [rng.normal(size=(6, 5)).astype(np.float32) for _ in range(n)]
        stack[1][0, 0] = stack[2][0, 0]  # ties
        got = cons.leave_one_out_medians(stack)
        for i in range(n):
            want = np.median(np.stack([s for j, s in enumerate(stack) if j != i]), axis=0)
            np.testing.assert_allclose(got[i], want)


# --- a handheld burst: one scene, each frame a little shifted, turned and zoomed ----------------

_JITTER = [(1.0, 0.0, 0.0, 0.0), (1.004, 0.3, 6.2, -3.1), (0.996, -0.2, -4.4, 5.3), (1.006, 0.4, 2.7, 7.9), (0.995, -0.3, -7.1, -2.2)]


def _burst(defects: dict[int, str], seed: int = 11) -> list[np.ndarray]:
    """Five RGB frames of one scene at 900 x 600 with handheld jitter; ``defects``: frame -> 'noise' / 'blur'."""
    rgb = _natural(seed, (1100, 800)).astype(np.float32)
    rng = np.random.default_rng(seed)
    frames = []
    for k, (zoom, angle, dx, dy) in enumerate(_JITTER):
        chans = [_view(rgb[..., c], (600, 900), zoom, angle, dx, dy) for c in range(3)]
        u8 = np.clip(np.stack(chans, axis=-1), 0, 255).round().astype(np.uint8)
        u8 = np.asarray(Image.fromarray(u8).filter(ImageFilter.GaussianBlur(0.7)))  # the lens
        if defects.get(k) == "noise":  # blotchy grain (3 x 3 correlated, sigma 40): it passes the no-reference floor
            grain = reg.box(rng.normal(0.0, 40.0, u8.shape[:2]).astype(np.float32), 1) * 3.0
            u8 = np.clip(u8 + grain[..., None], 0, 255).round().astype(np.uint8)
        elif defects.get(k) == "blur":
            u8 = np.asarray(Image.fromarray(u8).filter(ImageFilter.GaussianBlur(2.5)))
        frames.append(u8)
    return frames


@pytest.fixture(scope="module")
def burst_metrics():
    return [measure(_through_jpeg(u8)) for u8 in _burst({1: "noise", 3: "blur"})]


def test_every_frame_of_a_registered_burst_is_measured_against_the_series(burst_metrics):
    scores = score_series(burst_metrics, ON)
    assert [s.reference for s in scores] == ["series"] * 5
    assert [s.reference for s in score_series(burst_metrics)] == ["none"] * 5  # the default: no-reference measures


def test_a_noisy_frame_loses_to_the_clean_one_against_the_consensus_even_when_its_grain_raises_the_fine_band(burst_metrics):
    clean, noisy = burst_metrics[0], burst_metrics[1]
    assert noisy.sharpness_mean > 1.2 * clean.sharpness_mean  # without a reference, the grain reads as more fine detail
    thumbs = [reg.decode_thumb(m.thumb) for m in burst_metrics]
    measures = cons.consensus_measures(thumbs, [1.0] * len(thumbs))
    assert measures[1].grain > 2.0 * max(m.grain for i, m in enumerate(measures) if i != 1)
    # The no-reference noise judgement switched off (out of reach): the consensus alone flags it.
    blind = dataclasses.replace(ON, noise_rel=1e9, noise_abs=1e9)
    scores = score_series(burst_metrics, blind)
    assert NOISY in scores[1].problems and NOISY not in scores[0].problems
    assert scores[0].score > scores[1].score


def test_a_softened_frame_has_less_detail_against_the_consensus(burst_metrics):
    thumbs = [reg.decode_thumb(m.thumb) for m in burst_metrics]
    measures = cons.consensus_measures(thumbs, [1.0] * len(thumbs))
    assert measures[3].detail < 0.8 * measures[0].detail
    assert measures[3].grain < measures[1].grain  # blur is a filter of the scene: explained, not grain
    scores = score_series(burst_metrics, ON)
    assert scores[0].score > scores[3].score


def test_singletons_pairs_and_unrelated_frames_fall_back_and_say_so(burst_metrics):
    assert score_series(burst_metrics[:1], ON)[0].reference == "none"
    assert [s.reference for s in score_series(burst_metrics[:2], ON)] == ["none", "none"]  # a pair: whose grain is whose?
    others = [measure(_through_jpeg(_natural(seed, (900, 600)))) for seed in (21, 22)]
    mixed = score_series([burst_metrics[0], *others], ON)
    assert [s.reference for s in mixed] == ["none"] * 3  # nothing registers: no consensus
    no_thumbs = [dataclasses.replace(m, thumb="") for m in burst_metrics]  # an old cache entry
    assert {s.reference for s in score_series(no_thumbs, ON)} == {"none"}


def _score_json(shoot) -> dict:
    import json

    from typer.testing import CliRunner

    from photocull.cli import app

    res = CliRunner().invoke(app, ["score", str(shoot), "--no-embeddings", "--no-faces", "-q", "--json", "-"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_the_small_copy_is_kept_only_when_the_consensus_is_on(burst_shoot):
    """Off (the default) the frames keep no small copy and the cache holds none; turning it on in
    photocull.toml measures the cached frames again (their copies are missing) and the report says
    which bursts were measured against their series."""
    import json
    import sqlite3

    off = _score_json(burst_shoot)
    assert {f["reference"] for f in off["files"]} == {"none"}
    with sqlite3.connect(burst_shoot / ".photocull" / "cache.sqlite") as db:
        stored = [json.loads(m) for (m,) in db.execute("select metrics from analysis")]
    assert len(stored) == 7 and all(m.get("thumb", "") == "" for m in stored)
    (burst_shoot / "photocull.toml").write_text("[technical]\nseries_consensus = true\n")
    on = _score_json(burst_shoot)
    by_name = {f["path"]: f["reference"] for f in on["files"]}
    assert by_name["A2.jpg"] == "series" and by_name["C1.jpg"] == "none"  # a 4-frame burst, a singleton
    with sqlite3.connect(burst_shoot / ".photocull" / "cache.sqlite") as db:
        stored = [json.loads(m) for (m,) in db.execute("select metrics from analysis")]
    assert len(stored) == 7 and all(m["thumb"] for m in stored)  # measured again, with their copies


def test_a_planted_small_copy_never_inflates_past_its_declared_size():
    """The cache travels with the shoot: a copy that claims a huge size, or whose data inflates to
    gigabytes, is refused without inflating it (the frame falls back to no reference)."""
    import base64
    import zlib

    import tracemalloc

    bomb = base64.b64encode(zlib.compress(b"\0" * (128 << 20), 9)).decode()  # 128 MiB of zeros, ~170 KB packed
    tracemalloc.start()
    try:
        assert reg.decode_thumb(f"200x300:{bomb}") is None  # inflates past 200 x 300: refused at that point
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # never the 128 MiB
    assert reg.decode_thumb(f"8192x8192:{bomb}") is None  # larger than any copy photocull makes
    assert reg.decode_thumb(f"-200x-300:{bomb}") is None
    good = reg.encode_thumb(np.full((200, 300), 7, np.uint8))
    assert reg.decode_thumb(good).shape == (200, 300)
