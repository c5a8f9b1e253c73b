"""The dependency graph: every cycle reported with its full path, or else the jobs put in a
deterministic topological order (ties keep the author's order). One graphlib sorter serves
both, so a large pipeline's graph is built once."""

from __future__ import annotations

import heapq
from dataclasses import replace
from graphlib import CycleError, TopologicalSorter

from pipec import ir
from pipec.errors import Diagnostics, Location
from pipec.passes.context import Context


def _sorter(wf: ir.Workflow, edges: dict[tuple[str, str], ir.Dependency]) -> TopologicalSorter[str]:
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for j in wf.jobs:
        sorter.add(j.id)
    for src, tgt in edges:
        sorter.add(tgt, src)
    return sorter


def order_jobs(wf: ir.Workflow, ctx: Context) -> ir.Workflow:
    diags = ctx.diags
    edges: dict[tuple[str, str], ir.Dependency] = {}
    for d in wf.dependencies:
        edges.setdefault((d.source, d.target), d)
    sorter = _sorter(wf, edges)
    try:
        sorter.prepare()
    except CycleError as exc:
        _report_cycles(wf, edges, exc, diags)
        return wf
    if diags.has_errors:
        return wf
    # Release one job at a time, always the earliest-written ready one: the order stays as
    # close to the author's as the dependencies allow, and never depends on hash ordering.
    position = {j.id: i for i, j in enumerate(wf.jobs)}
    order: list[str] = []
    ready: list[tuple[int, str]] = []
    while sorter.is_active():
        for job_id in sorter.get_ready():
            heapq.heappush(ready, (position[job_id], job_id))
        _, job_id = heapq.heappop(ready)
        order.append(job_id)
        sorter.done(job_id)
    by_id = {j.id: j for j in wf.jobs}
    return replace(wf, jobs=tuple(by_id[j] for j in order))


def _report_cycles(wf: ir.Workflow, edges: dict[tuple[str, str], ir.Dependency], first_error: CycleError,
                   diags: Diagnostics) -> None:
    """graphlib reports one cycle at a time; drop an edge of each and look again, so every
    independent cycle in the file is reported in one run."""
    names = {j.id: j.name for j in wf.jobs}
    remaining = dict(edges)
    error: CycleError | None = first_error
    while error is not None:
        # [a, b, ..., a]: each node is an immediate predecessor of the next (data-flow order).
        path: list[str] = list(error.args[1])
        first = remaining.get((path[0], path[1]))
        location = (first.location if first else None) or wf.location or Location(wf.source_file, 1, 1)
        diags.error(
            "dependency cycle: " + " -> ".join(names.get(n, n) for n in path), location,
            "a pipeline is a directed acyclic graph; remove one of these edges",
        )
        if first is None:  # cannot happen with graphlib's contract; never loop on it
            return
        remaining.pop((path[0], path[1]))
        try:
            _sorter(wf, remaining).prepare()
            error = None
        except CycleError as exc:
            error = exc
