"""Every runnable pipeline of the public corpus compiles on every target (a refusal counts as a
failure): runnable accepts all of them (tests/frontends/runnable/test_oracle.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipec.cli import main
from tests.paths import SHARED_CORPUS

CORPUS = SHARED_CORPUS / "runnable" / "valid"
FILES = sorted(CORPUS.glob("*.yaml")) if CORPUS.is_dir() else []

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not beside the checkout")


@pytest.mark.parametrize("target", ["argo", "gha", "slurm"])
def test_every_corpus_pipeline_compiles(tmp_path: Path, target: str) -> None:
    refused = {}
    for n, path in enumerate(FILES):
        result = CliRunner().invoke(main, ["compile", str(path), "--target", target, "-o", str(tmp_path / str(n))])
        if result.exit_code != 0:
            refused[path.name] = result.output.strip().splitlines()[:2]
    assert refused == {}
    assert len(FILES) >= 20
