"""The FGAesQ training loop and the scorer-agnostic evaluation.

:func:`train` runs the stages of a :class:`~photocull.train.config.TrainConfig` in order
(AdamW, linear warm-up + cosine decay per stage, gradient accumulation, gradient clipping,
bf16 autocast on CUDA), calls a progress callback after every step, measures pair accuracy
on held-out edit pairs every ``eval_every`` steps, and writes a run folder::

    RUN/config.json                 the TrainConfig and the FGAesQConfig
    RUN/checkpoint.safetensors      the latest weights (FGAesQ.load_safetensors reads it)
    RUN/step_000500.safetensors     every checkpoint_every steps
    RUN/train_state.pt              optimizer state, step and history, for resume=True
    RUN/history.json                the evaluation history (step, seconds, held-out accuracy)

Determinism: the micro-batch of index ``i`` is a pure function of ``(seed, i)`` (data
sources, pairs, edits, swaps), the dropout generator is re-seeded from ``(seed, step)``
before every step and the learning rate is a function of the step, so a resumed run
continues exactly where the interrupted one stopped.

Batches: every micro-batch comes from one source, drawn with the stage's ``mix`` weights —
edit pairs and fine pairs are presented as two token sets per pair, each frame conditioned
on its partner (DiffToken with a reference); coarse images in single-image mode.

:func:`evaluate` measures *any* scorer given as a function ``images -> scores`` on a
fine-grained, coarse or edit-pair dataset (:mod:`photocull.train.datasets`).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from photocull.runtime import autocast, pick_device
from photocull.model.config import FGAESQ, DiffTokenConfig, FGAesQConfig
from photocull.model.difftoken import TokenBatch, build_pair_tokens, build_tokens, collate
from photocull.model.fgaesq import FGAesQ
from photocull.train import losses as L
from photocull import metrics as M
from photocull.train.config import StageConfig, TrainConfig
from photocull.train.datasets import (
    CoarseDataset,
    EditPairDataset,
    FineDataset,
    load_coarse,
    load_fine,
)
from photocull.train.edits import EditPair, EditPairSampler, load_photo_folder, procedural_images

__all__ = [
    "ImageBatch",
    "PairBatch",
    "ScorerFn",
    "TrainEvent",
    "TrainResult",
    "build_model",
    "evaluate",
    "heldout_accuracy",
    "lr_at",
    "model_scorer_fn",
    "train",
]

ScorerFn = Callable[[list[np.ndarray]], Sequence[float]]

STATE_FILE = "train_state.pt"
CHECKPOINT_FILE = "checkpoint.safetensors"
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
STEP_KEY = "photocull.train.step"


# ------------------------------------------------------------------------------------------
# Batches


@dataclass
class PairBatch:
    """``B`` pairs: ``tokens`` holds the ``a`` frames then the ``b`` frames (2B token sets)."""

    tokens: TokenBatch
    p: torch.Tensor  # (B,) P(a > b)
    captions: list[str | None]
    source: str


@dataclass
class ImageBatch:
    tokens: TokenBatch
    mos: torch.Tensor  # (B,)
    hist: torch.Tensor | None  # (B, 10)
    source: str = "coarse"


def _seed(*parts: Any) -> int:
    h = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def pair_tokens(a: np.ndarray, b: np.ndarray, key: str, tok: DiffTokenConfig):
    return build_pair_tokens(a, b, identity_a=key + ":a", identity_b=key + ":b", cfg=tok)


def collate_pairs(pairs: Sequence[tuple[np.ndarray, np.ndarray, float, str | None, str]],
                  tok: DiffTokenConfig, source: str) -> PairBatch:
    ta, tb = [], []
    for a, b, _, _, key in pairs:
        x, y = pair_tokens(a, b, key, tok)
        ta.append(x)
        tb.append(y)
    return PairBatch(collate(ta + tb), torch.tensor([p for _, _, p, _, _ in pairs], dtype=torch.float32),
                     [c for _, _, _, c, _ in pairs], source)


class Schedule:
    """Where a global step falls (stage, step in stage) and its learning rate."""

    def __init__(self, stages: Sequence[StageConfig]):
        self.stages = list(stages)
        self.starts = np.cumsum([0] + [s.steps for s in self.stages]).tolist()
        self.total = self.starts[-1]

    def locate(self, step: int) -> tuple[int, int]:
        for i, s in enumerate(self.stages):
            if step < self.starts[i + 1]:
                return i, step - self.starts[i]
        raise IndexError(f"step {step} is past the last stage ({self.total} steps)")


def lr_at(stage: StageConfig, step: int) -> float:
    """Linear warm-up to ``stage.lr`` over ``warmup`` steps, then cosine to ``lr·min_lr_ratio``."""
    if stage.warmup and step < stage.warmup:
        return stage.lr * (step + 1) / stage.warmup
    span = max(1, stage.steps - stage.warmup)
    t = min(1.0, (step - stage.warmup) / span)
    lo = stage.lr * stage.min_lr_ratio
    return lo + (stage.lr - lo) * 0.5 * (1.0 + math.cos(math.pi * t))


class BatchMaker(torch.utils.data.Dataset):
    """Micro-batch ``i`` as a pure function of ``(seed, i)``; usable in DataLoader workers."""

    def __init__(self, cfg: TrainConfig, tok: DiffTokenConfig, schedule: Schedule,
                 edits: EditPairSampler | None, fine: FineDataset | None, coarse: CoarseDataset | None):
        self.cfg, self.tok, self.schedule = cfg, tok, schedule
        self.sources = {"edits": edits, "fine": fine, "coarse": coarse}
        self.mixes = []
        for st in schedule.stages:
            names = [k for k, v in st.mix.items() if v > 0 and self.sources.get(k) is not None]
            w = np.array([st.mix[k] for k in names], np.float64)
            self.mixes.append((names, w / w.sum() if len(w) else w))

    def __len__(self) -> int:
        return self.schedule.total * self.cfg.accum

    def active(self, stage_index: int) -> list[str]:
        return self.mixes[stage_index][0]

    def __getitem__(self, micro: int) -> PairBatch | ImageBatch:
        step = micro // self.cfg.accum
        si, _ = self.schedule.locate(step)
        stage = self.schedule.stages[si]
        names, w = self.mixes[si]
        rng = np.random.default_rng(_seed(self.cfg.seed, "batch", micro))
        src = names[int(rng.choice(len(names), p=w))]
        if src == "edits":
            sampler: EditPairSampler = self.sources["edits"]  # type: ignore[assignment]
            items = []
            for j in range(stage.batch_pairs):
                idx = micro * stage.batch_pairs + j
                ep = sampler.pair(idx)
                a, b, p = ep.as_labelled(sampler.swap(idx))
                items.append((a, b, p, ep.caption, ep.key))
            return collate_pairs(items, self.tok, "edits")
        if src == "fine":
            ds: FineDataset = self.sources["fine"]  # type: ignore[assignment]
            pairs = ds.pairs()
            items = []
            for k in rng.integers(len(pairs), size=stage.batch_pairs):
                pr = pairs[int(k)]
                a, b = ds.image(pr.series, pr.a), ds.image(pr.series, pr.b)
                key = f"{pr.series}/{pr.a}|{pr.series}/{pr.b}"
                if rng.random() < 0.5:
                    items.append((b, a, 1.0 - pr.p, pr.caption, key + ":swap"))
                else:
                    items.append((a, b, pr.p, pr.caption, key))
            return collate_pairs(items, self.tok, "fine")
        cds: CoarseDataset = self.sources["coarse"]  # type: ignore[assignment]
        idx = rng.integers(len(cds), size=stage.batch_images)
        toks = [build_tokens(cds.image(int(i)), identity=str(cds.items[int(i)].path), cfg=self.tok) for i in idx]
        mos = torch.tensor([cds.items[int(i)].mos for i in idx], dtype=torch.float32)
        hist = None
        if cds.has_hist:
            hist = torch.from_numpy(np.stack([cds.items[int(i)].hist for i in idx]))
        return ImageBatch(collate(toks), mos, hist)


# ------------------------------------------------------------------------------------------
# Model and data set-up


def _model_config(cfg: TrainConfig) -> FGAesQConfig:
    name = cfg.model.lower()
    if name == "tiny":
        base = FGAesQConfig.tiny()
    elif name in ("vit-b-16", "vit-b/16", "base", "fgaesq"):
        base = FGAesQConfig()
    else:
        raise ValueError(f"unknown model {cfg.model!r}; choose vit-b-16 or tiny")
    if cfg.model_overrides:
        d = base.to_dict()
        over = dict(cfg.model_overrides)
        if "tokens" in over:
            d["tokens"] = {**d["tokens"], **over.pop("tokens")}
        d.update(over)
        base = FGAesQConfig.from_dict(d)
    return base


def _is_fgaesq_file(path: Path) -> bool:
    if path.suffix != ".safetensors":
        return False
    from safetensors import safe_open

    from photocull.model.fgaesq import CONFIG_METADATA_KEY

    with safe_open(str(path), framework="pt") as f:
        return CONFIG_METADATA_KEY in (f.metadata() or {})


def build_model(cfg: TrainConfig) -> tuple[FGAesQ, str]:
    """The model to start from, and a line saying what it is.

    ``init``: ``"random"``; an open_clip tag (``"openai"``: CLIP weights from the local cache
    for the tower, random head); a photocull FGAesQ ``.safetensors`` (its own config wins);
    the official FGAesQ state dict; or an open_clip weights file for the tower.
    """
    mcfg = _model_config(cfg)
    init = cfg.init
    if init == "random":
        return FGAesQ(FGAesQConfig.from_dict({**mcfg.to_dict(), "pretrained": None})), "random init"
    path = Path(init).expanduser()
    if path.is_file():
        if _is_fgaesq_file(path):
            m = FGAesQ.load_safetensors(path)
            return m, f"FGAesQ checkpoint {path}"
        from photocull.model.checkpoint import import_official, load_state_dict

        state = load_state_dict(path)
        if any(k.startswith("iqa_head.") for k in state):
            m, report = import_official(state, strict=True)
            return m, f"official FGAesQ checkpoint {path}"
        mcfg = FGAesQConfig.from_dict({**mcfg.to_dict(), "pretrained": str(path)})
        return FGAesQ(mcfg), f"open_clip tower weights {path}"
    mcfg = FGAesQConfig.from_dict({**mcfg.to_dict(), "pretrained": init})
    return FGAesQ(mcfg), f"open_clip {mcfg.clip_model} / {init}"


def _images_from(spec: str, seed: int, long_side: int) -> list[np.ndarray]:
    if spec.startswith("procedural:"):
        n = int(spec.split(":", 1)[1])
        return procedural_images(n, size=min(long_side, 256), seed=seed)
    return load_photo_folder(spec, long_side=long_side)


def _text_encoder(cfg: TrainConfig, model: FGAesQ, note: Callable[[str], None]) -> L.TextEncoder:
    dim = model.cfg.output_dim
    choice = cfg.text
    if choice == "hashed":
        return L.hashed_text_encoder(dim)
    if choice == "random-clip":
        return L.random_clip_text_encoder(dim)
    pretrained = model.cfg.pretrained or (FGAESQ.tag if cfg.init != "random" else None)
    if choice == "clip" or (choice == "auto" and pretrained and cfg.model.lower() != "tiny"):
        from photocull.backbones import WeightsUnavailable

        try:
            enc = L.clip_text_encoder(model.cfg.clip_model, pretrained if pretrained and not
                                      Path(str(pretrained)).is_file() else FGAESQ.tag, device="cpu")
            if enc(["probe"]).shape[1] != dim:
                raise ValueError("text embedding size differs from the image embedding size")
            return enc
        except (WeightsUnavailable, ValueError, RuntimeError) as exc:
            if choice == "clip":
                raise
            note(f"CLIP text tower unavailable ({exc}); CTAlign uses fixed hashed caption directions")
    return L.hashed_text_encoder(dim)


# ------------------------------------------------------------------------------------------
# Held-out pair accuracy


@dataclass
class HeldOut:
    pairs: list[EditPair]
    tokens: TokenBatch  # originals then edited
    families: list[str]


def make_heldout(images: Sequence[np.ndarray], n: int, seed: int, tok: DiffTokenConfig,
                 families: Sequence[str] | None = None,
                 magnitude_range: tuple[float, float] = (0.15, 1.0)) -> HeldOut:
    """``n`` fixed edit pairs from ``images`` (which training must never see), tokenised once."""
    sampler = EditPairSampler(images, families, seed=_seed(seed, "heldout") % (2**31),
                              magnitude_range=magnitude_range, flip=False)
    pairs = [sampler.pair(i) for i in range(n)]
    ta, tb = [], []
    for ep in pairs:
        x, y = pair_tokens(ep.original, ep.edited, ep.key, tok)
        ta.append(x)
        tb.append(y)
    return HeldOut(pairs, collate(ta + tb), [ep.family for ep in pairs])


@torch.no_grad()
def heldout_accuracy(model: FGAesQ, held: HeldOut, device: torch.device | str = "cpu",
                     batch_size: int = 64) -> dict[str, Any]:
    """Pair accuracy (original scores higher) on the held-out pairs, overall and per family."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    n = len(held.pairs)
    tb = held.tokens
    scores = []
    try:
        for s in range(0, 2 * n, batch_size):
            sl = slice(s, min(2 * n, s + batch_size))
            part = TokenBatch(tb.patches[sl], tb.positions[sl], tb.grids[sl], tb.scales[sl], tb.valid[sl])
            with autocast(device):
                _, sc = model(part.to(device))
            scores.append(sc.float().cpu())
    finally:
        model.train(was_training)
    sc = torch.cat(scores).numpy()
    s_a, s_b = sc[:n], sc[n:]
    out: dict[str, Any] = {"pair_acc": M.pair_accuracy(s_a, s_b), "pairs": n}
    fams = np.array(held.families)
    out["by_family"] = {f: M.pair_accuracy(s_a[fams == f], s_b[fams == f]) for f in sorted(set(held.families))}
    return out


