"""Bad runnable input never crashes: mutated examples (broken links, cycles, odd values, deep
nesting, huge loops and maps), mutated text (anchors, aliases, merge keys, tabs), random text,
odd `--params` files and odd RUNNABLE_PRM_ environment variables all end in located
diagnostics (or a usage error), never an exception; what check accepts compiles (or is
refused with located errors) on every target. Scaled by PIPEC_FUZZ_SCALE like
tests/test_fuzz.py."""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipec.driver import Request, UsageError, load_workflows
from pipec.errors import Diagnostics
from tests.frontends.runnable.test_schema import VALID
from tests.paths import ROOT

EXAMPLES = sorted(p for p in (ROOT / "examples" / "runnable").glob("*.yaml") if p.name != "params.yaml")
PARAMS_TEXT = (ROOT / "examples" / "runnable" / "params.yaml").read_text(encoding="utf-8")
TEXTS = {**{p.name: p.read_text(encoding="utf-8") for p in EXAMPLES}, **{f"schema:{k}": v for k, v in VALID.items()}}
PLAIN = {name: yaml.safe_load(text) for name, text in TEXTS.items()}
SCALE = float(os.environ.get("PIPEC_FUZZ_SCALE", "1"))
TARGETS = ("argo", "gha", "slurm")
WORKDIR = Path(tempfile.mkdtemp(prefix="pipec-runnable-fuzz-"))
# A site with a pipec.toml (an image, a python, profiles that `overrides:` select), beside
# WORKDIR's bare one (no configuration: the default image, a warning on Argo and GHA).
SITE = WORKDIR / "site"
SITE.mkdir()
(SITE / "pipec.toml").write_text(
    '[runnable]\nimage = "python:3.12-slim"\npython = "python3 -u"\n\n'
    '[profiles.gpu]\nimage = "nvidia/cuda:12.4.0-runtime-ubuntu22.04"\ngpus = 1\nmemory = 16384\n\n'
    '[profiles.big]\ncpus = 8\npartition = "long"\n\n[slurm]\ncontainer = "none"\n', encoding="utf-8")
FUZZ = settings(max_examples=max(1, int(60 * SCALE)), deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))
FEW = settings(FUZZ, max_examples=max(1, int(20 * SCALE)))

TERMINALS = ["success", "fail"]
ODD_VALUES = [None, True, False, 0, -1, 2**70, 10**9, 1.5, float("nan"), "", " ", "a.b", "a%b", "success", "fail",
              "{{", "{{ x }}", "$(id)`id`", "a\nb", "é\u202e", "\x00", "'\"\\", "x" * 300, "lambda *x: max(x)",
              "*", "**/", "[", "[z-a]", "[!]x]", "[[:alpha:]]", "a\\", "../../etc/passwd", [], {}, ["a", 1],
              {"k": "v"}, [{"name": "x"}], {"start_at": "s", "steps": {}}]
ODD_NAMES = ["", " ", "a.b", "a%b", "success", "fail", "x y", "1x", "class", "é", "{{x}}", "$(id)", "a\nb", "x" * 200]
REDUCERS = [None, 1, "", "{{", "{{ x }}", "lambda *x: max(x)", "lambda *x: '{{' + str(x)", "$(id)`id`", "a\nb",
            "lambda *x: 'é\u202e'", "os.system", "lambda: (", "\x00", "}}"]
GLOBS = ["*", "**", "**/*.csv", "?", "[", "[]]", "[z-a]", "[!]x]", "[[:alpha:]]", "a\\", "/abs", "../up", "", ".",
         "é\u202e", "$(id)", "{{x}}", "a\nb", "x" * 300, "data folder/*.txt"]
SECRETS = ["", "a b", "$(id)", "é", "A=B", "x\ny", "PATH", "GITHUB_TOKEN", "API_KEY", "API_KEY", "{{x}}"]
PROFILES = ["gpu", "big", "nowhere", "", "a.b", "$(id)"]
COUNTS = [None, 0, -1, 1, 2, 3, 1000, 1001, 10**9, 2**70, "5", 1.5, True]
KINDS = ["task", "stub", "parallel", "map", "conditional", "loop", "success", "fail", "bogus", None, 1]


