"""What `pipec compile --target argo` writes: golden files, manifest validity, determinism,
hostile names and values, sweep size, failure policies, CLI behaviour and error reporting.

Golden files
    golden/argo/<example>/<pipeline-id>.yaml holds exactly what

        pipec compile examples/valohai/<example>.valohai.yaml --target argo -o golden/argo/<example>/

    writes when run from the repository root (so the header comment names a relative path; the
    examples pick up examples/valohai/pipec.toml as their nearest config). Each example is
    compiled again into a temporary directory and compared file by file, byte for byte, and the
    two trees must hold the same set of files.

    To accept a deliberate change of the output, rewrite the golden files and review the diff:

        PIPEC_UPDATE_GOLDEN=1 PYTHONPATH=compiler python3 -m pytest tests/backends/argo/test_output.py -k golden
        git diff golden/

Every manifest here is judged by tests/harness/argo_check.py (a strict offline stand-in for
`argo lint --strict --offline`). Compiles run in-process through click's CliRunner; only the
PYTHONHASHSEED determinism test starts subprocesses.

Tests marked xfail(strict=True) expose pipec bugs; each reason names the bug and the fix.
"""

from __future__ import annotations

import base64
import difflib
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, Iterator

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

import pytest
import yaml
from click.testing import CliRunner

from pipec import __version__
from pipec.cli import main
from pipec.output import MANIFEST
from tests.harness.argo_check import check_manifest, check_yaml
from tests.harness.argo_sim import kubelet_expand, pod_command
from tests.paths import EXAMPLES, ROOT, SHARED_CORPUS

GOLDEN = ROOT / "golden" / "argo"
UPDATE = os.environ.get("PIPEC_UPDATE_GOLDEN") == "1"
CORPUS = SHARED_CORPUS / "valohai" / "valid"
B64 = "pipec-b64:"


def _stem(name: str) -> str:
    return name[: -len(".valohai.yaml")] if name.endswith(".valohai.yaml") else Path(name).stem


EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.valohai.yaml"))
CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.yaml")) if CORPUS.is_dir() else []

LOCATED = re.compile(r"^(?P<file>[^\n]+?):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning): ")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
TEMPLATE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PARAM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")
HASHED = re.compile(r"-[0-9a-f]{8}$")
# The tags pipec itself writes. Everything else in `{{ }}` would be user text read by Argo.
# {{workflow.name}} is pipec's only as the first segment of an artifact key (see foreign_tags),
# so a user's own "{{workflow.name}}" elsewhere is caught.
PIPEC_TAG = re.compile(
    r"\{\{(?:inputs\.parameters\.[-a-zA-Z0-9_]+"
    r"|workflow\.(?:annotations\.pipec-runtime|parameters\.[-a-zA-Z0-9_]+)"
    r"|tasks\.[a-z0-9][-a-z0-9]*\.(?:outputs\.parameters\.[-a-zA-Z0-9_]+|ip)"
    r"|item(?:\.[-a-zA-Z0-9_]+)?)\}\}",
    re.ASCII,
)


# --------------------------------------------------------------------------------------- helpers
def pipec(*args: str, cwd: Path | None = None):
    """Run the CLI in-process. A crash (anything but a clean exit) fails the test with its traceback."""
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, list(args), catch_exceptions=True)
    finally:
        os.chdir(old)
        gc.enable()  # `main` turns the cyclic collector off for its short run; keep pytest's on
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        tb = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else repr(result.exception)
        pytest.fail(f"pipec {' '.join(args)} crashed:\n{tb}", pytrace=False)
    return result


def compile_ok(path: str | Path, *extra: str, cwd: Path | None = None) -> list[dict]:
    """Compile to standard output, expect exit 0 and valid manifests; the parsed documents."""
    r = pipec("compile", str(path), "--target", "argo", "-o", "-", *extra, cwd=cwd)
    assert r.exit_code == 0, f"exit {r.exit_code}\n{r.stderr}"
    problems = check_yaml(r.stdout)
    assert problems == [], "\n".join(problems)
    return [d for d in yaml.safe_load_all(r.stdout) if d is not None]


def compile_fails(path: str | Path, *extra: str, cwd: Path | None = None) -> list[str]:
    """Compile, expect exit 1 with nothing written; the located error lines."""
    r = pipec("compile", str(path), "--target", "argo", "-o", "-", *extra, cwd=cwd)
    assert r.exit_code == 1, f"expected exit 1, got {r.exit_code}\nstdout:\n{r.stdout[:2000]}\nstderr:\n{r.stderr}"
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if ": error: " in line]
    assert errors, r.stderr
    for line in errors:
        assert LOCATED.match(line), f"error without file:line:col: {line!r}"
    return errors


