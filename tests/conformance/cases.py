"""The runtime contract, as one table of cases that every engine must honour alike.

Each case is a small valohai.yaml (busybox/python steps whose commands are plain ``sh`` and
``python3``, since the emulators and the Slurm cluster, container "none", run them on this
machine), optional values given at submit time, and engine-neutral expectations:

* ``jobs``: the status of each named job, derived alike on every engine from its executions:
  ``succeeded`` (every execution that started succeeded), ``failed`` (one or more failed) or
  ``not-run`` (no execution ever started its command: skipped, omitted, cancelled while
  queued, never submitted);
* ``executions``: per execution, its status, the exact set of output files it published (what
  downstream jobs can receive) and selected contents, the exact set of files each input slot
  received and selected contents, its config/parameters.json, output files holding JSON (such
  as ``argv.json``, the arguments its command line got), and text its log must contain;
* ``reports``: JSON files the commands write into the run's scratch directory (a directory on
  this machine that every engine's executions can reach), for what an execution sees that no
  engine publishes (each group member's config/distributed.json);
* ``absent``: files that must not exist after the run (what hostile text would create if it
  were executed).

Text in a case may hold ``@SCRATCH@``: each engine replaces it with its own scratch directory
for the run (see ``Case.bind``).

The engines (tests/conformance/engines.py) turn a run into an ``Outcome`` with the same
interface everywhere; test_conformance.py checks every case on every engine.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SUCCEEDED = "succeeded"
FAILED = "failed"
NOT_RUN = "not-run"
CANCELLED = "cancelled"  # started, then stopped by the engine before it ended

SCRATCH = "@SCRATCH@"


@dataclass(frozen=True)
class Execution:
    """What one execution (job, index) must show. ``None`` / empty: not checked."""

    job: str
    index: int = 0
    status: str | None = None
    outputs: frozenset[str] | None = None  # the exact set of published output files (relative paths)
    output_files: Mapping[str, str | bytes] = field(default_factory=dict)  # name -> exact content
    inputs: Mapping[str, frozenset[str]] = field(default_factory=dict)  # slot -> exact set of file names
    input_files: Mapping[str, str | bytes] = field(default_factory=dict)  # "slot/name" -> exact content
    parameters: Mapping[str, Any] | None = None  # config/parameters.json, exactly
    output_json: Mapping[str, Any] = field(default_factory=dict)  # output file -> its JSON value
    log_contains: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    name: str
    yaml: str
    about: str = ""
    submit: Mapping[str, str] = field(default_factory=dict)  # pipeline parameter -> value at submit time
    jobs: Mapping[str, str] = field(default_factory=dict)
    executions: tuple[Execution, ...] = ()
    reports: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # scratch file -> JSON subset
    absent: tuple[str, ...] = ()  # paths (usually under @SCRATCH@) that must not exist
    timeout: float = 120.0  # seconds for the whole run

    def bind(self, scratch: str) -> Case:
        """This case with every ``@SCRATCH@`` replaced by ``scratch``."""
        return _replace(self, scratch)


def _replace(value: Any, scratch: str) -> Any:
    if isinstance(value, str):
        return value.replace(SCRATCH, scratch)
    if isinstance(value, bytes):
        return value.replace(SCRATCH.encode(), scratch.encode())
    if isinstance(value, frozenset):
        return frozenset(_replace(v, scratch) for v in value)
    if isinstance(value, tuple):
        return tuple(_replace(v, scratch) for v in value)
    if isinstance(value, list):
        return [_replace(v, scratch) for v in value]
    if isinstance(value, Mapping):
        return {_replace(k, scratch): _replace(v, scratch) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _replace(getattr(value, f.name), scratch)
                                             for f in dataclasses.fields(value)})
    return value


def names(*items: str) -> frozenset[str]:
    return frozenset(items)


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON is one)."""
    return json.dumps(value, ensure_ascii=False)


