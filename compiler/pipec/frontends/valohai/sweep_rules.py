"""Valohai variant-parameter rules (reference §3.1, §9) -> sweep axes.

Grid styles (`single`, `multiple`, `linear`, `logspace`) become an `Axis` via `axis_values`;
the `random` style becomes a `RandomAxis` via `random_axis`. Rule problems raise
`SweepRuleError`, whose `key` names the offending rules key so the caller can report at
`rules.<key>`. The sweeps themselves (products, rows, random samples) are built in
`pipec.ir.sweep`.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Mapping, Sequence

from pipec.ir.sweep import RandomAxis, SweepRuleError, Value, round_sig

MAX_AXIS_VALUES = 100_000  # per linear/logspace axis
GRID_STYLES = ("single", "multiple", "linear", "logspace")
LOG_UNIFORM_NAMES = ("loguniform", "log-uniform", "log_uniform")
_DISTRIBUTIONS = ("uniform",) + LOG_UNIFORM_NAMES
_SIGNIFICANT_DIGITS = 12


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _number(rules: Mapping[str, Any], key: str, style: str, *, default: float | None = None,
            aliases: tuple[str, ...] = ()) -> float:
    """A required (or defaulted) finite number from `rules`, trying `key` then `aliases`."""
    present = [k for k in (key, *aliases) if k in rules]
    if len(present) > 1:
        values = {k: rules[k] for k in present}
        if any(values[k] != values[present[0]] for k in present[1:]):
            raise SweepRuleError(
                f"{style} rules give both {' and '.join(repr(k) for k in present)}; use one",
                present[1],
            )
    if not present:
        if default is not None:
            return default
        names = " or ".join(repr(k) for k in (key, *aliases))
        raise SweepRuleError(f"{style} rules need {names}", key)
    found = present[0]
    value = rules[found]
    if not _is_number(value):
        raise SweepRuleError(f"{style} rules: {found!r} must be a number, not {value!r}", found)
    if not math.isfinite(value):
        raise SweepRuleError(f"{style} rules: {found!r} must be finite, not {value!r}", found)
    return value


def _flag(rules: Mapping[str, Any], key: str, style: str) -> bool:
    value = rules.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise SweepRuleError(f"{style} rules: {key!r} must be true or false, not {value!r}", key)
    return value


def _count(rules: Mapping[str, Any], style: str) -> int:
    if "count" not in rules:
        raise SweepRuleError(f"{style} rules need 'count'", "count")
    value = rules["count"]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise SweepRuleError(f"{style} rules: 'count' must be an integer, not {value!r}", "count")
    if value < 1:
        raise SweepRuleError(f"{style} rules: 'count' must be at least 1, not {value}", "count")
    if value > MAX_AXIS_VALUES:
        raise SweepRuleError(
            f"{style} rules: 'count' is {value}; at most {MAX_AXIS_VALUES:,} values per parameter",
            "count",
        )
    return value


def _check_rules(rules: object) -> Mapping[str, Any]:
    if not isinstance(rules, Mapping):
        raise SweepRuleError(f"rules must be a mapping, not {type(rules).__name__}", "")
    return rules


def _integerify_dedupe(values: Sequence[float]) -> tuple[int, ...]:
    """Round to ints and drop consecutive duplicates (0, 0.5, 1 -> 0, 1)."""
    return tuple(k for k, _ in itertools.groupby(int(round(v)) for v in values))


def axis_values(style: str, rules: Mapping[str, Any]) -> tuple[Value, ...]:
    """Values of one grid-style variant parameter: `single`, `multiple`, `linear`, `logspace`."""
    rules = _check_rules(rules)
    if style == "single":
        if "value" not in rules:
            raise SweepRuleError("single rules need 'value'", "value")
        return (rules["value"],)
    if style == "multiple":
        return _multiple(rules)
    if style == "linear":
        return _linear(rules)
    if style == "logspace":
        return _logspace(rules)
    if style == "random":
        raise SweepRuleError(
            "the random style is sampled, not a grid; use it in a random search", ""
        )
    raise SweepRuleError(
        f"unknown style {style!r}; expected one of {', '.join(GRID_STYLES)} or random", ""
    )


def _multiple(rules: Mapping[str, Any]) -> tuple[Value, ...]:
    if "items" not in rules:
        raise SweepRuleError("multiple rules need 'items'", "items")
    items = rules["items"]
    if isinstance(items, (str, bytes)) or isinstance(items, Mapping) or not isinstance(
        items, (list, tuple)
    ):
        raise SweepRuleError(f"multiple rules: 'items' must be a list, not {items!r}", "items")
    if not items:
        raise SweepRuleError("multiple rules: 'items' is empty; give at least one value", "items")
    return tuple(items)


def _linear(rules: Mapping[str, Any]) -> tuple[Value, ...]:
    start = _number(rules, "start", "linear")
    end = _number(rules, "end", "linear")
    step = _number(rules, "step", "linear")
    integerify = _flag(rules, "integerify", "linear")
    if step == 0:
        raise SweepRuleError("linear rules: 'step' must not be 0", "step")
    span = end - start
    if span != 0 and (span > 0) != (step > 0):
        direction = "positive" if span > 0 else "negative"
        raise SweepRuleError(
            f"linear rules: 'step' {step!r} never reaches 'end' {end!r} from 'start' {start!r};"
            f" it must be {direction}",
            "step",
        )
    all_ints = all(type(x) is int for x in (start, end, step))
    tolerance = 0.0  # in units of `step`
    if all_ints:
        n = span // step + 1
    else:
        q = span / step
        if not math.isfinite(q):
            raise SweepRuleError(f"linear rules: 'step' {step!r} is too small", "step")
        # relative slack, plus a few ulps of the operands when the step is tiny next to them
        ulps = 8 * math.ulp(max(abs(start), abs(end))) / abs(step)
        tolerance = 1e-9 * max(1.0, abs(q)) + ulps
        n = math.floor(q + tolerance) + 1
    if n > MAX_AXIS_VALUES:
        raise SweepRuleError(
            f"linear rules make {n:,} values; at most {MAX_AXIS_VALUES:,} per parameter", "step"
        )
    if all_ints:
        return tuple(start + i * step for i in range(n))
    raw = [start + i * step for i in range(n)]
    # The last value reached within tolerance is `end` itself.
    if n > 1 and abs(raw[-1] - end) <= tolerance * abs(step):
        raw[-1] = float(end)
    if integerify:
        return _integerify_dedupe(raw)
    # Round at 12 significant digits of the sweep's scale, not only of each value: otherwise a
    # value that should be 0 keeps its cancellation error (-21.7 + 217 * 0.1 == 3.6e-15).
    scale = max(abs(start), abs(end), abs(step))
    digits = _SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(scale))
    return tuple(round_sig(round(float(v), digits)) for v in raw)


def _logspace(rules: Mapping[str, Any]) -> tuple[Value, ...]:
    start = _number(rules, "start", "logspace", aliases=("min",))
    end = _number(rules, "end", "logspace", aliases=("max",))
    count = _count(rules, "logspace")
    base = _number(rules, "base", "logspace", default=10.0)
    integerify = _flag(rules, "integerify", "logspace")
    if base <= 0:
        raise SweepRuleError(f"logspace rules: 'base' must be positive, not {base!r}", "base")
    exponents = (
        [float(start)]
        if count == 1
        else [start + (end - start) * i / (count - 1) for i in range(count)]
    )
    try:
        raw = [float(base) ** float(x) for x in exponents]
    except OverflowError:
        raise SweepRuleError(
            f"logspace rules: {base!r} ** {max(exponents)!r} is too large", "end"
        ) from None
    if any(not math.isfinite(v) for v in raw):
        raise SweepRuleError(f"logspace rules: {base!r} ** {max(exponents)!r} is too large", "end")
    if integerify:
        return tuple(int(round(v)) for v in raw)
    return tuple(round_sig(v) for v in raw)


def random_axis(name: str, rules: Mapping[str, Any]) -> RandomAxis:
    """A `random`-style variant parameter: `min`, `max`, `distribution`, `base`, `integerify`.

    `count` and `seed` are task-level concerns and are read by the caller.
    """
    rules = _check_rules(rules)
    lo = _number(rules, "min", "random")
    hi = _number(rules, "max", "random")
    if lo > hi:
        raise SweepRuleError(f"random rules: 'min' {lo!r} is larger than 'max' {hi!r}", "max")
    raw = rules.get("distribution", "uniform")
    if raw is None:
        raw = "uniform"
    dist = raw.strip().lower() if isinstance(raw, str) else raw
    if dist == "uniform":
        distribution = "uniform"
    elif dist in LOG_UNIFORM_NAMES:
        distribution = "log-uniform"
    else:
        raise SweepRuleError(
            f"random rules: unknown 'distribution' {raw!r}; expected one of "
            f"{', '.join(_DISTRIBUTIONS)}",
            "distribution",
        )
    base = _number(rules, "base", "random", default=10.0)
    integerify = _flag(rules, "integerify", "random")
    if distribution == "log-uniform":
        if base <= 0 or base == 1:
            raise SweepRuleError(
                f"random rules: log-uniform 'base' must be positive and not 1, not {base!r}",
                "base",
            )
        if lo <= 0:
            raise SweepRuleError(
                f"random rules: log-uniform needs 'min' > 0, not {lo!r}", "min"
            )
    return RandomAxis(
        name=name,
        min=lo,
        max=hi,
        distribution=distribution,
        base=float(base),
        integerify=integerify,
    )


