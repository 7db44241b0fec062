"""Untrusted input on a card: odd names, links out of the shoot, tiny or padded files,
settings out of range, unwritable outputs, interrupts (issue 14)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from photocull.cli import app
from photocull.pipeline.executor import ExecutorDefaults
from tests.conftest import REPO, save_jpeg, scene

runner = CliRunner()
FAST = ["-q", "--no-embeddings", "--scorer", "technical", "--no-faces"]


def _shoot(root: Path, n: int, size: tuple[int, int] = (160, 120)) -> Path:
    """``n`` distinct frames a minute apart (every one a single: each gets a rating)."""
    for i in range(n):
        save_jpeg(root / f"f{i:03d}.jpg", scene(i, size), datetime(2026, 3, 1, 10, i % 60, 0))
    return root


def _rating(path: Path | bytes) -> int | None:
    with Image.open(path) as im:
        return im.getexif().get(0x4746)


def _cli(args: list[str], cwd: Path | None = None, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """The real ``photocull`` entry point in a child process (what a user's shell runs)."""
    code = "import sys; from photocull.cli import main; sys.argv[0] = 'photocull'; main()"
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=full_env, capture_output=True,
                          timeout=timeout)


# ---------------------------------------------------------------- #4 names that are not UTF-8

@pytest.mark.parametrize("cache", ["--cache", "--no-cache"])
def test_name_that_is_not_utf8_is_rated_reported_and_undone(tmp_path: Path, cache: str):
    shoot = _shoot(tmp_path / "shoot", 3)
    odd = os.fsencode(shoot) + b"/b\xff.jpg"
    os.rename(os.fsencode(shoot / "f001.jpg"), odd)
    before = open(odd, "rb").read()
    report = tmp_path / "report.json"
    res = _cli(["cull", str(shoot), *FAST, cache, "--json", str(report)], PYTHONIOENCODING="utf-8")
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert b"Traceback" not in res.stderr
    assert _rating(odd) is not None
    data = json.loads(report.read_text(encoding="utf-8"))  # valid UTF-8 JSON
    paths = {os.fsencode(f["path"]) for f in data["files"]}
    assert b"b\xff.jpg" in paths and len(paths) == 3
    if cache == "--cache":
        with sqlite3.connect(shoot / ".photocull" / "cache.sqlite") as db:
            keys = {k if isinstance(k, bytes) else k.encode() for (k,) in db.execute("SELECT key FROM paths")}
        assert b"b\xff.jpg" in keys
        again = _cli(["score", str(shoot), *FAST, "--json", "-"])  # warm: served from the cache
        assert json.loads(again.stdout)["totals"]["decoded"] == 0
    html = tmp_path / "sheet.html"
    shown = _cli(["report", str(shoot), "--html", str(html)], PYTHONIOENCODING="utf-8")
    assert shown.returncode == 0, shown.stderr.decode(errors="replace")
    assert 'data-name="b\ufffd.jpg"' in html.read_text(encoding="utf-8")
    undone = _cli(["undo", str(shoot)])
    assert undone.returncode == 0, undone.stderr.decode(errors="replace")
    assert open(odd, "rb").read() == before


# ---------------------------------------------------------------- #3 links out of the shoot

def test_link_out_of_the_shoot_rates_nothing_outside(tmp_path: Path):
    shoot = _shoot(tmp_path / "shoot", 2)
    album = _shoot(tmp_path / "album", 2)  # a sibling album the card's link leads to
    outside = save_jpeg(tmp_path / "elsewhere" / "private.jpg", scene(50, (160, 120)), datetime(2026, 3, 1, 11, 0, 0))
    (shoot / "up").symlink_to("..")
    (shoot / "private.jpg").symlink_to(outside)
    before = {p: p.read_bytes() for p in [*album.iterdir(), outside]}
    report = tmp_path / "report.json"
    res = runner.invoke(app, ["cull", str(shoot), *FAST, "--json", str(report)])
    assert res.exit_code == 0, res.output
    assert {p: p.read_bytes() for p in before} == before  # byte-identical
    data = json.loads(report.read_text())
    assert sorted(f["path"] for f in data["files"]) == ["f000.jpg", "f001.jpg"]
    warned = {w["path"]: w["message"] for w in data["warnings"]}
    assert "outside the shoot" in warned["private.jpg"] and "--follow-links" in warned["private.jpg"]
    assert "loop" in warned["up"] or "outside the shoot" in warned["up"]


