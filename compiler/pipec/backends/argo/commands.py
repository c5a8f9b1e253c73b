"""How the command of each execution reaches its pod.

A command is rendered with its values read by reference (command.Refs): `--lr="$PIPEC_P_lr"`,
the text of each variable given to the pod apart, as a template parameter. Where every
execution of a task renders the same text, the usual case (one execution, a fan-out, a sweep
whose swept values the pod receives as columns), the container template holds that text, in
the container's args, where the Argo UI and `kubectl describe pod` show it; executions and
jobs that differ only in their values then share a template. Where the executions render
differently (a swept flag, a list value of another length, a value a pass-as spec formats),
each execution's command is rendered with its values written in, shell-quoted as before, and
given as the task's parameter `command`: the container's args name that parameter, so the pod
spec still shows each execution's own command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from pipec import ir
from pipec.backends.command import render, shared_command


@dataclass(frozen=True)
class Commands:
    """The commands of a task's executions (in order) as their pods receive them."""

    text: str | None  # the command of every execution (the template holds it), or None
    values: tuple[dict[str, str], ...]  # with text: each execution's variables, PIPEC_P_<name> -> text
    own: tuple[str, ...]  # without text: each execution's command, its values written in

    @property
    def refs(self) -> tuple[str, ...]:
        """The variables the shared command reads, in the order it reads them first."""
        return tuple(self.values[0]) if self.text is not None and self.values else ()

    def common(self) -> dict[str, str]:
        """The variables every execution gives the same text."""
        if self.text is None or not self.values:
            return {}
        first = self.values[0]
        return {var: text for var, text in first.items() if all(v[var] == text for v in self.values[1:])}

    def varying(self) -> tuple[str, ...]:
        """The variables whose text differs between executions."""
        common = self.common()
        return tuple(var for var in self.refs if var not in common)


def plan(job: ir.Job, executions: Sequence[Mapping[str, Any]], layout: ir.Layout,
         hosts: Mapping[str, str] | None = None, names: Sequence[str] = ()) -> Commands:
    """The commands of the executions given their values (`hosts`: the variables holding a
    group's host names; `names`: parameters whose variables are named first, as a sweep's
    columns take them)."""
    shared = shared_command(job.command, job.params, executions, layout, True, hosts, first=tuple(names or ()))
    if shared is None:
        return Commands(None, (), tuple(render(job.command, job.params, v, layout, True, hosts) for v in executions))
    return Commands(shared[0], tuple(shared[1]), ())


def reading_order(text: str, variables: Sequence[str]) -> tuple[str, ...]:
    """The variables in the order the command first reads them (the renderer writes each as
    ${NAME}), those it does not read (a swept value only parameters.json holds) last, by name:
    one order for one command, whichever of its values are swept."""
    def key(var: str) -> tuple[bool, int, str]:
        at = text.find("${" + var + "}")
        return at < 0, at, var
    return tuple(sorted(dict.fromkeys(variables), key=key))
