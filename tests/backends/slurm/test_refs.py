"""Slurm job scripts read values by reference (command.Refs), without a cluster.

A job's sbatch body shows its command with every value a quoted "${PIPEC_P_<name>}" and sets
those variables before it. A sweep whose executions' commands read alike shares that command;
each execution's own values are a line of jobs/<job>.values. Whether they read alike is found
by rendering the command once with each swept value a variable (probed_rows) and, where that
does not apply, by rendering every execution (rendered_rows); where the texts differ, each
execution's command is a literal line of jobs/<job>.commands, as before.

Checked here: the probe agrees with rendering every execution, over hostile values and the
forms that defeat it; every sweep's executions get, from the shared command and their values,
exactly what the literal table of commands gives them (run with the stand-in sbatch); a grid
computed in the job reads its other values by reference too; a container's launcher keeps the
environment the values are exported in; shellcheck passes on every script. The real cluster:
test_e2e.test_values_read_by_reference_reach_the_program_exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipec.backends import slurm
from tests.backends.slurm.test_output import SHELLCHECK, compile_file, pipeline_dirs, shellcheck, sweep_values
from tests.backends.slurm.test_settings import STEPS, compile_here, run_sweep, write

TRAIN = STEPS[1]["step"]  # printf '<%s>\n' {parameters} > args.txt, parameters.json copied, pwd


def doc(grid: dict[str, list], step: dict[str, Any] | None = None, extra_params: list[dict] | None = None
        ) -> list[dict]:
    """prep -> a task node 'sweep' running `step` (default: train) over `grid`."""
    step = dict(step or TRAIN)
    step["parameters"] = [*step["parameters"], *(extra_params or [])]
    task = {"name": "sweep-task", "step": step["name"], "type": "grid_search",
            "parameters": [{"name": n, "style": "multiple", "rules": {"items": v}} for n, v in grid.items()]}
    return [STEPS[0], {"step": step}, {"task": task}, {"pipeline": {
        "name": "settings",
        "nodes": [{"name": "prep", "type": "execution", "step": "prep"},
                  {"name": "sweep", "type": "task", "task": "sweep-task"}],
        "edges": [["prep.output.data.txt", "sweep.input.data"]]}}]


def full(shared: Any, rows: int) -> tuple[str, dict[str, list[str]]]:
    """A sweep's shared command and each execution's text of every variable it reads."""
    script, first, columns = shared
    return script, {var: columns.get(var, [text] * rows) for var, text in first.items()}


def heredoc(script: str) -> str:
    return script.split("/.pipec/command.sh\" <<'PIPEC_EOF'\n")[1].split("\nPIPEC_EOF\n")[0]


# Each case: the grid, extra parameters of the step, and how its rows reach the job: "probe"
# (one rendering, checked against the first execution's), "rows" (every execution rendered,
# alike) or "table" (literal commands, which differ).
CASES = {
    "hostile text, numbers": ({"v": ["it's", "a\nb", "{{x}}", "$(touch PWNED)", "", True], "k": [-1, 7],
                               "f": [1e-05, -0.0]}, [], "probe"),
    "one value shared by every row": ({"v": ["only"], "k": [1, 2]}, [], "probe"),
    "repeated parameter, one item each": ({"tags": ["a b", "`c`"]},
                                         [{"name": "tags", "type": "string", "multiple": "repeat",
                                           "default": ["x"]}], "rows"),
    "names that map to one variable": ({"a-b": ["1", "2"]},
                                       [{"name": "a-b", "type": "string", "default": "0"},
                                        {"name": "a_b", "type": "string", "default": "$(x)"}], "probe"),
    "a swept flag": ({"on": [True, False], "k": [1, 2]}, [], "table"),
    "a formatted value": ({"r": [0.5, 0.25]},
                          [{"name": "r", "type": "float", "default": 0.0, "pass-as": "--r={v:.2f}"}], "table"),
    "a path the command finds elsewhere": ({"v": ["/valohai/inputs/data/data.txt", "plain"]}, [], "table"),
}


@pytest.mark.parametrize("case", CASES)
def test_sweeps_share_the_command_and_each_execution_gets_its_own_values(
        case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    grid, extra, how = CASES[case]
    path = write(tmp_path / "src", doc(grid, extra_params=extra))
    probe, render_all = slurm._Compiler.probed_rows, slurm._Compiler.rendered_rows
    seen: list[str] = []

    def checked(self, job, task, names, rows, first):
        found = probe(self, job, task, names, rows, first)
        if found is not None:  # the probe must say what rendering every execution says
            assert full(found, len(rows)) == full(render_all(self, job, task, names,
                                                             [self.values(job, r) for r in rows]), len(rows))
        seen.append("probe" if found is not None else "no probe")
        return found

    monkeypatch.setattr(slurm._Compiler, "probed_rows", checked)
    (tmp_path / "shared").mkdir()
    assert compile_here(path, tmp_path / "shared" / "out", monkeypatch).exit_code == 0
    (d,) = pipeline_dirs(tmp_path / "shared" / "out")
    assert seen == ["probe" if how == "probe" else "no probe"]
    script = (d / "jobs" / "sweep.sbatch").read_text()
    size = len((d / "jobs" / "sweep.parameters").read_text().splitlines())
    if how == "table":
        assert (d / "jobs" / "sweep.commands").is_file() and "commands differ as text" in script
        assert not (d / "jobs" / "sweep.values").exists()
    else:
        assert not (d / "jobs" / "sweep.commands").exists()
        command = heredoc(script)
        assert command.startswith("printf '<%s>\\n' --v=\"${PIPEC_P_v}\" ")
        for name in grid:
            assert f'="${{{slurm._named_refs(list(grid)).var(name)}' in command, name
        values = d / "jobs" / "sweep.values"
        varying = [n for n, v in grid.items() if len(v) > 1]
        assert (values.exists(), len(values.read_text().splitlines()) if values.exists() else 0) == \
            (bool(varying), size if varying else 0)
    if SHELLCHECK is not None:
        shellcheck(d)

    # The oracle: the same sweep with every execution's command a literal line of a table.
    monkeypatch.setattr(slurm._Compiler, "probed_rows", lambda *a: None)
    monkeypatch.setattr(slurm._Compiler, "rendered_rows", lambda *a: None)
    (tmp_path / "table").mkdir()
    assert compile_here(path, tmp_path / "table" / "out", monkeypatch).exit_code == 0
    (literal,) = pipeline_dirs(tmp_path / "table" / "out")
    assert (literal / "jobs" / "sweep.commands").is_file()
    runs = {name: run_sweep(p, tmp_path, name) for name, p in (("shared", d), ("table", literal))}
    for n in range(size):
        got = {name: [(run / "sweep" / str(n) / "outputs" / f).read_bytes().replace(bytes(run), b"RUN")
                      for f in ("args.txt", "parameters.json")] for name, run in runs.items()}
        assert got["shared"] == got["table"], n
    assert not (tmp_path / "shared" / "PWNED").exists() and not (tmp_path / "table" / "PWNED").exists()


def test_a_single_execution_shows_its_command_and_sets_its_values_before_it(tmp_path: Path) -> None:
    mark = tmp_path / "PWNED"
    step = {**TRAIN, "parameters": [{"name": "v", "type": "string", "default": "x"}]
            + [{"name": f"p{k}", "type": "string", "default": value} for k, value in enumerate(sweep_values(mark))]}
    path = write(tmp_path / "src", [STEPS[0], {"step": step}, {"pipeline": {
        "name": "single", "nodes": [{"name": "prep", "type": "execution", "step": "prep"},
                                    {"name": "one", "type": "execution", "step": "train"}],
        "edges": [["prep.output.data.txt", "one.input.data"]]}}])
    out = tmp_path / "out"
    (d,) = pipeline_dirs(compile_file(path, out))
    script = (d / "jobs" / "one.sbatch").read_text()
    command = heredoc(script)
    assert command.startswith("printf '<%s>\\n' --v=\"${PIPEC_P_v}\" --p0=\"${PIPEC_P_p0}\" --p1=\"${PIPEC_P_p1}\"")
    block = script.split("# The values this execution's command reads.\n")[1].split("cat > ")[0]
    assert block.startswith("export PIPEC_P_v=x\nexport PIPEC_P_p0=")
    assert len(block.splitlines()) == 1 + len(sweep_values(mark))  # one line each, newlines and all
    for value in sweep_values(mark):
        assert value not in command
    assert "PIPEC_P_p2=$'line\\nbreak\\ttab\\\\'" in block  # control characters: bash $'...'
    assert "PIPEC_P_p1=PIPEC_EOF" in block
    if SHELLCHECK is not None:
        shellcheck(d)


def test_a_computed_grid_reads_every_value_by_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "src", doc({"v": ["a b", "$(x)"], "k": [1, 2, 3]}))
    assert compile_here(path, tmp_path / "out", monkeypatch, 1).exit_code == 0
    (d,) = pipeline_dirs(tmp_path / "out")
    script = (d / "jobs" / "sweep.sbatch").read_text()
    assert (d / "jobs" / "sweep.grid").is_file() and "PIPEC_SWEEP_" not in script
    assert heredoc(script).startswith(
        "printf '<%s>\\n' --v=\"${PIPEC_P_v}\" --k=\"${PIPEC_P_k}\" --f=\"${PIPEC_P_f}\" > ")
    # The swept values come from the grid file; the others are set in the body.
    assert "PIPEC_P_v=${pipec_grid_text_0[pipec_k]}" in script and "PIPEC_P_k=${pipec_grid_text_1[pipec_k]}" in script
    assert "# The values the command reads that every execution shares.\nexport PIPEC_P_f=0.5\n" in script
    if SHELLCHECK is not None:
        shellcheck(d)


@pytest.mark.parametrize("container", ["apptainer", "pyxis"])
def test_a_container_keeps_the_environment_the_values_are_exported_in(container: str, tmp_path: Path) -> None:
    """apptainer exec and srun (pyxis) pass the job's environment into the container unless told
    not to (apptainer --cleanenv/--containall, srun --export): the values must be exported
    before the launcher runs, and the launcher must not clear them."""
    path = write(tmp_path / "src", doc({"k": [1, 2]}), f'[slurm]\ncontainer = "{container}"\n')
    (d,) = pipeline_dirs(compile_file(path, tmp_path / "out"))
    script = (d / "jobs" / "sweep.sbatch").read_text()
    run = next(line for line in script.splitlines() if line.startswith("pipec_run "))
    launcher = run.split(" bash -e ")[0]
    assert ("apptainer exec " if container == "apptainer" else "srun --ntasks=1 --container-image=") in launcher
    flags = {word.split("=")[0] for word in launcher.split()}
    clearing = {"-e", "--cleanenv", "-c", "--contain", "-C", "--containall", "--env", "--env-file", "--export"}
    assert not flags & clearing, run
    assert script.index("export PIPEC_P_v=x") < script.index("export PIPEC_P_k") < script.index(run)
