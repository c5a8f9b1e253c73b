"""Benchmark: pipec --target argo against building the same Workflow with hera, in-process.

1. A synthetic valohai.yaml with one pipeline of LAYERS x WIDTH execution nodes (default
   50 x 100 = 5,000): a layered DAG where every node past the first layer takes file edges
   `<up>.output.*.csv -> <node>.input.data` from one or two nodes of the previous layer. Four
   steps with distinct commands (three with parameters) take turns.

       pipec   pipec.driver.load_workflows(Request(file=..., target="argo"))
               + pipec.backends.argo.compile_workflows(...)     (what `pipec compile` does)
       hera    Workflow / DAG / Container from hera.workflows: one DAG task per node with the
               same name, template, `depends` and arguments (names and values) as pipec's
               main DAG, one container template per step and number of upstream jobs as
               pipec makes them (a template holds its command; jobs share it when only
               their values differ), the
               same annotations and volumes, then Workflow.to_yaml()

   Both are timed in this process after their imports (median of --repeat runs, 3 by
   default), with the cyclic garbage collector off as `pipec` itself runs (--gc keeps it on,
   for both). Before timing, the two manifests' main DAGs are compared task by task. The
   manifest is larger than the 1 MiB Kubernetes object limit pipec enforces by default, so a
   pipec.toml beside the generated file raises [argo] max_object_bytes: the benchmark measures
   compilation, and prints the size.

2. A product grid of GRID executions (100 x 100 x 10 = 100,000) as one Valohai task node: the
   manifest must stay small (the pod expands the grid from withSequence), under 64 KiB.

Exit 1 when pipec is slower than hera, when the grid manifest is 64 KiB or more, or when a
pipeline does not compile.

    PYTHONPATH=compiler python3 bench/argo_compile.py
    PYTHONPATH=compiler python3 bench/argo_compile.py --layers 20 --width 50 --repeat 5
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "compiler"))

import yaml

# Imported before any timing: both sides exclude hera's (and pipec's) import time.
from hera.workflows import (
    DAG,
    Container,
    EmptyDirVolume,
    Env,
    NoneArchiveStrategy,
    Parameter,
    S3Artifact,
    Workflow,
)
from hera.workflows import models as hm
from synthetic import IMAGE, PIPELINE, STEPS, generate_dag, generate_grid

from pipec.backends import argo
from pipec.backends.argo.manifest import MAX_OBJECT_BYTES
from pipec.backends.argo.templates import BOOT, BOOT_NAME
from pipec.driver import Request, load_workflows
from pipec.errors import Diagnostics

LAYERS = 50
WIDTH = 100
GRID_AXES = (100, 100, 10)  # 100,000 executions
GRID_TARGET_BYTES = 64 * 1024

# ------------------------------------------------------------------------------------------
# pipec

def pipec_compile(path: Path) -> str:
    """load + compile, as `pipec compile FILE --target argo` does; the one manifest's text."""
    result = load_workflows(Request(file=str(path), target="argo"))
    if result.has_errors:
        problems = "\n".join(d.format_text() for d in result.diagnostics[:10])
        raise SystemExit(f"{path.name} does not load:\n{problems}")
    diags = Diagnostics()
    files = argo.compile_workflows(result.workflows, result.config, diags)
    if diags.has_errors or len(files) != 1:
        problems = "\n".join(d.format_text() for d in diags.sorted()[:10])
        raise SystemExit(f"{path.name} does not compile:\n{problems}")
    return next(iter(files.values()))[0]


# ------------------------------------------------------------------------------------------
# hera: the same workflow written by hand with its high-level API

def runtime_annotation() -> str:
    """pipec's runtime script as the Workflow annotation carries it (comment lines dropped)."""
    from pipec.backends.runtime import runtime_script

    text = runtime_script("argo")
    return "".join(line for line in text.splitlines(keepends=True) if line.strip() and not line.lstrip().startswith("#"))


def task_args(name: str, step: int, ups: list[str]) -> dict[str, str]:
    """The arguments pipec gives a node's task: job, up-<i>, parameters, setup, and p-<name>
    for each value its command reads (from PIPEC_P_<name>)."""
    _, _, params = STEPS[step]
    values = {p: default for p, _, default in params}
    args = {"job": name}
    for i, up in enumerate(ups):
        args[f"up-{i}"] = up
    args["parameters"] = json.dumps(values)
    if ups:
        args["setup"] = "".join(f"pipec_stage {up} outputs '*.csv' data none\n" for up in ups)
    args.update({f"p-{k}": str(v) for k, v in values.items()})
    return args