# ------------------------------------------------------------------------------------------
# Training


@dataclass
class TrainEvent:
    """What the progress callback receives: after every step (``kind="step"``), after an
    evaluation (``"eval"``), at a checkpoint (``"checkpoint"``), and for notes (``"note"``)."""

    kind: str
    step: int
    total: int
    stage: str = ""
    loss: float | None = None
    parts: dict[str, float] = field(default_factory=dict)
    lr: float | None = None
    heldout_acc: float | None = None
    elapsed: float = 0.0
    images: int = 0
    message: str = ""
    path: Path | None = None


@dataclass
class TrainResult:
    model: FGAesQ
    run_dir: Path
    step: int
    history: list[dict[str, Any]]
    seconds: float
    images: int
    init: str

    @property
    def heldout_before(self) -> float | None:
        evals = [h for h in self.history if "heldout_acc" in h]
        return evals[0]["heldout_acc"] if evals else None

    @property
    def heldout_after(self) -> float | None:
        evals = [h for h in self.history if "heldout_acc" in h]
        return evals[-1]["heldout_acc"] if evals else None


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and "embedding" not in name and "token" not in name else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _save_checkpoint(model: FGAesQ, opt: torch.optim.Optimizer, run: Path, step: int, stage: str,
                     history: list[dict[str, Any]], cfg: TrainConfig, every: bool) -> Path:
    meta = {STEP_KEY: str(step), "photocull.train.stage": stage}
    if every:
        model.save_safetensors(run / f"step_{step:06d}.safetensors", extra_metadata=meta)
    path = model.save_safetensors(run / CHECKPOINT_FILE, extra_metadata=meta)
    tmp = run / (STATE_FILE + ".tmp")
    torch.save({"step": step, "optimizer": opt.state_dict(), "history": history,
                "config": cfg.to_dict()}, tmp)
    tmp.replace(run / STATE_FILE)
    (run / HISTORY_FILE).write_text(json.dumps(history, indent=1))
    return path


