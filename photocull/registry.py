"""The one rule every registry follows (scorers, metadata targets, input formats, presets).

timm warns when a model name is registered twice and the later one silently wins; a culling
tool that writes into photographs should not let a plugin (or a typo) replace the writer of
a format by accident. So a second registration of a name is refused, naming what holds it,
unless the caller asks to replace it, which is allowed and warned about.
"""

from __future__ import annotations

import warnings
from typing import MutableMapping, TypeVar

__all__ = ["DuplicateRegistration", "register_in"]

T = TypeVar("T")


class DuplicateRegistration(ValueError):
    """A name registered twice without ``replace=True``."""


def register_in(table: MutableMapping[str, T], name: str, value: T, *, kind: str, replace: bool = False) -> T:
    """Put ``value`` under ``name`` in ``table`` (a registry of ``kind``s); returns ``value``.

    A name already there raises :class:`DuplicateRegistration`, unless ``replace`` is True:
    then the new value replaces the old one with a warning (a plugin overriding a built-in).
    """
    if name in table:
        if not replace:
            raise DuplicateRegistration(
                f"{kind} {name!r} is registered already ({table[name]!r}); "
                "unregister it first, or register with replace=True to replace it")
        warnings.warn(f"{kind} {name!r} replaced by a later registration", stacklevel=3)
    table[name] = value
    return value
