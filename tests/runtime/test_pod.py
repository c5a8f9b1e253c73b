"""The pod part of the runtime (templates/runtime/pod.sh, Argo and GitHub Actions), sourced as
Argo ships it (core + pod): arguments, pipeline parameter checks, product grids, run-time
metadata, group members' distributed.json, downloaded inputs."""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path

import pytest

from tests.runtime.conftest import Shell

POD = "argo"


def b64(text: str) -> str:
    return "pipec-b64:" + base64.b64encode(text.encode()).decode()


# ------------------------------------------------------------------------------- pipec_arg
@pytest.mark.parametrize("value", ["plain", "", "-n", "a  b\n\n", "%s \\n \\", "é 😀", "{{ not encoded }}",
                                   "pipec-b64"])
def test_arg_passes_a_plain_value_through(shell: Shell, value: str) -> None:
    assert shell.out('pipec_arg "$1"', value, source=POD) == value.encode()


@pytest.mark.parametrize("value", ["{{workflow.name}}", "x {{ y }}\n\n", "", "pipec-b64:abc", "é\t😀 {{"])
def test_arg_decodes_pipec_b64(shell: Shell, value: str) -> None:
    assert shell.out('pipec_arg "$1"', b64(value), source=POD) == value.encode()


def test_arg_that_does_not_decode_fails(shell: Shell) -> None:
    r = shell.run('v=$(pipec_arg "$1") || exit 5; echo not reached', "pipec-b64:@@not base64@@", source=POD)
    assert r.returncode in (1, 5) and r.stdout == b""  # $(...) runs in a subshell: pipec_die ends it
    assert r.stderr.endswith(b"pipec: cannot decode an argument\n")


# ----------------------------------------------------------------------- pipec_check_param
@pytest.mark.parametrize(("ptype", "value"), [
    ("integer", "0"), ("integer", "7"), ("integer", "-12"), ("integer", "123456789012345678901234567890"),
    ("float", "0"), ("float", "-0.5"), ("float", "3"), ("float", "1e-3"), ("float", "2.5E+10"), ("float", "-0.0e0"),
    ("string", "anything at all\n"), ("flag", "07"),
])
def test_check_param_accepts(shell: Shell, ptype: str, value: str) -> None:
    assert shell.out('pipec_check_param "p q" "$1" "$2"; echo fine', ptype, value, source=POD) == b"fine\n"


@pytest.mark.parametrize(("ptype", "value"), [
    ("integer", ""), ("integer", "07"), ("integer", "1.0"), ("integer", "+1"), ("integer", "1e3"), ("integer", "x"),
    ("integer", "1\n2"), ("integer", "1\n"), ("integer", " 1"), ("integer", "-"),
    ("float", ".5"), ("float", "1."), ("float", "1e"), ("float", "+0.5"), ("float", "0x10"), ("float", "nan"),
    ("float", "1,5"), ("float", "0.5\n0.5"),
])
def test_check_param_refuses(shell: Shell, ptype: str, value: str) -> None:
    r = shell.run('pipec_check_param "p q" "$1" "$2"; echo not reached', ptype, value, source=POD)
    assert (r.returncode, r.stdout) == (1, b"")
    assert r.stderr == f"pipec: pipeline parameter p q must be a number ({ptype}), not '{value}'\n".encode()


CHOICES = ["adam", "sgd momentum", "it's", ""]


@pytest.mark.parametrize("value", CHOICES)
def test_check_choice_accepts_a_listed_value(shell: Shell, value: str) -> None:
    assert shell.out('pipec_check_choice opt "$@"; echo fine', value, *CHOICES, source=POD) == b"fine\n"


@pytest.mark.parametrize("value", ["Adam", "sgd", " adam", "adam\n"])
def test_check_choice_refuses_another_value(shell: Shell, value: str) -> None:
    r = shell.run('pipec_check_choice opt "$@"; echo not reached', value, *CHOICES, source=POD)
    assert (r.returncode, r.stdout) == (1, b"")
    assert r.stderr == (f"pipec: pipeline parameter opt must be one of 'adam', 'sgd momentum', 'it's', '', "
                        f"not '{value}'\n").encode()


# ------------------------------------------------------------------------------ pipec_pick
AXES = [["1", "2"], ["a b", "it's \"q\"", "$HOME"], ["x", "y", "z", "w"]]


def test_pick_walks_the_grid_with_the_last_axis_fastest(shell: Shell) -> None:
    """As the Argo back end writes it: one pick per axis, the last axis first."""
    picks = "".join(f'pipec_pick V{n} {len(axis)} ' + " ".join("'" + v.replace("'", "'\\''") + "'" for v in axis) + "\n"
                    for n, axis in reversed(list(enumerate(AXES))))
    code = ('for i in $(seq 0 23); do (\npipec_i=$i\n' + picks +
            'sh -c \'printf "%s|%s|%s\\n" "$V0" "$V1" "$V2"\'\n) done')  # a child sees the exports
    rows = shell.out(code, source=POD).decode().splitlines()
    assert rows == ["|".join(row) for row in itertools.product(*AXES)]


