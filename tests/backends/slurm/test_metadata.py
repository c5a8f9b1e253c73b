"""Run-time values on a real Slurm cluster: a metadata -> parameter edge gives the downstream
job the last value the upstream printed for the key, byte for byte, in its command and in
parameters.json; a task node fed a metadata list runs one execution per item."""

# ruff: noqa: F811
from __future__ import annotations

import json
import subprocess
import sys

from tests.paths import ROOT

LABEL = "it's $(touch pwned) `touch pwned` \"q\" ü\n-n"

TUNE = f"""
import json
print("not json")
print(json.dumps({{"best_lr": 0.5, "note": "first"}}))
print(json.dumps({{"best_lr": 0.25, "label": {LABEL!r}}}))
"""

PIPELINE = """
- step:
    name: tune
    image: python:3.12
    command: python3 {tune}
- step:
    name: train
    image: python:3.12
    command:
      - printf '%s' {parameter-value:label} > /valohai/outputs/label.txt
      - echo {parameter:lr} > /valohai/outputs/lr.txt
      - cp /valohai/config/parameters.json /valohai/outputs/
    parameters:
      - {name: lr, type: float, default: 1.0}
      - {name: label, type: string, default: none}
- pipeline:
    name: meta
    nodes:
      - {name: tune, type: execution, step: tune}
      - {name: train, type: execution, step: train}
    edges:
      - [tune.metadata.best_lr, train.parameter.lr]
      - [tune.metadata.label, train.parameter.label]
"""


def test_metadata_reaches_the_downstream_parameter(slurm_cluster, tmp_path):
    (tmp_path / "tune.py").write_text(TUNE)
    (tmp_path / "valohai.yaml").write_text(PIPELINE.replace("{tune}", str(tmp_path / "tune.py")))
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "pipec", "compile", str(tmp_path / "valohai.yaml"), "--target", "slurm",
                    "-o", str(out)], check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "compiler"), "PATH": "/usr/bin:/bin"})
    check = subprocess.run(["shellcheck", "-x", "-S", "warning", "submit.sh", "jobs/tune.sbatch", "jobs/train.sbatch"],
                           cwd=out / "meta", capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    run = tmp_path / "run"
    submitted = subprocess.run([str(out / "meta" / "submit.sh"), "--run-dir", str(run)], cwd=tmp_path,
                               env=slurm_cluster.env, capture_output=True, text=True)
    assert submitted.returncode == 0, submitted.stderr
    ids = [line.split("\t")[1] for line in (run / "jobs.tsv").read_text().splitlines()]
    slurm_cluster.wait_for_jobs(ids, timeout=120)
    assert [slurm_cluster.job_state(i) for i in ids] == ["COMPLETED", "COMPLETED"], slurm_cluster.log_tail()
    outputs = run / "train" / "0" / "outputs"
    assert (outputs / "label.txt").read_text() == LABEL
    assert (outputs / "lr.txt").read_text() == "--lr=0.25\n"
    assert json.loads((outputs / "parameters.json").read_text()) == {"lr": 0.25, "label": LABEL}
    assert not (tmp_path / "pwned").exists()


FANOUT = """
- step:
    name: list
    image: busybox
    command: |
      python3 -c 'import json; print(json.dumps({"rates": [0.1, "x y", {"deep": 1}]}))'
- step:
    name: train
    image: busybox
    command:
      - printf '%s' {parameter-value:lr} > /valohai/outputs/lr-$PIPEC_EXECUTION.txt
      - cp /valohai/config/parameters.json /valohai/outputs/params-$PIPEC_EXECUTION.json
    parameters:
      - {name: lr, type: string}
- step:
    name: gather
    image: busybox
    command: ls /valohai/inputs/all > /valohai/outputs/list.txt
    inputs:
      - name: all
- pipeline:
    name: fan
    nodes:
      - {name: list, type: execution, step: list}
      - {name: train, type: task, step: train}
      - {name: gather, type: execution, step: gather}
    edges:
      - [list.metadata.rates, train.parameter.lr]
      - [train.output.*, gather.input.all]
"""


def test_task_node_fans_out_over_a_metadata_list(slurm_cluster, tmp_path):
    (tmp_path / "valohai.yaml").write_text(FANOUT)
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "pipec", "compile", str(tmp_path / "valohai.yaml"), "--target", "slurm",
                    "-o", str(out)], check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "compiler"), "PATH": "/usr/bin:/bin"})
    run = tmp_path / "run"
    submitted = subprocess.run([str(out / "fan" / "submit.sh"), "--run-dir", str(run)], cwd=tmp_path,
                               env=slurm_cluster.env, capture_output=True, text=True)
    assert submitted.returncode == 0, submitted.stderr
    ids = [line.split("\t")[1] for line in (run / "jobs.tsv").read_text().splitlines()]
    slurm_cluster.wait_for_jobs(ids, timeout=120)
    # list, the train launcher, gather, then the train array the launcher submitted
    lines = (run / "jobs.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["list", "train", "gather", "train"]
    array_id = lines[3].split("\t")[1]
    assert set(slurm_cluster.job_states(array_id).values()) == {"COMPLETED"}
    assert slurm_cluster.job_state(ids[2]) == "COMPLETED", slurm_cluster.log_tail()
    train = run / "train"
    assert [(train / str(i) / "outputs" / f"lr-{i}.txt").read_text() for i in range(3)] == ["0.1", "x y", '{"deep": 1}']
    assert json.loads((train / "1" / "outputs" / "params-1.json").read_text()) == {"lr": "x y"}
    assert json.loads((train / "2" / "outputs" / "params-2.json").read_text()) == {"lr": {"deep": 1}}
    listing = (run / "gather" / "0" / "outputs" / "list.txt").read_text().split()
    assert listing == ["lr-0.txt", "lr-1.txt", "lr-2.txt", "params-0.json", "params-1.json", "params-2.json"]
