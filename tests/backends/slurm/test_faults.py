"""Fault injection on a real Slurm cluster: every way a job can die is reported, the failure
policy is applied, nothing downstream runs on partial outputs, and ``submit.sh --resume RUN``
completes the run without running again what had finished.

Scenarios (each a small valohai.yaml whose commands are plain shell; a command that must be
stopped waits until its scenario's ``heal`` file appears, for at most five minutes):

* scancel of a running array task (stop-all: the siblings and an independent branch are
  cancelled, the downstream never runs), and the same under ``on-error: continue`` (the
  downstream runs with what succeeded, the run is not stopped);
* the time limit (``time-limit: 60``, a command that sleeps longer);
* the memory limit (``resources.memory.min: 64``, a command that takes 400 MB): the test cluster
  enforces it by polling (tests/harness/slurm_cluster.py: jobacct_gather/linux with
  OverMemoryKill; it has no cgroup setup), which kills the job with SIGKILL, so only the watcher
  job can report it;
* a staging failure (an input file that does not exist);
* ``scontrol requeue`` of a running job: not a failure; the job starts again from nothing (inputs
  staged once, no stale outputs) and the run succeeds;
* an ``sbatch`` refused mid-submission (a GPU the cluster does not have): submit.sh cancels what
  it submitted, records why in RUN/FAILED and exits 1; resumed once the pipeline is fixed;
* scancel of a running group (heterogeneous job): every member is marked;
* scancel of an execution of a run-time fan-out (the array its launcher submits): resumed, the
  launcher runs only that execution again;
* scancel of a running ``on-error: stop-next`` job: only its downstream is skipped;
* a ``%`` in the run directory (sbatch would expand it in the log paths);
* the default run directory is unique (two submissions in the same second), a used one is
  refused, and resuming a run that succeeded resubmits nothing.

Every command counts its starts in the scenario's scratch directory (``count-<job>-<n>``), so
the resumed run shows what ran again. All scenarios run at once, in threads (the first test
starts them; the cluster has 3 nodes of 2 CPUs), so the module takes about as long as its
slowest scenario (the time limit: Slurm checks it about every 30 s).

Skipped when Slurm is not installed or cannot start, unless PIPEC_REQUIRE_SLURM=1 (CI).
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.harness.slurm_cluster import SlurmCluster
from tests.paths import COMPILER_DIR

# A command that waits for its scenario's heal file (at most 5 minutes).
HOLD = "for i in $(seq 600); do [ -e @S@/heal ] && break; sleep 0.5; done"


def count(job: str, n: str = "0") -> str:
    return f"echo run >> @S@/count-{job}-{n}"


SLOW = f"""\
- step:
    name: slow
    image: busybox
    command:
      - {count("slow")}
      - {HOLD}
      - echo slow > /valohai/outputs/slow.txt
"""

PREP = f"""\
- step:
    name: prep
    image: busybox
    command:
      - {count("prep")}
      - echo data > /valohai/outputs/data.txt
