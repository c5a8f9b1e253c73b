#!/usr/bin/env python3
"""Stand-in for a model training step (no ML, standard library only).

Parameters arrive on the command line exactly as Valohai renders ``{parameters}``
(``--learning_rate=0.001 --batch_size=200 ...``). Every attached input (``/valohai/inputs/<name>/`` or
``$VH_INPUTS_DIR/<name>/``) is read and fingerprinted; the "accuracy" is a deterministic function of the
parameters and that fingerprint.

Writes one model file whose name encodes the parameters, e.g. ``model_lr0.001_bs200_do0.9_steps300_adam.txt``,
so that parallel executions of a task node never produce colliding file names (only the glob ``model*`` is
relied on downstream). Prints metadata lines such as ``{"accuracy": 0.91, "loss": 0.3, ...}``.

``--diverge_above X`` makes the run fail (exit status 2) when ``learning_rate > X``; the dual-training example uses
it to show how ``on-error`` treats a failing execution inside a task node.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import vh_io


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max_steps", type=int, default=300)
    parser.add_argument("--learning_rate", type=float, default=0.001)
    parser.add_argument("--dropout", type=float, default=0.9, help="keep probability, as in the MNIST example")
    parser.add_argument("--batch_size", type=int, default=200)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="adam")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tags", default="", help="comma-separated labels (a multiple: separate parameter)")
    parser.add_argument("--diverge_above", type=float, default=None)
    args = parser.parse_args()

    if args.max_steps <= 0 or args.batch_size <= 0 or args.learning_rate <= 0:
        parser.error("max_steps, batch_size and learning_rate must be positive")

    inputs = vh_io.all_inputs()
    files = [path for paths in inputs.values() for path in paths]
    print(f"inputs: { {name: len(paths) for name, paths in inputs.items()} }")
    data_print = vh_io.fingerprint(files, salt=str(args.seed))

    if args.diverge_above is not None and args.learning_rate > args.diverge_above:
        vh_io.log_metadata(step=1, loss=None, diverged=True, learning_rate=args.learning_rate)
        print(
            f"training diverged: learning_rate {args.learning_rate} > diverge_above {args.diverge_above}",
            file=sys.stderr,
        )
        sys.exit(2)

    # Fake but monotone-ish: best around lr=3e-3, more steps help, tiny batches and heavy dropout hurt.
    lr_penalty = 0.04 * abs(math.log10(args.learning_rate) - math.log10(0.003))
    step_bonus = 0.05 * (1 - math.exp(-args.max_steps / 200))
    batch_penalty = 0.02 if args.batch_size < 32 else 0.0
    dropout_penalty = 0.05 * abs(args.dropout - 0.8)
    optimizer_bonus = 0.01 if args.optimizer == "adam" else 0.0
    jitter = 0.01 * vh_io.unit_interval(data_print)
    accuracy = 0.88 + step_bonus + optimizer_bonus + jitter - lr_penalty - batch_penalty - dropout_penalty
    accuracy = round(min(0.995, max(0.1, accuracy)), 4)

    checkpoints = 5
    for index in range(1, checkpoints + 1):
        step = args.max_steps * index // checkpoints
        progress = index / checkpoints
        loss = round((1 - accuracy) * 3 * (1.6 - progress), 4)
        vh_io.log_metadata(step=step, loss=loss, accuracy=round(accuracy * (0.8 + 0.2 * progress), 4))

    name = (
        f"model_lr{vh_io.fmt(args.learning_rate)}_bs{args.batch_size}_do{vh_io.fmt(args.dropout)}"
        f"_steps{args.max_steps}_{args.optimizer}.txt"
    )
    model = {
        "kind": "pipec-example-stand-in-model",
        "accuracy": accuracy,
        "parameters": {
            "max_steps": args.max_steps,
            "learning_rate": args.learning_rate,
            "dropout": args.dropout,
            "batch_size": args.batch_size,
            "optimizer": args.optimizer,
            "seed": args.seed,
            "tags": [tag for tag in args.tags.split(",") if tag],
        },
        "data_fingerprint": f"{data_print:016x}",
        "data_version": os.environ.get("DATA_VERSION", "unset"),
    }
    path = vh_io.outputs_dir() / name
    path.write_text(json.dumps(model, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    vh_io.log_metadata(accuracy=accuracy, loss=round((1 - accuracy) * 0.6 * 3, 4), model=name)


if __name__ == "__main__":
    main()