def run(text: str | bytes, target: str | None = None, params: str | bytes | None = None,
        env: dict[str, str] | None = None, site: bool = False) -> list[str]:
    path = (SITE if site else WORKDIR) / "wf.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    options: dict[str, Any] = {}
    if params is not None:
        ppath = WORKDIR / "params.yaml"
        if isinstance(params, bytes):
            ppath.write_bytes(params)
        else:
            ppath.write_text(params, encoding="utf-8")
        options["params"] = str(ppath)
    with mock.patch.dict(os.environ, env or {}):
        try:
            result = load_workflows(Request(str(path), target=target, options=options))
        except UsageError as exc:
            assert str(exc).strip()
            return []
        for d in result.diagnostics:
            assert d.location.line >= 1 and d.location.col >= 1 and d.message.strip(), d
            d.format_text()
        if target is not None and result.workflows:
            from pipec.backends import load

            diags = Diagnostics(list(result.diagnostics))
            load(target).compile_workflows(result.workflows, result.config, diags)
            for d in diags.items:
                assert d.location.line >= 1 and d.location.col >= 1 and d.message.strip(), d
                d.format_text()
    return [d.severity.value for d in result.diagnostics]


def run_everywhere(text: str | bytes, params: str | bytes | None = None, env: dict[str, str] | None = None,
                   site: bool = False) -> None:
    """Check; what check accepts, compile on every target."""
    if "error" not in run(text, None, params, env, site):
        for target in TARGETS:
            run(text, target, params, env, site)


# --------------------------------------------------------------------------- the document's shape


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            found += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += paths(v, prefix + (i,))
    return found


def get(data: Any, where: tuple[Any, ...]) -> Any:
    for key in where:
        data = data[key]
    return data


def graphs_in(data: Any) -> list[tuple[Any, ...]]:
    """Paths of the mappings that look like graphs (`steps:` a mapping)."""
    return [p for p in paths(data) if isinstance(get(data, p), dict) and isinstance(get(data, p).get("steps"), dict)]


def steps_in(data: Any) -> list[tuple[Any, ...]]:
    """Paths of every step mapping of every graph."""
    return [g + ("steps", name) for g in graphs_in(data) for name, step in get(data, g)["steps"].items()
            if isinstance(step, dict)]


def step_names(data: Any) -> list[str]:
    return sorted({str(p[-1]) for p in steps_in(data)})


def returned_names(data: Any) -> list[str]:
    names = set()
    for p in steps_in(data):
        for r in get(data, p).get("returns") or []:
            if isinstance(r, dict) and isinstance(r.get("name"), str):
                names.add(r["name"])
    return sorted(names)


def of_type(data: Any, steps: list[tuple[Any, ...]], *kinds: str) -> list[tuple[Any, ...]]:
    """The steps of one of `kinds`."""
    return [p for p in steps if get(data, p).get("type") in kinds]


def leaf_graph(name: str = "t") -> dict[str, Any]:
    return {"start_at": name, "steps": {name: {"type": "task", "command": "mod.f", "returns": [{"name": "v"}],
                                               "next": "success"}}}


def wrap(kind: str, graph: dict[str, Any], width: int, level: int, count: int = 2) -> dict[str, Any]:
    """A one-step graph whose step is a `kind` composite around `graph` (`width` branches)."""
    if kind == "parallel":
        step = {"type": "parallel", "branches": {f"b{i}": copy.deepcopy(graph) for i in range(width)}}
    elif kind == "conditional":
        step = {"type": "conditional", "parameter": "side", "branches": {f"k{i}": copy.deepcopy(graph)
                                                                         for i in range(width)}}
    elif kind == "map":
        step = {"type": "map", "iterate_on": "items", "iterate_as": f"item{level}", "branch": copy.deepcopy(graph)}
    else:
        step = {"type": "loop", "max_iterations": count, "break_on": "done", "index_as": f"i{level}",
                "branch": copy.deepcopy(graph)}
    step["next"] = "success"
    return {"start_at": "c", "steps": {"c": step}}


