"""photocull review: the local culling page (server unit tests and a real headless Chromium)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from tests.report_schema import valid_report
from photocull.cli import app as cli_app
from photocull.metadata.journal import Journal
from photocull.metadata.undo import undo
from photocull.review.images import ThumbCache, full_image
from photocull.review.server import ReviewApp, make_server
from photocull.review.session import NoRun

from conftest import pristine_sample, save_jpeg, scene

TOKEN = "test-token-123"
HOST = {"Host": "127.0.0.1"}
WRITE = {**HOST, "X-Photocull-Token": TOKEN}
MARKUP_NAME = "<img src=x onerror=alert(1)>.jpg"
runner = CliRunner()


def exiftool(path: Path, *tags: str) -> dict:
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool not installed")
    out = subprocess.run(["exiftool", "-j", "-n", *(f"-{t}" for t in tags), str(path)], capture_output=True, check=True, text=True)
    return json.loads(out.stdout)[0]


@pytest.fixture(scope="session")
def culled_template(tmp_path_factory) -> Path:
    """The sample shoot (plus a file named like markup) culled once; tests get copies."""
    dst = tmp_path_factory.mktemp("review") / "shoot"
    pristine_sample(dst)  # unrated: ratings the README's run left in assets/ would count as the photographer's
    shutil.copy(dst / "IMG_0017.JPG", dst / MARKUP_NAME)
    res = runner.invoke(cli_app, ["cull", str(dst), "-q", "--scorer", "technical", "--no-embeddings"])
    assert res.exit_code == 0, res.output
    return dst


@pytest.fixture
def shoot(culled_template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "shoot"
    shutil.copytree(culled_template, dst)  # last_run.json still names the template as root: review ignores it
    return dst


@pytest.fixture
def app(shoot: Path) -> ReviewApp:
    return ReviewApp(shoot, token=TOKEN)


def frame_id(app: ReviewApp, name: str) -> int:
    return next(e.id for e in app.session.entries if e.path.name == name)


def decide(app: ReviewApp, i: int, action: str, stars: int | None = None):
    body = json.dumps({"id": i, "action": action, "stars": stars}).encode()
    return app.handle("POST", "/api/decide", WRITE, body)


# ---------------------------------------------------------------- request checks

def test_token_required_on_every_route(app: ReviewApp):
    for route in ("/", "/static/review.js", "/static/review.css", "/api/shoot", "/thumb/0", "/full/0"):
        assert app.handle("GET", route, HOST).status == 403, route
        assert app.handle("GET", route + "?t=wrong", HOST).status == 403, route
        assert app.handle("GET", f"{route}?t={TOKEN}", HOST).status == 200, route
    assert decide(app, 0, "stars", 3).status == 200
    no_token = app.handle("POST", "/api/decide", HOST, b'{"id":0,"action":"stars","stars":3}')
    assert no_token.status == 403
    # the token in the URL is not enough for a write: a cross-site form cannot set the header
    assert app.handle("POST", f"/api/decide?t={TOKEN}", HOST, b'{"id":0,"action":"stars","stars":3}').status == 403


def test_host_header_checked_against_dns_rebinding(app: ReviewApp):
    app.port = 8765
    ok = f"/api/shoot?t={TOKEN}"
    assert app.handle("GET", ok, {"Host": "127.0.0.1:8765"}).status == 200
    assert app.handle("GET", ok, {"Host": "localhost:8765"}).status == 200
    for host in ("evil.example:8765", "127.0.0.1.evil.example", "localhost:9999", ""):
        assert app.handle("GET", ok, {"Host": host}).status == 403, host
    assert app.handle("GET", ok, {}).status == 403
    foreign = {**WRITE, "Host": "127.0.0.1:8765", "Origin": "http://evil.example"}
    assert app.handle("POST", "/api/decide", foreign, b'{"id":0,"action":"stars","stars":2}').status == 403


def test_paths_outside_the_routes_are_not_found(app: ReviewApp):
    for route in ("/static/../server.py", "/static/index.html/../../decisions.py", "/thumb/..%2f..%2fetc%2fpasswd",
                  "/thumb/-1", "/thumb/99999", "/full/1e3", "/etc/passwd", "/static/%2e%2e/server.py"):
        r = app.handle("GET", f"{route}?t={TOKEN}", HOST)
        assert r.status == 404, route
    assert app.handle("PUT", f"/api/decide?t={TOKEN}", WRITE).status == 405
    assert app.handle("POST", f"/api/shoot?t={TOKEN}", WRITE).status == 404


def test_crafted_run_paths_outside_the_shoot_are_refused(shoot: Path, tmp_path: Path):
    outside = save_jpeg(tmp_path / "outside.jpg", scene(5))
    (shoot / "link.jpg").symlink_to(outside)
    saved = shoot / ".photocull" / "last_run.json"
    data = json.loads(saved.read_text())
    template = next(f for f in data["files"] if f["path"] == "IMG_0002.JPG")
    for k, rel in enumerate(("../outside.jpg", "link.jpg")):
        data["files"].append({**template, "path": rel, "series": 900 + k})
        data["series"].append({"id": 900 + k, "frames": [rel]})
    saved.write_text(json.dumps(data))
    app = ReviewApp(shoot, token=TOKEN)
    names = [f["name"] for f in json.loads(app.handle("GET", f"/api/shoot?t={TOKEN}", HOST).body)["frames"]]
    assert "IMG_0002.JPG" in names and not any("outside" in n or n == "link.jpg" for n in names)
    assert len(app.session.refused) == 2
    before = outside.read_bytes()
    for i in range(len(app.session.entries) + 3):
        decide(app, i, "stars", 5)
    assert outside.read_bytes() == before


def test_kept_rating_and_why_reach_the_page(shoot: Path):
    saved = shoot / ".photocull" / "last_run.json"
    data = json.loads(saved.read_text())
    row = next(f for f in data["files"] if f["path"] == "IMG_0002.JPG")
    row["write"] = {"status": "kept", "message": "kept your rating (3★)", "targets": []}
    saved.write_text(json.dumps(valid_report(data)))  # "kept" is a status the schema allows
    app = ReviewApp(shoot, token=TOKEN)
    frames = {f["name"]: f for f in json.loads(app.handle("GET", f"/api/shoot?t={TOKEN}", HOST).body)["frames"]}
    assert frames["IMG_0002.JPG"]["kept"] == "kept your rating (3★)"
    assert [n for n, f in frames.items() if f["kept"]] == ["IMG_0002.JPG"]
    assert frames["IMG_0002.JPG"]["why"] == row["why"]


def test_frame_replaced_by_symlink_after_load_is_refused(app: ReviewApp, shoot: Path, tmp_path: Path):
    outside = save_jpeg(tmp_path / "elsewhere.jpg", scene(6))
    i = frame_id(app, "IMG_0003.JPG")
    (shoot / "IMG_0003.JPG").unlink()
    (shoot / "IMG_0003.JPG").symlink_to(outside)
    assert app.handle("GET", f"/full/{i}?t={TOKEN}", HOST).status == 404
    assert decide(app, i, "stars", 5).status == 404
    assert exiftool(outside, "Rating").get("Rating") is None


def test_no_saved_run_is_a_clear_usage_error(tmp_path: Path):
    save_jpeg(tmp_path / "a.jpg", scene(1))
    with pytest.raises(NoRun, match="photocull cull"):
        ReviewApp(tmp_path)
    res = runner.invoke(cli_app, ["review", str(tmp_path), "--no-browser"])
    assert res.exit_code == 2 and "no saved run" in " ".join(res.output.split())


def test_shoot_json_is_numbered_like_the_report_and_names_are_data(app: ReviewApp, shoot: Path):
    r = app.handle("GET", f"/api/shoot?t={TOKEN}", HOST)
    assert r.content_type.startswith("application/json")
    data = json.loads(r.body)
    saved = valid_report(shoot / ".photocull" / "last_run.json")
    series_of = {f["path"]: f["series"] for f in saved["files"]}
    assert {f["name"]: f["series"] for f in data["frames"]} == series_of  # the same numbers (records.series_number)
    assert all(f["why"] for f in data["frames"])  # every rated frame says why
    assert MARKUP_NAME in [f["name"] for f in data["frames"]]
    page = app.handle("GET", f"/?t={TOKEN}", HOST).body.decode()
    assert "onerror" not in page  # names never reach the HTML; the script inserts them as text


# ---------------------------------------------------------------- images

def test_thumbnail_served_and_cached_in_the_shoot(app: ReviewApp, shoot: Path):
    r = app.handle("GET", f"/thumb/0?t={TOKEN}", HOST)
    assert r.status == 200 and r.content_type == "image/jpeg"
    img = Image.open(io.BytesIO(r.body))
    assert max(img.size) <= 320
    assert app.thumbs.made == 1 and len(list((shoot / ".photocull" / "review-thumbs").glob("*.jpg"))) == 1
    assert app.handle("GET", f"/thumb/0?t={TOKEN}", HOST).body == r.body
    assert app.thumbs.made == 1  # second request from the cache
    again = ReviewApp(shoot, token=TOKEN)  # a new session reuses the files
    again.handle("GET", f"/thumb/0?t={TOKEN}", HOST)
    assert again.thumbs.made == 0


def test_corrupt_or_missing_photo_is_one_clear_error_not_a_crash(app: ReviewApp, shoot: Path):
    bad = shoot / "IMG_0007.JPG"
    bad.write_bytes(bad.read_bytes()[:300])  # truncated inside its headers
    i = frame_id(app, bad.name)
    for route in (f"/thumb/{i}", f"/full/{i}"):
        r = app.handle("GET", f"{route}?t={TOKEN}", HOST)
        assert r.status == 422 and b"IMG_0007.JPG" in r.body, route
    r = decide(app, i, "stars", 4)
    assert r.status == 409 and json.loads(r.body)["status"] == "skipped"
    (shoot / "IMG_0008.JPG").unlink()
    assert app.handle("GET", f"/thumb/{frame_id(app, 'IMG_0008.JPG')}?t={TOKEN}", HOST).status == 404
    assert app.handle("GET", f"/api/shoot?t={TOKEN}", HOST).status == 200  # the listing still loads


def test_thumbnail_cache_in_memory_without_photocull_folder(tmp_path: Path):
    p = save_jpeg(tmp_path / "a.jpg", scene(2))
    cache = ThumbCache(tmp_path)
    assert cache.folder is None
    assert cache.get(p, "jpeg") == cache.get(p, "jpeg") and cache.made == 1
    assert not (tmp_path / ".photocull").exists()


def test_thumbnail_folder_linked_out_of_the_shoot_is_not_written(app: ReviewApp, shoot: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (shoot / ".photocull" / "review-thumbs").symlink_to(elsewhere)
    assert app.handle("GET", f"/thumb/1?t={TOKEN}", HOST).status == 200
    assert list(elsewhere.iterdir()) == []


def test_sidecar_formats_get_their_decision_in_an_xmp_sidecar(tmp_path: Path):
    from photocull.review.decisions import Change, ReviewJournal, read_decision, write_decision

    png = tmp_path / "a.png"
    scene(4).save(png)
    journal = ReviewJournal(tmp_path)
    out = write_decision(png, "png", (), Change(4, False, "Green", None), journal)
    assert out.status == "written" and (tmp_path / "a.xmp").is_file()
    d = read_decision(png, "png")
    assert (d.stars, d.pick, d.rejected) == (4, True, False)
    assert exiftool(tmp_path / "a.xmp", "XMP-xmp:Rating")["Rating"] == 4
    assert [r["source"] for r in journal.records() if r["kind"] == "write"] == ["review"]
    undo(tmp_path)
    assert not (tmp_path / "a.xmp").exists()


def test_full_image_has_orientation_applied(tmp_path: Path, app: ReviewApp, shoot: Path):
    stored = scene(3, (640, 480))
    p = save_jpeg(tmp_path / "rot.jpg", stored, orientation=6)
    up = Image.open(io.BytesIO(full_image(p, "jpeg")))
    assert up.size == (480, 640)
    want = ImageOps.exif_transpose(Image.open(p)).convert("RGB")
    small = [np.asarray(im.convert("L").resize((48, 64)), np.float32) for im in (up, want)]
    assert np.abs(small[0] - small[1]).mean() < 4  # same picture, only re-encoded
    # sample frame with orientation 8: stored W x H, shown H x W
    stored_w, stored_h = Image.open(shoot / "IMG_0001.JPG").size
    assert Image.open(shoot / "IMG_0001.JPG").getexif().get(0x0112) == 8
    r = app.handle("GET", f"/full/{frame_id(app, 'IMG_0001.JPG')}?t={TOKEN}", HOST)
    assert Image.open(io.BytesIO(r.body)).size == (stored_h, stored_w)
    # upright JPEG: the original bytes, untouched
    r = app.handle("GET", f"/full/{frame_id(app, 'IMG_0002.JPG')}?t={TOKEN}", HOST)
    assert r.body == (shoot / "IMG_0002.JPG").read_bytes()


# ---------------------------------------------------------------- writes

def test_decisions_are_written_journaled_as_review_and_undone(app: ReviewApp, shoot: Path, tmp_path: Path):
    p = shoot / "IMG_0004.JPG"
    i = frame_id(app, p.name)
    after_cull = p.read_bytes()
    r = decide(app, i, "stars", 5)
    assert r.status == 200 and json.loads(r.body)["frame"]["stars"] == 5
    assert exiftool(p, "EXIF:Rating", "XMP:Rating")["Rating"] == 5
    r = decide(app, i, "reject")
    assert json.loads(r.body)["frame"]["rejected"] is True
    assert subprocess.run(["exiftool", "-s3", "-XMP-xmp:Rating", str(p)], capture_output=True, text=True).stdout.strip() == "-1"
    assert subprocess.run(["exiftool", "-s3", "-EXIF:Rating", str(p)], capture_output=True, text=True).stdout.strip() == "1"
    r = decide(app, i, "pick")
    assert exiftool(p, "XMP-xmp:Label")["Label"] == "Green"
    assert json.loads(r.body)["frame"]["pick"] is True and json.loads(r.body)["frame"]["rejected"] is False
    recs = [x for x in Journal(shoot).records() if x["kind"] == "write" and x["run"] == app.journal.run_id]
    assert len(recs) == 3 and all(x["source"] == "review" and x["path"] == p.name for x in recs)
    outcomes = undo(shoot, run=app.journal.run_id)
    assert [o.status for o in outcomes] == ["written"] * 3
    assert p.read_bytes() == after_cull
    res = runner.invoke(cli_app, ["undo", str(shoot)])  # the cull's writes too: back to the sample
    assert res.exit_code == 0, res.output
    assert p.read_bytes() == (pristine_sample(tmp_path / "pristine") / p.name).read_bytes()


def test_bad_decisions_are_refused(app: ReviewApp, shoot: Path):
    before = (shoot / "IMG_0005.JPG").read_bytes()
    i = frame_id(app, "IMG_0005.JPG")
    assert decide(app, i, "stars", 9).status == 400
    assert decide(app, i, "delete").status == 400
    assert app.handle("POST", "/api/decide", WRITE, b"not json").status == 400
    assert app.handle("POST", "/api/decide", WRITE, b"{" + b" " * 5000 + b"}").status == 413
    assert (shoot / "IMG_0005.JPG").read_bytes() == before


def test_read_only_file_is_a_conflict_with_a_message(app: ReviewApp, shoot: Path):
    p = shoot / "IMG_0006.JPG"
    p.chmod(0o444)
    r = decide(app, frame_id(app, p.name), "stars", 5)
    assert r.status == 409 and "read-only" in json.loads(r.body)["message"]


def test_real_server_on_loopback(app: ReviewApp):
    httpd = make_server(app, 0)
    assert httpd.server_address[0] == "127.0.0.1"
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        with urllib.request.urlopen(app.url(), timeout=10) as r:
            assert r.status == 200 and "default-src 'none'" in r.headers["Content-Security-Policy"]
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(f"http://127.0.0.1:{app.port}/api/shoot", timeout=10)
        assert exc.value.code == 403
    finally:
        httpd.shutdown()
        httpd.server_close()


# ---------------------------------------------------------------- issue 23: counts, cleared ratings, cache, requests

def test_picks_counted_from_the_run_not_only_green_labels(app: ReviewApp, shoot: Path):
    frames = json.loads(app.handle("GET", f"/api/shoot?t={TOKEN}", HOST).body)["frames"]
    run_picks = [e.id for e in app.session.entries if e.fr.rating and e.fr.rating.is_pick]
    assert len(run_picks) >= 5  # the cull made picks and wrote their stars (no Green label without --label-picks)
    assert not any(exiftool(app.session.entries[i].path, "XMP-xmp:Label").get("Label") for i in run_picks[:2])
    assert sorted(f["id"] for f in frames if f["pick"]) == run_picks
    # un-flagging a photocull pick is the photographer's decision: it stays un-picked, in a new session too
    i = run_picks[0]
    r = json.loads(decide(app, i, "unflag").body)
    assert r["status"] == "written" and r["frame"]["pick"] is False
    again = ReviewApp(shoot, token=TOKEN)
    assert next(f for f in json.loads(again.handle("GET", f"/api/shoot?t={TOKEN}", HOST).body)["frames"] if f["id"] == i)["pick"] is False
    # its undo gives the pick back
    r = json.loads(app.handle("POST", "/api/undo", WRITE, b"{}").body)
    assert r["status"] == "undone" and r["frame"]["pick"] is True


def test_a_rating_cleared_in_review_is_kept_by_the_next_cull(app: ReviewApp, shoot: Path):
    p = shoot / "IMG_0002.JPG"
    i = frame_id(app, p.name)
    assert exiftool(p, "EXIF:Rating")["Rating"] > 0  # the cull rated it
    assert json.loads(decide(app, i, "stars", 0).body)["status"] == "written"
    assert exiftool(p, "EXIF:Rating")["Rating"] == 0
    res = runner.invoke(cli_app, ["cull", str(shoot), "-q", "--scorer", "technical", "--no-embeddings", "--json", "-"])
    assert res.exit_code == 0, res.output
    row = next(f for f in json.loads(res.output[res.output.index("{"):])["files"] if f["path"] == p.name)
    assert row["write"]["status"] == "kept" and "cleared" in row["write"]["message"]
    assert exiftool(p, "EXIF:Rating")["Rating"] == 0 and xmp_rating(p) == "0"


def test_planted_thumbnail_under_a_predictable_key_is_not_served(app: ReviewApp, shoot: Path, tmp_path: Path, monkeypatch):
    import hashlib

    p = shoot / "IMG_0003.JPG"
    i = frame_id(app, p.name)
    folder = shoot / ".photocull" / "review-thumbs"
    folder.mkdir(exist_ok=True)
    st = os.stat(p)
    planted = io.BytesIO()
    Image.new("RGB", (64, 48), (255, 0, 255)).save(planted, "JPEG")
    # the key the page used to derive from the file alone: a card could compute (and plant) it
    old = hashlib.sha256(f"{p.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:32]
    for name in (old, hashlib.sha256(p.read_bytes()).hexdigest()):
        (folder / f"{name}.jpg").write_bytes(planted.getvalue())
    r = app.handle("GET", f"/thumb/{i}?t={TOKEN}", HOST)
    assert r.status == 200 and r.body != planted.getvalue()
    assert Image.open(io.BytesIO(r.body)).getpixel((5, 5)) != (255, 0, 255)
    # the key needs this computer's secret: another computer derives another name
    key_here = ThumbCache(shoot).key(p, st)
    assert (folder / f"{key_here}.jpg").read_bytes() == r.body  # cached under the name only this computer derives
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "other-computer"))
    assert ThumbCache(shoot).key(p, st) != key_here


def test_writes_need_the_header_token_not_the_address(app: ReviewApp, shoot: Path):
    before = (shoot / "IMG_0005.JPG").read_bytes()
    body = json.dumps({"id": frame_id(app, "IMG_0005.JPG"), "action": "stars", "stars": 5}).encode()
    for headers in ({**HOST, "X-Photocull-Token": ""}, {**HOST, "X-Photocull-Token": "wrong"}, HOST):
        assert app.handle("POST", f"/api/decide?t={TOKEN}", headers, body).status == 403, headers
    assert (shoot / "IMG_0005.JPG").read_bytes() == before


def test_hostile_bodies_are_a_400_over_a_real_socket(app: ReviewApp, shoot: Path):
    import http.client

    httpd = make_server(app, 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    before = (shoot / "IMG_0005.JPG").read_bytes()
    i = frame_id(app, "IMG_0005.JPG")
    bodies = [f'{{"id": {i}, "action": "stars", "stars": 1e999}}', '{"id": 1e999, "action": "pick"}',
              "[" * 2000 + "]" * 2000, '{"id": ' + "[" * 1900 + "]" * 1900 + "}", f'{{"id": {i}, "action": "stars", "stars": NaN}}',
              f'{{"id": {i}, "action": "stars", "stars": true}}', f'{{"id": {i}, "action": "stars", "stars": 4.0}}',
              f'{{"id": {i}, "action": "label", "label": ["Red"]}}', "\"just a string\"", "\udcff"]
    try:
        for body in bodies:
            conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
            conn.request("POST", "/api/decide", body.encode("utf-8", "surrogatepass"),
                         {"X-Photocull-Token": TOKEN, "Content-Type": "application/json"})
            r = conn.getresponse()
            assert r.status == 400 and r.read().startswith(b"bad request"), body[:40]
            conn.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert (shoot / "IMG_0005.JPG").read_bytes() == before


def test_browser_opened_without_the_token_on_its_command_line(shoot: Path, monkeypatch):
    import photocull.review.server as server

    opened: list[str] = []
    monkeypatch.setattr(server.webbrowser, "open", lambda url: opened.append(url))
    monkeypatch.setattr(server, "BYE_GRACE_S", 0.2)
    said: list[str] = []
    t = threading.Thread(target=server.serve, args=(shoot,), kwargs={"announce": said.append}, daemon=True)
    t.start()
    deadline = __import__("time").monotonic() + 30
    while not opened and __import__("time").monotonic() < deadline:
        __import__("time").sleep(0.05)
    assert opened and opened[0].startswith("file://")
    launcher = Path(urllib.request.url2pathname(urllib.parse.urlsplit(opened[0]).path))
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(said[0].split()[3]).query)["t"][0]
    assert token not in opened[0] and token in launcher.read_text()
    assert launcher.stat().st_mode & 0o077 == 0 and launcher.parent.stat().st_mode & 0o077 == 0  # private to this user
    port = urllib.parse.urlsplit(said[0].split()[3]).port
    app_id = 1
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/decide", method="POST",
                                 data=json.dumps({"id": app_id, "action": "reject"}).encode(), headers={"X-Photocull-Token": token})
    assert json.loads(urllib.request.urlopen(req, timeout=10).read())["frame"]["rejected"] is True
    bye = urllib.request.Request(f"http://127.0.0.1:{port}/api/bye", method="POST", data=b"{}", headers={"X-Photocull-Token": token})
    urllib.request.urlopen(bye, timeout=10).read()
    t.join(30)
    assert not t.is_alive()  # the page closed: the server ended, its launcher removed
    assert not launcher.exists()
    assert said[-1].startswith("Reviewed shoot: 1 decision on 1 of ") and "0 kept, 1 rejected" in said[-1]
    total = len(ReviewApp(shoot).session.entries)
    assert said[-1].endswith(f"{total - 1} left untouched.")


# ---------------------------------------------------------------- the run's writer settings

def test_review_writes_with_the_writer_options_of_the_cull(culled_template: Path, tmp_path: Path):
    shoot = tmp_path / "dt"
    pristine_sample(shoot)
    res = runner.invoke(cli_app, ["cull", str(shoot), "-q", "--scorer", "technical", "--no-embeddings",
                                  "--preset", "darktable", "--write", "sidecar"])
    assert res.exit_code == 0, res.output
    saved = json.loads((shoot / ".photocull" / "writer.json").read_text())
    assert saved == {"targets": ["sidecar"], "sidecar_naming": "name-ext", "preserve_mtime": True, "reject": True,
                     "keywords": True}
    p = shoot / "IMG_0004.JPG"
    assert (shoot / "IMG_0004.JPG.xmp").is_file() and not (shoot / "IMG_0004.xmp").exists()
    jpeg = p.read_bytes()
    app = ReviewApp(shoot, token=TOKEN)
    i = frame_id(app, p.name)
    r = json.loads(decide(app, i, "reject").body)
    assert r["status"] == "written" and r["frame"]["rejected"] is True
    assert not (shoot / "IMG_0004.xmp").exists() and p.read_bytes() == jpeg  # the sidecar the cull used, the JPEG untouched
    sc = exiftool(shoot / "IMG_0004.JPG.xmp", "XMP-xmp:Rating", "XMP-lr:HierarchicalSubject")
    assert sc["Rating"] == -1 and "photocull|reject" in str(sc["HierarchicalSubject"])
    r = json.loads(decide(app, i, "pick").body)
    sc = exiftool(shoot / "IMG_0004.JPG.xmp", "XMP-xmp:Label", "XMP-lr:HierarchicalSubject")
    assert r["frame"]["pick"] is True and sc["Label"] == "Green" and "photocull|pick" in str(sc["HierarchicalSubject"])


def test_hostile_or_missing_writer_options_fall_back_to_the_defaults(shoot: Path):
    from photocull.review.run_writer import RunWriter, load_run_writer

    saved = shoot / ".photocull" / "writer.json"
    assert load_run_writer(shoot) == RunWriter()  # the template's cull used the defaults
    for bad in ('{"targets": ["exif", "../../etc"], "sidecar_naming": "name", "preserve_mtime": true, "reject": true, "keywords": false}',
                '{"targets": ["xmp"], "sidecar_naming": "../x", "preserve_mtime": true, "reject": true, "keywords": false}',
                "[" * 3000, "not json"):
        saved.write_text(bad)
        w = load_run_writer(shoot)
        assert w == RunWriter() and "defaults" in w.note, bad[:30]
    saved.unlink()
    assert "older photocull" in load_run_writer(shoot).note


def test_face_strip_serves_each_face_at_100_percent(app: ReviewApp, shoot: Path):
    from photocull.cache.store import Cache

    p = shoot / "IMG_0006.JPG"
    i = frame_id(app, p.name)
    W, H = ImageOps.exif_transpose(Image.open(p)).size
    report = {"faces": [{"box": [100, 80, 60, 70], "sharpness": 1.0, "eyes_open": False, "eyes_found": 0},
                        {"box": [300, 90, 40, 50], "sharpness": 2.0, "eyes_open": True, "eyes_found": 2}],
              "main_face_blurred": False, "eyes_closed": True, "size": [W // 2, H // 2], "frame_sharpness": 1.0, "notes": []}
    with Cache.for_shoot(shoot) as c:
        c.put_analysis(c.identify(p), {"faces": report})
    fresh = ReviewApp(shoot, token=TOKEN)
    faces = json.loads(fresh.handle("GET", f"/api/faces/{i}?t={TOKEN}", HOST).body)["faces"]
    assert [f["verdict"] for f in faces] == ["eyes closed", "eyes open"]
    crop = Image.open(io.BytesIO(fresh.handle("GET", f"/face/{i}/0?t={TOKEN}", HOST).body))
    # the face box at the photo's own scale (x2) with its margin: 100 %, not an enlarged thumbnail
    assert crop.size == (int((100 + 60 * 1.35) * 2) - int((100 - 0.35 * 60) * 2), int((80 + 70 * 1.35) * 2) - int((80 - 0.35 * 70) * 2))
    assert fresh.handle("GET", f"/face/{i}/2?t={TOKEN}", HOST).status == 404
    assert json.loads(fresh.handle("GET", f"/api/faces/{frame_id(fresh, 'IMG_0007.JPG')}?t={TOKEN}", HOST).body)["faces"] == []
    # a crafted box outside the image: no strip, no error
    report["faces"][0]["box"] = [10**6, 0, 5, 5]
    with Cache.for_shoot(shoot) as c:
        c.put_analysis(c.identify(p), {"faces": report})
    assert json.loads(ReviewApp(shoot, token=TOKEN).handle("GET", f"/api/faces/{i}?t={TOKEN}", HOST).body)["faces"] == []


# ---------------------------------------------------------------- real browser (Debian's chromium + chromium-driver)

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium and chromium-driver not installed")


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    """One headless Chromium for this module's page tests, at a fixed window size."""
    webdriver = pytest.importorskip("selenium.webdriver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--force-device-scale-factor=1",
              f"--user-data-dir={tmp_path_factory.mktemp('chrome')}", "--window-size=1400,1000"):
        opts.add_argument(a)
    d = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    d.set_window_size(1400, 1000)
    yield d
    d.quit()


