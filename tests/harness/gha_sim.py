"""A local emulator of the subset of GitHub Actions that pipec's workflows use.

    from tests.harness.gha_sim import run_workflow
    run = run_workflow(repo / ".github/workflows/x.yml", workspace=repo, workdir=tmp_path / "gh",
                       event="workflow_dispatch", inputs={"greeting": "hi"})
    run.conclusion                      # "success" | "failure" | "cancelled"
    run.job("train").result             # "success" | "failure" | "cancelled" | "skipped"
    run.legs("train")                   # the job instances that ran (one per matrix row)
    leg.step("run").env / .stdout / .outcome;  leg.temp  (runner.temp of that machine)
    run.artifact("pipec.train.0")       # the directory an artifact's files are stored in

Every job instance (a matrix leg, or the job itself) gets its own "runner machine": fresh
directories for the workspace, ``runner.temp`` and ``HOME``. ``run:`` steps are real ``sh`` /
``bash`` processes started like the runner starts them; jobs run concurrently (at most
``capacity`` at once, like a pool of runners).

What is emulated (sources: github/docs workflow-syntax.md, expressions.md, contexts.md;
actions/upload-artifact src/search.ts; actions/download-artifact src/download-artifact.ts;
/work/shared/reference/targets.md section 2):

* Workflow file: YAML 1.2 booleans (``on`` is a key, not ``true``), duplicate keys refused,
  500 KB limit, 21,000 characters per ``run:``, job/step ids, ``needs`` (unknown jobs and
  cycles refused), unknown keys refused at every level the emulator reads, ``uses:`` only for
  the actions/versions listed in ``ACTIONS`` (by full commit SHA), ``${{`` refused in the
  workflow name and in input descriptions/defaults (no expression is allowed there).
* Expressions ``${{ }}``: literals (``'..'`` with ``''`` escaping, numbers, true/false/null),
  ``! && || == != < <= > >=`` with GitHub's loose, case-insensitive comparison and
  operand-returning ``&&``/``||``, parentheses, ``a.b`` / ``a['b']`` property access
  (case-insensitive, missing = null), functions ``fromJSON toJSON contains startsWith endsWith
  format`` and the status functions ``success() failure() cancelled() always()`` (only in
  ``if:``). ``}}`` inside a string literal does not end an expression, so ``${{ '${{' }}``
  yields ``${{``. Results are never evaluated again. A field that is exactly one expression
  keeps the value's type (``matrix.include: ${{ fromJSON(...) }}``); inside text, values are
  converted to strings (objects/arrays are refused rather than becoming "Object"/"Array").
  The contexts available per field follow the docs' availability table (``matrix`` in a
  job's ``if`` or ``steps`` in a job's ``env`` is an "Unrecognized named-value" error).
  An ``if:`` without a status function is ``success() && (...)``; ``if:`` may omit ``${{ }}``;
  an ``if:`` with text around an expression is a non-empty string, i.e. true (GitHub's pitfall).
* Job status functions: ``success()`` is true when the run is not cancelled and *every
  ancestor* job (the transitive ``needs`` closure) succeeded; ``failure()`` when any ancestor
  failed; ``cancelled()`` when the run was cancelled. (The transitive rule is documented for
  failure() in expressions.md and measured for success(): actions/runner#2205,
  btclib-org/btclib#1470, GSA/datagov-harvester#836.) A job whose ``if`` is false is skipped.
* Contexts: ``github`` (token, ref, event_name, event.inputs, run_id, repository, workspace,
  ...), ``inputs``, ``matrix``, ``needs.<id>.result|outputs`` (direct needs), ``strategy``,
  ``job``, ``runner`` (temp, os, arch, name), ``env``, ``steps.<id>.outputs|outcome|conclusion``,
  ``vars`` (empty), ``secrets`` (GITHUB_TOKEN and the repository secrets a test gives
  ``run_workflow(secrets=...)``; a secret that is not set is an empty string, docs "Using
  secrets in GitHub Actions": "If a secret has not been set, the return value of an
  expression referencing the secret ... will be an empty string").
* Events: ``workflow_dispatch`` with inputs (unknown inputs and missing required inputs are
  refused like the REST API's 422; omitted inputs take their default; values are strings,
  booleans become booleans in ``inputs`` only, as the docs say), ``schedule``, ``push`` and
  ``pull_request`` (no inputs: ``inputs.x`` is null). At most 25 inputs (the cap today per
  secondary sources; it was 10, github/docs#15710).
* ``strategy.matrix.include`` (static or one expression): each row is a job instance with
  ``matrix.*``; more than 256 rows, or none, fails the job ("Matrix vector 'include' does not
  contain any values": github.community/t/empty-matrix-fails-workflow/128736). ``fail-fast``
  (default true): when a leg fails, queued legs are cancelled and running legs are cancelled;
  ``max-parallel``. A job's result: failure if any leg failed, else cancelled if any was,
  else success. Job ``outputs`` of a matrix job are those of the leg that finished last
  (GitHub overwrites them per leg).
* Steps: ``run:`` with ``shell: bash`` (``bash --noprofile --norc -eo pipefail {0}``) or
  ``sh`` (``sh -e {0}``), the workflow/job ``defaults.run``, ``working-directory``; ``env``
  (workflow < job < GITHUB_ENV < step), the default ``GITHUB_*``/``RUNNER_*`` variables,
  ``GITHUB_OUTPUT`` / ``GITHUB_ENV`` files (``name=value`` and ``name<<DELIM`` forms, parsed
  like the runner: lines split on LF only, empty lines skipped, a missing delimiter fails the
  step), step ``if``, step ``id``, job ``outputs``. Step status: the job status is one value;
  the first failure or cancellation sticks (the runner's MergeTaskResults).
* ``actions/checkout``: copies the prepared ``workspace`` directory into the job's
  ``GITHUB_WORKSPACE``. ``actions/upload-artifact`` (v4): ``name``, multi-line ``path``
  (literal paths; search paths de-duplicated by ancestor like @actions/glob; the root is the
  least common ancestor of several search paths, the parent of a lone file, else the search
  path), ``include-hidden-files`` (a file or directory whose name starts with "." is left out,
  the search path itself included), ``if-no-files-found``; only files are stored (empty
  directories vanish), symlinks are followed; a name already uploaded in the run fails with
  GitHub's 409 Conflict. ``actions/download-artifact``: ``name`` or ``pattern`` (minimatch
  over artifact names: ``* ? [..]``), ``path``, ``merge-multiple``; v4 puts each artifact in
  ``path/<name>/`` unless ``name``/``merge-multiple`` is given; v5 and later also extract a
  *lone* pattern match straight into ``path`` (src/download-artifact.ts: ``isSingleArtifactDownload
  || inputs.mergeMultiple || artifacts.length === 1``; its README: "This change also applies to
  patterns that only match a single artifact"); downloaded files get mode 0644 (zip keeps no
  modes). Only artifacts uploaded earlier in the same run are seen. The version of each pinned
  SHA is in ``ACTIONS``. ``actions/github-script``: only the
  ``github.rest.actions.cancelWorkflowRun`` call pipec writes; it needs ``actions: write`` in
  the job's effective ``permissions`` (else the step fails with 403 "Resource not accessible
  by integration").
* Cancelling the run (docs "Canceling a workflow"): every running job's ``if`` is evaluated
  again with ``cancelled()`` true; jobs whose condition is now false are cancelled (the
  running step is killed unless its own ``if`` still holds, later steps see the job status
  ``cancelled``); jobs not started yet are evaluated when their needs are done, so only those
  with ``always()``/``cancelled()`` style conditions start. The run's conclusion is then
  ``cancelled``.
* When a job ends, processes its steps left behind are killed ("Cleaning up orphan
  processes"); ``Leg.orphans`` names the steps that left any.
* ``timeout-minutes`` on jobs (scaled by ``minute`` seconds, so tests can use short times):
  the step is killed, later steps see ``cancelled``, and the job's result is ``failure``.
* ``container``, ``runs-on``, ``environment``, ``permissions``, ``concurrency``: evaluated and
  recorded. Containers cannot run here: the steps run on the host (tests use host commands);
  ``runner.temp`` and ``GITHUB_WORKSPACE`` are host paths, not /__w/...
* A private /tmp (``private_tmp=True``): every job instance has a machine of its own (docs
  "Using a GitHub-hosted runner": "When the job begins, GitHub automatically provisions a new VM
  for that job. All steps in the job execute on the VM, allowing the steps in that job to share
  information using the runner's filesystem. [...] When the job has finished, the VM is
  automatically decommissioned"; a job with ``container`` runs its steps in that container, whose
  filesystem is its own). Its ``run:`` steps run in a mount namespace (``unshare``; needs root or
  user namespaces) whose /tmp is a directory of that job instance: shared by its steps, seen by
  no other job instance and not by this machine. The emulator's ``workdir`` stays visible at its
  path inside it (the workspace, ``runner.temp`` and ``HOME`` are there); every other path below
  /tmp is hidden.

Assumptions (GitHub behaviour not pinned down by a source read here): a job not started
when the run is cancelled, whose ``if`` is then false, is recorded ``skipped``; the job that
asked for the cancellation keeps ``failure`` (its failure came first); a job killed by its
timeout is ``failure``; the cancellation takes effect at once (GitHub needs a few seconds);
``number`` inputs are not validated (values arrive as strings); a killed step gets SIGINT,
SIGTERM, SIGKILL 0.5 s apart (the runner waits 7.5 s and 2.5 s).

Not emulated: other actions, JavaScript, Docker (containers, services), stdout workflow
commands (``::set-output``, ``::add-mask::``, ...), matrix axes other than ``include``,
``exclude``, ``continue-on-error``, reusable workflows, job ``concurrency`` queueing,
environments' protection rules, caches, step ``timeout-minutes``, globs in upload paths,
artifact retention/compression, secrets masking, re-runs.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ACTIONS", "GhaError", "Leg", "Run", "Step", "Workflow", "evaluate", "render", "run_workflow"]


class GhaError(Exception):
    """What GitHub would reject (a workflow it cannot run), or what the emulator does not do."""


class StepFailed(Exception):
    """An action failed (the step's outcome is failure, the message goes to its log)."""


# Actions the emulator knows, by full commit SHA (as pipec pins them): owner/name -> {sha: version}.
ACTIONS: dict[str, dict[str, str]] = {
    "actions/checkout": {"11bd71901bbe5b1630ceea73d27597364c9af683": "v4.2.2",
                         "8e8c483db84b4bee98b60c0593521ed34d9990e8": "v6.0.1"},
    "actions/upload-artifact": {"ea165f8d65b6e75b540449e92b4886f43607fa02": "v4.6.2",
                                "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f": "v7.0.0"},
    "actions/download-artifact": {"d3f86a106a0bac45b974a628896c90dbdf5c8093": "v4.3.0",
                                  "634f93cb2916e3fdff6788551b99b062d0335ce0": "v5.0.0",
                                  "484a0b528fb4d7bd804637ccb632e47a0e638317": "v8"},
    "actions/github-script": {"60a0d83039c74a4aee543508d2ffcb1c3799cdea": "v7.0.1",
                              "ed597411d8f924073f98dfc5c65a23a2325f34cd": "v8.0.0"},
}
MAX_MATRIX = 256
MAX_INPUTS = 25
MAX_FILE_BYTES = 500 * 1024
MAX_RUN_CHARS = 21_000
TOKEN = "ghs_EmulatedTokenForThisRunOnly000000000"
_RUN_IDS = itertools.count(1000 + int(time.time()) % 100000 * 1000)  # each run's own id, in this process
ID_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


# ------------------------------------------------------------------------------------ YAML
class _Loader(yaml.SafeLoader):
    """YAML as GitHub reads it: 1.2 booleans only (``on``/``yes`` are strings), no duplicate keys."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise GhaError(f"'{key}' is already defined (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str) -> Any:
    """A workflow's YAML as GitHub reads it (`on:` is a key, not True)."""
    return yaml.load(text, Loader=_Loader)


# ----------------------------------------------------------------------------- expressions
_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^']|'')*')
  | (?P<num>-?(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\],.*])
