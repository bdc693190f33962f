"""Saved plans against a real OpenBao: `plan --out PLANFILE`, then `apply PLANFILE`.

What was reviewed is what gets applied: apply re-plans with the saved
options and refuses ("stale plan", exit 1, nothing written) when the spec, a
resolved value or the live state moved. The plan file holds no secret value
and no token, and its fingerprints are keyed HMACs, not plain hashes.

Every test keeps its own mounts, policies and ownership record on the shared
session dev server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from pathlib import Path
from typing import List, Optional

import hvac
import pytest
import yaml

from tests.support.cli import assert_no_secrets, bao_pids_under, free_port_run

# Long and distinctive: a hit in a scan is a leak, not a coincidence (and no
# common word, which the redactor would mask in ordinary messages).
PASSWORD_A = "pw-A-5d1c9e2f7a-never-print"
PASSWORD_B = "pw-B-8e3f0a6b4c-never-print"
FILE_VALUE = "fv-3a7b9c1d5e-never-print"
LITERAL = "lit-6f2e8d4c0b-never-print"


class Project:
    """A spec in tmp_path with its own mount, policy and record; every run's output kept."""

    def __init__(self, run_cli, tmp_path: Path, env: dict, unique, root):
        self.run_cli, self.dir, self.env, self.root = run_cli, tmp_path, env, root
        self.record = unique("rec")
        self.mount = unique("kv")
        self.policy = unique("pol")
        self.spec = tmp_path / "vault.yaml"
        self.plan_file = tmp_path / "reviewed.yaml"  # a plan is recognised by content, not by name
        self.outputs: List[str] = []
        (tmp_path / "api-key.txt").write_text(FILE_VALUE, encoding="utf-8")

    def write(self, sections: dict, header: str = "") -> None:
        doc = {"version": 1, "vault": {"record": {"path": self.record}}, **sections}
        self.spec.write_text(header + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    def base(self, policy_text: str = 'path "a/*" {\n  capabilities = ["read"]\n}\n',
             secret: Optional[dict] = None) -> dict:
        return {"secrets_engines": {self.mount: {"type": "kv", "options": {"version": "2"}}},
                "policies": {self.policy: policy_text},
                "secrets": {f"{self.mount}/app": secret or {"password": {"env": "APP_PASSWORD"}}}}

    def run(self, *args: str, **extra_env: Optional[str]):
        result = self.run_cli(list(args), env={"APP_PASSWORD": PASSWORD_A, **self.env, **extra_env})
        self.outputs.append(result.output)
        assert result.exception is None, f"main() let an exception escape: {result.exception!r}\n{result}"
        return result

    def save_plan(self, *extra: str, **extra_env: Optional[str]):
        result = self.run("plan", str(self.spec), "--out", str(self.plan_file), *extra, **extra_env)
        assert result.exit_code == 0, str(result)
        return result

    def apply_plan(self, **extra_env: Optional[str]):
        return self.run("apply", str(self.plan_file), **extra_env)

    def apply_spec(self, **extra_env: Optional[str]):
        result = self.run("apply", str(self.spec), "--auto-approve", **extra_env)
        assert result.exit_code == 0, str(result)

    # -- Vault, read behind vaultform's back ----------------------------------
    def policy_text(self) -> Optional[str]:
        response = self.root.read(f"sys/policies/acl/{self.policy}")
        return response["data"]["policy"] if response else None

    def secret(self, path: str = "app") -> Optional[dict]:
        response = self.root.read(f"{self.mount}/data/{path}")
        return response["data"]["data"] if response and response.get("data") else None

    def state(self) -> dict:
        """What a refused apply must leave exactly as it was."""
        mounts = self.root.read("sys/mounts")["data"]
        metadata = self.root.read(f"{self.mount}/metadata/app") if f"{self.mount}/" in mounts else None
        return {"mounted": f"{self.mount}/" in mounts, "policy": self.policy_text(),
                "secret_version": (metadata or {}).get("data", {}).get("current_version")}


@pytest.fixture
def project(run_cli, tmp_path, vault_env, unique, root):
    return Project(run_cli, tmp_path, vault_env, unique, root)


def assert_stale(result, *phrases: str) -> str:
    assert result.exit_code == 1, str(result)
    assert result.stdout == "", str(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: stale plan: "), str(result)
    for phrase in phrases:
        assert phrase in lines[0], f"{phrase!r} not in {lines[0]!r}"
    assert "nothing was applied" in lines[0]
    return lines[0]


# -- the happy path -------------------------------------------------------------------

def test_saved_plan_is_applied_exactly_without_a_prompt_and_then_nothing_is_left(project):
    project.write(project.base(secret={"password": {"env": "APP_PASSWORD"}, "api_key": {"file": "api-key.txt"},
                                       "user": LITERAL, "session": {"generate": {"length": 24}}}))
    before = project.state()
    saved = project.save_plan()
    assert f"Saved the plan to {project.plan_file}" in saved.stdout
    assert project.state() == before, "plan --out changed a configuration object"

    mode = stat.S_IMODE(os.stat(project.plan_file).st_mode)
    assert mode == 0o600, oct(mode)
    document = json.loads(project.plan_file.read_text(encoding="utf-8"))
    assert document["kind"] == "vaultform-plan" and document["format_version"] == 2
    assert {c["address"]: c["action"] for c in document["plan"]["changes"]} == {
        f"secrets_engine.{project.mount}": "create", f"policy.{project.policy}": "create",
        f"secret.{project.mount}/app": "create"}

    # No --auto-approve and no terminal: a spec would be refused, a saved plan is not.
    applied = project.apply_plan()
    assert applied.exit_code == 0, str(applied)
    assert applied.stdout.startswith(f"Applying the saved plan {project.plan_file}"), str(applied)
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in applied.stdout
    assert project.policy_text() == 'path "a/*" {\n  capabilities = ["read"]\n}\n'
    values = project.secret()
    assert {k: values[k] for k in ("password", "api_key", "user")} == {
        "password": PASSWORD_A, "api_key": FILE_VALUE, "user": LITERAL}
    assert len(values["session"]) == 24

    again = project.run("plan", str(project.spec), "--detailed-exitcode")
    assert again.exit_code == 0 and "No changes" in again.stdout, str(again)
    # A plan is applied once: afterwards its changes are no longer needed.
    assert_stale(project.apply_plan(), f"policy.{project.policy}: planned create, now nothing to do")


def test_generated_values_do_not_make_a_saved_plan_stale(project):
    """Every plan draws new random values for generated keys Vault lacks; that
    is not a change in what was reviewed."""
    project.write(project.base())
    project.apply_spec()
    sections = project.base(secret={"password": {"env": "APP_PASSWORD"}, "token": {"generate": {"length": 16}}})
    sections["secrets"][f"{project.mount}/fresh"] = {"seed": {"generate": {"length": 20, "charset": "hex"}}}
    project.write(sections)
    project.save_plan()
    applied = project.apply_plan()
    assert applied.exit_code == 0, str(applied)
    assert "0 added" not in applied.stdout and "1 added, 1 changed" in applied.stdout, str(applied)
    assert len(project.secret()["token"]) == 16 and project.secret()["password"] == PASSWORD_A
    assert len(project.secret("fresh")["seed"]) == 20
    assert project.run("plan", str(project.spec), "--detailed-exitcode").exit_code == 0


def test_a_saved_plan_keeps_its_options_and_every_rendering_shows_them(project, unique):
    other = unique("pol")
    sections = project.base()
    sections["policies"][other] = 'path "b/*" {\n  capabilities = ["list"]\n}\n'
    project.write(sections)
    flags = ("--target", f"policy.{project.policy}", "--force")
    shown = f"Planned with --target policy.{project.policy} --force."
    text = project.run("plan", str(project.spec), *flags)
    assert shown in text.stdout.splitlines(), str(text)
    markdown = project.save_plan(*flags, "--format", "markdown")
    assert f"Planned with `--target policy.{project.policy}` `--force`." in markdown.stdout.splitlines()
    document = json.loads(project.plan_file.read_text(encoding="utf-8"))
    options = {"targets": [f"policy.{project.policy}"], "allow_destroy": False, "force": True}
    assert document["options"] == options and document["plan"]["options"] == options
    refused = project.run("apply", str(project.plan_file), "--target", f"policy.{other}")
    assert refused.exit_code == 1 and "--target cannot be used with the saved plan" in refused.stderr, str(refused)

    # Applied as planned, and the applied plan shows what it was planned with.
    applied = project.run("apply", str(project.plan_file), "--format", "json")
    assert applied.exit_code == 0, str(applied)
    assert json.loads(applied.stdout)["options"] == options
    assert project.policy_text() is not None
    assert project.root.read(f"sys/policies/acl/{other}") is None, "the saved --target was not kept"
    assert project.state()["mounted"] is False


def test_an_empty_saved_plan_applies_as_no_changes(project):
    project.write(project.base())
    project.apply_spec()
    project.save_plan()
    applied = project.apply_plan()
    assert applied.exit_code == 0, str(applied)
    assert "No changes. Vault matches the spec." in applied.stdout
    assert "Apply complete" not in applied.stdout


def test_the_spec_is_found_from_another_working_directory(project, monkeypatch, tmp_path):
    """The spec path is kept as given (CI checks out the same tree elsewhere)
    and absolute; apply uses the first that exists."""
    project.write(project.base())
    monkeypatch.chdir(project.dir)
    result = project.run("plan", "vault.yaml", "--out", "plan.json")
    assert result.exit_code == 0, str(result)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    applied = project.run("apply", str(project.dir / "plan.json"))
    assert applied.exit_code == 0, str(applied)
    assert project.policy_text() is not None

    project.spec.rename(project.dir / "moved.yaml")
    missing = project.run("apply", str(project.dir / "plan.json"))
    assert missing.exit_code == 1 and "the spec it was made from is not here" in missing.stderr, str(missing)


# -- stale plans ------------------------------------------------------------------------

def test_stale_after_an_out_of_band_change_in_vault(project):
    project.write(project.base())
    project.apply_spec()
    project.write(project.base(policy_text='path "a/*" {\n  capabilities = ["read", "list"]\n}\n'))
    project.save_plan()

    # Someone edits the planned policy by hand: apply would silently overwrite it.
    project.root.sys.create_or_update_policy(project.policy, 'path "c/*" { capabilities = ["deny"] }')
    before = project.state()
    line = assert_stale(project.apply_plan(), f"policy.{project.policy}: its live state in Vault changed")
    assert "the spec" not in line
    assert project.state() == before

    # An object the plan left alone moves: the reviewed plan no longer covers what apply would do.
    project.root.sys.create_or_update_policy(project.policy, 'path "a/*" {\n  capabilities = ["read"]\n}\n')
    project.root.secrets.kv.v2.create_or_update_secret(path="app", mount_point=project.mount,
                                                         secret={"password": "typed-by-hand-0451"})
    before = project.state()
    assert_stale(project.apply_plan(), f"secret.{project.mount}/app: not in the saved plan, now update "
                                       "(its live state in Vault changed)")
    assert project.state() == before


def test_stale_after_a_spec_edit(project):
    project.write(project.base())
    project.save_plan()
    project.write(project.base(policy_text='path "z/*" {\n  capabilities = ["read"]\n}\n'))
    line = assert_stale(project.apply_plan(), f"the spec {project.spec} changed",
                        f"policy.{project.policy}: its desired fields changed")
    assert "live state" not in line
    assert project.state() == {"mounted": False, "policy": None, "secret_version": None}

    # Even an edit that changes no object: what was reviewed is not what is there.
    project.write(project.base())
    project.save_plan()
    project.write(project.base(), header="# a comment added after the review\n")
    line = assert_stale(project.apply_plan(), f"the spec {project.spec} changed")
    assert "policy." not in line
    assert project.state()["policy"] is None


def test_stale_after_an_env_value_change(project):
    project.write(project.base())
    project.save_plan(APP_PASSWORD=PASSWORD_A)
    line = assert_stale(project.apply_plan(APP_PASSWORD=PASSWORD_B),
                        f"secret.{project.mount}/app: a resolved value changed")
    assert "the spec" not in line and "live state" not in line
    assert project.state() == {"mounted": False, "policy": None, "secret_version": None}

    # The same for a secret the plan left alone: it would now be rewritten.
    project.apply_spec(APP_PASSWORD=PASSWORD_A)
    project.save_plan(APP_PASSWORD=PASSWORD_A)
    before = project.state()
    assert_stale(project.apply_plan(APP_PASSWORD=PASSWORD_B),
                 f"secret.{project.mount}/app: not in the saved plan, now update (a resolved value changed")
    assert project.state() == before and project.secret()["password"] == PASSWORD_A
    for output in project.outputs:
        assert_no_secrets(output, [PASSWORD_A, PASSWORD_B], "CLI output")


def test_stale_when_the_fingerprint_key_was_replaced(project):
    project.write(project.base())
    project.save_plan()
    project.root.secrets.kv.v2.delete_metadata_and_all_versions(
        path=f"{project.record}-fingerprint-key", mount_point="vaultform")
    assert_stale(project.apply_plan(), "the fingerprint key in Vault")
    assert project.state()["policy"] is None


# -- what a plan file holds -----------------------------------------------------------

def test_the_plan_file_holds_no_secret_value_token_or_offline_guessable_hash(project, bao):
    project.write(project.base(secret={"password": {"env": "APP_PASSWORD"}, "api_key": {"file": "api-key.txt"},
                                       "user": LITERAL, "session": {"generate": {"length": 32}}}))
    project.apply_spec(APP_PASSWORD=PASSWORD_A)
    generated = project.secret()["session"]
    # Now the plan has the secret on both sides: the old value live, the new one desired.
    project.save_plan(APP_PASSWORD=PASSWORD_B)
    data = project.plan_file.read_bytes()
    document = json.loads(data)
    assert [c["address"] for c in document["plan"]["changes"]] == [f"secret.{project.mount}/app"]
    assert document["plan"]["changes"][0]["after"] == {"password": "(sensitive)"}

    key = project.root.secrets.kv.v2.read_secret_version(
        path=f"{project.record}-fingerprint-key", mount_point="vaultform", raise_on_deleted_version=True)
    key_hex = key["data"]["data"]["key"]
    # Nor the key its integrity HMAC is made with (derived from the same key).
    derived = hmac.new(bytes.fromhex(key_hex), b"\x00vaultform saved-plan integrity key", hashlib.sha256).hexdigest()
    assert document["integrity"].startswith("hmac-sha256:") and derived not in data.decode()
    values = [PASSWORD_A, PASSWORD_B, FILE_VALUE, LITERAL, generated]
    # Plain (unkeyed) hashes could be checked against guesses offline: none may appear.
    desired_now = {"password": PASSWORD_B, "api_key": FILE_VALUE, "user": LITERAL, "session": "(generated)"}
    plain_hashes = [hashlib.sha256(v.encode()).hexdigest() for v in values]
    plain_hashes.append(hashlib.sha256(json.dumps(desired_now, sort_keys=True, separators=(",", ":"))
                                       .encode()).hexdigest())
    assert_no_secrets(data, values + [bao.root_token, key_hex] + plain_hashes, "the plan file")
    for output in project.outputs:
        assert_no_secrets(output, values + [bao.root_token, key_hex], "CLI output")
    for entry in document["objects"]:
        assert entry["desired"].startswith("hmac-sha256:") and entry["live"].startswith("hmac-sha256:")

    # A plan that deletes the secret and disables its mount: the live values
    # are on the "before" side of the change and in what the mount holds.
    project.write({"policies": project.base()["policies"]})
    project.save_plan("--allow-destroy")
    data = project.plan_file.read_bytes()
    actions = {c["address"]: c["action"] for c in json.loads(data)["plan"]["changes"]}
    assert actions == {f"secret.{project.mount}/app": "delete", f"secrets_engine.{project.mount}": "delete"}
    assert_no_secrets(data, values + [bao.root_token, key_hex] + plain_hashes, "the plan file")


def test_out_is_refused_for_a_local_cluster_that_is_not_initialised(project, vault_env, tmp_path):
    data_dir = tmp_path / "cluster"
    project.write({"cluster": {"provider": "local", "nodes": 1, "listen": f"127.0.0.1:{free_port_run(2)}",
                               "data_dir": str(data_dir)},
                   "policies": {project.policy: 'path "a/*" {\n  capabilities = ["read"]\n}\n'}})
    result = project.run("plan", str(project.spec), "--out", str(project.plan_file),
                         VAULT_ADDR=None, VAULT_TOKEN=None)
    assert result.exit_code == 1, str(result)
    assert result.stderr.startswith("Error: cannot save a plan for a local cluster that is not initialised"), str(result)
    assert len(result.stderr.splitlines()) == 1
    assert not project.plan_file.exists()
    assert bao_pids_under(data_dir) == [], "planning started a node"


def test_a_plan_for_another_vault_is_refused(project):
    project.write(project.base())
    project.save_plan()
    result = project.apply_plan(VAULT_ADDR="http://127.0.0.1:9")
    assert result.exit_code == 1, str(result)
    assert "was planned against Vault at " in result.stderr and "http://127.0.0.1:9" in result.stderr
    assert project.state()["policy"] is None


@pytest.mark.parametrize("damage, message", [
    (lambda text: text[: len(text) // 2], "the plan file is damaged"),
    (lambda text: text.replace('"format_version": 2', '"format_version": 99'), "plan file format 99 is not supported"),
    # A file from before integrity checks: nothing proves it unedited.
    (lambda text: text.replace('"format_version": 2', '"format_version": 1'),
     "plan file format 1 is not supported by vaultform"),
])
def test_a_damaged_plan_file_is_an_error(project, damage, message):
    project.write(project.base())
    project.save_plan()
    project.plan_file.write_text(damage(project.plan_file.read_text(encoding="utf-8")), encoding="utf-8")
    result = project.apply_plan()
    assert result.exit_code == 1 and message in result.stderr, str(result)
    assert len(result.stderr.splitlines()) == 1 and "make the plan again" in result.stderr, str(result)
    assert "Traceback" not in result.output
    assert project.state()["policy"] is None


def test_out_cannot_overwrite_the_spec(project):
    project.write(project.base())
    result = project.run("plan", str(project.spec), "--out", str(project.spec))
    assert result.exit_code == 1 and "is the spec file itself" in result.stderr, str(result)
    assert yaml.safe_load(project.spec.read_text(encoding="utf-8"))["version"] == 1


def test_a_plan_saved_with_the_planner_token_is_applied_with_a_full_token(project):
    """The CI flow: the pull request is planned with a token holding only the
    `planner-policy` (no secret data), and the reviewed plan is applied on
    merge with a full token. Both see a KV v2 secret's version, so the plan
    checks out; a hand edit in between still makes it stale."""
    project.write(project.base())
    policy = project.run("planner-policy", str(project.spec))
    assert policy.exit_code == 0, str(policy)
    planner_policy = f"planner-{project.record}"
    project.root.sys.create_or_update_policy(planner_policy, policy.stdout)
    planner = project.root.auth.token.create(policies=[planner_policy], no_default_policy=True, ttl="10m")
    planner_token = planner["auth"]["client_token"]
    # Before any apply there is no fingerprint key, and the planner may not write one.
    first = project.run("plan", str(project.spec), "--out", str(project.plan_file), VAULT_TOKEN=planner_token)
    assert first.exit_code == 1 and "run `vaultform apply` once with a full token first" in first.stderr, str(first)
    assert not project.plan_file.exists()

    project.apply_spec(APP_PASSWORD=PASSWORD_A)
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=project.env["VAULT_ADDR"], token=planner_token).read(f"{project.mount}/data/app")
    unchanged = project.run("plan", str(project.spec), VAULT_TOKEN=planner_token)
    assert unchanged.exit_code == 0 and "No changes" in unchanged.stdout, str(unchanged)

    project.write(project.base(policy_text='path "a/*" {\n  capabilities = ["read", "list"]\n}\n'))
    project.save_plan(VAULT_TOKEN=planner_token, APP_PASSWORD=PASSWORD_B)
    planned = json.loads(project.plan_file.read_text(encoding="utf-8"))["plan"]["changes"]
    assert {c["address"]: c["action"] for c in planned} == {
        f"policy.{project.policy}": "update", f"secret.{project.mount}/app": "update"}

    applied = project.apply_plan(APP_PASSWORD=PASSWORD_B)  # the root token of vault_env
    assert applied.exit_code == 0, str(applied)
    assert project.secret()["password"] == PASSWORD_B
    assert project.run("plan", str(project.spec), "--detailed-exitcode",
                       APP_PASSWORD=PASSWORD_B).exit_code == 0

    # Saved by the planner, then the secret is edited by hand: the version moved.
    project.write(project.base(policy_text='path "a/*" {\n  capabilities = ["list"]\n}\n'))
    project.save_plan(VAULT_TOKEN=planner_token, APP_PASSWORD=PASSWORD_B)
    project.root.secrets.kv.v2.create_or_update_secret(path="app", mount_point=project.mount,
                                                         secret={"password": "typed-by-hand-7781"})
    assert_stale(project.apply_plan(APP_PASSWORD=PASSWORD_B), f"secret.{project.mount}/app: ")

    # The planner may not list a mount's secrets, so it cannot fingerprint
    # what disabling the mount would destroy: such a plan is not saved.
    project.plan_file.unlink()
    project.write({"policies": project.base()["policies"]})
    refused = project.run("plan", str(project.spec), "--out", str(project.plan_file), "--allow-destroy",
                          VAULT_TOKEN=planner_token)
    assert refused.exit_code == 1 and len(refused.stderr.splitlines()) == 1, str(refused)
    assert (f"Error: cannot save this plan: it disables secrets_engine.{project.mount}, which destroys the "
            "secret(s) under it, and this token cannot list them") in refused.stderr, str(refused)
    assert not project.plan_file.exists()
    for output in project.outputs:
        assert_no_secrets(output, [PASSWORD_A, PASSWORD_B, planner_token], "CLI output")


# -- what a planned destroy takes with it ---------------------------------------------

HAND_MADE = ("hand-made-alpha", "deeper/hand-made-beta", "hand-made-gamma")


def mount_keys(root, mount: str) -> List[str]:
    """Every secret path in a KV v2 mount, read behind vaultform's back."""
    found, pending = [], [""]
    while pending:
        prefix = pending.pop()
        try:
            keys = root.list(f"{mount}/metadata/{prefix}".rstrip("/"))["data"]["keys"]
        except (TypeError, hvac.exceptions.InvalidPath):
            continue
        for key in keys:
            (pending if key.endswith("/") else found).append(prefix + key)
    return sorted(found)


def bookkeeping(project) -> dict:
    """vaultform's own keys for this project (record, fingerprint key, lock) and
    their versions: a refused apply must not write one, not even the lock."""
    try:
        keys = project.root.list("vaultform/metadata")["data"]["keys"]
    except (TypeError, hvac.exceptions.InvalidPath):
        return {}
    return {key: project.root.read(f"vaultform/metadata/{key}")["data"]["current_version"]
            for key in keys if key.startswith(project.record)}


@pytest.mark.parametrize("action", ["delete", "replace"])
def test_a_plan_that_destroys_a_mount_is_stale_once_the_mount_holds_other_secrets(project, unique, action):
    doomed = unique("kv")
    sections = project.base()
    sections["secrets_engines"][doomed] = {"type": "kv", "options": {"version": "2"}}
    project.write(sections)
    project.apply_spec()
    for name in HAND_MADE:
        project.root.secrets.kv.v2.create_or_update_secret(path=name, mount_point=doomed, secret={"k": LITERAL})
    if action == "delete":
        del sections["secrets_engines"][doomed]
    else:  # KV v2 back to v1 can only be done by re-creating the mount
        sections["secrets_engines"][doomed] = {"type": "kv", "options": {"version": "1"}}
    project.write(sections)
    saved = project.save_plan("--allow-destroy")
    address = f"secrets_engine.{doomed}"
    assert f"! disabling {doomed}/ destroys 3 secret(s) stored under it" in saved.stdout, str(saved)
    text = project.plan_file.read_text(encoding="utf-8")
    entry = {o["address"]: o for o in json.loads(text)["objects"]}[address]
    assert entry["action"] == action and entry["holds"] == "3 secret(s)"
    assert entry["contents"].startswith("hmac-sha256:")
    assert not [name for name in HAND_MADE if name.rsplit("/", 1)[-1] in text], "secret names are only fingerprinted"

    # A fourth secret written after the review would be destroyed with the rest.
    project.root.secrets.kv.v2.create_or_update_secret(path="written-later", mount_point=doomed,
                                                         secret={"k": LITERAL})
    before = (mount_keys(project.root, doomed), project.root.read("sys/mounts")["data"][f"{doomed}/"]["uuid"])
    assert_stale(project.apply_plan(), f"{address}: what it holds changed (3 secret(s) when planned, "
                                       "now 4 secret(s))")
    assert (mount_keys(project.root, doomed), project.root.read("sys/mounts")["data"][f"{doomed}/"]["uuid"]) == before

    # The same count, other secrets: one reviewed secret gone, another written.
    for name in ("written-later", HAND_MADE[0]):
        project.root.secrets.kv.v2.delete_metadata_and_all_versions(path=name, mount_point=doomed)
    project.root.secrets.kv.v2.create_or_update_secret(path="swapped-in", mount_point=doomed, secret={"k": LITERAL})
    assert_stale(project.apply_plan(),
                 f"{address}: what it holds changed (still 3 secret(s), but not the ones planned)")
    assert "swapped-in" in mount_keys(project.root, doomed)

    # Back to exactly what was reviewed: the plan applies.
    project.root.secrets.kv.v2.delete_metadata_and_all_versions(path="swapped-in", mount_point=doomed)
    project.root.secrets.kv.v2.create_or_update_secret(path=HAND_MADE[0], mount_point=doomed, secret={"k": "again"})
    applied = project.apply_plan()
    assert applied.exit_code == 0, str(applied)
    mounts = project.root.read("sys/mounts")["data"]
    if action == "delete":
        assert f"{doomed}/" not in mounts
    else:
        assert mounts[f"{doomed}/"]["options"] == {"version": "1"} and not project.root.list(doomed)
    for output in project.outputs:
        assert_no_secrets(output, [PASSWORD_A, LITERAL], "CLI output")


def test_a_plan_that_disables_an_auth_method_is_stale_once_it_holds_another_role(project, unique):
    method = unique("approle")
    sections = project.base()
    sections["auth"] = {method: {"type": "approle"}}
    project.write(sections)
    project.apply_spec()
    project.root.write(f"auth/{method}/role/hand-made-role", token_policies=["default"])
    del sections["auth"]
    project.write(sections)
    saved = project.save_plan("--allow-destroy")
    assert f"disabling auth/{method}/ destroys its config, 1 role(s)" in saved.stdout, str(saved)

    project.root.write(f"auth/{method}/role/written-later", token_policies=["default"])
    assert_stale(project.apply_plan(), f"auth_method.{method}: what it holds changed (1 role(s) when planned, "
                                       "now 2 role(s))")
    assert f"{method}/" in project.root.read("sys/auth")["data"]


# -- an edited plan file --------------------------------------------------------------

def _json_edit(change):
    """An edit that keeps the file in vaultform's own layout, so only the
    integrity check with the key in Vault can catch it."""
    def edit(text: str) -> str:
        document = json.loads(text)
        change(document)
        return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    return edit


def _other_spec(document):
    other = Path(document["spec"]["absolute"]).with_name("other.yaml")
    text = Path(document["spec"]["absolute"]).read_text(encoding="utf-8")
    other.write_text(text.replace('capabilities = [\\"read\\"]', 'capabilities = [\\"deny\\"]'), encoding="utf-8")
    document["spec"].update(path=str(other), absolute=str(other))


def _swap_fingerprints(document):
    first, second = document["objects"][0], document["objects"][1]
    first["desired"], second["desired"] = second["desired"], first["desired"]


ALTERED = "the plan file was altered after it was written"
EDITS = {
    "allow_destroy turned on": (_json_edit(lambda d: d["options"].update(allow_destroy=True)), ALTERED),
    "force turned on": (_json_edit(lambda d: d["options"].update(force=True)), ALTERED),
    "a target added": (_json_edit(lambda d: d["options"]["targets"].append("secret*")), ALTERED),
    "a target removed": (_json_edit(lambda d: d["options"].update(targets=[])), ALTERED),
    "a reviewed change dropped": (_json_edit(lambda d: d["plan"]["changes"].pop()), ALTERED),
    "a planned action changed": (_json_edit(lambda d: d["objects"][0].update(action="no-op")), ALTERED),
    "fingerprints swapped": (_json_edit(_swap_fingerprints), ALTERED),
    "a fingerprint edited": (_json_edit(lambda d: d["spec"].update(
        fingerprint=d["spec"]["fingerprint"][:-1] + ("0" if d["spec"]["fingerprint"][-1] != "0" else "1"))), ALTERED),
    "another spec": (_json_edit(_other_spec), ALTERED),
    "the date": (_json_edit(lambda d: d.update(created_at="2020-01-01T00:00:00Z")), ALTERED),
    "the integrity value": (_json_edit(lambda d: d.update(integrity="hmac-sha256:" + "0" * 64)), ALTERED),
    "the integrity value not ASCII": (_json_edit(lambda d: d.update(integrity="hmac-sha256:é")), ALTERED),
    "the integrity value dropped": (_json_edit(lambda d: d.pop("integrity")), "missing integrity"),
    "the key check": (_json_edit(lambda d: d.update(key_check="hmac-sha256:" + "1" * 64)),
                      "stale plan: the fingerprint key in Vault"),
    "one space added": (lambda text: text.replace('"kind":', '"kind": ', 1), ALTERED),
    "reformatted": (lambda text: json.dumps(json.loads(text), sort_keys=True) + "\n", ALTERED),
    "the kind": (lambda text: text.replace('"vaultform-plan"', '"vaultform-plam"'), "its kind is 'vaultform-plam'"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_plan_file_is_refused_and_nothing_is_written(project, edit):
    """The attacker of docs/saved-plans.md: may edit the plan file (a CI
    artefact) but not read the key in Vault. Every edit is one line, exit 1,
    and Vault (configuration and vaultform's own keys, the lock too) stays as it was."""
    change, message = EDITS[edit]
    sections = project.base()
    sections["policies"][f"{project.policy}-2"] = 'path "b/*" {\n  capabilities = ["read"]\n}\n'
    project.write(sections)
    project.save_plan("--target", "policy.*")
    before = (project.state(), bookkeeping(project))
    original = project.plan_file.read_text(encoding="utf-8")
    edited = change(original)
    assert edited != original
    project.plan_file.write_text(edited, encoding="utf-8")

    result = project.apply_plan()
    assert result.exit_code == 1 and result.stdout == "", str(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], str(result)
    assert (project.state(), bookkeeping(project)) == before
    assert not any(key.endswith("-lock") for key in bookkeeping(project)), "the apply lock was taken"

    project.plan_file.write_text(original, encoding="utf-8")  # the file as written still applies
    assert project.apply_plan().exit_code == 0


def test_every_one_byte_edit_of_a_plan_file_is_refused(project, vault_env):
    """Each byte of a real plan file changed, deleted, and a byte inserted
    before it: every variant is refused by what `apply PLANFILE` checks before
    it writes anything (the checks of the test above, without the CLI, so
    that all of a file's bytes can be tried in a few seconds)."""
    from vaultform import planfile
    from vaultform.commands.plan import load_context
    from vaultform.errors import VaultformError

    project.write(project.base())
    project.save_plan("--target", f"policy.{project.policy}")
    data = project.plan_file.read_bytes()
    _, ctx = load_context(str(project.spec), None)

    def refused(variant: bytes) -> bool:
        project.plan_file.write_bytes(variant)
        try:
            saved = planfile.load(str(project.plan_file))
            assert saved is not None, "an edited plan file would be read as a spec"
            saved.spec_file()
            planfile.check_connected_to(saved, ctx.api.address)
            planfile.verify(saved, ctx)
        except VaultformError as exc:
            assert "\n" not in str(exc)
            return True
        return False

    assert not refused(data), "the file as written must pass"
    missed = []
    for i in range(len(data)):
        for variant in (data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:],
                        data[:i] + data[i + 1:],
                        data[:i] + b" " + data[i:]):
            if not refused(variant):
                missed.append((i, variant[max(0, i - 20):i + 20]))
    assert not missed, f"{len(missed)} edits passed, e.g. {missed[:3]}"
    assert project.state()["policy"] is None
