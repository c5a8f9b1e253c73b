"""Validation of valohai.yaml by the Valohai front end (schema, lint, crashes made messages).

Covers the issue "every problem located": schema errors at the offending value with readable
messages and hints, every lint condition of valohai-yaml (reference valohai.md §10.1), every
input that crashes valohai-yaml (§10.2) turned into a located error, pipec's own checks
(edge keys, duplicate edges, cycles, parameters filled twice), `commit:` nodes, ordering of
diagnostics, duplicate YAML keys, CLI exit codes and output formats, and the shipped examples.

Every fixture is a small inline document written to `tmp_path`. Expected positions are
computed from the fixture text with `at(text, needle)` (1-based line and column of the
needle's first character), so each test states *which* value or key must be blamed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipec.cli import main
from pipec.driver import Request, Result, load_workflows
from tests.paths import ROOT
from tests.requests import valohai_request

REPO = ROOT
EXAMPLES = sorted((REPO / "examples" / "valohai").glob("*.yaml"))

Diag = tuple[str, int, int, str, "str | None"]


# --------------------------------------------------------------------------------------------
# Helpers


def doc(text: str) -> str:
    """Dedent an inline fixture; line 1 is the first line after the opening quotes."""
    return textwrap.dedent(text).lstrip("\n")


def at(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, col) of the nth occurrence of `needle` in `text`."""
    start = -1
    for _ in range(nth + 1):
        start = text.find(needle, start + 1)
        assert start >= 0, f"fixture has no {nth + 1}. occurrence of {needle!r}"
    line = text.count("\n", 0, start) + 1
    col = start - (text.rfind("\n", 0, start) + 1) + 1
    return line, col


def write(tmp_path: Path, text: str, name: str = "valohai.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(tmp_path: Path, text: str, **request: Any) -> Result:
    return load_workflows(valohai_request(str(write(tmp_path, text)), **request))


def diagnostics(tmp_path: Path, text: str, **request: Any) -> list[Diag]:
    """[(severity, line, col, message, hint)] in the order pipec reports them."""
    result = run(tmp_path, text, **request)
    return [(d.severity.value, d.location.line, d.location.col, d.message, d.hint) for d in result.diagnostics]


def show(diags: list[Diag]) -> str:
    return "\n".join(f"  {s} {ln}:{c} {m}" + (f"  [hint: {h}]" if h else "") for s, ln, c, m, h in diags) or "  (none)"


def expect(diags: list[Diag], severity: str, pos: tuple[int, int], *words: str, hint: str | None = None) -> Diag:
    """Exactly one diagnostic of `severity` at `pos` whose message has all `words`
    (case-insensitive); if `hint` is given, its hint must contain it. Returns it."""
    found = [
        d for d in diags
        if d[0] == severity and (d[1], d[2]) == pos and all(w.lower() in d[3].lower() for w in words)
    ]
    assert len(found) == 1, (
        f"expected one {severity} at {pos[0]}:{pos[1]} mentioning {list(words)}; got:\n{show(diags)}"
    )
    if hint is not None:
        assert found[0][4] is not None and hint.lower() in found[0][4].lower(), (
            f"hint of {found[0][3]!r} should contain {hint!r}; it is {found[0][4]!r}"
        )
    return found[0]


def errors(diags: list[Diag]) -> list[Diag]:
    return [d for d in diags if d[0] == "error"]


def warnings(diags: list[Diag]) -> list[Diag]:
    return [d for d in diags if d[0] == "warning"]


def only_errors_at(diags: list[Diag], *positions: tuple[int, int]) -> None:
    """The errors are exactly at `positions` (no cascades, nothing missing)."""
    got = sorted((d[1], d[2]) for d in errors(diags))
    assert got == sorted(positions), f"errors expected at {sorted(positions)}; got:\n{show(diags)}"


def no_opaque_messages(diags: list[Diag]) -> None:
    for d in diags:
        assert "valid under any of the given schemas" not in d[3], f"opaque schema message: {d[3]}"
        assert "anyof" not in d[3].lower() and "oneof" not in d[3].lower(), f"opaque schema message: {d[3]}"


STEP = """\
- step:
    name: train
    image: python:3.12
    command: python train.py {parameters}
    parameters:
      - name: learning_rate
        type: float
        default: 0.1
      - name: epochs
        type: integer
        default: 5
    inputs:
      - name: dataset
        optional: true
    outputs:
      - name: model
"""


# --------------------------------------------------------------------------------------------
# Baseline: a clean file has no diagnostics (so every other test's diagnostic is caused by
# the one thing it changes).


def test_clean_file_has_no_diagnostics(tmp_path: Path) -> None:
    text = STEP + doc("""
        - pipeline:
            name: p
            nodes:
              - name: prep
                type: execution
                step: train
              - name: fit
                type: execution
                step: train
            edges:
              - [prep.output.model*, fit.input.dataset]
              - [prep.parameter.epochs, fit.parameter.epochs]
            parameters:
              - name: lr
                targets: [prep.parameter.learning_rate, fit.parameter.learning_rate]
                default: 0.01
    """)
    result = run(tmp_path, text)
    assert result.diagnostics == []
    assert [wf.name for wf in result.workflows] == ["p"]


# --------------------------------------------------------------------------------------------
# Schema errors: located, readable, with hints


def test_misspelled_node_key_gets_did_you_mean(tmp_path: Path) -> None:
    text = STEP + doc("""
        - pipeline:
            name: p
            nodes:
              - name: a
                type: execution
                step: train
                on_error: stop-all
            edges: []
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "on_error"), "unknown key", "on_error", hint="did you mean 'on-error'?")
    only_errors_at(diags, at(text, "on_error"))
    no_opaque_messages(diags)


def test_under_indented_step_gets_indentation_hint(tmp_path: Path) -> None:
    # Keys at the same indent as `step:` make `step` null and move them beside it.
    text = doc("""
        - step:
          name: train
          image: python:3.12
          command: python train.py
    """)
    diags = diagnostics(tmp_path, text)
    d = expect(diags, "error", at(text, "step"), "expected a mapping", hint="indent")
    assert "under-indented" in (d[4] or "")
    assert len(errors(diags)) == 1, show(diags)


def test_under_indented_pipeline_gets_indentation_hint(tmp_path: Path) -> None:
    text = STEP + doc("""
        - pipeline:
          name: p
          nodes: []
          edges: []
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "pipeline"), "expected a mapping", hint="under-indented")


def test_failing_node_reports_the_enum_not_an_opaque_anyof(tmp_path: Path) -> None:
    text = STEP + doc("""
        - pipeline:
            name: p
            nodes:
              - name: a
                type: execution
                step: train
                on-error: report-to-sentry
            edges: []
    """)
    diags = diagnostics(tmp_path, text)
    d = expect(diags, "error", at(text, "report-to-sentry"), "report-to-sentry")
    for allowed in ("stop-all", "stop-next", "continue", "retry"):
        assert allowed in d[3], d[3]
    only_errors_at(diags, at(text, "report-to-sentry"))
    no_opaque_messages(diags)


