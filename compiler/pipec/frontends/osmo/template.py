"""OSMO's templating stage, run on a file's text before it is parsed: the text is split into
its top-level sections, `default-values` is read and `--set` / `--set-string` applied over it,
the special tokens are shielded and the `workflow:` section is rendered by a sandboxed Jinja
with StrictUndefined, as the OSMO service does (../shared/reference/osmo.md §0, §1.13, §1.14).

Each rendered line keeps the template line it came from (`Rendered.lines`), so a problem
found later in the rendered YAML is reported where the user wrote it. Jinja carries that
information itself: a filter on its token stream puts an invisible marker (private-use
characters, with a random nonce nobody can guess) at the start of every piece of template
text and after each of its newlines, never inside a tag; the markers are stripped from the
output, and the last marker before a rendered line's first character names its source line.
The filter sees text after Jinja has applied its whitespace control, so `{%-` and `-%}` give
the same output with the markers as without them.

Line numbers are YAML's (what the loader reports everywhere else): U+0085, U+2028 and U+2029
break lines too.
"""

from __future__ import annotations

import bisect
import copy
import re
import secrets
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator, Sequence

from pipec.errors import Diagnostic, Diagnostics, Location, PipecError
from pipec.loader import load_text
from pipec.schema import did_you_mean

SECTIONS = ("workflow", "default-values", "version")

# Limits of one rendering; OSMO has its own (0.5 s, 100 MiB in a worker process). Tests
# lower them.
MAX_OUTPUT = 10 * 1024 * 1024  # characters of rendered text
MAX_SECONDS = 3.0
MAX_MEMORY = 512 * 1024**2  # more address space the rendering may take, where the OS lets us cap it
_MAX_POWER_BITS = 100_000  # `10**10**9` would compute for hours in C, out of reach of any timer

# OSMO's own pattern (TemplateSpec.load_template_with_variables): only tokens written without
# inner spaces are shielded; `{{ output }}` reaches Jinja and is undefined there.
TOKEN = re.compile(r"{{(uuid|workflow_id|output|input:[^}]+|host:[^}]+)}}")
# parse_workflow_spec's section pattern: a line starting with `name:` opens a section; a
# Jinja line such as `{% for %}` at column 0 does not.
_TOP_KEY = re.compile(r"[a-zA-Z][a-zA-Z0-9_-]*(?=:)")
_RESERVED = ("output", "workflow_id", "uuid")
# Line breaks as YAML counts them: source text has its CRs normalised first, rendered text
# may still hold a CR that came from a value.
_EXTRA_BREAK = re.compile("[\x85\u2028\u2029]")
_TAG_OPEN = re.compile(r"{[{%#]")
_TAG = re.compile(r"{{.*?}}|{%.*?%}", re.DOTALL)
# Tags whose text becomes a value rather than output (`{% set x %}...{% endset %}`, macro and
# call bodies, filter blocks, blocks reachable as `self.name()`): a marker there could change
# what a filter or a comparison sees, so their text goes unmarked.
_QUIET = {"set": "endset", "filter": "endfilter", "macro": "endmacro", "call": "endcall", "block": "endblock"}
_QUIET_ENDS = set(_QUIET.values())
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_FILENAME = "<template>"  # the file name Jinja gives a template made from a string


@dataclass(frozen=True)
class Rendered:
    text: str  # the document rendered: `default-values` replaced by blank lines
    lines: tuple[int, ...]  # lines[i]: the source line rendered line i+1 came from
    values: dict[str, Any]  # the variables the template was rendered with


def parse_set(text: str) -> tuple[str, str]:
    """`KEY=VALUE` of a --set or --set-string option."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--set {text}: expected KEY=VALUE")
    return key, value


def cast(value: str) -> int | float | str:
    """A --set value as OSMO reads it: an int, else a float, else the string."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def reserved(name: str) -> bool:
    """Whether `name` is one of OSMO's special tokens, which no variable can set."""
    return name in _RESERVED or name.startswith(("input:", "host:"))


