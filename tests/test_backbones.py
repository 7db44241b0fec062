"""Backbone loading and embeddings, with tiny random open_clip models (no network, no real weights)."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from photocull.compat import import_open_clip  # noqa: E402
from photocull.backbones import (  # noqa: E402
    BackboneSpec,
    WeightsUnavailable,
    download_allowed,
    embed_stream,
    load_backbone,
    resolve_weights,
    searched_locations,
)
from photocull.runtime import DeviceUnavailable, default_num_threads, pick_device  # noqa: E402

open_clip = import_open_clip()

from tests.conftest import TINY, TINY_CFG  # noqa: E402  (tiny_name / tiny_weights fixtures live in conftest)

@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    """Empty HOME / XDG / HF caches; no download permission; open_clip's download path armed
    to fail the test if it is ever reached."""
    home = tmp_path / "home"
    home.mkdir()
    for var in ("HOME", "XDG_CACHE_HOME", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_hub"))
    monkeypatch.delenv("PHOTOCULL_ALLOW_DOWNLOAD", raising=False)
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_hub"), raising=False)

    def no_network(*a, **k):
        raise AssertionError("open_clip tried to download")

    factory = importlib.import_module("open_clip.factory")
    pretrained = importlib.import_module("open_clip.pretrained")
    monkeypatch.setattr(factory, "download_pretrained", no_network)
    monkeypatch.setattr(pretrained, "download_pretrained_from_hf", no_network)
    monkeypatch.setattr(pretrained, "download_pretrained_from_url", no_network)
    return tmp_path


def _images(n: int, seed: int = 0, shapes=((48, 64), (64, 48), (32, 32), (40, 90))):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*shapes[i % len(shapes)], 3), dtype=np.uint8) for i in range(n)]


def _reference(model, backbone, images):
    """Embeddings of the in-memory model on the backbone's own preprocessing."""
    with torch.inference_mode():
        x = backbone.preprocess(images).float()
        f = model.encode_image(x)
        return torch.nn.functional.normalize(f, dim=-1).numpy()


# --------------------------------------------------------------------------------------------


def test_local_safetensors_gives_identical_embeddings(tiny_weights, offline_home):
    model, st, pt = tiny_weights
    for path in (st, pt):
        bb = load_backbone(BackboneSpec(model=TINY, pretrained=str(path)), "cpu")
        assert bb.weights == path
        assert not bb.model.training
        assert bb.dtype == torch.float32 and bb.device.type == "cpu"
        assert bb.image_size == (32, 32) and bb.dim == 32
        imgs = _images(6)
        got = bb.embed_images(imgs)
        np.testing.assert_allclose(got, _reference(model, bb, imgs), rtol=0, atol=1e-6)
        assert bb.key.startswith(f"{TINY}|file:{path.name}:")


def test_offline_unknown_weights_fail_fast_with_a_useful_message(offline_home):
    t0 = time.perf_counter()
    with pytest.raises(WeightsUnavailable) as info:
        load_backbone(BackboneSpec(model="ViT-B-32", pretrained="openai"), "cpu")
    assert time.perf_counter() - t0 < 3.0
    msg = str(info.value)
    assert "ViT-B-32" in msg and "openai" in msg
    # every place it looked: the HF caches and the legacy URL cache
    assert str(offline_home / "hf_hub" / "models--timm--vit_base_patch32_clip_224.openai") in msg
    assert str(offline_home / "hf_home" / "hub") in msg
    assert str(offline_home / "home" / ".cache" / "clip" / "ViT-B-32.pt") in msg
    for alt in ("--pretrained", ".safetensors", "--scorer technical", "--no-embeddings",
                "PHOTOCULL_ALLOW_DOWNLOAD", "connected machine"):
        assert alt in msg
    assert info.value.searched and all(s in msg for s in info.value.searched)


def test_missing_file_path_is_reported(offline_home, tiny_name):
    missing = offline_home / "nope" / "weights.safetensors"
    with pytest.raises(WeightsUnavailable) as info:
        load_backbone(BackboneSpec(model=tiny_name, pretrained=str(missing)), "cpu")
    assert str(missing) in str(info.value)


def test_unknown_tag_and_unknown_model(offline_home, tiny_name):
    with pytest.raises(WeightsUnavailable) as info:
        load_backbone(BackboneSpec(model="ViT-B-32", pretrained="opnai"), "cpu")
    assert "neither a pretrained tag" in str(info.value) and "openai" in str(info.value)
    with pytest.raises(ValueError, match="ViT-B-32"):
        load_backbone(BackboneSpec(model="ViT-B-33", pretrained="openai"), "cpu")


def test_damaged_weights_file_is_reported(offline_home, tiny_name):
    bad = offline_home / "bad.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(WeightsUnavailable) as info:
        load_backbone(BackboneSpec(model=tiny_name, pretrained=str(bad)), "cpu")
    assert "Could not load" in str(info.value) and str(bad) in str(info.value)


