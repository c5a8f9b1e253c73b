"""Tests for schemas/valohai.schema.json (the JSON Schema for Valohai ``valohai.yaml``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.paths import ROOT, SHARED_CORPUS

SCHEMA_PATH = ROOT / "schemas" / "valohai.schema.json"
CORPUS = SHARED_CORPUS / "valohai"

# Corpus error files that must be rejected by the schema itself.
SCHEMA_ERROR_FILES = {
    "endpoint-names-invalid",
    "input-name-too-long",
    "invalid-on-error-value",
    "override-with-extra-fields",
    "step-invalid-resources",
    "step-missing-required-properties",
    "wrong-edge-merge-mode",
    "invalid-upload-store-value",
    "invalid-indentation-with-valid-YAML",
}
# Corpus error files whose problem is semantic (caught by pipec's lint), so the schema accepts them.
SEMANTIC_ERROR_FILES = {
    "invalid-edge-parts",
    "invalid-pipeline-with-override-example",
    "invalid-task-blueprint-reference",
    "pipeline-with-preset-override-without-environment",
    "step-preset-without-environment",
    "step-stop-condition",
    "task-stop-condition",
}


@pytest.fixture(scope="module")
def schema() -> dict:
    with SCHEMA_PATH.open(encoding="utf-8") as fp:
        return json.load(fp)


@pytest.fixture(scope="module")
def validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator(schema)


def errors_of(validator: Draft202012Validator, text: str) -> list:
    doc = yaml.safe_load(text)
    return sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])


def describe(errors: list) -> str:
    return "\n".join(f"{e.validator} at {list(e.absolute_path)}: {e.message}" for e in errors)


# --------------------------------------------------------------------------- schema itself


def test_schema_is_valid_draft_2020_12(schema: dict) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def _walk(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, index))


def test_refs_resolve_and_all_defs_are_used(schema: dict) -> None:
    refs = {node["$ref"] for _, node in _walk(schema) if isinstance(node, dict) and "$ref" in node}
    defined = {f"#/$defs/{name}" for name in schema["$defs"]}
    assert refs <= defined, f"dangling refs: {sorted(refs - defined)}"
    assert defined <= refs, f"unused defs: {sorted(defined - refs)}"


def test_every_property_and_def_has_a_description(schema: dict) -> None:
    missing = []
    for path, node in _walk(schema):
        if isinstance(node, dict) and path and path[-1] == "properties" and "if" not in path:
            missing += [(*path, key) for key, sub in node.items() if "description" not in sub]
    missing += [("$defs", name) for name, sub in schema["$defs"].items() if "description" not in sub]
    assert not missing, missing


def test_schema_file_is_two_space_indented_json() -> None:
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    assert text.startswith('{\n  "$schema"')
    assert text.endswith("}\n")
    assert "\t" not in text


# --------------------------------------------------------------------------- valid documents

FULL_DOCUMENT = """
- step:
    name: fit
    image: python:3.11-slim
    command:
      - pip install -r requirements.txt
      - python fit.py {parameters}
    description: Fits the model.
    source-path: src/fit.py
    environment: gpu-small
    runtime-config-preset: fast-disk
    time-limit: 2h 15m
    no-output-timeout: 900
    icon: https://example.invalid/fit.png
    category: Modelling
    upload-store: artefacts
    stop-condition: metadata.val_loss < 0.05
    cache-volumes: [claim-a, claim-b]
    environment-variable-groups: [shared-secrets]
    environment-variables:
      - {name: LOG_LEVEL, default: "debug", optional: false, description: Verbosity}
    mounts:
      - /mnt/cache:/cache
      - {source: nas:/exports, destination: /data, readonly: true, type: nfs, options: {vers: 4}}
    resources:
      cpu: {min: 0.5, max: 4}
      memory: {min: 256, max: 4096}
      devices: {nvidia.com/gpu: 2}
    outputs:
      - {name: weights, description: Trained weights}
    inputs:
      - name: corpus
        default: [s3://bucket/corpus/*.txt, s3://bucket/extra.txt]
        optional: true
        description: Training text
        filename: corpus.txt
        keep-directories: full
        download: on-demand
      - {name: vocab, default: s3://bucket/vocab.json, keep-directories: true}
    parameters:
      - {name: rate, type: float, default: 0.5, min: 0, max: 1, optional: true,
         description: Rate, category: Optimizer, pass-as: "-r {v}", widget: slider}
      - {name: dims, type: integer, multiple: repeat, multiple-separator: ";", default: [8, 16]}
      - {name: dry-run, type: flag, pass-true-as: --dry, pass-false-as: --wet}
      - {name: loss, type: string, choices: [mse, mae], default: mse,
         widget: {type: dropdown, settings: {searchable: true}}}
- task:
    name: rate-sweep
    step: fit
    type: bayesian-tpe
    description: Sweeps the rate.
    parameters:
      - {name: rate, style: linear, rules: {start: 0.1, end: 0.9, step: 0.1}}
      - {name: dims, style: multiple, rules: {items: [8, "16", true]}}
      - {name: loss, style: random, rules: {min: 1, max: 3, count: 4, seed: 7, distribution: uniform,
                                            integerify: true, numberify: false, base: 2, value: 1}}
    parameter-sets: [{rate: 0.2}]
    execution-count: 12
    execution-batch-size: 3
    maximum-queued-executions: 4
    on-child-error: continue-and-error
    stop-condition: metadata.val_loss < 0.01
    reuse-children: true
    engine: optuna
    optimization-target-metric: val_loss
    optimization-target-value: 0.02
- endpoint:
    name: serve
    image: python:3.11-slim
    server-command: [python, serve.py]
    port: 9000
    description: Serves predictions.
    files: [{name: weights, path: out/weights.bin, description: Weights}]
    node-selector: pool=inference
    resources:
      cpu: {min: 0.25, max: 2}
      memory: {max: 1024}
      devices: {nvidia.com/gpu: 1}
      ephemeral-storage: {min: 512, max: 2048}
    tolerations:
      - {key: dedicated, operator: Equal, value: inference, effect: NoExecute}
      - {operator: Exists}
- endpoint:
    name: wsgi-app
    image: python:3.11-slim
    wsgi: app.main:application
- deployment:
    name: staging
    defaults: {target: eu-cluster, allow-cors: true}
- pipeline:
    name: train-and-ship
    reuse-executions: true
    parameters:
      - {name: rate, targets: [fit-node.parameter.rate, sweep.parameter.rate], default: 0.3,
         description: Shared rate, category: Opt}
      - {name: loss, target: fit-node.parameter.loss}
      - {name: dims, targets: fit-node.parameter.dims, default: [4, 8]}
    nodes:
      - name: fit-node
        type: execution
        step: fit
        on-error: retry
        edge-merge-mode: append
        commit: main
        override:
          image: python:3.12-slim
          command: python fit.py --fast
          parameters: [{name: rate, default: 0.7}]
          inputs: [{name: corpus, default: s3://other/corpus.txt}]
          mounts: [/a:/b]
          environment: gpu-large
          environment-variables: [{name: LOG_LEVEL, default: info}]
          runtime-config-preset: big-disk
        actions:
          - {when: node-complete, if: "metadata.val_loss > 0.5", then: stop-pipeline}
          - {when: [node-starting, node-error], if: [a, b], then: [noop, error-pipeline]}
      - {name: sweep, type: task, task: rate-sweep, on-error: continue}
      - {name: sweep2, type: task, step: fit, on-error: stop-next, edge-merge-mode: replace}
      - {name: ship, type: deployment, deployment: staging, endpoints: [serve], aliases: [latest],
         on-error: stop-all, actions: [{when: node-complete, then: noop}]}
    edges:
      - [fit-node.output.weights*, sweep.input.corpus]
      - {source: sweep.output.weights*, target: ship.file.serve.weights, configuration: {}}
      - {source: fit-node.metadata.best, target: sweep2.parameter.rate}
- blueprint:
    name: alias-form
    nodes: [{name: only, type: execution, step: fit}]
    edges: []
"""


def test_full_document_passes(validator: Draft202012Validator) -> None:
    errors = errors_of(validator, FULL_DOCUMENT)
    assert not errors, describe(errors)


def test_full_document_uses_every_schema_property(schema: dict) -> None:
    def keys(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield key
                yield from keys(value)
        elif isinstance(node, list):
            for value in node:
                yield from keys(value)

    used = set(keys(yaml.safe_load(FULL_DOCUMENT)))
    declared = {
        key
        for path, node in _walk(schema)
        if isinstance(node, dict) and path and path[-1] == "properties" and "if" not in path
        for key in node
    }
    assert declared - used == set()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[]", id="empty-list"),
        pytest.param("- banana: {anything: [1, 2]}", id="unknown-top-level-key"),
        pytest.param("- step: {name: s, image: i, command: c}\n  extra-key: 1", id="unknown-sibling-key"),
        pytest.param("- deployment: {name: prod}", id="deployment-without-defaults"),
        pytest.param("- deployment: {name: prod, defaults: {allow-cors: true}}", id="deployment-without-target"),
        pytest.param("- task: {name: t, step: s, type: no-such-type, on-child-error: whatever, parameters: []}",
                     id="task-type-and-on-child-error-are-free-strings"),
        pytest.param("- step: {name: s, image: i, command: c, time-limit: 1h, no-output-timeout: 60}",
                     id="durations-int-or-string"),
        pytest.param("- pipeline: {name: p, nodes: [], edges: [], parameters: [{name: x}]}",
                     id="pipeline-param-without-targets"),
        pytest.param("- endpoint: {name: ep, image: i, wsgi: m, tolerations: [{}]}", id="empty-toleration"),
    ],
)
def test_valid_snippets_pass(validator: Draft202012Validator, text: str) -> None:
    errors = errors_of(validator, text)
    assert not errors, describe(errors)


# --------------------------------------------------------------------------- common mistakes

STEP = "{name: s, image: i, command: c}"


def pipeline_with_nodes(*nodes: str, edges: str = "[]") -> str:
    """A step plus a pipeline (item 1) with the given flow-style nodes and edges."""
    node_lines = "".join(f"      - {node}\n" for node in nodes) if nodes else "      []\n"
    return f"- step: {STEP}\n- pipeline:\n    name: p\n    edges: {edges}\n    nodes:\n" + node_lines


NODE_PATH = [1, "pipeline", "nodes", 0]
EDGE_PATH = [1, "pipeline", "edges", 0]

MISTAKES = [
    # (id, document, absolute_path of the single error, validator)
    ("step-missing-command", "- step: {name: s, image: i}", [0, "step"], "required"),
    ("step-command-number", "- step: {name: s, image: i, command: 8}", [0, "step", "command"], "type"),
    ("step-command-list-of-numbers", "- step: {name: s, image: i, command: [ls, 3]}",
     [0, "step", "command", 1], "type"),
    ("step-unknown-key", "- step: {name: s, image: i, command: c, commands: [x]}", [0, "step"],
     "additionalProperties"),
    ("step-null-body", "- step:\n  name: s\n  image: i\n  command: c\n", [0, "step"], "type"),
    ("non-object-item", "- just a string", [0], "type"),
    ("document-not-a-list", "step: {name: s, image: i, command: c}", [], "type"),
    ("upload-store-too-long", f"- step: {{name: s, image: i, command: c, upload-store: {'x' * 65}}}",
     [0, "step", "upload-store"], "maxLength"),
    ("time-limit-float", "- step: {name: s, image: i, command: c, time-limit: 1.5}",
     [0, "step", "time-limit"], "type"),
    ("resources-cpu-not-number", "- step: {name: s, image: i, command: c, resources: {cpu: {min: lots}}}",
     [0, "step", "resources", "cpu", "min"], "type"),
    ("step-resources-no-ephemeral-storage",
     "- step: {name: s, image: i, command: c, resources: {ephemeral-storage: {min: 1}}}",
     [0, "step", "resources"], "additionalProperties"),
    ("resources-memory-unknown-key", "- step: {name: s, image: i, command: c, resources: {memory: {avg: 1}}}",
     [0, "step", "resources", "memory"], "additionalProperties"),
    ("resources-device-count-zero",
     "- step: {name: s, image: i, command: c, resources: {devices: {nvidia.com/gpu: 0}}}",
     [0, "step", "resources", "devices", "nvidia.com/gpu"], "minimum"),
    ("param-bad-type", "- step: {name: s, image: i, command: c, parameters: [{name: p, type: bool}]}",
     [0, "step", "parameters", 0, "type"], "enum"),
    ("param-bad-multiple", "- step: {name: s, image: i, command: c, parameters: [{name: p, multiple: yes}]}",
     [0, "step", "parameters", 0, "multiple"], "enum"),
    ("param-unknown-key", "- step: {name: s, image: i, command: c, parameters: [{name: p, defualt: 1}]}",
     [0, "step", "parameters", 0], "additionalProperties"),
    ("param-widget-without-type",
     "- step: {name: s, image: i, command: c, parameters: [{name: p, widget: {settings: {}}}]}",
     [0, "step", "parameters", 0, "widget"], "required"),
    ("input-name-too-long", f"- step: {{name: s, image: i, command: c, inputs: [{{name: {'n' * 65}}}]}}",
     [0, "step", "inputs", 0, "name"], "maxLength"),
    ("input-missing-name", "- step: {name: s, image: i, command: c, inputs: [{default: s3://x}]}",
     [0, "step", "inputs", 0], "required"),
    ("input-bad-keep-directories",
     "- step: {name: s, image: i, command: c, inputs: [{name: d, keep-directories: partial}]}",
     [0, "step", "inputs", 0, "keep-directories"], "enum"),
    ("input-bad-download", "- step: {name: s, image: i, command: c, inputs: [{name: d, download: lazy}]}",
     [0, "step", "inputs", 0, "download"], "enum"),
    ("input-default-number", "- step: {name: s, image: i, command: c, inputs: [{name: d, default: 3}]}",
     [0, "step", "inputs", 0, "default"], "type"),
    ("env-var-default-not-string",
     "- step: {name: s, image: i, command: c, environment-variables: [{name: N, default: 850}]}",
     [0, "step", "environment-variables", 0, "default"], "type"),
    ("mount-relative-string", "- step: {name: s, image: i, command: c, mounts: [data:/data]}",
     [0, "step", "mounts", 0], "pattern"),
    ("mount-object-relative-destination",
     "- step: {name: s, image: i, command: c, mounts: [{source: /a, destination: b}]}",
     [0, "step", "mounts", 0, "destination"], "pattern"),
    ("mount-not-string-or-object", "- step: {name: s, image: i, command: c, mounts: [5]}",
     [0, "step", "mounts", 0], "type"),
    ("task-without-parameters", "- task: {name: t, step: s}", [0, "task"], "anyOf"),
    ("task-missing-step", "- task: {name: t, parameters: []}", [0, "task"], "required"),
    ("task-bad-style", "- task: {name: t, step: s, parameters: [{name: p, style: grid, rules: {}}]}",
     [0, "task", "parameters", 0, "style"], "enum"),
    ("task-unknown-rule", "- task: {name: t, step: s, parameters: [{name: p, style: single, rules: {val: 1}}]}",
     [0, "task", "parameters", 0, "rules"], "additionalProperties"),
    ("task-null-rules", "- task: {name: t, step: s, parameters: [{name: p, style: single, rules: null}]}",
     [0, "task", "parameters", 0, "rules"], "type"),
    ("task-rule-item-null",
     "- task: {name: t, step: s, parameters: [{name: p, style: multiple, rules: {items: [1, null]}}]}",
     [0, "task", "parameters", 0, "rules", "items", 1], "type"),
    ("endpoint-bad-name", "- endpoint: {name: Predict_v1, image: i, wsgi: m}", [0, "endpoint", "name"],
     "pattern"),
    ("endpoint-one-char-name", "- endpoint: {name: p, image: i, wsgi: m}", [0, "endpoint", "name"], "pattern"),
    ("endpoint-both-commands", "- endpoint: {name: ep, image: i, wsgi: m, server-command: run}",
     [0, "endpoint"], "not"),
    ("endpoint-no-command", "- endpoint: {name: ep, image: i}", [0, "endpoint"], "anyOf"),
    ("endpoint-low-port", "- endpoint: {name: ep, image: i, wsgi: m, port: 80}", [0, "endpoint", "port"],
     "minimum"),
    ("endpoint-node-selector-without-equals", "- endpoint: {name: ep, image: i, wsgi: m, node-selector: gpu}",
     [0, "endpoint", "node-selector"], "pattern"),
    ("endpoint-file-missing-path", "- endpoint: {name: ep, image: i, wsgi: m, files: [{name: f}]}",
     [0, "endpoint", "files", 0], "required"),
    ("endpoint-toleration-keyless-equal",
     "- endpoint: {name: ep, image: i, wsgi: m, tolerations: [{operator: Equal}]}",
     [0, "endpoint", "tolerations", 0, "operator"], "const"),
    ("endpoint-toleration-bad-effect",
     "- endpoint: {name: ep, image: i, wsgi: m, tolerations: [{key: k, effect: Never}]}",
     [0, "endpoint", "tolerations", 0, "effect"], "enum"),
    ("endpoint-null-body", "- endpoint:\n", [0, "endpoint"], "type"),
    ("deployment-missing-name", "- deployment: {defaults: {target: t}}", [0, "deployment"], "required"),
    ("deployment-unknown-key", "- deployment: {name: d, target: t}", [0, "deployment"], "additionalProperties"),
    ("deployment-target-not-string", "- deployment: {name: d, defaults: {target: 5}}",
     [0, "deployment", "defaults", "target"], "type"),
    ("pipeline-missing-edges", f"- step: {STEP}\n- pipeline: {{name: p, nodes: []}}", [1, "pipeline"],
     "required"),
    ("pipeline-unknown-key", f"- step: {STEP}\n- pipeline: {{name: p, nodes: [], edges: [], reuse: true}}",
     [1, "pipeline"], "additionalProperties"),
    ("node-bad-on-error", pipeline_with_nodes("{name: a, type: execution, step: s, on-error: explode}"),
     [*NODE_PATH, "on-error"], "enum"),
    ("task-node-bad-on-error", pipeline_with_nodes("{name: a, type: task, step: s, on-error: report}"),
     [*NODE_PATH, "on-error"], "enum"),
    ("deployment-node-retry", pipeline_with_nodes("{name: a, type: deployment, deployment: d, on-error: retry}"),
     [*NODE_PATH, "on-error"], "enum"),
    ("node-misspelled-on-error", pipeline_with_nodes("{name: a, type: execution, step: s, on_error: retry}"),
     NODE_PATH, "additionalProperties"),
    ("node-override-stray-key",
     pipeline_with_nodes("{name: a, type: execution, step: s, override: {training-images: s3://x}}"),
     [*NODE_PATH, "override"], "additionalProperties"),
    ("node-override-bad-input",
     pipeline_with_nodes("{name: a, type: execution, step: s, override: {inputs: [{name: x, download: no}]}}"),
     [*NODE_PATH, "override", "inputs", 0, "download"], "enum"),
    ("node-bad-edge-merge-mode", pipeline_with_nodes("{name: a, type: execution, step: s, edge-merge-mode: merge}"),
     [*NODE_PATH, "edge-merge-mode"], "enum"),
    ("node-unknown-type", pipeline_with_nodes("{name: a, type: exec, step: s}"), [*NODE_PATH, "type"], "enum"),
    ("node-missing-type", pipeline_with_nodes("{name: a, step: s}"), NODE_PATH, "required"),
    ("node-missing-name", pipeline_with_nodes("{type: execution, step: s}"), NODE_PATH, "required"),
    ("node-not-object", pipeline_with_nodes("just-a-name"), NODE_PATH, "type"),
    ("execution-node-missing-step", pipeline_with_nodes("{name: a, type: execution}"), NODE_PATH, "required"),
    ("execution-node-with-task-key", pipeline_with_nodes("{name: a, type: execution, step: s, task: t}"),
     NODE_PATH, "additionalProperties"),
    ("task-node-step-and-task", pipeline_with_nodes("{name: a, type: task, step: s, task: t}"), NODE_PATH, "not"),
    ("task-node-neither-step-nor-task", pipeline_with_nodes("{name: a, type: task}"), NODE_PATH, "anyOf"),
    ("deployment-node-missing-deployment", pipeline_with_nodes("{name: a, type: deployment}"), NODE_PATH,
     "required"),
    ("deployment-node-with-override",
     pipeline_with_nodes("{name: a, type: deployment, deployment: d, override: {image: x}}"), NODE_PATH,
     "additionalProperties"),
    ("action-missing-then",
     pipeline_with_nodes("{name: a, type: execution, step: s, actions: [{when: node-complete}]}"),
     [*NODE_PATH, "actions", 0], "required"),
    ("action-if-number",
     pipeline_with_nodes("{name: a, type: execution, step: s, actions: [{when: node-complete, if: 1, then: noop}]}"),
     [*NODE_PATH, "actions", 0, "if"], "type"),
    ("edge-three-items", pipeline_with_nodes(edges="[[a.output.x, b.input.y, c.input.z]]"), EDGE_PATH, "items"),
    ("edge-one-item", pipeline_with_nodes(edges="[[a.output.x]]"), EDGE_PATH, "minItems"),
    ("edge-non-string-item", pipeline_with_nodes(edges="[[a.output.x, 5]]"), [*EDGE_PATH, 1], "type"),
    ("full-edge-missing-target", pipeline_with_nodes(edges="[{source: a.output.x}]"), EDGE_PATH, "required"),
    ("full-edge-unknown-key", pipeline_with_nodes(edges="[{source: a.output.x, target: b.input.y, kind: file}]"),
     EDGE_PATH, "additionalProperties"),
    ("full-edge-configuration-not-object",
     pipeline_with_nodes(edges="[{source: a.output.x, target: b.input.y, configuration: [1]}]"),
     [*EDGE_PATH, "configuration"], "type"),
    ("pipeline-param-target-and-targets",
     f"- step: {STEP}\n- pipeline: {{name: p, nodes: [], edges: [],"
     " parameters: [{name: x, target: a.parameter.x, targets: [b.parameter.x]}]}",
     [1, "pipeline", "parameters", 0], "not"),
    ("pipeline-param-missing-name",
     f"- step: {STEP}\n- pipeline: {{name: p, nodes: [], edges: [], parameters: [{{targets: a.parameter.x}}]}}",
     [1, "pipeline", "parameters", 0], "required"),
    ("pipeline-param-unknown-key",
     f"- step: {STEP}\n- pipeline: {{name: p, nodes: [], edges: [], parameters: [{{name: x, type: float}}]}}",
     [1, "pipeline", "parameters", 0], "additionalProperties"),
    ("blueprint-misspelled-on-error",
     "- blueprint: {name: p, edges: [], nodes: [{name: a, type: execution, step: s, on_error: retry}]}",
     [0, "blueprint", "nodes", 0], "additionalProperties"),
    ("blueprint-missing-edges", "- blueprint: {name: p, nodes: []}", [0, "blueprint"], "required"),
]


@pytest.mark.parametrize(("text", "path", "validator_name"), [pytest.param(*m[1:], id=m[0]) for m in MISTAKES])
def test_common_mistakes_give_one_precise_error(
    validator: Draft202012Validator, text: str, path: list, validator_name: str
) -> None:
    errors = errors_of(validator, text)
    assert len(errors) == 1, describe(errors)
    (error,) = errors
    assert list(error.absolute_path) == path, describe(errors)
    assert error.validator == validator_name, describe(errors)


def test_blueprint_is_validated_like_pipeline(validator: Draft202012Validator) -> None:
    body = "{name: p, edges: [[a.output.x]], nodes: [{name: a, type: task, step: s, on-error: boom}]}"
    as_pipeline = errors_of(validator, f"- pipeline: {body}")
    as_blueprint = errors_of(validator, f"- blueprint: {body}")
    assert [e.validator for e in as_pipeline] == [e.validator for e in as_blueprint] == ["minItems", "enum"]
    assert [list(e.absolute_path)[2:] for e in as_pipeline] == [list(e.absolute_path)[2:] for e in as_blueprint]
    assert [list(e.absolute_path)[:2] for e in as_blueprint] == [[0, "blueprint"], [0, "blueprint"]]


def test_several_mistakes_are_all_reported(validator: Draft202012Validator) -> None:
    text = pipeline_with_nodes(
        "{name: a, type: execution, step: s, on-error: explode}",
        "{name: b, type: deployment, deployment: d, edge-merge-mode: append}",
        edges="[[a.output.x, b.input.y, extra]]",
    )
    found = {(e.validator, tuple(e.absolute_path)) for e in errors_of(validator, text)}
    assert found == {
        ("enum", (1, "pipeline", "nodes", 0, "on-error")),
        ("additionalProperties", (1, "pipeline", "nodes", 1)),
        ("items", (1, "pipeline", "edges", 0)),
    }


# --------------------------------------------------------------------------- upstream example corpus


def _corpus(kind: str) -> list:
    folder = CORPUS / kind
    if not folder.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{folder} not present"), id="absent")]
    return [pytest.param(path, id=path.stem) for path in sorted(folder.glob("*.yaml"))]


@pytest.mark.parametrize("path", _corpus("valid") + _corpus("warning"))
def test_corpus_valid_and_warning_files_pass(validator: Draft202012Validator, path: Path) -> None:
    errors = errors_of(validator, path.read_text(encoding="utf-8"))
    assert not errors, describe(errors)


def test_corpus_error_files_schema_verdicts(validator: Draft202012Validator) -> None:
    folder = CORPUS / "error"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    failing, passing, unparsable = set(), set(), set()
    for path in sorted(folder.glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            unparsable.add(path.stem)
            continue
        (failing if any(validator.iter_errors(doc)) else passing).add(path.stem)
    present = failing | passing | unparsable
    print(f"\nschema rejects: {sorted(failing)}\nschema accepts: {sorted(passing)}\nYAML errors: {sorted(unparsable)}")
    assert SCHEMA_ERROR_FILES & present <= failing
    assert SEMANTIC_ERROR_FILES & present <= passing
