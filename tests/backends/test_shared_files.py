"""Files several jobs write with the same contents are shipped once per workflow.

A file whose contents are plain text (ir.Text parts only) and identical, base64 flag
included, in two or more jobs of a workflow (common.py JobRenderer.shared_files) is written by
each of those jobs' setups from PIPEC_SHARED_FILE_<k>: on Argo that variable reads the
workflow annotation pipec-file-<k> (metadata of a Workflow, workflowMetadata of a
WorkflowTemplate or CronWorkflow), on GitHub Actions it is an entry of the workflow's `env:`.
A file only one job writes stays inline in that job's setup.

Covered: one copy in the manifest and in the workflow, the unique file inline, the env entries
of Argo's container templates (only the contents a template's jobs write), contents that stay
inline (one job only, a different base64 flag, a path a back end relocates, tokens), hostile
contents delivered byte for byte end to end in both emulators (tests/harness/argo_sim.py,
tests/harness/gha_sim.py), a job on the GitHub runner (its files moved below the execution)
reading the shared copy, the members of a group of several jobs (Argo pods; GitHub member
containers, tests/harness/fake_docker.py, which pass on only the variables named with -e), the annotation and environment size limits reported at the file, and
the 16-job runnable corpus example compiling to a small manifest and workflow.
"""

from __future__ import annotations

import base64
import os
import shlex
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from click.testing import CliRunner

from pipec import ir
from pipec.backends import gha
from pipec.backends.argo import compile_workflows as argo_compile
from pipec.cli import main
from pipec.config import Config
from pipec.errors import Diagnostics, Location
from tests.harness import argo_sim, fake_docker, gha_sim
from tests.harness.argo_check import check_yaml
from tests.harness.gha_check import check_workflows
from tests.paths import ROOT, SHARED_CORPUS

HOSTILE = ("it's \"quoted\" $(touch PWNED) `touch PWNED` ${HOME} {{workflow.name}} {{=sprig.upper('x')}} "
           "${{ github.token }} ${{ '${{' }} \\back\\slash\nsecond line\tü漢字😀 %s ; touch PWNED #\n\n")
BLOB = bytes(range(256)) + b"${{ github.token }} {{x}}\n\n"
BLOB_TEXT = base64.b64encode(BLOB).decode()
OWN = "only a writes this: $(touch PWNED) {{inputs.parameters.job}}\n"
IMAGE = "alpine:3.20"


def loc(line: int) -> Location:
    return Location("shared.yaml", line, 1)


COPY = 'while [ "$#" -gt 0 ]; do cp "$1" "$PIPEC_OUTPUTS_DIR/$2"; shift 2; done'


def copying(*pairs: tuple[str, str]) -> ir.Command:
    """A command copying each file (absolute path) to the outputs under a name: argv words,
    so that a file's path reads its variable where the file was moved."""
    words = ["sh", "-c", COPY, "copy", *(w for pair in pairs for w in pair)]
    return ir.Command(ir.CommandKind.ARGV, tuple((ir.Text(w),) for w in words))


def shared_workflow(where: Path, runner_job: bool = False) -> ir.Workflow:
    """a and b write HOSTILE (at their own paths), b and c the base64 BLOB; a also writes a
    file of its own and BLOB's text as plain text (another base64 flag: not the same file).
    With `runner_job`, d (no image) writes HOSTILE too."""
    w = str(where)

    def text(contents: str) -> tuple[ir.Text, ...]:
        return (ir.Text(contents),)

    a = ir.Job("a", "a", image=IMAGE, location=loc(1),
               files=(ir.File(f"{w}/a/it's shared.txt", text(HOSTILE), location=loc(2)),
                      ir.File(f"{w}/a/own.txt", text(OWN), location=loc(3)),
                      ir.File(f"{w}/a/blob.txt", text(BLOB_TEXT), location=loc(4))),
               command=copying((f"{w}/a/it's shared.txt", "shared.txt"), (f"{w}/a/own.txt", "own.txt"),
                               (f"{w}/a/blob.txt", "blob.txt")))
    b = ir.Job("b", "b", image=IMAGE, location=loc(5),
               files=(ir.File(f"{w}/b/shared.txt", text(HOSTILE), location=loc(6)),
                      ir.File(f"{w}/b/blob.bin", text(BLOB_TEXT), base64=True, location=loc(7))),
               command=copying((f"{w}/b/shared.txt", "shared.txt"), (f"{w}/b/blob.bin", "blob.bin")))
    c = ir.Job("c", "c", image=IMAGE, location=loc(8),
               files=(ir.File(f"{w}/c/blob.bin", text(BLOB_TEXT), base64=True, location=loc(9)),),
               command=copying((f"{w}/c/blob.bin", "blob.bin")))
    jobs = [a, b, c]
    if runner_job:
        jobs.append(ir.Job("d", "d", location=loc(10),
                           files=(ir.File(f"{w}/d/shared.txt", text(HOSTILE), location=loc(11)),),
                           command=copying((f"{w}/d/shared.txt", "shared.txt"))))
    return ir.Workflow("shared", jobs=tuple(jobs), source_file="shared.yaml", location=loc(1))


