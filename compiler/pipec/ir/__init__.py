"""The intermediate representation: one typed, frozen model every front end produces and
every back end consumes. Nothing here knows which dialect a workflow came from.

A `Workflow` is a DAG of `Job`s joined by `Dependency` edges. A job runs a `Command` (typed
parts, see `command`), sees its files through the workflow's `Layout`, may fan out into
several executions (`Sweep`, with its row arithmetic in `sweep`), may belong to a `Group` of
jobs that start together, and carries its own failure policy. Values are JSON-like (str,
int, float, bool, None, lists of those).
"""

from pipec.ir.command import (
    Args,
    ArgSpec,
    Command,
    CommandKind,
    Host,
    Late,
    ParamValue,
    Part,
    Path,
    Quoting,
    RunId,
    Text,
    Word,
)
from pipec.ir.layout import AREAS, DEFAULT_LAYOUT, Layout
from pipec.ir.sweep import (
    Axis,
    RandomAxis,
    RuntimeFanout,
    Sweep,
    SweepKind,
    SweepRuleError,
    Value,
    preview_rows,
    sweep_row,
)
from pipec.ir.workflow import (
    RUNTIME_DEP_KINDS,
    Condition,
    Dependency,
    DepKind,
    Deployment,
    Endpoint,
    EnvVar,
    ExitCodes,
    File,
    Group,
    Input,
    Job,
    JobKind,
    OnError,
    Param,
    PipelineParam,
    Resources,
    Secret,
    Trigger,
    Upload,
    Workflow,
)

__all__ = [
    "AREAS", "DEFAULT_LAYOUT", "RUNTIME_DEP_KINDS", "ArgSpec", "Args", "Axis", "Command", "CommandKind",
    "Condition", "DepKind", "Dependency", "Deployment", "Endpoint", "EnvVar", "ExitCodes", "File", "Group", "Host", "Input", "Job", "JobKind",
    "Late", "Layout", "OnError", "Param", "ParamValue", "Part", "Path", "PipelineParam", "Quoting", "RandomAxis",
    "Resources", "RunId", "RuntimeFanout", "Secret", "Sweep", "SweepKind", "SweepRuleError", "Text", "Trigger",
    "Upload", "Value", "Word", "Workflow",
    "preview_rows", "sweep_row",
]
