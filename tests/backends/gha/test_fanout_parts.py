"""Run-time fan-outs longer than one GitHub matrix (at most 256 jobs): `[gha] max_fanout`
(default 1024) makes a fan-out job P = ceil(max_fanout / 256) matrix jobs `<job>`,
`<job>-part-2`, ..., part k reading its rows from the producer's output meta-<n>-items (k = 0)
or meta-<n>-items-<k>, which the runtime writes as PIPEC_FANOUT_PARTS on the producer's step
asks; each row keeps its global execution index, an empty part is the one row "none" whose
steps are skipped, downstream jobs need every part, and a list longer than max_fanout
(PIPEC_MAX_FANOUT; the parts hold P * 256) fails the producer with a message naming the
length, the limit and `[gha] max_fanout`. With P = 1 (max_fanout <= 256) the workflow is the
one matrix job it was before, byte for byte, and a longer list fails that job at GitHub's
matrix limit.

Covered: P = 1 is the workflow of one matrix job (nothing of the parts in it, and the P = 3
workflow without its parts); P = 3 (max_fanout 700): the matrix jobs, their outputs, `needs`
and `if:` after a `continue` fan-out, a node in the way of a part's name, the configuration's
bounds, the runnable map example; actionlint, zizmor and the SchemaStore schema on both; the
runtime's outputs at the part boundaries (pipec_step_outputs, directly); and end to end in the
emulator (tests/harness/gha_sim.py) with 600 items, 0, 256 and 257 items, and 701 items,
which fail the producer (and 257 items with one part, which fail the fan-out job).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from pipec.backends.runtime import runtime_script
from pipec.cli import main
from tests.harness.gha_check import check_workflows
from tests.harness.gha_sim import Leg, Run, _file_command, run_workflow
from tests.paths import ROOT

PIPELINE = """\
- step:
    name: list
    image: busybox:1.36
    command: |
      python3 -c 'import json; print(json.dumps({{"rates": ["r%d x" % i for i in range({count})]}}))'
- step:
    name: train
    image: busybox:1.36
    command: |
      printf '%s' {{parameter-value:lr}} > /valohai/outputs/lr-$PIPEC_EXECUTION.txt
      printf '%s' "$PIPEC_EXECUTION" > /valohai/outputs/same.txt
      printf '{{"seen": [%s, "%s"]}}\\n' "$PIPEC_EXECUTION" {{parameter-value:lr}}
    parameters:
      - {{name: lr, type: string}}
- step:
    name: gather
    image: busybox:1.36
    command: ls /valohai/inputs/all > /valohai/outputs/list.txt
    inputs:
      - {{name: all, optional: true}}
    parameters:
      - {{name: seen, type: string, default: none}}
- pipeline:
    name: fan
    nodes:
      - {{name: list, type: execution, step: list}}
      - {{name: train, type: task, step: train{on_error}}}
      - {{name: gather, type: execution, step: gather}}
    edges:
      - [list.metadata.rates, train.parameter.lr]
      - [train.output.*, gather.input.all]
{seen}"""
e2e = pytest.mark.e2e
SEEN_EDGE = "      - [train.metadata.seen, gather.parameter.seen]\n"


def pipeline(count: int, seen: bool = True, on_error: str = "") -> str:
    """The list -> train (fan-out over its `count` rates) -> gather pipeline; `seen`: gather
    also reads every train execution's metadata `seen` ([index, value]), in execution order."""
    return PIPELINE.format(count=count, seen=SEEN_EDGE if seen else "",
                           on_error=f", on-error: {on_error}" if on_error else "")


def toml(max_fanout: int | None) -> str | None:
    return None if max_fanout is None else f"[gha]\nmax_fanout = {max_fanout}\n"


