"""Benchmark: load + compile a large synthetic valohai.yaml for --target slurm, in-process.

The generated pipeline has N nodes in layers (so no cycles); every node past the first layer
receives about 4 file edges from nodes of the previous three layers (about 4 edges per job on
average), and 10% of the nodes are task nodes running a small grid blueprint of 2-4
executions. For each N (default 1000, 2000, 5000, 10000) the script times

    load     pipec.driver.load_workflows(Request(file=..., target="slurm"))
    compile  pipec.backends.slurm.compile_workflows(result.workflows, result.config, Diagnostics())

separately (best of --repeat runs) and prints a table, then says whether growth is roughly
linear (per-job time at the largest N is under twice that at the smallest) and whether the
largest N (10,000 by default) is compiled in under 2 s in total.

Exit status is 0 whatever the numbers, unless --enforce is given: then 1 when either target
is missed (or the pipeline does not compile).

    PYTHONPATH=compiler python3 bench/slurm_compile.py
    PYTHONPATH=compiler python3 bench/slurm_compile.py --sizes 10000 --repeat 1 --enforce
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "compiler"))

from pipec.backends.slurm import compile_workflows
from pipec.driver import Request, load_workflows
from pipec.errors import Diagnostics

TARGET_TOTAL_S = 2.0
TARGET_GROWTH = 2.0
EDGES_PER_JOB = 4
TASK_SHARE = 0.10
STEPS = 4


def generate(n: int, seed: int = 1) -> tuple[str, dict[str, int]]:
    """A valohai.yaml with one pipeline of `n` nodes, and counts of what it holds."""
    rng = random.Random(seed)
    out: list[str] = []
    for s in range(STEPS):
        out += [
            "- step:",
            f"    name: step-{s}",
            "    image: python:3.12-slim",
            "    command:",
            "      - python src/train.py {parameters} --data /valohai/inputs/data/",
            "    parameters:",
            "      - name: learning_rate",
            "        type: float",
            f"        default: 0.00{s + 1}",
            "      - name: k",
            "        type: integer",
            "        default: 1",
            "    inputs:",
            "      - name: data",
            "        optional: true",
            "    outputs:",
            "      - name: model*",
        ]
    for size in (2, 3, 4):
        out += [
            "- task:",
            f"    name: grid-{size}",
            "    step: step-0",
            "    type: grid_search",
            "    parameters:",
            "      - name: k",
            "        style: multiple",
            "        rules:",
            f"          items: [{', '.join(str(i + 1) for i in range(size))}]",
        ]
    width = max(8, round(n ** 0.5))
    is_task = [rng.random() < TASK_SHARE for _ in range(n)]
    executions = 0
    out += ["- pipeline:", "    name: Synthetic pipeline", "    nodes:"]
    for i in range(n):
        out.append(f"      - name: n{i}")
        if is_task[i]:
            size = rng.choice((2, 3, 4))
            executions += size
            out += ["        type: task", f"        task: grid-{size}"]
        else:
            executions += 1
            out += ["        type: execution", f"        step: step-{i % STEPS}"]
    out.append("    edges:")
    edges = 0
    # Nodes past the first layer take a few more edges, so the average over all nodes is ~4.
    per_node = EDGES_PER_JOB * n / max(1, n - width)
    for i in range(width, n):
        layer = i // width
        lo = max(0, (layer - 3) * width)
        hi = layer * width  # sources only in earlier layers: the graph is acyclic
        want = int(per_node) + (1 if rng.random() < per_node - int(per_node) else 0)
        for src in sorted(rng.sample(range(lo, hi), min(want, hi - lo))):
            out.append(f"      - [n{src}.output.model*, n{i}.input.data]")
            edges += 1
    counts = {"jobs": n, "tasks": sum(is_task), "executions": executions, "edges": edges}
    return "\n".join(out) + "\n", counts


def measure(path: Path) -> tuple[float, float, int]:
    gc.collect()
    gc.disable()  # as `pipec` itself runs (see pipec.cli.main)
    try:
        return _measure(path)
    finally:
        gc.enable()


def _measure(path: Path) -> tuple[float, float, int]:
    start = time.perf_counter()
    result = load_workflows(Request(file=str(path), target="slurm"))
    loaded = time.perf_counter()
    if result.has_errors:
        problems = "\n".join(d.format_text() for d in result.diagnostics[:10])
        raise SystemExit(f"the synthetic pipeline does not load:\n{problems}")
    diags = Diagnostics()
    files = compile_workflows(result.workflows, result.config, diags)
    done = time.perf_counter()
    if diags.has_errors:
        problems = "\n".join(d.format_text() for d in diags.sorted()[:10])
        raise SystemExit(f"the synthetic pipeline does not compile:\n{problems}")
    return loaded - start, done - loaded, len(files)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,2000,5000,10000", help="comma-separated job counts")
    ap.add_argument("--repeat", type=int, default=3, help="runs per size; the best is reported")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", metavar="DIR", help="also write the generated valohai.yaml files here")
    ap.add_argument("--enforce", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    rows = []
    with tempfile.TemporaryDirectory(prefix="pipec-bench-") as tmp:
        (Path(tmp) / "pipec.toml").write_text("", encoding="utf-8")  # no site config from above
        for n in sizes:
            text, counts = generate(n, args.seed)
            path = Path(tmp) / f"synthetic-{n}.valohai.yaml"
            path.write_text(text, encoding="utf-8")
            if args.keep:
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                (Path(args.keep) / path.name).write_text(text, encoding="utf-8")
            best = None
            for _ in range(max(1, args.repeat)):
                load_s, compile_s, nfiles = measure(path)
                if best is None or load_s + compile_s < best[0] + best[1]:
                    best = (load_s, compile_s, nfiles)
            assert best is not None
            rows.append((n, counts, *best))

    print(f"pipec slurm compile benchmark (best of {args.repeat}; Python {sys.version.split()[0]})")
    print(f"{'N':>7} {'edges':>7} {'execs':>7} {'files':>7} {'load s':>8} {'compile s':>10} {'total s':>8} "
          f"{'us/job':>8}")
    for n, counts, load_s, compile_s, nfiles in rows:
        total = load_s + compile_s
        print(f"{n:>7} {counts['edges']:>7} {counts['executions']:>7} {nfiles:>7} {load_s:>8.3f} {compile_s:>10.3f} "
              f"{total:>8.3f} {total / n * 1e6:>8.1f}")

    ok = True
    small, large = rows[0], rows[-1]
    if len(rows) > 1:
        per_small = (small[2] + small[3]) / small[0]
        per_large = (large[2] + large[3]) / large[0]
        ratio = per_large / per_small
        linear = ratio < TARGET_GROWTH
        ok &= linear
        print(f"growth: per-job time at N={large[0]} is {ratio:.2f}x that at N={small[0]} "
              f"({'roughly linear' if linear else 'NOT linear'}; target < {TARGET_GROWTH:.0f}x)")
    total = large[2] + large[3]
    fast = total < TARGET_TOTAL_S
    ok &= fast
    print(f"N={large[0]}: {total:.2f} s load+compile ({'ok' if fast else 'MISSED'}; target < {TARGET_TOTAL_S:.0f} s)")
    return 1 if args.enforce and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
