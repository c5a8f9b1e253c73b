"""Small helpers shared by the pipec example stand-in programs.

Standard library only. The programs imitate what a Valohai execution sees:

* inputs are files under ``/valohai/inputs/<input-name>/`` (or ``$VH_INPUTS_DIR/<input-name>/``),
* outputs are whatever is written to ``/valohai/outputs/`` (or ``$VH_OUTPUTS_DIR``),
* metadata is any JSON object printed on its own line to stdout.

When neither the environment variables nor ``/valohai`` are available (a plain local run), outputs go to
``./outputs`` so that the programs can still be tried by hand.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

VALOHAI_ROOT = Path("/valohai")


def outputs_dir() -> Path:
    """Directory where output files must be written (created if needed)."""
    env = os.environ.get("VH_OUTPUTS_DIR")
    path = Path(env) if env else VALOHAI_ROOT / "outputs"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        if env:
            raise
        path = Path.cwd() / "outputs"
        path.mkdir(parents=True, exist_ok=True)
        print(f"note: /valohai/outputs is not writable, using {path}", file=sys.stderr)
    return path


def inputs_root() -> Path:
    env = os.environ.get("VH_INPUTS_DIR")
    return Path(env) if env else VALOHAI_ROOT / "inputs"


def input_dir(name: str, explicit: str | None = None) -> Path:
    """Directory of input ``name``; an explicit directory (e.g. a ``--model-dir`` parameter) wins if it exists."""
    if explicit:
        candidate = Path(explicit)
        if candidate.is_dir():
            return candidate
    return inputs_root() / name


def input_files(name: str, explicit: str | None = None) -> list[Path]:
    """All files of input ``name`` (recursively, sorted); empty list when the input is absent."""
    directory = input_dir(name, explicit)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*") if p.is_file())


def all_inputs() -> dict[str, list[Path]]:
    """Every input directory that exists, mapped to its files."""
    root = inputs_root()
    if not root.is_dir():
        return {}
    return {d.name: input_files(d.name) for d in sorted(root.iterdir()) if d.is_dir()}


def fingerprint(paths: list[Path], salt: str = "") -> int:
    """Deterministic integer derived from file names and contents (drives the fake metrics)."""
    digest = hashlib.sha256(salt.encode())
    for path in paths:
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(65536), b""):
                digest.update(chunk)
    return int.from_bytes(digest.digest()[:8], "big")


def unit_interval(value: int) -> float:
    """Map a fingerprint to [0, 1)."""
    return (value % 1_000_000) / 1_000_000


def fmt(value: float) -> str:
    """Compact, filename-safe rendering of a number (``0.001`` -> ``0.001``, ``1e-05`` -> ``1e-05``)."""
    return f"{value:g}"


def log_metadata(**values: object) -> None:
    """Print one Valohai metadata line (a JSON object on its own stdout line)."""
    print(json.dumps(values, sort_keys=True), flush=True)


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
