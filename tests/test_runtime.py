"""runtime: the one atomic write, device picker and CPU count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from photocull import paths, runtime


def test_atomic_write_creates_then_replaces_leaving_no_temp(tmp_path: Path) -> None:
    f = tmp_path / "report.json"
    runtime.atomic_write_text(f, "one\n")
    assert f.read_text() == "one\n"
    os.chmod(f, 0o640)
    runtime.atomic_write_bytes(f, b"two")
    assert f.read_bytes() == b"two" and os.stat(f).st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_atomic_write_must_exist_and_must_not_exist(tmp_path: Path) -> None:
    f = tmp_path / "photo.jpg"
    with pytest.raises(FileNotFoundError):
        runtime.atomic_write_bytes(f, b"x", create=False)
    f.write_bytes(b"old")
    stamp = runtime.Stamp.of(f)
    with pytest.raises(runtime.ChangedSinceRead):
        runtime.atomic_write_bytes(f, b"x", create=True)
    f.write_bytes(b"changed by someone else")
    with pytest.raises(runtime.ChangedSinceRead):
        runtime.atomic_write_bytes(f, b"ours", expected=stamp)
    assert f.read_bytes() == b"changed by someone else"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]


def test_device_picker_refuses_missing_devices() -> None:
    torch = pytest.importorskip("torch")
    assert runtime.pick_device("cpu") == torch.device("cpu")
    with pytest.raises(runtime.DeviceUnavailable, match="use auto, cpu"):
        runtime.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(runtime.DeviceUnavailable, match="--device cpu"):
            runtime.pick_device("cuda")


def test_cpu_counts_are_positive_and_threads_within_cpus() -> None:
    assert 1 <= runtime.default_num_threads() <= runtime.cpu_count()


def test_shoot_folder_of_a_file_is_its_folder(tmp_path: Path) -> None:
    f = tmp_path / "a.jpg"
    f.write_bytes(b"")
    assert paths.shoot_folder(f) == tmp_path == paths.shoot_folder(tmp_path)
    assert paths.last_run_path(f) == tmp_path / ".photocull" / "last_run.json"
