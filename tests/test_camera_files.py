"""Camera files as they come off the card: RAF and CR3 shoots grouped by their own capture
times, two bodies in different time zones, --clock-offset, and nothing skipped in silence.

Every container is built here (tests/camera_files.py); exiftool, where installed, checks
independently that what the tests built says what they think it says.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photocull.analyse import analyse_path
from photocull.cache.codec import cache_entry, from_cache_entry
from photocull.capture_time import ClockOffset, apply_clock_offsets, parse_clock_offset, parse_exif_datetime
from photocull.cli import app
from photocull.review.session import load_session
from tests.camera_files import cr3, exif_dict, raf
from tests.conftest import scene, shifted

runner = CliRunner()
SAME_MTIME = 1_800_000_000  # as a card reader's copy leaves them: every file the same time


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (SAME_MTIME, SAME_MTIME))
    return path


def _shoot(root: Path, build, ext: str, make: str, model: str, times: list[tuple[datetime, str]], *,
           offset: str | None = None, prefix: str = "IMG_", start: int = 0) -> list[Path]:
    """One body's frames of one scene (a tripod shot re-taken), named in shooting order."""
    base = scene(7, (640, 480))
    out = []
    for k, (when, subsec) in enumerate(times):
        exif = exif_dict(when, subsec=subsec, offset=offset, make=make, model=model, serial=f"{model}-42")
        img = shifted(base, k % 3, (k * 2) % 3)
        out.append(_write(root / f"{prefix}{start + k:04d}{ext}", build(img, exif)))
    return out


def _cull(root: Path, *extra: str, dry: bool = True) -> dict:
    report = root.parent / f"{root.name}-report.json"
    res = runner.invoke(app, ["cull", str(root), *(["--dry-run"] if dry else []), "-q", "--no-faces", "--json", str(report),
                              *extra])
    assert res.exit_code == 0, res.output
    return json.loads(report.read_text(encoding="utf-8"))


def _series(report: dict) -> list[list[str]]:
    return [s["frames"] for s in report["series"]]


def _files(report: dict) -> dict[str, dict]:
    return {f["path"]: f for f in report["files"]}


BURSTS = [(datetime(2026, 6, 1, 10, 0, 0), "00"), (datetime(2026, 6, 1, 10, 0, 0), "50"), (datetime(2026, 6, 1, 10, 0, 1), "00"),
          (datetime(2026, 6, 1, 10, 5, 0), "00"), (datetime(2026, 6, 1, 10, 5, 0), "40"), (datetime(2026, 6, 1, 10, 5, 1), "20")]


@pytest.mark.parametrize("build, ext", [(raf, ".RAF"), (cr3, ".CR3")], ids=["raf", "cr3"])
def test_raw_shoot_is_grouped_by_its_own_capture_times(tmp_path: Path, build, ext: str) -> None:
    """Two bursts of one scene five minutes apart, every file with the same modification time:
    only the times inside the files can tell them apart."""
    root = tmp_path / "card"
    _shoot(root, build, ext, "Canon" if ext == ".CR3" else "FUJIFILM", "Canon EOS R6" if ext == ".CR3" else "X-T5",
           BURSTS, offset="+02:00")
    report = _cull(root)
    files = _files(report)
    assert len(files) == 6 and all(f["time_source"] == "exif" for f in files.values())
    for k, (when, subsec) in enumerate(BURSTS):
        f = files[f"IMG_{k:04d}{ext}"]
        assert f["capture_time"] == pytest.approx(parse_exif_datetime(when.strftime("%Y:%m:%d %H:%M:%S"), subsec, "+02:00"))
        assert f["utc_offset"] == "+02:00" and f["serial"].endswith("-42")
    assert sorted(_series(report)) == [[f"IMG_{k:04d}{ext}" for k in range(3)], [f"IMG_{k:04d}{ext}" for k in range(3, 6)]]