# Writes the arguments the command line gave it, as a JSON list, to outputs/argv.json: what
# `{parameters}` became, after the shell, exactly.
ARGV = ('python3 -c \'import json, os, sys; json.dump(sys.argv[1:], '
        'open(os.environ["VH_OUTPUTS_DIR"] + "/argv.json", "w"))\'')


# ------------------------------------------------------------------- 1. files by glob
GLOB = Case(
    name="glob-edge",
    about="an edge passes only the upstream files its glob matches ('*' crosses '/', hidden files count, the "
          "tree is flattened), whatever their names hold",
    yaml="""\
- step:
    name: produce
    image: busybox
    command: |
      cd "$VH_OUTPUTS_DIR"
      printf 'a,b\\n' > train.csv
      printf 'c,d\\n' > test.csv
      mkdir -p 'extra dir/.hid' && printf 'e\\n' > 'extra dir/.hid/more.csv'
      printf 'sp' > 'with space.csv'
      printf 'q' > 'it'\\''s "q" $(x).csv'
      printf 'u' > 'ü😀.csv'
      printf 'd' > ./-dash.csv
      printf 'h' > .hidden.csv
      printf 'notes\\n' > readme.md
      printf 'x' > model.csv.bak
- step:
    name: consume
    image: busybox
    command:
      - ls -A $VH_INPUTS_DIR/data | wc -l > $VH_OUTPUTS_DIR/count.txt
    inputs:
      - name: data
- pipeline:
    name: conformance glob
    nodes:
      - {name: a, type: execution, step: produce}
      - {name: b, type: execution, step: consume}
    edges:
      - [a.output.*.csv, b.input.data]
""",
    jobs={"a": SUCCEEDED, "b": SUCCEEDED},
    executions=(
        Execution("a", outputs=names("train.csv", "test.csv", "extra dir/.hid/more.csv", "with space.csv",
                                     "it's \"q\" $(x).csv", "ü😀.csv", "-dash.csv", ".hidden.csv", "readme.md",
                                     "model.csv.bak")),
        Execution("b", inputs={"data": names("train.csv", "test.csv", "more.csv", "with space.csv",
                                             "it's \"q\" $(x).csv", "ü😀.csv", "-dash.csv", ".hidden.csv")},
                  input_files={"data/train.csv": "a,b\n", "data/test.csv": "c,d\n", "data/more.csv": "e\n",
                               "data/it's \"q\" $(x).csv": "q", "data/ü😀.csv": "u"},
                  output_files={"count.txt": "8\n"}),
    ),
)

# ------------------------------------------- 2. same-named outputs of several executions
SAME_NAMES = Case(
    name="same-named-outputs",
    about="every execution of a grid writes the same names; the downstream gets them all, renamed, none dropped",
    yaml="""\
- step:
    name: train
    image: busybox
    command:
      - echo lr={parameter-value:lr} > $VH_OUTPUTS_DIR/model.txt
      - echo w{parameter-value:lr} > $VH_OUTPUTS_DIR/weights
      - echo log > $VH_OUTPUTS_DIR/train.log
    parameters:
      - {name: lr, type: float, default: 0.5}
- step:
    name: collect
    image: busybox
    command:
      - ls $VH_INPUTS_DIR/models > $VH_OUTPUTS_DIR/received.txt
    inputs:
      - name: models
- task:
    name: grid
    step: train
    type: grid_search
    parameters:
      - {name: lr, style: multiple, rules: {items: [0.1, 0.2, 0.3]}}
- pipeline:
    name: conformance same names
    nodes:
      - {name: train, type: task, task: grid}
      - {name: collect, type: execution, step: collect}
    edges:
      - [train.output.model*, collect.input.models]
      - [train.output.weights, collect.input.models]
""",
    jobs={"train": SUCCEEDED, "collect": SUCCEEDED},
    executions=(
        *(Execution("train", i, SUCCEEDED, outputs=names("model.txt", "weights", "train.log"),
                    parameters={"lr": lr}, output_files={"model.txt": f"lr={lr}\n"})
          for i, lr in enumerate([0.1, 0.2, 0.3])),
        Execution("collect", inputs={"models": names("model.txt", "model.train-1.txt", "model.train-2.txt",
                                                     "weights", "weights.train-1", "weights.train-2")},
                  input_files={"models/model.txt": "lr=0.1\n", "models/model.train-1.txt": "lr=0.2\n",
                               "models/model.train-2.txt": "lr=0.3\n", "models/weights": "w0.1\n",
                               "models/weights.train-1": "w0.2\n", "models/weights.train-2": "w0.3\n"}),
    ),
)

