"""Graph checks and ordering: every cycle reported with its full path, then jobs put in a
deterministic topological order (ties keep the author's order)."""

from __future__ import annotations

import heapq
from dataclasses import replace
from graphlib import CycleError, TopologicalSorter

from pipec import ir
from pipec.errors import Diagnostics, Location


def check_cycles(wf: ir.Workflow, diags: Diagnostics) -> ir.Workflow:
    edges: dict[tuple[str, str], ir.Dependency] = {}
    for d in wf.dependencies:
        edges.setdefault((d.source, d.target), d)
    names = {j.id: j.name for j in wf.jobs}
    remaining = dict(edges)
    # graphlib reports one cycle at a time; drop an edge of each and look again, so every
    # independent cycle in the file is reported in one run.
    for _ in range(len(edges) + 1):
        sorter: TopologicalSorter[str] = TopologicalSorter()
        for j in wf.jobs:
            sorter.add(j.id)
        for (src, tgt) in remaining:
            sorter.add(tgt, src)
        try:
            sorter.prepare()
            break
        except CycleError as exc:
            # [a, b, ..., a]: each node is an immediate predecessor of the next (data-flow order).
            path: list[str] = list(exc.args[1])
            first = remaining.get((path[0], path[1]))
            location = (first.location if first else None) or wf.location or Location(wf.source_file, 1, 1)
            diags.error(
                "dependency cycle: " + " -> ".join(names.get(n, n) for n in path), location,
                "a pipeline is a directed acyclic graph; remove one of these edges",
            )
            if first is None:  # cannot happen with graphlib's contract; never loop on it
                break
            remaining.pop((path[0], path[1]))
    return wf


def order_jobs(wf: ir.Workflow, diags: Diagnostics) -> ir.Workflow:
    if diags.has_errors:
        return wf
    position = {j.id: i for i, j in enumerate(wf.jobs)}
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for j in wf.jobs:
        sorter.add(j.id)
    for d in wf.dependencies:
        sorter.add(d.target, d.source)
    sorter.prepare()  # check_cycles ran first, so this cannot raise
    # Release one job at a time, always the earliest-written ready one: the order stays as
    # close to the author's as the dependencies allow, and never depends on hash ordering.
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