NODE_SCHEMA_CASES = [
    # id, node body (indented under `nodes:`), needle for the location, words, hint
    ("unknown-type", "- name: a\n  type: exectuion\n  step: train\n", "exectuion",
     ("exectuion", "execution", "task", "deployment"), "did you mean 'execution'?"),
    ("retry-on-deployment", "- name: d\n  type: deployment\n  deployment: prod\n  on-error: retry\n", "retry",
     ("retry", "stop-all", "stop-next", "continue"), None),
    ("step-and-task", "- name: t\n  type: task\n  step: train\n  task: sweep\n", "name: t\n",
     ("'step'", "'task'", "together"), None),
    ("edge-merge-mode", "- name: a\n  type: execution\n  step: train\n  edge-merge-mode: merge\n", "merge\n",
     ("merge", "replace", "append"), None),
    ("stray-override-key", "- name: a\n  type: execution\n  step: train\n  override:\n    training-images: x\n",
     "training-images", ("unknown key", "training-images"), "parameters"),
    ("missing-step", "- name: a\n  type: execution\n", "name: a\n", ("missing required key", "step"), None),
    ("missing-type", "- name: a\n  step: train\n", "name: a\n", ("missing required key", "type"), None),
]


@pytest.mark.parametrize("body,needle,words,hint", [c[1:] for c in NODE_SCHEMA_CASES],
                         ids=[c[0] for c in NODE_SCHEMA_CASES])
def test_node_schema_errors_are_specific(tmp_path: Path, body: str, needle: str, words: tuple[str, ...],
                                         hint: str | None) -> None:
    nodes = textwrap.indent(body, " " * 6)
    text = STEP + "- pipeline:\n    name: p\n    nodes:\n" + nodes + "    edges: []\n"
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, needle), *words, hint=hint)
    assert len(errors(diags)) == 1, show(diags)
    no_opaque_messages(diags)


SCHEMA_CASES = [
    # id, document, needle for the location, words, hint
    ("step-missing-command", "- step:\n    name: train\n    image: python:3.12\n", "step",
     ("missing required key", "command"), None),
    ("command-number", "- step:\n    name: train\n    image: python:3.12\n    command: 8\n", "8",
     ("expected a string or a list", "8"), None),
    ("param-type-enum", "- step:\n    name: s\n    image: i\n    command: c\n    parameters:\n"
     "      - name: x\n        type: bool\n", "bool", ("bool", "flag", "float", "integer", "string"), None),
    ("param-key-typo", "- step:\n    name: s\n    image: i\n    command: c\n    parameters:\n"
     "      - name: x\n        tpye: integer\n", "tpye", ("unknown key", "tpye"), "did you mean 'type'?"),
    ("step-key-typo", "- step:\n    name: s\n    image: i\n    command: c\n    time_limit: 60\n", "time_limit",
     ("unknown key", "time_limit"), "did you mean 'time-limit'?"),
    ("input-name-too-long", "- step:\n    name: s\n    image: i\n    command: c\n    inputs:\n"
     "      - name: " + "a" * 70 + "\n", "a" * 70, ("longer than 64",), None),
    ("resources-string", "- step:\n    name: s\n    image: i\n    command: c\n    resources:\n"
     "      cpu: {min: \"two\"}\n", "\"two\"", ("expected a number", "two"), None),
    ("time-limit-float", "- step:\n    name: s\n    image: i\n    command: c\n    time-limit: 1.5\n", "1.5",
     ("expected an integer or a string", "1.5"), None),
    ("endpoint-name-pattern", "- endpoint:\n    name: Server-endpoint\n    image: i\n    wsgi: a:b\n",
     "Server-endpoint", ("Server-endpoint", "expected form"), "lowercase"),
    ("endpoint-wsgi-and-server-command", "- endpoint:\n    name: both\n    image: i\n    wsgi: a:b\n"
     "    server-command: run\n", "endpoint", ("wsgi", "server-command"), None),
    ("task-without-parameters", "- step:\n    name: s\n    image: i\n    command: c\n"
     "- task:\n    name: t\n    step: s\n", "task", ("parameters", "parameter-sets"), None),
    ("edge-three-items", "- pipeline:\n    name: p\n    nodes: []\n    edges:\n"
     "      - [a.output.x, b.input.y, c.input.z]\n", "[a.output.x", ("c.input.z",), None),
    ("edge-one-item", "- pipeline:\n    name: p\n    nodes: []\n    edges:\n"
     "      - [a.output.x]\n", "[a.output.x", ("a.output.x",), "[source, target]"),
    ("full-edge-without-target", "- pipeline:\n    name: p\n    nodes: []\n    edges:\n"
     "      - {source: a.output.x}\n", "{source", ("missing required key", "target"), None),
    ("pipeline-param-without-name", "- pipeline:\n    name: p\n    nodes: []\n    edges: []\n    parameters:\n"
     "      - target: a.parameter.x\n", "target: a", ("missing required key", "name"), None),
    ("pipeline-param-target-and-targets", "- pipeline:\n    name: p\n    nodes: []\n    edges: []\n"
     "    parameters:\n      - name: x\n        target: a.parameter.x\n        targets: [a.parameter.x]\n",
     "name: x", ("'target'", "'targets'", "together"), None),
    ("deployment-unknown-key", "- deployment:\n    name: prod\n    defaults: {target: c}\n    bogus-key: 1\n",
     "bogus-key", ("unknown key", "bogus-key"), "defaults"),
    ("blueprint-unknown-key", "- blueprint:\n    name: bp\n    nodes: []\n    edges: []\n    bogus-key: 1\n",
     "bogus-key", ("unknown key", "bogus-key"), "nodes"),
    ("pipeline-without-edges", "- pipeline:\n    name: p\n    nodes: []\n", "pipeline",
     ("missing required key", "edges"), None),
]


@pytest.mark.parametrize("text,needle,words,hint", [c[1:] for c in SCHEMA_CASES], ids=[c[0] for c in SCHEMA_CASES])
def test_schema_errors_are_located_and_readable(tmp_path: Path, text: str, needle: str, words: tuple[str, ...],
                                                hint: str | None) -> None:
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, needle), *words, hint=hint)
    assert len(errors(diags)) == 1, show(diags)
    no_opaque_messages(diags)


def test_schema_error_in_one_item_does_not_hide_lint_of_others(tmp_path: Path) -> None:
    text = doc("""
        - step:
            name: a
            image: python:3.12
            command: run
            runtime-config-preset: preset-1
        - step:
            name: b
            image: python:3.12
            command: run
            bogus: 1
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "runtime-config-preset"), "runtime-config-preset", "environment")
    expect(diags, "error", at(text, "bogus"), "unknown key", "bogus")


# --------------------------------------------------------------------------------------------
# valohai-yaml lint catalogue (reference §10.1)


def test_unknown_top_level_key_is_a_warning(tmp_path: Path) -> None:
    text = STEP + doc("""
        - banana:
            name: x
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, "banana"), "banana")
    assert errors(diags) == [], show(diags)


