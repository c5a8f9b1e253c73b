"""File filters by regex (input slots, uploads) can be matched on every engine: the runtime
matches with `grep -E`, so each regex must translate to a POSIX extended regex
(`pipec.backends.regex`); what has no translation (lookarounds, back-references, word
boundaries) is a located error here, in `check` as in `compile`."""

from __future__ import annotations

import re

from pipec import ir
from pipec.backends.regex import Unsupported, to_ere
from pipec.passes.context import Context


def check_regexes(wf: ir.Workflow, ctx: Context) -> ir.Workflow:
    for job in wf.jobs:
        found = [(i.regex, i) for i in job.inputs if i.regex] + [(u.regex, u) for u in job.uploads if u.regex]
        for pattern, where in found:
            try:
                to_ere(pattern)  # type: ignore[arg-type]
            except Unsupported as exc:
                ctx.diags.error(f"regex {pattern!r} of '{job.name}' cannot be matched by every engine: {exc}",
                                ctx.where(wf, where), "write it with classes, groups, alternatives and repeats only")
            except (re.error, RecursionError, OverflowError) as exc:
                ctx.diags.error(f"regex {pattern!r} of '{job.name}' does not compile: {exc}", ctx.where(wf, where))
    return wf
