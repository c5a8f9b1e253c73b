"""Tests for schemas/runnable.schema.json (AstraZeneca runnable `dag:` pipelines) and the
[runnable] table of schemas/config.schema.json.

The schema follows what runnable itself accepts when it builds a graph from YAML
(runnable/graph.py::create_graph, the pydantic models in runnable/nodes.py, runnable/tasks.py
and extensions/nodes/*.py): every document here that the schema accepts, runnable accepts, and
every document it refuses, runnable refuses (checked against runnable itself when it is
installed). Documents also go through pipec's own path (`load_text`, `pipec.schema.validate`)
so the located messages stay readable.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pipec.config import load_config
from pipec.errors import Diagnostic, Diagnostics, PipecError
from pipec.loader import load_text
from pipec.schema import is_valid_fast, validate, validator
from tests.paths import ROOT, SHARED_CORPUS

SCHEMA_PATH = ROOT / "schemas" / "runnable.schema.json"
CORPUS = SHARED_CORPUS / "runnable" / "valid"
CORPUS_FILES = sorted(CORPUS.glob("*.yaml")) if CORPUS.is_dir() else []
needs_corpus = pytest.mark.skipif(not CORPUS_FILES, reason="the shared corpus is not beside the checkout")


@pytest.fixture(scope="module")
def schema() -> dict:
    with SCHEMA_PATH.open(encoding="utf-8") as fp:
        return json.load(fp)


def diagnostics(text: str) -> list[Diagnostic]:
    diags = Diagnostics()
    doc = load_text(text, "f.yaml", diags)
    assert not diags.items, [d.format_text() for d in diags.items]
    validate(doc, "runnable", diags)
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
    assert schema["$id"] == "https://pipec.dev/schemas/runnable.schema.json"
    Draft202012Validator.check_schema(schema)


def test_refs_resolve_and_all_defs_are_used(schema: dict) -> None:
    refs = {node["$ref"] for _, node in _walk(schema) if isinstance(node, dict) and "$ref" in node}
    defined = {f"#/$defs/{name}" for name in schema["$defs"]}
    assert refs <= defined, f"dangling refs: {sorted(refs - defined)}"
    assert defined <= refs, f"unused defs: {sorted(defined - refs)}"


def test_every_property_and_def_has_a_description(schema: dict) -> None:
    """Descriptions are the editor's hover text. The `if` clauses that dispatch on `type` and
    `command_type` are conditions, not documentation, so they are not walked."""
    missing = []
    for path, node in _walk(schema):
        if "if" in path:
            continue
        if isinstance(node, dict) and path and path[-1] == "properties":
            missing += [(*path, key) for key, sub in node.items() if "description" not in sub]
        if isinstance(node, dict) and isinstance(node.get("additionalProperties"), dict):
            sub = node["additionalProperties"]
            if "description" not in sub and "$ref" not in sub:
                missing.append((*path, "additionalProperties"))
    missing += [("$defs", name) for name, sub in schema["$defs"].items() if "description" not in sub]
    assert not missing, missing


def test_schema_file_is_two_space_indented_json() -> None:
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    assert text.startswith('{\n  "$schema"')
    assert text.endswith("}\n")
    assert "\t" not in text


# --------------------------------------------------------------------------- valid documents


@needs_corpus
@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.name for p in CORPUS_FILES])
def test_corpus_pipeline_is_valid(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = list(Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))).iter_errors(data))
    assert errors == [], [e.message for e in errors]
    assert is_valid_fast("runnable", data) is True
    found = diagnostics(path.read_text(encoding="utf-8"))
    assert found == [], show(found)


GRAPH = "{start_at: s, steps: {s: {type: stub, next: success}}}"
STEPS = "dag:\n  start_at: a\n  steps:\n"

# Features the corpus does not show; each is accepted by runnable too (test_runnable_agrees).
VALID = {
    "loop": STEPS + f"""\
    a:
      type: loop
      branch: {GRAPH}
      max_iterations: 5
      break_on: should_stop
      index_as: iteration_num
      next: success
""",
    "loop-max-iterations-zero-runs-once": STEPS + f"""\
    a: {{type: loop, branch: {GRAPH}, max_iterations: 0, break_on: stop, index_as: i, next: success}}
""",
    "conditional": STEPS + f"""\
    a:
      type: conditional
      parameter: toss
      branches: {{heads: {GRAPH}, tails: {GRAPH}}}
      on_failure: b
      next: success
    b: {{type: stub, next: fail}}
