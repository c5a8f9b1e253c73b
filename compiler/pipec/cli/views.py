"""`pipec plan` and `pipec graph`: what a pipeline would run, as text or as a graph."""

from __future__ import annotations

import sys
from typing import Any

import click

from pipec.cli.common import FORMATS, given, report, run, select_options
from pipec.driver import Request


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="How problems are reported on standard error: text, json or github (workflow annotations).")
@select_options
def plan(file: str, fmt: str, dialect: str | None, config: str | None, **options: Any) -> None:
    """Show what would run: jobs, executions per sweep (with the first parameter rows),
    dependencies and what flows along them, resources and failure policies.

    \b
    Examples:
      pipec plan pipeline.yaml --config site/pipec.toml
      pipec plan pipeline.yaml --pipeline train --sweep train.learning_rate=0.1,0.01
    """
    from pipec.render.plan import render_plan

    result = run(Request(file=file, dialect=dialect, options=given(options), config=config))
    report([result], fmt, sys.stderr)
    if result.has_errors:
        sys.exit(1)
    click.echo("\n".join(render_plan(wf) for wf in result.workflows), nl=False)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@select_options
def graph(file: str, fmt: str, dialect: str | None, config: str | None, **options: Any) -> None:
    """Print the pipeline DAG as Mermaid or Graphviz DOT. A sweep is one node with its
    execution count; a group is a cluster; a file with several pipelines gives one graph
    with a cluster per pipeline (or choose one with --pipeline).

    \b
    Examples:
      pipec graph pipeline.yaml > pipeline.mmd
      pipec graph pipeline.yaml --format dot | dot -Tsvg > pipeline.svg
    """
    from pipec.render.graph import to_dot, to_mermaid

    result = run(Request(file=file, dialect=dialect, options=given(options), config=config))
    report([result], "text", sys.stderr)
    if result.has_errors:
        sys.exit(1)
    render = to_dot if fmt == "dot" else to_mermaid
    if result.workflows:
        click.echo(render(result.workflows), nl=False)
