"""The SQLite cache: round trips, identity across renames, damage, concurrency, schema changes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from photocull.cache import store as cache_mod
from photocull.cache import Cache, FileIdent, content_hash, default_user_cache_dir, shoot_cache_path
from photocull.records import Analysis, FrameScore, TechnicalMetrics

REPO = Path(__file__).resolve().parents[1]


def _photo(path: Path, size: int = 200_000, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def _metrics(x: float = 1.0) -> TechnicalMetrics:
    return TechnicalMetrics(sharpness=x, sharpness_mean=x / 2, clipped_highlights=0.01,
                            clipped_shadows=0.02, mean_luma=0.5, contrast=0.2, noise=1.5, noise_levels=[1.5] * 5,
                            blockiness=1.0, exposure=0.2, exposure_quantiles=(0.05, 0.2, 0.6), jpeg_step=2.0)


@pytest.fixture
def shoot(tmp_path) -> Path:
    d = tmp_path / "shoot"
    for i in range(3):
        _photo(d / f"IMG_{i:04d}.JPG", seed=i)
    return d


# --------------------------------------------------------------------------------------------


def test_content_hash_definition(tmp_path):
    small = _photo(tmp_path / "small.bin", 1000)
    big = _photo(tmp_path / "big.bin", 300_000, seed=1)
    assert content_hash(small) == content_hash(small, 1000)
    assert len(content_hash(big)) == 32
    copy = tmp_path / "copy.bin"
    copy.write_bytes(big.read_bytes())
    assert content_hash(copy) == content_hash(big)
    data = bytearray(big.read_bytes())
    data[10] ^= 1  # head
    copy.write_bytes(bytes(data))
    assert content_hash(copy) != content_hash(big)
    data = bytearray(big.read_bytes())
    data[-10] ^= 1  # tail
    copy.write_bytes(bytes(data))
    assert content_hash(copy) != content_hash(big)


def test_locations(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_user_cache_dir() == tmp_path / "xdg" / "photocull"
    assert shoot_cache_path(tmp_path / "s") == tmp_path / "s" / ".photocull" / "cache.sqlite"
    with Cache.for_shoot(tmp_path / "s") as c:
        assert c.enabled and c.path == tmp_path / "s" / ".photocull" / "cache.sqlite"
        assert c.key_for(tmp_path / "s" / "a" / "b.jpg") == "a/b.jpg"
        assert c.key_for(tmp_path / "elsewhere.jpg") == (tmp_path / "elsewhere.jpg").as_posix()
    with Cache.for_shoot(tmp_path / "s", user_cache=True) as c:
        assert c.path == tmp_path / "xdg" / "photocull" / "cache.sqlite"
        assert c.key_for(tmp_path / "s" / "x.jpg") == (tmp_path / "s" / "x.jpg").as_posix()


def test_round_trips(shoot):
    files = sorted(shoot.iterdir())
    with Cache.for_shoot(shoot) as c:
        ids = [c.identify(f) for f in files]
        assert ids[0].key == "IMG_0000.JPG"
        assert c.get_analysis(ids[0]) is None
        c.put_analysis(ids[0], {"capture_time": 1.7e9, "orientation": 6, "width": 4000,
                                "height": 3000, "phash": "ff00", "dhash": "00ff",
                                "metrics": _metrics(2.0), "camera": "X T5"})
        c.put_analysis(ids[1], Analysis(width=10, height=20, phash="a", dhash="b",
                                        metrics=_metrics(), image=np.zeros((2, 2, 3), np.uint8)))
        a0 = c.get_analysis(ids[0])
        assert a0 == {"capture_time": 1.7e9, "orientation": 6, "width": 4000, "height": 3000,
                      "phash": "ff00", "dhash": "00ff", "metrics": vars(_metrics(2.0)),
                      "camera": "X T5"}
        assert TechnicalMetrics(**a0["metrics"]) == _metrics(2.0)
        a1 = c.get_analysis(ids[1])
        assert a1["width"] == 10 and "image" not in a1 and "embedding" not in a1
        assert set(c.get_analyses(ids)) == {ids[0], ids[1]}

        vecs = np.random.default_rng(0).standard_normal((3, 512)).astype(np.float32)
        c.put_embeddings(ids, "ViT-B-16|openai", vecs)
        got = c.get_embeddings(ids, "ViT-B-16|openai")
        for i, ident in enumerate(ids):
            assert got[ident].dtype == np.float32
            np.testing.assert_array_equal(got[ident], vecs[i])
        assert c.get_embeddings(ids, "other-model") == {}
        got[ids[0]][0] = 0.0  # returned arrays are writable copies

        c.put_scores([(ids[0], FrameScore(7.5, {"aesthetic": 7.0}, ["noisy"])),
                      (ids[1], {"score": 3.0})], "clip_iqa@1")
        s = c.get_scores(ids, "clip_iqa@1")
        assert s == {ids[0]: {"score": 7.5, "components": {"aesthetic": 7.0}, "problems": ["noisy"], "reference": ""},
                     ids[1]: {"score": 3.0}}
        assert c.get_scores(ids, "clip_iqa@2") == {}

        assert c.stats()["embeddings"] == 3
        assert c.warnings == []
    # persisted
    with Cache.for_shoot(shoot) as c:
        assert c.get_analysis(c.identify(files[0]))["orientation"] == 6


def test_fast_path_skips_hashing_and_changes_miss(shoot, monkeypatch):
    f = sorted(shoot.iterdir())[0]
    with Cache.for_shoot(shoot) as c:
        ident = c.identify(f)
        c.put_analysis(ident, {"width": 1})
        monkeypatch.setattr(cache_mod, "content_hash", lambda *a, **k: pytest.fail("hashed"))
        assert c.identify(f) == ident
        assert c.lookup(ident.key, ident.size, ident.mtime_ns) == ident
        assert c.lookup(ident.key, ident.size, ident.mtime_ns + 1) is None
    monkeypatch.undo()
    _photo(f, seed=99)  # new content at the same path
    with Cache.for_shoot(shoot) as c:
        new = c.identify(f)
        assert new.content_hash != ident.content_hash
        assert c.get_analysis(new) is None


def test_entries_survive_rename_and_move(shoot):
    f = sorted(shoot.iterdir())[0]
    with Cache.for_shoot(shoot) as c:
        ident = c.identify(f)
        c.put_analysis(ident, {"phash": "abcd"})
        c.put_embeddings([ident], "m", np.ones((1, 4), np.float32))
    moved = shoot / "keepers" / "renamed.jpg"
    moved.parent.mkdir()
    os.replace(f, moved)
    os.utime(moved, ns=(1, 1))  # a copy tool may not keep mtime either
    with Cache.for_shoot(shoot) as c:
        assert c.lookup("keepers/renamed.jpg", moved.stat().st_size, moved.stat().st_mtime_ns) is None
        new = c.identify(moved)
        assert new.key == "keepers/renamed.jpg" and new.content_hash == ident.content_hash
        assert c.get_analysis(new) == {"phash": "abcd"}
        assert new in c.get_embeddings([new], "m")
        c.remember([new])
        assert c.lookup(new.key, new.size, new.mtime_ns) == new


def test_scores_stored_by_content_scorer_and_version(shoot):
    """A warm run can take a model scorer's FrameScores from the cache (no model load)."""
    from photocull.cache import scores_key

    files = sorted(shoot.iterdir())[:2]
    key = scores_key("fgaesq", "1", weights="ab12")
    with Cache.for_shoot(shoot) as c:
        ids = [c.identify(f) for f in files]
        c.store_scores([(ids[0], FrameScore(7.25, {"aesthetic": 7.0}, ["noisy"]))], key)
        assert c.load_scores(ids, key) == {ids[0]: FrameScore(7.25, {"aesthetic": 7.0}, ["noisy"])}
        # Another version or other weights miss; a foreign row is a miss, not an error.
        assert c.load_scores(ids, scores_key("fgaesq", "2", weights="ab12")) == {}
        assert c.load_scores(ids, scores_key("fgaesq", "1", weights="cd34")) == {}
        c.put_scores([(ids[1], {"something": "else"})], key)
        assert set(c.load_scores(ids, key)) == {ids[0]}
    with Cache.for_shoot(shoot) as c:  # persisted, found again by identity
        assert c.load_scores([c.identify(files[0])], key)[c.identify(files[0])].score == 7.25


