"""Safety rails against a real OpenBao: disabling mounts, prevent_destroy, bulk changes.

Every refusal must happen at plan time (plan and apply alike), exit 1 with
one `Error:` line naming the addresses, the reason and what overrides it,
and leave Vault exactly as it was. Each test uses its own mounts, policy
names and ownership record, on the session's dev server.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import yaml

from tests.support.cli import assert_clean_failure, assert_no_secrets, clean_env, run
from tests.support.record import record_versions, recorded_objects


class Workspace:
    """A spec file with its own ownership record; every output kept for the secret scan."""

    def __init__(self, run_cli, tmp_path: Path, env: dict, record: str, root):
        self.run_cli = run_cli
        self.env = env
        self.record = record
        self.root = root
        self.spec_path = tmp_path / "vaultform.yaml"
        self.outputs: List[str] = []
        self.values: Dict[str, str] = {}   # env var -> secret value the spec reads

    def write(self, sections: dict) -> str:
        doc = {"version": 1, "vault": {"record": {"path": self.record}}, **sections}
        self.spec_path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return str(self.spec_path)

    def secret(self, name: str) -> dict:
        """A value source for a fresh secret value (kept for the scan)."""
        self.values.setdefault(name, f"s3cret-{secrets.token_hex(8)}")
        return {"env": name}

    def run(self, command: str, sections: dict, *flags: str):
        args = [command, self.write(sections), *flags]
        if command in ("apply", "destroy"):
            args.append("--auto-approve")
        result = self.run_cli(args, env={**self.env, **self.values})
        self.outputs.append(result.output)
        assert result.exception is None, f"main() let an exception escape: {result.exception!r}\n{result}"
        return result

    def plan(self, sections: dict, *flags: str):
        return self.run("plan", sections, "--detailed-exitcode", *flags)

    def apply(self, sections: dict, *flags: str):
        result = self.run("apply", sections, *flags)
        assert result.exit_code == 0 and "Error" not in result.stderr, str(result)
        return result

    def refused(self, command: str, sections: dict, *flags: str) -> str:
        """Run a command that must be refused; return its one error line."""
        before = self.snapshot()
        result = self.run(command, sections, *flags) if command != "plan" else self.plan(sections, *flags)
        assert result.exit_code == 1, str(result)
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "Traceback" not in result.output, str(result)
        assert self.snapshot() == before, "a refused run changed Vault"
        return errors[0]

    def recorded(self) -> Dict[str, dict]:
        return recorded_objects(self.root, self.record)

    def snapshot(self) -> tuple:
        """What a refused run must leave as it was: mounts, auth methods,
        policies, and the record's version (any record write bumps it)."""
        mounts = {k: (v["type"], v.get("seal_wrap"), v.get("local")) for k, v in self.root.read("sys/mounts")["data"].items()}
        auths = {k: (v["type"], v.get("local")) for k, v in self.root.read("sys/auth")["data"].items()}
        policies = {name: self.root.sys.read_policy(name)["data"]["rules"]
                    for name in self.root.sys.list_policies()["data"]["policies"]}
        return mounts, auths, policies, record_versions(self.root, self.record)

    def assert_no_secret_in_output(self) -> None:
        for output in self.outputs:
            assert_no_secrets(output, [*self.values.values(), self.root.token], "vaultform's output")


@pytest.fixture
def ws(run_cli, tmp_path, vault_env, unique, root):
    workspace = Workspace(run_cli, tmp_path, vault_env, f"safety/{unique('rec')}", root)
    yield workspace
    workspace.assert_no_secret_in_output()


def kv(**extra) -> dict:
    return {"type": "kv", "options": {"version": "2"}, **extra}


def mounted(root, path: str, table: str = "mounts") -> Optional[dict]:
    return root.read(f"sys/{table}")["data"].get(f"{path}/")


# -- disabling a secrets engine or an auth method --------------------------------------


