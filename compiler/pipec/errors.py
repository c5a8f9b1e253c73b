"""Located diagnostics: the one error type every stage reports through."""

from __future__ import annotations

import json
import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Callable, Iterable

from pipec import rules

if TYPE_CHECKING:
    from pipec.config import Config


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"  # information (which configuration was used); never fails a run


def visible(text: str) -> str:
    """`text` with control and format characters (ESC, CR, NUL, bidi overrides, ...) written
    as escapes, so a message can neither drive a terminal nor hide what it says."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    return "".join(out)


@dataclass(frozen=True, order=True)
class Location:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    message: str
    location: Location
    hint: str | None = None
    code: str | None = None  # the rule's code (pipec/rules.py); None for notes and uncoded errors

    def sort_key(self) -> tuple[str, int, int, int, str]:
        loc = self.location
        rank = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}[self.severity]
        return (loc.file, loc.line, loc.col, rank, self.message)

    @property
    def rule(self) -> str | None:
        """The name of the rule (edge-to-unknown-parameter), or None."""
        found = rules.BY_CODE.get(self.code) if self.code is not None else None
        return found.name if found else None

    def label(self) -> str | None:
        """Code and name as text shows them: 'PC101 edge-to-unknown-parameter'."""
        if self.code is None:
            return None
        return f"{self.code} {self.rule}" if self.rule else self.code

    def format_text(self, *, frame: bool = False, color: bool = False, sources: Sources | None = None) -> str:
        """`file:line:col: severity: message [CODE name]`, then (with `frame`) the source line
        with a caret under the column, then the hint. `color` adds ANSI colours."""
        # Text from the input (names, values) may hold terminal control sequences: never print them.
        paint = _paint if color else _plain
        tone = _TONES[self.severity]
        label = self.label()
        text = (
            paint(f"{visible(str(self.location))}:", "1") + " " + paint(f"{self.severity.value}:", tone) + " "
            + visible(self.message) + (" " + paint(f"[{visible(label)}]", "2") if label else "")
        )
        if frame and self.severity is not Severity.NOTE:
            text += "".join("\n" + line for line in _frame(self.location, sources or SOURCES, paint, tone))
        if self.hint:
            text += "\n  " + paint("hint:", "1;36") + f" {visible(self.hint)}"
        return text

    def format_github(self) -> str:
        # Workflow-command values must escape %, CR and LF; properties also : and ,.
        def esc(value: str, prop: bool = False) -> str:
            value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            if prop:
                value = value.replace(":", "%3A").replace(",", "%2C")
            return value

        loc = self.location
        message = visible(self.message + (f" (hint: {self.hint})" if self.hint else ""))
        command = "notice" if self.severity is Severity.NOTE else self.severity.value
        label = self.label()
        title = f",title={esc(visible(label), True)}" if label else ""
        return (
            f"::{command} file={esc(visible(loc.file), True)},line={loc.line},col={loc.col}{title}::"
            f"{esc(message)}"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity.value,
            "file": self.location.file,
            "line": self.location.line,
            "col": self.location.col,
            "message": self.message,
            "hint": self.hint,
            "code": self.code,
            "rule": self.rule,
        }


@dataclass
class Diagnostics:
    """Collects every problem of a run, so all of them are reported together."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, message: str, location: Location, hint: str | None = None, *, code: str | None = None) -> None:
        """An error; `code` (a rule's code or name, pipec/rules.py) when it belongs to a family."""
        self.items.append(Diagnostic(Severity.ERROR, message, location, hint, _code(code)))

    def warning(self, message: str, location: Location, hint: str | None = None, *, code: str | None = None) -> None:
        """A warning; `code` is its rule's code or name (pipec/rules.py): [lint] can raise or ignore it."""
        self.items.append(Diagnostic(Severity.WARNING, message, location, hint, _code(code)))

    def note(self, message: str, location: Location) -> None:
        self.items.append(Diagnostic(Severity.NOTE, message, location))

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def error_count(self) -> int:
        return sum(1 for d in self.items if d.severity is Severity.ERROR)

    @property
    def has_warnings(self) -> bool:
        return any(d.severity is Severity.WARNING for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        unique = {(d.severity, d.message, d.location, d.hint): d for d in self.items}
        return sorted(unique.values(), key=Diagnostic.sort_key)


class PipecError(Exception):
    """Raised when a stage cannot go on; carries every diagnostic found so far."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.format_text() for d in diagnostics))
        self.diagnostics = diagnostics


def format_diagnostics(
    diagnostics: list[Diagnostic], fmt: str, *, frame: bool = False, color: bool = False,
    sources: Sources | None = None,
) -> str:
    """The diagnostics as text, json or github annotations. For text on a terminal, `frame`
    adds each one's source line and a caret, `color` ANSI colours (the caller decides both:
    a TTY, and NO_COLOR unset for colour). `sources` gives the files' text (default SOURCES)."""
    if fmt == "json":
        return json.dumps([d.to_json() for d in diagnostics], indent=2, ensure_ascii=False)
    if fmt == "github":
        return "\n".join(d.format_github() for d in diagnostics)
    return "\n".join(d.format_text(frame=frame, color=color, sources=sources) for d in diagnostics)


