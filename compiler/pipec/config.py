"""Site configuration: pipec.toml, or [tool.pipec] in pyproject.toml, validated by its schema."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from pipec.errors import Diagnostics, Location, PipecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


@dataclass
class Config:
    data: dict[str, Any] = field(default_factory=dict)
    file: str | None = None

    def locate(self, *keys: str) -> Location:
        """TOML carries no positions; find the line that names the last key (as a key, or in a
        table header; else anywhere), trying the keys before it when it is not found."""
        if self.file is None:
            return Location("<config>", 1, 1)
        try:
            lines = FsPath(self.file).read_text(encoding="utf-8").splitlines()
        except OSError:
            return Location(self.file, 1, 1)
        for want in reversed(keys):
            spelled = {want, f'"{want}"', f"'{want}'"}
            for n, line in enumerate(lines, 1):
                stripped = line.strip()
                key = stripped.split("=", 1)[0].strip() if "=" in stripped else None
                header = stripped.startswith("[") and any(s in stripped for s in spelled)
                if key in spelled or header:
                    return Location(self.file, n, line.find(want) + 1 if want in line else 1)
            for n, line in enumerate(lines, 1):
                col = line.find(want)
                if col >= 0:
                    return Location(self.file, n, col + 1)
        return Location(self.file, 1, 1)


def find_config(start: FsPath) -> FsPath | None:
    """The nearest pipec.toml, or pyproject.toml with a [tool.pipec] table, from `start` up to
    the repository's root (the nearest folder holding `.git`), or `start` alone outside a
    repository: a pipec.toml in a shared parent folder (/tmp, a home directory) is never
    picked up by accident."""
    here = start.resolve()
    folders = [here]
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            folders = [f for f in (here, *here.parents) if f == folder or folder in f.parents]
            break
    for folder in folders:
        candidate = folder / "pipec.toml"
        if candidate.is_file():
            return _shown(candidate)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.pipec" in pyproject.read_text(encoding="utf-8", errors="replace"):
            return _shown(pyproject)
    return None


def _shown(path: FsPath) -> FsPath:
    """The path as messages show it: relative to the working directory when it is below it."""
    try:
        return path.relative_to(FsPath.cwd().resolve())
    except ValueError:
        return path


def untrusted(path: FsPath) -> str | None:
    """Why a config file must not be used (it decides commands jobs run), or None: writable by
    other users, or owned by another user than the one running pipec (as git's
    safe.directory refuses a repository owned by someone else)."""
    try:
        info = path.stat()
    except OSError:
        return None
    if info.st_mode & 0o002:
        return "it is writable by every user"
    if hasattr(os, "getuid") and info.st_uid not in (os.getuid(), 0):
        return f"it belongs to another user (uid {info.st_uid})"
    return None


def load_config(path: FsPath | None, diags: Diagnostics) -> Config:
    if path is None:
        return Config()
    file = str(path)
    why = untrusted(path)
    if why:
        diags.error(f"refusing the configuration {file}: {why}", Location(file, 1, 1),
                    "make it yours and not writable by others (chmod o-w), or pass --config with a file you trust")
        raise PipecError(diags.sorted())
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        diags.error(f"cannot read config: {exc.strerror}", Location(file, 1, 1))
        raise PipecError(diags.sorted()) from None
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", 1) or 1
        col = getattr(exc, "colno", 1) or 1
        diags.error(f"invalid TOML: {str(exc).split(' (at ')[0]}", Location(file, line, col))
        raise PipecError(diags.sorted()) from None
    data = raw.get("tool", {}).get("pipec", {}) if path.name == "pyproject.toml" else raw
    cfg = Config(data, file)
    from pipec.schema import describe_value, is_valid_fast, validator

    errors = [] if is_valid_fast("config", data) else validator("config").iter_errors(data)
    for err in errors:
        if err.validator in ("oneOf", "anyOf") and err.context:  # the branch that got furthest
            err = max(err.context, key=lambda e: (len(e.absolute_path), -len(e.schema_path)))
        keys = [str(k) for k in err.absolute_path]
        where = ".".join(keys) or "the config"
        hint = None
        if err.validator == "type":
            message = f"{where}: expected {err.validator_value}, got {describe_value(err.instance)}"
        elif err.validator == "pattern":
            # Under propertyNames the instance is the key itself.
            if "propertyNames" in err.schema_path:
                message = f"{where}: the key {str(err.instance)!r} is not allowed here"
            else:
                message = f"{where}: {describe_value(err.instance)} is not allowed here"
            hint = err.schema.get("description")
        else:
            message = f"{where}: {err.message}"
        diags.error(message, cfg.locate(*keys) if keys else Location(file, 1, 1), hint)
    for keys in _odd_numbers(data, ()):
        diags.error(f"{'.'.join(keys)}: not a usable number (infinite, NaN or beyond ±1e18)", cfg.locate(*keys),
                    "write a finite number")
    for keys, zone in _time_zones(data):
        if not _is_time_zone(zone):
            diags.error(f"{'.'.join(keys)}: '{zone}' is not an IANA time zone (like Europe/Helsinki)",
                        cfg.locate(*keys))
    if diags.has_errors:
        raise PipecError(diags.sorted())
    return cfg


def _odd_numbers(value: Any, keys: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Where the config holds numbers no setting means (TOML reads inf and nan)."""
    if isinstance(value, float) and not math.isfinite(value) or (
            isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**18):
        return [keys]
    if isinstance(value, dict):
        return [k for key, v in value.items() for k in _odd_numbers(v, (*keys, str(key)))]
    if isinstance(value, list):
        return [k for v in value for k in _odd_numbers(v, keys)]
    return []


def _time_zones(data: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """The time zone names a config holds (a schema cannot tell a real one)."""
    found = []
    argo = data.get("argo")
    if isinstance(argo, dict) and isinstance(argo.get("timezone"), str):
        found.append((("argo", "timezone"), argo["timezone"]))
    triggers = data.get("triggers")
    for name, entry in (triggers.items() if isinstance(triggers, dict) else ()):
        if isinstance(entry, dict) and isinstance(entry.get("timezone"), str):
            found.append((("triggers", name, "timezone"), entry["timezone"]))
    return found


def _is_time_zone(name: str) -> bool:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
