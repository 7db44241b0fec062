"""``photocull models``: downloading weights, where they are looked for, importing a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..pretrained import DOWNLOADS, WEIGHTS, default_backbone
from .app import app
from .errors import EXIT_PARTIAL, error, fail, stderr, stdout

models_app = typer.Typer(help="Model weights: download them, see where they are, import a checkpoint you have.",
                         no_args_is_help=True)


def _human(n: int | None) -> str:
    """Decimal units, as the progress bar counts them."""
    if n is None:
        return "size unknown"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _rich_tqdm(bars, label: str) -> type:
    """The tqdm interface the hub client drives, drawn as a rich bar (resumed bytes count)."""
    from tqdm.auto import tqdm

    class RichTqdm(tqdm):
        def __init__(self, *args, **kwargs):
            total, initial = kwargs.get("total"), kwargs.get("initial") or 0
            kwargs["disable"] = True  # tqdm draws nothing; rich does
            super().__init__(*args, **kwargs)
            self._task = bars.add_task(f"downloading {label}", total=total, completed=initial)

        def update(self, n=1):
            bars.advance(self._task, n or 0)

        def close(self):
            super().close()

    return RichTqdm


@models_app.command("download")
def download(
    name: str = typer.Argument(..., metavar="NAME",
                               help=f"fgaesq: {WEIGHTS['fgaesq'].about}; clip: open_clip's "
                                    f"{default_backbone().model} '{default_backbone().tag}' weights (grouping, "
                                    "--scorer clip)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Download model weights from the Hugging Face hub into the model cache.

    The size is shown before anything is fetched; an interrupted download (Ctrl-C, a dropped
    line, a hub that stops answering for PHOTOCULL_HUB_TIMEOUT seconds, default 30) resumes
    when you run the same command again; the file is checked against the hub's SHA-256, and a
    re-run that finds it verified and unchanged does nothing. Afterwards
    'photocull cull SHOOT/' uses the weights by itself. HF_ENDPOINT selects a mirror.

    Examples:

      photocull models download fgaesq

      photocull models download clip
    """
    from ..model.hub import DownloadError, DownloadInterrupted, download as fetch

    key = name.lower()
    if key not in DOWNLOADS:
        fail(f"unknown model {name!r}: choose {' or '.join(DOWNLOADS)}")
    err = stderr()

    def plan(remote) -> None:
        err.print(escape(f"{remote.repo_id}/{remote.filename}: {_human(remote.size)}"))

    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    bars = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=err, transient=False, disable=quiet)
    try:
        with bars:
            path = fetch(key, on_plan=plan, progress=not quiet, tqdm_class=_rich_tqdm(bars, key))
    except DownloadError as exc:
        fail(str(exc), EXIT_PARTIAL)
    except DownloadInterrupted as exc:
        of = f" of {exc.size / 1e6:.1f}" if exc.size else ""
        fail(f"interrupted: {exc.kept / 1e6:.1f}{of} MB kept; run the same command again to resume.", 130)
    stdout().print(f"stored {escape(str(path))}")
app.add_typer(models_app, name="models")


@models_app.command("import-fgaesq")
def import_fgaesq(
    checkpoint: Path = typer.Argument(..., exists=True, dir_okay=False, help="The official FGAesQ state dict (.pt/.pth/.bin or .safetensors)."),
    dest: Optional[Path] = typer.Option(None, help="Where to store it (default: the model cache, used by --scorer auto)."),
    half: bool = typer.Option(False, "--half", help="Store float16 weights (half the size)."),
) -> None:
    """Convert an FGAesQ checkpoint you already have into the model folder's safetensors.

    Reports missing and unexpected keys. Afterwards 'photocull cull SHOOT/' uses it by itself.
    (Not needed for --weights, which takes the official file as it is, nor after
    'photocull models download fgaesq', which does this for you.)

    Example:  photocull models import-fgaesq ~/Downloads/FGAesQ.pth
    """
    import torch

    from ..model.checkpoint import convert_official

    try:
        path, report = convert_official(checkpoint, dest, dtype=torch.float16 if half else None, strict=False)
    except (ValueError, OSError, RuntimeError, KeyError) as exc:
        fail(f"{checkpoint}: cannot import: {exc}")
    out = stdout()
    out.print(escape(report.summary()))
    if not report.ok:
        error(f"the checkpoint does not fill the model; stored anyway at {path} for inspection")
        raise typer.Exit(EXIT_PARTIAL)
    out.print(f"stored {escape(str(path))}")


@models_app.command("list")
def list_models() -> None:
    """Show where photocull looks for weights and what it finds."""
    from ..backbones import BACKBONES, DEFAULT_BACKBONE, searched_locations, surely_absent
    from ..model.paths import default_model_dir, find_model

    out = stdout()
    found = find_model()
    out.print(escape(f"FGAesQ: {found or 'not found'} (folder {default_model_dir()}; set PHOTOCULL_MODEL_DIR to change)"))
    spec = BACKBONES[DEFAULT_BACKBONE].spec
    state = "not found" if surely_absent(spec) else "maybe present"
    out.print(escape(f"CLIP {spec.label}: {state}; looked in:"))
    for loc in searched_locations(spec):
        out.print(f"  {escape(loc)}")
