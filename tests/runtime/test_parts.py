"""How the runtime is split and joined: the four parts of templates/runtime/, runtime_script()
for each target, shellcheck on every part, and every runtime function a target's generated
files call being defined in the runtime that target ships."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from click.testing import CliRunner

from pipec.backends.runtime import ORDER, PARTS, part_text, runtime_script
from pipec.cli import main
from tests.paths import EXAMPLES, ROOT
from tests.runtime.conftest import TARGETS, Shell

RUNTIME_DIR = ROOT / "templates" / "runtime"
DIRECTIVE = "# shellcheck shell=sh\n"
DEFINITION = re.compile(r"^(pipec_\w+)\(\) [({]$", re.M)
# A pipec_ word where a command starts: line start, after ; & | ( ` { $( ) (a case arm) or a
# keyword; not an assignment (pipec_json=...), a definition (pipec_line()), an array
# (pipec_members+=) or a parameter expansion (${pipec_json//...}). Arithmetic $((...)) is
# left out before.
CALL = re.compile(r"(?:^|[;&|`]|(?<!\$)[({]|\$\(|\)\s|\b(?:then|do|else|if|while|until)\s|!\s)\s*"
                  r"(pipec_[a-z0-9_]+)(?![\w=+(\[])", re.M)
ARITHMETIC = re.compile(r"\$\(\([^()]*(?:\([^()]*\)[^()]*)*\)\)")


def defined(text: str) -> set[str]:
    return set(DEFINITION.findall(text))


def calls(text: str) -> set[str]:
    """The pipec_ functions `text` calls, leaving out comment lines and functions it defines itself."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    code = ARITHMETIC.sub("0", code)
    return set(CALL.findall(code)) - defined(code) - set(re.findall(r"^\s*(pipec_\w+)\s*\(\)", code, re.M))


# ---------------------------------------------------------------------------------- parts
def test_the_runtime_is_four_parts() -> None:
    assert sorted(p.name for p in RUNTIME_DIR.iterdir()) == ["core.sh", "gha.sh", "pod.sh", "slurm.sh"]
    assert ORDER == ("core", "slurm", "pod", "gha")
    assert PARTS == {"argo": ("core", "pod"), "gha": ("core", "pod", "gha"), "slurm": ("core", "slurm")}


@pytest.mark.parametrize("part", ORDER)
def test_each_part_starts_with_the_directive_and_a_header(part: str) -> None:
    text = part_text(part)
    assert text.startswith(DIRECTIVE + "# pipec runtime, ")
    header = text[len(DIRECTIVE):].split("\n\n")[0].split("\n#\n")[0]
    assert all(line.startswith("# ") for line in header.splitlines())
    assert not DEFINITION.search(header)
    assert text.endswith(("}\n", ")\n")) and not text.endswith("\n\n")


def test_no_function_is_defined_twice() -> None:
    seen: dict[str, str] = {}
    for part in ORDER:
        for name in DEFINITION.findall(part_text(part)):
            assert name not in seen, f"{name} is in {seen[name]}.sh and {part}.sh"
            seen[name] = part
    # Where the functions the back ends call live.
    assert {n for n, p in seen.items() if p == "slurm"} == {
        "pipec_fanout", "pipec_fanout_item", "pipec_cancel_jobs", "pipec_wait_job", "pipec_log_path", "pipec_pending",
        "pipec_stop_run", "pipec_watch_job", "pipec_field", "pipec_guard", "pipec_guard_exit", "pipec_guard_signal",
        "pipec_signal_cause", "pipec_guard_signalled", "pipec_signal_name", "pipec_guard_died", "pipec_guard_cancel", "pipec_marked", "pipec_failure",
        "pipec_watch", "pipec_task_record", "pipec_credential", "pipec_secret", "pipec_secret_dir",
        "pipec_forget_credentials", "pipec_workdir", "pipec_signal_trap", "pipec_forward_signal", "pipec_own_group",
        "pipec_own_pid", "pipec_wait_run"}
    assert {"pipec_pod", "pipec_arg", "pipec_fill", "pipec_pick", "pipec_gather", "pipec_place"} <= {
        n for n, p in seen.items() if p == "pod"}
    assert {"pipec_publish", "pipec_group", "pipec_member", "pipec_job", "pipec_read", "pipec_step_outputs"} <= {
        n for n, p in seen.items() if p == "gha"}
    assert {"pipec_run", "pipec_stage", "pipec_metadata", "pipec_json_string", "pipec_confined", "pipec_mark_failed"} <= {
        n for n, p in seen.items() if p == "core"}


