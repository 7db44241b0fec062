"""The options of cull, score and group, built from the settings model (``photocull.settings``).

Each :class:`~photocull.settings.RunSettings` field becomes one typer option with its help,
range and choices; a command says which fields it takes (``commands`` in the field's
metadata), so the three commands share one declaration and ``photocull.toml`` keys are the
same names. Choices are read from the registries when the command line is parsed, so
``--scorer`` accepts every registered scorer, including one a plugin registered.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path
from typing import Any, Callable

import typer
from rich.markup import escape

from ..settings import ConfigError, RunSettings, option_meta

SHOOT = typer.Argument(..., exists=True, file_okay=True, dir_okay=True, readable=True, help="The shoot: a folder (or one file).")


def _flags(f: dataclasses.Field) -> tuple[str, ...]:
    return option_meta(f)["flags"] or ("--" + f.name.replace("_", "-"),)


def _parser(choices: Callable[[], tuple[str, ...]] | None, validate: Callable[[str], Any] | None):
    def parse(value: str) -> str:
        if choices is not None:
            allowed = choices()
            if value.lower() not in allowed:
                raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}")
            return value.lower()
        if validate is not None:
            try:
                validate(value)
            except ConfigError as exc:
                raise typer.BadParameter(str(exc)) from None
        return value

    return parse


def typer_option(f: dataclasses.Field) -> tuple[Any, Any]:
    """``(annotation, typer.Option)`` for one settings field."""
    meta = option_meta(f)
    annotation = typing.get_type_hints(RunSettings)[f.name]
    kwargs: dict[str, Any] = dict(help=escape(meta["help"]), rich_help_panel=meta["panel"], metavar=meta["metavar"])
    if meta["min"] is not None:
        kwargs["min"] = meta["min"]
    if meta["max"] is not None:
        kwargs["max"] = meta["max"]
    if meta["path"]:
        kwargs.update(meta["path"])
    if meta["choices"] is not None or meta["validate"] is not None:
        kwargs["parser"] = _parser(meta["choices"], meta["validate"])
        if meta["choices"] is not None and not meta["metavar"]:
            kwargs["metavar"] = "[" + "|".join(meta["choices"]()) + "]"
    return annotation, typer.Option(f.default, *_flags(f), **kwargs)


def settings_option(name: str, **overrides: Any) -> Any:
    """The typer option of one settings field, for a command outside cull/score/group that takes
    it too (``report``'s --html/--json/--list/--details, ``undo``'s --verbose): declared once.
    ``overrides`` replace typer keywords (a help text that speaks of that command)."""
    f = next(f for f in dataclasses.fields(RunSettings) if f.name == name)
    _, option = typer_option(f)
    for key, value in overrides.items():
        setattr(option, key, escape(value) if key == "help" else value)
    return option


def fields_for(command: str) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(RunSettings) if command in option_meta(f)["commands"]]


def settings_options(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: give ``fn(ctx, shoot, **options)`` the signature typer reads, one option per
    settings field that ``command`` takes."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        params = [
            inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
            inspect.Parameter("shoot", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Path, default=SHOOT),
        ]
        annotations: dict[str, Any] = {"ctx": typer.Context, "shoot": Path, "return": None}
        for f in fields_for(command):
            annotation, option = typer_option(f)
            params.append(inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation, default=option))
            annotations[f.name] = annotation
        fn.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
        fn.__annotations__ = annotations
        return fn

    return decorate


def given_on_command_line(ctx: typer.Context) -> dict[str, Any]:
    """The options the user typed (not defaults): they override photocull.toml."""
    out = {}
    for key, value in ctx.params.items():
        if key == "shoot":
            continue
        source = ctx.get_parameter_source(key)  # typer vendors click: compare by name, not class
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            out[key] = value
    return out