class Page:
    """The review page of ``app`` served on loopback and opened in ``driver``; waits on conditions only."""

    def __init__(self, app: ReviewApp, driver) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.app, self.d = app, driver
        self.httpd = make_server(app, 0)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.wait = WebDriverWait(driver, 30)
        driver.get(app.url())
        self.wait.until(lambda d: self.js("return document.body.dataset.ready") == "1")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def js(self, script: str, *args):
        return self.d.execute_script(script, *args)

    def keys(self, *keys: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self.d).send_keys(*keys).perform()

    def chord(self, modifier: str, key: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self.d).key_down(modifier).send_keys(key).key_up(modifier).perform()

    def open_all_stacks(self) -> None:
        """Shift+S: every series expanded, every frame on the page, one after the other."""
        from selenium.webdriver.common.keys import Keys

        self.chord(Keys.SHIFT, "s")
        self.wait.until(lambda d: len(self.visible_ids()) == len(self.app.session.entries))

    def writes(self) -> int:
        return int(self.js("return document.body.dataset.writes || 0"))

    def decide(self, *keys: str, modifier: str | None = None) -> None:
        """Press a decision key and wait until the server has answered it."""
        n = self.writes()
        if modifier:
            self.chord(modifier, keys[0])
        else:
            self.keys(*keys)
        self.wait.until(lambda d: self.writes() > n)

    def sel(self) -> int:
        return int(self.js("return +document.body.dataset.sel"))

    def path(self, i: int) -> Path:
        return self.app.session.entries[i].path

    def visible_ids(self) -> list[int]:
        return self.js("return Array.from(document.querySelectorAll('#grid .frame:not(.hidden)')).map(c => +c.dataset.id)")

    def view(self, name: str) -> None:
        self.wait.until(lambda d: self.js("return document.body.dataset.view") == name)


