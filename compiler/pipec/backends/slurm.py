"""Slurm back end: one batch script per job, a submit.sh that chains them with dependencies,
and the POSIX-sh runtime every execution sources.

    OUT/<pipeline>/submit.sh
    OUT/<pipeline>/pipec-runtime.sh
    OUT/<pipeline>/jobs/<job>.sbatch
    OUT/<pipeline>/jobs/<job>.params.tsv      one row per execution (sweeps)
    OUT/<pipeline>/jobs/<job>.parameters      parameters.json of each execution, one per line
    OUT/<pipeline>/jobs/<job>.values          the values each execution's command reads, one line each
                                              (sweeps whose executions share one command text)
    OUT/<pipeline>/jobs/<job>.commands        instead of .values, where the executions' commands
                                              differ: the command of each execution, one per line
    OUT/<pipeline>/jobs/<job>.grid            instead of these tables, for a product grid of more
                                              than TABLE_ROWS executions: its value lists (check_sweeps)
    OUT/<pipeline>/jobs/<group>.sbatch        a group: one heterogeneous job, a component per member

Every job starts in the run directory (sbatch --chdir) and runs its command in the directory
submit.sh was called from (pipec_workdir). [slurm] signal and requeue become #SBATCH lines; a
signal for the batch script alone (B:) is forwarded by the job script to its command.

A group (jobs that start together and reach each other by host name) is ONE heterogeneous
Slurm job named after the group: one component per member execution, each with its member's
own resources, image, command, environment and staged inputs, the lead first. Its members
keep their own execution directories (RUN/<job>/<execution>), so a job downstream of any
member stages from that member as from any job; every dependency on a member is a
dependency on the group's Slurm job.

Commands are rendered here, at compile time (pipec.backends.command), by reference
(command.Refs): the sbatch body shows the command in a quoted heredoc, each parameter value a
quoted expansion of PIPEC_P_<parameter>, and sets those variables before it (shell-quoted
assignments; a sweep's own values are bash $'...' assignment lines of jobs/<job>.values, which
eval only assigns). A sweep whose executions' commands differ as text (a swept flag, a list
of another length, a format) keeps a table of literal commands (jobs/<job>.commands, bash
$'...' lines). Nothing reaches the job through `eval` of user text. Values a run may change
(pipeline parameters given to submit.sh, run-time values, a huge grid's values) are shell
variables inside the rendered command too, so every value arrives byte for byte.

What a task carries besides its command (OSMO): the run's id is PIPEC_RUN_ID, which submit.sh
makes once per run (kept in RUN/.pipec/run-id, so a resumed run keeps it). Files are written by
the job script, on the host, below the execution directory (RUN/<job>/<n>/files/<path>): on the
host every mention of a file's path (command, environment, other files, upload URLs) reads
PIPEC_FILE_<k> instead; in a container (apptainer, pyxis) each file is bind-mounted at its own
path. Contents several jobs write (JobRenderer.shared_files: a runnable pipeline's task runner)
are written once, as OUT/<pipeline>/shared/file-<k>, and each job script reads them from there. Credentials come from files on the nodes (slurm.sh, pipec_secret): a credential's keys as
environment variables, or as a directory of one file per key (below the execution directory,
removed when the job ends; its path rewritten on the host like a file's, bind-mounted in a
container). Exit actions and uploads are the core runtime's (PIPEC_EXIT_ACTIONS,
PIPEC_ON_SUCCESS, pipec_checkpoint): a rescheduled status runs the command again inside the same
job, on the same allocation, up to the job's retries.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import jinja2

from pipec import __version__, ir
from pipec.backends import analysis
from pipec.backends.command import NeedsValue, Refs, RenderError, render, render_word, shared_command
from pipec.backends.common import JobRenderer, RuntimeValue
from pipec.backends.runtime import runtime_script
from pipec.backends.shell import ansi_c, heredoc_delimiter, quote
from pipec.config import Config
from pipec.datafiles import data_dir
from pipec.errors import Diagnostics
from pipec.names import safe_id
from pipec.targets import (
    FANOUT_OVER_SWEEPS,
    GROUP_FEATURES,
    METADATA_INTO_GROUPS,
    METADATA_OUT_OF_GROUPS,
    TASK_FEATURES,
    Target,
)

DEFAULT_MAX_ARRAY_SIZE = 1001  # Slurm's MaxArraySize default
DEFAULT_MAX_JOB_COUNT = 10000  # Slurm's MaxJobCount default: every array task counts as a job
# A sweep of at most this many executions gets row tables (jobs/<job>.commands, .parameters,
# .params.tsv); a larger product grid is computed in the job from its value lists (jobs/<job>.grid).
TABLE_ROWS = 10_000
# [slurm] signal: [R|B|RB|BR:][SIG]NAME[@SECONDS] (the schema allows only these names).
_SIGNAL = re.compile(r"(?:(?P<flags>[RB]{1,2}):)?(?:SIG)?(?P<name>[A-Z0-9]+)(?:@\d+)?")
# How long a member of a group with a barrier waits for the others to be up (container start-up
# and image pulls included); a site changes it with PIPEC_BARRIER_TIMEOUT in submit.sh's environment.
BARRIER_TIMEOUT = 600
# Every job of a run starts in the run directory (every node has it; the job script then enters
# the directory submit.sh was called from, where commands run: pipec_workdir).
_CHDIR = '--chdir="$PIPEC_RUN_DIR"'
# Where a credential is kept on the nodes when pipec.toml does not say ([secrets.<name>] slurm).
CREDENTIALS_DIR = "~/.pipec/credentials"


@dataclass
class Output:
    """Files to write: relative path -> (text, executable)."""

    files: dict[str, tuple[str, bool]] = field(default_factory=dict)

    def add(self, path: str, text: str, executable: bool = False) -> None:
        self.files[path] = (text, executable)


def _comment(text: Any) -> str:
    """Text safe inside a `#` comment: one line, no control characters."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else " " for ch in text)


_env: jinja2.Environment | None = None


def _templates() -> jinja2.Environment:
    global _env
    if _env is None:
        _env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
            auto_reload=False,  # the templates ship with pipec: no need to look at them again per job
        )
        _env.filters["q"] = lambda v: quote(str(v))
        _env.filters["ansi_c"] = ansi_c
        _env.filters["comment"] = _comment
    return _env


def _slurm_time(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)  # Slurm counts minutes and rounds seconds up
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return f"{days}-{hours:02d}:{mins:02d}:00"


