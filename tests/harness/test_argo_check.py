"""Tests of tests/harness/argo_check.py, the offline Argo manifest checker."""

from __future__ import annotations

import copy
import time

import pytest
import yaml

from tests.harness.argo_check import check_manifest, check_yaml, cron_problem, parse_depends

VALID_WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: mnist-train-
  labels:
    app.kubernetes.io/managed-by: pipec
spec:
  entrypoint: pipeline
  arguments:
    parameters:
      - name: epochs
        value: "3"
  templates:
    - name: pipeline                      # 0
      parallelism: 4
      dag:
        tasks:
          - name: server                  # daemon, reached through {{tasks.server.ip}}
            template: param-server
          - name: prepare
            template: prepare
          - name: shard                   # withItems loop
            template: shard
            depends: prepare
            withItems: [0, 1, 2]
            arguments:
              parameters:
                - name: shard
                  value: "{{item}}"
                - name: rows
                  value: "{{tasks.prepare.outputs.parameters.rows}}"
              artifacts:
                - name: dataset
                  from: "{{tasks.prepare.outputs.artifacts.dataset}}"
          - name: train
            template: train
            depends: "shard.AnySucceeded && server.Daemoned && (prepare.Succeeded || prepare.Skipped)"
            arguments:
              parameters:
                - name: server-ip
                  value: "{{tasks.server.ip}}"
                - name: epochs
                  value: "{{workflow.parameters.epochs}}"
              artifacts:
                - name: dataset
                  from: "{{tasks.prepare.outputs.artifacts.dataset}}"
    - name: param-server                  # 1
      daemon: true
      container:
        image: redis:7
        readinessProbe:
          tcpSocket:
            port: 6379
    - name: prepare                       # 2
      activeDeadlineSeconds: 600
      retryStrategy:
        limit: 2
        retryPolicy: OnFailure
        backoff:
          duration: 10s
          factor: 2
      container:
        image: python:3.11
        imagePullPolicy: IfNotPresent
        command: [python, prepare.py, "--out={{outputs.artifacts.dataset.path}}"]
        resources:
          requests: {cpu: 500m, memory: 1Gi}
          limits: {cpu: 1, memory: 2Gi}
      outputs:
        parameters:
          - name: rows
            valueFrom:
              path: /tmp/rows
        artifacts:
          - name: dataset
            path: /tmp/dataset
            s3:
              key: "{{workflow.name}}/dataset/"
            archive:
              none: {}
    - name: shard                         # 3
      inputs:
        parameters:
          - name: shard
          - name: rows
        artifacts:
          - name: dataset
            path: /data
      container:
        image: python:3.11
        args: [shard.py, "--shard={{inputs.parameters.shard}}", "--rows={{inputs.parameters.rows}}",
               "{{inputs.artifacts.dataset.path}}"]
        env:
          - name: POD
            value: "{{pod.name}}"
    - name: train                         # 4
      inputs:
        parameters:
          - name: server-ip
          - name: epochs
            default: "1"
        artifacts:
          - name: dataset
            path: /data
      nodeSelector:
        nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB
      tolerations:
        - key: nvidia.com/gpu
          operator: Exists
          effect: NoSchedule
      container:
        image: pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime
        command: [python, train.py]
        args: ["--server={{inputs.parameters.server-ip}}", "--epochs={{inputs.parameters.epochs}}"]
        resources:
          limits: {nvidia.com/gpu: 1, cpu: 4, memory: 16Gi}
          requests: {cpu: "2", memory: 8Gi}
      outputs:
        artifacts:
          - name: model
            path: /tmp/model
            s3:
              key: "{{workflow.name}}/model/"
            archive:
              none: {}
"""

VALID_WORKFLOW_TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: pipec-evaluate
spec:
  entrypoint: main
  arguments:
    parameters:
      - name: model-uri
  templates:
    - name: main
      steps:
        - - name: fetch
            template: fetch
        - - name: score
            template: score
            arguments:
              parameters:
                - name: n
                  value: "{{steps.fetch.outputs.result}}"
    - name: fetch
      script:
        image: python:3.11-slim
        command: [python]
        source: |
          print(len("{{workflow.parameters.model-uri}}"))
    - name: score
      timeout: 10m
      inputs:
        parameters:
          - name: n
      container:
        image: busybox:1.36
        command: [sh, -c, "echo {{inputs.parameters.n}}"]
"""

