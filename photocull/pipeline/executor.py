"""Where per-item work runs: the :class:`Executor` protocol and the local process pool.

A stage hands the executor a top-level function, the items and one shared argument (all
picklable: plain dataclasses), and reads the results back lazily, in input order, so the
consumer (the embedder) works on one batch while the workers decode the next. A failure in
one item comes back as an :class:`ItemFailure` value in that item's place, never as an
exception that ends the map; a cancelled map stops starting new items and keeps what it
yielded. A stage assumes the :class:`Executor` protocol and nothing more: its one optional
capability, embedding on GPUs of its own (``gpu_embedding``/``map_embedded``), is declared
there with its default in :class:`ExecutorDefaults` (None: the caller embeds). So a distributed
executor (Ray Data's ``map_batches`` over the same function, with ``batch_size`` as its batch)
can stand in for :class:`LocalExecutor` without a stage changing.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Protocol, Sequence, TypeVar

from ..runtime import cpu_count, keep_freed_buffers
from .progress import Advance

T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")

PARALLEL_MIN_FILES = 12  # below this, starting worker processes costs more than it saves


@dataclass(frozen=True)
class ItemFailure(Generic[T]):
    """An item whose function raised: the item, and the exception's type and text."""

    item: T
    error: str  # "TypeName: message"


class Cancel:
    """A flag a caller sets (from another thread, a signal handler) to stop a map early."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


class Executor(Protocol):
    """Runs a function over items somewhere (this process, a pool, a cluster)."""

    def start(self, expected: int) -> None:
        """A hint that about ``expected`` items are coming: start workers now, so their
        start-up overlaps the caller's other work. Optional to act on."""
        ...

    def map(
        self,
        fn: Callable[[T, A], R],
        items: Sequence[T],
        arg: A,
        *,
        progress: Advance | None = None,
        cancel: Cancel | None = None,
        batch_size: int | None = None,
    ) -> Iterator[R | ItemFailure[T]]:
        """``fn(item, arg)`` for every item; results lazily and in input order.

        ``fn`` must be a module-level function and ``items``/``arg`` picklable (they may
        cross process or machine boundaries). ``progress(n)`` is called as items finish.
        ``batch_size``: items per unit of work sent to a worker (a hint).
        """
        ...

    def gpu_embedding(self, backbone: Any, keep_images: bool) -> Any | None:
        """A plan for embedding on this executor's own GPUs (then the stage calls
        ``map_embedded(fn, items, arg, plan, progress=...)``), or None: the caller embeds."""
        ...

    def close(self) -> None:
        """Stop the workers (pending work is cancelled)."""
        ...


class ExecutorDefaults:
    """The defaults of an executor's optional parts: subclass it and override what you do."""

    def start(self, expected: int) -> None:
        pass

    def gpu_embedding(self, backbone: Any, keep_images: bool) -> Any | None:
        return None

    def close(self) -> None:
        pass


class EngineUnavailable(RuntimeError):
    """An engine whose optional dependency is not installed, or whose cluster cannot be
    reached (the message says what to do)."""


def default_workers() -> int:
    """CPUs this process may use."""
    return cpu_count()


def _fork_is_safe() -> bool:
    """Plain fork is safe here: Linux, this process still single-threaded, no torch loaded.

    Why prefer it then: forked workers start in milliseconds sharing the decode stack the
    caller has already imported, where a forkserver first starts an interpreter and imports
    that stack again (~0.5 s on a loaded 2-core machine: most of a small cull's overhead).
    A progress bar's refresh thread, torch's thread pools or macOS frameworks make fork
    unsafe, so then the forkserver (or spawn) is used.
    """
    return sys.platform.startswith("linux") and threading.active_count() == 1 and "torch" not in sys.modules


