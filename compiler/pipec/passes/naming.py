"""Engine-safe, unique job ids (`pipec.names.safe_id` of the names authors wrote). Two names
that derive the same id are reported rather than silently renamed, so ids stay predictable.
"""

from __future__ import annotations

from dataclasses import replace

from pipec import ir
from pipec.names import safe_id
from pipec.passes.context import Context


def assign_ids(wf: ir.Workflow, ctx: Context) -> ir.Workflow:
    diags = ctx.diags
    mapping: dict[str, str] = {}
    owner: dict[str, ir.Job] = {}
    for job in wf.jobs:
        new = safe_id(job.name)
        if new in owner:
            first = owner[new]
            where = f" (line {first.location.line})" if first.location else ""
            diags.error(
                f"names '{first.name}'{where} and '{job.name}' both become the job id '{new}'",
                job.location or wf.location or _nowhere(wf),
                "rename one of them so they differ in letters or digits, not only in punctuation or case",
            )
            continue
        owner[new] = job
        mapping[job.id] = new
    if diags.has_errors:
        return wf
    return rename(wf, mapping)


def rename(wf: ir.Workflow, mapping: dict[str, str]) -> ir.Workflow:
    """Rewrite every job-id reference in the workflow through `mapping`."""
    mapping = {old: new for old, new in mapping.items() if old != new}
    if not mapping:
        return wf  # already engine-safe: nothing to rewrite (the common case at scale)

    def m(job_id: str) -> str:
        return mapping.get(job_id, job_id)

    jobs = []
    for job in wf.jobs:
        sweep = job.sweep
        if sweep is not None and sweep.fanout is not None:
            sweep = replace(sweep, fanout=replace(sweep.fanout, source=m(sweep.fanout.source)))
        condition = job.condition
        if condition is not None:
            condition = replace(condition, source=m(condition.source))
        group = m(job.group) if job.group else None
        jobs.append(replace(job, id=m(job.id), sweep=sweep, condition=condition, group=group))
    return replace(
        wf,
        jobs=tuple(jobs),
        dependencies=tuple(
            replace(d, source=m(d.source), target=m(d.target)) if d.source in mapping or d.target in mapping else d
            for d in wf.dependencies
        ),
        groups=tuple(
            replace(g, name=m(g.name), lead=m(g.lead), members=tuple(m(x) for x in g.members)) for g in wf.groups
        ),
        params=tuple(replace(p, targets=tuple((m(j), n) for j, n in p.targets)) for p in wf.params),
    )


def _nowhere(wf: ir.Workflow):  # a workflow built in code, without source positions
    from pipec.errors import Location

    return Location(wf.source_file or "<workflow>", 1, 1)