VALID_CRON = """
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata:
  name: nightly-retrain
spec:
  schedules: ["0 3 * * *", "30 */6 * * MON-FRI"]
  timezone: Europe/Helsinki
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 60
  successfulJobsHistoryLimit: 3
  workflowSpec:
    entrypoint: main
    templates:
      - name: main
        dag:
          tasks:
            - name: a
              template: echo
            - name: b
              template: echo
              depends: a
      - name: echo
        container:
          image: busybox:1.36
          command: [echo, "{{workflow.scheduledTime}}"]
"""


def load(text: str) -> dict:
    return yaml.safe_load(text)


@pytest.fixture
def wf() -> dict:
    return load(VALID_WORKFLOW)


def tasks(doc: dict) -> list[dict]:
    return doc["spec"]["templates"][0]["dag"]["tasks"]


def assert_problem(problems: list[str], path: str, fragment: str) -> None:
    """Some problem is reported exactly at ``path`` and its message contains ``fragment``."""
    hits = [p for p in problems if p.startswith(path + ": ") and fragment in p[len(path) + 2:]]
    assert hits, f"no problem at {path!r} containing {fragment!r}; got:\n" + "\n".join(problems)


# --------------------------------------------------------------------------------- valid


def test_valid_workflow_has_no_problems(wf):
    assert check_manifest(wf) == []


def test_valid_workflow_template_has_no_problems():
    assert check_manifest(load(VALID_WORKFLOW_TEMPLATE)) == []


def test_valid_cron_workflow_has_no_problems():
    assert check_manifest(load(VALID_CRON)) == []


def test_hera_built_workflow_has_no_problems():
    from hera.workflows import (
        DAG,
        Artifact,
        Container,
        NoneArchiveStrategy,
        Parameter,
        Resources,
        S3Artifact,
        Workflow,
    )
    from hera.workflows import models as m

    with Workflow(generate_name="hera-", entrypoint="main",
                  arguments=[Parameter(name="lr", value="0.1")]) as w:
        prep = Container(
            name="prep", image="python:3.11", command=["python", "-c"], args=["print(1)"],
            outputs=[Parameter(name="n", value_from=m.ValueFrom(path="/tmp/n")),
                     S3Artifact(name="data", path="/tmp/data", key="runs/data/", archive=NoneArchiveStrategy())],
            resources=Resources(cpu_request=1, memory_request="1Gi", gpus=1),
            node_selector={"gpu": "a100"},
            tolerations=[m.Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
            retry_strategy=m.RetryStrategy(limit=2), active_deadline_seconds=300,
        )
        train = Container(
            name="train", image="python:3.11",
            inputs=[Parameter(name="n"), Parameter(name="lr", default="0.01"), Artifact(name="data", path="/data")],
            args=["{{inputs.parameters.n}}", "{{inputs.parameters.lr}}", "{{workflow.parameters.lr}}"],
        )
        with DAG(name="main", parallelism=2):
            a = prep()
            b = train(arguments={"n": a.get_parameter("n"), "data": a.get_artifact("data")})
            a >> b
    doc = w.to_dict()
    assert check_manifest(doc) == []


def test_quantities_and_int_or_string_accept_what_argo_accepts(wf):
    res = wf["spec"]["templates"][2]["container"]["resources"]
    res["requests"] = {"cpu": 0.5, "memory": "1.5Gi", "ephemeral-storage": "1e9"}
    res["limits"] = {"cpu": 2, "memory": "2G"}
    retry = wf["spec"]["templates"][2]["retryStrategy"]
    retry["limit"] = "2"                   # IntOrString: string form
    retry["backoff"]["factor"] = "2"
    wf["spec"]["templates"][2]["activeDeadlineSeconds"] = "{{workflow.parameters.epochs}}"
    wf["spec"]["arguments"]["parameters"][0]["value"] = 3   # Argo AnyString takes numbers
    assert check_manifest(wf) == []


def test_yaml_text_entry_point_and_duplicate_keys():
    assert check_yaml(VALID_WORKFLOW + "---\n" + VALID_CRON) == []
    dup = VALID_WORKFLOW_TEMPLATE.replace("  entrypoint: main\n", "  entrypoint: main\n  entrypoint: main\n")
    problems = check_yaml(dup)
    assert any("duplicate key 'entrypoint'" in p for p in problems), problems


# ---------------------------------------------------------------------- strict model walk


def test_misspelled_top_level_spec_key(wf):
    wf["spec"]["templatess"] = wf["spec"]["templates"]
    assert_problem(check_manifest(wf), "spec.templatess", "unknown field (did you mean 'templates'?)")


def test_misspelled_container_key(wf):
    wf["spec"]["templates"][2]["container"]["imagePullPolicyy"] = "Always"
    assert_problem(check_manifest(wf), "spec.templates[2].container.imagePullPolicyy", "unknown field")


def test_misspelled_task_key(wf):
    tasks(wf)[2]["dependss"] = "prepare"
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[2].dependss",
                   "unknown field (did you mean 'depends'?)")


