"""`pipec check`: validate pipeline files without compiling them."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from pipec.cli.common import check_options, dialect_option, exit_code, format_option, given, quiet_option, report, say
from pipec.driver import Request, Result, UsageError, load_workflows
from pipec.frontends.discover import PATTERN, pipeline_files
from pipec.repository import repository_root


def expand(paths: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The files to check: each FILE as given, each DIR's pipeline files (pipec.frontends.discover), and
    with no argument the pipeline files of the repository around the working directory; with
    the usage problems found (a folder without pipeline files)."""
    if not paths:
        root = repository_root(os.getcwd())
        files = [os.path.relpath(f) if f.startswith(os.getcwd()) else f for f in pipeline_files(root)]
        return files, [] if files else [f"no pipeline files in {root} (names matching {PATTERN})"]
    files, problems = [], []
    for path in paths:
        if path != "-" and os.path.isdir(path):
            found = pipeline_files(path)
            files.extend(found)
            if not found:
                problems.append(f"{path}: no pipeline files in this folder (names matching {PATTERN})")
        else:
            files.append(path)
    return files, problems


@click.command()
@click.argument("paths", nargs=-1, metavar="[FILE|DIR]...", type=click.Path(allow_dash=True))
@format_option
@click.option("--strict", is_flag=True, help="Warnings fail the check (exit 1); duplicate YAML keys become errors.")
@quiet_option
@dialect_option
@check_options
def check(paths: tuple[str, ...], fmt: str, strict: bool, quiet: bool, dialect: str | None, **options: Any) -> None:
    """Validate pipeline files without compiling them. Fast enough for a pre-commit hook.

    \b
    Every problem in every file is reported, sorted by position. Exit 0 when clean or only
    warnings, 1 on errors (or warnings with --strict), 2 on usage errors (a missing file:
    the files that can be read are checked and reported first). FILE may be - (stdin).
    A DIR is searched for pipeline files (valohai.yaml, NAME.valohai|osmo|runnable.yaml and
    the YAML files of folders named osmo, runnable, pipelines or workflows); with no
    argument, the repository around the working directory is. A YAML file of another kind
    is reported as not a pipeline file and passes.

    \b
    Examples:
      pipec check pipeline.yaml
      pipec check --strict --format github pipelines/*.yaml
      pipec check .
    """
    files, problems = expand(paths)
    results: list[Result] = []
    for file in files:
        try:
            results.append(load_workflows(Request(file=file, dialect=dialect, strict=strict, options=given(options))))
        except UsageError as exc:
            problems.append(str(exc))
    report(results, fmt, sys.stdout)
    errors = sum(1 for r in results for d in r.diagnostics if d.severity.value == "error")
    warnings = sum(1 for r in results for d in r.diagnostics if d.severity.value == "warning")
    if fmt == "text" and (errors or warnings):
        click.echo(f"{len(results)} file(s) checked: {errors} error(s), {warnings} warning(s)", err=True)
    if problems:
        ctx = click.get_current_context()
        for problem in problems:
            click.echo(f"Error: {problem}", err=True)
        click.echo(f"Try '{ctx.command_path} --help' for help.", err=True)
        sys.exit(2)
    code = exit_code(results, strict)
    if not code and not errors and not warnings:
        checked = sum(1 for r in results if r.pipeline)
        others = len(results) - checked
        say(f"ok: {checked} file{'s' if checked != 1 else ''} checked" +
            (f" ({others} other YAML file{'s' if others != 1 else ''} skipped)" if others else ""), quiet)
    sys.exit(code)
