"""Large sweeps are pointed out by `pipec check`: the size alone decides (a product of axes is
known without building a row), so a 9-million-execution grid is not a surprise at compile
time. Each back end decides for itself, also from the size alone, whether it compiles such a
sweep or refuses it naming its engine's limit; this pass only speaks without a target."""

from __future__ import annotations

from pipec import ir
from pipec.passes.context import Context

# Slurm's default MaxJobCount: more executions than this fit no default Slurm cluster, far
# exceed what one GitHub Actions run takes (256 jobs per matrix) and make an Argo workflow
# whose status object outgrows etcd.
LARGE_SWEEP = 10_000


def check_sweep_sizes(wf: ir.Workflow, ctx: Context) -> ir.Workflow:
    if ctx.target is not None:
        return wf
    for job in wf.jobs:
        sweep = job.sweep
        if sweep is None or sweep.kind is ir.SweepKind.RUNTIME or sweep.size <= LARGE_SWEEP:
            continue
        ctx.diags.warning(f"'{job.name}' runs {sweep.size:,} executions; engines refuse or struggle with more than "
                          f"{LARGE_SWEEP:,} (Slurm's default MaxJobCount; GitHub Actions runs 256 jobs per matrix)",
                          sweep.location or ctx.where(wf, job),
                          "fewer values per parameter, or a random search with max_runs; `pipec compile` says what "
                          "each target does with it", code="PC413")
    return wf
