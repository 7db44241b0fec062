"""A metadata target is one module plus its registration: a Capture-One-like ``.cos`` sidecar
target defined and registered HERE (no other file knows it) is written by ``cull`` beside the
JPEG's embedded XMP, travels with ``--copy-picks`` / ``--move-rejects``, keeps the
photographer's own rating, is written and read by the review page, and is undone."""

from __future__ import annotations

import json
import types
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from photocull.cli import app
from photocull.metadata import (
    TARGETS, Held, Journal, default_fields, read_rating, register_target, undo, write_rating,
)
from photocull.metadata.atomic import Stamp, atomic_unlink, atomic_write_bytes
from photocull.metadata.common import Skip, WriteRequest, record, stat_checks
from photocull.records import WriteOutcome
from photocull.review.decisions import Change, read_decision, write_decision
from photocull.review.run_writer import RunWriter
from photocull.review.server import ReviewApp
from tests.conftest import save_jpeg, scene
from tests.metadata.conftest import registered
from tests.test_workflow_write import raw_pair_shoot

runner = CliRunner()
TOKEN = "t0ken"
WRITE = {"Host": "127.0.0.1", "X-Photocull-Token": TOKEN}


def _cos_module() -> types.ModuleType:
    """IMG_1.JPG.cos beside each photo: a JSON object {"Rating": -1..5, "Label": ...}."""
    mod = types.ModuleType("cos_sidecar")
    mod.NAME, mod.FIELDS, mod.DEFAULT = "cos_sidecar", frozenset({"cos"}), False
    mod.READ_KEYS = ("cos_rating", "cos_label", "cos_path")
    mod.HELD = (Held("cos_rating", "rating", "cos", "Rating", rejects=True, file_key="cos_path"),
                Held("cos_label", "label", "cos", "Label", file_key="cos_path"))

    def companions(photo: Path) -> list[Path]:
        return [photo.with_name(photo.name + ".cos")]

    def load(p: Path) -> dict[str, Any] | None:
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())
        except ValueError:
            raise Skip(f"{p.name} is not a settings file photocull can read; left alone") from None

    def handles(fmt: str, fields: frozenset[str]) -> bool:
        return "cos" in fields

    def write(req: WriteRequest) -> WriteOutcome:
        stat_checks(req.path, 2**63, req.expected)
        (cos,) = companions(req.path)
        now = load(cos)
        want: dict[str, Any] = {"Rating": -1 if req.rejected else req.stars}
        if req.label is not None:
            want["Label"] = req.label or None
        if now is not None and all(now.get(k) == v for k, v in want.items()):
            return WriteOutcome(req.path, "unchanged", f"{cos.name} already says so", ("cos",))
        if req.dry_run:
            return WriteOutcome(req.path, "dry-run", f"would write {cos.name}", ("cos",))
        record(req.journal, {"target": mod.NAME, "path": req.path, "cos": {
            "path": cos, "created": now is None, "before": {k: (now or {}).get(k) for k in want}, "after": want}},
            "nothing written")
        atomic_write_bytes(cos, json.dumps({**(now or {}), **want}).encode(), create=now is None,
                           expected=Stamp.of(cos) if now is not None else None)
        return WriteOutcome(req.path, "written", f"wrote {cos.name}", ("cos",))

    def read(path: Path, fmt: str, naming: str) -> dict[str, Any]:
        (cos,) = companions(path)
        now = load(cos)
        return {} if now is None else {"cos_rating": now.get("Rating"), "cos_label": now.get("Label"), "cos_path": cos}

    def undo_(journal: Journal, rec: dict[str, Any], dry_run: bool) -> WriteOutcome:
        part = rec["cos"]
        cos = journal.resolve(part["path"])
        now = load(cos)
        if now is None:
            return WriteOutcome(cos, "unchanged" if part["created"] else "skipped", f"{cos.name} is gone")
        if any(now.get(k) != v for k, v in part["after"].items()):
            return WriteOutcome(cos, "skipped", f"{cos.name} changed since photocull wrote it; left alone")
        if dry_run:
            return WriteOutcome(cos, "dry-run", f"would restore {cos.name}")
        if part["created"] and set(now) <= set(part["after"]):
            atomic_unlink(cos)
        else:
            atomic_write_bytes(cos, json.dumps({**now, **part["before"]}).encode(), expected=Stamp.of(cos))
        return WriteOutcome(cos, "written", f"restored {cos.name}")

    mod.companions, mod.handles, mod.write, mod.read, mod.undo = companions, handles, write, read, undo_
    return mod