def compile_repo(tmp_path: Path, text: str, config: str | None) -> tuple[int, str, Path]:
    """Compile a valohai.yaml text (with pipec.toml `config`) into tmp_path/repo: the exit
    code, the output and the repository."""
    repo = tmp_path / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "valohai.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    if config is not None:
        (repo / "pipec.toml").write_text(config, encoding="utf-8")
    result = CliRunner().invoke(main, ["compile", str(repo / "valohai.yaml"), "--target", "gha", "-o", str(repo)])
    return result.exit_code, result.output, repo


def compile_flow(tmp_path: Path, text: str, max_fanout: int | None = None) -> Path:
    code, output, repo = compile_repo(tmp_path, text, toml(max_fanout))
    assert code == 0, output
    return repo / ".github" / "workflows" / "fan.yml"


def doc(flow: Path) -> dict[str, Any]:
    return yaml.safe_load(flow.read_text(encoding="utf-8"))


def run_step(job: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in job["steps"] if s.get("id") == "run")


def include(job: dict[str, Any]) -> str:
    return job["strategy"]["matrix"]["include"]


def without_parts(workflow: dict[str, Any]) -> dict[str, Any]:
    """A workflow of split fan-outs as it would be with one matrix job each: the part jobs,
    the producers' meta-<n>-items-<k> outputs and PIPEC_FANOUT_PARTS taken out."""
    out = copy.deepcopy(workflow)
    parts = {j for j in out["jobs"] if "-part-" in j}
    for job_id in parts:
        del out["jobs"][job_id]
    for job in out["jobs"].values():
        if "needs" in job:
            job["needs"] = [n for n in job["needs"] if n not in parts]
        if "outputs" in job:
            job["outputs"] = {k: v for k, v in job["outputs"].items() if "-items-" not in k}
        for step in job["steps"]:
            step.get("env", {}).pop("PIPEC_FANOUT_PARTS", None)
            step.get("env", {}).pop("PIPEC_MAX_FANOUT", None)
    return out


# ---------------------------------------------------------------------------- compiled
@pytest.mark.parametrize("max_fanout", [1, 256])
def test_one_part_is_one_matrix_job_as_before(tmp_path: Path, max_fanout: int) -> None:
    flow = compile_flow(tmp_path / "one", pipeline(4), max_fanout)
    text = flow.read_text(encoding="utf-8")
    assert "PIPEC_FANOUT_PARTS" not in text and "PIPEC_MAX_FANOUT" not in text
    assert "-part-" not in text and "-items-" not in text
    jobs = doc(flow)["jobs"]
    assert list(jobs) == ["list", "train", "gather"]
    assert list(jobs["list"]["outputs"]) == ["meta-0-json", "meta-0-text", "meta-0-items"]
    assert include(jobs["train"]) == "${{ fromJSON(needs.list.outputs.meta-0-items) }}"
    assert jobs["gather"]["needs"] == ["train"]
    # The same file for every max_fanout up to 256, and the P = 3 workflow without its parts.
    other = compile_flow(tmp_path / "other", pipeline(4), 257 - max_fanout).read_text(encoding="utf-8")
    assert text.split("\n", 1)[1] == other.split("\n", 1)[1]  # the first line names the source file
    assert doc(flow) == without_parts(doc(compile_flow(tmp_path / "three", pipeline(4), 700)))


def test_the_default_is_1024_items_in_four_matrix_jobs(tmp_path: Path) -> None:
    jobs = doc(compile_flow(tmp_path, pipeline(4)))["jobs"]
    assert list(jobs) == ["list", "train", "train-part-2", "train-part-3", "train-part-4", "gather"]
    env = run_step(jobs["list"])["env"]
    assert (env["PIPEC_FANOUT_PARTS"], env["PIPEC_MAX_FANOUT"]) == ('{"0": 4}', "1024")


