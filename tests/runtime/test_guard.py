"""The Slurm part's failure handling (templates/runtime/slurm.sh), with stand-in Slurm commands:
the guard of a job script (pipec_guard: EXIT and signal traps), the watcher (pipec_watch), what
stop-all cancels (pipec_cancel_jobs), the watcher's submission (pipec_watch_job) and what
submit.sh shares with the jobs (pipec_pending, pipec_log_path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.conftest import Shell, clean_env

SLURM = "slurm"


@pytest.fixture
def slurm(tmp_path: Path) -> dict[str, object]:
    """Stand-ins on PATH: scontrol prints $FAKE_SCONTROL, scancel and sbatch log their arguments
    (sbatch prints job id 900); a run whose jobs.tsv names three jobs and watchers.tsv two."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "slurm.log"
    (bin_dir / "scontrol").write_text('#!/bin/sh\nprintf "%s\\n" "$FAKE_SCONTROL"\n')
    (bin_dir / "scancel").write_text(f'#!/bin/sh\necho "scancel $*" >> "{log}"\n')
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\nfor a in "$@"; do echo "sbatch $a" >> "{log}"; done\n'
                                    'echo "${FAKE_SBATCH_ID:-900}"\nexit "${FAKE_SBATCH_STATUS:-0}"\n')
    for p in bin_dir.iterdir():
        p.chmod(0o755)
    run = tmp_path / "run"
    run.mkdir()
    (run / "jobs.tsv").write_text("prep\t101\ntrain\t102\nreport\t103\n")
    (run / "watchers.tsv").write_text("prep\t101\t201\ntrain\t102\t202\n")
    env = {"PATH": f"{bin_dir}:{clean_env()['PATH']}", "PIPEC_RUN_DIR": str(run), "FAKE_SCONTROL": "",
           "PIPEC_SCRIPT_DIR": str(tmp_path / "scripts")}
    return {"env": env, "log": log, "run": run}


def calls(slurm: dict[str, object]) -> list[str]:
    log = slurm["log"]
    assert isinstance(log, Path)
    return log.read_text().splitlines() if log.exists() else []


def marks(run: Path, job: str, n: int) -> dict[str, str]:
    d = run / job / str(n) / ".pipec"
    return {p.name: p.read_text() for p in sorted(d.iterdir()) if p.name in ("ok", "failed", "reason", "cancelled")} \
        if d.is_dir() else {}


def guarded(shell: Shell, slurm: dict, code: str, *args: str, policy: str = "stop-all", executions: str = "0",
            env: dict[str, str] | None = None):
    """A job script under the guard, as job.sbatch runs it."""
    script = f"pipec_guard {policy} train {executions}\n{code}"
    return shell.run(script, *args, source=SLURM, env={**slurm["env"], "SLURM_JOB_ID": "102", **(env or {})})


# ------------------------------------------------------------------------------ the guard
def test_a_staging_failure_marks_the_execution_and_stops_the_run(shell: Shell, slurm: dict) -> None:
    r = guarded(shell, slurm, "pipec_begin train 0\npipec_require data\necho not reached")
    run = slurm["run"]
    assert (r.returncode, r.stdout) == (1, b"")
    reason = "input data received no files (mark it optional if the job can run without it)"
    assert marks(run, "train", 0) == {"failed": "1\n", "reason": reason + "\n"}
    assert (run / "FAILED").read_text() == f"train failed (execution 0): {reason}\n"
    # The watchers first, then the other jobs, then the job itself.
    assert calls(slurm) == ["scancel 201 202", "scancel 101 103", "scancel 102"]
    assert r.stderr.endswith(f"pipec: train failed (execution 0): {reason}\n".encode())


@pytest.mark.parametrize("policy", ["stop-next", "continue"])
def test_a_staging_failure_under_another_policy_stops_nothing(dash: Shell, slurm: dict, policy: str) -> None:
    r = guarded(dash, slurm, "pipec_begin train 0\npipec_require data", policy=policy)
    assert r.returncode == 1
    assert marks(slurm["run"], "train", 0)["failed"] == "1\n"
    # Reported in FAILED like every failure, but the run goes on: nothing stopped or cancelled.
    assert (slurm["run"] / "FAILED").read_text().startswith("train failed (execution 0): input data received no files")
    assert not (slurm["run"] / "STOPPED").exists() and calls(slurm) == []


def test_a_failure_outside_pipec_die_is_reported_too(dash: Shell, slurm: dict) -> None:
    r = guarded(dash, slurm, "pipec_begin train 0\nfalse\necho not reached")
    assert r.returncode == 1
    reason = "the job script ended with status 1 outside the command (see its log)"
    assert marks(slurm["run"], "train", 0) == {"failed": "1\n", "reason": reason + "\n"}


