"""Located diagnostics: the one error type every stage reports through."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable


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

    def sort_key(self) -> tuple[str, int, int, int, str]:
        loc = self.location
        rank = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}[self.severity]
        return (loc.file, loc.line, loc.col, rank, self.message)

    def format_text(self) -> str:
        # Text from the input (names, values) may hold terminal control sequences: never print them.
        text = f"{visible(str(self.location))}: {self.severity.value}: {visible(self.message)}"
        if self.hint:
            text += f"\n  hint: {visible(self.hint)}"
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
        return (
            f"::{command} file={esc(visible(loc.file), True)},line={loc.line},col={loc.col}::"
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
        }


@dataclass
class Diagnostics:
    """Collects every problem of a run, so all of them are reported together."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, message: str, location: Location, hint: str | None = None) -> None:
        self.items.append(Diagnostic(Severity.ERROR, message, location, hint))

    def warning(self, message: str, location: Location, hint: str | None = None) -> None:
        self.items.append(Diagnostic(Severity.WARNING, message, location, hint))

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


def format_diagnostics(diagnostics: list[Diagnostic], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([d.to_json() for d in diagnostics], indent=2, ensure_ascii=False)
    if fmt == "github":
        return "\n".join(d.format_github() for d in diagnostics)
    return "\n".join(d.format_text() for d in diagnostics)
