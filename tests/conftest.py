"""Shared fixtures, and the markers that let a run choose what it needs:

    cluster   starts a real Slurm cluster (slurmctld, slurmd, munged) on the machine
    e2e       runs generated output end to end (real processes in the Argo or GitHub
              Actions emulator, or on the cluster)
    tools     judges output with external tools (actionlint, zizmor, check-jsonschema,
              shellcheck)
    fuzz      property and fuzz tests that try thousands of generated inputs

`make test-fast` runs what has none of them. Marks are given here from what a test uses
(its fixtures, its module), so no test can forget them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The harness fixtures, registered once for every test module: gha_tools (the GitHub
# Actions judges) and slurm_cluster (a real cluster for the session).
pytest_plugins = ["tests.harness.gha_check", "tests.harness.slurm_cluster"]

_TOOL_FIXTURES = {"gha_tools"}
_CLUSTER_FIXTURES = {"slurm_cluster", "cluster"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        module = Path(str(item.fspath)).name
        if fixtures & _CLUSTER_FIXTURES:
            item.add_marker(pytest.mark.cluster)
            item.add_marker(pytest.mark.e2e)
        if module == "test_e2e.py":
            item.add_marker(pytest.mark.e2e)
        if module == "test_fuzz.py":
            item.add_marker(pytest.mark.fuzz)
        if fixtures & _TOOL_FIXTURES or item.get_closest_marker("tools"):
            item.add_marker(pytest.mark.tools)


@pytest.fixture
def write(tmp_path: Path):
    """Write a YAML text to a file and return its path as a string."""

    def _write(text: str, name: str = "valohai.yaml") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return _write
