"""Task-node sweeps: task blueprints (grid, random, manual, Bayesian, distributed) and
grids given with --sweep or [sweeps] in pipec.toml, as IR sweeps.
"""

from __future__ import annotations

from typing import Any, Mapping

from pipec import ir
from pipec.errors import Diagnostics, Location
from pipec.frontends import UsageError
from pipec.frontends.valohai.checks import task_type
from pipec.frontends.valohai.model import (
    TASK_TYPES,
    Config,
    Node,
    did_you_mean_hint,
)
from pipec.frontends.valohai.sweep_rules import axis_values, random_axis
from pipec.ir.sweep import DEFAULT_SEED, SweepRuleError, product_sweep, random_sweep, rows_sweep


def blueprint_sweep(cfg: Config, node: Node, diags: Diagnostics) -> ir.Sweep | None:
    doc = cfg.doc
    bp = node.blueprint
    assert bp is not None and node.step is not None
    data, path = bp.data, bp.path
    ttype = task_type(bp)
    max_parallel = _max_parallel(data)
    loc = doc.locate(path + ("name",))
    known = list(node.params)
    ok = True
    for i, vp in enumerate(data.get("parameters") or []):
        if vp["name"] not in node.params:
            diags.error(f"task '{bp.name}': parameter '{vp['name']}' does not exist in step '{node.step.name}'",
                        doc.locate(path + ("parameters", i, "name")), did_you_mean_hint(vp["name"], known))
            ok = False
    for i, row in enumerate(data.get("parameter-sets") or []):
        for k in row:
            if k not in node.params:
                diags.error(f"task '{bp.name}': parameter set names '{k}', which step '{node.step.name}' does not have",
                            doc.locate_key(path + ("parameter-sets", i, k)), did_you_mean_hint(k, known))
                ok = False
    if not ok or ttype not in TASK_TYPES:
        return None
    if ttype == "bayesian_tpe":
        diags.warning(
            f"task '{bp.name}': Bayesian optimisation needs a live optimiser; pipec compiles it as a seeded random search",
            doc.locate(path + ("type",)), "set type: random_search to make this explicit", code="PC112",
        )
    try:
        sets = [dict(r) for r in data.get("parameter-sets") or [] if r]
        if sets and ttype in ("manual_search",) or (sets and not data.get("parameters")):
            return rows_sweep(sets, max_parallel=max_parallel, origin=ttype, location=loc)
        axes: list[ir.Axis] = []
        rand: list[ir.RandomAxis] = []
        for i, vp in enumerate(data.get("parameters") or []):
            style = vp.get("style") or "single"
            rules = vp.get("rules") or {}
            try:
                if style == "random":
                    rand.append(random_axis(vp["name"], rules))
                else:
                    axes.append(ir.Axis(vp["name"], axis_values(style, rules)))
            except SweepRuleError as exc:
                where = path + ("parameters", i, "rules") + ((exc.key,) if exc.key and exc.key in rules else ())
                diags.error(f"task '{bp.name}', parameter '{vp['name']}': {exc.message}", doc.locate(where))
                ok = False
            except ArithmeticError as exc:
                diags.error(f"task '{bp.name}', parameter '{vp['name']}': values out of range ({exc})",
                            doc.locate(path + ("parameters", i, "rules")))
                ok = False
        if not ok:
            return None
        if ttype in ("random_search", "bayesian_tpe") or rand:
            count = data.get("execution-count")
            if count is None:
                counts = [int(r.get("count")) for r in (vp.get("rules") or {} for vp in data.get("parameters") or [])
                          if isinstance(r.get("count"), int)]
                count = max(counts) if counts else None
            if count is None:
                diags.error(f"task '{bp.name}': a random search needs 'execution-count'", doc.locate(path + ("name",)),
                            "add execution-count: N to say how many executions to sample")
                return None
            seed = _seed(data)
            if ttype == "grid_search" and rand:
                diags.warning(f"task '{bp.name}': 'random' style in a grid search; pipec samples {count} executions",
                              doc.locate(path + ("type",)) if "type" in data else loc, code="PC113")
            fixed = [a for a in axes if len(a.values) == 1]
            varying = [a for a in axes if len(a.values) > 1]
            if varying and not rand:
                # Grid styles in a random search: sample rows of the grid.
                return random_sweep(fixed, [_choice_axis(a) for a in varying], count, seed,
                                    max_parallel=max_parallel, origin=ttype, location=loc)
            return random_sweep(fixed, rand + [_choice_axis(a) for a in varying], count, seed,
                                max_parallel=max_parallel, origin=ttype, location=loc)
        return product_sweep(axes, max_parallel=max_parallel, origin=ttype, location=loc)
    except SweepRuleError as exc:
        diags.error(f"task '{bp.name}': {exc.message}", loc)
        return None
    except ArithmeticError as exc:  # e.g. base ** exponent beyond a float
        diags.error(f"task '{bp.name}': the sweep's numbers are out of range ({exc})", loc)
        return None


def _choice_axis(axis: ir.Axis) -> ir.RandomAxis:
    return ir.RandomAxis(axis.name, 0.0, float(len(axis.values)), choices=axis.values)


def _seed(data: Mapping[str, Any]) -> int:
    for vp in data.get("parameters") or []:
        seed = (vp.get("rules") or {}).get("seed")
        if isinstance(seed, (int, float)) and not isinstance(seed, bool):
            return int(seed)
    return DEFAULT_SEED


def _max_parallel(data: Mapping[str, Any]) -> int | None:
    limits = [data[k] for k in ("execution-batch-size", "maximum-queued-executions")
              if isinstance(data.get(k), int) and data[k] > 0]
    return min(limits) if limits else None


def coerce_value(ptype: str, text: Any) -> Any:
    """A command-line string as the parameter's type (for --sweep values)."""
    if not isinstance(text, str):
        return text
    if ptype == "integer":
        return int(text, 10)
    if ptype == "float":
        return float(text)
    if ptype == "flag":
        low = text.lower()
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0"):
            return False
        raise ValueError(f"{text!r} is not true or false")
    return text


def option_sweep(node: Node, values_by_param: dict[str, list[Any]], origin: str, loc: Location | None) -> ir.Sweep:
    axes = []
    for pname, values in values_by_param.items():
        if pname not in node.params:
            raise UsageError(f"--sweep {node.name}.{pname}: node '{node.name}' has no parameter '{pname}'")
        ptype = node.params[pname].get("type", "string")
        try:
            axes.append(ir.Axis(pname, tuple(coerce_value(ptype, v) for v in values)))
        except ValueError as exc:
            raise UsageError(f"--sweep {node.name}.{pname}: {exc}") from None
    return product_sweep(axes, max_parallel=None, origin=origin, location=loc)