""", re.VERBOSE)
STATUS_FUNCTIONS = ("success", "failure", "cancelled", "always")
FUNCTIONS = {"fromjson": 1, "tojson": 1, "contains": 2, "startswith": 2, "endswith": 2, "format": -1,
             **{f: 0 for f in STATUS_FUNCTIONS}}


def _lex(text: str, pos: int, closing: bool) -> tuple[list[tuple[str, Any]], int]:
    """Tokens from pos; with ``closing`` stop at (and step over) a ``}}`` outside a string."""
    tokens: list[tuple[str, Any]] = []
    while True:
        if closing and text.startswith("}}", pos):
            return tokens, pos + 2
        if pos >= len(text):
            if closing:
                raise GhaError(f"an expression is not closed with '}}}}': {text!r}")
            return tokens, pos
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise GhaError(f"unexpected symbol {text[pos:pos + 10]!r} in expression {text!r}")
        kind = m.lastgroup
        if kind == "str":
            tokens.append(("str", m.group()[1:-1].replace("''", "'")))
        elif kind == "num":
            s = m.group()
            tokens.append(("num", int(s, 16) if "0x" in s.lower() else (float(s) if any(c in s for c in ".eE") else int(s))))
        elif kind in ("ident", "op"):
            tokens.append((kind, m.group()))
        pos = m.end()


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]], src: str):
        self.toks, self.i, self.src = tokens, 0, src

    def peek(self, value: str | None = None) -> tuple[str, Any] | None:
        tok = self.toks[self.i] if self.i < len(self.toks) else None
        if value is not None and (tok is None or tok[0] != "op" or tok[1] != value):
            return None
        return tok

    def take(self, value: str | None = None) -> tuple[str, Any]:
        tok = self.peek(value)
        if tok is None:
            raise GhaError(f"unexpected end or symbol in expression {self.src!r}" + (f" (expected {value!r})" if value else ""))
        self.i += 1
        return tok

    def parse(self) -> tuple:
        if not self.toks:
            raise GhaError(f"an expression was expected: {self.src!r}")
        node = self.or_()
        if self.i != len(self.toks):
            raise GhaError(f"unexpected symbol {self.toks[self.i][1]!r} in expression {self.src!r}")
        return node

    def or_(self) -> tuple:
        node = self.and_()
        while self.peek("||"):
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> tuple:
        node = self.eq()
        while self.peek("&&"):
            self.take()
            node = ("and", node, self.eq())
        return node

    def eq(self) -> tuple:
        node = self.cmp()
        while self.peek("==") or self.peek("!="):
            op = self.take()[1]
            node = ("cmp", op, node, self.cmp())
        return node

    def cmp(self) -> tuple:
        node = self.unary()
        while any(self.peek(o) for o in ("<", "<=", ">", ">=")):
            op = self.take()[1]
            node = ("cmp", op, node, self.unary())
        return node

    def unary(self) -> tuple:
        if self.peek("!"):
            self.take()
            return ("not", self.unary())
        return self.postfix()

    def postfix(self) -> tuple:
        node = self.primary()
        while True:
            if self.peek("."):
                self.take()
                tok = self.take()
                if tok == ("op", "*"):
                    raise GhaError(f"the emulator does not evaluate object filters (.*): {self.src!r}")
                if tok[0] != "ident":
                    raise GhaError(f"a property name was expected in {self.src!r}")
                node = ("prop", node, tok[1])
            elif self.peek("["):
                self.take()
                node = ("index", node, self.or_())
                self.take("]")
            else:
                return node

    def primary(self) -> tuple:
        tok = self.take()
        kind, value = tok
        if kind in ("str", "num"):
            return ("lit", value)
        if tok == ("op", "("):
            node = self.or_()
            self.take(")")
            return node
        if kind == "ident":
            low = value.lower()
            if low in ("true", "false"):
                return ("lit", low == "true")
            if low == "null":
                return ("lit", None)
            if self.peek("("):
                self.take()
                if low not in FUNCTIONS:
                    raise GhaError(f"Unrecognized function: '{value}' in {self.src!r}")
                args = []
                if not self.peek(")"):
                    args.append(self.or_())
                    while self.peek(","):
                        self.take()
                        args.append(self.or_())
                self.take(")")
                want = FUNCTIONS[low]
                if (want >= 0 and len(args) != want) or (want < 0 and not args):
                    raise GhaError(f"wrong number of arguments to {value}() in {self.src!r}")
                return ("call", low, args)
            return ("ctx", value)
        raise GhaError(f"unexpected symbol {value!r} in expression {self.src!r}")


@lru_cache(maxsize=4096)
def _parse_expr(src: str) -> tuple:
    tokens, _ = _lex(src, 0, False)
    return _Parser(tokens, src).parse()


@lru_cache(maxsize=4096)
def _split(text: str) -> tuple[tuple[str, Any], ...]:
    """A template as ("lit", text) and ("expr", ast) parts."""
    parts: list[tuple[str, Any]] = []
    pos = 0
    while True:
        start = text.find("${{", pos)
        if start < 0:
            if text[pos:]:
                parts.append(("lit", text[pos:]))
            return tuple(parts)
        if text[pos:start]:
            parts.append(("lit", text[pos:start]))
        tokens, end = _lex(text, start + 3, True)
        parts.append(("expr", _Parser(tokens, text[start:end]).parse()))
        pos = end


@dataclass
class Scope:
    """What an expression may read: contexts by (lower-case) name, and the status functions
    (None where GitHub allows none)."""
    contexts: dict[str, Any]
    where: str
    status: dict[str, bool] | None = None


def _get(obj: Any, key: Any) -> Any:
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        if isinstance(key, str):
            low = key.lower()
            for k, v in obj.items():
                if isinstance(k, str) and k.lower() == low:
                    return v
        return None
    if isinstance(obj, list) and isinstance(key, (int, float)) and not isinstance(key, bool):
        k = int(key)
        return obj[k] if k == key and 0 <= k < len(obj) else None
    return None


def truthy(v: Any) -> bool:
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return not (v == 0 or math.isnan(v))
    if isinstance(v, str):
        return v != ""
    return True


def to_str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, str):
        return v
    raise GhaError(f"an {'array' if isinstance(v, list) else 'object'} cannot be used as text here: {v!r:.80}")


def _to_num(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return 0.0
        try:
            return float(int(s, 16)) if s.lower().startswith("0x") else float(json.loads(s)) if re.fullmatch(
                r"-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?", s) else float("nan")
        except ValueError:
            return float("nan")
    return float("nan")


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "num"
    return "str" if isinstance(v, str) else "obj"


def _compare(op: str, a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka == kb == "str":
        x, y = a.lower(), b.lower()  # GitHub compares strings case-insensitively
    elif ka == kb == "obj":
        if op not in ("==", "!="):
            return False
        return (a is b) == (op == "==")
    elif ka == kb and ka in ("null", "bool"):
        x, y = _to_num(a), _to_num(b)
    else:
        x, y = _to_num(a), _to_num(b)
        if math.isnan(x) or math.isnan(y):
            return op == "!="
    return {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _eval(node: tuple, scope: Scope) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "ctx":
        name = node[1].lower()
        if name not in scope.contexts:
            raise GhaError(f"Unrecognized named-value: '{node[1]}' (in {scope.where})")
        return scope.contexts[name]
    if kind == "prop":
        return _get(_eval(node[1], scope), node[2])
    if kind == "index":
        return _get(_eval(node[1], scope), _eval(node[2], scope))
    if kind == "not":
        return not truthy(_eval(node[1], scope))
    if kind == "and":
        left = _eval(node[1], scope)
        return _eval(node[2], scope) if truthy(left) else left
    if kind == "or":
        left = _eval(node[1], scope)
        return left if truthy(left) else _eval(node[2], scope)
    if kind == "cmp":
        return _compare(node[1], _eval(node[2], scope), _eval(node[3], scope))
    if kind == "call":
        name, args = node[1], node[2]
        if name in STATUS_FUNCTIONS:
            if scope.status is None:
                raise GhaError(f"{name}() is only allowed in an if: condition (in {scope.where})")
            return scope.status[name]
        vals = [_eval(a, scope) for a in args]
        if name == "fromjson":
            try:
                return json.loads(to_str(vals[0]))
            except ValueError as exc:
                raise GhaError(f"fromJSON: invalid JSON {to_str(vals[0])[:80]!r}: {exc}")
        if name == "tojson":
            return json.dumps(vals[0], indent=2, ensure_ascii=False)
        if name == "contains":
            if isinstance(vals[0], list):
                return any(_compare("==", x, vals[1]) for x in vals[0])
            return to_str(vals[1]).lower() in to_str(vals[0]).lower()
        if name == "startswith":
            return to_str(vals[0]).lower().startswith(to_str(vals[1]).lower())
        if name == "endswith":
            return to_str(vals[0]).lower().endswith(to_str(vals[1]).lower())
        if name == "format":
            fmt, rest = to_str(vals[0]), [to_str(v) for v in vals[1:]]

            def sub(m: re.Match) -> str:
                if m.group() in ("{{", "}}"):
                    return m.group()[0]
                k = int(m.group(1))
                if k >= len(rest):
                    raise GhaError(f"format(): no argument {k} for {fmt!r}")
                return rest[k]
            return re.sub(r"\{\{|\}\}|\{(\d+)\}", sub, fmt)
    raise GhaError(f"cannot evaluate {node!r}")


def _uses_status(node: Any) -> bool:
    if isinstance(node, tuple):
        if node[0] == "call" and node[1] in STATUS_FUNCTIONS:
            return True
        return any(_uses_status(x) for x in node[1:])
    if isinstance(node, list):
        return any(_uses_status(x) for x in node)
    return False


def render(value: Any, scope: Scope) -> Any:
    """A workflow value with its ``${{ }}`` expressions evaluated (recursively for mappings
    and lists). A string that is one expression keeps the result's type."""
    if isinstance(value, dict):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    if not isinstance(value, str) or "${{" not in value:
        return value
    parts = _split(value)
    if len(parts) == 1 and parts[0][0] == "expr":
        return _eval(parts[0][1], scope)
    return "".join(p[1] if p[0] == "lit" else to_str(_eval(p[1], scope)) for p in parts)


