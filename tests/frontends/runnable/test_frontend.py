"""The runnable front end: runnable's graph rules as located errors, anchors named by the
branch that uses them, initial parameters, and the flattened IR (ids, ordering, parameter
and catalog flow, unrolled maps)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pipec import ir
from pipec.errors import Diagnostics
from pipec.frontends import Options
from pipec.frontends.runnable import load
from pipec.frontends.runnable import params as initial_params
from pipec.loader import load_text


def lint(text: str, for_compile: bool = False, values: dict | None = None) -> tuple[list[ir.Workflow], list[str]]:
    diags = Diagnostics()
    doc = load_text(textwrap.dedent(text), "p.yaml", diags)
    workflows = load(doc, diags, Options(for_compile=for_compile, values=values or {}))
    return workflows, [d.format_text().split("\n")[0] for d in diags.sorted()]


def lowered(text: str, **kw) -> ir.Workflow:
    workflows, problems = lint(text, **kw)
    assert workflows, problems
    return workflows[0]


def spec(job: ir.Job) -> dict:
    return json.loads(next(e.value for e in job.env if e.name == "RUNNABLE_PIPEC_TASK"))


def order(wf: ir.Workflow) -> set[tuple[str, str]]:
    return {(d.source, d.target) for d in wf.dependencies}


LINEAR = """
    dag:
      start_at: a
      steps:
        a:
          type: task
          command: mod.make
          returns: [{name: x}, {name: model, kind: object}]
          next: b
        b:
          type: stub
          next: c
        c:
          type: task
          command_type: shell
          command: echo "$x"
          next: success
"""


def states(wf: ir.Workflow, job: str) -> list[tuple[str, dict]]:
    """(source job, edge spec) of every state a job reads, in merge order."""
    slots = {d.target_key: d.source for d in wf.dependencies
             if d.target == job and d.kind is ir.DepKind.FILES and d.source_key == ".pipec-state/state.json"}
    return [(slots[e["slot"]], {k: v for k, v in e.items() if k != "slot"}) for e in spec(wf.job(job))["states"]]


def test_a_linear_pipeline_is_a_chain_of_jobs_passing_the_run_s_state() -> None:
    wf = lowered(LINEAR)
    assert [j.id for j in wf.jobs] == ["a", "b", "c"]
    assert wf.job("b").kind is ir.JobKind.STUB
    assert {("a", "b"), ("b", "c")} <= order(wf)
    # The stub runs nothing: c reads a's state, through it.
    assert states(wf, "a") == []
    assert states(wf, "c") == [("a", {"kind": "next"})]
    # a returns an object: c may read it from a's outputs.
    assert spec(wf.job("c"))["objects"] == {"a": "objects-0"}
    assert any(d.source == "a" and d.source_key == ".pipec-objects/*" for d in wf.dependencies)
    assert all(j.on_error is ir.OnError.STOP_NEXT for j in wf.jobs if j.kind is ir.JobKind.EXECUTION)


def test_every_task_ships_the_runner_and_its_description() -> None:
    wf = lowered(LINEAR)
    job = wf.job("a")
    assert [f.path for f in job.files] == ["/tmp/pipec-runnable/runner.py"]
    assert spec(job) == {"step": "a", "kind": "python", "command": "mod.make", "seq": 1, "name": "a",
                         "returns": [{"name": "x", "kind": "json"}, {"name": "model", "kind": "object"}],
                         "states": [], "decode": [], "objects": {}, "catalog": [], "constants": {},
                         "handled": [], "ploomber": {}}


NESTED = """
    leaf: &leaf
      start_at: t
      steps:
        t:
          type: task
          command: mod.f
          returns: [{name: v}]
          next: success
    inner: &inner
      start_at: p
      steps:
        p:
          type: parallel
          branches: {b1: *leaf, b2: *leaf}
          next: success
    dag:
      start_at: outer
      steps:
        outer:
          type: parallel
          branches: {x: *inner, y: *inner}
          next: after
        after:
          type: task
          command: mod.g
          next: success
