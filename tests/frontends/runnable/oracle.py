"""AstraZeneca runnable as an oracle: does runnable itself accept a pipeline YAML?

`runnable execute file.yaml` builds its graph in runnable/context.py::
get_pipeline_spec_from_yaml: utils.load_yaml (ruamel, safe) -> pipeline_config["dag"] ->
graph.create_graph, which creates every node (stevedore plugin + pydantic model; composite
nodes build their sub-graphs the same way) and ends with Graph.check_graph (missing next /
on_failure targets, cycles, start_at, one success and one fail node). The oracle calls that
same function (runnable 0.50) and nothing after it, so no step is executed.

Why a subprocess, with a temporary directory as cwd:
* importing runnable prints a banner on stdout, sets PLOOMBER_STATS_ENABLED in os.environ and
  configures telemetry when OTEL/logfire variables are set; its graph checks log errors and
  tracebacks through the `runnable` logger. None of that should reach the test process.
* stevedore (runnable's plugin loader) writes an entry-point cache under XDG_CACHE_HOME;
  it is pointed at the temporary directory, so nothing is written into the repository or $HOME.
* runnable installs a top-level package named `extensions`; with -I and a scratch cwd no
  directory of the checkout can shadow it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Run by the child: prints, as JSON on stdout, [accepted, message] for each path in argv.
_CHILD = r"""
import json, sys
out = sys.stdout
sys.stdout = sys.stderr  # runnable prints a banner when imported
from runnable.context import get_pipeline_spec_from_yaml

def describe(exc):
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return "\ncaused by: ".join(parts)

verdicts = []
for path in sys.argv[1:]:
    try:
        get_pipeline_spec_from_yaml(path)
    except Exception as exc:
        verdicts.append([False, describe(exc)])
    else:
        verdicts.append([True, ""])
json.dump(verdicts, out)
"""

# Variables that make runnable's import configure telemetry (and possibly send it).
_TELEMETRY_ENV = ("RUNNABLE_TELEMETRY_CONSOLE", "OTEL_EXPORTER_OTLP_ENDPOINT", "LOGFIRE_TOKEN")


def runnable_verdicts(paths: list[Path]) -> list[tuple[bool, str]]:
    """runnable_verdict for several files in one subprocess (importing runnable takes ~0.5 s)."""
    with tempfile.TemporaryDirectory(prefix="runnable-oracle-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in _TELEMETRY_ENV}
        env.update(XDG_CACHE_HOME=tmp, PLOOMBER_STATS_ENABLED="false")
        proc = subprocess.run(
            [sys.executable, "-I", "-c", _CHILD, *(str(Path(p).resolve()) for p in paths)],
            cwd=tmp, env=env, capture_output=True, text=True, timeout=300,
        )
    if proc.returncode != 0:  # runnable missing or broken: not a verdict on the files
        raise RuntimeError(f"runnable oracle failed (exit {proc.returncode}):\n{proc.stderr}")
    return [(accepted, message) for accepted, message in json.loads(proc.stdout)]


def runnable_verdict(path: Path) -> tuple[bool, str]:
    """(True, "") if runnable 0.50 loads `path` and builds and validates its graph, else
    (False, message): the exception's "Type: text", then each cause on a "caused by:" line
    (runnable's create_node wraps node errors, e.g. pydantic's, in a generic message)."""
    return runnable_verdicts([path])[0]
