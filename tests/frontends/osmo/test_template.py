"""The OSMO templating stage: sections, default-values and --set, shielded tokens, sandboxed
Jinja, located errors, and the map from each rendered line back to its template line."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2.sandbox import SandboxedEnvironment

from pipec.errors import Diagnostics, Severity
from pipec.frontends.osmo import template
from pipec.frontends.osmo.template import Rendered, cast, parse_set, render

FILE = "wf.yaml"
YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def run(source: str, sets=(), set_strings=()) -> tuple[Rendered | None, Diagnostics]:
    diags = Diagnostics()
    return render(source, FILE, list(sets), list(set_strings), diags), diags


def ok(source: str, sets=(), set_strings=()) -> Rendered:
    rendered, diags = run(source, sets, set_strings)
    assert rendered is not None, [d.format_text() for d in diags.items]
    assert not diags.has_errors
    assert len(rendered.lines) == len(YAML_BREAK.split(rendered.text))
    return rendered


def failed(source: str, sets=(), set_strings=()) -> list[str]:
    """The errors, as `line:col: message`."""
    rendered, diags = run(source, sets, set_strings)
    assert rendered is None
    errors = [d for d in diags.sorted() if d.severity is Severity.ERROR]
    assert errors
    return [f"{d.location.line}:{d.location.col}: {d.message}" for d in errors]


def hints(source: str) -> list[str | None]:
    return [d.hint for d in run(source)[1].sorted()]


def origin(rendered: Rendered, text: str) -> list[int]:
    """The source lines of every rendered line equal to `text`."""
    return [src for line, src in zip(YAML_BREAK.split(rendered.text), rendered.lines) if line == text]


PLAIN = """\
# A plain workflow: nothing for Jinja to do.
version: 2
workflow:
  name: plain
  tasks:
  - name: first
    image: alpine:3.18
    command: [sh, -c, "echo hi > {{output}}/a.txt"]
  - name: second
    image: alpine:3.18
    command: [sh, -c, "cat {{input:0}}/a.txt; echo {{workflow_id}} {{uuid}}"]
    inputs:
    - task: first
"""


# ------------------------------------------------------------------ plain files, values
def test_a_plain_file_is_unchanged_and_maps_line_for_line() -> None:
    rendered = ok(PLAIN)
    assert rendered.text == PLAIN
    assert rendered.lines == tuple(range(1, PLAIN.count("\n") + 2))
    assert rendered.values == {}


def test_a_file_without_final_newline_is_unchanged() -> None:
    text = PLAIN.rstrip("\n")
    assert ok(text).text == text


def test_the_fast_path_gives_what_rendering_gives() -> None:
    fast = ok(PLAIN)
    # A comment sends the same text through Jinja.
    slow = ok(PLAIN.replace("  name: plain\n", "  name: plain{# c #}\n"))
    assert (slow.text, slow.lines) == (fast.text, fast.lines)


def test_a_plain_file_does_not_import_jinja() -> None:
    code = (
        "import sys\n"
        "from pipec.errors import Diagnostics\n"
        "from pipec.frontends.osmo.template import render\n"
        f"assert render({PLAIN!r}, 'f', [], [], Diagnostics()) is not None\n"
        "print('jinja2' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_default_values_fill_variables_and_become_blank_lines() -> None:
    source = """\
workflow:
  name: {{ wf_name }}
  tasks:
  - name: train
    image: {{ image }}
    args: ["--epochs", "{{ epochs }}"]
default-values:
  wf_name: training
  image: pytorch:2
  epochs: 10
