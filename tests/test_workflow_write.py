"""What a cull writes and when (issue 15), from the CLI, judged by exiftool:
the photographer's decisions kept, --keep N, --preset, safe re-runs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photocull.cli import app

runner = CliRunner()
EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool not installed (apt install libimage-exiftool-perl)")
BASE = ["--scorer", "technical", "--no-embeddings", "--no-faces", "-q"]


def exiftool_set(path: Path, *assignments: str) -> None:
    subprocess.run([EXIFTOOL, "-q", "-overwrite_original", *assignments, str(path)], check=True)


def tags(path: Path) -> dict:
    """exiftool's reading of the rating fields (group-qualified, -n: numbers as stored)."""
    out = subprocess.run([EXIFTOOL, "-j", "-G1", "-n", "-a", "-EXIF:Rating", "-XMP-xmp:Rating", "-XMP-xmp:Label",
                          "-XMP-lr:HierarchicalSubject", "-XMP-dc:Subject", str(path)],
                         check=True, capture_output=True, text=True).stdout
    d = json.loads(out)[0]
    d.pop("SourceFile")
    return d


def cull(shoot: Path, *args: str) -> dict:
    res = runner.invoke(app, ["cull", str(shoot), *BASE, "--json", "-", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout[res.stdout.index("{"):])


def by_name(report: dict) -> dict[str, dict]:
    return {Path(f["path"]).name: f for f in report["files"]}


@needs_exiftool
def test_manual_rating_and_reject_survive_cull_and_rerun_until_overwrite(burst_shoot: Path):
    # B2 is blurred (photocull would give it 1 star); B1 is the clean pick of its burst (3-5 stars).
    exiftool_set(burst_shoot / "B2.jpg", "-EXIF:Rating=5")
    exiftool_set(burst_shoot / "B1.jpg", "-XMP-xmp:Rating=-1")
    for _ in range(2):  # a cull, then a re-run
        files = by_name(cull(burst_shoot))
        assert tags(burst_shoot / "B2.jpg")["IFD0:Rating"] == 5
        assert tags(burst_shoot / "B1.jpg")["XMP-xmp:Rating"] == -1
        assert files["B2.jpg"]["write"]["status"] == "kept"
        assert files["B2.jpg"]["write"]["message"] == "kept your rating (5★)"
        assert files["B1.jpg"]["write"]["status"] == "kept"
        assert files["B1.jpg"]["write"]["message"] == "kept your reject"
        assert files["B1.jpg"]["rejected"] and not files["B1.jpg"]["pick"]
        # photocull's own ratings of the other frames are photocull's to rewrite: never "kept".
        assert {f["write"]["status"] for n, f in files.items() if n not in ("B1.jpg", "B2.jpg")} <= {"written", "unchanged"}
    a1 = tags(burst_shoot / "A1.jpg")["IFD0:Rating"]
    files = by_name(cull(burst_shoot, "--overwrite"))
    assert files["B2.jpg"]["write"]["status"] == "written"
    assert tags(burst_shoot / "B2.jpg")["IFD0:Rating"] == 1
    assert 3 <= tags(burst_shoot / "B1.jpg")["XMP-xmp:Rating"] <= 5
    assert tags(burst_shoot / "A1.jpg")["IFD0:Rating"] == a1


@needs_exiftool
def test_a_rating_changed_after_photocull_wrote_it_is_theirs(burst_shoot: Path):
    cull(burst_shoot)
    assert tags(burst_shoot / "A1.jpg")["XMP-xmp:Rating"] == 1
    exiftool_set(burst_shoot / "A1.jpg", "-XMP-xmp:Rating=4")  # the photographer disagrees in an editor
    files = by_name(cull(burst_shoot))
    assert files["A1.jpg"]["write"]["message"] == "kept your rating (4★)"
    assert tags(burst_shoot / "A1.jpg")["XMP-xmp:Rating"] == 4


@needs_exiftool
def test_their_label_is_kept_while_the_rating_is_written(burst_shoot: Path):
    exiftool_set(burst_shoot / "C1.jpg", "-XMP-xmp:Label=Purple")
    files = by_name(cull(burst_shoot, "--label-picks"))
    t = tags(burst_shoot / "C1.jpg")
    assert t["XMP-xmp:Label"] == "Purple" and t["IFD0:Rating"] >= 3
    assert files["C1.jpg"]["write"]["status"] == "written"
    assert "kept your label (Purple)" in files["C1.jpg"]["write"]["message"]
    assert tags(burst_shoot / "B1.jpg")["XMP-xmp:Label"] == "Green"


@needs_exiftool
def test_a_decision_made_in_review_is_the_photographers(burst_shoot: Path):
    from photocull.metadata import write_rating
    from photocull.review.decisions import ReviewJournal

    cull(burst_shoot)
    out = write_rating(burst_shoot / "A1.jpg", 2, fmt="jpeg", journal=ReviewJournal(burst_shoot))
    assert out.status == "written"
    files = by_name(cull(burst_shoot))
    assert files["A1.jpg"]["write"]["message"] == "kept your rating (2★)"
    assert tags(burst_shoot / "A1.jpg")["IFD0:Rating"] == 2


# ---------------------------------------------------------------- --keep N


@needs_exiftool
def test_keep_n_rejects_the_rest_never_keeping_a_failed_frame_over_a_clean_one(burst_shoot: Path):
    # Burst A: A2 (pick), A3 (noisy: not a failure), A4 (+2 EV: overexposed) and A1 (blurred) are
    # failures; burst B: B1 (pick), B2 (blurred).
    files = by_name(cull(burst_shoot, "--keep", "2"))
    assert [files[n]["problems"] for n in ("A1.jpg", "A3.jpg", "A4.jpg", "B2.jpg")] == [["blurred"], ["noisy"], ["overexposed"], ["blurred"]]
    rejected = {n for n, f in files.items() if f["rejected"]}
    assert rejected == {"A1.jpg", "A4.jpg", "B2.jpg"}  # failures go while clean frames are kept; B keeps only B1
    for name in rejected:
        t = tags(burst_shoot / name)
        assert (t["XMP-xmp:Rating"], t["IFD0:Rating"]) == (-1, 1), name  # Lightroom's reject; EXIF carries 1 star
    assert tags(burst_shoot / "A3.jpg")["XMP-xmp:Rating"] == 2  # kept, not the pick
    assert tags(burst_shoot / "C1.jpg")["XMP-xmp:Rating"] >= 3


@needs_exiftool
def test_keep_one_rejects_clean_mates_too(burst_shoot: Path):
    files = by_name(cull(burst_shoot, "--keep", "1"))
    assert {n for n, f in files.items() if f["rejected"]} == {"A1.jpg", "A3.jpg", "A4.jpg", "B2.jpg"}
    assert tags(burst_shoot / "A4.jpg")["XMP-xmp:Rating"] == -1


@needs_exiftool
def test_rejected_is_true_only_for_frames_written_as_rejects(burst_shoot: Path):
    files = by_name(cull(burst_shoot))
    assert not any(f["rejected"] for f in files.values())  # failures get 1 star, no reject flag
    assert tags(burst_shoot / "A1.jpg")["XMP-xmp:Rating"] == 1
    files = by_name(cull(burst_shoot, "--reject", "--overwrite"))
    assert {n for n, f in files.items() if f["rejected"]} == {"A1.jpg", "A4.jpg", "B2.jpg"}  # the failures
    assert tags(burst_shoot / "A1.jpg")["XMP-xmp:Rating"] == -1


def test_keep_below_top_k_is_a_usage_error(burst_shoot: Path):
    res = runner.invoke(app, ["cull", str(burst_shoot), *BASE, "--keep", "1", "--top-k", "2"])
    assert res.exit_code == 2
    assert "--keep 1 is below --top-k 2" in res.output


def test_help_explains_keep_reject_preset_overwrite():
    res = runner.invoke(app, ["cull", "--help"], env={"COLUMNS": "200"})
    text = " ".join(res.output.split())
    for flag in ("--keep", "--reject", "--preset", "--overwrite", "--top-k"):
        assert flag in text
    assert "darktable" in text and "kept" in text


# ---------------------------------------------------------------- --preset


def raw_pair_shoot(root: Path) -> Path:
    from datetime import datetime

    from tests.conftest import blurred, save_jpeg, scene

    t = datetime(2026, 7, 1, 8, 0, 0).timestamp()
    base = scene(31)
    save_jpeg(root / "IMG_1.JPG", base, datetime.fromtimestamp(t))
    (root / "IMG_1.CR2").write_bytes(b"II*\x00" + b"\x00" * 64)
    save_jpeg(root / "IMG_2.JPG", blurred(base, 4), datetime.fromtimestamp(t + 0.5))
    (root / "IMG_2.CR2").write_bytes(b"II*\x00" + b"\x01" * 64)
    return root


@needs_exiftool
def test_preset_darktable_writes_name_ext_sidecars_rejects_and_keywords(tmp_path: Path):
    root = raw_pair_shoot(tmp_path / "shoot")
    cull(root, "--preset", "darktable")
    assert not (root / "IMG_1.xmp").exists()
    pick, reject = tags(root / "IMG_1.CR2.xmp"), tags(root / "IMG_2.CR2.xmp")
    assert pick["XMP-xmp:Rating"] >= 3 and pick["XMP-xmp:Label"] == "Green"
    assert pick["XMP-lr:HierarchicalSubject"] == "photocull|pick"
    assert reject["XMP-xmp:Rating"] == -1 and reject["XMP-xmp:Label"] == "Red"
    assert reject["XMP-lr:HierarchicalSubject"] == "photocull|reject"
    embedded = tags(root / "IMG_2.JPG")
    assert (embedded["IFD0:Rating"], embedded["XMP-xmp:Rating"]) == (1, -1)
    assert embedded["XMP-dc:Subject"] == ["photocull", "reject"]
    if shutil.which("exiv2"):  # a second, independent reader
        out = subprocess.run(["exiv2", "-px", str(root / "IMG_2.CR2.xmp")], capture_output=True, text=True).stdout
        assert "Xmp.lr.hierarchicalSubject" in out and "photocull|reject" in out
        assert any(line.split()[0] == "Xmp.xmp.Rating" and line.split()[-1] == "-1" for line in out.splitlines())
    res = runner.invoke(app, ["undo", str(root)])
    assert res.exit_code == 0 and not list(root.glob("*.xmp"))  # sidecars photocull created are gone


@needs_exiftool
def test_preset_digikam_writes_rejects_as_one_star_plus_label_and_keyword(tmp_path: Path):
    root = raw_pair_shoot(tmp_path / "shoot")
    files = by_name(cull(root, "--preset", "digikam"))
    t = tags(root / "IMG_2.JPG")
    assert (t["XMP-xmp:Rating"], t["XMP-xmp:Label"], t["XMP-lr:HierarchicalSubject"]) == (1, "Red", "photocull|reject")
    assert files["IMG_2.JPG"]["rejected"]
    # digiKam reads no sidecars by default, but a RAW has nowhere else to carry a rating.
    assert tags(root / "IMG_2.xmp")["XMP-xmp:Rating"] == 1


@needs_exiftool
def test_an_explicit_option_beats_the_preset(tmp_path: Path):
    root = raw_pair_shoot(tmp_path / "shoot")
    cull(root, "--preset", "darktable", "--sidecar-naming", "name")
    assert (root / "IMG_1.xmp").exists() and not (root / "IMG_1.CR2.xmp").exists()


@needs_exiftool
def test_keywords_keep_the_photos_own_and_undo_restores_them(burst_shoot: Path):
    photo = burst_shoot / "B1.jpg"
    exiftool_set(photo, "-XMP-dc:Subject=client", "-XMP-lr:HierarchicalSubject=people|Anna")
    cull(burst_shoot, "--preset", "lightroom")
    t = tags(photo)
    assert t["XMP-dc:Subject"] == ["client", "photocull", "pick"]
    assert t["XMP-lr:HierarchicalSubject"] == ["people|Anna", "photocull|pick"]
    # A later cull that changes its mind swaps photocull's keyword, nothing else.
    exiftool_set(burst_shoot / "B2.jpg", "-XMP-dc:Subject+=keep-me")
    cull(burst_shoot, "--preset", "lightroom", "--keep", "1")
    assert tags(burst_shoot / "B2.jpg")["XMP-dc:Subject"] == ["photocull", "reject", "keep-me"]
    res = runner.invoke(app, ["undo", str(burst_shoot)])
    assert res.exit_code == 0, res.output
    t = tags(photo)
    assert (t["XMP-dc:Subject"], t["XMP-lr:HierarchicalSubject"]) == ("client", "people|Anna")
    assert tags(burst_shoot / "B2.jpg")["XMP-dc:Subject"] == "keep-me"


# ---------------------------------------------------------------- safe re-runs


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".photocull" not in p.parts}


