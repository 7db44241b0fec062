"""Scorers: one module per scorer behind the small interface and registry in ``base``.

Importing this package registers the built-in scorers (technical, clip, fgaesq); a new
scorer is one module that calls :func:`register_scorer`, plus its import line below.
"""

from __future__ import annotations

from .base import (
    AutoChoice,
    Scorer,
    ScorerDefaults,
    ScorerRequest,
    ScorerUnavailable,
    create_scorer,
    register_scorer,
    resolve_auto,
    scorer_entry,
    scorer_names,
    unregister_scorer,
)
from .technical import TechnicalScorer

register_scorer("technical", label="the technical scorer (sharpness, exposure, noise)", auto_rank=10)(
    lambda req: TechnicalScorer(req.thresholds))
from . import clip_iqa, fgaesq  # noqa: E402,F401  (their modules register clip and fgaesq)

__all__ = [
    "AutoChoice", "Scorer", "ScorerDefaults", "ScorerRequest", "ScorerUnavailable", "create_scorer", "register_scorer",
    "resolve_auto", "scorer_entry", "scorer_names", "unregister_scorer",
]
