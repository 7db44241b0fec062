"""`photocull.model.hub` end to end against a local server speaking the hub's file API.

The server (127.0.0.1 only) answers ``/api/models/<repo>/revision/<rev>`` (file list with
sizes and LFS SHA-256) and ``/<repo>/resolve/<rev>/<file>`` (HEAD and ranged GET). Any
connection to another address fails the test: nothing here may touch the network.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from tests.model import official_fixture as fx

COMMIT = "a" * 40


class Hub:
    """A tiny in-memory hub: ``files[repo][name] = bytes``; knobs to break it."""

    def __init__(self):
        self.files: dict[str, dict[str, bytes]] = {}
        self.advertised_sha: dict[tuple[str, str], str] = {}  # override (a corrupt mirror)
        self.cut_after: int | None = None  # send this many bytes, then drop the connection
        self.fail_gets = False
        self.stall_after: int | None = None  # send this many bytes, then go silent (until released)
        self.release = threading.Event()
        self.ranges: list[int] = []  # start offsets of every GET of a file

    def sha(self, repo, name):
        return self.advertised_sha.get((repo, name)) or hashlib.sha256(self.files[repo][name]).hexdigest()


def _handler(hub: Hub):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _file(self):
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) >= 5 and parts[2] == "resolve":
                repo, name = "/".join(parts[:2]), "/".join(parts[4:])
                if name in hub.files.get(repo, {}):
                    return repo, name
            return None

        def _headers(self, repo, name, length, status=200, extra=None):
            data = hub.files[repo][name]
            sha = hub.sha(repo, name)
            self.send_response(status)
            self.send_header("Content-Length", str(length))
            self.send_header("ETag", f'"{sha}"')
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Accept-Ranges", "bytes")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()

        def do_HEAD(self):
            f = self._file()
            if f is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.end_headers()
                return
            self._headers(*f, len(hub.files[f[0]][f[1]]))

        def do_GET(self):
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts[:2] == ["api", "models"]:
                repo = "/".join(parts[2:4])
                if repo not in hub.files:
                    self.send_response(404)
                    self.end_headers()
                    return
                sib = [{"rfilename": n, "size": len(d), "blobId": hashlib.sha1(d).hexdigest(),
                        "lfs": {"sha256": hub.sha(repo, n), "size": len(d), "pointerSize": 134}}
                       for n, d in hub.files[repo].items()]
                body = json.dumps({"id": repo, "_id": "x", "modelId": repo, "sha": COMMIT,
                                   "private": False, "siblings": sib}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            f = self._file()
            if f is None:
                self.send_response(404)
                self.end_headers()
                return
            if hub.fail_gets:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = hub.files[f[0]][f[1]]
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0] or 0)
            hub.ranges.append(start)
            body = data[start:]
            if start:
                self._headers(*f, len(body), 206,
                              {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
            else:
                self._headers(*f, len(body))
            if hub.stall_after is not None:
                self.wfile.write(body[: hub.stall_after])
                self.wfile.flush()
                hub.stall_after = None
                hub.release.wait(30)
                self.close_connection = True
                return
            if hub.cut_after is not None:
                self.wfile.write(body[: hub.cut_after])
                self.wfile.flush()
                hub.cut_after = None
                self.close_connection = True
                return
            self.wfile.write(body)

    return H


class _NoSleep:
    def __init__(self, real):
        self._real = real

    def sleep(self, _s):
        pass

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture
def no_network(monkeypatch):
    real = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"test tried to reach {address}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    real_gai = socket.getaddrinfo

    def gai(host, *a, **k):  # no DNS either
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"test tried to resolve {host}")
        return real_gai(host, *a, **k)

    monkeypatch.setattr(socket, "getaddrinfo", gai)


@pytest.fixture
def hub(tmp_path, monkeypatch, no_network):
    h = Hub()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _handler(h))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    import huggingface_hub.constants as C

    endpoint = f"http://127.0.0.1:{srv.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(C, "HF_HUB_OFFLINE", False, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("PHOTOCULL_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    import huggingface_hub.file_download as FD
    import huggingface_hub.utils._http as HT

    for mod in (FD, HT):  # the hub client's retry back-off: no real waiting in tests
        if hasattr(mod, "time"):
            monkeypatch.setattr(mod, "time", _NoSleep(mod.time))
    h.endpoint = endpoint
    yield h
    h.release.set()
    srv.shutdown()
    srv.server_close()


def _tiny_official_bytes(tmp_path: Path) -> bytes:
    p = tmp_path / "ckpt.pt"
    torch.save(fx.official_state_dict(3, layers=1, width=64), p)
    return p.read_bytes()


def test_fgaesq_download_plans_then_converts_where_photocull_looks(hub, tmp_path):
    from photocull.model.checkpoint import load_model
    from photocull.model.hub import download
    from photocull.model.paths import find_model

    data = _tiny_official_bytes(tmp_path)
    hub.files["yzc002/FGAesQ"] = {"README.md": b"# FGAesQ\n", "best.pt": data}
    plans = []
    out = download("fgaesq", on_plan=plans.append, progress=False)
    assert plans and plans[0].filename == "best.pt" and plans[0].size == len(data)
    assert plans[0].sha256 == hashlib.sha256(data).hexdigest()
    assert find_model() == out  # the default location photocull cull loads from
    model = load_model()
    assert model.cfg.width == 64


def test_interrupted_download_resumes_from_where_it_stopped(hub, tmp_path):
    """The connection drops part way through a 24 MB file: the rest is fetched with a Range
    request from the bytes already written (huggingface_hub writes 10 MB chunks), and the
    file is whole and checked."""
    from photocull.model.hub import download

    blob = bytes(range(256)) * (24 * 4096)
    hub.files["timm/vit_base_patch16_clip_224.openai"] = {"open_clip_model.safetensors": blob}
    hub.cut_after = 15 << 20
    path = download("clip", progress=False)
    assert hub.ranges[0] == 0 and len(hub.ranges) == 2
    assert 0 < hub.ranges[1] <= 15 << 20  # resumed, not restarted
    assert path.read_bytes() == blob


def test_download_that_keeps_failing_is_a_user_error(hub, tmp_path):
    from photocull.model.hub import DownloadError, download
    from photocull.model.paths import find_model

    hub.files["yzc002/FGAesQ"] = {"best.pt": _tiny_official_bytes(tmp_path)}
    hub.fail_gets = True
    with pytest.raises(DownloadError, match="Run the same command again"):
        download("fgaesq", progress=False)
    assert find_model() is None


def test_corrupted_download_is_refused_and_deleted(hub, tmp_path):
    from photocull.model.hub import DownloadError, download
    from photocull.model.paths import find_model

    data = _tiny_official_bytes(tmp_path)
    hub.files["yzc002/FGAesQ"] = {"best.pt": data}
    hub.advertised_sha[("yzc002/FGAesQ", "best.pt")] = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(DownloadError) as exc:
        download("fgaesq", progress=False)
    assert "best.pt" in str(exc.value)
    assert not list((tmp_path / "hf").rglob("snapshots/*/best.pt"))
    assert find_model() is None


def test_clip_download_lands_where_the_clip_loader_looks(hub, tmp_path):
    from photocull.backbones.spec import BackboneSpec
    from photocull.backbones.weights import resolve_weights
    from photocull.model.hub import download

    blob = b"not really weights, but the path is what is checked" * 100
    hub.files["timm/vit_base_patch16_clip_224.openai"] = {"open_clip_model.safetensors": blob,
                                                          "open_clip_config.json": b"{}"}
    path = download("clip", progress=False)
    assert path.read_bytes() == blob
    assert resolve_weights(BackboneSpec(model="ViT-B-16", pretrained="openai")) == path


def test_unknown_name_and_unreachable_hub_are_user_errors(monkeypatch, no_network):
    from photocull.model.hub import DownloadError, plan_download

    with pytest.raises(DownloadError, match="choose one of"):
        plan_download("nope")
    with pytest.raises(DownloadError, match="cannot reach"):
        plan_download("fgaesq", endpoint="http://127.0.0.1:9")  # nothing listens on port 9


def test_cli_download_then_cull_finds_the_weights_by_itself(hub, tmp_path):
    """``photocull models download fgaesq`` against the local hub, then ``photocull cull SHOOT
    --dry-run`` with no --scorer or --weights scores with FGAesQ (auto finds the download)."""
    import json as _json
    from datetime import datetime

    from typer.testing import CliRunner

    from photocull.cli import app
    from tests.conftest import save_jpeg, scene

    data = _tiny_official_bytes(tmp_path)
    hub.files["yzc002/FGAesQ"] = {"README.md": b"# FGAesQ\n", "best.pt": data}
    runner = CliRunner()
    res = runner.invoke(app, ["models", "download", "fgaesq"])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())
    size = f"yzc002/FGAesQ/best.pt: {len(data) / 1e6:.1f} MB"
    assert size in said and said.index(size) < said.index("downloading fgaesq")  # the size first, then the bar
    shoot = tmp_path / "shoot"
    for k in range(2):
        save_jpeg(shoot / f"A{k}.jpg", scene(k, (256, 192)), datetime(2026, 5, 1, 9, 0, k))
    res = runner.invoke(app, ["cull", str(shoot), "--dry-run", "--json", "-", "-q", "--no-faces", "--no-embeddings"])
    assert res.exit_code == 0, res.output
    assert _json.loads(res.stdout[res.stdout.index("{"):])["scorer"] == "fgaesq"


def test_cli_download_failure_is_a_message(hub, tmp_path):
    from typer.testing import CliRunner

    from photocull.cli import app

    hub.files["yzc002/FGAesQ"] = {"best.pt": _tiny_official_bytes(tmp_path)}
    hub.fail_gets = True
    res = CliRunner().invoke(app, ["models", "download", "fgaesq", "-q"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "Run the same command again" in " ".join(res.output.split())
    res = CliRunner().invoke(app, ["models", "download", "dino"])
    assert res.exit_code == 2 and "fgaesq or clip" in res.output


@pytest.fixture
def silent_hub(monkeypatch, no_network):
    """A 'hub' that accepts connections and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{srv.getsockname()[1]}")
    yield
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    srv.close()


