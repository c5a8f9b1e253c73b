"""The shape the runnable front end works on: the `dag:` graph and its sub-graphs (parallel
and conditional branches, map and loop branches), each step with its internal dotted name
(`outer.branch1.inner.branch2.step`, as runnable names it) and where it is in the document.

runnable adds a `success` and a `fail` step to every graph (reference §2), so `next: success`
and `next: fail` always resolve; a step the author declared under one of those names is that
terminal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from pipec.loader import Document, Path

DIALECT = "runnable"
TERMINALS = ("success", "fail")
COMPOSITES = ("parallel", "map", "conditional", "loop")
BRANCHES_KEY = {"parallel": "branches", "conditional": "branches", "map": "branch", "loop": "branch"}


@dataclass
class Graph:
    data: dict[str, Any]
    path: Path
    prefix: str  # internal name of what it belongs to, with a trailing dot ("" for the dag)
    owner: "Step | None" = None  # the composite step it is a branch of
    branch: str | None = None  # its branch name (map and loop: None)
    steps: dict[str, "Step"] = field(default_factory=dict)

    @property
    def start_at(self) -> str:
        return str(self.data.get("start_at", ""))

    def where(self) -> str:
        """How messages name the graph."""
        return "the dag" if self.owner is None else f"branch '{self.prefix.rstrip('.')}'"


@dataclass
class Step:
    name: str
    data: dict[str, Any]
    path: Path
    graph: Graph
    branches: dict[str, Graph] = field(default_factory=dict)  # map and loop: {"branch": graph}

    @property
    def type(self) -> str:
        kind = self.data.get("type")
        if self.name in TERMINALS and kind in (None, *TERMINALS):
            return self.name
        return str(kind)

    @property
    def internal(self) -> str:
        return self.graph.prefix + self.name

    @property
    def next(self) -> str | None:
        value = self.data.get("next")
        return None if value is None else str(value)

    @property
    def on_failure(self) -> str | None:
        value = self.data.get("on_failure")
        return None if value is None else str(value)


def collect(doc: Document) -> Graph:
    """The dag and every sub-graph, built from a document the schema accepted."""
    return _graph(doc.data["dag"], ("dag",), "", None, None)


def _graph(data: dict[str, Any], path: Path, prefix: str, owner: Step | None, branch: str | None) -> Graph:
    graph = Graph(data, path, prefix, owner, branch)
    for name, sdata in (data.get("steps") or {}).items():
        step = Step(str(name), sdata if isinstance(sdata, dict) else {}, path + ("steps", name), graph)
        graph.steps[step.name] = step
        key = BRANCHES_KEY.get(step.type)
        if key == "branches":
            for bname, bdata in (step.data.get("branches") or {}).items():
                if isinstance(bdata, dict):
                    step.branches[str(bname)] = _graph(bdata, step.path + ("branches", bname),
                                                       f"{step.internal}.{bname}.", step, str(bname))
        elif key == "branch" and isinstance(step.data.get("branch"), dict):
            step.branches["branch"] = _graph(step.data["branch"], step.path + ("branch",), f"{step.internal}.", step, None)
    return graph


def walk(graph: Graph) -> Iterator[Step]:
    """Every step of the graph and of its sub-graphs, depth first in document order."""
    for step in graph.steps.values():
        yield step
        for sub in step.branches.values():
            yield from walk(sub)


def graphs(graph: Graph) -> Iterator[Graph]:
    yield graph
    for step in graph.steps.values():
        for sub in step.branches.values():
            yield from graphs(sub)
