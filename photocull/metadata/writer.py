"""The one entry point the pipeline calls to put a rating into (or next to) a photo.

Every per-file problem becomes a "skipped" WriteOutcome with a one-line message; the file
is then byte-identical to before. JPEGs get EXIF + XMP embedded (kept in agreement); other
formats get an XMP sidecar. Writes are journaled before the rename so ``undo`` can revert.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..records import WriteOutcome
from . import exif, jpeg, sidecar, xmp
from .atomic import ChangedSinceRead, Stamp, atomic_write_bytes

if TYPE_CHECKING:
    from .journal import Journal

ALL_TARGETS = frozenset({"exif", "xmp", "sidecar"})
EMBEDDED = frozenset({"exif", "xmp"})
DEFAULT_MAX_BYTES = 512 * 2**20
XMP_ROOM = jpeg.MAX_SEGMENT_PAYLOAD - len(jpeg.XMP_HEADER)


class Skip(Exception):
    """A per-file reason not to write; its text is the user-facing message."""


def sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


@dataclass
class Loaded:
    """A JPEG as read: its bytes, the Stamp to re-check before replacing, and its parse."""

    path: Path
    data: bytes
    stamp: Stamp
    jf: jpeg.JpegFile


def _stat_checks(path: Path, max_bytes: int, expected: tuple[int, int] | None) -> os.stat_result:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise Skip("file not found (moved or deleted since the scan?)") from None
    if not os.path.isfile(path):
        raise Skip("not a regular file")
    if expected is not None and (st.st_size, st.st_mtime_ns) != tuple(expected):
        raise Skip("file changed since it was scanned; re-run photocull on this folder")
    if st.st_size > max_bytes:
        raise Skip(
            f"file is {st.st_size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit for rewriting; "
            "use --write sidecar"
        )
    return st


def load_jpeg(path: Path, max_bytes: int = DEFAULT_MAX_BYTES, expected: tuple[int, int] | None = None) -> Loaded:
    """Read and parse a JPEG, raising Skip with the reason when it must not be rewritten."""
    st = _stat_checks(path, max_bytes, expected)
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    stamp = Stamp.from_stat(st)
    if len(data) != st.st_size or Stamp.of(path) != stamp:
        raise Skip("file changed while being read (still being copied?); re-run photocull later")
    try:
        jf = jpeg.parse(data)
    except jpeg.JpegError as exc:
        raise Skip(f"{exc}; file left untouched") from None
    return Loaded(path, data, stamp, jf)


HEAD_CHUNK = 256 * 1024


def load_jpeg_head(path: Path, max_bytes: int = DEFAULT_MAX_BYTES, expected: tuple[int, int] | None = None) -> Loaded:
    """The metadata segments only (read until SOS), plus a check that the file ends with EOI.

    For deciding what a write would do (``unchanged``, ``--dry-run``) without reading and
    walking megabytes of image data; a real write always goes through :func:`load_jpeg`.
    """
    st = _stat_checks(path, max_bytes, expected)
    with open(path, "rb") as fh:
        data = b""
        while True:
            chunk = fh.read(HEAD_CHUNK)
            data += chunk
            try:
                jf = jpeg.parse(data, head_only=True)
                break
            except jpeg.JpegError as exc:
                if not chunk or len(data) >= st.st_size:
                    raise Skip(f"{exc}; file left untouched") from None
        fh.seek(max(0, st.st_size - 4096))
        end = fh.read().rstrip(b"\x00")
    if not end.endswith(b"\xff\xd9"):
        raise Skip("no end-of-image marker at the end of the file: truncated JPEG, or unrecognised data "
                   "after the end of the image; file left untouched")
    return Loaded(path, data, Stamp.from_stat(st), jf)


def check_writable(path: Path, *, sidecar_ok: bool = True) -> None:
    """Refuse read-only files and folders (a rename could replace them, but the user said no)."""
    real = Path(os.path.realpath(path))
    # The mode bits count even for root (who may write anything): a file nobody may write
    # was marked read-only on purpose (a protected original, a card's locked files).
    if real.exists() and (not os.access(real, os.W_OK) or not real.stat().st_mode & 0o222):
        hint = "make it writable or use --write sidecar" if sidecar_ok else "make it writable"
        raise Skip(f"file is read-only; {hint}")
    if not os.access(real.parent, os.W_OK | os.X_OK):
        raise Skip("folder is read-only (a safe write needs a temp file next to the photo); make it writable")


def commit(
    path: Path, data: bytes, stamp: Stamp | None, *, preserve_mtime: bool, create: bool = False
) -> None:
    """Atomically replace (or create) ``path``; raise Skip when it changed since read."""
    try:
        atomic_write_bytes(path, data, expected=stamp, preserve_mtime=preserve_mtime, create=create)
    except ChangedSinceRead:
        raise Skip("file changed since it was read (another program is writing it?); re-run photocull") from None


# ---------------------------------------------------------------- JPEG fields

def exif_fields(jf: jpeg.JpegFile) -> tuple[bytes | None, dict[str, int | None]]:
    i = jf.find("exif")
    payload = jf.segments[i].payload if i is not None else None
    try:
        return payload, exif.read(payload)
    except exif.ExifError as exc:
        raise Skip(f"{exc}; rating not written (use --write xmp or --write sidecar)") from None


def xmp_fields(jf: jpeg.JpegFile) -> tuple[bytes | None, xmp.Packet | None, dict[str, str | None]]:
    i = jf.find("xmp")
    if i is None:
        return None, None, {k: None for k in xmp.FIELDS}
    payload = jf.segments[i].payload
    try:
        packet = xmp.parse(payload[len(jpeg.XMP_HEADER) :])
    except xmp.XmpError as exc:
        raise Skip(f"{exc}; rating not written (use --write exif or --write sidecar)") from None
    return payload, packet, xmp.read_raw(packet)


def xmp_payload(packet: xmp.Packet) -> bytes:
    """XMP APP1 payload with standard 2 KB padding, less if that would not fit."""
    body = xmp.serialize(packet, padding=0, wrapper=True)
    room = XMP_ROOM - len(body)
    if room < 0:
        raise Skip(f"XMP packet would be {len(body)} bytes, too large for a JPEG segment; rating not written")
    return jpeg.XMP_HEADER + xmp.serialize(packet, padding=min(2048, room), wrapper=True)


def new_exif_payload(jf: jpeg.JpegFile, values: dict[str, int | None]) -> bytes:
    app0 = next((s.payload for s in jf.segments if s.marker == jpeg.APP0), b"")
    return exif.new_payload(values, exif.jfif_density(app0))


def splice(jf: jpeg.JpegFile, *, exif_payload: Any = True, xmp_payload_: Any = True) -> bytes:
    try:
        return jpeg.splice(jf, exif=exif_payload, xmp=xmp_payload_).to_bytes()
    except jpeg.JpegError as exc:
        raise Skip(f"{exc}; file left untouched") from None


def verify(new: bytes, old: jpeg.JpegFile, want_exif: dict | None, want_xmp: dict | None) -> None:
    """Self-check before the rename: pixels identical, fields read back as intended."""
    jf = jpeg.parse(new)
    if jf.tail != old.tail:
        raise Skip("internal check failed (image data would change); file left untouched")
    if want_exif is not None and exif_fields(jf)[1] != want_exif:
        raise Skip("internal check failed (EXIF did not read back); file left untouched")
    if want_xmp is not None:
        got = xmp_fields(jf)[2]
        if any(got[k] != v for k, v in want_xmp.items()):
            raise Skip("internal check failed (XMP did not read back); file left untouched")


# ---------------------------------------------------------------- public API

def desired_values(stars: int, rejected: bool, label: str | None) -> tuple[dict[str, int | None], dict[str, str | None]]:
    """EXIF and XMP values for a decision. A reject is xmp:Rating -1 (Lightroom's flag); EXIF
    and MicrosoftPhoto cannot say "rejected", so they carry ``stars`` as given."""
    ex = {"Rating": stars, "RatingPercent": exif.PERCENT[stars]}
    xm: dict[str, str | None] = {"Rating": "-1" if rejected else str(stars), "MSRating": str(xmp.MS_PERCENT[stars])}
    if label is not None:
        xm["Label"] = label
    return ex, xm


def _same_xmp(current: dict[str, str | None], want: dict[str, str | None]) -> bool:
    for k, v in want.items():
        if k == "Label":
            if current.get(k) != v:
                return False
        elif current.get(k) is None or xmp.as_int(current.get(k)) != xmp.as_int(v):
            return False
    return True


def write_rating(
    path: Path,
    stars: int,
    *,
    fmt: str,
    targets: frozenset[str] = ALL_TARGETS,
    rejected: bool = False,
    label: str | None = None,
    journal: Journal | None = None,
    dry_run: bool = False,
    preserve_mtime: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    sidecar_naming: str = "name",
    expected: tuple[int, int] | None = None,
) -> WriteOutcome:
    """Write ``stars`` (0..5) to ``path``; never raises for per-file problems.

    JPEG: EXIF and/or XMP embedded per ``targets``; a sidecar only when neither is asked
    for (``--write sidecar``). Other formats: a sidecar when "sidecar" is in ``targets``.
    ``expected`` is (size, mtime_ns) from the scan: a file changed since is skipped.
    """
    if not 0 <= stars <= 5:
        raise ValueError(f"stars must be 0..5, got {stars}")
    if sidecar_naming not in sidecar.NAMINGS:
        raise ValueError(f"sidecar_naming must be one of {sidecar.NAMINGS}")
    path = Path(path)
    try:
        if fmt == "jpeg" and targets & EMBEDDED:
            return _write_jpeg(path, stars, targets & EMBEDDED, rejected, label, journal, dry_run,
                               preserve_mtime, max_bytes, expected)
        if "sidecar" in targets:
            return _write_sidecar(path, stars, rejected, label, journal, dry_run, preserve_mtime,
                                  sidecar_naming, expected, max_bytes)
        return WriteOutcome(path, "skipped", f"nothing to write: {fmt} files only get sidecars (add --write sidecar)")
    except Skip as exc:
        return WriteOutcome(path, "skipped", str(exc))
    except OSError as exc:
        return WriteOutcome(path, "skipped", f"could not write ({exc.strerror or exc}); file left untouched")
    except Exception as exc:  # a bug must not take the run down; the file is untouched (no rename happened)
        return WriteOutcome(path, "skipped", f"unexpected error ({type(exc).__name__}: {exc}); file left untouched")


def _write_jpeg(path: Path, stars: int, targets: frozenset[str], rejected: bool, label: str | None,
                journal: Journal | None, dry_run: bool, preserve_mtime: bool, max_bytes: int,
                expected: tuple[int, int] | None) -> WriteOutcome:
    # Decide from the metadata segments alone; read and walk the whole file only to write.
    ld = load_jpeg_head(path, max_bytes, expected)
    want_ex, want_xm = desired_values(stars, rejected, label)
    ex_payload, ex_now = exif_fields(ld.jf) if "exif" in targets else (None, {})
    xm_payload, packet, xm_now = xmp_fields(ld.jf) if "xmp" in targets else (None, None, {})
    do_exif = "exif" in targets and ex_now != want_ex
    do_xmp = "xmp" in targets and not _same_xmp(xm_now, want_xm)
    if not (do_exif or do_xmp):
        return WriteOutcome(path, "unchanged", f"already rated {stars}", tuple(sorted(targets)))
    if dry_run:
        done = tuple(t for t, d in (("exif", do_exif), ("xmp", do_xmp)) if d)
        return WriteOutcome(path, "dry-run", f"would write rating {stars} ({', '.join(done)})", done)
    ld = load_jpeg(path, max_bytes, expected)
    ex_payload, ex_now = exif_fields(ld.jf) if "exif" in targets else (None, {})
    xm_payload, packet, xm_now = xmp_fields(ld.jf) if "xmp" in targets else (None, None, {})
    do_exif = "exif" in targets and ex_now != want_ex
    do_xmp = "xmp" in targets and not _same_xmp(xm_now, want_xm)
    if not (do_exif or do_xmp):
        return WriteOutcome(path, "unchanged", f"already rated {stars}", tuple(sorted(targets)))
    new_ex: Any = True
    layout = None
    if do_exif:
        try:
            new_ex, layout = exif.write(ex_payload, want_ex) if ex_payload else (new_exif_payload(ld.jf, want_ex), None)
        except exif.ExifError as exc:
            raise Skip(f"{exc}; rating not written (use --write xmp or --write sidecar)") from None
    new_xm: Any = True
    if do_xmp:
        if packet is None:
            packet = xmp.new_packet()
        xmp.update(packet, want_xm)
        new_xm = xmp_payload(packet)
    data = splice(ld.jf, exif_payload=new_ex, xmp_payload_=new_xm)
    verify(data, ld.jf, want_ex if do_exif else None, want_xm if do_xmp else None)
    done = tuple(t for t, d in (("exif", do_exif), ("xmp", do_xmp)) if d)
    if dry_run:
        return WriteOutcome(path, "dry-run", f"would write rating {stars} ({', '.join(done)})", done)
    check_writable(path)
    if journal is not None:
        entry: dict[str, Any] = {"path": path, "fmt": "jpeg", "preserve_mtime": preserve_mtime, "mtime_ns": ld.stamp.mtime_ns}
        if do_exif:
            entry["exif"] = {"existed": ex_payload is not None, "before": ex_now, "after": want_ex,
                             "layout": [layout.ifd0, layout.length] if layout else None, "sha256": sha256(new_ex)}
        if do_xmp:
            entry["xmp"] = {"existed": xm_payload is not None, "before": {k: xm_now.get(k) for k in want_xm},
                            "after": want_xm, "sha256": sha256(new_xm)}
        try:
            journal.record_write(entry)
        except OSError as exc:
            raise Skip(f"could not write the undo journal ({exc.strerror or exc}); file left untouched") from None
    commit(path, data, ld.stamp, preserve_mtime=preserve_mtime)
    return WriteOutcome(path, "written", f"rated {'rejected' if rejected else stars}", done)


def _write_sidecar(path: Path, stars: int, rejected: bool, label: str | None, journal: Journal | None,
                   dry_run: bool, preserve_mtime: bool, naming: str, expected: tuple[int, int] | None,
                   max_bytes: int) -> WriteOutcome:
    _stat_checks(path, 2**63, expected)  # the image is never rewritten: no size bound for it
    _, want = desired_values(stars, rejected, label)
    sc = sidecar.find_sidecar(path, naming)
    existing: bytes | None = None
    stamp: Stamp | None = None
    before: dict[str, str | None] = {k: None for k in want}
    if sc is not None:
        stamp = Stamp.of(sc)
        if stamp.size > min(max_bytes, sidecar.MAX_SIDECAR_BYTES):
            raise Skip(f"sidecar {sc.name} is unexpectedly large; left untouched")
        existing = sc.read_bytes()
        if Stamp.of(sc) != stamp:
            raise Skip(f"sidecar {sc.name} changed while being read; re-run photocull")
        try:
            current = xmp.read_raw(xmp.parse(existing))
        except xmp.XmpError as exc:
            raise Skip(f"sidecar {sc.name}: {exc}; fix or delete it") from None
        before = {k: current.get(k) for k in want}
        if _same_xmp(current, want):
            return WriteOutcome(path, "unchanged", f"sidecar already rated {stars}", ("sidecar",))
    target = sc or sidecar.sidecar_path(path, naming)
    data = sidecar.render(existing, want)
    if dry_run:
        verb = "update" if sc else "create"
        return WriteOutcome(path, "dry-run", f"would {verb} sidecar {target.name} with rating {stars}", ("sidecar",))
    if sc is not None and not os.access(os.path.realpath(sc), os.W_OK):
        raise Skip(f"sidecar {sc.name} is read-only; make it writable")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise Skip("folder is read-only; cannot write the sidecar there")
    if journal is not None:
        try:
            journal.record_write({"path": path, "fmt": "sidecar", "preserve_mtime": preserve_mtime,
                                  "sidecar": {"path": target, "created": sc is None, "before": before,
                                              "after": want, "sha256": sha256(data)}})
        except OSError as exc:
            raise Skip(f"could not write the undo journal ({exc.strerror or exc}); nothing written") from None
    try:
        atomic_write_bytes(target, data, expected=stamp, preserve_mtime=preserve_mtime, create=sc is None)
    except ChangedSinceRead:
        raise Skip(f"sidecar {target.name} changed since it was read; re-run photocull") from None
    verb = "updated" if sc else "created"
    return WriteOutcome(path, "written", f"{verb} sidecar {target.name} (rating {stars})", ("sidecar",))


def read_rating(path: Path, fmt: str, sidecar_naming: str = "name") -> dict[str, Any]:
    """Every rating photocull knows about for ``path``; problems go to "errors", never raised."""
    path = Path(path)
    out: dict[str, Any] = {"exif_rating": None, "exif_rating_percent": None, "xmp_rating": None,
                           "xmp_label": None, "ms_rating": None, "sidecar_rating": None,
                           "sidecar_label": None, "sidecar_path": None, "errors": []}
    if fmt == "jpeg":
        try:
            ld = load_jpeg(path)
            ex = exif_fields(ld.jf)[1]
            out["exif_rating"], out["exif_rating_percent"] = ex["Rating"], ex["RatingPercent"]
            raw = xmp_fields(ld.jf)[2]
            out["xmp_rating"], out["xmp_label"], out["ms_rating"] = (
                xmp.as_int(raw["Rating"]), raw["Label"], xmp.as_int(raw["MSRating"]))
        except (Skip, OSError) as exc:
            out["errors"].append(str(exc))
    for naming in dict.fromkeys((sidecar_naming, *sidecar.NAMINGS)):
        sc = sidecar.find_sidecar(path, naming)
        if sc is not None:
            try:
                raw = sidecar.read(sc)
                out["sidecar_rating"], out["sidecar_label"], out["sidecar_path"] = xmp.as_int(raw["Rating"]), raw["Label"], sc
            except (xmp.XmpError, OSError) as exc:
                out["errors"].append(f"sidecar {sc.name}: {exc}")
            break
    return out
