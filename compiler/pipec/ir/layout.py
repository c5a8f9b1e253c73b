"""What an execution sees of its files, and under which names.

Every execution has a directory of its own holding `inputs/<slot>/`, `outputs/` and
`config/` with `config/parameters.json` (the runtime's own layout, the same on every engine).
A dialect decides where user code finds those directories and what they are called: the
container paths of the three areas and the environment variables exported for them. The
runtime uses its PIPEC_* names internally and exports these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AREAS = ("inputs", "outputs", "config")

# What an exported variable names: an area's directory, the execution directory, the
# parameters file, or the execution's id (<job>-<execution>).
Export = Literal["inputs", "outputs", "config", "exec", "parameters", "id"]


@dataclass(frozen=True)
class Layout:
    inputs: str = "/pipec/exec/inputs"  # container path of the inputs area (one directory per slot)
    outputs: str = "/pipec/exec/outputs"
    config: str = "/pipec/exec/config"
    exports: tuple[tuple[str, Export], ...] = ()  # (variable, what it names)

    def path(self, area: str) -> str:
        return {"inputs": self.inputs, "outputs": self.outputs, "config": self.config}[area]

    @property
    def root(self) -> str | None:
        """The container path of the execution directory when the three areas sit in one
        directory under their own names (one mount serves them), else None."""
        parent = self.inputs.rpartition("/")[0]
        if parent and all(self.path(a) == f"{parent}/{a}" for a in AREAS):
            return parent
        return None

    def variable(self, area: str) -> str:
        """The variable a command reads an area's directory from: the dialect's name for it,
        or the runtime's own."""
        for name, what in self.exports:
            if what == area:
                return name
        return f"PIPEC_{area.upper()}_DIR"

    def spec(self) -> str:
        """The exports as the runtime reads them from PIPEC_LAYOUT: `NAME=what` words."""
        return " ".join(f"{name}={what}" for name, what in self.exports)


DEFAULT_LAYOUT = Layout()
