"""Argo Workflows back end: one Workflow (or WorkflowTemplate, or CronWorkflow) per pipeline.

    main                DAG template: one task per job, `depends` expressions
    step-<name>         container template per distinct job shape (image, resources, ...)
    sweep-<job>         DAG wrapper that limits a sweep's parallelism
    group-<job>         DAG wrapper of a group: members as daemons, then the lead
    deploy-<job>        resource template applying [deploy] manifest

Each pod runs one execution under the runtime contract (pipec-runtime.sh, shipped once in the
workflow annotation `pipec-runtime` and read through `{{workflow.annotations.pipec-runtime}}`):
the execution directory is a volume at /valohai, uploaded afterwards as key-only artifacts
under `{{workflow.name}}/<job>/<execution>/`; a downstream job downloads the whole
`{{workflow.name}}/<upstream>/` prefix (Argo neither globs nor aggregates loop artifacts) and
the runtime stages what the edge's glob selects.

Everything the author wrote reaches the pod through environment variables filled from
template parameters; a value holding "{{" (Argo's template language) travels base64-encoded
and the pod decodes it, so user text is never read as an Argo expression or as shell code.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, replace
from typing import Any

from hera.workflows import models as m

from pipec import ir
from pipec.backends import analysis
from pipec.backends.command import RenderError
from pipec.backends.common import JobRenderer, RuntimeValue, url_scheme
from pipec.backends.runtime import runtime_script
from pipec.backends.shell import quote
from pipec.backends.yamltext import dump
from pipec.config import Config
from pipec.errors import Diagnostics, Location
from pipec.passes.naming import safe_id
from pipec.targets import DEPLOY_MANIFESTS, SCHEDULE_TIME_ZONES, Target

B64 = "pipec-b64:"
MISSING = "pipec-missing:"
EXEC_MOUNT = "/pipec/exec"  # where the execution directory is mounted when the layout has no root
RUNTIME_ANNOTATION = "pipec-runtime"
MAX_ITEMS = 64  # product grids larger than this expand in the pod (withSequence + axis lookup)
MAX_OBJECT_BYTES = 1024 * 1024  # etcd's default request limit for one object
WORKFLOW_NAME_MAX = 63 - 5  # generateName gets five random characters
CRON_NAME_MAX = 52  # a CronWorkflow adds a timestamp suffix to the workflows it creates
KEY_ARTIFACTS = {"s3": m.S3Artifact, "gcs": m.GCSArtifact, "oss": m.OSSArtifact}
BOOT = 'set -eu; eval "$PIPEC_RUNTIME"; pipec_pod'
STOP_TEMPLATE = "pipec-stop-run"
# Argo's failFast starts no new task only once the running ones have ended; stopping the
# workflow (what `argo stop` does) ends the running pods too.
STOP_MANIFEST = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: '{{workflow.name}}'
spec:
  shutdown: Stop
"""
_PARAM_NAME = re.compile(r"[^-a-zA-Z0-9_]+")
# Kubernetes qualified names: an optional DNS subdomain prefix, then a name of 1-63 characters.
_QUALIFIED = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_RESOURCE_NAME = re.compile(f"^{_QUALIFIED}$")


def argo_text(text: str) -> str:
    """Text safe from Argo's templating: base64 behind a prefix when it holds "{{", or a
    character Argo's substitution would escape into invalid JSON (Go's strconv.Quote writes
    backslash-a, -v, -xNN and -UNNNNNNNN)."""
    if "{{" in text or text.startswith(B64) or not (text.isprintable() or _printable_lines(text)):
        return B64 + base64.b64encode(text.encode("utf-8")).decode("ascii")
    return text


def _printable_lines(text: str) -> bool:
    return text.replace("\n", "").replace("\t", "").isprintable()


def k8s_name(name: str, limit: int) -> str:
    return safe_id(name, max_length=limit)


@dataclass(frozen=True)
class Shape:
    """Everything a container template depends on; jobs of one shape share the template."""

    image: str
    requests: tuple[tuple[str, str], ...]
    limits: tuple[tuple[str, str], ...]
    node_selector: tuple[tuple[str, str], ...]
    tolerations: str  # JSON
    timeout: int | None
    retries: int
    upstream: int
    inputs_area: bool  # a downstream reads this job's inputs too
    urls: tuple[str, ...]  # native URL artifacts by kind
    params: tuple[tuple[int, str], ...]  # (pipeline parameter index, Argo name)
    values: int
    sweep: int
    metadata: tuple[bool, ...]  # per metadata output: also a list of items (fan-out source)
    daemon: bool
    lead: bool