@pytest.fixture
def page(app: ReviewApp, driver):
    p = Page(app, driver)
    yield p
    p.close()


def xmp_rating(p: Path) -> str:
    return subprocess.run(["exiftool", "-s3", "-XMP-xmp:Rating", str(p)], capture_output=True, text=True).stdout.strip()


@needs_browser
def test_stacks_show_their_pick_and_open_with_one_key(page: Page):
    app = page.app
    multi = {}
    for e in app.session.entries:
        if e.in_series:
            multi.setdefault(e.series, []).append(e)
    assert multi, "the sample shoot has series"
    shown = page.visible_ids()
    for number, members in multi.items():
        best = members[0]  # the run's order: best first
        assert best.fr.rating.rank == 1
        in_view = [i for i in shown if app.session.entries[i].series == number and app.session.entries[i].in_series]
        assert in_view == [best.id], number  # collapsed to its pick
        badge = page.js("return document.querySelector('.frame[data-id=\"%d\"] .stack').textContent" % best.id)
        assert badge == f"▣ {len(members)} frames"
    assert len(shown) == len(app.session.entries) - sum(len(m) - 1 for m in multi.values())
    # progress counts series (singles are series of one)
    n_series = len({(e.series if e.series else -e.id - 1) for e in app.session.entries})
    assert page.js("return document.getElementById('progress').textContent") == f"0 of {n_series} series reviewed"
    # S opens the selected frame's stack; Shift+S opens them all
    number, members = next(iter(multi.items()))
    page.js("arguments[0].click()", page.d.find_element("css selector", f'.frame[data-id="{members[0].id}"]'))
    page.keys("s")
    page.wait.until(lambda d: all(m.id in page.visible_ids() for m in members))
    page.keys("s")
    page.wait.until(lambda d: [m.id for m in members if m.id in page.visible_ids()] == [members[0].id])
    page.chord("\ue008", "s")  # Shift+S
    page.wait.until(lambda d: len(page.visible_ids()) == len(app.session.entries))
    # the Picks counter counts the run's picks (the cull wrote stars only, no Green label: issue 23)
    picks = sum(1 for e in app.session.entries if e.fr.rating and e.fr.rating.is_pick)
    assert picks > 0 and page.js("return document.getElementById('n-picks').textContent") == str(picks)


