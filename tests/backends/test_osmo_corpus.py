"""Every OSMO workflow of the public corpus that OSMO itself accepts compiles on every target
(a refusal counts as a failure); the files OSMO refuses are listed with the reason in
.ci/corpus-known.txt and must fail `pipec check` with located errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipec.cli import main
from tests.paths import ROOT, SHARED_CORPUS

CORPUS = SHARED_CORPUS / "osmo" / "valid"
KNOWN = dict(line.split("\t")[:2] for line in (ROOT / ".ci" / "corpus-known.txt").read_text().splitlines()
             if line and not line.startswith("#"))  # file -> the stage that refuses it
FILES = sorted(CORPUS.glob("*.yaml")) if CORPUS.is_dir() else []
LOCATED = re.compile(r"^\S.*:\d+:\d+: error: ", re.MULTILINE)

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not beside the checkout")


def accepted() -> list[Path]:
    return [p for p in FILES if f"osmo/valid/{p.name}" not in KNOWN]


@pytest.mark.parametrize("target", ["argo", "gha", "slurm"])
def test_every_accepted_corpus_workflow_compiles(tmp_path: Path, target: str) -> None:
    refused = {}
    for n, path in enumerate(accepted()):
        result = CliRunner().invoke(main, ["compile", str(path), "--target", target, "-o", str(tmp_path / str(n))])
        if result.exit_code != 0:
            refused[path.name] = result.output.strip().splitlines()[:2]
    assert refused == {}


def test_the_known_refusals_fail_with_located_errors(tmp_path: Path) -> None:
    for path in FILES:
        stage = KNOWN.get(f"osmo/valid/{path.name}")
        if stage is None:
            continue
        result = CliRunner().invoke(main, ["check", str(path)])
        assert result.exit_code == (1 if stage == "check" else 0), (path.name, result.output)
        if stage == "compile":
            result = CliRunner().invoke(main, ["compile", str(path), "--target", "slurm", "-o", str(tmp_path)])
            assert result.exit_code == 1, (path.name, result.output)
        assert LOCATED.search(result.output), (path.name, result.output)
