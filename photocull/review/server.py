"""The review page's local HTTP server (standard library only: nothing to install, nothing
listening beyond this machine).

Security, because the page can rewrite photos and its input (``last_run.json``, file
names) comes from a memory card:

* bound to 127.0.0.1 only; a ``Host`` header other than 127.0.0.1/localhost[:port] is
  refused (DNS rebinding: a web page cannot point its own name at this server);
* a random per-run token is required on every request (``?t=`` for pages and images, the
  ``X-Photocull-Token`` header for writes), compared in constant time;
* reads are GET, writes are POST with a JSON body and the header token (a cross-site form
  cannot set a header, and no CORS is granted); a foreign ``Origin`` is refused;
* frames are addressed by number only; every path comes from the saved run and must
  resolve inside the shoot (checked at load and again before each read or write);
* file names reach the page as JSON and are inserted as text, never as markup; a strict
  Content-Security-Policy allows scripts, styles and images from this server only.

:class:`ReviewApp` holds the logic (``handle`` maps a request to a response, testable
without sockets); :func:`serve` runs it in a ThreadingHTTPServer.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
import secrets
import sys
import threading
import webbrowser
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from ..lock import busy_reason
from ..metadata.journal import Journal
from .decisions import Decision, ReviewJournal, apply_action, inside, read_decision, write_decision
from .images import ThumbCache, full_image
from ..report.table import write_label
from .session import Entry, Session, load_session

HOST = "127.0.0.1"
TOKEN_HEADER = "X-Photocull-Token"
MAX_BODY = 4096
STATIC = {"review.css": "text/css; charset=utf-8", "review.js": "text/javascript; charset=utf-8"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_ROUTE = re.compile(r"^/(thumb|full)/(\d{1,9})$")


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


class ReviewApp:
    """One review session of one shoot: its token, frames, caches and journal."""

    def __init__(self, shoot: Path, *, token: str | None = None, journal: Journal | None = None) -> None:
        self.session: Session = load_session(shoot)
        self.root = self.session.root
        self.token = token or secrets.token_urlsafe(24)
        self.thumbs = ThumbCache(self.root)
        self.journal = journal or ReviewJournal(self.root, run_id=None)
        self.port = 0  # set by serve(); 0 accepts any port in the Host check
        self._write_lock = threading.Lock()

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
        return bool(given) and secrets.compare_digest(given.encode(), self.token.encode())

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> Response:
        """Answer one request; every refusal is a plain-text status, never a traceback."""
        h = {k.lower(): v for k, v in headers.items()}
        if not self._host_ok(h.get("host")):
            return _text(HTTPStatus.FORBIDDEN, "forbidden: this page answers only at 127.0.0.1 or localhost")
        url = urlsplit(target)
        query = parse_qs(url.query)
        given = h.get(TOKEN_HEADER.lower()) or (query.get("t") or [None])[0]
        if not self._token_ok(given):
            return _text(HTTPStatus.FORBIDDEN, "forbidden: missing or wrong token; open the address photocull review printed")
        if method == "GET":
            return self._get(url.path)
        if method == "POST":
            origin = h.get("origin")
            if origin and not self._host_ok(urlsplit(origin).netloc):
                return _text(HTTPStatus.FORBIDDEN, "forbidden: cross-site request")
            if h.get(TOKEN_HEADER.lower()) is None:
                return _text(HTTPStatus.FORBIDDEN, f"forbidden: writes need the {TOKEN_HEADER} header")
            if url.path == "/api/decide":
                return self._decide(body)
            return _text(HTTPStatus.NOT_FOUND, "not found")
        return _text(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed")

    # ------------------------------------------------------------ reads
    def _get(self, path: str) -> Response:
        if path == "/":
            page = _static("index.html").replace(b"{{TOKEN}}", self.token.encode())
            return Response(200, page, "text/html; charset=utf-8")
        if path.startswith("/static/") and path[len("/static/"):] in STATIC:
            name = path[len("/static/"):]
            return Response(200, _static(name), STATIC[name])
        if path == "/api/shoot":
            return _json(self.shoot_json())
        m = _ROUTE.match(path)
        if m:
            entry = self._entry(int(m.group(2)))
            if entry is None:
                return _text(HTTPStatus.NOT_FOUND, "no such frame")
            return self._image(entry, m.group(1) == "full")
        return _text(HTTPStatus.NOT_FOUND, "not found")

    def _entry(self, i: int) -> Entry | None:
        entries = self.session.entries
        if not 0 <= i < len(entries):
            return None
        e = entries[i]
        # Re-checked at every use: a file replaced by a symlink since the load is refused.
        return e if all(inside(p, self.root) for p in (e.path, *e.fr.frame.companions)) else None

    def _image(self, e: Entry, full: bool) -> Response:
        fmt = e.fr.frame.fmt
        try:
            data = full_image(e.path, fmt) if full else self.thumbs.get(e.path, fmt)
        except FileNotFoundError:
            return _text(HTTPStatus.NOT_FOUND, f"{e.path.name}: file not found (moved or deleted?)")
        except Exception as exc:  # noqa: BLE001 - a corrupt photo is one broken image, not a crash
            return _text(HTTPStatus.UNPROCESSABLE_ENTITY, f"{e.path.name}: cannot be shown ({exc})")
        cache = "private, max-age=3600" if not full else "private, no-cache"
        return Response(200, data, "image/jpeg", {"Cache-Control": cache})

    def frame_json(self, e: Entry, decision: Decision | None = None) -> dict[str, Any]:
        fr = e.fr
        d = decision or read_decision(e.path, fr.frame.fmt)
        return {
            "id": e.id,
            "name": e.path.relative_to(self.root).as_posix() if inside(e.path, self.root) else e.path.name,
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
            **d.to_json(),
        }

    def shoot_json(self) -> dict[str, Any]:
        entries = self.session.entries
        with ThreadPoolExecutor(max_workers=8) as pool:  # header reads: I/O bound
            decisions = list(pool.map(lambda e: read_decision(e.path, e.fr.frame.fmt), entries))
        return {
            "root": self.root.name or str(self.root),
            "scorer": self.session.scorer,
            "frames": [self.frame_json(e, d) for e, d in zip(entries, decisions)],
            "refused": self.session.refused,
        }

    # ------------------------------------------------------------ writes
    def _decide(self, body: bytes) -> Response:
        if len(body) > MAX_BODY:
            return _text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large")
        try:
            req = json.loads(body)
            i, action = int(req["id"]), str(req["action"])
            stars = req.get("stars")
            stars = None if stars is None else int(stars)
        except (ValueError, KeyError, TypeError):
            return _text(HTTPStatus.BAD_REQUEST, 'bad request: send {"id": N, "action": "stars|pick|reject|unflag", "stars": 0-5}')
        e = self._entry(i)
        if e is None:
            return _text(HTTPStatus.NOT_FOUND, "no such frame")
        with self._write_lock, busy_reason(self.root, "review") as busy:
            if busy:  # a cull or undo of this shoot is running
                return _text(HTTPStatus.CONFLICT, busy)
            current = read_decision(e.path, e.fr.frame.fmt)
            try:
                new_stars, rejected, label = apply_action(current, action, stars)
            except ValueError as exc:
                return _text(HTTPStatus.BAD_REQUEST, f"bad request: {exc}")
            outcome = write_decision(e.path, e.fr.frame.fmt, e.fr.frame.companions, new_stars, rejected, label, self.journal)
            frame = self.frame_json(e)
        status = 200 if outcome.status != "skipped" else HTTPStatus.CONFLICT
        return _json({"frame": frame, "status": outcome.status, "message": outcome.message}, status)


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


def serve(shoot: Path, *, port: int = 0, open_browser: bool = True,
          announce: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> None:
    """Serve the review page of ``shoot`` until Ctrl-C (raises session.NoRun without a saved run)."""
    app = ReviewApp(shoot)
    httpd = make_server(app, port)
    url = app.url()
    announce(f"Review {app.root} at\n  {url}\nCtrl-C to stop. Decisions are written as you make them; "
             f"'photocull undo {shoot}' reverts them.")
    if open_browser:
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
