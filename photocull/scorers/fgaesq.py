"""The FGAesQ fine-grained aesthetic scorer inside the pipeline.

By default frames are tokenised and scored exactly as the published FGAesQ code does
(:mod:`photocull.model.official`), from the full-resolution decode of each file: a series
frame is scored in its pair with a reference frame of the series (the medoid; O(n) passes,
see ``benchmarks/fgaesq_official.py``) or by the official all-pairs averaging (O(n²));
``exhaustive=None`` picks all pairs for series of up to :data:`AUTO_EXHAUSTIVE_MAX` frames
and the O(n) mode beyond; a single frame in single-image mode with ``seed``. Pair ids are
``"{series id}_{i}_{j}"`` with frames numbered 1..n in series order, so a folder laid out as
the official script expects gets the official script's numbers.

``tokens="photocull"`` is photocull's earlier tokenizer (:mod:`photocull.model.series`), used for
weights photocull trained itself on those tokens (:func:`photocull.model.weights.token_convention`).
Technical problem flags (blur, exposure, noise) still come from the weight-free
measurements: an aesthetic model is not a focus checker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..records import Analysis, FrameScore, Series
from .base import ScorerRequest, ScorerUnavailable, register_scorer
from .technical import TechnicalThresholds, score_series as technical_series



# exhaustive=None (auto): all pairs up to this many frames, one reference pair per frame beyond.
# All pairs cost n(n-1) passes against O(n)'s at most 2(n-1): 6 vs 4 at n=3, 20 vs 8 at n=5,
# 56 vs 14 at n=8; and with one reference pair a frame's score rests on one draw of blocks.
AUTO_EXHAUSTIVE_MAX = 5


def frame_identity(a: Analysis) -> str:
    """A content identity (seeds photocull's own tokenizer): stable across renames and re-runs."""
    return f"{a.phash}:{a.dhash}:{a.width}x{a.height}"


def load_full_resolution(source) -> object:
    """The full-resolution, oriented RGB image of a frame (a path, a ``(path, format)`` pair decoded by :func:`photocull.decode.decode`, a
    function returning the image, or the image itself)."""
    if callable(source):
        return source()
    if isinstance(source, tuple):
        from ..decode import decode

        path, fmt = source
        return decode(Path(path), fmt, decode_size=1 << 30).image
    return source


def _similarity(members: Sequence[Analysis]) -> np.ndarray:
    """Similarity for choosing references: embeddings when every frame has one, else 32×32
    grey thumbnails of the working images."""
    emb = [a.embedding for a in members]
    if all(e is not None for e in emb):
        e = np.stack([np.asarray(x, np.float64).ravel() for x in emb])
        e /= np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        return e @ e.T
    from ..model.official import thumbnail_similarity

    return thumbnail_similarity([a.image for a in members])


class FGAesQScorer:
    name = "fgaesq"
    needs_images = True
    needs_embeddings = False  # used for the medoid when present

    def __init__(
        self,
        model,
        *,
        device: str = "cpu",
        exhaustive: bool | None = False,
        batch_size: int = 16,
        weights: Path | None = None,
        thresholds: TechnicalThresholds | None = None,
        seed: int = 0,
        tokens: str = "official",
    ):
        if tokens not in ("official", "photocull"):
            raise ValueError(f"tokens must be 'official' or 'photocull', not {tokens!r}")
        self.model = model
        self.device = device
        self.exhaustive = exhaustive
        self.batch_size = batch_size
        self.weights = weights
        self.thresholds = thresholds or TechnicalThresholds()
        self.seed = seed
        self.tokens = tokens
        mode = {True: "-exhaustive", None: "-auto"}.get(exhaustive, "")
        self.version = (f"2-official-seed{seed}" if tokens == "official" else "1") + mode

    def score(self, series: Sequence[Series], analyses: Sequence[Analysis], progress=None,
              sources: Sequence | None = None) -> list[FrameScore]:
        """Scores of every frame. ``sources`` (aligned with ``analyses``) gives each frame's
        full-resolution image (as :func:`load_full_resolution` takes it); without it the working images are scored,
        which matches the official numbers only when they are the full-resolution decode."""
        if self.tokens == "photocull":
            aesthetic = self._score_photocull(series, analyses, progress)
        else:
            aesthetic = self._score_official(series, analyses, progress, sources)
        out: list[FrameScore | None] = [None] * len(analyses)
        for s in series:
            tech = technical_series([analyses[i].metrics for i in s.members], self.thresholds)
            for k, idx in enumerate(s.members):
                a = round(float(aesthetic[idx]), 4)
                out[idx] = FrameScore(score=a, components={"aesthetic": a, "technical": tech[k].score},
                                      problems=tech[k].problems)
        return [fs if fs is not None else FrameScore(0.0, problems=["not scored"]) for fs in out]

    def _score_official(self, series, analyses, progress, sources) -> dict[int, float]:
        from ..model.official import score_images, score_series
        from ..model.series import choose_references

        def image(i: int):
            return load_full_resolution(sources[i]) if sources is not None else analyses[i].image

        result: dict[int, float] = {}
        singles = [s.members[0] for s in series if len(s.members) == 1]
        for start in range(0, len(singles), self.batch_size):
            chunk = singles[start:start + self.batch_size]
            scores = score_images(self.model, [image(i) for i in chunk], self.seed,
                                  batch_size=self.batch_size, device=self.device, progress=progress)
            result.update(zip(chunk, scores.tolist()))
        for s in series:
            if len(s.members) == 1:
                continue
            members = [analyses[i] for i in s.members]
            exhaustive = self.exhaustive
            if exhaustive is None:  # auto: all pairs while they cost little (benchmarks/fgaesq_official.py)
                exhaustive = len(members) <= AUTO_EXHAUSTIVE_MAX
            refs = None if exhaustive else choose_references(_similarity(members))
            imgs = [image(i) for i in s.members]
            res = score_series(self.model, imgs, series_id=str(s.id), exhaustive=exhaustive,
                               references=refs, seed=self.seed, batch_size=self.batch_size,
                               device=self.device)
            result.update(zip(s.members, res.scores.tolist()))
            if progress is not None:
                progress(len(s.members))  # frames of this series are scored
        return result

    def _score_photocull(self, series, analyses, progress) -> dict[int, float]:
        from ..model.series import SeriesInput, score_many

        inputs = []
        for s in series:
            members = [analyses[i] for i in s.members]
            emb = [a.embedding for a in members]
            inputs.append(SeriesInput(images=[a.image for a in members],
                                      embeddings=np.stack(emb) if all(e is not None for e in emb) else None,
                                      identities=[frame_identity(a) for a in members]))
        results = score_many(inputs, self.model, exhaustive=self.exhaustive, device=self.device,
                             batch_size=self.batch_size, progress=progress)
        return {idx: float(res.scores[k]) for s, res in zip(series, results) for k, idx in enumerate(s.members)}


def load_scorer(weights: Path | None, device: str, **kwargs) -> FGAesQScorer:
    """FGAesQ from ``weights`` (the official ``.pt/.pth/.bin``, converted once and cached, or a
    photocull ``.safetensors``; default: the model folder). Raises ``FileNotFoundError`` when
    there are none and :class:`photocull.model.weights.WeightsError` for an unusable file."""
    import torch

    from ..runtime import pick_device
    from ..model.checkpoint import load_model
    from ..model.paths import find_model
    from ..model.weights import load_fgaesq_model, token_convention

    dev = pick_device(device)
    if weights is not None:
        model, convention = load_fgaesq_model(weights, device=str(dev))
    else:
        model = load_model(device=dev)
        convention = token_convention(find_model())
    kwargs.setdefault("tokens", convention)
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
