"""Reading the commands of a generated step back, as the GitHub UI shows them: each `pipec_read
VAR <<'DELIMITER'` here-document of its `run:` script, or (a command too long for `run:`) the
step's env PIPEC_COMMAND / PIPEC_COMMAND_<r> / PIPEC_M<k>_COMMAND. The texts are the workflow's,
`${{` still escaped as `${{ '${{' }}` (gha_sim renders them back)."""

from __future__ import annotations

import re
from typing import Any

READ = re.compile(r"^pipec_read (\w+) <<'(\w+)'$")
IN_ENV = re.compile(r"^PIPEC_(?:M\d+_)?COMMAND(?:_\d+)?$")


def here_documents(run: str) -> tuple[dict[str, str], list[str]]:
    """The commands a run: script reads (variable -> text) and its other lines."""
    commands: dict[str, str] = {}
    rest: list[str] = []
    lines = run.split("\n")
    n = 0
    while n < len(lines):
        match = READ.match(lines[n])
        if match is None:
            rest.append(lines[n])
            n += 1
            continue
        var, delimiter = match.groups()
        end = lines.index(delimiter, n + 1)
        commands[var] = "\n".join(lines[n + 1:end])
        n = end + 1
    return commands, rest


def step_commands(step: dict[str, Any]) -> dict[str, str]:
    """Every command of a step, wherever the workflow holds it."""
    shown, _ = here_documents(step.get("run", ""))
    env = {k: v for k, v in step.get("env", {}).items() if IN_ENV.match(k)}
    return {**env, **shown}


def run_step(job: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in job["steps"] if s.get("id") == "run")
