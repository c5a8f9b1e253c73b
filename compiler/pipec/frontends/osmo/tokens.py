"""OSMO's special tokens in a task's strings, as IR parts.

After Jinja, OSMO substitutes `{{output}}`, `{{input:N}}`, `{{input:<task>}}`,
`{{workflow_id}}` and `{{host:<task>}}` in every string of a task (inner spaces allowed,
reference §1.14); `{{uuid}}` is shielded from Jinja but never substituted, so it stays as
written. Each token becomes the part that means the same on every engine: the outputs
directory, an input slot's directory, the run id, a peer's host name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipec import ir

TOKEN = re.compile(r"\{\{[ ]*(output|workflow_id|uuid|input:[^}]*|host:[^}]*)[ ]*\}\}")


@dataclass(frozen=True)
class Scope:
    """What a task's tokens may name: its inputs (in order; a task input by its task name,
    a URL input by None) and the tasks of its group (by name -> job id)."""

    inputs: tuple[str | None, ...]
    peers: dict[str, str]


class TokenError(ValueError):
    """A token that names nothing in the task's scope."""


def has_tokens(text: str) -> bool:
    return "{{" in text and TOKEN.search(text) is not None


def parse(text: str, scope: Scope) -> ir.Word:
    """`text` as parts; raises TokenError for the first token that names nothing."""
    parts: list[ir.Part] = []
    pos = 0
    for match in TOKEN.finditer(text):
        if match.start() > pos:
            parts.append(ir.Text(text[pos:match.start()]))
        parts.extend(_token(match.group(1).strip(), scope))
        pos = match.end()
    if pos < len(text):
        parts.append(ir.Text(text[pos:]))
    return _merged(parts)


def _token(token: str, scope: Scope) -> list[ir.Part]:
    if token == "output":
        return [ir.Path("outputs")]
    if token == "workflow_id":
        return [ir.RunId()]
    if token == "uuid":
        return [ir.Text("{{uuid}}")]
    kind, _, name = token.partition(":")
    name = name.strip()
    if kind == "input":
        if name.isdigit():
            index = int(name)
            if index >= len(scope.inputs):
                have = f"{len(scope.inputs)} input" + ("" if len(scope.inputs) == 1 else "s")
                raise TokenError(f"{{{{input:{name}}}}} names input {index}, but the task has {have} "
                                 "(numbered from 0)")
        else:
            if name not in scope.inputs:
                raise TokenError(f"{{{{input:{name}}}}} names no task input of this task")
            index = scope.inputs.index(name)
        return [ir.Path("inputs"), ir.Text(f"/{index}")]
    # host
    if name not in scope.peers:
        raise TokenError(f"{{{{host:{name}}}}} names no task of this group (a host name reaches only the tasks "
                         "of the same group)")
    return [ir.Host(scope.peers[name])]


def _merged(parts: list[ir.Part]) -> ir.Word:
    out: list[ir.Part] = []
    for part in parts:
        if isinstance(part, ir.Text) and out and isinstance(out[-1], ir.Text):
            out[-1] = ir.Text(out[-1].text + part.text)
        else:
            out.append(part)
    return tuple(out)
