"""DAG tasks: what pipec knows of a task before it becomes hera's model, and the lifecycle
hook that stops the whole workflow when a stop-all task fails ([argo] stop_all = "stop")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hera.workflows import models as m

STOP_TEMPLATE = "pipec-stop-run"
# Argo's failFast starts no new task only once the running ones have ended; stopping the
# workflow (what `argo stop` does) ends the running pods too.
STOP_MANIFEST = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: '{{workflow.name}}'
spec:
  shutdown: Stop
"""


@dataclass
class Task:
    """One DAG task before it becomes a model."""

    name: str
    template: str
    depends: str | None = None
    dependencies: list[str] | None = None  # the older form, which (unlike depends) allows continueOn
    args: dict[str, str] | None = None
    with_items: list[Any] | None = None
    with_param: str | None = None
    with_sequence: int | None = None
    continue_failed: bool = False  # continueOn failed (a wrapper DAG still succeeds, so its outputs exist)
    continue_error: bool = False  # continueOn error too (a group member whose status does not count)
    stop_run: bool = False  # stop-all with [argo] stop_all = "stop": a failure stops the workflow


def task_model(t: Task) -> m.DAGTask:
    args = None
    if t.args:
        args = m.Arguments(parameters=[m.Parameter(name=k, value=v) for k, v in t.args.items()])
    return m.DAGTask(
        name=t.name, template=t.template, depends=t.depends, dependencies=t.dependencies, arguments=args,
        with_items=[m.Item(root=i) for i in t.with_items] if t.with_items is not None else None,
        with_param=t.with_param,
        with_sequence=m.Sequence(count=str(t.with_sequence)) if t.with_sequence is not None else None,
        continue_on=m.ContinueOn(failed=True if t.continue_failed else None, error=True if t.continue_error else None)
        if t.continue_failed or t.continue_error else None,
        hooks={"pipec-stop": m.LifecycleHook(expression=f'tasks["{t.name}"].status == "Failed"',
                                             template=STOP_TEMPLATE)} if t.stop_run else None)


def stop_template() -> m.Template:
    """The template the stop hook runs: it patches the workflow with `shutdown: Stop`."""
    return m.Template(name=STOP_TEMPLATE, resource=m.ResourceTemplate(action="patch", merge_strategy="merge",
                                                                      manifest=STOP_MANIFEST))
