"""What OSMO tasks carry besides a command, on GitHub Actions: the run's id (`{{workflow_id}}`),
environment values built of paths and ids, input filters by regex, files written before the
command, exit actions, uploads of outputs and checkpoints to storage URLs, and credentials
from GitHub's secret store.

Covered: every example of examples/osmo compiles and passes actionlint, zizmor and the
SchemaStore schema (tests/harness/gha_check.py); end to end in the emulator
(tests/harness/gha_sim.py, with tests/harness/fake_docker.py for groups): files passed through
`{{input:N}}` in fan-in order with regex filters (task inputs and URL inputs), files with
hostile contents written byte for byte (in the job's container, and moved below the execution
directory when the command runs on the runner), RESCHEDULE and COMPLETE exit codes, outputs
uploaded to `file://` URLs only after success, checkpoints uploaded while the command runs and
once at its end, the run's id in args, environment and URLs, credentials as `secrets.X` in a
step's env only (and each group member's only in its own container), a credential mounted as a
directory as one dotenv secret written as files byte for byte (at its path in the container,
below the execution directory on the runner) and refused at run time, naming it but not its
value, when it is not KEY=VALUE lines; what the target cannot do is refused, located.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from click.testing import CliRunner

from pipec.cli import main
from pipec.driver import Request, load_workflows
from tests.backends.gha.shown import step_commands
from tests.harness import fake_docker
from tests.harness.gha_check import check_workflows
from tests.harness.gha_sim import Run, run_workflow
from tests.paths import ROOT

EXAMPLES = sorted((ROOT / "examples" / "osmo").glob("*.yaml"))


# --------------------------------------------------------------------------- helpers
def compile_osmo(tmp_path: Path, text: str, toml: str | None = None, ok: bool = True) -> tuple[Path, str]:
    """Compile an OSMO workflow into a repository directory: the workflow file and pipec's
    messages (with `ok` False, the messages of a compile that must fail)."""
    repo = tmp_path / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    src = repo / "workflow.yaml"
    src.write_text(textwrap.dedent(text), encoding="utf-8")
    if toml is not None:
        (repo / "pipec.toml").write_text(textwrap.dedent(toml), encoding="utf-8")
    result = CliRunner().invoke(main, ["compile", str(src), "--target", "gha", "-o", str(repo)])
    if not ok:
        assert result.exit_code == 1, result.output
        return repo, result.output
    assert result.exit_code == 0, f"pipec compile failed ({result.exit_code}):\n{result.output}"
    flows = sorted((repo / ".github" / "workflows").glob("*.yml"))
    assert len(flows) == 1, flows
    return flows[0], result.output


def without_images(flow: Path) -> None:
    """Compile the flow's source again with every job's image removed in the IR (as a dialect
    without images gives): commands run on the runner, where files go below the execution."""
    from pipec.backends.gha import compile_workflows
    from pipec.errors import Diagnostics

    repo = flow.parent.parent.parent
    result = load_workflows(Request(file=str(repo / "workflow.yaml"), target="gha"))
    workflows = [dataclasses.replace(wf, jobs=tuple(dataclasses.replace(j, image=None) for j in wf.jobs))
                 for wf in result.workflows]
    diags = Diagnostics()
    out = compile_workflows(workflows, result.config, diags)
    assert diags.error_count() == 0, diags
    for rel, (content, _) in out.items():
        (repo / rel).write_text(content, encoding="utf-8")


def doc(flow: Path) -> dict:
    return yaml.safe_load(flow.read_text(encoding="utf-8"))


def run_step(job: dict) -> dict:
    return next(s for s in job["steps"] if s.get("id") == "run")


def start(flow: Path, docker: Path | None = None, **kw: Any) -> Run:
    """Run the workflow in the emulator; with `docker` (a state directory) the fake docker is
    first on PATH."""
    repo = flow.parent.parent.parent
    old = os.environ["PATH"]
    if docker is not None:
        fake_docker.install(docker.parent / "bin", docker)
        os.environ["PATH"] = f"{docker.parent / 'bin'}{os.pathsep}{old}"
    try:
        return run_workflow(flow, workspace=repo, workdir=repo.parent / "gh", capacity=8,
                            timeout=kw.pop("timeout", 90), **kw)
    finally:
        os.environ["PATH"] = old


def artifact(r: Run, job: str, area: str = "outputs") -> Path:
    return r.artifact(f"pipec.{job}.0") / "0" / area


def tree(directory: Path) -> dict[str, bytes]:
    """Every file below `directory` (relative path -> bytes)."""
    if not directory.is_dir():
        return {}
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def text_tree(directory: Path) -> dict[str, str]:
    return {k: v.decode("utf-8") for k, v in tree(directory).items()}


def expressions(data: Any) -> Iterator[str]:
    """Every `${{ ... }}` of every string in a workflow document."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from expressions(key)
            yield from expressions(value)
    elif isinstance(data, list):
        for value in data:
            yield from expressions(value)
    elif isinstance(data, str):
        yield from re.findall(r"\$\{\{(.*?)\}\}", data, re.S)


def run_id(r: Run, pipeline: str) -> str:
    """What `{{workflow_id}}` is in a run of the pipeline: its id and the run's."""
    return f"{pipeline}-{r.run_id}"


