"""Groups of several different jobs on Argo (OSMO `groups:`): what the manifest holds, judged
by the strict checker (tests/harness/argo_check.py), and how it runs on the emulated cluster
(tests/harness/argo_sim.py: pods are real processes; each resolves the group's DNS names
through an /etc/hosts the emulator keeps, as the cluster DNS would answer).

Pods here cannot write to /osmo/data/... (the emulator does not mount volumes at their container
paths), so the test programs read their directories from PIPEC_OUTPUTS_DIR and
PIPEC_INPUTS_DIR, which the runtime exports for every layout.
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from click.testing import CliRunner

from pipec import ir
from pipec.backends.argo import TARGET, compile_workflows
from pipec.backends.argo.templates import READY_PROBE
from pipec.backends.runtime import runtime_script
from pipec.cli import main
from pipec.config import Config
from pipec.errors import Diagnostics
from pipec.targets import GROUP_ANY_FAILS, GROUP_BARRIER, MULTI_JOB_GROUPS
from tests.harness.argo_check import check_yaml
from tests.harness.argo_sim import Node, Workflow, run_workflow


# --------------------------------------------------------------------------- helpers
def compile_osmo(tmp_path: Path, text: str) -> str:
    """`pipec compile --target argo` of an OSMO workflow text; the manifest's text."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "workflow.yaml"
    src.write_text(textwrap.dedent(text), encoding="utf-8")
    out = tmp_path / "argo.yaml"
    result = CliRunner().invoke(main, ["compile", str(src), "--target", "argo", "-o", str(out)])
    assert result.exit_code == 0, f"pipec compile failed ({result.exit_code}):\n{result.output}"
    return out.read_text(encoding="utf-8")


def templates(manifest: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in yaml.safe_load(manifest)["spec"]["templates"]}


def dag_tasks(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in template["dag"]["tasks"]}


def args(task: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in task["arguments"]["parameters"]}


def pod(wf: Workflow, job: str) -> Node:
    pods = wf.pods(job)
    assert pods, f"{job} never ran\n{wf.logs()}"
    return pods[-1]


def outputs(wf: Workflow, job: str) -> dict[str, str]:
    """The files `job` uploaded as its outputs (the artifact repository)."""
    root = wf.repo / wf.name / job / "0" / "outputs"
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def free_ports(n: int) -> list[int]:
    found = []
    for _ in range(n):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            found.append(s.getsockname()[1])
    return found


def py(script: str) -> str:
    """A Python program as one OSMO argument (a YAML string)."""
    return json.dumps(textwrap.dedent(script).strip())


# ------------------------------------------------------- 1. the manifest, strictly checked
def group_yaml(members: int, barrier: bool, any_fails: bool) -> str:
    tasks = [f"""\
    - name: m{k}
      {"lead: true" if k == 0 else ""}
      image: registry.example/img-{k}:1
      resource: r{k}
      command: [sh, -c]
      args: ["echo {k} {{{{host:m{(k + 1) % members}}}}} > {{{{output}}}}/peer.txt"]
      environment:
        WHO: m{k}
""" for k in range(members)]
    return f"""\
workflow:
  name: crowd
  resources:
    default: {{cpu: 1}}
{"".join(f"    r{k}: {{cpu: {k + 1}, memory: {k + 1}Gi}}{chr(10)}" for k in range(members))}\
  groups:
  - name: team
    barrier: {str(barrier).lower()}
    ignoreNonleadStatus: {str(not any_fails).lower()}
    tasks:
{"".join(tasks)}\
  - name: after
    tasks:
    - name: report
      image: alpine:3.18
      command: [ls, "{{{{input:0}}}}"]
      inputs:
      - task: m{members - 1}
"""