# --------------------------------------------------------------------------- mutations


@st.composite
def mutated_data(draw: Any) -> Any:
    data = copy.deepcopy(PLAIN[draw(st.sampled_from(sorted(PLAIN)))])
    for _ in range(draw(st.integers(1, 4))):
        if not isinstance(data, dict):
            break
        places = paths(data)[1:]
        steps = steps_in(data)
        graphs = graphs_in(data)
        if not places:
            break
        # The generic mutations mostly end at the schema; the runnable ones mostly pass it and
        # reach the graph checks, the lowering and the back ends.
        action = draw(st.sampled_from(["value", "delete", "duplicate", "rename", "listify"] +
                                      ["link", "link", "cycle", "retype", "wrap", "wrap", "count", "iterate",
                                       "iterate", "parameter", "reducer", "returns", "catalog", "secrets",
                                       "overrides"] * 2))
        if action in ("value", "delete", "duplicate", "rename", "listify"):
            where = draw(st.sampled_from(places))
            parent = get(data, where[:-1])
            key = where[-1]
            if action == "delete" and isinstance(parent, dict):
                del parent[key]
            elif action == "duplicate" and isinstance(parent, list):
                parent.append(copy.deepcopy(parent[key]))
            elif action == "duplicate" and isinstance(parent, dict):
                parent[draw(st.sampled_from(ODD_NAMES + step_names(data)))] = copy.deepcopy(parent[key])
            elif action == "rename" and isinstance(parent, dict):
                parent[draw(st.sampled_from(ODD_NAMES + step_names(data) + ["next", "type"]))] = parent.pop(key)
            elif action == "listify" and isinstance(parent[key], dict):
                parent[key] = draw(st.sampled_from([list(parent[key].values()), [parent[key]], list(parent[key])]))
            else:
                parent[key] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
        elif action == "link" and (steps or graphs):
            # next / on_failure / start_at: itself, a step of another graph, a terminal, nothing.
            names = step_names(data) + TERMINALS + ["nowhere", "", "a.b", None, 1]
            if steps and draw(st.booleans()):
                where = draw(st.sampled_from(steps))
                key = draw(st.sampled_from(["next", "on_failure"]))
                get(data, where)[key] = draw(st.sampled_from(names + [where[-1]]))
            elif graphs:
                get(data, draw(st.sampled_from(graphs)))["start_at"] = draw(st.sampled_from(names))
        elif action == "cycle" and graphs:
            graph = get(data, draw(st.sampled_from(graphs)))
            names = [n for n, s in graph["steps"].items() if isinstance(s, dict)]
            if names:
                ring = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
                key = draw(st.sampled_from(["next", "on_failure"]))
                for a, b in zip(ring, ring[1:] + ring[:1]):
                    graph["steps"][a][key] = b
                if draw(st.booleans()):
                    graph["start_at"] = ring[0]
        elif action == "retype" and steps:
            where = draw(st.sampled_from(steps))
            step = get(data, where)
            key = draw(st.sampled_from(["type", "command_type"]))
            step[key] = draw(st.sampled_from(KINDS if key == "type" else
                                             ["python", "shell", "notebook", "async-python", "bash", None]))
        elif action == "wrap" and steps:
            # A step becomes a composite around a copy of some graph of the document.
            where = draw(st.sampled_from(steps))
            inner = copy.deepcopy(get(data, draw(st.sampled_from(graphs)))) if graphs else leaf_graph()
            kind = draw(st.sampled_from(["parallel", "conditional", "map", "loop"]))
            old = get(data, where)
            get(data, where[:-1])[where[-1]] = {**wrap(kind, inner, draw(st.integers(1, 3)), len(where),
                                                       draw(st.sampled_from([0, 1, 2, 3])))["steps"]["c"],
                                                 "next": old.get("next", "success")}
        elif action == "count" and of_type(data, steps, "loop"):
            step = get(data, draw(st.sampled_from(of_type(data, steps, "loop"))))
            step["max_iterations"] = draw(st.sampled_from(COUNTS))
        elif action == "iterate" and of_type(data, steps, "map", "loop"):
            # A map over a name a step returns, the branch returns, a parameter, or nothing.
            step = get(data, draw(st.sampled_from(of_type(data, steps, "map", "loop"))))
            key = draw(st.sampled_from(["iterate_on", "iterate_as"] if step.get("type") == "map" else
                                       ["break_on", "index_as"] if step.get("type") == "loop" else
                                       ["iterate_on", "iterate_as", "break_on", "index_as"]))
            step[key] = draw(st.sampled_from(returned_names(data) + ["chunks", "count", "side", "nothing"] + ODD_NAMES))
        elif action == "parameter" and of_type(data, steps, "conditional"):
            step = get(data, draw(st.sampled_from(of_type(data, steps, "conditional"))))
            step["parameter"] = draw(st.sampled_from(returned_names(data) + ["side", "coin", "x1", "a\n"] + ODD_NAMES))
        elif action == "reducer" and of_type(data, steps, "map"):
            get(data, draw(st.sampled_from(of_type(data, steps, "map"))))["reducer"] = draw(st.sampled_from(REDUCERS))
        elif action == "returns" and of_type(data, steps, "task"):
            step = get(data, draw(st.sampled_from(of_type(data, steps, "task"))))
            step["returns"] = [{"name": draw(st.sampled_from(ODD_NAMES + returned_names(data) + ["chunks", "done"])),
                                "kind": draw(st.sampled_from(["json", "json", "object", "metric", None, "pickle"]))}
                               for _ in range(draw(st.integers(0, 3)))]
        elif action == "catalog" and of_type(data, steps, "task"):
            step = get(data, draw(st.sampled_from(of_type(data, steps, "task"))))
            step["catalog"] = {key: draw(st.lists(st.sampled_from(GLOBS), max_size=3))
                               for key in draw(st.sets(st.sampled_from(["get", "put"]), min_size=1))}
        elif action == "secrets" and of_type(data, steps, "task"):
            step = get(data, draw(st.sampled_from(of_type(data, steps, "task"))))
            step["secrets"] = draw(st.lists(st.sampled_from(SECRETS), max_size=3))
        elif action == "overrides" and of_type(data, steps, "task", "parallel", "map", "loop", "conditional"):
            step = get(data, draw(st.sampled_from(of_type(data, steps, "task", "parallel", "map", "loop",
                                                          "conditional"))))
            step["overrides"] = draw(st.dictionaries(st.sampled_from(["argo", "local-container", "slurm"]),
                                                     st.sampled_from(PROFILES), max_size=2))
    return data


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