def test_unknown_keys_deep_in_kubernetes_types(wf):
    tmpl = wf["spec"]["templates"][4]
    tmpl["tolerations"][0]["efect"] = "NoSchedule"
    tmpl["container"]["resources"]["limitz"] = {}
    wf["spec"]["templates"][2]["outputs"]["artifacts"][0]["s3"]["kee"] = "x"
    wf["spec"]["templates"][2]["outputs"]["artifacts"][0]["archive"]["none"]["x"] = 1
    problems = check_manifest(wf)
    assert_problem(problems, "spec.templates[4].tolerations[0].efect", "unknown field")
    assert_problem(problems, "spec.templates[4].container.resources.limitz", "unknown field")
    assert_problem(problems, "spec.templates[2].outputs.artifacts[0].s3.kee", "unknown field")
    assert_problem(problems, "spec.templates[2].outputs.artifacts[0].archive.none.x", "unknown field")


def test_snake_case_key_is_unknown(wf):
    wf["spec"]["templates"][2]["container"]["image_pull_policy"] = "Always"
    assert_problem(check_manifest(wf), "spec.templates[2].container.image_pull_policy",
                   "camelCase name 'imagePullPolicy'")


def test_wrong_types(wf):
    wf["spec"]["templates"][0]["parallelism"] = "4"
    wf["spec"]["templates"][2]["container"]["env"] = [{"name": "N", "value": 5}]
    wf["spec"]["templates"][4]["nodeSelector"]["gpu"] = True
    wf["spec"]["templates"][1]["daemon"] = "yes"
    wf["spec"]["templates"][2]["container"]["command"] = "python prepare.py"
    problems = check_manifest(wf)
    # The first words are pydantic's own message; only the checker's "(got ...)" is asserted.
    assert_problem(problems, "spec.templates[0].parallelism", "(got str '4')")
    assert_problem(problems, "spec.templates[2].container.env[0].value", "(got int 5)")
    assert_problem(problems, 'spec.templates[4].nodeSelector.gpu', "(got bool True)")
    assert_problem(problems, "spec.templates[1].daemon", "(got str 'yes')")
    assert_problem(problems, "spec.templates[2].container.command", "expected a list")


def test_bad_quantity_and_int_or_string(wf):
    res = wf["spec"]["templates"][4]["container"]["resources"]
    res["limits"]["memory"] = "lots"
    res["limits"]["cpu"] = "{{inputs.parameters.cpu}}"
    wf["spec"]["templates"][2]["retryStrategy"]["limit"] = True
    problems = check_manifest(wf)
    assert_problem(problems, '''spec.templates[4].container.resources.limits.memory''', "invalid Kubernetes quantity")
    assert_problem(problems, "spec.templates[4].container.resources.limits.cpu", "use podSpecPatch")
    assert_problem(problems, "spec.templates[2].retryStrategy.limit", "IntOrString")


def test_missing_required_field(wf):
    del wf["spec"]["templates"][3]["inputs"]["parameters"][0]["name"]
    assert_problem(check_manifest(wf), "spec.templates[3].inputs.parameters[0].name", "required field missing")


