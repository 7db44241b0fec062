"""The variable-length CLIP tower: agreement with open_clip, masking, position handling."""

from __future__ import annotations

import time

import pytest
import torch

from photocull.model.config import FGAesQConfig
from photocull.model.difftoken import TokenBatch, build_tokens, collate
from photocull.model.vit import CLIP_MEAN, CLIP_STD, NativeViT

from .conftest import burst, photo


def _grid_tokens(img: torch.Tensor, p: int = 16) -> TokenBatch:
    """Every patch of a ``(3, H, W)`` normalised image at full resolution, in raster order."""
    _, h, w = img.shape
    gh, gw = h // p, w // p
    patches = img.reshape(3, gh, p, gw, p).permute(1, 3, 0, 2, 4).reshape(1, gh * gw, 3 * p * p)
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    pos = torch.stack([rows.reshape(-1), cols.reshape(-1)], 1)[None]
    n = gh * gw
    return TokenBatch(patches, pos, torch.tensor([[gh, gw]]), torch.zeros(1, n, dtype=torch.long),
                      torch.ones(1, n, dtype=torch.bool))


def test_matches_open_clip_forward_on_clip_grid(tiny_cfg):
    """All full-resolution tokens on CLIP's own grid, no scale embedding = open_clip's forward."""
    torch.manual_seed(0)
    tower = NativeViT(tiny_cfg).eval()
    with torch.no_grad():
        tower.scale_embedding.zero_()
    size = tiny_cfg.image_size
    img = torch.rand(3, size, size)
    norm = (img - torch.tensor(CLIP_MEAN).view(3, 1, 1)) / torch.tensor(CLIP_STD).view(3, 1, 1)
    with torch.no_grad():
        ours = tower.forward_tokens(_grid_tokens(norm))
        theirs = tower.visual(norm[None])
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    # and token order does not matter
    batch = _grid_tokens(norm)
    perm = torch.randperm(batch.patches.shape[1])
    shuffled = TokenBatch(batch.patches[:, perm], batch.positions[:, perm], batch.grids,
                          batch.scales[:, perm], batch.valid[:, perm])
    with torch.no_grad():
        torch.testing.assert_close(tower.forward_tokens(shuffled), ours, atol=1e-5, rtol=1e-5)


def test_positional_embedding_interpolation(tiny_cfg):
    torch.manual_seed(0)
    tower = NativeViT(tiny_cfg)
    g = tiny_cfg.pos_grid
    grid_pe = tower.visual.positional_embedding[1:].reshape(g, g, -1)
    # on CLIP's own grid: the embeddings themselves
    pos = torch.tensor([[[0, 0], [1, 2], [3, 3]]])
    pe = tower.position_embedding(pos, torch.tensor([[g, g]]), torch.zeros(1, 3, dtype=torch.long))
    torch.testing.assert_close(pe[0], torch.stack([grid_pe[0, 0], grid_pe[1, 2], grid_pe[3, 3]]))
    # a down-scaled token gets the mean of the 2×2 cells its block covers
    grids = torch.tensor([[6, 8]])
    table, _ = tower._grid_table(grids, torch.float32)
    table = table.reshape(6, 8, -1)
    pos = torch.tensor([[[2, 4]]])
    pe1 = tower.position_embedding(pos, grids, torch.ones(1, 1, dtype=torch.long))
    torch.testing.assert_close(pe1[0, 0], table[2:4, 4:6].reshape(4, -1).mean(0))


@pytest.mark.parametrize("attn_impl", ["sdpa", "open_clip"])
def test_padding_invariance(tiny_model, tiny_cfg, attn_impl):
    tiny_model.tower.attn_impl = attn_impl
    cfg = tiny_cfg.tokens
    a, b = burst(20, 2)
    t1 = build_tokens(a, b, cfg=cfg)
    t2 = build_tokens(photo(21, 100, 220), cfg=cfg)  # another grid, another length
    assert len(t1) != len(t2) and t1.grid != t2.grid
    with torch.no_grad():
        d1, s1 = tiny_model(collate([t1]))
        d2, s2 = tiny_model(collate([t2]))
        dp, sp = tiny_model(collate([t1], pad_to=cfg.max_tokens))
        db, sb = tiny_model(collate([t1, t2], pad_to=cfg.max_tokens))
    torch.testing.assert_close(sp, s1, atol=1e-5, rtol=0)
    torch.testing.assert_close(dp, d1, atol=1e-5, rtol=0)
    torch.testing.assert_close(sb, torch.cat([s1, s2]), atol=1e-5, rtol=0)
    torch.testing.assert_close(db, torch.cat([d1, d2]), atol=1e-5, rtol=0)
    # what sits in the padding slots does not matter either
    batch = collate([t1], pad_to=cfg.max_tokens)
    batch.patches[0, len(t1):] = torch.randn_like(batch.patches[0, len(t1):]) * 10
    with torch.no_grad():
        torch.testing.assert_close(tiny_model(batch)[1], s1, atol=1e-5, rtol=0)


