"""The GitHub Action (action.yml) and the snippets of README "Continuous integration and
editors": the workflows pass the GitHub Actions judges (actionlint with ShellCheck, zizmor,
SchemaStore's schemas), the action's check step runs as GitHub runs it, and the pre-commit
configuration and the schema commands do what the README says."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness.gha_check import GhaTools, check_workflows
from tests.paths import ROOT

ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Continuous integration and editors\n")
    return text[start:text.index("\n## ", start + 1)]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(), re.DOTALL)


def pipec_launcher(tmp_path: Path) -> Path:
    """A `pipec` command running this checkout, as the installed script does."""
    script = tmp_path / "bin" / "pipec"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"#!/bin/sh\nPYTHONPATH='{ROOT / 'compiler'}' exec '{sys.executable}' -c "
                      "'from pipec.cli import main; main(prog_name=\"pipec\")' \"$@\"\n", encoding="utf-8")
    script.chmod(0o755)
    return script


def test_readme_job_passes_the_judges(tmp_path: Path, gha_tools: GhaTools) -> None:
    [job] = [b for b in blocks("yaml") if "\njobs:\n" in b]
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "pipelines.yml").write_text(job, encoding="utf-8")
    assert check_workflows(tmp_path) == []


def test_readme_action_steps_match_the_action_and_pass_the_judges(tmp_path: Path, gha_tools: GhaTools) -> None:
    [steps] = [b for b in blocks("yaml") if "OWNER/pipec@REF" in b and "uses:" in b and "jobs:" not in b]
    used = [s for s in yaml.safe_load(steps)["steps"] if s.get("uses", "").startswith("OWNER/pipec@")]
    assert set(used[0]["with"]) <= set(ACTION["inputs"])
    # The action from this checkout (`uses: ./`): actionlint checks the inputs against its action.yml.
    workflow = ("name: pipelines\non: [push]\npermissions:\n  contents: read\njobs:\n  pipec:\n"
                "    runs-on: ubuntu-latest\n" + steps.replace("OWNER/pipec@REF", "./"))
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "pipelines.yml").write_text(workflow, encoding="utf-8")
    (tmp_path / "action.yml").write_text((ROOT / "action.yml").read_text(encoding="utf-8"), encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)  # how actionlint finds the root `./` names
    assert check_workflows(tmp_path) == []
    bad = workflow.replace("compile-check: true", "compile_check: true")
    (tmp_path / ".github" / "workflows" / "pipelines.yml").write_text(bad, encoding="utf-8")
    assert any("compile_check" in p for p in check_workflows(tmp_path))


def test_action_metadata_passes_the_judges(tmp_path: Path, gha_tools: GhaTools) -> None:
    out = subprocess.run([*gha_tools.check_jsonschema, "--builtin-schema", "vendor.github-actions",
                          str(ROOT / "action.yml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # zizmor as tests/harness/gha_check.py runs it; any finding of medium severity or more exits non-zero.
    zizmor = [gha_tools.zizmor, "--offline", "--no-config", "--no-ignores", "--persona", "regular", "--format", "plain",
              "--color", "never", "--min-severity", "medium"]
    out = subprocess.run([*zizmor, str(ROOT / "action.yml")], capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if not k.startswith("ZIZMOR_")})
    assert out.returncode == 0, out.stdout + out.stderr
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash"
            out = subprocess.run([gha_tools.shellcheck, "-s", "bash", "-"], input=step["run"], capture_output=True,
                                 text=True)
            assert out.returncode == 0, f"{step.get('name', step.get('id'))}:\n{out.stdout}"


def run_check_step(tmp_path: Path, files: str, strict: str = "false") -> subprocess.CompletedProcess[str]:
    """The action's check step, run as GitHub runs a bash step (bash -e -o pipefail)."""
    [step] = [s for s in ACTION["runs"]["steps"] if s.get("name") == "pipec check"]
    env = {**os.environ, "PIPEC": str(pipec_launcher(tmp_path)), "FILES_INPUT": files, "STRICT": strict}
    return subprocess.run(["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", step["run"]],
                          cwd=tmp_path / "repo", env=env, capture_output=True, text=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    files = {
        "valohai.yaml": "- step:\n    name: train\n    image: python:3.12\n    comand: python train.py\n",
        "flows/deep/serve.osmo.yaml": ("workflow:\n  name: serve\n  tasks:\n  - name: hello\n    image: ubuntu:24.04\n"
                                       "    command: [echo]\n"),
        "flows/with space.osmo.yaml": "workflow:\n  name: spaced\n  tasks:\n  - name: t\n    image: i\n",
    }
    for name, text in files.items():
        (tmp_path / "repo" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "repo" / name).write_text(text, encoding="utf-8")
    return tmp_path / "repo"


def test_check_step_expands_patterns_and_annotates(tmp_path: Path, repo: Path) -> None:
    good = run_check_step(tmp_path, "flows/**/serve.osmo.yaml\n")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "::error" not in good.stdout
    # A glob matching a name with a space keeps it whole; the valohai.yaml error is annotated.
    bad = run_check_step(tmp_path, "valohai.yaml flows/with*.osmo.yaml")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "::error file=valohai.yaml,line=4,col=5" in bad.stdout
    assert "::error file=flows/with space.osmo.yaml" in bad.stdout


def test_check_step_without_files_checks_the_whole_folder(tmp_path: Path, repo: Path) -> None:
    out = run_check_step(tmp_path, "")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "::error file=valohai.yaml,line=4,col=5" in out.stdout
    assert "flows/with space.osmo.yaml" in out.stdout


def test_check_step_refuses_a_pattern_matching_nothing(tmp_path: Path, repo: Path) -> None:
    out = run_check_step(tmp_path, "flows/**/serve.osmo.yaml pipelines/*.yaml")
    assert out.returncode == 1
    assert "nothing matches pipelines/*.yaml" in out.stderr
    assert "::" not in out.stdout  # pipec did not run


def test_readme_pre_commit_configuration_names_the_hooks(tmp_path: Path) -> None:
    [config] = [b for b in blocks("yaml") if b.startswith("repos:")]
    hooks = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}
    used = {h["id"] for r in yaml.safe_load(config)["repos"] for h in r["hooks"]}
    assert used == hooks == {"pipec-check", "pipec-compile-check"}
    (tmp_path / ".pre-commit-config.yaml").write_text(config, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_hook_pattern_is_the_discovery_pattern() -> None:
    from pipec.frontends.discover import PATTERN

    [check] = [h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
               if h["id"] == "pipec-check"]
    assert check["files"] == PATTERN


def test_readme_schema_commands_write_the_schemas_the_settings_name(tmp_path: Path) -> None:
    [script] = [b for b in blocks("sh") if "pipec schema" in b]
    env = {**os.environ, "PATH": f"{pipec_launcher(tmp_path).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["sh", "-e", "-c", script], cwd=tmp_path, env=env, check=True)
    written = sorted(p.name for p in (tmp_path / ".schemas").iterdir())
    assert written == ["config.schema.json", "osmo.schema.json", "runnable.schema.json", "valohai.schema.json"]
    for name in written:
        assert (tmp_path / ".schemas" / name).read_text(encoding="utf-8") == (ROOT / "schemas" / name).read_text(
            encoding="utf-8")
    [settings] = blocks("json")
    assert {Path(p).name for p in json.loads(settings)["yaml.schemas"]} <= set(written)
    assert "$schema=../.schemas/osmo.schema.json" in section()


def test_check_step_runs_nothing_a_pattern_holds(tmp_path: Path, repo: Path) -> None:
    # Words without a glob character are paths as written: pipec refuses the missing ones (exit 2).
    out = run_check_step(tmp_path, "$(touch pwned) `touch pwned` ;touch${IFS}pwned")
    assert out.returncode == 2
    assert "Error: $(touch: no such file" in out.stderr
    assert "Error: ;touch${IFS}pwned: no such file" in out.stderr
    assert not list(repo.glob("pwned*"))
    # A file named like an option is a file.
    (repo / "--strict").write_text("- step:\n    name: a\n    image: i\n    command: c\n", encoding="utf-8")
    named = run_check_step(tmp_path, "--strict", strict="true")
    assert named.returncode == 0, named.stdout + named.stderr
