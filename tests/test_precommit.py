"""The repository as a pre-commit hook repository (.pre-commit-hooks.yaml), run by the real
pre-commit in throw-away git repositories.

pre-commit installs pipec from the hook repository into an environment of its own (pip, with
pipec's dependencies from PyPI: about 20 s each time). The hook repository is a commit of this
checkout's work tree as it is (tracked and untracked files, as `git ls-files` lists them), made
in a temporary repository: pre-commit reads a repository's commits, and `try-repo` on a work
tree with changes takes only the tracked files, not new ones.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT

pytestmark = pytest.mark.e2e

GIT_ENV = {"GIT_AUTHOR_NAME": "pipec tests", "GIT_AUTHOR_EMAIL": "tests@pipec.invalid",
           "GIT_COMMITTER_NAME": "pipec tests", "GIT_COMMITTER_EMAIL": "tests@pipec.invalid",
           "GIT_CONFIG_NOSYSTEM": "1"}

INVALID_VALOHAI = """\
- step:
    name: train
    image: python:3.12
    comand: python train.py
"""
VALID_OSMO = """\
workflow:
  name: serve
  tasks:
  - name: hello
    image: ubuntu:24.04
    command: [echo]
    args: [hello]
"""
VALID_RUNNABLE = """\
dag:
  start_at: hello
  steps:
    hello:
      type: task
      command_type: shell
      command: echo hello
      next: success
    success:
      type: success
    fail:
      type: fail
"""
# Not a pipeline file by the hook's default `files:` pattern; broken YAML, so checking it would fail.
OTHER_YAML = "settings: [unclosed\n"
COMPILE_TABLE = """\
[compile]
inputs = ["pipelines/*.osmo.yaml"]
targets = ["argo"]
output = "deploy"
"""


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    out = subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args], cwd=cwd,
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout


def repository(path: Path, files: dict[str, str]) -> Path:
    """A git repository at `path` holding `files`, all committed."""
    path.mkdir(parents=True)
    git(path, "init", "-q")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    commit(path)
    return path


def commit(path: Path) -> None:
    git(path, "add", "-A")
    git(path, "commit", "-q", "--allow-empty", "-m", "files")


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's work tree, committed in a repository of its own."""
    if not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout (git ls-files lists what a commit would hold)")
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    snapshot = tmp_path_factory.mktemp("hooks") / "pipec"
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():  # a deleted tracked file is listed too
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    assert (snapshot / ".pre-commit-hooks.yaml").is_file()
    git(snapshot.parent, "init", "-q", snapshot.name)
    commit(snapshot)
    return snapshot


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def pre_commit(cwd: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    env.pop("PRE_COMMIT", None)
    return subprocess.run([sys.executable, "-m", "pre_commit", *args, "--color", "never"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def test_the_hook_manifest_is_valid() -> None:
    manifest = str(ROOT / ".pre-commit-hooks.yaml")
    out = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", manifest], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_check_hook_fails_on_an_invalid_pipeline_file(tmp_path: Path, hooks_repo: Path, pre_commit_home: Path) -> None:
    user = repository(tmp_path / "user", {"valohai.yaml": INVALID_VALOHAI, "pipelines/serve.osmo.yaml": VALID_OSMO})
    out = pre_commit(user, pre_commit_home, "try-repo", str(hooks_repo), "pipec-check", "--all-files")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "valohai.yaml:4:5: error: unknown key 'comand'" in out.stdout
    assert "did you mean 'command'?" in out.stdout
    assert "serve.osmo.yaml" not in out.stdout  # checked, and clean
    assert "2 file(s) checked: 2 error(s)" in out.stdout


def test_check_hook_passes_valid_files_and_skips_other_yaml(tmp_path: Path, hooks_repo: Path,
                                                            pre_commit_home: Path) -> None:
    # pipelines/params.yaml is named like a pipeline file (a folder named pipelines) but holds
    # none: pipec check notes that and passes it.
    user = repository(tmp_path / "user", {"pipelines/serve.osmo.yaml": VALID_OSMO, "pipelines/params.yaml": "lr: 0.1\n",
                                          "flows/hello.runnable.yml": VALID_RUNNABLE, "settings.yaml": OTHER_YAML})
    out = pre_commit(user, pre_commit_home, "try-repo", str(hooks_repo), "pipec-check", "--all-files", "--verbose")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^pipec check\.+Passed$", out.stdout, re.MULTILINE), out.stdout
    assert "pipelines/params.yaml" in out.stdout and "not a pipeline file" in out.stdout
    assert "ok: 2 files checked" in out.stdout  # serve.osmo.yaml and hello.runnable.yml; not settings.yaml


def test_compile_check_hook_fails_on_stale_manifests_and_passes_on_fresh_ones(
        tmp_path: Path, hooks_repo: Path, pre_commit_home: Path) -> None:
    # The configuration a user writes (README), run with `pre-commit run`: the environment
    # pre-commit installs is kept in PRE_COMMIT_HOME between the runs.
    rev = git(hooks_repo, "rev-parse", "HEAD").strip()
    config = f"repos:\n- repo: {hooks_repo}\n  rev: {rev}\n  hooks:\n  - id: pipec-compile-check\n"
    user = repository(tmp_path / "user", {".pre-commit-config.yaml": config, "pipec.toml": COMPILE_TABLE,
                                          "pipelines/serve.osmo.yaml": VALID_OSMO})
    pipec = [sys.executable, "-c", "from pipec.cli import main; main(prog_name='pipec')"]
    subprocess.run([*pipec, "compile", "-q"], cwd=user, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT / "compiler")})
    assert (user / "deploy" / "argo" / "serve.yaml").is_file()
    commit(user)

    fresh = pre_commit(user, pre_commit_home, "run", "--all-files")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "pipec compile --check" in fresh.stdout and "Passed" in fresh.stdout

    (user / "pipelines" / "serve.osmo.yaml").write_text(VALID_OSMO.replace("ubuntu:24.04", "ubuntu:25.04"),
                                                         encoding="utf-8")
    (user / "pipelines" / "extra.osmo.yaml").write_text(VALID_OSMO.replace("name: serve", "name: extra"),
                                                         encoding="utf-8")
    commit(user)
    stale = pre_commit(user, pre_commit_home, "run", "--all-files")
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "deploy/argo/serve.yaml: stale" in stale.stdout
    assert "deploy/argo/extra.yaml: missing" in stale.stdout
