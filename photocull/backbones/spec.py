"""Which CLIP backbone to load, and the named backbones photocull knows, kept as data.

A :class:`BackboneSpec` says what to load (an open_clip name and a tag, file or folder);
:data:`BACKBONES` names the ones photocull uses, in the manner of open_clip's pretrained
registry: it is built from the one weights table, :mod:`photocull.pretrained` (adding a
backbone is one entry there), and ``--model NAME`` finds its weights. No torch here: the
CLI builds its choices and checks for weights cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..pretrained import DEFAULT_BACKBONE, OPEN_CLIP_FILES, WEIGHTS

ALLOW_DOWNLOAD_ENV = "PHOTOCULL_ALLOW_DOWNLOAD"
LOCAL_DIR_PREFIX = "local-dir:"
HF_HUB_PREFIX = "hf-hub:"
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".npz")
HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME = OPEN_CLIP_FILES  # open_clip.constants.HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
HF_CONFIG_NAME = "open_clip_config.json"


class WeightsUnavailable(RuntimeError):
    """The backbone's weights are not on this machine and downloading is not allowed."""

    def __init__(self, message: str, *, model: str = "", pretrained: str | None = None,
                 searched: Sequence[str] = ()):
        super().__init__(message)
        self.model = model
        self.pretrained = pretrained
        self.searched = list(searched)


@dataclass(frozen=True)
class BackboneSpec:
    """Which backbone to load.

    ``pretrained`` is an open_clip tag (``"openai"``, ``"laion2b_s34b_b79k"``), a path to a
    checkpoint (``.safetensors``, ``.pt``, ``.pth``, ``.bin``), ``"local-dir:DIR"`` (a folder
    with ``open_clip_config.json`` and weights, as written by open_clip's HF export), or
    ``None`` for random weights (tests). ``model`` may also be ``"local-dir:DIR"`` or
    ``"hf-hub:org/repo"`` (the latter is looked up in the local hub cache only, unless
    downloading is allowed). ``cache_dir`` is open_clip's ``cache_dir`` (searched first).
    """

    model: str = WEIGHTS[DEFAULT_BACKBONE].model or DEFAULT_BACKBONE
    pretrained: str | None = WEIGHTS[DEFAULT_BACKBONE].tag
    cache_dir: Path | None = None

    @property
    def label(self) -> str:
        return self.model if self.pretrained is None else f"{self.model} / {self.pretrained}"


@dataclass(frozen=True)
class KnownBackbone:
    """A backbone photocull names: what to load, and where the hub keeps its openai weights
    (so "are the default weights here?" is answered without importing torch and open_clip)."""

    spec: BackboneSpec
    hub_repo: str | None = None


# The registry: name -> backbone, every backbone entry of the weights table.
BACKBONES: dict[str, KnownBackbone] = {
    w.name: KnownBackbone(BackboneSpec(w.model or w.name, w.tag), w.repo_id) for w in WEIGHTS.values() if w.backbone
}
DEFAULT_MODEL, DEFAULT_PRETRAINED = BACKBONES[DEFAULT_BACKBONE].spec.model, BACKBONES[DEFAULT_BACKBONE].spec.pretrained


def known_hub_repo(spec: BackboneSpec) -> str | None:
    """The hub repo of a registered backbone's openai weights, or None."""
    known = BACKBONES.get(spec.model)
    return known.hub_repo if known is not None and spec.pretrained == known.spec.pretrained else None


def spec_from_options(model: str | None, pretrained: str | None) -> tuple[BackboneSpec, bool]:
    """The spec for --model/--pretrained (defaults filled in; ``pretrained="none"`` means random
    weights) and whether it is implicit (neither given: missing weights are then no error)."""
    spec = BackboneSpec(model=model or DEFAULT_MODEL, pretrained=pretrained if pretrained is not None else DEFAULT_PRETRAINED)
    if spec.pretrained and spec.pretrained.lower() == "none":
        spec = BackboneSpec(model=spec.model, pretrained=None)
    return spec, model is None and pretrained is None
