"""Driver requests as the tests write them: Valohai's options by name, `for_compile` for a
compile (the Slurm target's passes run, as `pipec compile --target slurm` would)."""

from __future__ import annotations

from typing import Any

from pipec.driver import Request, UsageError
from pipec.frontends.valohai import parse_sweeps


def valohai_request(file: str, *, for_compile: bool = False, target: str | None = None, pipeline: str | None = None,
                    step: str | None = None, sweeps: tuple[str, ...] = (), **kw: Any) -> Request:
    options: dict[str, Any] = {}
    if pipeline is not None:
        options["pipeline"] = pipeline
    if step is not None:
        options["step"] = step
    if sweeps:
        try:
            options["sweeps"] = parse_sweeps(tuple(sweeps))
        except ValueError as exc:  # the CLI makes it a usage error before the file is read
            raise UsageError(str(exc)) from None
    return Request(file=file, target=target or ("slurm" if for_compile else None), options=options, **kw)