def test_misspelled_top_level_kind_gets_did_you_mean(tmp_path: Path) -> None:
    text = STEP + doc("""
        - pipelin:
            name: p
            nodes: []
            edges: []
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, "pipelin"), "pipelin", hint="pipeline")


def test_duplicate_step_name_is_a_warning(tmp_path: Path) -> None:
    text = STEP + doc("""
        - step:
            name: train
            image: python:3.11
            command: python other.py
    """)
    diags = diagnostics(tmp_path, text)
    first_line = at(text, "name: train")[0]
    d = expect(diags, "warning", at(text, "train", nth=2), "duplicate", "step", "train")
    assert str(first_line) in d[3], d[3]
    assert errors(diags) == [], show(diags)


def test_duplicate_pipeline_name_is_a_warning(tmp_path: Path) -> None:
    text = STEP + doc("""
        - pipeline:
            name: p
            nodes: []
            edges: []
        - pipeline:
            name: p
            nodes: []
            edges: []
    """)
    diags = diagnostics(tmp_path, text)
    first_line = at(text, "name: p")[0]
    d = expect(diags, "warning", at(text, "p\n", nth=1), "duplicate", "pipeline", "'p'")
    assert str(first_line) in d[3], d[3]
    assert errors(diags) == [], show(diags)


def test_shadowed_duplicate_definition_is_still_checked(tmp_path: Path) -> None:
    # Every problem in the file is reported: the first of two same-named steps is dropped
    # by "later wins", but its broken stop-condition is still a problem in the file.
    text = doc("""
        - step:
            name: train
            image: python:3.12
            command: run
            stop-condition: "metadata.loss <"
        - step:
            name: train
            image: python:3.12
            command: run
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, "train", nth=1), "duplicate")
    expect(diags, "error", at(text, '"metadata.loss <"'), "stop-condition", "not a valid expression")


def test_step_runtime_config_preset_without_environment(tmp_path: Path) -> None:
    text = doc("""
        - step:
            name: train
            image: python:3.12
            command: run
            runtime-config-preset: preset-1
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "runtime-config-preset"), "train", "runtime-config-preset", "environment",
           hint="environment")
    only_errors_at(diags, at(text, "runtime-config-preset"))


def test_step_runtime_config_preset_with_environment_is_fine(tmp_path: Path) -> None:
    text = doc("""
        - step:
            name: train
            image: python:3.12
            command: run
            environment: my-env
            runtime-config-preset: preset-1
    """)
    assert diagnostics(tmp_path, text) == []


def test_override_runtime_config_preset_without_environment(tmp_path: Path) -> None:
    text = STEP + doc("""
        - pipeline:
            name: p
            nodes:
              - name: train-node
                type: execution
                step: train
                override:
                  runtime-config-preset: preset-1
            edges: []
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "runtime-config-preset"), "train-node", "runtime-config-preset", "environment",
           hint="environment")
    only_errors_at(diags, at(text, "runtime-config-preset"))


STOP_CONDITIONS = [
    ("syntax", '"metadata.loss <"', ("invalid syntax",), None),
    ("subscript", '"metadata.x[0] > 1"', ("subscript", "not allowed"), None),
    ("chained", '"1 < metadata.x < 3"', ("only simple comparisons",), "and"),
]


@pytest.mark.parametrize("expr,words,hint", [c[1:] for c in STOP_CONDITIONS], ids=[c[0] for c in STOP_CONDITIONS])
def test_step_stop_condition_invalid(tmp_path: Path, expr: str, words: tuple[str, ...], hint: str | None) -> None:
    text = doc(f"""
        - step:
            name: train
            image: python:3.12
            command: run
            stop-condition: {expr}
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, expr), "train", "stop-condition", "not a valid expression", *words, hint=hint)
    assert len(errors(diags)) == 1, show(diags)


@pytest.mark.parametrize("expr,words,hint", [c[1:] for c in STOP_CONDITIONS], ids=[c[0] for c in STOP_CONDITIONS])
def test_task_stop_condition_invalid(tmp_path: Path, expr: str, words: tuple[str, ...], hint: str | None) -> None:
    text = STEP + doc(f"""
        - task:
            name: sweep
            step: train
            type: grid_search
            stop-condition: {expr}
            parameters:
              - name: learning_rate
                style: multiple
                rules: {{items: [0.1, 0.2]}}
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, expr), "task", "sweep", "stop-condition", "not a valid expression", *words,
           hint=hint)
    assert len(errors(diags)) == 1, show(diags)


@pytest.mark.parametrize("expr", [
    '"metadata.loss < 0.1"',
    '"metadata.acc >= .8 and not metadata.diverged"',
    '"metadata.a > 1 or max(metadata.b, 2) == 2"',
])
def test_valid_stop_conditions_are_accepted(tmp_path: Path, expr: str) -> None:
    text = doc(f"""
        - step:
            name: train
            image: python:3.12
            command: run
            stop-condition: {expr}
    """)
    assert diagnostics(tmp_path, text) == []


def _step_with_param(param: str) -> str:
    return (
        "- step:\n    name: train\n    image: python:3.12\n    command: python train.py {parameters}\n"
        "    parameters:\n" + textwrap.indent(doc(param), " " * 6)
    )


def test_flag_with_optional_is_a_warning(tmp_path: Path) -> None:
    text = _step_with_param("""
        - name: verbose
          type: flag
          optional: true
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, "optional"), "verbose", "optional", "no effect", "flag")
    assert errors(diags) == [], show(diags)


def test_flag_with_pass_as_and_pass_true_as_is_a_warning(tmp_path: Path) -> None:
    text = _step_with_param("""
        - name: quiet
          type: flag
          pass-as: --quiet
          pass-true-as: -q
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, "pass-as"), "quiet", "pass-as", "no effect", "pass-true-as")
    assert errors(diags) == [], show(diags)


