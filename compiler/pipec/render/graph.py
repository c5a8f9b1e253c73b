"""`pipec graph`: the DAG as Mermaid or Graphviz DOT. A sweep is one node with its
execution count; a group is a cluster; several pipelines are one graph with a cluster each
(one document: `| dot -Tsvg` takes a single graph)."""

from __future__ import annotations

from pipec import ir
from pipec.errors import visible
from pipec.render.plan import executions_text


def _label(job: ir.Job) -> str:
    text = job.name
    if job.kind is ir.JobKind.DEPLOYMENT:
        text += " (deploy)"
    if job.sweep is not None:
        text += f" ×{executions_text(job)}"
    return text


def _edge_labels(wf: ir.Workflow) -> dict[tuple[str, str], list[str]]:
    labels: dict[tuple[str, str], list[str]] = {}
    for d in wf.dependencies:
        key = (d.source, d.target)
        entry = labels.setdefault(key, [])
        if d.kind is ir.DepKind.ORDER:
            continue
        text = d.label or (d.source_key if d.kind is ir.DepKind.FILES else f"{d.kind.value} {d.source_key}")
        if text not in entry:
            entry.append(text)
    return labels


# Graphviz refuses a quoted string over 16 KB; a label that long is unreadable anyway.
MAX_LABEL = 200


def _shown(text: str) -> str:
    """A label as it is shown: control and format characters escaped, long text cut."""
    text = visible(text)
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _mermaid_text(text: str) -> str:
    # Inside a quoted Mermaid label only " and the entity syntax need escaping.
    return _shown(text).replace("&", "#amp;").replace('"', "#quot;")


def to_mermaid(workflows: list[ir.Workflow]) -> str:
    """One flowchart; with several pipelines, a subgraph labelled with each one's name."""
    lines = ["flowchart TD"]
    if len(workflows) == 1:
        lines += _mermaid_body(workflows[0], "n", "  ")
    for p_index, wf in enumerate(workflows if len(workflows) > 1 else ()):
        lines.append(f'  subgraph p{p_index}["pipeline {_mermaid_text(wf.name)}"]')
        lines += _mermaid_body(wf, f"p{p_index}n", "    ")
        lines.append("  end")
    return "\n".join(lines) + "\n"


def _mermaid_body(wf: ir.Workflow, prefix: str, pad: str) -> list[str]:
    ids = {j.id: f"{prefix}{i}" for i, j in enumerate(wf.jobs)}
    lines = []
    grouped = {m for g in wf.groups for m in g.members}
    for g_index, g in enumerate(wf.groups):
        lines.append(f'{pad}subgraph {prefix}g{g_index}["group {_mermaid_text(g.name)}"]')
        for m in g.members:
            lines.append(f"{pad}  {_mermaid_node(wf.job(m), ids)}")
        lines.append(f"{pad}end")
    for j in wf.jobs:
        if j.id not in grouped:
            lines.append(f"{pad}{_mermaid_node(j, ids)}")
    for (src, tgt), labels in _edge_labels(wf).items():
        if labels:
            lines.append(f'{pad}{ids[src]} -->|"{_mermaid_text(", ".join(labels))}"| {ids[tgt]}')
        else:
            lines.append(f"{pad}{ids[src]} --> {ids[tgt]}")
    return lines


def _mermaid_node(job: ir.Job, ids: dict[str, str]) -> str:
    label = _mermaid_text(_label(job))
    if job.sweep is not None:
        return f'{ids[job.id]}[["{label}"]]'
    if job.kind is ir.JobKind.DEPLOYMENT:
        return f'{ids[job.id]}[/"{label}"/]'
    return f'{ids[job.id]}["{label}"]'


def _dot_text(text: str) -> str:
    return '"' + _shown(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(workflows: list[ir.Workflow]) -> str:
    """One digraph; with several pipelines, a cluster labelled with each one's name."""
    name = workflows[0].name if len(workflows) == 1 else "pipelines"
    lines = [f"digraph {_dot_text(name)} {{", "  rankdir=TB;", "  node [shape=box];"]
    if len(workflows) == 1:
        lines += _dot_body(workflows[0], "", "  ")
    for p_index, wf in enumerate(workflows if len(workflows) > 1 else ()):
        lines.append(f"  subgraph cluster_p{p_index} {{")
        lines.append(f"    label={_dot_text('pipeline ' + wf.name)};")
        lines += _dot_body(wf, f"p{p_index}:", "    ")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_body(wf: ir.Workflow, prefix: str, pad: str) -> list[str]:
    lines = []
    grouped = {m for g in wf.groups for m in g.members}
    for g_index, g in enumerate(wf.groups):
        lines.append(f"{pad}subgraph cluster_{prefix.rstrip(':')}{'_' if prefix else ''}{g_index} {{")
        lines.append(f"{pad}  label={_dot_text('group ' + g.name)};")
        for m in g.members:
            lines.append(f"{pad}  {_dot_node(wf.job(m), prefix)}")
        lines.append(f"{pad}}}")
    for j in wf.jobs:
        if j.id not in grouped:
            lines.append(f"{pad}{_dot_node(j, prefix)}")
    for (src, tgt), labels in _edge_labels(wf).items():
        attr = f" [label={_dot_text(', '.join(labels))}]" if labels else ""
        lines.append(f"{pad}{_dot_text(prefix + src)} -> {_dot_text(prefix + tgt)}{attr};")
    return lines


def _dot_node(job: ir.Job, prefix: str = "") -> str:
    shape = ""
    if job.sweep is not None:
        shape = ", shape=box3d"
    elif job.kind is ir.JobKind.DEPLOYMENT:
        shape = ", shape=parallelogram"
    return f"{_dot_text(prefix + job.id)} [label={_dot_text(_label(job))}{shape}];"
