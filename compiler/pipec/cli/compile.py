"""`pipec compile`: compile pipeline files into manifests for one or more targets and write
them, or (`--check`, `--diff`) compare them with what is on disk without writing."""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from pipec.backends import TARGETS
from pipec.cli.common import (
    DIALECT_OPTIONS,
    FORMATS,
    apply_plan,
    checked_plan,
    cron,
    exit_code,
    given,
    quiet_option,
    report,
    run,
    say,
    select_options,
)
from pipec.driver import Request, Result
from pipec.errors import Diagnostic, Location, Severity, format_diagnostics

EXTRA_TARGETS = ("valohai-api",)  # targets that are not engines: generated from a front end's own model


def _targets(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    """`--target argo`, `--target argo,slurm` or `--target all`."""
    if value is None:
        return ()
    names = list(TARGETS) if value.strip() == "all" else [v.strip() for v in value.split(",") if v.strip()]
    known = (*TARGETS, *EXTRA_TARGETS)
    for name in names:
        if name not in known:
            raise click.BadParameter(f"'{name}' is not a target (targets: {', '.join(known)}, or all)")
    if len(names) > 1 and any(n in EXTRA_TARGETS for n in names):
        raise click.BadParameter(f"{', '.join(EXTRA_TARGETS)} is compiled alone")
    if not names:
        raise click.BadParameter("give a target")
    return tuple(dict.fromkeys(names))


def build(req: Request, kind: str = "workflow") -> tuple[Result, dict[str, tuple[str, bool]]]:
    """The files a compile of `req` produces (empty when it has errors), with its diagnostics."""
    from pipec.backends import load
    from pipec.errors import Diagnostics, apply_rules

    assert req.target is not None
    module = load(req.target)
    result = run(req)
    diags = Diagnostics(list(result.diagnostics))
    files: dict[str, tuple[str, bool]] = {}
    if not result.has_errors:
        extra = {"kind": kind} if "kind" in module.TARGET.options else {}
        files = module.compile_workflows(result.workflows, result.config, diags, **extra)
    result.diagnostics = apply_rules(diags.sorted(), result.config)
    return result, files


def write(req: Request, files: dict[str, tuple[str, bool]], output: str, force: bool, strict: bool) -> None:
    """Write `files` into `output` (pipec/output.py); exits 2 on problems with the output."""
    plan = _plan(req, files, output, force)
    if plan is None:
        sys.exit(2)
    if strict and plan.warnings:
        sys.exit(1)
    apply_plan(plan)


@dataclass(frozen=True)
class Unit:
    """One compile: an input file for one target into one output."""

    file: str
    target: str
    output: str


def _plan(req: Request, files: dict[str, tuple[str, bool]], output: str, force: bool) -> Any:
    """The output plan (pipec/output.py); None when the output has problems (reported)."""
    from pipec.backends import load
    from pipec.output import plan_output

    assert req.target is not None
    module = load(req.target)
    # A run that compiles only some pipelines of the file removes none of the others' files.
    partial = any(spec.selects and req.options.get(name) not in (None, (), {})
                  for name, spec in DIALECT_OPTIONS.items())
    return checked_plan(lambda: plan_output(output, files, target=req.target or "", source=req.file,
                                            streams=module.TARGET.streams, force=force, partial=partial,
                                            shared=module.TARGET.shared))


def _declared(config_path: str | None) -> tuple[list[Unit], dict[str, str]]:
    """The compiles pipec.toml's [compile] table declares (inputs x targets -> outputs), for a
    bare `pipec compile`; paths are relative to the configuration's folder."""
    from pipec.config import find_config, load_config
    from pipec.errors import Diagnostics, PipecError, format_diagnostics

    path = Path(config_path) if config_path else find_config(Path.cwd())
    if path is None:
        raise click.UsageError("give a FILE and --target, or list what to compile in pipec.toml: [compile] inputs = "
                               "[\"...\"], targets = [\"argo\", ...], output = \"DIR\"")
    diags = Diagnostics()
    try:
        config = load_config(path, diags)
    except PipecError as exc:
        click.echo(format_diagnostics(exc.diagnostics, "text"), err=True)
        sys.exit(1)
    table = config.data.get("compile")
    if not table:
        raise click.UsageError(f"give a FILE and --target: {path} has no [compile] table listing what to compile")
    base = path.parent
    inputs: list[str] = []
    for pattern in table.get("inputs", []):
        found = sorted(glob.glob(str(base / pattern), recursive=True))
        if not found and not glob.has_magic(pattern):  # a pattern may match nothing (yet), a path must exist
            raise click.UsageError(f"{path}: [compile] inputs: '{pattern}': no such file")
        inputs.extend(os.path.relpath(f) for f in found if os.path.isfile(f))
    output = table.get("output", "build")
    units, outputs = [], {}
    for target in table.get("targets", []):
        out = output.get(target) if isinstance(output, dict) else os.path.join(output, target)
        if out is None:
            raise click.UsageError(f"{path}: [compile.output] names no folder for target {target}")
        outputs[target] = os.path.relpath(base / out)
        units.extend(Unit(file, target, outputs[target]) for file in dict.fromkeys(inputs))
    return units, outputs


def _outputs(targets: tuple[str, ...], output: str | None) -> dict[str, str]:
    """Where each target writes: -o itself for one target, -o/<target> for several."""
    from pipec.backends import load

    if len(targets) == 1:
        target = targets[0]
        if target in EXTRA_TARGETS:
            return {target: output or "-"}
        if output is None and not load(target).TARGET.streams:
            raise click.UsageError(f"--target {target} writes a directory: give one with -o DIR")
        return {target: output or "-"}
    if output is None or output == "-":
        raise click.UsageError("several targets write one folder each: give the parent folder with -o DIR "
                               "(each target writes DIR/<target>)")
    return {t: os.path.join(output, t) for t in targets}


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--target", "-t", "targets", metavar="TARGET", callback=_targets,
              help=f"Engine(s) to compile for: {', '.join(TARGETS)}, a comma list, or all; or "
                   f"{', '.join(EXTRA_TARGETS)} (Valohai's pipeline creation payload).")