@pytest.mark.parametrize("target", TARGETS)
def test_runtime_script_joins_core_then_the_parts_in_order(target: str) -> None:
    text = runtime_script(target)
    assert text.startswith(DIRECTIVE) and text.count(DIRECTIVE) == 1
    head = text.split("\n\n")[0]
    assert " and ".join([", ".join(f"{p}.sh" for p in PARTS[target][:-1]), f"{PARTS[target][-1]}.sh"]) in head
    position = 0
    for part in PARTS[target]:
        body = part_text(part)[len(DIRECTIVE):]
        found = text.find(f"\n# ======== {part}.sh ====", position)
        assert found >= position and text[found:].split("\n", 2)[2].startswith(body), part
        position = found + len(body)
    assert defined(text) == set().union(*(defined(part_text(p)) for p in PARTS[target]))


def test_runtime_script_refuses_an_unknown_target() -> None:
    with pytest.raises(ValueError, match="no runtime for target 'k8s'"):
        runtime_script("k8s")


# What only another engine uses: GitHub's variables and step outputs, the fan-out parts of its
# matrices, Docker (its groups), Slurm's commands and variables.
FOREIGN = {"argo": ("GITHUB_", "RUNNER_", "PIPEC_FANOUT_PARTS", "PIPEC_MAX_FANOUT", "docker", "sbatch", "srun",
                    "scancel", "squeue", "SLURM_"),
           "gha": ("sbatch", "srun", "scancel", "squeue", "SLURM_")}


@pytest.mark.parametrize("target", sorted(FOREIGN))
def test_a_pod_runtime_holds_nothing_of_another_engine(target: str) -> None:
    text = runtime_script(target)
    found = {word for word in FOREIGN[target] if word in text}
    assert found == set(), f"the {target} runtime mentions {sorted(found)}"


def test_the_argo_runtime_writes_metadata_files_and_no_step_outputs(dash: Shell, tmp_path: Path) -> None:
    """pipec_outputs (pod.sh) writes $PIPEC_POD_DIR/meta/<n>.* whatever the environment holds;
    only GitHub's pipec_step_outputs (gha.sh) turns them, and the missing keys, into step outputs."""
    execution = tmp_path / "exec"
    (execution / ".pipec").mkdir(parents=True)
    (execution / ".pipec" / "stdout").write_text('noise\n{"loss": 0.5, "tags": ["a", "{{b}}"]}\n', encoding="utf-8")
    github_output = tmp_path / "github_output"
    github_output.write_text("", encoding="utf-8")
    env = {"PIPEC_METADATA": '["loss", "absent", "tags"]', "PIPEC_EXEC_DIR": str(execution),
           "PIPEC_POD_DIR": str(tmp_path / "pod"), "GITHUB_OUTPUT": str(github_output), "PIPEC_JOB": "train"}
    dash.out("pipec_outputs", source="argo", env=env)
    meta = tmp_path / "pod" / "meta"
    assert sorted(p.name for p in meta.iterdir()) == ["0.items", "0.json", "0.text", "2.items", "2.json", "2.text"]
    assert (meta / "0.text").read_text(encoding="utf-8") == "0.5"
    assert github_output.read_text(encoding="utf-8") == ""
    assert "pipec_step_outputs" not in runtime_script("argo")

    dash.out('pipec_step_outputs "$PIPEC_POD_DIR/meta"', source="gha", env=env)
    lines = github_output.read_text(encoding="utf-8").splitlines()
    outputs = {}
    for n in range(0, len(lines), 3):  # name<<DELIMITER, the value, DELIMITER
        name, _, delimiter = lines[n].partition("<<")
        assert lines[n + 2] == delimiter
        outputs[name] = lines[n + 1]
    assert outputs["meta-0-text"] == "0.5" and outputs["meta-1-text"] == "pipec-missing:"
    assert outputs["meta-1-items"] == '[{"i": "0", "json": "pipec-missing:", "text": "pipec-missing:"}]'
    assert outputs["meta-2-json"] == (meta / "2.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", ["", "echo one", "printf '%s\\n' \"$PIPEC_P_x\"\n\nlast line\n", "ends in\n\n"])
