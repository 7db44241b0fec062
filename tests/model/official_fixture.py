"""The golden-test recipe: a seeded random checkpoint in the *official* FGAesQ layout and
seeded synthetic photos.

The goldens under ``goldens/`` were produced by running the official FGAesQ inference code
(``yzc-ippl/FG-IAA``, ``FGAesQ_Inference``, commit 4bfd40f) outside this repository on exactly
these inputs; the test rebuilds them here from the same seeds, so it needs neither the
official code nor any download. Everything is deterministic (torch/numpy generators seeded by
name), and the checkpoint carries only the tensors the official forward pass uses (it loads
with ``strict=False``; the text tower stays whatever it was).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import torch

GOLDENS = Path(__file__).parent / "goldens" / "fgaesq_official.json"
CHECKPOINT_SEED = 12

# (name, width, height): under 512 patches, a 4:3 photo, a portrait, a full 12 MP frame.
SINGLE_IMAGES = [("small", 400, 300), ("photo", 1600, 1200), ("portrait", 1200, 1600), ("big", 4000, 3000)]
SINGLE_SEEDS = [0, 7]
# series name -> (scene seed, [(width, height) per frame]); files are named ``f-<i>.png`` with
# i = 1..n, so the official pair ids are ``<series>_<i>_<j>``.
SERIES = {
    "1": (101, [(640, 480)] * 3),  # small frames: up-scaled (LANCZOS) before tokenising
    "2": (202, [(1280, 960)] * 4),  # four frames: scores blended with the series mean
    "3": (303, [(1600, 1200), (1500, 1000)]),  # different sizes: the pair is aligned first
}


def _tensor(name: str, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """A deterministic tensor for one checkpoint entry: its scale depends on what it is."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    r = torch.randn(shape, generator=g, dtype=torch.float32)
    leaf = name.rsplit(".", 1)[-1]
    if name.startswith("iqa_head."):
        fan_in = shape[-1] if leaf == "weight" else 1
        return r * (2.5 / fan_in ** 0.5) if leaf == "weight" else r * 0.3
    if name in ("scale_embedding", "mask_token"):
        return r  # gain: the scale index and padding must move scores
    if "ln_" in name:
        return 1.0 + 0.1 * r if leaf == "weight" else 0.1 * r
    if leaf == "positional_embedding":
        return 0.5 * r
    if leaf == "class_embedding":
        return r
    if leaf == "bias" or leaf.endswith("_bias"):
        return 0.02 * r
    if leaf == "proj":
        return r / shape[0] ** 0.5
    if name.endswith("conv1.weight"):
        return 4.0 * r / (3 * 16 * 16) ** 0.5  # gain: content must outweigh position and CLS
    fan_in = int(np.prod(shape[1:]))
    return r / fan_in ** 0.5


def official_state_dict(seed: int = CHECKPOINT_SEED, layers: int = 12, width: int = 768,
                        patch: int = 16, grid: int = 14, output_dim: int = 512) -> dict[str, torch.Tensor]:
    """The official module's state-dict entries the forward pass reads (CLIP ViT-B/16 visual
    under ``clip_model.visual.*`` and again at top level, ``scale_embedding``, ``mask_token``,
    ``iqa_head``), filled by :func:`_tensor`."""
    shapes: dict[str, tuple[int, ...]] = {
        "conv1.weight": (width, 3, patch, patch),
        "class_embedding": (width,),
        "positional_embedding": (grid * grid + 1, width),
        "ln_pre.weight": (width,), "ln_pre.bias": (width,),
        "ln_post.weight": (width,), "ln_post.bias": (width,),
        "proj": (width, output_dim),
    }
    for i in range(layers):
        p = f"transformer.resblocks.{i}."
        shapes.update({
            p + "attn.in_proj_weight": (3 * width, width), p + "attn.in_proj_bias": (3 * width,),
            p + "attn.out_proj.weight": (width, width), p + "attn.out_proj.bias": (width,),
            p + "ln_1.weight": (width,), p + "ln_1.bias": (width,),
            p + "mlp.c_fc.weight": (4 * width, width), p + "mlp.c_fc.bias": (4 * width,),
            p + "mlp.c_proj.weight": (width, 4 * width), p + "mlp.c_proj.bias": (width,),
            p + "ln_2.weight": (width,), p + "ln_2.bias": (width,),
        })
    state: dict[str, torch.Tensor] = {}
    for name, shape in shapes.items():
        t = _tensor(name, shape, seed)
        state["clip_model.visual." + name] = t
        if name.startswith(("ln_pre.", "transformer.", "ln_post.", "proj")):
            state[name] = t  # the official module holds the same modules again at top level
    state["scale_embedding"] = _tensor("scale_embedding", (1, 2, width), seed)
    state["mask_token"] = _tensor("mask_token", (1, 1, width), seed)
    for name, shape in {"iqa_head.0.weight": (256, output_dim), "iqa_head.0.bias": (256,),
                        "iqa_head.3.weight": (64, 256), "iqa_head.3.bias": (64,),
                        "iqa_head.6.weight": (10, 64), "iqa_head.6.bias": (10,)}.items():
        state[name] = _tensor(name, shape, seed)
    return state


def scene(seed: int, width: int, height: int) -> np.ndarray:
    """A textured synthetic photo ``(height, width, 3)`` uint8: smooth colour fields, edges,
    discs and grain at every scale, so SSIM and block choice have something to see."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y /= height
    x /= width
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        for _ in range(4):
            fx, fy, ph = rng.uniform(0.5, 12, 2).tolist() + [rng.uniform(0, 6.3)]
            img[..., c] += rng.uniform(10, 40) * np.sin(2 * np.pi * (fx * x + fy * y) + ph)
        img[..., c] += rng.uniform(60, 190)
    for _ in range(12):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.02, 0.2)
        d = (x - cx) ** 2 + ((y - cy) * height / width) ** 2 < r * r
        img[d] = img[d] * 0.3 + rng.uniform(0, 255, 3)
    img += rng.normal(0, 6.0, img.shape).astype(np.float32)
    return img.clip(0, 255).astype(np.uint8)


def series_frames(seed: int, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    """Frames of one scene: each a slightly shifted crop with its own grain and exposure."""
    n = len(sizes)
    w0 = max(w for w, _ in sizes) + max(32, 5 * n)  # room for the shifts (32 for n <= 6: goldens)
    h0 = max(h for _, h in sizes) + max(32, 3 * n)
    base = scene(seed, w0, h0).astype(np.float32)
    rng = np.random.default_rng(seed + 1)
    frames = []
    for i, (w, h) in enumerate(sizes):
        dy, dx = 3 * i, 5 * i
        f = base[dy:dy + h, dx:dx + w] * (1.0 + 0.04 * i) + rng.normal(0, 2.0 + 2 * i, (h, w, 3))
        frames.append(f.clip(0, 255).astype(np.uint8))
    return frames


def write_png(arr: np.ndarray, path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format="PNG", compress_level=1)
    return path