PARAM_NAMES = ["chunks", "count", "greeting", "side", "needed", "coin", "done", "items", "i", "chunk", "x1", *ODD_NAMES,
               1, None, True]
PARAM_VALUES = [None, True, 0, -1, 10**18, 2**70, 1.5, float("inf"), float("nan"), "", "heads", "tails", "k0", [],
                [1, 2, 3], list(range(1001)), [[1], [2]], [{"k": 1}], {"k": "v"}, "{{x}}", "$(id)", "a\nb", "é\u202e",
                [None], ["a", "a", "a"], {"chunks": [1]}]
PARAM_TEXTS = ["- 1\n- 2\n", "42\n", "", "~\n", "\n\n# only a comment\n", "\t- x\n", "chunks: *nope\n",
               "chunks: &x [*x]\n", "chunks: [1]\nchunks: [2]\n", "chunks: !!set {a, b}\n",
               "chunks: !!python/object:os.system x\n", "? [a, b]\n: 1\n", "? {a: 1}\n: 1\n", "chunks: 0x10\n",
               "chunks: 1_000\n", "chunks: .inf\n", "chunks: .nan\n", "chunks: 1e999\n", "chunks: 2020-01-01\n",
               "chunks: [2001-12-14t21:59:43.10-05:00]\n", "chunks: !!binary aGVsbG8=\n",
               "chunks: 123456789012345678901234567890\n", "base: &b {chunks: [1, 2]}\n<<: *b\n", "<<: 1\n",
               "chunks: [1, 2\n", "{chunks: [1, 2], chunks: [3]}\n", "---\nchunks: [1]\n---\nchunks: [2]\n",
               "chunks: [" + ", ".join(["1"] * 1001) + "]\n", "side: !!str\n", "'': 1\n", "null: 1\n", "1: 1\n",
               b"\xff\xfe\x00c", b"chunks: [1]\xff\n", "\ufeffchunks: [1, 2]\n"]