def test_three_parts_read_their_own_outputs_and_downstream_needs_them_all(tmp_path: Path) -> None:
    jobs = doc(compile_flow(tmp_path, pipeline(600), 700))["jobs"]
    assert list(jobs) == ["list", "train", "train-part-2", "train-part-3", "gather"]
    assert jobs["list"]["outputs"] == {
        **{f"meta-0-{form}": f"${{{{ steps.run.outputs.meta-0-{form} }}}}" for form in ("json", "text", "items")},
        "meta-0-items-1": "${{ steps.run.outputs.meta-0-items-1 }}",
        "meta-0-items-2": "${{ steps.run.outputs.meta-0-items-2 }}"}
    env = run_step(jobs["list"])["env"]
    assert (env["PIPEC_FANOUT_PARTS"], env["PIPEC_MAX_FANOUT"]) == ('{"0": 3}', "700")
    assert [include(jobs[j]) for j in ("train", "train-part-2", "train-part-3")] == [
        "${{ fromJSON(needs.list.outputs.meta-0-items) }}",
        "${{ fromJSON(needs.list.outputs.meta-0-items-1) }}",
        "${{ fromJSON(needs.list.outputs.meta-0-items-2) }}"]
    for part in ("train-part-2", "train-part-3"):  # the same job but for its rows
        assert {k: v for k, v in jobs[part].items() if k != "strategy"} == {
            k: v for k, v in jobs["train"].items() if k != "strategy"}
        assert jobs[part]["needs"] == ["list"]
    assert all("matrix.i != 'none'" in step["if"] for step in jobs["train"]["steps"])  # an empty part
    assert run_step(jobs["train"])["env"]["PIPEC_EXECUTION"] == "${{ matrix.i }}"  # the row's global index
    assert jobs["gather"]["needs"] == ["train", "train-part-2", "train-part-3"]
    assert "PIPEC_FANOUT_PARTS" not in run_step(jobs["gather"])["env"]  # it fans nothing out


def test_after_a_continue_fan_out_the_downstream_condition_names_every_part(tmp_path: Path) -> None:
    jobs = doc(compile_flow(tmp_path, pipeline(4, on_error="continue"), 700))["jobs"]
    cond = jobs["gather"]["if"]
    for part in ("train", "train-part-2", "train-part-3"):
        assert f"(needs.{part}.result == 'success' || needs.{part}.result == 'failure')" in cond
    assert [jobs[j]["strategy"]["fail-fast"] for j in ("train", "train-part-2", "train-part-3")] == [False] * 3


def test_a_node_named_like_a_part_is_refused(tmp_path: Path) -> None:
    text = pipeline(4).replace("      - {name: gather, type: execution, step: gather}",
                               "      - {name: gather, type: execution, step: gather}\n"
                               "      - {name: train-part-3, type: execution, step: gather}")
    code, output, _ = compile_repo(tmp_path, text, toml(700))
    assert code != 0
    assert "'train' fans out over up to 700 items ([gha] max_fanout), split into matrix jobs up to " \
           "'train-part-3', but 'train-part-3' is already a job of this pipeline" in output, output
    assert "lower [gha] max_fanout" in output


@pytest.mark.parametrize("value", ["0", "65537", '"1024"', "1.5"])
def test_max_fanout_out_of_bounds_is_refused(tmp_path: Path, value: str) -> None:
    code, output, _ = compile_repo(tmp_path, pipeline(4), f"[gha]\nmax_fanout = {value}\n")
    assert code != 0 and "max_fanout" in output, output


def test_a_workflow_too_large_for_github_names_max_fanout(tmp_path: Path) -> None:
    code, output, _ = compile_repo(tmp_path, pipeline(4), toml(65536))  # 256 copies of train: over 500 KB
    assert code != 0 and "GitHub starts no run of a workflow file over 512,000 bytes" in output, output
    assert "each run-time fan-out is 256 copies of its job ([gha] max_fanout): a lower max_fanout makes it " \
           "smaller" in output


