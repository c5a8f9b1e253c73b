"""The core part of the runtime (templates/runtime/core.sh), sourced alone: the paths of an
execution, staging of inputs, gates, fixed input names, required inputs, running the command,
and run-time metadata."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.runtime.conftest import Shell

CORE = "core.sh"


def env_of(shell: Shell, code: str, run_dir: Path, layout: str | None = None) -> dict[str, str]:
    """The environment a child process sees after `code`."""
    extra = {"PIPEC_RUN_DIR": str(run_dir)}
    if layout is not None:
        extra["PIPEC_LAYOUT"] = layout
    out = shell.out(code + "\nexec env", source=CORE, env=extra)
    return dict(line.split("=", 1) for line in out.decode().splitlines() if "=" in line)


# ------------------------------------------------------------------------------- pipec_die
def test_die_prints_to_stderr_and_exits_1(shell: Shell) -> None:
    r = shell.run('pipec_die "it broke:" "$1"; echo not reached', "a  b", source=CORE)
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", b"pipec: it broke: a  b\n")


# ----------------------------------------------------------------------------- pipec_enter
LAYOUT = ("VH_INPUTS_DIR=inputs VH_OUTPUTS_DIR=outputs VH_CONFIG_DIR=config VH_EXEC_DIR=exec "
          "VH_PARAMETERS=parameters VH_ID=id")


def test_enter_exports_pipec_paths_and_the_layout_names(shell: Shell, tmp_path: Path) -> None:
    run = tmp_path / "run dir"
    env = env_of(shell, "pipec_enter train 3", run, LAYOUT)
    ex = f"{run}/train/3"
    assert {k: v for k, v in env.items() if k.startswith(("PIPEC_", "VH_")) and k != "PIPEC_TEST_RUNTIME"} == {
        "PIPEC_RUN_DIR": str(run), "PIPEC_LAYOUT": LAYOUT,
        "PIPEC_JOB": "train", "PIPEC_EXECUTION": "3", "PIPEC_EXEC_DIR": ex,
        "PIPEC_INPUTS_DIR": f"{ex}/inputs", "PIPEC_OUTPUTS_DIR": f"{ex}/outputs", "PIPEC_CONFIG_DIR": f"{ex}/config",
        "VH_INPUTS_DIR": f"{ex}/inputs", "VH_OUTPUTS_DIR": f"{ex}/outputs", "VH_CONFIG_DIR": f"{ex}/config",
        "VH_EXEC_DIR": ex, "VH_PARAMETERS": f"{ex}/config/parameters.json", "VH_ID": "train-3",
    }
    assert not run.exists()  # entering creates nothing


def test_enter_without_a_layout_exports_only_pipec_names(shell: Shell, tmp_path: Path) -> None:
    env = env_of(shell, "pipec_enter prep 0", tmp_path)
    assert env["PIPEC_OUTPUTS_DIR"] == f"{tmp_path}/prep/0/outputs"
    assert not [k for k in env if k.startswith("VH_")]


def test_enter_refuses_an_unknown_layout_word(shell: Shell, tmp_path: Path) -> None:
    r = shell.run("pipec_enter prep 0; echo not reached", source=CORE,
                  env={"PIPEC_RUN_DIR": str(tmp_path), "PIPEC_LAYOUT": "VH_INPUTS_DIR=inputs VH_X=logs"})
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", b"pipec: PIPEC_LAYOUT: unknown path 'VH_X=logs'\n")


# ----------------------------------------------------------------------------- pipec_begin
def test_begin_creates_the_directories_with_a_fresh_pipec_dir(shell: Shell, tmp_path: Path) -> None:
    ex = tmp_path / "train" / "0"
    (ex / ".pipec").mkdir(parents=True)
    (ex / ".pipec" / "ok").write_text("")
    (ex / ".pipec" / "stdout").write_text('{"loss": 1}\n')
    out = shell.out('pipec_begin train 0; printf "%s" "$VH_OUTPUTS_DIR"', source=CORE,
                    env={"PIPEC_RUN_DIR": str(tmp_path), "PIPEC_LAYOUT": "VH_OUTPUTS_DIR=outputs"})
    assert out == str(ex / "outputs").encode()
    assert sorted(p.name for p in ex.iterdir()) == [".pipec", "config", "inputs", "outputs"]
    assert list((ex / ".pipec").iterdir()) == []  # markers of an earlier run are gone


# ----------------------------------------------------------------------------- pipec_stage
def make_execution(run: Path, job: str, execution: str, files: dict[str, str], ok: bool = True,
                   area: str = "outputs") -> None:
    ex = run / job / execution
    (ex / ".pipec").mkdir(parents=True)
    if ok:
        (ex / ".pipec" / "ok").write_text("")
    for rel, text in files.items():
        path = ex / area / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """A run whose job prep ran executions 0, 1, 2 (failed) and 10, with clashing file names."""
    run = tmp_path / "run"
    make_execution(run, "prep", "0", {"data/a.csv": "0a", "data/x/a.csv": "0xa", "data/readme": "0r",
                                      "data/archive.tar.gz": "0t", "data/v1.0/model": "0m", "log.txt": "0l"})
    make_execution(run, "prep", "1", {"data/a.csv": "1a", "data/x/a.csv": "1xa", "data/y/a.csv": "1ya",
                                      "data/readme": "1r", "data/archive.tar.gz": "1t", "data/v1.0/model": "1m"})
    make_execution(run, "prep", "2", {"data/a.csv": "2a", "data/only-failed.csv": "2o"}, ok=False)
    make_execution(run, "prep", "10", {"data/a.csv": "10a", "data/my file.csv": "10m"})
    (run / "prep" / "items.jsonl").write_text("1\n")  # not an execution
    return run


def stage(shell: Shell, run: Path, *args: str) -> dict[str, str]:
    shell.out('pipec_begin train 0; pipec_stage "$@"', *args, source=CORE, env={"PIPEC_RUN_DIR": str(run)})
    slot = run / "train" / "0" / "inputs" / args[3]
    return {p.relative_to(slot).as_posix(): p.read_text() for p in sorted(slot.rglob("*")) if p.is_file()}


def test_stage_keep_none_names_clashing_files_after_job_and_execution(shell: Shell, upstream: Path) -> None:
    # Executions in numeric order (0, 1, 10; 2 failed), each one's files in sorted order.
    assert stage(shell, upstream, "prep", "outputs", "data/*", "data", "none") == {
        "a.csv": "0a", "archive.tar.gz": "0t", "model": "0m", "readme": "0r", "a.prep-0.csv": "0xa",
        "a.prep-1.csv": "1a", "archive.tar.prep-1.gz": "1t", "readme.prep-1": "1r", "model.prep-1": "1m",
        "a.prep-1-2.csv": "1xa", "a.prep-1-3.csv": "1ya",
        "a.prep-10.csv": "10a", "my file.csv": "10m",
    }


def test_stage_keep_full_keeps_the_path(shell: Shell, upstream: Path) -> None:
    assert stage(shell, upstream, "prep", "outputs", "data/*", "all", "full") == {
        "data/a.csv": "0a", "data/archive.tar.gz": "0t", "data/readme": "0r", "data/v1.0/model": "0m",
        "data/x/a.csv": "0xa",
        "data/a.prep-1.csv": "1a", "data/archive.tar.prep-1.gz": "1t", "data/readme.prep-1": "1r",
        "data/v1.0/model.prep-1": "1m", "data/x/a.prep-1.csv": "1xa", "data/y/a.csv": "1ya",
        "data/a.prep-10.csv": "10a", "data/my file.csv": "10m",
    }


def test_stage_keep_suffix_keeps_the_path_below_the_fixed_directories(shell: Shell, upstream: Path) -> None:
    assert stage(shell, upstream, "prep", "outputs", "data/*.csv", "csv", "suffix") == {
        "a.csv": "0a", "x/a.csv": "0xa",
        "a.prep-1.csv": "1a", "x/a.prep-1.csv": "1xa", "y/a.csv": "1ya",
        "a.prep-10.csv": "10a", "my file.csv": "10m",
    }


def test_stage_selects_by_glob_and_skips_failed_executions(dash: Shell, upstream: Path) -> None:
    assert stage(dash, upstream, "prep", "outputs", "*.txt", "logs", "none") == {"log.txt": "0l"}
    assert stage(dash, upstream, "prep", "outputs", "data/only-*", "none-here", "none") == {}
    assert stage(dash, upstream, "prep", "outputs", "data/x/*", "x", "none") == {"a.csv": "0xa", "a.prep-1.csv": "1xa"}
    assert stage(dash, upstream, "nobody", "outputs", "*", "empty", "none") == {}
    assert (upstream / "train" / "0" / "inputs" / "empty").is_dir()


def test_stage_from_inputs(dash: Shell, tmp_path: Path) -> None:
    run = tmp_path / "run"
    make_execution(run, "prep", "0", {"train/a.csv": "in", "other/b.csv": "no"}, area="inputs")
    make_execution(run, "prep", "0/../1", {"x": "out"})  # outputs are not inputs
    assert stage(dash, run, "prep", "inputs", "train/*", "again", "none") == {"a.csv": "in"}


def test_stage_copies_and_never_links(dash: Shell, upstream: Path) -> None:
    source = upstream / "prep" / "0" / "outputs" / "log.txt"
    source.chmod(0o640)
    os.utime(source, (1_000_000_000, 1_000_000_000))
    stage(dash, upstream, "prep", "outputs", "log.txt", "logs", "none")
    staged = upstream / "train" / "0" / "inputs" / "logs" / "log.txt"
    assert not staged.is_symlink() and staged.stat().st_ino != source.stat().st_ino
    assert staged.stat().st_nlink == 1
    assert stat.S_IMODE(staged.stat().st_mode) == 0o640 and staged.stat().st_mtime == 1_000_000_000  # cp -p
    staged.write_text("changed downstream")
    assert source.read_text() == "0l"


# ------------------------------------------------------------------------------ pipec_gate
def test_gate_passes_when_one_execution_succeeded(shell: Shell, tmp_path: Path) -> None:
    make_execution(tmp_path, "prep", "0", {}, ok=False)
    make_execution(tmp_path, "prep", "1", {})
    assert shell.out("pipec_gate prep; echo passed", source=CORE, env={"PIPEC_RUN_DIR": str(tmp_path)}) == b"passed\n"


@pytest.mark.parametrize("executions", [0, 2])
def test_gate_fails_when_no_execution_succeeded(shell: Shell, tmp_path: Path, executions: int) -> None:
    for n in range(executions):
        make_execution(tmp_path, "prep", str(n), {"f": "x"}, ok=False)
    r = shell.run("pipec_gate prep; echo passed", source=CORE, env={"PIPEC_RUN_DIR": str(tmp_path)})
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", b"pipec: no execution of prep succeeded\n")


# ------------------------------------------------------------------------ pipec_input_file
def input_file(shell: Shell, run: Path, files: list[str], mkdir: bool = True) -> list[str]:
    slot = run / "train" / "0" / "inputs" / "data"
    if mkdir:
        slot.mkdir(parents=True)
    for rel in files:
        (slot / rel).parent.mkdir(parents=True, exist_ok=True)
        (slot / rel).write_text(rel)
    shell.out("pipec_enter train 0; pipec_input_file data data.csv", source=CORE, env={"PIPEC_RUN_DIR": str(run)})
    if not slot.exists():
        return ["(no slot)"]
    return sorted(f"{p.relative_to(slot).as_posix()}={p.read_text()}" for p in slot.rglob("*") if p.is_file())


def test_input_file_renames_the_only_file(shell: Shell, tmp_path: Path) -> None:
    assert input_file(shell, tmp_path, ["sub/dir/x.txt"]) == ["data.csv=sub/dir/x.txt"]


def test_input_file_keeps_a_file_already_named(shell: Shell, tmp_path: Path) -> None:
    assert input_file(shell, tmp_path, ["data.csv"]) == ["data.csv=data.csv"]


def test_input_file_leaves_several_files_alone(shell: Shell, tmp_path: Path) -> None:
    assert input_file(shell, tmp_path, ["a.csv", "sub/b.csv"]) == ["a.csv=a.csv", "sub/b.csv=sub/b.csv"]


def test_input_file_with_an_empty_slot_does_nothing(shell: Shell, tmp_path: Path) -> None:
    assert input_file(shell, tmp_path, []) == []


# Regressions: under bash with `set -o pipefail` (the Slurm batch scripts) the assignment
# `pipec_found=$(find ... | head -n 2)` failed when find failed (no slot directory) or was killed
# by SIGPIPE (head leaves early, many files), and set -e ended the job without a word.
def test_input_file_without_a_slot_does_nothing(shell: Shell, tmp_path: Path) -> None:
    assert input_file(shell, tmp_path, [], mkdir=False) == ["(no slot)"]


def test_input_file_with_many_files_leaves_them_alone(shell: Shell, tmp_path: Path) -> None:
    names = [f"file-with-a-long-name-to-fill-the-pipe-{n:05}" for n in range(2000)]
    slot = tmp_path / "train" / "0" / "inputs" / "data"
    slot.mkdir(parents=True)
    for name in names:
        (slot / name).touch()
    shell.out("pipec_enter train 0; pipec_input_file data data.csv", source=CORE, env={"PIPEC_RUN_DIR": str(tmp_path)})
    assert sorted(p.name for p in slot.iterdir()) == names


# --------------------------------------------------------------------------- pipec_require
def test_require_passes_with_a_file_anywhere_in_the_slot(shell: Shell, tmp_path: Path) -> None:
    deep = tmp_path / "train" / "0" / "inputs" / "data" / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "f").write_text("")
    assert shell.out("pipec_enter train 0; pipec_require data; echo ok", source=CORE,
                     env={"PIPEC_RUN_DIR": str(tmp_path)}) == b"ok\n"


@pytest.mark.parametrize("slot", ["missing", "empty dirs"])
def test_require_fails_without_files(shell: Shell, tmp_path: Path, slot: str) -> None:
    if slot == "empty dirs":
        (tmp_path / "train" / "0" / "inputs" / "data" / "sub").mkdir(parents=True)
    r = shell.run("pipec_enter train 0; pipec_require data; echo ok", source=CORE, env={"PIPEC_RUN_DIR": str(tmp_path)})
    assert (r.returncode, r.stdout) == (1, b"")
    assert r.stderr == b"pipec: input data received no files (mark it optional if the job can run without it)\n"


# ----------------------------------------------------------------------------- pipec_fetch
def test_fetch_runs_the_command_with_url_and_directory(shell: Shell, tmp_path: Path) -> None:
    out = shell.out("pipec_enter train 0; pipec_fetch data \"$1\" \"$2\"; cat \"$PIPEC_INPUTS_DIR/data/url\"",
                    "s3://bucket/a key?x=1&y='2'", 'printf "%s|%s" "$1" "${2##*/}" > "$2/url"', source=CORE,
                    env={"PIPEC_RUN_DIR": str(tmp_path)})
    assert out == b"s3://bucket/a key?x=1&y='2'|data"


def test_fetch_without_a_command_or_with_a_failing_one(shell: Shell, tmp_path: Path) -> None:
    env = {"PIPEC_RUN_DIR": str(tmp_path)}
    r = shell.run("pipec_enter train 0; pipec_fetch data s3://b/k ''", source=CORE, env=env)
    assert (r.returncode, r.stderr) == (1, b'pipec: no fetch command for s3://b/k (input data); '
                                           b'set [fetch] s3 = "..." in pipec.toml\n')
    r = shell.run("pipec_enter train 0; pipec_fetch data s3://b/k 'exit 3'", source=CORE, env=env)
    assert (r.returncode, r.stderr) == (1, b"pipec: fetching s3://b/k for input data failed\n")


# ------------------------------------------------------------------------------- pipec_run
COMMAND = r"""
n=$(cat "$PIPEC_EXEC_DIR/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$PIPEC_EXEC_DIR/count"
printf 'attempt %s sees [%s]\n' "$n" "$(ls "$PIPEC_OUTPUTS_DIR" | tr '\n' ' ')"
echo "attempt $n" > "$PIPEC_OUTPUTS_DIR/attempt-$n"
echo "to stderr $n" >&2
[ "$n" -ge "$1" ] || exit "$2"
"""


@pytest.fixture
def command(tmp_path: Path) -> Path:
    path = tmp_path / "command.sh"
    path.write_text(COMMAND)
    return path


def pipec_run(shell: Shell, run: Path, command: Path, policy: str, retries: int, succeed_at: int, status: int = 3,
              source: str = CORE, env: dict[str, str] | None = None):
    return shell.run('pipec_begin train 0; echo stale > "$PIPEC_OUTPUTS_DIR/stale"\n'
                     'pipec_run "$1" "$2" sh "$3" "$4" "$5"\necho after pipec_run',
                     policy, str(retries), str(command), str(succeed_at), str(status), source=source,
                     env={"PIPEC_RUN_DIR": str(run), **(env or {})})


def test_run_retries_with_clean_outputs_and_keeps_stdout(shell: Shell, tmp_path: Path, command: Path) -> None:
    r = pipec_run(shell, tmp_path, command, "none", 2, succeed_at=3)
    stdout = b"attempt 1 sees [stale ]\nattempt 2 sees []\nattempt 3 sees []\n"
    assert r.returncode == 0
    assert r.stdout == stdout + b"after pipec_run\n"
    assert r.stderr == (b"to stderr 1\npipec: attempt 1 of 3 failed with status 3; retrying\n"
                        b"to stderr 2\npipec: attempt 2 of 3 failed with status 3; retrying\nto stderr 3\n")
    ex = tmp_path / "train" / "0"
    assert sorted(p.name for p in (ex / ".pipec").iterdir()) == ["attempts", "ok", "stdout"]
    assert (ex / ".pipec" / "stdout").read_bytes() == stdout
    assert (ex / ".pipec" / "attempts").read_text() == "3\n"
    assert (ex / ".pipec" / "ok").read_text() == ""
    assert sorted(p.name for p in (ex / "outputs").iterdir()) == ["attempt-3"]


def test_run_without_retries_succeeding_at_once(shell: Shell, tmp_path: Path, command: Path) -> None:
    r = pipec_run(shell, tmp_path, command, "stop-all", 0, succeed_at=1)
    assert (r.returncode, r.stdout) == (0, b"attempt 1 sees [stale ]\nafter pipec_run\n")
    ex = tmp_path / "train" / "0"
    assert (ex / ".pipec" / "attempts").read_text() == "1\n"
    assert sorted(p.name for p in (ex / "outputs").iterdir()) == ["attempt-1", "stale"]  # a first attempt cleans nothing
    assert not (tmp_path / "FAILED").exists()


def test_run_that_keeps_failing_exits_with_the_status(shell: Shell, tmp_path: Path, command: Path) -> None:
    r = pipec_run(shell, tmp_path, command, "none", 1, succeed_at=99, status=7)
    assert r.returncode == 7
    assert r.stdout == b"attempt 1 sees [stale ]\nattempt 2 sees []\n"  # nothing after pipec_run
    assert r.stderr == b"to stderr 1\npipec: attempt 1 of 2 failed with status 7; retrying\nto stderr 2\n"
    ex = tmp_path / "train" / "0"
    assert sorted(p.name for p in (ex / ".pipec").iterdir()) == ["attempts", "failed", "reason", "stdout"]
    assert (ex / ".pipec" / "failed").read_text() == "7\n"
    assert (ex / ".pipec" / "reason").read_text() == "the command exited with status 7 (attempt 2 of 2)\n"
    assert (ex / ".pipec" / "attempts").read_text() == "2\n"
    assert (ex / ".pipec" / "stdout").read_bytes() == r.stdout
    # policy none: the failure is reported, the run goes on (not stopped)
    assert (tmp_path / "FAILED").read_text() == "train failed (execution 0): the command exited with status 7 (attempt 2 of 2)\n"
    assert not (tmp_path / "STOPPED").exists()


def test_run_passes_arguments_through(shell: Shell, tmp_path: Path) -> None:
    out = shell.out('pipec_begin j 0; pipec_run none 0 printf "%s|" "a b" "" "*" "$1"', "-n \\t\n",
                    source=CORE, env={"PIPEC_RUN_DIR": str(tmp_path)})
    assert out == b"a b||*|-n \\t\n|"


# -------------------------------------------------------------------------- pipec_metadata
def metadata_run(run: Path) -> None:
    lines0 = ['not json', '{"loss": 0.5, "label": "first"}', '{broken', '[1, 2]', '{"loss": 0.25}',
              '  {"other": 1}  ', '{"label": "x \\"y\\" é"}']
    make_execution(run, "train", "0", {})
    (run / "train" / "0" / ".pipec" / "stdout").write_text("\n".join(lines0) + "\n")
    make_execution(run, "train", "1", {})  # ok, but never printed the key
    (run / "train" / "1" / ".pipec" / "stdout").write_text('{"label": "second"}\n')
    make_execution(run, "train", "2", {}, ok=False)  # failed: not read
    (run / "train" / "2" / ".pipec" / "stdout").write_text('{"loss": 9}\n')
    make_execution(run, "train", "10", {})
    (run / "train" / "10" / ".pipec" / "stdout").write_text('{"loss": [1, {"a": null}]}\n')


def metadata(shell: Shell, run: Path, *args: str):
    return shell.run('pipec_metadata "$@"', *args, source=CORE, env={"PIPEC_RUN_DIR": str(run)})


def test_metadata_of_several_executions_is_a_list_in_execution_order(shell: Shell, tmp_path: Path) -> None:
    metadata_run(tmp_path)
    r = metadata(shell, tmp_path, "train", "loss", "json")
    assert (r.returncode, r.stdout, r.stderr) == (0, b'[0.25, [1, {"a": null}]]', b"")
    r = metadata(shell, tmp_path, "train", "label", "text")  # a list stays JSON in text form
    assert r.stdout == json.dumps(["x \"y\" é", "second"]).encode()


def test_metadata_of_one_execution_is_its_value(shell: Shell, tmp_path: Path) -> None:
    make_execution(tmp_path, "list", "0", {})
    (tmp_path / "list" / "0" / ".pipec" / "stdout").write_text('{"rates": [0.1, "a b"], "name": "it\'s é"}\n')
    assert metadata(shell, tmp_path, "list", "rates", "json").stdout == b'[0.1, "a b"]'
    assert metadata(shell, tmp_path, "list", "rates", "text").stdout == b'[0.1, "a b"]'
    assert metadata(shell, tmp_path, "list", "name", "json").stdout == b'"it\'s \\u00e9"'
    assert metadata(shell, tmp_path, "list", "name", "text").stdout == "it's é".encode()


@pytest.mark.parametrize("job", ["train", "never-ran"])
def test_metadata_nobody_printed_fails(dash: Shell, tmp_path: Path, job: str) -> None:
    metadata_run(tmp_path)
    r = metadata(dash, tmp_path, job, "accuracy", "json")
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", f"pipec: {job} printed no metadata 'accuracy'\n".encode())


# -------------------------------------------------- pipec_begin: a start again keeps nothing
def test_begin_again_clears_inputs_outputs_config_and_markers(shell: Shell, tmp_path: Path) -> None:
    """A requeued (or resumed) execution starts from nothing: nothing staged twice, no stale outputs."""
    ex = tmp_path / "train" / "0"
    for area, name in (("inputs/data", "a.csv"), ("outputs", "model.pt"), ("config", "parameters.json"),
                       (".pipec", "ok"), (".pipec", "failed"), (".pipec", "reason")):
        (ex / area).mkdir(parents=True, exist_ok=True)
        (ex / area / name).write_text("old")
    shell.out("pipec_begin train 0", source=CORE, env={"PIPEC_RUN_DIR": str(tmp_path)})
    assert sorted(p.relative_to(ex).as_posix() for p in ex.rglob("*")) == [".pipec", "config", "inputs", "outputs"]


def test_begin_leaves_other_executions_alone(dash: Shell, tmp_path: Path) -> None:
    make_execution(tmp_path, "train", "1", {"model.pt": "1"})
    dash.out("pipec_begin train 0", source=CORE, env={"PIPEC_RUN_DIR": str(tmp_path)})
    assert (tmp_path / "train" / "1" / "outputs" / "model.pt").read_text() == "1"
    assert (tmp_path / "train" / "1" / ".pipec" / "ok").exists()


# ------------------------------------------------ pipec_stage: an upstream that starts again
def test_stage_fails_when_the_upstream_starts_again_while_copying(dash: Shell, upstream: Path, tmp_path: Path) -> None:
    """A cp that, like a requeued upstream's pipec_begin, takes the ok marker away mid-copy: what
    was copied may be partial, so staging fails rather than hand it on."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cp").write_text(f'#!/bin/sh\nrm -f "{upstream}/prep/0/.pipec/ok"\nexec /bin/cp "$@"\n')
    (bin_dir / "cp").chmod(0o755)
    env = {"PIPEC_RUN_DIR": str(upstream), "PATH": f"{bin_dir}:{dash.env['PATH']}"}
    r = dash.run("pipec_begin train 0; pipec_stage prep outputs 'data/*' data none", source=CORE, env=env)
    assert r.returncode == 1
    assert r.stderr == b"pipec: execution 0 of prep started again while its files were staged into input data\n"


