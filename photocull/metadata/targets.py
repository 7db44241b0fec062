"""The registry of metadata targets: where a rating can go, each one unit that owns everything about it.

A target is one module (``jpeg_embedded``, ``xmp_sidecar``) plus one :func:`register_target`
line below. It owns its write, read and undo, the files that travel with a photo on
``--copy-picks`` / ``--move-rejects`` (its sidecars: ``companions``), and its ownership
rule: the fields that hold a decision (``HELD``), so a rating, reject or label the
photographer set there is read and never overwritten. The writer, ownership, transfer,
undo and the review page iterate this registry and ask the targets; none of them names one.

Targets sharing a ``SLOT`` are alternatives (embedded XMP in a JPEG, else an XMP sidecar):
the first registered that handles a photo writes it. Targets in different slots each write
(an XMP and a Capture One ``.cos`` beside the same photo).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..records import WriteOutcome
from . import jpeg_embedded, xmp_sidecar
from .common import Held, Skip, WriteRequest
from ..registry import register_in

if TYPE_CHECKING:
    from .journal import Journal


def _no_companions(photo: Path) -> list[Path]:
    return []


def _not_legacy(rec: dict[str, Any]) -> bool:
    return False


@dataclass(frozen=True)
class Target:
    """One place a rating can be written. ``fields``: the ``--write`` choices it serves."""

    name: str
    fields: frozenset[str]
    handles: Callable[[str, frozenset[str]], bool]  # (fmt, fields asked for) -> does it write this photo
    write: Callable[[WriteRequest], WriteOutcome]  # raises common.Skip for per-file refusals
    read: Callable[[Path, str, str], dict[str, Any]]  # (path, fmt, sidecar naming) -> some of read_keys
    undo: Callable[[Journal, dict[str, Any], bool], WriteOutcome]  # (journal, record, dry_run)
    read_keys: tuple[str, ...] = ()  # every key read() may return (read_rating gives None for those absent)
    held: tuple[Held, ...] = ()  # its fields holding a decision: ownership and the review page read them
    companions: Callable[[Path], list[Path]] = _no_companions  # files of its own beside a photo (any naming)
    slot: str = ""  # targets sharing a slot are alternatives for one photo (default: its own name)
    default: bool = True  # its fields are in --write's default
    is_legacy_record: Callable[[dict[str, Any]], bool] = _not_legacy  # journal records without "target"

    def __post_init__(self) -> None:
        object.__setattr__(self, "slot", self.slot or self.name)
        unknown = [h.key for h in self.held if h.key not in self.read_keys]
        if unknown:
            raise ValueError(f"metadata target {self.name!r}: held fields {unknown} are not among its read_keys")

    @classmethod
    def from_module(cls, module: ModuleType) -> Target:
        """The target a module defines: ``NAME``, ``FIELDS``, ``handles``, ``write``, ``read``,
        ``undo``; and, where it has them, ``READ_KEYS``, ``HELD``, ``companions``, ``SLOT``,
        ``DEFAULT``, ``is_legacy_record``."""
        ns = vars(module)
        return cls(module.NAME, module.FIELDS, module.handles, module.write, module.read, module.undo,
                   tuple(ns.get("READ_KEYS", ())), tuple(ns.get("HELD", ())), ns.get("companions", _no_companions),
                   ns.get("SLOT", ""), ns.get("DEFAULT", True), ns.get("is_legacy_record", _not_legacy))


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


def default_fields() -> frozenset[str]:
    """What ``--write`` means when not given: the fields of every target registered as a default."""
    return frozenset(f for t in TARGETS.values() if t.default for f in t.fields)


def targets_for(fmt: str, fields: frozenset[str]) -> list[Target]:
    """The targets that write a photo of ``fmt`` when ``fields`` are asked for: in each slot,
    the first registered that handles it."""
    chosen: dict[str, Target] = {}
    for t in TARGETS.values():
        if t.slot not in chosen and t.handles(fmt, fields):
            chosen[t.slot] = t
    return list(chosen.values())


def fields_writing(fmt: str) -> tuple[str, ...]:
    """The ``--write`` fields that can put a rating on a photo of ``fmt`` (for the message
    when the ones asked for cannot)."""
    return tuple(dict.fromkeys(f for t in TARGETS.values() if t.handles(fmt, t.fields) for f in sorted(t.fields)))


def widened_for(fmt: str, fields: frozenset[str]) -> frozenset[str]:
    """``fields`` plus, for every slot they reach where no target handles ``fmt``, the fields
    of the slot's first target that does: the same decision in every place asked for, in the
    form a file of ``fmt`` can take (a RAW beside its JPEG: the XMP goes to a sidecar)."""
    out = set(fields)
    for slot in dict.fromkeys(t.slot for t in TARGETS.values()):
        members = [t for t in TARGETS.values() if t.slot == slot]
        if not any(t.fields & fields for t in members) or any(t.handles(fmt, fields) for t in members):
            continue
        out |= next((t.fields for t in members if t.handles(fmt, t.fields)), frozenset())
    return frozenset(out)


def companions_of(photo: Path) -> list[Path]:
    """Every file a target may keep beside ``photo`` (existing or not), in registration order."""
    return list(dict.fromkeys(c for t in TARGETS.values() for c in t.companions(photo)))


def held_fields(kind: str, *, first: Iterable[str] = ()) -> list[Held]:
    """The fields of ``kind`` ("rating", "label", "keywords") of every target, those of the
    targets serving the ``first`` fields before the others (else in registration order)."""
    wanted = frozenset(first)
    ordered = sorted(TARGETS.values(), key=lambda t: not (t.fields & wanted)) if wanted else TARGETS.values()
    return [h for t in ordered for h in t.held if h.kind == kind]


def file_parts() -> frozenset[str]:
    """The journal record parts that name a file of their own (``{"path": ...}``, a sidecar):
    undo checks those paths and follows them when a move took the file away."""
    return frozenset(h.part for t in TARGETS.values() for h in t.held if h.file_key)


def journal_parts() -> tuple[str, ...]:
    """Every journal record part some target writes its fields' before/after values into."""
    return tuple(dict.fromkeys(h.part for t in TARGETS.values() for h in t.held))


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
