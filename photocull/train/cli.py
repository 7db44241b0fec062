"""``photocull train`` and ``photocull eval``: typer command functions, registered by ``photocull.cli``::

    from photocull.train.cli import eval_command, train_command
    app.command("train")(train_command)
    app.command("eval")(eval_command)

Both exit 2 on a usage or data-format error (the message names the file and line).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from photocull.pretrained import WEIGHTS
from rich.console import Console

__all__ = ["eval_command", "train_command"]

DEVICE = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps (default: the --config's, else auto).")


def _fail(console: Console, msg: str) -> None:
    from rich.markup import escape

    console.print(f"[red]error:[/] {escape(msg)}")
    raise typer.Exit(2)


def train_command(
    edits: Optional[Path] = typer.Option(None, "--edits", help="Folder of good photos: edit pairs are made from them."),
    fine: Optional[Path] = typer.Option(None, "--fine", help="Fine-grained series: label file (series,a,b,p / series,rank,file / JSON) or its folder."),
    coarse: Optional[Path] = typer.Option(None, "--coarse", help="Coarse scores CSV (path,mos or path,v1..v10)."),
    heldout: Optional[Path] = typer.Option(None, "--heldout", help="Folder of held-out photos for the progress line's pair accuracy."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML training config (stages, losses, data)."),
    out: Path = typer.Option(Path("runs/fgaesq"), "--out", "-o", help="Run folder: checkpoints, config.json, train_state.pt."),
    init: Optional[str] = typer.Option(None, "--init", help=f"random, {WEIGHTS['fgaesq'].tag} (local CLIP weights), an open_clip weights file or an FGAesQ .safetensors."),
    model: Optional[str] = typer.Option(None, "--model", help="vit-b-16 (default) or tiny."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Total steps, split 20/60/20 over edit_pairs/mixed/rank_finetune (without --config)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (without --config)."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    device: Optional[str] = DEVICE,
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its train_state.pt."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Token-building worker processes."),
) -> None:
    """Train the fine-grained FGAesQ scorer (edit pairs, fine-grained series, coarse scores)."""
    from photocull.train.config import TrainConfig, default_stages
    from photocull.train.datasets import DatasetError
    from photocull.train.loop import TrainEvent, train

    console = Console(stderr=True, soft_wrap=True)
    try:
        if config is not None:
            cfg = TrainConfig.from_toml(config)
        else:
            cfg = TrainConfig(stages=default_stages(steps or 1000, lr or 1e-5))
    except (OSError, ValueError, RuntimeError) as exc:
        _fail(console, str(exc))
    for attr, val in (("seed", seed), ("init", init), ("model", model), ("device", device)):
        if val is not None:
            setattr(cfg, attr, val)
    cfg.out = str(out)
    for attr, val in (("edits", edits), ("fine", fine), ("coarse", coarse), ("heldout", heldout)):
        if val is not None:
            setattr(cfg.data, attr, str(val))
    if workers is not None:
        cfg.data.workers = workers
    if not (cfg.data.edits or cfg.data.fine or cfg.data.coarse) and not resume:
        _fail(console, "no training data: give --edits, --fine and/or --coarse (or a --config with [data])")

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("[bold]{task.fields[stage]}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("loss {task.fields[loss]}"), TextColumn("held-out acc {task.fields[acc]}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as prog:
        task = prog.add_task("train", total=cfg.total_steps, stage="", loss="–", acc="–")

        def cb(ev: TrainEvent) -> None:
            if ev.kind == "step":
                prog.update(task, completed=ev.step, stage=ev.stage, loss=f"{ev.loss:.4f}")
            elif ev.kind == "eval" and ev.heldout_acc is not None:
                prog.update(task, acc=f"{ev.heldout_acc:.3f}")
            elif ev.kind == "note":
                prog.console.print(f"[dim]{ev.message}[/]")
            elif ev.kind == "checkpoint":
                prog.console.print(f"[dim]checkpoint {ev.path} (step {ev.step})[/]")

        try:
            res = train(cfg, callback=cb, resume=resume)
        except (DatasetError, FileNotFoundError, ValueError) as exc:
            _fail(console, str(exc))
    before, after = res.heldout_before, res.heldout_after
    acc = f"; held-out pair accuracy {before:.3f} → {after:.3f}" if before is not None else ""
    console.print(f"trained {res.step} steps in {res.seconds:.0f} s{acc}; weights: {res.run_dir / 'checkpoint.safetensors'}")


def eval_command(
    data: str = typer.Argument(..., help="Label file or its folder (fine or coarse), or edits:FOLDER for edit pairs."),
    scorer: List[str] = typer.Option(["technical"], "--scorer", "-s", help="technical, clip, fgaesq or a checkpoint .safetensors; repeat to compare."),
    json_path: Optional[str] = typer.Option(None, "--json", help="Write the results as JSON to this path ('-' for stdout)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate only the first N series / images / pairs."),
    device: Optional[str] = DEVICE,
    exhaustive: bool = typer.Option(False, "--exhaustive", help="FGAesQ: score every pair of a series (official, O(n²))."),
    pairs: int = typer.Option(500, "--pairs", help="Edit pairs to make for edits:FOLDER."),
) -> None:
    """Measure scorers on a labelled dataset: pair accuracy/F1, s-Acc, s-SRCC (series), SRCC/PLCC (coarse)."""
    from rich.table import Table

    from photocull.train.adapters import make_scorer_fn
    from photocull.train.datasets import DatasetError, load_dataset
    from photocull.train.loop import evaluate

    console = Console(stderr=json_path == "-", soft_wrap=json_path == "-")
    try:
        ds = load_dataset(data, edit_pairs=pairs)
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        _fail(console, str(exc))
    results = {}
    for name in scorer:
        try:
            fn, label = make_scorer_fn(name, device=device or "auto", exhaustive=exhaustive)
        except Exception as exc:  # noqa: BLE001 - a scorer that cannot load is a usage error
            _fail(console, f"--scorer {name}: {exc}")
        with console.status(f"evaluating {label}"):
            try:
                results[name] = {"scorer": label, **evaluate(fn, ds, limit=limit)}
            except DatasetError as exc:
                _fail(console, str(exc))
    cols = [c for c in ("pair_acc", "pair_f1", "s_acc", "s_srcc", "srcc", "plcc") if any(c in r for r in results.values())]
    table = Table(title=f"{data} ({next(iter(results.values()))['kind']})")
    table.add_column("scorer")
    for c in cols:
        table.add_column(c, justify="right")
    for name, r in results.items():
        table.add_row(r["scorer"], *(f"{r[c]:.3f}" if c in r else "" for c in cols))
    console.print(table)
    if json_path:
        text = json.dumps({"data": data, "results": results}, indent=1)
        if json_path == "-":
            sys.stdout.write(text + "\n")
        else:
            Path(json_path).write_text(text)