def _fake_hub_file(root: Path, repo: str, name: str, payload: bytes | Path, blob_layout=True) -> Path:
    repo_dir = root / ("models--" + repo.replace("/", "--"))
    snap = repo_dir / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text("0123abcd")
    data = payload.read_bytes() if isinstance(payload, Path) else payload
    target = snap / name
    if blob_layout:
        (repo_dir / "blobs").mkdir()
        blob = repo_dir / "blobs" / "deadbeef"
        blob.write_bytes(data)
        target.symlink_to(os.path.relpath(blob, snap))
    else:
        target.write_bytes(data)
    return target


def test_resolve_weights_finds_files_in_the_hf_cache(offline_home):
    spec = BackboneSpec(model="ViT-B-32", pretrained="openai")
    assert resolve_weights(spec) is None
    hit = _fake_hub_file(offline_home / "hf_hub", "timm/vit_base_patch32_clip_224.openai",
                         "open_clip_model.safetensors", b"x" * 10)
    assert resolve_weights(spec) == hit
    assert any(str(offline_home / "hf_hub") in s for s in searched_locations(spec))


def test_resolve_weights_hf_home_bin_and_legacy_url_cache(offline_home, monkeypatch):
    spec = BackboneSpec(model="ViT-B-32", pretrained="openai")
    legacy = offline_home / "home" / ".cache" / "clip" / "ViT-B-32.pt"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"y" * 10)
    assert resolve_weights(spec) == legacy
    # the hub cache wins over the URL cache (open_clip prefers the hub too)
    hit = _fake_hub_file(offline_home / "hf_home" / "hub", "timm/vit_base_patch32_clip_224.openai",
                         "open_clip_pytorch_model.bin", b"z" * 10, blob_layout=False)
    assert resolve_weights(spec) == hit
    # an explicit cache_dir is searched first
    own = offline_home / "own"
    mine = _fake_hub_file(own, "timm/vit_base_patch32_clip_224.openai",
                          "open_clip_model.safetensors", b"w" * 10)
    assert resolve_weights(BackboneSpec("ViT-B-32", "openai", cache_dir=own)) == mine


def test_tag_resolved_from_fake_hub_cache_loads_offline(tiny_weights, offline_home, monkeypatch):
    model, st, _ = tiny_weights
    pretrained = importlib.import_module("open_clip.pretrained")
    cfg = dict(pretrained._pcfg(hf_hub="photocull-test/tiny-clip/"), mean=(0.5, 0.5, 0.5),
               std=(0.25, 0.25, 0.25))
    monkeypatch.setitem(pretrained._PRETRAINED, TINY, {"fake": cfg})
    spec = BackboneSpec(model=TINY, pretrained="fake")
    with pytest.raises(WeightsUnavailable):
        load_backbone(spec, "cpu")
    _fake_hub_file(offline_home / "hf_hub", "photocull-test/tiny-clip", "open_clip_model.safetensors", st)
    bb = load_backbone(spec, "cpu")
    assert bb.mean == (0.5, 0.5, 0.5) and bb.std == (0.25, 0.25, 0.25)  # the tag's preprocessing
    imgs = _images(5, seed=3)
    np.testing.assert_allclose(bb.embed_images(imgs), _reference(model, bb, imgs), atol=1e-6)
    assert bb.key == f"{TINY}|fake"  # the key is known before loading (a warm run loads nothing)
    from photocull.backbones.clip import LazyBackbone

    assert LazyBackbone(spec, "cpu").key == bb.key


