"""The validation rules of the OSMO service that need no live service (reference §4), each a
located error, all reported together. What needs the service (pools, platforms, credentials
existing) is resolved through pipec.toml by the lowering."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from pipec.errors import Diagnostics
from pipec.frontends.osmo.model import MAX_NAME, NAME, Group, Task, normalized
from pipec.frontends.osmo.values import code_ranges, duration_seconds, quantity_mib
from pipec.loader import Document
from pipec.schema import did_you_mean

MAX_LABELS = 16
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check(doc: Document, groups: list[Group], diags: Diagnostics) -> None:
    workflow = doc.data["workflow"]
    if workflow.get("tasks") and workflow.get("groups"):
        diags.error("a workflow has either 'tasks' or 'groups', not both", doc.locate_key(("workflow", "groups")),
                    "put the flat tasks into groups of their own, or the groups' tasks under 'tasks'")
    elif not workflow.get("tasks") and not workflow.get("groups"):
        diags.error("the workflow needs at least one task or one group", doc.locate_key(("workflow",)))
    _names(doc, groups, diags)
    _leads(doc, groups, diags)
    _inputs(doc, groups, diags)
    for group in groups:
        for task in group.tasks:
            _task(doc, task, diags)
    _resources(doc, groups, diags)
    _labels(doc, diags)
    _timeouts(doc, diags)


def _names(doc: Document, groups: list[Group], diags: Diagnostics) -> None:
    seen: dict[str, tuple[str, str, int]] = {}  # normalized -> (kind, name, line)

    def claim(kind: str, name: str, path: tuple[Any, ...]) -> None:
        loc = doc.locate(path + ("name",))
        if not NAME.match(name) or len(name) > MAX_NAME:
            return  # the schema reported it
        key = normalized(name)
        if key == "osmo-ctrl":
            diags.error(f"the {kind} name '{name}' is reserved by OSMO", loc)
            return
        if key in seen:
            other_kind, other, line = seen[key]
            same = "" if other == name else " (names are compared ignoring case, with '_' the same as '-')"
            diags.error(f"{kind} name '{name}' is already used by {other_kind} '{other}' at line {line}{same}", loc)
            return
        seen[key] = (kind, name, loc.line)

    for group in groups:
        if not group.implicit:
            claim("group", group.name, group.path)
        for task in group.tasks:
            claim("task", task.name, task.path)


def _leads(doc: Document, groups: list[Group], diags: Diagnostics) -> None:
    for group in groups:
        if group.implicit or len(group.tasks) < 2:
            continue
        leads = [t for t in group.tasks if t.data.get("lead") is True]
        if not leads:
            diags.error(f"group '{group.name}' has no lead task", doc.locate(group.path + ("name",)),
                        "mark exactly one task 'lead: true': the group ends when its lead ends")
        for extra in leads[1:]:
            diags.error(f"group '{group.name}' has several lead tasks ('{leads[0].name}' and '{extra.name}')",
                        doc.locate(extra.path + ("lead",)), "exactly one task of a group is its lead")


def _inputs(doc: Document, groups: list[Group], diags: Diagnostics) -> None:
    """A `task:` input names a task of a group defined earlier: no cycles, no input from the
    task's own group (reference §2.2)."""
    where: dict[str, tuple[int, Task]] = {}
    for index, group in enumerate(groups):
        for task in group.tasks:
            where.setdefault(task.name, (index, task))
    for index, group in enumerate(groups):
        for task in group.tasks:
            for i, spec in enumerate(task.data.get("inputs") or []):
                if "task" not in spec:
                    continue
                path = task.path + ("inputs", i, "task")
                loc = doc.locate(path)
                name = str(spec["task"])
                if ":" in name:
                    diags.error(f"input '{name}' reads a task of an earlier OSMO workflow run ('<workflow_id>:<task>'), "
                                "which a compiled workflow cannot reach", loc,
                                "pass the files as a 'url:' input instead")
                    continue
                found = where.get(name)
                if found is None:
                    guess = did_you_mean(name, list(where))
                    diags.error(f"task input '{name}' does not exist", loc,
                                f"did you mean '{guess}'?" if guess else "name a task of this workflow")
                    continue
                up_index, upstream = found
                if upstream.group is group:
                    what = "itself" if upstream is task else f"'{upstream.name}' of its own group"
                    diags.error(f"task '{task.name}' reads {what}: a group's tasks start together, so none can "
                                "wait for another", loc, "move the upstream task to a group defined earlier")
                elif up_index > index:
                    diags.error(f"'{task.name}' reads '{name}', whose group '{upstream.group.name}' is defined after "
                                f"its own group '{group.name}'", loc,
                                "OSMO runs groups in the order given: define the upstream group first "
                                "(this also rules out cycles)")


