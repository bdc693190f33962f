"""JSON and Markdown plan output: golden files, the published schema, no secrets.

Plans are built by hand (no Vault needed): the renderers only display a
Plan, so what matters is every action, every masking path and the escaping.
Rewrite the golden files after an intended change with

    VAULTFORM_UPDATE_GOLDEN=1 pytest tests/test_render_formats.py

and review the diff of tests/golden/ like any other change.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest

from vaultform.model import ABSENT, ALL_FIELDS, CREATE, DELETE, REPLACE, UPDATE, Change, FieldChange, Plan, Resource
from vaultform.planner import PlanOptions
from vaultform.render.json_plan import plan_to_json, render_json
from vaultform.render.markdown import MAX_COMMENT, render_markdown
from vaultform.render.text import render_plan

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
SCHEMA = json.loads((ROOT / "schemas" / "plan-output.schema.json").read_text(encoding="utf-8"))
ADDRESS = "https://127.0.0.1:8200"

# Every value below must never appear in any output. Long and distinctive, so a
# hit is a leak and not a coincidence.
SECRETS = {
    "db_password": "pw-Db-7f3a9c1e-never-print",
    "api_key_old": "ak-OLD-2b8d4e6f-never-print",
    "api_key_new": "ak-NEW-9c1e7f3a-never-print",
    "token_added": "tk-ADD-4e6f2b8d-never-print",
    "legacy_removed": "lg-DEL-1a2b3c4d-never-print",
    "old_secret": "os-DEL-5e6f7a8b-never-print",
    "reviewer_jwt": "eyJhbGciOi-JWT-never-print",
    "reviewer_jwt_old": "eyJhbGciOi-OLDJWT-never-print",
    "nested": "nested-9f8e7d6c-never-print",
    "record_jwt": "eyJhbGciOi-RECORD-never-print",
}


@dataclass
class FakeKind:
    """Just what the renderers read from a kind."""
    name: str
    rank: int = 50
    defaults: dict = field(default_factory=dict)
    sensitive: frozenset = frozenset()


POLICY = FakeKind("policy", 20)
SECRET = FakeKind("secret", 50)
ENGINE = FakeKind("secrets_engine", 30, defaults={"description": "", "local": False})
AUTH = FakeKind("auth_method", 30)
K8S_CONFIG = FakeKind("kubernetes_config", 40, sensitive=frozenset({"token_reviewer_jwt"}))
NODE = FakeKind("cluster_node", 1)

OLD_POLICY = 'path "secret/data/app/*" {\n  capabilities = ["read"]\n}\n'
NEW_POLICY = 'path "secret/data/app/*" {\n  capabilities = ["read", "list"]\n}\n'


def res(kind, address, desired=None, sensitive=()):
    return Resource(kind=kind, address=address, id=address.split(".", 1)[1], desired=desired,
                    sensitive=set(sensitive))


def full_plan() -> Plan:
    """One of everything, in the order the planner would produce."""
    s = SECRETS
    return Plan(changes=[
        Change(DELETE, res(SECRET, "secret.secret/old", sensitive={ALL_FIELDS}),
               live={"password": s["old_secret"], "meta": {"inner": s["nested"]}},
               reason="removed from the spec"),
        Change(DELETE, res(ENGINE, "secrets_engine.secret"),
               live={"type": "kv", "options": {"version": "2"}, "description": "old | `store`", "local": False},
               reason="removed from the spec", notes=["disabling secret/ destroys 3 secret(s)"]),
        # Rebuilt from the record: no sensitive set on the resource, only on the kind.
        Change(DELETE, res(K8S_CONFIG, "kubernetes_config.legacy"),
               live={"kubernetes_host": "https://k8s.example:6443", "token_reviewer_jwt": s["record_jwt"]},
               reason="removed from the spec"),
        Change(DELETE, res(POLICY, "policy.gone"), live=None, reason="removed from the spec"),
        Change(CREATE, res(POLICY, "policy.app", {"policy": NEW_POLICY}), reason="not in Vault"),
        Change(CREATE, res(ENGINE, "secrets_engine.transit",
                           {"type": "transit", "description": "", "local": False, "options": {}}),
               reason="not in Vault"),
        Change(CREATE, res(SECRET, "secret.secret/app/db",
                           {"username": "app", "password": s["db_password"]}, sensitive={ALL_FIELDS}),
               reason="not in Vault"),
        Change(UPDATE, res(POLICY, "policy.reader", {"policy": NEW_POLICY}),
               fields=[FieldChange("policy", OLD_POLICY, NEW_POLICY)], live={"policy": OLD_POLICY},
               reason="changed in the spec or drifted in Vault"),
        Change(UPDATE, res(AUTH, "auth_method.kubernetes"),
               fields=[FieldChange("description", "old", "cluster | `prod`"),
                       FieldChange("config.default_lease_ttl", 3600, 7200),
                       FieldChange("listing_visibility", ABSENT, "unauth"),
                       FieldChange("token_type", "service", ABSENT),
                       FieldChange("allowed", {"b", "a"}, ["a", "b", "c"])],
               live={}, reason="drifted in Vault: edited | by `hand`"),
        # Sensitive secret change: changed, added and removed keys.
        Change(UPDATE, res(SECRET, "secret.secret/app/api", sensitive={ALL_FIELDS}),
               fields=[FieldChange("api_key", s["api_key_old"], s["api_key_new"], sensitive=True),
                       FieldChange("legacy", s["legacy_removed"], ABSENT, sensitive=True),
                       FieldChange("token", ABSENT, s["token_added"], sensitive=True)],
               live={"api_key": s["api_key_old"], "legacy": s["legacy_removed"]},
               reason="changed in the spec or drifted in Vault"),
        # Sensitive by the resource only (the FieldChange forgot to say so).
        Change(UPDATE, res(K8S_CONFIG, "kubernetes_config.kubernetes", sensitive={"token_reviewer_jwt"}),
               fields=[FieldChange("token_reviewer_jwt", s["reviewer_jwt_old"], s["reviewer_jwt"]),
                       FieldChange("kubernetes_host", "https://old:6443", "https://new:6443")],
               live={}, reason="changed in the spec or drifted in Vault"),
        Change(REPLACE, res(ENGINE, "secrets_engine.cache"),
               fields=[FieldChange("type", "kv", "transit", forces_replace=True),
                       FieldChange("description", "", "cache")],
               live={"type": "kv"}, reason="changed in the spec or drifted in Vault",
               notes=["disabling cache/ destroys 2 secret(s)"]),
    ], warnings=["prune is off: 1 unmanaged policy left in place"],
        options=PlanOptions(allow_destroy=True, force=True))


def deferred_plan() -> Plan:
    node = res(NODE, "cluster_node.bao-0", {"sealed": False})
    return Plan(changes=[Change(UPDATE, node, fields=[FieldChange("sealed", True, False)], live={"sealed": True},
                                reason="sealed")],
                deferred="the cluster is sealed: the configuration is planned once it is unsealed")


def unmanaged_plan() -> Plan:
    """No changes, and objects in Vault that vaultform does not manage (given
    out of order: the renderer sorts them)."""
    return Plan(unmanaged={"secrets_engine": ["secrets_engine.legacy"],
                           "policy": ["policy.other", "namespace.team-a:policy.handmade", "policy.handmade"]},
                prune_keys={"policy": "policies", "secrets_engine": "secrets_engines"}, options=PlanOptions())


PLANS = {"full": full_plan, "deferred": deferred_plan, "empty": Plan, "unmanaged": unmanaged_plan}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("VAULTFORM_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with VAULTFORM_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), \
        f"{name} differs from the golden file; if intended, rerun with VAULTFORM_UPDATE_GOLDEN=1"


# -- golden files -------------------------------------------------------------------

def test_json_matches_golden():
    check_golden("plan.json", render_json(full_plan(), ADDRESS))


def test_markdown_matches_golden():
    check_golden("plan.md", render_markdown(full_plan(), ADDRESS))


# -- schema -------------------------------------------------------------------------

def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("name", sorted(PLANS))
def test_json_output_validates_against_schema(name):
    document = json.loads(render_json(PLANS[name](), ADDRESS))
    jsonschema.Draft202012Validator(SCHEMA).validate(document)


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(extra=1),
    lambda d: d["changes"][0].update(extra=1),
    lambda d: d["summary"].update(extra=1),
    lambda d: d["changes"][0].update(action="noop"),
    lambda d: d["changes"][0].update(after={}),        # a delete has no after
    lambda d: d.update(format_version="2.0"),
    lambda d: d["options"].update(extra=1),
    lambda d: d["options"].update(force="yes"),
    lambda d: d["options"].pop("targets"),
    lambda d: d.update(unmanaged=[]),
    lambda d: d["unmanaged"].update(extra=1),
    lambda d: d["unmanaged"]["policy"].update(extra=1),
    lambda d: d["unmanaged"]["policy"].pop("prune_key"),
    lambda d: d["unmanaged"]["policy"].update(prune_key=None),
    lambda d: d["unmanaged"]["policy"].update(addresses=[]),
    lambda d: d["unmanaged"]["policy"]["addresses"].append("policy.other"),   # listed twice
    lambda d: d["unmanaged"]["policy"]["addresses"].append({"name": "x"}),
])
def test_schema_is_strict(mutate):
    document = plan_to_json(full_plan(), ADDRESS)
    document["unmanaged"] = plan_to_json(unmanaged_plan())["unmanaged"]
    jsonschema.Draft202012Validator(SCHEMA).validate(document)  # valid before the mutation
    mutate(document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(document)


# -- JSON shape ---------------------------------------------------------------------

def by_address(document):
    return {c["address"]: c for c in document["changes"]}


def test_json_shape_per_action():
    doc = plan_to_json(full_plan(), ADDRESS)
    changes = by_address(doc)
    assert doc["summary"] == {"add": 4, "change": 4, "destroy": 5}
    assert doc["deferred"] is None and doc["vault_address"] == ADDRESS

    create = changes["secret.secret/app/db"]
    assert create["before"] is None
    assert create["after"] == {"username": "(sensitive)", "password": "(sensitive)"}
    assert create["changed_fields"] == ["password", "username"]

    delete = changes["secrets_engine.secret"]
    assert delete["after"] is None and delete["before"]["type"] == "kv"
    assert delete["notes"] == ["disabling secret/ destroys 3 secret(s)"]
    assert changes["policy.gone"]["before"] == {}  # live not known

    update = changes["auth_method.kubernetes"]
    assert update["before"]["listing_visibility"] is None          # ABSENT -> null ...
    assert update["after"]["token_type"] is None
    assert {"listing_visibility", "token_type"} <= set(update["changed_fields"])  # ... but listed
    assert update["before"]["allowed"] == ["a", "b"]               # a set, sorted

    replace = changes["secrets_engine.cache"]
    assert replace["action"] == "replace" and replace["forces_replacement"] == ["type"]
    assert replace["before"] == {"type": "kv", "description": ""}


def test_json_masks_every_sensitive_path():
    changes = by_address(plan_to_json(full_plan(), ADDRESS))
    api = changes["secret.secret/app/api"]
    assert api["before"] == {"api_key": "(sensitive)", "legacy": "(sensitive)", "token": None}
    assert api["after"] == {"api_key": "(sensitive)", "legacy": None, "token": "(sensitive)"}
    assert changes["kubernetes_config.kubernetes"]["after"]["token_reviewer_jwt"] == "(sensitive)"
    assert changes["kubernetes_config.legacy"]["before"]["token_reviewer_jwt"] == "(sensitive)"
    assert changes["secret.secret/old"]["before"] == {"password": "(sensitive)", "meta": "(sensitive)"}


def test_json_is_deterministic():
    plan = full_plan()
    plan.changes[4].resource.desired = dict(reversed(list(plan.changes[4].resource.desired.items())))
    assert render_json(plan, ADDRESS) == render_json(full_plan(), ADDRESS)
    text = render_json(full_plan(), ADDRESS)
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_vault_address_drops_credentials():
    doc = plan_to_json(Plan(), "https://user:hunter2-pass@vault.example:8200/x")
    assert doc["vault_address"] == "https://vault.example:8200/x"
    assert plan_to_json(Plan())["vault_address"] is None
    assert "hunter2" not in render_markdown(full_plan(), "https://user:hunter2-pass@vault.example:8200")


# -- objects vaultform does not manage -----------------------------------------------

def test_json_lists_unmanaged_objects_by_kind_sorted_with_their_prune_key():
    document = plan_to_json(unmanaged_plan(), ADDRESS)
    assert document["unmanaged"] == {
        "policy": {"addresses": ["namespace.team-a:policy.handmade", "policy.handmade", "policy.other"],
                   "prune_key": "policies"},
        "secrets_engine": {"addresses": ["secrets_engine.legacy"], "prune_key": "secrets_engines"}}
    assert document["changes"] == [] and document["summary"] == {"add": 0, "change": 0, "destroy": 0}
    # The same objects the text plan lists (render/text.py), and nothing else from the plan.
    listed = render_plan(unmanaged_plan(), ADDRESS, show_unmanaged=True).splitlines()
    shown = sorted(line.strip() for line in listed if line.startswith("    "))
    assert shown == sorted(a for entry in document["unmanaged"].values() for a in entry["addresses"])


def test_json_unmanaged_is_null_when_not_looked_for_and_empty_when_none_found():
    assert plan_to_json(full_plan(), ADDRESS)["unmanaged"] is None       # changes, no --show-unmanaged
    assert plan_to_json(deferred_plan(), ADDRESS)["unmanaged"] is None   # the cluster could not be read
    assert plan_to_json(Plan(unmanaged={}), ADDRESS)["unmanaged"] == {}
    jsonschema.Draft202012Validator(SCHEMA).validate(plan_to_json(Plan(unmanaged={}), ADDRESS))


def test_json_older_consumers_keys_are_unchanged():
    """1.4 only adds "unmanaged": every key a 1.3 consumer reads is still there, as it was."""
    document = plan_to_json(full_plan(), ADDRESS)
    assert set(document) == {"format_version", "vault_address", "options", "changes", "deferred", "warnings",
                             "summary", "unmanaged"}
    assert document["format_version"] == "1.4"


# -- the options a plan was made with ------------------------------------------------

TARGETED = PlanOptions(targets=("policy.reader", "secret.secret/app/`*`"), allow_destroy=True)


@pytest.mark.parametrize("name", sorted(PLANS))
def test_every_rendering_shows_the_options(name):
    plan = PLANS[name]()
    plan.options = TARGETED
    without = PLANS[name]()
    without.options = PlanOptions()
    document = plan_to_json(plan, ADDRESS)
    assert document["options"] == {"targets": ["policy.reader", "secret.secret/app/`*`"],
                                   "allow_destroy": True, "force": False}
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    text = render_plan(plan, ADDRESS).splitlines()
    line = "Planned with --target policy.reader --target secret.secret/app/`*` --allow-destroy."
    assert line in text
    # One line more, and nothing else changed.
    text.remove(line)
    assert [t for t in text if t] == [t for t in render_plan(without, ADDRESS).splitlines() if t]
    md = render_markdown(plan, ADDRESS).splitlines()
    # Each flag in its own code span, a backtick in a target cannot break out of it.
    line = "Planned with `--target policy.reader` `` --target secret.secret/app/`*` `` `--allow-destroy`."
    assert line in md
    md.remove(line)
    assert [m for m in md if m] == [m for m in render_markdown(without, ADDRESS).splitlines() if m]


def test_options_of_a_plain_plan_and_of_a_destroy_plan():
    plain_plan = Plan(options=PlanOptions())
    assert plan_to_json(plain_plan)["options"] == {"targets": [], "allow_destroy": False, "force": False}
    # No flags given: text and Markdown say nothing (that is the default behaviour).
    assert "Planned with" not in render_plan(plain_plan) + render_markdown(plain_plan)
    destroy = Plan(destroy=True)
    assert plan_to_json(destroy)["options"] is None
    jsonschema.Draft202012Validator(SCHEMA).validate(plan_to_json(destroy))
    forced = Plan(options=PlanOptions(force=True))
    assert render_plan(forced).splitlines() == ["No changes. Vault matches the spec.", "Planned with --force."]
    assert render_markdown(forced) == "**No changes.** Vault matches the spec.\n\nPlanned with `--force`.\n"


# -- Markdown -----------------------------------------------------------------------

def test_markdown_layout():
    md = render_markdown(full_plan(), ADDRESS)
    lines = md.splitlines()
    assert lines[0] == "**Plan:** 4 to add, 4 to change, 5 to destroy."
    caution, table = md.index("> [!CAUTION]"), md.index("| | Address | Action | Reason |")
    assert caution < table < md.index("<details>")
    assert "> - **delete** secrets\\_engine.secret: removed from the spec" in lines
    assert ">   - disabling secret/ destroys 3 secret(s)" in lines
    assert "| -/+ | secrets\\_engine.cache | replace | changed in the spec or drifted in Vault |" in lines
    assert "| ~ | auth\\_method.kubernetes | update | drifted in Vault: edited \\| by \\`hand\\` |" in lines
    assert md.count("<details>") == md.count("</details>") == len(full_plan().changes) - 1  # policy.gone: nothing to show
    assert "! api_key: (sensitive value changed)" in lines
    assert "+ type: \"transit\"  # forces replacement" in lines


def test_markdown_no_changes():
    assert render_markdown(Plan(), ADDRESS) == "**No changes.** Vault matches the spec.\n"


def test_markdown_deferred():
    assert render_markdown(deferred_plan(), ADDRESS) == (
        "**Plan:** 0 to add, 1 to change, 0 to destroy.\n"
        "\n"
        "Planned against `https://127.0.0.1:8200`.\n"
        "\n"
        "> [!NOTE]\n"
        "> the cluster is sealed: the configuration is planned once it is unsealed.\n"
        "\n"
        "| | Address | Action | Reason |\n"
        "|---|---|---|---|\n"
        "| ~ | cluster\\_node.bao-0 | update | sealed |\n"
        "\n"
        "<details>\n"
        "<summary>~ <code>cluster_node.bao-0</code> (update)</summary>\n"
        "\n"
        "```diff\n"
        "- sealed: true\n"
        "+ sealed: false\n"
        "```\n"
        "\n"
        "</details>\n"
    )


def test_markdown_value_cannot_close_the_fence():
    kind = FakeKind("policy")
    change = Change(UPDATE, res(kind, "policy.x"), fields=[FieldChange("policy", "a\n```\nb", "a\n````\nc")])
    md = render_markdown(Plan(changes=[change]))
    assert "`````diff" in md and "\n`````\n" in md


def test_markdown_stays_under_the_comment_limit():
    big = "x" * 2000
    changes = [Change(CREATE, res(POLICY, f"policy.p{i}", {"policy": big}), reason="not in Vault")
               for i in range(60)]
    md = render_markdown(Plan(changes=changes))
    assert len(md) <= MAX_COMMENT + 200
    assert "more object(s) omitted" in md
    assert "| + | policy.p59 | create | not in Vault |" in md  # the table still lists everything


# -- no secret, ever ----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PLANS))
@pytest.mark.parametrize("render", [render_json, render_markdown], ids=["json", "markdown"])
def test_no_secret_in_any_output(name, render):
    text = render(PLANS[name](), ADDRESS)
    leaked = [key for key, value in SECRETS.items() if value in text or json.dumps(value)[1:-1] in text]
    assert not leaked, f"secret values leaked into {render.__name__} output: {leaked}"
