"""The HTML contact sheet: structure (html.parser), escaping, scale, and a real browser.

The browser tests drive Debian's headless Chromium from the command line (no network:
the page's Content-Security-Policy forbids every request, background services are off):
console messages come from ``--enable-logging=stderr`` as ``CONSOLE`` lines, a positive
control proves a broken page is caught, and keyboard navigation is checked by appending
a script that dispatches arrow keys and reading the result back with ``--dump-dom``.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import time
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photocull.pipeline import CullOptions, CullResult, iter_ranked, run
from photocull.records import FileError, Frame, FrameResult, FrameScore, Rating, Series
from photocull.report import html as html_report
from photocull.report.html import THUMB_LONG_SIDE, write_html
from photocull.report.json import totals
from photocull.scorers.technical import TechnicalScorer

from tests.conftest import SAMPLE, jpeg_bytes, save_jpeg, scene

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium); browser checks skipped"
)


# ---------------------------------------------------------------------------------------
# A tiny DOM from html.parser
# ---------------------------------------------------------------------------------------


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.text: list[str] = []

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def iter(self):
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [n for n in self.iter() if (tag is None or n.tag == tag) and (cls is None or cls in n.classes)]

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)


VOID = {"img", "meta", "link", "br", "hr", "input", "source", "area", "base", "col", "embed", "wbr"}


class DomBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, dict(attrs), self.cur))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if self.cur.tag != tag:
            self.errors.append(f"</{tag}> closes <{self.cur.tag}>")
            n = self.cur
            while n is not None and n.tag != tag:
                n = n.parent
            if n is None:
                return
            self.cur = n
        self.cur = self.cur.parent or self.root

    def handle_data(self, data):
        self.cur.text.append(data)


def parse(path: Path) -> Node:
    b = DomBuilder()
    b.feed(path.read_text(encoding="utf-8"))
    b.close()
    assert not b.errors, b.errors[:5]
    assert b.cur is b.root, f"unclosed <{b.cur.tag}>"
    return b.root


def rel(fr: FrameResult, root: Path) -> str:
    return fr.frame.path.relative_to(root).as_posix()


# ---------------------------------------------------------------------------------------
# The sample shoot, culled once per module
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_result(tmp_path_factory) -> CullResult:
    dst = tmp_path_factory.mktemp("html") / "shoot"
    shutil.copytree(SAMPLE, dst, ignore=shutil.ignore_patterns(".photocull", "*.xmp"))
    return run(dst, TechnicalScorer(), CullOptions(write=False, workers=1))


@pytest.fixture(scope="module")
def sample_page(sample_result, tmp_path_factory) -> Path:
    return write_html(sample_result, tmp_path_factory.mktemp("page") / "shoot.html")


def test_one_img_per_frame_and_the_pick_is_marked(sample_result, sample_page):
    root = sample_result.root
    dom = parse(sample_page)
    frames = dom.find_all("li", "frame")
    imgs = dom.find_all("img")
    assert len(sample_result.frames) == 28
    assert len(imgs) == len(frames) == len(sample_result.frames)
    assert sorted(f.attrs["data-name"] for f in frames) == sorted(rel(fr, root) for fr in sample_result.frames)
    for f in frames:
        (img,) = f.find_all("img")
        assert img.attrs["alt"].startswith(f.attrs["data-name"])  # alt text names the file
        assert f.attrs["data-name"] in f.all_text()  # the file name is shown
        assert f.attrs.get("tabindex") in ("0", "-1")  # focusable

    sections = dom.find_all("section", "series")
    multi = [(s, m) for s, m in iter_ranked(sample_result) if not s.is_singleton]
    assert len(sections) == len(multi) == 5
    for section, (series, members) in zip(sections, multi):
        assert section.attrs["data-series"] == str(series.number)
        row = section.find_all("li", "frame")
        assert [f.attrs["data-name"] for f in row] == [rel(fr, root) for fr in members]  # rank order
        picks = [f for f in row if "pick" in f.classes]
        assert len(picks) == 1 and picks[0] is row[0]
        assert "data-pick" in picks[0].attrs and "PICK" in picks[0].all_text()
        assert picks[0].attrs["data-name"] == rel(next(fr for fr in members if fr.rating.is_pick), root)
        assert row[0].attrs["tabindex"] == "0" and all(f.attrs["tabindex"] == "-1" for f in row[1:])

    singles = dom.find_all("section", "singles")
    assert len(singles) == 1
    assert sorted(f.attrs["data-name"] for f in singles[0].find_all("li", "frame")) == [
        "IMG_0001.JPG", "IMG_0017.JPG", "day2/IMG_0025.JPG",
    ]
    # The truth's best frame of each burst is the highlighted pick.
    truth = json.loads((SAMPLE.parent / "sample_shoot_truth.json").read_text())
    marked = {f.attrs["data-name"] for f in dom.find_all("li", "pick")}
    assert {s["best"] for s in truth["series"]} <= marked


def test_header_totals_problems_and_stars(sample_result, sample_page):
    dom = parse(sample_page)
    t = totals(sample_result)
    shown = {li.attrs["data-total"]: int(li.find_all("b")[0].all_text()) for li in dom.find_all("li") if "data-total" in li.attrs}
    assert shown == {
        "photos": t["photos"], "series": t["series"], "singles": t["singletons"],
        "picks": t["picks"], "problems": t["with_problems"], "errors": t["errors"],
    }
    by_name = {f.attrs["data-name"]: f for f in dom.find_all("li", "frame")}
    for fr in sample_result.frames:
        node = by_name[rel(fr, sample_result.root)]
        text = node.all_text()
        for p in fr.score.problems:
            assert p in text
        assert f"{fr.score.score:.2f}" in text
        assert "★" * fr.rating.stars in text


def test_thumbnails_are_inline_upright_jpegs(sample_result, sample_page):
    raw = sample_page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", raw), "every resource must be inline"
    assert "<script src" not in raw and 'rel="stylesheet"' not in raw
    assert "Content-Security-Policy" in raw
    dom = parse(sample_page)
    for f in dom.find_all("li", "frame"):
        src = f.find_all("img")[0].attrs["src"]
        assert src.startswith("data:image/jpeg;base64,")
        im = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert im.format == "JPEG" and max(im.size) == THUMB_LONG_SIDE
        if f.attrs["data-name"] in ("IMG_0001.JPG", "IMG_0020.JPG"):  # stored rotated (Orientation 8 / 6)
            assert im.height > im.width, "EXIF orientation applied"


def _frame(path: Path, series_id: int, rank: int, pick: bool, score: float = 5.0, problems=(), errors=()) -> FrameResult:
    f = Frame(path=path, fmt="jpeg", size=1, mtime_ns=0, capture_time=0.0, time_source="file")
    return FrameResult(
        f, series_id, None, FrameScore(score, problems=list(problems)), Rating(3 if pick else 2, rank, pick), errors=list(errors)
    )


def test_names_and_messages_are_escaped_and_missing_files_get_a_placeholder(tmp_path):
    evil = tmp_path / """<b>bad<u> & "quoted" 'x'.jpg"""  # no "/": that would be a folder
    save_jpeg(evil, scene(1, (200, 150)))
    gone = tmp_path / "gone.jpg"  # never written: the thumbnail falls back to a placeholder
    frames = [
        _frame(evil, 0, 1, True, problems=["blurred"]),
        _frame(gone, 0, 2, False, errors=[FileError(gone, "decode", "<script>alert(1)</script> broken")]),
    ]
    result = CullResult(tmp_path, frames, [Series(0, [0, 1])], [FileError(tmp_path / "x<y>.jpg", "scan", "not an image & <i>")], [], "t<e>st")
    page = write_html(result, tmp_path / "out" / "page.html")
    raw = page.read_text(encoding="utf-8")
    assert "<b>bad" not in raw and "<u>" not in raw and "<script>alert" not in raw and "<i>" not in raw and "t<e>st" not in raw
    assert "&lt;b&gt;bad&lt;u&gt; &amp; &quot;quoted&quot; &#x27;x&#x27;.jpg" in raw
    dom = parse(page)
    names = [f.attrs["data-name"] for f in dom.find_all("li", "frame")]
    assert names == [evil.name, "gone.jpg"]  # attributes round-trip exactly
    imgs = dom.find_all("img")
    assert len(imgs) == 2
    assert imgs[0].attrs["src"].startswith("data:image/jpeg;base64,")
    assert imgs[1].attrs["src"].startswith("data:image/svg+xml;base64,")
    errors = dom.find_all("ul", "err-list")[0].all_text()
    assert "x<y>.jpg" in errors and "<script>alert(1)</script> broken" in errors
    assert (page.stat().st_mode & 0o777) == 0o644
    assert [p.name for p in page.parent.iterdir()] == ["page.html"]  # no temporary left behind


def test_given_thumbnails_are_used_without_opening_the_files(tmp_path):
    thumb = jpeg_bytes(scene(5, (160, 120)), quality=80)
    frames = [_frame(tmp_path / f"F{i}.jpg", 0, i + 1, i == 0) for i in range(3)]  # no files at all
    result = CullResult(tmp_path, frames, [Series(0, [0, 1, 2])], [], [], "technical")
    page = write_html(result, tmp_path / "p.html", thumbs={0: thumb, 1: thumb, 2: thumb})
    srcs = [img.attrs["src"] for img in parse(page).find_all("img")]
    assert srcs == ["data:image/jpeg;base64," + base64.b64encode(thumb).decode()] * 3


def test_bounded_map_keeps_order_and_a_bounded_window():
    started: list[int] = []

    def work(x):
        started.append(x)
        time.sleep(0.001 * (x % 3))
        return x * x

    gen = html_report._bounded_map(work, list(range(200)), workers=2)
    assert next(gen) == 0
    time.sleep(0.05)
    assert len(started) <= 2 * html_report._WINDOW_PER_WORKER + 1  # not all 200 submitted up front
    assert list(gen) == [x * x for x in range(1, 200)]


@pytest.mark.slow
def test_three_thousand_frames(tmp_path):
    """A 3,000-frame shoot (thumbnails given, as the pipeline can): fast, valid, one <img> each."""
    rng = np.random.default_rng(0)
    thumbs_src = [jpeg_bytes(scene(s, (320, 240)), quality=72) for s in range(5)]
    frames, series, thumbs = [], [], {}
    i = 0
    sid = 0
    while i < 3000:
        n = int(rng.integers(1, 9))
        members = list(range(i, min(i + n, 3000)))
        for k, idx in enumerate(members):
            frames.append(_frame(tmp_path / f"D{idx // 1000}" / f"IMG_{idx:05d}.JPG", sid, k + 1, k == 0, 9 - k * 0.5, ["noisy"] if k == 2 else []))
            thumbs[idx] = thumbs_src[idx % 5]
        series.append(Series(sid, members))
        sid += 1
        i += len(members)
    result = CullResult(tmp_path, frames, series, [], [], "technical")
    t0 = time.perf_counter()
    page = write_html(result, tmp_path / "big.html", thumbs=thumbs)
    elapsed = time.perf_counter() - t0
    assert elapsed < 20, elapsed
    dom = parse(page)
    assert len(dom.find_all("img")) == 3000
    assert len(dom.find_all("li", "pick")) == len(series)


def test_thumbnails_from_files_for_a_few_hundred_frames(tmp_path):
    """Thumbnails made from the files, in parallel, in order."""
    root = tmp_path / "shoot"
    srcs = [save_jpeg(root / f"S{k}.jpg", scene(k, (800, 600)), when=datetime(2026, 1, 1, 9, 0, k)) for k in range(4)]
    frames = [_frame(srcs[i % 4], i, 1, True) for i in range(240)]
    result = CullResult(root, frames, [Series(i, [i]) for i in range(240)], [], [], "technical")
    page = write_html(result, tmp_path / "p.html", workers=4)
    imgs = parse(page).find_all("img")
    assert len(imgs) == 240
    first = [Image.open(io.BytesIO(base64.b64decode(im.attrs["src"].split(",", 1)[1]))) for im in imgs[:4]]
    assert all(im.size == (320, 240) for im in first)
    means = [float(np.asarray(im).mean()) for im in first]
    again = [float(np.asarray(im).mean()) for im in (Image.open(io.BytesIO(base64.b64decode(x.attrs["src"].split(",", 1)[1]))) for x in imgs[4:8])]
    assert np.allclose(means, again, atol=0.5)  # frame i shows file i % 4: order kept


# ---------------------------------------------------------------------------------------
# Headless Chromium
# ---------------------------------------------------------------------------------------

_CONSOLE = re.compile(r":CONSOLE[:(]|Uncaught ", re.I)


def chromium(tmp: Path, url: str, *args: str, window: str = "1400,1800") -> subprocess.CompletedProcess:
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
        "--disable-extensions", "--mute-audio", "--hide-scrollbars", f"--user-data-dir={tmp / 'chromium-profile'}",
        "--enable-logging=stderr", "--v=0", f"--window-size={window}", *args, url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def console_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if _CONSOLE.search(line)]


@needs_chromium
def test_console_capture_catches_a_broken_page(tmp_path):
    """Positive control: without it, 'no console errors' could just mean 'no logging'."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><p>x</p><script>missingFunction();</script></body></html>")
    proc = chromium(tmp_path, bad.as_uri(), f"--screenshot={tmp_path / 'bad.png'}", window="400,300")
    assert any("missingFunction" in line for line in console_lines(proc)), proc.stderr[-2000:]


