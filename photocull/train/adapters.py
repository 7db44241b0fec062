"""Any photocull scorer as a plain function ``images -> scores`` for :func:`photocull.train.loop.evaluate`.

``scorer_fn_from_scorer`` wraps an object of the :class:`photocull.scorers.base.Scorer`
interface: each image becomes an :class:`~photocull.records.Analysis` (technical metrics,
the image itself, and an embedding when the scorer needs one), all of them one series.
:func:`make_scorer_fn` builds the function for a ``--scorer`` value: ``technical``,
``clip``, ``fgaesq`` (the installed model) or a path to an FGAesQ ``.safetensors`` file
(a trained checkpoint, e.g. ``RUN/checkpoint.safetensors``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from photocull.backbones.spec import DEFAULT_MODEL, DEFAULT_PRETRAINED
from photocull.records import Analysis, Series

__all__ = ["make_scorer_fn", "scorer_fn_from_scorer"]

ScorerFn = Callable[[list[np.ndarray]], Sequence[float]]


def scorer_fn_from_scorer(scorer: Any, embed: Callable[[list[np.ndarray]], np.ndarray] | None = None) -> ScorerFn:
    """Wrap a pipeline scorer; ``embed(images) -> (n, d)`` supplies embeddings when it needs them."""
    from photocull.scorers.technical import measure

    def fn(images: list[np.ndarray]) -> list[float]:
        embs = embed(images) if (embed is not None and getattr(scorer, "needs_embeddings", False)) else None
        analyses = []
        for i, img in enumerate(images):
            img = np.ascontiguousarray(np.asarray(img, np.uint8)[..., :3])
            h, w = img.shape[:2]
            analyses.append(Analysis(w, h, f"{i:016x}", f"{i:016x}", measure(Image.fromarray(img)), img,
                                     None if embs is None else np.asarray(embs[i], np.float32)))
        res = scorer.score([Series(0, list(range(len(images))))], analyses)
        return [float(r.score) for r in res]

    return fn


def make_scorer_fn(name: str, *, device: str = "auto", exhaustive: bool = False,
                   clip_model: str = DEFAULT_MODEL, clip_pretrained: str | None = DEFAULT_PRETRAINED,
                   ) -> tuple[ScorerFn, str]:
    """``(function, description)`` for a ``--scorer`` value (see the module docstring).

    Registered scorers are built by :func:`photocull.scorers.create_scorer`, as the CLI
    builds them; FGAesQ (installed or a checkpoint file) is then run image by image through
    the training loop's batched scorer.
    """
    from photocull.scorers import create_scorer, scorer_entry, scorer_names

    low = name.lower()
    path = Path(name).expanduser()
    if low == "fgaesq" or path.suffix in (".safetensors", ".pt", ".pth", ".bin"):
        from photocull.train.loop import model_scorer_fn

        weights = None if low == "fgaesq" else path
        if weights is not None and not weights.is_file():
            raise FileNotFoundError(f"{weights}: no such checkpoint")
        scorer = create_scorer("fgaesq", weights=weights, device=device, exhaustive=exhaustive)
        return model_scorer_fn(scorer.model, scorer.device, exhaustive=exhaustive), f"fgaesq ({weights or 'installed model'})"
    if low not in scorer_names():
        raise ValueError(f"unknown scorer {name!r}; choose {', '.join(scorer_names())} or a .safetensors checkpoint")
    backbone = None
    if scorer_entry(low).needs_embeddings:
        from photocull.backbones import BackboneSpec, load_backbone

        backbone = load_backbone(BackboneSpec(model=clip_model, pretrained=clip_pretrained), device)
    scorer = create_scorer(low, backbone=backbone, device=device, exhaustive=exhaustive)
    label = f"{low} ({backbone.spec.label})" if backbone is not None else low
    return scorer_fn_from_scorer(scorer, backbone.embed_images if backbone is not None else None), label