# ----------------------------------------------------------- 3. metadata -> parameter
METADATA = Case(
    name="metadata-to-parameter",
    about="the last value an execution prints for a key, as JSON on stdout, is the downstream parameter",
    yaml="""\
- step:
    name: train
    image: busybox
    command: |
      echo 'not json'
      echo '{"acc": 0.5, "note": "first"}'
      echo '{"acc": 0.9}'
      echo done > $VH_OUTPUTS_DIR/model.txt
- step:
    name: pick
    image: busybox
    command:
      - ARGV {parameters}
    parameters:
      - {name: best, type: float, default: 0}
- pipeline:
    name: conformance metadata
    nodes:
      - {name: a, type: execution, step: train}
      - {name: b, type: execution, step: pick}
    edges:
      - [a.metadata.acc, b.parameter.best]
""".replace("ARGV", ARGV),
    jobs={"a": SUCCEEDED, "b": SUCCEEDED},
    executions=(Execution("b", parameters={"best": 0.9}, output_json={"argv.json": ["--best=0.9"]}),),
)


def _py_literal(value: str) -> str:
    """A Python string literal of printable ASCII only, holding none of the shell's quotes nor
    Valohai's placeholder braces: safe inside ``python3 -c '...'`` in a valohai command."""
    return '"' + "".join(ch if " " <= ch <= "~" and ch not in "'\"\\{}$`" else f"\\U{ord(ch):08x}"
                         for ch in value) + '"'


META_TEXT = f"it's \"q\" $(touch {SCRATCH}/pwned) `touch {SCRATCH}/pwned` {{{{workflow.name}}}} ${{{{ github.token }}}} ü 😀\n\n"

METADATA_TEXT = Case(
    name="metadata-text-to-parameter",
    about="a metadata string holding quotes, $(...), {{, ${{, UTF-8 and trailing newlines reaches the "
          "downstream parameter byte for byte: command line and parameters.json",
    yaml=f"""\
- step:
    name: train
    image: busybox
    command:
      - {_q("python3 -c 'import json; print(json.dumps(dict(label=" + _py_literal(META_TEXT) + ")))'")}
- step:
    name: show
    image: busybox
    command:
      - {ARGV} {{parameters}}
      - printf '%s' {{parameter-value:label}} > $VH_OUTPUTS_DIR/label.bin
    parameters:
      - {{name: label, type: string, default: none}}
- pipeline:
    name: conformance metadata text
    nodes:
      - {{name: a, type: execution, step: train}}
      - {{name: b, type: execution, step: show}}
    edges:
      - [a.metadata.label, b.parameter.label]
""",
    jobs={"a": SUCCEEDED, "b": SUCCEEDED},
    executions=(Execution("b", parameters={"label": META_TEXT}, output_json={"argv.json": [f"--label={META_TEXT}"]},
                          output_files={"label.bin": META_TEXT.encode()}),),
    absent=(f"{SCRATCH}/pwned",),
)

# --------------------------------------------------------------- 4. failure policies
STOP_ALL = Case(
    name="stop-all",
    about="a failing stop-all job fails the run: the job after it never runs",
    yaml="""\
- step:
    name: fail
    image: busybox
    command:
      - echo attempted > $VH_OUTPUTS_DIR/attempted.txt
      - exit 3
- step:
    name: after
    image: busybox
    command:
      - echo ran > $VH_OUTPUTS_DIR/ran.txt
    inputs:
      - {name: upstream, optional: true}
- pipeline:
    name: conformance stop all
    nodes:
      - {name: a, type: execution, step: fail}
      - {name: a-next, type: execution, step: after}
      - {name: a-last, type: execution, step: after}
    edges:
      - [a.output.*, a-next.input.upstream]
      - [a-next.output.*, a-last.input.upstream]
""",
    jobs={"a": FAILED, "a-next": NOT_RUN, "a-last": NOT_RUN},
    executions=(Execution("a", status=FAILED),),
)

