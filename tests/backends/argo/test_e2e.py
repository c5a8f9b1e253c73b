"""End to end on an emulated Argo: compile valohai.yaml pipelines with ``pipec compile
--target argo`` and run the manifests through tests/harness/argo_sim.py, whose pods are real ``sh``
processes running pipec's pod runtime, with a directory standing in for the S3 artifact
repository.

Covered: files along glob edges (only matching files, same names renamed); a small grid
(withItems) and a 75-execution product grid (withSequence + pipec_pick) giving every
execution Valohai's parameters; pipeline parameters (defaults, ``argo submit -p``, hostile
values); hostile text in the file itself; metadata -> parameter edges (single, sweep, missing
key); the failure policies stop-all, stop-next, continue (partly and wholly failed) and retry;
a distributed group (daemons); a WorkflowTemplate; and the emulator's own Argo semantics.

Known pipec bugs are ``xfail(strict=True)`` tests that describe the bug in their reason.
"""

from __future__ import annotations

import base64
import functools
import http.server
import itertools
import json
import socket
import textwrap
import threading
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipec.cli import main
from pipec.driver import Request, load_workflows
from tests.harness.argo_sim import (
    ArgoError,
    Node,
    Workflow,
    eval_depends,
    go_quote,
    replace,
    run_workflow,
)


# --------------------------------------------------------------------------- helpers
def compile_argo(tmp_path: Path, text: str, *options: str) -> str:
    """Compile a valohai.yaml text for Argo; returns the manifest text."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "valohai.yaml"
    src.write_text(textwrap.dedent(text), encoding="utf-8")
    out = tmp_path / "workflow.yaml"
    result = CliRunner().invoke(main, ["compile", str(src), "--target", "argo", "-o", str(out), *options])
    assert result.exit_code == 0, f"pipec compile failed ({result.exit_code}):\n{result.output}"
    return out.read_text(encoding="utf-8")


def run(tmp_path: Path, text: str, parameters: dict[str, str] | None = None, *options: str) -> Workflow:
    manifest = compile_argo(tmp_path, text, *options)
    return run_workflow(manifest, tmp_path / "cluster", parameters)


def execution(wf: Workflow, job: str, index: int = 0) -> Node:
    """The pod of the last attempt of one execution."""
    pods = [n for n in wf.pods(job) if n.pod.env.get("PIPEC_EXECUTION") == str(index)]
    assert pods, f"{job} #{index} never ran\n{wf.logs()}"
    return pods[-1]


def vh(node: Node, rel: str) -> Path:
    """A file of the execution directory (/valohai/<rel>) of a pod."""
    return node.pod.path(f"/valohai/{rel}")


def params_json(node: Node) -> dict:
    return json.loads(vh(node, "config/parameters.json").read_text(encoding="utf-8"))


def files(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        return {}
    return {str(p.relative_to(directory)): p.read_text(encoding="utf-8")
            for p in sorted(directory.rglob("*")) if p.is_file()}


def repo(wf: Workflow, job: str, index: int = 0, area: str = "outputs") -> Path:
    return wf.repo / wf.name / job / str(index) / area


def ran(wf: Workflow, job: str) -> bool:
    return bool(wf.pods(job))


def pwned(wf: Workflow) -> list[Path]:
    """Files named PWNED that hostile text would create in a pod's working directory."""
    return [p for n in wf.pods() for p in n.pod.root.rglob("PWNED")]


def doc(manifest: str) -> dict:
    return yaml.safe_load(manifest)


# ---------------------------------------------------------- 1. files along glob edges
THREE_JOBS = """\
- step:
    name: preprocess
    image: busybox
    command:
      - printf 'a,b\\n' > $VH_OUTPUTS_DIR/train.csv
      - printf 'c,d\\n' > $VH_OUTPUTS_DIR/test.csv
      - mkdir -p $VH_OUTPUTS_DIR/extra && printf 'e\\n' > $VH_OUTPUTS_DIR/extra/more.csv
      - printf 'notes\\n' > $VH_OUTPUTS_DIR/readme.md
- step:
    name: train
    image: busybox
    command:
      - ls $VH_INPUTS_DIR/data > $VH_OUTPUTS_DIR/seen.txt
      - echo lr={parameter-value:lr} > $VH_OUTPUTS_DIR/model.txt
      - echo unique > $VH_OUTPUTS_DIR/model-{parameter-value:lr}
      - echo log > $VH_OUTPUTS_DIR/train.log
    parameters:
      - {name: lr, type: float, default: 0.5}
    inputs:
      - name: data
- step:
    name: evaluate
    image: busybox
    command:
      - ls $VH_INPUTS_DIR/models > $VH_OUTPUTS_DIR/received.txt
    inputs:
      - name: models
- task:
    name: grid
    step: train
    type: grid_search
    parameters:
      - name: lr
        style: multiple
        rules: {items: [0.1, 0.01, 0.001]}
- pipeline:
    name: e2e three jobs
    nodes:
      - {name: preprocess, type: execution, step: preprocess}
      - {name: train, type: task, task: grid}
      - {name: evaluate, type: execution, step: evaluate}
    edges:
      - [preprocess.output.*.csv, train.input.data]
      - [train.output.model*, evaluate.input.models]
"""


