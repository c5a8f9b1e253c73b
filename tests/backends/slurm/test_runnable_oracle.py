"""runnable itself as the oracle for the results of the runnable examples on Slurm.

Each example of examples/runnable is run twice on the same input: by runnable 0.50's own local
executor (``runnable execute X.yaml RUN_ID -c config.yaml -p params.yaml``, in a subprocess, from
a copy of examples/runnable as its working directory) and by pipec on the real Slurm cluster
(the ``slurm_cluster`` fixture, which marks the test ``cluster``/``e2e``; skipped without Slurm
unless PIPEC_REQUIRE_SLURM=1). Then the results are compared:

* the parameters after the pipeline's last step: runnable's run log ``parameters`` (and, where
  useful, a branch's ``parameters``) against the values in the state of pipec's last job(s)
  (merged as pipec documents it: per name the highest step number wins, on a tie the job of
  the branch written last);
* whether the run succeeded: the run log's ``status`` against pipec's ``run.failed``;
* the catalog: the files under runnable's catalog folder for the run id (except its
  ``<step><tag>.execution.log`` task logs, extensions/pipeline_executor/__init__.py:351-363)
  against the files pipec's putting jobs published (their outputs matching their ``put``
  globs), by plain name (pipec keeps same-named files of several branches; the plain name is
  what runnable keeps) and content.

runnable's services (``RUNNABLE_CONFIG``): runnable/defaults.py DEFAULT_SERVICES (pipeline
executor ``local``, run log store and catalog ``file-system``) with both folders inside the
temporary working directory: the run log is ``<dir>/.run_log_store/<run id>.json``
(extensions/run_log_store/file_system.py write_to_path), the catalog ``<dir>/.catalog/<run id>/``
(extensions/catalog/file_system.py get_catalog_location). The run id is the positional argument
of ``runnable execute`` (runnable/cli.py: ``run_id`` is a typer Argument, env RUNNABLE_RUN_ID;
there is no ``--run-id`` option).

Differences are classified in the docstring of ``test_results_match_runnable`` and asserted
exactly as they are (so a change on either side shows). The two pipec bugs this comparison
found (a loop's index not in the environment; the executed notebook's name and catalog entry)
are fixed.
"""

# ruff: noqa: F811
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.backends.slurm.test_osmo_groups import Run
from tests.backends.slurm.test_runnable import EXAMPLES, PIPELINES, project, run, state
from tests.harness.slurm_cluster import slurm_cluster  # noqa: F401

RUNNABLE_CONFIG = """\
# runnable/defaults.py DEFAULT_SERVICES, with the run log and the catalog kept in this directory.
pipeline-executor:
  type: local
run-log-store:
  type: file-system
  config:
    log_folder: {logs}
catalog:
  type: file-system
  config:
    catalog_location: {catalog}
"""
RUN_ID = "oracle"
# runnable's cli, as its console script runs it (python -c keeps the working directory on sys.path,
# where runnable imports `steps` from).
_RUNNABLE = "import sys; from runnable.cli import app; sys.argv[0] = 'runnable'; sys.exit(app())"
# Variables that would change runnable's run (parameters, run id, config) or make its import set
# up telemetry.
_DROPPED_ENV = ("RUNNABLE_", "OTEL_", "LOGFIRE_")





