"""A Valohai `distributed` task compiled for Slurm and run on a real cluster: the members
start together as one heterogeneous job, reach each other by host name, and stop when the
lead exits."""

# ruff: noqa: F811
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.paths import ROOT

PIPELINE = """
- step:
    name: worker
    image: python:3.12
    command:
      - python3 {source}
    parameters:
      - {name: port, type: integer}
- task:
    name: trio
    step: worker
    type: distributed
    parameters:
      - {name: port, style: multiple, rules: {items: [PORT0, PORT1, PORT2]}}
- pipeline:
    name: group
    nodes:
      - {name: workers, type: task, task: trio}
    edges: []
"""

# Followers serve their rank on their port until stopped; the lead asks each follower, by
# the host name Slurm gave it, and writes what it heard.
MEMBER = r'''
import json, os, socket, sys, time
rank = int(os.environ["PIPEC_RANK"])
hosts = os.environ["PIPEC_HOSTS"].split()
cfg = json.load(open(os.path.join(os.environ["VH_CONFIG_DIR"], "distributed.json")))
ports = PORTS
out = os.environ["VH_OUTPUTS_DIR"]
if rank > 0:
    srv = socket.create_server(("0.0.0.0", ports[rank]))
    open(os.path.join(out, "started"), "w").write(str(time.time()))
    while True:
        conn, _ = srv.accept()
        conn.sendall(f"member {rank} on {hosts[rank]}".encode())
        conn.close()
heard = []
for r in range(1, len(hosts)):
    for _ in range(200):
        try:
            with socket.create_connection((hosts[r], ports[r]), timeout=2) as c:
                heard.append(c.recv(100).decode())
                break
        except OSError:
            time.sleep(0.1)
json.dump({"heard": heard, "hosts": hosts, "config": cfg}, open(os.path.join(out, "heard.json"), "w"))
'''


@pytest.fixture(scope="module")
def resolvable_nodes():
    """Node names must resolve for members to reach each other (the issue's set-up: /etc/hosts)."""
    hosts = Path("/etc/hosts")
    text = hosts.read_text()
    missing = [n for n in ("n1", "n2", "n3") if not any(n in line.split()[1:] for line in text.splitlines()
                                                         if line.strip() and not line.startswith("#"))]
    if missing:
        try:
            with hosts.open("a") as fh:
                fh.write("127.0.0.1 " + " ".join(missing) + "  # pipec tests: Slurm node names\n")
        except OSError as exc:
            pytest.skip(f"cannot make node names resolvable: {exc}")


def free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_distributed_group_members_talk_by_host_name_and_stop_with_the_lead(slurm_cluster, resolvable_nodes, tmp_path):
    ports = free_ports(3)
    member = tmp_path / "member.py"
    member.write_text(MEMBER.replace("PORTS", json.dumps(ports)))
    text = PIPELINE.replace("{source}", str(member))
    for i, p in enumerate(ports):
        text = text.replace(f"PORT{i}", str(p))
    (tmp_path / "valohai.yaml").write_text(text)
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "pipec", "compile", str(tmp_path / "valohai.yaml"), "--target", "slurm",
                    "-o", str(out)], check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "compiler"), "PATH": "/usr/bin:/bin"})
    script_dir = out / "group"
    check = subprocess.run(["shellcheck", "-x", "-S", "warning", "submit.sh", "jobs/workers.sbatch", "pipec-runtime.sh"],
                           cwd=script_dir, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    run = tmp_path / "run"
    start = time.time()
    submitted = subprocess.run([str(script_dir / "submit.sh"), "--run-dir", str(run)], cwd=tmp_path,
                               env=slurm_cluster.env, capture_output=True, text=True)
    assert submitted.returncode == 0, submitted.stderr
    ids = [line.split("\t")[1] for line in (run / "jobs.tsv").read_text().splitlines()]
    slurm_cluster.wait_for_jobs(ids, timeout=120)
    elapsed = time.time() - start
    states = slurm_cluster.job_states(ids[0])
    assert set(states.values()) == {"COMPLETED"}, (states, slurm_cluster.log_tail())
    heard = json.loads((run / "workers" / "0" / "outputs" / "heard.json").read_text())
    assert heard["hosts"] == ["n1", "n2", "n3"] or len(set(heard["hosts"])) == 3
    assert heard["heard"] == [f"member 1 on {heard['hosts'][1]}", f"member 2 on {heard['hosts'][2]}"]
    assert heard["config"]["size"] == 3 and heard["config"]["hosts"] == heard["hosts"]
    for rank in (1, 2):
        assert (run / "workers" / str(rank) / "outputs" / "started").exists()
    # The followers serve forever; the group ended because the lead did.
    assert elapsed < 60
    leftover = subprocess.run(["pgrep", "-f", str(member)], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""
