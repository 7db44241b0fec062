"""The FGAesQ fine-grained aesthetic scorer inside the pipeline.

Each frame is scored conditioned on a reference frame of its own series (the medoid by
embedding, O(n) forward passes), or with ``exhaustive`` by the official all-pairs
averaging (O(n^2)). Technical problem flags (blur, exposure, noise) still come from
the weight-free measurements: an aesthetic model is not a focus checker, and a
photographer wants a blurred frame ranked last whatever its composition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..records import Analysis, FrameScore, Series
from .base import ScorerRequest, ScorerUnavailable, register_scorer
from .technical import TechnicalThresholds, score_series as technical_series


def frame_identity(a: Analysis) -> str:
    """A content identity (seeds DiffToken's block choice): stable across renames and re-runs."""
    return f"{a.phash}:{a.dhash}:{a.width}x{a.height}"


class FGAesQScorer:
    name = "fgaesq"
    needs_images = True
    needs_embeddings = False  # used for the medoid when present

    def __init__(
        self,
        model,
        *,
        device: str = "cpu",
        exhaustive: bool = False,
        batch_size: int = 16,
        weights: Path | None = None,
        thresholds: TechnicalThresholds | None = None,
    ):
        self.model = model
        self.device = device
        self.exhaustive = exhaustive
        self.batch_size = batch_size
        self.weights = weights
        self.thresholds = thresholds or TechnicalThresholds()

    def score(self, series: Sequence[Series], analyses: Sequence[Analysis], progress=None) -> list[FrameScore]:
        from ..model.series import SeriesInput, score_many

        inputs = []
        for s in series:
            members = [analyses[i] for i in s.members]
            emb = [a.embedding for a in members]
            inputs.append(
                SeriesInput(
                    images=[a.image for a in members],
                    embeddings=np.stack(emb) if all(e is not None for e in emb) else None,
                    identities=[frame_identity(a) for a in members],
                )
            )
        results = score_many(
            inputs, self.model, exhaustive=self.exhaustive, device=self.device, batch_size=self.batch_size, progress=progress
        )
        out: list[FrameScore | None] = [None] * len(analyses)
        for s, res in zip(series, results):
            tech = technical_series([analyses[i].metrics for i in s.members], self.thresholds)
            for k, idx in enumerate(s.members):
                aesthetic = float(res.scores[k])
                out[idx] = FrameScore(
                    score=round(aesthetic, 4),
                    components={"aesthetic": round(aesthetic, 4), "technical": tech[k].score},
                    problems=tech[k].problems,
                )
        return [fs if fs is not None else FrameScore(0.0, problems=["not scored"]) for fs in out]


def load_scorer(weights: Path | None, device: str, **kwargs) -> FGAesQScorer:
    """Load FGAesQ weights (a photocull safetensors file; default: the model cache)."""
    import torch

    from ..runtime import pick_device
    from ..model.checkpoint import load_model

    dev = pick_device(device)
    model = load_model(weights, device=dev)
    if dev.type == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads()))
    return FGAesQScorer(model, device=str(dev), weights=weights, **kwargs)


def _weights_missing(req: ScorerRequest) -> str | None:
    from ..model.paths import default_model_dir, find_model

    if req.model is not None or req.weights is not None or find_model() is not None:
        return None
    return f"no FGAesQ weights in {default_model_dir()}"


@register_scorer("fgaesq", label="FGAesQ", auto_rank=30, unavailable=_weights_missing)
def create(req: ScorerRequest) -> FGAesQScorer:
    """From ``req.model`` (built already) or the weights file (default: the model cache)."""
    from ..runtime import DeviceUnavailable

    kwargs = dict(exhaustive=req.exhaustive, batch_size=req.batch_size or 16, thresholds=req.thresholds)
    if req.model is not None:
        return FGAesQScorer(req.model, device=str(next(req.model.parameters()).device), weights=req.weights, **kwargs)
    try:
        return load_scorer(req.weights, req.device, **kwargs)
    except (FileNotFoundError, DeviceUnavailable, ValueError, OSError) as exc:
        raise ScorerUnavailable(
            f"{exc}\nAlternatives: --weights PATH.safetensors, 'photocull models import-fgaesq CHECKPOINT', "
            "or --scorer technical.") from exc
