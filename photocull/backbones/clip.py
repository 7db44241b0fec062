"""The CLIP backbone: an open_clip model with its preprocessing, loaded without waiting on a network.

Preprocessing (resize the shorter side with antialiased bicubic, centre crop, normalise) is
done in torch, not with PIL: on a GPU images of the same shape are resized in one call, on a
CPU one at a time (faster there). It follows open_clip's eval transform (``resize_mode``
``shortest``, ``longest`` or ``squash``) closely but not bit-exactly (PIL rounds to uint8
after resizing; we do not). A :class:`Backbone` holds the model and is not meant to cross
process boundaries.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .constants import CLIP_MEAN, CLIP_STD
from ..runtime import default_num_threads, pick_device
from .spec import HF_HUB_PREFIX, LOCAL_DIR_PREFIX, BackboneSpec, WeightsUnavailable
from .weights import (_local_dir_weights, _looks_like_path, download_allowed, hub_offline, open_clip_module, resolve,
                      unavailable_message)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# The backbone


class Backbone:
    """An open_clip model in eval mode with its preprocessing, device and dtype."""

    def __init__(self, model, *, model_name: str, spec: BackboneSpec, device, dtype,
                 image_size: tuple[int, int], mean: Sequence[float], std: Sequence[float],
                 interpolation: str = "bicubic", resize_mode: str = "shortest",
                 fill_color: int = 0, batch_size: int = 32, weights: Path | None = None,
                 tokenizer_name: str | None = None, allow_download: bool = False,
                 source: str = "tag"):
        import torch

        self.model = model
        self.model_name = model_name
        self.spec = spec
        self.device = device
        self.dtype = dtype
        self.image_size = image_size  # (height, width)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.interpolation = interpolation
        self.resize_mode = resize_mode
        self.fill_color = fill_color
        self.batch_size = batch_size
        self.weights = weights
        self.source = source  # "none", "file", "local-dir", "tag", "hf-hub"
        self._tokenizer_name = tokenizer_name or model_name
        self._tokenizer = None
        self._allow_download = allow_download
        self._mean_t = torch.tensor(self.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self._std_t = torch.tensor(self.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.dim = int(getattr(model, "embed_dim", 0) or self._probe_dim())

    # -- identity -------------------------------------------------------------------------
    @property
    def key(self) -> str:
        """A stable key for cached embeddings (:func:`backbone_key`)."""
        return backbone_key(self.spec)

    def __repr__(self) -> str:
        return (f"Backbone({self.spec.label!r}, device={self.device}, dtype={self.dtype}, "
                f"size={self.image_size}, dim={self.dim}, batch_size={self.batch_size})")

    def _probe_dim(self) -> int:
        import torch

        h, w = self.image_size
        with torch.inference_mode():
            x = torch.zeros(1, 3, h, w, device=self.device, dtype=self.dtype)
            return int(self.model.encode_image(x).shape[-1])

    # -- preprocessing --------------------------------------------------------------------
    def preprocess(self, images: Sequence[np.ndarray]):
        """uint8 HxWx3 arrays -> normalised (N, 3, H, W) tensor on the device, in the model dtype."""
        import torch

        if not images:
            h, w = self.image_size
            return torch.empty(0, 3, h, w, device=self.device, dtype=self.dtype)
        out: list[Any] = [None] * len(images)
        groups: dict[tuple[int, ...], list[int]] = {}
        arrays = [_as_rgb_uint8(im) for im in images]
        # On a GPU, images of the same shape are resized in one call; on a CPU one image at a
        # time is ~2-3x faster (measured: the per-image working set stays in cache).
        per_image = self.device.type == "cpu"
        for i, a in enumerate(arrays):
            groups.setdefault((i,) if per_image else a.shape[:2], []).append(i)
        for idx in groups.values():
            h, w = arrays[idx[0]].shape[:2]
            batch = np.stack([arrays[i] for i in idx]) if len(idx) > 1 else arrays[idx[0]][None]
            if not batch.flags.writeable:  # a view of PIL's buffer: torch wants its own memory
                batch = batch.copy()
            t = torch.from_numpy(batch).to(self.device, non_blocking=True)
            t = t.permute(0, 3, 1, 2).float()
            t = self._resize_crop(t, h, w)
            for j, i in enumerate(idx):
                out[i] = t[j]
        x = torch.stack(out)
        x = x.clamp_(0.0, 255.0).mul_(1.0 / 255.0)
        x = (x - self._mean_t) / self._std_t
        return x.to(self.dtype)

    def _resize_crop(self, t, h: int, w: int):
        import torch.nn.functional as F

        th, tw = self.image_size
        mode = self.interpolation if self.interpolation in ("bicubic", "bilinear") else "bilinear"
        if self.interpolation == "nearest":
            mode = "nearest"
        aa = mode != "nearest"

        def resize(x, size):
            if (x.shape[-2], x.shape[-1]) == tuple(size):
                return x
            if mode == "nearest":
                return F.interpolate(x, size=size, mode=mode)
            return F.interpolate(x, size=size, mode=mode, antialias=aa, align_corners=False)

        if self.resize_mode == "squash":
            return resize(t, (th, tw))
        if self.resize_mode == "longest":
            scale = min(th / h, tw / w)
        else:  # shortest: cover the target, then centre crop
            scale = max(th / h, tw / w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        if self.resize_mode == "shortest" and th == tw:
            # torchvision Resize(int): shorter side exactly th, longer side truncated
            if h <= w:
                nh, nw = th, max(th, int(th * w / h))
            else:
                nw, nh = tw, max(tw, int(tw * h / w))
        t = resize(t, (nh, nw))
        if self.resize_mode == "longest":
            pad_t, pad_l = (th - nh) // 2, (tw - nw) // 2
            pad = (pad_l, tw - nw - pad_l, pad_t, th - nh - pad_t)
            return F.pad(t, pad, value=float(self.fill_color))
        top = int(round((nh - th) / 2.0))
        left = int(round((nw - tw) / 2.0))
        return t[:, :, top:top + th, left:left + tw]

    # -- embeddings -----------------------------------------------------------------------
    def embed_images(self, images: Sequence[np.ndarray], batch_size: int | None = None) -> np.ndarray:
        """L2-normalised float32 embeddings, shape (N, dim), in batches of ``batch_size``."""
        import torch

        bs = max(1, int(batch_size or self.batch_size))
        out = np.empty((len(images), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(images), bs):
                chunk = images[start:start + bs]
                x = self.preprocess(chunk)
                feats = self.model.encode_image(x).float()
                feats = torch.nn.functional.normalize(feats, dim=-1)
                out[start:start + len(chunk)] = feats.cpu().numpy()
        return out

    def tokenizer(self):
        if self._tokenizer is None:
            oc = open_clip_module()
            with hub_offline(not self._allow_download):
                self._tokenizer = oc.get_tokenizer(self._tokenizer_name)
        return self._tokenizer

    def embed_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """L2-normalised float32 text embeddings, shape (N, dim) (for prompt-based scoring)."""
        import torch

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        tok = self.tokenizer()
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                chunk = list(texts[start:start + batch_size])
                ids = tok(chunk).to(self.device)
                feats = self.model.encode_text(ids).float()
                out[start:start + len(chunk)] = torch.nn.functional.normalize(feats, dim=-1).cpu().numpy()
        return out


def _as_rgb_uint8(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    elif a.ndim == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"expected an HxWx3 image, got shape {a.shape}")
    return np.ascontiguousarray(a)


def _auto_batch_size(model, device, dtype, image_size: tuple[int, int]) -> int:
    """A batch size that fits the free GPU memory (half of it), between 1 and 512."""
    import torch

    if device.type != "cuda":
        return 32 if device.type == "cpu" else 64
    try:
        free, _total = torch.cuda.mem_get_info(device)
    except Exception:  # noqa: BLE001 - any driver oddity: a safe default
        return 64
    visual = getattr(model, "visual", model)
    width = int(getattr(getattr(visual, "transformer", None), "width", 0) or 1024)
    try:
        heads = int(visual.transformer.resblocks[0].attn.num_heads)
    except (AttributeError, IndexError, TypeError):
        heads = 16
    patch = getattr(visual, "patch_size", (16, 16))
    patch = patch if isinstance(patch, (tuple, list)) else (patch, patch)
    h, w = image_size
    tokens = (h // max(1, patch[0])) * (w // max(1, patch[1])) + 1
    elem = torch.finfo(dtype).bits // 8
    # peak of one block in inference: residual + MLP hidden (4x) + qkv (3x) + attention scores
    per_image = tokens * width * elem * 12 + heads * tokens * tokens * elem * 2
    per_image += 3 * h * w * 4 * 2  # float input before the cast, and the uint8 upload
    bs = int(free * 0.5 // max(1, per_image))
    return max(1, min(512, bs))


def load_backbone(spec: BackboneSpec, device: Any = "auto", *, allow_download: bool | None = None,
                  batch_size: int | None = None, num_threads: int | None = None) -> Backbone:
    """Load ``spec`` onto ``device`` ("auto", "cpu", "cuda", "mps" or a torch.device).

    Without local weights and without permission to download (``allow_download`` or
    ``PHOTOCULL_ALLOW_DOWNLOAD=1``), raises :class:`WeightsUnavailable` immediately.
    On CUDA the model runs in bf16 (fp16 where bf16 is unsupported) with a batch size fitted
    to free memory unless ``batch_size`` is given; on CPU in float32 with
    ``torch.set_num_threads(num_threads or default_num_threads())``.
    """
    import torch

    oc = open_clip_module()
    dev = device if isinstance(device, torch.device) else pick_device(str(device))
    allow = download_allowed(allow_download)
    res = resolve(spec)
    model_name, pretrained, kwargs = _open_clip_arguments(spec, res, allow)

    t0 = time.perf_counter()
    model = _create_model(oc, spec, res, allow, model_name, pretrained, kwargs)
    dtype = _place(model, dev, num_threads)
    size, pp = _preprocess_cfg(oc, model)
    bs = batch_size or _auto_batch_size(model, dev, dtype, size)
    backbone = Backbone(
        model, model_name=model_name, spec=spec, device=dev, dtype=dtype, image_size=size,
        mean=pp.get("mean") or CLIP_MEAN, std=pp.get("std") or CLIP_STD,
        interpolation=pp.get("interpolation") or "bicubic",
        resize_mode=pp.get("resize_mode") or "shortest", fill_color=int(pp.get("fill_color") or 0),
        batch_size=int(bs), weights=res.path, tokenizer_name=model_name, allow_download=allow,
        source=res.kind if res.kind != "unknown-tag" else "file")
    log.info("loaded %r in %.2fs from %s", backbone, time.perf_counter() - t0, res.path or "open_clip")
    return backbone


def _open_clip_arguments(spec: BackboneSpec, res: Any, allow: bool) -> tuple[str, str | None, dict[str, Any]]:
    """What to hand open_clip for ``spec`` as resolved: the model name, ``pretrained`` and extra
    keywords. A weights file found locally is loaded exactly, with its tag's preprocessing and
    activation; missing weights without permission to download raise WeightsUnavailable now."""

    def unavailable() -> WeightsUnavailable:
        return WeightsUnavailable(unavailable_message(spec, res), model=spec.model,
                                  pretrained=spec.pretrained, searched=res.searched)

    kwargs: dict[str, Any] = {}
    model_name, pretrained = spec.model, spec.pretrained
    if res.kind == "none":
        pretrained = None
    elif res.kind == "local-dir":
        if res.path is None:
            raise unavailable()
        raw = spec.model if spec.model.startswith(LOCAL_DIR_PREFIX) else spec.pretrained
        model_name, pretrained = LOCAL_DIR_PREFIX + str(Path(os.path.expanduser(raw[len(LOCAL_DIR_PREFIX):]))), None
    elif res.kind == "hf-hub":
        if res.path is not None:
            model_name, pretrained = LOCAL_DIR_PREFIX + str(res.path.parent), None
        elif not allow:
            raise unavailable()
    elif res.kind in ("file", "unknown-tag"):
        if res.path is None:
            raise unavailable()
        pretrained = str(res.path)
    elif res.path is not None:  # a known tag, its file found here
        pretrained = str(res.path)
        cfg = res.tag_cfg
        if cfg.get("quick_gelu"):
            kwargs["force_quick_gelu"] = True
        for src, dst in (("mean", "image_mean"), ("std", "image_std"),
                         ("interpolation", "image_interpolation"), ("resize_mode", "image_resize_mode")):
            if cfg.get(src) is not None:
                kwargs[dst] = cfg[src]
    elif not allow:
        raise unavailable()
    return model_name, pretrained, kwargs


def _create_model(oc: Any, spec: BackboneSpec, res: Any, allow: bool, model_name: str,
                  pretrained: str | None, kwargs: dict[str, Any]) -> Any:
    """open_clip's model on the CPU in float32, in eval mode; a file that does not load, or
    weights open_clip would have to fetch while downloading is off, become WeightsUnavailable."""
    try:
        with hub_offline(not allow):
            model, _, _ = oc.create_model_and_transforms(
                model_name, pretrained=pretrained, device="cpu", precision="fp32",
                cache_dir=str(spec.cache_dir) if spec.cache_dir else None, **kwargs)
    except WeightsUnavailable:
        raise
    except Exception as exc:
        if pretrained is not None and res.path is not None:
            raise WeightsUnavailable(
                f"Could not load weights for open_clip model '{spec.model}' from {res.path}: "
                f"{type(exc).__name__}: {exc}\nThe file may be incomplete or for another "
                "architecture: delete it and download again, or pass the matching --model.",
                model=spec.model, pretrained=spec.pretrained, searched=res.searched) from exc
        if not allow:
            raise WeightsUnavailable(
                unavailable_message(spec, res) + f"\n(open_clip said: {type(exc).__name__}: {exc})",
                model=spec.model, pretrained=spec.pretrained, searched=res.searched) from exc
        raise
    model.eval()
    return model


def _place(model: Any, dev: Any, num_threads: int | None) -> Any:
    """Move the model to its device in the dtype it runs in there (bf16/fp16 on GPUs, float32
    on the CPU with its thread count set); returns the dtype."""
    import torch

    if dev.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    elif dev.type == "mps":
        dtype = torch.float16
    else:
        dtype = torch.float32
        torch.set_num_threads(max(1, int(num_threads or default_num_threads())))
    model.to(device=dev, dtype=dtype)
    return dtype


def _preprocess_cfg(oc: Any, model: Any) -> tuple[tuple[int, int], dict[str, Any]]:
    """The model's input size (height, width) and open_clip's preprocessing settings for it."""
    pp = oc.get_model_preprocess_cfg(model) if hasattr(oc, "get_model_preprocess_cfg") else {}
    size = pp.get("size") or getattr(model.visual, "image_size", 224)
    size = tuple(size) if isinstance(size, (tuple, list)) else (int(size), int(size))
    if len(size) == 1:
        size = (size[0], size[0])
    return size, pp


def backbone_key(spec: BackboneSpec) -> str:
    """The key embeddings are cached under: the architecture and where its weights come from
    (a tag, or a file by name and size), which also fix the preprocessing. Computed without
    torch or open_clip, so a warm run can find its embeddings without loading anything."""
    pretrained = spec.pretrained
    if pretrained is None and not spec.model.startswith((LOCAL_DIR_PREFIX, HF_HUB_PREFIX)):
        src = "random"
    elif spec.model.startswith(HF_HUB_PREFIX):
        src = "hub"
    else:
        raw = spec.model if spec.model.startswith(LOCAL_DIR_PREFIX) else pretrained
        path = Path(os.path.expanduser(raw[len(LOCAL_DIR_PREFIX):])) if raw.startswith(LOCAL_DIR_PREFIX) else None
        if path is not None:
            path = _local_dir_weights(path)
        elif _looks_like_path(raw) or Path(os.path.expanduser(raw)).is_file():
            path = Path(os.path.expanduser(raw))
        src = raw
        if path is not None:
            try:
                src = f"file:{path.name}:{path.stat().st_size}"
            except OSError:
                src = f"file:{path.name}:0"
    return f"{spec.model}|{src}"


class LazyBackbone:
    """A backbone that loads its model the first time it is asked to embed.

    A run whose embeddings all come from the cache never pays for torch, open_clip and the
    weights; the cache key (:func:`backbone_key`) is known without them. Loading errors
    (``WeightsUnavailable``, ``ValueError``, ``DeviceUnavailable``) are raised on first use.
    """

    def __init__(self, spec: BackboneSpec, device: Any = "auto", batch_size: int | None = None,
                 loader=None):
        self.spec = spec
        self._device = device
        self._batch_size = batch_size
        self._loader = loader or load_backbone
        self._loaded: Backbone | None = None

    @property
    def key(self) -> str:
        return backbone_key(self.spec)

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> Backbone:
        if self._loaded is None:
            try:
                self._loaded = self._loader(self.spec, self._device, batch_size=self._batch_size)
            except ValueError as exc:  # not an open_clip architecture: the user's --model
                raise WeightsUnavailable(str(exc), model=self.spec.model, pretrained=self.spec.pretrained) from exc
        return self._loaded

    def __getattr__(self, name: str):  # dim, batch_size, embed_images, embed_texts, ...: load
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.load(), name)

    def __repr__(self) -> str:
        return f"LazyBackbone({self.spec.label!r}, loaded={self.loaded})"


def load_for_run(model: str | None, pretrained: str | None, device: Any = "auto",
                 batch_size: int | None = None) -> tuple[LazyBackbone | None, str | None]:
    """The backbone for a cull/score/group run (loaded when first used), and a warning when
    there is none.

    Without an explicit ``--model``/``--pretrained`` missing weights are a warning (grouping by
    capture time and hashes still works); with one, a missing weights file is an error now
    (WeightsUnavailable) and anything found only when loading (a tag not cached, a damaged
    file, a device this machine lacks) is raised on first use.
    """
    from .spec import spec_from_options
    from .weights import surely_absent

    spec, implicit = spec_from_options(model, pretrained)
    if implicit and surely_absent(spec) and not download_allowed():
        return None, (f"no weights for the default {spec.label} backbone here; grouping by capture time and perceptual "
                      "hashes only (pass --model/--pretrained PATH to use a local checkpoint, --no-embeddings to "
                      "silence this).")
    raw = spec.pretrained or ""
    if not implicit and not raw.startswith(LOCAL_DIR_PREFIX) and _looks_like_path(raw) \
            and not Path(os.path.expanduser(raw)).is_file():
        raise WeightsUnavailable(f"the weights file {raw} does not exist. Pass an existing checkpoint "
                                 "(--pretrained PATH.safetensors or .pt/.bin), or --no-embeddings.",
                                 model=spec.model, pretrained=spec.pretrained, searched=[raw])
    return LazyBackbone(spec, device, batch_size), None
