"""The intermediate representation: one typed, frozen model every front end produces and
every back end consumes. Nothing here knows which dialect a workflow came from.

A `Workflow` is a DAG of `Job`s joined by `Dependency` edges. A job may fan out into several
executions (`Sweep`), may belong to a `Group` of jobs that start together, and carries its own
failure policy. Values are JSON-like (str, int, float, bool, None, lists of those).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property

from pipec.errors import Location
from pipec.ir.command import ArgSpec, Command, Word
from pipec.ir.layout import DEFAULT_LAYOUT, Layout
from pipec.ir.sweep import Sweep, Value


class OnError(str, Enum):
    """What a failed job does to the rest of the run."""

    STOP_ALL = "stop-all"  # fail the whole run, cancel everything still running
    STOP_NEXT = "stop-next"  # only this job's downstream never runs
    CONTINUE = "continue"  # downstream runs if at least one execution succeeded
    RETRY = "retry"  # rerun the job, then behave like stop-all


class JobKind(str, Enum):
    EXECUTION = "execution"  # runs a command in an image
    DEPLOYMENT = "deployment"  # deploys files to an endpoint with the site's deploy command
    STUB = "stub"  # does nothing; keeps ordering (runnable `stub`)


class DepKind(str, Enum):
    """What a dependency carries besides ordering."""

    ORDER = "order"  # ordering only
    FILES = "files"  # upstream files matching `source_key` (a glob) -> input slot `target_key`
    INPUT_FILES = "input-files"  # upstream *input* slots matching `source_key` -> slot `target_key`
    PARAMETER = "parameter"  # upstream parameter value -> parameter (resolved at compile time)
    ENV = "environment-variable"  # upstream env var value -> env var (resolved at compile time)
    METADATA = "metadata"  # key of the upstream's printed JSON metadata -> parameter, at run time
    DEPLOYMENT = "deployment"  # fact about an upstream deployment (id, version_id) -> parameter
    DEPLOY_FILE = "deploy-file"  # upstream files matching glob -> deployment file `endpoint.file`


RUNTIME_DEP_KINDS = frozenset({DepKind.METADATA, DepKind.DEPLOYMENT})


@dataclass(frozen=True)
class Dependency:
    source: str  # job id
    target: str  # job id
    kind: DepKind
    source_key: str = ""
    target_key: str = ""
    location: Location | None = None
    label: str | None = None  # how plans and graphs name what it carries, when not its keys (a dialect's own data)


@dataclass(frozen=True)
class Resources:
    cpu: float | None = None  # requested cores
    cpu_limit: float | None = None
    memory_mb: int | None = None  # requested MiB
    memory_limit_mb: int | None = None
    gpus: int = 0
    gpu_type: str | None = None
    storage_mb: int | None = None
    profile: str | None = None  # a named machine profile (pipec.toml [profiles] gives what it means)
    devices: tuple[tuple[str, float], ...] = ()  # raw device requests, e.g. ("nvidia.com/gpu", 1)


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "string"  # string | integer | float | flag
    value: Value = None  # resolved default, as parameters.json shows it; None = unset
    args: ArgSpec | None = None  # how it appears on a command line (None: only in parameters.json)
    location: Location | None = None
    choices: tuple[Value, ...] = ()  # the values allowed, when the author listed them

    @property
    def multiple(self) -> bool:
        """Whether the parameter takes several values (its words repeat or its items join)."""
        return self.args is not None and self.args.multiple != ""


@dataclass(frozen=True)
class Input:
    """An input slot: a directory the job finds files in."""

    name: str
    urls: tuple[str, ...] = ()  # fetched before the job starts
    optional: bool = False
    filename: str | None = None
    keep_directories: str = "none"  # none | full | suffix
    regex: str | None = None  # only files whose path (below the slot) matches this Python regex (re.search)
    location: Location | None = None


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str  # the text as written (what plans show)
    location: Location | None = None
    word: Word = ()  # when set, the value is built of these parts for each execution (paths, hosts, run id)


@dataclass(frozen=True)
class File:
    """A file written into place before the command runs (OSMO `files:`)."""

    path: str  # absolute, where the command finds it
    contents: Word  # the text, tokens as parts
    base64: bool = False  # the text is base64: the file holds its decoded bytes
    location: Location | None = None


@dataclass(frozen=True)
class Secret:
    """A credential the job reads, kept by the engine's own secret store: some of its keys as
    environment variables, or every key as a file in a directory."""

    name: str
    env: tuple[tuple[str, str], ...] = ()  # (variable, key)
    mount: str | None = None  # directory holding one file per key
    location: Location | None = None


@dataclass(frozen=True)
class Upload:
    """Files copied to a storage URL: an execution's outputs when it succeeds, or a directory
    every `every_seconds` while it runs and once more when it ends (a checkpoint)."""

    url: Word
    source: Word = ()  # (): the outputs area; else a directory (absolute once rendered)
    regex: str | None = None
    every_seconds: int | None = None
    location: Location | None = None


@dataclass(frozen=True)
class ExitCodes:
    """What an exit status means (OSMO `exitActions`): listed statuses override the default
    (0 succeeds, anything else fails). `reschedule` statuses run the execution again, up to
    the job's `retries`."""

    complete: tuple[tuple[int, int], ...] = ()  # inclusive ranges
    fail: tuple[tuple[int, int], ...] = ()
    reschedule: tuple[tuple[int, int], ...] = ()
    location: Location | None = None