def test_sdpa_and_open_clip_blocks_agree(tiny_model, tiny_cfg):
    t = [build_tokens(photo(i, 130, 170), cfg=tiny_cfg.tokens) for i in range(3)]
    batch = collate(t, pad_to=tiny_cfg.max_tokens)
    with torch.no_grad():
        tiny_model.tower.attn_impl = "sdpa"
        a = tiny_model.embed(batch)
        tiny_model.tower.attn_impl = "open_clip"
        b = tiny_model.embed(batch)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_scale_embedding_matters(tiny_model, tiny_cfg):
    t = build_tokens(photo(30, 130, 170), cfg=tiny_cfg.tokens)
    batch = collate([t])
    with torch.no_grad():
        base = tiny_model.embed(batch)
        tiny_model.tower.scale_embedding[0, 1] += torch.randn(64)  # (a constant would vanish in ln_pre)
        assert not torch.allclose(tiny_model.embed(batch), base)


def test_full_vit_b16_tower_takes_511_tokens():
    """The published architecture (random init through open_clip): 511 tokens + CLS → 512-d."""
    from photocull.compat import import_open_clip
    from photocull.model.fgaesq import FGAesQ

    cfg = FGAesQConfig()
    assert cfg.clip_model == "ViT-B-16" and cfg.pretrained is None
    torch.manual_seed(0)
    model = FGAesQ.from_config(cfg).eval()
    n_params = sum(p.numel() for p in model.parameters())
    assert 86.0e6 < n_params < 86.7e6  # the paper's 86.3 M
    # the tower's layout is open_clip's ViT-B-16 visual (so its 'openai' weights load)
    oc = import_open_clip()
    ref = oc.get_model_config("ViT-B-16")["vision_cfg"]
    assert (ref["width"], ref["layers"], ref["patch_size"], ref["image_size"]) == (768, 12, 16, 224)
    vis = model.tower.visual
    assert isinstance(vis, oc.transformer.VisionTransformer)
    assert isinstance(vis.transformer.resblocks[0].mlp.gelu, oc.transformer.QuickGELU)
    assert vis.positional_embedding.shape == (197, 768) and vis.proj.shape == (768, 512)
    # a panorama gives the full budget
    a = photo(40, 300, 3000)
    t = build_tokens(a, photo(41, 300, 3000))
    assert len(t) == 511
    batch = collate([t], pad_to=511)
    with torch.inference_mode():
        emb = model.embed(batch)
        dist, score = model.iqa_head(emb)
    assert emb.shape == (1, 512) and dist.shape == (1, 10)
    assert torch.isfinite(emb).all() and 1.0 <= float(score) <= 10.0


def _register_tiny_open_clip(tmp_path, name: str) -> None:
    import json

    from photocull.compat import import_open_clip

    cfg = FGAesQConfig.tiny()
    spec = {"embed_dim": cfg.output_dim, "quick_gelu": True,
            "vision_cfg": {"image_size": cfg.image_size, "layers": cfg.layers, "width": cfg.width,
                           "patch_size": cfg.patch, "head_width": cfg.head_width},
            "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    import_open_clip().add_model_config(path)


def test_tower_from_local_clip_weights_through_open_clip(tmp_path):
    """``pretrained`` set: the tower is open_clip.create_model(...).visual with those weights."""
    from photocull.compat import import_open_clip
    from photocull.model.fgaesq import FGAesQ

    oc = import_open_clip()
    _register_tiny_open_clip(tmp_path, "fgaesq-test-tiny")
    torch.manual_seed(1)
    clip = oc.create_model("fgaesq-test-tiny", pretrained=None)
    weights = tmp_path / "clip.pt"
    torch.save(clip.state_dict(), weights)
    cfg = FGAesQConfig.from_dict({**FGAesQConfig.tiny().to_dict(), "clip_model": "fgaesq-test-tiny",
                                  "pretrained": str(weights)})
    model = FGAesQ.from_config(cfg)
    for k, v in clip.visual.state_dict().items():
        assert torch.equal(model.tower.visual.state_dict()[k], v), k


def test_missing_clip_weights_fail_at_once(monkeypatch):
    from photocull.backbones import WeightsUnavailable
    from photocull.model.vit import build_clip_visual

    monkeypatch.delenv("PHOTOCULL_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.setenv("HF_HOME", "/nonexistent-photocull-test")
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-photocull-test/hub")
    monkeypatch.setenv("XDG_CACHE_HOME", "/nonexistent-photocull-test")
    monkeypatch.setenv("HOME", "/nonexistent-photocull-test")
    cfg = FGAesQConfig.from_dict({**FGAesQConfig().to_dict(), "pretrained": "openai"})
    t0 = time.perf_counter()
    with pytest.raises(WeightsUnavailable):
        build_clip_visual(cfg, allow_download=False)
    assert time.perf_counter() - t0 < 5


def test_bf16_autocast_runs(tiny_model, tiny_cfg):
    """The CUDA path's bf16 autocast, exercised on CPU: same ranking scale, small error."""
    from photocull.model.series import predict

    toks = [build_tokens(photo(i, 130, 170), cfg=tiny_cfg.tokens) for i in range(4)]
    _, s32 = predict(tiny_model, toks)
    _, s16 = predict(tiny_model, toks, dtype=torch.bfloat16)
    assert abs(s32 - s16).max() < 0.2
