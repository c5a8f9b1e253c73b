"""Parameter sweeps: the row arithmetic beside the IR (pipec.ir.sweep) and Valohai's variant-parameter
rules (pipec.frontends.valohai.sweep_rules)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipec.frontends.valohai.sweep_rules import axis_values, random_axis
from pipec.ir import Axis, RandomAxis, RuntimeFanout, Sweep, SweepKind
from pipec.ir.sweep import (
    DEFAULT_SEED,
    SweepRuleError,
    preview_rows,
    product_sweep,
    random_sweep,
    rows_sweep,
    sweep_row,
)
from tests.paths import COMPILER_DIR


def rule_error(style: str, rules: dict) -> SweepRuleError:
    with pytest.raises(SweepRuleError) as info:
        axis_values(style, rules)
    return info.value


# --------------------------------------------------------------------------------------------
# The Valohai docs example


def test_docs_grid_example_25_executions() -> None:
    epochs = Axis("epochs", axis_values("multiple", {"items": [5, 10, 15, 20, 25]}))
    lr_rules = {"start": -5, "end": -1, "count": 5, "base": 10}
    lr = Axis("learning_rate", axis_values("logspace", lr_rules))
    assert lr.values == (1e-05, 0.0001, 0.001, 0.01, 0.1)
    sweep = product_sweep([epochs, lr], max_parallel=3, origin="grid_search", location=None)
    assert sweep.kind is SweepKind.PRODUCT
    assert sweep.size == 25
    assert sweep.max_parallel == 3
    assert sweep.row(0) == {"epochs": 5, "learning_rate": 1e-05}
    assert sweep.row(1) == {"epochs": 5, "learning_rate": 0.0001}
    assert sweep.row(24) == {"epochs": 25, "learning_rate": 0.1}
    assert sweep.names == ("epochs", "learning_rate")
    assert len(list(sweep.iter_rows())) == 25


def test_docs_min_max_aliases_for_logspace() -> None:
    assert axis_values("logspace", {"min": -5, "max": -1, "count": 5}) == (
        1e-05,
        0.0001,
        0.001,
        0.01,
        0.1,
    )


# --------------------------------------------------------------------------------------------
# Grid styles


def test_single() -> None:
    assert axis_values("single", {"value": 25}) == (25,)
    assert axis_values("single", {"value": [1, 2]}) == ([1, 2],)
    assert axis_values("single", {"value": None}) == (None,)
    assert rule_error("single", {}).key == "value"


def test_multiple() -> None:
    assert axis_values("multiple", {"items": [1, "a", True, 0.5]}) == (1, "a", True, 0.5)
    assert rule_error("multiple", {"items": []}).key == "items"
    assert rule_error("multiple", {}).key == "items"
    assert rule_error("multiple", {"items": "abc"}).key == "items"


def test_linear_ints() -> None:
    values = axis_values("linear", {"start": 1, "end": 10, "step": 3})
    assert values == (1, 4, 7, 10)
    assert all(type(v) is int for v in values)
    assert axis_values("linear", {"start": 1, "end": 9, "step": 3}) == (1, 4, 7)
    assert axis_values("linear", {"start": 5, "end": 5, "step": 2}) == (5,)


def test_linear_negative_step() -> None:
    assert axis_values("linear", {"start": 10, "end": 0, "step": -3}) == (10, 7, 4, 1)
    values = axis_values("linear", {"start": 1, "end": 0, "step": -0.25})
    assert values == (1.0, 0.75, 0.5, 0.25, 0.0)


def test_linear_float_step_is_clean() -> None:
    values = axis_values("linear", {"start": 0, "end": 1, "step": 0.1})
    assert values == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    assert all(type(v) is float for v in values)
    assert axis_values("linear", {"start": 0, "end": 0.3, "step": 0.1}) == (0.0, 0.1, 0.2, 0.3)
    # end not reached exactly: stop below it
    assert axis_values("linear", {"start": 0, "end": 1, "step": 0.3}) == (0.0, 0.3, 0.6, 0.9)


def test_linear_integerify_dedupes() -> None:
    values = axis_values("linear", {"start": 0, "end": 3, "step": 0.5, "integerify": True})
    assert values == (0, 1, 2, 3)
    assert all(type(v) is int for v in values)
    rules = {"start": 0.2, "end": 2.2, "step": 1.0, "integerify": True}
    assert axis_values("linear", rules) == (0, 1, 2)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=-1000, max_value=1000),
    st.integers(min_value=-1000, max_value=1000),
    st.integers(min_value=1, max_value=50),
)
def test_linear_decimal_steps(start_tenths: int, end_tenths: int, step_tenths: int) -> None:
    start, end = start_tenths / 10, end_tenths / 10
    step = step_tenths / 10 if end >= start else -step_tenths / 10
    values = axis_values("linear", {"start": start, "end": end, "step": step})
    assert values[0] == start
    assert len(values) == abs(end_tenths - start_tenths) // step_tenths + 1
    for v in values:
        assert min(start, end) <= v <= max(start, end)
        assert round(v * 10) / 10 == v  # clean decimals, no float drift
    if (end_tenths - start_tenths) % step_tenths == 0:
        assert values[-1] == end


@pytest.mark.parametrize(
    ("rules", "key"),
    [
        ({"end": 1, "step": 1}, "start"),
        ({"start": 0, "step": 1}, "end"),
        ({"start": 0, "end": 1}, "step"),
        ({"start": 0, "end": 1, "step": 0}, "step"),
        ({"start": 0, "end": 1, "step": -0.1}, "step"),
        ({"start": 1, "end": 0, "step": 0.1}, "step"),
        ({"start": 0, "end": 1_000_000, "step": 1}, "step"),
        ({"start": "a", "end": 1, "step": 1}, "start"),
        ({"start": 0, "end": 1, "step": True}, "step"),
        ({"start": 0, "end": 1, "step": 1, "integerify": "yes"}, "integerify"),
    ],
)
def test_linear_errors(rules: dict, key: str) -> None:
    assert rule_error("linear", rules).key == key


def test_linear_missing_key_message() -> None:
    err = rule_error("linear", {"start": 0, "end": 1})
    assert err.message == "linear rules need 'step'"
    assert str(err) == err.message
    assert isinstance(err, ValueError)


def test_logspace_values() -> None:
    rules = {"start": 0, "end": 3, "count": 4, "base": 2}
    assert axis_values("logspace", rules) == (1.0, 2.0, 4.0, 8.0)
    assert axis_values("logspace", {"start": -3, "end": -1, "count": 1}) == (0.001,)
    # valohai-yaml's example: start == end, count 4
    rules = {"start": 25, "end": 25, "count": 4, "base": 10, "integerify": False}
    assert axis_values("logspace", rules) == (1e25,) * 4
    values = axis_values("logspace", {"start": 0, "end": 2, "count": 5, "integerify": True})
    assert values == (1, 3, 10, 32, 100)
    assert all(type(v) is int for v in values)
    # rounded to 12 significant digits
    for v in axis_values("logspace", {"start": 0, "end": 1, "count": 7}):
        assert float(f"{v:.12g}") == v


@pytest.mark.parametrize(
    ("rules", "key"),
    [
        ({"end": 1, "count": 3}, "start"),
        ({"start": 1, "count": 3}, "end"),
        ({"start": 0, "end": 1}, "count"),
        ({"start": 0, "end": 1, "count": 0}, "count"),
        ({"start": 0, "end": 1, "count": 2.5}, "count"),
        ({"start": 0, "end": 1, "count": 200_000}, "count"),
        ({"start": 0, "end": 1, "count": 3, "base": -2}, "base"),
        ({"start": 0, "end": 1000, "count": 3}, "end"),
        ({"start": 0, "min": 1, "end": 1, "count": 3}, "min"),
    ],
)
def test_logspace_errors(rules: dict, key: str) -> None:
    assert rule_error("logspace", rules).key == key


def test_logspace_missing_message_names_aliases() -> None:
    err = rule_error("logspace", {"end": 1, "count": 3})
    assert "'start'" in err.message and "'min'" in err.message


def test_random_and_unknown_are_not_grid_styles() -> None:
    assert rule_error("random", {"min": 0, "max": 1}).key == ""
    assert rule_error("bogus", {}).key == ""
    with pytest.raises(SweepRuleError):
        axis_values("single", ["value"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Product sweeps


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=4), min_size=0, max_size=4))
def test_product_order_matches_itertools(lengths: list[int]) -> None:
    axes = [Axis(f"p{i}", tuple(f"p{i}v{j}" for j in range(n))) for i, n in enumerate(lengths)]
    sweep = product_sweep(axes, max_parallel=None, origin="grid_search", location=None)
    names = [a.name for a in axes]
    expected = [dict(zip(names, combo)) for combo in itertools.product(*(a.values for a in axes))]
    assert sweep.size == len(expected)
    assert [sweep_row(sweep, i) for i in range(sweep.size)] == expected
    assert list(sweep.iter_rows()) == expected


def test_empty_grid_is_one_execution() -> None:
    sweep = product_sweep([], max_parallel=None, origin="", location=None)
    assert sweep.size == 1 and sweep.row(0) == {}


def test_huge_grid_random_access() -> None:
    axes = tuple(Axis(f"p{i}", tuple(range(10))) for i in range(8))
    sweep = Sweep(kind=SweepKind.PRODUCT, size=10**8, axes=axes)
    assert sweep.row(12_345_678) == {f"p{i}": int(d) for i, d in enumerate("12345678")}
    assert sweep.row(10**8 - 1) == {f"p{i}": 9 for i in range(8)}
    with pytest.raises(IndexError):
        sweep.row(10**8)
    with pytest.raises(IndexError):
        sweep.row(-1)


def test_product_errors() -> None:
    with pytest.raises(SweepRuleError, match="parameter a is swept twice") as info:
        product_sweep(
            [Axis("a", (1,)), Axis("a", (2,))], max_parallel=None, origin="", location=None
        )
    assert info.value.key == ""
    with pytest.raises(SweepRuleError, match="executions"):
        product_sweep(
            [Axis(f"p{i}", tuple(range(10))) for i in range(8)],
            max_parallel=None,
            origin="",
            location=None,
        )
    with pytest.raises(SweepRuleError):
        product_sweep([Axis("a", ())], max_parallel=None, origin="", location=None)


# --------------------------------------------------------------------------------------------
# Row sweeps


def test_rows_keep_alignment() -> None:
    sweep = rows_sweep(
        [{"A": 5, "B": 6}, {"B": 9}, {"A": 8, "B": 9, "C": [1]}],
        max_parallel=None,
        origin="manual_search",
        location=None,
    )
    assert sweep.kind is SweepKind.ROWS
    assert sweep.size == 3
    assert sweep.row(0) == {"A": 5, "B": 6}
    assert sweep.row(1) == {"B": 9}
    assert "A" not in sweep.row(1)
    assert list(sweep.row(2)) == ["A", "B", "C"]
    assert sweep.names == ("A", "B", "C")
    with pytest.raises(IndexError):
        sweep.row(3)


def test_rows_keep_item_order() -> None:
    sweep = rows_sweep([{"z": 1, "a": 2}], max_parallel=None, origin="", location=None)
    assert list(sweep.row(0)) == ["z", "a"]


def test_rows_errors() -> None:
    with pytest.raises(SweepRuleError):
        rows_sweep([], max_parallel=None, origin="", location=None)
    with pytest.raises(SweepRuleError):
        rows = [{"a": 1}, 5]
        rows_sweep(rows, max_parallel=None, origin="", location=None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Random sweeps


def _random_sweep(seed: int = 7, count: int = 20) -> Sweep:
    return random_sweep(
        [Axis("epochs", (10,))],
        [
            random_axis("lr", {"min": 1e-5, "max": 1e-1, "distribution": "log-uniform"}),
            random_axis("dropout", {"min": 0.1, "max": 0.5}),
            random_axis("layers", {"min": 1, "max": 6, "integerify": True}),
        ],
        count,
        seed,
        max_parallel=None,
        origin="random_search",
        location=None,
    )


def test_random_axis_parsing() -> None:
    assert random_axis("x", {"min": 1, "max": 25}) == RandomAxis("x", 1, 25)
    for alias in ("loguniform", "log-uniform", "log_uniform"):
        axis = random_axis("x", {"min": 1, "max": 2, "distribution": alias})
        assert axis.distribution == "log-uniform"
    rules = {"min": 1, "max": 25, "count": 10, "base": 2, "distribution": "uniform", "integerify": True}
    axis = random_axis("x", rules)
    assert axis.base == 2 and axis.integerify and axis.distribution == "uniform"


@pytest.mark.parametrize(
    ("rules", "key"),
    [
        ({"max": 1}, "min"),
        ({"min": 1}, "max"),
        ({"min": 2, "max": 1}, "max"),
        ({"min": 0, "max": 1, "distribution": "normal"}, "distribution"),
        ({"min": 0, "max": 1, "distribution": "log-uniform"}, "min"),
        ({"min": -1, "max": 1, "distribution": "loguniform"}, "min"),
        ({"min": 1, "max": 2, "distribution": "loguniform", "base": 1}, "base"),
        ({"min": 1, "max": 2, "integerify": 1}, "integerify"),
    ],
)
def test_random_axis_errors(rules: dict, key: str) -> None:
    with pytest.raises(SweepRuleError) as info:
        random_axis("x", rules)
    assert info.value.key == key


def test_random_distribution_error_lists_accepted() -> None:
    with pytest.raises(SweepRuleError) as info:
        random_axis("x", {"min": 0, "max": 1, "distribution": "normal"})
    for name in ("uniform", "loguniform", "log-uniform", "log_uniform"):
        assert name in info.value.message


def test_random_rows_reproducible_and_bounded() -> None:
    sweep = _random_sweep()
    assert sweep.kind is SweepKind.RANDOM and sweep.size == 20
    rows = list(sweep.iter_rows())
    assert rows == list(_random_sweep().iter_rows())
    assert preview_rows(sweep, 5) == rows[:5]
    for row in rows:
        assert list(row) == ["epochs", "lr", "dropout", "layers"]
        assert row["epochs"] == 10
        assert 1e-5 <= row["lr"] <= 1e-1
        assert 0.1 <= row["dropout"] <= 0.5
        assert type(row["layers"]) is int and 1 <= row["layers"] <= 6
        assert isinstance(row["lr"], float) and isinstance(row["dropout"], float)
    assert len({row["lr"] for row in rows}) == 20
    # log-uniform spreads over decades: not all samples in the top decade
    assert any(row["lr"] < 1e-2 for row in rows)


def test_random_rows_differ_by_seed() -> None:
    a = list(_random_sweep(seed=1).iter_rows())
    b = list(_random_sweep(seed=2).iter_rows())
    assert a != b
    assert all(x["lr"] != y["lr"] for x, y in zip(a, b))


def test_random_row_independent_of_other_axes_and_count() -> None:
    full = _random_sweep(count=20)
    small = random_sweep(
        [],
        [random_axis("lr", {"min": 1e-5, "max": 1e-1, "distribution": "log-uniform"})],
        5,
        7,
        max_parallel=None,
        origin="",
        location=None,
    )
    for i in range(5):
        assert small.row(i)["lr"] == full.row(i)["lr"]


def test_random_rows_same_in_subprocess_with_other_hash_seed() -> None:
    script = (
        "import json\n"
        "from pipec.ir.sweep import random_sweep\n"
        "from pipec.frontends.valohai.sweep_rules import random_axis\n"
        "from pipec.ir import Axis\n"
        "s = random_sweep([Axis('epochs', (10,))], ["
        "random_axis('lr', {'min': 1e-5, 'max': 1e-1, 'distribution': 'log-uniform'}), "
        "random_axis('dropout', {'min': 0.1, 'max': 0.5}), "
        "random_axis('layers', {'min': 1, 'max': 6, 'integerify': True})], 20, 7, "
        "max_parallel=None, origin='random_search', location=None)\n"
        "print(json.dumps(list(s.iter_rows())))\n"
    )
    outputs = []
    for hash_seed in ("0", "12345"):
        env = dict(os.environ, PYTHONPATH=str(COMPILER_DIR), PYTHONHASHSEED=hash_seed)
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1] == list(_random_sweep().iter_rows())


def test_random_sweep_errors() -> None:
    lr = random_axis("lr", {"min": 0, "max": 1})
    with pytest.raises(SweepRuleError):
        random_sweep([], [lr], 0, 1, max_parallel=None, origin="", location=None)
    with pytest.raises(SweepRuleError):
        random_sweep(
            [Axis("a", (1, 2))], [lr], 3, 1, max_parallel=None, origin="", location=None
        )
    with pytest.raises(SweepRuleError, match="swept twice"):
        random_sweep([Axis("lr", (1,))], [lr], 3, 1, max_parallel=None, origin="", location=None)


def test_default_seed() -> None:
    assert DEFAULT_SEED == 1
    lr = random_axis("lr", {"min": 0, "max": 1})
    sweep = random_sweep([], [lr], 3, DEFAULT_SEED, max_parallel=None, origin="", location=None)
    assert sweep.seed == 1


# --------------------------------------------------------------------------------------------
# Runtime sweeps and previews


def test_runtime_sweep_has_no_rows() -> None:
    sweep = Sweep(kind=SweepKind.RUNTIME, size=0, fanout=RuntimeFanout("up", "items", "item"))
    with pytest.raises(ValueError):
        sweep_row(sweep, 0)
    assert preview_rows(sweep, 3) == []
    assert sweep.names == ("item",)


def test_preview_rows_limits() -> None:
    sweep = product_sweep([Axis("a", (1, 2, 3))], max_parallel=None, origin="", location=None)
    assert preview_rows(sweep, 2) == [{"a": 1}, {"a": 2}]
    assert preview_rows(sweep, 10) == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert preview_rows(sweep, 0) == []
