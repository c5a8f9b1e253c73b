"""Checks of single items: steps, parameters, task blueprints and deployments (every
valohai-yaml lint message, and the inputs that crash valohai-yaml, as located diagnostics).
"""

from __future__ import annotations

from typing import Any, Mapping

from pipec.errors import Diagnostics
from pipec.frontends.valohai.command import check_pass_as
from pipec.frontends.valohai.model import (
    ON_CHILD_ERROR,
    TASK_TYPES,
    Config,
    Item,
    did_you_mean_hint,
)
from pipec.frontends.valohai.values import (
    ValueSyntaxError,
    check_expression,
    parse_duration,
)
from pipec.loader import Document, Path


def lint_step(cfg: Config, step: Item, diags: Diagnostics) -> None:
    doc, data, path = cfg.doc, step.data, step.path
    if data.get("runtime-config-preset") and not data.get("environment"):
        diags.error(
            f"step '{step.name}' sets 'runtime-config-preset' without 'environment'",
            doc.locate_key(path + ("runtime-config-preset",)),
            "a runtime config preset belongs to an environment: add 'environment'",
        )
    _lint_expression(doc, data, path, "stop-condition", f"step '{step.name}'", diags)
    for key in ("time-limit", "no-output-timeout"):
        _duration(doc, data, path, key, diags)
    for i, param in enumerate(data.get("parameters") or []):
        lint_param(doc, f"step '{step.name}'", param, path + ("parameters", i), diags)
    _lint_unique(doc, data, path, "parameters", f"step '{step.name}'", diags)
    _lint_unique(doc, data, path, "inputs", f"step '{step.name}'", diags)


def _lint_unique(doc: Document, data: dict[str, Any], path: Path, key: str, owner: str, diags: Diagnostics) -> None:
    seen: dict[str, int] = {}
    for i, entry in enumerate(data.get(key) or []):
        name = entry.get("name")
        if name in seen:
            first = doc.locate(path + (key, seen[name], "name"))
            diags.warning(
                f"{owner}: {key[:-1]} '{name}' is defined twice (first at line {first.line}); the later one wins",
                doc.locate(path + (key, i, "name")), code="PC108",
            )
        seen[name] = i


def _duration(doc: Document, data: dict[str, Any], path: Path, key: str, diags: Diagnostics) -> int | None:
    if key not in data or data[key] is None:
        return None
    try:
        return parse_duration(data[key])
    except ValueSyntaxError as exc:
        diags.error(f"'{key}': {exc.message}", doc.locate(path + (key,)), exc.hint)
        return None


def _lint_expression(doc: Document, data: dict[str, Any], path: Path, key: str, owner: str, diags: Diagnostics) -> None:
    text = data.get(key)
    if not isinstance(text, str):
        return
    try:
        check_expression(text)
    except ValueSyntaxError as exc:
        diags.error(f"{owner}: '{key}' is not a valid expression: {exc.message}", doc.locate(path + (key,)), exc.hint)


def lint_param(doc: Document, owner: str, p: dict[str, Any], path: Path, diags: Diagnostics) -> None:
    name = p.get("name")
    where = f"{owner}, parameter '{name}'"
    ptype = p.get("type", "string")
    if ptype == "flag":
        if "optional" in p:
            diags.warning(f"{where}: 'optional' has no effect on flag parameters", doc.locate_key(path + ("optional",)), code="PC121")
        if "pass-as" in p and ("pass-true-as" in p or "pass-false-as" in p):
            diags.warning(
                f"{where}: 'pass-as' has no effect with 'pass-true-as'/'pass-false-as'", doc.locate_key(path + ("pass-as",)), code="PC121"
            )
        if p.get("multiple") not in (None, "none"):
            diags.error(f"{where}: flag parameters cannot be 'multiple'", doc.locate_key(path + ("multiple",)))
    else:
        for key in ("pass-true-as", "pass-false-as"):
            if key in p:
                diags.warning(f"{where}: '{key}' has no effect on non-flag parameters", doc.locate_key(path + (key,)), code="PC121")
    for key in ("pass-as", "pass-true-as", "pass-false-as"):
        template = p.get(key)
        if isinstance(template, str):
            problem = check_pass_as(template)
            if problem:
                diags.error(f"{where}: '{key}' {problem}", doc.locate(path + (key,)), "placeholders are {name}, {value} and {v}")
    if "default" in p:
        problem = param_value_problem(p, p["default"])
        if problem:
            diags.warning(f"{where}: default {problem}", doc.locate(path + ("default",)), code="PC120")


