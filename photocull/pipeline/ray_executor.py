"""The Ray Data engine: the :class:`~.executor.Executor` contract on a Ray cluster.

``photocull cull LIBRARY/ --engine ray`` runs the per-file stage (decode, hash, measure) as
Ray Data ``map_batches`` tasks on CPU workers, so a library that outgrows one machine is
decoded by every node of a cluster; everything after it (grouping, scoring, picking,
writing) runs on the driver over the records, exactly as with the local engine, which is
why the two engines give the same report. The files are partitioned by folder: one block
never mixes two folders, and a large folder is cut into blocks of ``block_rows`` files, so
a task reads from one shoot (one directory, one disk, one NFS export) at a time.

Items, the stage function and its argument cross to the workers pickled; each result comes
back pickled in its row with its input index, and :meth:`RayExecutor.map` yields them in
input order. An item whose function raised is an :class:`~.executor.ItemFailure` value, as
on the local engine, so a task never fails for a bad file; a task lost with its node is
retried by Ray Data (its default for tasks: ``max_retries=-1`` on system failures), and
if Ray still gives up (an object lost for good) the items not yet returned become failures,
so a lost node never ends a run.

Embeddings: with a backbone and a cluster that reports GPUs, :meth:`RayExecutor.map_embedded`
adds a second ``map_batches`` stage, an actor pool with one GPU per actor, each holding the
backbone once (see ``docs/scale.md``). On a CPU-only cluster the driver embeds as the local
engine does. Ray is an optional dependency (``pip install 'photocull[ray]'``): importing this
module without it raises ImportError, which the CLI turns into an install hint.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import ray  # noqa: F401 - an ImportError here is how callers learn Ray is missing
import ray.data

from ..runtime import keep_freed_buffers
from ..scan import FoundFile
from .executor import EngineUnavailable, ExecutorDefaults, ItemFailure, _call
from .progress import Advance

BLOCK_ROWS = 256  # files per block at most: enough work per task, small enough to spread a big folder
BATCH_SIZE = 32  # files per map_batches call when the stage gives no hint
LOCAL_OBJECT_STORE_MB = 512  # a Ray started here: results are small records, the store needn't be large


def folder_of(item: Any) -> str:
    """The folder a file is in ('' for items that are not files): the partition key."""
    return str(Path(item.path).parent) if isinstance(item, FoundFile) else ""


def partition(items: Sequence[Any], block_rows: int = BLOCK_ROWS) -> list[list[int]]:
    """Indices of ``items`` cut into blocks: one folder per block, at most ``block_rows`` each.

    Folders keep the order they first appear in and items keep theirs within a folder, so a
    scan in path order gives blocks in input order (and the driver buffers nothing).
    """
    by_folder: dict[str, list[int]] = defaultdict(list)
    for k, item in enumerate(items):
        by_folder[folder_of(item)].append(k)
    return [idx[s : s + block_rows] for idx in by_folder.values() for s in range(0, len(idx), block_rows)]


def worker_runtime_env(address: str | None = None) -> dict[str, Any]:
    """How Ray workers import this same photocull.

    A Ray started on this machine runs its workers here: they get the folder this package
    was imported from first on ``PYTHONPATH`` (a source checkout run with PYTHONPATH, an
    editable install and a site-packages install all work). A cluster (any ``address``,
    ``auto`` included: its other nodes) cannot see this machine's folders: the package itself travels (``py_modules``; Ray uploads it
    once per job); its dependencies must be installed on the nodes (``pip install photocull``).
    """
    package = Path(__file__).resolve().parents[1]
    if address in (None, "local"):
        current = os.environ.get("PYTHONPATH", "")
        return {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in (str(package.parent), current) if p)}}
    return {"py_modules": [str(package)]}


def _run_batch(batch: dict[str, Any], fn: Callable[[Any, Any], Any], arg: Any) -> dict[str, Any]:
    """One ``map_batches`` call on a worker: ``fn`` per item, failures as values, results pickled."""
    keep_freed_buffers()  # as the local workers do (Ray reuses its worker processes: cheap to repeat)
    results = [pickle.dumps(_call(fn, pickle.loads(p), arg), protocol=pickle.HIGHEST_PROTOCOL) for p in batch["payload"]]
    return {"idx": batch["idx"], "result": results}


class EmbedActor:
    """A GPU worker holding one backbone: fills in the embeddings of decoded results.

    Used as ``map_batches(EmbedActor, num_gpus=1, concurrency=n)``: Ray starts ``n`` actors,
    each loads the model once onto its GPU (the weights must be on the node: a shared
    folder or each node's hub cache), then embeds whole batches of working images.
    Results that are not ``(Frame, Analysis)`` pairs (errors, failures) pass through.
    """

    def __init__(self, spec: Any, batch_size: int | None, keep_images: bool, device: str = "cuda") -> None:
        from ..backbones.clip import load_backbone

        self.backbone = load_backbone(spec, device, batch_size=batch_size)
        self.keep_images = keep_images

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from ..backbones.stream import embed_stream

        outcomes = [pickle.loads(r) for r in batch["result"]]
        decoded = [(o[1], o[1].image) for o in outcomes if isinstance(o, tuple)]
        for analyses, vectors in embed_stream(self.backbone, iter(decoded)):
            for analysis, v in zip(analyses, vectors):
                analysis.embedding = v
        if not self.keep_images:
            for o in outcomes:
                if isinstance(o, tuple):
                    o[1].image = None  # the driver needs the vector, not the pixels
        return {"idx": batch["idx"], "result": [pickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL) for o in outcomes]}


@dataclass(frozen=True)
class GpuEmbedding:
    """Embed on the cluster's GPUs: the backbone's spec and batch, whether the driver still
    needs the working images (scorers that look at pixels), and how many actors (one GPU each)."""

    spec: Any
    batch_size: int | None = None
    keep_images: bool = False
    actors: int = 1


class RayExecutor(ExecutorDefaults):
    """Per-item work as Ray Data tasks on a Ray cluster (or a Ray started here).

    ``address``: a running cluster (``ray://host:10001`` or ``auto``); ``None`` starts a
    private Ray on this machine with ``workers`` CPUs. A Ray already initialised in this
    process (a test, a notebook) is used as it is and left running.
    """

    def __init__(self, address: str | None = None, workers: int | None = None, *,
                 block_rows: int = BLOCK_ROWS,
                 object_store_mb: int = LOCAL_OBJECT_STORE_MB, temp_dir: str | None = None) -> None:
        self.address = address
        self.workers = workers
        self.block_rows = block_rows
        self.object_store_mb = object_store_mb
        self.temp_dir = temp_dir
        self._owns_ray = False

    # -- the cluster -----------------------------------------------------------------------

    def start(self, expected: int) -> None:
        """Connect (or start Ray here) now, so start-up overlaps the cache look-up."""
        if self.address not in (None, "local"):
            _check_reachable(self.address)
        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = dict(runtime_env=worker_runtime_env(self.address), logging_level=logging.ERROR,
                                      log_to_driver=False, configure_logging=True)
        if self.address in (None, "local"):
            kwargs.update(num_cpus=self.workers, include_dashboard=False,
                          object_store_memory=self.object_store_mb * 1024 * 1024)
            if self.temp_dir:
                kwargs["_temp_dir"] = self.temp_dir
        else:
            kwargs["address"] = self.address
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError, OSError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address not in (None, "local") else "a local Ray"
            raise EngineUnavailable(f"could not start {where}: {exc}; check --ray-address, "
                                    "or use --engine local") from None
        self._owns_ray = True

    def gpus(self) -> int:
        """GPUs the cluster reports (0 on a CPU-only cluster: the driver embeds)."""
        self.start(0)
        return int(ray.cluster_resources().get("GPU", 0))

    def gpu_embedding(self, backbone, keep_images: bool) -> GpuEmbedding | None:
        """How to embed on this cluster's GPUs, or None when it has none (the driver embeds)."""
        gpus = self.gpus() if backbone is not None else 0
        if gpus == 0:
            return None
        return GpuEmbedding(backbone.spec, backbone.batch_size, keep_images, actors=gpus)

    def close(self) -> None:
        """Shut down a Ray this executor started; leave one it found running."""
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the work ----------------------------------------------------------------------------

    def map(self, fn, items, arg, *, progress: Advance | None = None, cancel=None, batch_size: int | None = None):
        return self._stream(fn, items, arg, progress, cancel, batch_size, embed=None)

    def map_embedded(self, fn, items, arg, embed: GpuEmbedding, *, progress: Advance | None = None, cancel=None,
                     batch_size: int | None = None):
        """:meth:`map`, then embeddings on GPU actors (one per GPU) before results come back."""
        return self._stream(fn, items, arg, progress, cancel, batch_size, embed=embed)

    def _dataset(self, fn, items, arg, batch_size: int | None, embed: GpuEmbedding | None):
        import pyarrow as pa

        blocks = [pa.table({"idx": pa.array(idx, pa.int64()),
                            "payload": pa.array([pickle.dumps(items[k], protocol=pickle.HIGHEST_PROTOCOL) for k in idx],
                                                pa.binary())})
                  for idx in partition(items, self.block_rows)]
        ds = ray.data.from_arrow(blocks).map_batches(
            _run_batch, fn_args=(fn, arg), batch_size=batch_size or BATCH_SIZE, batch_format="numpy",
            num_cpus=1)
        if embed is not None:
            ds = ds.map_batches(EmbedActor, fn_constructor_args=(embed.spec, embed.batch_size, embed.keep_images),
                                batch_size=embed.batch_size or 64, batch_format="numpy", num_gpus=1,
                                concurrency=embed.actors)
        return ds

    def _stream(self, fn, items, arg, progress, cancel, batch_size, embed) -> Iterator[Any]:
        advance = progress or (lambda n=1: None)
        if not items:
            return
        self.start(len(items))
        _quiet_ray_data()
        ds = self._dataset(fn, items, arg, batch_size, embed)
        waiting: dict[int, Any] = {}  # results that came before an earlier index
        nxt = 0
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                for k, blob in zip(batch["idx"], batch["result"]):
                    waiting[int(k)] = pickle.loads(blob)
                while nxt in waiting:
                    if cancel is not None and cancel.is_set():
                        return
                    advance(1)
                    yield waiting.pop(nxt)
                    nxt += 1
        except Exception as exc:  # noqa: BLE001 - a task Ray gave up on: its items fail, the run goes on
            if _is_ray_error(exc):
                message = f"{type(exc).__name__}: {exc}".splitlines()[0]
                for k in range(nxt, len(items)):
                    if cancel is not None and cancel.is_set():
                        return
                    advance(1)
                    yield waiting.pop(k) if k in waiting else ItemFailure(items[k], message)
                return
            raise


def _is_ray_error(exc: BaseException) -> bool:
    from ray.exceptions import RayError

    return isinstance(exc, RayError)


def _quiet_ray_data() -> None:
    """Ray Data's own progress bars and notes would mix into photocull's: keep input order,
    and say nothing below a warning."""
    for name in ("ray.data", "ray.data._internal"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` (or ``ray://HOST:PORT``) nobody answers on: ``ray.init``
    itself retries such an address for minutes. ``auto`` and other forms are Ray's to resolve."""
    import socket

    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise EngineUnavailable(f"no Ray cluster answers at {address} ({exc.strerror or exc}); check --ray-address, "
                                "or use --engine local") from None