def test_wrong_api_version_and_kind():
    doc = load(VALID_WORKFLOW)
    doc["apiVersion"] = "argoproj.io/v1"
    assert_problem(check_manifest(doc), "apiVersion", "argoproj.io/v1alpha1")
    doc["kind"] = "Pipeline"
    assert_problem(check_manifest(doc), "kind", "expected one of")


# ------------------------------------------------------------------------ argo lint rules


def test_missing_entrypoint_template(wf):
    wf["spec"]["entrypoint"] = "pipline"
    assert_problem(check_manifest(wf), "spec.entrypoint", "template name 'pipline' undefined (did you mean 'pipeline'?)")


def test_missing_entrypoint(wf):
    del wf["spec"]["entrypoint"]
    assert_problem(check_manifest(wf), "spec.entrypoint", "spec.entrypoint is required")
    wft = load(VALID_WORKFLOW_TEMPLATE)
    del wft["spec"]["entrypoint"]
    assert_problem(check_manifest(wft), "spec.entrypoint", "required")
    assert check_manifest(wft, require_template_entrypoint=False) == []


def test_cron_entrypoint_lives_in_workflow_spec():
    cron = load(VALID_CRON)
    cron["spec"]["workflowSpec"]["entrypoint"] = "nope"
    assert_problem(check_manifest(cron), "spec.workflowSpec.entrypoint", "'nope' undefined")


def test_unknown_template_reference(wf):
    tasks(wf)[3]["template"] = "trian"
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[3].template",
                   "template name 'trian' undefined (did you mean 'train'?)")


def test_unknown_template_reference_in_steps():
    wft = load(VALID_WORKFLOW_TEMPLATE)
    wft["spec"]["templates"][0]["steps"][0][0]["template"] = "fetchh"
    assert_problem(check_manifest(wft), "spec.templates[0].steps[0][0].template", "'fetchh' undefined")


def test_duplicate_template_name(wf):
    wf["spec"]["templates"][3]["name"] = "prepare"
    assert_problem(check_manifest(wf), "spec.templates[3].name", "template name 'prepare' is not unique")


def test_invalid_template_name(wf):
    wf["spec"]["templates"].append({"name": "bad_name", "suspend": {}})
    wf["spec"]["templates"].append({"name": "x" * 129, "suspend": {}})
    problems = check_manifest(wf)
    assert_problem(problems, "spec.templates[5].name", "'bad_name' is invalid")
    assert_problem(problems, "spec.templates[6].name", "no more than 128 characters")


def test_template_needs_exactly_one_type(wf):
    wf["spec"]["templates"][3]["script"] = {"image": "python:3.11", "source": "print(1)"}
    wf["spec"]["templates"].append({"name": "empty"})
    problems = check_manifest(wf)
    assert_problem(problems, "spec.templates[3]", "multiple template types specified (container, script)")
    assert_problem(problems, "spec.templates[5]", "type unspecified")


def test_task_name_starting_with_digit(wf):
    tasks(wf)[1]["name"] = "1prepare"
    problems = check_manifest(wf)
    assert_problem(problems, "spec.templates[0].dag.tasks[1].name", "cannot begin with a digit")


def test_duplicate_task_name(wf):
    tasks(wf)[0]["name"] = "prepare"
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[1].name", "task name 'prepare' is not unique")


def test_depends_naming_missing_task(wf):
    tasks(wf)[2]["depends"] = "prepair"
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[2].depends",
                   "dependency 'prepair' not defined (did you mean 'prepare'?)")


def test_dependencies_naming_missing_task(wf):
    for t in tasks(wf):
        t.pop("depends", None)
    tasks(wf)[2]["dependencies"] = ["nope"]
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[2].dependencies[0]", "dependency 'nope' not defined")


def test_depends_expression_syntax_and_results(wf):
    tasks(wf)[2]["depends"] = "prepare &&"
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[2].depends", "invalid depends expression")
    tasks(wf)[2]["depends"] = "prepare.Succeded"
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[2].depends",
                   "task result 'Succeded' for task 'prepare' is invalid")


def test_parse_depends():
    assert parse_depends("A && (B.Succeeded || C.Failed)") == [("A", None), ("B", "Succeeded"), ("C", "Failed")]
    assert parse_depends("!a-b.Errored||c") == [("a-b", "Errored"), ("c", None)]
    for bad in ["", "a &&", "(a", "a b", "a.Nope", "a) && (b"]:
        with pytest.raises(ValueError):
            parse_depends(bad)


