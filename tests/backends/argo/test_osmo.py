"""What OSMO tasks carry besides a command, on Argo: the run's id, environment values built of
paths and hosts, input regex filters, files written before the command, exit actions,
uploads and checkpoints, and credentials. The manifests are judged by the strict checker
(tests/harness/argo_check.py) and run on the emulated cluster (tests/harness/argo_sim.py:
pods are real processes of this machine).

The emulator does not mount the pod's volumes at their container paths, so /osmo/data/...
does not exist for its pods: the test programs read their directories from PIPEC_INPUTS_DIR
and PIPEC_OUTPUTS_DIR (which the runtime exports for every layout), and where a test wants to
see what `{{input:N}}` became, its program maps /osmo/data/input/N onto PIPEC_INPUTS_DIR/N
itself (and fails on any other path). Files, checkpoint directories and credential mounts
are put below the test's tmp_path, which is where a pod of this machine writes them.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import re
import textwrap
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from click.testing import CliRunner

from pipec.backends.argo import TARGET
from pipec.cli import main
from pipec.targets import EXIT_CODES, FILES, INPUT_REGEX, RUN_ID, SECRETS, UPLOADS, VALUE_WORDS
from tests.harness.argo_check import check_manifest, check_yaml, eval_expr, parse_expr
from tests.harness.argo_sim import Node, Workflow, run_workflow
from tests.paths import ROOT

EXAMPLES = sorted((ROOT / "examples" / "osmo").glob("*.yaml"))
UID = "00000000-0000-4000-8000-000000000000"  # the emulator's {{workflow.uid}}
# Every tag pipec itself writes into a manifest; anything else would be user text that Argo
# expands (outside the annotations, which Argo never templates).
PIPEC_TAG = re.compile(
    r"\{\{(?:inputs\.parameters\.[-a-zA-Z0-9_]+|workflow\.(?:name|uid|annotations\.pipec-runtime|parameters\.[-\w]+)"
    r"|tasks\.[a-z0-9][-a-z0-9]*\.(?:outputs\.parameters\.[-\w]+|ip)|item(?:\.\w+)?)\}\}", re.ASCII)


# --------------------------------------------------------------------------- helpers
def compile_osmo(tmp_path: Path, text: str, config: str | None = None, ok: bool = True) -> str:
    """`pipec compile --target argo` of an OSMO workflow text: the manifest (or, with ok=False,
    the compiler's output, which must be a failure)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "workflow.yaml"
    src.write_text(textwrap.dedent(text), encoding="utf-8")
    if config is not None:
        (tmp_path / "pipec.toml").write_text(textwrap.dedent(config), encoding="utf-8")
    out = tmp_path / "argo.yaml"
    result = CliRunner().invoke(main, ["compile", str(src), "--target", "argo", "-o", str(out)])
    if not ok:
        assert result.exit_code == 1, result.output
        return result.output
    assert result.exit_code == 0, f"pipec compile failed ({result.exit_code}):\n{result.output}"
    manifest = out.read_text(encoding="utf-8")
    assert check_yaml(manifest) == []
    return manifest


def spec(manifest: str) -> dict[str, Any]:
    return yaml.safe_load(manifest)["spec"]


def templates(manifest: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in spec(manifest)["templates"]}


def main_tasks(manifest: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in templates(manifest)["main"]["dag"]["tasks"]}


def args(task: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in task["arguments"]["parameters"]}


def decoded(value: str) -> str:
    return base64.b64decode(value[len("pipec-b64:"):]).decode() if value.startswith("pipec-b64:") else value


def container(manifest: str, task: str) -> dict[str, Any]:
    return templates(manifest)[main_tasks(manifest)[task]["template"]]


def pods(wf: Workflow, job: str) -> list[Node]:
    found = wf.pods(job)
    assert found, f"{job} never ran\n{wf.logs()}"
    return found


def outputs(wf: Workflow, job: str) -> dict[str, str]:
    """The files `job` left as its outputs (the artifact repository)."""
    root = wf.repo / wf.name / job / "0" / "outputs"
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def tree(directory: Path) -> dict[str, bytes]:
    if not directory.is_dir():
        return {}
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def strings(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from strings(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from strings(v, path + (i,))
    elif isinstance(node, str):
        yield path, node


def foreign_tags(manifest: str) -> list[str]:
    """`{{...}}` Argo would expand that pipec did not write (annotations are never templated)."""
    doc = yaml.safe_load(manifest)
    return [f"{'.'.join(map(str, p))}: {t!r}" for p, t in strings(doc)
            if "annotations" not in p and "{{" in PIPEC_TAG.sub("", t)]


def py(script: str) -> str:
    """A program as one OSMO argument (a YAML string)."""
    return json.dumps(textwrap.dedent(script).strip())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server of a directory: (base URL, directory)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------- 1. the manifests, strictly checked
def test_argo_declares_what_osmo_tasks_carry() -> None:
    assert {RUN_ID, VALUE_WORDS, INPUT_REGEX, FILES, EXIT_CODES, UPLOADS, SECRETS} <= TARGET.supports


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_osmo_example_compiles_and_passes_the_strict_checker(tmp_path: Path, example: Path) -> None:
    out = tmp_path / "argo.yaml"
    result = CliRunner().invoke(main, ["compile", str(example), "--target", "argo", "-o", str(out)])
    assert result.exit_code == 0, result.output
    manifest = out.read_text(encoding="utf-8")
    assert check_yaml(manifest) == []
    assert foreign_tags(manifest) == []


def test_the_files_credentials_retries_example(tmp_path: Path) -> None:
    example = ROOT / "examples" / "osmo" / "files-credentials-retries.yaml"
    out = tmp_path / "argo.yaml"
    assert CliRunner().invoke(main, ["compile", str(example), "--target", "argo", "-o", str(out)]).exit_code == 0
    manifest = out.read_text(encoding="utf-8")
    # The header tells the operator which Secrets must exist and where uploads run.
    assert "# Credentials: the pods read Kubernetes Secrets (model-hub), which must exist" in manifest
    assert "# Uploads: outputs and checkpoints are copied by the [upload] command" in manifest
    train = container(manifest, "train")
    env = {e["name"]: e for e in train["container"]["env"]}
    # The credential is read from its Secret by the kubelet; the manifest holds no value.
    assert env["HUB_TOKEN"] == {"name": "HUB_TOKEN",
                                "valueFrom": {"secretKeyRef": {"name": "model-hub", "key": "token"}}}
    assert env["PIPEC_RUN_ID"]["value"] == "{{workflow.name}}"
    assert train["retryStrategy"] == {
        "limit": 3, "retryPolicy": "Always",
        "expression": 'lastRetry.status == "Error" || asInt(lastRetry.exitCode) in [75, 137]'}
    setup = decoded(args(main_tasks(manifest)["train"])["setup"])
    # train.py (localpath) is inlined, written before the command at its absolute path.
    assert "pipec_write_file /opt/job/run.sh 0 " in setup and "pipec_write_file /opt/job/train.py 0 " in setup
    assert (ROOT / "examples" / "osmo" / "train.py").read_text().splitlines()[0] in setup
    assert "export RESULTS=/osmo/data/output/results\n" in setup
    assert "PIPEC_EXIT_ACTIONS='complete=0 fail=1-74,76-136,138-255 reschedule=75,137'\n" in setup
    assert "PIPEC_ON_SUCCESS=" in setup and "PIPEC_CHECKPOINTS='pipec_checkpoint 600 " in setup


def test_reschedule_ranges_become_one_retry_expression(tmp_path: Path) -> None:
    manifest = compile_osmo(tmp_path, """\
        workflow:
          name: ranges
          tasks:
          - name: t
            image: alpine:3.20
            command: [sh, -c, "exit 0"]
            exitActions:
              RESCHEDULE: "3,128-255,7"
        """)
    retry = container(manifest, "t")["retryStrategy"]
    expression = retry["expression"]
    tree = parse_expr(expression)
    for code, status, again in [("3", "Failed", True), ("7", "Failed", True), ("200", "Failed", True),
                                ("4", "Failed", False), ("256", "Failed", False), ("-1", "Error", True)]:
        assert eval_expr(tree, {"lastRetry.exitCode": code, "lastRetry.status": status}) is again, code


def test_a_job_without_exit_actions_keeps_its_plain_retries(tmp_path: Path) -> None:
    manifest = compile_osmo(tmp_path, """\
        workflow:
          name: plain
          tasks:
          - name: t
            image: alpine:3.20
            command: [sh, -c, "exit 0"]
            exitActions:
              COMPLETE: "0,9"
        """)
    t = container(manifest, "t")
    assert "retryStrategy" not in t  # nothing reschedules it
    assert "PIPEC_RUN_ID" not in {e["name"] for e in t["container"]["env"]}  # it does not read the run's id


def test_credentials_become_secret_key_refs_and_secret_volumes(tmp_path: Path) -> None:
    manifest = compile_osmo(tmp_path, f"""\
        workflow:
          name: creds
          tasks:
          - name: t
            image: alpine:3.20
            command: [sh, -c, "true"]
            credentials:
              hub:
                HUB_TOKEN: token
                HUB_USER: user.name
              My_Creds..Prod_: {tmp_path}/creds
        """, config="""\
        [secrets.hub]
        argo = "hub-credentials"
        """)
    t = container(manifest, "t")
    env = [e for e in t["container"]["env"] if not e["name"].startswith("PIPEC_")]
    assert env == [
        {"name": "HUB_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hub-credentials", "key": "token"}}},
        {"name": "HUB_USER", "valueFrom": {"secretKeyRef": {"name": "hub-credentials", "key": "user.name"}}}]
    # The default Secret name: lower-cased, other characters '-', each dot-separated part trimmed.
    assert t["volumes"] == [{"name": "pipec-secret-0", "secret": {"secretName": "my-creds.prod"}}]
    mount = {"name": "pipec-secret-0", "mountPath": f"{tmp_path}/creds", "readOnly": True}
    assert mount in t["container"]["volumeMounts"]
    assert not any("value" in e for e in env)


# ------------------------------------------------------------ 2. refused, with located errors
@pytest.mark.parametrize("task, message", [
    ("""files: [{path: /pipec/run/x, contents: "x"}]""", "would be written into /pipec"),
    ("""credentials: {c: /pipec/creds}""", "where pipec mounts or writes /pipec itself"),
    ("""credentials: {c: /osmo/data/output}""", "where pipec mounts or writes /osmo/data/output itself"),
    ("""{credentials: {c: /etc/c}, files: [{path: /etc/c/f, contents: x}]}""", "where pipec mounts or writes /etc/c/f"),
    ("""credentials: {"---": {TOKEN: t}}""", "gives no valid Kubernetes Secret name"),
    ("""credentials: {c: {TOKEN: "a key"}}""", "is not a Kubernetes Secret key"),
])
def test_what_a_pod_cannot_carry_is_a_located_error(tmp_path: Path, task: str, message: str) -> None:
    # (Two credentials at one directory, or setting one variable: every target, the names pass;
    # tests/test_hostile_inputs.py.)
    if task.startswith("{"):
        body = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in yaml.safe_load(task).items())
    else:
        body = f"    {task}\n"
    output = compile_osmo(tmp_path, "workflow:\n  name: w\n  tasks:\n  - name: t\n    image: alpine\n"
                          "    command: [sh, -c, 'true']\n" + body, ok=False)
    assert re.search(r"workflow\.yaml:\d+:\d+: error: 't': ", output), output
    assert message in output, output


