"""``photocull cull``, ``score`` and ``group``: one body, one set of options (``photocull.settings``).

They differ only in what they write and show: ``group`` scores with the technical scorer
and shows series; ``score`` shows picks and stars; ``cull`` also writes them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import typer

from .. import paths
from ..metadata import create_writer
from ..settings import ConfigError, Settings
from .app import app
from .errors import EXIT_USAGE, fail, note, stderr, warning
from .options import given_on_command_line, settings_options
from .output import add_run_warnings, check_output_paths, finish, interrupt_message, progress_bars, save_last_run


def _settings(ctx: typer.Context) -> Settings:
    """photocull.toml (user, then shoot) with what was typed on the command line on top."""
    from ..settings import load

    try:
        return load(ctx.params["shoot"]).with_options(given_on_command_line(ctx))
    except ConfigError as exc:
        fail(str(exc))


def _backbone(settings: Settings, told: list[str]):
    """The CLIP backbone for grouping and CLIP scoring, or None (with a warning when implicit)."""
    c = settings.cull
    if c.no_embeddings:
        return None
    from ..backbones import WeightsUnavailable
    from ..backbones.clip import load_for_run
    from ..runtime import DeviceUnavailable

    try:
        backbone, why_none = load_for_run(c.model, c.pretrained, c.device, c.batch_size)
    except (DeviceUnavailable, WeightsUnavailable, ValueError) as exc:
        fail(str(exc))
    if why_none:
        warning(why_none)
        told.append(why_none)
    return backbone


def _scorer(settings: Settings, mode: str, backbone, told: list[str]):
    from ..scorers import ScorerUnavailable, create_scorer, resolve_auto

    c = settings.cull
    request = dict(thresholds=settings.technical, backbone=backbone, weights=Path(c.weights) if c.weights else None,
                   device=c.device, exhaustive=c.exhaustive_series(), seed=c.seed, batch_size=c.batch_size)
    name = "technical" if mode == "group" else c.scorer.lower()
    try:
        if name == "auto":
            choice = resolve_auto(**request)
            if choice.note:
                note(choice.note)
                told.append(choice.note)
            name = choice.name
        return create_scorer(name, **request)
    except ScorerUnavailable as exc:
        fail(str(exc))
    except ValueError as exc:  # an unknown name from photocull.toml
        fail(str(exc))


def _faces_enabled(requested: bool) -> bool:
    """``--faces`` asked for: OpenCV must be there (a usage error otherwise). Off by default,
    so installing OpenCV never changes what a cull does."""
    if not requested:
        return False
    from ..faces import unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        fail(f"--faces: {reason}")
    return True


def _executor(settings: Settings):
    """Where per-file work runs (``--engine``): None for the local pool, else a Ray executor."""
    from ..pipeline import EngineUnavailable, create_executor

    c = settings.cull
    if c.engine == "local":
        if c.ray_address:
            warning("ray_address is only used with --engine ray; decoding on this machine")
        return None
    try:
        executor = create_executor(c.engine, c.workers, c.ray_address)
        executor.start(0)  # connect now: a cluster that cannot be reached is a usage error, not a traceback
    except EngineUnavailable as exc:
        fail(str(exc))
    return executor


def _take_shoot(ctx: typer.Context, shoot: Path, c) -> None:
    """Hold the shoot for this cull (exit 2 if another photocull has it), then clear the temp
    files a killed run left: in the shoot, and in the copy/move folders (a killed --copy-picks)."""
    from ..metadata.atomic import cleanup_temp_files
    from .locking import hold_shoot

    hold_shoot(ctx, shoot, "cull")
    cleanup_temp_files(paths.shoot_folder(shoot))
    for folder in (c.copy_picks, c.move_rejects):
        if folder and Path(folder).is_dir():
            cleanup_temp_files(Path(folder), recursive=False)


def _no_photos(shoot: Path, recursive: bool) -> str:
    """What to say when a folder holds no photo at all (exit 2: nothing was done)."""
    from ..inputs.formats import FORMATS

    kinds = ", ".join(f.name.upper() for f in FORMATS.values())
    where = "" if recursive else " (subfolders were not searched: drop --no-recursive)"
    return (f"no photos found in {shoot}{where}; photocull reads {kinds} files. Check that this is the folder "
            "the photos were copied to (nothing was done)")


def execute(ctx: typer.Context, mode: str) -> None:
    """The body of cull / score / group."""
    from ..pipeline import run

    settings = _settings(ctx)
    c = settings.cull
    shoot: Path = ctx.params["shoot"]
    check_output_paths(c.json_path, c.html if mode != "group" else None, c.list_path)
    if mode == "cull" and not c.dry_run:
        _take_shoot(ctx, shoot, c)
    started = time.perf_counter()
    told: list[str] = []  # run-level warnings already printed (missing weights): the JSON keeps them too
    backbone = _backbone(settings, told)
    scorer = _scorer(settings, mode, backbone, told)
    opts = settings.cull_options(mode, faces=_faces_enabled(c.faces) if mode != "group" else False)
    executor = _executor(settings)
    writer = journal = None
    if mode == "cull":
        from ..metadata.journal import Journal

        journal = Journal(paths.shoot_folder(shoot))
        if c.dry_run and (problem := journal.problem()) is not None:  # (a real run checked it with the lock)
            fail(problem)
        writer = create_writer(journal=journal, **settings.writer_options())
    from ..backbones import WeightsUnavailable
    from ..runtime import DeviceUnavailable
    from ..scorers import ScorerUnavailable

    try:  # models load when first needed (a warm run may need none): their errors come from here
        with interrupt_message(), progress_bars(not c.quiet) as progress:
            result = run(shoot, scorer, opts, writer=writer, progress=progress, backbone=backbone, journal=journal,
                         executor=executor)
    except (ScorerUnavailable, WeightsUnavailable, DeviceUnavailable) as exc:
        fail(str(exc))
    add_run_warnings(result, told)
    if not result.frames and not result.errors:
        fail(_no_photos(shoot, c.recursive))
    if not opts.dry_run:  # a dry run leaves the card untouched
        save_last_run(result, shoot)
        if mode == "cull":  # the review page writes as this cull did
            from ..review.run_writer import save_run_writer

            save_run_writer(settings.writer_options(), shoot)
    if c.html and mode != "group":
        from ..report.html import write_html

        with progress_bars(not c.quiet) as progress:
            progress.stage("Contact sheet", None)
            write_html(result, c.html)
        note(f"contact sheet written to {c.html}", stderr())
    finish(result, started, c.json_path, c.verbose, show_scores=mode != "group", list_path=c.list_path, details=c.details)


@app.command()
@settings_options("cull")
def cull(ctx: typer.Context, shoot: Path, **options: Any) -> None:
    """Group, score, pick and write star ratings into the photos.

    Picks get 3-5 stars, their series mates 2, technically failed frames 1.
    Ratings, rejects and labels you set yourself are kept (--overwrite replaces them).
    Every write is atomic and journaled: [bold]photocull undo SHOOT/[/] restores what was there.

    Examples:

      photocull cull ~/Pictures/2026-11-24/ --dry-run

      photocull cull SHOOT/ --top-k 2 --json report.json

      photocull cull SHOOT/ --write sidecar       (never touch the originals)

      photocull cull SHOOT/ --keep 2 --preset lightroom   (the 2 best of each series; the rest rejected)
    """
    execute(ctx, "cull")


@app.command()
@settings_options("score")
def score(ctx: typer.Context, shoot: Path, **options: Any) -> None:
    """Group and score, show picks and stars; write nothing to the photos.

    Example:  photocull score SHOOT/ --json -
    """
    execute(ctx, "score")


@app.command()
@settings_options("group")
def group(ctx: typer.Context, shoot: Path, **options: Any) -> None:
    """Find the series (bursts, brackets, re-takes) only: no ratings written.

    Example:  photocull group SHOOT/ --max-gap 5
    """
    execute(ctx, "group")


__all__ = ["EXIT_USAGE", "create_writer", "cull", "execute", "group", "score"]