def test_a_command_failure_is_handled_once(shell: Shell, slurm: dict) -> None:
    """pipec_run applies the policy itself; the guard adds nothing."""
    r = guarded(shell, slurm, 'pipec_begin train 0\npipec_run stop-all 0 sh -c "exit 5"')
    assert r.returncode == 5
    assert marks(slurm["run"], "train", 0) == {"failed": "5\n", "reason": "the command exited with status 5\n"}
    assert (slurm["run"] / "FAILED").read_text() == "train failed (execution 0): the command exited with status 5\n"
    assert calls(slurm) == ["scancel 201 202", "scancel 101 103", "scancel 102"]


def test_success_is_left_alone(shell: Shell, slurm: dict) -> None:
    r = guarded(shell, slurm, "pipec_begin train 0\npipec_run stop-all 0 true\necho done")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"done\n", b"")
    assert marks(slurm["run"], "train", 0) == {"ok": ""}
    assert calls(slurm) == []


TERM = "pipec_begin train 0\nkill -TERM $$\nsleep 5\necho not reached"


def test_scancel_marks_the_execution_failed_and_stops_the_run(shell: Shell, slurm: dict) -> None:
    r = guarded(shell, slurm, TERM, env={"FAKE_SCONTROL": "JobId=102 JobState=COMPLETING Reason=None Restarts=0"})
    assert (r.returncode, r.stdout) == (143, b"")
    reason = "the job was cancelled or stopped by Slurm (SIGTERM)"
    assert marks(slurm["run"], "train", 0) == {"failed": "143\n", "reason": reason + "\n"}
    assert (slurm["run"] / "FAILED").read_text() == f"train failed (execution 0): {reason}\n"
    assert calls(slurm) == ["scancel 201 202", "scancel 101 103", "scancel 102"]


def test_the_time_limit_is_named(dash: Shell, slurm: dict) -> None:
    info = "JobId=102 JobState=COMPLETING Reason=TimeLimit Restarts=0 TimeLimit=00:01:00 RunTime=00:01:11"
    r = guarded(dash, slurm, TERM, env={"FAKE_SCONTROL": info})
    assert r.returncode == 143
    reason = "the time limit (00:01:00) was reached: Slurm stopped the job (SIGTERM)"
    assert marks(slurm["run"], "train", 0)["reason"] == reason + "\n"
    assert (slurm["run"] / "FAILED").read_text() == f"train failed (execution 0): {reason}\n"


@pytest.mark.parametrize("restarts", [("1", None), ("2", "1")])
def test_a_requeue_is_no_failure(shell: Shell, slurm: dict, restarts: tuple[str, str | None]) -> None:
    """Requeued (Restarts above this start's SLURM_RESTART_COUNT): nothing is marked, the
    execution starts again."""
    env = {"FAKE_SCONTROL": f"JobId=102 JobState=COMPLETING Reason=None Restarts={restarts[0]}"}
    if restarts[1] is not None:
        env["SLURM_RESTART_COUNT"] = restarts[1]
    r = guarded(shell, slurm, TERM, env=env)
    assert r.returncode == 143
    assert r.stderr == b"pipec: train was requeued; it starts again\n"
    assert marks(slurm["run"], "train", 0) == {}
    assert not (slurm["run"] / "FAILED").exists() and calls(slurm) == []


def test_a_job_the_run_stopped_is_marked_cancelled(shell: Shell, slurm: dict) -> None:
    (slurm["run"] / "FAILED").write_text("prep failed (execution 0): the command exited with status 3\n")
    (slurm["run"] / "STOPPED").write_text("")
    r = guarded(shell, slurm, TERM, env={"FAKE_SCONTROL": "JobId=102 JobState=COMPLETING Reason=None Restarts=0"})
    assert r.returncode == 143
    assert marks(slurm["run"], "train", 0) == {"cancelled": "", "reason": "stopped: the run was stopped (see FAILED)\n"}
    assert (slurm["run"] / "FAILED").read_text() == "prep failed (execution 0): the command exited with status 3\n"
    assert calls(slurm) == []


def test_without_scontrol_a_signal_is_still_a_failure(dash: Shell, slurm: dict, tmp_path: Path) -> None:
    (tmp_path / "bin" / "scontrol").write_text("#!/bin/sh\nexit 1\n")
    r = guarded(dash, slurm, TERM)
    assert r.returncode == 143
    assert marks(slurm["run"], "train", 0)["failed"] == "143\n"