def test_split_fan_outs_pass_the_judges(tmp_path: Path, gha_tools) -> None:
    flow = compile_flow(tmp_path / "valohai", pipeline(600, on_error="continue"), 700)
    assert check_workflows(flow.parent.parent.parent) == []
    out = tmp_path / "runnable"
    (tmp_path / "project").mkdir()
    for name in ("map.yaml", "params.yaml", "steps.py"):
        (tmp_path / "project" / name).write_bytes((ROOT / "examples" / "runnable" / name).read_bytes())
    (tmp_path / "project" / "pipec.toml").write_text('[runnable]\nimage = "python:3.12-slim"\n\n' + toml(700),
                                                      encoding="utf-8")
    result = CliRunner().invoke(main, ["compile", str(tmp_path / "project" / "map.yaml"), "--params",
                                       str(tmp_path / "project" / "params.yaml"), "--target", "gha", "-o", str(out)])
    assert result.exit_code == 0, result.output
    jobs = doc(out / ".github" / "workflows" / "map.yml")["jobs"]
    assert [j for j in jobs if j.startswith("map-state-double")] == [
        "map-state-double", "map-state-double-part-2", "map-state-double-part-3"]
    assert include(jobs["map-state-double-part-3"]) == \
        "${{ fromJSON(needs.map-state-fan-out.outputs.meta-0-items-2) }}"
    assert check_workflows(out) == []


