"""Runtime parts of the core for what OSMO tasks need on every engine: input filters by
regex, files written before the command, exit actions, and uploads (outputs on success,
checkpoints while the command runs and once more at its end)."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.runtime.conftest import Shell
from tests.runtime.test_core import CORE, stage, upstream  # noqa: F401 (fixture)

UPLOAD = 'mkdir -p "$2" && cp -R "$1/." "$2/"'  # a `file` storage: the URL is a directory


def test_stage_keeps_only_files_the_regex_matches(shell: Shell, upstream: Path) -> None:  # noqa: F811
    assert stage(shell, upstream, "prep", "outputs", "*", "all", "full", r"\.csv$", "0") == {
        "data/a.csv": "0a", "data/x/a.csv": "0xa", "data/a.prep-1.csv": "1a", "data/x/a.prep-1.csv": "1xa",
        "data/y/a.csv": "1ya", "data/a.prep-10.csv": "10a", "data/my file.csv": "10m",
    }
    assert stage(shell, upstream, "prep", "outputs", "*", "some", "full", "^DATA/README$", "1") == {
        "data/readme": "0r", "data/readme.prep-1": "1r"}


def test_filter_removes_what_the_regex_does_not_match(shell: Shell, tmp_path: Path) -> None:
    code = ('pipec_begin t 0; mkdir -p "$PIPEC_INPUTS_DIR/0/d"; : > "$PIPEC_INPUTS_DIR/0/d/a.txt"; '
            ': > "$PIPEC_INPUTS_DIR/0/b.json"; : > "$PIPEC_INPUTS_DIR/0/it s.txt"; pipec_filter 0 "$1" 0')
    shell.out(code, r"\.txt$", source=CORE, env={"PIPEC_RUN_DIR": str(tmp_path)})
    slot = tmp_path / "t" / "0" / "inputs" / "0"
    assert sorted(p.relative_to(slot).as_posix() for p in slot.rglob("*") if p.is_file()) == ["d/a.txt", "it s.txt"]


def test_files_are_written_byte_for_byte(shell: Shell, tmp_path: Path) -> None:
    text = "line 1\n$HOME `id` \"q\" 'x' \\n é\n\n"
    blob = bytes(range(256))
    target = tmp_path / "deep" / "dir" / "f.sh"
    shell.out('pipec_write_file "$1" 0 "$2"; pipec_write_file "$3" 1 "$4"', str(target), text,
              str(tmp_path / "b.bin"), base64.b64encode(blob).decode(), source=CORE)
    assert target.read_text() == text
    assert (tmp_path / "b.bin").read_bytes() == blob


def test_exit_actions_name_each_status(shell: Shell) -> None:
    code = "for s in 0 1 3 4 75 137 200; do pipec_exit_action $s; done"
    out = shell.out(code, source=CORE, env={"PIPEC_EXIT_ACTIONS": "complete=0,3-4 reschedule=75,137 fail=1-74"})
    assert out.decode().split() == ["complete", "fail", "complete", "complete", "reschedule", "reschedule", "default"]


COMMAND = """\
n=$(cat "$PIPEC_EXEC_DIR/.pipec/attempts")
echo "attempt $n" > "$PIPEC_OUTPUTS_DIR/attempt"
exit "$(echo "$1" | cut -d, -f"$n")"
"""


def run(shell: Shell, tmp_path: Path, statuses: str, retries: int, actions: str, on_success: str = ""):
    (tmp_path / "cmd.sh").write_text(COMMAND)
    return shell.run('pipec_begin t 0; pipec_run stop-next "$1" sh "$2" "$3"', str(retries),
                     str(tmp_path / "cmd.sh"), statuses, source=CORE,
                     env={"PIPEC_RUN_DIR": str(tmp_path / "run"), "PIPEC_EXIT_ACTIONS": actions,
                          "PIPEC_ON_SUCCESS": on_success})


def test_only_reschedule_statuses_run_again(shell: Shell, tmp_path: Path) -> None:
    r = run(shell, tmp_path, "75,137,0", 3, "reschedule=75,137")
    assert r.returncode == 0 and (tmp_path / "run/t/0/.pipec/attempts").read_text() == "3\n"
    r = run(shell, tmp_path, "75,2,0", 3, "reschedule=75,137")
    assert r.returncode == 2 and (tmp_path / "run/t/0/.pipec/attempts").read_text() == "2\n"
    assert (tmp_path / "run/t/0/.pipec/failed").read_text() == "2\n"


def test_a_complete_status_succeeds(shell: Shell, tmp_path: Path) -> None:
    r = run(shell, tmp_path, "9", 0, "complete=0,9")
    assert r.returncode == 0 and (tmp_path / "run/t/0/.pipec/ok").exists()


def test_reschedules_stop_at_the_retry_limit(shell: Shell, tmp_path: Path) -> None:
    r = run(shell, tmp_path, "75,75,75,0", 2, "reschedule=75")
    assert r.returncode == 75 and (tmp_path / "run/t/0/.pipec/attempts").read_text() == "3\n"


def test_outputs_are_uploaded_before_the_execution_is_marked_ok(shell: Shell, tmp_path: Path) -> None:
    dest = tmp_path / "bucket" / "out"
    hook = f'pipec_upload "{dest}" "$PIPEC_OUTPUTS_DIR" "" 0 \'{UPLOAD}\''
    r = run(shell, tmp_path, "0", 0, "", hook)
    assert r.returncode == 0 and (dest / "attempt").read_text() == "attempt 1\n"
    assert (tmp_path / "run/t/0/.pipec/ok").exists()
    r = run(shell, tmp_path, "0", 0, "", "pipec_upload s3://x \"$PIPEC_OUTPUTS_DIR\" '' 0 false")
    assert r.returncode == 1 and not (tmp_path / "run/t/0/.pipec/ok").exists()
    assert (tmp_path / "run/t/0/.pipec/reason").read_text() == (
        "the command succeeded, but uploading its outputs failed\n")


def test_upload_keeps_only_what_the_regex_matches(shell: Shell, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "ck").mkdir(parents=True)
    (src / "ck" / "a.pt").write_text("a")
    (src / "log.txt").write_text("l")
    dest = tmp_path / "dest"
    shell.out('pipec_upload "$1" "$2" "$3" 0 "$4"', str(dest), str(src), r"\.pt$", UPLOAD, source=CORE)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == ["ck/a.pt"]


def test_checkpoints_upload_while_running_and_once_at_the_end(shell: Shell, tmp_path: Path) -> None:
    src, dest = tmp_path / "ckpt", tmp_path / "store"
    src.mkdir()
    code = ('pipec_begin t 0; pipec_checkpoint 1 "$1" "$2" "" 0 "$3"\n'
            'pipec_run none 0 sh -c \'for i in 1 2 3; do echo $i > "$1/step"; sleep 1; done; echo final > "$1/step"\' '
            'x "$2"')
    r = shell.run(code, str(dest), str(src), UPLOAD, source=CORE, env={"PIPEC_RUN_DIR": str(tmp_path / "run")})
    assert r.returncode == 0, r.stderr
    # The last upload happened after the command's end: it holds the final state.
    assert (dest / "step").read_text() == "final\n"


def test_a_failing_command_keeps_its_status_after_the_final_checkpoint(shell: Shell, tmp_path: Path) -> None:
    src, dest = tmp_path / "ckpt", tmp_path / "store"
    src.mkdir()
    code = ('pipec_begin t 0; pipec_checkpoint 60 "$1" "$2" "" 0 "$3"\n'
            'pipec_run none 0 sh -c \'echo partial > "$1/step"; exit 5\' x "$2"')
    r = shell.run(code, str(dest), str(src), UPLOAD, source=CORE, env={"PIPEC_RUN_DIR": str(tmp_path / "run")})
    assert r.returncode == 5
    assert (dest / "step").read_text() == "partial\n"  # the final upload ran on failure too
    assert (tmp_path / "run/t/0/.pipec/failed").read_text() == "5\n"
