"""`pipec submit`: compile one pipeline and hand it to the engine's own client (argo, Slurm's
submit.sh, gh), with pipeline parameters given as `-p NAME=VALUE`.

Where the compiled files go: `-o DIR` when given (kept); else Argo's manifest goes to a
temporary directory (argo reads it at once), Slurm's scripts to `.pipec/submit/<digest>/` below
the working directory (jobs read them while the run lasts; the same compile reuses its
directory, another never overwrites one a run may still read), and GitHub Actions needs no
copy at all: GitHub runs the workflow of the default branch, which must hold what this compile
produces (compared byte for byte through gh).

Exit codes: the client's when it ran; 1 for problems in the input, a GitHub copy that differs,
or a watched Slurm run that failed; 2 for usage errors, a client missing from PATH included.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
import tempfile
from typing import TYPE_CHECKING, Any, Callable

import click

from pipec.cli.common import TARGET_CHOICE, cron, exit_code, given, report, select_options
from pipec.cli.compile import build, write
from pipec.driver import Request

if TYPE_CHECKING:
    from pipec import ir

SUBMIT_DIR = os.path.join(".pipec", "submit")
Say = Callable[[str], None]


def _parameter(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for text in values:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{text!r}: give NAME=VALUE")
        if any(name == seen for seen, _ in pairs):
            raise click.BadParameter(f"parameter '{name}' is given twice")
        pairs.append((name, value))
    return pairs


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--target", "-t", type=TARGET_CHOICE, required=True, help="Engine to submit to.")
@click.option("--parameter", "-p", "parameters", multiple=True, metavar="NAME=VALUE", callback=_parameter,
              help="Set a pipeline parameter for this run (repeatable; any text, passed as one argument).")
@click.option("--output", "-o", default=None, metavar="DIR",
              help="Keep the compiled files here (default: argo a temporary directory, slurm "
                   ".pipec/submit/<digest>/, gha nowhere: GitHub runs its default branch's copy).")
@click.option("--dry-run", is_flag=True,
              help="Print the command that would submit the run and submit nothing (slurm: runs "
                   "submit.sh --dry-run, which prints its sbatch lines).")
@click.option("--watch", is_flag=True,
              help="Follow the run until it ends: argo watch, then argo wait (its exit code); slurm: wait for "
                   "its jobs, report the outcome, exit 1 if it failed; gha: gh run watch --exit-status.")
@click.option("--run-dir", default=None, metavar="PATH",
              help="slurm: the run directory (submit.sh --run-dir; default ./pipec-runs/<pipeline>-<time>-...).")
@click.option("--schedule", default=None, metavar="CRON", callback=cron,
              help="Compile with this cron schedule, as compile --schedule did (gha: for the committed copy "
                   "to match).")
@click.option("--strict", is_flag=True, help="Warnings fail the compile (exit 1): nothing is submitted.")
@click.option("--force", is_flag=True, help="With -o: replace files in the way that pipec did not generate.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the command pipec runs.")
@select_options
def submit(file: str, target: str, parameters: list[tuple[str, str]], output: str | None, dry_run: bool, watch: bool,
           run_dir: str | None, schedule: str | None, strict: bool, force: bool, quiet: bool, dialect: str | None,
           config: str | None, **options: Any) -> None:
    """Compile one pipeline of FILE for TARGET and submit it with the engine's client
    (argo, the compiled submit.sh for Slurm, gh for GitHub Actions).

    \b
    Examples:
      pipec submit pipeline.yaml --target argo -p batch_size=128 --watch
      pipec submit pipeline.yaml --target slurm --pipeline train -p lr=0.01 --watch
      pipec submit pipeline.yaml --target gha -p report_title='Nightly run'
    """
    from pipec.clients import manifest_kind, missing_clients, submit_names
    from pipec.output import output_kind, source_name

    if run_dir is not None and target != "slurm":
        raise click.UsageError("--run-dir applies to --target slurm only")
    if output == "-":
        raise click.UsageError("pipec submit writes files for the client: give -o a directory")
    missing = missing_clients(target, dry_run, watch)
    if missing:
        program, where = missing[0]
        raise click.UsageError(f"submitting to {target} runs `{program}`, which is not on PATH: install "
                               f"{where}" + ("" if dry_run or target == "gha" else " (or use --dry-run)"))
    # Generated files name their source relative to the repository they belong to (the
    # working directory's when no -o), as `pipec compile` into that repository does.
    req = Request(file=file, dialect=dialect, strict=strict, target=target, options=given(options), config=config,
                  schedule=schedule, source_name=source_name(file, output or "."))
    result, files = build(req, "workflow")
    report([result], "text", sys.stderr)
    code = exit_code([result], strict)
    if code:
        sys.exit(code)
    wf = _one_pipeline(file, result.workflows)
    key = _main_file(target, files)
    if target == "argo" and manifest_kind(files[key][0]) != "Workflow":
        raise click.UsageError(f"'{wf.name}' has a cron schedule ([triggers] or --schedule), so it compiles to a "
                               "CronWorkflow, which argo submit does not run: compile it with pipec compile and "
                               "install it with argo cron create")
    names = submit_names(target, wf, result.config, files[key][0])
    pairs = [(names[_known(name, names, wf.name, target, [p.name for p in wf.params])], value)
             for name, value in parameters]
    say: Say = (lambda line: None) if quiet else (lambda line: click.echo(f"pipec: {line}", err=True))
    if target == "gha":
        if output is not None:
            write(req, files, output, force, strict)
        sys.exit(_submit_gha(files, key, pairs, dry_run, watch, say))
    if output is None and target == "slurm":
        output = _submit_dir(files)
    if output is not None:
        write(req, files, output, force, strict)
        path = output if output_kind(output, target == "argo") == "file" else os.path.join(output, key)
        sys.exit(_submit(target, path, pairs, run_dir, dry_run, watch, say))
    with tempfile.TemporaryDirectory(prefix="pipec-submit-") as temporary:
        write(req, files, temporary, force, strict)
        if dry_run:
            say(f"the manifest is compiled into {temporary}, which is removed again: give -o DIR to keep it")
        code = _submit(target, os.path.join(temporary, key), pairs, run_dir, dry_run, watch, say)
    sys.exit(code)


def _one_pipeline(file: str, workflows: list[ir.Workflow]) -> ir.Workflow:
    """The one pipeline to submit; several are a usage error naming the options that choose one."""
    from pipec.frontends import frontend

    if len(workflows) == 1:
        return workflows[0]
    if not workflows:
        raise click.UsageError(f"{file} holds no pipeline to submit")
    module = frontend(workflows[0].dialect)
    flags = [f"{spec.flag} NAME" for spec in getattr(module, "OPTIONS", {}).values() if spec.selects]
    names = ", ".join(repr(wf.name) for wf in workflows)
    raise click.UsageError(f"{file} holds {len(workflows)} pipelines ({names}); pipec submit runs one: choose it"
                           + (f" with {' or '.join(flags)}" if flags else ""))


def _main_file(target: str, files: dict[str, tuple[str, bool]]) -> str:
    """The compiled file the client reads: the manifest, submit.sh, or the workflow file."""
    if target == "argo":
        found = [k for k in files if k.endswith(".yaml")]
    elif target == "slurm":
        found = [k for k in files if k.endswith("/submit.sh") and k.count("/") == 1]
    else:
        found = [k for k in files if k.startswith(".github/workflows/")]
    if len(found) != 1:
        raise RuntimeError(f"expected one compiled pipeline for {target}, found {found}")
    return found[0]


def _known(name: str, names: dict[str, str], pipeline: str, target: str, declared: list[str]) -> str:
    """The pipeline parameter `-p NAME` sets (its own name, or the one the client gives it)."""
    from pipec.schema import did_you_mean

    if name in names:
        return name
    for own, client in names.items():
        if client == name:
            return own
    if name in declared:
        raise click.UsageError(f"-p {name}: pipeline '{pipeline}' compiles parameter '{name}' in for --target "
                               f"{target} (the compile warning says why), so it cannot be set at submit time")
    guess = did_you_mean(name, [*names, *declared])
    listing = ", ".join(names) if names else "none can be set at submit time"
    raise click.UsageError(f"-p {name}: pipeline '{pipeline}' has no parameter '{name}'"
                           + (f"; did you mean '{guess}'?" if guess else f" (its parameters: {listing})"))


def _submit_dir(files: dict[str, tuple[str, bool]]) -> str:
    """Slurm's durable default output: .pipec/submit/<digest of the compiled files>/, so a run's
    scripts are never replaced while its jobs may read them (a .gitignore keeps it out of git)."""
    digest = hashlib.sha256()
    for path, (text, executable) in sorted(files.items()):
        digest.update(json.dumps([path, text, executable]).encode("utf-8"))
    os.makedirs(os.path.dirname(SUBMIT_DIR), exist_ok=True)
    ignore = os.path.join(os.path.dirname(SUBMIT_DIR), ".gitignore")
    if not os.path.lexists(ignore):
        with open(ignore, "w", encoding="utf-8") as f:
            f.write("# pipec submit's compiled pipelines (see pipec submit --help)\n*\n")
    return os.path.join(SUBMIT_DIR, digest.hexdigest()[:16])


def _submit(target: str, path: str, params: list[tuple[str, str]], run_dir: str | None, dry_run: bool, watch: bool,
            say: Say) -> int:
    from pipec import clients

    if target == "argo":
        command = clients.argo_command(path, params, watch)
        if dry_run:
            click.echo(shlex.join(command))
            return 0
        say(f"running {shlex.join(command)}")
        if not watch:
            return clients.run(command)
        code, lines = clients.run_teed(command, lambda line: click.echo(line, nl=False))
        names = [line.strip() for line in lines if line.strip()]
        if code or not names:
            return code or 1
        for follow in clients.argo_follow(names[-1]):
            say(f"running {shlex.join(follow)}")
            code = clients.run(follow)
            if code:
                return code
        return 0
    command = clients.slurm_command(path, params, run_dir, dry_run)
    say(f"running {shlex.join(command)}")
    if not watch or dry_run:
        return clients.run(command)
    code, lines = clients.run_teed(command, lambda line: click.echo(line, nl=False))
    if code:
        return code
    run = run_dir or clients.run_directory(lines)
    if run is None:
        click.echo("pipec: submit.sh named no run directory; cannot watch the run", err=True)
        return 1
    return _watch_slurm(os.path.abspath(run), say)


def _watch_slurm(run: str, say: Say) -> int:
    from pipec import clients

    say(f"watching the run in {run} (Ctrl-C stops watching, not the run)")
    try:
        clients.wait_slurm_run(run)
    except clients.ClientError as exc:
        click.echo(f"pipec: {exc}", err=True)
        return exc.code
    except KeyboardInterrupt:
        click.echo(f"\npipec: stopped watching; the run goes on in {run}", err=True)
        return 130
    ok, problems = clients.slurm_outcome(run)
    if ok:
        click.echo(f"pipec: the run succeeded: {run}", err=True)
        return 0
    click.echo(f"pipec: the run failed: {run}", err=True)
    for line in problems:
        click.echo(f"  {line}", err=True)
    return 1


def _submit_gha(files: dict[str, tuple[str, bool]], key: str, params: list[tuple[str, str]], dry_run: bool,
                watch: bool, say: Say) -> int:
    """Dispatch the workflow on GitHub, once the default branch holds what this compile produces
    (the workflow and the runtime its jobs source from the checkout)."""
    from pipec import clients
    from pipec.backends import load

    shared = load("gha").TARGET.shared
    needed = sorted(k for k in files if k.startswith(".github/") and not (k in shared and shared[k].user_config))
    try:
        stale = []
        for rel in needed:
            copy = clients.github_copy(rel)
            if copy != files[rel][0].encode("utf-8"):
                stale.append(f"  {rel}: " + ("not there" if copy is None else "differs from what this compile produces"))
        if stale:
            click.echo("pipec: GitHub runs a dispatched workflow from the repository's default branch, where:", err=True)
            for line in stale:
                click.echo(line, err=True)
            click.echo("pipec: compile it into the repository (pipec compile FILE --target gha -o REPOSITORY), "
                       "commit and push it to the default branch, then submit again", err=True)
            return 1
        command = clients.gha_command(os.path.basename(key), params)
        if dry_run:
            click.echo(shlex.join(command))
            return 0
        dispatch = clients.DispatchWatch(os.path.basename(key))
        if watch:
            dispatch.start()
        say(f"running {shlex.join(command)}")
        code = clients.run(command)
        if code or not watch:
            return code
        run_id = dispatch.new_run()
    except clients.ClientError as exc:
        click.echo(f"pipec: {exc}", err=True)
        return exc.code
    if run_id is None:
        click.echo(f"pipec: the dispatched run was not listed within {clients.GITHUB_RUN_WAIT_SECONDS} s; find it "
                   f"with gh run list --workflow {os.path.basename(key)}", err=True)
        return 1
    command = ["gh", "run", "watch", run_id, "--exit-status"]
    say(f"running {shlex.join(command)}")
    return clients.run(command)

