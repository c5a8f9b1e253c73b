"""What a target lacks is refused by one pass (pipec.passes.support), located and naming the
target; `pipec check` (no target) refuses none of it."""

from __future__ import annotations

import pytest

from pipec import ir
from pipec.backends import load
from pipec.errors import Diagnostics, Location
from pipec.passes import Context
from pipec.passes.support import check_support


def at(line: int) -> Location:
    return Location("f.yaml", line, 3)


def job(name: str, line: int, **kw) -> ir.Job:
    return ir.Job(name, name, command=ir.Command.shell("true"), location=at(line), **kw)


FANOUT = ir.Sweep(ir.SweepKind.RUNTIME, 0, fanout=ir.RuntimeFanout("a", "items", "p"), location=at(9))
GRID = ir.Sweep(ir.SweepKind.PRODUCT, 2, axes=(ir.Axis("x", (1, 2)),))
P = (ir.Param("p"),)

CASES = {
    "conditions": ir.Workflow("w", jobs=(
        job("a", 1), job("b", 4, condition=ir.Condition("a", "choice", ("x",)))),
        dependencies=(ir.Dependency("a", "b", ir.DepKind.ORDER),)),
    "multi-job-groups": ir.Workflow("w", jobs=(job("a", 1, group="g"), job("b", 2, group="g")),
                                    groups=(ir.Group("g", "a", ("a", "b"), at(5)),)),
    "group-fanout": ir.Workflow("w", jobs=(job("a", 1), job("b", 2, group="b", sweep=FANOUT, params=P)),
                                dependencies=(ir.Dependency("a", "b", ir.DepKind.ORDER),),
                                groups=(ir.Group("b", "b", ("b",)),)),
    "metadata-into-groups": ir.Workflow("w", jobs=(job("a", 1), job("b", 2, group="b", params=P)),
                                        dependencies=(ir.Dependency("a", "b", ir.DepKind.METADATA, "acc", "p", at(7)),),
                                        groups=(ir.Group("b", "b", ("b",)),)),
    "metadata-out-of-groups": ir.Workflow("w", jobs=(job("a", 1, group="a"), job("b", 2, params=P)),
                                          dependencies=(ir.Dependency("a", "b", ir.DepKind.METADATA, "acc", "p", at(7)),),
                                          groups=(ir.Group("a", "a", ("a",)),)),
    "fanout-over-sweeps": ir.Workflow("w", jobs=(job("a", 1, sweep=GRID), job("b", 2, sweep=FANOUT, params=P)),
                                      dependencies=(ir.Dependency("a", "b", ir.DepKind.ORDER),)),
    "schedule-time-zones": ir.Workflow("w", jobs=(job("a", 1),),
                                       triggers=(ir.Trigger("0 3 * * *", "Europe/Helsinki", at(8)),)),
    "group-barrier": ir.Workflow("w", jobs=(job("a", 1, group="g"),),
                                 groups=(ir.Group("g", "a", ("a",), at(5), barrier=True),)),
    "group-any-fails": ir.Workflow("w", jobs=(job("a", 1, group="g"),),
                                   groups=(ir.Group("g", "a", ("a",), at(5), lead_decides=False),)),
    # What OSMO tasks carry besides a command.
    "files": ir.Workflow("w", jobs=(job("a", 1, files=(ir.File("/f", (ir.Text("x"),), location=at(6)),)),)),
    "secrets": ir.Workflow("w", jobs=(job("a", 1, secrets=(ir.Secret("c", (("V", "k"),), location=at(6)),)),)),
    "uploads": ir.Workflow("w", jobs=(job("a", 1, uploads=(ir.Upload((ir.Text("s3://b"),), location=at(6)),)),)),
    "exit-codes": ir.Workflow("w", jobs=(job("a", 1, exit_codes=ir.ExitCodes(complete=((0, 9),), location=at(6))),)),
    "run-id": ir.Workflow("w", jobs=(ir.Job("a", "a", command=ir.Command(ir.CommandKind.ARGV, ((ir.RunId(),),)),
                                            location=at(2)),)),
    "value-words": ir.Workflow("w", jobs=(job("a", 1, env=(ir.EnvVar("A", "x", at(6), (ir.Path("outputs"),)),)),)),
    "input-regex": ir.Workflow("w", jobs=(job("a", 1, inputs=(ir.Input("0", regex="a", location=at(6)),)),)),
}
WHERE = {"conditions": 4, "multi-job-groups": 5, "group-fanout": 9, "metadata-into-groups": 7,
         "metadata-out-of-groups": 7, "fanout-over-sweeps": 9, "schedule-time-zones": 8, "group-barrier": 5,
         "group-any-fails": 5, "files": 6, "secrets": 6, "uploads": 6, "exit-codes": 6, "run-id": 2,
         "value-words": 6, "input-regex": 6}


@pytest.mark.parametrize("target", ["argo", "gha", "slurm"])
@pytest.mark.parametrize("feature", sorted(CASES))
def test_each_target_refuses_exactly_what_it_lacks(target: str, feature: str) -> None:
    declared = load(target).TARGET
    diags = Diagnostics()
    check_support(CASES[feature], Context(diags, target=declared))
    if feature in declared.supports:
        assert not diags.items, diags.items
        return
    [d] = diags.items
    assert d.severity.value == "error" and d.location == at(WHERE[feature])
    assert f"the {declared.title} target does not compile that yet" in d.message


@pytest.mark.parametrize("feature", sorted(CASES))
def test_check_has_no_target_and_refuses_nothing(feature: str) -> None:
    diags = Diagnostics()
    check_support(CASES[feature], Context(diags))
    assert not diags.items


@pytest.mark.parametrize("target, supports", [
    ("argo", {"schedule-time-zones", "deploy-manifests", "multi-job-groups", "group-barrier", "group-any-fails", "files",
              "secrets", "uploads", "exit-codes", "run-id", "value-words", "input-regex"}),
    ("gha", {"metadata-into-groups", "metadata-out-of-groups", "schedule-time-zones", "multi-job-groups",
             "group-barrier", "group-any-fails", "files", "secrets", "uploads", "exit-codes", "run-id", "value-words",
             "input-regex"}),
    ("slurm", {"metadata-into-groups", "metadata-out-of-groups", "fanout-over-sweeps", "multi-job-groups",
               "group-barrier", "group-any-fails", "files", "secrets", "uploads", "exit-codes", "run-id", "value-words",
               "input-regex"}),
])
def test_what_each_target_supports(target: str, supports: set[str]) -> None:
    # The declarations themselves (README "Known limits" lists the same).
    assert load(target).TARGET.supports == supports
