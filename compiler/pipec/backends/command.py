"""The one renderer of commands: IR command parts and an execution's values -> shell text.

Every back end renders every job through `render`, so quoting lives here: each value becomes
words quoted for the place it sits in (see `ir.Quoting`), and a value known only later (an
`ir.Late`) becomes a quoted expansion of the variable that holds it, never code. Where the
engine does not mount the execution at the layout's container paths (`mounted=False`), those
paths, in the source and inside values, become the variables the runtime exports for them.

Parameter words follow `ir.ArgSpec`; the values a command sees are the parameters' defaults
(where they apply) overridden by the execution's own (`effective_values`).
"""

from __future__ import annotations

import functools
import re
import shlex
import string
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Mapping, Sequence, Union

from pipec import ir

__all__ = ["RUN_ID", "NeedsValue", "Refs", "RenderError", "effective_values", "join_lines", "render",
           "render_lines", "render_word", "shared_command", "words"]


class RenderError(ValueError):
    """A value that cannot become command-line words (a list for a single-valued parameter,
    a template that does not format)."""


class NeedsValue(RenderError):
    """A value known only later (`ir.Late`) stands where the command needs its text when it
    is compiled (a format spec, a flag, a place where nothing expands)."""


@dataclass(frozen=True)
class Var:
    """A variable expansion inside a word."""

    name: str


Segment = Union[str, Var]
Word = list[Segment]


