"""JSON Schema validation with located, readable messages.

jsonschema reports errors against the instance path; this module turns each one into a
diagnostic at the offending value (or key), phrased for a person, with did-you-mean hints.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable

from pipec.datafiles import data_dir
from pipec.errors import Diagnostics
from pipec.loader import Document, Path

if TYPE_CHECKING:  # jsonschema is imported only to describe errors: valid files never need it
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "empty",
}


@lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    with open(data_dir("schemas") / f"{name}.schema.json", encoding="utf-8") as fh:
        schema = json.load(fh)
    return Draft202012Validator(schema)


def describe_value(value: Any) -> str:
    if value is None:
        return "nothing (empty)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if hasattr(value, "isoformat"):  # YAML 1.1 timestamps
        return f"the {type(value).__name__} {value.isoformat()}"
    return f"{type(value).__name__} {value!r}"


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    choices = [c for c in choices if isinstance(c, str)]
    normalized = word.replace("_", "-").lower()
    for c in choices:
        if c.lower() == normalized:
            return c
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def _allowed_keys(schema: dict[str, Any]) -> list[str]:
    return sorted(schema.get("properties", {}))


def _where(path: Path) -> str:
    return "/".join(str(p) for p in path) or "the document"


def _translate(err: ValidationError, doc: Document, diags: Diagnostics) -> None:
    path: Path = tuple(err.absolute_path)
    validator_name = err.validator
    instance = err.instance
    schema = err.schema if isinstance(err.schema, dict) else {}
    loc = doc.locate(path)

    if validator_name == "additionalProperties" and isinstance(instance, dict):
        allowed = _allowed_keys(schema)
        patterns = schema.get("patternProperties", {})

        for key in instance:
            if key in allowed or any(re.search(p, key) for p in patterns):
                continue
            guess = did_you_mean(key, allowed)
            hint = f"did you mean '{guess}'?" if guess else (f"allowed keys: {', '.join(allowed)}" if allowed else None)
            diags.error(f"unknown key '{key}'", doc.locate_key(path + (key,)), hint, code="PC020")
        return
    if validator_name == "required":
        missing = [k for k in err.validator_value if isinstance(instance, dict) and k not in instance]
        for key in missing or err.validator_value[:1]:
            diags.error(f"missing required key '{key}'", doc.locate_key(path) if path else loc, code="PC021")
        return
    if validator_name == "type":
        expected = err.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        want = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        hint = None
        if instance is None and len(path) == 2 and isinstance(path[0], int):
            hint = (
                f"the keys of this '{path[1]}' may be under-indented: indent them further than "
                f"'{path[1]}:' so they belong to it"
            )
        elif isinstance(instance, str) and ("number" in names or "integer" in names):
            hint = "YAML reads this as text; write a plain number"
        elif "string" in names and isinstance(instance, bool):
            hint = "YAML reads yes/no/on/off/true/false as booleans; put the value in quotes"
        elif "string" in names and not isinstance(instance, (dict, list)) and instance is not None:
            kind = "a number" if isinstance(instance, (int, float)) else f"a {type(instance).__name__}"
            hint = f"YAML reads this as {kind}; put the value in quotes"
        diags.error(f"expected {want}, got {describe_value(instance)}", loc if instance is not None else doc.locate_key(path), hint,
                    code="PC022")
        return
    if validator_name == "enum":
        options = [str(o) for o in err.validator_value]
        guess = did_you_mean(str(instance), options)
        diags.error(
            f"{describe_value(instance)} is not one of: {', '.join(options)}", loc,
            f"did you mean '{guess}'?" if guess else None, code="PC023",
        )
        return
    if validator_name == "const":
        diags.error(f"expected {err.validator_value!r}, got {describe_value(instance)}", loc, code="PC023")
        return
    if validator_name == "maxLength":
        diags.error(f"{describe_value(instance)} is longer than {err.validator_value} characters", loc, code="PC023")
        return
    if validator_name == "minLength":
        diags.error(f"{describe_value(instance)} is shorter than {err.validator_value} characters", loc, code="PC023")
        return
    if validator_name == "pattern":
        desc = schema.get("description")
        # The description says what is expected in words; the pattern is for machines.
        message = f"{describe_value(instance)} is not in the expected form" if desc else (
            f"{describe_value(instance)} does not match the pattern {err.validator_value}")
        diags.error(message, loc, desc, code="PC023")
        return
    if validator_name in ("maxProperties", "minProperties"):
        size = len(instance) if isinstance(instance, dict) else 0
        bound = "at most" if validator_name == "maxProperties" else "at least"
        diags.error(f"{size} entries, but {bound} {err.validator_value} are allowed", doc.locate_key(path) if path else loc,
                    code="PC023")
        return
    if validator_name in ("minimum", "exclusiveMinimum"):
        diags.error(f"{describe_value(instance)} is below the minimum of {err.validator_value}", loc, code="PC023")
        return
    if validator_name in ("maximum", "exclusiveMaximum"):
        diags.error(f"{describe_value(instance)} is above the maximum of {err.validator_value}", loc, code="PC023")
        return
    if validator_name == "minItems" and isinstance(instance, list) and not instance:
        diags.error("the list is empty; it needs at least one item", loc, schema.get("description"), code="PC023")
        return
    if validator_name in ("minItems", "maxItems", "items", "prefixItems"):
        desc = schema.get("description")
        diags.error(f"wrong number of items: {err.message}", loc, desc, code="PC023")
        return
    if validator_name == "not":
        banned = err.validator_value if isinstance(err.validator_value, dict) else {}
        keys = banned.get("required")
        if keys:
            quoted = " and ".join(f"'{k}'" for k in keys)
            diags.error(f"{quoted} cannot be used together", doc.locate_key(path) if path else loc, code="PC024")
            return
        if not banned and path:
            # A field the format no longer has: the schema's description says what replaced it.
            diags.error(f"'{path[-1]}' is no longer accepted", doc.locate_key(path), schema.get("description"),
                        code="PC025")
            return
    if validator_name in ("anyOf", "oneOf"):
        branches = err.validator_value
        # The common shape: "needs one of these keys" (task parameters / parameter-sets,
        # endpoint wsgi / server-command); say that rather than the generic message.
        if all(isinstance(b, dict) and set(b) == {"required"} for b in branches):
            keys = [k for b in branches for k in b["required"]]
            present = [k for k in keys if isinstance(instance, dict) and k in instance]
            quoted = ", ".join(f"'{k}'" for k in keys)
            if validator_name == "oneOf" and len(present) > 1:
                diags.error(f"use exactly one of {quoted}, not several", doc.locate_key(path) if path else loc,
                            code="PC024")
            else:
                diags.error(f"needs one of {quoted}", doc.locate_key(path) if path else loc, code="PC021")
            return
        best = _best_context(err)
        if best is not None:
            _translate(best, doc, diags)
            return
    diags.error(err.message, loc, code="PC026")


def _best_context(err: ValidationError) -> ValidationError | None:
    """For anyOf/oneOf: the branch error that got furthest (deepest path), if any."""
    if not err.context:
        return None
    return max(err.context, key=lambda e: (len(e.absolute_path), -len(e.schema_path)))


@lru_cache(maxsize=None)
def fast_validator(name: str) -> Any:
    """jsonschema-rs for the same schema: it only answers valid or not, about 100x faster,
    so the Python validator (and its messages) runs only for documents with errors."""
    import jsonschema_rs

    with open(data_dir("schemas") / f"{name}.schema.json", encoding="utf-8") as fh:
        return jsonschema_rs.validator_for(json.load(fh))


def is_valid_fast(name: str, data: Any) -> bool | None:
    """True or False from the fast validator; None when it cannot judge (e.g. YAML dates,
    which are not JSON types) and the Python validator must."""
    try:
        return bool(fast_validator(name).is_valid(data))
    except (ValueError, TypeError, OverflowError):
        return None


def validate(doc: Document, schema_name: str, diags: Diagnostics) -> set[int]:
    """Validate the document; report every error. Returns the indexes of top-level list
    items that had an error (semantic checks skip them)."""
    if is_valid_fast(schema_name, doc.data):
        return set()
    bad_items: set[int] = set()
    for err in validator(schema_name).iter_errors(doc.data):
        path = tuple(err.absolute_path)
        found = Diagnostics()
        _translate(err, doc, found)
        use = doc.alias_use(path)
        for d in found.items:
            # The text is shared by every alias of the anchor: say which use the error is in.
            diags.items.append(replace(d, message=f"{d.message} (in {_where(use[0])}, which uses &{use[1]})") if use else d)
        if path and isinstance(path[0], int):
            bad_items.add(path[0])
        elif not path:
            bad_items.add(-1)
    return bad_items