def test_local_dir(tiny_weights, offline_home):
    model, st, _ = tiny_weights
    d = offline_home / "export"
    d.mkdir()
    (d / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": {}}))
    (d / "open_clip_model.safetensors").write_bytes(st.read_bytes())
    imgs = _images(3, seed=5)
    for spec in (BackboneSpec(model=TINY, pretrained=f"local-dir:{d}"),
                 BackboneSpec(model=f"local-dir:{d}", pretrained=None)):
        bb = load_backbone(spec, "cpu")
        np.testing.assert_allclose(bb.embed_images(imgs), _reference(model, bb, imgs), atol=1e-6)
        assert bb.embed_texts(["a sharp photo"]).shape == (1, 32)
    with pytest.raises(WeightsUnavailable):
        load_backbone(BackboneSpec(model=TINY, pretrained=f"local-dir:{offline_home / 'none'}"), "cpu")


@pytest.fixture(scope="module")
def tiny_backbone(tiny_weights):
    _, st, _ = tiny_weights
    return load_backbone(BackboneSpec(model=TINY, pretrained=str(st)), "cpu", batch_size=4)


def test_embeddings_are_normalised_and_batch_size_independent(tiny_backbone):
    imgs = _images(11, seed=7)
    ref = tiny_backbone.embed_images(imgs, batch_size=1)
    assert ref.dtype == np.float32 and ref.shape == (11, 32)
    np.testing.assert_allclose(np.linalg.norm(ref, axis=1), 1.0, atol=1e-5)
    for bs in (2, 3, 4, 11, 64):
        np.testing.assert_allclose(tiny_backbone.embed_images(imgs, batch_size=bs), ref, atol=1e-5)
    assert tiny_backbone.embed_images([]).shape == (0, 32)


def test_embed_stream_batches_in_order_and_skips_failures(tiny_backbone):
    imgs = _images(10, seed=9)
    items = [(f"f{i}", im) for i, im in enumerate(imgs)]
    items.insert(4, ("broken", None))
    batches = list(embed_stream(tiny_backbone, iter(items), batch_size=4))
    assert [len(k) for k, _ in batches] == [4, 4, 2]
    keys = [k for ks, _ in batches for k in ks]
    assert keys == [f"f{i}" for i in range(10)]
    got = np.concatenate([e for _, e in batches])
    np.testing.assert_allclose(got, tiny_backbone.embed_images(imgs), atol=1e-5)


def test_preprocess_close_to_open_clip_transform(tiny_backbone):
    from PIL import Image

    _, _, pre = open_clip.create_model_and_transforms(TINY)
    yy, xx = np.mgrid[0:150, 0:223]
    img = np.stack([(xx * 1.1) % 256, (yy * 1.7) % 256, (xx + yy) % 256], -1).astype(np.uint8)
    for im in (img, np.ascontiguousarray(img.transpose(1, 0, 2))):
        ours = tiny_backbone.preprocess([im])[0]
        theirs = pre(Image.fromarray(im))
        assert ours.shape == theirs.shape
        assert (ours - theirs).abs().mean().item() < 0.02  # ~1 grey level of 255


def test_image_kinds(tiny_backbone):
    rgb = _images(1)[0]
    gray = rgb[:, :, 0]
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    e = tiny_backbone.embed_images([rgb, rgba, gray])
    np.testing.assert_allclose(e[0], e[1], atol=1e-6)
    with pytest.raises(ValueError):
        tiny_backbone.embed_images([rgb.astype(np.float32)])
    with pytest.raises(ValueError):
        tiny_backbone.embed_images([np.zeros((4, 4, 2), np.uint8)])


def test_embed_texts(tiny_backbone):
    t = tiny_backbone.embed_texts(["a good photo", "a bad photo", "blurry"])
    assert t.shape == (3, 32) and t.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_cuda_is_a_clear_error(tiny_name):
    with pytest.raises(DeviceUnavailable, match="--device cpu"):
        pick_device("cuda")
    with pytest.raises(DeviceUnavailable, match="cuda"):
        load_backbone(BackboneSpec(model=tiny_name, pretrained=None), "cuda")


def test_pick_device():
    assert pick_device("cpu").type == "cpu"
    auto = pick_device("auto").type
    assert auto == ("cuda" if torch.cuda.is_available() else auto)
    with pytest.raises(DeviceUnavailable, match="Unknown device"):
        pick_device("tpu")
    mps = getattr(torch.backends, "mps", None)
    if not (mps is not None and mps.is_available()):
        with pytest.raises(DeviceUnavailable, match="mps"):
            pick_device("mps")


def test_threads_and_download_switch(monkeypatch):
    n = default_num_threads()
    assert 1 <= n <= (os.cpu_count() or 1)
    monkeypatch.delenv("PHOTOCULL_ALLOW_DOWNLOAD", raising=False)
    assert download_allowed() is False
    monkeypatch.setenv("PHOTOCULL_ALLOW_DOWNLOAD", "1")
    assert download_allowed() is True
    assert download_allowed(False) is False


def test_cpu_backbone_sets_threads(tiny_name):
    load_backbone(BackboneSpec(model=tiny_name, pretrained=None), "cpu", num_threads=1)
    assert torch.get_num_threads() == 1
    load_backbone(BackboneSpec(model=tiny_name, pretrained=None), "cpu")
    assert torch.get_num_threads() == default_num_threads()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_backbone_half_precision(tiny_weights):
    model, st, _ = tiny_weights
    bb = load_backbone(BackboneSpec(model=TINY, pretrained=str(st)), "cuda")
    assert bb.dtype in (torch.bfloat16, torch.float16)
    assert 1 <= bb.batch_size <= 512
    imgs = _images(8)
    got = bb.embed_images(imgs)
    ref = load_backbone(BackboneSpec(model=TINY, pretrained=str(st)), "cpu").embed_images(imgs)
    assert np.all(np.sum(got * ref, axis=1) > 0.98)


def test_auto_batch_size_follows_free_gpu_memory(tiny_backbone, monkeypatch):
    from photocull.backbones import clip as embed

    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (70 * 2**30, 80 * 2**30))
    big = embed._auto_batch_size(tiny_backbone.model, cuda, torch.bfloat16, (224, 224))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (64 * 2**20, 80 * 2**30))
    small = embed._auto_batch_size(tiny_backbone.model, cuda, torch.bfloat16, (224, 224))
    assert big == 512 and 1 <= small < big
    assert embed._auto_batch_size(tiny_backbone.model, torch.device("cpu"), torch.float32, (32, 32)) >= 1
