"""Lowering a runnable `dag:` to the IR: every task becomes a job named by its internal dotted
name (`outer.branch1.inner.branch2.step`), composite steps are flattened into the DAG, and
runnable's run-time semantics are carried by the task runner every job runs (runner.py).

Flattening. Each graph is walked in topological order of `next` and `on_failure`. A
`parallel` step's branches all start after the steps before it, and the step after it waits
for every branch's last steps; a `conditional` step's branches likewise (only one of them
runs); a `map` over a list known when compiling (an initial parameter from `--params`) and a
`loop` (`max_iterations` copies) are unrolled: their branch once per item or iteration
(`map.<i>.step`, `loop.<i>.step`), then a `reduce` job (runnable's fan-in). `next: fail`
becomes a job that fails the run; `success` ends a graph and is no job; a stub is a job that
does nothing.

State. Every job's runner writes the run's state after it (`.pipec-state/state.json` in its
outputs: every parameter with the number of the job that produced it, flags, its status) and
reads the states of the jobs before it, staged through ordinary file edges. So everything
runnable decides at run time is decided by the runner from those states, the same on every
engine: which value of a name is newest (the highest number wins, the later branch on a tie),
whether a job runs at all (a job runs when a step before it ran and led here: `next` after a
success, `on_failure` after a failure; a conditional branch's first jobs also need the
parameter to match; a loop's later iterations need `break_on` to be false), and what a
reducer makes of a map's values. A job that does not run ends at once, marked skipped, and
passes the state on. A failure inside a step with `on_failure` (or a composite with one) is
recorded in the state and the job ends successfully, so the handler can run; any other
failure fails the job and nothing after it runs.

Catalog (§2.9). A step's `put` globs publish files of its working directory; a later step's
`get` globs stage the matching files of every earlier step that put them, one input slot per
putting step, copied into its working directory oldest first, so the newest copy wins.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from graphlib import TopologicalSorter
from pathlib import Path as FsPath
from typing import Any

from pipec import ir
from pipec.errors import Diagnostics, Location
from pipec.frontends.runnable.model import TERMINALS, Graph, Step, walk
from pipec.frontends.runnable.params import Initial
from pipec.loader import Document, Path

DEFAULT_IMAGE = "python:3.12-slim"
RUNNER_PATH = "/tmp/pipec-runnable/runner.py"  # where each job finds the task runner
TASK_VAR = "RUNNABLE_PIPEC_TASK"  # the job's description, for the runner
STATE_FILE = ".pipec-state/state.json"  # below a job's outputs: the run's state after it
OBJECTS_DIR = ".pipec-objects"  # below a task's working directory: its `object` returns, pickled
SECRET_NAME = "runnable"  # every `secrets:` name is a key of this one credential, as in runnable
MAX_UNROLLED = 1000  # jobs a map or loop may unroll into


@dataclass(frozen=True)
class Edge:
    """How a job's state reaches a later job: after `next` (the job succeeded, and none of
    `unless` was flagged) or after a failure (`flag` was flagged)."""

    source: str  # a runner job
    kind: str = "next"  # "next" | "failure"
    unless: tuple[str, ...] = ()
    flag: str | None = None
    optional: bool = False  # a fan-out's executions (none when its list is empty)

    def spec(self, slot: str, aligned: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"slot": slot, "kind": self.kind}
        if self.unless:
            out["unless"] = list(self.unless)
        if self.flag:
            out["flag"] = self.flag
        if aligned:
            out["aligned"] = aligned  # only the states of this item (see Lowering.alignment)
        if self.optional:
            out["optional"] = True
        return out


@dataclass(frozen=True)
class Pred:
    """What a step placed after others waits for: the job ids it is ordered after, the state
    edges it reads, the earlier jobs that put catalog files or returned objects."""

    order: tuple[str, ...] = ()
    edges: tuple[Edge, ...] = ()
    puts: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (job, put globs), oldest first
    objects: tuple[str, ...] = ()  # jobs that return objects, oldest first
    returned: frozenset[str] = frozenset()  # names some earlier job may have returned
    # A condition the first runner job after this point checks (a conditional branch's key,
    # a loop's break_on); stubs pass it on, joins drop it.
    gate: dict[str, Any] | None = field(default=None, compare=False)

    def join(self, other: "Pred") -> "Pred":
        return Pred(_unique(self.order + other.order), _unique(self.edges + other.edges),
                    _unique(self.puts + other.puts), _unique(self.objects + other.objects),
                    self.returned | other.returned)

    def mapped(self, kind: str = "next", unless: tuple[str, ...] = (), flag: str | None = None) -> "Pred":
        """The same, reached by another kind of step relation."""
        edges = tuple(Edge(e.source, kind if kind == "failure" else e.kind, _unique(e.unless + unless),
                           flag if kind == "failure" else e.flag, e.optional) for e in self.edges)
        return Pred(self.order, edges, self.puts, self.objects, self.returned, self.gate)


def join_all(preds: list[Pred]) -> Pred:
    if len(preds) == 1:
        return preds[0]  # keeps its gate: nothing joins here
    out = Pred()
    for p in preds:
        out = out.join(p)
    return out


def _unique(items: tuple) -> tuple:  # type: ignore[type-arg]
    return tuple(dict.fromkeys(items))


@dataclass
class Context:
    """Where a graph sits: the flags a failure inside it raises (enclosing steps with
    `on_failure`), and the values its copy fixes (map item, loop index)."""

    handlers: tuple[str, ...] = ()
    constants: dict[str, Any] = field(default_factory=dict)
    fanout: ir.RuntimeFanout | None = None  # inside a map over a list known at run time: its fan-out
    env: tuple[str, ...] = ()  # constants also set as environment variables (a loop's index)


def glob_regex(globs: tuple[str, ...]) -> str:
    """A Python regex matching a path below the working directory that any of `globs` (Python
    glob syntax, relative paths) matches: `*` and `?` stay within one directory, `**` spans."""
    alternatives = []
    for glob in globs:
        out, i = [], 0
        text = glob[2:] if glob.startswith("./") else glob
        while i < len(text):
            c = text[i]
            if text.startswith("**/", i):
                out.append("(.*/)?")
                i += 3
                continue
            if text.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            if c == "*":
                out.append("[^/]*")
            elif c == "?":
                out.append("[^/]")
            elif c == "[" and text.find("]", i + 2) != -1:
                end = text.find("]", i + 2)
                body = text[i + 1:end]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
                i = end
            else:
                out.append(re.escape(c))
            i += 1
        alternatives.append("".join(out))
    return "^(" + "|".join(alternatives) + ")$"


def runner_text() -> str:
    """The task runner's source (runner.py beside this module, in a checkout and in a wheel)."""
    return FsPath(__file__).with_name("runner.py").read_text(encoding="utf-8")


