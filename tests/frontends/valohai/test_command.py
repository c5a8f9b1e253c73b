"""Valohai command building against valohai.md §8 and upstream's tests.

Expected strings are copied byte for byte from the reference (`§8` worked examples,
`valohai-conversion-samples/rich-step-and-pipeline.output.txt`) and from valohai-yaml's own
tests (test_command.py, test_multiple_param.py, test_step_parsing.py). The builder is the
Valohai front end (`pipec.frontends.valohai.command`: placeholders and pass-as rules as IR
command parts) plus the one renderer (`pipec.backends.command`); the small adapter below
keeps upstream's vocabulary (`render_script`, `param_tokens`, ...) for the tests.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipec.backends import command as renderer
from pipec.backends.command import RenderError as CommandError
from pipec.backends.command import join_lines as join_command
from pipec.frontends.valohai import command as valohai
from pipec.frontends.valohai.command import VALOHAI_LAYOUT


@dataclass(frozen=True)
class VParam:
    """A step parameter as valohai.yaml spells it."""

    name: str
    type: str = "string"
    value: Any = None
    cli: SimpleNamespace = field(default_factory=SimpleNamespace)

    def yaml(self) -> dict[str, Any]:
        keys = {"pass_as": "pass-as", "pass_true_as": "pass-true-as", "pass_false_as": "pass-false-as",
                "multiple": "multiple", "separator": "multiple-separator"}
        data: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.value is not None:
            data["default"] = list(self.value) if isinstance(self.value, tuple) else self.value
        data.update({keys[k]: v for k, v in vars(self.cli).items()})
        return data

    def ir(self, defaults: bool = True):
        param = valohai.ir_param(self.yaml())
        if self.value is not None and isinstance(self.value, tuple):
            param = replace(param, value=self.value)  # tuples stand for lists
        if not defaults:  # render_line takes the complete value map
            param = replace(param, value=None, args=replace(param.args, default_applies=False))
        return param


def P(name: str, type: str = "string", value=None, **cli) -> VParam:
    return VParam(name, type, value, SimpleNamespace(**cli))


@dataclass(frozen=True)
class Job:
    params: tuple[VParam, ...]
    script: tuple[str, ...]
    source_path: str | None = None


def job(params, script, source_path=None) -> Job:
    return Job(tuple(params), tuple(script), source_path)


def render_script(j: Job, values=None) -> list[str]:
    """The command's lines for these values (defaults apply), as valohai-yaml builds them."""
    cmd = valohai.command(list(j.script), [p.name for p in j.params], j.source_path)
    return renderer.render_lines(cmd, [p.ir() for p in j.params], values, VALOHAI_LAYOUT, mounted=True)


def render_line(line: str, params, values, source_path) -> str:
    """One line, with `values` the complete value map (defaults do not apply)."""
    cmd = valohai.command([line], [p.name for p in params], source_path)
    rendered = renderer.render_lines(cmd, [p.ir(defaults=False) for p in params], values, VALOHAI_LAYOUT, True)
    return "\n".join(rendered)  # a shebang line comes back as a line of its own


def param_tokens(param: VParam, value) -> list[str]:
    return ["".join(word) for word in renderer.words(param.ir(), value)]  # type: ignore[arg-type]


def effective_values(params, values=None) -> dict:
    return renderer.effective_values([p.ir() for p in params], values)


def check_pass_as(template: str, param: VParam | None = None) -> str | None:
    return valohai.check_pass_as(template, param.yaml() if param is not None else None)


# --- rich-step-and-pipeline -------------------------------------------------------------------

RICH_PARAMS = (
    P("lr", "float", 0.001),
    P("epochs", "integer", 10, pass_as="-e {v}"),
    P("opt", "string", "adam w"),
    P("flag1", "flag", True),
    P("flag2", "flag", False, pass_true_as="--yes", pass_false_as="--no"),
    P("layers", "integer", (1, 2, 3), multiple="separate", separator="-"),
    P("tags", "string", ("a b", "c"), multiple="repeat", pass_as="--tag {value}"),
    P("nodef", "string"),
)
RICH = job(
    RICH_PARAMS,
    [
        "python train.py {parameters}",
        "echo {parameter:lr} {parameter-value:lr} {params} {source-path} {unknown} ${HOME}",
    ],
    source_path="train.py",
)
RICH_VALUES = {
    "opt": "it's",
    "flag1": False,
    "flag2": True,
    "nodef": "x y",
    "tags": ["q"],
    "layers": [],
    "lr": 1e-5,
}


