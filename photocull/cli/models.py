"""``photocull models``: where weights are looked for, and importing the official FGAesQ checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from .app import app
from .errors import EXIT_PARTIAL, error, fail

models_app = typer.Typer(help="Model weights: where they are, and importing the official FGAesQ checkpoint.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("import-fgaesq")
def import_fgaesq(
    checkpoint: Path = typer.Argument(..., exists=True, dir_okay=False, help="The official FGAesQ state dict (.pt/.pth/.bin or .safetensors)."),
    dest: Optional[Path] = typer.Option(None, help="Where to store it (default: the model cache, used by --scorer auto)."),
    half: bool = typer.Option(False, "--half", help="Store float16 weights (half the size)."),
) -> None:
    """Convert the published FGAesQ checkpoint (yzc002/FGAesQ) into photocull's safetensors.

    Reports missing and unexpected keys. Afterwards 'photocull cull SHOOT/' uses it by itself.

    Example:  photocull models import-fgaesq ~/Downloads/FGAesQ.pth
    """
    import torch

    from ..model.checkpoint import convert_official

    try:
        path, report = convert_official(checkpoint, dest, dtype=torch.float16 if half else None, strict=False)
    except (ValueError, OSError, RuntimeError, KeyError) as exc:
        fail(f"{checkpoint}: cannot import: {exc}")
    out = Console(highlight=False)
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

    out = Console(highlight=False)
    found = find_model()
    out.print(escape(f"FGAesQ: {found or 'not found'} (folder {default_model_dir()}; set PHOTOCULL_MODEL_DIR to change)"))
    spec = BACKBONES[DEFAULT_BACKBONE].spec
    state = "not found" if surely_absent(spec) else "maybe present"
    out.print(escape(f"CLIP {spec.label}: {state}; looked in:"))
    for loc in searched_locations(spec):
        out.print(f"  {escape(loc)}")
