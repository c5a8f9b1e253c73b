"""The Slurm part's handling of [slurm] signal and requeue (templates/runtime/slurm.sh), with
stand-in Slurm commands: a signal sent to the batch script alone (sbatch --signal=B:...) is
forwarded to the command's processes and ends nothing of pipec's (pipec_signal_trap,
pipec_own_group, pipec_wait_run: the tail job.sbatch writes with `signal = "B:..."`); a job
being preempted that Slurm may requeue is left for its next start; and the directory commands
run in (pipec_workdir).

The forwarding tests run the lines job.sbatch writes, under bash (what Slurm's batch scripts
are); what the runtime functions do alone is checked under sh as well."""

# ruff: noqa: F811 (the `slurm` fixture of test_guard.py, used by name)
from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.runtime.conftest import SHELLS, Shell
from tests.runtime.test_guard import calls, marks, slurm  # noqa: F401

SLURM = "slurm"

# A command that says it started, then waits (at most 10 s) for SIGUSR1: on it, it writes
# `got` and exits with $1 (its own programs get the signal: `sleep` dies of it, the waiting
# shell runs its trap).
WAITER = ("sh -c 'trap \"echo got > \\\"$PIPEC_OUTPUTS_DIR/usr1\\\"; exit $0\" USR1; "
          ": > \"$PIPEC_OUTPUTS_DIR/started\"; i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; exit 9'")


@pytest.fixture
def bash(runtime_scripts: dict[str, Path]) -> Shell:
    if SHELLS["bash"] is None:
        pytest.skip("bash is not installed")
    return Shell("bash", runtime_scripts)


def job_tail(command: str, signal_at_start: bool = False) -> str:
    """job.sbatch's lines with `signal = "B:USR1..."` around COMMAND: the trap after the guard,
    pipec_run in the background, waited for by pipec_wait_run. A helper plays Slurm: once the
    command has started, it sends SIGUSR1 to the batch script alone."""
    early = "kill -USR1 $$\n" if signal_at_start else ""
    return f"""pipec_signal_trap USR1
pipec_guard stop-all train 0
pipec_begin train 0
{early}set -m
pipec_run stop-all 0 pipec_own_group {command} &
pipec_pid=$!
set +m
( until [ -e "$PIPEC_OUTPUTS_DIR/started" ]; do sleep 0.05; done; kill -USR1 $$ ) &
pipec_wait_run "$pipec_pid"
echo "script went on"
"""


def said(stderr: bytes) -> list[bytes]:
    """pipec's lines on stderr (the test commands' shells report the programs the signal ended)."""
    return [line for line in stderr.splitlines() if line.startswith(b"pipec: ")]


def run_job(bash: Shell, slurm: dict, code: str):
    return bash.run(code, source=SLURM, env={**slurm["env"], "SLURM_JOB_ID": "102",
                                              "FAKE_SCONTROL": "JobId=102 JobState=RUNNING Reason=None Restarts=0"})


# ---------------------------------------------------------------------------- forwarding
def test_a_batch_signal_reaches_the_command_and_the_execution_succeeds(bash: Shell, slurm: dict) -> None:
    r = run_job(bash, slurm, job_tail(WAITER.replace("$0", "0") + " 0"))
    run = slurm["run"]
    assert (r.returncode, r.stdout) == (0, b"script went on\n"), r.stderr
    assert said(r.stderr) == [b"pipec: SIGUSR1 forwarded to the command of train/0"]
    assert (run / "train" / "0" / "outputs" / "usr1").read_text() == "got\n"
    assert marks(run, "train", 0) == {"ok": ""}
    # What the signal is sent to was named only while the command ran.
    assert not (run / "train" / "0" / ".pipec" / "command.pid").exists()
    assert not (run / "FAILED").exists() and calls(slurm) == []


def test_a_command_failing_after_the_signal_is_reported_once(bash: Shell, slurm: dict) -> None:
    r = run_job(bash, slurm, job_tail(WAITER.replace("$0", "3") + " 3"))
    run = slurm["run"]
    assert (r.returncode, r.stdout) == (3, b""), r.stderr
    assert marks(run, "train", 0) == {"failed": "3\n", "reason": "the command exited with status 3\n"}
    # pipec_run reported it and applied stop-all; the guard (pipec_handled) adds nothing.
    assert (run / "FAILED").read_text() == "train failed (execution 0): the command exited with status 3\n"
    assert calls(slurm) == ["scancel 201 202", "scancel 101 103", "scancel 102"]


def test_the_commands_own_shell_survives_the_signal(bash: Shell, slurm: dict) -> None:
    """command.sh starts with `trap : SIGNAL`: the signal is for the programs it runs, and once
    they have handled it, the rest of the command runs."""
    command = ("bash -e -c 'trap : USR1\n" + WAITER.replace("'", "'\"'\"'").replace("$0", "0")
               + " 0\necho after > \"$PIPEC_OUTPUTS_DIR/after\"'")
    r = run_job(bash, slurm, job_tail(command))
    run = slurm["run"]
    assert (r.returncode, r.stdout) == (0, b"script went on\n"), r.stderr
    assert (run / "train" / "0" / "outputs" / "usr1").read_text() == "got\n"
    assert (run / "train" / "0" / "outputs" / "after").read_text() == "after\n"


def test_a_signal_before_the_command_starts_is_noted_and_ends_nothing(bash: Shell, slurm: dict) -> None:
    r = run_job(bash, slurm, job_tail(WAITER.replace("$0", "0") + " 0", signal_at_start=True))
    assert (r.returncode, r.stdout) == (0, b"script went on\n"), r.stderr
    assert said(r.stderr) == [b"pipec: SIGUSR1 received while no command runs; nothing to forward it to",
                              b"pipec: SIGUSR1 forwarded to the command of train/0"]
    assert marks(slurm["run"], "train", 0) == {"ok": ""}


