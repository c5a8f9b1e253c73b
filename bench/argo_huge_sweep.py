"""Benchmark: a Valohai task node sweeping a SIZE x SIZE grid (default 3001 x 3001 = 9,006,001
executions) compiled for Argo, in bounded time and memory.

Two grids of one task node, two swept parameters each:

    compact   a `linear` axis of integers x a `multiple` axis of floats: each pod computes its
              own values from withSequence, so the manifest holds the two axes, not the grid
    rendered  the same grid with one string among the floats: the values cannot be given to the
              pod as text of one kind, so each execution would carry its own rendered command;
              pipec refuses this at once with a located error naming the Kubernetes object
              limit ([argo] max_object_bytes) instead of rendering nine million rows

Each is compiled in a child process (`pipec compile FILE --target argo -o -`), which reports
its wall time and peak resident memory (ru_maxrss). Exit 1 when the compact grid does not
compile, when the rendered grid is not refused with that error, or when either takes longer
than --seconds (default 20) or more than --megabytes (default 400) of memory.

    PYTHONPATH=compiler python3 bench/argo_huge_sweep.py
    PYTHONPATH=compiler python3 bench/argo_huge_sweep.py --size 1001 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = 3001
SECONDS = 20.0
MEGABYTES = 400.0

# The child: compile one file in-process and print (exit code, seconds, peak KiB, output size, stderr).
CHILD = r"""
import json, resource, sys, time
from click.testing import CliRunner
from pipec.cli import main
start = time.perf_counter()
result = CliRunner().invoke(main, ["compile", sys.argv[1], "--target", "argo", "-o", "-"])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"exit": result.exit_code, "seconds": seconds, "peak_kib": peak,
                  "bytes": len(result.stdout.encode("utf-8")), "stderr": result.stderr[-2000:],
                  "crash": repr(result.exception) if result.exception and not isinstance(result.exception, SystemExit)
                  else None}))
"""


def grid_yaml(size: int, mixed: bool) -> str:
    """A step with two parameters and a grid_search task sweeping both over `size` values."""
    floats = [str(k / 1000) for k in range(size)]
    if mixed:
        floats[0] = '"x"'  # one string among the floats
    return "\n".join([
        "- step:",
        "    name: train",
        "    image: python:3.12-slim",
        "    command: python train.py {parameters}",
        "    parameters:",
        "      - {name: a, type: integer, default: 0}",
        "      - {name: b, type: float, default: 0.5}",
        "- task:",
        "    name: huge",
        "    step: train",
        "    type: grid_search",
        "    parameters:",
        "      - name: a",
        "        style: linear",
        f"        rules: {{start: 0, end: {size - 1}, step: 1}}",
        "      - name: b",
        "        style: multiple",
        f"        rules: {{items: [{', '.join(floats)}]}}",
        "- pipeline:",
        "    name: Huge sweep",
        "    nodes:",
        "      - {name: sweep, type: task, task: huge}",
        "    edges: []",
    ]) + "\n"


def run(path: Path, timeout: float) -> dict:
    env = {"PYTHONPATH": str(ROOT / "compiler"), "PATH": "/usr/bin:/bin"}
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True,
                              timeout=timeout, cwd=path.parent, env=env)
    except subprocess.TimeoutExpired:
        return {"exit": None, "seconds": timeout, "peak_kib": 0, "bytes": 0, "stderr": "", "crash": "timed out"}
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"exit": None, "seconds": 0.0, "peak_kib": 0, "bytes": 0, "stderr": proc.stderr[-2000:],
                "crash": f"child exited {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=SIZE, help="values per axis (the grid is size x size)")
    ap.add_argument("--seconds", type=float, default=SECONDS, help="longest accepted compile, each grid")
    ap.add_argument("--megabytes", type=float, default=MEGABYTES, help="largest accepted peak memory, each grid")
    args = ap.parse_args()

    ok = True
    print(f"pipec --target argo, one task node sweeping {args.size:,} x {args.size:,} = {args.size ** 2:,} executions "
          f"(targets: under {args.seconds:g} s and {args.megabytes:g} MB each; Python {sys.version.split()[0]})")
    with tempfile.TemporaryDirectory(prefix="pipec-argo-huge-") as tmp:
        for name, mixed in (("compact", False), ("rendered", True)):
            path = Path(tmp) / f"{name}.valohai.yaml"
            path.write_text(grid_yaml(args.size, mixed), encoding="utf-8")
            # The child's timeout is generous: past the target it only tells how far past.
            r = run(path, max(args.seconds * 5, 60.0))
            megabytes = r["peak_kib"] / 1024
            if mixed:
                errors = [line for line in r["stderr"].splitlines() if ": error: " in line]
                expected = r["exit"] == 1 and any("Kubernetes stores at most" in line for line in errors)
                outcome = "refused" if expected else "NOT REFUSED AS EXPECTED"
            else:
                expected = r["exit"] == 0
                outcome = f"compiled, manifest {r['bytes']:,} bytes" if expected else "DID NOT COMPILE"
            fast = r["seconds"] <= args.seconds and r["crash"] is None
            small = 0 < megabytes <= args.megabytes
            ok &= expected and fast and small
            print(f"  {name:9} {r['seconds']:7.2f} s {'ok' if fast else 'MISSED'}   peak {megabytes:7.1f} MB "
                  f"{'ok' if small else 'MISSED'}   {outcome}")
            if r["crash"] or not expected:
                print(f"    {r['crash'] or ''}\n    " + "\n    ".join(r["stderr"].splitlines()[-5:]))
            elif mixed:
                print(f"    {errors[0]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
