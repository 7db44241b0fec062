"""The HTML contact sheet: see the shoot, series by series, in one self-contained file.

One page, nothing fetched: thumbnails are inline base64 JPEG data URIs (about
``THUMB_LONG_SIDE`` px on the long side), the CSS and the few lines of script are inline,
and a Content-Security-Policy forbids every request, so the page opens offline, from a
mail attachment or a USB stick, and never phones home.

Layout: a header with the totals; one row per multi-frame series, its frames best first
(the pick outlined and labelled), each frame with its file name, stars, score and problem
flags; the singletons together in a final section; then the files that failed.

Keyboard: every frame is focusable (a roving tabindex: Tab goes from series to series,
the arrow keys move inside the page: Left/Right to the previous/next frame, Up/Down to
the nearest frame in the row above/below, Home/End to the first/last frame of a row).

Scale: 3,000 frames give a page of ~60-90 MB. Thumbnails are made in a thread pool
(Pillow's decoder releases the GIL) through a bounded window, written to the file as soon
as they are ready and dropped, so memory stays flat however big the shoot.
"""

from __future__ import annotations

import base64
import io
import os
import tempfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from html import escape
from pathlib import Path
from typing import Callable, Iterable, Iterator, TextIO

from PIL import Image

from .. import __version__
from ..decode import decode
from ..records import CullResult, iter_ranked
from ..records import FileError, FrameResult
from ..capture_time import capture_label
from ..runtime import cpu_count
from .json import totals
from .table import write_label
from .why import explain

THUMB_LONG_SIDE = 320
THUMB_QUALITY = 72
_WINDOW_PER_WORKER = 4  # thumbnails in flight per worker thread (bounds memory)

_PROBLEM_CLASS = {
    "blurred": "p-blur",
    "underexposed": "p-expo",
    "overexposed": "p-expo",
    "noisy": "p-noise",
    "compressed": "p-noise",  # image-quality loss, like grain: the same colour
    "low contrast": "p-expo",
    "eyes closed": "p-face",
    "face out of focus": "p-face",
}

# A neutral placeholder when a thumbnail cannot be made (an <img> per frame, always).
_PLACEHOLDER = "data:image/svg+xml;base64," + base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240">'
    b'<rect width="320" height="240" fill="#3a3a3a"/><path d="M120 90h80v60h-80z" fill="none" '
    b'stroke="#777" stroke-width="4"/><path d="M120 150l25-30 20 20 12-12 23 22" fill="none" '
    b'stroke="#777" stroke-width="4"/><path d="M110 80l100 80" stroke="#a55" stroke-width="5"/></svg>'
).decode("ascii")


def make_thumbnail(path: Path, fmt: str = "jpeg", long_side: int = THUMB_LONG_SIDE, quality: int = THUMB_QUALITY) -> bytes:
    """JPEG bytes of an upright thumbnail (draft decode, EXIF orientation) of one photo."""
    d = decode(Path(path), fmt, decode_size=long_side)
    img = d.image
    if max(img.size) > long_side:
        img.thumbnail((long_side, long_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=False, progressive=False)
    return buf.getvalue()


def _safe_thumb(fr: FrameResult) -> bytes | None:
    try:
        return make_thumbnail(fr.frame.path, fr.frame.fmt)
    except Exception:  # noqa: BLE001 - a missing thumbnail must not cost the report
        return None


def _bounded_map(fn: Callable, items: list, workers: int) -> Iterator:
    """fn over items in order, at most workers * _WINDOW_PER_WORKER results held at once."""
    if workers <= 1 or len(items) < 4:
        for it in items:
            yield fn(it)
        return
    window = workers * _WINDOW_PER_WORKER
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="thumbs") as pool:
        pending: deque[Future] = deque()
        it = iter(items)
        for x in it:
            pending.append(pool.submit(fn, x))
            if len(pending) >= window:
                break
        while pending:
            yield pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(fn, nxt))


def _rel(p: Path, root: Path) -> str:
    try:
        return Path(p).relative_to(root).as_posix()
    except ValueError:
        return str(p)


def _stars_text(n: int | None) -> str:
    return "" if not n else "★" * n + "☆" * (5 - n)


def _a(s: object) -> str:
    """Escape for text and for double-quoted attributes."""
    text = str(s).encode("utf-8", "surrogateescape").decode("utf-8", "replace")  # a name that is not UTF-8
    return escape(text, quote=True)


