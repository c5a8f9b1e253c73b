"""Golden files of the OSMO and runnable examples: golden/<dialect>/<target>/<example>/ holds
exactly what

    pipec compile examples/<dialect>/<example>.yaml [options] --target <target> -o golden/<dialect>/<target>/<example>

writes (runnable examples with `--params examples/runnable/params.yaml`; the runtime copy and
pipec's manifest of generated files left out: tests/runtime and tests/test_output_writes.py
cover them). To accept a deliberate change of the output:

    PIPEC_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/backends/test_dialect_golden.py
    git diff golden/osmo golden/runnable
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipec.cli import main
from pipec.output import MANIFEST
from tests.paths import ROOT

UPDATE = os.environ.get("PIPEC_UPDATE_GOLDEN") == "1"
TARGETS = ("argo", "gha", "slurm")
# dialect -> the options its examples compile with
DIALECTS = {"osmo": (), "runnable": ("--params", "examples/runnable/params.yaml")}


def examples(dialect: str) -> list[Path]:
    return sorted(p for p in (ROOT / "examples" / dialect).glob("*.yaml") if p.name != "params.yaml")


CASES = [(d, e) for d in DIALECTS for e in examples(d)]


def files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in ("pipec-runtime.sh", MANIFEST)}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dialect, example", CASES, ids=[f"{d}-{e.stem}" for d, e in CASES])
def test_golden(dialect: str, example: Path, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the files record the source as given: the same on every machine
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", str(example.relative_to(ROOT)), *DIALECTS[dialect], "--target",
                                       target, "-o", str(out) + ("/" if target == "argo" else "")])
    assert result.exit_code == 0, result.output
    # The examples compile without warnings (a note names the examples' pipec.toml).
    assert [line for line in result.output.splitlines() if ": warning: " in line] == []
    golden = ROOT / "golden" / dialect / target / example.stem
    got = files(out)
    if UPDATE:
        shutil.rmtree(golden, ignore_errors=True)
        for rel, text in got.items():
            (golden / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden / rel).write_text(text, encoding="utf-8")
    assert golden.is_dir(), f"no golden files: run with PIPEC_UPDATE_GOLDEN=1 to create {golden}"
    assert got == files(golden), f"If intended: PIPEC_UPDATE_GOLDEN=1 and review `git diff golden/{dialect}`"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_no_stale_golden_directories(dialect: str) -> None:
    golden = ROOT / "golden" / dialect
    wanted = {(t, e.stem) for t in TARGETS for e in examples(dialect)}
    found = {(t.name, d.name) for t in golden.iterdir() if t.is_dir() for d in t.iterdir()} if golden.is_dir() else set()
    assert found - wanted == set()