def param_value_problem(p: Mapping[str, Any], value: Any) -> str | None:
    """Why `value` does not suit parameter `p` (type, range, choices), or None."""
    ptype = p.get("type", "string")
    multiple = p.get("multiple") not in (None, "none")
    values = value if (multiple and isinstance(value, list)) else [value]
    if not multiple and isinstance(value, list) and ptype != "flag":
        return f"{value!r} is a list, but the parameter is not 'multiple'"
    for v in values:
        if v is None or (v == "" and ptype != "string"):
            continue
        if ptype == "string" and not isinstance(v, str):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                continue  # numbers are fine as strings
            return f"{v!r} is not a string (got {type(v).__name__}); quote it in YAML"
        if ptype == "integer":
            if isinstance(v, bool) or not _is_int(v):
                return f"{v!r} is not an integer"
        if ptype == "float":
            if isinstance(v, bool) or not _is_float(v):
                return f"{v!r} is not a floating-point number"
        if ptype in ("integer", "float") and not isinstance(v, bool) and _is_float(v):
            num = float(v)
            if p.get("min") is not None and num < p["min"]:
                return f"{v!r} is less than the minimum allowed ({p['min']})"
            if p.get("max") is not None and num > p["max"]:
                return f"{v!r} is greater than the maximum allowed ({p['max']})"
        choices = p.get("choices")
        if choices and ptype != "flag" and v not in choices and str(v) not in [str(c) for c in choices]:
            return f"{v!r} is not among the choices allowed ({', '.join(map(str, choices))})"
    return None


def _is_int(v: Any) -> bool:
    try:
        int(str(v), 10)
        return True
    except ValueError:
        return False


def _is_float(v: Any) -> bool:
    try:
        float(str(v))
        return True
    except ValueError:
        return False


def task_type(item: Item) -> str:
    raw = item.data.get("type") or "grid_search"
    return str(raw).lower().replace("-", "_")


def lint_task(cfg: Config, task: Item, diags: Diagnostics) -> None:
    doc, data, path = cfg.doc, task.data, task.path
    ttype = task_type(task)
    if ttype not in TASK_TYPES:
        diags.error(
            f"task '{task.name}': unknown type '{data.get('type')}'", doc.locate(path + ("type",)),
            did_you_mean_hint(ttype, TASK_TYPES) or f"types are {', '.join(TASK_TYPES)}",
        )
    child = data.get("on-child-error")
    if child is not None and str(child).lower().replace("_", "-") not in ON_CHILD_ERROR:
        diags.error(
            f"task '{task.name}': unknown on-child-error '{child}'", doc.locate(path + ("on-child-error",)),
            did_you_mean_hint(str(child).lower().replace("_", "-"), ON_CHILD_ERROR) or f"values are {', '.join(ON_CHILD_ERROR)}",
        )
    if data.get("parameter-sets") and ttype != "manual_search":
        diags.warning(
            f"task '{task.name}': parameter sets only make sense with manual search",
            doc.locate_key(path + ("parameter-sets",)), code="PC122",
        )
    if ttype != "bayesian_tpe":
        for key in ("engine", "optimization-target-metric", "optimization-target-value"):
            if key in data:
                diags.warning(
                    f"task '{task.name}': '{key}' only makes sense for Bayesian TPE tasks", doc.locate_key(path + (key,)), code="PC122"
                )
    _lint_expression(doc, data, path, "stop-condition", f"task '{task.name}'", diags)


def lint_deployment(cfg: Config, dep: Item, diags: Diagnostics) -> None:
    defaults = dep.data.get("defaults")
    if not isinstance(defaults, dict) or not defaults.get("target"):
        diags.warning(
            f"deployment '{dep.name}' has no defaults.target, which deployment auto-creation needs",
            cfg.doc.locate(dep.path + ("name",)), code="PC123",
        )
