"""Valohai's pipeline creation payload (`pipec compile --target valohai-api`), generated from the
front end's own model as valohai-yaml's PipelineConverter builds it (../shared/reference/valohai.md
§7; `vh pipeline convert-to-api` prints the same): `{"edges": [...], "nodes": [...],
"parameters": {...}}`, key for key and in the same order. The IR is not used: it no longer knows
which node runs which commit, the step definitions as written, node actions or task blueprints.

Two differences from upstream, on purpose:
- `reuse-executions: true` is kept, as the payload's top-level `"reuse_executions": true` (the
  converter drops it: valohai-cli issue #331); false, the default, stays out as upstream leaves it.
- An input the converter crashes on (a missing step or task blueprint, a date, a blueprint's
  variant parameters merged into another commit's override) is a located error instead.

With a project, the payload becomes the body of the API's POST /api/v0/pipelines/, as
`vh pipeline run` sends it: `{"project": ID, "title": TITLE or the pipeline's name, "tags": [],
...payload}`.
"""

from __future__ import annotations

import copy
import datetime
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from pipec.errors import Diagnostics, Location
from pipec.frontends import UsageError
from pipec.frontends.valohai.checks import lint_deployment, lint_step, lint_task, task_type
from pipec.frontends.valohai.model import (
    Config,
    Item,
    Node,
    Options,
    check_numbers,
    collect,
    did_you_mean_hint,
    listify,
)
from pipec.frontends.valohai.pipeline import check_edges, lint_actions, parse_edges, pipeline_params, resolve_node
from pipec.loader import Document, Path
from pipec.schema import validate as schema_validate

TARGET = "valohai-api"


@dataclass(frozen=True)
class Payload:
    pipeline: str  # the pipeline's name
    location: Location  # where the pipeline is defined
    body: dict[str, Any]


def load_model(doc: Document, diags: Diagnostics) -> Config | None:
    """The document validated item by item (schema, numbers, every step, task blueprint and
    deployment), as the front end's `load` does; None when the document is not a Valohai list."""
    bad = schema_validate(doc, "valohai", diags) | check_numbers(doc, diags)
    if -1 in bad:
        return None
    cfg = collect(doc, bad, diags)
    linters = {"step": lint_step, "task": lint_task, "deployment": lint_deployment}
    for item in cfg.items:
        if item.kind in linters:
            linters[item.kind](cfg, item, diags)
    return cfg


def payloads(cfg: Config, diags: Diagnostics, *, commit: str, title: str | None = None, project: str | None = None,
             pipelines: Iterable[str] = ()) -> list[Payload]:
    """One payload per selected pipeline (every pipeline when none is selected), in file order;
    with `project`, the full request body. Every pipeline is checked; [] when there are errors
    (all in `diags`). An unknown pipeline name raises UsageError."""
    wanted = list(dict.fromkeys(pipelines))
    for name in wanted:
        if name not in cfg.pipelines:
            listing = ", ".join(repr(n) for n in cfg.pipelines) or "none"
            hint = did_you_mean_hint(name, list(cfg.pipelines))
            raise UsageError(f"no pipeline named '{name}'" + (f"; {hint}" if hint else f" (the file has: {listing})"))
    doc = cfg.doc
    if not cfg.pipelines and not cfg.broken_names.get("pipelines"):
        diags.error(f"{doc.file} holds no pipeline; --target {TARGET} converts pipelines", doc.locate(()),
                    "add a '- pipeline:' item (steps alone have no pipeline payload)")
    out: list[Payload] = []
    for pipeline in (i for i in cfg.items if i.kind in ("pipeline", "blueprint")):
        # Every pipeline is checked (a shadowed duplicate too); the selected ones, and of
        # duplicates only the last, are converted.
        nodes = _check(cfg, pipeline, commit, diags)
        if (not wanted or pipeline.name in wanted) and cfg.pipelines[pipeline.name] is pipeline:
            _check_json(cfg, pipeline, nodes, diags)
            if not diags.has_errors:
                body = convert(cfg, pipeline, nodes, commit)
                if project is not None:
                    body = {"project": project, "title": title or pipeline.name, "tags": [], **body}
                out.append(Payload(pipeline.name, doc.locate(pipeline.path + ("name",)), body))
    return [] if diags.has_errors else out