ENV_NAMES = ["RUNNABLE_PRM_CHUNKS", "RUNNABLE_PRM_chunks", "RUNNABLE_PRM_COIN", "RUNNABLE_PRM_SIDE",
             "RUNNABLE_PRM_DONE", "RUNNABLE_PRM_ITEMS", "RUNNABLE_PRM_A.B", "RUNNABLE_PRM_1X", "RUNNABLE_PRM_É",
             "RUNNABLE_PRM_ ", "RUNNABLE_PRM__", "RUNNABLE_PRM_CLASS", "RUNNABLE_PRM_X%Y"]
ENV_VALUES = ["[1,2,3]", "not json", "", "null", "1e999", "NaN", "-Infinity", '"x"', '{"a":1}', "[[1],[2]]", "true",
              "[]", "[" + ",".join(["1"] * 2000) + "]", "é\u202e", "$(id)", "a\nb", "{{x}}", "12345678901234567890123",
              "heads", "k0", "[1, 2", "\t"]


@st.composite
def params_file(draw: Any) -> str | bytes | None:
    choice = draw(st.sampled_from(["none", "example", "text", "mapping"]))
    if choice == "none":
        return None
    if choice == "example":
        return PARAMS_TEXT
    if choice == "text":
        return draw(st.sampled_from(PARAM_TEXTS))
    mapping = draw(st.dictionaries(st.sampled_from(PARAM_NAMES), st.sampled_from(PARAM_VALUES), max_size=4))
    return dump(mapping)


environments = st.dictionaries(st.sampled_from(ENV_NAMES), st.sampled_from(ENV_VALUES), max_size=3)


# --------------------------------------------------------------------------- the fuzz tests


@pytest.mark.fuzz
@FUZZ
@given(mutated_data(), st.booleans())
def test_mutated_examples_never_crash(data: Any, site: bool) -> None:
    run_everywhere(dump(data), site=site)


@pytest.mark.fuzz
@FUZZ
@given(mutated_data(), params_file(), environments)
def test_mutated_examples_with_odd_parameters_never_crash(data: Any, params: str | bytes | None,
                                                          env: dict[str, str]) -> None:
    run_everywhere(dump(data), params, env)


@pytest.mark.fuzz
@FUZZ
@given(st.sampled_from(sorted(TEXTS)), params_file(), environments)
def test_examples_with_odd_parameters_never_crash(name: str, params: str | bytes | None, env: dict[str, str]) -> None:
    run_everywhere(TEXTS[name], params, env)


TEXT_PIECES = ["x: &a\n", "y: *a\n", "y: *nope\n", "<<: *branch\n", "  <<: *branch\n", "<<: [*branch, *leaf]\n",
               "    <<: 1\n", "      <<: *inner\n", "r: &r [*r]\n", "&a a: *a\n", "\t- x\n", "\tstart_at: x\n",
               "  steps: *branch\n", "      branch: *dag\n", "dag: &dag\n", "      branch: &loop\n",
               "        <<: *loop\n", "? [a]\n: b\n", "!!python/object:os.system x\n", "---\n", "...\n",
               "%YAML 1.1\n", "\ufeff",
               "      next: *branch\n", "      next: &n a\n", "  start_at: !!int 1\n", "dag: 1\n", "  steps: []\n",
               "  start_at: success\n", "      next: fail\n", "      on_failure: success\n", "    x%y: {type: stub}\n",
               "    a.b: {type: stub, next: success}\n", "      max_iterations: 1000000000\n", "\t\n", "  # {{ x }}\n"]