def test_a_hub_that_never_answers_times_out_with_a_message(silent_hub, monkeypatch):
    import time

    from photocull.model.hub import DownloadError, plan_download

    monkeypatch.setenv("PHOTOCULL_HUB_TIMEOUT", "0.5")
    t = time.monotonic()
    with pytest.raises(DownloadError) as exc:
        plan_download("fgaesq")
    assert time.monotonic() - t < 10  # not the 200+ s of no time-out at all
    msg = str(exc.value)
    assert "cannot reach" in msg and "no answer within 0.5 s" in msg and "PHOTOCULL_HUB_TIMEOUT" in msg


def test_a_transfer_that_stalls_times_out_keeps_its_bytes_and_resumes(hub, tmp_path, monkeypatch):
    from photocull.model.hub import DownloadError, download

    monkeypatch.setenv("PHOTOCULL_HUB_TIMEOUT", "0.5")
    monkeypatch.setattr("photocull.model.hub._ATTEMPTS", 1)
    blob = bytes(range(256)) * (12 * 4096)  # 12 MB
    hub.files["timm/vit_base_patch16_clip_224.openai"] = {"open_clip_model.safetensors": blob}
    hub.stall_after = 5 << 20
    with pytest.raises(DownloadError) as exc:
        download("clip", progress=False)
    assert "no answer within 0.5 s" in str(exc.value) and "Run the same command again" in str(exc.value)
    part = next((tmp_path / "hf").rglob("*.part"))
    kept = part.stat().st_size
    assert kept >= 1 << 20
    hub.release.set()
    path = download("clip", progress=False)
    assert hub.ranges[-1] == kept and path.read_bytes() == blob and not part.exists()


