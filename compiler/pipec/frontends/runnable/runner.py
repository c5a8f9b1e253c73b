"""pipec's task runner for runnable pipelines: runs ONE task of a runnable `dag:` inside a job.

pipec copies this file verbatim into every job it compiles from a runnable pipeline. It is
stdlib-only Python (>= 3.8) and does what runnable's own executor does for a task
(runnable/tasks.py, runnable/parameters.py, extensions/nodes/*.py at a5979276), under
pipec's runtime contract:

  cwd                  the project directory (the user's code)
  RUNNABLE_PIPEC_TASK  JSON: step, kind (python|shell|notebook|reduce|fail), command, seq,
                       returns [{name, kind}], states, gate, handled, attempts, constants,
                       decode, objects, catalog, parts, reduce, ploomber
  PIPEC_CONFIG_DIR     holds parameters.json: the initial parameters (submit-time values)
  PIPEC_INPUTS_DIR     the input slots pipec staged (earlier jobs' states, catalog, objects)
  PIPEC_OUTPUTS_DIR    the task's working directory; what is left there is the step's output

The run's state. Every job writes .pipec-state/state.json in its outputs: every parameter
as [number, value, job] (the number of the job that produced it: later jobs have higher
numbers, initial parameters 0), the flags failures raised, and the job's status (ok, failed:
a failure a step's `on_failure` takes, skipped: the job did not run). A job reads the states
of the jobs before it (`states`, staged by pipec, in the order the pipeline joins them) and
merges them: per name the highest number wins, the later state on a tie. Whether it runs:
a job with earlier states runs when one of them leads here (a `next` state whose job
succeeded and raised none of `unless`, or a `failure` state when its `flag` was raised);
its `gate` (a conditional's first jobs: the parameter's text equals the branch's key; a
loop's later iterations: `break_on` is still false) must hold too. A job that does not run
ends successfully, marked skipped, and passes the merged state on.

On success the last line of stdout is the JSON object {return name: value} (the job's
metadata in pipec's terms). A failure that `handled` flags take ends the job successfully
with status failed; any other: `pipec: step '<step>': <why>` on stderr, and exit 1.
"""

from __future__ import annotations

import argparse
import glob
import importlib
import inspect
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import traceback
import typing

OBJECTS_DIR = ".pipec-objects"  # `object` returns, pickled, below the outputs directory
STATE_DIR = ".pipec-state"  # below the outputs directory: state.json, the run's state after this job
TASK_VAR = "RUNNABLE_PIPEC_TASK"
# What every state this job writes also records: its copy's constants (a flatten job passes an
# outer item's to its pairs) and, for a pair of a nested map, its outer item's index.
STATE_EXTRA: dict = {}
RETURNS_TAG = "pipec-returns"  # the cell added to a notebook to hand its returns back (papermill)
# Set before the user's script so its exported variables are collected even after `exit 0`
# (runnable appends `&& env`, which `exit` skips); the script's exit status is kept. It sits on
# the script's first line so bash's line numbers in error messages match the user's script.
SHELL_TRAP = "trap '__pipec_status=$?; env -0 >\"$PIPEC_ENV_DUMP\"; exit \"$__pipec_status\"' EXIT; "


class StepError(Exception):
    """A failure explained in one line (the task's setup, not the user's code)."""


class UserCodeError(Exception):
    """The user's code failed; its traceback is already on stderr."""


class Handled(Exception):
    """The task failed and a step's `on_failure` takes over: the job ends successfully."""


def main() -> int:
    step = "runnable task"
    try:
        task = json.loads(os.environ.get(TASK_VAR) or "null")
        if not isinstance(task, dict):
            raise StepError("%s is not set to the task's JSON description" % TASK_VAR)
        step = str(task.get("step") or task.get("command") or step)
        metadata = run(task, step)
    except Handled as exc:
        print("pipec: step '%s': %s; on_failure takes over" % (step, exc), file=sys.stderr, flush=True)
        return 0
    except (StepError, UserCodeError) as exc:
        return fail(step, str(exc))
    except Exception:  # a bug here, not in the user's code: keep the evidence
        traceback.print_exc()
        return fail(step, "internal error in pipec's task runner (traceback above)")
    line = json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))
    try:
        data = line.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates are not UTF-8; \u escapes carry them
        data = json.dumps(metadata, separators=(",", ":")).encode("ascii")
    # User output that did not end its line would swallow the metadata: always start a line.
    sys.stdout.flush()
    sys.__stdout__.buffer.write(b"\n" + data + b"\n")
    sys.__stdout__.flush()
    return 0


