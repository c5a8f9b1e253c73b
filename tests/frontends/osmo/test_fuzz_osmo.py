"""Bad OSMO input never crashes: mutated examples, mutated templates and random text all end
in located diagnostics (or a usage error), never an exception; what check accepts compiles
(or is refused with located errors) on every target. Scaled by PIPEC_FUZZ_SCALE like
tests/test_fuzz.py."""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipec.driver import Request, UsageError, load_workflows
from pipec.errors import Diagnostics
from tests.paths import ROOT

EXAMPLES = sorted((ROOT / "examples" / "osmo").glob("*.yaml"))
PLAIN = {p.name: yaml.safe_load(p.read_text()) for p in EXAMPLES if "{%" not in p.read_text()}
TEXTS = {p.name: p.read_text() for p in EXAMPLES}
SCALE = float(os.environ.get("PIPEC_FUZZ_SCALE", "1"))
TARGETS = ("argo", "gha", "slurm")
WORKDIR = Path(tempfile.mkdtemp(prefix="pipec-osmo-fuzz-"))
FUZZ = settings(max_examples=max(1, int(60 * SCALE)), deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))
ODD_VALUES = [None, True, 0, -1, 2**70, 1.5, "", " ", "{{output}}", "{{input:9}}", "{{host:nobody}}", "{{ output }}",
              "{{workflow_id}}", "{% for %}", "{{ undefined }}", "a\x00b", "é\u202e", "$(id)`id`", "'\"\\",
              [], {}, ["a", 1], {"k": "v"}, "/osmo/x", "../../etc/passwd", "10h5m", "2GB", "RESTART", "(?=x)"]


def run(text: str, target: str | None = None) -> list[str]:
    path = WORKDIR / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        result = load_workflows(Request(str(path), target=target))
    except UsageError as exc:
        assert str(exc).strip()
        return []
    for d in result.diagnostics:
        assert d.location.line >= 1 and d.location.col >= 1 and d.message.strip(), d
        d.format_text()
    if target is not None and result.workflows:
        from pipec.backends import load

        diags = Diagnostics(list(result.diagnostics))
        load(target).compile_workflows(result.workflows, result.config, diags)
        for d in diags.items:
            assert d.location.line >= 1, d
    return [d.severity.value for d in result.diagnostics]


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            found += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += paths(v, prefix + (i,))
    return found


@st.composite
def mutated(draw: Any) -> str:
    data = copy.deepcopy(PLAIN[draw(st.sampled_from(sorted(PLAIN)))])
    for _ in range(draw(st.integers(1, 4))):
        places = paths(data)[1:]
        if not places:
            break
        where = draw(st.sampled_from(places))
        parent = data
        for key in where[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["value", "delete", "duplicate"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[where[-1]]
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[where[-1]]))
        else:
            parent[where[-1]] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@FUZZ
@given(mutated())
def test_mutated_examples_never_crash(text: str) -> None:
    severities = run(text)
    if "error" not in severities:
        for target in TARGETS:
            run(text, target)


@FUZZ
@given(st.sampled_from(sorted(TEXTS)), st.data())
def test_mutated_templates_never_crash(name: str, data: Any) -> None:
    lines = TEXTS[name].splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines)))
        piece = data.draw(st.sampled_from(["{% for i in range(2) %}\n", "{% endfor %}\n", "{{ x }}\n", "{% if %}\n",
                                           "  - name: {{ 1/0 }}\n", "{{ ''.__class__ }}\n", "default-values: [1]\n",
                                           "version: 3\n", "workflow:\n", "\t- x\n", "{#\n", "  {% raw %}\n"]))
        lines.insert(index, piece)
    run("".join(lines))


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("workflow:name- {}%#\n\t'\"[]x0")), max_size=200))
def test_random_text_never_crashes(text: str) -> None:
    run("workflow:\n" + text)