def _option(name: str, value: Any) -> str:
    # sbatch reads #SBATCH lines with its own quoting rules: quotes group and `#` starts a
    # comment, so any value that is not plainly safe is shlex-quoted (as submitit does).
    return f"--{name}={quote(str(value))}"


@dataclass
class _Param:
    """A pipeline parameter as submit.sh sees it."""

    name: str
    var: str
    type: str
    default: str
    default_text: str
    choices: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class _Unit:
    """What submit.sh submits as one Slurm job: a job (several executions: an array), or a
    group (one heterogeneous job). `name` names its sbatch file, its log directory and its
    line in RUN/jobs.tsv; `var` collects its Slurm ids in submit.sh."""

    name: str
    jobs: tuple[ir.Job, ...]  # the job, or the group's member jobs, lead first
    var: str
    group: ir.Group | None = None

    @property
    def own_dirs(self) -> bool:
        """Whether its executions are RUN/<name>/<n>: a job's, or those of a group of one job
        (whose executions are the members) named like the group. Other groups name their
        members' executions (RUN/<member>/<n>) wherever runtime and submit.sh need them."""
        return len(self.jobs) == 1 and self.jobs[0].id == self.name


@dataclass(frozen=True)
class _Component:
    """One component of a group's heterogeneous job: one execution of a member job."""

    job: ir.Job
    execution: int
    row: dict[str, Any] | None

    @property
    def entry(self) -> str:
        """Its execution directory under the run directory."""
        return f"{self.job.id}/{self.execution}"


@dataclass
class _Task:
    """What a job's script does for what the job carries besides its command (files,
    credentials, exit actions, uploads), as runtime lines, each one logical line.

    `moved`: (path, variable) of what the command finds elsewhere than at its path (the host);
    `setup`: lines of the job script right after pipec_begin (files written, credentials read);
    `enter`: what a group member's own shell sets again after pipec_enter (its files' and
    credentials' variables); `environment`: its environment lines; `before_run`: lines right
    before pipec_run (exit actions, uploads on success, checkpoints); `binds`: (source, path)
    bind mounts of its container."""

    moved: tuple[tuple[str, str], ...] = ()
    setup: list[str] = field(default_factory=list)
    enter: list[str] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)
    before_run: list[str] = field(default_factory=list)
    binds: list[tuple[str, str]] = field(default_factory=list)


TARGET = Target("slurm", "Slurm", frozenset({METADATA_INTO_GROUPS, METADATA_OUT_OF_GROUPS, FANOUT_OVER_SWEEPS})
                | GROUP_FEATURES | TASK_FEATURES)


