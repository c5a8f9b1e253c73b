"""Slurm settings for operators, what submit.sh --dry-run prints, the version in every header,
and how huge sweeps are decided (pipec issue 15).

* `[slurm] signal` and `[slurm] requeue` become `#SBATCH` lines only when set (a group: its
  first component only); a signal with `B:` makes the job script forward it to the command,
  and every signal leaves the command's own shell alive (`trap :` in command.sh); bad values are
  located errors in pipec.toml;
* every job starts in the run directory (`sbatch --chdir`) and runs its command where
  submit.sh was called, as before;
* `submit.sh --dry-run` names what a job waits for (`afterok:<preprocess>`, `<job@N>` for the
  array of a sweep from execution N on) and prints words the shell reads back as they were;
* a sweep Slurm would not hold ([slurm] max_job_count, every array task a job) is refused at
  once, located at its task node; a product grid above the row tables' size (TABLE_ROWS) is
  computed in the job from its value lists, row for row what the tables give;
* on the real cluster: a small pipeline with --chdir, `signal = "B:USR1@..."` and
  `requeue = true`: Slurm's signal reaches the command, `scontrol requeue` while it runs starts
  it again from nothing, and the run succeeds (skipped without Slurm unless
  PIPEC_REQUIRE_SLURM=1).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipec import __version__
from pipec.cli import main
from tests.backends.slurm.test_output import (
    BASH,
    EXAMPLES,
    ROOT,
    compile_file,
    fake_slurm,
    forbid_sbatch,
    option,
    pipeline_dirs,
    shellcheck,
    sweep_values,
)

# ------------------------------------------------------------------------------------- fixtures
PIPEC_ENV = {**os.environ, "PYTHONPATH": str(ROOT / "compiler")}  # pipec run from these sources
STEPS = [
    {"step": {"name": "prep", "image": "busybox", "command": ["echo prep > /valohai/outputs/data.txt"]}},
    {"step": {"name": "train", "image": "busybox",
              "command": ["printf '<%s>\\n' {parameters} > /valohai/outputs/args.txt",
                          "cp /valohai/config/parameters.json /valohai/outputs/parameters.json",
                          "pwd > /valohai/outputs/pwd.txt"],
              "parameters": [{"name": "v", "type": "string", "default": "x"},
                             {"name": "k", "type": "integer", "default": 0},
                             {"name": "f", "type": "float", "default": 0.5},
                             {"name": "on", "type": "flag", "default": False}],
              "inputs": [{"name": "data"}]}},
]


def pipec_slurm(source: str, out: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`pipec compile SOURCE --target slurm -o OUT` as a user runs it, in `cwd`."""
    return subprocess.run([sys.executable, "-m", "pipec", "compile", source, "--target", "slurm", "-o", str(out), *extra],
                          cwd=cwd, capture_output=True, text=True, timeout=120, env=PIPEC_ENV)


def pipeline(grid: dict[str, list], kind: str = "grid_search", extra: dict | None = None) -> list[dict]:
    """prep -> a task node 'sweep' running `train` over `grid` (each parameter's values)."""
    task = {"name": "sweep-task", "step": "train", "type": kind,
            "parameters": [{"name": n, "style": "multiple", "rules": {"items": v}} for n, v in grid.items()],
            **(extra or {})}
    return [*STEPS, {"task": task}, {"pipeline": {
        "name": "settings",
        "nodes": [{"name": "prep", "type": "execution", "step": "prep"},
                  {"name": "sweep", "type": "task", "task": "sweep-task"}],
        "edges": [["prep.output.data.txt", "sweep.input.data"]]}}]


