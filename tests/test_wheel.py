"""The wheel builds, installs into a clean virtual environment (its dependencies from PyPI, as
a user's `pipx install` or `pip install` gets them) and `pipec check` / `compile` work from
it, with the schemas, templates and runtime it carries: nothing read from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.paths import ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(work / "dist"), str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    wheels = list((work / "dist").glob("pipec-*.whl"))
    assert len(wheels) == 1, wheels
    venv.create(work / "env", with_pip=True, clear=True)
    pip = subprocess.run([str(work / "env/bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          str(wheels[0])], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr
    return work / "env/bin/pipec"


def _run(pipec: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(pipec), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_the_installed_wheel_checks_and_compiles(installed: Path, tmp_path: Path) -> None:
    example = ROOT / "examples" / "valohai" / "mnist.valohai.yaml"
    (tmp_path / "valohai.yaml").write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    check = _run(installed, "check", "valohai.yaml", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stderr == "ok: 1 file checked\n"
    for target in ("argo", "gha", "slurm"):
        done = _run(installed, "compile", "valohai.yaml", "--target", target, "-o", target, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "slurm/training-pipeline/pipec-runtime.sh").is_file()
    assert (tmp_path / "gha/.github/workflows/training-pipeline.yml").is_file()
    version = _run(installed, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("pipec, version ")


def test_the_installed_wheel_reads_no_file_of_the_checkout(installed: Path) -> None:
    site = installed.parent.parent / "lib"
    packaged = {p.name for p in site.rglob("pipec/schemas/*.json")}
    assert {"valohai.schema.json", "osmo.schema.json", "runnable.schema.json", "config.schema.json"} <= packaged
    assert list(site.rglob("pipec/templates/runtime/core.sh"))
