"""The engines' own command-line clients, as `pipec submit` runs them: which program each
target needs, the command line that submits a compiled pipeline, the names each client gives
the pipeline's parameters, GitHub's copy of a workflow (a dispatched run uses the default
branch's), the run a dispatch started, and waiting for a Slurm run to end.

Every value reaches a client as one argv item of its own (never through a shell), so any text
arrives byte for byte. Argo reads a submitted value as its template language once more: a
value holding "{{" (or a control character) goes base64-encoded behind `pipec-b64:`, which the
pod decodes (argo_text, as the compiled manifest's header says).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote

import yaml

from pipec import ir
from pipec.backends.argo.names import argo_text
from pipec.backends.common import JobRenderer
from pipec.config import Config
from pipec.errors import Diagnostics

# target -> (the client program, where it comes from)
CLIENTS = {
    "argo": ("argo", "the Argo Workflows CLI: https://argo-workflows.readthedocs.io/en/latest/cli/argo/"),
    "slurm": ("sbatch", "Slurm's client commands (Debian: slurm-client); or submit from a login node of the cluster"),
    "gha": ("gh", "the GitHub CLI: https://cli.github.com"),
}
WATCH_CLIENTS = {"slurm": ("squeue", CLIENTS["slurm"][1])}
GITHUB_RUN_WAIT_SECONDS = 60  # how long a dispatched run may take to be listed
SQUEUE_FAILURES_MAX = 10  # squeue failing this many times in a row ends the watch


class ClientError(Exception):
    """A client failed: its message and exit code, passed on as pipec's."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def missing_clients(target: str, dry_run: bool, watch: bool) -> list[tuple[str, str]]:
    """(program, where it comes from) for each client the submission needs and PATH lacks.
    A dry run submits nothing: only GitHub is asked something then (its copy of the workflow)."""
    needed = []
    if not dry_run or target == "gha":
        needed.append(CLIENTS[target])
    if watch and not dry_run and target in WATCH_CLIENTS:
        needed.append(WATCH_CLIENTS[target])
    return [(program, where) for program, where in needed if shutil.which(program) is None]


def exit_status(code: int) -> int:
    """A child's return code as a shell reports it (killed by signal N: 128 + N)."""
    return 128 - code if code < 0 else code


# ------------------------------------------------------------------------------ parameters
def submit_names(target: str, wf: ir.Workflow, config: Config, text: str) -> dict[str, str]:
    """Pipeline parameter name -> the name the target's client takes, for every parameter
    that changes something at submit time (the others are compiled in; see JobRenderer).
    `text`: the compiled manifest (argo) or workflow file (gha), which name the parameters in
    the order of the pipeline's."""
    renderer = JobRenderer(wf, config, Diagnostics())  # its warnings were the compile's
    renderer.find_overridable()
    offered = [p.name for k, p in enumerate(wf.params) if renderer.offered(k)]
    if target == "slurm":
        return {name: name for name in offered}
    doc: Any = yaml.safe_load(text)
    if target == "argo":
        names = [p["name"] for p in (doc["spec"].get("arguments") or {}).get("parameters") or []]
    else:
        triggers = doc["on"] if "on" in doc else doc[True]  # YAML 1.1 reads a bare `on` as true
        names = list((triggers["workflow_dispatch"] or {}).get("inputs") or {})
    if len(names) != len(offered):
        raise RuntimeError(f"the compiled {target} file offers {len(names)} parameters, the pipeline {len(offered)}")
    return dict(zip(offered, names))


def manifest_kind(text: str) -> str:
    """The kind of a compiled Argo manifest (Workflow, CronWorkflow, WorkflowTemplate)."""
    return str(yaml.safe_load(text)["kind"])


# ------------------------------------------------------------------------- command lines
def argo_command(manifest: str, params: list[tuple[str, str]], watch: bool) -> list[str]:
    """`argo submit`; with `watch`, it prints only the workflow's name, for `argo watch` and
    `argo wait` (`argo submit --watch` exits 0 whatever the outcome; `argo wait` does not)."""
    command = ["argo", "submit", manifest]
    for name, value in params:
        command += ["-p", f"{name}={argo_text(value)}"]
    return command + (["--output", "name"] if watch else [])


def argo_follow(name: str) -> list[list[str]]:
    """What follows a workflow submitted with `argo_command(watch=True)`: show it until it
    ends, then its outcome as the exit status."""
    return [["argo", "watch", name], ["argo", "wait", name]]


def slurm_command(submit_sh: str, params: list[tuple[str, str]], run_dir: str | None, dry_run: bool) -> list[str]:
    command = [submit_sh]
    for name, value in params:
        command += ["--param", f"{name}={value}"]
    if run_dir is not None:
        command += ["--run-dir", run_dir]
    return command + (["--dry-run"] if dry_run else [])


def gha_command(workflow: str, params: list[tuple[str, str]]) -> list[str]:
    command = ["gh", "workflow", "run", workflow]
    for name, value in params:
        command += ["-f", f"{name}={value}"]  # -f: the raw text (-F would read @file and numbers)
    return command


def run(command: list[str]) -> int:
    """Run a client with pipec's standard output and error; its exit status. Standard input is
    closed: no client prompts (gh asks for inputs interactively on a terminal)."""
    return exit_status(subprocess.run(command, stdin=subprocess.DEVNULL, check=False).returncode)


def run_teed(command: list[str], echo: Callable[[str], None]) -> tuple[int, list[str]]:
    """Run a client, passing each line of its standard output to `echo` as it comes; its exit
    status and those lines."""
    lines = []
    with subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                          errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            echo(line)
            lines.append(line.rstrip("\n"))
    return exit_status(proc.returncode), lines