def test_rich_build_default():
    # BUILD DEFAULT in rich-step-and-pipeline.output.txt: flag defaults are not emitted.
    assert render_script(RICH) == [
        "python train.py --lr=0.001 -e 10 '--opt=adam w' --layers=1-2-3 --tag 'a b' --tag c",
        "echo --lr=0.001 0.001 --lr=0.001 -e 10 '--opt=adam w' --layers=1-2-3 --tag 'a b' "
        "--tag c train.py {unknown} ${HOME}",
    ]


def test_rich_build_values():
    assert render_script(RICH, RICH_VALUES) == [
        'python train.py --lr=1e-05 -e 10 \'--opt=it\'"\'"\'s\' --yes --tag q \'--nodef=x y\'',
        'echo --lr=1e-05 1e-05 --lr=1e-05 -e 10 \'--opt=it\'"\'"\'s\' --yes --tag q '
        "'--nodef=x y' train.py {unknown} ${HOME}",
    ]


def test_rich_joined():
    assert join_command(render_script(RICH), " && ") == (
        "python train.py --lr=0.001 -e 10 '--opt=adam w' --layers=1-2-3 --tag 'a b' --tag c && "
        "echo --lr=0.001 0.001 --lr=0.001 -e 10 '--opt=adam w' --layers=1-2-3 --tag 'a b' "
        "--tag c train.py {unknown} ${HOME}"
    )


def test_section8_single_param_line():
    line = "echo {parameter:lr} {parameter-value:lr} {source-path} {unknown} ${HOME}"
    assert render_script(job(RICH_PARAMS, [line], "train.py")) == [
        "echo --lr=0.001 0.001 train.py {unknown} ${HOME}"
    ]


def test_rich_defaults_may_be_lists_or_tuples():
    as_lists = tuple(
        P(p.name, p.type, list(p.value), **vars(p.cli)) if isinstance(p.value, tuple) else p
        for p in RICH_PARAMS
    )
    assert render_script(job(as_lists, RICH.script, "train.py")) == render_script(RICH)


# --- upstream examples -------------------------------------------------------------------------

MULTIPLE_PARAMS = (
    P("unlabeled-samples", "integer", 60000),
    P("encoder-layers", "integer", [1000, 500, 250, 250, 250, 10], multiple="separate", separator="-"),
    P("denoising-cost-x", "float", [1000, 1, 0.01, 0.01, 0.01, 0.01, 0.01], multiple="separate"),
    P("decoder-spec", "string", ["gauss", "railgun"], multiple="repeat", pass_as="--decoder-spec {v}"),
)
MULTIPLE = job(MULTIPLE_PARAMS, ["echo {parameters}"])


def test_multiple_param_example():
    assert render_script(MULTIPLE) == [
        "echo --unlabeled-samples=60000 --encoder-layers=1000-500-250-250-250-10 "
        "--denoising-cost-x=1000,1,0.01,0.01,0.01,0.01,0.01 --decoder-spec gauss --decoder-spec railgun"
    ]


@pytest.mark.parametrize(
    "values, expected",
    [
        (
            {"encoder-layers": 6, "denoising-cost-x": (2, "e")},
            "echo --unlabeled-samples=60000 --encoder-layers=6 --denoising-cost-x=2,e "
            "--decoder-spec gauss --decoder-spec railgun",
        ),
        (
            {"encoder-layers": None, "denoising-cost-x": (2, "e")},
            "echo --unlabeled-samples=60000 --denoising-cost-x=2,e "
            "--decoder-spec gauss --decoder-spec railgun",
        ),
        (
            {"encoder-layers": [], "denoising-cost-x": (2, "e")},
            "echo --unlabeled-samples=60000 --denoising-cost-x=2,e "
            "--decoder-spec gauss --decoder-spec railgun",
        ),
    ],
)
def test_multiple_param_overrides(values, expected):
    # upstream tests/test_multiple_param.py: scalar accepted, None unsets, [] emits nothing.
    assert render_script(MULTIPLE, values) == [expected]


