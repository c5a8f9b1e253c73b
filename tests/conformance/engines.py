"""One adapter per engine, with the same interface: compile a case once, run it, and describe
what happened as a neutral ``Outcome``.

    engine = ArgoEngine(workdir)            # or GhaEngine(workdir), SlurmEngine(workdir, cluster)
    handle = engine.start(case)            # compiles (in this thread), then runs in the background
    outcome = handle.result()              # waits for the run's end
    outcome.job_status("train")            # succeeded | failed | not-run
    outcome.execution("train", 2).inputs("data")

How each engine is driven is what its own end-to-end tests do (tests/backends/<target>/
test_e2e.py): Argo manifests run in tests/harness/argo_sim.py (submit-time values as workflow
arguments, ``argo submit -p``), GitHub Actions workflows in tests/harness/gha_sim.py
(workflow_dispatch inputs), Slurm scripts on the real cluster of tests/harness/slurm_cluster.py
(``submit.sh --run-dir RUN --param NAME=VALUE``).

Where an execution's files are read:

=========  =============================================  ==========================================
engine     published outputs (what downstream jobs get)   execution directory (inputs, config)
=========  =============================================  ==========================================
argo       the artifact repository:                       the pod's /valohai mount
           <workflow>/<job>/<execution>/outputs
gha        the artifact pipec.<job>.<execution> (or       the runner's $RUNNER_TEMP/pipec/exec
           pipec.<job>.group): <execution>/outputs        (a group member: .../pipec/m<rank>/exec)
slurm      RUN/<job>/<execution>/outputs                  RUN/<job>/<execution>
=========  =============================================  ==========================================
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conformance.cases import CANCELLED, FAILED, NOT_RUN, SCRATCH_FILES, SUCCEEDED, Case
from tests.paths import COMPILER_DIR

ENGINES = ("argo", "gha", "slurm")


# ------------------------------------------------------------------------------ outcome
def read_tree(directory: Path | None) -> dict[str, bytes]:
    """Every file under a directory, by relative path (empty when the directory is missing)."""
    if directory is None or not directory.is_dir():
        return {}
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@dataclass
class ExecutionView:
    """One execution as an engine ran it."""

    status: str  # succeeded | failed | cancelled | not-run
    exec_dir: Path | None = None  # where its inputs/ and config/ are
    published: Path | None = None  # where its published outputs are (None: nothing published)
    log: str = ""

    def outputs(self) -> dict[str, bytes]:
        return read_tree(self.published)

    def inputs(self, slot: str) -> dict[str, bytes]:
        return read_tree(self.exec_dir / "inputs" / slot if self.exec_dir else None)

    def parameters(self) -> Any:
        if self.exec_dir is None or not (self.exec_dir / "config" / "parameters.json").is_file():
            return None
        return json.loads((self.exec_dir / "config" / "parameters.json").read_text(encoding="utf-8"))


@dataclass
class Outcome:
    engine: str
    case: Case
    scratch: Path
    executions: dict[tuple[str, int], ExecutionView] = field(default_factory=dict)
    details: str = ""  # the engine's own account of the run, for failure messages

    def execution(self, job: str, index: int = 0) -> ExecutionView:
        return self.executions.get((job, index)) or ExecutionView(NOT_RUN)

    def job_status(self, job: str) -> str:
        """succeeded when every execution did, failed when one did, not-run when none started."""
        statuses = [v.status for (j, _), v in self.executions.items() if j == job]
        started = [s for s in statuses if s != NOT_RUN]
        if not started:
            return NOT_RUN
        if FAILED in started:
            return FAILED
        if CANCELLED in started:
            return CANCELLED
        return SUCCEEDED

    def report(self, name: str) -> Any:
        path = self.scratch / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


class Handle:
    """A run under way; ``result()`` waits for its Outcome (re-raising what went wrong)."""

    def __init__(self, future: concurrent.futures.Future):
        self._future = future

    def result(self, timeout: float | None = None) -> Outcome:
        return self._future.result(timeout)


def _compile(src: Path, target: str, out: Path) -> None:
    """``python -m pipec compile SRC --target TARGET -o OUT``, as a user runs it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(COMPILER_DIR) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    r = subprocess.run([sys.executable, "-m", "pipec", "compile", str(src), "--target", target, "-o", str(out)],
                       capture_output=True, text=True, env=env, timeout=120, check=False)
    if r.returncode != 0:
        raise AssertionError(f"pipec compile --target {target} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")


