"""photocull review: the local culling page (server unit tests and a real headless Chromium)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from tests.report_schema import valid_report
from photocull.cli import app as cli_app
from photocull.metadata.journal import Journal, undo
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


# ---------------------------------------------------------------- real browser

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium and chromium-driver not installed")
def test_culling_in_headless_chromium(app: ReviewApp, shoot: Path, tmp_path: Path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome'}",
              "--window-size=1400,1000"):
        opts.add_argument(a)
    httpd = make_server(app, 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        driver.get(app.url())
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        cards = driver.find_elements(By.CSS_SELECTOR, ".frame")
        assert len(cards) == len(app.session.entries)
        headings = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "section h2")]
        assert headings[0].startswith("Series ") and headings[-1] == "Singles"
        # the markup-named file is shown as text, not run as markup
        names = [n.text for n in driver.find_elements(By.CSS_SELECTOR, ".frame .name")]
        assert MARKUP_NAME in names and not driver.find_elements(By.CSS_SELECTOR, ".name img")
        # every rated frame says why it got its place, in the words of the JSON report
        whys = [(app.session.entries[int(c.get_attribute("data-id"))].fr.rating.why,
                 [w.text for w in c.find_elements(By.CSS_SELECTOR, ".why")]) for c in cards]
        assert whys and all(want and got == [want] for want, got in whys)
        wait.until(lambda d: d.execute_script(
            "var i=document.querySelector('.frame .thumb img');return i.complete&&i.naturalWidth>0"))
        body = driver.find_element(By.TAG_NAME, "body")

        def selected() -> Path:
            sid = int(driver.find_element(By.CSS_SELECTOR, ".frame.sel").get_attribute("data-id"))
            return app.session.entries[sid].path

        def press(key: str) -> None:
            card = driver.find_element(By.CSS_SELECTOR, ".frame.sel")
            n = int(card.get_attribute("data-written") or 0)
            body.send_keys(key)
            wait.until(lambda d: int(card.get_attribute("data-written") or 0) > n)

        body.send_keys(Keys.ARROW_RIGHT)
        first = selected()
        assert first == app.session.entries[int(cards[1].get_attribute("data-id"))].path
        press("5")
        assert exiftool(first, "EXIF:Rating")["Rating"] == 5
        body.send_keys(Keys.ARROW_RIGHT)
        second = selected()
        press("x")
        assert subprocess.run(["exiftool", "-s3", "-XMP-xmp:Rating", str(second)], capture_output=True, text=True).stdout.strip() == "-1"
        body.send_keys(Keys.ARROW_DOWN)
        third = selected()
        assert third not in (first, second)
        press("p")
        assert exiftool(third, "XMP-xmp:Label")["Label"] == "Green"
        # filters: rejects shows exactly the rejected frame
        driver.find_element(By.CSS_SELECTOR, 'button[data-filter="rejects"]').click()
        visible = [c for c in driver.find_elements(By.CSS_SELECTOR, ".frame") if c.is_displayed()]
        assert [app.session.entries[int(c.get_attribute("data-id"))].path for c in visible] == [second]
        driver.find_element(By.CSS_SELECTOR, 'button[data-filter="all"]').click()
        assert selected() == second  # the filter moved the selection to the only frame it showed; "all" keeps it
        # the loupe shows the full-size image at 100 %
        body.send_keys(" ")
        wait.until(lambda d: d.execute_script("var i=document.getElementById('loupe-img');return i.complete&&i.naturalWidth>0"))
        w = driver.execute_script("return document.getElementById('loupe-img').naturalWidth")
        assert w == ImageOps.exif_transpose(Image.open(second)).width
        body.send_keys(Keys.ESCAPE)
        shot = os.environ.get("PHOTOCULL_REVIEW_SCREENSHOT")
        if shot:
            driver.execute_script("window.scrollTo(0,0)")
            driver.save_screenshot(shot)
    finally:
        driver.quit()
        httpd.shutdown()
        httpd.server_close()
