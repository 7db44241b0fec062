"""Camera containers built from scratch for tests: Fujifilm RAF, Canon CR3, TIFF-based RAWs.

Each carries a real JPEG preview and EXIF the test chooses, laid out as the camera lays it
out (the byte layouts exiftool, exiv2 and LibRaw document), so photocull's readers are
tested on the container, not on a JPEG renamed.
"""

from __future__ import annotations

import io
import struct
from datetime import datetime

import piexif
from PIL import Image

CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
PREVIEW_UUID = bytes.fromhex("eaf42b5e1c984b88b9fbb7dc406e4d16")


def exif_dict(when: datetime | None, *, subsec: str | None = None, offset: str | None = None, make: str = "TestCam",
              model: str = "T1", serial: str | None = None, orientation: int = 1) -> dict:
    zeroth = {piexif.ImageIFD.Make: make.encode(), piexif.ImageIFD.Model: model.encode(),
              piexif.ImageIFD.Orientation: orientation}
    exif: dict = {}
    if when is not None:
        exif[piexif.ExifIFD.DateTimeOriginal] = when.strftime("%Y:%m:%d %H:%M:%S").encode()
    if subsec is not None:
        exif[piexif.ExifIFD.SubSecTimeOriginal] = subsec.encode()
    if offset is not None:
        exif[0x9011] = offset.encode()  # OffsetTimeOriginal (piexif 1.1.3 has no name for it)
    if serial is not None:
        exif[piexif.ExifIFD.BodySerialNumber] = serial.encode()
    return {"0th": zeroth, "Exif": exif}


def _jpeg(img: Image.Image, exif: bytes | None = None, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    kw = {"exif": exif} if exif else {}
    img.convert("RGB").save(buf, "JPEG", quality=quality, **kw)
    return buf.getvalue()


def raf(preview: Image.Image, exif: dict) -> bytes:
    """A Fujifilm RAF: the 'FUJIFILMCCD-RAW' header, then the camera's JPEG (EXIF inside it),
    then a CFA header block; offsets big-endian as the header records them."""
    jpeg = _jpeg(preview, piexif.dump(exif))
    model = exif["0th"][piexif.ImageIFD.Model][:32]
    header = b"FUJIFILMCCD-RAW 0201FF383501" + model.ljust(32, b"\0") + b"0100" + b"\0" * 20
    cfa_header = struct.pack(">I", 0) + b"\0" * 60
    jpeg_at = len(header) + 24 + 60  # header, the offset table, padding
    table = struct.pack(">IIIIII", jpeg_at, len(jpeg), jpeg_at + len(jpeg), len(cfa_header), 0, 0)
    body = header + table
    return body + b"\0" * (jpeg_at - len(body)) + jpeg + cfa_header


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _tiff(ifd: dict, exif_ifd: bool = False) -> bytes:
    """A little-endian TIFF of one IFD (what a CR3's CMT1/CMT2 boxes hold)."""
    data = piexif.dump({"0th": ifd} if not exif_ifd else {"Exif": ifd})[6:]  # drop b"Exif\0\0"
    if not exif_ifd:
        return data
    # piexif puts the Exif IFD behind an IFD0 pointer: CMT2 is a TIFF whose first IFD is the Exif IFD.
    exif = Image.Exif()
    exif.load(b"Exif\0\0" + data)
    sub = exif.get_ifd(0x8769)
    out = Image.Exif()
    for tag, value in sub.items():
        out[tag] = value
    return out.tobytes()[6:]


def cr3(preview: Image.Image, exif: dict) -> bytes:
    """A Canon CR3 (ISO base media): ftyp 'crx ', moov holding Canon's uuid box with CMT1
    (IFD0: make, model, orientation) and CMT2 (the Exif IFD: capture time), then the preview
    uuid box with its PRVW JPEG, then an (empty) mdat."""
    cmt1 = _tiff(exif["0th"])
    cmt2 = _tiff(exif["Exif"], exif_ifd=True)
    canon = CANON_UUID + _box(b"CNCV", b"CanonCR3_001/00.09.00/00.00.00") + _box(b"CMT1", cmt1) + _box(b"CMT2", cmt2)
    moov = _box(b"moov", _box(b"uuid", canon))
    jpeg = _jpeg(preview)
    prvw = _box(b"PRVW", struct.pack(">IHHHHI", 0, 1, preview.width, preview.height, 1, len(jpeg)) + jpeg)
    prev = _box(b"uuid", PREVIEW_UUID + struct.pack(">Q", 1) + prvw)
    ftyp = _box(b"ftyp", b"crx " + struct.pack(">I", 1) + b"crx isom")
    return ftyp + moov + prev + _box(b"mdat", b"")


def mp4(payload: bytes = b"\x01" * 64) -> bytes:
    """A small complete MP4 (ftyp + mdat), what phones append after a motion photo's JPEG."""
    return _box(b"ftyp", b"isom" + struct.pack(">I", 0) + b"isommp42") + _box(b"mdat", payload)


GOOGLE_XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"
 xmlns:Container="http://ns.google.com/photos/1.0/container/" xmlns:Item="http://ns.google.com/photos/1.0/container/item/"
 GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1" GCamera:MotionPhotoPresentationTimestampUs="0">
<Container:Directory><rdf:Seq>
<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary" Item:Length="0" Item:Padding="0"/></rdf:li>
<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto" Item:Length="{length}" Item:Padding="0"/></rdf:li>
</rdf:Seq></Container:Directory></rdf:Description></rdf:RDF></x:xmpmeta>"""


def google_motion_photo(img: Image.Image, exif: bytes, video: bytes) -> bytes:
    """A Google motion photo (Pixel ``.MP.jpg``): JPEG with the Container XMP, then the MP4,
    which readers find by its length counted back from the end of the file."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88, exif=exif, xmp=GOOGLE_XMP.format(length=len(video)).encode())
    return buf.getvalue() + video


def samsung_motion_photo(img: Image.Image, exif: bytes, video: bytes) -> bytes:
    """A Samsung motion photo: JPEG, then a ``MotionPhoto_Data`` block holding the MP4, then
    the SEF trailer (``SEFH``, version, count, one directory entry whose offset counts back
    from SEFH, the directory's length, ``SEFT``)."""
    name = b"MotionPhoto_Data"
    block = struct.pack("<HHI", 0, 0x0A30, len(name)) + name + video
    sefh = b"SEFH" + struct.pack("<II", 106, 1) + struct.pack("<HHII", 0, 0x0A30, len(block), len(block))
    return _jpeg(img, exif, quality=88) + block + sefh + struct.pack("<I", len(sefh)) + b"SEFT"