def test_ctrl_c_keeps_the_partial_file_and_the_next_run_resumes(hub, tmp_path):
    from tqdm.auto import tqdm

    from photocull.model.hub import DownloadInterrupted, download

    blob = bytes(range(256)) * (8 * 4096)  # 8 MB
    hub.files["timm/vit_base_patch16_clip_224.openai"] = {"open_clip_model.safetensors": blob}

    class CtrlC(tqdm):
        def __init__(self, *a, **k):
            k["disable"] = True
            super().__init__(*a, **k)
            self.seen = 0

        def update(self, n=1):
            self.seen += n
            if self.seen >= 3 << 20:
                raise KeyboardInterrupt

    with pytest.raises(DownloadInterrupted) as exc:
        download("clip", tqdm_class=CtrlC)
    assert exc.value.kept >= 3 << 20 and exc.value.size == len(blob)
    path = download("clip", progress=False)
    assert hub.ranges[-1] == exc.value.kept  # continued, not restarted
    assert path.read_bytes() == blob


def test_an_unchanged_download_is_neither_hashed_nor_converted_again(hub, tmp_path, monkeypatch):
    import photocull.model.checkpoint as C
    import photocull.model.hub as H

    hub.files["yzc002/FGAesQ"] = {"best.pt": _tiny_official_bytes(tmp_path)}
    first = H.download("fgaesq", progress=False)
    gets = len(hub.ranges)

    def refuse(*a, **k):
        raise AssertionError("done again")

    monkeypatch.setattr(H, "_fetch", refuse)
    monkeypatch.setattr(C, "convert_official", refuse)
    from types import SimpleNamespace

    monkeypatch.setattr(H, "hashlib", SimpleNamespace(sha256=refuse, sha1=hashlib.sha1))  # no hashing here
    assert H.download("fgaesq", progress=False) == first and len(hub.ranges) == gets
    monkeypatch.undo()
    # a converted file that changed since is converted again (the record no longer matches)
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("PHOTOCULL_MODEL_DIR", str(tmp_path / "models"))
    first.write_bytes(b"edited")
    calls = []
    real = C.convert_official
    monkeypatch.setattr(C, "convert_official", lambda *a, **k: calls.append(1) or real(*a, **k))
    H.download("fgaesq", progress=False)
    assert calls == [1] and len(hub.ranges) == gets  # the verified blob was not fetched again


def test_cli_ctrl_c_says_what_was_kept(hub, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from photocull.cli import app
    import photocull.model.hub as H

    hub.files["yzc002/FGAesQ"] = {"best.pt": _tiny_official_bytes(tmp_path)}

    def interrupted(*a, **k):
        raise H.DownloadInterrupted(3_000_000, 9_000_000)

    monkeypatch.setattr(H, "_fetch_to_cache", interrupted)
    res = CliRunner().invoke(app, ["models", "download", "fgaesq", "-q"])
    said = " ".join(res.output.split())
    assert res.exit_code == 130 and "Traceback" not in res.output
    assert "3.0 of 9.0 MB kept" in said and "run the same command again to resume" in said.lower()
