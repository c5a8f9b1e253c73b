"""What the chosen target cannot compile, reported once, located, naming the target.

Each back end declares the features it supports (`pipec.targets`); this pass finds the
constructs of a workflow that need a feature the target lacks. `check` has no target and
skips it.
"""

from __future__ import annotations

from typing import Callable

from pipec import ir
from pipec.backends import analysis
from pipec.passes.context import Context
from pipec.targets import (
    CONDITIONS,
    EXIT_CODES,
    FANOUT_OVER_SWEEPS,
    FEATURES,
    FILES,
    GROUP_ANY_FAILS,
    GROUP_BARRIER,
    GROUP_FANOUT,
    INPUT_REGEX,
    METADATA_INTO_GROUPS,
    METADATA_OUT_OF_GROUPS,
    MULTI_JOB_GROUPS,
    RUN_ID,
    SCHEDULE_TIME_ZONES,
    SECRETS,
    UPLOADS,
    VALUE_WORDS,
)


def looped(job: ir.Job) -> bool:
    """Whether a job runs as several executions (or as many as a run-time list has)."""
    return job.executions > 1 or (job.sweep is not None and job.sweep.fanout is not None) or job.group is not None




def _job_features(job: ir.Job, lacks: list[str], refuse: Callable[[str, object], None]) -> None:
    """The per-job features of the IR a target may not compile yet."""
    if job.files and FILES in lacks:
        refuse(f"'{job.name}' writes files into place before its command", job.files[0])
    if job.secrets and SECRETS in lacks:
        refuse(f"'{job.name}' reads credential '{job.secrets[0].name}'", job.secrets[0])
    if job.uploads and UPLOADS in lacks:
        refuse(f"'{job.name}' uploads files to a storage URL", job.uploads[0])
    if job.exit_codes is not None and EXIT_CODES in lacks:
        refuse(f"'{job.name}' gives its exit codes actions (exitActions)", job.exit_codes)
    if analysis.uses_run_id(job) and RUN_ID in lacks:
        refuse(f"'{job.name}' uses the run's id", job)
    if any(e.word for e in job.env) and VALUE_WORDS in lacks:
        refuse(f"'{job.name}' has an environment value holding a path or a host", next(e for e in job.env if e.word))
    if any(i.regex for i in job.inputs) and INPUT_REGEX in lacks:
        refuse(f"'{job.name}' filters an input by a regex", next(i for i in job.inputs if i.regex))


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
        _job_features(job, lacks, refuse)
    for group in wf.groups:
        if len(group.members) > 1 and MULTI_JOB_GROUPS in lacks:
            refuse(f"group '{group.name}' has several member jobs ({', '.join(group.members)})", group)
        if group.barrier and GROUP_BARRIER in lacks:
            refuse(f"group '{group.name}' starts its commands only once every member is up (barrier)", group)
        if not group.lead_decides and GROUP_ANY_FAILS in lacks:
            refuse(f"group '{group.name}' fails with any of its members (ignoreNonleadStatus: false)", group)
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