def hera_container(name: str, step: int, upstream: int) -> Container:
    """A container template with the inputs, environment, volumes, command and output artifacts
    of pipec's: the step's command in the container's args, its values from p-<name>."""
    _, command, params = STEPS[step]
    key = "{{workflow.name}}/{{inputs.parameters.job}}/{{inputs.parameters.execution}}"
    inputs: list[Any] = [Parameter(name="job"), Parameter(name="execution", default="0"),
                         Parameter(name="setup", default=""), Parameter(name="parameters", default="{}")]
    inputs += [Parameter(name=f"p-{p}") for p, _, _ in params]
    inputs += [Parameter(name=f"up-{i}") for i in range(upstream)]
    inputs += [S3Artifact(name=f"up-{i}", path=f"/pipec/up/{i}", optional=True,
                          key=f"{{{{workflow.name}}}}/{{{{inputs.parameters.up-{i}}}}}/") for i in range(upstream)]
    env = [Env(name="PIPEC_RUNTIME", value="{{workflow.annotations.pipec-runtime}}"),
           Env(name="PIPEC_ENGINE", value="argo"), Env(name="PIPEC_EXEC_MOUNT", value="/valohai")]
    env += [Env(name=f"PIPEC_{p.upper()}", value=f"{{{{inputs.parameters.{p}}}}}")
            for p in ("job", "execution", "setup", "parameters")]
    env += [Env(name=f"PIPEC_P_{p}", value=f"{{{{inputs.parameters.p-{p}}}}}") for p, _, _ in params]
    if upstream:
        env.append(Env(name="PIPEC_UPSTREAM", value=" ".join(f"{{{{inputs.parameters.up-{i}}}}}"
                                                             for i in range(upstream))))
    env.append(Env(name="PIPEC_ENCODED", value=" ".join(
        ["PIPEC_COMMAND", "PIPEC_SETUP", "PIPEC_PARAMETERS"] + [f"PIPEC_P_{p}" for p, _, _ in params])))
    words = " ".join(f'--{p}="${{PIPEC_P_{p}}}"' for p, _, _ in params)
    return Container(
        name=name, image=IMAGE, command=["sh", "-c", BOOT, BOOT_NAME], args=[command.replace("{parameters}", words)],
        env=env, inputs=inputs,
        outputs=[S3Artifact(name=area.strip("."), path=f"/valohai/{area}", optional=True,
                            archive=NoneArchiveStrategy(), key=f"{key}/{area}/") for area in ("outputs", ".pipec")],
        volume_mounts=[hm.VolumeMount(name="pipec", mount_path="/pipec"),
                       hm.VolumeMount(name="pipec-execution", mount_path="/valohai")])


def hera_build(nodes: list[tuple[str, int, list[str]]], runtime: str, source: str) -> str:
    annotations = {"pipec.dev/pipeline": PIPELINE, "pipec.dev/source": source,
                   "pipec-runtime": runtime}
    with Workflow(generate_name="synthetic-dag-", entrypoint="main", annotations=annotations,
                  volumes=[EmptyDirVolume(name="pipec"), EmptyDirVolume(name="pipec-execution")]) as w:
        shapes: dict[tuple[int, int], Container] = {}
        used: set[str] = {"main"}
        with DAG(name="main"):
            for name, step, ups in nodes:
                template = shapes.get((step, len(ups)))
                if template is None:  # named as pipec names them: step-<step>, else step-<node>, ...
                    base = tname = f"step-{STEPS[step][0]}"
                    if tname in used:
                        base = tname = f"step-{name}"
                    n = 2
                    while tname in used:
                        tname, n = f"{base}-{n}", n + 1
                    used.add(tname)
                    template = shapes[(step, len(ups))] = hera_container(tname, step, len(ups))
                depends = " && ".join(f"{up}.Succeeded" for up in ups) or None
                template(name=name, depends=depends, arguments=task_args(name, step, ups))
    return w.to_yaml()


# ------------------------------------------------------------------------------------------

def main_tasks(text: str) -> list[dict[str, Any]]:
    doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    main = next(t for t in doc["spec"]["templates"] if t["name"] == "main")
    return main["dag"]["tasks"]


def compare(pipec_text: str, hera_text: str) -> list[str]:
    """Differences between the two main DAGs (name, template, depends, arguments), at most 5."""
    problems = []
    a, b = main_tasks(pipec_text), main_tasks(hera_text)
    if len(a) != len(b):
        problems.append(f"{len(a)} pipec tasks, {len(b)} hera tasks")
    for x, y in zip(a, b):
        for field in ("name", "template", "depends"):
            if x.get(field) != y.get(field):
                problems.append(f"task {x.get('name')}: {field} {x.get(field)!r} (pipec) != {y.get(field)!r} (hera)")
        xa = [(p["name"], p.get("value")) for p in x.get("arguments", {}).get("parameters", [])]
        ya = [(p["name"], p.get("value")) for p in y.get("arguments", {}).get("parameters", [])]
        if sorted(xa) != sorted(ya):
            problems.append(f"task {x.get('name')}: arguments {xa} (pipec) != {ya} (hera)")
        if len(problems) >= 5:
            break
    return problems


