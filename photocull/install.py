"""The one command that adds an optional extra to *this* photocull, for hints in messages.

A hint that names the wrong pip (another Python's) or the wrong form (the published package
where the README installs the clone in editable mode) sends the user in circles. The command
runs this interpreter's pip, and for a source checkout (the README's ``pip install -e .``)
installs the checkout's extra, with its constraints file when there is one.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def source_checkout() -> Path | None:
    """The repository photocull runs from (its pyproject.toml beside the package), or None."""
    repo = Path(__file__).resolve().parents[1]
    try:
        text = (repo / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return repo if 'name = "photocull"' in text else None


def install_command(extra: str) -> str:
    """``pip install`` of ``photocull[extra]`` into the environment that runs photocull."""
    pip = f"{shlex.quote(sys.executable)} -m pip install"
    repo = source_checkout()
    if repo is None:
        return f"{pip} {shlex.quote(f'photocull[{extra}]')}"
    constraints = repo / "constraints.txt"
    pinned = f" -c {shlex.quote(str(constraints))}" if constraints.is_file() else ""
    return f"{pip}{pinned} -e {shlex.quote(f'{repo}[{extra}]')}"
