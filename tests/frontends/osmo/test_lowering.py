"""OSMO workflows in the IR: a job per task, groups, dependencies by `task:` inputs with the
group-level waiting OSMO does, tokens as parts, and the task's other fields as data."""

from __future__ import annotations

import textwrap
from pathlib import Path

from pipec import ir
from pipec.errors import Diagnostics
from pipec.frontends import Options
from pipec.frontends.osmo import load
from pipec.loader import load_text

GROUPS = """\
workflow:
  name: three-groups
  timeout: {exec_timeout: 2h, queue_timeout: 10m}
  resources:
    default: {cpu: 2, memory: 4Gi}
    big: {cpu: 8, gpu: 2, memory: 1.5Ti, storage: 100Gi, platform: dgx}
  groups:
  - name: group-1
    tasks:
    - name: task-1
      image: ubuntu
      command: [sh, -c]
      args: ["echo $HOME > {{output}}/a.txt"]
    - name: task-2
      lead: true
      image: ubuntu
      command: [echo, "{{workflow_id}}"]
  - name: group-2
    barrier: false
    ignoreNonleadStatus: false
    tasks:
    - name: task-5
      lead: true
      image: python:3.12
      resource: big
      command: [python3, -c, "print(1)", "{{input:0}}/a.txt", "{{input:task-2}}", "{{host:task-6}}:29500"]
      inputs: [{task: task-1, regex: '.*\\.txt$'}, {task: task-2}, {url: "s3://bucket/data"}]
      environment: {OUT: "{{output}}/x", N: 3, FLAG: true}
      outputs: [{url: "s3://bucket/{{workflow_id}}/out"}]
      checkpoint: [{path: ckpt, url: "s3://bucket/ckpt", frequency: 30m, regex: ".*\\\\.pt"}]
      exitActions: {COMPLETE: "0", RESCHEDULE: "3,100-110"}
      credentials: {hf: {HF_TOKEN: token}, aws: /root/.aws}
      files:
      - {path: /tmp/run.sh, contents: "cd {{output}}\\n"}
      - {path: bin/x, contents: aGk=, base64: true}
    - name: task-6
      image: ubuntu
      command: [sleep, "100"]
"""


def lower(text: str, file: str = "wf.yaml") -> tuple[ir.Workflow | None, list[str]]:
    diags = Diagnostics()
    doc = load_text(textwrap.dedent(text), file, diags)
    workflows = load(doc, diags, Options())
    return (workflows[0] if workflows else None), [d.format_text().split("\n")[0] for d in diags.sorted()]


def test_tasks_become_jobs_and_groups_of_several_tasks_become_ir_groups() -> None:
    wf, problems = lower(GROUPS)
    assert wf is not None, problems
    assert [j.id for j in wf.jobs] == ["task-1", "task-2", "task-5", "task-6"]
    assert wf.groups == (
        ir.Group("group-1", "task-2", ("task-1", "task-2"), barrier=True, lead_decides=True, location=wf.groups[0].location),
        ir.Group("group-2", "task-5", ("task-5", "task-6"), barrier=False, lead_decides=False,
                 location=wf.groups[1].location),
    )
    assert {j.group for j in wf.jobs} == {"group-1", "group-2"}
    assert all(j.on_error is ir.OnError.STOP_NEXT for j in wf.jobs)
    assert all(j.timeout_seconds == 7200 for j in wf.jobs)
    assert wf.layout.inputs == "/osmo/data/input" and wf.layout.outputs == "/osmo/data/output"
    assert problems == ["wf.yaml:3:46: warning: queue_timeout is not enforced: Argo, GitHub Actions and Slurm have "
                        "no limit on the time a job waits for resources [PC201 queue-timeout-ignored]",
                        "wf.yaml:6:68: warning: platform 'dgx' of resource 'big' is not a machine profile of "
                        "pipec.toml: its jobs run on whatever node the engine picks [PC202 unmapped-platform]"]


def test_a_group_waits_for_every_group_any_of_its_tasks_reads() -> None:
    wf, _ = lower(GROUPS)
    assert wf is not None
    edges = {(d.source, d.target, d.kind, d.source_key, d.target_key) for d in wf.dependencies}
    assert edges == {
        ("task-1", "task-5", ir.DepKind.FILES, "*", "0"),
        ("task-2", "task-5", ir.DepKind.FILES, "*", "1"),
        # task-6 reads nothing, but its group starts with task-5's: it waits for group-1's lead.
        ("task-2", "task-6", ir.DepKind.ORDER, "", ""),
    }


