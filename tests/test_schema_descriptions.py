"""Every key the schemas declare has a description: editors that use the schemas (VS Code's
YAML extension, any yaml-language-server client, Taplo for pipec.toml) show it on hover and
in completion lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.paths import ROOT

SCHEMAS = sorted((ROOT / "schemas").glob("*.schema.json"))
Where = tuple[str, ...]


def declared_keys(node: Any, path: Where = ()) -> Iterator[tuple[Where, Any]]:
    """Each schema under `properties` or `patternProperties`, anywhere in `node`, with its path.
    An `if` is skipped: it tests a key (`type: {const: task}`), it does not declare one; the
    branch it selects describes the key."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "if":
                continue
            if key in ("properties", "patternProperties") and isinstance(value, dict):
                for name, sub in value.items():
                    yield (*path, key, name), sub
            yield from declared_keys(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from declared_keys(value, (*path, str(index)))


def undescribed(schema: Any) -> list[str]:
    return ["/".join(path) for path, sub in declared_keys(schema)
            if not (isinstance(sub, dict) and isinstance(sub.get("description"), str) and sub["description"].strip())]


def test_the_four_schemas_are_found() -> None:
    assert [p.name for p in SCHEMAS] == ["config.schema.json", "osmo.schema.json", "runnable.schema.json",
                                        "valohai.schema.json"]


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_every_declared_key_has_a_description(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    missing = undescribed(schema)
    assert not missing, f"{path.name}: keys without a description:\n  " + "\n  ".join(missing)


def test_the_walk_finds_keys_without_description_at_any_depth() -> None:
    schema = {
        "properties": {"a": {"description": "A.", "properties": {"b": {"type": "string"}}}},
        "$defs": {"d": {"patternProperties": {"^x": {"$ref": "#/$defs/d"}}, "allOf": [
            {"if": {"properties": {"kind": {"const": "k"}}}, "then": {"properties": {"c": True}}}]}},
    }
    assert undescribed(schema) == ["properties/a/properties/b", "$defs/d/patternProperties/^x",
                                   "$defs/d/allOf/0/then/properties/c"]
