"""The shapes the Valohai front end works on: top-level items by kind, pipeline nodes with
their merged step definitions, parsed edges, and the options a run was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from pipec import ir
from pipec.errors import Diagnostics, Location
from pipec.loader import MAX_INT, Document, Path
from pipec.schema import did_you_mean

DIALECT = "valohai"
KINDS = ("step", "task", "endpoint", "pipeline", "blueprint", "deployment")
TASK_TYPES = ("grid_search", "random_search", "bayesian_tpe", "manual_search", "distributed")
ON_CHILD_ERROR = ("continue-and-complete", "continue-and-error", "stop-all-and-error")
EDGE_TYPES = ("dependency", "deployment", "environment-variable", "file", "input", "metadata", "output", "parameter")
EDGE_KINDS: dict[tuple[str, str], ir.DepKind] = {
    ("output", "input"): ir.DepKind.FILES,
    ("input", "input"): ir.DepKind.INPUT_FILES,
    ("parameter", "parameter"): ir.DepKind.PARAMETER,
    ("metadata", "parameter"): ir.DepKind.METADATA,
    ("deployment", "parameter"): ir.DepKind.DEPLOYMENT,
    ("output", "file"): ir.DepKind.DEPLOY_FILE,
    ("environment-variable", "environment-variable"): ir.DepKind.ENV,
    ("dependency", "dependency"): ir.DepKind.ORDER,
}
DEPLOYMENT_FACTS = ("id", "version_id")
WELL_KNOWN_WHEN = ("node-starting", "node-complete", "node-error")
WELL_KNOWN_THEN = ("noop", "stop-pipeline", "error-pipeline")
DEFAULT_RETRIES = 2


@dataclass
class Options:
    pipeline: str | None = None
    step: str | None = None
    sweeps: dict[str, list[Any]] = field(default_factory=dict)  # "node.param" -> values
    sweeps_location: Location | None = None  # where config-supplied sweeps came from
    for_compile: bool = False  # remote-commit steps are errors when compiling, warnings in check


@dataclass
class Item:
    kind: str
    name: str
    data: dict[str, Any]
    path: Path  # path of the item's mapping, e.g. (3, "step")


@dataclass
class Node:
    name: str
    type: str
    data: dict[str, Any]
    path: Path
    step: Item | None = None  # local step definition, if any
    blueprint: Item | None = None
    remote: bool = False  # runs a step from another commit that this file does not define
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    param_paths: dict[str, Path] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    input_paths: dict[str, Path] = field(default_factory=dict)
    env: dict[str, dict[str, Any]] = field(default_factory=dict)
    env_paths: dict[str, Path] = field(default_factory=dict)


@dataclass
class Edge:
    source: tuple[str, str, str]
    target: tuple[str, str, str]
    path: Path
    source_path: Path
    target_path: Path


@dataclass
class Config:
    doc: Document
    steps: dict[str, Item] = field(default_factory=dict)
    tasks: dict[str, Item] = field(default_factory=dict)
    endpoints: dict[str, Item] = field(default_factory=dict)
    deployments: dict[str, Item] = field(default_factory=dict)
    pipelines: dict[str, Item] = field(default_factory=dict)
    broken_names: dict[str, set[str]] = field(default_factory=dict)  # names of items that failed the schema
    items: list[Item] = field(default_factory=list)  # every valid item, shadowed duplicates included


def listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def did_you_mean_hint(word: str, choices: Sequence[str]) -> str | None:
    guess = did_you_mean(word, choices)
    return f"did you mean '{guess}'?" if guess else None


def collect(doc: Document, bad: set[int], diags: Diagnostics) -> Config:
    cfg = Config(doc)
    if not isinstance(doc.data, list):
        return cfg
    first_seen: dict[tuple[str, str], Path] = {}
    for index, item in enumerate(doc.data):
        if not isinstance(item, dict):
            continue
        kind = next((k for k in KINDS if k in item), None)
        if kind is None:
            if not item:
                diags.warning("empty item; pipec ignores it", doc.locate((index,)), code="PC106")
                continue
            keys = ", ".join(repr(k) for k in item)
            guess = did_you_mean_hint(next(iter(item), ""), KINDS) if item else None
            diags.warning(
                f"unknown item {keys}; pipec ignores it", doc.locate_key((index, next(iter(item), ""))),
                guess or f"items are one of: {', '.join(KINDS)}", code="PC107",
            )
            continue
        body = item[kind]
        name = body.get("name") if isinstance(body, dict) else None
        if index in bad:
            if isinstance(name, str):
                cfg.broken_names.setdefault(_collection(kind), set()).add(name)
            continue
        if not isinstance(body, dict) or not isinstance(name, str):
            continue
        collection = _collection(kind)
        path = (index, kind)
        target: dict[str, Item] = getattr(cfg, collection)
        key = (collection, name)
        if key in first_seen:
            first = doc.locate(first_seen[key] + ("name",))
            diags.warning(
                f"duplicate {kind} name '{name}' (first defined at line {first.line}); the later definition wins",
                doc.locate(path + ("name",)), code="PC108",
            )
        first_seen[key] = path
        target[name] = Item(kind, name, body, path)
        cfg.items.append(target[name])
    return cfg


def _collection(kind: str) -> str:
    return {"step": "steps", "task": "tasks", "endpoint": "endpoints", "deployment": "deployments"}.get(kind, "pipelines")




def check_numbers(doc: Document, diags: Diagnostics) -> set[int]:
    """Report infinities, NaNs and absurdly large integers (YAML reads `.inf`, `.nan` and any
    digit string); nothing in a pipeline means them, and every later conversion would trip on
    them. Returns the top-level items that hold one."""
    bad: set[int] = set()
    for path in doc.odd_numbers:
        value = doc.data
        for key in path:
            value = value[key]
        if isinstance(value, float):
            diags.error(f"{value} is not a usable number here", doc.locate(path), "write a finite number")
        else:
            diags.error("this integer is too large", doc.locate(path), f"numbers in a pipeline stay within ±{MAX_INT:.0e}")
        bad.add(path[0] if path and isinstance(path[0], int) else -1)
    return bad
