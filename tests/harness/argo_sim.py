"""A local emulator of the subset of Argo Workflows that pipec's manifests use.

    from tests.harness.argo_sim import run_workflow
    wf = run_workflow(manifest_text, tmp_path, parameters={"name": "value"})
    wf.phase                       # "Succeeded" | "Failed" | "Error"
    wf.task("train").phase         # a task of the entry DAG (a loop gives its TaskGroup node)
    wf.pods(job="train")           # the pods that ran, with env, exit code, logs, dirs
    wf.repo / wf.name / "train/0/outputs/model.txt"     # the artifact repository
    pod_command(template, task_arguments)                # the command a pipec pod runs

Pods are real ``sh`` processes (the container's command with the template's environment),
each in fresh temporary directories, run concurrently like a cluster would.

What is emulated, and how (the controller code it follows is in argoproj/argo-workflows,
workflow/controller/{operator,dag,workflowpod}.go and util/template):

* Template tags: fasttemplate ``{{...}}`` substitution over the JSON text of the object, each
  value escaped with Go's ``strconv.Quote`` (so a value holding BEL, ESC, DEL, ... gives
  ``\\a``/``\\x1b`` escapes and the result is rejected as invalid JSON, as Argo does), the
  "nested tag" fallback, and the passes Argo makes, in order, each re-reading what the
  previous one inserted:
    1. the DAG template itself (ProcessArgs): globals, then its inputs;
    2. a DAG task (resolveDependencyReferences): globals + ``tasks.*`` of its ancestors;
    3. loop expansion (withItems/withParam/withSequence): ``item``/``item.key``, unresolved
       tags are an error;
    4. the called template (SubstituteParams): globals + locals (pass A), then
       ``inputs.parameters.*`` (pass B);
    5. the pod spec (substitutePodParams): globals + ``inputs.parameters.*`` + ``pod.name``.
  Globals: ``workflow.name/namespace/uid``, ``workflow.parameters.*`` (``spec.arguments``,
  overridden like ``argo submit -p``), ``workflow.annotations.*`` / ``workflow.labels.*``
  (metadata of the Workflow, or ``workflowMetadata`` of a WorkflowTemplate/CronWorkflow).
  Stricter than Argo: a tag still unresolved in a pod spec makes the node Error (Argo would
  start the pod with the braces in it), and ``{{=expression}}`` tags are refused.
* DAGs: ``depends`` (``&& || !``, parentheses, ``.Succeeded .Failed .Errored .Skipped
  .Daemoned .AnySucceeded .AllFailed``, a bare name = Succeeded||Skipped||Daemoned), or the
  older ``dependencies`` list read as the expression Argo makes of it; a task
  whose expression is false is Omitted; target (leaf) tasks; the DAG phase as in
  assessDAGPhase: Running while any of its nodes runs, then the branch phase of the targets
  (omitted tasks inherit their parents'). ``failFast`` (default true) only decides the DAG
  phase once nothing runs: as in the controller (argo-workflows issues #5223, #10312), a failed
  task does NOT stop the DAG from starting tasks whose dependencies succeed while other tasks
  still run. Template ``parallelism`` and ``spec.parallelism`` (active pods below a node).
  DAG template outputs ``valueFrom.parameter`` (only when the DAG succeeds).
* Loops: one TaskGroup node, children ``task(i)``; Failed if any child failed. A loop's
  ``{{tasks.T.outputs.parameters.P}}`` is the JSON list (Go json.Marshal) of the children's
  string values in loop-index order, children without outputs left out;
  ``tasks.T.outputs.parameters`` the list of maps. Items that are objects give ``item.key``
  (strings as-is, other values as JSON); ``{{item}}`` is the item (objects as JSON).
* Containers: the kubelet's expansion of ``$(NAME)`` and ``$$`` (Kubernetes' third_party/forked/
  golang/expansion: ``$$`` gives ``$``, ``$(NAME)`` the value of a variable defined so far, an
  unknown name or an unclosed ``$(`` is kept as written) in each env ``value`` (with the
  variables listed before it) and in ``command``/``args`` (with the container's whole env);
  env ``value``, ``valueFrom.fieldRef status.podIP`` (127.0.0.N) and ``metadata.annotations['KEY']`` (the
  template's own annotations, substituted; nothing expanded); emptyDir
  volume mounts become per-pod directories; ``activeDeadlineSeconds`` kills the pod (Failed);
  a volume mount naming no volume of the template (``volumes``), of the workflow or of its
  claim templates is an Error ("volume '%s' not found in workflow spec", workflowpod.go
  addVolumeReferences);
  ``retryStrategy`` (docs/retries.md): ``limit``, ``retryPolicy`` (Always: Failed and Error
  attempts; OnFailure: Failed; OnError: Error; the default OnFailure, or Always when an
  ``expression`` is given, as from Argo 3.5) and ``expression`` (evaluated with
  ``lastRetry.exitCode/status/duration/message``, the subset of expr-lang that
  tests/harness/argo_check.parse_expr reads; an exit code of a pod killed by signal N is
  128+N, "-1" where the pod has none), a Retry node whose outputs are the last attempt's;
  ``daemon: true`` (the node is Daemoned
  and fulfilled while it runs; daemons are killed, and marked Succeeded, when their enclosing
  DAG is fulfilled, and their outputs are saved like any pod's). A pod killed at its deadline
  saves nothing (the kubelet stops the whole pod, Argo's wait container included).
* Artifacts: a key-only S3 repository emulated as a directory. An output artifact (``archive:
  none``) copies the files under its path to ``repo/<key>`` (merging with what is there, like
  S3 uploads: nothing is deleted; empty directories vanish, as S3 has none); missing + optional
  is skipped. An input artifact whose key names a "directory" downloads the whole prefix;
  missing + optional gives nothing. Downloaded files get mode 0644 (S3 keeps no modes).
  ``http`` input artifacts are fetched with urllib. Output parameters ``valueFrom.path``
  (``default`` when the file is missing) are read after the container exits, failed or not.

pipec-specific concession: pods cannot own /pipec or /valohai on this machine, so each
emptyDir mount is a temp directory, and the env gets ``PIPEC_POD_DIR`` (the /pipec mount)
and ``PIPEC_EXEC_MOUNT`` (the directory its template value names) pointing there.

Also: ``suspend`` templates with a ``duration`` (Succeeded once it elapsed; no ``argo resume``).

Container filesystems (kubernetes.io/docs/concepts/storage/volumes: "A process in a container
sees a filesystem view composed from the initial contents of the container image, plus volumes
(if defined) mounted inside the container"; writes go to that container's own view):
* Images (``images={image: directory}``): the directory holds the files of the image at its
  working directory (Container.workingDir, API reference: "If not specified, the container
  runtime's default will be used, which might be configured in the container image"). A pod of
  that image starts in a fresh copy of the directory, its own (what one pod writes there no
  other pod sees); a pod of another image starts in an empty directory. A container that sets
  ``workingDir`` is refused when an ``images`` entry is given for its image (not emulated).
* A private /tmp (``private_tmp=True``): each pod runs in a mount namespace of its own
  (``unshare``) whose /tmp is a fresh directory of the pod, so what a container writes below
  /tmp (its image's filesystem, not a volume) is not seen by other pods or by this machine. The
  emulator's ``workdir`` stays visible at its path inside it (pods need their volumes, which
  are directories there); every other path below /tmp is hidden.

Lost pods (``lose={job: n}``): the first n pods of a job are lost after half a second, as when
their node fails or is drained: the pod is deleted with everything in it, nothing is saved, and
Argo marks its node Error with the message "pod deleted" (docs/tolerating-pod-deletion.md: a
deleted pod errors the workflow unless retryPolicy retries Errors; the message is the one
docs/retries.md's conditional-retry example matches).

Secrets (``secrets={name: {key: value}}``, the namespace's Kubernetes Secrets;
kubernetes.io/docs/concepts/configuration/secret): ``env[].valueFrom.secretKeyRef`` gives the
key's value; a ``secret`` volume (``secretName``, ``items``, ``defaultMode`` 0644, ``optional``)
mounts a directory holding one file per key, read-only. A Secret or key that is missing (and
not ``optional``) keeps the kubelet from starting the container (CreateContainerConfigError;
the pod stays Pending): stricter here, the node is an Error at once. A Secret volume's
``mountPath`` must lie below the emulator's ``workdir`` (pods are processes of this machine):
the emulator creates the directory and binds the files over it in the pod's own mount namespace
(``unshare``, as for /etc/hosts below), so no other process sees them.

Pod networking and Services (what pipec's groups of several jobs use; Kubernetes docs cited):
* ``resource`` templates with ``action: create`` of a ``v1`` ``Service`` only (Argo runs
  ``kubectl create``; docs/walk-through/kubernetes-resources.md): the Service is recorded in
  the workflow's namespace (``argo``); a name that is taken fails the node (AlreadyExists), a
  name that is not a DNS-1035 label is an Error. ``setOwnerReference`` is accepted (the
  Service goes with the workflow, here with the emulator).
* Template ``metadata.labels`` become the pod's labels; ``podSpecPatch`` (Argo: a patch of the
  pod spec, docs/fields.md "podSpecPatch") may set ``hostname`` and ``subdomain`` (DNS-1123
  labels, else an Error); anything else in it is refused as not emulated. A pod with a
  hostname sees it in ``HOSTNAME``.
* Readiness (kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle, "Container probes"): a
  container without ``readinessProbe`` is Ready once it runs; an ``exec`` probe runs every
  ``periodSeconds`` (default 10, after ``initialDelaySeconds``) with the container's
  environment, Ready after ``successThreshold`` successes, not Ready after
  ``failureThreshold`` (default 3) failures. A daemon node is Daemoned only once its pod is
  Ready (Argo's assessNodeStatus: "running AND ready").
* DNS (kubernetes.io/docs/concepts/services-networking/dns-pod-service): a pod with
  ``hostname`` and ``subdomain`` has the A record ``<hostname>.<subdomain>.<ns>.svc.cluster.local``
  when a headless Service named ``<subdomain>`` in its namespace selects it and the pod is Ready
  (or the Service sets ``publishNotReadyAddresses``); terminated pods have none. Pods resolve
  through the search path ``<ns>.svc.cluster.local svc.cluster.local cluster.local``, so
  ``<hostname>.<subdomain>`` works too. Once a workflow has a Service, each pod it starts runs
  in a mount namespace of its own (``unshare``; needs root or user namespaces) whose
  ``/etc/hosts`` the emulator replaces as the records change (``nsenter`` + ``mount``): the
  kubelet's own entry for the pod (its IP, FQDN and hostname), then every record above under
  each name the search path makes resolvable. No ports, no SRV records, no record for the
  Service name itself.

Not emulated: steps templates, script templates, resource templates other than creating a
Service, ``when``, ``continueOn`` (except in the DAG phase, where a tolerated failure counts
as success, and for ``dependencies``), exit handlers and hooks, artifact/parameter
``from``/``globalName``, memoization, synchronization, ``{{=...}}`` expressions, retry backoff
and the policy OnTransientError, timeouts other than ``activeDeadlineSeconds``, node
selectors/resources (accepted, ignored),
pod scheduling (a pod runs as soon as the emulated cluster has room: ``capacity`` pods).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unicodedata
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.harness.argo_check import ExprError, eval_expr, parse_expr

__all__ = ["ArgoError", "Node", "Workflow", "go_quote", "replace", "run_workflow"]

NAMESPACE = "argo"
CLUSTER_DOMAIN = "cluster.local"
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# A pod whose /etc/hosts the emulator keeps, that mounts Secret volumes or has a private /tmp: in
# a mount namespace of its own (private propagation: nothing leaks to this machine), bind each
# SOURCE over TARGET (read-only where MODE is ro, with the mounts below SOURCE where MODE is
# tree), the words after the working directory up to "--", then enter the working directory
# again (a mount over one of its parents leaves the old one unreachable) and run the container.
_BINDS_BOOT = ('cwd=$1; shift; while [ "$1" != -- ]; do '
               'if [ "$3" = tree ]; then mount --rbind "$1" "$2" || exit 1; else mount --bind "$1" "$2" || exit 1; fi; '
               '[ "$3" != ro ] || mount -o remount,bind,ro "$2" || exit 1; shift 3; done; shift; '
               'cd "$cwd" || exit 1; exec "$@"')


class ArgoError(Exception):
    """What Argo would report as a node error (or a workflow that cannot run)."""


# ----------------------------------------------------------------------------- templating
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", '"': '\\"', "\\": "\\\\"}


def _go_printable(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def go_quote(text: str) -> str:
    """Go's strconv.Quote(text) without the surrounding quotes."""
    out = []
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif _go_printable(ch):
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def _json_valid(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def replace(text: str, values: dict[str, str], allow_unresolved: bool) -> str:
    """util/template.Replace: fasttemplate over JSON text, simpleReplace for each tag."""
    if not _json_valid(text):
        raise ArgoError("cannot do template replacements with invalid JSON")
    out: list[str] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            out.append(text[pos:])
            break
        end = text.find("}}", start + 2)
        if end < 0:
            raise ArgoError(f"Cannot find end tag='}}}}' in the template starting from {text[start:start + 60]!r}")
        out.append(text[pos:start])
        out.append(_simple_replace(text[start + 2:end], values, allow_unresolved))
        pos = end + 2
    result = "".join(out)
    if not _json_valid(result):
        raise ArgoError("cannot finish template replacement because the result was invalid JSON")
    return result


def _simple_replace(tag: str, values: dict[str, str], allow_unresolved: bool) -> str:
    if tag.strip().startswith("="):
        raise ArgoError(f"the emulator does not evaluate expression tags: {{{{{tag}}}}}")
    key = tag.strip()
    if key in values:
        return go_quote(values[key])
    nested = tag.rfind("{{")
    if nested > 0 and tag[nested + 2:] in values:
        return "{{" + tag[:nested] + go_quote(values[tag[nested + 2:]])
    if allow_unresolved:
        return "{{" + tag + "}}"
    raise ArgoError(f"failed to resolve {{{{{tag}}}}}")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def substitute(obj: Any, values: dict[str, str], allow_unresolved: bool = True) -> Any:
    return json.loads(replace(_dumps(obj), values, allow_unresolved))


def _go_json_list(values: list[str]) -> str:
    """json.Marshal of a []string (Go escapes <, > and & for HTML safety)."""
    text = _dumps(values)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# ---------------------------------------------------------------------------------- nodes
FULFILLED = {"Succeeded", "Failed", "Error", "Skipped", "Omitted"}
COMPLETED = {"Succeeded", "Failed", "Error"}


@dataclass
class Pod:
    name: str
    spec: dict[str, Any]  # the substituted template (container, inputs, outputs, ...)
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    mounts: dict[str, Path] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    started: float = 0.0
    exit_code: int | None = None
    killed: str | None = None  # "deadline" | "daemon" | "lost"
    labels: dict[str, str] = field(default_factory=dict)
    hostname: str | None = None
    subdomain: str | None = None
    ready: bool = False
    probe_at: float = 0.0  # when the readiness probe runs next
    probe_streak: int = 0  # probe results in a row that disagree with `ready`
    hosts_file: Path | None = None  # the pod's /etc/hosts, when the emulator keeps one
    hosts_version: int = 0

    @property
    def stdout(self) -> str:
        return (self.root / "stdout.log").read_text(errors="replace") if (self.root / "stdout.log").exists() else ""

    @property
    def stderr(self) -> str:
        return (self.root / "stderr.log").read_text(errors="replace") if (self.root / "stderr.log").exists() else ""

    def path(self, container_path: str) -> Path:
        """Where a path inside the container lives on this machine."""
        for mount, local in sorted(self.mounts.items(), key=lambda kv: -len(kv[0])):
            if container_path == mount or container_path.startswith(mount.rstrip("/") + "/"):
                return local / container_path[len(mount):].lstrip("/")
        raise ArgoError(f"{container_path} is on no volume of pod {self.name}")


@dataclass
class Node:
    name: str
    type: str  # DAG | TaskGroup | Retry | Pod | Skipped
    phase: str
    template: str | None = None
    boundary: Node | None = None  # the DAG node whose task made this node
    children: list[Node] = field(default_factory=list)
    outputs: dict[str, str] | None = None
    message: str = ""
    index: int = 0
    daemoned: bool = False
    pod: Pod | None = None
    pod_ip: str | None = None

    @property
    def fulfilled(self) -> bool:
        return self.phase in FULFILLED or (self.daemoned and self.phase != "Pending")

    @property
    def failed(self) -> bool:
        return self.phase in ("Failed", "Error")


# ------------------------------------------------------------------------------- depends
_TOKEN = re.compile(r"\s*(\(|\)|&&|\|\||!|[A-Za-z0-9_-]+(?:\.[A-Za-z]+)?)")
# A downward-API path to one annotation of the pod (what fieldRef may read of its metadata).
_ANNOTATION_PATH = re.compile(r"metadata\.annotations\['([^']+)'\]")
_RESULTS = {"Succeeded", "Failed", "Errored", "Skipped", "Daemoned", "AnySucceeded", "AllFailed"}


def depends_tasks(expr: str | None) -> list[str]:
    names = []
    for tok in _tokens(expr or ""):
        if tok not in ("(", ")", "&&", "||", "!"):
            name = tok.split(".")[0]
            if name not in names:
                names.append(name)
    return names


def _tokens(expr: str) -> list[str]:
    toks, pos = [], 0
    while pos < len(expr.rstrip()):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ArgoError(f"cannot parse depends {expr!r} at {expr[pos:]!r}")
        toks.append(m.group(1))
        pos = m.end()
    return toks


def eval_depends(expr: str, results: dict[str, dict[str, bool]]) -> bool:
    parts = []
    for tok in _tokens(expr):
        if tok in ("(", ")"):
            parts.append(tok)
        elif tok in ("&&", "||", "!"):
            parts.append({"&&": " and ", "||": " or ", "!": " not "}[tok])
        else:
            name, _, what = tok.partition(".")
            r = results[name]
            if not what:
                value = r["Succeeded"] or r["Skipped"] or r["Daemoned"]
            elif what in _RESULTS:
                value = r[what]
            else:
                raise ArgoError(f"unknown task result {tok!r} in depends {expr!r}")
            parts.append(str(value))
    return bool(eval("".join(parts), {"__builtins__": {}}))  # only True/False/and/or/not/()


# ------------------------------------------------------------------------------ workflow
class Workflow:
    """One submitted workflow, run to completion by ``run()``."""

    def __init__(self, manifest: str | dict, workdir: Path, parameters: dict[str, str] | None = None,
                 suffix: str = "x7k2q", capacity: int = 32, timeout: float = 120.0,
                 secrets: dict[str, dict[str, str | bytes]] | None = None, lose: dict[str, int] | None = None,
                 images: dict[str, str | Path] | None = None, private_tmp: bool = False):
        doc = yaml.safe_load(manifest) if isinstance(manifest, str) else manifest
        kind = doc.get("kind")
        meta = doc.get("metadata", {})
        if kind == "Workflow":
            spec = doc["spec"]
            self.name = meta.get("name") or meta["generateName"] + suffix
            annotations, labels = dict(meta.get("annotations") or {}), dict(meta.get("labels") or {})
        elif kind == "WorkflowTemplate":
            spec = doc["spec"]
            self.name = f"{meta['name']}-{suffix}"
            annotations, labels = {}, {}
        elif kind == "CronWorkflow":
            spec = doc["spec"]["workflowSpec"]
            self.name = f"{meta['name']}-1700000000"
            annotations, labels = {}, {}
        else:
            raise ArgoError(f"cannot run a {kind}")
        wmeta = spec.get("workflowMetadata") or (doc["spec"].get("workflowMetadata") if kind == "CronWorkflow" else None)
        if wmeta:
            annotations.update(wmeta.get("annotations") or {})
            labels.update(wmeta.get("labels") or {})
        size = sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items())
        if size > 256 * 1024:
            raise ArgoError(f"metadata.annotations: Too long: must have at most 262144 bytes ({size})")
        self.spec = spec
        self.templates = {t["name"]: t for t in spec["templates"]}
        self.workdir = Path(workdir)
        self.repo = self.workdir / "repo"
        self.repo.mkdir(parents=True, exist_ok=True)
        self.capacity = capacity
        self.timeout = timeout
        self.secrets = {k: dict(v) for k, v in (secrets or {}).items()}
        self.lose = dict(lose or {})  # job -> how many of its next pods are lost with their node
        self.images = {k: Path(v) for k, v in (images or {}).items()}  # image -> its working directory's files
        self.private_tmp = private_tmp
        args = {p["name"]: p for p in (spec.get("arguments") or {}).get("parameters") or []}
        for name, value in (parameters or {}).items():
            if name not in args:
                raise ArgoError(f"unknown parameter {name!r} (argo submit -p adds it; the test probably has a typo)")
            args[name] = {"name": name, "value": value}
        self.globals: dict[str, str] = {"workflow.name": self.name, "workflow.namespace": NAMESPACE,
                                        "workflow.uid": "00000000-0000-4000-8000-000000000000"}
        for name, p in args.items():
            if "value" not in p:
                raise ArgoError(f"workflow parameter {name} has no value")
            self.globals[f"workflow.parameters.{name}"] = _text(p["value"])
        for k, v in annotations.items():
            self.globals[f"workflow.annotations.{k}"] = str(v)
        for k, v in labels.items():
            self.globals[f"workflow.labels.{k}"] = str(v)
        self.nodes: dict[str, Node] = {}
        self.services: dict[str, dict[str, Any]] = {}  # name -> spec, in the namespace NAMESPACE
        self.dns: list[tuple[str, str]] = []  # (IP, names) the cluster's DNS answers now
        self.pods_started: list[Node] = []
        self.pending: list[Node] = []
        self.changed = False
        self.phase = "Running"
        self.message = ""

    # -------------------------------------------------------------------------- public view
    def task(self, name: str) -> Node:
        return self.nodes[f"{self.name}.{name}"]

    def has_task(self, name: str) -> bool:
        return f"{self.name}.{name}" in self.nodes

    def pods(self, job: str | None = None) -> list[Node]:
        return [n for n in self.pods_started if job is None or n.pod.env.get("PIPEC_JOB") == job]

    def logs(self) -> str:
        parts = [f"workflow {self.name}: {self.phase} {self.message}"]
        for n in self.nodes.values():
            parts.append(f"  {n.name} [{n.type}] {n.phase} {n.message}".rstrip())
        for n in self.pods_started:
            parts.append(f"--- {n.name} (exit {n.pod.exit_code}) ---\n{n.pod.stdout[-1500:]}{n.pod.stderr[-1500:]}")
        return "\n".join(parts)

    # ------------------------------------------------------------------------------- driver
    def run(self) -> Workflow:
        deadline = time.monotonic() + self.timeout
        entry = self.spec["entrypoint"]
        try:
            while True:
                self._poll()
                self._refresh_dns()
                for _ in range(50):  # reconcile until nothing changes (Argo requeues the same way)
                    self.changed = False
                    node = self.execute(self.name, entry, {}, None)
                    self._launch()
                    if not self.changed:
                        break
                if node is not None and node.fulfilled:
                    self.phase = node.phase if node.phase in ("Failed", "Error") else "Succeeded"
                    self.message = node.message
                    break
                waiting = any(n.type == "Suspend" and n.phase == "Running" for n in self.nodes.values())
                if not waiting and not self.pending and not any(
                        n.pod.proc for n in self.pods_started if n.pod.exit_code is None):
                    raise ArgoError("the workflow is stuck: nothing runs and the entry node is not done\n" + self.logs())
                if time.monotonic() > deadline:
                    raise ArgoError(f"the workflow did not finish in {self.timeout}s\n" + self.logs())
                time.sleep(0.01)
        finally:
            for n in self.pods_started:
                if n.pod.exit_code is None:
                    self._kill(n, "daemon")
        return self

    # --------------------------------------------------------------------------- templates
    def execute(self, name: str, template: str, args: dict[str, str], boundary: Node | None) -> Node | None:
        node = self.nodes.get(name)
        if node is not None and (node.type == "Pod" or node.fulfilled):
            return node  # a pod progresses on its own (see _poll)
        tmpl = self.templates.get(template)
        if tmpl is None:
            return self._new(name, "Skipped", "Error", boundary, message=f"template {template} not found")
        try:
            tmpl = self.process_args(tmpl, args)
        except ArgoError as exc:
            if node is not None:
                self._set(node, "Error", str(exc))
                return node
            return self._new(name, "Skipped", "Error", boundary, template, message=str(exc))
        if "dag" in tmpl:
            return self.execute_dag(name, tmpl, boundary)
        if "suspend" in tmpl:
            return self.execute_suspend(name, tmpl, boundary)
        if "resource" in tmpl:
            return self.execute_resource(name, tmpl, boundary)
        if "container" not in tmpl:
            raise ArgoError(f"template {template}: only dag, container, suspend and resource templates are emulated")
        retry = tmpl.get("retryStrategy")
        if not retry:
            return self.execute_pod(name, tmpl, boundary)
        limit = int(str(retry.get("limit", 0)))
        node = self.nodes.get(name) or self._new(name, "Retry", "Running", boundary, template)
        last = node.children[-1] if node.children else None
        try:
            again = last is None or (last.failed and len(node.children) <= limit and self._retries(retry, last))
        except ArgoError as exc:
            self._set(node, "Error", str(exc))
            return node
        if again:
            child = self.execute_pod(f"{name}({len(node.children)})", tmpl, boundary)
            if child is not None and child not in node.children:
                node.children.append(child)
        elif last.fulfilled and not last.daemoned:
            self._set(node, last.phase, last.message)
            node.outputs = last.outputs
        return node

    def _retries(self, retry: dict[str, Any], last: Node) -> bool:
        """Whether a failed attempt is retried under its retryStrategy (see the module doc)."""
        expression = retry.get("expression")
        policy = retry.get("retryPolicy") or ("Always" if expression else "OnFailure")
        allowed = {"Always": ("Failed", "Error"), "OnFailure": ("Failed",), "OnError": ("Error",)}.get(policy)
        if allowed is None:
            raise ArgoError(f"retryPolicy {policy}: not emulated")
        if last.phase not in allowed:
            return False
        if not expression:
            return True
        pod = last.pod
        code = -1 if pod is None or pod.exit_code is None or pod.killed == "lost" else pod.exit_code
        variables = {"lastRetry.exitCode": str(128 - code if code < -1 else code), "lastRetry.status": last.phase,
                     "lastRetry.duration": str(int(time.monotonic() - pod.started) if pod else 0),
                     "lastRetry.message": last.message}
        try:
            value = eval_expr(parse_expr(expression), variables)
        except ExprError as exc:
            raise ArgoError(f"failed to evaluate retry expression {expression!r}: {exc}")
        if not isinstance(value, bool):
            raise ArgoError(f"retry expression {expression!r} gives {value!r}, not a boolean")
        return value

    def process_args(self, tmpl: dict[str, Any], args: dict[str, str]) -> dict[str, Any]:
        """common.ProcessArgs + SubstituteParams: inputs from arguments or defaults, then
        globals (pass A) and inputs (pass B) over the template's JSON."""
        tmpl = json.loads(_dumps(tmpl))
        params = (tmpl.get("inputs") or {}).get("parameters") or []
        for p in params:
            if p["name"] in args:
                p["value"] = args[p["name"]]
            elif "value" not in p and "default" in p:
                p["value"] = _text(p["default"])
            if "value" not in p:
                raise ArgoError(f"inputs.parameters.{p['name']} was not supplied")
        tmpl = substitute(tmpl, self.globals, True)
        local = {f"inputs.parameters.{p['name']}": _text(p["value"]) for p in (tmpl.get("inputs") or {}).get("parameters") or []}
        local["inputs.parameters"] = _dumps(params)
        return substitute(tmpl, local, True)

    # --------------------------------------------------------------------------------- DAGs
    def execute_dag(self, name: str, tmpl: dict[str, Any], boundary: Node | None) -> Node:
        node = self.nodes.get(name) or self._new(name, "DAG", "Running", boundary, tmpl["name"])
        tasks = {t["name"]: t for t in tmpl["dag"]["tasks"]}
        exprs = {t: _depends_expr(task, tasks) for t, task in tasks.items()}
        deps = {t: depends_tasks(exprs[t]) for t in tasks}
        for t, ds in deps.items():
            for d in ds:
                if d not in tasks:
                    raise ArgoError(f"{tmpl['name']}: task {t} depends on unknown task {d}")
        targets = sorted(t for t in tasks if not any(t in ds for ds in deps.values()))
        ctx = {"node": node, "tmpl": tmpl, "tasks": tasks, "deps": deps, "exprs": exprs, "visited": set()}
        for t in targets:
            self.execute_task(ctx, t)
        phase = self.assess_dag(ctx, targets)
        if phase == "Running":
            return node
        if phase == "Succeeded":
            try:
                node.outputs = self._dag_outputs(ctx)
            except ArgoError as exc:
                phase = "Error"
                node.message = str(exc)
        self._set(node, phase)
        self._kill_daemons(node)
        return node

    def _task_node(self, ctx: dict[str, Any], task: str) -> Node | None:
        return self.nodes.get(f"{ctx['node'].name}.{task}")

    def execute_task(self, ctx: dict[str, Any], tname: str) -> None:
        if tname in ctx["visited"]:
            return
        ctx["visited"].add(tname)
        task = ctx["tasks"][tname]
        name = f"{ctx['node'].name}.{tname}"
        node = self.nodes.get(name)
        if node is not None and node.fulfilled and not (node.daemoned and node.phase == "Running"):
            return
        if node is None and ctx["exprs"][tname]:
            for dep in ctx["deps"][tname]:
                self.execute_task(ctx, dep)
            results = {}
            for dep in ctx["deps"][tname]:
                dn = self._task_node(ctx, dep)
                if dn is None or not dn.fulfilled:
                    return  # not yet
                kids = dn.children if dn.type == "TaskGroup" else []
                results[dep] = {
                    "Succeeded": dn.phase == "Succeeded", "Failed": dn.phase == "Failed",
                    "Errored": dn.phase == "Error", "Skipped": dn.phase == "Skipped",
                    "Daemoned": dn.daemoned and dn.phase != "Pending",
                    "AnySucceeded": any(k.phase == "Succeeded" for k in kids),
                    "AllFailed": bool(kids) and all(k.phase == "Failed" for k in kids)}
            if not eval_depends(ctx["exprs"][tname], results):
                self._new(name, "Skipped", "Omitted", ctx["node"], message="omitted: depends condition not met")
                return
        try:
            resolved = substitute(task, {**self.globals, **self._scope(ctx, self._ancestors(ctx, tname))}, True)
            expanded = self._expand(resolved)
        except ArgoError as exc:
            if node is None:
                self._new(name, "Skipped", "Error", ctx["node"], message=str(exc))
            return
        if expanded is None:
            self.execute(name, resolved["template"], _args(resolved), ctx["node"])
            return
        if not expanded:
            self._new(name, "Skipped", "Skipped", ctx["node"], message="Skipped, empty params")
            return
        group = node or self._new(name, "TaskGroup", "Running", ctx["node"], resolved["template"])
        for i, t in enumerate(expanded):
            child = self.execute(f"{name}({i})", t["template"], _args(t), ctx["node"])
            if child is not None and child not in group.children:
                child.index = i
                group.children.append(child)
        if len(group.children) == len(expanded) and all(c.fulfilled for c in group.children):
            bad = [c.phase for c in group.children if c.failed]
            self._set(group, bad[-1] if bad else "Succeeded")

    def _expand(self, task: dict[str, Any]) -> list[dict[str, Any]] | None:
        if task.get("withItems") is not None:
            items = task["withItems"]
        elif task.get("withParam") is not None:
            try:
                items = json.loads(task["withParam"])
            except ValueError:
                raise ArgoError(f"withParam value could not be parsed as a JSON list: {task['withParam'].strip()}")
            if not isinstance(items, list):
                raise ArgoError(f"withParam value could not be parsed as a JSON list: {task['withParam']}")
        elif task.get("withSequence") is not None:
            seq = task["withSequence"]
            start = int(seq.get("start", 0))
            end = int(seq["end"]) if "end" in seq else start + int(seq["count"]) - 1
            items = [str(i) for i in (range(start, end + 1) if start <= end else range(start, end - 1, -1))]
        else:
            return None
        body = {k: v for k, v in task.items() if k not in ("withItems", "withParam", "withSequence")}
        out = []
        for item in items:
            values = {}
            if isinstance(item, dict):
                values["item"] = _dumps(item)
                for k, v in item.items():
                    values[f"item.{k}"] = v if isinstance(v, str) else _dumps(v)
            elif item is None:
                raise ArgoError("withItems: null item")
            else:
                values["item"] = item if isinstance(item, str) else _dumps(item)
            out.append(substitute(body, values, False))
        return out

    def _ancestors(self, ctx: dict[str, Any], tname: str) -> list[str]:
        seen: list[str] = []
        stack = list(ctx["deps"][tname])
        while stack:
            t = stack.pop()
            if t not in seen:
                seen.append(t)
                stack.extend(ctx["deps"][t])
        return seen

    def _scope(self, ctx: dict[str, Any], tasks: list[str]) -> dict[str, str]:
        scope: dict[str, str] = {}
        for t in tasks:
            node = self._task_node(ctx, t)
            if node is None:
                continue
            prefix = f"tasks.{t}"
            scope[f"{prefix}.status"] = node.phase
            scope[f"{prefix}.id"] = node.name
            if node.pod_ip:
                scope[f"{prefix}.ip"] = node.pod_ip
            if node.pod is not None and node.pod.exit_code is not None:
                scope[f"{prefix}.exitCode"] = str(node.pod.exit_code)
            if node.type == "TaskGroup":
                kids = sorted(node.children, key=lambda k: k.index)
                maps = [k.outputs for k in kids if k.outputs]
                scope[f"{prefix}.outputs.parameters"] = _dumps(maps)
                for pname in {p for m in maps for p in m}:
                    scope[f"{prefix}.outputs.parameters.{pname}"] = _go_json_list([m[pname] for m in maps if pname in m])
            for pname, value in (node.outputs or {}).items():
                scope[f"{prefix}.outputs.parameters.{pname}"] = value
        return scope

    def assess_dag(self, ctx: dict[str, Any], targets: list[str]) -> str:
        def unfulfilled(n: Node) -> bool:
            return not n.fulfilled or any(unfulfilled(c) for c in n.children)

        for t in ctx["tasks"]:
            n = self._task_node(ctx, t)
            if n is not None and unfulfilled(n):
                return "Running"
        memo: dict[str, str] = {}

        def branch(t: str) -> str:
            if t not in memo:
                n = self._task_node(ctx, t)
                if n is None:
                    memo[t] = ""
                elif n.phase in COMPLETED:
                    # continueOn: a failure the task tolerates counts as success for the DAG
                    cont = ctx["tasks"][t].get("continueOn") or {}
                    tolerated = (n.phase == "Failed" and cont.get("failed")) or (n.phase == "Error" and cont.get("error"))
                    memo[t] = "Succeeded" if tolerated else n.phase
                else:  # Skipped / Omitted inherit their parents' phase, failures first
                    parents = [branch(d) for d in ctx["deps"][t]]
                    memo[t] = next((p for p in parents if p in ("Failed", "Error")), "Succeeded")
            return memo[t]

        fail_fast = ctx["tmpl"]["dag"].get("failFast", True) is not False
        result = "Succeeded"
        for t in targets:
            b = branch(t)
            if b == "":
                result = "Running"
                if not fail_fast:
                    break
            elif b in ("Failed", "Error"):
                result = b
                if fail_fast:
                    break
        return result

    def _dag_outputs(self, ctx: dict[str, Any]) -> dict[str, str] | None:
        params = (ctx["tmpl"].get("outputs") or {}).get("parameters")
        if not params:
            return None
        scope = self._scope(ctx, list(ctx["tasks"]))
        out = {}
        for p in params:
            ref = (p.get("valueFrom") or {}).get("parameter")
            if ref is None:
                raise ArgoError(f"output parameter {p['name']} of a DAG needs valueFrom.parameter")
            try:
                out[p["name"]] = json.loads(replace(_dumps(ref), scope, False))
            except ArgoError as exc:
                raise ArgoError(f"unable to resolve outputs from scope: {exc}")
        return out

    def execute_suspend(self, name: str, tmpl: dict[str, Any], boundary: Node | None) -> Node:
        """A suspend template with a duration (no manual resume): Succeeded once it elapsed."""
        node = self.nodes.get(name) or self._new(name, "Suspend", "Running", boundary, tmpl["name"])
        if not hasattr(node, "until"):
            text = str((tmpl["suspend"] or {}).get("duration", ""))
            m = re.fullmatch(r"(\d+)([smh]?)", text)
            if not m:
                raise ArgoError(f"suspend template {tmpl['name']}: only a duration like 0, 30s, 2m is emulated")
            node.until = time.monotonic() + int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        if time.monotonic() >= node.until:
            self._set(node, "Succeeded")
        return node

    def execute_resource(self, name: str, tmpl: dict[str, Any], boundary: Node | None) -> Node:
        """A resource template creating a Service: done at once (the API server answers)."""
        node = self.nodes.get(name)
        if node is not None:
            return node
        res = tmpl["resource"]
        extra = set(res) - {"action", "manifest", "setOwnerReference"}
        if res.get("action") != "create" or extra:
            raise ArgoError(f"template {tmpl['name']}: only resource action create (with manifest, "
                            f"setOwnerReference) is emulated, not {res.get('action')!r} {sorted(extra)}")
        try:
            obj = yaml.safe_load(res.get("manifest") or "")
        except yaml.YAMLError as exc:
            return self._new(name, "Pod", "Error", boundary, tmpl["name"], message=f"invalid manifest: {exc}")
        if not isinstance(obj, dict) or (obj.get("apiVersion"), obj.get("kind")) != ("v1", "Service"):
            raise ArgoError(f"template {tmpl['name']}: only creating a v1 Service is emulated")
        svc = obj.get("metadata", {}).get("name")
        if not isinstance(svc, str) or len(svc) > 63 or not _DNS1035_LABEL.match(svc):
            return self._new(name, "Pod", "Error", boundary, tmpl["name"],
                             message=f"Service name {svc!r} is not a DNS-1035 label (at most 63 characters)")
        if svc in self.services:
            return self._new(name, "Pod", "Failed", boundary, tmpl["name"],
                             message=f'services "{svc}" already exists')
        self.services[svc] = obj.get("spec") or {}
        return self._new(name, "Pod", "Succeeded", boundary, tmpl["name"])

    # --------------------------------------------------------------------------------- pods
    def execute_pod(self, name: str, tmpl: dict[str, Any], boundary: Node | None) -> Node | None:
        node = self.nodes.get(name)
        if node is not None:
            return node
        if not self._room(boundary):
            return None  # ErrParallelismReached: tried again at the next reconcile
        n = len(self.pods_started) + 1
        pod_name = f"{self.name}-{re.sub(r'[^a-z0-9-]+', '-', tmpl['name'].lower())}-{n}"
        root = self.workdir / "pods" / pod_name
        try:
            spec = substitute(tmpl, {**self.globals, "pod.name": pod_name,
                                     **{f"inputs.parameters.{p['name']}": _text(p["value"])
                                        for p in (tmpl.get("inputs") or {}).get("parameters") or []}}, True)
            left = re.search(r"\{\{[^}]*\}\}", _dumps({k: spec.get(k) for k in
                                                        ("container", "inputs", "outputs", "metadata", "podSpecPatch")}))
            if left:
                raise ArgoError(f"failed to resolve {left.group(0)} (left in the pod spec)")
            identity = _pod_identity(spec)
        except ArgoError as exc:
            return self._new(name, "Pod", "Error", boundary, tmpl["name"], message=str(exc))
        node = self._new(name, "Pod", "Pending", boundary, tmpl["name"])
        node.pod = Pod(pod_name, spec, root, labels=identity[0], hostname=identity[1], subdomain=identity[2])
        node.pod_ip = f"127.0.0.{n + 1}"
        self.pods_started.append(node)
        self.pending.append(node)
        return node

    def _room(self, boundary: Node | None) -> bool:
        active = [n for n in self.pods_started if n.pod.exit_code is None]
        limit = self.spec.get("parallelism")
        if limit and len(active) >= int(limit):
            return False
        b = boundary
        while b is not None:
            limit = self.templates[b.template].get("parallelism") if b.template in self.templates else None
            if limit and sum(1 for n in active if _inside(n, b)) >= int(limit):
                return False
            b = b.boundary
        return True

    def _launch(self) -> None:
        running = sum(1 for n in self.pods_started if n.pod.proc is not None and n.pod.exit_code is None)
        while self.pending and running < self.capacity:
            node = self.pending.pop(0)
            try:
                self._start(node)
                running += 1
            except ArgoError as exc:
                node.pod.exit_code = -1
                self._set(node, "Error", str(exc))

    def _start(self, node: Node) -> None:
        pod, spec = node.pod, node.pod.spec
        ctr = spec["container"]
        vols = {v["name"]: v for v in self.spec.get("volumes") or []}
        vols.update((v["name"], v) for v in spec.get("volumes") or [])  # the template's own first
        pod.root.mkdir(parents=True)
        binds: list[str] = []  # SOURCE TARGET MODE ... for the pod's mount namespace
        for m in ctr.get("volumeMounts") or []:
            vol = vols.get(m["name"])
            if vol is None:
                raise ArgoError(f"volume '{m['name']}' not found in workflow spec")
            local = pod.root / ("vol-" + m["name"])
            if "secret" in vol:
                self._secret_volume(vol["secret"], local)
                target = Path(m["mountPath"])
                if not target.resolve().is_relative_to(self.workdir.resolve()):
                    raise ArgoError(f"secret volume {m['name']} at {target}: the emulator mounts Secret volumes only "
                                    f"below its workdir {self.workdir}")
                target.mkdir(parents=True, exist_ok=True)
                binds += [str(local), str(target), "ro"]
            elif "emptyDir" not in vol:
                raise ArgoError(f"volume {m['name']}: only emptyDir and secret volumes are emulated")
            local.mkdir(exist_ok=True)
            pod.mounts[m["mountPath"]] = local
        for art in (spec.get("inputs") or {}).get("artifacts") or []:
            self._download(pod, art)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(pod.root / "home"),
               "HOSTNAME": pod.name, "LANG": "C.UTF-8"}
        (pod.root / "home").mkdir()
        defined: dict[str, str] = {}  # the container's own variables, which the kubelet expands
        for e in ctr.get("env") or []:
            if "value" in e:
                env[e["name"]] = kubelet_expand(e["value"], defined)
            elif (e.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath") == "status.podIP":
                env[e["name"]] = node.pod_ip
            elif _ANNOTATION_PATH.fullmatch((e.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath", "")):
                key = _ANNOTATION_PATH.fullmatch(e["valueFrom"]["fieldRef"]["fieldPath"]).group(1)  # type: ignore[union-attr]
                annotations = (spec.get("metadata") or {}).get("annotations") or {}
                env[e["name"]] = str(annotations.get(key, ""))  # the downward API: an absent key reads empty
            elif (e.get("valueFrom") or {}).get("secretKeyRef"):
                ref = e["valueFrom"]["secretKeyRef"]
                value = self._secret_key(ref.get("name", ""), ref["key"], bool(ref.get("optional")))
                if value is not None:
                    env[e["name"]] = value.decode("utf-8", errors="surrogateescape")
            else:
                raise ArgoError(f"env {e['name']}: only value, fieldRef status.podIP or metadata.annotations['KEY'] "
                                "and secretKeyRef are emulated")
            if e["name"] in env:
                defined[e["name"]] = env[e["name"]]
        if "/pipec" in pod.mounts:  # the pipec-specific concession (see the module doc)
            env["PIPEC_POD_DIR"] = str(pod.mounts["/pipec"])
        if "PIPEC_EXEC_MOUNT" in env:
            env["PIPEC_EXEC_MOUNT"] = str(pod.path(env["PIPEC_EXEC_MOUNT"]))
        if pod.hostname:  # the container's host name is the pod's hostname
            env["HOSTNAME"] = pod.hostname
        pod.env = env
        argv = [kubelet_expand(w, defined) for w in list(ctr.get("command") or []) + list(ctr.get("args") or [])]
        if self.services:  # the cluster has names to resolve: this pod reads them from /etc/hosts
            pod.hosts_file = pod.root / "etc-hosts"
            pod.hosts_file.write_text(self._hosts_text(node))
            binds += [str(pod.hosts_file), "/etc/hosts", "rw"]
        if self.private_tmp:
            binds = self._private_tmp(pod) + binds  # first: the other targets are seen through it
        cwd = pod.root / "workdir"
        image = self.images.get(str(ctr.get("image", "")))
        if image is not None:
            if ctr.get("workingDir"):
                raise ArgoError(f"container workingDir {ctr['workingDir']!r}: not emulated with an image's files")
            shutil.copytree(image, cwd, symlinks=True)  # the pod's own copy of the image's files
        else:
            cwd.mkdir()
        if binds:
            argv = _unshare() + ["sh", "-c", _BINDS_BOOT, "pipec-pod", str(cwd), *binds, "--"] + argv
        with open(pod.root / "stdout.log", "wb") as out, open(pod.root / "stderr.log", "wb") as err:
            pod.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        pod.started = time.monotonic()
        self._set(node, "Running")
        probe = ctr.get("readinessProbe")
        pod.ready = probe is None
        pod.probe_at = pod.started + float((probe or {}).get("initialDelaySeconds", 0))
        node.daemoned = bool(spec.get("daemon")) and pod.ready

    def _private_tmp(self, pod: Pod) -> list[str]:
        """The binds giving a pod a /tmp of its own (see the module doc): the emulator's workdir
        bound at its own path inside the pod's directory, which then goes over /tmp."""
        tmp, system = pod.root / "tmp", Path("/tmp").resolve()
        keep = self.workdir.resolve()
        if not keep.is_relative_to(system):
            tmp.mkdir(parents=True)
            return [str(tmp), str(system), "tree"]
        inner = tmp / keep.relative_to(system)
        inner.mkdir(parents=True)
        return [str(keep), str(inner), "rw", str(tmp), str(system), "tree"]

    def _secret_key(self, name: str, key: str, optional: bool) -> bytes | None:
        """A key of a Secret of the namespace (None: missing and optional)."""
        secret = self.secrets.get(name)
        if secret is None or key not in secret:
            if optional:
                return None
            raise ArgoError(f'secret "{name}" not found' if secret is None
                            else f"couldn't find key {key} in Secret {NAMESPACE}/{name}")
        value = secret[key]
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)

    def _secret_volume(self, source: dict[str, Any], local: Path) -> None:
        """The files of a secret volume: every key (or the listed items), mode defaultMode."""
        name, optional = source.get("secretName", ""), bool(source.get("optional"))
        if name not in self.secrets and not optional:
            raise ArgoError(f'MountVolume.SetUp failed for volume: secret "{name}" not found')
        keys = self.secrets.get(name, {})
        items = source.get("items") or [{"key": k, "path": k} for k in sorted(keys)]
        local.mkdir(parents=True, exist_ok=True)
        for item in items:
            value = self._secret_key(name, item["key"], optional)
            if value is None:
                continue
            target = local / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(value)
            target.chmod(int(item.get("mode", source.get("defaultMode", 0o644))))

    def _poll(self) -> None:
        for node in self.pods_started:
            pod = node.pod
            if pod.proc is None or pod.exit_code is not None:
                continue
            deadline = node.pod.spec.get("activeDeadlineSeconds")
            if deadline is not None and time.monotonic() - pod.started > float(deadline):
                self._kill(node, "deadline")
                continue
            job = pod.env.get("PIPEC_JOB", "")
            if self.lose.get(job, 0) > 0 and time.monotonic() - pod.started > 0.5 and pod.proc.poll() is None:
                self.lose[job] -= 1
                self._kill(node, "lost")
                continue
            rc = pod.proc.poll()
            if rc is not None:
                self._finish(node, rc)
            else:
                self._probe(node)

    def _probe(self, node: Node) -> None:
        """Run the readiness probe when it is due (see the module doc)."""
        pod = node.pod
        probe = pod.spec["container"].get("readinessProbe")
        if probe is None or time.monotonic() < pod.probe_at:
            return
        if set(probe) - {"exec", "initialDelaySeconds", "periodSeconds", "timeoutSeconds", "successThreshold",
                         "failureThreshold"}:
            raise ArgoError(f"pod {pod.name}: only exec readiness probes are emulated")
        pod.probe_at = time.monotonic() + float(probe.get("periodSeconds", 10))
        try:
            ok = subprocess.run(probe["exec"]["command"], env=pod.env, cwd=pod.root / "workdir",
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                timeout=float(probe.get("timeoutSeconds", 1))).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok == pod.ready:
            pod.probe_streak = 0
        else:  # a change of readiness takes that many results in a row
            pod.probe_streak += 1
            if pod.probe_streak >= int(probe.get("successThreshold" if ok else "failureThreshold", 1 if ok else 3)):
                pod.ready, pod.probe_streak = ok, 0
                self.changed = True
        if pod.ready and node.pod.spec.get("daemon") and not node.daemoned and node.phase == "Running":
            node.daemoned = True  # Argo: a daemon is Daemoned once its pod runs and is ready
            self.changed = True

    # ---------------------------------------------------------------------------------- DNS
    def _records(self) -> list[tuple[str, str]]:
        """(IP, names) of every pod the cluster's DNS has a record for (see the module doc)."""
        out = []
        for node in self.pods_started:
            pod = node.pod
            svc = self.services.get(pod.subdomain or "")
            if not pod.hostname or svc is None or pod.proc is None or pod.exit_code is not None:
                continue
            if svc.get("clusterIP") != "None" or not svc.get("selector"):
                continue  # records for hostnames come only from a headless Service with a selector
            if any(pod.labels.get(k) != v for k, v in svc["selector"].items()):
                continue
            if pod.ready or svc.get("publishNotReadyAddresses"):
                out.append((node.pod_ip, " ".join(_search_names(pod.hostname, pod.subdomain))))
        return out

    def _hosts_text(self, node: Node) -> str:
        """A pod's /etc/hosts: the kubelet's lines for the pod itself, then the DNS records."""
        pod = node.pod
        own = (f"{node.pod_ip}\t{_search_names(pod.hostname, pod.subdomain)[0]} {pod.hostname}" if pod.subdomain
               else f"{node.pod_ip}\t{pod.hostname or pod.name}")
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", own]
        lines += [f"{ip}\t{names}" for ip, names in self.dns]
        return "\n".join(lines) + "\n"

    def _refresh_dns(self) -> None:
        """Give every running pod that keeps an /etc/hosts the records as they are now, when
        they changed. The new file is bound over the old one inside the pod's mount namespace,
        so a lookup reads either the old file or the new one, never a half-written one."""
        records = self._records()
        if records == self.dns:
            return
        self.dns = records
        for node in self.pods_started:
            pod = node.pod
            if pod.hosts_file is None or pod.exit_code is not None or pod.proc is None:
                continue
            pod.hosts_version += 1
            fresh = pod.root / f"etc-hosts.{pod.hosts_version}"
            fresh.write_text(self._hosts_text(node), encoding="utf-8")
            enter = ["nsenter", f"--target={pod.proc.pid}", "--mount"] + (["--user"] if os.geteuid() else [])
            # A pod that has just ended has no namespace left to enter: nothing to update.
            subprocess.run(enter + ["mount", "--bind", str(fresh), "/etc/hosts"], capture_output=True, timeout=10)
            pod.hosts_file = fresh

    def _kill(self, node: Node, why: str) -> None:
        pod = node.pod
        if pod.proc is None:
            pod.exit_code = -1
            return
        pod.killed = why
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pod.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                pod.proc.wait(timeout=2)
                break
            except subprocess.TimeoutExpired:
                continue
        self._finish(node, pod.proc.wait())

    def _finish(self, node: Node, rc: int) -> None:
        pod = node.pod
        pod.exit_code = rc
        pod.ready = False
        node.daemoned = False
        phase, message = ("Succeeded", "") if rc == 0 else ("Failed", f"Error (exit code {rc})")
        if pod.killed == "deadline":
            phase, message = "Failed", "Pod was active on the node longer than the specified deadline"
        elif pod.killed == "daemon":
            phase, message = "Succeeded", "daemoned pod stopped with its DAG"
        elif pod.killed == "lost":
            phase, message = "Error", "pod deleted"
        try:  # the kubelet kills a pod past its deadline whole, the wait container too
            node.outputs = None if pod.killed in ("deadline", "lost") else self._save_outputs(pod)
        except ArgoError as exc:
            phase, message = "Error", str(exc)
        self._set(node, phase, message)

    # ---------------------------------------------------------------------------- artifacts
    def _download(self, pod: Pod, art: dict[str, Any]) -> None:
        dest = pod.path(art["path"])
        if "s3" in art:
            s3 = art["s3"]
            if set(s3) != {"key"}:
                raise ArgoError(f"artifact {art['name']}: only key-only S3 artifacts are emulated")
            src = self.repo / s3["key"].strip("/")
            if src.is_dir() and any(p.is_file() for p in src.rglob("*")):
                for f in sorted(p for p in src.rglob("*") if p.is_file()):
                    target = dest / f.relative_to(src)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, target)
                    target.chmod(0o644)
            elif src.is_file() and not s3["key"].endswith("/"):
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
                dest.chmod(0o644)
            elif not art.get("optional"):
                raise ArgoError(f"failed to load artifacts: key {s3['key']} does not exist")
        elif "http" in art:
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                with urllib.request.urlopen(art["http"]["url"], timeout=10) as resp, open(dest, "wb") as fh:
                    shutil.copyfileobj(resp, fh)
            except OSError as exc:
                if not art.get("optional"):
                    raise ArgoError(f"failed to load artifacts: {art['http']['url']}: {exc}")
        else:
            raise ArgoError(f"artifact {art['name']}: only s3 keys and http URLs are emulated")

    def _save_outputs(self, pod: Pod) -> dict[str, str] | None:
        outputs = pod.spec.get("outputs") or {}
        for art in outputs.get("artifacts") or []:
            src = pod.path(art["path"])
            if "s3" not in art or set(art["s3"]) != {"key"}:
                raise ArgoError(f"output artifact {art['name']}: only key-only S3 artifacts are emulated")
            if not src.exists():
                if art.get("optional"):
                    continue
                raise ArgoError(f"failed to save outputs: {art['path']} does not exist")
            if src.is_dir() and "none" not in (art.get("archive") or {}):
                raise ArgoError(f"output artifact {art['name']}: only archive: none is emulated for directories")
            key = self.repo / art["s3"]["key"].strip("/")
            files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
            for f in files:  # an S3 upload adds or overwrites keys, it never deletes any
                target = key if f == src else key / f.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)
        values: dict[str, str] = {}
        for p in outputs.get("parameters") or []:
            vf = p.get("valueFrom") or {}
            if "path" not in vf:
                raise ArgoError(f"output parameter {p['name']}: only valueFrom.path is emulated for pods")
            f = pod.path(vf["path"])
            if f.is_file():
                values[p["name"]] = f.read_bytes().decode("utf-8", errors="replace")
            elif "default" in vf:
                values[p["name"]] = _text(vf["default"])
            else:
                raise ArgoError(f"failed to save outputs: output parameter {p['name']}: {vf['path']} does not exist")
        return values or None

    # ------------------------------------------------------------------------------ helpers
    def _new(self, name: str, type_: str, phase: str, boundary: Node | None, template: str | None = None,
             message: str = "") -> Node:
        node = Node(name, type_, phase, template, boundary, message=message)
        self.nodes[name] = node
        self.changed = True
        return node

    def _set(self, node: Node, phase: str, message: str | None = None) -> None:
        if node.phase != phase:
            node.phase = phase
            self.changed = True
        if message is not None:
            node.message = message

    def _kill_daemons(self, dag: Node) -> None:
        for n in self.pods_started:
            if n.pod.exit_code is None and _inside(n, dag) and n.daemoned:
                self._kill(n, "daemon")


