"""GitHub Actions back end: one workflow per pipeline, one job per IR job.

    OUT/.github/workflows/<pipeline>.yml
    OUT/.github/pipec/pipec-runtime.sh      the runtime every job sources (commit it too)

Each job checks out the repository, downloads its upstream jobs' artifacts (one per execution,
named `pipec.<job>.<execution>`), runs the execution under the runtime contract (`pipec_pod`,
as on Argo: the execution directory is `$RUNNER_TEMP/pipec/exec`) and uploads the execution's
outputs and markers. Everything the author wrote reaches the job through `env:` (with `${{`
neutralised) and is used as quoted shell variables: no user text is ever part of a `run:`
script or an expression.
"""

from __future__ import annotations

import fnmatch
import json
import math
from typing import Any

from pipec import ir
from pipec.backends import analysis
from pipec.backends.command import RenderError
from pipec.backends.common import JobRenderer
from pipec.backends.runtime import runtime_script
from pipec.backends.shell import quote
from pipec.backends.yamltext import dump
from pipec.config import Config
from pipec.errors import Diagnostics
from pipec.names import safe_id
from pipec.targets import METADATA_INTO_GROUPS, METADATA_OUT_OF_GROUPS, SCHEDULE_TIME_ZONES, SharedFile, Target

# Labels actionlint knows without configuration (GitHub-hosted images and the self-hosted defaults).
HOSTED_LABELS = frozenset({"self-hosted", "linux", "windows", "macos", "x64", "arm", "arm64", "ubuntu-latest",
                           "ubuntu-24.04", "ubuntu-22.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm",
                           "windows-latest", "macos-latest"})
MAX_MATRIX = 256
MAX_INPUTS = 25  # workflow_dispatch inputs (raised from 10 in 2025)
MAX_RUN_CHARS = 21_000
MAX_FILE_BYTES = 500 * 1024
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
RUN = '. "$GITHUB_WORKSPACE/' + RUNTIME_PATH + '" && pipec_pod'