def test_disabling_a_mount_is_refused_without_allow_destroy(ws, unique, root):
    mount = unique("old")
    spec = {"secrets_engines": {mount: kv()},
            "secrets": {f"{mount}/app/{n}": {"k": ws.secret(f"SAFETY_{n.upper()}")} for n in ("a", "b", "c")}}
    ws.apply(spec)

    expected = (f"Error: refusing to disable secrets_engine.{mount} (destroys 3 secret(s) stored under it): "
                "pass --allow-destroy or list it under allow_destroy in the spec")
    assert ws.refused("plan", {}) == expected
    assert ws.refused("apply", {}) == expected
    # --target cannot single out the deletion to slip past the rail, nor --force.
    assert ws.refused("plan", {}, "--target", f"secrets_engine.{mount}", "--force") == expected
    assert root.read(f"{mount}/data/app/a")["data"]["data"] == {"k": ws.values["SAFETY_A"]}

    result = ws.plan({}, "--allow-destroy")
    assert result.exit_code == 2 and f"- secrets_engine.{mount}" in result.stdout, str(result)
    ws.apply({}, "--allow-destroy")
    assert mounted(root, mount) is None
    assert ws.plan({}).exit_code == 0


def test_allow_destroy_in_the_spec_names_what_may_go(ws, unique, root):
    prefix = unique("scratch")
    kv_mount, auth_mount = f"{prefix}-kv", f"{prefix}-auth"
    ws.apply({"secrets_engines": {kv_mount: kv()}, "auth": {auth_mount: {"type": "approle", "roles": {
        "ci": {"token_ttl": "1h"}, "deploy": {"token_ttl": "1h"}}}}})

    # A glob covers the secrets engine; the auth method is not listed, so the
    # whole plan is refused and nothing at all is disabled.
    only_kv = {"allow_destroy": [f"secrets_engine.{prefix}-*"]}
    assert ws.refused("apply", only_kv) == (
        f"Error: refusing to disable auth_method.{auth_mount} (destroys its config, 2 role(s) and every token "
        f"it issued): pass --allow-destroy or list it under allow_destroy in the spec")
    assert mounted(root, kv_mount) is not None

    both = {"allow_destroy": [f"secrets_engine.{prefix}-*", f"auth_method.{auth_mount}"]}
    ws.apply(both)
    assert mounted(root, kv_mount) is None and mounted(root, auth_mount, "auth") is None


def test_several_mounts_are_named_with_a_count(ws, unique):
    mounts = [unique("many") for _ in range(7)]
    ws.apply({"secrets_engines": {m: kv() for m in mounts}})
    line = ws.refused("plan", {})
    shown = ", ".join(sorted(f"secrets_engine.{m}" for m in mounts)[:5])
    assert line == (f"Error: refusing to disable 7 mounts and everything stored under them ({shown} and 2 more): "
                    "pass --allow-destroy or list them under allow_destroy in the spec")


def test_replacing_a_mount_is_refused_unless_deletable_or_allowed(ws, unique, root):
    mount, auth = unique("rep"), unique("repauth")
    spec = {"secrets_engines": {mount: kv()}, "auth": {auth: {"type": "approle"}},
            "secrets": {f"{mount}/app": {"k": ws.secret("SAFETY_REPLACED")}}}
    ws.apply(spec)
    spec["secrets_engines"][mount]["seal_wrap"] = True

    line = ws.refused("plan", spec)
    # The mount is in the spec: the error points at its line.
    assert line == (f"Error: {ws.spec_path}:6:3: refusing to replace secrets_engine.{mount} (re-creating it "
                    "destroys 1 secret(s) stored under it): pass --allow-destroy or set deletable: true on it "
                    "in the spec")
    ws.refused("apply", spec)

    spec["secrets_engines"][mount]["deletable"] = True
    result = ws.apply(spec)
    assert f"-/+ secrets_engine.{mount}" in result.stdout, str(result)
    assert mounted(root, mount)["seal_wrap"] is True
    assert root.read(f"{mount}/data/app")["data"]["data"] == {"k": ws.values["SAFETY_REPLACED"]}

    # An auth method re-created (local changes): allow_destroy covers a mount
    # still in the spec as well (--allow-destroy: see the contract suite).
    spec["auth"][auth]["local"] = True
    assert "refusing to replace auth_method." in ws.refused("apply", spec)
    spec["allow_destroy"] = [f"auth_method.{auth}"]
    ws.apply(spec)
    assert mounted(root, auth, "auth")["local"] is True
    assert ws.plan(spec).exit_code == 0


# -- prevent_destroy -----------------------------------------------------------------------


