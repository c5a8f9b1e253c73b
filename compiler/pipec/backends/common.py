"""What every back end does the same way: render each execution's command and parameters.json,
stand in for values known only later (pipeline parameters given at submit time, sweep values
expanded by the engine, upstream metadata) with environment variables, and describe the
staging prologue of the runtime contract.

A value known only later is an `ir.Late`: the renderer writes a quoted expansion of the
variable holding it into the command, and parameters.json holds a placeholder token
(`@@PIPEC_LATE<salt>_<k>@@`, never equal to text the author wrote) that the runtime replaces
with the value as JSON.

A file whose contents (plain text, no tokens) two or more jobs of a workflow write is shipped
once per workflow (`shared_files`): each of those jobs writes it from the environment
variable PIPEC_SHARED_FILE_<k> (`shared_file_var`), which the back end fills from its single
copy (Argo: workflow annotation pipec-file-<k>; GitHub Actions: the workflow's `env:`). A
file only one job writes stays in that job's setup.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from pipec import ir
from pipec.backends import analysis
from pipec.backends.command import Refs, RenderError, render, render_word
from pipec.backends.regex import to_ere
from pipec.backends.shell import quote
from pipec.config import Config
from pipec.errors import Diagnostics, Location

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
# Upload commands by scheme: $1 is a local directory holding the files, $2 the storage URL.
DEFAULT_UPLOAD = {
    "file": 'mkdir -p "${2#file://}" && cp -R "$1/." "${2#file://}/"',
    "s3": 'aws s3 cp --recursive "$1" "$2"',
    "gs": 'gsutil -m rsync -r "$1" "$2"',
    "azure": 'azcopy copy "$1/*" "$2" --recursive',
}
SENTINEL = "@@PIPEC_LATE{salt}_{k}@@"  # not PIPEC_P_: those are the variables commands read
SHARED_FILE_VAR = "PIPEC_SHARED_FILE_{k}"  # contents k of the workflow's shared files


@dataclass(frozen=True)
class RuntimeValue:
    """A job parameter whose value an upstream prints at run time (metadata, deployment facts)."""

    index: int  # its number among the late values (its placeholder in parameters.json)
    var: str  # environment variable holding the value as text
    dep: ir.Dependency


class JobRenderer:
    """Per-workflow rendering state shared by the back ends.

    `engine` names the target in messages ("Slurm", "Argo").
    """

    engine = "the engine"

    def __init__(self, wf: ir.Workflow, config: Config, diags: Diagnostics):
        self.wf = wf
        self.config = config
        self.diags = diags
        self.fetch = {**DEFAULT_FETCH, **config.data.get("fetch", {})}
        self.upload = {**DEFAULT_UPLOAD, **config.data.get("upload", {})}
        self.meta_keys = analysis.metadata_keys(wf)
        self.fanout_keys = analysis.fanout_keys(wf)
        self.input_readers = analysis.input_readers(wf)
        self.profiles: dict[str, dict[str, Any]] = dict(config.data.get("profiles", {}))
        self.salt = _salt(wf)
        # (job id, parameter) -> index of the pipeline parameter that may override it
        self.overridable: dict[tuple[str, str], int] = {}
        # (job id, parameter) -> the upstream value it receives at run time
        self.runtime: dict[tuple[str, str], RuntimeValue] = {}
        for d in wf.dependencies:
            if d.kind in ir.RUNTIME_DEP_KINDS and wf.job(d.target).param(d.target_key) is not None:
                n = len(self.runtime)
                self.runtime[(d.target, d.target_key)] = RuntimeValue(len(wf.params) + n, f"PIPEC_VALUE_{n}", d)
        self._runtime_by_job: dict[str, list[tuple[str, RuntimeValue]]] = {}
        for (j, pname), v in self.runtime.items():
            self._runtime_by_job.setdefault(j, []).append((pname, v))
        self._overrides_by_job: dict[str, list[tuple[str, int]]] | None = None
        # late value number -> the environment variable holding it, for every value rendered late
        self.late_vars: dict[int, str] = {k: f"PIPEC_PARAM_{k}" for k in range(len(wf.params))}
        self.late_vars.update({v.index: v.var for v in self.runtime.values()})
        # Files two jobs or more write with the same contents, each shipped once per workflow:
        # (contents, base64) -> k, numbered in order of first use; (job id, file index) -> the
        # k that file of that job is written from.
        self.shared_files, self._shared_uses = _shared_files(wf)

    def sentinel(self, k: int) -> str:
        """The placeholder of late value k in parameters.json; never equal to text the author wrote."""
        return SENTINEL.format(salt=self.salt, k=k)

    def late(self, k: int, names: dict[int, str] | None = None) -> ir.Late:
        """Late value k, read from the variable `names` gives it (default: late_vars)."""
        return ir.Late((names or self.late_vars)[k], self.sentinel(k))

    def loc(self, obj: Any) -> Location:
        return getattr(obj, "location", None) or self.wf.location or Location(self.wf.source_file, 1, 1)

    def profile(self, job: ir.Job) -> dict[str, Any]:
        return self.profiles.get(job.resources.profile or "", {}) if job.resources.profile else {}

    # ---------------------------------------------------------------------------------------
    def find_overridable(self) -> None:
        """Which job parameters each pipeline parameter can change at submit time; warn where
        the way a parameter is written on the command line needs the value at compile time."""
        for k, p in enumerate(self.wf.params):
            for job_id, pname in p.targets:
                job = self.wf.job(job_id)
                param = job.param(pname)
                if param is None:
                    continue
                if job.sweep is not None and pname in job.sweep.names:
                    continue  # the sweep decides; warned by the front end
                if param.type == "flag":
                    self.diags.warning(
                        f"pipeline parameter '{p.name}' sets flag '{pname}' of '{job.name}'; on {self.engine} a "
                        "flag is compiled in and cannot be changed at submit time", self.loc(p), code="PC501")
                    continue
                if param.multiple:
                    # The value is a list whose items become separate arguments: the command's
                    # shape depends on it, so it is rendered at compile time.
                    self.diags.warning(
                        f"pipeline parameter '{p.name}' sets '{pname}' of '{job.name}', which takes several values; "
                        f"on {self.engine} it is compiled in with the value given here and cannot be changed at "
                        "submit time", self.loc(p),
                        "to change it, edit the pipeline parameter's default and compile again", code="PC502")
                    continue
                if not self.renders_late(job, pname, k):
                    self.diags.warning(
                        f"pipeline parameter '{p.name}': the command-line format of '{pname}' in '{job.name}' "
                        f"needs the value at compile time, so it cannot be changed at submit time on {self.engine}",
                        self.loc(p), code="PC503")
                    continue
                if (job_id, pname) in self.overridable:
                    other = self.wf.params[self.overridable[(job_id, pname)]]
                    self.diags.warning(
                        f"pipeline parameters '{other.name}' and '{p.name}' both set '{pname}' of '{job.name}'; "
                        f"'{p.name}' wins and '{other.name}' does not change it", self.loc(p), code="PC504")
                self.overridable[(job_id, pname)] = k

    def offered(self, k: int) -> bool:
        """Whether pipeline parameter k changes anything at submit time (after find_overridable);
        the others are compiled in and not offered, so that setting one is refused, not ignored."""
        return k in self.overridable.values()

    def default_text(self, k: int) -> str:
        """Pipeline parameter k's default as the text a submitter would type ("" when unset)."""
        value = self.wf.params[k].value
        if isinstance(value, list):
            return ",".join(_text(v) for v in value)
        return "" if value is None else _text(value)

    def renders_late(self, job: ir.Job, pname: str, k: int) -> bool:
        """Whether parameter `pname` can be rendered from a sentinel (its value given later)."""
        param = job.param(pname)
        if param is None or param.type == "flag":
            return False
        try:
            render(job.command, job.params, {pname: self.late(k, {k: f"PIPEC_PARAM_{k}"})}, self.wf.layout, False)
        except RenderError:
            return False
        return True

    def param_type(self, k: int) -> str:
        """The job-parameter type pipeline parameter k feeds ("string" when they disagree)."""
        types = {self.wf.job(j).param(n).type for (j, n), kk in self.overridable.items() if kk == k}  # type: ignore[union-attr]
        return types.pop() if len(types) == 1 else "string"

    def param_choices(self, k: int) -> tuple[str, ...]:
        """The values pipeline parameter k may take (as text), when every parameter it sets
        lists its choices: those they all allow; () when any of them takes anything."""
        allowed: list[str] | None = None
        for (j, n), kk in self.overridable.items():
            if kk != k:
                continue
            choices = [_text(c) for c in self.wf.job(j).param(n).choices]  # type: ignore[union-attr]
            if not choices:
                return ()
            allowed = choices if allowed is None else [c for c in allowed if c in choices]
        return tuple(allowed or ())

    def job_overrides(self, job_id: str) -> list[tuple[str, int]]:
        """(parameter, pipeline parameter index) of `job_id`, by index (after find_overridable)."""
        if self._overrides_by_job is None:
            self._overrides_by_job = {}
            for (j, pname), k in sorted(self.overridable.items(), key=lambda kv: kv[1]):
                self._overrides_by_job.setdefault(j, []).append((pname, k))
        return self._overrides_by_job.get(job_id, [])

    def param_checks(self, job: ir.Job) -> list[str]:
        """Runtime lines refusing a pipeline parameter given at submit time that does not fit
        the job's parameter (a number's syntax, the listed choices)."""
        lines = []
        for pname, k in self.job_overrides(job.id):
            ptype = job.param(pname).type  # type: ignore[union-attr]
            name = quote(self.wf.params[k].name)
            if ptype in ("integer", "float"):
                lines.append(f"pipec_check_param {name} {ptype} \"$PIPEC_PARAM_{k}\"\n")
            choices = self.param_choices(k)
            if choices:
                lines.append(f"pipec_check_choice {name} \"$PIPEC_PARAM_{k}\" {' '.join(quote(c) for c in choices)}\n")
        return lines

    def job_runtime(self, job_id: str) -> list[tuple[str, RuntimeValue]]:
        """(parameter, run-time value) of `job_id`, in dependency order."""
        return self._runtime_by_job.get(job_id, [])

    def values(self, job: ir.Job, row: dict[str, Any] | None, names: dict[int, str] | None = None
               ) -> dict[str, Any]:
        """The values one execution is given: its sweep row, then the pipeline parameters that
        may be overridden and the run-time values, as `ir.Late`s read from the variables
        `names` gives them (default: late_vars)."""
        values = dict(row or {})
        for pname, k in self.job_overrides(job.id):
            if pname not in values:
                values[pname] = self.late(k, names)
        for pname, v in self.job_runtime(job.id):
            values[pname] = self.late(v.index, names)
        return values

    def script_text(self, job: ir.Job, values: dict[str, Any], mounted: bool, refs: Refs | None = None) -> str:
        """The command of one execution; `mounted`: the engine runs it where the layout's
        container paths exist (else they are read from the runtime's variables). With `refs`,
        the values known now are read from PIPEC_P_<parameter> variables (command.Refs)."""
        return render(job.command, job.params, values, self.wf.layout, mounted, refs=refs)

    def parameters_json(self, job: ir.Job, values: dict[str, Any]) -> str:
        data = {p.name: p.value for p in job.params}
        data.update({k: v.token if isinstance(v, ir.Late) else v for k, v in values.items()})
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
                stage = {"job": d.source, "area": "outputs", "glob": d.source_key, "slot": d.target_key,
                         "keep": keep if keep in ("full", "suffix") else "none"}
                if slot is not None and slot.regex:
                    ere, icase = to_ere(slot.regex)  # translatable: checked by the regexes pass
                    stage.update(ere=ere, icase=str(int(icase)))
                stages.append(stage)
            elif d.kind is ir.DepKind.INPUT_FILES:
                stages.append({"job": d.source, "area": "inputs", "glob": d.source_key + "/*", "slot": d.target_key,
                               "keep": "none"})
        return stages, gates

    def fetches(self, job: ir.Job, native: frozenset[str] = frozenset()) -> list[dict[str, str]]:
        """Prologue fetches for the URL inputs of `job`, except schemes in `native` (which the
        engine downloads itself)."""
        out = []
        for slot in job.inputs:
            for url in slot.urls:
                scheme = url_scheme(url)
                if scheme in native:
                    continue
                command = self.scheme_command("fetch", scheme, slot, f"input '{slot.name}' of '{job.name}' uses",
                                              "the job will fail when staging it", "$1=URL, $2=directory")
                if scheme == "file" and url.startswith("file://"):
                    url = url[len("file://"):]
                out.append({"slot": slot.name, "url": url, "command": command})
        return out

    def staging_lines(self, job: ir.Job, gates: list[str], stages: list[dict[str, str]],
                      fetches: list[dict[str, str]]) -> str:
        """The prologue that fills the input slots: gates of `continue` upstreams, files staged
        by glob, URLs fetched; then each slot's fixed file name, and the check that a slot
        that is not optional received something."""
        lines = [f"pipec_gate {quote(up)}\n" for up in gates]
        lines += [f"pipec_stage {quote(s['job'])} {s['area']} {quote(s['glob'])} {quote(s['slot'])} {s['keep']}"
                  + (f" {quote(s['ere'])} {s['icase']}" if s.get("ere") else "") + "\n"
                  for s in stages]
        lines += [f"pipec_fetch {quote(f['slot'])} {quote(f['url'])} {quote(f['command'])}\n" for f in fetches]
        for slot in job.inputs:
            if slot.regex and slot.urls:
                ere, icase = to_ere(slot.regex)  # translatable: checked by the regexes pass
                lines.append(f"pipec_filter {quote(slot.name)} {quote(ere)} {int(icase)}\n")
            if slot.filename:
                lines.append(f"pipec_input_file {quote(slot.name)} {quote(slot.filename)}\n")
            if not slot.optional:
                lines.append(f"pipec_require {quote(slot.name)}\n")
        return "".join(lines)

    # ---------------------------------------------------------------------------------------
    # Files, exit actions and uploads of a job (OSMO tasks), as runtime lines.

    def moved_files(self, job: ir.Job, in_container: bool) -> tuple[tuple[str, str], ...]:
        """Where the command does not run in the job's own container (a Slurm job on the host),
        its files cannot go to their absolute paths, which other runs on the host share: each
        goes below the execution directory instead, and every mention of its path (in the
        command, the environment, other files) reads variable PIPEC_FILE_<n>."""
        if in_container:
            return ()
        return tuple((f.path, f"PIPEC_FILE_{n}") for n, f in enumerate(job.files))

    def file_lines(self, job: ir.Job, in_container: bool, mounted: bool,
                   hosts: dict[str, str] | None = None) -> str:
        """Runtime lines writing the job's files before its command runs: a file whose contents
        the workflow ships once (shared_files) from its variable, PIPEC_SHARED_FILE_<k>."""
        moved = self.moved_files(job, in_container)
        lines = [f'{var}="$PIPEC_EXEC_DIR/files"{quote(path)}\nexport {var}\n' for path, var in moved]
        for n, f in enumerate(job.files):
            target = f'"${moved[n][1]}"' if moved else quote(f.path)
            contents = render_word(f.contents, self.wf.layout, mounted, hosts, moved) if f.contents else "''"
            k = self.shared_use(job, n, contents)
            if k is not None:
                contents = f'"${self.shared_file_var(k)}"'
            lines.append(f"pipec_write_file {target} {int(f.base64)} {contents}\n")
        return "".join(lines)

    def shared_use(self, job: ir.Job, n: int, contents: str) -> int | None:
        """k when the job's n-th file is written from shared contents k (its contents, rendered
        here as `contents`, read no variable), else None."""
        k = self._shared_uses.get((job.id, n))
        if k is not None and contents == quote(_plain_text(job.files[n]) or ""):
            return k
        return None

    @staticmethod
    def shared_file_var(k: int) -> str:
        """The environment variable holding shared file contents k (see shared_files)."""
        return SHARED_FILE_VAR.format(k=k)

    def job_shared_files(self, job_id: str) -> tuple[int, ...]:
        """The shared file contents (their k) the job's setup writes, in order."""
        return tuple(sorted({k for (j, _), k in self._shared_uses.items() if j == job_id}))

    def shared_file_sites(self, k: int) -> list[ir.File]:
        """Every file written from shared contents k (the first is where the contents are first used)."""
        return [self.wf.job(j).files[n] for (j, n), kk in self._shared_uses.items() if kk == k]

    @staticmethod
    def exit_actions(job: ir.Job) -> str:
        """PIPEC_EXIT_ACTIONS of a job (see pipec_exit_action), or "" when it has none."""
        codes = job.exit_codes
        if codes is None:
            return ""
        words = []
        for name, ranges in (("complete", codes.complete), ("fail", codes.fail), ("reschedule", codes.reschedule)):
            if ranges:
                words.append(name + "=" + ",".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges))
        return " ".join(words)

    def upload_command(self, job: ir.Job, upload: ir.Upload) -> str:
        url = "".join(p.text for p in upload.url if isinstance(p, ir.Text))
        return self.scheme_command("upload", url_scheme(url), upload, f"'{job.name}' uploads to",
                                   "the execution will fail when it uploads", "$1=directory, $2=URL")

    def scheme_command(self, table: str, scheme: str, where: Any, what: str, consequence: str, args: str) -> str:
        """The [fetch] or [upload] command of a URL scheme; a warning naming the key to set when
        there is none (the job fails only when it gets there)."""
        command = (self.fetch if table == "fetch" else self.upload).get(scheme, "")
        if not command:
            self.diags.warning(f"{what} {scheme}:// URLs, which have no {table} command; {consequence}",
                               self.loc(where),
                               f'map the scheme in pipec.toml: [{table}] {scheme} = "<command taking {args}>"', code="PC505")
        return command

    def upload_lines(self, job: ir.Job, mounted: bool, hosts: dict[str, str] | None = None,
                     moved: tuple[tuple[str, str], ...] = ()) -> tuple[str, str]:
        """(lines starting the job's checkpoint uploads before its command, the shell code that
        uploads its outputs once it succeeded: PIPEC_ON_SUCCESS)."""
        starts, on_success = [], []
        for upload in job.uploads:
            url = render_word(upload.url, self.wf.layout, mounted, hosts, moved)
            ere, icase = to_ere(upload.regex) if upload.regex else ("", False)
            command = quote(self.upload_command(job, upload))
            if upload.every_seconds is not None:
                source = render_word(upload.source, self.wf.layout, mounted, hosts, moved)
                starts.append(f"pipec_checkpoint {max(1, upload.every_seconds)} {url} {source} {quote(ere)} "
                              f"{int(icase)} {command}\n")
            else:
                on_success.append(f'pipec_upload {url} "$PIPEC_OUTPUTS_DIR" {quote(ere)} {int(icase)} {command}')
        return "".join(starts), " && ".join(on_success)

    def secret_config(self, name: str) -> dict[str, str]:
        """pipec.toml [secrets.<name>]: where each engine keeps credential `name`."""
        return dict(self.config.data.get("secrets", {}).get(name, {}))

    def github_secret(self, secret: ir.Secret, key: str) -> str:
        """The GitHub secret holding `key` of a credential: <PREFIX>_<KEY>, upper-cased, every
        character GitHub does not allow in a secret name as `_`."""
        prefix = self.secret_config(secret.name).get("github") or secret.name
        name = re.sub(r"[^A-Z0-9_]", "_", f"{prefix}_{key}".upper())
        # GitHub refuses names starting with a digit or GITHUB_.
        return "_" + name if name[0].isdigit() or name.startswith("GITHUB_") else name

    def shell_job(self, job: ir.Job) -> ir.Job:
        """The job as a command to run: a stub runs `true`."""
        if job.kind is ir.JobKind.STUB:
            return replace(job, command=ir.Command.shell("true"))
        return job

    def param_fill(self, job: ir.Job, pname: str, k: int) -> str:
        """Runtime line putting pipeline parameter k into parameters.json as JSON of its type."""
        ptype = job.param(pname).type  # type: ignore[union-attr]
        return f"pipec_fill {quote(json.dumps(self.sentinel(k)))} \"$(pipec_param_json {ptype} \"$PIPEC_PARAM_{k}\")\"\n"