def _raw(text: str) -> str:
    """`text` as a YAML double-quoted string that OSMO's Jinja leaves alone."""
    return '"{% raw %}' + json.dumps(text, ensure_ascii=False)[1:-1] + '{% endraw %}"'


# --------------------------------------------------------------------------- the examples
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_osmo_example_compiles_and_passes_the_judges(example: Path, tmp_path: Path, gha_tools) -> None:
    # Compiled where it is: files-credentials-retries reads train.py beside it.
    result = CliRunner().invoke(main, ["compile", str(example), "--target", "gha", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert check_workflows(tmp_path) == []


def test_the_files_credentials_retries_example_has_each_feature_in_its_step(tmp_path: Path) -> None:
    example = ROOT / "examples" / "osmo" / "files-credentials-retries.yaml"
    result = CliRunner().invoke(main, ["compile", str(example), "--target", "gha", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    flow = tmp_path / ".github" / "workflows" / "files-credentials-retries.yml"
    env = run_step(doc(flow)["jobs"]["train"])["env"]
    assert env["PIPEC_RUN_ID"] == "files-credentials-retries-${{ github.run_id }}"
    assert env["PIPEC_EXIT_ACTIONS"] == "complete=0 fail=1-74,76-136,138-255 reschedule=75,137"
    assert env["PIPEC_RETRIES"] == "3"
    assert env["HUB_TOKEN"] == "${{ secrets.MODEL_HUB_TOKEN }}"
    assert env["PIPEC_ON_SUCCESS"].startswith('pipec_upload s3://example-bucket/results/"${PIPEC_RUN_ID}" ')
    setup = env["PIPEC_SETUP"]
    assert setup.startswith("pipec_write_file /opt/job/run.sh 0 ") and "pipec_write_file /opt/job/train.py 0 " in setup
    assert 'export RUN_TAG=run-"${PIPEC_RUN_ID}"' in setup
    last = setup.rstrip("\n").splitlines()[-1]
    assert last.startswith("pipec_checkpoint 600 s3://example-bucket/checkpoints/"), "the last line, before the command"


# ------------------------------------------------------------ fan-in order, regex filters
FAN_IN = """\
workflow:
  name: fan-in
  tasks:
  - name: first
    image: alpine:3.20
    command: ["sh", "-c"]
    args: ["mkdir -p {{output}}/d; echo one > {{output}}/a.json; echo skip > {{output}}/a.txt;
            echo deep > {{output}}/d/b.JSON; echo deep > {{output}}/d/c.json"]
  - name: second
    image: alpine:3.20
    command: ["sh", "-c"]
    args: ["echo two > {{output}}/a.json; echo notes > {{output}}/notes.txt"]
  - name: join
    image: alpine:3.20
    command: ["sh", "-c"]
    args: ["for n in 0 1 2 3; do (cd {{input:0}}/../$n && find . -type f | sort | tr '\\\\n' ' ' > {{output}}/in$n.txt); done;
            cat {{input:0}}/a.json {{input:1}}/a.json > {{output}}/order.txt"]
    inputs:
    - task: second
    - task: first
      regex: ^d/|a\\.json$
    - task: first
      regex: (?i)\\.JSON$
    - url: file://SOURCE/*
      regex: \\.csv$
"""


@pytest.mark.e2e
def test_files_flow_through_numbered_inputs_in_fan_in_order_filtered_by_regex(tmp_path: Path, gha_tools) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "keep.csv").write_text("k\n")
    (source / "drop.tsv").write_text("d\n")
    flow, _ = compile_osmo(tmp_path, FAN_IN.replace("SOURCE", str(source)))
    assert check_workflows(flow.parent.parent.parent) == []
    setup = run_step(doc(flow)["jobs"]["join"])["env"]["PIPEC_SETUP"]
    assert "pipec_stage first outputs '*' 1 full '(^d/|a\\.json$)' 0\n" in setup
    assert "pipec_stage first outputs '*' 2 full '\\.JSON$' 1\n" in setup
    assert "pipec_filter 3 '\\.csv$' 0\n" in setup
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    out = text_tree(artifact(r, "join"))
    assert out["order.txt"] == "two\none\n", "{{input:0}} is the first input listed"
    assert out["in0.txt"] == "./a.json ./notes.txt "
    assert out["in1.txt"] == "./a.json ./d/b.JSON ./d/c.json "
    assert out["in2.txt"] == "./a.json ./d/b.JSON ./d/c.json ", "(?i): case ignored"
    assert out["in3.txt"] == "./keep.csv "


# ------------------------------------------------------------------------- files
HOSTILE_TEXT = ("'q' \"dq\" $(touch PWNED) `touch PWNED` ${{ github.token }} ${{ '${{' }} \\back\\slash ${HOME}\n"
                "second line\tü漢字😀 {{ secrets.X }} %s ; touch PWNED #\n\n")
BLOB = bytes(range(256)) + b"${{ github.token }}\n\n"
FILES = """\
workflow:
  name: files
  tasks:
  - name: write
    image: alpine:3.20
    command: ["sh", "DIR/job/run.sh"]
    environment:
      SCRIPT: DIR/job/run.sh
    files:
    - path: DIR/job/run.sh
      contents: |
        cp DIR/job/hostile.txt {{output}}/hostile.txt
        cp DIR/job/data/blob.bin {{output}}/blob.bin
        echo "$SCRIPT" > {{output}}/script.txt
        echo "{{workflow_id}}" > {{output}}/id.txt
    - path: DIR/job/hostile.txt
      contents: HOSTILE
    - path: DIR/job/data/blob.bin
      base64: true
      contents: BLOB
"""


def files_workflow(tmp_path: Path) -> tuple[str, Path]:
    where = tmp_path / "abs"
    text = (FILES.replace("DIR", str(where)).replace("HOSTILE", _raw(HOSTILE_TEXT))
            .replace("BLOB", base64.b64encode(BLOB).decode()))
    return text, where


@pytest.mark.e2e
def test_files_with_hostile_contents_are_written_byte_for_byte_in_the_container(tmp_path: Path, gha_tools) -> None:
    text, where = files_workflow(tmp_path)
    flow, _ = compile_osmo(tmp_path, text)
    assert check_workflows(flow.parent.parent.parent) == []
    step = run_step(doc(flow)["jobs"]["write"])
    env = step["env"]
    assert f"pipec_write_file {where}/job/data/blob.bin 1 " in env["PIPEC_SETUP"]
    assert step_commands(step) == {"PIPEC_COMMAND": f"sh {where}/job/run.sh"}, \
        "in its container, a file is where the workflow says"
    assert {e.strip() for e in expressions(doc(flow))} <= {"runner.temp", "'${{'", "!cancelled()", "github.ref",
                                                          "github.run_id"}, "user text inside ${{ }}"
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    # The emulator runs the container's steps on this machine: the files are at their paths.
    assert (where / "job" / "hostile.txt").read_bytes() == HOSTILE_TEXT.encode()
    assert (where / "job" / "data" / "blob.bin").read_bytes() == BLOB
    out = tree(artifact(r, "write"))
    assert out["hostile.txt"] == HOSTILE_TEXT.encode() and out["blob.bin"] == BLOB
    assert out["script.txt"] == f"{where}/job/run.sh\n".encode()
    assert out["id.txt"] == f"{run_id(r, 'files')}\n".encode()
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.e2e
def test_files_go_below_the_execution_when_the_command_runs_on_the_runner(tmp_path: Path) -> None:
    text, where = files_workflow(tmp_path)
    flow, _ = compile_osmo(tmp_path, text)
    without_images(flow)
    step = run_step(doc(flow)["jobs"]["write"])
    env = step["env"]
    assert step_commands(step) == {"PIPEC_COMMAND": 'sh "${PIPEC_FILE_0}"'}
    assert 'PIPEC_FILE_2="$PIPEC_EXEC_DIR/files"' in env["PIPEC_SETUP"]
    assert 'export SCRIPT="${PIPEC_FILE_0}"' in env["PIPEC_SETUP"]
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    assert not where.exists(), "nothing is written at the absolute paths of the runner"
    out = tree(artifact(r, "write"))
    assert out["hostile.txt"] == HOSTILE_TEXT.encode() and out["blob.bin"] == BLOB
    moved = out["script.txt"].decode()
    assert moved.startswith(str(r.legs("write")[0].temp)) and moved.endswith(f"/write/0/files{where}/job/run.sh\n")
    assert out["id.txt"] == f"{run_id(r, 'files')}\n".encode()
    assert not list(tmp_path.rglob("PWNED"))


def test_a_file_too_large_for_one_environment_variable_is_refused(tmp_path: Path) -> None:
    big = "x" * (200 * 1024)
    text = f"""\
    workflow:
      name: big
      tasks:
      - name: t
        image: alpine:3.20
        command: ["sh", "/data/big.txt"]
        files:
        - path: /data/big.txt
          contents: {big}
    """
    _, output = compile_osmo(tmp_path, text, ok=False)
    assert re.search(r"workflow\.yaml:\d+:\d+: error: 't' needs 204,\d\d\d bytes in one environment variable of its "
                     r"step \(PIPEC_SETUP: its files, environment and staging\); Linux starts no process with a "
                     r"variable over 131,072 bytes", output), output
    assert "pass large files as a URL input, or from the repository" in output


# ---------------------------------------------------------------------------- exit codes
EXITS = """\
workflow:
  name: exits
  tasks:
  - name: flaky
    image: alpine:3.20
    command: ["sh", "-c"]
    args: ["n=$(cat \\"$RUNNER_TEMP/n\\" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > \\"$RUNNER_TEMP/n\\";
            echo attempt $n > {{output}}/attempt.txt; if [ $n -lt 3 ]; then exit 75; fi; exit 9"]
    exitActions:
      COMPLETE: "0,9"
      RESCHEDULE: "75"
  - name: broken
    image: alpine:3.20
    command: ["sh", "-c", "echo partial > {{output}}/partial.txt; exit 76"]
    exitActions:
      RESCHEDULE: "75"
      FAIL: "76"
  - name: stubborn
    image: alpine:3.20
    command: ["sh", "-c", "exit 75"]
    exitActions:
      RESCHEDULE: 75
"""


@pytest.mark.e2e
def test_reschedule_codes_run_again_and_complete_codes_succeed(tmp_path: Path, gha_tools) -> None:
    flow, _ = compile_osmo(tmp_path, EXITS)
    assert check_workflows(flow.parent.parent.parent) == []
    jobs = doc(flow)["jobs"]
    assert run_step(jobs["flaky"])["env"]["PIPEC_EXIT_ACTIONS"] == "complete=0,9 reschedule=75"
    assert run_step(jobs["flaky"])["env"]["PIPEC_RETRIES"] == "3"
    r = start(flow)
    assert r.job("flaky").result == "success", r.logs()
    assert text_tree(artifact(r, "flaky")) == {"attempt.txt": "attempt 3\n"}, "only the last attempt's outputs"
    assert (artifact(r, "flaky", ".pipec") / "attempts").read_text() == "3\n"
    assert (artifact(r, "flaky", ".pipec") / "ok").exists()
    # A FAIL status is not run again; rescheduling stops at the retry limit (3 retries).
    assert r.job("broken").result == "failure"
    assert (artifact(r, "broken", ".pipec") / "attempts").read_text() == "1\n"
    assert (artifact(r, "broken", ".pipec") / "failed").read_text() == "76\n"
    assert tree(artifact(r, "broken")) == {}, "a failed execution keeps no outputs"
    assert r.job("stubborn").result == "failure"
    assert (artifact(r, "stubborn", ".pipec") / "attempts").read_text() == "4\n"
    assert "attempt 3 of 4 failed with status 75; retrying" in r.legs("stubborn")[0].step("run").stderr


# ------------------------------------------------------------------------------ uploads
UPLOADS = """\
workflow:
  name: uploads
  tasks:
  - name: good
    image: alpine:3.20
    command: ["sh", "-c", "mkdir -p {{output}}/sub; echo r > {{output}}/sub/r.txt; echo l > {{output}}/log.bin"]
    outputs:
    - url: file://STORE/{{workflow_id}}/good
    - url: file://STORE/{{workflow_id}}/txt
      regex: .*\\.txt$
  - name: bad
    image: alpine:3.20
    command: ["sh", "-c", "echo half > {{output}}/half.txt; exit 3"]
    outputs:
    - url: file://STORE/{{workflow_id}}/bad
"""


@pytest.mark.e2e
def test_outputs_land_at_a_file_url_after_success_only(tmp_path: Path, gha_tools) -> None:
    store = tmp_path / "store"
    flow, _ = compile_osmo(tmp_path, UPLOADS.replace("STORE", str(store)))
    assert check_workflows(flow.parent.parent.parent) == []
    r = start(flow)
    assert r.job("good").result == "success" and r.job("bad").result == "failure", r.logs()
    runs = store / run_id(r, "uploads")
    assert text_tree(runs / "good") == {"log.bin": "l\n", "sub/r.txt": "r\n"}
    assert text_tree(runs / "txt") == {"sub/r.txt": "r\n"}, "the regex keeps only .txt files"
    assert not (runs / "bad").exists(), "a failed task uploads nothing"
    assert text_tree(artifact(r, "good")) == {"log.bin": "l\n", "sub/r.txt": "r\n"}, "downstream still gets them"


@pytest.mark.e2e
def test_the_upload_command_of_a_scheme_comes_from_pipec_toml(tmp_path: Path) -> None:
    store = tmp_path / "store"
    toml = """\
    [upload]
    file = 'mkdir -p "${2#file://}" && cp -R "$1/." "${2#file://}/" && echo custom > "${2#file://}/.by"'
    """
    flow, _ = compile_osmo(tmp_path, UPLOADS.replace("STORE", str(store)), toml=toml)
    r = start(flow)
    assert r.job("good").result == "success", r.logs()
    assert text_tree(store / run_id(r, "uploads") / "good") == {".by": "custom\n", "log.bin": "l\n",
                                                                "sub/r.txt": "r\n"}


# The command writes a step, waits until a periodic upload has carried it to the store, then
# writes its last step and ends: the final upload carries that one.
CHECKPOINT = """\
workflow:
  name: ckpt
  tasks:
  - name: train
    image: alpine:3.20
    command: ["sh", "-c"]
    args: ["mkdir -p {{output}}/ck; echo skip > {{output}}/ck/skip.log; echo 1 > {{output}}/ck/step.pt;
            n=0; until [ \\"$(cat STORE/ck/step.pt 2>/dev/null)\\" = 1 ]; do n=$((n + 1));
            if [ $n -gt 200 ]; then echo never uploaded; exit 4; fi; sleep 0.1; done;
            echo seen > {{output}}/seen.txt; echo final > {{output}}/ck/step.pt; exit EXIT"]
    checkpoint:
    - path: "{{output}}/ck"
      url: file://STORE/ck
      frequency: 1s
      regex: \\.pt$
"""


@pytest.mark.e2e
@pytest.mark.parametrize("status", [0, 5])
def test_a_checkpoint_uploads_while_the_command_runs_and_at_its_end(tmp_path: Path, status: int, gha_tools) -> None:
    store = tmp_path / "store"
    flow, _ = compile_osmo(tmp_path, CHECKPOINT.replace("STORE", str(store)).replace("EXIT", str(status)))
    assert check_workflows(flow.parent.parent.parent) == []
    setup = run_step(doc(flow)["jobs"]["train"])["env"]["PIPEC_SETUP"]
    assert setup.endswith(f"pipec_checkpoint 1 file://{store}/ck \"${{PIPEC_OUTPUTS_DIR}}\"/ck '\\.pt$' 0 "
                          "'mkdir -p \"${2#file://}\" && cp -R \"$1/.\" \"${2#file://}/\"'\n")
    r = start(flow)
    assert r.job("train").result == ("success" if status == 0 else "failure"), r.logs()
    marks = artifact(r, "train", ".pipec")
    assert (marks / "ok").exists() == (status == 0) and (marks / "failed").exists() == (status != 0)
    if status:
        assert (marks / "failed").read_text() == f"{status}\n", "the final upload keeps the command's status"
    assert (store / "ck" / "step.pt").read_text() == "final\n", "the last upload is after the command's end"
    assert not (store / "ck" / "skip.log").exists()
    if status == 0:
        assert (artifact(r, "train") / "seen.txt").read_text() == "seen\n", "an upload happened during the run"


# ---------------------------------------------------------------------------- the run's id
RUN_ID = """\
workflow:
  name: ids
  tasks:
  - name: first
    image: alpine:3.20
    command: ["sh", "-c", "echo \\"{{workflow_id}} $TAG\\" > {{output}}/id.txt"]
    environment:
      TAG: "tag-{{workflow_id}}"
  - name: second
    image: alpine:3.20
    command: ["sh", "-c", "cat {{input:0}}/id.txt > {{output}}/id.txt; echo {{workflow_id}} >> {{output}}/id.txt"]
    inputs:
    - task: first
"""


@pytest.mark.e2e
def test_the_workflow_id_is_the_runs_id_in_args_and_environment(tmp_path: Path, gha_tools) -> None:
    flow, _ = compile_osmo(tmp_path, RUN_ID)
    assert check_workflows(flow.parent.parent.parent) == []
    for job in doc(flow)["jobs"].values():
        assert run_step(job)["env"]["PIPEC_RUN_ID"] == "ids-${{ github.run_id }}"
    first = start(flow)
    assert first.conclusion == "success", first.logs()
    rid = run_id(first, "ids")
    assert (artifact(first, "second") / "id.txt").read_text() == f"{rid} tag-{rid}\n{rid}\n", "one id for the run"
    second = run_workflow(flow, workspace=flow.parent.parent.parent, workdir=tmp_path / "gh2")
    assert second.conclusion == "success", second.logs()
    again = run_id(second, "ids")
    assert again != rid and (artifact(second, "second") / "id.txt").read_text() == f"{again} tag-{again}\n{again}\n"


def test_jobs_without_the_run_id_do_not_get_it(tmp_path: Path) -> None:
    flow, _ = compile_osmo(tmp_path, RUN_ID.replace("{{workflow_id}}", "x"))
    assert not any("PIPEC_RUN_ID" in run_step(job)["env"] for job in doc(flow)["jobs"].values())


# ----------------------------------------------------------------------------- credentials
SECRETS = """\
workflow:
  name: creds
  tasks:
  - name: use
    image: alpine:3.20
    command: ["sh", "-c", "printf '%s|%s' \\"$HUB_TOKEN\\" \\"$HUB_USER\\" > {{output}}/seen.txt"]
    credentials:
      model-hub:
        HUB_TOKEN: token
        HUB_USER: user.name
"""


@pytest.mark.e2e
def test_a_credentials_env_mapping_is_secrets_in_the_steps_env_only(tmp_path: Path, gha_tools) -> None:
    flow, _ = compile_osmo(tmp_path, SECRETS)
    assert check_workflows(flow.parent.parent.parent) == []
    job = doc(flow)["jobs"]["use"]
    assert run_step(job)["env"]["HUB_TOKEN"] == "${{ secrets.MODEL_HUB_TOKEN }}"
    assert run_step(job)["env"]["HUB_USER"] == "${{ secrets.MODEL_HUB_USER_NAME }}"
    found = [e.strip() for e in expressions(doc(flow)) if "secrets" in e]
    assert found == ["secrets.MODEL_HUB_TOKEN", "secrets.MODEL_HUB_USER_NAME"]
    for step in job["steps"]:
        assert "secrets" not in step.get("run", "") and "secrets" not in json.dumps(step.get("with", {}))
    assert "HUB_TOKEN" not in run_step(job)["env"]["PIPEC_SETUP"]
    r = start(flow, secrets={"MODEL_HUB_TOKEN": "t0k'$(x)", "MODEL_HUB_USER_NAME": "me"})
    assert r.conclusion == "success", r.logs()
    assert (artifact(r, "use") / "seen.txt").read_text() == "t0k'$(x)|me"


def test_a_credentials_secret_prefix_comes_from_pipec_toml(tmp_path: Path) -> None:
    flow, _ = compile_osmo(tmp_path, SECRETS, toml='[secrets.model-hub]\ngithub = "hf"\n')
    env = run_step(doc(flow)["jobs"]["use"])["env"]
    assert env["HUB_TOKEN"] == "${{ secrets.HF_TOKEN }}" and env["HUB_USER"] == "${{ secrets.HF_USER_NAME }}"


# A credential mounted as a directory: ONE GitHub secret, a dotenv file (KEY=VALUE lines), whose
# lines the runtime writes as files before the command. The command copies them to its outputs
# and says whether the secret itself is in its environment; the environment and a file name
# the directory too.
MOUNTED = """\
workflow:
  name: mounted
  tasks:
  - name: use
    image: alpine:3.20
    command: ["sh", "DIR/job/run.sh"]
    environment:
      KEYS_AT: DIR/keys
    credentials:
      model-hub: DIR/keys
    files:
    - path: DIR/job/run.sh
      contents: |
        cp -R DIR/keys {{output}}/keys
        echo "$KEYS_AT" > {{output}}/keys_at.txt
        env | grep -c -e S3CR[3]T > {{output}}/leaks.txt || :
"""
# Quotes, $(...) and backticks, spaces (inner and trailing), '=' in values, a comment, an
# empty line, a CRLF line end and no final newline.
DOTENV = ("token=S3CR3T 'sq' \"dq\" $(touch PWNED) `touch PWNED` ${HOME} a=b==c  \n"
          "# a comment\n\n"
          "user.name= me \r\n"
          "aws-key_ID=${{ github.token }}")
MOUNTED_FILES = {"token": "S3CR3T 'sq' \"dq\" $(touch PWNED) `touch PWNED` ${HOME} a=b==c  ",
                 "user.name": " me ", "aws-key_ID": "${{ github.token }}"}


def mounted_secret_checks(flow: Path) -> dict:
    """The compiled step of MOUNTED: its env holds the secret only as ${{ secrets.MODEL_HUB }}."""
    found = [e.strip() for e in expressions(doc(flow)) if "secrets" in e]
    assert found == ["secrets.MODEL_HUB"], "one GitHub secret for the whole credential"
    job = doc(flow)["jobs"]["use"]
    env = run_step(job)["env"]
    assert env["PIPEC_SECRET_0"] == "${{ secrets.MODEL_HUB }}"
    for step in job["steps"]:
        assert "secrets" not in step.get("run", "") and "secrets" not in json.dumps(step.get("with", {}))
    assert "secrets" not in env["PIPEC_SETUP"] and "secrets" not in step_commands(run_step(job))["PIPEC_COMMAND"]
    return env


@pytest.mark.e2e
def test_a_credential_mounted_as_a_directory_is_one_dotenv_secret_written_as_files(tmp_path: Path,
                                                                                   gha_tools) -> None:
    where = tmp_path / "abs"
    flow, _ = compile_osmo(tmp_path, MOUNTED.replace("DIR", str(where)))
    assert check_workflows(flow.parent.parent.parent) == []
    env = mounted_secret_checks(flow)
    assert f"pipec_secret_files PIPEC_SECRET_0 model-hub MODEL_HUB {where}/keys\n" in env["PIPEC_SETUP"]
    assert step_commands(run_step(doc(flow)["jobs"]["use"]))["PIPEC_COMMAND"] == f"sh {where}/job/run.sh", \
        "in its container, the directory is where it says"
    r = start(flow, secrets={"MODEL_HUB": DOTENV})
    assert r.conclusion == "success", r.logs()
    # The emulator runs the container's steps on this machine: the directory is at its path.
    assert text_tree(where / "keys") == MOUNTED_FILES
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in (where / "keys").iterdir()} == {
        name: "0o600" for name in MOUNTED_FILES}
    out = text_tree(artifact(r, "use"))
    assert {k.removeprefix("keys/"): v for k, v in out.items() if k.startswith("keys/")} == MOUNTED_FILES
    assert out["keys_at.txt"] == f"{where}/keys\n"
    assert out["leaks.txt"] == "0\n", "the secret is not in the command's environment"
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.e2e
def test_a_mounted_credential_goes_below_the_execution_when_the_command_runs_on_the_runner(tmp_path: Path) -> None:
    where = tmp_path / "abs"
    flow, _ = compile_osmo(tmp_path, MOUNTED.replace("DIR", str(where)))
    without_images(flow)
    env = mounted_secret_checks(flow)
    setup = env["PIPEC_SETUP"]
    assert 'PIPEC_CREDENTIAL_DIR_0="$PIPEC_EXEC_DIR/files"' + f"{where}/keys\nexport PIPEC_CREDENTIAL_DIR_0\n" in setup
    assert 'pipec_secret_files PIPEC_SECRET_0 model-hub MODEL_HUB "$PIPEC_CREDENTIAL_DIR_0"\n' in setup
    assert 'export KEYS_AT="${PIPEC_CREDENTIAL_DIR_0}"\n' in setup
    r = start(flow, secrets={"MODEL_HUB": DOTENV})
    assert r.conclusion == "success", r.logs()
    assert not where.exists(), "nothing is written at the absolute paths of the runner"
    out = text_tree(artifact(r, "use"))
    assert {k.removeprefix("keys/"): v for k, v in out.items() if k.startswith("keys/")} == MOUNTED_FILES
    moved = out["keys_at.txt"]
    assert moved.startswith(str(r.legs("use")[0].temp)) and moved.endswith(f"/use/0/files{where}/keys\n")
    assert out["leaks.txt"] == "0\n"
    assert not any("S3CR3T" in v for k, v in text_tree(artifact(r, "use", ".pipec")).items()), "not published"
    assert not list(tmp_path.rglob("PWNED"))


# Each task mounts a credential whose secret is wrong: not set, a line without '=', a bad key.
BAD_MOUNTS = """\
workflow:
  name: bad-mounts
  tasks:
""" + "".join(f"""\
  - name: {name}
    image: alpine:3.20
    command: ["sh", "-c", "echo ran > {{{{output}}}}/ran.txt"]
    credentials:
      {name}-cred: DIR/{name}
""" for name in ("unset", "noequals", "badkey"))


@pytest.mark.e2e
def test_a_mounted_credential_whose_secret_is_not_a_dotenv_file_fails_naming_it_not_its_value(tmp_path: Path
                                                                                              ) -> None:
    where = tmp_path / "abs"
    flow, _ = compile_osmo(tmp_path, BAD_MOUNTS.replace("DIR", str(where)))
    r = start(flow, secrets={"NOEQUALS_CRED": "ok=1\nS3CR3T-LINE with no equals sign\n",
                             "BADKEY_CRED": "ok=1\r\n\nS3CR3T key=S3CR3T-VALUE\n"})
    errors = {}
    for job in ("unset", "noequals", "badkey"):
        assert r.job(job).result == "failure", r.logs()
        assert not list(r.legs(job)[0].temp.rglob("ran.txt")), "the command did not run"
        errors[job] = r.legs(job)[0].step("run").stderr
        assert "S3CR3T" not in errors[job], errors[job]
    assert ("pipec: credential unset-cred (mounted at " + f"{where}/unset) comes from the GitHub secret UNSET_CRED, "
            "which is empty or not set: create the repository secret UNSET_CRED holding one KEY=VALUE line per key "
            "of the credential") in errors["unset"]
    assert ("pipec: credential noequals-cred: the GitHub secret NOEQUALS_CRED must hold one KEY=VALUE line per key "
            "(a dotenv file): line 2 is not KEY=VALUE (it has no '=')") in errors["noequals"]
    assert ("pipec: credential badkey-cred: the GitHub secret BADKEY_CRED must hold one KEY=VALUE line per key (a "
            "dotenv file): line 3 has no valid key before its '=' (a key is letters, digits, '.', '_' and '-', not . "
            "or ..)") in errors["badkey"]


@pytest.mark.parametrize("credential, toml, secret", [
    ("model-hub", None, "MODEL_HUB"),
    ("model-hub", '[secrets.model-hub]\ngithub = "hf"\n', "HF"),
    ("9hub", None, "_9HUB"),
    ("github-keys", None, "_GITHUB_KEYS"),
    ("keys", '[secrets.keys]\ngithub = "github_x"\n', "_GITHUB_X"),
])
def test_a_mounted_credentials_secret_is_named_like_a_keys_without_the_key(tmp_path: Path, credential: str,
                                                                          toml: str | None, secret: str) -> None:
    text = SECRETS.replace("""      model-hub:
        HUB_TOKEN: token
        HUB_USER: user.name
""", f"      {credential}: /root/.hub\n")
    flow, _ = compile_osmo(tmp_path, text, toml=toml)
    env = run_step(doc(flow)["jobs"]["use"])["env"]
    assert env["PIPEC_SECRET_0"] == f"${{{{ secrets.{secret} }}}}"
    assert f"pipec_secret_files PIPEC_SECRET_0 {credential} {secret} /root/.hub\n" in env["PIPEC_SETUP"]


def test_mounted_and_mapped_credentials_of_a_group_member_are_its_own_variables(tmp_path: Path) -> None:
    where = tmp_path / "abs"
    text = TEAM.replace("DIR", str(where)).replace("""        peer-cred:
          PEER_KEY: key
""", """        peer-cred:
          PEER_KEY: key
        peer-dir: /etc/peer
""")
    flow, _ = compile_osmo(tmp_path, text)
    env = run_step(doc(flow)["jobs"]["pair"])["env"]
    assert env["PIPEC_M1_SECRET_0"] == "${{ secrets.PEER_CRED_KEY }}"
    assert env["PIPEC_M1_SECRET_1"] == "${{ secrets.PEER_DIR }}"
    assert "PEER_KEY=$PIPEC_SECRET_0\nexport PEER_KEY\nunset PIPEC_SECRET_0\n" in env["PIPEC_M1_SETUP"]
    assert "pipec_secret_files PIPEC_SECRET_1 peer-dir PEER_DIR /etc/peer\n" in env["PIPEC_M1_SETUP"]
    without_images(flow)
    env = run_step(doc(flow)["jobs"]["pair"])["env"]
    assert 'pipec_secret_files PIPEC_SECRET_1 peer-dir PEER_DIR "$PIPEC_CREDENTIAL_DIR_0"\n' in env["PIPEC_M1_SETUP"]


@pytest.mark.parametrize("mapping, message", [
    ("GITHUB_TOKEN: token", "credential 'model-hub' of 'use' sets environment variable 'GITHUB_TOKEN', a name GitHub "
                            "Actions keeps for its own variables, which a step cannot set"),
    # Refused for every target by the names pass.
    ("PIPEC_JOB: token", "credential 'model-hub' of 'use' sets PIPEC_JOB, which the runtime sets"),
    ("bad-name: token", "credential 'model-hub' of 'use' sets 'bad-name', which is not a valid shell name"),
])
def test_a_credential_variable_a_step_cannot_set_is_refused(tmp_path: Path, mapping: str, message: str) -> None:
    text = SECRETS.replace("HUB_TOKEN: token\n        HUB_USER: user.name", mapping)
    _, output = compile_osmo(tmp_path, text, ok=False)
    assert re.search(r"workflow\.yaml:9:9: error: " + re.escape(message), output), output


def test_a_secret_name_github_would_refuse_gets_a_leading_underscore(tmp_path: Path) -> None:
    flow, _ = compile_osmo(tmp_path, SECRETS.replace("model-hub:", "9hub:"))
    text = flow.read_text()
    assert "${{ secrets._9HUB_TOKEN }}" in text and "secrets.9HUB" not in text


# A group: each member reads its own credential; neither sees the other's (processes on the
# runner, and containers of the fake docker, which get only the variables named to them).
TEAM = """\
workflow:
  name: team
  groups:
  - name: pair
    tasks:
    - name: lead
      lead: true
      image: alpine:3.18
      command: ["sh", "-c", "until [ -e \\"$GITHUB_WORKSPACE/peer-done\\" ]; do sleep 0.05; done;
                             sh DIR/lead.sh"]
      environment:
        PEER: "{{host:peer}} {{output}}"
      credentials:
        lead-cred:
          LEAD_KEY: key
      files:
      - path: DIR/lead.sh
        contents: |
          env | grep -c -e S3CR3T-PE[E]R > {{output}}/leaks.txt || :
          printf '%s|%s' "$LEAD_KEY" "${PEER_KEY:-}" > {{output}}/seen.txt
          echo {{workflow_id}} > {{output}}/id.txt
          echo "$PEER" > {{output}}/peer.txt
    - name: peer
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["env | grep -c -e S3CR3T-LE[A]D > {{output}}/leaks.txt || :;
              printf '%s|%s' \\"$PEER_KEY\\" \\"${LEAD_KEY:-}\\" > {{output}}/seen.txt;
              touch \\"$GITHUB_WORKSPACE/peer-done\\"; sleep 600"]
      credentials:
        peer-cred:
          PEER_KEY: key
"""


@pytest.mark.e2e
@pytest.mark.parametrize("containers", [True, False], ids=["containers", "processes"])
def test_each_group_member_sees_only_its_own_credential(tmp_path: Path, containers: bool, gha_tools) -> None:
    where = tmp_path / "abs"
    flow, _ = compile_osmo(tmp_path, TEAM.replace("DIR", str(where)))
    if not containers:
        without_images(flow)
    assert check_workflows(flow.parent.parent.parent) == []
    env = run_step(doc(flow)["jobs"]["pair"])["env"]
    assert env["PIPEC_M0_SECRET_0"] == "${{ secrets.LEAD_CRED_KEY }}"
    assert env["PIPEC_M1_SECRET_0"] == "${{ secrets.PEER_CRED_KEY }}"
    assert "LEAD_KEY=$PIPEC_SECRET_0\nexport LEAD_KEY\nunset PIPEC_SECRET_0\n" in env["PIPEC_M0_SETUP"]
    assert env["PIPEC_RUN_ID"] == "team-${{ github.run_id }}" and "PIPEC_M0_RUN_ID" not in env
    state = tmp_path / "docker"
    r = start(flow, docker=state if containers else None,
              secrets={"LEAD_CRED_KEY": "S3CR3T-LEAD", "PEER_CRED_KEY": "S3CR3T-PEER"})
    assert r.conclusion == "success", r.logs()
    lead = text_tree(artifact(r, "lead"))
    peer_host, outputs = lead.pop("peer.txt").split()
    assert peer_host == ("peer" if containers else "127.0.0.1") and outputs.endswith("/pipec/m0/run/lead/0/outputs")
    assert lead == {"leaks.txt": "0\n", "seen.txt": "S3CR3T-LEAD|", "id.txt": f"{run_id(r, 'team')}\n"}
    assert text_tree(artifact(r, "peer")) == {"leaks.txt": "0\n", "seen.txt": "S3CR3T-PEER|"}
    assert (where / "lead.sh").exists() == containers, "files are moved where members are processes"
    if containers:
        creates = [c["argv"] for c in fake_docker.calls(state) if c["argv"][0] == "create"]
        for argv in creates:
            rank = argv[argv.index("--name") + 1].rsplit("-", 1)[1]
            named = [argv[i + 1] for i, a in enumerate(argv) if a == "-e"]
            assert {n for n in named if re.match(r"PIPEC_M\d", n)} == {n for n in named
                                                                       if n.startswith(f"PIPEC_M{rank}_")}


# ----------------------------------------------------------------------------- the judges
def test_every_feature_together_passes_the_judges(tmp_path: Path, gha_tools) -> None:
    text, _ = files_workflow(tmp_path)
    text = text.replace("    files:\n", """\
    credentials:
      hub:
        TOKEN: token
    exitActions:
      COMPLETE: "0,9"
      RESCHEDULE: "75"
    checkpoint:
    - path: /ck
      url: s3://bucket/ck/{{workflow_id}}
      frequency: 5m
    outputs:
    - url: gs://bucket/out/{{workflow_id}}
      regex: .*
    inputs:
    - url: https://example.com/data.csv
      regex: \\.csv$
    files:
""")
    flow, _ = compile_osmo(tmp_path, text)
    assert check_workflows(flow.parent.parent.parent) == []