class Lowering:
    def __init__(self, doc: Document, dag: Graph, initial: dict[str, Initial], diags: Diagnostics, for_compile: bool,
                 image: str | None, python: str, profiles: dict[str, Any], name: str):
        self.doc = doc
        self.dag = dag
        self.initial = initial
        self.diags = diags
        self.for_compile = for_compile
        self.image = image or DEFAULT_IMAGE
        self.python = python
        self.profiles = profiles
        self.name = name
        self.jobs: list[ir.Job] = []
        self.ids: set[str] = set()
        self.deps: list[ir.Dependency] = []
        self.targets: dict[str, list[tuple[str, str]]] = {}  # initial parameter -> (job, parameter)
        self.seq = 0
        self.fixed: set[str] = set()  # initial parameters a map unrolled over (compiled in)
        self._runner: str | None = None
        self.warned: set[tuple[Path, str]] = set()  # unreachable steps warned about (copies share them)
        self.fanned: dict[str, ir.RuntimeFanout] = {}  # job run once per item -> the fan-out
        self.parent: dict[ir.RuntimeFanout, ir.RuntimeFanout | None] = {}  # a nested map's fan-out -> the outer one

    def loc(self, path: Path) -> Location:
        return self.doc.locate(path)

    def unsupported(self, message: str, path: Path, hint: str | None = None) -> None:
        """What pipec cannot compile yet: an error for a compile, a warning for check."""
        if self.for_compile:
            self.diags.error(message, self.loc(path), hint)
        else:
            self.diags.warning(message, self.loc(path), hint, code="PC301")

    # -----------------------------------------------------------------------------------
    def workflow(self) -> ir.Workflow:
        self.graph(self.dag, Pred(), Context())
        params = []
        for name, p in self.initial.items():
            if name in self.fixed:
                continue
            params.append(ir.PipelineParam(name, _param_value(p.value), tuple(self.targets.get(name, [])),
                                           location=p.location))
        return ir.Workflow(name=self.name, jobs=tuple(self.jobs), dependencies=tuple(self.deps), params=tuple(params),
                           dialect="runnable", source_file=self.doc.file, location=self.loc(("dag",)))

    def graph(self, graph: Graph, start: Pred, ctx: Context) -> Pred:
        """Flatten a graph placed after `start`; what comes after it waits for the result
        (the jobs before `success`, and a `fail` job's state when a handler takes it)."""
        reachable = self.reachable(graph)
        incoming: dict[str, list[Pred]] = {name: [] for name in reachable}
        incoming.setdefault("success", [])
        incoming.setdefault("fail", [])
        if graph.start_at in incoming:
            incoming[graph.start_at].append(start)
        order = TopologicalSorter({n: [m for m in reachable if graph.steps[m].next == n or graph.steps[m].on_failure == n]
                                   for n in reachable})
        for name in order.static_order():
            step = graph.steps[name]
            done, failed = self.step(step, join_all(incoming[name]), ctx)
            if step.next is not None:
                incoming.setdefault(step.next if step.next in incoming else "success", []).append(done)
            if step.on_failure is not None and failed is not None:
                incoming.setdefault(step.on_failure, []).append(failed)
        ends = incoming["success"]
        if incoming["fail"]:
            ends = ends + [self.fail_job(graph, join_all(incoming["fail"]), ctx)]
        return join_all(ends)

    def reachable(self, graph: Graph) -> list[str]:
        """The non-terminal steps reachable from `start_at`, in document order; the others
        never run (warned once, for the graph the author wrote)."""
        seen: set[str] = set()
        todo = [graph.start_at]
        while todo:
            name = todo.pop()
            step = graph.steps.get(name)
            if name in seen or step is None or step.type in TERMINALS:
                continue
            seen.add(name)
            todo.extend(t for t in (step.next, step.on_failure) if t is not None)
        for name, step in graph.steps.items():
            if name not in seen and step.type not in TERMINALS and (graph.path, name) not in self.warned:
                self.warned.add((graph.path, name))
                self.diags.warning(f"step '{step.internal}' is never reached from start_at '{graph.start_at}' and never "
                                   "runs", self.doc.locate_key(step.path), code="PC302")
        return [n for n in graph.steps if n in seen]

    def step(self, step: Step, pred: Pred, ctx: Context) -> tuple[Pred, Pred | None]:
        """Lower one step placed after `pred`: what its `next` and its `on_failure` receive."""
        flag = f"failed:{step.internal}" if step.on_failure is not None else None
        inner = Context(ctx.handlers + ((flag,) if flag else ()), ctx.constants, ctx.fanout, ctx.env)
        kind = step.type
        if kind == "stub":
            job = ir.Job(id=step.internal, name=step.internal, kind=ir.JobKind.STUB, location=self.loc(step.path))
            self.add_job(job, pred)
            return replace(pred, order=(job.id,)), None
        if kind == "task":
            out = self.task(step, pred, inner)
        elif kind == "parallel":
            out = join_all([self.graph(sub, pred, inner) for sub in step.branches.values()]) if step.branches else pred
        elif kind == "conditional":
            out = self.conditional(step, pred, inner)
        elif kind == "map":
            out = self.map(step, pred, inner)
        elif kind == "loop":
            out = self.loop(step, pred, inner)
        else:
            self.unsupported(f"step '{step.internal}': {kind} steps are not supported by pipec", step.path + ("type",))
            out = pred
        if flag is None:
            return out, None
        return out.mapped(unless=(flag,)), out.mapped("failure", flag=flag)

    def conditional(self, step: Step, pred: Pred, ctx: Context) -> Pred:
        param = str(step.data.get("parameter", ""))
        keys = list(step.branches)
        ends = []
        for key, sub in step.branches.items():
            gate = {"parameter": param, "key": key, "keys": keys, "step": step.internal}
            ends.append(self.graph(sub, self.gated(pred, gate), ctx))
        return join_all(ends) if ends else pred

    @staticmethod
    def gated(pred: Pred, gate: dict[str, Any]) -> Pred:
        """`pred` for the first jobs of a branch that runs only when `gate` holds."""
        return replace(pred, gate=gate)

    def map(self, step: Step, pred: Pred, ctx: Context) -> Pred:
        on, as_ = str(step.data.get("iterate_on", "")), str(step.data.get("iterate_as", ""))
        branch = step.branches.get("branch")
        if on not in self.initial or on in pred.returned:
            return self.runtime_map(step, pred, ctx, on, as_)
        items = self.initial[on].value
        if not isinstance(items, list):
            self.diags.error(f"map '{step.internal}' iterates on '{on}', which is {type(items).__name__}, not a list",
                             self.initial[on].location or self.loc(step.path + ("iterate_on",)),
                             "runnable: 'Only list is allowed as a valid iterator type'")
            return pred
        if branch is None:
            return pred
        if not self.bounded(step, len(items), branch):
            return pred
        self.fixed.add(on)
        ends = []
        for i, item in enumerate(items):
            copy = _copy(branch, f"{step.internal}.{i}.", step, str(i))
            ends.append(self.graph(copy, pred, Context(ctx.handlers, {**ctx.constants, as_: item}, ctx.fanout, ctx.env)))
        reducer = step.data.get("reducer")
        return self.reduce_job(step, pred, ends, _reducers(branch, reducer), ctx)

    def runtime_map(self, step: Step, pred: Pred, ctx: Context, on: str, as_: str) -> Pred:
        """A map over a list known only at run time: a fan-out job prints the list, every job of
        the branch runs once per item (the engine's own fan-out), each item's jobs reading that
        item's states, and the fan-in job reduces.

        Inside another such map (whose jobs run once per outer item) the fan-out job runs once
        per outer item too, and a flatten job lists every (outer item, inner item) pair: the
        inner branch runs once per pair, its first jobs reading their outer item's state, and
        the fan-in runs once per outer item, reducing that item's pairs. So every level is one
        plain fan-out of the engine's own."""
        branch = step.branches.get("branch")
        if branch is None:
            return pred
        outer = ctx.fanout
        jid = f"{step.internal}.fan-out"
        job, deps = self.runner_job(jid, step.path, pred, ctx, {"kind": "items", "parameter": on,
                                                                 "seq": self.next_seq()})
        self.add_job(job, pred, deps)
        source = jid
        if outer is not None:
            source = f"{step.internal}.flatten"
            listed = Pred((jid,), (Edge(jid),))
            flat, flat_deps = self.runner_job(source, step.path, listed, replace(ctx, fanout=None),
                                              {"kind": "flatten", "parameter": on, "seq": self.next_seq()})
            self.add_job(flat, listed, flat_deps)
        fanout = ir.RuntimeFanout(source=source, key="items", param=as_)
        self.parent[fanout] = outer
        start = Pred((source,), (Edge(jid),), pred.puts, pred.objects, pred.returned)
        end = self.graph(_copy(branch, f"{step.internal}.", step, ""), start, replace(ctx, fanout=fanout))
        end = replace(end, edges=tuple(replace(e, optional=True) for e in end.edges if e.source != jid))
        after = Pred((jid,), (Edge(jid),), pred.puts, pred.objects, pred.returned)
        return self.reduce_job(step, after, [end], _reducers(branch, step.data.get("reducer")), ctx,
                               by_execution=True)

    def loop(self, step: Step, pred: Pred, ctx: Context) -> Pred:
        branch = step.branches.get("branch")
        count = int(step.data.get("max_iterations") or 1)
        if branch is None or not self.bounded(step, count, branch):
            return pred
        index_as = step.data.get("index_as")
        break_on = step.data.get("break_on")
        here = pred
        ends = []
        for i in range(count):
            copy = _copy(branch, f"{step.internal}.{i}.", step, str(i))
            constants = {**ctx.constants, **({str(index_as): i} if index_as else {})}
            start = here if i == 0 or not break_on else self.gated(here, {"break_on": str(break_on),
                                                                           "step": step.internal})
            env = ctx.env + ((str(index_as),) if index_as else ())
            here = self.graph(copy, start, Context(ctx.handlers, constants, ctx.fanout, env))
            ends.append(here)
        # What comes after the loop reads every iteration: the ones after a break did not run.
        return join_all(ends)

    def bounded(self, step: Step, copies: int, branch: Graph) -> bool:
        """Whether unrolling `copies` of `branch` (with every loop and map inside it unrolled
        too) stays within MAX_UNROLLED jobs; a located error when it does not."""
        jobs = copies * self.expanded(branch)
        if jobs > MAX_UNROLLED:
            self.diags.error(f"'{step.internal}' would unroll into {jobs} jobs (more than {MAX_UNROLLED})",
                             self.loc(step.path + ("type",)),
                             "lower max_iterations or the number of items, or map over a list returned at run time")
            return False
        return True

    def expanded(self, graph: Graph) -> int:
        """How many jobs a graph becomes once its loops and compile-time maps are unrolled
        (capped just past the bound, so a bomb of nested loops is counted quickly)."""
        total = 0
        for step in graph.steps.values():
            kind = step.type
            subs = [self.expanded(sub) for sub in step.branches.values()]
            if kind in ("task", "stub"):
                total += 1
            elif kind in ("parallel", "conditional"):
                total += sum(subs)
            elif kind == "loop":
                count = step.data.get("max_iterations")
                total += (count if isinstance(count, int) and count > 0 else 1) * sum(subs)
            elif kind == "map":
                items = self.initial.get(str(step.data.get("iterate_on", "")))
                count = len(items.value) if items is not None and isinstance(items.value, list) else 1
                total += count * sum(subs) + 2  # its fan-out and fan-in
            total = min(total, MAX_UNROLLED + 1)
        return total

    # -----------------------------------------------------------------------------------
    def runner_job(self, jid: str, path: Path, pred: Pred, ctx: Context, spec: dict[str, Any],
                   data: dict[str, Any] | None = None) -> tuple[ir.Job, list[ir.Dependency]]:
        """A job running the runner with `spec`, reading the states `pred` brings."""
        data = data or {}
        deps: list[ir.Dependency] = []
        inputs: list[ir.Input] = []
        states = []
        fanout = ctx.fanout
        for n, edge in enumerate(pred.edges):
            slot = f"state-{n}"
            states.append(edge.spec(slot, self.alignment(self.fanned.get(edge.source), fanout)))
            inputs.append(ir.Input(slot, optional=edge.optional, keep_directories="full"))
            deps.append(ir.Dependency(edge.source, jid, ir.DepKind.FILES, STATE_FILE, slot, label="state"))
        params = []
        decode = []
        for name, p in self.initial.items():
            params.append(ir.Param(name, _param_type(p.value), _param_value(p.value)))
            if _param_type(p.value) == "string" and not isinstance(p.value, str):
                decode.append(name)
            if name not in self.fixed:
                self.targets.setdefault(name, []).append((jid, name))
        objects = {}
        if spec.get("kind") in ("python", "shell", "notebook", "reduce"):
            for n, source in enumerate(pred.objects):
                slot = f"objects-{n}"
                objects[source] = slot
                inputs.append(ir.Input(slot, optional=True, keep_directories="full"))
                deps.append(ir.Dependency(source, jid, ir.DepKind.FILES, f"{OBJECTS_DIR}/*", slot, label="objects"))
        full = {"step": jid, **spec, "states": states, "decode": decode, "objects": objects,
                "constants": ctx.constants, "handled": list(ctx.handlers)}
        sweep = None
        if fanout is not None:
            # The engine runs the job once per item of the fan-out job's list, the item in
            # parameter `iterate_as` (the runner takes it as the copy's constant).
            sweep = ir.Sweep(ir.SweepKind.RUNTIME, 0, fanout=fanout, origin="map")
            params.append(ir.Param(fanout.param))
            deps.append(ir.Dependency(fanout.source, jid, ir.DepKind.METADATA, fanout.key, fanout.param,
                                      label=f"one run per item, as {fanout.param}"))
            full["item"] = fanout.param
            if self.parent.get(fanout) is not None:
                full["nested"] = True  # the item is a row {outer, inner, item, constants} of a flatten job
            self.fanned[jid] = fanout
        if pred.gate is not None:
            full["gate"] = pred.gate
        if ctx.env:
            full["env"] = list(ctx.env)
        secrets = tuple(str(s) for s in data.get("secrets") or [])
        job = ir.Job(
            id=jid, name=jid, image=self.image,
            # An argument vector: the runner's path is a word pipec may move (a Slurm job on the host
            # writes it below its execution directory and passes that path).
            command=ir.Command(ir.CommandKind.ARGV, ((ir.Text(self.python),), (ir.Text(RUNNER_PATH),))),
            env=(ir.EnvVar(TASK_VAR, json.dumps(full, ensure_ascii=False, sort_keys=True), self.loc(path)),),
            inputs=tuple(inputs), params=tuple(params), on_error=ir.OnError.STOP_NEXT, sweep=sweep,
            files=(ir.File(RUNNER_PATH, (ir.Text(self.runner()),)),),
            secrets=(ir.Secret(SECRET_NAME, tuple((s, s) for s in secrets), location=self.loc(path + ("secrets",))),)
            if secrets else (),
            location=self.loc(path))
        return job, deps

    def alignment(self, source: ir.RuntimeFanout | None, mine: ir.RuntimeFanout | None) -> str | None:
        """Which of a source job's states a job reads when both run once per item: its own
        item's ("same"), its outer item's (a nested branch's first jobs: "outer"), or those of
        its own item's pairs (a nested map's fan-in: "rows"); None: all of them."""
        if source is None or mine is None:
            return None
        if source is mine:
            return "same"
        if self.parent.get(mine) is source:
            return "outer"
        if self.parent.get(source) is mine:
            return "rows"
        return None

    def task(self, step: Step, pred: Pred, ctx: Context) -> Pred:
        data = step.data
        jid = step.internal
        kind = str(data.get("command_type") or "python")
        if kind not in ("python", "shell", "notebook"):
            self.unsupported(f"step '{jid}': command_type {kind} is not supported by pipec", step.path + ("command_type",))
            return pred
        returns = [(str(r.get("name")), str(r.get("kind") or "json")) for r in data.get("returns") or []
                   if isinstance(r, dict)]
        if kind == "shell":
            for rname, rkind in returns:
                if rkind != "json":
                    self.diags.error(f"step '{jid}': a shell task returns only json values; '{rname}' is {rkind}",
                                     self.loc(step.path + ("returns",)))
        inputs: list[ir.Input] = []
        deps: list[ir.Dependency] = []
        catalog: list[str] = []
        gets = _globs(data.get("catalog"), "get")
        for n, (source, put) in enumerate(pred.puts if gets else ()):
            slot = f"catalog-{n}"
            catalog.append({"slot": slot, "job": source})
            inputs.append(ir.Input(slot, optional=True, keep_directories="full", regex=glob_regex(put),
                                   location=self.loc(step.path + ("catalog", "get"))))
            deps.extend(ir.Dependency(source, jid, ir.DepKind.FILES, g, slot, self.loc(step.path + ("catalog",)))
                        for g in gets)
        if gets and not pred.puts:
            self.diags.warning(f"step '{jid}' gets {', '.join(gets)} from the catalog, but no step before it puts "
                               "files there", self.loc(step.path + ("catalog", "get")), code="PC303")
        seq = self.next_seq()
        spec = {"kind": kind, "command": str(data.get("command", "")), "seq": seq, "name": step.name,
                "returns": [{"name": n, "kind": k} for n, k in returns], "catalog": catalog,
                "ploomber": data.get("optional_ploomber_args") or {}}
        if gets:
            spec["gets"] = list(gets)
        attempts = max(int(data.get("max_attempts") or 1), 1)
        if ctx.handlers:
            spec["attempts"] = attempts  # the runner retries: it ends a handled failure successfully
        job, state_deps = self.runner_job(jid, step.path, pred, ctx, spec, data)
        profile = self.profile(step)
        job = replace(job, inputs=job.inputs + tuple(inputs), retries=0 if ctx.handlers else attempts - 1,
                      resources=ir.Resources(profile=profile),
                      image=str(self.profiles.get(profile, {}).get("image") or job.image) if profile else job.image)
        self.add_job(job, pred, state_deps + deps)
        puts = _globs(data.get("catalog"), "put")
        for n, glob in enumerate(puts):
            try:
                re.compile(glob_regex((glob,)))
            except re.error as exc:
                self.diags.error(f"step '{jid}': catalog put '{glob}' is not a glob pipec can match ({exc})",
                                 self.loc(step.path + ("catalog", "put", n)))
        if kind == "notebook":
            puts += (_notebook_output(str(data.get("command", "")), step.name),)  # runnable puts it too
        objects = (jid,) if any(k == "object" for _, k in returns) else ()
        return Pred((jid,), (Edge(jid),), pred.puts + (((jid, puts),) if puts else ()), pred.objects + objects,
                    pred.returned | {n for n, _ in returns})

    def reduce_job(self, step: Step, pred: Pred, ends: list[Pred], names: dict[str, str | None], ctx: Context,
                   by_execution: bool = False) -> Pred:
        """runnable's fan-in: a job reading every item's state and reducing the branch's
        returns (`by_execution`: one branch run by the engine once per item)."""
        jid = f"{step.internal}.fan-in"
        after = join_all(ends) if ends and not by_execution else join_all([pred, *ends])
        parts = [[n for n, e in enumerate(after.edges) if e in end.edges] for end in ends]
        spec: dict[str, Any] = {"kind": "reduce", "seq": self.next_seq(), "reduce": names}
        if by_execution:
            spec["executions"] = parts[0] if parts else []
        else:
            spec["parts"] = parts
        job, deps = self.runner_job(jid, step.path, after, ctx, spec)
        self.add_job(job, after, deps)
        return Pred((jid,), (Edge(jid),), after.puts, after.objects, after.returned | set(names))

    def fail_job(self, graph: Graph, pred: Pred, ctx: Context) -> Pred:
        """A job that fails the run once `pred` ran (a graph reaching `fail`); inside a step
        with `on_failure` it raises that step's flag instead."""
        jid = graph.prefix + "fail"  # one per graph: every step that leads to `fail` joins here
        job, deps = self.runner_job(jid, graph.path, pred, ctx, {"kind": "fail", "seq": self.next_seq(),
                                                                 "message": f"{graph.where()} reached its fail step"})
        self.add_job(job, pred, deps)
        return Pred((jid,), (Edge(jid),), pred.puts, pred.objects, pred.returned)

    # -----------------------------------------------------------------------------------
    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def profile(self, step: Step) -> str | None:
        overrides = step.data.get("overrides") or {}
        values = list(dict.fromkeys(str(v) for v in overrides.values()))
        if not values:
            return None
        if len(values) > 1:
            self.diags.warning(f"step '{step.internal}' overrides with {', '.join(values)}; pipec uses one profile for "
                               f"every target: '{values[0]}'", self.loc(step.path + ("overrides",)), code="PC304")
        if values[0] not in self.profiles:
            self.diags.warning(f"step '{step.internal}': override '{values[0]}' is not a profile of pipec.toml; the "
                               "step runs with the default resources", self.loc(step.path + ("overrides",)),
                               f"add [profiles.{values[0]}] to pipec.toml (image, cpu, memory, gpus)", code="PC305")
            return None
        return values[0]

    def runner(self) -> str:
        if self._runner is None:
            self._runner = runner_text()
        return self._runner

    def add_job(self, job: ir.Job, pred: Pred, deps: list[ir.Dependency] = ()) -> None:  # type: ignore[assignment]
        if job.id in self.ids:
            first = next(j for j in self.jobs if j.id == job.id)
            where = f" (line {first.location.line})" if first.location else ""
            self.diags.error(f"two steps have the internal name '{job.id}'{where}: runnable joins the names of "
                             "steps and branches with '.'", job.location or self.loc(("dag",)),
                             "rename a step or branch (a branch name with '.' in it, or a map branch step named "
                             "fan-out or fan-in, meets another name)")
            return
        self.ids.add(job.id)
        self.jobs.append(job)
        wired = {d.source for d in deps}
        self.deps.extend(ir.Dependency(p, job.id, ir.DepKind.ORDER) for p in pred.order if p not in wired)
        self.deps.extend(deps)


