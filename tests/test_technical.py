import json

import pytest

from photocull.analyse import analyse_path
from photocull.records import BLURRED, NOISY, OVEREXPOSED, UNDEREXPOSED, Series
from photocull.scorers.technical import TechnicalScorer, measure, score_series
from tests.conftest import SAMPLE, TRUTH, blurred, exposed, noisy, scene, shifted


def _metrics(img):
    return measure(img)


def test_blur_lowers_sharpness_noise_does_not_fake_it():
    base = scene(7, (800, 600))
    sharp = _metrics(base).sharpness
    assert _metrics(blurred(base, 2.0)).sharpness < sharp / 3
    # Noise reads as detail to a naive measure; ours removes its floor.
    assert _metrics(noisy(base, 15)).sharpness < sharp * 2.5


def test_exposure_measure_is_exposure_invariant_for_sharpness():
    base = scene(7, (800, 600))
    assert _metrics(exposed(base, -1.0)).sharpness == pytest.approx(_metrics(base).sharpness, rel=0.5)


def test_series_flags_and_ranking():
    base = scene(11, (800, 600))
    variants = {
        "clean": shifted(base, 2, 1),
        "blur": blurred(base, 3.0),
        "noise": noisy(base, 22),
        "over": exposed(base, 3.5),  # highlights clip
        "under": exposed(base, -2.5),
    }
    scores = dict(zip(variants, score_series([_metrics(v) for v in variants.values()])))
    assert max(scores, key=lambda k: scores[k].score) == "clean"
    assert scores["clean"].problems == []
    assert BLURRED in scores["blur"].problems
    assert NOISY in scores["noise"].problems
    assert OVEREXPOSED in scores["over"].problems
    assert UNDEREXPOSED in scores["under"].problems


def test_dark_scene_alone_is_not_underexposed():
    night = exposed(scene(5, (800, 600)), -1.5)
    (only,) = score_series([_metrics(night)])
    assert UNDEREXPOSED not in only.problems


def test_picks_ground_truth_best_in_every_sample_burst():
    truth = json.loads(TRUTH.read_text())
    for s in truth["series"]:
        analyses = [analyse_path(SAMPLE / f, "jpeg")[1] for f in s["frames"]]
        scores = TechnicalScorer().score([Series(0, list(range(len(analyses))))], analyses)
        best = max(range(len(scores)), key=lambda i: (not scores[i].problems, scores[i].score))
        assert s["frames"][best] == s["best"], (s["id"], [x.score for x in scores])
        assert scores[best].problems == []


# --- v2: one physically modelled defect per mate (benchmarks/pick_data.py), on generated and real crops ---

import io  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks import pick_data  # noqa: E402

FLAG_OF = {"defocus": BLURRED, "motion": BLURRED, "over": OVEREXPOSED, "under": UNDEREXPOSED, "noise": NOISY}


def _through_jpeg(u8: np.ndarray, quality: int = 92) -> Image.Image:
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _burst_verdicts(base: np.ndarray, level: str, seed: int = 3):
    """The clean frame and one mate per defect family, scored as one series."""
    rng = np.random.default_rng(seed)
    frames = {"clean": base}
    for fam in pick_data.FAMILIES:
        frames[fam] = pick_data.apply_defect(base, fam, level, rng)[0]
    metrics = [measure(_through_jpeg(u8)) for u8 in frames.values()]
    return dict(zip(frames, score_series(metrics)))


