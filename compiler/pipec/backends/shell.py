"""Shell text helpers shared by back ends that generate shell scripts.

Everything user-controlled reaches generated scripts through these functions, so quoting
lives in one place: `quote` for single words, `ansi_c` for data read back by bash as one
line, `heredoc` for literal blocks, and `substitute_paths` to point container paths such
as /valohai/inputs at run-time directories without breaking the quoting around them.
"""

from __future__ import annotations

import shlex

quote = shlex.quote


def ansi_c(text: str) -> str:
    """A bash `$'...'` string holding exactly `text` (any bytes, newlines included) on one line."""
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
    wherever they occur in shell source, choosing the form that expands in that quoting
    context: `"${VAR}"` outside quotes, `${VAR}` inside double quotes, `'"${VAR}"'` inside
    single quotes. A prefix only matches at a path boundary (`/valohai/inputsx` is left)."""
    keys = sorted(mapping, key=len, reverse=True)
    out: list[str] = []
    i = 0
    state = "plain"  # plain | single | double
    n = len(script)
    while i < n:
        ch = script[i]
        hit = next((k for k in keys if script.startswith(k, i) and _boundary(script, i + len(k))), None)
        if hit is not None:
            var = mapping[hit]
            out.append({"plain": f'"${{{var}}}"', "double": f"${{{var}}}", "single": f"'\"${{{var}}}\"'"}[state])
            i += len(hit)
            continue
        out.append(ch)
        if state == "plain":
            if ch == "\\" and i + 1 < n:
                out.append(script[i + 1])
                i += 1
            elif ch == "'":
                state = "single"
            elif ch == '"':
                state = "double"
        elif state == "single":
            if ch == "'":
                state = "plain"
        else:
            if ch == "\\" and i + 1 < n:
                out.append(script[i + 1])
                i += 1
            elif ch == '"':
                state = "plain"
        i += 1
    return "".join(out)


def _boundary(text: str, end: int) -> bool:
    return end >= len(text) or not (text[end].isalnum() or text[end] in "_-.")
