"""Offline judge for Argo Workflows manifests (Workflow, WorkflowTemplate, CronWorkflow).

    from tests.harness.argo_check import check_manifest
    problems = check_manifest(doc)          # doc: one parsed YAML document (a dict)
    assert problems == [], "\\n".join(problems)

``check_manifest`` returns every problem it finds as a ``"path: message"`` string; an
empty list means the document is valid.  ``check_yaml(text)`` does the same for YAML
text (all documents), and also reports duplicate mapping keys, which ``argo lint
--strict`` rejects but a plain ``yaml.safe_load`` silently merges.

Three layers of checks:

1. **Strict schema walk.**  The document is walked alongside hera's generated pydantic
   models of the Argo API (``hera.workflows.models``, generated from Argo's own
   OpenAPI document).  hera's models ignore unknown keys (pydantic's default
   ``extra='ignore'``) and validate in lax mode (``"5"`` passes as an int), so they are
   not used to *validate*; instead each model's ``model_fields`` (by camelCase alias,
   cached per class) says which keys exist and what type each value must have, and
   the walker recurses through nested models, lists, ``Dict[str, X]``, Optional and
   Union types.  Unknown keys at any depth, missing required keys, ``null`` list
   items and type errors are reported with their path, e.g.
   ``spec.templates[2].container.imagePullPolicyy: unknown field (did you mean
   'imagePullPolicy'?)``.  Scalars are checked the way Go's strict JSON decoder does
   (no ``"5"`` for an int, no ``5`` for a string); the message on a failure is
   pydantic's own strict-mode message.  Where hera's model is narrower than what
   Argo's Go types accept, the Go behaviour wins: ``Quantity`` takes a string or a
   number in Kubernetes quantity syntax, ``IntOrString`` takes an int or a string,
   Argo's ``AnyString`` (parameter ``value``/``default``/``enum``) takes a string,
   number or bool, ``Item`` (withItems) takes any JSON value but null, and
   ``Template.plugin`` / ``FieldsV1`` are free-form objects.

2. **``argo lint`` rules** (workflow/validate/validate.go, argo-workflows v4): see
   ``_Linter`` below; each rule names its source.  A few checks go beyond the
   linter where Argo would fail at run time instead: references to non-ancestor
   tasks, output artifacts read from a looped task, ``{{item}}`` outside a loop,
   malformed ``depends`` expressions, templated resource quantities, GPU
   requests/limits mismatch, Kubernetes label syntax, volume mounts naming no volume
   (the controller's ``addVolumeReferences``), environment variable names, Secret names and
   keys (Kubernetes API validation), and ``retryStrategy.expression`` (see ``parse_expr``).

3. **Size.**  The compact JSON serialisation must not exceed 1 MiB (what etcd /
   the Kubernetes API accepts for one object).
"""

from __future__ import annotations

import datetime as _dt
import difflib
import functools
import json
import math
import re
import types
import typing
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

from hera.workflows.models.io.argoproj.workflow import v1alpha1 as _wf
from hera.workflows.models.io.k8s.apimachinery.pkg.api import resource as _k8s_resource
from hera.workflows.models.io.k8s.apimachinery.pkg.apis.meta import v1 as _k8s_meta
from hera.workflows.models.io.k8s.apimachinery.pkg.util import intstr as _k8s_intstr
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    RootModel,
    TypeAdapter,
    ValidationError,
)

__all__ = ["API_VERSION", "KIND_MODELS", "MAX_OBJECT_BYTES", "ExprError", "check_manifest", "check_yaml",
           "eval_expr", "parse_expr"]

API_VERSION = "argoproj.io/v1alpha1"
MAX_OBJECT_BYTES = 1024 * 1024  # 1 MiB

KIND_MODELS: dict[str, type[BaseModel]] = {
    "Workflow": _wf.Workflow,
    "WorkflowTemplate": _wf.WorkflowTemplate,
    "ClusterWorkflowTemplate": _wf.ClusterWorkflowTemplate,
    "CronWorkflow": _wf.CronWorkflow,
}


# ---------------------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------------------
# A path is either a plain string (a prefix already formatted) or a (parent, key) pair;
# pairs are cheap to build while walking and are formatted only when a problem is found.

_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_][-A-Za-z0-9_]*$")


def _fmt(path: Any) -> str:
    parts: list[Any] = []
    while isinstance(path, tuple):
        path, key = path
        parts.append(key)
    out = path or ""
    for key in reversed(parts):
        if isinstance(key, int):
            out += f"[{key}]"
        elif _SIMPLE_KEY.match(key):
            out += f".{key}" if out else key
        else:
            out += f"[{json.dumps(key)}]"
    return out or "<document>"


def _sub(path: str, key: str) -> str:
    """``path`` plus a map key, formatted the same way as the schema walk does."""
    return _fmt((path, key))


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------
# layer 1: strict walk over hera's pydantic models
# ---------------------------------------------------------------------------------------

# spec kinds (compiled from annotations; tuples so dispatch is a cheap index)
_MODEL, _LIST, _DICT, _UNION = "model", "list", "dict", "union"
_STR, _INT, _FLOAT, _BOOL, _ANY = "str", "int", "float", "bool", "any"
_QUANTITY, _INTORSTR, _ANYSTRING, _ITEM, _TIME, _AMOUNT, _FREEOBJ = (
    "quantity", "intorstr", "anystring", "item", "time", "amount", "freeobj")

# models whose Go type is a raw JSON object (hera models them as field-less classes)
_FREE_FORM_MODELS = {_wf.Plugin, _k8s_meta.FieldsV1}

# hera types that Argo's Go types accept more loosely (Argo's AnyString: string|number|bool)
_FIELD_OVERRIDES: dict[tuple[type, str], tuple] = {
    (_wf.Parameter, "value"): (_ANYSTRING,),
    (_wf.Parameter, "default"): (_ANYSTRING,),
    (_wf.Parameter, "enum"): (_LIST, (_ANYSTRING,)),
    (_wf.ValueFrom, "default"): (_ANYSTRING,),
}

_STRICT = ConfigDict(strict=True)
_ADAPTERS = {
    _STR: TypeAdapter(str, config=_STRICT),
    _INT: TypeAdapter(int, config=_STRICT),
    _FLOAT: TypeAdapter(float, config=_STRICT),
    _BOOL: TypeAdapter(bool, config=_STRICT),
}
_TIME_ADAPTER = TypeAdapter(AwareDatetime)

_HINTS = {
    (_wf.CronWorkflowSpec, "schedule"): "the singular 'schedule' was removed in Argo v4; use 'schedules: [...]'",
    (_wf.WorkflowSpec, "template"): "did you mean 'templates'?",
}


