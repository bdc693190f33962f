"""The contract every resource kind keeps, checked against a real OpenBao.

Like alembic's backend contract suite: one parametrised suite that every
kind passes. A `Case` describes one kind (its spec in a few stages, how to
read it back with hvac, how to drift it by hand, and what the plan must say);
the contract tests drive the real CLI through the same lifecycle for each:

    create -> no-op -> drift -> update -> field removed -> delete,

and after every apply the next plan must be empty (idempotence). Around the
contract: hand-made objects and pruning, built-ins, mount-deletion notes,
--target, generated values, and no secret value in any output.

All tests share one session dev server. Each uses its own mount paths and
names and its own ownership record (`vault.record.path`), so no test sees
another's managed objects as "removed from the spec". Tests that need exact
knowledge of everything in Vault (pruning) get a fresh server.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import hvac
import pytest
import yaml

from tests.support.bao import BaoDevServer
from tests.support.kube import FakeKubernetesAPI
from tests.support.record import recorded_objects

# -- reading plans -------------------------------------------------------------

# Headers are "  + addr", "  ~ addr  (reason)", "  - addr  (reason)", "-/+ addr";
# their lines are indented 8 spaces: "name : before -> after", "name = value", "! note".
_HEAD = re.compile(r"^ {0,2}(-/\+|\+|~|-) (\S+)(?:  \((.*)\))?$")
_FIELD = re.compile(r"^ {8}(\S+)\s+[:=] (.*)$")
_NOTE = re.compile(r"^ {8}! (.*)$")


@dataclass
class Block:
    symbol: str
    address: str
    reason: str
    fields: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)


def parse_plan(text: str) -> Dict[str, Block]:
    blocks: Dict[str, Block] = {}
    current: Optional[Block] = None
    for line in text.splitlines():
        head = _HEAD.match(line)
        if head:
            current = blocks[head.group(2)] = Block(head.group(1), head.group(2), head.group(3) or "")
            continue
        note, fld = _NOTE.match(line), _FIELD.match(line)
        if current is not None and note:
            current.notes.append(note.group(1))
        elif current is not None and fld:
            current.fields[fld.group(1)] = fld.group(2)
        elif not line.startswith(" " * 8):
            current = None
    return blocks


# -- running the CLI on a spec -------------------------------------------------


class Workspace:
    """A spec file in tmp_path, its own ownership record, and every output seen."""

    def __init__(self, run_cli, tmp_path: Path, env: dict, record: str):
        self.run_cli = run_cli
        self.dir = tmp_path
        self.env = env
        self.record = record
        self.spec_path = tmp_path / "vaultform.yaml"
        self.outputs: List[str] = []

    def write(self, sections: dict) -> str:
        doc = {"version": 1, "vault": {"record": {"path": self.record}}, **sections}
        self.spec_path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return str(self.spec_path)

    def run(self, args: List[str], extra_env: Optional[dict] = None):
        result = self.run_cli(args, env={**self.env, **(extra_env or {})})
        self.outputs.append(result.output)
        assert result.exception is None, f"main() let an exception escape: {result.exception!r}\n{result}"
        return result

    def apply(self, sections: dict, env: Optional[dict] = None, *extra: str):
        result = self.run(["apply", self.write(sections), "--auto-approve", *extra], env)
        assert result.exit_code == 0, str(result)
        assert "Error" not in result.stderr, str(result)
        return result

    def plan(self, sections: dict, env: Optional[dict] = None, *extra: str):
        result = self.run(["plan", self.write(sections), "--detailed-exitcode", *extra], env)
        return result, parse_plan(result.stdout)

    def assert_converged(self, sections: dict, env: Optional[dict] = None) -> None:
        result, _ = self.plan(sections, env)
        assert result.exit_code == 0 and "No changes" in result.stdout, str(result)

    def assert_no_secret_in_output(self, values: List[str]) -> None:
        from vaultform.redact import MASK
        for output in self.outputs:
            for value in values:
                assert value not in output, f"a secret value was printed:\n{output}"
            # Renderers mask sensitive fields themselves; redaction is only the
            # safety net. Its mask in the output means some path printed a value.
            assert MASK not in output, f"a secret reached the output and was caught only by redaction:\n{output}"


def assert_lines(block: Block, expected: Dict[str, object], exact: bool = True) -> None:
    """Field lines as the plan shows them: exact text, a regex, or None (just named)."""
    if exact:
        assert set(block.fields) == set(expected), block
    for name, text in expected.items():
        assert name in block.fields, block
        shown = block.fields[name]
        if isinstance(text, re.Pattern):
            assert text.fullmatch(shown), (name, shown)
        elif text is not None:
            assert shown == text, (name, shown)


def rand() -> str:
    return secrets.token_hex(6)


# -- the kinds, one Case each ----------------------------------------------------

BASE, UPDATED, REDUCED, DELETED = "base", "updated", "reduced", "deleted"


class Case:
    """One resource kind's contract data. Subclasses fill in the blanks.

    drift() / update_lines / reduce_lines map a field name to what the plan
    must show after "name : ": the exact text, a regex, or None (named only).
    """

    id = ""
    address = ""
    update_lines: Dict[str, object] = {}
    reduce_lines: Optional[Dict[str, object]] = None  # None: the kind has no field to drop

    def __init__(self, unique, tmp_path: Path, root):
        self.tmp_path = tmp_path
        self.root = root
        self.setup(unique)

    def setup(self, unique) -> None:
        raise NotImplementedError

    def spec(self, stage: str) -> dict:
        raise NotImplementedError

    def env(self, stage: str) -> dict:
        return {}

    def check(self, stage: str) -> None:
        raise NotImplementedError

    def exists(self) -> bool:
        raise NotImplementedError

    def drift(self) -> Dict[str, object]:
        """Change the object by hand; return the plan lines that must name it."""
        raise NotImplementedError

    # Delete the object by hand; None where Vault cannot delete it on its own.
    delete_by_hand = None

    def version(self):
        """A value Vault changes on every write to the object (None: no such thing)."""
        return None

    def secret_values(self) -> List[str]:
        return []

    def pruning(self, stage: str, key: str) -> dict:
        """The spec of `stage` with `prune.<key>` on, where this Case's objects live."""
        return {**self.spec(stage), "prune": {key: True}}


def mount_entry(root, table: str, path: str) -> Optional[dict]:
    data = root.read(f"sys/{table}")["data"]
    return data.get(f"{path}/")


class SecretsEngineKV2(Case):
    id = "secrets_engine-kv2"

    def setup(self, unique):
        self.mount = unique("kv2")
        self.address = f"secrets_engine.{self.mount}"

    def spec(self, stage):
        body = {"type": "kv", "options": {"version": "2"}, "description": "team secrets",
                "config": {"default_lease_ttl": "1h"}}
        if stage == UPDATED:
            body["config"]["default_lease_ttl"] = "1h30m"
        if stage == REDUCED:
            body = {"type": "kv", "options": {"version": "2"}}
        return {} if stage == DELETED else {"secrets_engines": {self.mount: body}}

    def check(self, stage):
        entry = mount_entry(self.root, "mounts", self.mount)
        assert entry["type"] == "kv" and entry["options"] == {"version": "2"}
        want = {BASE: ("team secrets", 3600), UPDATED: ("team secrets", 5400), REDUCED: ("", 0)}[stage]
        assert (entry["description"], entry["config"]["default_lease_ttl"]) == want

    def exists(self):
        return mount_entry(self.root, "mounts", self.mount) is not None

    def drift(self):
        self.root.write_data(f"sys/mounts/{self.mount}/tune", data={"description": "edited by hand"})
        return {"description": '"edited by hand" -> "team secrets"'}

    def delete_by_hand(self):
        self.root.sys.disable_secrets_engine(self.mount)

    update_lines = {"config.default_lease_ttl": "3600 -> 5400"}
    reduce_lines = {"description": '"team secrets" -> ""', "config.default_lease_ttl": "3600 -> 0"}


class SecretsEngineKV1(Case):
    id = "secrets_engine-kv1"

    def setup(self, unique):
        self.mount = unique("kv1")
        self.address = f"secrets_engine.{self.mount}"

    def spec(self, stage):
        body = {"type": "kv", "description": "v1 store", "config": {
            "max_lease_ttl": "2h", "listing_visibility": "hidden", "audit_non_hmac_request_keys": ["user"]}}
        if stage == UPDATED:
            body["description"] = "v1 store, renamed"
        if stage == REDUCED:
            del body["config"]
        return {} if stage == DELETED else {"secrets_engines": {self.mount: body}}

    def check(self, stage):
        entry = mount_entry(self.root, "mounts", self.mount)
        assert entry["type"] == "kv" and (entry.get("options") or {}).get("version", "1") == "1"
        tuned = (7200, "hidden", ["user"])
        want = {BASE: ("v1 store", *tuned), UPDATED: ("v1 store, renamed", *tuned), REDUCED: ("v1 store", 0, "", [])}
        config = entry["config"]
        assert (entry["description"], config["max_lease_ttl"], config.get("listing_visibility", ""),
                config.get("audit_non_hmac_request_keys", [])) == want[stage]

    def exists(self):
        return mount_entry(self.root, "mounts", self.mount) is not None

    def drift(self):
        self.root.write_data(f"sys/mounts/{self.mount}/tune", data={"max_lease_ttl": "3h"})
        return {"config.max_lease_ttl": "10800 -> 7200"}

    def delete_by_hand(self):
        self.root.sys.disable_secrets_engine(self.mount)

    update_lines = {"description": '"v1 store" -> "v1 store, renamed"'}
    reduce_lines = {"config.max_lease_ttl": "7200 -> 0", "config.listing_visibility": '"hidden" -> ""',
                    "config.audit_non_hmac_request_keys": '["user"] -> []'}


class AuthMethod(Case):
    id = "auth_method"

    def setup(self, unique):
        self.mount = unique("auth")
        self.address = f"auth_method.{self.mount}"

    def spec(self, stage):
        body = {"type": "kubernetes", "description": "cluster logins",
                "tune": {"default_lease_ttl": "1h", "max_lease_ttl": "4h", "listing_visibility": "unauth"}}
        if stage == UPDATED:
            body["tune"]["max_lease_ttl"] = "8h"
        if stage == REDUCED:
            body = {"type": "kubernetes", "tune": {"max_lease_ttl": "4h"}}
        return {} if stage == DELETED else {"auth": {self.mount: body}}

    def check(self, stage):
        entry = mount_entry(self.root, "auth", self.mount)
        assert entry["type"] == "kubernetes"
        want = {BASE: ("cluster logins", 3600, 14400, "unauth"), UPDATED: ("cluster logins", 3600, 28800, "unauth"),
                REDUCED: ("", 0, 14400, "")}[stage]
        config = entry["config"]
        assert (entry["description"], config["default_lease_ttl"], config["max_lease_ttl"],
                config.get("listing_visibility", "")) == want

    def exists(self):
        return mount_entry(self.root, "auth", self.mount) is not None

    def drift(self):
        self.root.write_data(f"sys/auth/{self.mount}/tune", data={"default_lease_ttl": "30m"})
        return {"config.default_lease_ttl": "1800 -> 3600"}

    def delete_by_hand(self):
        self.root.sys.disable_auth_method(self.mount)

    update_lines = {"config.max_lease_ttl": "14400 -> 28800"}
    reduce_lines = {"description": '"cluster logins" -> ""', "config.default_lease_ttl": "3600 -> 0",
                    "config.listing_visibility": '"unauth" -> ""'}


@functools.lru_cache(maxsize=1)
def ca_pem() -> str:
    """A real CA certificate (made once: key generation is the slow part)."""
    return FakeKubernetesAPI().ca_pem


class KubernetesConfig(Case):
    id = "kubernetes_config"

    def setup(self, unique):
        self.mount = unique("k8scfg")
        self.address = f"kubernetes_config.{self.mount}"
        self.jwt_var = f"VF_REVIEWER_JWT_{self.mount.replace('-', '_').upper()}"
        self.jwts = {BASE: f"eyJreviewer.{rand()}.sig", UPDATED: f"eyJreviewer.{rand()}.sig2"}
        (self.tmp_path / "ca.crt").write_text(ca_pem(), encoding="utf-8")

    def spec(self, stage):
        config = {"kubernetes_host": "https://k8s-a.example:6443", "kubernetes_ca_cert": {"file": "ca.crt"},
                  "token_reviewer_jwt": {"env": self.jwt_var}, "issuer": "https://issuer.example"}
        if stage == UPDATED:
            config["kubernetes_host"] = "https://k8s-b.example:6443"
        if stage == REDUCED:
            del config["issuer"], config["token_reviewer_jwt"]
        if stage == DELETED:
            return {}  # Vault cannot delete a config alone: it goes with its auth method
        return {"auth": {self.mount: {"type": "kubernetes", "config": config}}}

    def env(self, stage):
        return {self.jwt_var: self.jwts[UPDATED if stage == UPDATED else BASE]}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"auth/{self.mount}/config")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        host = "https://k8s-b.example:6443" if stage == UPDATED else "https://k8s-a.example:6443"
        assert data["kubernetes_host"] == host
        assert data["kubernetes_ca_cert"] == ca_pem()
        assert data["issuer"] == ("" if stage == REDUCED else "https://issuer.example")
        assert data["token_reviewer_jwt_set"] is (stage != REDUCED)

    def exists(self):
        return mount_entry(self.root, "auth", self.mount) is not None and self.read() is not None

    def drift(self):
        # The config endpoint replaces the whole object: this also clears the reviewer JWT.
        self.root.write_data(f"auth/{self.mount}/config", data={
            "kubernetes_host": "https://elsewhere.example:6443", "kubernetes_ca_cert": ca_pem(),
            "issuer": "https://issuer.example"})
        return {"kubernetes_host": '"https://elsewhere.example:6443" -> "https://k8s-a.example:6443"',
                "token_reviewer_jwt": "(sensitive value added)"}

    update_lines = {"kubernetes_host": '"https://k8s-a.example:6443" -> "https://k8s-b.example:6443"',
                    "token_reviewer_jwt": "(sensitive value changed)"}
    reduce_lines = {"issuer": '"https://issuer.example" -> ""', "token_reviewer_jwt": "(sensitive value removed)"}

    def secret_values(self):
        return list(self.jwts.values())


