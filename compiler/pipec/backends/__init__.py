"""Back ends: one module (or package) per target, each turning IR workflows into files.

`TARGETS` names every target the CLI accepts and the module that builds it. A back end never
imports a front end. Each back-end module declares its `TARGET` (`pipec.targets`: its name
in messages and the IR features it supports) and has
`compile_workflows(workflows, config, diags, **options)`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

TARGETS: dict[str, str] = {
    "argo": "pipec.backends.argo",
    "gha": "pipec.backends.gha",
    "slurm": "pipec.backends.slurm",
}


def load(target: str) -> ModuleType:
    """The back-end module of `target` (KeyError for an unknown one)."""
    return importlib.import_module(TARGETS[target])
