"""Per-editor presets (``--preset``): what each photo editor reads, as data, in one registry.

A preset fills in ``--write``, ``--sidecar-naming`` and how rejects are written for one
editor, unless the user set those options too (then theirs win). Every preset labels picks
Green and rejects Red (xmp:Label) and adds the hierarchical keyword ``photocull|pick`` /
``photocull|reject`` (lr:hierarchicalSubject, with its levels in dc:subject), which asset
managers filter on.

Where each fact comes from (``source``): "measured" are the issue-15 measurements made with
the editor itself (darktable 4.2, digiKam 7.9, RawTherapee); "documented" rests on the
cited tag table or manual. exiftool's XMP table (Image/ExifTool/XMP.pm, 12.57) defines
xmp:Rating as "a value from 0 to 5, or -1 for rejected" and lr:hierarchicalSubject as a Bag.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import register_in


@dataclass(frozen=True)
class Preset:
    """What one editor reads. ``write``: the ``--write`` fields; ``sidecar_naming``: where its
    sidecars live; ``reject``: whether a reject is written as xmp:Rating -1 (else only 1★,
    for editors that would show -1 as 1★ anyway); ``notes``: what to know, shown in --help."""

    name: str
    write: str
    sidecar_naming: str
    reject: bool
    notes: str
    source: str


PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset, *, replace: bool = False) -> Preset:
    """Add a preset; a name taken already is refused unless ``replace``."""
    return register_in(PRESETS, preset.name, preset, kind="preset", replace=replace)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ValueError naming the choices otherwise."""
    try:
        return PRESETS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}") from None


register_preset(Preset(
    "lightroom", "exif,xmp,sidecar", "name", True,
    "Lightroom Classic reads embedded XMP in JPEGs and IMG.xmp beside RAWs (Metadata > Read Metadata from "
    "Files for photos already in the catalog); its pick/reject flags live in the catalog only, "
    "xmp:Rating -1 is its reject.",
    "measured (issue 15) + exiftool XMP table"))
register_preset(Preset(
    "darktable", "exif,xmp,sidecar", "name-ext", True,
    "darktable 4.2 reads embedded ratings and IMG.JPG.xmp sidecars (it reads IMG.xmp's 1 star as 0) and gives "
    "unrated imports 1 star, so failed frames are written as rejects.",
    "measured (issue 15)"))
register_preset(Preset(
    "digikam", "exif,xmp,sidecar", "name", False,
    "digiKam 7.9 ignores sidecars by default (a RAW's rating, which only a sidecar can carry, shows once "
    "Settings > Metadata > Sidecars reads them) and shows a reject as 1 star, so rejects are written as 1 star "
    "plus the Red label and the photocull|reject keyword.",
    "measured (issue 15)"))
register_preset(Preset(
    "capture-one", "xmp,sidecar", "name", True,
    "Capture One reads xmp:Rating and xmp:Label from embedded XMP and IMG.xmp sidecars (not measured here).",
    "documented"))
register_preset(Preset(
    "rawtherapee", "exif,xmp,sidecar", "name", True,
    "RawTherapee ignores XMP-only ratings: JPEGs get the EXIF rating it reads; a RAW's rating (sidecar only) "
    "does not show there.",
    "measured (issue 15)"))
register_preset(Preset(
    "bridge", "xmp,sidecar", "name", True,
    "Adobe Bridge reads embedded XMP and IMG.xmp sidecars; xmp:Rating -1 shows as Reject (not measured here).",
    "documented + exiftool XMP table"))


def preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)
