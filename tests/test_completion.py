"""Shell completion (click's mechanism, README "Continuous integration and editors"):
`_PIPEC_COMPLETE=<shell>_source pipec` prints a script; in bash, that script completes
commands and option values."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT


@pytest.fixture
def pipec_on_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has a `pipec` running this checkout (as the installed script does)."""
    script = tmp_path / "bin" / "pipec"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\nexec '{sys.executable}' -c 'from pipec.cli import main; main(prog_name=\"pipec\")'"
                      ' "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{script.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT / "compiler")}


def source(shell: str, env: dict[str, str]) -> str:
    out = subprocess.run(["pipec"], env={**env, "_PIPEC_COMPLETE": f"{shell}_source"}, capture_output=True,
                         text=True, check=True)
    return out.stdout


def test_each_shell_has_a_script(pipec_on_path: dict[str, str]) -> None:
    assert "complete -o nosort -F _pipec_completion pipec" in source("bash", pipec_on_path)
    assert source("zsh", pipec_on_path).startswith("#compdef pipec\n")
    assert "complete --no-files --command pipec" in source("fish", pipec_on_path)


@pytest.mark.parametrize(("words", "index", "expected"), [
    ("pipec sch", 1, ["schema"]),
    ("pipec schema --dialect o", 3, ["osmo"]),
    ("pipec schema --dialect ''", 3, ["config", "osmo", "runnable", "valohai"]),
    ("pipec check --format g", 3, ["github"]),
])
def test_bash_completes_commands_and_choices(pipec_on_path: dict[str, str], words: str, index: int,
                                             expected: list[str]) -> None:
    bash = shutil.which("bash", path=pipec_on_path["PATH"])
    assert bash is not None
    run = (f'eval "$(_PIPEC_COMPLETE=bash_source pipec)"\n'
           f"COMP_WORDS=({words}); COMP_CWORD={index}\n"
           "_pipec_completion pipec\n"
           "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    out = subprocess.run([bash, "-c", run], env=pipec_on_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == expected
