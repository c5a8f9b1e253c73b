"""Front ends: one package per input dialect, found through `DIALECTS`.

A front end module has `load(doc, diags, options) -> list[ir.Workflow]` (validate the
document and lower it to IR; [] when there are errors, all of them in `diags`) and
`OPTIONS`, the dialect-specific command-line options it takes (`OptionSpec`s; the CLI offers
them, and refuses them for a file of another dialect). A dialect whose files are templates
also has `prepare(text, file, diags, option_values) -> (rendered text, source line of each
rendered line) | None`, run on the file's text before it is parsed. A dialect whose module is None is
recognised from the document's shape but not built yet.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

from pipec.config import Config

DIALECTS: dict[str, str | None] = {
    "valohai": "pipec.frontends.valohai",
    "osmo": "pipec.frontends.osmo",
    "runnable": "pipec.frontends.runnable",
}


@dataclass
class Options:
    """What every front end is given: whether this is a compile (some problems are warnings
    in `check` and errors when compiling), the site configuration, the dialect-specific
    options the command line set (name -> value; only those given), and the target."""

    for_compile: bool = False
    config: Config = field(default_factory=Config)
    values: dict[str, Any] = field(default_factory=dict)
    target: str | None = None  # the target being compiled for (None: check, plan, graph)


@dataclass(frozen=True)
class OptionSpec:
    """A dialect-specific command-line option: `--<flag>`, stored as `name` in Options.values.
    `parse` turns the text (a tuple of texts when `multiple`) into the value, raising
    ValueError for a malformed one (a usage error before the file is read)."""

    name: str
    flag: str
    help: str
    metavar: str | None = None
    multiple: bool = False
    parse: Callable[[Any], Any] | None = None
    selects: bool = False  # compiles only part of the file (the output keeps the rest's files)
    on_check: bool = False  # `pipec check` takes it too (it changes what the file says, not what is compiled)


class UsageError(Exception):
    """A command-line choice that does not fit the file (exit 2)."""


def built() -> dict[str, ModuleType]:
    """The front ends that exist, by dialect."""
    return {d: importlib.import_module(m) for d, m in DIALECTS.items() if m}


def frontend(dialect: str) -> ModuleType | None:
    """The front end of `dialect`, or None when it is not built yet."""
    module = DIALECTS.get(dialect)
    return importlib.import_module(module) if module else None


def flag(option: str) -> str:
    """The command-line flag of a dialect-specific option (`sweeps` -> `--sweep`)."""
    for module in built().values():
        spec = module.OPTIONS.get(option)
        if spec is not None:
            return spec.flag  # type: ignore[no-any-return]
    return "--" + option.replace("_", "-")