class KubernetesRole(Case):
    """Current field names, comma strings, Go durations."""

    id = "kubernetes_role"

    def setup(self, unique):
        self.mount = unique("k8srole")
        self.address = f"kubernetes_role.{self.mount}/app"

    def role(self, stage) -> dict:
        role = {"bound_service_account_names": "web,worker", "bound_service_account_namespaces": ["prod"],
                "token_policies": "reader,audit", "token_ttl": "1h30m", "token_max_ttl": "4h", "audience": "vault"}
        if stage == UPDATED:
            role.update(token_ttl="2h", bound_service_account_names="web,worker,cron")
        if stage == REDUCED:
            del role["token_ttl"], role["audience"]
        return role

    def spec(self, stage):
        body = {"type": "kubernetes"}
        if stage != DELETED:
            body["roles"] = {"app": self.role(stage)}
        return {"auth": {self.mount: body}}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"auth/{self.mount}/role/app")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        names = ["web", "worker", "cron"] if stage == UPDATED else ["web", "worker"]
        ttl = {BASE: 5400, UPDATED: 7200, REDUCED: 0}[stage]
        assert data["bound_service_account_names"] == names
        assert data["bound_service_account_namespaces"] == ["prod"]
        assert data["token_policies"] == ["reader", "audit"]
        assert (data["token_ttl"], data["token_max_ttl"]) == (ttl, 14400)
        assert data.get("audience", "") == ("" if stage == REDUCED else "vault")

    def exists(self):
        return self.read() is not None

    def drift(self):
        # Role writes merge: only token_ttl moves.
        self.root.write_data(f"auth/{self.mount}/role/app", data={"token_ttl": "10m"})
        return {"token_ttl": "600 -> 5400"}

    def delete_by_hand(self):
        self.root.delete(f"auth/{self.mount}/role/app")

    update_lines = {"token_ttl": "5400 -> 7200",
                    "bound_service_account_names": '["web", "worker"] -> ["web", "worker", "cron"]'}
    reduce_lines = {"token_ttl": "5400 -> 0", "audience": '"vault" -> ""'}


class KubernetesRoleLegacy(KubernetesRole):
    """Legacy names (policies, ttl, max_ttl), mixed-case policy names, integer seconds."""

    id = "kubernetes_role-legacy"

    def role(self, stage) -> dict:
        role = {"bound_service_account_names": ["web"], "bound_service_account_namespaces": "prod",
                "policies": "Reader,Audit", "ttl": "1h30m", "max_ttl": 14400}
        if stage == UPDATED:
            role["policies"] = "reader"
        if stage == REDUCED:
            del role["ttl"]
        return role

    def check(self, stage):
        data = self.read()
        assert data["bound_service_account_names"] == ["web"]
        assert data["bound_service_account_namespaces"] == ["prod"]
        assert data["token_policies"] == (["reader"] if stage == UPDATED else ["reader", "audit"])
        assert (data["token_ttl"], data["token_max_ttl"]) == (0 if stage == REDUCED else 5400, 14400)
        # A legacy key left in the role would make Vault use it over token_*.
        assert data.get("ttl", data["token_ttl"]) == data["token_ttl"]

    def drift(self):
        self.root.write_data(f"auth/{self.mount}/role/app", data={"ttl": "10m"})
        return {"token_ttl": "600 -> 5400"}

    update_lines = {"token_policies": '["reader", "audit"] -> ["reader"]'}
    reduce_lines = {"token_ttl": "5400 -> 0"}


class ApproleRole(Case):
    """approle_role: a fixed role_id from a value source (write-only), policies Vault sorts."""

    id = "approle_role"

    def setup(self, unique):
        self.mount = unique("approle")
        self.address = f"approle_role.{self.mount}/ci"
        self.role_id_var = f"VF_ROLE_ID_{self.mount.replace('-', '_').upper()}"
        self.role_ids = {BASE: f"role-{rand()}", UPDATED: f"role-{rand()}"}

    def spec(self, stage):
        # Policies are a set: vaultform writes them lower-cased, sorted and deduplicated.
        role = {"token_ttl": "1h", "token_policies": ["Deploy", "audit", "audit"], "secret_id_ttl": "10m",
                "bind_secret_id": True,
                "secret_id_bound_cidrs": ["10.0.0.0/8"], "role_id": {"env": self.role_id_var}}
        if stage == UPDATED:
            role["secret_id_ttl"] = "20m"
        if stage == REDUCED:
            del role["token_ttl"], role["secret_id_bound_cidrs"]
        body = {"type": "approle"}
        if stage != DELETED:
            body["roles"] = {"ci": role}
        return {"auth": {self.mount: body}}

    def env(self, stage):
        return {self.role_id_var: self.role_ids[UPDATED if stage == UPDATED else BASE]}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"auth/{self.mount}/role/ci")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        assert (data["token_policies"], data["bind_secret_id"]) == (["audit", "deploy"], True)
        assert data["token_ttl"] == (0 if stage == REDUCED else 3600)
        assert data["secret_id_ttl"] == (1200 if stage == UPDATED else 600)
        assert data["secret_id_bound_cidrs"] == ([] if stage == REDUCED else ["10.0.0.0/8"])
        role_id = self.root.read(f"auth/{self.mount}/role/ci/role-id")["data"]["role_id"]
        assert role_id == self.role_ids[UPDATED if stage == UPDATED else BASE]

    def exists(self):
        return self.read() is not None

    def drift(self):
        self.root.write_data(f"auth/{self.mount}/role/ci", data={"token_ttl": "10m"})
        return {"token_ttl": "600 -> 3600"}

    def delete_by_hand(self):
        self.root.delete(f"auth/{self.mount}/role/ci")

    update_lines = {"secret_id_ttl": "600 -> 1200", "role_id": "(sensitive value changed)"}
    reduce_lines = {"token_ttl": "3600 -> 0", "secret_id_bound_cidrs": '["10.0.0.0/8"] -> []'}
    write_only = ("role_id",)

    def secret_values(self):
        return list(self.role_ids.values())


class Policy(Case):
    id = "policy"

    def setup(self, unique):
        self.name = unique("pol")
        self.address = f"policy.{self.name}"
        self.texts = {
            BASE: f'path "kv/data/{self.name}/*" {{\n  capabilities = ["read", "list"]\n}}\n',
            UPDATED: (f'# {self.name}: readers and writers\n'
                      f'path "kv/data/{self.name}/*" {{\n  capabilities = ["read", "list", "update"]\n}}\n'),
        }

    def spec(self, stage):
        return {} if stage == DELETED else {"policies": {self.name: self.texts[stage]}}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"sys/policies/acl/{self.name}")
        return response["data"] if response else None

    def check(self, stage):
        assert self.read()["policy"] == self.texts[stage]

    def exists(self):
        return self.read() is not None

    def drift(self):
        self.root.sys.create_or_update_policy(self.name, 'path "kv/data/*" {\n  capabilities = ["deny"]\n}\n')
        return {"policy": None}

    def delete_by_hand(self):
        self.root.sys.delete_policy(self.name)

    @property
    def update_lines(self):
        # Multi-line text shows as a unified diff under this line (tests/test_render_text.py).
        return {"policy": "(1 line removed, 2 added)"}

    def version(self):
        return self.read()["version"]


class SecretKV2(Case):
    """Every value source: literal, {env}, {file}, {generate}."""

    id = "secret-kv2"
    kv_options: Optional[dict] = {"version": "2"}
    manages_mount = True

    def setup(self, unique):
        self.mount, self.path = self.place(unique)
        self.address = f"secret.{self.mount}/{self.path}"
        self.env_var = f"VF_DB_PASSWORD_{unique('pw').replace('-', '_').upper()}"
        self.values = {"username": f"svc-{rand()}", "api_key": f"api-key-{rand()}",
                       BASE: f"db-pass-{rand()}", UPDATED: f"db-pass-rotated-{rand()}",
                       "hand": f"hand-edited-{rand()}"}
        self.key_file = f"{self.env_var.lower()}-api-key.txt"
        (self.tmp_path / self.key_file).write_text(self.values["api_key"], encoding="utf-8")
        self.generated: Optional[str] = None

    def place(self, unique):
        """(mount, path in it): a mount the spec manages, the secret two levels down."""
        return unique("kvs"), "app/db"

    def spec(self, stage):
        data = {"username": self.values["username"], "password": {"env": self.env_var},
                "api_key": {"file": self.key_file}, "token": {"generate": {"length": 32}}}
        if stage == REDUCED:
            del data["username"]
        sections: dict = {}
        if self.manages_mount:
            mount = {"type": "kv", "options": self.kv_options} if self.kv_options else {"type": "kv"}
            sections["secrets_engines"] = {self.mount: mount}
        if stage != DELETED:
            sections["secrets"] = {f"{self.mount}/{self.path}": data}
        return sections

    def env(self, stage):
        return {self.env_var: self.values[UPDATED if stage == UPDATED else BASE]}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"{self.mount}/data/{self.path}")
        return response["data"]["data"] if response else None

    def check(self, stage):
        data = self.read()
        token_value = data.pop("token")
        assert re.fullmatch(r"[A-Za-z0-9]{32}", token_value)
        if self.generated is None:
            self.generated = token_value
        assert token_value == self.generated, "a generated value was overwritten"
        want = {"password": self.values[UPDATED if stage == UPDATED else BASE], "api_key": self.values["api_key"]}
        if stage != REDUCED:
            want["username"] = self.values["username"]
        assert data == want

    def exists(self):
        return self.root.read(f"{self.mount}/metadata/{self.path}") is not None

    def hand_write(self, data: dict) -> None:
        self.root.write_data(f"{self.mount}/data/{self.path}", data={"data": data})

    def drift(self):
        current = self.read()
        self.hand_write({**current, "password": self.values["hand"]})
        return {"password": "(sensitive value changed)"}

    def delete_by_hand(self):
        # KV v2: a soft delete of the latest version; the metadata stays.
        self.root.delete(f"{self.mount}/data/{self.path}")
        self.generated = None  # gone with the data: generating it again is right

    update_lines = {"password": "(sensitive value changed)"}
    reduce_lines = {"username": "(sensitive value removed)"}

    def version(self):
        return self.root.read(f"{self.mount}/metadata/{self.path}")["data"]["current_version"]

    def secret_values(self):
        return [v for k, v in self.values.items()] + ([self.generated] if self.generated else [])


class SecretKV1(SecretKV2):
    id = "secret-kv1"
    kv_options = None

    def read(self):
        response = self.root.read(f"{self.mount}/{self.path}")
        return dict(response["data"]) if response else None

    def exists(self):
        return self.read() is not None

    def hand_write(self, data):
        self.root.write_data(f"{self.mount}/{self.path}", data=data)

    def delete_by_hand(self):
        self.root.delete(f"{self.mount}/{self.path}")
        self.generated = None

    def version(self):
        return None  # KV v1 keeps no versions; the write spy covers it


class SecretOnUnmanagedMount(SecretKV2):
    """A secret in a mount the spec does not manage: dev mode's kv-v2 at secret/."""

    id = "secret-kv2-unmanaged-mount"
    manages_mount = False

    def place(self, unique):
        return "secret", f"{unique('app')}/db"



# -- objects inside secrets engines (pki.py, transit.py, database.py, kv_config.py) --------
#
# Besides the contract above, each of these can be made by hand exactly as the
# spec says (`hand_make`: adopted, never re-written), planned by a token
# holding only `vaultform planner-policy` (no secret readable), and, where the
# kind is a collection, pruned (`hand_make_other`: an object the spec lacks).


class KVConfig(Case):
    id = "kv_config"

    def setup(self, unique):
        self.mount = unique("kvcfg")
        self.address = f"kv_config.{self.mount}"

    def spec(self, stage):
        body = {"type": "kv", "options": {"version": "2"}}
        settings = {"max_versions": 5, "cas_required": True, "delete_version_after": "720h"}
        if stage == UPDATED:
            settings["max_versions"] = 7
        if stage == REDUCED:
            settings = {"max_versions": 5}
        if stage != DELETED:
            body["kv"] = settings
        return {"secrets_engines": {self.mount: body}}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"{self.mount}/config")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        want = {BASE: (5, True, "720h0m0s"), UPDATED: (7, True, "720h0m0s"), REDUCED: (5, False, "0s")}[stage]
        assert (data["max_versions"], data["cas_required"], data["delete_version_after"]) == want

    def exists(self):
        # The settings cannot be deleted, only set back to Vault's defaults.
        data = self.read()
        return data is not None and (data["max_versions"], data["cas_required"], data["delete_version_after"]) != \
            (0, False, "0s")

    def drift(self):
        self.root.write_data(f"{self.mount}/config", data={"max_versions": 3})
        return {"max_versions": "3 -> 5"}

    def hand_make(self):
        self.root.write_data(f"{self.mount}/config", data={"max_versions": 5, "cas_required": True,
                                                          "delete_version_after": "720h"})

    update_lines = {"max_versions": "5 -> 7"}
    reduce_lines = {"cas_required": "true -> false", "delete_version_after": "2592000 -> 0"}


class TransitKey(Case):
    """A key that encrypts and decrypts; exportable switched on later (one way)."""

    id = "transit_key"
    prune_key = "transit_keys"

    def setup(self, unique):
        self.mount = unique("transit")
        self.address = f"transit_key.{self.mount}/app"

    def key(self, stage) -> dict:
        key = {"type": "aes256-gcm96", "deletion_allowed": True, "auto_rotate_period": "720h"}
        if stage == UPDATED:
            key["exportable"] = True
        if stage == REDUCED:
            del key["auto_rotate_period"]
        return key

    def spec(self, stage):
        body = {"type": "transit"}
        if stage != DELETED:
            body["keys"] = {"app": self.key(stage)}
        return {"secrets_engines": {self.mount: body}}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"{self.mount}/keys/app")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        assert (data["type"], data["deletion_allowed"], data["exportable"], data["auto_rotate_period"]) == \
            ("aes256-gcm96", True, stage == UPDATED, 0 if stage == REDUCED else 2592000)
        # The key works: what it encrypts, it decrypts.
        plaintext = base64.b64encode(b"contract " + rand().encode()).decode()
        sealed = self.root.write_data(f"{self.mount}/encrypt/app", data={"plaintext": plaintext})
        ciphertext = sealed["data"]["ciphertext"]
        assert ciphertext.startswith("vault:v1:")
        opened = self.root.write_data(f"{self.mount}/decrypt/app", data={"ciphertext": ciphertext})
        assert opened["data"]["plaintext"] == plaintext

    def exists(self):
        return self.read() is not None

    def drift(self):
        self.root.write_data(f"{self.mount}/keys/app/config", data={"auto_rotate_period": "1h"})
        return {"auto_rotate_period": "3600 -> 2592000"}

    def delete_by_hand(self):
        self.root.delete(f"{self.mount}/keys/app")

    def hand_make(self):
        self.root.write_data(f"{self.mount}/keys/app", data={"type": "aes256-gcm96", "auto_rotate_period": "720h"})
        self.root.write_data(f"{self.mount}/keys/app/config", data={"deletion_allowed": True})

    def hand_make_other(self) -> str:
        self.root.write_data(f"{self.mount}/keys/by-hand", data={})
        self.root.write_data(f"{self.mount}/keys/by-hand/config", data={"deletion_allowed": True})
        return f"transit_key.{self.mount}/by-hand"

    update_lines = {"exportable": "false -> true"}
    reduce_lines = {"auto_rotate_period": "2592000 -> 0"}



def pki_issuer(root, mount: str) -> Optional[dict]:
    if not (root.read(f"{mount}/config/issuers") or {}).get("data", {}).get("default"):
        return None
    return root.read(f"{mount}/issuer/default")["data"]


def certificate(pem: str):
    from cryptography import x509
    return x509.load_pem_x509_certificate(pem.encode())


