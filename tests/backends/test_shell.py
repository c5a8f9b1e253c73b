"""Shell text helpers (pipec.backends.shell), checked against a real bash.

Every user-controlled string reaches generated scripts through these helpers, so each test
runs the helper's output through `bash` and compares what bash makes of it with what was
meant, byte for byte:

* `ansi_c(text)` as `x=<ansi_c>; printf %s "$x"` prints exactly `text` (UTF-8);
* `heredoc_delimiter(text)` is never a line of `text`, so a quoted heredoc carries it intact;
* a Valohai command rendered where /valohai is not mounted (`substitute_paths` below: the
  front end reads the shell source, the renderer writes the layout's variables) points
  /valohai/... at run-time directories in plain, single- and double-quoted contexts, and bash
  then prints the run-time path even when it holds spaces and quotes.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipec import ir
from pipec.backends.command import render
from pipec.backends.shell import ansi_c, heredoc_delimiter, quote
from pipec.frontends.valohai.command import VALOHAI_LAYOUT, arg_spec, command


def substitute_paths(script: str, params: tuple[ir.Param, ...] = (), values: dict | None = None) -> str:
    """`script` as a Valohai command rendered where /valohai is not mounted."""
    cmd = command([script], [p.name for p in params], None)
    return render(cmd, params, values or {}, VALOHAI_LAYOUT, mounted=False)

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")

# A run-time directory that breaks any quoting mistake: spaces, both quotes, $, backslash, glob.
INPUTS_DIR = "/tmp/pipec test/it's \"in\" $HOME \\ *"

HOSTILE = [
    "",
    "plain",
    "it's",
    "'",
    "''",
    '"',
    'say "hi"',
    "back\\slash",
    "\\",
    "\\\\",
    "trailing backslash\\",
    "\\'",
    "\\x41 is not A",
    "\\n is not a newline",
    "$(touch /tmp/pipec-pwned)",
    "`touch /tmp/pipec-pwned`",
    "${HOME} $HOME $1 $@ $$ $? $! $- $#",
    "a;b && c || d | e & f",
    "# not a comment",
    "line1\nline2\n",
    "\n",
    "\n\n",
    "tab\there",
    "cr\rlf\r\n",
    "".join(chr(c) for c in range(1, 32)) + "\x7f",
    "ünïcødé ÅÄÖ ß",
    "日本語テキスト",
    "emoji 🚀🎉 👩‍👩‍👧 🏳️‍🌈",
    "\u200b zero width \ufeff bom \u2028 line sep",
    "-n",
    "-e \\n",
    "--rm -rf /",
    "*?[a-z]{1,2}~",
    "!history !!",
    "a'b\"c $(d) `e` ; # \\ ü 🚀\n\tz",
    "$'nested'",
    "x" * 5000,
]


def bash(script: str, env: dict[str, str] | None = None) -> bytes:
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/home/pipec-test", "LC_ALL": "C.UTF-8"}
    full_env.update(env or {})
    proc = subprocess.run([BASH, "--norc", "--noprofile", "-c", script], check=False, capture_output=True, env=full_env, timeout=30)
    assert proc.returncode == 0, (script, proc.stderr.decode(errors="replace"))
    return proc.stdout


def roundtrip(text: str) -> bytes:
    return bash(f'x={ansi_c(text)}; printf %s "$x"')


# ----------------------------------------------------------------------------------------- ansi_c
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_ansi_c_roundtrips_through_bash(text: str) -> None:
    assert roundtrip(text) == text.encode("utf-8")


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_ansi_c_is_one_printable_ascii_line(text: str) -> None:
    literal = ansi_c(text)
    assert literal.startswith("$'") and literal.endswith("'")
    assert "\n" not in literal and "\r" not in literal
    assert all(0x20 <= ord(ch) < 0x7F for ch in literal), literal


def test_ansi_c_roundtrips_in_a_c_locale() -> None:
    # \xHH escapes are bytes, not characters, so the locale must not matter.
    text = "ü 🚀 \x01"
    out = bash(f'x={ansi_c(text)}; printf %s "$x"', env={"LC_ALL": "C"})
    assert out == text.encode("utf-8")


def test_ansi_c_roundtrips_through_eval_of_a_line() -> None:
    # The job scripts read one ansi_c line per execution from a file and `eval` the assignment.
    texts = ["a'b", "line1\nline2", "$(touch /tmp/pipec-pwned) `id`", "ü 🚀"]
    lines = "\n".join(ansi_c(t) for t in texts) + "\n"
    script = (
        f"printf %s {quote(lines)} > \"$TMPDIR_/lines\"\n"
        "for n in 1 2 3 4; do\n"
        '  eval "v=$(sed -n "${n}p" "$TMPDIR_/lines")"\n'
        "  printf '%s\\0' \"$v\"\n"
        "done\n"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = bash(script, env={"TMPDIR_": tmp})
    assert out.split(b"\0")[:-1] == [t.encode("utf-8") for t in texts]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))))
def test_ansi_c_roundtrip_property(text: str) -> None:
    assert roundtrip(text) == text.encode("utf-8")


# ---------------------------------------------------------------------------- heredoc_delimiter
def _heredoc_roundtrip(text: str) -> bytes:
    delimiter = heredoc_delimiter(text)
    return bash(f"cat <<'{delimiter}'\n{text}\n{delimiter}\n")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "echo hi",
        "PIPEC_EOF",
        "a\nPIPEC_EOF\nb",
        "PIPEC_EOF\nPIPEC_EOF_1\nPIPEC_EOF_2",
        "PIPEC_EOF_1\nPIPEC_EOF_2",  # the base itself is free
        " PIPEC_EOF\nPIPEC_EOF \n\tPIPEC_EOF",  # not equal to it: no need to avoid
        "cat <<'EOF'\nPIPEC_EOF\nEOF",
    ],
)
def test_heredoc_delimiter_avoids_lines(text: str) -> None:
    delimiter = heredoc_delimiter(text)
    assert delimiter not in text.split("\n")
    assert delimiter.startswith("PIPEC_EOF")
    assert _heredoc_roundtrip(text) == (text + "\n").encode("utf-8")


def test_heredoc_delimiter_is_the_base_when_free() -> None:
    assert heredoc_delimiter("echo PIPEC_EOF\nPIPEC_EOFX") == "PIPEC_EOF"
    assert heredoc_delimiter("x", base="END") == "END"
    assert heredoc_delimiter("END\nEND_1", base="END") == "END_2"


def test_heredoc_delimiter_skips_every_taken_suffix() -> None:
    text = "\n".join(["PIPEC_EOF"] + [f"PIPEC_EOF_{n}" for n in range(1, 50)])
    assert heredoc_delimiter(text) == "PIPEC_EOF_50"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["PIPEC_EOF", "PIPEC_EOF_1", "PIPEC_EOF_2", "EOF", "'", "$(x)", "`y`", "\\"]),
            st.text(alphabet=st.characters(blacklist_characters="\x00\n\r", blacklist_categories=("Cs",)), max_size=20),
        ),
        max_size=12,
    )
)
def test_heredoc_delimiter_property(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert heredoc_delimiter(text) not in lines
    assert _heredoc_roundtrip(text) == (text + "\n").encode("utf-8")


# ------------------------------------------------------------------------------ substitute_paths
def run_substituted(script: str) -> str:
    text = substitute_paths(script)
    out = bash(text, env={"VH_INPUTS_DIR": INPUTS_DIR, "VH_OUTPUTS_DIR": "/out dir/'o'", "VH_CONFIG_DIR": "/c"})
    return out.decode("utf-8")


@pytest.mark.parametrize(
    ("script", "form"),
    [
        ("echo /valohai/inputs/x", 'echo "${VH_INPUTS_DIR}"/x'),
        ("echo '/valohai/inputs/a b'", "echo ''\"${VH_INPUTS_DIR}\"'/a b'"),
        ('echo "/valohai/inputs/$HOME"', 'echo "${VH_INPUTS_DIR}/$HOME"'),
        ("run --dir=/valohai/inputs/", 'run --dir="${VH_INPUTS_DIR}"/'),
        ("echo /valohai/inputs", 'echo "${VH_INPUTS_DIR}"'),
        ("echo /valohai/inputsx /valohai/inputs_y /valohai/inputs-z /valohai/inputs.w",
         "echo /valohai/inputsx /valohai/inputs_y /valohai/inputs-z /valohai/inputs.w"),
        ("echo /data/valohai/inputs/x", 'echo /data"${VH_INPUTS_DIR}"/x'),  # no left boundary is required
        ("echo /valohai/outputs/m /valohai/config/p", 'echo "${VH_OUTPUTS_DIR}"/m "${VH_CONFIG_DIR}"/p'),
        ("echo \\'/valohai/inputs/x", "echo \\'\"${VH_INPUTS_DIR}\"/x"),  # an escaped quote opens nothing
        ('echo "a\\"b /valohai/inputs/x"', 'echo "a\\"b ${VH_INPUTS_DIR}/x"'),
    ],
)
def test_substitute_paths_forms(script: str, form: str) -> None:
    assert substitute_paths(script) == form


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("echo /valohai/inputs/x", f"{INPUTS_DIR}/x\n"),
        ("echo '/valohai/inputs/a b'", f"{INPUTS_DIR}/a b\n"),
        ('echo "/valohai/inputs/$HOME"', f"{INPUTS_DIR}//home/pipec-test\n"),
        ("echo --dir=/valohai/inputs/", f"--dir={INPUTS_DIR}/\n"),
        ("echo /valohai/inputsx", "/valohai/inputsx\n"),
        ("echo '/valohai/inputsx' \"/valohai/inputsx\"", "/valohai/inputsx /valohai/inputsx\n"),
        ("printf '%s|' /valohai/inputs/a\\ b '/valohai/inputs/c' \"/valohai/inputs/d\"",
         f"{INPUTS_DIR}/a b|{INPUTS_DIR}/c|{INPUTS_DIR}/d|"),
        ("x=/valohai/inputs/y; printf %s \"$x\"", f"{INPUTS_DIR}/y"),
        ("printf %s \"${UNSET:-/valohai/inputs/dflt}\"", f"{INPUTS_DIR}/dflt"),
        ("echo 'it''s' /valohai/inputs/x \"q'\" '/valohai/inputs/y'", f"its {INPUTS_DIR}/x q' {INPUTS_DIR}/y\n"),
        ("echo /valohai/outputs/m", "/out dir/'o'/m\n"),
    ],
)
def test_substitute_paths_runs_in_bash(script: str, expected: str) -> None:
    assert run_substituted(script) == expected


def test_substitute_paths_leaves_text_without_prefixes_alone() -> None:
    # Lines are stripped and blank ones dropped, as Valohai builds commands; what is left of
    # text without a layout path and without placeholders is the text itself.
    for text in HOSTILE:
        if "/valohai/" not in text and "{" not in text:
            assert substitute_paths(text) == text.strip()


def test_values_given_later_in_each_quoting_context() -> None:
    # A pipeline parameter given at submit time reaches the command as a variable, quoted for
    # where the placeholder sits: a bare word, the author's '...' and "...".
    params = tuple(ir.Param(n, args=arg_spec({"name": n})) for n in ("a", "b", "c"))
    late = ir.Late("PIPEC_PARAM_0")
    text = substitute_paths("run {parameter:a} '{parameter:b}' \"{parameter:c}\"", params,
                            {"a": late, "b": late, "c": late})
    assert text == 'run --a="${PIPEC_PARAM_0}" \'--b=\'"${PIPEC_PARAM_0}"\'\' "--c=${PIPEC_PARAM_0}"'
    value = "v 'x' \"y\" $(z) `w`"
    out = bash(f"run() {{ printf '%s|' \"$@\"; }}\n{text}", env={"PIPEC_PARAM_0": value})
    assert out.decode() == f"--a={value}|--b={value}|--c={value}|"


# Real shell source a Valohai command may contain, where the quoting state is not what a
# simple quote scanner sees. Each must still print the run-time path.
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        pytest.param("# don't stop here\necho /valohai/inputs/x", f"{INPUTS_DIR}/x\n", id="apostrophe-in-comment"),
        pytest.param('echo "$(printf %s \'/valohai/inputs/x\')"', f"{INPUTS_DIR}/x\n",
                     id="single-quotes-in-command-substitution-in-double-quotes"),
        pytest.param("printf %s $'/valohai/inputs/x\\tY'", f"{INPUTS_DIR}/x\tY", id="ansi-c-string-escapes"),
        pytest.param("cat <<EOF\ndata: /valohai/inputs/x\nEOF", f"data: {INPUTS_DIR}/x\n", id="unquoted-heredoc"),
    ],
)
def test_substitute_paths_quoting_contexts(script: str, expected: str) -> None:
    assert run_substituted(script) == expected
