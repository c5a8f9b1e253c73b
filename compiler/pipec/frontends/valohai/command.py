"""Valohai commands -> IR commands: placeholders, pass-as rules and /valohai paths as parts.

Valohai renders a step's command with valohai-yaml's builder (reference: valohai.md §8;
`valohai_yaml/commands.py`, `objs/parameter.py::format_cli`, `objs/parameter_map.py`,
`objs/step.py::build_command`). Users' scripts were written against it, so every quirk that
changes the bytes of a command is kept: `${parameters}` becomes `$--a=1`,
`{parameter-value:x}` of an explicit None is `None`, the string "false" turns a flag on,
pass-as templates are split on whitespace *before* formatting, and so on. Here that builder
is split in two: this module reads the step (placeholders, pass-as rules) into command parts
and `ArgSpec`s; the dialect-neutral renderer (`pipec.backends.command`) applies them to each
execution's values.

Commands also name Valohai's directories (`/valohai/inputs/...`). Where an engine cannot
mount the execution there, the renderer points them at the runtime's directories; for that
the shell source is read here once, and each path and placeholder records the quoting it
sits in (plain words, "...", '...', $'...', heredoc bodies; comments and quoted heredoc
bodies expand nothing and are left as written).

Deliberate differences from upstream, all "fail loudly instead of emitting a broken
command": a pass-as template with an unknown placeholder (`{foo}`) or a bad format spec
(`{v:zz}`) is an error at check time (upstream crashes, or leaves the whole line
uninterpolated); tuples are treated as lists.
"""

from __future__ import annotations

import functools
import re
import shlex
import string
from typing import Any, Mapping, Sequence

from pipec import ir

# Upstream's `interpolable_re`: a line is only touched when this matches, and each match is
# replaced independently. Non-greedy and newline-blind (`.`), so `{a,b}` or `${HOME}` are
# seen as placeholders and then left verbatim, and `${parameters}` loses only its braces.
_INTERPOLABLE_RE = re.compile(r"{(.+?)}")

# The only names a pass-as / pass-true-as / pass-false-as template may use.
_TEMPLATE_FIELDS = frozenset({"name", "value", "v"})

# The root of a format field name: `v` in `v.real` or `v[0]`, "" for `{}`.
_FIELD_ROOT_RE = re.compile(r"[^.\[]*")

VALOHAI_LAYOUT = ir.Layout(
    inputs="/valohai/inputs",
    outputs="/valohai/outputs",
    config="/valohai/config",
    exports=(("VH_INPUTS_DIR", "inputs"), ("VH_OUTPUTS_DIR", "outputs"), ("VH_CONFIG_DIR", "config"),
             ("VH_JOB_ID", "id")),
)


# ------------------------------------------------------------------------------------------
# Parameters


def multiple_mode(value: Any) -> str:
    """`multiple:` as upstream's MultipleMode.cast reads it: "" (single), "repeat" or "separate"."""
    mode = str(value or "").lower()
    return "" if mode in ("", "none") else mode


def arg_spec(p: Mapping[str, Any]) -> ir.ArgSpec:
    """A step parameter's pass-as rules as words (Parameter._get_pass_as_template)."""
    ptype = p.get("type", "string")
    multiple = multiple_mode(p.get("multiple"))
    modes = {"": "", "repeat": "repeat", "separate": "join"}
    if multiple not in modes:  # the schema allows none, repeat and separate
        raise ValueError(f"parameter {p.get('name')!r}: unknown multiple mode {p.get('multiple')!r}")
    mode = modes[multiple]
    separator = str(p.get("multiple-separator", ",") or ",")
    if ptype == "flag":
        true_as, false_as = p.get("pass-true-as"), p.get("pass-false-as")
        # With either pass-true-as or pass-false-as set, pass-as is ignored entirely and a
        # missing side means "emit nothing". Flag defaults never reach the command (§8 step 2:
        # "undefined flag will remain undefined regardless of default value").
        if true_as or false_as:
            words, false_words = _split(true_as), _split(false_as)
        else:
            words, false_words = _split(p.get("pass-as") or "--{name}"), ()
        return ir.ArgSpec(words, false_words, flag=True, multiple=mode, separator=separator, default_applies=False)
    # An empty pass-as falls back to the default, exactly like `pass_as or default`.
    return ir.ArgSpec(_split(p.get("pass-as") or "--{name}={value}"), multiple=mode, separator=separator)


