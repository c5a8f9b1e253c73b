"""The engine parts of the runtime: slurm.sh (run-time fan-out items, the scancel side of
stop-all) and gha.sh (publishing executions as artifacts), and stop-all where core meets them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.conftest import Shell, clean_env


@pytest.fixture
def scancel(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A stand-in scancel on PATH that logs its arguments, and a run whose jobs.tsv names three jobs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "scancel.log"
    (bin_dir / "scancel").write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n')
    (bin_dir / "scancel").chmod(0o755)
    run = tmp_path / "run"
    run.mkdir()
    (run / "jobs.tsv").write_text("prep\t101\ntrain\t102\nreport\t103_4\n")
    env = {"PATH": f"{bin_dir}:{clean_env()['PATH']}", "PIPEC_RUN_DIR": str(run)}
    return env, log


@pytest.mark.parametrize("policy", ["stop-all", "retry"])
def test_stop_all_on_slurm_cancels_the_others_then_itself(shell: Shell, scancel, policy: str) -> None:
    env, log = scancel
    r = shell.run('pipec_begin train 0; pipec_run "$1" 0 sh -c "exit 4"; echo not reached', policy, source="slurm",
                  env={**env, "SLURM_JOB_ID": "102"})
    assert (r.returncode, r.stdout, r.stderr) == (4, b"", b"")
    assert (Path(env["PIPEC_RUN_DIR"]) / "FAILED").read_text() == (
        "train failed (execution 0): the command exited with status 4\n")
    assert (Path(env["PIPEC_RUN_DIR"]) / "STOPPED").exists()
    # One scancel for the others (a job being stopped has only KillWait seconds), then itself.
    assert log.read_text() == "101 103_4\n102\n"


def test_stop_all_in_an_array_cancels_the_whole_array(dash: Shell, scancel) -> None:
    env, log = scancel
    r = dash.run("pipec_begin report 4; pipec_run stop-all 0 false", source="slurm",
                 env={**env, "SLURM_JOB_ID": "107", "SLURM_ARRAY_JOB_ID": "103_4"})
    assert r.returncode == 1
    assert log.read_text() == "101 102\n103_4\n"


@pytest.mark.parametrize("target", ["argo", "gha"])
def test_stop_all_elsewhere_marks_the_run_and_cancels_nothing(shell: Shell, scancel, target: str) -> None:
    """The pod targets have no pipec_cancel_jobs: core's stop-all returns before calling it."""
    env, log = scancel
    r = shell.run('pipec_begin train 0; pipec_run stop-all 0 sh -c "exit 4"', source=target,
                  env={**env, "PIPEC_ENGINE": target, "SLURM_JOB_ID": "102"})
    assert (r.returncode, r.stderr) == (4, b"")
    assert (Path(env["PIPEC_RUN_DIR"]) / "FAILED").read_text() == (
        "train failed (execution 0): the command exited with status 4\n")
    assert not log.exists()


def test_fanout_item_gives_each_execution_its_item(shell: Shell, tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "items.jsonl").write_text('0.1\n"x y ${{ github.token }}"\n{"deep": [1, "é"]}\n"{{item}}"\n')
    got = []
    for execution in range(4):
        for form in ("json", "text"):
            got.append(shell.out(f'pipec_enter train {execution}; pipec_fanout_item {form}', source="slurm",
                                 env={"PIPEC_RUN_DIR": str(tmp_path)}))
    assert got == [b"0.1", b"0.1", b'"x y ${{ github.token }}"', b"x y ${{ github.token }}",
                   b'{"deep": [1, "\\u00e9"]}', b'{"deep": [1, "\\u00e9"]}', b'"{{item}}"', b"{{item}}"]


def make_exec(root: Path, name: str) -> Path:
    ex = root / name
    for area in ("outputs", ".pipec", "inputs"):
        (ex / area).mkdir(parents=True)
        (ex / area / "f").write_text(f"{name} {area}")
    return ex


@pytest.mark.parametrize("with_inputs", [False, True])
def test_publish_moves_one_execution_to_its_artifact_directory(shell: Shell, tmp_path: Path,
                                                               with_inputs: bool) -> None:
    ex = make_exec(tmp_path, "exec")
    env = {"PIPEC_POD_DIR": str(tmp_path / "pod"), "PIPEC_EXEC_MOUNT": str(ex), "PIPEC_EXECUTION": "3"}
    if with_inputs:
        env["PIPEC_PUBLISH_INPUTS"] = "1"
    shell.out("pipec_publish 0", source="gha", env=env)
    art = tmp_path / "pod" / "art"
    moved = [".pipec", "inputs", "outputs"] if with_inputs else [".pipec", "outputs"]
    assert sorted(p.name for p in (art / "3").iterdir()) == moved
    assert (art / "3" / "outputs" / "f").read_text() == "exec outputs"
    assert sorted(p.name for p in ex.iterdir()) == sorted({".pipec", "inputs", "outputs"} - set(moved))


def test_publish_moves_every_member_of_a_group(dash: Shell, tmp_path: Path) -> None:
    pod = tmp_path / "pod"
    for rank in range(3):
        make_exec(pod / f"m{rank}", "exec")
    dash.out("pipec_publish 3", source="gha", env={"PIPEC_POD_DIR": str(pod)})
    for rank in range(3):
        assert sorted(p.name for p in (pod / "art" / str(rank)).iterdir()) == [".pipec", "outputs"]
        assert (pod / "art" / str(rank) / "outputs" / "f").read_text() == "exec outputs"
