"""The writer options of the cull that made the shoot, kept beside its saved run for review.

``photocull cull`` saves :meth:`Settings.writer_options` (``--write``, ``--sidecar-naming``,
``--preset``'s reject form and keywords, ``--touch``; from the command line and
``photocull.toml``) as ``SHOOT/.photocull/writer.json`` next to ``last_run.json``; the
review page loads them so its decisions land where the cull's did (``IMG.JPG.xmp`` after
``--preset darktable``). The file travels with the card: every value is checked, and one
that is not valid gives the defaults with a note rather than an unsafe write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import paths
from ..metadata import check_naming, write_fields
from ..metadata.targets import default_fields
from ..runtime import atomic_write_text

WRITER_FILENAME = "writer.json"
MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class RunWriter:
    """How the review page writes: the subset of ``create_writer``'s options a decision needs."""

    targets: frozenset[str] = field(default_factory=default_fields)  # --write's default
    sidecar_naming: str = "name"
    preserve_mtime: bool = True
    reject: bool = True  # a reject is xmp:Rating -1 (else 1 star + Red label + keyword)
    keywords: bool = False  # picks/rejects also get photocull|pick / photocull|reject
    note: str = field(default="", compare=False)  # why the defaults are used, for the terminal

    def to_json(self) -> dict[str, Any]:
        return {"targets": sorted(self.targets), "sidecar_naming": self.sidecar_naming,
                "preserve_mtime": self.preserve_mtime, "reject": self.reject, "keywords": self.keywords}


def writer_path(shoot: Path) -> Path:
    return paths.state_dir(shoot) / WRITER_FILENAME


def save_run_writer(options: dict[str, Any], shoot: Path) -> None:
    """Keep a cull's ``writer_options()`` for review (a read-only shoot: nothing kept)."""
    w = RunWriter(frozenset(options["targets"]), options["sidecar_naming"], bool(options["preserve_mtime"]),
                  bool(options["reject"]), bool(options["keywords"]))
    try:
        atomic_write_text(writer_path(shoot), json.dumps(w.to_json()) + "\n")
    except OSError:
        pass


def load_run_writer(shoot: Path) -> RunWriter:
    """The saved options of the shoot's last cull; the defaults (with a note) if none or invalid."""
    path = writer_path(shoot)
    try:
        if path.is_symlink() or path.stat().st_size > MAX_BYTES:
            raise ValueError("not a file photocull wrote")
        data = json.loads(path.read_text(encoding="utf-8"))
        targets = data["targets"]
        if not isinstance(targets, list) or not targets or not set(targets) <= set(write_fields()):
            raise ValueError(f"unknown --write fields {targets!r}")
        flags = [data[k] for k in ("preserve_mtime", "reject", "keywords")]
        if not all(isinstance(v, bool) for v in flags) or not isinstance(data["sidecar_naming"], str):
            raise ValueError("malformed options")
        return RunWriter(frozenset(targets), check_naming(data["sidecar_naming"]), *flags)
    except FileNotFoundError:
        return RunWriter(note="no writer options saved with the last run (culled by an older photocull): "
                              "writing with the defaults")
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        return RunWriter(note=f"{path} cannot be used ({exc}); writing with the defaults")