def test_built_containers_say_what_the_tests_think(tmp_path: Path) -> None:
    """exiftool, an independent reader, agrees with the containers' layout."""
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool not installed")
    when = datetime(2026, 6, 1, 10, 0, 0)
    for build, name in ((raf, "a.RAF"), (cr3, "a.CR3")):
        path = _write(tmp_path / name, build(scene(1, (320, 240)), exif_dict(when, subsec="25", offset="-05:00", model="M1")))
        out = subprocess.run(["exiftool", "-s3", "-n", "-FileType", "-SubSecDateTimeOriginal", "-Model", str(path)],
                             capture_output=True, text=True, check=True).stdout.split()
        assert out == [name[2:], "2026:06:01", "10:00:00.25-05:00", "M1"]
        frame, analysis = analyse_path(path, "raw")
        assert (analysis.width, analysis.height) == (320, 240)
        assert frame.capture_time == parse_exif_datetime("2026:06:01 10:00:00", "25", "-05:00")


def test_raw_orientation_and_camera_come_from_the_raw(tmp_path: Path) -> None:
    path = _write(tmp_path / "IMG_1.CR3", cr3(scene(2, (640, 480)), exif_dict(datetime(2026, 1, 2, 3, 4, 5), orientation=6,
                                                                              make="Canon", model="Canon EOS R5", serial="0321")))
    frame, analysis = analyse_path(path, "raw")
    assert (analysis.width, analysis.height) == (480, 640)  # turned upright by the RAW's orientation
    assert (frame.orientation, frame.camera, frame.serial) == (6, "Canon EOS R5", "0321")


def test_two_bodies_in_different_time_zones_sort_by_true_time(tmp_path: Path) -> None:
    """A Canon set to UTC+1 and a Fuji set to UTC+2 shoot the same scene in the same seconds:
    their clocks read an hour apart, their instants interleave."""
    root = tmp_path / "two bodies"
    canon = _shoot(root, cr3, ".CR3", "Canon", "Canon EOS R6",
                   [(datetime(2026, 6, 1, 10, 0, s), "00") for s in (0, 2, 4)], offset="+01:00", prefix="C_")
    fuji = _shoot(root, raf, ".RAF", "FUJIFILM", "X-T5",
                  [(datetime(2026, 6, 1, 11, 0, s), "00") for s in (1, 3)], offset="+02:00", prefix="F_")
    report = _cull(root)
    assert _series(report) == [[canon[0].name, fuji[0].name, canon[1].name, fuji[1].name, canon[2].name]]


def test_clock_offset_corrects_one_body_everywhere(tmp_path: Path) -> None:
    """The Fuji's clock ran ten minutes fast: --clock-offset puts its frames back among the
    Canon's, in the JSON report, the contact sheet and last_run.json (the review page's data);
    a warm run with another correction decodes nothing."""
    root = tmp_path / "clock"
    canon = _shoot(root, cr3, ".CR3", "Canon", "Canon EOS R6", [(datetime(2026, 6, 1, 10, 0, s), "00") for s in (0, 2)],
                   prefix="C_")
    fuji = _shoot(root, raf, ".RAF", "FUJIFILM", "X-T5", [(datetime(2026, 6, 1, 10, 10, s), "00") for s in (1, 3)],
                  prefix="F_")
    before = _cull(root, dry=False)
    assert len(before["series"]) == 2
    sheet = tmp_path / "sheet.html"
    after = _cull(root, "--clock-offset", "X-T5=-00:10:00", "--html", str(sheet), dry=False)
    assert after["totals"]["decoded"] == 0  # the cache keeps the camera's reading; the correction is applied after it
    assert _series(after) == [[canon[0].name, fuji[0].name, canon[1].name, fuji[1].name]]
    b, a = _files(before), _files(after)
    for f in fuji:
        assert a[f.name]["capture_time"] == pytest.approx(b[f.name]["capture_time"] - 600)
        assert a[f.name]["clock_offset"] == -600
    for c in canon:
        assert a[c.name]["capture_time"] == b[c.name]["capture_time"] and a[c.name]["clock_offset"] == 0
    page = sheet.read_text(encoding="utf-8")
    assert "2026-06-01 10:00:01" in page and "10:10:01" not in page and "clock -00:10:00" in page
    session = load_session(root)  # what the review page serves
    times = {e.fr.frame.path.name: (e.fr.frame.capture_time, e.series) for e in session.entries}
    assert times[fuji[0].name] == (a[fuji[0].name]["capture_time"], times[canon[0].name][1])

    (root / "photocull.toml").write_text('[cull]\nclock_offset = ["FUJIFILM X-T5=-00:10:00"]\n')
    assert _series(_cull(root)) == _series(after)  # the same from photocull.toml


