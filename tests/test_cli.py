"""CLI behaviour: snapshots of plan and graph for every example, exit codes, light imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from pipec import __version__
from pipec.cli import main
from tests.paths import EXAMPLES, ROOT

EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


def run(args: list[str], input: str | None = None):
    return CliRunner().invoke(main, args, input=input, catch_exceptions=False)


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # outputs name files relative to the repository


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_plan_snapshot(name, snapshot):
    result = run(["plan", f"examples/valohai/{name}"])
    assert result.exit_code == 0, result.output
    assert result.stdout == snapshot  # (stderr names the configuration used)


@pytest.mark.parametrize("name", EXAMPLE_FILES)
@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_graph_snapshot(name, fmt, snapshot):
    result = run(["graph", f"examples/valohai/{name}", "--format", fmt])
    assert result.exit_code == 0, result.output
    assert result.stdout == snapshot


def test_examples_check_clean():
    result = run(["check", "--strict", *[f"examples/valohai/{n}" for n in EXAMPLE_FILES]])
    assert result.exit_code == 0, result.output
    # Only the note naming the configuration in use (examples/valohai/pipec.toml), once for all
    # the files, and the success line (standard error).
    assert result.stdout.splitlines() == ["examples/valohai/pipec.toml:1:1: note: configuration: "
                                          "examples/valohai/pipec.toml"]
    assert result.stderr.splitlines() == [f"ok: {len(EXAMPLE_FILES)} files checked"]


def test_version():
    assert run(["--version"]).output.strip() == f"pipec, version {__version__}"


@pytest.mark.parametrize("target", ["gha", "slurm"])
def test_directory_targets_refuse_stdout(target):
    result = CliRunner().invoke(main, ["compile", "examples/valohai/mnist.valohai.yaml", "--target", target])
    assert result.exit_code == 2
    assert f"--target {target} writes a directory" in result.output


def test_usage_errors_exit_2():
    assert CliRunner().invoke(main, ["check", "no/such/file.yaml"]).exit_code == 2
    assert CliRunner().invoke(main, ["plan", "examples/valohai/mnist.valohai.yaml", "--pipeline", "nope"]).exit_code == 2
    assert CliRunner().invoke(main, ["plan", "examples/valohai/mnist.valohai.yaml", "--sweep", "bad"]).exit_code == 2
    assert CliRunner().invoke(main, ["check", "examples/osmo/train.py"]).exit_code == 1  # not YAML


def test_plan_reads_stdin():
    text = (EXAMPLES / "mnist.valohai.yaml").read_text()
    result = run(["plan", "-"], input=text)
    assert result.exit_code == 0
    assert "workflow 'Training Pipeline' (valohai, <stdin>)" in result.output


def test_plan_with_errors_exits_1_and_prints_located_errors():
    result = CliRunner().invoke(main, ["plan", "-"], input="- step:\n    name: x\n")
    assert result.exit_code == 1
    assert "<stdin>:1:3: error: missing required key 'image'" in result.output


def test_runnable_files_are_detected_and_unknown_shapes_are_located_errors():
    result = CliRunner().invoke(main, ["check", "-"], input="dag:\n  start_at: x\n")
    assert result.exit_code == 1
    assert "<stdin>:2:13: error: start_at 'x' is not a step of the dag" in result.output
    result = CliRunner().invoke(main, ["check", "-"], input="just: a mapping\n")
    assert "cannot tell which pipeline format this is" in result.output


def test_a_dialect_not_built_is_a_located_error(monkeypatch):
    from pipec import frontends

    monkeypatch.setitem(frontends.DIALECTS, "runnable", None)
    result = CliRunner().invoke(main, ["check", "-"], input="dag:\n  start_at: x\n")
    assert result.exit_code == 1
    assert "<stdin>:1:1: error: the runnable dialect is not supported yet" in result.output


@pytest.mark.parametrize("example", ["examples/valohai/mnist.valohai.yaml", "examples/osmo/serial-data-flow.yaml",
                                     "examples/runnable/map.yaml"])
def test_check_imports_no_heavy_modules(example: str):
    # A plain OSMO file (no Jinja in it) does not even import jinja2.
    code = (
        "import sys\n"
        "from pipec.cli import main\n"
        f"try:\n    main(['check', '-q', {example!r}])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('hera', 'jinja2', 'pydantic', 'jsonschema'))\n"
        "print(heavy, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT / "compiler"), "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "[]"


def test_plan_output_is_deterministic_across_hash_seeds():
    outputs = set()
    for seed in ("0", "1", "12345"):
        out = subprocess.run(
            [sys.executable, "-m", "pipec", "plan", "examples/valohai/hyperparameter-grid.valohai.yaml"],
            capture_output=True, text=True, cwd=ROOT,
            env={"PYTHONPATH": str(ROOT / "compiler"), "PYTHONHASHSEED": seed, "PATH": ""},
        )
        assert out.returncode == 0, out.stderr
        outputs.add(out.stdout)
    assert len(outputs) == 1


def test_unwritable_output_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(main, ["compile", "examples/valohai/mnist.valohai.yaml", "--target", "slurm",
                                       "-o", str(blocker)])
    assert result.exit_code == 2
    assert "cannot write to" in result.output and "Traceback" not in result.output


def test_slurm_needs_an_output_directory():
    result = CliRunner().invoke(main, ["compile", "examples/valohai/mnist.valohai.yaml", "--target", "slurm"])
    assert result.exit_code == 2
    assert "writes a directory" in result.output


def test_an_option_of_another_dialect_is_a_usage_error(tmp_path, monkeypatch) -> None:
    # A front end takes only the options it declares; `--pipeline` belongs to Valohai's.
    import sys
    import types

    from pipec import frontends

    fake = types.ModuleType("fake_osmo_frontend")
    fake.OPTIONS = {}
    fake.load = lambda doc, diags, options: []
    monkeypatch.setitem(sys.modules, "fake_osmo_frontend", fake)
    monkeypatch.setitem(frontends.DIALECTS, "osmo", "fake_osmo_frontend")
    path = tmp_path / "workflow.yaml"
    path.write_text("workflow:\n  name: w\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["plan", str(path), "--pipeline", "p"])
    assert result.exit_code == 2
    assert "--pipeline applies to other dialects, not to osmo files" in result.output
    assert CliRunner().invoke(main, ["plan", str(path)]).exit_code == 0
