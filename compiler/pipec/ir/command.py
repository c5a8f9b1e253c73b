"""Commands as data: what a job runs, as typed parts.

A front end turns its dialect's command syntax into a `Command`; one renderer
(`pipec.backends.command`) turns it into shell text for every engine, with every value
quoted or read from an environment variable. Nothing here knows a dialect's syntax.

A SHELL command is lines of shell source. Its `Text` parts are source, copied as written;
the other parts are values inserted into that source, and each records the quoting context
it sits in (`Quoting`), found by the front end when it read the source, so the renderer can
write a value, or a variable holding one, that stays one word there.

An ARGV command is a program and its arguments run without a shell: one line per word,
and every part of it, `Text` included, is data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Union

Value = Any  # JSON-like scalar or list of scalars

# Where a part sits in shell source: plain words (also inside $(...) and backticks), "...",
# '...', $'...', an unquoted heredoc body, or places where nothing expands (a quoted heredoc
# body, a comment). ARGV words are "word".
Quoting = Literal["plain", "double", "single", "ansi", "heredoc", "quoted-heredoc", "comment", "word"]


class CommandKind(str, Enum):
    SHELL = "shell"  # lines of shell source
    ARGV = "argv"  # one word per line, executed without a shell


@dataclass(frozen=True)
class Text:
    """Literal text: shell source in a SHELL command, data in an ARGV word."""

    text: str


@dataclass(frozen=True)
class Args:
    """A parameter's command-line words (its `ArgSpec` applied to its value); with no name,
    every parameter that has an ArgSpec, in definition order, unset ones left out."""

    name: str | None = None
    quoting: Quoting = "plain"


@dataclass(frozen=True)
class ParamValue:
    """A parameter's value as one word. `unset` is the text written when it has no value
    (None: nothing)."""

    name: str
    unset: str | None = None
    quoting: Quoting = "plain"


@dataclass(frozen=True)
class Path:
    """A directory of the job's layout ("inputs", "outputs", "config") as the job sees it:
    its container path where the engine mounts the layout there, else the variable naming
    where the runtime put it."""

    area: str
    quoting: Quoting = "plain"


@dataclass(frozen=True)
class Host:
    """The host name of a peer in the job's group."""

    job: str
    quoting: Quoting = "plain"


@dataclass(frozen=True)
class RunId:
    """The id of the run: the same for every job of one run, another for the next run
    (OSMO's `{{workflow_id}}`)."""

    quoting: Quoting = "plain"


Part = Union[Text, Args, ParamValue, Path, Host, RunId]
Word = tuple[Part, ...]  # a value built of parts (text with layout paths, peers' hosts, the run id)


@dataclass(frozen=True)
class Command:
    kind: CommandKind = CommandKind.SHELL
    lines: tuple[tuple[Part, ...], ...] = ()

    @staticmethod
    def shell(*lines: str) -> "Command":
        """A SHELL command of literal lines (no values in it)."""
        return Command(CommandKind.SHELL, tuple((Text(line),) for line in lines))

    def texts(self) -> tuple[str, ...]:
        """The literal text of every part (for lookups that must avoid what the author wrote)."""
        return tuple(p.text for line in self.lines for p in line if isinstance(p, Text))


@dataclass(frozen=True)
class ArgSpec:
    """How a parameter's value becomes command-line words.

    `words` are templates in Python's format syntax over the fields `name` and `value` (also
    `v`); each template becomes exactly one word, so a value with spaces never splits. A flag
    uses `words` when its value is true and `false_words` when it is false. A list value is
    either repeated (the words once per item) or joined with `separator` into one value
    (`multiple`); without `multiple` a list is an error. `default_applies` is False where the
    parameter's default must not reach the command (only an explicitly given value does); a
    parameter taking several values sees a single default as a one-item list.
    """

    words: tuple[str, ...]
    false_words: tuple[str, ...] = ()
    flag: bool = False
    multiple: Literal["", "repeat", "join"] = ""
    separator: str = ","
    default_applies: bool = True


@dataclass(frozen=True)
class Late:
    """A value known only at submit or run time: the environment variable that holds its text
    when the command runs, and the placeholder that stands for it in parameters.json until the
    runtime fills it in."""

    var: str
    token: str = field(default="", compare=False)
