"""Deployment nodes Argo deploys itself (no [deploy] command or manifest): each endpoint as a
Deployment and a Service (or a KServe InferenceService) applied by resource templates, its
files staged by a pipec pod into a PersistentVolumeClaim (backends/argo/deploy.py).

The Argo emulator (tests/harness/argo_sim.py) runs neither resource templates other than
creating a Service nor PersistentVolumeClaim volumes, so these tests judge the manifests: the
workflow with the strict checker, the Kubernetes objects inside the resource templates with
hera's models of Kubernetes (unknown or mistyped fields fail), Argo's substitution with the
emulator's own `{{...}}` replacement, and the two shell scripts (the stage pod's command and
the server container's command) by running them with sh."""

from __future__ import annotations

import gc
import json
import re
import subprocess
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hera.workflows import models as m

from pipec.backends.argo.deploy import FILES_DIR, STAGE_DIR
from pipec.cli import main
from tests.harness.argo_check import _MODEL, _walk, check_yaml
from tests.harness.argo_sim import pod_command, run_workflow, substitute
from tests.paths import SHARED_CORPUS

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # DNS-1035 (Service names): a letter first
LOCATED = re.compile(r"^(?P<file>[^\n]+?):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning): ")
B64 = "pipec-b64:"

PIPELINE = """
- step:
    name: train
    image: python:3.12
    command: python train.py
- step:
    name: report
    image: python:3.12
    command: python report.py {parameters}
    parameters:
      - {name: what, type: string}
      - {name: version, type: string}
- endpoint:
    name: predict
    image: registry.example.com/serve:1
    server-command: python serve.py --port 8080
    port: 8080
    resources:
      cpu: {min: 0.5, max: 2}
      memory: {min: 512, max: 1024}
      devices: {nvidia.com/gpu: 1}
      ephemeral-storage: {min: 100, max: 2000}
    node-selector: accelerator=t4
    tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
    files:
      - {name: model, path: models/model.pkl}
- endpoint:
    name: web
    image: python:3.12-slim
    wsgi: app.main:application
- pipeline:
    name: release
    nodes:
      - {name: train, type: execution, step: train}
      - {name: deploy, type: deployment, deployment: Prod Models, endpoints: [predict, web], aliases: [staging]}
      - {name: report, type: execution, step: report}
    edges:
      - [train.output.model*.pkl, deploy.file.predict.model]
      - [deploy.deployment.id, report.parameter.what]
      - [deploy.deployment.version_id, report.parameter.version]
"""


# --------------------------------------------------------------------------------- helpers
def pipec(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=True)
    gc.enable()  # `main` turns the cyclic collector off for its short run
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        pytest.fail("".join(traceback.format_exception(*result.exc_info)), pytrace=False)
    return result


def compile_argo(path: str) -> dict[str, Any]:
    """The one Workflow compiled from `path` (exit 0, valid for the strict checker)."""
    r = pipec("compile", path, "--target", "argo", "-o", "-")
    assert r.exit_code == 0, r.stderr
    problems = check_yaml(r.stdout)
    assert problems == [], "\n".join(problems)
    [doc] = [d for d in yaml.safe_load_all(r.stdout) if d is not None]
    return doc


def located_errors(r: Any) -> list[str]:
    errors = [line for line in r.stderr.splitlines() if ": error: " in line]
    assert errors and all(LOCATED.match(line) for line in errors), r.stderr
    return errors


def templates(doc: dict) -> dict[str, dict]:
    return {t["name"]: t for t in doc["spec"]["templates"]}


def dag(doc: dict, name: str) -> dict[str, dict]:
    return {t["name"]: t for t in templates(doc)[name]["dag"]["tasks"]}


def args_of(task: dict) -> dict[str, str]:
    return {p["name"]: p.get("value") for p in (task.get("arguments") or {}).get("parameters") or []}


