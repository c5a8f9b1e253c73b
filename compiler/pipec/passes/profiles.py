"""Machine profiles: a job that names a profile (whatever a dialect calls its machines)
takes the CPUs, memory and GPUs it does not state itself from pipec.toml [profiles]. What
only one engine reads of a profile (a Slurm partition, runner labels, a node selector) stays
in the profile for that back end."""

from __future__ import annotations

from dataclasses import replace

from pipec import ir
from pipec.passes.context import Context


def resolve_profiles(wf: ir.Workflow, ctx: Context) -> ir.Workflow:
    profiles = dict(ctx.config.data.get("profiles", {}))
    if not profiles:
        return wf
    jobs = []
    for job in wf.jobs:
        res = job.resources
        profile = profiles.get(res.profile or "") if res.profile else None
        if profile:
            res = replace(
                res,
                cpu=res.cpu if res.cpu is not None else profile.get("cpus"),
                memory_mb=res.memory_mb if res.memory_mb is not None else profile.get("memory"),
                gpus=res.gpus or int(profile.get("gpus", 0)),
                gpu_type=res.gpu_type or profile.get("gpu_type"),
            )
            job = replace(job, resources=res)
        jobs.append(job)
    return replace(wf, jobs=tuple(jobs))