def test_prevent_destroy_is_refused_even_with_every_flag_and_after_removal_from_the_spec(ws, unique, root,
                                                                                       monkeypatch):
    mount = unique("keep")
    address = f"secrets_engine.{mount}"
    spec = {"secrets_engines": {mount: kv()},
            "secrets": {f"{mount}/db": {"password": ws.secret("SAFETY_KEPT")}}}
    ws.apply(spec)

    # Marking an unchanged mount: nothing in Vault holds the flag, so the plan
    # shows it as a change that only the ownership record takes.
    spec["secrets_engines"][mount]["prevent_destroy"] = True
    result = ws.plan(spec)
    assert result.exit_code == 2 and "prevent_destroy : false -> true" in result.stdout, str(result)
    assert (f"~ {address}  (prevent_destroy changed in the spec; only the ownership record is written)"
            in result.stdout), str(result)
    from vaultform.connection import VaultAPI
    writes, write = [], VaultAPI.write

    def spy(api, path, *args, **kwargs):
        writes.append(path)
        return write(api, path, *args, **kwargs)

    monkeypatch.setattr(VaultAPI, "write", spy)
    ws.apply(spec)
    monkeypatch.setattr(VaultAPI, "write", write)
    assert any(w.startswith(f"vaultform/data/{ws.record}/") for w in writes) and not [w for w in writes if w.startswith(("sys/", mount))]
    assert ws.recorded()[address]["prevent_destroy"] is True
    assert ws.plan(spec).exit_code == 0

    replaced = {**spec, "secrets_engines": {mount: kv(prevent_destroy=True, seal_wrap=True, deletable=True)}}
    assert ws.refused("apply", replaced, "--allow-destroy", "--force") == (
        f"Error: {ws.spec_path}:6:3: refusing to replace {address}: it is marked prevent_destroy in the spec, "
        "which no flag overrides; set prevent_destroy: false on it and apply first")

    removal = (f"Error: refusing to disable {address} removed from the spec: it was last applied with "
               "prevent_destroy: true, which no flag overrides; put it back in the spec with "
               "prevent_destroy: false and apply first")
    assert ws.refused("plan", {}, "--allow-destroy") == removal
    assert ws.refused("apply", {"allow_destroy": [address]}, "--allow-destroy", "--force") == removal
    assert ws.refused("destroy", spec) == (
        f"Error: {ws.spec_path}:6:3: refusing to destroy {address}: it is marked prevent_destroy in the spec, "
        "which no flag overrides; set prevent_destroy: false on it and apply first")
    assert root.read(f"{mount}/data/db")["data"]["data"] == {"password": ws.values["SAFETY_KEPT"]}

    # The way out: clear the mark and apply, then the removal is an ordinary one.
    spec["secrets_engines"][mount]["prevent_destroy"] = False
    result = ws.apply(spec)
    assert "prevent_destroy : true -> false" in result.stdout, str(result)
    assert "prevent_destroy" not in ws.recorded()[address]
    ws.refused("apply", {})  # still a mount: --allow-destroy is still needed
    ws.apply({}, "--allow-destroy")
    assert mounted(root, mount) is None


def test_destroy_without_prevent_destroy_needs_no_flag(ws, unique, root):
    """destroy is the consent to destroy: only prevent_destroy stops it."""
    mount = unique("gone")
    spec = {"secrets_engines": {mount: kv()}}
    ws.apply(spec)
    result = ws.run("destroy", spec)
    assert result.exit_code == 0, str(result)
    assert mounted(root, mount) is None


# -- bulk changes --------------------------------------------------------------------------


def policies(names: List[str], changed: int = 0) -> Dict[str, str]:
    """HCL per name; the first `changed` of them grant list as well."""
    capabilities = ['["read", "list"]'] * changed + ['["read"]'] * (len(names) - changed)
    return {name: f'path "{name}/*" {{\n  capabilities = {caps}\n}}\n' for name, caps in zip(names, capabilities)}


@pytest.fixture
def twelve(ws, unique):
    names = sorted(unique("bulk") for _ in range(12))
    ws.apply({"policies": policies(names)})
    return names


def test_updating_more_than_30_percent_of_a_kind_needs_force(ws, twelve, root):
    four = {"policies": policies(twelve, changed=4)}
    shown = ", ".join(f"policy.{n}" for n in twelve[:4])
    expected = (f"Error: refusing to update or delete 4 of the 12 managed policy objects (33%, more than 30%): "
                f"{shown}; pass --force to allow a bulk change")
    assert ws.refused("plan", four) == expected
    assert ws.refused("apply", four) == expected

    ws.apply(four, "--force")
    assert '"list"' in root.sys.read_policy(twelve[3])["data"]["rules"]
    assert ws.plan(four).exit_code == 0