# ------------------------------------------------------------------------------ checks
def is_local(data: Mapping[str, Any], commit: str) -> bool:
    """Whether a node runs the step this file defines: as in the converter, a node without a
    commit or with the one being converted for; a node naming another commit runs that
    commit's step, which the payload only overrides."""
    node_commit = _str_or_none(data.get("commit"))
    return node_commit is None or node_commit == commit


def _check(cfg: Config, pipeline: Item, commit: str, diags: Diagnostics) -> dict[str, Node]:
    doc = cfg.doc
    nodes: dict[str, Node] = {}
    for i, data in enumerate(pipeline.data.get("nodes") or []):
        where = pipeline.path + ("nodes", i)
        if data["name"] in nodes:
            first = doc.locate(nodes[data["name"]].path + ("name",))
            diags.error(f"pipeline '{pipeline.name}' has two nodes named '{data['name']}' (the first at line "
                        f"{first.line})", doc.locate(where + ("name",)))
            continue
        if data["type"] == "deployment" or is_local(data, commit):
            # The node's own commit (when it is the one converted for) changes nothing here.
            local = {k: v for k, v in data.items() if k != "commit"}
            nodes[data["name"]] = resolve_node(cfg, pipeline, i, local, Options(), diags)
        else:
            nodes[data["name"]] = _remote_node(cfg, pipeline, i, data, diags)
        if "." in data["name"]:
            diags.warning(f"pipeline '{pipeline.name}': node name '{data['name']}' contains '.', so no edge can "
                          "address it", doc.locate(where + ("name",)), "edges split sockets at the first two dots", code="PC109")
    for node in nodes.values():
        _lint_actions(doc, node, diags)
    check_edges(cfg, pipeline, nodes, parse_edges(cfg, pipeline, diags), diags)
    pipeline_params(cfg, pipeline, nodes, diags)
    return nodes


def _remote_node(cfg: Config, pipeline: Item, index: int, data: dict[str, Any], diags: Diagnostics) -> Node:
    """A node running another commit's step: nothing of the step can be checked here, but a task
    blueprint is still read from this file."""
    doc = cfg.doc
    path = pipeline.path + ("nodes", index)
    node = Node(data["name"], data["type"], data, path, remote=True)
    if data.get("task") is None:
        return node
    node.blueprint = cfg.tasks.get(data["task"])
    if node.blueprint is None:
        if data["task"] not in cfg.broken_names.get("tasks", set()):
            diags.error(f"pipeline '{pipeline.name}' node '{node.name}': task blueprint '{data['task']}' does not "
                        "exist", doc.locate(path + ("task",)), did_you_mean_hint(data["task"], list(cfg.tasks)))
        return node
    over = (data.get("override") or {}).get("parameters")
    if over and _variant_parameters(node.blueprint.data):
        diags.error(
            f"pipeline '{pipeline.name}' node '{node.name}' runs commit '{_str_or_none(data['commit'])}' and takes "
            f"parameter variants from task blueprint '{node.blueprint.name}': Valohai's converter cannot add them to "
            "the override's parameters (it fails on this node)", doc.locate_key(path + ("override", "parameters")),
            "set the values in the blueprint, or drop the node's commit to use this file's step",
        )
    return node


def _lint_actions(doc: Document, node: Node, diags: Diagnostics) -> None:
    found = Diagnostics()
    lint_actions(doc, node, found)
    # The engines pipec compiles for ignore node actions (lint_actions says so); the payload carries them.
    ignored = f"node '{node.name}': node actions run on the Valohai platform only; pipec ignores this one"
    diags.extend(d for d in found.items if d.message != ignored)


