"""Parameter sweep expansion: Valohai variant-parameter rules -> `Sweep`, and random access to rows.

Valohai task blueprints (reference §3.1, §9) give each swept parameter a `style` and `rules`:

* grid styles (`single`, `multiple`, `linear`, `logspace`) become an `Axis` via `axis_values`;
  a grid search is the Cartesian product of its axes (`product_sweep`);
* the `random` style becomes a `RandomAxis` via `random_axis`; a random search draws
  `count` seeded samples (`random_sweep`);
* manual-search `parameter-sets` stay explicit rows (`rows_sweep`).

`sweep_row(sweep, i)` computes execution `i`'s parameters in O(number of parameters) without
materialising the grid, so a back end can fan out a huge sweep natively. Random rows depend
only on (seed, index, parameter name), hashed with SHA-256, so they are identical on every
machine, independent of PYTHONHASHSEED and of the other axes.

Everything here is pure and stdlib-only. Rule problems raise `SweepRuleError`, whose `key`
names the offending rules key so the caller can report at `rules.<key>`.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from typing import Any, Mapping, Sequence

from pipec.errors import Location
from pipec.ir import Axis, RandomAxis, Sweep, SweepKind, Value

__all__ = [
    "DEFAULT_SEED",
    "GRID_STYLES",
    "LOG_UNIFORM_NAMES",
    "MAX_AXIS_VALUES",
    "MAX_SWEEP_SIZE",
    "SweepRuleError",
    "axis_values",
    "preview_rows",
    "product_sweep",
    "random_axis",
    "random_sweep",
    "rows_sweep",
    "sweep_row",
]

DEFAULT_SEED = 1  # random search seed when the blueprint gives no `rules.seed`
MAX_AXIS_VALUES = 100_000  # per linear/logspace axis
MAX_SWEEP_SIZE = 10_000_000  # executions per sweep
GRID_STYLES = ("single", "multiple", "linear", "logspace")
LOG_UNIFORM_NAMES = ("loguniform", "log-uniform", "log_uniform")
_DISTRIBUTIONS = ("uniform",) + LOG_UNIFORM_NAMES
_SIGNIFICANT_DIGITS = 12
_SEED_DOMAIN = "pipec-sweep-v1"  # bump only if the sampling scheme changes on purpose


class SweepRuleError(ValueError):
    """A variant parameter's rules cannot be expanded.

    `key` is the rules key at fault (e.g. "count"), or "" when the rule as a whole is wrong.
    """

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.key = key

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------------------------
# Small helpers


def _round_sig(x: float) -> float:
    """Round to 12 significant digits (0.30000000000000004 -> 0.3); -0.0 becomes 0.0."""
    if x == 0 or not math.isfinite(x):
        return x + 0.0
    return float(f"{x:.{_SIGNIFICANT_DIGITS}g}") + 0.0


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


# --------------------------------------------------------------------------------------------
# Grid styles


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
    return tuple(_round_sig(round(float(v), digits)) for v in raw)


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
    return tuple(_round_sig(v) for v in raw)


# --------------------------------------------------------------------------------------------
# Random style


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


def _seeded_unit(seed: int, index: int, name: str) -> float:
    """A uniform float in [0, 1) determined only by (seed, index, name)."""
    material = f"{_SEED_DOMAIN}:{seed}:{index}:{name}"
    digest = hashlib.sha256(material.encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest, "big")).random()


def _sample(axis: RandomAxis, seed: int, index: int) -> Value:
    u = _seeded_unit(seed, index, axis.name)
    if axis.choices:
        # A grid style inside a random search: pick one of its values.
        return axis.choices[min(int(u * len(axis.choices)), len(axis.choices) - 1)]
    lo, hi = axis.min, axis.max
    if axis.distribution == "log-uniform":
        a, b = math.log(lo, axis.base), math.log(hi, axis.base)
        x = axis.base ** (a + u * (b - a))
    else:
        x = lo * (1.0 - u) + hi * u  # never overflows, unlike lo + u * (hi - lo)
    if axis.integerify:
        k = int(round(x))
        ilo, ihi = math.ceil(lo), math.floor(hi)
        if ilo <= ihi:  # keep the rounded value inside [min, max] when an int fits there
            k = min(max(k, ilo), ihi)
        return k
    return min(max(_round_sig(x), float(lo)), float(hi))


# --------------------------------------------------------------------------------------------
# Rows


def _check_index(sweep: Sweep, index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"sweep row index must be an int, not {type(index).__name__}")
    if not 0 <= index < sweep.size:
        raise IndexError(f"sweep row {index} out of range (size {sweep.size})")
    return index


def sweep_row(sweep: Sweep, index: int) -> dict[str, Value]:
    """Parameter values of execution `index`, computed without materialising the sweep."""
    if sweep.kind is SweepKind.RUNTIME:
        raise ValueError("a runtime fan-out's rows are only known at run time")
    index = _check_index(sweep, index)
    if sweep.kind is SweepKind.ROWS:
        return dict(sweep.rows[index])
    if sweep.kind is SweepKind.PRODUCT:
        picked: list[Value] = [None] * len(sweep.axes)
        rest = index
        for pos in range(len(sweep.axes) - 1, -1, -1):  # last axis varies fastest
            values = sweep.axes[pos].values
            rest, digit = divmod(rest, len(values))
            picked[pos] = values[digit]
        return {axis.name: value for axis, value in zip(sweep.axes, picked)}
    if sweep.kind is SweepKind.RANDOM:
        row: dict[str, Value] = {}
        for axis in sweep.axes:
            row[axis.name] = axis.values[0]
        for raxis in sweep.random_axes:
            row[raxis.name] = _sample(raxis, sweep.seed, index)
        return row
    raise ValueError(f"unknown sweep kind {sweep.kind!r}")


def preview_rows(sweep: Sweep, limit: int) -> list[dict[str, Value]]:
    """The first `limit` rows (fewer if the sweep is smaller; none for a runtime fan-out)."""
    if limit < 0:
        raise ValueError(f"preview limit must not be negative, not {limit}")
    if sweep.kind is SweepKind.RUNTIME:
        return []
    return [sweep_row(sweep, i) for i in range(min(limit, sweep.size))]


# --------------------------------------------------------------------------------------------
# Builders


def _check_max_parallel(max_parallel: int | None) -> None:
    if max_parallel is None:
        return
    if isinstance(max_parallel, bool) or not isinstance(max_parallel, int) or max_parallel < 1:
        raise SweepRuleError(
            f"max parallel executions must be a positive integer, not {max_parallel!r}", ""
        )


def _check_unique(names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SweepRuleError(f"parameter {name} is swept twice", "")
        seen.add(name)


def _check_size(size: int, what: str) -> None:
    if size > MAX_SWEEP_SIZE:
        raise SweepRuleError(
            f"{what} makes {size:,} executions; at most {MAX_SWEEP_SIZE:,} are allowed", ""
        )


def product_sweep(
    axes: Sequence[Axis],
    *,
    max_parallel: int | None = None,
    origin: str = "grid_search",
    location: Location | None = None,
) -> Sweep:
    """A grid: the Cartesian product of `axes`, last axis varying fastest."""
    axes = tuple(axes)
    _check_unique([a.name for a in axes])
    size = 1
    for axis in axes:
        if not axis.values:
            raise SweepRuleError(f"parameter {axis.name} has no values", "")
        size *= len(axis.values)
        _check_size(size, "the grid")
    _check_max_parallel(max_parallel)
    return Sweep(
        kind=SweepKind.PRODUCT,
        size=size,
        axes=axes,
        max_parallel=max_parallel,
        origin=origin,
        location=location,
    )


def rows_sweep(
    rows: Sequence[Mapping[str, Value]],
    *,
    max_parallel: int | None = None,
    origin: str = "manual_search",
    location: Location | None = None,
) -> Sweep:
    """Explicit rows (manual search parameter sets); each row keeps its own keys and order."""
    if isinstance(rows, Mapping) or not isinstance(rows, Sequence):
        raise SweepRuleError("parameter sets must be a list of mappings", "")
    if not rows:
        raise SweepRuleError("parameter sets are empty; give at least one set", "")
    frozen: list[tuple[tuple[str, Value], ...]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise SweepRuleError(f"parameter set {i + 1} must be a mapping, not {row!r}", "")
        for key in row:
            if not isinstance(key, str):
                raise SweepRuleError(
                    f"parameter set {i + 1}: parameter names must be strings, not {key!r}", ""
                )
        frozen.append(tuple(row.items()))
    _check_size(len(frozen), "the parameter sets")
    _check_max_parallel(max_parallel)
    return Sweep(
        kind=SweepKind.ROWS,
        size=len(frozen),
        rows=tuple(frozen),
        max_parallel=max_parallel,
        origin=origin,
        location=location,
    )


def random_sweep(
    fixed: Sequence[Axis],
    random_axes: Sequence[RandomAxis],
    count: int,
    seed: int = DEFAULT_SEED,
    *,
    max_parallel: int | None = None,
    origin: str = "random_search",
    location: Location | None = None,
) -> Sweep:
    """`count` seeded samples of `random_axes`, plus `fixed` axes of exactly one value each."""
    fixed = tuple(fixed)
    random_axes = tuple(random_axes)
    if isinstance(count, bool) or not isinstance(count, int):
        raise SweepRuleError(f"execution count must be an integer, not {count!r}", "count")
    if count < 1:
        raise SweepRuleError(f"execution count must be at least 1, not {count}", "count")
    _check_size(count, "the execution count")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SweepRuleError(f"seed must be an integer, not {seed!r}", "seed")
    for axis in fixed:
        if len(axis.values) != 1:
            raise SweepRuleError(
                f"parameter {axis.name} has {len(axis.values)} values; a random search can only"
                " fix a parameter to one value (use style random or single)",
                "",
            )
    _check_unique([a.name for a in fixed] + [a.name for a in random_axes])
    _check_max_parallel(max_parallel)
    return Sweep(
        kind=SweepKind.RANDOM,
        size=count,
        axes=fixed,
        random_axes=random_axes,
        seed=seed,
        max_parallel=max_parallel,
        origin=origin,
        location=location,
    )
