"""Names and values that become paths, shell variables or engine arguments, checked once for
every target (so `pipec check` reports them too):

* input slots and deployment files name directories and files of an execution: no `/`, no
  `.`/`..`, no glob or control characters, so nothing is ever staged outside the execution;
* environment variables are shell names, and none may take a name the runtime uses itself
  (`PIPEC_*`, and the names the workflow's layout exports for its directories);
* pipeline parameter names can be given as NAME=VALUE (no `=`, no control characters);
* images are image references, not options (no leading `-`, no spaces or control characters);
* no value holds NUL, which no shell variable, argument or environment can carry.
"""

from __future__ import annotations

import re
from typing import Any

from pipec import ir
from pipec.passes.context import Context

_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PATH_UNSAFE = re.compile(r"[/*?\[\]\\\x00-\x1f\x7f]")


def _path_problem(name: str) -> str | None:
    if name in ("", ".", ".."):
        return "is not a file name"
    found = _PATH_UNSAFE.search(name)
    if found:
        return f"holds {found.group()!r}"
    return None


def _nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, (list, tuple)):
        return any(_nul(v) for v in value)
    return False


def check_names(wf: ir.Workflow, ctx: Context) -> ir.Workflow:
    def error(message: str, where: object, hint: str | None = None) -> None:
        ctx.diags.error(message, ctx.where(wf, where), hint)

    reserved = {name for name, _ in wf.layout.exports}
    for job in wf.jobs:
        for slot in job.inputs:
            problem = _path_problem(slot.name)
            if problem:
                error(f"input name {slot.name!r} of '{job.name}' {problem}: it names a directory of the execution",
                      slot, "use letters, digits, '-', '_' and '.'")
            if slot.filename is not None and _path_problem(slot.filename):
                error(f"file name {slot.filename!r} of input '{slot.name}' of '{job.name}' "
                      f"{_path_problem(slot.filename)}", slot)
        if job.deployment is not None:
            for name, _ in job.deployment.files:
                problem = _path_problem(name)
                if problem:
                    error(f"deployment file {name!r} of '{job.name}' {problem}: it names a directory of the execution",
                          job)
        for var in job.env:
            if not _SHELL_NAME.match(var.name):
                error(f"environment variable name {var.name!r} of '{job.name}' is not a valid shell name", var,
                      "letters, digits and '_', not starting with a digit")
            elif var.name.startswith("PIPEC_") or var.name in reserved:
                error(f"environment variable {var.name} of '{job.name}' would replace one the runtime sets", var,
                      "pipec's runtime uses PIPEC_* and the workflow's directory names; choose another name")
            if "\x00" in var.value:
                error(f"environment variable {var.name} of '{job.name}' holds a NUL character", var)
        env_names = {var.name for var in job.env}
        by_credential: dict[str, str] = {}  # variable -> the credential that sets it
        mounted: set[str] = set()
        for secret in job.secrets:
            for var, _key in secret.env:
                other = by_credential.setdefault(var, secret.name)
                if other != secret.name or list(v for v, _ in secret.env).count(var) > 1:
                    error(f"credential '{secret.name}' of '{job.name}' sets {var}, which credential '{other}' sets too",
                          secret)
                    continue
                if not _SHELL_NAME.match(var):
                    error(f"credential '{secret.name}' of '{job.name}' sets {var!r}, which is not a valid shell name",
                          secret, "letters, digits and '_', not starting with a digit")
                elif var.startswith("PIPEC_") or var in reserved:
                    error(f"credential '{secret.name}' of '{job.name}' sets {var}, which the runtime sets", secret,
                          "pipec's runtime uses PIPEC_* and the workflow's directory names; choose another name")
                elif var in env_names:
                    error(f"credential '{secret.name}' of '{job.name}' sets {var}, which its environment sets too",
                          secret)
            mount = secret.mount
            if mount is not None and (mount.strip("/") == "" or ".." in mount.split("/") or not mount.isprintable()):
                error(f"credential '{secret.name}' of '{job.name}' is mounted at {mount!r}, which is not a directory "
                      "path below /", secret)
            elif mount is not None and mount.rstrip("/") in mounted:
                error(f"credential '{secret.name}' of '{job.name}' is mounted at {mount}, where another credential "
                      "is mounted too", secret)
            elif mount is not None:
                mounted.add(mount.rstrip("/"))
        if job.image is not None and (job.image.startswith("-") or not job.image.isprintable()):
            # A leading '-' reads as an option to docker/srun, control characters break the output.
            error(f"image {job.image!r} of '{job.name}' is not an image reference: it starts with '-' or holds "
                  "control characters", job)
        elif job.image is not None and any(ch.isspace() for ch in job.image):
            # Some dialects accept any text; no registry has such a name, so the run fails when it pulls.
            ctx.diags.warning(f"image {job.image!r} of '{job.name}' holds spaces: no registry has such an image, "
                              "the engine will fail to pull it (and the GitHub Actions target refuses it)",
                              ctx.where(wf, job), code="PC412")
        if any("\x00" in text for text in job.command.texts()):
            error(f"the command of '{job.name}' holds a NUL character", job)
        for param in job.params:
            if _nul(param.value):
                error(f"parameter '{param.name}' of '{job.name}' holds a NUL character", param)
        if job.sweep is not None and (any(_nul(a.values) for a in job.sweep.axes)
                                      or any(_nul(v) for row in job.sweep.rows for _, v in row)):
            error(f"the sweep of '{job.name}' holds a NUL character", job.sweep)
    for p in wf.params:
        if "=" in p.name or not p.name.isprintable():
            error(f"pipeline parameter name {p.name!r} cannot be given as NAME=VALUE at submit time", p,
                  "rename it without '=' and control characters")
        if _nul(p.value):
            error(f"pipeline parameter '{p.name}' holds a NUL character", p)
    return wf
