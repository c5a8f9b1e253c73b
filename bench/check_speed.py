"""Benchmark: wall time of `pipec check` on the seed MNIST pipeline (target: under 250 ms).

Runs the installed `pipec` console script when it is beside this interpreter, else
`python -m pipec`, several times, and reports the median and the best run. Exit 1 with
--enforce when the median misses the target.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "valohai" / "mnist.valohai.yaml"
TARGET_MS = 250.0


def command() -> list[str]:
    script = Path(sys.executable).parent / "pipec"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "pipec"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--enforce", action="store_true", help="exit 1 when the median misses the target")
    args = ap.parse_args()
    cmd = command() + ["check", str(EXAMPLE)]
    env = None
    if cmd[0] == sys.executable:
        import os

        env = dict(os.environ, PYTHONPATH=str(ROOT / "compiler"))
    subprocess.run(cmd, check=True, capture_output=True, env=env)  # warm the file cache
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    verdict = "ok" if median < TARGET_MS else "MISSED"
    print(f"pipec check {EXAMPLE.name}: median {median:.0f} ms, best {min(times):.0f} ms "
          f"over {args.runs} runs (target < {TARGET_MS:.0f} ms: {verdict})")
    return 1 if args.enforce and median >= TARGET_MS else 0


if __name__ == "__main__":
    sys.exit(main())
