"""Passes: pure functions (Workflow, Context) -> Workflow, run in order by `run_passes`.

Like an optimizer's rules, each pass is one small module and does one thing. The same
passes run for `check` (no target) and `compile` (a target), so `pipec check` reports every
problem of the input or the configuration that `compile` would refuse; passes that depend
on the chosen target (what it supports) do nothing without one.

A pass may report problems to `ctx.diags`; a pass after an error sees the workflow as the
failing pass left it and must not assume it is valid.
"""

from __future__ import annotations

from typing import Callable

from pipec import ir
from pipec.passes.commands import check_commands
from pipec.passes.context import Context
from pipec.passes.deployments import lower_deployments
from pipec.passes.graph import order_jobs
from pipec.passes.names import check_names
from pipec.passes.naming import assign_ids
from pipec.passes.profiles import resolve_profiles
from pipec.passes.regexes import check_regexes
from pipec.passes.stubs import remove_stubs
from pipec.passes.support import check_support
from pipec.passes.sweeps import check_sweep_sizes
from pipec.passes.triggers import attach_triggers

Pass = Callable[[ir.Workflow, Context], ir.Workflow]

PASSES: tuple[Pass, ...] = (assign_ids, check_names, order_jobs, remove_stubs, attach_triggers, resolve_profiles,
                            lower_deployments, check_commands, check_regexes, check_support, check_sweep_sizes)


def run_passes(wf: ir.Workflow, ctx: Context, passes: tuple[Pass, ...] = PASSES) -> ir.Workflow:
    for p in passes:
        wf = p(wf, ctx)
    return wf


__all__ = ["PASSES", "Context", "Pass", "run_passes"]
