"""Passes: engine-safe ids, cycle reports with full paths, deterministic topological order."""

from __future__ import annotations

import pytest

from pipec import ir
from pipec.errors import Diagnostics, Location
from pipec.names import safe_id
from pipec.passes import Context, run_passes


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Train model (MNIST)", "train-model-mnist"),
        ("train_conservative", "train-conservative"),
        ("  --weird__NAME--  ", "weird-name"),
        ("3-trainings", "j-3-trainings"),
        ("日本語", "job"),
        ("a" * 80, "a" * 54 + "-" + "e1f5f6bb"),
    ],
)
def test_safe_id(name: str, expected: str):
    got = safe_id(name)
    if len(name) == 80:
        assert len(got) == 63 and got.startswith("a" * 54 + "-")
    else:
        assert got == expected


def job(name: str, line: int = 1) -> ir.Job:
    return ir.Job(id=name, name=name, location=Location("f.yaml", line, 1))


def dep(a: str, b: str, line: int = 1) -> ir.Dependency:
    return ir.Dependency(a, b, ir.DepKind.ORDER, location=Location("f.yaml", line, 1))


def test_ids_are_rewritten_everywhere():
    wf = ir.Workflow(
        "w",
        jobs=(job("Prep Data"), ir.Job(id="Train", name="Train", group="Train",
                                       sweep=ir.Sweep(ir.SweepKind.RUNTIME, 0, fanout=ir.RuntimeFanout("Prep Data", "k", "p")))),
        dependencies=(dep("Prep Data", "Train"),),
        params=(ir.PipelineParam("x", 1, (("Train", "lr"),)),),
        groups=(ir.Group("Train", "Train", ("Train",)),),
    )
    out = run_passes(wf, Context(Diagnostics()))
    assert [j.id for j in out.jobs] == ["prep-data", "train"]
    assert out.dependencies[0].source == "prep-data" and out.dependencies[0].target == "train"
    assert out.params[0].targets == (("train", "lr"),)
    assert out.groups[0] == ir.Group("train", "train", ("train",))
    assert out.jobs[1].group == "train"
    assert out.jobs[1].sweep.fanout.source == "prep-data"


def test_id_collisions_are_reported():
    diags = Diagnostics()
    run_passes(ir.Workflow("w", jobs=(job("train_a", 3), job("Train-A", 7))), Context(diags))
    [d] = diags.items
    assert d.location.line == 7
    assert "'train_a' (line 3) and 'Train-A' both become the job id 'train-a'" in d.message


def test_every_cycle_is_reported_with_its_full_path():
    jobs = tuple(job(n) for n in "abcdxy")
    deps = (dep("a", "b", 10), dep("b", "c", 11), dep("c", "a", 12), dep("c", "d", 13),
            dep("x", "y", 20), dep("y", "x", 21))
    diags = Diagnostics()
    run_passes(ir.Workflow("w", jobs=jobs, dependencies=deps), Context(diags))
    messages = sorted(d.message for d in diags.items)
    assert len(messages) == 2
    assert any(m in messages[0] for m in ("a -> b -> c -> a", "b -> c -> a -> b", "c -> a -> b -> c"))
    assert "x -> y -> x" in messages[1] or "y -> x -> y" in messages[1]


def test_topological_order_keeps_author_order_for_ties():
    jobs = tuple(job(n) for n in ["report", "b2", "b1", "prep"])
    deps = (dep("prep", "b1"), dep("prep", "b2"), dep("b1", "report"), dep("b2", "report"))
    out = run_passes(ir.Workflow("w", jobs=jobs, dependencies=deps), Context(Diagnostics()))
    assert [j.id for j in out.jobs] == ["prep", "b2", "b1", "report"]


def test_workflow_indexes():
    wf = ir.Workflow("w", jobs=(job("a"), job("b")), dependencies=(dep("a", "b"), dep("a", "b")))
    assert wf.upstream("b") == ("a",)
    assert wf.upstream("a") == ()
    assert len(wf.incoming("b")) == 2
    assert wf.job("b").name == "b"
