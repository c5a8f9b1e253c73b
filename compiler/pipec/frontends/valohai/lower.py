"""Lowering to the IR: one job per node, dependencies per edge, values carried by
parameter and environment edges and pipeline parameters copied in.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from pipec import ir
from pipec.errors import Diagnostics
from pipec.frontends import UsageError
from pipec.frontends.valohai.checks import task_type
from pipec.frontends.valohai.command import VALOHAI_LAYOUT, ir_param
from pipec.frontends.valohai.command import command as build_command
from pipec.frontends.valohai.endpoints import server
from pipec.frontends.valohai.model import (
    DEFAULT_RETRIES,
    DIALECT,
    EDGE_KINDS,
    Config,
    Item,
    Node,
    Options,
    did_you_mean_hint,
    listify,
)
from pipec.frontends.valohai.pipeline import (
    check_edges,
    lint_actions,
    merge_named,
    parse_edges,
    pipeline_params,
    resolve_node,
)
from pipec.frontends.valohai.sweeps import blueprint_sweep, option_sweep
from pipec.frontends.valohai.values import parse_duration
from pipec.schema import did_you_mean


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
        servers: dict[str, ir.Endpoint] = {}
        for ep_name in endpoints:
            ep = cfg.endpoints.get(ep_name)
            for f in (ep.data.get("files") or []) if ep else []:
                files.append((f"{ep_name}.{f['name']}", f["path"]))
            if ep is not None and ep_name not in servers:
                found = server(cfg, ep, _resources(ep.data, None), diags)
                if found is not None:
                    servers[ep_name] = found
        deployment = ir.Deployment(node.data["deployment"], endpoints, tuple(node.data.get("aliases") or ()),
                                   tuple(files), tuple(servers.values()))
        return ir.Job(
            id=node.name, name=node.name, kind=ir.JobKind.DEPLOYMENT, on_error=on_error, deployment=deployment,
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
        urls = tuple(str(u) for u in listify(spec.get("default")))
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
        command=build_command([str(c) for c in listify(command)], list(node.params), step.get("source-path")),
        env=tuple(env),
        resources=_resources(step, environment),
        timeout_seconds=parse_duration(step["time-limit"]) if step.get("time-limit") is not None else None,
        retries=retries,
        inputs=tuple(inputs),
        params=tuple(ir_param(p, doc.locate(node.param_paths[n])) for n, p in node.params.items()),
        on_error=on_error,
        step=node.step.name,
        location=loc,
    )


def step_workflow(cfg: Config, step: Item) -> ir.Workflow:
    doc = cfg.doc
    node = Node(step.name, "execution", {"name": step.name, "type": "execution", "step": step.name}, step.path, step=step)
    merge_named(step.data.get("parameters") or [], step.path + ("parameters",), [], (), node.params, node.param_paths)
    merge_named(step.data.get("inputs") or [], step.path + ("inputs",), [], (), node.inputs, node.input_paths)
    merge_named(step.data.get("environment-variables") or [], step.path + ("environment-variables",), [], (),
                 node.env, node.env_paths)
    job = _job(cfg, node, set(), Diagnostics())
    return ir.Workflow(name=step.name, jobs=(job,), layout=VALOHAI_LAYOUT, dialect=DIALECT, source_file=doc.file,
                       location=doc.locate(step.path + ("name",)))


def pipeline_workflow(cfg: Config, pipeline: Item, opts: Options, diags: Diagnostics) -> ir.Workflow | None:
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
        nodes[nd["name"]] = resolve_node(cfg, pipeline, i, nd, opts, diags)
        if "." in nd["name"]:
            diags.warning(f"pipeline '{pname}': node name '{nd['name']}' contains '.', so no edge can address it",
                          doc.locate(pipeline.path + ("nodes", i, "name")), "edges split sockets at the first two dots", code="PC109")
    for node in nodes.values():
        lint_actions(doc, node, diags)
    edges = check_edges(cfg, pipeline, nodes, parse_edges(cfg, pipeline, diags), diags)
    pparams = pipeline_params(cfg, pipeline, nodes, diags)

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
            sweep = blueprint_sweep(cfg, node, diags)
            if sweep is not None:
                sweeps[node.name] = sweep
        elif node.name in option_sweeps:
            origin = "--sweep" if opts.sweeps_location is None else "pipec.toml [sweeps]"
            sweeps[node.name] = option_sweep(node, option_sweeps[node.name], origin, opts.sweeps_location)
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
                "(or a [sweeps] table in pipec.toml)", code="PC110",
            )
    if diags.has_errors:
        return None

    fed: dict[str, set[str]] = {}  # node -> input slots that edges fill
    for e in edges:
        if e.target[1] == "input":
            fed.setdefault(e.target[0], set()).add(e.target[2])
    jobs: dict[str, ir.Job] = {}
    for node in nodes.values():
        if node.remote:
            continue  # reported above (an error when compiling)
        job = _job(cfg, node, fed.get(node.name, set()), diags)
        sweep = sweeps.get(node.name)
        group = None
        if node.blueprint is not None and task_type(node.blueprint) == "distributed":
            group = node.name
        jobs[node.name] = replace(job, sweep=sweep, group=group)
    if len(jobs) < len(nodes):
        return None

    # Static values carried by edges and pipeline parameters.
    for e in edges:
        (sn, st, sk), (tn, _, tk) = e.source, e.target
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
                            doc.locate(e.source_path), did_you_mean_hint(sk, [v.name for v in jobs[sn].env]))
                continue
            env = tuple(v for v in jobs[tn].env if v.name != tk) + (ir.EnvVar(tk, value, doc.locate(e.target_path)),)
            jobs[tn] = replace(jobs[tn], env=env)
    params: list[ir.PipelineParam] = []
    for p, path, targets in pparams:
        value = p.get("default")
        for node_name, pkey in targets:
            job = jobs.get(node_name)
            if job is None:
                continue
            if job.sweep is not None and pkey in job.sweep.names:
                diags.warning(f"pipeline parameter '{p['name']}': node '{node_name}' sweeps '{pkey}', so the sweep decides it",
                              doc.locate(path + ("name",)), code="PC111")
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
        layout=VALOHAI_LAYOUT, dialect=DIALECT, source_file=doc.file, location=doc.locate(pipeline.path + ("name",)),
    )



def _set_param(job: ir.Job, name: str, value: Any) -> ir.Job:
    params = tuple(replace(p, value=(
        [value] if p.multiple and value is not None and not isinstance(value, list) else value
    )) if p.name == name else p for p in job.params)
    return replace(job, params=params)