class _Compiler(JobRenderer):
    engine = TARGET.title

    def __init__(self, wf: ir.Workflow, config: Config, diags: Diagnostics):
        super().__init__(wf, config, diags)
        self.slurm: dict[str, Any] = dict(config.data.get("slurm", {}))
        self.container = str(self.slurm.get("container", "none"))
        self.max_array = int(self.slurm.get("max_array_size", DEFAULT_MAX_ARRAY_SIZE))
        self.max_jobs = int(self.slurm.get("max_job_count", DEFAULT_MAX_JOB_COUNT))
        self.retries = self.slurm.get("retries")  # [slurm] retries overrides the job's own count
        # [slurm] signal: its name (each command's own shell survives it), and whether it goes to
        # the batch script alone (B:), which then forwards it to the command.
        signal = _SIGNAL.fullmatch(str(self.slurm.get("signal", "")))
        self.signal = signal.group("name") if signal else None
        self.forward = self.signal if signal and "B" in (signal.group("flags") or "") else None
        self.workflow_id = safe_id(wf.name)
        # What every file's header says about where it comes from.
        self.origin = f"generated by pipec {__version__} from {_comment(wf.source_file)}"
        self.out = Output()
        self.params: list[_Param] = []
        self.computed: set[str] = set()  # jobs whose sweep rows are computed in the job (check_sweeps)
        self.rendered: dict[tuple[Any, ...], tuple[str, dict[str, str]]] = {}  # see by_reference

    def value_command(self, v: RuntimeValue) -> str:
        """Shell command printing a run-time value (takes a FORM argument: json or text)."""
        sweep = self.wf.job(v.dep.target).sweep
        if sweep is not None and sweep.fanout is not None and sweep.fanout.param == v.dep.target_key:
            return "pipec_fanout_item"  # each execution gets one item of the list
        return f"pipec_metadata {quote(v.dep.source)} {quote(v.dep.source_key)}"

    # ---------------------------------------------------------------------------------------
    def pipeline_params(self) -> None:
        self.find_overridable()
        for k, p in enumerate(self.wf.params):
            if not self.offered(k):
                continue
            text = self.default_text(k)
            self.params.append(_Param(p.name, f"PIPEC_PARAM_{k}", self.param_type(k), text, text or "empty",
                                      self.param_choices(k), p.description or ""))

    # ---------------------------------------------------------------------------------------
    def resources(self, job: ir.Job) -> list[str]:
        res = job.resources
        profile = self.profile(job)
        cpus, memory, gpus, gpu_type = res.cpu, res.memory_mb, res.gpus, res.gpu_type  # profiles: a pass
        partition = profile.get("partition") or self.slurm.get("partition")
        out = []
        if partition:
            out.append(_option("partition", partition))
        for key in ("account", "qos"):
            if self.slurm.get(key):
                out.append(_option(key, self.slurm[key]))
        if job.timeout_seconds:
            out.append(f"--time={_slurm_time(job.timeout_seconds)}")
        if cpus:
            out.append(f"--cpus-per-task={max(1, math.ceil(float(cpus)))}")
        if memory:
            out.append(f"--mem={int(math.ceil(float(memory)))}M")
        if res.storage_mb:
            out.append(f"--tmp={int(res.storage_mb)}M")  # local scratch disk the node must have
        if gpus:
            out.append(_option("gres", f"gpu:{gpu_type}:{gpus}" if gpu_type else f"gpu:{gpus}"))
        out.extend(quote(str(o)) if not str(o).startswith("--") else _raw_option(str(o))
                   for o in self.slurm.get("options", []))
        return out

    def run_options(self) -> list[str]:
        """The [slurm] settings of a whole job (in a group's script: of its first component), each
        only when set: signal, requeue."""
        out = []
        if self.slurm.get("signal"):
            out.append(_option("signal", self.slurm["signal"]))
        requeue = self.slurm.get("requeue")
        if requeue is True:
            # A job that starts again writes its log again: appended, every start's log is kept.
            out += ["--requeue", "--open-mode=append"]
        elif requeue is False:
            out.append("--no-requeue")
        return out

    def command_script(self, script: str) -> str:
        """An execution's command.sh. With [slurm] signal, its own shell survives the signal,
        which is meant for the programs it runs (they get the default action or their own)."""
        if self.signal is None:
            return script
        line = f"trap : {self.signal}  # [slurm] signal: for the programs below, not this shell\n"
        if script.startswith("#!"):
            shebang, _, rest = script.partition("\n")
            return f"{shebang}\n{line}{rest}"
        return line + script

    # ---------------------------------------------------------------------------------------
    def launcher(self, job: ir.Job, in_srun: bool = False, extra: list[tuple[str, str]] | None = None) -> str:
        """What runs the command: nothing (host), `apptainer exec`, or srun with pyxis flags.
        Inside a group the command is already started by `srun --het-group`, so only the
        container part is returned there. `extra`: more (source, path) bind mounts (the job's
        files and credential directories: sources are variables, paths are checked)."""
        if self.container == "none" or not job.image:
            return ""
        binds = [("$PIPEC_RUN_DIR", "$PIPEC_RUN_DIR")]
        binds += [(f"$PIPEC_{area.upper()}_DIR", self.wf.layout.path(area)) for area in ir.AREAS]
        binds += [(src, _double_quoted(path)) for src, path in extra or ()]
        if self.container == "apptainer":
            flags = ["apptainer", "exec"] + (["--nv"] if job.resources.gpus else [])
            for src, dst in binds:
                flags.append(f'--bind="{src}:{dst}"')
            flags.append(quote(f"docker://{job.image}"))
            return " ".join(flags) + " "
        mounts = ",".join(f"{src}:{dst}" for src, dst in binds)
        flags = [f"--container-image={quote(_pyxis_image(job.image))}", f'--container-mounts="{mounts}"',
                 '--container-workdir="$PWD"']
        return ("" if in_srun else "srun --ntasks=1 ") + " ".join(flags) + " "

    # ---------------------------------------------------------------------------------------
    def job_parts(self, job: ir.Job) -> dict[str, Any]:
        """What a job's script holds whatever runs it (a job file, or a group's component):
        its staging, retries, the submit-time and run-time values of its parameters."""
        stages, gates = self.stages(job)
        return {
            # Lines repeated for every input are rendered here rather than in the template:
            # at 10,000 jobs the template's per-line filter calls dominate compile time.
            "staging": self.staging_lines(job, gates, stages, self.fetches(job)),
            "retries": self.job_retries(job),
            "overridable": [
                {"sentinel": self.sentinel(k), "var": f"PIPEC_PARAM_{k}", "type": job.param(pname).type}
                for pname, k in self.job_overrides(job.id)
            ],
            "runtime_values": [
                {"sentinel": self.sentinel(v.index), "var": v.var, "command": self.value_command(v)}
                for _, v in self.job_runtime(job.id)
            ],
        }

    def job_retries(self, job: ir.Job) -> int:
        """How many times pipec_run runs a failed command again: a job retried on error, or
        one whose exit actions reschedule some statuses (only those then run again); [slurm]
        retries overrides the job's own count."""
        rescheduled = job.exit_codes is not None and bool(job.exit_codes.reschedule)
        if job.on_error is not ir.OnError.RETRY and not rescheduled:
            return 0
        return int(self.retries if self.retries is not None else job.retries)

    def credential_path(self, name: str) -> str:
        """Where credential `name` is kept on the nodes, as a shell word (`~/` is $HOME there)."""
        path = str(self.secret_config(name).get("slurm") or f"{CREDENTIALS_DIR}/{name}")
        if path == "~":
            return '"$HOME"'
        if path.startswith("~/"):
            return '"$HOME"/' + quote(path[2:]) if path[2:] else '"$HOME"/'
        return quote(path)

    def task(self, job: ir.Job, hosts: dict[str, str] | None = None,
             numbers: itertools.count | None = None) -> _Task:
        """The runtime lines for a job's files, credentials, exit actions and uploads (see
        _Task). `hosts`: its group's host variables; `numbers`: in a group, where the main
        script reads every member's credentials, the numbers of the PIPEC_CREDENTIAL_<n>
        variables holding them until the member's own shell gives them their names."""
        out = _Task()
        mounted = self.mounted(job)
        # The job script runs on the host: files are written below the execution directory, and
        # a credential's directory is made there.
        files = self.moved_files(job, in_container=False)
        mounts = tuple((s.mount, f"PIPEC_CREDENTIAL_DIR_{n}")
                       for n, s in enumerate(s for s in job.secrets if s.mount is not None))
        on_host = files + mounts
        out.moved = () if mounted else on_host
        if mounted:
            for what, path in [*((f, f.path) for f in job.files), *((s, s.mount) for s in job.secrets if s.mount)]:
                if ":" in path or "," in path:  # what separates bind mounts
                    self.diags.error(f"'{job.name}' puts a file or credential at {path!r}, which cannot be "
                                     f"bind-mounted into its container with {self.container} (it holds ':' or ',')",
                                     self.loc(what), 'rename it, or run on the host: [slurm] container = "none"')
            out.binds = [(f"${var}", path) for path, var in on_host]
        defs = [f'{var}="$PIPEC_EXEC_DIR/files"{quote(path)}\n' for path, var in files]
        defs += [f'{var}="$PIPEC_EXEC_DIR/.pipec/credentials/{n}"\n' for n, (_, var) in enumerate(mounts)]
        if on_host:
            defs.append(f"export {' '.join(var for _, var in on_host)}\n")
        out.setup += defs
        out.enter += defs
        if files:
            out.setup.append('rm -rf "$PIPEC_EXEC_DIR/files"\n')
        for n, ((_, var), f) in enumerate(zip(files, job.files)):
            contents = render_word(f.contents, self.wf.layout, mounted, hosts, out.moved) if f.contents else "''"
            k = self.shared_use(job, n, contents)
            if k is not None:
                # Written once beside the job scripts; read keeping its last newlines.
                shared = self.shared_file_var(k)
                self.out.add(f"shared/file-{k}", f"{next(t for (t, _), kk in self.shared_files.items() if kk == k)}")
                out.setup.append(f'{shared}=$(cat "$PIPEC_SCRIPT_DIR/shared/file-{k}"; printf x) && '
                                 f'{shared}=${{{shared}%x}}\n')
                contents = f'"${shared}"'
            out.setup.append(f'pipec_write_file "${var}" {int(f.base64)} {contents}\n')
        mount_vars = iter(var for _, var in mounts)
        for secret in job.secrets:
            path = self.credential_path(secret.name)
            if secret.mount is not None:
                out.setup.append(f'pipec_secret_dir {quote(secret.name)} {path} "${next(mount_vars)}"\n')
            for variable, key in secret.env:  # shell names the runtime does not set (the names pass)
                if numbers is None:
                    out.setup.append(f"pipec_secret {variable} {quote(secret.name)} {path} {quote(key)}\n"
                                     f"export {variable}\n")
                else:
                    held = f"PIPEC_CREDENTIAL_{next(numbers)}"
                    out.setup.append(f"pipec_secret {held} {quote(secret.name)} {path} {quote(key)}\n")
                    out.enter.append(f'export {variable}="${held}"\n')
        out.environment = analysis.env_lines(job, self.wf.layout, mounted, hosts, out.moved)
        actions = self.exit_actions(job)
        if actions:
            out.before_run.append(f"PIPEC_EXIT_ACTIONS={quote(actions)}\n")
        # Uploads run in the job script, on the host: paths as the host sees them.
        starts, on_success = self.upload_lines(job, False, hosts, on_host)
        if on_success:
            out.before_run.append(f"PIPEC_ON_SUCCESS={quote(on_success)}\n")
        if starts:
            out.before_run.append(starts)
            if mounted:
                for upload in job.uploads:
                    inside = upload.source and not isinstance(upload.source[0], ir.Path) \
                        and not any(_under(_text(upload.source), path) for path, _ in on_host)
                    if upload.every_seconds is not None and inside:
                        self.diags.warning(
                            f"'{job.name}' checkpoints {_text(upload.source)!r}, a path inside its container: the "
                            "checkpoint is uploaded by the job script on the host, which reads that path there",
                            self.loc(upload), "checkpoint a directory below the task's outputs", code="PC507")
        return out

    def runtime_lines(self, job: ir.Job) -> list[str]:
        """Lines exporting the run-time values a job's parameters receive (upstream metadata)."""
        # `&& printf x`: $(...) would drop the value's trailing newlines; a failure still ends the job.
        return [f"{v.var}=$({self.value_command(v)} text && printf x)\n{v.var}=${{{v.var}%x}}\nexport {v.var}\n"
                for _, v in self.job_runtime(job.id)]

    def mounted(self, job: ir.Job) -> bool:
        """Whether the job runs in a container that mounts the layout's paths."""
        return self.container != "none" and bool(job.image)

    def job_files(self, job: ir.Job) -> None:
        job = self.shell_job(job)
        executions = job.executions
        try:
            task = self.task(job)
        except RenderError as exc:
            self.diags.error(f"cannot build the environment or files of '{job.name}': {exc}", self.loc(job))
            return
        context: dict[str, Any] = {
            **self.job_parts(job),
            "job": job, "container": self.container, "executions": executions, "origin": self.origin,
            "command_prefix": self.launcher(job, extra=task.binds),
            "directives": [_option("job-name", f"{self.workflow_id}.{job.id}"), *self.run_options(),
                           *self.resources(job)],
            "setup": "".join(task.setup),
            "environment": "".join(task.environment + self.runtime_lines(job)),
            "before_run": "".join(task.before_run),
            "fanout": None, "grid": None, "forward": self.forward,
            "layout": self.wf.layout.spec(),
            # The command when it is written in the body (else each execution's is a line of
            # jobs/<job>.commands), the values it reads, and those a sweep's line gives each execution.
            "script": None, "values": "", "varying": [],
        }
        if job.sweep is not None and job.sweep.fanout is not None:
            fanout = job.sweep.fanout
            context["fanout"] = {"source": fanout.source, "key": fanout.key, "parallel": job.sweep.max_parallel or 0}
        try:
            if executions > 1 and job.id in self.computed:
                context.update(self.grid_file(job, task))
            elif executions > 1:
                context.update(self.row_tables(job, task))
            else:
                values = self.values(job, analysis.single_row(job))
                script, env = self.by_reference(job, values, task.moved)
                script = self.command_script(script)
                context.update(script=script, delimiter=heredoc_delimiter(script),
                               values=_exports(env, "The values this execution's command reads."),
                               parameters_json=self.parameters_json(job, values))
        except RenderError as exc:
            self.diags.error(f"cannot build the command of '{job.name}': {exc}", self.loc(job))
            return
        self.out.add(f"jobs/{job.id}.sbatch", _templates().get_template("slurm/job.sbatch.j2").render(context), True)

    def by_reference(self, job: ir.Job, values: dict[str, Any], moved: tuple[tuple[str, str], ...]
                     ) -> tuple[str, dict[str, str]]:
        """One execution's command rendered by reference (command.Refs) and the values it reads.
        Jobs running one command with the same values (the nodes of one step) share a rendering:
        at 10,000 jobs rendering is much of the compile."""
        # repr tells values apart that == does not (1, 1.0 and True render differently).
        key = (job.command, repr(job.params), tuple((k, repr(v)) for k, v in values.items()), self.mounted(job),
               moved)
        found = self.rendered.get(key)
        if found is None:
            refs = Refs()
            text = render(job.command, job.params, values, self.wf.layout, self.mounted(job), None, moved, refs)
            found = self.rendered[key] = (text, refs.env)
        return found

    def row_tables(self, job: ir.Job, task: _Task) -> dict[str, Any]:
        """A sweep's rows as tables beside its script, line n+1 for execution n: parameters.json
        of each (bash $'...' lines), params.tsv for people, and what its command reads. When every
        execution's command reads the same by reference (command.Refs), that one text is the
        body's (returned, with the values every execution shares) and jobs/<job>.values gives each
        execution the rest (bash $'...' assignments); otherwise jobs/<job>.commands holds each
        execution's literal command (bash $'...' lines)."""
        sweep = job.sweep
        assert sweep is not None
        parameters, table, rows, values = [], [], [], []
        names = list(sweep.names)
        table.append("\t".join(["execution", *names]))
        for i, row in enumerate(sweep.iter_rows()):
            rows.append(row)
            values.append(self.values(job, row))
            parameters.append(ansi_c(self.parameters_json(job, values[-1])))
            table.append("\t".join([str(i), *(_cell(row.get(n)) for n in names)]))
        self.out.add(f"jobs/{job.id}.parameters", "\n".join(parameters) + "\n")
        self.out.add(f"jobs/{job.id}.params.tsv", "\n".join(table) + "\n")
        shared = self.probed_rows(job, task, names, rows, values[0]) or self.rendered_rows(job, task, names, values)
        if shared is None:  # the commands differ as text: each execution's is literal, a line of its own
            commands = [ansi_c(self.command_script(render(job.command, job.params, v, self.wf.layout,
                                                          self.mounted(job), None, task.moved)))
                        for v in values]
            self.out.add(f"jobs/{job.id}.commands", "\n".join(commands) + "\n")
            return {}
        script, first, columns = shared
        same = {var: text for var, text in first.items()
                if var not in columns or all(t == text for t in columns[var])}
        varying = [var for var in first if var not in same]
        if varying:
            self.out.add(f"jobs/{job.id}.values", "".join(
                " ".join(f"{var}={ansi_c(columns[var][i])}" for var in varying) + "\n" for i in range(len(rows))))
        script = self.command_script(script)
        return {"script": script, "delimiter": heredoc_delimiter(script), "varying": varying,
                "values": _exports(same, "The values the command reads that every execution shares.")}

    def probed_rows(self, job: ir.Job, task: _Task, names: list[str], rows: list[dict[str, Any]],
                    first: dict[str, Any]) -> _Shared | None:
        """What every execution of a sweep reads (see rendered_rows), found without rendering
        each one, which at 10,000 rows is most of the compile: when every swept value is plain
        text (a string or a number: no list, none unset, no path the command finds elsewhere),
        the command rendered once with each swept value a variable, as grid_file does, is every
        execution's command if it reads exactly as the first one's rendered by reference
        (`first`: its values); each execution's variables then hold its values' text. None
        where that does not hold (rendered_rows decides)."""
        mounted = self.mounted(job)
        paths = [path for path, _ in task.moved] + ([] if mounted else [self.wf.layout.path(a) for a in ir.AREAS])
        for row in rows:
            for name in names:
                value = row.get(name)
                if type(value) not in _PLAIN or (type(value) is str and any(p in value for p in paths)):
                    return None
        probe = _named_refs(names)
        row = {name: ir.Late(probe.var(name)) for name in names}
        try:
            script = render(job.command, job.params, self.values(job, row), self.wf.layout, mounted, None,
                            task.moved, probe)
        except NeedsValue:  # a swept value is written into the command (a flag, a format)
            return None
        refs = _named_refs(names)
        if render(job.command, job.params, first, self.wf.layout, mounted, None, task.moved, refs) != script:
            return None
        swept = {row[name].var: name for name in names if row[name].var in refs.env}
        if {var: text for var, text in refs.env.items() if var not in swept} != probe.env:
            return None
        return script, refs.env, {var: [str(r[name]) for r in rows] for var, name in swept.items()}

    def rendered_rows(self, job: ir.Job, task: _Task, names: list[str], values: list[dict[str, Any]]
                      ) -> _Shared | None:
        """What every execution of a sweep reads, each rendered by reference: their one command
        text, or None when the texts (or the variables read) differ."""
        shared = shared_command(job.command, job.params, values, self.wf.layout, self.mounted(job), None,
                                task.moved, names)
        if shared is None:
            return None
        script, envs = shared
        return script, envs[0], {var: [env[var] for env in envs] for var in envs[0]}

    def grid_file(self, job: ir.Job, task: _Task) -> dict[str, Any]:
        """A product grid too large for row tables (see check_sweeps): its value lists go to
        jobs/<job>.grid, each value as the command reads it and as JSON, and the job picks its own
        from its execution number, as ir.sweep_row does. The command and parameters.json are
        written once, each value read from its parameter's variable (command.Refs: the swept ones
        set from the grid, the others in the body) and filled into parameters.json from its
        placeholder."""
        sweep = job.sweep
        assert sweep is not None
        row: dict[str, Any] = {}  # the row every execution is rendered with: its values are variables
        axes = []
        first = len(self.wf.params) + len(self.runtime)  # the late values' numbers in use
        refs = Refs()  # the swept parameters name their variables first, the others after them
        for j, axis in enumerate(sweep.axes):
            late = ir.Late(refs.var(axis.name), self.sentinel(first + j))
            row[axis.name] = late
            axes.append({"index": j, "var": late.var, "sentinel": late.token, "size": len(axis.values),
                         "name": axis.name})
        values = self.values(job, row)
        script = self.command_script(render(job.command, job.params, values, self.wf.layout, self.mounted(job),
                                            None, task.moved, refs))
        sizes = " x ".join(f"{len(a.values):,}" for a in sweep.axes)
        lines = [f"# pipec grid of job {job.id} ({_comment(job.name)}), {self.origin}:\n",
                 f"# {sizes} = {sweep.size:,} executions. Execution n takes, of each parameter, the value at\n",
                 "# its digit of n (the last parameter varying fastest), as the command reads it (_text_)\n",
                 "# and as parameters.json holds it (_json_). Sourced by the job script.\n"]
        for j, axis in enumerate(sweep.axes):
            lines.append(f"# {_comment(axis.name)}\n")
            lines.append(f"pipec_grid_text_{j}=(" + " ".join(ansi_c(_value_text(v)) for v in axis.values) + ")\n")
            lines.append(f"pipec_grid_json_{j}=("
                         + " ".join(ansi_c(json.dumps(v, ensure_ascii=False)) for v in axis.values) + ")\n")
        self.out.add(f"jobs/{job.id}.grid", "".join(lines))
        return {"script": script, "delimiter": heredoc_delimiter(script),
                "values": _exports(refs.env, "The values the command reads that every execution shares."),
                "parameters_json": self.parameters_json(job, values),
                "grid": {"file": f"{job.id}.grid", "axes": axes[::-1]}}

    def check_sweeps(self) -> bool:
        """Decide, from each sweep's size alone and before anything is built, how it runs: refused
        when Slurm would not hold its jobs ([slurm] max_job_count: every array task counts, and
        each array's watcher); row tables up to TABLE_ROWS executions; a larger product grid
        computed in the job (self.computed), when its values reach the command as plain text;
        anything else larger refused. Errors are located at the job (the task node)."""
        ok = True
        for job in self.wf.jobs:
            sweep, executions = job.sweep, job.executions
            if sweep is None or executions <= 1:
                continue
            arrays = math.ceil(executions / self.max_array)
            if executions + arrays > self.max_jobs:
                self.diags.error(
                    f"'{job.name}' runs {executions:,} executions{_shape(sweep)}: more jobs than Slurm holds at once: "
                    "every execution is an array task, which Slurm counts as a job, and with the watchers of its "
                    f"{arrays:,} arrays ([slurm] max_array_size = {self.max_array:,}: Slurm's MaxArraySize) the run "
                    f"needs {executions + arrays:,}; [slurm] max_job_count = {self.max_jobs:,} (Slurm's MaxJobCount) "
                    "is the most the cluster holds", self.loc(job),
                    "sweep fewer values, or set [slurm] max_job_count and max_array_size in pipec.toml to the "
                    "cluster's MaxJobCount and MaxArraySize if they are larger (scontrol show config)")
                ok = False
                continue
            if executions <= TABLE_ROWS or sweep.kind is ir.SweepKind.ROWS:
                continue  # the rows are tables (explicit rows: as many as the file holds)
            why = self.not_computable(job)
            if why is None:
                self.computed.add(job.id)
                continue
            self.diags.error(
                f"'{job.name}' runs {executions:,} executions{_shape(sweep)}: pipec writes the command of each "
                f"execution of a sweep into tables only up to {TABLE_ROWS:,} executions, and computes a larger "
                f"one in the job only when it is a product grid whose values reach the command as text; {why}",
                self.loc(job), f"sweep at most {TABLE_ROWS:,} executions")
            ok = False
        return ok

    def not_computable(self, job: ir.Job) -> str | None:
        """Why a sweep's rows cannot be computed in the job (None when they can)."""
        sweep = job.sweep
        assert sweep is not None
        if sweep.kind is not ir.SweepKind.PRODUCT:
            return f"this is a {sweep.origin or sweep.kind.value.replace('_', ' ')}, whose values are sampled"
        paths = [path for path, _ in self.moved_files(job, in_container=False)]
        if not self.mounted(job):
            paths += [self.wf.layout.path(area) for area in ir.AREAS]
        for j, axis in enumerate(sweep.axes):
            param = job.param(axis.name)
            if param is None:
                return f"'{axis.name}' is no parameter of its step"
            if param.multiple or not self.renders_late(job, axis.name, len(self.wf.params) + j):
                return (f"the command writes '{axis.name}' in a form (a flag, several values, a format) built "
                        "when compiling")
            for value in axis.values:
                if isinstance(value, (list, tuple, dict)):
                    return f"'{axis.name}' takes a list value"
                if isinstance(value, str) and any(path in value for path in paths):
                    return f"a value of '{axis.name}' names a path the command finds elsewhere ({value!r})"
        return None

    # ---------------------------------------------------------------------------------------
    def units(self) -> list[_Unit]:
        """What submit.sh submits, in an order where every unit follows those it waits for: a
        group is submitted once, after the upstreams of all its members and before every job
        downstream of any member. Without groups of several jobs this is the jobs' own order."""
        index = {j.id: n for n, j in enumerate(self.wf.jobs)}
        groups = {g.name: g for g in self.wf.groups}
        unit_of: dict[str, int] = {}  # job id -> its unit's number in `found`
        found: list[_Unit] = []
        seen: dict[str, int] = {}  # group name -> its unit's number
        for n, job in enumerate(self.wf.jobs):
            group = groups.get(job.group) if job.group is not None else None
            if job.group is not None and group is None:  # a group without its record: the job alone
                group = ir.Group(job.id, job.id, (job.id,))
            if group is not None and group.name in seen:
                unit_of[job.id] = seen[group.name]
                continue
            if group is None:
                found.append(_Unit(job.id, (job,), f"ids_{n}"))
            else:
                members = (group.lead, *(m for m in group.members if m != group.lead))
                found.append(_Unit(self.group_id(group), tuple(self.wf.job(m) for m in members),
                                   f"ids_{index[group.lead]}", group))
                seen[group.name] = len(found) - 1
            unit_of[job.id] = len(found) - 1
        after = [{unit_of[up] for j in unit.jobs for up in self.wf.upstream(j.id)} - {u}
                 for u, unit in enumerate(found)]
        ordered = _topological(after)
        if len(ordered) < len(found):  # only a group can close a cycle: the jobs were in order
            placed = set(ordered)
            for stuck in (found[u] for u in range(len(found)) if u not in placed and found[u].group is not None):
                assert stuck.group is not None
                self.diags.error(f"group '{stuck.group.name}' cannot start together: one of its members waits, "
                                 "through other jobs, for another member", self.loc(stuck.group))
        return [found[u] for u in ordered]

    def group_id(self, group: ir.Group) -> str:
        """The name of a group's sbatch file, log directory and jobs.tsv line."""
        return safe_id(group.name)

    def components(self, unit: _Unit) -> list[_Component]:
        """A group's components: every execution of every member job, the lead's first (its
        execution 0 is the group's lead), then the other members' in the group's order."""
        out = []
        for job in unit.jobs:
            rows = list(job.sweep.iter_rows()) if job.sweep is not None else [analysis.single_row(job)]
            out.extend(_Component(job, e, row) for e, row in enumerate(rows))
        return out

    def check_group(self, unit: _Unit, named: dict[str, list[_Unit]]) -> bool:
        """Whether a group can be one heterogeneous job (errors reported, located). `named`:
        the units of each name."""
        group = unit.group
        assert group is not None
        ok = True
        names = {j.id for j in unit.jobs}
        other = next((u for u in named[unit.name] if u is not unit), None)
        if other is not None:
            what = f"group '{other.group.name}'" if other.group is not None else f"job '{other.jobs[0].name}'"
            self.diags.error(f"group '{group.name}' and {what} would share the name '{unit.name}' (an sbatch file, "
                             "a log directory and a line in jobs.tsv)", self.loc(group), "rename one of them")
            ok = False
        for job in unit.jobs:
            peers = [up for up in self.wf.upstream(job.id) if up in names]
            if peers:
                self.diags.error(f"'{job.name}' waits for '{peers[0]}' of its own group '{group.name}'; the members "
                                 "of a group start together", self.loc(job))
                ok = False
        return ok

    def group_file(self, unit: _Unit, named: dict[str, list[_Unit]]) -> None:
        """A group as one heterogeneous job: a component per member execution, the lead first.
        Member k's host is PIPEC_HOST_<k>; a command names a peer job by its first execution's."""
        group = unit.group
        assert group is not None
        if not self.check_group(unit, named):
            return
        components = self.components(unit)
        hosts: dict[str, str] = {}
        for k, c in enumerate(components):
            hosts.setdefault(c.job.id, f"PIPEC_HOST_{k}")
        parts = {job.id: self.job_parts(self.shell_job(job)) for job in unit.jobs}
        lead_policy = unit.jobs[0].on_error.value
        members = []
        numbers = itertools.count()
        for k, c in enumerate(components):
            job = self.shell_job(c.job)
            values = self.values(job, c.row)
            refs = Refs()
            try:
                task = self.task(job, hosts, numbers)
                script = self.command_script(render(job.command, job.params, values, self.wf.layout,
                                                    self.mounted(job), hosts, task.moved, refs))
            except RenderError as exc:
                self.diags.error(f"cannot build the command of '{job.name}': {exc}", self.loc(job))
                return
            # A member other than the lead fails the group only where any member's failure does
            # (OSMO ignoreNonleadStatus: false): otherwise its failure is reported, never applied.
            policy = job.on_error.value if k == 0 or not group.lead_decides else ir.OnError.STOP_NEXT.value
            directives = [_option("job-name", f"{self.workflow_id}.{unit.name}"), *self.run_options()] if k == 0 else []
            members.append({
                **parts[job.id], "job": job, "execution": c.execution, "entry": c.entry, "policy": policy,
                "directives": [*directives, "--ntasks=1", *self.resources(job)],
                "script": script, "delimiter": heredoc_delimiter(script), "reads": bool(refs.env),
                "parameters_json": self.parameters_json(job, values),
                "setup": "".join(task.setup),
                # In the member's own shell: its values are its own (members may share names).
                "environment": ["    " + line for line in task.enter + task.environment
                                + _exports(refs.env, f"The values member {k}'s command reads.").splitlines(True)
                                + task.before_run],
                "prefix": self.launcher(job, in_srun=True, extra=task.binds),
            })
        context = {
            "group": group, "name": unit.name, "members": members, "container": self.container,
            "policy": lead_policy, "layout": self.wf.layout.spec(),
            # The members' executions as the guard takes them: numbers when they are RUN/<name>/<n>.
            "guarded": [str(m["execution"]) if unit.own_dirs else m["entry"] for m in members],
            "environment": "".join(line for job in unit.jobs for line in self.runtime_lines(job)),
            "barrier": group.barrier, "barrier_timeout": BARRIER_TIMEOUT, "any_fails": not group.lead_decides,
            "origin": self.origin, "forward": self.forward,
        }
        self.out.add(f"jobs/{unit.name}.sbatch", _templates().get_template("slurm/group.sbatch.j2").render(context),
                     True)

    def submissions(self, units: list[_Unit]) -> list[str]:
        var = {job.id: unit.var for unit in units for job in unit.jobs}
        subs = []
        for unit in units:
            # Ordered sets of the ids variables waited for; a group's members may share an upstream.
            after: dict[str, dict[str, None]] = {"afterok": {}, "afterany": {}}
            names = {j.id for j in unit.jobs}
            for job in unit.jobs:
                for up in self.wf.upstream(job.id):
                    if up not in names:
                        kind = "afterany" if self.wf.job(up).on_error is ir.OnError.CONTINUE else "afterok"
                        after[kind][f"${{{var[up]}}}"] = None
            for v in after["afterok"]:  # waiting for success already waits for the end
                after["afterany"].pop(v, None)
            dependency = ",".join(f"{k}:{':'.join(v)}" for k, v in after.items() if v)
            common = []
            if dependency:
                common += [f'--dependency="{dependency}"', "--kill-on-invalid-dep=yes"]
            if unit.group is not None:
                subs.append(self.group_submission(unit, common))
            else:
                subs.append(self.job_submission(unit, dependency, common))
        return subs

    def job_submission(self, unit: _Unit, dependency: str, common: list[str]) -> str:
        (job,) = unit.jobs
        executions = job.executions
        sweep = job.sweep
        chunks = []
        log = "%A_%a" if executions > 1 else "%j"
        # $PIPEC_LOG_DIR is RUN/logs with every % doubled: sbatch expands % in these paths.
        logs = [_CHDIR, f'--output="$PIPEC_LOG_DIR/{job.id}/{log}.out"',
                f'--error="$PIPEC_LOG_DIR/{job.id}/{log}.err"']
        if executions > 1:
            parallel = sweep.max_parallel if sweep is not None else None
            for offset in range(0, executions, self.max_array):
                size = min(self.max_array, executions - offset)
                array = f"--array=0-{size - 1}" + (f"%{parallel}" if parallel else "")
                deps = common
                if offset and parallel:
                    # %P limits one array; chaining the arrays keeps the limit for the sweep.
                    chained = ",".join(filter(None, [dependency, f"afterany:${{{unit.var}##*:}}"]))
                    deps = [f'--dependency="{chained}"', "--kill-on-invalid-dep=yes"]
                chunks.append({"offset": offset, "size": size, "args": [array, *deps, *logs]})
        else:
            size = 0 if sweep is not None and sweep.fanout is not None else executions
            chunks.append({"offset": 0, "size": size, "args": [*common, *logs]})
        what = f"{executions} executions" if executions > 1 else "1 execution"
        if sweep is not None and sweep.fanout is not None:
            what = f"one execution per item of {sweep.fanout.source}'s {sweep.fanout.key}, submitted when it is known"
        if executions > self.max_array:
            what += f" in {len(chunks)} arrays of at most {self.max_array}"
        if sweep is not None and sweep.max_parallel and executions > 1:
            what += f", at most {sweep.max_parallel} at once"
        what += f"; on error: {job.on_error.value}"
        return _submission(job.id, job.name, job.on_error.value, unit.var, chunks, what)

    def group_submission(self, unit: _Unit, common: list[str]) -> str:
        """One heterogeneous job. Its executions live in the member jobs' directories; where
        they are not RUN/<name>/<n>, --pipec-members names them (submit.sh: what --resume runs
        again, what the watcher marks)."""
        group = unit.group
        assert group is not None
        components = self.components(unit)
        logs = [_CHDIR, f'--output="$PIPEC_LOG_DIR/{unit.name}/%j.out"',
                f'--error="$PIPEC_LOG_DIR/{unit.name}/%j.err"']
        members = [] if unit.own_dirs else [f"--pipec-members={','.join(c.entry for c in components)}"]
        chunk = {"offset": 0, "size": len(components), "args": [*members, *common, *logs]}
        what = f"a group of {len(components)} members started together (heterogeneous job)"
        if len(unit.jobs) > 1:
            what += ": " + ", ".join(c.entry + (" (lead)" if k == 0 else "") for k, c in enumerate(components))
        policy = unit.jobs[0].on_error.value
        what += f"; on error: {policy}"
        return _submission(unit.name, group.name, policy, unit.var, [chunk], what)

    def watch_options(self) -> list[tuple[str, str]]:
        """Where watcher jobs run: the [slurm] partition, account and qos (a profile's partition
        is the job's own; any partition serves a watcher)."""
        return [(key.upper(), str(self.slurm[key])) for key in ("partition", "account", "qos") if self.slurm.get(key)]

    def compile(self) -> Output:
        if not self.check_sweeps():
            return self.out
        self.pipeline_params()
        units = self.units()
        named: dict[str, list[_Unit]] = {}
        for unit in units:
            named.setdefault(unit.name, []).append(unit)
        for unit in units:
            if unit.group is None:
                self.job_files(unit.jobs[0])
            else:
                self.group_file(unit, named)
        context = {
            "workflow": self.wf, "workflow_id": self.workflow_id, "units": [u.name for u in units],
            "params": self.params, "submissions": self.submissions(units), "watch_options": self.watch_options(),
            "origin": self.origin,
        }
        self.out.add("submit.sh", _templates().get_template("slurm/submit.sh.j2").render(context), True)
        self.out.add("watch.sbatch", _templates().get_template("slurm/watch.sbatch.j2").render(context), True)
        for trigger in self.wf.triggers:
            self.out.add("install-cron.sh", _templates().get_template("slurm/install-cron.sh.j2").render(
                workflow=self.wf, workflow_id=self.workflow_id, trigger=trigger, origin=self.origin,
                scrontab=bool(self.slurm.get("scrontab", False))), True)
        runtime = runtime_script("slurm")
        self.out.add("pipec-runtime.sh", runtime)
        return self.out


