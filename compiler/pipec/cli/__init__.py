"""The command line. Commands only parse options, call the driver and print; no logic here.
One module per command (or pair of close commands); `common` holds what they share.

Exit codes: 0 clean (or warnings only), 1 problems in the input, 2 usage errors.
"""

from __future__ import annotations

import gc

import click

from pipec import __version__
from pipec.cli import check, compile, schema, submit, views


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


for command in (check.check, views.plan, views.graph, compile.compile, schema.schema, submit.submit):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
