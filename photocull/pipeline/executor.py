"""Where per-item work runs: the :class:`Executor` protocol and the local process pool.

A stage hands the executor a top-level function, the items and one shared argument (all
picklable: plain dataclasses), and reads the results back lazily, in input order, so the
consumer (the embedder) works on one batch while the workers decode the next. A failure in
one item comes back as an :class:`ItemFailure` value in that item's place, never as an
exception that ends the map; a cancelled map stops starting new items and keeps what it
yielded. That is all a stage may assume, so a distributed executor (Ray Data's
``map_batches`` over the same function, with ``batch_size`` as its batch) can stand in for
:class:`LocalExecutor` without a stage changing.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Protocol, Sequence, TypeVar

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

    def close(self) -> None:
        """Stop the workers (pending work is cancelled)."""
        ...


def default_workers() -> int:
    """CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


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


def _call(fn: Callable[[Any, Any], Any], item: Any, arg: Any) -> Any:
    """Run one item, turning its exception into a value (so one bad item ends nothing)."""
    try:
        return fn(item, arg)
    except Exception as exc:  # noqa: BLE001 - per-item errors are values
        return ItemFailure(item, f"{type(exc).__name__}: {exc}")


class LocalExecutor:
    """Worker processes on this machine (decode is CPU-bound: not for the GIL).

    Small jobs run in-process, where worker start-up would cost more than it saves.
    """

    def __init__(self, workers: int | None = None, preload: Sequence[str] = ()):
        self.workers = workers or default_workers()
        self.preload = tuple(preload)  # modules every worker needs beyond the decode stack (cv2 for faces)
        self.pool: ProcessPoolExecutor | None = None

    def start(self, expected: int) -> None:
        if self.pool is None and self.workers > 1 and expected >= PARALLEL_MIN_FILES:
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_mp_context(self.preload))
            for _ in range(self.workers):
                self.pool.submit(int)  # start every worker now

    def map(self, fn, items, arg, *, progress=None, cancel=None, batch_size=None):
        advance = progress or (lambda n=1: None)
        if self.pool is None or len(items) < PARALLEL_MIN_FILES:
            results = (_call(fn, item, arg) for item in items)
        else:
            chunk = batch_size or max(1, min(16, len(items) // (self.workers * 8)))
            n = len(items)
            results = self.pool.map(_call, [fn] * n, items, [arg] * n, chunksize=chunk)
        for result in results:
            if cancel is not None and cancel.is_set():
                self.close()
                return
            advance(1)
            yield result

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