def _submission(name: str, display: str, policy: str, var: str, chunks: list[dict[str, Any]], what: str) -> str:
    """submit.sh's lines for one job or group (rendered here: the template loop is slow at
    scale). `var` collects the ids of its submitted chunks (`:id` each; none when --resume finds
    that it has nothing left to run), which its dependents wait for."""
    title = f" ({_comment(display)})" if name != display else ""
    lines = [f"# {name}{title}: {_comment(what)}\n", f'{var}=""\n']
    for chunk in chunks:
        lines.append(f"export PIPEC_ARRAY_OFFSET={chunk['offset']}\n")
        args = "".join(f" {a}" for a in chunk["args"])
        lines.append(f'submit {quote(name)} {policy} {chunk["size"]}{args} '
                     f'"$PIPEC_SCRIPT_DIR/jobs/{name}.sbatch"\n')
        lines.append(f'{var}="${{{var}}}${{job_id:+:$job_id}}"\n')
    return "".join(lines)


def _topological(after: list[set[int]]) -> list[int]:
    """Kahn's algorithm over units numbered in the jobs' order (`after[u]`: the units u waits
    for), the lowest number first among those ready, so jobs already in order stay so. Units
    on a cycle are left out."""
    downstream: dict[int, list[int]] = {}
    for u, ups in enumerate(after):
        for up in ups:
            downstream.setdefault(up, []).append(u)
    left = [len(ups) for ups in after]
    ready = [u for u, count in enumerate(left) if not count]
    heapq.heapify(ready)
    ordered = []
    while ready:
        u = heapq.heappop(ready)
        ordered.append(u)
        for other in downstream.get(u, ()):
            left[other] -= 1
            if not left[other]:
                heapq.heappush(ready, other)
    return ordered