def test_follow_links_is_a_setting_and_loops_are_loops(tmp_path: Path):
    from photocull.scan import scan

    shoot = _shoot(tmp_path / "shoot", 1)
    outside = save_jpeg(tmp_path / "elsewhere" / "x.jpg", scene(50, (160, 120)))
    (shoot / "x.jpg").symlink_to(outside)
    (shoot / "self.jpg").symlink_to("self.jpg")  # a link to itself
    (shoot / "sub").mkdir()
    (shoot / "sub" / "back").symlink_to("..")  # a folder link to a folder above it
    (shoot / "inside.jpg").symlink_to("f000.jpg")  # stays in the shoot: followed
    found = scan(shoot)
    assert sorted(f.path.name for f in found.files) == ["f000.jpg", "inside.jpg"]
    messages = {w.path.name: w.message for w in found.warnings}
    assert messages["self.jpg"].startswith("link loop") and messages["back"].startswith("link loop")
    assert not any("permission" in e.message for e in found.errors)
    assert "x.jpg" in {f.path.name for f in scan(shoot, follow_links=True).files}
    (shoot / "photocull.toml").write_text("[cull]\nfollow_links = true\n")
    from photocull.settings import load

    assert load(shoot).cull_options("cull").follow_links is True


# ---------------------------------------------------------------- #6 a 'photocull' folder in the working directory

_EDITABLE_SITE = '''
import importlib.util, sys
from importlib.machinery import PathFinder
class _Editable:  # an editable install: sys.path is searched first, the source tree is the fallback
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname == "photocull":  # (site-packages left out: it may hold a regular install)
            spec = PathFinder.find_spec(fullname, [p for p in sys.path if "site-packages" not in p])
            return spec or importlib.util.spec_from_file_location(
                "photocull", {init!r}, submodule_search_locations=[{pkg!r}])
        return None
sys.meta_path.insert(0, _Editable)
'''


def test_photocull_folder_in_working_directory_does_not_kill_workers(tmp_path: Path):
    site = tmp_path / "site"
    site.mkdir()
    pkg = REPO / "photocull"
    (site / "sitecustomize.py").write_text(_EDITABLE_SITE.format(init=str(pkg / "__init__.py"), pkg=str(pkg)))
    script = site / "photocull_script.py"  # like the installed script: sys.path[0] is its folder, not the cwd
    script.write_text("import sys\nfrom photocull.cli import main\nif __name__ == '__main__':\n    sys.exit(main())\n")
    work = tmp_path / "work"
    (work / "photocull").mkdir(parents=True)  # e.g. the folder that holds a clone
    _shoot(work / "shoot", 14, (96, 72))  # over PARALLEL_MIN_FILES: the pool starts
    env = {**os.environ, "PYTHONPATH": str(site)}
    res = subprocess.run([sys.executable, str(script), "score", "shoot", *FAST, "--workers", "2", "--json", "-"],
                         cwd=work, env=env, capture_output=True, timeout=180)
    err = res.stderr.decode(errors="replace")
    assert res.returncode == 0, err[-3000:]
    assert "BrokenProcessPool" not in err and "Traceback" not in err
    data = json.loads(res.stdout)
    assert data["totals"]["decoded"] == 14 and not data["errors"]


# ---------------------------------------------------------------- #11 photocull.toml out of range