def test_relink_after_metadata_write(shoot):
    f = sorted(shoot.iterdir())[0]
    with Cache.for_shoot(shoot) as c:
        old = c.identify(f)
        c.put_analysis(old, {"width": 5})
        c.put_scores([(old, {"score": 1.0})], "t@1")
        data = bytearray(f.read_bytes())
        data[20] ^= 0xFF  # "a rating written into the EXIF block"
        f.write_bytes(bytes(data))
        new = c.identify(f)
        assert new.content_hash != old.content_hash and c.get_analysis(new) is None
        c.relink(old, new)
        assert c.get_analysis(new) == {"width": 5}
        assert c.get_scores([new], "t@1") == {new: {"score": 1.0}}
        assert c.identify(f) == new


def test_many_idents_in_one_batch(tmp_path):
    ids = [FileIdent(f"f{i}.jpg", i, i, f"{i:032x}") for i in range(1300)]
    vecs = np.random.default_rng(1).standard_normal((1300, 8)).astype(np.float32)
    with Cache.open(tmp_path / "c.sqlite") as c:
        c.put_embeddings(ids, "m", vecs)
        c.put_analyses([(i, {"width": n}) for n, i in enumerate(ids)])
        got = c.get_embeddings(ids, "m")
        assert len(got) == 1300
        np.testing.assert_array_equal(got[ids[1234]], vecs[1234])
        assert len(c.get_analyses(ids)) == 1300
        with pytest.raises(ValueError):
            c.put_embeddings(ids[:2], "m", vecs[:3])