""",
    "conditional-default-is-parsed-not-run": STEPS + f"""\
    a: {{type: conditional, parameter: p1, branches: {{x: {GRAPH}}}, default: {{start_at: nowhere}}, next: success}}
""",
    "every-task-field": STEPS + """\
    a:
      type: task
      command_type: python
      command: pkg.mod.func
      returns:
        - name: df
          kind: object
        - {name: score, kind: metric}
        - name: 1x
      secrets: [API_KEY]
      catalog: {get: ["data/*.csv"], put: [out.txt], store_copy: false}
      max_attempts: 3
      overrides: {argo: gpu, local-container: big}
      on_failure: b
      next: b
    b:
      type: task
      command_type: notebook
      command: notebooks/eval.ipynb
      optional_ploomber_args: {log_output: true}
      next: c
    c:
      type: task
      command_type: shell
      command: |
        export result=1
      returns: [{name: result}, {name: loss, kind: metric}]
      next: d
    d:
      type: task
      command_type: async-python
      command: pkg.mod.stream
      stream_end_type: finished
      next: success
""",
    "returns-item-extra-keys-are-ignored": STEPS + """\
    a: {type: task, command: pkg.f, returns: [{name: x, note: ignored}], next: success}
""",
    "stub-ignores-unknown-keys": STEPS + """\
    a: {type: stub, command: pkg.f, command_type: shell, whatever: [1, 2], catalog: {put: [x]}, next: success}
""",
    "empty-catalog-reducer-description": f"""\
dag:
  description:
  start_at: a
  steps:
    a: {{type: stub, catalog: , next: b}}
    b: {{type: map, iterate_on: xs, iterate_as: x, reducer: , branch: {GRAPH}, next: success}}
""",
    "declared-terminals-and-names-with-spaces": """\
dag:
  start_at: step one
  steps:
    step one: {type: stub, next: success}
    success: {type: success, next: }
    fail: {type: fail}
""",
    "graph-keys-runnable-ignores-and-anchors": f"""\
branch: &branch {GRAPH}
dag:
  name: ignored
  start_at: p
  steps:
    p: {{type: parallel, branches: {{one: *branch, two.x: *branch}}, next: success}}