def _text(value: Any) -> str:
    """A value as the text a user types for it (JSON for booleans, as in parameters.json)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def url_scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else "file"


def _plain_text(f: ir.File) -> str | None:
    """The contents of a file made only of text (no path, parameter, host or run id), else None."""
    if not all(isinstance(p, ir.Text) for p in f.contents):
        return None
    return "".join(p.text for p in f.contents)  # type: ignore[union-attr]


def _shared_files(wf: ir.Workflow) -> tuple[dict[tuple[str, bool], int], dict[tuple[str, int], int]]:
    """The contents two jobs or more write: (contents, base64) -> k in order of first use, and
    (job id, file index) -> k for each file written from them. Only contents every back end
    writes as they are count: plain text naming no path that a back end may read from a
    variable instead (the layout's areas, where a job's command runs without them mounted; the
    job's own files and credential directories, where they are moved below the execution
    directory). Any other file stays in its job's setup."""
    uses: dict[tuple[str, bool], list[tuple[str, int]]] = {}
    for job in wf.jobs:
        relocated = tuple((path, "PIPEC_X") for path in (
            *(wf.layout.path(a) for a in ir.AREAS), *(f.path for f in job.files),
            *(s.mount for s in job.secrets if s.mount is not None)))
        for n, f in enumerate(job.files):
            text = _plain_text(f)
            if not text or render_word(f.contents, wf.layout, True, None, relocated) != quote(text):
                continue
            uses.setdefault((text, f.base64), []).append((job.id, n))
    shared = [key for key, sites in uses.items() if len({j for j, _ in sites}) > 1]
    numbers = {key: k for k, key in enumerate(shared)}
    return numbers, {site: numbers[key] for key in shared for site in uses[key]}


def _salt(wf: ir.Workflow) -> str:
    """A suffix that makes the sentinel absent from every text of the workflow (deterministic)."""
    texts = [json.dumps([p.value for p in wf.params], default=str)]
    for job in wf.jobs:
        texts.extend(job.command.texts())
        texts.append(json.dumps([p.value for p in job.params], default=str))
        if job.sweep is not None and job.sweep.kind is not ir.SweepKind.RUNTIME:
            texts.append(json.dumps([a.values for a in job.sweep.axes] + [r for r in job.sweep.rows], default=str))
    blob = "\n".join(texts)
    n = 0
    while f"@@PIPEC_LATE{n or ''}_" in blob:
        n += 1
    return str(n) if n else ""