def test_a_file_too_large_for_the_pods_environment_is_refused(tmp_path: Path) -> None:
    big = "x" * 140_000
    output = compile_osmo(tmp_path, f"""\
        workflow:
          name: w
          tasks:
          - name: t
            image: alpine
            command: [sh, -c, "true"]
            files:
            - path: /data/big.txt
              contents: {big}
        """, ok=False)
    assert re.search(r"workflow\.yaml:8:7: error: 't' needs 140,\d+ bytes in one environment variable of its pod "
                     r"\(PIPEC_SETUP", output), output
    assert "pass large files as a URL input" in output


def test_files_count_toward_the_object_size_limit(tmp_path: Path) -> None:
    output = compile_osmo(tmp_path, """\
        workflow:
          name: w
          tasks:
          - name: t
            image: alpine
            command: [sh, -c, "true"]
            files:
            - path: /data/f.txt
              contents: %s
        """ % ("y" * 30_000), config="[argo]\nmax_object_bytes = 20000\n", ok=False)
    assert "Kubernetes stores at most 20,000 bytes in one object" in output


# ------------------------------------------------------------------- 3. end to end: inputs
STAGED = r"""
real() {
  case $1 in
    /osmo/data/input/*) printf %s "$PIPEC_INPUTS_DIR/${1##*/}" ;;
    /osmo/data/output) printf %s "$PIPEC_OUTPUTS_DIR" ;;
    *) echo "unexpected path $1" >&2; exit 9 ;;
  esac
}
out=$(real "$1")
shift
n=0
for slot in "$@"; do
  (cd "$(real "$slot")" && find . -type f | sed 's|^[.]/||' | sort) > "$out/seen-$n.txt"
  n=$((n + 1))
done
"""


