"""Output that can be committed and checked (issue 15 part 1): the same bytes whatever the
spelling of the input path, `compile --check` / `--diff` (nothing written), several targets in
one run, the [compile] table of pipec.toml for a bare `pipec compile`, `--format` on compile
and plan, and the success line on standard error (`-q` silences it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipec import __version__
from tests.paths import COMPILER_DIR, EXAMPLES
from tests.test_output_writes import files, pipec, valohai, write

MNIST = (EXAMPLES / "mnist.valohai.yaml").read_text(encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding valohai.yaml and a pipec.toml declaring what to compile."""
    root = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    write(root / "valohai.yaml", valohai("CI"))
    write(root / "pipec.toml", '[compile]\ninputs = ["valohai.yaml", "more/*.yaml"]\ntargets = ["argo", "slurm"]\n'
                               'output = "build"\n')
    return root


# ------------------------------------------------------------------ same bytes, any spelling
def test_the_source_path_is_recorded_the_same_however_it_is_spelled(repo: Path) -> None:
    """Relative, ./-prefixed, absolute, from a sub-folder: the same bytes, no absolute path."""
    (repo / "sub").mkdir()
    outputs = []
    for spelled, cwd in (("valohai.yaml", repo), ("./valohai.yaml", repo), (str(repo / "valohai.yaml"), repo),
                         ("../valohai.yaml", repo / "sub"), (str(repo / "valohai.yaml"), repo.parent)):
        out = repo / "out" / str(len(outputs))
        result = pipec("compile", spelled, "--target", "argo", "-o", str(out / "wf.yaml"), cwd=cwd)
        assert result.exit_code == 0, result.output
        outputs.append((out / "wf.yaml").read_bytes())
    assert len(set(outputs)) == 1
    text = outputs[0].decode()
    assert "pipec.dev/source: valohai.yaml" in text
    assert str(repo) not in text and str(repo.parent) not in text


def test_a_source_outside_the_repository_given_absolute_records_its_name_only(tmp_path: Path, repo: Path) -> None:
    outside = write(tmp_path / "elsewhere" / "v.yaml", valohai("CI"))
    result = pipec("compile", str(outside), "--target", "argo", "-o", str(repo / "wf.yaml"), cwd=repo)
    assert result.exit_code == 0, result.output
    text = (repo / "wf.yaml").read_text()
    assert "pipec.dev/source: v.yaml" in text and str(tmp_path) not in text


@pytest.mark.parametrize("target", ["argo", "gha", "slurm"])
def test_the_header_names_the_pipec_version(repo: Path, target: str) -> None:
    result = pipec("compile", "valohai.yaml", "--target", target, "-o", "out", cwd=repo)
    assert result.exit_code == 0, result.output
    generated = [p for p in (repo / "out").rglob("*") if p.is_file() and p.name != ".pipec-manifest"]
    headed = [p for p in generated if f"pipec {__version__}" in p.read_text()[:600]]
    assert headed, f"no generated file names pipec {__version__} in its header"


# ------------------------------------------------------------------------- --check, --diff
def test_check_writes_nothing_and_lists_missing_stale_and_left_over_files(repo: Path) -> None:
    out = repo / "build" / "argo"
    result = pipec("compile", "valohai.yaml", "--target", "argo", "-o", "build/argo", "--check", cwd=repo)
    assert result.exit_code == 1
    assert not out.exists()
    assert f"{os.path.relpath(out, repo)}/ci.yaml: missing" in result.stderr
    assert pipec("compile", "valohai.yaml", "--target", "argo", "-o", str(out), cwd=repo).exit_code == 0
    before = files(out)
    result = pipec("compile", "valohai.yaml", "--target", "argo", "-o", str(out), "--check", cwd=repo)
    assert result.exit_code == 0, result.output
    assert "ok: 1 file checked, up to date" in result.stderr
    # A changed command makes the file stale; a renamed pipeline leaves the old one over.
    write(repo / "valohai.yaml", valohai("Nightly", command="changed"))
    result = pipec("compile", "valohai.yaml", "--target", "argo", "-o", "build/argo", "--check", cwd=repo)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert f"{os.path.relpath(out, repo)}/nightly.yaml: missing" in lines
    assert f"{os.path.relpath(out, repo)}/ci.yaml: left-over" in lines
    assert files(out) == before  # nothing written


def test_check_in_ci_annotates_each_stale_file(repo: Path) -> None:
    assert pipec("compile", "valohai.yaml", "--target", "slurm", "-o", "s", cwd=repo).exit_code == 0
    script = repo / "s" / "ci" / "submit.sh"
    script.write_text(script.read_text() + "# edited\n")
    result = pipec("compile", "valohai.yaml", "-t", "slurm", "-o", "s", "--check", "--format", "github", cwd=repo)
    assert result.exit_code == 1
    assert "::error file=s/ci/submit.sh,line=1,col=1::stale: run pipec compile and commit the result" \
        in result.stdout.splitlines()