def _checkpoint_step(path: Path) -> int | None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        v = (f.metadata() or {}).get(STEP_KEY)
    return int(v) if v is not None else None


def train(cfg: TrainConfig, *, callback: Callable[[TrainEvent], None] | None = None,
          resume: bool = False, stop_after: int | None = None,
          edit_images: Sequence[np.ndarray] | None = None,
          heldout_images: Sequence[np.ndarray] | None = None,
          fine: FineDataset | None = None, coarse: CoarseDataset | None = None,
          model: FGAesQ | None = None, time_limit: float | None = None) -> TrainResult:
    """Train FGAesQ as ``cfg`` says; returns the trained model (in eval mode) and the history.

    Data comes from ``cfg.data`` unless given here (``edit_images``/``heldout_images`` as
    uint8 arrays, datasets already loaded). ``resume=True`` continues the run in ``cfg.out``
    from its ``train_state.pt``. ``stop_after`` stops (with a checkpoint) after that many
    global steps, as an interruption would; ``time_limit`` (seconds) likewise.
    """
    cb = callback or (lambda ev: None)
    run = Path(cfg.out)
    run.mkdir(parents=True, exist_ok=True)

    def note(msg: str) -> None:
        cb(TrainEvent("note", 0, cfg.total_steps, message=msg))

    data = _TrainData.load(cfg, edit_images, heldout_images, fine, coarse)
    start = _initial_model(cfg, run, resume, model)
    model = start.model
    device = pick_device(cfg.device)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    model.to(device).train()

    schedule = Schedule(cfg.stages)
    maker = BatchMaker(cfg, model.cfg.tokens, schedule, data.sampler, data.fine, data.coarse)
    skip = _stages_without_data(cfg, maker, data.coarse, note)
    held = data.heldout(cfg, model.cfg.tokens)
    bank = _caption_bank(cfg, model, data.fine, note)
    opt = _optimizer(cfg, model, start.state)
    run.joinpath(CONFIG_FILE).write_text(json.dumps({"train": cfg.to_dict(), "model": model.cfg.to_dict(),
                                                     "init": start.init}, indent=1))
    note(f"model: {start.init}; {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters on {device}")

    total = schedule.total
    end = total if stop_after is None else min(total, stop_after)
    evals = _HeldoutLog(model, held, device, start.history, total, cb)
    if start.step == 0 and not start.history:
        evals.run(0)
    batches = _micro_batches(cfg, maker, schedule, skip, start.step, end)
    coarse_has_hist = bool(data.coarse is not None and data.coarse.has_hist)

    final = start.step
    images = 0
    last_acc = None
    stage_name = cfg.stages[schedule.locate(start.step - 1)[0]].name if start.step else ""
    for step in range(start.step, end):
        si, sstep = schedule.locate(step)
        stage = cfg.stages[si]
        stage_name = stage.name
        if si in skip:
            continue
        lr = lr_at(stage, sstep)
        loss, parts, n_img = _optimise_step(model, opt, batches, stage, lr, bank, cfg, device, step, coarse_has_hist)
        images += n_img
        done = final = step + 1
        if cfg.eval_every and done % cfg.eval_every == 0 and done != total:
            last_acc = evals.run(done)
        if cfg.log_every and (done % cfg.log_every == 0 or done == end):
            cb(TrainEvent("step", done, total, stage.name, loss, parts, lr, last_acc, evals.elapsed(), images))
        if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done != end:
            p = _save_checkpoint(model, opt, run, done, stage.name, evals.history, cfg, every=True)
            cb(TrainEvent("checkpoint", done, total, stage.name, path=p))
        if time_limit is not None and evals.elapsed() > time_limit:
            break
    else:
        final = max(final, end)  # all steps run (trailing stages without data count as done)
    if held is not None and (not evals.history or evals.history[-1].get("step") != final):
        evals.run(final)
    p = _save_checkpoint(model, opt, run, final, stage_name, evals.history, cfg,
                         every=bool(cfg.checkpoint_every and final % cfg.checkpoint_every == 0))
    cb(TrainEvent("checkpoint", final, total, stage_name, path=p))
    model.eval()
    return TrainResult(model, run, final, evals.history, evals.elapsed(), images, start.init)


