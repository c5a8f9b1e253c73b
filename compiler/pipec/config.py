"""Site configuration: pipec.toml, or [tool.pipec] in pyproject.toml, validated by its schema."""

from __future__ import annotations

import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Union

from pipec.errors import Diagnostics, Location, PipecError
from pipec.rules import lint_problems

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


Keys = tuple[Union[str, int], ...]  # a path into the configuration: table and key names, array indexes


@dataclass
class Config:
    data: dict[str, Any] = field(default_factory=dict)
    file: str | None = None
    _index: _Positions | None = field(default=None, init=False, repr=False, compare=False)

    def locate(self, *keys: str | int) -> Location:
        """Where the key at `keys` is written (for a table: its header). TOML carries no
        positions, so the file is scanned; keys that name no key exactly are looked for as
        the end of a longer path ([triggers] "Nightly" for "Nightly"), then as their parent."""
        found = self._find(tuple(keys), value=False)
        return found if found is not None else Location(self.file or "<config>", 1, 1)

    def locate_value(self, *keys: str | int) -> Location:
        """Where the value at `keys` is written (an array item: `keys` ends with its index);
        falls back to its key."""
        found = self._find(tuple(keys), value=True)
        return found if found is not None else self.locate(*keys)

    def _find(self, keys: Keys, value: bool) -> Location | None:
        if self.file is None:
            return None
        if self._index is None:
            try:
                text = FsPath(self.file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = ""
            self._index = _Positions.scan(text)
        table = self._index.values if value else self._index.keys
        prefix: Keys = ("tool", "pipec") if FsPath(self.file).name == "pyproject.toml" else ()
        for n in range(len(keys), 0, -1):
            want = prefix + keys[:n]
            pos = table.get(want)
            if pos is None and not value:  # a name without its tables: the first path ending so
                pos = min((p for path, p in table.items() if path[-n:] == keys[:n] and path[:len(prefix)] == prefix),
                          default=None)
            if pos is not None:
                return Location(self.file, *pos)
            if value:
                return None
        return None


class _Stop(Exception):
    """The scanner met text it does not follow; what it found so far stands."""


@dataclass
class _Positions:
    """Where each key and value of a TOML text is written: path -> (line, column), 1-based.

    tomllib keeps no positions. The text was already parsed by tomllib, so this small scanner
    follows valid TOML only: table headers and arrays of tables, dotted and quoted keys,
    arrays and inline tables (nested), strings of the four kinds, and other values up to the
    next delimiter. It never raises: on anything unexpected it stops with what it has."""

    keys: dict[Keys, tuple[int, int]] = field(default_factory=dict)
    values: dict[Keys, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def scan(cls, text: str) -> _Positions:
        found = cls()
        try:
            _Scanner(text, found).document()
        except (_Stop, IndexError, ValueError, RecursionError):
            pass  # positions found so far stand; the others fall back to their table
        return found


_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_MAX_NESTING = 64


class _Scanner:
    def __init__(self, text: str, found: _Positions):
        self.text = text
        self.i = 0
        self.line = 1
        self.col = 1
        self.found = found
        self.tables: dict[Keys, int] = {}  # array of tables -> index of its last [[header]]

    def peek(self, n: int = 1) -> str:
        return self.text[self.i:self.i + n]

    def advance(self, n: int = 1) -> None:
        for ch in self.text[self.i:self.i + n]:
            if ch == "\n":
                self.line, self.col = self.line + 1, 1
            else:
                self.col += 1
        self.i += n

    def pos(self) -> tuple[int, int]:
        return (self.line, self.col)

    def blank(self, newlines: bool) -> None:
        """Skip spaces, tabs and comments (and line breaks when `newlines`)."""
        while self.i < len(self.text):
            ch = self.text[self.i]
            if ch in " \t" or (newlines and ch in "\r\n"):
                self.advance()
            elif ch == "#":
                while self.i < len(self.text) and self.text[self.i] != "\n":
                    self.advance()
            else:
                return

    def expect(self, token: str) -> None:
        if self.peek(len(token)) != token:
            raise _Stop
        self.advance(len(token))

    def document(self) -> None:
        table: Keys = ()
        while True:
            self.blank(newlines=True)
            if self.i >= len(self.text):
                return
            if self.peek() == "[":
                table = self.header()
            else:
                self.keyval(table, 0)
            self.blank(newlines=False)
            if self.i < len(self.text) and self.peek() not in "\r\n":
                raise _Stop

    def header(self) -> Keys:
        many = self.peek(2) == "[["
        self.advance(2 if many else 1)
        self.blank(newlines=False)
        parts = self.key()
        self.blank(newlines=False)
        self.expect("]]" if many else "]")
        path: Keys = ()
        for n, (name, start) in enumerate(parts):
            path = (*path, name)
            if n < len(parts) - 1:
                self.found.keys.setdefault(path, start)  # [a.b] also defines a (unless written before)
                if path in self.tables:  # [a.b] after [[a]]: b of a's last element
                    path = (*path, self.tables[path])
        if many:
            index = self.tables[path] = self.tables.get(path, -1) + 1
            self.found.keys.setdefault(path, start)
            path = (*path, index)
        self.found.keys.setdefault(path, start)
        self.found.values.setdefault(path, start)
        return path

    def key(self) -> list[tuple[str, tuple[int, int]]]:
        """A dotted key: each part with where it starts."""
        parts = []
        while True:
            self.blank(newlines=False)
            start = self.pos()
            ch = self.peek()
            if ch in ("\"", "'"):
                name = self.string()
            else:
                begin = self.i
                while self.i < len(self.text) and self.text[self.i] in _BARE_KEY:
                    self.advance()
                if self.i == begin:
                    raise _Stop
                name = self.text[begin:self.i]
            parts.append((name, start))
            self.blank(newlines=False)
            if self.peek() != ".":
                return parts
            self.advance()

    def keyval(self, table: Keys, depth: int) -> None:
        parts = self.key()
        path = table
        for name, start in parts:
            path = (*path, name)
            self.found.keys.setdefault(path, start)
        self.blank(newlines=False)
        self.expect("=")
        self.blank(newlines=False)
        self.value(path, depth)

    def value(self, path: Keys, depth: int) -> None:
        if depth > _MAX_NESTING:
            raise _Stop
        self.found.values.setdefault(path, self.pos())
        ch = self.peek()
        if ch in ("\"", "'"):
            self.string()
        elif ch == "[":
            self.advance()
            index = 0
            while True:
                self.blank(newlines=True)
                if self.peek() == "]":
                    self.advance()
                    return
                self.value((*path, index), depth + 1)
                index += 1
                self.blank(newlines=True)
                if self.peek() == ",":
                    self.advance()
                elif self.peek() != "]":
                    raise _Stop
        elif ch == "{":
            self.advance()
            while True:
                self.blank(newlines=True)
                if self.peek() == "}":
                    self.advance()
                    return
                self.keyval(path, depth + 1)
                self.blank(newlines=True)
                if self.peek() == ",":
                    self.advance()
                elif self.peek() != "}":
                    raise _Stop
        else:  # a number, boolean or date: up to the next delimiter (a date may hold a space)
            begin = self.i
            while self.i < len(self.text) and self.text[self.i] not in ",]}#\r\n":
                self.advance()
            if self.i == begin:
                raise _Stop

    def string(self) -> str:
        """Skip a string of any of the four kinds; its text (escapes left as written)."""
        quote = self.peek()
        if self.peek(3) == quote * 3:
            self.advance(3)
            begin = self.i
            while self.i < len(self.text):
                if quote == "\"" and self.peek() == "\\":
                    self.advance(2)
                elif self.peek(3) == quote * 3:
                    text = self.text[begin:self.i]
                    self.advance(3)
                    while self.peek() == quote:  # up to two quotes may end the content
                        self.advance()
                    return text
                else:
                    self.advance()
            raise _Stop
        self.advance()
        begin = self.i
        while self.i < len(self.text) and self.peek() not in (quote, "\n"):
            self.advance(2 if quote == "\"" and self.peek() == "\\" else 1)
        if self.peek() != quote:
            raise _Stop
        text = self.text[begin:self.i]
        self.advance()
        if quote == "\"" and "\\" in text:
            try:
                return str(tomllib.loads(f"k = \"{text}\"")["k"])
            except tomllib.TOMLDecodeError:
                return text
        return text


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
                    "make it yours and not writable by others (chmod o-w), or pass --config with a file you trust",
                    code="PC403")
        raise PipecError(diags.sorted())
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        diags.error(f"cannot read config: {exc.strerror}", Location(file, 1, 1), code="PC402")
        raise PipecError(diags.sorted()) from None
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw_bytes[:exc.start].count(b"\n") + 1
        col = exc.start - (raw_bytes.rfind(b"\n", 0, exc.start) + 1) + 1
        diags.error("the configuration is not valid UTF-8", Location(file, line, col), code="PC002")
        raise PipecError(diags.sorted()) from None
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", 1) or 1
        col = getattr(exc, "colno", 1) or 1
        diags.error(f"invalid TOML: {str(exc).split(' (at ')[0]}", Location(file, line, col), code="PC401")
        raise PipecError(diags.sorted()) from None
    except RecursionError:  # tomllib recurses per nesting level of arrays and inline tables
        diags.error("invalid TOML: arrays or inline tables nested too deep", Location(file, 1, 1), code="PC003")
        raise PipecError(diags.sorted()) from None
    data: Any = raw
    if path.name == "pyproject.toml":
        tool = raw.get("tool")
        data = tool.get("pipec", {}) if isinstance(tool, dict) else {}
    cfg = Config(data if isinstance(data, dict) else {}, file)
    if not isinstance(data, dict):
        line, col = _Positions.scan(raw_bytes.decode("utf-8")).values.get(("tool", "pipec"), (1, 1))
        diags.error(f"tool.pipec: expected a table, got {_describe(data)}", Location(file, line, col), code="PC022")
        raise PipecError(diags.sorted())
    from pipec.schema import is_valid_fast, validator

    errors = [] if is_valid_fast("config", data) else validator("config").iter_errors(data)
    for err in errors:
        _schema_error(err, cfg, diags)
    for keys in _odd_numbers(data, ()):
        diags.error(f"{_dotted(keys)}: not a usable number (infinite, NaN or beyond ±1e18)", cfg.locate_value(*keys),
                    "write a finite number", code="PC023")
    for keys, zone in _time_zones(data):
        if not _is_time_zone(zone):
            diags.error(f"{_dotted(keys)}: '{zone}' is not an IANA time zone (like Europe/Helsinki)",
                        cfg.locate_value(*keys), code="PC023")
    for keys, message, hint in lint_problems(data.get("lint")):
        diags.error(message, cfg.locate_value("lint", *keys), hint, code="PC404")
    if diags.has_errors:
        raise PipecError(diags.sorted())
    return cfg


# How TOML names the kinds of value (the schema's words are JSON's).
_TOML_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "an array",
    "object": "a table",
}