def test_glob_edges_stage_only_matching_files_and_rename_collisions(tmp_path: Path) -> None:
    wf = run(tmp_path, THREE_JOBS)
    assert wf.phase == "Succeeded", wf.logs()
    assert [wf.task(t).phase for t in ("preprocess", "train", "evaluate")] == ["Succeeded"] * 3
    assert wf.task("train").type == "TaskGroup" and len(wf.task("train").children) == 3
    for i, lr in enumerate(["0.1", "0.01", "0.001"]):
        node = execution(wf, "train", i)
        # '*.csv' matches extra/more.csv too (Valohai's * crosses '/'); the tree is flattened.
        assert files(vh(node, "inputs/data")) == {"more.csv": "e\n", "test.csv": "c,d\n", "train.csv": "a,b\n"}
        assert params_json(node) == {"lr": float(lr)}
        assert files(repo(wf, "train", i))["model.txt"] == f"lr={lr}\n"
        assert (repo(wf, "train", i, ".pipec") / "ok").exists()
    staged = files(vh(execution(wf, "evaluate"), "inputs/models"))
    assert staged == {
        "model.txt": "lr=0.1\n", "model.train-1.txt": "lr=0.01\n", "model.train-2.txt": "lr=0.001\n",
        "model-0.1": "unique\n", "model-0.01": "unique\n", "model-0.001": "unique\n",
    }
    assert sorted(files(repo(wf, "evaluate"))["received.txt"].split()) == sorted(staged)
    manifest = doc((tmp_path / "workflow.yaml").read_text())
    train = next(t for t in manifest["spec"]["templates"][0]["dag"]["tasks"] if t["name"] == "train")
    assert len(train["withItems"]) == 3


def test_late_value_inside_a_word(tmp_path: Path) -> None:
    wf = run(tmp_path, THREE_JOBS.replace("model-{parameter-value:lr}", "model-{parameter-value:lr}.bin"))
    assert wf.phase == "Succeeded", wf.logs()
    assert sorted(p for p in files(repo(wf, "train", 1)) if p.endswith(".bin")) == ["model-0.01.bin"]


# ------------------------------------------------------------------------ 2. sweeps
BIG_GRID = """\
- step:
    name: work
    image: busybox
    command:
      - printf '%s|%s|%s' {parameter-value:a} {parameter-value:b} {parameter-value:c} > $VH_OUTPUTS_DIR/row.txt
      - cp $VH_CONFIG_DIR/parameters.json $VH_OUTPUTS_DIR/p.json
    parameters:
      - {name: a, type: integer, default: 0}
      - {name: b, type: float, default: 0}
      - {name: c, type: string, default: z}
- step:
    name: collect
    image: busybox
    command:
      - ls $VH_INPUTS_DIR/rows | wc -l > $VH_OUTPUTS_DIR/count.txt
    inputs:
      - name: rows
- task:
    name: grid
    step: work
    type: grid_search
    parameters:
      - {name: a, style: multiple, rules: {items: [1, 2, 3, 4, 5]}}
      - {name: b, style: multiple, rules: {items: [0.5, 1.25, -2, 0.001, 3]}}
      - {name: c, style: multiple, rules: {items: ["x y", "it's \\"q\\"", "$HOME"]}}
- pipeline:
    name: e2e big grid
    nodes:
      - {name: sweep, type: task, task: grid}
      - {name: collect, type: execution, step: collect}
    edges:
      - [sweep.output.*, collect.input.rows]
"""


def test_large_product_grid_gives_every_execution_valohais_parameters(tmp_path: Path) -> None:
    manifest = compile_argo(tmp_path, BIG_GRID)
    task = next(t for t in doc(manifest)["spec"]["templates"][0]["dag"]["tasks"] if t["name"] == "sweep")
    assert task["withSequence"] == {"count": "75"} and "withItems" not in task  # the pod picks its row
    # What Valohai would run: pipec's own sweep rows, in itertools.product order (last axis fastest).
    result = load_workflows(Request(file=str(tmp_path / "valohai.yaml")))
    sweep = next(j for j in result.workflows[0].jobs if j.id == "sweep").sweep
    rows = [sweep.row(i) for i in range(75)]
    product = [dict(zip("abc", combo)) for combo in itertools.product(
        [1, 2, 3, 4, 5], [0.5, 1.25, -2, 0.001, 3], ["x y", "it's \"q\"", "$HOME"])]
    assert rows == product

    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    assert len(wf.task("sweep").children) == 75
    for i, row in enumerate(rows):
        node = execution(wf, "sweep", i)
        assert json.loads(files(repo(wf, "sweep", i))["p.json"]) == row, i
        assert params_json(node) == row
        assert files(repo(wf, "sweep", i))["row.txt"] == f"{row['a']}|{row['b']}|{row['c']}", i
    collect = execution(wf, "collect")
    staged = files(vh(collect, "inputs/rows"))
    assert len(staged) == 150, sorted(staged)  # row.txt and p.json of every execution
    key = functools.partial(json.dumps, sort_keys=True)
    assert sorted(map(key, (json.loads(v) for k, v in staged.items() if k.startswith("p.")))) == sorted(map(key, rows))
    assert "row.sweep-74.txt" in staged and staged["row.txt"] == "1|0.5|x y"


