"""Property tests: bad input never crashes the loader, the schema layer, the front end or the passes.

The contract under test:

* `load_workflows(Request(file=...))` returns a Result for any file; the only exception it may
  raise is `pipec.driver.UsageError` (a command-line problem). Anything else is a crash.
* `load_text` / `load_bytes` return a Document or raise `PipecError`, nothing else.
* Every diagnostic has a non-empty message and a location with line >= 1 and col >= 1.
* Workflows that come out of the passes have unique, DNS-label-like job ids, dependencies
  between existing jobs only, and jobs in topological order.

Inputs are (1) hypothesis-chosen structural mutations of valid valohai.yaml files (the project's
examples plus the seeds below), (2) character and byte mutations of valid files and random text,
and (3) hand-written adversarial documents (billion laughs, very deep nesting, size limits).

The plain `test_regression_*` tests at the end are minimal reproductions of crashes the fuzzers
(and reading the code they pointed at) found; they guard the fixes.
"""

from __future__ import annotations

import atexit
import collections
import copy
import itertools
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipec import ir
from pipec.driver import Request, Result, UsageError, load_workflows
from pipec.errors import Diagnostic, Diagnostics, PipecError
from pipec.loader import Document, load_bytes, load_text
from tests.paths import ROOT
from tests.requests import valohai_request

REPO = ROOT
COMPILER_DIR = REPO / "compiler"
EXAMPLES = sorted((REPO / "examples" / "valohai").glob("*.yaml"))
SCHEMA = json.loads((REPO / "schemas" / "valohai.schema.json").read_text(encoding="utf-8"))

# Every file goes into one private directory with an empty pipec.toml, so the config search
# never walks up into whatever happens to be above the temporary directory.
WORKDIR = Path(tempfile.mkdtemp(prefix="pipec-fuzz-"))
(WORKDIR / "pipec.toml").write_text("", encoding="utf-8")
atexit.register(shutil.rmtree, WORKDIR, True)
_counter = itertools.count()

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.large_base_example],
)


# `make fuzz` (long mode, not run by CI) multiplies the examples and also compiles every
# document that passes the front end for each target in PIPEC_FUZZ_TARGETS.
FUZZ_SCALE = float(os.environ.get("PIPEC_FUZZ_SCALE", "1"))
FUZZ_TARGETS = [t for t in os.environ.get("PIPEC_FUZZ_TARGETS", "").split(",") if t]
STATS: collections.Counter[str] = collections.Counter()


def _report_stats() -> None:
    if FUZZ_TARGETS:
        print(f"\nfuzz: {STATS['documents']:,} documents through check, {STATS['compiled']:,} of them valid and "
              f"compiled for {', '.join(FUZZ_TARGETS)} ({STATS['compiles']:,} compiles), 0 tracebacks")


atexit.register(_report_stats)


def fuzz(max_examples: int) -> settings:
    return settings(FUZZ, max_examples=max(1, int(max_examples * FUZZ_SCALE)))


# ============================================================================================
# Seeds: valid files written for these tests (the project's examples are added at run time)

SEED_EVERYTHING = """\
- step:
    name: prep
    image: python:3.12
    command:
      - python prep.py {parameters}
      - echo done
    environment: aws-eu-west-1-p2-xlarge
    time-limit: 1h 30m
    no-output-timeout: 600
    stop-condition: metadata.loss < 0.1 and metadata.epoch > 3
    resources:
      cpu: {min: 0.5, max: 2}
      memory: {min: 512, max: 2048}
      devices:
        nvidia.com/gpu: 1
    parameters:
      - name: seed
        type: integer
        default: 7
        min: 0
        max: 100
      - name: rate
        type: float
        default: 0.5
      - name: verbose
        type: flag
        default: false
        pass-true-as: --verbose
        pass-false-as: --quiet
      - name: mode
        type: string
        default: fast
        choices: [fast, slow]
        pass-as: --mode {v}
      - name: tags
        type: string
        multiple: separate
        multiple-separator: ","
        default: [a, b]
    inputs:
      - name: raw
        default: https://example.com/raw.csv
        keep-directories: suffix
      - name: extra
        optional: true
        filename: extra.bin
    environment-variables:
      - name: DATA_VERSION
        default: "v1"
    outputs:
      - name: data.csv
      - name: meta.json

- step:
    name: train
    image: python:3.12
    command: python train.py {parameters}
    parameters:
      - name: lr
        type: float
        default: 0.01
      - name: epochs
        type: integer
        default: 3
      - name: seed
        type: integer
        default: 1
      - name: optimizer
        default: sgd
      - name: batch
        type: integer
        default: 32
    inputs:
      - name: data
      - name: meta
        optional: true
    environment-variables:
      - name: DATA_VERSION
        default: none
    outputs:
      - name: model.pkl

- task:
    name: grid
    step: train
    type: grid_search
    execution-batch-size: 2
    maximum-queued-executions: 4
    on-child-error: stop-all-and-error
    parameters:
      - name: lr
        style: logspace
        rules: {start: -3, end: -1, count: 3, base: 10}
      - name: epochs
        style: linear
        rules: {start: 1, end: 5, step: 2}
      - name: optimizer
        style: multiple
        rules: {items: [sgd, adam]}
      - name: seed
        style: single
        rules: {value: 3}

- task:
    name: rand
    step: train
    type: random_search
    execution-count: 5
    on-child-error: continue-and-complete
    parameters:
      - name: lr
        style: random
        rules: {min: 0.0001, max: 0.1, distribution: loguniform, seed: 42}
      - name: batch
        style: random
        rules: {min: 8, max: 64, distribution: uniform, integerify: true}

- task:
    name: bayes
    step: train
    type: bayesian_tpe
    execution-count: 4
    optimization-target-metric: loss
    optimization-target-value: 0.0
    parameters:
      - name: lr
        style: random
        rules: {min: 0.001, max: 0.1}

- task:
    name: manual
    step: train
    type: manual_search
    parameter-sets:
      - {lr: 0.1, epochs: 2}
      - {lr: 0.01, epochs: 4}

- task:
    name: dist
    step: train
    type: distributed
    execution-count: 3
    parameters:
      - name: seed
        style: single
        rules: {value: 1}

- endpoint:
    name: predict
    image: python:3.12
    server-command: python serve.py
    port: 8000
    files:
      - name: model
        path: model.pkl

- endpoint:
    name: wsgi-ep
    image: python:3.12
    wsgi: app:application

- deployment:
    name: prod
    defaults:
      target: cluster-1

- pipeline:
    name: everything
    parameters:
      - name: epochs
        targets: [t-grid.parameter.epochs, t-plain.parameter.epochs]
        default: 4
      - name: batch
        target: t-dist.parameter.batch
        default: 16
        description: batch size
    nodes:
      - name: prep
        type: execution
        step: prep
        on-error: retry
        edge-merge-mode: append
        override:
          image: python:3.11
          parameters:
            - name: seed
              type: integer
              default: 9
          inputs:
            - name: raw
              default: https://example.com/other.csv
          environment-variables:
            - name: EXTRA
              default: "1"
        actions:
          - when: node-complete
            if: metadata.loss > 2
            then: stop-pipeline
      - name: t-grid
        type: task
        task: grid
        on-error: continue
      - name: t-rand
        type: task
        task: rand
        on-error: stop-next
      - name: t-bayes
        type: task
        task: bayes
      - name: t-manual
        type: task
        task: manual
      - name: t-dist
        type: task
        task: dist
      - name: t-plain
        type: task
        step: train
      - name: t-meta
        type: task
        step: train
      - name: final
        type: execution
        step: train
      - name: deploy
        type: deployment
        deployment: prod
        endpoints: [predict]
        aliases: [staging]
      - name: after
        type: execution
        step: train
    edges:
      - [prep.output.data*, t-grid.input.data]
      - [prep.output.data*, t-rand.input.data]
      - [prep.output.data*, t-bayes.input.data]
      - [prep.output.data*, t-manual.input.data]
      - [prep.output.data*, t-dist.input.data]
      - [prep.input.raw, t-plain.input.data]
      - [prep.parameter.seed, final.parameter.seed]
      - [prep.metadata.lrs, t-meta.parameter.lr]
      - [prep.environment-variable.DATA_VERSION, final.environment-variable.DATA_VERSION]
      - [t-grid.dependency.*, final.dependency.*]
      - source: t-grid.output.model*
        target: final.input.data
        configuration: {keep: true}
      - [final.output.model*, deploy.file.predict.model]
      - [deploy.deployment.id, after.parameter.optimizer]
      - [t-rand.metadata.best, final.parameter.lr]
"""

