"""The one table of weights photocull knows where to get, and the default backbone: declared once.

In the manner of open_clip's ``pretrained.py``: every entry says which hub repo holds the
weights, which files to prefer, and (where known) the SHA-256 and size to insist on. The
backbone registry (:data:`photocull.backbones.BACKBONES`), ``photocull models download`` /
``list`` (:mod:`photocull.model.hub`, :mod:`photocull.cli.models`), the missing-weights
message, the settings' ``--model``/``--pretrained`` defaults, the trainer and the benchmarks
all read it; changing :data:`DEFAULT_BACKBONE` here changes every one of them. No imports
beyond the standard library: the CLI reads it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")  # open_clip's HF export names


@dataclass(frozen=True)
class Weights:
    """Downloadable weights. ``filenames``: the files to prefer, in order (None: the largest
    checkpoint-looking file of the repo). ``sha256``/``size``: when set, a hub that offers any
    other file is refused (None: the hub's own LFS SHA-256 is checked as the file arrives).
    ``model``/``tag``: the open_clip architecture and pretrained tag they are (for FGAesQ:
    those of its image tower, which training starts from); ``backbone``: a CLIP backbone
    ``--model NAME`` can load."""

    name: str
    repo_id: str
    filenames: tuple[str, ...] | None = None
    revision: str = "main"
    sha256: str | None = None
    size: int | None = None
    model: str | None = None
    tag: str | None = None
    backbone: bool = True
    about: str = ""


WEIGHTS: dict[str, Weights] = {w.name: w for w in (
    Weights("fgaesq", "yzc002/FGAesQ", model="ViT-B-16", tag="openai", backbone=False,
            about="the published FGAesQ checkpoint (yzc002/FGAesQ)"),
    # open_clip's pretrained.py: ViT-B-16 "openai" -> hf_hub "timm/vit_base_patch16_clip_224.openai/"
    Weights("ViT-B-16", "timm/vit_base_patch16_clip_224.openai", OPEN_CLIP_FILES, model="ViT-B-16", tag="openai"),
    Weights("ViT-B-32", "timm/vit_base_patch32_clip_224.openai", OPEN_CLIP_FILES, model="ViT-B-32", tag="openai"),
    Weights("ViT-L-14", "timm/vit_large_patch14_clip_224.openai", OPEN_CLIP_FILES, model="ViT-L-14", tag="openai"),
)}

DEFAULT_BACKBONE = "ViT-B-16"  # grouping's embeddings and --scorer clip, when its weights are here

DOWNLOADS = ("fgaesq", "clip")  # what ``photocull models download NAME`` takes; clip: the default backbone


def default_backbone() -> Weights:
    """The default backbone's entry."""
    return WEIGHTS[DEFAULT_BACKBONE]


def download_entry(name: str) -> Weights | None:
    """The entry ``photocull models download NAME`` fetches (None: not a download name)."""
    if name not in DOWNLOADS:
        return None
    return default_backbone() if name == "clip" else WEIGHTS[name]


def download_name(model: str, tag: str | None) -> str | None:
    """The ``photocull models download`` name that fetches open_clip ``model``/``tag`` (None: none does)."""
    for name in DOWNLOADS:
        w = download_entry(name)
        if w is not None and w.backbone and (w.model, w.tag) == (model, tag):
            return name
    return None
