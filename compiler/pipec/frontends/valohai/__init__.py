"""The valohai.yaml front end: schema, semantic checks, and translation to the IR.

Semantics follow valohai-yaml (../shared/reference/valohai.md): every lint message it has,
every input that crashes it turned into a located error, plus checks it does not make
(edge keys against the step's inputs and parameters, duplicate edges, parameters filled
twice). Job ids here are node names; the naming pass makes them engine-safe later.
"""

from __future__ import annotations

from typing import Any

from pipec import ir
from pipec.errors import Diagnostics
from pipec.frontends import Options as FrontendOptions
from pipec.frontends import OptionSpec, UsageError
from pipec.frontends.valohai.checks import lint_deployment, lint_step, lint_task
from pipec.frontends.valohai.lower import pipeline_workflow, step_workflow
from pipec.frontends.valohai.model import (
    DIALECT,
    Options,
    check_numbers,
    collect,
)
from pipec.loader import Document
from pipec.schema import did_you_mean
from pipec.schema import validate as schema_validate


def parse_sweeps(values: tuple[str, ...]) -> dict[str, list[Any]]:
    """--sweep NODE.PARAM=v1,v2 options as {"NODE.PARAM": ["v1", "v2"]}."""
    sweeps: dict[str, list[Any]] = {}
    for text in values:
        key, sep, rest = text.partition("=")
        if not sep or "." not in key or not rest or key.startswith(".") or key.endswith("."):
            raise ValueError(f"--sweep {text!r}: expected NODE.PARAM=v1,v2,...")
        sweeps[key.strip()] = [v.strip() for v in rest.split(",")]
    return sweeps


# The command-line options this dialect takes (cli.py offers them; other dialects refuse them).
OPTIONS = {
    spec.name: spec for spec in (
        OptionSpec("pipeline", "--pipeline", "Valohai: only this pipeline (default: every pipeline in the file).",
                   selects=True),
        OptionSpec("step", "--step", "Valohai steps-only file: compile just this step.", selects=True),
        OptionSpec("sweeps", "--sweep", "Valohai: a parameter grid for a task node without a task blueprint "
                   "(repeatable).", metavar="NODE.PARAM=V1,V2,...", multiple=True, parse=parse_sweeps),
    )
}


def options(given: FrontendOptions) -> Options:
    """The Valohai options of a run: --pipeline, --step, and grids from --sweep, else from
    pipec.toml [sweeps]."""
    values: dict[str, Any] = given.values
    if values.get("pipeline") is not None and values.get("step") is not None:
        raise UsageError("--pipeline and --step cannot be combined: --pipeline selects a pipeline, --step one step "
                         "of a file without pipelines; give one of them")
    sweeps = dict(given.config.data.get("sweeps", {}))
    location = given.config.locate("sweeps") if sweeps else None
    if values.get("sweeps"):
        sweeps, location = dict(values["sweeps"]), None
    return Options(pipeline=values.get("pipeline"), step=values.get("step"), sweeps=sweeps,
                   sweeps_location=location, for_compile=given.for_compile)


def load(doc: Document, diags: Diagnostics, given: FrontendOptions) -> list[ir.Workflow]:
    """Validate the document and return its workflows (one per selected pipeline, or one per
    step in a steps-only file). Returns [] when there are errors; all of them are in `diags`."""
    if doc.data is None:  # the driver reports empty files
        return []
    opts = options(given)
    bad = schema_validate(doc, "valohai", diags) | check_numbers(doc, diags)
    if -1 in bad:
        return []
    cfg = collect(doc, bad, diags)
    linters = {"step": lint_step, "task": lint_task, "deployment": lint_deployment}
    for item in cfg.items:
        if item.kind in linters:
            linters[item.kind](cfg, item, diags)

    if opts.pipeline is not None and opts.pipeline not in cfg.pipelines:
        raise UsageError(_unknown("pipeline", opts.pipeline, list(cfg.pipelines)))
    if opts.step is not None and opts.step not in cfg.steps:
        raise UsageError(_unknown("step", opts.step, list(cfg.steps)))
    workflows: list[ir.Workflow] = []
    has_pipelines = bool(cfg.pipelines or cfg.broken_names.get("pipelines"))
    if has_pipelines and opts.step is None:
        for pipeline in (i for i in cfg.items if i.kind in ("pipeline", "blueprint")):
            # Every pipeline is checked (a shadowed duplicate too); only the selected ones,
            # and of duplicates only the last, are returned.
            selected = (opts.pipeline is None or opts.pipeline == pipeline.name) and cfg.pipelines[pipeline.name] is pipeline
            wf = pipeline_workflow(cfg, pipeline, opts if selected else Options(for_compile=opts.for_compile), diags)
            if wf is not None and selected:
                workflows.append(wf)
    elif not diags.has_errors:
        for name, step in cfg.steps.items():
            if opts.step is None or opts.step == name:
                workflows.append(step_workflow(cfg, step))
    if diags.has_errors:
        return []
    return workflows


def _unknown(what: str, name: str, names: list[str]) -> str:
    guess = did_you_mean(name, names)
    listing = ", ".join(repr(n) for n in names) or "none"
    return f"no {what} named '{name}'" + (f"; did you mean '{guess}'?" if guess else f" (the file has: {listing})")

__all__ = ["DIALECT", "OPTIONS", "Options", "UsageError", "load"]