def group_workflow(where: Path) -> ir.Workflow:
    """A group of two jobs with images writing HOSTILE at their own paths; past the barrier
    (every member's setup done) the lead copies both files to its outputs."""
    w = str(where)
    files = {j: (ir.File(f"{w}/{j}/shared.txt", (ir.Text(HOSTILE),)),) for j in "ab"}
    lead = ir.Job("a", "a", image=IMAGE, group="pair", files=files["a"],
                  command=copying((f"{w}/a/shared.txt", "a.txt"), (f"{w}/b/shared.txt", "b.txt")))
    member = ir.Job("b", "b", image=IMAGE, group="pair", files=files["b"], command=ir.Command.shell("true"))
    return ir.Workflow("pair", jobs=(lead, member), groups=(ir.Group("pair", "a", ("a", "b"), barrier=True),),
                       source_file="shared.yaml")


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif isinstance(node, str):
        yield node


def decoded(value: str) -> str:
    return base64.b64decode(value[len("pipec-b64:"):]).decode() if value.startswith("pipec-b64:") else value


def copies(doc: Any, contents: str) -> int:
    """How many strings of the document hold `contents` (decoded where pipec encoded them, and
    as the kubelet passes an Argo pod's variables on: pipec doubles the `$` it would read)."""
    return sum(contents in decoded(s) or contents in s or contents in argo_sim.kubelet_expand(s, {})
               for s in strings(doc))


# ------------------------------------------------------------------- the shared analysis
def test_shared_contents_are_found_once_per_workflow_in_order_of_first_use(tmp_path: Path) -> None:
    compiler = gha._Compiler(shared_workflow(tmp_path, runner_job=True), Config(), Diagnostics())
    assert compiler.shared_files == {(HOSTILE, False): 0, (BLOB_TEXT, True): 1}
    assert [compiler.job_shared_files(j) for j in "abcd"] == [(0,), (0, 1), (1,), (0,)]
    assert [f.location for f in compiler.shared_file_sites(0)] == [loc(2), loc(6), loc(11)]


def test_contents_stay_inline_unless_every_back_end_writes_them_as_they_are(tmp_path: Path) -> None:
    outputs = ir.DEFAULT_LAYOUT.path("outputs")
    jobs = (
        # one job writing the same contents twice: still one job
        ir.Job("a", "a", files=(ir.File("/x/1", (ir.Text("twice"),)), ir.File("/x/2", (ir.Text("twice"),)))),
        # a layout path (read from a variable where the areas are not mounted)
        ir.Job("b", "b", files=(ir.File("/x/1", (ir.Text(f"see {outputs}/m"),)),)),
        ir.Job("c", "c", files=(ir.File("/x/1", (ir.Text(f"see {outputs}/m"),)),)),
        # a token: the contents differ per execution or engine
        ir.Job("d", "d", files=(ir.File("/x/1", (ir.Text("run "), ir.RunId())),)),
        ir.Job("e", "e", files=(ir.File("/x/1", (ir.Text("run "), ir.RunId())),)),
        # the path of a file of the job itself (moved below the execution on the runner)
        ir.Job("f", "f", files=(ir.File("/x/1", (ir.Text("/x/2"),)), ir.File("/x/2", (ir.Text("z"),)))),
        ir.Job("g", "g", files=(ir.File("/x/1", (ir.Text("/x/2"),)), ir.File("/x/2", (ir.Text("y"),)))),
        # empty files
        ir.Job("h", "h", files=(ir.File("/x/1", ()),)),
        ir.Job("i", "i", files=(ir.File("/x/1", ()),)),
    )
    wf = ir.Workflow("w", jobs=jobs)
    compiler = gha._Compiler(wf, Config(), Diagnostics())
    assert compiler.shared_files == {}
    assert "PIPEC_SHARED_FILE" not in "".join(compiler.file_lines(j, True, False) for j in jobs)


