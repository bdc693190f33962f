"""A broken policy is reported at the faulty line inside its block scalar, in
words a person reads ("unexpected `}`: ..."), never as the parser's token dump.

Each case is a policy written in a spec the way people write them (a `|`
block under `policies:`); the expected position is the spec file's own
line:column of the mark in the case's text.
"""

from __future__ import annotations

import textwrap

import pytest

CASES = {
    # name: (policy text, the mark the error points at, occurrence of it, words the message holds)
    "one-brace-too-many": ('path "secret/data/webapp/config" {\n  capabilities = ["read"]\n}\n}\n',
                           "}", 2, "unexpected `}`: no block is open here (one `}` too many, or a `path` block's `{` "
                           "is missing?)"),
    "block-not-closed": ('path "secret/data/webapp/config" {\n  capabilities = ["read"]\n\n'
                         'path "secret/data/webapp/other" {\n  capabilities = ["read"]\n}\n',
                         "{", 1, "a `path` block is not closed: this `{` has no matching `}`"),
    "list-not-closed": ('path "a" {\n  capabilities = ["read"\n}\n', "}", 1,
                        "unexpected `}`: a list is not closed (a `]` is missing)?"),
    "comma-missing": ('path "a" {\n  capabilities = ["read" "list"]\n}\n', '"list"', 1,
                      "unexpected `\"`: a `,` is missing between the list's items?"),
    "equals-missing": ('path "a" {\n  capabilities ["read"]\n}\n', "[", 1,
                       "unexpected `[`: an `=` is missing after the key?"),
    "string-not-closed": ('path "a {\n  capabilities = ["read"]\n}\n', '"a', 1,
                          'a string is not closed: this `"` has no closing quote on its line'),
    "brace-missing": ('path "a"\n  capabilities = ["read"]\n}\n', "capabilities", 1,
                      'unexpected `capabilities`: a `path "..."` must be followed by `{`?'),
    "semicolon": ('path "a" {\n  capabilities = ["read"];\n}\n', ";", 1,
                  "unexpected `;`: HCL needs no `;` at the end of a line"),
    "value-missing": ('path "a" {\n  capabilities = ["read",\n}\n', "}", 1,
                      "unexpected `}`: a value is missing (after `=` or `,`)?"),
}


def _position(spec: str, mark: str, occurrence: int) -> "tuple[int, int]":
    body = spec.index("policies:")  # marks are searched inside the policy, not the spec's header
    at = body
    for _ in range(occurrence):
        at = spec.index(mark, at + (1 if at != body else 0))
    line = spec.count("\n", 0, at) + 1
    return line, at - (spec.rfind("\n", 0, at) + 1) + 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_policy_syntax_error_names_the_line_in_words(run_cli, tmp_path, name):
    text, mark, occurrence, words = CASES[name]
    spec = "version: 1\n# the webapp's policy\npolicies:\n  webapp: |\n" + textwrap.indent(text, "    ", lambda _: True)
    path = tmp_path / "vault.yaml"
    path.write_text(spec, encoding="utf-8")
    result = run_cli(["validate", str(path)])
    assert result.exit_code == 1, str(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, str(result)
    line, column = _position(spec, mark, occurrence)
    assert errors[0] == f"Error: {path}:{line}:{column}: policies.webapp: policy is not valid HCL: {words}", \
        str(result)
    assert "Token(" not in result.output and "Traceback" not in result.output


def test_an_error_in_a_second_policy_is_found_beside_the_first(run_cli, tmp_path):
    spec = ("version: 1\npolicies:\n  one: |\n    path \"a\" {\n      capabilities = [\"read\"]\n    }\n    }\n"
            "  two: |\n    path \"b\" {\n      capabilities = [\"read\"\n    }\n")
    path = tmp_path / "vault.yaml"
    path.write_text(spec, encoding="utf-8")
    result = run_cli(["validate", str(path)])
    assert f"{path}:7:5: policies.one: policy is not valid HCL: unexpected `}}`" in result.stderr, str(result)
    assert f"{path}:11:5: policies.two: policy is not valid HCL: unexpected `}}`" in result.stderr, str(result)