def common_name(pem: str) -> str:
    from cryptography.x509.oid import NameOID
    return certificate(pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


class PKIRootCA(Case):
    """Generated inside Vault; its issuer's name and leaf behaviour change in place."""

    id = "pki_root_ca"

    def setup(self, unique):
        self.mount = unique("pkiroot")
        self.address = f"pki_root_ca.{self.mount}"
        self.cn = f"Contract Root {self.mount}"

    def spec(self, stage):
        ca = {"common_name": self.cn, "key_type": "ec", "ttl": "720h", "issuer_name": "root-a",
              "leaf_not_after_behavior": "truncate"}
        if stage == UPDATED:
            ca["issuer_name"] = "root-b"
        if stage == REDUCED:
            del ca["issuer_name"], ca["leaf_not_after_behavior"]  # a name once set stays: Vault refuses ""
        body = {"type": "pki"}
        if stage != DELETED:
            body["root_ca"] = ca
        return {"secrets_engines": {self.mount: body}}

    def check(self, stage):
        issuer = pki_issuer(self.root, self.mount)
        cert = certificate(issuer["certificate"])
        assert common_name(issuer["certificate"]) == self.cn and cert.issuer == cert.subject  # self-signed
        name = {BASE: "root-a", UPDATED: "root-b", REDUCED: "root-a"}[stage]
        assert (issuer["issuer_name"], issuer["leaf_not_after_behavior"]) == \
            (name, "err" if stage == REDUCED else "truncate")
        assert "private_key" not in issuer

    def exists(self):
        return pki_issuer(self.root, self.mount) is not None

    def drift(self):
        issuer = pki_issuer(self.root, self.mount)
        self.root.write_data(f"{self.mount}/issuer/default", data={
            "issuer_name": "by-hand", "leaf_not_after_behavior": issuer["leaf_not_after_behavior"]})
        return {"issuer_name": '"by-hand" -> "root-a"'}

    def delete_by_hand(self):
        self.root.delete(f"{self.mount}/root")

    def hand_make(self):
        self.root.write_data(f"{self.mount}/root/generate/internal", data={
            "common_name": self.cn, "key_type": "ec", "ttl": "720h", "issuer_name": "root-a"})
        self.root.write_data(f"{self.mount}/issuer/default", data={
            "issuer_name": "root-a", "leaf_not_after_behavior": "truncate"})

    update_lines = {"issuer_name": '"root-a" -> "root-b"'}
    reduce_lines = {"leaf_not_after_behavior": '"truncate" -> "err"'}

    def secret_values(self):
        return ["PRIVATE KEY"]


class PKIIntermediateCA(Case):
    """Signed by the root CA of another mount; the key never leaves Vault."""

    id = "pki_intermediate_ca"

    def setup(self, unique):
        self.root_mount, self.mount = unique("pkir"), unique("pkiint")
        self.address = f"pki_intermediate_ca.{self.mount}"
        self.cn = f"Contract Intermediate {self.mount}"

    def spec(self, stage):
        ca = {"common_name": self.cn, "signed_by": self.root_mount, "key_type": "ec", "ttl": "240h",
              "organization": ["Example"], "issuer_name": "int-a", "leaf_not_after_behavior": "permit"}
        if stage == UPDATED:
            ca["issuer_name"] = "int-b"
        if stage == REDUCED:
            del ca["leaf_not_after_behavior"]
        body = {"type": "pki"}
        if stage != DELETED:
            body["intermediate_ca"] = ca
        return {"secrets_engines": {
            self.root_mount: {"type": "pki", "root_ca": {"common_name": f"Root of {self.mount}", "key_type": "ec"}},
            self.mount: body}}

    def check(self, stage):
        issuer = pki_issuer(self.root, self.mount)
        cert = certificate(issuer["certificate"])
        assert common_name(issuer["certificate"]) == self.cn
        cert.verify_directly_issued_by(certificate(pki_issuer(self.root, self.root_mount)["certificate"]))
        assert issuer["issuer_name"] == ("int-b" if stage == UPDATED else "int-a")
        assert issuer["leaf_not_after_behavior"] == ("err" if stage == REDUCED else "permit")

    def exists(self):
        return pki_issuer(self.root, self.mount) is not None

    def drift(self):
        self.root.write_data(f"{self.mount}/issuer/default", data={"issuer_name": "by-hand",
                                                                  "leaf_not_after_behavior": "permit"})
        return {"issuer_name": '"by-hand" -> "int-a"'}

    def delete_by_hand(self):
        self.root.delete(f"{self.mount}/root")

    def hand_make(self):
        subject = {"common_name": self.cn, "organization": "Example"}
        csr = self.root.write_data(f"{self.mount}/intermediate/generate/internal",
                                   data={**subject, "key_type": "ec"})["data"]["csr"]
        signed = self.root.write_data(f"{self.root_mount}/root/sign-intermediate",
                                      data={**subject, "csr": csr, "ttl": "240h"})["data"]
        self.root.write_data(f"{self.mount}/intermediate/set-signed",
                             data={"certificate": signed["certificate"] + "\n" + signed["issuing_ca"]})
        self.root.write_data(f"{self.mount}/issuer/default", data={"issuer_name": "int-a",
                                                                  "leaf_not_after_behavior": "permit"})

    update_lines = {"issuer_name": '"int-a" -> "int-b"'}
    reduce_lines = {"leaf_not_after_behavior": '"permit" -> "err"'}

    def secret_values(self):
        return ["PRIVATE KEY"]


class PKIURLs(Case):
    id = "pki_urls"

    def setup(self, unique):
        self.mount = unique("pkiurls")
        self.address = f"pki_urls.{self.mount}"

    def urls(self, stage) -> dict:
        urls = {"issuing_certificates": ["http://pki.example/ca"], "crl_distribution_points": ["http://pki.example/crl"]}
        if stage == UPDATED:
            urls["issuing_certificates"] = ["http://pki.example/ca", "http://backup.example/ca"]
        if stage == REDUCED:
            del urls["crl_distribution_points"]
        return urls

    def spec(self, stage):
        body = {"type": "pki"}
        if stage != DELETED:
            body["urls"] = self.urls(stage)
        return {"secrets_engines": {self.mount: body}}

    def read(self) -> dict:
        return self.root.read(f"{self.mount}/config/urls")["data"]

    def check(self, stage):
        data = self.read()
        want = self.urls(stage)
        assert data["issuing_certificates"] == want["issuing_certificates"]
        assert data["crl_distribution_points"] == want.get("crl_distribution_points", [])

    def exists(self):
        data = self.read()
        return bool(data["issuing_certificates"] or data["crl_distribution_points"] or data["ocsp_servers"])

    def drift(self):
        self.root.write_data(f"{self.mount}/config/urls", data={**self.urls(BASE), "ocsp_servers": ["http://hand"]})
        return {"ocsp_servers": '["http://hand"] -> []'}

    def hand_make(self):
        self.root.write_data(f"{self.mount}/config/urls", data=self.urls(BASE))

    update_lines = {"issuing_certificates": '["http://pki.example/ca"] -> '
                                            '["http://pki.example/ca", "http://backup.example/ca"]'}
    reduce_lines = {"crl_distribution_points": '["http://pki.example/crl"] -> []'}


class PKIRole(Case):
    """A role of an intermediate CA: the certificate it issues chains to the root."""

    id = "pki_role"
    prune_key = "pki_roles"

    def setup(self, unique):
        self.root_mount, self.mount = unique("pkirr"), unique("pkirole")
        self.address = f"pki_role.{self.mount}/web"

    def role(self, stage) -> dict:
        role = {"allowed_domains": ["example.com"], "allow_subdomains": True, "key_type": "ec", "max_ttl": "72h",
                "ttl": "1h"}
        if stage == UPDATED:
            role["max_ttl"] = "96h"
        if stage == REDUCED:
            del role["allow_subdomains"]
        return role

    def spec(self, stage):
        body = {"type": "pki", "intermediate_ca": {"common_name": f"Int {self.mount}", "signed_by": self.root_mount,
                                                   "key_type": "ec"}}
        if stage != DELETED:
            body["roles"] = {"web": self.role(stage)}
        return {"secrets_engines": {
            self.root_mount: {"type": "pki", "root_ca": {"common_name": f"Root {self.mount}", "key_type": "ec"}},
            self.mount: body}}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"{self.mount}/roles/web")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        assert (data["allowed_domains"], data["allow_subdomains"], data["key_type"], data["key_bits"]) == \
            (["example.com"], stage != REDUCED, "ec", 256)
        assert (data["ttl"], data["max_ttl"]) == (3600, 345600 if stage == UPDATED else 259200)
        # Issue a certificate and verify the whole chain: leaf <- intermediate <- root.
        name = "www.example.com" if stage != REDUCED else "example.com"
        if stage == REDUCED:
            self.root.write_data(f"{self.mount}/roles/web", data={**data, "allow_bare_domains": True})
        issued = self.root.write_data(f"{self.mount}/issue/web", data={"common_name": name})["data"]
        if stage == REDUCED:
            self.root.write_data(f"{self.mount}/roles/web", data=data)  # back as applied
        leaf, intermediate = certificate(issued["certificate"]), certificate(issued["issuing_ca"])
        root_ca = certificate(pki_issuer(self.root, self.root_mount)["certificate"])
        leaf.verify_directly_issued_by(intermediate)
        intermediate.verify_directly_issued_by(root_ca)
        root_ca.verify_directly_issued_by(root_ca)
        assert common_name(issued["certificate"]) == name
        self.issued_keys = getattr(self, "issued_keys", []) + [issued["private_key"]]

    def exists(self):
        return self.read() is not None

    def drift(self):
        self.root.write_data(f"{self.mount}/roles/web", data={**self.read(), "ttl": "2h"})
        return {"ttl": "7200 -> 3600"}

    def delete_by_hand(self):
        self.root.delete(f"{self.mount}/roles/web")

    def hand_make(self):
        self.root.write_data(f"{self.mount}/roles/web", data=self.role(BASE))

    def hand_make_other(self) -> str:
        self.root.write_data(f"{self.mount}/roles/by-hand", data={"allowed_domains": ["other.example"]})
        return f"pki_role.{self.mount}/by-hand"

    update_lines = {"max_ttl": "259200 -> 345600"}
    reduce_lines = {"allow_subdomains": "true -> false"}

    def secret_values(self):
        return ["PRIVATE KEY"] + [k for k in getattr(self, "issued_keys", [])]


CREATE_SQL = ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
              "GRANT CONNECT ON DATABASE app TO \"{{name}}\";"]
REVOKE_SQL = ["REVOKE ALL ON DATABASE app FROM \"{{name}}\";", "DROP ROLE IF EXISTS \"{{name}}\";"]


class DatabaseConnection(Case):
    """Against a real PostgreSQL: the password is write-only, compared by fingerprint."""

    id = "database_connection"
    prune_key = "database_connections"
    needs_postgres = True
    pg = None  # the session's PostgresServer, set by the `case` fixture
    # Vault never returns a password: one made by hand cannot be known to be the
    # spec's, so adopting it writes it once (and records its fingerprint).
    adopt_lines = {"password": "(sensitive value added)"}

    def setup(self, unique):
        self.mount = unique("db")
        self.address = f"database_connection.{self.mount}/pg"
        self.var = f"VF_PG_{self.mount.replace('-', '_').upper()}"
        # A login role of its own, so its password can change without touching other tests.
        self.user, self.passwords = f"vf_{rand()}", {BASE: f"pw-{rand()}", UPDATED: f"pw2-{rand()}"}
        self.pg.psql(f"CREATE ROLE {self.user} WITH LOGIN CREATEROLE PASSWORD '{self.passwords[BASE]}'")
        self.pg.psql(f"GRANT CONNECT ON DATABASE app TO {self.user} WITH GRANT OPTION")

    def connection(self, stage) -> dict:
        connection = {"plugin_name": "postgresql-database-plugin", "connection_url": self.pg.url(),
                      "username": self.user, "password": {"env": self.var}, "allowed_roles": ["app"],
                      "max_open_connections": 4}
        if stage == UPDATED:
            connection["allowed_roles"] = ["app", "report"]
        if stage == REDUCED:
            del connection["allowed_roles"]
        return connection

    def spec(self, stage):
        body = {"type": "database"}
        if stage != DELETED:
            body["connections"] = {"pg": self.connection(stage)}
        return {"secrets_engines": {self.mount: body}}

    def env(self, stage):
        return {self.var: self.passwords[BASE]}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"{self.mount}/config/pg")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        assert data["plugin_name"] == "postgresql-database-plugin"
        assert data["connection_details"]["username"] == self.user
        assert "password" not in data["connection_details"] and "password" not in data
        assert data["allowed_roles"] == {BASE: ["app"], UPDATED: ["app", "report"], REDUCED: []}[stage]
        # The password Vault holds logs in: reset reconnects with it, and fails if it does not.
        self.root.write_data(f"{self.mount}/reset/pg", data={})

    def exists(self):
        return self.read() is not None

    def hand_write(self, **changes) -> None:
        self.root.write_data(f"{self.mount}/config/pg", data={
            **self.connection(BASE), "password": self.passwords[BASE], **changes})

    def drift(self):
        self.hand_write(allowed_roles=["by-hand"])
        return {"allowed_roles": '["by-hand"] -> ["app"]'}

    def delete_by_hand(self):
        self.root.delete(f"{self.mount}/config/pg")

    def hand_make(self):
        self.hand_write()

    def hand_make_other(self) -> str:
        self.root.write_data(f"{self.mount}/config/other", data={
            **self.connection(BASE), "password": self.passwords[BASE], "allowed_roles": []})
        return f"database_connection.{self.mount}/other"

    update_lines = {"allowed_roles": '["app"] -> ["app", "report"]'}
    reduce_lines = {"allowed_roles": '["app"] -> []'}

    def secret_values(self):
        return list(self.passwords.values()) + [self.pg.password]


class DatabaseRole(DatabaseConnection):
    """Dynamic credentials that really log in to PostgreSQL."""

    id = "database_role"
    prune_key = "database_roles"
    adopt_lines = None

    def setup(self, unique):
        super().setup(unique)
        self.address = f"database_role.{self.mount}/app"
        self.issued: List[str] = []

    def role(self, stage) -> dict:
        role = {"db_name": "pg", "creation_statements": CREATE_SQL, "revocation_statements": REVOKE_SQL,
                "default_ttl": "1h", "max_ttl": "24h"}
        if stage == UPDATED:
            role["default_ttl"] = "2h"
        if stage == REDUCED:
            del role["max_ttl"]
        return role

    def spec(self, stage):
        body = {"type": "database", "connections": {"pg": self.connection(BASE)}}
        if stage != DELETED:
            body["roles"] = {"app": self.role(stage)}
        return {"secrets_engines": {self.mount: body}}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"{self.mount}/roles/app")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        assert data["db_name"] == "pg" and data["creation_statements"] == CREATE_SQL
        assert (data["default_ttl"], data["max_ttl"]) == (7200 if stage == UPDATED else 3600,
                                                          0 if stage == REDUCED else 86400)
        # Credentials from Vault log in to the real database.
        creds = self.root.read(f"{self.mount}/creds/app")
        username, password = creds["data"]["username"], creds["data"]["password"]
        self.issued.append(password)
        assert self.pg.psql("SELECT current_user", user=username, password=password) == username
        self.root.sys.revoke_lease(creds["lease_id"])

    def hand_write(self, **changes) -> None:
        self.root.write_data(f"{self.mount}/roles/app", data={**self.role(BASE), **changes})

    def drift(self):
        self.hand_write(default_ttl="30m")
        return {"default_ttl": "1800 -> 3600"}

    def delete_by_hand(self):
        self.root.delete(f"{self.mount}/roles/app")

    def hand_make_other(self) -> str:
        self.root.write_data(f"{self.mount}/roles/other", data={**self.role(BASE)})
        return f"database_role.{self.mount}/other"

    def exists(self):
        return self.read() is not None

    def spec_for_adoption(self):
        return self.spec(DELETED)

    update_lines = {"default_ttl": "3600 -> 7200"}
    reduce_lines = {"max_ttl": "86400 -> 0"}

    def secret_values(self):
        return super().secret_values() + self.issued