class _Refused(Exception):
    """A limit of the rendering was reached; the message is for the user."""


@dataclass(frozen=True)
class _Section:
    key: str
    first: int  # source line (counted by "\n", as Jinja counts) of the `key:` line
    end: int  # the line after its last


class _Source:
    """The template file's lines and their YAML line numbers."""

    def __init__(self, text: str, file: str):
        self.file = file
        self.lines = text.split("\n")
        self._yaml: list[int] | None = None  # None: every line break is a "\n"
        if _EXTRA_BREAK.search(text):
            starts, y = [], 1
            for line in self.lines:
                starts.append(y)
                y += 1 + len(_EXTRA_BREAK.findall(line))
            starts.append(y)
            self._yaml = starts

    def y(self, line: int) -> int:
        """The YAML line where source line `line` starts (`len(lines) + 1` is one past the end)."""
        return line if self._yaml is None else self._yaml[line - 1]

    def at(self, line: int, col: int = 1) -> Location:
        return Location(self.file, self.y(line), col)

    def text(self, first: int, end: int) -> str:
        """Lines first..end-1, with the newline that ends the last unless it is the file's last."""
        body = "\n".join(self.lines[first - 1 : end - 1])
        return body + "\n" if end <= len(self.lines) else body


def render(
    source: str,
    file: str,
    sets: Sequence[tuple[str, str]],
    set_strings: Sequence[tuple[str, str]],
    diags: Diagnostics,
) -> Rendered | None:
    """The file rendered as the OSMO service renders it; None when there were errors (all
    reported in `diags`)."""
    if source.startswith("\ufeff"):
        source = source[1:]
    if "\r" in source:  # Jinja and YAML both read CR LF and a lone CR as one line break
        source = source.replace("\r\n", "\n").replace("\r", "\n")
    src = _Source(source, file)
    errors = diags.error_count()
    sections, preamble = _split(src, diags)
    by_key = {s.key: s for s in sections}
    values = _values(src, by_key.get("default-values"), sets, set_strings, diags)
    workflow = by_key.get("workflow")
    if workflow is None:
        diags.error("the file has no top-level 'workflow:' section", Location(file, 1, 1),
                    "an OSMO workflow file holds 'workflow:' at column 1, and optionally 'default-values:' and 'version:'")
    if workflow is None or values is None or diags.error_count() > errors:
        return None

    text: list[str] = []
    lines: list[int] = []
    for line in range(1, (sections[0].first if sections else len(src.lines) + 1)):
        kept = line not in preamble
        text.append(src.text(line, line + 1) if kept else "\n")
        lines.extend(range(src.y(line), src.y(line + 1)) if kept else [src.y(line)])
    for section in sections:
        last = section.end > len(src.lines)
        if section is workflow:
            done = _render_workflow(src, section, values, diags)
            if done is None:
                return None
            body, origin = done
            if not last:
                if body[-1:] in ("\n", "\r", "\x85", "\u2028", "\u2029"):
                    origin.pop()  # the empty line after the final break is the next section's
                else:  # whitespace control ate the final newline
                    body += "\n"
            text.append(body)
            lines.extend(origin)
        elif section.key == "default-values":
            count = section.end - section.first
            text.append("\n" * (count if not last else count - 1))
            lines.extend(src.y(line) for line in range(section.first, section.end))
        else:
            text.append(src.text(section.first, section.end))
            lines.extend(range(src.y(section.first), src.y(section.end)))
    return Rendered("".join(text), tuple(lines), values)