# ----------------------------------------------------------------------------- runnable's run
@dataclass
class Oracle:
    """runnable's local run of one example."""

    dir: Path  # its working directory (a copy of examples/runnable)
    log: dict  # its run log
    catalog: Path  # its catalog folder for the run id
    proc: subprocess.CompletedProcess

    @property
    def status(self) -> str:
        return self.log["status"]

    def find(self, internal: str) -> dict:
        """The step log or branch log of that internal name."""
        def walk(steps: dict):
            for name, step in steps.items():
                yield name, step
                for bname, branch in (step.get("branches") or {}).items():
                    yield bname, branch
                    yield from walk(branch["steps"])
        for name, entry in walk(self.log["steps"]):
            if name == internal:
                return entry
        raise AssertionError(f"runnable's run log has no step or branch {internal!r}\n{self.output()}")

    def params(self, branch: str = "") -> dict:
        """The parameters (values) of the run, or of a branch's scope."""
        params = self.find(branch)["parameters"] if branch else self.log["parameters"]
        return {name: p["value"] for name, p in params.items()}

    def branches(self, step: str) -> list[str]:
        return sorted(self.find(step)["branches"])

    def files(self) -> dict[str, bytes]:
        """What runnable's catalog holds for the run, but its own task logs."""
        return {str(p.relative_to(self.catalog)): p.read_bytes() for p in sorted(self.catalog.rglob("*"))
                if p.is_file() and not p.name.endswith(".execution.log")}

    def task_log(self, internal: str) -> str:
        """runnable's log of a task (utils.make_log_file_name: alphanumerics + 3 random characters)."""
        stem = "".join(c for c in internal if c.isalnum())
        (path,) = [p for p in self.catalog.glob(f"{stem}???.execution.log")]
        return path.read_text(errors="replace")

    def output(self) -> str:
        return f"runnable exit {self.proc.returncode}\n{self.proc.stdout[-4000:]}\n{self.proc.stderr[-4000:]}"


