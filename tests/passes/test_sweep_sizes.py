"""`pipec check` warns about a sweep too large for any engine from its size alone (a 3001 x 3001
grid used to pass silently), without building its rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.synthetic import generate_grid
from pipec.ir import sweep as sweep_module
from tests.test_output_writes import pipec, write


def test_a_nine_million_grid_is_pointed_out_by_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_rows(*args: object, **kwargs: object) -> None:
        raise AssertionError("check built a row of the grid")

    write(tmp_path / "valohai.yaml", generate_grid((3001, 3001, 1)))
    monkeypatch.setattr(sweep_module, "sweep_row", no_rows)
    result = pipec("check", "valohai.yaml", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "warning: 'grid' runs 9,006,001 executions; engines refuse or struggle with more than 10,000" in result.stdout
    assert pipec("check", "--strict", "valohai.yaml", cwd=tmp_path).exit_code == 1


def test_a_grid_of_ten_thousand_passes_quietly(tmp_path: Path) -> None:
    write(tmp_path / "valohai.yaml", generate_grid((100, 100, 1)))
    result = pipec("check", "valohai.yaml", cwd=tmp_path)
    assert result.exit_code == 0 and "executions" not in result.stdout
