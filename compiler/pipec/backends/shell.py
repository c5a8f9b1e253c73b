"""Shell text helpers shared by back ends that generate shell scripts.

Everything user-controlled reaches generated scripts through these functions (and commands
through `pipec.backends.command`): `quote` for single words, `ansi_c` for data read back by
bash as one line, `heredoc_delimiter` for literal blocks.
"""

from __future__ import annotations

import re
import shlex

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
