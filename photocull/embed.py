"""open_clip backbone loading (never waiting on a network) and batched image/text embeddings.

Weights are found *locally* first (:func:`resolve_weights`): a file the user named, a
``local-dir:DIR`` export, or open_clip's own download caches (the Hugging Face hub cache and
the legacy ``~/.cache/clip`` / ``cache_dir`` for URL downloads). When nothing is there and
downloading is not allowed, :func:`load_backbone` raises :class:`WeightsUnavailable` at once
with a message saying where it looked and what to do; open_clip itself is only asked to
download when the caller allows it (``allow_download=True`` or ``PHOTOCULL_ALLOW_DOWNLOAD=1``).

Preprocessing (resize the shorter side with antialiased bicubic, centre crop, normalise) is
done in torch, not with PIL: on a GPU images of the same shape are resized in one call, on a
CPU one at a time (faster there). It follows open_clip's eval transform (``resize_mode`` ``shortest``, ``longest``
or ``squash``) closely but not bit-exactly (PIL rounds to uint8 after resizing; we do not).

Nothing here holds a file handle; a :class:`Backbone` holds the model and is not meant to
cross process boundaries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

ALLOW_DOWNLOAD_ENV = "PHOTOCULL_ALLOW_DOWNLOAD"
LOCAL_DIR_PREFIX = "local-dir:"
HF_HUB_PREFIX = "hf-hub:"
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".npz")
_HF_WEIGHTS_NAME = "open_clip_pytorch_model.bin"  # open_clip.constants.HF_WEIGHTS_NAME
_HF_SAFE_WEIGHTS_NAME = "open_clip_model.safetensors"  # open_clip.constants.HF_SAFE_WEIGHTS_NAME
_HF_CONFIG_NAME = "open_clip_config.json"

__all__ = [
    "Backbone",
    "BackboneSpec",
    "WeightsUnavailable",
    "DeviceUnavailable",
    "download_allowed",
    "embed_stream",
    "load_backbone",
    "pick_device",
    "resolve_weights",
    "searched_locations",
    "default_num_threads",
]


class WeightsUnavailable(RuntimeError):
    """The backbone's weights are not on this machine and downloading is not allowed."""

    def __init__(self, message: str, *, model: str = "", pretrained: str | None = None,
                 searched: Sequence[str] = ()):
        super().__init__(message)
        self.model = model
        self.pretrained = pretrained
        self.searched = list(searched)


class DeviceUnavailable(RuntimeError):
    """A device was requested that this machine (or this torch build) does not have."""


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

    model: str = "ViT-B-16"
    pretrained: str | None = "openai"
    cache_dir: Path | None = None

    @property
    def label(self) -> str:
        return self.model if self.pretrained is None else f"{self.model} / {self.pretrained}"


# --------------------------------------------------------------------------------------------
# Finding weights without a network


def download_allowed(allow_download: bool | None = None) -> bool:
    """``allow_download`` if given, else whether ``PHOTOCULL_ALLOW_DOWNLOAD`` is set to a true value."""
    if allow_download is not None:
        return bool(allow_download)
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _open_clip():
    from photocull.compat import import_open_clip

    return import_open_clip()


def _hf_hub_caches(cache_dir: Path | None) -> list[Path]:
    """Hub cache roots in the order huggingface_hub would use them, read from the environment now."""
    roots: list[Path] = []
    if cache_dir is not None:
        roots.append(Path(cache_dir))
    env = os.environ
    if env.get("HF_HUB_CACHE"):
        roots.append(Path(os.path.expandvars(os.path.expanduser(env["HF_HUB_CACHE"]))))
    if env.get("HUGGINGFACE_HUB_CACHE"):
        roots.append(Path(os.path.expandvars(os.path.expanduser(env["HUGGINGFACE_HUB_CACHE"]))))
    if env.get("HF_HOME"):
        hf_home = Path(os.path.expandvars(os.path.expanduser(env["HF_HOME"])))
    else:
        xdg = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        hf_home = Path(xdg) / "huggingface"
    roots.append(hf_home / "hub")
    # huggingface_hub reads the environment once, at import: if it was imported under another
    # environment, its idea of the cache is where a download through open_clip would have gone.
    import sys

    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None and getattr(constants, "HF_HUB_CACHE", None):
        roots.append(Path(constants.HF_HUB_CACHE))
    return _dedupe(roots)


def _url_caches(cache_dir: Path | None) -> list[Path]:
    roots = [Path(cache_dir)] if cache_dir is not None else []
    roots.append(Path(os.path.expanduser("~/.cache/clip")))
    return _dedupe(roots)


