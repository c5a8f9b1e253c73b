"""The user's command where GitHub shows it: the `run:` step.

Each job's run step shows its command in a quoted here-document (`pipec_read PIPEC_COMMAND
<<'PIPEC_COMMAND'`), every value read from a quoted variable `"${PIPEC_P_<name>}"` that the
step's env sets (backends/command.Refs), so no value is written into the script and none meets
a shell or GitHub's expression language. Covered: the run: text (references, no value); hostile
values (quotes, `$(...)`, backticks, `${{ github.token }}`, `{{x}}`, newlines) reaching the
program byte for byte, run through the emulator (tests/harness/gha_sim.py); a command holding
`${{` (escaped for GitHub) and a line equal to the here-document's delimiter, run as written;
a sweep's rows sharing one run: text, each row carrying the values that vary (`p_<name>`),
the job still named by its row; a sweep whose commands differ (a swept flag) keeping each row's
command; a group of one job (its members' values per member, PIPEC_R<r>_*); a group of several
jobs (OSMO) showing each member's command; a command over GitHub's 21,000-character run:
limit in the step's env, said in a comment; actionlint, zizmor and the SchemaStore schema on
every workflow.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipec.backends import gha
from pipec.cli import main
from tests.backends.gha.shown import here_documents, run_step, step_commands
from tests.backends.gha.test_e2e import artifact, compile_gha, compile_without_images, doc, execution, start
from tests.harness.gha_check import check_workflows
from tests.paths import ROOT

HOSTILE = ["it's", 'a "b"', "$(touch PWNED)", "`touch PWNED`", "${{ github.token }}", "{{x}}",
           "line 1\nline 2", "${HOME}", "back\\slash", "  spaced  ", "-x"]
# Writes the words it was given to outputs/argv.json. In a group, the lead then waits for every
# member's (the lead's end stops the others).
PROBE = """\
import json, os, sys, time
with open(os.path.join(os.environ["VH_OUTPUTS_DIR"], "argv.json"), "w") as fh:
    fh.write(json.dumps(sys.argv[1:]))
if os.environ.get("PIPEC_RANK") == "0":
    root, size = os.environ["PIPEC_GROUP_ROOT"], int(os.environ["PIPEC_GROUP_SIZE"])
    written = [os.path.join(root, f"m{r}", "exec", "outputs", "argv.json") for r in range(size)]
    deadline = time.monotonic() + 30
    while not all(os.path.exists(w) for w in written) and time.monotonic() < deadline:
        time.sleep(0.05)
