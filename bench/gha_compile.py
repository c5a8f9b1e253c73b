"""Benchmark: pipec --target gha on large pipelines, against GitHub's limits.

GitHub starts no run of a workflow file over 500 KB and runs at most 256 jobs per matrix; it
documents no cap on plain jobs. So the measures are time and bytes:

1. A layered DAG of LAYERS x WIDTH execution nodes (default 10 x 20 = 200 jobs, the shared
   synthetic pipeline of bench/synthetic.py: file edges from one or two nodes of the layer
   before). Median time of load + compile (what `pipec compile --target gha` does, in
   process, after imports; --repeat runs), the workflow's size, and from its bytes per job the
   number of such jobs that fit in 500 KB.
2. A product grid of GRID executions (10 x 10 x 10 = 1,000) as one task node: split into
   matrix jobs of at most 256 rows (4 parts), whose file must stay under 500 KB.
3. A DAG too large for one file (default 8 x 250 = 2,000 jobs) must be refused with a
   located error, not written.

Exit 1 when the DAG takes TARGET_SECONDS or more, a workflow that should fit is over 500 KB,
the grid is not split in 256-row parts, or the oversized DAG is not refused.

    PYTHONPATH=compiler python3 bench/gha_compile.py
    PYTHONPATH=compiler python3 bench/gha_compile.py --layers 20 --width 20 --repeat 5
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "compiler"))

from synthetic import generate_dag, generate_grid

from pipec.backends import gha
from pipec.driver import Request, load_workflows
from pipec.errors import Diagnostics

LAYERS, WIDTH = 10, 20
TOO_BIG = (8, 250)
GRID_AXES = (10, 10, 10)
TARGET_SECONDS = 2.0


def compile_gha(path: Path) -> tuple[dict[str, tuple[str, bool]], Diagnostics]:
    result = load_workflows(Request(file=str(path), target="gha"))
    if result.has_errors:
        problems = "\n".join(d.format_text() for d in result.diagnostics[:10])
        raise SystemExit(f"{path.name} does not load:\n{problems}")
    diags = Diagnostics()
    return gha.compile_workflows(result.workflows, result.config, diags), diags


def workflow_text(files: dict[str, tuple[str, bool]]) -> str:
    (text,) = [t for p, (t, _) in files.items() if p.startswith(".github/workflows/")]
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=LAYERS)
    ap.add_argument("--width", type=int, default=WIDTH)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    failed = False
    gc.disable()  # as `pipec` itself runs
    with tempfile.TemporaryDirectory() as tmp:
        dag = Path(tmp) / "dag.valohai.yaml"
        dag.write_text(generate_dag(args.layers, args.width)[0], encoding="utf-8")
        times = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            files, diags = compile_gha(dag)
            times.append(time.perf_counter() - began)
            if diags.has_errors:
                raise SystemExit("the DAG does not compile:\n" + "\n".join(d.format_text() for d in diags.sorted()[:10]))
        text = workflow_text(files)
        jobs = len(yaml.safe_load(text)["jobs"])
        size = len(text.encode("utf-8"))
        per_job = size / jobs
        median = statistics.median(times)
        print(f"DAG {args.layers} x {args.width}: {jobs} jobs, {median:.3f} s (median of {args.repeat}), "
              f"{size:,} bytes ({per_job:,.0f} per job: about {int(gha.MAX_FILE_BYTES / per_job):,} such jobs fit "
              f"in {gha.MAX_FILE_BYTES:,} bytes)")
        if median >= TARGET_SECONDS:
            print(f"FAIL: {median:.3f} s >= {TARGET_SECONDS} s")
            failed = True
        if size > gha.MAX_FILE_BYTES:
            print("FAIL: the workflow is over GitHub's file limit")
            failed = True

        grid = Path(tmp) / "grid.valohai.yaml"
        grid.write_text(generate_grid(GRID_AXES), encoding="utf-8")
        began = time.perf_counter()
        files, diags = compile_gha(grid)
        took = time.perf_counter() - began
        text = workflow_text(files)
        doc = yaml.safe_load(text)
        rows = [len(job["strategy"]["matrix"]["include"]) for job in doc["jobs"].values()]
        executions = GRID_AXES[0] * GRID_AXES[1] * GRID_AXES[2]
        print(f"grid of {executions:,} executions: {len(rows)} matrix jobs of {rows} rows, "
              f"{len(text.encode('utf-8')):,} bytes, {took:.3f} s")
        if sum(rows) != executions or max(rows) > gha.MAX_MATRIX or len(text.encode("utf-8")) > gha.MAX_FILE_BYTES:
            print("FAIL: the grid is not split into parts of at most 256 rows within the file limit")
            failed = True

        big = Path(tmp) / "big.valohai.yaml"
        big.write_text(generate_dag(*TOO_BIG)[0], encoding="utf-8")
        began = time.perf_counter()
        files, diags = compile_gha(big)
        took = time.perf_counter() - began
        errors = [d.format_text() for d in diags.sorted() if d.severity.value == "error"]
        print(f"DAG {TOO_BIG[0]} x {TOO_BIG[1]}: refused in {took:.3f} s: {errors[0] if errors else 'NOT REFUSED'}")
        if not errors or any(p.startswith(".github/workflows/") for p in files):
            print("FAIL: an oversized workflow was not refused")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