SEED_STEPS_ONLY = """\
- step:
    name: Hello World
    image: busybox
    command: echo hello {parameters}
    time-limit: 120
    parameters:
      - name: who
        default: world
      - name: n
        type: integer
        default: 2
        pass-as: -n {v}
      - name: loud
        type: flag
        default: true
    inputs:
      - name: in
        default: [s3://a/b, s3://a/c]
        keep-directories: true
- step:
    name: second-step
    image: busybox
    command: [echo a, echo b]
    resources:
      memory: {min: 100}
- unknown-thing:
    name: x
"""

SEED_SMALL_PIPELINES = """\
- step:
    name: a
    image: alpine
    command: echo a
    parameters:
      - name: p
        type: integer
        default: 1
    outputs:
      - name: out.txt
- step:
    name: b
    image: alpine
    command: echo b {parameters}
    parameters:
      - name: p
        type: integer
    inputs:
      - name: in
- blueprint:
    name: chain
    nodes:
      - name: first
        type: execution
        step: a
      - name: Second Node
        type: execution
        step: b
      - name: third_node
        type: execution
        step: b
        on-error: stop-next
    edges:
      - [first.output.*, Second Node.input.in]
      - [first.parameter.p, Second Node.parameter.p]
      - [Second Node.dependency.x, third_node.dependency.y]
- pipeline:
    name: remote
    nodes:
      - name: local
        type: execution
        step: a
      - name: far
        type: execution
        step: lib-step
        commit: library:collection/lib-step
    edges:
      - [local.output.*, far.input.in]
"""

INLINE_SEEDS = {
    "everything": SEED_EVERYTHING,
    "steps-only": SEED_STEPS_ONLY,
    "small-pipelines": SEED_SMALL_PIPELINES,
}


def _seed_texts() -> dict[str, str]:
    texts = dict(INLINE_SEEDS)
    for path in EXAMPLES:
        texts[path.name] = path.read_text(encoding="utf-8")
    return texts


SEED_TEXTS = _seed_texts()
SEED_DATA = {name: yaml.safe_load(text) for name, text in SEED_TEXTS.items()}
SEED_NAMES = sorted(SEED_TEXTS)


