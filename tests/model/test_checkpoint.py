"""Importing the official checkpoint layout (built here, for the tiny config, with random tensors)."""

from __future__ import annotations

import pytest
import torch

from photocull.model.checkpoint import (
    DEFAULT_MODEL_FILE,
    convert_official,
    default_model_dir,
    find_model,
    import_official,
    load_model,
    infer_config,
    load_state_dict,
    map_official_key,
)
from photocull.model.config import FGAesQConfig
from photocull.model.difftoken import build_tokens, collate

from .conftest import burst

_BLOCK = ["ln_1.weight", "ln_1.bias", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
          "attn.out_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
          "mlp.c_proj.weight", "mlp.c_proj.bias"]
TEXT_JUNK = ["clip_model.positional_embedding", "clip_model.text_projection", "clip_model.logit_scale",
             "clip_model.token_embedding.weight", "clip_model.ln_final.weight", "clip_model.ln_final.bias",
             "clip_model.transformer.resblocks.0.attn.in_proj_weight", "clip_model.transformer.resblocks.0.ln_1.weight"]


def _block_shapes(w: int) -> dict[str, tuple[int, ...]]:
    return {"ln_1.weight": (w,), "ln_1.bias": (w,), "attn.in_proj_weight": (3 * w, w), "attn.in_proj_bias": (3 * w,),
            "attn.out_proj.weight": (w, w), "attn.out_proj.bias": (w,), "ln_2.weight": (w,), "ln_2.bias": (w,),
            "mlp.c_fc.weight": (4 * w, w), "mlp.c_fc.bias": (4 * w,), "mlp.c_proj.weight": (w, 4 * w),
            "mlp.c_proj.bias": (w,)}


