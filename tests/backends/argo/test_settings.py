"""The [argo] settings an operator gives for the cluster: pod and container security contexts,
image pull secrets, default resources (and small requests for pipec's helper pods), the Argo
version (a single CronWorkflow `schedule:` before 3.6); the header naming pipec's version; and
sweeps too large to render, refused before any row is rendered.

Every manifest is judged by tests/harness/argo_check.py, which models Argo 4: a manifest for
Argo 3.5 is judged with its one `schedule:` written as the list Argo 4 reads.
"""

from __future__ import annotations

import copy
import json
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from pipec import __version__, ir
from pipec.backends import argo
from pipec.driver import Request, load_workflows
from pipec.errors import Diagnostics
from tests.backends.argo.test_output import (
    LOCATED,
    args_of,
    compile_fails,
    compile_ok,
    main_tasks,
    pipec,
    spec_of,
    templates,
)
from tests.harness.argo_check import check_manifest, check_yaml
from tests.harness.argo_sim import run_workflow
from tests.paths import EXAMPLES, ROOT

PIPELINE = """\
- step:
    name: prep
    image: python:3.12
    command: python prep.py
- step:
    name: train
    image: python:3.12
    command: python train.py
    environment: big
- step:
    name: gpu
    image: python:3.12
    command: python gpu.py
    environment: gpu-only
- pipeline:
    name: nightly
    nodes:
      - {name: prep, type: execution, step: prep}
      - {name: train, type: execution, step: train}
      - {name: gpu, type: execution, step: gpu}
    edges: []
"""

PROFILES = """
[profiles.big]
cpus = 2
memory = 4096

[profiles.gpu-only]
gpus = 1
"""

SECURITY = """
[argo.security_context]
run_as_user = 1000
run_as_group = 1000
run_as_non_root = true
fs_group = 2000
fs_group_change_policy = "OnRootMismatch"
supplemental_groups = [3000, 3001]
seccomp_profile = { type = "Localhost", localhost_profile = "profiles/audit.json" }

[argo.container_security_context]
allow_privilege_escalation = false
run_as_non_root = true
capabilities = { drop = ["ALL"], add = ["NET_BIND_SERVICE"] }
seccomp_profile = { type = "RuntimeDefault" }
"""

POD_CONTEXT = {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True, "fsGroup": 2000,
               "fsGroupChangePolicy": "OnRootMismatch", "supplementalGroups": [3000, 3001],
               "seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/audit.json"}}