"""


# ------------------------------------------------------------------------------- helpers
class Queue:
    """One ``squeue`` per poll for every scenario (a dozen threads polling each would load the
    controller of a two-core machine)."""

    def __init__(self, cluster: SlurmCluster, poll: float = 0.5):
        self.cluster = cluster
        self.poll = poll
        self.lock = threading.Lock()
        self.stamp = 0.0
        self.active: set[str] = set()

    def ids(self, since: float) -> set[str]:
        with self.lock:
            if self.stamp <= since or time.monotonic() - self.stamp > self.poll:
                began = time.monotonic()
                r = self.cluster.run(["squeue", "-h", "-o", "%i"], check=False, timeout=30)
                if r.returncode == 0:
                    self.active = {m.group(0) for line in r.stdout.splitlines()
                                   if (m := re.match(r"\d+", line.strip()))}
                    self.stamp = began
            return set(self.active)


@dataclass
class Snapshot:
    """A run directory after its jobs and watchers have left the queue."""

    failed: str | None  # RUN/FAILED: every failure, whatever the policy
    stopped: bool  # RUN/STOPPED: the run was stopped (stop-all, submit.sh)
    marks: dict[tuple[str, int], dict[str, Any]]  # (job, execution) -> .pipec markers
    counts: dict[str, int]  # count-<job>-<n> -> starts
    jobs: dict[str, list[str]]  # jobs.tsv
    watchers: list[str]
    states: dict[str, dict[str, str]]  # job name -> {job id or id_task: state}
    leftover: set[str]  # ids of the run still queued (must be none)

    def mark(self, job: str, n: int = 0) -> dict[str, Any]:
        return self.marks.get((job, n), {})


@dataclass
class Ctx:
    """One scenario: its directories, its compiled pipeline and its runs."""

    name: str
    cluster: SlurmCluster
    queue: Queue
    root: Path
    pdir: Path | None = None
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    def compile(self, yaml_text: str, config: str | None = None) -> Path:
        src = self.root / "src"
        src.mkdir(parents=True, exist_ok=True)
        (src / "valohai.yaml").write_text(textwrap.dedent(yaml_text).replace("@S@", str(self.scratch)))
        if config is not None:
            (src / "pipec.toml").write_text(config)
        out = self.root / "compiled"
        env = dict(os.environ, PYTHONPATH=str(COMPILER_DIR))
        r = subprocess.run([sys.executable, "-m", "pipec", "compile", str(src / "valohai.yaml"), "--target", "slurm",
                            "-o", str(out)], check=False, capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, f"pipec compile failed:\n{r.stdout}\n{r.stderr}"
        (self.pdir,) = [p for p in out.iterdir() if p.is_dir()]
        shellcheck(self.pdir)
        return self.pdir

    def submit(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        assert self.pdir is not None
        r = self.cluster.run([str(self.pdir / "submit.sh"), *args], check=False, timeout=180,
                             cwd=str(cwd or self.root))
        self.notes.append(f"submit.sh {' '.join(args)} -> {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def start(self, *args: str) -> subprocess.CompletedProcess:
        r = self.submit("--run-dir", str(self.run_dir), *args)
        assert r.returncode == 0, self.notes[-1]
        return r

    def resume(self) -> subprocess.CompletedProcess:
        return self.submit("--resume", str(self.run_dir))

    def ids(self, run: Path | None = None) -> tuple[dict[str, list[str]], list[str]]:
        run = run or self.run_dir
        jobs: dict[str, list[str]] = {}
        tsv = run / "jobs.tsv"
        for line in tsv.read_text().splitlines() if tsv.is_file() else []:
            name, jid = line.split("\t")
            jobs.setdefault(name, []).append(jid)
        watchers = []
        tsv = run / "watchers.tsv"
        for line in tsv.read_text().splitlines() if tsv.is_file() else []:
            watchers.append(line.split("\t")[2])
        return jobs, watchers

    def wait_until(self, what: str, predicate: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {what} did not happen in {timeout:.0f}s\n{self.logs()}")
            time.sleep(0.3)

    def wait_gone(self, run: Path | None = None, timeout: float = 120) -> set[str]:
        """Wait until the run's jobs and watchers have left the queue; what is left at the deadline."""
        began = time.monotonic()
        deadline = began + timeout
        while True:
            jobs, watchers = self.ids(run)
            mine = {j for js in jobs.values() for j in js} | set(watchers)
            left = mine & self.queue.ids(began)
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(self.queue.poll / 2)

    def snapshot(self, run: Path | None = None, timeout: float = 120) -> Snapshot:
        run = run or self.run_dir
        leftover = self.wait_gone(run, timeout)
        jobs, watchers = self.ids(run)
        marks: dict[tuple[str, int], dict[str, Any]] = {}
        for marker_dir in sorted(run.glob("*/[0-9]*/.pipec")):
            job, n = marker_dir.parent.parent.name, int(marker_dir.parent.name)
            entry: dict[str, Any] = {"started": True}
            for name in ("ok", "failed", "cancelled", "reason"):
                path = marker_dir / name
                if path.exists():
                    entry[name] = path.read_text().strip()
                    entry[f"{name}_mtime"] = path.stat().st_mtime_ns
            marks[(job, n)] = entry
        counts = {p.name[len("count-"):]: len(p.read_text().splitlines())
                  for p in self.scratch.glob("count-*")}
        states = {}
        for name, jids in jobs.items():
            states[name] = {}
            for jid in jids:
                states[name].update(self.cluster.job_states(jid))
        failed = (run / "FAILED").read_text() if (run / "FAILED").exists() else None
        return Snapshot(failed, (run / "STOPPED").exists(), marks, counts, jobs, watchers, states, leftover)

    def logs(self) -> str:
        parts = list(self.notes)
        for run in [self.run_dir, *self.data.get("runs", [])]:
            for p in sorted((run / "logs").rglob("*")) if (run / "logs").is_dir() else []:
                if p.is_file() and p.stat().st_size:
                    parts.append(f"--- {p.relative_to(run)} ---\n{p.read_text(errors='replace')[-1500:]}")
        return "\n".join(parts)

    def heal(self) -> None:
        (self.scratch / "heal").touch()


def shellcheck(pdir: Path) -> None:
    exe = shutil.which("shellcheck")
    if exe is None:
        if os.environ.get("PIPEC_REQUIRE_SLURM") == "1":
            pytest.fail("shellcheck is not installed")
        return
    for cwd, files in ((pdir, ["submit.sh", "watch.sbatch", "pipec-runtime.sh"]),
                       (pdir / "jobs", sorted(p.name for p in (pdir / "jobs").glob("*.sbatch")))):
        r = subprocess.run([exe, "-x", "-S", "warning", *files], cwd=cwd, capture_output=True, text=True, timeout=120,
                           check=False)
        assert r.returncode == 0, f"shellcheck found problems in {cwd}:\n{r.stdout}{r.stderr}"


def array_task(ctx: Ctx, job: str, task: int) -> str:
    jobs, _ = ctx.ids()
    return f"{jobs[job][0]}_{task}"


# --------------------------------------------------------------------------- the scenarios
SCANCEL_ARRAY = PREP + SLOW + f"""\
- step:
    name: work
    image: busybox
    command:
      - {count("work", "{parameter-value:n}")}
      - test "$(cat /valohai/inputs/data/data.txt)" = data
      - if [ {{parameter-value:n}} = 1 ]; then {HOLD}; fi
      - echo part {{parameter-value:n}} > /valohai/outputs/part-{{parameter-value:n}}.txt
    parameters:
      - {{name: n, type: integer, default: 0}}
    inputs:
      - name: data
- step:
    name: merge
    image: busybox
    command:
      - {count("merge")}
      - ls /valohai/inputs/parts > /valohai/outputs/list.txt
    inputs:
      - name: parts
- task:
    name: works
    step: work
    type: grid_search
    parameters:
      - {{name: n, style: multiple, rules: {{items: [0, 1, 2]}}}}
- pipeline:
    name: faults POLICY
    nodes:
      - {{name: prep, type: execution, step: prep}}
      - {{name: work, type: task, task: works, on-error: POLICY}}
      - {{name: merge, type: execution, step: merge}}
      - {{name: slow, type: execution, step: slow}}
    edges:
      - [prep.output.data.txt, work.input.data]
      - [work.output.part*, merge.input.parts]
"""


