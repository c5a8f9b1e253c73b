"""End to end on a real Slurm cluster: compile valohai.yaml pipelines with
``pipec compile --target slurm``, submit them with the generated ``submit.sh``
and check what ran, what was staged, and what was cancelled.

Every pipeline here is a small inline valohai.yaml whose commands are plain
shell (no ML, no network; URL inputs are local absolute paths).  Every test
also runs shellcheck over the generated scripts.

What is covered: a preprocess -> sweep -> evaluate pipeline staging same-named
files from every execution; the maximum-queued-executions limit of a sweep, in
one array and split into several; the failure policies stop-all (also while
submit.sh is still submitting), stop-next, continue (and its gate) and retry;
staging that never drops nor alters a file; pipeline parameters set with
--param (and --dry-run); numbers and hostile strings arriving byte for byte.

Skipped when Slurm is not installed or cannot start, unless
PIPEC_REQUIRE_SLURM=1 (CI), where that is a failure.
"""

# The fixture is imported below, so its parameters "redefine" it: F811.
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from tests.harness.slurm_cluster import SlurmCluster
from tests.paths import ROOT

COMPILER = ROOT / "compiler"


# --------------------------------------------------------------------------- helpers
def compile_pipeline(tmp_path: Path, yaml_text: str, config: str | None = None) -> Path:
    """Write the YAML (and a pipec.toml next to it), compile it for Slurm, shellcheck the
    result; return OUT/<pipeline>."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "valohai.yaml"
    src.write_text(textwrap.dedent(yaml_text), encoding="utf-8")
    if config is not None:
        (tmp_path / "pipec.toml").write_text(textwrap.dedent(config), encoding="utf-8")
    out = tmp_path / "compiled"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(COMPILER) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipec",
            "compile",
            str(src),
            "--target",
            "slurm",
            "-o",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, (
        f"pipec compile failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    )
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, f"expected one pipeline directory in {out}: {dirs}"
    pdir = dirs[0]
    assert (pdir / "submit.sh").is_file() and os.access(pdir / "submit.sh", os.X_OK)
    shellcheck(pdir)
    return pdir


def shellcheck(pdir: Path) -> None:
    exe = shutil.which("shellcheck")
    if exe is None:
        if os.environ.get("PIPEC_REQUIRE_SLURM") == "1":
            pytest.fail("shellcheck is not installed (run .ci/slurm-deps)")
        pytest.skip("shellcheck is not installed")
    r = subprocess.run(
        "shellcheck -x -S warning submit.sh jobs/*.sbatch pipec-runtime.sh",
        check=False,
        shell=True,
        cwd=pdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, (
        f"shellcheck found problems in {pdir}:\n{r.stdout}\n{r.stderr}"
    )


def submit(
    cluster: SlurmCluster,
    pdir: Path,
    run: Path,
    cwd: Path,
    *args: str,
    check: bool = True,
) -> subprocess.CompletedProcess:
    r = cluster.run(
        [str(pdir / "submit.sh"), "--run-dir", str(run), *args],
        check=False,
        timeout=120,
        cwd=str(cwd),
    )
    if check:
        assert r.returncode == 0, (
            f"submit.sh failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        )
    return r


def job_ids(run: Path) -> dict[str, list[str]]:
    """jobs.tsv as {job name: [scheduler ids]} (a sweep may be several array chunks)."""
    ids: dict[str, list[str]] = {}
    for line in (run / "jobs.tsv").read_text().splitlines():
        name, jid = line.split("\t")
        ids.setdefault(name, []).append(jid)
    return ids


def wait_run(cluster: SlurmCluster, run: Path, timeout: float) -> dict[str, list[str]]:
    ids = job_ids(run)
    cluster.wait_for_jobs([j for js in ids.values() for j in js], timeout=timeout)
    return ids


def state(cluster: SlurmCluster, ids: dict[str, list[str]], name: str) -> str | None:
    states = {cluster.job_state(j) for j in ids[name]}
    assert len(states) == 1, f"{name}: chunks in different states {states}"
    return states.pop()


def logs(run: Path) -> str:
    """Every scheduler log of the run, for assertion messages."""
    parts = []
    for p in sorted((run / "logs").rglob("*")):
        if p.is_file() and p.stat().st_size:
            parts.append(
                f"--- {p.relative_to(run)} ---\n{p.read_text(errors='replace')[-2000:]}"
            )
    return "\n".join(parts)


@pytest.fixture
def runs(slurm_cluster: SlurmCluster):
    """Collects run directories; cancels whatever they left queued when the test ends,
    so that one failing test cannot hold the cluster's CPUs for the next."""
    dirs: list[Path] = []
    yield dirs
    for run in dirs:
        tsv = run / "jobs.tsv"
        if tsv.is_file():
            ids = [
                line.split("\t")[1]
                for line in tsv.read_text().splitlines()
                if "\t" in line
            ]
            if ids:
                slurm_cluster.run(["scancel", *ids], check=False, timeout=30)


def files_in(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir()) if p.is_file()}


# ------------------------------------------------------------------ 1. MNIST shape
MNIST = """\
- step:
    name: preprocess
    image: busybox
    command:
      - test "$(cat /valohai/inputs/raw/raw-digits.txt)" = "raw digits"
      - printf 'train images\\n' > /valohai/outputs/train-images.txt
      - printf 'train labels\\n' > /valohai/outputs/train-labels.txt
      - printf 'test images\\n' > /valohai/outputs/test-images.txt
      - printf 'notes\\n' > /valohai/outputs/readme.md
    inputs:
      - name: raw
        default: {raw}
    outputs:
      - name: train-images.txt
      - name: train-labels.txt
      - name: test-images.txt

- step:
    name: train
    image: busybox
    command:
      - test "$(cat /valohai/inputs/images/train-images.txt)" = "train images"
      - test "$(cat /valohai/inputs/labels/train-labels.txt)" = "train labels"
      - test ! -e /valohai/inputs/images/readme.md
      - printf 'lr=%s\\n' {{parameter-value:learning_rate}} > /valohai/outputs/model.txt
      - printf 'unique %s\\n' {{parameter-value:learning_rate}} > /valohai/outputs/model-{{parameter-value:learning_rate}}.txt
      - printf 'log\\n' > /valohai/outputs/train-log.txt
    parameters:
      - name: learning_rate
        type: float
        default: 0.5
    inputs:
      - name: images
      - name: labels
    outputs:
      - name: model*

- step:
    name: evaluate
    image: busybox
    command:
      - ls /valohai/inputs/models > /valohai/outputs/received.txt
      - cat /valohai/inputs/models/model.txt > /valohai/outputs/first-model.txt
    inputs:
      - name: models
    outputs:
      - name: received.txt

- task:
    name: train-grid
    step: train
    type: grid_search
    maximum-queued-executions: 3
    parameters:
      - name: learning_rate
        style: multiple
        rules:
          items: [0.1, 0.01, 0.001]

- pipeline:
    name: e2e mnist
    nodes:
      - name: preprocess
        type: execution
        step: preprocess
      - name: train
        type: task
        task: train-grid
      - name: evaluate
        type: execution
        step: evaluate
    edges:
      - [preprocess.output.train-images*, train.input.images]
      - [preprocess.output.*labels*, train.input.labels]
      - [train.output.model*, evaluate.input.models]
"""


