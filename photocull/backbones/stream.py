"""Embeddings for a stream of decoded images, batched as they arrive from the decode pool."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .clip import Backbone



def embed_stream(backbone: Backbone, items: Iterable[tuple[Any, np.ndarray | None]],
                 batch_size: int | None = None) -> Iterator[tuple[list[Any], np.ndarray]]:
    """Batch ``(key, image)`` pairs from an iterator (fed by a decode pool) through the model.

    Yields ``(keys, embeddings)`` per batch, in input order; ``embeddings`` is (len(keys), dim)
    float32, L2-normalised. Items whose image is ``None`` (decode failures, already reported
    by the decoder) are skipped. The iterator is pulled lazily, so the pool keeps decoding
    while a batch runs.
    """
    bs = 0  # read from the backbone at the first image: a lazy backbone with nothing to embed stays unloaded
    keys: list[Any] = []
    images: list[np.ndarray] = []
    for key, image in items:
        if image is None:
            continue
        bs = bs or max(1, int(batch_size or backbone.batch_size))
        keys.append(key)
        images.append(image)
        if len(images) >= bs:
            yield keys, backbone.embed_images(images, batch_size=bs)
            keys, images = [], []
    if images:
        yield keys, backbone.embed_images(images, batch_size=bs)
