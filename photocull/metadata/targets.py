"""The registry of metadata targets: where a rating can go, each one unit of write, read and undo.

A target is one module (``jpeg_embedded``, ``xmp_sidecar``) holding its write, read and
undo side by side, plus one :func:`register_target` line below. The writer asks each target
in registration order whether it handles a photo (its format and the ``--write`` fields
asked for) and lets the first that does write; the journal records the target's name with
every write and dispatches ``undo`` on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable

from ..records import WriteOutcome
from . import jpeg_embedded, xmp_sidecar
from .common import Skip, WriteRequest
from ..registry import register_in

if TYPE_CHECKING:
    from .journal import Journal


@dataclass(frozen=True)
class Target:
    """One place a rating can be written. ``fields``: the ``--write`` choices it serves."""

    name: str
    fields: frozenset[str]
    handles: Callable[[str, frozenset[str]], bool]  # (fmt, fields asked for) -> does it write this photo
    write: Callable[[WriteRequest], WriteOutcome]  # raises common.Skip for per-file refusals
    read: Callable[[Path, str, str], dict[str, Any]]  # (path, fmt, sidecar naming) -> read_rating keys
    undo: Callable[[Journal, dict[str, Any], bool], WriteOutcome]  # (journal, record, dry_run)
    is_legacy_record: Callable[[dict[str, Any]], bool] = lambda rec: False  # journal records without "target"

    @classmethod
    def from_module(cls, module: ModuleType) -> Target:
        return cls(module.NAME, module.FIELDS, module.handles, module.write, module.read, module.undo,
                   getattr(module, "is_legacy_record", lambda rec: False))


TARGETS: dict[str, Target] = {}


def register_target(target: Target, *, replace: bool = False) -> Target:
    """Add a target; returns it. A name taken already is refused unless ``replace`` (see
    :func:`photocull.registry.register_in`)."""
    return register_in(TARGETS, target.name, target, kind="metadata target", replace=replace)


def unregister_target(name: str) -> None:
    TARGETS.pop(name, None)


def write_fields() -> tuple[str, ...]:
    """Every ``--write`` choice some target serves, in registration order."""
    return tuple(dict.fromkeys(f for t in TARGETS.values() for f in sorted(t.fields)))


def target_for(fmt: str, fields: frozenset[str]) -> Target | None:
    """The target that writes a photo of ``fmt`` when ``fields`` are asked for."""
    return next((t for t in TARGETS.values() if t.handles(fmt, fields)), None)


def target_of_record(rec: dict[str, Any]) -> Target:
    """The target that made a journal record (records from before names were recorded, too)."""
    name = rec.get("target")
    if name is not None:
        if name not in TARGETS:
            raise Skip(f"written by an unknown metadata target {name!r} (a newer photocull?); left alone")
        return TARGETS[name]
    for t in TARGETS.values():
        if t.is_legacy_record(rec):
            return t
    raise Skip("journal record names no metadata target; left alone")


register_target(Target.from_module(jpeg_embedded))
register_target(Target.from_module(xmp_sidecar))
