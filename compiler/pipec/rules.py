"""Rule codes: every warning, and every error of a family, has a stable code and a name.

Codes are grouped by what they are about:

    PC0xx  the input file: reading it, YAML, the dialect's schema (shared by every dialect)
    PC1xx  Valohai (valohai.yaml)
    PC2xx  OSMO workflow specs
    PC3xx  runnable pipelines
    PC4xx  the configuration (pipec.toml) and the checks the passes make with it
    PC5xx  targets: what a back end cannot compile as written

A code never changes meaning once released; a retired rule keeps its code unused. Warnings
can be raised to errors or ignored in pipec.toml's [lint] table (by code or name; applied by
pipec.errors.apply_rules); errors cannot be changed. This module is plain data: the
diagnostics, the configuration and the README all build on it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

# The keys of the [lint] table: what each does to the warnings it lists.
LINT_KEYS = ("error", "ignore")


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    severity: str  # "warning" or "error" (pipec.errors.Severity's values); only warnings can be configured


def _w(code: str, name: str, summary: str) -> Rule:
    return Rule(code, name, summary, "warning")


def _e(code: str, name: str, summary: str) -> Rule:
    return Rule(code, name, summary, "error")


RULES: tuple[Rule, ...] = (
    # PC0xx: the input file
    _e("PC001", "yaml-syntax", "The file is not well-formed YAML (syntax, a mapping or list as a key, a second "
                               "document, an unknown alias, a bad merge key)."),
    _e("PC002", "not-utf8", "The file is not UTF-8 text."),
    _e("PC003", "input-limit", "The file is larger, nests deeper or expands more aliases than pipec reads."),
    _e("PC004", "yaml-tag", "A YAML tag pipec does not read, or a tagged value that is not of its type."),
    _e("PC005", "nul-character", "A NUL character in the file: no argument, variable or file name can carry it."),
    _w("PC010", "duplicate-key", "A mapping names a key twice; YAML keeps the later value (an error with --strict)."),
    _w("PC011", "empty-file", "The file holds no document, so there is nothing to check."),
    _w("PC012", "nothing-to-compile", "The file holds no pipeline and no step (an error for compile)."),
    _e("PC020", "unknown-key", "A key the format (or pipec.toml) does not have."),
    _e("PC021", "missing-key", "A required key is missing."),
    _e("PC022", "wrong-type", "A value of the wrong type (text for a number, a list for a mapping, ...)."),
    _e("PC023", "invalid-value", "A value out of range, not one of the allowed values, or not in the expected form."),
    _e("PC024", "conflicting-keys", "Keys that cannot be used together."),
    _e("PC025", "removed-key", "A key the format no longer accepts."),
    _e("PC026", "schema-violation", "Any other disagreement with the format's schema."),
    # PC1xx: Valohai
    _w("PC101", "edge-to-unknown-parameter", "An edge targets a parameter the node does not declare; the value "
                                             "reaches no command."),
    _w("PC102", "edge-from-unknown-parameter", "An edge reads a parameter the source node does not declare; it "
                                               "passes no value."),
    _w("PC103", "edge-from-undeclared-output", "An edge's output glob matches none of the outputs the source node "
                                               "declares."),
    _w("PC104", "self-edge", "An edge copies a node's parameter onto itself; it is ignored."),
    _w("PC105", "duplicate-edge", "The same edge is given twice."),
    _w("PC106", "empty-item", "An empty top-level item; it is ignored."),
    _w("PC107", "unknown-item", "A top-level item of an unknown kind; it is ignored."),
    _w("PC108", "duplicate-definition", "A step, pipeline, task, ... (or a step's parameter, input, ...) is defined "
                                        "twice; the later one wins."),
    _w("PC109", "dotted-node-name", "A node name holds '.', so no edge can address it."),
    _w("PC110", "task-without-grid", "A task node has no parameter grid, so it runs one execution."),
    _w("PC111", "parameter-decided-by-sweep", "A pipeline parameter targets a parameter the node sweeps; the sweep "
                                              "decides it."),
    _w("PC112", "bayesian-as-random-search", "Bayesian optimisation is compiled as a seeded random search."),
    _w("PC113", "random-style-in-grid", "A 'random' parameter style in a grid search; pipec samples executions."),
    _w("PC114", "step-from-other-commit", "A node runs a step of another commit that this file does not define "
                                          "(an error for compile)."),
    _w("PC115", "commit-ignored", "A node names a commit; pipec uses the step defined in this file."),
    _w("PC116", "unknown-action-when", "A node action's 'when' is not a well-known event; it might never run."),
    _w("PC117", "unknown-action-then", "A node action's 'then' is not a well-known action; it might do nothing."),
    _w("PC118", "node-action-ignored", "Node actions run on the Valohai platform only; pipec ignores them."),
    _w("PC119", "parameter-without-targets", "A pipeline parameter has no targets; it sets nothing."),
    _w("PC120", "invalid-parameter-default", "A parameter's default does not suit its type, range or choices."),
    _w("PC121", "ineffective-parameter-key", "A parameter key that has no effect for this kind of parameter."),
    _w("PC122", "ineffective-task-key", "A task key that has no effect for this kind of task."),
    _w("PC123", "deployment-without-target", "A deployment has no defaults.target, which deployment auto-creation "
                                             "needs."),
    # PC2xx: OSMO
    _w("PC201", "queue-timeout-ignored", "queue_timeout is not enforced on any target."),
    _w("PC202", "unmapped-platform", "A resource's platform is not a machine profile of pipec.toml; its jobs run "
                                     "wherever the engine puts them."),
    _w("PC203", "ignored-task-field", "A task field pipec does not compile; the task runs without it."),
    _w("PC204", "ignored-resource-field", "A resource field pipec does not compile; jobs are placed without it."),
    _w("PC205", "text-before-workflow", "Text before the first top-level key is ignored, as OSMO ignores it."),
    _w("PC206", "reserved-template-variable", "A template variable named like one of OSMO's own tokens is ignored."),
    # PC3xx: runnable
    _w("PC301", "unsupported-step", "A step type or command type pipec does not compile (an error for compile)."),
    _w("PC302", "unreachable-step", "A step is never reached from start_at and never runs."),
    _w("PC303", "catalog-get-without-put", "A step gets files from the catalog that no step before it puts there."),
    _w("PC304", "several-overrides", "A step overrides with several profiles; pipec uses the first on every target."),
    _w("PC305", "unknown-override-profile", "A step's override is not a profile of pipec.toml; it runs with the "
                                            "default resources."),
    _w("PC306", "default-image", "No image is given, so steps run in the default image."),
    _w("PC307", "return-name-not-identifier", "A return name is not a Python identifier, so no later task can take "
                                              "it."),
    _w("PC308", "empty-parameters-file", "The parameters file (--params) is empty."),
    # PC4xx: the configuration and the passes
    _e("PC401", "toml-syntax", "pipec.toml (or pyproject.toml) is not valid TOML."),
    _e("PC402", "config-unreadable", "The configuration file cannot be read."),
    _e("PC403", "untrusted-config", "The configuration is writable by other users or belongs to another user."),
    _e("PC404", "invalid-lint-setting", "[lint] names an unknown rule, an error, or one rule in both lists."),
    _w("PC410", "trigger-for-unknown-pipeline", "[triggers] names a pipeline the file does not have; the entry is "
                                                "ignored."),
    _w("PC411", "deployment-without-command", "A deployment node needs [deploy] command (or manifest) to be "
                                              "compiled."),
    _w("PC412", "image-with-spaces", "An image name holds spaces, which no registry has."),
    _w("PC413", "large-sweep", "A sweep of more executions than engines take well (10,000; check only: compile "
                               "says what each target does)."),
    # PC5xx: targets
    _w("PC501", "flag-parameter-compiled-in", "A pipeline parameter sets a flag, which is compiled in and cannot "
                                              "change at submit time."),
    _w("PC502", "multi-value-parameter-compiled-in", "A pipeline parameter sets a parameter of several values, "
                                                     "which is compiled in."),
    _w("PC503", "formatted-parameter-compiled-in", "A parameter's command-line format needs its value at compile "
                                                   "time, so a pipeline parameter cannot change it."),
    _w("PC504", "parameter-set-twice", "Two pipeline parameters set one parameter; the later wins."),
    _w("PC505", "unmapped-url-scheme", "A URL scheme has no [fetch] or [upload] command in pipec.toml."),
    _w("PC506", "schedule-in-template", "argo: --kind template writes a WorkflowTemplate, which does not run on a "
                                        "schedule."),
    _w("PC507", "checkpoint-in-container", "slurm: a checkpoint path inside the container is uploaded from the "
                                           "host."),
    _w("PC508", "unpinned-image", "gha: an image without a tag or digest may differ from run to run."),
    _w("PC509", "group-runner-labels", "gha: a group runs on one runner, which needs every label its members ask "
                                       "for."),
)

BY_CODE: dict[str, Rule] = {r.code: r for r in RULES}
BY_NAME: dict[str, Rule] = {r.name: r for r in RULES}


def find(code_or_name: str) -> Rule | None:
    """The rule a code (any case) or a name stands for."""
    return BY_CODE.get(code_or_name.upper()) or BY_NAME.get(code_or_name)


def code_of(code_or_name: str) -> str:
    """The code of a rule given by code or name; an unknown one is a bug at the call site."""
    rule = find(code_or_name)
    if rule is None:
        raise ValueError(f"no rule {code_or_name!r} in pipec/rules.py")
    return rule.code


def suggestion(word: str) -> str | None:
    """A did-you-mean hint for an unknown rule: the closest code or name."""
    normalized = word.replace("_", "-").lower()
    for rule in RULES:
        if normalized == rule.name:
            return f"did you mean '{rule.name}' ({rule.code})?"
    # A code with a letter O for a zero (PC1O1), or one other character wrong: difflib
    # ranks codes that share digits anywhere alike, so compare place by place.
    code = word.upper().replace("O", "0")
    near = [c for c in BY_CODE if len(c) == len(code) and sum(a != b for a, b in zip(c, code)) <= 1]
    close = near if len(near) == 1 else difflib.get_close_matches(code, BY_CODE, n=1, cutoff=0.75)
    if close:
        return f"did you mean '{close[0]}' ({BY_CODE[close[0]].name})?"
    close = difflib.get_close_matches(normalized, BY_NAME, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}' ({BY_NAME[close[0]].code})?"
    return None


def lint_problems(lint: Any) -> list[tuple[tuple[str | int, ...], str, str | None]]:
    """What is wrong with a [lint] table whose shape the schema accepted: (keys below [lint],
    message, hint) for each unknown rule, error rule, or rule listed under both keys."""
    if not isinstance(lint, dict):
        return []
    problems: list[tuple[tuple[str | int, ...], str, str | None]] = []
    listed: dict[str, str] = {}  # code -> the first key that lists it
    for key in LINT_KEYS:
        entries = lint.get(key)
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, str):
                continue
            rule = find(entry)
            if rule is None:
                problems.append(((key, i), f"[lint] {key}: unknown rule '{entry}'",
                                 suggestion(entry) or "see README, Rule codes"))
            elif rule.severity != "warning":
                problems.append(((key, i), f"[lint] {key}: {rule.code} {rule.name} is an error, which cannot be "
                                           f"{'ignored' if key == 'ignore' else 'configured'}",
                                 "only warnings can be raised to errors or ignored"))
            elif listed.get(rule.code, key) != key:
                problems.append(((key, i), f"[lint] {key}: {rule.code} {rule.name} is in [lint] "
                                           f"{listed[rule.code]} too", "keep it in one of the lists"))
            else:
                listed.setdefault(rule.code, key)
    return problems


def configured(lint: Any, key: str) -> frozenset[str]:
    """The codes of the warnings [lint] lists under `key` (unknown entries left out: loading
    the configuration reported them)."""
    entries = lint.get(key) if isinstance(lint, dict) else None
    found = (find(e) for e in (entries if isinstance(entries, list) else []) if isinstance(e, str))
    return frozenset(r.code for r in found if r is not None and r.severity == "warning")


def table_markdown() -> str:
    """The README's table of rules (tests check that README holds this text)."""
    lines = ["| code | name | default | summary |", "|---|---|---|---|"]
    lines += [f"| `{r.code}` | `{r.name}` | {r.severity} | {r.summary} |" for r in RULES]
    return "\n".join(lines)
