"""Python regular expressions (what a workflow's file filters are written in) as POSIX
extended regular expressions, so the runtime filters files with `grep -E` in any image.

Only whether a path matches matters (`re.search`), so greedy and lazy repeats are the same,
and every construct of a regular language translates exactly. What `grep -E` cannot express
(lookarounds, back-references, word boundaries, conditionals) is refused with the reason.
"""

from __future__ import annotations

import re

try:  # Python 3.11+
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser as _p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

_SPECIAL = set(".[]()*+?{}|^$\\")
_CATEGORIES = {
    _c.CATEGORY_DIGIT: ("0-9", False), _c.CATEGORY_NOT_DIGIT: ("0-9", True),
    _c.CATEGORY_WORD: ("[:alnum:]_", False), _c.CATEGORY_NOT_WORD: ("[:alnum:]_", True),
    _c.CATEGORY_SPACE: ("[:space:]", False), _c.CATEGORY_NOT_SPACE: ("[:space:]", True),
}


class Unsupported(ValueError):
    """A construct `grep -E` has no equivalent for."""


def to_ere(pattern: str) -> tuple[str, bool]:
    """(the ERE, whether to match ignoring case). Raises re.error for a pattern that does not
    compile, Unsupported for one grep cannot match."""
    parsed = _p.parse(pattern)
    # (?m) and (?s) only differ at newlines, which file paths do not hold.
    return _seq(list(parsed)), bool(parsed.state.flags & re.IGNORECASE)


def _seq(items: list[tuple[object, object]]) -> str:
    return "".join(_item(op, av) for op, av in items)


def _literal(code: int) -> str:
    ch = chr(code)
    if ch == "\n":
        raise Unsupported("a newline cannot be part of a file path filter")
    return "\\" + ch if ch in _SPECIAL else ch


def _item(op: object, av: object) -> str:
    if op is _c.LITERAL:
        return _literal(av)  # type: ignore[arg-type]
    if op is _c.NOT_LITERAL:
        return _bracket([(_c.LITERAL, av)], negate=True)
    if op is _c.ANY:
        return "."
    if op is _c.IN:
        items = list(av)  # type: ignore[call-overload]
        negate = bool(items) and items[0][0] is _c.NEGATE
        items = items[1:] if negate else items
        if len(items) == 1 and items[0][0] is _c.CATEGORY and items[0][1] in _CATEGORIES:
            text, negated = _CATEGORIES[items[0][1]]  # \W alone is the class [^[:alnum:]_]
            return f"[{'^' if negate != negated else ''}{text}]"
        return _bracket(items, negate)
    if op is _c.CATEGORY:
        text, negate = _CATEGORIES.get(av, (None, False))  # type: ignore[call-overload]
        if text is None:
            raise Unsupported("word boundaries (\\b, \\B) have no equivalent in grep -E")
        return f"[{'^' if negate else ''}{text}]"
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
        low, high, sub = av  # type: ignore[misc]
        inner = _seq(list(sub))
        if not (len(sub) == 1 and sub[0][0] in (_c.LITERAL, _c.ANY, _c.IN, _c.CATEGORY, _c.NOT_LITERAL)):
            inner = f"({inner})"  # one atom repeats as it is; anything longer needs a group
        if (low, high) == (0, _c.MAXREPEAT):
            return inner + "*"
        if (low, high) == (1, _c.MAXREPEAT):
            return inner + "+"
        if (low, high) == (0, 1):
            return inner + "?"
        if high == _c.MAXREPEAT:
            return f"{inner}{{{low},}}"
        return f"{inner}{{{low},{high}}}" if low != high else f"{inner}{{{low}}}"
    if op is _c.SUBPATTERN:
        _group, add_flags, del_flags, sub = av  # type: ignore[misc]
        if add_flags or del_flags:
            raise Unsupported("flags inside a group, like (?i:...), have no equivalent in grep -E")
        return f"({_seq(list(sub))})"
    if op is _c.BRANCH:
        _, branches = av  # type: ignore[misc]
        return "(" + "|".join(_seq(list(b)) for b in branches) + ")"
    if op is _c.AT:
        if av in (_c.AT_BEGINNING, _c.AT_BEGINNING_STRING):
            return "^"
        if av in (_c.AT_END, _c.AT_END_STRING):
            return "$"
        raise Unsupported("word boundaries (\\b, \\B) have no equivalent in grep -E")
    if op in (_c.ASSERT, _c.ASSERT_NOT):
        raise Unsupported("lookahead and lookbehind, like (?=...) or (?!...), have no equivalent in grep -E")
    if op in (_c.GROUPREF, getattr(_c, "GROUPREF_EXISTS", None)):
        raise Unsupported("back-references, like \\1, have no equivalent in grep -E")
    if op is getattr(_c, "ATOMIC_GROUP", None):
        return f"({_seq(list(av))})"  # type: ignore[call-overload]
    raise Unsupported(f"the construct {op} has no equivalent in grep -E")


def _bracket(items: list[tuple[object, object]], negate: bool) -> str:
    """A bracket expression; `]` goes first and `-` last, where POSIX reads them literally."""
    parts: list[str] = []
    close = dash = caret = bracket = False
    for op, av in items:
        if op is _c.LITERAL:
            ch = chr(av)  # type: ignore[arg-type]
            if ch == "\n":
                raise Unsupported("a newline cannot be part of a file path filter")
            if ch == "]":
                close = True
            elif ch == "-":
                dash = True
            elif ch == "^":
                caret = True
            elif ch == "[":
                bracket = True  # placed after the rest, so it never starts `[:`, `[.` or `[=`
            else:
                parts.append(ch)
        elif op is _c.RANGE:
            low, high = av  # type: ignore[misc]
            if chr(low) in "]^-" or chr(high) in "]^-":
                raise Unsupported("a character range starting or ending with ']', '^' or '-' is ambiguous in grep -E")
            parts.append(f"{chr(low)}-{chr(high)}")
        elif op is _c.CATEGORY:
            text, negated = _CATEGORIES.get(av, (None, True))  # type: ignore[call-overload]
            if text is None or negated:
                raise Unsupported("a negated class like \\D or \\W inside [...] has no equivalent in grep -E")
            parts.append(text)
        else:
            raise Unsupported(f"the class item {op} has no equivalent in grep -E")
    body = ("]" if close else "") + "".join(parts) + ("[" if bracket else "") + ("^" if caret else "") + (
        "-" if dash else "")
    if body == "^" and not negate:
        return "\\^"  # `[^]` would read as a negation
    return f"[{'^' if negate else ''}{body}]"