def _split(src: _Source, diags: Diagnostics) -> tuple[list[_Section], set[int]]:
    """The top-level sections, and the lines before the first of them that OSMO drops
    (anything but blank lines, comments and YAML's `---` / `%` directives)."""
    starts = [(i, m.group()) for i, line in enumerate(src.lines, 1) if (m := _TOP_KEY.match(line))]
    sections = [
        _Section(key, first, starts[k + 1][0] if k + 1 < len(starts) else len(src.lines) + 1)
        for k, (first, key) in enumerate(starts)
    ]
    seen: dict[str, _Section] = {}
    for section in sections:
        if section.key not in SECTIONS:
            guess = did_you_mean(section.key, SECTIONS)
            diags.error(f'unknown top-level key "{section.key}"', src.at(section.first),
                        f"did you mean '{guess}'?" if guess else "OSMO allows only workflow, default-values and version")
        elif section.key in seen:
            diags.error(f'duplicate top-level key "{section.key}"', src.at(section.first),
                        f"the first is at line {src.y(seen[section.key].first)}; merge the two")
        else:
            seen[section.key] = section
    dropped: set[int] = set()
    for line in range(1, sections[0].first if sections else 1):
        stripped = src.lines[line - 1].strip()
        if stripped and not stripped.startswith(("#", "---", "%")):
            dropped.add(line)
    if dropped:
        diags.warning("text before the first top-level key is ignored, as OSMO ignores it",
                      src.at(min(dropped)), "start the file with 'workflow:'", code="PC205")
    sections = [s for s in sections if seen.get(s.key) is s]  # errors above; keep one of each
    return sections, dropped


def _values(
    src: _Source,
    section: _Section | None,
    sets: Sequence[tuple[str, str]],
    set_strings: Sequence[tuple[str, str]],
    diags: Diagnostics,
) -> dict[str, Any] | None:
    """default-values, then --set (cast), then --set-string; None when default-values is bad."""
    values: dict[str, Any] = {}
    if section is not None:
        # Padding with line breaks makes the loader's positions those of the file.
        padded = "\n" * (src.y(section.first) - 1) + src.text(section.first, section.end)
        found = Diagnostics()
        try:
            doc = load_text(padded, src.file, found)
        except PipecError:
            doc = None
        finally:
            # The loader puts a problem at the end of the text on the line after it, which a
            # file without a final newline does not have.
            end = src.y(len(src.lines) + 1) - 1
            for d in found.items:
                where = Location(d.location.file, min(d.location.line, end), d.location.col)
                diags.items.append(Diagnostic(d.severity, d.message, where, d.hint, d.code))
        if doc is None:
            return None
        data = doc.data.get("default-values") if isinstance(doc.data, dict) else None
        if data is not None and not isinstance(data, dict):
            diags.error("default-values must be a mapping of variable names to values",
                        doc.locate(("default-values",)), "write one 'name: value' per line under it")
            return None
        for key, value in (data or {}).items():
            if reserved(key):
                diags.warning(f"'{key}' is reserved for OSMO's {{{{{key}}}}} token; this value is ignored",
                              doc.locate_key(("default-values", key)), "rename the variable", code="PC206")
            else:
                values[key] = value
    for option, pairs, convert in (("--set", sets, cast), ("--set-string", set_strings, str)):
        for key, text in pairs:
            if reserved(key):
                diags.warning(f"{option} {key}: '{key}' is reserved for OSMO's {{{{{key}}}}} token; it is ignored",
                              Location(src.file, 1, 1), code="PC206")
            else:
                values[key] = convert(text)
    return values


def _shield(text: str) -> tuple[str, dict[str, str]]:
    """The text with each special token replaced by a variable that renders it literally, as
    OSMO does, and those variables. The replacement keeps the token's line breaks, so no line
    moves."""
    names: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        token = match.group()
        name = names.setdefault(token, f"_pipec_token_{len(names)}")
        return "{{" + name + "\n" * token.count("\n") + "}}"

    return TOKEN.sub(placeholder, text), {name: token for token, name in names.items()}


