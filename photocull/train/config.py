"""Training configuration: :class:`TrainConfig` (loadable from TOML) and its :class:`StageConfig` s.

Example (``train.toml``)::

    seed = 0
    model = "vit-b-16"            # or "tiny"; [model_overrides] changes single fields
    init = "openai"               # "random", an open_clip tag, a weights file, an FGAesQ .safetensors
    out = "runs/fgaesq"
    accum = 2                     # gradient accumulation (micro-batches per step)
    checkpoint_every = 500
    eval_every = 100

    [data]
    edits = "photos/good"         # folder of good photos -> edit pairs (or "procedural:500")
    fine = "FGAesthetics/labels.csv"
    coarse = "AVA/scores.csv"
    heldout = "photos/heldout"    # held-out photos -> fixed edit pairs for the progress line

    [[stages]]
    name = "edit_pairs"
    steps = 2000
    lr = 1e-5
    mix = { edits = 1.0 }
    loss = { rank = 1.0, ctalign = 0.1 }

    [[stages]]
    name = "mixed"
    steps = 4000
    mix = { coarse = 0.5, fine = 0.5 }
    loss = { emd = 1.0, rank = 1.0, ctalign = 0.1 }

Stages run in order. Per stage: ``steps``, ``lr`` (peak), ``warmup`` steps of linear warm-up,
then cosine decay to ``lr · min_lr_ratio``; ``mix`` weights of the data sources (each step
draws one source: ``edits``, ``fine`` or ``coarse``); ``loss`` weights (``emd``, ``mos``,
``rank``, ``ctalign``). A source that the data section does not provide is dropped from a
stage's mix; a stage left with no source is skipped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DataConfig", "LOSS_NAMES", "SOURCES", "StageConfig", "TrainConfig", "default_stages"]

SOURCES = ("edits", "fine", "coarse")
LOSS_NAMES = ("emd", "mos", "rank", "ctalign")


def _from_dict(cls, d: dict[str, Any], where: str):
    from photocull.settings import dataclass_from_dict  # one rule: unknown keys are errors naming them

    return dataclass_from_dict(cls, d, where)


@dataclass
class StageConfig:
    name: str = "edit_pairs"
    steps: int = 1000
    lr: float = 1e-5
    warmup: int = 100
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.05
    batch_pairs: int = 16  # pairs per micro-batch (fine and edit data): 2× images
    batch_images: int = 32  # images per micro-batch (coarse data)
    mix: dict[str, float] = field(default_factory=lambda: {"edits": 1.0})
    loss: dict[str, float] = field(default_factory=lambda: {"rank": 1.0, "ctalign": 0.1})

    def __post_init__(self) -> None:
        for k in self.mix:
            if k not in SOURCES:
                raise ValueError(f"stage {self.name!r}: unknown data source {k!r} in mix; "
                                 f"choose from {', '.join(SOURCES)}")
        for k in self.loss:
            if k not in LOSS_NAMES:
                raise ValueError(f"stage {self.name!r}: unknown loss {k!r}; choose from {', '.join(LOSS_NAMES)}")
        if self.steps < 0 or self.warmup < 0:
            raise ValueError(f"stage {self.name!r}: steps and warmup must be >= 0")
        if any(v < 0 for v in self.mix.values()) or any(v < 0 for v in self.loss.values()):
            raise ValueError(f"stage {self.name!r}: mix and loss weights must be >= 0")
        self.mix = {k: float(v) for k, v in self.mix.items()}
        self.loss = {k: float(v) for k, v in self.loss.items()}


def default_stages(steps: int = 1000, lr: float = 1e-5) -> list[StageConfig]:
    """``edit_pairs`` (20 %) → ``mixed`` coarse + fine (60 %) → ``rank_finetune`` (20 %)."""
    a, b = max(1, steps // 5), max(1, (3 * steps) // 5)
    c = max(1, steps - a - b)
    w = max(0, min(100, steps // 20))
    return [
        StageConfig("edit_pairs", a, lr, w, mix={"edits": 1.0}, loss={"rank": 1.0, "ctalign": 0.1}),
        StageConfig("mixed", b, lr, w, mix={"coarse": 0.5, "fine": 0.5, "edits": 0.1},
                    loss={"emd": 1.0, "rank": 1.0, "ctalign": 0.1}),
        StageConfig("rank_finetune", c, lr / 2, w, mix={"fine": 1.0}, loss={"rank": 1.0}),
    ]


@dataclass
class DataConfig:
    edits: str | None = None  # folder of good photos, or "procedural:N"
    edit_families: list[str] | None = None  # default: all families
    edit_magnitude: tuple[float, float] = (0.15, 1.0)
    fine: str | None = None  # label file (or folder holding one)
    coarse: str | None = None  # path,mos / path,v1..v10 CSV
    heldout: str | None = None  # folder (or "procedural:N") for held-out edit pairs
    heldout_pairs: int = 128
    long_side: int = 512  # photos are decoded to at most this long side
    workers: int = 0  # DataLoader worker processes building tokens

    def __post_init__(self) -> None:
        self.edit_magnitude = tuple(float(x) for x in self.edit_magnitude)  # type: ignore[assignment]


@dataclass
class TrainConfig:
    seed: int = 0
    model: str = "vit-b-16"  # "vit-b-16" (the published size) or "tiny"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    init: str = "random"  # "random", open_clip tag ("openai"), weights path, FGAesQ .safetensors
    out: str = "runs/fgaesq"
    device: str = "auto"
    accum: int = 1
    grad_clip: float = 1.0
    tau: float = 1.0  # RankReg temperature
    rank_kind: str = "bce"  # "bce" or "fidelity"
    text: str = "auto"  # caption embeddings: "auto", "clip", "random-clip", "hashed"
    checkpoint_every: int = 500
    eval_every: int = 100
    log_every: int = 1
    deterministic: bool = False  # torch.use_deterministic_algorithms (slower on CUDA)
    data: DataConfig = field(default_factory=DataConfig)
    stages: list[StageConfig] = field(default_factory=lambda: default_stages())

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            self.data = _from_dict(DataConfig, self.data, "[data]")
        self.stages = [_from_dict(StageConfig, s, f"[[stages]] #{i + 1}") if isinstance(s, dict) else s
                       for i, s in enumerate(self.stages)]
        if self.accum < 1:
            raise ValueError("accum must be >= 1")
        if self.rank_kind not in ("bce", "fidelity"):
            raise ValueError(f"rank_kind must be 'bce' or 'fidelity', not {self.rank_kind!r}")
        if self.text not in ("auto", "clip", "random-clip", "hashed"):
            raise ValueError(f"text must be auto, clip, random-clip or hashed, not {self.text!r}")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique: {names}")

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["data"]["edit_magnitude"] = list(self.data.edit_magnitude)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, dict(d), "train config")

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        from photocull.settings import read_toml  # the one TOML reader (errors name the file)

        d = read_toml(Path(path))
        d.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.from_dict(d)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from None
