"""Import open_clip even where torchvision's compiled ops do not match torch.

Why: on machines that can only get a CPU build of torch, the registry's torchvision
wheel is a CUDA build; importing it fails with ``operator torchvision::nms does not
exist`` because its compiled ops need libtorch_cuda. open_clip only needs
torchvision's pure-Python parts (transforms), so we define the schemas of the two
missing operators and import again. The workaround runs *only* after that exact
error: a user whose torchvision matches torch is untouched. ``torchvision.ops`` and
``torchvision.io`` decoders will still raise on such machines; photocull uses neither
on the CPU path.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

_MISSING_OP = "torchvision::nms does not exist"
_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_keep: list[object] = []  # the Library object must outlive the import


def _define_missing_torchvision_ops() -> None:
    import torch

    lib = torch.library.Library("torchvision", "DEF")  # noqa: TOR901
    for schema in _SCHEMAS.values():
        try:
            lib.define(schema)
        except RuntimeError:  # already defined (a partial earlier import)
            pass
    _keep.append(lib)


def _purge(prefix: str) -> None:
    for name in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
        del sys.modules[name]


def import_torchvision() -> ModuleType:
    """Import torchvision, applying the CPU-torch workaround only when needed."""
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as exc:
        if _MISSING_OP not in str(exc):
            raise
    _purge("torchvision")
    _define_missing_torchvision_ops()
    return importlib.import_module("torchvision")


def import_open_clip() -> ModuleType:
    """Import open_clip (through :func:`import_torchvision`)."""
    import_torchvision()
    return importlib.import_module("open_clip")
