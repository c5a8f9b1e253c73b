"""What the commands share: option decorators, running the driver, reporting and exit codes.

Exit codes: 0 clean (or warnings only), 1 problems in the input, 2 usage errors.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

import click

from pipec.backends import TARGETS
from pipec.driver import Request, Result, UsageError, load_workflows
from pipec.errors import format_diagnostics
from pipec.frontends import DIALECTS, OptionSpec, built

DIALECT_CHOICE = click.Choice(list(DIALECTS))
TARGET_CHOICE = click.Choice(list(TARGETS))
FORMATS = ("text", "json", "github")
FORMAT_HELP = "text: file:line:col messages; json: one array; github: workflow annotations."
# Every dialect-specific option of the front ends that exist (refused for other dialects).
DIALECT_OPTIONS = {name: spec for module in built().values() for name, spec in module.OPTIONS.items()}


def dialect_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--dialect", type=DIALECT_CHOICE, default=None,
                        help="Input dialect; detected from the document shape when omitted.")(f)


def format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
                        help=FORMAT_HELP)(f)


def quiet_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--quiet", "-q", is_flag=True, help="No success line on standard error.")(f)


def cron(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A --schedule callback: a malformed cron line is a usage error naming the option."""
    from pipec.cron import cron_problem

    problem = cron_problem(value) if value is not None else None
    if problem:
        raise click.BadParameter(problem)
    return value


def _parsed(spec: OptionSpec) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if spec.parse is None or value in (None, ()):
            return value
        try:
            return spec.parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return callback


def select_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
                     help="pipec.toml to use instead of the nearest pipec.toml / pyproject.toml [tool.pipec].")(f)
    for spec in reversed(list(DIALECT_OPTIONS.values())):
        f = click.option(spec.flag, spec.name, multiple=spec.multiple, metavar=spec.metavar, default=None,
                         help=spec.help, callback=_parsed(spec), expose_value=True)(f)
    return dialect_option(f)


def check_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for spec in reversed([s for s in DIALECT_OPTIONS.values() if s.on_check]):
        f = click.option(spec.flag, spec.name, multiple=spec.multiple, metavar=spec.metavar, default=None,
                         help=spec.help, callback=_parsed(spec), expose_value=True)(f)
    return f


def given(values: dict[str, Any]) -> dict[str, Any]:
    """The dialect-specific options the command line set."""
    return {name: value for name, value in values.items() if name in DIALECT_OPTIONS and value not in (None, (), {})}


def run(req: Request) -> Result:
    try:
        return load_workflows(req)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None


def report(results: list[Result], fmt: str, stream: Any) -> None:
    # Several files sharing one configuration name it once.
    diagnostics = list({(d.severity, d.message, d.location, d.hint): d for r in results for d in r.diagnostics}.values())
    if fmt == "json":
        click.echo(format_diagnostics(diagnostics, "json"), file=stream)
    elif diagnostics:
        # On a terminal: each problem's source line with a caret, coloured unless NO_COLOR.
        click.echo(format_diagnostics(diagnostics, fmt, frame=is_terminal(stream), color=colour(stream)),
                   file=stream)


def exit_code(results: list[Result], strict: bool) -> int:
    if any(r.has_errors for r in results):
        return 1
    if strict and any(r.has_warnings for r in results):
        return 1
    return 0


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def colour(stream: Any) -> bool:
    """ANSI colour only on a terminal, and never with NO_COLOR set (https://no-color.org)."""
    return is_terminal(stream) and not os.environ.get("NO_COLOR")


def say(message: str, quiet: bool) -> None:
    """A success line on standard error (silenced by -q)."""
    if not quiet:
        click.echo(message, err=True)


def stderr() -> Any:
    return sys.stderr


def checked_plan(make: Callable[[], Any]) -> Any:
    """The output plan `make()` returns (pipec/output.py), its warnings printed; None when the
    output has problems (printed: nothing will be written). An output that cannot be one is a
    usage error."""
    from pipec.output import OutputError

    try:
        plan = make()
    except OutputError as exc:
        raise click.UsageError(" ".join(exc.problems)) from None
    for line in plan.warnings:
        click.echo(line, err=True)
    if plan.problems:
        for line in plan.problems:
            click.echo(line, err=True)
        click.echo(f"pipec: nothing written ({len(plan.problems)} problem(s) with the output)", err=True)
        return None
    return plan


def apply_plan(plan: Any) -> None:
    """Write a plan; exit 2 when the file system refuses (the files named)."""
    from pipec.output import OutputError

    try:
        plan.apply()
    except OutputError as exc:
        for line in exc.problems:
            click.echo(line, err=True)
        sys.exit(2)
