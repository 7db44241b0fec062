"""The review page's local HTTP server (standard library only: nothing to install, nothing
listening beyond this machine).

Security, because the page can rewrite photos and its input (``last_run.json``, file
names) comes from a memory card:

* bound to 127.0.0.1 only; a ``Host`` header other than 127.0.0.1/localhost[:port] is
  refused (DNS rebinding: a web page cannot point its own name at this server);
* a random per-run token is required on every request (``?t=`` for pages and images, the
  ``X-Photocull-Token`` header for writes), compared in constant time; it never reaches a
  command line (the browser is opened on a private launcher file, not on the address);
* reads are GET, writes are POST with a JSON body and the header token only (a cross-site
  form cannot set a header, and no CORS is granted; the token in the address is not enough
  for a write, nor is an empty header beside it); a foreign ``Origin`` is refused;
* a body is at most 4 KB of JSON with the exact types asked for: a huge number, NaN or
  deeply nested arrays are a 400, and any unexpected error a plain 500, never a dropped
  connection or a traceback;
* frames are addressed by number only; every path comes from the saved run and must
  resolve inside the shoot (checked at load and again before each read or write);
* file names reach the page as JSON and are inserted as text, never as markup; a strict
  Content-Security-Policy allows scripts, styles and images from this server only.

:class:`ReviewApp` holds the logic (``handle`` maps a request to a response, testable
without sockets); :func:`serve` runs it in a ThreadingHTTPServer.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import sys
import tempfile
import threading
import time
import webbrowser
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from ..lock import busy_reason
from ..metadata.undo import undo
from ..report.table import write_label
from .decisions import ACTIONS, Decision, ReviewJournal, apply_action, inside, read_decision, write_decision
from .faces import FaceCache
from .images import ThumbCache, ViewCache, face_crop, full_image
from .run_writer import RunWriter, load_run_writer
from .session import Entry, Session, load_session
from .summary import Tally, review_marks

HOST = "127.0.0.1"
TOKEN_HEADER = "X-Photocull-Token"
MAX_BODY = 4096
UNDO_LEVELS = 200
BYE_GRACE_S = 3.0  # a page closed and not reopened (a reload comes back within this) ends the server
STATIC = {"review.css": "text/css; charset=utf-8", "review.js": "text/javascript; charset=utf-8"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_ROUTE = re.compile(r"^/(thumb|full|view)/(\d{1,9})$")
_FACE = re.compile(r"^/face/(\d{1,9})/(\d{1,2})$")
_FACES = re.compile(r"^/api/faces/(\d{1,9})$")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def _text(status: int, message: str) -> Response:
    return Response(status, (message + "\n").encode())


def _json(obj: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


class BadRequest(ValueError):
    """A request body that is not what the page sends; its text says what is."""


def _no_constant(name: str) -> Any:
    raise BadRequest(f"{name} is not a number")


def _finite(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise BadRequest(f"{text[:20]} is out of range")
    return v


def _int(v: Any, name: str, lo: int, hi: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise BadRequest(f"{name} must be a whole number from {lo} to {hi}")
    return v


def parse_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a POST, refused (BadRequest) if it is anything else: too long, not
    UTF-8, NaN/Infinity, a number that overflows (``1e999``), nesting deeper than Python's
    parser allows, or not an object."""
    if len(body) > MAX_BODY:
        raise BadRequest("request too large")
    try:
        data = json.loads(body.decode("utf-8") if body else "{}", parse_constant=_no_constant, parse_float=_finite)
    except BadRequest:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise BadRequest(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise BadRequest("send a JSON object")
    return data


class ReviewApp:
    """One review session of one shoot: its token, frames, caches, writer options and journal."""

    def __init__(self, shoot: Path, *, token: str | None = None, journal: ReviewJournal | None = None) -> None:
        self.session: Session = load_session(shoot)
        self.root = self.session.root
        self.token = token or secrets.token_urlsafe(24)
        self.writer: RunWriter = load_run_writer(self.root)
        self.thumbs = ThumbCache(self.root)
        self.views = ViewCache()
        self.faces = FaceCache(self.root)
        self.journal = journal or ReviewJournal(self.root, run_id=None)
        self.port = 0  # set by serve(); 0 accepts any port in the Host check
        self._write_lock = threading.Lock()
        self._undo: list[tuple[int, list[str]]] = []  # (frame, journal record ids) per decision, newest last
        self.tally = Tally(len(self.session.entries))
        self.reviewed, self.flagged = review_marks(self.journal)
        self.last_request = time.monotonic()
        self.bye_at: float | None = None

    # ------------------------------------------------------------ request checks
    def url(self, port: int | None = None) -> str:
        return f"http://{HOST}:{port or self.port}/?t={self.token}"

    def _host_ok(self, host: str | None) -> bool:
        if not host:
            return False
        name, _, port = host.strip().lower().rpartition(":") if ":" in host else (host.strip().lower(), "", "")
        if name not in ("127.0.0.1", "localhost"):
            return False
        return not self.port or not port or port == str(self.port)

    def _token_ok(self, given: str | None) -> bool:
        return bool(given) and secrets.compare_digest(given.encode("utf-8", "surrogateescape"), self.token.encode())

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> Response:
        """Answer one request; every refusal is a plain-text status, never a traceback."""
        try:
            return self._handle(method, target, headers, body)
        except Exception as exc:  # noqa: BLE001 - a bug answers 500 with one line, the server goes on
            return _text(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error ({type(exc).__name__}); the page can go on")

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        h = {k.lower(): v for k, v in headers.items()}
        if not self._host_ok(h.get("host")):
            return _text(HTTPStatus.FORBIDDEN, "forbidden: this page answers only at 127.0.0.1 or localhost")
        url = urlsplit(target)
        query = parse_qs(url.query)
        header_token = h.get(TOKEN_HEADER.lower())
        if method == "POST":
            # Writes: the header alone (present and right); a token in the address does not count.
            origin = h.get("origin")
            if origin and not self._host_ok(urlsplit(origin).netloc):
                return _text(HTTPStatus.FORBIDDEN, "forbidden: cross-site request")
            if not self._token_ok(header_token):
                return _text(HTTPStatus.FORBIDDEN, f"forbidden: writes need the right {TOKEN_HEADER} header")
            self._seen()
            routes = {"/api/decide": self._decide, "/api/undo": self._undo_last, "/api/bye": self._bye}
            if url.path in routes:
                try:
                    return routes[url.path](parse_body(body))
                except BadRequest as exc:
                    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE if "too large" in str(exc) else HTTPStatus.BAD_REQUEST
                    return _text(status, f"bad request: {exc}")
            return _text(HTTPStatus.NOT_FOUND, "not found")
        if not self._token_ok(header_token or (query.get("t") or [None])[0]):
            return _text(HTTPStatus.FORBIDDEN, "forbidden: missing or wrong token; open the address photocull review printed")
        if method == "GET":
            self._seen()
            return self._get(url.path, query)
        return _text(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed")

    def _seen(self) -> None:
        self.last_request = time.monotonic()
        self.bye_at = None

    # ------------------------------------------------------------ reads
    def _get(self, path: str, query: dict[str, list[str]]) -> Response:
        if path == "/":
            page = _static("index.html").replace(b"{{TOKEN}}", self.token.encode())
            return Response(200, page, "text/html; charset=utf-8")
        if path.startswith("/static/") and path[len("/static/"):] in STATIC:
            name = path[len("/static/"):]
            return Response(200, _static(name), STATIC[name])
        if path == "/api/shoot":
            return _json(self.shoot_json())
        if path == "/api/decisions":
            return _json(self.decisions_json())
        m = _ROUTE.match(path)
        if m:
            entry = self._entry(int(m.group(2)))
            if entry is None:
                return _text(HTTPStatus.NOT_FOUND, "no such frame")
            return self._image(entry, m.group(1), query)
        m = _FACES.match(path)
        if m:
            entry = self._entry(int(m.group(1)))
            if entry is None:
                return _text(HTTPStatus.NOT_FOUND, "no such frame")
            return _json({"id": entry.id, "faces": self.faces.faces_json(entry)})
        m = _FACE.match(path)
        if m:
            entry = self._entry(int(m.group(1)))
            faces = self.faces.faces_of(entry) if entry is not None else None
            k = int(m.group(2))
            if entry is None or faces is None or k >= len(faces.faces):
                return _text(HTTPStatus.NOT_FOUND, "no such face")
            return self._image(entry, "face", query, face=(faces.faces[k].box, faces.size))
        return _text(HTTPStatus.NOT_FOUND, "not found")

    def _entry(self, i: int) -> Entry | None:
        entries = self.session.entries
        if not 0 <= i < len(entries):
            return None
        e = entries[i]
        # Re-checked at every use: a file replaced by a symlink since the load is refused.
        return e if all(inside(p, self.root) for p in (e.path, *e.fr.frame.companions)) else None

    def _image(self, e: Entry, kind: str, query: dict[str, list[str]], face: Any = None) -> Response:
        fmt = e.fr.frame.fmt
        try:
            if kind == "full":
                data = full_image(e.path, fmt)
            elif kind == "view":
                def dim(k: str) -> int:
                    v = (query.get(k) or ["1600"])[0]
                    return int(v) if v.isdigit() and len(v) <= 5 else 1600
                data = self.views.get(e.path, fmt, ViewCache.size_for(dim("w"), dim("h")))
            elif kind == "face":
                data = face_crop(e.path, fmt, *face)
            else:
                data = self.thumbs.get(e.path, fmt)
        except FileNotFoundError:
            return _text(HTTPStatus.NOT_FOUND, f"{e.path.name}: file not found (moved or deleted?)")
        except Exception as exc:  # noqa: BLE001 - a corrupt photo is one broken image, not a crash
            return _text(HTTPStatus.UNPROCESSABLE_ENTITY, f"{e.path.name}: cannot be shown ({exc})")
        cache = "private, no-cache" if kind == "full" else "private, max-age=3600"
        return Response(200, data, "image/jpeg", {"Cache-Control": cache})

    def rel(self, e: Entry) -> str:
        return e.name

    def current(self, e: Entry, d: Decision | None = None) -> Decision:
        """The frame's decision as the page shows it: the file's, with photocull's pick from the
        run still a pick until the photographer flags the frame themselves (the cull writes
        stars only unless --label-picks: its picks carry no flag in the file)."""
        d = d or read_decision(e.path, e.fr.frame.fmt, self.writer)
        run_pick = bool(e.fr.rating and e.fr.rating.is_pick)
        if run_pick and not d.pick and not d.rejected and self.rel(e) not in self.flagged:
            d = Decision(d.stars, d.rejected, True, d.label, d.error)
        return d

    def frame_json(self, e: Entry, decision: Decision | None = None) -> dict[str, Any]:
        fr = e.fr
        d = self.current(e, decision)
        return {
            "id": e.id,
            "name": e.name,
            "series": e.series,
            "in_series": e.in_series,
            "rank": fr.rating.rank if fr.rating else None,
            "score": round(fr.score.score, 2) if fr.score else None,
            "problems": list(fr.score.problems) if fr.score else [],
            "errors": [f"{x.stage}: {x.message}" for x in fr.errors],
            "photocull_pick": bool(fr.rating and fr.rating.is_pick),
            "why": fr.rating.why if fr.rating else "",
            "kept": write_label(fr) if fr.write and fr.write.status == "kept" else "",
            "width": fr.analysis.width if fr.analysis else None,
            "height": fr.analysis.height if fr.analysis else None,
            "reviewed": self.rel(e) in self.reviewed,
            **d.to_json(),
        }

    def from_run(self, e: Entry) -> Decision:
        """What the cull wrote, as the saved run says (the first screen's guess until the read)."""
        r, w = e.fr.rating, e.fr.write
        if r is None or w is None or w.status not in ("written", "unchanged"):
            return Decision(None, False, False)
        return Decision(None if r.rejected else r.stars, r.rejected, False)

    def decision(self, e: Entry) -> Decision:
        """The file's decision now (one header read; a broken one is that frame's error)."""
        try:
            return read_decision(e.path, e.fr.frame.fmt, self.writer)
        except Exception as exc:  # noqa: BLE001 - one unreadable header is one frame's error
            return Decision(None, False, False, None, f"cannot read its rating ({exc})")

    def decisions_json(self) -> dict[str, Any]:
        keys = ("id", "stars", "rejected", "pick", "label", "error", "reviewed")
        return {"frames": [{k: f[k] for k in keys} for f in (self.frame_json(e, self.decision(e))
                                                              for e in self.session.entries)]}

    def shoot_json(self) -> dict[str, Any]:
        """The frames as the saved run has them (no file read: the first screen comes at once;
        every frame's rating header is read when the page asks, /api/decisions, right after)."""
        entries = self.session.entries
        return {
            "root": self.root.name or str(self.root),
            "scorer": self.session.scorer,
            "frames": [self.frame_json(e, self.from_run(e)) for e in entries],
            "refused": self.session.refused,
            "writer": self.writer.to_json() | {"note": self.writer.note},
            "undo": len(self._undo),
        }

    # ------------------------------------------------------------ writes
    def _decide(self, req: dict[str, Any]) -> Response:
        i = _int(req.get("id"), "id", 0, 10**9)
        action = req.get("action")
        if action not in ACTIONS:
            raise BadRequest(f"action must be one of {', '.join(ACTIONS)}")
        stars = None if req.get("stars") is None else _int(req.get("stars"), "stars", 0, 5)
        label = req.get("label")
        if label is not None and not isinstance(label, str):
            raise BadRequest("label must be a string")
        e = self._entry(i)
        if e is None:
            return _text(HTTPStatus.NOT_FOUND, "no such frame")
        with self._write_lock, busy_reason(self.root, "review") as busy:
            if busy:  # a cull or undo of this shoot is running
                return _text(HTTPStatus.CONFLICT, busy)
            try:
                change = apply_action(self.current(e), action, stars, label, self.writer)
            except ValueError as exc:
                return _text(HTTPStatus.BAD_REQUEST, f"bad request: {exc}")
            self.journal.written = []
            outcome = write_decision(e.path, e.fr.frame.fmt, e.fr.frame.companions, change, self.journal, self.writer)
            ids = list(self.journal.written)
            if ids:
                self._undo = (self._undo + [(e.id, ids)])[-UNDO_LEVELS:]
                self.reviewed.add(self.rel(e))
                if change.label is not None or change.keyword is not None:
                    self.flagged.add(self.rel(e))
            frame = self.frame_json(e)
            if outcome.status != "skipped":
                self.tally.decided(e.id, frame)
        status = 200 if outcome.status != "skipped" else HTTPStatus.CONFLICT
        return _json({"frame": frame, "status": outcome.status, "message": outcome.message, "undo": len(self._undo)},
                     status)

    def _undo_last(self, req: dict[str, Any]) -> Response:
        """Ctrl+Z: the latest decision of this session put back through the journal."""
        with self._write_lock, busy_reason(self.root, "review") as busy:
            if busy:
                return _text(HTTPStatus.CONFLICT, busy)
            if not self._undo:
                return _json({"frame": None, "status": "nothing", "message": "nothing to undo", "undo": 0})
            i, ids = self._undo.pop()
            outcomes = undo(self.root, ids=frozenset(ids))
            self.reviewed, self.flagged = review_marks(self.journal)
            e = self.session.entries[i]
            frame = self.frame_json(e)
            self.tally.undone(i, frame)
        failed = [o for o in outcomes if o.status == "skipped"]
        message = "; ".join(o.message for o in failed)
        return _json({"frame": frame, "status": "skipped" if failed else "undone", "message": message,
                      "undo": len(self._undo)}, HTTPStatus.CONFLICT if failed else 200)

    def _bye(self, req: dict[str, Any]) -> Response:
        """The page was closed: the server ends unless it comes back (a reload) within the grace."""
        self.bye_at = time.monotonic()
        return _json({"ok": True})

    def closed(self) -> bool:
        return self.bye_at is not None and time.monotonic() - self.bye_at > BYE_GRACE_S


class _Handler(BaseHTTPRequestHandler):
    app: ReviewApp  # set on the subclass made by make_server
    server_version = "photocull-review"
    sys_version = ""

    def _send(self, r: Response) -> None:
        self.send_response(r.status)
        self.send_header("Content-Type", r.content_type)
        self.send_header("Content-Length", str(len(r.body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        for k, v in {"Cache-Control": "no-store", **r.headers}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(r.body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._send(self.app.handle("GET", self.path, dict(self.headers.items())))

    def do_POST(self) -> None:  # noqa: N802
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if not 0 <= n <= MAX_BODY:
            self._send(_text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large"))
            return
        self._send(self.app.handle("POST", self.path, dict(self.headers.items()), self.rfile.read(n)))

    def do_PUT(self) -> None:  # noqa: N802
        self._send(_text(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed"))

    do_DELETE = do_PATCH = do_PUT

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the token is in every URL
        pass


def make_server(app: ReviewApp, port: int = 0) -> ThreadingHTTPServer:
    """A server bound to 127.0.0.1 (``port`` 0: any free port), not yet serving."""
    handler = type("ReviewHandler", (_Handler,), {"app": app})
    httpd = ThreadingHTTPServer((HOST, port), handler)
    httpd.daemon_threads = True
    app.port = httpd.server_address[1]
    return httpd


def launcher(url: str) -> Path:
    """A private HTML file (0600 in a 0700 folder) that sends the browser on to ``url``: the
    browser is started with this file's name, so the token never shows in ``ps``."""
    folder = Path(tempfile.mkdtemp(prefix="photocull-review-"))
    page = folder / "open.html"
    fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    quoted = json.dumps(url)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f'<!DOCTYPE html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={url}">'
                 f"<title>photocull review</title><script>location.replace({quoted})</script>"
                 f'<p>Opening <a href="{url}">photocull review</a>…</p>\n')
    return page


def serve(shoot: Path, *, port: int = 0, open_browser: bool = True,
          announce: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> None:
    """Serve the review page of ``shoot`` until Ctrl-C or the page is closed, then announce a
    one-line summary (raises session.NoRun without a saved run)."""
    app = ReviewApp(shoot)
    httpd = make_server(app, port)
    url = app.url()
    announce(f"Review {app.root} at\n  {url}\nCtrl-C (or closing the page) stops. Decisions are written as you "
             f"make them; 'photocull undo {shoot}' reverts them.")
    if app.writer.note:
        announce(f"note: {app.writer.note}")
    page = None
    if open_browser:
        page = launcher(url)
        threading.Thread(target=webbrowser.open, args=(page.as_uri(),), daemon=True).start()

    def watch() -> None:
        while not app.closed():
            time.sleep(0.5)
        httpd.shutdown()

    threading.Thread(target=watch, daemon=True).start()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        if page is not None:
            for p in (page, page.parent):
                try:
                    p.unlink() if p.is_file() else p.rmdir()
                except OSError:
                    pass
        announce(app.tally.line(app.root.name or str(app.root)))
