"""The executor contract stages rely on: input order, per-item errors as values, progress, cancel."""

from __future__ import annotations

import operator

import pytest

from photocull.pipeline import Cancel, ItemFailure, LocalExecutor


@pytest.mark.parametrize("workers", [1, 2])
def test_results_in_order_with_failures_as_values(workers: int) -> None:
    # operator.getitem(item, 1): items of length 1 raise IndexError in the worker.
    items = [(k,) if k % 5 == 0 else (k, k * 10) for k in range(30)]
    done = []
    with LocalExecutor(workers) as ex:
        ex.start(len(items))
        assert (ex.pool is not None) == (workers > 1)  # a real process pool when asked for one
        out = list(ex.map(operator.getitem, items, 1, progress=done.append))
    assert len(out) == 30 and sum(done) == 30
    for k, r in enumerate(out):
        if k % 5 == 0:
            assert isinstance(r, ItemFailure) and r.item == (k,) and r.error.startswith("IndexError")
        else:
            assert r == k * 10


def test_cancel_stops_starting_items_and_keeps_what_was_done() -> None:
    cancel = Cancel()
    seen = []
    ex = LocalExecutor(1)
    for r in ex.map(operator.getitem, [(k,) for k in range(10)], 0, cancel=cancel):
        seen.append(r)
        if len(seen) == 3:
            cancel.set()
    assert seen == [0, 1, 2]


def test_small_jobs_run_in_process() -> None:
    ex = LocalExecutor(4)
    ex.start(3)
    assert ex.pool is None
    assert list(ex.map(operator.getitem, [(1, 2)], 1)) == [2]


def test_decode_units_are_sized_by_file_data() -> None:
    """Big frames go to workers one by one (no worker left waiting for a dozen 24 MP
    frames at the end); small files travel in units of up to 16."""
    from pathlib import Path

    from photocull.pipeline.stages import DECODE_BATCH_MAX, decode_batch_size
    from photocull.scan import FoundFile

    def files(size: int, n: int = 5) -> list[FoundFile]:
        return [FoundFile(Path(f"{k}.jpg"), "jpeg", size, 0) for k in range(n)]

    assert decode_batch_size(files(9_000_000)) == 1
    assert decode_batch_size(files(2_000_000)) == 4
    assert decode_batch_size(files(40_000)) == DECODE_BATCH_MAX
    assert decode_batch_size(files(0)) == DECODE_BATCH_MAX  # zero-byte files: errors, cheap ones
    assert decode_batch_size([]) == 1