def test_check_finds_a_hand_edited_file_stale(repo: Path) -> None:
    assert pipec("compile", "valohai.yaml", "--target", "slurm", "-o", "s", cwd=repo).exit_code == 0
    script = repo / "s" / "ci" / "submit.sh"
    script.write_text(script.read_text() + "# edited\n")
    result = pipec("compile", "valohai.yaml", "--target", "slurm", "-o", "s", "--check", cwd=repo)
    assert result.exit_code == 1 and "s/ci/submit.sh: stale" in result.stderr
    assert script.read_text().endswith("# edited\n")


def test_diff_prints_a_unified_diff_and_writes_nothing(repo: Path) -> None:
    assert pipec("compile", "valohai.yaml", "--target", "argo", "-o", "a", cwd=repo).exit_code == 0
    write(repo / "valohai.yaml", valohai("CI", command="changed"))
    before = files(repo / "a")
    result = pipec("compile", "valohai.yaml", "--target", "argo", "-o", "a", "--diff", cwd=repo)
    assert result.exit_code == 1
    assert result.stdout.startswith("--- a/a/ci.yaml\n+++ b/a/ci.yaml\n@@ ")
    assert "+" in result.stdout and "echo changed" in result.stdout
    assert files(repo / "a") == before
    assert pipec("compile", "valohai.yaml", "--target", "argo", "-o", "a", cwd=repo).exit_code == 0
    result = pipec("compile", "valohai.yaml", "--target", "argo", "-o", "a", "--diff", cwd=repo)
    assert result.exit_code == 0 and result.stdout == ""


def test_check_and_diff_need_files_on_disk(repo: Path) -> None:
    result = pipec("compile", "valohai.yaml", "--target", "argo", "--check", cwd=repo)
    assert result.exit_code == 2 and "--check and --diff compare files on disk: give -o" in result.output


# ------------------------------------------------------------------------ several targets
def test_target_all_writes_one_folder_per_target(repo: Path) -> None:
    result = pipec("compile", "valohai.yaml", "--target", "all", "-o", "build", cwd=repo)
    assert result.exit_code == 0, result.output
    assert (repo / "build/argo/ci.yaml").is_file()
    assert (repo / "build/gha/.github/workflows/ci.yml").is_file()
    assert (repo / "build/slurm/ci/submit.sh").is_file()
    assert result.stderr.splitlines()[-3:] == ["wrote 1 file to build/argo", "wrote 2 files to build/gha",
                                               "wrote 5 files to build/slurm"]


def test_a_comma_list_of_targets(repo: Path) -> None:
    result = pipec("compile", "valohai.yaml", "-t", "argo,slurm", "-o", "b", cwd=repo)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (repo / "b").iterdir()) == ["argo", "slurm"]


@pytest.mark.parametrize("args, message", [
    (["-t", "argo,nope"], "'nope' is not a target"),
    (["-t", "argo,slurm"], "several targets write one folder each: give the parent folder with -o DIR"),
    (["-t", "all", "-o", "-"], "several targets write one folder each"),
])
def test_bad_target_lists_are_usage_errors(repo: Path, args: list[str], message: str) -> None:
    result = pipec("compile", "valohai.yaml", *args, cwd=repo)
    assert result.exit_code == 2 and message in result.output


# ------------------------------------------------------------------ [compile] in pipec.toml
def test_a_bare_compile_covers_what_pipec_toml_declares(repo: Path) -> None:
    write(repo / "more" / "nightly.valohai.yaml", valohai("Nightly"))
    result = pipec("compile", "--check", cwd=repo)
    assert result.exit_code == 1 and "build/argo/ci.yaml: missing" in result.stderr
    result = pipec("compile", cwd=repo)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (repo / "build/argo").iterdir()) == [".pipec-manifest", "ci.yaml", "nightly.yaml"]
    assert (repo / "build/slurm/nightly/submit.sh").is_file()
    result = pipec("compile", "--check", cwd=repo)
    assert result.exit_code == 0 and "up to date" in result.stderr
    # A pipeline file removed from the repository: its outputs are left over, then removed.
    (repo / "more" / "nightly.valohai.yaml").unlink()
    result = pipec("compile", "--check", cwd=repo)
    assert result.exit_code == 1 and "build/argo/nightly.yaml: left-over" in result.stderr
    assert "build/slurm/nightly/submit.sh: left-over" in result.stderr
    result = pipec("compile", cwd=repo)
    assert result.exit_code == 0, result.output
    assert not (repo / "build/argo/nightly.yaml").exists() and not (repo / "build/slurm/nightly").exists()
    assert (repo / "build/argo/ci.yaml").is_file()
    assert pipec("compile", "--check", cwd=repo).exit_code == 0


