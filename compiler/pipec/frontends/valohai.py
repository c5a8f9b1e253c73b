"""The valohai.yaml front end: schema, semantic checks, and translation to the IR.

Semantics follow valohai-yaml (../shared/reference/valohai.md): every lint message it has,
every input that crashes it turned into a located error, plus checks it does not make
(edge keys against the step's inputs and parameters, duplicate edges, parameters filled
twice). Job ids here are node names; the naming pass makes them engine-safe later.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from pipec import ir
from pipec.errors import Diagnostics, Location
from pipec.frontends.valohai_values import ValueSyntaxError, check_expression, parse_duration
from pipec.loader import Document, Path
from pipec.passes.sweep import (
    DEFAULT_SEED,
    SweepRuleError,
    axis_values,
    product_sweep,
    random_axis,
    random_sweep,
    rows_sweep,
)
from pipec.schema import did_you_mean
from pipec.schema import validate as schema_validate

DIALECT = "valohai"
KINDS = ("step", "task", "endpoint", "pipeline", "blueprint", "deployment")
TASK_TYPES = ("grid_search", "random_search", "bayesian_tpe", "manual_search", "distributed")
ON_CHILD_ERROR = ("continue-and-complete", "continue-and-error", "stop-all-and-error")
EDGE_TYPES = ("dependency", "deployment", "environment-variable", "file", "input", "metadata", "output", "parameter")
EDGE_KINDS: dict[tuple[str, str], ir.DepKind] = {
    ("output", "input"): ir.DepKind.FILES,
    ("input", "input"): ir.DepKind.INPUT_FILES,
    ("parameter", "parameter"): ir.DepKind.PARAMETER,
    ("metadata", "parameter"): ir.DepKind.METADATA,
    ("deployment", "parameter"): ir.DepKind.DEPLOYMENT,
    ("output", "file"): ir.DepKind.DEPLOY_FILE,
    ("environment-variable", "environment-variable"): ir.DepKind.ENV,
    ("dependency", "dependency"): ir.DepKind.ORDER,
}
DEPLOYMENT_FACTS = ("id", "version_id")
WELL_KNOWN_WHEN = ("node-starting", "node-complete", "node-error")
WELL_KNOWN_THEN = ("noop", "stop-pipeline", "error-pipeline")
DEFAULT_RETRIES = 2


class UsageError(Exception):
    """A command-line choice (--pipeline, --step, --sweep) that does not fit the file."""


@dataclass
class Options:
    pipeline: str | None = None
    step: str | None = None
    sweeps: dict[str, list[Any]] = field(default_factory=dict)  # "node.param" -> values
    sweeps_location: Location | None = None  # where config-supplied sweeps came from
    for_compile: bool = False  # remote-commit steps are errors when compiling, warnings in check


@dataclass
class Item:
    kind: str
    name: str
    data: dict[str, Any]
    path: Path  # path of the item's mapping, e.g. (3, "step")


@dataclass
class Node:
    name: str
    type: str
    data: dict[str, Any]
    path: Path
    step: Item | None = None  # local step definition, if any
    blueprint: Item | None = None
    remote: bool = False  # runs a step from another commit that this file does not define
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    param_paths: dict[str, Path] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    input_paths: dict[str, Path] = field(default_factory=dict)
    env: dict[str, dict[str, Any]] = field(default_factory=dict)
    env_paths: dict[str, Path] = field(default_factory=dict)


@dataclass
class Edge:
    source: tuple[str, str, str]
    target: tuple[str, str, str]
    path: Path
    source_path: Path
    target_path: Path


@dataclass
class Config:
    doc: Document
    steps: dict[str, Item] = field(default_factory=dict)
    tasks: dict[str, Item] = field(default_factory=dict)
    endpoints: dict[str, Item] = field(default_factory=dict)
    deployments: dict[str, Item] = field(default_factory=dict)
    pipelines: dict[str, Item] = field(default_factory=dict)
    broken_names: dict[str, set[str]] = field(default_factory=dict)  # names of items that failed the schema
    items: list[Item] = field(default_factory=list)  # every valid item, shadowed duplicates included


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    guess = did_you_mean(word, choices)
    return f"did you mean '{guess}'?" if guess else None


# --------------------------------------------------------------------------------------------
# Collect top-level items


def _collect(doc: Document, bad: set[int], diags: Diagnostics) -> Config:
    cfg = Config(doc)
    if not isinstance(doc.data, list):
        return cfg
    first_seen: dict[tuple[str, str], Path] = {}
    for index, item in enumerate(doc.data):
        if not isinstance(item, dict):
            continue
        kind = next((k for k in KINDS if k in item), None)
        if kind is None:
            if not item:
                diags.warning("empty item; pipec ignores it", doc.locate((index,)))
                continue
            keys = ", ".join(repr(k) for k in item)
            guess = _did_you_mean(next(iter(item), ""), KINDS) if item else None
            diags.warning(
                f"unknown item {keys}; pipec ignores it", doc.locate_key((index, next(iter(item), ""))),
                guess or f"items are one of: {', '.join(KINDS)}",
            )
            continue
        body = item[kind]
        name = body.get("name") if isinstance(body, dict) else None
        if index in bad:
            if isinstance(name, str):
                cfg.broken_names.setdefault(_collection(kind), set()).add(name)
            continue
        if not isinstance(body, dict) or not isinstance(name, str):
            continue
        collection = _collection(kind)
        path = (index, kind)
        target: dict[str, Item] = getattr(cfg, collection)
        key = (collection, name)
        if key in first_seen:
            first = doc.locate(first_seen[key] + ("name",))
            diags.warning(
                f"duplicate {kind} name '{name}' (first defined at line {first.line}); the later definition wins",
                doc.locate(path + ("name",)),
            )
        first_seen[key] = path
        target[name] = Item(kind, name, body, path)
        cfg.items.append(target[name])
    return cfg


def _collection(kind: str) -> str:
    return {"step": "steps", "task": "tasks", "endpoint": "endpoints", "deployment": "deployments"}.get(kind, "pipelines")


MAX_INT = 10**18


def _check_numbers(doc: Document, diags: Diagnostics) -> set[int]:
    """Report infinities, NaNs and absurdly large integers (YAML reads `.inf`, `.nan` and any
    digit string); nothing in a pipeline means them, and every later conversion would trip on
    them. Returns the top-level items that hold one."""
    bad: set[int] = set()
    stack: list[tuple[Any, Path]] = [(doc.data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            stack.extend((v, path + (k,)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, path + (i,)) for i, v in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            diags.error(f"{value} is not a usable number here", doc.locate(path), "write a finite number")
            bad.add(path[0] if path and isinstance(path[0], int) else -1)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            diags.error("this integer is too large", doc.locate(path), f"numbers in a pipeline stay within ±{MAX_INT:.0e}")
            bad.add(path[0] if path and isinstance(path[0], int) else -1)
    return bad


# --------------------------------------------------------------------------------------------
# Step, parameter, task and deployment checks


def _lint_step(cfg: Config, step: Item, diags: Diagnostics) -> None:
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
        _lint_param(doc, f"step '{step.name}'", param, path + ("parameters", i), diags)
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
                doc.locate(path + (key, i, "name")),
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


def _lint_param(doc: Document, owner: str, p: dict[str, Any], path: Path, diags: Diagnostics) -> None:
    from pipec.command import check_pass_as

    name = p.get("name")
    where = f"{owner}, parameter '{name}'"
    ptype = p.get("type", "string")
    if ptype == "flag":
        if "optional" in p:
            diags.warning(f"{where}: 'optional' has no effect on flag parameters", doc.locate_key(path + ("optional",)))
        if "pass-as" in p and ("pass-true-as" in p or "pass-false-as" in p):
            diags.warning(
                f"{where}: 'pass-as' has no effect with 'pass-true-as'/'pass-false-as'", doc.locate_key(path + ("pass-as",))
            )
        if p.get("multiple") not in (None, "none"):
            diags.error(f"{where}: flag parameters cannot be 'multiple'", doc.locate_key(path + ("multiple",)))
    else:
        for key in ("pass-true-as", "pass-false-as"):
            if key in p:
                diags.warning(f"{where}: '{key}' has no effect on non-flag parameters", doc.locate_key(path + (key,)))
    for key in ("pass-as", "pass-true-as", "pass-false-as"):
        template = p.get(key)
        if isinstance(template, str):
            problem = check_pass_as(template)
            if problem:
                diags.error(f"{where}: '{key}' {problem}", doc.locate(path + (key,)), "placeholders are {name}, {value} and {v}")
    if "default" in p:
        problem = param_value_problem(p, p["default"])
        if problem:
            diags.warning(f"{where}: default {problem}", doc.locate(path + ("default",)))


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


def _task_type(item: Item) -> str:
    raw = item.data.get("type") or "grid_search"
    return str(raw).lower().replace("-", "_")


def _lint_task(cfg: Config, task: Item, diags: Diagnostics) -> None:
    doc, data, path = cfg.doc, task.data, task.path
    ttype = _task_type(task)
    if ttype not in TASK_TYPES:
        diags.error(
            f"task '{task.name}': unknown type '{data.get('type')}'", doc.locate(path + ("type",)),
            _did_you_mean(ttype, TASK_TYPES) or f"types are {', '.join(TASK_TYPES)}",
        )
    child = data.get("on-child-error")
    if child is not None and str(child).lower().replace("_", "-") not in ON_CHILD_ERROR:
        diags.error(
            f"task '{task.name}': unknown on-child-error '{child}'", doc.locate(path + ("on-child-error",)),
            _did_you_mean(str(child).lower().replace("_", "-"), ON_CHILD_ERROR) or f"values are {', '.join(ON_CHILD_ERROR)}",
        )
    if data.get("parameter-sets") and ttype != "manual_search":
        diags.warning(
            f"task '{task.name}': parameter sets only make sense with manual search",
            doc.locate_key(path + ("parameter-sets",)),
        )
    if ttype != "bayesian_tpe":
        for key in ("engine", "optimization-target-metric", "optimization-target-value"):
            if key in data:
                diags.warning(
                    f"task '{task.name}': '{key}' only makes sense for Bayesian TPE tasks", doc.locate_key(path + (key,))
                )
    _lint_expression(doc, data, path, "stop-condition", f"task '{task.name}'", diags)


def _lint_deployment(cfg: Config, dep: Item, diags: Diagnostics) -> None:
    defaults = dep.data.get("defaults")
    if not isinstance(defaults, dict) or not defaults.get("target"):
        diags.warning(
            f"deployment '{dep.name}' has no defaults.target, which deployment auto-creation needs",
            cfg.doc.locate(dep.path + ("name",)),
        )


# --------------------------------------------------------------------------------------------
# Pipelines


def _merge_named(base: list[dict[str, Any]], base_path: Path, over: list[dict[str, Any]], over_path: Path,
                 into: dict[str, dict[str, Any]], paths: dict[str, Path]) -> None:
    for i, entry in enumerate(base):
        into[entry["name"]] = dict(entry)
        paths[entry["name"]] = base_path + (i,)
    for i, entry in enumerate(over):
        name = entry["name"]
        # As on the platform, an override entry replaces the default (a missing default
        # clears it); the step's type and pass-as rules are kept so commands still build.
        merged = dict(into.get(name, {}))
        merged.pop("default", None)
        merged.update(entry)
        into[name] = merged
        paths[name] = over_path + (i,)


def _resolve_node(cfg: Config, pipeline: Item, index: int, data: dict[str, Any], opts: Options,
                  diags: Diagnostics) -> Node:
    doc = cfg.doc
    path = pipeline.path + ("nodes", index)
    node = Node(data["name"], data["type"], data, path)
    pname = pipeline.name
    if node.type == "deployment":
        return node
    step_name = data.get("step")
    if data.get("task") is not None:
        blueprint = cfg.tasks.get(data["task"])
        if blueprint is None:
            if data["task"] not in cfg.broken_names.get("tasks", set()):
                diags.error(
                    f"pipeline '{pname}' node '{node.name}': task blueprint '{data['task']}' does not exist",
                    doc.locate(path + ("task",)), _did_you_mean(data["task"], list(cfg.tasks)),
                )
            return node
        node.blueprint = blueprint
        step_name = blueprint.data.get("step")
    step = cfg.steps.get(step_name) if isinstance(step_name, str) else None
    if step is None:
        if step_name in cfg.broken_names.get("steps", set()):
            node.remote = True  # reported already by the schema; do not pile on
            return node
        if data.get("commit") is not None:
            node.remote = True
            message = (
                f"pipeline '{pname}' node '{node.name}' runs step '{step_name}' from commit "
                f"'{data['commit']}', which this file does not define"
            )
            hint = "copy the step definition into this file so pipec can compile it"
            if opts.for_compile:
                diags.error(message, doc.locate(path + ("commit",)), hint)
            else:
                diags.warning(message + "; compiling it will fail", doc.locate(path + ("commit",)), hint)
            return node
        where = path + ("step",) if node.blueprint is None else node.blueprint.path + ("step",)
        what = (
            f"step '{step_name}' does not exist" if node.blueprint is None
            else f"task '{node.blueprint.name}': the blueprint's step '{step_name}' does not exist"
        )
        diags.error(f"pipeline '{pname}' node '{node.name}' {what}", doc.locate(where),
                    _did_you_mean(str(step_name), list(cfg.steps)))
        return node
    node.step = step
    if data.get("commit") is not None:
        diags.warning(
            f"node '{node.name}' names commit '{data['commit']}'; pipec uses the step '{step.name}' defined in this file",
            doc.locate(path + ("commit",)),
        )
    override = data.get("override") or {}
    opath = path + ("override",)
    spath = step.path
    for key, into, paths in (("parameters", node.params, node.param_paths), ("inputs", node.inputs, node.input_paths),
                             ("environment-variables", node.env, node.env_paths)):
        step_entries = step.data.get(key) or []
        over_entries = override.get(key) or []
        for i, entry in enumerate(over_entries):
            if key != "environment-variables" and not any(e["name"] == entry["name"] for e in step_entries):
                diags.error(
                    f"pipeline '{pname}' node '{node.name}': {key[:-1]} '{entry['name']}' does not exist in step '{step.name}'",
                    doc.locate(opath + (key, i, "name")),
                    _did_you_mean(entry["name"], [e["name"] for e in step_entries]),
                )
        _merge_named(step_entries, spath + (key,), over_entries, opath + (key,), into, paths)
    for i, _ in enumerate(override.get("parameters") or []):
        _lint_param(doc, f"node '{node.name}'", node.params[override["parameters"][i]["name"]], opath + ("parameters", i), diags)
    if override.get("runtime-config-preset") and not override.get("environment"):
        diags.error(
            f"pipeline '{pname}' node '{node.name}': the override sets 'runtime-config-preset' without 'environment'",
            doc.locate_key(opath + ("runtime-config-preset",)),
            "a runtime config preset belongs to an environment: add 'environment' to the override",
        )
    return node


def _parse_socket(text: str, doc: Document, where: Path, role: str, diags: Diagnostics) -> tuple[str, str, str] | None:
    parts = text.split(".", 2)
    if len(parts) < 3 or not all(parts):
        diags.error(
            f"edge {role} '{text}' must have 3 parts, node.type.key (it has {len([p for p in parts if p])})",
            doc.locate(where), "for example 'train.output.model*' or 'train.input.dataset'",
        )
        return None
    return parts[0], parts[1], parts[2]


def _parse_edges(cfg: Config, pipeline: Item, diags: Diagnostics) -> list[Edge]:
    doc = cfg.doc
    edges: list[Edge] = []
    for i, raw in enumerate(pipeline.data.get("edges") or []):
        path = pipeline.path + ("edges", i)
        if isinstance(raw, list):
            src, tgt, sp, tp = raw[0], raw[1], path + (0,), path + (1,)
        else:
            src, tgt, sp, tp = raw["source"], raw["target"], path + ("source",), path + ("target",)
        s = _parse_socket(src, doc, sp, "source", diags)
        t = _parse_socket(tgt, doc, tp, "target", diags)
        if s and t:
            edges.append(Edge(s, t, path, sp, tp))
    return edges


def _check_edges(cfg: Config, pipeline: Item, nodes: dict[str, Node], edges: list[Edge], diags: Diagnostics) -> list[Edge]:
    """Report every bad edge; return the good ones."""
    doc = cfg.doc
    pname = pipeline.name
    good: list[Edge] = []
    seen: dict[tuple[Any, ...], Edge] = {}
    filled: dict[tuple[str, str], Edge] = {}
    for e in edges:
        ok = True
        for (node_name, etype, _), where, role in ((e.source, e.source_path, "source"), (e.target, e.target_path, "target")):
            if node_name not in nodes:
                diags.error(f"pipeline '{pname}': edge {role} node '{node_name}' does not exist", doc.locate(where),
                            _did_you_mean(node_name, list(nodes)))
                ok = False
            elif etype not in EDGE_TYPES:
                diags.error(f"pipeline '{pname}': edge {role} type '{etype}' is not valid", doc.locate(where),
                            _did_you_mean(etype.rstrip("s") if etype.endswith("s") else etype, EDGE_TYPES)
                            or f"types are {', '.join(EDGE_TYPES)}")
                ok = False
        if not ok:
            continue
        (sn, st, sk), (tn, tt, tk) = e.source, e.target
        kind = EDGE_KINDS.get((st, tt))
        if kind is None:
            diags.error(f"pipeline '{pname}': an edge cannot connect {_a(st)} to {_a(tt)}", doc.locate(e.path),
                        "valid pairs: " + ", ".join(f"{a}->{b}" for a, b in EDGE_KINDS))
            continue
        source, target = nodes[sn], nodes[tn]
        if sn == tn:
            if st == tt and sk == tk and kind is ir.DepKind.PARAMETER:
                diags.warning(f"pipeline '{pname}': edge copies parameter '{sk}' of node '{sn}' onto itself; ignored",
                              doc.locate(e.path))
            else:
                diags.error(f"pipeline '{pname}': edge connects node '{sn}' to itself", doc.locate(e.path))
            continue
        if not _check_edge_ends(cfg, pname, e, kind, source, target, diags):
            continue
        key = (e.source, e.target)
        if key in seen:
            first = doc.locate(seen[key].path)
            diags.warning(f"pipeline '{pname}': duplicate edge (first at line {first.line})", doc.locate(e.path))
            continue
        seen[key] = e
        if tt == "parameter":
            if (tn, tk) in filled:
                first = doc.locate(filled[(tn, tk)].path)
                diags.error(
                    f"pipeline '{pname}': parameter '{tk}' of node '{tn}' is filled by two edges (the other at line {first.line})",
                    doc.locate(e.target_path), "only one edge can fill a parameter",
                )
                continue
            filled[(tn, tk)] = e
        good.append(e)
    return good


def _check_edge_ends(cfg: Config, pname: str, e: Edge, kind: ir.DepKind, source: Node, target: Node,
                     diags: Diagnostics) -> bool:
    doc = cfg.doc
    (sn, st, sk), (tn, tt, tk) = e.source, e.target
    ok = True
    if source.type == "deployment" and st not in ("deployment", "dependency"):
        diags.error(f"pipeline '{pname}': deployment node '{sn}' can only be the source of deployment or dependency edges",
                    doc.locate(e.source_path))
        ok = False
    if st == "deployment" and source.type != "deployment":
        diags.error(f"pipeline '{pname}': '{sn}' is not a deployment node", doc.locate(e.source_path))
        ok = False
    if st == "deployment" and sk not in DEPLOYMENT_FACTS:
        diags.error(f"pipeline '{pname}': a deployment edge passes one of {', '.join(DEPLOYMENT_FACTS)}, not '{sk}'",
                    doc.locate(e.source_path), _did_you_mean(sk, DEPLOYMENT_FACTS))
        ok = False
    if tt == "file" and target.type != "deployment":
        diags.error(f"pipeline '{pname}': 'file' edges go into deployment nodes; '{tn}' is a {target.type} node",
                    doc.locate(e.target_path))
        ok = False
    if target.type == "deployment" and tt not in ("file", "dependency"):
        diags.error(f"pipeline '{pname}': deployment node '{tn}' only takes file or dependency edges",
                    doc.locate(e.target_path))
        ok = False
    if not ok:
        return False
    if tt == "file":
        endpoint, _, fname = tk.partition(".")
        endpoints = target.data.get("endpoints") or []
        if not fname:
            diags.error(f"pipeline '{pname}': file target '{tk}' must be endpoint.file", doc.locate(e.target_path))
            return False
        if endpoints and endpoint not in endpoints:
            diags.error(f"pipeline '{pname}': deployment node '{tn}' has no endpoint '{endpoint}'",
                        doc.locate(e.target_path), _did_you_mean(endpoint, endpoints))
            return False
        ep = cfg.endpoints.get(endpoint)
        if ep is not None:
            files = [f["name"] for f in ep.data.get("files") or []]
            if fname not in files:
                diags.error(f"pipeline '{pname}': endpoint '{endpoint}' has no file '{fname}'", doc.locate(e.target_path),
                            _did_you_mean(fname, files) or (f"its files: {', '.join(files)}" if files else None))
                return False
    if not target.remote and target.step is not None:  # unresolved nodes were reported already
        if tt == "input" and tk not in target.inputs:
            diags.error(f"pipeline '{pname}': node '{tn}' has no input '{tk}'", doc.locate(e.target_path),
                        _did_you_mean(tk, list(target.inputs)) or _listing("inputs", target.inputs))
            ok = False
        if tt == "parameter" and tk not in target.params:
            # Harmless (the value reaches no command), like a pipeline parameter without targets.
            diags.warning(f"pipeline '{pname}': node '{tn}' declares no parameter '{tk}'; the value reaches no command",
                          doc.locate(e.target_path),
                          _did_you_mean(tk, list(target.params)) or _listing("parameters", target.params))
    if not source.remote and source.step is not None:
        if st == "parameter" and sk not in source.params:
            diags.warning(f"pipeline '{pname}': node '{sn}' declares no parameter '{sk}'; the edge passes no value",
                          doc.locate(e.source_path),
                          _did_you_mean(sk, list(source.params)) or _listing("parameters", source.params))
        if st == "input" and not any(fnmatch.fnmatchcase(name, sk) for name in source.inputs):
            diags.error(f"pipeline '{pname}': no input of node '{sn}' matches '{sk}'", doc.locate(e.source_path),
                        _did_you_mean(sk, list(source.inputs)) or _listing("inputs", source.inputs))
            ok = False
        if st == "output":
            declared = [o["name"] for o in source.step.data.get("outputs") or []]
            if declared and not any(fnmatch.fnmatchcase(name, sk) or name.startswith(sk.split("*")[0]) for name in declared):
                diags.warning(
                    f"pipeline '{pname}': '{sk}' matches none of the outputs node '{sn}' declares ({', '.join(declared)})",
                    doc.locate(e.source_path), "the glob is matched against the files the step writes to its outputs directory",
                )
    return ok


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _listing(what: str, names: Mapping[str, Any]) -> str:
    return f"its {what}: {', '.join(names)}" if names else f"it has no {what}"


def _lint_actions(doc: Document, node: Node, diags: Diagnostics) -> None:
    for i, action in enumerate(node.data.get("actions") or []):
        apath = node.path + ("actions", i)
        whens = [str(w).lower() for w in _listify(action.get("when"))]
        unknown = [w for w in whens if w not in WELL_KNOWN_WHEN]
        if unknown:
            diags.warning(f"node '{node.name}': 'when' value {', '.join(unknown)} is not well-known; the action might never run",
                          doc.locate(apath + ("when",)), _did_you_mean(unknown[0], WELL_KNOWN_WHEN))
        thens = [str(t) for t in _listify(action.get("then"))]
        unknown = [t for t in thens if t not in WELL_KNOWN_THEN]
        if unknown:
            diags.warning(f"node '{node.name}': 'then' value {', '.join(unknown)} is not well-known; the action might do nothing",
                          doc.locate(apath + ("then",)), _did_you_mean(unknown[0], WELL_KNOWN_THEN))
        for j, cond in enumerate(_listify(action.get("if"))):
            cpath = apath + ("if",) + ((j,) if isinstance(action.get("if"), list) else ())
            try:
                check_expression(str(cond))
            except ValueSyntaxError as exc:
                diags.error(f"node '{node.name}': action condition is not a valid expression: {exc.message}",
                            doc.locate(cpath), exc.hint)
        diags.warning(f"node '{node.name}': node actions run on the Valohai platform only; pipec ignores this one",
                      doc.locate_key(apath))


def _pipeline_params(cfg: Config, pipeline: Item, nodes: dict[str, Node], diags: Diagnostics) -> list[tuple[dict[str, Any], Path, list[tuple[str, str]]]]:
    doc = cfg.doc
    pname = pipeline.name
    out = []
    for i, p in enumerate(pipeline.data.get("parameters") or []):
        path = pipeline.path + ("parameters", i)
        key = "targets" if "targets" in p else "target"
        raw = _listify(p.get(key))
        if not raw:
            diags.warning(f"pipeline '{pname}' parameter '{p['name']}' has no targets; it sets nothing",
                          doc.locate(path + ("name",)), "add targets: [node.parameter.name]")
        targets: list[tuple[str, str]] = []
        for j, t in enumerate(raw):
            tpath = path + (key,) + ((j,) if isinstance(p.get(key), list) else ())
            parts = str(t).split(".", 2)
            if len(parts) < 3:
                diags.error(f"pipeline '{pname}' parameter '{p['name']}': target '{t}' must be node.parameter.name",
                            doc.locate(tpath))
                continue
            node_name, ttype, pkey = parts
            if ttype not in ("parameter", "parameters"):
                diags.error(f"pipeline '{pname}' parameter '{p['name']}' target '{t}': socket type '{ttype}' is not supported",
                            doc.locate(tpath), "pipeline parameters target node parameters: node.parameter.name")
                continue
            node = nodes.get(node_name)
            if node is None:
                diags.error(f"pipeline '{pname}' parameter '{p['name']}' target '{t}': node '{node_name}' does not exist",
                            doc.locate(tpath), _did_you_mean(node_name, list(nodes)))
                continue
            if node.type == "deployment":
                diags.error(f"pipeline '{pname}' parameter '{p['name']}' target '{t}': '{node_name}' is a deployment node",
                            doc.locate(tpath))
                continue
            if node.step is not None and pkey not in node.params:
                diags.error(
                    f"pipeline '{pname}' parameter '{p['name']}' target '{t}': parameter '{pkey}' does not exist in step '{node.step.name}'",
                    doc.locate(tpath), _did_you_mean(pkey, list(node.params)) or _listing("parameters", node.params),
                )
                continue
            if node.step is not None and "default" in p:
                problem = param_value_problem(node.params[pkey], p["default"])
                if problem:
                    diags.warning(f"pipeline '{pname}' parameter '{p['name']}': default {problem}",
                                  doc.locate(path + ("default",)))
            targets.append((node_name, pkey))
        out.append((p, path, targets))
    return out


# --------------------------------------------------------------------------------------------
# Sweeps


def _blueprint_sweep(cfg: Config, node: Node, diags: Diagnostics) -> ir.Sweep | None:
    doc = cfg.doc
    bp = node.blueprint
    assert bp is not None and node.step is not None
    data, path = bp.data, bp.path
    ttype = _task_type(bp)
    max_parallel = _max_parallel(data)
    loc = doc.locate(path + ("name",))
    known = list(node.params)
    ok = True
    for i, vp in enumerate(data.get("parameters") or []):
        if vp["name"] not in node.params:
            diags.error(f"task '{bp.name}': parameter '{vp['name']}' does not exist in step '{node.step.name}'",
                        doc.locate(path + ("parameters", i, "name")), _did_you_mean(vp["name"], known))
            ok = False
    for i, row in enumerate(data.get("parameter-sets") or []):
        for k in row:
            if k not in node.params:
                diags.error(f"task '{bp.name}': parameter set names '{k}', which step '{node.step.name}' does not have",
                            doc.locate_key(path + ("parameter-sets", i, k)), _did_you_mean(k, known))
                ok = False
    if not ok or ttype not in TASK_TYPES:
        return None
    if ttype == "bayesian_tpe":
        diags.warning(
            f"task '{bp.name}': Bayesian optimisation needs a live optimiser; pipec compiles it as a seeded random search",
            doc.locate(path + ("type",)), "set type: random_search to make this explicit",
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
                              doc.locate(path + ("type",)) if "type" in data else loc)
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


def _option_sweep(node: Node, values_by_param: dict[str, list[Any]], origin: str, loc: Location | None) -> ir.Sweep:
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


# --------------------------------------------------------------------------------------------
# IR


def _resources(step: Mapping[str, Any], environment: str | None) -> ir.Resources:
    res = step.get("resources") or {}
    cpu = res.get("cpu") or {}
    mem = res.get("memory") or {}
    devices = tuple(sorted((str(k), float(v)) for k, v in (res.get("devices") or {}).items()))
    gpus = sum(int(v) for k, v in devices if "gpu" in k.lower())
    return ir.Resources(
        cpu=cpu.get("min"), cpu_limit=cpu.get("max"),
        memory_mb=int(mem["min"]) if mem.get("min") is not None else None,
        memory_limit_mb=int(mem["max"]) if mem.get("max") is not None else None,
        gpus=gpus, profile=environment, devices=devices,
    )


def _param(p: Mapping[str, Any], loc: Location) -> ir.Param:
    multiple = p.get("multiple")
    multiple = None if multiple in (None, "none") else multiple
    value = p.get("default")
    if multiple and value is not None and not isinstance(value, list):
        value = [value]
    return ir.Param(
        name=p["name"], type=p.get("type", "string"), value=value,
        cli=ir.CliSpec(
            pass_as=p.get("pass-as"), pass_true_as=p.get("pass-true-as"), pass_false_as=p.get("pass-false-as"),
            multiple=multiple, separator=str(p.get("multiple-separator", ",")),
        ),
        location=loc,
    )


def _keep_dirs(value: Any) -> str:
    if value is True:
        return "full"
    if not value:
        return "none"
    return str(value)


def _job(cfg: Config, node: Node, fed_inputs: set[str], diags: Diagnostics) -> ir.Job:
    doc = cfg.doc
    loc = doc.locate(node.path + ("name",))
    on_error = ir.OnError(node.data.get("on-error") or "stop-all")
    if node.type == "deployment":
        endpoints = tuple(node.data.get("endpoints") or ())
        files = []
        for ep_name in endpoints:
            ep = cfg.endpoints.get(ep_name)
            for f in (ep.data.get("files") or []) if ep else []:
                files.append((f"{ep_name}.{f['name']}", f["path"]))
        return ir.Job(
            id=node.name, name=node.name, kind=ir.JobKind.DEPLOYMENT, on_error=on_error,
            deployment=ir.Deployment(node.data["deployment"], endpoints, tuple(node.data.get("aliases") or ()), tuple(files)),
            location=loc,
        )
    assert node.step is not None
    step = node.step.data
    override = node.data.get("override") or {}
    append = node.data.get("edge-merge-mode") == "append"
    command = override.get("command", step["command"])
    environment = override.get("environment", step.get("environment"))
    inputs = []
    for name, spec in node.inputs.items():
        urls = tuple(str(u) for u in _listify(spec.get("default")))
        if name in fed_inputs and not append:
            urls = ()  # edge files replace the defaults (edge-merge-mode: replace)
        inputs.append(ir.Input(
            name=name, urls=urls, optional=bool(spec.get("optional", False)), filename=spec.get("filename"),
            keep_directories=_keep_dirs(spec.get("keep-directories")), location=doc.locate(node.input_paths[name]),
        ))
    env = []
    for name, spec in node.env.items():
        if spec.get("default") is not None:
            env.append(ir.EnvVar(name, str(spec["default"]), doc.locate(node.env_paths[name])))
    retries = DEFAULT_RETRIES if on_error is ir.OnError.RETRY else 0
    return ir.Job(
        id=node.name, name=node.name, kind=ir.JobKind.EXECUTION,
        image=override.get("image", step["image"]),
        script=tuple(str(c) for c in _listify(command)),
        source_path=step.get("source-path"),
        env=tuple(env),
        resources=_resources(step, environment),
        timeout_seconds=parse_duration(step["time-limit"]) if step.get("time-limit") is not None else None,
        retries=retries,
        inputs=tuple(inputs),
        outputs=tuple(o["name"] for o in step.get("outputs") or []),
        params=tuple(_param(p, doc.locate(node.param_paths[n])) for n, p in node.params.items()),
        on_error=on_error,
        step=node.step.name,
        location=loc,
    )


def _step_workflow(cfg: Config, step: Item) -> ir.Workflow:
    doc = cfg.doc
    node = Node(step.name, "execution", {"name": step.name, "type": "execution", "step": step.name}, step.path, step=step)
    _merge_named(step.data.get("parameters") or [], step.path + ("parameters",), [], (), node.params, node.param_paths)
    _merge_named(step.data.get("inputs") or [], step.path + ("inputs",), [], (), node.inputs, node.input_paths)
    _merge_named(step.data.get("environment-variables") or [], step.path + ("environment-variables",), [], (),
                 node.env, node.env_paths)
    job = _job(cfg, node, set(), Diagnostics())
    return ir.Workflow(name=step.name, jobs=(job,), dialect=DIALECT, source_file=doc.file,
                       location=doc.locate(step.path + ("name",)))


def _pipeline_workflow(cfg: Config, pipeline: Item, opts: Options, diags: Diagnostics) -> ir.Workflow | None:
    doc = cfg.doc
    pname = pipeline.name
    node_list = pipeline.data.get("nodes") or []
    nodes: dict[str, Node] = {}
    for i, nd in enumerate(node_list):
        if nd["name"] in nodes:
            first = doc.locate(nodes[nd["name"]].path + ("name",))
            diags.error(f"pipeline '{pname}' has two nodes named '{nd['name']}' (the first at line {first.line})",
                        doc.locate(pipeline.path + ("nodes", i, "name")))
            continue
        nodes[nd["name"]] = _resolve_node(cfg, pipeline, i, nd, opts, diags)
        if "." in nd["name"]:
            diags.warning(f"pipeline '{pname}': node name '{nd['name']}' contains '.', so no edge can address it",
                          doc.locate(pipeline.path + ("nodes", i, "name")), "edges split sockets at the first two dots")
    for node in nodes.values():
        _lint_actions(doc, node, diags)
    edges = _check_edges(cfg, pipeline, nodes, _parse_edges(cfg, pipeline, diags), diags)
    pparams = _pipeline_params(cfg, pipeline, nodes, diags)

    # Sweeps: blueprint grids, --sweep / [sweeps] for step-only task nodes.
    option_sweeps: dict[str, dict[str, list[Any]]] = {}
    for key, values in opts.sweeps.items():
        node_name, _, param = key.rpartition(".")
        option_sweeps.setdefault(node_name, {})[param] = values
    for node_name in option_sweeps:
        if node_name not in nodes:
            raise UsageError(f"--sweep {node_name}: pipeline '{pname}' has no node '{node_name}'"
                             + (f" (did you mean '{did_you_mean(node_name, list(nodes))}'?)" if did_you_mean(node_name, list(nodes)) else ""))
        if nodes[node_name].type != "task":
            raise UsageError(f"--sweep {node_name}: node '{node_name}' is an {nodes[node_name].type} node, not a task node")
        if nodes[node_name].blueprint is not None:
            raise UsageError(f"--sweep {node_name}: node '{node_name}' takes its grid from task blueprint "
                             f"'{nodes[node_name].blueprint.name}'")
    metadata_fed = {e.target[0]: e for e in edges if e.source[1] == "metadata"}
    sweeps: dict[str, ir.Sweep] = {}
    for node in nodes.values():
        if node.type != "task" or node.step is None:
            continue
        if node.blueprint is not None:
            sweep = _blueprint_sweep(cfg, node, diags)
            if sweep is not None:
                sweeps[node.name] = sweep
        elif node.name in option_sweeps:
            origin = "--sweep" if opts.sweeps_location is None else "pipec.toml [sweeps]"
            sweeps[node.name] = _option_sweep(node, option_sweeps[node.name], origin, opts.sweeps_location)
        elif node.name in metadata_fed:
            e = metadata_fed[node.name]
            # A metadata value may be a list; the task node runs once per item (run-time fan-out).
            sweeps[node.name] = ir.Sweep(
                kind=ir.SweepKind.RUNTIME, size=0, origin="metadata",
                fanout=ir.RuntimeFanout(source=e.source[0], key=e.source[2], param=e.target[2]),
                location=doc.locate(e.path),
            )
        else:
            diags.warning(
                f"task node '{node.name}' has no parameter grid, so it runs one execution",
                doc.locate(node.path + ("type",)),
                f"reference a task blueprint with 'task:', or pass --sweep {node.name}.PARAM=v1,v2 "
                "(or a [sweeps] table in pipec.toml)",
            )
    if diags.has_errors:
        return None

    fed = {(e.target[0], e.target[2]) for e in edges if e.target[1] == "input"}
    jobs: dict[str, ir.Job] = {}
    for node in nodes.values():
        if node.remote:
            continue  # reported above (an error when compiling)
        job = _job(cfg, node, {slot for (n, slot) in fed if n == node.name}, diags)
        sweep = sweeps.get(node.name)
        group = None
        if node.blueprint is not None and _task_type(node.blueprint) == "distributed":
            group = node.name
        jobs[node.name] = _replace(job, sweep=sweep, group=group)
    if len(jobs) < len(nodes):
        return None

    # Static values carried by edges and pipeline parameters.
    for e in edges:
        (sn, st, sk), (tn, tt, tk) = e.source, e.target
        if st == "parameter":
            src = jobs[sn].param(sk)
            if src is None or jobs[tn].param(tk) is None:
                continue  # warned above: nothing to copy
            if jobs[sn].sweep is not None and sk in jobs[sn].sweep.names:
                diags.error(f"pipeline '{pname}': parameter '{sk}' of '{sn}' differs per execution; "
                            "it cannot be copied to a single value", doc.locate(e.source_path))
                continue
            jobs[tn] = _set_param(jobs[tn], tk, src.value if src else None)
        elif st == "environment-variable":
            value = next((v.value for v in jobs[sn].env if v.name == sk), None)
            if value is None:
                diags.error(f"pipeline '{pname}': node '{sn}' has no environment variable '{sk}' with a value",
                            doc.locate(e.source_path), _did_you_mean(sk, [v.name for v in jobs[sn].env]))
                continue
            env = tuple(v for v in jobs[tn].env if v.name != tk) + (ir.EnvVar(tk, value, doc.locate(e.target_path)),)
            jobs[tn] = _replace(jobs[tn], env=env)
    params: list[ir.PipelineParam] = []
    for p, path, targets in pparams:
        value = p.get("default")
        for node_name, pkey in targets:
            job = jobs.get(node_name)
            if job is None:
                continue
            if job.sweep is not None and pkey in job.sweep.names:
                diags.warning(f"pipeline parameter '{p['name']}': node '{node_name}' sweeps '{pkey}', so the sweep decides it",
                              doc.locate(path + ("name",)))
            jobs[node_name] = _set_param(job, pkey, value)
        params.append(ir.PipelineParam(p["name"], value, tuple(targets), p.get("description"), doc.locate(path + ("name",))))
    if diags.has_errors:
        return None

    deps = tuple(
        ir.Dependency(e.source[0], e.target[0], EDGE_KINDS[(e.source[1], e.target[1])], e.source[2], e.target[2],
                      doc.locate(e.path))
        for e in edges
    )
    groups = tuple(
        ir.Group(name=j.id, lead=j.id, members=(j.id,), location=j.location) for j in jobs.values() if j.group
    )
    return ir.Workflow(
        name=pname, jobs=tuple(jobs.values()), dependencies=deps, params=tuple(params), groups=groups,
        dialect=DIALECT, source_file=doc.file, location=doc.locate(pipeline.path + ("name",)),
    )


def _replace(job: ir.Job, **changes: Any) -> ir.Job:
    from dataclasses import replace

    return replace(job, **changes)


def _set_param(job: ir.Job, name: str, value: Any) -> ir.Job:
    params = tuple(_replace(p, value=(
        [value] if p.cli.multiple and value is not None and not isinstance(value, list) else value
    )) if p.name == name else p for p in job.params)
    return _replace(job, params=params)


# --------------------------------------------------------------------------------------------
# Entry point


def load(doc: Document, diags: Diagnostics, opts: Options) -> list[ir.Workflow]:
    """Validate the document and return its workflows (one per selected pipeline, or one per
    step in a steps-only file). Returns [] when there are errors; all of them are in `diags`."""
    if doc.data is None:  # the driver reports empty files
        return []
    bad = schema_validate(doc, "valohai", diags) | _check_numbers(doc, diags)
    if -1 in bad:
        return []
    cfg = _collect(doc, bad, diags)
    linters = {"step": _lint_step, "task": _lint_task, "deployment": _lint_deployment}
    for item in cfg.items:
        if item.kind in linters:
            linters[item.kind](cfg, item, diags)

    if opts.pipeline is not None and opts.pipeline not in cfg.pipelines:
        raise UsageError(_unknown("pipeline", opts.pipeline, list(cfg.pipelines)))
    if opts.step is not None and opts.step not in cfg.steps:
        raise UsageError(_unknown("step", opts.step, list(cfg.steps)))
    workflows: list[ir.Workflow] = []
    has_pipelines = bool(cfg.pipelines or cfg.broken_names.get("pipelines"))
    if has_pipelines and opts.step is None:
        for pipeline in (i for i in cfg.items if i.kind in ("pipeline", "blueprint")):
            # Every pipeline is checked (a shadowed duplicate too); only the selected ones,
            # and of duplicates only the last, are returned.
            selected = (opts.pipeline is None or opts.pipeline == pipeline.name) and cfg.pipelines[pipeline.name] is pipeline
            wf = _pipeline_workflow(cfg, pipeline, opts if selected else Options(for_compile=opts.for_compile), diags)
            if wf is not None and selected:
                workflows.append(wf)
    elif not diags.has_errors:
        for name, step in cfg.steps.items():
            if opts.step is None or opts.step == name:
                workflows.append(_step_workflow(cfg, step))
    if diags.has_errors:
        return []
    return workflows


def _unknown(what: str, name: str, names: list[str]) -> str:
    guess = did_you_mean(name, names)
    listing = ", ".join(repr(n) for n in names) or "none"
    return f"no {what} named '{name}'" + (f"; did you mean '{guess}'?" if guess else f" (the file has: {listing})")
