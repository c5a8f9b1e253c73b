"""Groups of several different jobs, run the way gang-scheduled groups run on Kubernetes: every
member in a pod of its own, all started together, each reachable from the others under a
stable DNS name that a headless Service gives it.

    group-<name>          DAG template of the group, one task in the main DAG
      service             a headless Service created by the workflow itself (resource
                          template, owned by the Workflow, so deleted with it)
      <member>...         the lead a plain task, the others daemons where the lead
                          decides, else plain tasks that end with the lead

Names. The Service is `<group>-{{workflow.uid}}`: unique per run, a DNS-1035 label (at most 63
characters; a uid is 36). It selects the group's pods by the label `pipec.dev/group` holding
its own name. Each member pod sets `hostname` (from its job id) and `subdomain` (the Service),
so Kubernetes DNS gives it `<hostname>.<subdomain>.<namespace>.svc.<cluster domain>`, which
every pod resolves as `<hostname>.<subdomain>` through its DNS search path. A member's command
reads peer k's name from `PIPEC_HOST_<k>` (set by `pipec_peer`).

Lead. With `lead_decides` the non-leads are daemons carrying `continueOn`: Argo stops the
daemons of a DAG once its other tasks have ended, so the lead's end ends the group, and the
group's status is the lead's. Where any member's failure counts, daemons will not do: Argo 3
reports a failed daemon Succeeded (argoproj/argo-workflows#12911) and Argo 4 one that ended by
itself Failed ("daemon pods should run indefinitely", assessNodeStatus). There the non-leads
are plain tasks, so a failure fails the group's DAG and its downstream never runs, and each
ends with its lead by itself: its runtime watches the lead's name (pipec_follow), and once that
name is gone (the lead's pod ended) it stops its command and ends, not marked ok. Argo stops
no running pod when a DAG task fails: the lead runs to its own end (or its timeout).

Barrier. Member pods get a readiness probe that passes once the runtime says so (pipec_ready),
and Kubernetes publishes a pod's DNS record behind a headless Service only while it is Ready.
A non-lead, its inputs staged, gets ready and waits until the lead's name resolves; the lead
waits until every non-lead's name resolves, then gets ready (waits: pipec_await, at most
BARRIER_SECONDS). So no command starts before every member has arrived, and no member leaves
the barrier before the lead has seen it there (a short-lived member could otherwise end, taking
its name away, before a slower peer looked). The lead, for its part, stays up at least
LEAD_HOLD_SECONDS past the barrier, so that every non-lead sees it before it ends.
"""

from __future__ import annotations

from hera.workflows import models as m

from pipec import ir
from pipec.backends.argo.templates import GROUP_LABEL
from pipec.backends.shell import quote
from pipec.names import safe_id

SERVICE_TEMPLATE = "pipec-group-service"
BARRIER_SECONDS = 600  # how long a member waits at the barrier for its peers' names
# How long the lead stays up at least once past the barrier: a non-lead polls every second
# and DNS answers lag readiness (the endpoints' update, CoreDNS's 5-second TTL and cache).
LEAD_HOLD_SECONDS = 10
UID_LENGTH = 36  # a Kubernetes uid (a UUID) in {{workflow.uid}}
NAME_MAX = 63  # a Service name (DNS-1035 label), a pod's hostname and subdomain (DNS-1123 labels)
PREFIX_MAX = NAME_MAX - UID_LENGTH - 1

# Two things pin the Service to the run: its name holds the workflow's uid, and the workflow
# owns it (setOwnerReference), so Kubernetes deletes it with the workflow.
SERVICE_MANIFEST = f"""apiVersion: v1
kind: Service
metadata:
  name: '{{{{inputs.parameters.service}}}}'
spec:
  clusterIP: None
  selector:
    {GROUP_LABEL}: '{{{{inputs.parameters.service}}}}'
"""


def is_multi(group: ir.Group) -> bool:
    """A group of several different jobs (a single job's executions are the other kind)."""
    return len(group.members) > 1


def service_prefixes(groups: tuple[ir.Group, ...]) -> dict[str, str]:
    """Group name -> the start of its Service's name: a DNS-1035 label short enough that the
    run's uid still fits, distinct from every other group's."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for group in groups:
        if not is_multi(group):
            continue
        base = safe_id(group.name, PREFIX_MAX)  # starts with a letter, ends with one or a digit
        name, n = base, 2
        while name in used:
            suffix = f"-{n}"
            name, n = base[: PREFIX_MAX - len(suffix)].rstrip("-") + suffix, n + 1
        used.add(name)
        out[group.name] = name
    return out


def service_name(prefix: str) -> str:
    """The Service of one run of the group (an Argo expression resolved per workflow)."""
    return f"{prefix}-{{{{workflow.uid}}}}"


def host_names(group: ir.Group) -> dict[str, str]:
    """Member job id -> its pod's hostname (a DNS-1123 label, distinct within the group)."""
    out: dict[str, str] = {}
    for job_id in group.members:
        base = safe_id(job_id, NAME_MAX)
        name, n = base, 2
        while name in out.values():
            suffix = f"-{n}"
            name, n = base[: NAME_MAX - len(suffix)].rstrip("-") + suffix, n + 1
        out[job_id] = name
    return out


def ordered_members(group: ir.Group) -> tuple[str, ...]:
    """The members, lead first: the order that numbers their PIPEC_HOST_<k> variables."""
    return (group.lead, *(j for j in group.members if j != group.lead))


def host_vars(group: ir.Group) -> dict[str, str]:
    """Member job id -> the variable holding its host name in every member's command."""
    return {job_id: f"PIPEC_HOST_{k}" for k, job_id in enumerate(ordered_members(group))}


def peer_lines(group: ir.Group) -> list[str]:
    """Runtime lines giving a member every member's host name in its variable (before its
    environment, files and uploads, which may name them)."""
    names = host_names(group)
    return [f"pipec_peer {var} {quote(names[member])}\n" for member, var in host_vars(group).items()]


def member_lines(group: ir.Group, job_id: str) -> list[str]:
    """Runtime lines of one member, after its staging: (with a barrier) the wait for every
    peer, and for a member that ends with its lead, the lead to follow."""
    names = host_names(group)
    lines: list[str] = []
    if group.barrier and job_id == group.lead:
        peers = " ".join(quote(names[j]) for j in ordered_members(group) if j != job_id)
        lines += [f"pipec_await {BARRIER_SECONDS} {peers}\n", f"pipec_ready {LEAD_HOLD_SECONDS}\n"]
    elif group.barrier:
        lines += ["pipec_ready\n", f"pipec_await {BARRIER_SECONDS} {quote(names[group.lead])}\n"]
    if not daemon(group, job_id) and job_id != group.lead:
        # After the barrier the lead is known to have been up: its name going means its end.
        lines.append(f"pipec_follow {quote(names[group.lead])}{' 1' if group.barrier else ''}\n")
    return lines


def daemon(group: ir.Group, job_id: str) -> bool:
    """Whether a member runs as a daemon: the non-leads of a group whose lead decides. Where
    any member's failure counts they are plain tasks that end with the lead (pipec_follow):
    Argo 3 reports a failed daemon Succeeded, Argo 4 one that ended by itself Failed."""
    return job_id != group.lead and group.lead_decides


def service_template() -> m.Template:
    """The resource template creating a group's headless Service (one for every group)."""
    return m.Template(
        name=SERVICE_TEMPLATE,
        inputs=m.Inputs(parameters=[m.Parameter(name="service")]),
        resource=m.ResourceTemplate(action="create", set_owner_reference=True, manifest=SERVICE_MANIFEST))


def unique_task(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name
