"""One-way flow from a file on disk to checked IR: load -> validate -> IR -> passes.

The CLI calls this; back ends take its workflows. Only a compile imports its back end (for
what the target supports), so `pipec check` stays light.
"""

from __future__ import annotations

import stat
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import Any

from pipec import frontends, ir
from pipec.config import Config, find_config, load_config
from pipec.errors import SOURCES, Diagnostic, Diagnostics, Location, PipecError, apply_rules
from pipec.frontends.detect import HINT as DETECTION_HINT
from pipec.frontends.detect import NOT_A_PIPELINE, detect, detect_text
from pipec.frontends.discover import named_dialect
from pipec.loader import Document, decode, load_text, remap, remap_location
from pipec.names import safe_id
from pipec.passes import Context, run_passes
from pipec.targets import Target


class UsageError(Exception):
    """A problem with how pipec was called (exit 2), not with the file."""


@dataclass
class Request:
    file: str  # a path, or "-" for standard input
    dialect: str | None = None
    strict: bool = False
    target: str | None = None  # compile: the target (its passes run too); None for check/plan/graph
    options: dict[str, Any] = field(default_factory=dict)  # dialect-specific options given (name -> value)
    config: str | None = None  # explicit config path
    schedule: str | None = None  # --schedule: replaces [triggers]
    source_name: str | None = None  # how generated files name the source (pipec.output.source_name)

    @property
    def for_compile(self) -> bool:
        return self.target is not None


@dataclass
class Result:
    file: str
    workflows: list[ir.Workflow] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    config: Config = field(default_factory=Config)
    pipeline: bool = True  # False: a YAML file of another kind, reported as such and not checked

    @property
    def has_errors(self) -> bool:
        return any(d.severity.value == "error" for d in self.diagnostics)

    @property
    def has_warnings(self) -> bool:
        return any(d.severity.value == "warning" for d in self.diagnostics)


def read_input(file: str) -> tuple[bytes, str]:
    if file == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    path = FsPath(file)
    try:
        # Opening a named pipe would wait for a writer, and a device may never end: only
        # regular files are read.
        if not stat.S_ISREG(path.stat().st_mode):
            kind = "a directory" if path.is_dir() else "not a regular file (a named pipe, socket or device)"
            raise UsageError(f"{file}: is {kind}; pipec reads pipeline files" +
                             ("" if path.is_dir() else ", or - for standard input"))
        return path.read_bytes(), file
    except FileNotFoundError:
        raise UsageError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{file}: is a directory") from None
    except OSError as exc:
        raise UsageError(f"{file}: {exc.strerror}") from None


def request_config(req: Request, diags: Diagnostics) -> Config:
    if req.config is not None:
        path: FsPath | None = FsPath(req.config)
        if not path.is_file():  # type: ignore[union-attr]
            raise UsageError(f"--config {req.config}: no such file")
    else:
        path = find_config(FsPath.cwd() if req.file == "-" else FsPath(req.file).parent)
    config = load_config(path, diags)
    if config.file is not None:  # say which one: a configuration decides what jobs run
        diags.note(f"configuration: {config.file}", Location(config.file, 1, 1))
    return config