def _dedupe(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    seen: set[str] = set()
    for p in paths:
        key = os.path.normpath(str(p))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _hf_filenames(filename: str | None) -> list[str]:
    """Files open_clip would fetch for a hub repo: the safetensors alternative first."""
    filename = filename or _HF_WEIGHTS_NAME
    names = []
    if filename == _HF_WEIGHTS_NAME:
        names.append(_HF_SAFE_WEIGHTS_NAME)
    elif filename.endswith((".bin", ".pth")):
        names.append(filename[:-4] + ".safetensors")
    names.append(filename)
    return names


def _find_in_hub_cache(root: Path, repo_id: str, filenames: Sequence[str]) -> Path | None:
    """``root/models--ORG--REPO/snapshots/<rev>/<file>``: the ``refs/main`` revision first, then
    the newest snapshot holding the file. Dangling symlinks (blob missing) do not count."""
    repo_dir = root / ("models--" + repo_id.replace("/", "--"))
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return None
    revisions: list[Path] = []
    ref = repo_dir / "refs" / "main"
    with contextlib.suppress(OSError):
        commit = ref.read_text().strip()
        if commit:
            revisions.append(snapshots / commit)
    try:
        others = sorted(
            (p for p in snapshots.iterdir() if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
    except OSError:
        others = []
    revisions += [p for p in others if p not in revisions]
    for name in filenames:
        for rev in revisions:
            candidate = rev / name
            if candidate.is_file() and candidate.stat().st_size > 0:
                return candidate
    return None


def _hub_pattern(root: Path, repo_id: str, filenames: Sequence[str]) -> str:
    return str(root / ("models--" + repo_id.replace("/", "--")) / "snapshots" / "*" /
               ("{" + ",".join(filenames) + "}" if len(filenames) > 1 else filenames[0]))


# Hub repos of the openai tags, so the usual "are the default weights here?" question is
# answered without importing torch and open_clip (~2.5 s) on machines that have none.
_KNOWN_OPENAI_REPOS = {
    "ViT-B-16": "timm/vit_base_patch16_clip_224.openai",
    "ViT-B-32": "timm/vit_base_patch32_clip_224.openai",
    "ViT-L-14": "timm/vit_large_patch14_clip_224.openai",
}


def surely_absent(spec: BackboneSpec) -> bool:
    """True when the weights of a well-known tag are certainly not cached here (a cheap check).

    False means "maybe present": call :func:`load_backbone` to know.
    """
    repo = _KNOWN_OPENAI_REPOS.get(spec.model) if spec.pretrained == "openai" else None
    if repo is None:
        return False
    names = _hf_filenames(None)
    if any(_find_in_hub_cache(root, repo, names) for root in _hf_hub_caches(spec.cache_dir)):
        return False
    return not any((root / f"{spec.model}.pt").is_file() for root in _url_caches(spec.cache_dir))


def _looks_like_path(value: str) -> bool:
    return (
        value.lower().endswith(WEIGHT_SUFFIXES)
        or os.sep in value
        or (os.altsep is not None and os.altsep in value)
        or value.startswith(("~", "."))
    )


@dataclass
class _Resolution:
    path: Path | None
    searched: list[str] = field(default_factory=list)
    tag_cfg: dict[str, Any] = field(default_factory=dict)
    kind: str = "tag"  # "none", "file", "local-dir", "tag", "hf-hub"


def _resolve(spec: BackboneSpec) -> _Resolution:
    model, pretrained = spec.model, spec.pretrained
    if model.startswith(LOCAL_DIR_PREFIX) or (pretrained or "").startswith(LOCAL_DIR_PREFIX):
        raw = model if model.startswith(LOCAL_DIR_PREFIX) else pretrained
        d = Path(os.path.expanduser(raw[len(LOCAL_DIR_PREFIX):]))
        found = _local_dir_weights(d)
        return _Resolution(found, [f"{d}/{_HF_CONFIG_NAME} + weights"], kind="local-dir")
    if model.startswith(HF_HUB_PREFIX):
        repo_id = model[len(HF_HUB_PREFIX):].strip("/")
        res = _Resolution(None, kind="hf-hub")
        names = _hf_filenames(None)
        for root in _hf_hub_caches(spec.cache_dir):
            res.searched.append(_hub_pattern(root, repo_id, names))
            hit = _find_in_hub_cache(root, repo_id, names)
            if hit is not None and (hit.parent / _HF_CONFIG_NAME).is_file():
                res.path = hit
                break
        return res
    oc = _open_clip()
    if model.replace("/", "-") not in oc.list_models():
        import difflib

        close = difflib.get_close_matches(model, oc.list_models(), n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"'{model}' is not an open_clip model architecture.{hint} "
                         "See `photocull models` or open_clip.list_models().")
    if pretrained is None:
        return _Resolution(None, kind="none")
    cfg = oc.get_pretrained_cfg(model, pretrained) or {}
    if not cfg:
        # Not a known tag: a file path (open_clip's own order: tag first, then file).
        p = Path(os.path.expanduser(pretrained))
        kind = "file" if _looks_like_path(pretrained) or p.is_file() else "unknown-tag"
        return _Resolution(p if p.is_file() else None, [str(p)], kind=kind)
    res = _Resolution(None, tag_cfg=dict(cfg), kind="tag")
    if cfg.get("file"):
        res.searched.append(str(cfg["file"]))
        if Path(cfg["file"]).is_file():
            res.path = Path(cfg["file"])
            return res
    hf_hub = cfg.get("hf_hub") or ""
    if hf_hub:
        # open_clip's convention: "org/repo/" (default file) or "org/repo/file.bin"
        repo_id, filename = os.path.split(hf_hub)
        names = _hf_filenames(filename)
        for root in _hf_hub_caches(spec.cache_dir):
            res.searched.append(_hub_pattern(root, repo_id, names))
            if res.path is None:
                res.path = _find_in_hub_cache(root, repo_id, names)
    url = cfg.get("url") or ""
    if url:
        fname = os.path.basename(url)
        for root in _url_caches(spec.cache_dir):
            candidate = root / fname
            res.searched.append(str(candidate))
            if res.path is None and candidate.is_file() and candidate.stat().st_size > 0:
                res.path = candidate
    return res


def _local_dir_weights(d: Path) -> Path | None:
    if not (d / _HF_CONFIG_NAME).is_file():
        return None
    for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
                 "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pth",
                 "model.safetensors", "pytorch_model.bin", "pytorch_model.pth", "model.pth"):
        if (d / name).is_file():
            return d / name
    found = sorted(p for p in d.iterdir() if p.suffix in (".safetensors", ".bin", ".pth"))
    return found[0] if found else None


def resolve_weights(spec: BackboneSpec) -> Path | None:
    """The local weights file for ``spec``, or ``None``; never touches the network.

    Order: a file path given as ``pretrained``; a ``local-dir:`` folder; for a tag, the
    tag's ``file`` entry, then the Hugging Face hub cache (``spec.cache_dir``, ``HF_HUB_CACHE``,
    ``HUGGINGFACE_HUB_CACHE``, ``HF_HOME/hub``, ``XDG_CACHE_HOME/huggingface/hub`` or
    ``~/.cache/huggingface/hub``; ``models--ORG--REPO/snapshots/*/open_clip_model.safetensors``
    before ``open_clip_pytorch_model.bin``), then the URL download caches (``spec.cache_dir``,
    ``~/.cache/clip``). File contents are not verified here (no SHA-256 of a GB file);
    an unreadable file is reported when :func:`load_backbone` loads it.
    """
    return _resolve(spec).path


def searched_locations(spec: BackboneSpec) -> list[str]:
    """Every place :func:`resolve_weights` looks for ``spec`` (for messages and ``photocull models``)."""
    return _resolve(spec).searched


def _unavailable_message(spec: BackboneSpec, res: _Resolution) -> str:
    what = f"open_clip model '{spec.model}'"
    if spec.pretrained is not None and res.kind in ("tag", "file", "unknown-tag") or (
            res.kind == "local-dir" and not spec.model.startswith(LOCAL_DIR_PREFIX)):
        what += f" with pretrained '{spec.pretrained}'"
    if res.kind == "unknown-tag":
        tags = _open_clip().list_pretrained_tags_by_model(spec.model)
        head = (f"'{spec.pretrained}' is neither a pretrained tag of '{spec.model}' "
                f"(known: {', '.join(tags) or 'none'}) nor an existing file.")
    elif res.kind == "file":
        head = f"The weights file for {what} does not exist."
    elif res.kind == "local-dir":
        head = f"No open_clip_config.json with weights found for {what}."
    else:
        head = (f"The weights for {what} are not on this machine, and downloading is off "
                f"(photocull never waits on a network unless told to).")
    looked = "\n".join(f"  - {s}" for s in res.searched) or "  (nowhere: nothing to look for)"
    if spec.model.startswith(HF_HUB_PREFIX):
        create = f"open_clip.create_model('{spec.model}')"
    else:
        create = f"open_clip.create_model('{spec.model}', pretrained='{spec.pretrained}')"
    return (
        f"{head}\n"
        f"Looked in:\n{looked}\n"
        "What you can do:\n"
        "  - use a checkpoint you have: --pretrained PATH.safetensors (or .pt/.bin), "
        "or --pretrained local-dir:DIR (open_clip_config.json + weights);\n"
        "  - score without this model: --scorer technical; or skip embeddings for grouping: "
        "--no-embeddings;\n"
        "  - download it: allow downloads here (--allow-download or PHOTOCULL_ALLOW_DOWNLOAD=1), "
        "or on a connected machine run\n"
        f"      python -c \"import open_clip; {create}\"\n"
        "    and copy its ~/.cache/huggingface/hub folder (or the single weights file, then "
        "--pretrained PATH) to this machine."
    )


# --------------------------------------------------------------------------------------------
# Devices and threads


def pick_device(requested: str = "auto"):
    """``auto``: CUDA if available, else MPS if available, else CPU. An explicit request for a
    device this machine does not have raises :class:`DeviceUnavailable` (no silent CPU fallback)."""
    import torch

    req = (requested or "auto").strip().lower()
    cuda_ok = torch.cuda.is_available()
    mps_backend = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps_backend is not None and mps_backend.is_available())
    if req == "auto":
        if cuda_ok:
            return torch.device("cuda")
        if mps_ok:
            return torch.device("mps")
        return torch.device("cpu")
    if req == "cpu":
        return torch.device("cpu")
    if req.startswith("cuda"):
        if not cuda_ok:
            built = torch.version.cuda is not None
            why = ("no CUDA GPU is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)" if built
                   else f"this torch build ({torch.__version__}) has no CUDA support")
            raise DeviceUnavailable(
                f"Device '{requested}' was requested but {why}. "
                "Use --device cpu (or --device auto to pick what is available).")
        dev = torch.device(req)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceUnavailable(
                f"Device '{requested}' was requested but only {torch.cuda.device_count()} "
                "CUDA device(s) are visible. Use --device cuda (the first one) or --device auto.")
        return dev
    if req == "mps":
        if not mps_ok:
            raise DeviceUnavailable(
                "Device 'mps' was requested but Apple's Metal backend is not available on this "
                "machine/torch build. Use --device cpu or --device auto.")
        return torch.device("mps")
    raise DeviceUnavailable(f"Unknown device '{requested}': use auto, cpu, cuda, cuda:N or mps.")


def _physical_cores() -> int | None:
    """Physical cores from /proc/cpuinfo (Linux); None when it cannot tell."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores: set[tuple[str, str]] = set()
    phys = core = None
    for line in text.splitlines() + [""]:
        if not line.strip():
            if core is not None:
                cores.add((phys or "0", core))
            phys = core = None
            continue
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            phys = value.strip()
        elif key == "core id":
            core = value.strip()
    return len(cores) or None


def default_num_threads() -> int:
    """Physical cores, never more than the CPUs this process may run on nor ``os.cpu_count()``."""
    logical = os.cpu_count() or 1
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = logical
    physical = _physical_cores() or logical
    return max(1, min(physical, allowed, logical))


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
        """A stable key for cached embeddings: model, weights and preprocessing."""
        if self.source == "none":
            src = "random"
        elif self.source == "tag":
            src = str(self.spec.pretrained)
        elif self.weights is None:
            src = "hub"
        else:
            try:
                size = self.weights.stat().st_size
            except OSError:
                size = 0
            src = f"file:{self.weights.name}:{size}"
        h, w = self.image_size
        return f"{self.spec.model}|{src}|{h}x{w}|{self.resize_mode}"

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
            oc = _open_clip()
            with _hub_offline(not self._allow_download):
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


@contextlib.contextmanager
def _hub_offline(offline: bool):
    """Make huggingface_hub fail fast instead of retrying, for the duration of the block."""
    if not offline:
        yield
        return
    import sys

    old_env = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    old_const = getattr(constants, "HF_HUB_OFFLINE", None) if constants else None
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env
        if constants is not None:
            constants.HF_HUB_OFFLINE = old_const


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

    oc = _open_clip()
    dev = device if isinstance(device, torch.device) else pick_device(str(device))
    allow = download_allowed(allow_download)
    res = _resolve(spec)

    kwargs: dict[str, Any] = {}
    model_name, pretrained = spec.model, spec.pretrained
    if res.kind == "none":
        pretrained = None
    elif res.kind == "local-dir":
        if res.path is None:
            raise WeightsUnavailable(_unavailable_message(spec, res), model=spec.model,
                                     pretrained=spec.pretrained, searched=res.searched)
        raw = spec.model if spec.model.startswith(LOCAL_DIR_PREFIX) else spec.pretrained
        model_name, pretrained = LOCAL_DIR_PREFIX + str(Path(os.path.expanduser(raw[len(LOCAL_DIR_PREFIX):]))), None
    elif res.kind == "hf-hub":
        if res.path is not None:
            model_name, pretrained = LOCAL_DIR_PREFIX + str(res.path.parent), None
        elif not allow:
            raise WeightsUnavailable(_unavailable_message(spec, res), model=spec.model,
                                     pretrained=spec.pretrained, searched=res.searched)
    elif res.kind in ("file", "unknown-tag"):
        if res.path is None:
            raise WeightsUnavailable(_unavailable_message(spec, res), model=spec.model,
                                     pretrained=spec.pretrained, searched=res.searched)
        pretrained = str(res.path)
    else:  # a known tag
        if res.path is not None:
            # Load exactly the file we found, with the tag's preprocessing and activation.
            pretrained = str(res.path)
            cfg = res.tag_cfg
            if cfg.get("quick_gelu"):
                kwargs["force_quick_gelu"] = True
            for src, dst in (("mean", "image_mean"), ("std", "image_std"),
                             ("interpolation", "image_interpolation"),
                             ("resize_mode", "image_resize_mode")):
                if cfg.get(src) is not None:
                    kwargs[dst] = cfg[src]
        elif not allow:
            raise WeightsUnavailable(_unavailable_message(spec, res), model=spec.model,
                                     pretrained=spec.pretrained, searched=res.searched)

    t0 = time.perf_counter()
    try:
        with _hub_offline(not allow):
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
                _unavailable_message(spec, res) + f"\n(open_clip said: {type(exc).__name__}: {exc})",
                model=spec.model, pretrained=spec.pretrained, searched=res.searched) from exc
        raise
    model.eval()

    if dev.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    elif dev.type == "mps":
        dtype = torch.float16
    else:
        dtype = torch.float32
        torch.set_num_threads(max(1, int(num_threads or default_num_threads())))
    model.to(device=dev, dtype=dtype)

    pp = oc.get_model_preprocess_cfg(model) if hasattr(oc, "get_model_preprocess_cfg") else {}
    size = pp.get("size") or getattr(model.visual, "image_size", 224)
    size = tuple(size) if isinstance(size, (tuple, list)) else (int(size), int(size))
    if len(size) == 1:
        size = (size[0], size[0])
    mean = pp.get("mean") or (0.48145466, 0.4578275, 0.40821073)
    std = pp.get("std") or (0.26862954, 0.26130258, 0.27577711)
    bs = batch_size or _auto_batch_size(model, dev, dtype, size)
    backbone = Backbone(
        model, model_name=model_name, spec=spec, device=dev, dtype=dtype, image_size=size,
        mean=mean, std=std, interpolation=pp.get("interpolation") or "bicubic",
        resize_mode=pp.get("resize_mode") or "shortest", fill_color=int(pp.get("fill_color") or 0),
        batch_size=int(bs), weights=res.path, tokenizer_name=model_name, allow_download=allow,
        source=res.kind if res.kind != "unknown-tag" else "file")
    log.info("loaded %r in %.2fs from %s", backbone, time.perf_counter() - t0, res.path or "open_clip")
    return backbone


# --------------------------------------------------------------------------------------------
# Streaming


def embed_stream(backbone: Backbone, items: Iterable[tuple[Any, np.ndarray | None]],
                 batch_size: int | None = None) -> Iterator[tuple[list[Any], np.ndarray]]:
    """Batch ``(key, image)`` pairs from an iterator (fed by a decode pool) through the model.

    Yields ``(keys, embeddings)`` per batch, in input order; ``embeddings`` is (len(keys), dim)
    float32, L2-normalised. Items whose image is ``None`` (decode failures, already reported
    by the decoder) are skipped. The iterator is pulled lazily, so the pool keeps decoding
    while a batch runs.
    """
    bs = max(1, int(batch_size or backbone.batch_size))
    keys: list[Any] = []
    images: list[np.ndarray] = []
    for key, image in items:
        if image is None:
            continue
        keys.append(key)
        images.append(image)
        if len(images) >= bs:
            yield keys, backbone.embed_images(images, batch_size=bs)
            keys, images = [], []
    if images:
        yield keys, backbone.embed_images(images, batch_size=bs)
