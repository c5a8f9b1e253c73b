"""Rule codes: every warning (and every error of a family) carries a stable code and name,
shown in every output format; pipec.toml's [lint] table raises warnings to errors or
ignores them, by code or name; errors cannot be changed."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipec import rules
from pipec.cli import main
from pipec.config import Config
from pipec.driver import Request, load_workflows
from pipec.errors import Diagnostic, Diagnostics, Location, Severity, apply_rules, format_diagnostics
from tests.paths import COMPILER_DIR, ROOT

PACKAGE = COMPILER_DIR / "pipec"
GROUPS = {"0": "the input file", "1": "Valohai", "2": "OSMO", "3": "runnable", "4": "configuration", "5": "targets"}

STEP = """\
- step:
    name: train
    image: python:3.12
    command: python train.py
"""
# Two warnings: an unknown item (PC107) and an empty item (PC106).
WARNS = STEP + "- banana: {}\n- {}\n"


def calls(name: str) -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name:
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return found


def code_argument(node: ast.Call) -> str | None:
    for kw in node.keywords:
        if kw.arg == "code" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
    return None


def test_every_warning_names_its_rule() -> None:
    warnings = calls("warning")
    assert len(warnings) >= 58
    missing = [where for where, node in warnings if code_argument(node) is None]
    assert not missing, "warnings without code=: " + ", ".join(missing)
    for where, node in warnings:
        rule = rules.find(str(code_argument(node)))
        assert rule is not None and rule.severity == "warning", where


def test_every_rule_is_used_somewhere() -> None:
    used = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name != "rules.py":
            used.update(re.findall(r'"(PC\d{3})"', path.read_text(encoding="utf-8")))
    assert sorted(set(rules.BY_CODE) - used) == []
    assert sorted(used - set(rules.BY_CODE)) == []


def test_codes_and_names_are_unique_well_formed_and_grouped() -> None:
    assert len(rules.BY_CODE) == len(rules.BY_NAME) == len(rules.RULES)
    for rule in rules.RULES:
        assert re.fullmatch(r"PC\d{3}", rule.code) and rule.code[2] in GROUPS, rule
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name), rule
        assert rule.severity in ("warning", "error") and rule.summary.endswith("."), rule
    assert [r.code for r in rules.RULES] == sorted(r.code for r in rules.RULES)


def test_a_rule_is_given_by_code_or_name_and_an_unknown_one_is_a_bug() -> None:
    diags = Diagnostics()
    diags.warning("w", Location("f", 1, 1), code="edge-to-unknown-parameter")
    diags.warning("w", Location("f", 2, 1), code="PC101")
    assert [d.code for d in diags.items] == ["PC101", "PC101"]
    with pytest.raises(ValueError):
        diags.warning("w", Location("f", 1, 1), code="PC999")


def test_the_code_shows_in_every_format() -> None:
    d = Diagnostic(Severity.WARNING, "message", Location("f.yaml", 3, 4), "hint", "PC101")
    assert format_diagnostics([d], "text") == (
        "f.yaml:3:4: warning: message [PC101 edge-to-unknown-parameter]\n  hint: hint")
    [item] = json.loads(format_diagnostics([d], "json"))
    assert item["code"] == "PC101" and item["rule"] == "edge-to-unknown-parameter"
    assert format_diagnostics([d], "github") == (
        "::warning file=f.yaml,line=3,col=4,title=PC101 edge-to-unknown-parameter::message (hint: hint)")
    plain = Diagnostic(Severity.NOTE, "configuration: x", Location("x", 1, 1))
    assert format_diagnostics([plain], "text") == "x:1:1: note: configuration: x"
    assert "title=" not in format_diagnostics([plain], "github")
    assert json.loads(format_diagnostics([plain], "json"))[0]["code"] is None


def test_the_loader_and_the_schema_give_errors_their_family(tmp_path: Path) -> None:
    cases = {
        "a: [1\n": "PC001",
        "a: !!python/object x\n": "PC004",
        STEP + "    imgae: x\n": "PC020",
        "- step:\n    name: train\n    command: x\n": "PC021",
        "- step:\n    name: [1]\n    image: x\n    command: x\n": "PC022",
    }
    for text, code in cases.items():
        (tmp_path / "valohai.yaml").write_text(text)
        result = load_workflows(Request(file=str(tmp_path / "valohai.yaml"), dialect="valohai"))
        assert code in [d.code for d in result.diagnostics if d.severity is Severity.ERROR], (text, result.diagnostics)
    (tmp_path / "valohai.yaml").write_bytes(b"a: \xff\n")
    result = load_workflows(Request(file=str(tmp_path / "valohai.yaml")))
    assert [d.code for d in result.diagnostics] == ["PC002"]


def test_a_template_keeps_the_code_of_what_its_rendering_finds(tmp_path: Path) -> None:
    # An OSMO template is rendered before it is parsed; positions move back to the template,
    # and the code must travel with them.
    path = tmp_path / "wf.yaml"
    path.write_text("workflow:\n  name: w\n  name: w2\n  tasks:\n  - name: t\n    image: alpine:3.20\n"
                    "    command: [echo, '{{x}}']\ndefault-values:\n  x: 1\n")
    result = load_workflows(Request(file=str(path), dialect="osmo"))
    [dup] = [d for d in result.diagnostics if "duplicate key" in d.message]
    assert dup.code == "PC010" and dup.location.line == 3


def test_apply_rules_ignores_and_raises_warnings_and_never_touches_errors() -> None:
    here = Location("f", 1, 1)
    items = [Diagnostic(Severity.WARNING, "a", here, None, "PC107"),
             Diagnostic(Severity.WARNING, "b", Location("f", 2, 1), None, "PC010"),
             Diagnostic(Severity.ERROR, "c", Location("f", 3, 1), None, "PC020"),
             Diagnostic(Severity.WARNING, "d", Location("f", 4, 1), None, None),
             Diagnostic(Severity.NOTE, "e", Location("f", 5, 1))]
    config = Config({"lint": {"ignore": ["unknown-item", "PC020"], "error": ["pc010"]}})
    assert [(d.message, d.severity.value) for d in apply_rules(items, config)] == [
        ("b", "error"), ("c", "error"), ("d", "warning"), ("e", "note")]
    assert apply_rules(items, Config()) == items


def check(tmp_path: Path, config: str | None, *args: str, text: str = WARNS):
    (tmp_path / "valohai.yaml").write_text(text)
    if config is not None:
        (tmp_path / "pipec.toml").write_text(config)
        (tmp_path / "pipec.toml").chmod(0o644)
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        return CliRunner().invoke(main, ["check", *args, "valohai.yaml"])
    finally:
        os.chdir(old)


def problems(output: str) -> list[str]:
    return [line for line in output.splitlines() if ": warning: " in line or ": error: " in line]


def test_lint_ignore_drops_warnings_even_under_strict(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    before = check(tmp_path, None, "--strict")
    assert before.exit_code == 1 and len(problems(before.stdout)) == 2
    result = check(tmp_path, '[lint]\nignore = ["unknown-item", "PC106"]\n', "--strict")
    assert result.exit_code == 0, result.output
    assert problems(result.stdout) == []


def test_lint_error_makes_a_warning_fail_the_check(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    result = check(tmp_path, '[lint]\nerror = ["PC107"]\n')
    assert result.exit_code == 1
    assert problems(result.stdout) == [
        "valohai.yaml:5:3: error: unknown item 'banana'; pipec ignores it [PC107 unknown-item]",
        "valohai.yaml:6:3: warning: empty item; pipec ignores it [PC106 empty-item]"]


def test_strict_still_fails_on_the_warnings_left(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    result = check(tmp_path, '[lint]\nignore = ["unknown-item"]\n', "--strict")
    assert result.exit_code == 1 and len(problems(result.stdout)) == 1


def test_unknown_rules_in_lint_are_located_config_errors_with_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    result = check(tmp_path, '[lint]\nerror = [\n  "PC1O7",\n  "duplicate_key",\n]\nignore = ["PC001", "banana"]\n')
    assert result.exit_code == 1
    text = result.stdout
    assert ("pipec.toml:3:3: error: [lint] error: unknown rule 'PC1O7' [PC404 invalid-lint-setting]\n"
            "  hint: did you mean 'PC107' (unknown-item)?") in text
    assert ("pipec.toml:4:3: error: [lint] error: unknown rule 'duplicate_key' [PC404 invalid-lint-setting]\n"
            "  hint: did you mean 'duplicate-key' (PC010)?") in text
    assert "pipec.toml:6:11: error: [lint] ignore: PC001 yaml-syntax is an error, which cannot be ignored" in text
    assert "pipec.toml:6:20: error: [lint] ignore: unknown rule 'banana'" in text


def test_a_rule_in_both_lists_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    result = check(tmp_path, '[lint]\nerror = ["PC107"]\nignore = ["unknown-item"]\n')
    assert result.exit_code == 1
    assert "pipec.toml:3:11: error: [lint] ignore: PC107 unknown-item is in [lint] error too" in result.stdout


def test_the_lint_table_is_in_the_schema_with_descriptions() -> None:
    schema = json.loads((ROOT / "schemas" / "config.schema.json").read_text(encoding="utf-8"))
    lint = schema["properties"]["lint"]
    assert lint["description"] and set(lint["properties"]) == set(rules.LINT_KEYS)
    assert all(p["description"] for p in lint["properties"].values())


def test_the_readme_table_is_the_table_of_rules() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if "Rule codes" not in readme:
        pytest.skip("README has no Rule codes section yet")
    assert rules.table_markdown() in readme
