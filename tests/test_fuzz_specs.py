"""Property: no spec, however hostile, crashes vaultform.

Hypothesis generates specs (sections, names and values from hostile
alphabets) and mutates valid ones as text (cut, duplicated and swapped
lines, inserted YAML syntax: anchors, aliases, tags, brackets, control
characters). Each is given to `validate`, and to `plan --format json`
against a real dev server. Whatever the input:
- no traceback, no "internal error", nothing escapes main();
- the exit code is 0 or 1 (validate), 0, 1 or 2 (plan --detailed-exitcode);
- every stderr line is one "Error:" or "Warning:" line, and a failure has one;
- plan's stdout is one JSON document the published schema accepts (a plan,
  or a refusal).

Derandomized and bounded (VAULTFORM_FUZZ_EXAMPLES, default 100 per
property) so CI is deterministic and quick; raise it for a long local run.
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import string
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
PLAN_SCHEMA = json.loads((ROOT / "schemas" / "plan-output.schema.json").read_text(encoding="utf-8"))
EXAMPLES = int(os.environ.get("VAULTFORM_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])

# What the fuzzer saw, for the closing note (printed with -s or on failure).
TALLY: "collections.Counter[str]" = collections.Counter()

# -- generated specs ----------------------------------------------------------------------

HOSTILE_CHARS = "/.?#%\\ \t\n\r\x00\x7f-_@:;*&!|>'\"{}[],~é€\u2028\U0001f511"
plain_name = st.from_regex(r"[a-z][a-z0-9_-]{0,8}(/[a-z0-9]{1,6}){0,2}", fullmatch=True)
name_text = st.one_of(
    plain_name, plain_name.map(lambda n: "secret/" + n),
    st.sampled_from(["secret", "kv", "kv/app", "secret/a", "a/../b", "a/./b", "a//b", "/a", "a/", "..", ".",
                     "a?b", "a#b", "a%2Fb", "-role", "role name", "x;y", "ROOT", "default", "sys", "auth/x",
                     "kv1/../sys/policies/acl/evil", "", " ", "a" * 300]),
    st.text(alphabet=string.ascii_lowercase + string.digits + HOSTILE_CHARS, min_size=0, max_size=24),
)
scalar = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 64), max_value=2 ** 64),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.dates(), st.datetimes(), st.sampled_from(["1h", "768h", "0", "-1s", "1y", "10.0.0.5/32", "::1/128"]),
)
value_source = st.one_of(
    st.fixed_dictionaries({"env": st.sampled_from(["HOME", "VAULTFORM_FUZZ_UNSET", "", "A B"])}),
    st.fixed_dictionaries({"file": st.sampled_from(["/dev/null", "/dev/zero", "/nonexistent", ".", "../x", ""])}),
    st.fixed_dictionaries({"generate": st.one_of(
        st.fixed_dictionaries({"length": st.integers(min_value=-5, max_value=10 ** 6)}),
        st.fixed_dictionaries({"length": st.integers(1, 64), "charset": st.text(max_size=12)}))}),
    st.dictionaries(st.sampled_from(["env", "file", "generate", "other"]), scalar, max_size=3),
)
value = st.recursive(st.one_of(scalar, value_source),
                     lambda inner: st.one_of(st.lists(inner, max_size=4),
                                             st.dictionaries(name_text, inner, max_size=4)),
                     max_leaves=12)
policy_text = st.one_of(
    st.sampled_from(['path "secret/*" { capabilities = ["read"] }', 'path "*" { capabilities = ["sudo"] }',
                     'path "a" { capabilities = ["reed"] }', "", "{", 'path "a" {' * 80 + "}" * 80,
                     'path "a" { capabilities = ["read"]\n min_wrapping_ttl = "1y" }',
                     '{"path": {"a": {"capabilities": ["read"]}}}', '{"path": ' + "[" * 3000 + "]" * 3000 + "}",
                     'path "a" { capabilities = ["read"] }\n' * 200]),
    st.text(max_size=80),
)
engine = st.fixed_dictionaries({"type": st.sampled_from(["kv", "transit", "pki", "nope", "", 1])},
                               optional={"options": st.dictionaries(st.sampled_from(["version", "x"]), scalar,
                                                                    max_size=2),
                                         "config": st.dictionaries(st.sampled_from(
                                             ["default_lease_ttl", "max_lease_ttl", "force_no_cache",
                                              "token_type", "listing_visibility", "zzz"]), scalar, max_size=3),
                                         "description": scalar})
auth = st.fixed_dictionaries(
    {"type": st.sampled_from(["kubernetes", "approle", "userpass", "jwt", "oidc", "ldap", "cert", "token", "x"])},
    optional={"config": st.dictionaries(name_text, value, max_size=3),
              "roles": st.dictionaries(name_text, st.dictionaries(st.sampled_from(
                  ["token_policies", "token_ttl", "token_max_ttl", "bound_service_account_names",
                   "bound_service_account_namespaces", "token_bound_cidrs", "ttl", "zzz"]), value, max_size=4),
                  max_size=3)})
sections = {
    "secrets_engines": st.dictionaries(name_text, engine, max_size=3),
    "auth": st.dictionaries(name_text, auth, max_size=2),
    "policies": st.dictionaries(name_text, policy_text, max_size=3),
    "secrets": st.dictionaries(name_text, st.dictionaries(name_text, value, max_size=4), max_size=3),
    "prune": st.dictionaries(st.sampled_from(["policies", "secrets_engines", "auth_methods", "x"]), scalar,
                             max_size=2),
    "vault": st.dictionaries(st.sampled_from(["namespace", "record", "x"]), value, max_size=2),
}
generated_spec = st.builds(
    lambda version, body, junk: {**({"version": version} if version is not None else {}), **body, **junk},
    st.one_of(st.just(1), st.none(), scalar),
    st.fixed_dictionaries({}, optional=sections),
    st.dictionaries(name_text, value, max_size=1),
)


def dump(spec) -> str:
    return yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)


# -- mutated text ---------------------------------------------------------------------------

BASE = """\
version: 1
secrets_engines:
  secret: {type: kv, options: {version: "2"}}