def _check_json(cfg: Config, pipeline: Item, nodes: Mapping[str, Node], diags: Diagnostics) -> None:
    """Report what the payload would carry that JSON cannot (YAML dates and binary)."""
    items = {id(pipeline): pipeline}
    for node in nodes.values():
        for item in (node.step, node.blueprint):
            if item is not None:
                items[id(item)] = item
    for item in items.values():
        for path, what in _not_json(item.data, item.path):
            diags.error(f"{what} is not a JSON value, so the API payload cannot carry it", cfg.doc.locate(path),
                        "put it in quotes to pass it as text")


def _not_json(value: Any, path: Path) -> Iterable[tuple[Path, str]]:
    if isinstance(value, dict):  # the loader makes every key a string
        for key, item in value.items():
            yield from _not_json(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _not_json(item, path + (i,))
    elif not (value is None or isinstance(value, (str, int, float, bool))):
        yield path, f"the {type(value).__name__} {value}"


# -------------------------------------------------------------------------- conversion
def convert(cfg: Config, pipeline: Item, nodes: Mapping[str, Node], commit: str) -> dict[str, Any]:
    """The payload of a checked pipeline (`PipelineConverter.convert_pipeline`)."""
    data = pipeline.data
    payload: dict[str, Any] = {
        "edges": [_edge(e) for e in data.get("edges") or []],
        "nodes": [_node(cfg, nodes[n["name"]], n, commit) for n in data.get("nodes") or []],
        "parameters": {},
    }
    for p in data.get("parameters") or []:
        payload["parameters"][p["name"]] = _pipeline_parameter(p)
    if data.get("reuse-executions"):
        payload["reuse_executions"] = True
    return payload


def _edge(raw: list[str] | dict[str, Any]) -> dict[str, Any]:
    source, target, configuration = (raw[0], raw[1], None) if isinstance(raw, list) else (
        raw["source"], raw["target"], raw.get("configuration"))
    (sn, st, sk), (tn, tt, tk) = source.split(".", 2), target.split(".", 2)
    edge = {"source_node": sn, "source_type": st, "source_key": sk, "target_node": tn, "target_type": tt,
            "target_key": tk}
    if configuration:
        edge["configuration"] = copy.deepcopy(configuration)
    return edge


def _pipeline_parameter(p: Mapping[str, Any]) -> dict[str, Any]:
    targets = [p["target"]] if "target" in p else p.get("targets")
    config = _item({
        "name": p["name"],
        "targets": [targets] if isinstance(targets, str) else list(targets or []),
        "default": copy.deepcopy(p.get("default")),
        "category": _str_or_none(p.get("category")),
        "description": _str_or_none(p.get("description")),
    })
    value = p["default"] if p.get("default") is not None else ""
    expression = {"style": "single", "rules": {"value": copy.deepcopy(value)}} if isinstance(value, list) else value
    return {"config": config, "expression": expression}


def _node(cfg: Config, node: Node, data: Mapping[str, Any], commit: str) -> dict[str, Any]:
    """`Node.serialize()` without the step, task, commit and override, plus the template (or,
    for a deployment node, the commit and endpoint configurations)."""
    out: dict[str, Any] = {"name": data["name"]}
    actions = [_action(a) for a in data.get("actions") or []]
    if actions:
        out["actions"] = actions
    if node.type == "deployment":
        endpoints = list(data.get("endpoints") or [])
        out["aliases"] = list(data.get("aliases") or [])
        out["deployment"] = data["deployment"]
        out["endpoints"] = endpoints
    elif _lower(data.get("edge-merge-mode")) == "append":
        out["edge-merge-mode"] = "append"
    on_error = _lower(data.get("on-error"))
    if on_error not in (None, "none", "stop-all"):
        out["on-error"] = on_error
    out["type"] = node.type
    if node.type == "deployment":
        out["commit"] = commit
        # In the file's order of endpoints, those the node names.
        out["endpoint_configurations"] = {name: {"files": {}, "enabled": True} for name in cfg.endpoints
                                          if name in endpoints}
        return out
    out["template"] = _template(node, data, commit)
    return out


def _action(action: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "if": list(listify(action.get("if"))),
        "then": list(listify(action.get("then"))),
        "when": sorted({str(w).lower() for w in listify(action.get("when"))}),
    }


def _template(node: Node, data: Mapping[str, Any], commit: str) -> dict[str, Any]:
    blueprint = node.blueprint
    step_name = blueprint.data["step"] if blueprint is not None else data["step"]
    override: dict[str, Any] | None = data.get("override")
    if is_local(data, commit):
        assert node.step is not None  # checked
        step = _local_step(node.step.data, override or {})
    else:
        step = _override(override) if override is not None else {}
    template = {"commit": _str_or_none(data.get("commit")) or commit, "step": step_name, **step}
    if blueprint is not None:
        fields, variants = _blueprint(blueprint)
        template.update(fields)
        if variants:
            template.setdefault("parameters", {}).update(variants)
    return template


def _local_step(step: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """The step as `Step.serialize()` writes it, its no-output-timeout moved to runtime_config,
    then the node's override merged in (`Override.merge_with_step`, `serialize_to_template`):
    parameters, inputs and environment variables become {name: default}."""
    out = _step(step)
    runtime_config = out.setdefault("runtime_config", {})
    if "no-output-timeout" in out:
        runtime_config["no_output_timeout"] = out.pop("no-output-timeout")
    params = {**_named(step.get("parameters")), **_named(override.get("parameters"))}
    inputs = {**_named(step.get("inputs")), **_named(override.get("inputs"))}
    env = {**_named(step.get("environment-variables")), **_named(override.get("environment-variables"))}
    # Override.serialize() of the merged override (its keys in that order; the three maps are
    # filled in below, where serialize_to_template puts them).
    template: dict[str, Any] = {}
    if override.get("image"):
        template["image"] = override["image"]
    if override.get("command"):
        template["command"] = copy.deepcopy(override["command"])
    if params:
        template["parameters"] = None
    if inputs:
        template["inputs"] = None
    mounts = [_mount(m) for m in override.get("mounts") or []]
    if mounts:
        template["mounts"] = mounts
    for key in ("environment", "runtime-config-preset"):
        if override.get(key):
            template[key] = str(override[key])
    if env:
        template["environment-variables"] = None
    template["inputs"] = {name: copy.deepcopy(listify(i.get("default"))) for name, i in inputs.items()}
    template["parameters"] = {name: _param_default(p) for name, p in params.items()}
    if env:
        template["environment-variables"] = {name: e.get("default") for name, e in env.items()}
    out.update(template)
    return out


def _step(step: Mapping[str, Any]) -> dict[str, Any]:
    """`Step.serialize()`: name, image, command, then the rest in its fixed order, unset and
    empty values left out."""
    out: dict[str, Any] = {"name": step["name"], "image": step["image"], "command": copy.deepcopy(step["command"])}
    fields = (
        ("parameters", [_parameter(p) for p in _named(step.get("parameters")).values()]),
        ("inputs", [_input(i) for i in _named(step.get("inputs")).values()]),
        ("mounts", [_mount(m) for m in step.get("mounts") or []]),
        ("cache-volumes", [str(v) for v in step.get("cache-volumes") or [] if v]),
        ("outputs", copy.deepcopy(list(step.get("outputs") or []))),
        ("environment", _str_or_none(step.get("environment"))),
        ("runtime-config-preset", _str_or_none(step.get("runtime-config-preset"))),
        ("environment-variables", [_env(e) for e in _named(step.get("environment-variables")).values()]),
        ("environment-variable-groups", [str(g) for g in step.get("environment-variable-groups") or [] if g]),
        ("description", step.get("description")),
        ("time-limit", _seconds(step.get("time-limit"))),
        ("no-output-timeout", _seconds(step.get("no-output-timeout"))),
        ("icon", _str_or_none(step.get("icon"))),
        ("category", _str_or_none(step.get("category"))),
        ("source-path", step.get("source-path")),
        ("resources", _resources(step.get("resources"))),
        ("stop-condition", step.get("stop-condition")),
        ("upload-store", _str_or_none(step.get("upload-store"))),
    )
    for key, value in fields:
        if value is not None and value != []:
            out[key] = value
    return out


def _override(override: Mapping[str, Any]) -> dict[str, Any]:
    """`Override.serialize()`: what a node sets, each list as YAML-shaped items."""
    fields = (
        ("image", override.get("image")),
        ("command", copy.deepcopy(override.get("command"))),
        ("parameters", [_parameter(p) for p in _named(override.get("parameters")).values()]),
        ("inputs", [_input(i) for i in _named(override.get("inputs")).values()]),
        ("mounts", [_mount(m) for m in override.get("mounts") or []]),
        ("environment", _str_or_none(override.get("environment"))),
        ("runtime-config-preset", _str_or_none(override.get("runtime-config-preset"))),
        ("environment-variables", [_env(e) for e in _named(override.get("environment-variables")).values()]),
    )
    return {key: value for key, value in fields if value}


def _blueprint(blueprint: Item) -> tuple[dict[str, Any], dict[str, Any]]:
    """`Task.serialize_to_template()`: the task's fields as the template names them, and its
    variant parameters (parameter sets become one `multiple` list per parameter)."""
    task = blueprint.data
    fields: dict[str, Any] = {"type": task_type(blueprint)}
    child = task.get("on-child-error")
    values = (
        (("maximum_queued_executions",), task.get("maximum-queued-executions")),
        (("on_child_error",), str(child).lower().replace("_", "-") if child else None),
        (("stop_expression",), task.get("stop-condition")),
        (("allow_reuse",), task.get("reuse-children", False)),
        (("configuration", "engine"), task.get("engine")),
        (("configuration", "execution_count"), task.get("execution-count")),
        (("configuration", "execution_batch_size"), task.get("execution-batch-size")),
        (("configuration", "optimization_target_metric"), task.get("optimization-target-metric")),
        (("configuration", "optimization_target_value"), task.get("optimization-target-value")),
    )
    for path, value in values:
        if value is not None and value != []:
            target = fields
            for key in path[:-1]:
                target = target.setdefault(key, {})
            target[path[-1]] = copy.deepcopy(value)
    return fields, _variant_parameters(task)


def _variant_parameters(task: Mapping[str, Any]) -> dict[str, Any]:
    variants: dict[str, Any] = {
        vp["name"]: {"style": _lower(vp.get("style")) or "single", "rules": copy.deepcopy(vp["rules"])}
        for vp in task.get("parameters") or []
    }
    columns: dict[str, list[Any]] = {}
    for row in task.get("parameter-sets") or []:
        for name, value in (row or {}).items():
            columns.setdefault(name, []).append(copy.deepcopy(value))
    for name, items in columns.items():
        variants[name] = {"style": "multiple", "rules": {"items": items}}
    return variants


# ------------------------------------------------------------------- YAML-shaped items
def _item(values: Mapping[str, Any]) -> dict[str, Any]:
    """`Item.serialize()`: `name` first, the other attributes sorted, unset ones left out, `_`
    spelled `-`."""
    keys = sorted(values, key=lambda k: "\t" if k == "name" else k)
    return {k.replace("_", "-"): values[k] for k in keys if values[k] is not None}


def _parameter(p: Mapping[str, Any]) -> dict[str, Any]:
    flag = p.get("type", "string") == "flag"
    multiple = _multiple(p.get("multiple"))
    return _item({
        "name": p["name"],
        "type": p.get("type", "string"),
        "optional": None if flag else bool(p.get("optional", False)),
        "min": p.get("min"),
        "max": p.get("max"),
        "description": p.get("description"),
        "pass_as": p.get("pass-as"),
        "pass_true_as": p.get("pass-true-as") if flag else None,
        "pass_false_as": p.get("pass-false-as") if flag else None,
        "choices": None if flag or not p.get("choices") else copy.deepcopy(list(p["choices"])),
        "multiple": multiple,
        "multiple_separator": str(p.get("multiple-separator") or ",") if multiple else None,
        "widget": _widget(p.get("widget")),
        "category": _str_or_none(p.get("category")),
        "default": _param_default(p),
    })


def _param_default(p: Mapping[str, Any]) -> Any:
    default = copy.deepcopy(p.get("default"))
    return listify(default) if _multiple(p.get("multiple")) else default


def _multiple(value: Any) -> str | None:
    mode = _lower(value)
    return None if mode in (None, "none") else mode


def _widget(widget: Any) -> Any:
    if widget is None:
        return None
    if isinstance(widget, dict):
        kind = str(widget["type"]).lower()
        settings = dict(widget.get("settings") or {})
        return {"type": kind, "settings": copy.deepcopy(settings)} if settings else kind
    return str(widget).lower()


def _input(i: Mapping[str, Any]) -> dict[str, Any]:
    keep = i.get("keep-directories")
    keep_mode = None if not keep else "full" if keep is True else str(keep).lower()
    download = _lower(i.get("download"))
    return _item({
        "name": i["name"],
        "default": copy.deepcopy(i.get("default")),
        "optional": bool(i.get("optional", False)),
        "description": i.get("description"),
        "keep_directories": None if keep_mode == "none" else keep_mode,
        "filename": i.get("filename"),
        "download": None if download == "always" else download,
    })


def _env(e: Mapping[str, Any]) -> dict[str, Any]:
    return _item({"name": e["name"], "default": e.get("default"), "optional": bool(e.get("optional", True)),
                  "description": e.get("description")})


def _mount(m: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(m, str):
        source, _, destination = m.partition(":")
        m = {"source": source, "destination": destination}
    options = {str(k): copy.deepcopy(v) for k, v in (m.get("options") or {}).items() if v is not None}
    return _item({
        "source": m["source"],
        "destination": m["destination"],
        "readonly": bool(m.get("readonly", False)),
        "type": str(m["type"]).lower() if m.get("type") else None,
        "options": options or None,
    })


def _resources(res: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`WorkloadResources.get_data()`: cpu and memory {max, min} when set, devices as written."""
    res = res or {}
    out: dict[str, Any] = {}
    for key in ("cpu", "memory"):
        part = res.get(key) or {}
        values = {k: part[k] for k in ("max", "min") if part.get(k) is not None}
        if values:
            out[key] = values
    if res.get("devices") is not None:
        out["devices"] = copy.deepcopy(res["devices"])
    return out or None


_DURATION = re.compile(r"(?P<value>[.\d]+)\s*(?P<suffix>[a-z]*)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _seconds(value: Any) -> int | None:
    """A duration as valohai-yaml serializes it: whole seconds, truncated; None when unset or
    zero. The front end's checks have accepted the text."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        total = sum(float(m["value"]) * _UNIT_SECONDS[m["suffix"][0]] for m in _DURATION.finditer(value))
    else:
        total = float(value)
    delta = datetime.timedelta(seconds=total)
    return int(delta.total_seconds()) if delta else None


def _named(entries: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Entries by name, as valohai-yaml keeps them: a later one replaces an earlier one in its place."""
    return {e["name"]: e for e in entries or []}


def _str_or_none(value: Any) -> str | None:
    return str(value) if value else None


def _lower(value: Any) -> str | None:
    return str(value).lower() if value else None