def _schema_keys() -> list[str]:
    """Every property name the schema knows: renames into these land keys in the wrong place."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                found.update(props)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(SCHEMA)
    return sorted(found)


SCHEMA_KEYS = _schema_keys()


# ============================================================================================
# Checking results


def check_diagnostics(diagnostics: list[Diagnostic], file: str | None = None, text: str | None = None) -> None:
    for d in diagnostics:
        assert isinstance(d, Diagnostic), d
        assert isinstance(d.message, str) and d.message.strip(), f"empty message: {d!r}"
        loc = d.location
        assert isinstance(loc.line, int) and loc.line >= 1, f"bad line: {d!r}"
        assert isinstance(loc.col, int) and loc.col >= 1, f"bad column: {d!r}"
        if file is not None and text is not None and loc.file == file:
            # Positions point into the file (one past the last line for "end of file").
            breaks = len(re.findall("\r\n|[\r\n\x85\u2028\u2029]", text))
            assert loc.line <= breaks + 2, f"line past the end of the file: {d!r}"
        # The formatters must cope with any message (newlines, %, unicode).
        d.format_text()
        d.format_github()
        json.dumps(d.to_json(), ensure_ascii=False)


def check_workflow(wf: ir.Workflow) -> None:
    ids = [j.id for j in wf.jobs]
    assert len(ids) == len(set(ids)), f"duplicate job ids: {ids}"
    for job_id in ids:
        assert isinstance(job_id, str) and len(job_id) <= 63 and DNS_LABEL.match(job_id), f"bad job id {job_id!r}"
    position = {job_id: i for i, job_id in enumerate(ids)}
    for d in wf.dependencies:
        assert d.source in position, f"dependency from unknown job {d.source!r}"
        assert d.target in position, f"dependency to unknown job {d.target!r}"
        assert position[d.source] < position[d.target], f"not in topological order: {d.source} -> {d.target}"
    for g in wf.groups:
        assert g.lead in position and all(m in position for m in g.members), g
    for p in wf.params:
        for job_id, _ in p.targets:
            assert job_id in position, f"pipeline parameter {p.name!r} targets unknown job {job_id!r}"
    for job in wf.jobs:
        assert job.group is None or any(g.name == job.group for g in wf.groups), job.group
        sweep = job.sweep
        if sweep is None:
            continue
        assert sweep.size >= 0
        if sweep.fanout is not None:
            assert sweep.fanout.source in position
        if sweep.size > 0:
            # Rows are computed on demand by the back ends; the first and last must work.
            for index in {0, sweep.size - 1}:
                row = sweep.row(index)
                assert isinstance(row, dict)


def check_result(result: Result, file: str, text: str | None) -> None:
    assert isinstance(result, Result)
    check_diagnostics(result.diagnostics, file, text)
    if result.has_errors:
        assert result.workflows == [], "workflows returned alongside errors"
    for wf in result.workflows:
        assert isinstance(wf, ir.Workflow)
        check_workflow(wf)


def write_file(raw: bytes | str, suffix: str = ".yaml") -> Path:
    path = WORKDIR / f"case-{next(_counter)}{suffix}"
    if isinstance(raw, str):
        path.write_text(raw, encoding="utf-8", newline="")
    else:
        path.write_bytes(raw)
    return path


def run_driver(raw: bytes | str, **options: Any) -> Result | None:
    """Run the whole front end + passes on `raw`; None when it raised UsageError."""
    path = write_file(raw)
    try:
        try:
            result = load_workflows(valohai_request(str(path), **options))
        except UsageError as exc:
            assert str(exc).strip()
            return None
        text = raw if isinstance(raw, str) else raw.decode("utf-8-sig", errors="replace")
        check_result(result, str(path), text)
        STATS["documents"] += 1
        if FUZZ_TARGETS and result.workflows:
            compile_everywhere(path, text, options)
        return result
    finally:
        path.unlink(missing_ok=True)


def compile_everywhere(path: Path, text: str, options: dict[str, Any]) -> None:
    """Compile a valid document for every target: only located diagnostics, never an exception."""
    from pipec.backends import load

    STATS["compiled"] += 1
    for target in FUZZ_TARGETS:
        result = load_workflows(valohai_request(str(path), target=target, **options))
        check_result(result, str(path), text)
        diags = Diagnostics(list(result.diagnostics))
        if result.workflows:
            load(target).compile_workflows(result.workflows, result.config, diags)
            check_diagnostics(diags.sorted(), str(path), text)
        STATS["compiles"] += 1


def non_string_keys(data: Any) -> list[Any]:
    found = []
    for path in all_paths(data):
        value = get_at(data, path)
        if isinstance(value, dict):
            found.extend(k for k in value if not isinstance(k, str))
    return found


def check_loaded(doc: Document, diags: Diagnostics) -> None:
    assert isinstance(doc, Document)
    # The loader keeps mapping keys as the text the author wrote; the schema layer and the
    # front end rely on it (did-you-mean hints, key patterns).
    assert not non_string_keys(doc.data), non_string_keys(doc.data)
    for table in (doc.positions, doc.key_positions):
        for line, col in table.values():
            assert line >= 1 and col >= 1
    check_diagnostics(diags.sorted())


def load_text_ok(text: str) -> Document | None:
    diags = Diagnostics()
    try:
        doc = load_text(text, "fuzz.yaml", diags)
    except PipecError as exc:
        assert exc.diagnostics, "PipecError without diagnostics"
        assert any(d.severity.value == "error" for d in exc.diagnostics)
        check_diagnostics(exc.diagnostics, "fuzz.yaml", text)
        return None
    check_loaded(doc, diags)
    return doc


def load_bytes_ok(raw: bytes) -> Document | None:
    diags = Diagnostics()
    try:
        doc = load_bytes(raw, "fuzz.yaml", diags)
    except PipecError as exc:
        assert exc.diagnostics, "PipecError without diagnostics"
        check_diagnostics(exc.diagnostics)
        return None
    check_loaded(doc, diags)
    return doc


# ============================================================================================
# Strategies: JSON-like values and structural mutations

INTERESTING_STRINGS = [
    "", " ", "\n", "a\nb", "\t", "\r\n", "null", "~", "yes", "no", "on", "true", "1e3", "0x1F", "0o17", ".inf", ".nan",
    "{parameters}", "{parameter:lr}", "{parameter-value:lr}", "${{ inputs.x }}", "{{ x }}", "{", "}", "{}", "[]", "%",
    "1h", "1H", "300", "0", "-1", "-1s", "1.5d", "0s", "10 min", "1e400", "99999999999999999999999w",
    "metadata.loss < 0.1", "a < b < c", "__import__('os').system('x')", "x[0]", "lambda: 1", "(" * 50 + ")" * 50,
    "train.output.model*", "a.b", "a..b", ".", "..", "a.b.c.d", "*", "a.file.b", "x.deployment.id", "x.input.*",
    "stop-all", "stop-next", "continue", "retry", "grid_search", "random-search", "Manual_Search", "distributed",
    "bayesian_tpe", "execution", "task", "deployment", "flag", "integer", "float", "string", "none", "repeat", "separate",
    "--{name}={value}", "{v}", "{nope}", "{name", "-n {v} {v}", "é" * 70, "😀", "\u2028", "\x85", "a\x00b", "\ufeff",
    "x" * 70, "a" * 10_000, "Train Model (MNIST)", "123", "-", "--", "_", "A", "ß", "İ",
]

text_values = st.one_of(
    st.sampled_from(INTERESTING_STRINGS),
    st.text(max_size=20),
    st.text(alphabet="abc.-_*{} \n", max_size=12),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**63, -(2**63), 10**30, 2**1100, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    text_values,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(text_values, children, max_size=4),
    ),
    max_leaves=8,
)

TYPE_VALUES = [
    "execution", "task", "deployment", "pipeline", "step", "flag", "integer", "float", "string", "number",
    "grid_search", "Grid-Search", "random_search", "RANDOM_SEARCH", "bayesian_tpe", "bayesian-tpe", "manual_search",
    "distributed", "bogus", "", None, 3, True, ["task"], {"type": "task"},
    "single", "multiple", "linear", "logspace", "random",
    "uniform", "loguniform", "log-uniform", "normal",
    "stop-all", "stop-next", "continue", "retry", "append", "replace", "none", "repeat", "separate",
]
TYPE_KEYS = {"type", "style", "on-error", "multiple", "edge-merge-mode", "distribution", "on-child-error",
             "keep-directories", "download", "when", "then"}
NAMEISH_KEYS = {"name", "step", "task", "target", "targets", "source", "deployment", "endpoints", "aliases", "commit"}

Path_ = tuple[Any, ...]


def all_paths(data: Any, prefix: Path_ = ()) -> list[Path_]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out.extend(all_paths(v, prefix + (k,)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.extend(all_paths(v, prefix + (i,)))
    return out


def get_at(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def set_at(data: Any, path: Path_, value: Any) -> Any:
    """Set the value at `path`; returns the (possibly new) root."""
    if not path:
        return value
    get_at(data, path[:-1])[path[-1]] = value
    return data


def all_strings(data: Any) -> list[str]:
    out: list[str] = []
    for p in all_paths(data):
        v = get_at(data, p)
        if isinstance(v, str):
            out.append(v)
        if p and isinstance(p[-1], str):
            out.append(p[-1])
    return out


def typo_strategy(word: str) -> st.SearchStrategy[str]:
    options = [
        st.just(word.replace("_", "-")),
        st.just(word.replace("-", "_")),
        st.just(word.upper()),
        st.just(word.title()),
        st.just(word + " "),
        st.just(word + "s"),
        st.just(word.rstrip("s")),
        st.sampled_from(SCHEMA_KEYS),
        text_values,
    ]
    if len(word) > 1:
        options.append(st.integers(0, len(word) - 1).map(lambda i: word[:i] + word[i + 1:]))  # drop
        options.append(st.integers(0, len(word) - 1).map(lambda i: word[:i] + word[i] + word[i:]))  # double
        options.append(st.integers(0, len(word) - 2).map(lambda i: word[:i] + word[i + 1] + word[i] + word[i + 2:]))
    return st.one_of(options)


def mutate_socket(draw: Any, text: str, pool: list[str]) -> Any:
    parts = text.split(".")
    op = draw(st.sampled_from(["part", "drop", "add", "swap", "empty", "whole", "case", "glob", "value"]))
    if op == "part" and parts:
        i = draw(st.integers(0, len(parts) - 1))
        parts[i] = draw(st.one_of(st.sampled_from(pool), text_values, st.sampled_from(TYPE_VALUES[:10])))
        parts = [str(p) for p in parts]
    elif op == "drop" and len(parts) > 1:
        del parts[draw(st.integers(0, len(parts) - 1))]
    elif op == "add":
        parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from(pool)))
    elif op == "swap" and len(parts) > 1:
        i = draw(st.integers(0, len(parts) - 2))
        parts[i], parts[i + 1] = parts[i + 1], parts[i]
    elif op == "empty" and parts:
        parts[draw(st.integers(0, len(parts) - 1))] = ""
    elif op == "whole":
        return draw(st.sampled_from(pool))
    elif op == "case":
        return text.upper() if draw(st.booleans()) else text.title()
    elif op == "glob":
        return text + draw(st.sampled_from(["*", "?", "[", "[!a]", "**"]))
    elif op == "value":
        return draw(json_values)
    return ".".join(parts)


MUTATIONS = [
    "delete", "replace", "replace", "rename", "duplicate", "swap", "truncate", "socket", "socket",
    "type", "type", "transplant", "wrap", "unwrap", "tweak", "tweak", "tweak", "tweak",
]

SPECIAL_NUMBERS = [0, -1, 1, 2, 2**31, 2**63, 10**20, -(10**20), 2**1100, -(10**400), 0.0, -0.0, 0.5, -1.5,
                   1e-300, 5e-324, 1e308, -1e308, math.inf, -math.inf, math.nan]


def tweak_value(draw: Any, value: Any, pool: list[str]) -> Any:
    """A value of the same JSON type, so the schema still accepts it more often than not."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return draw(st.one_of(st.sampled_from(SPECIAL_NUMBERS), st.integers(-1000, 1000),
                              st.floats(allow_nan=True, allow_infinity=True)))
    if isinstance(value, str):
        return draw(st.one_of(text_values, st.sampled_from(pool), st.just(mutate_socket(draw, value, pool))))
    if isinstance(value, list):
        return draw(st.sampled_from([[], value * 2, value[::-1], [None]]))
    if isinstance(value, dict):
        return draw(st.sampled_from([{}, {"": None}, {k: None for k in value}]))
    return draw(json_values)


