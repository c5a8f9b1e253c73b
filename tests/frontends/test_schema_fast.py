"""The fast validator (jsonschema-rs) is only trusted to say "valid"; it must agree with the
Python validator on every document it can judge, or errors would go unreported."""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipec.schema import is_valid_fast, validator
from tests.paths import EXAMPLES

SEEDS = [yaml.safe_load(p.read_text()) for p in sorted(EXAMPLES.glob("*.yaml"))]
# Finite floats only: the fast validator cannot represent inf and answers False, which only
# sends the document to the Python validator, which decides (schema.validate).
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(max_size=70), st.lists(st.text(max_size=5), max_size=3),
                   st.dictionaries(st.text(max_size=8), st.integers(), max_size=2))


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, prefix + (i,))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(range(len(SEEDS))), data=st.data())
def test_fast_and_python_validators_agree(seed, data):
    doc = copy.deepcopy(SEEDS[seed])
    for _ in range(data.draw(st.integers(1, 3))):
        all_paths = [p for p in paths(doc) if p]
        path = data.draw(st.sampled_from(all_paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "rename"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "rename" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=12))] = parent.pop(path[-1])
        else:
            parent[path[-1]] = data.draw(VALUES)
    fast = is_valid_fast("valohai", doc)
    if fast is not None:
        assert fast == validator("valohai").is_valid(doc)


def test_examples_are_valid_for_both():
    for doc in SEEDS:
        assert is_valid_fast("valohai", doc) is True
        assert validator("valohai").is_valid(doc)


def test_non_json_values_fall_back_to_python():
    import datetime

    # Either it cannot judge (None) or says invalid: never "valid", so Python reports the error.
    assert is_valid_fast("valohai", [{"step": {"name": datetime.date(2020, 1, 1)}}]) is not True

