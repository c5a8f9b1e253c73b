#!/usr/bin/env python3
"""Stand-in for a dataset preprocessing step (no ML, standard library only).

Reads whatever raw inputs are attached (e.g. the four MNIST archives), records their checksums, and writes a
few small synthetic files into the outputs directory. The file names are chosen to match the edge globs used by
the example pipelines:

  --layout mnist    mnist-train-images.txt  mnist-train-labels.txt  mnist-test-images.txt  mnist-test-labels.txt
                    (globs *train-images*, *train-labels*, *test-images*, *test-labels*)
  --layout bundle   preprocessed_mnist.npz  (a zip archive, like a real .npz; members are CSV text)
  --layout tabular  dataset-train-set.csv  dataset-validation-set.csv  holdout-image-01.txt ...
                    (globs *train-set*, *validation-set*, holdout-*)

Prints metadata such as {"train_samples": 256, "suggested_learning_rate": 0.005}.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import zipfile

import vh_io

PIXELS = 16  # a 4x4 "image" per sample keeps the files tiny


def raw_input_summary() -> list[str]:
    lines = []
    for name, files in vh_io.all_inputs().items():
        for path in files:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            lines.append(f"# source {name}/{path.name} bytes={path.stat().st_size} sha256={sha}")
    return lines


def synth_samples(rng: random.Random, count: int) -> tuple[list[str], list[str]]:
    images, labels = [], []
    for index in range(count):
        label = rng.randrange(10)
        pixels = [min(255, max(0, int(rng.gauss(25 * label, 40)))) for _ in range(PIXELS)]
        images.append(f"{index}," + ",".join(map(str, pixels)))
        labels.append(f"{index},{label}")
    return images, labels


def write(path_name: str, header: list[str], rows: list[str]) -> None:
    path = vh_io.outputs_dir() / path_name
    path.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
    print(f"wrote {path} ({len(rows)} rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=["mnist", "bundle", "tabular"], default="mnist")
    parser.add_argument("--samples", type=int, default=256, help="number of training samples to synthesise")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.samples < 4:
        parser.error("--samples must be at least 4")

    rng = random.Random(args.seed)
    header = raw_input_summary()
    test_count = max(1, args.samples // 4)
    train_images, train_labels = synth_samples(rng, args.samples)
    test_images, test_labels = synth_samples(rng, test_count)

    if args.layout == "mnist":
        write("mnist-train-images.txt", header, train_images)
        write("mnist-train-labels.txt", header, train_labels)
        write("mnist-test-images.txt", header, test_images)
        write("mnist-test-labels.txt", header, test_labels)
    elif args.layout == "bundle":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("x_train.csv", "\n".join(train_images) + "\n")
            archive.writestr("y_train.csv", "\n".join(train_labels) + "\n")
            archive.writestr("x_test.csv", "\n".join(test_images) + "\n")
            archive.writestr("y_test.csv", "\n".join(test_labels) + "\n")
            archive.writestr("SOURCES.txt", "\n".join(header) + "\n")
        path = vh_io.outputs_dir() / "preprocessed_mnist.npz"
        path.write_bytes(buffer.getvalue())
        print(f"wrote {path}")
    else:  # tabular
        joined = [f"{img},{lab.split(',')[1]}" for img, lab in zip(train_images, train_labels)]
        write("dataset-train-set.csv", header, joined)
        joined = [f"{img},{lab.split(',')[1]}" for img, lab in zip(test_images, test_labels)]
        write("dataset-validation-set.csv", header, joined)
        for index, row in enumerate(test_images[:3], start=1):
            write(f"holdout-image-{index:02d}.txt", [], [row])

    # A larger dataset "suggests" a larger learning rate; consumed by a metadata -> parameter edge.
    suggested = 0.01 if args.samples >= 1000 else 0.005
    vh_io.log_metadata(
        layout=args.layout,
        train_samples=args.samples,
        test_samples=test_count,
        raw_inputs=len(header),
        data_version=os.environ.get("DATA_VERSION", "unset"),
        suggested_learning_rate=suggested,
    )


if __name__ == "__main__":
    main()