def _copy(branch: Graph, prefix: str, owner: Step, name: str) -> Graph:
    """A copy of `branch` whose steps (and sub-graphs) are named below `prefix`."""
    copy = Graph(branch.data, branch.path, prefix, owner, name)
    for n, s in branch.steps.items():
        step = Step(s.name, s.data, s.path, copy)
        step.branches = {k: _copy(sub, f"{step.internal}.{k}." if sub.branch is not None else f"{step.internal}.",
                                  step, sub.branch or k) for k, sub in s.branches.items()}
        copy.steps[n] = step
    return copy


def _notebook_output(command: str, step: str) -> str:
    """Where a notebook task's executed notebook is, below its working directory (the runner's
    and runnable's get_notebook_output_path: <dir>/<stem>-<letters and digits of the step>_out.ipynb)."""
    parent, _, name = command.rpartition("/")
    stem = name[:-len(".ipynb")] if name.endswith(".ipynb") else name
    tag = "".join(c for c in step if c.isalnum())
    text = f"{stem}-{tag}_out.ipynb"
    return f"{parent}/{text}" if parent and not parent.startswith(("/", "..")) else text


def _reducers(branch: Graph, reducer: Any) -> dict[str, str | None]:
    """Each name the branch returns -> the reducer that makes one value of its items' values."""
    return {n: None if reducer is None else str(reducer) for n in _returns(branch)}


def _returns(graph: Graph) -> list[str]:
    """The names the tasks of a branch return, in document order."""
    names: list[str] = []
    for step in walk(graph):
        if step.type == "task":
            for r in step.data.get("returns") or []:
                if isinstance(r, dict) and str(r.get("name")) not in names:
                    names.append(str(r.get("name")))
    return names


def _globs(catalog: Any, key: str) -> tuple[str, ...]:
    if not isinstance(catalog, dict):
        return ()
    return tuple(str(g) for g in catalog.get(key) or [])


def _param_type(value: Any) -> str:
    if isinstance(value, bool):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    return "string"


def _param_value(value: Any) -> Any:
    """A value as a pipec parameter holds it: scalars as they are, anything else as JSON text
    (the runner decodes it)."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=False)
