"""Slurm back end: one batch script per job, a submit.sh that chains them with dependencies,
and the POSIX-sh runtime every execution sources.

    OUT/<pipeline>/submit.sh
    OUT/<pipeline>/pipec-runtime.sh
    OUT/<pipeline>/jobs/<job>.sbatch
    OUT/<pipeline>/jobs/<job>.params.tsv      one row per execution (sweeps)
    OUT/<pipeline>/jobs/<job>.parameters      parameters.json of each execution, one per line
    OUT/<pipeline>/jobs/<job>.commands        the command of each execution, one per line

Commands are rendered here, at compile time, exactly as Valohai renders them; each reaches
the job as a literal (a quoted heredoc, or a bash $'...' line), never through `eval` of
user text. Values a run may change (pipeline parameters given to submit.sh) are shell
variables inside the rendered command, so they too arrive byte for byte.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

import jinja2

from pipec import ir
from pipec.backends.shell import ansi_c, heredoc_delimiter, quote, substitute_paths
from pipec.command import CommandError, join_command, render_script
from pipec.config import Config
from pipec.errors import Diagnostics, Location
from pipec.passes.naming import safe_id
from pipec.resources import data_dir

DEFAULT_MAX_ARRAY_SIZE = 1001
DEFAULT_RETRIES = 2
VALOHAI_PATHS = {
    "/valohai/inputs": "VH_INPUTS_DIR",
    "/valohai/outputs": "VH_OUTPUTS_DIR",
    "/valohai/config": "VH_CONFIG_DIR",
}
DEFAULT_FETCH = {
    # IFS= keeps paths with spaces whole while still expanding wildcards.
    "file": 'IFS=; for f in $1; do cp -R -- "$f" "$2/"; done',
    "http": 'curl -fsSL --retry 3 -o "$2/$(basename "${1%%\\?*}")" "$1"',
    "https": 'curl -fsSL --retry 3 -o "$2/$(basename "${1%%\\?*}")" "$1"',
    # aws s3 cp has no wildcards: a pattern in the last path part becomes --include.
    "s3": 'case $1 in *[*?]*) aws s3 cp --recursive --exclude "*" --include "${1##*/}" "${1%/*}/" "$2/" ;; '
          '*) aws s3 cp "$1" "$2/" ;; esac',
    "gs": 'gsutil -m cp "$1" "$2/"',
    "azure": 'azcopy copy "$1" "$2/"',
}
SENTINEL = "@@PIPEC_P{salt}_{k}@@"


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


class _Compiler:
    def __init__(self, wf: ir.Workflow, config: Config, diags: Diagnostics):
        self.wf = wf
        self.config = config
        self.diags = diags
        self.slurm: dict[str, Any] = dict(config.data.get("slurm", {}))
        self.container = str(self.slurm.get("container", "none"))
        self.fetch = {**DEFAULT_FETCH, **config.data.get("fetch", {})}
        self.profiles: dict[str, dict[str, Any]] = dict(config.data.get("profiles", {}))
        self.max_array = int(self.slurm.get("max_array_size", DEFAULT_MAX_ARRAY_SIZE))
        self.retries = int(self.slurm.get("retries", DEFAULT_RETRIES))
        self.workflow_id = safe_id(wf.name)
        self.out = Output()
        self.params: list[_Param] = []
        # (job id, parameter) -> index of the pipeline parameter that may override it
        self.overridable: dict[tuple[str, str], int] = {}
        self.salt = _salt(wf)
        # (job id, parameter) -> (sentinel index, variable, shell command printing the value),
        # for values known only when the upstream has run (metadata and deployment edges).
        self.runtime: dict[tuple[str, str], tuple[int, str, str]] = {}
        for d in wf.dependencies:
            if d.kind in ir.RUNTIME_DEP_KINDS and wf.job(d.target).param(d.target_key) is not None:
                n = len(self.runtime)
                command = f"pipec_metadata {quote(d.source)} {quote(d.source_key)}"
                sweep = wf.job(d.target).sweep
                if sweep is not None and sweep.fanout is not None and sweep.fanout.param == d.target_key:
                    command = "pipec_fanout_item"  # each execution gets one item of the list
                self.runtime[(d.target, d.target_key)] = (len(wf.params) + n, f"PIPEC_VALUE_{n}", command)

    def sentinel(self, k: int) -> str:
        """Stands for pipeline parameter k while rendering; never equal to text the author wrote."""
        return SENTINEL.format(salt=self.salt, k=k)

    def loc(self, obj: Any) -> Location:
        return getattr(obj, "location", None) or self.wf.location or Location(self.wf.source_file, 1, 1)

    # ---------------------------------------------------------------------------------------
    def pipeline_params(self) -> None:
        for k, p in enumerate(self.wf.params):
            var = f"PIPEC_PARAM_{k}"
            ptypes = set()
            for job_id, pname in p.targets:
                job = self.wf.job(job_id)
                param = job.param(pname)
                if param is None:
                    continue
                if job.sweep is not None and pname in job.sweep.names:
                    continue  # the sweep decides; warned by the front end
                if param.type == "flag":
                    self.diags.warning(
                        f"pipeline parameter '{p.name}' sets flag '{pname}' of '{job.name}'; on Slurm a flag "
                        "is compiled in and cannot be changed at submit time", self.loc(p))
                    continue
                try:
                    render_script(job, {pname: self.sentinel(k)})
                except (CommandError, ValueError, KeyError):
                    self.diags.warning(
                        f"pipeline parameter '{p.name}': the pass-as format of '{pname}' in '{job.name}' "
                        "needs the value at compile time, so it cannot be changed at submit time on Slurm",
                        self.loc(p))
                    continue
                self.overridable[(job_id, pname)] = k
                ptypes.add(param.type)
            ptype = ptypes.pop() if len(ptypes) == 1 else "string"
            value = p.value
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            text = "" if value is None else (json.dumps(value) if isinstance(value, bool) else str(value))
            self.params.append(_Param(p.name, var, ptype, text, text or "empty"))

    # ---------------------------------------------------------------------------------------
    def resources(self, job: ir.Job) -> list[str]:
        res = job.resources
        profile = self.profiles.get(res.profile or "", {}) if res.profile else {}
        cpus = res.cpu if res.cpu is not None else profile.get("cpus")
        memory = res.memory_mb if res.memory_mb is not None else profile.get("memory")
        gpus = res.gpus or int(profile.get("gpus", 0))
        gpu_type = res.gpu_type or profile.get("gpu_type")
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
        if self.wf.dialect == "valohai":
            binds += [(f"${var}", path) for path, var in VALOHAI_PATHS.items()]
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

    def values(self, job: ir.Job, row: dict[str, Any] | None) -> dict[str, Any]:
        values = dict(row or {})
        for (job_id, pname), k in self.overridable.items():
            if job_id == job.id and pname not in values:
                values[pname] = self.sentinel(k)
        for (job_id, pname), (k, _, _) in self.runtime.items():
            if job_id == job.id:
                values[pname] = self.sentinel(k)
        return values

    def script_text(self, job: ir.Job, values: dict[str, Any]) -> str:
        text = join_command(render_script(job, values), "\n")
        mapping = {self.sentinel(k): f"PIPEC_PARAM_{k}" for k in range(len(self.wf.params))}
        mapping.update({self.sentinel(k): var for k, var, _ in self.runtime.values()})
        if self.wf.dialect == "valohai" and (self.container == "none" or not job.image):
            mapping.update(VALOHAI_PATHS)  # in a container these paths are bind-mounted instead
        return substitute_paths(text, mapping)

    def parameters_json(self, job: ir.Job, values: dict[str, Any]) -> str:
        data = {p.name: p.value for p in job.params}
        data.update(values)
        return json.dumps(data, ensure_ascii=False, sort_keys=False, default=str)

    # ---------------------------------------------------------------------------------------
    def stages(self, job: ir.Job) -> tuple[list[dict[str, str]], list[str]]:
        stages = []
        gates = []
        for d in self.wf.incoming(job.id):
            up = self.wf.job(d.source)
            if up.on_error is ir.OnError.CONTINUE and d.source not in gates:
                gates.append(d.source)
            if d.kind in (ir.DepKind.FILES, ir.DepKind.DEPLOY_FILE):
                slot = job.input(d.target_key)
                keep = slot.keep_directories if slot else "none"
                stages.append({"job": d.source, "area": "outputs", "glob": d.source_key, "slot": d.target_key,
                               "keep": keep if keep in ("full", "suffix") else "none"})
            elif d.kind is ir.DepKind.INPUT_FILES:
                stages.append({"job": d.source, "area": "inputs", "glob": d.source_key + "/*", "slot": d.target_key,
                               "keep": "none"})
        return stages, gates

    def fetches(self, job: ir.Job) -> list[dict[str, str]]:
        out = []
        for slot in job.inputs:
            for url in slot.urls:
                scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
                command = self.fetch.get(scheme, "")
                if not command:
                    self.diags.warning(
                        f"input '{slot.name}' of '{job.name}' uses {scheme}:// URLs, which have no fetch command; "
                        "the job will fail when staging it", self.loc(slot),
                        f'map the scheme in pipec.toml: [fetch] {scheme} = "<command taking $1=URL, $2=directory>"')
                if scheme == "file" and url.startswith("file://"):
                    url = url[len("file://"):]
                out.append({"slot": slot.name, "url": url, "command": command})
        return out

    # ---------------------------------------------------------------------------------------
    def job_files(self, job: ir.Job) -> None:
        if job.condition is not None:
            self.diags.error(f"'{job.name}' runs only when {job.condition.source}'s {job.condition.key} matches; "
                             "the Slurm back end does not compile conditions yet", self.loc(job))
            return
        if job.kind is ir.JobKind.DEPLOYMENT:
            command = self.config.data.get("deploy", {}).get("command")
            if not command:
                self.diags.error(f"deployment node '{job.name}' needs a deploy command on Slurm", self.loc(job),
                                 'add to pipec.toml: [deploy] command = "<your deploy command>"; it runs with the '
                                 "deployment's files staged under $VH_INPUTS_DIR")
                return
            job = _deploy_job(job, command)
        elif job.kind is ir.JobKind.STUB:
            job = replace(job, script=("true",))
        stages, gates = self.stages(job)
        fetches = self.fetches(job)
        executions = job.executions
        context: dict[str, Any] = {
            "job": job, "container": self.container, "executions": executions,
            # Lines repeated for every input are rendered here rather than in the template:
            # at 10,000 jobs the template's per-line filter calls dominate compile time.
            "staging": _staging_lines(gates, stages, fetches),
            "retries": self.retries if job.on_error is ir.OnError.RETRY else 0,
            "command_prefix": self.launcher(job),
            "group_prefix": self.launcher(job, in_srun=True),
            "directives": [_option("job-name", f"{self.workflow_id}.{job.id}")] + self.resources(job),
            "overridable": [
                {"sentinel": self.sentinel(k), "var": f"PIPEC_PARAM_{k}", "type": job.param(pname).type}
                for (job_id, pname), k in sorted(self.overridable.items(), key=lambda kv: kv[1])
                if job_id == job.id
            ],
            "runtime_values": [
                {"sentinel": self.sentinel(k), "var": var, "command": command}
                for (job_id, _), (k, var, command) in self.runtime.items() if job_id == job.id
            ],
            "environment": "".join(
                [f"export {e.name}={quote(e.value)}\n" for e in job.env]
                + [f"{var}=$({command} text)\nexport {var}\n"
                   for (job_id, _), (_, var, command) in self.runtime.items() if job_id == job.id]),
            "fanout": None,
        }
        for e in job.env:
            if not e.name.isidentifier() or not e.name.isascii():
                self.diags.error(f"environment variable name '{e.name}' is not a valid shell name", self.loc(e))
                return
        if job.sweep is not None and job.sweep.fanout is not None:
            fanout = job.sweep.fanout
            context["fanout"] = {"source": fanout.source, "key": fanout.key, "parallel": job.sweep.max_parallel or 0}
            if job.group is not None:
                self.diags.error(f"'{job.name}' is a group that fans out at run time; Slurm cannot start an "
                                 "unknown number of members together", self.loc(job.sweep))
                return
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
                    commands.append(ansi_c(self.script_text(job, values)))
                    parameters.append(ansi_c(self.parameters_json(job, values)))
                    table.append("\t".join([str(i), *(_cell(row.get(n)) for n in names)]))
                self.out.add(f"jobs/{job.id}.commands", "\n".join(commands) + "\n")
                self.out.add(f"jobs/{job.id}.parameters", "\n".join(parameters) + "\n")
                self.out.add(f"jobs/{job.id}.params.tsv", "\n".join(table) + "\n")
            else:
                one_row = job.sweep is not None and job.sweep.kind is not ir.SweepKind.RUNTIME
                values = self.values(job, job.sweep.row(0) if one_row else None)
                script = self.script_text(job, values)
                context["script"] = script
                context["delimiter"] = heredoc_delimiter(script)
                context["parameters_json"] = self.parameters_json(job, values)
        except CommandError as exc:
            self.diags.error(f"cannot build the command of '{job.name}': {exc}", self.loc(job))
            return
        self.out.add(f"jobs/{job.id}.sbatch", _templates().get_template("slurm/job.sbatch.j2").render(context), True)

    def group_file(self, job: ir.Job, context: dict[str, Any]) -> None:
        """A group as one heterogeneous job: a component per member, the lead first."""
        group = next(g for g in self.wf.groups if g.name == job.group)
        if group.members != (job.id,):
            self.diags.error(f"group '{group.name}' has several member jobs; the Slurm back end compiles "
                             "groups of one job's executions only", self.loc(group))
            return
        rows = list(job.sweep.iter_rows()) if job.sweep is not None else [{}]
        resources = self.resources(job)
        members = []
        try:
            for i, row in enumerate(rows):
                values = self.values(job, row)
                script = self.script_text(job, values)
                directives = [*( [context["directives"][0]] if i == 0 else []), "--ntasks=1", *resources]
                members.append({"directives": directives, "script": script, "delimiter": heredoc_delimiter(script),
                                "parameters_json": self.parameters_json(job, values)})
        except CommandError as exc:
            self.diags.error(f"cannot build the command of '{job.name}': {exc}", self.loc(job))
            return
        context = {**context, "members": members}
        self.out.add(f"jobs/{job.id}.sbatch", _templates().get_template("slurm/group.sbatch.j2").render(context), True)

    def submissions(self) -> list[str]:
        index = {j.id: n for n, j in enumerate(self.wf.jobs)}
        has_dependents = {d.source for d in self.wf.dependencies}
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
            logs = [f'--output="$PIPEC_RUN_DIR/logs/{job.id}/{log}.out"',
                    f'--error="$PIPEC_RUN_DIR/logs/{job.id}/{log}.err"']
            if executions > 1 and job.group is None:
                parallel = sweep.max_parallel if sweep is not None else None
                for offset in range(0, executions, self.max_array):
                    size = min(self.max_array, executions - offset)
                    array = f"--array=0-{size - 1}" + (f"%{parallel}" if parallel else "")
                    deps = common
                    if offset and parallel:
                        # %P limits one array; chaining the arrays keeps the limit for the sweep.
                        chained = ",".join(filter(None, [dependency, "afterany:$job_id"]))
                        deps = [f'--dependency="{chained}"', "--kill-on-invalid-dep=yes"]
                    chunks.append({"offset": offset, "args": [array, *deps, *logs]})
            else:
                chunks.append({"offset": 0, "args": [*common, *logs]})
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
            subs.append(_submission(job, f"ids_{n}", chunks, what, job.id in has_dependents))
        return subs

    def compile(self) -> Output:
        self.pipeline_params()
        for job in self.wf.jobs:
            self.job_files(job)
        context = {
            "workflow": self.wf, "workflow_id": self.workflow_id, "jobs": self.wf.jobs, "params": self.params,
            "submissions": self.submissions(),
        }
        self.out.add("submit.sh", _templates().get_template("slurm/submit.sh.j2").render(context), True)
        for trigger in self.wf.triggers:
            cron = trigger.cron.split()
            if len(cron) != 5 or not all(set(f) <= set("0123456789*/,-") for f in cron):
                self.diags.error(f"schedule {trigger.cron!r} of '{self.wf.name}' is not a five-field cron line "
                                 "of numbers, *, /, - and ,", self.config.locate(self.wf.name))
                continue
            self.out.add("install-cron.sh", _templates().get_template("slurm/install-cron.sh.j2").render(
                workflow=self.wf, workflow_id=self.workflow_id, trigger=trigger,
                scrontab=bool(self.slurm.get("scrontab", False))), True)
        runtime = (data_dir("templates") / "runtime" / "pipec-runtime.sh").read_text(encoding="utf-8")
        self.out.add("pipec-runtime.sh", runtime)
        return self.out


def _salt(wf: ir.Workflow) -> str:
    """A suffix that makes the sentinel absent from every text of the workflow (deterministic)."""
    texts = [json.dumps([p.value for p in wf.params], default=str)]
    for job in wf.jobs:
        texts.extend(job.script)
        texts.append(json.dumps([p.value for p in job.params], default=str))
        if job.sweep is not None and job.sweep.kind is not ir.SweepKind.RUNTIME:
            texts.append(json.dumps([a.values for a in job.sweep.axes] + [r for r in job.sweep.rows], default=str))
    blob = "\n".join(texts)
    n = 0
    while f"@@PIPEC_P{n or ''}_" in blob:
        n += 1
    return str(n) if n else ""


def _submission(job: ir.Job, var: str, chunks: list[dict[str, Any]], what: str, needed: bool) -> str:
    """submit.sh's lines for one job (rendered here: the template loop is slow at scale)."""
    name = f" ({_comment(job.name)})" if job.id != job.name else ""
    lines = [f"# {job.id}{name}: {_comment(what)}\n"]
    for i, chunk in enumerate(chunks):
        lines.append(f"export PIPEC_ARRAY_OFFSET={chunk['offset']}\n")
        args = "".join(f" {a}" for a in chunk["args"])
        lines.append(f'submit {quote(job.id)}{args} "$PIPEC_SCRIPT_DIR/jobs/{job.id}.sbatch"\n')
        if needed:
            lines.append(f"{var}=$job_id\n" if i == 0 else f'{var}="${{{var}}}:$job_id"\n')
    return "".join(lines)


