"""What an operator sets in [argo] for the cluster rather than for one pipeline: the pods'
security contexts, image pull secrets, resource requests for containers that state none, and
the Argo version the manifests are written for. schemas/config.schema.json checks the keys and
their types; this module turns them into Argo's fields.

Security contexts. `[argo.security_context]` is `spec.securityContext`, which Argo gives every
pod of the workflow (its own init and wait containers included); `[argo.container_security_context]`
is the `securityContext` of each job's container. pipec's runtime writes only inside the pod's
two emptyDir volumes (/pipec and the execution directory), which Kubernetes creates writable by
every user, so any non-root user works. Outside them it writes an OSMO task's `files:` at their
paths and stages uploads in a temporary directory; with `read_only_root_filesystem` the
containers get an emptyDir at /tmp (TMP_DIR), and a file anywhere but under a volume is a
located error.

Default resources. Kubernetes runs a pod without requests as BestEffort, which admission
policies often refuse. `[argo.default_resources]` fills the CPU and memory a job leaves unset;
a default limit below a job's own request is raised to it (Kubernetes refuses a limit under the
request). pipec's own helper pods (resource templates: a group's Service, the stop hook, a
deployment manifest) run Argo's executor image, whose container a template cannot size: they
get small requests (HELPER_REQUESTS) through `podSpecPatch`.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from typing import Any

from hera.workflows import models as m

from pipec import ir
from pipec.config import Config
from pipec.errors import Diagnostics

# Argo versions pipec writes manifests for; the newest is the default.
VERSIONS = ("3.5", "3.6", "3.7", "4.0", "4.1")
# CronWorkflow `schedules: [...]` came in v3.6; before it the spec has one `schedule:` string
# (docs/cron-workflows.md; `schedule` was removed in v4.0, docs/upgrading.md).
SCHEDULES_SINCE = (3, 6)
TMP_DIR = "/tmp"  # an emptyDir here when the container's root filesystem is read-only
TMP_VOLUME = "pipec-tmp"
# What the executor container of a helper pod asks for: argoexec applying one small manifest.
HELPER_REQUESTS = {"cpu": "10m", "memory": "64Mi"}
HELPER_LIMITS = {"cpu": "500m", "memory": "256Mi"}
# Kubernetes quantities as the schema accepts them (a subset of resource.Quantity's syntax).
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX = {"": Fraction(1), "m": Fraction(1, 1000), "k": Fraction(10**3), "M": Fraction(10**6),
           "G": Fraction(10**9), "T": Fraction(10**12), "P": Fraction(10**15), "E": Fraction(10**18),
           "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
           "Pi": Fraction(2**50), "Ei": Fraction(2**60)}


def version(argo: dict[str, Any]) -> tuple[int, int]:
    major, minor = str(argo.get("version", VERSIONS[-1])).split(".")
    return int(major), int(minor)


def single_schedule(argo: dict[str, Any]) -> bool:
    """Whether a CronWorkflow takes one `schedule:` string (Argo before 3.6)."""
    return version(argo) < SCHEDULES_SINCE


# ------------------------------------------------------------------------------ security
def _seccomp(table: dict[str, Any] | None) -> m.SeccompProfile | None:
    if not table:
        return None
    return m.SeccompProfile(type=str(table["type"]), localhost_profile=table.get("localhost_profile"))


def pod_security_context(argo: dict[str, Any]) -> m.PodSecurityContext | None:
    table = argo.get("security_context")
    if not table:
        return None
    plain = ("run_as_user", "run_as_group", "run_as_non_root", "fs_group", "fs_group_change_policy",
             "supplemental_groups")
    return m.PodSecurityContext(**{k: table[k] for k in plain if k in table},
                                seccomp_profile=_seccomp(table.get("seccomp_profile")))


def container_security_context(argo: dict[str, Any]) -> m.SecurityContext | None:
    table = argo.get("container_security_context")
    if not table:
        return None
    plain = ("run_as_user", "run_as_group", "run_as_non_root", "allow_privilege_escalation",
             "read_only_root_filesystem")
    caps = table.get("capabilities")
    return m.SecurityContext(**{k: table[k] for k in plain if k in table},
                             capabilities=m.Capabilities(add=caps.get("add"), drop=caps.get("drop")) if caps else None,
                             seccomp_profile=_seccomp(table.get("seccomp_profile")))


def read_only_root(argo: dict[str, Any]) -> bool:
    return bool(dict(argo.get("container_security_context") or {}).get("read_only_root_filesystem"))


def tmp_volume(argo: dict[str, Any]) -> tuple[list[m.Volume], list[m.VolumeMount]]:
    """The writable /tmp of job containers whose root filesystem is read-only."""
    if not read_only_root(argo):
        return [], []
    return ([m.Volume(name=TMP_VOLUME, empty_dir=m.EmptyDirVolumeSource())],
            [m.VolumeMount(name=TMP_VOLUME, mount_path=TMP_DIR)])


def read_only_problems(job: ir.Job, writable: tuple[str, ...], argo: dict[str, Any]) -> list[tuple[str, Any]]:
    """(problem, where) for each file of the job the runtime could not write because the
    container's root filesystem is read-only; `writable`: the directories pipec mounts."""
    if not read_only_root(argo):
        return []
    places = (TMP_DIR, *writable)
    return [(f"file {f.path} would be written outside the container's volumes, but [argo.container_security_context] "
             f"read_only_root_filesystem makes the rest read-only (writable: {', '.join(places)})", f)
            for f in job.files if not any(_within(f.path, d) for d in places)]


