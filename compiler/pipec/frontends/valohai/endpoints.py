"""Endpoints as servers (`ir.Endpoint`): what a deployment node deploys when the target runs
its endpoints itself (Argo without a [deploy] command).

Valohai's meaning is kept: the endpoint's image runs `server-command`, or, for `wsgi:`, a
Gunicorn server Valohai sets up itself ("If you use the wsgi: module.app configuration ...
we will automatically set up a Gunicorn WSGI server", docs.valohai.com, valohai-yaml/endpoint):
here `python3 -m gunicorn`, installed with pip when the image lacks it. The port defaults to
8000, and files sit at their `path` relative to the working directory (the code's directory).
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from typing import Any

from pipec import ir
from pipec.errors import Diagnostics
from pipec.frontends.valohai.model import Config, Item, listify

DEFAULT_PORT = 8000


def wsgi_command(app: str, port: int) -> str:
    """Gunicorn serving `app` ("module" or "module:callable") on every address at `port`."""
    return ("python3 -m gunicorn --version > /dev/null 2>&1 || python3 -m pip install --quiet gunicorn\n"
            f"exec python3 -m gunicorn --bind 0.0.0.0:{port} {shlex.quote(app)}")


def server(cfg: Config, ep: Item, resources: ir.Resources, diags: Diagnostics) -> ir.Endpoint | None:
    """The endpoint as a server, or None when it cannot be one (reported)."""
    data, doc = ep.data, cfg.doc
    port = data.get("port", DEFAULT_PORT)
    if port != int(port):
        diags.error(f"endpoint '{ep.name}': port {port} is not a whole number", doc.locate(ep.path + ("port",)))
        return None
    port = int(port)
    if data.get("server-command") is not None:
        command = "\n".join(str(line) for line in listify(data["server-command"]))
    else:
        command = wsgi_command(str(data["wsgi"]), port)
    storage = (data.get("resources") or {}).get("ephemeral-storage") or {}
    return ir.Endpoint(
        name=ep.name, image=str(data["image"]), command=command, port=port,
        resources=replace(resources, storage_mb=storage.get("min")), storage_limit_mb=storage.get("max"),
        files=tuple((str(f["name"]), str(f["path"])) for f in data.get("files") or []),
        node_selector=_node_selector(data.get("node-selector")),
        tolerations=tuple(_toleration(t) for t in data.get("tolerations") or []),
        location=doc.locate(ep.path + ("name",)),
    )


def _node_selector(text: Any) -> tuple[tuple[str, str], ...]:
    """`accelerator=t4` (several joined by commas, as in a label selector) as (label, value)s."""
    pairs = []
    for item in str(text or "").split(","):
        if item.strip():
            key, _, value = item.partition("=")
            pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def _toleration(t: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    # Valohai's toleration keys are Kubernetes' own.
    return tuple((k, str(t[k])) for k in ("key", "operator", "value", "effect") if t.get(k) is not None)
