"""The rich summary table a photographer reads after a run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..records import CullResult, iter_ranked
from .json import totals

STAR = "★"


def _stars(n: int | None) -> str:
    return "" if not n else STAR * n + "☆" * (5 - n)


def _rel(p: Path, root: Path) -> str:
    try:
        return str(p.relative_to(root))
    except ValueError:
        return str(p)


def series_table(result: CullResult, show_scores: bool = True) -> Table:
    table = Table(title=f"photocull — {result.root}", title_justify="left")
    table.add_column("Series", justify="right", style="dim")
    table.add_column("Frames", justify="right")
    table.add_column("Pick", style="bold")
    if show_scores:
        table.add_column("Score", justify="right")
        table.add_column("Stars", style="yellow")
    table.add_column("Problems in series")
    for s, members in iter_ranked(result):
        best = members[0]
        problems = Counter(p for fr in members for p in (fr.score.problems if fr.score else []))
        row = [
            str(s.id + 1),
            str(len(members)),
            _rel(best.frame.path, result.root),
        ]
        if show_scores:
            row += [
                f"{best.score.score:.2f}" if best.score else "",
                _stars(best.rating.stars if best.rating else None),
            ]
        row.append(", ".join(f"{n} {p}" for p, n in sorted(problems.items())))
        table.add_row(*row)
    return table


def totals_line(result: CullResult, elapsed: float | None) -> str:
    t = totals(result, elapsed)
    parts = [
        f"{t['photos']} photos",
        f"{t['series']} series + {t['singletons']} singles",
        f"{t['picks']} picks",
        f"{t['with_problems']} with problems",
    ]
    if any(fr.write for fr in result.frames):
        parts.append(f"{t['written']} written, {t['unchanged']} unchanged, {t['skipped']} skipped")
    if result.transfers:
        done = sum(1 for o in result.transfers if o.status in ("written", "dry-run"))
        parts.append(f"{done} copied/moved")
    parts.append(f"{t['errors']} errors")
    if elapsed:
        parts.append(f"{elapsed:.1f} s ({t['images_per_second']} images/s)")
    return " · ".join(parts)


def print_errors(console: Console, result: CullResult, verbose: bool) -> None:
    for level, items in (("warning", result.warnings), ("error", result.failed)):
        for e in items:
            colour = "yellow" if level == "warning" else "red"
            console.print(f"[{colour}]{level}[/]: {_rel(e.path, result.root)}: {e.message}", highlight=False)
            if verbose and e.detail:
                console.print(f"    [dim]{e.detail}[/]", highlight=False)
