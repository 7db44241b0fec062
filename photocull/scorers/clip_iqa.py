"""A CLIP zero-shot quality scorer in the manner of CLIP-IQA (Wang et al., AAAI 2023).

For users with CLIP weights but no FGAesQ checkpoint. Each antonym prompt pair
("a good photo" / "a bad photo", sharp / blurry, well exposed / badly exposed, ...)
gives P(positive) = softmax(100 * cos) over the pair; the score is their mean, on
0..10. It reuses the image embeddings the grouping already computed: no second pass
over the images, only a handful of text embeddings, computed once.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..records import Analysis, FrameScore, Series
from ..cache import scores_key
from .base import ScorerDefaults, ScorerRequest, register_scorer, thresholds_hash
from .technical import with_technical_flags
from .technical import TechnicalThresholds

PROMPT_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("quality", "a good photo.", "a bad photo."),
    ("sharpness", "a sharp photo.", "a blurry photo."),
    ("exposure", "a well exposed photo.", "a badly exposed photo."),
    ("composition", "a photo with good composition.", "a photo with bad composition."),
    ("noise", "a clean photo.", "a noisy photo."),
    ("aesthetics", "a beautiful photo.", "an ugly photo."),
)
LOGIT_SCALE = 100.0  # CLIP's learned temperature, as CLIP-IQA uses it


def prompt_scores(image_emb: np.ndarray, text_emb: np.ndarray) -> np.ndarray:
    """(N, pairs) probabilities that each image matches each pair's positive prompt."""
    logits = LOGIT_SCALE * image_emb @ text_emb.T  # (N, 2 * pairs): positive, negative alternating
    pos, neg = logits[:, 0::2], logits[:, 1::2]
    # 1/(1+exp(neg-pos)) written so that no exp overflows (a large gap is a probability of 0 or 1)
    d = (pos - neg).astype(np.float64)
    e = np.exp(-np.abs(d))
    return np.where(d >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class ClipIQAScorer(ScorerDefaults):
    name = "clip"
    needs_images = False
    needs_embeddings = True

    version = "1"

    def __init__(self, backbone, thresholds: TechnicalThresholds | None = None):
        self.backbone = backbone
        self.thresholds = thresholds or TechnicalThresholds()
        self._text_emb: np.ndarray | None = None
        # The prompts' embeddings need the model loaded: kept scores spare a warm run that.
        key = getattr(backbone, "key", None)
        self.cache_key = key and scores_key(self.name, f"{self.version}-t{thresholds_hash(self.thresholds)}", key)

    @property
    def text_emb(self) -> np.ndarray:
        if self._text_emb is None:
            texts = [t for _, pos, neg in PROMPT_PAIRS for t in (pos, neg)]
            self._text_emb = self.backbone.embed_texts(texts).astype(np.float32)
        return self._text_emb

    def score(self, series: Sequence[Series], analyses: Sequence[Analysis], progress=None) -> list[FrameScore]:
        def own(idx: int, tech: FrameScore) -> FrameScore:
            emb = analyses[idx].embedding
            if emb is None:
                return FrameScore(tech.score, {"technical": tech.score}, tech.problems)
            probs = prompt_scores(emb[None, :].astype(np.float32), self.text_emb)[0]
            components = {name: round(float(p), 4) for (name, _, _), p in zip(PROMPT_PAIRS, probs)}
            return FrameScore(round(10.0 * float(probs.mean()), 4), components, tech.problems)

        return with_technical_flags(series, analyses, self.thresholds, own)


@register_scorer("clip", label="CLIP prompts", needs_embeddings=True, auto_rank=20)
def create(req: ScorerRequest) -> ClipIQAScorer:
    return ClipIQAScorer(req.backbone, req.thresholds)