# ----------------------------------------------- pipec_confined: nothing outside the inputs
ESCAPES = ["../../x", "..", "../outputs", "a/../..", "a/../../b", "/etc", "/", ".", "", "./", "a/.."]


@pytest.mark.parametrize("slot", ESCAPES)
def test_confined_refuses_a_path_that_leaves_its_directory(dash: Shell, slot: str) -> None:
    r = dash.run('pipec_confined "input slot" "$1"; echo not reached', slot, source=CORE)
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.startswith(f"pipec: input slot '{slot}' ".encode()) and b"refus" in r.stderr, r.stderr


@pytest.mark.parametrize("slot", ["data", "a/b", "./a", "a/../b", "a//b/", "..a", "a..", "...", "-n", "a b"])
def test_confined_accepts_a_path_below_its_directory(dash: Shell, slot: str) -> None:
    assert dash.out('pipec_confined "input slot" "$1"; echo ok', slot, source=CORE) == b"ok\n"


def refused(shell: Shell, run: Path, code: str, *args: str) -> None:
    """`code` must fail saying it refused, and write nothing outside the execution's inputs."""
    before = sorted(p.relative_to(run).as_posix() for p in run.rglob("*"))
    r = shell.run(f"pipec_enter train 0; mkdir -p \"$PIPEC_INPUTS_DIR\"; {code}; echo not reached", *args,
                  source=CORE, env={"PIPEC_RUN_DIR": str(run / "run")})
    assert r.returncode == 1 and r.stdout == b"", (r.stdout, r.stderr)
    assert b"refus" in r.stderr, r.stderr
    after = sorted(p.relative_to(run).as_posix() for p in run.rglob("*"))
    made = {"run", "run/train", "run/train/0"}
    assert [p for p in after if p not in before and p not in made and not p.startswith("run/train/0/inputs")] == [], after