def _task(doc: Document, task: Task, diags: Diagnostics) -> None:
    data = task.data
    for key in ("inputs", "outputs", "checkpoint"):
        for i, spec in enumerate(data.get(key) or []):
            if isinstance(spec, dict) and spec.get("regex") is not None:
                try:
                    re.compile(str(spec["regex"]))
                except (re.error, RecursionError, OverflowError) as exc:
                    diags.error(f"regex {str(spec['regex'])!r} does not compile: {exc}",
                                doc.locate(task.path + (key, i, "regex")))
    seen: dict[str, int] = {}
    for i, spec in enumerate(data.get("files") or []):
        path = str(spec.get("path", ""))
        loc = doc.locate(task.path + ("files", i, "path"))
        if not path.strip():
            diags.error("a file's path cannot be empty", loc)
        elif PurePosixPath("/" + path.lstrip("/")).is_relative_to("/osmo"):
            diags.error(f"file path '{path}' is under /osmo, which OSMO keeps for itself", loc)
        elif path in seen:
            diags.error(f"task '{task.name}' writes file '{path}' twice (first at line {seen[path]})", loc)
        else:
            seen[path] = loc.line
        if "contents" in spec and "localpath" in spec:
            diags.error("a file has either 'contents' or 'localpath', not both", doc.locate_key(task.path + ("files", i, "localpath")))
        elif "contents" not in spec and "localpath" not in spec:
            diags.error("a file needs 'contents' or 'localpath'", doc.locate(task.path + ("files", i)))
    for key, value in (data.get("exitActions") or {}).items():
        if code_ranges(value) is None:
            diags.error(f"exit codes {str(value)!r} of {key} are not ranges like '0,1-10,16'",
                        doc.locate(task.path + ("exitActions", key)))
    actions = {str(k).lower() for k in (data.get("exitActions") or {})}
    if len(actions) < len(data.get("exitActions") or {}):
        diags.error("an exit action is given twice (the keys are compared ignoring case)",
                    doc.locate_key(task.path + ("exitActions",)))
    for i, spec in enumerate(data.get("checkpoint") or []):
        if duration_seconds(spec.get("frequency")) is None:
            diags.error(f"checkpoint frequency {spec.get('frequency')!r} is not a duration like '30m', '10s' or "
                        "a number of seconds", doc.locate(task.path + ("checkpoint", i, "frequency")))
    for i, mount in enumerate(data.get("volumeMounts") or []):
        src, sep, dest = str(mount).partition(":")
        if not src or (sep and not dest) or not src.startswith("/") or (dest and not dest.startswith("/")):
            diags.error(f"host mount '{mount}' is not '/source' or '/source:/destination'",
                        doc.locate(task.path + ("volumeMounts", i)))


def _resources(doc: Document, groups: list[Group], diags: Diagnostics) -> None:
    workflow = doc.data["workflow"]
    resources = workflow.get("resources") or {}
    for name, spec in resources.items():
        for key in ("memory", "storage"):
            if spec.get(key) is not None and quantity_mib(spec[key]) is None:
                diags.error(f"{key} {str(spec[key])!r} of resource '{name}' is not a quantity like '16Gi' "
                            "(units Ki, Mi, Gi, Ti; decimal units like 'GB' are refused)",
                            doc.locate(("workflow", "resources", name, key)))
    for group in groups:
        for task in group.tasks:
            name = task.data.get("resource")
            if name is None and "default" not in resources and "resources" in workflow:
                diags.error(f"task '{task.name}' names no resource and the workflow has no 'default' resource",
                            doc.locate(task.path + ("name",)), "add 'resource: <name>' or a 'default' resource")
            elif name is not None and str(name) not in resources and (str(name) != "default" or resources):
                guess = did_you_mean(str(name), list(resources))
                diags.error(f"task '{task.name}' requests undefined resource '{name}'",
                            doc.locate(task.path + ("resource",)),
                            f"did you mean '{guess}'?" if guess else "define it under workflow.resources")


def _labels(doc: Document, diags: Diagnostics) -> None:
    labels = doc.data["workflow"].get("labels") or {}
    if len(labels) > MAX_LABELS:
        diags.error(f"the workflow has {len(labels)} labels; OSMO allows at most {MAX_LABELS}",
                    doc.locate_key(("workflow", "labels")))
    for key, value in labels.items():
        loc = doc.locate_key(("workflow", "labels", key))
        prefix, slash, name = str(key).rpartition("/")
        if (not name or len(name) > 63 or not _LABEL_NAME.match(name)
                or (slash and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)))):
            diags.error(f"label key '{key}' is not a Kubernetes label name", loc,
                        "an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.', "
                        "starting and ending with a letter or digit")
        text = "" if value is None else str(value)
        if not text or len(text) > 63 or not _LABEL_NAME.match(text):
            diags.error(f"label '{key}' has value {text!r}, which is not a Kubernetes label value",
                        doc.locate(("workflow", "labels", key)),
                        "a non-empty value of up to 63 letters, digits, '-', '_' or '.'")


def _timeouts(doc: Document, diags: Diagnostics) -> None:
    for key, value in (doc.data["workflow"].get("timeout") or {}).items():
        if duration_seconds(value) is None:
            diags.error(f"{key} {value!r} is not a duration like '2h', '30m' or a number of seconds "
                        "(units cannot be mixed)", doc.locate(("workflow", "timeout", key)))
