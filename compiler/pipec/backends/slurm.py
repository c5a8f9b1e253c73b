"""Slurm back end: one batch script per job, a submit.sh that chains them with dependencies,
and the POSIX-sh runtime every execution sources.

    OUT/<pipeline>/submit.sh
    OUT/<pipeline>/pipec-runtime.sh
    OUT/<pipeline>/jobs/<job>.sbatch
    OUT/<pipeline>/jobs/<job>.params.tsv      one row per execution (sweeps)
    OUT/<pipeline>/jobs/<job>.parameters      parameters.json of each execution, one per line
    OUT/<pipeline>/jobs/<job>.commands        the command of each execution, one per line

Commands are rendered here, at compile time (pipec.backends.command); each reaches
the job as a literal (a quoted heredoc, or a bash $'...' line), never through `eval` of
user text. Values a run may change (pipeline parameters given to submit.sh) are shell
variables inside the rendered command, so they too arrive byte for byte.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import jinja2

from pipec import ir
from pipec.backends import analysis
from pipec.backends.command import RenderError
from pipec.backends.common import JobRenderer, RuntimeValue
from pipec.backends.runtime import runtime_script
from pipec.backends.shell import ansi_c, heredoc_delimiter, quote
from pipec.config import Config
from pipec.datafiles import data_dir
from pipec.errors import Diagnostics
from pipec.names import safe_id
from pipec.targets import FANOUT_OVER_SWEEPS, METADATA_INTO_GROUPS, METADATA_OUT_OF_GROUPS, Target

DEFAULT_MAX_ARRAY_SIZE = 1001


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


TARGET = Target("slurm", "Slurm", frozenset({METADATA_INTO_GROUPS, METADATA_OUT_OF_GROUPS, FANOUT_OVER_SWEEPS}))


class _Compiler(JobRenderer):
    engine = TARGET.title

    def __init__(self, wf: ir.Workflow, config: Config, diags: Diagnostics):
        super().__init__(wf, config, diags)
        self.slurm: dict[str, Any] = dict(config.data.get("slurm", {}))
        self.container = str(self.slurm.get("container", "none"))
        self.max_array = int(self.slurm.get("max_array_size", DEFAULT_MAX_ARRAY_SIZE))
        self.retries = self.slurm.get("retries")  # [slurm] retries overrides the job's own count
        self.workflow_id = safe_id(wf.name)
        self.out = Output()
        self.params: list[_Param] = []

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

    # ---------------------------------------------------------------------------------------
    def launcher(self, job: ir.Job, in_srun: bool = False) -> str:
        """What runs the command: nothing (host), `apptainer exec`, or srun with pyxis flags.
        Inside a group the command is already started by `srun --het-group`, so only the
        container part is returned there."""
        if self.container == "none" or not job.image:
            return ""
        binds = [("$PIPEC_RUN_DIR", "$PIPEC_RUN_DIR")]
        binds += [(f"$PIPEC_{area.upper()}_DIR", self.wf.layout.path(area)) for area in ir.AREAS]
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
    def job_files(self, job: ir.Job) -> None:
        job = self.shell_job(job)
        stages, gates = self.stages(job)
        fetches = self.fetches(job)
        executions = job.executions
        context: dict[str, Any] = {
            "job": job, "container": self.container, "executions": executions,
            # Lines repeated for every input are rendered here rather than in the template:
            # at 10,000 jobs the template's per-line filter calls dominate compile time.
            "staging": self.staging_lines(job, gates, stages, fetches),
            "retries": int(self.retries if self.retries is not None else job.retries)
            if job.on_error is ir.OnError.RETRY else 0,
            "command_prefix": self.launcher(job),
            "group_prefix": self.launcher(job, in_srun=True),
            "directives": [_option("job-name", f"{self.workflow_id}.{job.id}")] + self.resources(job),
            "overridable": [
                {"sentinel": self.sentinel(k), "var": f"PIPEC_PARAM_{k}", "type": job.param(pname).type}
                for pname, k in self.job_overrides(job.id)
            ],
            "runtime_values": [
                {"sentinel": self.sentinel(v.index), "var": v.var, "command": self.value_command(v)}
                for _, v in self.job_runtime(job.id)
            ],
            "environment": "".join(
                analysis.env_lines(job)
                # `&& printf x`: $(...) would drop the value's trailing newlines; a failure still ends the job.
                + [f"{v.var}=$({self.value_command(v)} text && printf x)\n{v.var}=${{{v.var}%x}}\nexport {v.var}\n"
                   for _, v in self.job_runtime(job.id)]),
            "fanout": None,
            "layout": self.wf.layout.spec(),
        }
        if job.sweep is not None and job.sweep.fanout is not None:
            fanout = job.sweep.fanout
            context["fanout"] = {"source": fanout.source, "key": fanout.key, "parallel": job.sweep.max_parallel or 0}
        if job.group is not None:
            self.group_file(job, context)
            return
        try:
            if executions > 1:
                assert job.sweep is not None
                commands, parameters, table = [], [], []
                names = list(job.sweep.names)
                table.append("\t".join(["execution", *names]))
                for i, row in enumerate(job.sweep.iter_rows()):
                    values = self.values(job, row)
                    commands.append(ansi_c(self.script_text(job, values, self.container != "none" and bool(job.image))))
                    parameters.append(ansi_c(self.parameters_json(job, values)))
                    table.append("\t".join([str(i), *(_cell(row.get(n)) for n in names)]))
                self.out.add(f"jobs/{job.id}.commands", "\n".join(commands) + "\n")
                self.out.add(f"jobs/{job.id}.parameters", "\n".join(parameters) + "\n")
                self.out.add(f"jobs/{job.id}.params.tsv", "\n".join(table) + "\n")
            else:
                values = self.values(job, analysis.single_row(job))
                script = self.script_text(job, values, self.container != "none" and bool(job.image))
                context["script"] = script
                context["delimiter"] = heredoc_delimiter(script)
                context["parameters_json"] = self.parameters_json(job, values)
        except RenderError as exc:
            self.diags.error(f"cannot build the command of '{job.name}': {exc}", self.loc(job))
            return
        self.out.add(f"jobs/{job.id}.sbatch", _templates().get_template("slurm/job.sbatch.j2").render(context), True)

    def group_file(self, job: ir.Job, context: dict[str, Any]) -> None:
        """A group as one heterogeneous job: a component per member, the lead first."""
        rows = list(job.sweep.iter_rows()) if job.sweep is not None else [{}]
        resources = self.resources(job)
        members = []
        try:
            for i, row in enumerate(rows):
                values = self.values(job, row)
                script = self.script_text(job, values, self.container != "none" and bool(job.image))
                directives = [*( [context["directives"][0]] if i == 0 else []), "--ntasks=1", *resources]
                members.append({"directives": directives, "script": script, "delimiter": heredoc_delimiter(script),
                                "parameters_json": self.parameters_json(job, values)})
        except RenderError as exc:
            self.diags.error(f"cannot build the command of '{job.name}': {exc}", self.loc(job))
            return
        context = {**context, "members": members}
        self.out.add(f"jobs/{job.id}.sbatch", _templates().get_template("slurm/group.sbatch.j2").render(context), True)

    def submissions(self) -> list[str]:
        index = {j.id: n for n, j in enumerate(self.wf.jobs)}
        subs = []
        for n, job in enumerate(self.wf.jobs):
            after: dict[str, list[str]] = {"afterok": [], "afterany": []}
            for up in self.wf.upstream(job.id):
                kind = "afterany" if self.wf.job(up).on_error is ir.OnError.CONTINUE else "afterok"
                after[kind].append(f"${{ids_{index[up]}}}")
            dependency = ",".join(f"{k}:{':'.join(v)}" for k, v in after.items() if v)
            common = []
            if dependency:
                common += [f'--dependency="{dependency}"', "--kill-on-invalid-dep=yes"]
            executions = job.executions
            sweep = job.sweep
            chunks = []
            log = "%A_%a" if executions > 1 and job.group is None else "%j"
            # $PIPEC_LOG_DIR is RUN/logs with every % doubled: sbatch expands % in these paths.
            logs = [f'--output="$PIPEC_LOG_DIR/{job.id}/{log}.out"',
                    f'--error="$PIPEC_LOG_DIR/{job.id}/{log}.err"']
            if executions > 1 and job.group is None:
                parallel = sweep.max_parallel if sweep is not None else None
                for offset in range(0, executions, self.max_array):
                    size = min(self.max_array, executions - offset)
                    array = f"--array=0-{size - 1}" + (f"%{parallel}" if parallel else "")
                    deps = common
                    if offset and parallel:
                        # %P limits one array; chaining the arrays keeps the limit for the sweep.
                        chained = ",".join(filter(None, [dependency, f"afterany:${{ids_{n}##*:}}"]))
                        deps = [f'--dependency="{chained}"', "--kill-on-invalid-dep=yes"]
                    chunks.append({"offset": offset, "size": size, "args": [array, *deps, *logs]})
            else:
                size = 0 if sweep is not None and sweep.fanout is not None else executions
                chunks.append({"offset": 0, "size": size, "args": [*common, *logs]})
            what = f"{executions} executions" if executions > 1 else "1 execution"
            if sweep is not None and sweep.fanout is not None:
                what = f"one execution per item of {sweep.fanout.source}'s {sweep.fanout.key}, submitted when it is known"
            if job.group is not None:
                what = f"a group of {executions} members started together (heterogeneous job)"
            if executions > self.max_array:
                what += f" in {len(chunks)} arrays of at most {self.max_array}"
            if sweep is not None and sweep.max_parallel and executions > 1:
                what += f", at most {sweep.max_parallel} at once"
            what += f"; on error: {job.on_error.value}"
            subs.append(_submission(job, f"ids_{n}", chunks, what))
        return subs

    def watch_options(self) -> list[tuple[str, str]]:
        """Where watcher jobs run: the [slurm] partition, account and qos (a profile's partition
        is the job's own; any partition serves a watcher)."""
        return [(key.upper(), str(self.slurm[key])) for key in ("partition", "account", "qos") if self.slurm.get(key)]

    def compile(self) -> Output:
        self.pipeline_params()
        for job in self.wf.jobs:
            self.job_files(job)
        context = {
            "workflow": self.wf, "workflow_id": self.workflow_id, "jobs": self.wf.jobs, "params": self.params,
            "submissions": self.submissions(), "watch_options": self.watch_options(),
        }
        self.out.add("submit.sh", _templates().get_template("slurm/submit.sh.j2").render(context), True)
        self.out.add("watch.sbatch", _templates().get_template("slurm/watch.sbatch.j2").render(context), True)
        for trigger in self.wf.triggers:
            self.out.add("install-cron.sh", _templates().get_template("slurm/install-cron.sh.j2").render(
                workflow=self.wf, workflow_id=self.workflow_id, trigger=trigger,
                scrontab=bool(self.slurm.get("scrontab", False))), True)
        runtime = runtime_script("slurm")
        self.out.add("pipec-runtime.sh", runtime)
        return self.out


def _submission(job: ir.Job, var: str, chunks: list[dict[str, Any]], what: str) -> str:
    """submit.sh's lines for one job (rendered here: the template loop is slow at scale). `var`
    collects the ids of the job's submitted chunks (`:id` each; none when --resume finds that
    the job has nothing left to run), which its dependents wait for."""
    name = f" ({_comment(job.name)})" if job.id != job.name else ""
    lines = [f"# {job.id}{name}: {_comment(what)}\n", f'{var}=""\n']
    for chunk in chunks:
        lines.append(f"export PIPEC_ARRAY_OFFSET={chunk['offset']}\n")
        args = "".join(f" {a}" for a in chunk["args"])
        lines.append(f'submit {quote(job.id)} {job.on_error.value} {chunk["size"]}{args} '
                     f'"$PIPEC_SCRIPT_DIR/jobs/{job.id}.sbatch"\n')
        lines.append(f'{var}="${{{var}}}${{job_id:+:$job_id}}"\n')
    return "".join(lines)


def _pyxis_image(image: str) -> str:
    """enroot's image syntax separates the registry with `#`: nvcr.io/nvidia/pytorch -> nvcr.io#nvidia/pytorch."""
    first, sep, rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return f"{first}#{rest}"
    return image


def _raw_option(option: str) -> str:
    name, sep, value = option.partition("=")
    return f"{name}={quote(value)}" if sep else name


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