def gha_text(text: str) -> str:
    """Text GitHub leaves alone: every `${{` becomes an expression that yields `${{`."""
    return text.replace("${{", "${{ '${{' }}") if "${{" in text else text


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
TARGET = Target("gha", "GitHub Actions", frozenset({METADATA_INTO_GROUPS, METADATA_OUT_OF_GROUPS, SCHEDULE_TIME_ZONES}),
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
        self.labels: set[str] = set()
        self.inputs: dict[str, Any] = {}
        self._after_continue: dict[str, bool] = {}
        self.job_ids = {j.id for j in wf.jobs}
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

    def job_steps(self, job: ir.Job, env: dict[str, str], execution: str, group: int = 0) -> list[dict[str, Any]]:
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
        run = RUN if not group else RUN.replace("pipec_pod", f"pipec_group {group}")
        steps.append({"name": "Run" if not group else f"Run the group ({group} members, the lead last)",
                      "id": "run", "shell": "sh", "run": run, "env": step_env})
        publish_env = {k: step_env[k] for k in ("PIPEC_POD_DIR", "PIPEC_EXEC_MOUNT", "PIPEC_EXECUTION")}
        if job.id in self.input_readers:
            publish_env["PIPEC_PUBLISH_INPUTS"] = "1"
        steps.append({"name": "Collect the execution" + ("s" if group else ""), "if": "${{ !cancelled() }}",
                      "shell": "sh", "run": RUN.replace("pipec_pod", f"pipec_publish {group}"),
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
        ups = self.wf.upstream(job.id)
        if not self.after_continue(job.id):
            return None
        terms = ["!cancelled()"]
        for up in ups:
            for gh in self.parts.get(up, [up]):
                if self.wf.job(up).on_error is ir.OnError.CONTINUE:
                    terms.append(f"(needs.{gh}.result == 'success' || needs.{gh}.result == 'failure')")
                else:
                    terms.append(f"needs.{gh}.result == 'success'")
        return "${{ " + " && ".join(terms) + " }}"

    def job(self, job: ir.Job) -> None:
        group_size = job.executions if job.group is not None else 0
        job = self.shell_job(job)
        env, setup = self.job_env(job)
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
            elif not analysis.looped(src):
                # One execution upstream: its job outputs carry the value.
                env[f"PIPEC_VALUE_{j}"] = f"${{{{ needs.{src.id}.outputs.meta-{n}-text }}}}"
                env[f"PIPEC_VALUE_{j}_JSON"] = f"${{{{ needs.{src.id}.outputs.meta-{n}-json }}}}"
                setup.append(f"pipec_need PIPEC_VALUE_{j} {quote(src.id)} {quote(v.dep.source_key)}\n")
            else:
                # Matrix jobs overwrite their outputs: read every execution's stdout instead.
                key = quote(v.dep.source_key)
                setup.append(f"PIPEC_VALUE_{j}=$(pipec_metadata {quote(src.id)} {key} text)\n"
                             f"PIPEC_VALUE_{j}_JSON=$(pipec_metadata {quote(src.id)} {key} json)\n"
                             f"export PIPEC_VALUE_{j} PIPEC_VALUE_{j}_JSON\n")
                continue
            encoded += [f"PIPEC_VALUE_{j}", f"PIPEC_VALUE_{j}_JSON"]
        if encoded:
            env["PIPEC_ENCODED"] = " ".join(encoded)
        keys = self.meta_keys.get(job.id)
        if keys:
            env["PIPEC_METADATA"] = gha_text(json.dumps(keys, ensure_ascii=False))
        setup += analysis.env_lines(job)
        stages, gates = self.stages(job)
        setup.append(self.staging_lines(job, gates, stages, self.fetches(job)))
        if self.wf.upstream(job.id):
            env["PIPEC_UPSTREAM"] = " ".join(self.wf.upstream(job.id))
        sweep = job.sweep
        rows: list[dict[str, Any]] = []
        try:
            if group_size:
                for r, row in enumerate(sweep.iter_rows() if sweep is not None else [{}]):
                    values = self.values(job, row, mapping)
                    env[f"PIPEC_COMMAND_{r}"] = gha_text(self.script_text(job, values, False))
                    env[f"PIPEC_PARAMETERS_{r}"] = gha_text(self.parameters_json(job, values))
                setup.append('pipec_distributed "$PIPEC_RANK"\n')
            elif sweep is None or sweep.size <= 1:
                values = self.values(job, analysis.single_row(job), mapping)
                env["PIPEC_COMMAND"] = self.script_text(job, values, False)
                env["PIPEC_PARAMETERS"] = self.parameters_json(job, values)
            else:
                for i, row in enumerate(sweep.iter_rows()):
                    values = self.values(job, row, mapping)
                    rows.append({"i": i, "command": gha_text(self.script_text(job, values, False)),
                                 "parameters": gha_text(self.parameters_json(job, values))})
                env["PIPEC_COMMAND"] = "${{ matrix.command }}"
                env["PIPEC_PARAMETERS"] = "${{ matrix.parameters }}"
        except RenderError as exc:
            self.diags.error(f"cannot build the command of '{job.name}': {exc}", self.loc(job))
            return
        env["PIPEC_SETUP"] = "".join(setup + fills)
        for key in ("PIPEC_COMMAND", "PIPEC_PARAMETERS", "PIPEC_SETUP"):
            if key in env and not env[key].startswith("${{ matrix."):
                env[key] = gha_text(env[key])
        base: dict[str, Any] = {"name": gha_text(job.name)}
        needs = [gh for up in self.wf.upstream(job.id) for gh in self.parts.get(up, [up])]
        if needs:
            base["needs"] = needs
        cond = self.condition(job)
        if cond:
            base["if"] = cond
        base["runs-on"] = self.runs_on(job)
        if job.image and (job.image.startswith("-") or any(ch.isspace() or not ch.isprintable() for ch in job.image)):
            # docker (and the runner, which calls it) would read a leading '-' as an option.
            self.diags.error(f"image {job.image!r} of '{job.name}' is not an image reference: it starts with '-' "
                             "or holds spaces or control characters", self.loc(job))
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
                                   "pin a version tag (python:3.12) or a digest (python@sha256:...)")
        if job.on_error in (ir.OnError.STOP_ALL, ir.OnError.RETRY):
            base["permissions"] = {"contents": "read", "actions": "write"}
        if job.kind is ir.JobKind.DEPLOYMENT and job.deployment is not None:
            base["environment"] = gha_text(job.deployment.name)
        if job.timeout_seconds:
            base["timeout-minutes"] = max(1, math.ceil(job.timeout_seconds / 60))
        if keys and not analysis.looped(job):
            base["outputs"] = {f"meta-{n}-{form}": f"${{{{ steps.run.outputs.meta-{n}-{form} }}}}"
                               for n in range(len(keys)) for form in ("json", "text", "items")}
        if fanout is not None:
            n = self.meta_keys[fanout.source].index(fanout.key)
            strategy = {"fail-fast": job.on_error in (ir.OnError.STOP_ALL, ir.OnError.RETRY),
                        "matrix": {"include": f"${{{{ fromJSON(needs.{fanout.source}.outputs.meta-{n}-items) }}}}"}}
            if sweep is not None and sweep.max_parallel:
                strategy["max-parallel"] = sweep.max_parallel
            # An empty list arrives as the one row "none" (a matrix may not be empty): no step runs.
            steps = [{**s, "if": _both("matrix.i != 'none'", s.get("if"))}
                     for s in self.job_steps(job, env, "${{ matrix.i }}")]
            self.jobs[job.id] = {**base, "strategy": strategy, "steps": steps}
            self.parts[job.id] = [job.id]
            return
        if group_size:
            self.jobs[job.id] = {**base, "steps": self.job_steps(job, env, "0", group_size)}
            self.parts[job.id] = [job.id]
            return
        if not rows:
            self.jobs[job.id] = {**base, "steps": self.job_steps(job, env, "0")}
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
            self.jobs[gh] = {**base, "strategy": strategy, "steps": self.job_steps(job, env, "${{ matrix.i }}")}
        self.parts[job.id] = ids

    # ---------------------------------------------------------------------------------------
    def compile(self) -> dict[str, tuple[str, bool]] | None:
        self.dispatch_inputs()
        errors = self.diags.error_count()
        for job in self.wf.jobs:
            self.job(job)
        if self.diags.error_count() > errors:
            return None
        on: dict[str, Any] = {"workflow_dispatch": {"inputs": self.inputs} if self.inputs else None}
        for event in ("push", "pull_request"):
            if event in self.gha:
                on[event] = {k: [gha_text(str(x)) for x in v] for k, v in dict(self.gha[event]).items()} or None
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
        doc = {
            "name": static_text(self.wf.name),
            "on": on,
            "permissions": {"contents": "read"},
            "concurrency": {"group": f"pipec-{workflow_id}-${{{{ github.ref }}}}", "cancel-in-progress": False},
            "defaults": {"run": {"shell": "bash"}},
            "jobs": self.jobs,
        }
        header = (f"# Generated by pipec from {_comment(self.wf.source_file)}, pipeline {_comment(self.wf.name)}.\n"
                  f"# Commit this file with {RUNTIME_PATH}; run it from the Actions tab or on its schedule.\n")
        text = header + _pin_comments(dump(doc), self.uses, self.comments)
        if len(text.encode("utf-8")) > MAX_FILE_BYTES:
            self.diags.error(f"the workflow for '{self.wf.name}' is {len(text.encode('utf-8')):,} bytes; GitHub "
                             f"starts no run of a workflow file over {MAX_FILE_BYTES:,} bytes", self.loc(self.wf))
            return None
        return {f".github/workflows/{workflow_id}.yml": (text, False)}


def _both(term: str, condition: str | None) -> str:
    """`${{ term && condition }}`, keeping the condition's status function (a condition without
    one means success() && ...)."""
    if condition is None:
        return "${{ " + term + " }}"
    inner = condition.removeprefix("${{ ").removesuffix(" }}")
    return "${{ (" + inner + ") && " + term + " }}"


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
