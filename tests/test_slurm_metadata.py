"""metadata -> parameter edges on a real Slurm cluster: the downstream job gets the last value
the upstream printed for the key, byte for byte, in its command and in parameters.json."""

# ruff: noqa: F811
from __future__ import annotations

import json
import subprocess
import sys

from tests.slurm_cluster import slurm_cluster  # noqa: F401

from .conftest import ROOT

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
