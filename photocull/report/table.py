"""The rich summary table a photographer reads after a run.

File names come from a memory card: they reach the terminal only as plain ``Text`` (never
parsed as Rich markup) with control characters shown as ``\\xNN`` (never an escape sequence).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..records import CullResult, FrameResult, iter_ranked, series_number
from .json import totals
from .why import explain, headline

STAR = "★"


def _stars(n: int | None) -> str:
    return "" if not n else STAR * n + "☆" * (5 - n)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """``text`` with control characters (ESC, CR, BEL, ...) written as ``\\xNN``: a name shows
    what it is and can never drive the terminal. Undecodable bytes (surrogate escapes) as ``\\udcNN``."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _rel(p: Path, root: Path) -> str:
    try:
        return printable(str(p.relative_to(root)))
    except ValueError:
        return printable(str(p))


def write_label(fr: FrameResult) -> str:
    """What happened to the file's rating, for people: "kept your rating (3★)" for a rating
    photocull left alone, "would write" on a dry run, the skip reason when skipped."""
    w = fr.write
    if w is None:
        return ""
    if w.status == "kept":
        return w.message or "kept your rating"
    if w.status == "skipped":
        return f"skipped: {w.message}" if w.message else "skipped"
    return {"dry-run": "would write", "written": "written", "unchanged": "unchanged"}.get(w.status, w.status)


def series_table(result: CullResult, show_scores: bool = True) -> Table:
    explain(result)
    table = Table(title=Text(f"photocull — {printable(str(result.root))}"), title_justify="left")
    # A pick's name is what the photographer looks for, and numbers and stars are short: never cut
    # at any width (the problems and the reasons wrap instead).
    ranked = list(iter_ranked(result))
    names = [_rel(members[0].frame.path, result.root) for _, members in ranked]
    digits = len(str(max((s.number for s, _ in ranked), default=1)))
    table.add_column("Series", justify="right", style="dim", no_wrap=True, min_width=digits)
    table.add_column("Frames", justify="right", no_wrap=True, min_width=digits)
    table.add_column("Pick", style="bold", no_wrap=True, min_width=max(map(len, names), default=4))
    if show_scores:
        table.add_column("Score", justify="right", no_wrap=True, min_width=5)
        table.add_column("Stars", style="yellow", no_wrap=True, min_width=5)
    table.add_column("Problems in series")
    if show_scores:
        table.add_column("Why")
    kept = any(fr.write and fr.write.status == "kept" for fr in result.frames)
    if kept:
        table.add_column("Rating")
    for s, members in ranked:
        best = members[0]
        problems = Counter(p for fr in members for p in (fr.score.problems if fr.score else []))
        row = [
            Text(str(s.number)),
            Text(str(len(members))),
            Text(_rel(best.frame.path, result.root), overflow="fold"),
        ]
        if show_scores:
            row += [
                Text(f"{best.score.score:.2f}" if best.score else ""),
                Text(_stars(best.rating.stars if best.rating else None)),
            ]
        row.append(Text(", ".join(f"{n} {p}" for p, n in sorted(problems.items()))))
        if show_scores:
            row.append(Text(printable(headline(best.rating.why)) if best.rating else "", style="dim"))
        if kept:
            row.append(Text(write_label(best) if best.write and best.write.status == "kept" else ""))
        table.add_row(*row)
    return table


