"""The compiled schema (fastjsonschema) and jsonschema agree on what is
valid: the compiled one only ever says "valid" faster; it must never pass a
spec jsonschema refuses. Checked over the examples and many mutations."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import yaml

from vaultform.schema import is_valid_fast, validator

ROOT = Path(__file__).resolve().parents[1]
ODD_VALUES = [None, 0, -1, 1.5, True, "", "x", "1h", [], ["a"], {}, {"env": "X"}, {"env": "X", "file": "y"},
              {"generate": {"length": 3}}, {"nope": 1}, "10.0.0.5/32", 2 ** 60]


def documents():
    for path in sorted((ROOT / "examples").rglob("*.yaml")) + sorted((ROOT / "tests" / "golden").rglob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict) and data.get("version") == 1:
            yield data


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, prefix + (i,))


def mutate(doc, rng):
    doc = copy.deepcopy(doc)
    where = rng.choice([p for p in paths(doc) if p])
    parent = doc
    for part in where[:-1]:
        parent = parent[part]
    action = rng.random()
    if action < 0.4:
        parent[where[-1]] = rng.choice(ODD_VALUES)
    elif action < 0.6 and isinstance(parent, dict):
        del parent[where[-1]]
    elif isinstance(parent, dict):
        parent[rng.choice(["bogus", "type", "roles", "config", "options", "tune"])] = rng.choice(ODD_VALUES)
    return doc


def test_compiled_and_full_validation_agree():
    rng = random.Random(11)
    docs = list(documents())
    assert docs
    checked = disagreements = 0
    for doc in docs:
        for _ in range(80):
            candidate = mutate(doc, rng)
            full = not any(True for _ in validator().iter_errors(candidate))
            if is_valid_fast(candidate) != full:  # passing a bad spec is wrong; refusing a good one, slow
                disagreements += 1
            checked += 1
    assert checked >= 80 and disagreements == 0


def test_compiled_validator_passes_every_valid_example():
    """Saying "invalid" wrongly is safe but slow (jsonschema then runs over
    the whole spec): every valid example must pass the compiled validator."""
    for doc in documents():
        full = not any(True for _ in validator().iter_errors(doc))
        assert is_valid_fast(doc) == full
