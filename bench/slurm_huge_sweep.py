"""Benchmark: a Valohai task node whose grid has 3,001 x 3,001 rows (9,006,001 executions),
compiled with `pipec compile --target slurm`, each case in a child process of its own (its
wall time and peak resident memory, from wait4):

    refused    the default [slurm] limits (Slurm's MaxJobCount 10,000, MaxArraySize 1,001):
               refused at once with a located error at the task node, nothing written
    computed   max_array_size = 4,000,001 and max_job_count = 10,000,000: compiled, the grid
               computed in the job from its value lists (jobs/<job>.grid), no row tables

Before pipec decided from the sweep's size, a grid of 1 million rows took 49 s and 71 MB and
this one minutes. Exit 1 when a case takes longer than TARGET_S, more memory than TARGET_MB or
writes more than TARGET_BYTES, or ends otherwise than described.

    python3 bench/slurm_huge_sweep.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic import generate_grid

ROOT = Path(__file__).resolve().parent.parent
AXES = (3001, 3001, 1)
TARGET_S = 10.0  # generous: both cases take about a second
TARGET_MB = 200.0
TARGET_BYTES = 1_000_000
RAISED = "[slurm]\nmax_array_size = 4000001\nmax_job_count = 10000000\n"


def compile_once(folder: Path) -> tuple[int, str, float, float]:
    """`pipec compile` of folder/grid.valohai.yaml into folder/out: exit code, its output, wall
    seconds and peak resident MiB of the child."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "compiler")}
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "pipec", "compile", "grid.valohai.yaml", "--target", "slurm",
                              "-o", "out"], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert child.stdout is not None
    output = child.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: Popen must not wait again
    return child.returncode, output, seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def main() -> int:
    executions = AXES[0] * AXES[1] * AXES[2]
    print(f"one task node, a grid of {' x '.join(f'{n:,}' for n in AXES)} = {executions:,} executions")
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for case, config in (("refused", ""), ("computed", RAISED)):
            folder = Path(tmp) / case
            folder.mkdir()
            (folder / "grid.valohai.yaml").write_text(generate_grid(AXES), encoding="utf-8")
            (folder / "pipec.toml").write_text(config, encoding="utf-8")
            code, output, seconds, mib = compile_once(folder)
            files = [p for p in (folder / "out").rglob("*") if p.is_file()] if (folder / "out").exists() else []
            written = sum(p.stat().st_size for p in files)
            print(f"  {case:9} exit {code}  {seconds:6.2f} s  peak {mib:6.1f} MiB  wrote {len(files)} files, "
                  f"{written:,} bytes")
            if case == "refused":
                expected = code == 1 and "error: 'grid' runs 9,006,001 executions" in output and not files
            else:
                expected = code == 0 and any(p.name == "grid.grid" for p in files) \
                    and not any(p.suffix in (".commands", ".parameters", ".tsv") for p in files)
            if not expected:
                failures.append(f"{case}: not what was expected (exit {code}):\n{output}")
            if seconds > TARGET_S:
                failures.append(f"{case}: {seconds:.1f} s, over the {TARGET_S:.0f} s target")
            if mib > TARGET_MB:
                failures.append(f"{case}: {mib:.0f} MiB, over the {TARGET_MB:.0f} MiB target")
            if written > TARGET_BYTES:
                failures.append(f"{case}: {written:,} bytes written, over the {TARGET_BYTES:,} bytes target")
    for failure in failures:
        print(f"FAIL {failure}")
    if not failures:
        print(f"ok: each case under {TARGET_S:.0f} s and {TARGET_MB:.0f} MiB")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