class UserpassUser(Case):
    """userpass_user: the password from a value source (write-only), checked by logging in."""

    id = "userpass_user"

    def setup(self, unique):
        self.mount = unique("userpass")
        self.address = f"userpass_user.{self.mount}/bob"
        self.var = f"VF_PW_{self.mount.replace('-', '_').upper()}"
        self.passwords = {BASE: f"pw-{rand()}", UPDATED: f"pw-rotated-{rand()}"}

    def spec(self, stage):
        user = {"password": {"env": self.var}, "token_policies": ["Reader"], "token_ttl": "1h",
                "token_bound_cidrs": ["10.0.0.0/8", "127.0.0.1/32"]}
        if stage == UPDATED:
            user["token_ttl"] = "2h"
        if stage == REDUCED:
            del user["token_ttl"], user["token_bound_cidrs"]
        body = {"type": "userpass"}
        if stage != DELETED:
            body["users"] = {"bob": user}
        return {"auth": {self.mount: body}}

    def env(self, stage):
        return {self.var: self.passwords[UPDATED if stage == UPDATED else BASE]}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"auth/{self.mount}/users/bob")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        assert data["token_policies"] == ["reader"]
        assert data["token_ttl"] == {BASE: 3600, UPDATED: 7200, REDUCED: 0}[stage]
        assert data["token_bound_cidrs"] == ([] if stage == REDUCED else ["10.0.0.0/8", "127.0.0.1"])
        import hvac  # the password is only ever checked by using it
        client = hvac.Client(url=self.root.url)
        password = self.passwords[UPDATED if stage == UPDATED else BASE]
        client.auth.userpass.login(username="bob", password=password, mount_point=self.mount)

    def exists(self):
        return self.read() is not None

    def drift(self):
        self.root.write_data(f"auth/{self.mount}/users/bob", data={"token_ttl": "10m"})
        return {"token_ttl": "600 -> 3600"}

    def delete_by_hand(self):
        self.root.delete(f"auth/{self.mount}/users/bob")

    update_lines = {"token_ttl": "3600 -> 7200", "password": "(sensitive value changed)"}
    reduce_lines = {"token_ttl": "3600 -> 0", "token_bound_cidrs": '["10.0.0.0/8", "127.0.0.1"] -> []'}
    write_only = ("password",)

    def secret_values(self):
        return list(self.passwords.values())


class JwtConfig(Case):
    """jwt_config: keys from a file (public, shown), replaced whole on every write."""

    id = "jwt_config"
    auth_type = "jwt"

    def setup(self, unique):
        self.mount = unique(self.auth_type)
        self.address = f"{self.auth_type}_config.{self.mount}"
        (self.tmp_path / "jwt.pub").write_text(jwt_public_key(), encoding="utf-8")

    def config(self, stage) -> dict:
        config = {"jwt_validation_pubkeys": [{"file": "jwt.pub"}], "bound_issuer": "https://issuer-a.example",
                  "default_role": "deploy", "jwt_supported_algs": "ES256,RS256"}
        if stage == UPDATED:
            config["bound_issuer"] = "https://issuer-b.example"
        if stage == REDUCED:
            del config["default_role"], config["jwt_supported_algs"]
        return config

    def spec(self, stage):
        if stage == DELETED:
            return {}  # a config goes with its auth method
        return {"auth": {self.mount: {"type": self.auth_type, "config": self.config(stage)}}}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"auth/{self.mount}/config")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        assert data["jwt_validation_pubkeys"] == [jwt_public_key().strip()]
        assert data["bound_issuer"] == ("https://issuer-b.example" if stage == UPDATED else "https://issuer-a.example")
        assert data["default_role"] == ("" if stage == REDUCED else "deploy")
        assert data["jwt_supported_algs"] == ([] if stage == REDUCED else ["ES256", "RS256"])

    def exists(self):
        return mount_entry(self.root, "auth", self.mount) is not None and self.read() is not None

    def drift(self):
        # A full replace: default_role and the algorithms go too.
        self.root.write_data(f"auth/{self.mount}/config", data={
            "jwt_validation_pubkeys": [jwt_public_key()], "bound_issuer": "https://elsewhere.example"})
        return {"bound_issuer": '"https://elsewhere.example" -> "https://issuer-a.example"',
                "default_role": '"" -> "deploy"', "jwt_supported_algs": '[] -> ["ES256", "RS256"]'}

    update_lines = {"bound_issuer": '"https://issuer-a.example" -> "https://issuer-b.example"'}
    reduce_lines = {"default_role": '"deploy" -> ""', "jwt_supported_algs": '["ES256", "RS256"] -> []'}


class OidcConfig(JwtConfig):
    """oidc_config: discovery against a loopback HTTPS provider, the write-only client secret."""

    id = "oidc_config"
    auth_type = "oidc"

    def setup(self, unique):
        super().setup(unique)
        self.provider = oidc_provider()
        (self.tmp_path / "issuer-ca.pem").write_text(self.provider.ca_pem, encoding="utf-8")
        self.var = f"VF_OIDC_SECRET_{self.mount.replace('-', '_').upper()}"
        self.secrets = {BASE: f"client-secret-{rand()}", UPDATED: f"client-secret-rotated-{rand()}"}

    def config(self, stage):
        config = {"oidc_discovery_url": self.provider.issuer, "oidc_discovery_ca_pem": {"file": "issuer-ca.pem"},
                  "oidc_client_id": "vault", "oidc_client_secret": {"env": self.var}, "default_role": "web",
                  "oidc_response_types": ["code"]}
        if stage == UPDATED:
            config["oidc_client_id"] = "vault-2"
        if stage == REDUCED:
            del config["default_role"], config["oidc_response_types"]
        return config

    def env(self, stage):
        return {self.var: self.secrets[UPDATED if stage == UPDATED else BASE]}

    def check(self, stage):
        data = self.read()
        assert data["oidc_discovery_url"] == self.provider.issuer
        assert data["oidc_discovery_ca_pem"] == self.provider.ca_pem
        assert data["oidc_client_id"] == ("vault-2" if stage == UPDATED else "vault")
        assert data["default_role"] == ("" if stage == REDUCED else "web")
        assert "oidc_client_secret" not in data

    def drift(self):
        self.root.write_data(f"auth/{self.mount}/config", data={
            "oidc_discovery_url": self.provider.issuer, "oidc_discovery_ca_pem": self.provider.ca_pem,
            "oidc_client_id": "by-hand", "oidc_client_secret": "by-hand-secret"})
        # The secret written by hand cannot be seen; the fields around it can.
        return {"oidc_client_id": '"by-hand" -> "vault"', "default_role": '"" -> "web"',
                "oidc_response_types": '[] -> ["code"]'}

    update_lines = {"oidc_client_id": '"vault" -> "vault-2"', "oidc_client_secret": "(sensitive value changed)"}
    reduce_lines = {"default_role": '"web" -> ""', "oidc_response_types": '["code"] -> []'}
    write_only = ("oidc_client_secret",)

    def secret_values(self):
        return list(self.secrets.values()) + ["by-hand-secret"]


class JwtRole(Case):
    """jwt_role: the GitHub Actions shape (bound claims, audiences, claim mappings)."""

    id = "jwt_role"
    auth_type = "jwt"

    def setup(self, unique):
        self.mount = unique(self.auth_type)
        self.address = f"{self.auth_type}_role.{self.mount}/deploy"
        (self.tmp_path / "jwt.pub").write_text(jwt_public_key(), encoding="utf-8")

    def role(self, stage) -> dict:
        role = {"role_type": "jwt", "user_claim": "repository", "bound_audiences": "https://github.com/org",
                "bound_claims": {"repository": "org/repo", "ref": ["refs/heads/main"]},
                "claim_mappings": {"workflow": "workflow"}, "token_policies": ["deploy"], "token_ttl": "15m",
                "expiration_leeway": "1m"}
        if stage == UPDATED:
            role["bound_claims"]["ref"] = ["refs/heads/main", "refs/tags/*"]
            role["bound_claims_type"] = "glob"
        if stage == REDUCED:
            del role["claim_mappings"], role["expiration_leeway"]
        return role

    def spec(self, stage):
        body = {"type": self.auth_type, "config": {"jwt_validation_pubkeys": [{"file": "jwt.pub"}]}}
        if stage != DELETED:
            body["roles"] = {"deploy": self.role(stage)}
        return {"auth": {self.mount: body}}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"auth/{self.mount}/role/deploy")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        assert (data["role_type"], data["user_claim"], data["bound_audiences"]) == (
            self.role(stage)["role_type"], self.role(stage)["user_claim"], ["https://github.com/org"])
        assert data["bound_claims"] == self.role(stage)["bound_claims"]
        assert data["bound_claims_type"] == ("glob" if stage == UPDATED else "string")
        assert data["claim_mappings"] == ({} if stage == REDUCED else {"workflow": "workflow"})
        assert (data["token_ttl"], data["expiration_leeway"]) == (900, 0 if stage == REDUCED else 60)

    def exists(self):
        return self.read() is not None

    def drift(self):
        # Measured: a role write without role_type is judged as an oidc role, so it is sent again.
        self.root.write_data(f"auth/{self.mount}/role/deploy", data={"role_type": "jwt",
                                                                     "bound_claims": {"repository": "org/other"}})
        return {"bound_claims": '{"repository": "org/other"} -> {"ref": ["refs/heads/main"], "repository": "org/repo"}'}

    def delete_by_hand(self):
        self.root.delete(f"auth/{self.mount}/role/deploy")

    # A long object shows as a diff of its indented JSON (render/text.py).
    update_lines = {"bound_claims": "(1 line removed, 2 added)",
                    "bound_claims_type": '"string" -> "glob"'}
    reduce_lines = {"claim_mappings": '{"workflow": "workflow"} -> {}', "expiration_leeway": "60 -> 0"}


class OidcRole(JwtRole):
    """oidc_role: a browser-login role (redirect URIs, scopes) on an oidc mount."""

    id = "oidc_role"
    auth_type = "oidc"

    def role(self, stage):
        role = {"role_type": "oidc", "user_claim": "email", "bound_audiences": ["vault"],
                "bound_claims": {"groups": ["ops"]}, "allowed_redirect_uris": ["https://vault.example/ui/callback"],
                "oidc_scopes": "email,profile", "token_policies": "Ops", "token_ttl": "15m",
                "expiration_leeway": "1m", "claim_mappings": {"name": "name"}}
        if stage == UPDATED:
            role["allowed_redirect_uris"].append("http://localhost:8250/oidc/callback")
        if stage == REDUCED:
            del role["claim_mappings"], role["expiration_leeway"]
        return role

    def check(self, stage):
        data = self.read()
        uris = ["https://vault.example/ui/callback"] + (["http://localhost:8250/oidc/callback"] if stage == UPDATED else [])
        assert (data["role_type"], data["allowed_redirect_uris"], data["oidc_scopes"]) == ("oidc", uris, ["email", "profile"])
        assert data["token_policies"] == ["ops"]
        assert (data["token_ttl"], data["expiration_leeway"]) == (900, 0 if stage == REDUCED else 60)

    def drift(self):
        self.root.write_data(f"auth/{self.mount}/role/deploy", data={"role_type": "oidc", "oidc_scopes": ["openid"]})
        return {"oidc_scopes": '["openid"] -> ["email", "profile"]'}

    update_lines = {"allowed_redirect_uris": "(1 line removed, 2 added)"}  # a long list: a diff
    reduce_lines = {"claim_mappings": '{"name": "name"} -> {}', "expiration_leeway": "60 -> 0"}


class CertCertificate(Case):
    """cert_certificate: a CA from a file (public, compared directly); display_name defaults to the name."""

    id = "cert_certificate"

    def setup(self, unique):
        self.mount = unique("cert")
        self.address = f"cert_certificate.{self.mount}/web"
        (self.tmp_path / "web-ca.pem").write_text(ca_pem(), encoding="utf-8")

    def spec(self, stage):
        cert = {"certificate": {"file": "web-ca.pem"}, "allowed_common_names": ["web", "web-*"],
                "display_name": "web servers", "token_policies": ["web"], "ttl": "30m"}
        if stage == UPDATED:
            cert["allowed_common_names"] = "web,web-*,api"
        if stage == REDUCED:
            del cert["display_name"], cert["ttl"]
        body = {"type": "cert"}
        if stage != DELETED:
            body["certs"] = {"web": cert}
        return {"auth": {self.mount: body}}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"auth/{self.mount}/certs/web")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        assert data["certificate"] == ca_pem()
        names = ["web", "web-*", "api"] if stage == UPDATED else ["web", "web-*"]
        assert (data["allowed_common_names"], data["token_policies"]) == (names, ["web"])
        assert data["display_name"] == ("web" if stage == REDUCED else "web servers")
        assert data["token_ttl"] == (0 if stage == REDUCED else 1800)

    def exists(self):
        return self.read() is not None

    def drift(self):
        self.root.write_data(f"auth/{self.mount}/certs/web", data={"allowed_common_names": ["*"]})
        return {"allowed_common_names": '["*"] -> ["web", "web-*"]'}

    def delete_by_hand(self):
        self.root.delete(f"auth/{self.mount}/certs/web")

    update_lines = {"allowed_common_names": '["web", "web-*"] -> ["web", "web-*", "api"]'}
    reduce_lines = {"display_name": '"web servers" -> "web"', "token_ttl": "1800 -> 0"}


class CertConfig(Case):
    id = "cert_config"

    def setup(self, unique):
        self.mount = unique("certcfg")
        self.address = f"cert_config.{self.mount}"

    def spec(self, stage):
        config = {"disable_binding": True, "enable_identity_alias_metadata": True, "ocsp_cache_size": 200}
        if stage == UPDATED:
            config["ocsp_cache_size"] = 300
        if stage == REDUCED:
            del config["disable_binding"], config["enable_identity_alias_metadata"]
        return {} if stage == DELETED else {"auth": {self.mount: {"type": "cert", "config": config}}}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"auth/{self.mount}/config")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        flag = stage != REDUCED
        assert (data["disable_binding"], data["enable_identity_alias_metadata"]) == (flag, flag)
        assert data["ocsp_cache_size"] == (300 if stage == UPDATED else 200)

    def exists(self):
        return mount_entry(self.root, "auth", self.mount) is not None

    def drift(self):
        self.root.write_data(f"auth/{self.mount}/config", data={"disable_binding": False})
        return {"disable_binding": "false -> true"}

    update_lines = {"ocsp_cache_size": "200 -> 300"}
    reduce_lines = {"disable_binding": "true -> false", "enable_identity_alias_metadata": "true -> false"}


