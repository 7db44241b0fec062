import json

import numpy as np

from photocull.analyse import analyse_path
from photocull.group import GroupOptions, group_frames
from photocull.hashing import hamming_matrix, hash_bits, perceptual_hashes
from photocull.scan import scan
from tests.conftest import SAMPLE, TRUTH, blurred, scene, shifted


def test_hashes_are_near_for_jitter_far_for_other_scenes():
    a = scene(1)
    h = [perceptual_hashes(x) for x in (a, shifted(a, 4, 3), blurred(a, 1.5), scene(2))]
    bits = hash_bits([x.phash for x in h])
    d = hamming_matrix(bits)
    assert d[0, 1] <= 10 and d[0, 2] <= 10
    assert d[0, 3] >= 20


def _groups(times, hashes, emb=None, **kw):
    series = group_frames(times, [h.phash for h in hashes], [h.dhash for h in hashes], emb, GroupOptions(**kw))
    return sorted(sorted(s.members) for s in series)


def test_time_gap_splits_identical_frames():
    h = perceptual_hashes(scene(1))
    assert _groups([0, 1, 100, 101], [h] * 4) == [[0, 1], [2, 3]]
    assert _groups([0, 1, 100, 101], [h] * 4, max_gap=200) == [[0, 1, 2, 3]]


def test_content_splits_frames_close_in_time():
    a, b = scene(1), scene(2)
    hashes = [perceptual_hashes(x) for x in (a, shifted(a, 2, 2), b, shifted(b, 1, 3))]
    assert _groups([0, 0.3, 0.6, 0.9], hashes) == [[0, 1], [2, 3]]


def test_interleaved_bursts_stay_apart():
    a, b = scene(1), scene(2)
    frames = [shifted(a, 0, 0), shifted(b, 0, 0), shifted(a, 2, 1), shifted(b, 1, 2), shifted(a, -2, 1), shifted(b, 3, 0)]
    hashes = [perceptual_hashes(x) for x in frames]
    assert _groups([0, 0.5, 1, 1.5, 2, 2.5], hashes) == [[0, 2, 4], [1, 3, 5]]


def test_embeddings_join_what_hashes_miss():
    a, b = scene(1), scene(2)
    hashes = [perceptual_hashes(a), perceptual_hashes(b)]
    assert _groups([0, 1], hashes) == [[0], [1]]
    same = np.array([[1.0, 0.0], [0.999, 0.0447]], dtype=np.float32)
    assert _groups([0, 1], hashes, same) == [[0, 1]]
    different = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert _groups([0, 1], hashes, different) == [[0], [1]]


def test_no_chaining_across_a_slow_drift():
    """Each frame is close to the previous one, but the first and last differ: no single series."""
    base = np.asarray(scene(3, (640, 480)))
    frames = []
    for k in range(12):  # pan across a wide scene: 40 px per frame
        wide = np.concatenate([base, np.asarray(scene(4, (640, 480)))], axis=1)
        from PIL import Image

        frames.append(Image.fromarray(wide[:, k * 40 : k * 40 + 640]))
    hashes = [perceptual_hashes(f) for f in frames]
    groups = _groups([k * 2.0 for k in range(12)], hashes)
    assert len(groups) > 1
    assert max(len(g) for g in groups) < 12


def test_sample_shoot_grouping_matches_ground_truth():
    truth = json.loads(TRUTH.read_text())
    found = scan(SAMPLE).files
    rows = [analyse_path(f.path, f.fmt) for f in found]
    rels = [str(f.path.relative_to(SAMPLE)) for f in found]
    series = group_frames(
        [fr.capture_time for fr, _ in rows], [a.phash for _, a in rows], [a.dhash for _, a in rows]
    )
    got = sorted(sorted(rels[i] for i in s.members) for s in series)
    want = sorted([sorted(s["frames"]) for s in truth["series"]] + [[s["frame"]] for s in truth["singletons"]])
    assert got == want


def test_our_phash_is_imagehash_phash_bit_for_bit():
    import imagehash

    from photocull.hashing import phash

    for seed in range(12):
        gray = scene(seed, (300, 200)).convert("L")
        assert str(phash(gray)) == str(imagehash.phash(gray))