def test_mnist_sweep_stages_every_model(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    raw = tmp_path / "data" / "raw-digits.txt"
    raw.parent.mkdir()
    raw.write_text("raw digits")
    pdir = compile_pipeline(tmp_path, MNIST.format(raw=raw))
    run = tmp_path / "run"
    runs.append(run)
    submit(slurm_cluster, pdir, run, tmp_path)
    ids = wait_run(slurm_cluster, run, timeout=90)
    assert set(ids) == {"preprocess", "train", "evaluate"}
    for name in ids:
        assert state(slurm_cluster, ids, name) == "COMPLETED", f"{name}\n{logs(run)}"
    train_states = slurm_cluster.job_states(ids["train"][0])
    assert sorted(train_states.values()) == ["COMPLETED"] * 3, train_states

    # Each execution of the sweep got its own parameters and wrote its own outputs.
    for index, lr in enumerate(["0.1", "0.01", "0.001"]):
        exe = run / "train" / str(index)
        assert json.loads((exe / "config" / "parameters.json").read_text()) == {
            "learning_rate": float(lr)
        }
        assert (exe / "outputs" / "model.txt").read_text() == f"lr={lr}\n"
        assert (exe / ".pipec" / "ok").exists()
        assert sorted(p.name for p in (exe / "inputs" / "images").iterdir()) == [
            "train-images.txt"
        ]
        assert sorted(p.name for p in (exe / "inputs" / "labels").iterdir()) == [
            "train-labels.txt"
        ]
    assert not (run / "train" / "3").exists()

    # evaluate received every model file of every execution, same-named ones renamed.
    staged = files_in(run / "evaluate" / "0" / "inputs" / "models")
    assert staged == {
        "model.txt": "lr=0.1\n",
        "model-0.1.txt": "unique 0.1\n",
        "model.train-1.txt": "lr=0.01\n",
        "model-0.01.txt": "unique 0.01\n",
        "model.train-2.txt": "lr=0.001\n",
        "model-0.001.txt": "unique 0.001\n",
    }
    outputs = run / "evaluate" / "0" / "outputs"
    assert sorted((outputs / "received.txt").read_text().split()) == sorted(staged)
    assert (outputs / "first-model.txt").read_text() == "lr=0.1\n"
    assert not (run / "FAILED").exists()


# ----------------------------------------------------- 2. throttled blueprint grid
GRID = """\
- step:
    name: work
    image: busybox
    command:
      - date +%s.%N > /valohai/outputs/start
      - sleep 1
      - date +%s.%N > /valohai/outputs/end
      - printf '%s %s\\n' {parameter-value:a} {parameter-value:b} > /valohai/outputs/ab
    parameters:
      - name: a
        type: integer
        default: 0
      - name: b
        type: string
        default: z

- task:
    name: grid
    step: work
    type: grid_search
    maximum-queued-executions: 3
    parameters:
      - name: a
        style: multiple
        rules:
          items: [1, 2, 3, 4]
      - name: b
        style: multiple
        rules:
          items: [x, y, z]

- pipeline:
    name: e2e grid
    nodes:
      - name: sweep
        type: task
        task: grid
    edges: []
"""


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted(
        [(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
        key=lambda ev: (ev[0], ev[1]),
    )  # an end before a start at the same instant
    best = cur = 0
    for _, delta in events:
        cur += delta
        best = max(best, cur)
    return best


def test_grid_respects_maximum_queued_executions(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    pdir = compile_pipeline(tmp_path, GRID)
    sbatch_lines = (pdir / "submit.sh").read_text()
    assert "--array=0-11%3" in sbatch_lines
    run = tmp_path / "run"
    runs.append(run)
    submit(slurm_cluster, pdir, run, tmp_path)
    ids = wait_run(slurm_cluster, run, timeout=120)
    states = slurm_cluster.job_states(ids["sweep"][0])
    assert len(states) == 12 and set(states.values()) == {"COMPLETED"}, (
        f"{states}\n{logs(run)}"
    )

    intervals = []
    combos = set()
    for index in range(12):
        out = run / "sweep" / str(index) / "outputs"
        start = float((out / "start").read_text())
        end = float((out / "end").read_text())
        assert end - start >= 1.0
        intervals.append((start, end))
        combos.add((out / "ab").read_text())
    assert combos == {f"{a} {b}\n" for a in (1, 2, 3, 4) for b in "xyz"}
    overlap = max_overlap(intervals)
    assert overlap <= 3, (
        f"{overlap} executions ran at once despite maximum-queued-executions: 3"
    )
    assert overlap >= 2, f"executions never overlapped: {sorted(intervals)}"


SPLIT_GRID = (
    GRID.split("- pipeline:")[0]
    + """\
- step:
    name: collect
    image: busybox
    command:
      - cat /valohai/inputs/ab/* | sort > /valohai/outputs/all.txt
    inputs:
      - name: ab

- pipeline:
    name: e2e split grid
    nodes:
      - name: sweep
        type: task
        task: grid
      - name: collect
        type: execution
        step: collect
    edges:
      - [sweep.output.ab, collect.input.ab]
"""
)


def test_grid_split_into_several_arrays(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    """A sweep larger than the cluster's MaxArraySize is split into several arrays: every
    execution still runs once with its own parameters, downstream waits for all of them,
    and maximum-queued-executions still limits the whole sweep, not each array."""
    pdir = compile_pipeline(
        tmp_path, SPLIT_GRID, config="[slurm]\nmax_array_size = 5\n"
    )
    text = (pdir / "submit.sh").read_text()
    assert text.count("submit sweep ") == 3, text
    run = tmp_path / "run"
    runs.append(run)
    submit(slurm_cluster, pdir, run, tmp_path)
    ids = wait_run(slurm_cluster, run, timeout=120)
    assert len(ids["sweep"]) == 3
    for jid in ids["sweep"]:
        assert set(slurm_cluster.job_states(jid).values()) == {"COMPLETED"}, logs(run)
    assert state(slurm_cluster, ids, "collect") == "COMPLETED", logs(run)
    expected = [(a, b) for a in (1, 2, 3, 4) for b in "xyz"]  # the grid's row order
    intervals = []
    for index, (a, b) in enumerate(expected):
        exe = run / "sweep" / str(index)
        assert json.loads((exe / "config" / "parameters.json").read_text()) == {
            "a": a,
            "b": b,
        }, index
        assert (exe / "outputs" / "ab").read_text() == f"{a} {b}\n"
        intervals.append(
            (
                float((exe / "outputs" / "start").read_text()),
                float((exe / "outputs" / "end").read_text()),
            )
        )
    assert not (run / "sweep" / "12").exists()
    all_txt = (run / "collect" / "0" / "outputs" / "all.txt").read_text()
    assert all_txt == "".join(sorted(f"{a} {b}\n" for a, b in expected))
    overlap = max_overlap(intervals)
    assert overlap <= 3, (
        f"{overlap} executions ran at once despite maximum-queued-executions: 3"
    )


# ----------------------------------------- 1b. same-named files from subdirectories
NESTED = """\
- step:
    name: checkpoints
    image: busybox
    command:
      - for d in a b c; do mkdir -p /valohai/outputs/$d; echo {parameter-value:run}-$d > /valohai/outputs/$d/model.txt; done
    parameters:
      - name: run
        type: string
        default: r

- step:
    name: gather
    image: busybox
    command:
      - cat /valohai/inputs/flat/* | sort > /valohai/outputs/flat.txt
    inputs:
      - name: flat
      - name: tree
        keep-directories: full

- task:
    name: runs
    step: checkpoints
    type: grid_search
    parameters:
      - name: run
        style: multiple
        rules:
          items: [r0, r1]

- pipeline:
    name: e2e nested
    nodes:
      - name: ckpt
        type: task
        task: runs
      - name: gather
        type: execution
        step: gather
    edges:
      - [ckpt.output.*model.txt, gather.input.flat]
      - [ckpt.output.*model.txt, gather.input.tree]
"""


def test_staging_keeps_same_named_files_from_subdirectories(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    """Each execution writes a/model.txt, b/model.txt and c/model.txt. Flattened into one
    input slot (keep-directories: none) all six files must still arrive, under six
    names; with keep-directories: full the tree is kept and only the second execution's
    files are renamed."""
    pdir = compile_pipeline(tmp_path, NESTED)
    run = tmp_path / "run"
    runs.append(run)
    submit(slurm_cluster, pdir, run, tmp_path)
    ids = wait_run(slurm_cluster, run, timeout=60)
    for name in ("ckpt", "gather"):
        assert state(slurm_cluster, ids, name) == "COMPLETED", logs(run)
    for r in ("r0", "r1"):
        for d in "abc":
            out = run / "ckpt" / r[1] / "outputs" / d / "model.txt"
            assert out.read_text() == f"{r}-{d}\n", (
                f"staging changed the upstream output {out}"
            )
    inputs = run / "gather" / "0" / "inputs"
    tree = {
        str(p.relative_to(inputs / "tree")): p.read_text()
        for p in (inputs / "tree").rglob("*")
        if p.is_file()
    }
    assert tree == {
        "a/model.txt": "r0-a\n",
        "b/model.txt": "r0-b\n",
        "c/model.txt": "r0-c\n",
        "a/model.ckpt-1.txt": "r1-a\n",
        "b/model.ckpt-1.txt": "r1-b\n",
        "c/model.ckpt-1.txt": "r1-c\n",
    }
    flat = files_in(inputs / "flat")
    assert "model.txt" in flat
    assert sorted(flat.values()) == [
        f"{r}-{d}\n" for r in ("r0", "r1") for d in "abc"
    ], f"files were dropped while staging: {flat}"


# ------------------------------------------------ 1c. inputs are the job's own copy
ISOLATION = """\
- step:
    name: produce
    image: busybox
    command:
      - echo original > /valohai/outputs/data.txt

- step:
    name: modify
    image: busybox
    command:
      - echo appended >> /valohai/inputs/data/data.txt
      - cp /valohai/inputs/data/data.txt /valohai/outputs/modified.txt
    inputs:
      - name: data

- step:
    name: read
    image: busybox
    command:
      - cp /valohai/inputs/data/data.txt /valohai/outputs/read.txt
    inputs:
      - name: data

- pipeline:
    name: e2e isolation
    nodes:
      - name: produce
        type: execution
        step: produce
      - name: modify
        type: execution
        step: modify
      - name: read
        type: execution
        step: read
    edges:
      - [produce.output.data.txt, modify.input.data]
      - [modify.output.modified.txt, read.input.data]
      - [produce.output.data.txt, read.input.data]
"""


def test_writing_an_input_leaves_the_upstream_output_alone(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    """A command that appends to one of its input files changes its own copy only: the
    upstream execution's output (and what any later job is given) stays as written."""
    pdir = compile_pipeline(tmp_path, ISOLATION)
    run = tmp_path / "run"
    runs.append(run)
    submit(slurm_cluster, pdir, run, tmp_path)
    ids = wait_run(slurm_cluster, run, timeout=60)
    for name in ("produce", "modify", "read"):
        assert state(slurm_cluster, ids, name) == "COMPLETED", logs(run)
    assert (
        run / "modify" / "0" / "outputs" / "modified.txt"
    ).read_text() == "original\nappended\n"
    assert (
        run / "produce" / "0" / "outputs" / "data.txt"
    ).read_text() == "original\n", (
        "modify's write to its input changed produce's output"
    )
    # read runs after modify and is given produce's data.txt: it must see the original.
    staged = files_in(run / "read" / "0" / "inputs" / "data")
    assert sorted(staged.values()) == ["original\n", "original\nappended\n"], staged


# --------------------------------------------------------------------- 3. stop-all
STOP_ALL = """\
- step:
    name: fail-fast
    image: busybox
    command:
      - sleep 2
      - echo failing > /valohai/outputs/attempted.txt
      - exit 3

- step:
    name: slow
    image: busybox
    command:
      - date +%s > /valohai/outputs/started
      - sleep 60
      - echo done > /valohai/outputs/finished

- step:
    name: after
    image: busybox
    command:
      - echo ran > /valohai/outputs/ran.txt
    inputs:
      - name: upstream
        optional: true

- pipeline:
    name: e2e stop all
    nodes:
      - name: a
        type: execution
        step: fail-fast
      - name: a-next
        type: execution
        step: after
      - name: b
        type: execution
        step: slow
    edges:
      - [a.output.*, a-next.input.upstream]
"""


def test_stop_all_cancels_the_whole_run(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    pdir = compile_pipeline(tmp_path, STOP_ALL)
    run = tmp_path / "run"
    runs.append(run)
    t0 = time.monotonic()
    submit(slurm_cluster, pdir, run, tmp_path)
    ids = wait_run(slurm_cluster, run, timeout=45)
    elapsed = time.monotonic() - t0
    assert elapsed < 55, f"the run took {elapsed:.0f}s: b was not cancelled"
    assert state(slurm_cluster, ids, "a") in ("FAILED", "CANCELLED")
    assert (run / "a" / "0" / ".pipec" / "failed").read_text().strip() == "3"
    assert state(slurm_cluster, ids, "b") == "CANCELLED", logs(run)
    assert (run / "b" / "0" / "outputs" / "started").exists(), (
        "b should have been running when cancelled"
    )
    assert not (run / "b" / "0" / "outputs" / "finished").exists()
    assert not (run / "b" / "0" / ".pipec" / "ok").exists()
    assert state(slurm_cluster, ids, "a-next") == "CANCELLED"
    assert not (run / "a-next" / "0" / ".pipec").exists(), "a-next ran after a failed"
    assert (run / "FAILED").is_file() and (run / "STOPPED").is_file()
    assert "a failed" in (run / "FAILED").read_text()


STOP_ALL_EARLY = """\
- step:
    name: fail-now
    image: busybox
    command:
      - exit 3

- step:
    name: slow
    image: busybox
    command:
      - sleep 8
      - echo done > /valohai/outputs/finished

- pipeline:
    name: e2e stop all early
    nodes:
      - name: a
        type: execution
        step: fail-now
      - name: b
        type: execution
        step: slow
    edges: []
"""


def test_stop_all_while_still_submitting(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    """On a busy cluster sbatch can take seconds, so the first job may fail before
    submit.sh has submitted (or recorded) the rest; a stop-all failure must still stop
    the whole run, including jobs submitted after it."""
    real = shutil.which("sbatch", path=slurm_cluster.env.get("PATH"))
    assert real
    shim = tmp_path / "busy-controller"
    shim.mkdir()
    (shim / "sbatch").write_text(
        f'#!/bin/sh\nout=$("{real}" "$@") || exit $?\nsleep 3\nprintf "%s\\n" "$out"\n'
    )
    (shim / "sbatch").chmod(0o755)
    pdir = compile_pipeline(tmp_path, STOP_ALL_EARLY)
    run = tmp_path / "run"
    runs.append(run)
    r = slurm_cluster.run(
        [str(pdir / "submit.sh"), "--run-dir", str(run)],
        check=False,
        timeout=120,
        cwd=str(tmp_path),
        env={"PATH": f"{shim}{os.pathsep}{slurm_cluster.env['PATH']}"},
    )
    # The run was stopped while submitting: submit.sh says so, cancels the rest and exits 1.
    assert r.returncode == 1, r.stderr
    assert "the run was stopped while submitting" in r.stderr
    ids = wait_run(slurm_cluster, run, timeout=40)
    assert (run / "a" / "0" / ".pipec" / "failed").read_text().strip() == "3"
    assert (run / "FAILED").is_file()
    # b is either never submitted (submit.sh saw FAILED first) or cancelled.
    if "b" in ids:
        assert state(slurm_cluster, ids, "b") == "CANCELLED", (
            "b was submitted after a had already failed the run, and ran anyway\n"
            + logs(run)
        )
    assert not (run / "b" / "0" / "outputs" / "finished").exists()


# -------------------------------------------------------------------- 4. stop-next
STOP_NEXT = """\
- step:
    name: fail-fast
    image: busybox
    command:
      - echo failing > /valohai/outputs/attempted.txt
      - exit 3

- step:
    name: slowish
    image: busybox
    command:
      - sleep 4
      - echo b-output > /valohai/outputs/b.txt

- step:
    name: after
    image: busybox
    command:
      - ls /valohai/inputs/upstream > /valohai/outputs/ran.txt
    inputs:
      - name: upstream

- pipeline:
    name: e2e stop next
    nodes:
      - name: a
        type: execution
        step: fail-fast
        on-error: stop-next
      - name: a-next
        type: execution
        step: after
      - name: b
        type: execution
        step: slowish
        on-error: stop-next
      - name: b-next
        type: execution
        step: after
    edges:
      - [a.output.*, a-next.input.upstream]
      - [b.output.*, b-next.input.upstream]
"""


def test_stop_next_cancels_only_the_downstream(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    pdir = compile_pipeline(tmp_path, STOP_NEXT)
    run = tmp_path / "run"
    runs.append(run)
    submit(slurm_cluster, pdir, run, tmp_path)
    ids = wait_run(slurm_cluster, run, timeout=60)
    assert state(slurm_cluster, ids, "a") == "FAILED", logs(run)
    assert (run / "a" / "0" / ".pipec" / "failed").read_text().strip() == "3"
    assert state(slurm_cluster, ids, "a-next") == "CANCELLED"
    assert not (run / "a-next" / "0" / ".pipec").exists(), "a-next ran after a failed"
    assert state(slurm_cluster, ids, "b") == "COMPLETED", logs(run)
    assert state(slurm_cluster, ids, "b-next") == "COMPLETED", logs(run)
    assert (
        run / "b-next" / "0" / "inputs" / "upstream" / "b.txt"
    ).read_text() == "b-output\n"
    assert (run / "b-next" / "0" / "outputs" / "ran.txt").read_text() == "b.txt\n"
    # stop-next: the failure is reported, the run is not stopped.
    assert (run / "FAILED").read_text().startswith("a failed (execution 0): ")
    assert not (run / "STOPPED").exists()


# --------------------------------------------------------------------- 5. continue
CONTINUE = """\
- step:
    name: shard
    image: busybox
    command:
      - echo part-{parameter-value:part} > /valohai/outputs/part-{parameter-value:part}.txt
      - echo common-{parameter-value:part} > /valohai/outputs/part.txt
      - case ,{parameter-value:fail}, in *,{parameter-value:part},*) echo "part fails after writing" >&2; exit 7 ;; esac
    parameters:
      - name: part
        type: integer
        default: 0
      - name: fail
        type: string
        default: none

- step:
    name: merge
    image: busybox
    command:
      - ls /valohai/inputs/parts > /valohai/outputs/received.txt
    inputs:
      - name: parts

- task:
    name: shards
    step: shard
    type: grid_search
    parameters:
      - name: part
        style: multiple
        rules:
          items: [1, 2, 3]

- pipeline:
    name: e2e continue
    parameters:
      - name: fail
        targets:
          - shards.parameter.fail
        default: "2"
    nodes:
      - name: shards
        type: task
        task: shards
        on-error: continue
      - name: merge
        type: execution
        step: merge
    edges:
      - [shards.output.part*, merge.input.parts]
"""


def test_continue_stages_only_successful_executions(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    pdir = compile_pipeline(tmp_path, CONTINUE)
    run = tmp_path / "run"
    # The same pipeline with every execution failing: the gate stops merge.
    all_failed = tmp_path / "run-all-failed"
    runs.extend([run, all_failed])
    submit(slurm_cluster, pdir, run, tmp_path)
    submit(slurm_cluster, pdir, all_failed, tmp_path, "--param", "fail=1,2,3")
    ids = wait_run(slurm_cluster, run, timeout=60)
    ids2 = wait_run(slurm_cluster, all_failed, timeout=60)
    arr = ids["shards"][0]
    states = slurm_cluster.job_states(arr)
    assert states == {
        f"{arr}_0": "COMPLETED",
        f"{arr}_1": "FAILED",
        f"{arr}_2": "COMPLETED",
    }, states
    assert (run / "shards" / "1" / ".pipec" / "failed").read_text().strip() == "7"
    assert not (run / "shards" / "1" / ".pipec" / "ok").exists()
    # The failed execution wrote outputs before failing; none of them may be staged.
    assert (run / "shards" / "1" / "outputs" / "part-2.txt").exists()
    assert state(slurm_cluster, ids, "merge") == "COMPLETED", logs(run)
    staged = files_in(run / "merge" / "0" / "inputs" / "parts")
    assert staged == {
        "part-1.txt": "part-1\n",
        "part.txt": "common-1\n",
        "part-3.txt": "part-3\n",
        "part.shards-2.txt": "common-3\n",
    }
    assert sorted(
        (run / "merge" / "0" / "outputs" / "received.txt").read_text().split()
    ) == sorted(staged)
    # continue: the failed execution is reported, the run is not stopped.
    assert "shards failed (execution 1): " in (run / "FAILED").read_text()
    assert not (run / "STOPPED").exists()

    arr = ids2["shards"][0]
    assert set(slurm_cluster.job_states(arr).values()) == {"FAILED"}, (
        slurm_cluster.job_states(arr)
    )
    assert state(slurm_cluster, ids2, "merge") in ("FAILED", "CANCELLED"), logs(
        all_failed
    )
    merge = all_failed / "merge" / "0"
    assert not (merge / ".pipec" / "ok").exists()
    assert not (merge / ".pipec" / "command.sh").exists(), (
        "merge ran although no execution succeeded"
    )
    assert not (merge / "outputs" / "received.txt").exists()
    parts = merge / "inputs" / "parts"
    assert not parts.exists() or not any(parts.iterdir())


# ------------------------------------------------------------------------ 6. retry
RETRY = """\
- step:
    name: flaky
    image: busybox
    command:
      - echo attempt >> {counter}
      - if [ "$(wc -l < {counter})" -lt 2 ]; then echo "first attempt fails" >&2; exit 9; fi
      - echo ok > /valohai/outputs/result.txt

- step:
    name: after
    image: busybox
    command:
      - cat /valohai/inputs/result/result.txt > /valohai/outputs/seen.txt
    inputs:
      - name: result

- pipeline:
    name: e2e retry
    nodes:
      - name: flaky
        type: execution
        step: flaky
        on-error: retry
      - name: after
        type: execution
        step: after
    edges:
      - [flaky.output.result.txt, after.input.result]
"""


RETRY_EXHAUSTED = """\
- step:
    name: broken
    image: busybox
    command:
      - echo attempt >> {counter}
      - exit 4

- step:
    name: after
    image: busybox
    command:
      - echo ran > /valohai/outputs/ran.txt
    inputs:
      - name: result
        optional: true

- pipeline:
    name: e2e retry exhausted
    nodes:
      - name: broken
        type: execution
        step: broken
        on-error: retry
      - name: after
        type: execution
        step: after
    edges:
      - [broken.output.*, after.input.result]
"""


def test_retry_reruns_a_failed_command(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    counter = tmp_path / "state" / "attempts.log"
    counter.parent.mkdir()
    pdir = compile_pipeline(tmp_path / "flaky", RETRY.format(counter=counter))
    run = tmp_path / "run"
    runs.append(run)
    # A second pipeline whose command never succeeds: 1 + 2 retries, then it fails the run.
    counter2 = tmp_path / "state" / "broken.log"
    pdir2 = compile_pipeline(
        tmp_path / "broken", RETRY_EXHAUSTED.format(counter=counter2)
    )
    run2 = tmp_path / "run-broken"
    runs.append(run2)
    submit(slurm_cluster, pdir, run, tmp_path)
    submit(slurm_cluster, pdir2, run2, tmp_path)
    ids = wait_run(slurm_cluster, run, timeout=60)
    ids2 = wait_run(slurm_cluster, run2, timeout=60)

    assert state(slurm_cluster, ids2, "broken") in ("FAILED", "CANCELLED"), logs(run2)
    assert (run2 / "broken" / "0" / ".pipec" / "attempts").read_text().strip() == "3"
    assert (run2 / "broken" / "0" / ".pipec" / "failed").read_text().strip() == "4"
    assert counter2.read_text() == "attempt\n" * 3
    assert state(slurm_cluster, ids2, "after") == "CANCELLED"
    assert not (run2 / "after" / "0" / ".pipec").exists()
    assert (run2 / "FAILED").is_file()

    assert state(slurm_cluster, ids, "flaky") == "COMPLETED", logs(run)
    exe = run / "flaky" / "0"
    assert (exe / ".pipec" / "attempts").read_text().strip() == "2"
    assert (exe / ".pipec" / "ok").exists()
    assert not (exe / ".pipec" / "failed").exists()
    assert counter.read_text() == "attempt\nattempt\n"
    assert state(slurm_cluster, ids, "after") == "COMPLETED", logs(run)
    assert (run / "after" / "0" / "outputs" / "seen.txt").read_text() == "ok\n"
    assert not (run / "FAILED").exists()


# ------------------------------------------------- 7. pipeline parameter override
PARAMS = """\
- step:
    name: say
    image: busybox
    command:
      - printf '%s|%s' {parameter-value:greeting} {parameter-value:epochs} > /valohai/outputs/seen.txt
      - echo {parameters} > /valohai/outputs/cli.txt
    parameters:
      - name: greeting
        type: string
        default: step-default
      - name: epochs
        type: integer
        default: 1

- task:
    name: seeds
    step: say
    type: grid_search
    parameters:
      - name: epochs
        style: multiple
        rules:
          items: [10, 20]

- pipeline:
    name: e2e params
    parameters:
      - name: greeting
        targets:
          - single.parameter.greeting
          - sweep.parameter.greeting
        default: hello
      - name: epochs
        targets:
          - single.parameter.epochs
        default: 3
    nodes:
      - name: single
        type: execution
        step: say
      - name: sweep
        type: task
        task: seeds
    edges: []
"""


def test_pipeline_parameter_override_and_dry_run(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    pdir = compile_pipeline(tmp_path, PARAMS)
    wf = pdir.name

    # --dry-run prints the sbatch lines and submits nothing.
    dry = tmp_path / "dry"
    r = submit(
        slurm_cluster, pdir, dry, tmp_path, "--dry-run", "--param", "greeting=bonjour"
    )
    lines = r.stdout.splitlines()
    sbatch = [line for line in lines if line.startswith("sbatch --parsable ")]
    assert len(sbatch) == 2, r.stdout
    assert any("--array=0-1" in line and "sweep.sbatch" in line for line in sbatch), (
        r.stdout
    )
    assert any("single.sbatch" in line for line in sbatch), r.stdout
    assert "dry run: nothing submitted" in r.stdout
    assert not (dry / "jobs.tsv").exists()
    known = slurm_cluster.run(["scontrol", "show", "job", "-o"], check=False).stdout
    assert f"JobName={wf}." not in known, "the dry run submitted jobs"

    # Bad values are refused before anything is submitted.
    bad = submit(
        slurm_cluster,
        pdir,
        tmp_path / "bad",
        tmp_path,
        "--param",
        "epochs=many",
        check=False,
    )
    assert bad.returncode == 2 and "integer" in bad.stderr, bad
    bad = submit(
        slurm_cluster,
        pdir,
        tmp_path / "bad2",
        tmp_path,
        "--param",
        "nope=1",
        check=False,
    )
    assert bad.returncode == 2 and "nope" in bad.stderr, bad
    known = slurm_cluster.run(["scontrol", "show", "job", "-o"], check=False).stdout
    assert f"JobName={wf}." not in known, "a refused submission submitted jobs"

    # A run with defaults and a run with overrides, side by side.
    default_run, override_run = tmp_path / "run-default", tmp_path / "run-override"
    runs.extend([default_run, override_run])
    submit(slurm_cluster, pdir, default_run, tmp_path)
    submit(
        slurm_cluster,
        pdir,
        override_run,
        tmp_path,
        "--param",
        "greeting=bonjour",
        "--param=epochs=7",
    )
    wait_run(slurm_cluster, default_run, timeout=60)
    wait_run(slurm_cluster, override_run, timeout=60)
    known = slurm_cluster.run(["scontrol", "show", "job", "-o"], check=False).stdout
    assert (
        f"JobName={wf}.single" in known
    )  # so the checks above looked for the right name
    for run in (default_run, override_run):
        ids = job_ids(run)
        for name in ("single", "sweep"):
            assert state(slurm_cluster, ids, name) == "COMPLETED", logs(run)

    def seen(run: Path, job: str, index: int) -> tuple[str, dict]:
        exe = run / job / str(index)
        return (
            (exe / "outputs" / "seen.txt").read_text(),
            json.loads((exe / "config" / "parameters.json").read_text()),
        )

    assert seen(default_run, "single", 0) == (
        "hello|3",
        {"greeting": "hello", "epochs": 3},
    )
    assert seen(override_run, "single", 0) == (
        "bonjour|7",
        {"greeting": "bonjour", "epochs": 7},
    )
    assert (
        override_run / "single" / "0" / "outputs" / "cli.txt"
    ).read_text() == "--greeting=bonjour --epochs=7\n"
    for index, epochs in enumerate((10, 20)):
        assert seen(default_run, "sweep", index) == (
            f"hello|{epochs}",
            {"greeting": "hello", "epochs": epochs},
        )
        assert seen(override_run, "sweep", index) == (
            f"bonjour|{epochs}",
            {"greeting": "bonjour", "epochs": epochs},
        )


# -------------------------------------------- 7b. numbers spelled the shell's way
NUMBERS = """\
- step:
    name: nums
    image: busybox
    command:
      - printf '%s|%s' {parameter-value:epochs} {parameter-value:rate} > /valohai/outputs/seen.txt
    parameters:
      - name: epochs
        type: integer
        default: 1
      - name: rate
        type: float
        default: 0.1

- pipeline:
    name: e2e numbers
    parameters:
      - name: epochs
        targets:
          - nums.parameter.epochs
        default: 1
      - name: rate
        targets:
          - nums.parameter.rate
        default: 0.1
    nodes:
      - name: nums
        type: execution
        step: nums
    edges: []
"""


@pytest.mark.parametrize(
    ("epochs", "rate", "want"),
    [("+7", ".5", (7, 0.5)), ("007", "1.", (7, 1.0)), ("-3", "-2E-1", (-3, -0.2))],
    ids=[
        "plus-and-leading-dot",
        "leading-zeros-and-trailing-dot",
        "negative-and-exponent",
    ],
)
def test_numeric_parameter_spellings(
    slurm_cluster: SlurmCluster,
    tmp_path: Path,
    runs: list[Path],
    epochs: str,
    rate: str,
    want: tuple,
) -> None:
    """submit.sh accepts these spellings for integer / float pipeline parameters; an
    accepted value must give a valid parameters.json holding that number (a refusal
    with exit 2 would be fine too)."""
    pdir = compile_pipeline(tmp_path, NUMBERS)
    run = tmp_path / "run"
    runs.append(run)
    r = submit(
        slurm_cluster,
        pdir,
        run,
        tmp_path,
        "--param",
        f"epochs={epochs}",
        "--param",
        f"rate={rate}",
        check=False,
    )
    if r.returncode == 2:
        assert not (run / "jobs.tsv").exists() or not (run / "jobs.tsv").read_text()
        return
    assert r.returncode == 0, r.stderr
    ids = wait_run(slurm_cluster, run, timeout=60)
    assert state(slurm_cluster, ids, "nums") == "COMPLETED", logs(run)
    text = (run / "nums" / "0" / "config" / "parameters.json").read_text()
    try:
        params = json.loads(text)
    except ValueError as exc:
        pytest.fail(
            f"--param epochs={epochs} rate={rate} gave an invalid parameters.json {text!r}: {exc}"
        )
    assert (params["epochs"], params["rate"]) == want
    assert isinstance(params["epochs"], int) and isinstance(params["rate"], float)


# ------------------------------------------------------------- 8. hostile values
HOSTILE_PARAM = (
    '-n it\'s "double" $(touch PWNED1) `touch PWNED2` ; touch PWNED3 & | \\ \\n'
    "\nsecond line\tTAB\nPIPEC_EOF\n%s %% ${HOME} $HOME a=b ünïcödé ✓ 😀 \r\n"
)
HOSTILE_DEFAULT = (
    "--x='y' \"$(touch PWNED4)\" `touch PWNED5`; rm -rf nothing & echo ok\nPIPEC_EOF\n"
    "''' \\' \\\\ ${PIPEC_PARAM_0} $PIPEC_RUN_DIR é漢字 🚀 *? [a] ~ !! #end\n"
)
HOSTILE = """\
- step:
    name: echo
    image: busybox
    command:
      - printf '%s' {{parameter-value:p}} > /valohai/outputs/p.bin
      - printf '%s' {{parameter-value:q}} > /valohai/outputs/q.bin
    parameters:
      - name: p
        type: string
        default: plain
      - name: q
        type: string
        default: {default}
      - name: n
        type: integer
        default: 0

- task:
    name: two
    step: echo
    type: grid_search
    parameters:
      - name: n
        style: multiple
        rules:
          items: [1, 2]

- pipeline:
    name: e2e hostile
    parameters:
      - name: evil
        targets:
          - single.parameter.p
          - sweep.parameter.p
        default: harmless
    nodes:
      - name: single
        type: execution
        step: echo
      - name: sweep
        type: task
        task: two
    edges: []
"""


def test_hostile_values_arrive_byte_for_byte(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    # A JSON string is a YAML double-quoted scalar.
    pdir = compile_pipeline(
        tmp_path,
        HOSTILE.format(default=json.dumps(HOSTILE_DEFAULT, ensure_ascii=False)),
    )
    # The code checkout and the run directory have awkward names too.
    work = tmp_path / "work dir 'x' $(y)"
    work.mkdir()
    run = tmp_path / 'run dir "z" ;`w`'
    runs.append(run)
    submit(slurm_cluster, pdir, run, work, "--param", "evil=" + HOSTILE_PARAM)
    ids = wait_run(slurm_cluster, run, timeout=60)
    for name in ("single", "sweep"):
        assert state(slurm_cluster, ids, name) == "COMPLETED", logs(run)
    assert sorted(p.name for p in work.iterdir() if p.name.startswith("PWNED")) == [], (
        "a value was executed"
    )
    executions = [run / "single" / "0", run / "sweep" / "0", run / "sweep" / "1"]
    for exe in executions:
        assert (exe / "outputs" / "p.bin").read_bytes() == HOSTILE_PARAM.encode(), exe
        assert (exe / "outputs" / "q.bin").read_bytes() == HOSTILE_DEFAULT.encode(), exe
        with open(exe / "config" / "parameters.json", encoding="utf-8") as fh:
            params = json.load(fh)
        assert params["p"] == HOSTILE_PARAM, exe
        assert params["q"] == HOSTILE_DEFAULT, exe
    assert (
        json.loads((executions[0] / "config" / "parameters.json").read_text())["n"] == 0
    )
    assert [
        json.loads((e / "config" / "parameters.json").read_text())["n"]
        for e in executions[1:]
    ] == [1, 2]


# ------------------------------------- 8b. a value that looks like pipec's own placeholder
LOOKALIKE = """\
- step:
    name: echo
    image: busybox
    command:
      - printf '%s' {parameter-value:p} > /valohai/outputs/p.bin
      - printf '%s' {parameter-value:q} > /valohai/outputs/q.bin
    parameters:
      - name: p
        type: string
        default: plain
      - name: q
        type: string
        default: "@@PIPEC_LATE_0@@"

- pipeline:
    name: e2e lookalike
    parameters:
      - name: evil
        targets:
          - single.parameter.p
        default: harmless
    nodes:
      - name: single
        type: execution
        step: echo
    edges: []
"""


def test_step_default_that_looks_like_a_pipec_placeholder(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    """A step parameter's default is user text like any other: even one spelled like the
    placeholder pipec uses internally for submit-time pipeline parameters must arrive as
    written, not as the pipeline parameter's value."""
    pdir = compile_pipeline(tmp_path, LOOKALIKE)
    run = tmp_path / "run"
    runs.append(run)
    submit(slurm_cluster, pdir, run, tmp_path, "--param", "evil=override")
    ids = wait_run(slurm_cluster, run, timeout=60)
    assert state(slurm_cluster, ids, "single") == "COMPLETED", logs(run)
    exe = run / "single" / "0"
    assert (exe / "outputs" / "p.bin").read_text() == "override"
    assert json.loads((exe / "config" / "parameters.json").read_text()) == {
        "p": "override",
        "q": "@@PIPEC_LATE_0@@",
    }
    assert (exe / "outputs" / "q.bin").read_text() == "@@PIPEC_LATE_0@@"


# ----------------------------------------------- 8c. values read by reference (the sbatch body)
# Each job's sbatch body shows its command with every value a quoted "${PIPEC_P_<name>}" and
# sets those variables before it; a sweep's executions share that one command, each with its
# own values (jobs/<job>.values), unless their commands differ as text (a swept flag: a table
# of literal commands, jobs/<job>.commands). A group member's values are set in its own shell.
REF_DEFAULT = "it's \"d\" $(touch PWNED1) `touch PWNED2`; {{x}}\nPIPEC_EOF\n"
REF_CONSTANT = "${{ github.token }} {{workflow.name}} ${HOME} $PIPEC_RUN_DIR \\ \\n \t tab ü 🚀 %s"
REF_ROWS = [
    "it's \"q\" $(touch PWNED3) `touch PWNED4`; touch PWNED5 #",
    "line one\nline two\n",
    "{{x}} {{workflow.name}} ${{ github.token }}",
    "\\ \\n \\\\ '' \"\" -n",
    "-n",
    "PIPEC_EOF",
]


def reference_pipeline() -> str:
    echo = {"name": "echo", "image": "busybox",
            "command": ["printf '%s' {parameter-value:v} > /valohai/outputs/v.bin",
                        "printf '%s\\0' {parameters} > /valohai/outputs/args.bin"],
            "parameters": [{"name": "v", "type": "string", "default": REF_DEFAULT},
                           {"name": "c", "type": "string", "default": REF_CONSTANT},
                           {"name": "fast", "type": "flag", "default": False}]}
    member = {"name": "member", "image": "busybox",
              "command": ["printf '%s' {parameter-value:v} > /valohai/outputs/v.bin",
                          "echo {parameter-value:rank} > /valohai/outputs/rank.txt"],
              "parameters": [{"name": "v", "type": "string", "default": REF_DEFAULT},
                             {"name": "rank", "type": "integer"}]}
    doc = [
        {"step": echo}, {"step": member},
        {"task": {"name": "rows", "step": "echo", "type": "grid_search",
                  "parameters": [{"name": "v", "style": "multiple", "rules": {"items": REF_ROWS}}]}},
        {"task": {"name": "flags", "step": "echo", "type": "grid_search",
                  "parameters": [{"name": "fast", "style": "multiple", "rules": {"items": [True, False]}}]}},
        {"task": {"name": "pair", "step": "member", "type": "distributed",
                  "parameters": [{"name": "rank", "style": "multiple", "rules": {"items": [0, 1]}}]}},
        {"pipeline": {"name": "e2e refs", "nodes": [
            {"name": "single", "type": "execution", "step": "echo"},
            {"name": "rows", "type": "task", "task": "rows"},
            {"name": "flags", "type": "task", "task": "flags"},
            {"name": "pair", "type": "task", "task": "pair"},
        ], "edges": []}},
    ]
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10**6)


def heredocs(script: str) -> list[str]:
    """The bodies of a job script's command.sh heredocs."""
    return [part.split("\nPIPEC_EOF\n")[0] for part in script.split("/.pipec/command.sh\" <<'PIPEC_EOF'\n")[1:]]


def test_values_read_by_reference_reach_the_program_exactly(
    slurm_cluster: SlurmCluster, tmp_path: Path, runs: list[Path]
) -> None:
    pdir = compile_pipeline(tmp_path, reference_pipeline())
    jobs = pdir / "jobs"
    values = [REF_DEFAULT, REF_CONSTANT, *REF_ROWS]
    # The body shows the user's command, every value a reference; no value is in it.
    (single,) = heredocs((jobs / "single.sbatch").read_text())
    assert single == (
        "printf '%s' \"${PIPEC_P_v}\" > \"${VH_OUTPUTS_DIR}\"/v.bin\n"
        "printf '%s\\0' --v=\"${PIPEC_P_v}\" --c=\"${PIPEC_P_c}\" > \"${VH_OUTPUTS_DIR}\"/args.bin"
    )
    # A sweep's executions share it; each one's value is a line of rows.values.
    rows_script = (jobs / "rows.sbatch").read_text()
    assert heredocs(rows_script) == [single]
    assert "export PIPEC_P_c=" in rows_script and "export PIPEC_P_v=" not in rows_script
    assert len((jobs / "rows.values").read_text().splitlines()) == len(REF_ROWS)
    assert not (jobs / "rows.commands").exists()
    # A swept flag changes the command's words: a table of literal commands.
    flags_script = (jobs / "flags.sbatch").read_text()
    assert heredocs(flags_script) == [] and (jobs / "flags.commands").is_file()
    assert "commands differ as text" in flags_script
    # A group member's command is shown the same way; its values are set in its own shell.
    pair_script = (jobs / "pair.sbatch").read_text()
    assert heredocs(pair_script) == ["printf '%s' \"${PIPEC_P_v}\" > \"${VH_OUTPUTS_DIR}\"/v.bin\n"
                                     "echo \"${PIPEC_P_rank}\" > \"${VH_OUTPUTS_DIR}\"/rank.txt"] * 2
    for k in (0, 1):
        member = pair_script.split(f"pipec_member_{k}() (\n")[1].split("\n)\n")[0]
        assert f"    export PIPEC_P_rank={k}\n" in member and "    export PIPEC_P_v=$'it" in member
    for name in ("single", "rows", "flags", "pair"):
        body = "".join(heredocs((jobs / f"{name}.sbatch").read_text()))
        assert not [v for v in values if v.strip() and v.strip() in body], name

    work = tmp_path / "work"
    work.mkdir()
    run = tmp_path / "run"
    runs.append(run)
    submit(slurm_cluster, pdir, run, work)
    ids = wait_run(slurm_cluster, run, timeout=120)
    for name in ("single", "rows", "flags", "pair"):
        assert state(slurm_cluster, ids, name) == "COMPLETED", logs(run)
    assert sorted(p.name for p in work.iterdir() if p.name.startswith("PWNED")) == [], "a value was executed"

    def words(exe: Path) -> list[str]:
        return (exe / "outputs" / "args.bin").read_bytes().decode().split("\0")[:-1]

    single_exe = run / "single" / "0"
    assert (single_exe / "outputs" / "v.bin").read_bytes() == REF_DEFAULT.encode()
    assert words(single_exe) == [f"--v={REF_DEFAULT}", f"--c={REF_CONSTANT}"]
    for k, value in enumerate(REF_ROWS):
        exe = run / "rows" / str(k)
        assert (exe / "outputs" / "v.bin").read_bytes() == value.encode(), k
        assert words(exe) == [f"--v={value}", f"--c={REF_CONSTANT}"], k
        assert json.loads((exe / "config" / "parameters.json").read_text())["v"] == value, k
    assert [words(run / "flags" / str(k)) for k in (0, 1)] == [
        [f"--v={REF_DEFAULT}", f"--c={REF_CONSTANT}", "--fast"], [f"--v={REF_DEFAULT}", f"--c={REF_CONSTANT}"]]
    for k in (0, 1):
        assert (run / "pair" / str(k) / "outputs" / "v.bin").read_bytes() == REF_DEFAULT.encode(), k
        assert (run / "pair" / str(k) / "outputs" / "rank.txt").read_text() == f"{k}\n"
