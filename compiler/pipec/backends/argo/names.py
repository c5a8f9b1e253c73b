"""Text and names as Argo and Kubernetes accept them: values safe from Argo's templating and
the kubelet's `$(NAME)` expansion, object and parameter names within Kubernetes' limits."""

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
# A name the kubelet may resolve in $(NAME): a variable of the container (Kubernetes' classic
# rule for their names) or of a Service (upper-case letters, digits and _).
_KUBELET_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


def argo_text(text: str) -> str:
    """Text safe from Argo's templating: base64 behind a prefix when it holds "{{", or a
    character Argo's substitution would escape into invalid JSON (Go's strconv.Quote writes
    backslash-a, -v, -xNN and -UNNNNNNNN)."""
    if "{{" in text or text.startswith(B64) or not (text.isprintable() or _printable_lines(text)):
        return B64 + base64.b64encode(text.encode("utf-8")).decode("ascii")
    return text


def kubelet_text(text: str) -> str:
    """Text the kubelet passes on unchanged in a container's command, args or env value.
    It reads `$$` as an escaped `$` and `$(NAME)` as the value of the container's variable NAME
    (kept as written when there is none), scanning from `$(` to the first `)`
    (kubernetes.io/docs/tasks/inject-data-application/define-interdependent-environment-variables).
    So a `$` before `$`, or before `(NAME)` with NAME a name a variable may have, is written `$$`;
    every other `$(...)` the kubelet keeps whole, as written, and so does this."""
    if "$" not in text:
        return text
    out: list[str] = []
    at = 0
    while True:
        i = text.find("$", at)
        if i < 0 or i + 1 >= len(text):
            out.append(text[at:])
            return "".join(out)
        out.append(text[at:i])
        following = text[i + 1]
        close = text.find(")", i + 2) if following == "(" else -1
        if following == "$" or (close >= 0 and _KUBELET_NAME.fullmatch(text, i + 2, close)):
            out.append("$$")  # the next character is read on its own
            at = i + 1
        elif close >= 0:  # $(...) naming no variable: kept whole, nothing inside it expanded
            out.append(text[i:close + 1])
            at = close + 1
        else:  # $x, or $( without a ): kept as written
            out.append(text[i:i + 2])
            at = i + 2


def pod_text(text: str) -> str:
    """Text that reaches a pod's environment or arguments through a template parameter exactly:
    safe from Argo's templating (argo_text), then from the kubelet's expansion (kubelet_text)."""
    return kubelet_text(argo_text(text))


def _printable_lines(text: str) -> bool:
    return text.replace("\n", "").replace("\t", "").isprintable()


def k8s_name(name: str, limit: int) -> str:
    return safe_id(name, max_length=limit)


def comment(text: str) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text)
