"""The manifest of one pipeline: a Workflow, a WorkflowTemplate (--kind template) or, for a
pipeline with a schedule, a CronWorkflow, with the runtime and the contents of the files
several jobs write in annotations, a header an operator reads first, and Kubernetes' size
limits (the object's, the annotations') checked."""

from __future__ import annotations

import json
from typing import Any

from hera.workflows import models as m

from pipec import __version__, ir
from pipec.backends.argo.names import CRON_NAME_MAX, WORKFLOW_NAME_MAX, comment, k8s_name
from pipec.backends.argo.settings import single_schedule
from pipec.backends.argo.templates import FILE_ANNOTATION, RUNTIME_ANNOTATION
from pipec.backends.runtime import runtime_script
from pipec.backends.yamltext import dump
from pipec.errors import Diagnostics, Location

MAX_OBJECT_BYTES = 1024 * 1024  # etcd's default request limit for one object
# Kubernetes' limit on all annotations of one object together, keys and values
# (apimachinery TotalAnnotationSizeLimitB).
MAX_ANNOTATION_BYTES = 256 * 1024


def document(wf: ir.Workflow, spec: m.WorkflowSpec, kind: str, argo: dict[str, Any], fail_fast: bool, stop: bool,
             diags: Diagnostics, where: Location, secrets: tuple[str, ...] = (),
             files: tuple[tuple[str, Location | None], ...] = ()) -> str | None:
    """The manifest's text, or None when it cannot be written (reported). `secrets`: the
    Kubernetes Secrets its pods read (named in the header); `files`: per shared file contents
    k, its annotation value (pod_text) and where it is first used."""
    # What the pods read (workflow.annotations.*): the runtime, and each shared file's contents.
    shipped = {RUNTIME_ANNOTATION: runtime_annotation(),
               **{FILE_ANNOTATION.format(k=k): value for k, (value, _) in enumerate(files)}}
    annotations = {"pipec.dev/pipeline": wf.name, "pipec.dev/source": wf.source_file}
    # A run's Workflow carries both (a template's or a cron's workflowMetadata is copied into it).
    total = sum(len(k.encode()) + len(v.encode()) for k, v in {**annotations, **shipped}.items())
    if total > MAX_ANNOTATION_BYTES:
        largest = max(range(len(files)), key=lambda k: len(files[k][0]), default=None)
        what = (f", {sum(len(v.encode()) for v, _ in files):,} of them the contents of {len(files)} file(s) "
                "several jobs write (each shipped once)") if files else ""
        diags.error(f"the annotations of the workflow for '{wf.name}' take {total:,} bytes{what}; Kubernetes "
                    f"accepts at most {MAX_ANNOTATION_BYTES:,} bytes of annotations on one object",
                    (files[largest][1] if largest is not None else None) or where,
                    "pass large files as a URL input, or build them into the image")
        return None
    labels = {str(k): str(v) for k, v in dict(argo.get("labels", {})).items()} or None
    namespace = argo.get("namespace")
    triggers = [t.cron for t in wf.triggers]
    zones = {t.timezone or str(argo.get("timezone", "UTC")) for t in wf.triggers}
    if triggers and kind == "template":
        diags.warning(f"pipeline '{wf.name}' has a cron schedule; --kind template writes a "
                      "WorkflowTemplate, which does not run on a schedule", where, code="PC506")
    elif triggers:
        kind = "cron"
    if len(zones) > 1:  # one CronWorkflow reads all its schedules in one time zone
        diags.error(f"the schedules of '{wf.name}' use several time zones ({', '.join(sorted(zones))}); "
                    "an Argo CronWorkflow has one", wf.triggers[0].location or where)
        return None
    single = kind == "cron" and single_schedule(argo)
    if single and len(triggers) > 1:
        diags.error(f"pipeline '{wf.name}' has {len(triggers)} schedules; a CronWorkflow of Argo "
                    f"{argo.get('version')} has one (spec.schedule; spec.schedules came in Argo 3.6)",
                    wf.triggers[1].location or where,
                    'give it one schedule, or set [argo] version = "3.6" or newer if the cluster runs it')
        return None
    doc: Any
    if kind == "workflow":
        meta = m.ObjectMeta(generate_name=k8s_name(wf.name, WORKFLOW_NAME_MAX - 1) + "-", namespace=namespace,
                            labels=labels, annotations={**annotations, **shipped})
        doc = m.Workflow(api_version="argoproj.io/v1alpha1", kind="Workflow", metadata=meta, spec=spec)
    elif kind == "template":
        spec.workflow_metadata = m.WorkflowMetadata(annotations=shipped)
        meta = m.ObjectMeta(name=k8s_name(wf.name, 63), namespace=namespace, labels=labels, annotations=annotations)
        doc = m.WorkflowTemplate(api_version="argoproj.io/v1alpha1", kind="WorkflowTemplate", metadata=meta,
                                 spec=spec)
    else:
        meta = m.ObjectMeta(name=k8s_name(wf.name, CRON_NAME_MAX), namespace=namespace, labels=labels,
                            annotations=annotations)
        doc = m.CronWorkflow(
            api_version="argoproj.io/v1alpha1", kind="CronWorkflow", metadata=meta,
            spec=m.CronWorkflowSpec(schedules=triggers, timezone=zones.pop(),
                                    workflow_metadata=m.ObjectMeta(annotations=shipped),
                                    workflow_spec=spec))
    data = _order(doc.model_dump(by_alias=True, exclude_none=True, mode="json"))
    if single:  # hera models Argo 4, which has only the list
        data["spec"] = {("schedule" if k == "schedules" else k): (v[0] if k == "schedules" else v)
                        for k, v in data["spec"].items()}
    size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    limit = int(argo.get("max_object_bytes", MAX_OBJECT_BYTES))
    if size > limit:
        diags.error(f"the {doc.kind} for '{wf.name}' is {size:,} bytes; Kubernetes stores at most "
                    f"{limit:,} bytes in one object", where,
                    "split the pipeline, or raise [argo] max_object_bytes if your cluster's etcd "
                    "accepts larger requests")
        return None
    return _header(wf, doc.kind, fail_fast, stop, secrets) + dump(data)