@pytest.fixture
def cos_target():
    yield from registered(_cos_module())


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".photocull" not in p.parts}


def _cos(p: Path) -> dict[str, Any]:
    return json.loads(p.read_text())


def _shoot(root: Path) -> None:
    """A sharp and a blurred RAW+JPEG pair (one series), and a frame of its own whose ``.cos``
    the photographer rated 2 with a Blue label."""
    raw_pair_shoot(root)
    t = datetime(2026, 7, 1, 8, 0, 0).timestamp()
    save_jpeg(root / "IMG_3.JPG", scene(77), datetime.fromtimestamp(t + 3600))
    (root / "IMG_3.JPG.cos").write_text(json.dumps({"Rating": 2, "Label": "Blue", "Crop": [0, 0, 10, 10]}))


def test_a_target_registered_in_a_test_is_written_carried_reviewed_and_undone(tmp_path: Path, cos_target) -> None:
    assert "cos" not in default_fields()  # DEFAULT = False: written when --write names it
    root = tmp_path / "shoot"
    _shoot(root)
    before = _snapshot(root)
    picks, rejects = tmp_path / "picks", root / "rejects"
    res = runner.invoke(app, ["cull", str(root), "-q", "--scorer", "technical", "--no-embeddings", "--label-picks",
                              "--write", "exif,xmp,sidecar,cos", "--copy-picks", str(picks),
                              "--move-rejects", str(rejects)])
    assert res.exit_code == 0, res.output

    # Cull wrote through it AND through the JPEG's own target (two slots, one photo), in agreement;
    # the RAW beside the JPEG got its .cos too.
    got = read_rating(root / "IMG_1.JPG", "jpeg")
    assert got["cos_rating"] == got["xmp_rating"] >= 3 and got["cos_label"] == got["xmp_label"] == "Green"
    assert _cos(root / "IMG_1.CR2.cos") == {"Rating": got["xmp_rating"], "Label": "Green"}
    # Its companions travelled: copied with the pick, moved with the reject (and its RAW).
    assert {"IMG_1.JPG", "IMG_1.JPG.cos", "IMG_1.CR2", "IMG_1.CR2.cos", "IMG_1.xmp"} <= {p.name for p in picks.iterdir()}
    assert sorted(p.name for p in rejects.iterdir()) == ["IMG_2.CR2", "IMG_2.CR2.cos", "IMG_2.JPG", "IMG_2.JPG.cos",
                                                         "IMG_2.xmp"]
    assert _cos(rejects / "IMG_2.JPG.cos")["Rating"] == read_rating(rejects / "IMG_2.JPG", "jpeg")["xmp_rating"]
    # Its ownership rule: the photographer's own .cos rating and label are kept, the photo untouched.
    assert _cos(root / "IMG_3.JPG.cos") == {"Rating": 2, "Label": "Blue", "Crop": [0, 0, 10, 10]}
    assert (root / "IMG_3.JPG").read_bytes() == before["IMG_3.JPG"]
    run = json.loads((root / ".photocull" / "last_run.json").read_text())
    row = next(f for f in run["files"] if f["path"] == "IMG_3.JPG")
    assert row["write"]["status"] == "kept" and "kept your rating (2★)" in row["write"]["message"]

    # The review page writes through the same registry (with the cull's --write, cos included) ...
    review = ReviewApp(root, token=TOKEN)
    i = next(e.id for e in review.session.entries if e.path.name == "IMG_1.JPG")
    r = review.handle("POST", "/api/decide", WRITE, json.dumps({"id": i, "action": "stars", "stars": 1}).encode())
    assert r.status == 200 and json.loads(r.body)["frame"]["stars"] == 1
    assert _cos(root / "IMG_1.JPG.cos")["Rating"] == 1 and _cos(root / "IMG_1.CR2.cos")["Rating"] == 1
    # ... and a later cull keeps that decision: the journal marks it the photographer's.
    res = runner.invoke(app, ["cull", str(root), "-q", "--scorer", "technical", "--no-embeddings",
                              "--write", "exif,xmp,sidecar,cos"])
    assert res.exit_code == 0, res.output
    assert _cos(root / "IMG_1.JPG.cos")["Rating"] == 1

    # Undo restores all of it: the shoot byte for byte, the photographer's .cos as it was, no copies left.
    res = runner.invoke(app, ["undo", str(root)])
    assert res.exit_code == 0, res.output
    assert _snapshot(root) == before
    assert not picks.exists() or list(picks.iterdir()) == []


