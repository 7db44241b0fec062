"""Small helpers shared by the benchmarks: machine label, medians, memory, results files."""

from __future__ import annotations

import json
import platform
import re
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from photocull.runtime import cpu_count as cores  # the CPUs this process may use

RESULTS = Path(__file__).resolve().parent / "results"
TINY = "photocull-bench-tiny-clip"
TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def gpu_name() -> str | None:
    """The CUDA device name if torch is already importable and sees one (imports torch)."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001
        pass
    return None


def machine_label(device: str = "cpu") -> str:
    """e.g. ``cpu-2c`` here, ``nvidia-h100-80gb-hbm3-16c`` on the GPU machine."""
    name = gpu_name() if device.startswith("cuda") else None
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") if name else "cpu"
    return f"{base}-{cores()}c"


def machine_info(device: str = "cpu") -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": cores(),
        "cpu": _cpu_model(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "mem_gb": _mem_gb(),
    }
    try:
        import PIL

        info["pillow"] = PIL.__version__
    except ImportError:
        pass
    if device.startswith("cuda"):
        info["gpu"] = gpu_name()
        try:
            import torch

            info["torch"] = torch.__version__
        except ImportError:
            pass
    return info


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _mem_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def median(xs: Iterable[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def spread(xs: Iterable[float | None]) -> list[float]:
    vals = [x for x in xs if x is not None]
    return [min(vals), max(vals)] if vals else []


# --- memory ---------------------------------------------------------------------------------


def vm_hwm_mb() -> float | None:
    """This process's peak resident set (VmHWM), MB; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def children_peak_mb() -> float:
    """The largest peak RSS of any reaped child process (not a sum), MB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


# --- results ----------------------------------------------------------------------------------


def write_results(name: str, machine: str, payload: dict[str, Any], out: Path | None = None) -> Path:
    path = out or RESULTS / f"{name}-{machine}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **payload}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=_jsonable))
    tmp.replace(path)
    return path


def save_and_print(name: str, res: dict[str, Any], args: Any, device: str, printer) -> dict[str, Any]:
    """The common end of a benchmark: label the machine, write the JSON, print the table."""
    machine = getattr(args, "machine", None) or machine_label(device)
    res["machine_info"] = machine_info(device)
    path = write_results(name, machine, res, getattr(args, "out", None))
    printer(res)
    print(f"results: {path}")
    return res


def _jsonable(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    return str(o)


def register_tiny_model(tmpdir: Path) -> str:
    """Register a tiny random open_clip architecture (as the tests do); returns its name."""
    from photocull.compat import import_open_clip

    tmpdir.mkdir(parents=True, exist_ok=True)
    path = tmpdir / f"{TINY}.json"
    path.write_text(json.dumps(TINY_CFG))
    import_open_clip().add_model_config(path)
    return TINY


def fmt(x: float | None, digits: int = 1, suffix: str = "") -> str:
    if x is None:
        return "—"
    return f"{x:,.{digits}f}{suffix}"


def run_settings(**options: Any):
    """The settings of a run as the command line would give them (``RunSettings`` fields by
    name), none read from this machine's ``photocull.toml``: what a benchmark opens its
    ``photocull.session.Session`` with."""
    from photocull.settings import RunSettings, Settings

    return Settings(cull=RunSettings(**options))


def load_bench_backbone(which: str, device: str, workdir: Path, batch_size: int | None = None):
    """``tiny`` (random, registered here), or ``MODEL`` / ``MODEL:PRETRAINED`` with local weights
    when they exist, else the same architecture with RANDOM weights.

    Returns ``(backbone, label, pretrained_found)``; the label says honestly which it is.
    """
    import torch

    from photocull.backbones import DEFAULT_PRETRAINED, BackboneSpec, WeightsUnavailable, load_backbone

    if which == "tiny":
        name = register_tiny_model(workdir / "oc_cfg")
        torch.manual_seed(0)
        return load_backbone(BackboneSpec(name, None), device, batch_size=batch_size), "tiny open_clip (random weights)", False
    model, _, pretrained = which.partition(":")
    pretrained = pretrained or DEFAULT_PRETRAINED
    try:
        bb = load_backbone(BackboneSpec(model, pretrained), device, allow_download=False, batch_size=batch_size)
        return bb, f"{model} / {pretrained} (pretrained, local weights)", True
    except WeightsUnavailable:
        torch.manual_seed(0)
        bb = load_backbone(BackboneSpec(model, None), device, batch_size=batch_size)
        return bb, f"{model} (RANDOM weights: '{pretrained}' not found locally)", False
