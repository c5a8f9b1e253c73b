"""GitHub Actions back end: one workflow per pipeline, one job per IR job.

    OUT/.github/workflows/<pipeline>.yml
    OUT/.github/pipec/pipec-runtime.sh      the runtime every job sources (commit it too)

Each job checks out the repository, downloads its upstream jobs' artifacts (one per execution,
named `pipec.<job>.<execution>`), runs the execution under the runtime contract (`pipec_pod`,
as on Argo: the execution directory is `$RUNNER_TEMP/pipec/exec`) and uploads the execution's
outputs and markers. The step's `run:` shows the job's command as the engine runs it, in a
quoted here-document (nothing in it expands; `pipec_read` takes it), each value it is given
read from a quoted variable `"${PIPEC_P_<parameter>}"` set in the step's `env:` (command.Refs);
every other thing the author wrote reaches the job through `env:` too. In both, `${{` is
neutralised (gha_text), so no user text is ever evaluated as an expression or meets a shell
before the command runs. A sweep whose executions all read the same command shows it once,
each matrix row carrying its values (`p_<parameter>` keys); one whose commands differ (a
swept flag...) keeps each row's command in the row (`matrix.command`), values written in, as
does a command longer than a `run:` script may be (MAX_RUN_CHARS), which the step's env
PIPEC_COMMAND carries, a comment in `run:` saying so.

Groups. A group of one job is that job, its executions the members (`pipec_group`). A
group of several different jobs is one GitHub job named after the group, which every
downstream job of any member needs (`pipec_team`): each member is execution 0 of its own
job, with its own variables (PIPEC_M<k>_*; the lead is k=0) and its own image, all started
together on one runner as containers on a Docker network of the group's own, where each is
known by its job id (`--network-alias`), or as processes when no member has an image; a
command reads peer k's host name from PIPEC_HOST_<k>. The group's job downloads each
upstream artifact once and uploads each member's execution as `pipec.<job>.0`, as a job of
one execution does. A group runs on one runner: it takes the runner labels its members ask
for (all of them, with a warning, when they differ), the longest time limit (none when a
member has none), and the failure policy of the members whose failure fails it. The lead's
end ends the group; with a barrier, members run their commands only once every member has
staged its inputs (templates/runtime/gha.sh says how).

Run-time fan-outs. A job fanning out over a list its upstream prints at run time is
P = ceil([gha] max_fanout / 256) matrix jobs, `<job>`, `<job>-part-2`, ... (GitHub runs at most
256 jobs per matrix), which every downstream job needs: part k's rows are the upstream's job
output meta-<n>-items (k = 0) or meta-<n>-items-<k>, at most 256 rows each keeping its global
execution index, which the runtime (pipec_outputs) writes as PIPEC_FANOUT_PARTS on the
upstream's step asks; an empty part is the one row "none", whose steps are skipped, and a list
longer than max_fanout (PIPEC_MAX_FANOUT) fails the upstream job. P = 1 is one matrix job over
meta-<n>-items, as before (a list over 256 then fails the fan-out job at GitHub's matrix limit).

For the people reading the workflow: `on:` is written plain and an event without settings as
`{}` (workflow_text); a matrix job is named by its row's parameters (row_labels; its values
are in the row), a fan-out job by its item's index; only jobs that cancel the run get
`actions: write`, commented. A static sweep is a row per execution in the file, so one too
large for it is refused from its size alone, before a row is built (sweeps_fit).

What a task carries besides its command (OSMO) is runtime lines and step variables (common.py
JobRenderer builds the lines, core.sh runs them). The run's id (`{{workflow_id}}`) is
PIPEC_RUN_ID, `<pipeline>-${{ github.run_id }}`: the same for every job of a run, re-runs of
some of its jobs included, and another for the next run. Files are written before the
command: at their paths in the job's container (a job's `container:`, a group member's own),
below the execution directory when the command runs on the runner (every mention of their
path then reads a variable); contents several jobs write (common.py shared_files) are shipped
once, as PIPEC_SHARED_FILE_<k> in the workflow's `env:`, which every step sees (a job's
container and a group's member containers too). Exit actions are PIPEC_EXIT_ACTIONS: `reschedule` statuses run
the command again in the step, up to the job's retries. Outputs are uploaded by
PIPEC_ON_SUCCESS before the execution counts as succeeded, checkpoints by a background loop
while the command runs and once at its end; both run the [upload] command of the URL's
scheme where the command runs (its image needs the tool). A credential's (VARIABLE, key)
pairs are `VARIABLE: ${{ secrets.<NAME> }}` in the step's env (in a group's step,
PIPEC_SECRET_<n>, which only its member sees). A credential mounted as a directory (one file
per key) is ONE GitHub secret, as GitHub cannot list a secret store's keys: named like a
key's but without the key (credential_secret), it holds the credential as a dotenv file,
`KEY=VALUE` lines, and reaches the step as PIPEC_SECRET_<n>; before the command the runtime
writes each line's VALUE to the file KEY of the directory (pipec_secret_files): at its path in
the job's container, below the execution directory when the command runs on the runner
(moved like a file: every mention of its path reads PIPEC_CREDENTIAL_DIR_<n>).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
import re
from typing import Any, NamedTuple

from pipec import __version__, ir
from pipec.backends import analysis
from pipec.backends.command import RUN_ID as RUN_ID_VAR
from pipec.backends.command import Refs, RenderError, render, shared_command
from pipec.backends.common import JobRenderer
from pipec.backends.runtime import runtime_script
from pipec.backends.shell import quote
from pipec.backends.yamltext import dump
from pipec.config import Config
from pipec.errors import Diagnostics
from pipec.names import safe_id
from pipec.targets import (
    GROUP_FEATURES,
    METADATA_INTO_GROUPS,
    METADATA_OUT_OF_GROUPS,
    SCHEDULE_TIME_ZONES,
    TASK_FEATURES,
    SharedFile,
    Target,
)

# Labels actionlint knows without configuration (GitHub-hosted images and the self-hosted defaults).
HOSTED_LABELS = frozenset({"self-hosted", "linux", "windows", "macos", "x64", "arm", "arm64", "ubuntu-latest",
                           "ubuntu-24.04", "ubuntu-22.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm",
                           "windows-latest", "macos-latest"})
MAX_MATRIX = 256
# [gha] max_fanout: the longest run-time list a fan-out is compiled for (ceil(max_fanout / 256)
# matrix jobs); the schema allows up to 256 parts.
DEFAULT_MAX_FANOUT = 1024
MAX_INPUTS = 25  # workflow_dispatch inputs (raised from 10 in 2025)
MAX_RUN_CHARS = 21_000
MAX_FILE_BYTES = 500 * 1024
# Every execution of a sweep is written into the workflow file: a matrix row (`- i: N`, its
# label and its parameters, each on a line indented under the job's strategy, and its command
# or its values) or, in a group, variables of its step (PIPEC_PARAMETERS_<r>, and its command
# PIPEC_COMMAND_<r> or its values PIPEC_R<r>_*). An execution takes more than this, so more
# executions than MAX_EXECUTIONS never fit in one file, and such a pipeline is refused from
# its sweeps' sizes alone, before a row is built.
MIN_EXECUTION_BYTES = 40
MAX_EXECUTIONS = MAX_FILE_BYTES // MIN_EXECUTION_BYTES
# A matrix job's `name:` shows its row's parameters (GitHub would otherwise append every matrix
# value, whole commands included): each value and the whole label are cut to these lengths.
MAX_LABEL_VALUE = 24
MAX_LABEL = 64
# Linux refuses to start a process with an environment string ("NAME=value" and its NUL) over
# MAX_ARG_STRLEN, 32 pages (include/uapi/linux/binfmts.h): the step would fail to start.
MAX_ENV_BYTES = 32 * 4096
# A GitHub secret's name: letters, digits and underscores, not starting with a digit or GITHUB_
# (docs "Using secrets in GitHub Actions", naming your secrets).
RUNTIME_PATH = ".github/pipec/pipec-runtime.sh"
# Node 24 releases (GitHub removed the node20 runtime in September 2026), by full commit SHA;
# [gha.pins] in pipec.toml overrides any of them.
DEFAULT_PINS = {
    "actions/checkout": ("8e8c483db84b4bee98b60c0593521ed34d9990e8", "v6.0.1"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("484a0b528fb4d7bd804637ccb632e47a0e638317", "v8"),
    "actions/github-script": ("ed597411d8f924073f98dfc5c65a23a2325f34cd", "v8.0.0"),
}
# A JavaScript action runs in the job's container too, where `gh` or curl may be missing.
CANCEL_SCRIPT = ("await github.rest.actions.cancelWorkflowRun("
                 "{owner: context.repo.owner, repo: context.repo.repo, run_id: context.runId});")
POD = "${{ runner.temp }}/pipec"
# A job whose failure stops the run cancels it through the API; no other job gets more than the
# workflow's `contents: read`. The comment says why (zizmor's undocumented-permissions).
STOPPER_PERMISSIONS = {"contents": "read", "actions": "write"}
STOPPER_WHY = "cancels the run when this job fails (on-error: stop-all)"
LOCALHOST = "127.0.0.1"  # a group member's host name when members are processes on the runner
SOURCE = '. "$GITHUB_WORKSPACE/' + RUNTIME_PATH + '"'
# A matrix row's own keys; a row's values are p_<name> keys beside them (matrix_keys).
ROW_KEYS = ("i", "label", "command", "parameters")


def gha_text(text: str) -> str:
    """Text GitHub leaves alone: every `${{` becomes an expression that yields `${{`."""
    return text.replace("${{", "${{ '${{' }}") if "${{" in text else text


def run_script(action: str, commands: dict[str, str], env: dict[str, str]) -> str:
    """The `run:` of a step: source the runtime, read each command (variable -> text) from a
    quoted here-document (pipec_read: nothing in it expands, and GitHub shows it as written),
    then run `action`. When the script would be longer than GitHub takes (MAX_RUN_CHARS), the
    commands go to the step's `env` instead (the same variables), and a comment says so."""
    lines = [SOURCE]
    for var, text in commands.items():
        delimiter = here_delimiter(var, text)
        lines += [f"pipec_read {var} <<'{delimiter}'", gha_text(text), delimiter]
    script = "\n".join([*lines, action]) + "\n"
    if len(script) <= MAX_RUN_CHARS:
        return script
    env.update({var: gha_text(text) for var, text in commands.items()})
    names = " and ".join(commands)
    return (f"{SOURCE}\n# The command{'s are' if len(commands) > 1 else ' is'} in the step's env ({names}): shown "
            f"here, the script would be over the {MAX_RUN_CHARS:,} characters GitHub takes.\n{action}\n")


