"""The photocull command line (thin: parses options, calls the pipeline, prints)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import __version__
from .group import GroupOptions
from .pick import StarMapping
from .pipeline import CullOptions, CullResult, run

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
DEFAULT_MODEL, DEFAULT_PRETRAINED = "ViT-B-16", "openai"
WRITE_TARGETS = ("exif", "xmp", "sidecar")

app = typer.Typer(
    help=(
        "Cull a photo shoot: group bursts into series, score every frame, pick the best, "
        "and write star ratings your photo editor shows.\n\n"
        "Start with:  photocull cull SHOOT/ --dry-run   (look, write nothing)\n\n"
        "Then:        photocull cull SHOOT/             (write ratings; undo with: photocull undo SHOOT/)"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


class _RichProgress:
    """Adapts rich progress bars to the pipeline's Progress protocol."""

    def __init__(self, progress: Progress | None):
        self.progress = progress

    def stage(self, name: str, total: int | None) -> Callable[[int], None]:
        if self.progress is None or not total:
            return lambda n=1: None
        task = self.progress.add_task(name, total=total)
        return lambda n=1: self.progress.advance(task, n)  # type: ignore[union-attr]


@contextmanager
def _progress(console: Console, enabled: bool) -> Iterator[_RichProgress]:
    if not enabled:
        yield _RichProgress(None)
        return
    bar = Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with bar:
        yield _RichProgress(bar)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"photocull {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    pass


def _parse_targets(value: str) -> frozenset[str]:
    targets = frozenset(t.strip().lower() for t in value.split(",") if t.strip())
    unknown = targets - set(WRITE_TARGETS)
    if unknown or not targets:
        raise typer.BadParameter(f"choose from {', '.join(WRITE_TARGETS)} (comma-separated), got {value!r}")
    return targets


def _make_scorer(name: str, console: Console):
    from .scorers.technical import TechnicalScorer

    name = name.lower()
    if name in ("technical", "auto"):
        if name == "auto":
            console.print(
                "[dim]note: no aesthetic model weights configured; scoring with the technical scorer "
                "(sharpness, exposure, noise).[/]"
            )
        return TechnicalScorer()
    raise typer.BadParameter(f"unknown scorer {name!r}; choose auto, technical", param_hint="--scorer")


def _make_writer(targets: frozenset[str], label_picks: bool, reject: bool, preserve_mtime: bool, sidecar_naming: str, journal):
    from .metadata.writer import write_rating

    def writer(fr, dry_run: bool):
        r = fr.rating
        common = dict(
            targets=targets,
            rejected=reject and r.rejected,
            label=("Green" if (label_picks and r.is_pick) else None),
            journal=journal,
            dry_run=dry_run,
            preserve_mtime=preserve_mtime,
            sidecar_naming=sidecar_naming,
        )
        outcome = write_rating(
            fr.frame.path, r.stars, fmt=fr.frame.fmt, expected=(fr.frame.size, fr.frame.mtime_ns), **common
        )
        # A RAW beside its JPEG is the same frame: it gets the same rating, in a sidecar.
        for companion in fr.frame.companions:
            extra = write_rating(companion, r.stars, fmt="raw", **common)
            if extra.status == "skipped" and outcome.status != "skipped":
                outcome = extra
        return outcome

    return writer


