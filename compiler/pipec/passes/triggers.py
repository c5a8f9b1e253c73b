"""Schedules: each pipeline's trigger from pipec.toml [triggers] (or --schedule, which
replaces them), its cron line checked here so that `pipec check` refuses what every engine
would (time zone names are checked with the rest of the config)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pipec import ir
from pipec.cron import cron_problem
from pipec.passes.context import Context


def attach_triggers(wf: ir.Workflow, ctx: Context) -> ir.Workflow:
    if ctx.schedule is not None:
        triggers = (ir.Trigger(ctx.schedule, location=ctx.where(wf)),)
    else:
        entry: Any = dict(ctx.config.data.get("triggers", {})).get(wf.name)
        if entry is None:
            return wf
        where = ctx.config.locate(wf.name)
        if isinstance(entry, dict):
            triggers = (ir.Trigger(str(entry["cron"]), entry.get("timezone"), where),)
        else:
            triggers = (ir.Trigger(str(entry), location=where),)
    for trigger in triggers:
        loc = trigger.location or ctx.where(wf)
        problem = cron_problem(trigger.cron)
        if problem:
            ctx.diags.error(f"schedule {trigger.cron!r} of '{wf.name}': {problem}", loc)
    return replace(wf, triggers=triggers)
