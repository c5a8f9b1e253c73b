"""Which files are pipeline files, by name: the pattern the pre-commit hook passes to `pipec
check`, and what `pipec check DIR` (or a bare `pipec check`, on the repository) looks for.

A name decides only which files are looked at: a `valohai.yaml` whose shape says no dialect
is an error, while another YAML file that is no pipeline is reported as such and passes.
"""

from __future__ import annotations

import os
import re

# valohai.yaml anywhere; NAME.valohai.yaml, NAME.osmo.yaml, NAME.runnable.yaml, NAME.pipec.yaml
# (any dialect); and every YAML
# file in a folder named osmo, runnable, pipelines or workflows (not .github/workflows, GitHub's).
PATTERN = (r"(^|/)(valohai\.ya?ml|[^/]+\.(valohai|osmo|runnable|pipec)\.ya?ml"
           r"|(osmo|runnable|pipelines|(?<!\.github/)workflows)/[^/]+\.ya?ml)$")
_PATTERN = re.compile(PATTERN)
_SKIPPED_DIRS = {".git", ".github", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache",
                 ".pipec-state"}


def is_pipeline_name(path: str) -> bool:
    """Whether `path` is named like a pipeline file (see PATTERN)."""
    return bool(_PATTERN.search(path.replace(os.sep, "/")))


def named_dialect(path: str) -> str | None:
    """The dialect a file's name declares (`valohai.yaml`, `x.osmo.yaml`, ...), or None."""
    name = os.path.basename(path).lower()
    if name in ("valohai.yaml", "valohai.yml"):
        return "valohai"
    parts = name.split(".")
    if len(parts) >= 3 and parts[-1] in ("yaml", "yml") and parts[-2] in ("valohai", "osmo", "runnable"):
        return parts[-2]
    return None


def pipeline_files(root: str) -> list[str]:
    """The files below `root` named like pipeline files, sorted; hidden folders, virtual
    environments and symbolic links to folders are not entered."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        for name in files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            if is_pipeline_name(rel) and os.path.isfile(path):
                found.append(os.path.normpath(path))
    return sorted(found)