def mutate_once(draw: Any, data: Any, kinds: list[str] = MUTATIONS) -> Any:
    paths = all_paths(data)
    kind = draw(st.sampled_from(kinds))
    pool = [s for s in all_strings(data) if len(s) < 80] or ["x"]

    def pick(candidates: list[Path_]) -> Path_ | None:
        return draw(st.sampled_from(candidates)) if candidates else None

    if kind == "delete":
        path = pick([p for p in paths if p])
        if path is not None:
            parent = get_at(data, path[:-1])
            del parent[path[-1]]
            return data
    elif kind == "rename":
        path = pick([p for p in paths if p and isinstance(p[-1], str)])
        if path is not None:
            parent = get_at(data, path[:-1])
            new_key = draw(typo_strategy(path[-1]))
            items = [(new_key if k == path[-1] else k, v) for k, v in parent.items()]
            parent.clear()
            parent.update(items)
            return data
    elif kind in ("duplicate", "swap", "truncate"):
        path = pick([p for p in paths if isinstance(get_at(data, p), list) and get_at(data, p)])
        if path is not None:
            lst = get_at(data, path)
            if kind == "duplicate":
                i = draw(st.integers(0, len(lst) - 1))
                lst.insert(draw(st.integers(0, len(lst))), copy.deepcopy(lst[i]))
            elif kind == "swap" and len(lst) > 1:
                i, j = draw(st.integers(0, len(lst) - 1)), draw(st.integers(0, len(lst) - 1))
                lst[i], lst[j] = lst[j], lst[i]
            else:
                del lst[draw(st.integers(0, len(lst) - 1)):]
            return data
    elif kind == "socket":
        path = pick([
            p for p in paths
            if isinstance(get_at(data, p), str) and any(isinstance(x, str) and (x in NAMEISH_KEYS or x == "edges") for x in p)
        ])
        if path is not None:
            return set_at(data, path, mutate_socket(draw, get_at(data, path), pool))
    elif kind == "type":
        path = pick([p for p in paths if p and p[-1] in TYPE_KEYS])
        if path is not None:
            # A copy: TYPE_VALUES holds a list and a dict that later mutations must not change.
            return set_at(data, path, copy.deepcopy(draw(st.sampled_from(TYPE_VALUES))))
    elif kind == "tweak":
        path = pick(paths)
        if path is not None:
            return set_at(data, path, tweak_value(draw, get_at(data, path), pool))
    elif kind == "transplant":
        src, dst = pick(paths), pick(paths)
        if src is not None and dst is not None and dst[: len(src)] != src:
            return set_at(data, dst, copy.deepcopy(get_at(data, src)))
    elif kind == "wrap":
        path = pick(paths)
        if path is not None:
            value = get_at(data, path)
            wrapped = draw(st.sampled_from(["list", "dict"]))
            return set_at(data, path, [value] if wrapped == "list" else {draw(st.sampled_from(pool)): value})
    elif kind == "unwrap":
        path = pick([p for p in paths if isinstance(get_at(data, p), (list, dict)) and get_at(data, p)])
        if path is not None:
            value = get_at(data, path)
            inner = value[0] if isinstance(value, list) else next(iter(value.values()))
            return set_at(data, path, copy.deepcopy(inner))
    # "replace", and the fallback when a mutation found nothing to act on
    path = pick(paths)
    return set_at(data, path, draw(json_values))


@st.composite
def mutated_documents(draw: Any, seeds: list[str] = SEED_NAMES, kinds: list[str] = MUTATIONS,
                      max_mutations: int = 4) -> tuple[str, Any]:
    name = draw(st.sampled_from(seeds))
    data = copy.deepcopy(SEED_DATA[name])
    for _ in range(draw(st.integers(1, max_mutations))):
        data = mutate_once(draw, data, kinds)
    return name, data


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=200)


@st.composite
def request_options(draw: Any, data: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"strict": draw(st.booleans()), "for_compile": draw(st.booleans())}
    strings = [s for s in all_strings(data) if len(s) < 60] or ["x"]
    choice = draw(st.sampled_from(["none", "none", "none", "pipeline", "step", "sweep"]))
    if choice == "pipeline":
        options["pipeline"] = draw(st.sampled_from(strings))
    elif choice == "step":
        options["step"] = draw(st.sampled_from(strings))
    elif choice == "sweep":
        node, param = draw(st.sampled_from(strings)), draw(st.sampled_from(strings))
        values = draw(st.sampled_from(["1,2", "0.1,0.2", "true,no", "a,b", "x", ",", "1e999,nan"]))
        options["sweeps"] = (f"{node}.{param}={values}",)
    return options


# ============================================================================================
# 0. The seeds themselves are valid (otherwise the mutations would start from broken files)


@pytest.mark.parametrize("name", SEED_NAMES)
def test_seeds_load_cleanly(name: str) -> None:
    result = run_driver(SEED_TEXTS[name])
    assert result is not None
    errors = [d.format_text() for d in result.diagnostics if d.severity.value == "error"]
    assert not errors, errors
    assert result.workflows


# ============================================================================================
# 1. Structural mutations of valid files through the whole front end and the passes


@fuzz(400)
@given(mutated_documents())
def test_mutated_documents_never_crash(case: tuple[str, Any]) -> None:
    _, data = case
    run_driver(dump(data))


@fuzz(200)
@given(mutated_documents(seeds=["everything", "small-pipelines"]))
def test_mutated_pipelines_never_crash(case: tuple[str, Any]) -> None:
    _, data = case
    run_driver(dump(data))


@fuzz(100)
@given(st.data())
def test_mutated_documents_with_options_never_crash(data: st.DataObject) -> None:
    _, doc = data.draw(mutated_documents())
    options = data.draw(request_options(doc))
    run_driver(dump(doc), **options)


@fuzz(60)
@given(json_values)
def test_random_documents_never_crash(value: Any) -> None:
    run_driver(dump(value))


@fuzz(100)
@given(st.lists(st.dictionaries(st.sampled_from(["step", "task", "endpoint", "pipeline", "blueprint", "deployment"]),
                                json_values, min_size=1, max_size=2), min_size=1, max_size=4))
def test_random_items_never_crash(items: list[dict[str, Any]]) -> None:
    """Top-level items of every kind with arbitrary bodies: the dialect is detected, so this
    goes through the schema layer and the front end."""
    run_driver(dump(items))


