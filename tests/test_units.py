"""Small pure functions that the Vault-backed suites rely on."""

import pytest

from vaultform import redact
from vaultform.errors import SpecErrors
from vaultform.normalize import duration_seconds, string_list
from vaultform.loading import load_spec


@pytest.mark.parametrize("text, seconds", [
    (3600, 3600), ("3600", 3600), ("90m", 5400), ("1h30m", 5400), ("24h", 86400), ("1d", 86400),
    ("720h0m0s", 2592000), ("1.5h", 5400), ("", 0)])
def test_durations_read_like_vault(text, seconds):
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("bad", ["1x", "h", "1h foo", "-1h"])
def test_bad_durations_are_refused(bad):
    with pytest.raises(ValueError):
        duration_seconds(bad)


def test_comma_strings_are_lists():
    assert string_list("a, b,,c") == ["a", "b", "c"]
    assert string_list(["a", "b"]) == ["a", "b"]


def test_redaction_masks_secrets_but_not_its_own_labels():
    redact.clear()
    try:
        redact.register("sensitive value")  # a secret that is one of vaultform's own words
        redact.register("s3cr3t-value")
        text = "password: (sensitive value changed) leaked s3cr3t-value and sensitive value"
        assert redact.redact(text) == "password: (sensitive value changed) leaked (sensitive) and (sensitive)"
        redact.register("value")  # too short and common to search for: kept out by construction instead
        assert redact.redact("a value") == "a value"
    finally:
        redact.clear()


def test_redaction_finds_each_of_many_secrets_wherever_it_is():
    """Secrets are looked up by their first characters (a 10,000-object spec
    registers tens of thousands): sharing a start, overlapping, at either
    end of the text, each one is still found."""
    redact.clear()
    try:
        many = [f"tenant-{i:05d}-Kx9q" for i in range(5000)]
        for secret in many:
            redact.register(secret)
        redact.register("tenant-00042-Kx9q-longer")  # the same start as a shorter one
        text = f"{many[0]} middle {many[4999]}x tenant-00042-Kx9q-longer, tenant-0004 {many[17]}"
        assert redact.redact(text) == "(sensitive) middle (sensitive)x (sensitive), tenant-0004 (sensitive)"
        assert redact.redact("tenant-00042-Kx9") == "tenant-00042-Kx9"  # not all of one: untouched
    finally:
        redact.clear()


def test_a_value_source_nested_inside_a_secret_value_is_an_error(tmp_path):
    spec = tmp_path / "vault.yaml"
    spec.write_text("version: 1\nsecrets:\n  secret/app:\n    list:\n      - {env: HOME}\n")
    with pytest.raises(SpecErrors) as info:
        load_spec(str(spec))
    assert "vault.yaml:5:9: secrets.secret/app.list.0: a value source must be the whole value" in str(info.value)


def test_policy_problems_are_reported_beside_schema_errors(tmp_path):
    spec = tmp_path / "vault.yaml"
    spec.write_text('version: 1\nsecretz: {}\npolicies:\n  app: |\n    path "a" { capabilities = ["reed"] }\n')
    with pytest.raises(SpecErrors) as info:
        load_spec(str(spec))
    lines = str(info.value).splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{spec}:2:1: secretz: unknown section")
    assert lines[1].startswith(f"{spec}:5:") and "invalid capability 'reed'" in lines[1]