def _describe(value: Any) -> str:
    from pipec.schema import describe_value

    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return describe_value(value)


def _dotted(keys: Keys) -> str:
    """A path as TOML writes it (argo.labels."bad key!"), with array indexes as [n]."""
    out = ""
    for key in keys:
        if isinstance(key, int):
            out += f"[{key}]"
            continue
        part = key if key and all(c in _BARE_KEY for c in key) else json.dumps(key, ensure_ascii=False)
        out += f".{part}" if out else part
    return out


def _schema_error(err: Any, cfg: Config, diags: Diagnostics) -> None:
    """One jsonschema error of the configuration as a located diagnostic, phrased as for the
    pipeline files: at the key (unknown, missing) or at the value (wrong type or value)."""
    from pipec.schema import did_you_mean

    if err.validator in ("oneOf", "anyOf") and err.context:
        depth = len(err.absolute_path)
        # A branch of another type was not meant: say what is wrong in the branch of this one.
        meant = [e for e in err.context if not (e.validator == "type" and len(e.absolute_path) == depth)]
        if not meant:
            wanted = " or ".join(_TOML_TYPES.get(str(e.validator_value), str(e.validator_value)) for e in err.context)
            diags.error(f"{_dotted(tuple(err.absolute_path))}: expected {wanted}, got {_describe(err.instance)}",
                        cfg.locate_value(*err.absolute_path), code="PC022")
            return
        err = max(meant, key=lambda e: (len(e.absolute_path), -len(e.schema_path)))  # the furthest branch
    keys: Keys = tuple(err.absolute_path)
    where = _dotted(keys)
    schema = err.schema if isinstance(err.schema, dict) else {}
    instance = err.instance
    value_at = cfg.locate_value(*keys) if keys else Location(cfg.file or "<config>", 1, 1)
    if err.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(schema.get("properties", {}))
        patterns = schema.get("patternProperties", {})
        for key in instance:
            if key in allowed or any(re.search(p, key) for p in patterns):
                continue
            kind = "table" if isinstance(instance[key], dict) else "key"
            guess = did_you_mean(key, allowed)
            if guess:
                hint: str | None = f"did you mean '{guess}'?"
            elif allowed:
                hint = f"{'tables' if not keys else 'keys'}: {', '.join(allowed)}"
            else:  # keys of a form ([sweeps] "NODE.PARAM"): the form's description says it
                hint = next((v.get("description") for v in patterns.values() if isinstance(v, dict)),
                            schema.get("description"))
            message = f"unknown {kind} '{key}'" + (f" in [{where}]" if keys else "")
            diags.error(message, cfg.locate(*keys, key), hint, code="PC020")
        return
    if err.validator == "required":
        for key in [k for k in err.validator_value if isinstance(instance, dict) and k not in instance]:
            diags.error(f"missing required key '{key}'" + (f" in [{where}]" if keys else ""),
                        cfg.locate(*keys) if keys else value_at, schema.get("description"), code="PC021")
        return
    name = where or "the configuration"
    if err.validator == "type":
        expected = err.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        want = " or ".join(_TOML_TYPES.get(n, n) for n in names)
        hint = None
        if "string" in names and isinstance(instance, (bool, int, float)):
            hint = "put the value in quotes"
        elif isinstance(instance, str) and ("integer" in names or "number" in names or "boolean" in names):
            hint = "write it without quotes"
        diags.error(f"{name}: expected {want}, got {_describe(instance)}", value_at, hint or schema.get("description"),
                    code="PC022")
        return
    code = "PC023"
    hint = schema.get("description")
    if err.validator in ("enum", "const"):
        options = [str(o) for o in (err.validator_value if err.validator == "enum" else [err.validator_value])]
        guess = did_you_mean(str(instance), options)
        message = f"{_describe(instance)} is not one of: {', '.join(options)}"
        hint = f"did you mean '{guess}'?" if guess else hint
    elif err.validator == "pattern" and "propertyNames" in err.schema_path:
        # Under propertyNames the instance is the key itself.
        diags.error(f"{name}: the key {str(instance)!r} is not allowed here", cfg.locate(*keys, str(instance)), hint,
                    code=code)
        return
    elif err.validator == "pattern":
        message = f"{_describe(instance)} is not in the expected form" if hint else (
            f"{_describe(instance)} does not match the pattern {err.validator_value}")
    elif err.validator in ("minimum", "exclusiveMinimum"):
        message = f"{_describe(instance)} is below the minimum of {err.validator_value}"
    elif err.validator in ("maximum", "exclusiveMaximum"):
        message = f"{_describe(instance)} is above the maximum of {err.validator_value}"
    elif err.validator == "minLength" and instance == "":
        message = "the string is empty"
    elif err.validator in ("minLength", "maxLength"):
        bound = "shorter" if err.validator == "minLength" else "longer"
        message = f"{_describe(instance)} is {bound} than {err.validator_value} characters"
    elif err.validator == "minItems" and instance == []:
        message = "the array is empty; it needs at least one item"
    elif err.validator in ("minItems", "maxItems"):
        message = f"{len(instance)} items, but {'at least' if err.validator == 'minItems' else 'at most'} " \
                  f"{err.validator_value} are allowed"
    else:
        message, code = err.message, "PC026"
    diags.error(f"{name}: {message}", value_at, hint, code=code)


def _odd_numbers(value: Any, keys: Keys) -> list[Keys]:
    """Where the config holds numbers no setting means (TOML reads inf and nan)."""
    if isinstance(value, float) and not math.isfinite(value) or (
            isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**18):
        return [keys]
    if isinstance(value, dict):
        return [k for key, v in value.items() for k in _odd_numbers(v, (*keys, str(key)))]
    if isinstance(value, list):
        return [k for i, v in enumerate(value) for k in _odd_numbers(v, (*keys, i))]
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
