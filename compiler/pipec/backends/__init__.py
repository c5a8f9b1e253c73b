"""Back ends: one module per target, each turning IR workflows into files.

A back end never imports a front end. `TARGETS` names every target the CLI accepts; a target
whose module is None is planned but not built yet, and `pipec compile` says so (exit 2).
"""

from __future__ import annotations

TARGETS: dict[str, str | None] = {
    "argo": "pipec.backends.argo",
    "gha": "pipec.backends.gha",
    "slurm": "pipec.backends.slurm",
}


def available(target: str) -> bool:
    return TARGETS.get(target) is not None


def load(target: str):  # -> module with compile_workflows(workflows, config, diags)
    import importlib

    module = TARGETS.get(target)
    if module is None:
        raise KeyError(target)
    return importlib.import_module(module)