class Engine:
    """Compiles a case once and runs it; subclasses say how."""

    name = ""

    def __init__(self, workdir: Path, workers: int = 6):
        self.workdir = Path(workdir)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"conf-{self.name}")

    def start(self, case: Case) -> Handle:
        """Prepare the case's directories and run it in the background (compile included)."""
        root = self.workdir / case.name
        scratch = root / "scratch"
        scratch.mkdir(parents=True)
        for name, text in SCRATCH_FILES.get(case.name, {}).items():
            (scratch / name).write_text(text, encoding="utf-8")
        bound = case.bind(str(scratch))
        src = root / "src" / "valohai.yaml"
        src.parent.mkdir(parents=True)
        src.write_text(textwrap.dedent(bound.yaml), encoding="utf-8")
        return Handle(self.pool.submit(self._run, bound, src, root, scratch))

    def _run(self, case: Case, src: Path, root: Path, scratch: Path) -> Outcome:
        compiled = self.compile(src, root)  # once per case and engine
        outcome = Outcome(self.name, case, scratch)
        self.run(case, compiled, root, outcome)
        return outcome

    def compile(self, src: Path, root: Path) -> Any:
        raise NotImplementedError

    def run(self, case: Case, compiled: Any, root: Path, outcome: Outcome) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.pool.shutdown(wait=True)


# ---------------------------------------------------------------------------------- Argo
class ArgoEngine(Engine):
    """The manifest runs in tests/harness/argo_sim.py; submit-time values are workflow
    arguments, given as ``argo submit -p`` gives them (a value holding ``{{`` base64-encoded
    behind ``pipec-b64:``, as the README tells users to)."""

    name = "argo"

    def compile(self, src: Path, root: Path) -> str:
        out = root / "workflow.yaml"
        _compile(src, "argo", out)
        return out.read_text(encoding="utf-8")

    @staticmethod
    def submit_value(value: str) -> str:
        if "{{" in value:
            return "pipec-b64:" + base64.b64encode(value.encode()).decode()
        return value

    def run(self, case: Case, manifest: str, root: Path, outcome: Outcome) -> None:
        from tests.harness.argo_sim import run_workflow

        params = {k: self.submit_value(v) for k, v in case.submit.items()}
        wf = run_workflow(manifest, root / "cluster", params or None, timeout=case.timeout)
        outcome.details = wf.logs()
        # The last attempt of each execution (pods carry PIPEC_JOB / PIPEC_EXECUTION).
        for node in wf.pods():
            job, index = node.pod.env.get("PIPEC_JOB"), node.pod.env.get("PIPEC_EXECUTION")
            if job is None or index is None:
                continue
            status = {"Succeeded": SUCCEEDED, "Failed": FAILED, "Error": FAILED}.get(node.phase, CANCELLED)
            outcome.executions[(job, int(index))] = ExecutionView(
                status, exec_dir=node.pod.path("/valohai"), published=wf.repo / wf.name / job / index / "outputs",
                log=node.pod.stdout + node.pod.stderr)


