"""Every command can be built: rendered here with each value a job can get at compile time
(its defaults, each value of each swept parameter, each explicit row), so that a value of
the wrong shape (a list for a single-valued parameter, a string where a format needs a
number) is a located error in `pipec check`, not only when a target compiles it.

Values given later (at submit or run time) are rendered by the back ends; rendering is cheap
(the renderer is pure Python and imports nothing heavy), and a product grid costs the sum of
its axes here, not their product.
"""

from __future__ import annotations

from typing import Any, Iterator

from pipec import ir
from pipec.backends.command import RenderError, render
from pipec.passes.context import Context

MAX_ROWS = 1000  # rows (and values per axis) checked per job: more only repeat the shapes of these


def check_commands(wf: ir.Workflow, ctx: Context) -> ir.Workflow:
    members = {g.name: g.members for g in wf.groups}
    for job in wf.jobs:
        if not job.command.lines:
            continue
        # A peer's host is a variable each back end names; any name shows the command builds.
        hosts = {peer: f"PIPEC_HOST_{i}" for i, peer in enumerate(members.get(job.group or "", ()))}
        for values in _samples(job):
            try:
                render(job.command, job.params, values, wf.layout, mounted=True, hosts=hosts)
            except RenderError as exc:
                ctx.diags.error(f"cannot build the command of '{job.name}': {exc}", ctx.where(wf, job))
                break
    return wf


def _samples(job: ir.Job) -> Iterator[dict[str, Any]]:
    yield {}
    sweep = job.sweep
    if sweep is None or sweep.kind is ir.SweepKind.RUNTIME:
        return
    if sweep.kind is ir.SweepKind.ROWS:
        for row in sweep.rows[:MAX_ROWS]:
            yield dict(row)
        return
    if sweep.kind is ir.SweepKind.RANDOM:
        first = sweep.row(0)
        yield first
        for raxis in sweep.random_axes:  # a grid style sampled in a random search: each of its values
            for value in raxis.choices[:MAX_ROWS]:
                yield {**first, raxis.name: value}
        return
    first = {axis.name: axis.values[0] for axis in sweep.axes}
    for axis in sweep.axes:
        for value in axis.values[:MAX_ROWS]:
            yield {**first, axis.name: value}
