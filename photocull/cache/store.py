"""SQLite store of everything computed per file (the only module that touches the database).

Location: ``SHOOT/.photocull/cache.sqlite`` by default (keys are paths relative to the shoot),
or one cache in the user's cache directory (:func:`default_user_cache_dir`; keys are absolute
paths). If the shoot folder cannot be written, :meth:`Cache.open` falls back to the user cache
(when asked) or to a disabled cache that stores nothing; either way with a warning.

File identity (:mod:`.identity`)
    Fast path: ``(key path, size, mtime_ns)`` -> content hash, read from the ``paths`` table
    without opening the file. Slow path (new, renamed, moved or touched file): the content hash
    is computed and everything stored under it is found again.

All values are derived data: a corrupt database is moved aside (``cache.sqlite.corrupt-<time>``)
and rebuilt, a schema change drops and recreates the tables, and a failing operation during a
run is logged, recorded in :attr:`Cache.warnings` and treated as a cache miss, never fatal.
Concurrent runs are safe (WAL journal, busy timeout, one short transaction per batch).
"""


from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..records import FrameScore
from .codec import score_from_dict, score_to_dict
from .identity import (
    CACHE_FILENAME,
    FileIdent,
    content_hash,
    default_user_cache_dir,
    shoot_cache_path,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
_SQLITE_MAGIC = b"SQLite format 3\x00"
_MAX_VARS = 500  # per IN (...) query, well under SQLite's limit

# Fields of the analysis row with their own columns; anything else goes to ``extra`` (JSON).
ANALYSIS_FIELDS = ("capture_time", "orientation", "width", "height", "phash", "dhash", "metrics")


# --------------------------------------------------------------------------------------------
# Schema

_TABLES = ("schema_version", "paths", "analysis", "embeddings", "scores")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS paths (
    key TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    seen REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS paths_by_hash ON paths(content_hash);
CREATE TABLE IF NOT EXISTS analysis (
    content_hash TEXT PRIMARY KEY,
    capture_time REAL,
    orientation INTEGER,
    width INTEGER,
    height INTEGER,
    phash TEXT,
    dhash TEXT,
    metrics TEXT,
    extra TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    content_hash TEXT NOT NULL,
    model_key TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (content_hash, model_key)
);
CREATE TABLE IF NOT EXISTS scores (
    content_hash TEXT NOT NULL,
    scorer_key TEXT NOT NULL,
    data TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (content_hash, scorer_key)
);
"""


class CacheCorrupt(Exception):
    """Internal: the file is not a usable SQLite database."""


def _is_corruption(exc: BaseException) -> bool:
    if isinstance(exc, CacheCorrupt):
        return True
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or name.startswith("SQLITE_CORRUPT"):
        return True
    msg = str(exc).lower()
    return "malformed" in msg or "not a database" in msg or "file is encrypted" in msg


def _guard(default_factory):
    """Run a cache operation under the lock; on an sqlite error warn and return the default."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self: Cache, *args, **kwargs):
            if self._conn is None:
                return default_factory()
            with self._lock:
                try:
                    return fn(self, *args, **kwargs)
                except sqlite3.Error as exc:
                    self._failed(fn.__name__, exc)
                    return default_factory()

        return wrapper

    return deco


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_jsonable, separators=(",", ":"), allow_nan=True)


# --------------------------------------------------------------------------------------------
# The cache


class Cache:
    """Per-file analysis, embeddings and scores, keyed by :class:`FileIdent`.

    Thread-safe (one connection, a lock); several processes may use the same file at once.
    Use :meth:`open` (or :meth:`for_shoot`), ideally as a context manager.
    """

    def __init__(self, conn: sqlite3.Connection | None, path: Path | None, root: Path | None,
                 warnings: list[str] | None = None):
        self._conn = conn
        self.path = path
        self.root = root.resolve() if root is not None else None
        self.warnings: list[str] = list(warnings or [])
        self._lock = threading.RLock()

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str] | None, *, root: str | os.PathLike[str] | None = None,
             fallback_to_user: bool = False, check: bool = True) -> Cache:
        """Open (creating, repairing or rebuilding as needed) the cache at ``path``.

        ``root``: paths under it are keyed relative to it (a shoot cache); ``None`` keys by
        absolute path (a user cache). If ``path`` cannot be opened for writing, falls back to
        the user cache (``fallback_to_user``) or to a disabled cache; never raises for that.
        ``path=None`` gives a disabled cache. ``check`` runs ``PRAGMA quick_check`` on open.
        """
        if path is None:
            return cls(None, None, None)
        path = Path(path)
        warnings: list[str] = []
        try:
            conn = _connect(path, check, warnings)
            return cls(conn, path, Path(root) if root is not None else None, warnings)
        except (OSError, sqlite3.Error) as exc:
            msg = (f"Cannot use the cache at {path} ({type(exc).__name__}: {exc}); "
                   "results will not be saved there.")
            log.warning(msg)
            warnings.append(msg)
        if fallback_to_user:
            user = default_user_cache_dir() / CACHE_FILENAME
            if user != path:
                try:
                    conn = _connect(user, check, warnings)
                    msg = f"Using the user cache {user} instead."
                    log.warning(msg)
                    warnings.append(msg)
                    return cls(conn, user, None, warnings)
                except (OSError, sqlite3.Error) as exc:
                    msg = f"Cannot use the user cache {user} either ({type(exc).__name__}: {exc})."
                    log.warning(msg)
                    warnings.append(msg)
        warnings.append("Running without a cache: everything is computed afresh.")
        return cls(None, None, None, warnings)

    @classmethod
    def for_shoot(cls, shoot: str | os.PathLike[str], *, user_cache: bool = False,
                  check: bool = True) -> Cache:
        """The cache for a shoot folder: ``SHOOT/.photocull/cache.sqlite`` (falling back to the
        user cache when the shoot is read-only), or the user cache when ``user_cache``."""
        if user_cache:
            return cls.open(default_user_cache_dir() / CACHE_FILENAME, root=None, check=check)
        return cls.open(shoot_cache_path(shoot), root=shoot, fallback_to_user=True, check=check)

    @property
    def enabled(self) -> bool:
        return self._conn is not None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self):
        """One write transaction, taking the write lock up front (waits up to the busy
        timeout for another writer instead of failing half-way)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._conn is not None and self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _failed(self, op: str, exc: sqlite3.Error) -> None:
        corrupt = _is_corruption(exc)
        msg = f"Cache {op} failed ({type(exc).__name__}: {exc})"
        msg += ("; the cache is damaged and is off for this run (it is rebuilt on the next)."
                if corrupt else "; treated as a miss.")
        log.warning(msg)
        self.warnings.append(msg)
        if corrupt:
            try:
                self._conn.close()  # type: ignore[union-attr]
            except sqlite3.Error:
                pass
            self._conn = None

    # -- identity -------------------------------------------------------------------------
    def key_for(self, path: str | os.PathLike[str]) -> str:
        """The key of ``path``: POSIX path relative to the shoot root, else absolute."""
        p = Path(path)
        p = p if p.is_absolute() else Path.cwd() / p
        p = Path(os.path.normpath(p))
        if self.root is not None:
            try:
                return p.relative_to(self.root).as_posix()
            except ValueError:
                try:
                    return p.resolve().relative_to(self.root).as_posix()
                except (ValueError, OSError):
                    pass
        return p.as_posix()

    def identify(self, path: str | os.PathLike[str], stat: os.stat_result | None = None) -> FileIdent:
        """The identity of a file: stat + fast lookup; the content hash is computed only when
        the (key, size, mtime_ns) triple is unknown. Raises OSError if the file is unreadable."""
        st = stat or os.stat(path)
        key = self.key_for(path)
        known = self.lookup(key, st.st_size, st.st_mtime_ns)
        if known is not None:
            return known
        return FileIdent(key, st.st_size, st.st_mtime_ns, content_hash(path, st.st_size))

    @_guard(lambda: None)
    def lookup(self, key: str, size: int, mtime_ns: int) -> FileIdent | None:
        """The known identity of the file at ``key`` if its size and mtime are unchanged."""
        row = self._conn.execute(
            "SELECT content_hash FROM paths WHERE key=? AND size=? AND mtime_ns=?",
            (_sql_key(key), int(size), int(mtime_ns)),
        ).fetchone()
        return FileIdent(key, int(size), int(mtime_ns), row[0]) if row else None

    def _remember(self, idents: Iterable[FileIdent], now: float) -> None:
        rows = {(_sql_key(i.key), i.size, i.mtime_ns, i.content_hash) for i in idents if i.key}
        if rows:
            self._conn.executemany(
                "INSERT INTO paths(key, size, mtime_ns, content_hash, seen) VALUES (?,?,?,?,?) "
                "ON CONFLICT(key) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns, "
                "content_hash=excluded.content_hash, seen=excluded.seen",
                [(*r, now) for r in rows],
            )

    @_guard(lambda: None)
    def remember(self, idents: Iterable[FileIdent]) -> None:
        """Record where files are now (done by every ``put_*`` too)."""
        with self._tx():
            self._remember(list(idents), time.time())

    @_guard(lambda: None)
    def relink(self, old: FileIdent, new: FileIdent) -> None:
        """Carry everything stored for ``old`` over to ``new`` (same pixels, new bytes: e.g.
        after photocull wrote a rating into the file). ``old`` keeps its entries too."""
        if old.content_hash == new.content_hash:
            self.remember([new])
            return
        now = time.time()
        a, b = old.content_hash, new.content_hash
        with self._tx():
            self._conn.execute(
                "INSERT OR REPLACE INTO analysis SELECT ?, capture_time, orientation, width, height,"
                " phash, dhash, metrics, extra, ? FROM analysis WHERE content_hash=?", (b, now, a))
            self._conn.execute(
                "INSERT OR REPLACE INTO embeddings SELECT ?, model_key, dim, vector, ? "
                "FROM embeddings WHERE content_hash=?", (b, now, a))
            self._conn.execute(
                "INSERT OR REPLACE INTO scores SELECT ?, scorer_key, data, ? "
                "FROM scores WHERE content_hash=?", (b, now, a))
            self._remember([new], now)

    # -- analysis -------------------------------------------------------------------------
    def get_analysis(self, ident: FileIdent) -> dict[str, Any] | None:
        """The stored analysis dict (see :meth:`put_analysis`) or ``None``."""
        return self.get_analyses([ident]).get(ident)

    def put_analysis(self, ident: FileIdent, data: Mapping[str, Any] | Any) -> None:
        """Store ``data``: a mapping with any of ``capture_time, orientation, width, height,
        phash, dhash, metrics`` (a dict or a ``records.TechnicalMetrics``) and any other
        JSON-serialisable keys, or a ``records.Analysis`` (its image and embedding are not
        stored here: embeddings go through :meth:`put_embeddings`)."""
        self.put_analyses([(ident, data)])

    @_guard(dict)
    def get_analyses(self, idents: Sequence[FileIdent]) -> dict[FileIdent, dict[str, Any]]:
        by_hash = _by_hash(idents)
        out: dict[FileIdent, dict[str, Any]] = {}
        for chunk in _chunks(list(by_hash), _MAX_VARS):
            q = ("SELECT content_hash, capture_time, orientation, width, height, phash, dhash, "
                 f"metrics, extra FROM analysis WHERE content_hash IN ({','.join('?' * len(chunk))})")
            for row in self._conn.execute(q, chunk):
                d: dict[str, Any] = {}
                if row[8]:
                    d.update(json.loads(row[8]))
                for name, value in zip(ANALYSIS_FIELDS, row[1:8]):
                    if value is not None:
                        d[name] = json.loads(value) if name == "metrics" else value
                for ident in by_hash[row[0]]:
                    out[ident] = dict(d)
        return out

    @_guard(lambda: None)
    def put_analyses(self, items: Iterable[tuple[FileIdent, Mapping[str, Any] | Any]]) -> None:
        items = list(items)
        now = time.time()
        rows = []
        for ident, data in items:
            d = _analysis_dict(data)
            metrics = d.pop("metrics", None)
            cols = [d.pop(name, None) for name in ANALYSIS_FIELDS[:-1]]
            rows.append((ident.content_hash, *cols,
                         _dumps(metrics) if metrics is not None else None,
                         _dumps(d) if d else None, now))
        with self._tx():
            self._conn.executemany(
                "INSERT OR REPLACE INTO analysis(content_hash, capture_time, orientation, width, "
                "height, phash, dhash, metrics, extra, updated) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            self._remember([i for i, _ in items], now)

    # -- embeddings -----------------------------------------------------------------------
    @_guard(dict)
    def get_embeddings(self, idents: Sequence[FileIdent], model_key: str) -> dict[FileIdent, np.ndarray]:
        """``{ident: float32 vector}`` for those stored under ``model_key`` (e.g. ``Backbone.key``)."""
        by_hash = _by_hash(idents)
        out: dict[FileIdent, np.ndarray] = {}
        for chunk in _chunks(list(by_hash), _MAX_VARS):
            q = ("SELECT content_hash, dim, vector FROM embeddings WHERE model_key=? AND "
                 f"content_hash IN ({','.join('?' * len(chunk))})")
            for h, dim, blob in self._conn.execute(q, [model_key, *chunk]):
                vec = np.frombuffer(blob, dtype="<f4")
                if vec.size != dim:
                    continue  # a torn or foreign row: a miss
                vec = vec.astype(np.float32)  # a writable native copy
                for ident in by_hash[h]:
                    out[ident] = vec
        return out

    @_guard(lambda: None)
    def put_embeddings(self, idents: Sequence[FileIdent], model_key: str,
                       vectors: np.ndarray | Sequence[np.ndarray]) -> None:
        """Store one vector per ident (``vectors`` (N, D) or N arrays), in one transaction."""
        idents = list(idents)
        if len(idents) != len(vectors):
            raise ValueError(f"{len(idents)} idents but {len(vectors)} vectors")
        now = time.time()
        rows = []
        for ident, v in zip(idents, vectors):
            v = np.ascontiguousarray(np.asarray(v, dtype="<f4").reshape(-1))
            rows.append((ident.content_hash, model_key, int(v.size), v.tobytes(), now))
        with self._tx():
            self._conn.executemany(
                "INSERT OR REPLACE INTO embeddings(content_hash, model_key, dim, vector, updated) "
                "VALUES (?,?,?,?,?)", rows)
            self._remember(idents, now)

    # -- scores ---------------------------------------------------------------------------
    @_guard(dict)
    def get_scores(self, idents: Sequence[FileIdent], scorer_key: str) -> dict[FileIdent, Any]:
        """``{ident: stored value}`` for ``scorer_key``; put the scorer's version in the key
        (``"clip_iqa@1"``) so a new version misses instead of reading stale scores."""
        by_hash = _by_hash(idents)
        out: dict[FileIdent, Any] = {}
        for chunk in _chunks(list(by_hash), _MAX_VARS):
            q = ("SELECT content_hash, data FROM scores WHERE scorer_key=? AND "
                 f"content_hash IN ({','.join('?' * len(chunk))})")
            for h, data in self._conn.execute(q, [scorer_key, *chunk]):
                for ident in by_hash[h]:
                    out[ident] = json.loads(data)
        return out

    @_guard(lambda: None)
    def put_scores(self, items: Iterable[tuple[FileIdent, Any]], scorer_key: str) -> None:
        """Store JSON-serialisable values (dicts, dataclasses such as ``records.FrameScore``)."""
        items = list(items)
        now = time.time()
        rows = [(i.content_hash, scorer_key, _dumps(v), now) for i, v in items]
        with self._tx():
            self._conn.executemany(
                "INSERT OR REPLACE INTO scores(content_hash, scorer_key, data, updated) "
                "VALUES (?,?,?,?)", rows)
            self._remember([i for i, _ in items], now)

    def load_scores(self, idents: Sequence[FileIdent], key: str) -> dict[FileIdent, FrameScore]:
        """The FrameScores stored under ``key`` (:func:`scores_key`): a warm run with a model
        scorer can skip loading the model when every frame is here. Unreadable rows are misses."""
        out: dict[FileIdent, FrameScore] = {}
        for ident, data in self.get_scores(idents, key).items():
            try:
                fs = score_from_dict(data)
            except (KeyError, TypeError, ValueError, AttributeError):
                fs = None
            if fs is not None:
                out[ident] = fs
        return out

    def store_scores(self, items: Iterable[tuple[FileIdent, FrameScore]], key: str) -> None:
        """Keep FrameScores under ``key`` (:func:`scores_key`) for :meth:`load_scores`."""
        self.put_scores(((i, score_to_dict(fs)) for i, fs in items), key)

    # -- housekeeping ---------------------------------------------------------------------
    @_guard(dict)
    def stats(self) -> dict[str, int]:
        """Row counts per table (for ``photocull`` diagnostics)."""
        return {t: self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in _TABLES if t != "schema_version"}


def scores_key(name: str, version: str, weights: str | None = None) -> str:
    """The scores table key of a scorer: its name, its version (bumped when scores change
    meaning) and a hash of its weights, so new weights or a new version miss."""
    return f"{name}@{version}" + (f"#{weights}" if weights else "")


def _sql_key(key: str) -> str | bytes:
    """A path key SQLite can hold: the text itself, or, for a name that is not UTF-8 (its
    undecodable bytes are surrogates in Python), the exact bytes as a BLOB; a BLOB never
    equals a TEXT key, so no two names share a row."""
    try:
        key.encode("utf-8")
        return key
    except UnicodeEncodeError:
        return key.encode("utf-8", "surrogateescape")


def _by_hash(idents: Iterable[FileIdent]) -> dict[str, list[FileIdent]]:
    out: dict[str, list[FileIdent]] = {}
    for i in idents:
        out.setdefault(i.content_hash, []).append(i)
    return out


def _chunks(seq: list, n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _analysis_dict(data: Any) -> dict[str, Any]:
    if isinstance(data, Mapping):
        d = dict(data)
    elif dataclasses.is_dataclass(data) and not isinstance(data, type):
        # records.Analysis: everything but the working image and the embedding
        d = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)
             if f.name not in ("image", "embedding")}
    else:
        raise TypeError(f"cannot store analysis of type {type(data).__name__}")
    m = d.get("metrics")
    if m is not None and dataclasses.is_dataclass(m) and not isinstance(m, type):
        d["metrics"] = dataclasses.asdict(m)
    d.pop("image", None)
    d.pop("embedding", None)
    return d


# --------------------------------------------------------------------------------------------
# Connecting, checking, repairing


def _connect(path: Path, check: bool, warnings: list[str]) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _open_checked(path, check)
    except (sqlite3.DatabaseError, CacheCorrupt) as exc:
        if not _is_corruption(exc):
            raise
        aside = _move_aside(path)
        msg = (f"The cache {path} was damaged ({exc}); moved it to {aside.name} and started "
               "a new one.")
        log.warning(msg)
        warnings.append(msg)
        return _open_checked(path, check)


def _open_checked(path: Path, check: bool) -> sqlite3.Connection:
    if path.exists() and path.stat().st_size > 0:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
        if head != _SQLITE_MAGIC:
            raise CacheCorrupt("not an SQLite database")
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        _set_wal(conn, path)
        conn.execute("PRAGMA synchronous=NORMAL")
        if check:
            rows = conn.execute("PRAGMA quick_check").fetchall()
            if not rows or rows[0][0] != "ok":
                raise CacheCorrupt("quick_check: " + "; ".join(str(r[0]) for r in rows[:3]))
        _ensure_schema(conn)
        return conn
    except BaseException:
        conn.close()
        raise


def _set_wal(conn: sqlite3.Connection, path: Path) -> None:
    """Switch to WAL once per database. Changing the journal mode while another process holds
    the file returns "database is locked" at once (SQLite does not call the busy handler
    there), so retry until the busy timeout; a file already in WAL needs no change."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.debug("cache %s: journal_mode is %s, not wal", path, mode)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(0.1, delay * 2)


def _ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the tables, or drop and recreate them when the stored version differs."""
    conn.execute("BEGIN IMMEDIATE")  # one process at a time decides
    try:
        have = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone()
        version = None
        if have:
            row = conn.execute("SELECT version FROM schema_version LIMIT 1").fetchone()
            version = row[0] if row else None
        if version != SCHEMA_VERSION:
            if version is not None:
                log.warning("cache schema %s -> %s: rebuilding the cache", version, SCHEMA_VERSION)
            names = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
            for name in names:
                conn.execute(f'DROP TABLE IF EXISTS "{name}"')
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("INSERT INTO schema_version(version) VALUES (?)", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    os.replace(path, aside)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            try:
                os.replace(side, aside.with_name(aside.name + suffix))
            except OSError:
                pass
    return aside