@pytest.mark.parametrize("key", ["pass-true-as", "pass-false-as"])
def test_non_flag_with_pass_true_or_false_as_is_a_warning(tmp_path: Path, key: str) -> None:
    text = _step_with_param(f"""
        - name: lr
          type: float
          {key}: --yes
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, key), "lr", key, "no effect", "non-flag")
    assert errors(diags) == [], show(diags)


BAD_DEFAULTS = [
    ("unquoted-date", "- name: ctime\n  type: string\n  default: 2020-09-02\n", "2020-09-02",
     ("ctime", "default", "not a string")),
    ("integer-not-integer", "- name: value\n  type: integer\n  default: zoom\n", "zoom",
     ("value", "default", "zoom", "not an integer")),
    ("integer-is-float", "- name: value\n  type: integer\n  default: 1.5\n", "1.5",
     ("value", "1.5", "not an integer")),
    ("float-not-float", "- name: lr\n  type: float\n  default: fast\n", "fast",
     ("lr", "fast", "not a floating-point number")),
    ("above-max", "- name: value\n  type: integer\n  max: 100\n  default: 1337\n", "1337",
     ("value", "1337", "greater than the maximum", "100")),
    ("below-min", "- name: value\n  type: float\n  min: 0.5\n  default: 0.1\n", "0.1",
     ("value", "0.1", "less than the minimum", "0.5")),
    ("not-in-choices", "- name: mode\n  choices: [a, b]\n  default: zz\n", "zz",
     ("mode", "'zz'", "not among the choices", "a, b")),
]


@pytest.mark.parametrize("param,needle,words", [c[1:] for c in BAD_DEFAULTS], ids=[c[0] for c in BAD_DEFAULTS])
def test_bad_parameter_default_is_a_warning(tmp_path: Path, param: str, needle: str, words: tuple[str, ...]) -> None:
    text = _step_with_param(param)
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, needle), *words)
    assert errors(diags) == [], show(diags)


def test_unquoted_date_default_hints_at_quoting(tmp_path: Path) -> None:
    text = _step_with_param("""
        - name: ctime
          type: string
          default: 2020-09-02
    """)
    d = expect(diagnostics(tmp_path, text), "warning", at(text, "2020-09-02"), "not a string")
    assert "quote" in (d[3] + (d[4] or "")).lower()


@pytest.mark.parametrize("param", [
    "- name: ctime\n  type: string\n  default: '2020-09-02'\n",
    "- name: value\n  type: integer\n  min: 0\n  max: 100\n  default: 100\n",
    "- name: lr\n  type: float\n  default: 1\n",
    "- name: mode\n  choices: [a, b]\n  default: b\n",
    "- name: layers\n  type: integer\n  multiple: separate\n  default: [1, 2]\n",
])
def test_good_parameter_defaults_are_fine(tmp_path: Path, param: str) -> None:
    assert diagnostics(tmp_path, _step_with_param(param)) == []


def _task(extra: str, ttype: str = "grid_search") -> str:
    return STEP + doc(f"""
        - task:
            name: sweep
            step: train
            type: {ttype}
            parameters:
              - name: learning_rate
                style: multiple
                rules: {{items: [0.1, 0.2]}}
    """) + textwrap.indent(doc(extra), " " * 4)


def test_parameter_sets_on_non_manual_task_is_a_warning(tmp_path: Path) -> None:
    text = _task("""
        parameter-sets:
          - learning_rate: 0.3
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, "parameter-sets"), "sweep", "parameter sets", "manual search")
    assert errors(diags) == [], show(diags)


def test_parameter_sets_on_manual_search_is_fine(tmp_path: Path) -> None:
    text = _task("""
        parameter-sets:
          - learning_rate: 0.3
    """, ttype="manual_search")
    diags = diagnostics(tmp_path, text)
    assert not any("parameter sets" in d[3].lower() for d in diags), show(diags)
    assert errors(diags) == [], show(diags)


@pytest.mark.parametrize("key,value", [
    ("engine", "optuna"), ("optimization-target-metric", "loss"), ("optimization-target-value", "0.1"),
])
def test_bayesian_only_field_on_other_task_type_is_a_warning(tmp_path: Path, key: str, value: str) -> None:
    text = _task(f"{key}: {value}\n")
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, key), "sweep", key, "Bayesian")
    assert errors(diags) == [], show(diags)


def test_bayesian_fields_on_bayesian_task_are_fine(tmp_path: Path) -> None:
    text = _task("""
        engine: optuna
        optimization-target-metric: loss
        optimization-target-value: 0.1
        execution-count: 4
    """, ttype="bayesian_tpe")
    diags = diagnostics(tmp_path, text)
    assert not any("only makes sense" in d[3] for d in diags), show(diags)
    assert errors(diags) == [], show(diags)


@pytest.mark.parametrize("defaults", ["", "    defaults: {allow-cors: true}\n"], ids=["no-defaults", "no-target"])
def test_deployment_without_defaults_target_is_a_warning(tmp_path: Path, defaults: str) -> None:
    text = "- deployment:\n    name: prod\n" + defaults
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, "prod"), "prod", "defaults.target")
    assert errors(diags) == [], show(diags)


def test_deployment_with_defaults_target_is_fine(tmp_path: Path) -> None:
    text = "- deployment:\n    name: prod\n    defaults: {target: my-cluster}\n"
    diags = diagnostics(tmp_path, text)
    assert not any("defaults.target" in d[3] for d in diags), show(diags)


def _pipeline(nodes: str, edges: str = "[]", parameters: str | None = None, head: str = STEP) -> str:
    text = head + "- pipeline:\n    name: p\n    nodes:\n" + textwrap.indent(doc(nodes), " " * 6)
    if edges.strip() == "[]":
        text += "    edges: []\n"
    else:
        text += "    edges:\n" + textwrap.indent(doc(edges), " " * 6)
    if parameters is not None:
        text += "    parameters:\n" + textwrap.indent(doc(parameters), " " * 6)
    return text


TWO_NODES = """
    - name: a
      type: execution
      step: train
    - name: b
      type: execution
      step: train
"""


def test_duplicate_node_names_is_an_error(tmp_path: Path) -> None:
    text = _pipeline("""
        - name: a
          type: execution
          step: train
        - name: a
          type: execution
          step: train
    """)
    diags = diagnostics(tmp_path, text)
    d = expect(diags, "error", at(text, "a\n", nth=1), "two nodes", "'a'")
    assert str(at(text, "name: a")[0]) in d[3], d[3]
    only_errors_at(diags, at(text, "a\n", nth=1))


def test_node_step_missing_is_an_error_with_did_you_mean(tmp_path: Path) -> None:
    text = _pipeline("""
        - name: b
          type: execution
          step: trian
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "trian"), "'b'", "step", "trian", "does not exist", hint="did you mean 'train'?")
    only_errors_at(diags, at(text, "trian"))


def test_node_task_blueprint_missing_is_an_error(tmp_path: Path) -> None:
    text = _pipeline("""
        - name: d
          type: task
          task: nonexistent-task
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "nonexistent-task"), "'d'", "task", "nonexistent-task", "does not exist")
    only_errors_at(diags, at(text, "nonexistent-task"))


def test_node_task_blueprint_missing_has_did_you_mean(tmp_path: Path) -> None:
    text = _pipeline("""
        - name: d
          type: task
          task: swep
    """, head=_task(""))
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "swep\n"), "swep", "does not exist", hint="did you mean 'sweep'?")


def test_blueprint_step_missing_is_an_error_at_the_blueprint(tmp_path: Path) -> None:
    head = doc("""
        - task:
            name: t
            step: missing-step
            parameters:
              - name: lr
                style: single
                rules: {value: 0.1}
    """)
    text = _pipeline("""
        - name: c
          type: task
          task: t
    """, head=head)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "missing-step"), "'c'", "'t'", "missing-step", "does not exist")
    only_errors_at(diags, at(text, "missing-step"))