def test_pick_leaves_the_rest_of_the_index(shell: Shell) -> None:
    out = shell.out('pipec_i=17; pipec_pick A 4 a b c d; printf "%s %s" "$A" "$pipec_i"', source=POD)
    assert out == b"b 4"


# ------------------------------------------------------------------------------ pipec_need
def test_need_fails_on_the_missing_marker(shell: Shell) -> None:
    r = shell.run("PIPEC_VALUE_0=pipec-missing:; pipec_need PIPEC_VALUE_0 'prep job' \"it's\"; echo not reached",
                  source=POD)
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", b"pipec: prep job printed no metadata 'it's'\n")


@pytest.mark.parametrize("value", ["0.5", "", "pipec-missing", '"pipec-missing:"'])
def test_need_passes_any_other_value(shell: Shell, value: str) -> None:
    assert shell.out('PIPEC_VALUE_1=$1; pipec_need PIPEC_VALUE_1 prep loss; echo fine', value, source=POD) == b"fine\n"


# ---------------------------------------------------------------------------- pipec_gather
def test_gather_turns_the_list_of_texts_into_a_list_of_values(shell: Shell) -> None:
    texts = ["1", "pipec-missing:", b64('{"a": "{{x}}"}'), '"s é"', "[1, 2]", "null", "pipec-missing:"]
    out = shell.out('PIPEC_VALUE_2_JSON=$1; pipec_gather PIPEC_VALUE_2\n'
                    'printf "%s\\n" "$PIPEC_VALUE_2"; sh -c \'printf "%s" "$PIPEC_VALUE_2_JSON"\'',
                    json.dumps(texts), source=POD)
    expected = json.dumps([1, {"a": "{{x}}"}, "s é", [1, 2], None]).encode()
    assert out == expected + b"\n" + expected


def test_gather_of_nothing_is_an_empty_list(shell: Shell) -> None:
    out = shell.out('PIPEC_VALUE_0_JSON=$1; pipec_gather PIPEC_VALUE_0; printf "%s" "$PIPEC_VALUE_0"',
                    '["pipec-missing:"]', source=POD)
    assert out == b"[]"


def test_gather_of_unreadable_metadata_fails(dash: Shell) -> None:
    r = dash.run('PIPEC_VALUE_0_JSON=$1; pipec_gather PIPEC_VALUE_0; echo not reached', '["{not json"]', source=POD)
    assert (r.returncode, r.stdout) == (1, b"")
    assert r.stderr.endswith(b"pipec: cannot read the metadata in PIPEC_VALUE_0\n")


# ----------------------------------------------------------------------- pipec_distributed
def test_distributed_writes_the_group_of_a_member(shell: Shell, tmp_path: Path) -> None:
    shell.out("pipec_enter workers 1; mkdir -p \"$PIPEC_CONFIG_DIR\"; pipec_distributed 1", source=POD,
              env={"PIPEC_RUN_DIR": str(tmp_path), "PIPEC_HOSTS": 'lead-0 node"1 10.0.0.3', "PIPEC_GROUP_SIZE": "3"})
    written = (tmp_path / "workers" / "1" / "config" / "distributed.json").read_bytes()
    assert written == b'{"size": 3, "rank": 1, "lead": 0, "hosts": ["lead-0","node\\"1","10.0.0.3"]}\n'
    assert json.loads(written)["hosts"][1] == 'node"1'


# --------------------------------------------------------------------------- pipec_place
def test_place_copies_a_file_under_its_name_and_a_directory_inside(dash: Shell, tmp_path: Path) -> None:
    (tmp_path / "url" / "1" / "sub").mkdir(parents=True)
    (tmp_path / "url" / "0").write_text("file")
    (tmp_path / "url" / "1" / "sub" / "b").write_text("in dir")
    dash.out('pipec_enter j 0; pipec_place data "$1/url/0" "a b.csv"; pipec_place data "$1/url/1" ignored',
             str(tmp_path), source=POD, env={"PIPEC_RUN_DIR": str(tmp_path / "run")})
    slot = tmp_path / "run" / "j" / "0" / "inputs" / "data"
    assert sorted(p.relative_to(slot).as_posix() for p in slot.rglob("*")) == ["a b.csv", "sub", "sub/b"]
    assert (slot / "a b.csv").read_text() == "file"


@pytest.mark.parametrize(("slot", "name"), [("../../../x", "f"), ("data", "../../../../x"), ("/tmp", "f"),
                                            ("data", "..")])
def test_place_refuses_a_path_outside_the_inputs(shell: Shell, tmp_path: Path, slot: str, name: str) -> None:
    (tmp_path / "url").mkdir()
    (tmp_path / "url" / "0").write_text("file")
    r = shell.run('pipec_enter j 0; pipec_place "$2" "$1/url/0" "$3"; echo not reached', str(tmp_path), slot, name,
                  source=POD, env={"PIPEC_RUN_DIR": str(tmp_path / "run")})
    assert (r.returncode, r.stdout) == (1, b"")
    assert b"refused" in r.stderr, r.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "run" / "x").exists()
    assert not Path("/tmp/f").exists() or Path("/tmp/f").read_text() != "file"
