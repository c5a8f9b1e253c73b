"""`--target valohai-api`: Valohai's pipeline creation payload, equal to what valohai-yaml's
PipelineConverter produces (valohai.md §7).

The expected payloads are the reference's conversion samples, read in place: each
`<example>.converted.json` maps pipeline names to the converter's output for the upstream
example `corpus/valohai/valid/<example>.yaml` at commit `abc123` (the commit every local node
of the samples names); `rich-step-and-pipeline.output.txt` holds, after `CONVERTED:`, the
payload of `rich-step-and-pipeline.yaml` at commit `c0ffee`. The one deliberate difference,
`reuse-executions: true` kept as `"reuse_executions": true`, is added to the expectation.

Most tests run `emit_valohai_api` inside a tiny click command of their own (`emit` below);
`test_pipec_compile_target_valohai_api` goes through `pipec compile`.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pipec.cli import main
from pipec.cli.valohai_api import emit_valohai_api
from tests.paths import SHARED_CORPUS

SAMPLES = SHARED_CORPUS.parent / "reference" / "valohai-conversion-samples"
EXAMPLES = SHARED_CORPUS / "valohai" / "valid"
SAMPLE_COMMIT = "abc123"
RICH_COMMIT = "c0ffee"


@click.command()
@click.argument("file")
@click.option("-o", "output", default="-")
@click.option("--commit", default=None)
@click.option("--title", default=None)
@click.option("--project", default=None)
@click.option("--pipeline", "pipelines", multiple=True)
@click.option("--config", default=None)
@click.option("--strict", is_flag=True)
@click.option("--force", is_flag=True)
def emit(file: str, output: str, commit: str | None, title: str | None, project: str | None,
         pipelines: tuple[str, ...], config: str | None, strict: bool, force: bool) -> None:
    emit_valohai_api(file, output, commit=commit, title=title, project=project, pipelines=pipelines,
                     config=config, strict=strict, force=force)


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(emit, [str(a) for a in args], input=input, catch_exceptions=False)


def sample_cases() -> list[tuple[str, str]]:
    return [(path.name, name) for path in sorted(SAMPLES.glob("*.converted.json"))
            for name in json.loads(path.read_text(encoding="utf-8"))]


def expected(sample: dict, source: Path, pipeline: str) -> dict:
    """The sample, plus reuse_executions where the pipeline sets reuse-executions (upstream drops it)."""
    import yaml

    items = yaml.safe_load(source.read_text(encoding="utf-8"))
    definition = next(i["pipeline"] for i in items if "pipeline" in i and i["pipeline"]["name"] == pipeline)
    return {**sample, "reuse_executions": True} if definition.get("reuse-executions") else sample


def test_every_sample_is_covered():
    # Each sample has its input example; the rich sample is tested on its own below.
    names = sorted(p.name for p in SAMPLES.iterdir())
    converted = [n for n in names if n.endswith(".converted.json")]
    assert converted
    assert all((EXAMPLES / n.replace(".converted.json", ".yaml")).is_file() for n in converted)
    assert {n for n in names if n not in converted} == {
        "rich-step-and-pipeline.output.txt", "rich-step-and-pipeline.yaml", "task-blueprint-random-search.yaml"}


@pytest.mark.parametrize("sample, pipeline", sample_cases())
def test_payload_equals_the_converters(sample: str, pipeline: str):
    source = EXAMPLES / sample.replace(".converted.json", ".yaml")
    want = expected(json.loads((SAMPLES / sample).read_text(encoding="utf-8"))[pipeline], source, pipeline)
    result = run(source, "--commit", SAMPLE_COMMIT, "--pipeline", pipeline)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == want
    # The same text `vh pipeline convert-to-api` prints: the converter's key order, indent 2.
    assert result.stdout == json.dumps(want, indent=2) + "\n"


def test_rich_sample():
    text = (SAMPLES / "rich-step-and-pipeline.output.txt").read_text(encoding="utf-8")
    want = json.loads(text.split("CONVERTED:\n", 1)[1].split("ROUNDTRIP", 1)[0])
    # The sample was converted with a run-time value for the pipeline parameter (the list in its
    # expression; `vh pipeline run --plr+=...`); without one, the converter takes the default.
    assert want["parameters"]["plr"]["expression"] == {"style": "single", "rules": {"value": [0.1, 0.2]}}
    want["parameters"]["plr"]["expression"] = want["parameters"]["plr"]["config"]["default"]
    result = run(SAMPLES / "rich-step-and-pipeline.yaml", "--commit", RICH_COMMIT)
    assert result.exit_code == 0, result.output
    assert result.stdout == json.dumps(want, indent=2) + "\n"


def test_node_actions_are_carried_without_the_engine_warning():
    # The engine targets warn that they ignore node actions; this payload carries them.
    result = run(EXAMPLES / "pipeline-example.yaml", "--commit", SAMPLE_COMMIT, "--pipeline", "Last action pipeline")
    assert result.exit_code == 0, result.output
    assert "pipec ignores" not in result.stderr
    assert [n.get("actions") for n in json.loads(result.stdout)["nodes"]][:1] == [
        [{"if": ["metadata.accuracy < .8"], "then": ["stop-pipeline"], "when": ["node-complete"]}]]


STEP = """\
- step:
    name: train
    image: python:3.12
    command: python train.py {parameters}
    parameters:
      - {name: lr, type: float, default: 0.1}
    inputs:
      - {name: data, default: s3://bucket/data.csv}
"""


def write(tmp_path: Path, text: str, name: str = "valohai.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def pipeline(name: str, extra: str = "", node: str = "n") -> str:
    return STEP + f"""\
- pipeline:
    name: {json.dumps(name)}
{extra}    nodes:
      - {{name: {json.dumps(node)}, type: execution, step: train}}
    edges: []
"""


def test_reuse_executions_is_kept(tmp_path):
    result = run(write(tmp_path, pipeline("p", "    reuse-executions: true\n")), "--commit", "c1")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert list(body) == ["edges", "nodes", "parameters", "reuse_executions"]
    assert body["reuse_executions"] is True
    # false is the default, left out as upstream leaves it
    result = run(write(tmp_path, pipeline("p", "    reuse-executions: false\n")), "--commit", "c1")
    assert "reuse_executions" not in json.loads(result.stdout)


def test_project_and_title_make_the_request_body(tmp_path):
    source = write(tmp_path, pipeline("Training"))
    plain = json.loads(run(source, "--commit", "c1").stdout)
    result = run(source, "--commit", "c1", "--project", "015f25c1-0101-1010-fefe-a0a0a0a0a0a0", "--title", "nightly")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert list(body)[:3] == ["project", "title", "tags"]
    assert body == {"project": "015f25c1-0101-1010-fefe-a0a0a0a0a0a0", "title": "nightly", "tags": [], **plain}
    # Without --title, the pipeline's name (as `vh pipeline run` does).
    assert json.loads(run(source, "--commit", "c1", "--project", "p").stdout)["title"] == "Training"


def test_title_needs_a_project_and_commit_is_required(tmp_path):
    source = write(tmp_path, pipeline("p"))
    result = run(source, "--commit", "c1", "--title", "t")
    assert result.exit_code == 2 and "--project" in result.output
    result = run(source)
    assert result.exit_code == 2 and "needs --commit SHA" in result.output
    result = run(source, "--commit", "  ")
    assert result.exit_code == 2 and "--commit" in result.output
    assert run(source, "--commit", "c1", "--project", "").exit_code == 2


def test_several_pipelines_go_to_a_directory(tmp_path):
    source = EXAMPLES / "pipeline-example.yaml"
    samples = json.loads((SAMPLES / "pipeline-example.converted.json").read_text(encoding="utf-8"))
    out = tmp_path / "payloads"
    result = run(source, "--commit", SAMPLE_COMMIT, "-o", f"{out}/")
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.iterdir() if p.name != ".pipec-manifest")
    assert files == ["last-action-pipeline.json", "my-deployment-pipeline.json", "my-little-pipeline.json",
                     "my-medium-pipeline.json"]
    for name, sample in samples.items():
        path = out / (name.lower().replace(" ", "-") + ".json")
        assert json.loads(path.read_text(encoding="utf-8")) == expected(sample, source, name)
    # Again: nothing changes; one pipeline selected leaves the others' files alone.
    assert "(4 unchanged)" in run(source, "--commit", SAMPLE_COMMIT, "-o", out).stderr
    result = run(source, "--commit", "other", "-o", out, "--pipeline", "My medium pipeline")
    assert result.exit_code == 0, result.output
    assert len([p for p in out.iterdir() if p.suffix == ".json"]) == 4
    medium = json.loads((out / "my-medium-pipeline.json").read_text(encoding="utf-8"))
    assert {n["template"]["commit"] for n in medium["nodes"]} == {"other"}


def test_several_pipelines_refuse_a_single_output(tmp_path):
    source = EXAMPLES / "pipeline-example.yaml"
    for output in ("-", str(tmp_path / "payload.json")):
        result = run(source, "--commit", SAMPLE_COMMIT, "-o", output)
        assert result.exit_code == 2
        assert "has 4 pipelines" in result.output and "--pipeline NAME" in result.output
    assert not (tmp_path / "payload.json").exists()


def test_single_file_output(tmp_path):
    source = write(tmp_path, pipeline("p"))
    target = tmp_path / "payload.json"
    assert run(source, "--commit", "c1", "-o", target).exit_code == 0
    assert json.loads(target.read_text(encoding="utf-8"))["nodes"][0]["template"]["commit"] == "c1"
    assert "(1 unchanged)" in run(source, "--commit", "c1", "-o", target).stderr
    # JSON has no room for pipec's header: a payload that differs is replaced only with --force.
    result = run(source, "--commit", "c2", "-o", target)
    assert result.exit_code == 2 and "--force" in result.output
    assert run(source, "--commit", "c2", "-o", target, "--force").exit_code == 0
    assert json.loads(target.read_text(encoding="utf-8"))["nodes"][0]["template"]["commit"] == "c2"
    # Never through a link.
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "elsewhere.json")
    result = run(source, "--commit", "c1", "-o", link, "--force")
    assert result.exit_code == 2 and "symbolic link" in result.output
    assert not (tmp_path / "elsewhere.json").exists()
    # Another suffix is neither a payload file nor a directory.
    result = run(source, "--commit", "c1", "-o", tmp_path / "payload.yaml")
    assert result.exit_code == 2 and "*.json" in result.output


def test_colliding_file_names_are_located_errors(tmp_path):
    source = write(tmp_path, STEP + """\
- pipeline:
    name: train model
    nodes: [{name: n, type: execution, step: train}]
    edges: []
- pipeline:
    name: Train-Model
    nodes: [{name: n, type: execution, step: train}]
    edges: []
""")
    result = run(source, "--commit", "c1", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert f"{source}:14:11: error: pipelines 'train model' and 'Train-Model' both become 'train-model.json'" \
        in result.stderr
    assert not (tmp_path / "out").exists()
    assert run(source, "--commit", "c1", "--pipeline", "Train-Model").exit_code == 0


HOSTILE = ['it\'s "quoted"', "{{ secrets.TOKEN }}", "${{ github.token }}", "line\nbreak", "back\\slash",
           "$(rm -rf ~)", "</script>", "ünï-cødé ✓", "\ttab"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_stay_data(tmp_path, text):
    node = text.replace(".", "")  # edges split sockets at dots: a node name with one cannot be addressed
    q = json.dumps
    source = write(tmp_path, STEP + f"""\
- pipeline:
    name: {q(text)}
    parameters:
      - {{name: {q(text)}, target: {q(node + ".parameter.lr")}, default: {q(text)}, description: {q(text)}}}
    nodes:
      - {{name: src, type: execution, step: train}}
      - name: {q(node)}
        type: execution
        step: train
        override:
          command: {q(text)}
          inputs: [{{name: data, default: {q(text)}}}]
        actions: [{{when: node-complete, if: "metadata.x > 1", then: {q(text)}}}]
    edges:
      - {{source: src.output.*, target: {q(node + ".input.data")}, configuration: {{{q(text)}: {q(text)}}}}}
""")
    result = run(source, "--commit", text, "--project", text, "--title", text)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    target = body["nodes"][1]
    assert body["project"] == body["title"] == target["template"]["commit"] == text
    assert target["name"] == body["edges"][0]["target_node"] == node
    assert target["template"]["command"] == text and target["template"]["inputs"] == {"data": [text]}
    assert target["actions"][0]["then"] == [text]
    assert body["parameters"][text]["expression"] == text
    assert body["parameters"][text]["config"]["description"] == text
    assert body["edges"][0]["configuration"] == {text: text}
    assert result.stdout.isascii()  # escaped as the converter's json.dumps escapes
    # In a directory, the file is named from letters and digits only.
    out = tmp_path / "out"
    assert run(source, "--commit", "c1", "-o", out).exit_code == 0
    (written,) = [p for p in out.iterdir() if p.suffix == ".json"]
    assert written.name.removesuffix(".json").replace("-", "").isalnum()
    assert json.loads(written.read_text(encoding="utf-8"))["nodes"][1]["template"]["command"] == text


def test_a_node_of_another_commit_sends_only_its_override(tmp_path):
    source = write(tmp_path, STEP + """\
- pipeline:
    name: p
    nodes:
      - {name: here, type: execution, step: train, commit: c1}
      - {name: there, type: execution, step: train, commit: c0,
         override: {parameters: [{name: lr, default: 0.5}]}}
    edges: []
""")
    nodes = json.loads(run(source, "--commit", "c1").stdout)["nodes"]
    assert nodes[0]["template"]["image"] == "python:3.12"  # this file's step
    assert nodes[0]["template"]["parameters"] == {"lr": 0.1}
    assert nodes[1]["template"] == {"commit": "c0", "step": "train", "parameters": [
        {"name": "lr", "default": 0.5, "optional": False, "type": "string"}]}
    # Converted for c0 instead, the roles swap.
    nodes = json.loads(run(source, "--commit", "c0").stdout)["nodes"]
    assert nodes[0]["template"] == {"commit": "c1", "step": "train"}
    assert nodes[1]["template"]["parameters"] == {"lr": 0.5}


def test_errors_are_located(tmp_path):
    source = write(tmp_path, STEP + """\
- task:
    name: sweep
    step: train
    parameters: [{name: lr, style: multiple, rules: {items: [0.1, 0.2]}}]
- pipeline:
    name: p
    parameters:
      - {name: day, target: a.parameter.lr, default: 2024-01-31}
    nodes:
      - {name: a, type: execution, step: train}
      - {name: b, type: execution, step: trian, commit: c1}
      - {name: c, type: task, task: nope, commit: c0}
      - name: d
        type: task
        task: sweep
        commit: c0
        override:
          parameters: [{name: lr, default: 1}]
      - {name: a, type: execution, step: train}
    edges:
      - [a.output.x, e.input.data]
""")
    result = run(source, "--commit", "c1")
    assert result.exit_code == 1
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert errors == [
        f"{source}:16:54: error: the date 2024-01-31 is not a JSON value, so the API payload cannot carry it",
        f"{source}:19:42: error: pipeline 'p' node 'b' step 'trian' does not exist",
        f"{source}:20:37: error: pipeline 'p' node 'c': task blueprint 'nope' does not exist",
        f"{source}:26:11: error: pipeline 'p' node 'd' runs commit 'c0' and takes parameter variants from task "
        "blueprint 'sweep': Valohai's converter cannot add them to the override's parameters (it fails on this node)",
        f"{source}:27:16: error: pipeline 'p' has two nodes named 'a' (the first at line 18)",
        f"{source}:29:22: error: pipeline 'p': edge target node 'e' does not exist",
    ]


def test_a_file_without_pipelines_and_an_empty_file_are_errors(tmp_path):
    result = run(write(tmp_path, STEP), "--commit", "c1")
    assert result.exit_code == 1 and "holds no pipeline; --target valohai-api converts pipelines" in result.stderr
    result = run(write(tmp_path, ""), "--commit", "c1")
    assert result.exit_code == 1 and "the file is empty" in result.stderr


def test_other_dialects_are_usage_errors(tmp_path):
    osmo = write(tmp_path, "workflow:\n  name: w\n  tasks:\n  {% for i in range(2) %}\n  {% endfor %}\n", "w.yaml")
    result = run(osmo, "--commit", "c1")
    assert result.exit_code == 2 and "takes Valohai files only" in result.output and "OSMO" in result.output
    runnable = write(tmp_path, "dag:\n  start_at: x\n  steps: {}\n", "r.yaml")
    result = run(runnable, "--commit", "c1")
    assert result.exit_code == 2 and "takes Valohai files only" in result.output and "runnable" in result.output


def test_unknown_pipeline_and_missing_files_are_usage_errors(tmp_path):
    source = write(tmp_path, pipeline("Training"))
    result = run(source, "--commit", "c1", "--pipeline", "Trainig")
    assert result.exit_code == 2 and "no pipeline named 'Trainig'; did you mean 'Training'?" in result.output
    assert run(tmp_path / "missing.yaml", "--commit", "c1").exit_code == 2
    result = run(source, "--commit", "c1", "--config", tmp_path / "missing.toml")
    assert result.exit_code == 2 and "no such file" in result.output


def test_standard_input(tmp_path):
    result = run("-", "--commit", "c1", input=pipeline("p"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["nodes"][0]["template"]["step"] == "train"


def test_warnings_fail_with_strict(tmp_path):
    source = write(tmp_path, pipeline("p", node="a.b"))
    assert run(source, "--commit", "c1").exit_code == 0
    result = run(source, "--commit", "c1", "--strict")
    assert result.exit_code == 1 and "contains '.'" in result.stderr and result.stdout == ""


def test_pipec_compile_target_valohai_api(tmp_path):
    source = EXAMPLES / "pipeline-with-task-blueprint-example.yaml"
    sample = json.loads((SAMPLES / "pipeline-with-task-blueprint-example.converted.json").read_text())
    result = CliRunner().invoke(main, ["compile", str(source), "--target", "valohai-api", "--commit", SAMPLE_COMMIT],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == sample["train-pipeline"]
    out = tmp_path / "body.json"
    result = CliRunner().invoke(main, ["compile", str(source), "--target", "valohai-api", "--commit", SAMPLE_COMMIT,
                                       "--project", "p1", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == {"project": "p1", "title": "train-pipeline", "tags": [],
                                           **sample["train-pipeline"]}
    assert os.path.isfile(out)