def official_state_dict(cfg: FGAesQConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under exactly the official key names and shapes (written out by hand)."""
    g = torch.Generator().manual_seed(seed)
    w, p, grid = cfg.width, cfg.patch, cfg.pos_grid
    visual: dict[str, tuple[int, ...]] = {
        "conv1.weight": (w, 3, p, p), "class_embedding": (w,), "positional_embedding": (grid * grid + 1, w),
        "ln_pre.weight": (w,), "ln_pre.bias": (w,),
    }
    for i in range(cfg.layers):
        for name, shape in _block_shapes(w).items():
            visual[f"transformer.resblocks.{i}.{name}"] = shape
    visual.update({"ln_post.weight": (w,), "ln_post.bias": (w,), "proj": (w, cfg.output_dim)})
    sd = {}
    for name, shape in visual.items():
        sd["clip_model.visual." + name] = torch.randn(shape, generator=g) * 0.1
    for name in TEXT_JUNK:  # the text tower (unused)
        sd[name] = torch.randn(7, 5, generator=g)
    for name in visual:  # the same modules again at top level
        if name.startswith(("ln_pre.", "transformer.", "ln_post.")) or name == "proj":
            sd[name] = sd["clip_model.visual." + name].clone()
    sd["scale_embedding"] = torch.randn(1, 2, w, generator=g)
    sd["mask_token"] = torch.randn(1, 1, w, generator=g)
    dims = [cfg.output_dim, *cfg.head_hidden, cfg.num_bins]
    for idx, (din, dout) in zip((0, 3, 6), zip(dims[:-1], dims[1:])):
        sd[f"iqa_head.{idx}.weight"] = torch.randn(dout, din, generator=g)
        sd[f"iqa_head.{idx}.bias"] = torch.randn(dout, generator=g)
    return sd


def _source_of(our_key: str, sd: dict[str, torch.Tensor]) -> str:
    if our_key.startswith("tower.visual."):
        rest = our_key[len("tower.visual."):]
        return rest if rest in sd else "clip_model.visual." + rest
    if our_key.startswith("tower."):
        return our_key[len("tower."):]
    return our_key


def test_official_layout_lands_in_every_parameter(tiny_cfg):
    sd = official_state_dict(tiny_cfg)
    model, report = import_official(sd, tiny_cfg)
    assert report.ok and report.missing == [] and report.unexpected == [] and not report.shape_mismatches
    assert sorted(report.ignored) == sorted(TEXT_JUNK)
    ours = model.state_dict()
    assert set(report.loaded) == set(ours)
    for k, v in ours.items():
        src = _source_of(k, sd)
        assert report.loaded[k] == src, k
        assert torch.equal(v, sd[src]), k
    # spot checks by hand
    assert torch.equal(ours["tower.visual.conv1.weight"], sd["clip_model.visual.conv1.weight"])
    assert torch.equal(ours["tower.visual.positional_embedding"], sd["clip_model.visual.positional_embedding"])
    assert torch.equal(ours["tower.visual.transformer.resblocks.1.attn.in_proj_weight"],
                       sd["transformer.resblocks.1.attn.in_proj_weight"])
    assert torch.equal(ours["tower.visual.proj"], sd["proj"])
    assert torch.equal(ours["tower.scale_embedding"], sd["scale_embedding"])
    assert torch.equal(ours["iqa_head.3.weight"], sd["iqa_head.3.weight"])
    # duplicates: the top-level copy is used, and the copies agree
    assert report.duplicates["tower.visual.ln_pre.weight"] == ["ln_pre.weight", "clip_model.visual.ln_pre.weight"]
    assert "tower.visual.conv1.weight" not in report.duplicates
    assert report.mismatched_duplicates == []
    assert "loaded" in report.summary()


def test_top_level_copy_wins_and_differences_are_reported(tiny_cfg):
    sd = official_state_dict(tiny_cfg)
    sd["ln_post.weight"] = sd["ln_post.weight"] + 1.0
    model, report = import_official(sd, tiny_cfg)
    assert report.mismatched_duplicates == ["tower.visual.ln_post.weight"]
    assert torch.equal(model.state_dict()["tower.visual.ln_post.weight"], sd["ln_post.weight"])
    assert "differ" in report.summary()


def test_missing_and_unexpected_keys_are_reported(tiny_cfg):
    sd = official_state_dict(tiny_cfg)
    del sd["mask_token"]
    del sd["clip_model.visual.class_embedding"]
    sd["some_new_head.weight"] = torch.zeros(3)
    sd["clip_model.visual.attnpool.weight"] = torch.zeros(3)
    sd["iqa_head.6.weight"] = torch.zeros(4, 4)  # wrong shape
    model, report = import_official(sd, tiny_cfg)
    assert sorted(report.missing) == ["iqa_head.6.weight", "tower.mask_token", "tower.visual.class_embedding"]
    assert sorted(report.unexpected) == ["clip_model.visual.attnpool.weight", "some_new_head.weight"]
    assert report.shape_mismatches == {"iqa_head.6.weight": ((4, 4), (10, 8))}
    assert not report.ok
    with pytest.raises(ValueError, match="missing"):
        import_official(sd, tiny_cfg, strict=True)


def test_key_mapping_rules():
    assert map_official_key("clip_model.visual.proj") == ("tower.visual.proj", "clip")
    assert map_official_key("proj") == ("tower.visual.proj", "top")
    assert map_official_key("module.transformer.resblocks.0.ln_1.bias") == (
        "tower.visual.transformer.resblocks.0.ln_1.bias", "top")
    assert map_official_key("clip_model.transformer.resblocks.0.ln_1.bias") == (None, "ignored")
    assert map_official_key("mask_token") == ("tower.mask_token", "extra")
    assert map_official_key("iqa_head.0.weight") == ("iqa_head.0.weight", "extra")
    assert map_official_key("optimizer") == (None, "unexpected")


def test_infer_config(tiny_cfg):
    sd = official_state_dict(tiny_cfg)
    assert infer_config(sd, base=tiny_cfg) == tiny_cfg
    guessed = infer_config(sd)
    assert (guessed.width, guessed.layers, guessed.output_dim, guessed.pos_grid, guessed.head_hidden) == (
        64, 2, 32, 4, (16, 8))
    assert guessed.heads == 1  # CLIP's 64-wide heads assumed without a base config


@pytest.mark.parametrize("fmt", ["pt-nested", "pth", "safetensors"])
def test_files_and_conversion(tiny_cfg, tmp_path, monkeypatch, fmt):
    sd = official_state_dict(tiny_cfg)
    if fmt == "safetensors":
        from safetensors.torch import save_file

        src = tmp_path / "fgaesq_official.safetensors"
        save_file(sd, str(src))
    elif fmt == "pt-nested":
        src = tmp_path / "fgaesq_official.pt"
        torch.save({"state_dict": sd, "epoch": 3}, src)
    else:
        src = tmp_path / "fgaesq_official.pth"
        torch.save(sd, src)
    assert set(load_state_dict(src)) == set(sd)
    ref_model, _ = import_official(sd, tiny_cfg)

    monkeypatch.setenv("PHOTOCULL_MODEL_DIR", str(tmp_path / "models"))
    assert default_model_dir() == tmp_path / "models"
    assert find_model() is None
    dest, report = convert_official(src, config=tiny_cfg)
    assert report.ok and dest == tmp_path / "models" / DEFAULT_MODEL_FILE and find_model() == dest
    loaded = load_model()
    a, b = burst(60, 2)
    batch = collate([build_tokens(a, b, cfg=tiny_cfg.tokens)])
    with torch.no_grad():
        assert torch.equal(loaded(batch)[1], ref_model(batch)[1])


def test_default_model_dir_without_env(monkeypatch, tmp_path):
    monkeypatch.delenv("PHOTOCULL_MODEL_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert str(default_model_dir()).endswith(".cache/photocull/models")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the user cache folder's rule
    assert default_model_dir() == tmp_path / "xdg" / "photocull" / "models"
    monkeypatch.setenv("PHOTOCULL_MODEL_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="photocull models download fgaesq"):
        load_model()


def test_pickled_code_is_refused(tmp_path):
    import argparse

    path = tmp_path / "bad.pt"
    torch.save({"model": argparse.Namespace(w=torch.zeros(1))}, path)  # not loadable with weights_only
    with pytest.raises(ValueError, match="weights_only"):
        load_state_dict(path)
