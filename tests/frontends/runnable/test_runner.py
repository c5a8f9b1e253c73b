"""The job-side task runner for runnable pipelines (compiler/pipec/frontends/runnable/runner.py),
run as jobs run it: `python3 runner.py` in a project directory, under pipec's runtime contract."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.paths import COMPILER_DIR

RUNNER = COMPILER_DIR / "pipec" / "frontends" / "runnable" / "runner.py"
HOSTILE = "it's \"quoted\" $(touch pwned) `touch pwned2` ${HOME} \\ ; rm -rf x\nline two\tünï 日本 🚀 '"
HAVE_PLOOMBER = importlib.util.find_spec("ploomber_engine") is not None
HAVE_PAPERMILL = importlib.util.find_spec("papermill") is not None


class Result:
    def __init__(self, proc: subprocess.CompletedProcess, outputs: Path, project: Path):
        self.rc, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        self.outputs, self.project = outputs, project

    @property
    def last_line(self) -> str:
        return self.stdout.rstrip("\n").split("\n")[-1]

    @property
    def meta(self) -> dict:
        assert self.rc == 0, self.stderr
        return json.loads(self.last_line)


def run_task(tmp_path: Path, task: dict, params: dict | None = None, files: dict | None = None,
             env: dict | None = None) -> Result:
    project = tmp_path / "project"
    for name, text in (files or {}).items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) if name.endswith(".py") else text, encoding="utf-8")
    project.mkdir(exist_ok=True)
    config, outputs = tmp_path / "config", tmp_path / "outputs"
    config.mkdir(exist_ok=True)
    (config / "parameters.json").write_text(json.dumps(params or {}), encoding="utf-8")
    spec = {"kind": "python", "command": "", "returns": [], "decode": [], "objects": {}, "catalog": "",
            "ploomber": {}, "step": "train"}
    spec.update(task)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEC_")}
    full_env.update({"RUNNABLE_PIPEC_TASK": json.dumps(spec), "PIPEC_CONFIG_DIR": str(config),
                     "PIPEC_OUTPUTS_DIR": str(outputs)})
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, str(RUNNER)], cwd=project, env=full_env, capture_output=True,
                          encoding="utf-8", timeout=300)
    return Result(proc, outputs, project)


def python_task(tmp_path, code, func="main", returns=(), params=None, env=None, **task):
    spec = {"command": f"pkg.steps.{func}",
            "returns": [r if isinstance(r, dict) else {"name": r, "kind": "json"} for r in returns]}
    spec.update(task)
    return run_task(tmp_path, spec, params, {"pkg/__init__.py": "", "pkg/steps.py": code}, env=env)


def failed(result: Result, *fragments: str, step: str = "train") -> None:
    assert result.rc == 1, (result.stdout, result.stderr)
    assert f"pipec: step '{step}': " in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


# --- the script itself ------------------------------------------------------------------------


def test_runner_is_standalone_python38():
    source = RUNNER.read_text(encoding="utf-8")
    tree = ast.parse(source, feature_version=(3, 8))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    optional = {"ploomber_engine", "papermill"}  # imported only for notebook tasks, guarded
    assert "pipec" not in imported
    if hasattr(sys, "stdlib_module_names"):
        assert imported - optional <= set(sys.stdlib_module_names) | {"__future__"}


# --- python tasks -----------------------------------------------------------------------------


def test_binds_by_name_and_casts_to_annotations(tmp_path):
    code = """
        def main(n: int, rate: float, label: str, flag: bool, on: bool, raw, dflt: int = 7):
            return n, rate, label, flag, on, raw, dflt
    """
    names = ["n", "rate", "label", "flag", "on", "raw", "dflt"]
    result = python_task(tmp_path, code, returns=names,
                         params={"n": "3", "rate": "0.5", "label": 7, "flag": "false", "on": "True", "raw": [1, "2"],
                                 "unused": 1})
    assert result.meta == {"n": 3, "rate": 0.5, "label": "7", "flag": False, "on": True, "raw": [1, "2"], "dflt": 7}
    assert list(json.loads(result.last_line)) == names  # declared order


def test_kwargs_receives_every_other_parameter(tmp_path):
    code = """
        def main(a: int, **kwargs):
            return {"a": a, "rest": kwargs}
    """
    result = python_task(tmp_path, code, returns=["out"], params={"a": "1", "b": 2, "c": "x"})
    assert result.meta == {"out": {"a": 1, "rest": {"b": 2, "c": "x"}}}


def test_namespace_argument_receives_the_rest(tmp_path):
    code = """
        import argparse
        def main(a, args: argparse.Namespace):
            return sorted(vars(args).items())
    """
    result = python_task(tmp_path, code, returns=["out"], params={"a": 1, "b": 2, "c": 3})
    assert result.meta == {"out": [["b", 2], ["c", 3]]}


def test_pydantic_model_argument_and_return(tmp_path):
    pytest.importorskip("pydantic")
    code = """
        from pydantic import BaseModel
        class Cfg(BaseModel):
            lr: float
            layers: int = 2
        def main(cfg: Cfg, epochs: Cfg):
            return cfg, epochs.layers
        class Single(BaseModel):
            single: int
        def one(single: Single):
            return single
    """
    result = python_task(tmp_path, code, returns=["cfg", "layers"],
                         params={"cfg": {"lr": "0.1", "unknown": 1}, "epochs": {"lr": 1, "layers": "5"}})
    assert result.meta == {"cfg": {"lr": 0.1, "layers": 2}, "layers": 5}
    result = python_task(tmp_path, code, func="one", returns=["m"], params={"single": "4"})
    assert result.meta == {"m": {"single": 4}}


def test_missing_required_argument_names_function_and_argument(tmp_path):
    result = python_task(tmp_path, "def main(n, m=1):\n    return n\n", returns=["x"], params={"other": 1})
    failed(result, "pkg.steps.main", "'n'", "no initial parameter or earlier step's return provides it")
    assert "{" not in result.stdout


def test_bad_cast_is_an_error(tmp_path):
    result = python_task(tmp_path, "def main(n: int):\n    return n\n", params={"n": "three"})
    failed(result, "cannot cast parameter 'n' to int")


def test_several_returns_and_wrong_counts(tmp_path):
    code = """
        def two():
            return 1, "x"
        def three():
            return 1, 2, 3
        def as_list():
            return [1, 2]
        def none():
            return 99
    """
    assert python_task(tmp_path, code, func="two", returns=["a", "b"]).meta == {"a": 1, "b": "x"}
    failed(python_task(tmp_path, code, func="three", returns=["a", "b"]), "returned 3 value(s)", "2 returns (a, b)")
    # runnable: only a tuple spreads over several returns; a list is one value
    failed(python_task(tmp_path, code, func="as_list", returns=["a", "b"]), "returned 1 value(s)")
    assert python_task(tmp_path, code, func="as_list", returns=["a"]).meta == {"a": [1, 2]}
    # no returns declared: the value is ignored, the metadata is still printed
    result = python_task(tmp_path, code, func="none")
    assert result.meta == {}


def test_object_return_is_pickled(tmp_path):
    code = """
        def main():
            return {"weights": {1, 2, 3}}, 0.75
    """
    result = python_task(tmp_path, code, returns=[{"name": "model", "kind": "object"},
                                                  {"name": "acc", "kind": "metric"}])
    assert result.meta == {"model": "model", "acc": 0.75}
    with open(result.outputs / ".pipec-objects" / "model.pickle", "rb") as fh:
        assert pickle.load(fh) == {"weights": {1, 2, 3}}
    assert "pipec: metric acc = 0.75" in result.stderr


def test_json_return_must_serialise(tmp_path):
    result = python_task(tmp_path, "def main():\n    return {1, 2}\n", returns=["s"])
    failed(result, "return 's' (kind json) is not JSON-serialisable", "kind: object")


def test_decode_json_text_parameters(tmp_path):
    code = """
        def main(cfg, text, kept):
            return cfg, text, kept
    """
    result = python_task(tmp_path, code, returns=["cfg", "text", "kept"], decode=["cfg", "text"],
                         params={"cfg": '{"a": [1, 2]}', "text": "not json {", "kept": "[1]"})
    assert result.meta == {"cfg": {"a": [1, 2]}, "text": "not json {", "kept": "[1]"}


def stage_state(inputs: Path, slot: str, values: dict, status: str = "ok", flags=(), execution: int = 0,
                name: str = "state.json") -> None:
    """An earlier job's state, as pipec's runtime stages it into input `slot`."""
    directory = inputs / slot / ".pipec-state"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps({"status": status, "values": values, "flags": list(flags),
                                              "execution": execution}), encoding="utf-8")


def test_objects_are_loaded_for_a_consumer(tmp_path):
    inputs = tmp_path / "inputs"
    (inputs / "objects-0" / ".pipec-objects").mkdir(parents=True)
    with open(inputs / "objects-0" / ".pipec-objects" / "model.pickle", "wb") as fh:
        pickle.dump({"w": [1, 2, 3]}, fh)
    stage_state(inputs, "state-0", {"model": [3, {"pipec_object": "model", "job": "maker"}, "maker"]})
    code = """
        def main(model: dict, **kwargs):
            return sum(model["w"]), sorted(kwargs)
    """
    env = {"PIPEC_INPUTS_DIR": str(inputs)}
    result = python_task(tmp_path, code, returns=["total", "others"], objects={"maker": "objects-0"},
                         params={"x": 1}, states=[{"slot": "state-0", "kind": "next"}], env=env)
    assert result.meta == {"total": 6, "others": ["x"]}
    failed(python_task(tmp_path, code, objects={}, states=[{"slot": "state-0", "kind": "next"}], env=env),
           "object parameter 'model' of step maker was not staged")


def test_catalog_is_copied_and_cwd_is_the_outputs_dir(tmp_path):
    catalog = tmp_path / "catalog-in"
    (catalog / "data" / "sub").mkdir(parents=True)
    (catalog / "data" / "sub" / "x.txt").write_text("deep", encoding="utf-8")
    (catalog / "top.txt").write_text("top", encoding="utf-8")
    code = """
        import os
        def main():
            with open("data/sub/x.txt") as fh:
                deep = fh.read()
            with open("made.txt", "w") as fh:
                fh.write("made")
            return os.getcwd(), deep
    """
    result = python_task(tmp_path, code, returns=["cwd", "deep"], catalog=str(catalog))
    assert result.meta == {"cwd": str(tmp_path / "outputs"), "deep": "deep"}
    assert (result.outputs / "top.txt").read_text() == "top"
    assert (result.outputs / "made.txt").read_text() == "made"
    assert not (result.project / "made.txt").exists()


def test_inputs_named_by_slot(tmp_path):
    # pipec's runtime stages each input under $PIPEC_INPUTS_DIR/<slot>; catalog slots are copied
    # oldest first, so the newest copy of a file wins.
    inputs = tmp_path / "inputs"
    for n, text in enumerate(["old", "new"]):
        (inputs / f"catalog-{n}" / "d").mkdir(parents=True)
        (inputs / f"catalog-{n}" / "d" / "f.txt").write_text(text)
    (inputs / "catalog-0" / "only-old.txt").write_text("kept")
    code = """
        def main():
            return open("d/f.txt").read(), open("only-old.txt").read()
    """
    result = run_task(tmp_path, {"command": "pkg.steps.main",
                                 "catalog": ["catalog-0", "catalog-1", "catalog-absent"],
                                 "returns": [{"name": n, "kind": "json"} for n in ("f", "o")]},
                      {}, {"pkg/__init__.py": "", "pkg/steps.py": code}, env={"PIPEC_INPUTS_DIR": str(inputs)})
    assert result.meta == {"f": "new", "o": "kept"}


def test_user_exception_keeps_its_traceback(tmp_path):
    code = """
        def helper():
            raise ValueError("boom")
        def main():
            helper()
    """
    result = python_task(tmp_path, code, returns=["x"])
    failed(result, "Traceback", "in helper", "ValueError: boom", "pkg.steps.main raised ValueError")
    assert result.stdout.strip() == ""


def test_sys_exit_is_a_failure(tmp_path):
    result = python_task(tmp_path, "import sys\ndef main():\n    sys.exit(0)\n")
    failed(result, "sys.exit(0)")


def test_unknown_module_and_function(tmp_path):
    failed(run_task(tmp_path, {"command": "nope.main"}), "no module nope")
    failed(python_task(tmp_path, "x = 1\n", func="absent"), "has no function absent")


def test_last_stdout_line_is_the_metadata(tmp_path):
    code = """
        import sys
        def main():
            print('{"v": "decoy"}')
            print("no newline at the end", end="")
            sys.stdout.flush()
            return "real"
    """
    result = python_task(tmp_path, code, returns=["v"])
    assert result.meta == {"v": "real"}
    assert result.last_line == '{"v":"real"}'
    assert "no newline at the end" in result.stdout


def state_of(result: Result) -> dict:
    return json.loads((result.outputs / ".pipec-state" / "state.json").read_text(encoding="utf-8"))


def test_a_map_s_returns_are_reduced_by_the_reduce_job(tmp_path):
    inputs = tmp_path / "inputs"
    for n, (score, best) in enumerate([(1, 3), (5, 2)]):
        stage_state(inputs, f"state-{n}", {"score": [4 + n, score, f"m.{n}.t"], "best": [4 + n, best, f"m.{n}.t"]})
    result = run_task(tmp_path, {"kind": "reduce", "seq": 9, "step": "m.reduce", "parts": [[0], [1]],
                                 "states": [{"slot": "state-0", "kind": "next"}, {"slot": "state-1", "kind": "next"}],
                                 "reduce": {"score": None, "best": "lambda *x: max(x)", "absent": None}},
                      env={"PIPEC_INPUTS_DIR": str(inputs)})
    assert result.rc == 0, result.stderr
    values = state_of(result)["values"]
    assert values["score"] == [9, [1, 5], "m.reduce"]
    assert values["best"] == [9, 3, "m.reduce"]
    assert values["absent"] == [9, [], "m.reduce"]


def test_newest_value_wins_and_the_later_state_on_a_tie(tmp_path):
    inputs = tmp_path / "inputs"
    stage_state(inputs, "state-0", {"a": [2, "newer", "x"], "b": [1, "first", "x"]})
    stage_state(inputs, "state-1", {"a": [1, "older", "y"], "b": [1, "second", "y"]})
    code = "def main(a, b, c):\n    return a, b, c\n"
    result = python_task(tmp_path, code, returns=["a", "b", "c"], params={"c": "initial", "a": "initial"}, seq=5,
                         states=[{"slot": "state-0", "kind": "next"}, {"slot": "state-1", "kind": "next"}],
                         env={"PIPEC_INPUTS_DIR": str(inputs)})
    assert result.meta == {"a": "newer", "b": "second", "c": "initial"}
    state = state_of(result)
    assert state["status"] == "ok"
    assert state["values"]["a"] == [5, "newer", "train"]


@pytest.mark.parametrize("status, flags, edge, runs", [
    ("ok", [], {"kind": "next"}, True),
    ("skipped", [], {"kind": "next"}, False),
    ("failed", ["failed:a"], {"kind": "next"}, False),
    ("failed", ["failed:a"], {"kind": "failure", "flag": "failed:a"}, True),
    ("ok", [], {"kind": "failure", "flag": "failed:a"}, False),
    ("ok", ["failed:c"], {"kind": "next", "unless": ["failed:c"]}, False),
])
def test_a_step_runs_only_when_a_state_before_it_leads_here(tmp_path, status, flags, edge, runs):
    inputs = tmp_path / "inputs"
    stage_state(inputs, "state-0", {"v": [1, 1, "a"]}, status=status, flags=flags)
    result = python_task(tmp_path, "def main():\n    return 'ran'\n", returns=["r"], seq=2,
                         states=[{"slot": "state-0", **edge}], env={"PIPEC_INPUTS_DIR": str(inputs)})
    assert result.rc == 0, result.stderr
    state = state_of(result)
    assert state["status"] == ("ok" if runs else "skipped")
    assert ("r" in state["values"]) is runs
    assert state["flags"] == flags  # passed on either way
    if not runs:
        assert "skipped" in result.stderr


@pytest.mark.parametrize("value, outcome", [("heads", "ran"), ("tails", "skipped"), (True, "none")])
def test_a_conditional_branch_runs_when_the_parameter_s_text_equals_its_key(tmp_path, value, outcome):
    gate = {"parameter": "toss", "key": "heads", "keys": ["heads", "tails"], "step": "c"}
    result = python_task(tmp_path, "def main():\n    return 1\n", returns=["r"], gate=gate, params={"toss": value})
    if outcome == "none":
        failed(result, "None of the branches were true", "'True'")
    else:
        assert state_of(result)["status"] == ("ok" if outcome == "ran" else "skipped")


def test_a_loop_iteration_is_skipped_once_break_on_is_true(tmp_path):
    inputs = tmp_path / "inputs"
    stage_state(inputs, "state-0", {"done": [3, True, "l.0.t"]})
    result = python_task(tmp_path, "def main():\n    return 1\n", returns=["r"],
                         gate={"break_on": "done", "step": "l"}, states=[{"slot": "state-0", "kind": "next"}],
                         env={"PIPEC_INPUTS_DIR": str(inputs)})
    assert state_of(result)["status"] == "skipped"
    stage_state(inputs, "state-0", {"done": [3, False, "l.0.t"]})
    result = python_task(tmp_path, "def main():\n    return 1\n", returns=["r"],
                         gate={"break_on": "done", "step": "l"}, states=[{"slot": "state-0", "kind": "next"}],
                         env={"PIPEC_INPUTS_DIR": str(inputs)})
    assert state_of(result)["status"] == "ok"


def test_a_handled_failure_ends_the_job_successfully_and_raises_its_flags(tmp_path):
    code = "def main():\n    raise ValueError('boom')\n"
    result = python_task(tmp_path, code, returns=["r"], handled=["failed:a", "failed:p"], attempts=2)
    assert result.rc == 0, result.stderr
    assert "attempt 1 of 2 failed" in result.stderr and "on_failure takes over" in result.stderr
    assert state_of(result) == {"status": "failed", "values": {}, "flags": ["failed:a", "failed:p"], "execution": 0,
                                "constants": {}}


def test_fail_steps(tmp_path):
    failed(run_task(tmp_path, {"kind": "fail", "message": "the dag reached its fail step", "step": "fail"}),
           "the dag reached its fail step", step="fail")
    result = run_task(tmp_path, {"kind": "fail", "message": "m", "handled": ["failed:p"]})
    assert result.rc == 0 and state_of(result)["status"] == "failed"


def test_constants_override_inherited_values_but_stay_in_their_copy(tmp_path):
    result = python_task(tmp_path, "def main(item):\n    return item\n", returns=["r"], params={"item": "initial"},
                         constants={"item": {"k": [1]}}, seq=3)
    assert result.meta == {"r": {"k": [1]}}
    assert state_of(result)["values"]["item"] == [0, "initial", ""]


# --- shell tasks ------------------------------------------------------------------------------


def shell_task(tmp_path, script, returns=(), params=None, **task):
    spec = {"kind": "shell", "command": script, "returns": [{"name": r, "kind": "json"} for r in returns]}
    spec.update(task)
    return run_task(tmp_path, spec, params)


def test_shell_parameters_arrive_as_environment(tmp_path):
    script = 'printf "%s|%s|%s|%s" "$greeting" "$cfg" "$n" "$PIPEC_PROJECT_DIR" > env.txt; pwd > pwd.txt'
    result = shell_task(tmp_path, script, params={"greeting": "hi", "cfg": {"a": [1, 2]}, "n": 3})
    assert result.meta == {}
    greeting, cfg, n, project = (result.outputs / "env.txt").read_text(encoding="utf-8").split("|")
    assert (greeting, json.loads(cfg), n, project) == ("hi", {"a": [1, 2]}, "3", str(result.project))
    assert (result.outputs / "pwd.txt").read_text().strip() == str(result.outputs)


def test_shell_exports_are_collected_after_exit_0(tmp_path):
    script = "export result=42\nexport word=hello\nexport blob='{\"k\": [1]}'\nexit 0\necho unreachable"
    result = shell_task(tmp_path, script, returns=["result", "word", "blob"])
    assert result.meta == {"result": 42, "word": "hello", "blob": {"k": [1]}}
    assert "unreachable" not in result.stdout


def test_shell_failure_keeps_the_exit_status(tmp_path):
    failed(shell_task(tmp_path, "export x=1\nexit 3", returns=["x"]), "exited with status 3")
    failed(shell_task(tmp_path, "true\nfalse"), "exited with status 1")
    failed(shell_task(tmp_path, "set -e\nfalse\necho after"), "exited with status 1")


def test_shell_unexported_return_is_left_unset(tmp_path):
    result = shell_task(tmp_path, "export a=1\nb=2", returns=["a", "b"])
    assert result.meta == {"a": 1}
    assert "did not export return 'b'" in result.stderr


def test_shell_object_return_is_rejected(tmp_path):
    result = run_task(tmp_path, {"kind": "shell", "command": "touch ran", "returns": [{"name": "o", "kind": "object"}]})
    failed(result, "'o' is kind object")
    assert not (result.outputs / "ran").exists()


# --- hostile strings --------------------------------------------------------------------------


def test_hostile_strings_arrive_byte_for_byte(tmp_path):
    code = """
        def main(text: str, **kwargs):
            with open("arg.txt", "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            return text, kwargs["other"]
    """
    result = python_task(tmp_path, code, returns=["text", "other"], params={"text": HOSTILE, "other": HOSTILE})
    assert result.meta == {"text": HOSTILE, "other": HOSTILE}
    assert (result.outputs / "arg.txt").read_bytes() == HOSTILE.encode("utf-8")

    script = 'printf "%s" "$text" > env.txt\nexport back="$text"\nexit 0'
    result = shell_task(tmp_path, script, returns=["back"], params={"text": HOSTILE})
    assert result.meta == {"back": HOSTILE}
    assert (result.outputs / "env.txt").read_bytes() == HOSTILE.encode("utf-8")
    assert not list(tmp_path.rglob("pwned*"))


# --- notebooks --------------------------------------------------------------------------------


def notebook(*cells: tuple[str, list[str]]) -> str:
    return json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"cell-{n}", "metadata": {"tags": tags},
                   "outputs": [], "source": source} for n, (source, tags) in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5})


NOTEBOOK = notebook(("x = 1\nlabel = 'default'", ["parameters"]),
                    ("y = x * 2\nwith open('nb.txt', 'w') as fh:\n    fh.write(label)\nprint('notebook ran')", []))


@pytest.mark.skipif(not (HAVE_PLOOMBER or HAVE_PAPERMILL), reason="neither ploomber-engine nor papermill installed")
def test_notebook_parameters_returns_and_output(tmp_path):
    task = {"kind": "notebook", "command": "notebooks/train.ipynb", "step": "train step",
            "returns": [{"name": "y", "kind": "json"}, {"name": "label", "kind": "json"}]}
    result = run_task(tmp_path, task, {"x": 21, "label": HOSTILE}, {"notebooks/train.ipynb": NOTEBOOK})
    assert result.meta == {"y": 42, "label": HOSTILE}
    assert (result.outputs / "nb.txt").read_text(encoding="utf-8") == HOSTILE  # cwd: the outputs dir
    executed = json.loads((result.outputs / "notebooks" / "train-trainstep_out.ipynb").read_text(encoding="utf-8"))
    assert not any("pipec-returns" in c["metadata"].get("tags", []) for c in executed["cells"])
    failed(run_task(tmp_path, dict(task, returns=[{"name": "absent", "kind": "json"}]), {"x": 1}),
           "defines no variable 'absent'", step="train step")
    bad = notebook(("raise RuntimeError('nb boom')", []))
    failed(run_task(tmp_path, task, {}, {"notebooks/train.ipynb": bad}), "nb boom", step="train step")


# papermill loads ploomber-engine's papermill engine when both are installed: this path is
# exercised only where papermill is installed without ploomber-engine.
@pytest.mark.skipif(not HAVE_PAPERMILL or HAVE_PLOOMBER, reason="needs papermill without ploomber-engine")
def test_notebook_with_papermill(tmp_path):
    task = {"kind": "notebook", "command": "train.ipynb", "returns": [{"name": "y", "kind": "json"}]}
    result = run_task(tmp_path, task, {"x": 5, "label": HOSTILE}, {"train.ipynb": NOTEBOOK})
    assert result.meta == {"y": 10}
    assert (result.outputs / "nb.txt").read_text(encoding="utf-8") == HOSTILE
    executed = json.loads((result.outputs / "train-train_out.ipynb").read_text(encoding="utf-8"))
    assert not any("pipec-returns" in c["metadata"].get("tags", []) for c in executed["cells"])
    failed(run_task(tmp_path, dict(task, returns=[{"name": "absent", "kind": "json"}]), {"x": 1}),
           "defines no variable 'absent'")


def test_notebook_without_an_engine_fails_clearly(tmp_path):
    shim = tmp_path / "shim"
    for name in ("ploomber_engine", "papermill"):
        (shim / name).mkdir(parents=True)
        (shim / name / "__init__.py").write_text("raise ImportError('hidden for this test')\n")
    task = {"kind": "notebook", "command": "train.ipynb"}
    result = run_task(tmp_path, task, {}, {"train.ipynb": NOTEBOOK}, env={"PYTHONPATH": str(shim)})
    failed(result, "ploomber-engine", "papermill")


def test_catalog_copies_of_one_name_from_several_steps_are_all_kept(tmp_path):
    inputs = tmp_path / "inputs"
    for n, job in enumerate(["p.one.a", "p.two.a"]):
        (inputs / f"catalog-{n}" / "d").mkdir(parents=True)
        (inputs / f"catalog-{n}" / "d" / "f.txt").write_text(job)
    result = run_task(tmp_path, {"command": "pkg.steps.main",
                                 "catalog": [{"slot": "catalog-0", "job": "p.one.a"},
                                             {"slot": "catalog-1", "job": "p.two.a"}]},
                      {}, {"pkg/__init__.py": "", "pkg/steps.py": "def main():\n    pass\n"},
                      env={"PIPEC_INPUTS_DIR": str(inputs)})
    assert result.rc == 0, result.stderr
    assert (result.outputs / "d" / "f.txt").read_text() == "p.two.a"  # the newest keeps the name
    assert (result.outputs / "d" / "f.p-one-a.txt").read_text() == "p.one.a"


def test_metrics_reach_the_log_and_the_run_summary(tmp_path):
    run_dir, summary = tmp_path / "run", tmp_path / "summary.md"
    run_dir.mkdir()
    code = "def main():\n    return 0.93, 7\n"
    env = {"PIPEC_RUN_DIR": str(run_dir), "PIPEC_ENGINE": "slurm", "GITHUB_STEP_SUMMARY": str(summary),
           "PIPEC_EXECUTION": "2"}
    result = python_task(tmp_path, code, returns=[{"name": "accuracy", "kind": "metric"}, "n"], env=env)
    assert result.meta == {"accuracy": 0.93, "n": 7}
    assert "pipec: metric accuracy = 0.93" in result.stderr
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [{"step": "train", "item": 2, "name": "accuracy", "value": 0.93}]
    assert "metric `accuracy` of step `train`: `0.93`" in summary.read_text(encoding="utf-8")