# Targeted generators: documents that mostly pass the schema, so the semantic checks, the
# sweep expansion and the passes see hostile values rather than the schema stopping them.

numbers = st.one_of(st.sampled_from(SPECIAL_NUMBERS), st.integers(-20, 20), st.floats(allow_nan=True, allow_infinity=True))
RULE_VALUES = {  # mostly the type the schema wants, so the sweep expansion sees the value
    "value": numbers,
    "items": st.lists(st.one_of(numbers, st.booleans(), text_values), max_size=4),
    "start": numbers, "end": numbers, "step": numbers, "count": numbers, "base": numbers,
    "min": numbers, "max": numbers, "seed": numbers,
    "distribution": st.sampled_from(["uniform", "loguniform", "log-uniform", "log_uniform", "Uniform ", "normal", ""]),
    "integerify": st.booleans(), "numberify": st.booleans(),
}


@st.composite
def variant_rules(draw: Any) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(sorted(RULE_VALUES)), max_size=6, unique=True))
    rules = {k: draw(RULE_VALUES[k]) for k in keys}
    if keys and draw(st.integers(0, 9)) == 0:  # now and then a value of the wrong type
        rules[draw(st.sampled_from(keys))] = draw(json_values)
    return rules


EXPRESSIONS = [
    "metadata.loss < 0.1", "metadata.a == 1 and not metadata.b", "a < b < c", "x[0] > 1", "lambda: 1", "f(x)",
    "1 +", "", " ", "(" * 30 + "a" + ")" * 30, "a if b else c", "[a, b] == [1, 2]", "{'a': 1}", "a\nb", "'\x00'",
    "__import__('os')", "not " * 20 + "a", "a." * 20 + "b", "a+" * 5000 + "a",
]
TEMPLATES = [
    "--{name}={value}", "--{name}", "{v}", "{v:.2f}", "{v!r}", "{v.real}", "{v[0]}", "{}", "{0}", "{name", "}{",
    "{v:{v}}", "{{v}}", "-x {value:>10}", "{v:%Y}", "{nope}", "{v!z}", "{v:d}", "{value:,}", "{name.__class__}",
]


@st.composite
def blueprint_documents(draw: Any) -> list[Any]:
    step = {
        "name": "s", "image": "alpine", "command": "train {parameters}",
        "parameters": [
            {"name": "lr", "type": "float", "default": 0.1},
            {"name": "epochs", "type": "integer", "default": 1},
            {"name": "opt", "type": "string", "default": "sgd"},
            {"name": "on", "type": "flag", "default": False},
        ],
        "inputs": [{"name": "x", "optional": True}],
    }
    params = []
    for name in draw(st.lists(st.sampled_from(["lr", "lr", "epochs", "epochs", "opt", "on", "missing"]), max_size=3)):
        style = draw(st.sampled_from(["single", "multiple", "linear", "logspace", "random"]))
        rules = draw(variant_rules())
        params.append({"name": name, "style": style, "rules": rules})
    task: dict[str, Any] = {
        "name": "t", "step": "s",
        "type": draw(st.sampled_from(["grid_search", "random_search", "bayesian_tpe", "manual_search", "distributed",
                                      "Random-Search", "bogus"])),
    }
    if params or draw(st.booleans()):
        task["parameters"] = params
    if draw(st.booleans()):
        task["parameter-sets"] = draw(st.lists(
            st.dictionaries(st.sampled_from(["lr", "epochs", "opt", "on", "lr", "x"]), st.one_of(numbers, json_values), max_size=3), max_size=3))
    for key in ("execution-count", "execution-batch-size", "maximum-queued-executions"):
        if draw(st.booleans()):
            task[key] = draw(st.one_of(st.sampled_from([0, -1, 1, 3, 10**9, 2**63, 10**30]), st.integers(-5, 50)))
    if not task.get("parameters") and not task.get("parameter-sets"):
        task["parameters"] = []
    nodes = [
        {"name": "sweep", "type": "task", "task": "t"},
        {"name": "after", "type": "execution", "step": "s"},
    ]
    edges = draw(st.lists(st.sampled_from([
        ["sweep.output.*", "after.input.x"],
        ["sweep.parameter.lr", "after.parameter.lr"],
        ["sweep.parameter.opt", "after.parameter.opt"],
        ["sweep.metadata.m", "after.parameter.epochs"],
        ["sweep.dependency.a", "after.dependency.b"],
        ["after.metadata.m", "sweep.parameter.lr"],
    ]), max_size=3, unique_by=tuple))
    pipeline: dict[str, Any] = {"name": "p", "nodes": nodes, "edges": edges}
    if draw(st.booleans()):
        pipeline["parameters"] = [{"name": "pp", "targets": ["sweep.parameter.lr", "after.parameter.lr"],
                                   "default": draw(json_values)}]
    return [{"step": step}, {"task": task}, {"pipeline": pipeline}]


@st.composite
def parameter_documents(draw: Any) -> list[Any]:
    param: dict[str, Any] = {"name": draw(st.sampled_from(["p", "with space", "ünï", "x" * 70]))}
    optional = {
        "type": st.sampled_from(["flag", "float", "integer", "string"]),
        "default": st.one_of(json_values, numbers),
        "min": numbers,
        "max": numbers,
        "choices": st.lists(st.one_of(scalars, numbers), max_size=3),
        "pass-as": st.one_of(st.sampled_from(TEMPLATES), text_values),
        "pass-true-as": st.sampled_from(TEMPLATES),
        "pass-false-as": st.sampled_from(TEMPLATES),
        "multiple": st.sampled_from(["none", "repeat", "separate"]),
        "multiple-separator": text_values,
        "optional": st.booleans(),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            param[key] = draw(strategy)
    step: dict[str, Any] = {"name": "s", "image": "alpine", "command": draw(st.one_of(
        st.sampled_from(["run {parameters}", "run {parameter:p} {parameter-value:p}", "run {", "run {{x}}"]),
        st.lists(text_values, max_size=3))), "parameters": [param]}
    extras = {
        "time-limit": st.one_of(st.sampled_from(["1h", "1H", "300", "0s", "1e400w", " ", "1.5d", "10 min", "-1s"]),
                                st.sampled_from([0, -1, 1, 2**63, 10**400])),
        "no-output-timeout": st.sampled_from(["1h", "x", 0, 5]),
        "stop-condition": st.one_of(st.sampled_from(EXPRESSIONS), text_values),
        "resources": st.fixed_dictionaries({}, optional={
            "cpu": st.fixed_dictionaries({}, optional={"min": numbers, "max": numbers}),
            "memory": st.fixed_dictionaries({}, optional={"min": numbers, "max": numbers}),
            "devices": st.dictionaries(st.sampled_from(["nvidia.com/gpu", "amd.com/GPU", "fpga"]), numbers, max_size=2),
        }),
        "environment-variables": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["A", "B"])},
                                                                optional={"default": text_values}), max_size=2),
        "inputs": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["in", "x"])}, optional={
            "default": st.one_of(text_values, st.lists(text_values, max_size=2)),
            "keep-directories": st.sampled_from([True, False, "none", "full", "suffix"]),
            "optional": st.booleans(), "filename": text_values}), max_size=2),
    }
    for key, strategy in extras.items():
        if draw(st.booleans()):
            step[key] = draw(strategy)
    doc: list[Any] = [{"step": step}]
    if draw(st.booleans()):
        node = {"name": "n", "type": "execution", "step": "s"}
        if draw(st.booleans()):
            node["override"] = {"parameters": [dict(param, default=draw(st.one_of(json_values, numbers)))]}
        if draw(st.booleans()):
            node["actions"] = [{"when": "node-complete", "then": "stop-pipeline",
                                "if": draw(st.one_of(st.sampled_from(EXPRESSIONS), text_values))}]
        pipeline: dict[str, Any] = {
            "name": "pl", "nodes": [node, {"name": "m", "type": "execution", "step": "s"}],
            "edges": [[f"n.parameter.{param['name']}", f"m.parameter.{param['name']}"]],
        }
        if draw(st.booleans()):
            pipeline["parameters"] = [{"name": "pp", "target": f"m.parameter.{param['name']}",
                                       "default": draw(st.one_of(json_values, numbers))}]
        doc.append({"pipeline": pipeline})
    return doc