def test_tokens_become_parts_and_the_command_stays_argv() -> None:
    wf, _ = lower(GROUPS)
    assert wf is not None
    t5 = wf.job("task-5")
    assert t5.command.kind is ir.CommandKind.ARGV
    assert t5.command.lines == (
        (ir.Text("python3"),), (ir.Text("-c"),), (ir.Text("print(1)"),),
        (ir.Path("inputs"), ir.Text("/0/a.txt")), (ir.Path("inputs"), ir.Text("/1")),
        (ir.Host("task-6"), ir.Text(":29500")),
    )
    assert wf.job("task-2").command.lines[1] == (ir.RunId(),)
    assert wf.job("task-1").command.lines[2] == (ir.Text("echo $HOME > "), ir.Path("outputs"), ir.Text("/a.txt"))


def test_inputs_environment_files_secrets_uploads_and_exit_codes() -> None:
    wf, _ = lower(GROUPS)
    assert wf is not None
    t5 = wf.job("task-5")
    assert [(i.name, i.urls, i.regex, i.keep_directories) for i in t5.inputs] == [
        ("0", (), r".*\.txt$", "full"), ("1", (), None, "full"), ("2", ("s3://bucket/data",), None, "full")]
    assert [(e.name, e.value, e.word) for e in t5.env] == [
        ("OUT", "{{output}}/x", (ir.Path("outputs"), ir.Text("/x"))), ("N", "3", ()), ("FLAG", "True", ())]
    assert [(f.path, f.contents, f.base64) for f in t5.files] == [
        ("/tmp/run.sh", (ir.Text("cd "), ir.Path("outputs"), ir.Text("\n")), False), ("/bin/x", (ir.Text("aGk="),), True)]
    assert [(s.name, s.env, s.mount) for s in t5.secrets] == [("hf", (("HF_TOKEN", "token"),), None),
                                                              ("aws", (), "/root/.aws")]
    assert [(u.url, u.source, u.regex, u.every_seconds) for u in t5.uploads] == [
        ((ir.Text("s3://bucket/"), ir.RunId(), ir.Text("/out")), (), None, None),
        ((ir.Text("s3://bucket/ckpt"),), (ir.Text("/ckpt"),), r".*\.pt", 1800)]
    assert t5.exit_codes is not None
    assert (t5.exit_codes.complete, t5.exit_codes.fail, t5.exit_codes.reschedule) == (((0, 0),), (), ((3, 3), (100, 110)))
    assert t5.retries == 3 and wf.job("task-6").retries == 0


def test_resource_profiles_become_resources() -> None:
    wf, _ = lower(GROUPS)
    assert wf is not None
    assert wf.job("task-1").resources == ir.Resources(cpu=2.0, memory_mb=4096)
    assert wf.job("task-5").resources == ir.Resources(cpu=8.0, memory_mb=1572864, gpus=2, storage_mb=102400,
                                                      profile="dgx")


def test_flat_tasks_are_plain_jobs() -> None:
    wf, problems = lower("""\
        workflow:
          name: flat
          tasks:
          - name: a
            image: alpine
            command: [echo, a]
          - name: b
            image: alpine
            command: [cat, "{{input:a}}/x"]
            inputs: [{task: a}]
        """)
    assert wf is not None and problems == []
    assert wf.groups == () and all(j.group is None for j in wf.jobs)
    assert [(d.source, d.target, d.kind) for d in wf.dependencies] == [("a", "b", ir.DepKind.FILES)]


def test_localpath_is_read_relative_to_the_workflow_file(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi {{output}}')\n")
    wf, problems = lower("""\
        workflow:
          name: lp
          tasks:
          - name: a
            image: alpine
            command: [python3, /tmp/train.py]
            files: [{path: /tmp/train.py, localpath: train.py}]
        """, str(tmp_path / "wf.yaml"))
    assert wf is not None and problems == []
    # The CLI inlines the file as contents, whose tokens the service then replaces.
    assert wf.job("a").files[0].contents == (ir.Text("print('hi "), ir.Path("outputs"), ir.Text("')\n"))


def test_a_platform_without_a_machine_profile_is_a_warning() -> None:
    text = "workflow:\n  name: p\n  resources:\n    default: {cpu: 1, platform: dgx}\n  tasks:\n" \
           "  - {name: a, image: x, command: [\"true\"]}\n"
    diags = Diagnostics()
    doc = load_text(text, "wf.yaml", diags)
    assert load(doc, diags, Options())
    assert [d.format_text().split("\n")[0] for d in diags.sorted()] == [
        "wf.yaml:4:33: warning: platform 'dgx' of resource 'default' is not a machine profile of pipec.toml: its "
        "jobs run on whatever node the engine picks [PC202 unmapped-platform]"]
    diags = Diagnostics()
    from pipec.config import Config

    assert load(load_text(text, "wf.yaml", diags), diags, Options(config=Config(data={"profiles": {"dgx": {}}})))
    assert diags.sorted() == []