@dataclass
class _TrainData:
    """What a run trains and evaluates on: given by the caller, else loaded from ``cfg.data``."""

    sampler: EditPairSampler | None
    fine: FineDataset | None
    coarse: CoarseDataset | None
    heldout_images: Sequence[np.ndarray] | None

    @classmethod
    def load(cls, cfg: TrainConfig, edit_images: Sequence[np.ndarray] | None,
             heldout_images: Sequence[np.ndarray] | None, fine: FineDataset | None,
             coarse: CoarseDataset | None) -> "_TrainData":
        d = cfg.data
        if edit_images is None and d.edits:
            edit_images = _images_from(d.edits, cfg.seed, d.long_side)
        if heldout_images is None and d.heldout:
            heldout_images = _images_from(d.heldout, cfg.seed + 1, d.long_side)
        if fine is None and d.fine:
            fine = load_fine(d.fine, long_side=d.long_side)
        if coarse is None and d.coarse:
            coarse = load_coarse(d.coarse, long_side=d.long_side)
        sampler = None
        if edit_images:
            sampler = EditPairSampler(list(edit_images), d.edit_families, seed=cfg.seed,
                                      magnitude_range=d.edit_magnitude)
        return cls(sampler, fine, coarse, heldout_images)

    def heldout(self, cfg: TrainConfig, tok: DiffTokenConfig) -> HeldOut | None:
        """The fixed held-out edit pairs, tokenised once (None without held-out images)."""
        if not self.heldout_images:
            return None
        d = cfg.data
        return make_heldout(self.heldout_images, d.heldout_pairs, cfg.seed, tok, d.edit_families, d.edit_magnitude)