@needs_browser
def test_lightroom_keys_write_the_files_advance_and_undo(page: Page, shoot: Path):
    from selenium.webdriver.common.keys import Keys

    app = page.app
    page.open_all_stacks()
    order = page.visible_ids()
    a, b = order[0], order[1]
    before_a = page.path(a).read_bytes()
    assert page.sel() == a
    r = 3 if exiftool(page.path(a), "EXIF:Rating").get("Rating") != 3 else 5  # a change (the cull rated it)
    page.decide(str(r))  # a rating writes the file and advances to the next frame
    assert exiftool(page.path(a), "EXIF:Rating")["Rating"] == r and xmp_rating(page.path(a)) == str(r)
    assert page.sel() == b
    page.decide("6")  # 6: the Red label
    assert exiftool(page.path(b), "XMP-xmp:Label")["Label"] == "Red"
    assert page.sel() == order[2]
    c = order[2]
    k = 4 if exiftool(page.path(c), "EXIF:Rating").get("Rating") != 4 else 2  # a change (the cull rated it)
    page.decide(str(k), modifier=Keys.SHIFT)  # Shift+key: decide without advancing
    assert exiftool(page.path(c), "EXIF:Rating")["Rating"] == k and page.sel() == c
    def label(p: Path) -> str | None:
        return exiftool(p, "XMP-xmp:Label").get("Label")

    p = page.path(c)
    steps = (("x", lambda: xmp_rating(p) == "-1" and label(p) is None),
             ("p", lambda: xmp_rating(p) == "0" and label(p) == "Green"),  # a reject's rating is gone: P starts from 0
             ("u", lambda: xmp_rating(p) == "0" and not label(p)),
             ("9", lambda: label(p) == "Blue"))
    for key, check in steps:
        page.decide(key, modifier=Keys.SHIFT)
        assert check(), key
    assert page.sel() == c
    # Ctrl+Z, several levels, each restored through the journal
    for i in range(len(steps) - 1, 0, -1):
        page.decide("z", modifier=Keys.CONTROL)
        assert steps[i - 1][1](), f"undoing {steps[i][0]}"
    page.decide("z", modifier=Keys.CONTROL)  # the x
    assert exiftool(p, "EXIF:Rating")["Rating"] == k and xmp_rating(p) == str(k)
    page.decide("z", modifier=Keys.CONTROL)  # Shift+k
    page.decide("z", modifier=Keys.CONTROL)  # 6
    assert label(page.path(b)) is None
    page.decide("z", modifier=Keys.CONTROL)  # the rating of the first frame
    assert page.path(a).read_bytes() == before_a != page.path(b).read_bytes()
    assert page.sel() == a, page.js("return document.getElementById('status').textContent")  # undo shows the frame it put back
    recs = [r for r in Journal(shoot).records() if r.get("run") == app.journal.run_id and r["kind"] == "write"]
    assert recs and all(r["source"] == "review" for r in recs)
    # caps lock would be the same as Shift; the indicator says auto-advance is on
    assert page.js("return document.getElementById('advance').textContent") == "auto-advance on"