def serial_yaml(share: Path, url: str) -> str:
    return f"""\
workflow:
  name: serial
  tasks:
  - name: first
    image: alpine:3.20
    command: [sh, -c, 'cd "$PIPEC_OUTPUTS_DIR" && mkdir sub && echo 1 > a.json && echo 1 > a.txt &&
              echo 1 > sub/deep.JSON']
  - name: second
    image: alpine:3.20
    command: [sh, -c, 'cd "$PIPEC_OUTPUTS_DIR" && echo 2 > b.json && echo 2 > b.log']
  - name: last
    image: alpine:3.20
    command: [sh, -c, {json.dumps(STAGED)}, x, "{{{{output}}}}", "{{{{input:0}}}}", "{{{{input:1}}}}",
              "{{{{input:2}}}}", "{{{{input:3}}}}"]
    inputs:
    - task: second
    - task: first
      regex: '(?i)\\.json$'
    - url: file://{share}
      regex: '\\.csv$'
    - url: {url}
      regex: '^data'
"""


@pytest.mark.e2e
def test_files_flow_through_inputs_in_fan_in_order_and_regexes_filter_every_kind(
        tmp_path: Path, served: tuple[str, Path]) -> None:
    base, root = served
    (root / "data.json").write_text("{}")
    share = tmp_path / "share"
    (share / "sub").mkdir(parents=True)
    for name in ("x.csv", "y.txt", "sub/z.csv"):
        (share / name).write_text(name)
    manifest = compile_osmo(tmp_path / "src", serial_yaml(share, f"{base}/data.json"))
    last = main_tasks(manifest)["last"]
    assert last["depends"] == "second.Succeeded && first.Succeeded"
    # The http URL is Argo's own artifact; the file:// one is fetched in the pod. Both filtered.
    setup = decoded(args(last)["setup"])
    assert "pipec_filter 2 '\\.csv$' 0\n" in setup and "pipec_filter 3 '^data' 0\n" in setup
    assert "pipec_stage first outputs '*' 1 full '\\.json$' 1\n" in setup
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    assert outputs(wf, "last") == {
        "seen-0.txt": "b.json\nb.log\n",  # input 0: the first task listed, everything
        "seen-1.txt": "a.json\nsub/deep.JSON\n",  # input 1: what the regex (ignoring case) keeps
        "seen-2.txt": "share/sub/z.csv\nshare/x.csv\n",  # a fetched URL, filtered afterwards
        "seen-3.txt": "data.json\n",  # a URL Argo downloads itself, filtered all the same
    }