@dataclass
class _Start:
    """Where a run starts: the model, how it was made, the step, the history and the saved
    optimizer state (a resumed run's; None for a new run)."""

    model: FGAesQ
    init: str
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] | None = None


def _initial_model(cfg: TrainConfig, run: Path, resume: bool, model: FGAesQ | None) -> _Start:
    """A resumed run starts from its own checkpoint; a new one from ``model`` or ``build_model``."""
    if resume:
        state_path = run / STATE_FILE
        if not state_path.is_file():
            raise FileNotFoundError(f"{state_path}: nothing to resume (no train_state.pt)")
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        step = int(state["step"])
        ckpt = run / CHECKPOINT_FILE
        if _checkpoint_step(ckpt) != step:
            ckpt = run / f"step_{step:06d}.safetensors"
        if not ckpt.is_file():
            raise FileNotFoundError(f"{run}: no checkpoint for step {step}")
        return _Start(FGAesQ.load_safetensors(ckpt), f"resumed from {ckpt} (step {step})", step,
                      list(state.get("history", [])), state)
    if model is None:
        torch.manual_seed(_seed(cfg.seed, "init") % (2**63))  # random init is part of the run's seed
        model, init = build_model(cfg)
        return _Start(model, init)
    return _Start(model, "given model")


def _stages_without_data(cfg: TrainConfig, maker: BatchMaker, coarse: CoarseDataset | None,
                         note: Callable[[str], None]) -> list[int]:
    """The stages that have no data at all (skipped); notes for those that lack part of their mix."""
    for i, st in enumerate(cfg.stages):
        missing = [k for k, v in st.mix.items() if v > 0 and k not in maker.active(i)]
        if missing and st.steps:
            note(f"stage {st.name}: no {', '.join(missing)} data; "
                 + ("skipped" if not maker.active(i) else f"training on {', '.join(maker.active(i))}"))
        if coarse is not None and not coarse.has_hist and st.loss.get("emd", 0) > 0 and "coarse" in maker.active(i):
            note(f"stage {st.name}: coarse data has no vote histograms; EMD weight moved to MOS regression")
    return [i for i in range(len(cfg.stages)) if not maker.active(i)]


