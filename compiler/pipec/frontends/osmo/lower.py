"""Lowering an OSMO workflow to the IR: a job per task, an IR group per group of several
tasks, files between tasks as dependencies, and group-level ordering as OSMO schedules it
(a group waits for every group any of its tasks reads from, reference §2.2)."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path as FsPath
from typing import Any

from pipec import ir
from pipec.errors import Diagnostics, Location
from pipec.frontends.osmo.model import DIALECT, OSMO_LAYOUT, Group, Task
from pipec.frontends.osmo.tokens import Scope, TokenError, has_tokens, parse
from pipec.frontends.osmo.values import code_ranges, duration_seconds, quantity_mib
from pipec.loader import Document, Path

MAX_LOCAL_FILE = 1024 * 1024  # files inlined from `localpath`, as the OSMO CLI inlines them
EVERYTHING = "*"  # an upstream task's inputs receive every file it uploaded
# OSMO bounds reschedules by its service configuration (max_retry_per_task); pipec by this.
RESCHEDULE_RETRIES = 3


class Lowering:
    def __init__(self, doc: Document, groups: list[Group], diags: Diagnostics, for_compile: bool,
                 profiles: frozenset[str] = frozenset()):
        self.doc = doc
        self.groups = groups
        self.diags = diags
        self.for_compile = for_compile
        self.profiles = profiles  # the machine profiles pipec.toml defines
        self.workflow: dict[str, Any] = doc.data["workflow"]
        self.tasks = {t.name: t for g in groups for t in g.tasks}

    def loc(self, path: Path) -> Location:
        return self.doc.locate(path)

    def word(self, text: Any, scope: Scope, path: Path) -> ir.Word:
        text = "" if text is None else str(text)
        if not has_tokens(text):
            return (ir.Text(text),) if text else ()
        try:
            return parse(text, scope)
        except TokenError as exc:
            self.diags.error(str(exc), self.loc(path))
            return (ir.Text(text),)

    # -----------------------------------------------------------------------------------
    def workflow_ir(self) -> ir.Workflow:
        jobs: list[ir.Job] = []
        deps: list[ir.Dependency] = []
        groups: list[ir.Group] = []
        exec_timeout = duration_seconds((self.workflow.get("timeout") or {}).get("exec_timeout"))
        for group in self.groups:
            peers = {t.name: t.id for t in group.tasks} if len(group.tasks) > 1 else {}
            for task in group.tasks:
                job, task_deps = self.job(task, peers, exec_timeout)
                jobs.append(job)
                deps.extend(task_deps)
            if len(group.tasks) > 1 and group.lead is not None:
                groups.append(ir.Group(
                    name=group.id, lead=group.lead.id, members=tuple(t.id for t in group.tasks),
                    barrier=bool(group.data.get("barrier", True)),
                    lead_decides=bool(group.data.get("ignoreNonleadStatus", True)),
                    location=self.loc(group.path + ("name",))))
        deps.extend(self.group_order(deps))
        self.warn_ignored()
        self.warn_unmapped_platforms()
        timeout = self.workflow.get("timeout") or {}
        if "queue_timeout" in timeout:
            self.diags.warning("queue_timeout is not enforced: Argo, GitHub Actions and Slurm have no limit on the "
                               "time a job waits for resources", self.loc(("workflow", "timeout", "queue_timeout")),
                               "see README, OSMO: known limits", code="PC201")
        return ir.Workflow(
            name=str(self.workflow["name"]), jobs=tuple(jobs), dependencies=tuple(deps), groups=tuple(groups),
            layout=OSMO_LAYOUT, dialect=DIALECT, source_file=self.doc.file, location=self.loc(("workflow", "name")))

    def warn_unmapped_platforms(self) -> None:
        """A platform is a name in an OSMO pool; here it is a machine profile of pipec.toml.
        Without one, the job runs wherever the engine puts it: said once per platform (a
        warning, not an error, so a workflow written for another site still compiles; with
        --strict it fails)."""
        for name, spec in (self.workflow.get("resources") or {}).items():
            platform = spec.get("platform")
            if platform is not None and str(platform) not in self.profiles:
                self.diags.warning(
                    f"platform '{platform}' of resource '{name}' is not a machine profile of pipec.toml: its jobs run "
                    "on whatever node the engine picks", self.loc(("workflow", "resources", name, "platform")),
                    f'map it: [profiles.{platform}] with partition = "..." (slurm), node_selector = {{...}} (argo), '
                    'runs_on = "..." (gha)', code="PC202")

    def warn_ignored(self) -> None:
        """Fields OSMO's service or cluster acts on that no target here expresses: each is
        named once, at its first use, so nobody expects it to take effect."""
        fields = {
            "privileged": "a privileged container", "hostNetwork": "the host's network",
            "volumeMounts": "host directories mounted into the container", "cacheSize": "the data cache size",
            "kpis": "KPI uploads", "backend": "the OSMO backend",
        }
        seen: set[str] = set()
        for group in self.groups:
            for task in group.tasks:
                for key, what in fields.items():
                    if key in task.data and key not in seen and task.data[key] not in (False, None, [], ""):
                        seen.add(key)
                        self.diags.warning(f"'{key}' ({what}) is not compiled by pipec: the task runs without it",
                                           self.doc.locate_key(task.path + (key,)),
                                           "see README, OSMO: fields pipec ignores", code="PC203")
        for name, spec in (self.workflow.get("resources") or {}).items():
            for key in ("nodesExcluded", "topology"):
                if spec.get(key) and key not in seen:
                    seen.add(key)
                    self.diags.warning(f"'{key}' of resource '{name}' is not compiled by pipec: jobs are placed "
                                       "without it", self.doc.locate_key(("workflow", "resources", name, key)),
                                       "see README, OSMO: fields pipec ignores", code="PC204")
        for key in ("labels", "pool", "backend"):
            if self.workflow.get(key):
                self.diags.note(f"'{key}' of the workflow is for the OSMO service; pipec does not use it",
                                self.doc.locate_key(("workflow", key)))

    def group_order(self, deps: list[ir.Dependency]) -> list[ir.Dependency]:
        """Every member of a group waits for every group any member reads from: an ordering
        dependency on the upstream group's lead where the member has none on that group."""
        group_of = {t.id: g for g in self.groups for t in g.tasks}
        sources: dict[str, set[str]] = {}  # job id -> upstream job ids it already depends on
        upstream_groups: dict[str, list[Group]] = {}
        for d in deps:
            sources.setdefault(d.target, set()).add(d.source)
            found = upstream_groups.setdefault(group_of[d.target].name, [])
            if group_of[d.source] not in found:
                found.append(group_of[d.source])
        extra = []
        for group in self.groups:
            for upstream in upstream_groups.get(group.name, []):
                lead = upstream.lead
                if lead is None:
                    continue
                for task in group.tasks:
                    have = sources.get(task.id, set())
                    if not any(t.id in have for t in upstream.tasks):
                        extra.append(ir.Dependency(lead.id, task.id, ir.DepKind.ORDER,
                                                   location=self.loc(group.path + ("name",))))
        return extra

    def job(self, task: Task, peers: dict[str, str], exec_timeout: int | None) -> tuple[ir.Job, list[ir.Dependency]]:
        data, path = task.data, task.path
        specs = data.get("inputs") or []
        scope = Scope(tuple(str(s["task"]) if "task" in s else None for s in specs), peers)
        words = [(w, path + ("command", i)) for i, w in enumerate(data.get("command") or [])]
        words += [(w, path + ("args", i)) for i, w in enumerate(data.get("args") or [])]
        command = ir.Command(ir.CommandKind.ARGV, tuple(self.word(w, scope, p) or (ir.Text(""),) for w, p in words))
        inputs: list[ir.Input] = []
        deps: list[ir.Dependency] = []
        for i, spec in enumerate(specs):
            loc = self.loc(path + ("inputs", i))
            regex = str(spec["regex"]) if spec.get("regex") is not None else None
            if "task" in spec:
                upstream = self.tasks.get(str(spec["task"]))
                if upstream is None:
                    continue  # reported by the checks
                inputs.append(ir.Input(str(i), keep_directories="full", regex=regex, location=loc))
                deps.append(ir.Dependency(upstream.id, task.id, ir.DepKind.FILES, EVERYTHING, str(i), loc))
            else:
                inputs.append(ir.Input(str(i), urls=(str(spec["url"]),), keep_directories="full", regex=regex,
                                       location=loc))
        env = []
        for name, value in (data.get("environment") or {}).items():
            text = _text(value)
            env.append(ir.EnvVar(str(name), text, self.loc(path + ("environment", name)),
                                 self.word(text, scope, path + ("environment", name)) if has_tokens(text) else ()))
        uploads = [ir.Upload(self.word(s["url"], scope, path + ("outputs", i, "url")),
                             regex=_opt(s.get("regex")), location=self.loc(path + ("outputs", i)))
                   for i, s in enumerate(data.get("outputs") or []) if "url" in s]
        for i, s in enumerate(data.get("checkpoint") or []):
            # OSMO makes a relative path absolute; a token makes it absolute already.
            text = str(s["path"])
            source = self.word(text if text.startswith(("/", "{{")) else "/" + text, scope, path + ("checkpoint", i, "path"))
            uploads.append(ir.Upload(self.word(s["url"], scope, path + ("checkpoint", i, "url")), source=source,
                                     regex=_opt(s.get("regex")), every_seconds=duration_seconds(s.get("frequency")),
                                     location=self.loc(path + ("checkpoint", i))))
        return ir.Job(
            id=task.id, name=task.name, image=str(data["image"]), command=command, env=tuple(env),
            resources=self.resources(task), timeout_seconds=exec_timeout, inputs=tuple(inputs),
            retries=RESCHEDULE_RETRIES if (data.get("exitActions") and any(
                str(k).lower() == "reschedule" for k in data["exitActions"])) else 0,
            group=task.group.id if len(task.group.tasks) > 1 else None, on_error=ir.OnError.STOP_NEXT,
            files=tuple(self.files(task, scope)), secrets=tuple(self.secrets(task)), uploads=tuple(uploads),
            exit_codes=self.exit_codes(task), location=self.loc(path + ("name",)),
        ), deps

    def resources(self, task: Task) -> ir.Resources:
        name = str(task.data.get("resource", "default"))
        spec = (self.workflow.get("resources") or {}).get(name) or {}
        cpu = spec.get("cpu")
        return ir.Resources(
            cpu=float(cpu) if cpu else None,
            memory_mb=quantity_mib(spec["memory"]) if spec.get("memory") is not None else None,
            gpus=int(spec.get("gpu") or 0),
            storage_mb=quantity_mib(spec["storage"]) if spec.get("storage") is not None else None,
            profile=str(spec["platform"]) if spec.get("platform") is not None else None,
        )

    def files(self, task: Task, scope: Scope) -> list[ir.File]:
        out = []
        for i, spec in enumerate(task.data.get("files") or []):
            fpath = task.path + ("files", i)
            target = "/" + str(spec.get("path", "")).lstrip("/")
            is_b64 = bool(spec.get("base64", False))
            if "localpath" in spec:
                text = self.local_file(str(spec["localpath"]), fpath + ("localpath",))
                if text is None:
                    continue
                # Inlined as contents by the CLI, it has its tokens replaced by the service too.
                out.append(ir.File(target, self.word(text, scope, fpath + ("localpath",)), False, self.loc(fpath)))
                continue
            contents = _text(spec.get("contents"))
            if is_b64:
                try:
                    base64.b64decode(contents.encode("ascii"), validate=True)
                except (binascii.Error, UnicodeEncodeError, ValueError):
                    self.diags.error("the contents are marked base64 but are not valid base64",
                                     self.loc(fpath + ("contents",)))
                out.append(ir.File(target, (ir.Text(contents),), True, self.loc(fpath)))
            else:
                out.append(ir.File(target, self.word(contents, scope, fpath + ("contents",)), False, self.loc(fpath)))
        return out

    def local_file(self, name: str, path: Path) -> str | None:
        """A `localpath` file's text, read relative to the spec as the OSMO CLI reads it."""
        loc = self.loc(path)
        if self.doc.file == "<stdin>":
            self.diags.error(f"localpath '{name}' cannot be read relative to standard input", loc,
                             "compile the file from its own folder")
            return None
        source = FsPath(self.doc.file).parent / name
        report = self.diags.error if self.for_compile else self.diags.warning
        try:
            size = source.stat().st_size
            if not source.is_file():
                report(f"localpath '{name}' is not a file", loc)
                return None
            if size > MAX_LOCAL_FILE:
                self.diags.error(f"localpath '{name}' is {size} bytes, more than the limit of {MAX_LOCAL_FILE}", loc,
                                 "pass large files as a 'url:' input")
                return None
            raw = source.read_bytes()
        except OSError as exc:
            report(f"localpath '{name}' cannot be read: {exc.strerror}", loc,
                   "it is read relative to the workflow file, when compiling")
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            report(f"localpath '{name}' is not UTF-8 text", loc, "give binary files as base64 'contents'")
            return None

    def secrets(self, task: Task) -> list[ir.Secret]:
        out = []
        for name, spec in (task.data.get("credentials") or {}).items():
            loc = self.loc(task.path + ("credentials", name))
            if isinstance(spec, dict):
                out.append(ir.Secret(str(name), tuple((str(k), str(v)) for k, v in spec.items()), location=loc))
            else:
                out.append(ir.Secret(str(name), mount="/" + str(spec).lstrip("/"), location=loc))
        return out

    def exit_codes(self, task: Task) -> ir.ExitCodes | None:
        actions = task.data.get("exitActions") or {}
        if not actions:
            return None
        found: dict[str, tuple[tuple[int, int], ...]] = {}
        for key, value in actions.items():
            found[str(key).lower()] = code_ranges(value) or ()
        return ir.ExitCodes(found.get("complete", ()), found.get("fail", ()), found.get("reschedule", ()),
                            self.loc(task.path + ("exitActions",)))


def _text(value: Any) -> str:
    """A scalar as OSMO's pydantic models turn it into a string (booleans as Python writes them)."""
    if value is None:
        return ""
    return str(value)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