@pytest.mark.e2e
def test_a_regex_that_keeps_nothing_of_a_downloaded_url_fails_the_task(
        tmp_path: Path, served: tuple[str, Path]) -> None:
    base, root = served
    (root / "notes.txt").write_text("n")
    manifest = compile_osmo(tmp_path / "src", f"""\
        workflow:
          name: nothing
          tasks:
          - name: t
            image: alpine:3.20
            command: [sh, -c, 'ls "$PIPEC_INPUTS_DIR/0"']
            inputs:
            - url: {base}/notes.txt
              regex: '\\.json$'
        """)
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Failed"
    assert "input 0 received no files" in pods(wf, "t")[-1].pod.stderr


@pytest.mark.e2e
def test_a_failing_upstream_keeps_its_downstream_from_running_while_an_independent_task_finishes(
        tmp_path: Path) -> None:
    manifest = compile_osmo(tmp_path / "src", """\
        workflow:
          name: failing
          tasks:
          - name: broken
            image: alpine:3.20
            command: [sh, -c, "exit 3"]
          - name: after
            image: alpine:3.20
            command: [sh, -c, "true"]
            inputs:
            - task: broken
          - name: alone
            image: alpine:3.20
            command: [sh, -c, 'sleep 1; echo done > "$PIPEC_OUTPUTS_DIR/done.txt"']
        """)
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Failed"
    assert wf.task("broken").phase == "Failed" and pods(wf, "broken")[-1].pod.exit_code == 3
    assert wf.task("after").phase == "Omitted" and not wf.pods("after")
    assert wf.task("alone").phase == "Succeeded" and outputs(wf, "alone") == {"done.txt": "done\n"}


