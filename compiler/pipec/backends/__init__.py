"""Back ends: one module per target, each turning IR workflows into files.

A back end never imports a front end. `TARGETS` names every target the CLI accepts; a target
whose module is None is planned but not built yet, and `pipec compile` says so (exit 2).
"""

from __future__ import annotations

TARGETS: dict[str, str | None] = {
    "argo": None,
    "gha": None,
    "slurm": None,
}


def available(target: str) -> bool:
    return TARGETS.get(target) is not None
