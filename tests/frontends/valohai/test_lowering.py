"""What the Valohai front end puts in the IR: resolution of overrides, edges, pipeline
parameters, sweeps, groups and file/pipeline/step selection."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from pipec import ir
from pipec.cli import main
from pipec.driver import Request, UsageError, load_workflows
from tests.requests import valohai_request

STEPS = """
- step:
    name: prep
    image: python:3.12
    command: python prep.py {parameters}
    parameters:
      - {name: seed, type: integer, default: 7}
    inputs:
      - {name: raw, default: [s3://bucket/raw.csv]}
    environment-variables:
      - {name: DATA_VERSION, default: "v3"}
- step:
    name: Train model
    image: python:3.12
    command:
      - pip install -r requirements.txt
      - python train.py {parameters}
    time-limit: 1h 30m
    environment: aws-eu-west-1-p3-2xlarge
    resources: {cpu: {min: 2, max: 4}, memory: {min: 4096}, devices: {nvidia.com/gpu: 2}}
    parameters:
      - {name: learning_rate, type: float, default: 0.001, pass-as: "--lr={v}"}
      - {name: epochs, type: integer, default: 10}
      - {name: seed, type: integer, default: 1}
      - {name: tags, type: string, multiple: separate, default: [a]}
    inputs:
      - {name: dataset, default: https://example.com/d.csv}
      - {name: extra, default: https://example.com/e.csv, optional: true}
    outputs:
      - {name: model}
"""


def workflows(write, text: str, **kw) -> list[ir.Workflow]:
    result = load_workflows(valohai_request(write(textwrap.dedent(text)), **kw))
    errors = [d.format_text() for d in result.diagnostics if d.severity.value == "error"]
    assert not errors, errors
    return result.workflows


def warnings(write, text: str, **kw) -> list[str]:
    result = load_workflows(valohai_request(write(textwrap.dedent(text)), **kw))
    return [d.message for d in result.diagnostics if d.severity.value == "warning"]


def one(write, text: str, **kw) -> ir.Workflow:
    [wf] = workflows(write, text, **kw)
    return wf


def test_job_fields_from_step(write):
    wf = one(write, STEPS + """
- pipeline:
    name: p
    nodes:
      - {name: Train Node, type: execution, step: Train model}
    edges: []
""")
    [job] = wf.jobs
    assert job.id == "train-node" and job.name == "Train Node" and job.step == "Train model"
    assert job.command == ir.Command(ir.CommandKind.SHELL, (
        (ir.Text("pip install -r requirements.txt"),), (ir.Text("python train.py "), ir.Args(None))))
    assert job.timeout_seconds == 5400
    assert job.resources == ir.Resources(cpu=2, cpu_limit=4, memory_mb=4096, gpus=2,
                                         profile="aws-eu-west-1-p3-2xlarge", devices=(("nvidia.com/gpu", 2.0),))
    assert job.param("tags").value == ["a"] and job.param("tags").args.multiple == "join"
    assert job.param("learning_rate").args.words == ("--lr={v}",)
    assert job.input("dataset").urls == ("https://example.com/d.csv",)
    assert job.on_error is ir.OnError.STOP_ALL


def test_override_replaces_defaults_and_edges_replace_urls(write):
    wf = one(write, STEPS + """
- pipeline:
    name: p
    nodes:
      - {name: prep, type: execution, step: prep}
      - name: train
        type: execution
        step: Train model
        on-error: retry
        override:
          image: python:3.13
          parameters:
            - {name: epochs, default: 50}
            - {name: seed}
          inputs:
            - {name: extra}
    edges:
      - [prep.output.*.csv, train.input.dataset]
""")
    train = wf.job("train")
    assert train.image == "python:3.13"
    assert train.param("epochs").value == 50 and train.param("epochs").type == "integer"
    assert train.param("seed").value is None  # an override without a default clears it
    assert train.input("dataset").urls == ()  # edge-merge-mode: replace (the default)
    assert train.input("extra").urls == ()
    assert train.on_error is ir.OnError.RETRY and train.retries == 2
    [d] = wf.dependencies
    assert (d.source, d.target, d.kind, d.source_key, d.target_key) == ("prep", "train", ir.DepKind.FILES, "*.csv", "dataset")


def test_edge_merge_mode_append_keeps_urls(write):
    wf = one(write, STEPS + """
- pipeline:
    name: p
    nodes:
      - {name: prep, type: execution, step: prep}
      - {name: train, type: execution, step: Train model, edge-merge-mode: append}
    edges:
      - [prep.output.*.csv, train.input.dataset]
""")
    assert wf.job("train").input("dataset").urls == ("https://example.com/d.csv",)


def test_static_edges_and_pipeline_parameters(write):
    wf = one(write, STEPS + """
- pipeline:
    name: p
    parameters:
      - {name: lr, targets: [train.parameter.learning_rate], default: 0.5, description: Learning rate}
      - {name: tags, target: train.parameter.tags, default: x}
    nodes:
      - {name: prep, type: execution, step: prep}
      - {name: train, type: execution, step: Train model}
    edges:
      - [prep.parameter.seed, train.parameter.seed]
      - [prep.environment-variable.DATA_VERSION, train.environment-variable.DATA_VERSION]
      - [prep.metadata.best_epochs, train.parameter.epochs]
""")
    train = wf.job("train")
    assert train.param("seed").value == 7
    assert train.param("learning_rate").value == 0.5
    assert train.param("tags").value == ["x"]  # listified for a multiple parameter
    assert [(e.name, e.value) for e in train.env] == [("DATA_VERSION", "v3")]
    assert [(p.name, p.value, p.targets, p.description) for p in wf.params] == [
        ("lr", 0.5, (("train", "learning_rate"),), "Learning rate"), ("tags", "x", (("train", "tags"),), None)]
    kinds = [d.kind for d in wf.dependencies]
    assert kinds == [ir.DepKind.PARAMETER, ir.DepKind.ENV, ir.DepKind.METADATA]


GRID = STEPS + """
- task:
    name: grid
    step: Train model
    type: grid-search
    maximum-queued-executions: 3
    execution-batch-size: 5
    parameters:
      - {name: learning_rate, style: logspace, rules: {start: -3, end: -1, count: 3, base: 10}}
      - {name: epochs, style: multiple, rules: {items: [5, 10]}}
      - {name: seed, style: linear, rules: {start: 1, end: 3, step: 1}}
- pipeline:
    name: p
    nodes:
      - {name: train, type: task, task: grid}
    edges: []
"""


def test_grid_search_blueprint(write):
    sweep = one(write, GRID).job("train").sweep
    assert sweep.kind is ir.SweepKind.PRODUCT and sweep.size == 18 and sweep.max_parallel == 3
    assert sweep.origin == "grid_search"
    assert sweep.row(0) == {"learning_rate": 0.001, "epochs": 5, "seed": 1}
    assert sweep.row(17) == {"learning_rate": 0.1, "epochs": 10, "seed": 3}


def test_random_and_bayesian_blueprints(write):
    text = STEPS + """
- task:
    name: rs
    step: Train model
    type: {type}
    execution-count: 5
    parameters:
      - {name: learning_rate, style: random, rules: {min: 0.0001, max: 0.1, distribution: log-uniform, seed: 42}}
      - {name: epochs, style: multiple, rules: {items: [5, 10, 20]}}
- pipeline:
    name: p
    nodes:
      - {name: train, type: task, task: rs}
    edges: []
"""
    sweep = one(write, text.replace("{type}", "random_search")).job("train").sweep
    assert sweep.kind is ir.SweepKind.RANDOM and sweep.size == 5 and sweep.seed == 42
    rows = list(sweep.iter_rows())
    assert all(0.0001 <= r["learning_rate"] <= 0.1 and r["epochs"] in (5, 10, 20) for r in rows)
    assert rows == list(one(write, text.replace("{type}", "random_search")).job("train").sweep.iter_rows())
    assert any("seeded random search" in w for w in warnings(write, text.replace("{type}", "bayesian_tpe")))


def test_manual_search_keeps_rows(write):
    sweep = one(write, STEPS + """
- task:
    name: sets
    step: Train model
    type: manual_search
    parameter-sets:
      - {learning_rate: 0.1, epochs: 3}
      - {learning_rate: 0.2}
- pipeline:
    name: p
    nodes:
      - {name: train, type: task, task: sets}
    edges: []
""").job("train").sweep
    assert sweep.kind is ir.SweepKind.ROWS and sweep.size == 2
    assert sweep.row(1) == {"learning_rate": 0.2}


def test_distributed_task_is_a_group(write):
    wf = one(write, STEPS + """
- task:
    name: dist
    step: Train model
    type: distributed
    parameters:
      - {name: seed, style: multiple, rules: {items: [1, 2, 3]}}
- pipeline:
    name: p
    nodes:
      - {name: train, type: task, task: dist}
    edges: []
""")
    assert wf.groups == (ir.Group("train", "train", ("train",), wf.groups[0].location),)
    assert wf.job("train").group == "train" and wf.job("train").executions == 3


TASK_STEP_ONLY = STEPS + """
- pipeline:
    name: p
    nodes:
      - {name: train, type: task, step: Train model}
    edges: []
"""


def test_task_node_without_grid_warns_and_runs_once(write):
    assert any("has no parameter grid" in w for w in warnings(write, TASK_STEP_ONLY))
    assert one(write, TASK_STEP_ONLY).job("train").sweep is None


def test_sweep_option_and_config_table(write, tmp_path):
    sweep = one(write, TASK_STEP_ONLY, sweeps=("train.epochs=1,2,3", "train.learning_rate=0.1,0.2")).job("train").sweep
    assert sweep.size == 6 and sweep.row(5) == {"epochs": 3, "learning_rate": 0.2}
    (tmp_path / "pipec.toml").write_text('[sweeps]\n"train.epochs" = [4, 8]\n')
    sweep = one(write, TASK_STEP_ONLY).job("train").sweep
    assert sweep.size == 2 and sweep.origin == "pipec.toml [sweeps]"
    with pytest.raises(UsageError, match="has no parameter 'nope'"):
        one(write, TASK_STEP_ONLY, sweeps=("train.nope=1",))
    with pytest.raises(UsageError, match="not an integer|invalid literal"):
        one(write, TASK_STEP_ONLY, sweeps=("train.epochs=x",))
    with pytest.raises(UsageError, match="expected NODE.PARAM"):  # the CLI makes it a usage error
        one(write, TASK_STEP_ONLY, sweeps=("epochs",))


def test_config_errors_are_located(write, tmp_path):
    (tmp_path / "pipec.toml").write_text('\n[sweeps]\n"train.epochs" = "nope"\n')
    result = load_workflows(Request(file=write(TASK_STEP_ONLY)))
    [d] = result.diagnostics
    assert d.location.file.endswith("pipec.toml") and d.location.line == 3
    assert 'sweeps."train.epochs"' in d.message


def test_metadata_edge_into_task_node_fans_out_at_run_time(write):
    wf = one(write, STEPS + """
- pipeline:
    name: p
    nodes:
      - {name: prep, type: execution, step: prep}
      - {name: train, type: task, step: Train model}
    edges:
      - [prep.metadata.rates, train.parameter.learning_rate]
""")
    sweep = wf.job("train").sweep
    assert sweep.kind is ir.SweepKind.RUNTIME
    assert sweep.fanout == ir.RuntimeFanout("prep", "rates", "learning_rate")


def test_steps_only_file_and_selection(write):
    wfs = workflows(write, STEPS)
    assert [w.name for w in wfs] == ["prep", "Train model"]
    assert [len(w.jobs) for w in wfs] == [1, 1]
    assert [w.name for w in workflows(write, STEPS, step="prep")] == ["prep"]
    with pytest.raises(UsageError, match="no step named 'prepp'; did you mean 'prep'"):
        workflows(write, STEPS, step="prepp")


def test_pipeline_selection(write):
    text = STEPS + """
- pipeline:
    name: first
    nodes: [{name: a, type: execution, step: prep}]
    edges: []
- pipeline:
    name: second
    nodes: [{name: b, type: execution, step: prep}]
    edges: []
"""
    assert [w.name for w in workflows(write, text)] == ["first", "second"]
    assert [w.name for w in workflows(write, text, pipeline="second")] == ["second"]
    with pytest.raises(UsageError, match="no pipeline named"):
        workflows(write, text, pipeline="third")


def test_commit_node_with_local_step_uses_it(write):
    text = STEPS + """
- pipeline:
    name: p
    nodes: [{name: a, type: execution, step: prep, commit: abc123}]
    edges: []
"""
    assert one(write, text, for_compile=True).job("a").image == "python:3.12"
    assert any("commit 'abc123'" in w for w in warnings(write, text))


def test_deployment_node(write):
    wf = one(write, STEPS + """
- endpoint:
    name: predict
    image: python:3.12
    server-command: python serve.py
    files: [{name: model, path: model.pb}]
- pipeline:
    name: p
    nodes:
      - {name: train, type: execution, step: Train model}
      - {name: deploy, type: deployment, deployment: prod, endpoints: [predict], aliases: [staging]}
    edges:
      - [train.output.model*, deploy.file.predict.model]
""")
    deploy = wf.job("deploy")
    assert deploy.kind is ir.JobKind.DEPLOYMENT
    [server] = deploy.deployment.servers  # the endpoint as a server (what Argo deploys without [deploy] command)
    assert deploy.deployment == ir.Deployment("prod", ("predict",), ("staging",), (("predict.model", "model.pb"),),
                                              (server,))
    assert (server.name, server.image, server.command, server.port, server.files) == (
        "predict", "python:3.12", "python serve.py", 8000, (("model", "model.pb"),))
    assert wf.dependencies[0].kind is ir.DepKind.DEPLOY_FILE


def test_triggers_for_unknown_pipelines_are_warned(write, tmp_path):
    (tmp_path / "pipec.toml").write_text('[triggers]\n"nope" = "0 3 * * *"\n"p" = "0 4 * * *"\n')
    result = load_workflows(Request(file=write(TASK_STEP_ONLY)))
    [wf] = result.workflows
    assert [t.cron for t in wf.triggers] == ["0 4 * * *"] and wf.triggers[0].location.line == 3
    [d] = [d for d in result.diagnostics if "[triggers]" in d.message]
    assert "[triggers] names 'nope'" in d.message and d.location.file.endswith("pipec.toml") and d.location.line == 2


def test_malformed_sweep_option_is_reported_even_for_an_empty_file(write):
    # A usage error (exit 2) from the option itself, before the file is read.
    result = CliRunner().invoke(main, ["plan", write(""), "--sweep", "nodot=1"])
    assert result.exit_code == 2 and "expected NODE.PARAM" in result.output
