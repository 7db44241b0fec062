"""Training losses for FGAesQ.

Coarse data (one image, a score):

* :func:`emd_loss` — the squared Earth Mover's Distance between score distributions of NIMA
  (Talebi & Milanfar, "NIMA: Neural Image Assessment", IEEE TIP 2018), ``r = 2``.
* :func:`mos_loss` — plain regression of the expected score on the mean opinion score.

Fine data (two frames, a calibrated preference ``p = P(a > b)``):

* :func:`rankreg_loss` — **RankReg** (FGAesQ): binary cross-entropy (or the fidelity loss of
  Tsai et al., "FRank", SIGIR 2007) of ``σ((s_a − s_b) / τ)`` against ``p``; the pairwise
  probability model of RankNet (Burges et al., ICML 2005).
* :func:`ctalign_loss` — **CTAlign** (FGAesQ): the cosine alignment of the shift between the
  two frames' (normalised) image embeddings, better minus worse, with the CLIP *text*
  embedding of the pair's comparative caption ("the sharper photo"). The text tower is
  frozen: captions are encoded once and cached by :class:`CaptionBank`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from photocull.backbones.spec import DEFAULT_MODEL, DEFAULT_PRETRAINED

__all__ = [
    "CaptionBank",
    "clip_text_encoder",
    "ctalign_loss",
    "emd_loss",
    "hashed_text_encoder",
    "mos_loss",
    "random_clip_text_encoder",
    "rankreg_loss",
]


def emd_loss(pred: torch.Tensor, target: torch.Tensor, r: float = 2.0) -> torch.Tensor:
    """NIMA's EMD between ``(B, K)`` distributions over ordered bins, averaged over the batch.

    ``EMD(p, t) = ( mean_k |CDF_p(k) − CDF_t(k)|^r )^(1/r)`` (Talebi & Milanfar 2018, eq. 1).
    """
    if pred.shape != target.shape:
        raise ValueError(f"emd_loss: shapes differ, {tuple(pred.shape)} vs {tuple(target.shape)}")
    cdf = torch.cumsum(pred.float(), -1) - torch.cumsum(target.float(), -1)
    return (cdf.abs().pow(r).mean(-1) + 1e-12).pow(1.0 / r).mean()


def mos_loss(score: torch.Tensor, mos: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the predicted expected score against the MOS (both on 1..10)."""
    return F.mse_loss(score.float(), mos.float().to(score.device))


def rankreg_loss(s_a: torch.Tensor, s_b: torch.Tensor, p: torch.Tensor, tau: float = 1.0,
                 kind: str = "bce") -> torch.Tensor:
    """RankReg: ``q = σ((s_a − s_b)/τ)`` against the calibrated ``p = P(a > b)``.

    ``kind="bce"``: ``−[p log q + (1 − p) log(1 − q)]`` (RankNet); ``kind="fidelity"``:
    ``1 − √(p q) − √((1 − p)(1 − q))`` (FRank). Mean over pairs.
    """
    p = p.float().to(s_a.device)
    z = (s_a.float() - s_b.float()) / tau
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(z, p)
    if kind == "fidelity":
        q = torch.sigmoid(z)
        return (1.0 - torch.sqrt(p * q + 1e-12) - torch.sqrt((1 - p) * (1 - q) + 1e-12)).mean()
    raise ValueError(f"rankreg kind must be 'bce' or 'fidelity', not {kind!r}")


def ctalign_loss(emb_a: torch.Tensor, emb_b: torch.Tensor, text: torch.Tensor,
                 p: torch.Tensor | None = None) -> torch.Tensor:
    """CTAlign: ``1 − cos(ê_better − ê_worse, t)`` with ``ê`` the L2-normalised image embeddings
    and ``t`` the caption's text embedding (the caption describes the *better* frame).

    With ``p = P(a > b)`` the better frame is ``a`` when ``p ≥ 0.5`` and each pair is weighted
    by its confidence ``|2p − 1|`` (a tie says nothing about direction); without ``p``, ``a``
    is the better one and every pair counts the same.
    """
    ea = F.normalize(emb_a.float(), dim=-1)
    eb = F.normalize(emb_b.float(), dim=-1)
    t = text.float().to(ea.device)
    if p is None:
        sign = torch.ones(ea.shape[0], device=ea.device)
        w = sign
    else:
        p = p.float().to(ea.device)
        sign = torch.where(p >= 0.5, 1.0, -1.0)
        w = (2 * p - 1).abs()
    cos = F.cosine_similarity((ea - eb) * sign[:, None], t, dim=-1, eps=1e-8)
    if float(w.sum()) <= 0:
        return (cos * 0).sum()
    return ((1.0 - cos) * w).sum() / w.sum()


