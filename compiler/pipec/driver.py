"""One-way flow from a file on disk to checked IR: load -> validate -> IR -> passes.

The CLI calls this; back ends take its workflows. Nothing here imports a back end, so
`pipec check` stays light.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import Any

from pipec import ir
from pipec.config import Config, find_config, load_config
from pipec.errors import Diagnostic, Diagnostics, PipecError
from pipec.frontends.detect import DIALECTS, detect
from pipec.loader import load_bytes
from pipec.passes import run_passes


class UsageError(Exception):
    """A problem with how pipec was called (exit 2), not with the file."""


@dataclass
class Request:
    file: str  # a path, or "-" for standard input
    dialect: str | None = None
    strict: bool = False
    for_compile: bool = False
    pipeline: str | None = None
    step: str | None = None
    sweeps: tuple[str, ...] = ()  # NODE.PARAM=v1,v2 from the command line
    config: str | None = None  # explicit config path


@dataclass
class Result:
    file: str
    workflows: list[ir.Workflow] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    config: Config = field(default_factory=Config)

    @property
    def has_errors(self) -> bool:
        return any(d.severity.value == "error" for d in self.diagnostics)

    @property
    def has_warnings(self) -> bool:
        return any(d.severity.value == "warning" for d in self.diagnostics)


def parse_sweep_options(values: tuple[str, ...]) -> dict[str, list[Any]]:
    sweeps: dict[str, list[Any]] = {}
    for text in values:
        key, sep, rest = text.partition("=")
        if not sep or "." not in key or not rest or key.startswith(".") or key.endswith("."):
            raise UsageError(f"--sweep {text!r}: expected NODE.PARAM=v1,v2,...")
        sweeps[key.strip()] = [v.strip() for v in rest.split(",")]
    return sweeps


def _read(file: str) -> tuple[bytes, str]:
    if file == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    path = FsPath(file)
    try:
        return path.read_bytes(), file
    except FileNotFoundError:
        raise UsageError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{file}: is a directory") from None
    except OSError as exc:
        raise UsageError(f"{file}: {exc.strerror}") from None


def _config(req: Request, diags: Diagnostics) -> Config:
    if req.config is not None:
        path = FsPath(req.config)
        if not path.is_file():
            raise UsageError(f"--config {req.config}: no such file")
        return load_config(path, diags)
    start = FsPath.cwd() if req.file == "-" else FsPath(req.file).parent
    return load_config(find_config(start), diags)


def load_workflows(req: Request) -> Result:
    """Load, validate and lower one file. Problems are in `Result.diagnostics`; a problem
    with the request itself raises UsageError."""
    cli_sweeps = parse_sweep_options(req.sweeps)  # a malformed option is a usage error, whatever the file
    raw, name = _read(req.file)
    result = Result(name)
    diags = Diagnostics()
    try:
        doc = load_bytes(raw, name, diags, strict=req.strict)
        if doc.data is None:
            diags.warning("the file is empty; there is nothing to check", doc.locate(()))
            raise PipecError(diags.sorted())
        dialect = req.dialect or detect(doc.data)
        if dialect is None:
            diags.error(
                "cannot tell which pipeline format this is", doc.locate(()),
                "valohai.yaml is a list of '- step:' / '- pipeline:' items, OSMO has a top-level "
                "'workflow:', runnable a top-level 'dag:'; or pass --dialect",
            )
            raise PipecError(diags.sorted())
        if dialect != "valohai":
            diags.error(
                f"the {dialect} dialect is not supported yet", doc.locate(()),
                f"this pipec reads: valohai (of {', '.join(DIALECTS)})",
            )
            raise PipecError(diags.sorted())
        config = _config(req, diags)
        result.config = config
        from pipec.frontends import valohai

        sweeps = dict(config.data.get("sweeps", {}))
        sweeps_location = config.locate("sweeps") if sweeps else None
        if cli_sweeps:
            sweeps, sweeps_location = cli_sweeps, None
        opts = valohai.Options(
            pipeline=req.pipeline, step=req.step, sweeps=sweeps, sweeps_location=sweeps_location,
            for_compile=req.for_compile,
        )
        try:
            workflows = valohai.load(doc, diags, opts)
        except valohai.UsageError as exc:
            raise UsageError(str(exc)) from None
        triggers = config.data.get("triggers", {})
        if req.pipeline is None and req.step is None:
            names = {wf.name for wf in workflows}
            for pipeline in triggers:
                if pipeline not in names:
                    diags.warning(f"[triggers] names '{pipeline}', which is not a pipeline of {name}; it is ignored",
                                  config.locate(pipeline), f"pipelines: {', '.join(sorted(names)) or 'none'}")
        for wf in workflows:
            if wf.name in triggers:
                wf = replace(wf, triggers=(ir.Trigger(triggers[wf.name]),))
            wf = run_passes(wf, diags)
            result.workflows.append(wf)
        if diags.has_errors:
            result.workflows = []
    except PipecError:
        pass
    result.diagnostics = diags.sorted()
    return result