@needs_browser
def test_filters_overlay_loupe_and_survey(page: Page):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    app = page.app
    page.open_all_stacks()
    first = page.sel()
    page.decide("x")
    second = page.sel()
    page.decide("5")
    Select(page.d.find_element("id", "f-flag")).select_by_value("reject")
    page.wait.until(lambda d: page.visible_ids() == [first])
    Select(page.d.find_element("id", "f-flag")).select_by_value("any")
    Select(page.d.find_element("id", "f-stars")).select_by_value("5")
    five = [e.id for e in app.session.entries if (f := app.frame_json(e))["stars"] == 5 and not f["rejected"]]
    assert second in five
    page.wait.until(lambda d: page.visible_ids() == five)
    Select(page.d.find_element("id", "f-stars")).select_by_value("0")
    Select(page.d.find_element("id", "f-problem")).select_by_value("yes")
    with_problems = [e.id for e in app.session.entries if (e.fr.score and e.fr.score.problems) or e.fr.errors]
    page.wait.until(lambda d: page.visible_ids() == with_problems)
    Select(page.d.find_element("id", "f-problem")).select_by_value("any")
    page.wait.until(lambda d: len(page.visible_ids()) == len(app.session.entries))
    # ? shows the keys; Esc hides them
    page.keys("?")
    page.wait.until(lambda d: page.js("return !document.getElementById('overlay').hidden"))
    assert "Ctrl" in page.d.find_element("id", "overlay").text
    page.keys(Keys.ESCAPE)
    page.wait.until(lambda d: page.js("return document.getElementById('overlay').hidden"))
    # E: the loupe, fitted to the screen; Z: 100 %; G: back to the grid
    page.js("arguments[0].click()", page.d.find_element("css selector", f'.frame[data-id="{second}"]'))
    page.keys("e")
    page.view("loupe")
    page.wait.until(lambda d: page.js("var i=document.getElementById('loupe-img');return i.complete&&i.naturalWidth>0"))
    w = ImageOps.exif_transpose(Image.open(page.path(second))).width
    assert page.js("return document.getElementById('loupe-img').getBoundingClientRect().width") <= 1400
    page.keys("z")
    page.wait.until(lambda d: page.js("var i=document.getElementById('loupe-img');return i.complete&&i.naturalWidth") == w)
    assert page.js("return document.getElementById('loupe-img').getBoundingClientRect().width") == w  # 100 %
    page.keys("z", "g")
    page.view("grid")
    # N: the whole series side by side
    series_of = app.session.entries[second]
    mates = [e.id for e in app.session.entries if e.series == series_of.series and e.in_series == series_of.in_series]
    page.keys("n")
    page.view("survey")
    page.wait.until(lambda d: page.js("return Array.from(document.querySelectorAll('.scell')).map(c => +c.dataset.id)") == mates)
    page.wait.until(lambda d: page.js("return Array.from(document.querySelectorAll('.scell img')).every(i => i.complete && i.naturalWidth > 0)"))
    page.keys(Keys.ESCAPE)
    page.view("grid")