@fuzz(300)
@given(blueprint_documents())
def test_task_blueprints_never_crash(doc: list[Any]) -> None:
    run_driver(dump(doc))


@fuzz(300)
@given(parameter_documents())
def test_step_parameters_never_crash(doc: list[Any]) -> None:
    run_driver(dump(doc))


@fuzz(200)
@given(mutated_documents(kinds=["tweak", "tweak", "type", "socket", "truncate", "duplicate"], max_mutations=1))
def test_single_small_mutations_never_crash(case: tuple[str, Any]) -> None:
    """One value changed to another of the same kind: the file usually stays schema-valid, so
    this reaches the semantic checks, the IR and the passes."""
    _, data = case
    run_driver(dump(data))


# ============================================================================================
# 2. Raw text and byte fuzzing of the loader

SNIPPETS = [
    "\t", "  ", "    ", "\n", "\r\n", "\r", ":", ": ", "- ", "-", "? ", "#", "'", '"', "|", ">", "|-\n", "{", "}", "[", "]",
    ",", "&a ", "*a", "&a [1, 2]", "<<: *a\n", "<<: ", "<<: [*a, *b]\n", "!!python/object:os.system ",
    "!!python/object/apply:os.system ['true'] ", "!!binary ", "!!timestamp ", "!!float ", "!!int ", "!!str ", "!!map ",
    "!!seq ", "!!set ", "!!omap ", "!custom ", "!<tag:yaml.org,2002:str> ", "---\n", "...\n", "--- ", "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n", "[" * 80, "{a: " * 70, "\x00", "\ufeff", "\u2028", "\x85", "\x1b", "é", "😀", "~", "null",
    "2001-12-14t21:59:43.10-05:00", "0x1F", "1e400", "=", "<<", "@", "`", "%",
]


@st.composite
def text_mutations(draw: Any) -> str:
    text = SEED_TEXTS[draw(st.sampled_from(SEED_NAMES))]
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "insert", "delete", "replace", "dup-line", "indent"]))
        snippet = draw(st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=5)))
        if op == "insert":
            text = text[:pos] + snippet + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 40)):]
        elif op == "replace":
            text = text[:pos] + snippet + text[pos + len(snippet):]
        elif op == "dup-line":
            start = text.rfind("\n", 0, pos) + 1
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end + 1
            text = text[:end] + text[start:end] + text[end:]
        else:  # change the indentation of one line
            start = text.rfind("\n", 0, pos) + 1
            text = text[:start] + draw(st.sampled_from(["", " ", "\t", "   ", "        "])) + text[start:].lstrip(" ")
    return text


@st.composite
def byte_mutations(draw: Any) -> bytes:
    raw = bytearray(SEED_TEXTS[draw(st.sampled_from(SEED_NAMES))].encode("utf-8"))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(raw)))
        chunk = draw(st.one_of(
            st.binary(min_size=1, max_size=4),
            st.sampled_from([b"\xff", b"\xfe", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                             b"\xc0\xaf", b"\x00", b"\xef\xbb\xbf", b"\r", b"\t"]),
        ))
        op = draw(st.sampled_from(["insert", "replace", "delete"]))
        if op == "insert":
            raw[pos:pos] = chunk
        elif op == "replace":
            raw[pos:pos + len(chunk)] = chunk
        else:
            del raw[pos:pos + draw(st.integers(1, 16))]
    return bytes(raw)


@fuzz(300)
@given(st.text(max_size=200))
def test_random_text_loader(text: str) -> None:
    load_text_ok(text)


@fuzz(200)
@given(st.lists(st.sampled_from(SNIPPETS + ["a", "b", "1", "x: ", "- a\n", "\n  "]), max_size=40).map("".join))
def test_yaml_token_soup_loader(text: str) -> None:
    load_text_ok(text)


@fuzz(250)
@given(text_mutations())
def test_text_mutations_loader(text: str) -> None:
    load_text_ok(text)


@fuzz(150)
@given(text_mutations())
def test_text_mutations_never_crash_the_driver(text: str) -> None:
    run_driver(text)


@fuzz(200)
@given(byte_mutations())
def test_byte_mutations_loader(raw: bytes) -> None:
    load_bytes_ok(raw)


@fuzz(100)
@given(byte_mutations())
def test_byte_mutations_never_crash_the_driver(raw: bytes) -> None:
    run_driver(raw)


@fuzz(100)
@given(st.binary(max_size=300))
def test_random_bytes_loader(raw: bytes) -> None:
    load_bytes_ok(raw)


@fuzz(100)
@given(json_values)
def test_loader_agrees_with_safe_load(value: Any) -> None:
    """On plain data the event-built document is exactly what yaml.safe_load builds."""
    text = dump(value)
    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError:
        return  # PyYAML cannot read its own output back (rare unicode cases); nothing to compare
    doc = load_text_ok(text)
    assert doc is not None, text
    if _comparable(expected):
        assert doc.data == expected or _json_key(doc.data) == _json_key(expected)


def _comparable(value: Any) -> bool:
    """NaN never equals itself, and the loader keeps keys as written; skip those cases."""
    if isinstance(value, float):
        return not math.isnan(value)
    if isinstance(value, list):
        return all(_comparable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) for k in value) and all(_comparable(v) for v in value.values())
    return True


def _json_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# ============================================================================================
# 3. Adversarial documents


def billion_laughs(levels: int = 9, width: int = 10) -> str:
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * width)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_quickly() -> None:
    diags = Diagnostics()
    start = time.perf_counter()
    with pytest.raises(PipecError) as info:
        load_text(billion_laughs(), "laughs.yaml", diags)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"took {elapsed:.2f}s"
    messages = [d.message for d in info.value.diagnostics]
    assert any("alias" in m for m in messages), messages
    check_diagnostics(info.value.diagnostics, "laughs.yaml", billion_laughs())


def test_billion_laughs_through_the_driver() -> None:
    text = "- step:\n    name: s\n    image: i\n    command: c\n" + "- x:\n" + textwrap.indent(billion_laughs(), "    ")
    start = time.perf_counter()
    result = run_driver(text)
    assert time.perf_counter() - start < 5.0
    assert result is not None and result.has_errors
    assert any("alias" in d.message for d in result.diagnostics)


def test_billion_laughs_with_merge_keys_is_refused() -> None:
    lines = ["a0: &a0 {k0: lol, k1: lol}"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} {{<<: [{', '.join(f'*a{j}' for j in range(i))}], x{i}: [*a{i - 1}, *a{i - 1}, *a{i - 1}]}}")
    text = "\n".join(lines) + "\n"
    start = time.perf_counter()
    doc = load_text_ok(text)
    assert time.perf_counter() - start < 5.0
    assert doc is None


