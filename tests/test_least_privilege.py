"""Least-privilege planning, against a real OpenBao.

`vaultform planner-policy SPEC` prints a policy; a token holding exactly that
policy (and not even `default`) must plan the spec, must be refused every
secret's data and any write, and must still see (a) values the spec changes,
by the fingerprints recorded at apply, and (b) secrets changed in Vault since
the last apply, by their KV v2 metadata version, saying which.

Each test has its own mounts, policy names and ownership record on the shared
dev server; the pruning test, which sees everything in Vault, gets its own.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Dict, List, Optional

import hvac
import pytest
import yaml

from tests.support.bao import BaoDevServer
from tests.support.record import recorded_objects, rewrite_entry
from tests.test_kinds_contract import ca_pem, parse_plan

CHANGED = "(sensitive value changed)"
ADDED = "(sensitive value added)"
REMOVED = "(sensitive value removed)"
NO_FINGERPRINTS = "no fingerprints yet: run apply once with a full token"


def rand() -> str:
    return secrets.token_hex(8)


def policy_rules(hcl: str) -> Dict[str, List[str]]:
    """path -> capabilities, from the HCL planner-policy prints."""
    rules = {}
    for path, caps in re.findall(r'path "([^"]+)" \{\s*capabilities = \[([^\]]*)\]\s*\}', hcl):
        rules[path] = [c.strip().strip('"') for c in caps.split(",") if c.strip()]
    return rules


class Planner:
    """A spec with its own KV v2 mount, Kubernetes auth, policy and record;
    the root token applies it, a planner token made from the printed policy
    plans it. Every output and every value used is kept for the final scan."""

    def __init__(self, run_cli, root: hvac.Client, vault_env: dict, tmp_path: Path, unique):
        self.run_cli, self.root, self.dir = run_cli, root, tmp_path
        self.kv, self.auth, self.policy = unique("lpkv"), unique("lpk8s"), unique("lppol")
        self.record = unique("lp-record")
        self.path = "app/config"
        self.address = f"secret.{self.kv}/{self.path}"
        self.var = f"VF_LP_{unique('pw').replace('-', '_').upper()}"
        self.jwt_var = self.var + "_JWT"
        self.values = {"username": f"svc-{rand()}", "password": f"pw-{rand()}", "jwt": f"eyJ.{rand()}.sig"}
        self.env = {**vault_env, self.var: self.values["password"], self.jwt_var: self.values["jwt"]}
        self.root_token = vault_env["VAULT_TOKEN"]
        self.outputs: List[str] = []
        self.text_outputs: List[str] = []
        self.planner_token: Optional[str] = None
        (tmp_path / "ca.crt").write_text(ca_pem(), encoding="utf-8")

    # -- the spec -----------------------------------------------------------------
    def sections(self, secret: Optional[dict] = None, **extra) -> dict:
        data = secret if secret is not None else {"username": self.values["username"], "password": {"env": self.var}}
        return {
            "secrets_engines": {self.kv: {"type": "kv", "options": {"version": 2}}},
            "auth": {self.auth: {"type": "kubernetes",
                                 "config": {"kubernetes_host": "https://k8s.example:6443",
                                            "kubernetes_ca_cert": {"file": "ca.crt"},
                                            "token_reviewer_jwt": {"env": self.jwt_var}},
                                 "roles": {"web": {"bound_service_account_names": ["web"],
                                                   "bound_service_account_namespaces": ["prod"],
                                                   "token_policies": [self.policy]}}}},
            "policies": {self.policy: f'path "{self.kv}/data/{self.path}" {{ capabilities = ["read"] }}\n'},
            "secrets": {f"{self.kv}/{self.path}": data},
            **extra,
        }

    def write(self, sections: dict) -> str:
        spec = self.dir / "vaultform.yaml"
        doc = {"version": 1, "vault": {"record": {"path": self.record}}, **sections}
        spec.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return str(spec)

    # -- running it ---------------------------------------------------------------
    def run(self, args: List[str], token: Optional[str] = None, **env):
        result = self.run_cli(args, env={**self.env, "VAULT_TOKEN": token or self.root_token, **env})
        self.outputs.append(result.output)
        if "json" not in args:  # the JSON plan's own mask is "(sensitive)", the redactor's word too
            self.text_outputs.append(result.output)
        assert result.exception is None, f"main() let an exception escape: {result.exception!r}\n{result}"
        return result

    def apply(self, sections: dict, **env):
        result = self.run(["apply", self.write(sections), "--auto-approve"], **env)
        assert result.exit_code == 0, str(result)
        return result

    def plan(self, sections: dict, *flags: str, full: bool = False, **env):
        """Plan with the planner token (or the root token when full)."""
        token = self.root_token if full else self.planner_token
        result = self.run(["plan", self.write(sections), "--detailed-exitcode", *flags], token=token, **env)
        return result, parse_plan(result.stdout)

    def assert_planner_sees_nothing(self, sections: dict, **env) -> None:
        result, _ = self.plan(sections, **env)
        assert result.exit_code == 0 and "No changes" in result.stdout, str(result)

    def make_planner_token(self, sections: dict, *flags: str) -> str:
        """Write the printed policy to Vault and a token holding only it."""
        result = self.run(["planner-policy", self.write(sections), *flags])
        assert result.exit_code == 0, str(result)
        name = f"planner-{self.record}"
        self.root.sys.create_or_update_acl_policy(name, result.stdout)
        self.planner_token = self.root.auth.token.create(
            policies=[name], no_default_policy=True, ttl="10m")["auth"]["client_token"]
        return self.planner_token

    # -- Vault behind vaultform's back ----------------------------------------------
    def hand_write(self, data: dict) -> None:
        self.root.secrets.kv.v2.create_or_update_secret(self.path, data, mount_point=self.kv)

    def current_version(self) -> int:
        return self.root.secrets.kv.v2.read_secret_metadata(self.path, mount_point=self.kv)["data"]["current_version"]

    def record_doc(self) -> dict:
        return {"objects": recorded_objects(self.root, self.record)}

    def assert_no_secrets(self, extra: List[str] = ()) -> None:
        from vaultform.redact import MASK
        record = json.dumps(self.record_doc())
        for value in [*self.values.values(), *extra]:
            for output in self.outputs:
                assert value not in output, f"a secret value was printed:\n{output}"
            assert value not in record, "the ownership record holds a secret value"
        for output in self.text_outputs:
            assert MASK not in output, f"a secret reached the output and was caught only by redaction:\n{output}"


@pytest.fixture
def lp(run_cli, root, vault_env, tmp_path, unique):
    planner = Planner(run_cli, root, vault_env, tmp_path, unique)
    yield planner


@pytest.fixture
def applied(lp):
    """The base spec applied with the root token, and a planner token made from it."""
    lp.apply(lp.sections())
    lp.make_planner_token(lp.sections())
    return lp


# -- the policy itself -----------------------------------------------------------------


def test_policy_is_exact_read_only_and_never_grants_secret_data(lp, unique):
    # Offline: nothing listens at VAULT_ADDR, and the env values are not set.
    spec = lp.write(lp.sections(secret={"password": {"env": "VF_LP_UNSET"}, "pin": {"generate": {}}}))
    result = lp.run(["planner-policy", spec], VAULT_ADDR="http://127.0.0.1:9", VAULT_TOKEN=None,
                    **{lp.var: None, lp.jwt_var: None})
    assert result.exit_code == 0, str(result)
    assert policy_rules(result.stdout) == {
        "sys/mounts": ["read"],
        "sys/auth": ["read"],
        f"vaultform/metadata/{lp.record}/": ["list"],
        f"vaultform/data/{lp.record}/*": ["read"],
        f"vaultform/data/{lp.record}": ["read"],
        f"vaultform/data/{lp.record}-fingerprint-key": ["read"],
        f"sys/policies/acl/{lp.policy}": ["read"],
        f"auth/{lp.auth}/config": ["read"],
        f"auth/{lp.auth}/role/web": ["read"],
        f"{lp.kv}/metadata/{lp.path}": ["read"],
    }
    # Vault accepts it as it is.
    lp.root.sys.create_or_update_acl_policy(unique("check"), result.stdout)


def test_policy_options_pruning_kv1_and_unmanaged_mounts(lp):
    sections = lp.sections(prune={"policies": True, "auth_roles": True})
    sections["secrets_engines"]["old"] = {"type": "kv"}
    sections["secrets"].update({"old/legacy": {"k": "v"}, "secret/dev/x": {"k": {"generate": {}}}})
    result = lp.run(["planner-policy", lp.write(sections)])
    assert result.exit_code == 0, str(result)
    rules = policy_rules(result.stdout)
    # Pruning finds and reads objects the spec does not name: globs, there only.
    assert rules["sys/policies/acl/"] == ["list"] and rules["sys/policies/acl/*"] == ["read"]
    assert rules["auth/+/role/"] == ["list"] and rules["auth/+/role/+"] == ["read"]
    assert not any(p.startswith(("sys/policies/acl/", f"auth/{lp.auth}/role/")) and not p.endswith(("*", "+", "/"))
                   for p in rules), rules
    assert rules["secret/metadata/dev/x"] == ["read"]
    assert "assumed KV v2" in result.stdout  # secret/ is not in the spec: said, not hidden
    assert not any(p.startswith("old/") for p in rules), rules  # KV v1: nothing readable without data
    assert "secret.old/legacy is KV v1" in result.stdout

    wide = policy_rules(lp.run(["planner-policy", lp.write(sections), "--wildcards"]).stdout)
    assert wide["sys/policies/acl/*"] == ["read"]
    assert wide[f"auth/{lp.auth}/role/+"] == ["read"]
    assert wide[f"{lp.kv}/metadata/*"] == ["read"] and wide["secret/metadata/*"] == ["read"]
    for rules_ in (rules, wide):
        assert {c for caps in rules_.values() for c in caps} <= {"read", "list"}
        # No data path but the record's own.
        assert [p for p in rules_ if "/data/" in p] == [f"vaultform/data/{lp.record}/*",
                                                       f"vaultform/data/{lp.record}",
                                                       f"vaultform/data/{lp.record}-fingerprint-key"]


def test_secret_on_a_non_kv_mount_is_a_located_error(lp):
    sections = lp.sections()
    sections["secrets_engines"]["pki"] = {"type": "pki"}
    sections["secrets"]["pki/x"] = {"k": "v"}
    result = lp.run(["planner-policy", lp.write(sections)])
    assert result.exit_code == 1 and result.stdout == "", str(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.match(r"Error: .*vaultform\.yaml:\d+:\d+: secrets\.pki/x: pki/ is not a KV mount$",
                                        lines[0]), str(result)


# -- what the planner token can and cannot do ----------------------------------------------


def test_planner_token_is_refused_secret_data_and_writes(applied, bao):
    lp = applied
    planner = hvac.Client(url=bao.address, token=lp.planner_token)
    with pytest.raises(hvac.exceptions.Forbidden):
        planner.read(f"{lp.kv}/data/{lp.path}")
    with pytest.raises(hvac.exceptions.Forbidden):
        planner.write_data(f"sys/policies/acl/{lp.policy}", data={"policy": ""})
    with pytest.raises(hvac.exceptions.Forbidden):
        planner.write_data(f"vaultform/data/{lp.record}/00", data={"data": {}})
    assert planner.read(f"{lp.kv}/metadata/{lp.path}")["data"]["current_version"] == 1


def test_planner_plans_an_applied_spec_as_unchanged(applied):
    applied.assert_planner_sees_nothing(applied.sections())
    applied.assert_no_secrets()


def test_value_changed_in_the_spec_is_seen_by_fingerprint(applied):
    lp = applied
    new = f"pw-rotated-{rand()}"
    result, blocks = lp.plan(lp.sections(), **{lp.var: new})
    assert result.exit_code == 2, str(result)
    block = blocks[lp.address]
    assert (block.symbol, block.reason, block.fields) == ("~", "changed in the spec", {"password": CHANGED})
    assert list(blocks) == [lp.address], str(result)  # nothing else moved
    # The full token, which reads the values, says the same about the fields.
    _, full = lp.plan(lp.sections(), full=True, **{lp.var: new})
    assert full[lp.address].fields == block.fields
    # Machine-readable too, masked the same way.
    result, _ = lp.plan(lp.sections(), "--format", "json", **{lp.var: new})
    change = next(c for c in json.loads(result.stdout)["changes"] if c["address"] == lp.address)
    assert (change["reason"], change["before"], change["after"]) == (
        "changed in the spec", {"password": "(sensitive)"}, {"password": "(sensitive)"})

    # Keys added to and removed from the spec.
    secret = {"password": {"env": lp.var}, "extra": "x-" + rand()}
    result, blocks = lp.plan(lp.sections(secret=secret))
    assert blocks[lp.address].fields == {"extra": ADDED, "username": REMOVED}, str(result)

    lp.apply(lp.sections(), **{lp.var: new})
    lp.assert_planner_sees_nothing(lp.sections(), **{lp.var: new})
    lp.assert_no_secrets([new, secret["extra"]])


def test_change_in_vault_is_seen_by_kv_version(applied):
    lp = applied
    hand = f"hand-{rand()}"
    lp.hand_write({"username": lp.values["username"], "password": hand})
    result, blocks = lp.plan(lp.sections())
    assert result.exit_code == 2, str(result)
    block = blocks[lp.address]
    assert block.reason == "changed in Vault since the last apply (version 2, applied 1)", str(result)
    assert block.fields == {"password": CHANGED, "username": CHANGED}  # apply writes the whole secret

    new = f"pw-new-{rand()}"
    _, blocks = lp.plan(lp.sections(), **{lp.var: new})
    assert blocks[lp.address].reason == "changed in the spec and in Vault since the last apply (version 2, applied 1)"

    lp.apply(lp.sections())  # the full token puts the spec's values back: version 3
    assert lp.current_version() == 3
    lp.assert_planner_sees_nothing(lp.sections())
    lp.assert_no_secrets([hand, new])


def test_rewritten_by_hand_with_the_same_values_is_settled_by_a_full_apply(applied):
    lp = applied
    lp.hand_write({"username": lp.values["username"], "password": lp.values["password"]})
    _, blocks = lp.plan(lp.sections())
    assert blocks[lp.address].reason == "changed in Vault since the last apply (version 2, applied 1)"
    # The full token sees equal values: nothing to write, but the record learns version 2.
    result = lp.apply(lp.sections())
    assert "No changes" in result.stdout, str(result)
    assert lp.current_version() == 2
    assert lp.record_doc()["objects"][lp.address]["meta"]["kv_version_applied"] == 2
    lp.assert_planner_sees_nothing(lp.sections())


@pytest.mark.parametrize("lost", ["fingerprints", "key"])
def test_without_fingerprints_the_plan_says_so_until_a_full_apply(applied, lost):
    lp = applied
    if lost == "key":
        lp.root.secrets.kv.v2.delete_metadata_and_all_versions(f"{lp.record}-fingerprint-key", mount_point="vaultform")
    else:  # a record written before secrets had fingerprints
        entry = lp.record_doc()["objects"][lp.address]
        del entry["fingerprints"]
        rewrite_entry(lp.root, lp.address, entry, lp.record)
    result, blocks = lp.plan(lp.sections())
    assert result.exit_code == 2, str(result)
    assert blocks[lp.address].reason == NO_FINGERPRINTS, str(result)
    assert lp.current_version() == 1  # the planner wrote nothing (it could not)

    lp.apply(lp.sections())
    assert lp.current_version() == 1  # values were equal: only the record was rewritten
    assert set(lp.record_doc()["objects"][lp.address]["fingerprints"]) == {"username", "password"}
    lp.assert_planner_sees_nothing(lp.sections())
    lp.assert_no_secrets()


def test_secret_deleted_in_vault_is_created_again(lp):
    # A mount whose versions expire later: their deletion_time is set (in the
    # future) from the start, and they exist until then.
    lp.root.sys.enable_secrets_engine("kv", path=lp.kv, options={"version": "2"})
    lp.root.secrets.kv.v2.configure(delete_version_after="1h", mount_point=lp.kv)
    lp.apply(lp.sections())
    lp.make_planner_token(lp.sections())
    metadata = lp.root.secrets.kv.v2.read_secret_metadata(lp.path, mount_point=lp.kv)["data"]
    assert metadata["versions"]["1"]["deletion_time"], metadata  # what this test is about
    lp.assert_planner_sees_nothing(lp.sections())

    lp.root.secrets.kv.v2.delete_latest_version_of_secret(lp.path, mount_point=lp.kv)
    result, blocks = lp.plan(lp.sections())
    assert result.exit_code == 2 and blocks[lp.address].symbol == "+", str(result)
    assert blocks[lp.address].fields == {"username": "(sensitive value)", "password": "(sensitive value)"}


def test_adopted_and_generated_secrets_plan_unchanged(lp):
    # Made by hand before the first apply, identical to the spec: adopted, not written.
    lp.root.sys.enable_secrets_engine("kv", path=lp.kv, options={"version": "2"})
    lp.hand_write({"username": lp.values["username"], "password": lp.values["password"]})
    secret = {"username": lp.values["username"], "password": {"env": lp.var}, "token": {"generate": {"length": 24}}}
    lp.apply(lp.sections(secret=secret))
    assert lp.current_version() == 2  # the generated key was added: one write
    lp.make_planner_token(lp.sections(secret=secret))
    lp.assert_planner_sees_nothing(lp.sections(secret=secret))

    # A generated key is never overwritten, so only a change in Vault shows.
    generated = lp.root.secrets.kv.v2.read_secret_version(lp.path, mount_point=lp.kv,
                                                          raise_on_deleted_version=True)["data"]["data"]["token"]
    lp.hand_write({"username": lp.values["username"], "password": lp.values["password"], "token": "t-" + rand()})
    _, blocks = lp.plan(lp.sections(secret=secret))
    assert blocks[lp.address].reason == "changed in Vault since the last apply (version 3, applied 2)"
    lp.assert_no_secrets([generated])


def test_adopted_unchanged_secret_is_recorded_with_fingerprints(lp):
    lp.root.sys.enable_secrets_engine("kv", path=lp.kv, options={"version": "2"})
    lp.hand_write({"username": lp.values["username"], "password": lp.values["password"]})
    # Before any apply: in Vault, unknown to the record, values unreadable.
    lp.make_planner_token(lp.sections())
    result, blocks = lp.plan(lp.sections())
    assert blocks[lp.address].reason == ("exists in Vault but is not managed yet: "
                                         "this token cannot compare its values"), str(result)
    assert blocks[lp.address].fields == {"password": CHANGED, "username": CHANGED}

    lp.apply(lp.sections())
    assert lp.current_version() == 1  # adopted: nothing written
    entry = lp.record_doc()["objects"][lp.address]
    assert entry["meta"]["kv_version_applied"] == 1 and set(entry["fingerprints"]) == {"username", "password"}
    lp.make_planner_token(lp.sections())
    lp.assert_planner_sees_nothing(lp.sections())
    lp.assert_no_secrets()


def test_kv_v1_spec_changes_are_seen_but_changes_in_vault_are_not(lp):
    sections = lp.sections()
    sections["secrets_engines"][lp.kv] = {"type": "kv"}
    lp.apply(sections)
    lp.make_planner_token(sections)
    lp.assert_planner_sees_nothing(sections)

    new = f"pw-v1-{rand()}"
    result, blocks = lp.plan(sections, **{lp.var: new})
    assert result.exit_code == 2, str(result)
    assert (blocks[lp.address].reason, blocks[lp.address].fields) == ("changed in the spec", {"password": CHANGED})

    # KV v1 keeps no versions: a change made in Vault is invisible to this token
    # (docs/least-privilege.md says so), but not to the full one.
    lp.root.write_data(f"{lp.kv}/{lp.path}", data={"username": "someone", "password": "else-" + rand()})
    lp.assert_planner_sees_nothing(sections)
    _, full = lp.plan(sections, full=True)
    assert full[lp.address].symbol == "~"

    # Nor can it tell whether a KV v1 secret it does not manage yet exists.
    sections["secrets"][f"{lp.kv}/app/other"] = {"k": {"env": lp.var}}
    _, blocks = lp.plan(sections)
    assert blocks[f"secret.{lp.kv}/app/other"].reason == (
        "not managed yet: this token cannot read KV v1 data to tell whether it exists or differs")
    lp.assert_no_secrets([new])


def test_removed_objects_and_a_removed_mount_plan_with_the_planner_token(applied):
    lp = applied
    without_secret = {k: v for k, v in lp.sections().items() if k != "secrets"}
    result, blocks = lp.plan(without_secret)
    assert result.exit_code == 2 and blocks[lp.address].symbol == "-", str(result)

    without_mount = {k: v for k, v in without_secret.items() if k != "secrets_engines"}
    result, blocks = lp.plan(without_mount, "--allow-destroy")
    assert result.exit_code == 2, str(result)
    mount = blocks[f"secrets_engine.{lp.kv}"]
    assert mount.symbol == "-"
    # The planner may not list the mount's keys to count them: it says so and still plans.
    assert mount.notes == [f"disabling {lp.kv}/ destroys every secret stored under it (this token cannot list them)"]


def test_added_objects_need_the_policy_remade_or_wildcards(applied):
    lp = applied
    added = lp.sections()
    added["policies"]["lp-added-" + lp.policy] = 'path "x/*" { capabilities = ["read"] }\n'
    added["secrets"][f"{lp.kv}/app/other"] = {"k": {"env": lp.var}}
    result, _ = lp.plan(added)
    assert result.exit_code == 1 and "Traceback" not in result.output, str(result)
    errors = result.stderr.strip().splitlines()
    denied = (f"Error: permission denied: GET sys/policies/acl/lp-added-{lp.policy} needs the 'read' "
              f"capability on 'sys/policies/acl/lp-added-{lp.policy}' (Vault at {lp.env['VAULT_ADDR']})")
    assert errors == [denied]

    lp.make_planner_token(lp.sections(), "--wildcards")
    result, blocks = lp.plan(added)
    assert result.exit_code == 2, str(result)
    assert {a: b.symbol for a, b in blocks.items()} == {f"policy.lp-added-{lp.policy}": "+",
                                                        f"secret.{lp.kv}/app/other": "+"}
    lp.assert_planner_sees_nothing(lp.sections())
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=lp.env["VAULT_ADDR"], token=lp.planner_token).read(f"{lp.kv}/data/{lp.path}")
    lp.assert_no_secrets()


def test_pruning_plans_with_the_planner_token(run_cli, tmp_path, unique):
    # Pruning sees every policy and role in Vault: a server of its own.
    with BaoDevServer() as server:
        root = server.client()
        env = {"VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token, "HOME": str(tmp_path),
               "VAULT_NAMESPACE": None, "BAO_ADDR": None, "BAO_TOKEN": None}
        lp = Planner(run_cli, root, env, tmp_path, unique)
        # With policies pruned, the planner policy must be in the spec too; its
        # paths depend on the names in the spec, not on any policy's text.
        draft = lp.sections(prune={"policies": True, "auth_roles": True})
        draft["policies"]["vaultform-planner"] = "# made below\n"
        result = lp.run(["planner-policy", lp.write(draft)])
        assert result.exit_code == 0, str(result)
        sections = {**draft, "policies": {**draft["policies"], "vaultform-planner": result.stdout}}
        lp.apply(sections)
        lp.planner_token = root.auth.token.create(policies=["vaultform-planner"], no_default_policy=True,
                                                  ttl="10m")["auth"]["client_token"]
        lp.assert_planner_sees_nothing(sections)

        root.sys.create_or_update_acl_policy("made-by-hand", 'path "x" { capabilities = ["read"] }')
        root.write_data(f"auth/{lp.auth}/role/stray", data={"bound_service_account_names": ["a"],
                                                            "bound_service_account_namespaces": ["b"]})
        result, blocks = lp.plan(sections)
        assert result.exit_code == 2, str(result)
        assert {a: b.symbol for a, b in blocks.items()} == {"policy.made-by-hand": "-",
                                                            f"kubernetes_role.{lp.auth}/stray": "-"}
        lp.assert_no_secrets()


def test_names_cannot_add_rules_through_the_comments():
    from vaultform.planner_policy import Rule, render_hcl

    hcl = render_hcl([Rule('odd"name\n', "read", 'policy.x\npath "*" { capabilities = ["sudo"] }')],
                     ["a\nb"], "spec\n.yaml")
    assert [line for line in hcl.splitlines() if line.startswith("path")] == ['path "odd\\"name\\n" {']
    assert all(line.startswith(("#", "path ", "  capabilities", "}")) or not line for line in hcl.splitlines())