def scancel_array(ctx: Ctx, policy: str) -> dict[str, Any]:
    ctx.compile(SCANCEL_ARRAY.replace("POLICY", policy))
    ctx.start()
    # Executions 0 and 2 succeed; 1 is cancelled while it runs, and so is slow.
    ctx.wait_until("work 1 and slow running, work 0 and 2 done", lambda: (ctx.scratch / "count-work-1").exists()
                   and (ctx.scratch / "count-slow-0").exists()
                   and all((ctx.run_dir / "work" / str(n) / ".pipec" / "ok").exists() for n in (0, 2)))
    ctx.cluster.run(["scancel", array_task(ctx, "work", 1)], check=True)
    if policy == "continue":
        ctx.wait_until("merge done", lambda: (ctx.run_dir / "merge" / "0" / ".pipec" / "ok").exists())
        ctx.heal()  # slow may end now
    first = ctx.snapshot()
    ctx.heal()
    resumed = ctx.resume()
    return {"first": first, "resume": resumed, "second": ctx.snapshot()}


TIME_LIMIT = PREP + SLOW + f"""\
- step:
    name: limited
    image: busybox
    time-limit: 60
    command:
      - {count("limited")}
      - echo partial > /valohai/outputs/partial.txt
      - {HOLD}
      - echo done > /valohai/outputs/done.txt
    inputs:
      - name: data
- step:
    name: after
    image: busybox
    command:
      - {count("after")}
      - ls /valohai/inputs/got > /valohai/outputs/list.txt
    inputs:
      - name: got
- pipeline:
    name: faults time limit
    nodes:
      - {{name: prep, type: execution, step: prep}}
      - {{name: limited, type: execution, step: limited}}
      - {{name: after, type: execution, step: after}}
      - {{name: slow, type: execution, step: slow}}
    edges:
      - [prep.output.data.txt, limited.input.data]
      - [limited.output.*, after.input.got]
"""


def time_limit(ctx: Ctx) -> dict[str, Any]:
    ctx.compile(TIME_LIMIT)
    ctx.start()
    ctx.wait_until("FAILED", lambda: (ctx.run_dir / "FAILED").exists(), timeout=240)
    first = ctx.snapshot()
    ctx.heal()
    resumed = ctx.resume()
    return {"first": first, "resume": resumed, "second": ctx.snapshot()}


HOG = """\
import os, sys, time
if not os.path.exists(sys.argv[1]):
    hog = b"x" * (400 * 1024 * 1024)
    time.sleep(120)
"""

MEMORY = SLOW + f"""\
- step:
    name: hog
    image: busybox
    resources:
      memory: {{min: 64}}
    command:
      - {count("hog")}
      - python3 @S@/hog.py @S@/heal
      - echo fits > /valohai/outputs/fits.txt
- step:
    name: after
    image: busybox
    command:
      - {count("after")}
      - cat /valohai/inputs/got/fits.txt > /valohai/outputs/seen.txt
    inputs:
      - name: got
- pipeline:
    name: faults memory
    nodes:
      - {{name: hog, type: execution, step: hog}}
      - {{name: after, type: execution, step: after}}
      - {{name: slow, type: execution, step: slow}}
    edges:
      - [hog.output.fits.txt, after.input.got]
"""


def memory(ctx: Ctx) -> dict[str, Any]:
    ctx.scratch.mkdir(parents=True, exist_ok=True)
    (ctx.scratch / "hog.py").write_text(HOG)
    ctx.compile(MEMORY)
    assert "#SBATCH --mem=64M" in (ctx.pdir / "jobs" / "hog.sbatch").read_text()
    ctx.start()
    ctx.wait_until("FAILED", lambda: (ctx.run_dir / "FAILED").exists(), timeout=120)
    first = ctx.snapshot()
    ctx.heal()
    resumed = ctx.resume()
    return {"first": first, "resume": resumed, "second": ctx.snapshot()}


STAGING = SLOW + f"""\
- step:
    name: gate
    image: busybox
    command:
      - {count("gate")}
      - for i in $(seq 600); do [ -e @S@/go ] && break; sleep 0.5; done
- step:
    name: needs
    image: busybox
    command:
      - {count("needs")}
      - cat /valohai/inputs/data/data.csv > /valohai/outputs/copy.csv
    inputs:
      - name: data
        default: @S@/missing/data.csv
      - name: nothing
        optional: true
- step:
    name: after
    image: busybox
    command:
      - {count("after")}
      - cat /valohai/inputs/got/copy.csv > /valohai/outputs/seen.csv
    inputs:
      - name: got
- pipeline:
    name: faults staging
    nodes:
      - {{name: gate, type: execution, step: gate}}
      - {{name: needs, type: execution, step: needs}}
      - {{name: after, type: execution, step: after}}
      - {{name: slow, type: execution, step: slow}}
    edges:
      - [gate.output.*, needs.input.nothing]
      - [needs.output.copy.csv, after.input.got]
"""