"""
    rendered = ok(source)
    assert rendered.text.split("\n")[:6] == [
        "workflow:", "  name: training", "  tasks:", "  - name: train", "    image: pytorch:2",
        '    args: ["--epochs", "10"]',
    ]
    assert rendered.text.split("\n")[6:] == ["", "", "", "", ""]
    assert rendered.lines == tuple(range(1, 12))
    assert rendered.values == {"wf_name": "training", "image": "pytorch:2", "epochs": 10}


def test_default_values_may_come_first() -> None:
    source = "default-values:\n  n: 2\nworkflow:\n  name: w{{ n }}\n"
    rendered = ok(source)
    assert rendered.text == "\n\nworkflow:\n  name: w2\n"
    assert origin(rendered, "  name: w2") == [4]


def test_set_casts_and_set_string_keeps_strings_and_the_last_wins() -> None:
    source = "workflow:\n  a: {{ a }}\n  b: {{ b }}\n  c: {{ c }}\n  d: {{ d }}\ndefault-values:\n  a: 1\n  d: x\n"
    rendered = ok(source, sets=[("a", "7"), ("b", "2.5"), ("c", "s3://x"), ("d", "1")], set_strings=[("d", "0010")])
    assert rendered.values == {"a": 7, "b": 2.5, "c": "s3://x", "d": "0010"}
    assert rendered.text.startswith("workflow:\n  a: 7\n  b: 2.5\n  c: s3://x\n  d: 0010\n")


def test_cast_is_int_then_float_then_string() -> None:
    assert cast("42") == 42 and isinstance(cast("42"), int)
    assert cast("-3") == -3
    assert cast("1.5") == 1.5 and isinstance(cast("1.5"), float)
    assert cast("1e3") == 1000.0
    assert cast("abc") == "abc"
    assert cast("") == ""
    assert cast("1.2.3") == "1.2.3"


def test_parse_set() -> None:
    assert parse_set("a=1") == ("a", "1")
    assert parse_set("url=s3://b?x=y") == ("url", "s3://b?x=y")
    assert parse_set("empty=") == ("empty", "")
    for bad in ("novalue", "=1", ""):
        with pytest.raises(ValueError, match="expected KEY=VALUE"):
            parse_set(bad)


def test_reserved_names_are_ignored_with_a_warning() -> None:
    source = "workflow:\n  a: {{output}}\ndefault-values:\n  output: /mine\n  input:0: x\n  keep: 1\n"
    rendered, diags = run(source, sets=[("workflow_id", "w"), ("host:master", "h")], set_strings=[("uuid", "u")])
    assert rendered is not None
    assert rendered.values == {"keep": 1}
    assert rendered.text.startswith("workflow:\n  a: {{output}}\n")
    warnings = [(d.location.line, d.location.col, d.message) for d in diags.sorted() if d.severity is Severity.WARNING]
    assert (4, 3, "'output' is reserved for OSMO's {{output}} token; this value is ignored") in warnings
    assert (5, 3, "'input:0' is reserved for OSMO's {{input:0}} token; this value is ignored") in warnings
    assert len(warnings) == 5


# ------------------------------------------------------------------ special tokens
TOKENS = ["{{output}}", "{{input:0}}", "{{input:task-a}}", "{{host:master}}", "{{workflow_id}}", "{{uuid}}"]


@pytest.mark.parametrize("token", TOKENS)
def test_special_tokens_stay_literal_through_jinja(token: str) -> None:
    source = f"workflow:\n  name: {{{{ n }}}}\n  a: \"{token}/x {token}\"\n  {{% if true %}}b: {token}{{% endif %}}\ndefault-values:\n  n: w\n"
    rendered = ok(source)
    assert rendered.text.split("\n")[2:4] == [f'  a: "{token}/x {token}"', f"  b: {token}"]


def test_a_token_split_over_lines_keeps_every_line_in_place() -> None:
    source = "workflow:\n  a: \"{{input:\nx}}\"\n  b: {{ n }}\ndefault-values:\n  n: 1\n"
    rendered = ok(source)
    assert rendered.text.startswith('workflow:\n  a: "{{input:\nx}}"\n  b: 1\n')
    assert origin(rendered, "  b: 1") == [4]


@pytest.mark.parametrize("token", ["output", "workflow_id", "uuid"])
def test_a_token_written_with_spaces_is_an_undefined_variable(token: str) -> None:
    source = f"workflow:\n  name: w\n  a: {{{{{token}}}}} {{{{ {token} }}}}\n"
    assert failed(source) == [f"3:{len(token) + 14}: '{token}' is undefined"]
    assert "without spaces" in (hints(source)[0] or "")


def test_an_input_token_with_spaces_is_a_syntax_error_with_a_hint() -> None:
    source = "workflow:\n  name: w\n  a: {{ input:0 }}\n"
    assert failed(source) == ["3:6: template syntax error: expected token 'end of print statement', got ':'"]
    assert "without spaces" in (hints(source)[0] or "")


# ------------------------------------------------------------------ the line map
LOOP = """\
workflow:
  name: fan-out
  groups:
  - name: g
    tasks:
    {% for i in range(3) %}
    - name: task-{{ i }}
      image: alpine
      {% if i == 0 %}
      lead: true
      {% endif %}
      command: [echo, "{{ i }}"]
    {% endfor %}
