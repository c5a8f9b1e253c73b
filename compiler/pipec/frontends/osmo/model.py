"""The shape the OSMO front end works on: the workflow's groups, each with its tasks and
where they are in the document. A flat `tasks:` workflow is a list of one-task groups named
`<task>-group`, as OSMO wraps them (reference §1.1)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pipec import ir
from pipec.loader import Document, Path
from pipec.names import safe_id

DIALECT = "osmo"
NAME = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_-]*[a-zA-Z0-9])?$")
MAX_NAME = 64
# Where a task finds its files in its container (reference §3); OSMO has no parameters file,
# the config area only holds what pipec's runtime writes.
OSMO_LAYOUT = ir.Layout(inputs="/osmo/data/input", outputs="/osmo/data/output", config="/osmo/data/config")


@dataclass
class Task:
    name: str
    data: dict[str, Any]
    path: Path
    group: "Group"

    @property
    def id(self) -> str:
        return safe_id(self.name)


@dataclass
class Group:
    name: str
    data: dict[str, Any]
    path: Path
    implicit: bool  # a task of a flat `tasks:` workflow, wrapped
    tasks: list[Task] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The group's engine-safe name (back ends name files and objects after it)."""
        return safe_id(self.name)

    @property
    def lead(self) -> Task | None:
        leads = [t for t in self.tasks if t.data.get("lead") is True]
        if len(self.tasks) == 1:
            return self.tasks[0]
        return leads[0] if len(leads) == 1 else None


def normalized(name: str) -> str:
    """How OSMO compares task and group names: case-insensitively, `_` the same as `-`."""
    return name.lower().replace("_", "-")


def collect(doc: Document) -> list[Group]:
    workflow = doc.data["workflow"]
    groups: list[Group] = []
    if workflow.get("groups"):
        for gi, gdata in enumerate(workflow["groups"]):
            group = Group(str(gdata["name"]), gdata, ("workflow", "groups", gi), False)
            for ti, tdata in enumerate(gdata["tasks"]):
                group.tasks.append(Task(str(tdata["name"]), tdata, group.path + ("tasks", ti), group))
            groups.append(group)
    else:
        for ti, tdata in enumerate(workflow.get("tasks") or []):
            group = Group(f"{tdata['name']}-group", {}, ("workflow", "tasks", ti), True)
            group.tasks.append(Task(str(tdata["name"]), tdata, group.path, group))
            groups.append(group)
    return groups
