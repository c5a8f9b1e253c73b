"""Container templates: one per job shape (image, resources, what the pod receives, and the
command it runs), shared by every job of that shape. A pod runs one execution under the runtime
contract. The command is the container's argument, where the Argo UI and `kubectl describe pod`
show it; it reads each value from a variable PIPEC_P_<name>, filled from a template parameter,
so executions that differ only in their values share one template. Everything else the author
wrote reaches the pod in environment variables filled from template parameters too."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hera.workflows import models as m

from pipec import ir
from pipec.backends.argo.artifacts import key_artifact, url_artifact
from pipec.backends.argo.names import MISSING, argo_text, kubelet_text
from pipec.backends.argo.retries import retry_strategy
from pipec.backends.argo.secrets import Credentials, env_vars, volumes
from pipec.backends.argo.settings import container_security_context, tmp_volume
from pipec.backends.command import REF_PREFIX, RUN_ID
from pipec.backends.common import JobRenderer

EXEC_MOUNT = "/pipec/exec"  # where the execution directory is mounted when the layout has no root
RUNTIME_ANNOTATION = "pipec-runtime"
# Contents k of a file several jobs write (common.py shared_files): shipped once, in this
# workflow annotation, and read by each pod that writes it through PIPEC_SHARED_FILE_<k>.
FILE_ANNOTATION = "pipec-file-{k}"
# The container runs `sh -c BOOT pipec COMMAND`: the command is an argument, data to the shell
# (pipec_pod writes it to a file and runs that), never part of BOOT's own source.
BOOT = 'set -eu; eval "$PIPEC_RUNTIME"; PIPEC_COMMAND=$1; pipec_pod'
BOOT_NAME = "pipec"  # BOOT's $0
VALUE_ANNOTATION = "pipec.dev/"  # + param-<k>, value-<j>, value-<j>-json: a pod's run-time values
GROUP_LABEL = "pipec.dev/group"  # on every pod of a group; its headless Service selects them by it
# A barrier member is Ready once the runtime reached the barrier (pipec_barrier touches the
# file). Kubernetes publishes the DNS record of a pod behind a headless Service only while it
# is Ready (kubernetes.io/docs/concepts/services-networking/dns-pod-service, "A/AAAA records"),
# so a peer's name resolving means that peer waits at the barrier too. An exec probe runs in
# the container with its environment: PIPEC_POD_DIR is unset there (the runtime's default).
READY_PROBE = 'test -e "${PIPEC_POD_DIR:-/pipec}/ready"'
# A group member's pod: `hostname` and `subdomain` (the group's headless Service) give it the
# DNS name <hostname>.<subdomain>.<namespace>.svc.<cluster domain>, which every pod of the
# namespace resolves as <hostname>.<subdomain> through its DNS search path. Argo templates
# have no field for them; podSpecPatch patches the pod spec (Argo's field reference).
MEMBER_PATCH = json.dumps({"hostname": "{{inputs.parameters.hostname}}",
                           "subdomain": "{{inputs.parameters.subdomain}}"}, sort_keys=True)


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
    retry_expression: str | None  # with retries: when Argo retries (retries.py); None: Argo's default, a failed pod
    upstream: int
    inputs_area: bool  # a downstream reads this job's inputs too
    urls: tuple[str, ...]  # native URL artifacts by kind
    params: tuple[tuple[int, str], ...]  # (pipeline parameter index, Argo name)
    values: int
    metadata: tuple[bool, ...]  # per metadata output: also a list of items (fan-out source)
    daemon: bool
    lead: bool
    member: bool = False  # a member of a group of several jobs: a stable host name in the group's subdomain
    probe: bool = False  # Ready only once at the group's barrier
    credentials: Credentials = Credentials()  # Secret keys as variables, Secrets mounted as directories
    run_id: bool = False  # the job reads the run's id (PIPEC_RUN_ID)
    files: tuple[int, ...] = ()  # the shared file contents (k) its setup writes: PIPEC_SHARED_FILE_<k>
    # The command every execution runs, shown in the container's args; None: each task gives
    # its own (parameter `command`; commands.py).
    command: str | None = None
    refs: tuple[str, ...] = ()  # the variables PIPEC_P_<name> the command reads, each from a parameter
    picked: tuple[str, ...] = ()  # those the pod picks itself (a withSequence grid's columns: pipec_pick)


def ref_param(var: str) -> str:
    """The template parameter filling variable PIPEC_P_<name>: p-<name> (an Argo parameter name:
    letters, digits, '_' and '-'; no parameter of pipec's own starts with p-)."""
    return "p-" + var[len(REF_PREFIX):]


def env_var(name: str, value: str) -> m.EnvVar:
    """A variable with a value the kubelet passes on as written (see names.kubelet_text)."""
    return m.EnvVar(name=name, value=kubelet_text(value))


def annotated_var(name: str, key: str, value: str, annotations: dict[str, str]) -> m.EnvVar:
    """A variable holding `value` (an Argo expression) exactly: the pod's annotation
    pipec.dev/<key>, read through the downward API. The kubelet expands `$(NAME)` and `$$` in
    a variable's `value`, never in what a fieldRef reads."""
    annotations[f"{VALUE_ANNOTATION}{key}"] = value
    return m.EnvVar(name=name, value_from=m.EnvVarSource(field_ref=m.ObjectFieldSelector(
        field_path=f"metadata.annotations['{VALUE_ANNOTATION}{key}']")))


def container_template(shape: Shape, name: str, layout: ir.Layout, argo: dict[str, Any]) -> m.Template:
    """The container template of every job of one shape: the pod runs `pipec_pod` from the
    runtime in the workflow's annotation on the command in its args, with the execution's
    values in its environment."""
    mount = layout.root or EXEC_MOUNT
    # Areas that do not sit under one root get mounts of their own.
    area_mounts = [] if layout.root else [
        m.VolumeMount(name="pipec-execution", mount_path=layout.path(area), sub_path=area) for area in ir.AREAS]
    storage = str(argo.get("artifact_storage", "s3"))
    inputs = [m.Parameter(name="job"), m.Parameter(name="execution", default="0"),
              *([m.Parameter(name="command")] if shape.command is None else []),
              m.Parameter(name="setup", default=""), m.Parameter(name="parameters", default="{}")]
    env = [
        env_var("PIPEC_RUNTIME", f"{{{{workflow.annotations.{RUNTIME_ANNOTATION}}}}}"),
        env_var("PIPEC_ENGINE", "argo"),
        # The run's id (OSMO {{workflow_id}}): the workflow's name, Argo's own variable.
        *([env_var(RUN_ID, "{{workflow.name}}")] if shape.run_id else []),
        env_var("PIPEC_EXEC_MOUNT", mount),
        *([env_var("PIPEC_LAYOUT", layout.spec())] if layout.exports else []),
        env_var("PIPEC_JOB", "{{inputs.parameters.job}}"),
        env_var("PIPEC_EXECUTION", "{{inputs.parameters.execution}}"),
        env_var("PIPEC_SETUP", "{{inputs.parameters.setup}}"),
        env_var("PIPEC_PARAMETERS", "{{inputs.parameters.parameters}}"),
    ]
    # A command holding "{{" cannot stand in the template as it is (Argo would template it): it
    # stands there base64-encoded (argo_text), and the pod decodes it like any argument.
    command = "{{inputs.parameters.command}}" if shape.command is None else argo_text(shape.command)
    encoded = (["PIPEC_COMMAND"] if command != shape.command else []) + ["PIPEC_SETUP", "PIPEC_PARAMETERS"]
    for var in shape.refs:
        inputs.append(m.Parameter(name=ref_param(var), default="" if var in shape.picked else None))
        env.append(env_var(var, f"{{{{inputs.parameters.{ref_param(var)}}}}}"))
        encoded.append(var)  # the value may hold "{{": then it is pipec-b64: text
    for k in shape.files:  # the annotation holds "{{"-free text or pipec-b64: (argo_text)
        var = JobRenderer.shared_file_var(k)
        env.append(env_var(var, f"{{{{workflow.annotations.{FILE_ANNOTATION.format(k=k)}}}}}"))
        encoded.append(var)
    artifacts = []
    for i in range(shape.upstream):
        inputs.append(m.Parameter(name=f"up-{i}"))
        artifacts.append(m.Artifact(name=f"up-{i}", path=f"/pipec/up/{i}", optional=True,
                                    **key_artifact(storage, f"{{{{workflow.name}}}}/{{{{inputs.parameters.up-{i}}}}}/")))
    if shape.upstream:
        env.append(env_var("PIPEC_UPSTREAM", " ".join(f"{{{{inputs.parameters.up-{i}}}}}"
                                                   for i in range(shape.upstream))))
    for i, kind in enumerate(shape.urls):
        names = [f"url-{i}"] if kind == "http" else [f"url-{i}-bucket", f"url-{i}-key"]
        inputs += [m.Parameter(name=n) for n in names]
        artifacts.append(m.Artifact(name=f"url-{i}", path=f"/pipec/url/{i}", **url_artifact(kind, i, argo)))
    # Values known only when the workflow runs (given at submit time, printed by an upstream
    # job) cannot be escaped for the kubelet beforehand: they reach the pod as its annotations,
    # read through the downward API, where nothing expands them.
    annotations: dict[str, str] = {}
    for k, pname in shape.params:
        env.append(annotated_var(f"PIPEC_PARAM_{k}", f"param-{k}", f"{{{{workflow.parameters.{pname}}}}}",
                                 annotations))
        encoded.append(f"PIPEC_PARAM_{k}")  # -p NAME=pipec-b64:... carries values holding "{{"
    for j in range(shape.values):
        inputs += [m.Parameter(name=f"value-{j}"), m.Parameter(name=f"value-{j}-json")]
        env += [annotated_var(f"PIPEC_VALUE_{j}", f"value-{j}", f"{{{{inputs.parameters.value-{j}}}}}", annotations),
                annotated_var(f"PIPEC_VALUE_{j}_JSON", f"value-{j}-json",
                              f"{{{{inputs.parameters.value-{j}-json}}}}", annotations)]
        encoded += [f"PIPEC_VALUE_{j}", f"PIPEC_VALUE_{j}_JSON"]
    if shape.metadata:
        inputs.append(m.Parameter(name="metadata"))
        env.append(env_var("PIPEC_METADATA", "{{inputs.parameters.metadata}}"))
        encoded.append("PIPEC_METADATA")
    if shape.daemon or shape.lead or shape.member:
        env.append(m.EnvVar(name="PIPEC_POD_IP", value_from=m.EnvVarSource(
            field_ref=m.ObjectFieldSelector(field_path="status.podIP"))))
    if shape.lead:
        inputs.append(m.Parameter(name="hosts"))
        env.append(env_var("PIPEC_MEMBER_HOSTS", "{{inputs.parameters.hosts}}"))
    if shape.member:
        inputs += [m.Parameter(name="hostname"), m.Parameter(name="subdomain")]
        env.append(env_var("PIPEC_SUBDOMAIN", "{{inputs.parameters.subdomain}}"))
    env.append(env_var("PIPEC_ENCODED", " ".join(encoded)))
    env += env_vars(shape.credentials)
    secret_volumes, secret_mounts = volumes(shape.credentials)
    key = "{{workflow.name}}/{{inputs.parameters.job}}/{{inputs.parameters.execution}}"
    out_artifacts = [
        m.Artifact(name=area.strip(".") or area, path=f"{mount}/{area}", optional=True,
                   archive=m.ArchiveStrategy(none=m.NoneStrategy()), **key_artifact(storage, f"{key}/{area}/"))
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
        command=["sh", "-c", BOOT, BOOT_NAME],
        args=[kubelet_text(command)],
        env=env,
        resources=m.ResourceRequirements(requests=requests or None, limits=limits or None)
        if requests or limits else None,
        volume_mounts=[m.VolumeMount(name="pipec", mount_path="/pipec"),
                       m.VolumeMount(name="pipec-execution", mount_path=mount), *area_mounts, *tmp_volume(argo)[1],
                       *secret_mounts],
        image_pull_policy=argo.get("image_pull_policy"),
        security_context=container_security_context(argo),
        readiness_probe=m.Probe(exec=m.ExecAction(command=["sh", "-c", READY_PROBE]), period_seconds=1)
        if shape.probe else None,
    )
    return m.Template(
        name=name,
        inputs=m.Inputs(parameters=inputs, artifacts=artifacts or None),
        outputs=m.Outputs(artifacts=out_artifacts, parameters=out_params or None),
        container=container,
        active_deadline_seconds=shape.timeout,
        retry_strategy=retry_strategy(shape.retries, shape.retry_expression),
        volumes=secret_volumes or None,
        node_selector=dict(shape.node_selector) or None,
        tolerations=[m.Toleration(**t) for t in json.loads(shape.tolerations)] or None,
        daemon=True if shape.daemon else None,
        metadata=m.Metadata(labels={GROUP_LABEL: "{{inputs.parameters.subdomain}}"} if shape.member else None,
                            annotations=annotations or None) if shape.member or annotations else None,
        pod_spec_patch=MEMBER_PATCH if shape.member else None,
    )