@needs_browser
def test_compare_shows_two_frames_at_100_percent_that_pan_together(page: Page):
    app = page.app
    multi = [e for e in app.session.entries if e.in_series and e.fr.rating.rank == 2]
    cand = next(e for e in multi if ImageOps.exif_transpose(Image.open(e.path)).size
                == ImageOps.exif_transpose(Image.open(app.session.entries[e.id - 1].path)).size)
    pick = app.session.entries[cand.id - 1]
    assert pick.series == cand.series and pick.fr.rating.rank == 1
    page.chord("\ue008", "s")
    page.wait.until(lambda d: len(page.visible_ids()) == len(app.session.entries))
    page.js("arguments[0].click()", page.d.find_element("css selector", f'.frame[data-id="{cand.id}"]'))
    page.keys("c")
    page.view("compare")
    page.wait.until(lambda d: page.js("return Array.from(document.querySelectorAll('.cpanel')).map(p => +p.dataset.id)") == [cand.id, pick.id])
    page.wait.until(lambda d: page.js("return Array.from(document.querySelectorAll('.cscroll img')).every(i => i.complete && i.naturalWidth > 0)"))
    sizes = page.js("return Array.from(document.querySelectorAll('.cscroll img')).map(i => [i.naturalWidth, i.getBoundingClientRect().width])")
    want = ImageOps.exif_transpose(Image.open(cand.path)).width
    assert sizes == [[want, want], [want, want]]  # both at 100 %
    # panning one pans the other to the same place
    pos = "var s=document.querySelectorAll('.cscroll'); return [[s[0].scrollLeft, s[0].scrollTop], [s[1].scrollLeft, s[1].scrollTop]]"
    page.js("var s=document.querySelectorAll('.cscroll')[0]; s.scrollLeft=37; s.scrollTop=21;")
    page.wait.until(lambda d: (p := page.js(pos))[0][0] == 37 and p[1] == p[0])
    page.js("var s=document.querySelectorAll('.cscroll')[1]; s.scrollLeft=5; s.scrollTop=9;")
    page.wait.until(lambda d: (p := page.js(pos))[1][0] == 5 and p[0] == p[1])
    # Z: both to fit together, and back
    page.keys("z")
    page.wait.until(lambda d: page.js("return Array.from(document.querySelectorAll('.cscroll')).every(s => s.classList.contains('fit'))"))
    page.keys("z")
    page.wait.until(lambda d: page.js("return document.querySelectorAll('.cscroll.fit').length") == 0
                    and len(page.js("return document.querySelectorAll('.cscroll')")) == 2)
    # a decision in compare goes to the selected (left) frame
    page.decide("2", modifier="\ue008")
    assert exiftool(cand.path, "EXIF:Rating")["Rating"] == 2


