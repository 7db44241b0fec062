"""Every report a test sees is checked against the published JSON Schema (photocull/report/schema.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # the test extra; a missing validator must fail the tests, not skip them

from photocull.report.json import schema

_VALIDATOR = jsonschema.Draft202012Validator(schema())


def valid_report(data: dict[str, Any] | str | Path) -> dict[str, Any]:
    """``data`` (a dict, JSON text, or a file) validated against the schema; returned as a dict."""
    if isinstance(data, Path):
        data = data.read_text(encoding="utf-8")
    if isinstance(data, str):
        data = json.loads(data[data.index("{"):])
    errors = sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:10])
    return data