"""


def test_nested_parallel_is_flattened_with_dotted_names_and_synchronised() -> None:
    wf = lowered(NESTED)
    leaves = ["outer.x.p.b1.t", "outer.x.p.b2.t", "outer.y.p.b1.t", "outer.y.p.b2.t"]
    assert [j.name for j in wf.jobs] == [*leaves, "after"]
    assert {s for s, t in order(wf) if t == "after"} == set(leaves)
    # Branch states are merged in the order the branches are written (the last wins a tie).
    assert [s for s, _ in states(wf, "after")] == leaves
    assert [spec(wf.job(j))["seq"] for j in leaves] == [1, 2, 3, 4]


def test_four_levels_of_parallel_nesting() -> None:
    graph = "start_at: s\nsteps:\n  s:\n    type: task\n    command: m.f\n    next: success\n"
    for level in range(4):
        graph = ("start_at: p\nsteps:\n  p:\n    type: parallel\n    next: success\n    branches:\n"
                 + "".join(f"      {b}:\n" + textwrap.indent(graph, " " * 8) for b in ("l", "r")))
    text = "dag:\n" + textwrap.indent(graph, "  ")
    wf = lowered(text)
    assert len(wf.jobs) == 16
    assert wf.jobs[0].name == "p.l.p.l.p.l.p.l.s"
    assert wf.jobs[-1].name == "p.r.p.r.p.r.p.r.s"
    assert not wf.dependencies


def test_on_failure_routes_the_failure_to_the_handler() -> None:
    wf = lowered("""
        dag:
          start_at: a
          steps:
            a: {type: task, command: m.a, next: b, on_failure: h}
            b: {type: task, command: m.b, next: success}
            h: {type: task, command: m.h, next: fail}
    """)
    assert [j.id for j in wf.jobs] == ["a", "b", "h", "fail"]
    assert spec(wf.job("a"))["handled"] == ["failed:a"]
    assert states(wf, "b") == [("a", {"kind": "next", "unless": ["failed:a"]})]
    assert states(wf, "h") == [("a", {"kind": "failure", "flag": "failed:a"})]
    assert states(wf, "fail") == [("h", {"kind": "next"})]
    assert spec(wf.job("fail"))["kind"] == "fail" and spec(wf.job("fail"))["handled"] == []


def test_a_composite_s_on_failure_handles_every_job_inside_it() -> None:
    wf = lowered("""
        dag:
          start_at: p
          steps:
            p:
              type: parallel
              next: z
              on_failure: h
              branches:
                one: {start_at: a, steps: {a: {type: task, command: m.a, next: success}}}
                two: {start_at: b, steps: {b: {type: task, command: m.b, next: fail}}}
            z: {type: stub, next: success}
            h: {type: task, command: m.h, next: success}
    """)
    assert spec(wf.job("p.one.a"))["handled"] == ["failed:p"]
    assert spec(wf.job("p.two.fail"))["handled"] == ["failed:p"]
    assert states(wf, "h") == [("p.one.a", {"kind": "failure", "flag": "failed:p"}),
                               ("p.two.fail", {"kind": "failure", "flag": "failed:p"})]


def test_a_conditional_s_branches_are_gated_on_the_parameter() -> None:
    wf = lowered("""
        dag:
          start_at: toss
          steps:
            toss: {type: task, command: m.toss, returns: [{name: side}], next: c}
            c:
              type: conditional
              parameter: side
              next: after
              branches:
                heads: {start_at: h, steps: {h: {type: task, command: m.h, next: h2}, h2: {type: stub, next: success}}}
                tails: {start_at: t, steps: {t: {type: task, command: m.t, next: success}}}
            after: {type: task, command: m.after, next: success}
    """)
    assert spec(wf.job("c.heads.h"))["gate"] == {"parameter": "side", "key": "heads", "keys": ["heads", "tails"],
                                                 "step": "c"}
    assert spec(wf.job("c.tails.t"))["gate"]["key"] == "tails"
    assert "gate" not in spec(wf.job("after"))
    assert [s for s, _ in states(wf, "after")] == ["c.heads.h", "c.tails.t"]


def test_a_loop_is_unrolled_and_later_iterations_check_break_on() -> None:
    wf = lowered("""
        dag:
          start_at: l
          steps:
            l:
              type: loop
              max_iterations: 3
              break_on: done
              index_as: i
              next: after
              branch: {start_at: t, steps: {t: {type: task, command: m.t, returns: [{name: done}], next: success}}}
            after: {type: task, command: m.after, next: success}
    """)
    assert [j.id for j in wf.jobs] == ["l.0.t", "l.1.t", "l.2.t", "after"]
    assert [spec(wf.job(f"l.{i}.t"))["constants"] for i in range(3)] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert "gate" not in spec(wf.job("l.0.t"))
    assert spec(wf.job("l.2.t"))["gate"] == {"break_on": "done", "step": "l"}
    assert states(wf, "l.2.t") == [("l.1.t", {"kind": "next"})]
    assert [s for s, _ in states(wf, "after")] == ["l.0.t", "l.1.t", "l.2.t"]


def test_next_fail_is_a_job_that_fails_the_run() -> None:
    wf = lowered("""
        dag:
          start_at: a
          steps:
            a: {type: stub, next: fail}
    """)
    assert [j.id for j in wf.jobs] == ["a", "fail"]
    assert spec(wf.job("fail"))["kind"] == "fail"
    assert order(wf) == {("a", "fail")}


@pytest.mark.parametrize("text, expected", [
    ("""
     dag:
       start_at: a
       steps:
         a: {type: stub, next: b}
     """, "p.yaml:5:27: error: step 'a': next 'b' is not a step of the dag"),
    ("""
     dag:
       start_at: nope
       steps:
         a: {type: stub, next: success}
     """, "p.yaml:3:13: error: start_at 'nope' is not a step of the dag"),
    ("""
     dag:
       start_at: a
       steps:
         a: {type: stub, next: b}
         b: {type: stub, next: a}
     """, "p.yaml:5:5: error: the dag is cyclic: a -> b -> a; it never reaches success or fail"),
    ("""
     dag:
       start_at: a
       steps:
         a: {type: stub, next: success, on_failure: nowhere}
     """, "p.yaml:5:48: error: step 'a': on_failure 'nowhere' is not a step of the dag"),
    ("""
     dag:
       start_at: a
       steps:
         a: {type: stub, next: done}
         done: {type: success}
     """, "p.yaml:6:18: error: step 'done' is a success step; runnable adds the one success step of each graph "
          "itself, named 'success'"),
])
def test_graph_rules_are_located_errors(text: str, expected: str) -> None:
    workflows, problems = lint(text)
    assert not workflows
    assert expected in problems, problems


def test_an_error_inside_an_anchored_branch_points_at_the_anchor_and_names_the_branch() -> None:
    _, problems = lint("""
        leaf: &leaf
          start_at: t
          steps:
            t: {type: stub, next: gone}
        dag:
          start_at: p
          steps:
            p:
              type: parallel
              next: success
              branches: {one: *leaf, two: *leaf}
    """)
    assert problems == [
        "p.yaml:5:27: error: step 'p.one.t': next 'gone' is not a step of branch 'p.one'",
        "p.yaml:5:27: error: step 'p.two.t': next 'gone' is not a step of branch 'p.two'",
    ]


def test_map_over_params_file(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("items: [1, 'two', {k: 3}]\nother: 7\n")
    wf = lowered("""
        branch: &branch
          start_at: one
          steps:
            one: {type: task, command: m.one, returns: [{name: r}], next: two}
            two: {type: task, command: m.two, next: success}
        dag:
          start_at: m
          steps:
            m:
              type: map
              iterate_on: items
              iterate_as: item
              reducer: "lambda *x: max(x)"
              branch: *branch
              next: after
            after: {type: task, command: m.after, next: success}
    """, values={"params": str(params)})
    assert [j.name for j in wf.jobs] == ["m.0.one", "m.0.two", "m.1.one", "m.1.two", "m.2.one", "m.2.two",
                                         "m.fan-in", "after"]
    # Each copy has its own item; the second step reads the first step of the same copy.
    assert [spec(wf.job(f"m.{i}.one"))["constants"] for i in range(3)] == [{"item": 1}, {"item": "two"},
                                                                          {"item": {"k": 3}}]
    assert states(wf, "m.1.two") == [("m.1.one", {"kind": "next"})]
    reduce = spec(wf.job("m.fan-in"))
    assert [s for s, _ in states(wf, "m.fan-in")] == ["m.0.two", "m.1.two", "m.2.two"]
    assert reduce["parts"] == [[0], [1], [2]] and reduce["reduce"] == {"r": "lambda *x: max(x)"}
    assert states(wf, "after") == [("m.fan-in", {"kind": "next"})]
    # The iterated list is compiled in; the other initial parameter stays a pipeline parameter.
    assert [p.name for p in wf.params] == ["other"]


def test_an_empty_list_runs_no_branch(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("items: []\n")
    wf = lowered("""
        dag:
          start_at: m
          steps:
            m:
              type: map
              iterate_on: items
              iterate_as: item
              branch:
                start_at: one
                steps:
                  one: {type: task, command: m.one, returns: [{name: r}], next: success}
              next: after
            after: {type: task, command: m.after, next: success}
    """, values={"params": str(params)})
    assert [j.name for j in wf.jobs] == ["m.fan-in", "after"]
    assert spec(wf.job("m.fan-in"))["parts"] == [] and spec(wf.job("m.fan-in"))["reduce"] == {"r": None}


def test_initial_parameters_become_pipeline_parameters(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("simple: 1\nratio: 0.5\nname: x\nflag: true\ncomplex_param: {x: 10, y: hello}\n")
    wf = lowered(LINEAR, values={"params": str(params)})
    assert [(p.name, p.value) for p in wf.params] == [
        ("simple", 1), ("ratio", 0.5), ("name", "x"), ("flag", "true"), ("complex_param", '{"x": 10, "y": "hello"}')]
    assert dict(wf.params[0].targets) == {"a": "simple", "c": "simple"}
    a = wf.job("a")
    assert (a.param("simple").type, a.param("ratio").type, a.param("name").type) == ("integer", "float", "string")
    assert sorted(spec(a)["decode"]) == ["complex_param", "flag"]


def test_runnable_prm_environment_variables_override_the_file(tmp_path: Path, monkeypatch) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("simple: 1\n")
    monkeypatch.setenv("RUNNABLE_PRM_SIMPLE", "2")
    monkeypatch.setenv("RUNNABLE_PRM_extra", "not json")
    found = initial_params.load(str(params), Diagnostics())
    assert {k: v.value for k, v in found.items()} == {"simple": 2, "extra": "not json"}


def test_a_parameters_file_that_is_not_a_mapping_is_a_located_error(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("- 1\n- 2\n")
    _, problems = lint(LINEAR, values={"params": str(params)})
    assert problems == [f"{params}:1:1: error: a parameters file is a mapping of parameter names to values"]


def test_catalog_gets_stage_from_each_earlier_put_filtered_by_its_globs() -> None:
    wf = lowered("""
        dag:
          start_at: a
          steps:
            a: {type: task, command: m.a, catalog: {put: [df.csv, "data/*.txt"]}, next: b}
            b: {type: task, command: m.b, catalog: {put: [df.csv]}, next: c}
            c: {type: task, command: m.c, catalog: {get: [df.csv]}, next: success}
    """)
    c = wf.job("c")
    assert [(i.name, i.regex, i.keep_directories) for i in c.inputs if i.name.startswith("catalog")] == [
        ("catalog-0", r"^(df\.csv|data/[^/]*\.txt)$", "full"), ("catalog-1", r"^(df\.csv)$", "full")]
    assert spec(c)["catalog"] == [{"slot": "catalog-0", "job": "a"}, {"slot": "catalog-1", "job": "b"}]
    assert {(d.source, d.source_key, d.target_key) for d in wf.dependencies
            if d.kind is ir.DepKind.FILES and d.target_key.startswith("catalog")} == {
        ("a", "df.csv", "catalog-0"), ("b", "df.csv", "catalog-1")}


def test_a_map_over_a_run_time_list_fans_every_branch_job_out_over_the_printed_list() -> None:
    wf = lowered("""
        dag:
          start_at: make
          steps:
            make: {type: task, command: m.make, returns: [{name: items}], next: m}
            m:
              type: map
              iterate_on: items
              iterate_as: item
              reducer: "lambda *x: sum(x)"
              branch:
                start_at: one
                steps:
                  one: {type: task, command: m.one, returns: [{name: r}], next: two}
                  two: {type: stub, next: three}
                  three: {type: task, command: m.three, next: success}
              next: after
            after: {type: task, command: m.after, next: success}
    """)
    assert [j.id for j in wf.jobs] == ["make", "m.fan-out", "m.one", "m.two", "m.three", "m.fan-in", "after"]
    assert spec(wf.job("m.fan-out"))["kind"] == "items" and wf.job("m.fan-out").sweep is None
    for jid in ("m.one", "m.three"):
        sweep = wf.job(jid).sweep
        assert sweep.kind is ir.SweepKind.RUNTIME
        assert (sweep.fanout.source, sweep.fanout.key, sweep.fanout.param) == ("m.fan-out", "items", "item")
        assert spec(wf.job(jid))["item"] == "item"
    # Each item's jobs read that item's state only.
    assert states(wf, "m.three") == [("m.one", {"kind": "next", "aligned": "same"})]
    assert states(wf, "m.one") == [("m.fan-out", {"kind": "next"})]
    fan_in = spec(wf.job("m.fan-in"))
    assert states(wf, "m.fan-in") == [("m.fan-out", {"kind": "next"}), ("m.three", {"kind": "next", "optional": True})]
    assert fan_in["executions"] == [1] and fan_in["reduce"] == {"r": "lambda *x: sum(x)"}


def test_a_run_time_map_inside_a_run_time_map_fans_out_over_every_pair() -> None:
    text = """
        dag:
          start_at: make
          steps:
            make: {type: task, command: m.make, returns: [{name: items}], next: m}
            m:
              type: map
              iterate_on: items
              iterate_as: item
              branch:
                start_at: inner
                steps:
                  inner:
                    type: map
                    iterate_on: item
                    iterate_as: sub
                    branch: {start_at: s, steps: {s: {type: task, command: m.s, next: success}}}
                    next: success
              next: success
    """
    wf = lowered(text, for_compile=True)
    assert [j.id for j in wf.jobs] == ["make", "m.fan-out", "m.inner.fan-out", "m.inner.flatten", "m.inner.s",
                                       "m.inner.fan-in", "m.fan-in"]
    fans = {j.id: j.sweep.fanout.source for j in wf.jobs if j.sweep is not None}
    # The inner fan-out and fan-in run once per outer item; the branch once per (outer, inner) pair.
    assert fans == {"m.inner.fan-out": "m.fan-out", "m.inner.fan-in": "m.fan-out", "m.inner.s": "m.inner.flatten"}
    assert spec(wf.job("m.inner.s"))["nested"] is True
    assert states(wf, "m.inner.flatten") == [("m.inner.fan-out", {"kind": "next"})]
    assert states(wf, "m.inner.s") == [("m.inner.fan-out", {"kind": "next", "aligned": "outer"})]
    assert states(wf, "m.inner.fan-in") == [("m.inner.fan-out", {"kind": "next", "aligned": "same"}),
                                            ("m.inner.s", {"kind": "next", "aligned": "rows", "optional": True})]
    assert states(wf, "m.fan-in") == [("m.fan-out", {"kind": "next"}),
                                      ("m.inner.fan-in", {"kind": "next", "optional": True})]


def test_overrides_select_a_profile_with_its_image_and_resources() -> None:
    from pipec.config import Config

    diags = Diagnostics()
    doc = load_text(textwrap.dedent("""
        dag:
          start_at: a
          steps:
            a: {type: task, command: m.a, overrides: {argo: gpu}, next: b}
            b: {type: task, command: m.b, overrides: {argo: nope}, next: success}
    """), "p.yaml", diags)
    config = Config(data={"profiles": {"gpu": {"image": "cuda:12", "gpus": 1}}})
    (wf,) = load(doc, diags, Options(config=config, values={"image": "base:1"}))
    assert (wf.job("a").image, wf.job("a").resources.profile) == ("cuda:12", "gpu")
    assert (wf.job("b").image, wf.job("b").resources.profile) == ("base:1", None)
    assert any("override 'nope' is not a profile of pipec.toml" in d.message for d in diags.items)


def test_secrets_are_keys_of_one_credential_read_from_the_engine_s_store() -> None:
    wf = lowered("""
        dag:
          start_at: a
          steps:
            a: {type: task, command: m.a, secrets: [API_TOKEN, DB_PASSWORD], next: success}
    """)
    (secret,) = wf.job("a").secrets
    assert (secret.name, secret.env) == ("runnable", (("API_TOKEN", "API_TOKEN"), ("DB_PASSWORD", "DB_PASSWORD")))


def test_max_attempts_become_retries_and_unreachable_steps_are_warned() -> None:
    workflows, problems = lint("""
        dag:
          start_at: a
          steps:
            a: {type: task, command: m.a, max_attempts: 3, next: success}
            lost: {type: task, command: m.b, next: success}
    """)
    assert workflows[0].job("a").retries == 2
    assert [j.id for j in workflows[0].jobs] == ["a"]
    assert problems == ["p.yaml:6:5: warning: step 'lost' is never reached from start_at 'a' and never runs "
                        "[PC302 unreachable-step]"]


def test_a_parameter_json_cannot_carry_is_a_located_error(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("day: 2020-01-01\nnested: {a: [1, .inf]}\nfine: '2020-01-01'\n")
    _, problems = lint(LINEAR, values={"params": str(params)})
    assert problems == [
        f"{params}:1:6: error: parameter 'day': the date 2020-01-01 is not a JSON value, so no task could receive it",
        f"{params}:2:17: error: parameter 'nested': the number inf is not a JSON value, so no task could receive it"]


def test_a_return_name_that_is_not_an_identifier_is_a_warning() -> None:
    workflows, problems = lint("""
        dag:
          start_at: a
          steps:
            a: {type: task, command: m.a, returns: [{name: 1x}], next: success}
    """)
    assert workflows
    assert problems == ["p.yaml:5:52: warning: step 'a': return name '1x' is not a Python identifier, so no later "
                        "python task can take it as an argument and no shell task can export it "
                        "[PC307 return-name-not-identifier]"]
