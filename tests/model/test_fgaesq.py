"""The assembled model: config round trip, safetensors save/load."""

from __future__ import annotations

import json

import pytest
import torch

from photocull.model.config import FGAesQConfig
from photocull.model.difftoken import build_tokens, collate
from photocull.model.fgaesq import FGAesQ, read_config

from .conftest import burst, photo


def test_config_dict_round_trip():
    for cfg in (FGAesQConfig(), FGAesQConfig.tiny()):
        d = json.loads(json.dumps(cfg.to_dict()))
        assert FGAesQConfig.from_dict(d) == cfg
    full = FGAesQConfig()
    assert (full.width, full.layers, full.heads, full.patch, full.output_dim, full.max_tokens, full.pos_grid) == (
        768, 12, 12, 16, 512, 511, 14)
    assert full.head_hidden == (256, 64) and full.head_dropout == (0.2, 0.1) and full.tokens.keep_blocks == 14
    with pytest.raises(ValueError):
        FGAesQConfig(width=100, heads=12)


def test_state_dict_names(tiny_model):
    keys = set(tiny_model.state_dict())
    assert {"tower.scale_embedding", "tower.mask_token", "tower.visual.conv1.weight",
            "tower.visual.proj", "iqa_head.0.weight", "iqa_head.6.bias"} <= keys
    assert tiny_model.tower.scale_embedding.shape == (1, 2, 64)
    assert tiny_model.tower.mask_token.shape == (1, 1, 64)


def test_safetensors_round_trip(tiny_model, tiny_cfg, tmp_path):
    a, b = burst(50, 2)
    batch = collate([build_tokens(a, b, cfg=tiny_cfg.tokens), build_tokens(photo(51), cfg=tiny_cfg.tokens)])
    with torch.no_grad():
        dist, score = tiny_model(batch)
    path = tiny_model.save_safetensors(tmp_path / "m" / "fgaesq.safetensors")
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    assert read_config(path) == tiny_cfg
    from photocull.model.fgaesq import _without_init

    assert _without_init(FGAesQ, read_config(path), "sdpa") is not None  # loaded without a random init
    loaded = FGAesQ.load_safetensors(path)
    with torch.no_grad():
        dist2, score2 = loaded(batch)
    assert torch.equal(score, score2) and torch.equal(dist, dist2)
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    # half-size file: same model to fp16 precision
    half = tiny_model.save_safetensors(tmp_path / "half.safetensors", dtype=torch.float16)
    with torch.no_grad():
        s3 = FGAesQ.load_safetensors(half)(batch)[1]
    torch.testing.assert_close(s3, score, atol=1e-2, rtol=0)


def test_file_without_config_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(ValueError, match="no FGAesQ config"):
        read_config(tmp_path / "x.safetensors")
