"""CLIP backbones: which ones (``spec``, a registry kept as data), where their weights are
(``weights``, never waiting on a network), the loaded model (``clip``) and batched
embeddings for a stream of decoded images (``stream``). Importing this package loads no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .spec import (
    BACKBONES,
    DEFAULT_BACKBONE,
    DEFAULT_MODEL,
    DEFAULT_PRETRAINED,
    BackboneSpec,
    KnownBackbone,
    WeightsUnavailable,
    spec_from_options,
)
from .weights import download_allowed, resolve_weights, searched_locations, surely_absent

if TYPE_CHECKING:
    from .clip import Backbone, load_backbone
    from .stream import embed_stream

__all__ = [
    "BACKBONES", "DEFAULT_BACKBONE", "DEFAULT_MODEL", "DEFAULT_PRETRAINED", "Backbone", "BackboneSpec",
    "KnownBackbone", "WeightsUnavailable", "download_allowed", "embed_stream", "load_backbone",
    "resolve_weights", "searched_locations", "spec_from_options", "surely_absent",
]


def __getattr__(name: str) -> Any:
    """The model and the stream load lazily: they pull numpy/torch, the CLI's --help should not."""
    if name in ("Backbone", "load_backbone"):
        from . import clip

        return getattr(clip, name)
    if name == "embed_stream":
        from .stream import embed_stream

        return embed_stream
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
