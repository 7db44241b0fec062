"""Settings files: defaults for the command line, per user and per shoot.

``photocull.toml`` in the user config folder (``$XDG_CONFIG_HOME/photocull/`` or
``~/.config/photocull/``) applies to every shoot; one in the shoot folder overrides it
for that shoot; an option given on the command line overrides both. ``photocull config
SHOOT/`` shows the result and where each value came from.

    [cull]                 # any cull/score/group option, by its long name with _ for -
    scorer = "technical"
    top_k = 1
    write = "exif,xmp,sidecar"
    max_gap = 20.0
    label_picks = true

    [stars]                # the star mapping (photocull.pick.StarMapping)
    five_star = 0.2
    four_star = 0.4

    [technical]            # problem thresholds (photocull.scorers.technical.TechnicalThresholds)
    blur_rel_ev = 1.4
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .pick import StarMapping
from .scorers.technical import TechnicalThresholds

FILENAME = "photocull.toml"
CULL_KEYS = {
    "scorer": str, "top_k": int, "write": str, "label_picks": bool, "reject": bool, "keep_mtime": bool,
    "sidecar_naming": str, "recursive": bool, "max_gap": float, "hash_threshold": float,
    "embed_threshold": float, "model": str, "pretrained": str, "no_embeddings": bool, "device": str,
    "batch_size": int, "cache": bool, "user_cache": bool, "workers": int, "weights": str,
}
SECTIONS: dict[str, dict[str, type]] = {
    "cull": CULL_KEYS,
    "stars": {f.name: f.type if isinstance(f.type, type) else type(f.default) for f in dataclasses.fields(StarMapping)},
    "technical": {f.name: type(f.default) for f in dataclasses.fields(TechnicalThresholds)},
}


class ConfigError(ValueError):
    """A settings file that cannot be used: says which file and which key."""


@dataclass
class Settings:
    values: dict[str, dict[str, Any]] = field(default_factory=lambda: {s: {} for s in SECTIONS})
    sources: dict[str, str] = field(default_factory=dict)  # "section.key" -> file it came from
    files: list[Path] = field(default_factory=list)

    def stars(self) -> StarMapping:
        return StarMapping(**self.values["stars"])

    def thresholds(self) -> TechnicalThresholds:
        return TechnicalThresholds(**self.values["technical"])


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "photocull" / FILENAME


def _coerce(path: Path, section: str, key: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{path}: [{section}] {key} must be {kind.__name__}, got {value!r}")
    return value


def read_file(path: Path, settings: Settings) -> None:
    """Merge one TOML file into ``settings`` (later files win)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc
    for section, table in data.items():
        if section not in SECTIONS or not isinstance(table, dict):
            raise ConfigError(f"{path}: unknown section [{section}]; known: {', '.join('[' + s + ']' for s in SECTIONS)}")
        for key, value in table.items():
            kinds = SECTIONS[section]
            if key not in kinds:
                raise ConfigError(f"{path}: unknown key '{key}' in [{section}]; known: {', '.join(sorted(kinds))}")
            settings.values[section][key] = _coerce(path, section, key, value, kinds[key])
            settings.sources[f"{section}.{key}"] = str(path)
    settings.files.append(path)


def load(shoot: Path | None) -> Settings:
    """User settings, then the shoot's own ``photocull.toml`` on top."""
    settings = Settings()
    candidates = [user_config_path()]
    if shoot is not None:
        folder = shoot if shoot.is_dir() else shoot.parent
        candidates.append(folder / FILENAME)
    for path in candidates:
        if path.is_file():
            read_file(path, settings)
    return settings