@dataclass
class _Task:
    """One DAG task before it becomes a model."""

    name: str
    template: str
    depends: str | None = None
    args: dict[str, str] | None = None
    with_items: list[Any] | None = None
    with_param: str | None = None
    with_sequence: int | None = None
    continue_failed: bool = False  # continueOn failed (a wrapper DAG still succeeds, so its outputs exist)
    stop_run: bool = False  # stop-all with [argo] stop_all = "stop": a failure stops the workflow


TARGET = Target("argo", "Argo", frozenset({SCHEDULE_TIME_ZONES, DEPLOY_MANIFESTS}), streams=True,
                options=frozenset({"kind"}))


class _Compiler(JobRenderer):
    engine = TARGET.title

    def __init__(self, wf: ir.Workflow, config: Config, diags: Diagnostics, kind: str):
        super().__init__(wf, config, diags)
        self.argo: dict[str, Any] = dict(config.data.get("argo", {}))
        self.kind = kind
        self.storage = str(self.argo.get("artifact_storage", "s3"))
        self.templates: list[m.Template] = []
        # The execution directory is mounted where the layout puts it (/valohai for Valohai);
        # areas that live elsewhere get mounts of their own.
        self.mount = wf.layout.root or EXEC_MOUNT
        self.area_mounts = [] if wf.layout.root else [
            m.VolumeMount(name="pipec-execution", mount_path=wf.layout.path(area), sub_path=area)
            for area in ir.AREAS]
        self.shapes: dict[Shape, str] = {}
        self.template_names: set[str] = {"main"}
        self.param_names: list[str] = []
        self.fail_fast = all(j.on_error in (ir.OnError.STOP_ALL, ir.OnError.RETRY) for j in wf.jobs)
        self.wrapped: set[str] = set()  # jobs run through a wrapper DAG (their tasks are not loops)

    # ---------------------------------------------------------------------------------------
    def workflow_params(self) -> list[m.Parameter]:
        self.find_overridable()
        params = []
        used: set[str] = set()
        for k, p in enumerate(self.wf.params):
            name = _PARAM_NAME.sub("-", p.name).strip("-") or "param"
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
                described = described.replace("{{", "{ {")  # Argo templates the whole spec
            # The pod decodes a pipec-b64: value, given here or with `argo submit -p`.
            choices = self.param_choices(k)
            enum = [argo_text(c) for c in choices] if text in choices else None  # Argo checks it at submit
            params.append(m.Parameter(name=name, value=argo_text(text), description=described, enum=enum))
        return params

    # ---------------------------------------------------------------------------------------
    def resources(self, job: ir.Job) -> tuple[dict[str, str], dict[str, str], dict[str, str], list[Any]]:
        res = job.resources
        profile = self.profile(job)
        requests: dict[str, str] = {}
        limits: dict[str, str] = {}
        cpu, memory = res.cpu, res.memory_mb  # profiles were resolved by a pass
        if cpu:
            requests["cpu"] = _cpu(float(cpu))
        if res.cpu_limit:
            limits["cpu"] = _cpu(float(res.cpu_limit))
        if memory:
            requests["memory"] = f"{int(math.ceil(float(memory)))}Mi"
        if res.memory_limit_mb:
            limits["memory"] = f"{int(math.ceil(float(res.memory_limit_mb)))}Mi"
        if res.storage_mb:
            requests["ephemeral-storage"] = f"{int(res.storage_mb)}Mi"
        # Devices name their own resources (nvidia.com/gpu, amd.com/gpu, ...); a GPU count
        # without them is counted in the profile's GPU resource.
        gpus = 0 if res.devices else res.gpus
        if gpus:
            limits[str(profile.get("gpu_resource", "nvidia.com/gpu"))] = str(gpus)
        for device, count in res.devices:
            limits[device] = str(int(count)) if float(count).is_integer() else str(count)
        node_selector = {str(k): str(v) for k, v in dict(profile.get("node_selector", {})).items()}
        gpu_type = res.gpu_type
        if gpu_type and not node_selector:
            node_selector["nvidia.com/gpu.product"] = str(gpu_type)  # GPU feature discovery's label
        tolerations = [_toleration(t) for t in profile.get("tolerations", [])]
        return requests, limits, node_selector, tolerations

    def container_template(self, shape: Shape, name_hint: str) -> str:
        name = self.shapes.get(shape)
        if name is not None:
            return name
        name = self.unique_template(f"step-{name_hint}")
        self.shapes[shape] = name
        inputs = [m.Parameter(name="job"), m.Parameter(name="execution", default="0"),
                  m.Parameter(name="command"), m.Parameter(name="setup", default=""),
                  m.Parameter(name="parameters", default="{}")]
        env = [
            _env("PIPEC_RUNTIME", f"{{{{workflow.annotations.{RUNTIME_ANNOTATION}}}}}"),
            _env("PIPEC_ENGINE", "argo"),
            _env("PIPEC_EXEC_MOUNT", self.mount),
            *([_env("PIPEC_LAYOUT", self.wf.layout.spec())] if self.wf.layout.exports else []),
            _env("PIPEC_JOB", "{{inputs.parameters.job}}"),
            _env("PIPEC_EXECUTION", "{{inputs.parameters.execution}}"),
            _env("PIPEC_COMMAND", "{{inputs.parameters.command}}"),
            _env("PIPEC_SETUP", "{{inputs.parameters.setup}}"),
            _env("PIPEC_PARAMETERS", "{{inputs.parameters.parameters}}"),
        ]
        encoded = ["PIPEC_COMMAND", "PIPEC_SETUP", "PIPEC_PARAMETERS"]
        artifacts = []
        for i in range(shape.upstream):
            inputs.append(m.Parameter(name=f"up-{i}"))
            artifacts.append(m.Artifact(name=f"up-{i}", path=f"/pipec/up/{i}", optional=True,
                                        **self.key(f"{{{{workflow.name}}}}/{{{{inputs.parameters.up-{i}}}}}/")))
        if shape.upstream:
            env.append(_env("PIPEC_UPSTREAM", " ".join(f"{{{{inputs.parameters.up-{i}}}}}"
                                                       for i in range(shape.upstream))))
        for i, kind in enumerate(shape.urls):
            names = [f"url-{i}"] if kind == "http" else [f"url-{i}-bucket", f"url-{i}-key"]
            inputs += [m.Parameter(name=n) for n in names]
            artifacts.append(m.Artifact(name=f"url-{i}", path=f"/pipec/url/{i}", **_url_artifact(kind, i, self.argo)))
        for k, pname in shape.params:
            env.append(_env(f"PIPEC_PARAM_{k}", f"{{{{workflow.parameters.{pname}}}}}"))
            encoded.append(f"PIPEC_PARAM_{k}")  # -p NAME=pipec-b64:... carries values holding "{{"
        for j in range(shape.values):
            inputs += [m.Parameter(name=f"value-{j}"), m.Parameter(name=f"value-{j}-json")]
            env += [_env(f"PIPEC_VALUE_{j}", f"{{{{inputs.parameters.value-{j}}}}}"),
                    _env(f"PIPEC_VALUE_{j}_JSON", f"{{{{inputs.parameters.value-{j}-json}}}}")]
            encoded += [f"PIPEC_VALUE_{j}", f"PIPEC_VALUE_{j}_JSON"]
        for j in range(shape.sweep):
            inputs.append(m.Parameter(name=f"sweep-{j}", default=""))
            env.append(_env(f"PIPEC_SWEEP_{j}", f"{{{{inputs.parameters.sweep-{j}}}}}"))
            encoded.append(f"PIPEC_SWEEP_{j}")
        if shape.metadata:
            inputs.append(m.Parameter(name="metadata"))
            env.append(_env("PIPEC_METADATA", "{{inputs.parameters.metadata}}"))
            encoded.append("PIPEC_METADATA")
        if shape.daemon or shape.lead:
            env.append(m.EnvVar(name="PIPEC_POD_IP", value_from=m.EnvVarSource(
                field_ref=m.ObjectFieldSelector(field_path="status.podIP"))))
        if shape.lead:
            inputs.append(m.Parameter(name="hosts"))
            env.append(_env("PIPEC_MEMBER_HOSTS", "{{inputs.parameters.hosts}}"))
        env.append(_env("PIPEC_ENCODED", " ".join(encoded)))
        key = "{{workflow.name}}/{{inputs.parameters.job}}/{{inputs.parameters.execution}}"
        out_artifacts = [
            m.Artifact(name=area.strip(".") or area, path=f"{self.mount}/{area}", optional=True,
                       archive=m.ArchiveStrategy(none=m.NoneStrategy()), **self.key(f"{key}/{area}/"))
            for area in (["outputs", ".pipec"] + (["inputs"] if shape.inputs_area else []))
        ]
        out_params = []
        for n, items in enumerate(shape.metadata):
            forms = ["json", "text"] + (["items"] if items else [])
            for form in forms:
                out_params.append(m.Parameter(
                    name=f"meta-{n}-{form}",
                    value_from=m.ValueFrom(path=f"/pipec/meta/{n}.{form}", default="[]" if form == "items" else MISSING)))
        requests, limits = dict(shape.requests), dict(shape.limits)
        container = m.Container(
            image=shape.image,
            command=["sh", "-c", BOOT],
            env=env,
            resources=m.ResourceRequirements(requests=requests or None, limits=limits or None)
            if requests or limits else None,
            volume_mounts=[m.VolumeMount(name="pipec", mount_path="/pipec"),
                           m.VolumeMount(name="pipec-execution", mount_path=self.mount), *self.area_mounts],
            image_pull_policy=self.argo.get("image_pull_policy"),
        )
        self.templates.append(m.Template(
            name=name,
            inputs=m.Inputs(parameters=inputs, artifacts=artifacts or None),
            outputs=m.Outputs(artifacts=out_artifacts, parameters=out_params or None),
            container=container,
            active_deadline_seconds=shape.timeout,
            retry_strategy=m.RetryStrategy(limit=shape.retries) if shape.retries else None,
            node_selector=dict(shape.node_selector) or None,
            tolerations=[m.Toleration(**t) for t in json.loads(shape.tolerations)] or None,
            daemon=True if shape.daemon else None,
        ))
        return name

    def key(self, key: str) -> dict[str, Any]:
        return {self.storage: KEY_ARTIFACTS[self.storage](key=key)}

    def unique_template(self, base: str) -> str:
        name = safe_id(base, max_length=120)
        candidate, n = name, 2
        while candidate in self.template_names:
            candidate, n = f"{name}-{n}", n + 1
        self.template_names.add(candidate)
        return candidate

    # ---------------------------------------------------------------------------------------
    def depends(self, job: ir.Job) -> str | None:
        terms = []
        for up in self.wf.upstream(job.id):
            u = self.wf.job(up)
            if u.on_error is ir.OnError.CONTINUE:
                looped = analysis.looped(u) and up not in self.wrapped and u.group is None
                terms.append(f"{up}.AnySucceeded" if looped else f"({up}.Succeeded || {up}.Failed)")
            else:
                terms.append(f"{up}.Succeeded")
        return " && ".join(terms) or None

    def job_tasks(self, job: ir.Job) -> list[_Task]:
        if job.kind is ir.JobKind.DEPLOYMENT and not job.command.lines:
            # The deployments pass left it to [deploy] manifest (a deploy command would be its command).
            return self.resource_deploy(job, str(self.config.data.get("deploy", {}).get("manifest")))
        if job.kind is ir.JobKind.STUB:
            # A stub only orders its neighbours: a node that ends at once, no pod.
            if "stub" not in self.template_names:
                self.template_names.add("stub")
                self.templates.append(m.Template(name="stub", suspend=m.SuspendTemplate(duration="0")))
            return [_Task(name=job.id, template="stub", depends=self.depends(job))]
        if not self.check_env_names(job):
            return []
        if job.image and "{{" in job.image:
            self.diags.error(f"the image of '{job.name}' holds '{{{{', which Argo would read as its template "
                             "language", self.loc(job))
            return []
        for device, _ in job.resources.devices:
            if not _RESOURCE_NAME.match(device):
                self.diags.error(f"device '{device}' of '{job.name}' is not a Kubernetes resource name "
                                 "(like nvidia.com/gpu)", self.loc(job))
                return []
        if not job.image:
            default = self.argo.get("default_image")
            if not default:
                where = ('[deploy] image = "..."' if job.kind is ir.JobKind.DEPLOYMENT
                         else "an image in the step") + ', or [argo] default_image = "..."'
                self.diags.error(f"'{job.name}' has no image; Argo runs every job in a container", self.loc(job),
                                 f"set {where} in pipec.toml")
                return []
            job = replace(job, image=str(default))
        if job.group is not None:
            return self.group_tasks(job)
        try:
            return self.exec_tasks(job)
        except RenderError as exc:
            self.diags.error(f"cannot build the command of '{job.name}': {exc}", self.loc(job))
            return []

    def base_shape(self, job: ir.Job, sweep_vars: int) -> Shape:
        requests, limits, node_selector, tolerations = self.resources(job)
        params = tuple(sorted({(k, self.param_names[k]) for _, k in self.job_overrides(job.id)}))
        values = len(self.job_runtime(job.id))
        return Shape(
            image=str(job.image), requests=tuple(sorted(requests.items())), limits=tuple(sorted(limits.items())),
            node_selector=tuple(sorted(node_selector.items())), tolerations=json.dumps(tolerations),
            timeout=job.timeout_seconds, retries=job.retries if job.on_error is ir.OnError.RETRY else 0,
            upstream=len(self.wf.upstream(job.id)), inputs_area=job.id in self.input_readers,
            urls=tuple(kind for kind, _, _ in self.native_urls(job)), params=params, values=values,
            sweep=sweep_vars, metadata=tuple((job.id, k) in self.fanout_keys for k in self.meta_keys.get(job.id, [])),
            daemon=False, lead=False)

    def native_urls(self, job: ir.Job) -> list[tuple[str, str, str]]:
        """(artifact kind, url, slot) of URL inputs Argo downloads itself."""
        out = []
        for slot in job.inputs:
            for url in slot.urls:
                kind = self.native_kind(url)
                if kind:
                    out.append((kind, url, slot.name))
        return out

    def native_kind(self, url: str) -> str | None:
        if "{{" in url or any(c in url for c in "*?[") or not url.isprintable():
            return None  # wildcards need the fetch command; braces would reach Argo's templating
        scheme = url_scheme(url)
        if scheme in ("http", "https"):
            return "http"
        if scheme == "gs" and "/" in url[len("gs://"):]:
            return "gcs"
        if scheme == "s3" and self.argo.get("s3_endpoint") and "/" in url[len("s3://"):]:
            return "s3"
        return None

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
            args["metadata"] = argo_text(json.dumps(keys, ensure_ascii=False))
        return args, self.param_checks(job) + setup

    def exec_tasks(self, job: ir.Job) -> list[_Task]:
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
        setup = setup + value_setup + analysis.env_lines(job) + [self.staging(job)]
        sweep = job.sweep
        task = _Task(name=job.id, template="", depends=self.depends(job))
        sweep_vars = 0
        if sweep is None or sweep.kind is ir.SweepKind.RUNTIME or sweep.size <= 1:
            row = analysis.single_row(job)
            values = self.values(job, row, mapping)
            args["command"] = argo_text(self.script_text(job, values, True))
            args["parameters"] = argo_text(self.parameters_json(job, values))
            setup += fills
            if fanout is not None:
                task.with_param = (f"{{{{tasks.{fanout.source}.outputs.parameters."
                                   f"meta-{self.meta_keys[fanout.source].index(fanout.key)}-items}}}}")
                args["execution"] = "{{item.i}}"
        else:
            columns = self.sweep_columns(job, sweep, len(self.wf.params) + len(self.runtime))
            if columns is None:  # some value needs compile-time rendering: one row per item
                items = []
                for i, row in enumerate(sweep.iter_rows()):
                    values = self.values(job, row, mapping)
                    items.append({"i": str(i), "command": argo_text(self.script_text(job, values, True)),
                                  "parameters": argo_text(self.parameters_json(job, values))})
                args["command"], args["parameters"] = "{{item.command}}", "{{item.parameters}}"
                task.with_items = items
                setup += fills
            else:
                sweep_vars = len(columns)
                values = self.values(job, None, mapping)
                for j, (name, k, kind) in enumerate(columns):
                    mapping[k] = f"PIPEC_SWEEP_{j}"
                    values[name] = self.late(k, mapping)
                    fills.append(f"pipec_fill {quote(json.dumps(self.sentinel(k)))} "
                                 f"\"$(pipec_param_json {kind} \"$PIPEC_SWEEP_{j}\")\"\n")
                args["command"] = argo_text(self.script_text(job, values, True))
                args["parameters"] = argo_text(self.parameters_json(job, values))
                if sweep.kind is ir.SweepKind.PRODUCT and sweep.size > MAX_ITEMS:
                    # The grid grows as the product of its axes; the manifest only as their sum.
                    picks = []
                    for pos in range(len(sweep.axes) - 1, -1, -1):
                        axis = sweep.axes[pos]
                        j = next(n for n, c in enumerate(columns) if c[0] == axis.name)
                        picks.append(f"pipec_pick PIPEC_SWEEP_{j} {len(axis.values)} "
                                     + " ".join(quote(_text(v)) for v in axis.values) + "\n")
                    setup = picks + setup
                    task.with_sequence = sweep.size
                    args["execution"] = "{{item}}"
                else:
                    task.with_items = [
                        {"i": str(i), **{f"v{j}": argo_text(_text(row[name])) for j, (name, _, _) in enumerate(columns)}}
                        for i, row in enumerate(sweep.iter_rows())]
                    for j in range(len(columns)):
                        args[f"sweep-{j}"] = f"{{{{item.v{j}}}}}"
                setup += fills
            if task.with_items is not None or task.with_sequence is not None:
                args.setdefault("execution", "{{item.i}}" if task.with_items is not None else "{{item}}")
        text = "".join(setup)
        if text:
            args["setup"] = argo_text(text)
        shape = self.base_shape(job, sweep_vars)
        task.template = self.container_template(shape, job.step or job.id)
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
        if src.kind is ir.JobKind.DEPLOYMENT and not src.command.lines:
            self.diags.error(f"'{self.wf.job(v.dep.target).name}' reads {v.dep.source_key} of deployment "
                             f"'{src.name}', which [deploy] manifest applies without printing anything",
                             self.loc(v.dep), "use [deploy] command, which prints the deployment facts as JSON")
            return None, 0
        return src.id, self.meta_keys[src.id].index(v.dep.source_key)

    def staging(self, job: ir.Job) -> str:
        stages, gates = self.stages(job)
        native = frozenset({"http", "https", "gs", "s3"})
        fetches = [f for f in self.fetches(job, frozenset())
                   if not (url_scheme(f["url"]) in native and self.native_kind(f["url"]))]
        return self.staging_lines(job, gates, stages, fetches)

    def wrap(self, job: ir.Job, inner: _Task, what: str, parallelism: int | None) -> _Task:
        """A DAG template around `inner` (limits its parallelism); the outer task keeps the name.
        References to other tasks cannot reach into the wrapper: they become its inputs."""
        self.wrapped.add(job.id)
        outer = _Task(name=job.id, template="", depends=inner.depends, args={})
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
            dag=m.DAGTemplate(tasks=[_task_model(inner)], fail_fast=None if self.fail_fast else False)))
        outer.template = name
        outer.args = outer.args or None
        return outer

    def group_tasks(self, job: ir.Job) -> list[_Task]:
        rows = list(job.sweep.iter_rows()) if job.sweep is not None else [{}]
        args, setup = self.common_args(job)
        mapping = {k: f"PIPEC_PARAM_{k}" for _, k in self.job_overrides(job.id)}
        fills = [self.param_fill(job, p, k) for p, k in self.job_overrides(job.id)]
        base = self.base_shape(job, 0)
        member_template = self.container_template(replace(base, daemon=True), f"{job.step or job.id}-member")
        lead_template = self.container_template(replace(base, lead=True), f"{job.step or job.id}-lead")
        size = len(rows)
        tasks = []
        for rank in list(range(1, size)) + [0]:
            values = self.values(job, rows[rank], mapping)
            margs = dict(args)
            margs["execution"] = str(rank)
            margs["command"] = argo_text(self.script_text(job, values, True))
            margs["parameters"] = argo_text(self.parameters_json(job, values))
            hosts = "$PIPEC_POD_IP" if rank else "$PIPEC_POD_IP $PIPEC_MEMBER_HOSTS"
            group_lines = [f"PIPEC_HOSTS=\"{hosts}\" PIPEC_GROUP_SIZE={size} PIPEC_RANK={rank}\n",
                           "export PIPEC_HOSTS PIPEC_GROUP_SIZE PIPEC_RANK\n",
                           f"pipec_distributed {rank}\n"]
            margs["setup"] = argo_text("".join(setup + group_lines + analysis.env_lines(job) + [self.staging(job)] + fills))
            if rank:
                tasks.append(_Task(name=f"{job.id}-member-{rank}", template=member_template, args=margs))
            else:
                margs["hosts"] = " ".join(f"{{{{tasks.{job.id}-member-{r}.ip}}}}" for r in range(1, size))
                depends = " && ".join(f"{job.id}-member-{r}" for r in range(1, size)) or None
                tasks.append(_Task(name=job.id, template=lead_template, args=margs, depends=depends))
        self.wrapped.add(job.id)
        name = self.unique_template(f"group-{job.id}")
        # The group's DAG ends with its lead; Argo then stops the daemons started in it.
        self.templates.append(m.Template(name=name, dag=m.DAGTemplate(tasks=[_task_model(t) for t in tasks])))
        return [_Task(name=job.id, template=name, depends=self.depends(job))]

    def resource_deploy(self, job: ir.Job, manifest: str) -> list[_Task]:
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
        return [_Task(name=job.id, template=name, depends=self.depends(job), args=args)]

    # ---------------------------------------------------------------------------------------
    def compile(self) -> str | None:
        wf = self.wf
        params = self.workflow_params()
        errors = self.diags.error_count()
        tasks: list[m.DAGTask] = []
        stop = self.argo.get("stop_all", "fail-fast") == "stop"
        for job in wf.jobs:
            for task in self.job_tasks(job):
                task.stop_run = stop and job.on_error in (ir.OnError.STOP_ALL, ir.OnError.RETRY)
                tasks.append(_task_model(task))
        if stop and any(t.hooks for t in tasks):
            self.templates.append(m.Template(name=STOP_TEMPLATE, resource=m.ResourceTemplate(
                action="patch", merge_strategy="merge", manifest=STOP_MANIFEST)))
        if self.diags.error_count() > errors:
            return None
        main = m.Template(name="main", dag=m.DAGTemplate(tasks=tasks, fail_fast=None if self.fail_fast else False))
        runtime = _runtime()
        ref = self.argo.get("artifact_repository_ref")
        ttl = self.argo.get("ttl_seconds")
        spec = m.WorkflowSpec(
            entrypoint="main",
            arguments=m.Arguments(parameters=params) if params else None,
            templates=[main, *self.templates],
            volumes=[m.Volume(name="pipec", empty_dir=m.EmptyDirVolumeSource()),
                     m.Volume(name="pipec-execution", empty_dir=m.EmptyDirVolumeSource())],
            service_account_name=self.argo.get("service_account"),
            parallelism=self.argo.get("parallelism"),
            pod_gc=m.PodGC(strategy=self.argo["pod_gc"]) if self.argo.get("pod_gc") else None,
            ttl_strategy=m.TTLStrategy(seconds_after_completion=int(ttl)) if ttl is not None else None,
            artifact_repository_ref=m.ArtifactRepositoryRef(config_map=ref.get("config_map"), key=ref.get("key"))
            if isinstance(ref, dict) else None,
        )
        annotations = {"pipec.dev/pipeline": wf.name, "pipec.dev/source": wf.source_file}
        labels = {str(k): str(v) for k, v in dict(self.argo.get("labels", {})).items()} or None
        namespace = self.argo.get("namespace")
        runtime_meta = m.Metadata(annotations={RUNTIME_ANNOTATION: runtime})
        triggers = [t.cron for t in wf.triggers]
        zones = {t.timezone or str(self.argo.get("timezone", "UTC")) for t in wf.triggers}
        kind = self.kind
        if triggers and kind == "template":
            self.diags.warning(f"pipeline '{wf.name}' has a cron schedule; --kind template writes a "
                               "WorkflowTemplate, which does not run on a schedule", self.loc(wf))
        elif triggers:
            kind = "cron"
        if len(zones) > 1:  # one CronWorkflow reads all its schedules in one time zone
            self.diags.error(f"the schedules of '{wf.name}' use several time zones ({', '.join(sorted(zones))}); "
                             "an Argo CronWorkflow has one", self.loc(wf.triggers[0]))
            return None
        if kind == "workflow":
            meta = m.ObjectMeta(generate_name=k8s_name(wf.name, WORKFLOW_NAME_MAX - 1) + "-", namespace=namespace,
                                labels=labels, annotations={**annotations, RUNTIME_ANNOTATION: runtime})
            doc: Any = m.Workflow(api_version="argoproj.io/v1alpha1", kind="Workflow", metadata=meta, spec=spec)
        elif kind == "template":
            spec.workflow_metadata = m.WorkflowMetadata(annotations={RUNTIME_ANNOTATION: runtime})
            meta = m.ObjectMeta(name=k8s_name(wf.name, 63), namespace=namespace, labels=labels,
                                annotations=annotations)
            doc = m.WorkflowTemplate(api_version="argoproj.io/v1alpha1", kind="WorkflowTemplate", metadata=meta,
                                     spec=spec)
        else:
            meta = m.ObjectMeta(name=k8s_name(wf.name, CRON_NAME_MAX), namespace=namespace, labels=labels,
                                annotations=annotations)
            doc = m.CronWorkflow(
                api_version="argoproj.io/v1alpha1", kind="CronWorkflow", metadata=meta,
                spec=m.CronWorkflowSpec(schedules=triggers, timezone=zones.pop(),
                                        workflow_metadata=m.ObjectMeta(annotations=runtime_meta.annotations),
                                        workflow_spec=spec))
        data = _order(doc.model_dump(by_alias=True, exclude_none=True, mode="json"))
        size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        limit = int(self.argo.get("max_object_bytes", MAX_OBJECT_BYTES))
        if size > limit:
            self.diags.error(f"the {doc.kind} for '{wf.name}' is {size:,} bytes; Kubernetes stores at most "
                             f"{limit:,} bytes in one object", self.loc(wf),
                             "split the pipeline, or raise [argo] max_object_bytes if your cluster's etcd "
                             "accepts larger requests")
            return None
        return _header(wf, doc.kind, self.fail_fast, stop) + dump(data)