class TokenRole(Case):
    """token_role: the top-level token_roles: section; policy lists Vault keeps as sorted sets."""

    id = "token_role"

    def setup(self, unique):
        self.name = unique("nomad")
        self.address = f"token_role.{self.name}"

    def spec(self, stage):
        role = {"allowed_policies": ["Nomad", "audit"], "orphan": True, "token_period": "1h",
                "path_suffix": "cluster-a", "token_bound_cidrs": "10.0.0.0/8",
                "allowed_entity_aliases": ["Web-1", "api", "web-1"]}
        if stage == UPDATED:
            role["token_period"] = "2h"
            role["disallowed_policies"] = ["root-ish"]
        if stage == REDUCED:
            del role["orphan"], role["path_suffix"]
        return {} if stage == DELETED else {"token_roles": {self.name: role}}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"auth/token/roles/{self.name}")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        assert data["allowed_policies"] == ["audit", "nomad"]
        assert data["allowed_entity_aliases"] == ["api", "web-1"]  # Vault lower-cases, sorts, deduplicates
        assert data["token_period"] == (7200 if stage == UPDATED else 3600)
        assert data["disallowed_policies"] == (["root-ish"] if stage == UPDATED else [])
        assert (data["orphan"], data["path_suffix"]) == ((False, "") if stage == REDUCED else (True, "cluster-a"))

    def exists(self):
        return self.read() is not None

    def drift(self):
        self.root.write_data(f"auth/token/roles/{self.name}", data={"token_period": "10m"})
        return {"token_period": "600 -> 3600"}

    def delete_by_hand(self):
        self.root.delete(f"auth/token/roles/{self.name}")

    update_lines = {"token_period": "3600 -> 7200", "disallowed_policies": '[] -> ["root-ish"]'}
    reduce_lines = {"orphan": "true -> false", "path_suffix": '"cluster-a" -> ""'}


AUTH_CASES = [ApproleRole, UserpassUser, JwtConfig, OidcConfig, JwtRole, OidcRole, CertCertificate, CertConfig,
              TokenRole]


class IdentityEntity(Case):
    id = "identity_entity"

    def setup(self, unique):
        self.name = unique("ent")
        self.address = f"identity_entity.{self.name}"

    def spec(self, stage):
        if stage == DELETED:
            return {}
        body = {"policies": ["reader", "audit"], "metadata": {"team": "b" if stage == UPDATED else "a"}}
        if stage == REDUCED:
            del body["metadata"]
        return {"identity": {"entities": {self.name: body}}}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"identity/entity/name/{self.name}")
        return response["data"] if response else None

    def check(self, stage):
        data = self.read()
        assert sorted(data["policies"]) == ["audit", "reader"]
        assert (data["metadata"] or {}) == ({} if stage == REDUCED else {"team": "b" if stage == UPDATED else "a"})

    def exists(self):
        return self.read() is not None

    def drift(self):
        self.root.write(f"identity/entity/name/{self.name}", policies=["reader"])
        return {"policies": None}

    def delete_by_hand(self):
        self.root.delete(f"identity/entity/name/{self.name}")

    update_lines = {"metadata": None}
    reduce_lines = {"metadata": None}

    def version(self):
        return self.read()["last_update_time"]


class IdentityGroup(IdentityEntity):
    id = "identity_group"

    def setup(self, unique):
        self.name = unique("grp")
        self.address = f"identity_group.{self.name}"

    def spec(self, stage):
        sections = super().spec(stage)
        if sections:
            sections["identity"] = {"groups": sections["identity"]["entities"]}
        return sections

    def read(self) -> Optional[dict]:
        response = self.root.read(f"identity/group/name/{self.name}")
        return response["data"] if response else None

    def drift(self):
        self.root.write(f"identity/group/name/{self.name}", policies=["reader"])
        return {"policies": None}

    def delete_by_hand(self):
        self.root.delete(f"identity/group/name/{self.name}")

    def version(self):
        return self.read()["modify_index"]


class GenericPath(Case):
    """paths: a KV v1 entry as the escape hatch's object (readable, deletable)."""

    id = "path"

    def setup(self, unique):
        self.mount = unique("gpath")
        self.root.sys.enable_secrets_engine("kv", path=self.mount, options={"version": "1"})
        self.address = f"path.{self.mount}/settings"

    def spec(self, stage):
        if stage == DELETED:
            return {}
        return {"paths": {f"{self.mount}/settings": {"data": {"mode": "strict", "level": 2 if stage == UPDATED else 1}}}}

    def read(self) -> Optional[dict]:
        response = self.root.read(f"{self.mount}/settings")
        return response["data"] if response else None

    def check(self, stage):
        assert self.read() == {"mode": "strict", "level": 2 if stage == UPDATED else 1}

    def exists(self):
        return self.read() is not None

    def drift(self):
        self.root.write(f"{self.mount}/settings", mode="lax", level=1)
        return {"mode": '"lax" -> "strict"'}

    def delete_by_hand(self):
        self.root.delete(f"{self.mount}/settings")

    update_lines = {"level": "1 -> 2"}



def namespace_entry(root, name: str) -> Optional[dict]:
    try:
        return (root.read(f"sys/namespaces/{name}") or {}).get("data") or None
    except hvac.exceptions.InvalidPath:
        return None


def delete_namespace_by_hand(root, name: str) -> None:
    root.delete(f"sys/namespaces/{name}")
    deadline = time.monotonic() + 30
    while namespace_entry(root, name) is not None and time.monotonic() < deadline:
        time.sleep(0.1)  # OpenBao deletes a namespace in the background


class Namespace(Case):
    id = "namespace"

    def setup(self, unique):
        self.name = unique("ns")
        self.address = f"namespace.{self.name}"

    def spec(self, stage):
        body = {BASE: {"custom_metadata": {"team": "a"}}, UPDATED: {"custom_metadata": {"team": "b", "tier": "1"}},
                REDUCED: {}}.get(stage)
        return {} if stage == DELETED else {"namespaces": {self.name: body}}

    def check(self, stage):
        want = {BASE: {"team": "a"}, UPDATED: {"team": "b", "tier": "1"}, REDUCED: {}}[stage]
        assert namespace_entry(self.root, self.name)["custom_metadata"] == want

    def exists(self):
        return namespace_entry(self.root, self.name) is not None

    def drift(self):
        self.root.write(f"sys/namespaces/{self.name}", custom_metadata={"team": "edited"})
        return {"custom_metadata": None}

    def delete_by_hand(self):
        delete_namespace_by_hand(self.root, self.name)

    def hand_make(self):
        self.root.write(f"sys/namespaces/{self.name}", custom_metadata={"team": "a"})

    update_lines = {"custom_metadata": None}
    reduce_lines = {"custom_metadata": None}


class NamespacedPolicy(Case):
    """Any kind inside a namespace: its requests carry X-Vault-Namespace."""
    id = "namespaced-policy"

    def setup(self, unique):
        self.ns, self.name = unique("ns"), unique("pol")
        self.address = f"namespace.{self.ns}:policy.{self.name}"
        self.inside = hvac.Client(url=self.root.url, token=self.root.token, namespace=self.ns)
        self.texts = {BASE: 'path "kv/data/*" {\n  capabilities = ["read"]\n}\n',
                      UPDATED: 'path "kv/data/*" {\n  capabilities = ["read", "list"]\n}\n'}

    def spec(self, stage):
        body = {} if stage == DELETED else {"policies": {self.name: self.texts[stage]}}
        return {"namespaces": {self.ns: body}}

    def read(self) -> Optional[dict]:
        try:
            response = self.inside.read(f"sys/policies/acl/{self.name}")
        except hvac.exceptions.InvalidPath:
            return None
        return response["data"] if response else None

    def check(self, stage):
        assert self.read()["policy"] == self.texts[stage]
        assert self.root.read(f"sys/policies/acl/{self.name}") is None  # not at the root

    def exists(self):
        return self.read() is not None

    def drift(self):
        self.inside.sys.create_or_update_policy(self.name, 'path "kv/data/*" {\n  capabilities = ["deny"]\n}\n')
        return {"policy": None}

    def delete_by_hand(self):
        self.inside.sys.delete_policy(self.name)

    update_lines = {"policy": None}

    def version(self):
        return self.read()["version"]


def in_a_namespace(case: type) -> type:
    """The same Case, one namespace down: its spec sits under
    `namespaces.<ns>`, its address is `namespace.<ns>:<address>`, and every
    check, drift and hand-made object goes through a client sending
    X-Vault-Namespace, so the contract holds for the kind inside a namespace
    exactly as at the root. The namespace is made by hand first (some Cases
    make objects by hand in setup); the spec names it, so vaultform adopts it
    unchanged and keeps it through every stage, DELETED included."""

    # Wrapped twice, each level keeps its own namespace's name.
    depth = getattr(case, "namespace_depth", 0) + 1
    ns = f"namespace_{depth}"

    class Namespaced(case):
        def __init__(self, unique, tmp_path, root):
            setattr(self, ns, unique("ns"))
            self.outside = root
            root.write(f"sys/namespaces/{getattr(self, ns)}")
            # root.adapter.namespace: the namespace `root` works in, when wrapped twice.
            inside = "/".join(filter(None, [getattr(root.adapter, "namespace", None), getattr(self, ns)]))
            super().__init__(unique, tmp_path, hvac.Client(url=root.url, token=root.token, namespace=inside))
            self.address = Namespaced.moved(self, self.address)  # this level's, not a subclass's

        def moved(self, address: str) -> str:
            """The address one namespace down: a namespace's own becomes
            namespace.<ns>/<name>, any other object's namespace.<ns>:<address>."""
            if address.startswith("namespace."):
                return f"namespace.{getattr(self, ns)}/{address[len('namespace.'):]}"
            return f"namespace.{getattr(self, ns)}:{address}"

        def spec(self, stage):
            return {"namespaces": {getattr(self, ns): super().spec(stage)}}

        def pruning(self, stage, key):
            # The namespace's own prune: (the root's never reaches into it).
            return {"namespaces": {getattr(self, ns): {**super().spec(stage), "prune": {key: True}}}}

    if hasattr(case, "hand_make_other"):  # the prune contract: the other object is in the namespace too
        def hand_make_other(self):
            return Namespaced.moved(self, case.hand_make_other(self))
        Namespaced.hand_make_other = hand_make_other
    Namespaced.namespace_depth = depth
    Namespaced.__name__ = Namespaced.__qualname__ = f"Namespaced{case.__name__}"
    Namespaced.id = f"namespaced-{case.id}"
    return Namespaced


ENGINE_CASES = [KVConfig, TransitKey, PKIRootCA, PKIIntermediateCA, PKIURLs, PKIRole,
                DatabaseConnection, DatabaseRole]

# A kind of each family inside a namespace (NamespacedPolicy also checks the root does not get it),
# a namespace inside a namespace, and a policy two namespaces down.
NAMESPACED_CASES = [NamespacedPolicy] + [in_a_namespace(case) for case in (
    SecretsEngineKV2, AuthMethod, KubernetesRole, ApproleRole, SecretKV2, IdentityEntity, TransitKey, TokenRole,
    GenericPath, Namespace)] + [in_a_namespace(in_a_namespace(Policy))]

CASES = [SecretsEngineKV2, SecretsEngineKV1, AuthMethod, KubernetesConfig, KubernetesRole,
         KubernetesRoleLegacy, *AUTH_CASES, Policy, SecretKV2, SecretKV1, SecretOnUnmanagedMount,
         IdentityEntity, IdentityGroup, GenericPath, Namespace, *NAMESPACED_CASES]
CASES += ENGINE_CASES


# -- fixtures ----------------------------------------------------------------------