# ------------------------------------------------------------------------ GitHub Actions
class GhaEngine(Engine):
    """The workflow runs in tests/harness/gha_sim.py, dispatched with workflow_dispatch
    inputs. A group with an image starts its members with ``docker``, which
    tests/harness/fake_docker.py stands in for (first on PATH while the engine is open)."""

    name = "gha"

    def __init__(self, workdir: Path, workers: int = 6):
        super().__init__(workdir, workers)
        from tests.harness import fake_docker

        self.docker_state = self.workdir / "docker"
        fake_docker.install(self.workdir / "bin", self.docker_state)
        self._old_path = os.environ.get("PATH", "")
        os.environ["PATH"] = f"{self.workdir / 'bin'}{os.pathsep}{self._old_path}"

    def close(self) -> None:
        super().close()
        os.environ["PATH"] = self._old_path

    def compile(self, src: Path, root: Path) -> Path:
        repo = root / "repo"
        repo.mkdir()
        (repo / "valohai.yaml").write_bytes(src.read_bytes())
        _compile(repo / "valohai.yaml", "gha", repo)
        flows = sorted((repo / ".github" / "workflows").glob("*.yml"))
        assert len(flows) == 1, flows
        return flows[0]

    def run(self, case: Case, flow: Path, root: Path, outcome: Outcome) -> None:
        from tests.harness.gha_sim import run_workflow

        r = run_workflow(flow, workspace=flow.parent.parent.parent, workdir=root / "gh", event="workflow_dispatch",
                         inputs=dict(case.submit) or None, capacity=32, timeout=case.timeout)
        outcome.details = r.logs()
        for leg in r.legs():
            if not leg.has_step("run"):
                continue
            step = leg.step("run")
            job = step.env.get("PIPEC_JOB")
            if job is None:
                continue
            base = leg.temp / "pipec"
            members = sorted((d for d in base.glob("m[0-9]*") if d.is_dir()), key=lambda d: int(d.name[1:]))
            if members:  # a group in one job (pipec_group): member <rank> in pipec/m<rank>, one artifact
                group = r.artifacts.get(f"pipec.{job}.group")
                for member in members:
                    rank = int(member.name[1:])
                    art = group / str(rank) if group is not None else None
                    status = _marker_status(art / ".pipec" if art is not None else member / "exec" / ".pipec",
                                            step.outcome)
                    outcome.executions[(job, rank)] = ExecutionView(
                        status, exec_dir=member / "exec", published=art / "outputs" if art is not None else None,
                        log=step.stdout + step.stderr)
                continue
            index = step.env.get("PIPEC_EXECUTION")
            status = {"success": SUCCEEDED, "failure": FAILED, "cancelled": CANCELLED}.get(step.outcome, NOT_RUN)
            art = r.artifacts.get(f"pipec.{job}.{index}")
            published = None
            if art is not None:
                published = art / str(index) / "outputs" if (art / str(index)).is_dir() else art / "outputs"
            outcome.executions[(job, int(index))] = ExecutionView(
                status, exec_dir=base / "exec", published=published, log=step.stdout + step.stderr)


def _marker_status(marks: Path, fallback: str) -> str:
    """A group member's status: its markers, else the status of the group's step."""
    if (marks / "ok").exists():
        return SUCCEEDED
    if (marks / "failed").exists():
        return FAILED
    return {"success": SUCCEEDED, "failure": FAILED, "cancelled": CANCELLED}.get(fallback, NOT_RUN)


# ---------------------------------------------------------------------------------- Slurm
class SlurmWatcher:
    """Waits for many runs' jobs at once with one ``squeue`` per poll (a ``scontrol`` per job
    and run, as tests/harness/slurm_cluster.py's wait_for_jobs does, is too much for a
    two-core machine running a dozen runs)."""

    def __init__(self, cluster: Any, poll: float = 0.5):
        self.cluster = cluster
        self.poll = poll
        self.lock = threading.Lock()
        self.active: set[str] = set()
        self.stamp = 0.0

    def _refresh(self, since: float) -> None:
        """Make ``active`` the queue as seen by a squeue started after ``since``."""
        with self.lock:
            if self.stamp > since and time.monotonic() - self.stamp < self.poll:
                return
            began = time.monotonic()
            r = self.cluster.run(["squeue", "-h", "-o", "%i"], check=False, timeout=30)
            if r.returncode != 0:
                raise RuntimeError(f"squeue failed: {r.stderr}")
            # 12_[0-2%3] (a pending array), 12_1 (an array task), 12+0 (a het job component): job 12
            self.active = {m.group(0) for line in r.stdout.splitlines() if (m := re.match(r"\d+", line.strip()))}
            self.stamp = began

    def wait(self, ids: list[str], timeout: float) -> None:
        began = time.monotonic()
        deadline = began + timeout
        while True:
            self._refresh(began)
            pending = [j for j in ids if j in self.active]
            if not pending:
                return
            if time.monotonic() > deadline:
                q = self.cluster.run(["squeue", "-a", "-l"], check=False, timeout=30)
                raise TimeoutError(f"jobs {pending} still queued after {timeout:.0f}s\n{q.stdout}")
            time.sleep(self.poll / 2)


