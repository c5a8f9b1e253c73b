"""runnable itself (0.50, in the test extra) as the oracle for what a valid pipeline is: its own
YAML loading and graph validation agree with `pipec check` on every example, every file of the
public corpus and a table of broken pipelines (each graph rule, inside branches and anchors too).

Where they may not agree, on purpose: duplicate YAML keys (runnable refuses the file, pipec
warns: YAML keeps the last), and keys YAML reads as numbers or booleans (pipec keeps their text)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipec.cli import main
from tests.frontends.runnable.oracle import runnable_verdicts
from tests.paths import ROOT, SHARED_CORPUS

EXAMPLES = sorted(p for p in (ROOT / "examples" / "runnable").glob("*.yaml") if p.name != "params.yaml")
CORPUS = sorted((SHARED_CORPUS / "runnable").rglob("*.yaml")) if (SHARED_CORPUS / "runnable").is_dir() else []

STEP = "{type: task, command: m.f, next: success}"
BROKEN = {
    "next to a missing step": "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: nowhere}\n",
    "on_failure to a missing step": "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: success, on_failure: x}\n",
    "start_at missing": "dag:\n  steps:\n    a: {type: stub, next: success}\n",
    "start_at not a step": "dag:\n  start_at: zzz\n  steps:\n    a: {type: stub, next: success}\n",
    "a cycle": "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: b}\n    b: {type: stub, next: a}\n",
    "a step that loops to itself": "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: a}\n",
    "a step name with a dot": "dag:\n  start_at: a.b\n  steps:\n    a.b: {type: stub, next: success}\n",
    "a step name with a percent sign": "dag:\n  start_at: a%b\n  steps:\n    a%b: {type: stub, next: success}\n",
    "no type": "dag:\n  start_at: a\n  steps:\n    a: {command: m.f, next: success}\n",
    "an unknown type": "dag:\n  start_at: a\n  steps:\n    a: {type: bogus, next: success}\n",
    "a task without next": "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: m.f}\n",
    "a misspelled task key": "dag:\n  start_at: a\n  steps:\n    a: {type: task, comand: m.f, next: success}\n",
    "a shell task without command": "dag:\n  start_at: a\n  steps:\n    a: {type: task, command_type: shell, next: success}\n",
    "a missing step inside a parallel branch": textwrap.dedent("""\
        dag:
          start_at: p
          steps:
            p:
              type: parallel
              next: success
              branches:
                one: {start_at: a, steps: {a: {type: stub, next: gone}}}
        """),
    "a cycle inside an anchored branch": textwrap.dedent(f"""\
        b: &b
          start_at: x
          steps:
            x: {{type: stub, next: y}}
            y: {{type: stub, next: x}}
        dag:
          start_at: p
          steps:
            p: {{type: parallel, next: success, branches: {{one: *b, two: *b}}}}
            q: {STEP}
        """),
    "a map without iterate_as": textwrap.dedent("""\
        dag:
          start_at: m
          steps:
            m:
              type: map
              iterate_on: xs
              next: success
              branch: {start_at: a, steps: {a: {type: stub, next: success}}}
        """),
    "a conditional parameter that is not alphanumeric": textwrap.dedent("""\
        dag:
          start_at: c
          steps:
            c:
              type: conditional
              parameter: a-b
              next: success
              branches: {x: {start_at: a, steps: {a: {type: stub, next: success}}}}
        """),
}


def pipec_accepts(path: Path) -> tuple[bool, str]:
    result = CliRunner().invoke(main, ["check", str(path), "--dialect", "runnable"])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    return result.exit_code == 0, result.output


@pytest.mark.parametrize("group", ["examples", "corpus"])
def test_runnable_accepts_every_file_pipec_accepts(group: str) -> None:
    paths = EXAMPLES if group == "examples" else CORPUS
    if not paths:
        pytest.skip("the shared corpus is not beside the checkout")
    for path, (ok, message) in zip(paths, runnable_verdicts(paths)):
        accepted, output = pipec_accepts(path)
        assert accepted, output
        assert ok, f"runnable refuses {path}: {message}"


def test_both_refuse_every_broken_pipeline(tmp_path: Path) -> None:
    paths = []
    for n, text in enumerate(BROKEN.values()):
        path = tmp_path / f"broken-{n}.yaml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    disagree = {}
    for (name, _), path, (ok, message) in zip(BROKEN.items(), paths, runnable_verdicts(paths)):
        accepted, output = pipec_accepts(path)
        if ok or accepted:
            disagree[name] = (f"runnable {'accepts' if ok else 'refuses'}", f"pipec {'accepts' if accepted else 'refuses'}",
                              message.splitlines()[:1], output.splitlines()[:1])
        else:
            assert ": error: " in output, output
    assert disagree == {}