# When the command the script waits for dies of the signal, set -e can end the script before
# its trap runs: the EXIT trap asks the same questions.
DIED = "pipec_begin train 0\nsh -c 'kill -TERM $$'\necho not reached"


@pytest.mark.parametrize(("info", "failed", "want"), [
    ("JobState=COMPLETING Reason=None Restarts=0", True,
     {"failed": "143\n", "reason": "the job was cancelled or stopped by Slurm (SIGTERM)\n"}),
    ("JobState=COMPLETING Reason=None Restarts=1", False, {}),
    ("JobState=RUNNING Reason=None Restarts=0", True,
     {"failed": "143\n", "reason": "the job script ended with status 143 outside the command (see its log)\n"}),
])
def test_a_signal_seen_only_on_exit(shell: Shell, slurm: dict, info: str, failed: bool, want: dict) -> None:
    r = guarded(shell, slurm, DIED, env={"FAKE_SCONTROL": f"JobId=102 {info}"})
    assert (r.returncode, r.stdout) == (143, b"")
    assert marks(slurm["run"], "train", 0) == want
    assert (slurm["run"] / "FAILED").exists() == failed


def test_a_signal_seen_only_on_exit_when_the_run_was_stopped(dash: Shell, slurm: dict) -> None:
    (slurm["run"] / "FAILED").write_text("prep failed (execution 0): x\n")
    (slurm["run"] / "STOPPED").write_text("")
    r = guarded(dash, slurm, DIED, env={"FAKE_SCONTROL": "JobId=102 JobState=COMPLETING Restarts=0"})
    assert r.returncode == 143
    assert marks(slurm["run"], "train", 0) == {"cancelled": "", "reason": "stopped: the run was stopped (see FAILED)\n"}
    assert calls(slurm) == []


def test_a_group_marks_every_member(shell: Shell, slurm: dict) -> None:
    """Killed: every member failed, one FAILED line; the lead failing in its command: the
    members it stopped are cancelled."""
    begin = "pipec_begin train 0\npipec_begin train 1\npipec_begin train 2\n"
    r = guarded(shell, slurm, begin + "kill -TERM $$\nsleep 5", executions="0 1 2",
                env={"FAKE_SCONTROL": "JobId=102 JobState=COMPLETING Reason=None Restarts=0"})
    assert r.returncode == 143
    for n in range(3):
        assert marks(slurm["run"], "train", n)["failed"] == "143\n"
    assert (slurm["run"] / "FAILED").read_text() == (
        "train failed (executions 0 1 2): the job was cancelled or stopped by Slurm (SIGTERM)\n")

    (slurm["run"] / "FAILED").unlink()
    (slurm["run"] / "STOPPED").unlink()
    r = guarded(shell, slurm, begin + 'pipec_exit_hook=stop\nstop() { echo stopped members; }\n'
                'pipec_enter train 0\npipec_run stop-next 0 false', executions="0 1 2")
    assert (r.returncode, r.stdout) == (1, b"stopped members\n")
    assert marks(slurm["run"], "train", 0) == {"failed": "1\n", "reason": "the command exited with status 1\n"}
    for n in (1, 2):
        assert marks(slurm["run"], "train", n) == {"cancelled": "", "reason": "stopped: train failed\n"}


def test_a_launcher_has_no_execution(dash: Shell, slurm: dict) -> None:
    r = guarded(dash, slurm, 'pipec_die "cannot list the items of list metadata rates"', executions="")
    assert r.returncode == 1
    assert (slurm["run"] / "FAILED").read_text() == (
        "train failed (launcher): cannot list the items of list metadata rates\n")


# ---------------------------------------------------------------------------- the watcher
ARRAY = "\n".join([
    "JobId=11 ArrayJobId=10 ArrayTaskId=0 JobState=COMPLETED Reason=None ExitCode=0:0 StdErr=/a b/c",
    "JobId=12 ArrayJobId=10 ArrayTaskId=1 JobState=FAILED Reason=JobLaunchFailure ExitCode=0:9",
    "JobId=13 ArrayJobId=10 ArrayTaskId=2 JobState=CANCELLED Reason=None ExitCode=0:15",
    "JobId=10 ArrayJobId=10 ArrayTaskId=3-5%2 JobState=CANCELLED Reason=None ExitCode=0:0",
    "JobId=14 ArrayJobId=10 ArrayTaskId=6 JobState=NODE_FAIL Reason=None ExitCode=0:0",
])


def watch(shell: Shell, slurm: dict, *args: str, records: str = ARRAY):
    env = {**slurm["env"], "FAKE_SCONTROL": records, "SLURM_JOB_ID": "202"}
    return shell.run('pipec_exclude=$SLURM_JOB_ID\npipec_watch "$@"', *args, source=SLURM, env=env)


