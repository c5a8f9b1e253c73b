"""Reference rendering (backends.command.Refs): values read from PIPEC_P_<name> variables.

The property that matters: a command rendered by reference, run by sh with the collected
variables in its environment, passes its program exactly the words literal rendering gives,
whatever the values hold (quotes, `$(...)`, `{{`, `${{`, newlines)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipec import ir
from pipec.backends import command as renderer
from pipec.backends.command import Refs
from pipec.frontends.valohai import command as valohai
from pipec.frontends.valohai.command import VALOHAI_LAYOUT

HOSTILE = ["it's", 'a "b"', "$(touch /tmp/pwned)", "`id`", "{{workflow.name}}", "${{ github.token }}",
           "line\nbreak", "  ", "*", "-x", "\\", "ünï"]


def build(params: list[dict], lines: list[str]) -> tuple[ir.Command, list[ir.Param]]:
    return valohai.command(lines, [p["name"] for p in params], None), [valohai.ir_param(p) for p in params]


def argv(script: str, env: dict[str, str]) -> list[str]:
    """The words `script` passes to a program, as sh runs it with `env` added."""
    probe = 'python3 -c "import json,sys; print(json.dumps(sys.argv[1:]))"'
    out = subprocess.run(["sh", "-c", script.replace("prog", probe, 1)], env={**os.environ, **env},
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def both(params, lines, values=None, mounted=True):
    command, ps = build(params, lines)
    literal = renderer.render(command, ps, values, VALOHAI_LAYOUT, mounted)
    refs = Refs()
    by_ref = renderer.render(command, ps, values, VALOHAI_LAYOUT, mounted, refs=refs)
    return literal, by_ref, refs.env


def test_plain_values_become_named_quoted_references():
    params = [{"name": "learning-rate", "type": "float", "default": 0.001},
              {"name": "epochs", "type": "integer", "default": 3, "pass-as": "-e {v}"}]
    _, text, env = both(params, ["prog {parameters}"])
    assert text == 'prog --learning-rate="${PIPEC_P_learning_rate}" -e "${PIPEC_P_epochs}"'
    assert env == {"PIPEC_P_learning_rate": "0.001", "PIPEC_P_epochs": "3"}


def test_flags_formats_and_rewritten_paths_stay_literal():
    params = [{"name": "fast", "type": "flag", "default": True},
              {"name": "ratio", "type": "float", "default": 0.5, "pass-as": "--ratio={v:.2f}"},
              {"name": "data", "type": "string", "default": "/valohai/inputs/train/a.csv"}]
    _, text, env = both(params, ["prog {parameters}"], {"fast": True}, mounted=False)
    assert text.startswith("prog --fast --ratio=0.50 --data=")
    assert "PIPEC_P_data" not in text and "INPUTS" in text  # the path is read from the layout's variable
    assert env == {}


def test_repeated_items_get_numbered_variables_and_names_stay_distinct():
    params = [{"name": "tag", "type": "string", "default": ["a", "b"], "multiple": "repeat"},
              {"name": "a-b", "type": "string", "default": "1"}, {"name": "a_b", "type": "string", "default": "2"}]
    _, text, env = both(params, ["prog {parameters}"])
    assert env == {"PIPEC_P_tag_1": "a", "PIPEC_P_tag_2": "b", "PIPEC_P_a_b": "1", "PIPEC_P_a_b_2": "2"}
    assert '--tag="${PIPEC_P_tag_1}" --tag="${PIPEC_P_tag_2}"' in text


# Each line with the words its program must get for value v: the value stays one word, even
# inside the author's quotes (where literal rendering keeps Valohai's own behaviour of pasting
# the shell-quoted value, quotes and all).
LINES = {
    "prog {parameters}": lambda v: [f"--x={v}", "--n=1 2", f"--n={v}"],
    "prog {parameter-value:x}": lambda v: [v],
    "prog '{parameter-value:x}'": lambda v: [v],
    'prog "{parameter-value:x}"': lambda v: [v],
    "prog x={parameter-value:x}y": lambda v: [f"x={v}y"],
}


def run(line: str, value: str) -> tuple[str, list[str]]:
    params = [{"name": "x", "type": "string", "default": value},
              {"name": "n", "type": "string", "default": ["1 2", value], "multiple": "repeat"}]
    literal, text, env = both(params, [line])
    got = argv(text, env)
    if line in ("prog {parameters}", "prog {parameter-value:x}"):
        assert got == argv(literal, {})  # where literal rendering is one word, both agree
    return text, got


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("line", sorted(LINES))
def test_hostile_values_reach_the_program_unchanged(line, value):
    text, got = run(line, value)
    assert "PIPEC_P_x" in text
    assert got == LINES[line](value)


@settings(max_examples=60, deadline=None)
@given(value=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20),
       line=st.sampled_from(sorted(LINES)))
def test_any_value_reaches_the_program_unchanged(value, line):
    assert run(line, value)[1] == LINES[line](value)


def test_a_numbered_item_never_takes_another_parameters_variable():
    params = [{"name": "tag_1", "type": "string", "default": "own"},
              {"name": "tag", "type": "string", "default": ["x", "y"], "multiple": "repeat"}]
    _, text, env = both(params, ["prog {parameters}"])
    assert env["PIPEC_P_tag_1"] == "own" and sorted(env.values()) == ["own", "x", "y"]
    assert argv(text, env) == ["--tag_1=own", "--tag=x", "--tag=y"]
