"""The FGAesQ fine-grained aesthetic scorer inside the pipeline.

By default frames are tokenised and scored exactly as the published FGAesQ code does
(:mod:`photocull.model.official`), from the full-resolution decode of each file: a series
frame is scored in its pair with a reference frame of the series (the medoid; O(n) passes,
see ``benchmarks/fgaesq_official.py``) or by the official all-pairs averaging (O(n²));
``exhaustive=None`` picks all pairs for series of up to :data:`AUTO_EXHAUSTIVE_MAX` frames
and the O(n) mode beyond; a single frame in single-image mode with ``seed``. Pair ids are
``"{series}_{i}_{j}"`` named from the series' own files (:func:`series_naming`), never from
its place in the run: a burst scores the same culled alone or within its parent folder, and
a folder laid out as the official script expects gets the official script's numbers. Frames
are read at full resolution when a pair needs them (:class:`photocull.model.official.FrameCache`).

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
from .base import ScorerDefaults, ScorerRequest, ScorerUnavailable, register_scorer, thresholds_hash
from .technical import with_technical_flags
from .technical import TechnicalThresholds



# exhaustive=None (auto): all pairs up to this many frames, one reference pair per frame beyond.
# All pairs cost n(n-1) passes against O(n)'s at most 2(n-1): 6 vs 4 at n=3, 20 vs 8 at n=5,
# 56 vs 14 at n=8; and with one reference pair a frame's score rests on one draw of blocks.
AUTO_EXHAUSTIVE_MAX = 5


def frame_identity(a: Analysis) -> str:
    """A content identity (seeds photocull's own tokenizer): stable across renames and re-runs."""
    return f"{a.phash}:{a.dhash}:{a.width}x{a.height}"


def load_full_resolution(source) -> object:
    """The full-resolution, oriented RGB frame FGAesQ scores (a path, a ``(path, format)`` pair,
    a function returning the image, or the image itself): files are read by
    :func:`photocull.model.official_tokens.load_image`, the one reading the Python API uses too."""
    if callable(source):
        return source()
    if isinstance(source, tuple):
        from ..model.official_tokens import load_image

        path, fmt = source
        return load_image(Path(path), fmt)
    return source


def series_naming(s: Series, sources: Sequence | None, analyses: Sequence[Analysis]) -> tuple[str, list[int]]:
    """The id and frame numbers that seed a series' pairs: from its files
    (:func:`photocull.model.official.series_naming`: the folder and ``-<k>`` numbers in the
    official layout, else a digest of the file names), or, without files, a digest of the
    frames' content identities. Never the series' position in the run."""
    from ..model.official import series_naming as from_files

    if sources is not None:
        return from_files([src[0] if isinstance(src, tuple) else src for src in (sources[i] for i in s.members)])
    import hashlib

    ids = "\n".join(sorted(frame_identity(analyses[i]) for i in s.members))
    return "s" + hashlib.md5(ids.encode()).hexdigest()[:12], list(range(1, len(s.members) + 1))


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


class FGAesQScorer(ScorerDefaults):
    """FGAesQ over series. The model is built on first use (``loader``), so a warm run whose
    scores are all in the cache (:attr:`cache_key`) never loads it."""

    name = "fgaesq"
    needs_images = True
    needs_embeddings = False  # used for the medoid when present
    needs_sources = True  # score() decodes each file at full resolution (the official input)

    def __init__(
        self,
        model=None,
        *,
        loader=None,
        device: str = "cpu",
        exhaustive: bool | None = None,
        batch_size: int = 16,
        weights: Path | None = None,
        weights_id: str | None = None,
        thresholds: TechnicalThresholds | None = None,
        seed: int = 0,
        tokens: str = "official",
    ):
        if tokens not in ("official", "photocull"):
            raise ValueError(f"tokens must be 'official' or 'photocull', not {tokens!r}")
        if (model is None) == (loader is None):
            raise ValueError("give the model or a loader, not both or neither")
        self._model = model
        self._loader = loader  # () -> (model, device string)
        self.device = device
        self.exhaustive = exhaustive
        self.batch_size = batch_size
        self.weights = weights
        self.thresholds = thresholds or TechnicalThresholds()
        self.seed = seed
        self.tokens = tokens
        mode = {True: "-exhaustive", None: "-auto"}.get(exhaustive, "")
        self.version = (f"3-official-seed{seed}" if tokens == "official" else "1") + mode
        # Scores are kept only for weights with a file identity (a model built in memory has none).
        self.cache_key = None if weights_id is None else _scores_key(self.version, weights_id, self.thresholds)

    @property
    def model(self):
        """The FGAesQ module, loaded on first use."""
        if self._model is None:
            self._model, self.device = self._loader()
        return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def score(self, series: Sequence[Series], analyses: Sequence[Analysis], progress=None,
              sources: Sequence | None = None) -> list[FrameScore]:
        """Scores of every frame. ``sources`` (aligned with ``analyses``) gives each frame's
        full-resolution image (as :func:`load_full_resolution` takes it); without it the working images are scored,
        which matches the official numbers only when they are the full-resolution decode."""
        if not series:
            return [FrameScore(0.0, problems=["not scored"]) for _ in analyses]
        self.model  # load now (also settles self.device)
        if self.tokens == "photocull":
            aesthetic = self._score_photocull(series, analyses, progress)
        else:
            aesthetic = self._score_official(series, analyses, progress, sources)
        def own(idx: int, tech: FrameScore) -> FrameScore:
            a = round(float(aesthetic[idx]), 4)
            return FrameScore(score=a, components={"aesthetic": a, "technical": tech.score}, problems=tech.problems)

        return with_technical_flags(series, analyses, self.thresholds, own)

    def _score_official(self, series, analyses, progress, sources) -> dict[int, float]:
        from ..model.official import score_images, score_series
        from ..model.series import choose_references

        def image(i: int):
            if sources is None:
                return analyses[i].image
            return lambda: load_full_resolution(sources[i])  # read when needed, not held

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
            name, numbers = series_naming(s, sources, analyses)
            res = score_series(self.model, [image(i) for i in s.members], series_id=name, indices=numbers,
                               exhaustive=exhaustive, references=refs, seed=self.seed,
                               batch_size=self.batch_size, device=self.device)
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


def _scores_key(version: str, weights_id: str, thresholds: TechnicalThresholds) -> str:
    """Version (tokens, seed, series mode), weights and the technical thresholds behind the
    problem flags: any change misses the cache instead of reading scores of another setting."""
    from ..cache import scores_key

    return scores_key("fgaesq", f"{version}-t{thresholds_hash(thresholds)}", weights_id)


def weights_identity(path: Path) -> str:
    """Who a weights file is, cheaply (no hashing of a GB file on every run): resolved path,
    size and mtime; a replaced or edited file gets a new identity."""
    import hashlib

    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def _check_weights_file(p: Path) -> str:
    """Cheap checks now (the file is there and not empty) and the token convention; the rest
    (reading, converting) when the model is first needed. Raises WeightsError."""
    from ..model.weights import check_weights_file, is_photocull_file, token_convention

    check_weights_file(p)
    return token_convention(p) if is_photocull_file(p) else "official"


def load_scorer(weights: Path | None, device: str, **kwargs) -> FGAesQScorer:
    """FGAesQ from ``weights`` (the official ``.pt/.pth/.bin``, converted once and cached, or a
    photocull ``.safetensors``; default: the model folder), loaded when first used. Raises
    ``FileNotFoundError`` when there are none and :class:`photocull.model.weights.WeightsError`
    for an unusable file (now for the cheap checks, on first use for the rest)."""
    from ..model.paths import default_model_dir, find_model

    if weights is not None:
        path = Path(weights)
        convention = _check_weights_file(path)
    else:
        path = find_model()
        if path is None:
            raise FileNotFoundError(f"no FGAesQ weights in {default_model_dir()}")
        convention = _check_weights_file(path)
    kwargs.setdefault("tokens", convention)

    def load():
        from ..model.weights import WeightsError, load_fgaesq_model
        from ..runtime import DeviceUnavailable, pick_device

        try:
            dev = pick_device(device)
            model, _ = load_fgaesq_model(path, device=str(dev))
        except (WeightsError, DeviceUnavailable, OSError) as exc:  # the user's file or machine: say so
            raise ScorerUnavailable(f"{exc}\n{ALTERNATIVES}") from exc
        return model, str(dev)

    return FGAesQScorer(loader=load, device=device, weights=weights, weights_id=weights_identity(path), **kwargs)


def _weights_missing(req: ScorerRequest) -> str | None:
    from ..model.paths import default_model_dir, find_model

    if req.model is not None or req.weights is not None or find_model() is not None:
        return None
    return f"no FGAesQ weights in {default_model_dir()}"


ALTERNATIVES = ("Alternatives: --weights FILE (the official FGAesQ .pt/.pth/.bin as published, or a photocull "
                ".safetensors), 'photocull models download fgaesq', or --scorer technical.")


@register_scorer("fgaesq", label="FGAesQ", auto_rank=30, unavailable=_weights_missing)
def create(req: ScorerRequest) -> FGAesQScorer:
    """From ``req.model`` (built already) or the weights file (default: the model cache)."""
    kwargs = dict(exhaustive=req.exhaustive, batch_size=req.batch_size or 16, thresholds=req.thresholds,
                  seed=req.seed)
    if req.model is not None:
        return FGAesQScorer(req.model, device=str(next(req.model.parameters()).device), weights=req.weights, **kwargs)
    try:
        return load_scorer(req.weights, req.device, **kwargs)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise ScorerUnavailable(f"{exc}\n{ALTERNATIVES}") from exc