@pytest.mark.parametrize("text, key", [
    ("[cull]\nworkers = 48\n", "workers"),  # 48 decode processes on a small machine
    ("[cull]\nworkers = 100000\n", "workers"),
    ("[cull]\ntop_k = -5\n", "top_k"),
    ("[stars]\nfailed_stars = 5\n", "failed_stars"),  # failed frames above picks
    ("[stars]\nfailed_stars = 9\n", "failed_stars"),
    ("[stars]\nother_stars = 4\n", "other_stars"),  # mates above the lowest pick
    ("[stars]\nother_stars = 1\nfailed_stars = 2\n", "failed_stars"),
    ("[stars]\nfive_star = 0.8\nfour_star = 0.5\n", "four_star"),
    ("[cull]\nhash_threshold = 65.0\n", "hash_threshold"),
    ("[cull]\nbatch_size = 0\n", "batch_size"),
    ("[technical]\nstructure_blur_ev = 0\n", "structure_blur_ev"),  # every frame "half" of itself: a crash
])
def test_settings_out_of_range_stop_before_any_work(tmp_path: Path, monkeypatch, text: str, key: str):
    from photocull.settings import MAX_WORKERS

    if "48" in text and MAX_WORKERS >= 48:
        pytest.skip("this machine has enough cores for 48 workers")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    shoot = _shoot(tmp_path / "shoot", 2)
    toml = shoot / "photocull.toml"
    toml.write_text(text)
    before = {p: p.read_bytes() for p in shoot.glob("*.jpg")}
    res = runner.invoke(app, ["cull", str(shoot), *FAST])
    assert res.exit_code == 2, res.output
    said = " ".join(res.stderr.split())
    assert str(toml) in "".join(res.stderr.split()) and key in said
    assert "allowed" in said or "above" in said or "over 1" in said
    assert not (shoot / ".photocull").exists()  # no work began: no cache, no journal
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.parametrize("text, key", [
    ("[technical]\nblur_rel_ev = nan\n", "blur_rel_ev"),  # accepted before: no frame was ever blurred
    ("[technical]\nstructure_noise_rel = inf\n", "structure_noise_rel"),
    ("[cull]\nhash_threshold = nan\n", "hash_threshold"),
])
def test_settings_that_are_no_number_stop_before_any_work(tmp_path: Path, monkeypatch, text: str, key: str):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    shoot = _shoot(tmp_path / "shoot", 2)
    (shoot / "photocull.toml").write_text(text)
    res = runner.invoke(app, ["cull", str(shoot), *FAST])
    assert res.exit_code == 2, res.output
    said = " ".join(res.stderr.split())
    assert key in said and "finite number" in said and "Traceback" not in res.output
    assert not (shoot / ".photocull").exists()


# ---------------------------------------------------------------- #12 messages, not tracebacks

@pytest.mark.parametrize("flag, where", [
    ("--json", "a_file/report.json"),  # a file where a folder should be
    ("--json", "no_such_folder/report.json"),
    ("--json", "."),  # a folder
    ("--html", "a_file/sub/sheet.html"),
])
def test_unwritable_report_path_stops_before_any_photo_is_touched(tmp_path: Path, flag: str, where: str):
    shoot = _shoot(tmp_path / "shoot", 2)
    (tmp_path / "a_file").write_text("x")
    before = {p: p.read_bytes() for p in shoot.glob("*.jpg")}
    target = tmp_path / where if where != "." else tmp_path
    res = runner.invoke(app, ["cull", str(shoot), *FAST, flag, str(target)])
    assert res.exit_code == 2, res.output
    said = " ".join(res.stderr.split())
    assert flag in said and "nothing was done" in said and "Traceback" not in res.output
    assert {p: p.read_bytes() for p in before} == before
    assert not (shoot / ".photocull").exists()


def test_report_command_checks_its_output_paths_too(tmp_path: Path):
    shoot = _shoot(tmp_path / "shoot", 1)
    assert runner.invoke(app, ["score", str(shoot), *FAST]).exit_code == 0
    (tmp_path / "a_file").write_text("x")
    for flag in ("--json", "--html"):
        res = runner.invoke(app, ["report", str(shoot), flag, str(tmp_path / "a_file" / "out")])
        assert res.exit_code == 2 and "is not a folder" in " ".join(res.stderr.split()), res.output


def test_weights_that_are_no_checkpoint_get_a_message(tmp_path: Path):
    shoot = _shoot(tmp_path / "shoot", 1)
    junk = tmp_path / "model.safetensors"
    junk.write_bytes(b"not a checkpoint at all")
    res = runner.invoke(app, ["cull", str(shoot), "-q", "--no-embeddings", "--scorer", "fgaesq", "--weights", str(junk)])
    assert res.exit_code == 2
    said = " ".join(res.stderr.split())
    assert "not an FGAesQ checkpoint" in said and str(junk) in "".join(res.stderr.split())
    assert _rating(shoot / "f000.jpg") is None


# ---------------------------------------------------------------- #13 interrupted work