STOP_ALL_BRANCH = Case(
    name="stop-all-stops-other-branches",
    about="a failing stop-all job stops the whole run: a job waiting on an independent, still running branch "
          "never runs",
    yaml="""\
- step:
    name: fail
    image: busybox
    command:
      - exit 3
- step:
    name: slow
    image: busybox
    command:
      - sleep 20
      - echo b > $VH_OUTPUTS_DIR/b.txt
- step:
    name: after
    image: busybox
    command:
      - echo ran > $VH_OUTPUTS_DIR/ran.txt
    inputs:
      - {name: upstream, optional: true}
- pipeline:
    name: conformance stop all branch
    nodes:
      - {name: a, type: execution, step: fail}
      - {name: b, type: execution, step: slow}
      - {name: b-next, type: execution, step: after}
    edges:
      - [b.output.*, b-next.input.upstream]
""",
    jobs={"a": FAILED, "b-next": NOT_RUN},
)

STOP_NEXT = Case(
    name="stop-next",
    about="a failing stop-next job skips only its own downstream (two levels of it); an independent branch "
          "completes",
    yaml="""\
- step:
    name: fail
    image: busybox
    command:
      - echo attempted > $VH_OUTPUTS_DIR/attempted.txt
      - exit 3
- step:
    name: slowish
    image: busybox
    command:
      - sleep 2
      - echo b-output > $VH_OUTPUTS_DIR/b.txt
- step:
    name: after
    image: busybox
    command:
      - ls $VH_INPUTS_DIR/upstream > $VH_OUTPUTS_DIR/ran.txt
    inputs:
      - {name: upstream, optional: true}
- pipeline:
    name: conformance stop next
    nodes:
      - {name: a, type: execution, step: fail, on-error: stop-next}
      - {name: a-next, type: execution, step: after}
      - {name: b, type: execution, step: slowish, on-error: stop-next}
      - {name: b-next, type: execution, step: after}
      - {name: a-last, type: execution, step: after}
    edges:
      - [a.output.*, a-next.input.upstream]
      - [a-next.output.*, a-last.input.upstream]
      - [b.output.*, b-next.input.upstream]
""",
    jobs={"a": FAILED, "a-next": NOT_RUN, "a-last": NOT_RUN, "b": SUCCEEDED, "b-next": SUCCEEDED},
    executions=(
        Execution("b-next", inputs={"upstream": names("b.txt")}, input_files={"upstream/b.txt": "b-output\n"},
                  outputs=names("ran.txt"), output_files={"ran.txt": "b.txt\n"}),
    ),
)

CONTINUE = Case(
    name="continue",
    about="a continue task with one failing execution of three: its downstream runs and receives only the "
          "successful executions' outputs",
    yaml="""\
- step:
    name: shard
    image: busybox
    command:
      - echo part-{parameter-value:part} > $VH_OUTPUTS_DIR/part-{parameter-value:part}.txt
      - echo common-{parameter-value:part} > $VH_OUTPUTS_DIR/part.txt
      - if [ {parameter-value:part} = 2 ]; then echo "part 2 fails after writing" >&2; exit 7; fi
    parameters:
      - {name: part, type: integer, default: 0}
- step:
    name: merge
    image: busybox
    command:
      - ls $VH_INPUTS_DIR/parts > $VH_OUTPUTS_DIR/received.txt
    inputs:
      - name: parts
- task:
    name: shards
    step: shard
    type: grid_search
    parameters:
      - {name: part, style: multiple, rules: {items: [1, 2, 3]}}
- pipeline:
    name: conformance continue
    nodes:
      - {name: shards, type: task, task: shards, on-error: continue}
      - {name: merge, type: execution, step: merge}
    edges:
      - [shards.output.part*, merge.input.parts]
""",
    jobs={"shards": FAILED, "merge": SUCCEEDED},
    executions=(
        Execution("shards", 0, SUCCEEDED),
        Execution("shards", 1, FAILED),
        Execution("shards", 2, SUCCEEDED),
        Execution("merge", 0, SUCCEEDED,
                  inputs={"parts": names("part-1.txt", "part.txt", "part-3.txt", "part.shards-2.txt")},
                  input_files={"parts/part-1.txt": "part-1\n", "parts/part.txt": "common-1\n",
                               "parts/part-3.txt": "part-3\n", "parts/part.shards-2.txt": "common-3\n"}),
    ),
)