def test_rerunning_copy_picks_and_move_rejects_changes_nothing(burst_shoot: Path):
    picks, rejects = burst_shoot / "_picks", burst_shoot / "_rejects"
    args = ["--copy-picks", str(picks), "--move-rejects", str(rejects)]
    first = cull(burst_shoot, *args)
    assert sorted(p.name for p in picks.iterdir()) == ["A2.jpg", "B1.jpg", "C1.jpg"]
    assert sorted(p.name for p in rejects.iterdir()) == ["A1.jpg", "A4.jpg", "B2.jpg"]  # the failures
    assert len(first["files"]) == 7
    picked, moved, names = snapshot(picks), snapshot(rejects), sorted(snapshot(burst_shoot))
    for extra in (args, []):  # the same command again, then a plain cull: the copies are not part of the shoot,
        report = cull(burst_shoot, *extra)  # the frames moved out still are (issue 23: judged with their series)
        assert sorted(f["path"] for f in report["files"]) == ["A2.jpg", "A3.jpg", "B1.jpg", "C1.jpg", "_rejects/A1.jpg",
                                                              "_rejects/A4.jpg", "_rejects/B2.jpg"]
        if extra:
            assert [f["rejected"] for f in report["files"] if f["path"].startswith("_rejects/")] == [True] * 3
        # No duplicate copy, no renamed or rewritten reject, the same picks and stars as the first run.
        assert (snapshot(picks), snapshot(rejects), sorted(snapshot(burst_shoot))) == (picked, moved, names)
        assert {f["path"].rpartition("/")[2]: f["stars"] for f in report["files"]} == {
            f["path"]: f["stars"] for f in first["files"]}
        if extra:
            assert {o["status"] for o in report["transfers"]} == {"unchanged"}
    res = runner.invoke(app, ["undo", str(burst_shoot)])
    assert res.exit_code == 0, res.output
    assert not picks.exists() and not rejects.exists()  # folders photocull created are removed once empty
    assert sorted(p.name for p in burst_shoot.glob("*.jpg")) == ["A1.jpg", "A2.jpg", "A3.jpg", "A4.jpg", "B1.jpg",
                                                                 "B2.jpg", "C1.jpg"]