"""


def test_a_loop_maps_each_generated_line_to_the_loop_body() -> None:
    rendered = ok(LOOP)
    names = [line.strip() for line in rendered.text.split("\n") if "- name: task-" in line]
    assert names == ["- name: task-0", "- name: task-1", "- name: task-2"]
    for i in range(3):
        assert origin(rendered, f"    - name: task-{i}") == [7]
        assert origin(rendered, f'      command: [echo, "{i}"]') == [12]
    assert origin(rendered, "      image: alpine") == [8, 8, 8]
    assert origin(rendered, "      lead: true") == [10]
    assert origin(rendered, "  groups:") == [3]


def test_lines_of_an_if_map_to_their_own_lines() -> None:
    source = "workflow:\n  name: w\n{% if gpu %}\n  gpu: 1\n{% else %}\n  cpu: 2\n{% endif %}\n  tail: 3\ndefault-values:\n  gpu: false\n"
    rendered = ok(source)
    assert "gpu: 1" not in rendered.text
    assert origin(rendered, "  cpu: 2") == [6]
    assert origin(rendered, "  tail: 3") == [8]
    rendered = ok(source, sets=[("gpu", "1")])
    assert origin(rendered, "  gpu: 1") == [4]
    assert origin(rendered, "  tail: 3") == [8]


def test_text_an_expression_produces_maps_to_the_expression() -> None:
    source = "workflow:\n  name: w\n  script: |\n    {{ body | indent(4) }}\n  after: 1\ndefault-values:\n  body: \"a\\nb\\nc\"\n"
    rendered = ok(source)
    assert rendered.text.startswith("workflow:\n  name: w\n  script: |\n    a\n    b\n    c\n  after: 1\n")
    assert rendered.lines[3:7] == (4, 4, 4, 5)


WHITESPACE = """\
workflow:
  name: w
  tasks:
  {%- for i in range(2) %}
  - name: t{{ i -}}
    {#- a comment -#}
    x
    image: alpine
  {%- endfor %}
  {%+ if true -%}
  after: 1
  {%- endif %}
"""


def test_whitespace_control_renders_exactly_as_jinja_does() -> None:
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    rendered = ok(WHITESPACE)
    assert rendered.text == env.from_string(WHITESPACE).render()
    assert "  - name: t0x" in rendered.text.split("\n")
    assert origin(rendered, "  - name: t0x") == [5]
    assert origin(rendered, "    image: alpine") == [8, 8]


def test_whitespace_control_eating_the_last_newline_keeps_the_next_section_apart() -> None:
    source = "workflow:\n  name: w\n  {%- if true -%}\n  {%- endif -%}\ndefault-values:\n  a: 1\n"
    rendered = ok(source)
    assert rendered.text == "workflow:\n  name: w\n\n\n"
    assert len(rendered.lines) == 5


def test_value_blocks_render_exactly_as_jinja_does() -> None:
    source = (
        "workflow:\n  name: w\n{% set body %}\n   padded \n{% endset %}\n  a: {{ body | trim }}\n"
        "{% macro m(x) %}\n  {{ x }} \n{% endmacro %}\n  b: {{ m(1) | trim | length }}\n"
        "{% filter upper %}\n  c: low\n{% endfilter %}\n"
    )
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    rendered = ok(source)
    assert rendered.text == env.from_string(source).render()
    assert origin(rendered, "  a: padded") == [6]
    assert origin(rendered, "  b: 1") == [10]


def test_jinja_lines_at_column_one_are_not_top_level_keys() -> None:
    source = "workflow:\n  name: w\n{% for i in range(2) %}\n  k{{ i }}: {{ i }}\n{% endfor %}\n{# note #}\n"
    rendered = ok(source)
    assert origin(rendered, "  k1: 1") == [4]


def test_private_use_characters_in_the_text_do_not_confuse_the_map() -> None:
    forged = "\ue000" + "5\ue001"
    source = f"workflow:\n  name: w\n  a: \"{forged}x\"\n  b: {{{{ v }}}}\ndefault-values:\n  v: \"{forged}\"\n"
    rendered = ok(source)
    assert rendered.text.startswith(f'workflow:\n  name: w\n  a: "{forged}x"\n  b: {forged}\n')
    assert rendered.lines[:4] == (1, 2, 3, 4)


def test_carriage_returns_and_unicode_line_breaks_count_as_yaml_counts() -> None:
    rendered = ok("workflow:\r\n  name: w\r\n  a: {{ 1 }}\r\n")
    assert rendered.text == "workflow:\n  name: w\n  a: 1\n"
    source = "workflow:\n  name: w # \u2028 x\n  a: {{ v }}\ndefault-values:\n  v: 1\n"
    rendered = ok(source)
    assert origin(rendered, "  a: 1") == [4]  # YAML counts U+2028 as a line break
    assert failed(source.replace("{{ v }}", "{{ nope }}")) == ["4:9: 'nope' is undefined"]


def test_the_version_section_and_comments_before_the_workflow_are_kept() -> None:
    source = "# header\n---\nversion: 2\nworkflow:\n  name: {{ 'w' }}\n"
    rendered = ok(source)
    assert rendered.text == "# header\n---\nversion: 2\nworkflow:\n  name: w\n"


def test_text_before_the_first_key_is_dropped_as_osmo_drops_it() -> None:
    rendered, diags = run("{# preamble #}\n  stray: 1\nworkflow:\n  name: w\n")
    assert rendered is not None and rendered.text == "\n\nworkflow:\n  name: w\n"
    assert [(d.severity, d.location.line) for d in diags.items] == [(Severity.WARNING, 1)]


# ------------------------------------------------------------------ located errors
def test_an_undefined_variable_is_located_where_it_is_used() -> None:
    source = "workflow:\n  name: w\n  tasks:\n  - name: t\n    args: [\"--epochs\", \"{{ epochs }}\"]\n"
    assert failed(source) == ["5:28: 'epochs' is undefined"]
    assert hints(source) == ["define it under default-values: or pass --set epochs=..."]


def test_an_undefined_variable_in_a_loop_or_a_multi_line_tag() -> None:
    assert failed(LOOP.replace('"{{ i }}"', '"{{ i }} {{ missing }}"')) == ["12:35: 'missing' is undefined"]
    source = "workflow:\n  name: w\n  {% for x in\n       items %}\n  a: {{ x }}\n  {% endfor %}\n"
    assert failed(source) == ["4:8: 'items' is undefined"]


def test_a_template_cannot_change_the_values_it_reports() -> None:
    rendered = ok("workflow:\n  name: w\n  a: {{ cfg.update({'x': 2}) }}{{ cfg.x }}\ndefault-values:\n  cfg:\n    x: 1\n")
    assert "  a: None2" in rendered.text
    assert rendered.values == {"cfg": {"x": 1}}


def test_a_missing_attribute_is_located_at_the_attribute() -> None:
    source = "workflow:\n  name: w\n  a: {{ cfg.size }}\ndefault-values:\n  cfg:\n    other: 1\n"
    assert failed(source) == ["3:13: 'dict object' has no attribute 'size'"]


def test_a_syntax_error_is_located() -> None:
    assert failed("workflow:\n  name: w\n\n  {% for i in %}\n  {% endfor %}\n") == [
        "4:3: template syntax error: Expected an expression, got 'end of statement block'"
    ]
    assert failed("workflow:\n  name: w\n  {% if x %}\n  a: 1\n")[0].startswith("3:3: template syntax error: Unexpected end")
    assert failed("workflow:\n  name: w\n  a: {{ 1 }\n") == ["3:6: template syntax error: unexpected '}'"]


def test_runtime_errors_are_located() -> None:
    assert failed("workflow:\n  name: w\n  a: {{ 1 // 0 }}\n") == [
        "3:6: template error: ZeroDivisionError: integer division or modulo by zero"
    ]
    assert failed("workflow:\n  name: w\n  a: {{ 'x' | center(1, 2, 3) }}\n")[0].startswith("3:6: template error: TypeError")
    source = "workflow:\n  name: w\n{% macro m() %}{{ m() }}{% endmacro %}\n  a: {{ m() }}\n"
    assert failed(source) == ["3:1: template recursion too deep"]


def test_a_sandbox_escape_is_refused_where_it_is_written() -> None:
    source = "workflow:\n  name: w\n  a: {{ ''.__class__.__mro__ }}\n"
    assert failed(source) == ["3:6: unsafe template: access to attribute '__class__' of 'str' object is unsafe."]
    source = "workflow:\n  name: w\n  a: {{ cycler.__init__.__globals__ }}\n"
    assert failed(source)[0].startswith("3:6: unsafe template")


def test_unknown_and_duplicate_top_level_keys_are_located() -> None:
    source = "workflow:\n  name: w\nworkflows:\n  a: 1\ndefault_values:\n  a: 1\nworkflow:\n  name: v\n"
    assert failed(source) == [
        '3:1: unknown top-level key "workflows"',
        '5:1: unknown top-level key "default_values"',
        '7:1: duplicate top-level key "workflow"',
    ]
    assert hints(source) == ["did you mean 'workflow'?", "did you mean 'default-values'?",
                             "the first is at line 1; merge the two"]
    assert failed("workflow:\n  name: w\nlabels:\n  a: b\n") == ['3:1: unknown top-level key "labels"']


def test_a_missing_workflow_is_an_error_at_the_start() -> None:
    assert failed("# only values\ndefault-values:\n  a: 1\n") == ["1:1: the file has no top-level 'workflow:' section"]
    assert failed("") == ["1:1: the file has no top-level 'workflow:' section"]
    assert failed("  workflow:\n    name: w\n") == ["1:1: the file has no top-level 'workflow:' section"]


def test_default_values_must_be_a_mapping_of_valid_yaml() -> None:
    assert failed("workflow:\n  name: w\ndefault-values:\n  - a\n  - b\n") == [
        "4:3: default-values must be a mapping of variable names to values"
    ]
    assert failed("workflow:\n  name: w\ndefault-values: 3\n") == [
        "3:17: default-values must be a mapping of variable names to values"
    ]
    assert failed("workflow:\n  name: w\n\ndefault-values:\n  a: [1, 2\n")[0].startswith("6:1: invalid YAML")
    assert ok("workflow:\n  name: w\ndefault-values:\n").values == {}


# ------------------------------------------------------------------ limits
def test_a_huge_range_is_refused_fast() -> None:
    start = time.monotonic()
    errors = failed("workflow:\n  name: w\n  {% for i in range(10**9) %}\n  - x\n  {% endfor %}\n")
    assert time.monotonic() - start < 1
    assert errors[0].startswith("3:3: ") and "Range too big" in errors[0]


def test_output_larger_than_the_limit_is_refused_while_it_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template, "MAX_OUTPUT", 100_000)
    source = "workflow:\n  name: w\n{% for i in range(100000) %}{% for j in range(100000) %}\n  k: v\n{% endfor %}{% endfor %}\n"
    start = time.monotonic()
    assert failed(source) == ["4:1: the rendered workflow is larger than 100,000 characters"]
    assert time.monotonic() - start < 1


def test_rendering_is_stopped_after_the_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template, "MAX_SECONDS", 0.2)
    source = "workflow:\n  name: w\n  {% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n"
    start = time.monotonic()
    errors = failed(source)
    assert time.monotonic() - start < 1
    assert errors == ["3:3: rendering takes longer than 0.2 s"]
    # Off the main thread no alarm can be set; the loop's calls check the clock instead.
    found: list[list[str]] = []
    worker = threading.Thread(target=lambda: found.append(failed(source)))
    worker.start()
    worker.join(5)
    assert found == [["3:3: rendering takes longer than 0.2 s"]]


def test_numbers_and_repetitions_too_large_to_compute_are_refused() -> None:
    start = time.monotonic()
    assert failed("workflow:\n  name: w\n  a: {{ 7 ** 10000000000 }}\n") == ["3:6: 7 ** 10000000000 is too large a number"]
    assert failed("workflow:\n  name: w\n  a: {{ 'ab' * 10**9 }}\n") == ["3:6: repeating 2 items 1000000000 times is too large"]
    assert time.monotonic() - start < 1
    assert ok("workflow:\n  name: w\n  a: {{ 2 ** 10 }} {{ 'ab' * 3 }}\n").text.endswith("a: 1024 ababab\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the address-space cap is Linux only")
def test_an_expression_that_needs_too_much_memory_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template, "MAX_MEMORY", 64 * 1024**2)
    source = "workflow:\n  name: w\n  a: {{ 'x' | center(2 * 10**9) }}\n"
    assert failed(source) == ["3:6: rendering needs more memory than allowed"]
    assert ok("workflow:\n  name: w\n  a: {{ 'x' | center(3) }}\n").text.endswith("a:  x \n")


# ------------------------------------------------------------------ properties
FRAGMENTS = [
    "\n", "  ", " a: 1", "- b", "{{ x }}", "{{- x }}", "{{ x -}}", "{%- if t %}", "{% if t -%}", "{% endif %}",
    "{%- endif -%}", "{% for i in range(2) %}", "{%- for i in range(2) -%}", "{% endfor %}", "{%- endfor %}",
    "{# c #}", "{#- c -#}", "{{ m }}", "{% raw %}{{ r }}{% endraw %}", "{% raw -%}  \n r {%- endraw %}",
    "{{output}}", "{{input:0}}", "{% set s %} v {% endset %}{{ s|trim }}", "{{+ x }}", "{%+ if t %}z{% endif +%}",
    "\t", "\ue000", "9\ue001", "{{ i }}",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_rendered_text_is_what_jinja_renders(pieces: list[str]) -> None:
    body = "workflow:" + "".join(pieces) + "\n"
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    values = {"x": "X", "t": True, "m": "m1\nm2"}
    try:
        shielded = template.TOKEN.sub(lambda t: "{{ '" + t.group() + "' }}", body)
        expected = env.from_string(shielded).render(values)
    except jinja2.TemplateError:
        return
    rendered = ok(body + 'default-values:\n  x: X\n  t: true\n  m: "m1\\nm2"\n')
    end = expected if expected.endswith("\n") else expected + "\n"
    assert rendered.text == end + "\n" * 4
    assert all(1 <= line <= body.count("\n") + 5 for line in rendered.lines)


NOISE = [
    "workflow:", "default-values:", "version:", "\nworkflow:", "\ndefault-values:\n  x: 1", "\nother:", "{{", "}}",
    "{%", "%}", "{#", "#}", "\r", "\u2028", "{{ undefined }}", "{{ 1/0 }}", "{{ ''.__class__ }}", "{% endfor %}",
    "'", '"', "[", "{", ":",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS + NOISE), st.text(max_size=5)), max_size=25))
def test_any_text_gives_a_rendering_or_located_errors_never_an_exception(pieces: list[str]) -> None:
    source = "".join(pieces)
    rendered, diags = run(source)
    yaml_lines = len(YAML_BREAK.split(source))
    for d in diags.items:
        assert d.location.file == FILE
        assert 1 <= d.location.line <= yaml_lines and d.location.col >= 1
    if rendered is None:
        assert diags.has_errors
    else:
        assert not diags.has_errors
        assert len(rendered.lines) == len(YAML_BREAK.split(rendered.text))
        assert all(1 <= line <= yaml_lines for line in rendered.lines)
        assert "\ue000" not in rendered.text or "\ue000" in source