def timed(fn: Callable[[], str], repeat: int, keep_gc: bool) -> tuple[float, list[float], str]:
    times, text = [], ""
    for _ in range(max(1, repeat)):
        text = ""  # free the previous run's manifest first
        gc.collect()
        if not keep_gc:
            gc.disable()  # as `pipec` itself runs (see pipec.cli.main)
        try:
            start = time.perf_counter()
            text = fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return statistics.median(times), times, text


def runs(times: list[float]) -> str:
    return ", ".join(f"{t:.3f}" for t in times)


def size(text: str) -> str:
    n = len(text.encode("utf-8"))
    return f"{n:,} bytes ({n / 1024 / 1024:.2f} MiB)" if n >= 1024 * 1024 else f"{n:,} bytes ({n / 1024:.1f} KiB)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=LAYERS)
    ap.add_argument("--width", type=int, default=WIDTH)
    ap.add_argument("--repeat", type=int, default=3, help="runs per side; the median is compared")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gc", action="store_true", help="keep the cyclic garbage collector on (both sides)")
    ap.add_argument("--keep", metavar="DIR", help="also write the generated files and both manifests here")
    args = ap.parse_args()

    ok = True
    with tempfile.TemporaryDirectory(prefix="pipec-argo-bench-") as tmp:
        folder = Path(tmp)
        (folder / "pipec.toml").write_text("[argo]\nmax_object_bytes = 100000000\n", encoding="utf-8")
        dag_text, nodes = generate_dag(args.layers, args.width, args.seed)
        dag_path = folder / "synthetic.valohai.yaml"
        dag_path.write_text(dag_text, encoding="utf-8")
        grid_path = folder / "grid.valohai.yaml"
        grid_path.write_text(generate_grid(GRID_AXES), encoding="utf-8")
        edges = sum(len(ups) for _, _, ups in nodes)
        runtime = runtime_annotation()

        pipec_s, pipec_runs, pipec_text = timed(lambda: pipec_compile(dag_path), args.repeat, args.gc)
        hera_s, hera_runs, hera_text = timed(lambda: hera_build(nodes, runtime, str(dag_path)), args.repeat, args.gc)
        grid_s, grid_runs, grid_text = timed(lambda: pipec_compile(grid_path), args.repeat, args.gc)
        problems = compare(pipec_text, hera_text)
        if args.keep:
            keep = Path(args.keep)
            keep.mkdir(parents=True, exist_ok=True)
            for name, text in ((dag_path.name, dag_text), (grid_path.name, grid_path.read_text(encoding="utf-8")),
                               ("synthetic.pipec.yaml", pipec_text), ("synthetic.hera.yaml", hera_text),
                               ("grid.pipec.yaml", grid_text)):
                (keep / name).write_text(text, encoding="utf-8")

    print(f"pipec --target argo vs hera (median of {args.repeat}; gc {'on' if args.gc else 'off'}; "
          f"Python {sys.version.split()[0]})")
    print(f"DAG: {len(nodes):,} execution nodes ({args.layers} layers x {args.width}), {edges:,} file edges")
    if problems:
        ok = False
        print("  the two main DAGs differ:")
        for p in problems:
            print(f"    {p}")
    else:
        print("  main DAGs equal: same tasks, templates, depends and arguments")
    print(f"  pipec  load+compile     {pipec_s:7.3f} s  (runs {runs(pipec_runs)})  manifest {size(pipec_text)}")
    print(f"  hera   build+to_yaml    {hera_s:7.3f} s  (runs {runs(hera_runs)})  manifest {size(hera_text)}")
    faster = pipec_s <= hera_s
    ok &= faster
    ratio = hera_s / pipec_s if pipec_s else float("inf")
    print(f"  pipec is {ratio:.2f}x hera's speed ({'ok' if faster else 'MISSED'}; target: not slower than hera)")
    if len(pipec_text.encode("utf-8")) > MAX_OBJECT_BYTES:
        print(f"  note: over the {MAX_OBJECT_BYTES:,}-byte Kubernetes object limit; compiled with "
              "[argo] max_object_bytes raised")
    execs = GRID_AXES[0] * GRID_AXES[1] * GRID_AXES[2]
    grid_bytes = len(grid_text.encode("utf-8"))
    small = grid_bytes < GRID_TARGET_BYTES
    ok &= small
    print(f"grid: one task node, {' x '.join(map(str, GRID_AXES))} = {execs:,} executions")
    print(f"  pipec  load+compile     {grid_s:7.3f} s  (runs {runs(grid_runs)})  manifest {size(grid_text)} "
          f"({'ok' if small else 'MISSED'}; target < {GRID_TARGET_BYTES // 1024} KiB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
