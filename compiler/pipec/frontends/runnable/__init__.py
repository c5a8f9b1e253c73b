"""The runnable (AstraZeneca) front end: `dag:` pipelines of python, shell and notebook tasks,
stubs and composite steps, validated as runnable validates them and lowered to the IR.

runnable reads only the top-level `dag:` key (other keys hold YAML anchors for branches).
Its initial parameters come from a separate file (`runnable execute -p FILE`), here
`--params FILE`, with `RUNNABLE_PRM_<name>` environment variables over it. The file names no
image: `--image` or `[runnable] image` in pipec.toml gives one.
"""

from __future__ import annotations

from pathlib import Path as FsPath

from pipec import ir
from pipec.errors import Diagnostics
from pipec.frontends import Options, OptionSpec
from pipec.frontends.runnable import params as initial_params
from pipec.frontends.runnable.checks import check
from pipec.frontends.runnable.lower import DEFAULT_IMAGE, Lowering
from pipec.frontends.runnable.model import DIALECT, collect
from pipec.loader import Document
from pipec.schema import validate as schema_validate

OPTIONS = {
    spec.name: spec for spec in (
        OptionSpec("params", "--params", "runnable: the initial parameters file (as `runnable execute -p FILE`); "
                   "its values become pipeline parameters.", metavar="FILE", on_check=True),
        OptionSpec("image", "--image", "runnable: the image every step runs in (default: [runnable] image in "
                   "pipec.toml).", metavar="IMAGE", on_check=True),
    )
}


def workflow_name(file: str) -> str:
    """runnable pipelines have no name: the file's, without its extension."""
    if file in ("-", "<stdin>"):
        return "pipeline"
    return FsPath(file).name.split(".")[0] or "pipeline"


def load(doc: Document, diags: Diagnostics, given: Options) -> list[ir.Workflow]:
    """Validate the document and return its one workflow ([] when there are errors)."""
    if doc.data is None:
        return []
    errors = diags.error_count()
    schema_validate(doc, DIALECT, diags)
    if diags.error_count() > errors or not isinstance(doc.data, dict) or not isinstance(doc.data.get("dag"), dict):
        return []
    dag = collect(doc)
    check(doc, dag, diags)
    initial = initial_params.load(given.values.get("params"), diags)
    if diags.has_errors:
        return []
    section = given.config.data.get("runnable", {})
    image = given.values.get("image") or section.get("image")
    if image is None and given.target in ("argo", "gha"):
        where = {"argo": "Argo", "gha": "GitHub Actions"}[given.target]
        diags.warning(f"no image given: on {where} the steps run in {DEFAULT_IMAGE}, which must hold the "
                      "pipeline's code and what it imports", doc.locate_key(("dag",)),
                      "pass --image, or set [runnable] image in pipec.toml", code="PC306")
    profiles = dict(given.config.data.get("profiles", {}))
    wf = Lowering(doc, dag, initial, diags, given.for_compile, image, str(section.get("python", "python3")),
                  profiles, workflow_name(doc.file)).workflow()
    return [] if diags.has_errors else [wf]


__all__ = ["DIALECT", "OPTIONS", "load"]