# ------------------------------------------------------------ 3. pipeline parameters
PARAMS = """\
- step:
    name: say
    image: busybox
    command:
      - printf '%s' {parameter-value:greeting} > $VH_OUTPUTS_DIR/greeting.bin
      - printf '%s' {parameter-value:epochs} > $VH_OUTPUTS_DIR/epochs.txt
      - echo {parameters} > $VH_OUTPUTS_DIR/cli.txt
    parameters:
      - {name: greeting, type: string, default: step-default}
      - {name: epochs, type: integer, default: 1}
- task:
    name: seeds
    step: say
    type: grid_search
    parameters:
      - {name: epochs, style: multiple, rules: {items: [10, 20]}}
- pipeline:
    name: e2e params
    parameters:
      - name: greeting
        targets: [single.parameter.greeting, sweep.parameter.greeting]
        default: hello
      - name: epochs
        targets: [single.parameter.epochs]
        default: 3
    nodes:
      - {name: single, type: execution, step: say}
      - {name: sweep, type: task, task: seeds}
    edges: []
"""


def _greetings(wf: Workflow) -> list[tuple[bytes, dict]]:
    return [(files(repo(wf, job, i))["greeting.bin"].encode(), params_json(execution(wf, job, i)))
            for job, i in (("single", 0), ("sweep", 0), ("sweep", 1))]


def test_pipeline_parameter_defaults_and_override(tmp_path: Path) -> None:
    manifest = compile_argo(tmp_path, PARAMS)
    assert doc(manifest)["spec"]["arguments"]["parameters"] == [
        {"name": "greeting", "value": "hello"}, {"name": "epochs", "value": "3"}]
    wf = run_workflow(manifest, tmp_path / "defaults")
    assert wf.phase == "Succeeded", wf.logs()
    assert _greetings(wf) == [(b"hello", {"greeting": "hello", "epochs": 3}),
                              (b"hello", {"greeting": "hello", "epochs": 10}),
                              (b"hello", {"greeting": "hello", "epochs": 20})]
    wf = run_workflow(manifest, tmp_path / "override", {"greeting": "bonjour", "epochs": "7"})
    assert wf.phase == "Succeeded", wf.logs()
    assert _greetings(wf)[0] == (b"bonjour", {"greeting": "bonjour", "epochs": 7})
    assert files(repo(wf, "single"))["cli.txt"] == "--greeting=bonjour --epochs=7\n"
    assert _greetings(wf)[2] == (b"bonjour", {"greeting": "bonjour", "epochs": 20})
    bad = run_workflow(manifest, tmp_path / "bad", {"epochs": "many"})
    assert bad.task("single").phase == "Failed"
    assert "pipeline parameter epochs must be a number (integer), not 'many'" in execution(bad, "single").pod.stderr


HOSTILE_OVERRIDE = "a'b\"c $(touch {pwned}) `touch {pwned}` ${{HOME}} \\ \\n \t tab\n newline ü ✓ 😀 %s %%"