# --------------------------------------------------------------------------- 5. a group
# Each member reports what it sees (config/distributed.json, PIPEC_RANK) to the scratch
# directory, then waits at a barrier until all three members have arrived: members that do not
# run at the same time never pass it (and fail after 60 s). The lead ends last.
MEMBER = r'''
import json, os, sys, time
scratch, size = sys.argv[1], int(sys.argv[2])
rank = os.environ.get("PIPEC_RANK", "?")
cfg = json.load(open(os.path.join(os.environ["VH_CONFIG_DIR"], "distributed.json")))
params = json.load(open(os.path.join(os.environ["VH_CONFIG_DIR"], "parameters.json")))
seen = {"rank": rank, "config": cfg, "parameters": params}
with open(os.path.join(scratch, f"seen-{rank}.json.tmp"), "w") as fh:
    json.dump(seen, fh)
os.rename(os.path.join(scratch, f"seen-{rank}.json.tmp"), os.path.join(scratch, f"seen-{rank}.json"))
deadline = time.time() + 60
while sum(os.path.exists(os.path.join(scratch, f"seen-{r}.json")) for r in range(size)) < size:
    if time.time() > deadline:
        sys.exit(f"member {rank}: the others never arrived")
    time.sleep(0.05)
with open(os.path.join(os.environ["VH_OUTPUTS_DIR"], f"member-{rank}.txt"), "w") as fh:
    fh.write(f"member {rank} of {cfg['size']}\n")
open(os.path.join(scratch, f"done-{rank}"), "w").close()
if rank == "0":  # the lead ends last: ending the lead ends the group
    while sum(os.path.exists(os.path.join(scratch, f"done-{r}")) for r in range(size)) < size:
        if time.time() > deadline:
            sys.exit("lead: the members never finished")
        time.sleep(0.05)
    time.sleep(0.5)
'''

GROUP_YAML = """\
- step:
    name: worker
    image: python:3.12
    command:
      - python3 @SCRATCH@/member.py @SCRATCH@ 3
    parameters:
      - {name: shard, type: integer, default: 0}
- step:
    name: collect
    image: busybox
    command:
      - ls $VH_INPUTS_DIR/all > $VH_OUTPUTS_DIR/received.txt
    inputs:
      - name: all
- task:
    name: trio
    step: worker
    type: distributed
    parameters:
      - {name: shard, style: multiple, rules: {items: [10, 11, 12]}}
- pipeline:
    name: conformance group
    nodes:
      - {name: workers, type: task, task: trio}
      - {name: collect, type: execution, step: collect}
    edges:
      - [workers.output.member-*, collect.input.all]
"""

GROUP = Case(
    name="group",
    about="the members of a distributed task start together; each sees config/distributed.json with the "
          "group's size and its own rank, and its own parameters; every member's outputs reach the downstream job",
    yaml=GROUP_YAML,
    jobs={"workers": SUCCEEDED, "collect": SUCCEEDED},
    reports={f"seen-{r}.json": {"rank": str(r), "parameters": {"shard": 10 + r},
                                "config": {"size": 3, "rank": r, "lead": 0}} for r in range(3)},
    executions=(
        *(Execution("workers", r, SUCCEEDED, outputs=names(f"member-{r}.txt"),
                    output_files={f"member-{r}.txt": f"member {r} of 3\n"}) for r in range(3)),
        Execution("collect", inputs={"all": names("member-0.txt", "member-1.txt", "member-2.txt")},
                  input_files={"all/member-2.txt": "member 2 of 3\n"}),
    ),
)