"""


def step_yaml(command: str, params: list[dict[str, Any]]) -> str:
    """A Valohai step `probe` (JSON is YAML: every value is written as it is)."""
    return (f"- step:\n    name: probe\n    image: python:3.12\n    command: {json.dumps(command)}\n"
            f"    parameters: {json.dumps(params)}\n")


def single(command: str, params: list[dict[str, Any]]) -> str:
    return step_yaml(command, params) + ("- pipeline:\n    name: shown\n    nodes:\n"
                                         "      - {name: probe, type: execution, step: probe}\n    edges: []\n")


def swept(command: str, params: list[dict[str, Any]], rules: list[dict[str, Any]], kind: str = "grid_search") -> str:
    return step_yaml(command, params) + (f"- task:\n    name: sweep\n    step: probe\n    type: {kind}\n"
                                         f"    parameters: {json.dumps(rules)}\n"
                                         "- pipeline:\n    name: shown\n    nodes:\n"
                                         "      - {name: probe, type: task, task: sweep}\n    edges: []\n")


def argv_of(r: Any, job: str, index: int = 0) -> list[str]:
    """The words the probe of one execution was given (from its artifact)."""
    return json.loads((artifact(r, job, index) / "argv.json").read_text(encoding="utf-8"))


def shown_command(job: dict[str, Any]) -> str:
    """The command the run step shows, as GitHub renders it (`${{ '${{' }}` gives `${{`)."""
    commands, _ = here_documents(run_step(job)["run"])
    return commands["PIPEC_COMMAND"].replace("${{ '${{' }}", "${{")


def write_probe(flow: Path) -> None:
    (flow.parent.parent.parent / "probe.py").write_text(PROBE, encoding="utf-8")


# ------------------------------------------------------------------------------ one execution
def test_the_run_step_shows_the_command_reading_each_value_from_a_quoted_variable(tmp_path: Path,
                                                                                  gha_tools) -> None:
    params = [{"name": "learning-rate", "type": "float", "default": 0.001},
              {"name": "note", "type": "string", "default": "${{ github.token }} it's"},
              {"name": "digits", "type": "float", "default": 0.5, "pass-as": "-d {v:.2f}"}]
    flow = compile_gha(tmp_path, single("python train.py {parameters}", params))
    job = doc(flow)["jobs"]["probe"]
    step = run_step(job)
    assert step["run"] == (
        '. "$GITHUB_WORKSPACE/.github/pipec/pipec-runtime.sh"\n'
        "pipec_read PIPEC_COMMAND <<'PIPEC_COMMAND'\n"
        'python train.py --learning-rate="${PIPEC_P_learning_rate}" --note="${PIPEC_P_note}" -d 0.50\n'
        "PIPEC_COMMAND\n"
        "pipec_job\n")
    assert "PIPEC_COMMAND" not in step["env"]
    # The values are in the env only, `${{` escaped for GitHub.
    assert {k: v for k, v in step["env"].items() if k.startswith("PIPEC_P_")} == {
        "PIPEC_P_learning_rate": "0.001", "PIPEC_P_note": "${{ '${{' }} github.token }} it's"}
    assert "0.001" not in step["run"] and "github.token" not in step["run"]
    assert check_workflows(flow.parent.parent.parent) == []


@pytest.mark.e2e
def test_hostile_values_reach_the_program_exactly(tmp_path: Path, gha_tools) -> None:
    params = [{"name": f"v{n}", "type": "string", "default": value} for n, value in enumerate(HOSTILE)]
    refs = " ".join(f'"{{parameter-value:v{n}}}"' for n in range(len(HOSTILE)))
    flow = compile_gha(tmp_path, single(f"python3 probe.py {{parameters}} {refs}", params))
    write_probe(flow)
    assert check_workflows(flow.parent.parent.parent) == []
    job = doc(flow)["jobs"]["probe"]
    command = shown_command(job)
    assert command.startswith('python3 probe.py --v0="${PIPEC_P_v0}" --v1="${PIPEC_P_v1}"')
    assert not any(value.strip() in run_step(job)["run"] for value in HOSTILE if value.strip() != "-x")
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    assert argv_of(r, "probe") == [f"--v{n}={v}" for n, v in enumerate(HOSTILE)] + HOSTILE
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.e2e
def test_a_command_holding_expressions_and_the_delimiter_runs_as_written(tmp_path: Path, gha_tools) -> None:
    lines = ["cat > \"$VH_OUTPUTS_DIR/said.txt\" <<'PIPEC_COMMAND'", "${{ github.token }} ${{ '${{' }} {{x}} $HOME",
             "PIPEC_COMMAND", "echo '${{ not an expression }}' >> \"$VH_OUTPUTS_DIR/said.txt\""]
    flow = compile_gha(tmp_path, single("\n".join(lines), []))
    step = run_step(doc(flow)["jobs"]["probe"])
    assert "pipec_read PIPEC_COMMAND <<'PIPEC_COMMAND_2'\n" in step["run"]
    assert "github.token" not in json.dumps(step["env"])
    assert shown_command(doc(flow)["jobs"]["probe"]) == "\n".join(lines)
    assert check_workflows(flow.parent.parent.parent) == []
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    said = (artifact(r, "probe") / "said.txt").read_text(encoding="utf-8")
    assert said == "${{ github.token }} ${{ '${{' }} {{x}} $HOME\n${{ not an expression }}\n"


@pytest.mark.e2e
def test_a_command_too_long_for_run_is_in_the_env(tmp_path: Path, gha_tools) -> None:
    words = " ".join(f"w{n:05d}" for n in range(gha.MAX_RUN_CHARS // 7 + 10))
    flow = compile_gha(tmp_path, single(f'echo {words} "{{parameter-value:x}}" > "$VH_OUTPUTS_DIR/out.txt"',
                                        [{"name": "x", "type": "string", "default": "it's $(x)"}]))
    step = run_step(doc(flow)["jobs"]["probe"])
    assert step["run"] == (
        '. "$GITHUB_WORKSPACE/.github/pipec/pipec-runtime.sh"\n'
        "# The command is in the step's env (PIPEC_COMMAND): shown here, the script would be over the 21,000 "
        "characters GitHub takes.\npipec_job\n")
    assert step["env"]["PIPEC_COMMAND"].endswith(' "${PIPEC_P_x}" > "$VH_OUTPUTS_DIR/out.txt"')
    assert check_workflows(flow.parent.parent.parent) == []
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    assert (artifact(r, "probe") / "out.txt").read_text(encoding="utf-8") == f"{words} it's $(x)\n"


# ------------------------------------------------------------------------------ sweeps
@pytest.mark.e2e
def test_a_sweep_shows_one_command_and_each_row_carries_its_values(tmp_path: Path, gha_tools) -> None:
    params = [{"name": "msg", "type": "string"}, {"name": "n", "type": "integer"},
              {"name": "same", "type": "string", "default": "${{ github.actor }}"}]
    rules = [{"name": "msg", "style": "multiple", "rules": {"items": HOSTILE[:7]}},
             {"name": "n", "style": "multiple", "rules": {"items": [1, 2]}}]
    flow = compile_gha(tmp_path, swept("python3 probe.py {parameters}", params, rules))
    write_probe(flow)
    assert check_workflows(flow.parent.parent.parent) == []
    job = doc(flow)["jobs"]["probe"]
    assert job["name"] == "probe (${{ matrix.label }})"
    assert shown_command(job) == 'python3 probe.py --msg="${PIPEC_P_msg}" --n="${PIPEC_P_n}" --same="${PIPEC_P_same}"'
    env = run_step(job)["env"]
    assert (env["PIPEC_P_msg"], env["PIPEC_P_n"]) == ("${{ matrix.p_msg }}", "${{ matrix.p_n }}")
    assert env["PIPEC_P_same"] == "${{ '${{' }} github.actor }}", "a value every row shares is in the env"
    rows = job["strategy"]["matrix"]["include"]
    assert all(set(row) == {"i", "label", "p_msg", "p_n", "parameters"} for row in rows)
    assert "command" not in json.dumps(rows)
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    want = {(msg, n) for msg in HOSTILE[:7] for n in (1, 2)}
    got = set()
    for i in range(len(rows)):
        leg = execution(r, "probe", i)
        msg, n, same = argv_of(r, "probe", i)
        assert same == "--same=${{ github.actor }}" and leg.step("run").script == run_step(job)["run"].replace(
            "${{ '${{' }}", "${{")
        got.add((msg.removeprefix("--msg="), int(n.removeprefix("--n="))))
    assert got == want
    assert not list(tmp_path.rglob("PWNED"))


def test_a_sweep_whose_commands_differ_keeps_each_rows_command(tmp_path: Path, gha_tools) -> None:
    params = [{"name": "fast", "type": "flag"}, {"name": "lr", "type": "float"}]
    rules = [{"name": "fast", "style": "multiple", "rules": {"items": [True, False]}},
             {"name": "lr", "style": "single", "rules": {"value": 0.5}}]
    flow = compile_gha(tmp_path, swept("python train.py {parameters}", params, rules))
    job = doc(flow)["jobs"]["probe"]
    step = run_step(job)
    assert here_documents(step["run"])[0] == {} and step["env"]["PIPEC_COMMAND"] == "${{ matrix.command }}"
    assert [row["command"] for row in job["strategy"]["matrix"]["include"]] == [
        "python train.py --fast --lr=0.5", "python train.py --lr=0.5"]
    assert not [k for k in step["env"] if k.startswith("PIPEC_P_")]
    assert check_workflows(flow.parent.parent.parent) == []


# ------------------------------------------------------------------------------ groups
@pytest.mark.e2e
def test_a_groups_members_share_the_command_and_get_their_own_values(tmp_path: Path, gha_tools) -> None:
    params = [{"name": "rank-note", "type": "string"}, {"name": "port", "type": "integer", "default": 7000}]
    rules = [{"name": "rank-note", "style": "multiple", "rules": {"items": HOSTILE[:3]}}]
    flow = compile_without_images(tmp_path, swept("python3 probe.py {parameters}", params, rules, "distributed"))
    write_probe(flow)
    assert check_workflows(flow.parent.parent.parent) == []
    job = doc(flow)["jobs"]["probe"]
    step = run_step(job)
    assert step["run"].endswith("PIPEC_COMMAND\npipec_group 3\n")
    assert step_commands(step) == {"PIPEC_COMMAND": 'python3 probe.py --rank-note="${PIPEC_P_rank_note}" '
                                                    '--port="${PIPEC_P_port}"'}
    env = step["env"]
    assert env["PIPEC_P_port"] == "7000" and env["PIPEC_RANK_VARS"] == "P_rank_note"
    assert [env[f"PIPEC_R{r}_P_rank_note"] for r in range(3)] == HOSTILE[:3]
    assert not [k for k in env if re.match(r"PIPEC_COMMAND_\d", k)]
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    for rank, value in enumerate(HOSTILE[:3]):
        assert argv_of(r, "probe", rank) == [f"--rank-note={value}", "--port=7000"]
    assert not list(tmp_path.rglob("PWNED"))


def test_a_group_of_several_jobs_shows_each_members_command(tmp_path: Path, gha_tools) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", str(ROOT / "examples/osmo/server-client.yaml"), "--target", "gha",
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    (flow,) = (out / ".github/workflows").glob("*.yml")
    step = run_step(doc(flow)["jobs"]["exchange"])  # the group's job
    commands, rest = here_documents(step["run"])
    assert list(commands) == ["PIPEC_M0_COMMAND", "PIPEC_M1_COMMAND"] and rest[-2:] == ["pipec_team 2 lead", ""]
    assert "nc -w 60 -l -p 24831" in commands["PIPEC_M0_COMMAND"]
    assert "nc -w 5 '\"${PIPEC_HOST_0}\"' 24831" in commands["PIPEC_M1_COMMAND"]
    env = step["env"]
    assert not [k for k in env if k.endswith("_COMMAND")]
    assert env["PIPEC_M0_VARS"].split() == ["JOB", "COMMAND", "PARAMETERS", "SETUP"]
    assert check_workflows(out) == []