_CSS = """
:root{color-scheme:dark;--bg:#1d1d1f;--card:#2a2a2d;--fg:#e8e8ea;--dim:#9a9aa0;--pick:#3ccf6e;
--focus:#ffc83d;--bad:#ff6b5e;--warn:#f0a33a;--face:#c78bff;--noise:#66b3ff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{padding:16px 24px;border-bottom:1px solid #333;background:#18181a}
h1{font-size:20px;margin:0 0 6px}
h1 .root{color:var(--dim);font-weight:400;font-size:15px;word-break:break-all}
.totals{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0 0;padding:0;list-style:none}
.totals li{background:var(--card);border-radius:6px;padding:4px 10px}
.totals b{font-size:17px;margin-right:4px}
.totals .t-problems b{color:var(--warn)}.totals .t-errors b{color:var(--bad)}
.help{color:var(--dim);font-size:12px;margin-top:6px}
kbd{border:1px solid #555;border-radius:3px;padding:0 4px;font-size:11px}
main{padding:8px 24px 40px}
h2{font-size:16px;margin:24px 0 8px;color:var(--dim);font-weight:600}
section.series{margin:14px 0;padding:10px 12px;background:#232326;border-radius:8px}
section.series h3{margin:0 0 8px;font-size:14px;font-weight:600}
section.series h3 .meta{color:var(--dim);font-weight:400}
.row{display:flex;flex-wrap:wrap;gap:10px;margin:0;padding:0;list-style:none}
.frame{width:214px;background:var(--card);border-radius:6px;padding:6px;border:2px solid transparent;
outline:none;position:relative}
.frame:focus,.frame:focus-visible{border-color:var(--focus);box-shadow:0 0 0 3px var(--focus)}
.frame.pick{border-color:var(--pick)}
.frame.pick:focus{border-color:var(--focus)}
.frame.failed img{opacity:.55}
.frame .img{width:198px;height:148px;display:flex;align-items:center;justify-content:center;background:#111;border-radius:3px;overflow:hidden}
.frame img{max-width:198px;max-height:148px;display:block}
.badge{position:absolute;top:10px;left:10px;background:var(--pick);color:#062;font-weight:700;font-size:11px;
padding:1px 6px;border-radius:3px;letter-spacing:.04em}
.rank{position:absolute;top:10px;right:10px;background:rgba(0,0,0,.65);font-size:11px;padding:1px 6px;border-radius:3px}
.name{margin:5px 0 1px;font-size:12px;word-break:break-all}
.when{font-size:11px;color:var(--muted, #777)}
.line{display:flex;justify-content:space-between;font-size:12px}
.stars{color:#ffc83d;letter-spacing:1px}.score{color:var(--dim);font-variant-numeric:tabular-nums}
.problems{display:flex;flex-wrap:wrap;gap:3px;margin:4px 0 0;padding:0;list-style:none;min-height:18px}
.problems li{font-size:11px;border-radius:3px;padding:0 5px;background:#444}
.p-blur{background:#7a2d27!important}.p-expo{background:#7a5520!important}
.p-noise{background:#24507a!important}.p-face{background:#5a3280!important}
.ok{color:var(--dim);font-size:11px}
.err-list{list-style:none;padding:0}.err-list li{padding:4px 0;border-bottom:1px solid #333}
.err-list code{color:var(--bad)}.err-list .stage{color:var(--dim)}
.frame .ferr{color:var(--bad);font-size:11px;margin-top:3px}
.frame .why{color:var(--dim);font-size:11px;margin-top:3px}
.frame .kept{color:var(--focus);font-size:11px;margin-top:3px}
.empty{color:var(--dim)}
"""

