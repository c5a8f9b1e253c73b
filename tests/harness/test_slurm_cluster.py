"""Self-test of the real Slurm test cluster (tests/harness/slurm_cluster.py).

Proves that the private cluster runs what pipec's Slurm back end relies on:
batch jobs, dependency chains, --kill-on-invalid-dep, throttled job arrays,
heterogeneous jobs across nodes and multi-node srun.

Skipped when Slurm is not installed or cannot start, unless
PIPEC_REQUIRE_SLURM=1 (CI), where that is a failure.
"""

# The fixture is imported below, so its parameters "redefine" it: F811.
# ruff: noqa: F811

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

from tests.harness.slurm_cluster import NODES, SlurmCluster

STAMP = "date +%s.%N"
# What `hostname` prints inside a job (all nodes are this host).
HOST = socket.gethostname()


def _floats(path: Path) -> list[float]:
    return [float(x) for x in path.read_text().split()]


def test_batch_job_writes_output(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    out = tmp_path / "hello.out"
    job = slurm_cluster.sbatch("--output", str(out), "--wrap", "hostname; echo ok")
    states = slurm_cluster.wait_for_jobs([job], timeout=30)
    assert states[job] == "COMPLETED", slurm_cluster.job_records(job)
    lines = out.read_text().split()
    assert lines[-1] == "ok"
    assert lines[0] == HOST
    rec = slurm_cluster.job_records(job)[0]
    assert rec["NodeList"] in NODES
    assert rec["ExitCode"] == "0:0"


def test_dependency_chain_runs_in_order(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    a_out, b_out = tmp_path / "a.t", tmp_path / "b.t"
    a = slurm_cluster.sbatch(
        "--output",
        str(tmp_path / "a.log"),
        "--wrap",
        f"sleep 2; {STAMP} > {a_out}",
    )
    b = slurm_cluster.sbatch(
        "--output",
        str(tmp_path / "b.log"),
        f"--dependency=afterok:{a}",
        "--wrap",
        f"{STAMP} > {b_out}",
    )
    # While A runs, B must be held on its dependency.
    rec_b = slurm_cluster.job_records(b)[0]
    if not a_out.exists():
        assert rec_b["JobState"] == "PENDING", rec_b
        assert rec_b["Reason"] == "Dependency", rec_b
    states = slurm_cluster.wait_for_jobs([a, b], timeout=40)
    assert states == {a: "COMPLETED", b: "COMPLETED"}
    (a_end,) = _floats(a_out)
    (b_start,) = _floats(b_out)
    assert b_start >= a_end, (a_end, b_start)


def test_kill_on_invalid_dep_cancels_dependent(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    marker = tmp_path / "b-ran"
    a = slurm_cluster.sbatch("--output", str(tmp_path / "a.log"), "--wrap", "exit 3")
    b = slurm_cluster.sbatch(
        "--output",
        str(tmp_path / "b.log"),
        f"--dependency=afterok:{a}",
        "--kill-on-invalid-dep=yes",
        "--wrap",
        f"touch {marker}",
    )
    states = slurm_cluster.wait_for_jobs([a, b], timeout=40)
    assert states[a] == "FAILED"
    assert slurm_cluster.job_records(a)[0]["ExitCode"] == "3:0"
    assert states[b] == "CANCELLED", slurm_cluster.job_records(b)
    assert not marker.exists()


def test_throttled_array(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    job = slurm_cluster.sbatch(
        "--array=0-5%2",
        "--output",
        str(tmp_path / "arr_%A_%a.log"),
        "--wrap",
        f"{STAMP} > {stamps}/$SLURM_ARRAY_TASK_ID.start; sleep 2; "
        f"{STAMP} > {stamps}/$SLURM_ARRAY_TASK_ID.end",
    )
    slurm_cluster.wait_for_jobs([job], timeout=60)
    states = slurm_cluster.job_states(job)
    assert sorted(states) == [f"{job}_{i}" for i in range(6)], states
    assert set(states.values()) == {"COMPLETED"}, states

    spans = []
    for i in range(6):
        (start,) = _floats(stamps / f"{i}.start")
        (end,) = _floats(stamps / f"{i}.end")
        spans.append((start, end))
    # Most tasks running at once: sweep over start (+1) / end (-1) events,
    # ends before starts at equal times.
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert 1 <= peak <= 2, spans
    wall = max(e for _, e in spans) - min(s for s, _ in spans)
    print(f"array: peak concurrency {peak}, wall {wall:.1f}s")


HET_SCRIPT = """\
#!/bin/bash
#SBATCH --nodelist=n1 --ntasks=1 --cpus-per-task=1
#SBATCH hetjob
#SBATCH --nodelist=n2 --ntasks=1 --cpus-per-task=1
#SBATCH hetjob
#SBATCH --nodelist=n3 --ntasks=1 --cpus-per-task=1
srun --het-group=0 bash -c 'echo "g0 $SLURMD_NODENAME"' &
srun --het-group=1 bash -c 'echo "g1 $SLURMD_NODENAME"' &
srun --het-group=2 bash -c 'echo "g2 $SLURMD_NODENAME"' &
wait
echo "hostnames1 $(scontrol show hostnames "$SLURM_JOB_NODELIST_HET_GROUP_1")"
"""


def test_het_job_across_nodes(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    script = tmp_path / "het.sh"
    script.write_text(HET_SCRIPT)
    out = tmp_path / "het.out"
    job = slurm_cluster.sbatch("--output", str(out), str(script))
    slurm_cluster.wait_for_jobs([job], timeout=40)
    recs = slurm_cluster.job_records(job)
    assert len(recs) == 3, recs
    assert [r["JobState"] for r in recs] == ["COMPLETED"] * 3, recs
    lines = out.read_text().splitlines()
    groups = dict(line.split() for line in lines if line.startswith("g"))
    assert groups == {"g0": "n1", "g1": "n2", "g2": "n3"}, lines
    (hosts,) = [line for line in lines if line.startswith("hostnames1 ")]
    assert hosts.split()[1:] == ["n2"], lines


def test_multi_node_srun(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    out = tmp_path / "mn.out"
    script = tmp_path / "mn.sh"
    script.write_text(
        textwrap.dedent(
            """\
            #!/bin/bash
            #SBATCH -N 3 --ntasks-per-node=1
            srun hostname
            srun bash -c 'echo "node $SLURMD_NODENAME"'
            """
        )
    )
    job = slurm_cluster.sbatch("--output", str(out), str(script))
    states = slurm_cluster.wait_for_jobs([job], timeout=40)
    assert states[job] == "COMPLETED", out.read_text() if out.exists() else states
    lines = out.read_text().splitlines()
    assert lines.count(HOST) == 3, lines
    assert sorted(x for x in lines if x.startswith("node ")) == [
        f"node {n}" for n in NODES
    ]
    # Interactive srun from the submitting host works too.
    r = slurm_cluster.run(["srun", "-N", "3", "hostname"], timeout=30)
    assert r.stdout.split() == [HOST] * 3