# -------------------------------------------------------------- 4. end to end: exit actions
def exits_yaml(counter: Path) -> str:
    return f"""\
workflow:
  name: exits
  tasks:
  - name: flaky
    image: alpine:3.20
    command: [sh, -c, {py('''
        n=$(cat "$1" 2>/dev/null || echo 0)
        n=$((n + 1))
        echo "$n" > "$1"
        echo "attempt $n" > "$PIPEC_OUTPUTS_DIR/attempt.txt"
        if [ "$n" -lt 3 ]; then exit 75; fi
        exit 9
    ''')}, x, "{counter}"]
    exitActions:
      COMPLETE: "0,9"
      RESCHEDULE: "75"
  - name: refused
    image: alpine:3.20
    command: [sh, -c, "exit 4"]
    exitActions:
      RESCHEDULE: "75"
      FAIL: "1-74"
  - name: lost
    image: alpine:3.20
    command: [sh, -c, 'sleep 1.5; echo done > "$PIPEC_OUTPUTS_DIR/done.txt"']
    exitActions:
      RESCHEDULE: "75"
  - name: after
    image: alpine:3.20
    command: [sh, -c, 'cp "$PIPEC_INPUTS_DIR/0/attempt.txt" "$PIPEC_OUTPUTS_DIR/"']
    inputs:
    - task: flaky
"""


@pytest.mark.e2e
def test_reschedule_statuses_run_a_new_pod_and_complete_statuses_succeed(tmp_path: Path) -> None:
    manifest = compile_osmo(tmp_path / "src", exits_yaml(tmp_path / "counter"))
    wf = run_workflow(manifest, tmp_path / "cluster", lose={"lost": 1})
    assert wf.phase == "Failed", wf.logs()  # `refused` fails; the others succeed
    # Two reschedules (75), each a new pod, then 9, which COMPLETE makes a success.
    flaky = pods(wf, "flaky")
    assert [n.pod.exit_code for n in flaky] == [75, 75, 0]
    assert wf.task("flaky").type == "Retry" and wf.task("flaky").phase == "Succeeded"
    assert outputs(wf, "after") == {"attempt.txt": "attempt 3\n"}  # only the last attempt's outputs
    # A FAIL status is not run again.
    assert [n.pod.exit_code for n in pods(wf, "refused")] == [4] and wf.task("refused").phase == "Failed"
    # A pod lost with its node (Argo: Error, "pod deleted") is rescheduled too.
    lost = pods(wf, "lost")
    assert [(n.phase, n.message) for n in lost] == [("Error", "pod deleted"), ("Succeeded", "")]
    assert outputs(wf, "lost") == {"done.txt": "done\n"}


# ------------------------------------------------------------ 5. end to end: files and run id
HOSTILE = "it's \"quoted\" `touch PWNED` $(touch PWNED) ${HOME} \\n \\\\ é\n\n  indented\ttab\n"
BRACES = "{{workflow.name}} {{ inputs.parameters.job }} {{=sprig.upper('x')}}"