def _pyxis_image(image: str) -> str:
    """enroot's image syntax separates the registry with `#`: nvcr.io/nvidia/pytorch -> nvcr.io#nvidia/pytorch."""
    first, sep, rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return f"{first}#{rest}"
    return image


def _text(word: ir.Word) -> str:
    """A word's literal text (its parts that are text)."""
    return "".join(p.text for p in word if isinstance(p, ir.Text))


def _under(text: str, path: str) -> bool:
    return text == path or text.startswith(path.rstrip("/") + "/")


def _double_quoted(text: str) -> str:
    """Text as it reads inside a shell word's double quotes."""
    return re.sub(r'([\\"$`])', r"\\\1", text)


def _raw_option(option: str) -> str:
    name, sep, value = option.partition("=")
    return f"{name}={quote(value)}" if sep else name


def _shape(sweep: ir.Sweep) -> str:
    """A product grid's shape for messages: ' (a grid of a 3 x b 2)'."""
    if sweep.kind is not ir.SweepKind.PRODUCT:
        return ""
    return " (a grid of " + " x ".join(f"{_comment(a.name)} {len(a.values):,}" for a in sweep.axes) + ")"


def _value_text(value: Any) -> str:
    """A swept value as a command reads it (what pipec.backends.command renders for it)."""
    return str(value)