# ------------------------------------------------------------------------------- Argo
def compile_argo(wf: ir.Workflow, kind: str = "workflow") -> str:
    diags = Diagnostics()
    out = argo_compile([wf], Config({"argo": {"default_image": IMAGE}}), diags, kind)
    assert diags.error_count() == 0, diags.items
    [(manifest, _)] = out.values()
    assert check_yaml(manifest) == []
    return manifest


def container_env(doc: dict[str, Any], job: str) -> dict[str, str]:
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    task = next(t for t in templates["main"]["dag"]["tasks"] if t["name"] == job)
    return {e["name"]: e.get("value") for e in templates[task["template"]]["container"]["env"]}


def task_setup(doc: dict[str, Any], job: str) -> str:
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    task = next(t for t in templates["main"]["dag"]["tasks"] if t["name"] == job)
    return decoded(next(p["value"] for p in task["arguments"]["parameters"] if p["name"] == "setup"))


def test_argo_ships_each_shared_contents_once_in_an_annotation(tmp_path: Path) -> None:
    doc = yaml.safe_load(compile_argo(shared_workflow(tmp_path / "f")))
    annotations = doc["metadata"]["annotations"]
    assert decoded(annotations["pipec-file-0"]) == HOSTILE
    assert annotations["pipec-file-0"].startswith("pipec-b64:"), "it holds {{: Argo would template it"
    assert annotations["pipec-file-1"] == BLOB_TEXT
    assert "pipec-file-2" not in annotations
    assert copies(doc, HOSTILE) == 1 and copies(doc, OWN) == 1
    assert copies(doc, BLOB_TEXT) == 2, "the annotation, and a's plain-text file (another base64 flag)"
    setups = {j: task_setup(doc, j) for j in "abc"}
    where = tmp_path / "f"
    assert shlex.quote(f"{where}/a/it's shared.txt") + ' 0 "$PIPEC_SHARED_FILE_0"\n' in setups["a"]
    assert f'pipec_write_file {where}/b/shared.txt 0 "$PIPEC_SHARED_FILE_0"\n' in setups["b"]
    assert f'pipec_write_file {where}/b/blob.bin 1 "$PIPEC_SHARED_FILE_1"\n' in setups["b"]
    assert f'pipec_write_file {where}/c/blob.bin 1 "$PIPEC_SHARED_FILE_1"\n' in setups["c"]
    assert f"pipec_write_file {where}/a/own.txt 0 {shlex.quote(OWN)}\n" in setups["a"], "one job's: inline"
    assert f"pipec_write_file {where}/a/blob.txt 0 {BLOB_TEXT}\n" in setups["a"]
    # Each container template reads only the contents its jobs write.
    tag = "{{workflow.annotations.pipec-file-%d}}"
    envs = {j: container_env(doc, j) for j in "abc"}
    assert {k: v for k, v in envs["a"].items() if k.startswith("PIPEC_SHARED")} == {"PIPEC_SHARED_FILE_0": tag % 0}
    assert {k: v for k, v in envs["b"].items() if k.startswith("PIPEC_SHARED")} == {
        "PIPEC_SHARED_FILE_0": tag % 0, "PIPEC_SHARED_FILE_1": tag % 1}
    assert {k: v for k, v in envs["c"].items() if k.startswith("PIPEC_SHARED")} == {"PIPEC_SHARED_FILE_1": tag % 1}
    assert envs["b"]["PIPEC_ENCODED"].split()[-2:] == ["PIPEC_SHARED_FILE_0", "PIPEC_SHARED_FILE_1"]