@pytest.mark.parametrize("key,name,guess", [("inputs", "datasett", "dataset"), ("parameters", "epoch", "epochs")])
def test_override_entry_not_in_step_is_an_error(tmp_path: Path, key: str, name: str, guess: str) -> None:
    text = _pipeline(f"""
        - name: e
          type: execution
          step: train
          override:
            {key}:
              - name: {name}
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, f"{name}\n"), "'e'", key[:-1], f"'{name}'", "does not exist", "train",
           hint=f"did you mean '{guess}'?")
    only_errors_at(diags, at(text, f"{name}\n"))


def test_override_parameter_default_is_checked(tmp_path: Path) -> None:
    text = _pipeline("""
        - name: e
          type: execution
          step: train
          override:
            parameters:
              - name: epochs
                default: many
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, "many"), "epochs", "many", "not an integer")
    assert errors(diags) == [], show(diags)


@pytest.mark.parametrize("field,value,word", [("when", "node-finished", "node-finished"), ("then", "explode", "explode")])
def test_unknown_action_when_or_then_is_a_warning(tmp_path: Path, field: str, value: str, word: str) -> None:
    action = {"when": "node-complete", "then": "stop-pipeline"}
    action[field] = value
    text = _pipeline(f"""
        - name: a
          type: execution
          step: train
          actions:
            - when: {action['when']}
              if: "metadata.acc < 0.8"
              then: {action['then']}
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, value), f"'{field}'", word, "not well-known")
    assert errors(diags) == [], show(diags)


def test_well_known_action_values_are_not_flagged(tmp_path: Path) -> None:
    text = _pipeline("""
        - name: a
          type: execution
          step: train
          actions:
            - when: [node-starting, node-complete, node-error]
              then: [noop, stop-pipeline, error-pipeline]
    """)
    diags = diagnostics(tmp_path, text)
    assert not any("well-known" in d[3] for d in diags), show(diags)
    assert errors(diags) == [], show(diags)


@pytest.mark.parametrize("edge,needle,role,node", [
    ("[zork.output.model, b.input.dataset]", "zork.output.model", "source", "zork"),
    ("[a.output.model, ghost.input.dataset]", "ghost.input.dataset", "target", "ghost"),
])
def test_edge_node_missing_is_an_error(tmp_path: Path, edge: str, needle: str, role: str, node: str) -> None:
    text = _pipeline(TWO_NODES, f"- {edge}\n")
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, needle), "edge", role, node, "does not exist")
    only_errors_at(diags, at(text, needle))


def test_edge_node_missing_has_did_you_mean(tmp_path: Path) -> None:
    text = _pipeline(TWO_NODES.replace("name: b", "name: trainer"), "- [a.output.model, trainr.input.dataset]\n")
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "trainr.input.dataset"), "trainr", "does not exist",
           hint="did you mean 'trainer'?")


@pytest.mark.parametrize("edge,needle,role,bad,good", [
    ("[a.outputs.model, b.input.dataset]", "a.outputs.model", "source", "outputs", "output"),
    ("[a.output.model, b.inputs.dataset]", "b.inputs.dataset", "target", "inputs", "input"),
    ("[a.parameters.epochs, b.parameter.epochs]", "a.parameters.epochs", "source", "parameters", "parameter"),
])
def test_invalid_edge_type_is_an_error_with_did_you_mean(tmp_path: Path, edge: str, needle: str, role: str, bad: str,
                                                         good: str) -> None:
    text = _pipeline(TWO_NODES, f"- {edge}\n")
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, needle), role, "type", f"'{bad}'", "not valid", hint=f"did you mean '{good}'?")
    only_errors_at(diags, at(text, needle))


@pytest.mark.parametrize("edge,needle,role", [
    ("[a.output.model, b.input]", "b.input]", "target"),
    ("[a.output, b.input.dataset]", "a.output,", "source"),
    ("{source: a.output.model, target: b}", "b}", "target"),
])
def test_edge_specifier_with_fewer_than_three_parts(tmp_path: Path, edge: str, needle: str, role: str) -> None:
    text = _pipeline(TWO_NODES, f"- {edge}\n")
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, needle), role, "3 parts")
    only_errors_at(diags, at(text, needle))


def test_one_item_shorthand_edge_is_an_error(tmp_path: Path) -> None:
    text = _pipeline(TWO_NODES, "- [a.output.model]\n")
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "[a.output.model]"), "a.output.model")
    assert len(errors(diags)) == 1, show(diags)
    no_opaque_messages(diags)


@pytest.mark.parametrize("targets", ["", "        targets: []\n"], ids=["absent", "empty-list"])
def test_pipeline_parameter_without_targets_is_a_warning(tmp_path: Path, targets: str) -> None:
    text = _pipeline(TWO_NODES, parameters="- name: lonely\n") + targets
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, "lonely"), "lonely", "no targets")
    assert errors(diags) == [], show(diags)


def test_pipeline_parameter_target_type_not_parameter(tmp_path: Path) -> None:
    text = _pipeline(TWO_NODES, parameters="""
        - name: pp
          target: a.input.dataset
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "a.input.dataset"), "pp", "a.input.dataset", "socket type", "input",
           "not supported")
    only_errors_at(diags, at(text, "a.input.dataset"))


def test_pipeline_parameter_target_node_missing(tmp_path: Path) -> None:
    text = _pipeline(TWO_NODES, parameters="""
        - name: pp
          targets: [ghost.parameter.epochs]
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "ghost.parameter.epochs"), "pp", "node", "ghost", "does not exist")
    only_errors_at(diags, at(text, "ghost.parameter.epochs"))


def test_pipeline_parameter_target_parameter_missing(tmp_path: Path) -> None:
    text = _pipeline(TWO_NODES, parameters="""
        - name: pp
          targets:
            - a.parameter.epochs
            - b.parameter.epoch
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "b.parameter.epoch\n"), "pp", "parameter", "'epoch'", "does not exist", "train",
           hint="did you mean 'epochs'?")
    only_errors_at(diags, at(text, "b.parameter.epoch\n"))


# --------------------------------------------------------------------------------------------
# Inputs that crash valohai-yaml (reference §10.2) are located errors here


def test_pipeline_parameter_targeting_node_whose_step_is_absent(tmp_path: Path) -> None:
    text = _pipeline("""
        - name: a
          type: execution
          step: missing
    """, parameters="""
        - name: x
          targets: [a.parameter.learning_rate]
    """)
    diags = diagnostics(tmp_path, text)  # must not raise
    expect(diags, "error", at(text, "missing"), "step", "missing", "does not exist")
    only_errors_at(diags, at(text, "missing"))


