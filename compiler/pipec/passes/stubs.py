"""Stubs do nothing but keep the order of what is around them (runnable `stub`): each is
removed, and every job after it waits for every job before it instead, so no engine starts
a pod, a runner or a Slurm job for nothing. A pipeline of stubs only keeps them."""

from __future__ import annotations

from dataclasses import replace

from pipec import ir
from pipec.passes.context import Context


def remove_stubs(wf: ir.Workflow, ctx: Context) -> ir.Workflow:
    stubs = {j.id for j in wf.jobs if j.kind is ir.JobKind.STUB}
    if not stubs or len(stubs) == len(wf.jobs) or ctx.diags.has_errors:
        return wf  # a pipeline of stubs only stays one that runs (and does nothing), as in runnable
    before: dict[str, list[str]] = {}  # job -> the non-stub jobs it waits for, through stubs
    for job in wf.jobs:  # topological order: a stub's own upstreams are resolved already
        found: list[str] = []
        for up in wf.upstream(job.id):
            found.extend(before.get(up, []) if up in stubs else [up])
        before[job.id] = list(dict.fromkeys(found))
    deps = [d for d in wf.dependencies if d.source not in stubs and d.target not in stubs]
    wired = {(d.source, d.target) for d in deps}
    for job in wf.jobs:
        if job.id in stubs:
            continue
        for up in before[job.id]:
            if (up, job.id) not in wired and any(u in stubs for u in wf.upstream(job.id)):
                deps.append(ir.Dependency(up, job.id, ir.DepKind.ORDER))
                wired.add((up, job.id))
    return replace(wf, jobs=tuple(j for j in wf.jobs if j.id not in stubs), dependencies=tuple(deps))
