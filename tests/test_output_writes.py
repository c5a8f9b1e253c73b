"""`pipec compile -o OUT` never harms the user's files (compiler/pipec/output.py): no write
through a symbolic link below OUT, no file replaced or removed that pipec did not generate,
stale generated files removed after a rename (only those, and only the compile's own), atomic
writes, `-o` for Argo, and unchanged files left untouched. Every case runs the CLI in-process
on a real tree in tmp_path."""

from __future__ import annotations

import gc
import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipec.cli import main
from pipec.output import MANIFEST

STEP = "- step:\n    name: {name}\n    image: python:3.12\n    command: echo {name} {{parameters}}\n{params}"
PARAM = "    parameters:\n      - name: lr\n        type: float\n        default: 0.1\n"


def valohai(*pipelines: str, nodes: tuple[str, ...] = ("prep", "train"), command: str = "", task: bool = False) -> str:
    """Steps named `nodes` (`train` takes a parameter; a task node for --sweep when `task`) and
    pipelines (default: "CI") running them, no edges."""
    steps = "".join(STEP.format(name=n, params=PARAM if n == "train" else "") for n in nodes)
    if command:
        steps = steps.replace("command: echo", f"command: echo {command}")
    body = "".join(f"      - name: {n}\n        type: {'task' if task and n == 'train' else 'execution'}\n        step: {n}\n"
                   for n in nodes)
    return steps + "".join(f"- pipeline:\n    name: {p}\n    nodes:\n{body}    edges: []\n"
                           for p in pipelines or ("CI",))


def pipec(*args: str | Path, cwd: Path | None = None):
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    finally:
        os.chdir(old)
        gc.enable()  # `main` turns the cyclic collector off for its short run
    if result.exception is not None and not isinstance(result.exception, (SystemExit, KeyboardInterrupt)):
        raise result.exception
    return result


def compile_(source: Path, target: str, out: Path | str, *extra: str, code: int = 0):
    result = pipec("compile", source, "--target", target, "-o", out, *extra)
    assert result.exit_code == code, f"exit {result.exit_code}, expected {code}\n{result.output}"
    return result


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def files(root: Path) -> dict[str, bytes]:
    """Every file below `root` (links not followed)."""
    found = {}
    for dirpath, dirnames, names in os.walk(root):
        for name in names:
            p = Path(dirpath, name)
            if not p.is_symlink():
                found[p.relative_to(root).as_posix()] = p.read_bytes()
    return found


def manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST).read_text(encoding="utf-8"))


def errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if ": error: " in line]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A source folder with a pipec.toml that gives the GitHub Actions jobs a self-hosted label."""
    d = tmp_path / "src"
    write(d / "pipec.toml", '[gha]\nruns_on = ["self-hosted", "big-box"]\n')
    return d


# ------------------------------------------------------------------------------ 1. symlinks
def test_a_symlinked_workflow_file_is_refused_and_its_target_untouched(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai())
    victim = write(tmp_path / "victim", "precious\n")
    out = tmp_path / "out"
    (out / ".github/workflows").mkdir(parents=True)
    (out / ".github/workflows/ci.yml").symlink_to("../../../victim")
    result = compile_(source, "gha", out, code=2)
    assert errors(result) == [f"{out}/.github/workflows/ci.yml: error: is a symbolic link; pipec does not write "
                              f"through links below the output directory"]
    assert victim.read_text() == "precious\n"
    assert files(out) == {}  # nothing written, not even the runtime or the manifest
    assert compile_(source, "gha", out, "--force", code=2).exit_code == 2  # --force does not write through links
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("inside", [False, True], ids=["outside", "inside"])
def test_a_symlinked_directory_is_refused(src: Path, tmp_path: Path, inside: bool) -> None:
    source = write(src / "v.yaml", valohai())
    out = tmp_path / "out"
    elsewhere = (out / "elsewhere") if inside else (tmp_path / "elsewhere")
    elsewhere.mkdir(parents=True)
    (out / "ci").mkdir(parents=True)
    (out / "ci/jobs").symlink_to(elsewhere)
    result = compile_(source, "slurm", out, code=2)
    assert errors(result) == [f"{out}/ci/jobs: error: is a symbolic link; pipec does not write through links "
                              f"below the output directory"]  # once, not once per job
    assert list(elsewhere.iterdir()) == []
    assert sorted(files(out)) == []


def test_a_symlinked_file_inside_out_is_refused(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai())
    out = tmp_path / "out"
    compile_(source, "gha", out)
    wf = out / ".github/workflows/ci.yml"
    keep = write(out / "keep.yml", "mine\n")
    wf.unlink()
    wf.symlink_to("../../keep.yml")
    result = compile_(source, "gha", out, code=2)
    assert [e.split(": error: ")[0] for e in errors(result)] == [str(wf)]
    assert keep.read_text() == "mine\n"


def test_out_itself_may_be_a_symlink(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai())
    real = tmp_path / "scratch/build"
    real.mkdir(parents=True)
    (tmp_path / "build").symlink_to(real)
    compile_(source, "slurm", tmp_path / "build")
    assert (real / "ci/submit.sh").is_file() and (real / MANIFEST).is_file()


def test_stale_files_behind_a_link_are_left_alone(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai())
    out = tmp_path / "out"
    compile_(source, "slurm", out)
    outside = tmp_path / "outside"
    (out / "ci/jobs").rename(outside)
    (out / "ci/jobs").symlink_to(outside)
    before = files(outside)
    write(source, valohai("CI2"))  # ci/ is no longer generated
    result = compile_(source, "slurm", out)
    assert f"{out}/ci/jobs: warning: is a symbolic link" in result.stderr
    assert files(outside) == before
    assert (out / "ci/jobs").is_symlink() and not (out / "ci/submit.sh").exists()
    assert (out / "ci2/submit.sh").is_file()


# ------------------------------------------------------------------------ 2. foreign files
def test_a_hand_written_workflow_in_the_way_is_an_error_then_force_takes_it_over(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai("CI"))
    out = tmp_path / "repo"
    ci = write(out / ".github/workflows/ci.yml", "name: CI\non: push\n")
    link = out / ".github/workflows/other.yml"
    link.symlink_to("ci.yml")  # not in pipec's way: ignored
    result = compile_(source, "gha", out, code=2)
    assert errors(result) == [f"{ci}: error: not generated by pipec (not in {MANIFEST}, no pipec header): remove "
                              f"or rename it, or use --force to replace it"]
    assert "nothing written" in result.stderr
    assert ci.read_text() == "name: CI\non: push\n"
    assert sorted(files(out)) == [".github/workflows/ci.yml"]
    compile_(source, "gha", out, "--force")
    assert ci.read_text().startswith("# Generated by pipec")
    assert manifest(out)["files"][".github/workflows/ci.yml"]["owners"] == ["gha:../src/v.yaml"]
    compile_(source, "gha", out)  # pipec's own now
    assert link.is_symlink()


def test_every_problem_is_reported_together(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai("CI"))
    out = tmp_path / "repo"
    write(out / ".github/workflows/ci.yml", "mine\n")
    (out / ".github/pipec").mkdir(parents=True)
    (out / ".github/pipec/pipec-runtime.sh").symlink_to("/etc/hostname")
    result = compile_(source, "gha", out, code=2)
    assert len(errors(result)) == 2
    assert "2 problem(s)" in result.stderr


def test_a_hand_written_actionlint_config_is_never_replaced(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai())
    out = tmp_path / "repo"
    text = "# mine\nself-hosted-runner:\n  labels:\n    - other\n"
    cfg = write(out / ".github/actionlint.yaml", text)
    for extra in ((), ("--force",)):
        result = compile_(source, "gha", out, *extra)
        assert result.stderr.count("warning:") == 1
        assert f"{cfg}:3:1: warning: does not declare the self-hosted runner label big-box" in result.stderr
        assert cfg.read_text() == text
        assert ".github/actionlint.yaml" not in manifest(out)["files"]
    assert (out / ".github/workflows/ci.yml").is_file()
    # --strict: the warning fails the compile before anything is written
    (out / ".github/workflows/ci.yml").unlink()
    compile_(source, "gha", out, "--strict", code=1)
    assert not (out / ".github/workflows/ci.yml").exists()
    # declaring the label (here by a glob, as actionlint allows) silences it; the file stays as it is
    text = "self-hosted-runner:\n  labels: [other, big-*]\nconfig-variables: null\n"
    cfg.write_text(text)
    result = compile_(source, "gha", out)
    assert "warning" not in result.stderr
    assert cfg.read_text() == text


def test_pipecs_own_actionlint_config_is_written_and_removed(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai())
    out = tmp_path / "repo"
    compile_(source, "gha", out)
    cfg = out / ".github/actionlint.yaml"
    assert "big-box" in cfg.read_text()
    write(src / "pipec.toml", "")  # no self-hosted label any more
    compile_(source, "gha", out)
    assert not cfg.exists()


def test_files_of_an_older_pipec_are_recognised_without_a_manifest(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai(task=True))
    out = tmp_path / "out"
    compile_(source, "slurm", out, "--sweep", "train.lr=1,2")
    assert (out / "ci/jobs/train.values").is_file()  # a data file without a header
    (out / MANIFEST).unlink()
    write(source, valohai(command="changed", task=True))
    compile_(source, "slurm", out, "--sweep", "train.lr=1,2,3")  # every file changes: no --force needed
    assert (out / "ci/jobs/train.values").read_bytes().count(b"\n") == 3  # one line per execution
    assert set(manifest(out)["files"]) == set(files(out)) - {MANIFEST}


def test_a_changed_generated_data_file_is_not_replaced(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai(task=True))
    out = tmp_path / "out"
    compile_(source, "slurm", out, "--sweep", "train.lr=1,2")
    params = out / "ci/jobs/train.params.tsv"
    params.write_text("my notes\n")
    result = compile_(source, "slurm", out, "--sweep", "train.lr=1,2,3", code=2)
    assert errors(result) == [f"{params}: error: changed since pipec wrote it (not the content {MANIFEST} records) "
                              f"and has no pipec header: remove or rename it, or use --force to replace it"]
    assert params.read_text() == "my notes\n"


def test_a_malformed_manifest_is_an_error(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai())
    out = tmp_path / "out"
    write(out / MANIFEST, json.dumps({"pipec-manifest": 1, "files": {"../victim": {"owners": [], "sha256": "x"}}}))
    result = compile_(source, "slurm", out, code=2)
    assert "invalid path '../victim'" in result.stderr
    compile_(source, "slurm", out, "--force")
    assert "../victim" not in manifest(out)["files"]


# ------------------------------------------------------------------------------- 3. stale
def test_renaming_a_pipeline_removes_its_old_workflow_only(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai("P"))
    out = tmp_path / "repo"
    mine = write(out / ".github/workflows/mine.yml", "name: mine\n")
    write(src / "pipec.toml", '[triggers]\n"P" = "0 3 * * *"\n')
    compile_(source, "gha", out)
    assert "schedule" in (out / ".github/workflows/p.yml").read_text()
    write(source, valohai("P2"))
    compile_(source, "gha", out)
    assert sorted(files(out)) == [".github/pipec/pipec-runtime.sh", ".github/workflows/mine.yml",
                                  ".github/workflows/p2.yml", MANIFEST]
    assert mine.read_text() == "name: mine\n"
    assert sorted(manifest(out)["files"]) == [".github/pipec/pipec-runtime.sh", ".github/workflows/p2.yml"]


def test_renaming_a_node_or_a_pipeline_removes_old_batch_scripts(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai("CI", nodes=("prep", "train")))
    out = tmp_path / "out"
    compile_(source, "slurm", out)
    write(out / "ci/notes.txt", "mine\n")
    write(source, valohai("CI", nodes=("prep0", "train")))
    compile_(source, "slurm", out)
    assert sorted(p.name for p in (out / "ci/jobs").glob("*.sbatch")) == ["prep0.sbatch", "train.sbatch"]
    assert set(manifest(out)["files"]) == set(files(out)) - {MANIFEST, "ci/notes.txt"}
    write(source, valohai("Other", nodes=("prep0", "train")))
    compile_(source, "slurm", out)
    assert [rel for rel in sorted(files(out)) if not rel.startswith("other/")] == [MANIFEST, "ci/notes.txt"]
    assert sorted(p.name for p in (out / "other/jobs").glob("*.sbatch")) == ["prep0.sbatch", "train.sbatch"]
    assert not (out / "ci/jobs").exists()  # the directory it emptied went too; ci/ holds the user's file


def test_a_stale_file_changed_since_is_left_in_place(src: Path, tmp_path: Path) -> None:
    source = write(src / "v.yaml", valohai("CI", task=True))
    out = tmp_path / "out"
    compile_(source, "slurm", out, "--sweep", "train.lr=1,2")
    write(out / "ci/jobs/train.params.tsv", "edited\n")
    write(source, valohai("CI", nodes=("prep",)))
    result = compile_(source, "slurm", out)
    assert f"{out}/ci/jobs/train.params.tsv: warning: no longer generated, but changed since" in result.stderr
    assert (out / "ci/jobs/train.params.tsv").read_text() == "edited\n"
    assert not (out / "ci/jobs/train.sbatch").exists()


def test_sources_sharing_an_output_keep_each_others_files(tmp_path: Path) -> None:
    a = write(tmp_path / "a/v.yaml", valohai("A"))
    write(tmp_path / "a/pipec.toml", '[gha]\nruns_on = ["self-hosted", "box-a"]\n')
    b = write(tmp_path / "b/v.yaml", valohai("B"))
    write(tmp_path / "b/pipec.toml", '[gha]\nruns_on = ["self-hosted", "box-b"]\n')
    out = tmp_path / "repo"
    compile_(a, "gha", out)
    compile_(b, "gha", out)
    compile_(a, "gha", out)
    wf = out / ".github/workflows"
    assert sorted(p.name for p in wf.iterdir()) == ["a.yml", "b.yml"]
    assert "box-a" in (out / ".github/actionlint.yaml").read_text()
    assert "box-b" in (out / ".github/actionlint.yaml").read_text()  # both sources' labels
    entries = manifest(out)["files"]
    assert entries[".github/pipec/pipec-runtime.sh"]["owners"] == ["gha:../a/v.yaml", "gha:../b/v.yaml"]
    assert entries[".github/workflows/b.yml"]["owners"] == ["gha:../b/v.yaml"]
    write(a, valohai("A2"))  # renaming A's pipeline removes a.yml, not b.yml
    compile_(a, "gha", out)
    assert sorted(p.name for p in wf.iterdir()) == ["a2.yml", "b.yml"]
    # a pipeline of b named like one of a's: an error, not a silent takeover
    write(b, valohai("A2"))
    result = compile_(b, "gha", out, code=2)
    assert errors(result) == [f"{wf}/a2.yml: error: generated by another compile (gha:../a/v.yaml) into this "
                              f"directory; this one would replace it: rename the pipeline or compile into another "
                              f"directory (--force takes it over)"]
    # compiling one pipeline of a file removes none of its others
    write(a, valohai("A2", "A3"))
    compile_(a, "gha", out)
    assert (wf / "a3.yml").is_file()
    compile_(a, "gha", out, "--pipeline", "A3")
    assert (wf / "a2.yml").is_file() and (wf / "b.yml").is_file()


# --------------------------------------------------------------------------- 4. atomicity
def test_a_failure_midway_leaves_every_file_whole_and_the_manifest_true(src: Path, tmp_path: Path,
                                                                        monkeypatch) -> None:
    import pipec.output

    source = write(src / "v.yaml", valohai("CI", nodes=("prep", "train", "eval")))
    out = tmp_path / "out"
    compile_(source, "slurm", out)
    old = files(out)
    write(source, valohai("CI", nodes=("prep", "train", "eval"), command="v2"))
    real, calls = pipec.output._rename, []

    def failing(src_: str, dst: str, dir_fd: int | None) -> None:
        calls.append(dst)
        if len(calls) == 3:  # the pending manifest, one file, then the failure
            raise OSError(28, "No space left on device")
        real(src_, dst, dir_fd)

    monkeypatch.setattr(pipec.output, "_rename", failing)
    result = compile_(source, "slurm", out, code=2)
    assert "No space left on device" in result.stderr
    now = files(out)
    assert not [p for p in now if "pipec-tmp" in p]
    assert set(now) == set(old)
    entries = manifest(out)["files"]
    changed = [rel for rel in now if now[rel] != old[rel] and rel != MANIFEST]
    assert len(changed) == 1  # one file replaced whole, the others as they were
    for rel, data in now.items():
        if rel != MANIFEST:
            e = entries[rel]
            assert hashlib.sha256(data).hexdigest() in (e["sha256"], e.get("sha256-before"))
    # Ctrl-C while writing the temporary files: nothing changes at all
    monkeypatch.setattr(pipec.output, "_rename", real)
    before = files(out)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipec.output._Dir, "write_temp", interrupted)
    compile_(source, "slurm", out, code=1)
    assert files(out) == before
    monkeypatch.undo()
    compile_(source, "slurm", out)  # the next run finishes the job, with no --force
    fresh = tmp_path / "fresh"
    compile_(source, "slurm", fresh)
    assert files(out) == files(fresh)


def test_argo_output_paths(tmp_path: Path) -> None:
    source = write(tmp_path / "v.yaml", valohai())
    result = compile_(source, "argo", tmp_path / "out.json", code=2)
    assert "give - (standard output), a *.yaml or *.yml file" in result.output
    assert not (tmp_path / "out.json").exists()
    compile_(source, "argo", tmp_path / "manifests")  # no suffix: a directory
    assert (tmp_path / "manifests/ci.yaml").is_file()
    compile_(source, "argo", f"{tmp_path}/out.d/")  # a trailing slash: a directory
    assert (tmp_path / "out.d/ci.yaml").is_file()
    (tmp_path / "existing.json").mkdir()
    compile_(source, "argo", tmp_path / "existing.json")  # an existing directory
    assert (tmp_path / "existing.json/ci.yaml").is_file()
    stream = tmp_path / "all.yaml"
    compile_(source, "argo", stream)
    assert stream.read_text().startswith("# Generated by pipec")
    mine = write(tmp_path / "mine.yaml", "kind: ConfigMap\n")
    assert compile_(source, "argo", mine, code=2).exit_code == 2
    assert mine.read_text() == "kind: ConfigMap\n"
    link = tmp_path / "link.yaml"
    link.symlink_to(mine)
    assert "symbolic link" in compile_(source, "argo", link, code=2).stderr
    compile_(source, "argo", mine, "--force")
    assert mine.read_text().startswith("# Generated by pipec")


# ------------------------------------------------------------------------------ idempotent
@pytest.mark.parametrize("target", ["gha", "slurm", "argo"])
def test_recompiling_unchanged_input_rewrites_nothing(src: Path, tmp_path: Path, target: str) -> None:
    source = write(src / "v.yaml", valohai())
    out = tmp_path / "out"
    compile_(source, target, out)
    paths = sorted(p for p in out.rglob("*") if p.is_file())
    assert out / MANIFEST in paths
    for p in paths:  # a rewrite would show in the mtime even within one clock tick
        os.utime(p, ns=(1_000_000_000, 1_000_000_000))
    stamps = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in paths}
    compile_(source, target, out)
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in paths} == stamps
    assert sorted(p for p in out.rglob("*") if p.is_file()) == paths
    if target == "slurm":
        os.chmod(out / "ci/submit.sh", 0o644)  # a lost executable bit comes back without a rewrite
        compile_(source, target, out)
        assert os.stat(out / "ci/submit.sh").st_mode & 0o777 == 0o755
        assert (out / "ci/submit.sh").stat().st_mtime_ns == 1_000_000_000