# --------------------------------------------------------------------------- the runtime
def outputs(tmp_path: Path, value: Any, parts: dict[str, int] | None, keys: tuple[str, ...] = ("rates",),
            max_fanout: int | None = None) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """pipec_outputs (the metadata files) and pipec_step_outputs (the step outputs) of the GitHub
    Actions runtime after a command printed {"rates": value}: the process and the step outputs
    it wrote (as the runner reads GITHUB_OUTPUT)."""
    runtime = tmp_path / "runtime.sh"
    runtime.write_text(runtime_script("gha"), encoding="utf-8")
    execution = tmp_path / "exec"
    (execution / ".pipec").mkdir(parents=True, exist_ok=True)
    (execution / ".pipec" / "stdout").write_text("noise\n" + json.dumps({"rates": value}) + "\n", encoding="utf-8")
    github_output = tmp_path / "github_output"
    github_output.write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPEC_", "GITHUB_"))}
    env.update(PIPEC_METADATA=json.dumps(list(keys)), PIPEC_EXEC_DIR=str(execution), PIPEC_JOB="list",
               PIPEC_POD_DIR=str(tmp_path / "pod"), GITHUB_OUTPUT=str(github_output))
    if parts is not None:
        env["PIPEC_FANOUT_PARTS"] = json.dumps(parts)
    if max_fanout is not None:
        env["PIPEC_MAX_FANOUT"] = str(max_fanout)
    code = 'set -eu; . "$1"; pipec_outputs; pipec_step_outputs "$PIPEC_POD_DIR/meta"'
    proc = subprocess.run(["sh", "-c", code, "test", str(runtime)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    return proc, _file_command(github_output)


def rows(output: str) -> list[Any]:
    return [row["i"] for row in json.loads(output)]


@pytest.mark.parametrize(("count", "sizes"), [(0, [0, 0, 0]), (1, [1, 0, 0]), (256, [256, 0, 0]),
                                              (257, [256, 1, 0]), (600, [256, 256, 88]), (768, [256, 256, 256])])
def test_the_runtime_splits_the_rows_at_256_keeping_the_global_index(tmp_path: Path, count: int,
                                                                      sizes: list[int]) -> None:
    proc, out = outputs(tmp_path, [f"r{i}" for i in range(count)], {"0": 3})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert list(out) == ["meta-0-json", "meta-0-text", "meta-0-items", "meta-0-items-1", "meta-0-items-2"]
    got = [rows(out[name]) for name in ("meta-0-items", "meta-0-items-1", "meta-0-items-2")]
    start = 0
    for part, size in zip(got, sizes):
        assert part == ([str(i) for i in range(start, start + size)] if size else ["none"])
        start += size
    every = [row for name in ("meta-0-items", "meta-0-items-1", "meta-0-items-2") for row in json.loads(out[name])]
    assert [row["text"] for row in every if row["i"] != "none"] == [f"r{i}" for i in range(count)]
    assert json.loads(out["meta-0-json"]) == [f"r{i}" for i in range(count)]  # the whole value, as before


def test_the_runtime_without_parts_writes_one_output_of_every_row(tmp_path: Path) -> None:
    proc, out = outputs(tmp_path, list(range(300)), None)
    assert proc.returncode == 0 and list(out) == ["meta-0-json", "meta-0-text", "meta-0-items"]
    assert rows(out["meta-0-items"]) == [str(i) for i in range(300)]


def test_the_runtime_splits_only_the_keys_fanned_out_over(tmp_path: Path) -> None:
    proc, out = outputs(tmp_path, list(range(3)), {"1": 2}, keys=("other", "rates"))
    assert proc.returncode == 0, proc.stderr
    assert list(out) == ["meta-0-json", "meta-0-text", "meta-0-items", "meta-1-json", "meta-1-text", "meta-1-items",
                         "meta-1-items-1"]
    assert out["meta-0-items"] == json.dumps([{"i": "0", "json": "pipec-missing:", "text": "pipec-missing:"}])
    assert rows(out["meta-1-items"]) == ["0", "1", "2"] and rows(out["meta-1-items-1"]) == ["none"]


def test_the_runtime_gives_a_missing_key_to_the_first_part_only(tmp_path: Path) -> None:
    proc, out = outputs(tmp_path, [1], {"0": 2}, keys=("absent",))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out["meta-0-items"])[0]["text"] == "pipec-missing:"  # part 1 fails saying so
    assert rows(out["meta-0-items-1"]) == ["none"]


def test_the_runtime_refuses_a_list_longer_than_max_fanout(tmp_path: Path) -> None:
    proc, out = outputs(tmp_path, list(range(701)), {"0": 3}, max_fanout=700)
    assert proc.returncode != 0 and out == {}  # nothing is written, nothing cut short
    assert ("pipec: list printed metadata 'rates', a list of 701 items, but the workflow was compiled for fan-outs "
            "of at most 700 items ([gha] max_fanout; 3 matrix jobs of 256): raise [gha] max_fanout in pipec.toml "
            "to at least 701 and compile again") in proc.stderr, proc.stderr
    proc, out = outputs(tmp_path, list(range(700)), {"0": 3}, max_fanout=700)
    assert proc.returncode == 0 and rows(out["meta-0-items-2"]) == [str(i) for i in range(512, 700)]
    proc, out = outputs(tmp_path, list(range(769)), {"0": 3})  # the parts alone hold 768
    assert proc.returncode != 0 and out == {} and "a list of 769 items" in proc.stderr, proc.stderr


def test_the_runtime_warns_when_the_outputs_pass_githubs_1_mb(tmp_path: Path) -> None:
    proc, out = outputs(tmp_path, ["x" * 130] * 1024, {"0": 4})
    assert proc.returncode == 0 and len(out) == 6
    assert "GitHub accepts at most 1 MB of outputs per job" in proc.stderr, proc.stderr
    proc, _ = outputs(tmp_path, ["x" * 100] * 1024, {"0": 4})
    assert proc.returncode == 0 and proc.stderr == ""


# ------------------------------------------------------------------------- end to end
def run(tmp_path: Path, count: int, max_fanout: int, seen: bool = True) -> Run:
    flow = compile_flow(tmp_path, pipeline(count, seen), max_fanout)
    repo = flow.parent.parent.parent
    return run_workflow(flow, workspace=repo, workdir=tmp_path / "gh", capacity=16)


def executions(r: Run, job: str = "train") -> dict[int, Leg]:
    """The legs that ran an execution of a pipec job (its Run step not skipped), by index."""
    legs = [leg for leg in r.legs() if leg.has_step("run") and leg.step("run").outcome != "skipped"
            and leg.step("run").env.get("PIPEC_JOB") == job]
    indexes = [int(leg.step("run").env["PIPEC_EXECUTION"]) for leg in legs]
    assert len(indexes) == len(set(indexes)), "an execution ran twice"
    return dict(zip(indexes, legs))


def staged(leg: Leg) -> dict[str, str]:
    root = leg.temp / "pipec" / "exec" / "inputs" / "all"
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(root.iterdir())} if root.is_dir() else {}


