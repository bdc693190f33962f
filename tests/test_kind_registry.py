"""One kind = one module and one schema fragment: everything that lists the
kinds (the published schema, the planner policy, the checks, validate's
summary, docs/spec.md's reference) is assembled from the kinds themselves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vaultform import docgen, schema_build
from vaultform.kinds import registry
from vaultform.kinds.mounts import mount_splits
from vaultform.loading import load_spec
from vaultform.planner_policy import planner_policy

ROOT = Path(__file__).resolve().parent.parent


def test_published_schema_is_assembled_from_the_kinds():
    assert schema_build.stale_files() == [], "run: python -m vaultform.schema_build"


def test_every_kind_is_documented_and_the_reference_is_current():
    assert docgen.undocumented() == []
    assert docgen.main(["--check"]) == 0, "run: python -m vaultform.docgen"
    text = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    for kind in registry():
        assert kind.doc.summary and kind.doc.api and kind.doc.where
        assert f"`{kind.doc.address or kind.name + '.<id>'}`" in text


def test_a_kind_without_docs_fails_the_check(monkeypatch):
    kind = registry()[0]
    monkeypatch.setattr(type(kind), "doc", None)
    assert docgen.undocumented() == [kind.name]
    assert docgen.main(["--check"]) == 1


def test_each_section_has_one_owner_and_the_schema_knows_it():
    owners = [k.section for k in registry() if k.section]
    assert len(owners) == len(set(owners))
    root = schema_build.root_schema(registry())
    for section in owners:
        assert root["properties"][section]
    assert set(root["properties"]["prune"]["properties"]) == {k.prune_key for k in registry() if k.prune_key}


def test_a_new_kinds_section_reaches_the_schema_without_editing_it(monkeypatch):
    kind = registry()[-1]
    monkeypatch.setattr(type(kind), "section", "made_up_section", raising=False)
    monkeypatch.setattr(type(kind), "section_schema", {"type": "object"}, raising=False)
    assert "made_up_section" in schema_build.root_schema(registry())["properties"]


def test_loading_the_spec_model_imports_no_checks():
    # The old checks <-> spec cycle: spec.py is the data, loading.py loads it.
    code = "import sys, vaultform.spec; assert 'vaultform.checks' not in sys.modules; import vaultform.checks"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("key, known, expected", [
    ("secret/app/db", {"secret"}, [("secret", "app/db")]),
    ("team/kv/app", {"team/kv", "team"}, [("team/kv", "app")]),
    ("team/kv/app", set(), [("team", "kv/app"), ("team/kv", "app")]),
])
def test_one_mount_split_for_planning_and_the_planner_policy(key, known, expected):
    assert mount_splits(key, known) == expected


def test_planner_policy_covers_the_mount_vault_turns_out_to_have(tmp_path):
    # The spec does not declare team/kv; Vault has it. Planning splits at the
    # mount Vault knows; the offline policy allows every possible split.
    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\nsecrets:\n  team/kv/app:\n    k: {env: X}\n", encoding="utf-8")
    rules, _ = planner_policy(load_spec(str(spec)))
    paths = {r.path for r in rules}
    assert mount_splits("team/kv/app", {"team/kv"}) == [("team/kv", "app")]
    assert {"team/kv/metadata/app", "team/metadata/kv/app"} <= paths


def test_every_kind_with_objects_in_the_spec_contributes_planner_rules(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("""version: 1
secrets_engines: {kv: {type: kv, options: {version: "2"}}}
auth:
  k8s: {type: kubernetes, config: {kubernetes_host: "https://127.0.0.1:6443"}, roles: {r: {bound_service_account_names: [a], bound_service_account_namespaces: [b]}}}
  other: {type: approle-like-unknown, config: {x: 1}, roles: {r: {token_ttl: 1h}}}
policies: {p: 'path "kv/data/x" { capabilities = ["read"] }'}
secrets: {kv/app: {k: {env: X}}}
""", encoding="utf-8")
    rules, _ = planner_policy(load_spec(str(spec)))
    why = " ".join(r.why for r in rules)
    for address in ("kubernetes_config.k8s", "kubernetes_role.k8s/r", "approle-like-unknown_config.other",
                    "approle-like-unknown_role.other/r", "policy.p", "secret.kv/app"):
        assert address in why