def _fill(path: Path, n: int = 400) -> list[FileIdent]:
    ids = [FileIdent(f"f{i}.jpg", i, i, f"{i:032x}") for i in range(n)]
    with Cache.open(path) as c:
        c.put_embeddings(ids, "m", np.ones((n, 256), np.float32))
        c.put_analyses([(i, {"phash": "x" * 64}) for i in ids])
    return ids


def test_garbage_file_is_moved_aside_and_rebuilt(tmp_path):
    path = tmp_path / ".photocull" / "cache.sqlite"
    path.parent.mkdir()
    path.write_bytes(b"this is not a database" * 100)
    with Cache.open(path) as c:
        assert c.enabled
        assert any("damaged" in w for w in c.warnings)
        ident = FileIdent("a.jpg", 1, 1, "a" * 32)
        c.put_analysis(ident, {"width": 1})
        assert c.get_analysis(ident) == {"width": 1}
    aside = [p for p in path.parent.iterdir() if p.name.startswith("cache.sqlite.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")


def test_truncated_file_is_moved_aside_and_rebuilt(tmp_path):
    path = tmp_path / "cache.sqlite"
    ids = _fill(path)
    assert not (tmp_path / "cache.sqlite-wal").exists() or (tmp_path / "cache.sqlite-wal").stat().st_size == 0
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with Cache.open(path) as c:
        assert c.enabled and any("damaged" in w for w in c.warnings)
        assert c.get_embeddings(ids, "m") == {}
        c.put_analysis(ids[0], {"width": 2})
        assert c.get_analysis(ids[0]) == {"width": 2}
    assert any(p.name.startswith("cache.sqlite.corrupt-") for p in tmp_path.iterdir())


def test_damage_during_a_run_is_not_fatal(tmp_path):
    path = tmp_path / "cache.sqlite"
    ids = _fill(path, 50)
    with Cache.open(path) as c:
        c._conn.close()  # simulate a connection that went bad under us
        assert c.get_analysis(ids[0]) is None
        c.put_analysis(ids[0], {"width": 1})  # no exception
        assert c.warnings


def test_schema_bump_rebuilds(tmp_path, monkeypatch):
    path = tmp_path / "cache.sqlite"
    ids = _fill(path, 10)
    with Cache.open(path) as c:
        assert len(c.get_analyses(ids)) == 10
    monkeypatch.setattr(cache_mod, "SCHEMA_VERSION", cache_mod.SCHEMA_VERSION + 1)
    with Cache.open(path) as c:
        assert c.get_analyses(ids) == {} and c.get_embeddings(ids, "m") == {}
        c.put_analysis(ids[0], {"width": 3})
        assert c.get_analysis(ids[0]) == {"width": 3}
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(cache_mod.SCHEMA_VERSION,)]
    conn.close()


