"""Groups of several different jobs on GitHub Actions (OSMO `groups:`): one GitHub job per
group, each member an execution of its own job, all run together on one runner by the
runtime (pipec_team in templates/runtime/gha.sh): containers of their own images on a Docker
network of the group's own, reachable under their job ids (network aliases), or processes
on the runner.

Covered: the output judged by actionlint, zizmor and the SchemaStore schema for groups of 2
and 3 members; the shape of the group's job (needs, uploads per member, runner labels);
end to end in the emulator (tests/harness/gha_sim.py, with tests/harness/fake_docker.py as
`docker`): a group and a downstream job reading a non-lead member's outputs, members talking
over TCP by host name (processes), the lead's end stopping the others, a failing non-lead
with and without `ignoreNonleadStatus`, the barrier, hostile text in args and environment
values reaching the program byte for byte, and metadata into and out of a group; groups the
back end cannot run as one GitHub job are refused, located.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml
from click.testing import CliRunner

from pipec import ir
from pipec.cli import main
from pipec.driver import Request, load_workflows
from tests.harness import fake_docker
from tests.harness.gha_check import check_workflows
from tests.harness.gha_sim import Run, run_workflow


# --------------------------------------------------------------------------- helpers
def compile_osmo(tmp_path: Path, text: str, toml: str | None = None) -> tuple[Path, str]:
    """Compile an OSMO workflow into a repository directory; the workflow file and pipec's
    messages."""
    repo = tmp_path / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    src = repo / "workflow.yaml"
    src.write_text(textwrap.dedent(text), encoding="utf-8")
    if toml is not None:
        (repo / "pipec.toml").write_text(textwrap.dedent(toml), encoding="utf-8")
    result = CliRunner().invoke(main, ["compile", str(src), "--target", "gha", "-o", str(repo)])
    assert result.exit_code == 0, f"pipec compile failed ({result.exit_code}):\n{result.output}"
    flows = sorted((repo / ".github" / "workflows").glob("*.yml"))
    assert len(flows) == 1, flows
    return flows[0], result.output


def without_images(flow: Path) -> None:
    """Compile the flow's source again with every job's image removed in the IR (as a
    dialect without images gives): the group's members become processes on the runner."""
    from pipec.backends.gha import compile_workflows
    from pipec.errors import Diagnostics

    repo = flow.parent.parent.parent
    result = load_workflows(Request(file=str(repo / "workflow.yaml"), target="gha"))
    workflows = [dataclasses.replace(wf, jobs=tuple(dataclasses.replace(j, image=None) for j in wf.jobs))
                 for wf in result.workflows]
    diags = Diagnostics()
    out = compile_workflows(workflows, result.config, diags)
    assert diags.error_count() == 0, diags
    for rel, (content, _) in out.items():
        (repo / rel).write_text(content, encoding="utf-8")


def doc(flow: Path) -> dict:
    return yaml.safe_load(flow.read_text(encoding="utf-8"))


def run_step(job: dict) -> dict:
    return next(s for s in job["steps"] if s.get("id") == "run")


def start(flow: Path, docker: Path | None = None, **kw: Any) -> Run:
    """Run the workflow in the emulator; with `docker` (a state directory) the fake docker
    is first on PATH."""
    repo = flow.parent.parent.parent
    old = os.environ["PATH"]
    if docker is not None:
        fake_docker.install(docker.parent / "bin", docker)
        os.environ["PATH"] = f"{docker.parent / 'bin'}{os.pathsep}{old}"
    try:
        return run_workflow(flow, workspace=repo, workdir=repo.parent / "gh", capacity=8,
                            timeout=kw.pop("timeout", 90), **kw)
    finally:
        os.environ["PATH"] = old


def artifact(r: Run, job: str, area: str = "outputs") -> Path:
    """An area of a member's execution in the run's artifacts (pipec.<job>.0/0/<area>)."""
    return r.artifact(f"pipec.{job}.0") / "0" / area