class SlurmEngine(Engine):
    """The scripts run on the real cluster: ``OUT/<pipeline>/submit.sh --run-dir RUN
    [--param NAME=VALUE]``, then every job in RUN/jobs.tsv is waited for."""

    name = "slurm"

    def __init__(self, workdir: Path, cluster: Any, workers: int = 12):
        super().__init__(workdir, workers)
        self.cluster = cluster
        self.watcher = SlurmWatcher(cluster)

    def compile(self, src: Path, root: Path) -> Path:
        out = root / "compiled"
        _compile(src, "slurm", out)
        dirs = [p for p in out.iterdir() if p.is_dir()]
        assert len(dirs) == 1, dirs
        return dirs[0]

    def run(self, case: Case, pdir: Path, root: Path, outcome: Outcome) -> None:
        run = root / "run"
        args = [a for k, v in case.submit.items() for a in ("--param", f"{k}={v}")]
        r = self.cluster.run([str(pdir / "submit.sh"), "--run-dir", str(run), *args], check=False, timeout=180,
                             cwd=str(root))
        submitted = f"submit.sh exited {r.returncode}\n{r.stdout}\n{r.stderr}"
        ids: dict[str, list[str]] = {}
        tsv = run / "jobs.tsv"
        for line in (tsv.read_text().splitlines() if tsv.is_file() else []):
            name, jid = line.split("\t")
            ids.setdefault(name, []).append(jid)
        all_ids = [j for js in ids.values() for j in js]
        try:
            self.watcher.wait(all_ids, case.timeout)
        except BaseException:
            if all_ids:
                self.cluster.run(["scancel", *all_ids], check=False, timeout=30)
            raise
        states: dict[str, dict[int, str]] = {}
        for name, jids in ids.items():
            per: dict[int, str] = {}
            for jid in jids:
                for rec in self.cluster.job_records(jid):
                    state = rec.get("JobState", "")
                    if rec.get("ArrayTaskId", "").isdigit():
                        per[int(rec["ArrayTaskId"])] = state
                    elif rec.get("HetJobOffset", "").isdigit():
                        per[int(rec["HetJobOffset"])] = state
                    else:
                        per.setdefault(0, state)
            states[name] = per
        outcome.details = submitted + "\n" + json.dumps(states) + "\n" + _slurm_logs(run)
        for name in ids:
            for exec_dir in sorted((run / name).glob("[0-9]*")):
                index = int(exec_dir.name)
                state = states.get(name, {}).get(index) or states.get(name, {}).get(0, "")
                outcome.executions[(name, index)] = ExecutionView(
                    _slurm_status(state, exec_dir / ".pipec"), exec_dir=exec_dir, published=exec_dir / "outputs",
                    log=_slurm_logs(run, name) + _text(exec_dir / ".pipec" / "stdout"))


def _slurm_status(state: str, marks: Path) -> str:
    """An execution's status from the runtime's markers (.pipec/ok, .pipec/failed) and the
    scheduler's state (a job that stops the run cancels itself too, so CANCELLED alone says
    little; a job that died before its command ran has no marker)."""
    if (marks / "ok").exists():
        return SUCCEEDED
    if (marks / "failed").exists() or state in ("FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"):
        return FAILED
    if not marks.is_dir():
        return NOT_RUN  # never started (cancelled while pending, dependency never satisfied)
    return CANCELLED if state == "CANCELLED" else FAILED


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


def _slurm_logs(run: Path, job: str | None = None) -> str:
    base = run / "logs" / job if job else run / "logs"
    parts = []
    for p in sorted(base.rglob("*")) if base.is_dir() else []:
        if p.is_file() and p.stat().st_size:
            parts.append(f"--- {p.relative_to(run)} ---\n{p.read_text(errors='replace')[-3000:]}")
    return "\n".join(parts)