def load_workflows(req: Request) -> Result:
    """Load, validate and lower one file, then run the passes (with the target's, for a compile).
    Problems are in `Result.diagnostics`; a problem with the request itself raises UsageError."""
    raw, name = read_input(req.file)
    result = Result(name)
    diags = Diagnostics()
    try:
        doc = _document(req, raw, name, diags)
        if doc.data is None:
            diags.warning("the file is empty; there is nothing to check", doc.locate(()), code="PC011")
            raise PipecError(diags.sorted())
        dialect = req.dialect or detect(doc.data) or named_dialect(name)
        if dialect is None:
            if req.for_compile or req.file == "-":
                diags.error("cannot tell which pipeline format this is", doc.locate(()), DETECTION_HINT)
            else:  # a check run over every YAML file (a pre-commit hook) passes the others
                result.pipeline = False
                diags.note(NOT_A_PIPELINE, doc.locate(()))
            raise PipecError(diags.sorted())
        frontend = frontends.frontend(dialect)
        if frontend is None:
            built = ", ".join(d for d, module in frontends.DIALECTS.items() if module)
            diags.error(f"the {dialect} dialect is not supported yet", doc.locate(()), f"this pipec reads: {built}")
            raise PipecError(diags.sorted())
        foreign = sorted(set(req.options) - set(frontend.OPTIONS))
        if foreign:
            raise UsageError(f"{frontends.flag(foreign[0])} applies to other dialects, not to {dialect} files like "
                             f"{name}")
        config = request_config(req, diags)
        result.config = config
        try:
            workflows = frontend.load(doc, diags, frontends.Options(req.for_compile, config, dict(req.options), req.target))
        except frontends.UsageError as exc:
            raise UsageError(str(exc)) from None
        triggers = config.data.get("triggers", {})
        if not req.options and req.schedule is None:
            names = {wf.name for wf in workflows}
            for pipeline in triggers:
                if pipeline not in names:
                    diags.warning(f"[triggers] names '{pipeline}', which is not a pipeline of {name}; it is ignored",
                                  config.locate(pipeline), f"pipelines: {', '.join(sorted(names)) or 'none'}", code="PC410")
        if not workflows and not diags.has_errors:
            what = "nothing to compile: no pipeline and no step"
            if req.for_compile:
                diags.error(f"{name} holds {what}", doc.locate(()))
            else:
                diags.warning(f"{name} holds {what}", doc.locate(()), code="PC012")
        if req.source_name is not None:
            workflows = [replace(wf, source_file=req.source_name) for wf in workflows]
        ctx = Context(diags, config, _target(req.target), req.schedule)
        result.workflows = [run_passes(wf, ctx) for wf in workflows]
        _refuse_colliding_ids(result.workflows, diags)
        if diags.has_errors:
            result.workflows = []
    except PipecError:
        pass
    result.diagnostics = diags.sorted()
    result.diagnostics = apply_rules(result.diagnostics, result.config)  # [lint]: ignored / raised warnings
    return result


def _document(req: Request, raw: bytes, name: str, diags: Diagnostics) -> Document:
    """The file parsed; a file of a templating dialect (known from --dialect or from its text,
    which may not be YAML before rendering) is rendered first and every position is moved
    back to the template line it came from."""
    text = decode(raw, name, diags)
    if req.file == "-":  # a code frame cannot read standard input again
        SOURCES.keep(name, text)
    dialect = req.dialect or detect_text(text)
    frontend = frontends.frontend(dialect) if dialect else None
    prepare = getattr(frontend, "prepare", None)
    if prepare is None:
        return load_text(text, name, diags, strict=req.strict)
    foreign = sorted(set(req.options) - set(frontend.OPTIONS))  # type: ignore[union-attr]
    if foreign:
        raise UsageError(f"{frontends.flag(foreign[0])} applies to other dialects, not to {dialect} files like {name}")
    prepared = prepare(text, name, diags, dict(req.options))
    if prepared is None:
        raise PipecError(diags.sorted())
    rendered, lines = prepared
    found = Diagnostics()
    try:
        doc = load_text(rendered, name, found, strict=req.strict)
    finally:
        for d in found.items:
            diags.items.append(Diagnostic(d.severity, d.message, remap_location(d.location, lines), d.hint, d.code))
    remap(doc, lines)
    return doc


def _refuse_colliding_ids(workflows: list[ir.Workflow], diags: Diagnostics) -> None:
    """Every target names its files after the workflow's id: two workflows of one file whose ids
    collide would overwrite each other."""
    owners: dict[str, ir.Workflow] = {}
    for wf in workflows:
        wid = safe_id(wf.name)
        first = owners.setdefault(wid, wf)
        if first is not wf:
            diags.error(f"pipelines '{first.name}' and '{wf.name}' both become '{wid}'",
                        wf.location or Location(wf.source_file, 1, 1),
                        "rename one of them so they differ in letters or digits")


def _target(name: str | None) -> Target | None:
    """The declaration of the target being compiled for (imports its back end)."""
    if name is None:
        return None
    from pipec.backends import load

    return load(name).TARGET  # type: ignore[no-any-return]