def _staging_lines(gates: list[str], stages: list[dict[str, str]], fetches: list[dict[str, str]]) -> str:
    lines = [f"pipec_gate {quote(up)}\n" for up in gates]
    lines += [f"pipec_stage {quote(s['job'])} {s['area']} {quote(s['glob'])} {quote(s['slot'])} {s['keep']}\n"
              for s in stages]
    lines += [f"pipec_fetch {quote(f['slot'])} {quote(f['url'])} {quote(f['command'])}\n" for f in fetches]
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



def _deploy_job(job: ir.Job, command: str) -> ir.Job:
    assert job.deployment is not None
    d = job.deployment
    env = (
        ir.EnvVar("PIPEC_DEPLOYMENT", d.name),
        ir.EnvVar("PIPEC_ENDPOINTS", " ".join(d.endpoints)),
        ir.EnvVar("PIPEC_DEPLOY_FILES", " ".join(f"{name}={path}" for name, path in d.files)),
    )
    inputs = tuple(ir.Input(name=name) for name, _ in d.files)
    return replace(job, script=(command,), env=job.env + env, inputs=job.inputs + inputs)


def compile_workflows(workflows: list[ir.Workflow], config: Config, diags: Diagnostics) -> dict[str, tuple[str, bool]]:
    """All files for all workflows, keyed by path relative to the output directory."""
    files: dict[str, tuple[str, bool]] = {}
    for wf in workflows:
        out = _Compiler(wf, config, diags).compile()
        prefix = safe_id(wf.name)
        for path, content in out.files.items():
            files[f"{prefix}/{path}"] = content
    return files