@pytest.mark.parametrize("members", [2, 3])
@pytest.mark.parametrize("barrier,any_fails", [(True, False), (False, True)])
def test_a_group_of_several_jobs_passes_the_strict_checker(tmp_path: Path, members: int, barrier: bool,
                                                           any_fails: bool) -> None:
    manifest = compile_osmo(tmp_path, group_yaml(members, barrier, any_fails))
    assert check_yaml(manifest) == []
    found = templates(manifest)
    main_tasks = dag_tasks(found["main"])
    assert set(main_tasks) == {"team", "report"}
    # A downstream of a non-lead member waits for the whole group.
    assert main_tasks["report"]["depends"] == "team.Succeeded"
    assert args(main_tasks["report"])["up-0"] == f"m{members - 1}"
    group = dag_tasks(found[main_tasks["team"]["template"]])
    assert set(group) == {"service", *(f"m{k}" for k in range(members))}

    service = found[group["service"]["template"]]["resource"]
    assert service["action"] == "create" and service["setOwnerReference"] is True
    manifest_of_service = yaml.safe_load(service["manifest"])
    assert manifest_of_service["spec"]["clusterIP"] == "None"
    assert args(group["service"])["service"] == "team-{{workflow.uid}}"

    for k in range(members):
        task = group[f"m{k}"]
        member = found[task["template"]]
        assert task["dependencies"] == ["service"]
        assert args(task)["hostname"] == f"m{k}" and args(task)["subdomain"] == "team-{{workflow.uid}}"
        assert json.loads(member["podSpecPatch"]) == {"hostname": "{{inputs.parameters.hostname}}",
                                                      "subdomain": "{{inputs.parameters.subdomain}}"}
        assert member["metadata"]["labels"] == {"pipec.dev/group": "{{inputs.parameters.subdomain}}"}
        # Each member keeps its own image, resources and environment.
        assert member["container"]["image"] == f"registry.example/img-{k}:1"
        assert member["container"]["resources"]["requests"] == {"cpu": str(k + 1), "memory": f"{(k + 1) * 1024}Mi"}
        assert f"export WHO=m{k}\n" in args(task)["setup"]
        assert [a["name"] for a in member["outputs"]["artifacts"]] == ["outputs", "pipec"]
        # The lead is a plain task. Where it decides, the others are daemons whose status does
        # not count; where any member's failure counts, plain tasks that end with the lead.
        assert member.get("daemon") is (None if k == 0 or any_fails else True)
        assert task.get("continueOn") == (None if k == 0 or any_fails else {"failed": True, "error": True})
        follow = "pipec_follow m0" + (" 1\n" if barrier else "\n")
        assert (follow in args(task)["setup"]) is (k > 0 and any_fails)
        assert ("readinessProbe" in member["container"]) is barrier
        peer = (k + 1) % members
        # The member's command stands in its template, reading its peer's name from a variable.
        assert f'"${{PIPEC_HOST_{peer}}}"' in member["container"]["args"][0] and "command" not in args(task)


def test_argo_declares_groups_of_several_jobs() -> None:
    assert {MULTI_JOB_GROUPS, GROUP_BARRIER, GROUP_ANY_FAILS} <= TARGET.supports


def test_two_groups_with_long_names_get_distinct_short_services(tmp_path: Path) -> None:
    long = "a-very-long-group-name-that-goes-on-and-on"
    text = "workflow:\n  name: two\n  groups:\n" + "".join(f"""\
  - name: {long}{n}
    tasks:
    - {{name: lead{n}, lead: true, image: alpine, command: [sh, -c, "true"]}}
    - {{name: other{n}, image: alpine, command: [sh, -c, "true"]}}
""" for n in (1, 2))
    manifest = compile_osmo(tmp_path, text)
    assert check_yaml(manifest) == []
    found = templates(manifest)
    services = [args(dag_tasks(found[t["template"]])["service"])["service"] for t in found["main"]["dag"]["tasks"]]
    assert len(set(services)) == 2
    for name in services:  # a DNS-1035 label of at most 63 characters once the uid is in
        assert name.endswith("-{{workflow.uid}}") and len(name.replace("{{workflow.uid}}", "u" * 36)) <= 63