def test_bad_clock_offset_is_a_usage_error(tmp_path: Path) -> None:
    root = tmp_path / "s"
    _shoot(root, raf, ".RAF", "FUJIFILM", "X-T5", BURSTS[:1])
    res = runner.invoke(app, ["cull", str(root), "--dry-run", "--clock-offset", "X-T5=10 minutes"])
    assert res.exit_code == 2 and "MODEL=+HH:MM:SS" in res.output
    with pytest.raises(ValueError):
        parse_clock_offset("=+00:00:10")
    with pytest.raises(ValueError):
        parse_clock_offset("X=+00:61:00")
    assert parse_clock_offset("EOS R5=-01:02:03.5") == ClockOffset("EOS R5", -3723.5)


def test_clock_offset_matches_model_camera_or_serial_and_only_file_times(tmp_path: Path) -> None:
    from photocull.records import Frame

    def frame(camera, serial=None, source="exif"):
        return Frame(Path("x"), "raw", 1, 0, 100.0, source, camera=camera, serial=serial)

    frames = [frame("Canon EOS R5"), frame("Nikon Z 8", "3001"), frame("Canon EOS R5", source="file"), frame("Canon EOS R50")]
    apply_clock_offsets(frames, [ClockOffset("eos r5", 10.0), ClockOffset("3001", -5.0)])
    apply_clock_offsets(frames, [ClockOffset("eos r5", 10.0), ClockOffset("3001", -5.0)])  # applying twice changes nothing
    assert [f.capture_time for f in frames] == [110.0, 95.0, 100.0, 100.0]


def test_cache_entries_of_older_capture_readers_are_decoded_again(tmp_path: Path) -> None:
    path = _write(tmp_path / "IMG_1.RAF", raf(scene(1), exif_dict(datetime(2026, 1, 2, 3, 4, 5))))
    frame, analysis = analyse_path(path, "raw")
    frame.clock_offset, frame.capture_time = 30.0, frame.capture_time + 30.0  # a corrected frame is cached uncorrected
    entry = json.loads(json.dumps(cache_entry(frame, analysis)))
    where = dict(path=path, fmt="raw", size=1, mtime_ns=0)
    cached, _ = from_cache_entry(entry, **where)
    assert cached.capture_time == parse_exif_datetime("2026:01:02 03:04:05") and cached.clock_offset == 0
    entry.pop("capture_version")  # what photocull wrote before RAW times were read by exiv2
    assert from_cache_entry(entry, **where) is None


