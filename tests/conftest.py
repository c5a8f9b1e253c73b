from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "valohai"


@pytest.fixture
def write(tmp_path: Path):
    """Write a YAML text to a file and return its path as a string."""

    def _write(text: str, name: str = "valohai.yaml") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return _write
