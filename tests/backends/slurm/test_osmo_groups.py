"""OSMO groups compiled for Slurm: ONE heterogeneous job per group (jobs/<group>.sbatch), a
component per task with that task's own resources, command, environment and inputs, the lead
first (reference osmo.md §2.3).

Without Slurm: the directives of each component, shellcheck on every generated file, the order
and dependencies submit.sh gives a group (dry run), a group whose members' upstreams come later
in the job list, the barrier script on its own, and the runtime's guard and watcher given a
group's member executions (MEMBER/N).

On the real cluster (the ``slurm_cluster`` fixture; skipped without Slurm unless
PIPEC_REQUIRE_SLURM=1): three members with different resources start together; a server and a
client reach each other by ``{{host:...}}`` in both directions; a member that would run forever
is stopped when the lead exits, and a failing member does not fail the group
(ignoreNonleadStatus defaults to true); with ``ignoreNonleadStatus: false`` a failing member
fails the group, its downstream never runs, an independent task finishes; a task downstream of a
non-lead member receives its files; a cancelled group has every member marked and is resumed.
Commands use sh and this interpreter (the test images are never pulled: pipec.toml sets
``[slurm] container = "none"``).
"""

# ruff: noqa: F811
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipec import ir
from pipec.backends import slurm
from pipec.backends.runtime import runtime_script
from pipec.config import Config
from pipec.errors import Diagnostics
from tests.backends.slurm.test_group import free_ports, resolvable_nodes  # noqa: F401 (a fixture)
from tests.paths import ROOT
from tests.runtime.conftest import Shell, clean_env

PY = sys.executable
CONFIG = '[slurm]\ncontainer = "none"\n'
REQUIRE = os.environ.get("PIPEC_REQUIRE_SLURM") == "1"