CONTAINER_CONTEXT = {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                     "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                     "seccompProfile": {"type": "RuntimeDefault"}}

RESOURCES = """
[argo.default_resources]
requests = { cpu = 0.25, memory = "256Mi" }
limits = { cpu = "1", memory = "1Gi" }
"""


def containers(doc: dict) -> dict[str, dict]:
    """Container templates by name."""
    return {name: t for name, t in templates(doc).items() if "container" in t}


def job_template(doc: dict, job: str) -> dict:
    return templates(doc)[main_tasks(doc)[job]["template"]]


def as_argo4(doc: dict) -> dict:
    """The manifest as Argo 4 reads it: a CronWorkflow's one `schedule:` as a list."""
    doc = copy.deepcopy(doc)
    if doc["kind"] == "CronWorkflow" and "schedule" in doc["spec"]:
        doc["spec"]["schedules"] = [doc["spec"].pop("schedule")]
    return doc


def setup(write, toml: str, text: str = PIPELINE) -> str:
    write(toml, "pipec.toml")
    return write(text)


# ------------------------------------------------------------------------- unset: as before
@pytest.mark.parametrize("extra", [(), ("--kind", "template"), ("--schedule", "0 3 * * *")],
                         ids=["workflow", "template", "cron"])
def test_without_settings_nothing_changes(write, extra: tuple[str, ...]) -> None:
    doc, = compile_ok(setup(write, PROFILES + '[argo]\nstop_all = "stop"\n'), *extra)
    spec = spec_of(doc)
    assert "securityContext" not in spec and "imagePullSecrets" not in spec
    assert [v["name"] for v in spec["volumes"]] == ["pipec", "pipec-execution"]
    for t in containers(doc).values():
        assert "securityContext" not in t["container"]
        assert "/tmp" not in [m["mountPath"] for m in t["container"]["volumeMounts"]]
    assert "resources" not in job_template(doc, "prep")["container"]  # BestEffort, as before
    assert job_template(doc, "gpu")["container"]["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    assert "podSpecPatch" not in templates(doc)["pipec-stop-run"]
    if doc["kind"] == "CronWorkflow":
        assert doc["spec"]["schedules"] == ["0 3 * * *"] and "schedule" not in doc["spec"]


# ------------------------------------------------------------------------- security contexts
@pytest.mark.parametrize("extra", [(), ("--kind", "template"), ("--schedule", "0 3 * * *")],
                         ids=["workflow", "template", "cron"])
def test_security_contexts_reach_the_pod_and_every_job_container(write, extra: tuple[str, ...]) -> None:
    doc, = compile_ok(setup(write, PROFILES + SECURITY), *extra)
    assert check_manifest(doc) == []
    spec = spec_of(doc)
    assert spec["securityContext"] == POD_CONTEXT
    jobs = containers(doc)
    assert len(jobs) == 3
    for t in jobs.values():
        assert t["container"]["securityContext"] == CONTAINER_CONTEXT
    # No /tmp volume without a read-only root filesystem.
    assert [v["name"] for v in spec["volumes"]] == ["pipec", "pipec-execution"]


def test_read_only_root_filesystem_gets_a_writable_tmp(write) -> None:
    toml = '[argo.container_security_context]\nread_only_root_filesystem = true\n'
    doc, = compile_ok(setup(write, toml))
    spec = spec_of(doc)
    assert {"name": "pipec-tmp", "emptyDir": {}} in spec["volumes"]
    for t in containers(doc).values():
        assert t["container"]["securityContext"] == {"readOnlyRootFilesystem": True}
        assert {"name": "pipec-tmp", "mountPath": "/tmp"} in t["container"]["volumeMounts"]


OSMO_FILES = """\
workflow:
  name: files
  tasks:
  - name: train
    image: python:3.12-slim
    command: ["sh", "/opt/job/run.sh"]
    files:
    - path: /opt/job/run.sh
      contents: echo hi
    - path: /tmp/job/ok.sh
      contents: echo ok
"""


def test_read_only_root_filesystem_refuses_files_outside_the_volumes(write) -> None:
    path = setup(write, '[argo.container_security_context]\nread_only_root_filesystem = true\n', OSMO_FILES)
    errors = compile_fails(path)
    assert len(errors) == 1, errors
    assert "/opt/job/run.sh" in errors[0] and "read_only_root_filesystem" in errors[0]
    assert LOCATED.match(errors[0])["file"] == path
    assert int(LOCATED.match(errors[0])["line"]) == 8  # the file's entry
    # Without the setting the same file compiles.
    write("", "pipec.toml")
    compile_ok(path)


# ------------------------------------------------------------------------- image pull secrets
def test_image_pull_secrets(write) -> None:
    doc, = compile_ok(setup(write, '[argo]\nimage_pull_secrets = ["regcred", "mirror.example-2"]\n'),
                      "--schedule", "0 3 * * *")
    assert spec_of(doc)["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror.example-2"}]
    assert check_manifest(doc) == []


YAML_LOOKALIKES = ["null", "true", "yes", "on", "0x1f", "1e3", "012", "0.5", "1-2"]


def test_secret_names_that_look_like_other_yaml_stay_strings(write) -> None:
    names = json.dumps(YAML_LOOKALIKES)
    r = pipec("compile", setup(write, f"[argo]\nimage_pull_secrets = {names}\n"), "--target", "argo", "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert check_yaml(r.stdout) == []
    # Read back as YAML 1.1 (PyYAML) and as plain JSON types: every name is still the string given.
    doc = yaml.safe_load(r.stdout)
    assert spec_of(doc)["imagePullSecrets"] == [{"name": n} for n in YAML_LOOKALIKES]


HOSTILE = [
    ('[argo]\nimage_pull_secrets = ["{{workflow.name}}"]\n', "argo.image_pull_secrets[0]"),
    ('[argo]\nimage_pull_secrets = ["a\\nb"]\n', "argo.image_pull_secrets[0]"),
    ('[argo]\nimage_pull_secrets = ["x\'; rm -rf /"]\n', "argo.image_pull_secrets[0]"),
    ('[argo]\nimage_pull_secrets = ["Regcred"]\n', "argo.image_pull_secrets[0]"),
    ('[argo]\nimage_pull_secrets = ["a_b"]\n', "argo.image_pull_secrets[0]"),
    ('[argo]\nimage_pull_secrets = [""]\n', "argo.image_pull_secrets[0]"),
    ('[argo.security_context]\nseccomp_profile = { type = "Localhost", localhost_profile = "{{workflow.name}}" }\n',
     "seccomp_profile.localhost_profile"),
    ('[argo.security_context]\nseccomp_profile = { type = "Localhost", localhost_profile = "../../etc/passwd" }\n',
     "seccomp_profile.localhost_profile"),
    ('[argo.container_security_context]\ncapabilities = { add = ["NET_RAW; reboot"] }\n', "capabilities.add[0]"),
    ('[argo.default_resources]\nrequests = { memory = "{{inputs.parameters.memory}}" }\n', "requests.memory"),
]


@pytest.mark.parametrize("toml,key", HOSTILE, ids=["braces", "newline", "quote", "upper", "underscore", "empty",
                                                   "profile-braces", "profile-dots", "capability", "quantity-braces"])
def test_hostile_values_are_refused_where_they_are_written(write, toml: str, key: str) -> None:
    errors = compile_fails(setup(write, toml))
    assert errors and all(LOCATED.match(e)["file"].endswith("pipec.toml") for e in errors), errors
    assert any(f"{key}: the string" in e for e in errors), errors


# ------------------------------------------------------------------------- default resources
def test_default_resources_fill_what_a_job_leaves_unset(write) -> None:
    doc, = compile_ok(setup(write, PROFILES + RESOURCES))
    assert check_manifest(doc) == []
    # No profile: the defaults (a number of cores written as millicores).
    assert job_template(doc, "prep")["container"]["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    # The profile's own requests win; a default limit under them is raised to them.
    assert job_template(doc, "train")["container"]["resources"] == {
        "requests": {"cpu": "2", "memory": "4096Mi"}, "limits": {"cpu": "2", "memory": "4096Mi"}}
    # A GPU limit alone: CPU and memory come from the defaults, the GPU stays.
    assert job_template(doc, "gpu")["container"]["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}}


def test_default_requests_without_limits(write) -> None:
    doc, = compile_ok(setup(write, '[argo.default_resources]\nrequests = { cpu = "100m", memory = "128Mi" }\n'))
    assert job_template(doc, "prep")["container"]["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}}


def test_helper_pods_get_small_requests(write) -> None:
    doc, = compile_ok(setup(write, PROFILES + RESOURCES + '[argo]\nstop_all = "stop"\n'))
    assert check_manifest(doc) == []
    stop = templates(doc)["pipec-stop-run"]
    assert "resource" in stop
    assert json.loads(stop["podSpecPatch"]) == {"containers": [{"name": "main", "resources": {
        "requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}}]}


def test_helper_limits_stay_within_the_default_limits(write, tmp_path: Path) -> None:
    # A group of several jobs: its Service is created by a helper pod.
    text = (EXAMPLES.parent / "osmo" / "group-of-three.yaml").read_text(encoding="utf-8")
    toml = '[argo.default_resources]\nrequests = { cpu = "5m", memory = "32Mi" }\nlimits = { memory = "48Mi" }\n'
    doc, = compile_ok(setup(write, toml, text))
    assert check_manifest(doc) == []
    service = templates(doc)["pipec-group-service"]
    assert json.loads(service["podSpecPatch"]) == {"containers": [{"name": "main", "resources": {
        "requests": {"cpu": "10m", "memory": "48Mi"}, "limits": {"memory": "48Mi"}}}]}
    member = next(t for t in containers(doc).values())
    assert member["container"]["resources"] == {"requests": {"cpu": "5m", "memory": "32Mi"},
                                                "limits": {"memory": "48Mi"}}


def test_a_default_limit_under_the_default_request_is_a_located_error(write) -> None:
    path = setup(write, '[argo.default_resources]\nrequests = { memory = "2Gi" }\nlimits = { memory = "1Gi" }\n')
    errors = compile_fails(path)
    assert len(errors) == 1 and "below requests memory" in errors[0], errors
    where = LOCATED.match(errors[0])
    assert where["file"].endswith("pipec.toml") and where["line"] == "3"


# ------------------------------------------------------------------------- Argo version
def test_argo_35_cron_workflow_has_one_schedule(write) -> None:
    doc, = compile_ok_35(write)
    assert doc["kind"] == "CronWorkflow"
    assert doc["spec"]["schedule"] == "30 2 * * 1-5" and "schedules" not in doc["spec"]
    # What argo_check (Argo 4) finds is only the singular field; as a list it is a valid manifest.
    assert all("schedule" in p for p in check_manifest(doc))
    assert check_manifest(as_argo4(doc)) == []


def compile_ok_35(write, version: str = "3.5") -> list[dict]:
    path = setup(write, f'[argo]\nversion = "{version}"\n[triggers]\nnightly = "30 2 * * 1-5"\n')
    r = pipec("compile", path, "--target", "argo", "-o", "-")
    assert r.exit_code == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d is not None]


@pytest.mark.parametrize("version", ["3.6", "3.7", "4.0", "4.1"])
def test_argo_36_and_later_use_the_schedules_list(write, version: str) -> None:
    doc, = compile_ok_35(write, version)
    assert doc["spec"]["schedules"] == ["30 2 * * 1-5"] and "schedule" not in doc["spec"]
    assert check_manifest(doc) == []


def test_argo_35_changes_only_cron_workflows(write) -> None:
    path = setup(write, '[argo]\nversion = "3.5"\n')
    for_35 = compile_ok(path) + compile_ok(path, "--kind", "template")
    write("", "pipec.toml")
    assert for_35 == compile_ok(path) + compile_ok(path, "--kind", "template")


def test_argo_35_refuses_several_schedules_located(write) -> None:
    path = setup(write, '[argo]\nversion = "3.5"\n[triggers]\nnightly = "30 2 * * 1-5"\n')
    loaded = load_workflows(Request(file=path, target="argo"))
    assert not loaded.has_errors
    wf = loaded.workflows[0]
    second = ir.Trigger("0 12 * * *", location=wf.triggers[0].location)
    diags = Diagnostics()
    files = argo.compile_workflows([replace(wf, triggers=(*wf.triggers, second))], loaded.config, diags)
    assert files == {}
    errors = [d for d in diags.sorted() if d.severity == "error"]
    assert len(errors) == 1 and "2 schedules" in errors[0].message and "3.6" in errors[0].message
    assert errors[0].location.file.endswith("pipec.toml")
    # Argo 3.6 takes both.
    diags = Diagnostics()
    loaded.config.data["argo"]["version"] = "3.6"
    files = argo.compile_workflows([replace(wf, triggers=(*wf.triggers, second))], loaded.config, diags)
    doc = yaml.safe_load(next(iter(files.values()))[0])
    assert doc["spec"]["schedules"] == ["30 2 * * 1-5", "0 12 * * *"]
    assert check_manifest(doc) == []


# ------------------------------------------------------------------------- wrong types
WRONG = [
    ('[argo]\nversion = 3.5\n', "argo.version: the number 3.5 is not one of"),
    ('[argo]\nversion = "3.4"\n', "argo.version: the string '3.4' is not one of"),
    ('[argo]\nimage_pull_secrets = "regcred"\n', "argo.image_pull_secrets: expected an array"),
    ('[argo]\nimage_pull_secrets = [1]\n', "argo.image_pull_secrets[0]: expected a string"),
    ('[argo]\nsecurity_context = "restricted"\n', "argo.security_context: expected a table"),
    ('[argo.security_context]\nrun_as_user = "1000"\n', "argo.security_context.run_as_user: expected an integer"),
    ('[argo.security_context]\nrun_as_user = -1\n', "run_as_user: the number -1 is below the minimum of 0"),
    ('[argo.security_context]\nrun_as_user = 2147483648\n', "above the maximum of 2147483647"),
    ('[argo.security_context]\nrun_as_non_root = "yes"\n', "run_as_non_root: expected true or false"),
    ('[argo.security_context]\nrunAsUser = 1000\n', "unknown key 'runAsUser' in [argo.security_context]"),
    ('[argo.security_context]\nread_only_root_filesystem = true\n',
     "unknown key 'read_only_root_filesystem' in [argo.security_context]"),
    ('[argo.security_context]\nfs_group_change_policy = "Sometimes"\n', "fs_group_change_policy: the string 'Sometimes'"),
    ('[argo.security_context]\nsupplemental_groups = 3000\n', "supplemental_groups: expected an array"),
    ('[argo.security_context]\nseccomp_profile = { type = "Strict" }\n', "seccomp_profile.type: the string 'Strict'"),
    ('[argo.security_context]\nseccomp_profile = { type = "Localhost" }\n',
     "missing required key 'localhost_profile' in [argo.security_context.seccomp_profile]"),
    ('[argo.security_context]\nseccomp_profile = { type = "RuntimeDefault", localhost_profile = "a.json" }\n',
     "seccomp_profile.type: the string 'RuntimeDefault' is not one of: Localhost"),
    ('[argo.container_security_context]\nfs_group = 2000\n', "unknown key 'fs_group' in [argo.container_security_context]"),
    ('[argo.container_security_context]\nallow_privilege_escalation = 0\n',
     "allow_privilege_escalation: expected true or false"),
    ('[argo.container_security_context]\ncapabilities = ["ALL"]\n', "capabilities: expected a table"),
    ('[argo.container_security_context]\ncapabilities = { drop = ["all"] }\n', "capabilities.drop[0]: the string 'all'"),
    ('[argo.default_resources]\nlimits = { cpu = "1" }\n', "missing required key 'requests' in [argo.default_resources]"),
    ('[argo.default_resources]\nrequests = {}\n', "argo.default_resources.requests: {} should be non-empty"),
    ('[argo.default_resources]\nrequests = { cpu = "lots" }\n', "requests.cpu: the string 'lots'"),
    ('[argo.default_resources]\nrequests = { cpu = -1 }\n', "requests.cpu: the number -1 is below the minimum"),
    ('[argo.default_resources]\nrequests = { memory = 512 }\n', "requests.memory: expected a string"),
    ('[argo.default_resources]\nrequests = { gpu = "1" }\n', "unknown key 'gpu' in [argo.default_resources.requests]"),
]


@pytest.mark.parametrize("toml,message", WRONG, ids=[t.replace("\n", " ").strip()[:60] for t, _ in WRONG])
def test_schema_refuses_wrong_types(write, toml: str, message: str) -> None:
    errors = compile_fails(setup(write, toml))
    assert all(LOCATED.match(e)["file"].endswith("pipec.toml") for e in errors), errors
    assert any(message in e for e in errors), errors


def test_every_setting_together_passes_argo_check(write) -> None:
    toml = (PROFILES + RESOURCES + SECURITY.replace("allow_privilege_escalation = false",
                                                    "allow_privilege_escalation = false\nread_only_root_filesystem = true")
            + '[argo]\nversion = "3.5"\nimage_pull_secrets = ["regcred"]\nstop_all = "stop"\n'
            + '[triggers]\nnightly = "0 3 * * *"\n')
    r = pipec("compile", setup(write, toml), "--target", "argo", "-o", "-")
    assert r.exit_code == 0, r.stderr
    doc = yaml.safe_load(r.stdout)
    assert check_manifest(as_argo4(doc)) == []


# ------------------------------------------------------------------------- header
def test_header_names_pipec_version_and_source(write, tmp_path: Path) -> None:
    write("", "pipec.toml")
    write(PIPELINE)
    r = pipec("compile", "valohai.yaml", "--target", "argo", "-o", "-", cwd=tmp_path)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"# Generated by pipec {__version__} from valohai.yaml, pipeline nightly."
    assert yaml.safe_load(r.stdout)["metadata"]["annotations"]["pipec.dev/source"] == "valohai.yaml"


def test_golden_headers_name_pipec_version() -> None:
    golden = ROOT / "golden"
    files = sorted(p for p in golden.rglob("*.yaml") if "argo" in p.relative_to(golden).parts)
    assert len(files) > 10
    for f in files:
        first = f.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(f"# Generated by pipec {__version__} from "), (f, first)


# ------------------------------------------------------------------------- huge sweeps
def grid(size: int, mixed: bool = False, task_type: str = "grid_search") -> str:
    floats = [str(k / 1000) for k in range(size)]
    if mixed:
        floats[0] = '"x"'
    return textwrap.dedent(f"""\
        - step:
            name: train
            image: python:3.12-slim
            command: python train.py {{parameters}}
            parameters:
              - {{name: a, type: integer, default: 0}}
              - {{name: b, type: float, default: 0.5}}
        - task:
            name: huge
            step: train
            type: {task_type}
            parameters:
              - name: a
                style: linear
                rules: {{start: 0, end: {size - 1}, step: 1}}
              - name: b
                style: multiple
                rules: {{items: [{', '.join(floats)}]}}
        - pipeline:
            name: Huge sweep
            nodes:
              - {{name: sweep, type: task, task: huge}}
            edges: []
        """)


def test_a_9_million_execution_grid_stays_compact(write) -> None:
    doc, = compile_ok(write(grid(3001)))
    task = main_tasks(doc)["sweep"]
    assert task["withSequence"] == {"count": str(3001 * 3001)}
    assert len(json.dumps(doc)) < 256 * 1024


@pytest.mark.parametrize("size,task_type", [(300, "grid_search"), (3001, "grid_search"), (200, "distributed")])
def test_a_sweep_too_large_to_render_is_refused_before_rendering(write, size: int, task_type: str) -> None:
    path = write(grid(size, mixed=True, task_type=task_type))
    errors = compile_fails(path)
    assert len(errors) == 1, errors
    assert f"runs {size * size:,} executions" in errors[0] and "1,048,576 bytes" in errors[0], errors
    assert LOCATED.match(errors[0])["line"] == "9"  # the task's name


def test_raised_object_limit_lets_a_rendered_sweep_through(write) -> None:
    path = setup(write, "[argo]\nmax_object_bytes = 100000000\n", grid(40, mixed=True))
    doc, = compile_ok(path)
    task = main_tasks(doc)["sweep"]
    items = task["withItems"]
    # Mixed value types keep the values from columns, not from one command: the items carry them.
    assert len(items) == 1600 and (items[0]["p-b"], items[1]["p-b"]) == ("x", "0.001")
    assert "command" not in items[0] and args_of(task)["p-b"] == "{{item.p-b}}"


# ------------------------------------------------------------------------- end to end
E2E = """\
- step:
    name: make
    image: busybox
    command: printf 'v=%s\\n' {parameter-value:v} > $VH_OUTPUTS_DIR/out.txt
    parameters:
      - {name: v, type: string, default: "a b"}
- step:
    name: use
    image: busybox
    command: cat $VH_INPUTS_DIR/data/out.txt > $VH_OUTPUTS_DIR/copy.txt
    inputs:
      - name: data
- pipeline:
    name: settings e2e
    nodes:
      - {name: make, type: execution, step: make}
      - {name: use, type: execution, step: use}
    edges:
      - [make.output.out.txt, use.input.data]
"""


@pytest.mark.e2e
def test_a_pipeline_with_every_setting_runs(tmp_path: Path) -> None:
    (tmp_path / "pipec.toml").write_text(RESOURCES + SECURITY + '[argo]\nimage_pull_secrets = ["regcred"]\n',
                                         encoding="utf-8")
    (tmp_path / "valohai.yaml").write_text(E2E, encoding="utf-8")
    r = pipec("compile", str(tmp_path / "valohai.yaml"), "--target", "argo", "-o", "-")
    assert r.exit_code == 0, r.stderr
    wf = run_workflow(r.stdout, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    copy = wf.repo / wf.name / "use" / "0" / "outputs" / "copy.txt"
    assert copy.read_text(encoding="utf-8") == "v=a b\n"
