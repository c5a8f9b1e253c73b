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


def _not_json(value: Any, path: tuple, odd: set) -> tuple[tuple, str] | None:
    """Where the value holds something JSON cannot carry (a YAML date, an infinite or huge
    number), and what it is; None when it is all JSON."""
    if path in odd:
        return path, f"the number {value!r}"
    if isinstance(value, dict):
        for k, v in value.items():
            found = _not_json(v, path + (k,), odd)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _not_json(v, path + (i,), odd)
            if found is not None:
                return found
    elif not (value is None or isinstance(value, (str, int, float, bool))):
        return path, f"the {type(value).__name__} {value}"
    return None


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
            diags.warning("the parameters file is empty", doc.locate(()), code="PC308")
        elif not isinstance(doc.data, dict):
            diags.error("a parameters file is a mapping of parameter names to values", doc.locate(()),
                        "write one 'name: value' line per parameter, as for runnable's -p")
        else:
            odd = set(doc.odd_numbers)
            for name, value in doc.data.items():
                if not str(name).isidentifier():
                    diags.error(f"parameter name '{name}' is not a Python identifier; no task could receive it",
                                doc.locate_key((name,)))
                    continue
                bad = _not_json(value, (name,), odd)
                if bad is not None:
                    diags.error(f"parameter '{name}': {bad[1]} is not a JSON value, so no task could receive it",
                                doc.locate(bad[0]), "put it in quotes to pass it as text")
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
