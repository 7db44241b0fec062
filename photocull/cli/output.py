"""What a run shows and keeps: progress bars, the result table or JSON, the saved last run."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..pipeline import CullResult
from ..runtime import atomic_write_text
from .errors import EXIT_OK, EXIT_PARTIAL

def tolerate_undecodable_names() -> None:
    """Let a file name that is not UTF-8 be printed: its bytes are written back as they are
    (what ``ls`` does), where a strict UTF-8 terminal would end the run with an encoding error."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="surrogateescape")
            except (ValueError, OSError):
                pass


class RichProgress:
    """Adapts rich progress bars to the pipeline's Progress protocol."""

    def __init__(self, progress: Progress | None):
        self.progress = progress

    def stage(self, name: str, total: int | None) -> Callable[[int], None]:
        if self.progress is None or not total:
            return lambda n=1: None
        task = self.progress.add_task(name, total=total)
        return lambda n=1: self.progress.advance(task, n)  # type: ignore[union-attr]


@contextmanager
def progress_bars(enabled: bool) -> Iterator[RichProgress]:
    """Progress on stderr (stdout stays for the table or JSON); nothing when ``enabled`` is False."""
    if not enabled:
        yield RichProgress(None)
        return
    bar = Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with bar:
        yield RichProgress(bar)


def result_console(json_path: Optional[str], list_path: Optional[str] = None) -> Console:
    """Where results go: stdout, unless ``--json -`` or ``--list -`` owns it (then the table goes to stderr)."""
    return Console(stderr="-" in (json_path, list_path), highlight=False, soft_wrap=True)


def write_list(result: CullResult, target: str) -> list[str]:
    """The picks' paths, one a line (``--list``), to ``target`` (atomically) or stdout for '-'.

    Paths are absolute and written as the bytes the file system has (a non-UTF-8 name still
    names its file); a name with a line break cannot be one line and is left out. Returns
    the messages about what was left out."""
    import os
    import sys

    from ..runtime import atomic_write_bytes

    lines, left_out = [], []
    for fr in result.frames:
        if not (fr.rating and fr.rating.is_pick):
            continue
        raw = os.fsencode(os.path.abspath(fr.frame.path))  # it already starts with the shoot's folder
        if b"\n" in raw or b"\r" in raw:
            left_out.append(f"{fr.frame.path!r} has a line break in its name: not in the list")
            continue
        lines.append(raw + b"\n")
    data = b"".join(lines)
    if target == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        atomic_write_bytes(Path(target), data)
    return left_out


def write_report(result: CullResult, path: Path, elapsed: float | None) -> None:
    """The JSON report at ``path``, written atomically (never half a file)."""
    from ..report.json import write_json

    atomic_write_text(Path(path), write_json(result, "-", elapsed) + "\n")


EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells expect of a program stopped by Ctrl-C


@contextmanager
def interrupt_message() -> Iterator[None]:
    """Ctrl-C: say what was kept and how to go on, then exit 130 (no traceback)."""
    from ..pipeline import Interrupted
    from .errors import warning

    try:
        yield
    except Interrupted as exc:
        if exc.cached and exc.kept:
            warning(f"interrupted: {exc.kept} of {exc.total} files analysed are kept in the cache; "
                    "run again to resume")
        else:
            warning(f"interrupted after {exc.kept} of {exc.total} files were analysed"
                    + ("" if exc.cached else " (no cache: nothing is kept)") + "; nothing was written")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except KeyboardInterrupt:
        warning("interrupted; every photo written so far is complete and journaled ('photocull undo' restores it)")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def check_output_paths(json_path: Optional[str], html: Optional[Path], list_path: Optional[str] = None) -> None:
    """Exit 2 now if ``--json``/``--html``/``--list`` cannot be written: before any photo is
    touched, not after the ratings are in (the report would be lost and the run look failed)."""
    from .errors import fail

    targets = [(flag, Path(p), False) for flag, p in (("--json", json_path), ("--list", list_path)) if p and p != "-"]
    if html:
        targets.append(("--html", Path(html), True))
    for flag, path, may_create_folders in targets:
        problem = _unwritable(path, may_create_folders)
        if problem:
            fail(f"{flag} {path}: {problem}; choose another path (nothing was done)")


def _unwritable(path: Path, may_create_folders: bool) -> str | None:
    """Why a file cannot be written at ``path`` (None: it can), found by creating a temp file
    beside it (asking os.access is wrong for root, ACLs and read-only mounts)."""
    if path.is_dir():
        return "is a folder, not a file name"
    folder = path.parent
    if may_create_folders:
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
    if not folder.is_dir():
        return f"the folder {path.parent} does not exist" if not folder.exists() else f"{folder} is not a folder"
    try:
        fd, tmp = tempfile.mkstemp(prefix=".photocull-check-", dir=folder)
    except OSError as exc:
        return f"cannot write in {folder} ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(tmp)
    return None


def finish(result: CullResult, started: Optional[float], json_path: Optional[str], verbose: bool, show_scores: bool = True,
           *, list_path: Optional[str] = None, details: bool = False) -> None:
    """Show the result (table, errors, totals; every frame with ``details``) or print/write its
    JSON, write the picks list (``list_path``), then exit 0 or 1."""
    from ..report.json import write_json
    from ..report.table import details_table, print_errors, print_skipped, printable, series_table, totals_line
    from .errors import fail, note, stderr, warning

    if json_path == "-" and list_path == "-":
        fail("--json - and --list - both want stdout; write one of them to a file.")
    elapsed = None if started is None else time.perf_counter() - started
    err = stderr()
    if json_path == "-":
        typer.echo(write_json(result, "-", elapsed))
    else:
        out = result_console(json_path, list_path)
        out.print(series_table(result, show_scores=show_scores))
        if details:
            out.print(details_table(result))
        print_errors(err, result, verbose, run_warnings=started is None)
        print_skipped(err, result, verbose)
        for message in result.notes:
            note(printable(message), err)
        out.print(escape(totals_line(result, elapsed)))
        if json_path:
            write_report(result, Path(json_path), elapsed)
            note(f"report written to {json_path}", err)
    if list_path:
        for message in write_list(result, list_path):
            warning(printable(message), err)
        if list_path != "-":
            note(f"picks listed in {list_path}", err)
    raise typer.Exit(EXIT_PARTIAL if result.failed else EXIT_OK)
