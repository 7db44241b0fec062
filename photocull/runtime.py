"""What the machine offers, asked in one place: devices, autocast, CPU counts, atomic writes.

Every module that needs a torch device, a thread count or a crash-safe file write asks
here, so a rule (MPS after CUDA, cores the process may really use, temp + fsync + rename)
is written once and means the same thing in the CLI, the pipeline, training and benchmarks.
torch is imported lazily: the technical scorer and the metadata writer run without it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------------
# Devices


class DeviceUnavailable(RuntimeError):
    """An explicitly requested device this machine does not have (never a silent CPU fallback)."""


DEVICES = ("auto", "cpu", "cuda", "mps")  # what --device accepts (plus cuda:N)


def pick_device(requested: str = "auto"):
    """``auto``: CUDA if available, else MPS if available, else CPU. An explicit request for a
    device this machine does not have raises :class:`DeviceUnavailable`."""
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


def autocast(device: Any, dtype: Any = None):
    """Mixed precision where it pays: bfloat16 on CUDA unless ``dtype`` says otherwise; on
    other devices only an explicit non-float32 ``dtype`` turns it on (CPU bf16 is slow)."""
    import torch

    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda":
        return torch.autocast("cuda", dtype=dtype or torch.bfloat16)
    if dtype is not None and dtype != torch.float32:
        return torch.autocast(dev.type, dtype=dtype)
    return contextlib.nullcontext()


# --------------------------------------------------------------------------------------------
# CPUs and threads


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


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


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
HEAP_BUFFERS_UP_TO = 64 << 20  # buffers this large come from the heap and are reused, not mapped afresh
HEAP_KEEP = 128 << 20  # free heap kept mapped at most


def keep_freed_buffers() -> bool:
    """In a decode worker: let malloc reuse freed large buffers instead of unmapping them.

    Why: glibc maps every buffer over 128 KB afresh and unmaps it when freed, so each of
    the dozen numpy temporaries a frame's measures need (1-6 MB) page-faults on first use.
    Under a hypervisor a fault costs microseconds: measured here, a 1.5 MP difference
    image cost 4.6 ms fresh and 0.5 ms reused, the technical measures 2-5x less in all.
    Bounded: only buffers up to 64 MB, at most 128 MB kept. Returns whether it took
    effect (glibc on Linux only; elsewhere the allocator is left as it is).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, HEAP_BUFFERS_UP_TO)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, HEAP_KEEP))
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False


def default_num_threads() -> int:
    """Threads for torch's CPU kernels: physical cores (hyper-threads slow GEMMs down), never
    more than the CPUs this process may run on."""
    allowed = cpu_count()
    return max(1, min(_physical_cores() or allowed, allowed))


# --------------------------------------------------------------------------------------------
# Atomic writes

TEMP_MARK = ".photocull-tmp-"


class ChangedSinceRead(OSError):
    """The file changed between our read and the replace (another program wrote it)."""


@dataclass(frozen=True)
class Stamp:
    """What identifies the version of a file we read."""

    size: int
    mtime_ns: int
    ino: int = 0
    ctime_ns: int = 0  # cannot be set back by a tool that preserves mtime (exiftool -P, us)

    @classmethod
    def of(cls, path: Path) -> Stamp:
        return cls.from_stat(os.stat(path))

    @classmethod
    def from_stat(cls, st: os.stat_result) -> Stamp:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def temp_name_prefix(path: Path) -> str:
    name = path.name
    # A file name has at most 255 bytes: keep room for the mark and mkstemp's 8 characters,
    # so a long name (231 characters and more) can still be written.
    while len(os.fsencode(f".{name}{TEMP_MARK}")) + 8 > 255:
        name = name[:-1]
    return f".{name}{TEMP_MARK}"


def fsync_dir(directory: Path) -> None:
    """Make a rename/unlink in ``directory`` durable (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(
    path: Path,
    data: bytes,
    *,
    expected: Stamp | None = None,
    preserve_mode: bool = True,
    preserve_mtime: bool = False,
    mtime_ns: int | None = None,
    create: bool | None = None,
) -> None:
    """Replace (or create) ``path`` with ``data`` atomically: a reader sees the old file or
    the new one, never a mix, and a power cut leaves at most a stray temp file.

    ``create``: None writes whether or not the file exists (reports, caches, last_run.json);
    False: it must exist (a photo); True: it must not exist yet (a new sidecar), and one that
    appears meanwhile is never overwritten. ``expected``: the Stamp of the version we read;
    if the file no longer matches just before the rename, raise ChangedSinceRead and leave it
    alone. ``mtime_ns`` sets an explicit modification time (undo restores the old one).
    Symlinks are followed: the link's target is replaced, the link stays a link.
    """
    path = Path(os.path.realpath(path))
    directory = path.parent
    if create is None:
        create_new = not os.path.lexists(path)
        old = None if create_new else os.stat(path)
    else:
        create_new = create
        old = None if create else os.stat(path)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_name_prefix(path), dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if old is not None and preserve_mode:
            os.chmod(tmp, old.st_mode & 0o7777)
            if hasattr(os, "chown") and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.chown(tmp, old.st_uid, old.st_gid)
                except OSError:
                    pass
        elif old is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        if mtime_ns is not None:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
        elif old is not None and preserve_mtime:
            os.utime(tmp, ns=(old.st_atime_ns, old.st_mtime_ns))
        if create is True:
            _link_new(tmp, path)
        elif create_new:
            os.replace(tmp, path)  # our own file: a name that appeared meanwhile is ours too
        else:
            now = os.stat(path)
            if expected is not None and Stamp.from_stat(now) != expected:
                raise ChangedSinceRead(f"{path.name} changed since it was read")
            if Stamp.from_stat(now) != Stamp.from_stat(old):
                raise ChangedSinceRead(f"{path.name} changed while writing")
            os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def _link_new(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` only if nothing has that name (no clobbering)."""
    try:
        os.link(tmp, path)  # fails if the name exists
    except FileExistsError:
        raise ChangedSinceRead(f"{path.name} appeared while writing") from None
    except OSError:  # no hard links here (some FUSE/SMB mounts)
        if os.path.lexists(path):
            raise ChangedSinceRead(f"{path.name} appeared while writing") from None
        os.replace(tmp, path)
    else:
        os.unlink(tmp)


def atomic_write_text(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Create or replace a file of photocull's own (a report, ``last_run.json``) atomically:
    a reader (or a crash) sees the old file or the new one, never half of it.

    Unlike :func:`atomic_write_bytes`, a link at ``path`` is replaced, not followed: a
    crafted ``.photocull/last_run.json`` link on a card must not lead a write outside the shoot.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_name_prefix(path), dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode(encoding))
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_unlink(path: Path) -> None:
    """Delete a file and make the deletion durable."""
    os.unlink(path)
    fsync_dir(Path(path).parent)


def cleanup_temp_files(directory: Path, *, recursive: bool = True) -> list[Path]:
    """Remove temp files a killed run left behind; returns what was removed.

    Only names photocull creates (``.NAME.photocull-tmp-XXXX``) are touched. Run it when no
    other photocull process writes in ``directory``.
    """
    removed: list[Path] = []
    pattern = f".*{TEMP_MARK}*"
    candidates = Path(directory).rglob(pattern) if recursive else Path(directory).glob(pattern)
    for p in candidates:
        try:
            if p.is_file() and not p.is_symlink():
                p.unlink()
                removed.append(p)
        except OSError:
            continue
    return removed