def details_table(result: CullResult) -> Table:
    """Every frame with its problems (``--details``): frames with problems or errors first,
    most problems first, then by name; a frame's series, rank, stars, write and why."""
    explain(result)
    table = Table(title=Text(f"photocull — every frame of {printable(str(result.root))}"), title_justify="left")
    for name, kw in (("File", {}), ("Series", {"justify": "right"}), ("Rank", {"justify": "right"}),
                     ("Score", {"justify": "right"}), ("Stars", {"style": "yellow"}), ("Problems", {}),
                     ("Written", {}), ("Why", {"style": "dim"})):
        table.add_column(name, **kw)
    for fr in sorted_for_details(result):
        problems = [*(fr.score.problems if fr.score else []), *(f"{e.stage}: {e.message}" for e in fr.errors)]
        r = fr.rating
        table.add_row(*(Text(printable(x)) for x in (
            _rel(fr.frame.path, result.root),
            str(series_number(fr.series_id)) if fr.series_id is not None else "",
            str(r.rank) if r else "",
            f"{fr.score.score:.2f}" if fr.score else "",
            _stars(r.stars if r else None) + (" reject" if r and r.rejected else ""),
            ", ".join(problems),
            write_label(fr),
            r.why if r else "",
        )))
    return table


def sorted_for_details(result: CullResult) -> list[FrameResult]:
    """Frames with problems first (most first), then by path: the order ``--details`` prints."""
    def key(fr: FrameResult) -> tuple[int, str]:
        n = len(fr.score.problems if fr.score else []) + len(fr.errors)
        return (-n, str(fr.frame.path))
    return sorted(result.frames, key=key)


def totals_line(result: CullResult, elapsed: float | None) -> str:
    t = totals(result, elapsed)
    parts = [
        f"{t['photos']} photos",
        f"{t['series']} series + {t['singletons']} singles",
        f"{t['picks']} picks",
        f"{t['with_problems']} with problems",
    ]
    if any(fr.write for fr in result.frames):
        done = f"{t['would_write']} would be written" if t["would_write"] else f"{t['written']} written"
        kept = f", {t['kept']} kept your rating" if t["kept"] else ""
        parts.append(f"{done}, {t['unchanged']} unchanged{kept}, {t['skipped']} skipped")
    if result.transfers:
        parts.append(f"{t['would_transfer']} would be copied/moved" if t["would_transfer"]
                     else f"{t['transfers']} copied/moved")
    parts.append(f"{t['errors']} errors")
    if elapsed:
        parts.append(f"{elapsed:.1f} s ({t['images_per_second']} images/s)")
    return " · ".join(parts)


def skipped_line(result: CullResult) -> str | None:
    """One line counting the files that are not photos photocull reads, by reason (None: none)."""
    if not result.skipped:
        return None
    reasons = Counter(e.message for e in result.skipped)
    counts = "; ".join(f"{n} × {printable(reason)}" for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    n = len(result.skipped)
    return f"skipped {n} file{'s' if n != 1 else ''} that {'are' if n != 1 else 'is'} not a photo: {counts}"


def print_skipped(console: Console, result: CullResult, verbose: bool) -> None:
    """The skipped-files summary; ``verbose`` lists each file under it."""
    line = skipped_line(result)
    if line is None:
        return
    console.print(Text(line + ("" if verbose else " (--verbose lists them)"), style="dim"), highlight=False)
    if verbose:
        for e in result.skipped:
            console.print(Text(f"    {_rel(e.path, result.root)}: {printable(e.message)}", style="dim"), highlight=False)


def print_errors(console: Console, result: CullResult, verbose: bool, run_warnings: bool = False) -> None:
    """Warnings and errors, one a line; run-level warnings only with ``run_warnings`` (a run
    printed them when they arose; ``photocull report`` shows them again)."""
    for level, items in (("warning", result.warnings), ("error", result.failed)):
        for e in items:
            if not run_warnings and level == "warning" and e.stage == "run" and Path(e.path) == Path(result.root):
                continue  # a run-level warning, printed when it arose (photocull.session: Notice.in_report)
            colour = "yellow" if level == "warning" else "red"
            line = Text(f"{level}", style=colour)
            line.append(f": {_rel(e.path, result.root)}: {printable(e.message)}")
            console.print(line, highlight=False)
            if verbose and e.detail:
                console.print(Text(f"    {printable(e.detail)}", style="dim"), highlight=False)