def fail(step: str, message: str) -> int:
    sys.stdout.flush()
    print("pipec: step '%s': %s" % (step, message), file=sys.stderr, flush=True)
    return 1


def user_failed(exc: BaseException, message: str) -> UserCodeError:
    # Drop the runner's own frame: the traceback starts in the user's code.
    traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
    return UserCodeError(message)


def run(task: dict, step: str) -> dict:
    project = os.getcwd()
    outputs = os.path.join(project, require_env("PIPEC_OUTPUTS_DIR"))
    config = os.path.join(project, require_env("PIPEC_CONFIG_DIR"))
    # The project's modules must import, here (object parameters unpickle classes of it) and in
    # child processes (a notebook kernel, python called from a shell task): runnable puts the
    # working directory first on sys.path.
    sys.path.insert(0, project)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (project, os.environ.get("PYTHONPATH")) if p)
    os.makedirs(outputs, exist_ok=True)
    initial = initial_values(task, config)
    constants = task.setdefault("constants", {})
    outer = None
    item = task.get("item")
    if item:  # run once per item of a map: the item is this copy's, not an initial parameter
        value = initial.pop(item, [0, None, ""])[1]
        if task.get("nested") and isinstance(value, dict):  # a row of a flatten job: an outer item's pair
            constants.update(value.get("constants") or {})
            outer = int(value.get("outer") or 0)
            value = value.get("item")
        constants[item] = value
    STATE_EXTRA.update({"constants": constants, **({"outer": outer} if outer is not None else {})})
    states = read_states(task, project, outer)
    values, flags = merge(initial, states)
    kind = task.get("kind") or "python"
    if not runs(task, states, flags, visible(values, constants), step):
        write_state(outputs, "skipped", values, flags)
        return {"items": []} if kind in ("items", "flatten") else {}
    if kind == "flatten":
        write_state(outputs, "ok", values, flags)
        return {"items": pairs(task, states)}
    if kind == "items":
        name = str(task.get("parameter"))
        seen = visible(values, constants)
        if name not in seen:
            raise failure(task, outputs, values, flags, "the map iterates on '%s', which no initial parameter and "
                                                        "no earlier step's return provides" % name)
        items = seen[name]
        if not isinstance(items, list):
            raise failure(task, outputs, values, flags, "the map iterates on '%s', which is %s, not a list (runnable: "
                                                        "Only list is allowed as a valid iterator type)"
                          % (name, type(items).__name__))
        write_state(outputs, "ok", values, flags)
        return {"items": items}
    if kind == "reduce":
        values = reduce_branches(task, states, values)
        write_state(outputs, "ok", values, flags)
        return {}
    if kind == "fail":
        raise failure(task, outputs, values, flags, str(task.get("message") or "the pipeline reached fail"))

    returns = [(str(r["name"]), str(r.get("kind") or "json")) for r in task.get("returns") or []]
    params, objects = parameters(task, values, project)
    get_catalog(task.get("catalog") or [], project, outputs)
    os.chdir(outputs)
    for pattern in task.get("gets") or []:
        if not glob.glob(pattern, recursive=True):  # runnable's catalog: "Did not find any files matching"
            raise failure(task, outputs, values, flags, "catalog get %r: no earlier step put a file it matches"
                          % pattern)
    for name in task.get("env") or []:  # a loop's index: runnable sets it as an environment variable
        value = params.get(name)
        os.environ[name] = value if isinstance(value, str) else json.dumps(value)
    attempts = max(int(task.get("attempts") or 1), 1)
    for attempt in range(1, attempts + 1):
        try:
            produced = run_task(kind, task, params, objects, returns, project, outputs, step)
            break
        except (StepError, UserCodeError) as exc:
            if attempt < attempts:
                print("pipec: step '%s': attempt %d of %d failed (%s); retrying" % (step, attempt, attempts, exc),
                      file=sys.stderr, flush=True)
                continue
            raise failure(task, outputs, values, flags, str(exc))
    metadata = to_metadata(returns, produced, outputs, str(task.get("step") or ""))
    seq = int(task.get("seq") or 0)
    job = str(task.get("step") or "")
    for name, kind_ in returns:
        if name in metadata:
            value = {"pipec_object": name, "job": job, "execution": execution()} if kind_ == "object" \
                else metadata[name]
            values[name] = [seq, value, job]
    write_state(outputs, "ok", values, flags)
    return metadata