def test_hostile_parameter_override_arrives_byte_for_byte(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    value = HOSTILE_OVERRIDE.format(pwned=pwned)
    wf = run(tmp_path, PARAMS, {"greeting": value})
    assert wf.phase == "Succeeded", wf.logs()
    assert not pwned.exists(), "a parameter value was executed"
    for got, params in _greetings(wf):
        assert got == value.encode() and params["greeting"] == value


# Argo templates a submitted value again, so a value holding "{{" is given base64-encoded
# behind "pipec-b64:" (the manifest header says so) and the pod decodes it.
def test_parameter_override_holding_template_braces(tmp_path: Path) -> None:
    value = "x {{workflow.name}} {{inputs.parameters.job}} y"
    encoded = "pipec-b64:" + base64.b64encode(value.encode()).decode()
    wf = run(tmp_path, PARAMS, {"greeting": encoded})
    assert wf.phase == "Succeeded", wf.logs()
    assert _greetings(wf)[0][0] == value.encode()


# -------------------------------------------------------- 4. hostile text in the file
HOSTILE_FILE = r"""
- step:
    name: echo
    image: busybox
    command:
      - printf '%s\n' '{{workflow.name}}' "{{inputs.parameters.job}}" '{{item}}' > $VH_OUTPUTS_DIR/braces.txt
      - printf '%s\n' 'it'"'"'s "dq" \back\slash $(touch PWNED) `touch PWNED` ü漢字😀' > $VH_OUTPUTS_DIR/quotes.txt
      - printf '%s' "$GREETING" > $VH_OUTPUTS_DIR/env.bin
      - printf '%s' {parameter-value:p} > $VH_OUTPUTS_DIR/p.bin
      - printf '%s' {parameter-value:n} > $VH_OUTPUTS_DIR/n.bin
    environment-variables:
      - name: GREETING
        default: "{{workflow.name}} $(touch PWNED) '\" \\ ü {{"
    parameters:
      - name: p
        type: string
        default: "{{inputs.parameters.job}} }} {{ $HOME"
      - name: n
        type: string
        default: x
- task:
    name: t
    step: echo
    type: grid_search
    parameters:
      - name: n
        style: multiple
        rules: {items: ["{{workflow.name}}", "plain", "pipec-b64:notbase64", "{{=1+1}}"]}
- pipeline:
    name: e2e hostile
    nodes:
      - {name: single, type: execution, step: echo}
      - {name: sweep, type: task, task: t}
    edges: []
"""


def test_hostile_text_in_the_file_reaches_the_command_literally(tmp_path: Path) -> None:
    wf = run(tmp_path, HOSTILE_FILE)
    assert wf.phase == "Succeeded", wf.logs()
    spec = yaml.safe_load(HOSTILE_FILE)[0]["step"]
    greeting, p_default = spec["environment-variables"][0]["default"], spec["parameters"][0]["default"]
    sweep_values = ["{{workflow.name}}", "plain", "pipec-b64:notbase64", "{{=1+1}}"]
    for job, i, n in [("single", 0, "x")] + [("sweep", k, v) for k, v in enumerate(sweep_values)]:
        out = files(repo(wf, job, i))
        assert out["braces.txt"] == "{{workflow.name}}\n{{inputs.parameters.job}}\n{{item}}\n"
        assert out["quotes.txt"] == "it's \"dq\" \\back\\slash $(touch PWNED) `touch PWNED` ü漢字😀\n"
        assert out["env.bin"] == greeting
        assert out["p.bin"] == p_default
        assert out["n.bin"] == n
        assert params_json(execution(wf, job, i)) == {"p": p_default, "n": n}
    assert not pwned(wf), "text was executed"


def test_control_characters_in_a_command(tmp_path: Path) -> None:
    text = """\
    - step:
        name: colour
        image: busybox
        command:
          - "printf '%s' '\\e[31mred\\e[0m \\a bell \\x7f del' > $VH_OUTPUTS_DIR/c.bin"
    - pipeline:
        name: e2e colour
        nodes:
          - {name: colour, type: execution, step: colour}
        edges: []
    """
    wf = run(tmp_path, text)
    assert wf.phase == "Succeeded", wf.logs()
    assert files(repo(wf, "colour"))["c.bin"] == "\x1b[31mred\x1b[0m \x07 bell \x7f del"


# ------------------------------------------------------ 5. metadata -> parameter edges
LABEL = "it's $(touch PWNED) \"q\" {{workflow.name}} ü"
META = """\
- step:
    name: train
    image: busybox
    command: |
      echo 'not json'
      python3 -c 'import json; print(json.dumps({{"accuracy": 0.5, "note": "first"}}))'
      python3 -c 'import json, os; print(json.dumps({{"accuracy": {acc}, "label": os.environ["LABEL"]}}))'
      echo done > $VH_OUTPUTS_DIR/model.txt
    environment-variables:
      - {{name: LABEL, default: {label}}}
    parameters:
      - {{name: lr, type: float, default: 0.1}}
- step:
    name: evaluate
    image: busybox
    command:
      - printf '%s' {{parameter-value:threshold}} > $VH_OUTPUTS_DIR/threshold.txt
      - printf '%s' {{parameter-value:label}} > $VH_OUTPUTS_DIR/label.txt
    parameters:
      - {{name: threshold, type: {ptype}, default: "0"}}
      - {{name: label, type: string, default: none}}
- task:
    name: grid
    step: train
    type: grid_search
    maximum-queued-executions: 2
    parameters:
      - {{name: lr, style: multiple, rules: {{items: [0.1, 0.2, 0.3]}}}}
- pipeline:
    name: e2e meta
    nodes:
      - {{name: train, type: {kind}, {what}}}
      - {{name: evaluate, type: execution, step: evaluate}}
    edges:
      - [train.metadata.{key}, evaluate.parameter.threshold]
      - [train.metadata.label, evaluate.parameter.label]
"""


def meta_pipeline(kind: str = "execution", key: str = "accuracy", acc: str = "0.9", ptype: str = "float") -> str:
    what = "step: train" if kind == "execution" else "task: grid"
    return META.format(kind=kind, what=what, key=key, acc=acc, ptype=ptype, label=json.dumps(LABEL))


def test_metadata_reaches_the_downstream_parameter(tmp_path: Path) -> None:
    wf = run(tmp_path, meta_pipeline())
    assert wf.phase == "Succeeded", wf.logs()
    evaluate = execution(wf, "evaluate")
    assert params_json(evaluate) == {"threshold": 0.9, "label": LABEL}  # the last line with the key wins
    assert files(repo(wf, "evaluate")) == {"threshold.txt": "0.9", "label.txt": LABEL}
    assert wf.task("train").outputs["meta-1-text"].startswith("pipec-b64:")  # it holds '{{'
    assert not pwned(wf), "metadata was executed"


def test_metadata_of_a_sweep_is_a_list(tmp_path: Path) -> None:
    wf = run(tmp_path, meta_pipeline(kind="task", acc="os.environ[\"PIPEC_EXECUTION\"]", ptype="string"))
    assert wf.phase == "Succeeded", wf.logs()
    assert wf.task("train").type == "DAG"  # maximum-queued-executions: the sweep-train wrapper
    got = params_json(execution(wf, "evaluate"))
    assert got == {"threshold": ["0", "1", "2"], "label": [LABEL] * 3}


def test_missing_metadata_fails_the_downstream_job_clearly(tmp_path: Path) -> None:
    wf = run(tmp_path, meta_pipeline(key="precision"))
    assert wf.phase == "Failed"
    assert wf.task("train").phase == "Succeeded" and wf.task("evaluate").phase == "Failed"
    err = execution(wf, "evaluate").pod.stderr
    assert "pipec: train printed no metadata 'precision'" in err, err
    assert not (repo(wf, "evaluate", 0, ".pipec") / "ok").exists()


CONTINUE_META = """\
- step:
    name: train
    image: busybox
    command: |
      python3 -c 'import json, os; print(json.dumps({{"acc": int(os.environ["PIPEC_EXECUTION"])}}))'
      test "$PIPEC_EXECUTION" != 1
    parameters:
      - {{name: lr, type: float, default: 0.1}}
- step:
    name: pick
    image: busybox
    command: echo picked
    parameters:
      - {{name: best, type: string, default: none}}
- task:
    name: grid
    step: train
    type: grid_search
    {limit}
    parameters:
      - {{name: lr, style: multiple, rules: {{items: [0.1, 0.2, 0.3]}}}}
- pipeline:
    name: e2e continue meta
    nodes:
      - {{name: train, type: task, task: grid, on-error: continue}}
      - {{name: pick, type: execution, step: pick}}
    edges:
      - [train.metadata.acc, pick.parameter.best]
"""


def test_metadata_of_a_partly_failed_continue_sweep(tmp_path: Path) -> None:
    wf = run(tmp_path, CONTINUE_META.format(limit=""))
    assert wf.task("train").phase == "Failed" and wf.task("pick").phase == "Succeeded", wf.logs()
    assert params_json(execution(wf, "pick")) == {"best": [0, 2]}  # the successful executions' values


def test_metadata_of_a_partly_failed_continue_sweep_behind_a_wrapper(tmp_path: Path) -> None:
    wf = run(tmp_path, CONTINUE_META.format(limit="maximum-queued-executions: 2"))
    assert wf.task("train").type == "DAG"
    assert wf.task("pick").phase == "Succeeded", wf.logs()
    assert params_json(execution(wf, "pick")) == {"best": [0, 2]}


# --------------------------------------------------------------- 6. failure policies
POLICY = """\
- step:
    name: fail
    image: busybox
    command:
      - sleep {fail_after}
      - echo failing > $VH_OUTPUTS_DIR/attempted.txt
      - exit 3
- step:
    name: slow
    image: busybox
    command:
      - sleep {slow}
      - echo b-output > $VH_OUTPUTS_DIR/b.txt
- step:
    name: after
    image: busybox
    command:
      - ls $VH_INPUTS_DIR/upstream > $VH_OUTPUTS_DIR/ran.txt
    inputs:
      - {{name: upstream, optional: true}}
- pipeline:
    name: e2e policy
    nodes:
      - {{name: a, type: execution, step: fail, on-error: {policy}}}
      - {{name: a-next, type: execution, step: after}}
      - {{name: b, type: execution, step: slow, on-error: {policy}}}
      - {{name: b-next, type: execution, step: after}}
    edges:
      - [a.output.*, a-next.input.upstream]
      - [b.output.*, b-next.input.upstream]
"""


def test_stop_all_fails_the_run_and_runs_nothing_after_the_failed_job(tmp_path: Path) -> None:
    manifest = compile_argo(tmp_path, POLICY.format(policy="stop-all", fail_after=0, slow=0))
    assert "failFast" not in json.dumps(doc(manifest)["spec"]["templates"][0])  # the default: true
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Failed"
    assert wf.task("a").phase == "Failed" and wf.task("a").message == "Error (exit code 3)"
    assert wf.task("a-next").phase == "Omitted" and not ran(wf, "a-next")
    assert files(repo(wf, "a")) == {}, "a failed execution's outputs reached the repository"
    assert (repo(wf, "a", 0, ".pipec") / "failed").read_text().strip() == "3"


def test_stop_all_with_fail_fast_lets_running_branches_go_on(tmp_path: Path) -> None:
    # Argo's failFast decides only once nothing in the DAG runs (argo-workflows #5223,
    # #10312): while b runs, a's failure stops nothing, so b-next still starts. The manifest
    # header and the README say so, and [argo] stop_all = "stop" is the immediate stop.
    manifest = compile_argo(tmp_path, POLICY.format(policy="stop-all", fail_after=0, slow=1.5))
    assert "once the running ones have ended" in manifest
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Failed" and wf.task("a").phase == "Failed"
    assert wf.task("a-next").phase == "Omitted" and not ran(wf, "a-next")
    assert ran(wf, "b-next")


def test_stop_all_stop_adds_a_hook_that_stops_the_workflow(tmp_path: Path) -> None:
    (tmp_path / "pipec.toml").write_text('[argo]\nstop_all = "stop"\n')
    manifest = compile_argo(tmp_path, POLICY.format(policy="stop-all", fail_after=0, slow=1.5))
    spec = doc(manifest)["spec"]
    hooks = {t["name"]: t.get("hooks") for t in spec["templates"][0]["dag"]["tasks"]}
    assert hooks["a"] == {"pipec-stop": {"template": "pipec-stop-run", "expression": 'tasks["a"].status == "Failed"'}}
    stop = next(t for t in spec["templates"] if t["name"] == "pipec-stop-run")
    assert stop["resource"]["action"] == "patch" and "shutdown: Stop" in stop["resource"]["manifest"]


def test_stop_next_lets_an_independent_branch_finish(tmp_path: Path) -> None:
    manifest = compile_argo(tmp_path, POLICY.format(policy="stop-next", fail_after=0, slow=1))
    assert doc(manifest)["spec"]["templates"][0]["dag"]["failFast"] is False
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.task("a").phase == "Failed" and wf.task("a-next").phase == "Omitted"
    assert not ran(wf, "a-next")
    assert wf.task("b").phase == "Succeeded" and wf.task("b-next").phase == "Succeeded", wf.logs()
    b_next = execution(wf, "b-next")
    assert files(vh(b_next, "inputs/upstream")) == {"b.txt": "b-output\n"}
    assert files(repo(wf, "b-next")) == {"ran.txt": "b.txt\n"}
    assert wf.phase == "Failed"  # a branch failed; Argo reports it once everything else is done


CONTINUE = """\
- step:
    name: shard
    image: busybox
    command:
      - echo part-{{parameter-value:part}} > "$VH_OUTPUTS_DIR/part-{{parameter-value:part}}"
      - echo common-{{parameter-value:part}} > $VH_OUTPUTS_DIR/part.txt
      - case ,{{parameter-value:fail}}, in *,{{parameter-value:part}},*) echo "part fails after writing" >&2; exit 7 ;; esac
    parameters:
      - {{name: part, type: integer, default: 0}}
      - {{name: fail, type: string, default: none}}
- step:
    name: merge
    image: busybox
    command:
      - ls $VH_INPUTS_DIR/parts > $VH_OUTPUTS_DIR/received.txt
    inputs:
      - name: parts
- task:
    name: shards
    step: shard
    type: grid_search
    {limit}
    parameters:
      - {{name: part, style: multiple, rules: {{items: [1, 2, 3]}}}}
- pipeline:
    name: e2e continue
    parameters:
      - {{name: fail, targets: [shards.parameter.fail], default: "2"}}
    nodes:
      - {{name: shards, type: task, task: shards, on-error: continue}}
      - {{name: merge, type: execution, step: merge}}
    edges:
      - [shards.output.part*, merge.input.parts]
"""


@pytest.mark.parametrize("wrapped", [False, True], ids=["loop", "sweep-wrapper"])
def test_continue_stages_only_the_successful_executions(tmp_path: Path, wrapped: bool) -> None:
    limit = "maximum-queued-executions: 2" if wrapped else ""
    wf = run(tmp_path, CONTINUE.format(limit=limit))
    shards = wf.task("shards")
    # The wrapper tolerates failed executions (continueOn), so its outputs exist; a bare loop fails.
    assert shards.phase == ("Succeeded" if wrapped else "Failed")
    assert shards.type == ("DAG" if wrapped else "TaskGroup")
    assert [execution(wf, "shards", i).phase for i in range(3)] == ["Succeeded", "Failed", "Succeeded"]
    assert wf.task("merge").phase == "Succeeded", wf.logs()
    staged = files(vh(execution(wf, "merge"), "inputs/parts"))
    assert staged == {"part-1": "part-1\n", "part.txt": "common-1\n",
                      "part-3": "part-3\n", "part.shards-2.txt": "common-3\n"}
    assert files(repo(wf, "shards", 1)) == {}  # the failed execution's files never left its pod


@pytest.mark.parametrize("wrapped", [False, True], ids=["loop", "sweep-wrapper"])
def test_continue_with_every_execution_failed_stops_the_downstream(tmp_path: Path, wrapped: bool) -> None:
    limit = "maximum-queued-executions: 2" if wrapped else ""
    wf = run(tmp_path, CONTINUE.format(limit=limit), {"fail": "1,2,3"})
    assert wf.phase == "Failed"
    assert [execution(wf, "shards", i).phase for i in range(3)] == ["Failed"] * 3
    if wrapped:  # depends (shards.Succeeded || shards.Failed): merge starts and its gate stops it
        assert wf.task("merge").phase == "Failed"
        assert "pipec: no execution of shards succeeded" in execution(wf, "merge").pod.stderr
        assert not (vh(execution(wf, "merge"), ".pipec/command.sh")).exists()
    else:  # depends shards.AnySucceeded: merge is never started
        assert wf.task("merge").phase == "Omitted" and not ran(wf, "merge")


# ------------------------------------------------------------------------- 7. retry
RETRY = """\
- step:
    name: flaky
    image: busybox
    command:
      - echo attempt >> {counter}
      - echo partial > $VH_OUTPUTS_DIR/junk-$(wc -l < {counter} | tr -d ' ').txt
      - if [ "$(wc -l < {counter})" -lt 2 ]; then echo "first attempt fails" >&2; exit 9; fi
      - echo ok > $VH_OUTPUTS_DIR/result.txt
- step:
    name: after
    image: busybox
    command:
      - ls $VH_INPUTS_DIR/result > $VH_OUTPUTS_DIR/seen.txt
    inputs:
      - name: result
- pipeline:
    name: e2e retry
    nodes:
      - {{name: flaky, type: execution, step: flaky, on-error: retry}}
      - {{name: after, type: execution, step: after}}
    edges:
      - [flaky.output.*, after.input.result]
"""


def test_retry_reruns_and_passes_on_only_the_successful_attempt(tmp_path: Path) -> None:
    counter = tmp_path / "state" / "attempts.log"
    counter.parent.mkdir(parents=True)
    manifest = compile_argo(tmp_path, RETRY.format(counter=counter))
    step = next(t for t in doc(manifest)["spec"]["templates"] if t.get("retryStrategy"))
    assert step["retryStrategy"] == {"limit": 2}
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    flaky = wf.task("flaky")
    assert flaky.type == "Retry" and [c.phase for c in flaky.children] == ["Failed", "Succeeded"]
    assert counter.read_text() == "attempt\nattempt\n"
    assert "first attempt fails" in flaky.children[0].pod.stderr
    assert files(repo(wf, "flaky")) == {"junk-2.txt": "partial\n", "result.txt": "ok\n"}
    staged = files(vh(execution(wf, "after"), "inputs/result"))
    assert staged == {"junk-2.txt": "partial\n", "result.txt": "ok\n"}, "the failed attempt's junk-1 leaked"


# --------------------------------------------------------- a group (Valohai distributed)
GROUP = """\
- step:
    name: worker
    image: busybox
    command:
      - python3 {source}
    parameters:
      - {{name: port, type: integer}}
- task:
    name: trio
    step: worker
    type: distributed
    parameters:
      - {{name: port, style: multiple, rules: {{items: {ports}}}}}
- pipeline:
    name: e2e group
    nodes:
      - {{name: workers, type: task, task: trio}}
    edges: []
"""

# Members serve their rank on their pod IP until stopped; the lead asks each member at the
# address distributed.json gives it and writes what it heard.
MEMBER = r'''
import json, os, socket, time
rank = int(os.environ["PIPEC_RANK"])
cfg = json.load(open(os.path.join(os.environ["VH_CONFIG_DIR"], "distributed.json")))
ports = PORTS_JSON
out = os.environ["VH_OUTPUTS_DIR"]
if rank > 0:
    srv = socket.create_server((os.environ["PIPEC_POD_IP"], ports[rank]))
    open(os.path.join(out, "started"), "w").write(cfg["hosts"][0])
    while True:
        conn, _ = srv.accept()
        conn.sendall(f"member {rank}".encode())
        conn.close()
heard = []
for r in range(1, len(cfg["hosts"])):
    for _ in range(200):
        try:
            with socket.create_connection((cfg["hosts"][r], ports[r]), timeout=1) as s:
                heard.append(s.recv(100).decode())
            break
        except OSError:
            time.sleep(0.05)
open(os.path.join(out, "heard.txt"), "w").write("\n".join(heard))
'''


def test_a_group_runs_members_as_daemons_stopped_with_the_lead(tmp_path: Path) -> None:
    ports = []
    for _ in range(3):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    source = tmp_path / "member.py"
    source.write_text(MEMBER.replace("PORTS_JSON", json.dumps(ports)))
    text = GROUP.format(source=source, ports=json.dumps(ports))
    wf = run(tmp_path, text)
    assert wf.phase == "Succeeded", wf.logs()
    group = wf.task("workers")
    assert group.type == "DAG" and group.template.startswith("group-")
    lead, members = execution(wf, "workers", 0), [execution(wf, "workers", r) for r in (1, 2)]
    hosts = json.loads(vh(lead, "config/distributed.json").read_text())["hosts"]
    assert hosts == [lead.pod_ip] + [m.pod_ip for m in members]
    assert files(repo(wf, "workers", 0))["heard.txt"] == "member 1\nmember 2"
    for m in members:  # daemons: stopped when the group's DAG ended with its lead
        assert m.phase == "Succeeded" and m.pod.killed == "daemon"
        assert files(repo(wf, "workers", int(m.pod.env["PIPEC_EXECUTION"])))["started"] == m.pod_ip
        assert not (repo(wf, "workers", int(m.pod.env["PIPEC_EXECUTION"]), ".pipec") / "ok").exists()


# ---------------------------------------------------- kinds, URL inputs, the emulator
def test_workflow_template_reads_the_runtime_from_workflow_metadata(tmp_path: Path) -> None:
    manifest = compile_argo(tmp_path, THREE_JOBS, "--kind", "template")
    assert doc(manifest)["kind"] == "WorkflowTemplate"
    assert "pipec-runtime" not in doc(manifest)["metadata"].get("annotations", {})
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()


def test_http_input_is_downloaded_by_argo(tmp_path: Path) -> None:
    served = tmp_path / "www"
    served.mkdir()
    (served / "raw.txt").write_text("raw digits")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/raw.txt"
        wf = run(tmp_path, f"""\
        - step:
            name: fetch
            image: busybox
            command:
              - cp $VH_INPUTS_DIR/raw/raw.txt $VH_OUTPUTS_DIR/copy.txt
            inputs:
              - name: raw
                default: {url}
        - pipeline:
            name: e2e http
            nodes:
              - {{name: fetch, type: execution, step: fetch}}
            edges: []
        """)
    finally:
        server.shutdown()
    assert wf.phase == "Succeeded", wf.logs()
    assert files(repo(wf, "fetch")) == {"copy.txt": "raw digits"}


def test_emulator_templating_follows_go() -> None:
    assert go_quote("a\"b\\c\n\t\x1b\x7f\u00a0ü😀") == "a\\\"b\\\\c\\n\\t\\x1b\\x7f\\u00a0ü😀"
    assert replace('{"a": "{{x}} {{ x }} {{y}}"}', {"x": "1\n"}, True) == '{"a": "1\\n 1\\n {{y}}"}'
    with pytest.raises(ArgoError, match="failed to resolve"):
        replace('{"a": "{{y}}"}', {}, False)
    with pytest.raises(ArgoError, match="invalid JSON"):
        replace('{"a": "{{x}}"}', {"x": "\x07"}, True)
    with pytest.raises(ArgoError, match="end tag"):
        replace('{"a": "{{x"}', {}, True)
    ok = {"Succeeded": True, "Failed": False, "Errored": False, "Skipped": False, "Daemoned": False,
          "AnySucceeded": True, "AllFailed": False}
    bad = dict(ok, Succeeded=False, Failed=True, AnySucceeded=False, AllFailed=True)
    assert eval_depends("a-b && (c.Succeeded || c.Failed)", {"a-b": ok, "c": bad})
    assert not eval_depends("a-b.AnySucceeded && !c.Failed", {"a-b": ok, "c": bad})


def test_emulator_runs_three_substitution_passes_like_argo(tmp_path: Path) -> None:
    """A workflow parameter's value is templated again inside the pod spec (pass B and the
    pod pass); a DAG argument holding a global is resolved at the DAG level."""
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "t-"},
        "spec": {
            "entrypoint": "main",
            "arguments": {"parameters": [{"name": "p", "value": "v"}]},
            "templates": [
                {"name": "main", "dag": {"tasks": [
                    {"name": "a", "template": "c", "arguments": {"parameters": [{"name": "x", "value": "{{workflow.name}}"}]}},
                    {"name": "b", "template": "c", "depends": "a", "withItems": [{"k": "1"}, {"k": "2"}],
                     "arguments": {"parameters": [{"name": "x", "value": "{{tasks.a.outputs.parameters.o}}-{{item.k}}"}]}}]}},
                {"name": "c", "inputs": {"parameters": [{"name": "x"}]},
                 "outputs": {"parameters": [{"name": "o", "valueFrom": {"path": "/w/o", "default": "d"}}]},
                 "container": {"image": "busybox", "command": ["sh", "-c", 'printf "%s|%s" "$X" "$P" > "$PIPEC_EXEC_MOUNT/o"'],
                               "env": [{"name": "PIPEC_EXEC_MOUNT", "value": "/w"},
                                       {"name": "X", "value": "{{inputs.parameters.x}}"},
                                       {"name": "P", "value": "{{workflow.parameters.p}}"}],
                               "volumeMounts": [{"name": "w", "mountPath": "/w"}]}},
            ],
            "volumes": [{"name": "w", "emptyDir": {}}]}}
    wf = run_workflow(manifest, tmp_path / "a", {"p": "{{inputs.parameters.x}}/{{workflow.name}}"})
    assert wf.phase == "Succeeded", wf.logs()
    a = "t-x7k2q|t-x7k2q/t-x7k2q"
    assert wf.task("a").outputs == {"o": a}
    assert [c.outputs["o"] for c in wf.task("b").children] == [f"{a}-{k}|{a}-{k}/t-x7k2q" for k in (1, 2)]
