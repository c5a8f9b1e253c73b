"""Find the data files (schemas/, templates/) in an installed wheel or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`name` is "schemas" or "templates". The wheel puts them inside the package
    (hatchling force-include); a source checkout keeps them at the repository root."""
    installed = _PACKAGE / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent.parent / name
