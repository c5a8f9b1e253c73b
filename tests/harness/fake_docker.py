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
* `create [--name N] [--network NET] [--network-alias A] [-v SRC:DST] [-w DIR] [-e NAME]
  [--gpus G] [--entrypoint E] IMAGE [ARG...]`: the container is recorded, not started; the
  values of the `-e NAME` variables are taken from the caller's environment now, at create
  time (Docker's client reads them when it sends the create request). `start -a NAME` then
  runs it in the foreground with that environment; its status is the container's exit
  status, 128 + N when it was killed by signal N (docs.docker.com/reference/cli/docker/
  container/create/ and .../container/start/: `--attach` "Attach STDOUT/STDERR and forward
  signals"; moby/moby#8661 "Return container exit code with start -a/-i"). A container
  started once cannot be started again here.
* `--network-alias A` (run and create): a network-scoped alias, recorded; Docker refuses it
  for a container on no user-defined network ("network-scoped alias is supported only for
  containers in user defined networks", moby/moby#19242 runconfig/errors.go;
  docs.docker.com/reference/cli/docker/container/run/#network-alias). `aliases(state, NET)`
  lists the aliases and names each container had on network NET, for the tests.
* `logs NAME`, `rm -f NAME...` (also of a created or exited container), `container inspect NAME`.

Not emulated: images (the process runs on this machine, whatever IMAGE is), name resolution
on the network (containers cannot reach each other by name or alias here), user ids.

Every call is appended to STATE/calls.jsonl as {"argv": [...], "env": {name: value}} for the
tests to inspect.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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


def aliases(state: Path, network: str) -> dict[str, list[str]]:
    """Container name -> its name and aliases on `network`, for every container ever
    created or run there (kept after the container is removed)."""
    path = state / "aliases.jsonl"
    found: dict[str, list[str]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry["network"] == network:
                found[entry["name"]] = entry["aliases"]
    return found


@contextmanager
def _locked(state: Path) -> Iterator[None]:
    """One state change at a time (a `start` recording its process and an `rm -f` of the
    same container must not interleave)."""
    with open(state / "lock", "w", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


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


def parse(state: Path, args: list[str], verb: str) -> dict | str:
    """The options of `run` or `create` and the command, or an error message."""
    spec: dict = {"detach": False, "remove": False, "name": "", "network": "", "entrypoint": "", "workdir": "/",
                  "names": [], "aliases": []}
    i = 0
    while i < len(args) and args[i].startswith("-"):
        flag = args[i]
        if flag == "-d" and verb == "run":
            spec["detach"] = True
        elif flag == "--rm":
            spec["remove"] = True
        elif flag in ("--name", "--network", "--network-alias", "-v", "-w", "-e", "--gpus", "--entrypoint"):
            if i + 1 >= len(args):
                return f"flag needs an argument: {flag}"
            value = args[i + 1]
            i += 1
            if flag == "--name":
                spec["name"] = value
            elif flag == "--network":
                spec["network"] = value
                if not (state / "networks" / value).is_dir():
                    return f"network {value} not found"
            elif flag == "--network-alias":
                spec["aliases"].append(value)
            elif flag == "-v":
                src, _, dst = value.partition(":")
                if src != dst or not src:
                    return f"this emulator needs same-path mounts, got {value!r}"
                if not Path(src).exists():
                    Path(src).mkdir(parents=True)
            elif flag == "-w":
                spec["workdir"] = value
            elif flag == "-e":
                if "=" in value:
                    return f"-e {value!r}: pipec passes variables by name only"
                spec["names"].append(value)
            elif flag == "--entrypoint":
                spec["entrypoint"] = value
        else:
            return f"unsupported flag {flag}"
        i += 1
    if i >= len(args):
        return f"{verb} needs an image"
    if spec["aliases"] and not spec["network"]:
        return "network-scoped alias is supported only for containers in user defined networks"
    spec["command"] = ([spec["entrypoint"]] if spec["entrypoint"] else []) + args[i + 1:]
    if not spec["command"]:
        return "the emulator has no image default command: give one"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root"}
    env.update({n: os.environ[n] for n in spec["names"] if n in os.environ})
    spec["env"] = env
    return spec


def _register(state: Path, spec: dict, pid: int | None) -> str | None:
    """Record a new container (None), or say why its name is taken."""
    containers = state / "containers"
    containers.mkdir(exist_ok=True)
    record = containers / f"{spec['name'] or 'anonymous'}.json"
    if spec["name"] and record.exists():
        return f'Conflict. The container name "/{spec["name"]}" is already in use'
    record.write_text(json.dumps({"pid": pid, "network": spec["network"], "spec": spec}))
    if spec["network"]:
        with open(state / "aliases.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"network": spec["network"], "name": spec["name"],
                                 "aliases": [spec["name"], *spec["aliases"]]}) + "\n")
    return None


def run(state: Path, args: list[str]) -> int:
    spec = parse(state, args, "run")
    if isinstance(spec, str):
        return fail(spec)
    name, command, env, workdir = spec["name"], spec["command"], spec["env"], spec["workdir"]
    containers = state / "containers"
    containers.mkdir(exist_ok=True)
    record = containers / f"{name or 'anonymous'}.json"
    if name and record.exists():
        return fail(f'Conflict. The container name "/{name}" is already in use')
    if spec["detach"]:
        with open(containers / f"{name}.log", "wb") as log:  # the process keeps its own copy
            proc = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        _register(state, spec, proc.pid)
        print(f"{proc.pid:064d}")
        return 0
    proc = subprocess.Popen(command, env=env, cwd=workdir, stdin=subprocess.DEVNULL, start_new_session=True)
    if name:
        _register(state, spec, proc.pid)
    status = proc.wait()
    if spec["remove"] and name:
        record.unlink(missing_ok=True)
    return status


def create(state: Path, args: list[str]) -> int:
    spec = parse(state, args, "create")
    if isinstance(spec, str):
        return fail(spec)
    with _locked(state):
        problem = _register(state, spec, None)
    if problem:
        return fail(problem)
    print(os.urandom(32).hex())
    return 0


def start(state: Path, args: list[str]) -> int:
    if len(args) != 2 or args[0] not in ("-a", "--attach"):
        return fail(f"start: only start -a NAME is emulated, got {args}")
    record = state / "containers" / f"{args[1]}.json"
    with _locked(state):  # an `rm -f` either comes first (no such container) or sees the process
        if not record.exists():
            return fail(f"No such container: {args[1]}")
        data = json.loads(record.read_text())
        if data["pid"] is not None or data.get("started"):
            return fail(f"container {args[1]} was started before (not emulated)")
        spec = data["spec"]
        proc = subprocess.Popen(spec["command"], env=spec["env"], cwd=spec["workdir"], stdin=subprocess.DEVNULL,
                                start_new_session=True)
        record.write_text(json.dumps({**data, "pid": proc.pid, "started": True}))
    status = proc.wait()
    with _locked(state):
        if record.exists():  # it exited: its process is gone (rm -f then only removes the record)
            record.write_text(json.dumps({**json.loads(record.read_text()), "pid": None}))
    return 128 - status if status < 0 else status


def rm(state: Path, args: list[str]) -> int:
    if not args or args[0] != "-f":
        return fail(f"rm: only rm -f is emulated, got {args}")
    status = 0
    for name in args[1:]:
        record = state / "containers" / f"{name}.json"
        with _locked(state):
            if not record.exists():
                fail(f"No such container: {name}")
                status = 1
                continue
            pid = json.loads(record.read_text())["pid"]
            record.unlink()
        if pid is None:  # created and never started, or exited
            continue
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:  # reaped by whoever adopted it
            time.sleep(0.01)
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
    if verb == "create":
        return create(state, rest)
    if verb == "start":
        return start(state, rest)
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