def test_without_the_trap_the_signal_kills_the_batch_script(bash: Shell, slurm: dict) -> None:
    """Why pipec traps it: a batch script that does not dies of it at once."""
    code = job_tail(WAITER.replace("$0", "0") + " 0").replace("pipec_signal_trap USR1\n", "")
    r = run_job(bash, slurm, code)
    assert r.returncode == -signal.SIGUSR1 and b"script went on" not in r.stdout


def test_a_group_forwards_to_every_member(shell: Shell, slurm: dict) -> None:
    """pipec_signal_trap with executions (a group's script): the signal goes to each running
    member's srun (here a stand-in shell), which passes it on to its job step; a member whose
    command is not running is left out."""
    run = slurm["run"]
    code = """pipec_signal_trap USR1 server/0 client/0 idle/0
for m in server client; do
    pipec_enter "$m" 0
    mkdir -p "$PIPEC_EXEC_DIR/.pipec" "$PIPEC_OUTPUTS_DIR"
    pipec_own_pid sh -c 'trap "echo got > \\"$PIPEC_OUTPUTS_DIR/usr1\\"; exit 0" USR1
        : > "$PIPEC_OUTPUTS_DIR/started"; i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done' &
done
until [ -e "$PIPEC_RUN_DIR/server/0/outputs/started" ] && [ -e "$PIPEC_RUN_DIR/client/0/outputs/started" ]; do
    sleep 0.05
done
pipec_forward_signal USR1
wait
"""
    r = shell.run(code, source=SLURM, env=slurm["env"])
    assert r.returncode == 0, r.stderr
    assert said(r.stderr) == [b"pipec: SIGUSR1 forwarded to the command of server/0 client/0"]
    for member in ("server", "client"):
        assert (run / member / "0" / "outputs" / "usr1").read_text() == "got\n"
        assert not (run / member / "0" / ".pipec" / "command.pid").exists()


def test_own_group_keeps_the_status_and_the_output(shell: Shell, slurm: dict) -> None:
    code = "pipec_begin train 0\npipec_own_group sh -c 'echo out; exit 4' || echo \"status $?\""
    r = shell.run(code, source=SLURM, env=slurm["env"])
    assert (r.returncode, r.stdout, r.stderr) == (0, b"out\nstatus 4\n", b"")


# ------------------------------------------------------------------------- preemption
PREEMPTED = "pipec_begin train 0\nkill -TERM $$\nsleep 5\necho not reached"


def test_a_requeueable_job_being_preempted_is_left_for_its_next_start(shell: Shell, slurm: dict) -> None:
    """Preemption with a grace time sends SIGTERM before Slurm requeues the job (Restarts not yet
    counted, PreemptTime set): nothing is marked or reported, nothing is cancelled."""
    info = "JobId=102 JobState=RUNNING Reason=None Requeue=1 Restarts=0 PreemptTime=2026-01-02T03:04:05"
    r = shell.run(f"pipec_guard stop-all train 0\n{PREEMPTED}", source=SLURM,
                  env={**slurm["env"], "SLURM_JOB_ID": "102", "FAKE_SCONTROL": info})
    assert (r.returncode, r.stdout) == (143, b"")
    assert r.stderr.startswith(b"pipec: train is being preempted; Slurm requeues it")
    assert marks(slurm["run"], "train", 0) == {}
    assert not (slurm["run"] / "FAILED").exists() and calls(slurm) == []


def test_a_job_that_cannot_be_requeued_fails_when_preempted(dash: Shell, slurm: dict) -> None:
    info = "JobId=102 JobState=RUNNING Reason=None Requeue=0 Restarts=0 PreemptTime=2026-01-02T03:04:05"
    r = dash.run(f"pipec_guard stop-all train 0\n{PREEMPTED}", source=SLURM,
                 env={**slurm["env"], "SLURM_JOB_ID": "102", "FAKE_SCONTROL": info})
    assert r.returncode == 143
    reason = ("the job was preempted by another job (SIGTERM); it cannot be requeued ([slurm] requeue = true "
              "allows it)")
    assert marks(slurm["run"], "train", 0) == {"failed": "143\n", "reason": reason + "\n"}
    assert (slurm["run"] / "FAILED").read_text() == f"train failed (execution 0): {reason}\n"


# ------------------------------------------------------------------------ the work directory
def test_workdir_enters_the_directory_submit_sh_was_called_from(shell: Shell, slurm: dict, tmp_path: Path) -> None:
    work = tmp_path / "check out"
    work.mkdir()
    r = shell.run("pipec_workdir\npwd", source=SLURM, env={**slurm["env"], "PIPEC_WORK_DIR": str(work)},
                  cwd=slurm["run"])
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{work}\n".encode(), b"")


def test_a_node_without_that_directory_fails_the_job_saying_so(dash: Shell, slurm: dict, tmp_path: Path) -> None:
    missing = tmp_path / "not on this node"
    r = dash.run("pipec_guard stop-next train 0\npipec_begin train 0\npipec_workdir\necho not reached", source=SLURM,
                 env={**slurm["env"], "PIPEC_WORK_DIR": str(missing), "SLURMD_NODENAME": "n2"}, cwd=slurm["run"])
    assert (r.returncode, r.stdout) == (1, b"")
    reason = (f"cannot enter {missing}, the directory submit.sh was called from, on n2: commands run there, so it "
              "must be on a filesystem every node shares")
    assert marks(slurm["run"], "train", 0) == {"failed": "1\n", "reason": reason + "\n"}
