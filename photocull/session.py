"""One run of photocull, assembled in one place: what ``cull``, ``score`` and ``group`` (and the
benchmarks, and any program using photocull as a library) all do.

A :class:`Session` builds everything a run needs from the typed settings
(:class:`photocull.settings.Settings`) and a :class:`~photocull.mode.Mode`: the shoot's lock
and the clean-up of temp files a killed run left, the CLIP backbone, the scorer (with the
mode's rule: ``group`` always scores with ``technical``), the face checks, the executor, the
journal and the metadata writer. :meth:`Session.run` runs the pipeline and keeps the last
run (``SHOOT/.photocull/last_run.json``, and for a writing run the writer options the review
page writes with; :mod:`photocull.last_run`). It never prints and never exits: what a user
should hear arrives as :class:`Notice` values, and what stops a run is a
:class:`~photocull.errors.SessionError` (re-exported here), whose text says what to do and
whose ``exit_code`` the CLI exits with::

    from photocull.session import Mode, Session
    from photocull.settings import load

    with Session.open(shoot, load(shoot), Mode.CULL) as session:
        result = session.run()
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from . import paths
from .errors import ModelUnavailable, NoPhotos, NoRun, SessionError, SetupError, ShootUnavailable
from .last_run import UNDONE_LAST_RUN, load_last_run, mark_last_run_undone, save_last_run
from .lock import ShootBusy, ShootLock, UnsafeStateFolder, shoot_lock
from .mode import Mode
from .pipeline import CullOptions, CullResult, Executor, Progress
from .records import FileError, Writer
from .scorers.base import Scorer
from .settings import Settings

if TYPE_CHECKING:
    from .metadata.journal import Journal

__all__ = [
    "FROM_SETTINGS", "LOCK_WAIT_S", "ModelUnavailable", "Mode", "NoPhotos", "NoRun", "Notice", "RUN_STAGE",
    "Session", "SessionError", "SetupError", "ShootUnavailable", "UNDONE_LAST_RUN", "cull_shoot", "hold_shoot",
    "load_last_run", "mark_last_run_undone", "save_last_run",
]

FROM_SETTINGS: Any = object()  # Session.open's backbone/scorer: build the one the settings name
LOCK_WAIT_S = 3.0  # how long a second writer waits for the first before giving up
RUN_STAGE = "run"  # the stage of a warning about the whole run (its path: the shoot)


@dataclass(frozen=True)
class Notice:
    """Something the user should hear as it happens. ``in_report``: the run's report keeps
    it too (as a warning of stage ``run``), so a JSON reader learns it as well."""

    level: str  # "warning" or "note"
    text: str
    in_report: bool = False


@contextmanager
def hold_shoot(shoot: Path, command: str, *, wait: float = LOCK_WAIT_S,
               on_notice: Callable[[Notice], None] = lambda n: None) -> Iterator[ShootLock]:
    """Hold ``shoot`` for a writing command (cull, undo) and check its journal can be used:
    :class:`ShootUnavailable` when another photocull holds it past ``wait`` seconds, when its
    state folder is a link, or when the journal cannot be written (no write, no undo then).
    Where the file system cannot lock, the command goes on unlocked with a note."""
    from .metadata.journal import Journal

    try:
        with shoot_lock(shoot, command, wait=wait) as held:
            if not held.locked:
                on_notice(Notice("note", f"{held.why_not}; going on without the shoot lock "
                                         "(do not run two photocull commands on it at once)"))
            problem = Journal(paths.shoot_folder(shoot)).problem()
            if problem is not None:
                raise ShootUnavailable(problem)
            yield held
    except (ShootBusy, UnsafeStateFolder) as exc:
        raise ShootUnavailable(str(exc)) from None


def _no_photos(shoot: Path, recursive: bool) -> str:
    """What to say when a folder holds no photo at all (nothing was done)."""
    from .inputs.formats import FORMATS

    kinds = ", ".join(f.name.upper() for f in FORMATS.values())
    where = "" if recursive else " (subfolders were not searched: drop --no-recursive)"
    return (f"no photos found in {shoot}{where}; photocull reads {kinds} files. Check that this is the folder "
            "the photos were copied to (nothing was done)")


@dataclass
class Session:
    """One assembled run of one shoot; build it with :meth:`open` (a context manager: leaving
    it releases the shoot's lock). :meth:`run` may be called more than once (a warm re-run)."""

    shoot: Path
    settings: Settings
    mode: Mode
    options: CullOptions
    scorer: Scorer | None
    backbone: Any = None  # a (lazy) CLIP backbone, or None: series from capture time and hashes
    writer: Writer | None = None
    journal: Journal | None = None
    notices: list[Notice] = field(default_factory=list)  # everything said so far, in order
    on_notice: Callable[[Notice], None] = lambda n: None
    _executor: Executor | None = None
    _resources: ExitStack = field(default_factory=ExitStack)

    @classmethod
    def open(cls, shoot: Path | str, settings: Settings | None = None, mode: Mode | str = Mode.CULL, *,
             on_notice: Callable[[Notice], None] | None = None, lock_wait: float = LOCK_WAIT_S,
             backbone: Any = FROM_SETTINGS, scorer: Scorer | Any = FROM_SETTINGS) -> Session:
        """Take the shoot (a writing run that is no dry run), then build the backbone, scorer,
        face checks, executor, journal and writer, in that order: the first that cannot be
        built raises its :class:`SessionError` and releases what was taken. ``settings``
        default to :func:`photocull.settings.load` of the shoot; ``backbone``/``scorer``
        replace the ones the settings name (a benchmark's model with random weights)."""
        from .settings import ConfigError, load

        shoot = Path(shoot)
        try:
            settings = settings if settings is not None else load(shoot)
        except ConfigError as exc:  # a photocull.toml that cannot be used: says which file and key
            raise SetupError(str(exc)) from None
        mode = Mode.of(mode)
        s = cls(shoot, settings, mode, CullOptions(), None, on_notice=on_notice or (lambda n: None))
        try:
            s._take_shoot(lock_wait)
            s.backbone = s._load_backbone() if backbone is FROM_SETTINGS else backbone
            s.scorer = s._create_scorer() if scorer is FROM_SETTINGS else scorer
            s.options = settings.cull_options(mode, faces=mode.faces and s._faces_enabled())
            s._executor = s._create_executor(first=True)
            s._create_writer()
        except BaseException:
            s.close()
            raise
        return s

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the shoot's lock (and an executor no run used)."""
        if self._executor is not None:
            self._executor.close()
            self._executor = None
        self._resources.close()

    def tell(self, notice: Notice) -> None:
        """Say ``notice`` now (``on_notice``) and remember it (``notices``)."""
        self.notices.append(notice)
        self.on_notice(notice)

    # -- building --------------------------------------------------------------------------

    def _take_shoot(self, wait: float) -> None:
        """A writing run holds the shoot (another photocull waits), then clears the temp files a
        killed run left: in the shoot, and in the copy/move folders (a killed --copy-picks)."""
        c = self.settings.cull
        if not self.mode.writes or c.dry_run:
            return
        from .metadata.atomic import cleanup_temp_files

        self._resources.enter_context(hold_shoot(self.shoot, self.mode.name, wait=wait, on_notice=self.tell))
        cleanup_temp_files(paths.shoot_folder(self.shoot))
        for folder in (c.copy_picks, c.move_rejects):
            if folder and Path(folder).is_dir():
                cleanup_temp_files(Path(folder), recursive=False)

    def _load_backbone(self) -> Any:
        """The CLIP backbone for grouping and CLIP scoring (loaded on first use), or None (with a
        warning when the default's weights are not here)."""
        c = self.settings.cull
        if c.no_embeddings:
            return None
        from .backbones import WeightsUnavailable
        from .backbones.clip import load_for_run
        from .runtime import DeviceUnavailable

        try:
            backbone, why_none = load_for_run(c.model, c.pretrained, c.device, c.batch_size)
        except (DeviceUnavailable, WeightsUnavailable) as exc:
            raise ModelUnavailable(str(exc)) from None
        except ValueError as exc:  # an unknown model name
            raise SetupError(str(exc)) from None
        if why_none:
            self.tell(Notice("warning", why_none, in_report=True))
        return backbone

    def _create_scorer(self) -> Scorer:
        """The mode's scorer, else the settings' (``auto``: the best one that can be built here,
        with a note naming what was missing for a better one)."""
        from .scorers import ScorerUnavailable, create_scorer, resolve_auto

        c = self.settings.cull
        request = dict(thresholds=self.settings.technical, backbone=self.backbone, device=c.device,
                       weights=Path(c.weights) if c.weights else None, exhaustive=c.exhaustive_series(),
                       seed=c.seed, batch_size=c.batch_size)
        name = self.mode.scorer or c.scorer.lower()
        try:
            if name == "auto":
                choice = resolve_auto(**request)
                if choice.note:
                    self.tell(Notice("note", choice.note, in_report=True))
                name = choice.name
            return create_scorer(name, **request)
        except ScorerUnavailable as exc:
            raise ModelUnavailable(str(exc)) from None
        except ValueError as exc:  # an unknown name from photocull.toml
            raise SetupError(str(exc)) from None

    def _faces_enabled(self) -> bool:
        """``--faces`` asked for: OpenCV must be there. Off by default, so installing OpenCV
        never changes what a cull does."""
        if not self.settings.cull.faces:
            return False
        from .faces import unavailable_reason

        reason = unavailable_reason()
        if reason is not None:
            raise SetupError(f"--faces: {reason}")
        return True

    def _create_executor(self, first: bool = False) -> Executor | None:
        """Where per-file work runs (``--engine``): None for the pipeline's own local pool, else
        an executor started now (a cluster that cannot be reached stops the run before it starts)."""
        from .pipeline import EngineUnavailable, create_executor

        c = self.settings.cull
        if c.engine == "local":
            if c.ray_address and first:
                self.tell(Notice("warning", "ray_address is only used with --engine ray; decoding on this machine"))
            return None
        try:
            executor = create_executor(c.engine, c.workers, c.ray_address)
            executor.start(0)
        except EngineUnavailable as exc:
            raise SetupError(str(exc)) from None
        return executor

    def _create_writer(self) -> None:
        """A writing run's journal and writer (a dry run checks the journal could be written:
        a real run checked it with the lock)."""
        if not self.mode.writes:
            return
        from .metadata import create_writer
        from .metadata.journal import Journal

        self.journal = Journal(paths.shoot_folder(self.shoot))
        if self.settings.cull.dry_run and (problem := self.journal.problem()) is not None:
            raise ShootUnavailable(problem)
        self.writer = create_writer(journal=self.journal, **self.settings.writer_options())

    # -- running ---------------------------------------------------------------------------

    def run(self, progress: Progress | None = None, *, save: bool = True) -> CullResult:
        """Run the pipeline; the run-level notices go into the result's warnings. With ``save``
        (and no dry run) the result is kept as the shoot's last run, and a writing run's writer
        options beside it for the review page. Per-file problems are in the result;
        :class:`NoPhotos` when the folder holds none; a model that fails to load on first use
        is a :class:`ModelUnavailable`. Ctrl-C raises ``pipeline.Interrupted`` (a KeyboardInterrupt)."""
        from .backbones import WeightsUnavailable
        from .pipeline import run
        from .runtime import DeviceUnavailable
        from .scorers import ScorerUnavailable

        executor, self._executor = self._executor, None
        if executor is None:
            executor = self._create_executor()
        try:  # models load when first needed (a warm run may need none): their errors come from here
            result = run(self.shoot, self.scorer, self.options, writer=self.writer, progress=progress,
                         backbone=self.backbone, journal=self.journal, executor=executor)
        except (ScorerUnavailable, WeightsUnavailable, DeviceUnavailable) as exc:
            raise ModelUnavailable(str(exc)) from None
        result.warnings.extend(FileError(result.root, RUN_STAGE, n.text) for n in self.notices if n.in_report)
        if not result.frames and not result.errors:
            raise NoPhotos(_no_photos(self.shoot, self.settings.cull.recursive))
        if save and not self.options.dry_run:  # a dry run leaves the card untouched
            self.save(result)
        return result

    def save(self, result: CullResult) -> None:
        """Keep ``result`` as the shoot's last run; a writing run also keeps its writer options,
        so the review page writes as this run did."""
        save_last_run(result, self.shoot)
        if self.mode.writes:
            from .review.run_writer import save_run_writer

            save_run_writer(self.settings.writer_options(), self.shoot)


def cull_shoot(shoot: Path | str, settings: Settings | None = None, mode: Mode | str = Mode.CULL,
               progress: Progress | None = None, **open_options: Any) -> CullResult:
    """Open a session, run it once and release the shoot: the whole of ``photocull cull`` (or
    ``score``/``group``) for a program, without the command line."""
    with Session.open(shoot, settings, mode, **open_options) as session:
        return session.run(progress)