# ----------------------------------------------------------------------------- helpers
def compile_osmo(tmp_path: Path, text: str, name: str = "src") -> Path:
    """Compile an OSMO workflow for Slurm (a pipec.toml beside it); the pipeline directory."""
    src = tmp_path / name
    src.mkdir(parents=True, exist_ok=True)
    (src / "workflow.yaml").write_text(textwrap.dedent(text))
    (src / "pipec.toml").write_text(CONFIG)
    out = tmp_path / f"{name}-out"
    r = subprocess.run([PY, "-m", "pipec", "compile", str(src / "workflow.yaml"), "--target", "slurm", "-o", str(out)],
                       cwd=ROOT, env={"PYTHONPATH": str(ROOT / "compiler"), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, f"pipec compile failed:\n{r.stdout}{r.stderr}"
    (pdir,) = [p for p in out.iterdir() if p.is_dir()]
    return pdir


def shellcheck(pdir: Path) -> None:
    exe = shutil.which("shellcheck")
    if exe is None:
        if REQUIRE:
            pytest.fail("shellcheck is not installed")
        pytest.skip("shellcheck is not installed")
    jobs = sorted(f"jobs/{p.name}" for p in (pdir / "jobs").glob("*.sbatch"))
    files = ["submit.sh", "watch.sbatch", "pipec-runtime.sh", *jobs]
    r = subprocess.run([exe, "-x", "-S", "warning", *files], cwd=pdir, capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, f"shellcheck found problems:\n{r.stdout}{r.stderr}"


def components(sbatch: str) -> list[list[str]]:
    """The #SBATCH options of each heterogeneous-job component."""
    found: list[list[str]] = [[]]
    for line in sbatch.splitlines():
        if line == "#SBATCH hetjob":
            found.append([])
        elif line.startswith("#SBATCH "):
            found[-1].append(line[len("#SBATCH "):])
    return found


@dataclass
class Run:
    """A run directory once its jobs and watchers have left the queue."""

    path: Path
    elapsed: float
    ids: dict[str, str]  # jobs.tsv: name -> Slurm id
    states: dict[str, set[str]]  # name -> states of its records (one per component)
    submit: subprocess.CompletedProcess

    def marks(self, job: str, n: int = 0) -> dict[str, str]:
        d = self.path / job / str(n) / ".pipec"
        names = ("ok", "failed", "cancelled", "reason", "ready")
        return {p.name: p.read_text().strip() for p in sorted(d.iterdir()) if p.name in names} if d.is_dir() else {}

    def output(self, job: str, name: str, n: int = 0) -> str:
        return (self.path / job / str(n) / "outputs" / name).read_text()

    @property
    def failed(self) -> str:
        f = self.path / "FAILED"
        return f.read_text() if f.exists() else ""

    def logs(self) -> str:
        parts = []
        for p in sorted((self.path / "logs").rglob("*")):
            if p.is_file() and p.stat().st_size:
                parts.append(f"--- {p.relative_to(self.path)}\n{p.read_text(errors='replace')[-2000:]}")
        return f"{self.submit.stdout}{self.submit.stderr}\n" + "\n".join(parts)


def submit(cluster, pdir: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([str(pdir / "submit.sh"), *(args or ("--run-dir", str(tmp_path / "run")))], cwd=tmp_path,
                       env=cluster.env, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, f"{r.stdout}{r.stderr}"
    return r


def run_on(cluster, pdir: Path, tmp_path: Path, timeout: float = 120, *args: str) -> Run:
    """Submit the pipeline (submit.sh ARGS; default: a new run), wait until its jobs and
    watchers have left the queue."""
    start = time.monotonic()
    return wait_gone(cluster, tmp_path, submit(cluster, pdir, tmp_path, *args), start, timeout)


def wait_gone(cluster, tmp_path: Path, r: subprocess.CompletedProcess, start: float, timeout: float = 120) -> Run:
    run = tmp_path / "run"
    ids = dict(line.split("\t") for line in (run / "jobs.tsv").read_text().splitlines())
    deadline = start + timeout
    while True:
        watchers = [line.split("\t")[2] for line in (run / "watchers.tsv").read_text().splitlines()] \
            if (run / "watchers.tsv").exists() else []
        queued = cluster.run(["squeue", "-h", "-o", "%i", "-j", ",".join([*ids.values(), *watchers])], check=False,
                             timeout=30).stdout.split()
        if not queued:
            break
        assert time.monotonic() < deadline, f"still queued after {timeout:.0f}s: {queued}\n{cluster.log_tail()}"
        time.sleep(0.3)
    elapsed = time.monotonic() - start
    states = {name: {rec.get("JobState", "") for rec in cluster.job_records(jid)} for name, jid in ids.items()}
    return Run(run, elapsed, ids, states, r)


# ------------------------------------------------------------------------- workflows
THREE = """\
workflow:
  name: three
  resources:
    big: {cpu: 2, memory: 300Mi}
    mid: {cpu: 1, memory: 200Mi}
    small: {cpu: 1, memory: 100Mi}
  groups:
  - name: trio
    tasks:
    - name: lead
      lead: true
      image: alpine:3.18
      resource: big
      command: ["sh", "-c"]
      args: ["date +%s.%N > {{output}}/start; sleep 8; date +%s.%N > {{output}}/end"]
    - name: second
      image: busybox:1.36
      resource: mid
      command: ["sh", "-c"]
      args: ["date +%s.%N > {{output}}/start; sleep 3; date +%s.%N > {{output}}/end"]
    - name: third
      image: python:3.12
      resource: small
      environment:
        WHO: third member
      command: ["sh", "-c"]
      args: ["date +%s.%N > {{output}}/start; echo \\"$WHO\\" > {{output}}/who; sleep 2; date +%s.%N > {{output}}/end"]
"""

# The server (the lead) serves a greeting on port P0, then asks the client on P1; the client
# asks the server, then serves its own. Each reaches the other by {{host:...}}.
TALK = """\
workflow:
  name: talk
  groups:
  - name: pair
    tasks:
    - name: server
      lead: true
      image: alpine:3.18
      command: ["@PY@", "-c"]
      args: ["@SERVE@", "{{output}}", "@P0@", "{{host:client}}", "@P1@", "hello from server"]
    - name: client
      image: alpine:3.18
      command: ["@PY@", "-c"]
      args: ["@SERVE@", "{{output}}", "@P1@", "{{host:server}}", "@P0@", "hello from client"]
"""

# argv: OUTPUTS MY-PORT PEER-HOST PEER-PORT GREETING. The lead serves first, then asks; the
# other asks first, then serves: each direction is used once.
SERVE = r"""
import os, socket, sys, time
out, port, peer, peer_port, greeting = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
lead = greeting.endswith("server")
srv = socket.create_server(("0.0.0.0", port))
srv.settimeout(60)
def serve():
    conn, _ = srv.accept()
    conn.sendall(greeting.encode())
    conn.close()
def ask():
    for _ in range(600):
        try:
            with socket.create_connection((peer, peer_port), timeout=2) as c:
                got = c.recv(100).decode()
                open(os.path.join(out, "got.txt"), "w").write(got + " via " + peer)
                return
        except OSError:
            time.sleep(0.1)
    sys.exit("nobody answered at " + peer)
if lead:
    serve()
    ask()
else:
    ask()
    serve()
""".strip()

STOPPED = """\
workflow:
  name: stopped
  groups:
  - name: crew
    tasks:
    - name: boss
      lead: true
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["sleep 3; echo boss > {{output}}/boss.txt"]
    - name: forever
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["echo started > {{output}}/started.txt; exec @PY@ -c 'import time; time.sleep(1000)' @TAG@"]
    - name: flaky
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["echo partial > {{output}}/partial.txt; exit 4"]
"""

ANY_FAILS = """\
workflow:
  name: anyfails
  groups:
  - name: pair
    ignoreNonleadStatus: false
    tasks:
    - name: lead
      lead: true
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["echo lead > {{output}}/lead.txt; sleep 60"]
    - name: flaky
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["sleep 1; exit 3"]
  - name: tail
    tasks:
    - name: after
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["cp -r {{input:0}} {{output}}/"]
      inputs:
      - task: lead
  - name: side
    tasks:
    - name: other
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["echo other > {{output}}/other.txt"]
"""

DOWNSTREAM = """\
workflow:
  name: downstream
  groups:
  - name: pair
    tasks:
    - name: boss
      lead: true
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["echo boss > {{output}}/boss.txt; sleep 3"]
    - name: worker
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["mkdir -p {{output}}/parts; echo 'part one' > {{output}}/parts/one.txt"]
  - name: collect
    tasks:
    - name: gather
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["cat {{input:0}}/parts/one.txt > {{output}}/seen.txt; ls {{input:1}} > {{output}}/boss.txt"]
      inputs:
      - task: worker
      - task: boss
"""


def talk_text() -> str:
    p0, p1 = free_ports(2)
    return (TALK.replace("@PY@", PY).replace("@P0@", str(p0)).replace("@P1@", str(p1))
            .replace('"@SERVE@"', '"' + SERVE.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'))


# ------------------------------------------------------------------ without Slurm
def test_each_member_is_a_component_with_its_own_resources_and_command(tmp_path: Path) -> None:
    pdir = compile_osmo(tmp_path, THREE)
    assert sorted(p.name for p in (pdir / "jobs").iterdir()) == ["trio.sbatch"]
    text = (pdir / "jobs" / "trio.sbatch").read_text()
    assert components(text) == [
        ["--job-name=three.trio", "--ntasks=1", "--cpus-per-task=2", "--mem=300M"],
        ["--ntasks=1", "--cpus-per-task=1", "--mem=200M"],
        ["--ntasks=1", "--cpus-per-task=1", "--mem=100M"],
    ]
    # Each member runs its own command on its own component, in its own directory, with its
    # own environment (only the third has WHO).
    for k, job in enumerate(["lead", "second", "third"]):
        body = re.search(rf"^pipec_member_{k}\(\) \(\n(.*?)^\)$", text, re.M | re.S)
        assert body is not None, text
        assert f"pipec_enter {job} 0\n" in body.group(1)
        assert f"srun --het-group={k} --ntasks=1 " in body.group(1)
        assert ("export WHO='third member'" in body.group(1)) == (job == "third")
    assert "pipec_guard stop-next trio lead/0 second/0 third/0\n" in text
    assert "PIPEC_GROUP_MEMBERS='lead/0 second/0 third/0'\n" in text
    submit = (pdir / "submit.sh").read_text()
    assert submit.count("\nsubmit ") == 1
    assert ("submit trio stop-next 3 --pipec-members=lead/0,second/0,third/0 "
            '--chdir="$PIPEC_RUN_DIR" --output="$PIPEC_LOG_DIR/trio/%j.out"') in submit


def test_commands_name_their_peers_by_the_hosts_of_their_components(tmp_path: Path) -> None:
    text = (compile_osmo(tmp_path, talk_text()) / "jobs" / "pair.sbatch").read_text()
    server, client = re.findall(r"command\.sh\" <<'(PIPEC_\w+)'\n(.*?)\n\1\n", text, re.S)
    assert '"${PIPEC_HOST_1}"' in server[1] and "PIPEC_HOST_0" not in server[1]
    assert '"${PIPEC_HOST_0}"' in client[1] and "PIPEC_HOST_1" not in client[1]
    assert "pipec_het_host 0\npipec_het_host 1\n" in text


@pytest.mark.parametrize("yaml_text", [THREE, STOPPED, ANY_FAILS, DOWNSTREAM], ids=["three", "stopped", "any-fails",
                                                                                 "downstream"])
def test_shellcheck_passes(tmp_path: Path, yaml_text: str) -> None:
    shellcheck(compile_osmo(tmp_path, yaml_text.replace("@PY@", PY).replace("@TAG@", "x")))


def test_a_group_is_submitted_once_and_its_dependents_wait_for_it(tmp_path: Path) -> None:
    pdir = compile_osmo(tmp_path, ANY_FAILS)
    r = subprocess.run([str(pdir / "submit.sh"), "--dry-run", "--run-dir", str(tmp_path / "run")], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith("sbatch ")]
    assert [line.rsplit("/", 1)[1] for line in lines] == ["pair.sbatch", "after.sbatch", "other.sbatch"]
    assert "--dependency" not in lines[0] and "--dependency" not in lines[2]
    assert "--dependency='afterok:<pair>'" in lines[1] and "--kill-on-invalid-dep=yes" in lines[1]
    assert "--pipec-members" not in r.stdout  # consumed by submit.sh, never given to sbatch
    text = (pdir / "jobs" / "pair.sbatch").read_text()
    assert "pipec_run stop-next 0 pipec_step srun --het-group=1 " in text
    assert "pipec_failed_member" in text


def test_a_group_is_submitted_after_the_upstreams_of_all_its_members() -> None:
    """Members listed apart, one of them after a job it waits for: the group goes after that
    job and before the jobs downstream of any member."""
    cmd = ir.Command.shell("true")
    jobs = (ir.Job("a", "a", command=cmd, group="g"), ir.Job("x", "x", command=cmd),
            ir.Job("b", "b", command=cmd, group="g"), ir.Job("d", "d", command=cmd))
    deps = (ir.Dependency("x", "b", ir.DepKind.ORDER), ir.Dependency("a", "d", ir.DepKind.ORDER))
    wf = ir.Workflow("w", jobs, deps, groups=(ir.Group("g", "b", ("a", "b")),))
    diags = Diagnostics()
    files = slurm.compile_workflows([wf], Config({}), diags)
    assert not diags.has_errors, diags
    submit = files["w/submit.sh"][0]
    assert re.findall(r"^submit (\S+)", submit, re.M) == ["x", "g", "d"]
    assert re.search(r'^submit g stop-all 2 --pipec-members=b/0,a/0 --dependency="afterok:\$\{ids_1\}"', submit, re.M)
    assert re.search(r'^submit d stop-all 1 --dependency="afterok:\$\{ids_2\}"', submit, re.M)  # the group's ids
    assert components(files["w/jobs/g.sbatch"][0])[0][0] == "--job-name=w.g"


def test_a_member_waiting_for_its_own_group_is_refused() -> None:
    cmd = ir.Command.shell("true")
    jobs = (ir.Job("a", "a", command=cmd, group="g"), ir.Job("x", "x", command=cmd),
            ir.Job("b", "b", command=cmd, group="g"))
    deps = (ir.Dependency("a", "x", ir.DepKind.ORDER), ir.Dependency("x", "b", ir.DepKind.ORDER))
    diags = Diagnostics()
    slurm.compile_workflows([ir.Workflow("w", jobs, deps, groups=(ir.Group("g", "a", ("a", "b")),))], Config({}),
                            diags)
    assert any("group 'g' cannot start together" in d.message for d in diags.items), diags.items


BARRIER_SCRIPT = re.compile(r"cat <<'PIPEC_BARRIER'\n(.*?)\nPIPEC_BARRIER\n", re.S)


def test_the_barrier_waits_for_every_member_then_runs_the_command(tmp_path: Path) -> None:
    """Each member marks itself up (.pipec/ready) and starts its command once every member is;
    one that never comes up stops the others after PIPEC_BARRIER_TIMEOUT seconds."""
    pdir = compile_osmo(tmp_path, STOPPED.replace("@PY@", PY).replace("@TAG@", "x"))
    text = (pdir / "jobs" / "crew.sbatch").read_text()
    found = BARRIER_SCRIPT.search(text)
    assert found is not None
    assert text.count('pipec_barrier_script > "$PIPEC_EXEC_DIR/.pipec/start.sh"') == 3
    run = tmp_path / "run"
    for job in ("boss", "forever", "flaky"):
        (run / job / "0" / ".pipec").mkdir(parents=True)
        (run / job / "0" / ".pipec" / "command.sh").write_text(f"echo {job} runs\n")
    (run / "boss" / "0" / ".pipec" / "start.sh").write_text(found.group(1) + "\n")
    env = {"PATH": "/usr/bin:/bin", "PIPEC_RUN_DIR": str(run), "PIPEC_EXEC_DIR": str(run / "boss" / "0"),
           "PIPEC_GROUP_MEMBERS": "boss/0 forever/0 flaky/0", "PIPEC_BARRIER_TIMEOUT": "2"}
    start = subprocess.Popen(["bash", "-e", str(run / "boss" / "0" / ".pipec" / "start.sh")], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    assert start.poll() is None and (run / "boss" / "0" / ".pipec" / "ready").exists()
    (run / "forever" / "0" / ".pipec" / "ready").write_text("")
    (run / "flaky" / "0" / ".pipec" / "ready").write_text("")
    out, err = start.communicate(timeout=10)
    assert (start.returncode, out, err) == (0, "boss runs\n", "")

    (run / "flaky" / "0" / ".pipec" / "ready").unlink()
    began = time.monotonic()
    r = subprocess.run(["bash", "-e", str(run / "boss" / "0" / ".pipec" / "start.sh")], env=env, capture_output=True,
                       text=True, timeout=30, check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == "pipec: group member flaky/0 was not up after 2 s; giving up\n"
    assert 0.9 < time.monotonic() - began < 10  # $SECONDS counts whole seconds


def test_without_a_barrier_members_run_their_commands_directly(tmp_path: Path) -> None:
    text = (compile_osmo(tmp_path, DOWNSTREAM.replace("  - name: pair\n", "  - name: pair\n    barrier: false\n"))
            / "jobs" / "pair.sbatch").read_text()
    assert "PIPEC_BARRIER" not in text and "start.sh" not in text
    assert 'srun --het-group=1 --ntasks=1 bash -e "$PIPEC_EXEC_DIR/.pipec/command.sh"' in text


# ------------------------------------------------------------------- on the cluster
def test_members_with_different_resources_start_together(slurm_cluster, tmp_path: Path) -> None:
    pdir = compile_osmo(tmp_path, THREE)
    run = run_on(slurm_cluster, pdir, tmp_path)
    assert run.states == {"trio": {"COMPLETED"}}, run.logs()
    records = slurm_cluster.job_records(run.ids["trio"])
    got = sorted((r["HetJobOffset"], r["NumCPUs"], r.get("MinMemoryNode")) for r in records)
    assert got == [("0", "2", "300M"), ("1", "1", "200M"), ("2", "1", "100M")], records
    starts = {job: float(run.output(job, "start")) for job in ("lead", "second", "third")}
    ends = {job: float(run.output(job, "end")) for job in ("lead", "second", "third")}
    assert max(starts.values()) - min(starts.values()) < 3, starts
    # Nobody waited for another to finish: every member started before any ended.
    assert max(starts.values()) < min(ends.values()), (starts, ends)
    assert ends["lead"] == max(ends.values())
    assert run.output("third", "who") == "third member\n"
    for job in ("lead", "second", "third"):
        assert "ok" in run.marks(job) and "ready" in run.marks(job), run.marks(job)
    assert run.failed == ""


def test_server_and_client_reach_each_other_by_host(slurm_cluster, resolvable_nodes, tmp_path: Path) -> None:
    pdir = compile_osmo(tmp_path, talk_text())
    run = run_on(slurm_cluster, pdir, tmp_path)
    assert run.states == {"pair": {"COMPLETED"}}, run.logs()
    hosts = {rec["HetJobOffset"]: rec["NodeList"] for rec in slurm_cluster.job_records(run.ids["pair"])}
    assert run.output("client", "got.txt") == f"hello from server via {hosts['0']}", run.logs()
    assert run.output("server", "got.txt") == f"hello from client via {hosts['1']}", run.logs()
    assert "ok" in run.marks("server") and "ok" in run.marks("client")


def test_the_server_client_example_exchanges_its_greeting_with_netcat(slurm_cluster, resolvable_nodes,
                                                                     tmp_path: Path) -> None:
    """examples/osmo/server-client.yaml as written (the seed's pattern): the client reaches the
    server by {{host:server}} with nc; the server, the lead, ends the group."""
    if shutil.which("nc") is None:
        if REQUIRE:
            pytest.fail("nc is not installed (bash .ci/slurm-deps installs netcat-traditional)")
        pytest.skip("nc is not installed")
    pdir = compile_osmo(tmp_path, (ROOT / "examples" / "osmo" / "server-client.yaml").read_text())
    run = run_on(slurm_cluster, pdir, tmp_path)
    assert run.states == {"exchange": {"COMPLETED"}}, run.logs()
    assert run.output("client", "greeting.txt") == "greetings from the server\n", run.logs()
    assert "ok" in run.marks("server") and "ok" in run.marks("client")


def test_a_member_still_running_is_stopped_when_the_lead_ends(slurm_cluster, tmp_path: Path) -> None:
    """The lead ends after 3 s: `forever` is stopped and counts as succeeded; `flaky` failed on its
    own: reported and marked failed, but the group's status is the lead's (COMPLETED)."""
    tag = f"pipec-forever-{os.getpid()}-{time.monotonic_ns()}"
    pdir = compile_osmo(tmp_path, STOPPED.replace("@PY@", PY).replace("@TAG@", tag))
    run = run_on(slurm_cluster, pdir, tmp_path)
    assert run.states == {"crew": {"COMPLETED"}}, run.logs()
    assert run.elapsed < 60, run.elapsed
    assert run.output("boss", "boss.txt") == "boss\n"
    assert run.output("forever", "started.txt") == "started\n"
    assert run.marks("forever") == {"ok": "", "ready": ""}
    assert run.marks("flaky") == {"failed": "4", "reason": "the command exited with status 4", "ready": ""}
    assert run.failed == "flaky failed (execution 0): the command exited with status 4\n"
    assert not (run.path / "STOPPED").exists()
    leftover = subprocess.run(["pgrep", "-f", tag], capture_output=True, text=True, check=False)
    assert leftover.stdout.strip() == ""


def test_any_member_failing_fails_the_group(slurm_cluster, tmp_path: Path) -> None:
    """ignoreNonleadStatus: false: `flaky` fails after 1 s; the lead (which would sleep 60 s) is
    stopped, the group fails, `after` (downstream of the lead) never runs, `other` finishes."""
    pdir = compile_osmo(tmp_path, ANY_FAILS)
    run = run_on(slurm_cluster, pdir, tmp_path)
    assert run.elapsed < 45, (run.elapsed, run.logs())
    assert "FAILED" in run.states["pair"], (run.states, run.logs())
    assert run.states["other"] == {"COMPLETED"} and run.output("other", "other.txt") == "other\n"
    assert run.states["after"] == {"CANCELLED"}, run.states
    assert not (run.path / "after").exists()
    assert run.marks("flaky") == {"failed": "3", "reason": "the command exited with status 3", "ready": ""}
    assert run.marks("lead") == {"cancelled": "", "reason": "stopped: pair failed", "ready": ""}
    assert run.output("lead", "lead.txt") == "lead\n"  # written, never handed on
    assert run.failed == "flaky failed (execution 0): the command exited with status 3\n"
    assert not (run.path / "STOPPED").exists()  # stop-next: only what is downstream stops


def test_a_task_downstream_of_a_member_receives_its_files(slurm_cluster, tmp_path: Path) -> None:
    pdir = compile_osmo(tmp_path, DOWNSTREAM)
    run = run_on(slurm_cluster, pdir, tmp_path)
    assert run.states == {"pair": {"COMPLETED"}, "gather": {"COMPLETED"}}, run.logs()
    assert run.output("gather", "seen.txt") == "part one\n"
    assert run.output("gather", "boss.txt") == "boss.txt\n"
    staged = sorted(p.relative_to(run.path / "gather" / "0" / "inputs").as_posix()
                    for p in (run.path / "gather" / "0" / "inputs").rglob("*") if p.is_file())
    assert staged == ["0/parts/one.txt", "1/boss.txt"]


KILLED = """\
workflow:
  name: killed
  groups:
  - name: pair
    tasks:
    - name: boss
      lead: true
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["echo run >> @S@/count-boss; @WAIT@; sleep 2; echo boss > {{output}}/boss.txt"]
    - name: helper
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["echo run >> @S@/count-helper; echo helper > {{output}}/helper.txt; @WAIT@"]
  - name: later
    tasks:
    - name: after
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["cat {{input:0}}/helper.txt > {{output}}/seen.txt"]
      inputs:
      - task: helper
"""


def test_a_cancelled_group_marks_every_member_and_resumes(slurm_cluster, tmp_path: Path) -> None:
    """scancel of the group's job: the guard marks both members (one RUN/FAILED line naming them),
    the downstream never runs; `submit.sh --resume` submits the group again (its members had not
    succeeded) and then the downstream, which receives the helper's file."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    pdir = compile_osmo(tmp_path, KILLED.replace("@WAIT@", "until [ -e @S@/heal ]; do sleep 0.2; done")
                        .replace("@S@", str(scratch)))
    start = time.monotonic()
    r = submit(slurm_cluster, pdir, tmp_path)
    run_dir = tmp_path / "run"
    deadline = time.monotonic() + 60
    while not all((scratch / f"count-{job}").exists() for job in ("boss", "helper")):
        assert time.monotonic() < deadline, "the members never started"
        time.sleep(0.2)
    (group_id,) = [line.split("\t")[1] for line in (run_dir / "jobs.tsv").read_text().splitlines()
                   if line.startswith("pair\t")]
    slurm_cluster.run(["scancel", group_id], check=True)
    first = wait_gone(slurm_cluster, tmp_path, r, start)
    reason = "the job was cancelled or stopped by Slurm (SIGTERM)"
    assert first.marks("boss") == {"failed": "143", "reason": reason, "ready": ""}, first.logs()
    assert first.marks("helper") == {"failed": "143", "reason": reason, "ready": ""}, first.logs()
    failed = first.failed
    assert failed == f"pair failed (executions boss/0 helper/0): {reason}\n", first.logs()
    assert first.states == {"pair": {"CANCELLED"}, "after": {"CANCELLED"}}, first.states
    assert not (run_dir / "after").exists()

    (scratch / "heal").write_text("")
    second = run_on(slurm_cluster, pdir, tmp_path, 120, "--resume", str(run_dir))
    assert "resubmitted 2 job(s)" in second.submit.stdout, second.logs()
    assert second.states == {"pair": {"COMPLETED"}, "after": {"COMPLETED"}}, second.logs()
    assert second.output("after", "seen.txt") == "helper\n"
    assert [(scratch / f"count-{job}").read_text() for job in ("boss", "helper")] == ["run\nrun\n"] * 2
    assert not (run_dir / "FAILED").exists()  # the first attempt's record moved to .pipec/attempts/1
    assert (run_dir / ".pipec" / "attempts" / "1" / "FAILED").read_text() == failed


# ----------------------------------------------------------- the runtime, for a group
def runtime_shell(tmp_path: Path, records: str = "") -> tuple[Shell, dict[str, str], Path]:
    """bash with the Slurm runtime, scontrol printing RECORDS, scancel and sbatch doing nothing,
    and a run directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = (("scontrol", 'printf "%s\\n" "$FAKE_SCONTROL"\n'), ("scancel", "exit 0\n"), ("sbatch", "exit 1\n"))
    for tool, text in tools:
        (bin_dir / tool).write_text("#!/bin/sh\n" + text)
        (bin_dir / tool).chmod(0o755)
    runtime = tmp_path / "runtime.sh"
    runtime.write_text(runtime_script("slurm"))
    run = tmp_path / "run"
    run.mkdir()
    env = {"PATH": f"{bin_dir}:{clean_env()['PATH']}", "PIPEC_RUN_DIR": str(run), "FAKE_SCONTROL": records,
           "SLURM_JOB_ID": "77"}
    return Shell("bash", {"slurm": runtime}), env, run


def test_the_guard_of_a_group_marks_its_members_executions(tmp_path: Path) -> None:
    shell, env, run = runtime_shell(tmp_path)
    r = shell.run("pipec_guard stop-next pair boss/0 helper/0 helper/1\npipec_begin boss 0\npipec_begin helper 0\n"
                  "pipec_begin helper 1\n: > \"$PIPEC_RUN_DIR/helper/1/.pipec/ok\"\npipec_die 'staging failed'",
                  source="slurm", env=env)
    assert r.returncode == 1
    for job, n in (("boss", 0), ("helper", 0)):
        assert (run / job / str(n) / ".pipec" / "reason").read_text() == "staging failed\n"
    assert not (run / "helper" / "1" / ".pipec" / "failed").exists()
    assert (run / "FAILED").read_text() == "pair failed (executions boss/0 helper/0): staging failed\n"

    (run / "FAILED").unlink()
    r = shell.run("pipec_guard stop-next pair boss/0 helper/0\npipec_begin boss 0\npipec_begin helper 0\n"
                  "pipec_enter boss 0\npipec_run stop-next 0 false", source="slurm", env=env)
    assert r.returncode == 1
    assert (run / "boss" / "0" / ".pipec" / "failed").read_text() == "1\n"
    assert (run / "helper" / "0" / ".pipec" / "cancelled").exists()
    assert (run / "helper" / "0" / ".pipec" / "reason").read_text() == "stopped: pair failed\n"
    assert (run / "FAILED").read_text() == "boss failed (execution 0): the command exited with status 1\n"


def test_the_watcher_of_a_group_marks_what_its_members_left_unmarked(tmp_path: Path) -> None:
    records = ("JobId=77 HetJobId=77 HetJobOffset=0 JobState=NODE_FAIL Reason=None ExitCode=0:0\n"
               "JobId=78 HetJobId=77 HetJobOffset=1 JobState=NODE_FAIL Reason=None ExitCode=0:0")
    shell, env, run = runtime_shell(tmp_path, records)
    for job in ("boss", "helper"):
        (run / job / "0" / ".pipec").mkdir(parents=True)
    (run / "boss" / "0" / ".pipec" / "ok").write_text("")
    r = shell.run('pipec_exclude=""\npipec_watch "$@"', "pair", "stop-next", "77", "0", "2", "boss/0", "helper/0",
                  source="slurm", env=env)
    assert r.returncode == 0, r.stderr
    reason = "ended without a result: Slurm ended it as NODE_FAIL, exit code 0:0"
    assert (run / "helper" / "0" / ".pipec" / "reason").read_text() == reason + "\n"
    assert (run / "helper" / "0" / ".pipec" / "failed").read_text() == "1\n"
    assert not (run / "boss" / "0" / ".pipec" / "failed").exists()
    assert (run / "FAILED").read_text() == f"pair failed (execution helper/0): {reason}\n"
