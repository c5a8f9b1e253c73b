"""The OSMO service's validation rules that need no service (reference §4), each a located
error, all reported together."""

from __future__ import annotations

import re
import textwrap

import pytest

from pipec.errors import Diagnostics
from pipec.frontends import Options
from pipec.frontends.osmo import load
from pipec.loader import load_text


def expand(text: str) -> str:
    """The document with each `@TASK` line replaced by a task's image and command lines at
    its indentation."""
    return re.sub(r"(?m)^( *)@TASK$", r"\1image: ubuntu\n\1command: [echo]", textwrap.dedent(text))


def lint(text: str, for_compile: bool = False) -> tuple[list, list[str]]:
    diags = Diagnostics()
    doc = load_text(expand(text), "wf.yaml", diags)
    workflows = load(doc, diags, Options(for_compile=for_compile))
    return workflows, [d.format_text().split("\n")[0] for d in diags.sorted()]


def test_a_valid_group_workflow_has_no_problems() -> None:
    workflows, problems = lint("""
        workflow:
          name: ok
          groups:
          - name: first
            tasks:
            - name: a
              @TASK
          - name: second
            tasks:
            - name: b
              lead: true
              @TASK
              inputs: [{task: a}]
            - name: c
              @TASK
        """)
    assert problems == [] and len(workflows) == 1


def test_tasks_and_groups_together_are_refused() -> None:
    _, problems = lint("""
        workflow:
          name: both
          tasks:
          - name: a
            @TASK
          groups:
          - name: g
            tasks:
            - name: b
              @TASK
        """)
    assert problems == ["wf.yaml:8:3: error: a workflow has either 'tasks' or 'groups', not both"]


def test_names_collide_ignoring_case_and_underscores() -> None:
    _, problems = lint("""
        workflow:
          name: names
          groups:
          - name: Train_Step
            tasks:
            - name: train-step
              @TASK
          - name: osmo_ctrl
            tasks:
            - name: x
              @TASK
        """)
    assert problems == [
        "wf.yaml:7:13: error: task name 'train-step' is already used by group 'Train_Step' at line 5 (names are "
        "compared ignoring case, with '_' the same as '-')",
        "wf.yaml:10:11: error: the group name 'osmo_ctrl' is reserved by OSMO",
    ]


def test_a_group_needs_exactly_one_lead() -> None:
    _, problems = lint("""
        workflow:
          name: leads
          groups:
          - name: none
            tasks:
            - name: a
              @TASK
            - name: b
              @TASK
          - name: two
            tasks:
            - name: c
              lead: true
              @TASK
            - name: d
              lead: true
              @TASK
        """)
    assert problems == ["wf.yaml:5:11: error: group 'none' has no lead task",
                        "wf.yaml:20:13: error: group 'two' has several lead tasks ('c' and 'd')"]


def test_inputs_name_earlier_groups_only() -> None:
    _, problems = lint("""
        workflow:
          name: order
          tasks:
          - name: a
            @TASK
            inputs: [{task: b}, {task: a}, {task: trian}, {task: "wf-1:a"}]
          - name: b
            @TASK
          - name: train
            @TASK
        """)
    assert [p.split(": error: ")[1][:40] for p in problems] == [
        "'a' reads 'b', whose group 'b-group' is ",
        "task 'a' reads itself: a group's tasks s",
        "task input 'trian' does not exist",
        "input 'wf-1:a' reads a task of an earlie",
    ]
    assert all(p.startswith("wf.yaml:8:") for p in problems)


def test_a_task_cannot_read_a_peer_of_its_own_group() -> None:
    _, problems = lint("""
        workflow:
          name: peers
          groups:
          - name: g
            tasks:
            - name: a
              lead: true
              @TASK
            - name: b
              @TASK
              inputs: [{task: a}]
        """)
    assert problems == ["wf.yaml:14:23: error: task 'b' reads 'a' of its own group: a group's tasks start "
                        "together, so none can wait for another"]


@pytest.mark.parametrize(("files", "message"), [
    ("[{path: /osmo/x, contents: a}]", "file path '/osmo/x' is under /osmo"),
    ("[{path: /a, contents: a}, {path: /a, contents: b}]", "writes file '/a' twice"),
    ("[{path: /a, contents: a, localpath: x}]", "either 'contents' or 'localpath'"),
    ("[{path: /a}]", "a file needs 'contents' or 'localpath'"),
    ("[{path: ' ', contents: a}]", "a file's path cannot be empty"),
])
def test_file_rules(files: str, message: str) -> None:
    _, problems = lint(f"""
        workflow:
          name: files
          tasks:
          - name: a
            @TASK
            files: {files}
        """)
    assert len(problems) == 1 and message in problems[0] and problems[0].startswith("wf.yaml:8:"), problems


def test_regexes_must_compile_and_exit_codes_parse() -> None:
    _, problems = lint("""
        workflow:
          name: rx
          tasks:
          - name: a
            @TASK
            inputs: [{url: "s3://b/p", regex: "(unclosed"}]
            exitActions: {COMPLETE: "5-1", fail: "1-3"}
            checkpoint: [{path: /c, url: "s3://b/c", frequency: 10m, regex: "*x"}]
        """)
    assert [p.split(": error: ")[0] for p in problems] == ["wf.yaml:8:39", "wf.yaml:9:29", "wf.yaml:10:69"]


def test_resources_must_exist_and_use_binary_units() -> None:
    _, problems = lint("""
        workflow:
          name: res
          resources:
            gpu:
              memory: 2Gi
          tasks:
          - name: a
            @TASK
          - name: b
            @TASK
            resource: gpus
        """)
    assert problems == [
        "wf.yaml:8:11: error: task 'a' names no resource and the workflow has no 'default' resource",
        "wf.yaml:14:15: error: task 'b' requests undefined resource 'gpus'",
    ]


def test_labels_follow_kubernetes_syntax() -> None:
    _, problems = lint("""
        workflow:
          name: lab
          labels: {"team": "ml", "bad key!": "x", "example.com/ok": "v", "x/y/z": "v", "long": "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"}
          tasks:
          - name: a
            @TASK
        """)
    assert len(problems) == 3 and all(p.startswith("wf.yaml:4:") for p in problems), problems


def test_a_missing_localpath_warns_in_check_and_fails_a_compile(tmp_path) -> None:
    text = """
        workflow:
          name: lp
          tasks:
          - name: a
            @TASK
            files: [{path: /tmp/a.sh, localpath: a.sh}]
        """
    assert lint(text)[1][0].startswith("wf.yaml:8:42: warning: localpath 'a.sh' cannot be read")
    assert lint(text, for_compile=True)[1][0].startswith("wf.yaml:8:42: error: localpath 'a.sh' cannot be read")


def test_tokens_must_name_something() -> None:
    _, problems = lint("""
        workflow:
          name: tok
          tasks:
          - name: a
            @TASK
            args: ["{{input:0}}", "{{host:b}}", "{{input:z}}"]
        """)
    assert problems == [
        "wf.yaml:8:12: error: {{input:0}} names input 0, but the task has 0 inputs (numbered from 0)",
        "wf.yaml:8:27: error: {{host:b}} names no task of this group (a host name reaches only the tasks of "
        "the same group)",
        "wf.yaml:8:41: error: {{input:z}} names no task input of this task",
    ]