@functools.cache
def _compile(ann: Any) -> tuple:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _compile(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return _compile(args[0])
        return (_UNION, tuple(_compile(a) for a in args))
    if origin is list:
        return (_LIST, _compile(typing.get_args(ann)[0]))
    if origin is dict:
        return (_DICT, _compile(typing.get_args(ann)[1]))
    if ann is _k8s_resource.Quantity:
        return (_QUANTITY,)
    if ann is _k8s_intstr.IntOrString:
        return (_INTORSTR,)
    if ann is _wf.Item:
        return (_ITEM,)
    if ann is _wf.Amount:
        return (_AMOUNT,)
    if ann in (_k8s_meta.Time, _k8s_meta.MicroTime) or ann is AwareDatetime:
        return (_TIME,)
    if isinstance(ann, type) and issubclass(ann, RootModel):
        return _compile(ann.model_fields["root"].annotation)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        if ann in _FREE_FORM_MODELS:
            return (_FREEOBJ,)
        return (_MODEL, ann)
    if ann is str:
        return (_STR,)
    if ann is bool:
        return (_BOOL,)
    if ann is int:
        return (_INT,)
    if ann is float:
        return (_FLOAT,)
    if ann is Any:
        return (_ANY,)
    raise TypeError(f"argo_check: unsupported annotation in hera model: {ann!r}")


class _ModelInfo:
    __slots__ = ("aliases", "cls", "fields", "python_names", "required")

    def __init__(self, cls: type[BaseModel]) -> None:
        self.cls = cls
        self.fields: dict[str, tuple] = {}
        self.required: list[str] = []
        self.python_names: dict[str, str] = {}
        for name, info in cls.model_fields.items():
            key = info.alias or name
            spec = _FIELD_OVERRIDES.get((cls, key)) or _compile(info.annotation)
            self.fields[key] = spec
            if info.is_required():
                self.required.append(key)
            if name != key:
                self.python_names[name] = key
        self.aliases = sorted(self.fields)


@functools.cache
def _model_info(cls: type[BaseModel]) -> _ModelInfo:
    return _ModelInfo(cls)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _pyd_msg(kind: str, value: Any) -> str:
    try:
        _ADAPTERS[kind].validate_python(value)
    except ValidationError as exc:
        return exc.errors()[0]["msg"]
    return f"Input should be a valid {kind}"  # pragma: no cover - fast path said no


_QUANTITY_RE = re.compile(
    r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


def _scalar_ok(kind: str, value: Any) -> bool:
    if kind is _STR:
        return isinstance(value, str)
    if kind is _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is _BOOL:
        return isinstance(value, bool)
    if kind is _FLOAT:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return False


def _walk(value: Any, spec: tuple, path: Any, out: list[str]) -> bool:
    """Check ``value`` against ``spec``; append problems to ``out``; return True if clean."""
    kind = spec[0]
    if kind is _MODEL:
        if not isinstance(value, dict):
            out.append(f"{_fmt(path)}: expected an object ({spec[1].__name__}), got {_type_name(value)} {_short(value)}")
            return False
        info = _model_info(spec[1])
        ok = True
        fields = info.fields
        for key, child in value.items():
            child_spec = fields.get(key)
            if child_spec is None:
                out.append(f"{_fmt((path, str(key)))}: unknown field{_unknown_hint(info, key)}")
                ok = False
                continue
            if child is None:
                # Go decodes null into the zero value; only required fields object to it
                if key in info.required:
                    out.append(f"{_fmt((path, key))}: required field is null")
                    ok = False
                continue
            if not _walk(child, child_spec, (path, key), out):
                ok = False
        for key in info.required:
            if key not in value:
                out.append(f"{_fmt((path, key))}: required field missing ({info.cls.__name__})")
                ok = False
        return ok
    if kind is _LIST:
        if not isinstance(value, list):
            out.append(f"{_fmt(path)}: expected a list, got {_type_name(value)} {_short(value)}")
            return False
        ok = True
        inner = spec[1]
        for i, item in enumerate(value):
            if item is None:
                out.append(f"{_fmt((path, i))}: null list item")
                ok = False
            elif not _walk(item, inner, (path, i), out):
                ok = False
        return ok
    if kind is _DICT:
        if not isinstance(value, dict):
            out.append(f"{_fmt(path)}: expected a mapping, got {_type_name(value)} {_short(value)}")
            return False
        ok = True
        inner = spec[1]
        for key, item in value.items():
            if not isinstance(key, str):
                out.append(f"{_fmt(path)}: mapping key {key!r} must be a string, got {_type_name(key)}")
                ok = False
                continue
            if item is None:
                out.append(f"{_fmt((path, key))}: null value")
                ok = False
            elif not _walk(item, inner, (path, key), out):
                ok = False
        return ok
    if kind in (_STR, _INT, _BOOL, _FLOAT):
        if _scalar_ok(kind, value):
            return True
        out.append(f"{_fmt(path)}: {_pyd_msg(kind, value)} (got {_type_name(value)} {_short(value)})")
        return False
    if kind is _ANY:
        return True
    if kind is _QUANTITY:
        problem = _quantity_problem(value)
        if problem:
            out.append(f"{_fmt(path)}: {problem}")
            return False
        return True
    if kind is _INTORSTR:
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            return True
        out.append(f"{_fmt(path)}: expected an integer or a string (IntOrString), got {_type_name(value)} {_short(value)}")
        return False
    if kind is _ANYSTRING:
        if isinstance(value, (str, int, float)):  # bool is an int subclass: accepted, as Argo does
            return True
        out.append(f"{_fmt(path)}: expected a string, number or bool, got {_type_name(value)} {_short(value)}")
        return False
    if kind is _ITEM:
        if value is None:
            out.append(f"{_fmt(path)}: withItems entries must be a string, number, bool, list or map, got null")
            return False
        return True
    if kind is _AMOUNT:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        out.append(f"{_fmt(path)}: expected a number, got {_type_name(value)} {_short(value)}")
        return False
    if kind is _TIME:
        if isinstance(value, _dt.datetime):
            return True
        if isinstance(value, str):
            try:
                _TIME_ADAPTER.validate_python(value)
                return True
            except ValidationError as exc:
                out.append(f"{_fmt(path)}: {exc.errors()[0]['msg']} (got {_short(value)})")
                return False
        out.append(f"{_fmt(path)}: expected an RFC 3339 timestamp, got {_type_name(value)} {_short(value)}")
        return False
    if kind is _FREEOBJ:
        if isinstance(value, dict):
            return True
        out.append(f"{_fmt(path)}: expected an object, got {_type_name(value)} {_short(value)}")
        return False
    if kind is _UNION:
        scratch: list[str] = []
        for alt in spec[1]:
            attempt: list[str] = []
            if _walk(value, alt, path, attempt):
                return True
            scratch.extend(attempt)
        out.extend(scratch[:1] or [f"{_fmt(path)}: value does not match any allowed type"])
        return False
    raise AssertionError(kind)  # pragma: no cover


def _unknown_hint(info: _ModelInfo, key: Any) -> str:
    hint = _HINTS.get((info.cls, key))
    if hint:
        return f" ({hint})"
    if isinstance(key, str):
        if key in info.python_names:
            return f" (YAML uses the camelCase name '{info.python_names[key]}')"
        close = difflib.get_close_matches(key, info.aliases, n=1, cutoff=0.75)
        if close:
            return f" (did you mean '{close[0]}'?)"
    return ""


# --- Kubernetes quantities ---------------------------------------------------------------

_SUFFIX = {
    "": Fraction(1), "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}
_QUANTITY_SPLIT = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$")


def _quantity_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return f"expected a Kubernetes quantity (string or number), got {_type_name(value)} {_short(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return "quantity must be a finite number"
    if isinstance(value, str) and not _QUANTITY_RE.match(value):
        extra = ("; Argo cannot template resource quantities, use podSpecPatch instead"
                 if "{{" in value else "")
        return f"invalid Kubernetes quantity {value!r}{extra}"
    return None


def _quantity_value(value: Any) -> Fraction | None:
    """Numeric value of a valid quantity, or None when it cannot be parsed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(str(value)) if math.isfinite(value) else None
    if not isinstance(value, str) or not _QUANTITY_RE.match(value):
        return None
    match = _QUANTITY_SPLIT.match(value)
    number, suffix = Fraction(match.group(1)), match.group(2)
    if suffix[:1] in ("e", "E"):
        return number * Fraction(10) ** int(suffix[1:])
    return number * _SUFFIX[suffix]


# ---------------------------------------------------------------------------------------
# layer 2: argo lint rules
# ---------------------------------------------------------------------------------------

TEMPLATE_TYPES = ("container", "script", "dag", "steps", "resource", "suspend",
                  "containerSet", "data", "http", "plugin")
_WORKFLOW_FIELD_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")  # validate.go workflowFieldNameFmt
_PARAM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")                    # paramOrArtifactNameRegex
_IS_PARAMETER = re.compile(r"\{\{[-a-zA-Z0-9]+(\.[-a-zA-Z0-9_]+)*\}\}")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# The fields of a Kubernetes PodSpec (API reference, core/v1 PodSpec, Kubernetes 1.33); hera
# models Argo's API, which holds a pod spec patch only as text.
_POD_SPEC_FIELDS = (
    "activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "containers", "dnsConfig", "dnsPolicy",
    "enableServiceLinks", "ephemeralContainers", "hostAliases", "hostIPC", "hostNetwork", "hostPID", "hostUsers",
    "hostname", "imagePullSecrets", "initContainers", "nodeName", "nodeSelector", "os", "overhead",
    "preemptionPolicy", "priority", "priorityClassName", "readinessGates", "resourceClaims", "resources",
    "restartPolicy", "runtimeClassName", "schedulerName", "schedulingGates", "securityContext", "serviceAccount",
    "serviceAccountName", "setHostnameAsFQDN", "shareProcessNamespace", "subdomain", "terminationGracePeriodSeconds",
    "tolerations", "topologySpreadConstraints", "volumes",
)
_METRIC_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Kubernetes API validation (k8s.io/apimachinery/pkg/util/validation): IsEnvVarName, IsConfigMapKey.
_ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_CONFIG_MAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_VAR_PREFIXES = ("item.", "steps.", "inputs.", "outputs.", "pod.", "workflow.", "tasks.")
_TASK_RESULTS = {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}
_ITEM_RESULTS = {"AnySucceeded", "AllFailed"}
_RETRY_POLICIES = {"", "Always", "OnFailure", "OnError", "OnTransientError"}
_PODGC_STRATEGIES = {"", "OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess"}
_CONCURRENCY_POLICIES = {"", "Allow", "Forbid", "Replace"}
_RESOURCE_ACTIONS = {"get", "create", "apply", "delete", "replace", "patch"}
_ARTIFACT_LOCATIONS = ("s3", "gcs", "git", "http", "raw", "artifactory", "hdfs", "oss", "azure", "plugin")
_WORKFLOW_VARS = {"name", "namespace", "mainEntrypoint", "serviceAccountName", "uid", "priority",
                  "status", "failures", "annotations", "annotations.json", "labels", "labels.json"}
_WORKFLOW_VAR_PREFIXES = ("creationTimestamp", "scheduledTime", "duration")
_NODE_ATTRS = {"id", "startedAt", "finishedAt", "hostNodeName", "status", "exitCode", "ip"}
_POD_TYPES = ("container", "script", "containerSet")  # templates whose artifacts live at a path
_NAME_LIMIT = {"Workflow": 63, "WorkflowTemplate": 63, "ClusterWorkflowTemplate": 63, "CronWorkflow": 52}


def _d(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _l(x: Any) -> list:
    return x if isinstance(x, list) else []


def _s(x: Any) -> str:
    return x if isinstance(x, str) else ""


def _named(items: Any) -> list[tuple[int, dict]]:
    return [(i, x) for i, x in enumerate(_l(items)) if isinstance(x, dict)]


def _iter_tags(node: Any, path: Any) -> Iterator[tuple[Any, str]]:
    """Yield (path, tag) for every {{tag}} in any string under node (tag stripped)."""
    if isinstance(node, str):
        if "{{" in node:
            for match in _TAG.finditer(node):
                yield path, match.group(1).strip()
    elif isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, (str, dict, list)):
                yield from _iter_tags(value, (path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, (str, dict, list)):
                yield from _iter_tags(value, (path, i))


def _template_type(tmpl: dict) -> str | None:
    found = [t for t in TEMPLATE_TYPES if tmpl.get(t) is not None]
    return found[0] if len(found) == 1 else None


def _has_output(tmpl: dict) -> bool:
    """Argo Template.HasOutput: templates that produce outputs.result / exitCode."""
    if any(tmpl.get(t) is not None for t in ("container", "script", "data", "http", "plugin")):
        return True
    cs = tmpl.get("containerSet")
    return isinstance(cs, dict) and any(_d(c).get("name") == "main" for c in _l(cs.get("containers")))


def _loop_kind(task: dict) -> str | None:
    if task.get("withItems"):
        return "items"
    if task.get("withParam"):
        return "param"
    if task.get("withSequence") is not None:
        return "sequence"
    return None


# ---------------------------------------------------------------------------------------
# retryStrategy.expression: the part of expr-lang (github.com/expr-lang/expr) read here
# ---------------------------------------------------------------------------------------
# Argo evaluates a retry expression with expr-lang over `lastRetry.exitCode` (a string, "-1"
# when the pod has none), `lastRetry.status` ("Error" or "Failed"), `lastRetry.duration`
# (seconds, a string) and, from 3.5, `lastRetry.message` (docs/retries.md, "Conditional
# retries"), plus Argo's expression functions such as asInt and asFloat (docs/variables.md,
# "Expression"). Parsed: literals (numbers, "strings", 'strings', true, false, nil), names,
# calls, [lists], ( ), ! / not, == != < <= > >= in, not in, matches, && / and, || / or,
# with expr-lang's precedence (or < and < comparisons < unary).
RETRY_VARIABLES = ("lastRetry.exitCode", "lastRetry.status", "lastRetry.duration", "lastRetry.message")
EXPR_FUNCTIONS = ("asInt", "asFloat")


class ExprError(ValueError):
    pass


_EXPR_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.\d+|\d+)|(?P<str>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
    r"|(?P<op>&&|\|\||==|!=|<=|>=|[<>!()\[\],])|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*))")
_EXPR_COMPARE = ("==", "!=", "<", "<=", ">", ">=", "in", "not in", "matches")


def _expr_tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    while text[pos:].strip():
        m = _EXPR_TOKEN.match(text, pos)
        if not m:
            raise ExprError(f"unexpected {text[pos:].strip()[:20]!r}")
        pos = m.end()
        if m.group("num") is not None:
            num = m.group("num")
            out.append(("lit", float(num) if "." in num else int(num)))
        elif m.group("str") is not None:
            out.append(("lit", json.loads('"' + m.group("str")[1:-1].replace('"', '\\"') + '"')
                        if m.group("str")[0] == "'" else json.loads(m.group("str"))))
        elif m.group("op") is not None:
            out.append(("op", m.group("op")))
        else:
            name = m.group("name")
            words = {"and": ("op", "&&"), "or": ("op", "||"), "not": ("op", "!"), "in": ("op", "in"),
                     "matches": ("op", "matches"), "true": ("lit", True), "false": ("lit", False),
                     "nil": ("lit", None)}
            out.append(words.get(name, ("name", name)))
    return out


def parse_expr(text: str) -> Any:
    """The syntax tree of an expression (tuples): ("lit", v), ("var", name), ("call", f, args),
    ("list", items), ("not", x), ("bin", op, a, b); ExprError when it does not parse."""
    toks = _expr_tokens(text)
    pos = 0

    def peek(*ops: str) -> bool:
        return pos < len(toks) and toks[pos][0] == "op" and toks[pos][1] in ops

    def take(op: str) -> None:
        nonlocal pos
        if not peek(op):
            raise ExprError(f"expected {op!r}" + (f" at {toks[pos][1]!r}" if pos < len(toks) else " at the end"))
        pos += 1

    def binary(next_level: Any, ops: tuple[str, ...]) -> Any:
        nonlocal pos
        left = next_level()
        while peek(*ops):
            op = toks[pos][1]
            pos += 1
            left = ("bin", op, left, next_level())
        return left

    def or_() -> Any:
        return binary(and_, ("||",))

    def and_() -> Any:
        return binary(compare, ("&&",))

    def compare() -> Any:
        nonlocal pos
        left = unary()
        if peek("!") and pos + 1 < len(toks) and toks[pos + 1] == ("op", "in"):
            pos += 2
            return ("bin", "not in", left, unary())
        if peek(*_EXPR_COMPARE):
            op = toks[pos][1]
            pos += 1
            return ("bin", op, left, unary())
        return left

    def unary() -> Any:
        nonlocal pos
        if peek("!"):
            pos += 1
            return ("not", unary())
        return primary()

    def primary() -> Any:
        nonlocal pos
        if pos >= len(toks):
            raise ExprError("unexpected end of expression")
        kind, value = toks[pos]
        pos += 1
        if kind == "lit":
            return ("lit", value)
        if kind == "name":
            if peek("("):
                pos += 1
                args = []
                while not peek(")"):
                    args.append(or_())
                    if not peek(")"):
                        take(",")
                take(")")
                return ("call", value, args)
            return ("var", value)
        if value == "(":
            inner = or_()
            take(")")
            return inner
        if value == "[":
            items = []
            while not peek("]"):
                items.append(or_())
                if not peek("]"):
                    take(",")
            take("]")
            return ("list", items)
        raise ExprError(f"unexpected {value!r}")

    tree = or_()
    if pos != len(toks):
        raise ExprError(f"unexpected {toks[pos][1]!r} after a complete expression")
    return tree


def expr_names(tree: Any) -> tuple[set[str], set[str]]:
    """(variables, functions) an expression's tree uses."""
    variables: set[str] = set()
    functions: set[str] = set()

    def walk(node: Any) -> None:
        kind = node[0]
        if kind == "var":
            variables.add(node[1])
        elif kind == "call":
            functions.add(node[1])
            for a in node[2]:
                walk(a)
        elif kind == "list":
            for a in node[1]:
                walk(a)
        elif kind == "not":
            walk(node[1])
        elif kind == "bin":
            walk(node[2])
            walk(node[3])

    walk(tree)
    return variables, functions


def eval_expr(tree: Any, variables: dict[str, Any]) -> Any:
    """The value of a parsed expression (ExprError where expr-lang would fail)."""
    kind = tree[0]
    if kind == "lit":
        return tree[1]
    if kind == "var":
        if tree[1] not in variables:
            raise ExprError(f"unknown name {tree[1]}")
        return variables[tree[1]]
    if kind == "list":
        return [eval_expr(a, variables) for a in tree[1]]
    if kind == "not":
        value = eval_expr(tree[1], variables)
        if not isinstance(value, bool):
            raise ExprError(f"invalid operation: ! {value!r}")
        return not value
    if kind == "call":
        args = [eval_expr(a, variables) for a in tree[2]]
        if tree[1] not in EXPR_FUNCTIONS or len(args) != 1:
            raise ExprError(f"unknown function {tree[1]} of {len(args)} arguments")
        try:
            return int(str(args[0]).strip()) if tree[1] == "asInt" else float(str(args[0]).strip())
        except ValueError:
            raise ExprError(f"{tree[1]}({args[0]!r}): not a number")
    op = tree[1]
    if op in ("&&", "||"):
        left = eval_expr(tree[2], variables)
        if not isinstance(left, bool):
            raise ExprError(f"invalid operation: {left!r} {op}")
        if (op == "&&" and not left) or (op == "||" and left):
            return left
        right = eval_expr(tree[3], variables)
        if not isinstance(right, bool):
            raise ExprError(f"invalid operation: {op} {right!r}")
        return right
    left, right = eval_expr(tree[2], variables), eval_expr(tree[3], variables)
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op in ("in", "not in"):
        if not isinstance(right, list):
            raise ExprError(f"invalid operation: {op} {right!r}")
        return (left in right) is (op == "in")
    if op == "matches":
        if not isinstance(left, str) or not isinstance(right, str):
            raise ExprError("matches needs strings")
        return re.search(right, left) is not None
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
    if not numbers and not (isinstance(left, str) and isinstance(right, str)):
        raise ExprError(f"invalid operation: {left!r} {op} {right!r}")
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


class _DependsError(ValueError):
    pass


_DEPENDS_TOKEN = re.compile(
    r"\s*(?:(?P<op>&&|\|\|)|(?P<not>!)|(?P<lp>\()|(?P<rp>\))"
    r"|(?P<name>[a-zA-Z0-9][-a-zA-Z0-9]*?)(?:\.(?P<result>[A-Za-z]+))?(?=$|[\s&|()!]))")


def parse_depends(expr: str) -> list[tuple[str, str | None]]:
    """Parse an Argo ``depends`` expression; return [(task, result-or-None)].

    Grammar: expr := term (('&&' | '||') term)* ; term := '!' term | '(' expr ')' | NAME['.'RESULT].
    Raises _DependsError on a syntax error or an unknown result.
    """
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = expr.rstrip()
    while pos < len(text):
        m = _DEPENDS_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _DependsError(f"cannot parse near {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group("op"):
            tokens.append(("op", m.group("op")))
        elif m.group("not"):
            tokens.append(("not", "!"))
        elif m.group("lp"):
            tokens.append(("lp", "("))
        elif m.group("rp"):
            tokens.append(("rp", ")"))
        else:
            result = m.group("result")
            if result is not None and result not in _TASK_RESULTS:
                raise _DependsError(f"task result '{result}' for task '{m.group('name')}' is invalid")
            tokens.append(("name", (m.group("name"), result)))
    refs: list[tuple[str, str | None]] = []
    i = 0

    def term() -> None:
        nonlocal i
        if i >= len(tokens):
            raise _DependsError("unexpected end of expression")
        kind, val = tokens[i]
        if kind == "not":
            i += 1
            term()
        elif kind == "lp":
            i += 1
            expression()
            if i >= len(tokens) or tokens[i][0] != "rp":
                raise _DependsError("missing ')'")
            i += 1
        elif kind == "name":
            refs.append(val)
            i += 1
        else:
            raise _DependsError(f"unexpected {val!r}")

    def expression() -> None:
        nonlocal i
        term()
        while i < len(tokens) and tokens[i][0] == "op":
            i += 1
            term()

    if not tokens:
        raise _DependsError("empty expression")
    expression()
    if i != len(tokens):
        raise _DependsError(f"unexpected {tokens[i][1]!r}")
    return refs


# --- cron (robfig/cron v3 ParseStandard) ---------------------------------------------------

_MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_DOWS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_CRON_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day-of-month", 1, 31, {}),
                ("month", 1, 12, _MONTHS), ("day-of-week", 0, 6, _DOWS))
_CRON_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_GO_DURATION = re.compile(r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|ms|s|m|h)"
                          r"(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|ms|s|m|h))*$")


def _timezone_problem(tz: str) -> str | None:
    if tz in ("", "UTC", "Local"):
        return None
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # unknown, or a malformed key
        return f"invalid timezone {tz!r} (not an IANA time zone name)"
    return None


def cron_problem(spec: str) -> str | None:
    """None if robfig/cron's ParseStandard accepts ``spec``, else a message."""
    text = spec.strip()
    if text.startswith(("CRON_TZ=", "TZ=")):
        head, _, text = text.partition(" ")
        problem = _timezone_problem(head.split("=", 1)[1])
        if problem:
            return problem
        text = text.strip()
    if not text:
        return "empty cron schedule"
    if text.startswith("@"):
        if text in _CRON_DESCRIPTORS:
            return None
        if text.startswith("@every "):
            if _GO_DURATION.match(text[len("@every "):].strip()):
                return None
            return f"invalid duration in {text!r}"
        return f"unrecognized descriptor {text!r}"
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields (minute hour day-of-month month day-of-week), found {len(fields)}: {spec!r}"
    for field, (fname, low, high, names) in zip(fields, _CRON_FIELDS):
        for part in field.split(","):
            problem = _cron_part_problem(part, low, high, names)
            if problem:
                return f"{fname} field {field!r}: {problem}"
    return None


def _cron_part_problem(part: str, low: int, high: int, names: dict[str, int]) -> str | None:
    def number(tok: str) -> int:
        if tok.lower() in names:
            return names[tok.lower()]
        if not tok.isdigit():
            raise ValueError(f"failed to parse int from {tok!r}")
        return int(tok)

    range_and_step = part.split("/")
    if len(range_and_step) > 2:
        return f"too many slashes: {part!r}"
    low_high = range_and_step[0].split("-")
    if len(low_high) > 2:
        return f"too many hyphens: {part!r}"
    try:
        if low_high[0] in ("*", "?"):
            if len(low_high) > 1:
                return f"invalid range {part!r}"
            start, end = low, high
        else:
            start = number(low_high[0])
            end = number(low_high[1]) if len(low_high) == 2 else start
        step = 1
        if len(range_and_step) == 2:
            step = number(range_and_step[1])
            if len(low_high) == 1 and low_high[0] not in ("*", "?"):
                end = high
    except ValueError as exc:
        return str(exc)
    if start < low:
        return f"beginning of range ({start}) below minimum ({low}): {part!r}"
    if end > high:
        return f"end of range ({end}) above maximum ({high}): {part!r}"
    if start > end:
        return f"beginning of range ({start}) beyond end of range ({end}): {part!r}"
    if step == 0:
        return f"step of range should be a positive number: {part!r}"
    return None


# --- the linter ----------------------------------------------------------------------------


class _Tmpl:
    """What the linter needs to know about one template."""

    __slots__ = (
        "daemon",
        "in_arts",
        "in_params",
        "index",
        "leaf",
        "name",
        "out_arts",
        "out_params",
        "path",
        "raw",
        "type",
    )

    def __init__(self, index: int, path: str, raw: dict) -> None:
        self.index = index
        self.path = path
        self.raw = raw
        self.name = _s(raw.get("name"))
        self.type = _template_type(raw)
        inputs, outputs = _d(raw.get("inputs")), _d(raw.get("outputs"))
        self.in_params = {_s(p.get("name")): p for _, p in _named(inputs.get("parameters"))}
        self.in_arts = {_s(a.get("name")): a for _, a in _named(inputs.get("artifacts"))}
        self.out_params = {_s(p.get("name")) for _, p in _named(outputs.get("parameters"))}
        self.out_arts = {_s(a.get("name")) for _, a in _named(outputs.get("artifacts"))}
        self.daemon = raw.get("daemon") is True
        self.leaf = self.type not in ("dag", "steps")


class _Scope:
    """Where a {{tag}} occurs: the template, and maybe a DAG task or a step."""

    __slots__ = (
        "ancestry",
        "dag_tasks",
        "in_hooks",
        "inline_inputs",
        "step_tasks",
        "steps_before",
        "task",
        "task_name",
        "tmpl",
    )

    def __init__(self, tmpl: _Tmpl) -> None:
        self.tmpl = tmpl
        self.task: dict | None = None          # the DAG task or step holding the tag
        self.task_name: str | None = None
        self.dag_tasks: dict[str, dict] | None = None   # all tasks of the enclosing DAG
        self.ancestry: _Ancestry | None = None  # ancestor relation of the DAG (None: don't check)
        self.steps_before: dict[str, dict] | None = None  # steps of earlier groups
        self.step_tasks: dict[str, dict] | None = None    # all steps of the template
        self.in_hooks = False
        self.inline_inputs: set[str] = set()  # input parameters of the task's inline template

    def set_task(self, task: dict, name: str) -> None:
        self.task, self.task_name = task, name
        inline = _d(task.get("inline"))
        self.inline_inputs = {_s(p.get("name")) for _, p in _named(_d(inline.get("inputs")).get("parameters"))}


class _Linter:
    def __init__(self, doc: dict, require_template_entrypoint: bool) -> None:
        self.doc = doc
        self.out: list[str] = []
        self.kind = doc.get("kind")
        self.require_template_entrypoint = require_template_entrypoint
        spec = _d(doc.get("spec"))
        if self.kind == "CronWorkflow":
            self.spec_path = "spec.workflowSpec"
            self.wfspec = _d(spec.get("workflowSpec"))
        else:
            self.spec_path = "spec"
            self.wfspec = spec
        self.templates: list[_Tmpl] = []
        self.by_name: dict[str, _Tmpl] = {}
        self.defaults = _d(self.wfspec.get("templateDefaults"))

    def err(self, path: Any, msg: str) -> None:
        self.out.append(f"{_fmt(path)}: {msg}")

    # ---- entry -------------------------------------------------------------------------
    def run(self) -> list[str]:
        self.check_metadata()
        if self.kind == "CronWorkflow":
            self.check_cron()
        self.check_spec()
        return self.out

    # ---- metadata ----------------------------------------------------------------------
    def check_metadata(self) -> None:
        meta = _d(self.doc.get("metadata"))
        name, gen = meta.get("name"), meta.get("generateName")
        if not name and not gen:
            self.err("metadata", "one of name or generateName is required")
        limit = _NAME_LIMIT.get(self.kind, 63)
        if isinstance(name, str) and name:
            self._dns_name("metadata.name", name)
            if len(name) > limit:
                self.err("metadata.name", f"{self.kind} name {name!r} must not be more than {limit} "
                         f"characters long (currently {len(name)})")
        if isinstance(gen, str) and gen:
            masked = gen[:-1] + "a" if gen.endswith("-") else gen  # apimachinery maskTrailingDash
            self._dns_name("metadata.generateName", masked, shown=gen)
        self._labels("metadata.labels", meta.get("labels"))
        self._annotations("metadata.annotations", meta.get("annotations"))

    def _dns_name(self, path: str, name: str, shown: str | None = None) -> None:
        if len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
            self.err(path, f"{shown or name!r} is not a valid DNS-1123 subdomain (lowercase alphanumerics, "
                     "'-' and '.', starting and ending with an alphanumeric)")

    def _labels(self, path: str, labels: Any) -> None:
        for key, value in _d(labels).items():
            if not isinstance(key, str):
                continue
            self._qualified_name(_sub(path, key), key, "label key")
            templated_or_empty = not isinstance(value, str) or not value or "{{" in value
            if not templated_or_empty and (len(value) > 63 or not _LABEL_NAME.match(value)):
                self.err(_sub(path, key), f"invalid label value {_short(value)}: at most 63 "
                         "characters, alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric")

    def _annotations(self, path: str, annotations: Any) -> None:
        total = 0
        for key, value in _d(annotations).items():
            if isinstance(key, str):
                self._qualified_name(_sub(path, key), key, "annotation key")
                total += len(key) + len(value if isinstance(value, str) else "")
        if total > 256 * 1024:
            self.err(path, f"annotations total {total} bytes, over the 256 KiB Kubernetes limit")

    def _qualified_name(self, path: str, key: str, what: str) -> None:
        if "{{" in key:
            return
        prefix, _, name = key.rpartition("/")
        bad = (not name or len(name) > 63 or not _LABEL_NAME.match(name)
               or (prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix))))
        if bad:
            self.err(path, f"invalid {what} {key!r}: optional DNS-subdomain prefix and '/', then at most 63 "
                     "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric")

    # ---- CronWorkflow ------------------------------------------------------------------
    def check_cron(self) -> None:
        spec = _d(self.doc.get("spec"))
        schedules = spec.get("schedules")
        if "schedules" in spec and (not isinstance(schedules, list) or not schedules):
            self.err("spec.schedules", "cron workflow must have at least one schedule")
        for i, sched in enumerate(_l(schedules)):
            if isinstance(sched, str):
                problem = cron_problem(sched)
                if problem:
                    self.err(f"spec.schedules[{i}]", f"cron schedule {sched!r} is malformed: {problem}")
        tz = spec.get("timezone")
        if isinstance(tz, str):
            problem = _timezone_problem(tz)
            if problem:
                self.err("spec.timezone", problem)
        policy = spec.get("concurrencyPolicy")
        if isinstance(policy, str) and policy not in _CONCURRENCY_POLICIES:
            self.err("spec.concurrencyPolicy", f"'{policy}' is not a valid concurrencyPolicy (Allow, Forbid or Replace)")
        deadline = spec.get("startingDeadlineSeconds")
        if isinstance(deadline, int) and not isinstance(deadline, bool) and deadline < 0:
            self.err("spec.startingDeadlineSeconds", "startingDeadlineSeconds must be positive")
        wm = _d(spec.get("workflowMetadata"))
        self._labels("spec.workflowMetadata.labels", wm.get("labels"))
        self._annotations("spec.workflowMetadata.annotations", wm.get("annotations"))

    # ---- spec ----------------------------------------------------------------------------
    def check_spec(self) -> None:
        sp, spec = self.spec_path, self.wfspec
        raw_templates = spec.get("templates")
        has_ref = spec.get("workflowTemplateRef") is not None
        if has_ref and _l(raw_templates):
            self.err(f"{sp}.templates", "Templates is invalid field in spec if workflow referred WorkflowTemplate reference")

        # templates: names (validateWorkflowFieldNames on spec.templates)
        for i, raw in enumerate(_l(raw_templates)):
            if not isinstance(raw, dict):
                continue
            t = _Tmpl(i, f"{sp}.templates[{i}]", raw)
            self.templates.append(t)
            if not t.name:
                self.err(f"{t.path}.name", "template name is required")
                continue
            self._field_name(f"{t.path}.name", t.name, "template name")
            if t.name in self.by_name:
                self.err(f"{t.path}.name", f"template name '{t.name}' is not unique "
                         f"(also {self.by_name[t.name].path})")
            else:
                self.by_name[t.name] = t

        # arguments
        args = _d(spec.get("arguments"))
        self._names(f"{sp}.arguments.parameters", args.get("parameters"), param=True)
        self._names(f"{sp}.arguments.artifacts", args.get("artifacts"), param=True)
        for i, p in _named(args.get("parameters")):
            self._enum_check(f"{sp}.arguments.parameters[{i}]", p)
        self.wf_params = {_s(p.get("name")) for _, p in _named(args.get("parameters"))}
        self.wf_args = args

        # global variables
        self.global_out_params: set[str] = set()
        self.global_out_arts: set[str] = set()
        self.any_global_param = self.any_global_art = False
        for t in self.templates:
            outputs = _d(t.raw.get("outputs"))
            for _, p in _named(outputs.get("parameters")):
                g = _s(p.get("globalName"))
                if g:
                    if _IS_PARAMETER.search(g):
                        self.any_global_param = True
                    self.global_out_params.add(g)
            for _, a in _named(outputs.get("artifacts")):
                g = _s(a.get("globalName"))
                if g:
                    if _IS_PARAMETER.search(g):
                        self.any_global_art = True
                    self.global_out_arts.add(g)
        meta = _d(self.doc.get("metadata"))
        self.wf_labels = set(_d(meta.get("labels")))
        self.wf_annotations = set(_d(meta.get("annotations")))
        for wm in (_d(spec.get("workflowMetadata")), _d(_d(self.doc.get("spec")).get("workflowMetadata"))):
            self.wf_labels |= set(_d(wm.get("labels"))) | set(_d(wm.get("labelsFrom")))
            self.wf_annotations |= set(_d(wm.get("annotations")))

        # entrypoint
        entry = spec.get("entrypoint")
        need_entry = not has_ref and (self.kind in ("Workflow", "CronWorkflow")
                                      or self.require_template_entrypoint)
        if not entry:
            if need_entry:
                self.err(f"{sp}.entrypoint", "spec.entrypoint is required")
        elif isinstance(entry, str) and not has_ref:
            target = self.by_name.get(entry)
            if target is None:
                self.err(f"{sp}.entrypoint", f"template name '{entry}' undefined{self._suggest(entry)}")
            else:
                supplied = None if self.kind in ("WorkflowTemplate", "ClusterWorkflowTemplate") else args
                self._check_call_args(f"{sp}.entrypoint", target, supplied, caller="spec.arguments",
                                      values_required=False)
        on_exit = spec.get("onExit")
        if isinstance(on_exit, str) and on_exit and not has_ref:
            target = self.by_name.get(on_exit)
            if target is None:
                self.err(f"{sp}.onExit", f"template name '{on_exit}' undefined{self._suggest(on_exit)}")
            else:
                supplied = None if self.kind in ("WorkflowTemplate", "ClusterWorkflowTemplate") else args
                self._check_call_args(f"{sp}.onExit", target, supplied, caller="spec.arguments",
                                      values_required=False)
        self._hooks(f"{sp}.hooks", spec.get("hooks"))
        podgc = _d(spec.get("podGC"))
        strategy = podgc.get("strategy")
        if isinstance(strategy, str) and strategy not in _PODGC_STRATEGIES:
            self.err(f"{sp}.podGC.strategy", f"podGC.strategy unknown strategy '{strategy}'")
        wm = _d(spec.get("workflowMetadata"))
        self._labels(f"{sp}.workflowMetadata.labels", wm.get("labels"))
        self._labels(f"{sp}.podMetadata.labels", _d(spec.get("podMetadata")).get("labels"))

        # workflow.* references outside templates
        for key, value in spec.items():
            if key == "templates" or not isinstance(value, (dict, list, str)):
                continue
            for path, tag in _iter_tags(value, f"{sp}.{key}"):
                if tag.startswith("workflow."):
                    problem = self._workflow_var(tag)
                    if problem:
                        self.err(path, problem)

        for t in self.templates:
            self.check_template(t)

    # ---- helpers ---------------------------------------------------------------------------
    def _suggest(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self.by_name), n=1, cutoff=0.75)
        return f" (did you mean '{close[0]}'?)" if close else ""

    def _field_name(self, path: str, name: str, what: str) -> bool:
        ok = True
        if len(name) > 128:
            self.err(path, f"{what} '{name[:40]}...' must be no more than 128 characters (currently {len(name)})")
            ok = False
        if not _WORKFLOW_FIELD_NAME.match(name):
            self.err(path, f"{what} '{name}' is invalid: name must consist of alpha-numeric characters or '-', "
                     "and must start with an alpha-numeric character")
            ok = False
        return ok

    def _names(self, path: str, items: Any, param: bool) -> None:
        """validateWorkflowFieldNames for parameter / artifact lists."""
        seen: set[str] = set()
        for i, item in _named(items):
            name = item.get("name")
            if not isinstance(name, str) or not name:
                self.err(f"{path}[{i}].name", "name is required")
                continue
            if param and not _PARAM_NAME.match(name):
                self.err(f"{path}[{i}].name", f"'{name}' is invalid: Parameter/Artifact name must consist of "
                         "alpha-numeric characters, '_' or '-' e.g. my_param_1, MY-PARAM-1")
            if name in seen:
                self.err(f"{path}[{i}].name", f"'{name}' is not unique")
            seen.add(name)

    def _enum_check(self, path: str, p: dict) -> None:
        enum = p.get("enum")
        if enum is None or not isinstance(enum, list):
            return
        if not enum:
            self.err(f"{path}.enum", "enum should contain at least one value")
        elif p.get("value") is not None and str(p.get("value")) not in {str(e) for e in enum}:
            self.err(f"{path}.value", f"value {p.get('value')!r} should be present in the enum list")

    def _hooks(self, path: str, hooks: Any) -> None:
        for name, hook in _d(hooks).items():
            hook = _d(hook)
            if name != "exit" and not _s(hook.get("expression")):
                self.err(_sub(path, name), "Expression required (only the 'exit' hook may omit it)")
            tname = hook.get("template")
            if isinstance(tname, str) and tname:
                target = self.by_name.get(tname)
                if target is None:
                    self.err(f"{_sub(path, name)}.template", f"template name '{tname}' undefined{self._suggest(tname)}")
                else:
                    self._check_call_args(_sub(path, name), target, _d(hook.get("arguments")),
                                          caller="hook arguments", values_required=True)

    # ---- one template ------------------------------------------------------------------------
    def check_template(self, t: _Tmpl) -> None:
        raw, p = t.raw, t.path
        present = [k for k in TEMPLATE_TYPES if raw.get(k) is not None]
        if not present:
            self.err(p, f"template '{t.name}' type unspecified. choose one of: {', '.join(TEMPLATE_TYPES)}")
        elif len(present) > 1:
            self.err(p, f"template '{t.name}' has multiple template types specified ({', '.join(present)}); "
                     "choose exactly one")

        # inputs / outputs names
        inputs, outputs = _d(raw.get("inputs")), _d(raw.get("outputs"))
        self._names(f"{p}.inputs.parameters", inputs.get("parameters"), param=True)
        self._names(f"{p}.inputs.artifacts", inputs.get("artifacts"), param=True)
        self._names(f"{p}.outputs.parameters", outputs.get("parameters"), param=True)
        self._names(f"{p}.outputs.artifacts", outputs.get("artifacts"), param=True)
        for i, a in _named(inputs.get("artifacts")):
            ap = f"{p}.inputs.artifacts[{i}]"
            if t.type in _POD_TYPES and not _s(a.get("path")):
                self.err(f"{ap}.path", f"input artifact '{a.get('name')}' needs a path in a {t.type} template")
            if not t.leaf and a.get("path"):
                self.err(f"{ap}.path", "path only valid in container/script templates")
            if a.get("from") or a.get("fromExpression"):
                self.err(f"{ap}.from", "from not valid in inputs")
            if _d(a.get("git")) and not _d(a.get("git")).get("repo"):
                self.err(f"{ap}.git.repo", "git.repo is required")
        self._check_outputs(t, outputs)

        # placement rules (validateNonLeaf / validateLeaf / timeout)
        if raw.get("parallelism") is not None and t.type is not None and t.leaf:
            self.err(f"{p}.parallelism", f"parallelism is only valid for steps and dag templates "
                     f"(template '{t.name}' is a {t.type} template)")
        ads = raw.get("activeDeadlineSeconds")
        if ads is not None:
            if not t.leaf:
                self.err(f"{p}.activeDeadlineSeconds", f"activeDeadlineSeconds is only valid for leaf templates "
                         f"(template '{t.name}' is a {t.type} template; use timeout on its leaves)")
            elif not _valid_int_or_var(ads):
                self.err(f"{p}.activeDeadlineSeconds", "activeDeadlineSeconds must be a positive integer > 0 or an argo variable")
        timeout = raw.get("timeout")
        if isinstance(timeout, str) and timeout:
            if not t.leaf:
                self.err(f"{p}.timeout", f"{t.type} template doesn't support timeout field")
            elif re.fullmatch(r"[+-]?[0-9]+", timeout):
                self.err(f"{p}.timeout", f"invalid duration format in timeout {timeout!r} (needs a unit, e.g. '{timeout}s')")
        retry = _d(raw.get("retryStrategy"))
        policy = retry.get("retryPolicy")
        if isinstance(policy, str) and policy not in _RETRY_POLICIES:
            self.err(f"{p}.retryStrategy.retryPolicy", f"{policy} is not a valid RetryPolicy")
        expression = retry.get("expression")
        if isinstance(expression, str) and expression:
            self._retry_expression(f"{p}.retryStrategy.expression", expression)
        if t.type in _POD_TYPES:
            self._pod_volumes(t)
        metrics = _d(raw.get("metrics"))
        for i, m in _named(metrics.get("prometheus")):
            name = _s(m.get("name"))
            if name and not _METRIC_NAME.match(name):
                self.err(f"{p}.metrics.prometheus[{i}].name", f"metric name '{name}' is invalid. Metric names must "
                         "contain alphanumeric characters or '_'")
        self._labels(f"{p}.metadata.labels", _d(raw.get("metadata")).get("labels"))
        if raw.get("podSpecPatch") is not None:
            self._pod_spec_patch(f"{p}.podSpecPatch", raw.get("podSpecPatch"))

        # type specific
        if t.type == "container":
            self._container(f"{p}.container", _d(raw.get("container")), "container", t)
        elif t.type == "script":
            self._container(f"{p}.script", _d(raw.get("script")), "script", t)
        elif t.type == "containerSet":
            self._container_set(t)
        elif t.type == "resource":
            self._resource(t)
        for key in ("sidecars", "initContainers"):
            for i, c in _named(raw.get(key)):
                self._resources(f"{p}.{key}[{i}].resources", c.get("resources"))

        # variables in the template body (dag/steps bodies are handled per task/step)
        if t.type == "dag":
            self.check_dag(t)
        elif t.type == "steps":
            self.check_steps(t)
        scope = _Scope(t)
        if t.type == "dag":
            scope.dag_tasks = self._dag_tasks(t)
        if t.type == "steps":
            scope.steps_before = scope.step_tasks = self._all_steps(t)
        for key, value in raw.items():
            if t.type in ("dag", "steps") and key == t.type:
                continue
            if isinstance(value, (dict, list, str)):
                for path, tag in _iter_tags(value, f"{p}.{key}"):
                    self._check_tag(path, tag, scope)

    def _check_outputs(self, t: _Tmpl, outputs: dict) -> None:
        p = t.path
        for i, a in _named(outputs.get("artifacts")):
            ap = f"{p}.outputs.artifacts[{i}]"
            if t.type in _POD_TYPES and not _s(a.get("path")):
                self.err(f"{ap}.path", f"output artifact '{a.get('name')}' needs a path in a {t.type} template")
            if not t.leaf and a.get("path"):
                self.err(f"{ap}.path", "path only valid in container/script templates")
            g = _s(a.get("globalName"))
            if g and not _IS_PARAMETER.search(g) and not _PARAM_NAME.match(g):
                self.err(f"{ap}.globalName", f"'{g}' is invalid: Parameter/Artifact name must consist of "
                         "alpha-numeric characters, '_' or '-'")
        for i, prm in _named(outputs.get("parameters")):
            pp = f"{p}.outputs.parameters[{i}]"
            vf = prm.get("valueFrom")
            if vf is not None and prm.get("value") is not None:
                self.err(pp, f"output parameter '{prm.get('name')}' has both valueFrom and value specified, choose one")
                continue
            if prm.get("value") is not None:
                continue
            if vf is None:
                self.err(pp, f"output parameter '{prm.get('name')}' does not have valueFrom or value specified")
                continue
            vf = _d(vf)
            kinds = [k for k in ("path", "jqFilter", "jsonPath", "parameter", "expression") if vf.get(k)]
            if vf.get("supplied") is not None:
                kinds.append("supplied")
            if not kinds:
                self.err(f"{pp}.valueFrom", "valueFrom type unspecified. choose one of: path, jqFilter, jsonPath, "
                         "parameter, expression, supplied")
            elif len(kinds) > 1:
                self.err(f"{pp}.valueFrom", f"multiple valueFrom types specified ({', '.join(kinds)})")
            if t.type in ("container", "containerSet", "script") and not vf.get("path"):
                self.err(f"{pp}.valueFrom.path", f"path must be specified for {t.type} templates")
            elif t.type == "resource" and not (vf.get("jqFilter") or vf.get("jsonPath")):
                self.err(f"{pp}.valueFrom", "jqFilter or jsonPath must be specified for resource templates")
            elif t.type in ("dag", "steps") and not (vf.get("parameter") or vf.get("expression")):
                self.err(f"{pp}.valueFrom", f"parameter or expression must be specified for {t.type} templates")
            g = _s(prm.get("globalName"))
            if g and not _IS_PARAMETER.search(g) and not _PARAM_NAME.match(g):
                self.err(f"{pp}.globalName", f"'{g}' is invalid: Parameter/Artifact name must consist of "
                         "alpha-numeric characters, '_' or '-'")

    def _container(self, path: str, c: dict, kind: str, t: _Tmpl) -> None:
        image = c.get("image")
        if not image and not _d(self.defaults.get(kind)).get("image"):
            self.err(f"{path}.image", f"{kind}.image may not be empty (template '{t.name}')")
        self._resources(f"{path}.resources", c.get("resources"))
        mounts: dict[str, str] = {}
        for i, vm in _named(c.get("volumeMounts")):
            mp = _s(vm.get("mountPath"))
            if mp in mounts:
                self.err(f"{path}.volumeMounts[{i}].mountPath", f"'{mp}' already mounted in {mounts[mp]}")
            mounts[mp] = f"volumeMounts.{vm.get('name')}"
        if kind == "container":
            for i, a in _named(_d(t.raw.get("inputs")).get("artifacts")):
                ap = _s(a.get("path"))
                if ap and ap in mounts:
                    self.err(f"{t.path}.inputs.artifacts[{i}].path", f"'{ap}' already mounted in {mounts[ap]}")
                mounts[ap] = f"inputs.artifacts.{a.get('name')}"

    def _retry_expression(self, path: str, text: str) -> None:
        """A retry expression Argo can evaluate (beyond argo lint, which does not parse it: an
        expression that fails at run time ends the node instead of retrying it)."""
        try:
            tree = parse_expr(_TAG.sub("0", text))  # tags are replaced before evaluation
        except ExprError as exc:
            self.err(path, f"invalid expression {text!r}: {exc}")
            return
        variables, functions = expr_names(tree)
        for name in sorted(variables - set(RETRY_VARIABLES)):
            self.err(path, f"{name} is not a variable of a retry expression ({', '.join(RETRY_VARIABLES)})")
        for name in sorted(functions - set(EXPR_FUNCTIONS)):
            self.err(path, f"function {name} is not one this checker knows ({', '.join(EXPR_FUNCTIONS)})")

    def _pod_volumes(self, t: _Tmpl) -> None:
        """Every volume mount names a volume of the template, of the workflow, or a volume
        claim template (the controller's addVolumeReferences: "volume '%s' not found in
        workflow spec"); environment variables and Secret references as the Kubernetes API
        validates them (IsEnvVarName, a Secret name is a DNS-1123 subdomain, IsConfigMapKey)."""
        raw, p = t.raw, t.path
        volumes = {_s(v.get("name")): v for _, v in _named(self.wfspec.get("volumes"))}
        volumes.update((_s(_d(c.get("metadata")).get("name")), c) for _, c in _named(self.wfspec.get("volumeClaimTemplates")))
        volumes.update((_s(v.get("name")), v) for _, v in _named(raw.get("volumes")))
        for i, v in _named(raw.get("volumes")):
            if "secret" in v:  # other volume kinds (persistentVolumeClaim, ...) name no Secret
                self._secret_name(f"{p}.volumes[{i}].secret.secretName", _d(v.get("secret")).get("secretName"))
        containers = [(f"{p}.{t.type}", _d(raw.get(t.type)))] if t.type in ("container", "script") else []
        containers += [(f"{p}.containerSet.containers[{i}]", c)
                       for i, c in _named(_d(raw.get("containerSet")).get("containers"))]
        containers += [(f"{p}.{key}[{i}]", c) for key in ("initContainers", "sidecars") for i, c in _named(raw.get(key))]
        for cp, c in containers:
            for i, vm in _named(c.get("volumeMounts")):
                name = _s(vm.get("name"))
                if name and "{{" not in name and name not in volumes:
                    self.err(f"{cp}.volumeMounts[{i}].name", f"volume '{name}' not found in workflow spec")
            for i, e in _named(c.get("env")):
                name = _s(e.get("name"))
                if name and "{{" not in name and not _ENV_VAR_NAME.match(name):
                    self.err(f"{cp}.env[{i}].name", f"{name!r}: a valid environment variable name must consist of "
                             "alphabetic characters, digits, '_', '-', or '.', and must not start with a digit")
                ref = _d(_d(e.get("valueFrom")).get("secretKeyRef"))
                if ref:
                    self._secret_name(f"{cp}.env[{i}].valueFrom.secretKeyRef.name", ref.get("name"))
                    key = _s(ref.get("key"))
                    if "{{" not in key and (not _CONFIG_MAP_KEY.match(key) or len(key) > 253):
                        self.err(f"{cp}.env[{i}].valueFrom.secretKeyRef.key", f"{key!r}: a valid config key must "
                                 "consist of alphanumeric characters, '-', '_' or '.'")

    def _secret_name(self, path: str, name: Any) -> None:
        name = _s(name)
        if "{{" in name:
            return
        if not name or len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
            self.err(path, f"{name!r}: a Secret name must be a lowercase RFC 1123 subdomain (at most 253 characters)")

    def _container_set(self, t: _Tmpl) -> None:
        cs = _d(t.raw.get("containerSet"))
        p = f"{t.path}.containerSet"
        containers = _named(cs.get("containers"))
        if not containers:
            self.err(f"{p}.containers", "containerSet needs at least one container")
        names: set[str] = set()
        for i, c in containers:
            name = _s(c.get("name"))
            if name in names:
                self.err(f"{p}.containers[{i}].name", f"container name '{name}' is not unique")
            names.add(name)
            if not c.get("image") and not _d(self.defaults.get("container")).get("image"):
                self.err(f"{p}.containers[{i}].image", "image may not be empty")
            self._resources(f"{p}.containers[{i}].resources", c.get("resources"))
        for i, c in containers:
            for j, dep in enumerate(_l(c.get("dependencies"))):
                if isinstance(dep, str) and dep not in names:
                    self.err(f"{p}.containers[{i}].dependencies[{j}]", f"container '{dep}' not found")
        inputs, outputs = _d(t.raw.get("inputs")), _d(t.raw.get("outputs"))
        if (_l(inputs.get("artifacts")) or _l(outputs.get("parameters")) or _l(outputs.get("artifacts"))) \
                and "main" not in names:
            self.err(f"{p}.containers", "containerSet must have a container named \"main\" for input or output")

    def _resource(self, t: _Tmpl) -> None:
        r = _d(t.raw.get("resource"))
        p = f"{t.path}.resource"
        action = r.get("action")
        if isinstance(action, str) and "{{" not in action and action not in _RESOURCE_ACTIONS:
            self.err(f"{p}.action", "resource.action must be one of: get, create, apply, delete, replace, patch")
        if action not in ("delete", "get"):
            manifest, mfrom = r.get("manifest"), r.get("manifestFrom")
            if not manifest and mfrom is None:
                self.err(p, "either resource.manifest or resource.manifestFrom must be specified")
            elif manifest and mfrom is not None:
                self.err(p, "shouldn't have both `manifest` and `manifestFrom` specified")
            if isinstance(manifest, str) and manifest:
                import yaml

                try:
                    list(yaml.safe_load_all(_TAG.sub("placeholder", manifest)))
                except yaml.YAMLError:
                    self.err(f"{p}.manifest", "resource.manifest must be a valid yaml")
            art = _s(_d(_d(mfrom).get("artifact")).get("name"))
            if art and art not in t.in_arts:
                self.err(f"{p}.manifestFrom.artifact.name", f"artifact {art} in `manifestFrom` refer to a non-exist artifact")

    def _pod_spec_patch(self, path: str, patch: Any) -> None:
        """Argo's field reference: "PodSpecPatch holds strategic merge patch to apply against the
        pod spec" (JSON or YAML text). Argo fails the pod when the text does not parse
        (util.ApplyPodSpecPatch: "invalid format") and silently drops keys a PodSpec does not
        have, so those are reported like unknown keys anywhere else. Literal hostname and
        subdomain must be DNS-1123 labels (Kubernetes ValidatePodSpec)."""
        import yaml

        if not isinstance(patch, str) or not patch.strip():
            return
        try:
            data = yaml.safe_load(_TAG.sub("placeholder", patch))
        except yaml.YAMLError:
            self.err(path, "podSpecPatch must be valid JSON or YAML")
            return
        if not isinstance(data, dict):
            self.err(path, "podSpecPatch must be an object (a patch of the pod spec)")
            return
        for key, value in data.items():
            if key not in _POD_SPEC_FIELDS:
                close = difflib.get_close_matches(str(key), _POD_SPEC_FIELDS, n=1, cutoff=0.75)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.err(_sub(path, str(key)), f"unknown pod spec field{hint}")
            elif key in ("hostname", "subdomain"):  # a templated value reads "placeholder" here
                if not isinstance(value, str) or len(value) > 63 or not _DNS1123_LABEL.match(value):
                    self.err(_sub(path, key), f"{key} {_short(value)} is not a DNS-1123 label (at most 63 "
                             "characters, lowercase alphanumerics or '-', starting and ending with an alphanumeric)")

    def _resources(self, path: str, res: Any) -> None:
        """Kubernetes ResourceRequirements validation (pod creation would reject these)."""
        res = _d(res)
        limits, requests = _d(res.get("limits")), _d(res.get("requests"))
        for part, values in (("limits", limits), ("requests", requests)):
            for name, q in values.items():
                v = _quantity_value(q)
                if v is not None and v < 0:
                    self.err(_sub(f"{path}.{part}", name), "must be greater than or equal to 0")
                if v is not None and _extended(name) and v.denominator != 1:
                    self.err(_sub(f"{path}.{part}", name), f"{name} must be a whole number (got {q!r})")
        for name, q in requests.items():
            rv = _quantity_value(q)
            if name in limits:
                lv = _quantity_value(limits[name])
                if rv is None or lv is None:
                    continue
                if _extended(name) and rv != lv:
                    self.err(_sub(f"{path}.requests", name), f"must be equal to {name} limit "
                             f"({limits[name]!r}); extended resources cannot be overcommitted")
                elif rv > lv:
                    self.err(_sub(f"{path}.requests", name), f"must be less than or equal to {name} limit "
                             f"({limits[name]!r})")
            elif _extended(name):
                self.err(f"{path}.limits", f"Limit must be set for non overcommitable resources: {name} is "
                         "requested but has no limit (GPUs go in resources.limits)")

    # ---- DAG ---------------------------------------------------------------------------------
    def _dag_tasks(self, t: _Tmpl) -> dict[str, dict]:
        tasks: dict[str, dict] = {}
        for _, task in _named(_d(t.raw.get("dag")).get("tasks")):
            name = task.get("name")
            if isinstance(name, str) and name not in tasks:
                tasks[name] = task
        return tasks

    def check_dag(self, t: _Tmpl) -> None:
        dag = _d(t.raw.get("dag"))
        dp = f"{t.path}.dag"
        tasks = _named(dag.get("tasks"))
        if not tasks:
            self.err(f"{dp}.tasks", f"template '{t.name}' must have at least one task")
            return
        by_name = self._dag_tasks(t)
        uses_depends = any(task.get("depends") for _, task in tasks)
        uses_edges = uses_depends or any(task.get("dependencies") for _, task in tasks)
        if uses_depends and any(task.get("dependencies") for _, task in tasks):
            self.err(dp, f"template '{t.name}' cannot use both 'depends' and 'dependencies' in the same DAG template")
        deps: dict[str, set[str]] = {}
        seen: set[str] = set()
        for i, task in tasks:
            tp = f"{dp}.tasks[{i}]"
            name = task.get("name")
            if not isinstance(name, str) or not name:
                self.err(f"{tp}.name", "task name is required")
                continue
            if self._field_name(f"{tp}.name", name, "task name") and uses_edges and name[0].isdigit():
                self.err(f"{tp}.name", f"task name '{name}' cannot begin with a digit when using either "
                         "'depends' or 'dependencies'")
            if name in seen:
                self.err(f"{tp}.name", f"task name '{name}' is not unique")
                continue
            seen.add(name)
            if uses_depends and task.get("continueOn") is not None:
                self.err(f"{tp}.continueOn", "cannot use 'continueOn' when using 'depends'. "
                         "Instead use 'dep-task.Failed'/'dep-task.Errored'")
            my_deps: set[str] = set()
            depends = task.get("depends")
            if isinstance(depends, str) and depends.strip():
                try:
                    refs = parse_depends(depends)
                except _DependsError as exc:
                    self.err(f"{tp}.depends", f"invalid depends expression {depends!r}: {exc}")
                    refs = []
                for dep, result in refs:
                    if dep not in by_name:
                        self.err(f"{tp}.depends", f"dependency '{dep}' not defined{_close(dep, by_name)}")
                        continue
                    my_deps.add(dep)
                    if result in _ITEM_RESULTS and _loop_kind(by_name[dep]) is None:
                        self.err(f"{tp}.depends", f"dependency '{dep}' uses an items-based condition such as "
                                 ".AnySucceeded or .AllFailed but does not contain any items")
            for j, dep in enumerate(_l(task.get("dependencies"))):
                if not isinstance(dep, str):
                    continue
                if dep not in by_name:
                    self.err(f"{tp}.dependencies[{j}]", f"dependency '{dep}' not defined{_close(dep, by_name)}")
                else:
                    my_deps.add(dep)
            deps[name] = my_deps
        cyclic = self._cycle(f"{dp}.tasks", deps)
        target = dag.get("target")
        if isinstance(target, str) and target:
            for name in target.split(" "):
                if name and not _IS_PARAMETER.search(name) and name not in by_name:
                    self.err(f"{dp}.target", f"target '{name}' is not defined")
        ancestry = None if cyclic else _Ancestry(deps)

        for i, task in tasks:
            name = task.get("name")
            if not isinstance(name, str) or not name:
                continue
            tp = f"{dp}.tasks[{i}]"
            self._check_invocation(tp, task, f"task '{name}'")
            scope = _Scope(t)
            scope.set_task(task, name)
            scope.dag_tasks = by_name
            scope.ancestry = ancestry
            for key, value in task.items():
                if isinstance(value, (dict, list, str)):
                    scope.in_hooks = key in ("hooks", "onExit")
                    for path, tag in _iter_tags(value, f"{tp}.{key}"):
                        self._check_tag(path, tag, scope)

    def _cycle(self, path: str, deps: dict[str, set[str]]) -> bool:
        """Kahn's algorithm; report one cycle if any. Returns True when cyclic."""
        indeg = {n: len(d) for n, d in deps.items()}
        users: dict[str, list[str]] = {n: [] for n in deps}
        for n, ds in deps.items():
            for d in ds:
                users.setdefault(d, []).append(n)
        ready = [n for n, k in indeg.items() if k == 0]
        done = 0
        while ready:
            n = ready.pop()
            done += 1
            for u in users.get(n, ()):
                indeg[u] -= 1
                if indeg[u] == 0:
                    ready.append(u)
        if done == len(deps):
            return False
        left = {n for n, k in indeg.items() if k > 0}
        start = min(left)
        chain, index = [start], {start: 0}
        node = start
        while True:
            node = min(d for d in deps[node] if d in left)
            if node in index:
                cycle = chain[index[node]:] + [node]
                break
            index[node] = len(chain)
            chain.append(node)
        self.err(path, f"dependency cycle detected: {'->'.join(cycle)}")
        return True

    # ---- steps -------------------------------------------------------------------------------
    def _all_steps(self, t: _Tmpl) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for group in _l(t.raw.get("steps")):
            for step in _l(group):
                if isinstance(step, dict) and isinstance(step.get("name"), str):
                    out.setdefault(step["name"], step)
        return out

    def check_steps(self, t: _Tmpl) -> None:
        sp = f"{t.path}.steps"
        seen: set[str] = set()
        before: dict[str, dict] = {}
        all_steps = self._all_steps(t)
        for gi, group in enumerate(_l(t.raw.get("steps"))):
            current: dict[str, dict] = {}
            for si, step in enumerate(_l(group)):
                if not isinstance(step, dict):
                    continue
                stp = f"{sp}[{gi}][{si}]"
                name = step.get("name")
                if not isinstance(name, str) or not name:
                    self.err(f"{stp}.name", "step name is required")
                    continue
                if name in seen:
                    self.err(f"{stp}.name", f"step name '{name}' is not unique")
                else:
                    self._field_name(f"{stp}.name", name, "step name")
                seen.add(name)
                current.setdefault(name, step)
                self._check_invocation(stp, step, f"step '{name}'")
                scope = _Scope(t)
                scope.set_task(step, name)
                scope.steps_before, scope.step_tasks = before, all_steps
                for key, value in step.items():
                    if isinstance(value, (dict, list, str)):
                        scope.in_hooks = key in ("hooks", "onExit")
                        for path, tag in _iter_tags(value, f"{stp}.{key}"):
                            self._check_tag(path, tag, scope)
            before = {**before, **current}

    # ---- a task or step calling a template -----------------------------------------------
    def _check_invocation(self, path: str, task: dict, who: str) -> None:
        loops = [k for k in ("withItems", "withParam", "withSequence")
                 if (task.get(k) if k != "withSequence" else task.get(k) is not None)]
        if len(loops) > 1:
            self.err(path, f"{who}: only one of withItems, withParam, withSequence can be specified")
        seq = _d(task.get("withSequence"))
        if seq.get("count") is not None and seq.get("end") is not None:
            self.err(f"{path}.withSequence", "only one of count or end can be defined in withSequence")
        self._hooks(f"{path}.hooks", task.get("hooks"))
        on_exit = task.get("onExit")
        if isinstance(on_exit, str) and on_exit and on_exit not in self.by_name:
            self.err(f"{path}.onExit", f"template name '{on_exit}' undefined{self._suggest(on_exit)}")

        args = _d(task.get("arguments"))
        self._names(f"{path}.arguments.parameters", args.get("parameters"), param=True)
        self._names(f"{path}.arguments.artifacts", args.get("artifacts"), param=True)
        for i, prm in _named(args.get("parameters")):
            pp = f"{path}.arguments.parameters[{i}]"
            vf = prm.get("valueFrom")
            if vf is None and prm.get("value") is None:
                self.err(pp, f"argument '{prm.get('name')}': value or valueFrom is required")
            if vf is not None:
                vf = _d(vf)
                if not (vf.get("configMapKeyRef") or vf.get("event") or vf.get("supplied") is not None) or \
                        any(vf.get(k) for k in ("path", "jsonPath", "parameter", "expression")):
                    self.err(f"{pp}.valueFrom", "valueFrom only allows: default, configMapKeyRef and supplied")
            self._enum_check(pp, prm)
        for i, art in _named(args.get("artifacts")):
            ap = f"{path}.arguments.artifacts[{i}]"
            has_loc = any(art.get(k) is not None for k in _ARTIFACT_LOCATIONS)
            if not art.get("from") and not art.get("fromExpression") and not has_loc:
                self.err(ap, f"argument artifact '{art.get('name')}': from, artifact location, or key is required")
            if art.get("from") and art.get("fromExpression"):
                self.err(ap, "shouldn't have both `from` and `fromExpression` in Artifact")

        tname, tref, inline = task.get("template"), task.get("templateRef"), task.get("inline")
        given = [k for k, v in (("template", tname), ("templateRef", tref), ("inline", inline)) if v]
        if len(given) > 1:
            self.err(path, f"{who}: only one of template, templateRef or inline may be given ({', '.join(given)})")
            return
        if not given:
            self.err(path, f"{who}: one of template, templateRef or inline is required")
            return
        if tref is not None:
            ref = _d(tref)
            if not ref.get("name"):
                self.err(f"{path}.templateRef.name", "resource name is required")
            if not ref.get("template"):
                self.err(f"{path}.templateRef.template", "template name is required")
            return  # lives in another WorkflowTemplate: nothing more to check offline
        if inline is not None:
            return
        if not isinstance(tname, str):
            return
        target = self.by_name.get(tname)
        if target is None:
            if "{{" not in tname:
                self.err(f"{path}.template", f"template name '{tname}' undefined{self._suggest(tname)}")
            return
        self._check_call_args(path, target, args, caller=who, values_required=True)

    def _check_call_args(self, path: str, target: _Tmpl, args: dict | None, caller: str,
                         values_required: bool) -> None:
        """Arguments given by a caller against the inputs of the template it calls.

        ``args`` None means "anything may be supplied later" (WorkflowTemplate entrypoint)."""
        if args is None:
            return
        given_params = {_s(p.get("name")): p for _, p in _named(args.get("parameters"))}
        given_arts = {_s(a.get("name")): a for _, a in _named(args.get("artifacts"))}
        is_spec = caller == "spec.arguments"
        if not is_spec:  # spec.arguments may hold parameters used only through {{workflow.parameters}}
            for i, p in _named(args.get("parameters")):
                name = _s(p.get("name"))
                if name and name not in target.in_params:
                    self.err(f"{path}.arguments.parameters[{i}].name", f"argument parameter '{name}' is not an "
                             f"input of template '{target.name}'{_close(name, target.in_params)}")
            for i, a in _named(args.get("artifacts")):
                name = _s(a.get("name"))
                if name and name not in target.in_arts:
                    self.err(f"{path}.arguments.artifacts[{i}].name", f"argument artifact '{name}' is not an "
                             f"input of template '{target.name}'{_close(name, target.in_arts)}")
        for name, p in target.in_params.items():
            if not name or p.get("value") is not None or p.get("default") is not None or p.get("valueFrom") is not None:
                continue
            arg = given_params.get(name)
            if arg is None or (values_required and arg.get("value") is None and arg.get("valueFrom") is None):
                where = "spec.arguments.parameters" if is_spec else "arguments.parameters"
                self.err(path, f"inputs.parameters.{name} was not supplied: template '{target.name}' needs it "
                         f"and {caller} does not pass it in {where}")
        for name, a in target.in_arts.items():
            if not name or a.get("optional") is True or a.get("from") or \
                    any(a.get(k) is not None for k in _ARTIFACT_LOCATIONS):
                continue
            if name not in given_arts:
                where = "spec.arguments.artifacts" if is_spec else "arguments.artifacts"
                self.err(path, f"inputs.artifacts.{name} was not supplied: template '{target.name}' needs it "
                         f"and {caller} does not pass it in {where}")

    # ---- {{variables}} -----------------------------------------------------------------------
    def _workflow_var(self, tag: str) -> str | None:
        rest = tag[len("workflow."):]
        if rest in _WORKFLOW_VARS or rest.startswith(_WORKFLOW_VAR_PREFIXES):
            return None
        if rest in ("parameters", "parameters.json"):
            return None if self.wf_params else f"failed to resolve {{{{{tag}}}}}: spec.arguments.parameters is empty"
        if rest.startswith("parameters."):
            name = rest[len("parameters."):]
            if name in self.wf_params:
                return None
            return (f"failed to resolve {{{{{tag}}}}}: no parameter '{name}' in "
                    f"{self.spec_path}.arguments.parameters{_close(name, self.wf_params)}")
        if rest.startswith("outputs.parameters."):
            name = rest[len("outputs.parameters."):]
            if name in self.global_out_params or self.any_global_param:
                return None
            return f"failed to resolve {{{{{tag}}}}}: no output parameter has globalName '{name}'"
        if rest.startswith("outputs.artifacts."):
            name = rest[len("outputs.artifacts."):]
            if name in self.global_out_arts or self.any_global_art:
                return None
            return f"failed to resolve {{{{{tag}}}}}: no output artifact has globalName '{name}'"
        if rest.startswith("labels."):
            name = rest[len("labels."):]
            if name in self.wf_labels or name.startswith("workflows.argoproj.io/") or self.kind != "Workflow":
                return None
            return f"failed to resolve {{{{{tag}}}}}: no label '{name}' in metadata or workflowMetadata"
        if rest.startswith("annotations."):
            name = rest[len("annotations."):]
            if name in self.wf_annotations or name.startswith("workflows.argoproj.io/") or self.kind != "Workflow":
                return None
            return f"failed to resolve {{{{{tag}}}}}: no annotation '{name}' in metadata or workflowMetadata"
        return f"failed to resolve {{{{{tag}}}}}: unknown workflow variable"

    def _check_tag(self, path: Any, tag: str, scope: _Scope) -> None:
        if not tag or tag.startswith("="):
            return  # expression tags are evaluated at run time
        if tag == "item" or tag.startswith("item."):
            problem = self._item_var(tag, scope)
        elif not tag.startswith(_VAR_PREFIXES):
            return  # not an Argo variable (Argo leaves it alone too)
        elif tag.startswith("inputs."):
            problem = self._inputs_var(tag, scope.tmpl, scope.inline_inputs)
        elif tag.startswith("workflow."):
            problem = self._workflow_var(tag)
        elif tag.startswith("tasks."):
            problem = self._tasks_var(tag, scope)
        elif tag.startswith("steps."):
            problem = self._steps_var(tag, scope)
        elif tag.startswith("pod."):
            problem = None
            if tag != "pod.name":
                problem = f"failed to resolve {{{{{tag}}}}}: unknown pod variable (only pod.name exists)"
            elif not scope.tmpl.leaf:
                problem = f"failed to resolve {{{{{tag}}}}}: pod.name is only defined in pod templates"
        else:  # outputs.*: self reference, allowed
            problem = None
        if problem:
            self.err(path, problem)

    def _inputs_var(self, tag: str, t: _Tmpl, inline_inputs: set[str]) -> str | None:
        rest = tag[len("inputs."):]
        if rest == "parameters":
            return None if t.in_params or inline_inputs else \
                f"failed to resolve {{{{{tag}}}}}: template '{t.name}' has no input parameters"
        if rest.startswith("parameters."):
            name = rest[len("parameters."):]
            if name in t.in_params or name in inline_inputs:
                return None
            return (f"failed to resolve {{{{{tag}}}}}: template '{t.name}' has no input parameter "
                    f"'{name}'{_close(name, t.in_params)}")
        if rest.startswith("artifacts."):
            name = rest[len("artifacts."):]
            if name.endswith(".path") and name[:-5] in t.in_arts:
                return None
            if name in t.in_arts:
                return None
            return (f"failed to resolve {{{{{tag}}}}}: template '{t.name}' has no input artifact "
                    f"'{name}'{_close(name, t.in_arts)}")
        return f"failed to resolve {{{{{tag}}}}}: unknown inputs variable"

    def _item_var(self, tag: str, scope: _Scope) -> str | None:
        task = scope.task
        kind = _loop_kind(task) if task is not None else None
        if kind is None:
            return (f"failed to resolve {{{{{tag}}}}}: item variables only exist in a task or step with "
                    "withItems, withParam or withSequence")
        if tag == "item" or kind == "param":
            return None
        if kind == "sequence":
            return f"failed to resolve {{{{{tag}}}}}: withSequence items are plain numbers; use {{{{item}}}}"
        key = tag[len("item."):]
        keys: set[str] = set()
        for value in _l(task.get("withItems")):
            if isinstance(value, dict):
                keys |= {str(k) for k in value}
            elif isinstance(value, list):
                keys |= {f"[{i}]" for i in range(len(value))}
        if key in keys:
            return None
        return f"failed to resolve {{{{{tag}}}}}: no withItems entry has key '{key}'"

    def _node_ref(self, tag: str, kind: str, name: str, rest: str, node: dict, looped: bool) -> str | None:
        """Check the part after tasks.<name>. / steps.<name>. against the called template."""
        target = self.by_name.get(_s(node.get("template"))) if node.get("template") else None
        if rest in ("id", "startedAt", "finishedAt", "hostNodeName", "status"):
            return None
        if target is None:  # templateRef / inline: cannot see its outputs offline
            return None if (rest in _NODE_ATTRS or rest.startswith("outputs.")) else \
                f"failed to resolve {{{{{tag}}}}}: unknown {kind} attribute '{rest}'"
        if rest == "ip":
            if target.daemon:
                return None
            return f"failed to resolve {{{{{tag}}}}}: template '{target.name}' is not a daemon (daemon: true), so it has no ip"
        if rest in ("outputs.result", "exitCode"):
            if _has_output(target.raw):
                return None
            return f"failed to resolve {{{{{tag}}}}}: a {target.type} template has no outputs.result/exitCode"
        if rest == "outputs.parameters":
            if looped:
                return None
            return f"failed to resolve {{{{{tag}}}}}: aggregated outputs.parameters only exist for looped {kind}"
        if rest.startswith("outputs.parameters."):
            pname = rest[len("outputs.parameters."):]
            if pname in target.out_params:
                return None
            return (f"failed to resolve {{{{{tag}}}}}: template '{target.name}' declares no output parameter "
                    f"'{pname}'{_close(pname, target.out_params)}")
        if rest.startswith("outputs.artifacts."):
            aname = rest[len("outputs.artifacts."):]
            if aname not in target.out_arts:
                return (f"failed to resolve {{{{{tag}}}}}: template '{target.name}' declares no output artifact "
                        f"'{aname}'{_close(aname, target.out_arts)}")
            if looped:
                return (f"{{{{{tag}}}}}: output artifacts are not aggregated across a loop ('{name}' is looped); "
                        "write under a shared key prefix and read the prefix instead")
            return None
        return f"failed to resolve {{{{{tag}}}}}: unknown {kind} attribute '{rest}'"

    def _tasks_var(self, tag: str, scope: _Scope) -> str | None:
        if tag == "tasks.name":
            return None
        if scope.dag_tasks is None:
            return f"failed to resolve {{{{{tag}}}}}: tasks.* variables only exist inside a DAG template"
        name, _, rest = tag[len("tasks."):].partition(".")
        task = scope.dag_tasks.get(name)
        if task is None:
            return (f"failed to resolve {{{{{tag}}}}}: DAG template '{scope.tmpl.name}' has no task "
                    f"'{name}'{_close(name, scope.dag_tasks)}")
        if scope.task is not None:
            if name == scope.task_name:
                if not scope.in_hooks:
                    return f"failed to resolve {{{{{tag}}}}}: a task cannot reference itself"
            elif scope.ancestry is not None and not scope.ancestry.is_ancestor(name, scope.task_name):
                return (f"failed to resolve {{{{{tag}}}}}: task '{name}' is not an ancestor of task "
                        f"'{scope.task_name}' (add it to depends)")
        return self._node_ref(tag, "tasks", name, rest, task, _loop_kind(task) is not None)

    def _steps_var(self, tag: str, scope: _Scope) -> str | None:
        if tag == "steps.name":
            return None
        if scope.steps_before is None:
            return f"failed to resolve {{{{{tag}}}}}: steps.* variables only exist inside a steps template"
        name, _, rest = tag[len("steps."):].partition(".")
        step = scope.steps_before.get(name)
        if step is None:
            if scope.step_tasks and name in scope.step_tasks:
                if name == scope.task_name and scope.in_hooks:
                    return None
                return (f"failed to resolve {{{{{tag}}}}}: step '{name}' does not run in an earlier step group "
                        f"than step '{scope.task_name}'")
            return (f"failed to resolve {{{{{tag}}}}}: steps template '{scope.tmpl.name}' has no step "
                    f"'{name}'{_close(name, scope.step_tasks or {})}")
        return self._node_ref(tag, "steps", name, rest, step, _loop_kind(step) is not None)


