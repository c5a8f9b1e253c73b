"""The command in the Argo UI: each container template shows the command its pods run (its
container's args, which `kubectl describe pod` shows too), every value read from a quoted
variable `"${PIPEC_P_<name>}"` that a template parameter fills, so no value meets a shell or
Argo's template language and jobs differing only in their values share a template.

Covered: what the template and the tasks hold; hostile values (quotes, `$(...)`, backticks,
`{{workflow.name}}`, newlines, the kubelet's own `$(NAME)` and `$$`) reaching the program
exactly on the emulated Argo (tests/harness/argo_sim.py, whose kubelet expands `$(NAME)`);
sweeps sharing one template with each execution's values; the fallbacks (a sweep whose rows
render differently carries each row's command; a command holding `{{` stands in its template
base64-encoded); groups; and the size limits of one argument or variable.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from pipec.backends.argo.manifest import runtime_annotation
from pipec.backends.argo.names import kubelet_text
from pipec.backends.argo.templates import BOOT, BOOT_NAME
from pipec.cli import main
from tests.harness.argo_check import check_yaml
from tests.harness.argo_sim import Workflow, kubelet_expand, pod_command, run_workflow

B64 = "pipec-b64:"
# Values no shell, template language or kubelet may touch on their way to the program.
HOSTILE = [
    "it's \"quoted\"",
    "$(touch pwned) `touch pwned`",
    "{{workflow.name}} {{inputs.parameters.job}}",
    "two\nlines\n",
    "$$ $(PIPEC_JOB) $(HOME) $$(PIPEC_JOB)",
    "pipec-b64:eA==",
    "back\\slash \\n ${PIPEC_P_v0} $PIPEC_P_v1",
    "  spaces\tand tab  ",
    "bell \x07 and ünï 🚀",
    "--not-a-flag=1",
]


# --------------------------------------------------------------------------- helpers
def compile_text(tmp_path: Path, text: str) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "valohai.yaml"
    src.write_text(text, encoding="utf-8")
    out = tmp_path / "workflow.yaml"
    result = CliRunner().invoke(main, ["compile", str(src), "--target", "argo", "-o", str(out)])
    assert result.exit_code == 0, result.output
    manifest = out.read_text(encoding="utf-8")
    assert check_yaml(manifest) == [], check_yaml(manifest)
    return manifest


def compile_errors(tmp_path: Path, text: str) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "valohai.yaml"
    src.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["compile", str(src), "--target", "argo", "-o", str(tmp_path / "w.yaml")])
    assert result.exit_code == 1, result.output
    return result.output


def templates(manifest: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in yaml.safe_load(manifest)["spec"]["templates"]}


def tasks(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in template["dag"]["tasks"]}


def args(task: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in (task.get("arguments") or {}).get("parameters") or []}


def env(template: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in template["container"]["env"]}


def containers(manifest: str) -> dict[str, dict[str, Any]]:
    return {n: t for n, t in templates(manifest).items() if "container" in t}


def output(wf: Workflow, job: str, name: str, execution: int = 0) -> str:
    return (wf.repo / wf.name / job / str(execution) / "outputs" / name).read_text(encoding="utf-8")


def pipeline(steps: list[dict[str, Any]], nodes: list[dict[str, Any]],
             tasks_: list[dict[str, Any]] | None = None) -> str:
    doc: list[dict[str, Any]] = [{"step": s} for s in steps] + [{"task": t} for t in tasks_ or []]
    doc.append({"pipeline": {"name": "readable", "nodes": nodes, "edges": []}})
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100000)


def writer_step(values: list[str], extra: str = "") -> dict[str, Any]:
    """A step writing each string parameter v<k> to v<k>.txt, byte for byte."""
    lines = [f"printf '%s' {{parameter-value:v{k}}} > $VH_OUTPUTS_DIR/v{k}.txt" for k in range(len(values))]
    return {"name": "write", "image": "busybox", "command": lines + ([extra] if extra else []),
            "parameters": [{"name": f"v{k}", "type": "string", "default": v} for k, v in enumerate(values)]}


# ------------------------------------------------------------------- what the template shows
def test_the_template_shows_the_command_and_the_tasks_give_the_values(tmp_path: Path) -> None:
    step = {"name": "train", "image": "python:3.12", "command": "python train.py {parameters}",
            "parameters": [{"name": "learning-rate", "type": "float", "default": 0.0123456},
                           {"name": "label", "type": "string", "default": "distinct-label-xyz"}]}
    manifest = compile_text(tmp_path, pipeline([step], [{"name": "train", "type": "execution", "step": "train"}]))
    [(name, template)] = containers(manifest).items()
    container = template["container"]
    assert name == "step-train"
    assert container["command"] == ["sh", "-c", BOOT, BOOT_NAME]
    assert container["args"] == ['python train.py --learning-rate="${PIPEC_P_learning_rate}" '
                                 '--label="${PIPEC_P_label}"']
    # No value stands in the template: each comes from a parameter into a variable.
    assert "0.0123456" not in json.dumps(template) and "distinct-label-xyz" not in json.dumps(template)
    variables = env(template)
    assert variables["PIPEC_P_learning_rate"] == "{{inputs.parameters.p-learning_rate}}"
    assert variables["PIPEC_P_label"] == "{{inputs.parameters.p-label}}"
    assert {"PIPEC_P_learning_rate", "PIPEC_P_label"} <= set(variables["PIPEC_ENCODED"].split())
    assert "PIPEC_COMMAND" not in variables and "PIPEC_COMMAND" not in variables["PIPEC_ENCODED"].split()
    task = tasks(templates(manifest)["main"])["train"]
    assert args(task)["p-learning_rate"] == "0.0123456" and args(task)["p-label"] == "distinct-label-xyz"
    assert "command" not in args(task)


def test_jobs_differing_only_in_their_values_share_a_template(tmp_path: Path) -> None:
    nodes = [{"name": "first", "type": "execution", "step": "write"},
             {"name": "second", "type": "execution", "step": "write",
              "override": {"parameters": [{"name": "v0", "type": "string", "default": "second's own"}]}}]
    manifest = compile_text(tmp_path, pipeline([writer_step(["first's own", "common"])], nodes))
    assert list(containers(manifest)) == ["step-write"]
    main_tasks = tasks(templates(manifest)["main"])
    assert main_tasks["first"]["template"] == main_tasks["second"]["template"] == "step-write"
    assert args(main_tasks["first"])["p-v0"] == "first's own" and args(main_tasks["second"])["p-v0"] == "second's own"
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    assert (output(wf, "first", "v0.txt"), output(wf, "second", "v0.txt")) == ("first's own", "second's own")
    assert output(wf, "first", "v1.txt") == output(wf, "second", "v1.txt") == "common"


# -------------------------------------------------------------------------- hostile values
@pytest.mark.e2e
def test_hostile_values_reach_the_program_exactly(tmp_path: Path) -> None:
    nodes = [{"name": "write", "type": "execution", "step": "write"}]
    manifest = compile_text(tmp_path, pipeline([writer_step(HOSTILE)], nodes))
    [template] = containers(manifest).values()
    assert all(f'"${{PIPEC_P_v{k}}}"' in template["container"]["args"][0] for k in range(len(HOSTILE)))
    assert "touch pwned" not in json.dumps(template) and "PIPEC_COMMAND" not in env(template)["PIPEC_ENCODED"]
    given = args(tasks(templates(manifest)["main"])["write"])
    assert given["p-v2"].startswith(B64)  # "{{" in a value: base64 for Argo
    assert given["p-v4"] == "$$$ $$(PIPEC_JOB) $$(HOME) $$$$(PIPEC_JOB)"  # for the kubelet
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    for k, value in enumerate(HOSTILE):
        assert output(wf, "write", f"v{k}.txt") == value, k
    assert not list((tmp_path / "cluster").rglob("pwned")), "a value was run as code"


@pytest.mark.e2e
def test_the_commands_own_dollars_reach_the_shell_as_written(tmp_path: Path) -> None:
    # Kubernetes expands $(NAME) and reduces $$ in a container's args: pipec escapes them.
    command = "printf '%s' '$$ $(PIPEC_JOB) $(HOME)' \"$(printf '%s' \"$$\" | tr 0-9 x)\" > $VH_OUTPUTS_DIR/out.txt"
    step = {"name": "dollars", "image": "busybox", "command": command}
    manifest = compile_text(tmp_path, pipeline([step], [{"name": "dollars", "type": "execution",
                                                         "step": "dollars"}]))
    [template] = containers(manifest).values()
    assert template["container"]["args"][0].startswith("printf '%s' '$$$ $$(PIPEC_JOB) $$(HOME)'")
    assert kubelet_expand(template["container"]["args"][0], env(template)) == command
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    text = output(wf, "dollars", "out.txt")
    assert text.startswith("$$ $(PIPEC_JOB) $(HOME)") and set(text[len("$$ $(PIPEC_JOB) $(HOME)"):]) == {"x"}


# ----------------------------------------------------------------------------------- sweeps
@pytest.mark.e2e
@pytest.mark.parametrize("values", [["a b", "{{workflow.name}}", "$(touch pwned)"], list(range(70))],
                         ids=["withItems", "withSequence"])
def test_a_sweeps_executions_share_one_template_each_with_its_values(tmp_path: Path, values: list[Any]) -> None:
    step = writer_step(["swept", "fixed 'value'"])
    grid = {"name": "grid", "step": "write", "type": "grid_search",
            "parameters": [{"name": "v0", "style": "multiple", "rules": {"items": values}}]}
    if isinstance(values[0], int):
        step["parameters"][0] = {"name": "v0", "type": "integer", "default": 0}
    manifest = compile_text(tmp_path, pipeline([step], [{"name": "sweep", "type": "task", "task": "grid"}], [grid]))
    [template] = containers(manifest).values()
    assert template["container"]["args"][0].count("PIPEC_P_v0") == 1
    task = tasks(templates(manifest)["main"])["sweep"]
    assert args(task)["p-v1"] == "fixed 'value'"  # one value for every execution: given once
    if "withItems" in task:
        assert args(task)["p-v0"] == "{{item.p-v0}}" and len(task["withItems"]) == len(values)
    else:  # each pod picks its own value from the axis
        assert task["withSequence"] == {"count": str(len(values))} and "p-v0" not in args(task)
        assert args(task)["setup"].startswith("pipec_pick PIPEC_P_v0 70 ")
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    for i, value in enumerate(values):
        assert output(wf, "sweep", "v0.txt", i) == str(value)
        assert output(wf, "sweep", "v1.txt", i) == "fixed 'value'"
    assert {n.pod.spec["name"] for n in wf.pods("sweep")} == {template["name"]}
    assert not list((tmp_path / "cluster").rglob("pwned"))


@pytest.mark.e2e
def test_rows_rendering_alike_share_the_template_and_the_items_carry_the_values(tmp_path: Path) -> None:
    # Mixed value types: the pod cannot be given the column as one kind of JSON, so each row is
    # rendered at compile time; the rows still render one command.
    values = [1, "x {{y}}", 2.5]
    grid = {"name": "grid", "step": "write", "type": "grid_search",
            "parameters": [{"name": "v0", "style": "multiple", "rules": {"items": values}}]}
    manifest = compile_text(tmp_path, pipeline([writer_step(["a", "b"])],
                                               [{"name": "sweep", "type": "task", "task": "grid"}], [grid]))
    [template] = containers(manifest).values()
    assert template["container"]["args"][0].startswith("printf '%s' \"${PIPEC_P_v0}\"")
    task = tasks(templates(manifest)["main"])["sweep"]
    assert args(task)["p-v0"] == "{{item.p-v0}}" and args(task)["p-v1"] == "b"
    assert all("command" not in item for item in task["withItems"])
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    assert [output(wf, "sweep", "v0.txt", i) for i in range(3)] == ["1", "x {{y}}", "2.5"]
    pods = {int(n.pod.env["PIPEC_EXECUTION"]): n.pod for n in wf.pods("sweep")}
    typed = [json.loads(pods[i].path("/valohai/config/parameters.json").read_text(encoding="utf-8"))["v0"]
             for i in range(3)]
    assert typed == values  # parameters.json keeps each row's own type


@pytest.mark.e2e
def test_rows_rendering_differently_carry_their_own_commands(tmp_path: Path) -> None:
    step = {"name": "flags", "image": "busybox",
            "command": "printf '%s|' {parameter:fast} {parameter-value:name} > $VH_OUTPUTS_DIR/out.txt",
            "parameters": [{"name": "fast", "type": "flag", "default": False},
                           {"name": "name", "type": "string", "default": "it's $(touch pwned) {{x}}"}]}
    grid = {"name": "grid", "step": "flags", "type": "grid_search",
            "parameters": [{"name": "fast", "style": "multiple", "rules": {"items": [True, False]}}]}
    manifest = compile_text(tmp_path, pipeline([step], [{"name": "sweep", "type": "task", "task": "grid"}], [grid]))
    [template] = containers(manifest).values()
    # The container's args name the task's parameter: the pod spec shows each execution's own.
    assert template["container"]["args"] == ["{{inputs.parameters.command}}"]
    assert "PIPEC_COMMAND" in env(template)["PIPEC_ENCODED"].split()
    task = tasks(templates(manifest)["main"])["sweep"]
    assert args(task)["command"] == "{{item.command}}"
    commands = [pod_command(template, {"command": item["command"]}) for item in task["withItems"]]
    assert commands[0].startswith("printf '%s|' --fast ") and "--fast" not in commands[1]
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    assert output(wf, "sweep", "out.txt", 0) == "--fast|it's $(touch pwned) {{x}}|"
    assert output(wf, "sweep", "out.txt", 1) == "it's $(touch pwned) {{x}}|"
    assert not list((tmp_path / "cluster").rglob("pwned"))


@pytest.mark.e2e
def test_values_where_nothing_expands_stay_written_in_the_command(tmp_path: Path) -> None:
    # A quoted heredoc's body and a comment expand no variable: the values stand there as text.
    step = {"name": "doc", "image": "busybox",
            "command": ["cat > $VH_OUTPUTS_DIR/out.txt <<'EOF'\n{parameters}\nEOF", "# {parameters}",
                        "printf '%s' {parameter-value:a} > $VH_OUTPUTS_DIR/a.txt"],
            "parameters": [{"name": "a", "type": "string", "default": "x $(y)"}]}
    manifest = compile_text(tmp_path, pipeline([step], [{"name": "doc", "type": "execution", "step": "doc"}]))
    [template] = containers(manifest).values()
    assert pod_command(template) == ("cat > $VH_OUTPUTS_DIR/out.txt <<'EOF'\n'--a=x $(y)'\nEOF\n# '--a=x $(y)'\n"
                                     "printf '%s' \"${PIPEC_P_a}\" > $VH_OUTPUTS_DIR/a.txt")
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    assert output(wf, "doc", "out.txt") == "'--a=x $(y)'\n" and output(wf, "doc", "a.txt") == "x $(y)"


# ------------------------------------------------------------------- a command holding {{
@pytest.mark.e2e
def test_a_command_holding_braces_stands_in_its_template_encoded(tmp_path: Path) -> None:
    step = {"name": "braces", "image": "busybox",
            "command": "printf '%s|%s' {parameter-value:v} '{{workflow.name}} {{' > $VH_OUTPUTS_DIR/out.txt",
            "parameters": [{"name": "v", "type": "string", "default": "{{inputs.parameters.job}}"}]}
    manifest = compile_text(tmp_path, pipeline([step], [{"name": "braces", "type": "execution", "step": "braces"}]))
    [template] = containers(manifest).values()
    [arg] = template["container"]["args"]
    assert arg.startswith(B64) and "PIPEC_COMMAND" in env(template)["PIPEC_ENCODED"].split()
    assert pod_command(template) == ("printf '%s|%s' \"${PIPEC_P_v}\" '{{workflow.name}} {{' > "
                                     "$VH_OUTPUTS_DIR/out.txt")
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    assert output(wf, "braces", "out.txt") == "{{inputs.parameters.job}}|{{workflow.name}} {{"


# ----------------------------------------------------------------------------------- groups
def test_a_groups_ranks_share_one_command_with_their_own_values(tmp_path: Path) -> None:
    step = {"name": "worker", "image": "busybox", "command": "run-worker --port={parameter-value:port}",
            "parameters": [{"name": "port", "type": "integer"}]}
    group = {"name": "trio", "step": "worker", "type": "distributed",
             "parameters": [{"name": "port", "style": "multiple", "rules": {"items": [7001, 7002, 7003]}}]}
    manifest = compile_text(tmp_path, pipeline([step], [{"name": "workers", "type": "task", "task": "trio"}], [group]))
    found = templates(manifest)
    ranks = tasks(found[tasks(found["main"])["workers"]["template"]])
    assert set(ranks) == {"workers", "workers-member-1", "workers-member-2"}
    for task, port in zip((ranks["workers"], ranks["workers-member-1"], ranks["workers-member-2"]), (7001, 7002, 7003)):
        assert found[task["template"]]["container"]["args"] == ['run-worker --port="${PIPEC_P_port}"']
        assert args(task)["p-port"] == str(port) and "command" not in args(task)


def test_kubelet_text_survives_the_kubelets_expansion_whatever_the_container_defines() -> None:
    class Every(dict):  # the worst case: every name a variable may have is defined
        def __contains__(self, name: object) -> bool:
            return isinstance(name, str) and re.fullmatch(r"[-._a-zA-Z][-._a-zA-Z0-9]*", name) is not None

        def __getitem__(self, name: str) -> str:
            return f"<{name}>"

    pieces = ["$", "(", ")", "NAME", "date", "a b", '"', "x"]
    rng = random.Random(7)
    texts = ["$$", "$(date)", "$(ls $(date))", "$((1 + 2))", "${HOME}", "$", "$(", "$()", "a$$(B)$"]
    texts += ["".join(rng.choice(pieces) for _ in range(12)) for _ in range(3000)]
    for defined in ({}, {"NAME": "!", "date": "?"}, Every()):
        for text in texts:
            assert kubelet_expand(kubelet_text(text), defined) == text, (text, kubelet_text(text))
    # Only what the kubelet would read is doubled: shell code keeps its look.
    shell = '"$(pipec_json "$X")" $(date) $$ ${Y} $((1+2))'
    assert kubelet_text(shell) == '"$(pipec_json "$X")" $$(date) $$$ ${Y} $((1+2))'


# ------------------------------------------------------------------------------ size limits
def test_a_value_too_long_for_one_variable_is_refused(tmp_path: Path) -> None:
    step = writer_step(["x" * 140_000])
    out = compile_errors(tmp_path, pipeline([step], [{"name": "write", "type": "execution", "step": "write"}]))
    assert "'write' needs 140,012 bytes in one environment variable of its pod (PIPEC_P_v0:" in out, out


def test_a_command_too_long_for_one_argument_is_refused(tmp_path: Path) -> None:
    step = {"name": "long", "image": "busybox", "command": "echo " + "y" * 140_000}
    out = compile_errors(tmp_path, pipeline([step], [{"name": "long", "type": "execution", "step": "long"}]))
    assert "'long' needs 140,006 bytes in one argument of its container (its command)" in out, out
    assert out.count("error:") == 1


def test_the_runtime_annotation_holds_nothing_the_kubelet_would_rewrite():
    # PIPEC_RUNTIME is an env value filled from the annotation: a `$$` or `$(NAME)` in it would
    # reach the pod changed (the runtime itself is pipec's text, so it is kept free of them).
    text = runtime_annotation()
    assert "pipec_pod()" in text and kubelet_text(text) == text


@pytest.mark.e2e
def test_run_time_values_reach_the_program_past_the_kubelet(tmp_path: Path) -> None:
    # A submit-time parameter and a value an upstream job prints are not known when pipec
    # compiles, so they cannot be escaped for the kubelet: they reach the pod as annotations.
    value = "$$ $(PIPEC_JOB) $(HOME) $$(x)"
    emit = {"name": "emit", "image": "busybox",
            "command": "printf '%s\\n' '{\"msg\": \"$$ $(PIPEC_JOB) $(HOME) $$(x)\"}'"}
    doc = [{"step": emit}, {"step": writer_step(["unset", "default"])},
           {"pipeline": {"name": "readable",
                         "nodes": [{"name": "emit", "type": "execution", "step": "emit"},
                                   {"name": "write", "type": "execution", "step": "write"}],
                         "edges": [["emit.metadata.msg", "write.parameter.v0"]],
                         "parameters": [{"name": "given", "targets": ["write.parameters.v1"], "default": "d"}]}}]
    manifest = compile_text(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    wf = run_workflow(manifest, tmp_path / "cluster", {"given": value})
    assert wf.phase == "Succeeded", wf.logs()
    assert output(wf, "write", "v0.txt") == value
    assert output(wf, "write", "v1.txt") == value
    template = templates(manifest)[tasks(templates(manifest)["main"])["write"]["template"]]
    refs = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in template["container"]["env"] if "valueFrom" in e}
    assert refs["PIPEC_PARAM_0"] == "metadata.annotations['pipec.dev/param-0']"
    assert template["metadata"]["annotations"]["pipec.dev/param-0"] == "{{workflow.parameters.given}}"
