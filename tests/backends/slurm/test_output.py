"""What `pipec compile --target slurm` writes: golden files, determinism, shellcheck, and
submit.sh run without Slurm.

Golden files
    golden/slurm/<example>/ holds exactly what

        pipec compile examples/valohai/<example>.valohai.yaml --target slurm -o golden/slurm/<example>

    writes when run from the repository root (so paths in comments are relative). Each example
    is compiled again into a temporary directory and compared file by file, byte for byte,
    and the two trees must hold the same set of files.

    To accept a deliberate change of the output, rewrite the golden files and review the diff:

        PIPEC_UPDATE_GOLDEN=1 PYTHONPATH=compiler python3 -m pytest tests/backends/slurm/test_output.py
        git diff golden/

    Every example compiles for Slurm.

Other checks
    * determinism: two compiles under different PYTHONHASHSEED give identical bytes;
    * shellcheck -x -S warning on submit.sh, jobs/*.sbatch and pipec-runtime.sh of every example
      and of a fixture full of hostile names and values (skipped when shellcheck is missing,
      unless PIPEC_REQUIRE_SLURM=1);
    * `submit.sh --dry-run` prints one `sbatch --parsable` line per job or array chunk, with
      --dependency naming the upstream jobs, and never calls sbatch;
    * sweeps larger than [slurm] max_array_size are split into several arrays, each submitted
      with its PIPEC_ARRAY_OFFSET;
    * submit.sh run with a stand-in `sbatch` that runs each job at once (no Slurm needed): the
      hostile fixture's commands, parameters and environment arrive byte for byte and nothing in
      them is executed by the generated scripts;
    * the pipec.toml keys the back end reads ([slurm], [fetch], [deploy], [profiles.<name>]).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipec.output import MANIFEST
from tests.paths import EXAMPLES, ROOT

GOLDEN = ROOT / "golden" / "slurm"
UPDATE = os.environ.get("PIPEC_UPDATE_GOLDEN") == "1"
REQUIRE = os.environ.get("PIPEC_REQUIRE_SLURM") == "1"
SHELLCHECK = shutil.which("shellcheck")
BASH = shutil.which("bash") or "/bin/bash"

def _stem(name: str) -> str:
    return name[: -len(".valohai.yaml")] if name.endswith(".valohai.yaml") else Path(name).stem


EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
COMPILING = EXAMPLE_FILES  # every example compiles for Slurm


# --------------------------------------------------------------------------------------- helpers
def pipec(*args: str, cwd: Path = ROOT, hashseed: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "compiler"), *filter(None, [env.get("PYTHONPATH")])])
    if hashseed is not None:
        env["PYTHONHASHSEED"] = hashseed
    return subprocess.run([sys.executable, "-m", "pipec", *args], check=False, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def compile_example(name: str, out: Path, hashseed: str | None = None) -> subprocess.CompletedProcess[str]:
    return pipec("compile", f"examples/valohai/{name}", "--target", "slurm", "-o", str(out), hashseed=hashseed)


def compile_file(path: Path, out: Path, *extra: str, hashseed: str | None = None) -> Path:
    result = pipec("compile", str(path), "--target", "slurm", "-o", str(out), *extra, cwd=path.parent,
                   hashseed=hashseed)
    assert result.returncode == 0, f"pipec compile {path.name} failed:\n{result.stderr}"
    return out


def tree(root: Path) -> dict[str, bytes]:
    """The files of a compiled tree (not pipec's manifest of them, which names the source's path)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def compare_trees(actual: Path, expected: Path, what: str, hint: str = "") -> None:
    """Fail with a readable report when the two trees differ in files or bytes."""
    got, want = tree(actual), tree(expected)
    problems = []
    for rel in sorted(set(want) - set(got)):
        problems.append(f"missing file: {rel}")
    for rel in sorted(set(got) - set(want)):
        problems.append(f"unexpected file: {rel}")
    for rel in sorted(set(got) & set(want)):
        if got[rel] == want[rel]:
            continue
        a = want[rel].decode("utf-8", errors="replace").splitlines(keepends=True)
        b = got[rel].decode("utf-8", errors="replace").splitlines(keepends=True)
        diff = list(difflib.unified_diff(a, b, f"{what}/{rel} (expected)", f"{rel} (compiled)", n=2))
        if len(diff) > 80:
            diff = diff[:80] + [f"... {len(diff) - 80} more diff lines\n"]
        problems.append(f"differs: {rel}\n" + ("".join(diff) or "  (bytes differ outside text lines)\n"))
    if problems:
        pytest.fail(f"{what}: compiled output differs\n" + "\n".join(problems) + (f"\n{hint}" if hint else ""),
                    pytrace=False)


def pipeline_dirs(out: Path) -> list[Path]:
    dirs = sorted(p.parent for p in out.glob("*/submit.sh"))
    assert dirs, f"no submit.sh under {out}"
    return dirs


def need_shellcheck() -> str:
    if SHELLCHECK is None:
        if REQUIRE:
            pytest.fail("shellcheck is not installed and PIPEC_REQUIRE_SLURM=1")
        pytest.skip("shellcheck is not installed (set PIPEC_REQUIRE_SLURM=1 to make this a failure)")
    return SHELLCHECK


def shellcheck(pipeline_dir: Path) -> None:
    """shellcheck -x -S warning on everything a pipeline directory holds. Job scripts are
    checked from jobs/, where their `# shellcheck source=../pipec-runtime.sh` resolves, so the
    runtime's functions are followed too (and SC1091, "not following", must not appear)."""
    exe = need_shellcheck()
    jobs = sorted(p.name for p in (pipeline_dir / "jobs").glob("*.sbatch"))
    runs = [(pipeline_dir, ["submit.sh", "pipec-runtime.sh"]), (pipeline_dir / "jobs", jobs)]
    for cwd, files in runs:
        if not files:
            continue
        for severity, extra in (("warning", []), ("info", ["--include=SC1091"])):
            proc = subprocess.run([exe, "-x", "-S", severity, *extra, *files], check=False, cwd=cwd, capture_output=True,
                                  text=True, timeout=120)
            assert proc.returncode == 0, f"shellcheck -x -S {severity} {' '.join(extra)} in {cwd}:\n{proc.stdout}"


