"""What a pass is given besides the workflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipec.config import Config
from pipec.errors import Diagnostics, Location

if TYPE_CHECKING:
    from pipec import ir
    from pipec.targets import Target


@dataclass
class Context:
    diags: Diagnostics
    config: Config = field(default_factory=Config)
    target: Target | None = None  # None for `pipec check`
    schedule: str | None = None  # --schedule: replaces the pipelines' [triggers]

    def where(self, wf: "ir.Workflow", obj: object = None) -> Location:
        """The location of `obj` (anything with a location), else of the workflow."""
        return getattr(obj, "location", None) or wf.location or Location(wf.source_file or "<workflow>", 1, 1)
