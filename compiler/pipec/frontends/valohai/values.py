"""Valohai value syntaxes: durations and stop-condition expressions.

Both are checked here so that inputs which crash valohai-yaml (`"1H"`, `"300"`) or which the
platform would reject later (`stop me if you can`) become located messages instead.
"""

from __future__ import annotations

import ast
import re

_DURATION_PART = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*,?")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ValueSyntaxError(ValueError):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


def parse_duration(value: int | float | str) -> int | None:
    """Seconds for an integer or a string like `1h 30m`, `48h`, `1.5d`, `10 min`.

    Returns None for a blank string (valohai-yaml treats it as unset).
    """
    if isinstance(value, bool):
        raise ValueSyntaxError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):  # JSON Schema counts 30.0 as an integer
        if value <= 0:
            raise ValueSyntaxError(f"a duration must be positive, got {value}")
        return int(round(value))
    text = value.strip()
    if not text:
        return None
    total = 0.0
    pos = 0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if not m or m.end() == pos:
            raise ValueSyntaxError(
                f"cannot read {value!r} as a duration",
                "write an integer number of seconds or a value like '1h 30m', '45m', '1.5d'",
            )
        number, unit = m.group(1), m.group(2)
        if not unit:
            raise ValueSyntaxError(
                f"duration {value!r} has a number without a unit",
                "add a unit (s, m, h, d, w), or write the seconds as a plain integer without quotes",
            )
        if unit[0] not in _UNITS or unit != unit.lower():
            raise ValueSyntaxError(
                f"unknown duration unit {unit!r} in {value!r}",
                "units are lowercase: s, m (or min), h, d, w",
            )
        total += float(number) * _UNITS[unit[0]]
        pos = m.end()
    if total <= 0:
        raise ValueSyntaxError(f"a duration must be positive, got {value!r}")
    return int(round(total))


_MAX_DEPTH = 8
_MAX_LENGTH = 2000
_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.FloorDiv,
    ast.Pow, ast.Name, ast.Attribute, ast.Constant, ast.Load, ast.Call, ast.Tuple, ast.List,
)


def check_expression(text: str) -> None:
    """Raise ValueSyntaxError unless `text` is a condition Valohai can evaluate
    (the subset leval accepts: names like `metadata.loss`, constants, arithmetic, simple
    comparisons, and/or/not, function calls; no subscripts, no chained comparisons)."""
    if len(text) > _MAX_LENGTH:
        raise ValueSyntaxError(f"expression is longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (RecursionError, MemoryError):
        raise ValueSyntaxError(f"expression nests deeper than {_MAX_DEPTH} levels") from None
    except SyntaxError as exc:
        detail = "" if exc.msg == "invalid syntax" else f": {exc.msg}"
        raise ValueSyntaxError(f"invalid syntax{detail}") from None
    except ValueError as exc:  # e.g. null bytes
        raise ValueSyntaxError(str(exc)) from None

    def walk(node: ast.AST, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise ValueSyntaxError(f"expression nests deeper than {_MAX_DEPTH} levels")
        if not isinstance(node, _ALLOWED):
            raise ValueSyntaxError(f"{type(node).__name__} is not allowed in a condition")
        if isinstance(node, ast.Compare) and len(node.ops) > 1:
            raise ValueSyntaxError(
                "only simple comparisons are supported", "write 'a < x and x < b' instead of 'a < x < b'"
            )
        for child in ast.iter_child_nodes(node):
            walk(child, depth + (0 if isinstance(child, (ast.Load,)) else 1))

    walk(tree, 0)
