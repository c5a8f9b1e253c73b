"""Tell the dialect of a document from its shape."""

from __future__ import annotations

import re
from typing import Any

_VALOHAI_KINDS = {"step", "task", "endpoint", "pipeline", "blueprint", "deployment"}
NOT_A_PIPELINE = ("not a pipeline file (no Valohai step or pipeline, no OSMO 'workflow:', no runnable 'dag:'); "
                  "not checked")
HINT = ("valohai.yaml is a list of '- step:' / '- pipeline:' items, OSMO has a top-level 'workflow:', "
        "runnable a top-level 'dag:'; or pass --dialect")


def detect(data: Any) -> str | None:
    """`- step:` / `- pipeline:` list -> valohai; top-level `workflow:` -> osmo; `dag:` -> runnable."""
    if isinstance(data, list):
        if any(isinstance(item, dict) and _VALOHAI_KINDS & set(item) for item in data):
            return "valohai"
        return None
    if isinstance(data, dict):
        if "workflow" in data:
            return "osmo"
        if "dag" in data:
            return "runnable"
    return None


_TOP_LEVEL_WORKFLOW = re.compile(r"^workflow[ \t]*:", re.MULTILINE)


def detect_text(text: str) -> str | None:
    """The dialect of a file whose text may not be YAML before it is rendered (an OSMO
    template with `{% for %}` lines): a top-level `workflow:` key -> osmo; else None (the
    parsed document decides)."""
    return "osmo" if _TOP_LEVEL_WORKFLOW.search(text) else None