def runtime_annotation() -> str:
    """The Argo runtime without its comment and blank lines (the annotation is read by machines;
    the commented parts ship with the Slurm and GitHub Actions targets and live in the pipec
    sources, templates/runtime/)."""
    text = runtime_script("argo")
    return "".join(line for line in text.splitlines(keepends=True) if line.strip() and not line.lstrip().startswith("#"))


def _header(wf: ir.Workflow, kind: str, fail_fast: bool, stop: bool, secrets: tuple[str, ...] = ()) -> str:
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
    lines = [f"Generated by pipec {__version__} from {wf.source_file}, pipeline {wf.name}.", f"Use: {submit}",
             f"Failures: {policy}."]
    if any(len(g.members) > 1 for g in wf.groups):
        lines.append("Groups: each creates a headless Service for its members' host names (the workflow's "
                     "service account needs create on services).")
    if secrets:
        lines.append(f"Credentials: the pods read Kubernetes Secrets ({', '.join(secrets)}), which must exist in "
                     "the workflow's namespace; the manifest holds no value.")
    if any(j.uploads for j in wf.jobs):
        lines.append("Uploads: outputs and checkpoints are copied by the [upload] command of their URL's scheme, "
                     "run in the job's own image (which needs that tool, e.g. aws or gsutil, and its credentials).")
    return "".join(f"# {comment(line)}\n" for line in lines)


_FIRST = ("name", "image", "template", "depends", "entrypoint", "inputs", "outputs")
_CONTAINER_FIRST = ("name", "image", "command", "args")  # what a container runs, in the order it reads


def _order(node: Any) -> Any:
    """Names and what a reader looks for first, then the model's own order (readability)."""
    if isinstance(node, dict):
        out = {k: _order(node[k]) for k in (_CONTAINER_FIRST if "image" in node else ()) + _FIRST if k in node}
        out.update((k, _order(v)) for k, v in node.items() if k not in out)
        return out
    if isinstance(node, list):
        return [_order(v) for v in node]
    return node
