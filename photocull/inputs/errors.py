"""The one error an input format's opener raises: a per-file failure worded for the photographer.

It lives with the formats (the openers raise it) and ``decode`` re-exports it, so the decoder
sits above the formats it dispatches to and nothing in ``inputs/`` imports the decoder back."""

from __future__ import annotations


class DecodeError(Exception):
    """A per-file decode failure with a message meant for the photographer."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