@click.option("--output", "-o", default=None, metavar="OUT",
              help="argo: a *.yaml file, a directory, or - (standard output; the default); gha and slurm: a "
                   "directory (required). With several targets, a directory holding one folder per target.")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 listing the files that are stale, missing or left over.")
@click.option("--diff", is_flag=True, help="Write nothing; print a unified diff of what a compile would change "
                                           "(exit 1 when there is a difference).")
@click.option("--kind", type=click.Choice(["workflow", "template"]), default=None,
              help="argo: write a Workflow (default) or a WorkflowTemplate (a pipeline with a schedule becomes a "
                   "CronWorkflow unless --kind template).")
@click.option("--schedule", default=None, metavar="CRON", callback=cron,
              help="Run the compiled pipelines on this five-field cron schedule (overrides [triggers]).")
@click.option("--commit", default=None, metavar="SHA", help="valohai-api: the commit the pipeline runs.")
@click.option("--title", default=None, help="valohai-api: the pipeline's title (with --project: the full request body).")
@click.option("--project", default=None, metavar="ID", help="valohai-api: the project's id.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="How problems are reported: text (standard error), json or github (workflow annotations; "
                   "standard output unless the manifests go there).")
@click.option("--strict", is_flag=True, help="Warnings fail the compile (exit 1).")
@click.option("--force", is_flag=True,
              help="Replace files in the way that pipec did not generate (never through a symbolic link, "
                   "never a configuration file of yours such as .github/actionlint.yaml).")
@quiet_option
@select_options
def compile(file: str | None, targets: tuple[str, ...], output: str | None, check_only: bool, diff: bool,
            kind: str | None, schedule: str | None, commit: str | None, title: str | None, project: str | None,
            fmt: str, strict: bool, force: bool, quiet: bool, dialect: str | None, config: str | None,
            **options: Any) -> None:
    """Compile FILE into manifests for TARGET. Without FILE, compile what pipec.toml's
    [compile] table lists (inputs, targets, output).

    \b
    Examples:
      pipec compile pipeline.yaml --target argo -o workflow.yaml
      pipec compile pipeline.yaml --target argo --kind template -o manifests/
      pipec compile pipeline.yaml --target gha -o .
      pipec compile pipeline.yaml --target slurm -o build/slurm
      pipec compile pipeline.yaml --target all -o build
      pipec compile --check
    """
    _refuse_foreign(targets, kind, commit, title, project)
    if file is None:
        if targets or output is not None:
            raise click.UsageError("--target and -o go with a FILE; without one, pipec.toml's [compile] table says "
                                   "what to compile")
        units, outputs = _declared(config)
    else:
        if not targets:
            raise click.UsageError("give --target (argo, gha, slurm, a comma list or all)")
        outputs = _outputs(targets, output)
        units = [Unit(file, t, out) for t, out in outputs.items()]
    if targets == ("valohai-api",):
        from pipec.cli.valohai_api import emit_valohai_api

        if check_only or diff:
            raise click.UsageError("--check and --diff compare manifest folders; not for --target valohai-api")
        assert file is not None
        emit_valohai_api(file, units[0].output, commit=commit, title=title, project=project,
                         pipelines=tuple(v for v in [options.get("pipeline")] if v), config=config, strict=strict,
                         force=force, fmt=fmt, quiet=quiet)
        return
    if (check_only or diff) and any(u.output == "-" for u in units):
        raise click.UsageError("--check and --diff compare files on disk: give -o")
    code = 0
    drift: list[tuple[str, str]] = []
    diffs: list[str] = []
    written: list[str] = []
    checked = 0
    from pipec.output import source_name

    seen: set[Any] = set()  # diagnostics already reported (the configuration note of every compile)
    collected: list[Any] = []
    for unit in units:
        req = Request(file=unit.file, dialect=dialect, strict=strict, target=unit.target, options=given(options),
                      config=config, schedule=schedule, source_name=source_name(unit.file, unit.output))
        result, files = build(req, kind or "workflow")
        report_to = sys.stdout if fmt != "text" and unit.output != "-" else sys.stderr
        fresh = [d for d in result.diagnostics if d not in seen]
        seen.update(fresh)
        if fmt == "json":  # one array for every compile, at the end
            collected.extend(fresh)
        else:
            report([Result(result.file, diagnostics=fresh)], fmt, report_to)
        code = max(code, exit_code([result], strict))
        if result.has_errors or (strict and result.has_warnings):
            continue
        plan = _plan(req, files, unit.output, force)
        if plan is None:
            code = 2
            continue
        if strict and plan.warnings:
            code = max(code, 1)
            continue
        if check_only or diff:
            checked += len(files)
            drift.extend(plan.drift())
            if diff:
                diffs.append(plan.diff())
            continue
        apply_plan(plan)
        if unit.output != "-":
            changed = len(plan.writes)
            written.append(f"wrote {len(files)} file{'s' if len(files) != 1 else ''} to {unit.output}"
                           + (f" ({len(files) - changed} unchanged)" if changed < len(files) else ""))
    if fmt == "json":
        report([Result("", diagnostics=collected)], fmt, sys.stdout if "-" not in outputs.values() else sys.stderr)
    if file is None:  # what the repository declares: the files of sources that are gone go too
        from pipec.output import gone_sources

        for target, out in outputs.items():
            for source in gone_sources(out, target):
                req = Request(file=source, target=target)
                plan = _plan(req, {}, out, force)
                if plan is None:
                    code = 2
                elif check_only or diff:
                    drift.extend(plan.drift())
                    diffs.append(plan.diff())
                else:
                    apply_plan(plan)
                    if plan.deletes:
                        written.append(f"removed {len(plan.deletes)} file{'s' if len(plan.deletes) != 1 else ''} "
                                       f"of {source} (no longer exists) from {out}")
    if diff:
        click.echo("".join(diffs), nl=False)
    if check_only:
        for what, path in sorted(set(drift), key=lambda d: d[1]):
            if fmt == "github":  # an annotation on the file in CI
                click.echo(format_diagnostics([Diagnostic(Severity.ERROR, f"{what}: run pipec compile and commit the "
                                                          f"result", Location(path, 1, 1))], "github"))
            else:
                click.echo(f"{path}: {what}", err=fmt == "text")
    if (check_only or diff) and drift:
        if check_only:
            click.echo(f"{len(set(drift))} file(s) out of date: run pipec compile" +
                       ("" if file is None else " without --check"), err=True)
        sys.exit(max(code, 1))
    if code:
        sys.exit(code)
    if check_only or diff:
        say(f"ok: {checked} file{'s' if checked != 1 else ''} checked, up to date", quiet)
    for line in written:
        say(line, quiet)


def _refuse_foreign(targets: tuple[str, ...], kind: str | None, commit: str | None, title: str | None,
                    project: str | None) -> None:
    """Options that only one target takes are refused for the others."""
    from pipec.backends import load

    engines = [t for t in targets if t in TARGETS]
    if kind is not None and any("kind" not in load(t).TARGET.options for t in engines) or (
            kind is not None and targets and not engines):
        other = next((t for t in targets if t not in TARGETS or "kind" not in load(t).TARGET.options), targets[0])
        raise click.UsageError(f"--kind does not apply to --target {other} (only argo takes it)")
    for flag, value in (("--commit", commit), ("--title", title), ("--project", project)):
        if value is not None and targets != ("valohai-api",):
            raise click.UsageError(f"{flag} applies to --target valohai-api only")
    if targets == ("valohai-api",) and commit is None:
        raise click.UsageError("--target valohai-api needs --commit SHA (the commit the pipeline runs)")