@pytest.fixture
def ws(run_cli, tmp_path, vault_env, unique, root):
    workspace = Workspace(run_cli, tmp_path, vault_env, record=f"contract/{unique('rec')}")
    yield workspace
    workspace.assert_no_secret_in_output([root.token])


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL on a loopback port (tests/support/postgres.py), one per worker."""
    from tests.support.postgres import PostgresServer, missing_reason

    reason = missing_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the database tests")
        pytest.skip(reason)
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=CASES, ids=lambda c: c.id)
def case(request, unique, tmp_path, root, ws):
    if getattr(request.param, "needs_postgres", False):
        request.param.pg = request.getfixturevalue("postgres")
    instance = request.param(unique, tmp_path, root)
    yield instance
    # Every value this test used, including ones only Vault knew (the
    # generated value, a hand-edited one), must stay out of every output.
    ws.assert_no_secret_in_output(instance.secret_values())


@pytest.fixture
def vault_writes(monkeypatch):
    """Every write/put/delete vaultform sends to Vault during the test, in order."""
    from vaultform.connection import VaultAPI

    calls: List[tuple] = []
    for method in ("write", "put", "delete"):
        original = getattr(VaultAPI, method)

        def spy(self, path, *args, _original=original, _method=method, **kwargs):
            calls.append((_method, path))
            return _original(self, path, *args, **kwargs)

        monkeypatch.setattr(VaultAPI, method, spy)
    return calls


# -- the contract ------------------------------------------------------------------


def test_create_then_no_changes(case, ws):
    result = ws.apply(case.spec(BASE), case.env(BASE))
    assert parse_plan(result.stdout)[case.address].symbol == "+", str(result)
    assert "Apply complete!" in result.stdout
    case.check(BASE)

    result, blocks = ws.plan(case.spec(BASE), case.env(BASE))
    assert result.exit_code == 0, str(result)
    assert "No changes" in result.stdout and not blocks


def test_noop_apply_writes_nothing(case, ws, vault_writes):
    """KV v2 and policies bump their version even on identical writes: a
    no-op apply must send no write at all, not even to the ownership record."""
    ws.apply(case.spec(BASE), case.env(BASE))
    version = case.version()
    del vault_writes[:]

    result = ws.apply(case.spec(BASE), case.env(BASE))
    assert "No changes" in result.stdout, str(result)
    assert vault_writes == []
    assert case.version() == version


def test_drift_is_shown_and_repaired(case, ws):
    ws.apply(case.spec(BASE), case.env(BASE))
    expected = case.drift()

    result, blocks = ws.plan(case.spec(BASE), case.env(BASE))
    assert result.exit_code == 2, str(result)
    block = blocks[case.address]
    assert block.symbol == "~", str(result)
    assert_lines(block, expected)

    ws.apply(case.spec(BASE), case.env(BASE))
    case.check(BASE)
    ws.assert_converged(case.spec(BASE), case.env(BASE))


@pytest.mark.parametrize("case", [c for c in CASES if c.delete_by_hand], ids=lambda c: c.id, indirect=True)
def test_deleted_by_hand_is_created_again(case, ws):
    ws.apply(case.spec(BASE), case.env(BASE))
    case.delete_by_hand()

    result, blocks = ws.plan(case.spec(BASE), case.env(BASE))
    assert result.exit_code == 2 and blocks[case.address].symbol == "+", str(result)
    ws.apply(case.spec(BASE), case.env(BASE))
    case.check(BASE)
    ws.assert_converged(case.spec(BASE), case.env(BASE))


def test_update_from_the_spec(case, ws):
    ws.apply(case.spec(BASE), case.env(BASE))

    result, blocks = ws.plan(case.spec(UPDATED), case.env(UPDATED))
    assert result.exit_code == 2, str(result)
    block = blocks[case.address]
    assert block.symbol == "~", str(result)
    assert_lines(block, case.update_lines)
    assert set(blocks) == {case.address}, "an update must not touch other objects"

    ws.apply(case.spec(UPDATED), case.env(UPDATED))
    case.check(UPDATED)
    ws.assert_converged(case.spec(UPDATED), case.env(UPDATED))


@pytest.mark.parametrize("case", [c for c in CASES if c.reduce_lines], ids=lambda c: c.id, indirect=True)
def test_field_removed_from_spec_returns_to_vault_default(case, ws):
    ws.apply(case.spec(BASE), case.env(BASE))

    result, blocks = ws.plan(case.spec(REDUCED), case.env(REDUCED))
    assert result.exit_code == 2, str(result)
    assert blocks[case.address].symbol == "~", str(result)
    assert_lines(blocks[case.address], case.reduce_lines)

    ws.apply(case.spec(REDUCED), case.env(REDUCED))
    case.check(REDUCED)
    ws.assert_converged(case.spec(REDUCED), case.env(REDUCED))


def test_delete_when_removed_from_spec(case, ws):
    ws.apply(case.spec(BASE), case.env(BASE))
    assert case.exists()

    result, blocks = ws.plan(case.spec(DELETED), case.env(DELETED), "--allow-destroy")
    assert result.exit_code == 2, str(result)
    block = blocks[case.address]
    assert (block.symbol, block.reason) == ("-", "removed from the spec"), str(result)

    ws.apply(case.spec(DELETED), case.env(DELETED), "--allow-destroy")
    assert not case.exists()
    ws.assert_converged(case.spec(DELETED), case.env(DELETED))



@pytest.mark.parametrize("case", [c for c in CASES if hasattr(c, "hand_make")], ids=lambda c: c.id, indirect=True)
def test_identical_object_made_by_hand_is_adopted_without_a_write(case, ws, vault_writes):
    """Made by hand exactly as the spec says: nothing to do, and from then on
    it is managed (removing it from the spec deletes it)."""
    ws.apply(case.spec(DELETED), case.env(DELETED))  # its mount, without it
    case.hand_make()
    del vault_writes[:]

    result, blocks = ws.plan(case.spec(BASE), case.env(BASE))
    adopt_lines = getattr(case, "adopt_lines", None)
    if adopt_lines:  # a write-only field: Vault cannot say it is the spec's value
        assert result.exit_code == 2 and set(blocks) == {case.address}, str(result)
        assert_lines(blocks[case.address], adopt_lines)
    else:
        assert result.exit_code == 0 and not blocks, str(result)
    ws.apply(case.spec(BASE), case.env(BASE))
    if not adopt_lines:
        assert [w for w in vault_writes if not w[1].startswith("vaultform/")] == [], "an adopted object was written"
    case.check(BASE)
    ws.assert_converged(case.spec(BASE), case.env(BASE))

    result, blocks = ws.plan(case.spec(DELETED), case.env(DELETED), "--allow-destroy")
    assert blocks[case.address].symbol == "-", str(result)


# A secret is left out: a planner token may not read its values, so it sees
# that the secret changed in Vault but not which key (at the root as well).
@pytest.mark.parametrize("case", ENGINE_CASES + [Namespace] + [c for c in NAMESPACED_CASES if c.id != "namespaced-secret-kv2"],
                         ids=lambda c: c.id, indirect=True)
def test_planner_token_plans_without_secret_access(case, ws, root):
    """A token holding only the printed planner policy plans the spec (no
    change, then the drift) and can read no secret and write nothing."""
    ws.apply(case.spec(BASE), case.env(BASE))
    result = ws.run(["planner-policy", ws.write(case.spec(BASE))], case.env(BASE))
    assert result.exit_code == 0, str(result)
    name = f"planner-{case.address.replace('/', '-').replace('.', '-')}"
    root.sys.create_or_update_acl_policy(name, result.stdout)
    token = root.auth.token.create(policies=[name], no_default_policy=True, ttl="10m")["auth"]["client_token"]
    planner = {**case.env(BASE), "VAULT_TOKEN": token}

    result, blocks = ws.plan(case.spec(BASE), planner)
    assert result.exit_code == 0 and not blocks, str(result)
    expected = case.drift()
    result, blocks = ws.plan(case.spec(BASE), planner)
    assert result.exit_code == 2 and blocks[case.address].symbol == "~", str(result)
    assert_lines(blocks[case.address], expected)
    result = ws.run(["apply", ws.write(case.spec(BASE)), "--auto-approve"], planner)
    assert result.exit_code != 0, "a planner token could apply"
    ws.assert_no_secret_in_output([token])


@pytest.mark.parametrize("case", [c for c in CASES if hasattr(c, "hand_make_other")], ids=lambda c: c.id,
                         indirect=True)
def test_prune_deletes_only_objects_the_spec_lacks(case, ws, root):
    ws.apply(case.spec(BASE), case.env(BASE))
    other = case.hand_make_other()

    result, blocks = ws.plan(case.spec(BASE), case.env(BASE))
    assert result.exit_code == 0 and not blocks, "pruning is opt-in: " + str(result)
    pruning = case.pruning(BASE, case.prune_key)
    result, blocks = ws.plan(pruning, case.env(BASE), "--allow-destroy")
    assert set(blocks) == {other}, str(result)
    assert blocks[other].reason.startswith(f"not in the spec, and prune.{case.prune_key}"), str(result)
    ws.apply(pruning, case.env(BASE), "--allow-destroy")
    case.check(BASE)
    ws.assert_converged(pruning, case.env(BASE))


# -- around the contract ---------------------------------------------------------


def test_kubernetes_config_removed_alone_is_left_in_vault_and_the_plan_says_so(ws, unique, tmp_path, root):
    """Vault has no DELETE for auth/<mount>/config; the plan must not pretend."""
    case = KubernetesConfig(unique, tmp_path, root)
    ws.apply(case.spec(BASE), case.env(BASE))
    without_config = {"auth": {case.mount: {"type": "kubernetes"}}}

    result, blocks = ws.plan(without_config)
    assert result.exit_code == 2, str(result)
    block = blocks[case.address]
    assert (block.symbol, block.reason) == ("-", "removed from the spec"), str(result)
    assert any("stays in Vault" in note and f"auth_method.{case.mount}" in note for note in block.notes), str(result)
    assert set(blocks) == {case.address}

    ws.apply(without_config)
    assert case.read()["kubernetes_host"] == "https://k8s-a.example:6443"
    ws.assert_converged(without_config)
    ws.assert_no_secret_in_output(case.secret_values())


@pytest.mark.parametrize("kv", [SecretKV2, SecretKV1], ids=lambda c: c.id)
def test_generated_value_is_set_once_and_never_overwritten(kv, ws, unique, tmp_path, root):
    case = kv(unique, tmp_path, root)
    ws.apply(case.spec(BASE), case.env(BASE))
    case.check(BASE)
    generated = case.generated

    # A rotation of another key and a hand edit: neither regenerates the value.
    result, blocks = ws.plan(case.spec(UPDATED), case.env(UPDATED))
    assert "token" not in blocks[case.address].fields, str(result)
    ws.apply(case.spec(UPDATED), case.env(UPDATED))
    case.hand_write({**case.read(), "password": case.values["hand"]})
    ws.apply(case.spec(UPDATED), case.env(UPDATED))
    case.check(UPDATED)
    assert case.generated == generated

    # Deleted by hand: absent again, so it is generated again (once).
    data = case.read()
    del data["token"]
    case.hand_write(data)
    result, blocks = ws.plan(case.spec(UPDATED), case.env(UPDATED))
    assert blocks[case.address].fields == {"token": "(sensitive value added)"}, str(result)
    ws.apply(case.spec(UPDATED), case.env(UPDATED))
    regenerated = case.read()["token"]
    assert re.fullmatch(r"[A-Za-z0-9]{32}", regenerated) and regenerated != generated
    ws.assert_converged(case.spec(UPDATED), case.env(UPDATED))
    ws.assert_no_secret_in_output(case.secret_values() + [regenerated])


@pytest.mark.parametrize("kv", [SecretKV2, SecretKV1], ids=lambda c: c.id)
def test_generated_value_adopts_an_existing_one(kv, ws, unique, tmp_path, root):
    """A secret that already holds the key (set by hand before vaultform) keeps it."""
    case = kv(unique, tmp_path, root)
    existing = f"pre-existing-{rand()}"
    spec = {"secrets_engines": case.spec(BASE)["secrets_engines"],
            "secrets": {f"{case.mount}/{case.path}": {"token": {"generate": {"length": 32}}}}}
    ws.apply({"secrets_engines": spec["secrets_engines"]})
    case.hand_write({"token": existing})

    result, _ = ws.plan(spec)
    assert result.exit_code == 0 and "No changes" in result.stdout, str(result)
    ws.apply(spec)
    assert case.read() == {"token": existing}
    ws.assert_no_secret_in_output([existing])


def test_objects_made_by_hand_are_left_alone(ws, unique, root):
    kv, auth, policy = unique("kv"), unique("auth"), unique("pol")
    hand_kv, hand_auth, hand_policy = unique("handkv"), unique("handauth"), unique("handpol")
    spec = {
        "secrets_engines": {kv: {"type": "kv", "options": {"version": "2"}}},
        "auth": {auth: {"type": "kubernetes", "roles": {"app": {
            "bound_service_account_names": "app", "bound_service_account_namespaces": "prod"}}}},
        "policies": {policy: 'path "kv/*" { capabilities = ["read"] }\n'},
        "secrets": {f"{kv}/managed": {"k": f"v-{rand()}"}},
    }
    ws.apply(spec)
    # By hand: whole objects of every kind, and objects inside managed mounts.
    root.sys.enable_secrets_engine("kv", path=hand_kv, options={"version": "2"})
    root.sys.enable_auth_method("kubernetes", path=hand_auth)
    root.write_data(f"auth/{hand_auth}/role/r", data={"bound_service_account_names": "x",
                                                     "bound_service_account_namespaces": "y"})
    root.write_data(f"auth/{auth}/role/by-hand", data={"bound_service_account_names": "x",
                                                      "bound_service_account_namespaces": "y"})
    root.sys.create_or_update_policy(hand_policy, 'path "x/*" { capabilities = ["read"] }')
    root.write_data(f"{kv}/data/by-hand", data={"data": {"k": "v"}})
    hand_made = [f"secrets_engine.{hand_kv}", f"auth_method.{hand_auth}", f"kubernetes_role.{hand_auth}/r",
                 f"kubernetes_role.{auth}/by-hand", f"policy.{hand_policy}", f"secret.{kv}/by-hand"]

    result, _ = ws.plan(spec)
    assert result.exit_code == 0 and "No changes" in result.stdout, str(result)

    # Removing the managed objects deletes exactly those, nothing made by hand.
    reduced = {"secrets_engines": spec["secrets_engines"], "auth": {auth: {"type": "kubernetes"}}}
    result, blocks = ws.plan(reduced)
    assert result.exit_code == 2, str(result)
    assert set(blocks) == {f"kubernetes_role.{auth}/app", f"policy.{policy}", f"secret.{kv}/managed"}, str(result)
    result = ws.apply(reduced)
    for address in hand_made:
        assert address not in result.output
    assert root.read(f"auth/{auth}/role/by-hand") and root.read(f"auth/{hand_auth}/role/r")
    assert root.read(f"sys/policies/acl/{hand_policy}") and root.read(f"{kv}/data/by-hand")
    assert f"{hand_kv}/" in root.read("sys/mounts")["data"] and f"{hand_auth}/" in root.read("sys/auth")["data"]
    ws.assert_converged(reduced)


@pytest.fixture
def fresh(run_cli, tmp_path, vault_env):
    """A server of its own, for tests that must know everything in it; (workspace, root client)."""
    with BaoDevServer() as server:
        env = {**vault_env, "VAULT_ADDR": server.address, "VAULT_TOKEN": server.root_token}
        workspace = Workspace(run_cli, tmp_path, env, record="managed-objects")
        yield workspace, server.client()
        workspace.assert_no_secret_in_output([server.root_token])


# Per prune key, what a plan must offer to delete on a fresh dev server with
# one hand-made object of each kind: never a built-in (root/default policies,
# token/ auth, sys/ identity/ cubbyhole/ mounts, vaultform's record mount).
PRUNED = {
    "policies": {"policy.hand-pol"},
    "secrets_engines": {"secrets_engine.hand-kv", "secrets_engine.secret"},  # secret/ is dev mode's, not built in
    "auth_methods": {"auth_method.hand-auth"},
    "auth_roles": {"kubernetes_role.hand-auth/hand-role", "kubernetes_role.managed-auth/hand-role",
                   "userpass_user.managed-up/hand-user"},
    "token_roles": {"token_role.hand-tr"},
    "namespaces": {"namespace.hand-ns"},  # a dev server has no namespace of its own (measured on 2.7.2)
}


@pytest.mark.parametrize("keys", [[k] for k in PRUNED] + [list(PRUNED)], ids=lambda ks: "+".join(ks))
def test_prune_is_opt_in_per_kind_and_never_touches_builtins(keys, fresh):
    ws, root = fresh
    spec = {"policies": {"managed-pol": 'path "x/*" { capabilities = ["read"] }\n'},
            "auth": {"managed-auth": {"type": "kubernetes", "roles": {"app": {
                "bound_service_account_names": "a", "bound_service_account_namespaces": "b"}}},
                     "managed-up": {"type": "userpass", "users": {"app": {"password": {"env": "VF_PRUNE_PW"}}}}},
            "token_roles": {"managed-tr": {"orphan": True}}}
    ws.env = {**ws.env, "VF_PRUNE_PW": f"pw-{rand()}"}
    ws.apply(spec)  # also creates the record mount vaultform/
    root.sys.create_or_update_policy("hand-pol", 'path "y/*" { capabilities = ["read"] }')
    root.sys.enable_secrets_engine("kv", path="hand-kv")
    root.sys.enable_auth_method("kubernetes", path="hand-auth")
    for mount in ("hand-auth", "managed-auth"):
        root.write_data(f"auth/{mount}/role/hand-role", data={"bound_service_account_names": "a",
                                                              "bound_service_account_namespaces": "b"})
    root.write_data("auth/managed-up/users/hand-user", data={"password": f"pw-{rand()}"})
    root.write_data("auth/token/roles/hand-tr", data={"orphan": True})
    root.write("sys/namespaces/hand-ns")

    result, _ = ws.plan(spec)
    assert result.exit_code == 0 and "No changes" in result.stdout, str(result)

    pruning = {**spec, "prune": {key: True for key in keys}}
    result, blocks = ws.plan(pruning, None, "--allow-destroy")
    expected = set().union(*(PRUNED[k] for k in keys))
    assert result.exit_code == 2, str(result)
    assert set(blocks) == expected, str(result)
    for block in blocks.values():
        assert block.symbol == "-" and block.reason.startswith("not in the spec, and prune."), str(result)

    ws.apply(pruning, None, "--allow-destroy")
    ws.assert_converged(pruning)
    ws.assert_converged(spec)
    policies = set(root.sys.list_acl_policies()["data"]["keys"])
    mounts, auths = set(root.read("sys/mounts")["data"]), set(root.read("sys/auth")["data"])
    assert {"root", "default", "managed-pol"} <= policies
    assert {"sys/", "identity/", "cubbyhole/", "vaultform/"} <= mounts and {"token/", "managed-auth/"} <= auths
    assert ("hand-pol" in policies) == ("policies" not in keys)
    assert ("hand-kv/" in mounts) == ("secrets_engines" not in keys)
    assert ("hand-auth/" in auths) == ("auth_methods" not in keys)
    assert (root.read("auth/managed-auth/role/hand-role") is None) == ("auth_roles" in keys)
    assert (root.read("auth/managed-up/users/hand-user") is None) == ("auth_roles" in keys)
    assert (root.read("auth/token/roles/hand-tr") is None) == ("token_roles" in keys)
    assert ("hand-ns/" in (root.list("sys/namespaces") or {"data": {"keys": []}})["data"]["keys"]) == \
        ("namespaces" not in keys)
    assert root.read("auth/managed-auth/role/app") and root.read("auth/managed-up/users/app")
    assert root.read("auth/token/roles/managed-tr") is not None


@pytest.mark.parametrize("version", ["1", "2"])
def test_deleting_a_kv_mount_says_how_many_secrets_go_with_it(version, ws, unique, root):
    mount = unique(f"cnt{version}")
    spec = {"secrets_engines": {mount: {"type": "kv", "options": {"version": version}}},
            "secrets": {f"{mount}/app/one": {"k": "v1-value"}, f"{mount}/app/deep/two": {"k": "v2-value"}}}
    ws.apply(spec)
    if version == "2":
        root.write_data(f"{mount}/data/by-hand/x/three", data={"data": {"k": "v3-value"}})
    else:
        root.write_data(f"{mount}/by-hand/x/three", data={"k": "v3-value"})

    result, blocks = ws.plan({}, None, "--allow-destroy")
    assert result.exit_code == 2, str(result)
    assert set(blocks) == {f"secrets_engine.{mount}", f"secret.{mount}/app/one", f"secret.{mount}/app/deep/two"}
    assert blocks[f"secrets_engine.{mount}"].notes == [f"disabling {mount}/ destroys 3 secret(s) stored under it"]
    # Secrets are deleted before the mount they live in.
    assert result.stdout.index(f"- secret.{mount}/app/one") < result.stdout.index(f"- secrets_engine.{mount}")

    ws.apply({}, None, "--allow-destroy")
    assert f"{mount}/" not in root.read("sys/mounts")["data"]
    ws.assert_converged({})


def test_deleting_an_auth_method_says_how_many_roles_go_with_it(ws, unique, tmp_path, root):
    case = KubernetesConfig(unique, tmp_path, root)
    spec = case.spec(BASE)
    spec["auth"][case.mount]["roles"] = {"app": {"bound_service_account_names": "a",
                                                 "bound_service_account_namespaces": "b"}}
    ws.apply(spec, case.env(BASE))
    root.write_data(f"auth/{case.mount}/role/by-hand", data={"bound_service_account_names": "x",
                                                            "bound_service_account_namespaces": "y"})

    result, blocks = ws.plan({}, None, "--allow-destroy")
    assert result.exit_code == 2, str(result)
    assert set(blocks) == {f"auth_method.{case.mount}", case.address, f"kubernetes_role.{case.mount}/app"}
    assert blocks[f"auth_method.{case.mount}"].notes == [
        f"disabling auth/{case.mount}/ destroys its config, 2 role(s) and every token it issued"], str(result)

    ws.apply({}, None, "--allow-destroy")
    assert f"{case.mount}/" not in root.read("sys/auth")["data"]
    ws.assert_converged({})
    ws.assert_no_secret_in_output(case.secret_values())


def test_target_limits_the_plan_to_the_address_and_its_dependencies(ws, unique, root):
    kv, other_kv, auth, policy = unique("tkv"), unique("tother"), unique("tauth"), unique("tpol")
    spec = {
        "secrets_engines": {kv: {"type": "kv", "options": {"version": "2"}}, other_kv: {"type": "kv"}},
        "auth": {auth: {"type": "kubernetes", "roles": {
            "app": {"bound_service_account_names": "a", "bound_service_account_namespaces": "b"},
            "other": {"bound_service_account_names": "c", "bound_service_account_namespaces": "d"}}}},
        "policies": {policy: 'path "x/*" { capabilities = ["read"] }\n'},
        "secrets": {f"{kv}/app/config": {"k": f"v-{rand()}"}, f"{kv}/app/other": {"k": f"v-{rand()}"}},
    }
    everything = {f"secrets_engine.{kv}", f"secrets_engine.{other_kv}", f"auth_method.{auth}",
                  f"kubernetes_role.{auth}/app", f"kubernetes_role.{auth}/other", f"policy.{policy}",
                  f"secret.{kv}/app/config", f"secret.{kv}/app/other"}

    def planned(*targets):
        args = [a for t in targets for a in ("--target", t)]
        result, blocks = ws.plan(spec, None, *args)
        assert result.exit_code == 2, str(result)
        return set(blocks)

    assert planned(f"secret.{kv}/app/config") == {f"secret.{kv}/app/config", f"secrets_engine.{kv}"}
    assert planned(f"kubernetes_role.{auth}/app") == {f"kubernetes_role.{auth}/app", f"auth_method.{auth}"}
    assert planned("policy.*") == {f"policy.{policy}"}
    assert planned(f"policy.{policy}", f"secrets_engine.{other_kv}") == {f"policy.{policy}",
                                                                         f"secrets_engine.{other_kv}"}

    # Apply honours the target too; the rest is still to do afterwards.
    ws.apply(spec, None, "--target", f"secret.{kv}/app/config")
    assert root.read(f"{kv}/data/app/config") and root.read(f"{kv}/data/app/other") is None
    assert planned() == everything - {f"secret.{kv}/app/config", f"secrets_engine.{kv}"}

    # Deletions are targeted the same way.
    ws.apply(spec)
    del spec["secrets"], spec["policies"]
    assert planned(f"secret.{kv}/app/other") == {f"secret.{kv}/app/other"}
    ws.apply(spec, None, "--target", f"secret.{kv}/app/other")
    assert root.read(f"{kv}/metadata/app/other") is None and root.read(f"{kv}/metadata/app/config")
    assert planned() == {f"secret.{kv}/app/config", f"policy.{policy}"}


def test_kv_v1_upgrade_in_place_keeps_its_secrets_without_rewriting_them(ws, unique, tmp_path, root):
    case = SecretKV1(unique, tmp_path, root)
    ws.apply(case.spec(BASE), case.env(BASE))
    upgraded = case.spec(BASE)
    upgraded["secrets_engines"][case.mount]["options"] = {"version": "2"}

    result, blocks = ws.plan(upgraded, case.env(BASE))
    assert set(blocks) == {f"secrets_engine.{case.mount}"}, str(result)
    assert blocks[f"secrets_engine.{case.mount}"].fields == {"options": '{"version": "1"} -> {"version": "2"}'}

    before = case.read()
    ws.apply(upgraded, case.env(BASE))
    assert SecretKV2.read(case) == before  # the same data, now read the v2 way
    assert SecretKV2.version(case) == 1, "the upgrade must not be followed by a write of the same values"
    ws.assert_converged(upgraded, case.env(BASE))

    # The record still says v1 for this secret; removing it must delete it all the same.
    del upgraded["secrets"]
    ws.apply(upgraded)
    assert root.read(f"{case.mount}/metadata/{case.path}") is None
    ws.assert_converged(upgraded)
    ws.assert_no_secret_in_output(case.secret_values())


def test_kv_v2_downgrade_replaces_the_mount_and_writes_its_secrets_again(ws, unique, tmp_path, root):
    case = SecretKV2(unique, tmp_path, root)
    ws.apply(case.spec(BASE), case.env(BASE))
    case.check(BASE)
    downgraded = case.spec(BASE)
    downgraded["secrets_engines"][case.mount] = {"type": "kv"}

    result, blocks = ws.plan(downgraded, case.env(BASE), "--allow-destroy")
    mount = blocks[f"secrets_engine.{case.mount}"]
    assert mount.symbol == "-/+", str(result)
    assert mount.fields == {"options": '{"version": "2"} -> {"version": "1"}  # forces replacement'}
    assert mount.notes == [f"disabling {case.mount}/ destroys 1 secret(s) stored under it"]
    assert blocks[case.address].symbol == "+", str(result)

    ws.apply(downgraded, case.env(BASE), "--allow-destroy")
    ws.assert_converged(downgraded, case.env(BASE))
    data = SecretKV1.read(case)
    assert data["password"] == case.values[BASE] and len(data["token"]) == 32
    ws.assert_no_secret_in_output(case.secret_values() + [data["token"]])


def test_kv_v2_integer_beyond_float64_is_refused_before_any_write(ws, unique, root, vault_writes):
    """KV v2 keeps numbers as float64: 2**53 + 1 would be stored as 2**53, and
    2**60 read back as 1152921504606847000, so every later plan would write
    them again. Refused, naming the key, never the value."""
    v1, v2, v2_nested = unique("numkv1"), unique("numkv2"), unique("numkv2n")
    big = 2 ** 53 + 1
    fine = {"small": 42, "exact": 2 ** 53 + 2, "round": 10 ** 20, "huge": 2 ** 70, "ratio": 2.5, "flag": True,
            "nothing": None}
    spec = {"secrets_engines": {v1: {"type": "kv", "options": {"version": "1"}},
                                v2: {"type": "kv", "options": {"version": "2"}}},
            "secrets": {f"{v1}/app": {"big": big, **fine}, f"{v2}/app": fine}}
    ws.apply(spec)  # KV v1 keeps the raw JSON, and exact floats are fine on v2
    ws.assert_converged(spec)
    assert root.read(f"{v1}/app")["data"]["big"] == big

    for where, value in ((v2, big), (v2_nested, {"ids": [1, -(2 ** 60)]})):
        spec["secrets_engines"][where] = {"type": "kv", "options": {"version": "2"}}
        spec["secrets"][f"{where}/app"] = {"ok": "yes", "count": value}
        vault_writes.clear()
        for command in (["plan"], ["apply", "--auto-approve"]):
            result = ws.run([command[0], ws.write(spec), *command[1:]])
            assert result.exit_code == 1 and "Traceback" not in result.output, str(result)
            assert f"secrets.{where}/app.count: holds an integer that KV v2 cannot store exactly" in result.stderr, \
                str(result)
            assert str(big) not in result.output and str(2 ** 60) not in result.output, "a value was printed"
        assert vault_writes == [], "nothing may be written when the spec is refused"
        spec["secrets"][f"{where}/app"] = fine
    assert root.read(f"{v2}/data/app")["data"]["data"] == fine
    assert root.read(f"{v2_nested}/data/app") is None


def test_a_write_that_vault_answers_with_404_fails_the_change(ws, unique, root):
    """A 404 on a write means nothing serves the path (a mount that is not
    there): the change fails, it never counts as done. Every auth type this
    OpenBao has is typed and refused offline where it has no endpoint, so a
    generic path on a missing mount shows it; the policy beside it still goes in."""
    missing, policy = unique("nomount"), unique("pol")
    spec = {"policies": {policy: 'path "x" { capabilities = ["read"] }'},
            "paths": {f"{missing}/thing": {"data": {"a": 1}}}}
    result = ws.run(["apply", ws.write(spec), "--auto-approve"])
    assert result.exit_code == 1 and "Traceback" not in result.output, str(result)
    assert re.search(rf"Error: path\.{missing}/thing: POST {missing}/thing failed: .*answered 404",
                     result.stderr), str(result)
    assert f"Failed: path.{missing}/thing" in result.stderr, str(result)
    assert root.sys.read_policy(policy), "independent changes still run"


def test_replacing_a_mount_recreates_what_the_spec_keeps_in_it(ws, unique, root):
    kv, auth = unique("repkv"), unique("repauth")
    spec = {"secrets_engines": {kv: {"type": "kv", "options": {"version": "2"}}},
            "auth": {auth: {"type": "kubernetes", "roles": {"app": {
                "bound_service_account_names": "a", "bound_service_account_namespaces": "b"}}}},
            "secrets": {f"{kv}/app": {"k": f"v-{rand()}"}}}
    ws.apply(spec)
    spec["secrets_engines"][kv]["seal_wrap"] = True
    spec["auth"][auth]["local"] = True

    result, blocks = ws.plan(spec, None, "--allow-destroy")
    assert blocks[f"secrets_engine.{kv}"].symbol == blocks[f"auth_method.{auth}"].symbol == "-/+", str(result)
    ws.apply(spec, None, "--allow-destroy")
    assert root.read(f"{kv}/data/app") and root.read(f"auth/{auth}/role/app")
    ws.assert_converged(spec)


def test_no_secret_value_in_any_output_over_a_whole_lifecycle(ws, unique, tmp_path, root):
    """Every kind together, through plan, apply, drift, update, validate and destroy."""
    cases = [c(unique, tmp_path, root) for c in (KubernetesConfig, SecretKV2, SecretKV1, Policy, KubernetesRole)]

    def merged(stage):
        spec: dict = {}
        for c in cases:
            for section, body in c.spec(stage).items():
                spec.setdefault(section, {}).update(body)
        return spec, {k: v for c in cases for k, v in c.env(stage).items()}

    spec, env = merged(BASE)
    ws.run(["validate", ws.write(spec)], env)
    ws.plan(spec, env)
    ws.apply(spec, env)
    for c in cases:
        c.check(BASE)
        c.drift()
    result, _ = ws.plan(spec, env)
    assert result.exit_code == 2, str(result)
    ws.apply(spec, env)
    spec, env = merged(UPDATED)
    ws.apply(spec, env)
    ws.assert_converged(spec, env)
    # The ownership record lives in Vault next to the secrets; it holds none of them.
    record = json.dumps(recorded_objects(root, ws.record))
    assert "kubernetes_config." in record and not any(v in record for c in cases for v in c.secret_values())
    result = ws.run(["destroy", ws.write(spec), "--auto-approve"], env)
    assert result.exit_code == 0 and "Destroy complete!" in result.stdout, str(result)
    assert "Apply complete!" not in result.stdout, str(result)
    assert not any(c.exists() for c in cases if not isinstance(c, KubernetesConfig))

    used = [v for c in cases for v in c.secret_values()] + [root.token]
    assert len(used) > 10
    ws.assert_no_secret_in_output(used)


def test_every_field_in_any_accepted_spelling_reads_back_as_no_change(ws, unique, tmp_path, root):
    """Vault normalises what it stores (durations, comma lists, option types,
    PEM whitespace, policy-name case); a plan right after apply must see no change."""
    kv_a, kv_b, kv_c, transit, k8s, approle = (unique(p) for p in ("rt-a", "rt-b", "rt-c", "rt-t", "rt-k", "rt-ap"))
    nested = f"{unique('rt-team')}/kv"  # a mount path with a slash in it
    ca, kube_key = tmp_path / "rt-ca.crt", tmp_path / "rt-key.pem"
    ca.write_text(ca_pem(), encoding="utf-8")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    kube_key.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # ends in a newline
    spec = {
        "secrets_engines": {
            kv_a: {"type": "kv-v2"},
            kv_b: {"type": "kv", "options": {"version": 2}, "config": {
                "default_lease_ttl": 3600, "max_lease_ttl": "1d", "force_no_cache": True,
                "audit_non_hmac_request_keys": ["x"], "listing_visibility": "hidden",
                "passthrough_request_headers": ["X-Foo"], "allowed_response_headers": ["X-Bar"]}},
            kv_c: {"type": "kv-v1", "description": ""},
            transit: {"type": "transit", "description": "crypto"},
            nested: {"type": "kv", "options": {"version": "2"}},
        },
        "auth": {
            k8s: {"type": "kubernetes",
                  "tune": {"token_type": "default-batch", "listing_visibility": "unauth", "default_lease_ttl": "90m"},
                  "config": {"kubernetes_host": "https://10.0.0.1:443", "kubernetes_ca_cert": {"file": ca.name},
                             "pem_keys": [{"file": kube_key.name}], "disable_local_ca_jwt": True,
                             "disable_iss_validation": False, "issuer": "https://kubernetes.default.svc"},
                  "roles": {
                      "full": {"bound_service_account_names": ["a", "b", "a"],
                               "bound_service_account_namespaces": "x, y", "audience": "aud",
                               "alias_name_source": "serviceaccount_name", "token_policies": ["Mixed", "lower"],
                               "token_ttl": 3600, "token_max_ttl": "1d", "token_period": "90m",
                               "token_explicit_max_ttl": "48h", "token_bound_cidrs": "10.0.0.0/8,192.168.0.0/16",
                               "token_no_default_policy": True, "token_num_uses": 3, "token_type": "service"},
                      "legacy": {"bound_service_account_names": "*", "bound_service_account_namespaces": "*",
                                 "period": "1h", "num_uses": 2, "bound_cidrs": ["10.1.0.0/16"], "max_ttl": "2h"}}},
            # A type without its own module: compared over the declared fields.
            approle: {"type": "approle", "roles": {"r": {
                "token_ttl": "1h", "secret_id_ttl": "10m", "token_policies": ["a"], "bind_secret_id": True,
                "secret_id_bound_cidrs": "10.0.0.0/8,10.2.0.0/16"}}},
        },
        "policies": {
            unique("rt-crlf"): 'path "a/*" {\r\n  capabilities = ["read"]\r\n}\r\n\r\n',
            unique("rt-comment"): '# hello\npath "b/*" {\n  capabilities = ["read", "list"]\n}\n\n\n',
        },
        "secrets": {
            f"{kv_a}/types": {"i": 1, "f": 1.5, "f1": 1.0, "b": True, "n": None, "l": [1, "two"],
                              "o": {"nested": "x"}, "s": "str"},
            f"{kv_c}/types": {"i": 1, "f": 1.5, "b": False, "l": [], "o": {}},
            f"{kv_b}/deep/ly/nested": {"k": f"nested-{rand()}"},
            f"{nested}/app/x": {"k": f"slash-{rand()}"},
        },
    }
    ws.apply(spec)
    assert root.read(f"{nested}/data/app/x")["data"]["data"] == spec["secrets"][f"{nested}/app/x"]
    result, blocks = ws.plan(spec)
    assert result.exit_code == 0 and not blocks, str(result)


def test_an_update_line_always_tells_before_from_after(ws, unique):
    """A multi-line value shows as a diff: the changed line itself, before and after."""
    name = unique("samesize")
    text = 'path "app/*" {\n  capabilities = ["read"]\n}\n'
    ws.apply({"policies": {name: text}})

    changed = {"policies": {name: text.replace('"read"', '"list"')}}  # same first line, same size
    result, blocks = ws.plan(changed)
    assert blocks[f"policy.{name}"].fields["policy"] == "(1 line removed, 1 added)", str(result)
    assert '            -  capabilities = ["read"]\n            +  capabilities = ["list"]\n' in result.stdout, str(result)


def test_transit_key_deletion_needs_consent_and_vaults_deletion_allowed(ws, unique, root):
    """Deleting a transit key destroys what it encrypted: like a mount it needs
    --allow-destroy, and Vault refuses it unless deletion_allowed is true, which
    the plan says before anything is written."""
    mount = unique("transit-safe")
    keys = {"kept": {"type": "aes256-gcm96"}, "gone": {"type": "aes256-gcm96", "deletion_allowed": True}}
    ws.apply({"secrets_engines": {mount: {"type": "transit", "keys": keys}}})

    # deletion_allowed false in Vault: refused, whatever the flags.
    without = {"secrets_engines": {mount: {"type": "transit", "keys": {"gone": keys["gone"]}}}}
    result, _ = ws.plan(without, None, "--allow-destroy")
    assert result.exit_code == 1 and "Traceback" not in result.output, str(result)
    assert f"refusing to delete transit_key.{mount}/kept: its deletion_allowed is false in Vault" in result.stderr

    # deletion_allowed true: still needs --allow-destroy (or the spec's consent).
    without = {"secrets_engines": {mount: {"type": "transit", "keys": {"kept": keys["kept"]}}}}
    result, _ = ws.plan(without)
    assert result.exit_code == 1 and f"refusing to delete transit_key.{mount}/gone" in result.stderr, str(result)
    assert "--allow-destroy" in result.stderr
    # A type change re-creates the key: refused the same way (deletion_allowed false here).
    retyped = {"secrets_engines": {mount: {"type": "transit", "keys": {**keys, "kept": {"type": "chacha20-poly1305"}}}}}
    result, _ = ws.plan(retyped, None, "--allow-destroy")
    assert result.exit_code == 1 and f"transit_key.{mount}/kept" in result.stderr, str(result)
    assert root.read(f"{mount}/keys/kept") and root.read(f"{mount}/keys/gone")

    # prevent_destroy protects it even with deletion_allowed and --allow-destroy.
    protected = {"secrets_engines": {mount: {"type": "transit", "keys": {
        "kept": keys["kept"], "gone": {**keys["gone"], "prevent_destroy": True}}}}}
    ws.apply(protected)
    result, _ = ws.plan(without, None, "--allow-destroy")
    assert result.exit_code == 1 and "prevent_destroy" in result.stderr, str(result)

    ws.apply({"secrets_engines": {mount: {"type": "transit", "keys": keys}}})
    result, blocks = ws.plan(without, None, "--allow-destroy")
    assert result.exit_code == 2 and blocks[f"transit_key.{mount}/gone"].symbol == "-", str(result)
    assert any("can never be decrypted again" in n for n in blocks[f"transit_key.{mount}/gone"].notes)
    ws.apply(without, None, "--allow-destroy")
    assert root.read(f"{mount}/keys/gone") is None and root.read(f"{mount}/keys/kept")


def test_pki_root_ca_regeneration_needs_consent_and_re_signs_the_intermediate(ws, unique, root):
    """A CA's subject is fixed at generation: a new common name means a new key
    (the old one and all it issued are gone), so it needs --allow-destroy, and
    the intermediate it signed is generated and signed again."""
    root_mount, int_mount = unique("regen-root"), unique("regen-int")
    spec = {"secrets_engines": {
        root_mount: {"type": "pki", "root_ca": {"common_name": "Old Root", "key_type": "ec"}},
        int_mount: {"type": "pki", "intermediate_ca": {"common_name": "Int", "signed_by": root_mount,
                                                       "key_type": "ec"}}}}
    ws.apply(spec)
    old_root = pki_issuer(root, root_mount)["certificate"]
    spec["secrets_engines"][root_mount]["root_ca"]["common_name"] = "New Root"

    result, _ = ws.plan(spec)
    assert result.exit_code == 1 and f"refusing to replace pki_root_ca.{root_mount}" in result.stderr, str(result)
    result, blocks = ws.plan(spec, None, "--allow-destroy")
    block = blocks[f"pki_root_ca.{root_mount}"]
    assert block.symbol == "-/+" and block.fields == {
        "common_name": '"Old Root" -> "New Root"  # forces replacement'}, str(result)
    assert any("destroys its private key" in note for note in block.notes), str(result)
    assert blocks[f"pki_intermediate_ca.{int_mount}"].symbol == "+", str(result)

    ws.apply(spec, None, "--allow-destroy")
    new_root = certificate(pki_issuer(root, root_mount)["certificate"])
    assert common_name(pki_issuer(root, root_mount)["certificate"]) == "New Root"
    certificate(pki_issuer(root, int_mount)["certificate"]).verify_directly_issued_by(new_root)
    assert pki_issuer(root, root_mount)["certificate"] != old_root
    ws.assert_converged(spec)

    # prevent_destroy: refused even with --allow-destroy.
    spec["secrets_engines"][root_mount]["root_ca"]["prevent_destroy"] = True
    ws.apply(spec)
    del spec["secrets_engines"][root_mount]["root_ca"]
    result, _ = ws.plan(spec, None, "--allow-destroy")
    assert result.exit_code == 1 and "prevent_destroy" in result.stderr, str(result)
    ws.assert_no_secret_in_output(["PRIVATE KEY"])



def test_database_password_change_is_planned_by_fingerprint_and_never_shown(ws, unique, tmp_path, root, postgres):
    """Vault never returns the connection's password: a new one in the spec is
    seen through the record's fingerprint, applied (Vault logs in with it), and
    printed nowhere."""
    DatabaseConnection.pg = postgres
    case = DatabaseConnection(unique, tmp_path, root)
    ws.apply(case.spec(BASE), case.env(BASE))
    ws.assert_converged(case.spec(BASE), case.env(BASE))

    postgres.psql(f"ALTER ROLE {case.user} PASSWORD '{case.passwords[UPDATED]}'")
    rotated = {case.var: case.passwords[UPDATED]}
    result, blocks = ws.plan(case.spec(BASE), rotated)
    assert result.exit_code == 2 and blocks[case.address].fields == {"password": "(sensitive value changed)"}, \
        str(result)
    ws.apply(case.spec(BASE), rotated)
    root.write_data(f"{case.mount}/reset/pg", data={})  # Vault now logs in with the new one
    ws.assert_converged(case.spec(BASE), rotated)
    record = json.dumps(recorded_objects(root, ws.record))
    assert case.passwords[BASE] not in record and case.passwords[UPDATED] not in record
    ws.assert_no_secret_in_output(case.secret_values())


def test_a_transit_mount_goes_with_its_keys_whatever_their_deletion_allowed(ws, unique, root):
    """Disabling the mount destroys its keys: no key is refused one by one, and
    Vault is never asked to delete one it would refuse."""
    mount = unique("transit-gone")
    ws.apply({"secrets_engines": {mount: {"type": "transit", "keys": {"kept": {}, "free": {"deletion_allowed": True}}}}})
    result, blocks = ws.plan({}, None, "--allow-destroy")
    assert result.exit_code == 2 and set(blocks) == {f"secrets_engine.{mount}", f"transit_key.{mount}/kept",
                                                     f"transit_key.{mount}/free"}, str(result)
    assert any(f"Vault keeps it until secrets_engine.{mount} is disabled" in note
               for note in blocks[f"transit_key.{mount}/kept"].notes), str(result)
    ws.apply({}, None, "--allow-destroy")
    assert f"{mount}/" not in root.read("sys/mounts")["data"]
    ws.assert_converged({})


@functools.lru_cache(maxsize=1)
def jwt_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


_PROVIDER: list = []


def oidc_provider():
    """One loopback HTTPS OIDC provider for the session's oidc_config cases (stopped at exit)."""
    if not _PROVIDER:
        import atexit
        from tests.support.oidc import OidcProvider
        _PROVIDER.append(OidcProvider().start())
        atexit.register(_PROVIDER[0].stop)
    return _PROVIDER[0]