def files_yaml(where: Path) -> str:
    blob = base64.b64encode(bytes(range(256))).decode()
    return f"""\
workflow:
  name: files
  tasks:
  - name: writer
    image: alpine:3.20
    command: [sh, -c, 'cat "$1" > "$PIPEC_OUTPUTS_DIR/copy.txt"; printf %s "$TAG" > "$PIPEC_OUTPUTS_DIR/tag.txt"',
              x, "{where}/it's here/hostile.txt"]
    environment:
      TAG: "run-{{{{workflow_id}}}}"
    files:
    - path: "{where}/it's here/hostile.txt"
      contents: {json.dumps(HOSTILE)}
    - path: {where}/braces.txt
      contents: "{{% raw %}}{BRACES}{{% endraw %}}"
    - path: {where}/blob.bin
      base64: true
      contents: {blob}
    - path: {where}/no-newline.txt
      contents: "a\\nb"
    - path: {where}/run-id.txt
      contents: "run {{{{workflow_id}}}}"
"""


@pytest.mark.e2e
def test_files_arrive_byte_for_byte_and_argo_never_expands_them(tmp_path: Path) -> None:
    where = tmp_path / "files"
    manifest = compile_osmo(tmp_path / "src", files_yaml(where))
    assert foreign_tags(manifest) == []  # the braces travel base64-encoded
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    assert (where / "it's here" / "hostile.txt").read_text() == HOSTILE
    assert (where / "braces.txt").read_text() == BRACES
    assert (where / "blob.bin").read_bytes() == bytes(range(256))
    assert (where / "no-newline.txt").read_bytes() == b"a\nb"
    # {{workflow_id}}: the workflow's name, in files, environment values and commands alike.
    assert (where / "run-id.txt").read_text() == f"run {wf.name}"
    assert outputs(wf, "writer") == {"copy.txt": HOSTILE, "tag.txt": f"run-{wf.name}"}
    assert not list(tmp_path.rglob("PWNED"))


# ------------------------------------------------------------- 6. end to end: uploads
CHECKPOINTED = """
mkdir -p "$1"
echo 1 > "$1/step"
i=0
until [ "$(cat "$2/step" 2>/dev/null)" = 1 ]; do
  i=$((i + 1))
  [ "$i" -lt 300 ] || exit 7
  sleep 0.1
done
echo yes > "$PIPEC_OUTPUTS_DIR/seen-during-run.txt"
echo final > "$1/step"
"""


def uploads_yaml(store: Path, work: Path) -> str:
    return f"""\
workflow:
  name: uploads
  tasks:
  - name: good
    image: alpine:3.20
    command: [sh, -c, 'cd "$PIPEC_OUTPUTS_DIR" && mkdir d && echo a > a.txt && echo l > run.log && echo n > d/n.txt']
    outputs:
    - url: file://{store}/{{{{workflow_id}}}}/all
    - url: file://{store}/{{{{workflow_id}}}}/txt
      regex: '.*\\.txt$'
  - name: bad
    image: alpine:3.20
    command: [sh, -c, 'echo x > "$PIPEC_OUTPUTS_DIR/x.txt"; exit 1']
    outputs:
    - url: file://{store}/{{{{workflow_id}}}}/bad
  - name: saver
    image: alpine:3.20
    command: [sh, -c, {json.dumps(CHECKPOINTED)}, x, "{work}/saver", "{store}/ck-{{{{workflow_id}}}}"]
    checkpoint:
    - path: {work}/saver
      url: file://{store}/ck-{{{{workflow_id}}}}
      frequency: 1s
  - name: crasher
    image: alpine:3.20
    command: [sh, -c, 'mkdir -p "$1"; echo boom > "$1/step"; exit 3', x, "{work}/crasher"]
    checkpoint:
    - path: {work}/crasher
      url: file://{store}/crash-{{{{workflow_id}}}}
      frequency: 30s
"""