@needs_browser
def test_face_strip_in_the_loupe_shows_crops_at_100_percent(app: ReviewApp, shoot: Path, driver):
    from photocull.cache.store import Cache

    p = shoot / "IMG_0006.JPG"
    i = frame_id(app, p.name)
    W, H = ImageOps.exif_transpose(Image.open(p)).size
    report = {"faces": [{"box": [200, 150, 80, 90], "sharpness": 1.0, "eyes_open": False, "eyes_found": 0}],
              "main_face_blurred": False, "eyes_closed": True, "size": [W, H], "frame_sharpness": 1.0, "notes": []}
    with Cache.for_shoot(shoot) as c:
        c.put_analysis(c.identify(p), {"faces": report})
    page = Page(app, driver)
    try:
        page.chord("\ue008", "s")
        page.wait.until(lambda d: len(page.visible_ids()) == len(app.session.entries))
        page.js("arguments[0].click()", page.d.find_element("css selector", f'.frame[data-id="{i}"]'))
        page.keys("e")
        page.wait.until(lambda d: page.js("var i=document.querySelector('#faces img');return !!i&&i.complete&&i.naturalWidth>0"))
        got = page.js("var i=document.querySelector('#faces img');return [i.naturalWidth, i.getBoundingClientRect().width - 4,"
                      "document.querySelector('#faces figcaption').textContent, document.getElementById('faces').hidden]")
        want_w = int(200 + 80 * 1.35) - int(200 - 0.35 * 80)
        assert got == [want_w, want_w, "eyes closed", False]  # at 100 % (2 px border each side)
        page.keys("\ue014")  # the next frame has no faces: no strip
        page.wait.until(lambda d: page.js("return document.getElementById('faces').hidden"))
    finally:
        page.close()