def staging(ctx: Ctx) -> dict[str, Any]:
    ctx.compile(STAGING)
    ctx.start()
    (ctx.scratch / "go").touch()  # needs starts once submit.sh is done
    ctx.wait_until("FAILED", lambda: (ctx.run_dir / "FAILED").exists())
    first = ctx.snapshot()
    (ctx.scratch / "missing").mkdir()
    (ctx.scratch / "missing" / "data.csv").write_text("a,b\n")
    ctx.heal()
    resumed = ctx.resume()
    return {"first": first, "resume": resumed, "second": ctx.snapshot()}


REQUEUE = PREP + f"""\
- step:
    name: longish
    image: busybox
    command:
      - {count("longish")}
      - n=$(wc -l < @S@/count-longish-0)
      - echo "run $n" > /valohai/outputs/run-$n.txt
      - ls /valohai/inputs/data > /valohai/outputs/inputs-$n.txt
      - if [ "$n" = 1 ]; then {HOLD}; fi
    inputs:
      - name: data
- step:
    name: after
    image: busybox
    command:
      - {count("after")}
      - ls /valohai/inputs/got > /valohai/outputs/list.txt
    inputs:
      - name: got
- pipeline:
    name: faults requeue
    nodes:
      - {{name: prep, type: execution, step: prep}}
      - {{name: longish, type: execution, step: longish}}
      - {{name: after, type: execution, step: after}}
    edges:
      - [prep.output.data.txt, longish.input.data]
      - [longish.output.*, after.input.got]
"""


def requeue(ctx: Ctx) -> dict[str, Any]:
    ctx.compile(REQUEUE)
    ctx.start()
    ctx.wait_until("longish running", lambda: (ctx.scratch / "count-longish-0").exists())
    jobs, _ = ctx.ids()
    job = jobs["longish"][0]
    node = (ctx.cluster.job_records(job) or [{}])[0].get("BatchHost", "")
    ctx.cluster.run(["scontrol", "requeue", job], check=True)
    # Slurm holds a requeued job back (BeginTime) until its credential, revoked on the node it
    # ran on, expires (two minutes); let it start at once on another node.
    def started_again() -> bool:
        rec = (ctx.cluster.job_records(job) or [{}])[0]
        if rec.get("JobState") == "PENDING" and rec.get("Reason") == "BeginTime":
            ctx.cluster.run(["scontrol", "update", f"jobid={job}", f"ExcNodeList={node}"], check=False)
            ctx.cluster.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], check=False)
        counter = ctx.scratch / "count-longish-0"
        return len(counter.read_text().splitlines()) >= 2
    ctx.wait_until("longish started again", started_again)
    first = ctx.snapshot()
    resumed = ctx.resume()
    return {"first": first, "resume": resumed, "second": ctx.snapshot(), "job": job}


SBATCH_FAILS = PREP + f"""\
- step:
    name: held
    image: busybox
    command:
      - {count("held")}
      - {HOLD}
      - echo held > /valohai/outputs/held.txt
    inputs:
      - name: data
- step:
    name: bad
    image: busybox
    command:
      - {count("bad")}
      - echo bad > /valohai/outputs/bad.txt
    resources: DEVICES
- step:
    name: last
    image: busybox
    command:
      - {count("last")}
      - ls /valohai/inputs/got > /valohai/outputs/list.txt
    inputs:
      - name: got
- pipeline:
    name: faults sbatch
    nodes:
      - {{name: prep, type: execution, step: prep}}
      - {{name: held, type: execution, step: held}}
      - {{name: bad, type: execution, step: bad}}
      - {{name: last, type: execution, step: last}}
    edges:
      - [prep.output.data.txt, held.input.data]
      - [bad.output.bad.txt, last.input.got]
"""


def sbatch_fails(ctx: Ctx) -> dict[str, Any]:
    ctx.compile(SBATCH_FAILS.replace("DEVICES", "{devices: {nvidia.com/gpu: 1}}"))
    assert "--gres=gpu:1" in (ctx.pdir / "jobs" / "bad.sbatch").read_text()
    r = ctx.submit("--run-dir", str(ctx.run_dir))
    first = ctx.snapshot()
    # The pipeline fixed (no GPU), compiled again into the same place, and the run resumed.
    ctx.compile(SBATCH_FAILS.replace("DEVICES", "{}"))
    ctx.heal()
    resumed = ctx.resume()
    return {"submit": r, "first": first, "resume": resumed, "second": ctx.snapshot()}


GROUP = f"""\
- step:
    name: member
    image: busybox
    command:
      - {count("member", "$PIPEC_RANK")}
      - echo "member $PIPEC_RANK" > /valohai/outputs/member-$PIPEC_RANK.txt
      - {HOLD}
    parameters:
      - {{name: rank, type: integer}}
- task:
    name: pair
    step: member
    type: distributed
    parameters:
      - {{name: rank, style: multiple, rules: {{items: [0, 1]}}}}
- pipeline:
    name: faults group
    nodes:
      - {{name: pair, type: task, task: pair}}
    edges: []
"""


def group(ctx: Ctx) -> dict[str, Any]:
    ctx.compile(GROUP)
    ctx.start()
    ctx.wait_until("both members running", lambda: all((ctx.scratch / f"count-member-{r}").exists() for r in (0, 1)))
    jobs, _ = ctx.ids()
    ctx.cluster.run(["scancel", jobs["pair"][0]], check=True)
    first = ctx.snapshot()
    ctx.heal()
    resumed = ctx.resume()
    return {"first": first, "resume": resumed, "second": ctx.snapshot()}