def test_pipec_read_gives_the_here_document_as_written(shell: Shell, command: str) -> None:
    """The run: script shows the command in a quoted here-document; pipec_read gives it back
    byte for byte (only the here-document's own last newline is dropped), nothing expanded."""
    delimiter = "PIPEC_COMMAND"
    out = shell.out(f"pipec_read PIPEC_COMMAND <<'{delimiter}'\n{command}\n{delimiter}\n"
                    "printf '%s|' \"$PIPEC_COMMAND\"; sh -c 'printf %s \"$PIPEC_COMMAND\"'",
                    source="gha", env={"PIPEC_P_x": "$(oops)"})
    assert out == f"{command}|{command}".encode()


def test_argo_runtime_holds_no_double_braces() -> None:
    """The Argo annotation passes through Argo's templating (see pipec_arg)."""
    assert "{{" not in runtime_script("argo")


@pytest.mark.parametrize("target", TARGETS)
def test_every_function_the_runtime_calls_is_in_it(target: str) -> None:
    text = runtime_script(target)
    missing = calls(text) - defined(text)
    # Core's stop-all calls the Slurm part only when PIPEC_ENGINE is slurm (see test_engines).
    assert missing == (set() if target == "slurm" else {"pipec_cancel_jobs"})


def test_argo_annotation_defines_every_function(dash: Shell, tmp_path: Path) -> None:
    """What _runtime() puts in the annotation (comment and blank lines dropped) still defines
    every function, run as the pod's boot line runs it."""
    from pipec.backends.argo.manifest import runtime_annotation as _runtime
    annotation = _runtime()
    assert not [line for line in annotation.splitlines() if not line.strip() or line.lstrip().startswith("# ")]
    names = sorted(defined(runtime_script("argo")))
    out = dash.out('eval "$PIPEC_RUNTIME"\nfor f in "$@"; do command -v "$f" >/dev/null || echo "$f"; done',
                   *names, source="core.sh", env={"PIPEC_RUNTIME": annotation})
    assert out == b""


