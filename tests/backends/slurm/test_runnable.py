"""runnable pipelines compiled for Slurm and run on the real cluster (the ``slurm_cluster``
fixture; skipped without Slurm unless PIPEC_REQUIRE_SLURM=1): the examples of
examples/runnable, run from a copy of that directory as the project directory, with
``[slurm] container = "none"`` and this interpreter as the runner's Python (it has
ploomber-engine for the notebook tasks).

What runs: nested parallel branches all run and the step after them starts once all have
ended (timestamps); python, shell and notebook tasks; a map over a list of three with a
three-step branch, reduced by default and by a lambda; a conditional runs only its matching
branch; a loop stops at break_on; on_failure runs the handler after the retries and the run
ends as runnable says (the recovery path succeeds, `fail` fails); catalog files flow through
nested branches; parameters changed at submit (hostile text included) arrive byte for byte.
Without Slurm: every example compiles and passes shellcheck.
"""

# ruff: noqa: F811
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.backends.slurm.test_osmo_groups import Run, shellcheck, wait_gone
from tests.harness.slurm_cluster import slurm_cluster  # noqa: F401
from tests.paths import ROOT

EXAMPLES = ROOT / "examples" / "runnable"
PIPELINES = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "params.yaml")
HOSTILE = "it's \"quoted\" $(touch pwned) `touch pwned2` ${HOME} \\ ; {{x}} ${{ y }}\nline two\tünï 🚀 '"


def project(tmp_path: Path) -> Path:
    """A copy of the examples directory with a pipec.toml for this machine."""
    proj = tmp_path / "project"
    shutil.copytree(EXAMPLES, proj, ignore=shutil.ignore_patterns("__pycache__"))
    (proj / "pipec.toml").write_text(f'[runnable]\npython = {json.dumps(sys.executable)}\n\n'
                                     '[slurm]\ncontainer = "none"\n', encoding="utf-8")
    return proj


