"""Target ``xmp_sidecar``: an XMP file beside the photo (the photo is never rewritten). Write, read, undo.

For formats photocull never rewrites (TIFF, PNG, WebP, HEIC, RAW) and for JPEGs with
``--write sidecar``. Naming (:data:`SIDECAR_NAMINGS`): "name" -> IMG_0001.xmp (what Lightroom
and darktable read; default) or "name-ext" -> IMG_0001.CR2.xmp (what darktable writes; "ext"
is accepted as an older spelling). An existing sidecar is updated in its rating fields only;
a new one is a minimal x:xmpmeta document.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..records import WriteOutcome
from . import xmp
from .atomic import ChangedSinceRead, Stamp, atomic_unlink, atomic_write_bytes
from .common import (
    Held,
    Skip,
    WriteRequest,
    check_links,
    desired_values,
    record,
    same_xmp,
    sha256,
    stat_checks,
    restored_values,
    undo_mtime,
    undo_state,
    with_keywords,
)

if TYPE_CHECKING:
    from .journal import Journal

NAME = "xmp_sidecar"
FIELDS = frozenset({"sidecar"})
SLOT = "xmp"  # an alternative to jpeg_embedded: a JPEG gets one XMP decision, not two
READ_KEYS = ("sidecar_rating", "sidecar_label", "sidecar_path", "sidecar_keywords")
HELD = (
    Held("sidecar_rating", "rating", "sidecar", "Rating", rejects=True, file_key="sidecar_path"),
    Held("sidecar_label", "label", "sidecar", "Label", file_key="sidecar_path"),
    Held("sidecar_keywords", "keywords", "sidecar", "Hierarchical", file_key="sidecar_path"),
)
MAX_SIDECAR_BYTES = 16 * 2**20

# The one registry of sidecar namings: name -> where the sidecar of an image lives.
SIDECAR_NAMINGS: dict[str, Callable[[Path], Path]] = {
    "name": lambda image: image.with_suffix(".xmp"),  # IMG_0001.xmp: Lightroom, darktable read it
    "name-ext": lambda image: image.with_name(image.name + ".xmp"),  # IMG_0001.CR2.xmp: darktable writes it
}
_ALIASES = {"ext": "name-ext"}  # the library's older spelling


def check_naming(naming: str) -> str:
    """The canonical name of a sidecar naming; ValueError (naming the choices) for an unknown one."""
    canonical = _ALIASES.get(naming, naming)
    if canonical not in SIDECAR_NAMINGS:
        raise ValueError(f"unknown sidecar naming {naming!r}; choose {' or '.join(map(repr, SIDECAR_NAMINGS))}")
    return canonical


def sidecar_path(image: Path, naming: str = "name") -> Path:
    """Where the sidecar for ``image`` lives under ``naming`` (lower-case .xmp)."""
    return SIDECAR_NAMINGS[check_naming(naming)](Path(image))


def companions(image: Path) -> list[Path]:
    """Every place a sidecar of ``image`` may be, under any naming, in either case: the
    files that travel with it on copy/move."""
    out: list[Path] = []
    for naming in SIDECAR_NAMINGS:
        p = sidecar_path(image, naming)
        for cand in (p, p.with_suffix(".XMP")):
            if cand not in out:
                out.append(cand)
    return out


def find_sidecar(image: Path, naming: str = "name") -> Path | None:
    """An existing sidecar under ``naming``, accepting an upper-case .XMP; else None."""
    p = sidecar_path(image, naming)
    for cand in (p, p.with_suffix(".XMP")):
        if cand.is_file():
            return cand
    return None


def render(existing: bytes | None, values: dict[str, str | None]) -> bytes:
    """The sidecar bytes after setting ``values`` (raises xmp.XmpError if ``existing`` is bad)."""
    if existing is None:
        packet = xmp.new_packet()
        packet.wrapped, packet.xml_decl = False, True
    else:
        packet = xmp.parse(existing)
    xmp.update(packet, values)
    return xmp.serialize(packet, padding=0)


def read_fields(path: Path) -> dict[str, str | None]:
    """Raw rating fields of a sidecar file."""
    return xmp.read_raw(xmp.parse(path.read_bytes()))


# ---------------------------------------------------------------- the unit

def handles(fmt: str, fields: frozenset[str]) -> bool:
    return "sidecar" in fields


def write(req: WriteRequest) -> WriteOutcome:
    path, stars = req.path, req.stars
    stat_checks(path, 2**63, req.expected)  # the image is never rewritten: no size bound for it
    _, asked = desired_values(stars, req.rejected, req.label, req.keyword)
    sc = find_sidecar(path, req.sidecar_naming)
    existing: bytes | None = None
    stamp: Stamp | None = None
    want = with_keywords(asked, {})
    before: dict[str, Any] = {k: None for k in want}
    if sc is not None:
        stamp = Stamp.of(sc)
        if stamp.size > min(req.max_bytes, MAX_SIDECAR_BYTES):
            raise Skip(f"sidecar {sc.name} is unexpectedly large; left untouched")
        existing = sc.read_bytes()
        if Stamp.of(sc) != stamp:
            raise Skip(f"sidecar {sc.name} changed while being read; re-run photocull")
        try:
            current = xmp.read_raw(xmp.parse(existing))
        except xmp.XmpError as exc:
            raise Skip(f"sidecar {sc.name}: {exc}; fix or delete it") from None
        want = with_keywords(asked, current)
        before = {k: current.get(k) for k in want}
        if same_xmp(current, want):
            return WriteOutcome(path, "unchanged", f"sidecar already rated {stars}", ("sidecar",))
    target = sc or sidecar_path(path, req.sidecar_naming)
    data = render(existing, want)
    if req.dry_run:
        verb = "update" if sc else "create"
        return WriteOutcome(path, "dry-run", f"would {verb} sidecar {target.name} with rating {stars}", ("sidecar",))
    if sc is not None and not os.access(os.path.realpath(sc), os.W_OK):
        raise Skip(f"sidecar {sc.name} is read-only; make it writable")
    if sc is not None:
        check_links(Path(os.path.realpath(sc)), f"sidecar {sc.name}; make it a single file to rate this photo")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise Skip("folder is read-only; cannot write the sidecar there")
    record(req.journal, {"target": NAME, "path": path, "fmt": "sidecar", "preserve_mtime": req.preserve_mtime,
                         "sidecar": {"path": target, "created": sc is None, "before": before,
                                     "after": want, "sha256": sha256(data),
                                     "mtime_ns": stamp.mtime_ns if stamp else None}}, "nothing written")
    try:
        atomic_write_bytes(target, data, expected=stamp, preserve_mtime=req.preserve_mtime, create=sc is None)
    except ChangedSinceRead:
        raise Skip(f"sidecar {target.name} changed since it was read; re-run photocull") from None
    verb = "updated" if sc else "created"
    return WriteOutcome(path, "written", f"{verb} sidecar {target.name} (rating {stars})", ("sidecar",))


def read(path: Path, fmt: str, sidecar_naming: str) -> dict[str, Any]:
    """The first sidecar found (the asked naming first, then the others)."""
    for naming in dict.fromkeys((check_naming(sidecar_naming), *SIDECAR_NAMINGS)):
        sc = find_sidecar(path, naming)
        if sc is not None:
            out: dict[str, Any] = {"sidecar_path": sc}
            try:
                raw = read_fields(sc)
            except (xmp.XmpError, OSError) as exc:
                raise Skip(f"sidecar {sc.name}: {exc}") from None
            out["sidecar_rating"], out["sidecar_label"] = xmp.as_int(raw["Rating"]), raw["Label"]
            out["sidecar_keywords"] = raw["Hierarchical"]
            return out
    return {}


def is_legacy_record(rec: dict[str, Any]) -> bool:
    """A journal record written before records named their target."""
    return bool(rec.get("sidecar"))


def undo(journal: Journal, rec: dict[str, Any], dry_run: bool) -> WriteOutcome:
    """Restore the sidecar's fields, or delete a sidecar photocull created and nobody changed."""
    image = journal.resolve(rec["path"])
    r = rec["sidecar"]
    sc = journal.resolve(r["path"])
    if not sc.exists():
        if r["created"]:
            return WriteOutcome(image, "unchanged", "sidecar already gone", ("sidecar",))
        return WriteOutcome(image, "skipped", f"sidecar {sc.name} no longer exists; nothing to restore")
    stamp = Stamp.of(sc)
    data = sc.read_bytes()
    try:
        current = xmp.read_raw(xmp.parse(data))
    except xmp.XmpError as exc:
        raise Skip(f"sidecar {sc.name}: {exc}; left alone") from None
    state = undo_state(current, r["before"], r["after"], True)
    if state == "other":
        return WriteOutcome(image, "skipped", f"rating in {sc.name} changed since photocull wrote it; left alone")
    if state == "before":
        return WriteOutcome(image, "unchanged", "already as before photocull", ("sidecar",))
    restored = restored_values(current, r["before"], r["after"])
    # Created by photocull, and either untouched since or holding nothing once restored (later
    # runs rewrote it): deleted, so the folder is as before the first run.
    delete = r["created"] and (sha256(data) == r["sha256"] or _empty_after(data, restored))
    if dry_run:
        verb = "delete" if delete else "restore"
        return WriteOutcome(image, "dry-run", f"would {verb} sidecar {sc.name}", ("sidecar",))
    if not os.access(sc.parent, os.W_OK | os.X_OK):
        raise Skip("folder is read-only; make it writable to undo")
    if delete:
        atomic_unlink(sc)
        return WriteOutcome(image, "written", f"deleted sidecar {sc.name} created by photocull", ("sidecar",))
    try:
        atomic_write_bytes(sc, render(data, restored), expected=stamp,
                           preserve_mtime=True, mtime_ns=undo_mtime(rec, r.get("mtime_ns")))
    except ChangedSinceRead:
        raise Skip(f"sidecar {sc.name} changed while undoing; re-run undo") from None
    return WriteOutcome(image, "written", f"restored the previous rating in {sc.name}", ("sidecar",))


def _empty_after(data: bytes, values: dict[str, str | None]) -> bool:
    """Whether the sidecar ``data`` states nothing once ``values`` are set."""
    packet = xmp.parse(data)
    xmp.update(packet, values)
    return xmp.is_empty(packet)