FANOUT = f"""\
- step:
    name: list
    image: busybox
    command:
      - {count("list")}
      - "echo '{{\\"items\\": [10, 11, 12]}}'"
- step:
    name: fan
    image: busybox
    command:
      - {count("fan", "$PIPEC_EXECUTION")}
      - if [ {{parameter-value:item}} = 11 ]; then {HOLD}; fi
      - echo {{parameter-value:item}} > /valohai/outputs/item-$PIPEC_EXECUTION.txt
    parameters:
      - {{name: item, type: integer}}
- step:
    name: gather
    image: busybox
    command:
      - {count("gather")}
      - ls /valohai/inputs/all > /valohai/outputs/list.txt
    inputs:
      - name: all
- pipeline:
    name: faults fanout
    nodes:
      - {{name: list, type: execution, step: list}}
      - {{name: fan, type: task, step: fan}}
      - {{name: gather, type: execution, step: gather}}
    edges:
      - [list.metadata.items, fan.parameter.item]
      - [fan.output.*, gather.input.all]
"""


def fanout(ctx: Ctx) -> dict[str, Any]:
    ctx.compile(FANOUT)
    ctx.start()
    ctx.wait_until("fan 1 running, 0 and 2 done", lambda: (ctx.scratch / "count-fan-1").exists()
                   and all((ctx.run_dir / "fan" / str(n) / ".pipec" / "ok").exists() for n in (0, 2)))
    jobs, _ = ctx.ids()
    ctx.cluster.run(["scancel", f"{jobs['fan'][1]}_1"], check=True)  # the array the launcher submitted
    first = ctx.snapshot()
    ctx.heal()
    resumed = ctx.resume()
    return {"first": first, "resume": resumed, "second": ctx.snapshot()}


STOP_NEXT = f"""\
- step:
    name: held
    image: busybox
    command:
      - {count("held")}
      - {HOLD}
      - echo a > /valohai/outputs/a.txt
- step:
    name: quick
    image: busybox
    command:
      - {count("quick")}
      - echo b > /valohai/outputs/b.txt
- step:
    name: after
    image: busybox
    command:
      - {count("after", "$PIPEC_JOB")}
      - ls /valohai/inputs/got > /valohai/outputs/list.txt
    inputs:
      - name: got
- pipeline:
    name: faults stop next
    nodes:
      - {{name: a, type: execution, step: held, on-error: stop-next}}
      - {{name: a-next, type: execution, step: after}}
      - {{name: b, type: execution, step: quick, on-error: stop-next}}
      - {{name: b-next, type: execution, step: after}}
    edges:
      - [a.output.*, a-next.input.got]
      - [b.output.*, b-next.input.got]
"""


def stop_next(ctx: Ctx) -> dict[str, Any]:
    ctx.compile(STOP_NEXT)
    ctx.start()
    ctx.wait_until("a running, b-next done", lambda: (ctx.scratch / "count-held-0").exists()
                   and (ctx.run_dir / "b-next" / "0" / ".pipec" / "ok").exists())
    jobs, _ = ctx.ids()
    ctx.cluster.run(["scancel", jobs["a"][0]], check=True)
    first = ctx.snapshot()
    ctx.heal()
    resumed = ctx.resume()
    return {"first": first, "resume": resumed, "second": ctx.snapshot()}


SIMPLE = PREP + f"""\
- step:
    name: after
    image: busybox
    command:
      - {count("after")}
      - cat /valohai/inputs/got/data.txt > /valohai/outputs/seen.txt
    inputs:
      - name: got
- pipeline:
    name: faults simple
    nodes:
      - {{name: prep, type: execution, step: prep}}
      - {{name: after, type: execution, step: after}}
    edges:
      - [prep.output.data.txt, after.input.got]
"""


def percent(ctx: Ctx) -> dict[str, Any]:
    ctx.compile(SIMPLE)
    run = ctx.root / "r%u x"
    ctx.data["runs"] = [run]
    r = ctx.submit("--run-dir", str(run))
    return {"submit": r, "run": run, "snapshot": ctx.snapshot(run)}


def unique(ctx: Ctx) -> dict[str, Any]:
    ctx.compile(SIMPLE)
    work = ctx.root / "work"
    work.mkdir()
    # Two submissions at once, in the same second, with the default run directory.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda _: ctx.submit(cwd=work), range(2)))
    runs = sorted((work / "pipec-runs").iterdir())
    ctx.data["runs"] = runs
    for run in runs:  # both runs' jobs write to one scratch: count once every job of both is gone
        ctx.wait_gone(run, 120)
    snapshots = [ctx.snapshot(run) for run in runs]
    used = runs[0]
    before = (used / "jobs.tsv").read_text()
    again = ctx.submit("--run-dir", str(used))
    after_refusal = (used / "jobs.tsv").read_text()
    nothing = ctx.submit("--resume", str(used))
    return {"both": both, "runs": runs, "snapshots": snapshots, "again": again, "before": before,
            "after_refusal": after_refusal, "nothing": nothing, "after_resume": (used / "jobs.tsv").read_text()}


SCENARIOS: dict[str, Callable[[Ctx], dict[str, Any]]] = {
    "scancel_array_task": lambda ctx: scancel_array(ctx, "stop-all"),
    "scancel_array_task_continue": lambda ctx: scancel_array(ctx, "continue"),
    "time_limit": time_limit,
    "memory_limit": memory,
    "staging_failure": staging,
    "requeue": requeue,
    "sbatch_fails": sbatch_fails,
    "group": group,
    "fanout": fanout,
    "scancel_stop_next": stop_next,
    "percent_in_run_dir": percent,
    "unique_run_dirs": unique,
}