def test_argo_templates_and_cron_workflows_carry_the_copy_in_their_workflow_metadata(tmp_path: Path) -> None:
    template = yaml.safe_load(compile_argo(shared_workflow(tmp_path), kind="template"))
    assert "pipec-file-0" not in template["metadata"]["annotations"]
    assert decoded(template["spec"]["workflowMetadata"]["annotations"]["pipec-file-0"]) == HOSTILE
    cron_wf = ir.Workflow("shared", jobs=shared_workflow(tmp_path).jobs, source_file="shared.yaml",
                          triggers=(ir.Trigger("0 3 * * *"),))
    cron = yaml.safe_load(compile_argo(cron_wf))
    assert cron["kind"] == "CronWorkflow"
    assert cron["spec"]["workflowMetadata"]["annotations"]["pipec-file-1"] == BLOB_TEXT


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["workflow", "template"])
def test_argo_pods_write_shared_contents_byte_for_byte(tmp_path: Path, kind: str) -> None:
    where = tmp_path / "f"
    manifest = compile_argo(shared_workflow(where), kind)
    wf = argo_sim.run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    assert (where / "a" / "it's shared.txt").read_bytes() == HOSTILE.encode()
    assert (where / "b" / "shared.txt").read_bytes() == HOSTILE.encode()
    assert (where / "b" / "blob.bin").read_bytes() == BLOB
    assert (where / "c" / "blob.bin").read_bytes() == BLOB

    def out(job: str) -> dict[str, bytes]:
        root = wf.repo / wf.name / job / "0" / "outputs"
        return {p.name: p.read_bytes() for p in root.iterdir()}

    assert out("a") == {"shared.txt": HOSTILE.encode(), "own.txt": OWN.encode(), "blob.txt": BLOB_TEXT.encode()}
    assert out("b") == {"shared.txt": HOSTILE.encode(), "blob.bin": BLOB}
    assert out("c") == {"blob.bin": BLOB}
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.e2e
def test_argo_group_members_write_shared_contents(tmp_path: Path) -> None:
    where = tmp_path / "f"
    manifest = compile_argo(group_workflow(where))
    assert copies(yaml.safe_load(manifest), HOSTILE) == 1
    wf = argo_sim.run_workflow(manifest, tmp_path / "cluster")
    assert wf.phase == "Succeeded", wf.logs()
    root = wf.repo / wf.name / "a" / "0" / "outputs"
    assert {p.name: p.read_bytes() for p in root.iterdir()} == {"a.txt": HOSTILE.encode(), "b.txt": HOSTILE.encode()}
    assert not list(tmp_path.rglob("PWNED"))


def test_argo_refuses_shared_contents_over_the_annotations_limit_at_the_file(tmp_path: Path) -> None:
    big = [f"{n}" * 100_000 for n in range(3)]  # each fits a variable; together over 256 KiB
    jobs = tuple(ir.Job(j, j, image=IMAGE, command=ir.Command.shell("true"),
                        files=tuple(ir.File(f"/data/{n}.txt", (ir.Text(t),), location=loc(10 * (n + 1) + i))
                                    for n, t in enumerate(big)))
                 for i, j in enumerate(("x", "y")))
    diags = Diagnostics()
    assert argo_compile([ir.Workflow("big", jobs=jobs, source_file="shared.yaml")], Config(), diags) == {}
    [error] = [d for d in diags.items if d.severity.value == "error"]
    assert "Kubernetes accepts at most 262,144 bytes of annotations on one object" in error.message
    assert "300,000 of them the contents of 3 file(s) several jobs write" in error.message
    assert error.location == loc(10)


def test_argo_refuses_shared_contents_too_large_for_one_variable(tmp_path: Path) -> None:
    jobs = tuple(ir.Job(j, j, image=IMAGE, command=ir.Command.shell("true"),
                        files=(ir.File("/data/big.txt", (ir.Text("z" * 140_000),), location=loc(i + 3)),))
                 for i, j in enumerate(("x", "y")))
    diags = Diagnostics()
    assert argo_compile([ir.Workflow("big", jobs=jobs, source_file="shared.yaml")], Config(), diags) == {}
    [error] = [d for d in diags.items if d.severity.value == "error"]
    assert "file /data/big.txt, whose contents several jobs write, needs 140,021 bytes" in error.message
    assert "(PIPEC_SHARED_FILE_0)" in error.message and error.location == loc(3)