def _render_workflow(
    src: _Source, section: _Section, values: dict[str, Any], diags: Diagnostics
) -> tuple[str, list[int]] | None:
    """The workflow section rendered, and the source line of each of its rendered lines."""
    template = src.text(section.first, section.end)
    shielded, tokens = _shield(template)
    bare = TOKEN.sub("", template)
    if "{{" not in bare and "{%" not in bare and "{#" not in bare:
        # Nothing for Jinja to do: the output would be the text itself. Like the rendered
        # text's, the origins include the line after the final line break.
        return template, list(range(src.y(section.first), src.y(section.end) + (section.end <= len(src.lines))))
    nonce = "".join(chr(0xE002 + secrets.randbelow(0x18F0)) for _ in range(4))
    prefix = _MARK_OPEN + nonce

    def mark(lineno: int, text: str) -> str:
        line = section.first + lineno - 1
        pieces = text.split("\n")
        out = []
        for i, piece in enumerate(pieces):
            out.append(f"{chr(10) if i else ''}{prefix}{src.y(line + i)}{_MARK_CLOSE}{piece}")
        return "".join(out)

    chunks: list[str] = []
    try:
        # A copy: the sandbox lets a template call `dict.update` on a value.
        raw = _run(shielded, {**copy.deepcopy(values), **tokens}, mark, chunks)
    except Exception as exc:  # every failure of the user's template becomes a located error
        _report(exc, src, section, prefix, chunks, diags)
        return None
    finally:
        chunks.clear()
    pattern = re.compile(re.escape(prefix) + r"(\d+)" + _MARK_CLOSE + "|\r\n?|[\n\x85\u2028\u2029]")
    text, origin = _unmark(raw, pattern, src.y(section.first))
    if len(text) > MAX_OUTPUT:
        diags.error(f"the rendered workflow is larger than {_size(MAX_OUTPUT)}", src.at(section.first),
                    "a loop or an expression generates far more text than a workflow needs")
        return None
    return text, origin


def _run(template: str, context: dict[str, Any], mark: Callable[[int, str], str], chunks: list[str]) -> str:
    """The template rendered with line markers in its text; output is collected in `chunks`
    as it streams, so a runaway template is stopped by size or time."""
    sandbox = _sandbox()
    env = sandbox(keep_trailing_newline=True)
    deadline = time.monotonic() + MAX_SECONDS
    env.extend(pipec_mark=mark, pipec_deadline=deadline)
    size = 0
    with _memory_limit(MAX_MEMORY), _time_limit(MAX_SECONDS):
        compiled = env.from_string(template)
        for i, chunk in enumerate(compiled.generate(context)):
            chunks.append(chunk)
            size += len(chunk)
            if size > 2 * MAX_OUTPUT:  # markers count too, hence the factor
                raise _Refused(f"the rendered workflow is larger than {_size(MAX_OUTPUT)}")
            if not i % 1024 and time.monotonic() > deadline:  # where no alarm can interrupt
                raise _Refused(f"rendering takes longer than {MAX_SECONDS:g} s")
        return "".join(chunks)


def _unmark(raw: str, pattern: re.Pattern[str], first: int) -> tuple[str, list[int]]:
    """The output without its markers, and each of its lines' source line: that of the last
    marker met before the line's first visible character, else the line the previous one
    ended in (text an expression produced)."""
    text: list[str] = []
    origin: list[int] = []
    current = here = first
    fresh = True  # nothing but blanks and markers yet on this line
    last = 0
    for match in pattern.finditer(raw):
        piece = raw[last : match.start()]
        if piece:
            text.append(piece)
            fresh = fresh and piece.isspace()
        number = match.group(1)
        if number is None:  # a line break
            text.append(match.group())
            origin.append(here)
            here, fresh = current, True
        else:
            current = int(number)
            if fresh:
                here = current
        last = match.end()
    text.append(raw[last:])
    origin.append(here)
    return "".join(text), origin


