"""What a target is to the rest of pipec: its name, its title in messages, and the IR features
its back end compiles. Each back end declares its `TARGET`; `pipec.passes.support` reports
what a workflow needs that the chosen target lacks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

# Features a back end may declare.
CONDITIONS = "conditions"  # a job that runs only when an upstream value matches
MULTI_JOB_GROUPS = "multi-job-groups"  # a group of several different jobs
GROUP_FANOUT = "group-fanout"  # a group whose members come from a list known at run time
METADATA_INTO_GROUPS = "metadata-into-groups"  # a group member reads an upstream's metadata
METADATA_OUT_OF_GROUPS = "metadata-out-of-groups"  # a job reads a group's metadata
FANOUT_OVER_SWEEPS = "fanout-over-sweeps"  # a fan-out over metadata of a job with several executions
SCHEDULE_TIME_ZONES = "schedule-time-zones"  # a schedule read in a time zone of its own
DEPLOY_MANIFESTS = "deploy-manifests"  # [deploy] manifest applied by the engine itself
FILES = "files"  # files written into place before the command
SECRETS = "secrets"  # credentials from the engine's secret store
UPLOADS = "uploads"  # outputs or checkpoints copied to a storage URL
EXIT_CODES = "exit-codes"  # exit statuses that complete, fail or reschedule
RUN_ID = "run-id"  # the run's id in a command, an environment value, a file or a URL
VALUE_WORDS = "value-words"  # environment values holding layout paths or peers' hosts
INPUT_REGEX = "input-regex"  # an input slot keeping only the files a regex matches
GROUP_BARRIER = "group-barrier"  # group members start their commands once every member is up
GROUP_ANY_FAILS = "group-any-fails"  # a group fails with any member, not only with its lead

# What a group of several jobs and a job of an OSMO task bring; every target compiles all of
# them, so each declares these sets rather than the names one by one.
GROUP_FEATURES = frozenset({MULTI_JOB_GROUPS, GROUP_BARRIER, GROUP_ANY_FAILS})
TASK_FEATURES = frozenset({FILES, SECRETS, UPLOADS, EXIT_CODES, RUN_ID, VALUE_WORDS, INPUT_REGEX})

FEATURES = (CONDITIONS, MULTI_JOB_GROUPS, GROUP_FANOUT, METADATA_INTO_GROUPS, METADATA_OUT_OF_GROUPS,
            FANOUT_OVER_SWEEPS, SCHEDULE_TIME_ZONES, DEPLOY_MANIFESTS, FILES, SECRETS, UPLOADS, EXIT_CODES, RUN_ID,
            VALUE_WORDS, INPUT_REGEX, GROUP_BARRIER, GROUP_ANY_FAILS)


@dataclass(frozen=True)
class SharedFile:
    """A file that every compile into one output directory writes (each source is an owner).
    `check(existing, wanted)`: for a file users may keep themselves (a tool's configuration
    pipec never replaces unless it wrote it), what it lacks, as a warning, or None.
    `merge(existing, wanted)`: the content for all owners when several share pipec's copy."""

    check: Callable[[bytes, bytes], str | None] | None = None
    merge: Callable[[bytes, bytes], bytes] | None = None

    @property
    def user_config(self) -> bool:
        return self.check is not None


@dataclass(frozen=True)
class Target:
    name: str  # --target NAME
    title: str  # in messages: "Argo", "GitHub Actions", "Slurm"
    supports: frozenset[str]  # of FEATURES
    streams: bool = False  # writes one YAML stream (a file or standard output), not only a directory
    options: frozenset[str] = frozenset()  # target-specific compile options it takes ("kind")
    shared: Mapping[str, SharedFile] = field(default_factory=dict)  # files compiles into one directory share
