"""Argo compilation of one workflow: a task per job (sweeps as loops or wrapper DAGs, groups
as daemons and a lead, a group of several jobs as one DAG task (see groups.py), stubs as
suspends, deployments as jobs or resource templates),
`depends` expressions for the failure policies, pipeline parameters as workflow arguments,
run-time values as task parameters, and each command in its container template with its
values as template parameters where its executions share it (see commands.py)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

from hera.workflows import models as m

from pipec import ir
from pipec.backends import analysis
from pipec.backends.argo import commands, groups, settings
from pipec.backends.argo.artifacts import native_kind
from pipec.backends.argo.deploy import deploy_tasks
from pipec.backends.argo.manifest import MAX_OBJECT_BYTES, document
from pipec.backends.argo.names import PARAM_NAME, RESOURCE_NAME, argo_text, pod_text
from pipec.backends.argo.resources import resources
from pipec.backends.argo.retries import retry_plan
from pipec.backends.argo.secrets import credentials, default_name
from pipec.backends.argo.secrets import problems as secret_problems
from pipec.backends.argo.tasks import Task, stop_template, task_model
from pipec.backends.argo.templates import Shape, container_template, ref_param
from pipec.backends.command import Refs, RenderError
from pipec.backends.common import JobRenderer, RuntimeValue, url_scheme
from pipec.backends.shell import quote
from pipec.config import Config
from pipec.errors import Diagnostics
from pipec.names import safe_id
from pipec.targets import (
    DEPLOY_MANIFESTS,
    GROUP_FEATURES,
    SCHEDULE_TIME_ZONES,
    TASK_FEATURES,
    Target,
)

MAX_ITEMS = 64  # product grids larger than this expand in the pod (withSequence + axis lookup)
# The longest argument or environment string Linux starts a process with (MAX_ARG_STRLEN, 32
# pages: include/uapi/linux/binfmts.h); a pod whose command (an argument of its shell) or one
# of whose variables is longer fails to start its container.
MAX_ENV_BYTES = 32 * 4096
POD_DIR = "/pipec"  # pipec's own volume in every pod
# The fewest bytes one execution of a loop adds to the manifest (a withItems item or a group's
# task): a loop past max_object_bytes / this is refused before any row is rendered.
MIN_EXECUTION_BYTES = 40


TARGET = Target("argo", "Argo", frozenset({SCHEDULE_TIME_ZONES, DEPLOY_MANIFESTS}) | GROUP_FEATURES | TASK_FEATURES,
                streams=True, options=frozenset({"kind"}))


class Compiler(JobRenderer):
    engine = TARGET.title

    def __init__(self, wf: ir.Workflow, config: Config, diags: Diagnostics, kind: str):
        super().__init__(wf, config, diags)
        self.argo: dict[str, Any] = dict(config.data.get("argo", {}))
        self.kind = kind
        self.templates: list[m.Template] = []
        self.shapes: dict[Shape, str] = {}
        self.template_names: set[str] = {"main"}
        self.param_names: list[str] = []
        self.fail_fast = all(j.on_error in (ir.OnError.STOP_ALL, ir.OnError.RETRY) for j in wf.jobs)
        self.wrapped: set[str] = set()  # jobs run through a wrapper DAG (their tasks are not loops)
        # Groups of several jobs: each is one task of the main DAG, which its members' ids name.
        self.group_of = {j: g for g in wf.groups if groups.is_multi(g) for j in g.members}
        self.task_of = self.group_task_names()
        self.prefixes = groups.service_prefixes(wf.groups)

    def group_task_names(self) -> dict[str, str]:
        """Member job id -> the main DAG's task of its group (named for the group, apart from
        every other task)."""
        taken = {j.id for j in self.wf.jobs if j.id not in self.group_of}
        out: dict[str, str] = {}
        for group in self.wf.groups:
            if groups.is_multi(group):
                name = groups.unique_task(safe_id(group.name), taken)
                taken.add(name)
                out.update((j, name) for j in group.members)
        return out

    # ---------------------------------------------------------------------------------------
    def workflow_params(self) -> list[m.Parameter]:
        self.find_overridable()
        params = []
        used: set[str] = set()
        for k, p in enumerate(self.wf.params):
            name = PARAM_NAME.sub("-", p.name).strip("-") or "param"
            base, n = name, 2
            while name in used:
                name, n = f"{base}-{n}", n + 1
            used.add(name)
            self.param_names.append(name)
            if not self.offered(k):
                continue
            text = self.default_text(k)
            described = p.description or (p.name if name != p.name else None)
            if described is not None:
                while "{{" in described:  # Argo templates the whole spec; "{{{" needs two passes
                    described = described.replace("{{", "{ {")
            # The pod decodes a pipec-b64: value, given here or with `argo submit -p`.
            choices = self.param_choices(k)
            enum = [argo_text(c) for c in choices] if text in choices else None  # Argo checks it at submit
            params.append(m.Parameter(name=name, value=argo_text(text), description=described, enum=enum))
        return params

    # ---------------------------------------------------------------------------------------
    def container_template(self, shape: Shape, *hints: str) -> str:
        """The name of the template of this shape (made the first time a shape is seen): step-
        and the first hint whose name is free (a step's jobs with other commands or resources
        get their job's), else the first one numbered."""
        name = self.shapes.get(shape)
        if name is None:
            free = [h for h in hints if safe_id(f"step-{h}", max_length=120) not in self.template_names]
            name = self.shapes[shape] = self.unique_template(f"step-{(free or hints)[0]}")
            self.templates.append(container_template(shape, name, self.wf.layout, self.argo))
        return name

    def command_plan(self, job: ir.Job, executions: list[dict[str, Any]], hosts: dict[str, str] | None = None,
                     names: tuple[str, ...] = ()) -> commands.Commands:
        """The commands of `job`'s executions as their pods run them (commands.plan)."""
        return commands.plan(job, executions, self.wf.layout, hosts, names)

    @staticmethod
    def give(args: dict[str, str], plan: commands.Commands, shape: Shape, columns: tuple[str, ...] = ()) -> Shape:
        """`shape` holding the plan's command and the variables it reads (`columns`: a sweep's,
        which the items give), and `args` the values every execution shares (p-<name>); the
        task's executions give the others (items) or their own commands."""
        for var, text in plan.common().items():
            args[ref_param(var)] = pod_text(text)
        refs = commands.reading_order(plan.text, plan.refs + columns) if plan.text is not None else ()
        return replace(shape, command=plan.text, refs=refs)

    def unique_template(self, base: str) -> str:
        name = safe_id(base, max_length=120)
        candidate, n = name, 2
        while candidate in self.template_names:
            candidate, n = f"{name}-{n}", n + 1
        self.template_names.add(candidate)
        return candidate

    # ---------------------------------------------------------------------------------------
    def depends(self, job: ir.Job) -> str | None:
        return self.depends_on(self.wf.upstream(job.id), self.task_of.get(job.id))

    def depends_on(self, upstream: tuple[str, ...], own: str | None = None) -> str | None:
        """The `depends` expression of a task waiting for these jobs; a job of a group of
        several jobs is waited for as its group's task (`own` is the waiting group's)."""
        terms: list[str] = []
        for up in upstream:
            u = self.wf.job(up)
            task = self.task_of.get(up, up)
            if task == own:
                continue
            # A fan-out over an empty run-time list is a Skipped task in Argo ("Skipped, empty
            # params"): it ran no execution, which is a success, as on the other engines.
            empty = f" || {task}.Skipped" if u.sweep is not None and u.sweep.fanout is not None else ""
            if u.on_error is ir.OnError.CONTINUE:
                looped = analysis.looped(u) and up not in self.wrapped and u.group is None
                any_ok = f"({task}.AnySucceeded{empty})" if empty else f"{task}.AnySucceeded"
                term = any_ok if looped else f"({task}.Succeeded || {task}.Failed{empty})"
            else:
                term = f"({task}.Succeeded{empty})" if empty else f"{task}.Succeeded"
            if term not in terms:
                terms.append(term)
        return " && ".join(terms) or None

    def job_tasks(self, job: ir.Job) -> list[Task]:
        group = self.group_of.get(job.id)
        if group is not None:
            # The whole group is one task, made where its first member comes.
            return self.multi_group_tasks(group) if job.id == group.members[0] else []
        if job.kind is ir.JobKind.DEPLOYMENT and not job.command.lines:
            # The deployments pass left it to [deploy] manifest (a deploy command would be its command),
            # or, without one, to Argo itself (deploy.py).
            manifest = self.config.data.get("deploy", {}).get("manifest")
            return self.resource_deploy(job, str(manifest)) if manifest else deploy_tasks(self, job)
        if job.kind is ir.JobKind.STUB:
            # A stub only orders its neighbours: a node that ends at once, no pod.
            if "stub" not in self.template_names:
                self.template_names.add("stub")
                self.templates.append(m.Template(name="stub", suspend=m.SuspendTemplate(duration="0")))
            return [Task(name=job.id, template="stub", depends=self.depends(job))]
        ready = self.prepared(job)
        if ready is None:
            return []
        try:
            return self.group_tasks(ready) if ready.group is not None else self.exec_tasks(ready)
        except RenderError as exc:
            self.diags.error(f"cannot build the command of '{job.name}': {exc}", self.loc(job))
            return []

    def prepared(self, job: ir.Job) -> ir.Job | None:
        """The job as a pod runs it (the default image where it names none), or None when
        Argo cannot run it (reported)."""
        if job.image and "{{" in job.image:
            self.diags.error(f"the image of '{job.name}' holds '{{{{', which Argo would read as its template "
                             "language", self.loc(job))
            return None
        for device, _ in job.resources.devices:
            if not RESOURCE_NAME.match(device):
                self.diags.error(f"device '{device}' of '{job.name}' is not a Kubernetes resource name "
                                 "(like nvidia.com/gpu)", self.loc(job))
                return None
        if not job.image:
            default = self.argo.get("default_image")
            if not default:
                where = ('[deploy] image = "..."' if job.kind is ir.JobKind.DEPLOYMENT
                         else "an image in the step") + ', or [argo] default_image = "..."'
                self.diags.error(f"'{job.name}' has no image; Argo runs every job in a container", self.loc(job),
                                 f"set {where} in pipec.toml")
                return None
            job = replace(job, image=str(default))
        found = self.pod_problems(job)
        for problem, where in found:
            self.diags.error(f"'{job.name}': {problem}", self.loc(where))
        return None if found else job

    def secret_name(self, credential: str) -> str:
        """The Kubernetes Secret holding a credential: [secrets.<name>] argo, else its name made
        a Secret name (secrets.default_name)."""
        return self.secret_config(credential).get("argo") or default_name(credential)

    def pod_problems(self, job: ir.Job) -> list[tuple[str, Any]]:
        """What keeps the job's files and credentials from its pod: (problem, where)."""
        out: list[tuple[str, Any]] = []
        for f in job.files:
            if f.path.rstrip("/") == POD_DIR or f.path.startswith(POD_DIR + "/"):
                out.append((f"file {f.path} would be written into {POD_DIR}, the volume pipec's runtime keeps in "
                            "every pod", f))
        layout = self.wf.layout
        volumes = (POD_DIR, *([layout.root] if layout.root else [layout.path(a) for a in ir.AREAS]))
        reserved = (*volumes, *(f.path for f in job.files))
        for secret in job.secrets:
            out += [(problem, secret) for problem in secret_problems(secret, self.secret_name(secret.name), reserved)]
        return out + settings.read_only_problems(job, volumes, self.argo)

    def job_setup(self, job: ir.Job, hosts: dict[str, str] | None = None) -> list[str]:
        """Runtime lines preparing what the job's pod runs besides staging its inputs: its files,
        written before its command where the command finds them (the pod runs the job's own
        image, so at their absolute paths), its environment, and how its command's end is read:
        exit actions (PIPEC_EXIT_ACTIONS), the outputs' uploads after success (PIPEC_ON_SUCCESS)
        and the checkpoints uploaded while it runs (PIPEC_CHECKPOINTS, started by pod.sh's
        pipec_command). `hosts`: the variables holding its group's host names."""
        lines = [self.file_lines(job, True, True, hosts)]
        lines += analysis.env_lines(job, self.wf.layout, True, hosts)
        actions = self.exit_actions(job)
        if actions:
            lines.append(f"PIPEC_EXIT_ACTIONS={quote(actions)}\n")
        starts, on_success = self.upload_lines(job, True, hosts)
        if on_success:
            lines.append(f"PIPEC_ON_SUCCESS={quote(on_success)}\n")
        if starts:
            lines.append(f"PIPEC_CHECKPOINTS={quote(starts)}\n")
        return [line for line in lines if line]

    def fits(self, job: ir.Job, setup: str, parameters: list[str], plan: commands.Commands | None) -> bool:
        """Whether each string the pod's shell receives fits in one argument or environment
        string of a process (MAX_ENV_BYTES): its setup and each execution's parameters.json
        (PIPEC_SETUP, PIPEC_PARAMETERS), its command (an argument; encoded, it is also exported
        decoded, which is shorter) and each value its command reads (PIPEC_P_<name>); reported
        when not. The texts are pipec's; the pod receives them as argo_text."""
        # (variable, or "" for the command argument; the text; what it holds)
        strings = [("PIPEC_SETUP", setup, "its files, environment and staging")]
        if plan is not None:
            texts = [plan.text] if plan.text is not None else plan.own
            strings += [("", t, "its command") for t in texts]
            strings += [(var, t, "a value its command reads") for env in plan.values for var, t in env.items()]
        strings += [("PIPEC_PARAMETERS", p, "its parameters") for p in parameters]
        for var, text, what in strings:
            size = (len(var) + 2 if var else 1) + len(argo_text(text).encode("utf-8"))
            if size <= MAX_ENV_BYTES:
                continue
            where = (f"one environment variable of its pod ({var}: {what})" if var
                     else f"one argument of its container ({what})")
            self.diags.error(
                f"'{job.name}' needs {size:,} bytes in {where}; Linux starts no process with an argument or variable "
                f"over {MAX_ENV_BYTES:,} bytes",
                self.loc(job.files[0] if var == "PIPEC_SETUP" and job.files else job),
                "pass large files as a URL input, or build them into the image" if var == "PIPEC_SETUP" else None)
            return False
        return True

    def base_shape(self, job: ir.Job) -> Shape:
        requests, limits, node_selector, tolerations = resources(job, self.profile(job))
        requests, limits = settings.default_resources(requests, limits, self.argo)
        params = tuple(sorted({(k, self.param_names[k]) for _, k in self.job_overrides(job.id)}))
        values = len(self.job_runtime(job.id))
        retries, expression = retry_plan(job)
        return Shape(
            image=str(job.image), requests=tuple(sorted(requests.items())), limits=tuple(sorted(limits.items())),
            node_selector=tuple(sorted(node_selector.items())), tolerations=json.dumps(tolerations),
            timeout=job.timeout_seconds, retries=retries, retry_expression=expression,
            upstream=len(self.wf.upstream(job.id)), inputs_area=job.id in self.input_readers,
            urls=tuple(kind for kind, _, _ in self.native_urls(job)), params=params, values=values,
            metadata=tuple((job.id, k) in self.fanout_keys for k in self.meta_keys.get(job.id, [])),
            daemon=False, lead=False, run_id=analysis.uses_run_id(job), files=self.job_shared_files(job.id),
            credentials=credentials(job, {s.name: self.secret_name(s.name) for s in job.secrets}))

    def native_urls(self, job: ir.Job) -> list[tuple[str, str, str]]:
        """(artifact kind, url, slot) of URL inputs Argo downloads itself."""
        out = []
        for slot in job.inputs:
            for url in slot.urls:
                kind = native_kind(url, self.argo)
                if kind:
                    out.append((kind, url, slot.name))
        return out

    def common_args(self, job: ir.Job) -> tuple[dict[str, str], list[str]]:
        """Task arguments and setup lines every execution of `job` shares."""
        args: dict[str, str] = {"job": job.id}
        setup: list[str] = []
        for i, up in enumerate(self.wf.upstream(job.id)):
            args[f"up-{i}"] = up
        for i, (kind, url, slot) in enumerate(self.native_urls(job)):
            if kind == "http":
                args[f"url-{i}"] = url
            else:
                args[f"url-{i}-bucket"], _, args[f"url-{i}-key"] = url.split("://", 1)[1].partition("/")
            name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "download"
            setup.append(f"pipec_place {quote(slot)} \"$PIPEC_POD_DIR/url/{i}\" {quote(name)}\n")
        keys = self.meta_keys.get(job.id)
        if keys:
            args["metadata"] = pod_text(json.dumps(keys, ensure_ascii=False))
        return args, self.param_checks(job) + setup

    def exec_tasks(self, job: ir.Job) -> list[Task]:
        args, setup = self.common_args(job)
        mapping: dict[int, str] = {}
        fills: list[str] = []
        for pname, k in self.job_overrides(job.id):
            mapping[k] = f"PIPEC_PARAM_{k}"
            fills.append(self.param_fill(job, pname, k))
        fanout = job.sweep.fanout if job.sweep is not None else None
        value_setup: list[str] = []
        for j, (pname, v) in enumerate(self.job_runtime(job.id)):
            mapping[v.index] = f"PIPEC_VALUE_{j}"
            fills.append(f"pipec_fill {quote(json.dumps(self.sentinel(v.index)))} \"$PIPEC_VALUE_{j}_JSON\"\n")
            if fanout is not None and fanout.param == pname:
                args[f"value-{j}"], args[f"value-{j}-json"] = "{{item.text}}", "{{item.json}}"
                continue
            src_task, meta = self.meta_ref(v)
            if src_task is None:
                return []
            args[f"value-{j}"] = f"{{{{tasks.{src_task}.outputs.parameters.meta-{meta}-text}}}}"
            args[f"value-{j}-json"] = f"{{{{tasks.{src_task}.outputs.parameters.meta-{meta}-json}}}}"
            if analysis.looped(self.wf.job(v.dep.source)):
                value_setup.append(f"pipec_gather PIPEC_VALUE_{j}\n")
            else:
                value_setup.append(f"pipec_need PIPEC_VALUE_{j} {quote(v.dep.source)} {quote(v.dep.source_key)}\n")
        setup = setup + value_setup + self.job_setup(job) + [self.staging(job)]
        sweep = job.sweep
        task = Task(name=job.id, template="", depends=self.depends(job))
        sweep_vars: tuple[str, ...] = ()  # the variables of the swept columns
        parameters: list[str] = []  # each execution's parameters.json (one, or each item's)
        if sweep is None or sweep.kind is ir.SweepKind.RUNTIME or sweep.size <= 1:
            row = analysis.single_row(job)
            values = self.values(job, row, mapping)
            plan = self.command_plan(job, [values])
            parameters = [self.parameters_json(job, values)]
            args["parameters"] = pod_text(parameters[0])
            setup += fills
            if fanout is not None:
                task.with_param = (f"{{{{tasks.{fanout.source}.outputs.parameters."
                                   f"meta-{self.meta_keys[fanout.source].index(fanout.key)}-items}}}}")
                args["execution"] = "{{item.i}}"
        else:
            columns = self.sweep_columns(job, sweep, len(self.wf.params) + len(self.runtime))
            if columns is None:  # some value needs compile-time rendering: one row per item
                items, executions = [], []
                used = sweep.size * MIN_EXECUTION_BYTES
                what = ("with its own values or command (a swept value the pod cannot be given as text: mixed types, "
                        "a flag, or a pass-as format)")
                for i, row in enumerate(sweep.iter_rows()):
                    if self.too_large(job, used, what):
                        return []
                    values = self.values(job, row, mapping)
                    executions.append(values)
                    parameters.append(self.parameters_json(job, values))
                    items.append({"i": str(i), "parameters": pod_text(parameters[-1])})
                    used += len(items[-1]["parameters"])
                plan = self.command_plan(job, executions)
                if plan.text is None:  # the rows' commands differ: each item carries its own
                    for item, own in zip(items, plan.own):
                        item["command"] = pod_text(own)
                    args["command"] = "{{item.command}}"
                else:  # one command: each item carries the values that differ
                    for var in plan.varying():
                        for item, env in zip(items, plan.values):
                            item[ref_param(var)] = pod_text(env[var])
                        args[ref_param(var)] = f"{{{{item.{ref_param(var)}}}}}"
                used += sum(len(v) for item in items for k, v in item.items() if k not in ("i", "parameters"))
                if self.too_large(job, used, what):
                    return []
                args["parameters"] = "{{item.parameters}}"
                task.with_items = items
                setup += fills
            else:
                # Each swept column is read from the variable its parameter's value would be
                # (PIPEC_P_<name>), which the pod gets from the item (or picks: withSequence).
                names = Refs()
                sweep_vars = tuple(names.var(name) for name, _, _ in columns)
                values = self.values(job, None, mapping)
                for (name, k, kind), var in zip(columns, sweep_vars):
                    mapping[k] = var
                    values[name] = self.late(k, mapping)
                    fills.append(f"pipec_fill {quote(json.dumps(self.sentinel(k)))} "
                                 f"\"$(pipec_param_json {kind} \"${var}\")\"\n")
                plan = self.command_plan(job, [values], names=tuple(names.names))
                parameters = [self.parameters_json(job, values)]
                args["parameters"] = pod_text(parameters[0])
                if sweep.kind is ir.SweepKind.PRODUCT and sweep.size > MAX_ITEMS:
                    # The grid grows as the product of its axes; the manifest only as their sum.
                    picks = []
                    for pos in range(len(sweep.axes) - 1, -1, -1):
                        axis = sweep.axes[pos]
                        j = next(n for n, c in enumerate(columns) if c[0] == axis.name)
                        picks.append(f"pipec_pick {sweep_vars[j]} {len(axis.values)} "
                                     + " ".join(quote(_text(v)) for v in axis.values) + "\n")
                    setup = picks + setup
                    task.with_sequence = sweep.size
                    args["execution"] = "{{item}}"
                else:
                    keys = [ref_param(var) for var in sweep_vars]
                    task.with_items = [
                        {"i": str(i), **{key: pod_text(_text(row[name])) for key, (name, _, _) in zip(keys, columns)}}
                        for i, row in enumerate(sweep.iter_rows())]
                    for key in keys:
                        args[key] = f"{{{{item.{key}}}}}"
                setup += fills
            if task.with_items is not None or task.with_sequence is not None:
                args.setdefault("execution", "{{item.i}}" if task.with_items is not None else "{{item}}")
        text = "".join(setup)
        if text:
            args["setup"] = pod_text(text)
        if not self.fits(job, text, parameters, plan):
            return []
        shape = self.give(args, plan, self.base_shape(job), sweep_vars)
        if task.with_sequence is not None:
            shape = replace(shape, picked=sweep_vars)
        task.template = self.container_template(shape, job.step or job.id, job.id)
        task.args = args
        if sweep is not None and sweep.max_parallel and (task.with_items or task.with_sequence or task.with_param):
            return [self.wrap(job, task, "sweep", sweep.max_parallel)]
        return [task]

    def sweep_columns(self, job: ir.Job, sweep: ir.Sweep, first: int) -> list[tuple[str, int, str]] | None:
        """(parameter, sentinel index, JSON kind) per swept parameter when every value can be
        given to the pod as text, else None."""
        columns = []
        for n, name in enumerate(sweep.names):
            k = first + n
            param = job.param(name)
            if param is None or not self.renders_late(job, name, k) or param.multiple:
                return None
            if sweep.kind is ir.SweepKind.PRODUCT:
                values: Any = next(a.values for a in sweep.axes if a.name == name)
            elif sweep.size <= 10_000:
                values = [row.get(name) for row in sweep.iter_rows()]
            else:
                return None
            kinds = {_kind(v) for v in values}
            if len(kinds) != 1 or None in kinds:
                return None
            columns.append((name, k, kinds.pop()))
        return columns

    def meta_ref(self, v: RuntimeValue) -> tuple[str | None, int]:
        src = self.wf.job(v.dep.source)
        manifest = self.config.data.get("deploy", {}).get("manifest")
        if src.kind is ir.JobKind.DEPLOYMENT and not src.command.lines and manifest:
            self.diags.error(f"'{self.wf.job(v.dep.target).name}' reads {v.dep.source_key} of deployment "
                             f"'{src.name}', which [deploy] manifest applies without printing anything",
                             self.loc(v.dep), "use [deploy] command, which prints the deployment facts as JSON")
            return None, 0
        return src.id, self.meta_keys[src.id].index(v.dep.source_key)

    def staging(self, job: ir.Job) -> str:
        stages, gates = self.stages(job)
        native = frozenset({"http", "https", "gs", "s3"})
        fetches = [f for f in self.fetches(job, frozenset())
                   if not (url_scheme(f["url"]) in native and native_kind(f["url"], self.argo))]
        return self.staging_lines(job, gates, stages, fetches)

    def wrap(self, job: ir.Job, inner: Task, what: str, parallelism: int | None) -> Task:
        """A DAG template around `inner` (limits its parallelism); the outer task keeps the name.
        References to other tasks cannot reach into the wrapper: they become its inputs."""
        self.wrapped.add(job.id)
        outer = Task(name=job.id, template="", depends=inner.depends, args={})
        inner.depends = None
        # Argo computes a DAG's outputs only when it succeeds: with `continue`, failed
        # executions must not fail the wrapper, or the successful ones' metadata is lost.
        inner.continue_failed = job.on_error is ir.OnError.CONTINUE
        lifted: list[m.Parameter] = []
        for key, value in list((inner.args or {}).items()):
            if "{{tasks." in value:
                lifted.append(m.Parameter(name=key))
                outer.args[key] = value  # type: ignore[index]
                inner.args[key] = f"{{{{inputs.parameters.{key}}}}}"  # type: ignore[index]
        if inner.with_param is not None:
            lifted.append(m.Parameter(name="items"))
            outer.args["items"] = inner.with_param  # type: ignore[index]
            inner.with_param = "{{inputs.parameters.items}}"
        name = self.unique_template(f"{what}-{job.id}")
        outputs = None
        keys = self.meta_keys.get(job.id)
        if keys:
            outputs = m.Outputs(parameters=[
                m.Parameter(name=f"meta-{n}-{form}", value_from=m.ValueFrom(
                    parameter=f"{{{{tasks.{inner.name}.outputs.parameters.meta-{n}-{form}}}}}"))
                for n in range(len(keys)) for form in ("json", "text")])
        self.templates.append(m.Template(
            name=name, parallelism=parallelism, outputs=outputs,
            inputs=m.Inputs(parameters=lifted) if lifted else None,
            dag=m.DAGTemplate(tasks=[task_model(inner)], fail_fast=None if self.fail_fast else False)))
        outer.template = name
        outer.args = outer.args or None
        return outer

    def too_large(self, job: ir.Job, used: int, what: str) -> bool:
        """Whether the executions of a loop already take more of the manifest than Kubernetes
        stores in one object (reported), so that a huge sweep is refused before it is rendered."""
        limit = int(self.argo.get("max_object_bytes", MAX_OBJECT_BYTES))
        if used <= limit:
            return False
        size = job.sweep.size if job.sweep is not None else 1
        self.diags.error(f"'{job.name}' runs {size:,} executions, each written into the manifest {what}: more than "
                         f"{limit:,} bytes, and Kubernetes stores at most {limit:,} bytes in one object",
                         self.loc(job.sweep or job),
                         "split the sweep; or give each swept parameter values of one type and a plain pass-as, so "
                         "each pod computes its own (withSequence)" if job.group is None else "split the group")
        return True

    def group_tasks(self, job: ir.Job) -> list[Task]:
        size = job.sweep.size if job.sweep is not None else 1
        if self.too_large(job, size * MIN_EXECUTION_BYTES, "as a task of the group's DAG"):
            return []
        rows = list(job.sweep.iter_rows()) if job.sweep is not None else [{}]
        args, setup = self.common_args(job)
        mapping = {k: f"PIPEC_PARAM_{k}" for _, k in self.job_overrides(job.id)}
        fills = [self.param_fill(job, p, k) for p, k in self.job_overrides(job.id)]
        size = len(rows)
        ranks = list(range(1, size)) + [0]
        executions = {rank: self.values(job, rows[rank], mapping) for rank in ranks}
        # Every rank runs one command where they render alike (their values as parameters), else its own.
        plan = self.command_plan(job, [executions[rank] for rank in ranks])
        base = self.give({}, plan, self.base_shape(job))  # each rank's task gives all its values
        step = job.step or job.id
        member_template = self.container_template(replace(base, daemon=True), f"{step}-member", f"{job.id}-member")
        lead_template = self.container_template(replace(base, lead=True), f"{step}-lead", f"{job.id}-lead")
        tasks = []
        own = self.job_setup(job)
        for n, rank in enumerate(ranks):
            values = executions[rank]
            margs = dict(args)
            margs["execution"] = str(rank)
            if plan.text is None:
                margs["command"] = pod_text(plan.own[n])
            else:
                margs.update((ref_param(var), pod_text(text)) for var, text in plan.values[n].items())
            parameters = self.parameters_json(job, values)
            margs["parameters"] = pod_text(parameters)
            hosts = "$PIPEC_POD_IP" if rank else "$PIPEC_POD_IP $PIPEC_MEMBER_HOSTS"
            group_lines = [f"PIPEC_HOSTS=\"{hosts}\" PIPEC_GROUP_SIZE={size} PIPEC_RANK={rank}\n",
                           "export PIPEC_HOSTS PIPEC_GROUP_SIZE PIPEC_RANK\n",
                           f"pipec_distributed {rank}\n"]
            text = "".join(setup + group_lines + own + [self.staging(job)] + fills)
            margs["setup"] = pod_text(text)
            if not self.fits(job, text, [parameters], plan if n == 0 else None):  # the plan: every rank's
                return []
            if rank:
                tasks.append(Task(name=f"{job.id}-member-{rank}", template=member_template, args=margs))
            else:
                margs["hosts"] = " ".join(f"{{{{tasks.{job.id}-member-{r}.ip}}}}" for r in range(1, size))
                depends = " && ".join(f"{job.id}-member-{r}" for r in range(1, size)) or None
                tasks.append(Task(name=job.id, template=lead_template, args=margs, depends=depends))
        self.wrapped.add(job.id)
        name = self.unique_template(f"group-{job.id}")
        # The group's DAG ends with its lead; Argo then stops the daemons started in it.
        self.templates.append(m.Template(name=name, dag=m.DAGTemplate(tasks=[task_model(t) for t in tasks])))
        return [Task(name=job.id, template=name, depends=self.depends(job))]

    def multi_group_tasks(self, group: ir.Group) -> list[Task]:
        """A group of several jobs: one task of the main DAG running the group's DAG, which
        creates the group's Service and starts every member at once (see groups.py)."""
        jobs = [self.member_job(group, job_id) for job_id in group.members]
        ready = [j for j in jobs if j is not None]
        if len(ready) < len(jobs):
            return []
        name = self.task_of[group.lead]
        service = groups.service_name(self.prefixes[group.name])
        if groups.SERVICE_TEMPLATE not in self.template_names:
            self.template_names.add(groups.SERVICE_TEMPLATE)
            self.templates.append(groups.service_template())
        creates = groups.unique_task("service", set(group.members))
        tasks = [Task(name=creates, template=groups.SERVICE_TEMPLATE, args={"service": service})]
        for job in ready:
            try:
                task = self.member_task(group, job, service, creates)
            except RenderError as exc:
                self.diags.error(f"cannot build the command of '{job.name}': {exc}", self.loc(job))
                return []
            if task is None:
                return []
            tasks.append(task)
        template = self.unique_template(f"group-{name}")
        self.templates.append(m.Template(name=template, dag=m.DAGTemplate(tasks=[task_model(t) for t in tasks])))
        # If any member waits for a job, the whole group does (they start together).
        upstream = tuple(dict.fromkeys(u for j in group.members for u in self.wf.upstream(j)))
        return [Task(name=name, template=template, depends=self.depends_on(upstream, name))]

    def member_job(self, group: ir.Group, job_id: str) -> ir.Job | None:
        """A member of a group of several jobs as its pod runs it, or None when Argo cannot
        run it so (reported)."""
        job = self.wf.job(job_id)
        problem = None
        if job.kind is not ir.JobKind.EXECUTION:
            problem = f"is a {job.kind.value}, not a command"
        elif analysis.looped(job):
            problem = "runs several executions; here each member runs once"
        elif any(self.group_of.get(up) is group for up in self.wf.upstream(job_id)):
            problem = "waits for a member of its own group, which starts at the same time"
        elif self.job_runtime(job_id):
            problem = "reads a value another job prints at run time"
        if problem is not None:
            self.diags.error(f"'{job.name}', a member of group '{group.name}', {problem}", self.loc(job))
            return None
        return self.prepared(job)

    def member_task(self, group: ir.Group, job: ir.Job, service: str, after: str) -> Task | None:
        """One member's task in the group's DAG: its own image, resources, command, environment
        and inputs, its peers' host names in PIPEC_HOST_<k> (a daemon or not: groups.daemon);
        None when it cannot be (reported)."""
        args, setup = self.common_args(job)
        overrides = self.job_overrides(job.id)
        values = self.values(job, analysis.single_row(job), {k: f"PIPEC_PARAM_{k}" for _, k in overrides})
        plan = self.command_plan(job, [values], groups.host_vars(group))
        parameters = self.parameters_json(job, values)
        args["parameters"] = pod_text(parameters)
        args["hostname"] = groups.host_names(group)[job.id]
        args["subdomain"] = service
        fills = [self.param_fill(job, pname, k) for pname, k in overrides]
        # Peers' host names first: the environment, files and uploads may name them.
        lines = (setup + groups.peer_lines(group) + self.job_setup(job, groups.host_vars(group)) + [self.staging(job)]
                 + fills + groups.member_lines(group, job.id))
        text = "".join(lines)
        args["setup"] = pod_text(text)
        if not self.fits(job, text, [parameters], plan):
            return None
        lead = job.id == group.lead
        shape = self.give(args, plan, replace(self.base_shape(job), daemon=groups.daemon(group, job.id), member=True,
                                              probe=group.barrier))
        # Argo refuses continueOn beside `depends`; the group's DAG uses `dependencies` instead.
        task = Task(name=job.id, template=self.container_template(shape, job.step or job.id, job.id),
                    dependencies=[after], args=args)
        # The lead's status is the group's: a non-lead's own then does not count.
        task.continue_failed = task.continue_error = not lead and group.lead_decides
        return task

    def resource_deploy(self, job: ir.Job, manifest: str) -> list[Task]:
        assert job.deployment is not None
        d = job.deployment
        if "{{" in d.name or any("{{" in e for e in d.endpoints + d.aliases):
            self.diags.error(f"deployment '{d.name}' of '{job.name}' holds '{{{{', which Argo would read as its "
                             "template language", self.loc(job))
            return []
        name = self.unique_template(f"deploy-{job.id}")
        self.templates.append(m.Template(
            name=name,
            inputs=m.Inputs(parameters=[m.Parameter(name=n) for n in ("deployment", "endpoints", "aliases", "job")]),
            resource=m.ResourceTemplate(action="apply", manifest=manifest)))
        args = {"deployment": d.name, "endpoints": " ".join(d.endpoints), "aliases": " ".join(d.aliases), "job": job.id}
        return [Task(name=job.id, template=name, depends=self.depends(job), args=args)]

    # ---------------------------------------------------------------------------------------
    def compile(self) -> str | None:
        wf = self.wf
        params = self.workflow_params()
        errors = self.diags.error_count()
        tasks: list[m.DAGTask] = []
        stop = self.argo.get("stop_all", "fail-fast") == "stop"
        for job in wf.jobs:
            decides = wf.job(self.group_of[job.id].lead) if job.id in self.group_of else job
            for task in self.job_tasks(job):
                task.stop_run = stop and decides.on_error in (ir.OnError.STOP_ALL, ir.OnError.RETRY)
                tasks.append(task_model(task))
        if stop and any(t.hooks for t in tasks):
            self.templates.append(stop_template())
        if self.diags.error_count() > errors:
            return None
        main = m.Template(name="main", dag=m.DAGTemplate(tasks=tasks, fail_fast=None if self.fail_fast else False))
        patch = settings.helper_patch(self.argo)
        for template in self.templates:  # pipec's helper pods: small requests ([argo.default_resources])
            if template.resource is not None and template.pod_spec_patch is None:
                template.pod_spec_patch = patch
        ref = self.argo.get("artifact_repository_ref")
        ttl = self.argo.get("ttl_seconds")
        spec = m.WorkflowSpec(
            entrypoint="main",
            arguments=m.Arguments(parameters=params) if params else None,
            templates=[main, *self.templates],
            volumes=[m.Volume(name="pipec", empty_dir=m.EmptyDirVolumeSource()),
                     m.Volume(name="pipec-execution", empty_dir=m.EmptyDirVolumeSource()),
                     *settings.tmp_volume(self.argo)[0]],
            security_context=settings.pod_security_context(self.argo),
            image_pull_secrets=settings.image_pull_secrets(self.argo),
            service_account_name=self.argo.get("service_account"),
            parallelism=self.argo.get("parallelism"),
            pod_gc=m.PodGC(strategy=self.argo["pod_gc"]) if self.argo.get("pod_gc") else None,
            ttl_strategy=m.TTLStrategy(seconds_after_completion=int(ttl)) if ttl is not None else None,
            artifact_repository_ref=m.ArtifactRepositoryRef(config_map=ref.get("config_map"), key=ref.get("key"))
            if isinstance(ref, dict) else None,
        )
        secrets = tuple(sorted({self.secret_name(s.name) for j in wf.jobs for s in j.secrets}))
        files = self.shipped_files()
        if files is None:
            return None
        return document(wf, spec, self.kind, self.argo, self.fail_fast, stop, self.diags, self.loc(wf), secrets,
                        files)

    def shipped_files(self) -> tuple[tuple[str, Any], ...] | None:
        """Per file contents several jobs write (shared_files), shipped once in annotation
        pipec-file-<k>: the annotation's value and where the contents are first used; None when
        some cannot reach a pod in one environment variable (reported)."""
        out = []
        for (text, _), k in self.shared_files.items():
            value, sites = pod_text(text), self.shared_file_sites(k)  # read into a variable of the pods
            var = self.shared_file_var(k)
            size = len(var) + 2 + len(argo_text(text).encode("utf-8"))
            if size > MAX_ENV_BYTES:
                self.diags.error(f"file {sites[0].path}, whose contents several jobs write, needs {size:,} bytes in "
                                 f"one environment variable of their pods ({var}); Linux starts no process with a "
                                 f"variable over {MAX_ENV_BYTES:,} bytes", self.loc(sites[0]),
                                 "pass large files as a URL input, or build them into the image")
                return None
            out.append((value, sites[0].location))
        return tuple(out)


def _text(value: Any) -> str:
    return str(value)




def _kind(value: Any) -> str | None:
    """How the pod turns a sweep value's text back into JSON."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, tuple, dict)):
        return None
    if isinstance(value, (int, float)):
        return "float" if math.isfinite(value) else None
    return "string"


def compile_workflows(workflows: list[ir.Workflow], config: Config, diags: Diagnostics, kind: str = "workflow",
                      ) -> dict[str, tuple[str, bool]]:
    """One manifest per pipeline, keyed `<id>.yaml` (the driver refused colliding ids)."""
    files: dict[str, tuple[str, bool]] = {}
    if not settings.check(config, diags):
        return files
    for wf in workflows:
        path = f"{safe_id(wf.name)}.yaml"
        text = Compiler(wf, config, diags, kind).compile()
        if text is not None:
            files[path] = (text, False)
    return files