def _depends_expr(task: dict[str, Any], tasks: dict[str, Any]) -> str | None:
    """A task's `depends`, or its legacy `dependencies` as the expression Argo reads them as
    (docs/enhanced-depends-logic.md: a bare name is `(t.Succeeded || t.Skipped || t.Daemoned)`;
    a dependency that failed under its own `continueOn` still lets its dependents run)."""
    if task.get("depends"):
        return task["depends"]
    terms = []
    for dep in task.get("dependencies") or []:
        cont = (tasks.get(dep) or {}).get("continueOn") or {}
        extra = (" || " + dep + ".Failed" if cont.get("failed") else "") + (
            " || " + dep + ".Errored" if cont.get("error") else "")
        terms.append(f"({dep}{extra})" if extra else dep)
    return " && ".join(terms) or None


def _pod_identity(spec: dict[str, Any]) -> tuple[dict[str, str], str | None, str | None]:
    """(labels, hostname, subdomain) of a pod from its template's metadata and podSpecPatch."""
    labels = {str(k): str(v) for k, v in ((spec.get("metadata") or {}).get("labels") or {}).items()}
    patch: Any = {}
    if spec.get("podSpecPatch"):
        try:
            patch = yaml.safe_load(spec["podSpecPatch"])
        except yaml.YAMLError as exc:
            raise ArgoError(f"invalid podSpecPatch: {exc}")
        if not isinstance(patch, dict):
            raise ArgoError("invalid podSpecPatch: not an object")
        if set(patch) - {"hostname", "subdomain"}:
            raise ArgoError(f"podSpecPatch: only hostname and subdomain are emulated, not {sorted(patch)}")
    for key in ("hostname", "subdomain"):
        value = patch.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 63 or not _DNS1123_LABEL.match(value)):
            raise ArgoError(f"spec.{key}: Invalid value: {value!r}: a lowercase RFC 1123 label must consist of "
                            "lower case alphanumeric characters or '-', at most 63 characters")
    return labels, patch.get("hostname"), patch.get("subdomain")