def get_catalog(catalog, project: str, outputs: str) -> None:
    """Copy the files earlier steps put into the working directory, oldest step first: the
    newest copy of a name keeps the name (as in runnable's catalog), and an older copy is kept
    beside it as <stem>.<step>.<ext>, so no file is lost (branches that put the same name)."""
    owner: dict = {}  # relative path -> the step whose copy is there
    for entry in [catalog] if isinstance(catalog, str) else catalog:
        slot, job = (entry.get("slot"), entry.get("job") or "") if isinstance(entry, dict) else (entry, "")
        source = input_dir(project, slot)
        if not os.path.isdir(source):  # an upstream `put` that matched no file leaves nothing to copy
            continue
        for root, _, names in os.walk(source):
            for name in sorted(names):
                rel = os.path.relpath(os.path.join(root, name), source)
                dst = os.path.join(outputs, rel)
                if rel in owner and os.path.exists(dst):
                    os.replace(dst, tagged(dst, owner[rel]))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy2(os.path.join(root, name), dst)
                owner[rel] = job


def tagged(path: str, job: str) -> str:
    """path with the step's name before its extension (a free name)."""
    tag = "".join(c if c.isalnum() or c in "-_" else "-" for c in job) or "earlier"
    base, ext = os.path.splitext(path)
    candidate, n = "%s.%s%s" % (base, tag, ext), 2
    while os.path.exists(candidate):
        candidate, n = "%s.%s-%d%s" % (base, tag, n, ext), n + 1
    return candidate


def run_task(kind: str, task: dict, params: dict, objects: set, returns: list, project: str, outputs: str,
             step: str) -> dict:
    if kind == "python":
        return run_python(str(task.get("command") or ""), params, objects, returns)
    if kind == "shell":
        return run_shell(str(task.get("command") or ""), params, objects, returns, project, step)
    if kind == "notebook":
        return run_notebook(task, params, objects, returns, project, outputs, step)
    raise StepError("unknown task kind %r (expected python, shell or notebook)" % (kind,))


def failure(task: dict, outputs: str, values: dict, flags: list, message: str) -> Exception:
    """A failed step: taken by `on_failure` (the state records it and the job succeeds), or
    the job's failure."""
    handled = [str(f) for f in task.get("handled") or []]
    if not handled:
        return StepError(message)
    write_state(outputs, "failed", values, sorted(set(flags) | set(handled)))
    return Handled(message)


# --- the run's state ----------------------------------------------------------------------------