def started(run: Path, job: str, n: int, mark: str | None = None) -> None:
    d = run / job / str(n) / ".pipec"
    d.mkdir(parents=True)
    if mark:
        (d / mark).write_text("")


def test_the_watcher_marks_what_died_unseen_and_stops_the_run(shell: Shell, slurm: dict) -> None:
    run = slurm["run"]
    started(run, "train", 5, "ok")  # task 0
    started(run, "train", 6)  # task 1: killed (SIGKILL: the memory limit)
    (run / "logs" / "train").mkdir(parents=True)
    (run / "logs" / "train" / "10_1.err").write_text(
        "slurmstepd-n1: error: StepId=12.batch exceeded memory limit (331485184 > 52428800), being killed\n"
        "slurmstepd-n1: error: *** JOB 12 ON n1 CANCELLED AT 2026-01-01T00:00:00 ***\n")
    # task 2: cancelled while it waited; tasks 3..5: never started; task 6: its node failed at start.
    r = watch(shell, slurm, "train", "stop-all", "10", "5", "7")
    assert r.returncode == 0, r.stderr
    reason = ("ended without a result: Slurm ended it as FAILED, reason JobLaunchFailure, exit code 0:9 "
              "(StepId=12.batch exceeded memory limit (331485184 > 52428800), being killed)")
    assert marks(run, "train", 6) == {"failed": "137\n", "reason": reason + "\n"}
    assert marks(run, "train", 5) == {"ok": ""}
    for n in (7, 8, 9, 10):
        assert marks(run, "train", n) == {}
    assert marks(run, "train", 11) == {
        "failed": "1\n", "reason": "never started its script: Slurm ended it as NODE_FAIL, exit code 0:0\n"}
    assert (run / "FAILED").read_text() == f"train failed (executions 6 11): {reason}\n"
    # The watcher leaves itself out and cancels nothing last.
    assert calls(slurm) == ["scancel 201", "scancel 101 102 103"]
    assert r.stdout == f"pipec: train failed (executions 6 11): {reason}\n".encode()


def test_the_watcher_marks_cancelled_what_the_stopped_run_killed(dash: Shell, slurm: dict) -> None:
    run = slurm["run"]
    (run / "FAILED").write_text("prep failed (execution 0): the command exited with status 3\n")
    (run / "STOPPED").write_text("")
    started(run, "train", 0)
    r = watch(dash, slurm, "train", "stop-all", "102", "0", "1",
              records="JobId=102 JobState=CANCELLED Reason=None ExitCode=0:15")
    assert r.returncode == 0
    assert marks(run, "train", 0) == {"cancelled": "", "reason": "stopped: the run was stopped (see FAILED)\n"}
    assert calls(slurm) == []


@pytest.mark.parametrize("policy", ["stop-next", "continue"])
def test_the_watcher_applies_only_stop_all(dash: Shell, slurm: dict, policy: str) -> None:
    run = slurm["run"]
    started(run, "train", 0)
    r = watch(dash, slurm, "train", policy, "102", "0", "1", records="JobId=102 JobState=OUT_OF_MEMORY ExitCode=0:9")
    assert r.returncode == 0
    assert marks(run, "train", 0)["failed"] == "137\n"
    assert (run / "FAILED").read_text().startswith("train failed (execution 0): ")
    assert not (run / "STOPPED").exists() and calls(slurm) == []


def test_the_watcher_with_nothing_to_do(dash: Shell, slurm: dict) -> None:
    run = slurm["run"]
    started(run, "train", 0, "failed")  # the guard saw it
    r = watch(dash, slurm, "train", "stop-all", "102", "0", "1", records="JobId=102 JobState=FAILED ExitCode=1:0")
    assert (r.returncode, r.stdout) == (0, b"pipec: watcher of train (job 102): nothing left unmarked\n")
    assert calls(slurm) == [] and not (run / "FAILED").exists()


def test_the_watcher_of_a_launcher(dash: Shell, slurm: dict) -> None:
    r = watch(dash, slurm, "fan", "stop-all", "102", "0", "0", records="JobId=102 JobState=TIMEOUT Reason=TimeLimit")
    assert r.returncode == 0
    assert (slurm["run"] / "FAILED").read_text() == "fan failed (launcher): ended: Slurm ended it as TIMEOUT, reason TimeLimit\n"


