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
    waits: dict[str, set[str]] = {j.id: set() for j in wf.jobs}
    children: dict[str, list[str]] = {j.id: [] for j in wf.jobs}
    for d in wf.dependencies:
        if d.source in waits and d.target in waits and d.source not in waits[d.target]:
            waits[d.target].add(d.source)
            children[d.source].append(d.target)
    ready = [(position[j], j) for j, w in waits.items() if not w]
    heapq.heapify(ready)
    order: list[str] = []
    pending = {j: len(w) for j, w in waits.items()}
    while ready:
        _, job_id = heapq.heappop(ready)
        order.append(job_id)
        for child in children[job_id]:
            pending[child] -= 1
            if pending[child] == 0:
                heapq.heappush(ready, (position[child], child))
    if len(order) != len(wf.jobs):  # a cycle; check_cycles has reported it
        return wf
    by_id = {j.id: j for j in wf.jobs}
    return replace(wf, jobs=tuple(by_id[j] for j in order))