def _load_backbone(model: Optional[str], pretrained: Optional[str], no_embeddings: bool, device: str, batch_size: Optional[int], console: Console):
    """The CLIP backbone for grouping, or None. Without an explicit --model, missing weights
    are a warning (hash + time grouping); with one, they are an error (exit 2)."""
    if no_embeddings:
        return None
    from .embed import (
        BackboneSpec,
        DeviceUnavailable,
        WeightsUnavailable,
        download_allowed,
        load_backbone,
        surely_absent,
    )

    spec = BackboneSpec(model=model or DEFAULT_MODEL, pretrained=pretrained if pretrained is not None else DEFAULT_PRETRAINED)
    if spec.pretrained and spec.pretrained.lower() == "none":
        spec = BackboneSpec(model=spec.model, pretrained=None)
    implicit = model is None and pretrained is None
    try:
        if implicit and surely_absent(spec) and not download_allowed():
            raise WeightsUnavailable("default weights not cached", model=spec.model, pretrained=spec.pretrained)
        return load_backbone(spec, device, batch_size=batch_size)
    except DeviceUnavailable as exc:
        console.print(f"[red]error[/]: {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    except (WeightsUnavailable, ValueError) as exc:
        if implicit:
            console.print(
                f"[yellow]warning[/]: no weights for the default {spec.label} backbone here; "
                "grouping by capture time and perceptual hashes only "
                "(pass --model/--pretrained PATH to use a local checkpoint, --no-embeddings to silence this).",
                highlight=False,
            )
            return None
        console.print(f"[red]error[/]: {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE)


def _finish(result: CullResult, console: Console, started: float, json_path: Optional[str], verbose: bool, show_scores: bool = True) -> None:
    from .report.json import write_json
    from .report.table import print_errors, series_table, totals_line

    elapsed = time.perf_counter() - started
    if json_path == "-":
        typer.echo(write_json(result, "-", elapsed))
    else:
        console.print(series_table(result, show_scores=show_scores))
        print_errors(console, result, verbose)
        for note in result.notes:
            console.print(f"[yellow]note[/]: {note}", highlight=False)
        console.print(totals_line(result, elapsed), highlight=False)
        if json_path:
            write_json(result, json_path, elapsed)
            console.print(f"[dim]report written to {json_path}[/]")
    raise typer.Exit(EXIT_PARTIAL if result.failed else EXIT_OK)


# Options shared by cull, score and group (typer reads them from each signature).
_DIR = typer.Argument(..., exists=True, file_okay=True, dir_okay=True, readable=True, help="The shoot: a folder (or one file).")
_RECURSIVE = typer.Option(True, "--recursive/--no-recursive", help="Look into subfolders.")
_MAX_GAP = typer.Option(GroupOptions.max_gap, help="Seconds of pause that always end a series.")
_HASH = typer.Option(GroupOptions.hash_threshold, help="Mean pHash/dHash distance (bits of 64) under which frames are the same shot.")
_JSON = typer.Option(None, "--json", help="Write a machine-readable report to PATH ('-' prints it instead of the table).", metavar="PATH")
_WORKERS = typer.Option(None, help="Decode processes (default: one per core).", min=1)
_VERBOSE = typer.Option(False, "--verbose", "-v", help="Show error details.")
_MODEL = typer.Option(None, "--model", help=f"open_clip backbone for grouping (default {DEFAULT_MODEL}; used when its weights are here).", rich_help_panel="Model")
_PRETRAINED = typer.Option(None, "--pretrained", help=f"open_clip tag (default {DEFAULT_PRETRAINED}) or a local checkpoint file (.safetensors/.pt).", rich_help_panel="Model")
_NO_EMB = typer.Option(False, "--no-embeddings", help="Group by capture time and hashes only (no CLIP model).", rich_help_panel="Model")
_DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or mps.", rich_help_panel="Model")
_BATCH = typer.Option(None, "--batch-size", min=1, help="Images per model batch (default: fitted to GPU memory; 32 on CPU).", rich_help_panel="Model")
_EMB_T = typer.Option(GroupOptions.embed_threshold, help="Embedding cosine similarity above which frames are the same shot.")
_CACHE = typer.Option(True, "--cache/--no-cache", help="Reuse what earlier runs computed (SHOOT/.photocull/cache.sqlite).")
_USER_CACHE = typer.Option(False, "--user-cache", help="Keep the cache in your user cache folder instead of the shoot (read-only cards).")
_QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars.")


def _console(json_path: Optional[str]) -> Console:
    # With --json - the report owns stdout: everything else goes to stderr.
    return Console(stderr=json_path == "-")


@app.command()
def cull(
    shoot: Path = _DIR,
    scorer: str = typer.Option("auto", help="auto, technical (weight-free: sharpness, exposure, noise)."),
    top_k: int = typer.Option(1, "--top-k", min=1, help="Picks per series."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Do everything but write: see what would happen."),
    write: str = typer.Option(",".join(WRITE_TARGETS), "--write", help="Where ratings go: exif, xmp, sidecar (comma-separated). JPEGs get EXIF+XMP; other formats an XMP sidecar."),
    label_picks: bool = typer.Option(False, "--label-picks", help="Also give picks the colour label 'Green' (xmp:Label)."),
    reject: bool = typer.Option(False, "--reject", help="Mark technically failed frames as rejected (xmp:Rating -1) instead of 1 star."),
    keep_mtime: bool = typer.Option(True, "--keep-mtime/--touch", help="Keep each photo's modification time after writing."),
    copy_picks: Optional[Path] = typer.Option(None, "--copy-picks", file_okay=False, help="Copy every pick (with its RAW and sidecars) into DIR.", metavar="DIR"),
    move_rejects: Optional[Path] = typer.Option(None, "--move-rejects", file_okay=False, help="Move technically failed frames into DIR (never deleted; undo moves them back).", metavar="DIR"),
    sidecar_naming: str = typer.Option("name", "--sidecar-naming", help="'name': IMG_1.xmp (Lightroom, darktable read); 'name-ext': IMG_1.CR2.xmp (darktable writes)."),
    recursive: bool = _RECURSIVE,
    max_gap: float = _MAX_GAP,
    hash_threshold: float = _HASH,
    embed_threshold: float = _EMB_T,
    model: Optional[str] = _MODEL,
    pretrained: Optional[str] = _PRETRAINED,
    no_embeddings: bool = _NO_EMB,
    device: str = _DEVICE,
    batch_size: Optional[int] = _BATCH,
    cache: bool = _CACHE,
    user_cache: bool = _USER_CACHE,
    json_path: Optional[str] = _JSON,
    workers: Optional[int] = _WORKERS,
    verbose: bool = _VERBOSE,
    quiet: bool = _QUIET,
) -> None:
    """Group, score, pick and write star ratings into the photos.

    Picks get 3-5 stars, their series mates 2, technically failed frames 1.
    Every write is atomic and journaled: [bold]photocull undo SHOOT/[/] restores what was there.

    Examples:

      photocull cull ~/Pictures/2026-11-24/ --dry-run

      photocull cull SHOOT/ --top-k 2 --json report.json

      photocull cull SHOOT/ --write sidecar       (never touch the originals)
    """
    targets = _parse_targets(write)
    if sidecar_naming not in ("name", "name-ext"):
        raise typer.BadParameter("choose 'name' or 'name-ext'", param_hint="--sidecar-naming")
    console = _console(json_path)
    started = time.perf_counter()
    sc = _make_scorer(scorer, console)
    backbone = _load_backbone(model, pretrained, no_embeddings, device, batch_size, console)
    opts = CullOptions(
        recursive=recursive,
        workers=workers,
        group=GroupOptions(max_gap=max_gap, hash_threshold=hash_threshold, embed_threshold=embed_threshold), cache=cache, user_cache=user_cache,
        top_k=top_k,
        stars=StarMapping(),
        write=True,
        dry_run=dry_run,
        copy_picks=copy_picks,
        move_rejects=move_rejects,
    )
    from .metadata.journal import Journal

    journal = Journal(shoot if shoot.is_dir() else shoot.parent)
    writer = _make_writer(targets, label_picks, reject, keep_mtime, sidecar_naming, journal)
    with _progress(console, not quiet) as progress:
        result = run(shoot, sc, opts, writer=writer, progress=progress, backbone=backbone, journal=journal)
    _finish(result, console, started, json_path, verbose)


@app.command()
def score(
    shoot: Path = _DIR,
    scorer: str = typer.Option("auto", help="auto, technical."),
    top_k: int = typer.Option(1, "--top-k", min=1, help="Picks per series."),
    recursive: bool = _RECURSIVE,
    max_gap: float = _MAX_GAP,
    hash_threshold: float = _HASH,
    embed_threshold: float = _EMB_T,
    model: Optional[str] = _MODEL,
    pretrained: Optional[str] = _PRETRAINED,
    no_embeddings: bool = _NO_EMB,
    device: str = _DEVICE,
    batch_size: Optional[int] = _BATCH,
    cache: bool = _CACHE,
    user_cache: bool = _USER_CACHE,
    json_path: Optional[str] = _JSON,
    workers: Optional[int] = _WORKERS,
    verbose: bool = _VERBOSE,
    quiet: bool = _QUIET,
) -> None:
    """Group and score, show picks and stars; write nothing to the photos.

    Example:  photocull score SHOOT/ --json -
    """
    console = _console(json_path)
    started = time.perf_counter()
    sc = _make_scorer(scorer, console)
    backbone = _load_backbone(model, pretrained, no_embeddings, device, batch_size, console)
    opts = CullOptions(recursive=recursive, workers=workers, group=GroupOptions(max_gap=max_gap, hash_threshold=hash_threshold, embed_threshold=embed_threshold), cache=cache, user_cache=user_cache, top_k=top_k, write=False)
    with _progress(console, not quiet) as progress:
        result = run(shoot, sc, opts, progress=progress, backbone=backbone)
    _finish(result, console, started, json_path, verbose)


@app.command()
def group(
    shoot: Path = _DIR,
    recursive: bool = _RECURSIVE,
    max_gap: float = _MAX_GAP,
    hash_threshold: float = _HASH,
    embed_threshold: float = _EMB_T,
    model: Optional[str] = _MODEL,
    pretrained: Optional[str] = _PRETRAINED,
    no_embeddings: bool = _NO_EMB,
    device: str = _DEVICE,
    batch_size: Optional[int] = _BATCH,
    cache: bool = _CACHE,
    user_cache: bool = _USER_CACHE,
    json_path: Optional[str] = _JSON,
    workers: Optional[int] = _WORKERS,
    verbose: bool = _VERBOSE,
    quiet: bool = _QUIET,
) -> None:
    """Find the series (bursts, brackets, re-takes) only: no ratings written.

    Example:  photocull group SHOOT/ --max-gap 5
    """
    from .scorers.technical import TechnicalScorer

    console = _console(json_path)
    started = time.perf_counter()
    backbone = _load_backbone(model, pretrained, no_embeddings, device, batch_size, console)
    opts = CullOptions(recursive=recursive, workers=workers, group=GroupOptions(max_gap=max_gap, hash_threshold=hash_threshold, embed_threshold=embed_threshold), cache=cache, user_cache=user_cache, write=False)
    with _progress(console, not quiet) as progress:
        result = run(shoot, TechnicalScorer(), opts, progress=progress, backbone=backbone)
    _finish(result, console, started, json_path, verbose, show_scores=False)


@app.command()
def undo(
    shoot: Path = typer.Argument(..., exists=True, file_okay=False, help="The shoot folder a cull wrote to."),
    verbose: bool = _VERBOSE,
) -> None:
    """Restore the ratings (and files) as they were before photocull wrote them.

    Reads SHOOT/.photocull/journal.jsonl; safe to interrupt and run again.
    """
    from .metadata.journal import undo as undo_journal

    console = Console()
    outcomes = undo_journal(shoot)
    failed = [o for o in outcomes if o.status == "skipped"]
    restored = [o for o in outcomes if o.status != "skipped"]
    for o in failed:
        console.print(f"[red]error[/]: {o.path}: {o.message}", highlight=False)
    if verbose:
        for o in restored:
            console.print(f"restored {o.path}", highlight=False)
    console.print(f"{len(restored)} files restored, {len(failed)} could not be restored" if outcomes else "nothing to undo")
    raise typer.Exit(EXIT_PARTIAL if failed else EXIT_OK)


def main() -> None:
    app()