def test_stage_refuses_a_slot_outside_the_inputs(shell: Shell, upstream: Path) -> None:
    base = upstream.parent
    (base / "run").mkdir(exist_ok=True)
    r = shell.run('pipec_begin train 0; pipec_stage prep outputs "data/*" "$1" none; echo not reached', "../../../x",
                  source=CORE, env={"PIPEC_RUN_DIR": str(upstream)})
    assert (r.returncode, r.stdout) == (1, b"")
    assert r.stderr == b"pipec: input slot '../../../x' leads outside the execution's inputs; refused\n"
    assert not (upstream / "x").exists() and not (upstream / "train" / "x").exists() and not (base / "x").exists()


@pytest.mark.parametrize("slot", ["../../../../x", "/tmp/pipec-abs-slot"])
def test_fetch_refuses_a_slot_outside_the_inputs(shell: Shell, tmp_path: Path, slot: str) -> None:
    refused(shell, tmp_path, 'pipec_fetch "$1" /etc/hostname \'touch "$2/fetched"\'', slot)
    assert not Path("/tmp/pipec-abs-slot").exists()


def test_input_file_refuses_a_name_or_slot_outside_the_inputs(shell: Shell, tmp_path: Path) -> None:
    slot = tmp_path / "run" / "train" / "0" / "inputs" / "data"
    slot.mkdir(parents=True)
    (slot / "only.csv").write_text("x")
    refused(shell, tmp_path, 'pipec_input_file data "$1"', "../../../../evil.csv")
    assert (slot / "only.csv").read_text() == "x" and not (tmp_path / "evil.csv").exists()
    refused(shell, tmp_path, 'pipec_input_file "$1" x.csv', "../../outputs")


def test_require_refuses_a_slot_outside_the_inputs(dash: Shell, tmp_path: Path) -> None:
    refused(dash, tmp_path, 'pipec_require "$1"', "../../../..")
