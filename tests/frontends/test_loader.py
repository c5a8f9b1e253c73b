"""The YAML loader: positions, bounds, duplicate keys, readable syntax errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from pipec.errors import Diagnostics, PipecError
from pipec.loader import load_bytes, load_text


def load(text: str, **kw):
    diags = Diagnostics()
    doc = load_text(text, "f.yaml", diags, **kw)
    return doc, diags


def fail(text: str, **kw) -> list[str]:
    diags = Diagnostics()
    with pytest.raises(PipecError) as exc:
        load_text(text, "f.yaml", diags, **kw)
    return [d.format_text() for d in exc.value.diagnostics]


def test_positions_of_values_and_keys():
    doc, diags = load("- step:\n    name: train\n    command:\n      - a\n      - b\n")
    assert not diags.items
    assert doc.data == [{"step": {"name": "train", "command": ["a", "b"]}}]
    assert doc.positions[(0, "step", "name")] == (2, 11)
    assert doc.key_positions[(0, "step", "name")] == (2, 5)
    assert doc.positions[(0, "step", "command", 1)] == (5, 9)
    # A path without its own position falls back to its nearest ancestor.
    assert str(doc.locate((0, "step", "missing", 3))) == "f.yaml:2:5"


def test_scalars_follow_yaml_1_1_like_pyyaml():
    doc, _ = load("a: yes\nb: 0755\nc: 1e-3\nd: 1.0e-3\ne: 2020-09-02\nf: '5'\ng: ~\n")
    assert doc.data["a"] is True
    assert doc.data["b"] == 493
    assert doc.data["c"] == "1e-3"
    assert doc.data["d"] == 0.001
    assert str(doc.data["e"]) == "2020-09-02"
    assert doc.data["f"] == "5"
    assert doc.data["g"] is None


def test_keys_keep_their_source_text():
    doc, _ = load("yes: 1\n1: 2\non: 3\n")
    assert doc.data == {"yes": 1, "1": 2, "on": 3}


def test_duplicate_key_is_a_located_warning_naming_both_positions():
    doc, diags = load("inputs: [a]\nname: x\ninputs: [b]\n")
    assert doc.data["inputs"] == ["b"]
    [d] = diags.items
    assert d.severity.value == "warning"
    assert (d.location.line, d.location.col) == (3, 1)
    assert "line 1, column 1" in d.message and "later value wins" in d.message


def test_duplicate_key_is_an_error_when_strict():
    _, diags = load("a: 1\na: 2\n", strict=True)
    assert [d.severity.value for d in diags.items] == ["error"]


def test_aliases_and_merge_keys():
    doc, diags = load("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n")
    assert not diags.items
    assert doc.data["other"] == {"x": 1, "y": 3}
    assert doc.data["list"] == [{"x": 1, "y": 2}]


def test_billion_laughs_is_refused_quickly():
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i-1}"] * 9) + "]")
    start = time.perf_counter()
    messages = fail("\n".join(lines) + "\n")
    assert time.perf_counter() - start < 5  # well under a second on a normal machine
    assert any("aliases expand to more than" in m for m in messages)


DEEP_CASES = {
    "flow-seq": "'[' * 200_000 + ']' * 200_000",
    "flow-map": "'{a: ' * 200_000 + '1' + '}' * 200_000",
    "block-seq": "'- ' * 200_000 + 'x'",
}


@pytest.mark.parametrize("case", sorted(DEEP_CASES))
def test_deep_nesting_is_refused_without_crashing_the_interpreter(case):
    # Which bound fires first depends on the libyaml build: pipec's 64 levels, or libyaml's
    # own (1,000 levels in the PyYAML 6.0.4 wheels, found while it scans ahead in a flow
    # collection). Either way the behaviour is the same: located errors on line 1, no crash
    # (a crash of the C composer would kill the subprocess). The wording is libyaml's or ours.
    code = (
        "import json; from pipec.loader import load_text; from pipec.errors import Diagnostics, PipecError\n"
        f"try:\n    load_text({DEEP_CASES[case]}, 'f.yaml', Diagnostics())\n"
        "except PipecError as e:\n"
        "    print(json.dumps([[d.severity, d.location.line, d.location.col] for d in e.diagnostics]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found and all(sev == "error" and line == 1 and col >= 1 for sev, line, col in found), found


@pytest.mark.parametrize("depth", [65, 200, 999])
def test_nesting_past_64_levels_is_refused_by_pipecs_own_bound(depth):
    # Below 1,000 levels every libyaml hands the events over, so pipec's bound speaks.
    [message] = fail("[" * depth + "]" * depth)
    assert message.startswith("f.yaml:1:65: error: nesting deeper than 64 levels")


def test_file_size_limit():
    diags = Diagnostics()
    with pytest.raises(PipecError) as exc:
        load_bytes(b"a: 1\n" * 100, "f.yaml", diags, max_bytes=100)
    assert "more than the limit of 100" in exc.value.diagnostics[0].message


def test_invalid_utf8_is_located():
    diags = Diagnostics()
    with pytest.raises(PipecError) as exc:
        load_bytes(b"a: 1\nb: \xff\n", "f.yaml", diags)
    d = exc.value.diagnostics[0]
    assert (d.location.line, d.location.col, d.message) == (2, 4, "file is not valid UTF-8")


def test_syntax_error_has_location_and_indentation_hint():
    [message] = fail("- step:\n  name: outdented\n    image: python:3.7\n")
    assert message.startswith("f.yaml:3:10: error: invalid YAML: ")
    # The hint is chosen from libyaml's problem text ("mapping values are not allowed"), so
    # this pins PyYAML's wording: requirements/test.lock fixes the version that has it.
    assert "hint: check the indentation" in message


def test_unknown_tags_and_bad_timestamps_are_located_errors():
    assert fail("a: !!python/object:os.system x\n")[0].startswith("f.yaml:1:4: error: unsupported YAML tag")
    assert fail("a: 2020-13-45\n")[0].startswith("f.yaml:1:4: error: cannot read '2020-13-45' as timestamp")


def test_several_documents_are_refused():
    assert "single YAML document" in fail("a: 1\n---\nb: 2\n")[0]


def test_empty_document_is_none():
    doc, diags = load("")
    assert doc.data is None and not diags.items


def test_values_reached_through_an_alias_are_located_at_the_anchored_text():
    text = ("base: &base\n  command: run\n  steps:\n    x: 1\n"
            "use:\n  one: *base\n  two:\n    <<: *base\n    command: mine\n")
    doc = load_text(text, "a.yaml", Diagnostics())
    # Below an alias: the anchored value's own text, and which alias led there.
    assert (doc.locate(("use", "one", "steps", "x")).line, doc.locate(("use", "one", "steps", "x")).col) == (4, 8)
    assert doc.alias_use(("use", "one", "steps", "x")) == (("use", "one"), "base")
    # The alias itself keeps its own position.
    assert doc.locate(("use", "one")).line == 6
    # A key merged in by `<<` is the anchor's; one written over it is where it is written.
    assert doc.locate(("use", "two", "steps")).line == 4
    assert doc.alias_use(("use", "two", "steps")) == (("use", "two", "steps"), "base")
    assert doc.locate(("use", "two", "command")).line == 9
    assert doc.alias_use(("use", "two", "command")) is None
    # Written in place: no alias.
    assert doc.alias_use(("base", "steps", "x")) is None