@pytest.mark.fuzz
@FUZZ
@given(st.sampled_from(sorted(TEXTS)), st.data())
def test_mutated_text_never_crashes(name: str, data: Any) -> None:
    lines = TEXTS[name].splitlines(keepends=True) or ["\n"]
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["insert", "insert", "tab", "delete", "duplicate", "indent", "dedent"]))
        if action == "insert":
            lines.insert(index, data.draw(st.sampled_from(TEXT_PIECES)))
        elif action == "tab":
            stripped = lines[index].lstrip(" ")
            lines[index] = "\t" * max(1, (len(lines[index]) - len(stripped)) // 2) + stripped
        elif action == "delete" and len(lines) > 1:
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[index])
        elif action == "indent":
            lines[index] = "  " + lines[index]
        else:
            lines[index] = lines[index][2:] if lines[index].startswith("  ") else lines[index]
    run_everywhere("".join(lines))


RECURSIVE = {
    # An anchor used inside its own definition, directly and through a merge key.
    "self-branch": "dag: &d\n  start_at: p\n  steps:\n    p: {type: parallel, branches: {x: *d}, next: success}\n",
    "self-merge": "dag: &d\n  start_at: p\n  steps:\n    p:\n      type: loop\n      max_iterations: 2\n"
                  "      break_on: b\n      index_as: i\n      branch:\n        <<: *d\n      next: success\n",
    "self-flow": "g: &g {start_at: s, steps: {s: {type: parallel, branches: {a: *g}, next: success}}}\ndag: *g\n",
    # Merge keys: of a mapping, of a list with a scalar, overridden, of a step, of steps in a cycle.
    "merge": "base: &b {start_at: s}\ndag:\n  <<: *b\n  steps: {s: {type: stub, next: success}}\n",
    "merge-scalar": "base: &b {start_at: s}\ndag:\n  <<: [*b, 1]\n  steps: {s: {type: stub, next: success}}\n",
    "merge-overridden": "base: &b {start_at: nowhere}\ndag:\n  <<: *b\n  start_at: s\n"
                        "  steps: {s: {type: stub, next: success}}\n",
    "merge-step": "s: &s {type: stub, next: s}\ndag:\n  start_at: s\n  steps:\n    s: {<<: *s}\n",
    "merge-cycle": "s: &s {type: task, command: m.f}\ndag:\n  start_at: a\n  steps:\n"
                   "    a: {<<: *s, next: b}\n    b: {<<: *s, next: a}\n",
    # Aliases as keys and as step names.
    "alias-key": "n: &n a\ndag:\n  start_at: *n\n  steps:\n    *n : {type: stub, next: *n}\n",
    "anchored-key": "dag:\n  start_at: a\n  steps:\n    &k a: {type: stub, next: success}\n"
                    "    b: {type: stub, next: *k}\n",
}


@pytest.mark.parametrize("indent", [None, "\t", "    "], ids=["as-is", "tab", "wide"])
@pytest.mark.parametrize("name", sorted(RECURSIVE))
def test_recursive_and_merged_anchors_never_crash(name: str, indent: str | None) -> None:
    text = RECURSIVE[name]
    run_everywhere(text if indent is None else text.replace("  ", indent, 1))


@pytest.mark.fuzz
@FUZZ
@given(st.text(alphabet=st.sampled_from(list("dag:start_steps- {}&*<>#\n\t'\"[]x0.%,!")), max_size=200))
def test_random_text_never_crashes(text: str) -> None:
    run_everywhere("dag:\n" + text)


