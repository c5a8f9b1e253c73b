"""The repository around a path: where a bare `pipec check` looks and what generated files name
their sources relative to."""

from __future__ import annotations

from pathlib import Path


def repository_root(start: str) -> str:
    """The nearest folder from `start` up holding `.git`, else `start`."""
    return enclosing_repository(start) or str(Path(start).resolve())


def enclosing_repository(start: str) -> str | None:
    """The nearest folder from `start` up holding `.git`, or None."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return str(folder)
    return None