def _close(name: str, options: Any) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _extended(resource: str) -> bool:
    """Extended resources (nvidia.com/gpu, ...) may not be overcommitted: Kubernetes IsExtendedResourceName."""
    if resource.startswith("hugepages-"):
        return True
    return "/" in resource and not resource.startswith(("kubernetes.io/", "requests."))


def _valid_int_or_var(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    if isinstance(value, str):
        if "{{" in value:
            return True
        return bool(re.fullmatch(r"[0-9]+", value))
    return False


class _Ancestry:
    """Ancestor relation of an acyclic DAG as bitsets, built once in topological order."""

    __slots__ = ("bit", "masks")

    def __init__(self, deps: dict[str, set[str]]) -> None:
        self.bit = {n: 1 << i for i, n in enumerate(deps)}
        self.masks: dict[str, int] = {}
        indeg = {n: len(d) for n, d in deps.items()}
        users: dict[str, list[str]] = {n: [] for n in deps}
        for n, ds in deps.items():
            for d in ds:
                users[d].append(n)
        ready = [n for n in deps if indeg[n] == 0]
        while ready:
            n = ready.pop()
            mask = 0
            for d in deps[n]:
                mask |= self.masks[d] | self.bit[d]
            self.masks[n] = mask
            for u in users[n]:
                indeg[u] -= 1
                if indeg[u] == 0:
                    ready.append(u)

    def is_ancestor(self, name: str, of: str) -> bool:
        return bool(self.masks.get(of, 0) & self.bit.get(name, 0))


# ---------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------


def check_manifest(doc: Any, *, require_template_entrypoint: bool = True) -> list[str]:
    """Every problem found in one Argo manifest (an empty list means valid).

    ``doc`` is one parsed YAML document of kind Workflow, WorkflowTemplate,
    ClusterWorkflowTemplate or CronWorkflow.  Argo itself lets a WorkflowTemplate omit
    ``spec.entrypoint``; pass ``require_template_entrypoint=False`` to allow that.
    """
    if not isinstance(doc, dict):
        return [f"<document>: expected a mapping, got {_type_name(doc)}"]
    problems: list[str] = []
    api, kind = doc.get("apiVersion"), doc.get("kind")
    if api != API_VERSION:
        problems.append(f"apiVersion: expected {API_VERSION!r}, got {api!r}")
    model = KIND_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        problems.append(f"kind: expected one of {', '.join(KIND_MODELS)}, got {kind!r}")
    else:
        _walk(doc, (_MODEL, model), None, problems)
        problems.extend(_Linter(doc, require_template_entrypoint).run())
    size = len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8"))
    if size > MAX_OBJECT_BYTES:
        problems.append(f"<document>: serialized size {size} bytes exceeds the 1 MiB ({MAX_OBJECT_BYTES} bytes) "
                        "Kubernetes object limit (etcdserver: request is too large)")
    return list(dict.fromkeys(problems))  # de-duplicate, keep order


def check_yaml(text: str, *, require_template_entrypoint: bool = True) -> list[str]:
    """Check every document of a YAML stream; also report duplicate keys (argo lint --strict does)."""
    import yaml

    problems: list[str] = []

    class _Loader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        loader.flatten_mapping(node)
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                problems.append(f"line {key_node.start_mark.line + 1}: duplicate key {key!r} "
                                f"(first at line {seen[key].start_mark.line + 1})")
            else:
                seen[key] = key_node
        return loader.construct_mapping(node, deep=True)

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    try:
        docs = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.YAMLError as exc:
        return problems + [f"<yaml>: {exc}"]
    for i, doc in enumerate(docs):
        prefix = f"document {i}: " if len(docs) > 1 else ""
        problems.extend(prefix + p for p in check_manifest(doc, require_template_entrypoint=require_template_entrypoint))
    return problems