def test_every_file_is_a_frame_or_named(tmp_path: Path) -> None:
    """Videos and documents are counted in a summary line (listed with --verbose); photos that
    cannot be culled are per-file errors saying why; GIF and MPO are frames."""
    from PIL import Image

    root = tmp_path / "card"
    _shoot(root, raf, ".RAF", "FUJIFILM", "X-T5", BURSTS[:1])
    _write(root / "clip.MOV", b"\0\0\0\x14ftypqt  " + b"\0" * 64)
    _write(root / "notes.txt", b"shot list")
    _write(root / "IMG_0000.xmp", b"<x:xmpmeta/>")  # a sidecar: a companion, not a skipped file
    _write(root / "fake.PEF", b"this is not a Pentax file at all, just text")
    bare = Image.new("RGB", (64, 64))
    bare.save(root / "nopreview.SRW", "TIFF")  # a TIFF-shaped RAW with no JPEG inside
    scene(3).save(root / "anim.gif")
    scene(4).save(root / "stereo.mpo", "JPEG", quality=90)
    res = runner.invoke(app, ["cull", str(root), "--dry-run", "-q", "--no-faces"])
    assert res.exit_code == 1, res.output  # some files failed: each is named
    out = " ".join(res.output.split())
    assert "skipped 2 files that are not a photo: 1 × .txt is not a photo format photocull reads; 1 × video (.mov): not culled" in out
    assert "clip.MOV" not in out  # listed only with --verbose
    assert "fake.PEF: not an image" in out
    assert "nopreview.SRW: camera RAW file has no readable embedded JPEG preview" in out
    report = _cull_json(root)
    assert {f["path"] for f in report["files"]} == {"IMG_0000.RAF", "anim.gif", "stereo.mpo"}
    assert {e["path"] for e in report["skipped"]} == {"clip.MOV", "notes.txt"}
    verbose = runner.invoke(app, ["cull", str(root), "--dry-run", "-q", "--no-faces", "--verbose"])
    assert "clip.MOV: video (.mov): not culled" in " ".join(verbose.output.split())


def _cull_json(root: Path) -> dict:
    res = runner.invoke(app, ["cull", str(root), "--dry-run", "-q", "--no-faces", "--json", "-"])
    return json.loads(res.stdout)


def test_motion_photos_are_rated_with_their_video_kept(tmp_path: Path) -> None:
    """Google and Samsung motion photos: the rating goes into the JPEG's metadata, the pixel
    data and the video after the image (with Samsung's trailer) stay byte-identical, undo
    gives the files back as they were."""
    from tests.camera_files import google_motion_photo, mp4, samsung_motion_photo
    from tests.conftest import exif_bytes, scan_data

    root = tmp_path / "phone"
    video = mp4(bytes(range(256)) * 8)
    google = _write(root / "PXL_20260601_100000.MP.jpg",
                    google_motion_photo(scene(1), exif_bytes(datetime(2026, 6, 1, 10, 0, 0)), video))
    samsung = _write(root / "20260601_110000.jpg",
                     samsung_motion_photo(scene(2), exif_bytes(datetime(2026, 6, 1, 11, 0, 0)), video))
    before = {p: p.read_bytes() for p in (google, samsung)}
    res = runner.invoke(app, ["cull", str(root), "-q", "--no-faces"])
    assert res.exit_code == 0, res.output
    for path, old in before.items():
        new = path.read_bytes()
        assert new != old and scan_data(new) == scan_data(old)  # from the first scan on: pixels, then the video tail
    assert google.read_bytes().endswith(video)
    if shutil.which("exiftool"):
        def tags(path: Path, *names: str) -> list[str]:
            return subprocess.run(["exiftool", "-a", "-s3", *(f"-{n}" for n in names), str(path)], capture_output=True,
                                  text=True, check=True).stdout.split()

        assert tags(google, "XMP:Rating", "MotionPhoto", "DirectoryItemLength")[:2] == ["3", "1"]
        assert tags(google, "DirectoryItemLength")[-1] == str(len(video))
        embedded = subprocess.run(["exiftool", "-b", "-EmbeddedVideoFile", str(samsung)], capture_output=True, check=True).stdout
        assert embedded == video
    assert runner.invoke(app, ["undo", str(root)]).exit_code == 0
    assert samsung.read_bytes() == before[samsung]  # it had no XMP: the segments added are taken out again
    assert scan_data(google.read_bytes()) == scan_data(before[google])  # its XMP packet is restored by value
    if shutil.which("exiftool"):
        assert tags(google, "XMP:Rating", "MotionPhoto") == ["1"]


