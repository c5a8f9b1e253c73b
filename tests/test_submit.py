"""`pipec submit`: the engine clients it runs (argo, gh, Slurm's submit.sh), with stand-ins
for argo and gh on PATH that record their arguments and standard input and exit with a
chosen code. Hostile parameter values reach a client as single arguments, byte for byte;
the client's exit code is pipec's; a missing client, an unknown parameter, a workflow that
GitHub's default branch lacks are clear errors. The real Slurm run (with --watch) is in
tests/backends/slurm/test_submit.py."""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipec.cli import main
from tests.paths import COMPILER_DIR

PIPELINES = """\
- step:
    name: echo
    image: busybox
    command:
      - printf '%s' {parameter-value:message} > /valohai/outputs/message.txt
      - printf '%s' {parameter-value:title} > /valohai/outputs/title.txt
    parameters:
      - name: message
        type: string
        default: hello
      - name: title
        type: string
        default: a title
      - name: loud
        type: flag
        default: false
- pipeline:
    name: echo pipeline
    parameters:
      - name: message
        targets: [echo.parameter.message]
        default: hello
      - name: report title
        targets: [echo.parameter.title]
        default: a title
      - name: loud
        targets: [echo.parameter.loud]
        default: false
    nodes:
      - name: echo
        type: execution
        step: echo
    edges: []
- pipeline:
    name: other pipeline
    nodes:
      - name: echo
        type: execution
        step: echo
    edges: []
"""
ECHO = ["--pipeline", "echo pipeline"]

HOSTILE = [
    "it's \"quoted\" \\ back",
    "$(touch /tmp/pipec-pwned) `id` $HOME ;|&",
    "two\nlines\n",
    "{{workflow.name}} {{inputs.parameters.x}}",
    "--watch",
    "  spaced  ",
    "pipec-b64:bm90IGVuY29kZWQ=",
    "ünïcödé ✓",
    "",
]