def test_a_folder_that_was_there_stays_after_undo(burst_shoot: Path, tmp_path: Path):
    picks = tmp_path / "mine"
    picks.mkdir()
    cull(burst_shoot, "--copy-picks", str(picks / "day1" / "picks"))
    assert len(list((picks / "day1" / "picks").iterdir())) == 3
    runner.invoke(app, ["undo", str(burst_shoot)])
    assert picks.is_dir() and list(picks.iterdir()) == []


@needs_exiftool
def test_undo_last_undoes_only_the_last_run_and_report_knows(burst_shoot: Path):
    original = snapshot(burst_shoot)
    cull(burst_shoot)
    after_first = snapshot(burst_shoot)
    cull(burst_shoot, "--keep", "1")
    assert tags(burst_shoot / "A3.jpg")["XMP-xmp:Rating"] == -1
    res = runner.invoke(app, ["undo", str(burst_shoot), "--last"])
    assert res.exit_code == 0, res.output
    assert snapshot(burst_shoot) == after_first
    assert tags(burst_shoot / "A3.jpg")["XMP-xmp:Rating"] == 2
    res = runner.invoke(app, ["report", str(burst_shoot)])
    assert res.exit_code != 0 and "was undone" in " ".join(res.output.split())
    res = runner.invoke(app, ["undo", str(burst_shoot), "--last"])
    assert res.exit_code == 0 and snapshot(burst_shoot) == original
    res = runner.invoke(app, ["undo", str(burst_shoot), "--last"])
    assert res.exit_code == 0 and "nothing to undo" in res.output


