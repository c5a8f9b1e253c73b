"""runnable pipelines compiled for GitHub Actions and run in the emulator (tests/harness/gha_sim.py:
steps are real processes of this machine, each job instance on a "machine" of its own): the
examples of examples/runnable, from a copy of that directory as the repository (compiled into it
with `-o`, checked out by every job, so the runner starts in the project directory, the job's
workspace, and imports `steps` from there), with this interpreter as the runner's Python (it has
ploomber-engine for the notebook tasks). The expectations are those of the Slurm run
(tests/backends/slurm/test_runnable.py).

Every job instance has a /tmp of its own (``private_tmp``), as a job's container has: the runner
is written to /tmp/pipec-runnable/runner.py by every job, so jobs sharing this machine's /tmp
would race over that file.

What runs: nested parallel branches all run, side by side, and the step after them starts once
all have ended (timestamps); python, shell and notebook tasks; a map over a run-time list of five
(a matrix from the fan-out job's output) with a three-step branch, reduced by default and by a
lambda, and over an empty list; the map over a list from the parameters file, unrolled; a
conditional runs only its matching branch, both sides chosen by the dispatch input `side`, and
fails when none matches; a loop stops at break_on; on_failure runs the handler after the retries
and the run succeeds, and fails when the recovery ends in `fail`; catalog files flow; a hostile
`greeting` dispatch input arrives byte for byte. Every example's workflow passes actionlint,
zizmor and the SchemaStore schema (tests/harness/gha_check.py) with nothing reported. And the
emulator's private /tmp, which these runs rely on.

Known pipec bugs are ``xfail(strict=True)`` tests that describe the bug in their reason.
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipec.cli import main
from tests.harness.gha_check import check_workflows
from tests.harness.gha_sim import Run, run_workflow
from tests.paths import ROOT

EXAMPLES = ROOT / "examples" / "runnable"
PIPELINES = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "params.yaml")
# The Slurm test's hostile text: quotes, substitutions, both engines' template braces, a newline.
HOSTILE = "it's \"quoted\" $(touch pwned) `touch pwned2` ${HOME} \\ ; {{x}} ${{ y }}\nline two\tünï 🚀 '"
IMAGE = "registry.example.com/runnable-examples:1"
e2e = pytest.mark.e2e


# --------------------------------------------------------------------------- helpers
def project(tmp_path: Path) -> Path:
    """A copy of the examples directory with a pipec.toml for this machine: the repository."""
    proj = tmp_path / "project"
    shutil.copytree(EXAMPLES, proj, ignore=shutil.ignore_patterns("__pycache__"))
    (proj / "pipec.toml").write_text(f'[runnable]\nimage = "{IMAGE}"\npython = {json.dumps(sys.executable)}\n',
                                     encoding="utf-8")
    return proj


def compile_example(source: Path, out: Path) -> Path:
    """`pipec compile --target gha -o out` of one runnable file with the examples' parameters:
    the workflow file."""
    result = CliRunner().invoke(main, ["compile", str(source), "--params", str(source.parent / "params.yaml"),
                                       "--target", "gha", "-o", str(out)])
    assert result.exit_code == 0, f"pipec compile failed ({result.exit_code}):\n{result.output}"
    assert "warning" not in result.output, result.output
    (flow,) = (out / ".github" / "workflows").glob("*.yml")
    return flow


def run(proj: Path, name: str, inputs: dict[str, str] | None = None, timeout: float = 120) -> Run:
    """Compile example `name` into the project and dispatch it (inputs = the dispatch inputs)."""
    flow = compile_example(proj / f"{name}.yaml", proj)
    return run_workflow(flow, workspace=proj, workdir=proj.parent / "gh", inputs=inputs, private_tmp=True,
                        timeout=timeout)


def area(r: Run, job: str, n: int = 0) -> Path:
    """Execution n of a job, as its artifact holds it (outputs/ and .pipec/)."""
    assert f"pipec.{job}.{n}" in r.artifacts, f"{job} #{n} uploaded nothing\n{r.logs()}"
    return r.artifact(f"pipec.{job}.{n}") / str(n)


def state(r: Run, job: str, n: int = 0) -> dict:
    path = area(r, job, n) / "outputs" / ".pipec-state" / "state.json"
    assert path.exists(), f"no state for {job} #{n}\n{r.logs()}"
    return json.loads(path.read_text(encoding="utf-8"))


def stdout(r: Run, job: str, n: int = 0) -> str:
    return (area(r, job, n) / ".pipec" / "stdout").read_text(encoding="utf-8")


def stderr(r: Run, job: str) -> str:
    """What the run step of every instance of the job wrote to stderr."""
    legs = r.legs(job)
    assert legs, f"{job} never ran\n{r.logs()}"
    return "".join(leg.step("run").stderr for leg in legs if leg.has_step("run"))


# --------------------------------------------------------------------------- the judges
@pytest.mark.parametrize("example", PIPELINES, ids=lambda p: p.stem)
def test_every_runnable_example_compiles_and_passes_the_judges(tmp_path: Path, example: Path, gha_tools) -> None:
    # Compiled where it is, with its own pipec.toml (the image users get).
    compile_example(example, tmp_path)
    assert check_workflows(tmp_path) == []


# --------------------------------------------------------------------------- end to end
@e2e
def test_nested_parallel_runs_every_branch_before_the_next_step(tmp_path: Path) -> None:
    r = run(project(tmp_path), "nesting")
    assert r.conclusion == "success", r.logs()
    leaves = [f"outer-parallel-{a}-inner-parallel-{b}-stamp" for a in ("first", "second") for b in ("left", "right")]
    ended = [float((area(r, leaf) / "outputs" / "ended.txt").read_text()) for leaf in leaves]
    started = [float((area(r, leaf) / "outputs" / "started.txt").read_text()) for leaf in leaves]
    after = float((area(r, "after") / "outputs" / "after.txt").read_text())
    assert after > max(ended), (started, ended, after)
    # The branches ran side by side: each started before the others had ended.
    assert max(started) < min(ended) + 1.5, (started, ended)
    # Catalog files of all four branches reached "after", none dropped (same names: suffixed).
    got = sorted(p.name for p in (area(r, "after") / "outputs").glob("started*.txt"))
    assert len(got) == 4, got
    assert (area(r, "after") / "outputs" / "greeting.txt").read_text() == "hello from the parameters file\n"


@e2e
def test_parallel_branches_run_python_shell_and_notebook_tasks(tmp_path: Path) -> None:
    r = run(project(tmp_path), "parallel")
    assert r.conclusion == "success", r.logs()
    for branch in ("branch1", "branch2"):
        assert "Hello World!" in stdout(r, f"parallel-step-{branch}-hello-python")
        assert "Hello World!" in stdout(r, f"parallel-step-{branch}-hello-shell")
        (notebook,) = (area(r, f"parallel-step-{branch}-hello-notebook") / "outputs").glob("hello-*_out.ipynb")
        assert "hello from the parameters file from the notebook" in notebook.read_text(encoding="utf-8")


@e2e
def test_map_over_a_run_time_list_runs_each_item_through_the_branch_and_reduces(tmp_path: Path) -> None:
    r = run(project(tmp_path), "map")
    assert r.conclusion == "success", r.logs()
    values = state(r, "collect")["values"]
    assert values["processed"][1] == [10, 20, 30, 40, 50]
    assert values["doubled"][1] == [20, 40, 60, 80, 100]
    assert values["best"][1] == 100
    assert "processed=[10, 20, 30, 40, 50] best=100" in stdout(r, "collect")
    # Five legs of each branch job (a matrix), each item's steps reading that item's values.
    for job in ("map-state-process", "map-state-double", "map-state-check", "best-double"):
        assert len(r.legs(job)) == 5, (job, r.logs())
    for n in range(5):
        assert state(r, "map-state-check", n)["values"]["doubled"][1] == 20 * (n + 1)


@e2e
def test_a_map_over_an_empty_run_time_list_runs_no_branch_and_reduces_to_empty_lists(tmp_path: Path) -> None:
    r = run(project(tmp_path), "map", {"count": "0"})
    assert r.conclusion == "failure"  # collect's own check: an empty list has no maximum of 20 * len
    assert r.job("collect").result == "failure", r.logs()
    assert "AssertionError" in stderr(r, "collect")
    assert state(r, "map-state-fan-in")["values"]["processed"][1] == []
    # GitHub refuses an empty matrix: the branch's jobs get one placeholder leg that runs nothing.
    for job in ("map-state-process", "map-state-double", "map-state-check", "best-double"):
        (leg,) = r.legs(job)
        assert leg.step("run").outcome == "skipped", (job, r.logs())
    assert not any(name.startswith("pipec.map-state-process.") for name in r.artifacts)


@e2e
def test_map_over_a_list_from_the_parameters_file_is_unrolled(tmp_path: Path) -> None:
    r = run(project(tmp_path), "map_params")
    assert r.conclusion == "success", r.logs()
    values = state(r, "collect")["values"]
    assert values["processed"][1] == [10, 20, 30]
    assert values["doubled"][1] == [20, 40, 60]
    assert values["best"][1] == 60


@e2e
@pytest.mark.parametrize("side, ran, skipped", [("heads", "celebrate", "commiserate"),
                                                 ("tails", "commiserate", "celebrate")])
def test_conditional_runs_only_the_matching_branch(tmp_path: Path, side: str, ran: str, skipped: str) -> None:
    r = run(project(tmp_path), "conditional", {"side": side})
    assert r.conclusion == "success", r.logs()
    key = {"celebrate": "heads", "commiserate": "tails"}
    assert state(r, f"branch-on-coin-{key[ran]}-{ran}")["status"] == "ok"
    assert state(r, f"branch-on-coin-{key[skipped]}-{skipped}")["status"] == "skipped"
    assert f"outcome: {key[ran]} won" in stdout(r, "report")


@e2e
def test_conditional_without_a_matching_branch_fails(tmp_path: Path) -> None:
    r = run(project(tmp_path), "conditional", {"side": "edge"})
    assert r.conclusion == "failure", r.logs()
    for job in ("branch-on-coin-heads-celebrate", "branch-on-coin-tails-commiserate"):
        assert "None of the branches were true" in stderr(r, job)
    assert r.job("report").result == "skipped", r.logs()
    assert "pipec.report.0" not in r.artifacts


@e2e
def test_loop_stops_at_break_on(tmp_path: Path) -> None:
    r = run(project(tmp_path), "loop")
    assert r.conclusion == "success", r.logs()
    statuses = [state(r, f"retry-{i}-attempt")["status"] for i in range(5)]
    assert statuses == ["ok", "ok", "ok", "skipped", "skipped"]
    assert "succeeded at iteration 2" in stdout(r, "summary")


@e2e
def test_on_failure_runs_the_handler_and_the_run_succeeds(tmp_path: Path) -> None:
    r = run(project(tmp_path), "on_failure")
    assert r.conclusion == "success", r.logs()
    fetch = state(r, "fetch")
    assert fetch["status"] == "failed" and fetch["flags"] == ["failed:fetch"]
    assert "attempt 1 of 2 failed" in stderr(r, "fetch")
    assert "using yesterday" in stdout(r, "use")


@e2e
def test_a_recovery_path_ending_in_fail_fails_the_run(tmp_path: Path) -> None:
    proj = project(tmp_path)
    text = (proj / "on_failure.yaml").read_text().replace("      next: use\n    use:", "      next: fail\n    use:")
    (proj / "on_failure.yaml").write_text(text)
    r = run(proj, "on_failure")
    assert r.conclusion == "failure", r.logs()
    assert state(r, "recover")["status"] == "ok"
    assert "reached its fail step" in stderr(r, "fail")
    assert state(r, "use")["status"] == "skipped"  # after fetch's failure: not on the path taken


@e2e
def test_catalog_files_flow_and_returns_reach_later_steps(tmp_path: Path) -> None:
    r = run(project(tmp_path), "catalog")
    assert r.conclusion == "success", r.logs()
    contents = state(r, "read")["values"]["contents"][1]
    assert contents == {"csv": "a,b\n1,2\n", "text": "hello from the catalog\n"}


@e2e
def test_parameters_changed_at_submit_arrive_byte_for_byte(tmp_path: Path) -> None:
    r = run(project(tmp_path), "nesting", {"greeting": HOSTILE})
    assert r.conclusion == "success", r.logs()
    for leaf in [f"outer-parallel-{a}-inner-parallel-{b}-stamp" for a in ("first", "second")
                 for b in ("left", "right")]:
        assert (area(r, leaf) / "outputs" / "greeting.txt").read_text(encoding="utf-8") == HOSTILE + "\n"
    assert not list(tmp_path.rglob("pwned*"))


# --------------------------------------------------------------------------- the emulator
@e2e
def test_the_emulator_gives_each_job_instance_a_tmp_of_its_own(tmp_path: Path) -> None:
    probe = f"/tmp/pipec-sim-probe-{uuid.uuid4().hex}"
    here = (f"{sys.executable} -c 'import os; "
            f"assert os.path.samefile(os.getcwd(), os.environ[\"GITHUB_WORKSPACE\"])'")
    flow = tmp_path / "repo" / ".github" / "workflows" / "probe.yml"
    flow.parent.mkdir(parents=True)
    flow.write_text(f"""\