def objects(doc: dict, run: str = "release-x7k2p") -> dict[str, dict]:
    """Kind/name -> each object a resource template applies, once Argo substituted the
    template (as the emulator does it: no tag may stay unresolved)."""
    out = {}
    for t in doc["spec"]["templates"]:
        res = t.get("resource")
        if res and res["action"] == "apply":
            done = substitute(t, {"workflow.name": run}, allow_unresolved=False)
            obj = json.loads(done["resource"]["manifest"])
            out[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
    return out


def strict(value: Any, model: type, path: str) -> None:
    problems: list[str] = []
    _walk(value, (_MODEL, model), path, problems)
    assert problems == [], "\n".join(problems)


def kubelet(words: list[str]) -> list[str]:
    """What the kubelet runs: $$ is an escaped $ (and pipec escapes every $)."""
    return [w.replace("$$", "$") for w in words]


def stage_command(doc: dict, job: str = "deploy") -> str:
    """The stage pod's command, which its template shows as plain text."""
    task = dag(doc, f"deploy-{job}")["stage"]
    template = templates(doc)[task["template"]]
    text = template["container"]["args"][-1]
    if text.startswith(B64) or "command" in args_of(task):
        pytest.fail("the stage command should be plain text in the template")
    return pod_command(template, args_of(task))


# ------------------------------------------------------------------------ corpus, no config
CORPUS = SHARED_CORPUS / "valohai" / "valid"
CORPUS_DEPLOYMENTS = sorted(p.name for p in CORPUS.glob("*.yaml") if "type: deployment" in p.read_text()) \
    if CORPUS.is_dir() else []


@pytest.mark.parametrize("name", CORPUS_DEPLOYMENTS)
def test_corpus_pipelines_with_deployment_nodes_compile_without_configuration(name: str, tmp_path: Path) -> None:
    r = pipec("compile", str(CORPUS / name), "--target", "argo", "-o", str(tmp_path))
    assert r.exit_code == 0, r.stderr
    for path in tmp_path.glob("*.yaml"):
        assert check_yaml(path.read_text(encoding="utf-8")) == [], path.name


def test_the_corpus_holds_the_three_deployment_files() -> None:
    if not CORPUS.is_dir():
        pytest.skip("no shared corpus beside the checkout")
    assert len(CORPUS_DEPLOYMENTS) == 3


# ------------------------------------------------------------------- the default, as data
def test_an_endpoint_becomes_a_deployment_and_a_service(write) -> None:
    doc = compile_argo(write(PIPELINE))
    main_task = {t["name"]: t for t in templates(doc)["main"]["dag"]["tasks"]}["deploy"]
    assert main_task["template"] == "deploy-deploy" and main_task["depends"] == "train.Succeeded"
    tasks = dag(doc, "deploy-deploy")
    assert list(tasks) == ["volume-predict", "stage", "apply-predict", "service-predict", "cleanup-predict",
                           "apply-web", "service-web"]
    assert tasks["stage"]["depends"] == "volume-predict"
    assert tasks["apply-predict"]["depends"] == "stage" and tasks["apply-web"]["depends"] == "stage"
    assert tasks["service-predict"]["depends"] == "apply-predict"
    assert tasks["cleanup-predict"]["depends"] == "apply-predict"

    objs = objects(doc)
    assert sorted(objs) == ["Deployment/prod-models-predict", "Deployment/prod-models-web",
                            "PersistentVolumeClaim/prod-models-predict-release-x7k2p",
                            "Service/prod-models-predict", "Service/prod-models-web"]
    dep = objs["Deployment/prod-models-predict"]
    assert dep["apiVersion"] == "apps/v1"
    labels = {"app.kubernetes.io/managed-by": "pipec", "pipec.dev/deployment": "prod-models",
              "pipec.dev/endpoint": "prod-models-predict"}
    assert dep["metadata"] == {"name": "prod-models-predict", "labels": labels}
    assert dep["spec"]["selector"] == {"matchLabels": {"pipec.dev/endpoint": "prod-models-predict"}}
    pod = dep["spec"]["template"]
    assert pod["metadata"]["labels"] == {**labels, "pipec.dev/version": "release-x7k2p"}
    spec = pod["spec"]
    [container] = spec["containers"]
    strict(container, m.Container, "container")
    for i, v in enumerate(spec["volumes"]):
        strict(v, m.Volume, f"volumes[{i}]")
    for i, t in enumerate(spec["tolerations"]):
        strict(t, m.Toleration, f"tolerations[{i}]")
    assert container["image"] == "registry.example.com/serve:1"
    words = kubelet(container["command"])
    assert words[:2] == ["sh", "-c"] and words[4:] == ["python serve.py --port 8080", f"{FILES_DIR}/model",
                                                       "./models/model.pkl"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "ephemeral-storage": "100Mi", "memory": "512Mi"},
        "limits": {"cpu": "2", "ephemeral-storage": "2000Mi", "memory": "1024Mi", "nvidia.com/gpu": "1"}}
    assert container["readinessProbe"] == {"tcpSocket": {"port": "http"}}
    assert container["volumeMounts"] == [{"name": "files", "mountPath": FILES_DIR, "subPath": "files",
                                          "readOnly": True}]
    assert spec["volumes"] == [{"name": "files", "persistentVolumeClaim": {
        "claimName": "prod-models-predict-release-x7k2p", "readOnly": True}}]
    assert spec["nodeSelector"] == {"accelerator": "t4"}
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]

    svc = objs["Service/prod-models-predict"]
    assert svc["apiVersion"] == "v1" and svc["metadata"]["labels"] == labels
    assert svc["spec"] == {"selector": {"pipec.dev/endpoint": "prod-models-predict"},
                           "ports": [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]}
    claim = objs["PersistentVolumeClaim/prod-models-predict-release-x7k2p"]
    strict(claim, m.PersistentVolumeClaim, "claim")
    assert claim["metadata"]["labels"] == {**labels, "pipec.dev/version": "release-x7k2p"}
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}

    # The claims of earlier runs go once this run's Deployment is applied.
    cleanup = templates(doc)[tasks["cleanup-predict"]["template"]]["resource"]
    assert cleanup == {"action": "delete", "flags": [
        "persistentvolumeclaim", "--selector",
        "pipec.dev/endpoint=prod-models-predict,pipec.dev/version!={{workflow.name}}", "--wait=false"]}

    # The stage pod mounts the claim where its command copies the file.
    stage = templates(doc)[tasks["stage"]["template"]]
    assert stage["container"]["image"] == "registry.example.com/serve:1"  # the first endpoint's
    assert stage["volumes"] == [{"name": "pipec-deploy-0", "persistentVolumeClaim": {
        "claimName": "prod-models-predict-{{workflow.name}}"}}]
    assert {"name": "pipec-deploy-0", "mountPath": f"{STAGE_DIR}/0"} in stage["container"]["volumeMounts"]
    setup = args_of(tasks["stage"])["setup"]
    assert "pipec_stage train outputs 'model*.pkl' predict.model none" in setup
    assert "pipec_require predict.model" in setup


