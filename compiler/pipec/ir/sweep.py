"""Sweeps: a job's parameter space as data, and random access to its rows.

A `Sweep` is a product of value lists, explicit rows, seeded random samples, or a list known
only at run time. `sweep_row(sweep, i)` computes execution `i`'s parameters in O(number of
parameters) without materialising the grid, so a back end can fan out a huge sweep natively.
Random rows depend only on (seed, index, parameter name), hashed with SHA-256, so they are
identical on every machine, independent of PYTHONHASHSEED and of the other axes.

How a dialect spells its parameter space (its own rules for grids and samples) is read by
its front end; the builders here only check what every sweep must satisfy.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterator, Mapping, Sequence

from pipec.errors import Location

Value = Any  # JSON-like scalar or list of scalars

@dataclass(frozen=True)
class Axis:
    """One swept parameter and its values, for product grids."""

    name: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class RandomAxis:
    """One randomly sampled parameter (seeded; sampled lazily per execution)."""

    name: str
    min: float
    max: float
    distribution: str = "uniform"  # uniform | log-uniform
    base: float = 10.0
    integerify: bool = False
    choices: tuple[Value, ...] = ()  # when set, sample one of these instead of a number


class SweepKind(str, Enum):
    PRODUCT = "product"  # Cartesian product of `axes`
    ROWS = "rows"  # explicit rows (manual search, parameter sets)
    RANDOM = "random"  # `size` seeded samples of `random_axes` (plus fixed `axes` of length 1)
    RUNTIME = "runtime"  # one execution per item of a list known only at run time


@dataclass(frozen=True)
class RuntimeFanout:
    """Fan out over a list produced by an upstream job (metadata list, runnable `map`)."""

    source: str  # job id
    key: str  # metadata key / returned value name
    param: str  # parameter each execution receives the item in


@dataclass(frozen=True)
class Sweep:
    """The parameter space of a job that runs as several executions.

    Rows are computed on demand (`row(i)`), so a back end that fans out natively never
    materialises a large grid.
    """

    kind: SweepKind
    size: int  # number of executions (0 for RUNTIME: unknown until run time)
    axes: tuple[Axis, ...] = ()
    rows: tuple[tuple[tuple[str, Value], ...], ...] = ()
    random_axes: tuple[RandomAxis, ...] = ()
    seed: int = 0
    fanout: RuntimeFanout | None = None
    max_parallel: int | None = None
    origin: str = ""  # e.g. "grid_search", "random_search", "manual_search", "distributed", "--sweep"
    location: Location | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names that vary (or are set) per execution, in a stable order."""
        seen: dict[str, None] = {}
        for axis in self.axes:
            seen[axis.name] = None
        for axis in self.random_axes:
            seen[axis.name] = None
        for row in self.rows:
            for name, _ in row:
                seen[name] = None
        if self.fanout is not None:
            seen[self.fanout.param] = None
        return tuple(seen)

    def row(self, index: int) -> dict[str, Value]:
        """Parameter values of execution `index` (0-based)."""
        return sweep_row(self, index)

    def iter_rows(self) -> Iterator[dict[str, Value]]:
        for i in range(self.size):
            yield self.row(i)


DEFAULT_SEED = 1  # random search seed when the author gives none
MAX_SWEEP_SIZE = 10_000_000  # executions per sweep
_SIGNIFICANT_DIGITS = 12
_SEED_DOMAIN = "pipec-sweep-v1"  # bump only if the sampling scheme changes on purpose


class SweepRuleError(ValueError):
    """A sweep (or the rules a dialect describes it with) cannot be built.

    `key` is the rules key at fault (e.g. "count"), or "" when the rule as a whole is wrong.
    """

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.key = key

    def __str__(self) -> str:
        return self.message


def round_sig(x: float) -> float:
    """Round to 12 significant digits (0.30000000000000004 -> 0.3); -0.0 becomes 0.0."""
    if x == 0 or not math.isfinite(x):
        return x + 0.0
    return float(f"{x:.{_SIGNIFICANT_DIGITS}g}") + 0.0


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
    return min(max(round_sig(x), float(lo)), float(hi))


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