def _caption_bank(cfg: TrainConfig, model: FGAesQ, fine: FineDataset | None,
                  note: Callable[[str], None]) -> L.CaptionBank | None:
    """Every known caption encoded once, up front; None when no stage uses CTAlign."""
    if not any(st.loss.get("ctalign", 0) > 0 for st in cfg.stages):
        return None
    from photocull.train.edits import CAPTIONS

    bank = L.CaptionBank(_text_encoder(cfg, model, note))
    caps = list(CAPTIONS.values())
    if fine is not None:
        caps += [p.caption for p in fine.pairs() if p.caption]
    bank.add(caps)
    return bank


def _optimizer(cfg: TrainConfig, model: FGAesQ, state: dict[str, Any] | None) -> torch.optim.Optimizer:
    opt = torch.optim.AdamW(_param_groups(model, cfg.stages[0].weight_decay if cfg.stages else 0.0),
                            lr=cfg.stages[0].lr if cfg.stages else 1e-5, betas=(0.9, 0.98), eps=1e-6)
    if state is not None:
        opt.load_state_dict(state["optimizer"])
    return opt


def _micro_batches(cfg: TrainConfig, maker: BatchMaker, schedule: Schedule, skip: list[int],
                   start: int, end: int) -> Iterator[PairBatch | ImageBatch]:
    """The micro-batches still to run, skipping stages with no data (worker processes when
    ``cfg.data.workers`` > 0; each micro-batch is a pure function of its index either way)."""
    micro_ids = [m for m in range(start * cfg.accum, end * cfg.accum)
                 if schedule.locate(m // cfg.accum)[0] not in skip]
    if cfg.data.workers > 0 and micro_ids:
        loader = torch.utils.data.DataLoader(maker, batch_size=None, sampler=micro_ids, num_workers=cfg.data.workers,
                                             prefetch_factor=4, persistent_workers=False)
        return iter(loader)
    return (maker[m] for m in micro_ids)


def _optimise_step(model: FGAesQ, opt: torch.optim.Optimizer, batches: Iterator[PairBatch | ImageBatch],
                   stage: StageConfig, lr: float, bank: L.CaptionBank | None, cfg: TrainConfig,
                   device: torch.device, step: int, coarse_has_hist: bool) -> tuple[float, dict[str, float], int]:
    """One optimiser step over ``cfg.accum`` micro-batches; returns the mean loss, its parts
    and the images seen. Dropout is re-seeded from (seed, step) so a resumed run repeats it."""
    for g in opt.param_groups:
        g["lr"] = lr
        if g["weight_decay"]:
            g["weight_decay"] = stage.weight_decay
    torch.manual_seed(_seed(cfg.seed, "step", step) % (2**63))
    opt.zero_grad(set_to_none=True)
    parts_sum: dict[str, float] = {}
    loss_sum = 0.0
    images = 0
    for _ in range(cfg.accum):
        loss, parts, n_img = _batch_loss(model, next(batches), stage, bank, cfg, device,
                                         coarse_has_hist=coarse_has_hist)
        (loss / cfg.accum).backward()
        loss_sum += float(loss.detach()) / cfg.accum
        for k, v in parts.items():
            parts_sum[k] = parts_sum.get(k, 0.0) + v / cfg.accum
        images += n_img
    if cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    return loss_sum, parts_sum, images


class _HeldoutLog:
    """Held-out pair accuracy at a step, kept in the run's history (one entry per step) and
    reported to the callback; the clock of the run starts with it."""

    def __init__(self, model: FGAesQ, held: HeldOut | None, device: torch.device,
                 history: list[dict[str, Any]], total: int, cb: Callable[[TrainEvent], None]):
        self.model, self.held, self.device = model, held, device
        self.history, self.total, self.cb = history, total, cb
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def run(self, step: int) -> float | None:
        if self.held is None:
            return None
        r = heldout_accuracy(self.model, self.held, self.device)
        entry = {"step": step, "seconds": round(self.elapsed(), 3), "heldout_acc": r["pair_acc"],
                 "by_family": r["by_family"]}
        if self.history and self.history[-1].get("step") == step and "heldout_acc" in self.history[-1]:
            self.history[-1] = entry
        else:
            self.history.append(entry)
        self.cb(TrainEvent("eval", step, self.total, heldout_acc=r["pair_acc"], elapsed=entry["seconds"]))
        return r["pair_acc"]


def _batch_loss(model: FGAesQ, batch: PairBatch | ImageBatch, stage: StageConfig, bank: L.CaptionBank | None,
                cfg: TrainConfig, device: torch.device, coarse_has_hist: bool) -> tuple[torch.Tensor, dict[str, float], int]:
    w = stage.loss
    parts: dict[str, torch.Tensor] = {}
    tb = batch.tokens.to(device)
    with autocast(device):
        emb = model.embed(tb)
        dist, score = model.iqa_head(emb)
    emb = emb.float()
    if isinstance(batch, PairBatch):
        n = batch.p.shape[0]
        p = batch.p.to(device)
        if w.get("rank", 0) > 0:
            parts["rank"] = L.rankreg_loss(score[:n], score[n:], p, cfg.tau, cfg.rank_kind)
        if w.get("ctalign", 0) > 0 and bank is not None:
            has = torch.tensor([c is not None for c in batch.captions], device=device)
            if bool(has.any()):
                text = bank.lookup(batch.captions, device)
                parts["ctalign"] = L.ctalign_loss(emb[:n][has], emb[n:][has], text[has], p[has])
        n_img = 2 * n
    else:
        n_img = batch.mos.shape[0]
        emd_w = w.get("emd", 0)
        if emd_w > 0 and batch.hist is not None:
            parts["emd"] = L.emd_loss(dist, batch.hist.to(device))
        mos_w = w.get("mos", 0) + (emd_w if batch.hist is None else 0.0)
        if mos_w > 0:
            parts["mos"] = L.mos_loss(score, batch.mos.to(device))
    weights = {**w}
    if isinstance(batch, ImageBatch) and batch.hist is None:
        weights["mos"] = weights.get("mos", 0) + weights.get("emd", 0)
    loss = sum((weights.get(k, 0) * v for k, v in parts.items()), torch.zeros((), device=device))
    return loss, {k: float(v.detach()) for k, v in parts.items()}, n_img


# ------------------------------------------------------------------------------------------
# Evaluating any scorer


def model_scorer_fn(model: FGAesQ, device: str | torch.device = "cpu", exhaustive: bool = False,
                    batch_size: int = 16) -> ScorerFn:
    """An FGAesQ model as a scorer function: a series (or pair) → one score per frame, each
    frame conditioned on a partner (:func:`photocull.model.series.score_series`)."""
    from photocull.model.series import score_series

    def fn(images: list[np.ndarray]) -> list[float]:
        return score_series(images, model, device=device, exhaustive=exhaustive,
                            batch_size=batch_size).scores.tolist()

    return fn


def _scores(fn: ScorerFn, images: list[np.ndarray]) -> np.ndarray:
    s = np.asarray(list(fn(images)), np.float64).ravel()
    if s.shape[0] != len(images):
        raise ValueError(f"the scorer returned {s.shape[0]} scores for {len(images)} images")
    return s


def evaluate(scorer_fn: ScorerFn, dataset: FineDataset | CoarseDataset | EditPairDataset, *,
             progress: Callable[[int, int], None] | None = None, limit: int | None = None) -> dict[str, Any]:
    """Measure a scorer on a dataset. ``scorer_fn(images) -> scores`` gets one series (fine
    data), one pair (edit pairs) or one image (coarse data) at a time.

    Returns a JSON-able dict: ``kind``; for fine data ``pair_acc``, ``pair_f1``, ``s_acc``,
    ``s_srcc``, ``series``, ``pairs``; for coarse data ``srcc``, ``plcc``, ``images``; for edit
    pairs ``pair_acc``, ``pair_f1``, ``pairs`` and ``by_family`` accuracy.
    """
    prog = progress or (lambda i, n: None)
    t0 = time.perf_counter()
    if isinstance(dataset, FineDataset):
        series = dataset.series[:limit] if limit else dataset.series
        s_a, s_b, p, all_scores, bests, truths = [], [], [], [], [], []
        for k, s in enumerate(series):
            sc = _scores(scorer_fn, dataset.series_images(s))
            by = dict(zip(s.files, sc))
            for pr in s.all_pairs():
                s_a.append(by[pr.a])
                s_b.append(by[pr.b])
                p.append(pr.p)
            truth = s.preference_scores()
            all_scores.append(sc)
            bests.append({i for i, f in enumerate(s.files) if f in s.best()})
            truths.append([truth[f] for f in s.files])
            prog(k + 1, len(series))
        out = {"kind": "fine", "series": len(series), "pairs": len(p),
               "pair_acc": M.pair_accuracy(s_a, s_b, p), "pair_f1": M.pair_f1(s_a, s_b, p),
               "s_acc": M.series_accuracy(all_scores, bests), "s_srcc": M.series_srcc(all_scores, truths)}
    elif isinstance(dataset, CoarseDataset):
        items = range(min(len(dataset), limit) if limit else len(dataset))
        pred, mos = [], []
        for i in items:
            pred.append(float(_scores(scorer_fn, [dataset.image(i)])[0]))
            mos.append(dataset.items[i].mos)
            prog(i + 1, len(items))
        out = {"kind": "coarse", "images": len(pred), "srcc": M.srcc(pred, mos), "plcc": M.plcc(pred, mos)}
    elif isinstance(dataset, EditPairDataset):
        n = min(len(dataset), limit) if limit else len(dataset)
        s_a, s_b, p, fams = [], [], [], []
        for i in range(n):
            ep = dataset.sampler.pair(i)
            a, b, pab = ep.as_labelled(dataset.sampler.swap(i))  # half of the pairs edited-first
            sc = _scores(scorer_fn, [a, b])
            s_a.append(sc[0])
            s_b.append(sc[1])
            p.append(pab)
            fams.append(ep.family)
            prog(i + 1, n)
        sa, sb, pp, f = np.array(s_a), np.array(s_b), np.array(p), np.array(fams)
        out = {"kind": "edits", "pairs": n, "pair_acc": M.pair_accuracy(sa, sb, pp),
               "pair_f1": M.pair_f1(sa, sb, pp),
               "by_family": {x: M.pair_accuracy(sa[f == x], sb[f == x], pp[f == x]) for x in sorted(set(fams))}}
    else:
        raise TypeError(f"cannot evaluate on {type(dataset).__name__}")
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out