def compile_example(proj: Path, name: str, *extra: str) -> Path:
    out = proj.parent / f"out-{name}"
    r = subprocess.run([sys.executable, "-m", "pipec", "compile", str(proj / f"{name}.yaml"), "--params",
                        str(proj / "params.yaml"), *extra, "--target", "slurm", "-o", str(out)],
                       cwd=proj, env={"PYTHONPATH": str(ROOT / "compiler"), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, f"pipec compile failed:\n{r.stdout}{r.stderr}"
    (pdir,) = [p for p in out.iterdir() if p.is_dir()]
    return pdir


def run(cluster, proj: Path, name: str, *args: str, timeout: float = 240) -> Run:
    """Compile example `name`, submit it from the project directory, wait until it is done."""
    pdir = compile_example(proj, name)
    base = proj.parent / f"runs-{name}"
    base.mkdir(exist_ok=True)
    start = time.monotonic()
    r = subprocess.run([str(pdir / "submit.sh"), "--run-dir", str(base / "run"), *args], cwd=proj, env=cluster.env,
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, f"{r.stdout}{r.stderr}"
    return wait_gone(cluster, base, r, start, timeout)


def state(run: Run, job: str, n: int = 0) -> dict:
    path = run.path / job / str(n) / "outputs" / ".pipec-state" / "state.json"
    assert path.exists(), f"no state for {job}\n{run.logs()}"
    return json.loads(path.read_text())


def stdout(run: Run, job: str, n: int = 0) -> str:
    return (run.path / job / str(n) / ".pipec" / "stdout").read_text()


# ----------------------------------------------------------------------------- without Slurm
@pytest.mark.parametrize("example", PIPELINES, ids=lambda p: p.stem)
def test_examples_compile_and_pass_shellcheck(tmp_path: Path, example: Path) -> None:
    pdir = compile_example(project(tmp_path), example.stem)
    shellcheck(pdir)


# ----------------------------------------------------------------------------- on the cluster
def test_nested_parallel_runs_every_branch_before_the_next_step(slurm_cluster, tmp_path: Path) -> None:
    proj = project(tmp_path)
    r = run(slurm_cluster, proj, "nesting")
    assert r.failed == "", r.logs()
    leaves = [f"outer-parallel-{a}-inner-parallel-{b}-stamp" for a in ("first", "second") for b in ("left", "right")]
    ended = [float((r.path / leaf / "0" / "outputs" / "ended.txt").read_text()) for leaf in leaves]
    started = [float((r.path / leaf / "0" / "outputs" / "started.txt").read_text()) for leaf in leaves]
    after = float((r.path / "after" / "0" / "outputs" / "after.txt").read_text())
    assert after > max(ended), (started, ended, after)
    # The branches ran side by side: each started before the others had ended.
    assert max(started) < min(ended) + 1.5
    # Catalog files of all four branches reached "after", none dropped (same names: suffixed).
    got = sorted(p.name for p in (r.path / "after" / "0" / "outputs").glob("started*.txt"))
    assert len(got) == 4, got
    assert (r.path / "after" / "0" / "outputs" / "greeting.txt").read_text() == "hello from the parameters file\n"


def test_parallel_branches_run_python_shell_and_notebook_tasks(slurm_cluster, tmp_path: Path) -> None:
    r = run(slurm_cluster, project(tmp_path), "parallel")
    assert r.failed == "", r.logs()
    for branch in ("branch1", "branch2"):
        assert "Hello World!" in stdout(r, f"parallel-step-{branch}-hello-python")
        assert "Hello World!" in stdout(r, f"parallel-step-{branch}-hello-shell")
        out = r.path / f"parallel-step-{branch}-hello-notebook" / "0" / "outputs"
        (notebook,) = out.glob("hello-*_out.ipynb")
        assert "hello from the parameters file from the notebook" in notebook.read_text()


def test_map_over_a_run_time_list_runs_each_item_through_the_branch_and_reduces(slurm_cluster,
                                                                                tmp_path: Path) -> None:
    r = run(slurm_cluster, project(tmp_path), "map")
    assert r.failed == "", r.logs()
    values = state(r, "collect")["values"]
    assert values["processed"][1] == [10, 20, 30, 40, 50]
    assert values["doubled"][1] == [20, 40, 60, 80, 100]
    assert values["best"][1] == 100
    assert "processed=[10, 20, 30, 40, 50] best=100" in stdout(r, "collect")
    # Five executions of each branch job, each item's steps reading that item's values.
    for n in range(5):
        assert state(r, "map-state-check", n)["values"]["doubled"][1] == 20 * (n + 1)


def test_a_map_over_an_empty_run_time_list_runs_no_branch_and_reduces_to_empty_lists(slurm_cluster,
                                                                                     tmp_path: Path) -> None:
    r = run(slurm_cluster, project(tmp_path), "map", "--param", "count=0")
    assert r.failed != ""  # collect's own check: an empty list has no maximum of 20 * len
    assert state(r, "map-state-fan-in")["values"]["processed"][1] == []
    assert not (r.path / "map-state-process" / "0").exists()


def test_map_over_a_list_from_the_parameters_file_is_unrolled(slurm_cluster, tmp_path: Path) -> None:
    r = run(slurm_cluster, project(tmp_path), "map_params")
    assert r.failed == "", r.logs()
    values = state(r, "collect")["values"]
    assert values["processed"][1] == [10, 20, 30]
    assert values["doubled"][1] == [20, 40, 60]
    assert values["best"][1] == 60


@pytest.mark.parametrize("side, ran, skipped", [("heads", "celebrate", "commiserate"),
                                                 ("tails", "commiserate", "celebrate")])
def test_conditional_runs_only_the_matching_branch(slurm_cluster, tmp_path: Path, side: str, ran: str,
                                                   skipped: str) -> None:
    r = run(slurm_cluster, project(tmp_path), "conditional", "--param", f"side={side}")
    assert r.failed == "", r.logs()
    key = {"celebrate": "heads", "commiserate": "tails"}
    assert state(r, f"branch-on-coin-{key[ran]}-{ran}")["status"] == "ok"
    assert state(r, f"branch-on-coin-{key[skipped]}-{skipped}")["status"] == "skipped"
    assert f"outcome: {key[ran]} won" in stdout(r, "report")


def test_conditional_without_a_matching_branch_fails(slurm_cluster, tmp_path: Path) -> None:
    r = run(slurm_cluster, project(tmp_path), "conditional", "--param", "side=edge")
    assert "None of the branches were true" in r.logs()
    assert r.failed != ""
    assert not (r.path / "report" / "0" / ".pipec" / "ok").exists()


def test_loop_stops_at_break_on(slurm_cluster, tmp_path: Path) -> None:
    r = run(slurm_cluster, project(tmp_path), "loop")
    assert r.failed == "", r.logs()
    statuses = [state(r, f"retry-{i}-attempt")["status"] for i in range(5)]
    assert statuses == ["ok", "ok", "ok", "skipped", "skipped"]
    assert "succeeded at iteration 2" in stdout(r, "summary")


def test_on_failure_runs_the_handler_and_the_run_succeeds(slurm_cluster, tmp_path: Path) -> None:
    r = run(slurm_cluster, project(tmp_path), "on_failure")
    assert r.failed == "", r.logs()
    fetch = state(r, "fetch")
    assert fetch["status"] == "failed" and fetch["flags"] == ["failed:fetch"]
    assert "attempt 1 of 2 failed" in r.logs()
    assert "using yesterday" in stdout(r, "use")


def test_a_recovery_path_ending_in_fail_fails_the_run(slurm_cluster, tmp_path: Path) -> None:
    proj = project(tmp_path)
    text = (proj / "on_failure.yaml").read_text().replace("      next: use\n    use:", "      next: fail\n    use:")
    (proj / "on_failure.yaml").write_text(text)
    r = run(slurm_cluster, proj, "on_failure")
    assert "fail failed" in r.failed or "reached its fail step" in r.logs(), r.logs()
    assert r.failed != ""
    assert state(r, "recover")["status"] == "ok"


def test_catalog_files_flow_and_returns_reach_later_steps(slurm_cluster, tmp_path: Path) -> None:
    r = run(slurm_cluster, project(tmp_path), "catalog")
    assert r.failed == "", r.logs()
    contents = state(r, "read")["values"]["contents"][1]
    assert contents == {"csv": "a,b\n1,2\n", "text": "hello from the catalog\n"}


def test_parameters_changed_at_submit_arrive_byte_for_byte(slurm_cluster, tmp_path: Path) -> None:
    r = run(slurm_cluster, project(tmp_path), "nesting", "--param", f"greeting={HOSTILE}")
    assert r.failed == "", r.logs()
    leaf = "outer-parallel-first-inner-parallel-left-stamp"
    assert (r.path / leaf / "0" / "outputs" / "greeting.txt").read_text() == HOSTILE + "\n"
    assert not list(tmp_path.rglob("pwned*"))


COMPOSITE_MAP = """\
dag:
  start_at: make chunks
  steps:
    make chunks:
      type: task
      command: steps.make_chunks
      returns: [{name: chunks}]
      next: per_chunk
    per_chunk:
      type: map
      iterate_on: chunks
      iterate_as: chunk
      next: collect
      branch:
        start_at: both
        steps:
          both:
            type: parallel
            next: parity
            branches:
              left:
                start_at: tens
                steps:
                  tens:
                    type: task
                    command_type: shell
                    command: export tens=$((chunk * 10)) parity=$((chunk % 2))
                    returns: [{name: tens}, {name: parity}]
                    next: success
              right:
                start_at: hundreds
                steps:
                  hundreds:
                    type: task
                    command_type: shell
                    command: export hundreds=$((chunk * 100))
                    returns: [{name: hundreds}]
                    next: success
          parity:
            type: conditional
            parameter: parity
            next: success
            branches:
              "0":
                start_at: even
                steps:
                  even:
                    type: task
                    command_type: shell
                    command: export kind=even-$tens-$hundreds
                    returns: [{name: kind}]
                    next: success
              "1":
                start_at: odd
                steps:
                  odd:
                    type: task
                    command_type: shell
                    command: export kind=odd-$tens-$hundreds
                    returns: [{name: kind}]
                    next: success
    collect:
      type: task
      command_type: shell
      command: echo "$kind" > kinds.json
      next: success
"""


def test_parallel_and_conditional_inside_a_map_over_a_run_time_list(slurm_cluster, tmp_path: Path) -> None:
    proj = project(tmp_path)
    (proj / "composite_map.yaml").write_text(COMPOSITE_MAP, encoding="utf-8")
    r = run(slurm_cluster, proj, "composite_map", "--param", "count=4")
    assert r.failed == "", r.logs()
    values = state(r, "collect")["values"]
    assert values["kind"][1] == ["odd-10-100", "even-20-200", "odd-30-300", "even-40-400"]
    assert values["tens"][1] == [10, 20, 30, 40]
    # Each item ran one conditional branch and skipped the other.
    statuses = [(state(r, "per-chunk-parity-0-even", n)["status"], state(r, "per-chunk-parity-1-odd", n)["status"])
                for n in range(4)]
    assert statuses == [("skipped", "ok"), ("ok", "skipped"), ("skipped", "ok"), ("ok", "skipped")]


NESTED_MAP = """\
dag:
  start_at: make groups
  steps:
    make groups:
      type: task
      command_type: shell
      command: export groups='[[1, 2], [3], [], [4, 5, 6]]'
      returns: [{name: groups}]
      next: outer
    outer:
      type: map
      iterate_on: groups
      iterate_as: group
      next: collect
      branch:
        start_at: inner
        steps:
          inner:
            type: map
            iterate_on: group
            iterate_as: x
            reducer: "lambda *v: sum(v)"
            next: label
            branch:
              start_at: square
              steps:
                square:
                  type: task
                  command_type: shell
                  command: export sq=$((x * x))
                  returns: [{name: sq}]
                  next: success
          label:
            type: task
            command_type: shell
            command: export total="$sq" size="$(echo "$group" | tr -cd , | wc -c)"
            returns: [{name: total}]
            next: success
    collect:
      type: task
      command_type: shell
      command: echo "$total" > totals.json
      next: success
"""


def test_a_map_inside_a_map_both_over_run_time_lists(slurm_cluster, tmp_path: Path) -> None:
    proj = project(tmp_path)
    (proj / "nested_map.yaml").write_text(NESTED_MAP, encoding="utf-8")
    r = run(slurm_cluster, proj, "nested_map")
    assert r.failed == "", r.logs()
    values = state(r, "collect")["values"]
    # Per outer item: the inner items' squares summed by the inner reducer; an empty inner list: [].
    assert values["total"][1] == [5, 9, [], 77]
    assert json.loads((r.path / "collect" / "0" / "outputs" / "totals.json").read_text()) == [5, 9, [], 77]
    # The inner branch ran once per (outer, inner) pair, six in all, each with its own item.
    squares = [state(r, "outer-inner-square", n)["values"]["sq"][1] for n in range(6)]
    assert squares == [1, 4, 9, 16, 25, 36]