# A stand-in client: records its arguments (NUL-separated) and standard input per call as
# $FAKE_LOG/<name>.<n> and <name>.<n>.stdin, then does what the case below says.
RECORD = """\
#!/bin/sh
n=0
while [ -e "$FAKE_LOG/{name}.$n" ]; do n=$((n + 1)); done
: > "$FAKE_LOG/{name}.$n"
for a in "$@"; do printf '%s\\0' "$a" >> "$FAKE_LOG/{name}.$n"; done
cat > "$FAKE_LOG/{name}.$n.stdin"
"""
FAKE_ARGO = RECORD.format(name="argo") + """\
case $1 in
    submit) cp "$2" "$FAKE_LOG/manifest.yaml"
            for a in "$@"; do [ "$a" != name ] || echo wf-1234; done
            exit "${FAKE_EXIT:-0}" ;;
    wait) exit "${FAKE_WAIT_EXIT:-0}" ;;
esac
"""
# gh: `api .../contents/PATH` answers from $FAKE_REPO (404 when it lacks the file), `api user`
# names the user, `workflow run` starts run 1001, `run list` lists the runs started.
FAKE_GH = RECORD.format(name="gh") + """\
case "$1 $2" in
    "api user") echo octocat ;;
    "api -H")
        path=${4#repos/\\{owner\\}/\\{repo\\}/contents/}
        if [ -f "$FAKE_REPO/$path" ]; then cat "$FAKE_REPO/$path"; else echo "gh: Not Found (HTTP 404)" >&2; exit 1; fi ;;
    "workflow run") [ "${FAKE_EXIT:-0}" != 0 ] || echo 1001 >> "$FAKE_LOG/runs"; exit "${FAKE_EXIT:-0}" ;;
    "run list") echo 990; cat "$FAKE_LOG/runs" 2>/dev/null || : ;;
    "run watch") exit "${FAKE_WATCH_EXIT:-0}" ;;
esac
"""


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stand-ins for argo and gh first on PATH; the log directory they record into; the
    pipeline file in the working directory (a repository: it has .git)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    log.mkdir()
    for name, text in (("argo", FAKE_ARGO), ("gh", FAKE_GH)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    work = tmp_path / "work"
    (work / ".git").mkdir(parents=True)
    (work / "valohai.yaml").write_text(PIPELINES)
    monkeypatch.chdir(work)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_REPO", str(work))
    for name in ("FAKE_EXIT", "FAKE_WATCH_EXIT"):
        monkeypatch.delenv(name, raising=False)
    return log


def calls(log: Path, name: str) -> list[list[str]]:
    """Each call of stand-in `name`: its arguments."""
    found = []
    n = 0
    while (log / f"{name}.{n}").exists():
        data = (log / f"{name}.{n}").read_bytes()
        found.append([a.decode("utf-8") for a in data.split(b"\0")[:-1]])
        assert (log / f"{name}.{n}.stdin").read_bytes() == b"", "a client got standard input"
        n += 1
    return found


def submit(*args: str):
    return CliRunner().invoke(main, ["submit", "valohai.yaml", *args], catch_exceptions=False)


def params(values: list[str]) -> list[str]:
    return [a for k, v in enumerate(values) for a in ("-p", f"{'message' if k % 2 == 0 else 'report title'}={v}")]


# ------------------------------------------------------------------------------------ argo
@pytest.mark.parametrize("value", HOSTILE)
def test_argo_receives_each_value_as_one_argument_byte_for_byte(fakes: Path, value: str) -> None:
    result = submit("--target", "argo", *ECHO, "-p", f"message={value}", "-p", "report title=plain")
    assert result.exit_code == 0, result.output
    [argv] = calls(fakes, "argo")
    assert argv[0] == "submit" and argv[2:4] == ["-p", argv[3]] and argv[4:] == ["-p", "report-title=plain"]
    name, _, sent = argv[3].partition("=")
    assert name == "message"
    # Argo templates a submitted value once more: one holding "{{" (or starting with the
    # prefix, or holding a control character Argo cannot carry) goes base64-encoded, which
    # the pod decodes; any other value is passed as it is.
    if "{{" in value or value.startswith("pipec-b64:"):
        assert sent.startswith("pipec-b64:")
        assert base64.b64decode(sent.removeprefix("pipec-b64:")).decode("utf-8") == value
    else:
        assert sent == value
    manifest = yaml.safe_load((fakes / "manifest.yaml").read_text())
    assert manifest["kind"] == "Workflow"
    assert [p["name"] for p in manifest["spec"]["arguments"]["parameters"]] == ["message", "report-title"]


def test_argo_exit_code_passes_through(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_EXIT", "7")
    result = submit("--target", "argo", *ECHO, "--watch")
    assert result.exit_code == 7
    [argv] = calls(fakes, "argo")
    assert argv[-2:] == ["--output", "name"]


@pytest.mark.parametrize("outcome", [0, 1])
def test_argo_watch_follows_the_workflow_and_exits_with_its_outcome(fakes: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    outcome: int) -> None:
    monkeypatch.setenv("FAKE_WAIT_EXIT", str(outcome))
    result = submit("--target", "argo", *ECHO, "--watch")
    assert result.exit_code == outcome, result.output
    argvs = calls(fakes, "argo")
    assert [a[0] for a in argvs] == ["submit", "watch", "wait"]
    assert argvs[1:] == [["watch", "wf-1234"], ["wait", "wf-1234"]]


def test_argo_keeps_the_manifest_in_the_output_given(fakes: Path) -> None:
    result = submit("--target", "argo", *ECHO, "-o", "out")
    assert result.exit_code == 0, result.output
    [argv] = calls(fakes, "argo")
    assert argv[:2] == ["submit", os.path.join("out", "echo-pipeline.yaml")]
    assert Path("out/echo-pipeline.yaml").read_bytes() == (fakes / "manifest.yaml").read_bytes()


def test_argo_dry_run_prints_the_command_and_runs_nothing(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no argo needed
    result = submit("--target", "argo", *ECHO, "--dry-run", *params(HOSTILE[:2]))
    assert result.exit_code == 0, result.output
    argv = shlex.split(result.stdout)
    assert argv[:2] == ["argo", "submit"] and argv[2].endswith("echo-pipeline.yaml")
    assert argv[3:] == ["-p", f"message={HOSTILE[0]}", "-p", f"report-title={HOSTILE[1]}"]
    assert calls(fakes, "argo") == []


def test_a_scheduled_pipeline_is_a_cron_workflow_argo_submit_cannot_run(fakes: Path) -> None:
    result = submit("--target", "argo", *ECHO, "--schedule", "0 3 * * *")
    assert result.exit_code == 2
    assert "CronWorkflow" in result.output and "argo cron create" in result.output
    assert calls(fakes, "argo") == []


# ------------------------------------------------------------------------------ parameters
@pytest.mark.parametrize(("args", "message"), [
    (["-p", "mesage=x"], "has no parameter 'mesage'; did you mean 'message'?"),
    (["-p", "zzz=x"], "has no parameter 'zzz' (its parameters: message, report title)"),
    (["-p", "loud=true"], "compiles parameter 'loud' in for --target argo"),
    (["-p", "message"], "'message': give NAME=VALUE"),
    (["-p", "=x"], "give NAME=VALUE"),
    (["-p", "message=a", "-p", "message=b"], "parameter 'message' is given twice"),
])
def test_parameter_problems_are_usage_errors(fakes: Path, args: list[str], message: str) -> None:
    result = submit("--target", "argo", *ECHO, *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert calls(fakes, "argo") == []


def test_several_pipelines_need_one_chosen(fakes: Path) -> None:
    result = submit("--target", "argo")
    assert result.exit_code == 2
    assert "holds 2 pipelines ('echo pipeline', 'other pipeline')" in result.output
    assert "--pipeline NAME" in result.output
    result = submit("--target", "argo", "--pipeline", "other pipeline")
    assert result.exit_code == 0, result.output
    assert calls(fakes, "argo")[0][1].endswith("other-pipeline.yaml")


@pytest.mark.parametrize(("target", "program"), [("argo", "argo"), ("slurm", "sbatch"), ("gha", "gh")])
def test_a_missing_client_is_named_before_anything_is_compiled(fakes: Path, monkeypatch: pytest.MonkeyPatch,
                                                               target: str, program: str) -> None:
    monkeypatch.setenv("PATH", str(fakes))  # nothing there
    result = submit("--target", target, *ECHO, "-o", "out")
    assert result.exit_code == 2
    assert f"runs `{program}`, which is not on PATH: install" in " ".join(result.output.split())
    assert not Path("out").exists()


def test_watching_a_slurm_run_needs_squeue(fakes: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    only = tmp_path / "only-sbatch"
    only.mkdir()
    (only / "sbatch").write_text("#!/bin/sh\nexit 0\n")
    (only / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", str(only))
    result = submit("--target", "slurm", *ECHO, "--watch")
    assert result.exit_code == 2
    assert "runs `squeue`, which is not on PATH" in result.output


def test_run_dir_is_for_slurm_only(fakes: Path) -> None:
    result = submit("--target", "argo", *ECHO, "--run-dir", "x")
    assert result.exit_code == 2 and "--run-dir applies to --target slurm only" in result.output


# ------------------------------------------------------------------------- GitHub Actions
def commit_compiled(args: list[str] = ECHO) -> None:
    """What `pipec compile --target gha -o .` writes, as if pushed to the default branch
    (the stand-in gh reads the working directory as GitHub's copy)."""
    result = CliRunner().invoke(main, ["compile", "valohai.yaml", "--target", "gha", "-o", ".", *args],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_gha_refuses_a_workflow_the_default_branch_lacks(fakes: Path) -> None:
    result = submit("--target", "gha", *ECHO, "-p", "message=x")
    assert result.exit_code == 1
    assert ".github/workflows/echo-pipeline.yml: not there" in result.output
    assert ".github/pipec/pipec-runtime.sh: not there" in result.output
    assert "commit and push it to the default branch, then submit again" in result.output
    assert [argv[:2] for argv in calls(fakes, "gh")] == [["api", "-H"]] * 2  # nothing dispatched


def test_gha_refuses_a_workflow_that_differs_from_the_default_branch(fakes: Path) -> None:
    commit_compiled()
    workflow = Path(".github/workflows/echo-pipeline.yml")
    workflow.write_text(workflow.read_text().replace("a title", "an older title"))
    result = submit("--target", "gha", *ECHO)
    assert result.exit_code == 1
    assert ".github/workflows/echo-pipeline.yml: differs from what this compile produces" in result.output
    assert "pipec-runtime.sh" not in result.output
    assert not [argv for argv in calls(fakes, "gh") if argv[:2] == ["workflow", "run"]]


@pytest.mark.parametrize("k", range(len(HOSTILE)))
def test_gha_dispatches_the_committed_workflow_with_values_byte_for_byte(fakes: Path, k: int) -> None:
    commit_compiled()
    pair = [HOSTILE[k], HOSTILE[(k + 1) % len(HOSTILE)]]
    result = submit("--target", "gha", *ECHO, *params(pair))
    assert result.exit_code == 0, result.output
    dispatched = [argv for argv in calls(fakes, "gh") if argv[:2] == ["workflow", "run"]]
    assert dispatched == [["workflow", "run", "echo-pipeline.yml", "-f", f"message={pair[0]}",
                           "-f", f"report_title={pair[1]}"]]


@pytest.mark.parametrize(("dispatch", "watch", "code"), [("5", "0", 5), ("0", "1", 1), ("0", "0", 0)])
def test_gha_exit_codes_pass_through_and_watch_follows_the_new_run(fakes: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  dispatch: str, watch: str, code: int) -> None:
    commit_compiled()
    monkeypatch.setenv("FAKE_EXIT", dispatch)
    monkeypatch.setenv("FAKE_WATCH_EXIT", watch)
    result = submit("--target", "gha", *ECHO, "--watch")
    assert result.exit_code == code, result.output
    watched = [argv for argv in calls(fakes, "gh") if argv[:2] == ["run", "watch"]]
    # Run 990 was listed before the dispatch: the new one is 1001 (runs of this user's dispatches).
    assert watched == ([] if dispatch != "0" else [["run", "watch", "1001", "--exit-status"]])
    listed = [argv for argv in calls(fakes, "gh") if argv[:2] == ["run", "list"]]
    assert listed and all(argv[argv.index("--user") + 1] == "octocat" for argv in listed)
    assert all(argv[argv.index("--workflow") + 1] == "echo-pipeline.yml" for argv in listed)


def test_gha_dry_run_checks_the_default_branch_and_dispatches_nothing(fakes: Path) -> None:
    commit_compiled()
    result = submit("--target", "gha", *ECHO, "--dry-run", "-p", "report title={{x}}")
    assert result.exit_code == 0, result.output
    assert shlex.split(result.stdout) == ["gh", "workflow", "run", "echo-pipeline.yml", "-f", "report_title={{x}}"]
    assert [argv[:2] for argv in calls(fakes, "gh")] == [["api", "-H"]] * 2


# ----------------------------------------------------------------------------------- Slurm
def pipec(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(COMPILER_DIR))
    return subprocess.run([sys.executable, "-m", "pipec", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_slurm_dry_run_runs_submit_sh_from_a_durable_directory(tmp_path: Path) -> None:
    (tmp_path / "valohai.yaml").write_text(PIPELINES)
    r = pipec("submit", "valohai.yaml", "--target", "slurm", *ECHO, "--dry-run", "-p", "message=$(x)", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "dry run: nothing submitted" in r.stdout
    assert "/jobs/echo.sbatch" in r.stdout
    [first] = (tmp_path / ".pipec" / "submit").iterdir()
    assert (first / "echo-pipeline" / "submit.sh").is_file()
    assert (tmp_path / ".pipec" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert not (tmp_path / "pipec-runs").exists()
    # The same compile uses the same directory; another gets its own (a run may still read the first).
    r = pipec("submit", "valohai.yaml", "--target", "slurm", *ECHO, "--dry-run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in (tmp_path / ".pipec" / "submit").iterdir()] == [first.name]
    (tmp_path / "valohai.yaml").write_text(PIPELINES.replace("default: hello", "default: bye"))
    r = pipec("submit", "valohai.yaml", "--target", "slurm", *ECHO, "--dry-run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / ".pipec" / "submit").iterdir())) == 2
    assert (first / "echo-pipeline" / "submit.sh").is_file()


def test_slurm_submit_sh_refusing_a_value_passes_its_exit_code(tmp_path: Path) -> None:
    (tmp_path / "valohai.yaml").write_text(textwrap.dedent(PIPELINES).replace(
        "name: message\n        type: string", "name: message\n        type: integer").replace(
        "default: hello", "default: 1"))
    r = pipec("submit", "valohai.yaml", "--target", "slurm", *ECHO, "--dry-run", "-p", "message=abc", cwd=tmp_path)
    assert r.returncode == 2
    assert "parameter message takes an integer like 7 or -3, not 'abc'" in r.stderr
