"""runnable's graph rules (`Graph.check_graph`, `BaseNode.validate_name`; reference §2), each a
located error: step names, where `next` and `on_failure` lead, `start_at`, the terminals,
cycles and graphs that never end. Every graph and sub-graph is checked on its own, as runnable
checks each branch."""

from __future__ import annotations

from pipec.errors import Diagnostics
from pipec.frontends.runnable.model import TERMINALS, Graph, Step, graphs
from pipec.loader import Document
from pipec.schema import did_you_mean


def check(doc: Document, dag: Graph, diags: Diagnostics) -> None:
    for graph in graphs(dag):
        _graph(doc, graph, diags)


def _named(step: Step) -> str:
    return f"step '{step.internal}'"


def _graph(doc: Document, graph: Graph, diags: Diagnostics) -> None:
    names = list(graph.steps)
    targets = names + [t for t in TERMINALS if t not in graph.steps]
    for step in graph.steps.values():
        for bad in ".%":
            if bad in step.name:
                diags.error(f"step name '{step.name}' in {graph.where()} contains '{bad}'", doc.locate_key(step.path),
                            "runnable joins step names with '.' into internal names and encodes spaces as '%'; "
                            "rename the step")
                break
        if step.type in TERMINALS and step.name != step.type:
            diags.error(f"{_named(step)} is a {step.type} step; runnable adds the one {step.type} step of each graph "
                        f"itself, named '{step.type}'", doc.locate(step.path + ("type",)),
                        f"end the steps that lead here with 'next: {step.type}' and remove this step")
        for n, ret in enumerate(step.data.get("returns") or [] if step.type == "task" else []):
            name = ret.get("name") if isinstance(ret, dict) else None
            if isinstance(name, str) and not name.isidentifier():
                # runnable accepts it, but no function takes it as an argument and no shell exports it.
                diags.warning(f"{_named(step)}: return name '{name}' is not a Python identifier, so no later "
                              "python task can take it as an argument and no shell task can export it",
                              doc.locate(step.path + ("returns", n, "name")), code="PC307")
        for key in ("next", "on_failure"):
            target = step.data.get(key)
            if target is None or step.type in TERMINALS:
                continue
            if str(target) not in targets:
                guess = did_you_mean(str(target), targets)
                diags.error(f"{_named(step)}: {key} '{target}' is not a step of {graph.where()}",
                            doc.locate(step.path + (key,)),
                            f"did you mean '{guess}'?" if guess else f"steps: {', '.join(targets)}")
    start = graph.data.get("start_at")
    if start is not None and str(start) not in targets:
        guess = did_you_mean(str(start), targets)
        diags.error(f"start_at '{start}' is not a step of {graph.where()}", doc.locate(graph.path + ("start_at",)),
                    f"did you mean '{guess}'?" if guess else f"steps: {', '.join(targets) or 'none'}")
    _cycles(doc, graph, diags)


def _cycles(doc: Document, graph: Graph, diags: Diagnostics) -> None:
    """A step that can come back to itself along `next` and `on_failure` (runnable: "The DAG
    is cyclic or does not reach an end state"); reported once per cycle, at its first step."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    reported: set[frozenset[str]] = set()

    def successors(name: str) -> list[str]:
        step = graph.steps.get(name)
        if step is None or step.type in TERMINALS:
            return []
        return [t for t in (step.next, step.on_failure) if t is not None and t in graph.steps]

    for root in graph.steps:
        if root in state:
            continue
        # Iterative depth-first search: a chain of thousands of steps must not hit Python's
        # recursion limit.
        trail = [root]
        state[root] = 1
        stack = [iter(successors(root))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                state[trail.pop()] = 2
                continue
            if state.get(nxt) == 1:
                cycle = trail[trail.index(nxt):]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    diags.error(f"{graph.where()} is cyclic: {' -> '.join(cycle + [nxt])}; it never reaches success "
                                "or fail", doc.locate_key(graph.steps[nxt].path),
                                "runnable pipelines are acyclic; a repeated part is a 'loop' step")
            elif nxt not in state:
                state[nxt] = 1
                trail.append(nxt)
                stack.append(iter(successors(nxt)))