FAKE_SBATCH = r"""#!/bin/bash
# Stand-in for sbatch: logs the call, then runs the job at once (each array task in turn)
# with the environment sbatch would export, and prints a job id like `sbatch --parsable`.
set -u
state=${FAKE_SLURM_DIR:?}
n=$(( $(cat "$state/counter" 2>/dev/null || echo 1000) + 1 ))
echo "$n" > "$state/counter"
{ printf 'offset=%s' "${PIPEC_ARRAY_OFFSET-unset}"; printf ' %q' "$@"; printf '\n'; } >> "$state/calls"
script=${!#}
array=""
for a in "$@"; do
    case $a in --array=*) array=${a#--array=}; array=${array%%\%*} ;; esac
done
if [ "${FAKE_SLURM_RUN:-1}" = 1 ]; then
    if [ -n "$array" ]; then
        for ((t = ${array%-*}; t <= ${array#*-}; t++)); do
            SLURM_ARRAY_JOB_ID=$n SLURM_ARRAY_TASK_ID=$t SLURM_JOB_ID=$n "$BASH" "$script" \
                >> "$state/job-$n-$t.out" 2>> "$state/job-$n-$t.err" || echo "$n $t $?" >> "$state/failed"
        done
    else
        SLURM_JOB_ID=$n "$BASH" "$script" >> "$state/job-$n.out" 2>> "$state/job-$n.err" || echo "$n - $?" >> "$state/failed"
    fi
fi
echo "$n;fake-cluster"
"""


def fake_slurm(tmp_path: Path, run_jobs: bool = True) -> tuple[dict[str, str], Path]:
    """A PATH whose sbatch is the stand-in above (and scancel/squeue do nothing), and its state dir."""
    bin_dir = tmp_path / "fake-bin"
    state = tmp_path / "fake-slurm"
    bin_dir.mkdir()
    state.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    for tool in ("scancel", "squeue", "srun"):
        (bin_dir / tool).write_text(f"#!/bin/sh\necho \"{tool} $*\" >> \"$FAKE_SLURM_DIR/other\"\n")
    for p in bin_dir.iterdir():
        p.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", FAKE_SLURM_DIR=str(state),
               FAKE_SLURM_RUN="1" if run_jobs else "0")
    return env, state


def forbid_sbatch(tmp_path: Path) -> dict[str, str]:
    """A PATH where sbatch, scancel and squeue fail loudly and leave a marker."""
    bin_dir = tmp_path / "no-slurm-bin"
    bin_dir.mkdir()
    marker = tmp_path / "slurm-was-called"
    for tool in ("sbatch", "scancel", "squeue", "srun"):
        p = bin_dir / tool
        p.write_text(f"#!/bin/sh\necho {tool} >> '{marker}'\necho '{tool} must not be called' >&2\nexit 99\n")
        p.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")


