#!/usr/bin/env python3
"""Stand-in deploy command for Slurm (standard library only).

pipec runs the `[deploy] command` of pipec.toml for a `type: deployment` node, with:

  PIPEC_DEPLOYMENT     the deployment's name (e.g. MyDeployment)
  PIPEC_ENDPOINTS      the endpoints to update, space-separated (e.g. predict-digit)
  PIPEC_DEPLOY_FILES   the endpoint files, space-separated NAME=PATH pairs (e.g. model.pb=model.pb)
  VH_INPUTS_DIR        where the deployment's files are staged, one directory per file name

A real deploy command would push the files to a model server; this one prints what it would
deploy, and fails if an expected file was not staged.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> int:
    deployment = os.environ.get("PIPEC_DEPLOYMENT", "")
    endpoints = os.environ.get("PIPEC_ENDPOINTS", "").split()
    files = [item.partition("=") for item in os.environ.get("PIPEC_DEPLOY_FILES", "").split()]
    inputs = Path(os.environ.get("VH_INPUTS_DIR", "/valohai/inputs"))

    print(f"deployment: {deployment or '(unnamed)'}")
    print(f"endpoints:  {', '.join(endpoints) or '(none)'}")
    for name, _, path in files:
        print(f"file:       {name} (endpoint path {path or name})")

    print(f"staged under {inputs}:")
    staged = sorted(p for p in inputs.rglob("*") if p.is_file()) if inputs.is_dir() else []
    for p in staged:
        print(f"  {p.relative_to(inputs)}  {p.stat().st_size} bytes  sha256:{_sha256(p)[:16]}")
    if not staged:
        print("  (nothing)")

    missing = [name for name, _, _ in files if not (inputs / name).is_dir() or not any((inputs / name).iterdir())]
    if missing:
        print(f"deploy: no staged file for {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"would deploy {len(files)} file(s) to {len(endpoints)} endpoint(s) of {deployment}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
