"""The NVIDIA OSMO workflow front end: templating, schema, the service's validation rules,
and lowering to the IR.

The file is rendered first, as the OSMO service renders it (`template`: `default-values`,
`--set`, `--set-string`, sandboxed Jinja with the special tokens shielded); the rendered
text is then parsed, and every position maps back to the line of the template it came from.
"""

from __future__ import annotations

from typing import Any

from pipec import ir
from pipec.errors import Diagnostics
from pipec.frontends import Options, OptionSpec
from pipec.frontends.osmo.checks import check
from pipec.frontends.osmo.lower import Lowering
from pipec.frontends.osmo.model import DIALECT, collect
from pipec.loader import Document
from pipec.schema import validate as schema_validate


def _pairs(texts: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    from pipec.frontends.osmo.template import parse_set

    return tuple(parse_set(text) for text in texts)


OPTIONS = {
    spec.name: spec for spec in (
        OptionSpec("sets", "--set", "OSMO: a template value, cast to int, then float, else string (repeatable).",
                   metavar="KEY=VALUE", multiple=True, parse=_pairs, on_check=True),
        OptionSpec("set_strings", "--set-string", "OSMO: a template value kept as a string (repeatable).",
                   metavar="KEY=VALUE", multiple=True, parse=_pairs, on_check=True),
    )
}


def prepare(text: str, file: str, diags: Diagnostics, values: dict[str, Any]) -> tuple[str, tuple[int, ...]] | None:
    """The file rendered as OSMO renders it, and for each rendered line the template line it
    came from; None when rendering failed (reported)."""
    from pipec.frontends.osmo.template import render

    rendered = render(text, file, values.get("sets") or (), values.get("set_strings") or (), diags)
    if rendered is None:
        return None
    return rendered.text, rendered.lines


def load(doc: Document, diags: Diagnostics, given: Options) -> list[ir.Workflow]:
    """Validate the rendered document and return its one workflow ([] when there are errors)."""
    if doc.data is None:
        return []
    errors = diags.error_count()
    schema_validate(doc, DIALECT, diags)
    if diags.error_count() > errors or not isinstance(doc.data, dict) or not isinstance(doc.data.get("workflow"), dict):
        return []  # the rules below read a document of the right shape
    groups = collect(doc)
    check(doc, groups, diags)
    if diags.has_errors:
        return []
    profiles = frozenset(given.config.data.get("profiles", {}))
    wf = Lowering(doc, groups, diags, given.for_compile, profiles).workflow_ir()
    return [] if diags.has_errors else [wf]


__all__ = ["DIALECT", "OPTIONS", "load", "prepare"]
