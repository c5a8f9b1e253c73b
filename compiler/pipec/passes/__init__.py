"""Passes: pure functions Workflow -> Workflow, run in order by `run_passes`.

Each pass may report problems to the diagnostics; a pass after an error sees the workflow as
the failing pass left it and must not assume it is valid.
"""

from __future__ import annotations

from typing import Callable

from pipec import ir
from pipec.errors import Diagnostics
from pipec.passes.graph import order_jobs
from pipec.passes.naming import assign_ids

Pass = Callable[[ir.Workflow, Diagnostics], ir.Workflow]

PASSES: tuple[Pass, ...] = (assign_ids, order_jobs)


def run_passes(wf: ir.Workflow, diags: Diagnostics, passes: tuple[Pass, ...] = PASSES) -> ir.Workflow:
    for p in passes:
        wf = p(wf, diags)
    return wf
