"""Fixtures for the metadata tests: small JPEGs built with Pillow (and raw segment bytes)."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
from pathlib import Path

import piexif
import pytest
from PIL import Image, ImageCms

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"

XMP_WITH_FIELDS = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:acme="http://example.com/acme/1.0/"
    xmp:Rating="{rating}"
    crs:Exposure2012="+0.35"
    crs:Temperature="5200"
    acme:Secret="keep &amp; me">
   <dc:subject>
    <rdf:Bag>
     <rdf:li>beach</rdf:li>
     <rdf:li>sunset</rdf:li>
    </rdf:Bag>
   </dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""

XMP_ELEMENT_FORM = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xap="http://ns.adobe.com/xap/1.0/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
   <xap:Rating>{rating}</xap:Rating>
   <dc:subject><rdf:Bag><rdf:li>kw1</rdf:li></rdf:Bag></dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>"""


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def insert_after_app0(jpeg: bytes, *segs: bytes) -> bytes:
    """Insert raw segments right after SOI and any APP0 segments."""
    pos = 2
    while jpeg[pos : pos + 2] == b"\xff\xe0":
        pos += 2 + struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
    return jpeg[:pos] + b"".join(segs) + jpeg[pos:]


def tail(data: bytes) -> bytes:
    """Every byte from the first SOS marker on (independent of the code under test)."""
    pos = 2
    while True:
        assert data[pos] == 0xFF
        if data[pos + 1] == 0xDA:
            return data[pos:]
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]


def markers(data: bytes) -> list[bytes]:
    """Raw segments before SOS (for order/preservation checks)."""
    out, pos = [], 2
    while data[pos + 1] != 0xDA:
        end = pos + 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        out.append(data[pos:end])
        pos = end
    return out


def make_jpeg(
    size: tuple[int, int] = (64, 48),
    *,
    seed: int = 0,
    exif: bytes | None = None,
    icc: bool = False,
    extra: tuple[bytes, ...] = (),
    quality: int = 85,
) -> bytes:
    img = Image.effect_noise(size, 40 + seed % 20).convert("RGB")
    kwargs: dict = {"quality": quality}
    if exif is not None:
        kwargs["exif"] = exif
    if icc:
        kwargs["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kwargs)
    data = buf.getvalue()
    if extra:
        # after APP0/APP1 EXIF so segment order stays conventional
        pos = 2
        while data[pos + 1] in (0xE0, 0xE1):
            pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        data = data[:pos] + b"".join(extra) + data[pos:]
    return data


def camera_exif(*, thumbnail: bool = False, makernote: int = 0, rating: int | None = None) -> bytes:
    zeroth = {
        piexif.ImageIFD.Make: b"Canon",
        piexif.ImageIFD.Model: b"EOS R6",
        piexif.ImageIFD.XResolution: (72, 1),
        piexif.ImageIFD.YResolution: (72, 1),
        piexif.ImageIFD.ResolutionUnit: 2,
        piexif.ImageIFD.YCbCrPositioning: 1,
    }
    if rating is not None:
        zeroth[piexif.ImageIFD.Rating] = rating
        zeroth[piexif.ImageIFD.RatingPercent] = {0: 0, 1: 1, 2: 25, 3: 50, 4: 75, 5: 99}[rating]
    ex = {
        piexif.ExifIFD.DateTimeOriginal: b"2024:05:01 10:00:00",
        piexif.ExifIFD.ExifVersion: b"0232",
        piexif.ExifIFD.ComponentsConfiguration: b"\x01\x02\x03\x00",
        piexif.ExifIFD.FlashpixVersion: b"0100",
        piexif.ExifIFD.ColorSpace: 1,
        piexif.ExifIFD.PixelXDimension: 64,
        piexif.ExifIFD.PixelYDimension: 48,
    }
    if makernote:
        ex[piexif.ExifIFD.MakerNote] = bytes(range(256)) * (makernote // 256) + b"\x00" * (makernote % 256)
    d: dict = {"0th": zeroth, "Exif": ex}
    if thumbnail:
        buf = io.BytesIO()
        Image.new("RGB", (16, 12), "green").save(buf, "JPEG")
        d["1st"] = {piexif.ImageIFD.JPEGInterchangeFormat: 0, piexif.ImageIFD.JPEGInterchangeFormatLength: 0}
        d["thumbnail"] = buf.getvalue()
    return piexif.dump(d)


def xmp_segment(text: str) -> bytes:
    return segment(0xE1, XMP_HEADER + text.encode("utf-8"))


@pytest.fixture
def shoot(tmp_path: Path) -> Path:
    """A folder with a variety of JPEGs (and one PNG); returns the folder."""
    d = tmp_path / "shoot"
    d.mkdir()
    (d / "plain.jpg").write_bytes(make_jpeg(seed=1))
    (d / "camera.jpg").write_bytes(make_jpeg(seed=2, exif=camera_exif()))
    (d / "thumb.jpg").write_bytes(make_jpeg(seed=3, exif=camera_exif(thumbnail=True)))
    (d / "icc.jpg").write_bytes(make_jpeg(seed=4, icc=True, extra=(segment(0xFE, b"a comment"),)))
    (d / "lightroom.jpg").write_bytes(
        make_jpeg(seed=5, exif=camera_exif(rating=2), extra=(xmp_segment(XMP_WITH_FIELDS.format(rating=2)),))
    )
    (d / "element.jpg").write_bytes(make_jpeg(seed=6, extra=(xmp_segment(XMP_ELEMENT_FORM.format(rating=1)),)))
    (d / "huge_app.jpg").write_bytes(
        make_jpeg(seed=7, exif=camera_exif(), extra=(segment(0xED, b"Photoshop 3.0\x00" + b"\x5a" * 60000),))
    )
    (d / "big_makernote.jpg").write_bytes(make_jpeg(seed=8, exif=camera_exif(makernote=60000)))
    Image.new("RGB", (16, 16), "blue").save(d / "graphic.png")
    return d


EXIFTOOL = shutil.which("exiftool")


@pytest.fixture
def exiftool():
    """Run exiftool and return its JSON (numeric values) for one file."""
    if EXIFTOOL is None:
        pytest.skip("exiftool not installed: apt-get install libimage-exiftool-perl")

    def run(path: Path, *tags: str) -> dict:
        out = subprocess.run([EXIFTOOL, "-j", "-n", "-G1", *tags, str(path)], capture_output=True, check=True)
        return json.loads(out.stdout)[0]

    return run


@pytest.fixture
def validate():
    """exiftool -validate warnings for one file, as a set of strings."""
    if EXIFTOOL is None:
        pytest.skip("exiftool not installed: apt-get install libimage-exiftool-perl")

    def run(path: Path) -> set[str]:
        out = subprocess.run([EXIFTOOL, "-validate", "-warning", "-a", "-s3", str(path)],
                             capture_output=True, text=True, check=True)
        return {line.strip() for line in out.stdout.splitlines() if line.strip() and "Warning" not in line[:12]
                and not line.strip()[0].isdigit() and line.strip() != "OK"}

    return run


def registered(module):
    """Register a target made in a test for the test's duration (the registry refuses a name twice)."""
    from photocull.metadata import Target, register_target, unregister_target

    target = register_target(Target.from_module(module))
    try:
        yield target
    finally:
        unregister_target(target.name)
