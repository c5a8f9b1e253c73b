"""`pipec schema`: print the JSON Schema that pipec validates a dialect's files (or pipec.toml)
with, for editors and other tools. Reads one data file: nothing heavy is imported."""

from __future__ import annotations

import click

from pipec.datafiles import data_dir

SUFFIX = ".schema.json"
# One choice per schema file: each dialect's, and `config` (pipec.toml).
NAMES = sorted(p.name[: -len(SUFFIX)] for p in data_dir("schemas").glob("*" + SUFFIX))


@click.command()
@click.option("--dialect", "name", type=click.Choice(NAMES), required=True,
              help="Whose schema: an input dialect's, or config for pipec.toml ([tool.pipec] in pyproject.toml).")
def schema(name: str) -> None:
    """Print the JSON Schema (draft 2020-12) pipec validates a dialect's files with, or pipec.toml
    with (--dialect config). Editors use it for completion, hover help and errors as you type.

    \b
    Its $id, https://pipec.dev/schemas/NAME.schema.json, names the schema; it is not a download
    address: save the output and point the editor at the file.

    \b
    Examples:
      pipec schema --dialect osmo > .schemas/osmo.schema.json
      pipec schema --dialect config > .schemas/pipec-config.schema.json
    """
    text = (data_dir("schemas") / f"{name}{SUFFIX}").read_text(encoding="utf-8")
    click.echo(text, nl=not text.endswith("\n"))