def test_mixing_depends_and_dependencies(wf):
    tasks(wf)[3]["dependencies"] = ["shard"]
    assert_problem(check_manifest(wf), "spec.templates[0].dag",
                   "cannot use both 'depends' and 'dependencies' in the same DAG template")


def test_continue_on_with_depends(wf):
    tasks(wf)[1]["continueOn"] = {"failed": True}
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[1].continueOn",
                   "cannot use 'continueOn' when using 'depends'")


def test_any_succeeded_on_non_loop_task(wf):
    tasks(wf)[3]["depends"] = "prepare.AnySucceeded && server && shard"
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[3].depends",
                   "dependency 'prepare' uses an items-based condition such as .AnySucceeded")


def test_dependency_cycle(wf):
    tasks(wf)[1]["depends"] = "train"
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks", "dependency cycle detected")


def test_self_dependency_is_a_cycle(wf):
    tasks(wf)[1]["depends"] = "prepare"
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks", "dependency cycle detected: prepare->prepare")


def test_bad_parameter_name(wf):
    wf["spec"]["templates"][3]["inputs"]["parameters"][1]["name"] = "row count"
    problems = check_manifest(wf)
    assert_problem(problems, "spec.templates[3].inputs.parameters[1].name",
                   "Parameter/Artifact name must consist of alpha-numeric characters")


def test_duplicate_parameter_and_artifact_names(wf):
    wf["spec"]["templates"][3]["inputs"]["parameters"][1]["name"] = "shard"
    wf["spec"]["templates"][4]["outputs"]["artifacts"].append(
        {"name": "model", "path": "/tmp/m2", "s3": {"key": "x"}})
    problems = check_manifest(wf)
    assert_problem(problems, "spec.templates[3].inputs.parameters[1].name", "'shard' is not unique")
    assert_problem(problems, "spec.templates[4].outputs.artifacts[1].name", "'model' is not unique")


def test_undefined_input_parameter(wf):
    wf["spec"]["templates"][3]["container"]["args"].append("--x={{inputs.parameters.x}}")
    assert_problem(check_manifest(wf), "spec.templates[3].container.args[4]",
                   "failed to resolve {{inputs.parameters.x}}")


def test_undefined_input_artifact(wf):
    wf["spec"]["templates"][3]["container"]["args"].append("{{inputs.artifacts.datasett.path}}")
    assert_problem(check_manifest(wf), "spec.templates[3].container.args[4]",
                   "no input artifact 'datasett.path'")


def test_undefined_workflow_parameter(wf):
    wf["spec"]["templates"][4]["container"]["args"].append("--lr={{workflow.parameters.x}}")
    assert_problem(check_manifest(wf), "spec.templates[4].container.args[2]",
                   "failed to resolve {{workflow.parameters.x}}: no parameter 'x' in spec.arguments.parameters")


def test_workflow_variables(wf):
    args = wf["spec"]["templates"][4]["container"]["args"]
    args += ["{{workflow.name}}", "{{workflow.uid}}", "{{workflow.creationTimestamp.Y}}", "{{ workflow.namespace }}",
             "{{workflow.labels.app.kubernetes.io/managed-by}}", "{{=workflow.parameters.anything}}",
             "{{custom.thing}}"]
    assert check_manifest(wf) == []
    args.append("{{workflow.nmae}}")
    assert_problem(check_manifest(wf), "spec.templates[4].container.args[9]", "unknown workflow variable")


def test_missing_required_argument(wf):
    params = tasks(wf)[3]["arguments"]["parameters"]
    tasks(wf)[3]["arguments"]["parameters"] = [p for p in params if p["name"] != "server-ip"]
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[3]",
                   "inputs.parameters.server-ip was not supplied")


def test_missing_required_artifact_argument(wf):
    del tasks(wf)[2]["arguments"]["artifacts"]
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[2]", "inputs.artifacts.dataset was not supplied")


def test_argument_that_is_not_an_input(wf):
    tasks(wf)[3]["arguments"]["parameters"].append({"name": "epoch", "value": "1"})
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[3].arguments.parameters[2].name",
                   "argument parameter 'epoch' is not an input of template 'train'")