def test_optional_default_param():
    params = (
        P("varA", "integer", 123),
        P("varB", "integer"),
        P("varC", "integer", 456),
        P("varD", "integer"),
    )
    assert render_script(job(params, ["foo {parameters}"])) == ["foo --varA=123 --varC=456"]


FLAG_PASS_AS = job(
    (
        P("case-insensitive", "flag", pass_true_as="--ignore-case", pass_false_as="--case-sensitive"),
        P("nice", "flag", pass_true_as="--behave-nice"),
        P("naughty", "flag", pass_false_as="--{name}=not-naughty"),
    ),
    ["foo {parameters}"],
)


@pytest.mark.parametrize(
    "values, expected",
    [
        ({"case-insensitive": False}, "foo --case-sensitive"),
        ({"case-insensitive": True}, "foo --ignore-case"),
        ({"nice": False, "naughty": True}, "foo"),
        ({"nice": True, "naughty": False}, "foo --behave-nice --naughty=not-naughty"),
        ({}, "foo"),  # unset flags: nothing, not even pass-false-as
    ],
)
def test_flag_pass_as(values, expected):
    assert render_script(FLAG_PASS_AS, values) == [expected]


def test_boolean_param_parse():
    # upstream test_step_parsing.py::test_boolean_param_parse
    flag = job((P("case-insensitive", "flag"),), ["foo {parameters}"])
    assert render_script(flag, {"case-insensitive": True}) == ["foo --case-insensitive"]
    assert render_script(flag, {"case-insensitive": False}) == ["foo"]


def test_flag_default_is_ignored_unless_given():
    flag = job((P("verbose", "flag", True), P("quiet", "flag", False, pass_false_as="-q")), ["r {params}"])
    assert render_script(flag) == ["r"]
    assert render_script(flag, {"verbose": True, "quiet": False}) == ["r --verbose -q"]
    assert "verbose" not in effective_values(flag.params)
    # An unset flag has no value, so {parameter-value:...} stays verbatim.
    assert render_script(job(flag.params, ["x {parameter-value:verbose}"])) == ["x {parameter-value:verbose}"]


def test_flag_truthiness_is_python_truthiness():
    flag = P("f", "flag")
    assert param_tokens(flag, "false") == ["--f"]
    assert param_tokens(flag, "true") == ["--f"]
    assert param_tokens(flag, 0) == []
    assert param_tokens(flag, "") == []
    assert param_tokens(P("f", "flag", pass_as="--{name}={v}"), 1) == ["--f=1"]


# --- example1 (upstream tests/test_command.py) -------------------------------------------------

EXAMPLE1_PARAMS = (
    P("num-epochs", "integer", 5),
    P("seed", "integer", 1),
    P("decoder-spec", "string", "gauss", pass_as="--decoder-spec {v}"),
)


def test_command_generation_quoting():
    out = render_script(
        job(EXAMPLE1_PARAMS, ["python3 train.py {parameters}"]),
        {"decoder-spec": 'foo bar""\'"\'"; quux'},
    )
    assert "--decoder-spec 'foo bar\"\"'\"'\"'\"'\"'\"'\"; quux'" in out[0]


def test_parameter_interpolation():
    out = render_script(
        job(EXAMPLE1_PARAMS, ["asdf {parameter:decoder-spec} {parameter:hello} {parameter:decoder-spec}"]),
        {"decoder-spec": "hello", "num-epochs": 840},
    )
    assert out == ["asdf --decoder-spec hello {parameter:hello} --decoder-spec hello"]


def test_parameter_value_interpolation():
    out = render_script(
        job(
            EXAMPLE1_PARAMS,
            [
                "asdf {parameter-value:decoder-spec} {parameter-value:hello} {parameter-value:decoder-spec}",
                "dsfargeg {parameter-value:num-epochs}",
                "{parameter-value:decoder-spec}",
            ],
        ),
        {"decoder-spec": "hello", "num-epochs": 840},
    )
    assert " && ".join(out) == "asdf hello {parameter-value:hello} hello && dsfargeg 840 && hello"