class Faults:
    """The selected scenarios, all started on first use, each in a thread of its own."""

    def __init__(self, cluster: SlurmCluster, base: Path, selected: set[str]):
        self.queue = Queue(cluster)
        self.pool = concurrent.futures.ThreadPoolExecutor(max(1, len(selected)))
        self.ctxs: dict[str, Ctx] = {}
        self.futures: dict[str, concurrent.futures.Future] = {}
        for name in SCENARIOS:
            if name in selected:
                ctx = Ctx(name, cluster, self.queue, base / name)
                ctx.scratch.mkdir(parents=True, exist_ok=True)
                self.ctxs[name] = ctx
                self.futures[name] = self.pool.submit(SCENARIOS[name], ctx)

    def result(self, name: str, timeout: float = 420) -> tuple[Ctx, dict[str, Any]]:
        return self.ctxs[name], self.futures[name].result(timeout=timeout)

    def close(self) -> None:
        for ctx in self.ctxs.values():
            ctx.heal()  # whatever still waits ends
            for run in [ctx.run_dir, *ctx.data.get("runs", [])]:
                jobs, watchers = ctx.ids(run)
                ids = [j for js in jobs.values() for j in js] + watchers
                if ids:
                    ctx.cluster.run(["scancel", *ids], check=False, timeout=30)
        self.pool.shutdown(wait=False, cancel_futures=True)


