"""Engine-safe names derived from the names authors wrote.

`Train model (MNIST)` -> `train-model-mnist`: lowercase DNS-label characters, which every
engine accepts (Argo task names, GitHub job ids, Slurm job names); too long a name keeps a
stable hash of the original so that two long names stay apart.
"""

from __future__ import annotations

import hashlib
import re

MAX_ID_LENGTH = 63
_NOT_SAFE = re.compile(r"[^a-z0-9]+")


def safe_id(name: str, max_length: int = MAX_ID_LENGTH) -> str:
    text = _NOT_SAFE.sub("-", name.lower()).strip("-") or "job"
    if text[0].isdigit():
        text = "j-" + text
    if len(text) > max_length:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
        text = text[: max_length - 9].rstrip("-") + "-" + digest
    return text