# ------------------------------------------------------------- stop-all, watchers, helpers
def test_cancel_jobs_from_submit_sh_cancels_everything_and_nothing_last(dash: Shell, slurm: dict) -> None:
    r = dash.run('pipec_exclude=""; pipec_cancel_jobs', source=SLURM, env={**slurm["env"], "SLURM_JOB_ID": "55"})
    assert r.returncode == 0
    assert calls(slurm) == ["scancel 201 202", "scancel 101 102 103"]


def test_watch_job_submits_the_watcher_and_lists_it(shell: Shell, slurm: dict) -> None:
    run = slurm["run"]
    env = {**slurm["env"], "PIPEC_PIPELINE_ID": "pipe", "PIPEC_WATCH_PARTITION": "debug q", "PIPEC_RUN_DIR": str(run / "r%u")}
    (run / "r%u").mkdir()
    r = shell.run("pipec_watch_job train stop-all 102 4 3", source=SLURM, env=env)
    assert (r.returncode, r.stderr) == (0, b"")
    assert calls(slurm) == [
        "sbatch --partition=debug q", "sbatch --parsable", "sbatch --job-name=pipe.train.watch",
        "sbatch --dependency=afternotok:102", "sbatch --kill-on-invalid-dep=yes", "sbatch --time=0-00:10:00",
        "sbatch --ntasks=1", f"sbatch --chdir={run}/r%u", f"sbatch --output={run}/r%%u/logs/train/watch-%j.out",
        f"sbatch --error={run}/r%%u/logs/train/watch-%j.out", f"sbatch {slurm['env']['PIPEC_SCRIPT_DIR']}/watch.sbatch",
        "sbatch train", "sbatch stop-all", "sbatch 102", "sbatch 4", "sbatch 3"]
    assert (run / "r%u" / "watchers.tsv").read_text() == "train\t102\t900\n"


def test_watch_job_that_cannot_be_submitted_warns(dash: Shell, slurm: dict) -> None:
    r = dash.run("pipec_watch_job train stop-all 102 0 1; echo went on", source=SLURM,
                 env={**slurm["env"], "FAKE_SBATCH_STATUS": "1", "FAKE_SBATCH_ID": "sbatch: error: no"})
    assert (r.returncode, r.stdout) == (0, b"went on\n")
    assert r.stderr == b"pipec: warning: cannot submit the watcher of train (job 102): sbatch: error: no\n"
    assert (slurm["run"] / "watchers.tsv").read_text() == "prep\t101\t201\ntrain\t102\t202\n"


def test_watch_job_is_off_without_scontrol(dash: Shell, slurm: dict) -> None:
    dash.out("pipec_watch_job train stop-all 102 0 1", source=SLURM, env={**slurm["env"], "PIPEC_WATCH": "0"})
    assert calls(slurm) == []


@pytest.mark.parametrize(("ok", "count", "want"), [
    ((), 8, "0-7"), ((0, 1, 3, 6), 8, "2,4-5,7"), (tuple(range(8)), 8, ""), ((), 1, "0"), ((0,), 2, "1"),
    ((1,), 3, "0,2"),
])
def test_pending_lists_what_has_not_succeeded(shell: Shell, tmp_path: Path, ok: tuple, count: int, want: str) -> None:
    for n in ok:
        started(tmp_path, "sweep", 10 + n, "ok")
    started(tmp_path, "sweep", 30, "ok")  # outside the range asked for
    out = shell.out(f"pipec_pending sweep 10 {count}", source=SLURM, env={"PIPEC_RUN_DIR": str(tmp_path)})
    assert out == f"{want}\n".encode()


def test_log_path_doubles_every_percent(shell: Shell) -> None:
    assert shell.out('pipec_log_path "$1"', "/runs/r%u x/%%j", source=SLURM) == b"/runs/r%%u x/%%%%j\n"


@pytest.mark.parametrize(("task", "want"), [(0, "JobId=11"), (1, "JobId=12"), (4, "JobId=10"), (6, "JobId=14"),
                                            (9, "")])
def test_task_record_finds_the_task_or_its_range(dash: Shell, task: int, want: str) -> None:
    out = dash.out('printf "%s\\n" "$1" | pipec_task_record "$2"', ARRAY, str(task), source=SLURM)
    assert out.decode()[:len(want) + 1] == (f"{want} " if want else "")


def test_task_record_of_a_job_that_is_no_array_is_its_first_line(dash: Shell) -> None:
    records = "JobId=7 HetJobId=7 HetJobOffset=0 JobState=CANCELLED\nJobId=8 HetJobId=7 HetJobOffset=1 JobState=CANCELLED"
    assert dash.out('printf "%s\\n" "$1" | pipec_task_record 1', records, source=SLURM).startswith(b"JobId=7 ")