def test_parameter_value_with_falsy_values():
    out = render_script(
        job(EXAMPLE1_PARAMS, ["env ds={parameter-value:decoder-spec} eps={parameter-value:num-epochs} runrunrun"]),
        {"decoder-spec": "", "num-epochs": 0},
    )
    assert out == ["env ds='' eps=0 runrunrun"]


def test_parameter_value_stringifies_like_python():
    params = (P("b", "flag"), P("f", "float"), P("l", "integer", [1, 2], multiple="separate"))
    line = "x {parameter-value:b} {parameter-value:f} {parameter-value:l} {parameter-value:n}"
    assert render_line(line, params, {"b": True, "f": 1e-5, "l": (1, 2), "n": None}, None) == (
        "x True 1e-05 '[1, 2]' None"
    )
    # A scalar default of a multiple parameter is listified, as upstream does at parse time.
    p6 = (P("l", "integer", 6, multiple="separate"),)
    assert render_script(job(p6, ["x {parameter-value:l} {parameters}"])) == ["x '[6]' --l=6"]
    # ... and a multiple parameter without a default has the value [] (rendered, not verbatim).
    p0 = (P("l", "integer", None, multiple="repeat"),)
    assert render_script(job(p0, ["x {parameter-value:l} {parameters}"])) == ["x '[]'"]


def test_parameter_omit_with_none_value():
    out = render_script(job(EXAMPLE1_PARAMS, ["echo {parameters}; echo {parameter:num-epochs}"]), {"num-epochs": None})
    assert out == ["echo --seed=1 --decoder-spec gauss; echo"]


def test_nonexistent_interpolation_keys():
    line = "Where are the ${shell_unicorns}? The {parameters} are here!"
    assert render_line(line, (), {}, None) == "Where are the ${shell_unicorns}? The  are here!"


def test_interpolate_special():
    assert render_line("python {source-path}", (), {}, "foo.py") == "python foo.py"
    assert render_line("python {source-path}", (), {}, None) == "python {source-path}"
    assert render_line("python {source-path}", (), {}, "my dir/a.py") == "python 'my dir/a.py'"


def test_verbatim_and_dollar_braces():
    params = (P("a", "integer", 1),)
    values = {"a": 1}
    assert render_line("echo ${parameters}", params, values, None) == "echo $--a=1"
    assert render_line("echo {{parameters}}", params, values, None) == "echo {{parameters}}"
    assert render_line("echo {a,b} {foo} ${HOME}", params, values, None) == "echo {a,b} {foo} ${HOME}"
    assert render_line("  plain line  ", params, values, None) == "plain line"
    assert render_line("  {params}  ", params, values, None) == "--a=1"
    assert render_line("x {params} {parameters}", params, values, None) == "x --a=1 --a=1"


# --- shebang and joining -----------------------------------------------------------------------

def test_join_command():
    # upstream tests/test_command.py::test_join_command
    assert join_command(["foo"], " && ") == "foo"
    assert join_command(["foo", " ", "bar"], " && ") == "foo && bar"
    assert join_command(["foo", " ", "bar"], "\n") == "foo\nbar"
    assert join_command(["#!/bin/sh", "foo", " ", "bar"], " && ") == "#!/bin/sh\nfoo && bar"
    assert join_command(["#!/bin/sh\nfoo", " ", "bar"], " && ") == "#!/bin/sh\nfoo && bar"
    assert join_command(["#!/bin/bash\nfoo", "#!woop"], " && ") == "#!/bin/bash\nfoo && #!woop"
    assert join_command([], " && ") == ""


WIBBLE = (P("wibble", "integer"),)


@pytest.mark.parametrize(
    "script",
    [
        # shebang-example.yaml, step 1: one block string
        [
            '#!/bin/bash\necho "The wibble is {parameter:wibble} today."\n'
            'if [[ -z "$1" ]]; then echo "No arguments provided"; fi\n'
        ],
        # step 2: a list of lines
        [
            "#!/bin/bash",
            'echo "The wibble is {parameter:wibble} today."',
            'if [[ -z "$1" ]]; then echo "No arguments provided"; fi',
        ],
    ],
)
def test_shebang(script):
    lines = render_script(job(WIBBLE, script), {"wibble": 42})
    assert lines[0] == "#!/bin/bash"
    command = join_command(lines, " && ")
    assert command.startswith("#!/bin/bash\n")
    assert "--wibble=42" in command