def render_str(value: Any, scope: Scope) -> str:
    return to_str(render(value, scope))


def evaluate(expression: str, scope: Scope) -> Any:
    """One bare expression (no ``${{ }}``)."""
    return _eval(_parse_expr(expression), scope)


def condition(value: Any, scope: Scope) -> bool:
    """An ``if:``: optional ``${{ }}``, implicit ``success() &&`` without a status function."""
    if value is None:
        return bool(scope.status and scope.status["success"])
    if isinstance(value, bool):
        node: tuple = ("lit", value)
    else:
        text = str(value).strip()
        parts = _split(text) if "${{" in text else None
        if parts is not None and len(parts) == 1 and parts[0][0] == "expr":
            node = parts[0][1]
        elif parts is not None:
            return truthy(render(text, scope))  # text around an expression: a non-empty string
        else:
            node = _parse_expr(text)
    if not _uses_status(node):
        node = ("and", ("call", "success", []), node)
    return truthy(_eval(node, scope))


# Contexts per field (docs: contexts.md "Context availability").
_JOB_LEVEL = {"github", "needs", "strategy", "matrix", "vars", "inputs"}
AVAILABLE = {
    "concurrency": {"github", "inputs", "vars"},
    "workflow env": {"github", "secrets", "inputs", "vars"},
    "job if": {"github", "needs", "vars", "inputs"},
    "job strategy": {"github", "needs", "vars", "inputs"},
    "job name": _JOB_LEVEL, "job runs-on": _JOB_LEVEL, "job container": _JOB_LEVEL,
    "job environment": _JOB_LEVEL, "job timeout-minutes": _JOB_LEVEL,
    "job env": _JOB_LEVEL | {"secrets"},
    "job outputs": _JOB_LEVEL | {"job", "runner", "env", "secrets", "steps"},
    "step if": _JOB_LEVEL | {"job", "runner", "env", "steps"},
    "step": _JOB_LEVEL | {"job", "runner", "env", "secrets", "steps"},
}


# ---------------------------------------------------------------------------- the workflow
_WORKFLOW_KEYS = {"name", "on", "permissions", "concurrency", "defaults", "env", "jobs", "run-name"}
_JOB_KEYS = {"name", "needs", "if", "runs-on", "container", "permissions", "strategy", "environment",
             "timeout-minutes", "outputs", "steps", "env", "defaults"}
_STEP_KEYS = {"name", "id", "uses", "with", "run", "shell", "env", "if", "working-directory"}
_PERMISSION_KEYS = {"actions", "attestations", "checks", "contents", "deployments", "discussions", "id-token",
                    "issues", "metadata", "models", "packages", "pages", "pull-requests", "repository-projects",
                    "security-events", "statuses"}


def _check_permissions(perms: Any, where: str) -> None:
    if perms in ("read-all", "write-all") or perms == {}:
        return
    if not isinstance(perms, dict):
        raise GhaError(f"{where}: permissions must be read-all, write-all or a mapping")
    for k, v in perms.items():
        if k not in _PERMISSION_KEYS or v not in ("read", "write", "none"):
            raise GhaError(f"{where}: invalid permission {k}: {v}")


