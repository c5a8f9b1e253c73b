"""`pipec check`: validate pipeline files without compiling them."""

from __future__ import annotations

import sys
from typing import Any

import click

from pipec.cli.common import check_options, dialect_option, exit_code, format_option, given, report, run
from pipec.driver import Request


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@format_option
@click.option("--strict", is_flag=True, help="Warnings fail the check (exit 1); duplicate YAML keys become errors.")
@dialect_option
@check_options
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
    results = [run(Request(file=f, dialect=dialect, strict=strict, options=given(options))) for f in files]
    report(results, fmt, sys.stdout)
    if fmt == "text":
        errors = sum(1 for r in results for d in r.diagnostics if d.severity.value == "error")
        warnings = sum(1 for r in results for d in r.diagnostics if d.severity.value == "warning")
        if errors or warnings:
            click.echo(f"{len(results)} file(s) checked: {errors} error(s), {warnings} warning(s)", err=True)
    sys.exit(exit_code(results, strict))