@needs_chromium
def test_page_renders_in_chromium_without_console_errors(sample_page, tmp_path):
    shot = tmp_path / "shot.png"
    proc = chromium(tmp_path, sample_page.as_uri(), f"--screenshot={shot}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_lines(proc) == []
    assert shot.exists() and shot.stat().st_size > 10_000
    im = Image.open(shot).convert("RGB")
    assert im.size == (1400, 1800)
    a = np.asarray(im).astype(np.float32)
    assert a.std() > 20, "screenshot is (nearly) blank"
    # Thumbnails were painted: many distinct colours, and the top-left thumbnail area is not flat.
    assert len(np.unique(a.reshape(-1, 3)[::7].astype(np.uint8), axis=0)) > 2000
    assert a[230:380, 40:240].std() > 25


@needs_chromium
def test_arrow_keys_move_the_focus(sample_page, tmp_path):
    probe = """<script>
(function(){var out=[];var first=document.querySelector('.frame');first.focus();
function name(){var a=document.activeElement;return a&&a.dataset?a.dataset.name||a.tagName:'none';}
out.push(name());
['ArrowRight','ArrowRight','ArrowDown','ArrowLeft','ArrowUp','End','Home','ArrowDown','ArrowDown'].forEach(function(k){
 document.activeElement.dispatchEvent(new KeyboardEvent('keydown',{key:k,bubbles:true,cancelable:true}));
 out.push(name()+'|'+document.activeElement.getAttribute('tabindex'));});
document.body.setAttribute('data-nav',JSON.stringify(out));})();
</script></body>"""
    page = tmp_path / "probe.html"
    page.write_text(sample_page.read_text(encoding="utf-8").replace("</body>", probe), encoding="utf-8")
    proc = chromium(tmp_path, page.as_uri(), "--dump-dom", "--virtual-time-budget=2000")
    assert console_lines(proc) == [], console_lines(proc)
    m = re.search(r'data-nav="([^"]*)"', proc.stdout)
    assert m, proc.stdout[:500]
    nav = json.loads(m.group(1).replace("&quot;", '"'))
    dom = parse(sample_page)
    rows = [[f.attrs["data-name"] for f in sec.find_all("li", "frame")] for sec in dom.find_all("ul", "row")]
    r0, r1, r2 = rows[0], rows[1], rows[2]
    assert nav[0] == r0[0]
    assert nav[1] == f"{r0[1]}|0" and nav[2] == f"{r0[2]}|0"  # right, right
    assert nav[3].split("|")[0] == r1[2]  # down: the frame below (same column, next series)
    assert nav[4].split("|")[0] == r1[1]  # left
    assert nav[5].split("|")[0] == r0[1]  # up
    assert nav[6].split("|")[0] == r0[-1]  # End: last of the row
    assert nav[7].split("|")[0] == r0[0]  # Home
    assert nav[9].split("|")[0] == r2[0]  # down twice: third series
    assert all(x.endswith("|0") for x in nav[1:])  # the focused frame is its row's tab stop