def _code(code: str | None) -> str | None:
    return None if code is None else rules.code_of(code)


def apply_rules(diagnostics: Iterable[Diagnostic], config: Config) -> list[Diagnostic]:
    """The diagnostics as the configuration's [lint] table wants them: the warnings it ignores
    left out, those it lists under `error` made errors. Errors and notes never change."""
    lint = config.data.get("lint")
    items = list(diagnostics)
    if not isinstance(lint, dict):
        return items
    raised, ignored = rules.configured(lint, "error"), rules.configured(lint, "ignore")
    out = []
    for d in items:
        if d.severity is Severity.WARNING and d.code in ignored:
            continue
        out.append(replace(d, severity=Severity.ERROR) if d.severity is Severity.WARNING and d.code in raised else d)
    return sorted(out, key=Diagnostic.sort_key)


# ---------------------------------------------------------------------------- code frames
_TONES = {Severity.ERROR: "1;31", Severity.WARNING: "1;33", Severity.NOTE: "1;36"}
MAX_SOURCE_BYTES = 10 * 1024 * 1024  # as the loader's limit: a larger file was never read
_FRAME_WIDTH = 120  # longer source lines are cut around the column
_TAB = 4
# Where YAML breaks lines (PyYAML counts these, so its line numbers do); TOML breaks at LF only.
_YAML_LINES = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
_TOML_LINES = re.compile("\r?\n")


def _plain(text: str, style: str) -> str:
    return text


def _paint(text: str, style: str) -> str:
    return f"\x1b[{style}m{text}\x1b[0m"


class Sources:
    """The text of the files diagnostics point into, for code frames: a file is read by its
    location's path when first needed, once; text that is not in a file (standard input) is
    kept by whoever read it (`keep`). Never fails: a file it cannot read has no frame."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str] | None] = {}

    def keep(self, file: str, text: str) -> None:
        self._lines[file] = self._split(file, text)

    def line(self, file: str, number: int) -> str | None:
        if file not in self._lines:
            self._lines[file] = self._read(file)
        lines = self._lines[file]
        if lines is None or not 0 < number <= len(lines):
            return None
        return lines[number - 1]

    def _read(self, file: str) -> list[str] | None:
        if file.startswith("<"):  # <stdin>, <config>: only what was kept
            return None
        try:
            # O_NONBLOCK: a FIFO given as the input must not hang the report.
            fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except (OSError, ValueError):
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SOURCE_BYTES:
                return None
            with os.fdopen(fd, "rb", closefd=False) as fh:
                raw = fh.read(MAX_SOURCE_BYTES + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        return self._split(file, raw.decode("utf-8-sig", errors="replace"))

    @staticmethod
    def _split(file: str, text: str) -> list[str]:
        text = text.removeprefix("\ufeff")
        return (_TOML_LINES if file.endswith(".toml") else _YAML_LINES).split(text)


# Texts of the files of this run (the driver keeps standard input here).
SOURCES = Sources()


def _cells(ch: str) -> int:
    """Terminal columns a (visible) character takes."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _shown_line(line: str, col: int) -> tuple[str, int]:
    """The source line as a frame prints it (tabs expanded, control characters escaped, a long
    line cut around the column) and the terminal column (0-based) of the caret."""
    index = min(max(col - 1, 0), len(line))
    start, end = 0, len(line)
    if len(line) > _FRAME_WIDTH:
        start = max(0, min(index - _FRAME_WIDTH // 2, len(line) - _FRAME_WIDTH))
        end = start + _FRAME_WIDTH
    shown = "..." if start > 0 else ""
    width = len(shown)
    caret = None
    for i in range(start, end):
        if i == index:
            caret = width
        ch = line[i]
        piece = " " * (_TAB - width % _TAB) if ch == "\t" else visible(ch)
        shown += piece
        width += sum(_cells(c) for c in piece)
    if caret is None:  # at the end of the line (or past it)
        caret = width + max(0, col - 1 - len(line))
    if end < len(line):
        shown += "..."
    return shown, caret


def _frame(location: Location, sources: Sources, paint: Callable[[str, str], str], tone: str) -> list[str]:
    """The lines of a code frame: the source line, numbered, and a caret under the column."""
    line = sources.line(location.file, location.line)
    if line is None:
        return []
    shown, caret = _shown_line(line, location.col)
    number = str(location.line)
    return [
        paint(f"{number} |", "34") + (f" {shown}" if shown else ""),
        paint(f"{' ' * len(number)} |", "34") + " " * (caret + 1) + paint("^", tone),
    ]