auth:
  kubernetes:
    type: kubernetes
    config:
      kubernetes_host: https://kubernetes.default.svc
    roles:
      webapp:
        bound_service_account_names: [vault]
        bound_service_account_namespaces: [default]
        token_policies: [webapp]
        token_ttl: 24h
policies:
  webapp: |
    path "secret/data/webapp/config" {
      capabilities = ["read"]
    }
secrets:
  secret/webapp/config:
    username: static-user
    password: {generate: {length: 32}}
    port: 5432
"""
SNIPPETS = ["&a ", "*a", "&a [*a]", "&b {<<: *b}", "[" * 600, '{"path": ' + "[" * 3000, "<<: *a", "[" * 70, "{" * 70, "\x00", "\t", ": :", "- ", "!!binary ", "!!set ",
            "!!python/object/apply:os.system ['true'] ", "!!float ", "'", '"', "\\", "%YAML 1.1\n", "---\n",
            "...\n", "? ", "|", ">-\n", "#", "\ufeff", "\u2028", "\r", "2024-01-01", ".nan", ".inf",
            "9007199254740993", "0x1F", "0o17", "1_000", "~", "null", "yes", "on", "=", "{env: HOME}",
            "{file: /dev/zero}", "a/../b", "?x", "#x", "%2F"]


@st.composite
def mutated_text(draw) -> str:
    lines = BASE.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "duplicate", "swap", "indent"]))
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        if kind == "insert":
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=6))) + line[at:]
        elif kind == "delete" and len(lines) > 1:
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + line[at + draw(st.integers(1, 8)):]
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = " " * draw(st.integers(0, 5)) + line.lstrip(" ")
    return "".join(lines)


any_spec_text = st.one_of(generated_spec.map(dump), mutated_text())


# -- the oracle --------------------------------------------------------------------------------


def failure_class(result, exits) -> str:
    """"ok", or the class of the failure (one per way of being wrong)."""
    if result.exception is not None:
        return f"escaped {type(result.exception).__name__}"
    if "Traceback" in result.output:
        return "traceback"
    if "internal error" in result.stderr:
        return "internal error " + result.stderr.split("internal error: ", 1)[1].split(":", 1)[0]
    if result.exit_code not in exits:
        return f"exit {result.exit_code}"
    for line in result.stderr.splitlines():
        if not line.startswith(("Error: ", "Warning: ")):
            return "stderr line that is not one Error:/Warning: line"
    if result.exit_code == 1 and not any(line.startswith("Error: ") for line in result.stderr.splitlines()):
        return "exit 1 without an Error: line"
    return "ok"


def check(result, exits, command: str, text: str) -> None:
    verdict = failure_class(result, exits)
    TALLY[f"{command} inputs"] += 1
    TALLY[f"{command} exit {result.exit_code}"] += 1
    if verdict != "ok":
        TALLY[f"{command} failure: {verdict}"] += 1
    assert verdict == "ok", f"{verdict}\n--- spec ---\n{text!r}\n{result}"


@pytest.fixture(scope="module", autouse=True)
def _report_tally():
    yield
    print("\nfuzz tally:", json.dumps(dict(sorted(TALLY.items())), indent=1))


@FUZZ
@given(text=any_spec_text)
def test_validate_never_crashes(tmp_path_factory, text):
    spec = tmp_path_factory.mktemp("fuzz") / "vault.yaml"
    spec.write_text(text, encoding="utf-8")
    result = run_cli(["validate", str(spec)], env={"HOME": str(spec.parent), "VAULTFORM_FUZZ_UNSET": None})
    check(result, (0, 1), "validate", text)


def _no_cluster(text: str) -> bool:
    # A cluster section would start or reach nodes (local or helm): not traffic this test may send.
    return "cluster" not in text


@FUZZ
@given(text=any_spec_text.filter(_no_cluster))
def test_plan_never_crashes(tmp_path_factory, vault_env, text):
    spec = tmp_path_factory.mktemp("fuzz") / "vault.yaml"
    spec.write_text(text, encoding="utf-8")
    result = run_cli(["plan", str(spec), "--format", "json", "--detailed-exitcode"],
                     env={**vault_env, "VAULTFORM_FUZZ_UNSET": None})
    check(result, (0, 1, 2), "plan", text)
    try:
        document = json.loads(result.stdout)
        jsonschema.validate(document, PLAN_SCHEMA)
    except (ValueError, jsonschema.ValidationError) as exc:
        TALLY["plan failure: stdout is not one schema-valid JSON document"] += 1
        raise AssertionError(f"stdout is not a plan-output document ({exc})\n{text!r}\n{result}") from None
    assert ("error" in document) == (result.exit_code == 1), result


def test_a_generated_date_reaches_the_spec_as_a_yaml_timestamp():
    """The generators really produce what they claim (a date dumps as a YAML timestamp)."""
    assert "2024-01-02" in dump({"secrets": {"secret/a": {"d": datetime.date(2024, 1, 2)}}})
    assert yaml.safe_load(dump({"d": datetime.date(2024, 1, 2)}))["d"] == datetime.date(2024, 1, 2)