def _real_crop(size: int = 900) -> np.ndarray | None:
    d = pick_data.find_photo_dir()
    if d is None:
        return None
    cv = pick_data.canvas(d / "Bridge_by_Sander_Klootwijk.jpg", (0.5, 0.5, 0.45), size)
    return np.asarray(cv)[:size * 2 // 3, :size]


@pytest.mark.parametrize("level", ["strong", "subtle"])
def test_each_defect_loses_to_the_clean_frame_and_is_flagged_generated(level):
    verdicts = _burst_verdicts(np.asarray(scene(21, (900, 600))), level)
    clean = verdicts.pop("clean")
    assert clean.problems == []
    for fam, v in verdicts.items():
        assert v.score < clean.score, (fam, v.score, clean.score, v.components)
        if level == "strong" and fam in FLAG_OF:
            assert FLAG_OF[fam] in v.problems, (fam, v.problems)


@pytest.mark.parametrize("level", ["strong", "subtle"])
def test_each_defect_loses_to_the_clean_frame_and_is_flagged_real_photo(level):
    base = _real_crop()
    if base is None:
        pytest.skip("lomiri-wallpapers-16.04 not unpacked here (python -m benchmarks pick fetches it)")
    verdicts = _burst_verdicts(base, level)
    clean = verdicts.pop("clean")
    assert clean.problems == []
    for fam, v in verdicts.items():
        assert v.score < clean.score, (fam, v.score, clean.score, v.components)
        if fam in FLAG_OF and (level == "strong" or fam in ("over", "under")):  # light noise: scored, not always flagged
            assert FLAG_OF[fam] in v.problems, (fam, v.problems)


def test_clipping_does_not_pass_for_detail():
    """A blown frame has hard clip edges: they must not make it the sharpest."""
    base = np.asarray(scene(8, (800, 600)))
    over = pick_data.to_srgb(pick_data.to_linear(base) * 2.0**3)
    m_clean, m_over = measure(_through_jpeg(base)), measure(_through_jpeg(over))
    assert m_over.clipped_highlights > m_clean.clipped_highlights + 0.02
    clean, blown = score_series([m_clean, m_over, m_clean])[:2]
    assert clean.score > blown.score and OVEREXPOSED in blown.problems


def test_noise_is_reported_per_file_pixel():
    """A half-size draft decode halves white noise: the native scale restores it."""
    g = np.full((512, 512), 128.0) + np.random.default_rng(0).normal(0, 6, (512, 512))
    img = Image.fromarray(np.clip(g, 0, 255).astype(np.uint8))
    half = img.reduce(2)
    assert measure(img).noise == pytest.approx(6, rel=0.25)
    assert measure(half, native_scale=2.0).noise == pytest.approx(measure(img).noise, rel=0.3)


def test_heavy_jpeg_recompression_is_seen_as_blocks():
    base = np.asarray(scene(9, (800, 600)))
    clean = measure(_through_jpeg(base)).blockiness
    assert measure(_through_jpeg(np.asarray(_through_jpeg(base, 10)))).blockiness > 1.5 * clean
    # In a 1/2 draft decode the 8-px grid has a 4-px period: still found.
    half = lambda im: im.reduce(2)  # noqa: E731
    clean_half = measure(half(_through_jpeg(base)), native_scale=2.0).blockiness
    assert measure(half(_through_jpeg(np.asarray(_through_jpeg(base, 10)))), native_scale=2.0).blockiness > 1.3 * clean_half


def test_pick_benchmark_small_on_real_photos(tmp_path):
    """The pick benchmark end to end (render, real CLI, evaluation) on three real photographs."""
    d = pick_data.find_photo_dir()
    if d is None:
        pytest.skip("lomiri-wallpapers-16.04 not unpacked here (python -m benchmarks pick fetches it)")
    from benchmarks import pick_shoots
    from benchmarks.pick import evaluate_family, laplacian_variance, run_cli

    paths = [d / n for n in ("Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "seeding_by_Clements_Engelhardt.jpg")]
    rows = pick_shoots.render("lomiri", paths, "strong", tmp_path / "s", long_side=900, seed=5, workers=1)
    shoot = tmp_path / "s" / "shoot"
    peers = {"laplacian": {p.name: laplacian_variance(p) for p in shoot.glob("*.JPG")}}
    res = evaluate_family(rows, run_cli(shoot), peers)
    assert res["ari"] == 1.0
    assert res["best_of_burst_by_kind"]["mixed"]["rate"] == 1.0, res["lost_bursts"]
    assert set(res["peers_best_of_burst"]) == {"laplacian"}
    for flag in ("blurred", "noisy"):  # strong defects: flagged, and flags name what was done
        pr = res["flags"][flag]
        assert (pr["recall"] or 0) >= 0.8 and (pr["precision"] or 0) >= 0.8, (flag, pr)


def test_small_images_are_measured_and_blur_still_shows():
    """Training thumbnails are 64 px: the band ratio falls back to a coarser tile grid."""
    base = scene(4, (64, 64))
    assert measure(blurred(base, 2.0)).sharpness < measure(base).sharpness / 2
    with pytest.raises(ValueError):
        measure(scene(4, (40, 40)))


# --- JPEG history and clipping-proof exposure (issue 13: the subtle families) ---

from photocull.records import COMPRESSED  # noqa: E402
from photocull.scorers.measures import quantisation_step, table_step  # noqa: E402
from photocull.scorers.technical import _ev, _stops_between  # noqa: E402


def _natural(seed: int, size: tuple[int, int]) -> np.ndarray:
    """A photo-like RGB image: 1/f ("pink") texture, the power spectrum of natural scenes.

    Why not ``scene``: its pure sinusoids and flat discs give DCT coefficients a few
    exact values, a comb of their own that no camera photo has.
    """
    rng = np.random.default_rng(seed)
    w, h = size
    f = np.hypot(np.fft.rfftfreq(w)[None, :], np.fft.fftfreq(h)[:, None])
    f[0, 0] = 1.0
    chans = []
    for _ in range(3):
        spec = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f
        spec[0, 0] = 0.0
        chans.append(np.fft.irfft2(spec, s=(h, w)))
    a = np.stack(chans, axis=-1)
    return ((a - a.mean()) / a.std() * 45 + 120).clip(0, 255).astype(np.uint8)


def _jpeg_file(path, u8: np.ndarray, quality: int, *, resave: int | None = None) -> None:
    """``u8`` saved at ``quality``; with ``resave``, decoded and saved again at that quality (an edited export)."""
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, "JPEG", quality=quality)
    if resave is not None:
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=resave)
    path.write_bytes(buf.getvalue())


def test_quantisation_step_survives_a_fine_resave_and_the_draft_decode():
    """q30 then q92 (an edited or messaged frame): the q30 comb is still in the low-frequency DCT."""
    base = _natural(31, (1024, 768))
    once = np.asarray(_through_jpeg(base, 92).convert("L"), dtype=np.float32)
    twice = np.asarray(_through_jpeg(np.asarray(_through_jpeg(base, 30)), 92).convert("L"), dtype=np.float32)
    # IJG q30 scales the standard luma table by 5000/30 %: steps 18, 20, 20 for (0,1), (1,0), (1,1).
    assert quantisation_step(once, 1.0) < 6
    assert quantisation_step(twice, 1.0) == pytest.approx(19.3, abs=2.5)
    # A 1/2 draft decode (what analyse measures on a 2000 px file): 4 x 4 blocks carry the same comb.
    half = lambda a: np.asarray(Image.fromarray(a.astype(np.uint8)).reduce(2), dtype=np.float32)  # noqa: E731
    assert quantisation_step(half(twice), 2.0) == pytest.approx(19.3, abs=3.0)
    assert quantisation_step(half(once), 2.0) < 6
    # A scale with no whole block (1/3) is not guessed at.
    assert quantisation_step(twice, 8 / 3) == 0.0


def test_table_step_reads_the_file_header(tmp_path):
    from photocull.scorers.technical import jpeg_tables

    _jpeg_file(tmp_path / "q50.jpg", np.asarray(scene(2, (128, 96))), 50)
    assert table_step(jpeg_tables(tmp_path / "q50.jpg")) == pytest.approx((11 + 12 + 12) / 3)  # IJG q50 = the standard table
    (tmp_path / "not.jpg").write_bytes(b"not a jpeg")
    assert jpeg_tables(tmp_path / "not.jpg") is None and table_step(None) == 0.0


@pytest.mark.parametrize("resave", [None, 92], ids=["saved-at-q30", "q30-then-resaved-at-q92"])
def test_a_frame_compressed_at_q30_among_q92_mates_loses_and_is_flagged(tmp_path, resave):
    """The frame a q30 save has smoothed reads cleaner than its mates; it must lose, and say why."""
    base = _natural(17, (1200, 800))
    names = []
    for k, (dx, dy) in enumerate([(0, 0), (3, 1), (-2, 2), (1, -3)]):
        u8 = np.roll(base, (dy, dx), axis=(0, 1))
        _jpeg_file(tmp_path / f"f{k}.jpg", u8, 30 if k == 1 else 92, resave=resave if k == 1 else None)
        names.append(tmp_path / f"f{k}.jpg")
    analyses = [analyse_path(p, "jpeg")[1] for p in names]
    assert analyses[1].metrics.jpeg_step > 15 and max(a.metrics.jpeg_step for i, a in enumerate(analyses) if i != 1) < 6
    scores = TechnicalScorer().score([Series(0, [0, 1, 2, 3])], analyses)
    assert COMPRESSED in scores[1].problems
    assert all(COMPRESSED not in s.problems for i, s in enumerate(scores) if i != 1)
    assert scores[1].score < min(s.score for i, s in enumerate(scores) if i != 1), [s.score for s in scores]


def test_a_compressed_frame_never_sets_the_noise_reference():
    """Re-compression smooths grain: with it as the reference, the clean frames would be called noisy."""
    base = _natural(23, (900, 600))
    grainy = pick_data.apply_defect(base, "noise", "subtle", np.random.default_rng(0))[0]  # grain in every frame
    clean = measure(_through_jpeg(grainy))
    smoothed = measure(_through_jpeg(np.asarray(_through_jpeg(grainy, 25))))
    assert smoothed.noise < 0.7 * clean.noise and smoothed.jpeg_step > 15
    scores = score_series([clean, smoothed, clean])
    assert NOISY not in scores[0].problems and COMPRESSED in scores[1].problems
    assert scores[0].score > scores[1].score


def _high_key(size=(900, 600), seed=5) -> np.ndarray:
    """A high-key scene: a quarter of the frame blown sky, the rest bright textured ground."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    ground = 150 + 40 * np.sin(x / 23.0) * np.cos(y / 17.0) + rng.normal(0, 3, (h, w))
    img = np.where(y < h / 4, 255.0, ground)
    return np.repeat(img[..., None], 3, axis=2).clip(0, 255).astype(np.uint8)


def test_stops_are_measured_from_the_unclipped_quantiles():
    base = _high_key()
    over = pick_data.to_srgb(pick_data.to_linear(base) * 2.0**0.8)
    m_clean, m_over = measure(_through_jpeg(base)), measure(_through_jpeg(over))
    assert m_clean.clipped_highlights > 0.2
    assert _ev(m_over.exposure, m_clean.exposure) < 0.45  # the mean, diluted by the sky, reads under the flag
    assert _stops_between(m_over, m_clean) == pytest.approx(0.8, abs=0.1)
    assert _stops_between(m_clean, m_over) == pytest.approx(-0.8, abs=0.1)


def test_plus_0_8_ev_on_a_high_key_frame_with_clipped_sky_is_overexposed():
    base = _high_key()
    frames = {
        "clean": base,
        "shifted": np.roll(base, 3, axis=1),
        "soft": np.asarray(blurred(Image.fromarray(base), 1.0)),
        "over": pick_data.to_srgb(pick_data.to_linear(base) * 2.0**0.8),
    }
    scores = dict(zip(frames, score_series([measure(_through_jpeg(u8)) for u8 in frames.values()])))
    assert OVEREXPOSED in scores["over"].problems
    assert all(OVEREXPOSED not in s.problems for k, s in scores.items() if k != "over")
    assert scores["over"].score < scores["clean"].score


@pytest.mark.xfail(strict=True, reason="technical v4 regression, kept visible: grain resized with the photo makes the flat "
                   "tiles' fine-band energy (the per-tile noise floor, capped at 2x Immerkaer's sigma) take all of the "
                   "frame's detail, so its softened mates outrank it (docs/pick.md)")
def test_a_grainy_source_beats_its_softened_mates_when_they_are_the_majority():
    """Blur quietens grain: two soft mates must not make the one sharp, grainy-at-source frame 'noisy'.

    The grain is the source's, resized with the photo (as in the benchmark's photographs). Its
    limit: per-pixel white grain far finer than the scene's detail falls under blur faster than
    detail does, and then the soft mates still pass for clean.
    """
    rng = np.random.default_rng(4)
    source = pick_data.apply_defect(_natural(8, (1800, 1200)), "noise", "subtle", rng)[0]
    grainy = np.asarray(Image.fromarray(source).resize((900, 600), Image.Resampling.LANCZOS))
    frames = {
        "clean": grainy,
        "defocus": pick_data.apply_defect(grainy, "defocus", "subtle", rng)[0],
        "motion": pick_data.apply_defect(grainy, "motion", "strong", rng)[0],
    }
    metrics = [measure(_through_jpeg(u8)) for u8 in frames.values()]
    assert metrics[0].noise > 1.4 * max(m.noise for m in metrics[1:])  # the soft mates really are quieter
    scores = dict(zip(frames, score_series(metrics)))
    assert NOISY not in scores["clean"].problems
    assert max(scores, key=lambda k: scores[k].score) == "clean", {k: (v.score, v.problems) for k, v in scores.items()}


# --- the fast measures are the plain formulas ------------------------------------------------

from photocull.scorers import measures as _tech  # noqa: E402


def _reference_energy(tile: np.ndarray, noise: float) -> list[float]:
    """The textbook form: [1, -2, 1] along 4 directions, float64, clipped 3 x 3 neighbourhoods out."""
    g = tile.astype(np.float64)
    ok = (g > _tech.CLIP_LO) & (g < _tech.CLIP_HI)
    h, w = g.shape[0] - 2, g.shape[1] - 2
    valid = np.ones((h, w), dtype=bool)
    for dy in range(3):
        for dx in range(3):
            valid &= ok[dy : dy + h, dx : dx + w]
    c = g[1:-1, 1:-1]
    diffs = [g[1:-1, :-2] + g[1:-1, 2:] - 2 * c, g[:-2, 1:-1] + g[2:, 1:-1] - 2 * c,
             g[:-2, :-2] + g[2:, 2:] - 2 * c, g[:-2, 2:] + g[2:, :-2] - 2 * c]
    count = max(valid.sum(), 1)
    return [max(float((d * d * valid).sum()) / count - 6 * noise * noise, 0.0) for d in diffs]


@pytest.mark.parametrize("clipped", [False, True])
def test_stack_energy_equals_the_plain_formula(clipped):
    rng = np.random.default_rng(3)
    lo, hi = (0, 256) if clipped else (20, 230)
    stack = rng.integers(lo, hi, size=(7, 41, 23), dtype=np.uint8)  # 41 rows: chunks of 16 and a remainder
    got, count = _tech._stack_energy(stack, 1.5)
    for k in range(len(stack)):
        want = _reference_energy(stack[k], 1.5)
        assert [float(e[k]) for e in got] == pytest.approx(want, rel=1e-9, abs=1e-9)
    assert (count < 39 * 21).all() if clipped else (count == 39 * 21).all()


def test_box_means_are_exact():
    g = np.random.default_rng(4).integers(0, 256, size=(64, 96), dtype=np.uint8)
    want = g.reshape(16, 4, 24, 4).astype(np.float64).mean(axis=(1, 3))
    assert np.array_equal(_tech._box_means(g, 4).astype(np.float64), want)


def test_tile_windows_carry_each_tiles_halo():
    g = np.arange(36 * 50, dtype=np.float32).reshape(36, 50)
    win = _tech._tile_windows(g, 4)  # interior 34 x 48 -> tiles of 8 x 12 (+ 1-pixel halo)
    assert win.shape == (4, 4, 10, 14)
    assert np.array_equal(win[2, 3], g[16:26, 36:50])


def test_decode_workers_keep_freed_buffers():
    import subprocess
    import sys

    code = "from photocull.runtime import keep_freed_buffers; print(keep_freed_buffers())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ("True" if sys.platform.startswith("linux") else "False")


# --- v4: noise per level, soft series, brackets (issue 22) ---

from photocull.scorers.measures import NOISE_LEVELS  # noqa: E402


def _luma_noise(img: Image.Image, sigma: float, where: np.ndarray | None = None, blotch: float = 0.0, seed: int = 1) -> Image.Image:
    from scipy.ndimage import gaussian_filter

    a = np.asarray(img).astype(np.float32)
    n = np.random.default_rng(seed).normal(0, 1, a.shape[:2]).astype(np.float32)
    if blotch:
        n = gaussian_filter(n, blotch)
        n /= n.std()
    n *= sigma
    if where is not None:
        n *= where
    return Image.fromarray(np.clip(np.round(a + n[..., None]), 0, 255).astype(np.uint8))


def _sky_and_shadows(size=(960, 640)) -> Image.Image:
    """A bright flat sky over a dark, detailed ground (where read noise lives after the tone curve)."""
    a = np.asarray(scene(17, size)).astype(np.float32) * 0.35  # dark ground, levels ~0-90
    a[: size[1] // 3] = 225.0  # flat bright sky: the flattest tiles
    return Image.fromarray(a.astype(np.uint8))


def test_shadow_grain_is_measured_where_it_is_not_in_the_sky():
    """Grain only in the shadows: one sigma from the flattest tiles (the sky) misses it; the profile does not."""
    base = _sky_and_shadows()
    dark = (np.asarray(base.convert("L")) < 120).astype(np.float32)
    clean, grainy = measure(base), measure(_luma_noise(base, 9.0, dark))
    assert grainy.noise < 2.0  # the frame-wide sigma sees the clean sky
    shadow_bins = [i for i, hi in enumerate(NOISE_LEVELS[1:]) if hi <= 90]
    assert max(grainy.noise_levels[i] for i in shadow_bins) > 6.0
    assert grainy.noise_levels[-1] < 2.0  # the bright bin stays clean
    scores = score_series([clean, grainy, clean])
    assert NOISY in scores[1].problems and scores[0].score > scores[1].score


def test_blotchy_noise_is_seen():
    """Chroma noise's luma and smeared grain are blotchy: they are white at the 2 x 2-binned scale."""
    base = scene(9, (900, 600))
    clean, blotchy = measure(base), measure(_luma_noise(base, 8.0, blotch=1.2))
    assert max(blotchy.noise_levels) > 2.5 * max(max(clean.noise_levels), 1.0)
    assert NOISY in score_series([clean, blotchy, clean])[1].problems