def _runtime() -> str:
    """The Argo runtime without its comment and blank lines (the annotation is read by machines;
    the commented parts ship with the Slurm and GitHub Actions targets and live in the pipec
    sources, templates/runtime/)."""
    text = runtime_script("argo")
    return "".join(line for line in text.splitlines(keepends=True) if line.strip() and not line.lstrip().startswith("#"))


def _header(wf: ir.Workflow, kind: str, fail_fast: bool, stop: bool) -> str:
    submit = {"Workflow": "argo submit FILE [-p NAME=VALUE ...] (a value holding two braces: -p NAME=pipec-b64:BASE64)",
              "WorkflowTemplate": "argo template create FILE; argo submit --from workflowtemplate/NAME",
              "CronWorkflow": "argo cron create FILE"}[kind]
    if stop:
        policy = "a failed stop-all job stops the workflow (hook pipec-stop; needs patch on workflows)"
    elif fail_fast:
        policy = ("failFast: after a failure no new task starts once the running ones have ended; "
                  'for an immediate stop set [argo] stop_all = "stop"')
    else:
        policy = "failFast is off: independent branches finish after a failure"
    lines = [f"Generated by pipec from {wf.source_file}, pipeline {wf.name}.", f"Use: {submit}",
             f"Failures: {policy}."]
    return "".join(f"# {_comment(line)}\n" for line in lines)