def test_argument_without_value(wf):
    tasks(wf)[3]["arguments"]["parameters"][1].pop("value")
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[3].arguments.parameters[1]",
                   "value or valueFrom is required")


def test_entrypoint_inputs_come_from_spec_arguments(wf):
    wf["spec"]["entrypoint"] = "shard"
    problems = check_manifest(wf)
    assert_problem(problems, "spec.entrypoint", "inputs.parameters.shard was not supplied")


def test_task_output_references(wf):
    t = tasks(wf)
    t[3]["arguments"]["parameters"][1]["value"] = "{{tasks.prepare.outputs.parameters.row}}"
    t[3]["arguments"]["parameters"][0]["value"] = "{{tasks.prepare.ip}}"
    t[2]["arguments"]["parameters"][1]["value"] = "{{tasks.nope.outputs.result}}"
    problems = check_manifest(wf)
    assert_problem(problems, "spec.templates[0].dag.tasks[3].arguments.parameters[1].value",
                   "template 'prepare' declares no output parameter 'row' (did you mean 'rows'?)")
    assert_problem(problems, "spec.templates[0].dag.tasks[3].arguments.parameters[0].value",
                   "is not a daemon")
    assert_problem(problems, "spec.templates[0].dag.tasks[2].arguments.parameters[1].value",
                   "has no task 'nope'")


def test_task_reference_must_be_an_ancestor(wf):
    tasks(wf)[3]["depends"] = "shard.AnySucceeded && prepare"   # server no longer an ancestor
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[3].arguments.parameters[0].value",
                   "task 'server' is not an ancestor of task 'train'")


def test_loop_outputs(wf):
    t = tasks(wf)
    t[3]["arguments"]["parameters"][1]["value"] = "{{tasks.shard.outputs.parameters}}"   # aggregate: fine
    assert check_manifest(wf) == []
    wf["spec"]["templates"][3]["outputs"] = {"artifacts": [{"name": "part", "path": "/tmp/p", "s3": {"key": "k"}}]}
    t[3]["arguments"]["artifacts"][0]["from"] = "{{tasks.shard.outputs.artifacts.part}}"
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[3].arguments.artifacts[0].from",
                   "not aggregated across a loop")


def test_item_outside_a_loop(wf):
    tasks(wf)[3]["arguments"]["parameters"][1]["value"] = "{{item}}"
    wf["spec"]["templates"][2]["container"]["command"].append("{{item.x}}")
    problems = check_manifest(wf)
    assert_problem(problems, "spec.templates[0].dag.tasks[3].arguments.parameters[1].value",
                   "item variables only exist in a task or step with withItems")
    assert_problem(problems, "spec.templates[2].container.command[3]", "failed to resolve {{item.x}}")


def test_steps_references_need_an_earlier_group():
    wft = load(VALID_WORKFLOW_TEMPLATE)
    steps = wft["spec"]["templates"][0]["steps"]
    steps[0].append(steps.pop(1)[0])       # score now runs in the same group as fetch
    assert_problem(check_manifest(wft), "spec.templates[0].steps[0][1].arguments.parameters[0].value",
                   "does not run in an earlier step group")


def test_empty_image(wf):
    wf["spec"]["templates"][3]["container"]["image"] = ""
    assert_problem(check_manifest(wf), "spec.templates[3].container.image", "container.image may not be empty")


def test_template_defaults_can_supply_image(wf):
    del wf["spec"]["templates"][3]["container"]["image"]
    wf["spec"]["templateDefaults"] = {"container": {"image": "python:3.11"}}
    assert check_manifest(wf) == []


def test_parallelism_on_container_template(wf):
    wf["spec"]["templates"][2]["parallelism"] = 2
    assert_problem(check_manifest(wf), "spec.templates[2].parallelism",
                   "parallelism is only valid for steps and dag templates")


def test_active_deadline_seconds_on_dag_template(wf):
    wf["spec"]["templates"][0]["activeDeadlineSeconds"] = 3600
    assert_problem(check_manifest(wf), "spec.templates[0].activeDeadlineSeconds",
                   "activeDeadlineSeconds is only valid for leaf templates")


