"""Deployments Argo runs itself: a deployment node with neither [deploy] command nor [deploy]
manifest runs each endpoint it names (`ir.Deployment.servers`) as Kubernetes objects that
resource templates apply (`kubectl apply`), in the workflow's namespace, outliving the run:

    deploy-<job>              DAG template: the job's task in the main DAG
      volume-<endpoint>       a PersistentVolumeClaim <object>-<run> for the endpoint's files
      stage                   a pipec pod: stages the deployment's files from upstream outputs
                              as every job's inputs are staged (the artifact repository key
                              of each upstream, the edge's glob), copies each endpoint's files
                              into its claim and prints the deployment's facts
      apply-<endpoint>        a Deployment <object> (apps/v1), or with [deploy] kind = "kserve"
                              an InferenceService <object> (serving.kserve.io/v1beta1)
      service-<endpoint>      a Service <object> for the endpoint's port (not for KServe,
                              which makes its own)
      cleanup-<endpoint>      deletes the endpoint's claims of earlier runs

Files. A pod outside the workflow cannot read the artifact repository (pipec knows neither
its bucket nor its credentials; Argo's executor does), so the files travel on a volume: one
claim per endpoint and run, written by the stage pod and mounted read-only by the server at
/mnt/models (KServe mounts a `pvc://` storage URI there itself). The server's container links
each file to its `path` (relative: below its working directory) and then runs its command
with `sh -c`. A new claim per run lets a rolling update start the new pod beside the old one
(a ReadWriteOnce volume is attached to one node at a time); the claims of earlier runs are
deleted once the new objects are applied (Kubernetes keeps a claim a pod still uses until
that pod is gone).

Facts. `id` is the deployment's name as the objects' label pipec.dev/deployment holds it,
`version_id` the run (the workflow's name, label pipec.dev/version on the pods and claims).

Text. Each object is built as data and written as JSON (which kubectl reads as YAML), with
every `{` of the author's text written `\\u007b`: Argo substitutes `{{...}}` in a resource
manifest, and JSON's escape keeps the text the same for kubectl while Argo finds nothing
there. Only pipec's own tags (`Tag`) keep their braces. In a container's command and
environment, Kubernetes itself expands `$(NAME)`; every `$` there is written `$$`, which it
turns back into `$`.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from hera.workflows import models as m

from pipec import ir
from pipec.backends.argo import settings
from pipec.backends.argo.names import RESOURCE_NAME, pod_text
from pipec.backends.argo.resources import resources
from pipec.backends.argo.tasks import Task, task_model
from pipec.backends.argo.templates import container_template
from pipec.backends.shell import quote
from pipec.names import safe_id

if TYPE_CHECKING:
    from pipec.backends.argo.compiler import Compiler

FILES_DIR = "/mnt/models"  # where a server finds its files (KServe's mount point for a storage URI)
STAGE_DIR = "/pipec-deploy"  # where the stage pod mounts the claims, one directory per endpoint
NAME_MAX = 63  # a Service name (DNS-1035 label); Deployment names kept to DNS-1123 labels too
# KServe derives names from an InferenceService's (<name>-predictor-00001, a Knative revision,
# is a label value of at most 63 characters).
KSERVE_NAME_MAX = 45
DEFAULT_VOLUME_SIZE = "5Gi"
RUN = "{{workflow.name}}"
MANAGED_BY = "app.kubernetes.io/managed-by"
DEPLOYMENT_LABEL = "pipec.dev/deployment"
ENDPOINT_LABEL = "pipec.dev/endpoint"
VERSION_LABEL = "pipec.dev/version"
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")

# The server container's command: link each file (pairs of arguments) to its path, then run
# the endpoint's command ($1) with sh -c. Arguments are data; nothing of them is shell source.
SERVE = """set -eu
pipec_command=$1
shift
while [ "$#" -ge 2 ]; do
    mkdir -p "$(dirname "$2")"
    ln -sfn "$1" "$2"
    shift 2