@pytest.mark.parametrize("case", AUTH_CASES, ids=lambda c: c.id, indirect=True)
def test_planner_token_plans_the_kind_without_secret_access(case, ws, root, unique):
    """A token holding only `vaultform planner-policy`'s policy plans the applied
    object as unchanged and sees a change from the spec, write-only fields
    included (by fingerprint), yet may write nothing."""
    ws.apply(case.spec(BASE), case.env(BASE))
    result = ws.run(["planner-policy", ws.write(case.spec(BASE))])
    assert result.exit_code == 0, str(result)
    name = unique("planner")
    root.sys.create_or_update_acl_policy(name, result.stdout)
    token = root.auth.token.create(policies=[name], no_default_policy=True, ttl="10m")["auth"]["client_token"]

    result, _ = ws.plan(case.spec(BASE), {**case.env(BASE), "VAULT_TOKEN": token})
    assert result.exit_code == 0 and "No changes" in result.stdout, str(result)
    result, blocks = ws.plan(case.spec(UPDATED), {**case.env(UPDATED), "VAULT_TOKEN": token})
    assert result.exit_code == 2, str(result)
    assert_lines(blocks[case.address], case.update_lines)

    import hvac
    planner = hvac.Client(url=root.url, token=token)
    path = {"jwt_config": "config", "oidc_config": "config", "cert_config": "config"}
    target = f"auth/{case.mount}/config" if case.id in path else root_path(case)
    with pytest.raises(hvac.exceptions.Forbidden):
        planner.write_data(target, data={"token_ttl": "1s"})
    ws.assert_no_secret_in_output([token])