def _within(path: str, directory: str) -> bool:
    directory = directory.rstrip("/") or "/"
    return directory == "/" or path == directory or path.startswith(directory + "/")


def image_pull_secrets(argo: dict[str, Any]) -> list[m.LocalObjectReference] | None:
    names = [str(n) for n in argo.get("image_pull_secrets") or ()]
    return [m.LocalObjectReference(name=n) for n in names] or None


# ------------------------------------------------------------------------------ resources
def quantity(value: Any) -> Fraction:
    """A quantity from the configuration (checked by the schema) or from pipec's own output."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Fraction(value)
    match = _QUANTITY.match(str(value))
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return Fraction(match.group(1)) * _SUFFIX[match.group(2) or ""]


def _text(kind: str, value: Any) -> str:
    """A configured value as the manifest writes it (a CPU count in cores becomes millicores)."""
    if kind == "cpu" and isinstance(value, (int, float)):
        millis = int(math.ceil(float(value) * 1000))
        return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"
    return str(value)


def default_resources(requests: dict[str, str], limits: dict[str, str],
                      argo: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The job's requests and limits with [argo.default_resources] filling the CPU and memory
    it leaves unset."""
    table = argo.get("default_resources")
    if not table:
        return requests, limits
    requests, limits = dict(requests), dict(limits)
    for kind, value in dict(table.get("requests") or {}).items():
        # A limit alone is also the request (Kubernetes' default): nothing to fill then.
        if kind not in requests and kind not in limits:
            requests[kind] = _text(kind, value)
    for kind, value in dict(table.get("limits") or {}).items():
        if kind in limits:
            continue
        text = _text(kind, value)
        if kind in requests and quantity(requests[kind]) > quantity(text):
            text = requests[kind]  # never a limit under the request
        limits[kind] = text
    return requests, limits


def helper_patch(argo: dict[str, Any]) -> str | None:
    """podSpecPatch of a helper pod's executor container (named main): HELPER_REQUESTS, and
    HELPER_LIMITS where the defaults set limits, kept at most those limits."""
    table = argo.get("default_resources")
    if not table:
        return None
    requests = dict(HELPER_REQUESTS)
    limits: dict[str, str] = {}
    for kind, value in dict(table.get("limits") or {}).items():
        text = _text(kind, value)
        limits[kind] = min(HELPER_LIMITS[kind], text, key=quantity)
        requests[kind] = min(requests[kind], limits[kind], key=quantity)
    resources: dict[str, Any] = {"requests": requests, **({"limits": limits} if limits else {})}
    return json.dumps({"containers": [{"name": "main", "resources": resources}]}, sort_keys=True)


def check(config: Config, diags: Diagnostics) -> bool:
    """Whether the settings agree with each other (the schema checks each alone); located
    errors where not."""
    table = dict(dict(config.data.get("argo") or {}).get("default_resources") or {})
    ok = True
    requests, limits = dict(table.get("requests") or {}), dict(table.get("limits") or {})
    for kind in sorted(set(requests) & set(limits)):
        if quantity(limits[kind]) < quantity(requests[kind]):
            diags.error(f"[argo.default_resources] limits {kind} = {limits[kind]!r} is below requests {kind} = "
                        f"{requests[kind]!r}; Kubernetes refuses a limit under the request",
                        config.locate("argo", "default_resources", "limits"))
            ok = False
    return ok
