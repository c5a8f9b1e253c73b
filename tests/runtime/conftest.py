"""Fixtures of the runtime unit tests: the runtime as each target ships it (or one part), and a
way to run a few lines of shell under it.

`sh` is the POSIX shell the runtime targets (dash on Debian); `bash` is what Slurm's batch
scripts source it from. Each snippet runs with the options the targets use: `set -eu` under
sh (Argo's boot line, GitHub Actions' `shell: sh`), `set -euo pipefail` under bash (the Slurm
batch scripts). Output is compared as bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipec.backends.runtime import ORDER, part_text, runtime_script

SHELLS = {"sh": shutil.which("sh") or "/bin/sh", "bash": shutil.which("bash")}
OPTIONS = {"sh": "set -eu", "bash": "set -euo pipefail"}
TARGETS = ("argo", "gha", "slurm")


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without pipec's and the engines' variables, in the C
    locale (sort order), with the virtualenv's python3 first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIPEC_", "VH_", "GITHUB_", "RUNNER_", "SLURM_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "/usr/bin:/bin")])
    env["LC_ALL"] = "C"
    env.update(extra)
    return env


@dataclass
class Shell:
    """Runs snippets under one shell with the runtime sourced. `source`: a target ("argo",
    "gha", "slurm": runtime_script) or a part ("core.sh", ...: that file alone)."""

    name: str
    scripts: dict[str, Path]
    env: dict[str, str] = field(default_factory=clean_env)

    def run(self, code: str, *args: str | bytes, source: str = "gha", env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
        script = f'{OPTIONS[self.name]}\n. "$PIPEC_TEST_RUNTIME" || exit 99\n{code}\n'
        full_env = {**self.env, **(env or {}), "PIPEC_TEST_RUNTIME": str(self.scripts[source])}
        result = subprocess.run([SHELLS[self.name], "-c", script, "runtime-test", *args], env=full_env, cwd=cwd,
                                capture_output=True, timeout=60, check=False)
        return result

    def out(self, code: str, *args: str | bytes, **kwargs) -> bytes:
        """stdout of a snippet that must succeed with nothing on stderr."""
        result = self.run(code, *args, **kwargs)
        assert (result.returncode, result.stderr) == (0, b""), (result.returncode, result.stderr)
        return result.stdout


@pytest.fixture(scope="session")
def runtime_scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every target's joined runtime and every part, as files to source."""
    root = tmp_path_factory.mktemp("runtime")
    scripts = {}
    for name in TARGETS:
        scripts[name] = root / f"{name}.sh"
        scripts[name].write_text(runtime_script(name), encoding="utf-8")
    for name in ORDER:
        scripts[f"{name}.sh"] = root / f"part-{name}.sh"
        scripts[f"{name}.sh"].write_text(part_text(name), encoding="utf-8")
    return scripts


@pytest.fixture(params=["sh", "bash"])
def shell(request: pytest.FixtureRequest, runtime_scripts: dict[str, Path]) -> Shell:
    """Each test using it runs under sh and under bash."""
    if SHELLS[request.param] is None:
        pytest.skip(f"{request.param} is not installed")
    return Shell(request.param, runtime_scripts)


@pytest.fixture
def dash(runtime_scripts: dict[str, Path]) -> Shell:
    """sh only, for behaviour that does not depend on the shell (one run is enough)."""
    return Shell("sh", runtime_scripts)