def test_timeout_on_dag_template_and_unitless_timeout(wf):
    wf["spec"]["templates"][0]["timeout"] = "1h"
    wf["spec"]["templates"][2]["timeout"] = "600"
    problems = check_manifest(wf)
    assert_problem(problems, "spec.templates[0].timeout", "dag template doesn't support timeout field")
    assert_problem(problems, "spec.templates[2].timeout", "invalid duration format")


def test_with_sequence_count_and_end(wf):
    t = tasks(wf)[2]
    del t["withItems"]
    t["withSequence"] = {"count": "3", "end": "5"}
    t["arguments"]["parameters"][0]["value"] = "{{item}}"
    assert_problem(check_manifest(wf), "spec.templates[0].dag.tasks[2].withSequence",
                   "only one of count or end can be defined in withSequence")


def test_output_parameter_needs_a_path_in_container_templates(wf):
    wf["spec"]["templates"][2]["outputs"]["parameters"][0]["valueFrom"] = {"jsonPath": "{.x}"}
    assert_problem(check_manifest(wf), "spec.templates[2].outputs.parameters[0].valueFrom.path",
                   "path must be specified for container templates")


def test_gpu_requests_must_equal_limits(wf):
    res = wf["spec"]["templates"][4]["container"]["resources"]
    res["requests"]["nvidia.com/gpu"] = 2
    res["requests"]["memory"] = "32Gi"
    problems = check_manifest(wf)
    assert_problem(problems, 'spec.templates[4].container.resources.requests["nvidia.com/gpu"]',
                   "must be equal to nvidia.com/gpu limit")
    assert_problem(problems, "spec.templates[4].container.resources.requests.memory",
                   "must be less than or equal to memory limit")
    del res["limits"]["nvidia.com/gpu"]
    assert_problem(check_manifest(wf), "spec.templates[4].container.resources.limits",
                   "Limit must be set for non overcommitable resources")


# ------------------------------------------------------------------------- names, cron


def test_metadata_name_must_be_dns_1123(wf):
    del wf["metadata"]["generateName"]
    wf["metadata"]["name"] = "MNIST_train"
    assert_problem(check_manifest(wf), "metadata.name", "not a valid DNS-1123 subdomain")


def test_workflow_name_limit(wf):
    del wf["metadata"]["generateName"]
    wf["metadata"]["name"] = "w" * 63
    assert check_manifest(wf) == []
    wf["metadata"]["name"] = "w" * 64
    assert_problem(check_manifest(wf), "metadata.name", "must not be more than 63 characters long (currently 64)")


def test_cron_workflow_name_of_53_chars():
    cron = load(VALID_CRON)
    cron["metadata"]["name"] = "c" * 52
    assert check_manifest(cron) == []
    cron["metadata"]["name"] = "c" * 53
    assert_problem(check_manifest(cron), "metadata.name", "must not be more than 52 characters long (currently 53)")


def test_singular_schedule_is_rejected():
    cron = load(VALID_CRON)
    cron["spec"]["schedule"] = cron["spec"].pop("schedules")[0]
    problems = check_manifest(cron)
    assert_problem(problems, "spec.schedule", "unknown field (the singular 'schedule' was removed in Argo v4")
    assert_problem(problems, "spec.schedules", "required field missing")


def test_empty_schedules():
    cron = load(VALID_CRON)
    cron["spec"]["schedules"] = []
    assert_problem(check_manifest(cron), "spec.schedules", "at least one schedule")


def test_bad_cron_strings():
    cron = load(VALID_CRON)
    cron["spec"]["schedules"] = ["0 3 * * * *", "60 3 * * *", "0 3 * FOO *", "0 3 * * 7", "0 3 1-0 * *"]
    problems = check_manifest(cron)
    assert_problem(problems, "spec.schedules[0]", "expected exactly 5 fields")
    assert_problem(problems, "spec.schedules[1]", "above maximum (59)")
    assert_problem(problems, "spec.schedules[2]", "failed to parse int from 'FOO'")
    assert_problem(problems, "spec.schedules[3]", "above maximum (6)")
    assert_problem(problems, "spec.schedules[4]", "beyond end of range")


