"""Benchmark: wall time of `pipec check` on the seed MNIST pipeline and on two OSMO
workflows, a plain one and a Jinja template (target: under 250 ms each), and on hostile
nesting 100,000 levels deep (refused with a located error, target under 1 s).

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
EXAMPLES = (ROOT / "examples" / "valohai" / "mnist.valohai.yaml", ROOT / "examples" / "osmo" / "serial-data-flow.yaml",
            ROOT / "examples" / "osmo" / "multi-node-training.yaml")
TARGET_MS = 250.0
DEEP_TARGET_MS = 1000.0
DEEP_LEVELS = 100_000


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
    cmd = command() + ["check"]
    env = None
    if cmd[0] == sys.executable:
        import os

        env = dict(os.environ, PYTHONPATH=str(ROOT / "compiler"))
    missed = False
    for example in EXAMPLES:
        median, best = timed(cmd + [str(example)], env, args.runs)
        verdict = "ok" if median < TARGET_MS else "MISSED"
        missed = missed or median >= TARGET_MS
        print(f"pipec check {example.parent.name}/{example.name}: median {median:.0f} ms, best {best:.0f} ms "
              f"over {args.runs} runs (target < {TARGET_MS:.0f} ms: {verdict})")
    deep_ms = deep_nesting(cmd, env)
    deep_verdict = "ok" if deep_ms < DEEP_TARGET_MS else "MISSED"
    print(f"pipec check on {DEEP_LEVELS:,} nested levels: {deep_ms:.0f} ms, refused with a located error "
          f"(target < {DEEP_TARGET_MS:.0f} ms: {deep_verdict})")
    missed = missed or deep_ms >= DEEP_TARGET_MS
    return 1 if args.enforce and missed else 0


def timed(cmd: list[str], env: dict[str, str] | None, runs: int) -> tuple[float, float]:
    """Median and best wall time of `cmd` in ms (after one run that warms the file cache)."""
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def deep_nesting(check: list[str], env: dict[str, str] | None) -> float:
    """Worst of the flow and block shapes: ms until `pipec check` refuses the file."""
    import re
    import tempfile

    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in (("flow", "[" * DEEP_LEVELS + "]" * DEEP_LEVELS), ("block", "- " * DEEP_LEVELS + "x\n")):
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(text, encoding="utf-8")
            start = time.perf_counter()
            proc = subprocess.run(check + [str(path)], capture_output=True, text=True, env=env)
            worst = max(worst, (time.perf_counter() - start) * 1000)
            if proc.returncode != 1 or not re.search(rf"{re.escape(str(path))}:1:\d+: error: ", proc.stdout + proc.stderr):
                raise SystemExit(f"deep {name} nesting was not refused with a located error:\n{proc.stdout}{proc.stderr}")
    return worst


if __name__ == "__main__":
    sys.exit(main())
