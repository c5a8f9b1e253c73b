"""Where the tests find the project's files (and the shared corpus beside the checkout)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "valohai"
COMPILER_DIR = ROOT / "compiler"
SHARED_CORPUS = ROOT.parent / "shared" / "corpus"
