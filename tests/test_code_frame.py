"""Code frames in the text format: after `file:line:col: severity: message`, the source line
and a caret under the column (what a terminal shows), ANSI colour only when asked, and never
a control character of the input on the terminal."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pipec.errors import Diagnostic, Diagnostics, Location, Severity, Sources, format_diagnostics
from pipec.loader import load_text
from pipec.schema import validate

SGR = re.compile(r"\x1b\[[0-9;]*m")


def frame(text: str, line: int, col: int, tmp_path: Path, name: str = "p.yaml", **kw: bool) -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    d = Diagnostic(Severity.WARNING, "something", Location(str(path), line, col), "a hint", "PC107")
    return d.format_text(frame=True, sources=Sources(), **kw).split("\n")


def caret_column(lines: list[str]) -> int:
    """The terminal column of the caret, relative to the start of the source text."""
    source, marks = lines[1], lines[2]
    return marks.index("^") - source.index("|") - 2


def test_the_frame_shows_the_line_and_a_caret_under_the_column(tmp_path: Path) -> None:
    lines = frame("- step:\n    name: train\n    imgae: x\n", 3, 5, tmp_path)
    assert lines[0].endswith(": warning: something [PC107 unknown-item]")
    assert lines[1:] == ["3 |     imgae: x", "  |     ^", "  hint: a hint"]


def test_without_frame_the_text_is_one_line_and_the_hint(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\n")
    d = Diagnostic(Severity.ERROR, "bad", Location(str(path), 1, 1), "fix it")
    assert format_diagnostics([d], "text") == f"{path}:1:1: error: bad\n  hint: fix it"


def test_a_wide_gutter_for_long_files_keeps_the_caret_aligned(tmp_path: Path) -> None:
    text = "".join(f"k{n}: {n}\n" for n in range(1, 120))
    lines = frame(text, 105, 7, tmp_path)
    assert lines[1] == "105 | k105: 105" and lines[2] == "    |       ^"


def test_tabs_are_expanded_and_the_caret_follows_them(tmp_path: Path) -> None:
    lines = frame("a:\n\tb: 1\n", 2, 2, tmp_path)
    assert "\t" not in "\n".join(lines)
    assert lines[1] == "2 |     b: 1" and caret_column(lines) == 4


def test_wide_characters_move_the_caret_by_their_width(tmp_path: Path) -> None:
    lines = frame("name: 中文 x\n", 1, 10, tmp_path)  # the x
    assert caret_column(lines) == len("name: ") + 4 + 1


def test_control_characters_of_the_source_are_made_visible(tmp_path: Path) -> None:
    # A frame prints text of the input: an ESC there must not reach the terminal as one.
    for color in (False, True):
        lines = frame("name: \x1b]0;pwned\x07 \u202e x\r\n", 1, 20, tmp_path, color=color)
        text = SGR.sub("", "\n".join(lines))
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
        assert "\\x1b]0;pwned\\x07" in text and "\\u202e" in text


def test_colour_only_when_asked(tmp_path: Path) -> None:
    plain = frame("a: 1\n", 1, 4, tmp_path)
    assert "\x1b" not in "\n".join(plain)
    painted = frame("a: 1\n", 1, 4, tmp_path, color=True)
    assert SGR.search(painted[0]) and "\x1b[1;33mwarning:" in painted[0]
    assert [SGR.sub("", line) for line in painted] == plain


def test_colour_without_a_frame(tmp_path: Path) -> None:
    d = Diagnostic(Severity.ERROR, "bad", Location(str(tmp_path / "p.yaml"), 1, 1))
    out = format_diagnostics([d], "text", color=True)
    assert "\x1b[1;31merror:" in out and SGR.sub("", out) == format_diagnostics([d], "text")


def test_a_long_line_is_cut_around_the_column(tmp_path: Path) -> None:
    text = "k: " + "a" * 500 + "X" + "b" * 500 + "\n"
    lines = frame(text, 1, 504, tmp_path)
    assert len(lines[1]) < 140 and lines[1].count("...") == 2
    assert lines[1][lines[2].index("^")] == "X"


def test_a_column_past_the_end_of_the_line_puts_the_caret_after_it(tmp_path: Path) -> None:
    lines = frame("key: [\n", 1, 8, tmp_path)
    assert caret_column(lines) == 7


def test_the_lines_are_those_yaml_counts(tmp_path: Path) -> None:
    # CRLF, and the line breaks only YAML knows (NEL, LS, PS): the frame shows the line the
    # loader's position names.
    text = "- step:\r\n    name: a\u2028    image: b\x85    command: c\u2029    imgae: oops\r\n"
    path = tmp_path / "valohai.yaml"
    path.write_bytes(text.encode("utf-8"))
    diags = Diagnostics()
    doc = load_text(path.read_bytes().decode("utf-8"), str(path), diags)
    validate(doc, "valohai", diags)
    [d] = [d for d in diags.sorted() if "imgae" in d.message]
    lines = d.format_text(frame=True, sources=Sources()).split("\n")
    assert lines[1].endswith("|     imgae: oops") and d.location.line == 5


def test_a_file_that_cannot_be_read_has_no_frame_and_no_failure(tmp_path: Path) -> None:
    missing = Diagnostic(Severity.ERROR, "bad", Location(str(tmp_path / "gone.yaml"), 3, 1))
    folder = Diagnostic(Severity.ERROR, "bad", Location(str(tmp_path), 1, 1))
    stdin = Diagnostic(Severity.ERROR, "bad", Location("<stdin>", 1, 1))
    beyond = Diagnostic(Severity.ERROR, "bad", Location(str(tmp_path / "short.yaml"), 9, 1))
    (tmp_path / "short.yaml").write_text("a: 1\n")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"a: \xff\xfe\n")
    for d in (missing, folder, stdin, beyond):
        assert d.format_text(frame=True, sources=Sources()) == d.format_text()
    d = Diagnostic(Severity.ERROR, "bad", Location(str(binary), 1, 4))
    assert "1 | a: \ufffd\ufffd" in d.format_text(frame=True, sources=Sources())


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_is_not_read(tmp_path: Path) -> None:
    # Reading a FIFO would wait for a writer: the report must not hang.
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    d = Diagnostic(Severity.ERROR, "bad", Location(str(fifo), 1, 1))
    assert d.format_text(frame=True, sources=Sources()) == d.format_text()


def test_a_file_beyond_the_size_limit_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipec.errors

    monkeypatch.setattr(pipec.errors, "MAX_SOURCE_BYTES", 10)
    path = tmp_path / "big.yaml"
    path.write_text("a: 1\nb: 2\nc: 3\n")
    d = Diagnostic(Severity.ERROR, "bad", Location(str(path), 1, 1))
    assert d.format_text(frame=True, sources=Sources()) == d.format_text()


def test_standard_input_is_framed_from_the_text_kept(tmp_path: Path) -> None:
    sources = Sources()
    sources.keep("<stdin>", "a: 1\nbad: [\n")
    d = Diagnostic(Severity.ERROR, "bad", Location("<stdin>", 2, 6))
    assert d.format_text(frame=True, sources=sources).split("\n")[1:] == ["2 | bad: [", "  |      ^"]


def test_a_file_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("first: 1\n")
    sources = Sources()
    d = Diagnostic(Severity.ERROR, "bad", Location(str(path), 1, 1))
    assert "first" in d.format_text(frame=True, sources=sources)
    path.write_text("second: 1\n")
    assert "first" in d.format_text(frame=True, sources=sources)


def test_toml_lines_break_at_line_feeds_only(tmp_path: Path) -> None:
    lines = frame('a = "x\u2028y"\nb = 3\n', 2, 5, tmp_path, name="pipec.toml")
    assert lines[1] == "2 | b = 3"


def test_notes_have_no_frame(tmp_path: Path) -> None:
    path = tmp_path / "pipec.toml"
    path.write_text("[argo]\n")
    d = Diagnostic(Severity.NOTE, f"configuration: {path}", Location(str(path), 1, 1))
    assert d.format_text(frame=True, sources=Sources()) == d.format_text()


def test_json_and_github_formats_take_no_frame(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\n")
    d = [Diagnostic(Severity.WARNING, "w", Location(str(path), 1, 1), None, "PC010")]
    for fmt in ("json", "github"):
        assert format_diagnostics(d, fmt, frame=True, color=True) == format_diagnostics(d, fmt)