def test_a_bare_compile_takes_output_folders_per_target(repo: Path) -> None:
    write(repo / "pipec.toml", '[compile]\ninputs = ["*.yaml"]\ntargets = ["argo", "gha"]\n'
                               '[compile.output]\nargo = "deploy"\ngha = "."\n')
    result = pipec("compile", cwd=repo)
    assert result.exit_code == 0, result.output
    assert (repo / "deploy/ci.yaml").is_file() and (repo / ".github/workflows/ci.yml").is_file()


@pytest.mark.parametrize("toml, message", [
    ("", "has no [compile] table"),
    ('[compile]\ninputs = ["gone.yaml"]\ntargets = ["argo"]\n', "'gone.yaml': no such file"),
    ('[compile]\ninputs = ["*.yaml"]\ntargets = ["argo"]\n[compile.output]\nslurm = "s"\n',
     "names no folder for target argo"),
])
def test_a_bare_compile_without_a_usable_table_is_a_usage_error(repo: Path, toml: str, message: str) -> None:
    write(repo / "pipec.toml", toml)
    result = pipec("compile", cwd=repo)
    assert result.exit_code == 2 and message in result.output


def test_a_compile_table_with_a_wrong_target_is_a_located_config_error(repo: Path) -> None:
    write(repo / "pipec.toml", '[compile]\ninputs = ["*.yaml"]\ntargets = ["argo", "k8s"]\n')
    result = pipec("compile", cwd=repo)
    assert result.exit_code == 1 and "pipec.toml:3:" in result.output


# -------------------------------------------------------------- formats and success lines
def test_compile_errors_as_github_annotations(repo: Path) -> None:
    write(repo / "valohai.yaml", "- step:\n    name: a\n    image: x\n    command: y\n    bogus: 1\n")
    result = pipec("compile", "valohai.yaml", "-t", "slurm", "-o", "s", "--format", "github", cwd=repo)
    assert result.exit_code == 1
    assert any(line.startswith("::error file=valohai.yaml,line=5,col=5") for line in result.stdout.splitlines())


def test_compile_errors_as_one_json_array_over_several_targets(repo: Path) -> None:
    write(repo / "valohai.yaml", "- step:\n    name: a\n    image: x\n    command: y\n    bogus: 1\n")
    result = pipec("compile", "valohai.yaml", "-t", "all", "-o", "b", "--format", "json", cwd=repo)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [d["line"] for d in data if d["severity"] == "error"] == [5]  # once, not once per target


def test_plan_takes_a_format_too(repo: Path) -> None:
    write(repo / "valohai.yaml", "- step:\n    name: a\n    image: x\n    command: y\n    bogus: 1\n")
    result = pipec("plan", "valohai.yaml", "--format", "github", cwd=repo)
    assert result.exit_code == 1
    assert any(line.startswith("::error file=valohai.yaml,line=5,col=5") for line in result.stderr.splitlines())


def test_success_lines_and_quiet(repo: Path) -> None:
    result = pipec("compile", "valohai.yaml", "-t", "slurm", "-o", "s", cwd=repo)
    assert result.stderr.splitlines()[-1] == "wrote 5 files to s"
    result = pipec("compile", "valohai.yaml", "-t", "slurm", "-o", "s", cwd=repo)
    assert result.stderr.splitlines()[-1] == "wrote 5 files to s (5 unchanged)"
    result = pipec("compile", "valohai.yaml", "-t", "slurm", "-o", "s", "-q", cwd=repo)
    assert "wrote" not in result.stderr
    result = pipec("check", "valohai.yaml", cwd=repo)
    assert result.stderr == "ok: 1 file checked\n"
    assert pipec("check", "-q", "valohai.yaml", cwd=repo).stderr == ""


# ---------------------------------------------------------------------- the installed tool
def test_the_module_runs_from_a_subprocess_with_the_same_bytes(repo: Path) -> None:
    """Two processes with different hash seeds and spellings: the same bytes."""
    outs = []
    for seed, spelled in (("1", "valohai.yaml"), ("2", str(repo / "valohai.yaml"))):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(COMPILER_DIR)}
        run = subprocess.run([sys.executable, "-m", "pipec", "compile", spelled, "-t", "argo"], cwd=repo, env=env,
                             capture_output=True)
        assert run.returncode == 0, run.stderr
        outs.append(run.stdout)
    assert outs[0] == outs[1]
