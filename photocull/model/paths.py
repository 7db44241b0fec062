"""Where converted FGAesQ weights live (kept free of torch so the CLI can look cheaply)."""

from __future__ import annotations

import os
from pathlib import Path

from photocull import paths
from photocull.paths import MODEL_DIR_ENV  # noqa: F401  (re-exported: model.checkpoint names it)

DEFAULT_MODEL_FILE = "fgaesq.safetensors"


def default_model_dir() -> Path:
    """``$PHOTOCULL_MODEL_DIR``, else ``models`` in the user cache folder (``~/.cache/photocull/models``
    on Linux unless ``$XDG_CACHE_HOME`` says otherwise; ``~/Library/Caches`` on macOS)."""
    return paths.model_dir()


def find_model(name: str = DEFAULT_MODEL_FILE, model_dir: str | os.PathLike | None = None) -> Path | None:
    """The converted model file in the model directory, or ``None``."""
    p = (Path(model_dir) if model_dir is not None else default_model_dir()) / name
    return p if p.is_file() else None
