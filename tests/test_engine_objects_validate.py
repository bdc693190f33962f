"""validate on objects inside secrets engines: offline, one line each naming
file:line and field, never a value, nothing sent to Vault."""

from __future__ import annotations

import re

import pytest
import yaml

OFFLINE = {"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": None}

BAD = [
    ({"kv1": {"type": "kv", "kv": {"max_versions": 3}}}, "secrets_engines.kv1.kv",
     "only a KV v2 mount has these settings"),
    ({"p": {"type": "pki", "keys": {"a": {}}}}, "secrets_engines.p.keys", "only a transit engine has keys"),
    ({"t": {"type": "transit", "roles": {"a": {}}}}, "secrets_engines.t.roles", "only pki and database engines"),
    ({"t": {"type": "transit", "keys": {"a": {"type": "aes256-gcm96", "key_size": 32}}}},
     "secrets_engines.t.keys.a.type", "must be \"hmac\""),
    ({"t": {"type": "transit", "keys": {"a": {"exportible": True}}}}, "secrets_engines.t.keys.a.exportible",
     "unknown field"),
    ({"t": {"type": "transit", "keys": {"a/b": {}}}}, "secrets_engines.t.keys.a/b", "the name contains '/'"),
    ({"t": {"type": "transit", "keys": {"-a": {}}}}, "secrets_engines.t.keys.-a", "is not a name Vault accepts"),
    ({"p": {"type": "pki", "root_ca": {"common_name": "R"}, "intermediate_ca": {"common_name": "I", "signed_by": "x"}}},
     "secrets_engines.p", "a pki mount holds one CA"),
    ({"p": {"type": "pki", "intermediate_ca": {"common_name": "I"}}}, "secrets_engines.p.intermediate_ca",
     "missing required field 'signed_by'"),
    ({"d": {"type": "database", "roles": {"app": {"db_name": "pg"}}}}, "secrets_engines.d.roles.app",
     "missing required field 'creation_statements'"),
    ({"d": {"type": "database", "connections": {"pg": {"plugin_name": "p", "password": {"env": "A", "x": 1}}}}},
     "secrets_engines.d.connections.pg.password", ""),
]


@pytest.mark.parametrize("engines,field,message", BAD, ids=lambda v: v if isinstance(v, str) else None)
def test_bad_engine_objects_fail_validate_with_one_located_line(engines, field, message, run_cli, tmp_path):
    spec = tmp_path / "vaultform.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "secrets_engines": engines}, sort_keys=False), encoding="utf-8")
    result = run_cli(["validate", str(spec)], env=OFFLINE)
    assert result.exit_code == 1 and "Traceback" not in result.output, str(result)
    line = next((l for l in result.stderr.splitlines() if f": {field}: " in l), None)
    assert line is not None, str(result)
    assert re.match(rf"Error: {re.escape(str(spec))}:\d+:\d+: ", line), line
    assert message in line, line


def test_the_spec_reference_example_validates(run_cli, tmp_path):
    """docs/spec.md's example of objects inside secrets engines is a valid spec."""
    from pathlib import Path
    text = (Path(__file__).resolve().parent.parent / "docs" / "spec.md").read_text(encoding="utf-8")
    section = text[text.index("### Objects inside secrets engines"):]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = tmp_path / "vaultform.yaml"
    spec.write_text("version: 1\n" + block, encoding="utf-8")
    result = run_cli(["validate", str(spec)], env={**OFFLINE, "PG_PW": "unused"})
    assert result.exit_code == 0 and "5 secrets engines" in result.stdout, str(result)


def test_a_literal_database_password_is_a_warning_naming_the_field_not_the_value(run_cli, tmp_path):
    spec = tmp_path / "vaultform.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "secrets_engines": {"db": {"type": "database", "connections": {
        "pg": {"plugin_name": "postgresql-database-plugin", "password": "hunter2-literal"}}}}}), encoding="utf-8")
    result = run_cli(["validate", str(spec)], env=OFFLINE)
    assert result.exit_code == 0, str(result)
    assert "secrets_engines.db.connections.pg.password: is a literal value" in result.output, str(result)
    assert "hunter2-literal" not in result.output
