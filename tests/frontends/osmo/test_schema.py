"""Tests for schemas/osmo.schema.json (NVIDIA OSMO workflow specs after Jinja rendering).

Documents go through pipec's own path: `load_text`, then `pipec.schema.validate`, which asks
jsonschema-rs first and the Python validator for located messages. So the fast validator must
agree with the Python one on every document here, or errors would go unreported.
"""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pipec.errors import Diagnostic, Diagnostics
from pipec.loader import load_text
from pipec.schema import is_valid_fast, validate, validator
from tests.paths import ROOT

SCHEMA_PATH = ROOT / "schemas" / "osmo.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict:
    with SCHEMA_PATH.open(encoding="utf-8") as fp:
        return json.load(fp)


def load(text: str):
    diags = Diagnostics()
    doc = load_text(text, "f.yaml", diags)
    assert not diags.items, [d.format_text() for d in diags.items]
    return doc


def diagnostics(text: str) -> list[Diagnostic]:
    diags = Diagnostics()
    validate(load(text), "osmo", diags)
    return diags.sorted()


def show(found: list[Diagnostic]) -> str:
    return "\n".join(d.format_text() for d in found)


# --------------------------------------------------------------------------- schema itself


def _walk(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, index))


def test_schema_is_valid_draft_2020_12(schema: dict) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_refs_resolve_and_all_defs_are_used(schema: dict) -> None:
    refs = {node["$ref"] for _, node in _walk(schema) if isinstance(node, dict) and "$ref" in node}
    defined = {f"#/$defs/{name}" for name in schema["$defs"]}
    assert refs <= defined, f"dangling refs: {sorted(refs - defined)}"
    assert defined <= refs, f"unused defs: {sorted(defined - refs)}"


def test_every_property_and_def_has_a_description(schema: dict) -> None:
    missing = []
    for path, node in _walk(schema):
        if isinstance(node, dict) and path and path[-1] == "properties":
            missing += [(*path, key) for key, sub in node.items() if "description" not in sub]
    missing += [("$defs", name) for name, sub in schema["$defs"].items() if "description" not in sub]
    assert not missing, missing


def test_every_object_refuses_unknown_keys(schema: dict) -> None:
    """OSMO's models all use extra='forbid'; free-form mappings say what their values are."""
    loose = [
        path for path, node in _walk(schema)
        if isinstance(node, dict) and "properties" in node and node.get("additionalProperties") is not False
    ]
    assert not loose, loose


def test_schema_file_is_two_space_indented_json() -> None:
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    assert text.startswith('{\n  "$schema"')
    assert text.endswith("}\n")
    assert "\t" not in text


# --------------------------------------------------------------------------- valid documents

FLAT = r"""
version: 2
workflow:
  name: train_eval-2
  pool: gpu-pool
  backend: cluster-a
  labels: {team: vision, example.com/project: demo_1.0}
  timeout:
    exec_timeout: PT2H30M
    queue_timeout: 3600
  resources:
    default:
      cpu: 4
      gpu: 1
      memory: 16Gi
      storage: 100Gi
      platform: dgx-a100
      nodesExcluded: [node-7, node-9]
      topology:
      - key: rack
        group: pair-a
        requirementType: preferred
      - {key: zone}
    small: {cpu: 1, gpu: 0, memory: 4, storage: 512Mi}
  tasks:
  - name: prepare
    image: ubuntu:22.04
    command: [bash, -c]
    args: ["echo ready > {{output}}/flag", 42]
    environment: {DEBUG: true, WORKERS: 8, RATE: 0.5, MODE: fast}
    credentials:
      registry_cred: /root/.secrets
      wandb_cred: {WANDB_API_KEY: api_key}
    inputs:
    - url: s3://bucket/raw
      regex: .*\.csv$
    outputs:
    - url: s3://bucket/prepared/{{workflow_id}}
    - {url: s3://bucket/logs, regex: .*\.log$}
    files:
    - path: /tmp/run.sh
      contents: |
        echo hi
    - {path: /tmp/blob.bin, contents: aGk=, base64: true}
    - {path: /tmp/train.py, localpath: train.py}
    resource: small
    volumeMounts:
    - /data
    - /scratch:/mnt/scratch
    exitActions: {COMPLETE: "0", fail: "1-10,12", RESCHEDULE: 137}
    checkpoint:
    - {path: /ckpt, url: s3://bucket/ckpt, frequency: 30m, regex: .*\.pt$}
    - {path: ckpt2, url: s3://bucket/ckpt2, frequency: 600}
    - {path: ckpt3, url: s3://bucket/ckpt3, frequency: 1d}
    privileged: true
    hostNetwork: false
    downloadType: download
    cacheSize: 80%
    kpis: [{index: 0, path: /tmp/kpi.json}, {index: acc, path: /tmp/acc.json}]
    backend: cluster-a
  - name: evaluate
    image: python:3.11
    lead: false
    command: [python, eval.py, "{{input:0}}"]
    inputs:
    - task: prepare
    - {task: "train-1:prepare", regex: ".*"}
default-values:
  epochs: 10
  sizes: [1, 2]
"""