@pytest.mark.fuzz
@FEW
@given(st.integers(1, 20), st.integers(1, 2), st.lists(st.sampled_from(["parallel", "conditional", "map", "loop"]),
                                                      min_size=1, max_size=3), st.booleans())
def test_deep_nesting_never_crashes(depth: int, width: int, kinds: list[str], with_params: bool) -> None:
    """Composites nested up to 20 deep (past the loader's depth limit); two branches, items or
    iterations at a level only while the jobs they multiply into stay few (at most 256)."""
    levels = [kinds[level % len(kinds)] for level in range(depth)]
    items = 2 if with_params and 2 ** levels.count("map") <= 16 else 1
    fan = items ** levels.count("map")
    graph = leaf_graph()
    for level, kind in enumerate(levels):
        n = 1 if kind == "map" else width if fan * width <= 256 else 1
        fan *= n
        graph = wrap(kind, graph, n, level, n)
    params = f"items: {list(range(items))}\nside: k0\n" if with_params else None
    run_everywhere(dump({"dag": graph}), params)


def doubling(depth: int) -> str:
    """Each level an anchored graph whose parallel step runs the level below twice, by alias:
    2**depth tasks from a few lines (until the loader's bound on alias expansion)."""
    lines = ["l0: &l0 {start_at: t, steps: {t: {type: task, command: m.f, next: success}}}"]
    lines += [f"l{i}: &l{i} {{start_at: p, steps: {{p: {{type: parallel, branches: {{a: *l{i - 1}, b: *l{i - 1}}}, "
              "next: success}}}}" for i in range(1, depth + 1)]
    return "\n".join(lines + [f"dag: *l{depth}"]) + "\n"


@pytest.mark.fuzz
@pytest.mark.parametrize("depth", [4, 12, 30])
def test_aliases_doubling_branches_never_crash(depth: int) -> None:
    run_everywhere(doubling(depth))


# --------------------------------------------------------------------------- large inputs


MILLION = "[" + ",".join(["1"] * 10**6) + "]"
MAP_DOC = dump({"dag": {"start_at": "m", "steps": {"m": {"type": "map", "iterate_on": "items", "iterate_as": "item",
                                                         "branch": leaf_graph(), "next": "success"}}}})


def errors(text: str, target: str | None = None, params: str | None = None,
           env: dict[str, str] | None = None) -> list[str]:
    path = WORKDIR / "big.yaml"
    path.write_text(text, encoding="utf-8")
    options: dict[str, Any] = {}
    if params is not None:
        (WORKDIR / "big-params.yaml").write_text(params, encoding="utf-8")
        options["params"] = str(WORKDIR / "big-params.yaml")
    with mock.patch.dict(os.environ, env or {}):
        result = load_workflows(Request(str(path), target=target, options=options))
    for d in result.diagnostics:
        assert d.location.line >= 1 and d.location.col >= 1 and d.message.strip(), d
    found = [d.format_text() for d in result.diagnostics if d.severity.value == "error"]
    if target is not None and not found:
        from pipec.backends import load

        diags = Diagnostics(list(result.diagnostics))
        files = load(target).compile_workflows(result.workflows, result.config, diags)
        found = [d.format_text() for d in diags.items if d.severity.value == "error"]
        assert files or found
    return found


@pytest.mark.fuzz
def test_a_map_over_a_million_items_is_a_located_error_from_the_file_and_the_environment() -> None:
    """pipec unrolls at most 1000 jobs: a list of 10**6 items is refused at the map, at once."""
    for params, env in ((f"items: {MILLION}\n", None), (None, {"RUNNABLE_PRM_ITEMS": MILLION})):
        found = errors(MAP_DOC, "slurm", params, env)
        assert len(found) == 1 and "would unroll into 1000000 jobs" in found[0], found
        assert found[0].startswith(f"{WORKDIR / 'big.yaml'}:"), found