# ------------------------------------------------------------------------------ shellcheck
@pytest.mark.tools
@pytest.mark.parametrize("name", [f"{p}.sh" for p in ORDER] + [f"runtime for {t}" for t in TARGETS])
def test_shellcheck(name: str, tmp_path: Path) -> None:
    exe = shutil.which("shellcheck")
    if exe is None:
        if os.environ.get("PIPEC_REQUIRE_SLURM") == "1":
            pytest.fail("shellcheck is not installed (PIPEC_REQUIRE_SLURM=1: failing, not skipping)")
        pytest.skip("shellcheck is not installed")
    if name.startswith("runtime for "):
        path = tmp_path / "pipec-runtime.sh"
        path.write_text(runtime_script(name.split()[-1]), encoding="utf-8")
    else:
        path = RUNTIME_DIR / name
    r = subprocess.run([exe, "-s", "sh", "-S", "warning", str(path)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


# ----------------------------------------------------------- what the generated files call
# Beyond the examples: a pipeline using what they do not (a large product grid, a run-time
# fan-out, metadata of several executions, a distributed group, an input with a file name).
FEATURES = """\
- step:
    name: work
    image: busybox:1.36
    command:
      - "echo '{\\"rates\\": [0.1, 0.2], \\"loss\\": 0.5}'"
      - echo {parameter-value:a} {parameter-value:b} > $VH_OUTPUTS_DIR/row.txt
    parameters:
      - {name: a, type: integer, default: 0}
      - {name: b, type: float, default: 0}
      - {name: lr, type: string, default: x}
    inputs:
      - {name: data, optional: true, filename: data.csv}
- step:
    name: use
    image: busybox:1.36
    command: cat $VH_CONFIG_DIR/parameters.json
    parameters:
      - {name: lr, type: string, default: x}
      - {name: threshold, type: float, default: 0}
    inputs:
      - name: rows
- step:
    name: worker
    image: busybox:1.36
    command: python3 member.py
    parameters:
      - {name: port, type: integer}
- task:
    name: grid
    step: work
    type: grid_search
    parameters:
      - {name: a, style: multiple, rules: {items: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}}
      - {name: b, style: multiple, rules: {items: [0.5, 1.25, -2, 0.001, 3, 4, 5, 6, 7, 8]}}
- task:
    name: trio
    step: worker
    type: distributed
    parameters:
      - {name: port, style: multiple, rules: {items: [7001, 7002, 7003]}}
- pipeline:
    name: features
    nodes:
      - {name: sweep, type: task, task: grid}
      - {name: list, type: execution, step: work}
      - {name: fan, type: task, step: use}
      - {name: after, type: execution, step: use}
      - {name: workers, type: task, task: trio}
    edges:
      - [list.metadata.rates, fan.parameter.lr]
      - [sweep.metadata.loss, after.parameter.threshold]
      - [sweep.output.*, after.input.rows]
      - [sweep.output.*, fan.input.rows]
"""
# Calls each target's output must show (so that the grep cannot pass by finding nothing).
EXPECTED = {
    "slurm": {"pipec_begin", "pipec_enter", "pipec_run", "pipec_stage", "pipec_metadata", "pipec_fanout",
              "pipec_fanout_item", "pipec_param_json", "pipec_json_string", "pipec_input_file"},
    "argo": {"pipec_pod", "pipec_pick", "pipec_gather", "pipec_distributed", "pipec_fill", "pipec_stage",
             "pipec_place", "pipec_check_param"},
    "gha": {"pipec_job", "pipec_read", "pipec_publish", "pipec_group", "pipec_metadata", "pipec_need", "pipec_fill",
            "pipec_distributed", "pipec_fetch"},
}


def strings(data: Any) -> Iterator[str]:
    """Every string in a YAML document but the Argo runtime annotation."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key != "pipec-runtime":
                yield from strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from strings(value)
    elif isinstance(data, str):
        yield data


def generated_calls(out: Path) -> set[str]:
    found: set[str] = set()
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.name == "pipec-runtime.sh":
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            for doc in yaml.safe_load_all(text):
                for s in strings(doc):
                    found |= calls(s)
        else:
            found |= calls(text)
    return found


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example and FEATURES compiled for every target with the CLI (in this process)."""
    root = tmp_path_factory.mktemp("compiled")
    features = root / "features.valohai.yaml"
    features.write_text(FEATURES, encoding="utf-8")
    sources = [*sorted(EXAMPLES.glob("*.valohai.yaml")), features]
    assert len(sources) > 1
    runner = CliRunner()
    outs = {}
    for target in TARGETS:
        outs[target] = root / target
        for source in sources:
            out = outs[target] / source.name.split(".")[0]
            result = runner.invoke(main, ["compile", str(source), "--target", target, "-o", f"{out}/"],
                                   catch_exceptions=False)
            assert result.exit_code == 0, f"{source.name} for {target}:\n{result.output}"
    return outs


@pytest.mark.parametrize("target", TARGETS)
def test_runtime_defines_every_function_the_generated_files_call(compiled: dict[str, Path], target: str) -> None:
    used = generated_calls(compiled[target])
    assert EXPECTED[target] <= used, f"not found in the {target} output: {sorted(EXPECTED[target] - used)}"
    shipped = defined(runtime_script(target))
    assert used - shipped == set(), f"{target} calls functions its runtime lacks"
    # The runtime each target wrote is runtime_script(target) (Argo: the annotation is checked
    # in test_argo_annotation_defines_every_function).
    for copy in compiled[target].rglob("pipec-runtime.sh"):
        assert copy.read_text(encoding="utf-8") == runtime_script(target)