@pytest.mark.e2e
def test_outputs_are_uploaded_after_success_only_and_checkpoints_during_the_run_and_at_its_end(
        tmp_path: Path) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    manifest = compile_osmo(tmp_path / "src", uploads_yaml(store, work))
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Failed", wf.logs()  # bad and crasher fail
    runs = store / wf.name
    assert tree(runs / "all") == {"a.txt": b"a\n", "d/n.txt": b"n\n", "run.log": b"l\n"}
    assert tree(runs / "txt") == {"a.txt": b"a\n", "d/n.txt": b"n\n"}
    assert not (runs / "bad").exists() and wf.task("bad").phase == "Failed"
    # The command saw its checkpoint uploaded while it ran; the upload at its end holds the last state.
    assert outputs(wf, "saver") == {"seen-during-run.txt": "yes\n"}
    assert tree(store / f"ck-{wf.name}") == {"step": b"final\n"}
    # A failed command's checkpoints are uploaded once more at its end, and it stays failed.
    assert tree(store / f"crash-{wf.name}") == {"step": b"boom\n"}
    assert [n.pod.exit_code for n in pods(wf, "crasher")] == [3] and wf.task("crasher").phase == "Failed"


# ------------------------------------------------------------ 7. end to end: credentials
READER = """
printf %s "$HUB_TOKEN" > "$PIPEC_OUTPUTS_DIR/token"
cd "$1" && for k in *; do cp "$k" "$PIPEC_OUTPUTS_DIR/key-$k"; done
"""


def creds_yaml(mount: Path) -> str:
    return f"""\
workflow:
  name: creds
  tasks:
  - name: reader
    image: alpine:3.20
    command: [sh, -c, {py(READER)}, x, "{mount}"]
    credentials:
      hub:
        HUB_TOKEN: token
      store: {mount}
"""


@pytest.mark.e2e
def test_credentials_reach_the_pod_from_its_secrets_only(tmp_path: Path) -> None:
    cluster = tmp_path / "cluster"
    mount = cluster / "mounted" / "store"
    manifest = compile_osmo(tmp_path / "src", creds_yaml(mount), config='[secrets.hub]\nargo = "hub-credentials"\n')
    token = "t0k3n with 'quotes' and {{braces}}"
    assert "t0k3n" not in manifest
    wf = run_workflow(manifest, cluster, secrets={"hub-credentials": {"token": token},
                                                  "store": {"user": "alice", "password": b"pw\n"}})
    assert wf.phase == "Succeeded", wf.logs()
    assert outputs(wf, "reader") == {"token": token, "key-password": "pw\n", "key-user": "alice"}
    # The Secret volume was the pod's alone: nothing of it is left on this machine.
    assert tree(mount) == {}


@pytest.mark.e2e
def test_a_missing_secret_keeps_the_pod_from_starting(tmp_path: Path) -> None:
    cluster = tmp_path / "cluster"
    manifest = compile_osmo(tmp_path / "src", creds_yaml(cluster / "store"))
    wf = run_workflow(manifest, cluster, secrets={"store": {"user": "alice"}})
    # The kubelet would keep the pod Pending (CreateContainerConfigError); the emulator errs at once.
    assert wf.phase == "Error" and wf.task("reader").message == 'secret "hub" not found'
    assert not (tmp_path / "cluster" / "repo" / wf.name).exists()


# --------------------------------------------------- 8. end to end: peers' hosts in values
@pytest.mark.e2e
def test_environment_values_and_files_name_the_groups_hosts(tmp_path: Path) -> None:
    where = tmp_path / "files"
    manifest = compile_osmo(tmp_path / "src", f"""\
        workflow:
          name: peers
          groups:
          - name: team
            barrier: false
            tasks:
            - name: lead
              lead: true
              image: alpine:3.20
              command: [sh, -c, 'printf %s "$PEER" > "$PIPEC_OUTPUTS_DIR/peer.txt"']
              environment:
                PEER: "{{{{host:worker}}}}:29500"
              files:
              - path: {where}/hosts.txt
                contents: "lead={{{{host:lead}}}} worker={{{{host:worker}}}}"
            - name: worker
              image: alpine:3.20
              command: [sh, -c, "sleep 30"]
        """)
    group = templates(manifest)[main_tasks(manifest)["team"]["template"]]
    lead_task = next(t for t in group["dag"]["tasks"] if t["name"] == "lead")
    setup = decoded(args(lead_task)["setup"])
    # The host names are known before the environment and the files name them.
    assert setup.index("pipec_peer PIPEC_HOST_1 worker\n") < setup.index("pipec_write_file ") < setup.index(
        'export PEER="${PIPEC_HOST_1}":29500\n')
    wf = run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    domain = f"team-{UID}"
    assert outputs(wf, "lead") == {"peer.txt": f"worker.{domain}:29500"}
    assert (where / "hosts.txt").read_text() == f"lead=lead.{domain} worker=worker.{domain}"