GROUP_MEMBER_FAILS = Case(
    name="group-member-fails",
    about="a group member whose command fails (after writing an output) while the lead succeeds: nothing of "
          "the failed execution reaches the downstream job, as for any failed execution",
    yaml=GROUP_YAML.replace("python3 @SCRATCH@/member.py @SCRATCH@ 3",
                            'python3 @SCRATCH@/member.py @SCRATCH@ 3 && test "$PIPEC_RANK" != 1'),
    jobs={"collect": SUCCEEDED},
    executions=(
        Execution("workers", 0, SUCCEEDED),
        Execution("collect", inputs={"all": names("member-0.txt", "member-2.txt")}),
    ),
)

# ------------------------------------------------------- 6. a submit-time override
OVERRIDE = Case(
    name="parameter-override",
    about="a pipeline parameter given at submit time reaches the command line and parameters.json",
    yaml="""\
- step:
    name: say
    image: busybox
    command:
      - ARGV {parameters}
      - printf '%s' {parameter-value:greeting} > $VH_OUTPUTS_DIR/greeting.txt
    parameters:
      - {name: greeting, type: string, default: step-default}
      - {name: epochs, type: integer, default: 1}
- pipeline:
    name: conformance override
    parameters:
      - {name: greeting, targets: [single.parameter.greeting], default: hello}
      - {name: epochs, targets: [single.parameter.epochs], default: 3}
    nodes:
      - {name: single, type: execution, step: say}
    edges: []
""".replace("ARGV", ARGV),
    submit={"greeting": "bonjour", "epochs": "7"},
    jobs={"single": SUCCEEDED},
    executions=(Execution("single", parameters={"greeting": "bonjour", "epochs": 7},
                          output_json={"argv.json": ["--greeting=bonjour", "--epochs=7"]},
                          output_files={"greeting.txt": "bonjour"}),),
)

# --------------------------------------------------------------- 7. hostile values
PWNED = f"{SCRATCH}/pwned"
HOSTILE_DEFAULT = (f"it's \"dq\" $(touch {PWNED}) `touch {PWNED}` {{{{workflow.name}}}} {{{{item}}}} "
                   f"${{{{ github.token }}}} ${{HOME}} \\back\\slash\nsecond line\tü 漢字 😀 %s %%")
HOSTILE_SUBMIT = (f"a'b \"c\" $(touch {PWNED}) `touch {PWNED}` {{{{=1+1}}}} {{{{inputs.parameters.job}}}} "
                  f"${{{{ inputs.text }}}} ${{{{ '${{{{' }}}} $HOME\nline 2 ✓ ü -- --flag")
HOSTILE_STEP = f"step's $(touch {PWNED}) {{{{workflow.uid}}}} ${{{{ secrets.GITHUB_TOKEN }}}}\nü"