def test_updating_30_percent_or_less_is_allowed(ws, twelve):
    three = {"policies": policies(twelve, changed=3)}
    result = ws.plan(three)
    assert result.exit_code == 2 and "Plan: 0 to add, 3 to change, 0 to destroy." in result.stdout, str(result)
    ws.apply(three)


def test_updates_and_deletions_count_together(ws, twelve):
    # 3 updated + 1 removed from the spec = 4 of 12 touched.
    mixed = {"policies": policies(twelve[:11], changed=3)}
    line = ws.refused("apply", mixed)
    assert "4 of the 12 managed policy objects" in line and f"policy.{twelve[11]}" in line
    removed = {"policies": policies(twelve[:8])}
    assert "4 of the 12 managed policy objects" in ws.refused("plan", removed)
    ws.apply(removed, "--force")
    assert ws.plan(removed).exit_code == 0


def test_fewer_than_ten_objects_are_never_guarded(ws, unique):
    names = sorted(unique("few") for _ in range(9))
    ws.apply({"policies": policies(names)})
    ws.apply({"policies": policies(names, changed=9)})   # all of them, no --force
    ws.apply({})                                          # and all deleted


def test_objects_found_in_vault_count_as_existing(ws, unique, root):
    """Not yet in the record but in the spec and live (adopted): they count."""
    names = sorted(unique("live") for _ in range(12))
    for name, hcl in policies(names).items():
        root.sys.create_or_update_policy(name, hcl)
    assert "4 of the 12 managed policy objects" in ws.refused("plan", {"policies": policies(names, changed=4)})


# -- as a user runs it ---------------------------------------------------------------------


def test_refusal_from_the_command_line_is_one_clean_line(bao, tmp_path, unique, root):
    mount = unique("cli")
    value = f"s3cret-{secrets.token_hex(8)}"
    env = clean_env(tmp_path, VAULT_ADDR=bao.address, VAULT_TOKEN=bao.root_token, SAFETY_CLI=value)
    spec = tmp_path / "vault.yaml"
    record = {"record": {"path": f"safety/{unique('rec')}"}}
    spec.write_text(yaml.safe_dump({"version": 1, "vault": record, "secrets_engines": {mount: kv()},
                                    "secrets": {f"{mount}/x": {"k": {"env": "SAFETY_CLI"}}}}))
    applied = run("apply", str(spec), "--auto-approve", env=env)
    assert applied.returncode == 0, str(applied)
    spec.write_text(yaml.safe_dump({"version": 1, "vault": record}))

    refused = run("apply", str(spec), "--auto-approve", env=env)
    assert_clean_failure(refused)
    assert refused.stderr == (f"Error: refusing to disable secrets_engine.{mount} (destroys 1 secret(s) stored "
                              "under it): pass --allow-destroy or list it under allow_destroy in the spec\n")
    assert refused.stdout == ""
    assert root.read(f"{mount}/data/x")["data"]["data"] == {"k": value}
    assert_no_secrets(applied.output + refused.output, [value, bao.root_token], "vaultform's output")


@pytest.mark.parametrize("touched, total, refused", [
    (3, 10, False), (4, 10, True), (3, 12, False), (4, 12, True), (9, 9, False), (10, 10, True), (30, 100, False),
    (31, 100, True)])
def test_bulk_threshold_is_more_than_30_percent_of_at_least_10(touched, total, refused):
    """The arithmetic alone (the tests above show it on a real server)."""
    from vaultform.kinds import by_name
    from vaultform.model import UPDATE, Change, Resource
    from vaultform.safety import bulk_changes

    kind = by_name()["policy"]
    existing = [f"policy.p{i}" for i in range(total)]
    changes = [Change(UPDATE, Resource(kind=kind, address=a, id=a)) for a in existing[:touched]]
    assert bool(bulk_changes(changes, existing)) == refused


def test_saved_plan_keeps_the_flags_it_was_made_with(ws, unique, root, tmp_path):
    mount = unique("saved")
    ws.apply({"secrets_engines": {mount: kv()}})
    planfile = tmp_path / "plan.bin"

    assert "refusing to disable" in ws.refused("plan", {}, "--out", str(planfile))
    assert not planfile.exists(), "a refused plan was saved"

    result = ws.plan({}, "--out", str(planfile), "--allow-destroy")
    assert result.exit_code == 2 and planfile.exists(), str(result)
    applied = ws.run_cli(["apply", str(planfile)], env=ws.env)
    ws.outputs.append(applied.output)
    assert applied.exit_code == 0, str(applied)
    assert mounted(root, mount) is None