def _mp_context(preload: Sequence[str] = ()):
    """fork when :func:`_fork_is_safe` (``preload`` imported here first, so every worker
    shares it); else forkserver where available (workers fork from a clean server that has
    imported the decode stack, and ``preload``, once), else spawn. A ``preload`` module that
    is not installed is skipped."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and _fork_is_safe():
        for name in preload:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
        if _fork_is_safe():  # an import may have started threads
            return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["photocull.analyse", *preload])
        return ctx
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _worker_environment():
    """Start worker processes that import photocull from where this process did.

    The forkserver is started with ``python -c``, which puts the working directory first on
    its ``sys.path`` (and Python 3.11 ignores the parent's path it is handed). A folder named
    ``photocull`` there (the one that holds a clone) then becomes an empty namespace package
    that hides an editable install, and every worker dies unpickling its function.
    ``PYTHONSAFEPATH`` keeps the working directory off the path (3.11+); on 3.10 the folder
    holding this package goes first on ``PYTHONPATH`` (a regular package beats a namespace).
    """
    saved = {k: os.environ.get(k) for k in ("PYTHONSAFEPATH", "PYTHONPATH")}
    os.environ["PYTHONSAFEPATH"] = "1"
    if sys.version_info < (3, 11):
        here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, saved["PYTHONPATH"]) if p)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _init_worker(parent: int) -> None:
    """Every decode worker's start: die with the main process, reuse freed buffers."""
    keep_freed_buffers()
    _watch_parent(parent)


def _watch_parent(parent: int) -> None:
    """In a worker: end this process when the main process ends, however it ends.

    Workers are children of the forkserver, not of the main process: a ``kill -9`` of the
    main process would leave them decoding for nothing (230 MB each, minutes). On Linux the
    kernel signals the worker when the forkserver (which exits with the main process) dies;
    on every POSIX system a daemon thread checks once a second that the main process exists.
    Ctrl-C is the main process's to handle: it stops the map and keeps what was done.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while True:
            try:
                os.kill(parent, 0)
            except (ProcessLookupError, PermissionError):  # gone (PermissionError: its pid was reused)
                os._exit(1)
            threading.Event().wait(1.0)

    if os.name == "posix":  # (on Windows os.kill(pid, 0) would terminate the main process)
        threading.Thread(target=watch, name="photocull-parent-watch", daemon=True).start()


def _call(fn: Callable[[Any, Any], Any], item: Any, arg: Any) -> Any:
    """Run one item, turning its exception into a value (so one bad item ends nothing)."""
    try:
        return fn(item, arg)
    except Exception as exc:  # noqa: BLE001 - per-item errors are values
        return ItemFailure(item, f"{type(exc).__name__}: {exc}")


class LocalExecutor(ExecutorDefaults):
    """Worker processes on this machine (decode is CPU-bound: not for the GIL).

    Small jobs run in-process, where worker start-up would cost more than it saves.
    """

    def __init__(self, workers: int | None = None, preload: Sequence[str] = ()):
        self.workers = workers or default_workers()
        self.preload = tuple(preload)  # modules every worker needs beyond the decode stack (cv2 for faces)
        self.pool: ProcessPoolExecutor | None = None

    def start(self, expected: int) -> None:
        if self.pool is None and self.workers > 1 and expected >= PARALLEL_MIN_FILES:
            with _worker_environment():  # the forkserver and workers start here
                self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_mp_context(self.preload),
                                                initializer=_init_worker, initargs=(os.getpid(),))
                for _ in range(self.workers):
                    self.pool.submit(int)  # start every worker now

    def map(self, fn, items, arg, *, progress=None, cancel=None, batch_size=None):
        advance = progress or (lambda n=1: None)
        if self.pool is None or len(items) < PARALLEL_MIN_FILES:
            results = (_call(fn, item, arg) for item in items)
        else:
            chunk = max(1, min(batch_size or 16, len(items) // (self.workers * 8)))  # the hint, and 8 units a worker at least
            n = len(items)
            results = self.pool.map(_call, [fn] * n, items, [arg] * n, chunksize=chunk)
        try:
            for result in results:
                if cancel is not None and cancel.is_set():
                    self.close()
                    return
                advance(1)
                yield result
        except KeyboardInterrupt:
            self._abort()  # Ctrl-C: stop now, not after the items the workers are on
            raise

    def _abort(self) -> None:
        """Stop starting items and return at once; the workers finish the items they are on
        (they ignore SIGINT: a worker killed mid-queue would print its own traceback)."""
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
