"""The code the runnable examples call: each task's `command` is `steps.<function>`, imported
from this directory (the project directory: where `submit.sh` is run on Slurm, the image's
working directory on Argo and GitHub Actions)."""

from __future__ import annotations

import json
import os


def hello() -> None:
    print("Hello World!")


def make_chunks(count: int) -> list[int]:
    """The list a map iterates on: 1..count."""
    return list(range(1, count + 1))


def process_chunk(chunk: int) -> int:
    return chunk * 10


def check_processed(chunk: int, processed: int, doubled: int) -> None:
    assert processed == chunk * 10, (chunk, processed)
    assert doubled == processed * 2, (processed, doubled)


def check_reduced(processed: list[int], best: int) -> None:
    """After the map: every branch's value, in item order, and the custom reducer's maximum."""
    assert processed == [10 * n for n in range(1, len(processed) + 1)], processed
    assert best == 20 * len(processed), best
    print(f"processed={processed} best={best}")


def toss(side: str) -> str:
    """The side a conditional branches on (given by --params, changeable at submit)."""
    return side


def heads() -> str:
    return "heads won"


def tails() -> str:
    return "tails won"


def report(outcome: str) -> None:
    print(f"outcome: {outcome}")


def attempt(needed: int) -> tuple[bool, int]:
    """One iteration of a retry loop: done once the index reaches `needed`. runnable gives a
    loop's index as the environment variable named by `index_as` (pipec also as a parameter)."""
    i = int(os.environ["i"])
    print(f"iteration {i}")
    return i + 1 >= needed, i


def summary(done: bool, last: int) -> None:
    assert done, "the loop ended without success"
    print(f"succeeded at iteration {last}")


def fragile() -> None:
    raise RuntimeError("the data source is down")


def recover() -> str:
    print("recovering: using yesterday's data")
    return "yesterday"


def use(source: str) -> None:
    print(f"using {source}")


def write_files() -> None:
    with open("df.csv", "w", encoding="utf-8") as fh:
        fh.write("a,b\n1,2\n")
    os.makedirs("data_folder", exist_ok=True)
    with open("data_folder/data.txt", "w", encoding="utf-8") as fh:
        fh.write("hello from the catalog\n")
    with open("scratch.txt", "w", encoding="utf-8") as fh:
        fh.write("not put: stays with this step\n")


def read_files() -> dict[str, str]:
    with open("df.csv", encoding="utf-8") as fh:
        csv = fh.read()
    with open("data_folder/data.txt", encoding="utf-8") as fh:
        text = fh.read()
    assert not os.path.exists("scratch.txt"), "a file that was not put reached a later step"
    print(json.dumps({"csv": csv, "text": text}))
    return {"csv": csv, "text": text}