GROUPS = """
version: "2"
workflow:
  name: dist
  groups:
  - name: gather
    tasks:
    - {name: fetch, image: alpine, command: [sh, -c, "echo x > {{output}}/x"]}
  - name: training
    barrier: false
    ignoreNonleadStatus: false
    tasks:
    - name: master
      lead: true
      image: nvcr.io/nvidia/pytorch:24.01-py3
      command: [torchrun]
      args: [--nnodes, 2, "--master_addr={{host:master}}"]
      inputs: [{task: fetch}]
    - name: worker_1
      image: nvcr.io/nvidia/pytorch:24.01-py3
      command: [torchrun]
      exitActions: {RESCHEDULE: "3000-3006", FAIL: "1-255"}
"""


@pytest.mark.parametrize("text", [pytest.param(FLAT, id="flat-tasks"), pytest.param(GROUPS, id="groups")])
def test_full_documents_pass_without_diagnostics(text: str) -> None:
    assert diagnostics(text) == []


def test_full_documents_use_every_schema_property(schema: dict) -> None:
    def keys(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield key
                if key not in ("default-values", "labels", "environment", "credentials", "resources"):
                    yield from keys(value)
                elif key == "resources":
                    for profile in value.values():
                        yield from keys(profile)
        elif isinstance(node, list):
            for value in node:
                yield from keys(value)

    used = set(keys(load(FLAT).data)) | set(keys(load(GROUPS).data))
    declared = {
        key
        for path, node in _walk(schema)
        if isinstance(node, dict) and path and path[-1] == "properties"
        for key in node
    }
    removed = {"dataset", "update_dataset"}  # accepted by name only, to be refused (see below)
    assert declared - used == removed


BASE = """workflow:
  name: wf
  tasks:
  - name: t
    image: ubuntu
    command: [echo]
"""


def task_with(line: str) -> str:
    """BASE with one more line (or block) in its task: first extra line is line 7."""
    return BASE + line


def workflow_with(line: str) -> str:
    """BASE with one more key (or block) in `workflow`: first extra line is line 7."""
    return BASE + line


VALID = [
    ("memory-Gi", workflow_with("  resources:\n    default: {memory: 2Gi}\n")),
    ("memory-Mi", workflow_with("  resources:\n    default: {memory: 512Mi}\n")),
    ("memory-plain-integer", workflow_with("  resources:\n    default: {memory: 4}\n")),
    ("memory-decimal-Ti", workflow_with("  resources:\n    default: {memory: 1.5Ti, storage: 10G}\n")),
    ("exit-action-lower-case", task_with("    exitActions: {reschedule: '3000-3006'}\n")),
    ("exit-action-mixed-case-integer", task_with("    exitActions: {Fail: 1}\n")),
    ("timeout-hours", workflow_with("  timeout: {exec_timeout: 2h}\n")),
    ("timeout-seconds", workflow_with("  timeout: {exec_timeout: 3600, queue_timeout: 90.5}\n")),
    ("timeout-days", workflow_with("  timeout: {queue_timeout: 1d}\n")),
    ("timeout-milliseconds", workflow_with("  timeout: {queue_timeout: 500ms, exec_timeout: 10us}\n")),
    ("timeout-iso-8601", workflow_with("  timeout: {queue_timeout: P1DT2H, exec_timeout: PT1.5S}\n")),
    ("timeout-iso-8601-date-only", workflow_with("  timeout: {queue_timeout: P2D}\n")),
    ("version-integer", "version: 2\n" + BASE),
    ("version-string", "version: '2'\n" + BASE),
    ("version-float", "version: 2.0\n" + BASE),
    ("frequency-number", task_with("    checkpoint: [{path: /c, url: s3://b/c, frequency: 10}]\n")),
    ("frequency-minutes", task_with("    checkpoint: [{path: /c, url: s3://b/c, frequency: 30m}]\n")),
    ("frequency-iso-8601", task_with("    checkpoint: [{path: /c, url: s3://b/c, frequency: PT45S}]\n")),
    ("labels-16", workflow_with("  labels: {" + ", ".join(f"k{i}: v{i}" for i in range(16)) + "}\n")),
    ("input-from-earlier-workflow", task_with("    inputs: [{task: 'train-3:export'}]\n")),
    ("environment-scalars", task_with("    environment: {A: 1, B: false, C: '', D: 1.5}\n")),
    ("empty-optional-lists", task_with("    inputs: []\n    outputs: []\n    files: []\n    args: []\n")),
    ("empty-default-values", BASE + "default-values: {}\n"),
]


@pytest.mark.parametrize("text", [pytest.param(text, id=name) for name, text in VALID])
def test_valid_variants_pass(text: str) -> None:
    assert diagnostics(text) == [], show(diagnostics(text))


# --------------------------------------------------------------------------- common mistakes

MISTAKES = [
    # (id, document, message part, line, column, hint part or None)
    ("misspelled-exitActions", task_with("    exitAction: {FAIL: '1'}\n"),
     "unknown key 'exitAction'", 7, 5, "did you mean 'exitActions'?"),
    ("unknown-top-level-key", BASE + "defaults: {a: 1}\n",
     "unknown key 'defaults'", 7, 1, "did you mean 'default-values'?"),
    ("tasks-at-top-level", "tasks:\n- {name: t, image: i, command: [c]}\n" + BASE,
     "unknown key 'tasks'", 1, 1, "allowed keys: default-values, version, workflow"),
    ("missing-image", "workflow:\n  name: wf\n  tasks:\n  - name: t\n    command: [echo]\n",
     "missing required key 'image'", 4, 5, None),
    ("missing-workflow", "version: 2\n", "missing required key 'workflow'", 1, 1, None),
    ("empty-command", BASE.replace("[echo]", "[]"), "the list is empty", 6, 14, None),
    ("command-string", BASE.replace("[echo]", "echo"), "expected a list, got the string 'echo'", 6, 14, None),
    ("bad-workflow-name", BASE.replace("name: wf", "name: 1wf-"),
     "the string '1wf-' is not in the expected form", 2, 9, "starts with a letter"),
    ("bad-task-name", BASE.replace("name: t\n", "name: t.1\n"),
     "the string 't.1' is not in the expected form", 4, 11, "starts with a letter"),
    ("task-name-too-long", BASE.replace("name: t\n", f"name: {'t' * 65}\n"),
     "is longer than 64 characters", 4, 11, None),
    ("memory-GB", workflow_with("  resources:\n    default: {memory: 2GB}\n"),
     "the string '2GB' is not in the expected form", 8, 23, "GB is refused"),
    ("storage-negative", workflow_with("  resources:\n    default: {storage: -5}\n"),
     "the number -5 is below the minimum of 0", 8, 24, None),
    ("cpu-fraction", workflow_with("  resources:\n    default: {cpu: 0.5}\n"),
     "expected an integer, got the number 0.5", 8, 20, None),
    ("resource-unknown-key", workflow_with("  resources:\n    default: {gpus: 1}\n"),
     "unknown key 'gpus'", 8, 15, "did you mean 'gpu'?"),
    ("topology-without-key", workflow_with("  resources:\n    default: {topology: [{group: g}]}\n"),
     "missing required key 'key'", 8, 26, None),
    ("topology-bad-requirement",
     workflow_with("  resources:\n    default: {topology: [{key: rack, requirementType: must}]}\n"),
     "the string 'must' is not one of: required, preferred", 8, 55, None),
    ("exit-action-RESTART", task_with("    exitActions: {RESTART: '11-20'}\n"),
     "unknown key 'RESTART'", 7, 19, "allowed keys: COMPLETE, FAIL, RESCHEDULE"),
    ("exit-codes-not-a-range", task_with("    exitActions: {FAIL: 1-x}\n"),
     "the string '1-x' is not in the expected form", 7, 25, "such as `0,1-10,16`"),
    ("exit-codes-empty-item", task_with("    exitActions: {FAIL: '1,,2'}\n"),
     "the string '1,,2' is not in the expected form", 7, 25, None),
    ("checkpoint-frequency-boolean", task_with("    checkpoint: [{path: /c, url: s3://b/c, frequency: true}]\n"),
     "expected a string or a number, got the boolean true", 7, 55, None),
    ("checkpoint-frequency-without-unit", task_with("    checkpoint: [{path: /c, url: s3://b/c, frequency: '45'}]\n"),
     "the string '45' is not in the expected form", 7, 55, "or a number of seconds"),
    ("checkpoint-frequency-mixed-units", task_with("    checkpoint: [{path: /c, url: s3://b/c, frequency: 1h30m}]\n"),
     "the string '1h30m' is not in the expected form", 7, 55, None),
    ("checkpoint-old-field-names", task_with("    checkpoint: [{path: /c, url: s3://b/c, frequency: 1h, source: /d}]\n"),
     "unknown key 'source'", 7, 59, None),
    ("checkpoint-missing-url", task_with("    checkpoint: [{path: /c, frequency: 1h}]\n"),
     "missing required key 'url'", 7, 18, None),
    ("resources-on-task", task_with("    resources: {cpu: 1}\n"),
     "unknown key 'resources'", 7, 5, "did you mean 'resource'?"),
    ("timeout-combined-units", workflow_with("  timeout: {exec_timeout: 10h5m}\n"),
     "the string '10h5m' is not in the expected form", 7, 27, "units cannot be combined"),
    ("timeout-negative", workflow_with("  timeout: {exec_timeout: -5s}\n"),
     "the string '-5s' is not in the expected form", 7, 27, None),
    ("timeout-negative-seconds", workflow_with("  timeout: {exec_timeout: -5}\n"),
     "the number -5 is below the minimum of 0", 7, 27, None),
    ("timeout-iso-8601-empty", workflow_with("  timeout: {exec_timeout: PT}\n"),
     "the string 'PT' is not in the expected form", 7, 27, "ISO 8601"),
    ("timeout-boolean", workflow_with("  timeout: {exec_timeout: true}\n"),
     "expected a string or a number, got the boolean true", 7, 27, None),
    ("timeout-trailing-newline", workflow_with("  timeout:\n    exec_timeout: |\n      2h\n"),
     "the string '2h\\n' is not in the expected form", 8, 19, None),
    ("timeout-unknown-key", workflow_with("  timeout: {exec: 1h}\n"),
     "unknown key 'exec'", 7, 13, "allowed keys: exec_timeout, queue_timeout"),
    ("input-task-and-url", task_with("    inputs: [{task: a, url: s3://b}]\n"),
     "use exactly one of 'task', 'url', not several", 7, 14, None),
    ("input-neither-task-nor-url", task_with("    inputs: [{regex: a}]\n"),
     "needs one of 'task', 'url'", 7, 14, None),
    ("input-task-not-a-name", task_with("    inputs: [{task: 'a b'}]\n"),
     "the string 'a b' is not in the expected form", 7, 21, "<workflow_id>:<task>"),
    ("input-misspelled-regex", task_with("    inputs: [{task: a, regx: b}]\n"),
     "unknown key 'regx'", 7, 24, "did you mean 'regex'?"),
    ("output-without-url", task_with("    outputs: [{regex: a}]\n"),
     "missing required key 'url'", 7, 15, None),
    ("output-with-path", task_with("    outputs: [{url: s3://b, path: models}]\n"),
     "unknown key 'path'", 7, 29, None),
    ("file-without-path", task_with("    files: [{contents: hi}]\n"),
     "missing required key 'path'", 7, 13, None),
    ("credentials-list", task_with("    credentials: {c: [a]}\n"),
     "expected a string or a mapping, got a list", 7, 22, None),
    ("environment-null", task_with("    environment: {A: }\n"),
     "got nothing (empty)", 7, 19, None),
    ("args-boolean", task_with("    args: [--flag, yes]\n"),
     "expected a string or a number, got the boolean true", 7, 20, None),
    ("download-type-mount", task_with("    downloadType: mount-rw\n"),
     "the string 'mount-rw' is not one of: download", 7, 19, None),
    ("lead-string", task_with("    lead: 'true'\n"),
     "expected true or false, got the string 'true'", 7, 11, None),
    ("label-empty-value", workflow_with("  labels: {team: ''}\n"),
     "the string '' is not in the expected form", 7, 18, "Kubernetes label value"),
    ("label-value-with-space", workflow_with("  labels: {team: 'a b'}\n"),
     "the string 'a b' is not in the expected form", 7, 18, "Kubernetes label value"),
    ("label-value-number", workflow_with("  labels: {version: 2}\n"),
     "expected a string, got the number 2", 7, 21, "put the value in quotes"),
    ("label-key-upper-case-prefix", workflow_with("  labels: {Example.com/team: x}\n"),
     "the string 'Example.com/team' is not in the expected form", 7, 11, "Kubernetes label key"),
    ("seventeen-labels", workflow_with("  labels: {" + ", ".join(f"k{i}: v" for i in range(17)) + "}\n"),
     "17 entries, but at most 16 are allowed", 7, 3, None),
    ("version-3", "version: 3\n" + BASE, "expected 2, got the number 3", 1, 10, None),
    ("empty-tasks", "workflow:\n  name: wf\n  tasks: []\n", "the list is empty", 3, 10, None),
    ("tasks-not-a-list", "workflow:\n  name: wf\n  tasks: {name: t}\n",
     "expected a list, got a mapping", 3, 10, None),
    ("group-without-tasks", "workflow:\n  name: wf\n  groups:\n  - name: g\n",
     "missing required key 'tasks'", 4, 5, None),
    ("group-misspelled-barrier",
     "workflow:\n  name: wf\n  groups:\n  - name: g\n    barier: true\n    tasks: [{name: t, image: i, command: [c]}]\n",
     "unknown key 'barier'", 5, 5, "did you mean 'barrier'?"),
    ("group-lead-at-group-level",
     "workflow:\n  name: wf\n  groups:\n  - name: g\n    lead: true\n    tasks: [{name: t, image: i, command: [c]}]\n",
     "unknown key 'lead'", 5, 5, None),
]


@pytest.mark.parametrize(("text", "message", "line", "col", "hint"),
                         [pytest.param(*m[1:], id=m[0]) for m in MISTAKES])
def test_common_mistakes_give_one_located_error(text: str, message: str, line: int, col: int,
                                                hint: str | None) -> None:
    found = diagnostics(text)
    assert len(found) == 1, show(found)
    (diag,) = found
    assert diag.severity.value == "error"
    assert message in diag.message, show(found)
    assert (diag.location.line, diag.location.col) == (line, col), show(found)
    if hint is not None:
        assert diag.hint is not None and hint in diag.hint, show(found)


# --------------------------------------------------------------------------- removed dataset I/O

REMOVED = [
    # (id, document, removed key, line and column of that key)
    ("input-dataset", task_with("    inputs:\n    - dataset: {name: x}\n"), "dataset", 8, 7),
    ("input-dataset-with-regex", task_with("    inputs:\n    - {task: a}\n    - dataset: {name: x, regex: '.*'}\n"),
     "dataset", 9, 7),
    ("output-dataset", task_with("    outputs:\n    - dataset: {name: x}\n"), "dataset", 8, 7),
    ("output-update-dataset", task_with("    outputs:\n    - {url: s3://b}\n    - update_dataset: {name: 'x:1'}\n"),
     "update_dataset", 9, 7),
]


@pytest.mark.parametrize(("text", "key", "line", "col"), [pytest.param(*r[1:], id=r[0]) for r in REMOVED])
def test_removed_dataset_fields_give_one_error_at_their_key(text: str, key: str, line: int, col: int) -> None:
    found = diagnostics(text)
    assert len(found) == 1, show(found)
    (diag,) = found
    assert diag.message == f"'{key}' is no longer accepted", show(found)
    assert (diag.location.line, diag.location.col) == (line, col), show(found)
    assert diag.hint is not None and "removed" in diag.hint.lower() and "`url:`" in diag.hint, show(found)


def test_removed_dataset_fields_are_described_as_removed(schema: dict) -> None:
    removed = schema["$defs"]["removed-dataset"]
    assert removed["not"] == {}
    assert "removed" in removed["description"].lower() and "url" in removed["description"]
    for item, key in (("input", "dataset"), ("output", "dataset"), ("output", "update_dataset")):
        assert schema["$defs"][item]["properties"][key]["$ref"] == "#/$defs/removed-dataset"


# --------------------------------------------------------------------------- fast validator agrees

ALL_DOCUMENTS = (
    [pytest.param(FLAT, True, id="flat-tasks"), pytest.param(GROUPS, True, id="groups")]
    + [pytest.param(text, True, id=name) for name, text in VALID]
    + [pytest.param(m[1], False, id=m[0]) for m in MISTAKES]
    + [pytest.param(r[1], False, id=r[0]) for r in REMOVED]
)


@pytest.mark.parametrize(("text", "valid"), ALL_DOCUMENTS)
def test_fast_validator_agrees_on_every_test_document(text: str, valid: bool) -> None:
    data = load(text).data
    assert validator("osmo").is_valid(data) is valid
    assert is_valid_fast("osmo", data) is valid


SEEDS = [load(FLAT).data, load(GROUPS).data]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(max_size=70), st.lists(st.text(max_size=5), max_size=3),
                   st.dictionaries(st.text(max_size=8), st.integers(), max_size=2))


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, prefix + (i,))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(range(len(SEEDS))), data=st.data())
def test_fast_and_python_validators_agree_on_mutations(seed, data):
    doc = copy.deepcopy(SEEDS[seed])
    for _ in range(data.draw(st.integers(1, 3))):
        candidates = [p for p in paths(doc) if p]
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "rename"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "rename" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=12))] = parent.pop(path[-1])
        else:
            parent[path[-1]] = data.draw(VALUES)
    fast = is_valid_fast("osmo", doc)
    if fast is not None:
        assert fast == validator("osmo").is_valid(doc)


