"""What the back ends read off a workflow the same way: which metadata keys downstream jobs
read, which jobs' inputs are read by others, whether a job runs as a loop of executions,
the row of a job that runs once, and its environment as shell lines."""

from __future__ import annotations

from typing import Any

from pipec import ir
from pipec.backends.command import render_word
from pipec.backends.shell import quote


def metadata_keys(wf: ir.Workflow) -> dict[str, list[str]]:
    """Job id -> the metadata keys its downstream jobs read (run-time values and fan-outs), in
    first-use order; the order numbers the outputs that carry them."""
    keys: dict[str, list[str]] = {}

    def add(job_id: str, key: str) -> None:
        found = keys.setdefault(job_id, [])
        if key not in found:
            found.append(key)

    for d in wf.dependencies:
        if d.kind in ir.RUNTIME_DEP_KINDS:
            add(d.source, d.source_key)
    for job in wf.jobs:
        if job.sweep is not None and job.sweep.fanout is not None:
            add(job.sweep.fanout.source, job.sweep.fanout.key)
    return keys


def fanout_keys(wf: ir.Workflow) -> set[tuple[str, str]]:
    """(job id, key) of the metadata lists some job fans out over."""
    return {(j.sweep.fanout.source, j.sweep.fanout.key) for j in wf.jobs if j.sweep is not None and j.sweep.fanout}


def input_readers(wf: ir.Workflow) -> set[str]:
    """Jobs whose input slots a downstream job reads (input-to-input edges)."""
    return {d.source for d in wf.dependencies if d.kind is ir.DepKind.INPUT_FILES}


def looped(job: ir.Job) -> bool:
    """Whether the engine runs the job as a loop of executions (its outputs become lists)."""
    return job.executions > 1 or (job.sweep is not None and job.sweep.fanout is not None)


def single_row(job: ir.Job) -> dict[str, Any] | None:
    """The parameter values of a job's only execution when a sweep of one row gives them."""
    sweep = job.sweep
    if sweep is None or sweep.kind is ir.SweepKind.RUNTIME or sweep.size != 1:
        return None
    return sweep.row(0)


def env_lines(job: ir.Job, layout: ir.Layout | None = None, mounted: bool = True,
              hosts: dict[str, str] | None = None, moved: tuple[tuple[str, str], ...] = ()) -> list[str]:
    """The job's environment variables as shell lines (names were checked, values quoted; a
    value built of parts, with `layout` given, reads its paths and hosts from variables)."""
    if layout is None:
        return [f"export {e.name}={quote(e.value)}\n" for e in job.env]
    # Plain values too: a path the command reads elsewhere (a moved file) is rewritten in them.
    return [f"export {e.name}={render_word(e.word or (ir.Text(e.value),), layout, mounted, hosts, moved)}\n"
            for e in job.env]


def uses_run_id(job: ir.Job) -> bool:
    """Whether the run's id is part of the job's command, environment, files or uploads."""
    words = [p for line in job.command.lines for p in line] + [p for e in job.env for p in e.word]
    words += [p for f in job.files for p in f.contents] + [p for u in job.uploads for p in u.url + u.source]
    return any(isinstance(p, ir.RunId) for p in words)