def _report(exc: Exception, src: _Source, section: _Section, prefix: str, chunks: list[str], diags: Diagnostics) -> None:
    """A failure of rendering as a located error in the template file."""
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.sandbox import SecurityError

    count = section.end - section.first

    def located(lineno: int | None) -> int:
        return section.first + min(max(lineno or 1, 1), count) - 1

    if isinstance(exc, TemplateSyntaxError):
        line = located(exc.lineno)
        hint = None
        if re.search(r"{{\s+(input|host):|{{(input|host):[^}]*\s}}", src.lines[line - 1]):
            hint = "write OSMO's tokens without spaces inside the braces: {{input:0}}, {{host:master}}"
        diags.error(f"template syntax error: {exc.message}", src.at(line, _tag_column(src.lines[line - 1])), hint)
        return
    tb_line = _template_line(exc)
    if isinstance(exc, UndefinedError):
        message = str(exc)
        name = re.fullmatch(r"'(.+)' is undefined", message)
        attribute = re.search(r"has no attribute '(.+)'$", message)
        word = name.group(1) if name else (attribute.group(1) if attribute else None)
        line, col = _find(src, section, located(tb_line) if tb_line else None, word, attribute=not name)
        hint = None
        if name and word in _RESERVED:
            hint = f"OSMO's tokens are written without spaces inside the braces: {{{{{word}}}}}"
        elif name:
            hint = f"define it under default-values: or pass --set {word}=..."
        diags.error(message, src.at(line, col), hint)
        return
    if tb_line is not None:
        line = located(tb_line)
    else:  # stopped outside the template (size, time): at the text generated last
        line = _last_marked(src, prefix, chunks) or section.first
    where = src.at(line, _tag_column(src.lines[line - 1]))
    if isinstance(exc, SecurityError):
        diags.error(f"unsafe template: {exc}", where, "OSMO renders templates in a sandbox that refuses this")
    elif isinstance(exc, _Refused):
        diags.error(str(exc), where, "OSMO refuses templates that take this much time or space too")
    elif isinstance(exc, MemoryError):
        diags.error("rendering needs more memory than allowed", where,
                    "a loop or an expression builds far more than a workflow needs")
    elif isinstance(exc, RecursionError):
        diags.error("template recursion too deep", where, "a macro calls itself without end")
    else:
        diags.error(f"template error: {type(exc).__name__}: {exc}", where)


def _template_line(exc: BaseException) -> int | None:
    """The template line the error happened at: Jinja rewrites tracebacks so that frames of
    template code carry the template's file name and line. The innermost one wins."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _tag_column(text: str) -> int:
    match = _TAG_OPEN.search(text)
    return match.start() + 1 if match else 1


def _find(
    src: _Source, section: _Section, line: int | None, word: str | None, attribute: bool = False
) -> tuple[int, int]:
    """Where `word` (an undefined name) is used: in the first tag that mentions it and does not
    end before `line` (the traceback's line, where the failing statement starts; a tag can span
    lines), else in the first tag of the section that mentions it; else at `line`'s first tag."""
    if word:
        text = src.text(section.first, section.end)
        starts = [0] + [m.end() for m in re.finditer("\n", text)]
        floor = starts[line - section.first] if line else 0
        # A variable stands alone; an attribute follows a dot or a quote (`x.name`, `x['name']`).
        before = r"(?<=[.'\"])" if attribute else r"(?<![\w.])"
        used = re.compile(before + re.escape(word) + r"(?!\w)")
        found = None
        for tag in _TAG.finditer(text):
            hit = None if TOKEN.fullmatch(tag.group()) else used.search(text, tag.start(), tag.end())
            if hit is None:
                continue
            if found is None or tag.end() >= floor:
                found = hit
            if tag.end() >= floor:
                break
        if found is not None:
            number = bisect.bisect_right(starts, found.start())
            return section.first + number - 1, found.start() - starts[number - 1] + 1
    number = line or section.first
    return number, _tag_column(src.lines[number - 1])