def tree(root: Path) -> dict[str, bytes]:
    """The files of a compiled tree (not pipec's manifest of them, which names the source's path)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def compare_trees(actual: Path, expected: Path, what: str, hint: str) -> None:
    got, want = tree(actual), tree(expected)
    problems = [f"missing file: {rel}" for rel in sorted(set(want) - set(got))]
    problems += [f"unexpected file: {rel}" for rel in sorted(set(got) - set(want))]
    for rel in sorted(set(got) & set(want)):
        if got[rel] == want[rel]:
            continue
        a = want[rel].decode("utf-8", errors="replace").splitlines(keepends=True)
        b = got[rel].decode("utf-8", errors="replace").splitlines(keepends=True)
        diff = list(difflib.unified_diff(a, b, f"{what}/{rel} (expected)", f"{rel} (compiled)", n=2))
        if len(diff) > 80:
            diff = diff[:80] + [f"... {len(diff) - 80} more diff lines\n"]
        problems.append(f"differs: {rel}\n" + ("".join(diff) or "  (bytes differ outside text lines)\n"))
    if problems:
        pytest.fail(f"{what}: compiled output differs\n" + "\n".join(problems) + f"\n{hint}", pytrace=False)


def spec_of(doc: dict) -> dict:
    return doc["spec"]["workflowSpec"] if doc["kind"] == "CronWorkflow" else doc["spec"]


def templates(doc: dict) -> dict[str, dict]:
    return {t["name"]: t for t in spec_of(doc)["templates"]}


def main_tasks(doc: dict) -> dict[str, dict]:
    return {t["name"]: t for t in templates(doc)["main"]["dag"]["tasks"]}


def args_of(task: dict) -> dict[str, str]:
    return {p["name"]: p.get("value") for p in (task.get("arguments") or {}).get("parameters") or []}


def decode(value: str) -> str:
    """What a pod receives of a value pipec gives it: as the kubelet passes it on (`$$` is an
    escaped `$`), decoded when it is pipec-b64 text."""
    value = kubelet_expand(value, {})
    return base64.b64decode(value[len(B64):]).decode("utf-8") if value.startswith(B64) else value


def runtime_of(doc: dict) -> str:
    if doc["kind"] == "Workflow":
        return doc["metadata"]["annotations"]["pipec-runtime"]
    return doc["spec"]["workflowMetadata"]["annotations"]["pipec-runtime"]


def strings(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """Every string in a document, mapping keys included (Argo templates a template's JSON text)."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield path + ("<key>",), str(k)
            yield from strings(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from strings(v, path + (i,))


def not_templated(path: tuple) -> bool:
    """Object metadata annotations are data to Argo (never templated); the runtime annotation
    is pipec's own shell text."""
    return path[:2] == ("metadata", "annotations") or "pipec-runtime" in path


def pipecs_run_tag(doc: dict, path: tuple) -> bool:
    """Where pipec writes {{workflow.name}} besides artifact keys: the run's id a pod reads
    (PIPEC_RUN_ID), and a deployment Argo runs itself (its claims' names, its resource
    templates, where backends/argo/deploy.py writes every brace of the author's escaped)."""
    if "resource" in path or path[-1:] == ("claimName",):
        return True
    if len(path) >= 3 and path[-3] == "env" and path[-1] == "value":
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        return node.get("name") == "PIPEC_RUN_ID"
    return False


def foreign_tags(doc: dict) -> list[str]:
    """Places where `{{` survives once pipec's own tags are removed (outside annotations)."""
    out = []
    for path, text in strings(doc):
        if not_templated(path) or "{{" not in text:
            continue
        rest = text[len("{{workflow.name}}/"):] if text.startswith("{{workflow.name}}/") else text
        if pipecs_run_tag(doc, path):
            rest = rest.replace("{{workflow.name}}", "")
        if "{{" in PIPEC_TAG.sub("", rest):
            out.append(f"{'.'.join(map(str, path))}: {text[:120]!r}")
    return out


def decoded_values(doc: dict) -> list[str]:
    return [decode(s) for path, s in strings(doc) if s.startswith(B64)]


def k8s_names(doc: dict) -> None:
    """DNS-1123 object, task and template names; Argo parameter names."""
    meta = doc["metadata"]
    if doc["kind"] == "Workflow":
        prefix = meta["generateName"]
        assert "name" not in meta
        assert prefix.endswith("-") and len(prefix) <= 58 and DNS_LABEL.match(prefix[:-1]), prefix
    else:
        limit = 52 if doc["kind"] == "CronWorkflow" else 63
        assert "generateName" not in meta
        assert len(meta["name"]) <= limit and DNS_LABEL.match(meta["name"]), meta["name"]
    for t in spec_of(doc)["templates"]:
        assert len(t["name"]) <= 128 and TEMPLATE_NAME.match(t["name"]), t["name"]
        for task in (t.get("dag") or {}).get("tasks", []):
            assert len(task["name"]) <= 63 and DNS_LABEL.match(task["name"]), task["name"]
        for p in (t.get("inputs") or {}).get("parameters") or []:
            assert PARAM_NAME.match(p["name"]), p["name"]
    for p in (spec_of(doc).get("arguments") or {}).get("parameters") or []:
        assert PARAM_NAME.match(p["name"]), p["name"]


def shell_eval(script: str, cwd: Path, *names: str, prelude: str = "") -> list[str]:
    """Run `eval "$SCRIPT"` in sh, the way the runtime evaluates a task's setup text, with the
    pipec_* commands it calls stubbed out (`prelude` may define real ones), and return the named
    variables. User `$(...)` or backticks would create the `pwned` marker file in `cwd`."""
    called = set(re.findall(r"(?:^|\n|\$\()(pipec_[a-z_]+)\b", script))
    defined = set(re.findall(r"^(pipec_[a-z_]+)\(\)", prelude, re.M))
    stubs = "".join(f"{f}() {{ :; }}\n" for f in sorted(called - defined))
    out = "".join(f'printf "%s\\0" "${{{n}-}}"\n' for n in names)
    proc = subprocess.run(["sh", "-c", prelude + stubs + 'eval "$SCRIPT"\n' + out], cwd=cwd, capture_output=True,
                          env={**os.environ, "SCRIPT": script}, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode("utf-8").split("\0")[: len(names)]


def pick_function(doc: dict) -> str:
    """pipec_pick as the runtime annotation ships it."""
    m = re.search(r"^pipec_pick\(\) \{\n.*?^\}\n", runtime_of(doc), re.S | re.M)
    assert m, "pipec_pick missing from the runtime"
    return m.group(0)


# ------------------------------------------------------------------------------------ 1. golden
@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_golden(name: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = pipec("compile", f"examples/valohai/{name}", "--target", "argo", "-o", f"{out}/", cwd=ROOT)
    assert r.exit_code == 0, r.stderr
    # the examples compile without warnings (the one note names examples/valohai/pipec.toml; then the
    # success line)
    written = len([p for p in out.iterdir() if p.name != MANIFEST])
    assert [line for line in r.stderr.splitlines() if ": note: configuration:" not in line] == \
        [f"wrote {written} file{'s' if written > 1 else ''} to {out}/"], r.stderr
    golden = GOLDEN / _stem(name)
    if UPDATE:
        shutil.rmtree(golden, ignore_errors=True)
        golden.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(out, golden, ignore=shutil.ignore_patterns(MANIFEST))
        return
    assert golden.is_dir(), f"no golden files for {name}: run with PIPEC_UPDATE_GOLDEN=1 to create {golden}"
    compare_trees(out, golden, f"golden/argo/{_stem(name)}",
                  "If the change is intended: PIPEC_UPDATE_GOLDEN=1 PYTHONPATH=compiler python3 -m pytest "
                  "tests/backends/argo/test_output.py -k golden, then review `git diff golden/`.")


def test_golden_has_no_stale_examples() -> None:
    if not GOLDEN.is_dir():
        pytest.skip("no golden files yet")
    wanted = {_stem(n) for n in EXAMPLE_FILES}
    stale = sorted(p.name for p in GOLDEN.iterdir() if p.name not in wanted)
    if UPDATE:
        for name in stale:
            shutil.rmtree(GOLDEN / name)
        return
    assert not stale, f"golden/argo has directories for no example: {stale} (PIPEC_UPDATE_GOLDEN=1 removes them)"


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_golden_files_are_valid_manifests(name: str) -> None:
    files = sorted((GOLDEN / _stem(name)).glob("*.yaml"))
    if not files:
        pytest.skip("no golden files yet (PIPEC_UPDATE_GOLDEN=1)")
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert check_yaml(text) == [], f"{f}: {check_yaml(text)}"
        header = text.splitlines()[:3]
        assert header[0].startswith(f"# Generated by pipec {__version__} from examples/valohai/{name}, pipeline "), header
        assert all(line.startswith("# ") for line in header)
        docs = list(yaml.safe_load_all(text))
        assert len(docs) == 1 and docs[0]["kind"] == "Workflow"
        doc = docs[0]
        assert check_manifest(doc) == []
        assert f.name == f"{doc['metadata']['generateName'][:-1]}.yaml"
        assert doc["metadata"]["annotations"]["pipec.dev/source"] == f"examples/valohai/{name}"
        assert foreign_tags(doc) == []
        k8s_names(doc)


# --------------------------------------------------------------- 2. kinds and every [argo] option
@pytest.mark.parametrize("name", EXAMPLE_FILES)
@pytest.mark.parametrize("extra", [(), ("--kind", "template"), ("--schedule", "0 3 * * *"),
                                   ("--schedule", "*/15 1-5 1,15 */2 0-4")],
                         ids=["workflow", "template", "cron", "cron-complex"])
def test_examples_in_every_kind_pass_argo_check(name: str, extra: tuple[str, ...]) -> None:
    docs = compile_ok(f"examples/valohai/{name}", *extra, cwd=ROOT)
    assert docs
    for doc in docs:
        want = {(): "Workflow", ("--kind", "template"): "WorkflowTemplate"}.get(extra, "CronWorkflow")
        assert doc["kind"] == want
        k8s_names(doc)
        assert foreign_tags(doc) == []
        if want == "CronWorkflow":
            assert doc["spec"]["schedules"] == [extra[1]]
            assert doc["spec"]["timezone"] == "UTC"
            assert "schedule" not in doc["spec"]  # removed in Argo v4


ALL_OPTIONS_TOML = '''
[argo]
namespace = "ml-team"
service_account = "pipec-runner"
image_pull_policy = "IfNotPresent"
pod_gc = "OnPodSuccess"
ttl_seconds = 3600
labels = { team = "ml", "app.kubernetes.io/managed-by" = "pipec" }
artifact_repository_ref = { config_map = "artifact-repositories", key = "minio" }
artifact_storage = "gcs"
default_image = "python:3.12-slim"
parallelism = 8
timezone = "Europe/Helsinki"
s3_endpoint = "minio.example.com:9000"
s3_credentials_secret = "minio-creds"
max_object_bytes = 200000

[profiles.gpu-box]
cpus = 4
memory = 16000
gpus = 2
node_selector = { "cloud.google.com/gke-accelerator" = "nvidia-tesla-t4" }
tolerations = [{ key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" },
               { key = "spot", operator = "Equal", value = "yes", effect = "NoExecute", toleration_seconds = 60 }]

[profiles.a100]
gpus = 1
gpu_type = "A100"
cpus = 0.5

[deploy]
manifest = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: deploy-{{inputs.parameters.job}}
data:
  deployment: "{{inputs.parameters.deployment}}"
  endpoints: "{{inputs.parameters.endpoints}}"
"""

[triggers]
"nightly" = "30 2 * * 1-5"
'''

ALL_OPTIONS_YAML = """
- step:
    name: prep
    image: python:3.12
    command: ["python prep.py"]
    inputs:
      - name: raw
        default: s3://my-bucket/data/raw.csv
      - name: gs
        default: gs://g-bucket/x/y.csv
      - name: web
        default: https://example.com/data/z.csv
    outputs:
      - name: data.csv
- step:
    name: train
    image: pytorch/pytorch:2.3
    environment: gpu-box
    command: ["python train.py"]
    inputs:
      - name: data
- step:
    name: train-a100
    image: pytorch/pytorch:2.3
    environment: a100
    command: ["python train.py"]
    inputs:
      - name: data
- endpoint:
    name: predict
    image: python:3.12
    server-command: python serve.py
    files:
      - name: model
        path: model.pkl
- pipeline:
    name: nightly
    nodes:
      - {name: prep, type: execution, step: prep}
      - {name: train, type: execution, step: train, on-error: retry}
      - {name: train-a100, type: execution, step: train-a100}
      - {name: deploy, type: deployment, deployment: prod, endpoints: [predict]}
    edges:
      - [prep.output.data.csv, train.input.data]
      - [prep.output.data.csv, train-a100.input.data]
      - [train.output.*, deploy.file.predict.model]
- pipeline:
    name: adhoc
    nodes:
      - {name: prep, type: execution, step: prep}
    edges: []
"""


NO_PROFILES_YAML = ALL_OPTIONS_YAML.replace("    environment: gpu-box\n", "").replace("    environment: a100\n", "")


NO_DEPLOY_YAML = (NO_PROFILES_YAML
                  .replace("      - {name: deploy, type: deployment, deployment: prod, endpoints: [predict]}\n", "")
                  .replace("      - [train.output.*, deploy.file.predict.model]\n", ""))


def _check_all_options(doc: dict) -> None:
    spec = spec_of(doc)
    meta = doc["metadata"]
    assert meta["namespace"] == "ml-team"
    assert meta["labels"] == {"team": "ml", "app.kubernetes.io/managed-by": "pipec"}
    assert spec["serviceAccountName"] == "pipec-runner"
    assert spec["podGC"] == {"strategy": "OnPodSuccess"}
    assert spec["ttlStrategy"] == {"secondsAfterCompletion": 3600}
    assert spec["artifactRepositoryRef"] == {"configMap": "artifact-repositories", "key": "minio"}
    assert spec["parallelism"] == 8
    tmpls = templates(doc)
    containers = [t for t in tmpls.values() if "container" in t]
    assert containers
    for t in containers:
        assert t["container"]["imagePullPolicy"] == "IfNotPresent"
        # key-only artifacts go to the configured storage kind (gcs), never s3
        upstream = [a for a in (t["inputs"].get("artifacts") or []) if a["name"].startswith("up-")]
        for a in t["outputs"]["artifacts"] + upstream:
            assert "gcs" in a and "s3" not in a, a
            assert set(a["gcs"]) == {"key"}
    prep = tmpls["step-prep"]
    arts = {a["name"]: a for a in prep["inputs"]["artifacts"]}
    s3 = arts["url-0"]["s3"]
    assert s3["endpoint"] == "minio.example.com:9000"
    assert s3["accessKeySecret"] == {"name": "minio-creds", "key": "accessKey"}
    assert s3["secretKeySecret"] == {"name": "minio-creds", "key": "secretKey"}
    assert s3["bucket"] == "{{inputs.parameters.url-0-bucket}}" and s3["key"] == "{{inputs.parameters.url-0-key}}"
    assert set(arts["url-1"]["gcs"]) == {"bucket", "key"}
    assert arts["url-2"]["http"] == {"url": "{{inputs.parameters.url-2}}"}
    a = args_of(main_tasks(doc)["prep"])
    assert (a["url-0-bucket"], a["url-0-key"]) == ("my-bucket", "data/raw.csv")
    assert (a["url-1-bucket"], a["url-1-key"]) == ("g-bucket", "x/y.csv")
    assert a["url-2"] == "https://example.com/data/z.csv"


def test_every_argo_option_profiles_and_deploy_manifest(write) -> None:
    write(ALL_OPTIONS_TOML, "pipec.toml")
    path = write(ALL_OPTIONS_YAML)
    docs = {d["metadata"]["annotations"]["pipec.dev/pipeline"]: d for d in compile_ok(path)}
    assert set(docs) == {"nightly", "adhoc"}

    adhoc = docs["adhoc"]  # no trigger: a Workflow
    assert adhoc["kind"] == "Workflow"
    assert adhoc["metadata"]["generateName"] == "adhoc-"
    _check_all_options(adhoc)

    cron = docs["nightly"]  # [triggers] names it: a CronWorkflow
    assert cron["kind"] == "CronWorkflow"
    assert cron["metadata"]["name"] == "nightly"
    assert cron["spec"]["schedules"] == ["30 2 * * 1-5"]
    assert cron["spec"]["timezone"] == "Europe/Helsinki"
    assert "pipec-runtime" in cron["spec"]["workflowMetadata"]["annotations"]
    assert "pipec-runtime" not in cron["metadata"]["annotations"]
    _check_all_options(cron)

    tmpls = templates(cron)
    tasks = main_tasks(cron)
    train = tmpls[tasks["train"]["template"]]
    res = train["container"]["resources"]
    assert res["limits"] == {"nvidia.com/gpu": "2"}
    assert res["requests"] == {"cpu": "4", "memory": "16000Mi"}
    assert "nvidia.com/gpu" not in res["requests"]
    assert train["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
    assert train["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "spot", "operator": "Equal", "value": "yes", "effect": "NoExecute", "tolerationSeconds": 60}]
    assert train["retryStrategy"] == {"limit": 2}  # on-error: retry
    assert train["container"]["image"] == "pytorch/pytorch:2.3"

    a100 = tmpls[tasks["train-a100"]["template"]]
    assert a100["container"]["resources"] == {"limits": {"nvidia.com/gpu": "1"}, "requests": {"cpu": "500m"}}
    assert a100["nodeSelector"] == {"nvidia.com/gpu.product": "A100"}  # gpu_type -> GPU feature discovery label
    assert "retryStrategy" not in a100 and "tolerations" not in a100

    deploy = tmpls[tasks["deploy"]["template"]]  # [deploy] manifest: a resource template
    assert deploy["resource"]["action"] == "apply"
    assert deploy["resource"]["manifest"] == tomllib.loads(ALL_OPTIONS_TOML)["deploy"]["manifest"]
    assert "container" not in deploy
    assert args_of(tasks["deploy"]) == {"deployment": "prod", "endpoints": "predict", "aliases": "", "job": "deploy"}
    assert tasks["deploy"]["depends"] == "train.Succeeded"


def test_every_argo_option_as_workflow_template(write) -> None:
    write(ALL_OPTIONS_TOML, "pipec.toml")
    path = write(ALL_OPTIONS_YAML)
    r = pipec("compile", path, "--target", "argo", "-o", "-", "--kind", "template")
    assert r.exit_code == 0
    # nightly has a [triggers] schedule, which a WorkflowTemplate cannot carry: a located warning
    warnings = [line for line in r.stderr.splitlines() if ": warning: " in line]
    assert len(warnings) == 1 and LOCATED.match(warnings[0]) and "nightly" in warnings[0], r.stderr
    assert check_yaml(r.stdout) == []
    docs = list(yaml.safe_load_all(r.stdout))
    assert [d["kind"] for d in docs] == ["WorkflowTemplate", "WorkflowTemplate"]
    for doc in docs:
        _check_all_options(doc)
        assert doc["metadata"]["name"] in ("adhoc", "nightly")
        assert "pipec-runtime" in doc["spec"]["workflowMetadata"]["annotations"]


@pytest.mark.parametrize("storage,field", [(None, "s3"), ("s3", "s3"), ("gcs", "gcs"), ("oss", "oss")])
def test_artifact_storage_kinds(write, storage: str | None, field: str) -> None:
    write(f'[argo]\nartifact_storage = "{storage}"\n' if storage else "", "pipec.toml")
    docs = compile_ok(write(NO_DEPLOY_YAML))
    key_name = "blob" if field == "azure" else "key"
    for doc in docs:
        for t in templates(doc).values():
            if "container" not in t:
                continue
            keyonly = t["outputs"]["artifacts"] + [a for a in t["inputs"].get("artifacts") or []
                                                   if a["name"].startswith("up-")]
            assert {a["name"] for a in t["outputs"]["artifacts"]} >= {"outputs", "pipec"}
            for a in keyonly:
                kinds = {"s3", "gcs", "azure", "oss", "http"} & set(a)
                assert kinds == {field}, a
                assert set(a[field]) == {key_name}, a
                assert a[field][key_name].startswith("{{workflow.name}}/") and a[field][key_name].endswith("/")
            for a in t["outputs"]["artifacts"]:
                assert a["archive"] == {"none": {}} and a["optional"] is True


def test_artifact_storage_azure(write) -> None:
    write('[argo]\nartifact_storage = "azure"\n', "pipec.toml")
    path = write(NO_DEPLOY_YAML)
    r = pipec("compile", path, "--target", "argo", "-o", "-")  # a traceback fails here
    if r.exit_code == 1:
        errors = [line for line in r.stderr.splitlines() if ": error: " in line]
        assert errors and all(LOCATED.match(e)["file"].endswith("pipec.toml") for e in errors), r.stderr
        return
    assert r.exit_code == 0 and check_yaml(r.stdout) == []
    for doc in yaml.safe_load_all(r.stdout):
        for t in templates(doc).values():
            for a in (t.get("outputs") or {}).get("artifacts") or []:
                assert "azure" in a and a["azure"]["blob"].startswith("{{workflow.name}}/")


def test_default_image_and_deploy_command(write) -> None:
    """[argo] default_image runs a job that names no image: the deploy job of [deploy] command."""
    write('[argo]\ndefault_image = "registry.example.com/deployer:1"\n\n[deploy]\ncommand = "python deploy.py"\n',
          "pipec.toml")
    path = write(NO_PROFILES_YAML)
    docs = {d["metadata"]["annotations"]["pipec.dev/pipeline"]: d for d in compile_ok(path)}
    wf = docs["nightly"]
    task = main_tasks(wf)["deploy"]
    t = templates(wf)[task["template"]]
    assert t["container"]["image"] == "registry.example.com/deployer:1"
    a = args_of(task)
    assert t["container"]["args"] == ["python deploy.py"] and "command" not in a
    setup = decode(a["setup"])
    assert "export PIPEC_DEPLOYMENT=prod" in setup and "export PIPEC_ENDPOINTS=predict" in setup
    # with [deploy] image the deploy job runs there instead
    write('[argo]\ndefault_image = "registry.example.com/deployer:1"\n\n[deploy]\ncommand = "python deploy.py"\n'
          'image = "python:3.11"\n', "pipec.toml")
    docs = {d["metadata"]["annotations"]["pipec.dev/pipeline"]: d for d in compile_ok(path)}
    wf = docs["nightly"]
    assert templates(wf)[main_tasks(wf)["deploy"]["template"]]["container"]["image"] == "python:3.11"


def test_max_object_bytes_is_a_located_error(write) -> None:
    write("[argo]\nmax_object_bytes = 2048\n", "pipec.toml")
    path = write(NO_DEPLOY_YAML)
    errors = compile_fails(path)
    assert "is 20," in errors[0] or "bytes" in errors[0]
    assert all("Kubernetes stores at most 2,048 bytes" in e for e in errors)
    assert "max_object_bytes" in pipec("compile", path, "--target", "argo", "-o", "-").stderr  # the hint


@pytest.mark.parametrize("case", ["size", "schedule"])
def test_errors_of_every_pipeline_are_reported(write, case: str) -> None:
    if case == "size":
        write("[argo]\nmax_object_bytes = 2048\n", "pipec.toml")
        errors = compile_fails(write(NO_DEPLOY_YAML))
    else:
        write('[triggers]\nnightly = "0 3 * * MON"\nadhoc = "61 * * * *"\n', "pipec.toml")
        errors = compile_fails(write(NO_DEPLOY_YAML))
    assert len(errors) == 2, errors  # nightly and adhoc
    assert "'adhoc'" in " ".join(errors) and "'nightly'" in " ".join(errors)


def test_config_errors_are_located(write) -> None:
    write('[argo]\npod_gc = "Bogus"\nttl_seconds = -1\n\n[profiles.x]\ngpus = "two"\n', "pipec.toml")
    path = write(ALL_OPTIONS_YAML)
    errors = compile_fails(path)
    assert len(errors) == 3
    assert all(e.split(":")[0].endswith("pipec.toml") for e in errors)


# -------------------------------------------------------------------------------------- 3. corpus
@pytest.mark.skipif(not CORPUS_FILES, reason=f"{CORPUS} is not available")
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_compiles_to_valid_manifests_or_refuses_located(name: str) -> None:
    r = pipec("compile", str(CORPUS / name), "--target", "argo", "-o", "-")
    assert "Traceback" not in r.stderr
    if r.exit_code == 0:
        problems = check_yaml(r.stdout)
        assert problems == [], "\n".join(problems)
        for doc in yaml.safe_load_all(r.stdout):
            if doc is not None:
                assert foreign_tags(doc) == []
                k8s_names(doc)
        return
    assert r.exit_code == 1, f"exit {r.exit_code}: {r.stderr}"
    assert r.stdout == ""
    errors = [line for line in r.stderr.splitlines() if ": error: " in line]
    assert errors, r.stderr
    for line in errors:
        m = LOCATED.match(line)
        assert m, f"error without file:line:col: {line!r}"
        assert int(m["line"]) >= 1 and int(m["col"]) >= 1


# -------------------------------------------------------------------------------- 4. determinism
def test_output_does_not_depend_on_hash_seed(write) -> None:
    path = write(hostile_yaml())
    write(ALL_OPTIONS_TOML, "pipec.toml")
    other = write(ALL_OPTIONS_YAML, "options.yaml")
    files = ["examples/valohai/dual-training.valohai.yaml", "examples/valohai/three-trainings.valohai.yaml",
             path, other]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "compiler"), *filter(None, [env.get("PYTHONPATH")])])
    procs = {}
    for seed in ("0", "4242"):
        for f in files:
            procs[(seed, f)] = subprocess.Popen(
                [sys.executable, "-m", "pipec", "compile", f, "--target", "argo", "-o", "-"], cwd=ROOT,
                env={**env, "PYTHONHASHSEED": seed}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    outs = {}
    for key, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{key}: {err.decode()}"
        outs[key] = out
    for f in files:
        assert outs[("0", f)], f
        assert outs[("0", f)] == outs[("4242", f)], f"{f}: output differs between PYTHONHASHSEED 0 and 4242"


# ------------------------------------------------------------------------------ 5. hostile text
T1 = "{{workflow.name}}"
T2 = "{{=sprig.trim(inputs.parameters.job)}}"
SHELLY = "a'b\"c $(touch pwned) `touch pwned` ; # \\ ünï 🚀 |&<>*?"
EVIL = f"{SHELLY} {T1} {T2}\nsecond line"
B64LIKE = "pipec-b64:aGVsbG8="  # user text that looks like pipec's own encoding
PREP = f"Prep {T1} \"q\" $(touch pwned) `id` ünï {T2} " + "S" * 200
CONSUME = "consume " + "C" * 200
N1 = "N" * 200 + " {{=sprig_x}} `id` $(touch pwned) ünï a"  # node names cannot hold '.'
N2 = "N" * 200 + " {{x}} b"  # same 200-character start as N1: only the hash tells them apart
N3 = "n3 'q' \"q\""
N4 = "n4 ünï 🚀"
SMALL = [EVIL, T1, T2, "plain", B64LIKE, "ünï 🚀"]
BIG = SMALL + ["a b", "--x", "$HOME"]  # 9 x 9 = 81 executions: withSequence
PIPE = f"Pipe {T1} {T2} \"q\" $(touch pwned) ünï 🚀\n" + "P" * 200
PP = "pp \"q\" $(touch pwned) ünï 🚀 " + "q" * 200
PP_VALUE = SHELLY + "\nl2"
COMMANDS = ["echo " + T1 + " " + T2 + " \"q\" 'q' `date` $(date)",
            "printf '<%s>\\n' {parameters} > /valohai/outputs/params.txt",
            "cat <<'EOF'\n" + EVIL + "\nEOF"]


def hostile_doc() -> list[dict]:
    return [
        {"step": {
            "name": PREP, "image": "python:3.12-slim", "command": COMMANDS,
            "parameters": [{"name": "p" + T1, "type": "string", "default": EVIL},
                           {"name": "long_" + "n" * 200, "type": "integer", "default": 3},
                           {"name": "target", "type": "string", "default": "x"},
                           {"name": "b64like", "type": "string", "default": B64LIKE}],
            "environment-variables": [{"name": "HOSTILE", "default": EVIL}],
            "inputs": [{"name": f"raw {T1} {T2}", "default": "https://example.com/" + T1 + "/a.txt"}],
            "outputs": [{"name": "out*"}]}},
        {"step": {
            "name": CONSUME, "image": "busybox", "command": ["ls -R /valohai/inputs", "echo {parameters}"],
            "parameters": [{"name": "v", "type": "string", "default": "x"},
                           {"name": "w", "type": "integer", "default": 1}],
            "inputs": [{"name": f"in {T1}", "optional": True}]}},
        {"task": {"name": "hostile-grid", "step": CONSUME, "type": "grid_search",
                  "parameters": [{"name": "v", "style": "multiple", "rules": {"items": SMALL}}]}},
        {"task": {"name": "hostile-big-grid", "step": CONSUME, "type": "grid_search",
                  "parameters": [{"name": "v", "style": "multiple", "rules": {"items": BIG}},
                                 {"name": "w", "style": "multiple", "rules": {"items": list(range(9))}}]}},
        {"pipeline": {
            "name": PIPE + " one",
            "parameters": [{"name": PP, "targets": [f"{N1}.parameter.target"], "default": PP_VALUE}],
            "nodes": [{"name": N1, "type": "execution", "step": PREP},
                      {"name": N2, "type": "task", "task": "hostile-grid", "on-error": "continue"},
                      {"name": N3, "type": "task", "task": "hostile-big-grid"},
                      {"name": N4, "type": "execution", "step": CONSUME}],
            "edges": [[f"{N1}.output.{T1}*", f"{N2}.input.in {T1}"],
                      [f"{N1}.output.*", f"{N3}.input.in {T1}"],
                      [f"{N1}.metadata.{T1}", f"{N4}.parameter.v"]]}},
        {"pipeline": {"name": PIPE + " two", "nodes": [{"name": N1, "type": "execution", "step": PREP}],
                      "edges": []}},
    ]


def hostile_yaml() -> str:
    return yaml.safe_dump(hostile_doc(), allow_unicode=True, sort_keys=False, width=100000)


def _by_pipeline(docs: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["annotations"]["pipec.dev/pipeline"]: d for d in docs}


@pytest.mark.parametrize("extra", [(), ("--kind", "template"), ("--schedule", "0 3 * * *")],
                         ids=["workflow", "template", "cron"])
def test_hostile_names_and_values(write, tmp_path: Path, extra: tuple[str, ...]) -> None:
    path = write(hostile_yaml())
    r = pipec("compile", path, "--target", "argo", "-o", "-", *extra)
    assert r.exit_code == 0, r.stderr
    assert check_yaml(r.stdout) == [], check_yaml(r.stdout)
    docs = _by_pipeline([d for d in yaml.safe_load_all(r.stdout)])
    # the original pipeline names survive in the annotation
    assert set(docs) == {PIPE + " one", PIPE + " two"}
    one, two = docs[PIPE + " one"], docs[PIPE + " two"]

    for doc in (one, two):
        assert foreign_tags(doc) == [], "\n".join(foreign_tags(doc))
        k8s_names(doc)
        # every pipec-b64 value decodes as UTF-8 (a broken encoding would fail here) and nothing
        # pipec encodes is left holding raw "{{" after decoding only by accident of the prefix
        assert all(isinstance(v, str) for v in decoded_values(doc))

    # long names are cut, end in a hash, and two names with the same start stay apart
    key = "generateName" if one["kind"] == "Workflow" else "name"
    n_one, n_two = one["metadata"][key].rstrip("-"), two["metadata"][key].rstrip("-")
    assert HASHED.search(n_one) and HASHED.search(n_two) and n_one != n_two
    tasks = main_tasks(one)
    assert len(tasks) == 4
    long_tasks = [n for n in tasks if n.startswith("nnnn")]
    assert len(long_tasks) == 2 and all(HASHED.search(n) and len(n) == 63 for n in long_tasks)
    assert main_tasks(two).keys() <= set(long_tasks)  # the same node name gives the same id

    # the pipeline parameter: a sanitised Argo name, the value byte for byte
    params = spec_of(one)["arguments"]["parameters"]
    assert len(params) == 1 and params[0]["value"] == PP_VALUE
    assert PARAM_NAME.match(params[0]["name"])

    n1 = next(t for n, t in tasks.items() if n.startswith("nnnn") and "withItems" not in t)
    n2 = next(t for n, t in tasks.items() if n.startswith("nnnn") and "withItems" in t)
    n3, n4 = tasks["n3-q-q"], tasks["n4-n"]
    a1 = args_of(n1)
    # user text with {{ travels base64-encoded and decodes back to itself: a command holding it
    # stands in its template encoded, and the pod decodes it
    t1 = templates(one)[n1["template"]]
    command = pod_command(t1, a1)
    assert t1["container"]["args"][0].startswith(B64) and "command" not in a1
    encoded = next(e["value"] for e in t1["container"]["env"] if e["name"] == "PIPEC_ENCODED").split()
    assert "PIPEC_COMMAND" in encoded
    assert command.startswith(COMMANDS[0] + "\n") and command.endswith(COMMANDS[2])
    pjson = json.loads(decode(a1["parameters"]))
    assert pjson["p" + T1] == EVIL and pjson["b64like"] == B64LIKE and pjson["long_" + "n" * 200] == 3
    setup = decode(a1["setup"])
    assert a1["setup"].startswith(B64)
    hostile_env, = shell_eval(setup, tmp_path, "HOSTILE")
    assert hostile_env == EVIL
    assert f"raw {T1} {T2}" in setup and "https://example.com/" + T1 + "/a.txt" in setup
    assert json.loads(decode(a1["metadata"])) == [T1]

    # the small sweep: withItems whose values decode back to the originals
    items = n2["withItems"]
    assert [decode(i["p-v"]) for i in items] == SMALL
    assert items[4]["p-v"] != B64LIKE  # pipec's prefix in user text is encoded too
    assert args_of(n2)["p-v"] == "{{item.p-v}}"
    assert n2.get("depends") == f"{n1['name']}.Succeeded"
    setup2 = decode(args_of(n2)["setup"])
    assert f"'{T1}*'" in setup2 and f"'in {T1}'" in setup2  # edge glob and input name, shell-quoted

    # the large sweep: withSequence; each execution picks its values in the pod
    assert n3["withSequence"] == {"count": "81"} and "withItems" not in n3
    setup3 = decode(args_of(n3)["setup"])
    assert setup3.startswith("pipec_pick PIPEC_P_w 9 ")  # the last axis varies fastest
    for i in (0, 1, 8, 9, 40, 80):
        v, w = shell_eval(f"pipec_i={i}\n" + setup3, tmp_path, "PIPEC_P_v", "PIPEC_P_w",
                          prelude=pick_function(one))
        assert (v, w) == (BIG[i // 9], str(i % 9)), i

    # the metadata edge reaches n4 through pipec's own task-output tags
    a4 = args_of(n4)
    assert a4["value-0"] == "{{tasks.%s.outputs.parameters.meta-0-text}}" % n1["name"]

    assert not (tmp_path / "pwned").exists(), "user text was executed"


def test_hostile_header_comment_stays_a_comment(write) -> None:
    path = write(hostile_yaml())
    r = pipec("compile", path, "--target", "argo", "-o", "-")
    assert r.exit_code == 0
    for text in r.stdout.split("---\n"):
        lines = text.splitlines()
        assert all(line.startswith("# ") for line in lines[:3]), lines[:3]
        assert lines[3] == "apiVersion: argoproj.io/v1alpha1"


def test_hostile_names_in_directory_output(write, tmp_path: Path) -> None:
    path = write(hostile_yaml())
    out = tmp_path / "manifests"
    r = pipec("compile", path, "--target", "argo", "-o", f"{out}/")
    assert r.exit_code == 0, r.stderr
    files = sorted(p.name for p in out.iterdir() if p.name != MANIFEST)
    assert len(files) == 2
    for f in files:
        stem = f[: -len(".yaml")]
        assert f.endswith(".yaml") and DNS_LABEL.match(stem) and len(stem) <= 63 and HASHED.search(stem), f


def test_pipeline_parameter_default_with_braces_travels_encoded(write) -> None:
    doc = hostile_doc()
    doc[4]["pipeline"]["parameters"].append({"name": "braces", "targets": [f"{N1}.parameter.b64like"],
                                             "default": "x {{workflow.name}} y"})
    path = write(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100000))
    r = pipec("compile", path, "--target", "argo", "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert check_yaml(r.stdout) == []
    params = [p for d in yaml.safe_load_all(r.stdout) for p in d["spec"].get("arguments", {}).get("parameters", [])]
    (braces,) = [p["value"] for p in params if p["name"] == "braces"]
    assert braces.startswith(B64) and decode(braces) == "x {{workflow.name}} y"
    assert not any("{{" in p["value"] for p in params)


def _foreign_tags_or_located_error(path: str) -> None:
    """pipec either refuses with a located error, or writes no user text inside a tag."""
    r = pipec("compile", path, "--target", "argo", "-o", "-")
    if r.exit_code == 1:
        errors = [line for line in r.stderr.splitlines() if ": error: " in line]
        assert errors and all(LOCATED.match(e) for e in errors), r.stderr
        return
    assert r.exit_code == 0, r.stderr
    for doc in yaml.safe_load_all(r.stdout):
        assert foreign_tags(doc) == [], "\n".join(foreign_tags(doc))


def test_pipeline_parameter_description_is_not_templated(write) -> None:
    path = write("""
- step:
    name: s
    image: busybox
    command: ["echo {parameters}"]
    parameters:
      - {name: p, type: string, default: x}
- pipeline:
    name: p
    parameters:
      - name: "a {{workflow.name}}"
        targets: [n.parameter.p]
        default: "x"
      - name: b
        targets: [n.parameter.p]
        default: "y"
        description: "set {{=sprig.trim(workflow.name)}}"
    nodes:
      - {name: n, type: execution, step: s}
    edges: []
""")
    _foreign_tags_or_located_error(path)


def test_image_with_braces_is_refused(write) -> None:
    path = write("""
- step:
    name: s
    image: "python:{{=sprig.trim(workflow.name)}}"
    command: ["echo hi"]
- pipeline:
    name: p
    nodes:
      - {name: n, type: execution, step: s}
    edges: []
""")
    _foreign_tags_or_located_error(path)


def test_device_names_are_checked(write) -> None:
    path = write("""
- step:
    name: s
    image: busybox
    command: ["echo hi"]
    resources:
      devices:
        "{{workflow.name}} x": 2
- pipeline:
    name: p
    nodes:
      - {name: n, type: execution, step: s}
    edges: []
""")
    _foreign_tags_or_located_error(path)


# ----------------------------------------------------------------------------------------- 6. size
def grid_yaml(sizes: list[int], *, limit: int | None = None, on_error: str | None = None,
              downstream: bool = False) -> str:
    names = "abcdefgh"[: len(sizes)]
    types = ["integer", "float", "string"] * 3
    defaults = {"integer": 0, "float": 0.5, "string": "x"}
    params = [{"name": n, "type": types[i], "default": defaults[types[i]]} for i, n in enumerate(names)]
    axes = []
    for i, (n, size) in enumerate(zip(names, sizes, strict=True)):
        values = {"integer": list(range(size)), "float": [round(k / 1000, 3) for k in range(size)],
                  "string": [f"opt{k}" for k in range(size)]}[types[i]]
        axes.append({"name": n, "style": "multiple", "rules": {"items": values}})
    task: dict[str, Any] = {"name": "grid", "step": "train", "type": "grid_search", "parameters": axes}
    if limit is not None:
        task["maximum-queued-executions"] = limit
    node: dict[str, Any] = {"name": "sweep", "type": "task", "task": "grid"}
    if on_error:
        node["on-error"] = on_error
    nodes = [node]
    edges = []
    steps = [{"step": {"name": "train", "image": "python:3.12", "command": ["python train.py {parameters}"],
                       "parameters": params, "outputs": [{"name": "model*"}]}}]
    if downstream:
        steps.append({"step": {"name": "report", "image": "python:3.12", "command": ["ls /valohai/inputs"],
                               "inputs": [{"name": "models"}]}})
        nodes.append({"name": "report", "type": "execution", "step": "report"})
        edges.append(["sweep.output.model*", "report.input.models"])
    doc = steps + [{"task": task}, {"pipeline": {"name": "grid", "nodes": nodes, "edges": edges}}]
    return yaml.safe_dump(doc, sort_keys=False)


def test_100k_grid_is_small_and_uses_with_sequence(write, tmp_path: Path) -> None:
    path = write(grid_yaml([100, 100, 10]))
    r = pipec("compile", path, "--target", "argo", "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert len(r.stdout.encode("utf-8")) < 64 * 1024, len(r.stdout.encode("utf-8"))
    assert check_yaml(r.stdout) == []
    doc = yaml.safe_load(r.stdout)
    task = main_tasks(doc)["sweep"]
    assert task["withSequence"] == {"count": "100000"}
    assert "withItems" not in task and "withParam" not in task
    a = args_of(task)
    assert a["execution"] == "{{item}}"
    # execution i gets row i of the grid (last axis fastest), as the pod computes it
    from pipec.driver import Request, load_workflows

    sweep = load_workflows(Request(file=path, target="argo")).workflows[0].jobs[0].sweep
    assert sweep.size == 100_000
    setup = decode(a["setup"])
    for i in (0, 1, 9, 10, 999, 1000, 12345, 99_999):
        got = shell_eval(f"pipec_i={i}\n" + setup, tmp_path, "PIPEC_P_a", "PIPEC_P_b", "PIPEC_P_c",
                         prelude=pick_function(doc))
        row = sweep.row(i)
        assert got == [str(row["a"]), str(row["b"]), str(row["c"])], (i, got, row)


@pytest.mark.parametrize("sizes,loop", [([8, 8], "withItems"), ([2, 3, 3], "withItems"), ([64], "withItems"),
                                        ([5, 13], "withSequence"), ([65], "withSequence")])
def test_small_grids_use_with_items(write, sizes: list[int], loop: str) -> None:
    doc, = compile_ok(write(grid_yaml(sizes)))
    task = main_tasks(doc)["sweep"]
    total = 1
    for s in sizes:
        total *= s
    if loop == "withItems":
        assert total <= 64
        assert len(task["withItems"]) == total and "withSequence" not in task
        assert [i["i"] for i in task["withItems"]] == [str(k) for k in range(total)]
    else:
        assert total > 64
        assert task["withSequence"] == {"count": str(total)} and "withItems" not in task


@pytest.mark.parametrize("sizes", [[3, 4], [100, 100, 10]], ids=["items", "sequence"])
def test_sweep_parallelism_gets_a_wrapper_dag(write, sizes: list[int]) -> None:
    doc, = compile_ok(write(grid_yaml(sizes, limit=5, downstream=True)))
    tasks = main_tasks(doc)
    outer = tasks["sweep"]
    assert not any(k.startswith("with") for k in outer), "the loop belongs inside the wrapper"
    wrapper = templates(doc)[outer["template"]]
    assert wrapper["parallelism"] == 5
    inner, = wrapper["dag"]["tasks"]
    assert inner["name"] == "sweep"
    assert ("withItems" in inner) if sizes == [3, 4] else (inner["withSequence"] == {"count": "100000"})
    assert "container" in templates(doc)[inner["template"]]
    assert tasks["report"]["depends"] == "sweep.Succeeded"
    assert "parallelism" not in spec_of(doc)


def test_hyperparameter_example_grid_uses_items_and_wrapper() -> None:
    docs = _by_pipeline(compile_ok("examples/valohai/hyperparameter-grid.valohai.yaml", cwd=ROOT))
    grid = docs["Grid sweep pipeline"]
    wrapper = templates(grid)[main_tasks(grid)["sweep"]["template"]]
    assert wrapper["parallelism"] == 3  # min(execution-batch-size, maximum-queued-executions)
    inner, = wrapper["dag"]["tasks"]
    assert len(inner["withItems"]) == 18


# ---------------------------------------------------------------------------- 7. failure policies
POLICY_YAML = """
- step:
    name: work
    image: busybox
    command: ["echo {parameters}"]
    parameters:
      - {name: lr, type: float, default: 0.1}
    inputs:
      - {name: up, optional: true}
- task:
    name: sweep3
    step: work
    type: grid_search
    parameters:
      - {name: lr, style: multiple, rules: {items: [0.1, 0.2, 0.3]}}
- pipeline:
    name: policies
    nodes:
      - {name: start, type: execution, step: work}
      - {name: sweep-continue, type: task, task: sweep3, on-error: CONTINUE_SWEEP}
      - {name: after-sweep, type: execution, step: work}
      - {name: single-continue, type: execution, step: work, on-error: CONTINUE_SINGLE}
      - {name: after-single, type: execution, step: work}
      - {name: stop-next, type: execution, step: work, on-error: STOP_NEXT}
      - {name: after-stop-next, type: execution, step: work}
      - {name: retried, type: execution, step: work, on-error: RETRY}
      - {name: after-retry, type: execution, step: work}
    edges:
      - [start.output.*, sweep-continue.input.up]
      - [sweep-continue.output.*, after-sweep.input.up]
      - [start.output.*, single-continue.input.up]
      - [single-continue.output.*, after-single.input.up]
      - [start.output.*, stop-next.input.up]
      - [stop-next.output.*, after-stop-next.input.up]
      - [start.output.*, retried.input.up]
      - [retried.output.*, after-retry.input.up]
"""


def policy_yaml(**policies: str) -> str:
    text = POLICY_YAML
    for key in ("CONTINUE_SWEEP", "CONTINUE_SINGLE", "STOP_NEXT", "RETRY"):
        text = text.replace(key, policies.get(key.lower(), "stop-all"))
    return text


def fail_fast_keys(doc: dict) -> list[Any]:
    return [(p, v) for p, v in _items(doc) if p and p[-1] == "failFast"]


def _items(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield path + (k,), v
            yield from _items(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _items(v, path + (i,))


def test_all_stop_all_leaves_fail_fast_default(write) -> None:
    doc, = compile_ok(write(policy_yaml()))
    assert fail_fast_keys(doc) == []  # Argo's default (true) applies
    tasks = main_tasks(doc)
    for name in ("after-sweep", "after-single", "after-stop-next", "after-retry"):
        up = name.replace("after-", "").replace("sweep", "sweep-continue").replace("single", "single-continue") \
            .replace("retry", "retried")
        assert tasks[name]["depends"] == f"{up}.Succeeded"
    assert all("retryStrategy" not in t for t in templates(doc).values())


def test_retry_alone_keeps_fail_fast_default(write) -> None:
    doc, = compile_ok(write(policy_yaml(retry="retry")))
    assert fail_fast_keys(doc) == []
    t = templates(doc)[main_tasks(doc)["retried"]["template"]]
    assert t["retryStrategy"] == {"limit": 2}
    assert main_tasks(doc)["after-retry"]["depends"] == "retried.Succeeded"
    # the retry template is not shared with the jobs that do not retry
    assert main_tasks(doc)["start"]["template"] != main_tasks(doc)["retried"]["template"]


@pytest.mark.parametrize("policy", [{"stop_next": "stop-next"}, {"continue_single": "continue"},
                                    {"continue_sweep": "continue"}], ids=["stop-next", "continue", "continue-sweep"])
def test_stop_next_or_continue_turns_fail_fast_off(write, policy: dict[str, str]) -> None:
    r = pipec("compile", write(policy_yaml(**policy)), "--target", "argo", "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert check_yaml(r.stdout) == []
    doc = yaml.safe_load(r.stdout)
    keys = fail_fast_keys(doc)
    assert keys == [(("spec", "templates", 0, "dag", "failFast"), False)], keys
    assert r.stdout.splitlines()[2].startswith("# Failures: failFast is off")


def test_continue_depends_expressions(write) -> None:
    path = write(policy_yaml(continue_sweep="continue", continue_single="continue", stop_next="stop-next",
                             retry="retry"))
    r = pipec("compile", path, "--target", "argo", "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert check_yaml(r.stdout) == []
    assert "# Failures: failFast is off" in r.stdout.splitlines()[2]
    doc = yaml.safe_load(r.stdout)
    tasks = main_tasks(doc)
    assert "withItems" in tasks["sweep-continue"]
    assert tasks["after-sweep"]["depends"] == "sweep-continue.AnySucceeded"
    assert tasks["after-single"]["depends"] == "(single-continue.Succeeded || single-continue.Failed)"
    assert tasks["after-stop-next"]["depends"] == "stop-next.Succeeded"
    assert tasks["after-retry"]["depends"] == "retried.Succeeded"
    assert templates(doc)[tasks["retried"]["template"]]["retryStrategy"] == {"limit": 2}
    assert templates(doc)["main"]["dag"]["failFast"] is False


def test_continue_on_wrapped_sweep_uses_no_any_succeeded(write) -> None:
    """A sweep behind a parallelism wrapper is one (non-looped) task outside: `.AnySucceeded` would be
    invalid there, so the downstream job waits for the wrapper to finish either way."""
    doc, = compile_ok(write(grid_yaml([3, 4], limit=2, on_error="continue", downstream=True)))
    tasks = main_tasks(doc)
    assert tasks["report"]["depends"] == "(sweep.Succeeded || sweep.Failed)"
    wrapper = templates(doc)[tasks["sweep"]["template"]]
    assert wrapper["dag"]["failFast"] is False


def test_continue_on_runtime_fanout_uses_any_succeeded(write) -> None:
    """A task node fed a metadata list fans out at run time (withParam): a loop, so `.AnySucceeded`;
    an empty list is a Skipped task, accepted too (no execution failed, as on the other engines)."""
    doc, = compile_ok(write("""
- step:
    name: gen
    image: busybox
    command: ["echo '{\\"lrs\\": [0.1, 0.2]}'"]
- step:
    name: train
    image: busybox
    command: ["echo {parameters}"]
    parameters:
      - {name: lr, type: float, default: 0.1}
- step:
    name: report
    image: busybox
    command: ["ls"]
    inputs:
      - {name: m, optional: true}
- pipeline:
    name: fan
    nodes:
      - {name: gen, type: execution, step: gen}
      - {name: train, type: task, step: train, on-error: continue}
      - {name: report, type: execution, step: report}
    edges:
      - [gen.metadata.lrs, train.parameter.lr]
      - [train.output.*, report.input.m]
"""))
    tasks = main_tasks(doc)
    assert tasks["train"]["withParam"] == "{{tasks.gen.outputs.parameters.meta-0-items}}"
    assert tasks["train"]["depends"] == "gen.Succeeded"
    assert tasks["report"]["depends"] == "(train.AnySucceeded || train.Skipped)"
    assert templates(doc)["main"]["dag"]["failFast"] is False


def test_dual_training_example_policies() -> None:
    doc = _by_pipeline(compile_ok("examples/valohai/dual-training.valohai.yaml", cwd=ROOT))["Dual Training Pipeline"]
    assert templates(doc)["main"]["dag"]["failFast"] is False
    tasks = main_tasks(doc)
    assert tasks["evaluate-conservative"]["depends"] == "train-conservative.Succeeded"  # stop-next
    assert tasks["evaluate-experimental"]["depends"] == "(train-experimental.Succeeded || train-experimental.Failed)"


# ---------------------------------------------------------------------------------- 8. CLI output
def _example_texts(stem: str) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((GOLDEN / stem).glob("*.yaml"))]


def test_stdout_stream_holds_every_pipeline(tmp_path: Path) -> None:
    r = pipec("compile", "examples/valohai/hyperparameter-grid.valohai.yaml", "--target", "argo", "-o", "-", cwd=ROOT)
    assert r.exit_code == 0, r.stderr
    docs = list(yaml.safe_load_all(r.stdout))
    assert [d["kind"] for d in docs] == ["Workflow", "Workflow"]
    assert [d["metadata"]["generateName"] for d in docs] == ["grid-sweep-pipeline-", "random-sweep-pipeline-"]
    assert r.stdout.count("\n---\n") == 1
    texts = _example_texts("hyperparameter-grid")
    if texts:
        assert r.stdout == "---\n".join(texts)
    # the same stream into one file, whatever its YAML suffix
    for name in ("all.yaml", "sub/dir/all.yml"):
        r2 = pipec("compile", "examples/valohai/hyperparameter-grid.valohai.yaml", "--target", "argo", "-o",
                   str(tmp_path / name), cwd=ROOT)
        assert r2.exit_code == 0 and r2.stdout == ""
        assert (tmp_path / name).read_text(encoding="utf-8") == r.stdout


def test_directory_output_one_file_per_pipeline(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = pipec("compile", "examples/valohai/hyperparameter-grid.valohai.yaml", "--target", "argo", "-o", f"{out}/",
              cwd=ROOT)
    assert r.exit_code == 0 and r.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "grid-sweep-pipeline.yaml", "random-sweep-pipeline.yaml"]
    for p in out.glob("*.yaml"):
        docs = list(yaml.safe_load_all(p.read_text(encoding="utf-8")))
        assert len(docs) == 1 and docs[0]["metadata"]["generateName"] == p.name[: -len("yaml")].rstrip(".") + "-"


def test_kind_template(tmp_path: Path) -> None:
    docs = compile_ok("examples/valohai/mnist.valohai.yaml", "--kind", "template", cwd=ROOT)
    doc, = docs
    assert doc["kind"] == "WorkflowTemplate"
    assert doc["metadata"]["name"] == "training-pipeline" and "generateName" not in doc["metadata"]
    assert "pipec-runtime" in doc["spec"]["workflowMetadata"]["annotations"]
    assert "pipec-runtime" not in doc["metadata"]["annotations"]
    assert doc["metadata"]["annotations"]["pipec.dev/pipeline"] == "Training Pipeline"
    r = pipec("compile", "examples/valohai/mnist.valohai.yaml", "--target", "argo", "--kind", "template", "-o", "-",
              cwd=ROOT)
    assert r.stdout.splitlines()[1].startswith("# Use: argo template create FILE")


def test_triggers_in_config_give_a_cron_workflow(write) -> None:
    write('[triggers]\n"Training Pipeline" = "0 4 * * 0"\n', "pipec.toml")
    path = write((EXAMPLES / "mnist.valohai.yaml").read_text(encoding="utf-8"))
    doc, = compile_ok(path)
    assert doc["kind"] == "CronWorkflow"
    assert doc["spec"]["schedules"] == ["0 4 * * 0"] and doc["spec"]["timezone"] == "UTC"
    assert doc["metadata"]["name"] == "training-pipeline"
    assert "pipec-runtime" in doc["spec"]["workflowMetadata"]["annotations"]
    # --schedule overrides [triggers]
    doc, = compile_ok(path, "--schedule", "15 1 * * *")
    assert doc["spec"]["schedules"] == ["15 1 * * *"]


def test_schedule_gives_a_cron_workflow_with_a_short_name(write) -> None:
    long_name = "Nightly " + "x" * 100
    path = write(f"""
- step:
    name: s
    image: busybox
    command: ["echo hi"]
- pipeline:
    name: "{long_name}"
    nodes:
      - {{name: n, type: execution, step: s}}
    edges: []
""")
    doc, = compile_ok(path, "--schedule", "0 3 * * *")
    assert doc["kind"] == "CronWorkflow"
    name = doc["metadata"]["name"]
    assert len(name) <= 52 and HASHED.search(name) and DNS_LABEL.match(name)
    doc2, = compile_ok(path, "--kind", "template")
    assert len(doc2["metadata"]["name"]) <= 63 and HASHED.search(doc2["metadata"]["name"])
    doc3, = compile_ok(path)
    assert len(doc3["metadata"]["generateName"]) <= 58
    assert doc3["metadata"]["annotations"]["pipec.dev/pipeline"] == long_name


def test_kind_template_with_schedule_warns() -> None:
    r = pipec("compile", "examples/valohai/mnist.valohai.yaml", "--target", "argo", "--kind", "template",
              "--schedule", "0 3 * * *", "-o", "-", cwd=ROOT)
    assert r.exit_code == 0
    warnings = [line for line in r.stderr.splitlines() if ": warning: " in line]
    assert len(warnings) == 1 and LOCATED.match(warnings[0]), r.stderr
    assert "WorkflowTemplate" in warnings[0]
    doc, = yaml.safe_load_all(r.stdout)
    assert doc["kind"] == "WorkflowTemplate"
    strict = pipec("compile", "examples/valohai/mnist.valohai.yaml", "--target", "argo", "--kind", "template",
                   "--schedule", "0 3 * * *", "--strict", "-o", "-", cwd=ROOT)
    assert strict.exit_code == 1 and strict.stdout == ""


def test_kind_template_for_slurm_is_a_usage_error(tmp_path: Path) -> None:
    r = pipec("compile", "examples/valohai/mnist.valohai.yaml", "--target", "slurm", "--kind", "template", "-o",
              str(tmp_path / "out"), cwd=ROOT)
    assert r.exit_code == 2
    assert "--kind does not apply to --target slurm" in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("schedule", ["0 3 * * MON", "@daily", "0 3 * *", "0 3 * * * *", "every day"])
def test_invalid_schedule_option_is_a_usage_error(tmp_path: Path, schedule: str) -> None:
    # --schedule is a command-line value: refused before the file is read (exit 2).
    out = tmp_path / "out.yaml"
    r = pipec("compile", "examples/valohai/hyperparameter-grid.valohai.yaml", "--target", "argo", "--schedule",
              schedule, "-o", str(out), cwd=ROOT)
    assert r.exit_code == 2, r.stderr
    assert "--schedule" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_invalid_trigger_is_located_in_the_config(write) -> None:
    write('[triggers]\n"Training Pipeline" = "0 3 * * MON"\n', "pipec.toml")
    path = write((EXAMPLES / "mnist.valohai.yaml").read_text(encoding="utf-8"))
    errors = compile_fails(path)
    assert len(errors) == 1
    assert LOCATED.match(errors[0])["file"].endswith("pipec.toml")
    assert LOCATED.match(errors[0])["line"] == "2"


@pytest.mark.parametrize("schedule", ["61 * * * *", "*/0 * * * *", "0 25 * * *", "0 3 32 * *", "0 3 * 13 *",
                                      "0 3 * * 8", "5-1 * * * *", ",, * * * *"])
def test_out_of_range_schedule_is_refused(schedule: str) -> None:
    r = pipec("compile", "examples/valohai/mnist.valohai.yaml", "--target", "argo", "--schedule", schedule, "-o", "-",
              cwd=ROOT)
    if r.exit_code == 0:
        assert check_yaml(r.stdout) == [], "pipec wrote a CronWorkflow Argo rejects"
    assert r.exit_code == 2 and "--schedule" in r.stderr


def test_pipelines_with_colliding_ids_are_not_dropped(write, tmp_path: Path) -> None:
    path = write("""
- step:
    name: s
    image: busybox
    command: ["echo hi"]
- pipeline:
    name: My Pipeline
    nodes:
      - {name: a, type: execution, step: s}
    edges: []
- pipeline:
    name: my-pipeline
    nodes:
      - {name: b, type: execution, step: s}
    edges: []
""")
    r = pipec("compile", path, "--target", "argo", "-o", "-", "--kind", "template")
    if r.exit_code == 1:
        errors = [line for line in r.stderr.splitlines() if ": error: " in line]
        assert errors and all(LOCATED.match(e) for e in errors)
        return
    docs = list(yaml.safe_load_all(r.stdout))
    assert len(docs) == 2, "a pipeline was dropped"
    assert len({d["metadata"]["name"] for d in docs}) == 2


# --------------------------------------------------------------------------- 9. errors, together
ERRORS_YAML = """
- step:
    name: s
    image: busybox
    command: ["echo {parameters}"]
    parameters:
      - {name: x, type: string, default: "y"}
- endpoint:
    name: predict
    image: python:3.12
    server-command: python serve.py
    files:
      - {name: model, path: model.pkl}
- pipeline:
    name: one
    parameters:
      - {name: fine, targets: [a.parameter.x], default: "{{workflow.name}}"}
    nodes:
      - {name: a, type: execution, step: s}
      - {name: d1, type: deployment, deployment: prod, endpoints: [predict]}
    edges:
      - [a.output.*, d1.file.predict.model]
- pipeline:
    name: two
    nodes:
      - {name: b, type: execution, step: s}
      - {name: d2, type: deployment, deployment: prod}
    edges: []
"""


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


ERROR_LINES = [_line_of(ERRORS_YAML, "name: d1"), _line_of(ERRORS_YAML, "name: d2")]


def _error_lines(errors: list[str], path: str) -> list[tuple[int, str]]:
    out = []
    for e in errors:
        m = LOCATED.match(e)
        assert m and m["file"] == path, e
        out.append((int(m["line"]), e[m.end():]))
    return sorted(out)


def test_deployment_without_deploy_config_errors_are_reported_together(write, tmp_path: Path) -> None:
    # Argo deploys endpoints itself without [deploy] (test_deploy.py); Slurm needs a deploy command.
    path = write(ERRORS_YAML)
    r = pipec("compile", path, "--target", "slurm", "-o", str(tmp_path / "slurm"))
    assert r.exit_code == 1
    errors = _error_lines([line for line in r.stderr.splitlines() if ": error: " in line], path)
    assert [line for line, _ in errors] == ERROR_LINES, errors
    assert "deployment node 'd1' needs a deploy command on Slurm" in errors[0][1]
    assert "deployment node 'd2' needs a deploy command on Slurm" in errors[1][1]


def test_job_without_image_errors_are_reported_together(write) -> None:
    write('[deploy]\ncommand = "python deploy.py"\n', "pipec.toml")
    path = write(ERRORS_YAML)
    r = pipec("compile", path, "--target", "argo", "-o", "-")
    assert r.exit_code == 1 and r.stdout == ""
    errors = _error_lines([line for line in r.stderr.splitlines() if ": error: " in line], path)
    assert [line for line, _ in errors] == ERROR_LINES, errors
    assert "'d1' has no image" in errors[0][1] and "'d2' has no image" in errors[1][1]
    assert r.stderr.count("hint: set [deploy] image = \"...\", or [argo] default_image = \"...\" in pipec.toml") == 2


def test_empty_image_is_treated_as_missing(write) -> None:
    path = write("""
- step:
    name: s
    image: ""
    command: ["echo hi"]
- pipeline:
    name: p
    nodes:
      - {name: n, type: execution, step: s}
    edges: []
""")
    r = pipec("compile", path, "--target", "argo", "-o", "-")
    if r.exit_code == 0:
        assert check_yaml(r.stdout) == [], check_yaml(r.stdout)
    errors = compile_fails(path)
    assert any("has no image" in e for e in errors)


def test_non_nvidia_gpu_device_is_not_doubled(write) -> None:
    doc, = compile_ok(write("""
- step:
    name: s
    image: busybox
    command: ["echo hi"]
    resources:
      devices:
        amd.com/gpu: 1
- pipeline:
    name: p
    nodes:
      - {name: n, type: execution, step: s}
    edges: []
"""))
    limits = templates(doc)[main_tasks(doc)["n"]["template"]]["container"]["resources"]["limits"]
    assert limits == {"amd.com/gpu": "1"}


@pytest.mark.parametrize("toml", ['[argo]\ntimezone = "Mars/Olympus"\n',
                                  '[argo]\nlabels = { team = "ML team!" }\n',
                                  '[argo]\nnamespace = "My Namespace"\n'], ids=["timezone", "label", "namespace"])
def test_invalid_argo_settings_are_located_errors(write, toml: str) -> None:
    write(toml, "pipec.toml")
    path = write((EXAMPLES / "mnist.valohai.yaml").read_text(encoding="utf-8"))
    errors = compile_fails(path, "--schedule", "0 3 * * *")
    assert all(LOCATED.match(e)["file"].endswith("pipec.toml") for e in errors)


def test_choices_become_an_enum_and_a_pod_check(write) -> None:
    path = write("""\
- step:
    name: a
    image: busybox:1.36
    command: echo {parameters}
    parameters:
      - {name: mode, type: string, choices: [fast, "slow {{x}}"], default: fast}
      - {name: free, type: string, default: x}
- pipeline:
    name: choices
    parameters:
      - {name: mode, targets: [a.parameter.mode], default: fast}
      - {name: free, targets: [a.parameter.free], default: y}
    nodes:
      - {name: a, type: execution, step: a}
    edges: []
""")
    r = pipec("compile", path, "--target", "argo", "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert check_yaml(r.stdout) == []
    (wf,) = list(yaml.safe_load_all(r.stdout))
    params = {p["name"]: p for p in wf["spec"]["arguments"]["parameters"]}
    assert params["mode"]["enum"][0] == "fast" and params["mode"]["enum"][1].startswith("pipec-b64:")
    assert "enum" not in params["free"]
    assert decode(params["mode"]["enum"][1]) == "slow {{x}}"
    texts = [decode(t) for _, t in strings(wf)]
    assert any("pipec_check_choice mode \"$PIPEC_PARAM_0\" fast 'slow {{x}}'\n" in t for t in texts)
    assert not any("pipec_check_choice free" in t for t in texts)


def test_a_group_command_that_cannot_be_built_is_a_located_error_not_a_crash() -> None:
    # Regression (found by `make fuzz`): the group path rendered commands outside the error handling.
    from pipec import ir
    from pipec.backends.argo import compile_workflows
    from pipec.config import Config
    from pipec.errors import Diagnostics, Location

    param = ir.Param("lr", args=ir.ArgSpec(("--lr={v}",)))
    sweep = ir.Sweep(ir.SweepKind.ROWS, 2, rows=((("lr", 1),), (("lr", []),)))
    job = ir.Job("g", "g", image="busybox", command=ir.Command((ir.CommandKind.SHELL), ((ir.Args(None),),)),
                 params=(param,), sweep=sweep, group="g", location=Location("f.yaml", 3, 5))
    wf = ir.Workflow("w", jobs=(job,), groups=(ir.Group("g", "g", ("g",)),))
    diags = Diagnostics()
    assert compile_workflows([wf], Config(), diags) == {}
    [d] = diags.items
    assert d.location == Location("f.yaml", 3, 5) and "cannot build the command of 'g'" in d.message
