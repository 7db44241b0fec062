"""The journal is untrusted input (it travels with the card): undo never touches a file outside
the shoot, whatever the records say; a copy/move outside is undone only when this computer signed it."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from photocull.cli import app
from photocull.metadata import Journal, read_rating, undo, write_rating
from photocull.metadata.transfer import transfer

from .conftest import camera_exif, make_jpeg

JPEG = make_jpeg(seed=11, exif=camera_exif())


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` (hidden ones too) with its bytes and mtime."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def outside_folder(base: Path) -> tuple[Path, list[dict]]:
    """A folder beside the shoot holding files in exactly the state photocull leaves them:
    rated (with a journal of its own), a created sidecar, a copy. Returns it and its records,
    which an unguarded undo would happily apply."""
    out = base / "private"
    out.mkdir()
    (out / "a.jpg").write_bytes(JPEG)
    (out / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n fake")
    (out / "c.jpg").write_bytes(JPEG)
    j = Journal(out)
    assert write_rating(out / "a.jpg", 5, fmt="jpeg", journal=j).status == "written"
    assert write_rating(out / "b.png", 4, fmt="png", targets=frozenset({"sidecar"}), journal=j).status == "written"
    recs = [json.loads(x) for x in j.path.read_text().splitlines()]
    return out, recs


def shoot_with_links(base: Path, out: Path) -> Path:
    shoot = base / "shoot"
    shoot.mkdir()
    (shoot / "mine.jpg").write_bytes(out.joinpath("a.jpg").read_bytes())  # a byte-identical twin inside
    (shoot / "up").symlink_to("..")
    (shoot / "link.jpg").symlink_to(out / "a.jpg")
    return shoot


def journal_lines(shoot: Path, recs: list[dict]) -> None:
    (shoot / ".photocull").mkdir(exist_ok=True)
    with open(shoot / ".photocull" / "journal.jsonl", "a") as fh:
        for r in recs:
            fh.write(json.dumps(r) + "\n")


def crafted(out: Path, recs: list[dict]) -> list[dict]:
    """The outside folder's genuine records re-aimed at it from the shoot, every way we know."""
    write_jpeg, write_sidecar = recs
    aims = [str(out / "a.jpg"), "../private/a.jpg", "up/private/a.jpg", "link.jpg", "sub/../../private/a.jpg"]
    bad = [write_jpeg | {"path": p, "id": f"w{i}"} for i, p in enumerate(aims)]
    bad.append(write_sidecar | {"id": "s1", "path": str(out / "b.png"),
                                "sidecar": write_sidecar["sidecar"] | {"path": str(out / "b.xmp")}})
    bad.append(write_sidecar | {"id": "s2", "path": "mine.jpg",
                                "sidecar": write_sidecar["sidecar"] | {"path": "up/private/b.xmp"}})
    base = {"v": 1, "run": "evil", "time": 1.0}
    bad += [
        base | {"kind": "copy", "id": "c1", "src": str(out / "c.jpg"), "dst": str(out / "c.jpg")},  # delete
        base | {"kind": "copy", "id": "c2", "src": "mine.jpg", "dst": str(out / "a.jpg")},
        base | {"kind": "copy", "id": "c3", "src": "mine.jpg", "dst": "up/private/c.jpg"},
        base | {"kind": "move", "id": "m1", "src": "stolen.jpg", "dst": str(out / "c.jpg")},  # bring it in
        base | {"kind": "move", "id": "m2", "src": str(out / "new.jpg"), "dst": "mine.jpg"},  # push one out
        # a forged signature does not make outside paths acceptable
        base | {"kind": "copy", "id": "c4", "src": "mine.jpg", "dst": str(out / "c.jpg"),
                "outside": [os.path.realpath(out / "c.jpg")], "sig": "0" * 64},
    ]
    return bad


def test_crafted_journal_touches_nothing_outside_and_says_so(tmp_path: Path) -> None:
    out, recs = outside_folder(tmp_path)
    shoot = shoot_with_links(tmp_path, out)
    before_out = tree(out)
    mine = (shoot / "mine.jpg").read_bytes()
    journal_lines(shoot, crafted(out, recs))

    res = CliRunner().invoke(app, ["undo", str(shoot)])
    assert tree(out) == before_out  # byte-identical, same mtimes, no new file
    assert (shoot / "mine.jpg").read_bytes() == mine and not (shoot / "stolen.jpg").exists()
    assert read_rating(out / "a.jpg", "jpeg")["exif_rating"] == 5
    assert res.exit_code == 1, res.output
    assert "0 files restored, 13 could not be restored" in res.stdout
    assert res.stderr.count("outside the shoot") >= 10 and "contains '..'" in res.stderr