def _comment(text: str) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text)


def _task_model(t: _Task) -> m.DAGTask:
    args = None
    if t.args:
        args = m.Arguments(parameters=[m.Parameter(name=k, value=v) for k, v in t.args.items()])
    return m.DAGTask(
        name=t.name, template=t.template, depends=t.depends, arguments=args,
        with_items=[m.Item(root=i) for i in t.with_items] if t.with_items is not None else None,
        with_param=t.with_param,
        with_sequence=m.Sequence(count=str(t.with_sequence)) if t.with_sequence is not None else None,
        continue_on=m.ContinueOn(failed=True) if t.continue_failed else None,
        hooks={"pipec-stop": m.LifecycleHook(expression=f'tasks["{t.name}"].status == "Failed"',
                                             template=STOP_TEMPLATE)} if t.stop_run else None)


_FIRST = ("name", "image", "template", "depends", "entrypoint", "inputs", "outputs")


def _order(node: Any) -> Any:
    """Names and what a reader looks for first, then the model's own order (readability)."""
    if isinstance(node, dict):
        out = {k: _order(node[k]) for k in _FIRST if k in node}
        out.update((k, _order(v)) for k, v in node.items() if k not in out)
        return out
    if isinstance(node, list):
        return [_order(v) for v in node]
    return node