@needs_browser
def test_label_keys_clear_key_and_space(page: Page):
    from selenium.webdriver.common.keys import Keys

    page.open_all_stacks()
    i = page.sel()
    p = page.path(i)
    for key, label in (("7", "Yellow"), ("8", "Green"), ("8", None)):  # the same label again: off
        page.decide(key, modifier=Keys.SHIFT)
        assert (exiftool(p, "XMP-xmp:Label").get("Label") or None) == label, key  # off: an empty label
    assert exiftool(p, "EXIF:Rating")["Rating"] > 0  # the cull's stars
    page.decide("0", modifier=Keys.SHIFT)  # 0 clears the rating (a decision a later cull keeps)
    assert exiftool(p, "EXIF:Rating")["Rating"] == 0 and xmp_rating(p) == "0"
    assert page.js(f"return document.querySelector('.frame[data-id=\"{i}\"]').dataset.stars") == "0"
    page.keys(" ")  # Space: the loupe, and back
    page.view("loupe")
    page.wait.until(lambda d: page.js("return document.getElementById('loupe-img').dataset.id") == str(i))
    page.keys(" ")
    page.view("grid")


@needs_browser
def test_compare_up_to_four_frames_chosen_with_ctrl_click(page: Page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    app = page.app
    page.open_all_stacks()
    chosen = [e.id for e in app.session.entries if e.path.name in ("IMG_0002.JPG", "IMG_0003.JPG", "IMG_0004.JPG")]
    for i in chosen:
        card = page.d.find_element("css selector", f'.frame[data-id="{i}"]')
        page.js("arguments[0].scrollIntoView({block: 'center'})", card)
        ActionChains(page.d).key_down(Keys.CONTROL).click(card).key_up(Keys.CONTROL).perform()
    page.wait.until(lambda d: sorted(page.js("return Array.from(document.querySelectorAll('.frame.marked')).map(c => +c.dataset.id)")) == sorted(chosen))
    page.keys("c")
    page.view("compare")
    page.wait.until(lambda d: page.js("return Array.from(document.querySelectorAll('.cpanel')).map(p => +p.dataset.id)") == chosen)
    page.wait.until(lambda d: page.js("return Array.from(document.querySelectorAll('.cscroll img')).every(i => i.complete && i.naturalWidth > 0)"))
    page.js("var s=document.querySelectorAll('.cscroll')[2]; s.scrollLeft=50;")
    page.wait.until(lambda d: page.js("return Array.from(document.querySelectorAll('.cscroll')).map(s => s.scrollLeft)") == [50, 50, 50])
