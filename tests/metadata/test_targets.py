"""The metadata target registry: a new target is one module plus one registration line,
and the journal undoes it by the name it recorded; sidecar namings have one validation."""

from __future__ import annotations

import json
import os
import types
from pathlib import Path

import pytest

from photocull.metadata import (
    SIDECAR_NAMINGS,
    TARGETS,
    Journal,
    create_writer,
    read_rating,
    undo,
    unregister_target,
    write_fields,
    write_rating,
)
from photocull.metadata.atomic import atomic_unlink
from photocull.metadata.common import Skip, WriteRequest, record
from photocull.records import Frame, FrameResult, Rating, WriteOutcome

from .conftest import make_jpeg, registered


def _toy_module() -> types.ModuleType:
    """A toy target: the rating as a one-line text file IMG.png.stars beside the photo."""
    mod = types.ModuleType("toy_stars")
    mod.NAME = "toy_stars"
    mod.FIELDS = frozenset({"stars"})

    def where(p: Path) -> Path:
        return p.with_name(p.name + ".stars")

    def handles(fmt, fields):
        return "stars" in fields

    def write(req: WriteRequest) -> WriteOutcome:
        dst = where(req.path)
        if req.dry_run:
            return WriteOutcome(req.path, "dry-run", "would write stars", ("stars",))
        if dst.exists():
            raise Skip("a stars file is already there; left alone")
        record(req.journal, {"target": mod.NAME, "path": req.path, "stars_file": dst}, "nothing written")
        dst.write_text(str(req.stars))
        return WriteOutcome(req.path, "written", f"rated {req.stars}", ("stars",))

    def read(path, fmt, naming):
        dst = where(path)
        return {"toy_stars": int(dst.read_text())} if dst.exists() else {}

    def undo_(journal, rec, dry_run):
        dst = journal.resolve(rec["stars_file"])
        if not dst.exists():
            return WriteOutcome(dst, "unchanged", "already gone")
        if not dry_run:
            atomic_unlink(dst)
        return WriteOutcome(dst, "dry-run" if dry_run else "written", "stars file removed")

    mod.handles, mod.write, mod.read, mod.undo = handles, write, read, undo_
    return mod


@pytest.fixture
def toy_target():
    yield from registered(_toy_module())
    assert "toy_stars" not in TARGETS


def test_a_registered_target_is_written_read_and_undone(tmp_path: Path, toy_target) -> None:
    photo = tmp_path / "IMG_1.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert "stars" in write_fields()
    journal = Journal(tmp_path)
    out = write_rating(photo, 4, fmt="png", targets=frozenset({"stars"}), journal=journal)
    assert out.status == "written" and out.targets == ("stars",)
    assert read_rating(photo, "png")["toy_stars"] == 4
    # The journal names the target; undo dispatches on that name.
    rec = next(json.loads(line) for line in journal.path.read_text().splitlines())
    assert rec["target"] == "toy_stars"
    assert [o.status for o in undo(tmp_path)] == ["written"]
    assert not (tmp_path / "IMG_1.png.stars").exists()
    # Its Skip becomes a per-file message like any built-in target's.
    (tmp_path / "IMG_1.png.stars").write_text("2")
    out = write_rating(photo, 4, fmt="png", targets=frozenset({"stars"}), journal=journal)
    assert out.status == "skipped" and "already there" in out.message


def test_undo_of_an_unknown_target_is_a_per_file_message(tmp_path: Path, toy_target) -> None:
    photo = tmp_path / "IMG_1.png"
    photo.write_bytes(b"x")
    journal = Journal(tmp_path)
    write_rating(photo, 3, fmt="png", targets=frozenset({"stars"}), journal=journal)
    unregister_target("toy_stars")
    (out,) = undo(tmp_path)
    assert out.status == "skipped" and "unknown metadata target 'toy_stars'" in out.message


