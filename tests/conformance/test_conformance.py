"""The runtime contract, checked the same way on every engine: each case of
tests/conformance/cases.py runs on Argo (emulated), GitHub Actions (emulated) and a real Slurm
cluster, and the neutral Outcome each engine adapter gives (tests/conformance/engines.py) must
meet the case's expectations.

Every case is compiled once per engine and all of an engine's selected cases run at once (the
emulators in threads, the Slurm runs submitted together), so the first test of an engine starts
them all and each test then waits for its own run. Tests are ordered case by case, so the three
engines' runs overlap.

A documented limit of an engine (README "Known limits") that makes a case fail there is a
``xfail(strict=True)`` of that one case x engine, with the limit as its reason. A pipec bug is
not marked: its case fails on that engine until the bug is fixed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.cases import CASES, Case
from tests.conformance.engines import ENGINES, ArgoEngine, Engine, GhaEngine, Handle, Outcome, SlurmEngine

pytestmark = pytest.mark.e2e

# (case, engine) -> the documented limit that makes it fail there.
KNOWN_LIMITS: dict[tuple[str, str], str] = {
    ("stop-all-stops-other-branches", "argo"): (
        "README, Argo known limits: without [argo] stop_all = \"stop\" a stop-all failure lets running pods "
        "finish and tasks may still start while others run (Argo's failFast decides once nothing runs, "
        "argo-workflows #5223), so b-next starts after b; the stop hook is not emulated"),
}


# ------------------------------------------------------------------------------ the runs
class Runs:
    """The selected cases' runs on each engine, started on first use: the first test of an
    emulator starts every selected run of both emulators, the first Slurm test every selected
    Slurm run (the cluster is a session fixture, started only when a Slurm test asks for it)."""

    def __init__(self, base: Path, selected: set[tuple[str, str]]):
        self.base = base
        self.selected = selected  # (case name, engine) of the tests this session runs
        self.engines: dict[str, Engine] = {}
        self.handles: dict[tuple[str, str], Handle] = {}

    def _start(self, engine: Engine) -> None:
        self.engines[engine.name] = engine
        for case in CASES:
            if (case.name, engine.name) in self.selected:
                self.handles[(case.name, engine.name)] = engine.start(case)

    def outcome(self, engine: str, case: Case, cluster: Any = None) -> Outcome:
        self.selected.add((case.name, engine))
        if engine == "slurm" and "slurm" not in self.engines:
            self._start(SlurmEngine(self.base / "slurm", cluster))
        if engine in ("argo", "gha") and engine not in self.engines:
            for name, cls in (("argo", ArgoEngine), ("gha", GhaEngine)):
                if any(e == name for _, e in self.selected):
                    self._start(cls(self.base / name, workers=len(CASES)))
        if (case.name, engine) not in self.handles:
            self.handles[(case.name, engine)] = self.engines[engine].start(case)
        return self.handles[(case.name, engine)].result(timeout=case.timeout + 180)

    def close(self) -> None:
        for engine in self.engines.values():
            engine.close()


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    selected = set()
    for item in request.session.items:
        spec = getattr(item, "callspec", None)
        if spec is not None and getattr(item, "module", None) is request.module and "engine" in spec.params:
            selected.add((spec.params["case"].name, spec.params["engine"]))
    r = Runs(tmp_path_factory.mktemp("conformance"), selected)
    try:
        yield r
    finally:
        r.close()


def _params() -> list:
    params = []
    for case in CASES:  # case by case: the first three tests start all three engines
        for engine in ENGINES:
            marks = [pytest.mark.cluster] if engine == "slurm" else []
            reason = KNOWN_LIMITS.get((case.name, engine))
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            params.append(pytest.param(case, engine, marks=marks, id=f"{case.name}-{engine}"))
    return params


@pytest.mark.parametrize(("case", "engine"), _params())
def test_contract(case: Case, engine: str, runs: Runs, request: pytest.FixtureRequest) -> None:
    cluster = request.getfixturevalue("slurm_cluster") if engine == "slurm" else None
    outcome = runs.outcome(engine, case, cluster)
    problems = check(outcome)
    assert not problems, (f"{case.name} on {engine}: {case.about}\n  " + "\n  ".join(problems)
                          + f"\n\n--- what {engine} did ---\n{outcome.details[-12000:]}")


# ---------------------------------------------------------------------------- the checks
def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _subset(want: Any, got: Any) -> bool:
    """Whether got holds want (mappings: every key of want, recursively; else equality)."""
    if isinstance(want, Mapping):
        return isinstance(got, Mapping) and all(k in got and _subset(v, got[k]) for k, v in want.items())
    return want == got


def _show(files: Mapping[str, bytes]) -> str:
    return repr(sorted(files))


def check(outcome: Outcome) -> list[str]:
    """Every way the outcome breaks its case's expectations (empty: none)."""
    case = outcome.case
    problems: list[str] = []
    for job, want in case.jobs.items():
        got = outcome.job_status(job)
        if got != want:
            problems.append(f"job {job}: {got}, expected {want}")
    for e in case.executions:
        where = f"{e.job}#{e.index}"
        view = outcome.execution(e.job, e.index)
        if e.status is not None and view.status != e.status:
            problems.append(f"{where}: {view.status}, expected {e.status}")
        if e.outputs is not None or e.output_files or e.output_json:
            outputs = view.outputs()
            if e.outputs is not None and set(outputs) != set(e.outputs):
                problems.append(f"{where}: published outputs {_show(outputs)}, expected {sorted(e.outputs)}")
            for name, content in e.output_files.items():
                if outputs.get(name) != _bytes(content):
                    problems.append(f"{where}: output {name} is {outputs.get(name)!r}, expected {_bytes(content)!r}")
            for name, value in e.output_json.items():
                got = json.loads(outputs[name]) if name in outputs else None
                if got != value:
                    problems.append(f"{where}: output {name} holds {got!r}, expected {value!r}")
        for slot, want_names in e.inputs.items():
            staged = view.inputs(slot)
            if set(staged) != set(want_names):
                problems.append(f"{where}: input {slot} received {_show(staged)}, expected {sorted(want_names)}")
        for path, content in e.input_files.items():
            slot, _, name = path.partition("/")
            got = view.inputs(slot).get(name)
            if got != _bytes(content):
                problems.append(f"{where}: input file {path} is {got!r}, expected {_bytes(content)!r}")
        if e.parameters is not None and view.parameters() != e.parameters:
            problems.append(f"{where}: parameters.json {view.parameters()!r}, expected {dict(e.parameters)!r}")
        for text in e.log_contains:
            if text not in view.log:
                problems.append(f"{where}: its log does not say {text!r}:\n{view.log[-3000:]}")
    for name, want in case.reports.items():
        got = outcome.report(name)
        if not _subset(want, got):
            problems.append(f"report {name}: {got!r}, expected at least {dict(want)!r}")
    for path in case.absent:
        if Path(path).exists():
            problems.append(f"{path} exists: text was executed")
    return problems