def test_a_member_that_runs_several_executions_is_a_located_error() -> None:
    sweep = ir.Sweep(ir.SweepKind.ROWS, 2, rows=((("x", 1),), (("x", 2),)))
    lead = ir.Job("lead", "lead", image="alpine", command=ir.Command.shell("true"), group="g")
    many = ir.Job("many", "many", image="alpine", command=ir.Command.shell("true"), group="g",
                  params=(ir.Param("x"),), sweep=sweep)
    wf = ir.Workflow("w", jobs=(lead, many), groups=(ir.Group("g", "lead", ("lead", "many")),), source_file="w.yaml")
    diags = Diagnostics()
    assert compile_workflows([wf], Config(), diags) == {}
    [d] = diags.items
    assert "'many', a member of group 'g', runs several executions" in d.message


# ------------------------------------------------------------ 2. running on the emulator
SERVER = """\
    import os, socket, sys, time
    peer, p1, p2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    srv = socket.create_server(("", p1))
    conn, _ = srv.accept()
    heard = conn.recv(100).decode()
    conn.sendall(b"hello from the lead")
    conn.close()
    with socket.create_connection((peer, p2), timeout=5) as s:
        s.sendall(b"bye")
    # The lead's end ends the group: outlive the client (its name goes when its pod ends).
    for _ in range(400):
        try:
            socket.gethostbyname(peer)
        except OSError:
            break
        time.sleep(0.05)
    open(os.path.join(os.environ["PIPEC_OUTPUTS_DIR"], "heard.txt"), "w").write(heard)
"""

CLIENT = """\
    import os, socket, sys, time
    server, p1, p2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    srv = socket.create_server(("", p2))
    for _ in range(200):
        try:
            s = socket.create_connection((server, p1), timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    s.sendall(("hello from " + os.environ["WHO"]).encode())
    reply = s.recv(100).decode()
    s.close()
    conn, _ = srv.accept()
    bye = conn.recv(100).decode()
    conn.close()
    out = os.environ["PIPEC_OUTPUTS_DIR"]
    open(os.path.join(out, "got.txt"), "w").write(reply)
    open(os.path.join(out, "bye.txt"), "w").write(bye)
    open(os.path.join(out, "host.txt"), "w").write(os.environ["HOSTNAME"])
"""

REPORT = """\
    import os, shutil
    inputs, out = os.environ["PIPEC_INPUTS_DIR"], os.environ["PIPEC_OUTPUTS_DIR"]
    shutil.copytree(os.path.join(inputs, "0"), os.path.join(out, "seen"))
"""


def talk_yaml(barrier: bool, p1: int, p2: int) -> str:
    return f"""\
workflow:
  name: talk
  groups:
  - name: pair
    barrier: {str(barrier).lower()}
    tasks:
    - name: server
      lead: true
      image: python:3.12-alpine
      command: [python3, -c]
      args: [{py(SERVER)}, "{{{{host:client}}}}", "{p1}", "{p2}"]
    - name: client
      image: python:3.12-slim
      command: [python3, -c]
      args: [{py(CLIENT)}, "{{{{host:server}}}}", "{p1}", "{p2}"]
      environment:
        WHO: the client
  - name: after
    tasks:
    - name: report
      image: python:3.12-slim
      command: [python3, -c, {py(REPORT)}]
      inputs:
      - task: client
"""


