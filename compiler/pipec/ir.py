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
from typing import Any, Iterator

from pipec.errors import Location

Value = Any  # JSON-like scalar or list of scalars


class OnError(str, Enum):
    """What a failed job does to the rest of the run (Valohai's node `on-error`)."""

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


@dataclass(frozen=True)
class Resources:
    cpu: float | None = None  # requested cores
    cpu_limit: float | None = None
    memory_mb: int | None = None  # requested MiB
    memory_limit_mb: int | None = None
    gpus: int = 0
    gpu_type: str | None = None
    storage_mb: int | None = None
    profile: str | None = None  # a named machine profile (Valohai environment slug, OSMO resource)
    devices: tuple[tuple[str, float], ...] = ()  # raw device requests, e.g. ("nvidia.com/gpu", 1)


@dataclass(frozen=True)
class CliSpec:
    """How a parameter becomes command-line tokens (Valohai's pass-as rules)."""

    pass_as: str | None = None
    pass_true_as: str | None = None
    pass_false_as: str | None = None
    multiple: str | None = None  # None | "repeat" | "separate"
    separator: str = ","


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "string"  # string | integer | float | flag
    value: Value = None  # resolved default; None = unset
    cli: CliSpec = field(default_factory=CliSpec)
    location: Location | None = None
    choices: tuple[Value, ...] = ()  # the values allowed, when the author listed them


@dataclass(frozen=True)
class Input:
    """An input slot: a directory the job finds files in."""

    name: str
    urls: tuple[str, ...] = ()  # fetched before the job starts
    optional: bool = False
    filename: str | None = None
    keep_directories: str = "none"  # none | full | suffix
    location: Location | None = None


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str
    location: Location | None = None


@dataclass(frozen=True)
class Axis:
    """One swept parameter and its values, for product grids."""

    name: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class RandomAxis:
    """One randomly sampled parameter (seeded; sampled lazily per execution)."""

    name: str
    min: float
    max: float
    distribution: str = "uniform"  # uniform | log-uniform
    base: float = 10.0
    integerify: bool = False
    choices: tuple[Value, ...] = ()  # when set, sample one of these instead of a number


class SweepKind(str, Enum):
    PRODUCT = "product"  # Cartesian product of `axes`
    ROWS = "rows"  # explicit rows (manual search, parameter sets)
    RANDOM = "random"  # `size` seeded samples of `random_axes` (plus fixed `axes` of length 1)
    RUNTIME = "runtime"  # one execution per item of a list known only at run time


@dataclass(frozen=True)
class RuntimeFanout:
    """Fan out over a list produced by an upstream job (metadata list, runnable `map`)."""

    source: str  # job id
    key: str  # metadata key / returned value name
    param: str  # parameter each execution receives the item in


@dataclass(frozen=True)
class Sweep:
    """The parameter space of a job that runs as several executions.

    Rows are computed on demand (`row(i)`), so a back end that fans out natively never
    materialises a large grid.
    """

    kind: SweepKind
    size: int  # number of executions (0 for RUNTIME: unknown until run time)
    axes: tuple[Axis, ...] = ()
    rows: tuple[tuple[tuple[str, Value], ...], ...] = ()
    random_axes: tuple[RandomAxis, ...] = ()
    seed: int = 0
    fanout: RuntimeFanout | None = None
    max_parallel: int | None = None
    origin: str = ""  # e.g. "grid_search", "random_search", "manual_search", "distributed", "--sweep"
    location: Location | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names that vary (or are set) per execution, in a stable order."""
        seen: dict[str, None] = {}
        for axis in self.axes:
            seen[axis.name] = None
        for axis in self.random_axes:
            seen[axis.name] = None
        for row in self.rows:
            for name, _ in row:
                seen[name] = None
        if self.fanout is not None:
            seen[self.fanout.param] = None
        return tuple(seen)

    def row(self, index: int) -> dict[str, Value]:
        """Parameter values of execution `index` (0-based)."""
        from pipec.passes.sweep import sweep_row

        return sweep_row(self, index)

    def iter_rows(self) -> Iterator[dict[str, Value]]:
        for i in range(self.size):
            yield self.row(i)


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


@dataclass(frozen=True)
class Condition:
    """Run a job only when an upstream value equals one of `values` (runnable `conditional`)."""

    source: str  # job id
    key: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Deployment:
    """What a deployment job deploys (Valohai deployment nodes)."""

    name: str  # deployment name/target
    endpoints: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # (endpoint.file, path inside the endpoint)


@dataclass(frozen=True)
class Job:
    id: str  # engine-safe, unique in the workflow
    name: str  # as the author wrote it
    kind: JobKind = JobKind.EXECUTION
    image: str | None = None
    script: tuple[str, ...] = ()  # command lines, before parameter interpolation
    source_path: str | None = None
    env: tuple[EnvVar, ...] = ()
    resources: Resources = field(default_factory=Resources)
    timeout_seconds: int | None = None
    retries: int = 0
    inputs: tuple[Input, ...] = ()
    outputs: tuple[str, ...] = ()  # declared output names (informational; all files are kept)
    params: tuple[Param, ...] = ()
    sweep: Sweep | None = None
    group: str | None = None  # group name
    on_error: OnError = OnError.STOP_ALL
    condition: Condition | None = None
    deployment: Deployment | None = None
    step: str | None = None  # the dialect's reusable unit this job instantiates (Valohai step)
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
    cron: str
    timezone: str = "UTC"


@dataclass(frozen=True)
class Workflow:
    name: str
    jobs: tuple[Job, ...]  # topologically ordered after the `order` pass
    dependencies: tuple[Dependency, ...] = ()
    params: tuple[PipelineParam, ...] = ()
    groups: tuple[Group, ...] = ()
    triggers: tuple[Trigger, ...] = ()
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

