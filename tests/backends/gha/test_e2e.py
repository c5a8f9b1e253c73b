"""End to end on an emulated GitHub Actions: compile valohai.yaml pipelines with ``pipec
compile --target gha`` and run the workflows through tests/harness/gha_sim.py, whose steps are real
``sh``/``bash`` processes running pipec's runtime (pipec_pod), with a directory standing in
for the run's artifact storage.

Covered: files along glob edges (only matching files, same names renamed, /valohai paths);
a small grid and a 75-row product grid (matrix include rows) giving every execution
Valohai's parameters; a 300-execution sweep split into matrix jobs ``<id>`` and
``<id>-part-2``; pipeline parameters (workflow_dispatch inputs, defaults, a schedule run,
hostile values); hostile text in the file (``${{ }}``, quotes, unicode); metadata ->
parameter edges (job outputs, a sweep's list via artifacts, a missing key) and run-time
fan-out (a matrix from ``fromJSON(needs.X.outputs...)``); the failure policies stop-all,
stop-next, continue (partly and wholly failed) and retry; a deployment node; a group in one
job; a time limit; and the emulator's own GitHub semantics.

Known pipec bugs are ``xfail(strict=True)`` tests that describe the bug in their reason.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import os
import shutil
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipec.cli import main
from pipec.driver import Request, load_workflows
from tests.harness.gha_sim import (
    TOKEN,
    GhaError,
    Leg,
    Run,
    Scope,
    Workflow,
    _file_command,
    _split,
    condition,
    evaluate,
    load_yaml,
    render,
    run_workflow,
)
from tests.paths import EXAMPLES


# --------------------------------------------------------------------------- helpers
def compile_gha(tmp_path: Path, text: str, *options: str, toml: str | None = None) -> Path:
    """Compile a valohai.yaml text into a repository directory (the file, pipec.toml and the
    generated .github/); returns the workflow file."""
    repo = tmp_path / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    src = repo / "valohai.yaml"
    src.write_text(textwrap.dedent(text), encoding="utf-8")
    if toml is not None:
        (repo / "pipec.toml").write_text(textwrap.dedent(toml), encoding="utf-8")
    result = CliRunner().invoke(main, ["compile", str(src), "--target", "gha", "-o", str(repo), *options])
    assert result.exit_code == 0, f"pipec compile failed ({result.exit_code}):\n{result.output}"
    flows = sorted((repo / ".github" / "workflows").glob("*.yml"))
    assert len(flows) == 1, flows
    assert (repo / ".github" / "pipec" / "pipec-runtime.sh").is_file()
    return flows[0]


def compile_or_refuse(tmp_path: Path, text: str) -> Path | None:
    """The workflow file, or None when pipec refuses the input with an error naming the
    problem (for bugs a compile error fixes as well as a working workflow)."""
    repo = tmp_path / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "valohai.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    result = CliRunner().invoke(main, ["compile", str(repo / "valohai.yaml"), "--target", "gha", "-o", str(repo)])
    if result.exit_code != 0:
        assert "error" in result.output, result.output
        return None
    return next((repo / ".github" / "workflows").glob("*.yml"))


def start(flow: Path, name: str = "gh", event: str = "workflow_dispatch", inputs: dict[str, str] | None = None,
          **kw) -> Run:
    repo = flow.parent.parent.parent
    return run_workflow(flow, workspace=repo, workdir=repo.parent / name, event=event, inputs=inputs,
                        capacity=kw.pop("capacity", 32), **kw)


def run(tmp_path: Path, text: str, inputs: dict[str, str] | None = None, event: str = "workflow_dispatch",
        toml: str | None = None, **kw) -> Run:
    return start(compile_gha(tmp_path, text, toml=toml), event=event, inputs=inputs, **kw)


def doc(flow: Path) -> dict:
    return load_yaml(flow.read_text(encoding="utf-8"))  # YAML 1.1 would read the key `on` as True


def run_step(job: dict) -> dict:
    """The step that runs the execution (id: run) of a job of the workflow document."""
    return next(s for s in job["steps"] if s.get("id") == "run")


def execution(r: Run, job: str, index: int = 0) -> Leg:
    """The runner (job instance) that ran one execution of a pipec job."""
    legs = [leg for leg in r.legs() if leg.has_step("run") and leg.step("run").env.get("PIPEC_JOB") == job
            and leg.step("run").env.get("PIPEC_EXECUTION") == str(index)]
    assert legs, f"{job} #{index} never ran\n{r.logs()}"
    return legs[-1]


def vh(leg: Leg, rel: str) -> Path:
    """A file of the execution directory ($RUNNER_TEMP/pipec/exec/<rel>) of a runner."""
    return leg.temp / "pipec" / "exec" / rel


def params_json(leg: Leg) -> dict:
    return json.loads(vh(leg, "config/parameters.json").read_text(encoding="utf-8"))


def files(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        return {}
    return {str(p.relative_to(directory)): p.read_text(encoding="utf-8")
            for p in sorted(directory.rglob("*")) if p.is_file()}


def artifact(r: Run, job: str, index: int = 0, area: str = "outputs") -> Path:
    """An area (outputs, .pipec, inputs) of one execution in the run's artifacts: in
    pipec.<job>.<execution> (or a group's pipec.<job>.group), under <execution>/ when the
    artifact holds the execution's directory. A path that does not exist when nothing was
    uploaded."""
    for name in (f"pipec.{job}.{index}", f"pipec.{job}.group"):
        if name in r.artifacts:
            root = r.artifact(name)
            return root / str(index) / area if (root / str(index)).is_dir() else root / area
    return r.workdir / "no-such-artifact" / f"pipec.{job}.{index}" / area


def ran(r: Run, job: str) -> bool:
    """Whether any runner started the Run step of a pipec job."""
    return any(leg.has_step("run") and leg.step("run").outcome != "skipped" and leg.step("run").env.get("PIPEC_JOB") == job
               for leg in r.legs())


def pwned(r: Run) -> list[Path]:
    return [p for leg in r.legs() for p in leg.root.rglob("PWNED")]


def step_text(r: Run, job: str, index: int = 0) -> str:
    s = execution(r, job, index).step("run")
    return s.stdout + s.stderr


# ---------------------------------------------------------- 1. files along glob edges
THREE_JOBS = """\
- step:
    name: preprocess
    image: busybox
    command:
      - printf 'a,b\\n' > $VH_OUTPUTS_DIR/train.csv
      - printf 'c,d\\n' > /valohai/outputs/test.csv
      - mkdir -p $VH_OUTPUTS_DIR/extra && printf 'e\\n' > $VH_OUTPUTS_DIR/extra/more.csv
      - printf 'notes\\n' > $VH_OUTPUTS_DIR/readme.md
      - printf 'hidden\\n' > $VH_OUTPUTS_DIR/.hidden.csv
- step:
    name: train
    image: busybox
    command:
      - ls -A $VH_INPUTS_DIR/data > $VH_OUTPUTS_DIR/seen.txt
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
      - ls /valohai/inputs/models > $VH_OUTPUTS_DIR/received.txt
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
    flow = compile_gha(tmp_path, THREE_JOBS)
    jobs = doc(flow)["jobs"]
    assert [row["i"] for row in jobs["train"]["strategy"]["matrix"]["include"]] == [0, 1, 2]
    assert jobs["evaluate"]["needs"] == ["train"] and jobs["train"]["needs"] == ["preprocess"]
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    assert [r.job(j).result for j in ("preprocess", "train", "evaluate")] == ["success"] * 3
    assert len(r.legs("train")) == 3
    # The execution's outputs and markers travel as one artifact per execution; hidden files too.
    assert files(artifact(r, "preprocess")) == {"train.csv": "a,b\n", "test.csv": "c,d\n", "extra/more.csv": "e\n",
                                                "readme.md": "notes\n", ".hidden.csv": "hidden\n"}
    for i, lr in enumerate(["0.1", "0.01", "0.001"]):
        leg = execution(r, "train", i)
        assert leg.matrix["i"] == i
        # '*.csv' matches extra/more.csv (Valohai's * crosses '/') and .hidden.csv; the tree is flattened.
        assert files(vh(leg, "inputs/data")) == {".hidden.csv": "hidden\n", "more.csv": "e\n", "test.csv": "c,d\n",
                                                 "train.csv": "a,b\n"}
        assert params_json(leg) == {"lr": float(lr)}
        assert files(artifact(r, "train", i))["model.txt"] == f"lr={lr}\n"
        assert (artifact(r, "train", i, ".pipec") / "ok").exists()
    staged = files(vh(execution(r, "evaluate"), "inputs/models"))
    assert staged == {
        "model.txt": "lr=0.1\n", "model.train-1.txt": "lr=0.01\n", "model.train-2.txt": "lr=0.001\n",
        "model-0.1": "unique\n", "model-0.01": "unique\n", "model-0.001": "unique\n",
    }
    assert sorted(files(artifact(r, "evaluate"))["received.txt"].split()) == sorted(staged)


def test_late_value_inside_a_word(tmp_path: Path) -> None:
    r = run(tmp_path, THREE_JOBS.replace("model-{parameter-value:lr}", "model-{parameter-value:lr}.bin"))
    assert r.conclusion == "success", r.logs()
    assert sorted(p for p in files(artifact(r, "train", 1)) if p.endswith(".bin")) == ["model-0.01.bin"]


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
      - {name: c, style: multiple, rules: {items: ["x y", "it's \\"q\\" ${{ github.token }}", "$HOME"]}}
- pipeline:
    name: e2e big grid
    nodes:
      - {name: sweep, type: task, task: grid}
      - {name: collect, type: execution, step: collect}
    edges:
      - [sweep.output.*, collect.input.rows]
"""


def test_product_grid_gives_every_leg_valohais_parameters(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, BIG_GRID)
    include = doc(flow)["jobs"]["sweep"]["strategy"]["matrix"]["include"]
    assert len(include) == 75
    # What Valohai would run: pipec's own sweep rows, in itertools.product order (last axis fastest).
    result = load_workflows(Request(file=str(flow.parent.parent.parent / "valohai.yaml")))
    sweep = next(j for j in result.workflows[0].jobs if j.id == "sweep").sweep
    rows = [sweep.row(i) for i in range(75)]
    product = [dict(zip("abc", combo)) for combo in itertools.product(
        [1, 2, 3, 4, 5], [0.5, 1.25, -2, 0.001, 3], ["x y", "it's \"q\" ${{ github.token }}", "$HOME"])]
    assert rows == product

    r = start(flow)
    assert r.conclusion == "success", r.logs()
    assert len(r.legs("sweep")) == 75
    for i, row in enumerate(rows):
        assert json.loads(files(artifact(r, "sweep", i))["p.json"]) == row, i
        assert params_json(execution(r, "sweep", i)) == row
        assert files(artifact(r, "sweep", i))["row.txt"] == f"{row['a']}|{row['b']}|{row['c']}", i
    staged = files(vh(execution(r, "collect"), "inputs/rows"))
    assert len(staged) == 150, sorted(staged)  # row.txt and p.json of every execution
    key = functools.partial(json.dumps, sort_keys=True)
    assert sorted(map(key, (json.loads(v) for k, v in staged.items() if k.startswith("p.")))) == sorted(map(key, rows))
    assert "row.sweep-74.txt" in staged and staged["row.txt"] == "1|0.5|x y"
    assert TOKEN not in json.dumps(staged)


WIDE = """\
- step:
    name: work
    image: busybox
    command:
      - echo {parameter-value:a} > $VH_OUTPUTS_DIR/row-{parameter-value:a}.txt
      - echo $PIPEC_EXECUTION > $VH_OUTPUTS_DIR/same.txt
    parameters:
      - {name: a, type: integer, default: 0}
- step:
    name: collect
    image: busybox
    command:
      - ls $VH_INPUTS_DIR/rows > $VH_OUTPUTS_DIR/names.txt
    inputs:
      - name: rows
- task:
    name: wide
    step: work
    type: grid_search
    parameters:
      - {name: a, style: linear, rules: {start: 1, end: 300, step: 1}}
- pipeline:
    name: e2e wide
    nodes:
      - {name: sweep, type: task, task: wide}
      - {name: collect, type: execution, step: collect}
    edges:
      - [sweep.output.*, collect.input.rows]
"""


def test_sweep_over_256_executions_is_split_into_matrix_parts(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, WIDE)
    jobs = doc(flow)["jobs"]
    assert list(jobs) == ["sweep", "sweep-part-2", "collect"]
    first, second = (jobs[j]["strategy"]["matrix"]["include"] for j in ("sweep", "sweep-part-2"))
    assert [row["i"] for row in first + second] == list(range(300))
    assert (len(first), len(second)) == (256, 44)
    assert jobs["collect"]["needs"] == ["sweep", "sweep-part-2"]
    r = start(flow, capacity=48)
    assert r.conclusion == "success", r.logs()
    assert (len(r.legs("sweep")), len(r.legs("sweep-part-2"))) == (256, 44)
    assert params_json(execution(r, "sweep", 299)) == {"a": 300}
    collect = execution(r, "collect")
    staged = files(vh(collect, "inputs/rows"))
    assert {k: v for k, v in staged.items() if k.startswith("row-")} == {f"row-{a}.txt": f"{a}\n" for a in range(1, 301)}
    # same.txt of every execution, in execution order: the first keeps its name, the rest are renamed
    assert staged["same.txt"] == "0\n" and staged["same.sweep-299.txt"] == "299\n"
    assert len(staged) == 600


def test_a_node_named_like_a_sweep_part_does_not_swallow_it(tmp_path: Path) -> None:
    text = WIDE.replace("      - {name: collect, type: execution, step: collect}",
                        "      - {name: collect, type: execution, step: collect}\n"
                        "      - {name: sweep-part-2, type: execution, step: collect}")
    flow = compile_or_refuse(tmp_path, text)
    if flow is None:
        return  # refusing the clash is a fix too
    Workflow(flow.read_text(encoding="utf-8"))
    rows: list[int] = []
    runs = []
    for job in doc(flow)["jobs"].values():
        env = run_step(job)["env"]
        runs.append(env["PIPEC_JOB"])
        if env["PIPEC_JOB"] == "sweep":
            rows += [row["i"] for row in job["strategy"]["matrix"]["include"]]
    assert sorted(rows) == list(range(300)) and "sweep-part-2" in runs


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
TRIGGER = '[triggers]\n"e2e params" = "0 3 * * 1-5"\n[gha.push]\nbranches = ["main"]\n'


def _greetings(r: Run) -> list[tuple[bytes, dict]]:
    return [((artifact(r, job, i) / "greeting.bin").read_bytes(), params_json(execution(r, job, i)))
            for job, i in (("single", 0), ("sweep", 0), ("sweep", 1))]


def test_pipeline_parameters_from_dispatch_inputs_and_defaults(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, PARAMS, toml=TRIGGER)
    on = doc(flow)["on"]
    assert on["workflow_dispatch"]["inputs"]["greeting"]["default"] == "hello"
    assert on["workflow_dispatch"]["inputs"]["epochs"] == {"description": "epochs", "required": False,
                                                           "type": "number", "default": "3"}
    assert on["schedule"] == [{"cron": "0 3 * * 1-5"}]
    defaults = [(b"hello", {"greeting": "hello", "epochs": 3}), (b"hello", {"greeting": "hello", "epochs": 10}),
                (b"hello", {"greeting": "hello", "epochs": 20})]
    r = start(flow, "dispatch-defaults")
    assert r.conclusion == "success", r.logs()
    assert _greetings(r) == defaults
    # A scheduled run has no inputs (inputs.* are null): the pipeline's defaults apply.
    r = start(flow, "schedule", event="schedule")
    assert r.conclusion == "success", r.logs()
    assert execution(r, "single").step("run").env["GITHUB_EVENT_NAME"] == "schedule"
    assert execution(r, "single").step("run").env["PIPEC_PARAM_0"] == ""
    assert _greetings(r) == defaults
    assert on["push"] == {"branches": ["main"]}
    r = start(flow, "push", event="push")
    assert r.conclusion == "success" and _greetings(r) == defaults, r.logs()
    r = start(flow, "override", inputs={"greeting": "bonjour", "epochs": "7"})
    assert r.conclusion == "success", r.logs()
    assert _greetings(r)[0] == (b"bonjour", {"greeting": "bonjour", "epochs": 7})
    assert files(artifact(r, "single"))["cli.txt"] == "--greeting=bonjour --epochs=7\n"
    assert _greetings(r)[2] == (b"bonjour", {"greeting": "bonjour", "epochs": 20})
    bad = start(flow, "bad", inputs={"epochs": "many"})
    assert bad.job("single").result == "failure" and bad.conclusion == "cancelled"  # single is stop-all
    assert "pipeline parameter epochs must be a number (integer), not 'many'" in step_text(bad, "single")
    with pytest.raises(GhaError, match="Unexpected inputs provided"):
        start(flow, "typo", inputs={"greting": "x"})


HOSTILE_INPUT = ("a'b\"c $(touch {pwned}) `touch {pwned}` ${{{{ github.token }}}} ${{{{ inputs.epochs }}}} "
                 "${{HOME}} \\ \\n \t tab\n newline\r\n ü ✓ 😀 %s %% '' }}}} -n")


def test_hostile_dispatch_input_arrives_byte_for_byte(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    value = HOSTILE_INPUT.format(pwned=pwned)
    r = run(tmp_path, PARAMS, {"greeting": value})
    assert r.conclusion == "success", r.logs()
    assert not pwned.exists(), "an input value was executed"
    for got, params in _greetings(r):
        assert got == value.encode() and params["greeting"] == value
    assert TOKEN not in json.dumps(_greetings(r)[0][1])


DEFAULT_EXPR = PARAMS.replace("        default: hello", "        default: \"${{ github.token }} $(touch PWNED) 'q'\"")


def test_a_default_holding_an_expression_applies_to_an_empty_input(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, DEFAULT_EXPR, toml=TRIGGER)
    spec = doc(flow)["on"]["workflow_dispatch"]["inputs"]["greeting"]
    assert "default" not in spec and spec["description"] == "greeting (default: $ {{ github.token }} $(touch PWNED) 'q')"
    want = "${{ github.token }} $(touch PWNED) 'q'"
    for event, inputs in (("workflow_dispatch", None), ("workflow_dispatch", {"greeting": ""}), ("schedule", None)):
        r = start(flow, f"{event}-{bool(inputs)}", event=event, inputs=inputs)
        assert r.conclusion == "success", r.logs()
        assert [g for g, _ in _greetings(r)] == [want.encode()] * 3, event
        assert not pwned(r)
    r = start(flow, "given", inputs={"greeting": "given"})
    assert [g for g, _ in _greetings(r)] == [b"given"] * 3


COLLIDING = """\
- step:
    name: a
    image: busybox
    command:
      - printf '%s|%s' {parameter-value:x-y} {parameter-value:x_y} > $VH_OUTPUTS_DIR/v.txt
    parameters:
      - {name: x-y, type: string, default: one}
      - {name: x_y, type: string, default: two}
- pipeline:
    name: e2e colliding
    parameters:
      - {name: x-y, targets: [a.parameter.x-y], default: one}
      - {name: x_y, targets: [a.parameter.x_y], default: two}
    nodes:
      - {name: a, type: execution, step: a}
    edges: []
"""


def test_parameters_whose_input_ids_collide_keep_their_own_values(tmp_path: Path) -> None:
    flow = compile_or_refuse(tmp_path, COLLIDING)
    if flow is None:
        return  # refusing the clash is a fix too
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    assert files(artifact(r, "a"))["v.txt"] == "one|two"


def test_a_pipeline_with_26_parameters_gives_a_workflow_github_accepts(tmp_path: Path) -> None:
    params = "\n".join(f"      - {{name: p{i}, type: integer, default: {i}}}" for i in range(26))
    pipeline_params = "\n".join(f"      - {{name: p{i}, targets: [a.parameter.p{i}], default: {i}}}" for i in range(26))
    text = (f"- step:\n    name: a\n    image: busybox\n    command: echo {{parameters}}\n    parameters:\n{params}\n"
            f"- pipeline:\n    name: e2e many\n    parameters:\n{pipeline_params}\n    nodes:\n"
            "      - {name: a, type: execution, step: a}\n    edges: []\n")
    flow = compile_or_refuse(tmp_path, text)
    if flow is None:
        return  # refusing the pipeline is a fix too
    Workflow(flow.read_text(encoding="utf-8"))  # GitHub accepts the file


MULTI = """\
- step:
    name: a
    image: busybox
    command:
      - echo {parameters} > $VH_OUTPUTS_DIR/cli.txt
      - cp $VH_CONFIG_DIR/parameters.json $VH_OUTPUTS_DIR/p.json
    parameters:
      - {name: layers, type: integer, multiple: separate, default: [1, 2]}
      - {name: tags, type: string, multiple: repeat, default: [x, y]}
- pipeline:
    name: e2e multi
    parameters:
      - {name: layers, targets: [a.parameter.layers], default: [3, 4]}
      - {name: tags, targets: [a.parameter.tags], default: [p, q]}
    nodes:
      - {name: a, type: execution, step: a}
    edges: []
"""


def test_a_pipeline_parameter_for_a_multi_valued_parameter(tmp_path: Path) -> None:
    r = run(tmp_path, MULTI)
    assert r.conclusion == "success", r.logs()
    out = files(artifact(r, "a"))
    assert out["cli.txt"] == "--layers=3,4 --tags=p --tags=q\n"
    assert json.loads(out["p.json"]) == {"layers": [3, 4], "tags": ["p", "q"]}


CHOICES = """\
- step:
    name: a
    image: busybox
    command:
      - printf '%s|' {parameter-value:mode} {parameter-value:size} {parameter-value:amp} > $VH_OUTPUTS_DIR/v.txt
      - cp $VH_CONFIG_DIR/parameters.json $VH_OUTPUTS_DIR/p.json
    parameters:
      - {name: mode, type: string, choices: [fast, "slow one", "it's $(touch PWNED)"], default: fast}
      - {name: size, type: integer, choices: [1, 2, 4], default: 2}
      - {name: amp, type: string, choices: ["true", "false"], default: "true"}
- pipeline:
    name: e2e choices
    parameters:
      - {name: mode, targets: [a.parameter.mode], default: "slow one"}
      - {name: size, targets: [a.parameter.size], default: 4}
      - {name: amp, targets: [a.parameter.amp], default: "false"}
    nodes:
      - {name: a, type: execution, step: a}
    edges: []
"""


def test_parameters_with_choices_become_choice_and_boolean_inputs(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, CHOICES)
    inputs = doc(flow)["on"]["workflow_dispatch"]["inputs"]
    assert inputs["mode"]["type"] == "choice" and inputs["mode"]["options"] == ["fast", "slow one", "it's $(touch PWNED)"]
    assert inputs["size"] == {"description": "size", "required": False, "type": "choice", "options": ["1", "2", "4"],
                              "default": "4"}
    assert inputs["amp"]["type"] == "boolean" and inputs["amp"]["default"] is False
    r = start(flow)  # the defaults
    assert r.conclusion == "success", r.logs()
    assert files(artifact(r, "a"))["v.txt"] == "slow one|4|false|"
    r = start(flow, "picked", inputs={"mode": "it's $(touch PWNED)", "size": "1", "amp": "true"})
    assert r.conclusion == "success", r.logs()
    out = files(artifact(r, "a"))
    assert out["v.txt"] == "it's $(touch PWNED)|1|true|" and not pwned(r)
    assert json.loads(out["p.json"]) == {"mode": "it's $(touch PWNED)", "size": 1, "amp": "true"}
    with pytest.raises(GhaError, match="not in the list of allowed values"):
        start(flow, "refused", inputs={"mode": "medium"})


def test_a_value_outside_the_choices_fails_the_job_where_github_does_not_check(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, CHOICES.replace("default: \"slow one\"", "default: medium"))
    inputs = doc(flow)["on"]["workflow_dispatch"]["inputs"]
    assert inputs["mode"]["type"] == "string"  # a choice input's default must be one of its options
    r = start(flow)
    assert r.job("a").result == "failure"
    assert "pipeline parameter mode must be one of 'fast', 'slow one', 'it's $(touch PWNED)', not 'medium'" in step_text(r, "a")


# -------------------------------------------------------- 4. hostile text in the file
HOSTILE_FILE = r"""
- step:
    name: echo
    image: busybox
    command:
      - printf '%s\n' '${{ github.token }}' '${{ secrets.GITHUB_TOKEN }}' '${{ matrix.i }}' '${{' '}}' "{{item}}" > $VH_OUTPUTS_DIR/expr.txt
      - printf '%s\n' 'it'"'"'s "dq" \back\slash $(touch PWNED) `touch PWNED` ü漢字😀' > $VH_OUTPUTS_DIR/quotes.txt
      - printf '%s' "$GREETING" > $VH_OUTPUTS_DIR/env.bin
      - printf '%s' {parameter-value:p} > $VH_OUTPUTS_DIR/p.bin
      - printf '%s' {parameter-value:n} > $VH_OUTPUTS_DIR/n.bin
    environment-variables:
      - name: GREETING
        default: "${{ github.token }} $(touch PWNED) '\" \\ ü ${{"
    parameters:
      - name: p
        type: string
        default: "${{ inputs.p }} }} ${{ '${{' }} $HOME"
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
        rules: {items: ["${{ github.token }}", "plain", "${{ '${{' }}", "}}", "${{"]}
- pipeline:
    name: e2e hostile ${{ github.ref }}
    nodes:
      - {name: single, type: execution, step: echo}
      - {name: sweep, type: task, task: t}
    edges: []
"""


def test_hostile_text_in_the_file_reaches_the_command_literally(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, HOSTILE_FILE)
    assert doc(flow)["name"] == "e2e hostile $ {{ github.ref }}"
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    spec = yaml.safe_load(HOSTILE_FILE)[0]["step"]
    greeting, p_default = spec["environment-variables"][0]["default"], spec["parameters"][0]["default"]
    sweep_values = ["${{ github.token }}", "plain", "${{ '${{' }}", "}}", "${{"]
    for job, i, n in [("single", 0, "x")] + [("sweep", k, v) for k, v in enumerate(sweep_values)]:
        out = files(artifact(r, job, i))
        assert out["expr.txt"] == "${{ github.token }}\n${{ secrets.GITHUB_TOKEN }}\n${{ matrix.i }}\n${{\n}}\n{{item}}\n"
        assert out["quotes.txt"] == "it's \"dq\" \\back\\slash $(touch PWNED) `touch PWNED` ü漢字😀\n"
        assert out["env.bin"] == greeting
        assert out["p.bin"] == p_default
        assert out["n.bin"] == n
        assert params_json(execution(r, job, i)) == {"p": p_default, "n": n}
    assert not pwned(r), "text was executed"
    assert not any(TOKEN in p.read_text(errors="replace") for leg in r.legs() for p in leg.temp.rglob("*")
                   if p.is_file()), "an expression in the file was evaluated"


def test_control_characters_in_a_command(tmp_path: Path) -> None:
    text = """\
    - step:
        name: colour
        image: busybox
        command:
          - "printf '%s' '\\e[31mred\\e[0m \\a bell \\x7f del \\u2028 ls' > $VH_OUTPUTS_DIR/c.bin"
    - pipeline:
        name: e2e colour
        nodes:
          - {name: colour, type: execution, step: colour}
        edges: []
    """
    r = run(tmp_path, text)
    assert r.conclusion == "success", r.logs()
    assert files(artifact(r, "colour"))["c.bin"] == "\x1b[31mred\x1b[0m \x07 bell \x7f del \u2028 ls"


# ------------------------------------------------------ 5. metadata -> parameter edges
LABEL = "it's $(touch PWNED) \"q\" {{workflow.name}} ${{ github.token }} ü"
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


def test_metadata_reaches_the_downstream_parameter_through_job_outputs(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, meta_pipeline())
    jobs = doc(flow)["jobs"]
    assert jobs["train"]["outputs"]["meta-0-json"] == "${{ steps.run.outputs.meta-0-json }}"
    env = run_step(jobs["evaluate"])["env"]
    assert env["PIPEC_VALUE_0_JSON"] == "${{ needs.train.outputs.meta-0-json }}"
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    assert params_json(execution(r, "evaluate")) == {"threshold": 0.9, "label": LABEL}  # the last line with the key wins
    assert files(artifact(r, "evaluate")) == {"threshold.txt": "0.9", "label.txt": LABEL}
    assert r.job("train").outputs["meta-0-text"] == "0.9"
    assert r.job("train").outputs["meta-1-text"].startswith("pipec-b64:")  # it holds '{{'
    assert not pwned(r), "metadata was executed"


def test_metadata_of_a_sweep_is_a_list_read_from_the_artifacts(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, meta_pipeline(kind="task", acc="os.environ[\"PIPEC_EXECUTION\"]", ptype="string"))
    jobs = doc(flow)["jobs"]
    assert "outputs" not in jobs["train"] and jobs["train"]["strategy"]["max-parallel"] == 2
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    starts = sorted(leg.started for leg in r.legs("train"))
    assert starts[2] >= min(leg.finished for leg in r.legs("train")), "max-parallel: 2 was not kept"
    assert params_json(execution(r, "evaluate")) == {"threshold": ["0", "1", "2"], "label": [LABEL] * 3}


def test_missing_metadata_fails_the_downstream_job_clearly(tmp_path: Path) -> None:
    r = run(tmp_path, meta_pipeline(key="precision"))
    assert r.conclusion == "cancelled"  # evaluate is stop-all: it cancels the run
    assert r.job("train").result == "success" and r.job("evaluate").result == "failure"
    err = step_text(r, "evaluate")
    assert "pipec: train printed no metadata 'precision'" in err, err
    assert "pipec.evaluate.0" not in r.artifacts  # it failed before its command: nothing to upload


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
    r = run(tmp_path, CONTINUE_META.format(limit=""))
    assert r.job("train").result == "failure" and r.job("pick").result == "success", r.logs()
    assert params_json(execution(r, "pick")) == {"best": [0, 2]}  # the successful executions' values


FANOUT = """\
- step:
    name: list
    image: busybox
    command: |
      python3 -c 'import json; print(json.dumps({"rates": [0.1, "x y ${{ github.token }}", {"deep": 1}, "{{item}}"]}))'
- step:
    name: train
    image: busybox
    command:
      - printf '%s' {parameter-value:lr} > /valohai/outputs/lr-$PIPEC_EXECUTION.txt
      - cp /valohai/config/parameters.json /valohai/outputs/params-$PIPEC_EXECUTION.json
    parameters:
      - {name: lr, type: string}
- step:
    name: gather
    image: busybox
    command: ls /valohai/inputs/all > /valohai/outputs/list.txt
    inputs:
      - name: all
- pipeline:
    name: fan
    nodes:
      - {name: list, type: execution, step: list}
      - {name: train, type: task, step: train}
      - {name: gather, type: execution, step: gather}
    edges:
      - [list.metadata.rates, train.parameter.lr]
      - [train.output.*, gather.input.all]
"""


def test_task_node_fans_out_over_a_metadata_list(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, FANOUT)
    strategy = doc(flow)["jobs"]["train"]["strategy"]
    assert strategy["matrix"]["include"] == "${{ fromJSON(needs.list.outputs.meta-0-items) }}"
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    assert len(r.legs("train")) == 4
    assert [files(artifact(r, "train", i))[f"lr-{i}.txt"] for i in range(4)] == [
        "0.1", "x y ${{ github.token }}", '{"deep": 1}', "{{item}}"]
    assert params_json(execution(r, "train", 1)) == {"lr": "x y ${{ github.token }}"}
    assert params_json(execution(r, "train", 2)) == {"lr": {"deep": 1}}
    listing = files(artifact(r, "gather"))["list.txt"].split()
    assert listing == [f"lr-{i}.txt" for i in range(4)] + [f"params-{i}.json" for i in range(4)]


def test_fan_out_over_a_key_the_upstream_never_printed_fails(tmp_path: Path) -> None:
    r = run(tmp_path, FANOUT.replace('{"rates": [', '{"other": ['))
    assert r.job("list").result == "success"
    assert r.job("train").result == "failure" and len(r.legs("train")) == 1
    assert "pipec: list printed no metadata 'rates'" in step_text(r, "train")
    assert r.job("gather").result == "skipped" and r.conclusion == "cancelled"  # train is stop-all


EMPTY_FANOUT = FANOUT.replace('[0.1, "x y ${{ github.token }}", {"deep": 1}, "{{item}}"]', "[]")


def test_an_empty_fan_out_list_runs_no_execution(tmp_path: Path) -> None:
    r = run(tmp_path, EMPTY_FANOUT.replace("      - name: all\n", "      - name: all\n        optional: true\n"))
    assert r.conclusion == "success", r.logs()
    assert r.job("train").result == "success" and not ran(r, "train")  # the "none" row skips every step
    assert not [name for name in r.artifacts if name.startswith("pipec.train.")]
    assert ran(r, "gather")


def test_an_input_that_is_not_optional_must_receive_files(tmp_path: Path) -> None:
    r = run(tmp_path, EMPTY_FANOUT)
    assert r.job("gather").result == "failure", r.logs()
    assert "pipec: input all received no files (mark it optional" in step_text(r, "gather")


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


def test_stop_all_cancels_the_run_and_its_running_jobs(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, POLICY.format(policy="stop-all", fail_after=0, slow=20))
    a = doc(flow)["jobs"]["a"]
    assert a["permissions"] == {"contents": "read", "actions": "write"}
    assert a["steps"][-1]["if"] == "${{ failure() || cancelled() }}" and "cancelWorkflowRun" in a["steps"][-1]["with"]["script"]
    began = time.monotonic()
    r = start(flow)
    assert time.monotonic() - began < 15, "the slow job was not cancelled"
    assert r.conclusion == "cancelled" and r.cancelled_by == "a#0", r.logs()
    assert r.job("a").result == "failure"
    assert execution(r, "a").step("Stop the run (on-error: stop-all)").outcome == "success"
    b = execution(r, "b")
    assert r.job("b").result == "cancelled" and b.step("run").outcome == "cancelled"
    assert b.step("Upload the execution").outcome == "skipped"  # if: !cancelled()
    assert not ran(r, "a-next") and not ran(r, "b-next"), "a job started after the run was cancelled"
    assert files(artifact(r, "a")) == {}, "a failed execution's outputs were uploaded"
    assert (artifact(r, "a", 0, ".pipec") / "failed").read_text().strip() == "3"


def test_stop_next_lets_an_independent_branch_finish(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, POLICY.format(policy="stop-next", fail_after=0, slow=1))
    assert "permissions" not in doc(flow)["jobs"]["a"]  # no cancelling: the workflow's contents: read
    r = start(flow)
    assert r.job("a").result == "failure" and r.job("a-next").result == "skipped"
    assert not ran(r, "a-next")
    assert r.job("b").result == "success" and r.job("b-next").result == "success", r.logs()
    assert files(vh(execution(r, "b-next"), "inputs/upstream")) == {"b.txt": "b-output\n"}
    assert files(artifact(r, "b-next")) == {"ran.txt": "b.txt\n"}
    assert r.conclusion == "failure"


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
- step:
    name: report
    image: busybox
    command:
      - cat $VH_INPUTS_DIR/merged/received.txt > $VH_OUTPUTS_DIR/report.txt
    inputs:
      - name: merged
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
      {report}
    edges:
      - [shards.output.part*, merge.input.parts]
      {report_edge}
"""


def continue_pipeline(limit: str = "", report: bool = False) -> str:
    return CONTINUE.format(limit=limit, report="- {name: report, type: execution, step: report}" if report else "",
                           report_edge="- [merge.output.*, report.input.merged]" if report else "")


@pytest.mark.parametrize("wrapped", [False, True], ids=["plain", "max-parallel"])
def test_continue_stages_only_the_successful_executions(tmp_path: Path, wrapped: bool) -> None:
    flow = compile_gha(tmp_path, continue_pipeline("maximum-queued-executions: 2" if wrapped else ""))
    jobs = doc(flow)["jobs"]
    assert jobs["shards"]["strategy"]["fail-fast"] is False
    assert jobs["merge"]["if"] == ("${{ !cancelled() && (needs.shards.result == 'success' || "
                                   "needs.shards.result == 'failure') }}")
    r = start(flow)
    assert [execution(r, "shards", i).result for i in range(3)] == ["success", "failure", "success"]
    assert r.job("shards").result == "failure"
    assert r.job("merge").result == "success", r.logs()
    staged = files(vh(execution(r, "merge"), "inputs/parts"))
    assert staged == {"part-1": "part-1\n", "part.txt": "common-1\n",
                      "part-3": "part-3\n", "part.shards-2.txt": "common-3\n"}
    assert files(artifact(r, "shards", 1)) == {}  # the failed execution uploaded no outputs
    assert (artifact(r, "shards", 1, ".pipec") / "failed").read_text().strip() == "7"


def test_continue_with_every_execution_failed_stops_the_downstream_at_its_gate(tmp_path: Path) -> None:
    r = run(tmp_path, continue_pipeline(), {"fail": "1,2,3"})
    assert [execution(r, "shards", i).result for i in range(3)] == ["failure"] * 3
    assert r.job("merge").result == "failure"  # its if accepts the failure; its gate stops it
    assert "pipec: no execution of shards succeeded" in step_text(r, "merge")
    assert not (artifact(r, "merge", 0, ".pipec") / "command.sh").exists()
    assert r.conclusion == "cancelled"  # merge is stop-all


def test_continue_does_not_skip_jobs_two_levels_down(tmp_path: Path) -> None:
    # GitHub's implicit success() asks every *ancestor* (actions/runner#2205, btclib-org/btclib#1470,
    # GSA/datagov-harvester#836): below a partly failed continue sweep, report needs its own if:.
    flow = compile_gha(tmp_path, continue_pipeline(report=True))
    assert doc(flow)["jobs"]["report"]["if"] == "${{ !cancelled() && needs.merge.result == 'success' }}"
    r = start(flow)
    assert r.job("shards").result == "failure" and r.job("merge").result == "success", r.logs()
    assert r.job("report").result == "success", r.logs()
    assert files(artifact(r, "report"))["report.txt"].split() == ["part-1", "part-3", "part.shards-2.txt", "part.txt"]


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


def test_retry_reruns_in_the_step_and_passes_on_only_the_successful_attempt(tmp_path: Path) -> None:
    counter = tmp_path / "state" / "attempts.log"
    counter.parent.mkdir(parents=True)
    flow = compile_gha(tmp_path, RETRY.format(counter=counter))
    flaky = doc(flow)["jobs"]["flaky"]
    assert run_step(flaky)["env"]["PIPEC_RETRIES"] == "2" and flaky["permissions"]["actions"] == "write"
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    assert counter.read_text() == "attempt\nattempt\n"
    assert "first attempt fails" in step_text(r, "flaky")
    assert (artifact(r, "flaky", 0, ".pipec") / "attempts").read_text().strip() == "2"
    assert files(artifact(r, "flaky")) == {"junk-2.txt": "partial\n", "result.txt": "ok\n"}
    staged = files(vh(execution(r, "after"), "inputs/result"))
    assert staged == {"junk-2.txt": "partial\n", "result.txt": "ok\n"}, "the failed attempt's junk-1 leaked"


def test_retry_that_never_succeeds_stops_the_run(tmp_path: Path) -> None:
    counter = tmp_path / "state" / "attempts.log"
    counter.parent.mkdir(parents=True)
    r = run(tmp_path, RETRY.format(counter=counter).replace("-lt 2", "-lt 99"))
    assert counter.read_text() == "attempt\n" * 3
    assert r.job("flaky").result == "failure" and r.conclusion == "cancelled" and not ran(r, "after")


# ------------------------------------------------------------------- 8. deployment
DEPLOY = """\
- step:
    name: train
    image: python:3.12
    command:
      - echo weights > $VH_OUTPUTS_DIR/model.pb
      - echo other > $VH_OUTPUTS_DIR/notes.txt
- endpoint:
    name: predict
    image: python:3.12
    server-command: python serve.py
    files:
      - name: model
        path: model.pb
- deployment:
    name: prod ${{ github.ref }}
    defaults:
      target: my-cluster
- pipeline:
    name: e2e deploy
    nodes:
      - {name: train, type: execution, step: train}
      - {name: ship, type: deployment, deployment: "prod ${{ github.ref }}", endpoints: [predict]}
    edges:
      - [train.output.model*, ship.file.predict.model]
"""
DEPLOY_TOML = """\
[deploy]
command = "python3 deploy.py"
"""
DEPLOY_PY = """\
import json, os
root = os.environ["VH_INPUTS_DIR"]
staged = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
facts = {k: os.environ[k] for k in ("PIPEC_DEPLOYMENT", "PIPEC_ENDPOINTS", "PIPEC_DEPLOY_FILES")}
with open(os.path.join(os.environ["VH_OUTPUTS_DIR"], "deployed.json"), "w") as fh:
    json.dump({"staged": staged, **facts}, fh)
"""


def test_deployment_node_runs_the_deploy_command_in_its_environment(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, DEPLOY, toml=DEPLOY_TOML)
    (flow.parent.parent.parent / "deploy.py").write_text(DEPLOY_PY)
    assert doc(flow)["jobs"]["ship"]["environment"] == "prod ${{ '${{' }} github.ref }}"
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    ship = execution(r, "ship")
    assert ship.environment == "prod ${{ github.ref }}"  # the name as written, not evaluated
    deployed = json.loads(files(artifact(r, "ship"))["deployed.json"])
    assert deployed == {"staged": ["predict.model/model.pb"], "PIPEC_DEPLOYMENT": "prod ${{ github.ref }}",
                        "PIPEC_ENDPOINTS": "predict", "PIPEC_DEPLOY_FILES": "predict.model=model.pb"}
    assert execution(r, "train").container == {"image": "python:3.12"}


# ------------------------------------------------------ a group (Valohai distributed)
GROUP = """\
- step:
    name: worker
    image: python:3.12
    command:
      - python3 member.py
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
# Members serve their rank at the host and port their config gives them until stopped; the
# lead asks each member and writes what it heard.
MEMBER = r'''
import json, os, socket, time
rank = int(os.environ["PIPEC_RANK"])
config = os.environ["VH_CONFIG_DIR"]
cfg = json.load(open(os.path.join(config, "distributed.json")))
port = json.load(open(os.path.join(config, "parameters.json")))["port"]
ports = PORTS_JSON
out = os.environ["VH_OUTPUTS_DIR"]
if rank > 0:
    srv = socket.create_server((cfg["hosts"][rank], port))
    open(os.path.join(out, "started"), "w").write(cfg["hosts"][0])
    while True:
        conn, _ = srv.accept()
        conn.sendall(f"member {rank}".encode())
        conn.close()
heard = []
for r in range(1, cfg["size"]):
    for _ in range(200):
        try:
            with socket.create_connection((cfg["hosts"][r], ports[r]), timeout=1) as s:
                heard.append(s.recv(100).decode())
            break
        except OSError:
            time.sleep(0.05)
open(os.path.join(out, "heard.txt"), "w").write("\n".join(heard))
'''


def free_ports(n: int) -> list[int]:
    import socket
    ports = []
    for _ in range(n):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    return ports


def compile_without_images(tmp_path: Path, text: str) -> Path:
    """Compile with every job's image removed in the IR (as a dialect without images gives)."""
    from pipec.backends.gha import compile_workflows
    from pipec.errors import Diagnostics

    flow = compile_gha(tmp_path, text)
    repo = flow.parent.parent.parent
    result = load_workflows(Request(file=str(repo / "valohai.yaml"), target="gha"))
    workflows = [dataclasses.replace(wf, jobs=tuple(dataclasses.replace(j, image=None) for j in wf.jobs))
                 for wf in result.workflows]
    diags = Diagnostics()
    out = compile_workflows(workflows, result.config, diags)
    assert diags.error_count() == 0
    for rel, (content, _) in out.items():
        (repo / rel).write_text(content, encoding="utf-8")
    return flow


def test_a_group_without_an_image_runs_its_members_as_processes(tmp_path: Path) -> None:
    import socket
    ports = free_ports(3)
    flow = compile_without_images(tmp_path, GROUP.format(ports=json.dumps(ports)))
    (flow.parent.parent.parent / "member.py").write_text(MEMBER.replace("PORTS_JSON", json.dumps(ports)))
    job = doc(flow)["jobs"]["workers"]
    assert "strategy" not in job and "container" not in job and run_step(job)["run"].endswith("\npipec_group 3\n")
    assert "PIPEC_GROUP_IMAGE" not in run_step(job)["env"]
    r = start(flow, timeout=60)
    assert r.conclusion == "success", r.logs()
    leg = r.legs("workers")[0]
    assert leg.orphans == [], "a member outlived the group's step"
    assert files(artifact(r, "workers", 0))["heard.txt"] == "member 1\nmember 2"
    for rank in (1, 2):
        assert files(artifact(r, "workers", rank))["started"] == "127.0.0.1"
        assert (artifact(r, "workers", rank, ".pipec") / "ok").exists()  # the group succeeded
        member = leg.temp / "pipec" / f"m{rank}" / "exec"
        assert json.loads((member / "config" / "parameters.json").read_text()) == {"port": ports[rank]}
    for port in ports[1:]:  # the members' servers are gone (their listening sockets with them)
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT, not past LISTEN
            probe.bind(("127.0.0.1", port))


# Without a Docker engine here, members cannot reach each other by container name: each
# member records what it was told and waits to be stopped; the lead checks its view and ends.
DOCKER_MEMBER = r'''
import json, os, sys, time
rank = int(os.environ["PIPEC_RANK"])
cfg = json.load(open(os.path.join(os.environ["VH_CONFIG_DIR"], "distributed.json")))
out = os.environ["VH_OUTPUTS_DIR"]
seen = {"hosts": cfg["hosts"], "lead": os.environ["PIPEC_LEAD_HOST"], "cwd": os.getcwd(),
        "port": json.load(open(os.path.join(os.environ["VH_CONFIG_DIR"], "parameters.json")))["port"]}
open(os.path.join(out, "seen.json"), "w").write(json.dumps(seen))
print(f"member {rank} says hello", flush=True)
if rank > 0:
    open(os.path.join(out, "pid"), "w").write(str(os.getpid()))
    time.sleep(600)
for r in range(1, cfg["size"]):  # the lead waits for the members to be up
    for _ in range(400):
        if os.path.exists(os.path.join(os.environ["PIPEC_GROUP_ROOT"], f"m{r}", "exec", "outputs", "pid")):
            break
        time.sleep(0.05)
    else:
        sys.exit(f"member {r} never started")
print(json.dumps({"lead_saw": len(cfg["hosts"])}))
sys.exit(int(os.environ.get("LEAD_EXIT", "0")))
'''


def run_docker_group(tmp_path: Path, lead_exit: int = 0) -> tuple[Path, Run, list[dict], Path]:
    from tests.harness import fake_docker
    ports = free_ports(3)
    text = GROUP.format(ports=json.dumps(ports)).replace(
        "    command:\n      - python3 member.py\n",
        "    command:\n      - python3 member.py\n    environment-variables:\n"
        f"      - {{name: LEAD_EXIT, default: '{lead_exit}'}}\n")
    flow = compile_gha(tmp_path, text)
    (flow.parent.parent.parent / "member.py").write_text(DOCKER_MEMBER)
    state = tmp_path / "docker"
    fake_docker.install(tmp_path / "bin", state)
    old = os.environ["PATH"]
    os.environ["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{old}"
    try:
        r = start(flow, timeout=60)
    finally:
        os.environ["PATH"] = old
    return flow, r, fake_docker.calls(state), state


def test_a_group_with_an_image_runs_its_members_as_containers_on_a_network_of_its_own(tmp_path: Path) -> None:
    flow, r, calls, state = run_docker_group(tmp_path)
    job = doc(flow)["jobs"]["workers"]
    assert "container" not in job, "the group's job runs on the runner, which starts the containers"
    env = run_step(job)["env"]
    assert env["PIPEC_GROUP_IMAGE"] == "python:3.12" and env["PIPEC_RUNTIME"] == ".github/pipec/pipec-runtime.sh"
    assert r.conclusion == "success", r.logs()
    verbs = [c["argv"][0] + (" " + c["argv"][1] if c["argv"][0] == "network" else "") for c in calls]
    assert verbs[0] == "network create" and verbs[-1] == "network rm"
    net = calls[0]["argv"][2]
    runs = [c["argv"] for c in calls if c["argv"][0] == "run"]
    names = [a[a.index("--name") + 1] for a in runs]
    assert names == [f"{net}-2", f"{net}-1", f"{net}-0"], "members first, the lead last"
    assert ["-d" in a for a in runs] == [True, True, False]
    leg = r.legs("workers")[0]
    for argv in runs:
        assert argv[argv.index("--network") + 1] == net
        assert argv[argv.index("--entrypoint") + 1] == "sh" and "python:3.12" in argv
        assert not any("=" in argv[i + 1] for i, a in enumerate(argv) if a == "-e"), "values on a command line"
        assert {"PIPEC_COMMAND", "PIPEC_PARAMETERS_2", "PIPEC_HOSTS", "GITHUB_OUTPUT"} <= {
            argv[i + 1] for i, a in enumerate(argv) if a == "-e"}
    hosts = [f"{net}-{rank}" for rank in range(3)]
    for rank in range(3):
        seen = json.loads(files(artifact(r, "workers", rank))["seen.json"])
        assert seen["hosts"] == hosts and seen["lead"] == hosts[0]
        assert seen["cwd"] == str(leg.workspace)
    for rank in (1, 2):
        assert (artifact(r, "workers", rank, ".pipec") / "ok").exists()
        pid = int(files(artifact(r, "workers", rank))["pid"])
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
    assert not list((state / "containers").glob("*.json")) and not list((state / "networks").iterdir())
    out = leg.step("run").stdout
    assert "member 0 says hello" in out
    assert f"::group::member 1 ({net}-1)" in out and "member 1 says hello" in out  # members' logs shown


def test_a_group_with_an_image_fails_with_its_lead_and_stops_the_members(tmp_path: Path) -> None:
    _, r, calls, state = run_docker_group(tmp_path, lead_exit=3)
    assert r.job("workers").result == "failure", r.logs()
    assert not list((state / "containers").glob("*.json")), "a member container outlived the group"
    assert [c["argv"][:2] for c in calls][-1] == ["network", "rm"]
    for rank in (1, 2):
        assert not (artifact(r, "workers", rank, ".pipec") / "ok").exists()


def test_a_group_with_an_image_needs_docker_on_the_runner(tmp_path: Path) -> None:
    flow = compile_gha(tmp_path, GROUP.format(ports="[1, 2, 3]"))
    old = os.environ["PATH"]
    bare = tmp_path / "bare"
    bare.mkdir()
    for tool in ("sh", "bash", "python3", "env", "sed", "sort", "mkdir", "cat", "ln", "rm", "mv", "awk", "tee",
                 "date", "printf", "id", "dirname", "basename", "find", "xargs", "cp", "grep", "wc", "paste", "sleep"):
        found = shutil.which(tool)
        if found:
            (bare / tool).symlink_to(found)
    os.environ["PATH"] = str(bare)
    try:
        r = start(flow, timeout=60)
    finally:
        os.environ["PATH"] = old
    assert r.job("workers").result == "failure"
    assert "a group with an image needs Docker on the runner" in execution(r, "workers").step("run").stderr


# ------------------------------------------------------------------- timeouts
def test_a_time_limit_becomes_timeout_minutes(tmp_path: Path) -> None:
    text = POLICY.format(policy="stop-next", fail_after=30, slow=0).replace(
        "    name: fail\n    image: busybox\n", "    name: fail\n    image: busybox\n    time-limit: 90s\n")
    flow = compile_gha(tmp_path, text)
    assert doc(flow)["jobs"]["a"]["timeout-minutes"] == 2
    began = time.monotonic()
    r = start(flow, minute=0.25)  # the emulator's minute: 0.25 s
    assert time.monotonic() - began < 10
    assert r.job("a").result == "failure" and execution(r, "a").step("run").outcome == "cancelled"
    assert not ran(r, "a-next") and r.job("b-next").result == "success", r.logs()


def test_a_stop_all_job_that_times_out_stops_the_run(tmp_path: Path) -> None:
    text = POLICY.format(policy="stop-all", fail_after=30, slow=5).replace(
        "    name: fail\n    image: busybox\n", "    name: fail\n    image: busybox\n    time-limit: 60s\n")
    flow = compile_gha(tmp_path, text)
    began = time.monotonic()
    r = start(flow, minute=0.25)
    assert time.monotonic() - began < 10, "the slow job was not cancelled"
    assert r.conclusion == "cancelled", r.logs()
    assert execution(r, "a").step("run").outcome == "cancelled"
    assert r.job("b").result == "cancelled" and not ran(r, "b-next")


# ------------------------------------------ download-artifact: a lone match is flat since v5
# Since v5.0.0 a `pattern` matching exactly one artifact is extracted straight into `path`
# (src/download-artifact.ts: `isSingleArtifactDownload || inputs.mergeMultiple ||
# artifacts.length === 1`; README: "This change also applies to patterns that only match a single
# artifact"), v4 made path/<name>/. Every artifact carries its execution's directory, so the
# layout must not depend on the version or on the number of executions.
PINS = {"default": None,
        "v4.3.0": ("d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
        "v5.0.0": ("634f93cb2916e3fdff6788551b99b062d0335ce0", "v5.0.0")}


@pytest.mark.parametrize("pin", list(PINS))
def test_files_of_a_single_execution_upstream_arrive(tmp_path: Path, pin: str) -> None:
    toml = None
    if PINS[pin]:
        sha, version = PINS[pin]
        toml = f'[gha.pins."actions/download-artifact"]\nsha = "{sha}"\nversion = "{version}"\n'
    r = run(tmp_path, POLICY.format(policy="stop-next", fail_after=0, slow=0).replace("      - exit 3\n", ""),
            toml=toml)
    assert r.conclusion == "success", r.logs()
    assert files(artifact(r, "b-next")) == {"ran.txt": "b.txt\n"}
    assert files(artifact(r, "a-next")) == {"ran.txt": "attempted.txt\n"}


# ------------------------------------------------------------------- the emulator itself
def _scope(**contexts) -> Scope:
    return Scope(contexts, "test", {"success": True, "failure": False, "cancelled": False, "always": True})


def test_emulator_expressions_follow_github() -> None:
    s = _scope(inputs={"Name": "Ab"}, matrix={"i": 0, "text": "x"}, needs={"a-b": {"result": "success",
                                                                                  "outputs": {"meta-0-items": '[{"i": "0"}]'}}})
    assert render("${{ '${{' }} github.token }}", s) == "${{ github.token }}"
    assert render("it''s ${{ 'it''s' }} ${{ '}}' }}", s) == "it''s it's }}"
    assert render("pipec.x.${{ matrix.i }}", s) == "pipec.x.0" and render("${{ matrix.i }}", s) == 0
    assert render("${{ fromJSON(needs.a-b.outputs.meta-0-items) }}", s) == [{"i": "0"}]
    assert evaluate("inputs.name == 'aB' && inputs.missing == null && inputs['NAME']", s) == "Ab"
    assert evaluate("needs.a-b.result == 'success' || 1", s) is True
    assert evaluate("'' || 0 || 'x'", s) == "x" and evaluate("!null && 1 == '1' && 0x10 == 16 && '' == 0", s) is True
    assert evaluate("format('{0}-{{1}}', 3)", s) == "3-{1}" and evaluate("contains(fromJSON('[1,2]'), 2)", s) is True
    for bad, message in [("nope.x", "Unrecognized named-value"), ("frobnicate(1)", "Unrecognized function"),
                         ("a ==", "unexpected end"), ("'open", "unexpected symbol"), ("needs.*.result", "filters")]:
        with pytest.raises(GhaError, match=message):
            evaluate(bad, _scope(a=1, needs={}))
    with pytest.raises(GhaError, match="not closed"):
        render("${{ matrix.i", s)
    with pytest.raises(GhaError, match="only allowed in an if"):
        render("${{ success() }}", Scope({}, "env"))
    # if: implicit success(), status functions, optional ${{ }}, text around an expression
    failing = Scope({"needs": {"a": {"result": "failure"}}}, "job if",
                    {"success": False, "failure": True, "cancelled": False, "always": True})
    assert not condition(None, failing) and not condition("needs.a.result == 'failure'", failing)
    assert condition("${{ failure() && needs.a.result == 'failure' }}", failing)
    assert condition("${{ !cancelled() }}", failing) and condition("${{ false }} text", failing)


EMULATOR_FLOW = """\
name: emulator semantics
on:
  workflow_dispatch:
    inputs:
      fail: {description: which leg fails, required: false, type: string, default: "1"}
permissions: {contents: read}
env: {WF: workflow}
jobs:
  legs:
    runs-on: ubuntu-latest
    strategy:
      fail-fast: true
      max-parallel: 2
      matrix:
        include: [{n: 0}, {n: 1}, {n: 2}, {n: 3}]
    env: {JOB: "job-${{ matrix.n }}"}
    steps:
      - id: s
        run: |
          if [ "${{ matrix.n }}" = "${{ inputs.fail }}" ]; then exit 5; fi
          sleep "${{ inputs.fail == 'none' && '0' || '2' }}"
          echo "n=$JOB $WF" >> "$GITHUB_OUTPUT"
      - if: ${{ always() }}
        run: echo "outcome=${{ steps.s.outcome }} status=${{ job.status }}" > "$RUNNER_TEMP/last.txt"
  single:
    runs-on: ubuntu-latest
    outputs:
      value: ${{ steps.out.outputs.value }}
    steps:
      - id: out
        shell: sh
        run: |
          printf 'value<<EOF\\nline 1\\nline=2\\nEOF\\n' >> "$GITHUB_OUTPUT"
          echo "EXTRA=from-env-file" >> "$GITHUB_ENV"
      - run: test "$EXTRA" = from-env-file && test "$WF" = workflow
      - name: leaves a process behind
        run: sleep 30 > /dev/null 2>&1 &
  after-legs:
    needs: [legs, single]
    runs-on: ubuntu-latest
    steps:
      - run: echo ran
  always:
    needs: after-legs
    if: ${{ always() && needs.after-legs.result == 'skipped' }}
    runs-on: ubuntu-latest
    steps:
      - env: {V: "${{ needs.after-legs.result }}"}
        run: test "$V" = skipped
  two-down:
    needs: always
    runs-on: ubuntu-latest
    steps:
      - run: echo "success() looks at every ancestor"
"""


def test_emulator_matrix_fail_fast_outputs_and_transitive_success(tmp_path: Path) -> None:
    flow = tmp_path / "repo" / ".github" / "workflows" / "x.yml"
    flow.parent.mkdir(parents=True)
    flow.write_text(EMULATOR_FLOW)
    r = start(flow, capacity=8)
    legs = r.legs("legs")
    # max-parallel 2: legs 0 and 1 start; 1 fails at once, fail-fast cancels 0 (running) and 2, 3 (queued)
    assert [leg.result for leg in legs] == ["cancelled", "failure", "cancelled", "cancelled"], r.logs()
    assert [leg.has_step("s") for leg in legs] == [True, True, False, False]
    assert (legs[1].temp / "last.txt").read_text() == "outcome=failure status=failure\n"
    assert (legs[0].temp / "last.txt").read_text() == "outcome=cancelled status=cancelled\n"
    assert r.job("legs").result == "failure"
    assert r.job("single").outputs == {"value": "line 1\nline=2"}
    assert r.legs("single")[0].orphans == ["leaves a process behind"]  # killed when the job ended
    assert r.job("after-legs").result == "skipped" and r.job("always").result == "success"
    assert r.job("two-down").result == "skipped", "success() must look past the direct needs"
    ok = start(flow, "ok", inputs={"fail": "none"})
    assert r.conclusion == "failure" and ok.conclusion == "success", ok.logs()
    assert ok.job("legs").outputs == {} and ok.job("two-down").result == "skipped"  # always did not run
    assert sorted(leg.step("s").outputs["n"] for leg in ok.legs("legs")) == [f"job-{n} workflow" for n in range(4)]


def test_emulator_artifacts_follow_upload_and_download_artifact(tmp_path: Path) -> None:
    flow = tmp_path / "repo" / ".github" / "workflows" / "x.yml"
    flow.parent.mkdir(parents=True)
    up = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02"
    down4 = "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093"
    down5 = "actions/download-artifact@634f93cb2916e3fdff6788551b99b062d0335ce0"
    flow.write_text(f"""\
on: push
jobs:
  make:
    runs-on: ubuntu-latest
    steps:
      - run: |
          mkdir -p d/a/x d/b/.hid d/empty
          echo 1 > d/a/x/one; echo 2 > d/b/two; echo 3 > d/b/.hid/three; echo 4 > d/b/.dot; echo 5 > single.txt
          ln -s ../b/two d/a/link
      - uses: {up}
        with: {{name: lca, path: "d/a/x\\nd/b\\n", include-hidden-files: true}}
      - uses: {up}
        with: {{name: nohidden, path: "d/b"}}
      - uses: {up}
        with: {{name: lone, path: single.txt}}
      - uses: {up}
        with: {{name: none, path: d/empty, if-no-files-found: ignore}}
      - uses: {up}
        with: {{name: links, path: d/a}}
  take:
    needs: make
    runs-on: ubuntu-latest
    steps:
      - uses: {down4}
        with: {{pattern: "l*", path: v4}}
      - uses: {down5}
        with: {{pattern: "lo?e", path: v5}}
      - uses: {down4}
        with: {{name: nohidden, path: named}}
      - run: find v4 v5 named -type f | sort > "$RUNNER_TEMP/found.txt"
      - uses: {up}
        with: {{name: lone, path: v5}}
""")
    r = start(flow, event="push")
    assert r.job("make").result == "success", r.logs()
    assert files(r.artifact("lca")) == {"a/x/one": "1\n", "b/two": "2\n", "b/.hid/three": "3\n", "b/.dot": "4\n"}
    assert files(r.artifact("nohidden")) == {"two": "2\n"}
    assert files(r.artifact("lone")) == {"single.txt": "5\n"} and "none" not in r.artifacts
    assert files(r.artifact("links")) == {"x/one": "1\n", "link": "2\n"}
    take = r.legs("take")[0]
    assert (take.temp / "found.txt").read_text().split() == [
        "named/two", "v4/lca/a/x/one", "v4/lca/b/.dot", "v4/lca/b/.hid/three", "v4/lca/b/two",
        "v4/links/link", "v4/links/x/one", "v4/lone/single.txt", "v5/single.txt"]
    last = take.steps[-1]
    assert last.outcome == "failure" and "(409) Conflict" in last.message


def test_emulator_refuses_what_github_would(tmp_path: Path) -> None:
    base = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"
    Workflow(base)
    for text, message in [
        (base + "  a:\n    runs-on: x\n    steps: [{run: echo}]\n", "already defined"),
        (base.replace("jobs:", "jobs:\n  b:\n    needs: c\n    runs-on: x\n    steps: [{run: echo}]"), "unknown job"),
        (base.replace("      - run: echo", "      - uses: actions/checkout@v4"), "pin by full commit SHA"),
        (base.replace("      - run: echo", "      - run: echo\n        continue-on-error: true"), "not emulated"),
        (base.replace("      - run: echo", "      - run: " + "x" * 21001), "21000"),
        ("name: ${{ github.ref }}\n" + base, "allows no expression"),
    ]:
        with pytest.raises(GhaError, match=message):
            Workflow(text)
    flow = tmp_path / "w.yml"
    flow.write_text(base.replace("      - run: echo", "      - run: echo ${{ matrix.x }}\n"
                                 "    if: ${{ matrix.x == 1 }}"))
    r = run_workflow(flow, workspace=tmp_path, workdir=tmp_path / "gh", event="push")
    assert r.job("a").result == "failure" and "Unrecognized named-value: 'matrix'" in r.job("a").message
    with pytest.raises(GhaError, match="does not run on schedule"):
        run_workflow(flow, workspace=tmp_path, workdir=tmp_path / "gh2", event="schedule")
    out = tmp_path / "out.txt"
    out.write_text("a=1\n\nb<<X\nline\n\nX\nc=x<<y\n")
    assert _file_command(out) == {"a": "1", "b": "line\n", "c": "x<<y"}
    out.write_text("b<<X\nnever closed\n")
    with pytest.raises(Exception, match="Matching delimiter not found"):
        _file_command(out)


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.valohai.yaml")))
def test_every_example_compiles_to_workflows_the_emulator_accepts(tmp_path: Path, example: str) -> None:
    result = CliRunner().invoke(main, ["compile", str(EXAMPLES / example), "--target", "gha", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    flows = sorted((tmp_path / ".github" / "workflows").glob("*.yml"))
    assert flows

    def strings(node):
        if isinstance(node, dict):
            for v in node.values():
                yield from strings(v)
        elif isinstance(node, list):
            for v in node:
                yield from strings(v)
        elif isinstance(node, str) and "${{" in node:
            yield node

    for flow in flows:
        wf = Workflow(flow.read_text(encoding="utf-8"), flow.name)
        assert all(_split(text) for text in strings(wf.doc))  # every expression parses