def test_pipeline_parameter_targeting_remote_commit_node_does_not_crash(tmp_path: Path) -> None:
    text = _pipeline("""
        - name: prep
          type: execution
          step: csv-into-parquet
          commit: "library:generic-preprocessors/csv-into-parquet"
    """, parameters="""
        - name: x
          targets: [prep.parameter.anything]
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, '"library:'), "prep", "csv-into-parquet", "commit")
    assert errors(diags) == [], show(diags)


def test_unknown_task_type_is_an_error_with_did_you_mean(tmp_path: Path) -> None:
    text = _task("", ttype="grid-serach")
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "grid-serach"), "sweep", "unknown type", "grid-serach",
           hint="did you mean 'grid_search'?")
    only_errors_at(diags, at(text, "grid-serach"))


@pytest.mark.parametrize("ttype", ["grid_search", "grid-search", "random-search", "manual_search", "distributed"])
def test_known_task_types_are_accepted(tmp_path: Path, ttype: str) -> None:
    text = _task("execution-count: 2\n", ttype=ttype)
    diags = diagnostics(tmp_path, text)
    assert not any("unknown type" in d[3] for d in diags), show(diags)


def test_unknown_on_child_error_is_an_error_with_did_you_mean(tmp_path: Path) -> None:
    text = _task("on-child-error: stop-all-and-eror\n")
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "stop-all-and-eror"), "sweep", "on-child-error", "stop-all-and-eror",
           hint="did you mean 'stop-all-and-error'?")
    only_errors_at(diags, at(text, "stop-all-and-eror"))


def test_flag_with_multiple_is_an_error(tmp_path: Path) -> None:
    text = _step_with_param("""
        - name: verbose
          type: flag
          multiple: separate
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "multiple"), "verbose", "flag", "multiple")
    only_errors_at(diags, at(text, "multiple"))


@pytest.mark.parametrize("value,words,hint", [
    ('"1H"', ("unit", "H"), "lowercase"),
    ('"300"', ("without a unit", "300"), "unit"),
    ('"1h30"', ("without a unit", "1h30"), "unit"),
    ('"abc"', ("abc", "duration"), None),
    ('"0s"', ("positive",), None),
])
@pytest.mark.parametrize("key", ["time-limit", "no-output-timeout"])
@pytest.mark.parametrize("with_pipeline", [True, False], ids=["with-pipeline", "steps-only"])
def test_bad_duration_is_a_located_error(tmp_path: Path, value: str, words: tuple[str, ...], hint: str | None,
                                         key: str, with_pipeline: bool) -> None:
    text = doc(f"""
        - step:
            name: train
            image: python:3.12
            command: run
            {key}: {value}
    """)
    if with_pipeline:
        text += doc("""
            - pipeline:
                name: p
                nodes:
                  - name: a
                    type: execution
                    step: train
                edges: []
        """)
    diags = diagnostics(tmp_path, text)  # a steps-only file must not crash either
    expect(diags, "error", at(text, value), key, *words, hint=hint)
    only_errors_at(diags, at(text, value))


@pytest.mark.parametrize("value,seconds", [
    ("600", 600), ('"1h 30m 5s"', 5405), ('"48h"', 172800), ('"1.5d"', 129600), ('"10 min"', 600),
    ('"2 weeks 1 day"', 1296000),
])
def test_good_durations_are_accepted(tmp_path: Path, value: str, seconds: int) -> None:
    text = doc(f"""
        - step:
            name: train
            image: python:3.12
            command: run
            time-limit: {value}
    """)
    result = run(tmp_path, text)
    assert result.diagnostics == []
    assert result.workflows[0].jobs[0].timeout_seconds == seconds


@pytest.mark.parametrize("key", ["pass-as", "pass-true-as", "pass-false-as"])
def test_pass_as_with_unknown_placeholder_is_an_error(tmp_path: Path, key: str) -> None:
    ptype = "float" if key == "pass-as" else "flag"
    text = _step_with_param(f"""
        - name: lr
          type: {ptype}
          {key}: "--lr={{foo}}"
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, '"--lr={foo}"'), "lr", key, "{foo}", hint="{value}")
    only_errors_at(diags, at(text, '"--lr={foo}"'))


def test_pass_as_with_known_placeholders_is_fine(tmp_path: Path) -> None:
    text = _step_with_param("""
        - name: lr
          type: float
          pass-as: "--{name} {v} {value}"
    """)
    assert diagnostics(tmp_path, text) == []


# --------------------------------------------------------------------------------------------
# Checks valohai-yaml does not make


def test_edge_to_missing_input_is_an_error_with_did_you_mean(tmp_path: Path) -> None:
    head = STEP.replace("name: dataset", "name: datasets")
    text = _pipeline("""
        - name: prep
          type: execution
          step: train
        - name: train
          type: execution
          step: train
    """, "- [prep.output.model*, train.input.dataset]\n", head=head)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "train.input.dataset"), "'train'", "input", "'dataset'",
           hint="did you mean 'datasets'?")
    only_errors_at(diags, at(text, "train.input.dataset"))


def test_duplicate_edge_is_a_warning(tmp_path: Path) -> None:
    text = _pipeline(TWO_NODES, """
        - [a.output.model*, b.input.dataset]
        - {source: a.output.model*, target: b.input.dataset}
    """)
    diags = diagnostics(tmp_path, text)
    first_line = at(text, "[a.output.model*")[0]
    d = expect(diags, "warning", at(text, "{source"), "duplicate edge")
    assert str(first_line) in d[3], d[3]
    assert errors(diags) == [], show(diags)


def test_cycle_is_an_error_naming_the_full_path(tmp_path: Path) -> None:
    text = _pipeline("""
        - name: a
          type: execution
          step: train
        - name: b
          type: execution
          step: train
        - name: c
          type: execution
          step: train
    """, """
        - [a.output.model, b.input.dataset]
        - [b.output.model, c.input.dataset]
        - [c.output.model, a.input.dataset]
    """)
    diags = diagnostics(tmp_path, text)
    cycle = [d for d in errors(diags) if "cycle" in d[3].lower()]
    assert len(cycle) == 1, show(diags)
    # In data-flow order (each node feeds the next), starting anywhere on the cycle.
    rotations = ["a -> b -> c -> a", "b -> c -> a -> b", "c -> a -> b -> c"]
    assert any(r in cycle[0][3] for r in rotations), cycle[0][3]
    # Located at one of the edges that form the cycle.
    edge_lines = {at(text, e)[0] for e in ("[a.output.model", "[b.output.model", "[c.output.model")}
    assert cycle[0][1] in edge_lines, show(diags)
    assert cycle[0][2] == at(text, "[a.output.model")[1]
    assert len(errors(diags)) == 1, show(diags)


def test_two_node_cycle_is_an_error(tmp_path: Path) -> None:
    text = _pipeline(TWO_NODES, """
        - [a.output.model, b.input.dataset]
        - [b.parameter.epochs, a.parameter.epochs]
    """)
    diags = diagnostics(tmp_path, text)
    cycle = [d for d in errors(diags) if "cycle" in d[3].lower()]
    assert len(cycle) == 1, show(diags)
    assert "a -> b -> a" in cycle[0][3] or "b -> a -> b" in cycle[0][3], cycle[0][3]


def test_parameter_filled_by_two_edges_is_an_error(tmp_path: Path) -> None:
    text = _pipeline(TWO_NODES + """
    - name: c
      type: execution
      step: train
    """, """
        - [a.parameter.epochs, c.parameter.epochs]
        - [b.metadata.best_epochs, c.parameter.epochs]
    """)
    diags = diagnostics(tmp_path, text)
    d = expect(diags, "error", at(text, "c.parameter.epochs", nth=1), "'epochs'", "'c'", "two edges",
               hint="one edge")
    assert str(at(text, "c.parameter.epochs")[0]) in d[3], d[3]
    only_errors_at(diags, at(text, "c.parameter.epochs", nth=1))


def test_unreachable_node_is_fine(tmp_path: Path) -> None:
    text = _pipeline(TWO_NODES + """
    - name: lonely
      type: execution
      step: train
    """, "- [a.output.model, b.input.dataset]\n")
    result = run(tmp_path, text)
    assert result.diagnostics == []
    assert {j.name for j in result.workflows[0].jobs} == {"a", "b", "lonely"}


def test_self_edge_is_an_error(tmp_path: Path) -> None:
    text = _pipeline(TWO_NODES, "- [a.output.model, a.input.dataset]\n")
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, "[a.output.model"), "'a'", "itself")
    only_errors_at(diags, at(text, "[a.output.model"))


@pytest.mark.parametrize("edge", [
    "[a.output.model, b.parameter.epochs]",
    "[a.parameter.epochs, b.input.dataset]",
    "[a.metadata.loss, b.input.dataset]",
])
def test_senseless_edge_type_pair_is_an_error(tmp_path: Path, edge: str) -> None:
    text = _pipeline(TWO_NODES, f"- {edge}\n")
    src_type = edge.split(".")[1]
    tgt_type = edge.split(", ")[1].split(".")[1]
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, edge), "cannot connect", src_type, tgt_type)
    only_errors_at(diags, at(text, edge))


@pytest.mark.parametrize("node_body,needle", [
    ("- name: b\n  type: execution\n  step: trian\n", "trian"),
    ("- name: b\n  type: task\n  task: no-such-task\n", "no-such-task"),
], ids=["missing-step", "missing-blueprint"])
def test_edges_into_unresolved_node_do_not_cascade(tmp_path: Path, node_body: str, needle: str) -> None:
    # The node's own error is enough; "node 'b' has no input 'dataset'" would be misleading.
    text = _pipeline("- name: a\n  type: execution\n  step: train\n" + node_body, """
        - [a.output.model, b.input.dataset]
        - [a.parameter.epochs, b.parameter.epochs]
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "error", at(text, needle), needle, "does not exist")
    assert [d for d in diags if (d[1], d[2]) != at(text, needle)] == [], show(diags)