# Text near the patterns' edges: digits of other scripts, newlines, units, separators, dotless i.
PATTERN_TEXT = st.text(alphabet=st.sampled_from(list("0123456789.-,smhdGiKMTBbx \n\u0661\u0131\u0130FfAaIiLlR")),
                       max_size=12)
PATTERN_SPOTS = {
    "workflow name": lambda doc, s: doc["workflow"].__setitem__("name", s),
    "memory": lambda doc, s: doc["workflow"]["resources"]["default"].__setitem__("memory", s),
    "exec_timeout": lambda doc, s: doc["workflow"]["timeout"].__setitem__("exec_timeout", s),
    "frequency": lambda doc, s: doc["workflow"]["tasks"][0]["checkpoint"][0].__setitem__("frequency", s),
    "exit codes": lambda doc, s: doc["workflow"]["tasks"][0]["exitActions"].__setitem__("FAIL", s),
    "exit action": lambda doc, s: doc["workflow"]["tasks"][0]["exitActions"].__setitem__(s, "1"),
}


@settings(max_examples=300, deadline=None)
@given(spot=st.sampled_from(sorted(PATTERN_SPOTS)), text=PATTERN_TEXT)
def test_fast_and_python_validators_agree_on_pattern_edges(spot, text):
    doc = copy.deepcopy(SEEDS[0])
    del doc["workflow"]["tasks"][0]["exitActions"]["fail"]
    PATTERN_SPOTS[spot](doc, text)
    assert is_valid_fast("osmo", doc) == validator("osmo").is_valid(doc)
