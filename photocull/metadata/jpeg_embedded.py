"""Target ``jpeg_embedded``: EXIF and XMP inside a JPEG, kept in agreement. Write, read, undo.

The file is rewritten (atomically) with only its metadata segments changed; the image
data is verified byte-identical before the rename. A write is decided from the metadata
segments alone; the whole file is read and walked only when it must be rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..records import WriteOutcome
from . import exif, jpeg, xmp
from .atomic import Stamp
from .common import (
    DEFAULT_MAX_BYTES,
    Held,
    Skip,
    WriteRequest,
    check_writable,
    commit,
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

NAME = "jpeg_embedded"
FIELDS = frozenset({"exif", "xmp"})
SLOT = "xmp"  # the XMP decision: embedded here, else (xmp_sidecar) beside the photo
READ_KEYS = ("exif_rating", "exif_rating_percent", "xmp_rating", "xmp_label", "ms_rating", "xmp_keywords",
             "xmp_subject")
HELD = (
    Held("xmp_rating", "rating", "xmp", "Rating", rejects=True),
    Held("exif_rating", "rating", "exif", "Rating"),
    Held("xmp_label", "label", "xmp", "Label"),
    Held("xmp_keywords", "keywords", "xmp", "Hierarchical"),
)
XMP_ROOM = jpeg.MAX_SEGMENT_PAYLOAD - len(jpeg.XMP_HEADER)
HEAD_CHUNK = 256 * 1024


@dataclass
class Loaded:
    """A JPEG as read: its bytes, the Stamp to re-check before replacing, and its parse."""

    path: Path
    data: bytes
    stamp: Stamp
    jf: jpeg.JpegFile


def load_jpeg(path: Path, max_bytes: int = DEFAULT_MAX_BYTES, expected: tuple[int, int] | None = None) -> Loaded:
    """Read and parse a JPEG, raising Skip with the reason when it must not be rewritten."""
    st = stat_checks(path, max_bytes, expected)
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


def load_jpeg_head(path: Path, max_bytes: int = DEFAULT_MAX_BYTES, expected: tuple[int, int] | None = None) -> Loaded:
    """The metadata segments only (read until SOS), plus a check that the file ends with EOI.

    For deciding what a write would do (``unchanged``, ``--dry-run``) without reading and
    walking megabytes of image data; a real write always goes through :func:`load_jpeg`.
    """
    st = stat_checks(path, max_bytes, expected)
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
    if not end.endswith(b"\xff\xd9"):  # zero padding over 4 KB, a motion photo's video: the whole file decides
        return load_jpeg(path, max_bytes, expected)
    return Loaded(path, data, Stamp.from_stat(st), jf)


# ---------------------------------------------------------------- fields

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


# ---------------------------------------------------------------- the unit

def handles(fmt: str, fields: frozenset[str]) -> bool:
    return fmt == "jpeg" and bool(fields & FIELDS)


def write(req: WriteRequest) -> WriteOutcome:
    path, stars, targets = req.path, req.stars, req.fields & FIELDS
    want_ex, asked_xm = desired_values(stars, req.rejected, req.label, req.keyword)
    want_xm: dict[str, Any] = {}

    def decide(ld: Loaded):
        nonlocal want_xm
        ex_payload, ex_now = exif_fields(ld.jf) if "exif" in targets else (None, {})
        xm_payload, packet, xm_now = xmp_fields(ld.jf) if "xmp" in targets else (None, None, {})
        want_xm = with_keywords(asked_xm, xm_now)
        do_exif = "exif" in targets and ex_now != want_ex
        do_xmp = "xmp" in targets and not same_xmp(xm_now, want_xm)
        return ex_payload, ex_now, xm_payload, packet, xm_now, do_exif, do_xmp

    # Decide from the metadata segments alone; read and walk the whole file only to write.
    *_, do_exif, do_xmp = decide(load_jpeg_head(path, req.max_bytes, req.expected))
    if not (do_exif or do_xmp):
        return WriteOutcome(path, "unchanged", f"already rated {stars}", tuple(sorted(targets)))
    if req.dry_run:
        done = tuple(t for t, d in (("exif", do_exif), ("xmp", do_xmp)) if d)
        return WriteOutcome(path, "dry-run", f"would write rating {stars} ({', '.join(done)})", done)
    ld = load_jpeg(path, req.max_bytes, req.expected)
    ex_payload, ex_now, xm_payload, packet, xm_now, do_exif, do_xmp = decide(ld)
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
    check_writable(path)
    entry: dict[str, Any] = {"target": NAME, "path": path, "fmt": "jpeg", "preserve_mtime": req.preserve_mtime,
                             "mtime_ns": ld.stamp.mtime_ns}
    if do_exif:
        entry["exif"] = {"existed": ex_payload is not None, "before": ex_now, "after": want_ex,
                         "layout": [layout.ifd0, layout.length] if layout else None, "sha256": sha256(new_ex)}
    if do_xmp:
        entry["xmp"] = {"existed": xm_payload is not None, "before": {k: xm_now.get(k) for k in want_xm},
                        "after": want_xm, "sha256": sha256(new_xm)}
    record(req.journal, entry, "file left untouched")
    commit(path, data, ld.stamp, preserve_mtime=req.preserve_mtime)
    return WriteOutcome(path, "written", f"rated {'rejected' if req.rejected else stars}", done)


def read(path: Path, fmt: str, sidecar_naming: str) -> dict[str, Any]:
    """The embedded ratings of a JPEG (nothing for other formats)."""
    if fmt != "jpeg":
        return {}
    ld = load_jpeg_head(path)
    ex = exif_fields(ld.jf)[1]
    raw = xmp_fields(ld.jf)[2]
    return {"exif_rating": ex["Rating"], "exif_rating_percent": ex["RatingPercent"],
            "xmp_rating": xmp.as_int(raw["Rating"]), "xmp_label": raw["Label"], "ms_rating": xmp.as_int(raw["MSRating"]),
            "xmp_keywords": raw["Hierarchical"], "xmp_subject": raw["Subject"]}


def is_legacy_record(rec: dict[str, Any]) -> bool:
    """A journal record written before records named their target."""
    return not rec.get("sidecar") and bool(rec.get("exif") or rec.get("xmp"))


def undo(journal: Journal, rec: dict[str, Any], dry_run: bool) -> WriteOutcome:
    """Restore the fields photocull changed, only where they still hold what it wrote."""
    path = journal.resolve(rec["path"])
    ld = load_jpeg(path)
    states: dict[str, str] = {}
    ex_payload, ex_now = exif_fields(ld.jf) if rec.get("exif") else (None, {})
    xm_payload, packet, xm_now = xmp_fields(ld.jf) if rec.get("xmp") else (None, None, {})
    if rec.get("exif"):
        states["exif"] = undo_state(ex_now, rec["exif"]["before"], rec["exif"]["after"], False)
    if rec.get("xmp"):
        states["xmp"] = undo_state(xm_now, rec["xmp"]["before"], rec["xmp"]["after"], True)
    if "other" in states.values():
        return WriteOutcome(path, "skipped", "rating changed since photocull wrote it; left alone")
    todo = tuple(k for k, s in states.items() if s == "after")
    if not todo:
        return WriteOutcome(path, "unchanged", "already as before photocull")
    new_ex: Any = True
    new_xm: Any = True
    if "exif" in todo:
        r = rec["exif"]
        if not r["existed"] and sha256(ex_payload) == r["sha256"]:
            new_ex = None  # photocull created the whole block: drop it
        else:
            lay = exif.Layout(*r["layout"]) if r.get("layout") else None
            new_ex = exif.write(ex_payload, r["before"], lay)[0]
    if "xmp" in todo:
        r = rec["xmp"]
        if not r["existed"] and sha256(xm_payload) == r["sha256"]:
            new_xm = None
        else:
            assert packet is not None
            r = dict(r, before=restored_values(xm_now, r["before"], r["after"]))
            rec = dict(rec, xmp=r)
            xmp.update(packet, r["before"])
            # A block photocull created, that later runs rewrote: once nothing is left in it, it goes
            # (an empty packet would leave the file different from before the first run).
            new_xm = None if not r["existed"] and xmp.is_empty(packet) else xmp_payload(packet)
    data = splice(ld.jf, exif_payload=new_ex, xmp_payload_=new_xm)
    verify(data, ld.jf, rec["exif"]["before"] if "exif" in todo else None,
           rec["xmp"]["before"] if "xmp" in todo else None)
    if dry_run:
        return WriteOutcome(path, "dry-run", "would restore the previous rating", todo)
    check_writable(path, sidecar_ok=False)
    commit(path, data, ld.stamp, preserve_mtime=True, mtime_ns=undo_mtime(rec, rec.get("mtime_ns")))
    return WriteOutcome(path, "written", "restored the previous rating", todo)