def test_a_wsgi_endpoint_runs_gunicorn_on_its_port(write) -> None:
    web = objects(compile_argo(write(PIPELINE)))["Deployment/prod-models-web"]
    [container] = web["spec"]["template"]["spec"]["containers"]
    assert kubelet(container["command"])[4] == (
        "python3 -m gunicorn --version > /dev/null 2>&1 || python3 -m pip install --quiet gunicorn\n"
        "exec python3 -m gunicorn --bind 0.0.0.0:8000 app.main:application")
    assert container["ports"][0]["containerPort"] == 8000  # Valohai's default port
    assert "volumeMounts" not in container and "volumes" not in web["spec"]["template"]["spec"]


def test_the_facts_reach_the_downstream_job(write) -> None:
    doc = compile_argo(write(PIPELINE))
    outputs = templates(doc)["deploy-deploy"]["outputs"]["parameters"]
    assert [o["name"] for o in outputs] == ["meta-0-json", "meta-0-text", "meta-1-json", "meta-1-text"]
    assert outputs[1]["valueFrom"]["parameter"] == "{{tasks.stage.outputs.parameters.meta-0-text}}"
    report = {t["name"]: t for t in templates(doc)["main"]["dag"]["tasks"]}["report"]
    assert args_of(report)["value-0"] == "{{tasks.deploy.outputs.parameters.meta-0-text}}"
    assert args_of(report)["value-1"] == "{{tasks.deploy.outputs.parameters.meta-1-text}}"
    assert args_of(dag(doc, "deploy-deploy")["stage"])["metadata"] == '["id", "version_id"]'


