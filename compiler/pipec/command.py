"""Valohai command building: parameter values -> shell command lines.

This is a faithful port of valohai-yaml's command builder (reference: valohai.md §8;
`valohai_yaml/commands.py`, `objs/parameter.py::format_cli`, `objs/parameter_map.py`,
`objs/step.py::build_command`, `commands.py::join_command`). Users' scripts were written
against that builder, so every quirk that changes the bytes of a command is reproduced on
purpose: `${parameters}` becomes `$--a=1`, `{parameter-value:x}` of an explicit None is
`None`, the string "false" turns a flag on, pass-as templates are split on whitespace
*before* formatting, and so on.

Deliberate differences from upstream, all of them "fail loudly instead of emitting a broken
command":

* Anything that makes a pass-as template unformattable raises `CommandError`. Upstream
  crashes with a bare `KeyError` for an unknown placeholder (`{foo}`) and, for a bad format
  spec (`{v:zz}`, or `{v:.2e}` given a string), only warns and leaves the *whole line*
  uninterpolated, so the job would run `python train.py {parameters}` literally.
* Tuples are treated as lists (the IR is frozen and may hold tuples where YAML gave lists).
  Upstream formats a tuple given to a non-multiple parameter as `(1, 2)`; we reject it
  like a list.

Only the standard library is imported: back ends call this once per execution, and the
linter imports it for `check_pass_as`.
"""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Mapping, Sequence

from pipec.ir import Job, Param, Value

__all__ = [
    "CommandError",
    "check_pass_as",
    "effective_values",
    "join_command",
    "param_tokens",
    "render_line",
    "render_script",
]


class CommandError(ValueError):
    """A parameter value (or pass-as template) that cannot be turned into CLI tokens."""


# Upstream's `interpolable_re`: a line is only touched when this matches, and each match is
# replaced independently. Non-greedy and newline-blind (`.`), so `{a,b}` or `${HOME}` are
# seen as placeholders and then left verbatim, and `${parameters}` loses only its braces.
_INTERPOLABLE_RE = re.compile(r"{(.+?)}")

# The only names a pass-as / pass-true-as / pass-false-as template may use.
_TEMPLATE_FIELDS = frozenset({"name", "value", "v"})

# The root of a format field name: `v` in `v.real` or `v[0]`, "" for `{}`.
_FIELD_ROOT_RE = re.compile(r"[^.\[]*")