HOSTILE = Case(
    name="hostile-values",
    about="quotes, $(...), backticks, {{, ${{, newlines and UTF-8 in a pipeline parameter default, a step "
          "parameter default and a submit-time value arrive byte for byte, and nothing is executed",
    yaml=f"""\
- step:
    name: echo
    image: busybox
    command:
      - {ARGV} {{parameters}}
      - printf '%s' {{parameter-value:text}} > $VH_OUTPUTS_DIR/text.bin
      - printf '%s' {{parameter-value:given}} > $VH_OUTPUTS_DIR/given.bin
      - printf '%s' {{parameter-value:fixed}} > $VH_OUTPUTS_DIR/fixed.bin
    parameters:
      - {{name: text, type: string, default: step-default}}
      - {{name: given, type: string, default: step-default}}
      - {{name: fixed, type: string, default: {_q(HOSTILE_STEP)}}}
- pipeline:
    name: conformance hostile
    parameters:
      - {{name: text, targets: [single.parameter.text], default: {_q(HOSTILE_DEFAULT)}}}
      - {{name: given, targets: [single.parameter.given], default: plain}}
    nodes:
      - {{name: single, type: execution, step: echo}}
    edges: []
""",
    submit={"given": HOSTILE_SUBMIT},
    jobs={"single": SUCCEEDED},
    executions=(Execution(
        "single",
        parameters={"text": HOSTILE_DEFAULT, "given": HOSTILE_SUBMIT, "fixed": HOSTILE_STEP},
        output_json={"argv.json": [f"--text={HOSTILE_DEFAULT}", f"--given={HOSTILE_SUBMIT}",
                                   f"--fixed={HOSTILE_STEP}"]},
        output_files={"text.bin": HOSTILE_DEFAULT.encode(), "given.bin": HOSTILE_SUBMIT.encode(),
                      "fixed.bin": HOSTILE_STEP.encode()},
    ),),
    absent=(PWNED,),
)

# ------------------------------------------------------------------------ 8. inputs
INPUTS = Case(
    name="inputs",
    about="an input with a filename gets its one file under that name; a required input that receives no "
          "files fails its job ('received no files'); the same input marked optional lets its job run",
    yaml="""\
- step:
    name: produce
    image: busybox
    command:
      - echo one > $VH_OUTPUTS_DIR/data-v1.txt
      - echo other > $VH_OUTPUTS_DIR/other.bin
- step:
    name: fixed
    image: busybox
    command:
      - cat $VH_INPUTS_DIR/data/fixed.txt > $VH_OUTPUTS_DIR/got.txt
    inputs:
      - {name: data, filename: fixed.txt}
- step:
    name: required
    image: busybox
    command:
      - echo ran > $VH_OUTPUTS_DIR/ran.txt
    inputs:
      - name: data
- step:
    name: optional
    image: busybox
    command:
      - ls -A $VH_INPUTS_DIR > $VH_OUTPUTS_DIR/slots.txt
      - echo ran > $VH_OUTPUTS_DIR/ran.txt
    inputs:
      - {name: data, optional: true}
- pipeline:
    name: conformance inputs
    nodes:
      - {name: produce, type: execution, step: produce}
      - {name: fixed, type: execution, step: fixed, on-error: stop-next}
      - {name: required, type: execution, step: required, on-error: stop-next}
      - {name: optional, type: execution, step: optional, on-error: stop-next}
    edges:
      - [produce.output.data-*, fixed.input.data]
      - [produce.output.*.none, required.input.data]
      - [produce.output.*.none, optional.input.data]
""",
    jobs={"produce": SUCCEEDED, "fixed": SUCCEEDED, "required": FAILED, "optional": SUCCEEDED},
    executions=(
        Execution("fixed", 0, SUCCEEDED, inputs={"data": names("fixed.txt")},
                  input_files={"data/fixed.txt": "one\n"}, output_files={"got.txt": "one\n"}),
        Execution("required", 0, FAILED, log_contains=("input data received no files",)),
        Execution("optional", 0, SUCCEEDED, inputs={"data": names()}, outputs=names("slots.txt", "ran.txt")),
    ),
)

CASES: tuple[Case, ...] = (GLOB, SAME_NAMES, METADATA, METADATA_TEXT, STOP_ALL, STOP_ALL_BRANCH, STOP_NEXT, CONTINUE,
                           GROUP, GROUP_MEMBER_FAILS, OVERRIDE, HOSTILE, INPUTS)

# Files a case's commands read, written into the scratch directory before the run.
SCRATCH_FILES: Mapping[str, Mapping[str, str]] = {
    GROUP.name: {"member.py": MEMBER},
    GROUP_MEMBER_FAILS.name: {"member.py": MEMBER},
}

assert len({c.name for c in CASES}) == len(CASES)
