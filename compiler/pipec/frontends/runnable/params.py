"""runnable's initial parameters: the `-p params.yaml` file (`pipec --params FILE`), then the
`RUNNABLE_PRM_<name>` environment variables over it, as runnable reads them
(`runnable/parameters.py::get_user_set_parameters`: the name lower-cased, the value JSON when
it parses as JSON, else the text)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any, Mapping

from pipec.errors import Diagnostics, Location
from pipec.frontends import UsageError
from pipec.loader import Document, load_bytes

ENV_PREFIX = "RUNNABLE_PRM_"


@dataclass(frozen=True)
class Initial:
    value: Any
    location: Location | None  # where it was set (the parameters file), None: the environment
    source: str  # "file" or "environment"


def load(file: str | None, diags: Diagnostics, environ: Mapping[str, str] | None = None) -> dict[str, Initial]:
    """The initial parameters by name, in the order they were set."""
    found: dict[str, Initial] = {}
    if file:
        try:
            raw = FsPath(file).read_bytes()
        except OSError as exc:
            raise UsageError(f"--params {file}: {exc.strerror or exc}") from None
        doc: Document = load_bytes(raw, file, diags)
        if doc.data is None:
            diags.warning("the parameters file is empty", doc.locate(()))
        elif not isinstance(doc.data, dict):
            diags.error("a parameters file is a mapping of parameter names to values", doc.locate(()),
                        "write one 'name: value' line per parameter, as for runnable's -p")
        else:
            for name, value in doc.data.items():
                if not str(name).isidentifier():
                    diags.error(f"parameter name '{name}' is not a Python identifier; no task could receive it",
                                doc.locate_key((name,)))
                    continue
                found[str(name)] = Initial(value, doc.locate((name,)), "file")
    env = os.environ if environ is None else environ
    for var in sorted(env):
        if var.startswith(ENV_PREFIX) and len(var) > len(ENV_PREFIX):
            text = env[var]
            try:
                value = json.loads(text)
            except ValueError:
                value = text
            found[var[len(ENV_PREFIX):].lower()] = Initial(value, None, "environment")
    return found
