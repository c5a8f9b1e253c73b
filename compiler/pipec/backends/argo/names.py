"""Text and names as Argo and Kubernetes accept them: values safe from Argo's templating,
object and parameter names within Kubernetes' limits."""

from __future__ import annotations

import base64
import re

from pipec.names import safe_id

B64 = "pipec-b64:"
MISSING = "pipec-missing:"
WORKFLOW_NAME_MAX = 63 - 5  # generateName gets five random characters
CRON_NAME_MAX = 52  # a CronWorkflow adds a timestamp suffix to the workflows it creates
PARAM_NAME = re.compile(r"[^-a-zA-Z0-9_]+")
# Kubernetes qualified names: an optional DNS subdomain prefix, then a name of 1-63 characters.
_QUALIFIED = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
RESOURCE_NAME = re.compile(f"^{_QUALIFIED}$")


def argo_text(text: str) -> str:
    """Text safe from Argo's templating: base64 behind a prefix when it holds "{{", or a
    character Argo's substitution would escape into invalid JSON (Go's strconv.Quote writes
    backslash-a, -v, -xNN and -UNNNNNNNN)."""
    if "{{" in text or text.startswith(B64) or not (text.isprintable() or _printable_lines(text)):
        return B64 + base64.b64encode(text.encode("utf-8")).decode("ascii")
    return text


def _printable_lines(text: str) -> bool:
    return text.replace("\n", "").replace("\t", "").isprintable()


def k8s_name(name: str, limit: int) -> str:
    return safe_id(name, max_length=limit)


def comment(text: str) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text)