# A sweep's command text, the values its first execution's command reads ({variable: text}), and
# each execution's text of those that may vary ({variable: [text of execution n]}).
_Shared = tuple[str, dict[str, str], dict[str, list[str]]]
_PLAIN = (str, int, float, bool)  # swept values a command reads as their text (str())


def _named_refs(names: list[str]) -> Refs:
    """Refs with the swept parameters' variables named first (in their order), so the names
    every rendering of a sweep gives them agree."""
    refs = Refs()
    for name in names:
        refs.var(name)
    return refs


def _exports(env: dict[str, str], comment: str) -> str:
    """Lines exporting the values a command reads (command.Refs.env), after a `#` comment: each
    value shell-quoted, or a bash $'...' string where it holds control characters, so each
    assignment is one line and no value is read as code."""
    if not env:
        return ""
    lines = [f"# {comment}\n"]
    lines += [f"export {var}={quote(text) if text.isprintable() else ansi_c(text)}\n" for var, text in env.items()]
    return "".join(lines)


def _cell(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")



def compile_workflows(workflows: list[ir.Workflow], config: Config, diags: Diagnostics) -> dict[str, tuple[str, bool]]:
    """All files for all workflows, keyed by path relative to the output directory."""
    files: dict[str, tuple[str, bool]] = {}
    for wf in workflows:
        out = _Compiler(wf, config, diags).compile()
        prefix = safe_id(wf.name)
        for path, content in out.files.items():
            files[f"{prefix}/{path}"] = content
    return files