def _plain(value: Value) -> Value:
    """Tuples -> lists (recursively), so `str()` of a list value reads like YAML's lists."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _listify(value: Value) -> list[Value]:
    # valohai_yaml.utils.listify: None -> [], list/tuple -> list, scalar -> [scalar].
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _multiple_mode(param: Param) -> str | None:
    # MultipleMode.cast: falsy or "none" (any case) means single-valued.
    mode = str(param.cli.multiple or "").lower()
    if mode in ("", "none"):
        return None
    if mode not in ("repeat", "separate"):
        raise CommandError(f"parameter {param.name!r}: unknown multiple mode {param.cli.multiple!r}")
    return mode


def _pass_as_template(param: Param, value: Value) -> str | None:
    """Parameter._get_pass_as_template: which template (if any) renders this value."""
    cli = param.cli
    if param.type == "flag":
        # With either pass-true-as or pass-false-as set, pass-as is ignored entirely and a
        # missing side means "emit nothing". Python truthiness: the string "false" is true.
        if cli.pass_true_as or cli.pass_false_as:
            return (cli.pass_true_as if value else cli.pass_false_as) or None
        if not value:
            return None
    if value is None:
        return None
    # An empty pass-as falls back to the default, exactly like `pass_as or default`.
    default = "--{name}" if param.type == "flag" else "--{name}={value}"
    return str(cli.pass_as or default)


def _format_pieces(param: Param, pieces: list[str], value: Value) -> list[str]:
    # Each whitespace-separated piece of the template becomes one (later quoted) token, so
    # a value with spaces never splits into several arguments.
    env = {"name": param.name, "value": value, "v": value}
    out = []
    for piece in pieces:
        try:
            out.append(piece.format_map(env))
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            raise CommandError(
                f"parameter {param.name!r}: cannot format {piece!r} with value {value!r}: "
                f"{_describe_format_error(exc)}"
            ) from exc
    return out


def param_tokens(param: Param, value: Value) -> list[str]:
    """The unquoted command-line tokens for one parameter with the given value (§8).

    Returns [] when the parameter is not expressed (value None, a falsy flag, an empty
    `separate` list, ...). Raises `CommandError` for values of the wrong shape (a list for a
    single-valued parameter, a nested list for a `repeat` one) or an unformattable template.
    """
    # ParameterMap.build_parameter_by_name short-circuits None before the template choice,
    # so even a flag with pass-false-as emits nothing for an unset value.
    if value is None:
        return []
    template = _pass_as_template(param, value)
    if not template:
        return []
    # Split BEFORE formatting: `--tag {value}` with "a b" gives ["--tag", "a b"].
    pieces = template.split()
    mode = _multiple_mode(param)
    value = _plain(value)

    if mode == "repeat":
        tokens: list[str] = []
        for atom in _listify(value):
            if isinstance(atom, list):
                raise CommandError(
                    f"parameter {param.name!r}: nested list value {atom!r} is not allowed "
                    f"for a repeat-style multiple parameter"
                )
            tokens.extend(_format_pieces(param, pieces, atom))
        return tokens

    if mode == "separate":
        atoms = _listify(value)
        # Guard against a bare `--foo=` when there are no values. Atoms are str()-ed, so
        # a scalar is accepted and `{v:.2e}` on a separate parameter sees a string.
        if not atoms:
            return []
        separator = str(param.cli.separator or ",")
        return _format_pieces(param, pieces, separator.join(str(atom) for atom in atoms))

    if isinstance(value, list):
        raise CommandError(
            f"parameter {param.name!r}: list value {value!r} is not allowed for a "
            f"single-valued parameter (set `multiple: repeat` or `multiple: separate`)"
        )
    return _format_pieces(param, pieces, value)


def _quote_tokens(tokens: list[str]) -> str:
    # Each token is quoted on its own; the line around it is never quoted.
    return " ".join(shlex.quote(token) for token in tokens)


def render_line(
    line: str,
    params: Sequence[Param],
    values: Mapping[str, Value],
    source_path: str | None,
) -> str:
    """Interpolate one command line (§8 `build_command`, one line).

    `values` is the complete value map (see `effective_values`): a parameter absent from it,
    or mapped to None, is unset. Placeholders:

    * `{parameters}` / `{params}`: every parameter in definition order, unset ones omitted;
    * `{parameter:NAME}`: that parameter's tokens ("" if unset; verbatim if no such param);
    * `{parameter-value:NAME}`: `shlex.quote(str(value))`, no pass-as; verbatim if NAME is
      not a key of `values` (an explicit None renders as `None`, as upstream);
    * `{source-path}`: the quoted path, only when `source_path` is not None;
    * anything else is left as written.

    The result is stripped, whether or not anything was replaced.
    """
    if not _INTERPOLABLE_RE.search(line):
        return line.strip()

    # Upstream keys parameters by name in an ordered dict: a repeated name keeps its first
    # position and its last definition.
    by_name: dict[str, Param] = {}
    for param in params:
        by_name[param.name] = param
    special: dict[str, str] = {}
    if source_path is not None:
        special["source-path"] = source_path

    def tokens_of(param: Param) -> list[str]:
        return param_tokens(param, values.get(param.name))

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in special:
            return shlex.quote(special[key])
        if key in ("parameters", "params"):
            tokens: list[str] = []
            for param in by_name.values():
                tokens.extend(tokens_of(param))
            return _quote_tokens(tokens)
        if key.startswith("parameter:"):
            name = key.split(":", 1)[1]
            if name in by_name:
                return _quote_tokens(tokens_of(by_name[name]))
        if key.startswith("parameter-value:"):
            name = key.split(":", 1)[1]
            if name in values:
                return shlex.quote(str(_plain(values[name])))
        return match.group(0)

    # re.sub never rescans replaced text, so a value containing `{parameters}` stays literal.
    return _INTERPOLABLE_RE.sub(replace, line).strip()


def effective_values(
    params: Sequence[Param], values: Mapping[str, Value] | None = None
) -> dict[str, Value]:
    """The value map a job's command is rendered with.

    `Param.value` is the step's default; `values` are the values *explicitly given* for this
    execution (pipeline parameters, edges resolved at compile time, sweep rows, overrides).
    Defaults that are None do not count, and neither do flag defaults at all (§8 step 2:
    "undefined flag will remain undefined regardless of default value"), so a
    `type: flag, default: true` parameter is emitted only when `values` sets it.
    An explicit None in `values` unsets a default.
    """
    merged: dict[str, Value] = {}
    for param in params:
        if param.type == "flag":
            continue
        default = param.value
        # Upstream listifies the defaults of multiple parameters at parse time, which shows
        # in `{parameter-value:NAME}`: `[6]` for a scalar default, and `[]` (a value, so
        # not left verbatim) when there is no default at all. `{parameters}` is unaffected:
        # an empty list emits nothing either way.
        if _multiple_mode(param) is not None:
            default = _listify(default)
        if default is None:
            continue
        merged[param.name] = _plain(default)
    if values:
        merged.update(values)
    return merged


def render_script(job: Job, values: Mapping[str, Value] | None = None) -> list[str]:
    """Interpolate every line of `job.script`; drop blank results.

    `values` are the explicitly given parameter values, `job.params[i].value` the defaults
    (flag defaults ignored; see `effective_values`). A `#!` shebang at the start of the first
    line becomes its own first element, so `join_command(render_script(job), joiner)` equals
    upstream's `join_command(step.build_command(values), joiner)`. (One corner differs:
    if the first line renders blank and a later line starts with `#!`, upstream emits that
    line mid-script as a comment, while `join_command` here would take it as the shebang.)
    """
    merged = effective_values(job.params, values)
    lines: list[str] = []
    for index, raw in enumerate(job.script):
        line = render_line(raw, job.params, merged, job.source_path)
        if index == 0 and line.startswith("#!"):
            shebang, _, line = line.partition("\n")
            lines.append(shebang)
        if line.strip():
            lines.append(line)
    return lines


def join_command(lines: Sequence[str], joiner: str) -> str:
    """Join command lines into one script (upstream `join_command`, 0.45.0).

    Blank lines are dropped; if the first line starts with `#!`, its first physical line is
    kept as a line of its own ahead of the joined rest, since a shebang only works there
    (and `sh -c` would otherwise see `#!/bin/bash && ...` as one long comment).
    """
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


def _describe_format_error(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"unknown placeholder {{{exc.args[0]}}}"
    return str(exc)


def _sample_values(param: Param | None) -> tuple[Value, ...]:
    # What a template will actually be formatted with, so `{v:.2e}` is accepted for a float
    # but reported for a string parameter (whose values are strings).
    if param is None:
        return (1, 0.5, "x", True)
    if param.type == "flag":
        return (True,)
    if str(param.cli.multiple or "").lower() == "separate":
        return ("1,2",)
    return {"integer": (1,), "float": (0.5,)}.get(param.type, ("x",))


def check_pass_as(template: str, param: Param | None = None) -> str | None:
    """Why a pass-as / pass-true-as / pass-false-as template cannot be used, or None.

    For the linter: reports what `param_tokens` would raise on, without raising. Placeholders
    other than {name}, {value}, {v} (including positional `{}`), unbalanced braces and format
    specs that fail on a sample value (`{v:zz}`) are errors. With `param`, the sample matches
    what that parameter's values will be (type, `multiple: separate` -> string); without it,
    the template passes if any of an int, float, string or bool sample formats.
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

    name = param.name if param is not None else "name"
    first_error: str | None = None
    for sample in _sample_values(param):
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
