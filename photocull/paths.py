"""Every place photocull keeps files, named once: the shoot's own folder and the user's.

A shoot keeps what photocull wrote about it (cache, journal, last run) in ``SHOOT/.photocull/``
so it travels with the photos; settings, weights and the fallback cache live in the user's
folders (XDG variables first; the cache by each platform's rule). No torch here: the CLI asks cheaply.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

STATE_DIRNAME = ".photocull"  # SHOOT/.photocull/: cache.sqlite, journal.jsonl, last_run.json
SETTINGS_FILENAME = "photocull.toml"
LAST_RUN_FILENAME = "last_run.json"
MODEL_DIR_ENV = "PHOTOCULL_MODEL_DIR"


def shoot_folder(path: str | os.PathLike[str]) -> Path:
    """The folder a shoot argument stands for: the folder itself, or a single file's folder."""
    p = Path(path)
    return p if p.is_dir() else p.parent


def state_dir(shoot: str | os.PathLike[str]) -> Path:
    """``SHOOT/.photocull``: what photocull keeps about one shoot (may not exist yet)."""
    return shoot_folder(shoot) / STATE_DIRNAME


def last_run_path(shoot: str | os.PathLike[str]) -> Path:
    """The saved report of the last cull/score run (read by ``photocull report``)."""
    return state_dir(shoot) / LAST_RUN_FILENAME


def user_config_dir() -> Path:
    """``$XDG_CONFIG_HOME/photocull``, else ``~/.config/photocull`` on every platform (where
    command-line tools' users look; ``photocull config`` prints it)."""
    base = os.environ.get("XDG_CONFIG_HOME")
    return (Path(base).expanduser() if base else Path.home() / ".config") / "photocull"


def user_config_path() -> Path:
    """The user's ``photocull.toml`` (applies to every shoot)."""
    return user_config_dir() / SETTINGS_FILENAME


def user_state_dir() -> Path:
    """``$XDG_STATE_HOME/photocull`` (``~/.local/state``; ``%LOCALAPPDATA%\\photocull\\State`` on
    Windows): what belongs to this computer, never to a card (the journal's signing key)."""
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "photocull"
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "photocull" / "State"
    return Path.home() / ".local" / "state" / "photocull"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/photocull`` (``~/.cache``; ``~/Library/Caches`` on macOS;
    ``%LOCALAPPDATA%\\photocull\\Cache`` on Windows)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "photocull"
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "photocull" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "photocull"
    return Path.home() / ".cache" / "photocull"


def model_dir() -> Path:
    """Where converted FGAesQ weights live: ``$PHOTOCULL_MODEL_DIR``, else ``models`` in the
    user cache folder (:func:`user_cache_dir`: XDG, macOS and Windows rules)."""
    env = os.environ.get(MODEL_DIR_ENV, "").strip()
    return Path(os.path.expanduser(env)) if env else user_cache_dir() / "models"