# ----------------------------------------------------------------------- GitHub Actions
def compile_gha(wf: ir.Workflow, repo: Path) -> Path:
    diags = Diagnostics()
    out = gha.compile_workflows([wf], Config(), diags)
    assert diags.error_count() == 0, diags.items
    for rel, (content, _) in out.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(content, encoding="utf-8")
    return repo / ".github" / "workflows" / f"{wf.name}.yml"


def run_env(doc: dict[str, Any], job: str) -> dict[str, str]:
    return next(s for s in doc["jobs"][job]["steps"] if s.get("id") == "run")["env"]


def test_gha_ships_each_shared_contents_once_in_the_workflow_env(tmp_path: Path) -> None:
    where = tmp_path / "f"
    flow = compile_gha(shared_workflow(where, runner_job=True), tmp_path / "repo")
    doc = yaml.safe_load(flow.read_text(encoding="utf-8"))
    assert doc["env"] == {"PIPEC_SHARED_FILE_0": gha.gha_text(HOSTILE), "PIPEC_SHARED_FILE_1": BLOB_TEXT}
    assert list(doc)[-2:] == ["env", "jobs"]
    assert copies(doc, gha.gha_text(HOSTILE)) == 1 and copies(doc, gha.gha_text(OWN)) == 1
    setups = {j: run_env(doc, j)["PIPEC_SETUP"] for j in "abcd"}
    assert shlex.quote(f"{where}/a/it's shared.txt") + ' 0 "$PIPEC_SHARED_FILE_0"\n' in setups["a"]
    assert f'pipec_write_file {where}/b/blob.bin 1 "$PIPEC_SHARED_FILE_1"\n' in setups["b"]
    assert f'pipec_write_file {where}/c/blob.bin 1 "$PIPEC_SHARED_FILE_1"\n' in setups["c"]
    assert 'pipec_write_file "$PIPEC_FILE_0" 0 "$PIPEC_SHARED_FILE_0"\n' in setups["d"], "moved, still shared"
    assert f"pipec_write_file {where}/a/own.txt 0 {shlex.quote(OWN)}\n" in setups["a"]
    assert all(not k.startswith("PIPEC_SHARED") for j in "abcd" for k in run_env(doc, j))