def _env(name: str, value: str) -> m.EnvVar:
    return m.EnvVar(name=name, value=value)


def _cpu(cores: float) -> str:
    millis = int(math.ceil(cores * 1000))
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _toleration(t: dict[str, Any]) -> dict[str, Any]:
    names = {"key": "key", "operator": "operator", "value": "value", "effect": "effect",
             "toleration_seconds": "tolerationSeconds"}
    return {names[k]: v for k, v in t.items() if k in names}


def _url_artifact(kind: str, i: int, argo: dict[str, Any]) -> dict[str, Any]:
    if kind == "http":
        return {"http": m.HTTPArtifact(url=f"{{{{inputs.parameters.url-{i}}}}}")}
    bucket, key = f"{{{{inputs.parameters.url-{i}-bucket}}}}", f"{{{{inputs.parameters.url-{i}-key}}}}"
    if kind == "gcs":
        return {"gcs": m.GCSArtifact(bucket=bucket, key=key)}
    secret = argo.get("s3_credentials_secret")
    return {"s3": m.S3Artifact(
        endpoint=str(argo["s3_endpoint"]), bucket=bucket, key=key,
        access_key_secret=m.SecretKeySelector(name=str(secret), key="accessKey") if secret else None,
        secret_key_secret=m.SecretKeySelector(name=str(secret), key="secretKey") if secret else None)}


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
    """One manifest per pipeline, keyed `<name>.yaml`."""
    files: dict[str, tuple[str, bool]] = {}
    owners: dict[str, ir.Workflow] = {}
    for wf in workflows:
        path = f"{safe_id(wf.name)}.yaml"
        if path in owners:
            diags.error(f"pipelines '{owners[path].name}' and '{wf.name}' both become {path}",
                        wf.location or Location(wf.source_file, 1, 1),
                        "rename one of them so they differ in letters or digits")
            continue
        owners[path] = wf
        text = _Compiler(wf, config, diags, kind).compile()
        if text is not None:
            files[path] = (text, False)
    return files