# Arrow-key navigation with a roving tabindex (one tab stop per row).
_JS = """
(function(){
  var frames=Array.prototype.slice.call(document.querySelectorAll('.frame'));
  var index=new Map();frames.forEach(function(f,i){index.set(f,i);});
  function rowOf(f){return f.closest('.row');}
  function go(f){if(!f)return;var r=rowOf(f);
    r.querySelectorAll('.frame[tabindex="0"]').forEach(function(o){o.setAttribute('tabindex','-1');});
    f.setAttribute('tabindex','0');f.focus();f.scrollIntoView({block:'nearest',inline:'nearest'});}
  function vertical(f,dir){var a=f.getBoundingClientRect(),cx=a.left+a.width/2,best=null,bd=Infinity,row=null;
    for(var i=index.get(f)+dir;i>=0&&i<frames.length;i+=dir){var b=frames[i].getBoundingClientRect();
      var isNext=dir>0?b.top>=a.bottom-2:b.bottom<=a.top+2;if(!isNext)continue;
      if(row===null)row=b.top;else if(Math.abs(b.top-row)>2)break;
      var d=Math.abs(b.left+b.width/2-cx);if(d<bd){bd=d;best=frames[i];}}
    return best;}
  document.addEventListener('keydown',function(e){var f=document.activeElement;
    if(!f||!f.classList||!f.classList.contains('frame')||e.altKey||e.ctrlKey||e.metaKey)return;
    var i=index.get(f),t=null,r=rowOf(f).querySelectorAll('.frame');
    switch(e.key){case'ArrowRight':t=frames[i+1];break;case'ArrowLeft':t=frames[i-1];break;
      case'ArrowDown':t=vertical(f,1);break;case'ArrowUp':t=vertical(f,-1);break;
      case'Home':t=r[0];break;case'End':t=r[r.length-1];break;default:return;}
    e.preventDefault();go(t);});
  frames.forEach(function(f){f.addEventListener('focus',function(){var r=rowOf(f);
    r.querySelectorAll('.frame[tabindex="0"]').forEach(function(o){if(o!==f)o.setAttribute('tabindex','-1');});
    f.setAttribute('tabindex','0');});});
})();
"""


def _frame_html(fr: FrameResult, root: Path, src: str, first_in_row: bool) -> str:
    name = _rel(fr.frame.path, root)
    rating, score = fr.rating, fr.score
    problems = list(score.problems) if score else []
    is_pick = bool(rating and rating.is_pick)
    failed_frame = bool(rating and rating.rejected) or (rating is not None and rating.stars == 1)
    classes = ["frame"] + (["pick"] if is_pick else []) + (["failed"] if failed_frame else [])
    stars = rating.stars if rating else None
    alt_parts = [name]
    if is_pick:
        alt_parts.append("pick")
    if stars:
        alt_parts.append(f"{stars} star" + ("s" if stars != 1 else ""))
    if score:
        alt_parts.append(f"score {score.score:.2f}")
    alt_parts.append(("problems: " + ", ".join(problems)) if problems else "no problems")
    alt = ", ".join(alt_parts)
    out = [
        f'<li class="{" ".join(classes)}" tabindex="{0 if first_in_row else -1}" data-name="{_a(name)}"'
        f'{" data-pick" if is_pick else ""} aria-label="{_a(alt)}">'
    ]
    if is_pick:
        out.append('<span class="badge">PICK</span>')
    if rating:
        out.append(f'<span class="rank">#{rating.rank}</span>')
    out.append(f'<div class="img"><img src="{src}" alt="{_a(alt)}" loading="lazy" decoding="async"></div>')
    out.append(f'<div class="name" title="{_a(name)}">{_a(name)}</div>')
    out.append(f'<div class="when" data-time="{fr.frame.capture_time:.3f}">{_a(capture_label(fr.frame))}</div>')
    stars_html = (
        f'<span class="stars" aria-label="{stars} stars">{_stars_text(stars)}</span>' if stars else '<span class="stars">–</span>'
    )
    score_html = f'<span class="score">{score.score:.2f}</span>' if score else '<span class="score">–</span>'
    out.append(f'<div class="line">{stars_html}{score_html}</div>')
    if problems:
        items = "".join(f'<li class="{_PROBLEM_CLASS.get(p, "")}">{_a(p)}</li>' for p in problems)
        out.append(f'<ul class="problems" aria-label="problems">{items}</ul>')
    else:
        out.append('<div class="problems"><span class="ok">no problems</span></div>')
    if rating and rating.why:
        out.append(f'<div class="why" data-why>{_a(rating.why)}</div>')
    if fr.write and fr.write.status == "kept":
        out.append(f'<div class="kept" data-kept>{_a(write_label(fr))}</div>')
    for e in fr.errors:
        out.append(f'<div class="ferr">{_a(e.stage)}: {_a(e.message)}</div>')
    out.append("</li>")
    return "".join(out)


def _head(result: CullResult) -> str:
    t = totals(result)
    root = str(result.root)
    items = [
        ("photos", t["photos"], "photos"),
        ("series", t["series"], "series"),
        ("singles", t["singletons"], "singles"),
        ("picks", t["picks"], "picks"),
        ("problems", t["with_problems"], "with problems"),
        ("errors", t["errors"], "errors"),
    ]
    lis = "".join(f'<li class="t-{k}" data-total="{k}"><b>{v}</b>{_a(label)}</li>' for k, v, label in items)
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>photocull — {_a(Path(root).name or root)}</title><style>{_CSS}</style></head>\n<body>"
        f'<header><h1>photocull <span class="root">{_a(root)}</span></h1>'
        f'<ul class="totals" aria-label="totals">{lis}</ul>'
        f'<div class="help">scorer: {_a(result.scorer)} · photocull {_a(__version__)} · '
        "keys: <kbd>Tab</kbd> next series, <kbd>←</kbd><kbd>→</kbd> frames, <kbd>↑</kbd><kbd>↓</kbd> rows, "
        "<kbd>Home</kbd><kbd>End</kbd> first/last in row</div></header>\n<main>\n"
    )