def _upscaled(seed: int) -> Image.Image:
    """A small picture upscaled 3x: every frame of its series is soft."""
    small = scene(seed, (320, 220))
    return small.resize((960, 660), Image.Resampling.LANCZOS)


def test_soft_series_clean_frame_wins_and_is_not_blurred():
    base = _upscaled(12)
    frames = {"clean": base, "grain": _luma_noise(base, 8.0, seed=2), "blotchy": _luma_noise(base, 6.0, blotch=1.0, seed=3),
              "defocus": blurred(base, 2.5)}
    scores = dict(zip(frames, score_series([measure(_through_jpeg(np.asarray(f))) for f in frames.values()])))
    assert scores["clean"].problems == []
    assert NOISY in scores["grain"].problems and NOISY in scores["blotchy"].problems
    assert BLURRED in scores["defocus"].problems
    from photocull.pick import rank_series

    names = list(frames)
    ranked = rank_series(list(range(len(names))), [scores[n] for n in names])
    assert names[ranked[0]] == "clean"


def test_a_lone_soft_frame_is_blurred_on_the_absolute_threshold():
    (only,) = score_series([measure(blurred(_upscaled(12), 3.0))])
    assert BLURRED in only.problems


@pytest.mark.parametrize("direction", [-1, 1])
def test_bracket_clean_frame_at_either_end(direction):
    """A bracket (no two frames at one exposure): the frame that keeps the highlights and is brightest wins,
    whether the mates are all darker or all brighter."""
    base = np.asarray(scene(31, (900, 600)).convert("L").convert("RGB"))
    lin = pick_data.to_linear(base)
    # A tenth of the frame is bright, and nothing is clipped: a stop more clips it, a stop less keeps it.
    lin = np.minimum(lin * (0.6 / float(np.percentile(lin, 90))), 0.93)
    frames = [pick_data.to_srgb(lin * 2.0 ** (direction * 1.0 * k)) for k in range(4)]
    scores = score_series([measure(_through_jpeg(f)) for f in frames])
    assert not any(p in scores[0].problems for p in (OVEREXPOSED, UNDEREXPOSED)), scores[0].problems
    assert all((UNDEREXPOSED if direction < 0 else OVEREXPOSED) in s.problems for s in scores[1:])
    assert max(range(4), key=lambda i: scores[i].score) == 0