def initial_values(task: dict, config: str) -> dict:
    """parameters.json (the initial parameters, as submitted) as state values, JSON text decoded."""
    params: dict = {}
    path = os.path.join(config, "parameters.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            params = json.load(fh)
        if not isinstance(params, dict):
            raise StepError("%s does not hold a JSON object" % path)
    for name in task.get("decode") or []:
        if isinstance(params.get(name), str):
            try:
                params[name] = json.loads(params[name])
            except ValueError:
                pass  # plain text stays text, as runnable does with a RUNNABLE_PRM_ value
    return {name: [0, value, ""] for name, value in params.items()}


def execution() -> int:
    """Which execution of its job this is (a map's item, when the engine fans the job out)."""
    return int(os.environ.get("PIPEC_EXECUTION") or 0)


def pairs(task: dict, states: list) -> list:
    """A flatten job's list (a map inside a map, both over run-time lists): one row per inner
    item of every outer item, in order, with the outer item's index and constants."""
    name = str(task.get("parameter"))
    rows = []
    for _, state in states:  # the inner fan-out job's states, one per outer item, in order
        if state.get("status") != "ok":
            continue
        items = visible(state.get("values") or {}, state.get("constants") or {}).get(name)
        if not isinstance(items, list):
            raise StepError("the map iterates on '%s', which is %s for outer item %s, not a list"
                            % (name, type(items).__name__, state.get("execution")))
        rows.extend({"outer": int(state.get("execution") or 0), "inner": j, "item": value,
                     "constants": state.get("constants") or {}} for j, value in enumerate(items))
    return rows


def read_states(task: dict, project: str, outer=None) -> list:
    """The states of the earlier jobs, in the order `states` lists their slots; a job that ran
    once per item (a fan-out) gives one state per item, in item order, or, when the edge is
    `aligned`, only this item's ("same"), this pair's outer item's ("outer"), or this outer
    item's pairs' ("rows")."""
    found = []
    for entry in task.get("states") or []:
        directory = os.path.join(input_dir(project, str(entry["slot"])), STATE_DIR)
        files = sorted(f for f in (os.listdir(directory) if os.path.isdir(directory) else [])
                       if f.startswith("state") and f.endswith(".json"))
        loaded = []
        for name in files:
            with open(os.path.join(directory, name), encoding="utf-8") as fh:
                loaded.append(json.load(fh))
        mode = entry.get("aligned")
        if mode in (True, "same"):
            loaded = [state for state in loaded if int(state.get("execution") or 0) == execution()]
        elif mode == "outer":
            loaded = [state for state in loaded if int(state.get("execution") or 0) == outer]
        elif mode == "rows":
            loaded = [state for state in loaded if state.get("outer") == execution()]
        if not loaded and not entry.get("optional"):
            raise StepError("the state of an earlier job was not staged into %s" % directory)
        for state in sorted(loaded, key=lambda s: int(s.get("execution") or 0)):
            found.append((entry, state))
    return found


def merge(values: dict, states: list) -> tuple:
    """Per name the value with the highest number (the later state on a tie); flags joined."""
    out = dict(values)
    flags = set()
    for _, state in states:
        for name, entry in (state.get("values") or {}).items():
            if name not in out or entry[0] >= out[name][0]:
                out[name] = entry
        flags.update(state.get("flags") or [])
    return out, sorted(flags)


def runs(task: dict, states: list, flags: list, values: dict, step: str) -> bool:
    """Whether the step runs: an earlier state leads here, and the gate holds (`values`: what
    the task would see, name -> value)."""
    if states and not any(leads(entry, state, flags) for entry, state in states):
        print("pipec: step '%s': skipped (no step before it led here)" % step, file=sys.stderr)
        return False
    gate = task.get("gate")
    if not gate:
        return True
    if "break_on" in gate:
        name = str(gate["break_on"])
        if name in values and truthy(values[name]):
            print("pipec: step '%s': skipped (loop %s ended: %s is true)" % (step, gate.get("step"), name),
                  file=sys.stderr)
            return False
        return True
    name = str(gate["parameter"])
    if name not in values:
        raise StepError("conditional %s: no parameter '%s'" % (gate.get("step"), name))
    text = python_str(values[name])
    if text == gate["key"]:
        return True
    if text in gate.get("keys", []):
        print("pipec: step '%s': skipped (%s is %r, branch %r runs)" % (step, name, text, text), file=sys.stderr)
        return False
    raise StepError("conditional %s: None of the branches were true (%s is %r; branches: %s)"
                    % (gate.get("step"), name, text, ", ".join(gate.get("keys", []))))


def visible(values: dict, constants: dict) -> dict:
    """Name -> value as a task sees them: the merged state's values, its copy's constants over them."""
    out = {name: entry[1] for name, entry in values.items()}
    out.update(constants)
    return out


def leads(entry: dict, state: dict, flags: list) -> bool:
    if entry.get("kind") == "failure":
        return entry.get("flag") in flags
    return state.get("status") == "ok" and not any(f in flags for f in entry.get("unless") or [])


def python_str(value) -> str:
    """str() of the value as runnable holds it (a conditional compares `str(value)`)."""
    return str(value)


def truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def write_state(outputs: str, status: str, values: dict, flags: list) -> None:
    directory = os.path.join(outputs, STATE_DIR)
    os.makedirs(directory, exist_ok=True)
    state = {"status": status, "values": values, "flags": sorted(set(flags)), "execution": execution(),
             **STATE_EXTRA}
    with open(os.path.join(directory, "state.json"), "w", encoding="utf-8") as fh:
        json.dump(state, fh, ensure_ascii=False, indent=1, sort_keys=True)


def parameters(task: dict, values: dict, project: str) -> tuple:
    """What the task receives: the merged values and the copy's constants (map item, loop
    index), objects unpickled from the job that returned them."""
    params = visible(values, task.get("constants") or {})
    slots = task.get("objects") or {}
    objects = set()
    for name, value in list(params.items()):
        if not (isinstance(value, dict) and set(value) == {"pipec_object", "job"}):
            continue
        slot = slots.get(value["job"])
        path = object_file(input_dir(project, slot), value) if slot else ""
        if not path:
            raise StepError("object parameter '%s' of step %s was not staged" % (name, value["job"]))
        try:
            with open(path, "rb") as fh:
                params[name] = pickle.load(fh)
        except Exception as exc:
            raise StepError("cannot unpickle object parameter '%s' from %s: %s: %s"
                            % (name, path, type(exc).__name__, exc))
        objects.add(name)
    return params, objects


def object_file(directory: str, marker: dict) -> str:
    """The pickle of an object return in a staged slot; of a job run once per item, the one of
    the item that returned it (pipec's staging names the copies of later items
    <name>.<job>-<item>.pickle), or ""."""
    folder = os.path.join(directory, OBJECTS_DIR)
    name = str(marker["pipec_object"])
    n = int(marker.get("execution") or 0)
    if n == 0:
        path = os.path.join(folder, name + ".pickle")
        return path if os.path.isfile(path) else ""
    suffix = "-%d.pickle" % n
    for entry in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if entry.startswith(name + ".") and entry.endswith(suffix) and entry != name + ".pickle":
            return os.path.join(folder, entry)
    return ""


def reduce_branches(task: dict, states: list, values: dict) -> dict:
    """runnable's map fan-in: each name the branch returns becomes the reducer's value of the
    per-item values (default: the list, in item order)."""
    items = []
    for part in task.get("parts") or []:
        item, _ = merge({}, [states[i] for i in part])
        items.append(item)
    if "executions" in task:  # one branch the engine ran once per item: group its states by item
        slots = {task["states"][i]["slot"] for i in task["executions"]}
        by_item: dict = {}
        for entry, state in states:
            if entry["slot"] in slots:
                by_item.setdefault(int(state.get("execution") or 0), []).append((entry, state))
        items = [merge({}, by_item[n])[0] for n in sorted(by_item)]
    seq = int(task.get("seq") or 0)
    out = dict(values)
    for name, reducer in (task.get("reduce") or {}).items():
        parts = [item[name][1] for item in items if name in item]
        out[name] = [seq, reduce_values(reducer, parts) if parts else [], str(task.get("step") or "")]
    return out


def require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise StepError("%s is not set (pipec's job runtime sets it)" % name)
    return value


def input_dir(project: str, entry: str) -> str:
    """An input named by the compiler: an absolute path, an input slot of pipec's runtime
    ($PIPEC_INPUTS_DIR/<slot>), or a path relative to the project directory."""
    inputs = os.environ.get("PIPEC_INPUTS_DIR")
    if not os.path.isabs(entry) and inputs and os.path.isdir(os.path.join(inputs, entry)):
        return os.path.join(inputs, entry)
    return os.path.join(project, entry)


def reduce_values(reducer, parts: list):
    if not reducer:
        return list(parts)  # runnable's default reducer: lambda *x: list(x)
    try:
        func = eval(reducer)  # a lambda from the pipeline file, as runnable's get_reducer_function
    except Exception:
        func = None  # runnable only falls back on SyntaxError, so `pkg.func` failed there (NameError)
    if not callable(func):
        func = import_callable(reducer)
    try:
        return func(*parts)
    except Exception as exc:
        raise user_failed(exc, "the map reducer %s raised %s" % (reducer, type(exc).__name__))


def import_callable(dotted: str):
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:  # runnable's utils.get_module_and_attr_names
        raise StepError("%r is not a dotted path module.function" % dotted)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise StepError("no module %s in the project directory (for %s)" % (exc.name, dotted))
        raise user_failed(exc, "importing %s failed" % module_name)
    except Exception as exc:
        raise user_failed(exc, "importing %s failed" % module_name)
    func = getattr(module, attr, None)
    if not callable(func):
        raise StepError("module %s has no function %s" % (module_name, attr))
    return func


def run_python(command: str, params: dict, objects: set, returns: list) -> dict:
    func = import_callable(command)
    kwargs = bind_arguments(func, command, params, objects)
    try:
        result = func(**kwargs)
    except SystemExit as exc:
        raise StepError("%s called sys.exit(%r) instead of returning" % (command, exc.code))
    except Exception as exc:
        raise user_failed(exc, "%s raised %s" % (command, type(exc).__name__))
    if not returns:
        return {}
    # runnable (PythonTaskType): anything but a tuple is ONE value; the count must match.
    values = result if isinstance(result, tuple) else (result,)
    if len(values) != len(returns):
        raise StepError("%s returned %d value(s) but the step declares %d returns (%s); return a tuple with "
                        "one value per declared return" % (command, len(values), len(returns),
                                                           ", ".join(n for n, _ in returns)))
    return {name: value for (name, _), value in zip(returns, values)}


def bind_arguments(func, command: str, params: dict, objects: set) -> dict:
    """runnable's parameters.filter_arguments_for_func: arguments by name, cast to annotations."""
    bound: dict = {}
    var_keyword = namespace = None
    for name, arg in inspect.signature(func).parameters.items():
        if arg.kind == arg.VAR_POSITIONAL:
            continue  # runnable ignores *args
        if arg.kind == arg.VAR_KEYWORD:
            var_keyword = name
            continue
        if arg.annotation is argparse.Namespace:
            namespace = name
            continue
        if name not in params:
            if arg.default is arg.empty:
                raise StepError("function %s needs argument '%s', but no initial parameter or earlier step's "
                                "return provides it" % (command, name))
            bound[name] = arg.default
        elif name in objects:
            bound[name] = params[name]  # objects are passed as they are
        else:
            bound[name] = cast(name, params[name], arg.annotation)
    extra = {k: v for k, v in params.items() if k not in bound}
    if var_keyword is not None:
        bound.update(extra)  # **kwargs gets every parameter no named argument took
    elif namespace is not None:
        bound[namespace] = argparse.Namespace(**extra)
    return bound


def cast(name: str, value, annotation):
    if annotation is inspect.Parameter.empty or isinstance(annotation, str):
        return value  # unannotated, or a string annotation runnable does not evaluate either
    model = pydantic_base()
    if model is not None and isinstance(annotation, type) and issubclass(annotation, model):
        return bind_model(name, value, annotation)
    origin = typing.get_origin(annotation)
    target = origin if origin is not None else annotation  # Dict[str, int] -> dict, as runnable
    if not isinstance(target, type) or target.__module__ == "typing":
        return value  # Optional, Union, Literal, Any: runnable fails casting these; pass as found
    if target is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"  # bool("false") is True; runnable's env values decode as JSON
    try:
        return target(value)
    except Exception as exc:
        raise StepError("cannot cast parameter '%s' to %s: %s" % (name, target.__name__, exc))


def pydantic_base():
    # A pydantic model can only exist if the user's code imported pydantic: never import it here.
    return getattr(sys.modules.get("pydantic"), "BaseModel", None)


def bind_model(name: str, value, model):
    data = value if isinstance(value, dict) else {name: value}  # runnable: a one-field model
    try:
        if not hasattr(model, "model_fields"):  # pydantic 1
            return model(**data)

        class Lenient(model):  # runnable's bind_args_for_pydantic_model: unknown keys are ignored
            model_config = dict(model.model_config, extra="ignore")

        return model(**Lenient(**data).model_dump())
    except Exception as exc:
        raise StepError("cannot bind parameter '%s' to %s: %s" % (name, model.__name__, exc))


def run_shell(command: str, params: dict, objects: set, returns: list, project: str, step: str) -> dict:
    bad = [n for n, k in returns if k == "object"]
    if bad:  # runnable's ShellTaskType.returns_should_be_json
        raise StepError("a shell task returns only json or metric values; '%s' is kind object" % bad[0])
    env = dict(os.environ)
    for name, value in params.items():
        if name not in objects:  # runnable gives shell tasks no object parameters (allow_complex=False)
            env[name] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    env["PIPEC_PROJECT_DIR"] = project
    fd, dump = tempfile.mkstemp(prefix="pipec-env-")
    os.close(fd)
    env["PIPEC_ENV_DUMP"] = dump
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        status = subprocess.call(["bash", "-c", SHELL_TRAP + command, "bash"], env=env)
        with open(dump, "rb") as fh:
            exported = fh.read()
    except (OSError, ValueError) as exc:  # no bash; a NUL byte or '=' where env cannot take it
        raise StepError("cannot run the shell command: %s" % exc)
    finally:
        os.unlink(dump)
    if status < 0:
        raise StepError("the shell command was killed by signal %d" % -status)
    if status != 0:
        raise StepError("the shell command exited with status %d" % status)
    variables = {}
    for entry in exported.split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep:
            variables[os.fsdecode(key)] = os.fsdecode(value)
    values = {}
    for name, _ in returns:
        if name not in variables:
            # runnable leaves such a return unset; a later step needing it fails there.
            print("pipec: step '%s': warning: the shell command did not export return '%s'" % (step, name),
                  file=sys.stderr)
            continue
        try:
            values[name] = json.loads(variables[name])  # runnable: JSON when it parses ("3" is 3)
        except ValueError:
            values[name] = variables[name]
    return values


def run_notebook(task: dict, params: dict, objects: set, returns: list, project: str, outputs: str,
                 step: str) -> dict:
    command = str(task.get("command") or "")
    if not command.endswith(".ipynb"):  # runnable's notebook_should_end_with_ipynb
        raise StepError("a notebook task's command must be an .ipynb file, not %r" % command)
    source = os.path.join(project, command)
    if not os.path.isfile(source):
        raise StepError("notebook %s is not in the project directory %s" % (command, project))
    # runnable's get_notebook_output_path: <dir>/<stem>-<alphanumerics of the step name>_out.ipynb,
    # relative to the working directory (so the catalog keeps it).
    relative = os.path.normpath(command)
    parent = "" if os.path.isabs(relative) or relative.startswith("..") else os.path.dirname(relative)
    stem = os.path.splitext(os.path.basename(relative))[0]
    tag = "".join(c for c in str(task.get("name") or step) if c.isalnum())  # the step's own name, as runnable
    output = os.path.join(outputs, parent, "%s-%s_out.ipynb" % (stem, tag))
    os.makedirs(os.path.dirname(output), exist_ok=True)
    nb_params = {k: v for k, v in params.items() if k not in objects}  # runnable: allow_complex=False
    names = [n for n, _ in returns]
    try:
        import ploomber_engine
    except ImportError:
        ploomber_engine = None
    if ploomber_engine is not None:
        namespace = run_ploomber(ploomber_engine, task, source, output, nb_params, names, command)
    else:
        try:
            import papermill
        except ImportError:
            raise StepError("notebook tasks need ploomber-engine (what runnable uses) or papermill in the "
                            "job's image: neither is importable")
        namespace = run_papermill(papermill, source, output, nb_params, names, command)
    missing = [n for n in names if n not in namespace]
    if missing:
        raise StepError("notebook %s defines no variable '%s' for its declared return" % (command, missing[0]))
    return {n: namespace[n] for n in names}


def run_ploomber(engine, task: dict, source: str, output: str, nb_params: dict, names: list, command: str) -> dict:
    from ploomber_engine.ipython import PloomberClient

    kwds = {"input_path": source, "output_path": output, "parameters": nb_params,
            "log_output": True, "progress_bar": False}  # runnable's NotebookTaskType arguments
    kwds.update(task.get("ploomber") or {})
    try:
        engine.execute_notebook(**kwds)
    except Exception as exc:
        raise user_failed(exc, "notebook %s failed (the partly executed notebook is %s)" % (command, output))
    if not names:
        return {}
    # runnable reads returns from PloomberClient(<executed notebook>).get_namespace(), which runs
    # that notebook once more in this process; done the same way so the values match runnable's.
    try:
        return PloomberClient.from_path(output, progress_bar=False).get_namespace()
    except Exception as exc:
        raise user_failed(exc, "re-running notebook %s to read its returns failed" % command)


def run_papermill(papermill, source: str, output: str, nb_params: dict, names: list, command: str) -> dict:
    # The kernel is another process: a last cell pickles the returns into a file, then that cell
    # is removed from the executed notebook.
    workdir = tempfile.mkdtemp(prefix="pipec-nb-")
    values_file = os.path.join(workdir, "returns.pickle")
    try:
        with open(source, encoding="utf-8") as fh:
            notebook = json.load(fh)
        if names:
            cell = ("import pickle as _pipec_pickle\nwith open(%r, 'wb') as _pipec_fh:\n"
                    "    _pipec_pickle.dump({_n: globals()[_n] for _n in %r if _n in globals()}, _pipec_fh)\n"
                    % (values_file, names))
            notebook["cells"].append({"cell_type": "code", "execution_count": None, "outputs": [],
                                      "metadata": {"tags": [RETURNS_TAG]}, "source": cell})
        patched = os.path.join(workdir, os.path.basename(source))
        with open(patched, "w", encoding="utf-8") as fh:
            json.dump(notebook, fh)
        try:
            papermill.execute_notebook(patched, output, parameters=nb_params, log_output=True,
                                       progress_bar=False, cwd=os.getcwd())
        except Exception as exc:
            raise user_failed(exc, "notebook %s failed (the partly executed notebook is %s)" % (command, output))
        finally:
            if os.path.exists(output):
                with open(output, encoding="utf-8") as fh:
                    executed = json.load(fh)
                executed["cells"] = [c for c in executed.get("cells", [])
                                     if RETURNS_TAG not in c.get("metadata", {}).get("tags", [])]
                with open(output, "w", encoding="utf-8") as fh:
                    json.dump(executed, fh, indent=1, ensure_ascii=False)
        if not names:
            return {}
        with open(values_file, "rb") as fh:
            return pickle.load(fh)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def to_metadata(returns: list, values: dict, outputs: str, step: str = "") -> dict:
    """runnable's task_return_to_parameter: json and metric values as JSON, objects pickled."""
    metadata = {}
    for name, kind in returns:
        if name not in values:
            continue
        value = values[name]
        if kind == "object":
            path = os.path.join(outputs, OBJECTS_DIR, name + ".pickle")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                with open(path, "wb") as fh:
                    pickle.dump(value, fh)
            except Exception as exc:
                os.unlink(path)
                raise StepError("return '%s' (kind object) cannot be pickled: %s: %s" % (name, type(exc).__name__, exc))
            metadata[name] = name  # an object's metadata value is its name, as runnable's ObjectParameter
            continue
        if kind not in ("json", "metric"):
            raise StepError("return '%s' has unknown kind %r (expected json, object or metric)" % (name, kind))
        model = pydantic_base()
        if model is not None and isinstance(value, model):
            value = value.model_dump(mode="json", by_alias=True) if hasattr(value, "model_dump") else value.dict()
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise StepError("return '%s' (kind %s) is not JSON-serialisable (%s); declare it `kind: object` to "
                            "pass it pickled" % (name, kind, exc))
        if kind == "metric":
            print("pipec: metric %s = %s" % (name, text), file=sys.stderr)
            report_metric(name, text, step)
        metadata[name] = value
    return metadata


def report_metric(name: str, text: str, step: str) -> None:
    """A metric in the run's summary too: the GitHub Actions job summary, or on Slurm the run
    directory's metrics.jsonl (one JSON line per metric: step, item, name, value)."""
    try:  # a report: it never fails the step (the metric is in the log and the state anyway)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write("metric `%s` of step `%s`: `%s`\n\n" % (name, step.replace("`", "'"), text.replace("`", "'")))
        run_dir = os.environ.get("PIPEC_RUN_DIR")
        if os.environ.get("PIPEC_ENGINE", "slurm") == "slurm" and run_dir and os.path.isdir(run_dir):
            line = json.dumps({"step": step, "item": execution(), "name": name, "value": json.loads(text)},
                              ensure_ascii=False)
            with open(os.path.join(run_dir, "metrics.jsonl"), "a", encoding="utf-8") as fh:
                fh.write(line + "\n")  # one short append per line: concurrent jobs' lines do not interleave
    except OSError as exc:
        print("pipec: step '%s': warning: metric %s not added to the run's summary: %s" % (step, name, exc),
              file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
