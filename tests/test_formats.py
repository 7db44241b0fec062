"""The input formats registry: a new format is one entry, and scan and decode both follow it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from photocull.analyse import AnalyseOptions, analyse_file
from photocull.inputs import FORMATS, InputFormat, by_extension, sniff
from photocull.inputs.formats import open_with_pillow
from photocull.scan import scan


def test_builtin_formats_by_extension_and_content() -> None:
    assert by_extension(".JPG").name == "jpeg" and by_extension(".nef").name == "raw"
    assert by_extension(".txt") is None
    assert sniff(b"\0\0\0\x18ftypcrx " + b"\0" * 20) == "raw"
    assert sniff(b"\0\0\0\x18ftypisom" + b"\0" * 20) is None  # an MP4 is no photo


def test_a_registered_format_is_scanned_and_decoded(tmp_path: Path, monkeypatch) -> None:
    ppm = InputFormat("ppm", (".ppm",), lambda h: h[:2] == b"P6", open_with_pillow, 6)
    Image.effect_noise((320, 240), 30).convert("RGB").save(tmp_path / "frame.ppm")
    assert scan(tmp_path).files == []  # unknown before
    monkeypatch.setitem(FORMATS, "ppm", ppm)
    (found,) = scan(tmp_path).files
    assert found.fmt == "ppm"
    frame, analysis = analyse_file(found, AnalyseOptions())
    assert (analysis.width, analysis.height) == (320, 240) and frame.fmt == "ppm"


def test_content_decides_over_the_name(tmp_path: Path) -> None:
    Image.effect_noise((320, 240), 30).convert("RGB").save(tmp_path / "x.jpg", format="PNG")
    res = scan(tmp_path)
    assert res.files[0].fmt == "png" and "content is PNG" in res.warnings[0].message


@pytest.mark.parametrize("name", ["IMG_1.NEF", "IMG_1.dng"])
def test_raw_in_a_tiff_container_is_raw(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"II*\x00" + b"\0" * 60)
    assert scan(tmp_path).files[0].fmt == "raw"
