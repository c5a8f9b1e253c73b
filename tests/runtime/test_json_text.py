"""The runtime's text helpers, byte for byte: pipec_json_string and pipec_param_json (core),
pipec_replace and pipec_fill (pod part), under sh and bash."""

from __future__ import annotations

import json

import pytest

from tests.runtime.conftest import Shell


def json_string(value: bytes) -> bytes:
    """What pipec_json_string promises: `"` and `\\` escaped, newline, tab and carriage return
    as \\n \\t \\r, other bytes below 32 as \\u00XX, every other byte (UTF-8 included) as is."""
    out = bytearray(b'"')
    for c in value:
        if c == 34:
            out += b'\\"'
        elif c == 92:
            out += b"\\\\"
        elif c == 10:
            out += b"\\n"
        elif c == 9:
            out += b"\\t"
        elif c == 13:
            out += b"\\r"
        elif c < 32:
            out += b"\\u%04x" % c
        else:
            out.append(c)
    return bytes(out + b'"')


JSON_VALUES = [
    "",
    "plain",
    'say "hi"',
    "back\\slash \\n not a newline",
    "line 1\nline 2\n",
    "\n\n",
    "tab\there",
    "cr\r\nlf",
    "bell\a esc\x1b nul-less \x01\x1f del\x7f",
    "\b\f\v",
    "UTF-8: é ß € 😀 日本",
    "-n",
    "%s %d \\x41",
    "  leading and trailing  ",
    "$HOME `id` $(id) *",
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=range(len(JSON_VALUES)))
def test_json_string_escapes_byte_for_byte(shell: Shell, value: str) -> None:
    out = shell.out('pipec_json_string "$1"', value, source="core.sh")
    assert out == json_string(value.encode("utf-8"))
    assert json.loads(out) == value


@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
def test_json_string_passes_bytes_through_in_any_locale(dash: Shell, locale: str) -> None:
    raw = "é€😀".encode() + b"\xff\x80"  # UTF-8, then bytes that are not
    out = dash.out('pipec_json_string "$1"', raw, source="core.sh", env={"LC_ALL": locale})
    assert out == b'"' + raw + b'"'


@pytest.mark.parametrize(("ptype", "value", "expected"), [
    ("integer", "7", b"7"),
    ("integer", "-12", b"-12"),
    ("float", "-0.5", b"-0.5"),
    ("float", "1e-3", b"1e-3"),
    ("string", "7", b'"7"'),
    ("string", 'a "b"\n', b'"a \\"b\\"\\n"'),
    ("flag", "true", b'"true"'),
    ("string", "", b'""'),
])
def test_param_json(shell: Shell, ptype: str, value: str, expected: bytes) -> None:
    assert shell.out('pipec_param_json "$1" "$2"', ptype, value, source="core.sh") == expected


TOKEN = '"@@PIPEC_LATE1a2b_0@@"'
REPLACE_CASES = [
    # (text, value)
    (TOKEN, "5"),  # the whole text
    (TOKEN + ', "b": 2}', "5"),  # at the start
    ('{"a": ' + TOKEN, "5"),  # at the end
    ('{"a": ' + TOKEN + ', "b": [' + TOKEN + ", " + TOKEN + "]}", '"x"'),  # several
    (TOKEN + TOKEN, "1"),  # back to back
    ('{"a": 1}', "never used"),  # absent
    ('{"a": ' + TOKEN + "}", '"a & b && \\\\1 \\\\& \\\\"'),  # sed's and awk's special characters
    ('{"a": ' + TOKEN + "}", '"new\\nline"\n'),  # a value with a real newline
    ('{"a": ' + TOKEN + "}", ""),  # an empty value
    ('{"a": ' + TOKEN + "}", "x" + TOKEN + "y"),  # the value holds the token: not replaced again
    ('{"a": ' + TOKEN + "}\n\n", "1"),  # trailing newlines of the text are kept
    ('{"é": ' + TOKEN + "}", '"😀 €"'),
    ('{"a": "%s $x `y`"} ' + TOKEN, '"%d"'),
]


@pytest.mark.parametrize(("text", "value"), REPLACE_CASES, ids=range(len(REPLACE_CASES)))
def test_replace(shell: Shell, text: str, value: str) -> None:
    out = shell.out('pipec_replace "$1" "$2" "$3"', text, TOKEN, value, source="argo")
    assert out == text.replace(TOKEN, value).encode()


@pytest.mark.parametrize(("text", "value"), REPLACE_CASES, ids=range(len(REPLACE_CASES)))
def test_fill_replaces_in_pipec_json(shell: Shell, text: str, value: str) -> None:
    out = shell.out('pipec_json=$1; pipec_fill "$2" "$3"; printf "%s" "$pipec_json"', text, TOKEN, value,
                    source="argo")
    assert out == text.replace(TOKEN, value).encode()


def test_fill_twice_with_two_tokens(shell: Shell) -> None:
    other = '"@@PIPEC_LATE1a2b_1@@"'
    text = '{"a": ' + TOKEN + ', "b": ' + other + ', "c": [' + TOKEN + "]}"
    out = shell.out('pipec_json=$1; pipec_fill "$2" 1.5; pipec_fill "$3" "$(pipec_param_json string "$4")"; '
                    'printf "%s" "$pipec_json"', text, TOKEN, other, 'it\'s "q"\n', source="gha")
    assert json.loads(out) == {"a": 1.5, "b": 'it\'s "q"\n', "c": [1.5]}
