"""XMP sidecar files for formats photocull never rewrites (TIFF, PNG, WebP, HEIC, RAW).

Naming: "name" -> IMG_0001.xmp (what Lightroom and darktable read; default) or "ext" ->
IMG_0001.CR2.xmp (what darktable writes). An existing sidecar is updated in place of its
rating fields only; a new one is a minimal x:xmpmeta document.
"""

from __future__ import annotations

from pathlib import Path

from . import xmp

NAMINGS = ("name", "ext")
MAX_SIDECAR_BYTES = 16 * 2**20


def sidecar_path(image: Path, naming: str = "name") -> Path:
    """Where the sidecar for ``image`` lives under ``naming`` (lower-case .xmp)."""
    if naming == "name":
        return image.with_suffix(".xmp")
    if naming == "ext":
        return image.with_name(image.name + ".xmp")
    raise ValueError(f"unknown sidecar naming {naming!r} (use 'name' or 'ext')")


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


def read(path: Path) -> dict[str, str | None]:
    """Raw rating fields of a sidecar file."""
    return xmp.read_raw(xmp.parse(path.read_bytes()))
