#!/usr/bin/env python3
"""Stand-in for "find the best model" (no ML, standard library only).

Reads the ``predictions`` input (``predictions_*.json`` written by evaluate.py, one or more per upstream node)
and the ``models`` input (the model files those predictions refer to). Copies the winner to
``model.pb`` in the outputs -- the file the ``predict-digit`` endpoint serves -- and writes ``comparison.json``.

``--my_param`` is the minimum accuracy the winner must reach; below it the step fails, so nothing is deployed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

import vh_io


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prediction-dir", default="/valohai/inputs/predictions/")
    parser.add_argument("--model-dir", default="/valohai/inputs/models/")
    parser.add_argument("--my_param", type=float, default=0.5, help="minimum accuracy required of the best model")
    args = parser.parse_args()

    predictions = [p for p in vh_io.input_files("predictions", args.prediction_dir) if p.suffix == ".json"]
    models = {m.name: m for m in vh_io.input_files("models", args.model_dir)}
    records = [r for r in (vh_io.read_json(p) for p in predictions) if r and "model" in r and "accuracy" in r]
    if not records:
        sys.exit("no usable predictions_*.json files found")

    ranking = sorted(records, key=lambda r: (-float(r["accuracy"]), r["model"]))
    available = [r for r in ranking if r["model"] in models]
    if not available:
        sys.exit(f"none of the ranked models is present in the models input ({sorted(models)})")
    best = available[0]

    out = vh_io.outputs_dir()
    summary = {
        "best_model": best["model"],
        "best_accuracy": best["accuracy"],
        "threshold": args.my_param,
        "ranking": [{"model": r["model"], "accuracy": r["accuracy"]} for r in ranking],
    }
    (out / "comparison.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    vh_io.log_metadata(best_model=best["model"], best_accuracy=best["accuracy"], candidates=len(ranking))

    if float(best["accuracy"]) < args.my_param:
        sys.exit(f"best accuracy {best['accuracy']} is below the required {args.my_param}; not publishing model.pb")
    shutil.copyfile(models[best["model"]], out / "model.pb")
    print(f"published {best['model']} as {out / 'model.pb'}")


if __name__ == "__main__":
    main()