def test_review_reads_and_writes_a_target_of_its_own(tmp_path: Path, cos_target) -> None:
    """A run that wrote only the .cos: the review page reads its decision from there and writes it there."""
    png = tmp_path / "IMG_1.png"
    scene(3, (64, 48)).save(png)
    png_bytes = png.read_bytes()
    w = RunWriter(targets=frozenset({"cos"}))
    journal = Journal(tmp_path)
    out = write_decision(png, "png", (), Change(1, True, "Red", None), journal, w)
    assert out.status == "written" and out.targets == ("cos",)
    d = read_decision(png, "png", w)
    assert d.rejected and d.stars is None and d.label == "Red"
    assert _cos(tmp_path / "IMG_1.png.cos") == {"Rating": -1, "Label": "Red"}
    assert [o.status for o in undo(tmp_path)] == ["written"]
    assert not (tmp_path / "IMG_1.png.cos").exists() and png.read_bytes() == png_bytes
    assert read_decision(png, "png", w).stars is None


def test_two_targets_on_one_photo_report_one_outcome(tmp_path: Path, cos_target) -> None:
    """Every target that handles a photo writes it; one target's refusal shows in the outcome."""
    png = tmp_path / "IMG_1.png"
    scene(3, (64, 48)).save(png)
    fields = frozenset({"sidecar", "cos"})
    out = write_rating(png, 4, fmt="png", targets=fields, journal=Journal(tmp_path))
    assert out.status == "written" and sorted(out.targets) == ["cos", "sidecar"]
    assert (tmp_path / "IMG_1.xmp").is_file() and _cos(tmp_path / "IMG_1.png.cos")["Rating"] == 4
    (tmp_path / "IMG_1.png.cos").write_text("{not json")
    out = write_rating(png, 5, fmt="png", targets=fields, journal=Journal(tmp_path))
    assert out.status == "skipped" and "IMG_1.png.cos is not a settings file" in out.message
    assert "updated sidecar IMG_1.xmp" in out.message  # the other target still wrote
    assert write_rating(png, 5, fmt="png", targets=frozenset({"exif"})).message.startswith(
        "nothing to write: only --write sidecar or cos rates png files")
    assert "cos_sidecar" in TARGETS


def test_a_targets_own_file_outside_the_shoot_is_refused_before_its_undo_runs(tmp_path: Path, cos_target) -> None:
    """Undo checks every file part a registered target declares (HELD's file_key parts), so even a
    careless target's undo never reaches a file a crafted journal aims outside the shoot."""
    import dataclasses

    shoot, outside = tmp_path / "shoot", tmp_path / "private"
    shoot.mkdir()
    outside.mkdir()
    png = shoot / "IMG_1.png"
    scene(3, (64, 48)).save(png)
    journal = Journal(shoot)
    assert write_rating(png, 3, fmt="png", targets=frozenset({"cos"}), journal=journal).status == "written"
    victim = outside / "IMG_1.png.cos"
    victim.write_bytes((shoot / "IMG_1.png.cos").read_bytes())  # holds exactly what the record says was written
    rec = json.loads(journal.path.read_text().splitlines()[-1])
    aims = ["../private/IMG_1.png.cos", str(victim)]
    journal.path.write_text("".join(json.dumps(rec | {"id": f"x{i}", "cos": rec["cos"] | {"path": a}}) + "\n"
                                    for i, a in enumerate(aims)))
    touched: list[Path] = []

    def careless(journal: Journal, rec: dict[str, Any], dry_run: bool) -> WriteOutcome:
        touched.append(Path(rec["cos"]["path"]))  # no journal.resolve: the registry's check must have run
        return WriteOutcome(png, "written", "restored")

    with pytest.warns(UserWarning, match="replaced"):
        register_target(dataclasses.replace(cos_target, undo=careless), replace=True)
    outcomes = undo(shoot)
    assert touched == [] and victim.is_file()
    assert [o.status for o in outcomes] == ["skipped", "skipped"]
    assert any("contains '..'" in o.message for o in outcomes) and any("outside the shoot" in o.message for o in outcomes)