def test_every_scorer_takes_its_flags_from_one_merge():
    """CLIP prompts (a stand-in backbone) and the technical scorer name the same problems, series by series."""
    from photocull.records import Analysis
    from photocull.scorers.technical import with_technical_flags
    from photocull.scorers.clip_iqa import ClipIQAScorer

    base = scene(13, (800, 600))
    metrics = [measure(f) for f in (base, blurred(base, 3.0), noisy(base, 20), base)]
    rng = np.random.default_rng(0)
    analyses = [Analysis(800, 600, "0" * 16, "0" * 16, m, embedding=rng.normal(size=8).astype(np.float32)) for m in metrics]
    analyses[3].embedding = None  # no embedding: the technical score stands in
    series = [Series(0, [0, 1, 2])]  # frame 3 is in no series: "not scored"

    class Backbone:
        def embed_texts(self, texts):
            return np.random.default_rng(1).normal(size=(len(texts), 8))

    tech = TechnicalScorer().score(series, analyses)
    clip = ClipIQAScorer(Backbone()).score(series, analyses)
    assert [s.problems for s in clip] == [s.problems for s in tech]
    assert BLURRED in clip[1].problems and NOISY in clip[2].problems and clip[3].problems == ["not scored"]
    assert clip[0].score != tech[0].score  # the scorer's own score, the merge's flags
    merged = with_technical_flags(series, analyses, None, lambda i, t: t)
    assert [s.problems for s in merged] == [s.problems for s in tech]