def params_json(leg: Leg) -> dict[str, Any]:
    return json.loads((leg.temp / "pipec" / "exec" / "config" / "parameters.json").read_text(encoding="utf-8"))


@e2e
def test_600_items_in_three_parts_each_run_once_with_its_own_value(tmp_path: Path) -> None:
    r = run(tmp_path, 600, 700, seen=False)
    assert r.conclusion == "success", r.logs()
    assert [len(r.legs(j)) for j in ("train", "train-part-2", "train-part-3")] == [256, 256, 88]
    ran = executions(r)
    assert sorted(ran) == list(range(600))
    for i, leg in ran.items():  # the row's global index and its own item, in every part
        assert leg.matrix["i"] == str(i) and leg.step("run").outcome == "success"
        assert params_json(leg) == {"lr": f"r{i} x"}
    assert {i for i, leg in ran.items() if leg.job.id == "train-part-3"} == set(range(512, 600))
    # Every output downstream, staged in execution order: the first same.txt keeps its name.
    assert staged(executions(r, "gather")[0]) == {**{f"lr-{i}.txt": f"r{i} x" for i in range(600)},
                                                  "same.txt": "0", **{f"same.train-{i}.txt": str(i)
                                                                      for i in range(1, 600)}}


@e2e
def test_an_empty_list_runs_no_execution_in_any_part(tmp_path: Path) -> None:
    r = run(tmp_path, 0, 700, seen=False)
    assert r.conclusion == "success", r.logs()
    for part in ("train", "train-part-2", "train-part-3"):
        assert r.job(part).result == "success" and [leg.matrix for leg in r.legs(part)] == [{"i": "none"}]
    assert executions(r) == {} and not [a for a in r.artifacts if a.startswith("pipec.train.")]
    assert staged(executions(r, "gather")[0]) == {}


@e2e
@pytest.mark.parametrize(("count", "sizes"), [(256, [256, 1, 1]), (257, [256, 1, 1])])
def test_a_full_first_part_and_one_item_more(tmp_path: Path, count: int, sizes: list[int]) -> None:
    r = run(tmp_path, count, 700, seen=count == 257)
    assert r.conclusion == "success", r.logs()
    assert [len(r.legs(j)) for j in ("train", "train-part-2", "train-part-3")] == sizes
    assert [leg.matrix["i"] for leg in r.legs("train-part-2")] == ["256" if count == 257 else "none"]
    assert [leg.matrix for leg in r.legs("train-part-3")] == [{"i": "none"}]
    assert sorted(executions(r)) == list(range(count))
    gather = executions(r, "gather")[0]
    assert {k: v for k, v in staged(gather).items() if k.startswith("lr-")} == {
        f"lr-{i}.txt": f"r{i} x" for i in range(count)}
    if count == 257:  # every execution's metadata downstream, in execution order, across the parts
        assert params_json(gather)["seen"] == [[i, f"r{i} x"] for i in range(257)]


@e2e
def test_a_list_longer_than_max_fanout_allows_fails_the_producer(tmp_path: Path) -> None:
    r = run(tmp_path, 701, 700)
    assert r.job("list").result == "failure"
    err = r.legs("list")[0].step("run").stderr
    assert "a list of 701 items" in err and "at most 700 items" in err and "[gha] max_fanout" in err, err
    for part in ("train", "train-part-2", "train-part-3", "gather"):
        assert r.job(part).result == "skipped"
    assert executions(r) == {}


@e2e
def test_with_one_part_a_longer_list_fails_the_fan_out_job_at_githubs_limit(tmp_path: Path) -> None:
    r = run(tmp_path, 257, 256)
    assert r.job("list").result == "success" and r.job("train").result == "failure"
    assert "produced 257 configurations which exceeds the maximum of 256" in r.job("train").message
    assert executions(r) == {} and r.job("gather").result == "skipped"