def _errors_html(errors: Iterable[FileError], root: Path) -> str:
    items = [
        f'<li><code>{_a(_rel(e.path, root))}</code> <span class="stage">[{_a(e.stage)}]</span> {_a(e.message)}</li>'
        for e in errors
    ]
    if not items:
        return '<h2 id="errors">Errors</h2><p class="empty">No errors.</p>\n'
    return f'<h2 id="errors">Errors ({len(items)})</h2><ul class="err-list">{"".join(items)}</ul>\n'


def _layout(result: CullResult) -> tuple[list[tuple[int, list[FrameResult]]], list[FrameResult]]:
    """Multi-frame series best first, and the singletons (plus any frame in no series)."""
    multi, singles = [], []
    seen: set[int] = set()
    for s, members in iter_ranked(result):
        seen.update(id(fr) for fr in members)
        if len(members) > 1:
            multi.append((s.number, members))
        else:
            singles.extend(members)
    singles.extend(fr for fr in result.frames if id(fr) not in seen)
    return multi, singles


def _write_page(result: CullResult, out: TextIO, thumbs: dict[int, bytes], workers: int) -> None:
    root = result.root
    multi, singles = _layout(result)
    position = {id(fr): i for i, fr in enumerate(result.frames)}
    ordered = [fr for _, members in multi for fr in members] + singles

    def src_for(fr: FrameResult) -> str:
        data = thumbs.get(position[id(fr)])
        if data is None:
            data = _safe_thumb(fr)
        return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii") if data else _PLACEHOLDER

    sources = _bounded_map(src_for, ordered, workers)
    out.write(_head(result))
    out.write(f'<h2 id="series">Series ({len(multi)})</h2>\n' if multi else '<h2 id="series">Series</h2><p class="empty">No multi-frame series.</p>\n')
    for number, members in multi:
        pick = next((fr for fr in members if fr.rating and fr.rating.is_pick), members[0])
        n_prob = sum(1 for fr in members if fr.score and fr.score.problems)
        label = f"Series {number}"
        out.write(
            f'<section class="series" data-series="{number}" aria-label="{_a(label)}"><h3>{_a(label)} '
            f'<span class="meta">· {len(members)} frames · pick {_a(_rel(pick.frame.path, root))}'
            f'{f" · {n_prob} with problems" if n_prob else ""}</span></h3><ul class="row">'
        )
        for k, fr in enumerate(members):
            out.write(_frame_html(fr, root, next(sources), k == 0))
        out.write("</ul></section>\n")
    out.write(f'<h2 id="singles">Singles ({len(singles)})</h2>\n')
    if singles:
        out.write('<section class="singles" aria-label="Singles"><ul class="row">')
        for k, fr in enumerate(singles):
            out.write(_frame_html(fr, root, next(sources), k == 0))
        out.write("</ul></section>\n")
    else:
        out.write('<p class="empty">No singles.</p>\n')
    out.write(_errors_html([*result.errors, *(e for fr in result.frames for e in fr.errors)], root))
    if result.warnings:
        items = "".join(f"<li><code>{_a(_rel(w.path, root))}</code> {_a(w.message)}</li>" for w in result.warnings)
        out.write(f'<h2 id="warnings">Warnings ({len(result.warnings)})</h2><ul class="err-list">{items}</ul>\n')
    out.write(f"</main>\n<script>{_JS}</script>\n</body></html>\n")


def write_html(result: CullResult, path: Path, thumbs: dict[int, bytes] | None = None, workers: int | None = None) -> Path:
    """Write the contact sheet of ``result`` to ``path`` (atomically) and return the path.

    ``thumbs`` maps an index into ``result.frames`` to ready JPEG bytes (e.g. made from the
    working images during the run); every other frame's thumbnail is made from its file.
    A frame whose thumbnail cannot be made gets a placeholder image.
    """
    path = Path(path)
    thumbs = thumbs or {}
    explain(result)
    if workers is None:
        try:
            workers = min(8, len(os.sched_getaffinity(0)))
        except AttributeError:
            workers = min(8, cpu_count())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            _write_page(result, out, thumbs, max(1, workers))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