@pytest.mark.fuzz
def test_a_chain_of_500_steps_compiles_for_slurm() -> None:
    steps = {f"s{i}": {"type": "task", "command": "mod.f", "returns": [{"name": f"v{i}"}],
                       "next": f"s{i + 1}" if i < 499 else "success"} for i in range(500)}
    text = dump({"dag": {"start_at": "s0", "steps": steps}})
    assert errors(text) == []
    assert errors(text, "slurm") == []


@pytest.mark.fuzz
def test_200_parallel_branches_of_3_steps_compile_for_slurm() -> None:
    branches = {f"b{i}": {"start_at": "a", "steps": {
        "a": {"type": "task", "command": "mod.f", "returns": [{"name": "x"}], "next": "b"},
        "b": {"type": "task", "command_type": "shell", "command": "echo $x", "next": "c"},
        "c": {"type": "stub", "next": "success"}}} for i in range(200)}
    text = dump({"dag": {"start_at": "p", "steps": {"p": {"type": "parallel", "branches": branches, "next": "end"},
                                                    "end": {"type": "task", "command": "mod.g", "next": "success"}}}})
    assert errors(text) == []
    assert errors(text, "slurm") == []


# --------------------------------------------------------------------------- known bugs
# Minimal reproductions of what the fuzzers found (each fixed).

STUB = "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: success}\n"


@pytest.mark.parametrize("params", ["x: 2020-01-01\n", "x: [2001-12-14t21:59:43.10-05:00]\n", "x: !!binary aGVsbG8=\n",
                                    "x: {y: .inf}\n"])
def test_regression_a_parameter_json_cannot_carry_is_a_located_error(params: str) -> None:
    """Was a TypeError from json.dumps in lower._param_value (a YAML date or !!binary in --params)."""
    assert "error" in run(STUB, None, params)


def loops(depth: int, count: int) -> str:
    graph = {"start_at": "s", "steps": {"s": {"type": "stub", "next": "success"}}}
    for level in range(depth):
        graph = wrap("loop", graph, 1, level, count)
    return dump({"dag": graph})


def test_regression_nested_loops_are_bounded_too() -> None:
    """Two loops of 40 around a stub unroll into 1600 jobs, past MAX_UNROLLED (1000); two of
    1000 into 10**6, which takes minutes and gigabytes instead of a located error."""
    found = errors(loops(2, 40))
    assert any("would unroll" in e for e in found), found


COLLIDING = {
    # The map's fan-out and fan-in jobs are named like the steps of its branch.
    "map-fan-in": "dag:\n  start_at: m\n  steps:\n    m:\n      type: map\n      iterate_on: xs\n"
                  "      iterate_as: x\n      branch:\n        start_at: fan-out\n        steps:\n"
                  "          fan-out: {type: task, command: mod.f, next: fan-in}\n"
                  "          fan-in: {type: task, command: mod.g, next: success}\n      next: success\n",
    # Branch names may hold '.': branch 'a.b.c' step 'd' is 'p.a.b.c.d', as is branch 'a' step 'b' branch 'c' step 'd'.
    "dotted-branch": "dag:\n  start_at: p\n  steps:\n    p:\n      type: parallel\n      branches:\n"
                     "        a:\n          start_at: b\n          steps:\n            b:\n"
                     "              type: parallel\n              branches:\n"
                     "                c: {start_at: d, steps: {d: {type: task, command: mod.g, next: success}}}\n"
                     "              next: success\n"
                     "        a.b.c: {start_at: d, steps: {d: {type: task, command: mod.h, next: success}}}\n"
                     "      next: success\n",
}


@pytest.mark.parametrize("name", sorted(COLLIDING))
def test_regression_colliding_internal_names_are_refused_or_kept(name: str) -> None:
    """Every task becomes a job, or pipec says why not."""
    path = WORKDIR / "colliding.yaml"
    path.write_text(COLLIDING[name], encoding="utf-8")
    result = load_workflows(Request(str(path)))
    tasks = COLLIDING[name].count("type: task")
    assert any(d.severity.value == "error" for d in result.diagnostics) or \
        sum(1 for j in result.workflows[0].jobs if j.kind.value != "stub") >= tasks + ("map" in name) * 2