@dataclass
class Refs:
    """Reference rendering: each value known when pipec compiles becomes a quoted expansion of
    a variable named for its parameter (`"$PIPEC_P_learning_rate"`), so the command reads the
    same for every execution and no value meets a shell or an engine's template language. `env`
    collects the text each variable must hold (what literal rendering would have put in the
    word). A value the command cannot read from a variable (a flag, a formatted value, a value
    holding a path that is rewritten, a quoted heredoc) stays literal, quoted, as before."""

    env: dict[str, str] = dataclass_field(default_factory=dict)
    names: dict[str, str] = dataclass_field(default_factory=dict)  # parameter -> its variable
    owners: dict[str, tuple[str, int | None]] = dataclass_field(default_factory=dict)  # variable -> (param, item)

    def var(self, param: str, index: int | None = None) -> str:
        """The variable of parameter `param` (of its index-th item, from 1, for a parameter
        repeated once per item): PIPEC_P_ and its name with every character a variable name
        cannot hold as `_`; a name another parameter (or item) holds gets _2, _3..."""
        if param not in self.names:
            self.names[param] = self._claim(REF_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", param), (param, None))
        if index is None:
            return self.names[param]
        return self._claim(f"{self.names[param]}_{index}", (param, index))

    def _claim(self, base: str, owner: tuple[str, int | None]) -> str:
        name, n = base, 1
        while self.owners.setdefault(name, owner) != owner:
            n += 1
            name = f"{base}_{n}"
        return name

    def late(self, param: str, text: str, index: int | None = None) -> ir.Late:
        """A Late standing for `text`, read from the parameter's variable (see `var`)."""
        var = self.var(param, index)
        self.env[var] = text
        return ir.Late(var)

RUN_ID = "PIPEC_RUN_ID"  # every runtime exports the run's id under this name
REF_PREFIX = "PIPEC_P_"  # a value the command reads by reference: PIPEC_P_<parameter>

_UNSAFE = re.compile(r"[^\w@%+=:,./-]", re.ASCII)  # what shlex.quote quotes
_FORMATTER = string.Formatter()
_FIELD_ROOT = re.compile(r"[^.\[]*")

# How a variable is written where it sits: (in a bare word, inside the word's own '...').
_FORMS: dict[str, tuple[str, str]] = {
    "plain": ('"${{{}}}"', "'\"${{{}}}\"'"),
    "word": ('"${{{}}}"', "'\"${{{}}}\"'"),
    "double": ("${{{}}}", "${{{}}}"),
    "heredoc": ("${{{}}}", "${{{}}}"),
    # Inside the author's '...', a word's own quotes close and reopen them.
    "single": ("'\"${{{}}}\"'", '"${{{}}}"'),
    "ansi": ("'\"${{{}}}\"$'", '"${{{}}}"'),
}


def _plain(value: Any) -> Any:
    """Tuples -> lists (recursively), so `str()` of a list value reads like YAML's lists."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def effective_values(params: Sequence[ir.Param], values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The value map a command is rendered with: defaults where they apply (a parameter
    taking several values sees a single default as a one-item list), then `values`, the
    values given to this execution. An explicit None in `values` unsets a default."""
    merged: dict[str, Any] = {}
    for param in params:
        spec = param.args
        if spec is not None and not spec.default_applies:
            continue
        default = param.value
        if spec is not None and spec.multiple:
            default = _listify(default)
        if default is None:
            continue
        merged[param.name] = _plain(default)
    if values:
        merged.update(values)
    return merged


# ------------------------------------------------------------------------------------------
# Parameter words


def words(param: ir.Param, value: Any, refs: Refs | None = None,
          keys: Sequence[tuple[str, str]] = ()) -> list[Word]:
    """The words of one parameter with the given value ([] when it is not expressed: no
    value, a false flag without false words, an empty list to join...). With `refs`, values
    known now are read from variables where they can be (see Refs); `keys`: the paths that
    are rewritten into variables (a value holding one stays literal, so that it is)."""
    spec = param.args
    if value is None or spec is None:
        return []
    late = isinstance(value, ir.Late)
    if spec.flag:
        if late:
            raise NeedsValue(f"parameter {param.name!r} is a flag: whether it is on decides its words")
        templates = spec.words if value else spec.false_words  # Python truthiness, as upstream
    else:
        templates = spec.words
    if not templates:
        return []
    value = value if late else _plain(value)
    if spec.multiple == "repeat":
        out: list[Word] = []
        for atom in _listify(value):
            if isinstance(atom, list):
                raise RenderError(f"parameter {param.name!r}: nested list value {atom!r} is not allowed "
                                  "for a repeat-style multiple parameter")
            out.extend(_format(param, templates, atom, refs, keys, len(out) // len(templates) + 1))
        return out
    if spec.multiple == "join":
        atoms = _listify(value)
        if not atoms:
            return []
        if any(isinstance(a, ir.Late) for a in atoms):
            if len(atoms) > 1:
                raise NeedsValue(f"parameter {param.name!r} joins a value given later with others")
            return _format(param, templates, atoms[0])
        return _format(param, templates, spec.separator.join(str(atom) for atom in atoms), refs, keys)
    if isinstance(value, list):
        raise RenderError(f"parameter {param.name!r}: list value {value!r} is not allowed for a "
                          "single-valued parameter (set `multiple: repeat` or `multiple: separate`)")
    return _format(param, templates, value, refs, keys)


def _format(param: ir.Param, templates: Sequence[str], value: Any, refs: Refs | None = None,
            keys: Sequence[tuple[str, str]] = (), index: int | None = None) -> list[Word]:
    if isinstance(value, ir.Late):
        return [_late_word(param, t, value) for t in templates]
    if refs is not None and _referable(value, keys):
        try:
            words = [_late_word(param, t, ir.Late(refs.var(param.name))) for t in templates]
        except NeedsValue:
            pass  # the template formats the value (a spec, a conversion): it stays literal
        else:
            if any(isinstance(s, Var) for w in words for s in w):
                late = refs.late(param.name, format(value, ""), index)
                return [[Var(late.var) if isinstance(s, Var) else s for s in w] for w in words]
    env = {"name": param.name, "value": value, "v": value}
    out: list[Word] = []
    for template in templates:
        try:
            out.append([template.format_map(env)])
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            raise RenderError(f"parameter {param.name!r}: cannot format {template!r} with value {value!r}: "
                              f"{_describe(exc)}") from exc
    return out


@functools.lru_cache(maxsize=4096)
def _parse(template: str) -> tuple[tuple[str, str | None, str | None, str | None], ...]:
    """A pass-as template's (literal, field, spec, conversion) parts: every execution of every
    job of a step formats the same few templates."""
    return tuple(_FORMATTER.parse(template))


def _late_word(param: ir.Param, template: str, value: ir.Late) -> Word:
    """A word whose value is read from a variable: only a plain {value} can stand for it."""
    word: Word = []
    try:
        parsed = _parse(template)
    except ValueError as exc:
        raise RenderError(f"parameter {param.name!r}: cannot format {template!r}: {exc}") from exc
    for literal, field, spec, conversion in parsed:
        if literal:
            word.append(literal)
        if field is None:
            continue
        root = _FIELD_ROOT.match(field).group()  # type: ignore[union-attr]
        if root == "name":
            try:
                word.append(("{" + field + ("!" + conversion if conversion else "") + (":" + spec if spec else "")
                             + "}").format_map({"name": param.name}))
            except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
                raise RenderError(f"parameter {param.name!r}: cannot format {template!r}: {_describe(exc)}") from exc
        elif field in ("value", "v") and conversion in (None, "s") and spec in ("", "s"):
            word.append(Var(value.var))
        else:
            raise NeedsValue(f"parameter {param.name!r}: {template!r} formats the value, which is only "
                             "known later")
    return word


def _referable(value: Any, keys: Sequence[tuple[str, str]]) -> bool:
    """Whether a value known now can be read from a variable: not when it holds a path the
    command must see rewritten (the text in the variable would keep the container path)."""
    text = str(_plain(value))
    return not any(path in text for path, _ in keys)


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"unknown placeholder {{{exc.args[0]}}}"
    return str(exc)


# ------------------------------------------------------------------------------------------
# Quoting


def _paths(text: str, keys: Sequence[tuple[str, str]]) -> Word:
    """`text` with the layout's container paths (wherever they start, ending at a path
    boundary) turned into variables."""
    if not any(path in text for path, _ in keys):
        return [text]
    out: Word = []
    i = start = 0
    while i < len(text):
        hit = next(((p, v) for p, v in keys if text.startswith(p, i) and _boundary(text, i + len(p))), None)
        if hit is None:
            i += 1
            continue
        if i > start:
            out.append(text[start:i])
        out.append(Var(hit[1]))
        i = start = i + len(hit[0])
    if start < len(text):
        out.append(text[start:])
    return out


def _boundary(text: str, end: int) -> bool:
    return end >= len(text) or not (text[end].isalnum() or text[end] in "_-.")


def quote_word(word: Word, quoting: ir.Quoting, keys: Sequence[tuple[str, str]] = ()) -> str:
    """One word as shell source where `quoting` says it sits (a value given later, or a
    layout path when `keys` are given, as a variable expansion)."""
    if quoting in ("quoted-heredoc", "comment"):
        if any(isinstance(s, Var) for s in word):
            raise NeedsValue("a value known only later stands where nothing expands (a quoted heredoc or a comment)")
        return shlex.quote("".join(word))  # type: ignore[arg-type]
    if keys:
        word = [piece for s in word for piece in (_paths(s, keys) if isinstance(s, str) else [s])]
    if not any(isinstance(s, Var) for s in word):
        return shlex.quote("".join(word))  # type: ignore[arg-type]
    bare_form, quoted_form = _FORMS[quoting]
    if not any(_UNSAFE.search(s) for s in word if isinstance(s, str)):
        return "".join(bare_form.format(s.name) if isinstance(s, Var) else s for s in word)
    inner = "".join(quoted_form.format(s.name) if isinstance(s, Var) else s.replace("'", "'\"'\"'") for s in word)
    return f"'{inner}'"


# ------------------------------------------------------------------------------------------
# Commands


def _keys(layout: ir.Layout, mounted: bool, moved: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """(path, variable) pairs whose path, wherever it starts in the text, is read from the
    variable: the layout's container paths when the engine does not mount them there, and
    files put elsewhere than where the workflow names them (`moved`). Longest first."""
    pairs = list(moved) + ([] if mounted else [(layout.path(a), layout.variable(a)) for a in ir.AREAS])
    return tuple(sorted(pairs, key=lambda kv: len(kv[0]), reverse=True))


def render_lines(command: ir.Command, params: Sequence[ir.Param], values: Mapping[str, Any] | None,
                 layout: ir.Layout, mounted: bool, hosts: Mapping[str, str] | None = None,
                 moved: Sequence[tuple[str, str]] = (), refs: Refs | None = None) -> list[str]:
    """The command's lines for one execution, blank ones dropped; a `#!` line at the start of
    the first becomes a line of its own. With `refs`, values are read from variables (Refs)."""
    keys = _keys(layout, mounted, moved)
    if command.kind is ir.CommandKind.ARGV:
        line = " ".join(quote_word(_part_word(line, params, values or {}, layout, mounted, hosts, refs, keys),
                                   "word", keys)
                        for line in command.lines)
        return [line] if line else []
    merged = effective_values(params, values)
    by_name: dict[str, ir.Param] = {}
    for param in params:  # a repeated name keeps its first position and its last definition
        by_name[param.name] = param
    out: list[str] = []
    for index, parts in enumerate(command.lines):
        text = "".join(_render_part(p, by_name, merged, layout, mounted, keys, hosts, refs) for p in parts).strip()
        if index == 0 and text.startswith("#!"):
            shebang, _, text = text.partition("\n")
            out.append(shebang)
        if text.strip():
            out.append(text)
    return out


def render(command: ir.Command, params: Sequence[ir.Param], values: Mapping[str, Any] | None,
           layout: ir.Layout, mounted: bool, hosts: Mapping[str, str] | None = None,
           moved: Sequence[tuple[str, str]] = (), refs: Refs | None = None) -> str:
    """The command of one execution as one script (values read from variables with `refs`)."""
    return join_lines(render_lines(command, params, values, layout, mounted, hosts, moved, refs))


def shared_command(command: ir.Command, params: Sequence[ir.Param], executions: Sequence[Mapping[str, Any]],
                   layout: ir.Layout, mounted: bool, hosts: Mapping[str, str] | None = None,
                   moved: Sequence[tuple[str, str]] = (), first: Sequence[str] = ()
                   ) -> tuple[str, list[dict[str, str]]] | None:
    """The one command every execution runs when rendered by reference (Refs), and the
    variables each execution gives it; None when their texts, or the variables they read,
    differ (a swept flag, lists of different lengths...): each then needs its own command.
    `first`: parameters whose variables are named first (a sweep's columns), so that every
    rendering names them alike. Rendering stops at the first execution that differs."""
    text: str | None = None
    envs: list[dict[str, str]] = []
    for values in executions:
        refs = Refs()
        for name in first:
            refs.var(name)
        own = render(command, params, values, layout, mounted, hosts, moved, refs)
        if text is None:
            text = own
        elif own != text or refs.env.keys() != envs[0].keys():
            return None
        envs.append(refs.env)
    return text or "", envs


def join_lines(lines: Sequence[str], joiner: str = "\n") -> str:
    """Join command lines into one script. Blank lines are dropped; if the first line starts
    with `#!`, its first physical line stays a line of its own ahead of the joined rest,
    since a shebang only works there."""
    shebang: str | None = None
    bits: list[str] = []
    for index, line in enumerate(lines):
        if index == 0 and line.startswith("#!"):
            shebang, _, line = line.partition("\n")
        if not line.strip():
            continue
        bits.append(line)
    joined = joiner.join(bits)
    if shebang:
        return f"{shebang}\n{joined}"
    return joined


def _render_part(part: ir.Part, params: Mapping[str, ir.Param], values: Mapping[str, Any], layout: ir.Layout,
                 mounted: bool, keys: Sequence[tuple[str, str]], hosts: Mapping[str, str] | None,
                 refs: Refs | None) -> str:
    if isinstance(part, ir.Text):
        return part.text
    if isinstance(part, ir.Path):
        if mounted or part.quoting in ("quoted-heredoc", "comment"):
            return layout.path(part.area)
        return _FORMS[part.quoting][0].format(layout.variable(part.area))
    if isinstance(part, ir.Args):
        chosen = params.values() if part.name is None else [params[part.name]] if part.name in params else []
        literal = part.quoting in ("quoted-heredoc", "comment")  # nothing expands there: values stay text
        found = [w for p in chosen for w in words(p, values.get(p.name), None if literal else refs, keys)]
        return " ".join(quote_word(w, part.quoting, keys) for w in found)
    if isinstance(part, ir.ParamValue):
        if part.name not in values:
            return part.unset or ""
        value = values[part.name]
        if refs is not None and part.quoting not in ("quoted-heredoc", "comment"):
            value = _ref(refs, part.name, value, keys)
        return quote_word(_value_word(value), part.quoting, keys)
    if isinstance(part, ir.Host):
        return quote_word([Var(_host(part.job, hosts))], part.quoting)
    if isinstance(part, ir.RunId):
        return quote_word([Var(RUN_ID)], part.quoting)
    raise TypeError(f"unknown command part {part!r}")


def render_word(word: ir.Word, layout: ir.Layout, mounted: bool, hosts: Mapping[str, str] | None = None,
                moved: Sequence[tuple[str, str]] = ()) -> str:
    """A value built of parts (an environment variable's, a file's contents, a URL) as one
    shell word, its paths, hosts and run id read from the runtime's variables."""
    return quote_word(_part_word(word, (), {}, layout, mounted, hosts), "word", _keys(layout, mounted, moved))


def _ref(refs: Refs, name: str, value: Any, keys: Sequence[tuple[str, str]]) -> Any:
    """A whole value as read by reference (a Late), or the value itself where it cannot be."""
    if isinstance(value, ir.Late) or not _referable(value, keys):
        return value
    return refs.late(name, str(_plain(value)))


def _value_word(value: Any) -> Word:
    return [Var(value.var)] if isinstance(value, ir.Late) else [str(_plain(value))]


def _host(job: str, hosts: Mapping[str, str] | None) -> str:
    if not hosts or job not in hosts:
        raise RenderError(f"'{job}' is not a peer in this job's group")
    return hosts[job]


def _part_word(parts: Sequence[ir.Part], params: Sequence[ir.Param], values: Mapping[str, Any], layout: ir.Layout,
               mounted: bool, hosts: Mapping[str, str] | None, refs: Refs | None = None,
               keys: Sequence[tuple[str, str]] = ()) -> Word:
    """An ARGV word: its parts are data, joined into one word."""
    merged = effective_values(params, values)
    word: Word = []
    for part in parts:
        if isinstance(part, ir.Text):
            word.append(part.text)
        elif isinstance(part, ir.Path):
            word.append(layout.path(part.area) if mounted else Var(layout.variable(part.area)))
        elif isinstance(part, ir.ParamValue):
            if part.name in merged:
                value = merged[part.name]
                word.extend(_value_word(value if refs is None else _ref(refs, part.name, value, keys)))
            elif part.unset:
                word.append(part.unset)
        elif isinstance(part, ir.Host):
            word.append(Var(_host(part.job, hosts)))
        elif isinstance(part, ir.RunId):
            word.append(Var(RUN_ID))
        else:  # a parameter's words are several words: they have no place inside one
            raise TypeError(f"command part {part!r} cannot be part of an argv word")
    return word
