"""Writing compiled files: deterministic content, written only when it changed."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def write_tree(root: str, files: dict[str, tuple[str, bool]]) -> None:
    base = Path(root)
    for rel, (text, executable) in sorted(files.items()):
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        mode = 0o755 if executable else 0o644
        if (path.stat().st_mode & 0o777) != mode:
            os.chmod(path, mode)


def write_documents(target: str, documents: list[str]) -> None:
    """Several YAML documents as one stream: to standard output ("-") or one file."""
    text = "---\n".join(documents)
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(target)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