# ---------------------------------------------------------------------------------- GitHub
def github_copy(path: str) -> bytes | None:
    """The bytes of `path` on the default branch of the repository gh works on (the current
    directory's, or GH_REPO); None when the branch has no such file."""
    r = subprocess.run(["gh", "api", "-H", "Accept: application/vnd.github.raw+json",
                        f"repos/{{owner}}/{{repo}}/contents/{quote(path)}"],
                       stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if r.returncode == 0:
        return r.stdout
    message = r.stderr.decode("utf-8", errors="replace").strip()
    if "HTTP 404" in message:
        return None
    raise ClientError(f"gh api could not read {path} from GitHub: {message}", exit_status(r.returncode) or 1)


def _gh_lines(args: list[str]) -> list[str]:
    r = subprocess.run(["gh", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise ClientError(f"gh {args[0]} {args[1]}: {r.stderr.strip()}", exit_status(r.returncode) or 1)
    return [line.strip() for line in r.stdout.splitlines() if line.strip()]


@dataclass
class DispatchWatch:
    """Finds the run a `gh workflow run` starts: the user's dispatched runs of the workflow
    listed before, then after (GitHub answers a dispatch with no run id)."""

    workflow: str
    user: str = ""
    before: frozenset[str] = frozenset()

    def start(self) -> None:
        self.user = "".join(_gh_lines(["api", "user", "--jq", ".login"]))
        self.before = frozenset(self.runs())

    def runs(self) -> list[str]:
        return _gh_lines(["run", "list", "--workflow", self.workflow, "--event", "workflow_dispatch",
                          "--user", self.user, "--limit", "20", "--json", "databaseId", "--jq", ".[].databaseId"])

    def new_run(self, sleep: Callable[[float], None] = time.sleep) -> str | None:
        """The run the dispatch started (the newest new one), or None when none is listed within
        GITHUB_RUN_WAIT_SECONDS."""
        waited = 0.0
        while True:
            new = [run_id for run_id in self.runs() if run_id not in self.before]
            if new:
                return max(new, key=int)
            if waited >= GITHUB_RUN_WAIT_SECONDS:
                return None
            sleep(2)
            waited += 2


# ----------------------------------------------------------------------------------- Slurm
def run_directory(lines: list[str]) -> str | None:
    """The run directory submit.sh names in its summary ("...; run directory: PATH")."""
    for line in reversed(lines):
        if line.startswith(("submitted ", "resubmitted ")) and "; run directory: " in line:
            return line.rpartition("; run directory: ")[2]
    return None


def _ids(run_dir: str) -> list[str]:
    """The scheduler ids of a run's jobs and watchers (jobs.tsv, watchers.tsv; a run-time
    fan-out adds to jobs.tsv while it runs)."""
    ids = []
    for name, column in (("jobs.tsv", 1), ("watchers.tsv", 2)):
        try:
            with open(os.path.join(run_dir, name), encoding="utf-8") as f:
                ids += [fields[column] for fields in (line.rstrip("\n").split("\t") for line in f)
                        if len(fields) > column and fields[column]]
        except FileNotFoundError:
            pass
    return sorted(set(ids))


def queued(run_dir: str) -> list[str]:
    """The run's jobs still in the queue (squeue); a job Slurm has forgotten is not."""
    ids = _ids(run_dir)
    if not ids:
        return []
    r = subprocess.run(["squeue", "-h", "-o", "%i", f"--jobs={','.join(ids)}"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        if "Invalid job id" in r.stderr:  # every id has left slurmctld's memory
            return []
        raise ClientError(f"squeue: {r.stderr.strip()}", exit_status(r.returncode) or 1)
    return [line.strip() for line in r.stdout.splitlines() if line.strip()]


def wait_slurm_run(run_dir: str, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until no job or watcher of the run is queued. Polls squeue every 1, 2, 4... up to
    15 seconds; squeue failing SQUEUE_FAILURES_MAX times in a row is a ClientError."""
    interval, failures = 1.0, 0
    while True:
        try:
            if not queued(run_dir):
                return
            failures = 0
        except ClientError:
            failures += 1
            if failures >= SQUEUE_FAILURES_MAX:
                raise
        sleep(interval)
        interval = min(interval * 2, 15.0)


def slurm_outcome(run_dir: str) -> tuple[bool, list[str]]:
    """Whether an ended run succeeded, and what says why not: the lines of RUN/FAILED (every
    failure, whatever the policy), RUN/STOPPED, and executions left without an `ok` marker."""
    problems: list[str] = []
    try:
        with open(os.path.join(run_dir, "FAILED"), encoding="utf-8", errors="replace") as f:
            problems += [line.rstrip("\n") for line in f if line.strip()]
    except FileNotFoundError:
        pass
    if os.path.exists(os.path.join(run_dir, "STOPPED")) and not problems:
        problems.append("the run was stopped (RUN/STOPPED)")
    unfinished = []
    for job in sorted(os.listdir(run_dir)):
        folder = os.path.join(run_dir, job)
        if job.startswith(".") or job == "logs" or not os.path.isdir(folder):
            continue
        for n in sorted((e for e in os.listdir(folder) if e.isdigit()), key=int):
            if not os.path.exists(os.path.join(folder, n, ".pipec", "ok")):
                unfinished.append(f"{job}/{n}")
    if unfinished and not problems:
        problems.append(f"{len(unfinished)} execution(s) ended without succeeding: {', '.join(unfinished[:10])}"
                        + (" ..." if len(unfinished) > 10 else ""))
    return not problems, problems
