"""`pipec schema`: prints each schema as installed, with a stable `$id`; the `$ref`s inside
still resolve (against that `$id`) for jsonschema and jsonschema-rs; the command starts
without importing a validator."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import jsonschema_rs
import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from pipec.cli import main
from tests.paths import ROOT

NAMES = ["config", "osmo", "runnable", "valohai"]
# A valid document of each kind.
VALID = {
    "config": {"argo": {"image_pull_policy": "IfNotPresent"}, "profiles": {"gpu": {"gpus": 1}}},
    "osmo": yaml.safe_load((ROOT / "examples/osmo/serial-data-flow.yaml").read_text(encoding="utf-8")),
    "runnable": yaml.safe_load((ROOT / "examples/runnable/map.yaml").read_text(encoding="utf-8")),
    "valohai": yaml.safe_load((ROOT / "examples/valohai/mnist.valohai.yaml").read_text(encoding="utf-8")),
}


# A document of each kind with one error inside a definition reached through `$ref`s
# (config has none: its error is a plain one), and where that error is.
BROKEN: dict[str, tuple[Any, list[Any]]] = {
    "config": ({"profiles": {"gpu": {"gpus": "one"}}}, ["profiles", "gpu", "gpus"]),
    "osmo": ({"workflow": {"name": "w", "tasks": [{"name": "t", "image": "i", "command": ["x"],
                                                   "exitActions": {"FAIL": "one"}}]}},
             ["workflow", "tasks", 0, "exitActions", "FAIL"]),
    "runnable": ({"dag": {"start_at": "a", "steps": {"a": {"type": "task", "command_type": "shell", "command": "true",
                                                           "next": "success", "catalog": 3},
                                                     "success": {"type": "success"}, "fail": {"type": "fail"}}}},
                 ["dag", "steps", "a", "catalog"]),
    "valohai": ([{"step": {"name": "train", "image": "python:3.12", "command": "true", "parameters": [{"name": 3}]}}],
                [0, "step", "parameters", 0, "name"]),
}


def printed(name: str) -> str:
    result = CliRunner().invoke(main, ["schema", "--dialect", name], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("name", NAMES)
def test_prints_the_schema_file_with_its_id(name: str) -> None:
    text = printed(name)
    assert text == (ROOT / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    assert schema["$id"] == f"https://pipec.dev/schemas/{name}.schema.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", NAMES)
def test_refs_resolve_against_the_id(name: str) -> None:
    # An unresolvable `$ref` raises (jsonschema) or fails to build (jsonschema-rs).
    schema = json.loads(printed(name))
    slow, fast = Draft202012Validator(schema), jsonschema_rs.validator_for(schema)
    assert not list(slow.iter_errors(VALID[name]))
    assert fast.is_valid(VALID[name])
    document, where = BROKEN[name]
    assert {tuple(err.absolute_path) for err in slow.iter_errors(document)} == {tuple(where)}
    assert not fast.is_valid(document)


def test_every_schema_is_offered() -> None:
    result = CliRunner().invoke(main, ["schema", "--help"])
    assert result.exit_code == 0
    assert "[config|osmo|runnable|valohai]" in result.output


@pytest.mark.parametrize("args", [["schema"], ["schema", "--dialect", "argo"]])
def test_a_missing_or_unknown_name_is_a_usage_error(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "--dialect" in result.output


def test_starts_without_a_validator_or_a_back_end_library() -> None:
    code = (
        "import sys\n"
        "from pipec.cli import main\n"
        "try:\n    main(['schema', '--dialect', 'osmo'])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules}\n"
        "               & {'hera', 'jinja2', 'pydantic', 'jsonschema', 'jsonschema_rs'})\n"
        "print(heavy, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT / "compiler"), "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["$id"] == "https://pipec.dev/schemas/osmo.schema.json"
    assert out.stderr.strip() == "[]"