def test_cron_parser_accepts_robfig_syntax():
    for ok in ["*/5 * * * *", "0 0 1,15 * ?", "0 9-17/2 * JAN-jun mon-FRI", "@daily", "@every 1h30m",
               "CRON_TZ=America/New_York 0 6 * * *", "5 4 * * sun"]:
        assert cron_problem(ok) is None, ok
    assert cron_problem("@every soon") is not None
    assert cron_problem("@fortnightly") is not None


def test_cron_timezone_and_concurrency_policy():
    cron = load(VALID_CRON)
    cron["spec"]["timezone"] = "Mars/Olympus_Mons"
    cron["spec"]["concurrencyPolicy"] = "Queue"
    problems = check_manifest(cron)
    assert_problem(problems, "spec.timezone", "invalid timezone")
    assert_problem(problems, "spec.concurrencyPolicy", "'Queue' is not a valid concurrencyPolicy")


def test_label_values(wf):
    wf["metadata"]["labels"]["pipeline"] = "x" * 64
    assert_problem(check_manifest(wf), "metadata.labels.pipeline", "invalid label value")


# ----------------------------------------------------------------------------- size, speed


def test_oversized_document(wf):
    wf["spec"]["templates"][2]["container"]["args"] = ["x" * (1024 * 1024)]
    assert_problem(check_manifest(wf), "<document>", "exceeds the 1 MiB (1048576 bytes) Kubernetes object limit")


def _big_workflow(n: int) -> dict:
    doc = load(VALID_WORKFLOW)
    dag = doc["spec"]["templates"][0]["dag"]
    base = copy.deepcopy(dag["tasks"][2])
    for i in range(n):
        t = copy.deepcopy(base)
        t["name"] = f"shard-{i}"
        t["depends"] = "prepare" if i == 0 else f"shard-{i - 1} && prepare"
        dag["tasks"].append(t)
    return doc


def test_large_dag_is_fast():
    doc = _big_workflow(3000)
    start = time.perf_counter()
    problems = check_manifest(doc)
    elapsed = time.perf_counter() - start
    assert problems == []
    assert elapsed < 10, f"check_manifest took {elapsed:.2f}s on 3000 tasks"


def test_problems_are_not_hidden_by_each_other(wf):
    """Every rule reports independently: several broken things give several problems."""
    wf["spec"]["templatess"] = []
    wf["spec"]["templates"][2]["parallelism"] = 1
    tasks(wf)[1]["depends"] = "nothing"
    wf["spec"]["templates"][3]["container"]["image"] = ""
    problems = check_manifest(wf)
    assert len(problems) >= 4, problems


def test_inline_template_inputs_are_in_scope(wf):
    tasks(wf).append({
        "name": "report", "depends": "train",
        "arguments": {"parameters": [{"name": "msg", "value": "done"}]},
        "inline": {"inputs": {"parameters": [{"name": "msg"}]},
                   "container": {"image": "busybox:1.36", "args": ["echo", "{{inputs.parameters.msg}}"]}},
    })
    assert check_manifest(wf) == []


def _mutations(doc, rng, n):
    """Yield n copies of doc, each with one random node replaced or removed."""
    junk = [None, 0, -1, 1.5, True, "", "x", "{{", "{{tasks.}}", [], {}, [None], {"": None}, "0 0 * *"]

    def nodes(node, out):
        if isinstance(node, dict):
            for k in list(node):
                out.append((node, k))
                nodes(node[k], out)
        elif isinstance(node, list):
            for i in range(len(node)):
                out.append((node, i))
                nodes(node[i], out)
        return out

    for _ in range(n):
        d = copy.deepcopy(doc)
        parent, key = rng.choice(nodes(d, []))
        if isinstance(parent, dict) and rng.random() < 0.3:
            del parent[key]
        else:
            parent[key] = rng.choice(junk)
        yield d


@pytest.mark.parametrize("text", [VALID_WORKFLOW, VALID_WORKFLOW_TEMPLATE, VALID_CRON])
def test_never_raises_on_mangled_documents(text):
    import random

    rng = random.Random(1234)
    for doc in _mutations(load(text), rng, 400):
        problems = check_manifest(doc)
        assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
    for garbage in [None, [], "Workflow", {"kind": "Workflow"}, {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                                                  "metadata": [], "spec": "x"}]:
        assert check_manifest(garbage)
