#!/usr/bin/env python3
"""Stand-in for a batch-inference / evaluation step (no ML, standard library only).

Reads every model file of the ``model`` input (one per upstream training execution) and every file of the
``images`` input, then writes, per model, ``predictions_<model-file-stem>.json`` (matched by the ``*.json``
glob). With ``--output-best-model`` (the default) the best-scoring model file is also copied to the outputs
under its original name, so a downstream ``model*`` glob picks it up.

Prints metadata such as ``{"models_evaluated": 6, "best_model": "...", "best_accuracy": 0.93}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

import vh_io


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="/valohai/inputs/model/")
    parser.add_argument("--image-dir", default="/valohai/inputs/images/")
    parser.add_argument(
        "--output-best-model",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="copy the best model to the outputs (--no-output-best-model to skip)",
    )
    args = parser.parse_args()

    models = vh_io.input_files("model", args.model_dir)
    images = vh_io.input_files("images", args.image_dir)
    if not models:
        sys.exit(f"no model files found in {vh_io.input_dir('model', args.model_dir)}")
    print(f"evaluating {len(models)} model(s) on {len(images)} image(s)")

    out = vh_io.outputs_dir()
    results = []
    for model in models:
        stored = vh_io.read_json(model) or {}
        trained = float(stored.get("accuracy", 0.5))
        predictions = []
        for image in images:
            print_ = vh_io.fingerprint([image], salt=model.name)
            predictions.append(
                {
                    "image": image.name,
                    "digit": print_ % 10,
                    "confidence": round(0.5 + 0.5 * vh_io.unit_interval(print_ >> 8), 4),
                }
            )
        # "Held-out" accuracy: the training accuracy nudged by a per-model, per-image-set jitter.
        jitter = vh_io.unit_interval(vh_io.fingerprint(images, salt=model.name)) - 0.5
        accuracy = round(min(0.999, max(0.0, trained - 0.01 + 0.01 * jitter)), 4)
        record = {"model": model.name, "accuracy": accuracy, "trained_accuracy": trained, "predictions": predictions}
        target = out / f"predictions_{model.stem}.json"
        target.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {target}")
        results.append(record)

    best = max(results, key=lambda r: (r["accuracy"], r["model"]))
    if args.output_best_model:
        source = next(m for m in models if m.name == best["model"])
        shutil.copyfile(source, out / source.name)
        print(f"copied best model {source.name}")
    vh_io.log_metadata(
        models_evaluated=len(results),
        images_evaluated=len(images),
        best_model=best["model"],
        best_accuracy=best["accuracy"],
    )


if __name__ == "__main__":
    main()
