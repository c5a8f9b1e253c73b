"""Regressions of a hostile review: configuration from strangers, names that become paths,
values no shell can carry, YAML tricks, numbers out of range, and text that reaches a
terminal or another tool. Each was reproduced on an earlier pipec; `check` reports every one
of them (as `compile` would, on every target)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipec.cli import main
from pipec.config import find_config
from pipec.cron import cron_problem
from pipec.errors import Diagnostics
from pipec.loader import load_text

STEP = """\
- step:
    name: train
    image: python:3.12
    command: python train.py {parameters}
"""


def run(*args: str, cwd: Path | None = None):
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(main, list(args))
    finally:
        os.chdir(old)


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if ": error: " in line]


def check(tmp_path: Path, text: str, *extra: str) -> tuple[int, list[str]]:
    path = tmp_path / "valohai.yaml"
    path.write_text(text, encoding="utf-8")
    result = run("check", str(path), *extra)
    return result.exit_code, errors(result.output)


# ------------------------------------------------------------------- B. configuration
def test_config_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / "pipec.toml").write_text('[fetch]\nhttps = "touch OWNED"\n')  # a stranger's, above the repo
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "pipelines").mkdir()
    assert find_config(repo / "pipelines") is None
    (repo / "pipec.toml").write_text("")
    assert find_config(repo / "pipelines").resolve() == (repo / "pipec.toml").resolve()


def test_config_outside_a_repository_is_read_from_the_input_folder_only(tmp_path: Path) -> None:
    (tmp_path / "pipec.toml").write_text('[fetch]\nhttps = "touch OWNED"\n')
    (tmp_path / "work").mkdir()
    assert find_config(tmp_path / "work") is None


def test_a_config_writable_by_others_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "pipec.toml"
    config.write_text("")
    config.chmod(0o666)
    code, errs = check(tmp_path, STEP)
    assert code == 1 and len(errs) == 1
    assert "refusing the configuration" in errs[0] and "writable by every user" in errs[0]


def test_a_config_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give the file to another user")
    config = tmp_path / "pipec.toml"
    config.write_text("")
    os.chown(config, 12345, 12345)
    code, errs = check(tmp_path, STEP)
    assert code == 1 and "belongs to another user" in errs[0]


def test_the_configuration_used_is_named(tmp_path: Path) -> None:
    (tmp_path / "pipec.toml").write_text("")
    (tmp_path / "valohai.yaml").write_text(STEP)
    text = run("check", "valohai.yaml", cwd=tmp_path)
    assert text.exit_code == 0 and text.stdout == "pipec.toml:1:1: note: configuration: pipec.toml\n"
    assert text.stderr == "ok: 1 file checked\n"
    data = json.loads(run("check", "--format", "json", "valohai.yaml", cwd=tmp_path).stdout)
    assert data == [{"severity": "note", "file": "pipec.toml", "line": 1, "col": 1,
                     "message": "configuration: pipec.toml", "hint": None, "code": None, "rule": None}]


# ------------------------------------------------------------------- C. names that become paths
@pytest.mark.parametrize("name", ["../../../../tmp/x/escaped_slot", "a/b", "..", "*", "new\\nline", "tab\\there"])
def test_input_names_that_are_not_file_names_are_refused(tmp_path: Path, name: str) -> None:
    text = STEP + f'    inputs:\n      - name: "{name}"\n'
    code, errs = check(tmp_path, text)
    assert code == 1 and len(errs) == 1
    assert ":6:" in errs[0] and "it names a directory of the execution" in errs[0]


def test_input_file_names_are_checked_too(tmp_path: Path) -> None:
    code, errs = check(tmp_path, STEP + '    inputs:\n      - {name: data, filename: ../x}\n')
    assert code == 1 and "file name '../x' of input 'data'" in errs[0]


# ------------------------------------------------------------------- D. reserved names
@pytest.mark.parametrize("name", ["PIPEC_EXEC_DIR", "PIPEC_ANYTHING", "VH_CONFIG_DIR", "VH_JOB_ID"])
def test_environment_variables_the_runtime_sets_are_refused(tmp_path: Path, name: str) -> None:
    code, errs = check(tmp_path, STEP + f"    environment-variables:\n      - {{name: {name}, default: x}}\n")
    assert code == 1 and len(errs) == 1 and "would replace one the runtime sets" in errs[0] and ":6:" in errs[0]


@pytest.mark.parametrize("name", ["1X", "A-B", "A B", "Ä", "A;B", "$X"])
def test_invalid_environment_variable_names_are_refused_by_check(tmp_path: Path, name: str) -> None:
    code, errs = check(tmp_path, STEP + f'    environment-variables:\n      - {{name: "{name}", default: x}}\n')
    assert code == 1 and len(errs) == 1 and "is not a valid shell name" in errs[0]


@pytest.mark.parametrize("image", ["--privileged", "busybox\\tx", "a\\u001bb"])
def test_an_image_read_as_an_option_or_holding_control_characters_is_refused(tmp_path: Path, image: str) -> None:
    code, errs = check(tmp_path, STEP.replace("python:3.12", f'"{image}"'))
    assert code == 1 and len(errs) == 1 and "is not an image reference" in errs[0] and ":2:" in errs[0]


def test_an_image_with_spaces_is_a_warning_that_argo_and_slurm_still_compile(tmp_path: Path) -> None:
    # Valohai accepts any text as an image (valohai-yaml's own examples hold "merge node image").
    text = STEP.replace("python:3.12", '"my image"') + (
        "- pipeline:\n    name: p\n    nodes:\n      - {name: t, type: execution, step: train}\n    edges: []\n")
    path = tmp_path / "valohai.yaml"
    path.write_text(text, encoding="utf-8")
    result = run("check", str(path))
    assert result.exit_code == 0 and "warning: image 'my image' of 't' holds spaces" in result.output
    for target in ("argo", "slurm"):
        assert run("compile", str(path), "--target", target, "-o", str(tmp_path / target)).exit_code == 0
    gha = run("compile", str(path), "--target", "gha", "-o", str(tmp_path / "gha"))
    assert gha.exit_code == 1 and "is not an image reference" in gha.output


# ------------------------------------------------------------------- F. values and YAML
PIPELINE_TEMPLATE = STEP + """\
    parameters:
      - {name: lr, type: string, default: "DEFAULT"}
