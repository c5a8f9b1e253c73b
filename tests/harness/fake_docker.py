"""A stand-in for the `docker` command, for the tests of groups with an image on GitHub Actions.

This machine has the Docker client but no engine, so the tests put this program first on
PATH as `docker` (see `install`). It runs each "container" as a local process and checks how
it is asked to, more strictly than Docker where a mistake would go unnoticed:

* `network create NAME` / `network rm NAME`: a network must exist before a container joins
  it and must not exist twice.
* `run [-d] [--rm] [--name N] [--network NET] [-v SRC:DST] [-w DIR] [-e NAME] [--gpus G]
  [--entrypoint E] IMAGE [ARG...]`: the process gets PATH, HOME and only the variables named
  with `-e NAME` (taken from the caller's environment, as Docker does), runs in DIR, and
  every mount must map a path onto itself (the runtime relies on same-path mounts). `-e
  NAME=VALUE` is refused: values must not travel on a command line. `-d` starts it in the
  background (output kept for `logs`); otherwise it runs in the foreground and its status is
  the command's. Container names are unique.
* `logs NAME`, `rm -f NAME...`, `container inspect NAME`.

Not emulated: images (the process runs on this machine, whatever IMAGE is), name resolution
on the network (containers cannot reach each other by name here), user ids.

Every call is appended to STATE/calls.jsonl as {"argv": [...], "env": {name: value}} for the
tests to inspect.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

USAGE_ERROR = 125  # what docker exits with when it cannot run a container


def install(bin_dir: Path, state: Path) -> None:
    """Write a `docker` program into bin_dir that runs this emulator with state in `state`."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "docker"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} {state} "$@"\n', encoding="utf-8")
    shim.chmod(0o755)


def calls(state: Path) -> list[dict]:
    path = state / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def fail(message: str) -> int:
    print(f"docker (emulated): {message}", file=sys.stderr)
    return USAGE_ERROR


def network(state: Path, args: list[str]) -> int:
    if len(args) != 2 or args[0] not in ("create", "rm"):
        return fail(f"network: unsupported arguments {args}")
    path = state / "networks" / args[1]
    if args[0] == "create":
        if path.exists():
            return fail(f"network with name {args[1]} already exists")
        path.mkdir(parents=True)
        print("0" * 64)
        return 0
    if not path.exists():
        return fail(f"network {args[1]} not found")
    if any((state / "containers").glob("*.json")) and any(
            json.loads(c.read_text())["network"] == args[1] for c in (state / "containers").glob("*.json")):
        return fail(f"network {args[1]} has active endpoints")
    path.rmdir()
    return 0


def run(state: Path, args: list[str]) -> int:
    detach = remove = False
    name = net = entrypoint = ""
    workdir = "/"
    names: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-"):
        flag = args[i]
        if flag == "-d":
            detach = True
        elif flag == "--rm":
            remove = True
        elif flag in ("--name", "--network", "-v", "-w", "-e", "--gpus", "--entrypoint"):
            if i + 1 >= len(args):
                return fail(f"flag needs an argument: {flag}")
            value = args[i + 1]
            i += 1
            if flag == "--name":
                name = value
            elif flag == "--network":
                net = value
                if not (state / "networks" / net).is_dir():
                    return fail(f"network {net} not found")
            elif flag == "-v":
                src, _, dst = value.partition(":")
                if src != dst or not src:
                    return fail(f"this emulator needs same-path mounts, got {value!r}")
                if not Path(src).exists():
                    Path(src).mkdir(parents=True)
            elif flag == "-w":
                workdir = value
            elif flag == "-e":
                if "=" in value:
                    return fail(f"-e {value!r}: pipec passes variables by name only")
                names.append(value)
            elif flag == "--entrypoint":
                entrypoint = value
        else:
            return fail(f"unsupported flag {flag}")
        i += 1
    if i >= len(args):
        return fail("run needs an image")
    command = ([entrypoint] if entrypoint else []) + args[i + 1:]
    if not command:
        return fail("the emulator has no image default command: give one")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root"}
    env.update({n: os.environ[n] for n in names if n in os.environ})
    containers = state / "containers"
    containers.mkdir(exist_ok=True)
    record = containers / f"{name or 'anonymous'}.json"
    if name and record.exists():
        return fail(f'Conflict. The container name "/{name}" is already in use')
    if detach:
        with open(containers / f"{name}.log", "wb") as log:  # the process keeps its own copy
            proc = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        record.write_text(json.dumps({"pid": proc.pid, "network": net}))
        print(f"{proc.pid:064d}")
        return 0
    proc = subprocess.Popen(command, env=env, cwd=workdir, stdin=subprocess.DEVNULL, start_new_session=True)
    if name:
        record.write_text(json.dumps({"pid": proc.pid, "network": net}))
    status = proc.wait()
    if remove and name:
        record.unlink(missing_ok=True)
    return status


def rm(state: Path, args: list[str]) -> int:
    if not args or args[0] != "-f":
        return fail(f"rm: only rm -f is emulated, got {args}")
    status = 0
    for name in args[1:]:
        record = state / "containers" / f"{name}.json"
        if not record.exists():
            fail(f"No such container: {name}")
            status = 1
            continue
        pid = json.loads(record.read_text())["pid"]
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:  # reaped by whoever adopted it
            time.sleep(0.01)
        record.unlink()
    return status


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def main(argv: list[str]) -> int:
    state, args = Path(argv[0]), argv[1:]
    with open(state / "calls.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"argv": args, "env": {k: v for k, v in os.environ.items() if k.startswith("PIPEC_")}})
                 + "\n")
    if not args:
        return fail("no command")
    verb, rest = args[0], args[1:]
    if verb == "network":
        return network(state, rest)
    if verb == "run":
        return run(state, rest)
    if verb == "rm":
        return rm(state, rest)
    if verb == "logs" and len(rest) == 1:
        log = state / "containers" / f"{rest[0]}.log"
        if not log.exists():
            return fail(f"No such container: {rest[0]}")
        sys.stdout.write(log.read_text(encoding="utf-8", errors="replace"))
        return 0
    if verb == "container" and len(rest) == 2 and rest[0] == "inspect":
        return 0 if (state / "containers" / f"{rest[1]}.json").exists() else 1
    return fail(f"unsupported command {args}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