def test_shebang_list_form_exact():
    lines = render_script(
        job(WIBBLE, ["#!/bin/bash", "", "echo {parameter:wibble}", "  ", "{parameter:wibble}", "true"]),
        {},
    )
    assert lines == ["#!/bin/bash", "echo", "true"]
    assert join_command(lines, " && ") == "#!/bin/bash\necho && true"


def test_render_script_matches_join_of_raw_lines():
    # join_command(render_script(job)) must equal joining the unfiltered rendered lines.
    script = ["#!/bin/sh\necho a", "", "echo {parameter:wibble}", "{parameter:wibble}"]
    raw = [render_line(s, WIBBLE, {"wibble": 3}, None) for s in script]
    for joiner in (" && ", "\n", "; "):
        assert join_command(render_script(job(WIBBLE, script), {"wibble": 3}), joiner) == join_command(raw, joiner)


# --- param_tokens ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "param, value, expected",
    [
        (P("lr", "float", pass_as="--lr={v:.2e}"), 1.23e-4, ["--lr=1.23e-04"]),
        (P("lr", "float"), 1e-5, ["--lr=1e-05"]),
        (P("lr", "float"), 0.001, ["--lr=0.001"]),
        (P("n", "integer"), True, ["--n=True"]),
        (P("s"), "", ["--s="]),
        (P("s"), None, []),
        (P("opt"), "adam w", ["--opt=adam w"]),
        (P("tag", pass_as="--tag {value}"), "a b", ["--tag", "a b"]),
        (P("n", pass_as="-n {v}", multiple="repeat"), [1, 2, 3], ["-n", "1", "-n", "2", "-n", "3"]),
        (P("n", pass_as="-n {v}", multiple="repeat"), 7, ["-n", "7"]),
        (P("n", multiple="repeat"), [], []),
        (P("layers", multiple="separate", separator="-"), [1, 2, 3], ["--layers=1-2-3"]),
        (P("m", pass_as="--m {v}", multiple="separate", separator=" "), ["x", "y", "z"], ["--m", "x y z"]),
        (P("m", multiple="separate"), [], []),
        (P("m", multiple="separate"), 6, ["--m=6"]),
        (P("m", multiple="separate", separator=""), [1, 2], ["--m=1,2"]),  # empty separator -> ","
        (P("m", multiple="none"), 3, ["--m=3"]),
        (P("x", pass_as=""), 3, ["--x=3"]),  # empty pass-as -> default
        (P("x", pass_as="   "), 3, []),  # whitespace-only pass-as -> no pieces
        (P("x", pass_as="{name} {name}-{v!r}"), "q", ["x", "x-'q'"]),
        (P("s", pass_true_as="--yes"), "v", ["--s=v"]),  # pass-true-as ignored on non-flags
        (P("f", "flag", pass_as="--on", pass_true_as="--yes"), True, ["--yes"]),  # pass-as ignored
    ],
)
def test_param_tokens(param, value, expected):
    assert param_tokens(param, value) == expected


def test_param_tokens_invalid_values():
    with pytest.raises(CommandError, match="single-valued"):
        param_tokens(P("s"), ["a", "b"])
    with pytest.raises(CommandError, match="single-valued"):
        param_tokens(P("s"), ("a", "b"))
    with pytest.raises(CommandError, match="nested list"):
        param_tokens(P("s", multiple="repeat"), [[1], 2])
    with pytest.raises(CommandError, match="unknown placeholder"):
        param_tokens(P("s", pass_as="--x={foo}"), "a")
    with pytest.raises(CommandError):
        param_tokens(P("s", pass_as="--x={v:zz}"), "a")
    with pytest.raises(CommandError):
        param_tokens(P("s", pass_as="--x={v:.2e}"), "not a number")
    with pytest.raises(CommandError):
        param_tokens(P("s", pass_as="--x={"), "a")
    with pytest.raises(ValueError, match="multiple mode"):  # the schema allows none/repeat/separate
        param_tokens(P("s", multiple="sometimes"), "a")
    assert issubclass(CommandError, ValueError)
    # The error propagates through line rendering rather than leaving `{parameters}` in place.
    with pytest.raises(CommandError):
        render_line("run {parameters}", (P("s"),), {"s": [1]}, None)


