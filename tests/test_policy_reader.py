"""The fast policy reader (vaultform/policy_hcl.py) answers exactly what
python-hcl2 answers, or steps aside: over a generated corpus and the hand-
written cases that matter."""

from __future__ import annotations

import random

import hcl2
import pytest

from vaultform import policy_hcl

CASES = [
    'path "secret/*" {\n  capabilities = ["read", "list"]\n  max_wrapping_ttl = "1h"\n  min_wrapping_ttl = 60\n}\n',
    '# c\npath "x" { capabilities = ["read",] } // tail\n/* block\n comment */\npath "y" {\n capabilities=["deny"]\n}\n',
    'path "x" { capabilities = ["re\\"ad"] }\n',
    'path "x" { pagination_limit = 10 comment = "hi" expiration = "2025-01-01T00:00:00Z" }\n',
    'path "a/+/b" { capabilities = ["read", "update"] }\npath "a/+/b" { capabilities = ["list"] }\n',
    'path "x" {\n}\n',
    'path "x" { capabilities = [] }\n',
]
# Outside the subset: the fast reader must step aside (python-hcl2 decides).
ASIDE = [
    'path "x" { capabilities = ["read"] allowed_parameters = { "a" = [] } }\n',
    'path "x" { capabilities = ["read"]\n',
    'name = "x"\npath "x" { capabilities = ["read"] }\n',
    'path "${x}" { capabilities = ["read"] }\n',
    'path "x" { capabilities = ["read"] capabilities = ["list"] }\n',
    'path "x" { capabilities = "read" }\n'.replace('"read"', 'read'),
    'path "x" { capabilities = [read] }\n',
    'path x { capabilities = ["read"] }\n',
    '',
]


def comparable(document):
    return {k: v for k, v in document.items() if not k.startswith("__")}


@pytest.mark.parametrize("text", CASES)
def test_the_fast_reader_reads_what_python_hcl2_reads(text):
    assert policy_hcl.read(text) is not None
    assert comparable(policy_hcl.read(text)) == comparable(hcl2.loads(text))


@pytest.mark.parametrize("text", ASIDE)
def test_the_fast_reader_steps_aside_outside_its_subset(text):
    assert policy_hcl.read(text) is None


def test_generated_policies_read_the_same_or_step_aside():
    rng = random.Random(7)
    words = ["read", "list", "create", "update", "delete", "sudo", "deny", "patch"]
    fields = ["max_wrapping_ttl", "min_wrapping_ttl", "comment", "pagination_limit"]
    read_fast = 0
    for _ in range(150):
        blocks = []
        for _ in range(rng.randint(1, 4)):
            path = "/".join(rng.choice(["secret", "data", "+", "*", "app-1", "a.b", "x_y"]) for _ in range(3))
            body = [f'capabilities = [{", ".join(chr(34) + rng.choice(words) + chr(34) for _ in range(3))}'
                    f'{"," if rng.random() < 0.3 else ""}]']
            for name in rng.sample(fields, rng.randint(0, 2)):
                body.append(f'{name} = {rng.choice(["60", chr(34) + "1h" + chr(34), "1.5"])}')
            sep = rng.choice(["\n  ", " ", "\n\t"])
            comment = rng.choice(["", "# note\n", "// note\n", "/* a\n b */\n"])
            blocks.append(f'{comment}path "{path}" {{{sep}{sep.join(body)}\n}}')
        text = "\n".join(blocks) + "\n"
        if rng.random() < 0.2:  # a mutation: one character dropped
            cut = rng.randrange(len(text))
            text = text[:cut] + text[cut + 1:]
        fast = policy_hcl.read(text)
        try:
            slow = hcl2.loads(text if text.endswith("\n") else text + "\n")
        except Exception:  # noqa: BLE001 - lark raises several types
            slow = None
        if fast is not None:
            read_fast += 1
            assert slow is not None and comparable(fast) == comparable(slow), text
    assert read_fast > 100  # the subset is what policies are written in