- pipeline:
    name: p
    parameters:
      - {name: plr, default: "PDEFAULT", targets: [t.parameters.lr]}
    nodes:
      - {name: t, type: execution, step: train}
    edges: []
"""


def pipeline(default: str, pdefault: str) -> str:
    return PIPELINE_TEMPLATE.replace("PDEFAULT", pdefault).replace("DEFAULT", default)


@pytest.mark.parametrize(("default", "pdefault"), [("a\\0b", "x"), ("x", "a\\0b")])
def test_nul_is_refused_where_it_is_written(tmp_path: Path, default: str, pdefault: str) -> None:
    code, errs = check(tmp_path, pipeline(default, pdefault))
    assert code == 1 and errs and all("a NUL character cannot be part of a pipeline" in e for e in errs)


def test_merge_keys_take_the_first_mapping_as_yaml_says(tmp_path: Path) -> None:
    # YAML 1.1's merge key: mappings earlier in the list win (PyYAML before 6.0.4, and Valohai).
    doc = load_text("a: &s {image: s, x: 1}\nc:\n  <<: [*s, {image: x, y: 2}]\n  z: 3\n", "f.yaml", Diagnostics())
    assert doc.data["c"] == {"image": "s", "x": 1, "y": 2, "z": 3}


@pytest.mark.parametrize("text", ["command: !!python/object/apply:os.system [id]\n",
                                  "a: !!python/name:os.system {x: 1}\n", "a: !custom [1]\n"])
def test_tags_on_collections_are_refused_like_tags_on_scalars(text: str) -> None:
    from pipec.errors import PipecError

    with pytest.raises(PipecError) as exc:
        load_text(text, "f.yaml", Diagnostics())
    assert "unsupported YAML tag" in exc.value.diagnostics[0].message


@pytest.mark.parametrize(("resources", "where"), [
    ("cpu: {min: 1.7e+308}", "cpu"), ("memory: {min: -5}", "memory"), ("devices: {nvidia.com/gpu: 100000}", "gpu")])
def test_resource_numbers_are_range_checked(tmp_path: Path, resources: str, where: str) -> None:
    code, errs = check(tmp_path, STEP + f"    resources:\n      {resources}\n")
    assert code == 1 and len(errs) == 1 and ":6:" in errs[0]


def test_non_finite_numbers_in_the_config_are_located(tmp_path: Path) -> None:
    (tmp_path / "pipec.toml").write_text("[profiles.x]\ncpus = nan\nmemory = 8\n")
    code, errs = check(tmp_path, STEP)
    assert code == 1 and len(errs) == 1
    assert errs[0].startswith(f"{tmp_path / 'pipec.toml'}:2:8: error: profiles.x.cpus: not a usable number")


def test_colliding_pipeline_ids_are_refused_on_every_target_and_by_check(tmp_path: Path) -> None:
    text = STEP + "".join(f"- pipeline:\n    name: {name!r}\n    nodes:\n      - {{name: a, type: execution, step: train}}\n"
                          "    edges: []\n" for name in ("Train", "train!"))
    path = tmp_path / "valohai.yaml"
    path.write_text(text)
    for args in (["check"], *(["compile", "--target", t, "-o", str(tmp_path / t)] for t in ("argo", "gha", "slurm"))):
        result = run(args[0], str(path), *args[1:])
        assert result.exit_code == 1, (args, result.output)
        assert any("pipelines 'Train' and 'train!' both become 'train'" in e for e in errors(result.output))
        assert not (tmp_path / "slurm").exists()


def test_a_pipeline_parameter_in_a_quoted_heredoc_is_compiled_in(tmp_path: Path) -> None:
    text = (STEP.replace("command: python train.py {parameters}",
                         "command: \"cat <<'EOF'\\nlr={parameter-value:lr}\\nEOF\"")
            + "    parameters:\n      - {name: lr, type: string, default: '0.1'}\n"
            + "- pipeline:\n    name: p\n    parameters:\n      - {name: plr, default: '0.5', targets: [t.parameters.lr]}\n"
            + "    nodes:\n      - {name: t, type: execution, step: train}\n    edges: []\n")
    path = tmp_path / "valohai.yaml"
    path.write_text(text)
    result = run("compile", str(path), "--target", "slurm", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "cannot be changed at submit time" in result.output  # located warning
    script = (tmp_path / "out/p/jobs/t.sbatch").read_text()
    assert "lr=0.5\n" in script and "@@PIPEC" not in script.split("PIPEC_EOF", 1)[0].split("command.sh", 1)[1]
    for target in ("argo", "gha"):
        out = run("compile", str(path), "--target", target, "-o", str(tmp_path / target))
        assert out.exit_code == 0, out.output
        generated = "".join(p.read_text() for p in (tmp_path / target).rglob("*.y*ml"))
        assert "lr=0.5" in generated


# ------------------------------------------------------------------- F. text that reaches tools
def test_diagnostics_never_print_control_sequences(tmp_path: Path) -> None:
    code, errs = check(tmp_path, STEP + '    inputs:\n      - name: "x\\e]0;owned\\a\\ry"\n')
    assert code == 1 and "\x1b" not in "".join(errs) and "\r" not in "".join(errs) and "\x07" not in "".join(errs)
    assert "'x\\x1b]0;owned\\x07\\ry'" in errs[0]


def test_argo_descriptions_never_hold_two_braces(tmp_path: Path) -> None:
    text = pipeline("x", "y").replace("default: \"y\",", "default: y, description: '{{{x}}} {{{{y}}}}',")
    path = tmp_path / "valohai.yaml"
    path.write_text(text)
    result = run("compile", str(path), "--target", "argo")
    assert result.exit_code == 0, result.output
    [param] = yaml.safe_load(result.stdout)["spec"]["arguments"]["parameters"]
    assert "{{" not in param["description"]


def test_graph_labels_are_valid_for_any_name(tmp_path: Path) -> None:
    long = "n" * 20000
    path = tmp_path / "valohai.yaml"
    path.write_text(STEP.replace("name: train", f"name: \"tr\\rain {long}\""))
    dot = run("graph", str(path), "--format", "dot")
    assert dot.exit_code == 0 and "\r" not in dot.stdout and max(len(line) for line in dot.stdout.splitlines()) < 1000
    mermaid = run("graph", str(path))
    assert mermaid.exit_code == 0 and "\r" not in mermaid.stdout


def test_cron_fields_take_ascii_digits_only() -> None:
    assert cron_problem("٣ 3 * * *") is not None and cron_problem("3 3 * * *") is None


def test_a_pipeline_parameter_name_with_an_equals_sign_is_refused(tmp_path: Path) -> None:
    code, errs = check(tmp_path, pipeline("x", "y").replace("name: plr", "name: a=b"))
    assert code == 1 and "cannot be given as NAME=VALUE" in errs[0]


def test_a_file_with_nothing_to_compile_says_so(tmp_path: Path) -> None:
    path = tmp_path / "valohai.yaml"
    path.write_text("- endpoint:\n    name: ep\n    image: python:3.12\n    server-command: python serve.py\n")
    checked = run("check", str(path))
    assert checked.exit_code == 0 and "nothing to compile" in checked.output
    compiled = run("compile", str(path), "--target", "slurm", "-o", str(tmp_path / "out"))
    assert compiled.exit_code == 1 and "nothing to compile" in compiled.output


def test_a_command_that_cannot_be_built_is_reported_by_check(tmp_path: Path) -> None:
    # A grid gives a list to a parameter that takes one value: every target would refuse it.
    text = STEP + """\
    parameters:
      - {name: lr, type: string, pass-as: "--lr={v:.2e}"}