def test_separate_stringifies_atoms():
    assert param_tokens(P("x", "float", multiple="separate"), [1e-5, True, 0.001]) == ["--x=1e-05,True,0.001"]


# --- check_pass_as -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "template",
    ["--{name}={value}", "--{name}", "-e {v}", "--lr={v:.2e}", "--x={v!r}", "{{literal}}", "--w={v:>8}", "plain"],
)
def test_check_pass_as_ok(template):
    assert check_pass_as(template) is None


@pytest.mark.parametrize(
    "template, fragment",
    [
        ("--x={foo}", "{foo}"),
        ("--x {value} {bar.baz}", "{bar.baz}"),
        ("--x={}", "{}"),
        ("--x={0}", "{0}"),
        ("--x={v:zz}", "zz"),
        ("--x={", "{"),
        ("--x={v:{width}}", "width"),
        ("--{name:d}", "d"),
    ],
)
def test_check_pass_as_errors(template, fragment):
    message = check_pass_as(template)
    assert message is not None and fragment in message


def test_check_pass_as_uses_param_type():
    assert check_pass_as("--lr={v:.2e}", P("lr", "float")) is None
    assert check_pass_as("--lr={v:.2e}", P("lr", "integer")) is None
    assert "str" in check_pass_as("--lr={v:.2e}", P("lr", "string"))
    assert check_pass_as("--lr={v:.2e}", P("lr", "float", multiple="separate")) is not None
    assert check_pass_as("--n={v:d}", P("n", "integer")) is None
    assert check_pass_as("--n={v:d}", P("n", "float")) is not None
    assert check_pass_as("--{name}", P("f", "flag")) is None
    assert check_pass_as("--x={v}", P("x", multiple="bogus")) is None  # never raises


# --- hostile values ----------------------------------------------------------------------------

HOSTILE = [
    "it's",
    'say "hi"',
    "$(rm -rf /)",
    "`id`",
    "a\nb",
    "line\r\n",
    "; ls -la",
    "a && b || c | d > e < f",
    "ünïcødé ✓ 🚀",
    "-rf",
    "--x=1",
    "",
    " ",
    "\t",
    "*?[a]~#!%",
    "back\\slash",
    "{parameters}",
    "{v}",
    "${HOME}",
    "'",
    "''\"\"",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_round_trip(value):
    params = (P("s"), P("t", pass_as="--t {v}"))
    values = {"s": value, "t": value}
    line = "cmd {parameters} -- {parameter:s} {parameter-value:s}"
    assert shlex.split(render_line(line, params, values, None)) == [
        "cmd", f"--s={value}", "--t", value, "--", f"--s={value}", value
    ]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_repeat_and_separate(value):
    params = (P("r", pass_as="-r {v}", multiple="repeat"), P("p", multiple="separate", separator=":"))
    line = "cmd {parameters}"
    out = render_line(line, params, {"r": [value, value], "p": [value, "z"]}, None)
    assert shlex.split(out) == ["cmd", "-r", value, "-r", value, f"--p={value}:z"]


@settings(max_examples=300)
@given(name=st.text(min_size=1), value=st.text())
def test_property_string_param_round_trips(name, value):
    params = (P(name),)
    assert shlex.split(render_line("cmd {parameters}", params, {name: value}, None)) == [
        "cmd",
        f"--{name}={value}",
    ]


@settings(max_examples=200)
@given(value=st.text())
def test_property_split_template_round_trips(value):
    params = (P("tag", pass_as="--tag {value}"),)
    rendered = render_line("cmd {params} {parameter-value:tag}", params, {"tag": value}, None)
    assert shlex.split(rendered) == ["cmd", "--tag", value, value]