def ir_param(p: Mapping[str, Any], location: Any = None) -> ir.Param:
    """A step parameter (`name`, `type`, `default`, pass-as rules, `choices`) as an IR parameter."""
    value = p.get("default")
    if multiple_mode(p.get("multiple")) and value is not None and not isinstance(value, list):
        value = [value]
    return ir.Param(
        name=p["name"], type=p.get("type", "string"), value=value, args=arg_spec(p), location=location,
        choices=tuple(p.get("choices") or ()) if p.get("type") != "flag" else (),
    )


def _split(template: Any) -> tuple[str, ...]:
    # Split BEFORE formatting: `--tag {value}` with "a b" gives ["--tag", "a b"].
    return tuple(str(template).split()) if template else ()


def _describe_format_error(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"unknown placeholder {{{exc.args[0]}}}"
    return str(exc)


def _sample_values(ptype: str | None, multiple: str) -> tuple[Any, ...]:
    # What a template will actually be formatted with, so `{v:.2e}` is accepted for a float
    # but reported for a string parameter (whose values are strings).
    if ptype is None:
        return (1, 0.5, "x", True)
    if ptype == "flag":
        return (True,)
    if multiple == "separate":
        return ("1,2",)
    return {"integer": (1,), "float": (0.5,)}.get(ptype, ("x",))


def check_pass_as(template: str, param: Mapping[str, Any] | None = None) -> str | None:
    """Why a pass-as / pass-true-as / pass-false-as template cannot be used, or None.

    Placeholders other than {name}, {value}, {v} (including positional `{}`), unbalanced
    braces and format specs that fail on a sample value (`{v:zz}`) are errors. With `param`
    (the step parameter), the sample matches what that parameter's values will be (type,
    `multiple: separate` -> string); without it, the template passes if any of an int,
    float, string or bool sample formats.
    """
    formatter = string.Formatter()
    pieces = str(template).split()
    for piece in pieces:
        try:
            parsed = list(formatter.parse(piece))
        except ValueError as exc:
            return f"invalid template {template!r}: {exc}"
        for _, field, _, _ in parsed:
            if field is None:
                continue
            root = _FIELD_ROOT_RE.match(field).group()  # type: ignore[union-attr]
            if root not in _TEMPLATE_FIELDS:
                shown = f"{{{field}}}" if field else "{}"
                return (
                    f"unknown placeholder {shown} in {template!r}; "
                    "only {name}, {value} and {v} are available"
                )

    name = str(param.get("name", "name")) if param is not None else "name"
    ptype = param.get("type", "string") if param is not None else None
    multiple = multiple_mode(param.get("multiple")) if param is not None else ""
    first_error: str | None = None
    for sample in _sample_values(ptype, multiple):
        env = {"name": name, "value": sample, "v": sample}
        try:
            for piece in pieces:
                piece.format_map(env)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            if first_error is None:
                first_error = (
                    f"cannot format {template!r} with a {type(sample).__name__} value: "
                    f"{_describe_format_error(exc)}"
                )
            continue
        return None
    return first_error


# ------------------------------------------------------------------------------------------
# Commands


def command(lines: Sequence[str], param_names: Sequence[str], source_path: str | None,
            layout: ir.Layout = VALOHAI_LAYOUT) -> ir.Command:
    """A step's command lines as an IR command (§8 `build_command`); see _command."""
    return _command(tuple(str(line) for line in lines), tuple(param_names), source_path, layout)


# Every node of a step builds the same command: a pipeline of 10,000 nodes over a few steps
# reads each step's shell source once (ir.Command is immutable, so sharing it is safe).
@functools.lru_cache(maxsize=1024)
def _command(lines: tuple[str, ...], param_names: tuple[str, ...], source_path: str | None,
             layout: ir.Layout) -> ir.Command:
    """A step's command lines as an IR command (§8 `build_command`).

    Placeholders: `{parameters}` / `{params}` (every parameter), `{parameter:NAME}` (that
    parameter's words; verbatim if there is no such parameter), `{parameter-value:NAME}` (the
    quoted value; verbatim when it has none), `{source-path}` (the quoted path, when the step
    has one); anything else is left as written. The layout's container paths found in the
    source become `Path` parts.
    """
    names = set(param_names)
    texts: list[str] = []
    holes: list[list[tuple[int, int, ir.Part | None]]] = []
    for raw in lines:
        raw = str(raw)
        found: list[tuple[int, int, ir.Part | None]] = []
        for match in _INTERPOLABLE_RE.finditer(raw):
            found.append((match.start(), match.end(), _placeholder(match.group(1), names, source_path)))
        texts.append(raw)
        holes.append([h for h in found if h[2] is not None])
    # Quoting (heredocs, open quotes) carries from one line to the next: read them as one script.
    keys = {layout.path(area): area for area in ir.AREAS}
    offsets, script = [], ""
    for n, raw in enumerate(texts):
        offsets.append(len(script))
        script += raw + ("\n" if n < len(texts) - 1 else "")
    spans = {offsets[n] + start: offsets[n] + end for n, line in enumerate(holes) for start, end, _ in line}
    paths, quoting = _scan(script, keys, spans)
    parts_by_line: list[tuple[ir.Part, ...]] = []
    for n, raw in enumerate(texts):
        base = offsets[n]
        events: list[tuple[int, int, ir.Part]] = []
        for start, end, part in holes[n]:
            events.append((start, end, _with_quoting(part, quoting[base + start])))  # type: ignore[arg-type]
        for start, (end, area, state) in paths.items():
            if base <= start < base + len(raw):
                events.append((start - base, end - base, ir.Path(area, state)))
        events.sort(key=lambda e: e[0])
        parts: list[ir.Part] = []
        at = 0
        for start, end, part in events:
            if start > at:
                parts.append(ir.Text(raw[at:start]))
            parts.append(part)
            at = end
        if at < len(raw) or not parts:
            parts.append(ir.Text(raw[at:]))
        parts_by_line.append(tuple(parts))
    return ir.Command(ir.CommandKind.SHELL, tuple(parts_by_line))


def _placeholder(key: str, names: set[str], source_path: str | None) -> ir.Part | None:
    if key == "source-path":
        return ir.Text(shlex.quote(source_path)) if source_path is not None else None
    if key in ("parameters", "params"):
        return ir.Args(None)
    if key.startswith("parameter:"):
        name = key.split(":", 1)[1]
        return ir.Args(name) if name in names else None
    if key.startswith("parameter-value:"):
        name = key.split(":", 1)[1]
        # Upstream leaves the placeholder as written when the name has no value (any name:
        # a sweep may give a value to a parameter the step does not declare).
        return ir.ParamValue(name, unset="{" + key + "}")
    return None


def _with_quoting(part: ir.Part, quoting: ir.Quoting) -> ir.Part:
    if isinstance(part, ir.Text):
        return part
    return type(part)(**{**part.__dict__, "quoting": quoting})


# ------------------------------------------------------------------------------------------
# Reading shell source


def _scan(script: str, keys: dict[str, str], spans: dict[int, int]
          ) -> tuple[dict[int, tuple[int, str, ir.Quoting]], dict[int, ir.Quoting]]:
    """Find the layout paths in shell source and the quoting at each placeholder.

    Returns ({start: (end, area, quoting)} for each path, {start: quoting} for each span).
    Spans (placeholders) are opaque: they change no state. A path is found wherever its text
    starts (`--data=/valohai/inputs/x` too) and ends at a path boundary
    (`/valohai/inputs2` is not one); comments and quoted heredoc bodies are skipped."""
    found: dict[int, tuple[int, str, ir.Quoting]] = {}
    at: dict[int, ir.Quoting] = {}
    ordered = sorted(keys, key=len, reverse=True)
    interesting = re.compile("|".join(["[" + re.escape("\\'\"$`#<()\n") + "]", *map(re.escape, ordered)]))
    stack = ["plain"]  # plain | double | single | ansi | comment | heredoc | quoted-heredoc | backtick
    parens = [0]  # open ( inside each $( ... ) level
    heredocs: list[tuple[str, bool, bool]] = []  # pending: (delimiter, quoted, strip tabs)
    i, n = 0, len(script)
    prev = "\n"

    def quoting() -> ir.Quoting:
        state = stack[-1]
        return "plain" if state == "backtick" else state  # type: ignore[return-value]

    def path_at(j: int) -> str | None:
        return next((k for k in ordered if script.startswith(k, j) and _boundary(script, j + len(k))), None)

    while i < n:
        state = stack[-1]
        if i in spans:
            at[i] = quoting()
            i = spans[i]
            prev = "x"
            continue
        ch = script[i]
        if state in ("heredoc", "quoted-heredoc"):
            line_end = script.find("\n", i)
            line_end = n if line_end < 0 else line_end
            line = script[i:line_end]
            delimiter, _, strip = heredocs[0]
            if (line.lstrip("\t") if strip else line) == delimiter:
                heredocs.pop(0)
                stack.pop()
                i = line_end
                if heredocs:
                    stack.append("quoted-heredoc" if heredocs[0][1] else "heredoc")
                    i += 1
                continue
            j = i
            while j < line_end:
                if j in spans:
                    at[j] = state  # type: ignore[assignment]
                    j = spans[j]
                    continue
                hit = path_at(j) if state == "heredoc" else None
                if hit is not None:
                    found[j] = (j + len(hit), keys[hit], "heredoc")
                    j += len(hit)
                else:
                    j += 1
            i = line_end + 1
            continue
        if state == "comment":
            if ch == "\n":
                stack.pop()
                continue
            i += 1
            continue
        if state in ("plain", "double", "single", "ansi", "backtick"):
            hit = path_at(i)
            if hit is not None:
                found[i] = (i + len(hit), keys[hit], quoting())
                i += len(hit)
                prev = "x"
                continue
        if state == "single":
            if ch == "'":
                stack.pop()
            i += 1
            continue
        if state == "ansi":
            if ch == "\\" and i + 1 < n:
                i += 2
                continue
            if ch == "'":
                stack.pop()
            i += 1
            continue
        # plain (top level, $( ), backticks) and double-quoted text: skip to the next
        # character that can change state, start a path or start a placeholder.
        m = interesting.search(script, i)
        j = m.start() if m else n
        nxt = min((s for s in spans if i <= s < j), default=None)
        if nxt is not None:
            j = nxt
        if j > i:
            prev = script[j - 1]
            i = j
            continue
        if ch == "\\" and i + 1 < n:
            i += 2
            prev = "x"
            continue
        if script.startswith("$(", i) and not script.startswith("$((", i):
            stack.append("plain")
            parens.append(0)
            i += 2
            prev = "("
            continue
        if state == "double":
            if ch == '"':
                stack.pop()
            elif ch == "`":
                stack.append("backtick")
            i += 1
            continue
        # plain or backtick
        if ch == "`" and state == "backtick":
            stack.pop()
        elif ch == "`":
            stack.append("backtick")
        elif ch == "'" and prev == "$":
            stack.append("ansi")
        elif ch == "'":
            stack.append("single")
        elif ch == '"':
            stack.append("double")
        elif ch == "#" and (prev.isspace() or prev in ";&|()<>"):
            stack.append("comment")
            continue
        elif ch == "(" and len(parens) > 1:
            parens[-1] += 1
        elif ch == ")" and len(parens) > 1:
            if parens[-1] == 0:
                parens.pop()
                stack.pop()
            else:
                parens[-1] -= 1
        elif script.startswith("<<", i) and not script.startswith("<<<", i):
            j = i + 2
            strip = j < n and script[j] == "-"
            j += 1 if strip else 0
            while j < n and script[j] in " \t":
                j += 1
            k = j
            while k < n and not script[k].isspace() and script[k] not in ";&|()<>":
                k += 1
            word = script[j:k]
            if word:
                quoted = any(c in word for c in "'\"\\")
                heredocs.append((word.replace("'", "").replace('"', "").replace("\\", ""), quoted, strip))
                i = k
                prev = "x"
                continue
        elif ch == "\n" and heredocs and state == "plain" and len(stack) == 1:
            i += 1
            stack.append("quoted-heredoc" if heredocs[0][1] else "heredoc")
            prev = "\n"
            continue
        prev = ch
        i += 1
    return found, at


def _boundary(text: str, end: int) -> bool:
    # A path must end where a path component ends (/valohai/inputs, not /valohai/inputs2).
    return end >= len(text) or not (text[end].isalnum() or text[end] in "_-.")