def here_delimiter(var: str, text: str) -> str:
    """A here-document's delimiter for `text`: `var`, numbered until the text holds it nowhere
    (so no line of it can end the here-document early)."""
    delimiter, n = var, 2
    while delimiter in text:
        delimiter, n = f"{var}_{n}", n + 1
    return delimiter


def static_text(text: str) -> str:
    """Text for fields where GitHub allows no expression at all (workflow name, input
    descriptions): `${{` is broken up, as these fields are only read by people."""
    return text.replace("${{", "$ {{")


def _labels_text(labels: list[str]) -> str:
    """actionlint's configuration declaring self-hosted runner labels."""
    return "self-hosted-runner:\n  labels:\n" + "".join(f"    - {json.dumps(x)}\n" for x in labels)


def _runner_labels(data: bytes) -> list[str] | None:
    """The `self-hosted-runner: labels:` of an actionlint configuration (None: not readable)."""
    import yaml

    try:
        doc = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    section = doc.get("self-hosted-runner") if isinstance(doc, dict) else None
    labels = section.get("labels") if isinstance(section, dict) else None
    return [str(x) for x in labels] if isinstance(labels, list) else []


def _missing_labels(existing: bytes, wanted: bytes) -> str | None:
    """What a user's own .github/actionlint.yaml lacks of the labels the workflows use."""
    declared = _runner_labels(existing)
    needed = _runner_labels(wanted) or []
    if declared is None:
        return (f"cannot read it as YAML; pipec leaves it alone (it did not write it): make sure it declares "
                f"the self-hosted runner labels {', '.join(needed)} under self-hosted-runner: labels:")
    # actionlint reads each declared label as a glob and compares labels case-insensitively.
    missing = [x for x in needed if not any(fnmatch.fnmatchcase(x.lower(), p.lower()) for p in declared)]
    if not missing:
        return None
    return (f"does not declare the self-hosted runner label{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} that the compiled workflows use (actionlint reports undeclared labels); pipec leaves "
            f"this file alone as it did not write it: add them under self-hosted-runner: labels:")


def _merge_labels(existing: bytes, wanted: bytes) -> bytes:
    labels = set(_runner_labels(existing) or []) | set(_runner_labels(wanted) or [])
    return _labels_text(sorted(labels)).encode()


ACTIONLINT_CONFIG = ".github/actionlint.yaml"
TARGET = Target("gha", "GitHub Actions", frozenset({METADATA_INTO_GROUPS, METADATA_OUT_OF_GROUPS, SCHEDULE_TIME_ZONES})
                | GROUP_FEATURES | TASK_FEATURES,
                shared={RUNTIME_PATH: SharedFile(), ACTIONLINT_CONFIG: SharedFile(check=_missing_labels,
                                                                                   merge=_merge_labels)})