def test_edges_into_node_with_schema_broken_blueprint_do_not_cascade(tmp_path: Path) -> None:
    head = STEP + doc("""
        - task:
            name: sweep
            step: train
            type: 5
            parameters:
              - {name: learning_rate, style: single, rules: {value: 0.1}}
    """)
    text = _pipeline("""
        - name: a
          type: execution
          step: train
        - name: t
          type: task
          task: sweep
    """, "- [a.parameter.epochs, t.parameter.epochs]\n", head=head)
    diags = diagnostics(tmp_path, text)
    line, col = at(text, "type: 5")
    expect(diags, "error", (line, col + len("type: ")), "expected a string", "5")
    assert [d for d in diags if (d[1], d[2]) != (line, col + len("type: "))] == [], show(diags)


# --------------------------------------------------------------------------------------------
# `commit:` nodes


COMMIT_PIPELINE = """
    - name: prep
      type: execution
      step: csv-into-parquet
      commit: "library:generic-preprocessors/csv-into-parquet"
    - name: fit
      type: execution
      step: train
"""


def test_commit_node_with_step_not_in_file_is_a_warning_in_check(tmp_path: Path) -> None:
    text = _pipeline(COMMIT_PIPELINE, "- [prep.output.*.parquet, fit.input.dataset]\n")
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, '"library:'), "prep", "csv-into-parquet", "commit", hint="copy")
    assert errors(diags) == [], show(diags)


def test_commit_node_with_step_not_in_file_is_an_error_when_compiling(tmp_path: Path) -> None:
    text = _pipeline(COMMIT_PIPELINE, "- [prep.output.*.parquet, fit.input.dataset]\n")
    diags = diagnostics(tmp_path, text, for_compile=True)
    expect(diags, "error", at(text, '"library:'), "prep", "csv-into-parquet", "commit")
    only_errors_at(diags, at(text, '"library:'))


def test_commit_node_with_local_step_is_not_an_error(tmp_path: Path) -> None:
    text = _pipeline("""
        - name: prep
          type: execution
          step: train
          commit: abc123
    """)
    for request in ({}, {"for_compile": True}):
        diags = diagnostics(tmp_path, text, **request)
        assert errors(diags) == [], show(diags)


# --------------------------------------------------------------------------------------------
# Everything in one run, sorted by position


def test_all_problems_reported_in_position_order(tmp_path: Path) -> None:
    text = doc("""
        - step:
            name: train
            image: python:3.12
            command: run
            runtime-config-preset: preset-1
            parameters:
              - name: epochs
                type: integer
                default: zoom
        - task:
            name: sweep
            step: train
            type: grid-serach
            parameters:
              - {name: epochs, style: single, rules: {value: 1}}
        - deployment:
            name: prod
        - pipeline:
            name: p
            nodes:
              - name: a
                type: execution
                step: train
            edges:
              - [zork.output.model, a.input.data]
    """)
    diags = diagnostics(tmp_path, text)
    expected = [
        ("error", at(text, "runtime-config-preset")),
        ("warning", at(text, "zoom")),
        ("error", at(text, "grid-serach")),
        ("warning", at(text, "prod")),
        ("error", at(text, "zork.output.model")),
    ]
    got = [(d[0], (d[1], d[2])) for d in diags]
    assert got == expected, show(diags)


def test_problems_across_items_are_sorted_even_when_found_in_later_phases(tmp_path: Path) -> None:
    # A lint error early in the file and a schema error later: still position order.
    text = doc("""
        - step:
            name: a
            image: python:3.12
            command: run
            stop-condition: "x <"
        - step:
            name: b
            image: 5
            command: run
    """)
    diags = diagnostics(tmp_path, text)
    assert [(d[1], d[2]) for d in diags] == [at(text, '"x <"'), at(text, "5\n")], show(diags)


# --------------------------------------------------------------------------------------------
# Duplicate YAML mapping keys


DUPLICATE_KEY = doc("""
    - step:
        name: train
        image: python:3.12
        command: python train.py
        image: python:3.11
""")