def test_a_copy_with_equal_bytes_is_recognised_without_the_journal(tmp_path: Path):
    from photocull.metadata.journal import Journal
    from photocull.metadata.transfer import transfer
    from tests.conftest import save_jpeg, scene

    photo = save_jpeg(tmp_path / "s" / "a.jpg", scene(1, (64, 48)))
    dest = tmp_path / "picks"
    (first,) = transfer([(photo, ())], dest, move=False, journal=Journal(tmp_path / "s"))
    (again,) = transfer([(photo, ())], dest, move=False, journal=Journal(tmp_path / "other"))
    assert (first.status, again.status) == ("written", "unchanged") and "already copied" in again.message
    photo.write_bytes(photo.read_bytes() + b"x")  # a different photo under the same name is still copied
    (third,) = transfer([(photo, ())], dest, move=False, journal=Journal(tmp_path / "other"))
    assert third.status == "written" and sorted(p.name for p in dest.iterdir()) == ["a-1.jpg", "a.jpg"]


def test_keep_and_preset_are_photocull_toml_keys_and_a_file_value_beats_the_preset(tmp_path: Path):
    from photocull.settings import ConfigError, Settings

    s = Settings()
    s.merge({"cull": {"keep": 2, "preset": "darktable", "write": "sidecar"}}, "photocull.toml")
    c = s.with_options({}).cull
    assert (c.keep, c.write, c.sidecar_naming, c.label_picks, c.reject) == (2, "sidecar", "name-ext", True, True)
    assert s.with_options({}).writer_options()["keywords"] is True
    assert s.with_options({}).cull_options("cull").keep == 2
    with pytest.raises(ConfigError, match="not one of"):
        Settings().merge({"cull": {"preset": "picasa"}}, "photocull.toml")
    bad = Settings()
    bad.merge({"cull": {"keep": 1, "top_k": 3}}, "photocull.toml")
    with pytest.raises(ConfigError, match="below --top-k"):
        bad.with_options({})


@needs_exiftool
def test_a_frame_that_is_no_longer_a_reject_loses_photoculls_label_and_keyword_only(burst_shoot: Path):
    cull(burst_shoot, "--preset", "lightroom", "--keep", "1")
    t = tags(burst_shoot / "A3.jpg")
    assert (t["XMP-xmp:Rating"], t["XMP-xmp:Label"], t["XMP-lr:HierarchicalSubject"]) == (-1, "Red", "photocull|reject")
    exiftool_set(burst_shoot / "A3.jpg", "-XMP-lr:HierarchicalSubject+=places|Oslo")
    cull(burst_shoot, "--preset", "lightroom", "--keep", "2")  # A3 (noisy, not failed) is kept now: a 2-star mate
    t = tags(burst_shoot / "A3.jpg")
    assert t["XMP-xmp:Rating"] == 2 and not t.get("XMP-xmp:Label")
    assert t["XMP-lr:HierarchicalSubject"] == "places|Oslo" and "XMP-dc:Subject" not in t