def _no_expression(text: Any, where: str) -> None:
    if isinstance(text, str) and "${{" in text:
        raise GhaError(f"{where} allows no expression: {text!r}")


class Workflow:
    """A parsed and checked workflow file."""

    def __init__(self, text: str, path: str = "workflow.yml", actions: dict[str, dict[str, str]] | None = None):
        if len(text.encode("utf-8")) > MAX_FILE_BYTES:
            raise GhaError(f"{path}: the workflow file is over {MAX_FILE_BYTES} bytes; GitHub starts no run of it")
        self.actions = {k: dict(v) for k, v in ACTIONS.items()}
        for k, v in (actions or {}).items():
            self.actions.setdefault(k, {}).update(v)
        doc = yaml.load(text, Loader=_Loader)
        if not isinstance(doc, dict):
            raise GhaError(f"{path}: a workflow is a mapping")
        unknown = set(doc) - _WORKFLOW_KEYS
        if unknown:
            raise GhaError(f"{path}: unexpected keys {sorted(map(str, unknown))}")
        self.path = path
        self.doc = doc
        self.name = doc.get("name") or path
        _no_expression(self.name, "the workflow name")
        on = doc.get("on")
        if isinstance(on, str):
            on = {on: None}
        elif isinstance(on, list):
            on = {e: None for e in on}
        if not isinstance(on, dict) or not on:
            raise GhaError(f"{path}: 'on' names no event")
        for event in on:
            if event not in ("workflow_dispatch", "schedule", "push", "pull_request"):
                raise GhaError(f"{path}: the emulator does not run on {event!r}")
        self.on = on
        self.inputs: dict[str, dict[str, Any]] = dict(((on.get("workflow_dispatch") or {}).get("inputs")) or {})
        if len(self.inputs) > MAX_INPUTS:
            raise GhaError(f"{path}: workflow_dispatch has {len(self.inputs)} inputs; GitHub allows at most {MAX_INPUTS}")
        for name, spec in self.inputs.items():
            if not ID_RE.fullmatch(name):
                raise GhaError(f"{path}: invalid input id {name!r}")
            spec = spec or {}
            bad = set(spec) - {"description", "required", "default", "type", "options"}
            if bad:
                raise GhaError(f"{path}: input {name}: unexpected keys {sorted(bad)}")
            if spec.get("type", "string") not in ("string", "number", "boolean", "choice", "environment"):
                raise GhaError(f"{path}: input {name}: unknown type {spec.get('type')!r}")
            _no_expression(spec.get("description"), f"input {name}'s description")
            _no_expression(spec.get("default"), f"input {name}'s default")
        for entry in on.get("schedule") or []:
            if set(entry) != {"cron"} or len(str(entry["cron"]).split()) != 5:
                raise GhaError(f"{path}: a schedule entry is {{cron: '<5 fields>'}}: {entry!r}")
        if "permissions" in doc:
            _check_permissions(doc["permissions"], "the workflow")
        self.permissions = doc.get("permissions")
        self.env = dict(doc.get("env") or {})
        self.defaults = self._defaults(doc.get("defaults"), "the workflow")
        self.concurrency = doc.get("concurrency")
        jobs = doc.get("jobs")
        if not isinstance(jobs, dict) or not jobs:
            raise GhaError(f"{path}: no jobs")
        lower = {}
        for job_id, spec in jobs.items():
            if not isinstance(job_id, str) or not ID_RE.fullmatch(job_id):
                raise GhaError(f"{path}: invalid job id {job_id!r}")
            if job_id.lower() in lower:
                raise GhaError(f"{path}: job ids {lower[job_id.lower()]!r} and {job_id!r} are the same (ids ignore case)")
            lower[job_id.lower()] = job_id
            self._check_job(job_id, spec)
        self.jobs: dict[str, dict[str, Any]] = jobs
        self.needs = {j: self._needs(j, s) for j, s in jobs.items()}
        for j, ns in self.needs.items():
            for n in ns:
                if n not in jobs:
                    raise GhaError(f"{path}: job '{j}' depends on unknown job '{n}'")
        self.order = self._topological()

    @staticmethod
    def _defaults(d: Any, where: str) -> dict[str, Any]:
        if d is None:
            return {}
        if set(d) != {"run"} or not set(d["run"]) <= {"shell", "working-directory"}:
            raise GhaError(f"{where}: defaults supports run.shell and run.working-directory here: {d!r}")
        return dict(d["run"])

    @staticmethod
    def _needs(job_id: str, spec: dict[str, Any]) -> list[str]:
        needs = spec.get("needs") or []
        return [needs] if isinstance(needs, str) else list(needs)

    def _topological(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(j: str, chain: list[str]) -> None:
            if state.get(j) == 2:
                return
            if state.get(j) == 1:
                raise GhaError(f"{self.path}: the needs of {' -> '.join(chain + [j])} form a cycle")
            state[j] = 1
            for n in self.needs[j]:
                visit(n, chain + [j])
            state[j] = 2
            order.append(j)
        for j in self.jobs:
            visit(j, [])
        return order

    def _check_job(self, job_id: str, spec: Any) -> None:
        where = f"{self.path}: job '{job_id}'"
        if not isinstance(spec, dict):
            raise GhaError(f"{where} is not a mapping")
        unknown = set(spec) - _JOB_KEYS
        if unknown:
            raise GhaError(f"{where}: unexpected keys {sorted(unknown)} (not emulated)")
        if "runs-on" not in spec:
            raise GhaError(f"{where}: runs-on is required")
        if "permissions" in spec:
            _check_permissions(spec["permissions"], where)
        self._defaults(spec.get("defaults"), where)
        strategy = spec.get("strategy")
        if strategy is not None:
            if not isinstance(strategy, dict) or not set(strategy) <= {"matrix", "fail-fast", "max-parallel"}:
                raise GhaError(f"{where}: strategy supports matrix, fail-fast and max-parallel: {strategy!r}")
            matrix = strategy.get("matrix")
            if not (isinstance(matrix, str) or (isinstance(matrix, dict) and set(matrix) == {"include"})):
                raise GhaError(f"{where}: only matrix.include (a list or one expression) is emulated")
        steps = spec.get("steps")
        if not isinstance(steps, list) or not steps:
            raise GhaError(f"{where}: steps must be a non-empty list")
        ids = set()
        for n, step in enumerate(steps):
            swhere = f"{where} step {n + 1}"
            if not isinstance(step, dict):
                raise GhaError(f"{swhere} is not a mapping")
            unknown = set(step) - _STEP_KEYS
            if unknown:
                raise GhaError(f"{swhere}: unexpected keys {sorted(unknown)} (not emulated)")
            if ("run" in step) == ("uses" in step):
                raise GhaError(f"{swhere}: a step has either run or uses")
            if "id" in step:
                if not ID_RE.fullmatch(str(step["id"])) or step["id"] in ids:
                    raise GhaError(f"{swhere}: invalid or repeated id {step['id']!r}")
                ids.add(step["id"])
            if "run" in step:
                if len(str(step["run"])) > MAX_RUN_CHARS:
                    raise GhaError(f"{swhere}: run is over {MAX_RUN_CHARS} characters")
                if "with" in step:
                    raise GhaError(f"{swhere}: with belongs to uses steps")
            else:
                self.action(step["uses"], swhere)

    def action(self, uses: str, where: str = "") -> tuple[str, str]:
        """(owner/name, version) of a ``uses:``; unknown actions are refused."""
        name, _, ref = str(uses).partition("@")
        if name not in self.actions:
            raise GhaError(f"{where}: the emulator has no action {name!r}")
        if ref not in self.actions[name]:
            raise GhaError(f"{where}: {name}@{ref}: the emulator knows this action only at "
                           f"{sorted(self.actions[name].items())} (pin by full commit SHA)")
        return name, self.actions[name][ref]


# ------------------------------------------------------------------------------ records
@dataclass
class Step:
    index: int
    name: str
    id: str | None
    kind: str  # "run" | owner/name of the action
    outcome: str = "pending"  # success | failure | cancelled | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # a run step: the process environment
    inputs: dict[str, str] = field(default_factory=dict)  # the evaluated `with:`
    script: str = ""
    exit_code: int | None = None
    message: str = ""
    log_dir: Path | None = None
    pid: int | None = None  # a run step's process (and process group)
    started: float | None = None
    finished: float | None = None

    @property
    def stdout(self) -> str:
        p = self.log_dir / "stdout.log" if self.log_dir else None
        return p.read_text(errors="replace") if p and p.exists() else ""

    @property
    def stderr(self) -> str:
        p = self.log_dir / "stderr.log" if self.log_dir else None
        return p.read_text(errors="replace") if p and p.exists() else ""


@dataclass
class Leg:
    """One job instance on its own runner: the job, or one row of its matrix."""
    job: Job
    index: int
    matrix: dict[str, Any] | None
    root: Path
    state: str = "queued"  # queued | running | completed
    status: str = "success"  # the job status steps see (first failure or cancellation sticks)
    result: str | None = None
    name: str = ""
    steps: list[Step] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    container: Any = None
    environment: Any = None
    runs_on: Any = None
    timed_out: bool = False
    orphans: list[str] = field(default_factory=list)  # steps whose processes outlived them (killed at the end)
    message: str = ""
    started: float | None = None
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def workspace(self) -> Path:
        return self.root / "work" / "repo" / "repo"

    @property
    def temp(self) -> Path:
        return self.root / "_temp"

    @property
    def home(self) -> Path:
        return self.root / "home"

    def step(self, key: str) -> Step:
        for s in self.steps:
            if s.id == key or s.name == key:
                return s
        raise KeyError(f"{self.job.id}#{self.index} has no step {key!r}: {[s.id or s.name for s in self.steps]}")

    def has_step(self, key: str) -> bool:
        return any(s.id == key or s.name == key for s in self.steps)


@dataclass
class Job:
    id: str
    spec: dict[str, Any]
    needs: list[str]
    state: str = "waiting"  # waiting | running | completed
    result: str | None = None
    legs: list[Leg] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    message: str = ""
    strategy: dict[str, Any] = field(default_factory=dict)
    cancel_checked: bool = False  # its if was evaluated again after the run was cancelled


# ------------------------------------------------------------------------------------ run
class Run:
    """One workflow run, driven to its end by ``run()``."""

    def __init__(self, workflow: Workflow, workspace: Path, workdir: Path, event: str = "workflow_dispatch",
                 inputs: dict[str, Any] | None = None, capacity: int = 16, timeout: float = 120.0,
                 minute: float = 60.0, secrets: dict[str, str] | None = None, private_tmp: bool = False):
        self.wf = workflow
        # Secret names are case-insensitive (stored upper-case), like every context's properties.
        self.secrets = {"GITHUB_TOKEN": TOKEN, **{str(k).upper(): str(v) for k, v in (secrets or {}).items()}}
        self.source = Path(workspace)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.store = self.workdir / "artifacts"
        self.store.mkdir(exist_ok=True)
        self.capacity = capacity
        self.timeout = timeout
        self.minute = minute
        self.private_tmp = private_tmp
        self.event = event
        # docs contexts.md: github.run_id is "a unique number for each workflow run".
        self.run_id = str(next(_RUN_IDS))
        if event not in workflow.on:
            raise GhaError(f"{workflow.path} does not run on {event} (on: {sorted(workflow.on)})")
        self.inputs_ctx, self.event_inputs = self._inputs(inputs)
        self.lock = threading.RLock()
        self.artifacts: dict[str, Path] = {}
        self.cancel_requested = False
        self.aborting = False  # the emulator gives up (timeout, error): every process is killed
        self.cancelled_by: str | None = None
        self.conclusion: str | None = None
        self.jobs = {j: Job(j, spec, workflow.needs[j]) for j, spec in workflow.jobs.items()}
        self.queue: list[Leg] = []
        base = Scope({"github": self._github(None), "inputs": self.inputs_ctx, "vars": {},
                      "secrets": dict(self.secrets)}, "workflow env")
        self.env = {str(k): render_str(v, base) for k, v in workflow.env.items()}
        self.concurrency = render(workflow.concurrency, Scope({k: base.contexts[k] for k in ("github", "inputs", "vars")},
                                                               "concurrency"))

    # ------------------------------------------------------------------------ public view
    def job(self, job_id: str) -> Job:
        return self.jobs[job_id]

    def legs(self, job_id: str | None = None) -> list[Leg]:
        return [leg for j in self.jobs.values() if job_id is None or j.id == job_id for leg in j.legs]

    def artifact(self, name: str) -> Path:
        return self.artifacts[name]

    def logs(self) -> str:
        lines = [f"run {self.run_id} ({self.event}): {self.conclusion}"
                 + (f", cancelled by {self.cancelled_by}" if self.cancelled_by else "")]
        for j in self.jobs.values():
            lines.append(f"  job {j.id}: {j.result} {j.message}".rstrip())
            for leg in j.legs:
                lines.append(f"    leg {leg.index} {leg.name!r}: {leg.result} {leg.message}".rstrip())
                for s in leg.steps:
                    lines.append(f"      step {s.name!r}: {s.outcome} {s.message}".rstrip())
                    if s.outcome in ("failure", "cancelled") and s.kind == "run":
                        lines.append("        | " + (s.stdout[-1500:] + s.stderr[-1500:]).replace("\n", "\n        | "))
        return "\n".join(lines)

    # ---------------------------------------------------------------------------- contexts
    def _inputs(self, given: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, str]]:
        given = dict(given or {})
        if self.event != "workflow_dispatch":
            if given:
                raise GhaError(f"a {self.event} event has no inputs")
            return {}, {}
        unexpected = sorted(set(given) - set(self.wf.inputs))
        if unexpected:
            raise GhaError(f"HTTP 422: Unexpected inputs provided: {unexpected}")
        ctx: dict[str, Any] = {}
        event: dict[str, str] = {}
        for name, spec in self.wf.inputs.items():
            spec = spec or {}
            if name in given:
                if not isinstance(given[name], str):
                    raise GhaError(f"input {name}: the API takes strings, not {given[name]!r}")
                value = given[name]
            elif "default" in spec:
                value = to_str(spec["default"])
            elif spec.get("required"):
                raise GhaError(f"HTTP 422: Required input '{name}' not provided")
            else:
                value = ""
            if spec.get("type") == "choice" and value not in [to_str(o) for o in spec.get("options") or []]:
                raise GhaError(f"HTTP 422: Provided value '{value}' for input '{name}' not in the list of allowed values")
            event[name] = value
            ctx[name] = (value == "true") if spec.get("type") == "boolean" else value
        return ctx, event

    def _github(self, leg: Leg | None) -> dict[str, Any]:
        return {
            "token": TOKEN, "ref": "refs/heads/main", "ref_name": "main", "ref_type": "branch",
            "sha": "0" * 40, "repository": "owner/repo", "repository_owner": "owner",
            "event_name": self.event, "event": {"inputs": self.event_inputs} if self.event == "workflow_dispatch" else {},
            "run_id": self.run_id, "run_number": "1", "run_attempt": "1", "workflow": self.wf.name,
            "actor": "octocat", "server_url": "https://github.com", "api_url": "https://api.github.com",
            "workspace": str(leg.workspace) if leg else "", "job": leg.job.id if leg else "",
            "action": "", "retention_days": "90",
        }

    def _needs_ctx(self, job: Job) -> dict[str, Any]:
        return {n: {"result": self.jobs[n].result, "outputs": dict(self.jobs[n].outputs)} for n in job.needs}

    def _ancestors(self, job_id: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.wf.needs[job_id])
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(self.wf.needs[n])
        return seen

    def _job_status(self, job: Job) -> dict[str, bool]:
        results = [self.jobs[a].result for a in self._ancestors(job.id)]
        return {"success": not self.cancel_requested and all(r == "success" for r in results),
                "failure": any(r == "failure" for r in results),
                "cancelled": self.cancel_requested, "always": True}

    def _job_scope(self, job: Job, where: str, leg: Leg | None = None) -> Scope:
        ctx = {"github": self._github(leg), "inputs": self.inputs_ctx, "vars": {}, "needs": self._needs_ctx(job),
               "secrets": dict(self.secrets)}
        if leg is not None:
            ctx["matrix"] = dict(leg.matrix or {})
            ctx["strategy"] = {"fail-fast": job.strategy.get("fail-fast", True), "job-index": leg.index,
                               "job-total": len(job.legs), "max-parallel": job.strategy.get("max-parallel", len(job.legs))}
        elif where != "job if" and where != "job strategy":
            raise GhaError(f"internal: {where} needs a leg")
        allowed = AVAILABLE[where]
        return Scope({k: v for k, v in ctx.items() if k in allowed}, where,
                     self._job_status(job) if where == "job if" else None)

    def _step_scope(self, leg: Leg, where: str, env: dict[str, str]) -> Scope:
        job = leg.job
        base = self._job_scope(job, "job name", leg).contexts
        steps = {s.id: {"outputs": dict(s.outputs), "outcome": s.outcome, "conclusion": s.outcome}
                 for s in leg.steps if s.id}
        ctx = {**base, "secrets": dict(self.secrets), "env": dict(env), "steps": steps,
               "job": {"status": leg.status, "container": {"id": "", "network": ""} if leg.container else {},
                       "services": {}},
               "runner": {"temp": str(leg.temp), "os": "Linux", "arch": "X64", "name": f"emulated-{leg.root.name}",
                          "environment": "github-hosted", "tool_cache": str(leg.root / "toolcache"), "debug": ""}}
        allowed = AVAILABLE[where]
        status = None
        if where == "step if":
            status = {"success": leg.status == "success", "failure": leg.status == "failure",
                      "cancelled": leg.status == "cancelled", "always": True}
        return Scope({k: v for k, v in ctx.items() if k in allowed}, where, status)

    # ------------------------------------------------------------------------------ driver
    def run(self) -> Run:
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                with self.lock:
                    self._schedule()
                    if all(j.state == "completed" for j in self.jobs.values()):
                        break
                if time.monotonic() > deadline:
                    raise GhaError(f"the run did not finish in {self.timeout}s\n" + self.logs())
                time.sleep(0.005)
        finally:
            self.aborting = True
            for leg in self.legs():
                if leg.thread is not None:
                    leg.thread.join(timeout=10)
        results = [leg.result for leg in self.legs()] + [j.result for j in self.jobs.values()]
        self.conclusion = ("cancelled" if self.cancel_requested else
                           "failure" if "failure" in results else "success")
        return self

    def _schedule(self) -> None:
        if self.cancel_requested:
            self._apply_cancel()
        for job_id in self.wf.order:
            job = self.jobs[job_id]
            if job.state == "waiting" and all(self.jobs[n].state == "completed" for n in job.needs):
                self._start_job(job)
        for job in self.jobs.values():  # fail-fast: before a freed runner takes a queued leg
            if job.state == "running" and job.strategy.get("fail-fast", True) and any(
                    leg.result == "failure" for leg in job.legs):
                for leg in job.legs:
                    self._cancel_leg(leg, "fail-fast: another leg of the matrix failed")
        running = sum(1 for leg in self.legs() if leg.state == "running")
        for leg in list(self.queue):
            if running >= self.capacity:
                break
            limit = leg.job.strategy.get("max-parallel")
            if limit and sum(1 for x in leg.job.legs if x.state == "running") >= int(limit):
                continue
            self.queue.remove(leg)
            leg.state = "running"
            leg.started = time.monotonic()
            leg.thread = threading.Thread(target=self._run_leg, args=(leg,), daemon=True)
            leg.thread.start()
            running += 1
        for job in self.jobs.values():
            if job.state != "running":
                continue
            if all(leg.state == "completed" for leg in job.legs):
                results = [leg.result for leg in job.legs]
                job.result = ("failure" if "failure" in results else "cancelled" if "cancelled" in results
                              else "skipped" if all(r == "skipped" for r in results) else "success")
                done = sorted((leg for leg in job.legs if leg.finished is not None), key=lambda x: x.finished)
                job.outputs = dict(done[-1].outputs) if done else {}
                job.state = "completed"

    def _apply_cancel(self) -> None:
        for job in self.jobs.values():
            if job.state != "running" or job.cancel_checked:
                continue
            job.cancel_checked = True
            try:
                keep = condition(job.spec.get("if"), self._job_scope(job, "job if"))
            except GhaError:
                keep = False
            if not keep:
                for leg in job.legs:
                    self._cancel_leg(leg, "the run was cancelled")

    def _cancel_leg(self, leg: Leg, why: str) -> None:
        if leg.state == "queued":
            self.queue.remove(leg)
            leg.state, leg.result, leg.message = "completed", "cancelled", why
            leg.status = "cancelled"
            leg.finished = time.monotonic()
        elif leg.state == "running" and not leg.cancel.is_set():
            if leg.status == "success":
                leg.status = "cancelled"
                leg.message = leg.message or why
            leg.cancel.set()

    def _finish_job(self, job: Job, result: str, message: str) -> None:
        job.state, job.result, job.message = "completed", result, message

    def _start_job(self, job: Job) -> None:
        try:
            run_it = condition(job.spec.get("if"), self._job_scope(job, "job if"))
        except GhaError as exc:
            self._finish_job(job, "failure", f"error evaluating if: {exc}")
            return
        if not run_it:
            self._finish_job(job, "skipped", "if: evaluated to false")
            return
        rows: list[dict[str, Any] | None] = [None]
        strategy = job.spec.get("strategy")
        if strategy is not None:
            try:
                scope = self._job_scope(job, "job strategy")
                strategy = {k: render(v, scope) for k, v in strategy.items()}
                matrix = strategy.get("matrix")
                include = matrix.get("include") if isinstance(matrix, dict) else None
                if isinstance(matrix, dict) and set(matrix) != {"include"}:
                    raise GhaError(f"only matrix.include is emulated, got {sorted(matrix)}")
                if not isinstance(include, list):
                    raise GhaError(f"matrix include must be a list, got {include!r:.100}")
                if not include:
                    raise GhaError("Matrix vector 'include' does not contain any values")
                if len(include) > MAX_MATRIX:
                    raise GhaError(f"Strategy for job '{job.id}' produced {len(include)} configurations which "
                                   f"exceeds the maximum of {MAX_MATRIX} configurations")
                if not all(isinstance(r, dict) and r for r in include):
                    raise GhaError("each matrix include row must be a non-empty mapping")
                for key in ("fail-fast", "max-parallel"):
                    if key in strategy and isinstance(strategy[key], str):
                        raise GhaError(f"strategy.{key} must not be a string: {strategy[key]!r}")
                rows = list(include)
            except GhaError as exc:
                self._finish_job(job, "failure", f"Error when evaluating 'strategy' for job '{job.id}': {exc}")
                return
            job.strategy = {"fail-fast": strategy.get("fail-fast", True), "max-parallel": strategy.get("max-parallel")}
        job.state = "running"
        for i, row in enumerate(rows):
            root = self.workdir / "runners" / f"{job.id}-{i}"
            leg = Leg(job, i, row, root)
            job.legs.append(leg)
            self.queue.append(leg)

    # ------------------------------------------------------------------------------- a leg
    def _run_leg(self, leg: Leg) -> None:
        job, spec = leg.job, leg.job.spec
        try:
            for d in (leg.workspace, leg.temp, leg.home, leg.root / "logs"):
                d.mkdir(parents=True, exist_ok=True)
            leg.name = render_str(spec.get("name", job.id), self._job_scope(job, "job name", leg))
            leg.runs_on = render(spec.get("runs-on"), self._job_scope(job, "job runs-on", leg))
            leg.container = render(spec.get("container"), self._job_scope(job, "job container", leg))
            leg.environment = render(spec.get("environment"), self._job_scope(job, "job environment", leg))
            minutes = render(spec.get("timeout-minutes", 360), self._job_scope(job, "job timeout-minutes", leg))
            deadline = leg.started + float(minutes) * self.minute
            leg.env = {**self.env, **{str(k): render_str(v, self._job_scope(job, "job env", leg))
                                      for k, v in (spec.get("env") or {}).items()}}
            defaults = {**self.wf.defaults, **Workflow._defaults(spec.get("defaults"), job.id)}
            github_env: dict[str, str] = {}
            for n, sspec in enumerate(spec["steps"]):
                self._run_step(leg, n, sspec, defaults, github_env, deadline)
            scope = self._step_scope(leg, "job outputs", {**leg.env, **github_env})
            outputs = {}
            for k, v in (spec.get("outputs") or {}).items():
                try:
                    outputs[str(k)] = render_str(v, scope)
                except GhaError as exc:
                    raise GhaError(f"output {k}: {exc}")
            leg.outputs = outputs
        except GhaError as exc:
            with self.lock:
                leg.message = f"{leg.message}; {exc}" if leg.message else str(exc)
                if leg.status == "success":
                    leg.status = "failure"
        finally:
            for s in leg.steps:  # "Cleaning up orphan processes" when the job ends
                if s.pid is not None and _alive_in_group(s.pid):
                    leg.orphans.append(s.name)
                    try:
                        os.killpg(s.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            with self.lock:
                leg.result = "failure" if leg.timed_out else leg.status
                leg.finished = time.monotonic()
                leg.state = "completed"

    def _run_step(self, leg: Leg, n: int, sspec: dict[str, Any], defaults: dict[str, Any],
                  github_env: dict[str, str], deadline: float) -> None:
        kind = "run" if "run" in sspec else self.wf.action(sspec["uses"])[0]
        step = Step(n, str(sspec.get("name") or sspec.get("run") or sspec.get("uses")), sspec.get("id"), kind)
        step.log_dir = leg.root / "logs" / f"{n}"
        step.log_dir.mkdir(parents=True, exist_ok=True)
        leg.steps.append(step)
        env_before = {**leg.env, **github_env}
        with self.lock:
            if time.monotonic() > deadline:
                self._time_out(leg)
            go = condition(sspec.get("if"), self._step_scope(leg, "step if", env_before))
        if not go:
            step.outcome = "skipped"
            return
        scope = self._step_scope(leg, "step", env_before)
        step.started = time.monotonic()
        try:
            if "name" in sspec:
                step.name = render_str(sspec["name"], scope)
            step.env = {**env_before, **{str(k): render_str(v, scope) for k, v in (sspec.get("env") or {}).items()}}
            step.inputs = {str(k): render_str(v, scope) for k, v in (sspec.get("with") or {}).items()}
            if kind == "run":
                step.script = render_str(sspec["run"], scope)
                self._shell(leg, step, sspec, defaults, github_env, deadline)
            else:
                self._action(leg, step, sspec["uses"])
                step.outcome = "success"
        except StepFailed as exc:
            step.message = str(exc)
            step.outcome = "failure"
        except GhaError as exc:  # an expression that cannot be evaluated fails the step
            step.message = str(exc)
            step.outcome = "failure"
        step.finished = time.monotonic()
        with self.lock:
            if step.outcome == "failure" and leg.status == "success":
                leg.status = "failure"
            if step.outcome == "cancelled" and leg.status == "success":
                leg.status = "cancelled"

    def _time_out(self, leg: Leg) -> None:
        leg.timed_out = True
        leg.message = leg.message or "The job has exceeded the maximum execution time (timeout-minutes)"
        if leg.status == "success":
            leg.status = "cancelled"

    def _shell(self, leg: Leg, step: Step, sspec: dict[str, Any], defaults: dict[str, Any],
               github_env: dict[str, str], deadline: float) -> None:
        shell = sspec.get("shell") or defaults.get("shell") or "bash"
        script = leg.temp / f"{uuid.uuid4()}.sh"
        script.write_text(step.script, encoding="utf-8")
        if shell == "bash":
            argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
        elif shell == "sh":
            argv = ["sh", "-e", str(script)]
        else:
            raise GhaError(f"the emulator runs shell bash or sh, not {shell!r}")
        cwd = leg.workspace
        wd = sspec.get("working-directory") or defaults.get("working-directory")
        if wd:
            cwd = leg.workspace / str(wd)
        files = {k: leg.temp / f"_runner_file_commands/{k.lower()}_{uuid.uuid4()}" for k in
                 ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY", "GITHUB_STATE")}
        for f in files.values():
            f.parent.mkdir(parents=True, exist_ok=True)
            f.touch()
        event_path = leg.temp / "_github_workflow" / "event.json"
        event_path.parent.mkdir(parents=True, exist_ok=True)
        event_path.write_text(json.dumps({"inputs": self.event_inputs} if self.event == "workflow_dispatch" else {}))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(leg.home), "LANG": "C.UTF-8",
               "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(leg.workspace),
               "GITHUB_EVENT_NAME": self.event, "GITHUB_EVENT_PATH": str(event_path), "GITHUB_RUN_ID": self.run_id,
               "GITHUB_RUN_NUMBER": "1", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_JOB": leg.job.id,
               "GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main", "GITHUB_SHA": "0" * 40,
               "GITHUB_REPOSITORY": "owner/repo", "GITHUB_WORKFLOW": self.wf.name, "GITHUB_ACTOR": "octocat",
               "GITHUB_SERVER_URL": "https://github.com", "GITHUB_API_URL": "https://api.github.com",
               "RUNNER_TEMP": str(leg.temp), "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
               "RUNNER_NAME": f"emulated-{leg.root.name}", "RUNNER_TOOL_CACHE": str(leg.root / "toolcache"),
               **{k: str(v) for k, v in files.items()}, **step.env}
        step.env = env  # what the process saw
        for k, v in env.items():
            if "\0" in k or "\0" in v or "=" in k or not k:
                raise StepFailed(f"invalid environment variable {k!r}")
        if self.private_tmp:  # the job's machine: a /tmp of its own (see the module doc)
            argv = _unshare() + ["sh", "-c", _TMP_BOOT, "pipec-step", str(cwd), *self._private_tmp(leg), "--"] + argv
        with open(step.log_dir / "stdout.log", "wb") as out, open(step.log_dir / "stderr.log", "wb") as err:
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            step.pid = proc.pid
            handled_cancel = handled_timeout = False
            while True:
                rc = proc.poll()
                if rc is not None:
                    break
                if self.aborting:
                    _kill(proc)
                    step.exit_code, step.outcome, step.message = proc.wait(), "cancelled", "the emulator stopped"
                    return
                recheck = False
                if not handled_timeout and time.monotonic() > deadline:
                    with self.lock:
                        self._time_out(leg)
                    handled_timeout = recheck = True
                if not handled_cancel and leg.cancel.is_set():
                    handled_cancel = recheck = True
                if recheck:
                    with self.lock:  # on cancellation the server evaluates the running step's if again
                        keep = not leg.timed_out and condition(step_if(step, leg),
                                                               self._step_scope(leg, "step if", step.env))
                    if not keep:
                        _kill(proc)
                        step.exit_code = proc.wait()
                        step.outcome = "cancelled"
                        step.message = "The operation was canceled."
                        return
                time.sleep(0.005)
        step.exit_code = rc
        step.outcome = "success" if rc == 0 else "failure"
        if rc != 0:
            step.message = f"Process completed with exit code {rc}."
        try:
            step.outputs = _file_command(files["GITHUB_OUTPUT"])
            github_env.update(_file_command(files["GITHUB_ENV"]))
        except StepFailed as exc:
            step.outcome, step.message = "failure", str(exc)

    def _private_tmp(self, leg: Leg) -> list[str]:
        """The binds giving a job instance's steps its /tmp (SOURCE TARGET MODE ...): the
        emulator's workdir bound at its own path inside the instance's directory, which then
        goes over /tmp."""
        tmp, system = leg.root / "tmp", Path("/tmp").resolve()
        keep = self.workdir.resolve()
        if not keep.is_relative_to(system):
            tmp.mkdir(parents=True, exist_ok=True)
            return [str(tmp), str(system), "tree"]
        inner = tmp / keep.relative_to(system)
        inner.mkdir(parents=True, exist_ok=True)
        return [str(keep), str(inner), "rw", str(tmp), str(system), "tree"]

    # ----------------------------------------------------------------------------- actions
    def _action(self, leg: Leg, step: Step, uses: str) -> None:
        name, version = self.wf.action(uses)
        major = int(re.match(r"v(\d+)", version).group(1))
        w = step.inputs
        allowed = {
            "actions/checkout": {"persist-credentials"},
            "actions/upload-artifact": {"name", "path", "if-no-files-found", "include-hidden-files", "retention-days",
                                        "compression-level", "overwrite"} | ({"archive"} if major >= 7 else set()),
            "actions/download-artifact": {"name", "path", "pattern", "merge-multiple"},
            "actions/github-script": {"script"},
        }[name]
        if set(w) - allowed:
            raise GhaError(f"{name}: inputs {sorted(set(w) - allowed)} are not emulated")
        if name == "actions/checkout":
            _bool_input(w, "persist-credentials", True)
            if leg.workspace.exists():
                shutil.rmtree(leg.workspace)
            shutil.copytree(self.source, leg.workspace, symlinks=True)
        elif name == "actions/upload-artifact":
            self._upload(leg, w)
        elif name == "actions/download-artifact":
            self._download(leg, w, major)
        else:
            self._github_script(leg, w)

    def _path(self, leg: Leg, text: str) -> Path:
        text = text.strip()
        if text.startswith("~"):
            text = str(leg.home) + text[1:]
        return Path(os.path.normpath(os.path.join(leg.workspace, text)))

    def _upload(self, leg: Leg, w: dict[str, str]) -> None:
        name = w.get("name", "") or "artifact"
        bad = [c for c in '":<>|*?\r\n\\/' if c in name]
        if bad:
            raise StepFailed(f"The artifact name is not valid: {name!r} contains {bad}")
        if "path" not in w:
            raise StepFailed("Input required and not supplied: path")
        hidden_ok = _bool_input(w, "include-hidden-files", False)
        if _bool_input(w, "overwrite", False) or not _bool_input(w, "archive", True):
            raise GhaError("upload-artifact: overwrite: true and archive: false are not emulated")
        missing = w.get("if-no-files-found", "warn") or "warn"
        if missing not in ("warn", "error", "ignore"):
            raise StepFailed(f"Unrecognized if-no-files-found input. Provided: {missing}")
        lines = [line.strip() for line in w["path"].splitlines() if line.strip()]
        for line in lines:
            if line.startswith("!") or any(c in line for c in "*?["):
                raise GhaError(f"upload-artifact path {line!r}: globs and exclusions are not emulated")
        patterns = [str(self._path(leg, line)) for line in lines]
        search: list[str] = []
        for p in patterns:  # @actions/glob getSearchPaths: drop paths below another search path
            if p in search or any(Path(p).is_relative_to(q) for q in patterns if q != p):
                continue
            search.append(p)
        found: list[Path] = []
        for sp in search:
            found += _walk(Path(sp), hidden_ok)
        if len(search) > 1:
            root = os.path.commonpath(search)
        elif len(found) == 1 and str(found[0]) == search[0]:
            root = str(found[0].parent)
        else:
            root = search[0]
        if not found:
            if missing == "error":
                raise StepFailed(f"No files were found with the provided path: {w['path']}. No artifacts will be uploaded.")
            step_note = "No files were found with the provided path; no artifact will be uploaded"
            leg.steps[-1].message = step_note
            return
        with self.lock:
            if name in self.artifacts:
                raise StepFailed("Failed to CreateArtifact: Received non-retryable error: Failed request: (409) "
                                 "Conflict: an artifact with this name already exists on the workflow run")
            target = self.store / name
            self.artifacts[name] = target  # reserved: a second upload of the name fails
        for f in found:
            dest = target / os.path.relpath(f, root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
        target.mkdir(parents=True, exist_ok=True)

    def _download(self, leg: Leg, w: dict[str, str], major: int) -> None:
        path = self._path(leg, w.get("path") or str(leg.workspace))
        merge = _bool_input(w, "merge-multiple", False)
        name = w.get("name", "")
        with self.lock:
            available = dict(self.artifacts)
        if name:
            if name not in available:
                raise StepFailed(f"Unable to download artifact(s): Artifact '{name}' not found")
            chosen = [name]
        else:
            pattern = w.get("pattern", "")
            chosen = sorted(a for a in available if not pattern or _minimatch(pattern, a))
        flat_lone = major >= 5 and len(chosen) == 1  # download-artifact v5+: artifacts.length === 1
        for a in chosen:
            dest = path if (name or merge or flat_lone) else path / a
            dest.mkdir(parents=True, exist_ok=True)
            src = available[a]
            for f in sorted(p for p in src.rglob("*") if p.is_file()):
                target = dest / f.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)
                target.chmod(0o644)

    def _github_script(self, leg: Leg, w: dict[str, str]) -> None:
        script = w.get("script", "").strip()
        if not re.fullmatch(r"await github\.rest\.actions\.cancelWorkflowRun\(\{\s*owner:\s*context\.repo\.owner,"
                            r"\s*repo:\s*context\.repo\.repo,\s*run_id:\s*context\.runId\s*\}\);?", script):
            raise GhaError(f"github-script: the emulator runs only pipec's cancelWorkflowRun call, not {script!r:.200}")
        perms = leg.job.spec.get("permissions", self.wf.permissions)
        granted = (perms == "write-all") or (isinstance(perms, dict) and perms.get("actions") == "write")
        if not granted:
            raise StepFailed("HttpError: Resource not accessible by integration (403): cancelWorkflowRun needs "
                             "permissions actions: write")
        with self.lock:
            if not self.cancel_requested:
                self.cancel_requested = True
                self.cancelled_by = f"{leg.job.id}#{leg.index}"


def step_if(step: Step, leg: Leg) -> Any:
    return leg.job.spec["steps"][step.index].get("if")


def _bool_input(w: dict[str, str], key: str, default: bool) -> bool:
    if key not in w or w[key] == "":
        return default
    if w[key] in ("true", "True", "TRUE"):
        return True
    if w[key] in ("false", "False", "FALSE"):
        return False
    raise StepFailed(f'Input does not meet YAML 1.2 "Core Schema" specification: {key}')


def _walk(path: Path, hidden_ok: bool) -> list[Path]:
    """Files under a search path as @actions/glob finds them (symlinks followed, hidden
    names left out unless asked for, the search path itself included)."""
    if not path.exists():
        return []
    if not hidden_ok and path.name.startswith("."):
        return []
    if path.is_file():
        return [path]
    out: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        if not hidden_ok:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        dirnames.sort()
        for f in sorted(filenames):
            if not hidden_ok and f.startswith("."):
                continue
            p = Path(dirpath) / f
            if p.is_file():  # broken symlinks are left out
                out.append(p)
    return out


def _minimatch(pattern: str, name: str) -> bool:
    if "**" in pattern or "{" in pattern or pattern.startswith("!"):
        raise GhaError(f"download-artifact pattern {pattern!r}: only * ? [..] are emulated")
    if name.startswith(".") and not pattern.startswith("."):
        return False
    rx, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            rx += "[^/]*"
        elif c == "?":
            rx += "[^/]"
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                rx += re.escape(c)
            else:
                body = pattern[i + 1:j]
                rx += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
                i = j
        else:
            rx += re.escape(c)
        i += 1
    return re.fullmatch(rx, name) is not None


def _file_command(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV as the runner reads them (actions/runner FileCommandManager)."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line == "":
            continue
        eq, hd = line.find("="), line.find("<<")
        if eq >= 0 and (hd < 0 or eq < hd):
            key, value = line[:eq], line[eq + 1:]
            if not key:
                raise StepFailed(f"Invalid format '{line}'. Name must not be empty")
            out[key] = value
        elif hd >= 0:
            key, delim = line[:hd], line[hd + 2:]
            if not key or not delim:
                raise StepFailed(f"Invalid format '{line}'")
            body: list[str] = []
            while True:
                if i >= len(lines):
                    raise StepFailed(f"Matching delimiter not found '{delim}'")
                if lines[i] == delim:
                    i += 1
                    break
                body.append(lines[i])
                i += 1
            out[key] = "\n".join(body)
        else:
            raise StepFailed(f"Invalid format '{line}'")
    return out


# A step in a mount namespace of its own (private propagation: nothing leaks to this machine):
# bind each SOURCE over TARGET (with the mounts below SOURCE where MODE is tree), the words after
# the working directory up to "--", then enter the working directory again (a mount over one of
# its parents leaves the old one unreachable) and run the step's shell.
_TMP_BOOT = ('cwd=$1; shift; while [ "$1" != -- ]; do '
             'if [ "$3" = tree ]; then mount --rbind "$1" "$2" || exit 1; else mount --bind "$1" "$2" || exit 1; fi; '
             'shift 3; done; shift; cd "$cwd" || exit 1; exec "$@"')


@lru_cache(maxsize=1)
def _unshare() -> list[str]:
    """The command prefix that runs a step in a mount namespace of its own."""
    prefix = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    try:
        ok = subprocess.run(prefix + ["true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        raise GhaError("private_tmp needs a mount namespace (unshare as root or with user namespaces)")
    return prefix


def _alive_in_group(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies, dead but not yet reaped, do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _kill(proc: subprocess.Popen) -> None:
    """The runner sends SIGINT, then SIGTERM, then kills (shortened here)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=0.5)
            return
        except subprocess.TimeoutExpired:
            continue


def run_workflow(path: Path | str, workspace: Path, workdir: Path, event: str = "workflow_dispatch",
                 inputs: dict[str, Any] | None = None, actions: dict[str, dict[str, str]] | None = None,
                 **kw: Any) -> Run:
    """Start a run of the workflow file at ``path`` (the checkout copies ``workspace``) and
    drive it to its end."""
    path = Path(path)
    wf = Workflow(path.read_text(encoding="utf-8"), str(path.name), actions)
    return Run(wf, workspace, workdir, event, inputs, **kw).run()
