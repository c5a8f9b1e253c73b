"""`pipec compile FILE --target valohai-api --commit SHA`: Valohai's pipeline creation payload
(pipec.frontends.valohai.api) as JSON, written as `vh pipeline convert-to-api` prints it (two-space
indent, the converter's key order, ASCII). One pipeline goes to standard output (`-o -`, the
default) or to a `*.json` file; a directory (`-o DIR`) takes one `<pipeline id>.json` per
pipeline, so a file with several pipelines needs a directory or `--pipeline NAME`: every file
written is one complete request.
"""

from __future__ import annotations

import json
import sys

import click

from pipec.cli.common import apply_plan, checked_plan, exit_code, report, say
from pipec.driver import Request, Result, read_input, request_config
from pipec.driver import UsageError as ReadError
from pipec.errors import Diagnostics, PipecError, apply_rules
from pipec.frontends import UsageError as FrontendUsageError
from pipec.frontends.detect import detect, detect_text
from pipec.frontends.valohai import api
from pipec.loader import decode, load_text
from pipec.names import safe_id

SUFFIX = ".json"


def emit_valohai_api(file: str, output: str, *, commit: str | None, title: str | None, project: str | None,
                     pipelines: tuple[str, ...], config: str | None, strict: bool, force: bool = False,
                     fmt: str = "text", quiet: bool = False) -> None:
    """Convert FILE's pipelines (or the `pipelines` named) and write their payloads to `output`;
    with `project`, each is the full body of POST /api/v0/pipelines/. Exits 1 on problems in
    the file (reported like every compile), 2 on usage errors. The configuration is found and
    read as for every compile (its [lint] table applies to the warnings); nothing else in it
    changes the payload."""
    if commit is None or not commit.strip():
        raise click.UsageError(f"--target {api.TARGET} needs --commit SHA (the commit the pipeline runs)")
    if project is not None and not project.strip():
        raise click.UsageError("--project: give the project's id")
    if title is not None and project is None:
        raise click.UsageError("--title goes into the request body, which --project makes: give --project ID too")
    kind = _kind(output)
    result, found = _convert(file, commit=commit, title=title, project=project, pipelines=pipelines, config=config,
                             strict=strict)
    names = {p.pipeline: f"{safe_id(p.pipeline)}{SUFFIX}" for p in found}
    if kind == "dir":
        _refuse_colliding_names(found, names, result)
    report([result], fmt, sys.stdout if fmt != "text" and output != "-" else sys.stderr)
    code = exit_code([result], strict)
    if code:
        sys.exit(code)
    if kind != "dir" and len(found) > 1:
        listing = ", ".join(f"'{p.pipeline}'" for p in found)
        raise click.UsageError(
            f"{result.file} has {len(found)} pipelines ({listing}) and -o {output} takes one payload: choose one "
            f"with --pipeline NAME, or give a directory (-o DIR) for one <pipeline>{SUFFIX} each")
    files = {names[p.pipeline]: (json.dumps(p.body, indent=2) + "\n", False) for p in found}
    changed = _write(file, output, files, force=force, partial=bool(pipelines), strict=strict)
    if kind != "stdout":
        say(f"wrote {len(files)} file{'s' if len(files) != 1 else ''} to {output}"
            + (f" ({len(files) - changed} unchanged)" if changed < len(files) else ""), quiet)


def _kind(output: str) -> str:
    """"stdout", "file" or "dir", by pipec/output.py's rules for a target whose files end in .json."""
    from pipec.output import OutputError, output_kind

    try:
        return output_kind(output, True, (SUFFIX,))
    except OutputError:
        raise click.UsageError(f"-o {output!r}: give - (standard output, the default), a *{SUFFIX} file, or a "
                               f"directory (one <pipeline>{SUFFIX} per pipeline)") from None


def _convert(file: str, *, commit: str, title: str | None, project: str | None, pipelines: tuple[str, ...],
             config: str | None, strict: bool) -> tuple[Result, list[api.Payload]]:
    """The file and its configuration read as the driver reads them (standard input for -), then
    the Valohai front end's model and payloads; OSMO and runnable files are usage errors."""
    try:
        raw, name = read_input(file)
    except ReadError as exc:
        raise click.UsageError(str(exc)) from None
    result = Result(name)
    diags = Diagnostics()
    found: list[api.Payload] = []
    try:
        text = decode(raw, name, diags)
        dialect = detect_text(text)  # an OSMO template may not even be YAML before it is rendered
        if dialect is not None:
            raise click.UsageError(_foreign(name, dialect))
        doc = load_text(text, name, diags, strict=strict)
        if doc.data is None:
            diags.error("the file is empty; there is no pipeline to convert", doc.locate(()))
            raise PipecError(diags.sorted())
        dialect = detect(doc.data)
        if dialect not in (None, "valohai"):
            raise click.UsageError(_foreign(name, dialect))
        result.config = request_config(Request(file=file, config=config), diags)
        cfg = api.load_model(doc, diags)
        if cfg is not None:
            found = api.payloads(cfg, diags, commit=commit, title=title, project=project, pipelines=pipelines)
    except (FrontendUsageError, ReadError) as exc:
        raise click.UsageError(str(exc)) from None
    except PipecError:
        pass
    result.diagnostics = apply_rules(diags.sorted(), result.config)  # [lint]: ignored / raised warnings
    return result, found


def _foreign(name: str, dialect: str) -> str:
    what = {"osmo": "an OSMO workflow", "runnable": "a runnable pipeline"}.get(dialect, f"a {dialect} file")
    return f"--target {api.TARGET} takes Valohai files only; {name} is {what}"


def _refuse_colliding_names(found: list[api.Payload], names: dict[str, str], result: Result) -> None:
    """Two pipelines whose names give one file name would overwrite each other in a directory."""
    diags = Diagnostics(list(result.diagnostics))
    owners: dict[str, api.Payload] = {}
    for payload in found:
        first = owners.setdefault(names[payload.pipeline], payload)
        if first is not payload:
            diags.error(f"pipelines '{first.pipeline}' and '{payload.pipeline}' both become "
                        f"'{names[payload.pipeline]}'", payload.location,
                        "rename one of them so they differ in letters or digits, or choose one with --pipeline")
    result.diagnostics = diags.sorted()


def _write(file: str, output: str, files: dict[str, tuple[str, bool]], *, force: bool, partial: bool,
           strict: bool) -> int:
    """Write through pipec/output.py (no links, only pipec's files, atomic); the number of files
    changed. Exits 2 on problems with the output."""
    from pipec.output import plan_output

    plan = checked_plan(lambda: plan_output(output, files, target=api.TARGET, source=file, streams=True, force=force,
                                            partial=partial, suffixes=(SUFFIX,)))
    if plan is None:
        sys.exit(2)
    if strict and plan.warnings:
        sys.exit(1)
    apply_plan(plan)
    return len(plan.writes)
