"""`pipec submit --target slurm` on a real Slurm cluster: compiles, runs the generated
submit.sh with the parameters given (-p), and with --watch waits for the run to end, reports
its outcome and exits 1 when it failed.

Skipped when Slurm is not installed or cannot start, unless PIPEC_REQUIRE_SLURM=1.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from tests.harness.slurm_cluster import SlurmCluster
from tests.paths import COMPILER_DIR

PIPELINE = """\
- step:
    name: echo
    image: busybox
    command:
      - printf '%s' {parameter-value:message} > /valohai/outputs/message.txt
      - test {parameter-value:message} != fail
    parameters:
      - name: message
        type: string
        default: hello
- step:
    name: after
    image: busybox
    command:
      - cp /valohai/inputs/message/message.txt /valohai/outputs/copied.txt
    inputs:
      - name: message
- pipeline:
    name: submitted
    parameters:
      - name: message
        targets: [echo.parameter.message]
        default: hello
    nodes:
      - name: echo
        type: execution
        step: echo
      - name: after
        type: execution
        step: after
    edges:
      - [echo.output.message.txt, after.input.message]
"""
HOSTILE = "it's $(touch pwned) `id` \"q\" \\ ;|&\nline two {{x}} ünï  "


def pipec_submit(cluster: SlurmCluster, work: Path, *args: str):
    env = {"PYTHONPATH": str(COMPILER_DIR) + (os.pathsep + os.environ["PYTHONPATH"]
                                              if os.environ.get("PYTHONPATH") else "")}
    return cluster.run([sys.executable, "-m", "pipec", "submit", "valohai.yaml", "--target", "slurm", *args],
                       check=False, timeout=300, cwd=str(work), env=env)


@pytest.fixture
def work(tmp_path: Path, slurm_cluster: SlurmCluster):
    """The working directory jobs run in (the pipeline file in it); cancels what a failed
    test left queued."""
    (tmp_path / "valohai.yaml").write_text(textwrap.dedent(PIPELINE), encoding="utf-8")
    yield tmp_path
    for tsv in tmp_path.glob("pipec-runs/*/jobs.tsv"):
        ids = [line.split("\t")[1] for line in tsv.read_text().splitlines() if "\t" in line]
        if ids:
            slurm_cluster.run(["scancel", *ids], check=False, timeout=30)


def test_watch_waits_for_the_run_and_the_parameter_reaches_the_job(slurm_cluster: SlurmCluster, work: Path) -> None:
    r = pipec_submit(slurm_cluster, work, "-p", f"message={HOSTILE}", "--watch")
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    [run] = (work / "pipec-runs").iterdir()  # submit.sh's default; --watch read it from its summary
    assert "submitted 2 job(s) of submitted; run directory: " in r.stdout
    assert f"the run succeeded: {run}" in r.stderr
    # It returned once the run had ended: every job has left the queue, the last one's output is there.
    ids = [line.split("\t")[1] for line in (run / "jobs.tsv").read_text().splitlines()]
    queue = slurm_cluster.run(["squeue", "-h", "-o", "%i", f"--jobs={','.join(ids)}"], check=False, timeout=30)
    assert queue.stdout.strip() == ""
    assert (run / "after" / "0" / "outputs" / "copied.txt").read_bytes() == HOSTILE.encode("utf-8")
    assert (run / "echo" / "0" / "config" / "parameters.json").read_text(encoding="utf-8").find('"message"') >= 0
    assert not (work / "pwned").exists()


def test_watch_reports_a_failed_run_and_exits_1(slurm_cluster: SlurmCluster, work: Path) -> None:
    run = work / "runs" / "failing"
    r = pipec_submit(slurm_cluster, work, "-p", "message=fail", "--watch", "--run-dir", str(run), "-o", "compiled")
    assert r.returncode == 1, f"{r.stdout}\n{r.stderr}"
    assert f"the run failed: {run}" in r.stderr
    assert "echo failed (execution 0)" in r.stderr  # RUN/FAILED's line
    assert (run / "echo" / "0" / ".pipec" / "failed").exists()
    assert not (run / "after").exists() or not (run / "after" / "0" / ".pipec" / "ok").exists()
    assert (work / "compiled" / "submitted" / "submit.sh").is_file()