def test_wal_mode(tmp_path):
    with Cache.open(tmp_path / "c.sqlite") as c:
        assert c._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c._conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_concurrent_writers_threads(tmp_path):
    path = tmp_path / "c.sqlite"
    errors: list[BaseException] = []
    warnings: list[str] = []

    def writer(w: int):
        try:
            with Cache.open(path) as c:
                for b in range(25):
                    ids = [FileIdent(f"w{w}/{b}/{i}", i, i, f"{w:04d}{b:04d}{i:024d}") for i in range(20)]
                    c.put_embeddings(ids, "m", np.full((20, 16), w, np.float32))
                    c.put_scores([(i, {"w": w}) for i in ids], "s@1")
                    assert len(c.get_embeddings(ids, "m")) == 20
                warnings.extend(c.warnings)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and warnings == []
    with Cache.open(path) as c:
        assert c.stats()["embeddings"] == 4 * 25 * 20
        assert c.stats()["scores"] == 4 * 25 * 20


def test_one_cache_shared_by_threads(tmp_path):
    errors: list[BaseException] = []
    with Cache.open(tmp_path / "c.sqlite") as c:
        def work(w: int):
            try:
                for b in range(20):
                    ids = [FileIdent(f"{w}/{b}/{i}", i, i, f"{w:04d}{b:04d}{i:024d}") for i in range(10)]
                    c.put_analyses([(i, {"w": w}) for i in ids])
                    assert len(c.get_analyses(ids)) == 10
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and c.warnings == []
        assert c.stats()["analysis"] == 4 * 20 * 10


def test_concurrent_writers_processes(tmp_path):
    path = tmp_path / "c.sqlite"
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(REPO)!r})
        from photocull.cache import Cache, FileIdent
        w = int(sys.argv[1])
        with Cache.open({str(path)!r}) as c:
            for b in range(40):
                ids = [FileIdent(f"p{{w}}/{{b}}/{{i}}", i, i, f"{{w:04d}}{{b:04d}}{{i:024d}}") for i in range(25)]
                c.put_embeddings(ids, "m", np.full((25, 16), w, np.float32))
                c.put_analyses([(i, {{"w": w}}) for i in ids])
            assert not c.warnings, c.warnings
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(w)], stderr=subprocess.PIPE)
             for w in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
    with Cache.open(path) as c:
        assert c.stats()["embeddings"] == 3 * 40 * 25
        assert c.stats()["analysis"] == 3 * 40 * 25


def test_unwritable_location_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    target = blocker / ".photocull" / "cache.sqlite"  # cannot be created
    with Cache.open(target) as c:
        assert not c.enabled and c.warnings
        ident = FileIdent("a", 1, 1, "a" * 32)
        c.put_analysis(ident, {"width": 1})
        assert c.get_analysis(ident) is None and c.get_embeddings([ident], "m") == {}
    with Cache.open(target, root=tmp_path, fallback_to_user=True) as c:
        assert c.enabled and c.path == tmp_path / "xdg" / "photocull" / "cache.sqlite"
        assert any("user cache" in w for w in c.warnings)
        assert c.root is None  # absolute keys in the shared user cache
    assert not Cache.open(None).enabled


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_read_only_shoot_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    shoot = tmp_path / "ro"
    _photo(shoot / "a.jpg")
    shoot.chmod(0o555)
    try:
        with Cache.for_shoot(shoot) as c:
            assert c.enabled and c.path == tmp_path / "xdg" / "photocull" / "cache.sqlite"
            ident = c.identify(shoot / "a.jpg")
            assert ident.key == (shoot / "a.jpg").as_posix()
            c.put_analysis(ident, {"width": 1})
            assert c.get_analysis(ident) == {"width": 1}
    finally:
        shoot.chmod(0o755)