class _Compiler(JobRenderer):
    engine = TARGET.title

    def __init__(self, wf: ir.Workflow, config: Config, diags: Diagnostics):
        super().__init__(wf, config, diags)
        self.gha: dict[str, Any] = dict(config.data.get("gha", {}))
        pins = {**{k: {"sha": v[0], "version": v[1]} for k, v in DEFAULT_PINS.items()},
                **dict(self.gha.get("pins", {}))}
        self.uses = {name: f"{name}@{pin['sha']}" for name, pin in pins.items()}
        self.comments = {name: str(pin.get("version", "")) for name, pin in pins.items()}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.parts: dict[str, list[str]] = {}  # job id -> GitHub job ids (a split matrix has several)
        # Matrix jobs per run-time fan-out ([gha] max_fanout items, at most 256 each).
        self.max_fanout = int(self.gha.get("max_fanout", DEFAULT_MAX_FANOUT))
        self.fanout_parts = max(1, math.ceil(self.max_fanout / MAX_MATRIX))
        self.labels: set[str] = set()
        self.inputs: dict[str, Any] = {}
        self._after_continue: dict[str, bool] = {}
        self.job_ids = {j.id for j in wf.jobs}
        # Groups of several jobs ("teams"): one GitHub job each, which every member's
        # downstream jobs need.
        self.teams = multi_job_groups(wf)
        self.team_of = {m: g for g in self.teams for m in g.members}
        self.team_ids = team_job_ids(wf, self.teams)
        order = {j.id: n for n, j in enumerate(wf.jobs)}
        self.team_last = {g.name: max(g.members, key=lambda m: order.get(m, -1)) for g in self.teams}
        for group in self.teams:
            self.parts.update({m: [self.team_ids[group.name]] for m in group.members})
        self.job_ids |= set(self.team_ids.values())
        # The run's id ({{workflow_id}}): the pipeline's id and the run's, the same for every job
        # of the run, re-runs of some of its jobs included (their attempt is not part of it).
        self.run_id = f"{safe_id(wf.name)}-${{{{ github.run_id }}}}"
        self.defaults: list[str] = []  # pipeline parameter k's default, as text
        self.param_names: list[str] = []  # pipeline parameter k's input name

    # ---------------------------------------------------------------------------------------
    def dispatch_inputs(self) -> None:
        self.find_overridable()
        offered = [k for k in range(len(self.wf.params)) if self.offered(k)]
        if len(offered) > MAX_INPUTS:
            self.diags.error(f"pipeline '{self.wf.name}' has {len(offered)} parameters; a GitHub "
                             f"workflow_dispatch takes at most {MAX_INPUTS} inputs",
                             self.loc(self.wf.params[offered[MAX_INPUTS]]),
                             "merge some parameters, or give them defaults in the steps instead")
        used: set[str] = set()
        for k, p in enumerate(self.wf.params):
            if not self.offered(k):
                self.defaults.append("")
                self.param_names.append("")
                continue
            name = base = safe_id(p.name).replace("-", "_")
            n = 2
            while name.lower() in used:  # input ids are case-insensitive
                name, n = f"{base}_{n}", n + 1
            used.add(name.lower())
            ptype = self.param_type(k)
            value = p.value
            spec: dict[str, Any] = {"description": static_text(p.description or p.name), "required": False,
                                    "type": "number" if ptype in ("integer", "float") else "string"}
            default = self.default_text(k)
            self.defaults.append(default)
            choices = self.param_choices(k)
            if ptype == "string" and (set(choices) == {"true", "false"} or (isinstance(value, bool) and not choices)):
                spec["type"] = "boolean"  # the form shows a checkbox; the job gets "true" or "false"
                if default in ("true", "false"):
                    spec["default"] = default == "true"
            elif choices and default in choices and all(_plain_option(c) for c in choices):
                spec["type"] = "choice"
                spec["options"] = list(choices)
                spec["default"] = default
            elif default and "${{" not in default:
                spec["default"] = default
            elif default:  # no expression may stand there: the job applies it to an empty input
                spec["description"] += " (default: " + static_text(default) + ")"
            self.inputs[name] = spec
            self.param_names.append(name)

    def runs_on(self, job: ir.Job) -> Any:
        profile = self.profile(job)
        labels = profile.get("runs_on")
        if labels is None:
            labels = ["self-hosted", "linux", "gpu"] if job.resources.gpus else self.gha.get("runs_on", "ubuntu-latest")
        for label in labels if isinstance(labels, list) else [labels]:
            if str(label) not in HOSTED_LABELS:
                self.labels.add(str(label))
        return labels

    def job_env(self, job: ir.Job) -> tuple[dict[str, str], list[str]]:
        env: dict[str, str] = {"PIPEC_ENGINE": "gha", "PIPEC_JOB": job.id}
        if job.on_error is ir.OnError.RETRY:
            env["PIPEC_RETRIES"] = str(int(self.gha.get("retries", job.retries)))
        if analysis.uses_run_id(job):
            env[RUN_ID_VAR] = self.run_id
        actions = self.exit_actions(job)
        if actions:
            # pipec_run: `complete` statuses succeed; only `reschedule` ones run the command
            # again, in the step, up to the job's retries (OSMO reschedules with a new pod).
            env["PIPEC_EXIT_ACTIONS"] = actions
            if job.exit_codes is not None and job.exit_codes.reschedule and "PIPEC_RETRIES" not in env:
                env["PIPEC_RETRIES"] = str(job.retries)
        setup: list[str] = []
        for _, k in self.job_overrides(job.id):
            env[f"PIPEC_PARAM_{k}"] = f"${{{{ inputs.{self.param_names[k]} }}}}"
            default = self.defaults[k]
            env[f"PIPEC_PARAM_{k}_DEFAULT"] = gha_text(default)
            # A scheduled or pushed run has no inputs: the pipeline's defaults apply (also to an
            # empty input whose default could not be written into the form).
            when = '[ "$GITHUB_EVENT_NAME" != workflow_dispatch ]'
            if "default" not in self.inputs[self.param_names[k]] and default:
                when += f' || [ -z "$PIPEC_PARAM_{k}" ]'
            setup.append(f'if {when}; then PIPEC_PARAM_{k}=$PIPEC_PARAM_{k}_DEFAULT; fi\n')
        return env, setup + self.param_checks(job)

    def job_steps(self, job: ir.Job, env: dict[str, str], execution: str, run: str, group: int = 0
                  ) -> list[dict[str, Any]]:
        """The steps of a job (`run`: its run step's script, run_script)."""
        steps: list[dict[str, Any]] = [{
            "name": "Check out the repository",
            "uses": self.uses["actions/checkout"],
            "with": {"persist-credentials": False},
        }]
        for i, up in enumerate(self.wf.upstream(job.id)):
            # Every artifact holds <execution>/...: merged, they give up/<n>/<execution>/.
            steps.append({"name": f"Download {up}", "uses": self.uses["actions/download-artifact"],
                          "with": {"pattern": f"pipec.{up}.*", "path": f"{POD}/up/{i}", "merge-multiple": True}})
        step_env = {"PIPEC_POD_DIR": POD, "PIPEC_EXEC_MOUNT": f"{POD}/exec", "PIPEC_EXECUTION": execution, **env}
        if self.wf.layout.exports:
            step_env["PIPEC_LAYOUT"] = self.wf.layout.spec()
        # sh: the runtime is POSIX and runs the command with bash where the image has it.
        steps.append({"name": "Run" if not group else f"Run the group ({group} members, the lead last)",
                      "id": "run", "shell": "sh", "run": run, "env": step_env})
        publish_env = {k: step_env[k] for k in ("PIPEC_POD_DIR", "PIPEC_EXEC_MOUNT", "PIPEC_EXECUTION")}
        if job.id in self.input_readers:
            publish_env["PIPEC_PUBLISH_INPUTS"] = "1"
        steps.append({"name": "Collect the execution" + ("s" if group else ""), "if": "${{ !cancelled() }}",
                      "shell": "sh", "run": f"{SOURCE} && pipec_publish {group}",
                      "env": publish_env})
        steps.append({"name": "Upload the execution" + ("s" if group else ""), "if": "${{ !cancelled() }}",
                      "uses": self.uses["actions/upload-artifact"],
                      "with": {"name": f"pipec.{job.id}.{'group' if group else execution}", "path": f"{POD}/art/",
                               "include-hidden-files": True, "if-no-files-found": "ignore"}})
        if job.on_error in (ir.OnError.STOP_ALL, ir.OnError.RETRY):
            # A job that hits timeout-minutes is cancelled, not failed (the runner then sees
            # cancelled()); cancelling a run that is already being cancelled changes nothing.
            steps.append({"name": "Stop the run (on-error: stop-all)", "if": "${{ failure() || cancelled() }}",
                          "uses": self.uses["actions/github-script"], "with": {"script": CANCEL_SCRIPT}})
        return steps

    def after_continue(self, job_id: str) -> bool:
        """Whether some ancestor is `continue`: GitHub's implicit success() then skips the job even
        when its own needs succeeded (it asks every ancestor), so the job needs an explicit if:."""
        if job_id not in self._after_continue:
            self._after_continue[job_id] = any(
                self.wf.job(u).on_error is ir.OnError.CONTINUE or self.after_continue(u)
                for u in self.wf.upstream(job_id))
        return self._after_continue[job_id]

    def condition(self, job: ir.Job) -> str | None:
        """`if:` for a job after `continue` upstreams (GitHub skips dependents of a failure)."""
        return self.condition_after(self.wf.upstream(job.id), self.after_continue(job.id))

    def condition_after(self, ups: tuple[str, ...], after_continue: bool) -> str | None:
        """`if:` for a GitHub job waiting for the jobs `ups`, when some ancestor is `continue`."""
        if not after_continue:
            return None
        terms = ["!cancelled()"]
        for up in ups:
            for gh in self.parts.get(up, [up]):
                if self.wf.job(up).on_error is ir.OnError.CONTINUE:
                    term = f"(needs.{gh}.result == 'success' || needs.{gh}.result == 'failure')"
                else:
                    term = f"needs.{gh}.result == 'success'"
                if term not in terms:  # several members of one group are one GitHub job
                    terms.append(term)
        return "${{ " + " && ".join(terms) + " }}"

    def needs(self, ups: tuple[str, ...]) -> list[str]:
        """The GitHub jobs that run the jobs `ups`, once each."""
        return list(dict.fromkeys(gh for up in ups for gh in self.parts.get(up, [up])))

    def command_text(self, job: ir.Job, values: dict[str, Any], moved: tuple[tuple[str, str], ...],
                     hosts: dict[str, str] | None = None, refs: Refs | None = None) -> str:
        """The command of one execution: paths read from the runtime's variables (GitHub mounts
        nothing at the layout's paths), and its files' where they were moved; with `refs`, its
        values read from PIPEC_P_<parameter> variables (command.Refs collects their texts)."""
        return render(job.command, job.params, values, self.wf.layout, False, hosts, moved, refs)

    def by_reference(self, job: ir.Job, executions: list[dict[str, Any]], moved: tuple[tuple[str, str], ...]
                     ) -> tuple[str, list[dict[str, str]]] | None:
        """The command every execution (its values) reads when rendered by reference, and each
        execution's variables (PIPEC_P_<name> -> text); None when the executions' commands
        differ (a swept flag, lists of different lengths...) or read different variables."""
        return shared_command(job.command, job.params, executions, self.wf.layout, False, None, moved)

    def matrix_rows(self, job: ir.Job, swept: list[dict[str, Any]], mapping: dict[int, str],
                    moved: tuple[tuple[str, str], ...], env: dict[str, str]
                    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """A sweep's matrix rows, and the command the run: script shows ({} when none). When
        every execution reads the same command by reference, it is shown once: a value the same
        in every row is set in the step's env, and each that differs is a row key p_<name>
        (matrix_keys) the env reads. Otherwise each row carries its command, values written in
        (`matrix.command`)."""
        executions = [self.values(job, row, mapping) for row in swept]
        labels = row_labels(swept, [p.name for p in job.params])
        shared = self.by_reference(job, executions, moved)
        rows: list[dict[str, Any]] = []
        if shared is None:
            env["PIPEC_COMMAND"] = "${{ matrix.command }}"
            for i, (values, label) in enumerate(zip(executions, labels)):
                rows.append({"i": i, "label": gha_text(label),
                             "command": gha_text(self.command_text(job, values, moved)),
                             "parameters": gha_text(self.parameters_json(job, values))})
            return rows, {}
        text, envs = shared
        keys = matrix_keys([var for var in envs[0] if any(e[var] != envs[0][var] for e in envs)])
        env.update({var: gha_text(value) if var not in keys else f"${{{{ matrix.{keys[var]} }}}}"
                    for var, value in envs[0].items()})
        for i, (values, label, own) in enumerate(zip(executions, labels, envs)):
            rows.append({"i": i, "label": gha_text(label), **{key: gha_text(own[var]) for var, key in keys.items()},
                         "parameters": gha_text(self.parameters_json(job, values))})
        return rows, {"PIPEC_COMMAND": text}

    def group_commands(self, job: ir.Job, members: list[dict[str, Any]], moved: tuple[tuple[str, str], ...],
                       env: dict[str, str]) -> dict[str, str]:
        """The commands of a group's members (a job whose executions they are), given their
        values, and the command the run: script shows ({} when none). When every member reads
        the same command by reference, it is shown once: a value the same for every member is
        set in the step's env, and each that differs, PIPEC_<NAME>, is PIPEC_R<r>_<NAME> for
        member r (PIPEC_RANK_VARS lists the NAMEs; pipec_member sets its own). Otherwise each
        member's command is PIPEC_COMMAND_<r>, values written in."""
        shared = self.by_reference(job, members, moved)
        if shared is None:
            for r, values in enumerate(members):
                env[f"PIPEC_COMMAND_{r}"] = gha_text(self.command_text(job, values, moved))
                env[f"PIPEC_PARAMETERS_{r}"] = gha_text(self.parameters_json(job, values))
            return {}
        text, envs = shared
        varying = [var for var in envs[0] if any(e[var] != envs[0][var] for e in envs)]
        env.update({var: gha_text(value) for var, value in envs[0].items() if var not in varying})
        if varying:
            env["PIPEC_RANK_VARS"] = " ".join(var.removeprefix("PIPEC_") for var in varying)
        for r, values in enumerate(members):
            env[f"PIPEC_PARAMETERS_{r}"] = gha_text(self.parameters_json(job, values))
            env.update({f"PIPEC_R{r}_{var.removeprefix('PIPEC_')}": gha_text(envs[r][var]) for var in varying})
        return {"PIPEC_COMMAND": text}

    def env_fits(self, job: ir.Job, env: dict[str, str], rows: list[dict[str, Any]]) -> bool:
        """Whether every variable of the job's step (and of each matrix row) fits in one
        environment string of a process (MAX_ENV_BYTES); reported when not."""
        sizes = [(name, len(name.encode()) + len(value.encode()) + 2) for name, value in env.items()]
        # A row's value reaches the variable whose env reads it (`${{ matrix.<key> }}`).
        read = {value.removeprefix("${{ matrix.").removesuffix(" }}"): name for name, value in env.items()
                if value.startswith("${{ matrix.")}
        sizes += [(read[key], len(read[key].encode()) + len(str(value).encode()) + 2)
                  for row in rows for key, value in row.items() if key in read]
        name, size = max(sizes, key=lambda kv: kv[1], default=("", 0))
        if size <= MAX_ENV_BYTES:
            return True
        what = {"PIPEC_SETUP": "its files, environment and staging", "PIPEC_COMMAND": "its command",
                "PIPEC_PARAMETERS": "its parameters"}.get(name, "one of its values")
        self.diags.error(f"'{job.name}' needs {size:,} bytes in one environment variable of its step ({name}: {what}); "
                         f"Linux starts no process with a variable over {MAX_ENV_BYTES:,} bytes", self.loc(job),
                         "pass large files as a URL input, or from the repository" if job.files else None)
        return False

    def bad_image(self, job: ir.Job) -> bool:
        """Whether the job's image cannot be an image reference (reported)."""
        if job.image and (job.image.startswith("-") or any(ch.isspace() or not ch.isprintable() for ch in job.image)):
            # docker (and the runner, which calls it) would read a leading '-' as an option.
            self.diags.error(f"image {job.image!r} of '{job.name}' is not an image reference: it starts with '-' "
                             "or holds spaces or control characters", self.loc(job))
            return True
        return False

    def prepare(self, job: ir.Job, metadata: bool = True, in_container: bool = True,
                hosts: dict[str, str] | None = None, shared: bool = False) -> Prepared:
        """What one job's executions share: the step's variables, the setup lines (values,
        files, environment, staging), the lines filling parameters.json, the variable holding
        each late value, the lines starting its checkpoint uploads and where its files went.
        `metadata`: the job's outputs carry the metadata downstream reads; `in_container`:
        its command runs in a container of its own (else its files go below the execution
        directory); `hosts`: its peers' host variables; `shared`: its step runs other
        executions too (a group), so its credentials reach it through PIPEC_ variables."""
        env, setup = self.job_env(job)
        moved = self.moved_files(job, in_container)
        mapping = {k: f"PIPEC_PARAM_{k}" for _, k in self.job_overrides(job.id)}
        fills = [self.param_fill(job, p, k) for p, k in self.job_overrides(job.id)]
        fanout = job.sweep.fanout if job.sweep is not None else None
        encoded = []
        for j, (pname, v) in enumerate(self.job_runtime(job.id)):
            mapping[v.index] = f"PIPEC_VALUE_{j}"
            fills.append(f"pipec_fill {quote(json.dumps(self.sentinel(v.index)))} \"$PIPEC_VALUE_{j}_JSON\"\n")
            src = self.wf.job(v.dep.source)
            n = self.meta_keys[src.id].index(v.dep.source_key)
            if fanout is not None and fanout.param == pname:
                env[f"PIPEC_VALUE_{j}"], env[f"PIPEC_VALUE_{j}_JSON"] = "${{ matrix.text }}", "${{ matrix.json }}"
                setup.append(f"pipec_need PIPEC_VALUE_{j} {quote(src.id)} {quote(v.dep.source_key)}\n")
            elif not analysis.looped(src) and src.id not in self.team_of:
                # One execution upstream: its job outputs carry the value.
                env[f"PIPEC_VALUE_{j}"] = f"${{{{ needs.{src.id}.outputs.meta-{n}-text }}}}"
                env[f"PIPEC_VALUE_{j}_JSON"] = f"${{{{ needs.{src.id}.outputs.meta-{n}-json }}}}"
                setup.append(f"pipec_need PIPEC_VALUE_{j} {quote(src.id)} {quote(v.dep.source_key)}\n")
            else:
                # Matrix jobs overwrite their outputs, and a group of several jobs is one
                # GitHub job for all its members: read the executions' stdout instead.
                key = quote(v.dep.source_key)
                setup.append(f"PIPEC_VALUE_{j}=$(pipec_metadata {quote(src.id)} {key} text)\n"
                             f"PIPEC_VALUE_{j}_JSON=$(pipec_metadata {quote(src.id)} {key} json)\n"
                             f"export PIPEC_VALUE_{j} PIPEC_VALUE_{j}_JSON\n")
                continue
            encoded += [f"PIPEC_VALUE_{j}", f"PIPEC_VALUE_{j}_JSON"]
        if encoded:
            env["PIPEC_ENCODED"] = " ".join(encoded)
        keys = self.meta_keys.get(job.id)
        if keys and metadata:
            env["PIPEC_METADATA"] = gha_text(json.dumps(keys, ensure_ascii=False))
        # Files first: an environment value may name one (moved below the execution directory).
        setup.append(self.file_lines(job, in_container, False, hosts))
        setup += analysis.env_lines(_mentioning(job, moved), self.wf.layout, False, hosts, moved)
        setup += self.secret_env(job, env, shared, moved)
        stages, gates = self.stages(job)
        setup.append(self.staging_lines(job, gates, stages, self.fetches(job)))
        if self.wf.upstream(job.id):
            env["PIPEC_UPSTREAM"] = " ".join(self.wf.upstream(job.id))
        starts, on_success = self.upload_lines(job, False, hosts, moved)
        if on_success:
            env["PIPEC_ON_SUCCESS"] = gha_text(on_success)
        return Prepared(env, setup, fills, mapping, [starts] if starts else [], moved)

    def moved_files(self, job: ir.Job, in_container: bool) -> tuple[tuple[str, str], ...]:
        """The job's files (JobRenderer.moved_files), then the directories of the credentials
        it mounts, PIPEC_CREDENTIAL_DIR_<n>: where the command runs on the runner, each goes
        below the execution directory too (files/<path>, never published as an artifact),
        and every mention of its path reads its variable."""
        if in_container:
            return ()
        mounts = [s.mount for s in job.secrets if s.mount is not None]
        return super().moved_files(job, in_container) + tuple(
            (path, f"PIPEC_CREDENTIAL_DIR_{n}") for n, path in enumerate(mounts))

    def credential_secret(self, secret: ir.Secret) -> str:
        """The GitHub secret holding the whole of a credential mounted as a directory: named as
        github_secret names a key's, without the key (pipec.toml [secrets.<name>] github, else
        the credential's name; upper-cased, every character GitHub does not allow as `_`, and
        `_` first where GitHub refuses the name: a digit or GITHUB_ first)."""
        prefix = self.secret_config(secret.name).get("github") or secret.name
        name = re.sub(r"[^A-Z0-9_]", "_", prefix.upper())
        return "_" + name if name[0].isdigit() or name.startswith("GITHUB_") else name

    def secret_env(self, job: ir.Job, env: dict[str, str], shared: bool, moved: tuple[tuple[str, str], ...] = ()
                   ) -> list[str]:
        """The job's credentials from GitHub's secret store: each (VARIABLE, key) is
        `VARIABLE: ${{ secrets.<NAME> }}` in the step's env (NAME: github_secret), never text
        of a script. In a group's step (`shared`), where other executions run too and only
        PIPEC_ variables reach the members' containers, it is PIPEC_SECRET_<n> instead, and
        the execution's setup gives it its own name. A credential mounted as a directory is
        always PIPEC_SECRET_<n> (NAME: credential_secret), which the setup writes as files
        into the directory (moved, when it is: `moved`). Returns those setup lines."""
        lines: list[str] = []
        dirs = iter(var for _, var in moved if var.startswith("PIPEC_CREDENTIAL_DIR_"))  # mounts, in order
        held = 0  # PIPEC_SECRET_<n> variables so far
        for secret in job.secrets:
            if secret.mount is not None:
                name = self.credential_secret(secret)
                var = f"PIPEC_SECRET_{held}"
                held += 1
                env[var] = f"${{{{ secrets.{name} }}}}"
                var_dir = next(dirs, None)
                target = f'"${var_dir}"' if var_dir else quote(secret.mount)
                lines.append(f"pipec_secret_files {var} {quote(secret.name)} {name} {target}\n")
                continue
            for variable, key in secret.env:
                name = self.github_secret(secret, key)
                problem = _variable_problem(variable)
                if problem:
                    self.diags.error(f"credential '{secret.name}' of '{job.name}' sets environment variable "
                                     f"{variable!r}, {problem}", self.loc(secret))
                    continue
                expression = f"${{{{ secrets.{name} }}}}"
                if not shared:
                    env[variable] = expression
                    continue
                var = f"PIPEC_SECRET_{held}"
                held += 1
                env[var] = expression
                lines.append(f"{variable}=${var}\nexport {variable}\nunset {var}\n")
        return lines

    def job(self, job: ir.Job) -> None:
        team = self.team_of.get(job.id)
        if team is not None:
            # One GitHub job runs the whole group, once every member was seen (their
            # upstream jobs are all compiled by then).
            if job.id == self.team_last[team.name]:
                self.team(team)
            return
        group_size = job.executions if job.group is not None else 0
        job = self.shell_job(job)
        fanout = job.sweep.fanout if job.sweep is not None else None
        if fanout is not None and fanout.source in self.team_of:
            self.diags.error(f"'{job.name}' fans out over metadata '{fanout.key}' of '{fanout.source}', a member of "
                             f"group '{self.team_of[fanout.source].name}'; the GitHub Actions target does not compile "
                             "that yet", self.loc(job.sweep))
            return
        # A job's command runs in its own container (`container:`), a group's members each in
        # a container of their own; without an image, on the runner, where files cannot go to
        # the absolute paths the workflow names (shared by every job the runner runs).
        errors = self.diags.error_count()
        prepared = self.prepare(job, in_container=bool(job.image), shared=bool(group_size))
        env, setup, fills, mapping, moved = prepared.env, prepared.setup, prepared.fills, prepared.mapping, prepared.moved
        keys = self.meta_keys.get(job.id)
        sweep = job.sweep
        rows: list[dict[str, Any]] = []
        shown: dict[str, str] = {}  # variable -> the command text the run: script shows
        try:
            if group_size:
                members = [self.values(job, row, mapping) for row in (sweep.iter_rows() if sweep is not None else [{}])]
                shown = self.group_commands(job, members, moved, env)
                setup.append('pipec_distributed "$PIPEC_RANK"\n')
            elif sweep is None or sweep.size <= 1:
                values = self.values(job, analysis.single_row(job), mapping)
                refs = Refs()
                shown["PIPEC_COMMAND"] = self.command_text(job, values, moved, refs=refs)
                env["PIPEC_PARAMETERS"] = self.parameters_json(job, values)
                env.update({var: gha_text(text) for var, text in refs.env.items()})
            else:
                env["PIPEC_PARAMETERS"] = "${{ matrix.parameters }}"
                rows, shown = self.matrix_rows(job, list(sweep.iter_rows()), mapping, moved, env)
        except RenderError as exc:
            self.diags.error(f"cannot build the command of '{job.name}': {exc}", self.loc(job))
            return
        env["PIPEC_SETUP"] = "".join(setup + fills + prepared.starts)
        for key in ("PIPEC_PARAMETERS", "PIPEC_SETUP"):
            if key in env and not env[key].startswith("${{ matrix."):
                env[key] = gha_text(env[key])
        run = run_script(f"pipec_group {group_size}" if group_size else "pipec_job", shown, env)
        if self.diags.error_count() > errors or not self.env_fits(job, env, rows):
            return
        base: dict[str, Any] = {"name": gha_text(job.name)}
        needs = self.needs(self.wf.upstream(job.id))
        if needs:
            base["needs"] = needs
        cond = self.condition(job)
        if cond:
            base["if"] = cond
        base["runs-on"] = self.runs_on(job)
        if self.bad_image(job):
            return
        if job.image and group_size:
            # The group's members are containers of their own, started by the runtime on the
            # runner (which needs Docker); the job itself runs on the runner.
            env["PIPEC_GROUP_IMAGE"] = gha_text(job.image)
            env["PIPEC_RUNTIME"] = RUNTIME_PATH
            if job.resources.gpus:
                env["PIPEC_GROUP_GPUS"] = "1"
        elif job.image:
            base["container"] = {"image": gha_text(job.image)}
            if not _pinned(job.image):
                self.diags.warning(f"image '{job.image}' of '{job.name}' names no tag or digest, so every run may get "
                                   "a different image (zizmor reports it as unpinned-images)", self.loc(job),
                                   "pin a version tag (python:3.12) or a digest (python@sha256:...)", code="PC508")
        if job.on_error in (ir.OnError.STOP_ALL, ir.OnError.RETRY):
            base["permissions"] = dict(STOPPER_PERMISSIONS)
        if job.kind is ir.JobKind.DEPLOYMENT and job.deployment is not None:
            base["environment"] = gha_text(job.deployment.name)
        if job.timeout_seconds:
            base["timeout-minutes"] = max(1, math.ceil(job.timeout_seconds / 60))
        if keys and not analysis.looped(job):
            base["outputs"] = self.meta_outputs(job, keys, env)
        if fanout is not None:
            self.fanout_jobs(job, fanout, base, env, run)
            return
        if group_size:
            self.jobs[job.id] = {**base, "steps": self.job_steps(job, env, "0", run, group_size)}
            self.parts[job.id] = [job.id]
            return
        if not rows:
            self.jobs[job.id] = {**base, "steps": self.job_steps(job, env, "0", run)}
            self.parts[job.id] = [job.id]
            return
        chunks = [rows[n:n + MAX_MATRIX] for n in range(0, len(rows), MAX_MATRIX)]
        ids = [job.id] + [f"{job.id}-part-{n + 1}" for n in range(1, len(chunks))]
        clash = next((i for i in ids[1:] if i in self.job_ids), None)
        if clash is not None:
            self.diags.error(f"'{job.name}' has {len(rows)} executions, split into matrix jobs up to "
                             f"'{ids[-1]}', but '{clash}' is already a job of this pipeline", self.loc(job),
                             "rename that node")
            return
        for gh, chunk in zip(ids, chunks):
            strategy: dict[str, Any] = {"fail-fast": job.on_error in (ir.OnError.STOP_ALL, ir.OnError.RETRY),
                                        "matrix": {"include": chunk}}
            if sweep is not None and sweep.max_parallel:
                strategy["max-parallel"] = sweep.max_parallel
            # The row's parameters name the job on GitHub's pages (its values are in the row).
            self.jobs[gh] = {**base, "name": f"{base['name']} (${{{{ matrix.label }}}})", "strategy": strategy,
                             "steps": self.job_steps(job, env, "${{ matrix.i }}", run)}
        self.parts[job.id] = ids

    def meta_outputs(self, job: ir.Job, keys: list[str], env: dict[str, str]) -> dict[str, str]:
        """The job outputs of a single-execution job's metadata: meta-<n>-json, -text and -items
        (the matrix rows of a fan-out) per key; a key some job fans out over in several matrix
        jobs (fanout_parts > 1) has its rows split into meta-<n>-items (rows 0-255, the global
        execution index kept in each row's `i`), meta-<n>-items-1 (256-511), ..., which the
        runtime writes when the step's PIPEC_FANOUT_PARTS ({"<n>": parts}) asks for them
        (pipec_outputs; a list longer than PIPEC_MAX_FANOUT, [gha] max_fanout, fails the job).
        With one part, nothing changes."""
        outputs: dict[str, str] = {}
        fanned: dict[str, int] = {}
        for n, key in enumerate(keys):
            outputs.update({f"meta-{n}-{form}": f"${{{{ steps.run.outputs.meta-{n}-{form} }}}}"
                            for form in ("json", "text", "items")})
            if self.fanout_parts > 1 and (job.id, key) in self.fanout_keys:
                fanned[str(n)] = self.fanout_parts
                outputs.update({f"meta-{n}-items-{k}": f"${{{{ steps.run.outputs.meta-{n}-items-{k} }}}}"
                                for k in range(1, self.fanout_parts)})
        if fanned:
            env["PIPEC_FANOUT_PARTS"] = json.dumps(fanned)
            env["PIPEC_MAX_FANOUT"] = str(self.max_fanout)
        return outputs

    def fanout_jobs(self, job: ir.Job, fanout: ir.RuntimeFanout, base: dict[str, Any], env: dict[str, str],
                    run: str) -> None:
        """A run-time fan-out: matrix jobs `<job>`, `<job>-part-2`, ... (fanout_parts of them),
        part k's rows from the producer's output meta-<n>-items[-k] (meta_outputs), each row
        `i` the global execution index. An empty list, or an empty part, arrives as the one
        row "none" (a matrix may not be empty): no step runs."""
        n = self.meta_keys[fanout.source].index(fanout.key)
        ids = [job.id] + [f"{job.id}-part-{k + 1}" for k in range(1, self.fanout_parts)]
        clash = next((i for i in ids[1:] if i in self.job_ids), None)
        if clash is not None:
            self.diags.error(f"'{job.name}' fans out over up to {self.max_fanout} items ([gha] max_fanout), "
                             f"split into matrix jobs up to '{ids[-1]}', but '{clash}' is already a job of this "
                             "pipeline", self.loc(job), "rename that node, or lower [gha] max_fanout")
            return
        sweep = job.sweep
        for k, gh in enumerate(ids):
            output = f"meta-{n}-items" + (f"-{k}" if k else "")
            strategy: dict[str, Any] = {
                "fail-fast": job.on_error in (ir.OnError.STOP_ALL, ir.OnError.RETRY),
                "matrix": {"include": f"${{{{ fromJSON(needs.{fanout.source}.outputs.{output}) }}}}"}}
            if sweep is not None and sweep.max_parallel:
                strategy["max-parallel"] = sweep.max_parallel
            steps = [{**s, "if": _both("matrix.i != 'none'", s.get("if"))}
                     for s in self.job_steps(job, env, "${{ matrix.i }}", run)]
            # The item's index names the job (its text may be of any length; an expression cannot cut it).
            self.jobs[gh] = {**base, "name": f"{base['name']} (item ${{{{ matrix.i }}}})", "strategy": strategy,
                             "steps": steps}
        self.parts[job.id] = ids

    # ---------------------------------------------------------------------------------------
    # Groups of several jobs
    def team(self, group: ir.Group) -> None:
        """A group of several jobs as one GitHub job: each member is execution 0 of its own
        job, all run together on one runner by the runtime (pipec_team), the lead first in
        rank (PIPEC_HOST_0, member 0)."""
        members = [self.wf.job(m) for m in lead_first(group)]
        if not self.team_fits(group, members):
            return
        containers = members[0].image is not None
        hosts = {job.id: f"PIPEC_HOST_{k}" for k, job in enumerate(members)}
        run_env: dict[str, str] = {"PIPEC_POD_DIR": POD, "PIPEC_ENGINE": "gha"}
        if self.wf.layout.exports:
            run_env["PIPEC_LAYOUT"] = self.wf.layout.spec()
        if containers:
            run_env["PIPEC_RUNTIME"] = RUNTIME_PATH
        # A member's host name: its network alias (its job id) among containers, else this machine.
        run_env.update({var: job_id if containers else LOCALHOST for job_id, var in hosts.items()})
        publish_env = {"PIPEC_POD_DIR": POD}
        shown: dict[str, str] = {}  # PIPEC_M<k>_COMMAND -> member k's command, shown in run:
        fits = True
        for k, job in enumerate(members):
            env = self.member_env(job, group, hosts, containers)
            if env is None:
                fits = False
                continue
            shared, own = self.member_vars(k, env)
            shown[f"PIPEC_M{k}_COMMAND"] = own.pop(f"PIPEC_M{k}_COMMAND")
            run_env.update({**shared, **own})
            if containers:
                run_env[f"PIPEC_M{k}_IMAGE"] = gha_text(job.image or "")
                if job.resources.gpus:
                    run_env[f"PIPEC_M{k}_GPUS"] = "1"
            publish_env[f"PIPEC_M{k}_JOB"] = job.id
            if job.id in self.input_readers:
                publish_env[f"PIPEC_M{k}_PUBLISH_INPUTS"] = "1"
        if not fits:
            return
        rule = "lead" if group.lead_decides else "any"
        run = run_script(f"pipec_team {len(members)} {rule}", shown, run_env)
        self.jobs[self.team_ids[group.name]] = {**self.team_base(group, members),
                                                "steps": self.team_steps(group, members, run, run_env, publish_env)}

    @staticmethod
    def member_vars(k: int, env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """Member k's variables: those of the pipeline parameters and the run's id, the same for
        every member, and its own as PIPEC_M<k>_<NAME> (PIPEC_M<k>_VARS lists the NAMEs, which the runtime
        turns back into PIPEC_<NAME> for it)."""
        shared = {key: v for key, v in env.items()
                  if key in ("PIPEC_ENGINE", RUN_ID_VAR) or key.startswith("PIPEC_PARAM_")}
        own = {key.removeprefix("PIPEC_"): v for key, v in env.items() if key not in shared}
        return shared, {f"PIPEC_M{k}_VARS": " ".join(own), **{f"PIPEC_M{k}_{name}": v for name, v in own.items()}}

    def member_env(self, job: ir.Job, group: ir.Group, hosts: dict[str, str], containers: bool
                   ) -> dict[str, str] | None:
        """One member's variables, as a job of one execution has them, its command reading its
        peers' host names from `hosts` and its values from PIPEC_P_<name> variables (command.Refs);
        with a barrier its setup ends waiting for every member. `containers`: each member runs in
        a container of its own (else a process on the runner). PIPEC_COMMAND holds the command
        as rendered (the run: script shows it: run_script escapes it)."""
        job = self.shell_job(job)
        errors = self.diags.error_count()
        prepared = self.prepare(job, metadata=False, in_container=containers, hosts=hosts, shared=True)
        env = prepared.env
        values = self.values(job, analysis.single_row(job), prepared.mapping)
        refs = Refs()
        try:
            env["PIPEC_COMMAND"] = self.command_text(job, values, prepared.moved, hosts, refs)
        except RenderError as exc:
            self.diags.error(f"cannot build the command of '{job.name}': {exc}", self.loc(job))
            return None
        env["PIPEC_PARAMETERS"] = gha_text(self.parameters_json(job, values))
        env.update({var: gha_text(text) for var, text in refs.env.items()})
        barrier = ["pipec_team_barrier\n"] if group.barrier else []
        env["PIPEC_SETUP"] = gha_text("".join(prepared.setup + prepared.fills + barrier + prepared.starts))
        if self.diags.error_count() > errors or not self.env_fits(job, env, []):
            return None
        return env

    def team_fits(self, group: ir.Group, members: list[ir.Job]) -> bool:
        """Whether the group can run as one GitHub job (each problem is reported)."""
        fits = True
        for job in members:
            if job.executions != 1 or (job.sweep is not None and job.sweep.fanout is not None):
                self.diags.error(f"'{job.name}' runs several executions in group '{group.name}'; in a group of "
                                 "several jobs the GitHub Actions target runs one execution of each member",
                                 self.loc(job.sweep or job))
                fits = False
            fits = not self.bad_image(job) and fits
            for up in self.wf.upstream(job.id):
                inside = self.reaches(up, set(group.members))
                if inside is not None:
                    how = "is a member of" if inside == up else f"waits for '{inside}', a member of"
                    self.diags.error(f"'{job.name}' waits for '{up}', which {how} its own group '{group.name}'; "
                                     "the members of a group start together", self.loc(job))
                    fits = False
        if len({job.image is None for job in members}) > 1:
            bare = ", ".join(f"'{j.name}'" for j in members if j.image is None)
            self.diags.error(f"group '{group.name}' has members with an image and members without one ({bare}): on "
                             "GitHub Actions a group's members are all containers on one Docker network or all "
                             "processes on the runner", self.loc(group), "give every member an image")
            fits = False
        return fits

    def reaches(self, start: str, targets: set[str]) -> str | None:
        """A job of `targets` that `start` is or waits for, directly or not (None: none)."""
        seen: set[str] = set()
        stack = [start]
        while stack:
            job_id = stack.pop()
            if job_id in targets:
                return job_id
            if job_id not in seen:
                seen.add(job_id)
                stack.extend(self.wf.upstream(job_id))
        return None

    def team_upstream(self, members: list[ir.Job]) -> tuple[str, ...]:
        """The jobs any member waits for, once each."""
        return tuple(dict.fromkeys(up for job in members for up in self.wf.upstream(job.id)))

    def team_stops_run(self, group: ir.Group, members: list[ir.Job]) -> bool:
        """Whether the group's failure stops the run: the failure policy of the members whose
        failure fails the group (the lead, or with `lead_decides` False any member)."""
        deciders = members if not group.lead_decides else members[:1]
        return any(j.on_error in (ir.OnError.STOP_ALL, ir.OnError.RETRY) for j in deciders)

    def team_runs_on(self, group: ir.Group, members: list[ir.Job]) -> Any:
        """A group runs on one runner: the labels of the members that ask for some (a machine
        profile or GPUs), all of them when they differ (said in a warning); else the default."""
        chosen = [self.runs_on(job) for job in members]
        asked = [labels for labels, job in zip(chosen, members)
                 if self.profile(job).get("runs_on") is not None or job.resources.gpus]
        if not asked:
            return chosen[0]
        if all(labels == asked[0] for labels in asked):
            return asked[0]
        union = list(dict.fromkeys(str(x) for labels in asked for x in _listed(labels)))
        self.diags.warning(f"group '{group.name}' runs on one runner, which needs every label its members ask for: "
                           f"{', '.join(union)}", self.loc(group), code="PC509")
        return union

    def team_base(self, group: ir.Group, members: list[ir.Job]) -> dict[str, Any]:
        """The group's GitHub job but its steps: it needs what any member needs; its time limit
        is the longest of its members' (none when one has none)."""
        base: dict[str, Any] = {"name": gha_text(group.name)}
        ups = self.team_upstream(members)
        if ups:
            base["needs"] = self.needs(ups)
        cond = self.condition_after(ups, any(self.after_continue(job.id) for job in members))
        if cond:
            base["if"] = cond
        base["runs-on"] = self.team_runs_on(group, members)
        if self.team_stops_run(group, members):
            base["permissions"] = dict(STOPPER_PERMISSIONS)
        limits = [job.timeout_seconds for job in members]
        if all(limits):
            base["timeout-minutes"] = max(1, math.ceil(max(limits) / 60))  # type: ignore[type-var]
        return base

    def team_steps(self, group: ir.Group, members: list[ir.Job], run: str, run_env: dict[str, str],
                   publish_env: dict[str, str]) -> list[dict[str, Any]]:
        """Check out; download every upstream job's artifacts once (to up/<job>/); run the
        group (`run`: the script, run_script); move each member's execution to art/<job>/ and
        upload it as pipec.<job>.0, the artifact a job of one execution has, so a downstream
        job of any member finds it."""
        steps: list[dict[str, Any]] = [{"name": "Check out the repository", "uses": self.uses["actions/checkout"],
                                        "with": {"persist-credentials": False}}]
        for up in self.team_upstream(members):
            steps.append({"name": f"Download {up}", "uses": self.uses["actions/download-artifact"],
                          "with": {"pattern": f"pipec.{up}.*", "path": f"{POD}/up/{up}", "merge-multiple": True}})
        size = len(members)
        ends = "its lead's end" if group.lead_decides else "its lead's end or any member's failure"
        steps.append({"name": f"Run the group ({size} jobs; {ends} ends it)", "id": "run", "shell": "sh",
                      "run": run, "env": run_env})
        steps.append({"name": "Collect the executions", "if": "${{ !cancelled() }}", "shell": "sh",
                      "run": f"{SOURCE} && pipec_team_publish {size}", "env": publish_env})
        for job in members:
            steps.append({"name": f"Upload {job.id}", "if": "${{ !cancelled() }}",
                          "uses": self.uses["actions/upload-artifact"],
                          "with": {"name": f"pipec.{job.id}.0", "path": f"{POD}/art/{job.id}/",
                                   "include-hidden-files": True, "if-no-files-found": "ignore"}})
        if self.team_stops_run(group, members):
            steps.append({"name": "Stop the run (on-error: stop-all)", "if": "${{ failure() || cancelled() }}",
                          "uses": self.uses["actions/github-script"], "with": {"script": CANCEL_SCRIPT}})
        return steps

    # ---------------------------------------------------------------------------------------
    def sweeps_fit(self) -> bool:
        """Whether the sweeps' executions can all be written into one workflow file, decided from
        their sizes alone (MIN_EXECUTION_BYTES each), before any row is built: a grid of millions
        would otherwise be rendered row by row only to be refused for its size (reported)."""
        swept = [job for job in self.wf.jobs if job.sweep is not None and job.sweep.fanout is None
                 and job.sweep.size > 1]
        too_big = [job for job in swept if job.executions > MAX_EXECUTIONS]
        for job in too_big:
            assert job.sweep is not None
            parts = math.ceil(job.executions / MAX_MATRIX)
            self.diags.error(
                f"'{job.name}' runs {job.executions:,} executions ({_sweep_shape(job.sweep)}); on GitHub Actions "
                f"each is a matrix row written into the workflow file (at most {MAX_MATRIX} jobs per matrix: "
                f"{parts:,} matrix jobs here), and GitHub starts no run of a workflow file over {MAX_FILE_BYTES:,} "
                f"bytes, which holds at most {MAX_EXECUTIONS:,} executions", self.loc(job),
                f"sweep fewer values (at most {MAX_EXECUTIONS:,} executions in all of the pipeline's sweeps), "
                "or compile this pipeline for another target")
        total = sum(job.executions for job in swept)
        if not too_big and total > MAX_EXECUTIONS:
            listed = ", ".join(f"'{job.name}' {job.executions:,}" for job in swept)
            self.diags.error(
                f"the sweeps of '{self.wf.name}' run {total:,} executions ({listed}); on GitHub Actions each is a "
                f"matrix row written into the workflow file, and GitHub starts no run of a workflow file over "
                f"{MAX_FILE_BYTES:,} bytes, which holds at most {MAX_EXECUTIONS:,} executions",
                self.loc(max(swept, key=lambda job: job.executions)),
                "sweep fewer values, move some sweeps to a pipeline of their own (a workflow file each), "
                "or compile this pipeline for another target")
            return False
        return not too_big

    def compile(self) -> dict[str, tuple[str, bool]] | None:
        fits = self.sweeps_fit()
        self.dispatch_inputs()
        if not fits:
            return None
        errors = self.diags.error_count()
        for job in self.wf.jobs:
            self.job(job)
        if self.diags.error_count() > errors:
            return None
        # `{}`, not null, for an event with no settings: readers see it was meant.
        on: dict[str, Any] = {"workflow_dispatch": {"inputs": self.inputs} if self.inputs else {}}
        for event in ("push", "pull_request"):
            if event in self.gha:
                on[event] = {k: [gha_text(str(x)) for x in v] for k, v in dict(self.gha[event]).items()}
        for trigger in self.wf.triggers:
            if _too_often(trigger.cron):
                self.diags.error(f"schedule {trigger.cron!r} of '{self.wf.name}' runs more often than every 5 "
                                 "minutes; GitHub runs scheduled workflows at most every 5 minutes",
                                 self.loc(trigger), "use */5 or a longer interval")
                return None
        if self.wf.triggers:
            on["schedule"] = [{"cron": t.cron, **({"timezone": t.timezone} if t.timezone else {})}
                              for t in self.wf.triggers]
        workflow_id = safe_id(self.wf.name)
        shipped = self.shipped_files()
        if shipped is None:
            return None
        doc = {
            "name": static_text(self.wf.name),
            "on": on,
            "permissions": {"contents": "read"},
            "concurrency": {"group": f"pipec-{workflow_id}-${{{{ github.ref }}}}", "cancel-in-progress": False},
            "defaults": {"run": {"shell": "bash"}},
            **({"env": shipped} if shipped else {}),
            "jobs": self.jobs,
        }
        header = (f"# Generated by pipec {__version__} from {_comment(self.wf.source_file)}, "
                  f"pipeline {_comment(self.wf.name)}.\n"
                  f"# Commit this file with {RUNTIME_PATH}; run it from the Actions tab or on its schedule.\n")
        text = header + _pin_comments(workflow_text(doc), self.uses, self.comments)
        if len(text.encode("utf-8")) > MAX_FILE_BYTES:
            split = self.fanout_parts > 1 and any(j.sweep is not None and j.sweep.fanout for j in self.wf.jobs)
            hints = [f"each run-time fan-out is {self.fanout_parts} copies of its job ([gha] max_fanout): "
                     "a lower max_fanout makes it smaller"] if split else []
            swept = [j for j in self.wf.jobs if j.sweep is not None and j.sweep.fanout is None and j.executions > 1]
            if swept:
                hints.append("each execution of a sweep is a matrix row ("
                             + ", ".join(f"'{j.name}' {j.executions:,}" for j in swept) + "): sweep fewer values")
            self.diags.error(f"the workflow for '{self.wf.name}' is {len(text.encode('utf-8')):,} bytes; GitHub "
                             f"starts no run of a workflow file over {MAX_FILE_BYTES:,} bytes", self.loc(self.wf),
                             "; ".join(hints) or None)
            return None
        return {f".github/workflows/{workflow_id}.yml": (text, False)}

    def shipped_files(self) -> dict[str, str] | None:
        """The workflow's `env:`: per file contents several jobs write (shared_files), shipped
        once, PIPEC_SHARED_FILE_<k>, which every step sees (a job's container and a group's
        member containers too); None when one cannot reach a step in one environment variable
        (reported)."""
        env: dict[str, str] = {}
        for (text, _), k in self.shared_files.items():
            var, site = self.shared_file_var(k), self.shared_file_sites(k)[0]
            size = len(var) + 2 + len(text.encode("utf-8"))
            if size > MAX_ENV_BYTES:
                self.diags.error(f"file {site.path}, whose contents several jobs write, needs {size:,} bytes in one "
                                 f"environment variable of their steps ({var}); Linux starts no process with a "
                                 f"variable over {MAX_ENV_BYTES:,} bytes", self.loc(site),
                                 "pass large files as a URL input, or from the repository")
                return None
            env[var] = gha_text(text)
        return env


class Prepared(NamedTuple):
    """What `prepare` gives for one job (see there)."""

    env: dict[str, str]
    setup: list[str]
    fills: list[str]
    mapping: dict[int, str]
    starts: list[str]  # lines starting the checkpoint uploads, the last before the command
    moved: tuple[tuple[str, str], ...]  # (file path, variable) of files put below the execution directory


def _mentioning(job: ir.Job, moved: tuple[tuple[str, str], ...]) -> ir.Job:
    """The job with each plain environment value that mentions a moved file's path made a
    value of parts, so that the path in it is read from the file's variable too."""
    if not moved:
        return job
    env = tuple(dataclasses.replace(e, word=(ir.Text(e.value),))
                if not e.word and any(path in e.value for path, _ in moved) else e for e in job.env)
    return dataclasses.replace(job, env=env)




def _variable_problem(name: str) -> str | None:
    """Why a credential's environment variable cannot be set in a step (None: it can); what
    every target refuses (shell names, the runtime's names, a name set twice) the names pass
    reported already."""
    if name.startswith(("GITHUB_", "RUNNER_")) or name == "CI":
        # docs "Store information in variables": setting a default variable is ignored.
        return "a name GitHub Actions keeps for its own variables, which a step cannot set"
    return None


def multi_job_groups(wf: ir.Workflow) -> tuple[ir.Group, ...]:
    """The groups of several different jobs (a single job's executions are the other kind)."""
    return tuple(g for g in wf.groups if len(g.members) > 1)


def lead_first(group: ir.Group) -> tuple[str, ...]:
    """The members, the lead first: the order that numbers them (PIPEC_HOST_<k>, rank k)."""
    return (group.lead, *(m for m in group.members if m != group.lead))


def team_job_ids(wf: ir.Workflow, groups: tuple[ir.Group, ...]) -> dict[str, str]:
    """Group name -> the id of its GitHub job: the group's name, made unique among the jobs
    that have a GitHub job of their own (members have none)."""
    members = {m for g in groups for m in g.members}
    taken = {j.id for j in wf.jobs if j.id not in members}
    out: dict[str, str] = {}
    for group in groups:
        base = name = safe_id(group.name)
        n = 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        out[group.name] = name
    return out


def _both(term: str, condition: str | None) -> str:
    """`${{ term && condition }}`, keeping the condition's status function (a condition without
    one means success() && ...)."""
    if condition is None:
        return "${{ " + term + " }}"
    inner = condition.removeprefix("${{ ").removesuffix(" }}")
    return "${{ (" + inner + ") && " + term + " }}"


def _listed(labels: Any) -> list[Any]:
    """`runs-on` labels as a list (one label may be written alone)."""
    return labels if isinstance(labels, list) else [labels]


def _plain_option(text: str) -> bool:
    """Whether a choice can be an option of a choice input as it is (no expression, one line)."""
    return bool(text) and "${{" not in text and "\n" not in text and text == text.strip()


def _pinned(image: str) -> bool:
    """Whether an image reference names a tag other than `latest`, or a digest."""
    if "@" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] != "latest"


def _too_often(cron: str) -> bool:
    """Whether the minute field fires more than once in some 5-minute window."""
    minute = cron.split()[0]
    minutes: set[int] = set()
    for item in minute.split(","):
        body, _, step = item.partition("/")
        if body == "*":
            low, high = 0, 59
        elif "-" in body:
            low, high = (int(x) for x in body.split("-"))
        else:
            low = high = int(body)
            if step:
                high = 59
        minutes.update(range(low, high + 1, int(step or 1)))
    ordered = sorted(minutes)
    gaps = [b - a for a, b in zip(ordered, ordered[1:])] + ([ordered[0] + 60 - ordered[-1]] if ordered else [])
    return any(g < 5 for g in gaps)


def row_labels(rows: list[dict[str, Any]], order: list[str]) -> list[str]:
    """What a matrix job's name shows of each row: `name=value` for the parameters whose values
    differ between rows (every parameter when none does), in the order `order` names them (the
    step's), each value and the whole cut short; when two rows would read the same, each label
    starts with its execution index (`#3 ...`)."""
    rank = {name: n for n, name in enumerate(order)}
    names = sorted(dict.fromkeys(name for row in rows for name in row), key=lambda name: rank.get(name, len(rank)))
    varying = [name for name in names
               if len({(name in row, json.dumps(row.get(name), sort_keys=True, default=str)) for row in rows}) > 1]
    shown = varying or names
    labels = [_cut(", ".join(f"{name}={_label_value(row[name])}" for name in shown if name in row), MAX_LABEL)
              for row in rows]
    if len(set(labels)) < len(labels):
        labels = [_cut(f"#{i} {label}".rstrip(), MAX_LABEL) for i, label in enumerate(labels)]
    return labels


def matrix_keys(variables: list[str]) -> dict[str, str]:
    """The matrix key of each variable a row sets: p_<name> for PIPEC_P_<name>, numbered where
    it would read as a row's own key or another's (GitHub compares names case-insensitively)."""
    taken = set(ROW_KEYS)
    keys: dict[str, str] = {}
    for var in variables:
        key = base = "p_" + var.removeprefix("PIPEC_P_")
        n = 2
        while key.lower() in taken:
            key, n = f"{base}_{n}", n + 1
        taken.add(key.lower())
        keys[var] = key
    return keys


def _label_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return _cut("".join(ch if ch.isprintable() else " " for ch in text), MAX_LABEL_VALUE)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _sweep_shape(sweep: ir.Sweep) -> str:
    """How a sweep gets its size, for the message refusing it."""
    if sweep.kind is ir.SweepKind.PRODUCT:
        return "a grid of " + " x ".join(f"{len(a.values):,} value{'s' if len(a.values) > 1 else ''} of {a.name}"
                                         for a in sweep.axes)
    if sweep.kind is ir.SweepKind.RANDOM:
        return f"{sweep.size:,} random samples"
    return f"{sweep.size:,} parameter sets"


def workflow_text(doc: dict[str, Any]) -> str:
    """The workflow as YAML, as `dump` writes it, but for two things written for people: the
    key `on` unquoted (GitHub reads YAML 1.2, where `on` is no boolean; PyYAML quotes it), and
    a comment beside each job's `actions: write` saying why it has it. Each top-level key, each
    job and each of a job's keys is dumped on its own, so neither edit can touch user text."""
    out: list[str] = []
    for key, value in doc.items():
        if key == "on":
            text = dump({key: value})
            out.append("on:" + text.removeprefix("'on':").removeprefix("on:"))
        elif key == "jobs":
            out.append("jobs:\n" + "".join(_indent(_job_text(job_id, job)) for job_id, job in value.items()))
        else:
            out.append(dump({key: value}))
    return "".join(out)


def _job_text(job_id: str, job: dict[str, Any]) -> str:
    parts = [dump({job_id: {}}).removesuffix(" {}\n") + "\n"]
    for key, value in job.items():
        text = dump({key: value})
        if key == "permissions" and value.get("actions") == "write":
            text = text.replace("\n  actions: write\n", f"\n  actions: write # {STOPPER_WHY}\n")
        parts.append(_indent(text))
    return "".join(parts)


def _indent(text: str) -> str:
    """YAML text two spaces deeper (a line that is empty stays so: in a block scalar it means
    the same at any depth)."""
    return "\n".join("  " + line if line else line for line in text.split("\n"))


def _comment(text: str) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text)


def _pin_comments(text: str, uses: dict[str, str], comments: dict[str, str]) -> str:
    """`uses: owner/action@<sha>  # vX.Y.Z`, so readers (and Dependabot) see the version."""
    for name, ref in uses.items():
        if comments.get(name):
            text = text.replace(f"uses: {ref}\n", f"uses: {ref} # {comments[name]}\n")
    return text


def compile_workflows(workflows: list[ir.Workflow], config: Config, diags: Diagnostics) -> dict[str, tuple[str, bool]]:
    files: dict[str, tuple[str, bool]] = {}
    labels: set[str] = set()
    for wf in workflows:
        compiler = _Compiler(wf, config, diags)
        out = compiler.compile()
        labels |= compiler.labels
        if out is None:
            continue
        files.update(out)  # the driver refused colliding workflow ids
    if files:
        runtime = runtime_script("gha")
        files[RUNTIME_PATH] = (runtime, False)
    if files and labels:
        # actionlint knows GitHub's hosted labels only; self-hosted ones are declared here.
        files[ACTIONLINT_CONFIG] = (_labels_text(sorted(labels)), False)
    return files