def _last_marked(src: _Source, prefix: str, chunks: list[str]) -> int | None:
    """The source line of the last text in the output so far that is not blank."""
    tail = "".join(chunks[-256:])
    found = None
    for match in re.finditer(re.escape(prefix) + r"(\d+)" + _MARK_CLOSE + f"([^{_MARK_OPEN}]*)", tail):
        if found is None or match.group(2).strip():
            found = int(match.group(1))
    if found is None:
        return None
    return next((n for n in range(1, len(src.lines) + 1) if src.y(n) >= found), None)


@lru_cache(maxsize=None)
def _sandbox() -> Any:
    """The sandboxed environment class, built on first use: plain files never import Jinja."""
    from jinja2 import StrictUndefined
    from jinja2.ext import Extension
    from jinja2.lexer import Token, TokenStream
    from jinja2.sandbox import SandboxedEnvironment

    class LineMarks(Extension):
        """Marks every piece of template text with its source line (see the module doc)."""

        def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
            mark = self.environment.pipec_mark  # type: ignore[attr-defined]
            closers: list[str] = []  # ends of the quiet tags we are in
            tag: str | None = None  # the name of the block tag being read
            after_begin = assigns = False
            for token in stream:
                kind = token.type
                if kind == "data":
                    if not closers:
                        token = Token(token.lineno, "data", mark(token.lineno, token.value))
                elif kind == "block_begin":
                    after_begin, tag = True, None
                elif after_begin:
                    after_begin = False
                    tag = token.value if kind == "name" else None
                    if tag in _QUIET and tag != "set":
                        closers.append(_QUIET[tag])
                    elif tag in _QUIET_ENDS and closers and closers[-1] == tag:
                        closers.pop()
                    assigns = False
                elif kind == "assign" and tag == "set":
                    assigns = True
                elif kind == "block_end":
                    if tag == "set" and not assigns:  # `{% set x %}...{% endset %}`
                        closers.append("endset")
                    tag = None
                yield token

    class Sandbox(SandboxedEnvironment):
        # Intercepted operators are also never folded at compile time, where no limit applies.
        intercepted_binops = frozenset({"*", "**"})

        def __init__(self, **options: Any):
            super().__init__(undefined=StrictUndefined, extensions=[LineMarks], **options)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                if right * abs(left).bit_length() > _MAX_POWER_BITS:
                    raise _Refused(f"{left} ** {right} is too large a number")
            if operator == "*":
                seq, times = (left, right) if isinstance(left, (str, list, tuple)) else (right, left)
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_OUTPUT:
                    raise _Refused(f"repeating {len(seq)} items {times} times is too large")
            return super().call_binop(context, operator, left, right)

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            # Every call (`range()` of a loop too) checks the clock: where no alarm can be
            # set (another thread), a loop that prints nothing is still stopped.
            if time.monotonic() > self.pipec_deadline:  # type: ignore[attr-defined]
                raise _Refused(f"rendering takes longer than {MAX_SECONDS:g} s")
            return super().call(context, obj, *args, **kwargs)

    return Sandbox


def _size(characters: int) -> str:
    return f"{characters // 1024**2} MiB" if not characters % 1024**2 else f"{characters:,} characters"


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the rendering after `seconds` with SIGALRM, where this process can: on Unix,
    in the main thread, when nobody else uses the timer. Elsewhere the output loop's clock
    is the only bound."""
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
        and signal.getsignal(signal.SIGALRM) is not None
    )
    if not usable:
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGALRM, previous)  # in case the alarm lands inside `finally` below
        raise _Refused(f"rendering takes longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _memory_limit(headroom: int) -> Iterator[None]:
    """Cap the address space at what the process uses now plus `headroom` while rendering,
    so one expression that builds a huge string fails with MemoryError instead of exhausting
    the machine (OSMO caps its worker the same way). Linux only; the old limit comes back."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm", encoding="ascii") as statm:
            used = int(statm.read().split()[0]) * resource.getpagesize()
    except (ImportError, OSError, ValueError, IndexError):
        yield
        return
    limit = used + headroom
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft != resource.RLIM_INFINITY and soft <= limit:
        yield
        return
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