DEEP_SCRIPT = r"""
import sys
from pipec.driver import Request, load_workflows
from pipec.errors import Diagnostics, PipecError
from pipec.loader import load_text

N = 100_000
cases = {
    "flow-seq": "[" * N + "]" * N,
    "flow-map": "{a: " * N + "1" + "}" * N,
    "block-seq": "- " * N + "x\n",
    "mixed": "- step:\n    name: " + "[" * N + "\n",
}
failed = False
for name, text in cases.items():
    diags = Diagnostics()
    try:
        load_text(text, name + ".yaml", diags)
        print(name, "LOADED")
    except PipecError as exc:
        failed = True
        for d in exc.diagnostics:
            print(d.format_text())
path = sys.argv[1]
with open(path, "w", encoding="utf-8") as fh:
    fh.write(cases["flow-seq"])
result = load_workflows(Request(file=path))
for d in result.diagnostics:
    print(d.format_text())
sys.exit(1 if failed or result.has_errors else 0)
"""


def test_very_deep_nesting_is_refused_without_crashing_the_interpreter() -> None:
    target = WORKDIR / "deep.yaml"
    proc = subprocess.run(
        [sys.executable, "-c", DEEP_SCRIPT, str(target)],
        capture_output=True, text=True, timeout=120, check=False, cwd=str(REPO), env={"PYTHONPATH": str(COMPILER_DIR), "PATH": ""},
    )
    assert proc.returncode in (0, 1), (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr[-2000:]
    assert "LOADED" not in proc.stdout, proc.stdout[-2000:]
    # Located errors, whichever bound fired: pipec's 64 levels or a libyaml build's own.
    for name in ("flow-seq", "flow-map", "block-seq", "mixed"):
        assert re.search(rf"^{name}\.yaml:\d+:\d+: error: ", proc.stdout, re.MULTILINE), proc.stdout[-2000:]
    assert re.search(rf"^{re.escape(str(target))}:\d+:\d+: error: ", proc.stdout, re.MULTILINE), proc.stdout[-2000:]


@pytest.mark.parametrize("depth", [63, 64, 65, 200])
def test_nesting_around_the_limit(depth: int) -> None:
    doc = load_text_ok("[" * depth + "]" * depth)
    if depth <= 64:
        assert doc is not None
    else:
        assert doc is None


def test_file_over_the_size_limit_is_refused() -> None:
    raw = b"- step: {name: s, image: i, command: c}\n" * 30
    assert len(raw) > 1000
    diags = Diagnostics()
    with pytest.raises(PipecError) as info:
        load_bytes(raw, "big.yaml", diags, max_bytes=1000)
    messages = [d.message for d in info.value.diagnostics]
    assert any("limit" in m for m in messages), messages
    check_diagnostics(info.value.diagnostics)
    # At the limit it is read.
    doc = load_bytes(raw[:1000].rsplit(b"\n", 1)[0] + b"\n", "big.yaml", Diagnostics(), max_bytes=1000)
    assert isinstance(doc.data, list)


def test_file_over_the_default_size_limit_is_refused_by_the_driver() -> None:
    from pipec.loader import MAX_BYTES

    result = run_driver(b"#" * (MAX_BYTES + 1))
    assert result is not None and result.has_errors
    assert any("limit" in d.message for d in result.diagnostics)


def test_huge_flat_list_is_fine() -> None:
    n = 100_000
    start = time.perf_counter()
    doc = load_text_ok("".join(f"- {i}\n" for i in range(n)))
    assert doc is not None and doc.data == list(range(n))
    doc = load_text_ok("[" + ", ".join("x" for _ in range(n)) + "]")
    assert doc is not None and len(doc.data) == n
    assert time.perf_counter() - start < 30


def test_many_steps_are_fine() -> None:
    n = 2000
    text = "".join(f"- step:\n    name: step-{i}\n    image: alpine\n    command: echo {i}\n" for i in range(n))
    result = run_driver(text)
    assert result is not None and not result.has_errors
    assert len(result.workflows) == n


def test_long_chain_pipeline_is_ordered() -> None:
    n = 300
    nodes = "".join(f"      - {{name: n{i}, type: execution, step: s}}\n" for i in reversed(range(n)))
    edges = "".join(f"      - [n{i}.dependency.x, n{i + 1}.dependency.x]\n" for i in range(n - 1))
    text = ("- step: {name: s, image: alpine, command: echo}\n- pipeline:\n    name: chain\n    nodes:\n" + nodes
            + "    edges:\n" + edges)
    result = run_driver(text)
    assert result is not None and not result.has_errors
    (wf,) = result.workflows
    assert [j.id for j in wf.jobs] == [f"n{i}" for i in range(n)]


@pytest.mark.parametrize("text", [
    "!!python/object/apply:os.system ['echo pwned']\n",
    "- !!python/object:__main__.X {a: 1}\n",
    "- step: !!python/name:os.system\n",
    "a: !!binary aGVsbG8=\n",
    "a: !!set {x, y}\n",
    "a: !!omap [x: 1]\n",
    "a: !custom 1\n",
    "a: !!int nope\n",
    "a: !!float nope\n",
    "a: 2001-02-30\n",
    "? [a, b]\n: c\n",
    "? {a: b}\n: c\n",
    "*undefined\n",
    "a: &x 1\nb: *y\n",
    "<<: 1\n",
    "<<: [1, 2]\n",
    "a: &a {x: 1}\nb: {<<: *a, <<: *a}\n",
    "--- a\n--- b\n",
    "---\n...\n---\n",
    "%YAML 9.9\n--- a\n",
    "\t- a\n",
    "a:\n\t- b\n",
    "- a\n b\n- c: d: e\n",
    "\ufeff- a\n",
    "",
    "   ",
    "# only a comment\n",
    "~\n",
    "'\n",
    '"\\x"\n',
    '"\\uD800"\n',
])
def test_adversarial_yaml_snippets(text: str) -> None:
    load_text_ok(text)
    run_driver(text)


@pytest.mark.parametrize("raw", [
    b"\xff\xfe- a\n",
    b"- step:\n    name: \xc3\x28\n",
    b"- a\n- \xed\xa0\x80\n",
    b"\xef\xbb\xbf\xef\xbb\xbf- a\n",
    b"- a\n\x00\n",
    b"\xfe\xff\x00-\x00 \x00a",
])
def test_invalid_encodings(raw: bytes) -> None:
    load_bytes_ok(raw)
    run_driver(raw)


def test_invalid_utf8_is_located() -> None:
    diags = Diagnostics()
    with pytest.raises(PipecError) as info:
        load_bytes(b"- a\n- b\xff\n", "f.yaml", diags)
    (d,) = info.value.diagnostics
    assert "UTF-8" in d.message
    assert (d.location.line, d.location.col) == (2, 4)


def test_directory_and_missing_file_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        load_workflows(Request(file=str(WORKDIR / "does-not-exist.yaml")))
    with pytest.raises(UsageError):
        load_workflows(Request(file=str(WORKDIR)))


# ============================================================================================
# Regressions: minimal reproductions of crashes the fuzzers (and reading the code they pointed
# at) found. Each crashed before its fix; the comment names where.

STEP = "- step:\n    name: s\n    image: i\n    command: c\n"


def task_doc(ttype: str, param: str, extra: str = "") -> str:
    """A step with float `p` / integer `q`, a task blueprint over it and a pipeline running it."""
    return (
        "- step:\n    name: s\n    image: i\n    command: c\n    parameters:\n"
        "      - {name: p, type: float, default: 1}\n      - {name: q, type: integer, default: 1}\n"
        f"- task:\n    name: t\n    step: s\n    type: {ttype}\n{extra}    parameters:\n      - {param}\n"
        "- pipeline:\n    name: pl\n    nodes:\n      - {name: n, type: task, task: t}\n    edges: []\n"
    )


def assert_refused(text: str) -> Result:
    result = run_driver(text)
    assert result is not None and result.has_errors, [d.format_text() for d in result.diagnostics] if result else None
    return result


# A bad time-limit in a steps-only file was linted, then parsed again (ValueSyntaxError) when
# building the step's workflow.
@pytest.mark.parametrize("text", [
    STEP + "    time-limit: 1H\n",
    STEP + "    time-limit: '300'\n",
    STEP + "    time-limit: 0\n",
], ids=["1H", "'300'", "0"])
def test_regression_bad_time_limit_in_steps_only_file(text: str) -> None:
    result = assert_refused(text)
    assert any("time-limit" in d.message for d in result.diagnostics)


# Loader: PyYAML's scalar constructors raise IndexError / KeyError / AttributeError (not only
# ValueError) on some explicitly tagged scalars; load_text lets them escape.
@pytest.mark.parametrize("text", [
    "a: !!int\n",  # IndexError in construct_yaml_int
    "a: !!int +\n",
    "a: !!float _\n",  # IndexError in construct_yaml_float
    "a: !!bool maybe\n",  # KeyError in construct_yaml_bool
    "a: !!timestamp nope\n",  # AttributeError in construct_yaml_timestamp
])
def test_regression_bad_tagged_scalar_is_a_located_error(text: str) -> None:
    diags = Diagnostics()
    with pytest.raises(PipecError) as info:
        load_text(text, "f.yaml", diags)
    check_diagnostics(info.value.diagnostics, "f.yaml", text)
    assert [d.location.line for d in info.value.diagnostics] == [1]


# Loader: an alias used as a mapping key keeps the anchored value's type (int, None, date,
# float), although keys are meant to stay strings; the schema layer's did-you-mean then calls
# str methods on it (AttributeError / TypeError in schema.did_you_mean).
ALIAS_KEYS = [
    STEP.replace("name: s", "name: &k 5") + "    *k : y\n",
    "- x: &k ~\n- step: {name: s, image: i, command: c, *k : y}\n",
    "- x: &k 2001-01-01\n- step: {name: s, image: i, command: c, *k : y}\n",
    "- x: &k 1.5\n" + STEP + "    parameters:\n      - {name: p, *k : 1}\n",
]


@pytest.mark.parametrize("text", ALIAS_KEYS, ids=["int", "null", "date", "float"])
def test_regression_alias_as_mapping_key(text: str) -> None:
    doc = load_text(text, "f.yaml", Diagnostics())
    assert not non_string_keys(doc.data), non_string_keys(doc.data)
    assert_refused(text)


# Front end, resources lowering (`_resources`): int()/float() of non-finite or huge numbers the
# schema accepts as numbers.
@pytest.mark.parametrize("resources", [
    "memory: {min: .inf}",  # OverflowError: int(inf)
    "memory: {max: -.inf}",
    "memory: {min: .nan}",  # ValueError: int(nan)
    "devices: {nvidia.com/gpu: .inf}",  # OverflowError in the gpu count
    "devices: {nvidia.com/gpu: .nan}",  # ValueError (NaN passes 'minimum: 1')
    f"devices: {{fpga: {2**1100}}}",  # OverflowError: float(huge int)
], ids=["memory-inf", "memory-minus-inf", "memory-nan", "gpu-inf", "gpu-nan", "device-huge-int"])
def test_regression_non_finite_or_huge_resources(resources: str) -> None:
    assert_refused(STEP + f"    resources:\n      {resources}\n")


# Front end, task blueprint sweeps (`_seed`): int() of a non-finite `rules.seed`.
@pytest.mark.parametrize("seed", [".inf", ".nan"])
def test_regression_non_finite_random_seed(seed: str) -> None:
    assert_refused(task_doc("random_search", f"{{name: p, style: random, rules: {{min: 0, max: 1, seed: {seed}}}}}",
                            "    execution-count: 2\n"))


# frontends/valohai/sweep_rules.py `_number`: math.isfinite() of an int too large for a float raises OverflowError.
@pytest.mark.parametrize("param", [
    f"{{name: p, style: linear, rules: {{start: 0, end: {10**400}, step: 1}}}}",
    f"{{name: p, style: logspace, rules: {{start: {2**1100}, end: 1, count: 1}}}}",
    f"{{name: p, style: random, rules: {{min: 0, max: {2**1100}}}}}",
], ids=["linear", "logspace", "random"])
def test_regression_huge_integer_sweep_rule(param: str) -> None:
    ttype = "random_search" if "random" in param else "grid_search"
    assert_refused(task_doc(ttype, param, "    execution-count: 2\n"))


# frontends/valohai/sweep_rules.py `_linear`: with a tiny step next to large bounds the tolerance is infinite and
# math.floor(inf) raises OverflowError.
def test_regression_linear_tiny_step_next_to_large_bounds() -> None:
    assert_refused(task_doc("grid_search", "{name: p, style: linear, rules: {start: 1.0e+300, end: 1.0e+300, step: 1.0e-300}}"))


# ir/sweep.py `_sample`: a random integerified axis whose span overflows to inf; load_workflows
# succeeds, then Sweep.row() (which every back end calls) raises OverflowError on int(round(inf)).
def test_regression_random_integerify_row_with_huge_span() -> None:
    text = task_doc("random_search", "{name: q, style: random, rules: {min: -1.0e+308, max: 1.0e+308, integerify: true}}",
                    "    execution-count: 2\n")
    path = write_file(text)
    result = load_workflows(Request(file=str(path)))
    for wf in result.workflows:
        for job in wf.jobs:
            if job.sweep is not None and job.sweep.size:
                row = job.sweep.row(0)
                assert isinstance(row["q"], int)


# Front end checks (`param_value_problem`): float() of a huge integer default/choice for a numeric
# parameter raises OverflowError.
@pytest.mark.parametrize("ptype", ["integer", "float"])
def test_regression_huge_integer_parameter_default(ptype: str) -> None:
    result = run_driver(STEP + f"    parameters:\n      - {{name: p, type: {ptype}, default: {10**400}, min: 0}}\n")
    assert result is not None


# Front end values (`check_expression`): ast.parse raises RecursionError / MemoryError (not SyntaxError)
# on long flat expressions; only SyntaxError and ValueError are caught.
@pytest.mark.parametrize("expression", ["a+" * 5000 + "a", "a." * 5000 + "a", "not " * 10000 + "a", "-" * 10000 + "1"],
                         ids=["binop", "attribute", "not", "unary-minus"])
def test_regression_long_stop_condition(expression: str) -> None:
    result = assert_refused(STEP + f"    stop-condition: {expression}\n")
    assert any("stop-condition" in d.message for d in result.diagnostics)


def test_regression_long_action_condition() -> None:
    text = (STEP + "- pipeline:\n    name: pl\n    nodes:\n      - name: n\n        type: execution\n        step: s\n"
            "        actions:\n          - {when: node-complete, then: stop-pipeline, if: '" + "a+" * 5000 + "a'}\n"
            "    edges: []\n")
    assert_refused(text)
