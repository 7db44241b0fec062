"""Import the official FGAesQ checkpoint (``yzc002/FGAesQ``) and keep it as safetensors.

The official state dict names (see ``docs``/the design notes) and where they go here:

==========================================  =====================================
official key                                 ours
==========================================  =====================================
``clip_model.visual.X``                      ``tower.visual.X``
``ln_pre.*``, ``transformer.*``,             ``tower.visual.*`` (the same modules,
``ln_post.*``, ``proj`` (top level; also     duplicated at top level by the
``conv1.*``, ``class_embedding``,            official module)
``positional_embedding`` if present)
``scale_embedding``, ``mask_token``          ``tower.scale_embedding``, ``tower.mask_token``
``iqa_head.{0,3,6}.{weight,bias}``           ``iqa_head.{0,3,6}.{weight,bias}``
other ``clip_model.*`` (the text tower,      ignored (listed in the report)
``logit_scale``, ...)
anything else                                unexpected (listed in the report)
==========================================  =====================================

**Which duplicate wins**: where both ``clip_model.visual.X`` and top-level ``X`` exist, the
*top-level* copy is used — it is what the official forward pass calls (``self.ln_pre``,
``self.transformer``, ...), and it is what was trained if the two were ever separate
tensors. The two copies are compared; any that differ are listed in
``ImportReport.mismatched_duplicates`` (for a checkpoint whose modules were shared they are
identical). A leading ``module.`` (DataParallel) is stripped.

Files: ``.safetensors`` are read with safetensors; ``.pt``/``.pth``/``.bin`` with
``torch.load(weights_only=True, map_location="cpu")`` (no pickled code runs), unwrapping a
nested ``{"state_dict": ...}``, ``{"model": ...}``, ``{"model_state_dict": ...}`` or
``{"module": ...}``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from photocull.model.config import FGAESQ, DiffTokenConfig, FGAesQConfig
from photocull.model.fgaesq import FGAesQ
from photocull.model.paths import DEFAULT_MODEL_FILE, MODEL_DIR_ENV, default_model_dir, find_model

__all__ = [
    "DEFAULT_MODEL_FILE",
    "MODEL_DIR_ENV",
    "OFFICIAL_REPO",
    "ImportReport",
    "convert_official",
    "default_model_dir",
    "find_model",
    "import_official",
    "infer_config",
    "load_model",
    "load_state_dict",
    "map_official_key",
]

OFFICIAL_REPO = FGAESQ.repo_id  # the published checkpoint, from the weights table

_CLIP_VISUAL = "clip_model.visual."
_CLIP = "clip_model."
_TOP_VISUAL = re.compile(r"^(ln_pre\.|transformer\.|ln_post\.|proj$|conv1\.|class_embedding$|positional_embedding$)")
_RESBLOCK = re.compile(r"^(?:clip_model\.visual\.)?transformer\.resblocks\.(\d+)\.")
_WRAPPERS = ("state_dict", "model", "model_state_dict", "module")


@dataclass
class ImportReport:
    """What :func:`import_official` did with each tensor."""

    source: str | None = None
    loaded: dict[str, str] = field(default_factory=dict)  # our key -> official key used
    missing: list[str] = field(default_factory=list)  # our keys nothing was loaded into
    unexpected: list[str] = field(default_factory=list)  # official keys that map to nothing
    ignored: list[str] = field(default_factory=list)  # known-unused keys (text tower, ...)
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # our key -> [used, unused]
    mismatched_duplicates: list[str] = field(default_factory=list)  # our keys whose copies differ
    shape_mismatches: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every parameter was loaded with the right shape."""
        return not self.missing and not self.shape_mismatches

    def summary(self) -> str:
        lines = [f"loaded {len(self.loaded)} tensors"
                 + (f" from {self.source}" if self.source else "")
                 + f"; {len(self.duplicates)} duplicated (top-level copy used)"
                 + f"; {len(self.ignored)} ignored (text tower)"]
        for name, items in (("missing", self.missing), ("unexpected", self.unexpected),
                            ("duplicates that differ", self.mismatched_duplicates),
                            ("shape mismatches", [f"{k} {'x'.join(map(str, got)) or 'scalar'} in the file, "
                                                  f"{'x'.join(map(str, want)) or 'scalar'} in FGAesQ"
                                                  for k, (got, want) in self.shape_mismatches.items()])):
            if items:
                shown = ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")
                lines.append(f"{name}: {shown}")
        return "\n".join(lines)


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A flat ``{name: tensor}`` from a ``.safetensors`` or a torch checkpoint (weights only)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle with code in it, truncated file, ...
        raise ValueError(f"{path} is not a plain PyTorch state dict that loads with "
                         f"weights_only=True: {exc}") from exc
    return _unwrap(obj, str(path))