def _search_names(hostname: str, subdomain: str) -> list[str]:
    """A pod's FQDN, then each shorter name the DNS search path of a pod in NAMESPACE completes to it."""
    fqdn = f"{hostname}.{subdomain}.{NAMESPACE}.svc.{CLUSTER_DOMAIN}"
    return [fqdn, f"{hostname}.{subdomain}.{NAMESPACE}.svc", f"{hostname}.{subdomain}.{NAMESPACE}",
            f"{hostname}.{subdomain}"]


def pod_command(template: dict[str, Any], arguments: dict[str, str] | None = None) -> str:
    """The command a pod of one of pipec's container templates runs (the container's last
    argument, which pipec_pod runs): Argo substitutes the task's `arguments` into it, the
    kubelet expands it (naming none of the container's variables), and the pod decodes it
    when it is pipec-b64 text. A test helper, for what the pod spec shows."""
    values = {f"inputs.parameters.{k}": v for k, v in (arguments or {}).items()}
    text = kubelet_expand(substitute(template["container"]["args"][-1], values), {})
    return base64.b64decode(text[len("pipec-b64:"):]).decode("utf-8") if text.startswith("pipec-b64:") else text


def kubelet_expand(text: str, defined: dict[str, str]) -> str:
    """What the kubelet makes of a container's command, args or env value (Kubernetes'
    third_party/forked/golang/expansion Expand, with the kubelet's mapping: a name it does
    not know stays `$(name)`)."""
    out: list[str] = []
    checkpoint = cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            following = text[cursor + 1]
            advance = 1
            if following == "$":  # an escaped operator
                out.append("$")
            elif following == "(":
                close = text.find(")", cursor + 2)
                if close < 0:  # an incomplete reference is kept
                    out.append("$(")
                else:
                    name = text[cursor + 2:close]
                    out.append(defined[name] if name in defined else f"$({name})")
                    advance = close - cursor
            else:  # an operator that begins no expression
                out.append("$" + following)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


@functools.lru_cache(maxsize=1)
def _unshare() -> list[str]:
    """The command prefix that runs a pod in a mount namespace of its own."""
    prefix = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    try:
        ok = subprocess.run(prefix + ["true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        raise ArgoError("pods that resolve names need a mount namespace (unshare as root or with user namespaces)")
    return prefix


def _inside(node: Node, dag: Node) -> bool:
    b = node.boundary
    while b is not None:
        if b is dag:
            return True
        b = b.boundary
    return False


def _args(task: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: _text(p.get("value", "")) for p in (task.get("arguments") or {}).get("parameters") or []}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def run_workflow(manifest: str | dict, workdir: Path, parameters: dict[str, str] | None = None, **kw: Any) -> Workflow:
    """Submit a manifest (YAML text or a parsed document) and run it to the end."""
    return Workflow(manifest, workdir, parameters, **kw).run()