def root_path(case) -> str:
    """The Vault path of a named auth object from its address."""
    if case.address.startswith("token_role."):
        return f"auth/token/roles/{case.name}"
    kind, _, name = case.address.partition(".")
    mount, _, obj = name.rpartition("/")
    where = {"userpass_user": "users", "cert_certificate": "certs"}.get(kind, "role")
    return f"auth/{mount}/{where}/{obj}"


@pytest.mark.parametrize("case", AUTH_CASES, ids=lambda c: c.id, indirect=True)
def test_an_identical_hand_made_object_is_adopted(case, ws, run_cli, tmp_path, vault_env, unique):
    """An object made outside this spec's record, identical to the spec, plans
    no change and is adopted into the record by apply without a write. Only
    write-only fields, which Vault never returns, cannot be judged: those are
    planned (masked) to be written once."""
    hand = Workspace(run_cli, tmp_path, vault_env, record=f"contract/{unique('hand')}")
    hand.apply(case.spec(BASE), case.env(BASE))

    result, blocks = ws.plan(case.spec(BASE), case.env(BASE))
    write_only = getattr(case, "write_only", ())
    if write_only:
        assert set(blocks) == {case.address}, str(result)
        assert blocks[case.address].fields == {f: "(sensitive value added)" for f in write_only}, str(result)
    else:
        assert result.exit_code == 0 and "No changes" in result.stdout, str(result)
    ws.apply(case.spec(BASE), case.env(BASE))
    case.check(BASE)
    ws.assert_converged(case.spec(BASE), case.env(BASE))
    assert case.address in recorded_objects(case.root, ws.record)
    hand.assert_no_secret_in_output(case.secret_values())


def test_roles_on_a_type_that_keeps_users_are_refused_before_any_write(ws, unique, root, vault_writes):
    """userpass keeps users at users/<name>, not role/<name> (Vault would answer
    a role write with 404): its schema takes `users:` only, so `roles:` is a
    located one-line error and nothing reaches Vault."""
    auth = unique("up")
    spec = {"auth": {auth: {"type": "userpass", "roles": {"bob": {"token_ttl": "1h"}}}}}
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = ws.run([command[0], ws.write(spec), *command[1:]])
        assert result.exit_code == 1 and "Traceback" not in result.output, str(result)
        assert re.search(rf"vaultform\.yaml:\d+:\d+: auth\.{auth}\.roles: ", result.stderr), str(result)
    assert vault_writes == []
    assert f"{auth}/" not in root.sys.list_auth_methods()["data"]

