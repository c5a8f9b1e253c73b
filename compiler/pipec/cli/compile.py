"""`pipec compile`: compile a pipeline file into manifests for a target and write them."""

from __future__ import annotations

import sys
from typing import Any

import click

from pipec.cli.common import DIALECT_OPTIONS, TARGET_CHOICE, exit_code, given, report, run, select_options
from pipec.cron import cron_problem
from pipec.driver import Request, Result


def _cron(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    problem = cron_problem(value) if value is not None else None
    if problem:
        raise click.BadParameter(problem)
    return value


def build(req: Request, kind: str = "workflow") -> tuple[Result, dict[str, tuple[str, bool]]]:
    """The files a compile of `req` produces (empty when it has errors), with its diagnostics."""
    from pipec.backends import load
    from pipec.errors import Diagnostics

    assert req.target is not None
    module = load(req.target)
    result = run(req)
    diags = Diagnostics(list(result.diagnostics))
    files: dict[str, tuple[str, bool]] = {}
    if not result.has_errors:
        extra = {"kind": kind} if "kind" in module.TARGET.options else {}
        files = module.compile_workflows(result.workflows, result.config, diags, **extra)
    result.diagnostics = diags.sorted()
    return result, files


def write(req: Request, files: dict[str, tuple[str, bool]], output: str, force: bool, strict: bool) -> None:
    """Write `files` into `output` (pipec/output.py); exits 2 on problems with the output."""
    from pipec.backends import load
    from pipec.output import OutputError, plan_output

    assert req.target is not None
    module = load(req.target)
    # A run that compiles only some pipelines of the file removes none of the others' files.
    partial = any(spec.selects and req.options.get(name) not in (None, (), {})
                  for name, spec in DIALECT_OPTIONS.items())
    try:
        plan = plan_output(output, files, target=req.target, source=req.file, streams=module.TARGET.streams,
                           force=force, partial=partial, shared=module.TARGET.shared)
    except OutputError as exc:
        raise click.UsageError(" ".join(exc.problems)) from None
    for line in plan.warnings:
        click.echo(line, err=True)
    if plan.problems:
        for line in plan.problems:
            click.echo(line, err=True)
        click.echo(f"pipec: nothing written ({len(plan.problems)} problem(s) with the output)", err=True)
        sys.exit(2)
    if strict and plan.warnings:
        sys.exit(1)
    try:
        plan.apply()
    except OutputError as exc:
        for line in exc.problems:
            click.echo(line, err=True)
        sys.exit(2)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--target", "-t", type=TARGET_CHOICE, required=True, help="Engine to compile for.")
@click.option("--output", "-o", default="-", show_default=True, metavar="OUT",
              help="Output: a directory, a file (argo: *.yaml / *.yml), or - for standard output (argo).")
@click.option("--kind", type=click.Choice(["workflow", "template"]), default="workflow", show_default=True,
              help="argo: write a Workflow or a WorkflowTemplate (a pipeline with a schedule becomes a "
                   "CronWorkflow unless --kind template).")
@click.option("--schedule", default=None, metavar="CRON", callback=_cron,
              help="Run the compiled pipelines on this five-field cron schedule (overrides [triggers]).")
@click.option("--strict", is_flag=True, help="Warnings fail the compile (exit 1).")
@click.option("--force", is_flag=True,
              help="Replace files in the way that pipec did not generate (never through a symbolic link, "
                   "never a configuration file of yours such as .github/actionlint.yaml).")
@select_options
def compile(file: str, target: str, output: str, kind: str, schedule: str | None, strict: bool, force: bool,
            dialect: str | None, config: str | None, **options: Any) -> None:
    """Compile FILE into manifests for TARGET.

    \b
    Examples:
      pipec compile pipeline.yaml --target argo -o workflow.yaml
      pipec compile pipeline.yaml --target argo --kind template -o manifests/
      pipec compile pipeline.yaml --target slurm -o build/slurm
    """
    from pipec.backends import load

    module = load(target)
    if not module.TARGET.streams and output == "-":
        raise click.UsageError(f"--target {target} writes a directory: give one with -o DIR")
    if kind != "workflow" and "kind" not in module.TARGET.options:
        raise click.UsageError(f"--kind does not apply to --target {target}")
    req = Request(file=file, dialect=dialect, strict=strict, target=target, options=given(options), config=config,
                  schedule=schedule)
    result, files = build(req, kind)
    report([result], "text", sys.stderr)
    code = exit_code([result], strict)
    if code:
        sys.exit(code)
    write(req, files, output, force, strict)