def test_signed_copy_outside_is_undone_but_an_edited_one_is_refused(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (shoot / name).write_bytes(make_jpeg(seed=len(name) + ord(name[0])))
    picks = tmp_path / "picks"
    j = Journal(shoot)
    outs = transfer([(shoot / "a.jpg", ()), (shoot / "b.jpg", ())], picks, move=False, journal=j)
    assert [o.status for o in outs] == ["written", "written"]
    lines = j.path.read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    # Signed: each copy, and the picks folder the first copy created (undo removes it once empty).
    assert all(r["sig"] and set(r["outside"]) == {os.path.realpath(p) for p in [r["dst"], *r.get("created_folders", [])]}
               for r in recs)
    assert recs[0]["created_folders"] == [str(picks)]
    # Someone re-aims the second record at another file of the picks folder: the signature breaks.
    (picks / "precious.jpg").write_bytes((shoot / "b.jpg").read_bytes())
    recs[1]["dst"] = str(picks / "precious.jpg")
    j.path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    got = {o.path.name: o for o in undo(shoot)}
    assert got["a.jpg"].status == "written" and not (picks / "a.jpg").exists()
    assert got["precious.jpg"].status == "skipped" and "outside the shoot" in got["precious.jpg"].message
    assert (picks / "precious.jpg").exists() and (picks / "b.jpg").exists()


def test_a_journal_folder_that_is_a_link_is_not_written_through(tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    out.mkdir()
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    (shoot / ".photocull").symlink_to(out)
    (shoot / "a.jpg").write_bytes(JPEG)
    res = write_rating(shoot / "a.jpg", 3, fmt="jpeg", journal=Journal(shoot))
    assert res.status == "skipped" and "journal" in res.message and "link" in res.message
    assert list(out.iterdir()) == [] and (shoot / "a.jpg").read_bytes() == JPEG


# ---------------------------------------------------------------- property

_OUT, _RECS = outside_folder(Path(tempfile.mkdtemp(prefix="photocull-prop-")))
PATHS = st.sampled_from([
    "mine.jpg", "link.jpg", "up/private/a.jpg", "../private/a.jpg", "../private/c.jpg", "up/private/b.xmp",
    "/etc/passwd", "", ".", "..", "sub/../../private/a.jpg", "up", ".photocull/journal.jsonl", "new.jpg",
]) | st.text(max_size=12)
LEAF = st.none() | st.booleans() | st.integers(-2, 6) | st.text(max_size=6) | PATHS
FIELDS = st.recursive(LEAF, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                      max_leaves=8)


@st.composite
def record(draw) -> dict:
    kind = draw(st.sampled_from(["write", "move", "copy", "undone", "other"]))
    if kind == "write" and draw(st.booleans()):
        rec = dict(draw(st.sampled_from(_RECS)))  # a genuine record, re-aimed
    else:
        rec = {"v": 1, "run": "r", "kind": kind}
    rec["id"] = draw(st.sampled_from(["a", "b", "c", "d"]))
    for key in ("path", "src", "dst", "ref"):
        if draw(st.booleans()):
            rec[key] = draw(PATHS | LEAF)
    if isinstance(rec.get("sidecar"), dict) or draw(st.booleans()):
        rec["sidecar"] = (rec.get("sidecar") or {}) | {"path": draw(PATHS)}
    for key in draw(st.lists(st.sampled_from(["exif", "xmp", "target", "outside", "sig", "size", "mtime_ns"]),
                             max_size=3)):
        rec[key] = draw(FIELDS)
    return rec


@settings(derandomize=True, max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(recs=st.lists(record(), min_size=1, max_size=6), garbage=st.lists(st.binary(max_size=40), max_size=2))
def test_arbitrary_records_never_touch_a_path_outside_the_shoot(recs: list[dict], garbage: list[bytes]) -> None:
    base = Path(tempfile.mkdtemp(prefix="photocull-prop-"))
    try:
        out = base / "private"
        shutil.copytree(_OUT, out, symlinks=True)
        shoot = shoot_with_links(base, out)
        before = tree(out)
        journal_lines(shoot, recs)
        with open(shoot / ".photocull" / "journal.jsonl", "ab") as fh:
            fh.write(b"".join(g + b"\n" for g in garbage))
        warnings: list[str] = []
        undo(shoot, warnings=warnings)  # never raises
        undo(shoot, dry_run=True)
        assert tree(out) == before
        assert sorted(p.name for p in base.iterdir()) == ["private", "shoot"]
    finally:
        shutil.rmtree(base)
