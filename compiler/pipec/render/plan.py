"""`pipec plan`: a readable account of what a workflow will run."""

from __future__ import annotations

import json
from typing import Any, Sequence

from pipec import ir
from pipec.ir.sweep import preview_rows

PREVIEW_ROWS = 3


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for r in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return lines


def value_text(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if (not value or any(c in value for c in " \t\n\"'=,")) else value
    return json.dumps(value, ensure_ascii=False)


def resources_text(r: ir.Resources) -> str:
    parts = []
    if r.profile:
        parts.append(f"profile {r.profile}")
    if r.cpu is not None or r.cpu_limit is not None:
        parts.append("cpu " + "-".join(f"{v:g}" for v in (r.cpu, r.cpu_limit) if v is not None))
    if r.memory_mb is not None or r.memory_limit_mb is not None:
        parts.append("mem " + "-".join(f"{v}M" for v in (r.memory_mb, r.memory_limit_mb) if v is not None))
    if r.gpus:
        parts.append(f"gpu {r.gpus}" + (f" {r.gpu_type}" if r.gpu_type else ""))
    return ", ".join(parts) or "-"


def executions_text(job: ir.Job) -> str:
    s = job.sweep
    if s is None:
        return "1"
    if s.kind is ir.SweepKind.RUNTIME:
        return "per item"
    text = f"{s.size}"
    if s.max_parallel:
        text += f" (≤{s.max_parallel} at once)"
    return text


def dependency_text(d: ir.Dependency) -> str:
    k = d.kind
    if k is ir.DepKind.ORDER:
        return "after"
    if d.label:
        return f"{d.label} -> input {d.target_key}" if k is ir.DepKind.FILES else d.label
    if k is ir.DepKind.FILES:
        return f"files {d.source_key} -> input {d.target_key}"
    if k is ir.DepKind.INPUT_FILES:
        return f"input files {d.source_key} -> input {d.target_key}"
    if k is ir.DepKind.PARAMETER:
        return f"parameter {d.source_key} -> {d.target_key}"
    if k is ir.DepKind.ENV:
        return f"env {d.source_key} -> {d.target_key}"
    if k is ir.DepKind.METADATA:
        return f"metadata {d.source_key} -> parameter {d.target_key} (at run time)"
    if k is ir.DepKind.DEPLOYMENT:
        return f"deployment {d.source_key} -> parameter {d.target_key} (at run time)"
    return f"files {d.source_key} -> deployment file {d.target_key}"


def render_plan(wf: ir.Workflow) -> str:
    out: list[str] = []
    total = sum(j.executions for j in wf.jobs)
    runtime = any(j.sweep is not None and j.sweep.kind is ir.SweepKind.RUNTIME for j in wf.jobs)
    out.append(f"workflow {wf.name!r} ({wf.dialect}, {wf.source_file})")
    out.append(f"  {len(wf.jobs)} jobs, {total}{'+' if runtime else ''} executions, {len(wf.dependencies)} dependencies")
    if wf.params:
        out.append("")
        out.append("parameters (override at submit time):")
        out.extend(_table(
            ("name", "value", "sets"),
            [(p.name, value_text(p.value), ", ".join(f"{j}.{n}" for j, n in p.targets) or "-") for p in wf.params],
        ))
    out.append("")
    out.append("jobs:")
    rows = []
    for i, j in enumerate(wf.jobs, 1):
        what = j.kind.value if j.kind is not ir.JobKind.EXECUTION else (j.step or "-")
        policy = j.on_error.value + (f" x{j.retries}" if j.retries else "")
        rows.append((str(i), j.id, what, executions_text(j), policy, resources_text(j.resources),
                     ", ".join(wf.upstream(j.id)) or "-"))
    out.extend(_table(("#", "job", "runs", "executions", "on error", "resources", "needs"), rows))
    sweeps = [j for j in wf.jobs if j.sweep is not None]
    if sweeps:
        out.append("")
        out.append("sweeps:")
        for j in sweeps:
            s = j.sweep
            assert s is not None
            if s.kind is ir.SweepKind.RUNTIME:
                assert s.fanout is not None
                out.append(f"  {j.id}: one execution per item of {s.fanout.source}'s metadata "
                           f"'{s.fanout.key}', as parameter {s.fanout.param}")
                continue
            out.append(f"  {j.id}: {s.origin or s.kind.value}, {s.size} executions"
                       + (f", at most {s.max_parallel} at once" if s.max_parallel else ""))
            for n, row in enumerate(preview_rows(s, PREVIEW_ROWS)):
                out.append(f"    [{n}] " + " ".join(f"{k}={value_text(v)}" for k, v in row.items()))
            if s.size > PREVIEW_ROWS:
                out.append(f"    ... {s.size - PREVIEW_ROWS} more")
    if wf.groups:
        out.append("")
        out.append("groups (start together, end with the lead):")
        for g in wf.groups:
            out.append(f"  {g.name}: lead {g.lead}; members {', '.join(g.members)}")
    if wf.dependencies:
        out.append("")
        out.append("dependencies:")
        out.extend(_table(("from", "to", "carries"),
                          [(d.source, d.target, dependency_text(d)) for d in wf.dependencies]))
    inputs = [(j.id, i) for j in wf.jobs for i in j.inputs if i.urls]
    if inputs:
        out.append("")
        out.append("fetched inputs:")
        for job_id, i in inputs:
            for url in i.urls:
                out.append(f"  {job_id}.{i.name}: {url}")
    return "\n".join(out) + "\n"