def write(folder: Path, doc: list[dict], toml: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "valohai.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10**6), encoding="utf-8")
    (folder / "pipec.toml").write_text(toml, encoding="utf-8")
    return path


def compile_here(path: Path, out: Path, monkeypatch: pytest.MonkeyPatch, table_rows: int | None = None):
    """Compile in this process (so the row-table size can be lowered), from the file's folder."""
    if table_rows is not None:
        monkeypatch.setattr("pipec.backends.slurm.TABLE_ROWS", table_rows)
    monkeypatch.chdir(path.parent)
    return CliRunner().invoke(main, ["compile", path.name, "--target", "slurm", "-o", str(out)])


def directives(script: Path) -> list[str]:
    return [line[len("#SBATCH "):] for line in script.read_text().splitlines() if line.startswith("#SBATCH ")]


SETTINGS = ("--signal=", "--requeue", "--no-requeue", "--open-mode=")


# ----------------------------------------------------------------------------- signal, requeue
@pytest.mark.parametrize("toml, expected, forward", [
    ("", [], None),
    ('[slurm]\nsignal = "B:USR1@120"\nrequeue = true\n', ["--signal=B:USR1@120", "--requeue", "--open-mode=append"],
     "USR1"),
    ('[slurm]\nsignal = "SIGUSR2@30"\nrequeue = false\n', ["--signal=SIGUSR2@30", "--no-requeue"], None),
    ("[slurm]\nrequeue = false\n", ["--no-requeue"], None),
])
def test_settings_appear_only_when_set(toml: str, expected: list[str], forward: str | None, tmp_path: Path) -> None:
    path = write(tmp_path / "src", pipeline({"k": [1, 2, 3]}), toml)
    (d,) = pipeline_dirs(compile_file(path, tmp_path / "out"))
    for job in ("prep", "sweep"):
        script = d / "jobs" / f"{job}.sbatch"
        assert [x for x in directives(script) if x.startswith(SETTINGS)] == expected
        text = script.read_text()
        assert ("pipec_signal_trap" in text, "pipec_wait_run" in text) == (forward is not None,) * 2
        if forward:
            assert f"pipec_signal_trap {forward}\n" in text
            assert "pipec_run stop-all 0 pipec_own_group bash -e" in text
    # The commands' own shell survives any configured signal (the sweep's one command is in its body).
    signal = "USR1" if "USR1" in toml else "USR2" if "USR2" in toml else None
    commands = [(d / "jobs" / f"{job}.sbatch").read_text().split("<<'PIPEC_EOF'\n")[1] for job in ("prep", "sweep")]
    if signal:
        line = f"trap : {signal}  # [slurm] signal: for the programs below, not this shell"
        assert all(c.startswith(line + "\n") for c in commands), commands
    else:
        assert not any("trap :" in c for c in commands)


def test_a_group_gets_the_settings_once_and_forwards_to_every_member(tmp_path: Path) -> None:
    config = tmp_path / "pipec.toml"
    config.write_text('[slurm]\nsignal = "B:USR2@60"\nrequeue = true\n', encoding="utf-8")
    out = tmp_path / "out"
    r = pipec_slurm(str(EXAMPLES.parent / "osmo" / "server-client.yaml"), out, ROOT, "--config", str(config))
    assert r.returncode == 0, r.stderr
    (group,) = (out / "server-client" / "jobs").glob("*.sbatch")
    lines = group.read_text().splitlines()
    assert [x for x in directives(group) if x.startswith(SETTINGS)] == [
        "--signal=B:USR2@60", "--requeue", "--open-mode=append"]
    # Only in the first component, before the first `#SBATCH hetjob`.
    assert lines.index("#SBATCH --open-mode=append") < lines.index("#SBATCH hetjob")
    assert "pipec_signal_trap USR2 server/0 client/0\n" in group.read_text()
    assert group.read_text().count("pipec_step pipec_own_pid srun --het-group=") == 2
    shellcheck(out / "server-client")


@pytest.mark.parametrize("setting", [
    'signal = "B:TERM@60"',  # the guard's own signal
    'signal = "USR1@70000"',  # past Slurm's 65535 seconds
    'signal = "B:USR1@60; touch x"',
    'requeue = "yes"',
    "max_job_count = 0",
    "max_array_size = 4000002",  # past Slurm's cap
])
def test_bad_settings_are_located_errors(setting: str, tmp_path: Path) -> None:
    path = write(tmp_path / "src", pipeline({"k": [1, 2]}), f"# site settings\n[slurm]\n{setting}\n")
    r = subprocess.run([sys.executable, "-m", "pipec", "check", str(path)], cwd=ROOT, capture_output=True, text=True,
                       env=PIPEC_ENV)
    assert r.returncode == 1, r.stdout + r.stderr
    key = setting.split(" = ")[0]
    errors = [line for line in (r.stdout + r.stderr).splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(f"{path.parent / 'pipec.toml'}:3:"), errors
    assert f"error: slurm.{key}: " in errors[0], errors
    if key == "signal":
        assert setting.split(" = ")[1].strip('"') in errors[0]
        assert "hint: sbatch --signal for every job" in r.stdout + r.stderr


@pytest.mark.tools
def test_shellcheck_with_every_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = '[slurm]\nsignal = "B:USR1@120"\nrequeue = true\n'
    path = write(tmp_path / "src", pipeline({"v": sweep_values(tmp_path / "PWNED"), "k": [1, 2]}), toml)
    for name, rows in (("tables", None), ("grid", 1)):
        out = tmp_path / name
        r = compile_here(path, out, monkeypatch, rows)
        assert r.exit_code == 0, r.output
        for d in pipeline_dirs(out):
            shellcheck(d)
    assert (tmp_path / "grid" / "settings" / "jobs" / "sweep.grid").exists()


# ------------------------------------------------------------------------------------- --chdir
FAKE_CHDIR_SBATCH = r"""#!/bin/bash
# Stand-in for sbatch that, as Slurm does, starts the job in its --chdir directory (each array
# task in turn), records where it started, and prints a job id.
set -u
state=${FAKE_SLURM_DIR:?}
n=$(( $(cat "$state/counter" 2>/dev/null || echo 1000) + 1 ))
echo "$n" > "$state/counter"
dir="" array=""
for a in "$@"; do
    case $a in --chdir=*) dir=${a#--chdir=} ;; --array=*) array=${a#--array=}; array=${array%%\%*} ;; esac
done
printf '%s\n' "$dir" >> "$state/chdir"
run() { (cd "$dir" && pwd >> "$state/started-in" && SLURM_JOB_ID=$n "$BASH" "${!#}") >> "$state/job-$n.out" 2>&1; }
if [ -n "$array" ]; then
    for ((t = ${array%-*}; t <= ${array#*-}; t++)); do SLURM_ARRAY_TASK_ID=$t run "$@"; done
else
    run "$@"
fi
echo "$n"
"""


def test_jobs_start_in_the_run_directory_and_commands_run_where_submitted(tmp_path: Path) -> None:
    path = write(tmp_path / "src", pipeline({"k": [1, 2]}))
    (d,) = pipeline_dirs(compile_file(path, tmp_path / "out"))
    env, state = fake_slurm(tmp_path)
    (tmp_path / "fake-bin" / "sbatch").write_text(FAKE_CHDIR_SBATCH)
    checkout = tmp_path / "my checkout"
    checkout.mkdir()
    run = tmp_path / "runs" / "run 1"
    r = subprocess.run([BASH, str(d / "submit.sh"), "--run-dir", str(run)], cwd=checkout,
                       env={**env, "PIPEC_WATCH": "0"}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (state / "chdir").read_text().splitlines() == [str(run)] * 2
    assert (state / "started-in").read_text().splitlines() == [str(run)] * 3  # prep, then two array tasks
    for n in (0, 1):
        assert (run / "sweep" / str(n) / ".pipec" / "ok").exists(), (state / "job-1002.out").read_text()
        # The command runs where submit.sh was called, as it did before jobs started elsewhere.
        assert (run / "sweep" / str(n) / "outputs" / "pwd.txt").read_text() == f"{checkout}\n"


# ----------------------------------------------------------------------------------- --dry-run
def dry_lines(pipeline_dir: Path, run_dir: Path, tmp_path: Path, *args: str) -> list[str]:
    r = subprocess.run([BASH, str(pipeline_dir / "submit.sh"), "--dry-run", "--run-dir", str(run_dir), *args],
                       cwd=tmp_path, env=forbid_sbatch(tmp_path), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "slurm-was-called").exists()
    return r.stdout.splitlines()


def test_dry_run_reads_like_the_pipeline(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = pipec_slurm("examples/valohai/mnist.valohai.yaml", out, ROOT)
    assert r.returncode == 0, r.stderr
    d = out / "training-pipeline"
    run = tmp_path / "runs" / "mnist-1"
    logs = f"{run}/logs"
    assert dry_lines(d, run, tmp_path) == [
        f"sbatch --parsable --chdir={run} --output={logs}/preprocess/%j.out --error={logs}/preprocess/%j.err "
        f"{d}/jobs/preprocess.sbatch",
        f"sbatch --parsable --array=0-5%2 --dependency='afterok:<preprocess>' --kill-on-invalid-dep=yes --chdir={run} "
        f"--output={logs}/train/%A_%a.out --error={logs}/train/%A_%a.err {d}/jobs/train.sbatch",
        f"sbatch --parsable --dependency='afterok:<train>' --kill-on-invalid-dep=yes --chdir={run} "
        f"--output={logs}/evaluate/%j.out --error={logs}/evaluate/%j.err {d}/jobs/evaluate.sbatch",
        "dry run: nothing submitted",
    ]


def test_dry_run_names_each_array_of_a_split_sweep(tmp_path: Path) -> None:
    doc = pipeline({"k": list(range(10))})
    doc.insert(0, {"step": {"name": "report", "image": "busybox", "command": ["ls /valohai/inputs/all"],
                            "inputs": [{"name": "all"}]}})
    doc[-1]["pipeline"]["nodes"].append({"name": "report", "type": "execution", "step": "report"})
    doc[-1]["pipeline"]["edges"].append(["sweep.output.*", "report.input.all"])
    (d,) = pipeline_dirs(compile_file(write(tmp_path / "src", doc, "[slurm]\nmax_array_size = 4\n"), tmp_path / "out"))
    lines = dry_lines(d, tmp_path / "run", tmp_path)
    assert [option(shlex.split(line), "dependency") for line in lines[:-1]] == [
        None, "afterok:<prep>", "afterok:<prep>", "afterok:<prep>", "afterok:<sweep>:<sweep@4>:<sweep@8>"]
    assert "--dependency='afterok:<sweep>:<sweep@4>:<sweep@8>'" in lines[-2]


def test_dry_run_output_is_what_the_shell_reads_back(tmp_path: Path) -> None:
    """Words the shell treats specially are quoted: each printed line, run by bash with an
    `sbatch` that prints its arguments, gives back the very words, and runs nothing else."""
    mark = tmp_path / "PWNED"
    path = write(tmp_path / "src", pipeline({"k": [1, 2]}))
    (d,) = pipeline_dirs(compile_file(path, tmp_path / "out"))
    run = tmp_path / f"it's a \"run\" $(touch {mark}) `touch {mark}` ; & | ü *"
    lines = dry_lines(d, run, tmp_path)[:-1]
    assert len(lines) == 2
    for line in lines:
        words = subprocess.run([BASH, "-c", 'sbatch() { printf "%s\\0" "$@"; }\n' + line], capture_output=True,
                               timeout=30, check=True).stdout.decode().split("\0")[:-1]
        assert words == shlex.split(line)[1:]
        assert option(["sbatch", *words], "chdir") == str(run)
    assert "--dependency='afterok:<prep>'" in lines[1]
    assert not mark.exists()


# ------------------------------------------------------------------------------------- headers
def test_every_generated_script_names_pipec_its_version_and_the_source(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "src", pipeline({"k": [1, 2]}), '[triggers]\n"settings" = "0 3 * * *"\n')
    for name, rows in (("tables", None), ("grid", 1)):
        out = tmp_path / name
        assert compile_here(path, out, monkeypatch, rows).exit_code == 0
        (d,) = pipeline_dirs(out)
        scripts = ["submit.sh", "watch.sbatch", "install-cron.sh", "jobs/prep.sbatch", "jobs/sweep.sbatch"]
        if rows:
            scripts.append("jobs/sweep.grid")
        for rel in scripts:
            head = "\n".join((d / rel).read_text().splitlines()[:6])
            assert f"generated by pipec {__version__} from valohai.yaml" in head, (rel, head)


# -------------------------------------------------------------------------------- huge sweeps
def huge_grid() -> list[dict]:
    """A task node whose grid has 3,001 x 3,001 rows (9,006,001 executions)."""
    return pipeline({"k": list(range(3001)), "f": [round(0.001 * i, 3) for i in range(3001)]})


def test_a_huge_grid_is_refused_at_once_at_its_task_node(tmp_path: Path) -> None:
    path = write(tmp_path / "src", huge_grid())
    out = tmp_path / "out"
    r = pipec_slurm(str(path), out, path.parent)
    assert r.returncode == 1, r.stderr
    text = path.read_text().splitlines()
    line = next(n for n, t in enumerate(text, 1) if t.strip() == "- name: sweep")  # the task node
    col = text[line - 1].index("sweep") + 1
    errors = [x for x in r.stderr.splitlines() if ": error: " in x]
    assert errors == [
        f"{path}:{line}:{col}: error: 'sweep' runs 9,006,001 executions (a grid of k 3,001 x f 3,001): more jobs "
        "than Slurm holds at once: every execution is an array task, which Slurm counts as a job, and with the "
        "watchers of its 8,998 arrays ([slurm] max_array_size = 1,001: Slurm's MaxArraySize) the run needs "
        "9,014,999; [slurm] max_job_count = 10,000 (Slurm's MaxJobCount) is the most the cluster holds"], r.stderr
    assert ("hint: sweep fewer values, or set [slurm] max_job_count and max_array_size in pipec.toml to the "
            "cluster's MaxJobCount and MaxArraySize if they are larger (scontrol show config)") in r.stderr
    assert not out.exists()


def test_a_huge_grid_compiles_small_where_the_cluster_holds_it(tmp_path: Path) -> None:
    toml = "[slurm]\nmax_array_size = 4000001\nmax_job_count = 10000000\n"
    path = write(tmp_path / "src", huge_grid(), toml)
    (d,) = pipeline_dirs(compile_file(path, tmp_path / "out"))
    jobs = sorted(p.name for p in (d / "jobs").iterdir())
    assert jobs == ["prep.sbatch", "sweep.grid", "sweep.sbatch"]  # no row tables
    assert sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) < 400_000
    submit = (d / "submit.sh").read_text()
    assert "# sweep: 9006001 executions in 3 arrays of at most 4000001; on error: stop-all" in submit
    script = (d / "jobs" / "sweep.sbatch").read_text()
    assert "pipec_k=$((pipec_i % 3001)) pipec_i=$((pipec_i / 3001))" in script


def run_sweep(d: Path, tmp_path: Path, name: str) -> Path:
    env, state = fake_slurm(tmp_path / name)
    run = tmp_path / name / "run"
    r = subprocess.run([BASH, str(d / "submit.sh"), "--run-dir", str(run)], cwd=tmp_path / name, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not (state / "failed").exists(), (state / "failed").read_text()
    return run


def test_computed_rows_are_the_rows_of_the_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small grid forced through the computed path (TABLE_ROWS lowered) runs every execution
    with the command arguments and parameters.json the row tables give it, hostile values and
    all, and nothing in them is executed."""
    mark = tmp_path / "PWNED"
    grid = {"v": sweep_values(mark), "k": [-1, 0, 7], "f": [0.5, 1e-05]}
    path = write(tmp_path / "src", pipeline(grid, extra={"maximum-queued-executions": 5}))
    runs = {}
    for name, rows in (("tables", None), ("grid", 1)):
        (tmp_path / name).mkdir()
        assert compile_here(path, tmp_path / name / "out", monkeypatch, rows).exit_code == 0
        (d,) = pipeline_dirs(tmp_path / name / "out")
        assert (d / "jobs" / "sweep.grid").exists() == (rows is not None)
        assert (d / "jobs" / "sweep.values").exists() == (rows is None)
        runs[name] = run_sweep(d, tmp_path, name)
    size = len(grid["v"]) * 3 * 2
    from pipec.ir.sweep import Axis, product_sweep

    sweep = product_sweep([Axis(n, tuple(v)) for n, v in grid.items()])
    for n in range(size):
        got = {}
        for name, run in runs.items():
            outputs = run / "sweep" / str(n) / "outputs"
            got[name] = ((outputs / "args.txt").read_bytes(), json.loads((outputs / "parameters.json").read_text()))
        assert got["grid"] == got["tables"], n
        row = sweep.row(n)
        assert got["grid"][1] == {**row, "on": False}
        assert got["grid"][0] == f"<--v={row['v']}>\n<--k={row['k']}>\n<--f={row['f']}>\n".encode(), n
    assert not (runs["grid"] / "sweep" / str(size)).exists()
    assert not mark.exists()


@pytest.mark.parametrize("doc, why", [
    (pipeline({"k": list(range(8))}, "random_search", {"execution-count": 8}),
     "this is a random_search, whose values are sampled"),
    (pipeline({"on": [True, False], "k": [1, 2, 3, 4]}),
     "the command writes 'on' in a form (a flag, several values, a format) built when compiling"),
])
def test_a_large_sweep_that_cannot_be_computed_is_refused(doc: list[dict], why: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if doc[-2]["task"]["type"] == "random_search":
        doc[-2]["task"]["parameters"] = [{"name": "f", "style": "random", "rules": {"min": 0, "max": 1}}]
    path = write(tmp_path / "src", doc)
    r = compile_here(path, tmp_path / "out", monkeypatch, 5)
    assert r.exit_code == 1
    assert "error: 'sweep' runs 8 executions" in r.output and why in r.output, r.output
    assert "hint: sweep at most 5 executions" in r.output
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------- on a real cluster
WORKER = """\
import os, signal, sys, time

restart = os.environ.get("SLURM_RESTART_COUNT", "0")
def got(*_):
    with open("signals.txt", "a") as fh:
        fh.write(f"usr1 {restart}\\n")
signal.signal(signal.SIGUSR1, got)
# The first start waits for Slurm's signal and then to be requeued; the next one ends at once.
deadline = time.time() + (110 if restart == "0" else 1)
while time.time() < deadline:
    time.sleep(0.2)
"""

CLUSTER_PIPELINE = """\
- step:
    name: slow
    image: busybox
    time-limit: 2m
    command:
      - echo "start ${SLURM_RESTART_COUNT:-0} $PWD" >> starts.txt
      - echo "run ${SLURM_RESTART_COUNT:-0}" > /valohai/outputs/run-${SLURM_RESTART_COUNT:-0}.txt
      - python3 worker.py
- step:
    name: after
    image: busybox
    command: ls /valohai/inputs/got > /valohai/outputs/got.txt
    inputs:
      - name: got
- pipeline:
    name: settings
    nodes:
      - {name: slow, type: execution, step: slow}
      - {name: after, type: execution, step: after}
    edges:
      - [slow.output.*, after.input.got]
"""


def wait_until(what: str, check, timeout: float = 150, cluster=None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            queue = cluster.run(["squeue", "-o", "%i %T %r %N"], check=False).stdout if cluster else ""
            raise AssertionError(f"timed out waiting until {what}\n{queue}{cluster.log_tail() if cluster else ''}")
        time.sleep(0.5)


def test_chdir_signal_and_requeue_on_a_real_cluster(slurm_cluster, tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "worker.py").write_text(WORKER)
    (checkout / "valohai.yaml").write_text(CLUSTER_PIPELINE)
    # Slurm sends the signal 100 s before the 2-minute time limit, about 20 s after the start.
    (checkout / "pipec.toml").write_text('[slurm]\nsignal = "B:USR1@100"\nrequeue = true\n')
    out = tmp_path / "out"
    r = pipec_slurm("valohai.yaml", out, checkout)
    assert r.returncode == 0, r.stderr
    d = out / "settings"
    shellcheck(d)
    assert directives(d / "jobs" / "slow.sbatch") == [
        "--job-name=settings.slow", "--signal=B:USR1@100", "--requeue", "--open-mode=append", "--time=0-00:02:00"]
    run = tmp_path / "runs" / "run 1"
    submitted = subprocess.run([str(d / "submit.sh"), "--run-dir", str(run)], cwd=checkout, env=slurm_cluster.env,
                               capture_output=True, text=True, timeout=120)
    assert submitted.returncode == 0, submitted.stderr
    ids = dict(line.split("\t") for line in (run / "jobs.tsv").read_text().splitlines())
    job = ids["slow"]
    signals = checkout / "signals.txt"
    wait_until("Slurm's signal reached the command", lambda: signals.exists() and "usr1 0" in signals.read_text(),
               cluster=slurm_cluster)
    shown = slurm_cluster.run(["scontrol", "show", "job", "-o", job]).stdout
    assert re.search(r" WorkDir=(.*?) StdErr=", shown).group(1) == str(run)  # the job started in the run directory
    node = re.search(r" BatchHost=(\S+)", shown).group(1)
    slurm_cluster.run(["scontrol", "requeue", job])

    def started_again() -> bool:
        rec = (slurm_cluster.job_records(job) or [{}])[0]
        if rec.get("JobState") == "PENDING" and rec.get("Reason") == "BeginTime":
            # Slurm holds a requeued job back until its credential, revoked on the node it ran on,
            # expires (two minutes): let it start at once on another node.
            slurm_cluster.run(["scontrol", "update", f"jobid={job}", f"ExcNodeList={node}"], check=False)
            slurm_cluster.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], check=False)
        return (checkout / "starts.txt").exists() and len((checkout / "starts.txt").read_text().splitlines()) >= 2

    wait_until("the job started again", started_again, cluster=slurm_cluster)
    states = slurm_cluster.wait_for_jobs([job, ids["after"]], timeout=120)
    assert states == {job: "COMPLETED", ids["after"]: "COMPLETED"}, slurm_cluster.log_tail()
    assert not (run / "FAILED").exists() and not (run / "STOPPED").exists()
    # Both starts ran the command in the checkout; the second one started from nothing.
    assert (checkout / "starts.txt").read_text() == f"start 0 {checkout}\nstart 1 {checkout}\n"
    assert sorted(p.name for p in (run / "slow" / "0" / "outputs").iterdir()) == ["run-1.txt"]
    assert (run / "after" / "0" / "outputs" / "got.txt").read_text() == "run-1.txt\n"
    assert signals.read_text().startswith("usr1 0\n")
    # The log of the first start is kept (appended to), with what pipec said there.
    log = (run / "logs" / "slow" / f"{job}.err").read_text()
    assert "pipec: SIGUSR1 forwarded to the command of slow/0" in log
    assert "pipec: slow was requeued; it starts again" in log


SIGNAL_GROUP = """\
workflow:
  name: signal-group
  groups:
  - name: pair
    tasks:
    - name: lead
      lead: true
      image: ubuntu:24.04
      command: ["bash", "-c"]
      args:
      - |
        trap 'echo got > {{output}}/usr1' USR1
        touch {{output}}/started
        for i in $(seq 300); do sleep 0.2; [ -e {{output}}/usr1 ] && break; done
        sleep 1
    - name: member
      image: ubuntu:24.04
      command: ["bash", "-c"]
      args:
      - |
        trap 'echo got > {{output}}/usr1' USR1
        touch {{output}}/started
        for i in $(seq 300); do sleep 0.2; [ -e {{output}}/usr1 ] && break; done
"""


def test_a_groups_batch_signal_reaches_every_member_on_a_real_cluster(slurm_cluster, tmp_path: Path) -> None:
    """A group (heterogeneous job, a job step per member): the signal Slurm sends its batch
    script (scancel --batch, as `B:` does at its time) reaches each member's command."""
    (tmp_path / "wf.yaml").write_text(SIGNAL_GROUP)
    (tmp_path / "pipec.toml").write_text('[slurm]\nsignal = "B:USR1@30"\n')
    out = tmp_path / "out"
    r = pipec_slurm("wf.yaml", out, tmp_path)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "run"
    submitted = subprocess.run([str(out / "signal-group" / "submit.sh"), "--run-dir", str(run)], cwd=tmp_path,
                               env=slurm_cluster.env, capture_output=True, text=True, timeout=120)
    assert submitted.returncode == 0, submitted.stderr
    (job,) = [line.split("\t")[1] for line in (run / "jobs.tsv").read_text().splitlines()]
    wait_until("both members started", lambda: all((run / m / "0" / "outputs" / "started").exists()
                                                   for m in ("lead", "member")))
    slurm_cluster.run(["scancel", "--batch", "--signal=USR1", job])
    assert slurm_cluster.wait_for_jobs([job], timeout=120) == {job: "COMPLETED"}, slurm_cluster.log_tail()
    for member in ("lead", "member"):
        assert (run / member / "0" / "outputs" / "usr1").read_text() == "got\n"
        assert (run / member / "0" / ".pipec" / "ok").exists()
    assert not (run / "FAILED").exists()
    log = (run / "logs" / "pair" / f"{job}.err").read_text()
    assert "pipec: SIGUSR1 forwarded to the command of lead/0 member/0" in log