def test_heic_capture_time_offset_and_orientation(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    import piexif

    from tests.camera_files import exif_dict

    pillow_heif.register_heif_opener()
    path = tmp_path / "IMG_0001.HEIC"
    exif = exif_dict(datetime(2026, 6, 1, 10, 0, 0), subsec="5", offset="-07:00", make="Apple", model="iPhone 15 Pro",
                     orientation=6)
    scene(5, (640, 480)).save(path, exif=piexif.dump(exif), quality=80)
    frame, analysis = analyse_path(path, "heic")
    assert frame.time_source == "exif" and frame.utc_offset == "-07:00"
    assert frame.capture_time == parse_exif_datetime("2026:06:01 10:00:00", "5", "-07:00")
    assert frame.camera == "Apple iPhone 15 Pro"
    # pillow-heif turns the picture by the HEIF's rotation box (which matches the EXIF tag) and
    # then reports it upright: turned once, never twice.
    assert (analysis.width, analysis.height) == (480, 640)


def test_mpo_is_rated_and_its_second_picture_kept(tmp_path: Path) -> None:
    from tests.conftest import exif_bytes, scan_data

    root = tmp_path / "stereo"
    root.mkdir()
    path = root / "DSCF0001.MPO"
    scene(1).save(path, "MPO", save_all=True, append_images=[scene(2)], exif=exif_bytes(datetime(2026, 6, 1, 10, 0, 0)))
    old = path.read_bytes()
    res = runner.invoke(app, ["cull", str(root), "-q", "--no-faces"])
    assert res.exit_code == 0, res.output
    new = path.read_bytes()
    assert new != old and scan_data(new) == scan_data(old)  # both pictures, from the first one's scan on
    if shutil.which("exiftool"):
        second = [subprocess.run(["exiftool", "-b", "-MPImage2", "-"], input=data, capture_output=True, check=True).stdout
                  for data in (old, new)]
        assert second[0] and second[0] == second[1]  # the MP index still points at the second picture


def test_offsets_and_labels() -> None:
    from photocull.capture_time import capture_label, format_clock, normal_offset
    from photocull.records import Frame

    local = parse_exif_datetime("2026:06:01 10:00:00")
    assert parse_exif_datetime("2026:06:01 10:00:00", None, "+09:00") == local - 9 * 3600
    assert parse_exif_datetime("2026:06:01 10:00:00", "5", b"-0330\x00") == local + 0.5 + 3.5 * 3600
    assert parse_exif_datetime("2026:06:01 10:00:00", None, "+25:00") == local  # no clock is 25 h off UTC: ignored
    assert parse_exif_datetime("2026:06:01 10:00:00", None, "   :  ") == local
    assert (normal_offset("+0900"), normal_offset("garbage"), normal_offset(None)) == ("+09:00", None, None)
    assert format_clock(-600) == "-00:10:00" and format_clock(3723.5) == "+01:02:03.50"
    frame = Frame(Path("a.jpg"), "jpeg", 1, 0, parse_exif_datetime("2026:06:01 10:00:00", "25", "+09:00") - 600, "exif",
                  utc_offset="+09:00", clock_offset=-600.0)
    assert capture_label(frame) == "2026-06-01 09:50:00.25 +09:00 (clock -00:10:00)"
    frame.time_source = "file"
    assert capture_label(frame).startswith("file time ")


def test_tiff_shaped_raw_without_exiv2_falls_back_to_pillow(tmp_path: Path, monkeypatch) -> None:
    """Where no pyexiv2 wheel exists, a CR2/NEF/DNG still gives its time through Pillow."""
    import io

    import piexif
    from PIL import Image

    from photocull.decode import read_capture
    from photocull.inputs import raw as raw_module

    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "TIFF", exif=piexif.dump(exif_dict(datetime(2026, 4, 5, 6, 7, 8), subsec="5",
                                                                            offset="+01:00", model="D850")))
    path = _write(tmp_path / "DSC_0001.NEF", buf.getvalue())
    with_exiv2 = read_capture(path, "raw")
    monkeypatch.setattr(raw_module, "read_exiv2", lambda p: {})
    without = read_capture(path, "raw")
    assert with_exiv2 == without
    assert without.capture_time == parse_exif_datetime("2026:04:05 06:07:08", "5", "+01:00") and without.camera == "TestCam D850"