def dry_run(pipeline_dir: Path, run_dir: Path, env: dict[str, str], *args: str) -> list[list[str]]:
    proc = subprocess.run([BASH, str(pipeline_dir / "submit.sh"), "--dry-run", "--run-dir", str(run_dir), *args], check=False,
                          cwd=run_dir.parent, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines and lines[-1] == "dry run: nothing submitted", proc.stdout
    assert all(line.startswith("sbatch --parsable ") for line in lines[:-1]), proc.stdout
    return [shlex.split(line) for line in lines[:-1]]


def option(argv: list[str], name: str) -> str | None:
    for a in argv:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return None


def load(path: Path):
    from pipec.driver import Request, load_workflows

    result = load_workflows(Request(file=str(path), target="slurm"))
    assert not result.has_errors, [d.format_text() for d in result.diagnostics]
    return result


# ------------------------------------------------------------------------------------ golden files
@pytest.mark.parametrize("name", COMPILING)
def test_golden(name: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = compile_example(name, out)
    assert result.returncode == 0, result.stderr
    # The runtime copy is the joined runtime (tests/runtime tests it); golden files hold the rest.
    from pipec.backends.runtime import runtime_script

    for copy in out.rglob("pipec-runtime.sh"):
        assert copy.read_text(encoding="utf-8") == runtime_script("slurm")
        copy.unlink()
    golden = GOLDEN / _stem(name)
    if UPDATE:
        shutil.rmtree(golden, ignore_errors=True)
        golden.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(out, golden, ignore=shutil.ignore_patterns(MANIFEST))
        return
    assert golden.is_dir(), f"no golden files for {name}: run with PIPEC_UPDATE_GOLDEN=1 to create {golden}"
    compare_trees(out, golden, f"golden/slurm/{_stem(name)}",
                  "If the change is intended: PIPEC_UPDATE_GOLDEN=1 .venv/bin/python -m pytest "
                  "tests/backends/slurm/test_output.py -k golden, then review `git diff golden/`.")


@pytest.mark.parametrize("name", COMPILING)
def test_compiled_scripts_are_executable(name: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert compile_example(name, out).returncode == 0
    for d in pipeline_dirs(out):
        for p in [d / "submit.sh", *(d / "jobs").glob("*.sbatch")]:
            assert p.stat().st_mode & stat.S_IXUSR, f"{p.relative_to(out)} is not executable"
        for p in [d / "pipec-runtime.sh", *(d / "jobs").glob("*.commands"), *(d / "jobs").glob("*.parameters")]:
            if p.exists():
                assert not p.stat().st_mode & stat.S_IXUSR, f"{p.relative_to(out)} should not be executable"


def test_golden_has_no_stale_examples() -> None:
    if not GOLDEN.is_dir():
        pytest.skip("no golden files yet")
    wanted = {_stem(n) for n in COMPILING}
    stale = sorted(p.name for p in GOLDEN.iterdir() if p.name not in wanted)
    if UPDATE:
        for name in stale:
            shutil.rmtree(GOLDEN / name)
        return
    assert not stale, f"golden/slurm has directories for no compiling example: {stale} (PIPEC_UPDATE_GOLDEN=1 removes them)"


# -------------------------------------------------------------------------------------- fixtures
def sweep_values(mark: Path) -> list[str]:
    return [f"a'b\"c $(touch {mark}) `touch {mark}`", "PIPEC_EOF", "line\nbreak\ttab\\", "-n", "ünï 🚀", "%s %q"]


def hostile_document(mark: Path) -> list[dict]:
    """Names, values and commands that break any quoting mistake. Anything that runs
    `touch MARK` creates the marker, so a test can tell whether user text was executed."""
    evil = f"a'b\"c $(touch {mark}) `touch {mark}` ; # \\ ünï 🚀 --x\t|&<>*?"
    prep_step = f"Prep \"data\" $(touch {mark}) `touch {mark}`; # ünï 🚀"
    consume_step = "--consume; rm -rf ~ #"
    return [
        {"step": {
            "name": prep_step,
            # Spaces are refused in image references (on every target); the rest must stay inert.
            "image": f"python:3.12-$(touch\\t{mark})`touch`",
            "command": [
                f"echo \"it's a \\\"quoted\\\" $HOME\" 'single $(touch {mark}) `touch {mark}`'; echo done",
                "cat <<'EOF'\nPIPEC_EOF\nPIPEC_EOF_1\nEOF",
                "printf '<%s>\\n' {parameters} > /valohai/outputs/out-params.txt",
                "printf %s \"$HOSTILE_ENV\" > /valohai/outputs/out-env.txt",
                "ls /valohai/inputs > /valohai/outputs/out-listing.txt",
                "cp '/valohai/config/parameters.json' \"/valohai/outputs/out-parameters.json\"",
            ],
            "parameters": [
                {"name": "weird-param", "type": "string", "default": evil},
                {"name": "-leading-dash", "type": "string", "default": "--rm -rf /"},
                {"name": "naïve ü", "type": "string", "default": "日本語 🚀"},
                {"name": "count", "type": "integer", "default": 3},
            ],
            "environment-variables": [{"name": "HOSTILE_ENV", "default": evil + "\nsecond line\nPIPEC_EOF"}],
            "inputs": [{"name": "raw data; #1 'q'",
                        "default": f"https://example.com/a b/$(touch {mark})/`touch {mark}`?q='1'&r=\"2\""}],
            "outputs": [{"name": "out*"}],
        }},
        {"step": {
            "name": consume_step,
            "image": "python:3.12-slim",
            "command": [
                "cat '/valohai/inputs/in put/out-env.txt' > /valohai/outputs/received-env.txt",
                "printf '<%s>\\n' {parameter:message} {parameter:note} > /valohai/outputs/args.txt",
                "cp /valohai/config/parameters.json /valohai/outputs/parameters.json",
            ],
            "parameters": [
                {"name": "message", "type": "string", "default": f"hello\nPIPEC_EOF\n$(touch {mark})\n"},
                {"name": "note", "type": "string", "default": "unused"},
            ],
            "inputs": [{"name": "in put"}],
        }},
        {"step": {
            "name": "fan",
            "image": "busybox",
            "command": ["printf %s {parameter-value:v} > /valohai/outputs/v.txt", "echo 'PIPEC_EOF'"],
            "parameters": [{"name": "v", "type": "string", "default": "x"}],
        }},
        {"task": {"name": f"fan-out; $(touch {mark})", "step": "fan", "type": "grid_search",
                  "parameters": [{"name": "v", "style": "multiple", "rules": {"items": sweep_values(mark)}}]}},
        {"pipeline": {
            "name": f"Pipe \"line\" $(touch {mark}) `touch {mark}`; # ünï 🚀 -x",
            "parameters": [
                {"name": f"note'; $(touch {mark}) #", "targets": ["--consumer.parameter.note"],
                 "default": f"d'e\"f $(touch {mark}) `touch {mark}`; # ünï\nPIPEC_EOF"},
                {"name": "-w", "targets": ["prep node ü.parameter.weird-param"], "default": "-rf"},
            ],
            "nodes": [
                {"name": "prep node ü", "type": "execution", "step": prep_step},
                {"name": "--consumer", "type": "execution", "step": consume_step},
                {"name": "-fan `x`", "type": "task", "task": f"fan-out; $(touch {mark})"},
            ],
            "edges": [["prep node ü.output.out*", "--consumer.input.in put"]],
        }},
    ]


@pytest.fixture
def hostile(tmp_path: Path) -> dict:
    src = tmp_path / "hostile src"  # a space in every path the scripts see
    src.mkdir()
    mark = tmp_path / "PWNED"
    doc = hostile_document(mark)
    path = src / "hostile.valohai.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10**6), encoding="utf-8")
    # https inputs are "fetched" by writing the URL down, so the test needs no network.
    (src / "pipec.toml").write_text('[fetch]\nhttps = \'printf %s "$1" > "$2/url.txt"\'\n', encoding="utf-8")
    return {"path": path, "mark": mark, "doc": doc, "src": src}


def grid_document(values: int) -> list[dict]:
    return [
        {"step": {"name": "prep", "image": "busybox", "command": ["echo prep > /valohai/outputs/data.txt"],
                  "outputs": [{"name": "data.txt"}]}},
        {"step": {"name": "train", "image": "busybox",
                  "command": ["echo {parameter-value:k} > /valohai/outputs/model-{parameter-value:k}.txt"],
                  "parameters": [{"name": "k", "type": "integer", "default": 0}],
                  "inputs": [{"name": "data"}]}},
        {"step": {"name": "report", "image": "busybox", "command": ["ls /valohai/inputs/models > /valohai/outputs/ls.txt"],
                  "inputs": [{"name": "models"}]}},
        {"task": {"name": "grid", "step": "train", "type": "grid_search",
                  "parameters": [{"name": "k", "style": "multiple", "rules": {"items": list(range(values))}}]}},
        {"pipeline": {
            "name": "Array pipeline",
            "nodes": [
                {"name": "prep", "type": "execution", "step": "prep"},
                {"name": "sweep", "type": "task", "task": "grid"},
                {"name": "report", "type": "execution", "step": "report"},
            ],
            "edges": [["prep.output.data.txt", "sweep.input.data"], ["sweep.output.model*", "report.input.models"]],
        }},
    ]


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    src = tmp_path / "grid"
    src.mkdir()
    path = src / "valohai.yaml"
    path.write_text(yaml.safe_dump(grid_document(10), sort_keys=False), encoding="utf-8")
    (src / "pipec.toml").write_text("[slurm]\nmax_array_size = 4\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("name", COMPILING)
def test_compile_is_deterministic(name: str, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert compile_example(name, a, hashseed="0").returncode == 0
    assert compile_example(name, b, hashseed="4242").returncode == 0
    compare_trees(b, a, f"{name} under PYTHONHASHSEED=0")


def test_hostile_compile_is_deterministic(hostile: dict, tmp_path: Path) -> None:
    a = compile_file(hostile["path"], tmp_path / "a", hashseed="1")
    b = compile_file(hostile["path"], tmp_path / "b", hashseed="987654")
    compare_trees(b, a, "hostile fixture under PYTHONHASHSEED=1")


# ------------------------------------------------------------------------------------- shellcheck
@pytest.mark.tools
@pytest.mark.parametrize("name", COMPILING)
def test_shellcheck_examples(name: str, tmp_path: Path) -> None:
    need_shellcheck()
    out = tmp_path / "out"
    assert compile_example(name, out).returncode == 0
    for d in pipeline_dirs(out):
        shellcheck(d)


@pytest.mark.tools
def test_shellcheck_hostile(hostile: dict, tmp_path: Path) -> None:
    need_shellcheck()
    out = compile_file(hostile["path"], tmp_path / "out")
    for d in pipeline_dirs(out):
        shellcheck(d)
    assert not hostile["mark"].exists()


@pytest.mark.tools
def test_shellcheck_arrays(grid: Path, tmp_path: Path) -> None:
    need_shellcheck()
    for d in pipeline_dirs(compile_file(grid, tmp_path / "out")):
        shellcheck(d)


# ------------------------------------------------------------------------------ submit.sh --dry-run
@pytest.mark.parametrize("name", COMPILING)
def test_dry_run_submits_every_job_after_its_upstreams(name: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert compile_example(name, out).returncode == 0
    result = load(EXAMPLES / name)
    max_array = int(result.config.data.get("slurm", {}).get("max_array_size", 1001))
    env = forbid_sbatch(tmp_path)
    for wf in result.workflows:
        from pipec.names import safe_id

        d = out / safe_id(wf.name)
        run_dir = tmp_path / f"run {safe_id(wf.name)}"
        calls = dry_run(d, run_dir, env)
        expected_chunks = [j.id for j in wf.jobs for _ in range(-(-j.executions // max_array))]
        assert [Path(c[-1]).stem for c in calls] == expected_chunks
        submitted: set[str] = set()
        for call in calls:
            job = wf.job(Path(call[-1]).stem)
            assert call[:2] == ["sbatch", "--parsable"]
            assert call[-1] == str(d / "jobs" / f"{job.id}.sbatch")
            assert option(call, "output", ) == f"{run_dir}/logs/{job.id}/{'%A_%a' if job.executions > 1 else '%j'}.out"
            assert not run_dir.exists(), "a dry run must not create the run directory"
            array = option(call, "array")
            if job.executions > 1:
                parallel = job.sweep.max_parallel if job.sweep else None
                assert array == f"0-{min(job.executions, max_array) - 1}" + (f"%{parallel}" if parallel else "")
            else:
                assert array is None
            dependency = option(call, "dependency")
            upstream = wf.upstream(job.id)
            if not upstream:
                assert dependency is None and "--kill-on-invalid-dep=yes" not in call
                submitted.add(job.id)
                continue
            assert "--kill-on-invalid-dep=yes" in call
            named: dict[str, set[str]] = {}
            for part in dependency.split(","):
                kind, _, ids = part.partition(":")
                for token in ids.split(":"):
                    assert re.fullmatch(r"<[a-z0-9-]+>", token), dependency
                    named.setdefault(kind, set()).add(token[1:-1])
            assert set().union(*named.values()) == set(upstream), (job.id, dependency)
            for up in upstream:
                kind = "afterany" if wf.job(up).on_error.value == "continue" else "afterok"
                assert up in named.get(kind, set()), (job.id, up, dependency)
                assert up in submitted, f"{job.id} is submitted before its upstream {up}"
            submitted.add(job.id)
        assert not (run_dir / "jobs.tsv").exists(), "a dry run records no job ids"
    assert not (tmp_path / "slurm-was-called").exists(), "the dry run called a Slurm command"


def test_dry_run_hostile_parameters(hostile: dict, tmp_path: Path) -> None:
    out = compile_file(hostile["path"], tmp_path / "out")
    (d,) = pipeline_dirs(out)
    env = forbid_sbatch(tmp_path)
    mark = hostile["mark"]
    value = f"v'; $(touch {mark}) `touch {mark}` #"
    calls = dry_run(d, tmp_path / "run 1", env, "--param", f"note'; $(touch {mark}) #={value}", "--param=-w=x=y")
    assert [Path(c[-1]).stem for c in calls] == ["prep-node", "consumer", "fan-x"]
    assert option(calls[1], "dependency") == "afterok:<prep-node>"
    assert option(calls[2], "array") == "0-5" and option(calls[2], "dependency") is None
    proc = subprocess.run([BASH, str(d / "submit.sh"), "--dry-run", "--param", "nope=1"], check=False, cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown pipeline parameter 'nope'" in proc.stderr
    help_text = subprocess.run([BASH, str(d / "submit.sh"), "--help"], check=False, cwd=tmp_path, env=env, capture_output=True,
                               text=True).stdout
    assert "--param NAME=VALUE" in help_text and "-w (default -rf)" in help_text
    assert not mark.exists()
    assert not (tmp_path / "slurm-was-called").exists()


# ----------------------------------------------------------------------------------------- arrays
def test_arrays_split_at_max_array_size(grid: Path, tmp_path: Path) -> None:
    out = compile_file(grid, tmp_path / "out")
    (d,) = pipeline_dirs(out)
    calls = dry_run(d, tmp_path / "run", forbid_sbatch(tmp_path))
    assert [Path(c[-1]).stem for c in calls] == ["prep", "sweep", "sweep", "sweep", "report"]
    assert [option(c, "array") for c in calls] == [None, "0-3", "0-3", "0-1", None]
    for c in calls[1:4]:
        assert option(c, "dependency") == "afterok:<prep>"
        assert option(c, "output").endswith("/logs/sweep/%A_%a.out")
    # The report waits for every chunk of the sweep (each named by its first execution).
    assert option(calls[4], "dependency") == "afterok:<sweep>:<sweep@4>:<sweep@8>"

    # Each chunk is submitted right after exporting its offset.
    lines = (d / "submit.sh").read_text().splitlines()
    offsets = [lines[i - 1] for i, line in enumerate(lines) if line.startswith("submit sweep ")]
    assert offsets == ["export PIPEC_ARRAY_OFFSET=0", "export PIPEC_ARRAY_OFFSET=4", "export PIPEC_ARRAY_OFFSET=8"]
    assert "10 executions in 3 arrays of at most 4" in (d / "submit.sh").read_text()
    assert not (d / "jobs" / "sweep.commands").exists()  # one command, in the body
    assert len((d / "jobs" / "sweep.values").read_text().splitlines()) == 10
    assert len((d / "jobs" / "sweep.params.tsv").read_text().splitlines()) == 11


def test_arrays_run_every_execution_once(grid: Path, tmp_path: Path) -> None:
    """submit.sh with the stand-in sbatch: offsets reach the jobs and all 10 executions run."""
    out = compile_file(grid, tmp_path / "out")
    (d,) = pipeline_dirs(out)
    env, state = fake_slurm(tmp_path)
    run_dir = tmp_path / "run"
    proc = subprocess.run([BASH, str(d / "submit.sh"), "--run-dir", str(run_dir)], check=False, cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not (state / "failed").exists(), (state / "failed").read_text()
    calls = [shlex.split(line) for line in (state / "calls").read_text().splitlines()]
    assert [c[0] for c in calls] == ["offset=0", "offset=0", "offset=4", "offset=8", "offset=0"]
    assert [option(c, "array") for c in calls] == [None, "0-3", "0-3", "0-1", None]
    assert option(calls[1], "dependency") == "afterok:1001"
    assert option(calls[4], "dependency") == "afterok:1002:1003:1004"
    assert (run_dir / "jobs.tsv").read_text() == "prep\t1001\nsweep\t1002\nsweep\t1003\nsweep\t1004\nreport\t1005\n"
    for k in range(10):
        assert (run_dir / "sweep" / str(k) / ".pipec" / "ok").exists(), f"execution {k} did not run"
        assert (run_dir / "sweep" / str(k) / "outputs" / f"model-{k}.txt").read_text() == f"{k}\n"
        params = json.loads((run_dir / "sweep" / str(k) / "config" / "parameters.json").read_text())
        assert params == {"k": k}
    assert not (run_dir / "sweep" / "10").exists()
    listing = (run_dir / "report" / "0" / "outputs" / "ls.txt").read_text().split()
    assert listing == sorted(f"model-{k}.txt" for k in range(10))


# ------------------------------------------------------------- the hostile fixture, run without Slurm
def test_hostile_values_arrive_byte_for_byte(hostile: dict, tmp_path: Path) -> None:
    out = compile_file(hostile["path"], tmp_path / "out")
    (d,) = pipeline_dirs(out)
    mark = hostile["mark"]
    env, state = fake_slurm(tmp_path)
    run_dir = tmp_path / "run dir 'x'"
    note = f"n'o\"te $(touch {mark}) `touch {mark}` ; # ü\nPIPEC_EOF\n--x"
    proc = subprocess.run([BASH, str(d / "submit.sh"), "--run-dir", str(run_dir), "--param",
                           f"note'; $(touch {mark}) #={note}"], check=False, cwd=hostile["src"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    errors = "".join(p.read_text() for p in sorted(state.glob("*.err")))
    assert not (state / "failed").exists(), errors
    assert not mark.exists(), "user text was executed"

    step = hostile["doc"][0]["step"]
    env_value = step["environment-variables"][0]["default"]
    prep = run_dir / "prep-node" / "0"
    assert (prep / ".pipec" / "ok").exists()
    # Pipeline parameter -w (default -rf) replaces weird-param; the other parameters keep their defaults.
    assert json.loads((prep / "config" / "parameters.json").read_text(encoding="utf-8")) == {
        "weird-param": "-rf", "-leading-dash": "--rm -rf /", "naïve ü": "日本語 🚀", "count": 3,
    }
    assert (prep / "outputs" / "out-parameters.json").read_bytes() == (prep / "config" / "parameters.json").read_bytes()
    args = (prep / "outputs" / "out-params.txt").read_text(encoding="utf-8")
    assert args == "<--weird-param=-rf>\n<---leading-dash=--rm -rf />\n<--naïve ü=日本語 🚀>\n<--count=3>\n"
    assert (prep / "outputs" / "out-env.txt").read_text(encoding="utf-8") == env_value
    assert (prep / "outputs" / "out-listing.txt").read_text(encoding="utf-8") == "raw data; #1 'q'\n"
    url = step["inputs"][0]["default"]
    assert (prep / "inputs" / "raw data; #1 'q'" / "url.txt").read_text(encoding="utf-8") == url
    command = (prep / ".pipec" / "command.sh").read_text(encoding="utf-8")
    assert "\nPIPEC_EOF\nPIPEC_EOF_1\n" in command
    job_out = "".join(p.read_text(encoding="utf-8") for p in sorted(state.glob("job-*.out")))
    assert f"it's a \"quoted\" {os.environ.get('HOME', '')}" in job_out
    assert f"single $(touch {mark}) `touch {mark}`" in job_out
    assert "PIPEC_EOF\nPIPEC_EOF_1\n" in job_out

    consumer = run_dir / "consumer" / "0"
    assert (consumer / ".pipec" / "ok").exists()
    assert (consumer / "outputs" / "received-env.txt").read_text(encoding="utf-8") == env_value
    message = hostile["doc"][1]["step"]["parameters"][0]["default"]
    assert (consumer / "outputs" / "args.txt").read_text(encoding="utf-8") == f"<--message={message}>\n<--note={note}>\n"
    assert json.loads((consumer / "outputs" / "parameters.json").read_text(encoding="utf-8")) == {
        "message": message, "note": note,
    }
    calls = [shlex.split(line) for line in (state / "calls").read_text().splitlines()]
    assert option(calls[1], "dependency") == "afterok:1001"
    assert (run_dir / "jobs.tsv").read_text() == "prep-node\t1001\nconsumer\t1002\nfan-x\t1003\n"

    # A sweep over hostile values: each execution reads its command and parameters back from
    # one $'...' line of jobs/fan-x.commands and jobs/fan-x.parameters.
    for k, value in enumerate(sweep_values(mark)):
        execution = run_dir / "fan-x" / str(k)
        assert (execution / "outputs" / "v.txt").read_text(encoding="utf-8") == value, k
        assert json.loads((execution / "config" / "parameters.json").read_text(encoding="utf-8")) == {"v": value}
    table = (d / "jobs" / "fan-x.params.tsv").read_text(encoding="utf-8").splitlines()
    assert len(table) == 1 + len(sweep_values(mark)) and table[0] == "execution\tv"


def test_hostile_defaults_without_params(hostile: dict, tmp_path: Path) -> None:
    """Without --param the pipeline parameters' defaults arrive byte for byte."""
    out = compile_file(hostile["path"], tmp_path / "out")
    (d,) = pipeline_dirs(out)
    env, state = fake_slurm(tmp_path)
    run_dir = tmp_path / "run"
    proc = subprocess.run([BASH, str(d / "submit.sh"), "--run-dir", str(run_dir)], check=False, cwd=hostile["src"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not (state / "failed").exists(), "".join(p.read_text() for p in state.glob("*.err"))
    assert not hostile["mark"].exists()
    note = hostile["doc"][-1]["pipeline"]["parameters"][0]["default"]
    params = json.loads((run_dir / "consumer" / "0" / "outputs" / "parameters.json").read_text(encoding="utf-8"))
    assert params["note"] == note


# ------------------------------------------------------------------------------------ pipec.toml
FULL_CONFIG = """\
[slurm]
partition = "batch"
account = "proj #1"
qos = "normal"
options = ["--constraint=a100&nvlink", "--exclusive", "--comment=it's #x"]
container = "none"
max_array_size = 3
retries = 5

[fetch]
s3 = 'rclone copy "$1" "$2"'

[deploy]
command = "echo deploying"

[profiles.gpu-big]
cpus = 7.5
memory = 16000
gpus = 2
gpu_type = "a100"
partition = "gpu"
"""


def config_document() -> list[dict]:
    return [
        {"step": {"name": "train", "image": "busybox", "environment": "gpu-big", "time-limit": "1h30m",
                  "command": ["echo train > /valohai/outputs/model.pb"], "outputs": [{"name": "model.pb"}],
                  "inputs": [{"name": "data", "default": "s3://bucket/data.csv"}],
                  "parameters": [{"name": "x", "type": "integer", "default": 1}]}},
        {"step": {"name": "plain", "image": "busybox", "command": ["false"], "inputs": [{"name": "x"}]}},
        {"endpoint": {"name": "predict", "image": "busybox", "server-command": "true",
                      "files": [{"name": "model", "path": "model.pb"}]}},
        {"deployment": {"name": "prod"}},
        {"task": {"name": "grid", "step": "train", "type": "grid_search",
                  "parameters": [{"name": "x", "style": "multiple", "rules": {"items": [1, 2, 3, 4, 5]}}]}},
        {"pipeline": {
            "name": "Configured",
            "nodes": [
                {"name": "train", "type": "execution", "step": "train", "on-error": "retry"},
                {"name": "grid", "type": "task", "task": "grid"},
                {"name": "plain", "type": "execution", "step": "plain"},
                {"name": "deploy", "type": "deployment", "deployment": "prod", "endpoints": ["predict"]},
            ],
            "edges": [["train.output.model.pb", "deploy.file.predict.model"],
                      ["train.output.model.pb", "plain.input.x"]],
        }},
    ]


@pytest.mark.tools
def test_config_keys_reach_the_scripts(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    path = src / "valohai.yaml"
    path.write_text(yaml.safe_dump(config_document(), sort_keys=False), encoding="utf-8")
    (src / "pipec.toml").write_text(FULL_CONFIG, encoding="utf-8")
    result = pipec("compile", str(path), "--target", "slurm", "-o", str(tmp_path / "out"), cwd=src)
    assert result.returncode == 0, result.stderr
    (d,) = pipeline_dirs(tmp_path / "out")

    train = (d / "jobs" / "train.sbatch").read_text()
    directives = [line[len("#SBATCH "):] for line in train.splitlines() if line.startswith("#SBATCH ")]
    assert directives == [
        "--job-name=configured.train",
        "--partition=gpu",  # the profile's partition wins over [slurm] partition
        "--account='proj #1'",
        "--qos=normal",
        "--time=0-01:30:00",
        "--cpus-per-task=8",
        "--mem=16000M",
        "--gres=gpu:a100:2",
        "--constraint='a100&nvlink'",
        "--exclusive",
        "--comment='it'\"'\"'s #x'",
    ]
    assert "pipec_run retry 5 " in train  # on-error: retry uses [slurm] retries
    assert "pipec_fetch data s3://bucket/data.csv 'rclone copy \"$1\" \"$2\"'" in train

    plain = (d / "jobs" / "plain.sbatch").read_text()
    assert "#SBATCH --partition=batch\n" in plain
    assert "pipec_run stop-all 0 " in plain

    deploy = (d / "jobs" / "deploy.sbatch").read_text()
    assert "\necho deploying\n" in deploy
    assert "export PIPEC_DEPLOYMENT=prod\n" in deploy and "export PIPEC_ENDPOINTS=predict\n" in deploy

    submit = (d / "submit.sh").read_text()
    assert "5 executions in 2 arrays of at most 3" in submit
    if SHELLCHECK is not None:
        shellcheck(d)


CONTAINER_LAUNCH = {
    "apptainer": 'pipec_run stop-all 0 apptainer exec --bind="$PIPEC_RUN_DIR:$PIPEC_RUN_DIR" '
                 '--bind="$PIPEC_INPUTS_DIR:/valohai/inputs" --bind="$PIPEC_OUTPUTS_DIR:/valohai/outputs" '
                 '--bind="$PIPEC_CONFIG_DIR:/valohai/config" docker://python:3.12-slim bash -e ',
    "pyxis": 'pipec_run stop-all 0 srun --ntasks=1 --container-image=python:3.12-slim '
             '--container-mounts="$PIPEC_RUN_DIR:$PIPEC_RUN_DIR,$PIPEC_INPUTS_DIR:/valohai/inputs,'
             '$PIPEC_OUTPUTS_DIR:/valohai/outputs,$PIPEC_CONFIG_DIR:/valohai/config" --container-workdir="$PWD" bash -e ',
}


@pytest.mark.tools
@pytest.mark.parametrize("container", ["none", "apptainer", "pyxis"])
def test_container_modes(container: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(EXAMPLES / "mnist.valohai.yaml", src / "valohai.yaml")
    (src / "pipec.toml").write_text(f'[slurm]\ncontainer = "{container}"\n', encoding="utf-8")
    out = tmp_path / "out"
    result = pipec("compile", "valohai.yaml", "--target", "slurm", "-o", str(out), cwd=src)
    assert result.returncode == 0, result.stderr
    (d,) = pipeline_dirs(out)
    for sbatch in sorted((d / "jobs").glob("*.sbatch")):
        text = sbatch.read_text()
        run_line = next(line for line in text.splitlines() if line.startswith("pipec_run "))
        if container == "none":
            assert run_line.startswith("pipec_run stop-all 0 bash -e "), run_line
            commands = (d / "jobs" / f"{sbatch.stem}.commands")
            body = commands.read_text() if commands.exists() else text.split("/.pipec/command.sh\" <<", 1)[1]
            assert "/valohai/" not in body, f"{sbatch.name}: a command on the host still names /valohai/"
        else:
            assert run_line.startswith(CONTAINER_LAUNCH[container]), run_line
            assert "(container = " not in text
    if SHELLCHECK is not None:
        shellcheck(d)


def test_deployment_without_deploy_command_is_a_located_error(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(EXAMPLES / "three-trainings.valohai.yaml", src / "valohai.yaml")
    (src / "pipec.toml").write_text("[slurm]\n", encoding="utf-8")
    result = pipec("compile", "valohai.yaml", "--target", "slurm", "-o", str(tmp_path / "out"), cwd=src)
    assert result.returncode == 1
    assert re.search(r"^valohai\.yaml:\d+:\d+: error: deployment node 'deploy-node' needs a deploy command on Slurm",
                     result.stderr, re.MULTILINE), result.stderr


def test_three_trainings_deploy_node_runs_the_deploy_command(tmp_path: Path) -> None:
    """examples/valohai/pipec.toml's [deploy] command (src/deploy.py) runs with the model staged."""
    out = tmp_path / "out"
    assert compile_example("three-trainings.valohai.yaml", out).returncode == 0
    (d,) = pipeline_dirs(out)
    run_dir = tmp_path / "run"
    upstream = run_dir / "find-best-model-node" / "0"
    (upstream / "outputs").mkdir(parents=True)
    (upstream / ".pipec").mkdir()
    (upstream / ".pipec" / "ok").touch()
    (upstream / "outputs" / "model.pb").write_bytes(b"weights")
    (upstream / "outputs" / "comparison.json").write_text("{}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)  # the command says `python`
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", PIPEC_RUN_DIR=str(run_dir),
               PIPEC_SCRIPT_DIR=str(d))
    proc = subprocess.run([BASH, str(d / "jobs" / "deploy-node.sbatch")], check=False, cwd=EXAMPLES, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "deployment: MyDeployment" in proc.stdout
    assert "endpoints:  predict-digit" in proc.stdout
    assert "predict-digit.model/model.pb  7 bytes" in proc.stdout
    assert "would deploy 1 file(s) to 1 endpoint(s) of MyDeployment" in proc.stdout
    assert (run_dir / "deploy-node" / "0" / ".pipec" / "ok").exists()


def test_valohai_paths_after_an_apostrophe_in_a_comment(tmp_path: Path) -> None:
    """A `#` comment holding an apostrophe must not change how later /valohai paths are
    rewritten (substitute_paths reads the `'` as opening a quoted string)."""
    src = tmp_path / "src"
    src.mkdir()
    doc = [{"step": {"name": "s", "image": "busybox", "command": [
        "# don't forget the inputs",
        "printf %s /valohai/inputs/x > /valohai/outputs/path.txt",
    ]}}]
    (src / "valohai.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    (src / "pipec.toml").write_text("", encoding="utf-8")
    out = compile_file(src / "valohai.yaml", tmp_path / "out", "--step", "s")
    (d,) = pipeline_dirs(out)
    env, state = fake_slurm(tmp_path)
    run_dir = tmp_path / "run"
    proc = subprocess.run([BASH, str(d / "submit.sh"), "--run-dir", str(run_dir)], check=False, cwd=src, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    errors = "".join(p.read_text() for p in sorted(state.glob("*.err")))
    assert not (state / "failed").exists(), f"the job failed:\n{errors}"
    execution = run_dir / "s" / "0"
    assert (execution / "outputs" / "path.txt").read_text() == f"{execution}/inputs/x"


DATUM = """
- step:
    name: train
    image: busybox
    command: ls /valohai/inputs/data
    inputs:
      - name: data
        default: datum://0123abcd
"""


def test_platform_urls_warn_at_compile_and_fail_at_staging_naming_the_config_key(tmp_path: Path) -> None:
    source = tmp_path / "valohai.yaml"
    source.write_text(DATUM)
    out = tmp_path / "out"
    result = pipec("compile", str(source), "--target", "slurm", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^{re.escape(str(source))}:7:9: warning: input 'data' of 'train' uses datum:// URLs", result.stderr, re.M)
    assert "[fetch] datum" in result.stderr
    strict = pipec("compile", str(source), "--target", "slurm", "-o", str(tmp_path / "strict"), "--strict")
    assert strict.returncode == 1
    runtime = out / "train" / "pipec-runtime.sh"
    staged = subprocess.run([BASH, "-c", f'. {shlex.quote(str(runtime))}; PIPEC_INPUTS_DIR={shlex.quote(str(tmp_path))}/in; '
                             "pipec_fetch data datum://0123abcd ''"], capture_output=True, text=True)
    assert staged.returncode == 1
    assert 'set [fetch] datum = "..." in pipec.toml' in staged.stderr


# ------------------------------------------------------------------------- parameter choices
CHOICES = """\
- step:
    name: a
    image: busybox
    command: echo {parameters}
    parameters:
      - {name: mode, type: string, choices: [fast, "slow one", "it's $(touch MARK)"], default: fast}
      - {name: tags, type: string, multiple: repeat, default: [x]}
- pipeline:
    name: choices
    parameters:
      - {name: mode, targets: [a.parameter.mode], default: "slow one"}
      - {name: tags, targets: [a.parameter.tags], default: [p, q]}
    nodes:
      - {name: a, type: execution, step: a}
    edges: []
"""


@pytest.mark.tools
def test_submit_accepts_only_the_listed_choices(tmp_path: Path) -> None:
    mark = tmp_path / "MARK"
    src = tmp_path / "valohai.yaml"
    src.write_text(CHOICES.replace("MARK", str(mark)), encoding="utf-8")
    result = pipec("compile", str(src), "--target", "slurm", "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # a list-valued pipeline parameter is compiled in, said so, and not offered at submit time
    assert "pipeline parameter 'tags' sets 'tags' of 'a', which takes several values" in result.stderr
    (d,) = pipeline_dirs(tmp_path / "out")
    script = (d / "jobs" / "a.sbatch").read_text()
    assert '--tags="${PIPEC_P_tags_1}" --tags="${PIPEC_P_tags_2}"' in script
    assert "export PIPEC_P_tags_1=p\nexport PIPEC_P_tags_2=q\n" in script
    shellcheck(d)
    env = forbid_sbatch(tmp_path)
    ok = dry_run(d, tmp_path / "run", env, "--param", f"mode=it's $(touch {mark})")
    assert len(ok) == 1 and not mark.exists()
    for args, message in ((["--param", "mode=medium"], f"parameter mode takes one of 'fast', 'slow one', 'it's $(touch {mark})', not 'medium'"),
                          (["--param", "tags=a"], "unknown pipeline parameter 'tags' (known: mode)")):
        proc = subprocess.run([BASH, str(d / "submit.sh"), "--dry-run", *args], check=False, cwd=tmp_path, env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not mark.exists()


def test_ir_fields_reach_the_scripts() -> None:
    # Resources.storage_mb becomes --tmp; Job.retries is the retry count unless [slurm] retries
    # says otherwise; a pipeline parameter's description is in submit.sh's usage.
    from pipec import ir
    from pipec.backends.slurm import compile_workflows
    from pipec.config import Config
    from pipec.errors import Diagnostics

    job = ir.Job("a", "a", command=ir.Command.shell("true"), resources=ir.Resources(storage_mb=2048),
                 retries=3, on_error=ir.OnError.RETRY, params=(ir.Param("n", args=ir.ArgSpec(("--n={v}",))),))
    wf = ir.Workflow("w", jobs=(job,), params=(ir.PipelineParam("n", "1", (("a", "n"),), "How many."),))
    diags = Diagnostics()
    files = compile_workflows([wf], Config(), diags)
    assert not diags.has_errors, diags.items
    sbatch = files["w/jobs/a.sbatch"][0]
    assert "#SBATCH --tmp=2048M\n" in sbatch and "pipec_run retry 3 " in sbatch
    assert "#                         n: How many. (default 1)\n" in files["w/submit.sh"][0]
