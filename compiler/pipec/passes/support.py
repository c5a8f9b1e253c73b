"""What the chosen target cannot compile, reported once, located, naming the target.

Each back end declares the features it supports (`pipec.targets`); this pass finds the
constructs of a workflow that need a feature the target lacks. `check` has no target and
skips it.
"""

from __future__ import annotations

from pipec import ir
from pipec.passes.context import Context
from pipec.targets import (
    CONDITIONS,
    FANOUT_OVER_SWEEPS,
    FEATURES,
    GROUP_FANOUT,
    METADATA_INTO_GROUPS,
    METADATA_OUT_OF_GROUPS,
    MULTI_JOB_GROUPS,
    SCHEDULE_TIME_ZONES,
)


def looped(job: ir.Job) -> bool:
    """Whether a job runs as several executions (or as many as a run-time list has)."""
    return job.executions > 1 or (job.sweep is not None and job.sweep.fanout is not None) or job.group is not None


def check_support(wf: ir.Workflow, ctx: Context) -> ir.Workflow:
    target = ctx.target
    if target is None:
        return wf
    lacks = [f for f in FEATURES if f not in target.supports]
    if not lacks:
        return wf

    def refuse(what: str, where: object) -> None:
        ctx.diags.error(f"{what}; the {target.title} target does not compile that yet", ctx.where(wf, where))

    groups = {g.name: g for g in wf.groups}
    for job in wf.jobs:
        fanout = job.sweep.fanout if job.sweep is not None else None
        if job.condition is not None and CONDITIONS in lacks:
            refuse(f"'{job.name}' runs only when {job.condition.source}'s {job.condition.key} matches", job)
        if job.group is not None and fanout is not None and GROUP_FANOUT in lacks:
            refuse(f"'{job.name}' is a group whose members come from a list known only at run time", job.sweep)
        if fanout is not None and FANOUT_OVER_SWEEPS in lacks and looped(wf.job(fanout.source)):
            refuse(f"'{job.name}' fans out over metadata '{fanout.key}' of '{fanout.source}', which runs several "
                   "executions (a list per execution)", job.sweep)
    for group in wf.groups:
        if len(group.members) > 1 and MULTI_JOB_GROUPS in lacks:
            refuse(f"group '{group.name}' has several member jobs ({', '.join(group.members)})", group)
    for dep in wf.dependencies:
        if dep.kind not in ir.RUNTIME_DEP_KINDS:
            continue
        source, target_job = wf.job(dep.source), wf.job(dep.target)
        receives = target_job.param(dep.target_key) is not None  # an undeclared parameter receives nothing
        if receives and target_job.group is not None and target_job.group in groups and METADATA_INTO_GROUPS in lacks:
            refuse(f"group '{target_job.group}' reads metadata '{dep.source_key}' of '{source.name}'", dep)
        if source.group is not None and METADATA_OUT_OF_GROUPS in lacks:
            refuse(f"'{target_job.name}' reads metadata '{dep.source_key}' of group '{source.group}'", dep)
    if SCHEDULE_TIME_ZONES in lacks:
        for trigger in wf.triggers:
            if trigger.timezone is not None:
                refuse(f"the schedule of '{wf.name}' runs in time zone {trigger.timezone}", trigger)
    return wf