def test_old_journal_records_without_a_target_name_still_undo(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_1.png"
    photo.write_bytes(b"x")
    journal = Journal(tmp_path)
    assert write_rating(photo, 3, fmt="png", targets=frozenset({"sidecar"}), journal=journal).status == "written"
    lines = [json.loads(x) for x in journal.path.read_text().splitlines()]
    for rec in lines:
        rec.pop("target")  # as written before targets were named
    journal.path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert [o.status for o in undo(tmp_path)] == ["written"]
    assert not (tmp_path / "IMG_1.xmp").exists()


@pytest.mark.parametrize("naming", ["name-ext", "ext"])
def test_darktable_sidecar_naming_is_writable(tmp_path: Path, naming: str, exiftool) -> None:
    """Regression: the CLI offered 'name-ext', the library only knew 'ext' (ValueError even in --dry-run)."""
    photo = tmp_path / "IMG_1.JPG"
    photo.write_bytes(make_jpeg(seed=1))
    before = photo.read_bytes()
    fields = frozenset({"sidecar"})
    assert write_rating(photo, 4, fmt="jpeg", targets=fields, sidecar_naming=naming, dry_run=True).status == "dry-run"
    out = write_rating(photo, 4, fmt="jpeg", targets=fields, sidecar_naming=naming, journal=Journal(tmp_path))
    assert out.status == "written"
    assert exiftool(tmp_path / "IMG_1.JPG.xmp", "-XMP:Rating")["XMP-xmp:Rating"] == 4
    assert not (tmp_path / "IMG_1.xmp").exists() and photo.read_bytes() == before
    assert read_rating(photo, "jpeg", naming)["sidecar_rating"] == 4


def test_sidecar_namings_have_one_validation() -> None:
    assert list(SIDECAR_NAMINGS) == ["name", "name-ext"]
    with pytest.raises(ValueError, match="'name' or 'name-ext'"):
        create_writer(frozenset({"sidecar"}), False, False, True, "darktable", None)
    with pytest.raises(ValueError, match="choose from exif, xmp, sidecar"):
        create_writer(frozenset({"iptc"}), False, False, True, "name", None)


def test_create_writer_rates_the_raw_beside_its_jpeg(tmp_path: Path) -> None:
    jpg, raw = tmp_path / "IMG_1.JPG", tmp_path / "IMG_1.CR2"
    jpg.write_bytes(make_jpeg(seed=1))
    raw.write_bytes(b"II*\x00 fake raw")
    st = os.stat(jpg)
    fr = FrameResult(Frame(jpg, "jpeg", st.st_size, st.st_mtime_ns, 0.0, "file", companions=(raw,)),
                     rating=Rating(stars=5, rank=1, is_pick=True))
    writer = create_writer(frozenset({"exif", "xmp", "sidecar"}), True, False, True, "name-ext", Journal(tmp_path))
    assert writer(fr, False).status == "written"
    got = read_rating(raw, "raw", "name-ext")
    assert got["sidecar_rating"] == 5 and got["sidecar_label"] == "Green"
    assert got["sidecar_path"] == tmp_path / "IMG_1.CR2.xmp"
    assert read_rating(jpg, "jpeg")["xmp_rating"] == 5


def test_cli_sidecar_naming_name_ext_runs(tmp_path: Path) -> None:
    """Regression: 'cull --sidecar-naming name-ext' crashed with ValueError, even with --dry-run."""
    from typer.testing import CliRunner

    from photocull.cli import app

    from PIL import Image

    Image.effect_noise((320, 240), 40).convert("RGB").save(tmp_path / "IMG_1.JPG", quality=90)
    args = ["cull", str(tmp_path), "--no-embeddings", "--scorer", "technical", "--no-cache", "--quiet",
            "--write", "sidecar", "--sidecar-naming", "name-ext"]
    res = CliRunner().invoke(app, [*args, "--dry-run"])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "IMG_1.JPG.xmp").exists()
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "IMG_1.JPG.xmp").is_file()
