"""Shell text helpers shared by back ends that generate shell scripts.

Everything user-controlled reaches generated scripts through these functions, so quoting
lives in one place: `quote` for single words, `ansi_c` for data read back by bash as one
line, `heredoc` for literal blocks, and `substitute_paths` to point container paths such
as /valohai/inputs at run-time directories without breaking the quoting around them.
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache

quote = shlex.quote
_PLAIN_ASCII = re.compile(r"[ -&(-\[\]-~]*")  # printable ASCII except ' and \


def ansi_c(text: str) -> str:
    """A bash `$'...'` string holding exactly `text` (any bytes, newlines included) on one line."""
    if _PLAIN_ASCII.fullmatch(text):
        return "$'" + text + "'"
    out = ["$'"]
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch == "'":
            out.append("\\'")
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    out.append("'")
    return "".join(out)


def heredoc_delimiter(text: str, base: str = "PIPEC_EOF") -> str:
    """A heredoc delimiter that no line of `text` equals."""
    lines = set(text.split("\n"))
    delimiter = base
    n = 0
    while delimiter in lines:
        n += 1
        delimiter = f"{base}_{n}"
    return delimiter


def substitute_paths(script: str, mapping: dict[str, str]) -> str:
    """Replace path prefixes (e.g. "/valohai/inputs") by a shell variable (e.g. "VH_INPUTS_DIR")
    wherever they occur in shell source, in the form that expands in that context:

        plain words, $(...) and `...`   "${VAR}"
        inside "..." and unquoted heredoc bodies   ${VAR}
        inside '...'   '"${VAR}"'   (close, insert, reopen)
        inside $'...'  '"${VAR}"$'

    Comments and quoted-heredoc bodies (which cannot expand anything) are left as written.
    A prefix only matches at a path boundary (`/valohai/inputsx` is left alone)."""
    keys = sorted(mapping, key=len, reverse=True)
    interesting = _interesting(tuple(keys))
    forms = {
        "plain": '"${{{}}}"', "double": "${{{}}}", "single": "'\"${{{}}}\"'", "ansi": "'\"${{{}}}\"$'",
        "heredoc": "${{{}}}", "backtick": '"${{{}}}"',
    }
    out: list[str] = []
    stack = ["plain"]  # plain | double | single | ansi | comment | heredoc | quoted-heredoc
    parens = [0]  # open ( inside each $( ... ) level
    heredocs: list[tuple[str, bool, bool]] = []  # pending: (delimiter, quoted, strip tabs)
    i, n = 0, len(script)
    prev = "\n"
    while i < n:
        state = stack[-1]
        ch = script[i]
        if state in ("heredoc", "quoted-heredoc"):
            line_end = script.find("\n", i)
            line_end = n if line_end < 0 else line_end
            line = script[i:line_end]
            delimiter, _, strip = heredocs[0]
            if (line.lstrip("\t") if strip else line) == delimiter:
                heredocs.pop(0)
                stack.pop()
                out.append(line)
                i = line_end
                if heredocs:
                    stack.append("quoted-heredoc" if heredocs[0][1] else "heredoc")
                    out.append("\n")
                    i += 1
                continue
            if state == "heredoc":
                out.append(_replace_in(line, keys, mapping, forms["heredoc"]))
            else:
                out.append(line)
            out.append(script[line_end:line_end + 1])
            i = line_end + 1
            continue
        if state == "comment":
            if ch == "\n":
                stack.pop()
                continue
            out.append(ch)
            i += 1
            continue
        if state in forms:
            hit = next((k for k in keys if script.startswith(k, i) and _boundary(script, i + len(k))), None)
            if hit is not None:
                out.append(forms[state].format(mapping[hit]))
                i += len(hit)
                prev = "x"
                continue
        if state == "single":
            out.append(ch)
            if ch == "'":
                stack.pop()
            i += 1
            continue
        if state == "ansi":
            if ch == "\\" and i + 1 < n:
                out.append(script[i:i + 2])
                i += 2
                continue
            out.append(ch)
            if ch == "'":
                stack.pop()
            i += 1
            continue
        # plain (top level, $( ), backticks) and double-quoted text: copy up to the next
        # character that can change state or start a path, in one step.
        m = interesting.search(script, i)
        j = m.start() if m else n
        if j > i:
            out.append(script[i:j])
            prev = script[j - 1]
            i = j
            continue
        if ch == "\\" and i + 1 < n:
            out.append(script[i:i + 2])
            i += 2
            prev = "x"
            continue
        if script.startswith("$(", i) and not script.startswith("$((", i):
            stack.append("plain")
            parens.append(0)
            out.append("$(")
            i += 2
            prev = "("
            continue
        if state == "double":
            if ch == '"':
                stack.pop()
            elif ch == "`":
                stack.append("backtick")
            out.append(ch)
            i += 1
            continue
        # plain or backtick
        if ch == "`" and state == "backtick":
            stack.pop()
        elif ch == "`":
            stack.append("backtick")
        elif ch == "'" and prev == "$" and out and out[-1] == "$":
            stack.append("ansi")
        elif ch == "'":
            stack.append("single")
        elif ch == '"':
            stack.append("double")
        elif ch == "#" and (prev.isspace() or prev in ";&|()<>"):
            stack.append("comment")
            continue
        elif ch == "(" and len(parens) > 1:
            parens[-1] += 1
        elif ch == ")" and len(parens) > 1:
            if parens[-1] == 0:
                parens.pop()
                stack.pop()
            else:
                parens[-1] -= 1
        elif script.startswith("<<", i) and not script.startswith("<<<", i):
            j = i + 2
            strip = j < n and script[j] == "-"
            j += 1 if strip else 0
            while j < n and script[j] in " \t":
                j += 1
            k = j
            while k < n and not script[k].isspace() and script[k] not in ";&|()<>":
                k += 1
            word = script[j:k]
            if word:
                quoted = any(c in word for c in "'\"\\")
                heredocs.append((word.replace("'", "").replace('"', "").replace("\\", ""), quoted, strip))
                out.append(script[i:k])
                i = k
                prev = "x"
                continue
        elif ch == "\n" and heredocs and state == "plain" and len(stack) == 1:
            out.append(ch)
            i += 1
            stack.append("quoted-heredoc" if heredocs[0][1] else "heredoc")
            prev = "\n"
            continue
        out.append(ch)
        prev = ch
        i += 1
    return "".join(out)


@lru_cache(maxsize=None)
def _interesting(keys: tuple[str, ...]) -> re.Pattern[str]:
    """Characters that can change the quoting state, and the keys themselves."""
    return re.compile("|".join(["[" + re.escape("\\'\"$`#<()\n") + "]", *map(re.escape, keys)]))


def _replace_in(line: str, keys: list[str], mapping: dict[str, str], form: str) -> str:
    out = []
    i = 0
    while i < len(line):
        hit = next((k for k in keys if line.startswith(k, i) and _boundary(line, i + len(k))), None)
        if hit is not None:
            out.append(form.format(mapping[hit]))
            i += len(hit)
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def _boundary(text: str, end: int) -> bool:
    # A path must end where a path component ends (/valohai/inputs, not /valohai/inputs2);
    # a key ending in "@" (pipec's sentinels) is complete wherever it stops.
    return end >= len(text) or text[end - 1] == "@" or not (text[end].isalnum() or text[end] in "_-.")
