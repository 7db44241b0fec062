"""Capture time: EXIF date strings to instants, time zones, and clock corrections per body.

Why instants: a shoot with two bodies (or a phone and a camera) set to different time zones
sorts by local clock readings into the wrong order. When a file records its zone
(``OffsetTimeOriginal``, EXIF 2.31), the capture time is the true instant; a file without
one keeps its local reading taken as UTC, as before. A body whose clock was simply wrong is
corrected by ``--clock-offset MODEL=+HH:MM:SS`` (this module parses and applies it), after
the cache, so a changed correction never costs a decode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Sequence

from .records import Frame

# Bump when what any format's capture time, offset, orientation or camera reads as changes:
# cache entries of another version are decoded again (cache.codec.from_cache_entry).
# 2: RAW metadata through exiv2 (RAF, CR3, CRW, MRW, ... were file times), OffsetTimeOriginal, serials.
CAPTURE_VERSION = 2

_OFFSET = re.compile(r"^\s*([+-])(\d{1,2}):?(\d{2})\s*$")  # EXIF: "+09:00" (some cameras write "+0900")
_CLOCK = re.compile(r"^([+-])(\d{1,3}):(\d{2}):(\d{2}(?:\.\d+)?)$")


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value.strip().rstrip("\x00").strip() if isinstance(value, str) else None


def utc_offset_seconds(value: object) -> int | None:
    """``"+09:00"`` -> 32400; None when missing or not an offset a clock can have (±14 h)."""
    text = _text(value)
    m = _OFFSET.match(text) if text else None
    if not m:
        return None
    hours, minutes = int(m.group(2)), int(m.group(3))
    if hours > 14 or minutes >= 60:
        return None
    return (1 if m.group(1) == "+" else -1) * (hours * 3600 + minutes * 60)


def normal_offset(value: object) -> str | None:
    """The offset as ``+HH:MM`` (what reports show), or None when unusable."""
    seconds = utc_offset_seconds(value)
    if seconds is None:
        return None
    sign, rest = ("-" if seconds < 0 else "+"), abs(seconds)
    return f"{sign}{rest // 3600:02d}:{rest % 3600 // 60:02d}"


def parse_exif_datetime(value: object, subsec: object = None, offset: object = None) -> float | None:
    """'YYYY:MM:DD HH:MM:SS' (+ sub-seconds, + UTC offset) to epoch seconds; None if unparseable.

    Without an offset the camera's local reading is taken as UTC (the instant is unknown);
    with one, the result is the true instant, so bodies in different zones sort together.
    """
    text = _text(value)
    if not text:
        return None
    try:
        dt = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    ts = dt.timestamp()
    digits = "".join(ch for ch in (_text(subsec) or "") if ch.isdigit())
    if digits:
        ts += int(digits) / (10 ** len(digits))
    shift = utc_offset_seconds(offset)
    return ts - shift if shift is not None else ts


def capture_label(frame: Frame) -> str:
    """When a frame was taken, as the photographer reads it: the camera's local time (in its zone
    when recorded), the --clock-offset correction named, or the file time said to be one."""
    if frame.time_source != "exif":
        return "file time " + _stamp(frame.capture_time) + " UTC"
    shift = utc_offset_seconds(frame.utc_offset) or 0
    text = _stamp(frame.capture_time + shift) + (f" {frame.utc_offset}" if frame.utc_offset else "")
    if frame.clock_offset:
        text += f" (clock {format_clock(frame.clock_offset)})"
    return text


def _stamp(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, timezone.utc)
    frac = f"{dt.microsecond / 1e6:.2f}"[1:] if dt.microsecond else ""
    return dt.strftime("%Y-%m-%d %H:%M:%S") + frac


def format_clock(seconds: float) -> str:
    """-600 -> '-00:10:00' (the --clock-offset notation)."""
    sign, rest = ("-" if seconds < 0 else "+"), abs(seconds)
    whole = int(rest)
    frac = f"{rest - whole:.2f}"[1:] if rest != whole else ""
    return f"{sign}{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}{frac}"


# ---------------------------------------------------------------- clock corrections

@dataclass(frozen=True)
class ClockOffset:
    """``MODEL=+HH:MM:SS``: add ``seconds`` to every frame of the body ``camera``."""

    camera: str  # matched against the frame's camera ("Make Model"), its model alone, or its serial
    seconds: float

    def matches(self, frame: Frame) -> bool:
        want = _fold(self.camera)
        names = {_fold(frame.camera or ""), _fold(frame.serial or "")}
        camera = _fold(frame.camera or "")
        return want in names or (bool(camera) and camera.endswith(" " + want))


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def parse_clock_offset(value: str) -> ClockOffset:
    """``"Canon EOS R5=+00:01:30"`` -> ClockOffset; ValueError with what is expected."""
    name, sep, amount = str(value).rpartition("=")
    m = _CLOCK.match(amount.strip())
    if not sep or not name.strip() or not m:
        raise ValueError(f"expected MODEL=+HH:MM:SS or MODEL=-HH:MM:SS (e.g. 'EOS R5=+00:01:30'), got {value!r}")
    hours, minutes, seconds = int(m.group(2)), int(m.group(3)), float(m.group(4))
    if minutes >= 60 or seconds >= 60:
        raise ValueError(f"minutes and seconds must be under 60 in {value!r}")
    total = hours * 3600 + minutes * 60 + seconds
    return ClockOffset(name.strip(), total if m.group(1) == "+" else -total)


def apply_clock_offsets(frames: Iterable[Frame], offsets: Sequence[ClockOffset]) -> None:
    """Correct the capture time of every frame whose body an offset names (first match wins).

    Only times read from the file are corrected: a modification time is the computer's clock.
    """
    if not offsets:
        return
    for frame in frames:
        if frame.time_source != "exif":
            continue
        hit = next((o for o in offsets if o.matches(frame)), None)
        if hit is not None:
            frame.capture_time += hit.seconds - frame.clock_offset  # idempotent: a frame is corrected once
            frame.clock_offset = hit.seconds
