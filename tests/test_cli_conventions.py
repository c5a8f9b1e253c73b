"""Small things users trip on (issue 15 part 5): every readable file is reported before a usage
error for a missing one; `pipec check DIR` and a bare `pipec check`; other YAML files pass as
"not a pipeline file"; named pipes and devices are refused, not read forever; command-line
values are usage errors naming the option; `--pipeline` with `--step`; the help of compile;
options of other targets; one graph document for several pipelines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipec.cli import main
from pipec.frontends.discover import PATTERN, is_pipeline_name, pipeline_files
from tests.paths import COMPILER_DIR, EXAMPLES
from tests.test_output_writes import pipec, valohai, write

BAD = "- step:\n    name: a\n    image: x\n    command: y\n    bogus: 1\n"


# --------------------------------------------------------------------- check: many files
def test_a_missing_file_does_not_hide_the_others_problems(tmp_path: Path) -> None:
    write(tmp_path / "a.valohai.yaml", BAD)
    result = pipec("check", "a.valohai.yaml", "missing.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert "a.valohai.yaml:5:5: error: unknown key 'bogus'" in result.stdout
    assert "Error: missing.yaml: no such file" in result.stderr


@pytest.mark.parametrize("path, named", [
    ("valohai.yaml", True), ("sub/valohai.yml", True), ("train.valohai.yaml", True), ("a/b.osmo.yaml", True),
    ("x.runnable.yml", True), ("pipelines/x.yaml", True), ("osmo/train.yaml", True), ("runnable/p.yml", True),
    ("workflows/x.yaml", True), (".github/workflows/ci.yml", False), ("docker-compose.yaml", False),
    ("valohai.yaml.bak", False), ("myvalohai.yaml", False), ("pipelines/x.json", False),
])
def test_the_pipeline_file_pattern(path: str, named: bool) -> None:
    assert is_pipeline_name(path) is named


def test_the_hook_uses_the_same_pattern() -> None:
    import yaml

    hooks = yaml.safe_load((Path(__file__).resolve().parent.parent / ".pre-commit-hooks.yaml").read_text())
    check = next(h for h in hooks if h["id"] == "pipec-check")
    assert check["files"] == PATTERN


def test_check_dir_finds_pipeline_files_below_it(tmp_path: Path) -> None:
    write(tmp_path / "valohai.yaml", valohai("CI"))
    write(tmp_path / "pipelines" / "bad.yaml", BAD)
    write(tmp_path / "deploy" / "compose.yaml", "services: {}\n")  # not named like a pipeline
    write(tmp_path / ".venv" / "valohai.yaml", BAD)  # hidden and virtual-env folders are not entered
    assert pipeline_files(str(tmp_path)) == [str(tmp_path / "pipelines/bad.yaml"), str(tmp_path / "valohai.yaml")]
    result = pipec("check", ".", cwd=tmp_path)
    assert result.exit_code == 1
    assert "pipelines/bad.yaml:5:5: error" in result.stdout
    assert "2 file(s) checked: 1 error(s)" in result.stderr


def test_a_bare_check_covers_the_repository(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write(tmp_path / "valohai.yaml", valohai("CI"))
    write(tmp_path / "osmo" / "train.yaml", "workflow:\n  name: w\n  tasks:\n  - name: t\n    image: x\n"
                                            "    command: [echo]\n")
    (tmp_path / "sub").mkdir()
    result = pipec("check", cwd=tmp_path / "sub")
    assert result.exit_code == 0, result.output
    assert result.stderr == "ok: 2 files checked\n"


def test_check_dir_without_pipeline_files_is_a_usage_error(tmp_path: Path) -> None:
    result = pipec("check", str(tmp_path))
    assert result.exit_code == 2 and "no pipeline files in this folder" in result.stderr


def test_other_yaml_is_not_a_pipeline_file_and_passes(tmp_path: Path) -> None:
    write(tmp_path / "pipelines" / "params.yaml", "learning_rate: 0.1\n")
    result = pipec("check", "pipelines/params.yaml", cwd=tmp_path)
    assert result.exit_code == 0
    assert "pipelines/params.yaml:1:1: note: not a pipeline file" in result.stdout
    assert result.stderr == "ok: 0 files checked (1 other YAML file skipped)\n"
    # compile and standard input still say they cannot tell the format
    assert pipec("compile", "pipelines/params.yaml", "-t", "argo", cwd=tmp_path).exit_code == 1
    result = CliRunner().invoke(main, ["check", "-"], input="learning_rate: 0.1\n")
    assert result.exit_code == 1 and "cannot tell which pipeline format this is" in result.output


def test_a_file_named_for_a_dialect_is_read_as_that_dialect(tmp_path: Path) -> None:
    write(tmp_path / "valohai.yaml", "- stepp:\n    name: a\n")
    result = pipec("check", "valohai.yaml", cwd=tmp_path)
    assert "valohai.yaml:1:3: warning: unknown item 'stepp'" in result.stdout  # read as Valohai, not skipped


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_refused_not_read_forever(tmp_path: Path) -> None:
    fifo = tmp_path / "valohai.yaml"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONPATH": str(COMPILER_DIR)}
    run = subprocess.run([sys.executable, "-m", "pipec", "check", str(fifo)], capture_output=True, text=True,
                         env=env, timeout=60)
    assert run.returncode == 2
    assert "is not a regular file (a named pipe, socket or device)" in run.stderr


def test_a_device_is_refused() -> None:
    result = pipec("check", "/dev/zero")
    assert result.exit_code == 2 and "/dev/zero: is not a regular file" in result.stderr


# -------------------------------------------------------------------- compile's options
def test_a_bad_schedule_is_a_usage_error_naming_the_option() -> None:
    result = pipec("compile", str(EXAMPLES / "mnist.valohai.yaml"), "-t", "argo", "--schedule", "bad cron")
    assert result.exit_code == 2
    assert "Invalid value for '--schedule'" in result.output


def test_pipeline_and_step_together_are_refused() -> None:
    result = pipec("plan", str(EXAMPLES / "mnist.valohai.yaml"), "--pipeline", "Training Pipeline",
                   "--step", "train-model")
    assert result.exit_code == 2
    assert "--pipeline and --step cannot be combined" in result.output


def test_compile_help_shows_no_misleading_default_and_a_gha_example() -> None:
    text = pipec("compile", "--help").output
    assert "[default: -]" not in text
    assert "--target gha -o ." in text
    assert "gha and slurm: a directory (required)" in " ".join(text.split())


@pytest.mark.parametrize("args, message", [
    (["-t", "slurm", "-o", "s", "--kind", "template"], "--kind does not apply to --target slurm"),
    (["-t", "argo", "--commit", "abc"], "--commit applies to --target valohai-api only"),
    (["-t", "gha", "-o", "g", "--title", "T"], "--title applies to --target valohai-api only"),
    (["-t", "valohai-api"], "--target valohai-api needs --commit SHA"),
])
def test_options_of_other_targets_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    result = pipec("compile", str(EXAMPLES / "mnist.valohai.yaml"), *args, cwd=tmp_path)
    assert result.exit_code == 2 and message in result.output


def test_options_of_other_dialects_are_refused() -> None:
    result = pipec("compile", str(EXAMPLES.parent / "osmo" / "parallel-tasks.yaml"), "-t", "argo", "--step", "x")
    assert result.exit_code == 2 and "--step applies to other dialects" in result.output


# ------------------------------------------------------------------------------- graph
@pytest.mark.parametrize("fmt, head", [("dot", "digraph "), ("mermaid", "flowchart TD")])
def test_several_pipelines_are_one_graph_with_a_cluster_each(tmp_path: Path, fmt: str, head: str) -> None:
    write(tmp_path / "valohai.yaml", valohai("First", "Second"))
    result = pipec("graph", "valohai.yaml", "--format", fmt, cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.count(head) == 1
    assert "pipeline First" in result.stdout and "pipeline Second" in result.stdout


@pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("CI"), reason="needs Graphviz (.ci/run installs it)")
def test_several_pipelines_render_to_one_valid_svg(tmp_path: Path) -> None:
    write(tmp_path / "valohai.yaml", valohai("First", "Second", "Third"))
    text = pipec("graph", "valohai.yaml", "--format", "dot", cwd=tmp_path).stdout
    run = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, check=True)
    import xml.etree.ElementTree as ElementTree

    svg = ElementTree.fromstring(run.stdout)
    titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert "cluster_p0" in titles and "cluster_p2" in titles


def test_standard_input_is_still_read() -> None:
    """`-` is standard input, not refused as a special file."""
    result = CliRunner().invoke(main, ["check", "-"], input=BAD)
    assert result.exit_code == 1 and "<stdin>:5:5: error" in result.output
