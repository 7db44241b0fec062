"""Goldens read from exiftool's sample camera files (skipped unless PHOTOCULL_EXIFTOOL_SAMPLES names them).

The samples are real camera containers with their image data stripped: the metadata is the
camera's own, so each capture time must come out of the file, never its modification time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from photocull.analyse import analyse_path
from photocull.capture_time import parse_exif_datetime
from photocull.decode import read_capture
from photocull.scan import scan

GOLDEN = json.loads((Path(__file__).parent / "data" / "exiftool_samples.json").read_text(encoding="utf-8"))
SAMPLES = Path(os.environ.get("PHOTOCULL_EXIFTOOL_SAMPLES", "/nonexistent"))
NAMES = sorted(k for k in GOLDEN if not k.startswith("_"))

pytestmark = pytest.mark.skipif(not (SAMPLES / "FujiFilm.raf").is_file(),
                                reason="exiftool's t/images not present (set PHOTOCULL_EXIFTOOL_SAMPLES)")


def _fmt(name: str) -> str:
    return "jpeg" if name.endswith(".jpg") else "raw"


@pytest.mark.parametrize("name", NAMES)
def test_capture_time_from_the_file(name: str) -> None:
    want = GOLDEN[name]
    info = read_capture(SAMPLES / name, _fmt(name))
    if not want["reads"]:
        assert info.capture_time is None  # documented as missed (README): a change here is news
        return
    assert info.capture_time == pytest.approx(parse_exif_datetime(want["time"], want["subsec"], want["offset"]))
    assert info.utc_offset == want["offset"]
    assert info.camera == want["camera"]


def test_raf_sample_is_a_frame_with_its_exif_time(tmp_path: Path) -> None:
    raf = tmp_path / "DSCF0001.RAF"
    raf.write_bytes((SAMPLES / "FujiFilm.raf").read_bytes())
    os.utime(raf, (1_700_000_000, 1_700_000_000))
    frame, analysis = analyse_path(raf, "raw")
    assert frame.time_source == "exif"
    assert frame.capture_time == parse_exif_datetime(GOLDEN["FujiFilm.raf"]["time"])
    assert (analysis.width, analysis.height) == (160, 120)  # the largest JPEG in the (stripped) file


def test_every_sample_file_is_a_frame_or_named(tmp_path: Path) -> None:
    """Nothing passes in silence: each sample is a frame, a per-file error or a skipped file with a reason."""
    result = scan(SAMPLES)
    named = {f.path for f in result.files} | {c for f in result.files for c in f.companions}
    named |= {e.path for e in result.errors + result.warnings + result.skipped}
    hidden = {p for p in SAMPLES.iterdir() if p.is_file() and not p.name.startswith(".")}
    silent = {p.name for p in hidden - named if p.suffix.lower() not in (".xmp",)}
    assert not silent