def test_the_stage_command_copies_one_file_per_endpoint_file_and_prints_the_facts(write, tmp_path: Path) -> None:
    command = stage_command(compile_argo(write(PIPELINE)))
    claims = tmp_path / "claims"
    script = command.replace(STAGE_DIR + "/", f"{claims}/")
    slot = tmp_path / "inputs" / "predict.model"
    slot.mkdir(parents=True)
    (slot / "model-best.pkl").write_bytes(b"weights")
    env = {"PATH": "/usr/bin:/bin", "PIPEC_INPUTS_DIR": str(tmp_path / "inputs"), "PIPEC_RUN_ID": "release-x7k2p"}
    done = subprocess.run(["sh", "-e", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (claims / "0" / "files" / "model").read_bytes() == b"weights"
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"id": "prod-models", "version_id": "release-x7k2p"}
    # A glob that selected two files: which one is the model is not guessed.
    (slot / "model-worse.pkl").write_bytes(b"other")
    done = subprocess.run(["sh", "-e", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "endpoint file predict.model received 2 files from upstream; it takes exactly one" in done.stderr


def test_kserve_makes_an_inference_service_with_the_same_container(write) -> None:
    write('[argo]\nlabels = { team = "ml" }\n\n[deploy]\nkind = "kserve"\nvolume_size = "20Gi"\n'
          'storage_class = "fast-ssd"\n', "pipec.toml")
    doc = compile_argo(write(PIPELINE))
    objs = objects(doc)
    assert sorted(objs) == ["InferenceService/prod-models-predict", "InferenceService/prod-models-web",
                            "PersistentVolumeClaim/prod-models-predict-release-x7k2p"]
    assert "service-predict" not in dag(doc, "deploy-deploy")  # KServe makes its own Service
    isvc = objs["InferenceService/prod-models-predict"]
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert isvc["metadata"]["labels"] == {"team": "ml", "app.kubernetes.io/managed-by": "pipec",
                                          "pipec.dev/deployment": "prod-models",
                                          "pipec.dev/endpoint": "prod-models-predict",
                                          "pipec.dev/version": "release-x7k2p"}
    predictor = isvc["spec"]["predictor"]
    [container] = predictor["containers"]
    strict(container, m.Container, "container")
    assert container["name"] == "kserve-container" and container["image"] == "registry.example.com/serve:1"
    assert kubelet(container["command"])[4:] == ["python serve.py --port 8080", f"{FILES_DIR}/model",
                                                 "./models/model.pkl"]
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert container["env"] == [{"name": "STORAGE_URI", "value": "pvc://prod-models-predict-release-x7k2p/files"}]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert predictor["nodeSelector"] == {"accelerator": "t4"}
    assert len(isvc["metadata"]["name"]) <= 45
    claim = objs["PersistentVolumeClaim/prod-models-predict-release-x7k2p"]
    assert claim["spec"]["resources"] == {"requests": {"storage": "20Gi"}}
    assert claim["spec"]["storageClassName"] == "fast-ssd"


@pytest.mark.parametrize("kind", ["deployment", "kserve"])
def test_the_argo_settings_for_pods_reach_the_deployed_servers(write, kind: str) -> None:
    """[argo] pull secrets, security contexts and default resources apply to the servers too:
    an admission policy that rejects the workflow's BestEffort pods rejects theirs as well."""
    write(f'[deploy]\nkind = "{kind}"\n\n[argo]\nimage_pull_secrets = ["registry-cred"]\n\n'
          '[argo.security_context]\nrun_as_non_root = true\nrun_as_user = 1000\n\n'
          '[argo.container_security_context]\nallow_privilege_escalation = false\n\n'
          '[argo.default_resources]\nrequests = { cpu = "250m", memory = "512Mi" }\n', "pipec.toml")
    objs = objects(compile_argo(write(PIPELINE)))
    servers = [o for o in objs.values() if o["kind"] in ("Deployment", "InferenceService")]
    assert len(servers) == 2
    for obj in servers:
        pod = obj["spec"]["template"]["spec"] if kind == "deployment" else obj["spec"]["predictor"]
        assert pod["imagePullSecrets"] == [{"name": "registry-cred"}]
        assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000}
        [container] = pod["containers"]
        strict(container, m.Container, "container")
        assert container["securityContext"] == {"allowPrivilegeEscalation": False}
        requests = container["resources"]["requests"]
        assert requests["memory"] == "512Mi"  # the endpoints give CPU or GPUs, no memory
        assert "cpu" in requests


# ---------------------------------------------------------------------------- names
NAMES = """
- endpoint:
    name: predict
    image: python:3.12
    server-command: python serve.py
- pipeline:
    name: names
    nodes:
      - {name: a, type: deployment, deployment: "Shared", endpoints: [predict]}
      - {name: b, type: deployment, deployment: "shared", endpoints: [predict]}
      - {name: c, type: deployment, deployment: "%s", endpoints: [predict]}
    edges: []
"""


def test_object_names_are_dns_labels_deterministic_and_unique_per_pipeline(write) -> None:
    path = write(NAMES % ("Ünïcode / " + "very long deployment name " * 5))
    doc = compile_argo(path)
    names = sorted(name.split("/", 1)[1] for name in objects(doc) if name.startswith("Deployment/"))
    assert len(names) == 3 and len(set(names)) == 3
    assert names[1:] == ["shared-predict", "shared-predict-b"]  # b's names are taken by a's: b's id is added
    for name in names:
        assert len(name) <= 63 and DNS_LABEL.match(name), name
    assert re.fullmatch(r"n-code-very-long-deployment-name-.*-[0-9a-f]{8}", names[0]), names[0]
    first = pipec("compile", path, "--target", "argo", "-o", "-").stdout
    assert pipec("compile", path, "--target", "argo", "-o", "-").stdout == first


# ---------------------------------------------------------------------------- hostile text
HOSTILE = """
- step:
    name: train
    image: python:3.12
    command: python train.py
- endpoint:
    name: evil
    image: "registry.example.com/x:{{workflow.name}}\\"}"
    server-command: >-
      printf '%s|' '{{workflow.name}}' '{{=sprig.env("HOME")}}' '$(HOSTNAME)' '$$' "it's" > served.txt;
      cat "my models/it's.pkl" >> served.txt
    files:
      - {name: model, path: "my models/it's.pkl"}
- pipeline:
    name: hostile
    nodes:
      - {name: train, type: execution, step: train}
      - {name: deploy, type: deployment, deployment: "{{workflow.name}}", endpoints: [evil]}
    edges:
      - [train.output.model.pkl, deploy.file.evil.model]
"""


def test_hostile_endpoint_text_stays_data(write, tmp_path: Path) -> None:
    write('[deploy]\nimage = "busybox:1.36"\n', "pipec.toml")  # the stage pod's image
    doc = compile_argo(write(HOSTILE))
    manifests = [t["resource"].get("manifest", "") for t in doc["spec"]["templates"] if "resource" in t]
    for text in manifests:  # Argo finds no tag but pipec's own
        assert set(re.findall(r"\{\{[^}]*\}\}", text)) <= {"{{workflow.name}}"}, text
    objs = objects(doc, "hostile-abcde")  # substituted as Argo does it: nothing left unresolved
    [dep] = [o for o in objs.values() if o["kind"] == "Deployment"]
    assert DNS_LABEL.match(dep["metadata"]["name"])
    [container] = dep["spec"]["template"]["spec"]["containers"]
    assert container["image"] == 'registry.example.com/x:{{workflow.name}}"}'
    words = kubelet(container["command"])
    assert words[4] == ("printf '%s|' '{{workflow.name}}' '{{=sprig.env(\"HOME\")}}' '$(HOSTNAME)' '$$' \"it's\" "
                        "> served.txt; cat \"my models/it's.pkl\" >> served.txt")
    assert words[5:] == [f"{FILES_DIR}/model", "./my models/it's.pkl"]
    # Kubernetes expands $(NAME) in a command: every $ of the author's is written $$.
    assert all("$(" not in w.replace("$$", "") for w in container["command"])

    # The server's container as the kubelet starts it, its /mnt/models in a temporary directory.
    models, work = tmp_path / "models", tmp_path / "work"
    models.mkdir()
    work.mkdir()
    (models / "model").write_text("weights\n", encoding="utf-8")
    run = [w.replace(FILES_DIR + "/", f"{models}/") if w.startswith(FILES_DIR + "/") else w for w in words]
    done = subprocess.run(run, cwd=work, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert (work / "served.txt").read_text(encoding="utf-8") == (
        "{{workflow.name}}|{{=sprig.env(\"HOME\")}}|$(HOSTNAME)|$$|it's|weights\n")


def test_hostile_image_without_files_needs_no_stage_pod(write) -> None:
    text = (HOSTILE.replace("    edges:\n      - [train.output.model.pkl, deploy.file.evil.model]\n", "    edges: []\n")
            .replace("    files:\n      - {name: model, path: \"my models/it's.pkl\"}\n", ""))
    doc = compile_argo(write(text))
    assert "stage" not in dag(doc, "deploy-deploy")
    [dep] = [o for o in objects(doc).values() if o["kind"] == "Deployment"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == 'registry.example.com/x:{{workflow.name}}"}'


# ------------------------------------------------------------- what the default needs
def test_a_file_nothing_feeds_is_a_located_error(write) -> None:
    path = write(PIPELINE.replace("      - [train.output.model*.pkl, deploy.file.predict.model]\n", ""))
    r = pipec("compile", path, "--target", "argo", "-o", "-")
    assert r.exit_code == 1 and r.stdout == ""
    [error] = located_errors(r)
    assert error.startswith(f"{path}:") and "file 'model' of endpoint 'predict' receives nothing" in error


def test_an_undefined_endpoint_is_a_located_error_on_argo_and_a_warning_in_check(write) -> None:
    path = write(PIPELINE.replace("endpoints: [predict, web]", "endpoints: [predict, web, ghost]"))
    r = pipec("compile", path, "--target", "argo", "-o", "-")
    assert r.exit_code == 1
    [error] = located_errors(r)
    assert "deployment node 'deploy' deploys endpoint 'ghost', which the file does not define" in error
    r = pipec("check", path)
    assert r.exit_code == 0
    assert "endpoint 'ghost', which the file does not define, so only a deploy command can deploy it" in r.output


def test_check_has_nothing_to_say_about_a_deployment_argo_deploys(write) -> None:
    r = pipec("check", write(PIPELINE))
    assert r.exit_code == 0 and "deploy" not in r.output.replace("deployment.", ""), r.output


def test_a_node_naming_no_endpoints_deploys_nothing_with_a_warning(write) -> None:
    text = PIPELINE.replace("endpoints: [predict, web], ", "")
    path = write(text[:text.index("    edges:\n")] + "    edges: []\n")
    r = pipec("compile", path, "--target", "argo", "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert "warning: deployment node 'deploy' names no endpoints: without a deploy command it deploys nothing" \
        in r.stderr
    [doc] = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert check_yaml(r.stdout) == []
    task = {t["name"]: t for t in templates(doc)["main"]["dag"]["tasks"]}["deploy"]
    assert templates(doc)[task["template"]] == {"name": "stub", "suspend": {"duration": "0"}}


# ------------------------------------------------------------- other targets, other config
@pytest.mark.parametrize("target,title", [("slurm", "Slurm"), ("gha", "GitHub Actions")])
def test_slurm_and_github_actions_still_need_a_deploy_command(write, tmp_path: Path, target: str, title: str) -> None:
    path = write(PIPELINE)
    r = pipec("compile", path, "--target", target, "-o", str(tmp_path / "out"))
    assert r.exit_code == 1
    [error] = [e for e in located_errors(r) if "deploy" in e]
    assert error.startswith(f"{path}:") and f"deployment node 'deploy' needs a deploy command on {title}" in error
    assert 'hint: add to pipec.toml: [deploy] command = "<your deploy command>"' in r.stderr


def test_a_deploy_command_still_wins(write) -> None:
    write('[deploy]\ncommand = "python deploy.py"\nimage = "python:3.12-slim"\nkind = "kserve"\n', "pipec.toml")
    doc = compile_argo(write(PIPELINE))
    assert not [t for t in doc["spec"]["templates"] if "resource" in t]
    task = {t["name"]: t for t in templates(doc)["main"]["dag"]["tasks"]}["deploy"]
    assert "container" in templates(doc)[task["template"]]
    assert pod_command(templates(doc)[task["template"]], args_of(task)) == "python deploy.py"


def test_a_deploy_manifest_still_wins(write) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
    write(f'[deploy]\nmanifest = """{manifest}"""\n', "pipec.toml")
    path = write(PIPELINE.replace("      - [deploy.deployment.id, report.parameter.what]\n", "").replace(
        "      - [deploy.deployment.version_id, report.parameter.version]\n", ""))
    doc = compile_argo(path)
    task = {t["name"]: t for t in templates(doc)["main"]["dag"]["tasks"]}["deploy"]
    assert templates(doc)[task["template"]]["resource"] == {"action": "apply", "manifest": manifest}
    assert [t for t in doc["spec"]["templates"] if "resource" in t] == [templates(doc)[task["template"]]]


def test_an_unknown_kind_is_a_config_error(write) -> None:
    write('[deploy]\nkind = "knative"\n', "pipec.toml")
    r = pipec("compile", write(PIPELINE), "--target", "argo", "-o", "-")
    assert r.exit_code == 1 and "deploy.kind" in r.stderr


# ------------------------------------------------------- the stage pod on the emulated Argo
@pytest.mark.e2e
def test_the_stage_pod_stages_upstream_files_and_hands_on_the_facts_on_the_emulator(write, tmp_path: Path) -> None:
    """The emulator runs no resource template and no claim: the deployment's DAG is cut down to
    its stage pod, whose claim becomes an emptyDir and whose mount a directory of this test."""
    text = (PIPELINE.replace("command: python train.py",
                             "command: printf 'weights' > $VH_OUTPUTS_DIR/model-best.pkl")
            .replace("command: python report.py {parameters}", "command: echo report"))
    doc = compile_argo(write(text))
    claims = tmp_path / "claims"
    tmpls = templates(doc)
    deploy = tmpls["deploy-deploy"]
    [stage] = [t for t in deploy["dag"]["tasks"] if t["name"] == "stage"]
    del stage["depends"]
    deploy["dag"]["tasks"] = [stage]
    pod = tmpls[stage["template"]]
    pod["container"]["args"] = [a.replace(STAGE_DIR + "/", f"{claims}/") for a in pod["container"]["args"]]
    pod["volumes"] = [{"name": v["name"], "emptyDir": {}} for v in pod["volumes"]]
    for mount in pod["container"]["volumeMounts"]:
        mount["mountPath"] = mount["mountPath"].replace(STAGE_DIR + "/", f"{claims}/")
    wf = run_workflow(doc, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    assert (claims / "0" / "files" / "model").read_text(encoding="utf-8") == "weights"
    [report] = wf.pods("report")
    parameters = json.loads(report.pod.path("/valohai/config/parameters.json").read_text(encoding="utf-8"))
    assert parameters == {"what": "prod-models", "version": wf.name}
