"""The command line. Commands only parse options, call the driver and print; no logic here.

Exit codes: 0 clean (or warnings only), 1 problems in the input, 2 usage errors.
"""

from __future__ import annotations

import gc
import sys
from typing import Any, Callable

import click

from pipec import __version__
from pipec.backends import TARGETS
from pipec.cron import cron_problem
from pipec.driver import Request, Result, UsageError, load_workflows
from pipec.errors import format_diagnostics
from pipec.frontends import DIALECTS, OptionSpec, built

DIALECT_CHOICE = click.Choice(list(DIALECTS))
TARGET_CHOICE = click.Choice(list(TARGETS))
# Every dialect-specific option of the front ends that exist (refused for other dialects).
DIALECT_OPTIONS = {name: spec for module in built().values() for name, spec in module.OPTIONS.items()}


def _dialect_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--dialect", type=DIALECT_CHOICE, default=None,
                        help="Input dialect; detected from the document shape when omitted.")(f)


def _parsed(spec: OptionSpec) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if spec.parse is None or value in (None, ()):
            return value
        try:
            return spec.parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return callback


def _select_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
                     help="pipec.toml to use instead of the nearest pipec.toml / pyproject.toml [tool.pipec].")(f)
    for spec in reversed(list(DIALECT_OPTIONS.values())):
        f = click.option(spec.flag, spec.name, multiple=spec.multiple, metavar=spec.metavar, default=None,
                         help=spec.help, callback=_parsed(spec), expose_value=True)(f)
    return _dialect_option(f)


def _check_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for spec in reversed([s for s in DIALECT_OPTIONS.values() if s.on_check]):
        f = click.option(spec.flag, spec.name, multiple=spec.multiple, metavar=spec.metavar, default=None,
                         help=spec.help, callback=_parsed(spec), expose_value=True)(f)
    return f


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """The dialect-specific options the command line set."""
    return {name: value for name, value in values.items() if name in DIALECT_OPTIONS and value not in (None, (), {})}


def _run(req: Request) -> Result:
    try:
        return load_workflows(req)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None


def _report(results: list[Result], fmt: str, stream: Any) -> None:
    diagnostics = [d for r in results for d in r.diagnostics]
    if fmt == "json":
        click.echo(format_diagnostics(diagnostics, "json"), file=stream)
    elif diagnostics:
        click.echo(format_diagnostics(diagnostics, fmt), file=stream)


def _exit_code(results: list[Result], strict: bool) -> int:
    if any(r.has_errors for r in results):
        return 1
    if strict and any(r.has_warnings for r in results):
        return 1
    return 0


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="pipec")
def main() -> None:
    """Compile ML pipeline YAML into manifests for Argo Workflows, GitHub Actions and Slurm
    (the input dialects are listed under --dialect of each command).

    \b
    Examples:
      pipec check pipeline.yaml
      pipec plan pipeline.yaml --pipeline "Training Pipeline"
      pipec graph pipeline.yaml --format mermaid
    """
    # A short run over large acyclic data: the cyclic collector only costs time (about a
    # third of compiling a 10,000-job pipeline); reference counting still frees memory.
    gc.disable()


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True,
              help="text: file:line:col messages; json: one array; github: workflow annotations.")
@click.option("--strict", is_flag=True, help="Warnings fail the check (exit 1); duplicate YAML keys become errors.")
@_dialect_option
@_check_options
def check(files: tuple[str, ...], fmt: str, strict: bool, dialect: str | None, **options: Any) -> None:
    """Validate pipeline files without compiling them. Fast enough for a pre-commit hook.

    \b
    Every problem in every file is reported, sorted by position. Exit 0 when clean or only
    warnings, 1 on errors (or warnings with --strict), 2 on usage errors. FILE may be - (stdin).

    \b
    Examples:
      pipec check pipeline.yaml
      pipec check --strict --format github pipelines/*.yaml
    """
    results = [_run(Request(file=f, dialect=dialect, strict=strict, options=_given(options))) for f in files]
    _report(results, fmt, sys.stdout)
    if fmt == "text":
        errors = sum(1 for r in results for d in r.diagnostics if d.severity.value == "error")
        warnings = sum(1 for r in results for d in r.diagnostics if d.severity.value == "warning")
        if errors or warnings:
            click.echo(f"{len(results)} file(s) checked: {errors} error(s), {warnings} warning(s)", err=True)
    sys.exit(_exit_code(results, strict))


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@_select_options
def plan(file: str, dialect: str | None, config: str | None, **options: Any) -> None:
    """Show what would run: jobs, executions per sweep (with the first parameter rows),
    dependencies and what flows along them, resources and failure policies.

    \b
    Examples:
      pipec plan pipeline.yaml --config site/pipec.toml
      pipec plan pipeline.yaml --pipeline train --sweep train.learning_rate=0.1,0.01
    """
    from pipec.render.plan import render_plan

    result = _run(Request(file=file, dialect=dialect, options=_given(options), config=config))
    _report([result], "text", sys.stderr)
    if result.has_errors:
        sys.exit(1)
    click.echo("\n".join(render_plan(wf) for wf in result.workflows), nl=False)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@_select_options
def graph(file: str, fmt: str, dialect: str | None, config: str | None, **options: Any) -> None:
    """Print the pipeline DAG as Mermaid or Graphviz DOT. A sweep is one node with its
    execution count; a group is a cluster.

    \b
    Examples:
      pipec graph pipeline.yaml > pipeline.mmd
      pipec graph pipeline.yaml --format dot | dot -Tsvg > pipeline.svg
    """
    from pipec.render.graph import to_dot, to_mermaid

    result = _run(Request(file=file, dialect=dialect, options=_given(options), config=config))
    _report([result], "text", sys.stderr)
    if result.has_errors:
        sys.exit(1)
    render = to_dot if fmt == "dot" else to_mermaid
    click.echo("\n".join(render(wf) for wf in result.workflows), nl=False)


def _cron(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    problem = cron_problem(value) if value is not None else None
    if problem:
        raise click.BadParameter(problem)
    return value


@main.command()
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
@_select_options
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
    from pipec.errors import Diagnostics
    from pipec.output import OutputError, plan_output

    module = load(target)
    if not module.TARGET.streams and output == "-":
        raise click.UsageError(f"--target {target} writes a directory: give one with -o DIR")
    if kind != "workflow" and "kind" not in module.TARGET.options:
        raise click.UsageError(f"--kind does not apply to --target {target}")
    result = _run(Request(file=file, dialect=dialect, strict=strict, target=target, options=_given(options),
                          config=config, schedule=schedule))
    diags = Diagnostics(list(result.diagnostics))
    files = {}
    if not result.has_errors:
        extra = {"kind": kind} if "kind" in module.TARGET.options else {}
        files = module.compile_workflows(result.workflows, result.config, diags, **extra)
    result.diagnostics = diags.sorted()
    _report([result], "text", sys.stderr)
    code = _exit_code([result], strict)
    if code:
        sys.exit(code)
    # Writing (pipec/output.py): every problem with the output is found before anything is written.
    # A run that compiles only some pipelines of the file removes none of the others' files.
    partial = any(spec.selects and options.get(name) not in (None, (), {}) for name, spec in DIALECT_OPTIONS.items())
    try:
        plan = plan_output(output, files, target=target, source=file, streams=module.TARGET.streams, force=force,
                           partial=partial, shared=module.TARGET.shared)
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


if __name__ == "__main__":  # pragma: no cover
    main()