# --- grain in a featureless scene ---------------------------------------------------------------


def _clouds(seed: int, size=(1200, 800)) -> np.ndarray:
    """A near-featureless scene (soft grey cloud), its own faint grain: nothing at the fine scale
    but what grain puts there."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.normal(0, 1, (size[1], size[0])), 25)
    field = 110 + 35 * field / field.std() + rng.normal(0, 0.6, field.shape)
    return np.clip(np.round(field), 0, 255).astype(np.uint8)


def test_heavy_grain_cannot_show_its_clean_mate_softened_over_a_featureless_scene():
    """Three of four frames carry heavy grain (sigma 8) over a grey cloud. The noise floor is a low
    percentile, a few per cent under the grain: over a featureless scene that remainder reads as
    more focus than the clean frame has, so the clean frame looked like the grainy frames'
    softened copy, a grainy frame became the noise reference and won unflagged. The floor's
    doubt (a tenth of the floor a frame carries beyond its mate's) keeps it from testifying."""
    from photocull.pick import rank_series
    from photocull.scorers.technical import _detail_shown

    base = _clouds(3)
    rng = np.random.default_rng(6)
    frames = [base] + [np.clip(np.round(base + rng.normal(0, 8.0, base.shape)), 0, 255).astype(np.uint8) for _ in range(3)]
    metrics = [measure(_through_jpeg(np.stack([f] * 3, axis=-1))) for f in frames]
    assert max(m.sharpness for m in metrics[1:]) > 10 * metrics[0].sharpness  # grain still reads as "detail" ...
    assert all(_detail_shown(m, metrics[0]) < 1.4 * metrics[0].sharpness for m in metrics[1:])  # ... but shows none
    scores = score_series(metrics)
    assert all(NOISY in s.problems for s in scores[1:]), [s.problems for s in scores]
    assert rank_series(list(range(4)), scores)[0] == 0 and scores[0].problems == [], [(s.score, s.problems) for s in scores]


def test_the_floors_doubt_leaves_a_clean_frame_with_faint_grain_alone():
    """A sharp frame with faint grain still shows its defocused mates softened (the doubt scales
    with the grain a frame carries beyond its mate's): they stay blurred, it stays the pick."""
    from photocull.scorers.technical import _detail_shown

    base = np.asarray(scene(23, (900, 600)))
    rng = np.random.default_rng(7)
    frames = [base] + [pick_data.apply_defect(base, "defocus", "subtle", rng)[0] for _ in range(2)]
    metrics = [measure(_through_jpeg(u8)) for u8 in frames]
    assert _detail_shown(metrics[0], metrics[1]) > 0.95 * metrics[0].sharpness
    scores = score_series(metrics)
    assert scores[0].problems == [] and all(BLURRED in s.problems for s in scores[1:]), [s.problems for s in scores]


# Measured by v7 on the benchmark's mate/strong "Storm" burst (a grey storm cloud, 1200 px): the
# clean frame's fine band is all floor (sharpness 0), its defocused and shaken mates keep a
# little fine detail but lost four fifths of the coarse structure, the noisy one reads grain.
_STORM_Q = [0.0154, 0.0234, 0.0442, 0.0561, 0.0627, 0.0683, 0.0722, 0.0757, 0.0794, 0.0835, 0.0872, 0.0914,
            0.0957, 0.101, 0.107, 0.1132, 0.1217, 0.1349, 0.1675]
_STORM = {
    "clean": dict(sharpness=0.0, sharpness_mean=0.00066, noise=0.31549, noise_levels=[0.5989, 0.8184, 0.8401, 0.0, 0.0],
                  blockiness=1.67149, exposure=0.08742, floor_share=0.11325, structure=20.08432),
    "noise": dict(sharpness=1.22127, sharpness_mean=1.69318, noise=14.3214, noise_levels=[14.27, 14.8077, 14.6634, 0.0, 0.0],
                  blockiness=1.00621, exposure=0.09104, floor_share=44.34425, structure=29.47291),
    "defocus": dict(sharpness=0.07658, sharpness_mean=0.10632, noise=0.04488, noise_levels=[0.0936, 0.1329, 0.1807, 0.0, 0.0],
                    blockiness=2.3392, exposure=0.08661, floor_share=0.01639, structure=4.09701),
    "motion": dict(sharpness=0.04645, sharpness_mean=0.06187, noise=0.11782, noise_levels=[0.2007, 0.2565, 0.283, 0.0, 0.0],
                   blockiness=2.10462, exposure=0.08628, floor_share=0.06766, structure=4.99416),
}


def test_where_the_fine_band_is_all_floor_the_coarse_structure_shows_the_blur():
    """A featureless frame's fine band holds only its floor, and a defocused mate's coarse band fell
    more than its fine band, so fine-over-coarse ranked the blurred mates first. Coarse structure
    halved (and more) is the blur step: the clean frame wins, the soft mates are blurred."""
    from photocull.pick import rank_series
    from dataclasses import replace

    from photocull.records import TechnicalMetrics

    names = list(_STORM)
    metrics = [TechnicalMetrics(clipped_highlights=0.0, clipped_shadows=0.0, mean_luma=0.312, contrast=0.087,
                                exposure_quantiles=_STORM_Q, jpeg_step=2.0, **_STORM[n]) for n in names]
    scores = dict(zip(names, score_series(metrics)))
    assert scores["clean"].problems == [], scores["clean"]
    assert BLURRED in scores["defocus"].problems and BLURRED in scores["motion"].problems
    assert NOISY in scores["noise"].problems
    assert names[rank_series(list(range(4)), list(scores.values()))[0]] == "clean"
    # Without the structure (caches of metrics version 2), the fine band alone decides as before.
    flat = [replace(m, structure=0.0) for m in metrics]
    assert names[rank_series(list(range(4)), score_series(flat))[0]] != "clean"
