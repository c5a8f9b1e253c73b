"""Benchmark: `pipec compile --target gha` on a sweep far too large for one workflow file.

A task node sweeping a 3,001 x 3,001 x 1 product grid (9,006,001 executions; the synthetic
grid of bench/synthetic.py). GitHub runs at most 256 jobs per matrix and starts no run of a
workflow file over 500 KB, where at most gha.MAX_EXECUTIONS executions fit, so pipec must
refuse it with a located error, deciding from the sweep's size alone (it used to build every
row first: 68 s and 2.6 GB). The compile runs as the `pipec` command does, in a child process,
whose wall time and peak resident memory are printed.

Exit 1 when the file is not refused (exit code 1 with a located error naming the limits), or
takes TARGET_SECONDS or more, or TARGET_MB or more of memory.

    PYTHONPATH=compiler python3 bench/gha_huge_sweep.py
    PYTHONPATH=compiler python3 bench/gha_huge_sweep.py --axes 5000 5000 4
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "compiler"))

from synthetic import generate_grid

from pipec.backends import gha

AXES = (3001, 3001, 1)
TARGET_SECONDS = 5.0  # generous: the refusal itself takes well under a second
TARGET_MB = 300.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--axes", type=int, nargs=3, default=AXES, metavar=("A", "B", "C"))
    args = ap.parse_args()
    executions = args.axes[0] * args.axes[1] * args.axes[2]
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "huge.valohai.yaml"
        src.write_text(generate_grid(tuple(args.axes)), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "compiler"),
                                                                          os.environ.get("PYTHONPATH")]))}
        began = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pipec", "compile", str(src), "--target", "gha",
                               "-o", str(Path(tmp) / "out")], capture_output=True, text=True, env=env, check=False)
        took = time.perf_counter() - began
        # ru_maxrss of the waited-for children: kilobytes on Linux (bytes on macOS).
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / (1024 * 1024 if sys.platform == "darwin"
                                                                       else 1024)
        errors = [line for line in (proc.stdout + proc.stderr).splitlines() if ": error: " in line]
        print(f"grid {' x '.join(map(str, args.axes))} = {executions:,} executions: exit {proc.returncode} in "
              f"{took:.2f} s, peak {peak:,.0f} MB")
        print(errors[0] if errors else "NOT REFUSED")
        if executions > gha.MAX_EXECUTIONS:
            located = bool(errors) and errors[0].startswith(f"{src}:")
            if proc.returncode != 1 or not located or "256 jobs per matrix" not in errors[0]:
                print("FAIL: not refused with a located error naming GitHub's limits")
                failed = True
        if took >= TARGET_SECONDS:
            print(f"FAIL: {took:.2f} s >= {TARGET_SECONDS} s")
            failed = True
        if peak >= TARGET_MB:
            print(f"FAIL: {peak:,.0f} MB >= {TARGET_MB:,.0f} MB")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