def _unwrap(obj: object, source: str) -> dict[str, torch.Tensor]:
    for _ in range(3):
        if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            inner = next((obj[k] for k in _WRAPPERS if k in obj and isinstance(obj[k], Mapping)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, Mapping):
        raise ValueError(f"{source}: expected a state dict, got {type(obj).__name__}")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError(f"{source}: no tensors found (keys: {list(obj)[:5]})")
    return tensors


def map_official_key(key: str) -> tuple[str | None, str]:
    """``(our key or None, kind)`` with kind ``"clip"``, ``"top"``, ``"extra"``, ``"ignored"``
    or ``"unexpected"``."""
    if key.startswith("module."):
        key = key[len("module."):]
    if key.startswith(_CLIP_VISUAL):
        return "tower.visual." + key[len(_CLIP_VISUAL):], "clip"
    if key.startswith(_CLIP):
        return None, "ignored"
    if _TOP_VISUAL.match(key):
        return "tower.visual." + key, "top"
    if key in ("scale_embedding", "mask_token"):
        return "tower." + key, "extra"
    if key.startswith("iqa_head."):
        return key, "extra"
    return None, "unexpected"


def infer_config(state: Mapping[str, torch.Tensor], base: FGAesQConfig | None = None) -> FGAesQConfig:
    """The architecture of an official state dict, from its tensor shapes.

    Heads cannot be read from shapes: CLIP's 64-wide heads are assumed (``width // 64``) unless
    ``base`` has the same width. Token settings come from ``base`` (default: the published ones).
    """
    base = base or FGAesQConfig()

    def get(name: str) -> torch.Tensor | None:
        for prefix in ("", "module.", _CLIP_VISUAL, "module." + _CLIP_VISUAL):
            if prefix + name in state:
                return state[prefix + name]
        return None

    cls_emb, pos, proj, conv = get("class_embedding"), get("positional_embedding"), get("proj"), get("conv1.weight")
    if cls_emb is None or pos is None or proj is None or conv is None:
        raise ValueError("not an FGAesQ/CLIP ViT state dict: class_embedding, positional_embedding, "
                         "proj or conv1.weight is missing")
    width = int(cls_emb.shape[0])
    layer_ids = set()
    for k in state:
        m = _RESBLOCK.match(k.removeprefix("module."))
        if m:
            layer_ids.add(int(m.group(1)))
    layers = max(layer_ids) + 1 if layer_ids else base.layers
    fc = get("transformer.resblocks.0.mlp.c_fc.weight")
    mlp_ratio = float(fc.shape[0]) / width if fc is not None else base.mlp_ratio
    grid = int(round(math.sqrt(int(pos.shape[0]) - 1)))
    heads = base.heads if base.width == width else max(1, width // 64)
    head_w = [state[k] for k in ("iqa_head.0.weight", "iqa_head.3.weight", "iqa_head.6.weight") if k in state]
    hidden, bins = base.head_hidden, base.num_bins
    if len(head_w) == 3:
        hidden, bins = (int(head_w[0].shape[0]), int(head_w[1].shape[0])), int(head_w[2].shape[0])
    tokens = DiffTokenConfig.from_dict({**base.tokens.to_dict(), "patch": int(conv.shape[-1])})
    return FGAesQConfig.from_dict({
        **base.to_dict(), "width": width, "layers": layers, "heads": heads, "patch": int(conv.shape[-1]),
        "mlp_ratio": mlp_ratio, "output_dim": int(proj.shape[1]), "pos_grid": grid,
        "head_hidden": list(hidden), "num_bins": bins, "pretrained": None, "tokens": tokens.to_dict(),
    })


def import_official(source: Mapping[str, torch.Tensor] | str | os.PathLike,
                    config: FGAesQConfig | None = None, *,
                    strict: bool = False) -> tuple[FGAesQ, ImportReport]:
    """Build an :class:`FGAesQ` and fill it from the official state dict (or its file).

    ``config`` defaults to :func:`infer_config` of the state dict. With ``strict=True`` a report
    that is not :attr:`ImportReport.ok` raises ``ValueError`` (with the summary).
    """
    src_name = None
    if isinstance(source, (str, os.PathLike)):
        src_name = str(source)
        state = load_state_dict(source)
    else:
        state = _unwrap(source, "state dict")
    cfg = config if config is not None else infer_config(state)
    cfg = FGAesQConfig.from_dict({**cfg.to_dict(), "pretrained": None})  # weights come from the file
    model = FGAesQ(cfg)
    ours = model.state_dict()
    report = ImportReport(source=src_name)

    candidates: dict[str, dict[str, str]] = {}  # our key -> {kind: official key}
    for key in state:
        target, kind = map_official_key(key)
        if kind == "ignored":
            report.ignored.append(key)
        elif target is None or target not in ours:
            report.unexpected.append(key)
        else:
            candidates.setdefault(target, {})[kind] = key

    new_state: dict[str, torch.Tensor] = {}
    for target, by_kind in candidates.items():
        used = by_kind.get("top") or by_kind.get("extra") or by_kind["clip"]
        if len(by_kind) > 1:
            other = by_kind["clip"] if used != by_kind.get("clip") else by_kind.get("top")
            report.duplicates[target] = [used, other]
            a, b = state[used], state[other]
            if a.shape != b.shape or not torch.equal(a.float(), b.float()):
                report.mismatched_duplicates.append(target)
        tensor = state[used]
        if tuple(tensor.shape) != tuple(ours[target].shape):
            report.shape_mismatches[target] = (tuple(tensor.shape), tuple(ours[target].shape))
            continue
        new_state[target] = tensor
        report.loaded[target] = used

    report.missing = [k for k in ours if k not in new_state]
    model.load_state_dict(new_state, strict=False)
    model.eval()
    if strict and not report.ok:
        raise ValueError("the checkpoint does not fill the model:\n" + report.summary())
    return model, report


def convert_official(source: Mapping[str, torch.Tensor] | str | os.PathLike,
                     dest: str | os.PathLike | None = None, *, config: FGAesQConfig | None = None,
                     dtype: torch.dtype | None = None, strict: bool = True) -> tuple[Path, ImportReport]:
    """Import the official checkpoint and store it as photocull safetensors.

    ``dest`` defaults to ``default_model_dir() / "fgaesq.safetensors"``; load it back with
    :meth:`FGAesQ.load_safetensors`. ``dtype`` (e.g. ``torch.float16``) halves the file.
    """
    model, report = import_official(source, config, strict=strict)
    dest = Path(dest) if dest is not None else default_model_dir() / DEFAULT_MODEL_FILE
    meta = {"photocull.fgaesq.source": f"{OFFICIAL_REPO} ({report.source or 'state dict'})"}
    model.save_safetensors(dest, dtype=dtype, extra_metadata=meta)
    return dest, report


def load_model(path: str | os.PathLike | None = None, *, device: str | torch.device = "cpu") -> FGAesQ:
    """The converted FGAesQ model (default: ``default_model_dir() / "fgaesq.safetensors"``), in eval mode.

    Raises ``FileNotFoundError`` with what to do when it is not there (nothing is downloaded).
    """
    p = Path(path) if path is not None else find_model()
    if p is None or not p.is_file():
        where = p if p is not None else default_model_dir() / DEFAULT_MODEL_FILE
        raise FileNotFoundError(
            f"FGAesQ weights not found at {where}. Fetch them with 'photocull models download fgaesq', "
            f"or pass --weights FILE (the official .pt/.pth/.bin works as it is), "
            f"or set {MODEL_DIR_ENV} to the folder holding {DEFAULT_MODEL_FILE}.")
    return FGAesQ.load_safetensors(p, device=device)
