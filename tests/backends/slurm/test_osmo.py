"""OSMO tasks compiled for Slurm: what a task carries besides its command (reference osmo.md
§1.3-§1.14): the run's id ({{workflow_id}}), environment values built of tokens, input filters by
regex, files written before the command, credentials, exit actions and uploads.

Without Slurm: every example compiles and passes shellcheck; where files and credentials go on the
host and in a container (bind mounts); the runtime's credential readers (a KEY=VALUE file read
without running it, a directory of keys, clear failures).

On the real cluster (the ``slurm_cluster`` fixture; skipped without Slurm unless
PIPEC_REQUIRE_SLURM=1; ``[slurm] container = "none"``, commands use sh and this interpreter):
(1) files flow through {{input:N}} in the order the inputs are listed, one input filtered by a
regex, a URL input by another; (2) a failing task keeps its downstream from ever starting while an
independent one finishes; (3) exitActions: RESCHEDULE runs the command again, FAIL does not, a
COMPLETE status succeeds; (4) hostile values in args, environment and files arrive byte for byte;
(5) {{workflow_id}} is one id per run, kept by --resume, another for the next run; (6) outputs
are uploaded after success only, checkpoints during the run and at its end; (7) a credential from
a KEY=VALUE file (and from a directory) reaches the command and appears in no compiled file and no
log, and a missing one fails naming the credential, the key and the path.
"""

# ruff: noqa: F811
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipec.backends.runtime import runtime_script
from tests.backends.slurm.test_osmo_groups import Run, run_on, shellcheck, wait_gone
from tests.paths import ROOT
from tests.runtime.conftest import clean_env

PY = sys.executable
HOST = '[slurm]\ncontainer = "none"\n'
EXAMPLES = sorted((ROOT / "examples" / "osmo").glob("*.yaml"))