@pytest.mark.e2e
def test_gha_steps_write_shared_contents_byte_for_byte(tmp_path: Path, gha_tools) -> None:
    where = tmp_path / "f"
    repo = tmp_path / "repo"
    flow = compile_gha(shared_workflow(where, runner_job=True), repo)
    assert check_workflows(repo) == []
    r = gha_sim.run_workflow(flow, workspace=repo, workdir=tmp_path / "gh", capacity=8, timeout=90)
    assert r.conclusion == "success", r.logs()
    # The emulator runs a container's steps on this machine: the files are at their paths.
    assert (where / "a" / "it's shared.txt").read_bytes() == HOSTILE.encode()
    assert (where / "b" / "shared.txt").read_bytes() == HOSTILE.encode()
    assert (where / "b" / "blob.bin").read_bytes() == BLOB
    assert (where / "c" / "blob.bin").read_bytes() == BLOB
    assert not (where / "d").exists(), "on the runner, d's file went below its execution"

    def out(job: str) -> dict[str, bytes]:
        root = r.artifact(f"pipec.{job}.0") / "0" / "outputs"
        return {p.name: p.read_bytes() for p in root.iterdir()}

    assert out("a") == {"shared.txt": HOSTILE.encode(), "own.txt": OWN.encode(), "blob.txt": BLOB_TEXT.encode()}
    assert out("b") == {"shared.txt": HOSTILE.encode(), "blob.bin": BLOB}
    assert out("c") == {"blob.bin": BLOB}
    assert out("d") == {"shared.txt": HOSTILE.encode()}
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.e2e
def test_gha_group_member_containers_write_shared_contents(tmp_path: Path) -> None:
    where, repo, state = tmp_path / "f", tmp_path / "repo", tmp_path / "docker"
    flow = compile_gha(group_workflow(where), repo)
    doc = yaml.safe_load(flow.read_text(encoding="utf-8"))
    assert doc["env"] == {"PIPEC_SHARED_FILE_0": gha.gha_text(HOSTILE)}
    fake_docker.install(tmp_path / "bin", state)
    old = os.environ["PATH"]
    os.environ["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{old}"
    try:
        r = gha_sim.run_workflow(flow, workspace=repo, workdir=tmp_path / "gh", capacity=8, timeout=90)
    finally:
        os.environ["PATH"] = old
    assert r.conclusion == "success", r.logs()
    # Each member is a container that receives only the variables named with -e.
    runs = [c for c in fake_docker.calls(state) if c["argv"][:1] in (["run"], ["create"])]
    assert len(runs) == 2 and all("PIPEC_SHARED_FILE_0" in c["argv"] for c in runs)
    root = r.artifact("pipec.a.0") / "0" / "outputs"
    assert {p.name: p.read_bytes() for p in root.iterdir()} == {"a.txt": HOSTILE.encode(), "b.txt": HOSTILE.encode()}
    assert not list(tmp_path.rglob("PWNED"))


def test_gha_refuses_shared_contents_too_large_for_one_variable(tmp_path: Path) -> None:
    jobs = tuple(ir.Job(j, j, image=IMAGE, command=ir.Command.shell("true"),
                        files=(ir.File("/data/big.txt", (ir.Text("z" * 140_000),), location=loc(i + 3)),))
                 for i, j in enumerate(("x", "y")))
    diags = Diagnostics()
    assert gha.compile_workflows([ir.Workflow("big", jobs=jobs, source_file="shared.yaml")], Config(), diags) == {}
    [error] = [d for d in diags.items if d.severity.value == "error"]
    assert "file /data/big.txt, whose contents several jobs write, needs 140,021 bytes" in error.message
    assert "(PIPEC_SHARED_FILE_0)" in error.message and error.location == loc(3)


# --------------------------------------------------------------- many jobs, one task runner
def test_sixteen_jobs_sharing_a_large_file_ship_it_once(tmp_path: Path) -> None:
    runner = "".join(f"print('line {n}: $(x) `y` {{z}}')\n" for n in range(800))  # ~28 KB
    jobs = tuple(ir.Job(f"j{n}", f"j{n}", image=IMAGE, command=ir.Command.shell("python3 /tmp/r/runner.py"),
                        files=(ir.File("/tmp/r/runner.py", (ir.Text(runner),)),)) for n in range(16))
    wf = ir.Workflow("many", jobs=jobs, source_file="many.yaml")
    manifest = compile_argo(wf)
    assert len(manifest.encode()) < 100_000 and copies(yaml.safe_load(manifest), runner) == 1
    flow = compile_gha(wf, tmp_path)
    text = flow.read_text(encoding="utf-8")
    assert len(text.encode()) < 100_000 and copies(yaml.safe_load(text), runner) == 1


NESTING = SHARED_CORPUS / "runnable" / "valid" / "06-parallel__nesting.yaml"


@pytest.mark.skipif(not NESTING.is_file(), reason=f"no shared corpus at {NESTING}")
@pytest.mark.parametrize("target", ["argo", "gha"])
def test_the_runnable_nesting_example_compiles_small(tmp_path: Path, target: str) -> None:
    result = CliRunner().invoke(main, ["compile", str(NESTING), "--target", target, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    [out] = ([p for p in tmp_path.glob("*.yaml")] if target == "argo"
             else list((tmp_path / ".github" / "workflows").glob("*.yml")))
    assert len(out.read_bytes()) < 120_000
    assert out.read_text(encoding="utf-8").count("PIPEC_SHARED_FILE_0") >= 2


@pytest.mark.skipif(not NESTING.is_file(), reason=f"no shared corpus at {NESTING}")
def test_slurm_writes_shared_contents_once_beside_the_job_scripts(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["compile", str(NESTING), "--target", "slurm", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    [pdir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    runner = (ROOT / "compiler" / "pipec" / "frontends" / "runnable" / "runner.py").read_text(encoding="utf-8")
    assert (pdir / "shared" / "file-0").read_text(encoding="utf-8") == runner
    scripts = sorted((pdir / "jobs").glob("*.sbatch"))
    assert len(scripts) == 12  # four branches of a python, a shell and a notebook task (stubs removed)
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        assert '"$PIPEC_SCRIPT_DIR/shared/file-0"' in text and "def main()" not in text