class _CtrlCAfter(ExecutorDefaults):
    """An in-process executor on which the user presses Ctrl-C after ``n`` files."""

    def __init__(self, n: int):
        self.n = n

    def __call__(self, workers=None, **options):  # stands in for the LocalExecutor class
        return self

    def start(self, expected: int) -> None:
        pass

    def map(self, fn, items, arg, *, progress=None, cancel=None, batch_size=None):
        for k, item in enumerate(items):
            if k == self.n:
                raise KeyboardInterrupt
            yield fn(item, arg)

    def close(self) -> None:
        pass


def test_ctrl_c_while_decoding_keeps_what_was_done(tmp_path: Path, monkeypatch):
    import photocull.pipeline as pipeline

    shoot = _shoot(tmp_path / "shoot", 7)
    before = {p: p.read_bytes() for p in shoot.glob("*.jpg")}
    monkeypatch.setattr(pipeline, "LocalExecutor", _CtrlCAfter(4))
    res = runner.invoke(app, ["cull", str(shoot), *FAST])
    assert res.exit_code == 130, res.output
    said = " ".join(res.stderr.split())
    assert "interrupted: 4 of 7 files analysed are kept in the cache; run again to resume" in said
    assert "Traceback" not in res.output
    assert {p: p.read_bytes() for p in before} == before  # nothing written
    with sqlite3.connect(shoot / ".photocull" / "cache.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM analysis").fetchone()[0] == 4
    monkeypatch.undo()
    res = runner.invoke(app, ["score", str(shoot), *FAST, "--json", "-"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["totals"]["decoded"] == 3  # resumed: only the rest decoded


def _descendants(pid: int) -> set[int]:
    """Living (not zombie) processes below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_workers_do_not_outlive_the_main_process(tmp_path: Path, how: str):
    """kill -9 of the main process, or Ctrl-C (SIGINT to the whole process group, as a
    terminal sends it): the decode workers are gone within seconds."""
    import signal
    import time

    shoot = tmp_path / "shoot"
    shoot.mkdir()
    data = (save_jpeg(tmp_path / "big.jpg", scene(1, (2400, 1800)))).read_bytes()
    for k in range(120):  # enough decoding that the run is still busy when it is stopped
        (shoot / f"IMG_{k:04d}.jpg").write_bytes(data)
    code = "import sys; from photocull.cli import main; sys.argv[0] = 'photocull'; main()"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", code, "score", str(shoot), *FAST, "--workers", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
            # the two workers (forked directly, or from a forkserver, + resource tracker)
            workers = _descendants(proc.pid)
            time.sleep(0.05)
        assert len(workers) >= 2, "the pool never started"
        time.sleep(1.0)
        workers = _descendants(proc.pid)
        assert proc.poll() is None, "the run ended before it could be stopped"
        if how == "SIGKILL":
            proc.kill()
            proc.wait()  # (its stderr stays open while anything that inherited it lives)
        else:
            os.killpg(proc.pid, signal.SIGINT)
            err = proc.communicate(timeout=30)[1]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        left = [p for p in workers if _alive(p)]
        names = [Path(f"/proc/{p}/cmdline").read_bytes()[:200] for p in left]
        assert not left, f"still running 5 s after the main process was stopped: {names}"
        if how == "SIGINT":
            said = " ".join(err.decode().split())
            assert proc.returncode == 130 and "warning: interrupted" in said and "Traceback" not in said, said
    finally:
        proc.kill()
        for p in workers:
            if _alive(p):
                os.kill(p, signal.SIGKILL)


# ---------------------------------------------------------------- #14 small images, data after the image

def _mp4(payload: bytes) -> bytes:
    """A minimal ISO base media file (ftyp + mdat boxes), as a phone appends to a motion photo."""
    import struct

    return (struct.pack(">I", 24) + b"ftypmp42" + b"\0\0\0\0" + b"mp42isom"
            + struct.pack(">I", 8 + len(payload)) + b"mdat" + payload)


@pytest.mark.skipif(not __import__("shutil").which("exiftool"), reason="exiftool is the independent judge")
def test_trailing_zeros_and_motion_photos_are_rated_and_keep_their_tail(tmp_path: Path):
    from tests.conftest import jpeg_bytes, scan_data

    shoot = tmp_path / "shoot"
    shoot.mkdir()
    video = _mp4(bytes(range(256)) * 64)
    tails = {"zeros.jpg": b"\0" * 5000, "motion.jpg": video}
    for k, (name, tail) in enumerate(tails.items()):
        (shoot / name).write_bytes(jpeg_bytes(scene(k, (160, 120))) + tail)
    (shoot / "cut.jpg").write_bytes(jpeg_bytes(scene(7, (160, 120))) + video[:-100])  # a copy cut short
    before = {p.name: p.read_bytes() for p in shoot.iterdir()}
    res = runner.invoke(app, ["cull", str(shoot), *FAST, "--json", str(tmp_path / "r.json")])
    data = json.loads((tmp_path / "r.json").read_text())
    status = {f["path"]: f["write"]["status"] for f in data["files"]}
    assert status == {"cut.jpg": "skipped", "motion.jpg": "written", "zeros.jpg": "written"}, res.output
    assert (shoot / "cut.jpg").read_bytes() == before["cut.jpg"]
    for name, tail in tails.items():
        after = (shoot / name).read_bytes()
        assert after.endswith(tail) and scan_data(after) == scan_data(before[name])  # pixels and tail kept
        out = subprocess.run(["exiftool", "-s3", "-XMP:Rating", "-EXIF:Rating", str(shoot / name)],
                             capture_output=True, text=True, check=True).stdout.split()
        assert len(out) == 2 and out[0] == out[1] and 1 <= int(out[0]) <= 5, out


def test_images_too_small_to_judge_get_a_clear_message(tmp_path: Path):
    shoot = _shoot(tmp_path / "shoot", 1)
    save_jpeg(shoot / "icon.jpg", scene(3, (40, 30)), datetime(2026, 3, 1, 12, 0, 0))
    save_jpeg(shoot / "tiny.jpg", scene(4, (8, 8)), datetime(2026, 3, 1, 12, 5, 0))
    res = runner.invoke(app, ["score", str(shoot), *FAST, "--json", "-"])
    data = json.loads(res.stdout)
    errors = {e["path"]: e["message"] for e in data["errors"]}
    assert "40x30 pixels, too small to judge" in errors["icon.jpg"] and "unexpected" not in errors["icon.jpg"]
    assert "8x8 pixels" in errors["tiny.jpg"]
    assert [f["path"] for f in data["files"]] == ["f000.jpg"]


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"", p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def test_dry_run_leaves_the_card_untouched(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    shoot = _shoot(tmp_path / "shoot", 3)
    before = _tree(shoot)
    for _ in range(2):  # the second run is served from the user cache
        res = runner.invoke(app, ["cull", str(shoot), *FAST, "--dry-run", "--json", "-"])
        assert res.exit_code == 0, res.output
        assert _tree(shoot) == before  # no .photocull/, no cache.sqlite, no last_run.json
    assert json.loads(res.stdout)["totals"]["decoded"] == 0
    assert (tmp_path / "user-cache" / "photocull" / "cache.sqlite").is_file()


@pytest.mark.parametrize("length", [231, 245])  # characters; 5 more bytes (the limit is 255 bytes)
def test_long_names_are_rated(tmp_path: Path, length: int):
    shoot = _shoot(tmp_path / "shoot", 1)
    long = shoot / ("é" * 5 + "x" * (length - 9) + ".jpg")
    (shoot / "f000.jpg").rename(long)
    res = runner.invoke(app, ["cull", str(shoot), *FAST, "--write", "exif,xmp"])
    assert res.exit_code == 0, res.output
    assert _rating(long) is not None
    assert [p.name for p in shoot.iterdir() if p.name != ".photocull"] == [long.name]  # no temp file left


def test_warnings_and_errors_go_to_stderr(tmp_path: Path):
    shoot = _shoot(tmp_path / "shoot", 2)
    (shoot / "notes.jpg").write_text("not a photo")  # an error
    (shoot / "up").symlink_to("..")  # a warning
    res = runner.invoke(app, ["cull", str(shoot), *FAST, "--dry-run"])
    assert res.exit_code == 1, res.output
    assert "error" in res.stderr and "notes.jpg" in res.stderr and "warning" in res.stderr
    assert not [line for line in res.stdout.splitlines() if line.startswith(("error", "warning"))]
    assert "f000.jpg" in res.stdout  # the result table stays on stdout