def files(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        return {}
    return {str(p.relative_to(directory)): p.read_text(encoding="utf-8")
            for p in sorted(directory.rglob("*")) if p.is_file()}


def ran(r: Run, job_id: str) -> bool:
    return any(leg.job.id == job_id and leg.has_step("run") and leg.step("run").outcome != "skipped"
               for leg in r.legs())


def expressions(data: Any) -> Iterator[str]:
    """Every `${{ ... }}` of every string in a workflow document."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from expressions(key)
            yield from expressions(value)
    elif isinstance(data, list):
        for value in data:
            yield from expressions(value)
    elif isinstance(data, str):
        yield from re.findall(r"\$\{\{(.*?)\}\}", data, re.S)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -------------------------------------------------------------- a group and its downstream
# The client (not the lead) writes what it was told of the server, says so and waits to be
# stopped; the server (the lead) ends once the client has written. The report job reads the
# client's outputs. (The fake docker resolves no names: the members meet in the workspace.)
TALK = """\
workflow:
  name: talk
  groups:
  - name: pair
    tasks:
    - name: server
      lead: true
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["until [ -e \\"$GITHUB_WORKSPACE/client-done\\" ]; do sleep 0.05; done;
              echo served > {{output}}/served.txt"]
    - name: client
      image: busybox:1.36
      command: ["sh", "-c"]
      args: ["echo 'from {{host:server}}' > {{output}}/got.txt; touch \\"$GITHUB_WORKSPACE/client-done\\"; sleep 600"]
  - name: after
    tasks:
    - name: report
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["cat {{input:0}}/got.txt > {{output}}/report.txt"]
      inputs:
      - task: client
"""


@pytest.mark.e2e
def test_a_group_and_a_downstream_of_its_non_lead_run_end_to_end(tmp_path: Path) -> None:
    flow, _ = compile_osmo(tmp_path, TALK)
    jobs = doc(flow)["jobs"]
    assert sorted(jobs) == ["pair", "report"] and jobs["report"]["needs"] == ["pair"]
    assert "container" not in jobs["pair"], "the group's job runs on the runner, which starts the containers"
    state = tmp_path / "docker"
    r = start(flow, docker=state)
    assert r.conclusion == "success", r.logs()
    assert files(artifact(r, "report")) == {"report.txt": "from server\n"}
    assert files(artifact(r, "client")) == {"got.txt": "from server\n"}
    assert files(artifact(r, "server")) == {"served.txt": "served\n"}
    for member in ("server", "client"):  # the client was stopped by the lead's end: it counts as succeeded
        assert (artifact(r, member, ".pipec") / "ok").exists()
    calls = [c["argv"] for c in fake_docker.calls(state)]
    net = calls[0][2]
    assert calls[0][:2] == ["network", "create"] and calls[-1] == ["network", "rm", net]
    creates = [a for a in calls if a[0] == "create"]
    assert [a[a.index("--name") + 1] for a in creates] == [f"{net}-1", f"{net}-0"], "the lead is created last"
    assert [a[a.index("--entrypoint") + 2] for a in creates] == ["busybox:1.36", "alpine:3.18"]
    assert fake_docker.aliases(state, net) == {f"{net}-0": [f"{net}-0", "server"], f"{net}-1": [f"{net}-1", "client"]}
    assert not list((state / "containers").glob("*.json")) and not list((state / "networks").iterdir())


# ----------------------------------------------------------- members talking by host name
# Processes on the runner (a dialect without images): the lead serves two clients, each
# client connects to the lead's host name as its command received it; a downstream job
# reads both clients' outputs.
SERVE = """\
workflow:
  name: three
  groups:
  - name: trio
    tasks:
    - name: server
      lead: true
      image: python:3.12
      command:
      - python3
      - -c
      - |
        import socket, sys
        srv = socket.create_server(("127.0.0.1", int(sys.argv[2])))
        for n in range(2):
            conn, _ = srv.accept()
            conn.sendall(b"hello %d" % n)
            conn.close()
        open(sys.argv[1] + "/served.txt", "w").write("served 2")
      args: ["{{output}}", "PORT"]
    - name: client-a
      image: python:3.12
      command: ["python3", "-c", "CLIENT"]
      args: ["{{output}}", "{{host:server}}", "PORT", "{{host:client-b}}"]
    - name: client-b
      image: python:3.12
      command: ["python3", "-c", "CLIENT"]
      args: ["{{output}}", "{{host:server}}", "PORT", "{{host:client-a}}"]
  - name: after
    tasks:
    - name: report
      image: python:3.12
      command: ["sh", "-c", "cat {{input:0}}/got.txt {{input:1}}/got.txt | sort > {{output}}/report.txt"]
      inputs:
      - task: client-a
      - task: client-b
"""
CLIENT = ("import socket, sys, time\\n"
          "for _ in range(400):\\n"
          "    try:\\n"
          "        conn = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=2)\\n"
          "        break\\n"
          "    except OSError:\\n"
          "        time.sleep(0.05)\\n"
          "got = conn.recv(100).decode()\\n"
          "open(sys.argv[1] + '/got.txt', 'w').write(got + ' via ' + sys.argv[2] + ' peer ' + sys.argv[4] + '\\\\n')\\n"
          "conn.sendall(b'done')\\n")


@pytest.mark.e2e
def test_members_without_images_reach_each_other_by_host_name(tmp_path: Path) -> None:
    port = free_port()
    flow, _ = compile_osmo(tmp_path, SERVE.replace("PORT", str(port)).replace("CLIENT", CLIENT))
    without_images(flow)
    job = doc(flow)["jobs"]["trio"]
    env = run_step(job)["env"]
    assert {k: v for k, v in env.items() if k.startswith("PIPEC_HOST_")} == {
        "PIPEC_HOST_0": "127.0.0.1", "PIPEC_HOST_1": "127.0.0.1", "PIPEC_HOST_2": "127.0.0.1"}
    assert not any(k.endswith("_IMAGE") for k in env) and "PIPEC_RUNTIME" not in env
    r = start(flow)
    assert r.conclusion == "success", r.logs()
    assert r.legs("trio")[0].orphans == [], "a member outlived the group's step"
    assert files(artifact(r, "server")) == {"served.txt": "served 2"}
    report = files(artifact(r, "report"))["report.txt"].splitlines()
    assert sorted(line.split(" via ")[1] for line in report) == ["127.0.0.1 peer 127.0.0.1"] * 2
    assert sorted(line.split(" via ")[0] for line in report) == ["hello 0", "hello 1"]


# ------------------------------------------------------------------ the lead, and failures
def failing_helper(ignore_nonlead: bool) -> str:
    """A lead that waits to be stopped (or ends a second after the helper failed: time for
    the helper's runtime to mark it), a helper that fails, a job downstream of the helper and
    one independent of the group."""
    lead_args = ("echo started > {{output}}/started.txt; sleep 600" if not ignore_nonlead else
                 'until [ -e \\"$GITHUB_WORKSPACE/helper-done\\" ]; do sleep 0.05; done; sleep 1; '
                 'echo led > {{output}}/led.txt')
    return f"""\
workflow:
  name: strict
  groups:
  - name: pair
    ignoreNonleadStatus: {str(ignore_nonlead).lower()}
    tasks:
    - name: lead
      lead: true
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["{lead_args}"]
    - name: helper
      image: alpine:3.18
      command: ["sh", "-c"]
      args: ["echo partial > {{{{output}}}}/partial.txt; touch \\"$GITHUB_WORKSPACE/helper-done\\"; exit 7"]
  - name: after
    tasks:
    - name: downstream
      image: alpine:3.18
      command: ["sh", "-c", "echo ran > {{{{output}}}}/ran.txt"]
      inputs:
      - task: helper
  - name: solo
    tasks:
    - name: independent
      image: alpine:3.18
      command: ["sh", "-c", "sleep 1; echo fine > {{{{output}}}}/fine.txt"]
"""


@pytest.mark.e2e
def test_a_failing_non_lead_fails_the_group_when_every_member_counts(tmp_path: Path) -> None:
    flow, _ = compile_osmo(tmp_path, failing_helper(ignore_nonlead=False))
    assert run_step(doc(flow)["jobs"]["pair"])["run"].endswith("\npipec_team 2 any\n")
    state = tmp_path / "docker"
    r = start(flow, docker=state)
    assert r.job("pair").result == "failure", r.logs()
    assert not ran(r, "downstream") and r.job("downstream").result == "skipped"
    assert r.job("independent").result == "success" and files(artifact(r, "independent")) == {"fine.txt": "fine\n"}
    helper, lead = artifact(r, "helper", ".pipec"), artifact(r, "lead", ".pipec")
    assert (helper / "failed").read_text() == "7\n" and not (helper / "ok").exists()
    assert (lead / "failed").read_text() == "7\n" and not (lead / "ok").exists()
    assert (lead / "reason").read_text() == "stopped: helper ended with status 7\n"
    assert files(artifact(r, "helper")) == {} and files(artifact(r, "lead")) == {}, "a failed member keeps no outputs"
    assert not list((state / "containers").glob("*.json")), "a member container outlived the group"
    assert "member 1 (helper)" in r.legs("pair")[0].step("run").stdout  # the helper's log is shown


@pytest.mark.e2e
def test_a_failing_non_lead_does_not_fail_the_group_its_lead_decides(tmp_path: Path) -> None:
    flow, _ = compile_osmo(tmp_path, failing_helper(ignore_nonlead=True))
    assert run_step(doc(flow)["jobs"]["pair"])["run"].endswith("\npipec_team 2 lead\n")
    r = start(flow, docker=tmp_path / "docker")
    assert r.job("pair").result == "success", r.logs()
    assert files(artifact(r, "lead")) == {"led.txt": "led\n"} and (artifact(r, "lead", ".pipec") / "ok").exists()
    helper = artifact(r, "helper", ".pipec")
    assert (helper / "failed").read_text() == "7\n" and not (helper / "ok").exists()
    assert files(artifact(r, "helper")) == {}, "a failed member keeps no outputs"
    # The downstream of the failed helper runs (its group succeeded) but receives nothing.
    assert r.job("downstream").result == "failure"
    assert "input 0 received no files" in r.legs("downstream")[0].step("run").stderr
    assert r.job("independent").result == "success"


# A member that dies before its command (its input cannot be fetched) breaks the barrier:
# the lead, waiting there, fails instead of waiting for ever.
BROKEN = """\
workflow:
  name: broken
  groups:
  - name: pair
    tasks:
    - name: lead
      lead: true
      image: alpine:3.18
      command: ["sh", "-c", "echo never > {{output}}/never.txt"]
    - name: member
      image: alpine:3.18
      command: ["sh", "-c", "echo never > {{output}}/never.txt"]
      inputs:
      - url: nosuch://bucket/data
"""


@pytest.mark.e2e
def test_a_member_failing_before_the_barrier_releases_the_others(tmp_path: Path) -> None:
    flow, output = compile_osmo(tmp_path, BROKEN)
    assert "nosuch:// URLs, which have no fetch command" in output
    env = run_step(doc(flow)["jobs"]["pair"])["env"]
    assert env["PIPEC_M0_SETUP"].endswith("pipec_team_barrier\n") and env["PIPEC_M1_SETUP"].endswith(
        "pipec_team_barrier\n")
    r = start(flow, docker=tmp_path / "docker")
    assert r.job("pair").result == "failure", r.logs()
    stderr = r.legs("pair")[0].step("run").stderr
    assert "a member of the group failed before every member was up (barrier)" in stderr
    member = artifact(r, "member", ".pipec")
    assert (member / "reason").read_text() == "it ended with status 1 before its command ran\n"
    assert not (artifact(r, "lead", ".pipec") / "stdout").exists(), "the lead's command never ran"


# ------------------------------------------------------------------- the judges, the shape
def group_of(size: int) -> str:
    """A prep job feeding two members of a group of `size` (2 or 3), a member needing a GPU,
    (with 3) one on an ARM machine profile, and a job downstream of two members."""
    third = """
    - name: watcher
      image: alpine:3.18
      resource: arm
      command: ["sh", "-c", "echo watching {{host:server}} > {{output}}/w.txt"]""" if size == 3 else ""
    arm = """
    arm:
      cpu: 2
      platform: arm""" if size == 3 else ""
    return f"""\
workflow:
  name: judged-{size}
  resources:
    default:
      cpu: 1
    gpu:
      cpu: 4
      gpu: 1{arm}
  groups:
  - name: setup
    tasks:
    - name: prep
      image: alpine:3.18
      command: ["sh", "-c", "echo data > {{{{output}}}}/data.txt"]
  - name: pair
    barrier: false
    ignoreNonleadStatus: false
    tasks:
    - name: server
      lead: true
      image: alpine:3.18
      resource: gpu
      command: ["sh", "-c", "cat {{{{input:0}}}}/data.txt > {{{{output}}}}/s.txt"]
      environment:
        ROLE: server
      inputs:
      - task: prep
    - name: client
      image: busybox:1.36
      command: ["sh", "-c", "echo {{{{host:server}}}} > {{{{output}}}}/c.txt"]
      inputs:
      - task: prep{third}
  - name: after
    tasks:
    - name: report
      image: alpine:3.18
      command: ["sh", "-c", "cat {{{{input:0}}}}/s.txt {{{{input:1}}}}/c.txt"]
      inputs:
      - task: server
      - task: client
"""


ARM_PROFILE = """\
[profiles.arm]
runs_on = ["self-hosted", "linux", "arm-box"]
"""


@pytest.mark.parametrize("size", [2, 3])
def test_groups_of_two_and_three_members_pass_the_judges(tmp_path: Path, size: int, gha_tools) -> None:
    flow, output = compile_osmo(tmp_path, group_of(size), toml=ARM_PROFILE if size == 3 else None)
    assert check_workflows(flow.parent.parent.parent) == []
    jobs = doc(flow)["jobs"]
    assert sorted(jobs) == ["pair", "prep", "report"]
    pair = jobs["pair"]
    assert pair["needs"] == ["prep"] and jobs["report"]["needs"] == ["pair"], "one GitHub job for the group"
    downloads = [s for s in pair["steps"] if "download-artifact" in s.get("uses", "")]
    assert [d["with"]["path"] for d in downloads] == ["${{ runner.temp }}/pipec/up/prep"], "downloaded once"
    uploads = [s["with"]["name"] for s in pair["steps"] if "upload-artifact" in s.get("uses", "")]
    members = ["server", "client", "watcher"][:size]
    assert uploads == [f"pipec.{m}.0" for m in members]
    env = run_step(pair)["env"]
    assert [env[f"PIPEC_HOST_{k}"] for k in range(size)] == members, "the lead is member 0"
    assert [env[f"PIPEC_M{k}_JOB"] for k in range(size)] == members
    assert env["PIPEC_M0_GPUS"] == "1" and "PIPEC_M1_GPUS" not in env
    assert env["PIPEC_M0_UPSTREAM"] == env["PIPEC_M1_UPSTREAM"] == "prep"
    assert "export ROLE=server" in env["PIPEC_M0_SETUP"] and "ROLE" not in env["PIPEC_M1_SETUP"]
    assert "pipec_team_barrier" not in env["PIPEC_M0_SETUP"], "barrier: false"
    assert run_step(pair)["run"].endswith(f"\npipec_team {size} any\n")
    if size == 2:  # the GPU member's labels: the group runs on one runner
        assert pair["runs-on"] == ["self-hosted", "linux", "gpu"] and "runs on one runner" not in output
    else:
        assert pair["runs-on"] == ["self-hosted", "linux", "gpu", "arm-box"]
        assert "group 'pair' runs on one runner, which needs every label its members ask for" in output
    labels = (flow.parent.parent / "actionlint.yaml").read_text()
    assert "gpu" in labels and ("arm-box" in labels) == (size == 3)


def refusals(tmp_path: Path, change: Callable[[ir.Workflow], ir.Workflow]) -> list[str]:
    """The errors of compiling group_of(2) with its IR changed by `change` (what another
    dialect, or a later pass, could give the back end)."""
    from pipec.backends.gha import compile_workflows
    from pipec.errors import Diagnostics

    (tmp_path / "workflow.yaml").write_text(group_of(2), encoding="utf-8")
    result = load_workflows(Request(file=str(tmp_path / "workflow.yaml"), target="gha"))
    diags = Diagnostics()
    out = compile_workflows([change(wf) for wf in result.workflows], result.config, diags)
    assert out == {} or not any(rel.endswith(".yml") for rel in out)
    return [d.message for d in diags.items if d.severity.value == "error"]


def _jobs(wf: ir.Workflow, **changes: dict[str, Any]) -> ir.Workflow:
    return dataclasses.replace(wf, jobs=tuple(dataclasses.replace(j, **changes.get(j.id, {})) for j in wf.jobs))


def test_a_group_mixing_members_with_and_without_an_image_is_refused(tmp_path: Path) -> None:
    errors = refusals(tmp_path, lambda wf: _jobs(wf, client={"image": None}))
    assert errors == ["group 'pair' has members with an image and members without one ('client'): on GitHub Actions a "
                      "group's members are all containers on one Docker network or all processes on the runner"]


def test_a_member_waiting_for_its_own_group_is_refused(tmp_path: Path) -> None:
    def server_after_report(wf: ir.Workflow) -> ir.Workflow:  # report reads only the client, server waits for it
        deps = tuple(d for d in wf.dependencies if (d.source, d.target) != ("server", "report"))
        return dataclasses.replace(wf, dependencies=deps + (ir.Dependency("report", "server", ir.DepKind.ORDER),))

    errors = refusals(tmp_path, server_after_report)
    assert errors == ["'server' waits for 'report', which waits for 'client', a member of its own group 'pair'; the "
                      "members of a group start together"]


def test_a_member_with_several_executions_is_refused(tmp_path: Path) -> None:
    sweep = ir.Sweep(ir.SweepKind.PRODUCT, 2, axes=(ir.Axis("n", (1, 2)),))
    errors = refusals(tmp_path, lambda wf: _jobs(wf, client={"sweep": sweep}))
    assert errors == ["'client' runs several executions in group 'pair'; in a group of several jobs the GitHub "
                      "Actions target runs one execution of each member"]


# ------------------------------------------------------------------------ hostile text
HOSTILE = [
    "${{ github.token }} $(touch PWNED) `touch PWNED` 'q' \"dq\" \\back\\slash ü漢字😀 ${{ '${{' }}",
    "line1\nline2\t{{workflow.name}} {{ secrets.X }} %s ${HOME} ; touch PWNED #",
]
# Each member writes what it received; the lead ends (stopping the peer) once the peer has.
SEE = ("import json, os, sys, time\n"
       "open(sys.argv[1] + '/seen.json', 'w', encoding='utf-8')"
       ".write(json.dumps({'argv': sys.argv[2:], 'env': os.environ['EVIL']}))\n")
DONE = "os.environ['GITHUB_WORKSPACE'] + '/peer-done'"
SEE_AS = {"lead": SEE + f"while not os.path.exists({DONE}):\n    time.sleep(0.05)\n",
          "peer": SEE + f"open({DONE}, 'w').close()\n"}


def _raw(text: str) -> str:
    """`text` as a YAML double-quoted string that OSMO's Jinja leaves alone."""
    return '"{% raw %}' + json.dumps(text, ensure_ascii=False)[1:-1] + '{% endraw %}"'


@pytest.mark.e2e
def test_hostile_args_and_environment_reach_the_members_byte_for_byte(tmp_path: Path, gha_tools) -> None:
    member = """\
    - name: {name}
      image: python:3.12
      command: ["python3", "-c", {see}]
      args: ["{{{{output}}}}", {a}, {b}]
      environment:
        EVIL: {b}"""
    a, b = _raw(HOSTILE[0]), _raw(HOSTILE[1])
    text = "workflow:\n  name: hostile\n  groups:\n  - name: pair\n    tasks:\n" + "\n".join(
        member.format(name=n, see=json.dumps(SEE_AS[n]), a=a, b=b) for n in ("lead", "peer"))
    text = text.replace("    - name: lead\n", "    - name: lead\n      lead: true\n")
    flow, _ = compile_osmo(tmp_path, text + "\n")
    repo = flow.parent.parent.parent
    assert check_workflows(repo) == []
    allowed = {"runner.temp", "'${{'", "!cancelled()", "github.ref"}
    assert {e.strip() for e in expressions(doc(flow))} <= allowed, "user text inside ${{ }}"
    r = start(flow, docker=tmp_path / "docker")
    assert r.conclusion == "success", r.logs()
    for name in ("lead", "peer"):
        seen = json.loads(files(artifact(r, name))["seen.json"])
        assert seen == {"argv": HOSTILE, "env": HOSTILE[1]}
    assert not [p for p in tmp_path.rglob("PWNED")]


# ------------------------------------------------------------------------------ metadata
# No dialect has both metadata and groups of several jobs yet: a Valohai pipeline whose IR is
# given a group. `left` (the lead) reads metadata printed upstream and ends a second after
# `right` printed its own; `final` reads the metadata `right` printed.
METADATA = """\
- step:
    name: measure
    image: python:3.12
    command:
      - "echo '{\\"acc\\": 0.75}'"
- step:
    name: use
    image: python:3.12
    command:
      - echo "acc {parameter-value:acc}" > $VH_OUTPUTS_DIR/got.txt
      - until [ -e "$GITHUB_WORKSPACE/right-done" ]; do sleep 0.05; done; sleep 1
    parameters:
      - {name: acc, type: float, default: 0}
- step:
    name: report
    image: python:3.12
    command:
      - "echo '{\\"loss\\": 0.5}'"
      - touch "$GITHUB_WORKSPACE/right-done"
- step:
    name: final
    image: python:3.12
    command:
      - echo "loss {parameter-value:loss}" > $VH_OUTPUTS_DIR/final.txt
    parameters:
      - {name: loss, type: float, default: 0}
- pipeline:
    name: meta
    nodes:
      - {name: measure, type: execution, step: measure}
      - {name: left, type: execution, step: use}
      - {name: right, type: execution, step: report}
      - {name: final, type: execution, step: final}
    edges:
      - [measure.metadata.acc, left.parameter.acc]
      - [right.metadata.loss, final.parameter.loss]
"""


@pytest.mark.e2e
def test_metadata_into_and_out_of_a_group_of_several_jobs(tmp_path: Path) -> None:
    from pipec.backends.gha import compile_workflows
    from pipec.errors import Diagnostics

    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "pipec").mkdir()
    (repo / "valohai.yaml").write_text(METADATA, encoding="utf-8")
    result = load_workflows(Request(file=str(repo / "valohai.yaml"), target="gha"))
    wf = result.workflows[0]
    group = ir.Group("duo", lead="left", members=("left", "right"), barrier=True)
    wf = dataclasses.replace(wf, groups=(group,), jobs=tuple(
        dataclasses.replace(j, group="duo") if j.id in group.members else j for j in wf.jobs))
    diags = Diagnostics()
    out = compile_workflows([wf], result.config, diags)
    assert diags.error_count() == 0, diags
    for rel, (content, _) in out.items():
        (repo / rel).write_text(content, encoding="utf-8")
    flow = repo / ".github" / "workflows" / "meta.yml"
    env = run_step(doc(flow)["jobs"]["duo"])["env"]
    assert env["PIPEC_M0_VALUE_0"] == "${{ needs.measure.outputs.meta-0-text }}"
    assert "VALUE_0" in env["PIPEC_M0_VARS"] and "PIPEC_M1_VALUE_0" not in env
    assert check_workflows(repo) == []
    r = start(flow, docker=tmp_path / "docker")
    assert r.conclusion == "success", r.logs()
    assert files(artifact(r, "left")) == {"got.txt": "acc 0.75\n"}
    assert files(artifact(r, "final")) == {"final.txt": "loss 0.5\n"}