""",
    "no-steps": "dag:\n  start_at: success\n",
}


@pytest.mark.parametrize("text", list(VALID.values()), ids=list(VALID))
def test_valid_documents_pass(text: str) -> None:
    data = yaml.safe_load(text)
    assert validator("runnable").is_valid(data)
    assert is_valid_fast("runnable", data) is True
    assert diagnostics(text) == []


# --------------------------------------------------------------------------- invalid documents


def step(*lines: str) -> str:
    """A document whose graph starts at step `a`, with these step lines (flow style)."""
    return STEPS + "".join(f"    {line}\n" for line in lines)


MAP = f"type: map, iterate_on: xs, branch: {GRAPH}, next: success"
WHY_NAME = "cannot contain '.' or '%'"

# name -> (document, text one of its messages contains, text one of its hints contains or None)
INVALID = {
    "misspelled-task-key": (step("a: {type: task, comand: pkg.f, next: success}"),
                            "unknown key 'comand'", "did you mean 'command'?"),
    "misspelled-next": (step("a: {type: stub, nxt: success}"), "missing required key 'next'", None),
    "misspelled-catalog-key": (step("a: {type: stub, next: success, catalog: {gett: [x]}}"),
                               "unknown key 'gett'", "did you mean 'get'?"),
    "misspelled-key-in-a-branch": (
        step("a: {type: parallel, next: success, branches: {b: {start_at: s, steps: "
             "{s: {type: task, commnd: x, next: success}}}}}"),
        "unknown key 'commnd'", "did you mean 'command'?"),
    "missing-start-at": ("dag:\n  steps:\n    a: {type: stub, next: success}\n",
                         "missing required key 'start_at'", None),
    "missing-dag": ("workflow: {}\n", "missing required key 'dag'", None),
    "missing-type": (step("a: {command: pkg.f, next: success}"), "missing required key 'type'", None),
    "misspelled-type": (step("a: {type: taks, command: pkg.f, next: success}"),
                        "'taks' is not one of", "did you mean 'task'?"),
    "bad-command-type": (step("a: {type: task, command: x, command_type: bash, next: success}"),
                         "'bash' is not one of: python, shell, notebook, async-python", None),
    "step-name-with-dot": (step("a.b: {type: stub, next: success}"), "'a.b' is not in the expected form", WHY_NAME),
    "step-name-with-percent": (step("a%b: {type: stub, next: success}"), "'a%b' is not in the expected form", WHY_NAME),
    "max-attempts-zero": (step("a: {type: task, command: x, max_attempts: 0, next: success}"),
                          "the number 0 is below the minimum of 1", None),
    "returns-plain-string": (step("a: {type: task, command: x, returns: [df], next: success}"),
                             "expected a mapping, got the string 'df'", None),
    "returns-without-name": (step("a: {type: task, command: x, returns: [{kind: json}], next: success}"),
                             "missing required key 'name'", None),
    "returns-bad-kind": (step("a: {type: task, command: x, returns: [{name: a, kind: pydantic}], next: success}"),
                         "'pydantic' is not one of: json, object, metric", None),
    "shell-returns-object": (
        step("a: {type: task, command_type: shell, command: x, returns: [{name: a, kind: object}], next: success}"),
        "'object' is not one of: json, metric", None),
    "conditional-parameter-not-alphanumeric": (
        step(f"a: {{type: conditional, parameter: a-b, branches: {{x: {GRAPH}}}, next: success}}"),
        "'a-b' is not in the expected form", "letters and digits only"),
    "success-with-next": (step("a: {type: stub, next: success}", "success: {type: success, next: a}"),
                          "expected empty, got the string 'a'", None),
    "fail-with-on-failure": (step("a: {type: stub, next: success}", "fail: {type: fail, on_failure: a}"),
                             "unknown key 'on_failure'", None),
    "map-without-iterate-as": (step(f"a: {{{MAP}}}"), "missing required key 'iterate_as'", None),
    "map-without-branch": (step("a: {type: map, iterate_on: xs, iterate_as: x, next: success}"),
                           "missing required key 'branch'", None),
    "parallel-without-branches": (step("a: {type: parallel, branches: {}, next: success}"),
                                  "0 entries, but at least 1", None),
    "loop-without-break-on": (
        step(f"a: {{type: loop, branch: {GRAPH}, max_iterations: 3, index_as: i, next: success}}"),
        "missing required key 'break_on'", None),
    "composite-with-catalog": (step(f"a: {{{MAP}, iterate_as: x, catalog: {{get: [x]}}}}"),
                               "unknown key 'catalog'", None),
    "ploomber-args-on-a-python-task": (step("a: {type: task, command: x, optional_ploomber_args: {}, next: success}"),
                                       "unknown key 'optional_ploomber_args'", None),
    "stream-end-type-on-a-shell-task": (
        step("a: {type: task, command_type: shell, command: x, stream_end_type: done, next: success}"),
        "unknown key 'stream_end_type'", None),
    "notebook-not-ipynb": (step("a: {type: task, command_type: notebook, command: nb.py, next: success}"),
                           "'nb.py' is not in the expected form", "ending in .ipynb"),
    "next-empty": (step("a: {type: stub, next: ''}"), "shorter than 1 characters", None),
    "next-a-number": (step("a: {type: stub, next: 3}"), "expected a string, got the number 3",
                      "put the value in quotes"),
    "overrides-value-not-a-string": (step("a: {type: stub, overrides: {argo: [gpu]}, next: success}"),
                                     "expected a string, got a list", None),
    "step-not-a-mapping": (step("a: stub"), "expected a mapping, got the string 'stub'", None),
    "steps-empty": ("dag:\n  start_at: success\n  steps:\n", "expected a mapping, got nothing (empty)", None),
}


@pytest.mark.parametrize(("text", "expected", "hint"), list(INVALID.values()), ids=list(INVALID))
def test_invalid_documents_fail_with_readable_messages(text: str, expected: str, hint: str | None) -> None:
    data = yaml.safe_load(text)
    assert list(validator("runnable").iter_errors(data)), "the schema accepts it"
    assert is_valid_fast("runnable", data) is False
    found = diagnostics(text)
    assert found and all(d.severity.value == "error" for d in found)
    assert any(expected in d.message for d in found), show(found)
    if hint is not None:
        assert any(hint in (d.hint or "") for d in found), show(found)
    # One error per problem: the `type` / `command_type` dispatch adds no echoes.
    assert len(found) == len({(d.location, d.message) for d in found}), show(found)


def test_an_error_in_a_task_points_at_the_key() -> None:
    [found] = [d for d in diagnostics(STEPS + "    a:\n      type: task\n      command: x\n      nxet: success\n")
               if "nxet" in d.message]
    assert (found.location.line, found.location.col) == (7, 7)
    assert found.hint == "did you mean 'next'?"


def test_a_non_mapping_step_is_one_error() -> None:
    found = diagnostics(STEPS + "    a:\n")
    assert [d.message for d in found] == ["expected a mapping, got nothing (empty)"]


# --------------------------------------------------------------------------- runnable agrees


@pytest.mark.skipif(importlib.util.find_spec("runnable") is None, reason="runnable is not installed")
def test_runnable_agrees(tmp_path: Path) -> None:
    """runnable itself accepts every valid document above and refuses every invalid one."""
    from tests.frontends.runnable.oracle import runnable_verdicts

    cases = [(f"valid/{name}", text, True) for name, text in VALID.items()]
    cases += [(f"invalid/{name}", text, False) for name, (text, _, _) in INVALID.items()]
    paths = []
    for n, (_, text, _) in enumerate(cases):
        paths.append(tmp_path / f"{n}.yaml")
        paths[-1].write_text(text, encoding="utf-8")
    verdicts = runnable_verdicts(paths)
    disagree = {name: message for (name, _, want), (accepted, message) in zip(cases, verdicts) if accepted != want}
    assert disagree == {}


# --------------------------------------------------------------------------- fast validator agrees

SEEDS = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in CORPUS_FILES]
SEEDS += [yaml.safe_load(text) for text in VALID.values()]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(
    ["task", "stub", "map", "loop", "success", "fail", "shell", "notebook", "async-python", "a.b", "a%b", "x.ipynb",
     "a-b", "abc", "json", "object", "metric", ""]), st.text(max_size=8), st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.sampled_from(["name", "kind", "get", "start_at", "steps"]), st.text(max_size=3), max_size=2))


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(range(len(SEEDS))), data=st.data())
def test_fast_and_python_validators_agree(seed: int, data: st.DataObject) -> None:
    """jsonschema-rs is trusted only to say "valid": it must agree with the Python validator,
    or pipec.schema.validate would let errors through unreported."""
    doc = copy.deepcopy(SEEDS[seed])
    for _ in range(data.draw(st.integers(1, 3))):
        all_paths = [p for p in _paths(doc) if p]
        if not all_paths:
            break
        path = data.draw(st.sampled_from(all_paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "rename"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "rename" and isinstance(parent, dict):
            parent[data.draw(st.sampled_from(["nxt", "a.b", "command", "type", "branch", "x"]))] = parent.pop(path[-1])
        else:
            parent[path[-1]] = data.draw(VALUES)
    fast = is_valid_fast("runnable", doc)
    if fast is not None:
        assert fast == validator("runnable").is_valid(doc)


# --------------------------------------------------------------------------- [runnable] config


def _config(tmp_path: Path, text: str) -> tuple[dict, list[Diagnostic]]:
    path = tmp_path / "pipec.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)
    diags = Diagnostics()
    try:
        return load_config(path, diags).data, diags.sorted()
    except PipecError as exc:
        return {}, list(exc.diagnostics)


def test_config_runnable_table_is_accepted(tmp_path: Path) -> None:
    data, found = _config(tmp_path, '[runnable]\nimage = "ghcr.io/acme/pipeline:1.2"\n'
                                    'python = "/opt/venv/bin/python"\n')
    assert found == []
    assert data["runnable"] == {"image": "ghcr.io/acme/pipeline:1.2", "python": "/opt/venv/bin/python"}


@pytest.mark.parametrize(("text", "expected"), [
    ('[runnable]\nimgae = "x"\n', "'imgae'"),
    ('[runnable]\nimage = 3\n', "runnable.image: expected a string"),
    ('[runnable]\npython = ""\n', "runnable.python"),
])
def test_config_runnable_table_errors(tmp_path: Path, text: str, expected: str) -> None:
    _, found = _config(tmp_path, text)
    assert found and any(expected in d.message for d in found), show(found)
    assert all(d.location.file.endswith("pipec.toml") for d in found), show(found)


def test_config_runnable_properties_are_described() -> None:
    config = json.loads((ROOT / "schemas" / "config.schema.json").read_text(encoding="utf-8"))
    table = config["properties"]["runnable"]
    assert table["additionalProperties"] is False and "description" in table
    assert set(table["properties"]) == {"image", "python"}
    assert all("description" in sub for sub in table["properties"].values())
    assert table["properties"]["python"]["default"] == "python3"