done
exec sh -c "$pipec_command"
"""

# The stage pod's function: the one file staged in input slot $1, copied to $2.
STAGE = """pipec_deploy_file() {
    pipec_n=0
    for pipec_f in "$PIPEC_INPUTS_DIR/$1"/* "$PIPEC_INPUTS_DIR/$1"/.[!.]* "$PIPEC_INPUTS_DIR/$1"/..?*; do
        [ -e "$pipec_f" ] || continue
        pipec_n=$((pipec_n + 1))
        pipec_found=$pipec_f
    done
    if [ "$pipec_n" -ne 1 ]; then
        printf 'pipec: endpoint file %s received %s files from upstream; it takes exactly one %s\\n' \\
            "$1" "$pipec_n" '(narrow the glob that selects it)' >&2
        return 1
    fi
    mkdir -p "$(dirname "$2")"
    cp "$pipec_found" "$2"
}"""


class Tag(str):
    """Text of pipec's own holding an Argo tag, whose braces reach Argo as written."""


def manifest(obj: Any) -> str:
    """`obj` as indented JSON in which only `Tag` strings hold a `{`."""
    return _json(obj, "") + "\n"


def _json(value: Any, pad: str) -> str:
    inner = pad + "  "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{_string(str(k))}: {_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + _json(v, inner) for v in value) + "\n" + pad + "]"
    if isinstance(value, str):
        return _string(value)
    return json.dumps(value)


def _string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=True)
    return out if isinstance(text, Tag) else out.replace("{", "\\u007b")


def _k8s(text: str) -> str:
    """Text of a container's command or environment, safe from Kubernetes' $(NAME) expansion."""
    return text.replace("$", "$$")


def object_names(wf: ir.Workflow, limit: int) -> dict[tuple[str, str], str]:
    """(job id, endpoint) -> the name of its objects: the deployment's and the endpoint's names
    as a DNS-1123 label of at most `limit` characters, the job's id added (then a number)
    where another deployment node of the workflow has the name already."""
    out: dict[tuple[str, str], str] = {}
    taken: set[str] = set()
    for job in wf.jobs:
        if job.deployment is None or job.command.lines:
            continue
        for server in job.deployment.servers:
            base = f"{job.deployment.name}-{server.name}"
            name = safe_id(base, limit)
            if name in taken:
                name = safe_id(f"{base}-{job.id}", limit)
            n = 2
            while name in taken:
                name, n = safe_id(f"{base}-{job.id}-{n}", limit), n + 1
            taken.add(name)
            out[(job.id, server.name)] = name
    return out


def deploy_tasks(c: Compiler, job: ir.Job) -> list[Task]:
    """The task running `job`'s default deployment (its templates added to `c`), or [] when it
    cannot be built (reported)."""
    assert job.deployment is not None
    d = job.deployment
    settings = dict(c.config.data.get("deploy", {}))
    kserve = settings.get("kind", "deployment") == "kserve"
    names = object_names(c.wf, KSERVE_NAME_MAX if kserve else NAME_MAX)
    servers = [s for s in d.servers if s.name in dict.fromkeys(d.endpoints)]
    if not all([_server_ok(c, job, s) for s in servers]):  # every server's problems reported
        return []
    fed = {dep.target_key for dep in c.wf.incoming(job.id) if dep.kind is ir.DepKind.DEPLOY_FILE}
    keys = c.meta_keys.get(job.id, [])
    deployment_id = safe_id(d.name)
    labels = {**{str(k): str(v) for k, v in dict(c.argo.get("labels", {})).items()},
              MANAGED_BY: "pipec", DEPLOYMENT_LABEL: deployment_id}
    task_names = _task_names([s.name for s in servers])
    has_files = {s.name: bool(s.files) for s in servers}
    stage = None
    if any(has_files.values()) or keys:
        stage = _stage_task(c, job, servers, names, fed, deployment_id, bool(keys), settings.get("image"))
        if stage is None:
            return []
    volumes: list[Task] = []
    rest: list[Task] = []
    for i, server in enumerate(servers):
        name, part = names[(job.id, server.name)], task_names[i]
        own = {**labels, ENDPOINT_LABEL: name}
        claim = Tag(f"{name}-{RUN}") if has_files[server.name] else None
        if claim is not None:
            volumes.append(_apply(c, f"volume-{part}", f"deploy-{job.id}-{part}-volume",
                                  _claim(claim, {**own, VERSION_LABEL: Tag(RUN)}, settings)))
        obj = _inference_service(c, name, own, server, claim) if kserve else _deployment(c, name, own, server, claim)
        apply = _apply(c, f"apply-{part}", f"deploy-{job.id}-{part}", obj, "stage" if stage is not None else None)
        rest.append(apply)
        if not kserve:
            rest.append(_apply(c, f"service-{part}", f"deploy-{job.id}-{part}-service", _service(name, own, server),
                               apply.name))
        if claim is not None:
            rest.append(_cleanup(c, f"cleanup-{part}", f"deploy-{job.id}-{part}-cleanup", name, apply.name))
    if stage is not None:
        stage.depends = " && ".join(t.name for t in volumes) or None
    tasks = volumes + ([stage] if stage is not None else []) + rest
    if not tasks:  # no endpoint (warned by the deployments pass): a node that ends at once
        if "stub" not in c.template_names:
            c.template_names.add("stub")
            c.templates.append(m.Template(name="stub", suspend=m.SuspendTemplate(duration="0")))
        return [Task(name=job.id, template="stub", depends=c.depends(job))]
    outputs = None
    if keys:
        outputs = m.Outputs(parameters=[
            m.Parameter(name=f"meta-{n}-{form}", value_from=m.ValueFrom(
                parameter=f"{{{{tasks.stage.outputs.parameters.meta-{n}-{form}}}}}"))
            for n in range(len(keys)) for form in ("json", "text")])
    dag = c.unique_template(f"deploy-{job.id}")
    c.templates.append(m.Template(name=dag, outputs=outputs, dag=m.DAGTemplate(tasks=[task_model(t) for t in tasks])))
    return [Task(name=job.id, template=dag, depends=c.depends(job))]


def _task_names(endpoints: list[str]) -> list[str]:
    out: list[str] = []
    for i, name in enumerate(endpoints):
        part = safe_id(name, 40)
        out.append(part if part not in out else f"{part}-{i}")
    return out


def _server_ok(c: Compiler, job: ir.Job, server: ir.Endpoint) -> bool:
    """Whether Kubernetes accepts what the server asks for (else reported)."""
    where = c.loc(server)
    problems = [f"device '{device}' is not a Kubernetes resource name (like nvidia.com/gpu)"
                for device, _ in server.resources.devices if not RESOURCE_NAME.match(device)]
    for key, value in server.node_selector:
        if not RESOURCE_NAME.match(key):
            problems.append(f"node selector '{key}' is not a Kubernetes label name")
        elif not _LABEL_VALUE.match(value):
            problems.append(f"node selector value '{value}' of '{key}' is not a Kubernetes label value")
    texts = [server.image, server.command] + [t for f in server.files for t in f]
    if any("\x00" in t for t in texts):
        problems.append("its image, command or files hold a NUL character, which no process can be given")
    for problem in problems:
        c.diags.error(f"endpoint '{server.name}' of deployment node '{job.name}': {problem}", where)
    return not problems


def _stage_task(c: Compiler, job: ir.Job, servers: list[ir.Endpoint], names: dict[tuple[str, str], str],
                fed: set[str], deployment_id: str, facts: bool, image: Any) -> Task | None:
    """The pod staging the files into the claims (mounted at STAGE_DIR/<n>) and printing the
    facts, as a pipec job of the deployment's id; None when it cannot run (reported)."""
    lines: list[tuple[ir.Part, ...]] = [(ir.Text(STAGE),)]
    mounts: list[tuple[str, str]] = []  # (volume, claim)
    slots: list[str] = []
    for n, server in enumerate(s for s in servers if s.files):
        mounts.append((f"pipec-deploy-{n}", f"{names[(job.id, server.name)]}-{RUN}"))
        for file, _ in server.files:
            slot = f"{server.name}.{file}"
            if slot in fed:  # the deployments pass reported files nothing feeds
                slots.append(slot)
                lines.append((ir.Text(f"pipec_deploy_file {quote(slot)} {quote(f'{STAGE_DIR}/{n}/files/{file}')}"),))
    if facts:
        # The run's id is a workflow's name (DNS characters): it needs no JSON escape.
        lines.append((ir.Text(f"printf '{{\"id\": \"{deployment_id}\", \"version_id\": \"%s\"}}\\n' "),
                      ir.RunId("plain")))
    image = image or (servers[0].image if servers else None)
    stage = ir.Job(id=job.id, name=job.name, kind=ir.JobKind.DEPLOYMENT, image=str(image) if image else None,
                   command=ir.Command(ir.CommandKind.SHELL, tuple(lines)),
                   inputs=tuple(ir.Input(name=slot) for slot in dict.fromkeys(slots)), retries=job.retries,
                   on_error=job.on_error, location=job.location)
    ready = c.prepared(stage)
    if ready is None:
        return None
    args, setup = c.common_args(ready)
    values = c.values(ready, None)
    plan = c.command_plan(ready, [values])  # pipec's own script: the template shows it
    parameters = c.parameters_json(ready, values)
    text = "".join(setup + c.job_setup(ready) + [c.staging(ready)])
    args["parameters"], args["setup"] = pod_text(parameters), pod_text(text)
    if not c.fits(ready, text, [parameters], plan):
        return None
    name = c.unique_template(f"stage-{job.id}")
    template = container_template(c.give(args, plan, c.base_shape(ready)), name, c.wf.layout, c.argo)
    template.volumes = (template.volumes or []) + [
        m.Volume(name=volume, persistent_volume_claim=m.PersistentVolumeClaimVolumeSource(claim_name=claim))
        for volume, claim in mounts]
    assert template.container is not None
    template.container.volume_mounts = (template.container.volume_mounts or []) + [
        m.VolumeMount(name=volume, mount_path=f"{STAGE_DIR}/{n}") for n, (volume, _) in enumerate(mounts)]
    c.templates.append(template)
    return Task(name="stage", template=name, args=args)


def _apply(c: Compiler, task: str, template: str, obj: dict[str, Any], after: str | None = None) -> Task:
    name = c.unique_template(template)
    c.templates.append(m.Template(name=name, resource=m.ResourceTemplate(action="apply", manifest=manifest(obj))))
    return Task(name=task, template=name, depends=after)


def _cleanup(c: Compiler, task: str, template: str, name: str, after: str) -> Task:
    """Deletes the endpoint's claims of other runs (without waiting: a claim a pod still uses
    goes once that pod has gone)."""
    selector = f"{ENDPOINT_LABEL}={name},{VERSION_LABEL}!={RUN}"
    template_name = c.unique_template(template)
    c.templates.append(m.Template(name=template_name, resource=m.ResourceTemplate(
        action="delete", flags=["persistentvolumeclaim", "--selector", selector, "--wait=false"])))
    return Task(name=task, template=template_name, depends=after)


def _claim(name: Tag, labels: dict[str, str], settings: dict[str, Any]) -> dict[str, Any]:
    size = str(settings.get("volume_size", DEFAULT_VOLUME_SIZE))
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if settings.get("storage_class"):
        spec["storageClassName"] = str(settings["storage_class"])
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "labels": labels},
            "spec": spec}


def _container(c: Compiler, name: str, server: ir.Endpoint, kserve: bool) -> dict[str, Any]:
    links = [x for file, path in server.files
             for x in (f"{FILES_DIR}/{file}", path if path.startswith("/") else f"./{path}")]
    requests, limits, _, _ = resources(ir.Job(id=server.name, name=server.name, resources=server.resources), {})
    # The servers are pods of the cluster like the workflow's: [argo] defaults apply to them too.
    requests, limits = settings.default_resources(requests, limits, c.argo)
    if server.storage_limit_mb:
        limits["ephemeral-storage"] = f"{int(server.storage_limit_mb)}Mi"
    container: dict[str, Any] = {
        "name": name,
        "image": server.image,
        "command": [_k8s(word) for word in ["sh", "-c", SERVE, "pipec-serve", server.command, *links]],
        "ports": [{"containerPort": server.port, "protocol": "TCP"} if kserve
                  else {"name": "http", "containerPort": server.port, "protocol": "TCP"}],
    }
    if requests or limits:
        container["resources"] = {k: dict(sorted(v.items())) for k, v in (("requests", requests), ("limits", limits))
                                  if v}
    if c.argo.get("image_pull_policy"):
        container["imagePullPolicy"] = str(c.argo["image_pull_policy"])
    security = settings.container_security_context(c.argo)
    if security is not None:
        container["securityContext"] = _plain(security)
    return container


def _plain(model: Any) -> Any:
    """A Kubernetes model of hera's as the JSON the API takes."""
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def _pod_settings(c: Compiler) -> dict[str, Any]:
    """[argo] image_pull_secrets and security_context, as for the workflow's own pods."""
    out: dict[str, Any] = {}
    secrets = settings.image_pull_secrets(c.argo)
    if secrets:
        out["imagePullSecrets"] = [_plain(s) for s in secrets]
    security = settings.pod_security_context(c.argo)
    if security is not None:
        out["securityContext"] = _plain(security)
    return out


def _placement(server: ir.Endpoint) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if server.node_selector:
        out["nodeSelector"] = dict(server.node_selector)
    if server.tolerations:
        out["tolerations"] = [dict(t) for t in server.tolerations]
    return out


def _deployment(c: Compiler, name: str, labels: dict[str, str], server: ir.Endpoint, claim: Tag | None
                ) -> dict[str, Any]:
    container = _container(c, "server", server, False)
    # Ready once the server accepts connections: a rolling update keeps the old pod until then.
    container["readinessProbe"] = {"tcpSocket": {"port": "http"}}
    pod: dict[str, Any] = {"containers": [container], **_placement(server), **_pod_settings(c)}
    if claim is not None:
        container["volumeMounts"] = [{"name": "files", "mountPath": FILES_DIR, "subPath": "files", "readOnly": True}]
        pod["volumes"] = [{"name": "files", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {ENDPOINT_LABEL: name}},
            "template": {"metadata": {"labels": {**labels, VERSION_LABEL: Tag(RUN)}}, "spec": pod},
        },
    }


def _service(name: str, labels: dict[str, str], server: ir.Endpoint) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {"selector": {ENDPOINT_LABEL: name},
                 "ports": [{"name": "http", "port": server.port, "targetPort": "http", "protocol": "TCP"}]},
    }


def _inference_service(c: Compiler, name: str, labels: dict[str, str], server: ir.Endpoint, claim: Tag | None
                       ) -> dict[str, Any]:
    # KServe finds a custom container by its name and fetches STORAGE_URI into /mnt/models for it.
    container = _container(c, "kserve-container", server, True)
    if claim is not None:
        container["env"] = [{"name": "STORAGE_URI", "value": Tag(_k8s(f"pvc://{claim}/files"))}]
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "labels": {**labels, VERSION_LABEL: Tag(RUN)}},
        "spec": {"predictor": {"containers": [container], **_placement(server), **_pod_settings(c)}},
    }


__all__ = ["Tag", "deploy_tasks", "manifest", "object_names"]