@pytest.fixture(scope="module")
def faults(slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    module = request.node.module if hasattr(request.node, "module") else None
    selected = {item.name[len("test_"):] for item in request.session.items
                if getattr(item, "module", None) is module and item.name.startswith("test_")}
    runs = Faults(slurm_cluster, tmp_path_factory.mktemp("faults"), selected & set(SCENARIOS))
    yield runs
    runs.close()


# ------------------------------------------------------------------------------ checks
def assert_resumed(ctx: Ctx, out: dict[str, Any], rerun: set[str]) -> None:
    """The resumed run completed: every execution ok, no FAILED, nothing queued; the executions
    that had succeeded before kept their ok marker (same mtime) and did not start again; those
    in `rerun` started once more."""
    first, second, resumed = out["first"], out["second"], out["resume"]
    assert resumed.returncode == 0, ctx.logs()
    assert "resubmitted" in resumed.stdout, resumed.stdout
    assert second.failed is None and not second.stopped, ctx.logs()
    assert not second.leftover, f"still queued after the resumed run: {second.leftover}"
    assert second.marks, ctx.logs()
    for key, mark in second.marks.items():
        assert "ok" in mark, (key, mark, ctx.logs())
    for key, mark in first.marks.items():
        if "ok" in mark:
            assert second.marks[key]["ok_mtime"] == mark["ok_mtime"], f"{key} ran again although it had succeeded"
            assert second.counts.get(f"{key[0]}-{key[1]}") == first.counts.get(f"{key[0]}-{key[1]}"), key
    for name in rerun:
        assert second.counts[name] == first.counts.get(name, 0) + 1, (name, first.counts, second.counts)
    # The attempt before is kept, FAILED and all.
    attempts = sorted((ctx.run_dir / ".pipec" / "attempts").iterdir())
    assert [p.name for p in attempts] == ["1"]
    assert (attempts[0] / "FAILED").read_text() == first.failed
    assert (attempts[0] / "jobs.tsv").is_file()


def assert_branch_stopped(snap: Snapshot, job: str) -> None:
    """An independent branch stopped by stop-all: cancelled, and if it had started, marked
    cancelled (not failed: its own failure it was not)."""
    assert set(snap.states[job].values()) == {"CANCELLED"}, snap.states
    mark = snap.mark(job)
    assert not mark or ("cancelled" in mark and "failed" not in mark and "run was stopped" in mark["reason"]), mark


def assert_stopped(ctx: Ctx, snap: Snapshot, job: str, reason: str) -> None:
    """stop-all applied: the run is stopped, FAILED names the job and the reason, nothing of the
    run is queued."""
    assert snap.failed is not None and snap.stopped, ctx.logs()
    assert re.search(rf"^{re.escape(job)} failed \(executions? [0-9 ]+\): .*{reason}", snap.failed, re.M), (
        snap.failed, ctx.logs())
    assert not snap.leftover, f"still queued after the run failed: {snap.leftover}\n{ctx.logs()}"


# -------------------------------------------------------------------------------- tests
def test_scancel_array_task(faults: Faults) -> None:
    """stop-all: a cancelled array task fails the run; its siblings that were done stay ok, the
    independent branch is cancelled (marked so), the downstream never runs."""
    ctx, out = faults.result("scancel_array_task")
    first = out["first"]
    assert_stopped(ctx, first, "work", "cancelled")
    work1 = first.mark("work", 1)
    assert work1.get("failed") == "143" and "cancelled" in work1["reason"], work1
    assert "ok" in first.mark("work", 0) and "ok" in first.mark("work", 2)
    assert "cancelled" in first.mark("slow"), first.mark("slow")  # it was running
    assert_branch_stopped(first, "slow")
    assert ("merge", 0) not in first.marks, "merge ran although work failed"
    assert_resumed(ctx, out, rerun={"work-1", "slow-0"})
    assert "(1 left out" in out["resume"].stdout  # prep: every execution had succeeded
    assert out["second"].counts["merge-0"] == 1
    list_txt = ctx.run_dir / "merge" / "0" / "outputs" / "list.txt"
    assert list_txt.read_text().split() == ["part-0.txt", "part-1.txt", "part-2.txt"]


def test_scancel_array_task_continue(faults: Faults) -> None:
    """continue: the cancelled execution is marked failed, the run is not stopped and the
    downstream runs with the executions that succeeded; resuming runs the failed one only."""
    ctx, out = faults.result("scancel_array_task_continue")
    first = out["first"]
    assert first.failed is not None and not first.stopped, ctx.logs()
    assert re.fullmatch(r"work failed \(execution 1\): .*cancelled.*\n", first.failed), first.failed
    assert not first.leftover
    work1 = first.mark("work", 1)
    assert work1.get("failed") == "143" and "cancelled" in work1["reason"], work1
    assert "ok" in first.mark("merge"), ctx.logs()
    merged = ctx.run_dir / "merge" / "0" / "inputs" / "parts"
    assert sorted(p.name for p in merged.iterdir()) == ["part-0.txt", "part-2.txt"]
    assert "ok" in first.mark("slow")
    second = out["second"]
    assert out["resume"].returncode == 0 and "resubmitted 1 job(s)" in out["resume"].stdout, ctx.logs()
    assert all("ok" in m for m in second.marks.values()), second.marks
    assert second.counts["work-1"] == 2 and second.counts["merge-0"] == 1 and second.counts["slow-0"] == 1


def test_time_limit(faults: Faults) -> None:
    ctx, out = faults.result("time_limit")
    first = out["first"]
    assert_stopped(ctx, first, "limited", r"the time limit \(00:01:00\) was reached")
    assert first.mark("limited").get("failed") == "143"
    assert first.states["limited"] == {first.jobs["limited"][0]: "TIMEOUT"}
    assert ("after", 0) not in first.marks, "after ran on the outputs of a job that timed out"
    assert_branch_stopped(first, "slow")
    assert_resumed(ctx, out, rerun={"limited-0", "slow-0"})
    assert out["second"].counts["prep-0"] == 1 and out["second"].counts["after-0"] == 1
    got = ctx.run_dir / "after" / "0" / "inputs" / "got"
    assert sorted(p.name for p in got.iterdir()) == ["done.txt", "partial.txt"]


def test_memory_limit(faults: Faults) -> None:
    """Killed outright (SIGKILL) for its memory: only the watcher job sees it."""
    ctx, out = faults.result("memory_limit")
    first = out["first"]
    assert_stopped(ctx, first, "hog", "ended without a result: Slurm ended it as")
    hog = first.mark("hog")
    assert "memory limit" in hog["reason"] and hog["failed"] == "137", hog
    assert "memory limit" in first.failed
    assert_branch_stopped(first, "slow")
    assert ("after", 0) not in first.marks
    assert_resumed(ctx, out, rerun={"hog-0", "slow-0"})
    assert (ctx.run_dir / "after" / "0" / "outputs" / "seen.txt").read_text() == "fits\n"


def test_staging_failure(faults: Faults) -> None:
    ctx, out = faults.result("staging_failure")
    first = out["first"]
    assert_stopped(ctx, first, "needs", "fetching .*/missing/data.csv for input data failed")
    assert first.mark("needs").get("failed") == "1"
    assert "needs-0" not in first.counts, "the command ran although staging failed"
    assert_branch_stopped(first, "slow")
    assert ("after", 0) not in first.marks
    assert_resumed(ctx, out, rerun={"needs-0", "slow-0"})
    assert out["second"].counts["gate-0"] == 1
    assert (ctx.run_dir / "after" / "0" / "outputs" / "seen.csv").read_text() == "a,b\n"


def test_requeue(faults: Faults) -> None:
    """A requeued job is no failure: it starts again from nothing (inputs staged once, the
    first start's outputs gone) and its downstream sees only the second start's outputs."""
    ctx, out = faults.result("requeue")
    first = out["first"]
    assert first.failed is None and not first.stopped, (first.failed, ctx.logs())
    assert not first.leftover
    assert all("ok" in m for m in first.marks.values()), first.marks
    assert first.counts["longish-0"] == 2 and first.counts["prep-0"] == 1 and first.counts["after-0"] == 1
    longish = ctx.run_dir / "longish" / "0"
    assert sorted(p.name for p in (longish / "inputs" / "data").iterdir()) == ["data.txt"]
    assert sorted(p.name for p in (longish / "outputs").iterdir()) == ["inputs-2.txt", "run-2.txt"]
    assert (longish / "outputs" / "inputs-2.txt").read_text() == "data.txt\n"
    got = ctx.run_dir / "after" / "0" / "inputs" / "got"
    assert sorted(p.name for p in got.iterdir()) == ["inputs-2.txt", "run-2.txt"]
    assert first.states["longish"] == {out["job"]: "COMPLETED"}
    # Nothing to resume in a run that succeeded.
    assert out["resume"].returncode == 0 and "nothing to resubmit" in out["resume"].stdout, out["resume"]
    assert out["second"].counts == first.counts


def test_sbatch_fails(faults: Faults) -> None:
    """An sbatch refused mid-submission: submit.sh cancels what it had submitted, says why in
    FAILED and exits 1; the fixed pipeline resumes the run."""
    ctx, out = faults.result("sbatch_fails")
    r, first = out["submit"], out["first"]
    assert r.returncode == 1, ctx.logs()
    assert "sbatch refused job bad" in r.stderr and "cancelled every job submitted" in r.stderr, r.stderr
    assert first.failed is not None and first.failed.startswith("submit.sh: sbatch refused job bad: "), first.failed
    assert first.stopped
    assert "gres" in first.failed.lower() or "generic resource" in first.failed.lower(), first.failed
    assert set(first.jobs) == {"prep", "held"}, first.jobs  # bad and last were never submitted
    assert not first.leftover
    for state in first.states["held"].values():
        assert state == "CANCELLED", first.states
    assert "ok" not in first.mark("held")
    assert_resumed(ctx, out, rerun=set())
    assert out["second"].counts["bad-0"] == 1 and out["second"].counts["last-0"] == 1


def test_group(faults: Faults) -> None:
    """A cancelled group: every member is marked failed with the reason; resumed, it runs again."""
    ctx, out = faults.result("group")
    first = out["first"]
    assert_stopped(ctx, first, "pair", "cancelled")
    for rank in (0, 1):
        assert first.mark("pair", rank).get("failed") == "143", first.marks
    assert re.search(r"^pair failed \(executions 0 1\)", first.failed, re.M), first.failed
    assert_resumed(ctx, out, rerun={"member-0", "member-1"})


def test_percent_in_run_dir(faults: Faults) -> None:
    """sbatch expands % in --output/--error: submit.sh escapes it, so the jobs start and log."""
    ctx, out = faults.result("percent_in_run_dir")
    r, run, snap = out["submit"], out["run"], out["snapshot"]
    assert r.returncode == 0 and "submitted 2 job(s)" in r.stdout, r
    assert snap.failed is None and not snap.leftover, ctx.logs()
    assert all("ok" in m for m in snap.marks.values()) and len(snap.marks) == 2, (snap.marks, ctx.logs())
    for job in ("prep", "after"):
        (jid,) = snap.jobs[job]
        assert (run / "logs" / job / f"{jid}.out").is_file(), sorted((run / "logs").rglob("*"))
    assert (run / "after" / "0" / "outputs" / "seen.txt").read_text() == "data\n"


def test_unique_run_dirs(faults: Faults) -> None:
    """Two submissions in the same second get two run directories; a used one is refused; a run
    that succeeded has nothing to resume."""
    ctx, out = faults.result("unique_run_dirs")
    assert [r.returncode for r in out["both"]] == [0, 0], ctx.logs()
    runs = out["runs"]
    assert len(runs) == 2, runs
    ids = [set(s.jobs["prep"]) for s in out["snapshots"]]
    assert not ids[0] & ids[1]
    for snap in out["snapshots"]:
        assert snap.failed is None and len(snap.marks) == 2 and all("ok" in m for m in snap.marks.values()), snap
        assert snap.counts == {"prep-0": 2, "after-0": 2}  # both runs' executions count in one scratch
    again = out["again"]
    assert again.returncode == 2 and "already exists" in again.stderr, again
    assert out["after_refusal"] == out["before"]
    nothing = out["nothing"]
    assert nothing.returncode == 0 and "nothing to resubmit" in nothing.stdout, nothing
    assert out["after_resume"] == out["before"]


def test_fanout(faults: Faults) -> None:
    """A run-time fan-out: an execution of the array its launcher submitted is cancelled; the
    launcher is stopped with the run; resumed, the launcher finds the same items and runs only
    the execution that had not succeeded."""
    ctx, out = faults.result("fanout")
    first = out["first"]
    assert_stopped(ctx, first, "fan", "cancelled")
    assert first.mark("fan", 1).get("failed") == "143"
    assert "ok" in first.mark("fan", 0) and "ok" in first.mark("fan", 2)
    assert ("gather", 0) not in first.marks
    assert_resumed(ctx, out, rerun={"fan-1"})
    second = out["second"]
    assert second.counts["list-0"] == 1 and second.counts["gather-0"] == 1
    assert [line.split("\t")[0] for line in (ctx.run_dir / "jobs.tsv").read_text().splitlines()] == [
        "fan", "gather", "fan"]  # list is kept; the launcher resubmitted, then its array of one
    (array,) = [s for s in second.states["fan"] if "_" in s]
    assert array.endswith("_1"), second.states
    listing = (ctx.run_dir / "gather" / "0" / "outputs" / "list.txt").read_text().split()
    assert listing == ["item-0.txt", "item-1.txt", "item-2.txt"]


def test_scancel_stop_next(faults: Faults) -> None:
    """stop-next: a cancelled job is marked failed and only its downstream is skipped; the run is
    not stopped (FAILED reports the job, no STOPPED); resumed, the job and its downstream run, the other branch is kept."""
    ctx, out = faults.result("scancel_stop_next")
    first = out["first"]
    assert first.failed is not None and not first.stopped and not first.leftover, (first.failed, ctx.logs())
    assert re.fullmatch(r"a failed \(execution 0\): .*cancelled.*\n", first.failed), first.failed
    a = first.mark("a")
    assert a.get("failed") == "143" and "cancelled" in a["reason"], a
    assert ("a-next", 0) not in first.marks
    assert set(first.states["a-next"].values()) == {"CANCELLED"}
    assert "ok" in first.mark("b") and "ok" in first.mark("b-next")
    second, resumed = out["second"], out["resume"]
    assert resumed.returncode == 0 and "resubmitted 2 job(s)" in resumed.stdout, ctx.logs()
    assert all("ok" in m for m in second.marks.values()) and len(second.marks) == 4, second.marks
    assert second.counts == {"held-0": 2, "quick-0": 1, "after-a-next": 1, "after-b-next": 1}
