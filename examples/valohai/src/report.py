#!/usr/bin/env python3
"""Stand-in for a reporting step (standard library only).

Collects every attached input file that looks like a model or predictions file written by train.py /
evaluate.py (JSON with an ``accuracy`` key), ranks them and writes ``report.md`` and ``leaderboard.json``.
Works with no inputs at all (e.g. when the node is only ordered after another by a ``dependency`` edge).
"""

from __future__ import annotations

import argparse
import json
import os

import vh_io


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--title", default="Training report")
    parser.add_argument("--top", type=int, default=5, help="rows to show in the leaderboard")
    args = parser.parse_args()

    entries = []
    for input_name, files in vh_io.all_inputs().items():
        for path in files:
            data = vh_io.read_json(path)
            if data and "accuracy" in data:
                entries.append(
                    {
                        "input": input_name,
                        "file": path.name,
                        "accuracy": data["accuracy"],
                        "parameters": data.get("parameters", {}),
                    }
                )
    entries.sort(key=lambda e: (-float(e["accuracy"]), e["file"]))

    data_version = os.environ.get("DATA_VERSION", "unset")
    lines = [f"# {args.title}", "", f"Data version: {data_version}", f"Candidates: {len(entries)}", ""]
    if entries:
        lines += ["| rank | file | accuracy |", "|---:|---|---:|"]
        lines += [f"| {i} | {e['file']} | {e['accuracy']} |" for i, e in enumerate(entries[: args.top], start=1)]
    else:
        lines.append("No model or prediction files were attached.")

    out = vh_io.outputs_dir()
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "leaderboard.json").write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines))
    vh_io.log_metadata(
        candidates=len(entries),
        best_file=entries[0]["file"] if entries else None,
        best_accuracy=entries[0]["accuracy"] if entries else None,
        data_version=data_version,
    )


if __name__ == "__main__":
    main()