def test_duplicate_yaml_key_is_a_located_warning(tmp_path: Path) -> None:
    result = run(tmp_path, DUPLICATE_KEY)
    diags = [(d.severity.value, d.location.line, d.location.col, d.message, d.hint) for d in result.diagnostics]
    first = at(DUPLICATE_KEY, "image")
    d = expect(diags, "warning", at(DUPLICATE_KEY, "image", nth=1), "duplicate key", "image", "later value wins")
    assert f"line {first[0]}" in d[3] and f"column {first[1]}" in d[3], d[3]
    assert len(diags) == 1, show(diags)
    # ...and the later value is the one used.
    assert result.workflows[0].jobs[0].image == "python:3.11"


def test_duplicate_yaml_key_is_an_error_when_strict(tmp_path: Path) -> None:
    diags = diagnostics(tmp_path, DUPLICATE_KEY, strict=True)
    expect(diags, "error", at(DUPLICATE_KEY, "image", nth=1), "duplicate key", "image")
    assert len(diags) == 1, show(diags)


def test_duplicate_key_in_nested_mapping(tmp_path: Path) -> None:
    text = _pipeline("""
        - name: a
          type: execution
          step: train
          on-error: continue
          on-error: stop-next
    """)
    diags = diagnostics(tmp_path, text)
    expect(diags, "warning", at(text, "on-error", nth=1), "duplicate key", "on-error")
    assert errors(diags) == [], show(diags)


# --------------------------------------------------------------------------------------------
# Command line


CLEAN = STEP
WARNS = STEP + "- banana: {}\n"
BROKEN = STEP.replace("image: python:3.12\n", "image: python:3.12\n    runtime-config-preset: x\n")


def cli(args: list[str], input: str | None = None) -> Any:
    return CliRunner().invoke(main, args, input=input, catch_exceptions=False)


def test_cli_clean_file_exits_0(tmp_path: Path) -> None:
    res = cli(["check", str(write(tmp_path, CLEAN))])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == ""


def test_cli_warnings_only_exit_0(tmp_path: Path) -> None:
    path = write(tmp_path, WARNS)
    res = cli(["check", str(path)])
    assert res.exit_code == 0, res.output
    line, col = at(WARNS, "banana")
    assert f"{path}:{line}:{col}: warning:" in res.stdout


def test_cli_strict_makes_warnings_exit_1(tmp_path: Path) -> None:
    res = cli(["check", "--strict", str(write(tmp_path, WARNS))])
    assert res.exit_code == 1, res.output


def test_cli_strict_makes_duplicate_keys_errors(tmp_path: Path) -> None:
    path = write(tmp_path, DUPLICATE_KEY)
    assert cli(["check", str(path)]).exit_code == 0
    res = cli(["check", "--strict", str(path)])
    assert res.exit_code == 1
    line, col = at(DUPLICATE_KEY, "image", nth=1)
    assert f"{path}:{line}:{col}: error: duplicate key" in res.stdout


def test_cli_errors_exit_1(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    res = cli(["check", str(path)])
    assert res.exit_code == 1, res.output
    line, col = at(BROKEN, "runtime-config-preset")
    assert f"{path}:{line}:{col}: error:" in res.stdout
    assert "1 error(s)" in res.stderr


def test_cli_any_failing_file_fails_the_run(tmp_path: Path) -> None:
    good = write(tmp_path, CLEAN, "good.yaml")
    bad = write(tmp_path, BROKEN, "bad.yaml")
    res = cli(["check", str(good), str(bad)])
    assert res.exit_code == 1
    assert str(bad) in res.stdout and str(good) not in res.stdout


def test_cli_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    res = cli(["check", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2
    assert "nope.yaml" in res.output


@pytest.mark.parametrize("command", ["plan", "graph"])
def test_cli_unknown_pipeline_is_a_usage_error(tmp_path: Path, command: str) -> None:
    text = _pipeline(TWO_NODES)
    res = cli([command, str(write(tmp_path, text)), "--pipeline", "q"])
    assert res.exit_code == 2, res.output
    assert "'q'" in res.output and "'p'" in res.output


def test_cli_json_format(tmp_path: Path) -> None:
    text = WARNS + "- step:\n    name: x\n    image: y\n    command: z\n    stop-condition: \"x <\"\n"
    path = write(tmp_path, text)
    res = cli(["check", "--format", "json", str(path)])
    assert res.exit_code == 1
    data = json.loads(res.stdout)
    assert isinstance(data, list) and len(data) == 2
    for item in data:
        assert set(item) == {"severity", "file", "line", "col", "message", "hint", "code", "rule"}
        assert item["file"] == str(path)
    assert [(i["severity"], i["line"], i["col"]) for i in data] == [
        ("warning", *at(text, "banana")), ("error", *at(text, '"x <"')),
    ]
    assert "banana" in data[0]["message"]


def test_cli_json_format_clean_is_an_empty_array(tmp_path: Path) -> None:
    res = cli(["check", "--format", "json", str(write(tmp_path, CLEAN))])
    assert res.exit_code == 0
    assert json.loads(res.stdout) == []


def test_cli_github_format(tmp_path: Path) -> None:
    text = _pipeline(TWO_NODES, "- [a.outputs.model, b.input.dataset]\n") + "- banana: {}\n"
    path = write(tmp_path, text)
    res = cli(["check", "--format", "github", str(path)])
    assert res.exit_code == 1
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 2, res.stdout
    line, col = at(text, "a.outputs.model")
    assert re.fullmatch(rf"::error file={re.escape(str(path))},line={line},col={col}::.*outputs.*", lines[0]), lines[0]
    assert "did you mean 'output'?" in lines[0]
    line, col = at(text, "banana")
    assert lines[1].startswith(f"::warning file={path},line={line},col={col},title=PC107 unknown-item::"), lines[1]


def test_cli_reads_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = cli(["check", "-"], input=BROKEN)
    assert res.exit_code == 1
    line, col = at(BROKEN, "runtime-config-preset")
    assert f"<stdin>:{line}:{col}: error:" in res.stdout
    assert cli(["check", "-"], input=CLEAN).exit_code == 0


def test_cli_subprocess_exit_codes(tmp_path: Path) -> None:
    env_path = str(REPO / "compiler")

    def pipec(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        import os

        env = dict(os.environ, PYTHONPATH=env_path)
        return subprocess.run([sys.executable, "-m", "pipec", *args], input=stdin, capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=60)

    assert pipec("check", str(write(tmp_path, CLEAN, "clean.yaml"))).returncode == 0
    assert pipec("check", str(write(tmp_path, BROKEN, "broken.yaml"))).returncode == 1
    assert pipec("check", str(tmp_path / "missing.yaml")).returncode == 2
    assert pipec("check", "-", stdin=WARNS).returncode == 0
    assert pipec("check", "--strict", "-", stdin=WARNS).returncode == 1


# --------------------------------------------------------------------------------------------
# Shipped examples


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_checks_clean(path: Path) -> None:
    result = load_workflows(Request(file=str(path)))
    assert not result.has_errors, "\n".join(d.format_text() for d in result.diagnostics)
    res = cli(["check", str(path)])
    assert res.exit_code == 0, res.output


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3