@dataclass(frozen=True)
class Group:
    """Jobs that start together, reach each other by host name and end with their lead.

    A member job with a sweep contributes every execution; the group's lead execution is
    execution 0 of the lead job.
    """

    name: str
    lead: str  # job id
    members: tuple[str, ...]  # job ids, lead included
    location: Location | None = None
    barrier: bool = False  # members start their commands only once every member is up
    lead_decides: bool = True  # the lead's status is the group's; False: any member's failure fails it


@dataclass(frozen=True)
class Condition:
    """Run a job only when an upstream value equals one of `values` (runnable `conditional`)."""

    source: str  # job id
    key: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Endpoint:
    """A server a deployment runs: an image whose shell command serves HTTP on `port`, the
    resources it asks for, and files put in place (relative to its working directory) before
    the command starts. A target that runs servers itself reads this; the others hand the
    deployment to the site's deploy command."""

    name: str
    image: str
    command: str  # shell source, run by `sh -c` in the image's working directory
    port: int = 8000
    resources: Resources = field(default_factory=Resources)  # storage_mb: the ephemeral storage it requests
    storage_limit_mb: int | None = None  # the ephemeral storage it may use at most
    files: tuple[tuple[str, str], ...] = ()  # (file name, path relative to the working directory)
    node_selector: tuple[tuple[str, str], ...] = ()  # node label -> value
    tolerations: tuple[tuple[tuple[str, str], ...], ...] = ()  # each a Kubernetes toleration's (field, value)s
    location: Location | None = None


@dataclass(frozen=True)
class Deployment:
    """What a deployment job deploys: a named deployment of endpoints and their files."""

    name: str  # deployment name/target
    endpoints: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # (endpoint.file, path inside the endpoint)
    servers: tuple[Endpoint, ...] = ()  # the endpoints the dialect defines, as servers (by name, no repeats)


@dataclass(frozen=True)
class Job:
    id: str  # engine-safe, unique in the workflow
    name: str  # as the author wrote it
    kind: JobKind = JobKind.EXECUTION
    image: str | None = None
    command: Command = field(default_factory=Command)
    env: tuple[EnvVar, ...] = ()
    resources: Resources = field(default_factory=Resources)
    timeout_seconds: int | None = None
    retries: int = 0
    inputs: tuple[Input, ...] = ()
    params: tuple[Param, ...] = ()
    sweep: Sweep | None = None
    group: str | None = None  # group name
    on_error: OnError = OnError.STOP_ALL
    condition: Condition | None = None
    deployment: Deployment | None = None
    files: tuple[File, ...] = ()
    secrets: tuple[Secret, ...] = ()
    uploads: tuple[Upload, ...] = ()
    exit_codes: ExitCodes | None = None
    step: str | None = None  # the dialect's reusable unit this job instantiates (names templates)
    location: Location | None = None

    @property
    def executions(self) -> int:
        return self.sweep.size if self.sweep is not None else 1

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def input(self, name: str) -> Input | None:
        for i in self.inputs:
            if i.name == name:
                return i
        return None


@dataclass(frozen=True)
class PipelineParam:
    """A run-level parameter, overridable at submit time, feeding job parameters."""

    name: str
    value: Value = None
    targets: tuple[tuple[str, str], ...] = ()  # (job id, parameter name)
    description: str | None = None
    location: Location | None = None


@dataclass(frozen=True)
class Trigger:
    cron: str  # five fields
    timezone: str | None = None  # IANA name; None: the engine's own (UTC on Argo and GitHub)
    location: Location | None = None


@dataclass(frozen=True)
class Workflow:
    name: str
    jobs: tuple[Job, ...]  # topologically ordered after the `order` pass
    dependencies: tuple[Dependency, ...] = ()
    params: tuple[PipelineParam, ...] = ()
    groups: tuple[Group, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    layout: Layout = DEFAULT_LAYOUT
    dialect: str = ""
    source_file: str = ""
    location: Location | None = None

    # Indexes are cached on first use (frozen dataclasses allow cached_property), so back ends
    # stay linear on workflows with thousands of jobs.
    @cached_property
    def _jobs_by_id(self) -> dict[str, Job]:
        return {j.id: j for j in self.jobs}

    @cached_property
    def _incoming(self) -> dict[str, tuple[Dependency, ...]]:
        found: dict[str, list[Dependency]] = {}
        for d in self.dependencies:
            found.setdefault(d.target, []).append(d)
        return {k: tuple(v) for k, v in found.items()}

    def job(self, job_id: str) -> Job:
        return self._jobs_by_id[job_id]

    def incoming(self, job_id: str) -> tuple[Dependency, ...]:
        return self._incoming.get(job_id, ())

    def upstream(self, job_id: str) -> tuple[str, ...]:
        """Job ids this job waits for, in first-seen order, without repeats."""
        return tuple(dict.fromkeys(d.source for d in self.incoming(job_id)))