# ------------------------------------------------------------------------------------------
# Caption embeddings: a frozen text tower, each caption encoded once

TextEncoder = Callable[[Sequence[str]], np.ndarray]


class CaptionBank:
    """Caches the text embedding of every caption: ``encoder`` runs once per distinct caption.

    ``bank.lookup(captions, device)`` → ``(B, D)`` float tensor (rows for ``None`` captions are
    zero). The cache is a dict ``caption → row`` over one tensor.
    """

    def __init__(self, encoder: TextEncoder, captions: Iterable[str] = ()):
        self.encoder = encoder
        self.index: dict[str, int] = {}
        self.table: torch.Tensor | None = None
        self.calls = 0
        self.add(captions)

    @property
    def dim(self) -> int:
        return 0 if self.table is None else int(self.table.shape[1])

    def add(self, captions: Iterable[str]) -> None:
        new = [c for c in dict.fromkeys(captions) if c is not None and c not in self.index]
        if not new:
            return
        self.calls += 1
        emb = torch.as_tensor(np.asarray(self.encoder(new), dtype=np.float32))
        if emb.ndim != 2 or emb.shape[0] != len(new):
            raise ValueError(f"text encoder returned shape {tuple(emb.shape)} for {len(new)} captions")
        emb = F.normalize(emb, dim=-1)
        start = 0 if self.table is None else self.table.shape[0]
        self.table = emb if self.table is None else torch.cat([self.table, emb])
        for i, c in enumerate(new):
            self.index[c] = start + i

    def lookup(self, captions: Sequence[str | None], device: torch.device | str = "cpu") -> torch.Tensor:
        self.add([c for c in captions if c is not None])
        rows = torch.tensor([self.index.get(c, -1) if c is not None else -1 for c in captions])
        out = torch.zeros(len(captions), self.dim)
        ok = rows >= 0
        if ok.any():
            out[ok] = self.table[rows[ok]]
        return out.to(device)


def hashed_text_encoder(dim: int, salt: str = "photocull/ctalign") -> TextEncoder:
    """A fixed, weight-free stand-in for a text tower: each caption → a pseudo-random unit vector
    seeded by SHA-256 of the caption (for random-init models and tests)."""

    def encode(texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), dim), np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(f"{salt}\0{t}".encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(dim)
            out[i] = v / np.linalg.norm(v)
        return out

    return encode


def clip_text_encoder(model: str = DEFAULT_MODEL, pretrained: str | None = DEFAULT_PRETRAINED, device: str = "cpu",
                      allow_download: bool | None = None) -> TextEncoder:
    """The frozen CLIP text tower of ``model``/``pretrained`` (local weights; see
    :func:`photocull.backbones.load_backbone`, which raises ``WeightsUnavailable`` without them)."""
    from photocull.backbones import BackboneSpec, load_backbone

    backbone = load_backbone(BackboneSpec(model=model, pretrained=pretrained), device,
                             allow_download=allow_download)
    return backbone.embed_texts


def random_clip_text_encoder(dim: int, *, width: int = 32, layers: int = 1, heads: int = 2,
                             seed: int = 0) -> TextEncoder:
    """A randomly initialised, frozen open_clip text tower with CLIP's own tokenizer (bundled
    BPE vocabulary, no download) — the real code path of CTAlign at test size."""
    from photocull.compat import import_open_clip

    oc = import_open_clip()
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        tower = oc.transformer.TextTransformer(context_length=77, vocab_size=49408, width=width,
                                               heads=heads, layers=layers, output_dim=dim)
    finally:
        torch.random.set_rng_state(gen_state)
    tower.eval().requires_grad_(False)
    tokenizer = oc.tokenizer.SimpleTokenizer()

    def encode(texts: Sequence[str]) -> np.ndarray:
        with torch.inference_mode():
            return tower(tokenizer(list(texts))).float().numpy()

    return encode