name: probe
on: workflow_dispatch
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: {here} && mkdir {probe} && echo a > {probe}/a
      - run: test -f {probe}/a
  b:
    needs: a
    runs-on: ubuntu-latest
    strategy:
      matrix:
        include: [{{n: 1}}, {{n: 2}}]
    steps:
      - run: test ! -e {probe} && mkdir {probe}
""", encoding="utf-8")
    r = run_workflow(flow, workspace=tmp_path / "repo", workdir=tmp_path / "gh", private_tmp=True)
    # a's steps share its /tmp (one machine); b's legs see neither a's nor each other's.
    assert r.conclusion == "success", r.logs()
    assert len(r.legs("b")) == 2
    assert not Path(probe).exists(), "a step wrote to this machine's /tmp"


@e2e
def test_a_map_inside_a_map_both_over_run_time_lists(tmp_path: Path) -> None:
    from tests.backends.slurm.test_runnable import NESTED_MAP

    proj = project(tmp_path)
    (proj / "nested_map.yaml").write_text(NESTED_MAP, encoding="utf-8")
    got = run(proj, "nested_map")
    values = state(got, "collect")["values"]
    # Per outer item: the inner items' squares summed by the inner reducer; an empty inner list: [].
    assert values["total"][1] == [5, 9, [], 77]
    # The inner branch ran once per (outer, inner) pair, six in all, each with its own item.
    assert [state(got, "outer-inner-square", n)["values"]["sq"][1] for n in range(6)] == [1, 4, 9, 16, 25, 36]