def run_runnable(tmp_path: Path, name: str) -> Oracle:
    work = tmp_path / "runnable"
    shutil.copytree(EXAMPLES, work, ignore=shutil.ignore_patterns("__pycache__"))
    logs, catalog = work / ".run_log_store", work / ".catalog"
    (work / "config.yaml").write_text(RUNNABLE_CONFIG.format(logs=json.dumps(str(logs)),
                                                             catalog=json.dumps(str(catalog))), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV)}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), PLOOMBER_STATS_ENABLED="false")
    proc = subprocess.run([sys.executable, "-c", _RUNNABLE, "execute", f"{name}.yaml", RUN_ID, "-c", "config.yaml",
                           "-p", "params.yaml"], cwd=work, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    log_file = logs / f"{RUN_ID}.json"
    assert log_file.is_file(), f"runnable wrote no run log\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    oracle = Oracle(work, json.loads(log_file.read_text()), catalog / RUN_ID, proc)
    # runnable's exit status follows its run log (entrypoints: ExecutionFailedError on FAIL).
    assert (proc.returncode == 0) == (oracle.status == "SUCCESS"), oracle.output()
    return oracle


# ----------------------------------------------------------------------------- pipec's run
def job_id(internal: str) -> str:
    """pipec's engine-safe job id of a runnable internal name ("outer_parallel.first.stamp")."""
    return re.sub(r"[^A-Za-z0-9]+", "-", internal).strip("-")


def values_after(r: Run, *jobs: str | tuple[str, int]) -> dict:
    """The parameters after the given last jobs: their states merged by pipec's documented rule
    (per name the value of the highest step number; on a tie the job listed later wins, so list
    the branches in the order they are written)."""
    merged: dict = {}
    for job in jobs:
        name, n = job if isinstance(job, tuple) else (job, 0)
        for key, (seq, value, _) in state(r, name, n)["values"].items():
            if key not in merged or seq >= merged[key][0]:
                merged[key] = (seq, value)
    return {key: value for key, (_, value) in merged.items()}


def tasks(graph: dict, prefix: str = "", repeated: bool = False):
    """(internal name, step, inside a map or loop) of every task, depth first."""
    for name, step in graph["steps"].items():
        internal, kind = f"{prefix}{name}", step.get("type", "task")
        if kind in ("parallel", "conditional"):
            for branch, sub in step["branches"].items():
                yield from tasks(sub, f"{internal}.{branch}.", repeated)
        elif kind in ("map", "loop"):
            yield from tasks(step["branch"], f"{internal}.*.", True)
        elif kind == "task":
            yield internal, step, repeated


def published(r: Run, proj: Path, name: str) -> dict[str, list[bytes]]:
    """The files pipec's putting jobs published: each execution's outputs matching its put globs."""
    files: dict[str, list[bytes]] = {}
    doc = yaml.safe_load((proj / f"{name}.yaml").read_text(encoding="utf-8"))
    for internal, step, repeated in tasks(doc["dag"]):
        puts = list((step.get("catalog") or {}).get("put") or [])
        if step.get("command_type") == "notebook":
            # runnable puts the executed notebook, <dir>/<stem>-<alnum of the step's name>_out.ipynb
            # (runnable/tasks.py:578-596, 681); that pipec publishes it is not observable here (no later
            # step gets it): its name in the outputs is what is compared.
            command = Path(str(step.get("command")))
            tag = "".join(c for c in internal.rsplit(".", 1)[-1] if c.isalnum())
            puts.append(str(command.parent / f"{command.stem}-{tag}_out.ipynb"))
        if not puts:
            continue
        assert not repeated, f"{internal}: puts inside a map or loop; teach published() their job and file names"
        job = r.path / job_id(internal)
        assert job.is_dir(), f"no job directory for {internal}: {job}"
        for execution in sorted(p for p in job.iterdir() if p.name.isdigit()):
            outputs = execution / "outputs"
            for pattern in puts:
                for f in sorted(outputs.glob(pattern)):
                    if f.is_file():
                        files.setdefault(str(f.relative_to(outputs)), []).append(f.read_bytes())
    return files


# ----------------------------------------------------------------------------- the checks
def check_parallel(o: Oracle, r: Run, proj: Path) -> None:
    assert o.status == "SUCCESS" and r.failed == "", (o.output(), r.logs())
    last = [f"parallel-step-{b}-hello-notebook" for b in ("branch1", "branch2")]  # "continue to" is a stub
    assert values_after(r, *last) == o.params()
    # runnable's branches start with empty parameters; pipec's see the run's parameters.
    for branch in ("branch1", "branch2"):
        assert o.params(f"parallel_step.{branch}") == {}
        assert values_after(r, f"parallel-step-{branch}-hello-notebook") == o.params()
    # The executed notebook: runnable's catalog copy is the second branch's (both have one name,
    # runnable runs the branches in order); the same notebook, the injected parameters differ.
    ours = sorted((r.path / last[1] / "0" / "outputs").glob("hello-*_out.ipynb"))
    assert len(ours) == 1, ours
    theirs = json.loads(o.files()["hello-hellonotebook_out.ipynb"])
    mine = json.loads(ours[0].read_text())

    def cells(nb: dict) -> list[str]:
        return ["".join(c["source"]) for c in nb["cells"] if "injected-parameters" not in c["metadata"].get("tags", [])]

    def printed(nb: dict) -> str:
        return "".join("".join(out.get("text", "")) for c in nb["cells"] for out in c.get("outputs", []))

    def injected(nb: dict) -> str:
        (cell,) = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
        return "".join(cell["source"])

    assert cells(theirs) == cells(mine)
    assert injected(theirs) == "# Injected parameters\n" and printed(theirs) == "hello from the notebook\n"
    assert 'greeting = "hello from the parameters file"' in injected(mine)
    assert printed(mine) == "hello from the parameters file from the notebook\n"
    # The catalog: the executed notebooks, named after the step's own name as runnable names them.
    assert sorted(o.files()) == ["hello-hellonotebook_out.ipynb"]
    assert sorted(published(r, proj, "parallel")) == sorted(o.files())


def check_nesting(o: Oracle, r: Run, proj: Path) -> None:
    assert o.status == "SUCCESS" and r.failed == "", (o.output(), r.logs())
    assert values_after(r, "after") == o.params()
    leaves = [f"outer_parallel.{a}.inner_parallel.{b}" for a in ("first", "second") for b in ("left", "right")]
    for leaf in leaves:
        assert o.params(leaf) == {}  # runnable: a branch starts with no parameters
        assert values_after(r, job_id(f"{leaf}.stamp")) == o.params()
    theirs, mine = o.files(), published(r, proj, "nesting")
    assert sorted(theirs) == sorted(mine) == ["after.txt", "ended.txt", "greeting.txt", "started.txt"]
    assert [len(mine[n]) for n in ("after.txt", "ended.txt", "greeting.txt", "started.txt")] == [1, 4, 4, 4]
    for stamp in ("after.txt", "ended.txt", "started.txt"):  # the times the steps ran: never equal
        for content in [theirs[stamp], *mine[stamp]]:
            float(content)
    # `echo "$greeting"`: runnable's branch has no `greeting`; pipec's has the run's.
    assert theirs["greeting.txt"] == b"\n"
    assert mine["greeting.txt"] == [b"hello from the parameters file\n"] * 4


def check_map(o: Oracle, r: Run, proj: Path, unrolled: bool = False) -> None:
    assert o.status == "SUCCESS" and r.failed == "", (o.output(), r.logs())
    final = values_after(r, "collect")
    assert final == o.params()
    items = o.params()["chunks"]
    assert items == list(range(1, len(items) + 1)) and final["best"] == 20 * len(items)
    for n, item in enumerate(items):
        check_job, best_job = (f"map-state-{n}-check", 0), (f"best-{n}-double", 0)
        if not unrolled:
            check_job, best_job = ("map-state-check", n), ("best-double", n)
        # runnable's item scope holds what the item's branch returned; pipec's item jobs see those
        # values (and, unlike runnable's scope, the run's parameters).
        for branch, job in ((f"map_state.{item}", check_job), (f"best.{item}", best_job)):
            scope, values = o.params(branch), values_after(r, job)
            assert scope and {k: values[k] for k in scope} == scope, (branch, scope, values)
    assert o.files() == {} and published(r, proj, "map_params" if unrolled else "map") == {}


def check_map_params(o: Oracle, r: Run, proj: Path) -> None:
    check_map(o, r, proj, unrolled=True)


def check_conditional(o: Oracle, r: Run, proj: Path) -> None:
    assert o.status == "SUCCESS" and r.failed == "", (o.output(), r.logs())
    assert values_after(r, "report") == o.params()
    assert o.params()["coin"] == "heads"
    assert o.branches("branch_on_coin") == ["branch_on_coin.heads"]  # runnable runs only the matching one
    assert state(r, "branch-on-coin-heads-celebrate")["status"] == "ok"
    assert state(r, "branch-on-coin-tails-commiserate")["status"] == "skipped"
    scope = o.params("branch_on_coin.heads")
    assert scope == {"outcome": "heads won"}
    assert values_after(r, "branch-on-coin-heads-celebrate")["outcome"] == scope["outcome"]
    assert o.files() == {} and published(r, proj, "conditional") == {}


def check_loop(o: Oracle, r: Run, proj: Path) -> None:
    assert o.status == "SUCCESS", o.output()
    assert o.branches("retry") == ["retry.0", "retry.1", "retry.2"]  # break_on after the third
    assert o.params()["done"] is True and o.params()["last"] == 2
    assert r.failed == "", r.logs()
    assert values_after(r, "summary") == o.params()
    for i in range(3):
        assert values_after(r, f"retry-{i}-attempt") == o.params(f"retry.{i}")
    assert [state(r, f"retry-{i}-attempt")["status"] for i in range(3, 5)] == ["skipped", "skipped"]
    assert o.files() == {} and published(r, proj, "loop") == {}


def check_on_failure(o: Oracle, r: Run, proj: Path) -> None:
    assert o.status == "SUCCESS" and r.failed == "", (o.output(), r.logs())
    assert values_after(r, "use") == o.params()
    assert o.params()["source"] == "yesterday"
    assert o.find("fetch")["status"] == "FAIL" and state(r, "fetch")["status"] == "failed"
    assert o.find("recover")["status"] == o.find("use")["status"] == "SUCCESS"
    assert state(r, "recover")["status"] == state(r, "use")["status"] == "ok"
    # max_attempts: 2 -- runnable's local executor tries once, pipec twice.
    assert len(o.find("fetch")["attempts"]) == 1
    assert "data source is down" in o.task_log("fetch")
    assert "attempt 1 of 2 failed" in r.logs()
    assert o.files() == {} and published(r, proj, "on_failure") == {}


def check_catalog(o: Oracle, r: Run, proj: Path) -> None:
    # runnable runs every step in one directory: "read" finds generate's scratch.txt and fails.
    assert o.status == "FAIL", o.output()
    assert [o.find(s)["status"] for s in ("generate", "inspect", "read")] == ["SUCCESS", "SUCCESS", "FAIL"]
    assert "a file that was not put reached a later step" in o.task_log("read")
    assert r.failed == "", r.logs()
    theirs, mine = o.files(), published(r, proj, "catalog")
    assert theirs == {"df.csv": b"a,b\n1,2\n", "data_folder/data.txt": b"hello from the catalog\n"}
    assert mine == {name: [content] for name, content in theirs.items()}
    final = values_after(r, "read")
    contents = final.pop("contents")
    assert final == o.params()  # runnable's failed "read" returned nothing
    assert contents == {"csv": theirs["df.csv"].decode(), "text": theirs["data_folder/data.txt"].decode()}


CHECKS = {"parallel": check_parallel, "nesting": check_nesting, "map": check_map, "map_params": check_map_params,
          "conditional": check_conditional, "loop": check_loop, "on_failure": check_on_failure,
          "catalog": check_catalog}
assert sorted(CHECKS) == sorted(p.stem for p in PIPELINES), "every example needs its check"
CASES = [p.stem for p in PIPELINES]


@pytest.mark.parametrize("example", CASES)
def test_results_match_runnable(slurm_cluster, tmp_path: Path, example: str) -> None:
    """The example's results on Slurm are runnable's own, but for these differences (runnable
    0.50 sources under site-packages; asserted as they are):

    parallel -- same: success, the final parameters, the notebook's cells. Differs:
      * runnable limitation: a parallel branch starts with no parameters
        (extensions/nodes/parallel.py:100 create_branch_log(name) without parameters, and a task
        reads only its branch's scope, runnable/tasks.py:260-262), so runnable's notebook injects
        nothing and prints "hello from the notebook"; pipec's branches see the run's parameters.
      The executed notebook: the same name (the step's own), put into the catalog on both.
    nesting -- same: success, final parameters, the catalog's names (after.txt, ended.txt,
      greeting.txt, started.txt; four branches put the last three: runnable keeps one copy,
      pipec four); time stamps compared as numbers. Differs (runnable limitation, as above):
      greeting.txt is an empty line from runnable's branches.
    map, map_params -- same: success, final parameters (lists in item order, the reducer's
      maximum), each item's returned values; runnable's item scope holds only the branch's
      returns (map.py:178, as parallel), pipec's item jobs also see the run's parameters (the
      example's functions need none of them).
    conditional -- same: success, final parameters, only the `heads` branch ran (runnable made
      no branch log for `tails`; pipec's `tails` job is skipped), the branch's return.
    loop -- same: success, three iterations, each iteration's parameters, the final ones. The
      index is the environment variable `index_as` in runnable (extensions/nodes/loop.py:200;
      runnable/parameters.py:107-110 binds only map variables to a function's arguments), so
      steps.attempt reads os.environ["i"]; pipec sets it there too (and as a parameter).
    on_failure -- same: success, final parameters (source = yesterday), fetch failed, recover and
      use ran. Differs (runnable limitation, documented in pipec's README): max_attempts: 2 is
      one attempt in runnable (runnable/nodes.py:475 _get_max_attempts is never called; the
      executor runs node.execute once, extensions/pipeline_executor/__init__.py:433), two in pipec.
    catalog -- same: the catalog (df.csv, data_folder/data.txt, byte for byte), the parameters
      but `contents`, whose pipec value is exactly runnable's catalog files. Differs (deliberate,
      pipec README "Every task's working directory is its own outputs directory"): runnable runs
      every task in one directory (runnable/defaults.py:109 COMPUTE_DATA_FOLDER = ".",
      runnable/catalog.py:27), so "read" sees scratch.txt that "generate" did not put, its
      assertion fails and runnable's run FAILs; pipec's run succeeds.
    """
    oracle = run_runnable(tmp_path, example)
    proj = project(tmp_path)
    got = run(slurm_cluster, proj, example)
    CHECKS[example](oracle, got, proj)