@pytest.mark.parametrize("barrier", [True, False])
def test_members_reach_each_other_by_name_and_a_downstream_reads_a_non_lead(tmp_path: Path, barrier: bool) -> None:
    p1, p2 = free_ports(2)
    wf = run_workflow(compile_osmo(tmp_path, talk_yaml(barrier, p1, p2)), tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    assert wf.task("pair").type == "DAG" and wf.task("report").phase == "Succeeded"
    # Both directions, by the stable names of the group's subdomain.
    assert outputs(wf, "server") == {"heard.txt": "hello from the client"}
    assert outputs(wf, "client") == {"got.txt": "hello from the lead", "bye.txt": "bye", "host.txt": "client"}
    server, client = pod(wf, "server"), pod(wf, "client")
    assert server.pod.hostname == "server" and client.pod.subdomain == server.pod.subdomain
    assert server.pod.subdomain in wf.services and client.pod.killed is None
    # The non-lead's outputs reached the downstream task that named it.
    assert outputs(wf, "report") == {"seen/got.txt": "hello from the lead", "seen/bye.txt": "bye",
                                     "seen/host.txt": "client"}


LINGER = """\
    import os, time
    open(os.path.join(os.environ["PIPEC_OUTPUTS_DIR"], "started"), "w").write("yes")
    time.sleep(600)
"""


def short_yaml(lenient: bool) -> str:
    return f"""\
workflow:
  name: short
  groups:
  - name: g
    ignoreNonleadStatus: {str(lenient).lower()}
    tasks:
    - {{name: lead, lead: true, image: alpine, command: [sh, -c, "sleep 1; echo done > \\"$PIPEC_OUTPUTS_DIR/done\\""]}}
    - {{name: stay, image: python:3.12, command: [python3, -c, {py(LINGER)}]}}
"""


def test_the_leads_end_ends_the_group_of_daemons(tmp_path: Path) -> None:
    wf = run_workflow(compile_osmo(tmp_path, short_yaml(True)), tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    stay = pod(wf, "stay")
    assert stay.pod.killed == "daemon" and stay.phase == "Succeeded"
    assert outputs(wf, "lead") == {"done": "done\n"}


def test_the_leads_end_ends_the_group_where_every_member_counts(tmp_path: Path) -> None:
    # Plain tasks: the member sees the lead's name go and ends itself, successfully, not ok.
    wf = run_workflow(compile_osmo(tmp_path, short_yaml(False)), tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    stay = pod(wf, "stay")
    assert stay.pod.killed is None and stay.pod.exit_code == 0
    assert "the group's lead has ended" in stay.pod.stderr
    marks = wf.repo / wf.name / "stay" / "0" / ".pipec"
    assert (marks / "stopped").exists() and not (marks / "ok").exists()
    assert outputs(wf, "stay") == {"started": "yes"}
    assert not any(p.pod.proc.poll() is None for p in wf.pods())  # nothing of the pod lives on


FAILING = """\
workflow:
  name: strict
  groups:
  - name: g
    ignoreNonleadStatus: {lenient}
    tasks:
    - name: lead
      lead: true
      image: alpine
      command: [sh, -c, "sleep 2; echo lead > \\"$PIPEC_OUTPUTS_DIR/lead.txt\\""]
    - {{name: flaky, image: alpine, command: [sh, -c, "echo broken >&2; exit 3"]}}
  - name: next
    tasks:
    - name: downstream
      image: alpine
      command: [ls]
      inputs:
      - task: flaky
  - name: alone
    tasks:
    - {{name: independent, image: alpine, command: [sh, -c, "sleep 3; echo ok > \\"$PIPEC_OUTPUTS_DIR/ok.txt\\""]}}
"""


def test_a_failing_non_lead_fails_the_group_when_any_member_counts(tmp_path: Path) -> None:
    wf = run_workflow(compile_osmo(tmp_path, FAILING.format(lenient="false")), tmp_path / "cluster")
    assert wf.phase == "Failed", wf.logs()
    assert pod(wf, "flaky").phase == "Failed" and pod(wf, "lead").phase == "Succeeded"
    assert wf.task("g").phase == "Failed"
    assert wf.task("downstream").phase == "Omitted" and not wf.pods("downstream")
    assert wf.task("independent").phase == "Succeeded"  # failFast is off: other branches finish
    assert outputs(wf, "independent") == {"ok.txt": "ok\n"}


def test_a_failing_non_lead_does_not_count_when_the_lead_decides(tmp_path: Path) -> None:
    wf = run_workflow(compile_osmo(tmp_path, FAILING.format(lenient="true")), tmp_path / "cluster")
    assert pod(wf, "flaky").phase == "Failed"
    assert wf.task("g").phase == "Succeeded", wf.logs()
    # The downstream runs; the failed member left no outputs, so its input slot is empty.
    assert wf.task("downstream").phase == "Failed"
    assert "input 0 received no files" in pod(wf, "downstream").pod.stderr


# ---------------------------------------------------------------------- 3. the barrier
class SlowHandler(http.server.BaseHTTPRequestHandler):
    """Serves a small file after a delay: a member whose inputs take a while to arrive."""

    delay = 2.0

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        time.sleep(self.delay)
        body = b"data\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def slow_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/data.txt"
    finally:
        server.shutdown()


LOOK = """\
    import json, os, socket, sys
    seen = {}
    for name in sys.argv[1:]:
        try:
            socket.gethostbyname(name)
            seen[name] = True
        except OSError:
            seen[name] = False
    open(os.path.join(os.environ["PIPEC_OUTPUTS_DIR"], "seen.json"), "w").write(json.dumps(seen))
"""


def barrier_yaml(barrier: bool, url: str) -> str:
    look = py(LOOK)
    return f"""\
workflow:
  name: gate
  groups:
  - name: trio
    barrier: {str(barrier).lower()}
    tasks:
    - name: lead
      lead: true
      image: python:3.12
      command: [python3, -c, {look}, "{{{{host:fast}}}}", "{{{{host:slow}}}}"]
    - name: fast
      image: python:3.12
      command: [python3, -c, {look}, "{{{{host:lead}}}}", "{{{{host:slow}}}}"]
    - name: slow
      image: python:3.12
      command: [python3, -c, {look}, "{{{{host:lead}}}}", "{{{{host:fast}}}}"]
      inputs:
      - url: {url}
"""


def test_with_a_barrier_no_member_starts_before_every_member_is_up(tmp_path: Path, slow_url: str) -> None:
    wf = run_workflow(compile_osmo(tmp_path, barrier_yaml(True, slow_url)), tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    # The lead looked once, without retrying, the moment its command started: every peer,
    # the one whose input took two seconds included, was already there.
    assert set(json.loads(outputs(wf, "lead")["seen.json"]).values()) == {True}
    assert pod(wf, "slow").pod.spec["container"]["readinessProbe"]["periodSeconds"] == 1


def test_without_a_barrier_a_member_may_start_before_a_slow_peer(tmp_path: Path, slow_url: str) -> None:
    # The counterpart of the test above: without the barrier the lead looks too early.
    wf = run_workflow(compile_osmo(tmp_path, barrier_yaml(False, slow_url)), tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    seen = json.loads(outputs(wf, "lead")["seen.json"])
    assert [v for k, v in seen.items() if k.startswith("slow.")] == [False]


# ------------------------------------------------------------- 4. hostile text, byte for byte
HOSTILE = ["$(touch PWNED)", "`touch PWNED`", "a'b\"c", "x\ny\tz", "{{workflow.name}}", "{{=1}}", "100%",
           "back\\slash", "ünï ✓", " lead and trail ", "-n", "*", "$HOME", ";touch PWNED;"]

ECHO = """\
import json, os, socket, sys, time
out = {"argv": sys.argv[1:], "env": os.environ["HOSTILE"], "peer": os.environ["PIPEC_HOST_1"]}
open(os.path.join(os.environ["PIPEC_OUTPUTS_DIR"], "got.json"), "w").write(json.dumps(out))
while os.environ["PIPEC_JOB"] == "first":  # the lead outlives the other member
    try:
        socket.gethostbyname(os.environ["PIPEC_HOST_1"])
        time.sleep(0.05)
    except OSError:
        break
"""


def hostile_workflow() -> ir.Workflow:
    env = (ir.EnvVar("HOSTILE", "\n".join(HOSTILE)),)
    words = [(ir.Text("python3"),), (ir.Text("-c"),), (ir.Text(ECHO),)] + [(ir.Text(h),) for h in HOSTILE]
    layout = ir.Layout(inputs="/osmo/data/input", outputs="/osmo/data/output", config="/osmo/data/config")

    def member(name: str, host_of: str) -> ir.Job:
        command = ir.Command(ir.CommandKind.ARGV, (*words, (ir.Text("at "), ir.Host(host_of), ir.Text(" {{x}}"))))
        return ir.Job(name, name, image="python:3.12", command=command, env=env, group="pair",
                      on_error=ir.OnError.STOP_NEXT)

    jobs = (member("first", "second"), member("second", "first"))
    return ir.Workflow("hostile", jobs=jobs, groups=(ir.Group("pair", "first", ("first", "second"), barrier=True),),
                       layout=layout, source_file="hostile.yaml")


def test_hostile_arguments_and_environment_reach_every_member_byte_for_byte(tmp_path: Path) -> None:
    diags = Diagnostics()
    [(manifest, _)] = compile_workflows([hostile_workflow()], Config(), diags).values()
    assert not diags.items
    assert check_yaml(manifest) == []
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    subdomain = pod(wf, "first").pod.subdomain
    for job, peer in (("first", "second"), ("second", "first")):
        got = json.loads(outputs(wf, job)["got.json"])
        assert got["argv"][:-1] == HOSTILE
        assert got["argv"][-1] == f"at {peer}.{subdomain} {{{{x}}}}"
        assert got["env"] == "\n".join(HOSTILE)
        assert got["peer"] == f"second.{subdomain}"  # PIPEC_HOST_1 names the same member everywhere
    assert not [p for n in wf.pods() for p in n.pod.root.rglob("PWNED")]


# ------------------------------------------------------------- 5. the emulator's own behaviour
def service_manifest(first: str, second: str) -> str:
    """Two resource tasks creating Services, then a pod with a hostname in the first."""
    return yaml.safe_dump({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "svc-"},
        "spec": {"entrypoint": "main", "volumes": [], "templates": [
            {"name": "main", "dag": {"tasks": [
                {"name": "a", "template": "svc", "arguments": {"parameters": [{"name": "n", "value": first}]}},
                {"name": "b", "template": "svc", "arguments": {"parameters": [{"name": "n", "value": second}]},
                 "depends": "a"}]}},
            {"name": "svc", "inputs": {"parameters": [{"name": "n"}]}, "resource": {
                "action": "create", "setOwnerReference": True,
                "manifest": "apiVersion: v1\nkind: Service\nmetadata: {name: '{{inputs.parameters.n}}'}\n"
                            "spec: {clusterIP: None, selector: {app: x}}\n"}}]}})


def test_emulator_creating_a_service_twice_fails(tmp_path: Path) -> None:
    wf = run_workflow(service_manifest("same", "same"), tmp_path)
    assert wf.phase == "Failed" and "already exists" in wf.task("b").message
    assert run_workflow(service_manifest("one", "two"), tmp_path / "2").phase == "Succeeded"


def test_emulator_refuses_a_service_name_kubernetes_refuses(tmp_path: Path) -> None:
    wf = run_workflow(service_manifest("1-starts-with-a-digit", "two"), tmp_path)
    assert wf.phase == "Error" and "DNS-1035" in wf.task("a").message


# ------------------------------------------------ 6. the runtime's part (templates/runtime/pod.sh)
@pytest.fixture
def runtime(tmp_path: Path) -> dict[str, str]:
    """An environment to run snippets under Argo's runtime, where `getent hosts` resolves
    only the names listed in the file $KNOWN (a stand-in for the cluster's DNS)."""
    script = tmp_path / "runtime.sh"
    script.write_text(runtime_script("argo"), encoding="utf-8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    getent = bin_dir / "getent"
    getent.write_text('#!/bin/sh\n[ "$1" = hosts ] && grep -qxF "$2" "$KNOWN"\n')
    getent.chmod(0o755)
    (tmp_path / "known").write_text("")
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "KNOWN": str(tmp_path / "known"), "RUNTIME": str(script),
            "PIPEC_POD_DIR": str(tmp_path), "PIPEC_SUBDOMAIN": "team-1234"}


def run_sh(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", f'set -eu\n. "$RUNTIME"\n{code}'], env=env, capture_output=True, text=True,
                          timeout=30)


def test_runtime_names_a_peer_in_the_groups_subdomain(runtime: dict[str, str]) -> None:
    r = run_sh(runtime, "pipec_peer PIPEC_HOST_3 lead; sh -c 'printf %s \"$PIPEC_HOST_3\"'")
    assert (r.returncode, r.stdout, r.stderr) == (0, "lead.team-1234", "")


def test_runtime_ready_makes_the_readiness_probe_pass(runtime: dict[str, str]) -> None:
    probe = ["sh", "-c", READY_PROBE]
    assert subprocess.run(probe, env=runtime).returncode != 0
    assert run_sh(runtime, "pipec_ready").returncode == 0
    assert subprocess.run(probe, env=runtime).returncode == 0


def test_runtime_await_returns_once_every_name_resolves(runtime: dict[str, str]) -> None:
    Path(runtime["KNOWN"]).write_text("a.team-1234\n")
    start = time.monotonic()
    r = run_sh(runtime, '(sleep 1; echo b.team-1234 >> "$KNOWN") & pipec_await 20 a b; echo through')
    assert (r.returncode, r.stdout, r.stderr) == (0, "through\n", "")
    assert 1 <= time.monotonic() - start < 10


def test_runtime_await_gives_up_after_its_limit(runtime: dict[str, str]) -> None:
    r = run_sh(runtime, "pipec_await 1 nobody; echo not reached")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "pipec: group barrier: nobody did not arrive within 1 seconds\n"


def test_runtime_ends_a_follower_once_its_lead_is_gone(runtime: dict[str, str], tmp_path: Path) -> None:
    Path(runtime["KNOWN"]).write_text("lead.team-1234\n")
    code = f"""\
PIPEC_RUN_DIR={tmp_path}/run; export PIPEC_RUN_DIR
pipec_begin job 0
printf 'sleep 60\\n' > "$PIPEC_EXEC_DIR/.pipec/command.sh"
pipec_follow lead 1
(sleep 1; : > "$KNOWN") &
pipec_command
echo not reached"""
    start = time.monotonic()
    # kill -TERM 0 ends the snippet's process group: it gets a session of its own.
    r = subprocess.run(["sh", "-c", f'set -eu\n. "$RUNTIME"\n{code}'], env=runtime, capture_output=True, text=True,
                       timeout=30, start_new_session=True)
    assert (r.returncode, r.stdout) == (0, "")
    assert "the group's lead has ended" in r.stderr
    assert time.monotonic() - start < 15
    marks = tmp_path / "run" / "job" / "0" / ".pipec"
    assert (marks / "stopped").exists() and not (marks / "ok").exists()


def test_runtime_follower_whose_command_ends_first_keeps_its_status(runtime: dict[str, str], tmp_path: Path) -> None:
    Path(runtime["KNOWN"]).write_text("lead.team-1234\n")
    code = f"""\
PIPEC_RUN_DIR={tmp_path}/run; export PIPEC_RUN_DIR
pipec_begin job 0
printf 'exit 7\\n' > "$PIPEC_EXEC_DIR/.pipec/command.sh"
pipec_follow lead 1
pipec_command || echo "status $?\""""
    r = subprocess.run(["sh", "-c", f'set -eu\n. "$RUNTIME"\n{code}'], env=runtime, capture_output=True, text=True,
                       timeout=30, start_new_session=True)
    assert (r.returncode, r.stdout) == (0, "status 7\n"), r.stderr


def test_checker_reads_a_pod_spec_patch(tmp_path: Path) -> None:
    manifest = compile_osmo(tmp_path, group_yaml(2, True, False))
    assert check_yaml(manifest) == []
    misspelled = manifest.replace('"subdomain": "{{inputs.parameters.subdomain}}"', '"subdomian": "x"', 1)
    assert any("podSpecPatch.subdomian: unknown pod spec field (did you mean 'subdomain'?)" in p
               for p in check_yaml(misspelled))
    bad_host = manifest.replace('"hostname": "{{inputs.parameters.hostname}}"', '"hostname": "Not_A_Label"', 1)
    assert any("podSpecPatch.hostname: hostname 'Not_A_Label' is not a DNS-1123 label" in p
               for p in check_yaml(bad_host))
    broken = manifest.replace('podSpecPatch: \'{"hostname"', 'podSpecPatch: \'{"hostname": [', 1)
    assert any("podSpecPatch must be valid JSON or YAML" in p for p in check_yaml(broken))
