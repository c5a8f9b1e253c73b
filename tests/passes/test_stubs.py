"""Stubs are removed; what came after a stub waits for what came before it."""

from __future__ import annotations

from pipec import ir
from pipec.errors import Diagnostics
from pipec.passes import Context
from pipec.passes.stubs import remove_stubs


def job(jid: str, stub: bool = False) -> ir.Job:
    return ir.Job(id=jid, name=jid, kind=ir.JobKind.STUB if stub else ir.JobKind.EXECUTION)


def dep(a: str, b: str, kind: ir.DepKind = ir.DepKind.ORDER) -> ir.Dependency:
    return ir.Dependency(a, b, kind)


def test_a_chain_of_stubs_between_a_fan_in_and_a_fan_out_is_rewired() -> None:
    wf = ir.Workflow("w", jobs=(job("a"), job("b"), job("s1", True), job("s2", True), job("c"), job("d")),
                     dependencies=(dep("a", "s1"), dep("b", "s1"), dep("s1", "s2"), dep("s2", "c"), dep("s2", "d"),
                                   dep("a", "c", ir.DepKind.FILES)))
    out = remove_stubs(wf, Context(Diagnostics()))
    assert [j.id for j in out.jobs] == ["a", "b", "c", "d"]
    assert {(d.source, d.target, d.kind) for d in out.dependencies} == {
        ("a", "c", ir.DepKind.FILES), ("b", "c", ir.DepKind.ORDER), ("a", "d", ir.DepKind.ORDER),
        ("b", "d", ir.DepKind.ORDER)}


def test_a_workflow_of_stubs_only_and_one_without_stubs_are_unchanged() -> None:
    wf = ir.Workflow("w", jobs=(job("s", True), job("t", True)), dependencies=(dep("s", "t"),))
    assert remove_stubs(wf, Context(Diagnostics())) is wf
    plain = ir.Workflow("w", jobs=(job("a"), job("b")), dependencies=(dep("a", "b"),))
    assert remove_stubs(plain, Context(Diagnostics())) is plain