- task:
    name: grid
    step: train
    type: grid_search
    parameters:
      - {name: lr, style: multiple, rules: {items: [0.1, "not a number"]}}
- pipeline:
    name: p
    nodes:
      - {name: t, type: task, task: grid}
    edges: []
"""
    code, errs = check(tmp_path, text)
    assert code == 1 and len(errs) == 1 and "cannot build the command of 't'" in errs[0]


@pytest.mark.parametrize(("credentials", "message"), [
    ("{c: {\"A-B\": k}}", "not a valid shell name"),
    ("{c: {PIPEC_X: k}}", "which the runtime sets"),
    ("{c: {HOME2: k}}", "which its environment sets too"),
    ("{c: /a/../../etc}", "not a directory path below /"),
])
def test_credential_variables_and_mounts_are_checked(tmp_path: Path, credentials: str, message: str) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text("workflow:\n  name: w\n  tasks:\n  - name: t\n    image: alpine\n    command: [env]\n"
                    f"    environment: {{HOME2: x}}\n    credentials: {credentials}\n", encoding="utf-8")
    result = run("check", str(path))
    assert result.exit_code == 1 and len(errors(result.output)) == 1 and message in result.output, result.output


def test_two_credentials_cannot_set_one_variable_or_share_a_mount(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text("workflow:\n  name: w\n  tasks:\n  - name: t\n    image: alpine\n    command: [env]\n"
                    "    credentials: {a: {TOKEN: k}, b: {TOKEN: k}, c: /etc/c, d: /etc/c/}\n", encoding="utf-8")
    result = run("check", str(path))
    errs = errors(result.output)
    assert result.exit_code == 1 and len(errs) == 2, result.output
    assert "credential 'b' of 't' sets TOKEN, which credential 'a' sets too" in errs[0] + errs[1]
    assert "credential 'd' of 't' is mounted at /etc/c/, where another credential is mounted too" in errs[0] + errs[1]
