"""runnable pipelines compiled for Argo and run on the emulated cluster (tests/harness/argo_sim.py:
pods are real processes of this machine, the artifact repository a directory): the examples of
examples/runnable, from a copy of that directory as the project directory, with this interpreter
as the runner's Python (it has ploomber-engine for the notebook tasks). The expectations are
those of the Slurm run (tests/backends/slurm/test_runnable.py).

The project is the image: pipec.toml names an image, and the emulator starts every pod of that
image in a fresh copy of the project directory (its working directory, where the runner starts
and imports `steps` from); every pod has a /tmp of its own, as a container has (the runner is
written to /tmp/pipec-runnable/runner.py by every job, so pods sharing this machine's /tmp would
race over that file).

What runs: nested parallel branches all run, side by side, and the step after them starts once
all have ended (timestamps); python, shell and notebook tasks; a map over a run-time list of five
with a three-step branch, reduced by default and by a lambda (and over an empty list); the map
over a list from the parameters file, unrolled; a conditional runs only its matching branch,
both sides chosen by the submit-time parameter `side`, and fails when none matches; a loop stops
at break_on; on_failure runs the handler after the retries and the run succeeds, and fails when
the recovery ends in `fail`; catalog files flow; a hostile `greeting` submitted with `argo submit
-p` (as pipec-b64:, as the manifest's header says for a value holding two braces, and as it is
when it holds none) arrives byte for byte. Every example's manifest, and every manifest run
here, passes the strict checker (tests/harness/argo_check.py) with nothing reported. And the
emulator's own image files and private /tmp, which these runs rely on.

An empty run-time list is a Skipped withParam task in Argo, which the tasks after it accept.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipec.cli import main
from tests.harness.argo_check import check_yaml
from tests.harness.argo_sim import Workflow, run_workflow
from tests.paths import ROOT

EXAMPLES = ROOT / "examples" / "runnable"
PIPELINES = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "params.yaml")
# The Slurm test's hostile text: quotes, substitutions, both engines' template braces, a newline.
HOSTILE = "it's \"quoted\" $(touch pwned) `touch pwned2` ${HOME} \\ ; {{x}} ${{ y }}\nline two\tünï 🚀 '"
IMAGE = "registry.example.com/runnable-examples:1"  # the image holding the project (see the module doc)
e2e = pytest.mark.e2e


# --------------------------------------------------------------------------- helpers
def project(tmp_path: Path) -> Path:
    """A copy of the examples directory with a pipec.toml for this machine."""
    proj = tmp_path / "project"
    shutil.copytree(EXAMPLES, proj, ignore=shutil.ignore_patterns("__pycache__"))
    (proj / "pipec.toml").write_text(f'[runnable]\nimage = "{IMAGE}"\npython = {json.dumps(sys.executable)}\n',
                                     encoding="utf-8")
    return proj


def compile_example(source: Path, out: Path) -> str:
    """`pipec compile --target argo` of one runnable file with the examples' parameters; the
    manifest, which must pass the strict checker."""
    result = CliRunner().invoke(main, ["compile", str(source), "--params", str(source.parent / "params.yaml"),
                                       "--target", "argo", "-o", str(out)])
    assert result.exit_code == 0, f"pipec compile failed ({result.exit_code}):\n{result.output}"
    assert "warning" not in result.output, result.output
    manifest = out.read_text(encoding="utf-8")
    assert check_yaml(manifest) == []
    return manifest


def run(proj: Path, name: str, parameters: dict[str, str] | None = None, timeout: float = 120) -> Workflow:
    """Compile example `name` of the project and run it (`argo submit -p` = `parameters`)."""
    manifest = compile_example(proj / f"{name}.yaml", proj.parent / f"{name}.argo.yaml")
    return run_workflow(manifest, proj.parent / "cluster", parameters, images={IMAGE: proj}, private_tmp=True,
                        timeout=timeout)


def area(wf: Workflow, job: str, n: int = 0) -> Path:
    """Execution n of a job in the artifact repository (outputs/ and .pipec/)."""
    return wf.repo / wf.name / job / str(n)


def state(wf: Workflow, job: str, n: int = 0) -> dict:
    path = area(wf, job, n) / "outputs" / ".pipec-state" / "state.json"
    assert path.exists(), f"no state for {job} #{n}\n{wf.logs()}"
    return json.loads(path.read_text(encoding="utf-8"))


def stdout(wf: Workflow, job: str, n: int = 0) -> str:
    return (area(wf, job, n) / ".pipec" / "stdout").read_text(encoding="utf-8")


def stderr(wf: Workflow, job: str) -> str:
    """What every pod of the job wrote to stderr."""
    pods = wf.pods(job)
    assert pods, f"{job} never ran\n{wf.logs()}"
    return "".join(n.pod.stderr for n in pods)


# --------------------------------------------------------------------------- the judges
@pytest.mark.parametrize("example", PIPELINES, ids=lambda p: p.stem)
def test_every_runnable_example_compiles_and_passes_the_strict_checker(tmp_path: Path, example: Path) -> None:
    # Compiled where it is, with its own pipec.toml (the image users get).
    compile_example(example, tmp_path / "workflow.yaml")


# --------------------------------------------------------------------------- end to end
@e2e
def test_nested_parallel_runs_every_branch_before_the_next_step(tmp_path: Path) -> None:
    wf = run(project(tmp_path), "nesting")
    assert wf.phase == "Succeeded", wf.logs()
    leaves = [f"outer-parallel-{a}-inner-parallel-{b}-stamp" for a in ("first", "second") for b in ("left", "right")]
    ended = [float((area(wf, leaf) / "outputs" / "ended.txt").read_text()) for leaf in leaves]
    started = [float((area(wf, leaf) / "outputs" / "started.txt").read_text()) for leaf in leaves]
    after = float((area(wf, "after") / "outputs" / "after.txt").read_text())
    assert after > max(ended), (started, ended, after)
    # The branches ran side by side: each started before the others had ended.
    assert max(started) < min(ended) + 1.5, (started, ended)
    # Catalog files of all four branches reached "after", none dropped (same names: suffixed).
    got = sorted(p.name for p in (area(wf, "after") / "outputs").glob("started*.txt"))
    assert len(got) == 4, got
    assert (area(wf, "after") / "outputs" / "greeting.txt").read_text() == "hello from the parameters file\n"


@e2e
def test_parallel_branches_run_python_shell_and_notebook_tasks(tmp_path: Path) -> None:
    wf = run(project(tmp_path), "parallel")
    assert wf.phase == "Succeeded", wf.logs()
    for branch in ("branch1", "branch2"):
        assert "Hello World!" in stdout(wf, f"parallel-step-{branch}-hello-python")
        assert "Hello World!" in stdout(wf, f"parallel-step-{branch}-hello-shell")
        (notebook,) = (area(wf, f"parallel-step-{branch}-hello-notebook") / "outputs").glob("hello-*_out.ipynb")
        assert "hello from the parameters file from the notebook" in notebook.read_text(encoding="utf-8")


@e2e
def test_map_over_a_run_time_list_runs_each_item_through_the_branch_and_reduces(tmp_path: Path) -> None:
    wf = run(project(tmp_path), "map")
    assert wf.phase == "Succeeded", wf.logs()
    values = state(wf, "collect")["values"]
    assert values["processed"][1] == [10, 20, 30, 40, 50]
    assert values["doubled"][1] == [20, 40, 60, 80, 100]
    assert values["best"][1] == 100
    assert "processed=[10, 20, 30, 40, 50] best=100" in stdout(wf, "collect")
    # Five executions of each branch job (withParam), each item's steps reading that item's values.
    for job in ("map-state-process", "map-state-double", "map-state-check", "best-double"):
        assert len(wf.task(job).children) == 5, (job, wf.logs())
    for n in range(5):
        assert state(wf, "map-state-check", n)["values"]["doubled"][1] == 20 * (n + 1)


@e2e
def test_a_map_over_an_empty_run_time_list_runs_no_branch_and_reduces_to_empty_lists(tmp_path: Path) -> None:
    wf = run(project(tmp_path), "map", {"count": "0"})
    assert not (area(wf, "map-state-process", 0)).exists()
    assert state(wf, "map-state-fan-in")["values"]["processed"][1] == [], wf.logs()
    assert wf.phase == "Failed", wf.logs()  # collect's own check: an empty list has no maximum of 20 * len


@e2e
def test_map_over_a_list_from_the_parameters_file_is_unrolled(tmp_path: Path) -> None:
    wf = run(project(tmp_path), "map_params")
    assert wf.phase == "Succeeded", wf.logs()
    values = state(wf, "collect")["values"]
    assert values["processed"][1] == [10, 20, 30]
    assert values["doubled"][1] == [20, 40, 60]
    assert values["best"][1] == 60


@e2e
@pytest.mark.parametrize("side, ran, skipped", [("heads", "celebrate", "commiserate"),
                                                 ("tails", "commiserate", "celebrate")])
def test_conditional_runs_only_the_matching_branch(tmp_path: Path, side: str, ran: str, skipped: str) -> None:
    wf = run(project(tmp_path), "conditional", {"side": side})
    assert wf.phase == "Succeeded", wf.logs()
    key = {"celebrate": "heads", "commiserate": "tails"}
    assert state(wf, f"branch-on-coin-{key[ran]}-{ran}")["status"] == "ok"
    assert state(wf, f"branch-on-coin-{key[skipped]}-{skipped}")["status"] == "skipped"
    assert f"outcome: {key[ran]} won" in stdout(wf, "report")


@e2e
def test_conditional_without_a_matching_branch_fails(tmp_path: Path) -> None:
    wf = run(project(tmp_path), "conditional", {"side": "edge"})
    assert wf.phase == "Failed", wf.logs()
    for job in ("branch-on-coin-heads-celebrate", "branch-on-coin-tails-commiserate"):
        assert "None of the branches were true" in stderr(wf, job)
    assert not wf.pods("report")
    assert not (area(wf, "report") / ".pipec" / "ok").exists()


@e2e
def test_loop_stops_at_break_on(tmp_path: Path) -> None:
    wf = run(project(tmp_path), "loop")
    assert wf.phase == "Succeeded", wf.logs()
    statuses = [state(wf, f"retry-{i}-attempt")["status"] for i in range(5)]
    assert statuses == ["ok", "ok", "ok", "skipped", "skipped"]
    assert "succeeded at iteration 2" in stdout(wf, "summary")


@e2e
def test_on_failure_runs_the_handler_and_the_run_succeeds(tmp_path: Path) -> None:
    wf = run(project(tmp_path), "on_failure")
    assert wf.phase == "Succeeded", wf.logs()
    fetch = state(wf, "fetch")
    assert fetch["status"] == "failed" and fetch["flags"] == ["failed:fetch"]
    assert "attempt 1 of 2 failed" in stderr(wf, "fetch")
    assert "using yesterday" in stdout(wf, "use")


@e2e
def test_a_recovery_path_ending_in_fail_fails_the_run(tmp_path: Path) -> None:
    proj = project(tmp_path)
    text = (proj / "on_failure.yaml").read_text().replace("      next: use\n    use:", "      next: fail\n    use:")
    (proj / "on_failure.yaml").write_text(text)
    wf = run(proj, "on_failure")
    assert wf.phase == "Failed", wf.logs()
    assert state(wf, "recover")["status"] == "ok"
    assert "reached its fail step" in stderr(wf, "fail")
    assert state(wf, "use")["status"] == "skipped"  # after fetch's failure: not on the path taken


@e2e
def test_catalog_files_flow_and_returns_reach_later_steps(tmp_path: Path) -> None:
    wf = run(project(tmp_path), "catalog")
    assert wf.phase == "Succeeded", wf.logs()
    contents = state(wf, "read")["values"]["contents"][1]
    assert contents == {"csv": "a,b\n1,2\n", "text": "hello from the catalog\n"}


@e2e
@pytest.mark.parametrize("form", ["pipec-b64", "raw"])
def test_parameters_changed_at_submit_arrive_byte_for_byte(tmp_path: Path, form: str) -> None:
    # Argo templates a submitted value again: one holding two braces goes as pipec-b64: (the
    # manifest's header says so); without braces it goes as it is.
    value = HOSTILE if form == "pipec-b64" else HOSTILE.replace("{{x}} ${{ y }}", "{x} ${ y }")
    given = "pipec-b64:" + base64.b64encode(value.encode()).decode() if form == "pipec-b64" else value
    wf = run(project(tmp_path), "nesting", {"greeting": given})
    assert wf.phase == "Succeeded", wf.logs()
    for leaf in [f"outer-parallel-{a}-inner-parallel-{b}-stamp" for a in ("first", "second")
                 for b in ("left", "right")]:
        assert (area(wf, leaf) / "outputs" / "greeting.txt").read_text(encoding="utf-8") == value + "\n"
    assert not list(tmp_path.rglob("pwned*"))


# --------------------------------------------------------------------------- the emulator
@e2e
def test_the_emulator_gives_each_pod_its_images_files_and_a_tmp_of_its_own(tmp_path: Path) -> None:
    image = tmp_path / "image"
    image.mkdir()
    (image / "given.txt").write_text("from the image\n")
    probe = f"/tmp/pipec-sim-probe-{uuid.uuid4().hex}"
    here = f"{sys.executable} -c 'import os; assert os.path.isfile(os.path.join(os.getcwd(), \"given.txt\"))'"
    scripts = {  # each must exit 0
        # starts in its own copy of the image's files (a reachable working directory), writes to
        # that copy and to its /tmp
        "a": f'[ "$(cat given.txt)" = "from the image" ] && {here} && echo a > written.txt && '
             f'mkdir {probe} && echo a > {probe}/a',
        # the same image, after a: a fresh copy, and a /tmp without a's file
        "b": f"[ -f given.txt ] && [ ! -e written.txt ] && [ ! -e {probe} ]",
        # another image: an empty working directory
        "c": f'[ -z "$(ls -A)" ] && [ ! -e {probe} ]',
    }
    images = {"a": "img:1", "b": "img:1", "c": "other:2"}
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "t-"},
        "spec": {"entrypoint": "main", "templates": [
            {"name": "main", "dag": {"tasks": [{"name": t, "template": t, **({"depends": "a"} if t != "a" else {})}
                                               for t in scripts]}},
            *({"name": t, "container": {"image": images[t], "command": ["sh", "-c", script]}}
              for t, script in scripts.items())]}}
    assert check_yaml(json.dumps(manifest)) == []
    wf = run_workflow(manifest, tmp_path / "cluster", images={"img:1": image}, private_tmp=True)
    assert wf.phase == "Succeeded", wf.logs()
    assert [wf.task(t).phase for t in scripts] == ["Succeeded"] * 3
    assert not Path(probe).exists(), "a pod wrote to this machine's /tmp"
    assert sorted(p.name for p in image.iterdir()) == ["given.txt"], "a pod wrote to the image"


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
