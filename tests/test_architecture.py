"""The architecture as tests: data flows one way (load -> validate -> IR -> passes -> emit),
nothing below the front ends knows a dialect, and the modules import each other without a
circle."""

from __future__ import annotations

import ast
import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from tests.paths import COMPILER_DIR, ROOT

PACKAGE = COMPILER_DIR / "pipec"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(COMPILER_DIR).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(name: str) -> set[str]:
    """The pipec modules `name` imports anywhere in its code (functions too), except imports
    made only for type checkers; `from pkg import sub` counts as importing the submodule."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        if _type_checking_only(node, parents):
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: imports(name) for name in MODULES}


def test_no_import_circle() -> None:
    sorter = TopologicalSorter(GRAPH)
    try:
        sorter.prepare()
    except CycleError as exc:
        pytest.fail("import circle: " + " -> ".join(exc.args[1]))


def _layer(prefix: str) -> list[str]:
    return [m for m in MODULES if m == prefix or m.startswith(prefix + ".")]


@pytest.mark.parametrize("layer", ["pipec.ir", "pipec.passes", "pipec.backends", "pipec.render"])
def test_nothing_below_the_front_ends_imports_them(layer: str) -> None:
    bad = {m: sorted(i for i in GRAPH[m] if i.startswith("pipec.frontends")) for m in _layer(layer)}
    assert not {m: i for m, i in bad.items() if i}


def test_front_ends_do_not_import_back_ends() -> None:
    bad = {m: sorted(i for i in GRAPH[m] if i.startswith("pipec.backends")) for m in _layer("pipec.frontends")}
    assert not {m: i for m, i in bad.items() if i}


def test_back_ends_import_no_pass_and_no_other_back_end() -> None:
    # A back end takes the IR as the passes left it; what several back ends need is shared in
    # pipec.backends' own modules (analysis, command, common, runtime, shell, yamltext).
    shared = {"pipec.backends", "pipec.backends.analysis", "pipec.backends.command", "pipec.backends.common",
              "pipec.backends.runtime", "pipec.backends.shell", "pipec.backends.yamltext"}
    for module in _layer("pipec.backends"):
        if module in shared:
            continue
        target = module.split(".")[2]
        for imported in GRAPH[module]:
            assert not imported.startswith("pipec.passes"), (module, imported)
            if imported.startswith("pipec.backends.") and imported not in shared:
                assert imported.split(".")[2] == target, (module, imported)


DIALECT_WORDS = re.compile(r"valohai|VH_", re.IGNORECASE)


def test_no_dialect_below_the_front_ends() -> None:
    # Valohai's names live in its front end (and its layout record, which exports VH_*).
    found = []
    for name, path in MODULES.items():
        # The command line is above the front ends: it names dialects in help texts and hands a
        # dialect's own generator (valohai-api) its options.
        # The catalogue of rule codes (pipec.rules) lists every front end's rules, as README does.
        if name.startswith(("pipec.frontends", "pipec.cli")) or name == "pipec.rules":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if DIALECT_WORDS.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    for path in sorted((ROOT / "templates").rglob("*")):
        if path.is_file():
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if DIALECT_WORDS.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)