# ----------------------------------------------------------------------------- helpers
def compile_osmo(tmp_path: Path, text: str, config: str = HOST, name: str = "src",
                 ok: bool = True) -> tuple[Path | None, subprocess.CompletedProcess]:
    """Compile an OSMO workflow for Slurm with this pipec.toml; (the pipeline directory, pipec's run)."""
    src = tmp_path / name
    src.mkdir(parents=True, exist_ok=True)
    (src / "workflow.yaml").write_text(text)
    (src / "pipec.toml").write_text(config)
    out = tmp_path / f"{name}-out"
    r = subprocess.run([PY, "-m", "pipec", "compile", str(src / "workflow.yaml"), "--target", "slurm", "-o", str(out)],
                       cwd=ROOT, env={"PYTHONPATH": str(ROOT / "compiler"), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=60, check=False)
    if not ok:
        return None, r
    assert r.returncode == 0, f"pipec compile failed:\n{r.stdout}{r.stderr}"
    (pdir,) = [p for p in out.iterdir() if p.is_dir()]
    return pdir, r


def pipeline(tmp_path: Path, text: str, config: str = HOST, name: str = "src") -> Path:
    pdir, _ = compile_osmo(tmp_path, text, config, name)
    assert pdir is not None
    return pdir


def y(value: str) -> str:
    """A string as YAML (JSON is YAML): quotes, backslashes and newlines escaped."""
    return json.dumps(value, ensure_ascii=False)


def files_below(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def attempts(run: Run, job: str) -> str:
    return (run.path / job / "0" / ".pipec" / "attempts").read_text().strip()


# ------------------------------------------------------------------ without Slurm
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_compiles_and_passes_shellcheck(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = subprocess.run([PY, "-m", "pipec", "compile", str(example), "--target", "slurm", "-o", str(out)], cwd=ROOT,
                       env={"PYTHONPATH": str(ROOT / "compiler"), "PATH": "/usr/bin:/bin"}, capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "error" not in r.stderr, r.stderr
    (pdir,) = [p for p in out.iterdir() if p.is_dir()]
    shellcheck(pdir)


TASK = """\
workflow:
  name: carry
  tasks:
  - name: work
    image: alpine:3.18
    command: ["sh", "/opt/job/run.sh", "/etc/creds/api"]
    environment:
      SCRIPT: /opt/job/run.sh
      OUT: "{{output}}/x"
      RUN: "run-{{workflow_id}}"
    credentials:
      hub: {HUB_TOKEN: token}
      keys: /etc/creds
    files:
    - path: /opt/job/run.sh
      contents: |
        cat /etc/creds/api > {{output}}/api
    exitActions: {RESCHEDULE: "75", COMPLETE: "0,3"}
    checkpoint:
    - {path: "{{output}}/ck", url: "file:///store/{{workflow_id}}", frequency: 30s}
    outputs:
    - url: file:///store/out
      regex: \\.txt$
"""


def test_on_the_host_files_and_credential_directories_live_below_the_execution(tmp_path: Path) -> None:
    """container = "none": each file is written below the execution directory and every mention
    of its path, or of a credential's directory, reads a variable (command, environment, files)."""
    text = (pipeline(tmp_path, TASK) / "jobs" / "work.sbatch").read_text()
    assert 'PIPEC_FILE_0="$PIPEC_EXEC_DIR/files"/opt/job/run.sh\n' in text
    assert 'PIPEC_CREDENTIAL_DIR_0="$PIPEC_EXEC_DIR/.pipec/credentials/0"\n' in text
    assert ("pipec_write_file \"$PIPEC_FILE_0\" 0 'cat '\"${PIPEC_CREDENTIAL_DIR_0}\"'/api > '"
            "\"${PIPEC_OUTPUTS_DIR}\"'/api\n'") in text
    assert 'pipec_secret HUB_TOKEN hub "$HOME"/.pipec/credentials/hub token\nexport HUB_TOKEN\n' in text
    assert 'pipec_secret_dir keys "$HOME"/.pipec/credentials/keys "$PIPEC_CREDENTIAL_DIR_0"\n' in text
    assert 'sh "${PIPEC_FILE_0}" "${PIPEC_CREDENTIAL_DIR_0}"/api\n' in text
    assert 'export SCRIPT="${PIPEC_FILE_0}"\n' in text and 'export OUT="${PIPEC_OUTPUTS_DIR}"/x\n' in text
    assert 'export RUN=run-"${PIPEC_RUN_ID}"\n' in text
    assert "PIPEC_EXIT_ACTIONS='complete=0,3 reschedule=75'\n" in text
    assert "pipec_run stop-next 3 bash" in text  # OSMO reschedules: the job's retries apply
    assert re.search(r"^PIPEC_ON_SUCCESS='pipec_upload file:///store/out \"\$PIPEC_OUTPUTS_DIR\" .*\\\.txt\$", text,
                     re.M)
    assert 'pipec_checkpoint 30 file:///store/"${PIPEC_RUN_ID}" "${PIPEC_OUTPUTS_DIR}"/ck \'\' 0 ' in text
    # Setup comes before staging and the environment; uploads and exit actions right before the run.
    order = [text.index(s) for s in ("pipec_begin", "pipec_write_file", "pipec_secret ", "export SCRIPT",
                                     "PIPEC_EXIT_ACTIONS", "PIPEC_ON_SUCCESS", "pipec_checkpoint", "pipec_run ")]
    assert order == sorted(order)


@pytest.mark.parametrize("engine", ["apptainer", "pyxis"])
def test_in_a_container_files_and_credential_directories_are_bind_mounted(tmp_path: Path, engine: str) -> None:
    config = f'[slurm]\ncontainer = "{engine}"\n[secrets.hub]\nslurm = "~/vault/hub.env"\n'
    text = (pipeline(tmp_path, TASK, config) / "jobs" / "work.sbatch").read_text()
    # The command, the environment and the files name the paths as the workflow does.
    assert "sh /opt/job/run.sh /etc/creds/api\n" in text
    assert "export SCRIPT=/opt/job/run.sh\n" in text and "export OUT=/osmo/data/output/x\n" in text
    assert "pipec_write_file \"$PIPEC_FILE_0\" 0 'cat /etc/creds/api > /osmo/data/output/api\n'" in text
    assert 'pipec_secret HUB_TOKEN hub "$HOME"/vault/hub.env token\n' in text
    # Uploads run on the host: its paths.
    assert 'pipec_checkpoint 30 file:///store/"${PIPEC_RUN_ID}" "${PIPEC_OUTPUTS_DIR}"/ck ' in text
    if engine == "apptainer":
        assert '--bind="$PIPEC_FILE_0:/opt/job/run.sh" --bind="$PIPEC_CREDENTIAL_DIR_0:/etc/creds"' in text
    else:
        assert ',$PIPEC_FILE_0:/opt/job/run.sh,$PIPEC_CREDENTIAL_DIR_0:/etc/creds"' in text
    shellcheck(tmp_path / "src-out" / "carry")
    # A checkpoint of a path only the container has: the job script, on the host, cannot read it.
    _, r = compile_osmo(tmp_path, TASK.replace('"{{output}}/ck"', "/workspace/ck"), config, name="inside")
    assert "'work' checkpoints '/workspace/ck', a path inside its container" in r.stderr, r.stderr


def test_a_path_that_cannot_be_bind_mounted_is_refused(tmp_path: Path) -> None:
    text = TASK.replace("keys: /etc/creds", "keys: /etc/a:b").replace("/etc/creds/api", "/etc/a:b/api")
    _, r = compile_osmo(tmp_path, text, '[slurm]\ncontainer = "apptainer"\n', ok=False)
    assert r.returncode == 1 and "cannot be bind-mounted into its container with apptainer" in r.stdout + r.stderr
    pipeline(tmp_path, text, name="host")  # on the host nothing is mounted


def test_a_group_member_reads_its_credentials_in_the_job_and_names_them_in_its_own_shell(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        workflow:
          name: pair
          groups:
          - name: g
            tasks:
            - name: a
              lead: true
              image: alpine:3.18
              command: ["sh", "-c", "cat /f"]
              credentials: {hub: {TOKEN: t}}
              files: [{path: /f, contents: "{{host:b}}"}]
              exitActions: {RESCHEDULE: "75"}
            - name: b
              image: alpine:3.18
              command: ["sh", "-c", "true"]
              credentials: {hub: {TOKEN: u}}
        """)
    pdir = pipeline(tmp_path, text)
    sbatch = (pdir / "jobs" / "g.sbatch").read_text()
    assert 'pipec_secret PIPEC_CREDENTIAL_0 hub "$HOME"/.pipec/credentials/hub t\n' in sbatch
    assert 'pipec_secret PIPEC_CREDENTIAL_1 hub "$HOME"/.pipec/credentials/hub u\n' in sbatch
    assert "pipec_write_file \"$PIPEC_FILE_0\" 0 \"${PIPEC_HOST_1}\"\n" in sbatch
    member_a = re.search(r"^pipec_member_0\(\) \(\n(.*?)^\)$", sbatch, re.M | re.S).group(1)  # type: ignore[union-attr]
    assert '    export TOKEN="$PIPEC_CREDENTIAL_0"\n' in member_a
    assert '    PIPEC_FILE_0="$PIPEC_EXEC_DIR/files"/f\n' in member_a
    assert "    PIPEC_EXIT_ACTIONS=reschedule=75\n" in member_a
    assert "pipec_run stop-next 3 pipec_step" in member_a
    member_b = re.search(r"^pipec_member_1\(\) \(\n(.*?)^\)$", sbatch, re.M | re.S).group(1)  # type: ignore[union-attr]
    assert '    export TOKEN="$PIPEC_CREDENTIAL_1"\n' in member_b and "PIPEC_FILE_0" not in member_b
    shellcheck(pdir)


def test_submit_gives_each_run_its_id(tmp_path: Path) -> None:
    pdir = pipeline(tmp_path, TASK)
    submit_sh = (pdir / "submit.sh").read_text()
    assert "export PIPEC_RUN_ID\n" in submit_sh and "unset PIPEC_EXIT_ACTIONS PIPEC_ON_SUCCESS\n" in submit_sh
    assert 'printf \'%s\\n\' "$PIPEC_RUN_ID" > "$PIPEC_RUN_DIR/.pipec/run-id"' in submit_sh


# ------------------------------------------------------------ the credential readers
def runtime(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    script = tmp_path / "runtime.sh"
    script.write_text(runtime_script("slurm"))
    run = tmp_path / "run"
    run.mkdir()
    return script, clean_env(PIPEC_RUN_DIR=str(run))


def sh(script: Path, env: dict[str, str], code: str, *args: str, cwd: Path | None = None
       ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["bash", "-c", f'set -euo pipefail\n. "{script}"\n{code}', "t", *args], env=env, cwd=cwd,
                          capture_output=True, timeout=60, check=False)


HOSTILE = "v=1 '\"$(touch pwned) `id` ${HOME} \\ % é ✓ "


def test_a_key_value_file_is_read_never_run(tmp_path: Path) -> None:
    script, env = runtime(tmp_path)
    cred = tmp_path / "hub.env"
    cred.write_bytes(("# a comment\nA=first\nexport B=" + HOSTILE + "\r\nA=second\nC=\nEMPTY\nD=last line").encode())
    code = 'for k in A B C D; do pipec_secret V hub "$1" "$k"; printf "%s|" "$V"; done; [ -z "${pipec_value+set}" ]'

    r = sh(script, env, code, str(cred), cwd=tmp_path)
    assert (r.returncode, r.stderr) == (0, b""), r.stderr
    assert r.stdout.decode() == f"second|{HOSTILE}||last line|"
    assert not (tmp_path / "pwned").exists()


def test_a_missing_credential_or_key_fails_naming_it(tmp_path: Path) -> None:
    script, env = runtime(tmp_path)
    (tmp_path / "hub.env").write_text("TOKEN=s3cr3t-value\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "api").write_text("dir-s3cr3t\n")
    r = sh(script, env, 'pipec_secret V hub "$1" nope', str(tmp_path / "hub.env"))
    assert r.returncode == 1
    assert r.stderr.decode() == f"pipec: credential hub has no key nope (no line nope=... in {tmp_path}/hub.env)\n"
    r = sh(script, env, 'pipec_secret V keys "$1" nope', str(tmp_path / "dir"))
    assert r.stderr.decode() == f"pipec: credential keys has no key nope (no file {tmp_path}/dir/nope)\n"
    r = sh(script, env, 'pipec_secret V ghost "$1" token', str(tmp_path / "ghost"))
    assert r.returncode == 1
    assert r.stderr.decode().startswith(f"pipec: credential ghost: nothing at {tmp_path}/ghost (it takes a file of "
                                        "KEY=VALUE lines or a directory holding one file per key")
    assert "[secrets.ghost] slurm" in r.stderr.decode()
    r = sh(script, env, 'pipec_secret_dir ghost "$1" "$PIPEC_RUN_DIR/x"', str(tmp_path / "ghost"))
    assert r.returncode == 1 and b"credential ghost: nothing at" in r.stderr
    for out in (r.stdout, r.stderr):
        assert b"s3cr3t" not in out


def test_a_credential_directory_holds_every_key(tmp_path: Path) -> None:
    script, env = runtime(tmp_path)
    (tmp_path / "hub.env").write_bytes(("TOKEN=" + HOSTILE + "\nexport USER=me\n#NOTE=x\nbad line\n").encode())
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "api").write_text("dir-value\n")
    exec_dir = tmp_path / "run" / "job" / "0"
    code = ('pipec_guard stop-next job 0; pipec_begin job 0\n'
            'pipec_secret_dir hub hub.env "$PIPEC_EXEC_DIR/.pipec/credentials/0"\n'
            'pipec_secret_dir keys keys "$PIPEC_EXEC_DIR/.pipec/credentials/1"\n'
            'pipec_secret V keys keys api; printf "%s" "$V" > "$PIPEC_OUTPUTS_DIR/api"\n'
            'ls -l "$PIPEC_EXEC_DIR/.pipec/credentials/0" > "$PIPEC_OUTPUTS_DIR/mode"\n'
            'cat "$PIPEC_EXEC_DIR/.pipec/credentials/1/api" > "$PIPEC_OUTPUTS_DIR/linked"\n'
            'cp "$PIPEC_EXEC_DIR/.pipec/credentials/0/TOKEN" "$PIPEC_OUTPUTS_DIR/token"\n'
            'cp "$PIPEC_EXEC_DIR/.pipec/credentials/0/USER" "$PIPEC_OUTPUTS_DIR/user"\n'
            'ls "$PIPEC_EXEC_DIR/.pipec/credentials/0" > "$PIPEC_OUTPUTS_DIR/keys"\n')
    r = sh(script, env, code, cwd=tmp_path)
    assert (r.returncode, r.stderr) == (0, b""), r.stderr
    out = exec_dir / "outputs"
    assert (out / "token").read_bytes() == HOSTILE.encode() and (out / "user").read_text() == "me"
    assert (out / "keys").read_text() == "TOKEN\nUSER\n"
    assert (out / "api").read_text() == "dir-value"  # trailing newlines dropped, as $(cat) drops them
    assert (out / "linked").read_text() == "dir-value\n"
    assert all(line.startswith("-rw-------") for line in (out / "mode").read_text().splitlines()[1:])
    # The guard removed what the job wrote out when it ended; the credential itself is untouched.
    assert not (exec_dir / ".pipec" / "credentials").exists()
    assert (tmp_path / "keys" / "api").read_text() == "dir-value\n"


# ------------------------------------------------------------------- on the cluster
SERIAL = """\
workflow:
  name: serial
  tasks:
  - name: task1
    image: alpine:3.18
    command: ["sh", "-c"]
    args: ["mkdir -p {{output}}/d && echo one > {{output}}/d/one.txt && echo t1 > {{output}}/t1.csv"]
  - name: task2
    image: alpine:3.18
    command: ["sh", "-c"]
    args: ["mkdir -p {{output}}/sub && echo two > {{output}}/two.json && echo no > {{output}}/two.txt && echo deep > {{output}}/sub/deep.JSON"]
  - name: task3
    image: alpine:3.18
    command: ["sh", "-c"]
    args:
    - |
      (cd {{input:0}} && find . -type f | sort) > {{output}}/in0.txt
      (cd {{input:1}} && find . -type f | sort) > {{output}}/in1.txt
      (cd {{input:2}} && find . -type f | sort) > {{output}}/in2.txt
      cat {{input:0}}/d/one.txt {{input:1}}/two.json > {{output}}/seen.txt
    inputs:
    - task: task1
    - task: task2
      regex: (?i)\\.json$
    - url: file://@DATA@
      regex: keep-\\d+\\.txt$
"""


def test_files_flow_in_input_order_and_regexes_filter_them(slurm_cluster, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("keep-1.txt", "keep-x.txt", "drop-2.txt"):
        (data / name).write_text(name)
    pdir = pipeline(tmp_path, SERIAL.replace("@DATA@", str(data)))
    run = run_on(slurm_cluster, pdir, tmp_path)
    assert run.states == {"task1": {"COMPLETED"}, "task2": {"COMPLETED"}, "task3": {"COMPLETED"}}, run.logs()
    assert run.output("task3", "in0.txt") == "./d/one.txt\n./t1.csv\n"  # input 0: task1's, whole
    assert run.output("task3", "in1.txt") == "./sub/deep.JSON\n./two.json\n"  # input 1: task2's .json (any case)
    assert run.output("task3", "in2.txt") == "./data/keep-1.txt\n"  # the URL's files, filtered
    assert run.output("task3", "seen.txt") == "one\ntwo\n"
    assert run.failed == ""


FAILING = """\
workflow:
  name: failing
  groups:
  - name: up
    tasks:
    - name: bad
      image: alpine:3.18
      command: ["sh", "-c", "echo partial > {{output}}/partial.txt; exit 3"]
  - name: down
    tasks:
    - name: after
      image: alpine:3.18
      command: ["sh", "-c", "echo ran > @S@/after-ran; cp -r {{input:0}} {{output}}/"]
      inputs:
      - task: bad
  - name: side
    tasks:
    - name: indep
      image: alpine:3.18
      command: ["sh", "-c", "sleep 2; echo indep > {{output}}/indep.txt"]
"""


def test_a_failing_group_keeps_its_downstream_from_running(slurm_cluster, tmp_path: Path) -> None:
    pdir = pipeline(tmp_path, FAILING.replace("@S@", str(tmp_path)))
    run = run_on(slurm_cluster, pdir, tmp_path)
    assert run.states["bad"] == {"FAILED"} and run.states["indep"] == {"COMPLETED"}, (run.states, run.logs())
    assert run.states["after"] == {"CANCELLED"}, run.states
    assert not (run.path / "after").exists() and not (tmp_path / "after-ran").exists()  # never started
    assert run.output("indep", "indep.txt") == "indep\n"
    assert run.marks("bad") == {"failed": "3", "reason": "the command exited with status 3"}
    assert run.failed == "bad failed (execution 0): the command exited with status 3\n"
    assert not (run.path / "STOPPED").exists()


EXITS = """\
workflow:
  name: exits
  tasks:
  - name: flaky
    image: alpine:3.18
    command: ["sh", "-c", "echo x >> @S@/flaky; n=$(wc -l < @S@/flaky); echo $n > {{output}}/n; [ $n -ge 3 ] || exit 75"]
    exitActions: {RESCHEDULE: "75", FAIL: "1-74,76-255"}
  - name: fatal
    image: alpine:3.18
    command: ["sh", "-c", "echo x >> @S@/fatal; exit 2"]
    exitActions: {RESCHEDULE: "75", FAIL: "2"}
  - name: done
    image: alpine:3.18
    command: ["sh", "-c", "echo finished > {{output}}/done.txt; exit 9"]
    exitActions: {COMPLETE: "0,9"}
  - name: next
    image: alpine:3.18
    command: ["sh", "-c", "cat {{input:0}}/done.txt > {{output}}/got.txt"]
    inputs:
    - task: done
"""


def test_exit_actions_reschedule_fail_and_complete(slurm_cluster, tmp_path: Path) -> None:
    pdir = pipeline(tmp_path, EXITS.replace("@S@", str(tmp_path)))
    run = run_on(slurm_cluster, pdir, tmp_path)
    # RESCHEDULE: 75 twice, then 0 on the third attempt.
    assert run.states["flaky"] == {"COMPLETED"}, run.logs()
    assert "ok" in run.marks("flaky") and attempts(run, "flaky") == "3"
    assert run.output("flaky", "n") == "3\n" and (tmp_path / "flaky").read_text() == "x\nx\nx\n"
    # FAIL: not run again.
    assert run.states["fatal"] == {"FAILED"}
    assert run.marks("fatal") == {"failed": "2", "reason": "the command exited with status 2"}
    assert attempts(run, "fatal") == "1" and (tmp_path / "fatal").read_text() == "x\n"
    # COMPLETE: status 9 succeeds, and its downstream runs with its files.
    assert run.states["done"] == {"COMPLETED"} and "ok" in run.marks("done")
    assert run.states["next"] == {"COMPLETED"} and run.output("next", "got.txt") == "finished\n"
    assert run.failed == "fatal failed (execution 0): the command exited with status 2\n"
    log = "".join(p.read_text() for p in (run.path / "logs" / "flaky").glob("*.err"))
    assert log.count("failed with status 75; retrying") == 2, log


HOSTILE_VALUES = ["it's \"quoted\"", "$(touch @S@/pwned-arg)", "`touch @S@/pwned-tick`", "two\nlines\n",
                  "100% %s %d %% %j %A", "é ✓ 日本語 \U0001F600", "back\\slash $HOME ${PATH} *?[a] ~", "",
                  "  lead and trail  ", "-n", "a}b{c", "tab\there;&|<>!#"]
READER = r"""
import json, os, sys
out, text_file, blob_file = sys.argv[1:4]
got = {"args": sys.argv[4:], "env": [os.environ["H%d" % k] for k in range(int(os.environ["HN"]))]}
open(os.path.join(out, "got.json"), "w", encoding="utf-8").write(json.dumps(got, ensure_ascii=False))
open(os.path.join(out, "text"), "wb").write(open(text_file, "rb").read())
open(os.path.join(out, "blob"), "wb").write(open(blob_file, "rb").read())
"""


def test_hostile_values_arrive_byte_for_byte(slurm_cluster, tmp_path: Path) -> None:
    values = [v.replace("@S@", str(tmp_path)) for v in HOSTILE_VALUES]
    blob = bytes(range(256)) * 3
    text_contents = "".join(values) + "\n$(touch " + str(tmp_path) + "/pwned-file)\n"
    env = "\n".join(f"      H{k}: {y(v)}" for k, v in enumerate(values))
    args = ", ".join(y(v) for v in ["{{output}}", "/opt/h/text.txt", "/opt/h/blob.bin", *values])
    text = (f"workflow:\n  name: hostile\n  tasks:\n  - name: echo\n    image: alpine:3.18\n"
            f"    command: [{y(PY)}, \"-c\", {y(READER)}]\n    args: [{args}]\n"
            f"    environment:\n      HN: \"{len(values)}\"\n{env}\n"
            f"    files:\n    - path: /opt/h/text.txt\n      contents: {y(text_contents)}\n"
            f"    - path: /opt/h/blob.bin\n      base64: true\n      contents: {base64.b64encode(blob).decode()}\n")
    pdir = pipeline(tmp_path, text)
    shellcheck(pdir)
    run = run_on(slurm_cluster, pdir, tmp_path)
    assert run.states == {"echo": {"COMPLETED"}}, run.logs()
    got = json.loads(run.output("echo", "got.json"))
    assert got == {"args": values, "env": values}
    assert (run.path / "echo" / "0" / "outputs" / "text").read_bytes() == text_contents.encode()
    assert (run.path / "echo" / "0" / "outputs" / "blob").read_bytes() == blob
    assert not list(tmp_path.glob("pwned*"))


RUN_ID = """\
workflow:
  name: runid
  tasks:
  - name: first
    image: alpine:3.18
    command: ["sh", "-c"]
    args: ["printf '%s' {{workflow_id}} > {{output}}/arg; printf '%s' \\"$RUN\\" > {{output}}/env; cat /opt/id > {{output}}/file"]
    environment:
      RUN: "{{workflow_id}}"
    files:
    - path: /opt/id
      contents: "{{workflow_id}}"
  - name: second
    image: alpine:3.18
    command: ["sh", "-c"]
    args: ["[ -e @S@/heal ] || exit 5; printf '%s' '{{workflow_id}}' > {{output}}/arg"]
    inputs:
    - task: first
"""


def test_the_workflow_id_is_one_per_run_and_kept_on_resume(slurm_cluster, tmp_path: Path) -> None:
    pdir = pipeline(tmp_path, RUN_ID.replace("@S@", str(tmp_path)))
    first = run_on(slurm_cluster, pdir, tmp_path)
    assert first.states == {"first": {"COMPLETED"}, "second": {"FAILED"}}, first.logs()
    run_id = first.output("first", "arg")
    assert re.fullmatch(r"runid-\d{8}T\d{6}Z-\d+-[0-9a-f]{4}", run_id), run_id
    assert first.output("first", "env") == run_id and first.output("first", "file") == run_id
    assert (first.path / ".pipec" / "run-id").read_text() == run_id + "\n"
    (tmp_path / "heal").write_text("")
    resumed = run_on(slurm_cluster, pdir, tmp_path, 120, "--resume", str(first.path))
    assert resumed.states == {"second": {"COMPLETED"}}, resumed.logs()
    assert resumed.output("second", "arg") == run_id  # the same run: the same id
    # The next run (its default directory, named after its id): another id.
    start = time.monotonic()
    r = subprocess.run([str(pdir / "submit.sh")], cwd=tmp_path, env=slurm_cluster.env, capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    (other,) = (tmp_path / "pipec-runs").iterdir()
    (tmp_path / "next").mkdir()
    (tmp_path / "next" / "run").symlink_to(other)  # where wait_gone looks
    again = wait_gone(slurm_cluster, tmp_path / "next", r, start)
    assert again.states == {"first": {"COMPLETED"}, "second": {"COMPLETED"}}, again.logs()
    other_id = again.output("first", "arg")
    assert other_id != run_id and other_id == other.name and again.output("second", "arg") == other_id


UPLOADS = """\
workflow:
  name: uploads
  tasks:
  - name: good
    image: alpine:3.18
    command: ["sh", "-c", "mkdir -p {{output}}/r && echo result > {{output}}/r/result.txt && echo log > {{output}}/log.dat"]
    outputs:
    - url: file://@STORE@/good/{{workflow_id}}
      regex: \\.txt$
  - name: bad
    image: alpine:3.18
    command: ["sh", "-c", "echo partial > {{output}}/partial.txt; exit 1"]
    outputs:
    - url: file://@STORE@/bad
  - name: ck
    image: alpine:3.18
    command: ["sh", "-c"]
    args:
    - |
      mkdir -p {{output}}/ckpt
      echo 1 > {{output}}/ckpt/step
      i=0
      until [ "$(cat @STORE@/ckpt/step 2>/dev/null)" = 1 ]; do
        i=$((i + 1)); [ $i -lt 300 ] || exit 9; sleep 0.1
      done
      echo during > @STORE@/seen-during
      echo final > {{output}}/ckpt/step
    checkpoint:
    - path: "{{output}}/ckpt"
      url: file://@STORE@/ckpt
      frequency: 1s
"""


def test_outputs_upload_after_success_only_and_checkpoints_during_and_at_the_end(slurm_cluster,
                                                                                  tmp_path: Path) -> None:
    store = tmp_path / "store"
    pdir = pipeline(tmp_path, UPLOADS.replace("@STORE@", str(store)))
    run = run_on(slurm_cluster, pdir, tmp_path)
    assert run.states == {"good": {"COMPLETED"}, "bad": {"FAILED"}, "ck": {"COMPLETED"}}, run.logs()
    run_id = (run.path / ".pipec" / "run-id").read_text().strip()
    assert files_below(store / "good") == [f"{run_id}/r/result.txt"]  # the regex kept the .txt only
    assert (store / "good" / run_id / "r" / "result.txt").read_text() == "result\n"
    assert not (store / "bad").exists()  # a failed task uploads nothing
    assert (store / "seen-during").read_text() == "during\n"  # uploaded while the command ran...
    assert (store / "ckpt" / "step").read_text() == "final\n"  # ...and once more when it ended
    assert run.failed == "bad failed (execution 0): the command exited with status 1\n"


CREDENTIALS = """\
workflow:
  name: creds
  tasks:
  - name: env
    image: alpine:3.18
    command: [@PY@, "-c", "@CODE@", "{{output}}", "HUB_TOKEN", "/etc/keys/api"]
    credentials:
      hub: {HUB_TOKEN: TOKEN}
      keys: /etc/keys
  - name: mount
    image: alpine:3.18
    command: [@PY@, "-c", "@CODE@", "{{output}}", "API", "/etc/hub/TOKEN"]
    credentials:
      hub: /etc/hub
      keys: {API: api}
  - name: missing
    image: alpine:3.18
    command: ["sh", "-c", "echo never > {{output}}/ran"]
    credentials:
      hub: {X: nope}
"""
# argv: OUTPUTS VARIABLE FILE: the hashes of the variable's value and the file's contents.
DIGEST = ("import hashlib, os, sys; out, var, path = sys.argv[1:4]; h = lambda b: hashlib.sha256(b).hexdigest(); "
          "open(os.path.join(out, 'digests'), 'w').write(h(os.environ[var].encode()) + ' ' + "
          "h(open(path, 'rb').read()) + ' ' + str(sorted(os.listdir(os.path.dirname(path)))))")


def test_a_credential_reaches_the_command_and_nothing_else(slurm_cluster, tmp_path: Path) -> None:
    token = f"hub-s3cr3t-{os.getpid()}-{time.time_ns()}='\"$(touch {tmp_path}/pwned)"
    api = f"api-s3cr3t-{os.getpid()}-{time.time_ns()}"
    vault = tmp_path / "vault"
    (vault / "keys").mkdir(parents=True)
    (vault / "hub.env").write_text(f"# the hub's credential\nOTHER=x\nexport TOKEN={token}\n")
    (vault / "keys" / "api").write_text(api + "\n")
    config = HOST + f'[secrets.hub]\nslurm = "{vault}/hub.env"\n[secrets.keys]\nslurm = "{vault}/keys"\n'
    pdir = pipeline(tmp_path, CREDENTIALS.replace("@PY@", y(PY)).replace('"@CODE@"', y(DIGEST)), config)
    shellcheck(pdir)
    run = run_on(slurm_cluster, pdir, tmp_path)
    assert run.states == {"env": {"COMPLETED"}, "mount": {"COMPLETED"}, "missing": {"FAILED"}}, run.logs()

    def h(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    assert run.output("env", "digests") == f"{h(token)} {h(api + chr(10))} ['api']"
    assert run.output("mount", "digests") == f"{h(api)} {h(token)} ['OTHER', 'TOKEN']"
    reason = f"credential hub has no key nope (no line nope=... in {vault}/hub.env)"
    assert run.marks("missing") == {"failed": "1", "reason": reason}
    assert run.failed == f"missing failed (execution 0): {reason}\n"
    assert not (run.path / "missing" / "0" / "outputs" / "ran").exists()
    assert not list(tmp_path.glob("pwned*"))
    # The keys written out for `mount` were removed when its job ended.
    assert not any((run.path / job / "0" / ".pipec" / "credentials").exists() for job in ("env", "mount"))
    # No value in any compiled file, and none in the run's files and logs.
    leaks = [str(p) for root in (pdir, run.path) for p in root.rglob("*")
             if p.is_file() and (token.encode() in p.read_bytes() or api.encode() in p.read_bytes())]
    assert leaks == []


GROUPED = """\
workflow:
  name: grouped
  groups:
  - name: team
    tasks:
    - name: lead
      lead: true
      image: alpine:3.18
      command: ["sh", "/opt/lead.sh"]
      environment:
        PEER: "{{host:worker}}/{{workflow_id}}"
      credentials:
        hub: {TOKEN: TOKEN}
      files:
      - path: /opt/lead.sh
        contents: |
          echo x >> @S@/lead-attempts
          [ "$(wc -l < @S@/lead-attempts)" -ge 2 ] || exit 75
          printf '%s' "$PEER" > {{output}}/peer
          printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1 > {{output}}/token.sha
          cat /opt/host > {{output}}/host
          sleep 2
      - path: /opt/host
        contents: "{{host:worker}}"
      exitActions: {RESCHEDULE: "75"}
      outputs:
      - url: file://@S@/store/lead
    - name: worker
      image: alpine:3.18
      command: ["sh", "-c", "sha256sum < /etc/hub/TOKEN | cut -d' ' -f1 > {{output}}/token.sha; printf '%s' \\"${TOKEN:-unset}\\" > {{output}}/token-var; printf '%s' {{host:lead}} > {{output}}/lead-host"]
      credentials:
        hub: /etc/hub
      outputs:
      - url: file://@S@/store/worker
"""


def test_group_members_get_their_own_files_credentials_retries_and_uploads(slurm_cluster, tmp_path: Path) -> None:
    """A group (one heterogeneous job): the lead's file and environment name its peer's host and the
    run's id, its credential reaches it and not the worker, its RESCHEDULE status runs it again;
    the worker reads the credential as a directory; each member uploads its own outputs."""
    token = f"team-s3cr3t-{os.getpid()}-{time.time_ns()}"
    (tmp_path / "hub.env").write_text(f"TOKEN={token}\n")
    config = HOST + f'[secrets.hub]\nslurm = "{tmp_path}/hub.env"\n'
    pdir = pipeline(tmp_path, GROUPED.replace("@S@", str(tmp_path)), config)
    shellcheck(pdir)
    run = run_on(slurm_cluster, pdir, tmp_path)
    assert run.states == {"team": {"COMPLETED"}}, run.logs()
    hosts = {rec["HetJobOffset"]: rec["NodeList"] for rec in slurm_cluster.job_records(run.ids["team"])}
    run_id = (run.path / ".pipec" / "run-id").read_text().strip()
    store = tmp_path / "store"
    assert (store / "lead" / "peer").read_text() == f"{hosts['1']}/{run_id}"
    assert (store / "lead" / "host").read_text() == hosts["1"]
    digest = hashlib.sha256(token.encode()).hexdigest() + "\n"
    assert (store / "lead" / "token.sha").read_text() == digest
    assert (store / "worker" / "token.sha").read_text() == digest
    assert (store / "worker" / "token-var").read_text() == "unset"  # the lead's credential is the lead's
    assert (store / "worker" / "lead-host").read_text() == hosts["0"]
    assert attempts(run, "lead") == "2" and "ok" in run.marks("lead") and "ok" in run.marks("worker")
    assert not (run.path / "worker" / "0" / ".pipec" / "credentials").exists()
    leaks = [str(p) for root in (pdir, run.path) for p in root.rglob("*")
             if p.is_file() and token.encode() in p.read_bytes()]
    assert leaks == [] and run.failed == ""
