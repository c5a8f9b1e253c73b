"""Pipelines: nodes resolved against their steps and overrides, edges parsed and checked
against the real inputs and parameters, node actions, pipeline parameters.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Mapping

from pipec import ir
from pipec.errors import Diagnostics
from pipec.frontends.valohai.checks import lint_param, param_value_problem
from pipec.frontends.valohai.model import (
    DEPLOYMENT_FACTS,
    EDGE_KINDS,
    EDGE_TYPES,
    WELL_KNOWN_THEN,
    WELL_KNOWN_WHEN,
    Config,
    Edge,
    Item,
    Node,
    Options,
    did_you_mean_hint,
    listify,
)
from pipec.frontends.valohai.values import ValueSyntaxError, check_expression
from pipec.loader import Document, Path


def merge_named(base: list[dict[str, Any]], base_path: Path, over: list[dict[str, Any]], over_path: Path,
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


def resolve_node(cfg: Config, pipeline: Item, index: int, data: dict[str, Any], opts: Options,
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
                    doc.locate(path + ("task",)), did_you_mean_hint(data["task"], list(cfg.tasks)),
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
                diags.warning(message + "; compiling it will fail", doc.locate(path + ("commit",)), hint, code="PC114")
            return node
        where = path + ("step",) if node.blueprint is None else node.blueprint.path + ("step",)
        what = (
            f"step '{step_name}' does not exist" if node.blueprint is None
            else f"task '{node.blueprint.name}': the blueprint's step '{step_name}' does not exist"
        )
        diags.error(f"pipeline '{pname}' node '{node.name}' {what}", doc.locate(where),
                    did_you_mean_hint(str(step_name), list(cfg.steps)))
        return node
    node.step = step
    if data.get("commit") is not None:
        diags.warning(
            f"node '{node.name}' names commit '{data['commit']}'; pipec uses the step '{step.name}' defined in this file",
            doc.locate(path + ("commit",)), code="PC115",
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
                    did_you_mean_hint(entry["name"], [e["name"] for e in step_entries]),
                )
        merge_named(step_entries, spath + (key,), over_entries, opath + (key,), into, paths)
    for i, _ in enumerate(override.get("parameters") or []):
        lint_param(doc, f"node '{node.name}'", node.params[override["parameters"][i]["name"]], opath + ("parameters", i), diags)
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


def parse_edges(cfg: Config, pipeline: Item, diags: Diagnostics) -> list[Edge]:
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


def check_edges(cfg: Config, pipeline: Item, nodes: dict[str, Node], edges: list[Edge], diags: Diagnostics) -> list[Edge]:
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
                            did_you_mean_hint(node_name, list(nodes)))
                ok = False
            elif etype not in EDGE_TYPES:
                diags.error(f"pipeline '{pname}': edge {role} type '{etype}' is not valid", doc.locate(where),
                            did_you_mean_hint(etype.rstrip("s") if etype.endswith("s") else etype, EDGE_TYPES)
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
                              doc.locate(e.path), code="PC104")
            else:
                diags.error(f"pipeline '{pname}': edge connects node '{sn}' to itself", doc.locate(e.path))
            continue
        if not _check_edge_ends(cfg, pname, e, kind, source, target, diags):
            continue
        key = (e.source, e.target)
        if key in seen:
            first = doc.locate(seen[key].path)
            diags.warning(f"pipeline '{pname}': duplicate edge (first at line {first.line})", doc.locate(e.path), code="PC105")
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
                    doc.locate(e.source_path), did_you_mean_hint(sk, DEPLOYMENT_FACTS))
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
                        doc.locate(e.target_path), did_you_mean_hint(endpoint, endpoints))
            return False
        ep = cfg.endpoints.get(endpoint)
        if ep is not None:
            files = [f["name"] for f in ep.data.get("files") or []]
            if fname not in files:
                diags.error(f"pipeline '{pname}': endpoint '{endpoint}' has no file '{fname}'", doc.locate(e.target_path),
                            did_you_mean_hint(fname, files) or (f"its files: {', '.join(files)}" if files else None))
                return False
    if not target.remote and target.step is not None:  # unresolved nodes were reported already
        if tt == "input" and tk not in target.inputs:
            diags.error(f"pipeline '{pname}': node '{tn}' has no input '{tk}'", doc.locate(e.target_path),
                        did_you_mean_hint(tk, list(target.inputs)) or _listing("inputs", target.inputs))
            ok = False
        if tt == "parameter" and tk not in target.params:
            # Harmless (the value reaches no command), like a pipeline parameter without targets.
            diags.warning(f"pipeline '{pname}': node '{tn}' declares no parameter '{tk}'; the value reaches no command",
                          doc.locate(e.target_path),
                          did_you_mean_hint(tk, list(target.params)) or _listing("parameters", target.params), code="PC101")
    if not source.remote and source.step is not None:
        if st == "parameter" and sk not in source.params:
            diags.warning(f"pipeline '{pname}': node '{sn}' declares no parameter '{sk}'; the edge passes no value",
                          doc.locate(e.source_path),
                          did_you_mean_hint(sk, list(source.params)) or _listing("parameters", source.params), code="PC102")
        if st == "input" and not any(fnmatch.fnmatchcase(name, sk) for name in source.inputs):
            diags.error(f"pipeline '{pname}': no input of node '{sn}' matches '{sk}'", doc.locate(e.source_path),
                        did_you_mean_hint(sk, list(source.inputs)) or _listing("inputs", source.inputs))
            ok = False
        if st == "output":
            declared = [o["name"] for o in source.step.data.get("outputs") or []]
            if declared and not any(fnmatch.fnmatchcase(name, sk) or name.startswith(sk.split("*")[0]) for name in declared):
                diags.warning(
                    f"pipeline '{pname}': '{sk}' matches none of the outputs node '{sn}' declares ({', '.join(declared)})",
                    doc.locate(e.source_path), "the glob is matched against the files the step writes to its outputs directory", code="PC103",
                )
    return ok


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _listing(what: str, names: Mapping[str, Any]) -> str:
    return f"its {what}: {', '.join(names)}" if names else f"it has no {what}"


def lint_actions(doc: Document, node: Node, diags: Diagnostics) -> None:
    for i, action in enumerate(node.data.get("actions") or []):
        apath = node.path + ("actions", i)
        whens = [str(w).lower() for w in listify(action.get("when"))]
        unknown = [w for w in whens if w not in WELL_KNOWN_WHEN]
        if unknown:
            diags.warning(f"node '{node.name}': 'when' value {', '.join(unknown)} is not well-known; the action might never run",
                          doc.locate(apath + ("when",)), did_you_mean_hint(unknown[0], WELL_KNOWN_WHEN), code="PC116")
        thens = [str(t) for t in listify(action.get("then"))]
        unknown = [t for t in thens if t not in WELL_KNOWN_THEN]
        if unknown:
            diags.warning(f"node '{node.name}': 'then' value {', '.join(unknown)} is not well-known; the action might do nothing",
                          doc.locate(apath + ("then",)), did_you_mean_hint(unknown[0], WELL_KNOWN_THEN), code="PC117")
        for j, cond in enumerate(listify(action.get("if"))):
            cpath = apath + ("if",) + ((j,) if isinstance(action.get("if"), list) else ())
            try:
                check_expression(str(cond))
            except ValueSyntaxError as exc:
                diags.error(f"node '{node.name}': action condition is not a valid expression: {exc.message}",
                            doc.locate(cpath), exc.hint)
        diags.warning(f"node '{node.name}': node actions run on the Valohai platform only; pipec ignores this one",
                      doc.locate_key(apath), code="PC118")


def pipeline_params(cfg: Config, pipeline: Item, nodes: dict[str, Node], diags: Diagnostics) -> list[tuple[dict[str, Any], Path, list[tuple[str, str]]]]:
    doc = cfg.doc
    pname = pipeline.name
    out = []
    for i, p in enumerate(pipeline.data.get("parameters") or []):
        path = pipeline.path + ("parameters", i)
        key = "targets" if "targets" in p else "target"
        raw = listify(p.get(key))
        if not raw:
            diags.warning(f"pipeline '{pname}' parameter '{p['name']}' has no targets; it sets nothing",
                          doc.locate(path + ("name",)), "add targets: [node.parameter.name]", code="PC119")
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
                            doc.locate(tpath), did_you_mean_hint(node_name, list(nodes)))
                continue
            if node.type == "deployment":
                diags.error(f"pipeline '{pname}' parameter '{p['name']}' target '{t}': '{node_name}' is a deployment node",
                            doc.locate(tpath))
                continue
            if node.step is not None and pkey not in node.params:
                diags.error(
                    f"pipeline '{pname}' parameter '{p['name']}' target '{t}': parameter '{pkey}' does not exist in step '{node.step.name}'",
                    doc.locate(tpath), did_you_mean_hint(pkey, list(node.params)) or _listing("parameters", node.params),
                )
                continue
            if node.step is not None and "default" in p:
                problem = param_value_problem(node.params[pkey], p["default"])
                if problem:
                    diags.warning(f"pipeline '{pname}' parameter '{p['name']}': default {problem}",
                                  doc.locate(path + ("default",)), code="PC120")
            targets.append((node_name, pkey))
        out.append((p, path, targets))
    return out
