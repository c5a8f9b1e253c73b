"""The synthetic pipelines the compile benchmarks share: a layered DAG of execution nodes with
file edges, and one task node sweeping a product grid (valohai.yaml text)."""

from __future__ import annotations

import random
from typing import Any

IMAGE = "python:3.12-slim"
PIPELINE = "Synthetic DAG"

# name, command, parameters (name, type, default): distinct commands, three with parameters
STEPS: list[tuple[str, str, list[tuple[str, str, Any]]]] = [
    ("prep", "python src/prep.py {parameters}", [("rows", "integer", 1000), ("seed", "integer", 7)]),
    ("train", "python src/train.py {parameters}", [("learning_rate", "float", 0.01), ("epochs", "integer", 3)]),
    ("evaluate", "python src/evaluate.py --split test", []),
    ("report", "python src/report.py {parameters}", [("title", "string", "nightly")]),
]


def step_yaml(name: str, command: str, params: list[tuple[str, str, Any]]) -> list[str]:
    out = ["- step:", f"    name: {name}", f"    image: {IMAGE}", "    command:", f"      - {command}"]
    if params:
        out.append("    parameters:")
        for pname, ptype, default in params:
            out += [f"      - name: {pname}", f"        type: {ptype}", f"        default: {default}"]
    out += ["    inputs:", "      - name: data", "        optional: true"]
    return out


def generate_dag(layers: int, width: int, seed: int = 1) -> tuple[str, list[tuple[str, int, list[str]]]]:
    """The valohai.yaml text, and its nodes as (name, step index, upstream names)."""
    rng = random.Random(seed)
    nodes: list[tuple[str, int, list[str]]] = []
    for layer in range(layers):
        for i in range(width):
            ups = [] if layer == 0 else sorted(rng.sample(range(width), rng.choice((1, 2))))
            nodes.append((f"n{layer}-{i}", (layer + i) % len(STEPS), [f"n{layer - 1}-{u}" for u in ups]))
    out: list[str] = []
    for name, command, params in STEPS:
        out += step_yaml(name, command, params)
    out += ["- pipeline:", f"    name: {PIPELINE}", "    nodes:"]
    for name, step, _ in nodes:
        out += [f"      - name: {name}", "        type: execution", f"        step: {STEPS[step][0]}"]
    out.append("    edges:")
    for name, _, ups in nodes:
        out += [f"      - [{up}.output.*.csv, {name}.input.data]" for up in ups]
    return "\n".join(out) + "\n", nodes


def generate_grid(axes: tuple[int, int, int]) -> str:
    """One task node sweeping three parameters of a step over a product grid."""
    a, b, c = axes
    out = step_yaml("train", "python src/train.py {parameters}",
                    [("learning_rate", "float", 0.01), ("batch_size", "integer", 32), ("dropout", "float", 0.5)])
    out += [
        "- task:",
        "    name: big-grid",
        "    step: train",
        "    type: grid_search",
        "    parameters:",
        "      - name: learning_rate",
        "        style: logspace",
        f"        rules: {{start: -5, end: -1, count: {a}, base: 10}}",
        "      - name: batch_size",
        "        style: linear",
        f"        rules: {{start: 1, end: {b}, step: 1}}",
        "      - name: dropout",
        "        style: multiple",
        f"        rules: {{items: [{', '.join(str(round(0.05 * (k + 1), 2)) for k in range(c))}]}}",
        "- pipeline:",
        "    name: Big grid",
        "    nodes:",
        "      - name: grid",
        "        type: task",
        "        task: big-grid",
        "    edges: []",
    ]
    return "\n".join(out) + "\n"