# ------------------------------------------------- 9. what the checker and emulator add
def minimal(template: dict[str, Any], volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "w-"},
            "spec": {"entrypoint": "main", "templates": [{"name": "main", **template}],
                     **({"volumes": volumes} if volumes else {})}}


def test_the_checker_knows_volumes_secrets_and_retry_expressions() -> None:
    good = minimal({"container": {
        "image": "alpine", "volumeMounts": [{"name": "own", "mountPath": "/a"}, {"name": "shared", "mountPath": "/b"}],
        "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "my.secret", "key": "k.ey"}}}]},
        "volumes": [{"name": "own", "secret": {"secretName": "my-secret"}}],
        "retryStrategy": {"limit": 2, "retryPolicy": "Always",
                          "expression": 'lastRetry.status == "Error" || asInt(lastRetry.exitCode) in [75]'}},
        volumes=[{"name": "shared", "emptyDir": {}}])
    assert check_manifest(good) == []
    bad = minimal({"container": {
        "image": "alpine", "volumeMounts": [{"name": "nowhere", "mountPath": "/a"}],
        "env": [{"name": "1X", "value": "v"},
                {"name": "T", "valueFrom": {"secretKeyRef": {"name": "Not_A_Name", "key": "a key"}}}]},
        "volumes": [{"name": "own", "secret": {"secretName": "UPPER"}}],
        "retryStrategy": {"limit": 2, "expression": "asInt(lastRetry.exitCode) in [75"}})
    problems = "\n".join(check_manifest(bad))
    for expected in ("volumeMounts[0].name: volume 'nowhere' not found in workflow spec",
                     "env[0].name: '1X': a valid environment variable name",
                     "secretKeyRef.name: 'Not_A_Name': a Secret name must be",
                     "secretKeyRef.key: 'a key': a valid config key",
                     "volumes[0].secret.secretName: 'UPPER'",
                     "retryStrategy.expression: invalid expression"):
        assert expected in problems, problems
    unknown = minimal({"container": {"image": "alpine"},
                       "retryStrategy": {"limit": 1, "expression": "lastRetry.exitcode == '1' || upper(x)"}})
    problems = "\n".join(check_manifest(unknown))
    assert "lastRetry.exitcode is not a variable of a retry expression" in problems
    assert "x is not a variable" in problems and "function upper is not one" in problems


@pytest.mark.e2e
@pytest.mark.parametrize("policy, expression, attempts", [
    (None, None, 3),  # OnFailure: Failed attempts are retried up to the limit
    ("OnError", None, 1),  # a Failed attempt is no Error
    (None, "asInt(lastRetry.exitCode) == 5", 3),  # with an expression, the default policy is Always (3.5)
    ("Always", "asInt(lastRetry.exitCode) != 5", 1),
])
def test_the_emulator_retries_as_policy_and_expression_say(tmp_path: Path, policy: str | None,
                                                           expression: str | None, attempts: int) -> None:
    retry: dict[str, Any] = {"limit": 2}
    if policy:
        retry["retryPolicy"] = policy
    if expression:
        retry["expression"] = expression
    doc = minimal({"container": {"image": "alpine", "command": ["sh", "-c", "exit 5"]}, "retryStrategy": retry})
    assert check_manifest(doc) == []
    wf = run_workflow(doc, tmp_path)
    assert wf.phase == "Failed"
    assert len(wf.pods()) == attempts
