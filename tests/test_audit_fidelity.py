"""Plan fidelity, proven from OpenBao's own audit log.

A dev server with a file audit device (OpenBao 2.x enables audit devices
only from server configuration: `audit "file" "NAME" { options { file_path
= ... } }`) logs every request vaultform makes. A seeded random walk then
changes the spec a few dozen times (policies, KV v1/v2 secrets with values of
every JSON type, secrets engines, auth methods with Kubernetes config and
roles, AppRole roles, userpass users with rotated passwords, JWT config and
roles, token roles, tuning, prevent_destroy, prune, re-created and deleted
mounts with --allow-destroy, namespaces made, edited, protected and deleted
with what they hold, and policies, mounts, secrets and auth roles inside
them) and, between runs, changes Vault by hand behind vaultform's back
(values, tuning, roles, deletions, disabled mounts, objects made by hand, a
namespace's metadata, objects in a namespace, a whole namespace deleted).
A write in a namespace counts by its full path (`<ns>/sys/...`), so one
made in the wrong namespace never passes for the planned one. Every other round goes through a saved plan. After every step
the log must show that

- `plan` (with or without --out) writes nothing at all: no create, update or
  delete request;
- `apply` writes exactly the Vault paths of the planned changes, each as
  often as its change needs (a replace disables, then enables), and nothing
  else, apart from its own bookkeeping under the ownership record's mount
  (the record, its fingerprint key and the apply lock);
- a second plan right after is empty;

and an apply with nothing to do writes nothing at all.

A failure names the seed and the last steps; replay a walk with
VAULTFORM_FIDELITY_SEED=<seed> (and VAULTFORM_FIDELITY_ROUNDS=<n> for a longer one).
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import random
import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import hvac
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.audit import AuditLog, Write, file_audit_hcl
from tests.support.bao import BaoDevServer

SEED = int(os.environ.get("VAULTFORM_FIDELITY_SEED", "7"))
ROUNDS = int(os.environ.get("VAULTFORM_FIDELITY_ROUNDS", "12"))
RECORD_MOUNT = "vaultform"     # the default `vault.record.mount`
REPO = Path(__file__).resolve().parent.parent
CA_PEM = (REPO / "examples" / "kubernetes-ca.crt").read_text(encoding="utf-8")
JWT_PUB = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
AMBIENT_VAULT_VARS = ("VAULT_ADDR", "VAULT_TOKEN", "BAO_ADDR", "BAO_TOKEN", "VAULT_NAMESPACE",
                      "BAO_NAMESPACE", "VAULT_CACERT", "BAO_CACERT", "VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY")
WRITE, DELETE = "write", "delete"     # create and update are both a write here
NAMESPACE_PREFIX = "namespace."
CAPABILITIES = ["read", "list", "create", "update", "delete"]


# -- the server ----------------------------------------------------------------------


@pytest.fixture
def audited(tmp_path):
    """A dev server logging every request to a file audit device, and that log."""
    log_path = tmp_path / "audit.log"
    with BaoDevServer(config_hcl=file_audit_hcl(str(log_path), "fidelity")) as server:
        devices = server.client().sys.list_enabled_audit_devices()["data"]
        # Without the device every "writes nothing" below would pass vacuously.
        assert "fidelity/" in devices, devices
        yield server, AuditLog(str(log_path))


def cli_env(server: BaoDevServer, home: Path, extra: Dict[str, str]) -> Dict[str, Optional[str]]:
    env: Dict[str, Optional[str]] = {name: None for name in AMBIENT_VAULT_VARS}
    env.update(VAULT_ADDR=server.address, VAULT_TOKEN=server.root_token, HOME=str(home), **extra)
    return env


# -- which writes a planned change may and must make -----------------------------------


def is_bookkeeping(write: Write) -> bool:
    """vaultform's own state: the record, its fingerprint key, the apply lock,
    and the record mount an apply creates the first time."""
    return write.path.startswith(f"{RECORD_MOUNT}/") or write.path == f"sys/mounts/{RECORD_MOUNT}"


def op_class(write: Write) -> Tuple[str, str]:
    return (DELETE if write.operation == "delete" else WRITE, write.path)


def split_secret(address_path: str, mounts: set) -> Tuple[str, str]:
    parts = address_path.split("/")
    for i in range(len(parts) - 1, 0, -1):
        if "/".join(parts[:i]) in mounts:
            return "/".join(parts[:i]), "/".join(parts[i:])
    raise AssertionError(f"no mount known for secret {address_path}")


def expected_writes(change: dict, now: "SpecModel", before: "SpecModel") -> List[Tuple[str, str]]:
    """The Vault requests one planned change (plan JSON) must make, as (write|delete, path).
    Paths are full paths from the root namespace: one made in namespace ns1
    reads ns1/sys/policies/acl/p (tests/support/audit.py)."""
    inside = in_namespace(change["address"])
    if inside is not None:
        namespace, address = inside
        inner = {**change, "address": address}
        now_ns, before_ns = now.namespace_at(namespace), before.namespace_at(namespace)
        writes = expected_writes(inner, now_ns or before_ns or NamespaceModel({}), before_ns or NamespaceModel({}))
        return [(op, f"{namespace}/{path}") for op, path in writes]
    kind, action, name = change["kind"], change["action"], change["address"].split(".", 1)[1]

    def by_action(path: str) -> List[Tuple[str, str]]:
        return {"create": [(WRITE, path)], "update": [(WRITE, path)], "delete": [(DELETE, path)],
                "replace": [(DELETE, path), (WRITE, path)]}[action]

    if kind == "policy":
        return by_action(f"sys/policies/acl/{name}")
    if action == "update" and change["changed_fields"] == ["prevent_destroy"]:
        return []  # kept in the ownership record only
    if kind == "namespace":
        # Made in its parent, by its own name there ("a/b" is b in a). Deleting
        # one waits for it to be gone by reading, which writes nothing.
        parent, _, leaf = name.rpartition("/")
        return by_action(f"{parent}/sys/namespaces/{leaf}" if parent else f"sys/namespaces/{leaf}")
    if kind in ("secrets_engine", "auth_method"):
        table = "mounts" if kind == "secrets_engine" else "auth"
        return [(WRITE, f"sys/{table}/{name}/tune")] if action == "update" else by_action(f"sys/{table}/{name}")
    if kind == "secret":
        mount, path = split_secret(name, set(now.mounts) | set(before.mounts))
        # A deleted secret lived where the last applied spec put it.
        version = (before if action == "delete" else now).kv_version(mount) or now.kv_version(mount)
        if version == "2":
            return [(DELETE, f"{mount}/metadata/{path}")] if action == "delete" else [(WRITE, f"{mount}/data/{path}")]
        return by_action(f"{mount}/{path}")
    if kind in ("identity_entity", "identity_group"):
        return by_action(f"identity/{kind.split('_')[1]}/name/{name}")
    if kind == "path":
        gone = action == "delete" and not (before.paths.get(name) or {}).get("delete", True)
        return [] if gone else by_action(name)
    engine = engine_object_writes(kind, action, name, change, now, before)
    if engine is not None:
        return engine
    if kind.endswith("_config"):
        # Vault has no DELETE for an auth config: it goes with its auth method.
        return [] if action == "delete" else [(WRITE, f"auth/{name}/config")]
    if kind == "token_role":
        return by_action(f"auth/token/roles/{name}")
    if kind.endswith(("_role", "_user", "_certificate")):
        # userpass keeps users at users/<name>, cert its certificates at certs/<name>.
        mount, role = name.rsplit("/", 1)
        where = {"userpass_user": "users", "cert_certificate": "certs"}.get(kind, "role")
        return by_action(f"auth/{mount}/{where}/{role}")
    raise AssertionError(f"no Vault path known for {change['address']} (kind {kind})")


def in_namespace(address: str) -> Optional[Tuple[str, str]]:
    """namespace.<ns>:<address inside> -> (ns, address inside); None for anything else."""
    if not address.startswith(NAMESPACE_PREFIX) or ":" not in address:
        return None
    namespace, _, inner = address[len(NAMESPACE_PREFIX):].partition(":")
    return namespace, inner


def engine_object_writes(kind: str, action: str, name: str, change: dict, now: "SpecModel",
                         before: "SpecModel") -> Optional[List[Tuple[str, str]]]:
    """Objects inside secrets engines (kinds/pki.py, transit.py, database.py,
    kv_config.py); None for any other kind."""
    if kind in ("kv_config", "pki_urls"):
        path = f"{name}/config" if kind == "kv_config" else f"{name}/config/urls"
        # Settings cannot be deleted: set back to the defaults while the mount stays, else nothing.
        return [] if action == "delete" and name not in now.mounts else [(WRITE, path)]
    if kind in ("pki_root_ca", "pki_intermediate_ca"):
        ca_key = "root_ca" if kind == "pki_root_ca" else "intermediate_ca"
        ca = (now.mounts.get(name) or {}).get(ca_key) or {}
        generate = [(WRITE, f"{name}/root/generate/internal")] if kind == "pki_root_ca" else [
            (WRITE, f"{name}/intermediate/generate/internal"), (WRITE, f"{ca.get('signed_by')}/root/sign-intermediate"),
            (WRITE, f"{name}/intermediate/set-signed")]
        generate.append((WRITE, f"{name}/config/issuers"))
        if ca.get("issuer_name") or ca.get("leaf_not_after_behavior", "err") != "err":
            generate.append((WRITE, f"{name}/issuer/default"))
        return {"create": generate, "update": [(WRITE, f"{name}/issuer/default")],
                "delete": [(DELETE, f"{name}/root")], "replace": [(DELETE, f"{name}/root")] + generate}[action]
    if kind == "transit_key":
        mount, key = name.rsplit("/", 1)
        path = f"{mount}/keys/{key}"
        spec_key = ((now.mounts.get(mount) or {}).get("keys") or {}).get(key) or {}
        create = [(WRITE, path)]
        if spec_key.get("deletion_allowed") or spec_key.get("min_decryption_version", 1) != 1 \
                or spec_key.get("min_encryption_version", 0):
            create.append((WRITE, f"{path}/config"))
        # Vault deletes only a key with deletion_allowed; one without goes with its mount.
        applied = ((before.mounts.get(mount) or {}).get("keys") or {}).get(key) or {}
        delete = [(DELETE, path)] if applied.get("deletion_allowed") else []
        return {"create": create, "update": [(WRITE, f"{path}/config")], "delete": delete,
                "replace": delete + create}[action]
    if kind in ("pki_role", "database_role", "database_connection"):
        mount, obj = name.rsplit("/", 1)
        where = "config" if kind == "database_connection" else "roles"
        path = f"{mount}/{where}/{obj}"
        return {"create": [(WRITE, path)], "update": [(WRITE, path)], "delete": [(DELETE, path)],
                "replace": [(DELETE, path), (WRITE, path)]}[action]
    return None


# -- the spec, as a model the walk mutates ---------------------------------------------


class SpecModel:
    """The spec's sections as plain data, and the environment its sources read."""

    def __init__(self) -> None:
        self.policies: Dict[str, str] = {}
        self.mounts: Dict[str, dict] = {}
        self.auth: Dict[str, dict] = {}
        self.secrets: Dict[str, dict] = {}
        self.prune: Dict[str, bool] = {}
        self.entities: Dict[str, dict] = {}
        self.groups: Dict[str, dict] = {}
        self.paths: Dict[str, dict] = {}
        self.token_roles: Dict[str, dict] = {}
        self.namespaces: Dict[str, "NamespaceModel"] = {}
        self.env: Dict[str, str] = {}

    def document(self) -> dict:
        doc: dict = {"version": 1}
        for key, section in (("secrets_engines", self.mounts), ("auth", self.auth),
                             ("policies", self.policies), ("secrets", self.secrets), ("prune", self.prune),
                             ("token_roles", self.token_roles)):
            if section:
                doc[key] = copy.deepcopy(section)
        identity = {key: copy.deepcopy(section) for key, section in (("entities", self.entities),
                                                                     ("groups", self.groups)) if section}
        if identity:
            doc["identity"] = identity
        if self.paths:
            doc["paths"] = copy.deepcopy(self.paths)
        if self.namespaces:
            doc["namespaces"] = {name: namespace.body() for name, namespace in self.namespaces.items()}
        return doc

    def namespace_at(self, path: str) -> Optional["NamespaceModel"]:
        """The namespace at "a" or "a/b" (b inside a), or None."""
        model: Optional[SpecModel] = self
        for name in path.split("/"):
            model = model.namespaces.get(name) if model is not None else None
        return model  # type: ignore[return-value]

    def namespace_paths(self) -> List[str]:
        return [p for name, ns in sorted(self.namespaces.items())
                for p in [name] + [f"{name}/{child}" for child in ns.namespace_paths()]]

    def kv_version(self, mount: str) -> Optional[str]:
        body = self.mounts.get(mount)
        if body is None or body["type"] not in ("kv", "kv-v2"):
            return None
        return "2" if body["type"] == "kv-v2" else str((body.get("options") or {}).get("version", "1"))

    def kv_mounts(self, version: Optional[str] = None) -> List[str]:
        return sorted(m for m in self.mounts if self.kv_version(m) and (version is None or self.kv_version(m) == version))

    def secrets_of(self, mount: str) -> List[str]:
        return sorted(key for key in self.secrets if split_secret(key, set(self.mounts)) [0] == mount)

    def auth_of(self, auth_type: str) -> List[str]:
        return sorted(p for p, body in self.auth.items() if body["type"] == auth_type)


class NamespaceModel(SpecModel):
    """One namespace (namespaces.<name>): its settings and the sections it
    holds, a spec of its own. Its value sources read the root's environment."""

    def __init__(self, env: Dict[str, str]) -> None:
        super().__init__()
        self.env = env
        self.custom_metadata: Dict[str, str] = {}
        self.prevent_destroy = False

    def body(self) -> dict:
        body = self.document()
        del body["version"]
        if self.custom_metadata:
            body["custom_metadata"] = dict(self.custom_metadata)
        if self.prevent_destroy:
            body["prevent_destroy"] = True
        return body


def hex_value(rng: random.Random) -> str:
    return "%032x" % rng.getrandbits(128)


def policy_text(rng: random.Random) -> str:
    blocks = []
    for _ in range(rng.randint(1, 2)):
        caps = sorted(rng.sample(CAPABILITIES, rng.randint(1, 3)), key=CAPABILITIES.index)
        blocks.append(f'path "{rng.choice(["kv", "app", "team"])}{rng.randint(0, 99)}/data/*" {{\n'
                      f"  capabilities = {json.dumps(caps)}\n}}\n")
    text = "\n".join(blocks)
    # Vault keeps the text byte for byte: comments, CRLF and trailing blank lines included.
    return rng.choice([text, "# managed by vaultform\n" + text, text + "\n\n", text.replace("\n", "\r\n")])


def typed_value(rng: random.Random):
    """A literal of some JSON type: KV stores more than strings."""
    return rng.choice([lambda: hex_value(rng), lambda: rng.randint(-10**6, 10**6), lambda: rng.choice([1.0, 2.5, -0.125]),
                       lambda: rng.choice([True, False]), lambda: None, lambda: [1, "two", None, {"k": 3}],
                       lambda: {"host": "db.example", "port": 5432, "tls": True}, lambda: ""])()


def secret_data(rng: random.Random) -> dict:
    keys = rng.sample(["username", "password", "api_key", "url"], rng.randint(1, 3))
    data = {k: hex_value(rng) if rng.random() < 0.6 else typed_value(rng) for k in keys}
    if rng.random() < 0.25:
        data["session_key"] = {"generate": {"length": 16}}  # made once, never overwritten
    return data


def k8s_role(rng: random.Random, model: SpecModel) -> dict:
    role = {"bound_service_account_names": rng.sample(["web", "api", "worker", "cron"], rng.randint(1, 2)),
            "bound_service_account_namespaces": rng.sample(["default", "prod", "dev"], rng.randint(1, 2)),
            "token_policies": sorted(rng.sample(sorted(model.policies), min(len(model.policies), 2))),
            "token_ttl": rng.choice(["10m", "1h", "24h"])}
    if rng.random() < 0.3:
        role["audience"] = "vault"
    style = rng.random()
    if style < 0.2:  # lists as "a,b" strings, as Vault also takes them
        role["bound_service_account_names"] = ",".join(role["bound_service_account_names"])
    elif style < 0.4:  # the legacy names Vault still accepts
        role["policies"], role["ttl"] = role.pop("token_policies"), rng.choice(["1d", "90m", 3600])
    return role


def approle_role(rng: random.Random, model: SpecModel) -> dict:
    role = {"token_ttl": rng.choice(["10m", "1h"]), "token_max_ttl": rng.choice(["4h", "24h"]),
            "token_policies": sorted(rng.sample(sorted(model.policies), min(len(model.policies), 1))),
            "secret_id_num_uses": rng.randint(0, 10)}
    if rng.random() < 0.3:
        role["token_type"] = rng.choice(["service", "batch"])
    if rng.random() < 0.3:
        role["token_bound_cidrs"] = ["10.0.0.0/8"]
    return role


def jwt_role(rng: random.Random, model: SpecModel) -> dict:
    role = {"role_type": "jwt", "user_claim": rng.choice(["repository", "sub"]),
            "bound_audiences": ["https://github.com/org"],
            "bound_claims": {"repository": f"org/{hex_value(rng)[:6]}"},
            "token_policies": sorted(rng.sample(sorted(model.policies), min(len(model.policies), 1))),
            "token_ttl": rng.choice(["10m", "1h"])}
    if rng.random() < 0.3:
        role["claim_mappings"] = {"workflow": "workflow"}
    return role


def userpass_user(rng: random.Random, model: SpecModel, var: str) -> dict:
    model.env[var] = hex_value(rng)
    user = {"password": {"env": var}, "token_ttl": rng.choice(["10m", "1h"]),
            "token_policies": sorted(rng.sample(sorted(model.policies), min(len(model.policies), 1)))}
    if rng.random() < 0.3:
        user["token_bound_cidrs"] = ["10.0.0.0/8"]
    return user


def token_role(rng: random.Random, model: SpecModel) -> dict:
    role = {"allowed_policies": sorted(rng.sample(sorted(model.policies), min(len(model.policies), 2))),
            "orphan": rng.choice([True, False])}
    if rng.random() < 0.5:
        role["token_period"] = rng.choice(["1h", "24h"])
    return role


ROLE_MAKERS = {"kubernetes": k8s_role, "approle": approle_role, "jwt": jwt_role}


class Walk:
    """The seeded random walk: spec mutations and hand-made drift."""

    def __init__(self, rng: random.Random, model: SpecModel):
        self.rng, self.model = rng, model
        self.names = itertools.count(1)
        self.handmade: Dict[str, str] = {}  # made by hand -> its prune key: touched only when that is on
        self.unprotected_now: set = set()   # still protected in the record until the next apply
        self.destroyed_now: set = set()     # removed or re-created by this round's spec: not to be protected now
        self.disabled_now: set = set()      # mounts disabled by hand this round: nothing left to drift in them
        self.deletable_keys: set = set()    # (mount, key) with deletion_allowed as last applied
        self.edited_by_hand: set = set()    # namespaces whose metadata was changed by hand this round
        # Namespaces removed from the spec after a change by hand: vaultform
        # leaves them alone, so their parents can never be deleted (OpenBao
        # refuses a namespace holding another, and the plan says so).
        self.abandoned: set = set()
        # Namespaces made by hand ("h", or "a/h" inside declared a): left alone
        # unless the prune: where they are has namespaces; their parents are
        # never deleted meanwhile (OpenBao refuses a namespace holding another).
        self.handmade_namespaces: set = set()

    def new_round(self) -> None:
        # Transit keys Vault may delete now: deletion_allowed as last applied.
        self.deletable_keys = {(p, k) for p, body in self.model.mounts.items()
                               for k, key in (body.get("keys") or {}).items() if key.get("deletion_allowed")}
        self.unprotected_now.clear()
        self.destroyed_now.clear()
        self.disabled_now.clear()
        self.edited_by_hand.clear()

    def destroyable(self, section: Dict[str, dict]) -> List[str]:
        return sorted(p for p, body in section.items()
                      if not body.get("prevent_destroy") and p not in self.unprotected_now)

    def new(self, prefix: str) -> str:
        return f"{prefix}{next(self.names)}"

    def pick(self, items) -> Optional[str]:
        items = sorted(items)
        return self.rng.choice(items) if items else None

    # -- spec mutations: each returns what it did, or None when it does not apply -----
    def add_policy(self) -> str:
        name = self.new("pol")
        self.model.policies[name] = policy_text(self.rng)
        return f"add policy {name}"

    def edit_policy(self) -> Optional[str]:
        name = self.pick(self.model.policies)
        if name:
            self.model.policies[name] = policy_text(self.rng)
            return f"edit policy {name}"

    def remove_policy(self) -> Optional[str]:
        name = self.pick(self.model.policies)
        if name and len(self.model.policies) > 2:  # roles keep a couple to name
            del self.model.policies[name]
            return f"remove policy {name}"

    def add_kv_mount(self) -> str:
        path = self.new("kv") if self.rng.random() < 0.7 else f"{self.new('team')}/kv"
        version = self.rng.choice(["1", "2", "kv-v2"])
        body: dict = {"type": "kv-v2"} if version == "kv-v2" else {"type": "kv", "options": {"version": version}}
        if self.rng.random() < 0.5:
            body["description"] = f"secrets {hex_value(self.rng)[:6]}"
        if self.rng.random() < 0.4:
            body["config"] = {"default_lease_ttl": "1h", "max_lease_ttl": "24h"}
        self.model.mounts[path] = body
        return f"add kv mount {path} ({version})"

    def add_transit_mount(self) -> str:
        path = self.new("transit")
        self.model.mounts[path] = {"type": "transit", "description": "keys"}
        return f"add transit mount {path}"

    def tune_mount(self) -> Optional[str]:
        path = self.pick(self.model.mounts)
        if not path:
            return None
        return f"tune mount {path}: " + self._tune(self.model.mounts[path], "config")

    def _tune(self, body: dict, key: str) -> str:
        what = self.rng.choice(["description", "default_lease_ttl", "max_lease_ttl", "listing_visibility",
                                "audit_non_hmac_request_keys", "passthrough_request_headers", "drop", "drop"])
        tuning = body.setdefault(key, {})
        if what == "description":
            if body.pop("description", None) is not None and self.rng.random() < 0.5:
                what = "drop description"
            else:
                body["description"] = f"tuned {hex_value(self.rng)[:6]}"
        elif what == "default_lease_ttl":
            tuning["default_lease_ttl"] = self.rng.choice(["30m", "1h", "2h"])
        elif what == "max_lease_ttl":
            tuning["max_lease_ttl"] = self.rng.choice(["24h", "48h", "72h"])
        elif what == "listing_visibility":
            tuning["listing_visibility"] = self.rng.choice(["unauth", "hidden"])
        elif what == "audit_non_hmac_request_keys":
            tuning[what] = self.rng.sample(["role", "name", "path"], self.rng.randint(1, 2))
        elif what == "passthrough_request_headers":
            tuning[what] = ["X-Request-Id"]
        elif set(tuning) - {"force_no_cache"}:  # changing that one re-creates the mount: toggle_force_no_cache
            dropped = self.rng.choice(sorted(set(tuning) - {"force_no_cache"}))
            del tuning[dropped]
            what = f"drop {dropped}"
        if not tuning:
            del body[key]
        return what

    def signers(self) -> set:
        return {(b.get("intermediate_ca") or {}).get("signed_by") for b in self.model.mounts.values()}

    def remove_mount(self) -> Optional[str]:
        path = self.pick(set(self.destroyable(self.model.mounts)) - self.signers())
        if not path:
            return None
        gone = self.model.secrets_of(path) if self.model.kv_version(path) else []
        for key in gone:
            del self.model.secrets[key]
        del self.model.mounts[path]
        self.destroyed_now.add(path)
        return f"remove mount {path} and its {len(gone)} secret(s)"

    def downgrade_kv(self) -> Optional[str]:
        path = self.pick(set(self.model.kv_mounts("2")) & set(self.destroyable(self.model.mounts)))
        if not path:
            return None
        body = self.model.mounts[path]
        body["type"], body["options"] = "kv", {"version": "1"}  # re-creates the mount
        body.pop("kv", None)  # KV v1 has no settings
        self.destroyed_now.add(path)
        return f"downgrade {path} to kv v1 (replace)"

    def upgrade_kv(self) -> Optional[str]:
        path = self.pick(self.model.kv_mounts("1"))
        if not path:
            return None
        self.model.mounts[path]["options"] = {"version": "2"}
        return f"upgrade {path} to kv v2 (in place)"

    def add_secret(self) -> Optional[str]:
        mount = self.pick(self.model.kv_mounts())
        if not mount:
            return None
        key = f"{mount}/{self.new('app')}" + ("/config" if self.rng.random() < 0.3 else "")
        self.model.secrets[key] = secret_data(self.rng)
        return f"add secret {key}"

    def edit_secret(self) -> Optional[str]:
        key = self.pick(self.model.secrets)
        if not key:
            return None
        data = self.model.secrets[key]
        what = self.rng.choice(["value", "add key", "drop key"])
        literal = sorted(k for k, v in data.items() if isinstance(v, str))
        if what == "drop key" and len(data) > 1:
            dropped = self.rng.choice(sorted(data))
            del data[dropped]
            return f"edit secret {key}: drop {dropped}"
        if what == "value" and literal:
            data[self.rng.choice(literal)] = hex_value(self.rng)
            return f"edit secret {key}: change a value"
        data[self.new("extra")] = hex_value(self.rng)
        return f"edit secret {key}: add a key"

    def remove_secret(self) -> Optional[str]:
        key = self.pick(self.model.secrets)
        if key:
            del self.model.secrets[key]
            return f"remove secret {key}"

    def add_auth(self) -> str:
        pick = self.rng.random()
        if pick < 0.25:
            return self.add_typed_auth("userpass" if pick < 0.12 else "jwt")
        if self.rng.random() < 0.6:
            path = self.new("k8s")
            body: dict = {"type": "kubernetes", "config": {"kubernetes_host": f"https://{path}.example:6443",
                                                            "kubernetes_ca_cert": {"file": "ca.crt"}}}
            body["roles"] = {self.new("role"): k8s_role(self.rng, self.model) for _ in range(self.rng.randint(0, 2))}
        else:
            path = self.new("approle")
            body = {"type": "approle",
                    "roles": {self.new("ci"): approle_role(self.rng, self.model) for _ in range(self.rng.randint(0, 2))}}
        if self.rng.random() < 0.4:
            body["tune"] = {"default_lease_ttl": "1h"}
        if not body["roles"]:
            del body["roles"]
        self.model.auth[path] = body
        return f"add {body['type']} auth {path}"

    def add_typed_auth(self, auth_type: str) -> str:
        path = self.new("up" if auth_type == "userpass" else "jwt")
        if auth_type == "userpass":
            body: dict = {"type": "userpass", "users": {}}
            for _ in range(self.rng.randint(1, 2)):
                name = self.new("user")
                body["users"][name] = userpass_user(self.rng, self.model, f"FIDELITY_PW_{path}_{name}".upper())
        else:
            body = {"type": "jwt", "config": {"jwt_validation_pubkeys": [{"file": "jwt.pub"}],
                                              "bound_issuer": "https://token.actions.githubusercontent.com"},
                    "roles": {self.new("deploy"): jwt_role(self.rng, self.model)}}
        self.model.auth[path] = body
        return f"add {auth_type} auth {path}"

    def add_userpass_auth(self) -> str:
        return self.add_typed_auth("userpass")

    def add_jwt_auth(self) -> str:
        return self.add_typed_auth("jwt")

    def _users(self) -> List[Tuple[str, str]]:
        return sorted((p, u) for p, body in self.model.auth.items() for u in body.get("users", {}))

    def edit_user(self) -> Optional[str]:
        users = self._users()
        if not users:
            return None
        path, name = self.rng.choice(users)
        user = self.model.auth[path]["users"][name]
        if self.rng.random() < 0.5:
            self.model.env[user["password"]["env"]] = hex_value(self.rng)  # same spec, new password
            return f"rotate the password of user {path}/{name}"
        user["token_ttl"] = self.rng.choice(["5m", "15m", "2h"])
        return f"edit user {path}/{name}"

    def remove_user(self) -> Optional[str]:
        users = self._users()
        if not users:
            return None
        path, name = self.rng.choice(users)
        del self.model.auth[path]["users"][name]
        return f"remove user {path}/{name}"

    def add_token_role(self) -> str:
        name = self.new("tokenrole")
        self.model.token_roles[name] = token_role(self.rng, self.model)
        return f"add token role {name}"

    def edit_token_role(self) -> Optional[str]:
        name = self.pick(self.model.token_roles)
        if not name:
            return None
        role = self.model.token_roles[name]
        if "token_period" in role and self.rng.random() < 0.5:
            del role["token_period"]
            return f"edit token role {name}: drop token_period"
        self.model.token_roles[name] = token_role(self.rng, self.model)
        return f"edit token role {name}"

    def remove_token_role(self) -> Optional[str]:
        name = self.pick(self.model.token_roles)
        if name:
            del self.model.token_roles[name]
            return f"remove token role {name}"

    def tune_auth(self) -> Optional[str]:
        path = self.pick(self.model.auth)
        if path:
            return f"tune auth {path}: " + self._tune(self.model.auth[path], "tune")

    def remove_auth(self) -> Optional[str]:
        path = self.pick(self.destroyable(self.model.auth))
        if path:
            del self.model.auth[path]
            self.destroyed_now.add(path)
            return f"remove auth {path} with its config and roles"

    def edit_k8s_config(self) -> Optional[str]:
        path = self.pick(self.model.auth_of("kubernetes"))
        if not path:
            return None
        if "config" not in self.model.auth[path]:
            self.model.auth[path]["config"] = {"kubernetes_host": f"https://{path}.example:6443",
                                               "kubernetes_ca_cert": {"file": "ca.crt"}}
            return f"add kubernetes config {path} back"
        config = self.model.auth[path]["config"]
        what = self.rng.choice(["host", "issuer", "reviewer jwt", "rotate jwt"])
        var = f"FIDELITY_JWT_{path.upper()}"
        if what == "host":
            config["kubernetes_host"] = f"https://{hex_value(self.rng)[:8]}.example:6443"
        elif what == "issuer":
            if "issuer" in config:
                del config["issuer"], config["disable_iss_validation"]
            else:
                config["issuer"] = "https://kubernetes.default.svc.cluster.local"
                config["disable_iss_validation"] = False
        elif what == "reviewer jwt" or var not in self.model.env:
            if "token_reviewer_jwt" in config:
                del config["token_reviewer_jwt"]
                what = "drop reviewer jwt"
            else:
                config["token_reviewer_jwt"] = {"env": var}
                self.model.env[var] = f"eyJreviewer.{hex_value(self.rng)}.sig"
                what = "set reviewer jwt"
        else:
            self.model.env[var] = f"eyJreviewer.{hex_value(self.rng)}.sig"  # same spec, new value
        return f"edit kubernetes config {path}: {what}"

    def toggle_protection(self) -> Optional[str]:
        section = self.rng.choice([self.model.mounts, self.model.auth])
        path = self.pick(section)
        if not path:
            return None
        if section[path].pop("prevent_destroy", False):
            self.unprotected_now.add(path)
            return f"clear prevent_destroy on {path} (record only)"
        if path in self.destroyed_now:
            return None
        section[path]["prevent_destroy"] = True
        return f"set prevent_destroy on {path} (record only)"

    def toggle_local(self) -> Optional[str]:
        section = self.rng.choice([self.model.mounts, self.model.auth])
        path = self.pick(self.destroyable(section))
        if not path:
            return None
        self.destroyed_now.add(path)
        if section[path].pop("local", False):
            return f"clear local on {path} (replace)"
        section[path]["local"] = True
        return f"set local on {path} (replace)"

    def toggle_prune(self) -> str:
        return self.toggle_prune_key(self.rng.choice(["policies", "secrets_engines", "auth_roles", "token_roles",
                                                      "namespaces"]))

    def toggle_prune_key(self, key: str) -> str:
        if self.model.prune.pop(key, False):
            return f"prune.{key} off"
        self.model.prune[key] = True
        return f"prune.{key} on: what was made by hand goes"

    def toggle_force_no_cache(self) -> Optional[str]:
        path = self.pick(self.destroyable(self.model.mounts))
        if not path:
            return None
        self.destroyed_now.add(path)
        config = self.model.mounts[path].setdefault("config", {})
        config["force_no_cache"] = not config.get("force_no_cache", False)
        return f"force_no_cache {config['force_no_cache']} on {path} (replace)"

    def retype_mount(self) -> Optional[str]:
        path = self.pick(set(self.model.kv_mounts()) & set(self.destroyable(self.model.mounts)))
        if not path:
            return None
        gone = self.model.secrets_of(path)
        for key in gone:
            del self.model.secrets[key]
        self.model.mounts[path] = {"type": "transit"}
        self.destroyed_now.add(path)
        return f"retype {path} from kv to transit (replace), dropping its {len(gone)} secret(s)"

    def retype_auth(self) -> Optional[str]:
        path = self.pick(set(self.model.auth_of("kubernetes")) & set(self.destroyable(self.model.auth)))
        if not path:
            return None
        self.model.auth[path] = {"type": "approle", "roles": {self.new("ci"): approle_role(self.rng, self.model)}}
        self.destroyed_now.add(path)
        return f"retype auth {path} from kubernetes to approle (replace)"

    def drop_k8s_config(self) -> Optional[str]:
        path = self.pick(p for p in self.model.auth_of("kubernetes") if "config" in self.model.auth[p])
        if path:
            del self.model.auth[path]["config"]
            return f"drop kubernetes config {path} from the spec (Vault keeps it)"

    def _roles(self) -> List[Tuple[str, str]]:
        return sorted((p, r) for p, body in self.model.auth.items() for r in body.get("roles", {}))

    def add_role(self) -> Optional[str]:
        path = self.pick(p for p, body in self.model.auth.items() if body["type"] in ROLE_MAKERS)
        if not path:
            return None
        body = self.model.auth[path]
        maker = ROLE_MAKERS[body["type"]]
        name = self.new("role")
        body.setdefault("roles", {})[name] = maker(self.rng, self.model)
        return f"add role {path}/{name}"

    def edit_role(self) -> Optional[str]:
        roles = self._roles()
        if not roles:
            return None
        path, name = self.rng.choice(roles)
        role = self.model.auth[path]["roles"][name]
        if "token_ttl" in role and self.rng.random() < 0.5:
            role["token_ttl"] = self.rng.choice(["5m", "15m", "2h"])
        else:
            maker = ROLE_MAKERS[self.model.auth[path]["type"]]
            self.model.auth[path]["roles"][name] = maker(self.rng, self.model)
        return f"edit role {path}/{name}"

    def remove_role(self) -> Optional[str]:
        roles = self._roles()
        if not roles:
            return None
        path, name = self.rng.choice(roles)
        del self.model.auth[path]["roles"][name]
        if not self.model.auth[path]["roles"]:
            del self.model.auth[path]["roles"]
        return f"remove role {path}/{name}"

    # Identity and paths: entities, internal groups of them, and generic paths
    # in the root token's cubbyhole (built in: no mount for the walk to remove).
    def add_entity(self) -> str:
        name = self.new("ent")
        self.model.entities[name] = {"policies": sorted(self.rng.sample(["a", "b", "c"], 2)),
                                     "metadata": {"team": hex_value(self.rng)[:6]}}
        return f"add entity {name}"

    def edit_entity(self) -> Optional[str]:
        name = self.pick(self.model.entities)
        if name:
            self.model.entities[name]["metadata"] = {"team": hex_value(self.rng)[:6]}
            return f"edit entity {name}"

    def remove_entity(self) -> Optional[str]:
        name = self.pick(n for n in self.model.entities
                         if not any(n in g.get("members", []) for g in self.model.groups.values()))
        if name:
            del self.model.entities[name]
            return f"remove entity {name}"

    def add_group(self) -> str:
        name = self.new("grp")
        members = sorted(self.rng.sample(sorted(self.model.entities), min(2, len(self.model.entities))))
        self.model.groups[name] = {"policies": ["g"], "members": members}
        return f"add group {name} of {members}"

    def edit_group(self) -> Optional[str]:
        name = self.pick(self.model.groups)
        if name:
            members = sorted(self.rng.sample(sorted(self.model.entities), min(1, len(self.model.entities))))
            self.model.groups[name]["members"] = members
            return f"edit group {name}: members {members}"

    def remove_group(self) -> Optional[str]:
        name = self.pick(self.model.groups)
        if name:
            del self.model.groups[name]
            return f"remove group {name}"

    def add_path(self) -> str:
        path = f"cubbyhole/{self.new('gp')}"
        self.model.paths[path] = {"data": {"level": self.rng.randint(1, 9), "mode": hex_value(self.rng)[:4]},
                                  "delete": self.rng.random() < 0.7}
        return f"add path {path}"

    def edit_path(self) -> Optional[str]:
        path = self.pick(self.model.paths)
        if path:
            self.model.paths[path]["data"]["level"] += 1
            return f"edit path {path}"

    def remove_path(self) -> Optional[str]:
        path = self.pick(self.model.paths)
        if path:
            delete = self.model.paths.pop(path).get("delete", True)
            return f"remove path {path} ({'deleted' if delete else 'only forgotten'})"
    # -- objects inside secrets engines ---------------------------------------------------
    def engine_mounts(self, engine_type: str) -> List[str]:
        return sorted(p for p, body in self.model.mounts.items() if body["type"] == engine_type)

    def add_transit_key(self) -> Optional[str]:
        path = self.pick(self.engine_mounts("transit"))
        if not path:
            return None
        name = self.new("key")
        key: dict = {"type": self.rng.choice(["aes256-gcm96", "chacha20-poly1305", "ed25519"])}
        if self.rng.random() < 0.6:
            key["deletion_allowed"] = True
        if self.rng.random() < 0.4:
            key["auto_rotate_period"] = self.rng.choice(["1h", "720h"])
        self.model.mounts[path].setdefault("keys", {})[name] = key
        return f"add transit key {path}/{name}"

    def _keys(self) -> List[Tuple[str, str]]:
        return sorted((p, k) for p in self.engine_mounts("transit") for k in self.model.mounts[p].get("keys", {}))

    def edit_transit_key(self) -> Optional[str]:
        keys = self._keys()
        if not keys:
            return None
        path, name = self.rng.choice(keys)
        key = self.model.mounts[path]["keys"][name]
        what = self.rng.choice(["exportable", "deletion_allowed", "auto_rotate_period", "retype"])
        if what == "retype" and (path, name) in self.deletable_keys and key.get("deletion_allowed"):
            key["type"] = "chacha20-poly1305" if key.get("type") != "chacha20-poly1305" else "aes256-gcm96"
            return f"retype transit key {path}/{name} (replace: the key is deleted)"
        if what == "exportable":
            key["exportable"] = True  # on for good once on
        elif what == "auto_rotate_period" and "auto_rotate_period" in key:
            del key["auto_rotate_period"]
        elif what == "auto_rotate_period":
            key["auto_rotate_period"] = "24h"
        else:
            key["deletion_allowed"] = not key.get("deletion_allowed", False)
            what = f"deletion_allowed {key['deletion_allowed']}"
        return f"edit transit key {path}/{name}: {what}"

    def remove_transit_key(self) -> Optional[str]:
        keys = [(p, k) for p, k in self._keys()
                if (p, k) in self.deletable_keys and self.model.mounts[p]["keys"][k].get("deletion_allowed")]
        if not keys:
            return None
        path, name = self.rng.choice(keys)
        del self.model.mounts[path]["keys"][name]
        return f"remove transit key {path}/{name} (deletion_allowed)"

    def add_pki(self) -> str:
        path = self.new("pki")
        body: dict = {"type": "pki", "root_ca": {"common_name": f"{path} Root", "key_type": "ec"}}
        if self.rng.random() < 0.5:
            body["urls"] = {"issuing_certificates": [f"http://{path}.example/ca"]}
        roles = {self.new("web"): self.pki_role() for _ in range(self.rng.randint(0, 2))}
        if roles:
            body["roles"] = roles
        self.model.mounts[path] = body
        if self.rng.random() < 0.5:
            inter = self.new("pkiint")
            self.model.mounts[inter] = {"type": "pki", "intermediate_ca": {
                "common_name": f"{inter} Intermediate", "signed_by": path, "key_type": "ec"},
                "roles": {self.new("web"): self.pki_role()}}
            return f"add pki mounts {path} (root CA) and {inter} (intermediate signed by it)"
        return f"add pki mount {path} with a root CA"

    def pki_role(self) -> dict:
        role = {"allowed_domains": self.rng.sample(["example.com", "example.org", "svc.local"], self.rng.randint(1, 2)),
                "key_type": "ec", "max_ttl": self.rng.choice(["24h", "72h"])}
        if self.rng.random() < 0.5:
            role["allow_subdomains"] = True
        return role

    def edit_pki(self) -> Optional[str]:
        path = self.pick(self.engine_mounts("pki"))
        if not path:
            return None
        body = self.model.mounts[path]
        ca = body.get("root_ca") or body.get("intermediate_ca")
        what = self.rng.choice(["issuer_name", "leaf", "urls", "add role", "edit role", "remove role", "regenerate"])
        if what == "issuer_name" and ca is not None:
            ca["issuer_name"] = f"issuer-{hex_value(self.rng)[:6]}"  # a name, once set, stays: never dropped
        elif what == "leaf" and ca is not None:
            if ca.pop("leaf_not_after_behavior", None) is None:
                ca["leaf_not_after_behavior"] = self.rng.choice(["truncate", "permit"])
        elif what == "urls":
            if body.pop("urls", None) is None:
                body["urls"] = {"issuing_certificates": [f"http://{hex_value(self.rng)[:6]}.example/ca"],
                                "ocsp_servers": ["http://ocsp.example"]}
        elif what == "regenerate" and "root_ca" in body and not body["root_ca"].get("prevent_destroy"):
            body["root_ca"]["common_name"] = f"{path} Root {hex_value(self.rng)[:4]}"
            return f"regenerate the root CA of {path} (replace: its intermediates are signed again)"
        elif what in ("edit role", "remove role") and body.get("roles"):
            name = self.rng.choice(sorted(body["roles"]))
            if what == "remove role":
                del body["roles"][name]
                if not body["roles"]:
                    del body["roles"]
            else:
                body["roles"][name] = self.pki_role()
            what = f"{what} {name}"
        else:
            body.setdefault("roles", {})[self.new("web")] = self.pki_role()
            what = "add role"
        return f"edit pki {path}: {what}"

    def add_database(self) -> str:
        path, var = self.new("db"), f"FIDELITY_DB_{next(self.names)}"
        self.model.env[var] = hex_value(self.rng)
        # verify_connection off: Vault keeps the connection without logging in (no database in this walk).
        self.model.mounts[path] = {"type": "database", "connections": {"pg": {
            "plugin_name": "postgresql-database-plugin", "verify_connection": False,
            "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:9/app", "username": "vault",
            "password": {"env": var}, "allowed_roles": ["app"]}},
            "roles": {"app": self.database_role()}}
        return f"add database mount {path} with a connection and a role"

    def database_role(self) -> dict:
        return {"db_name": "pg", "default_ttl": self.rng.choice(["1h", "2h"]),
                "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';"]}

    def edit_database(self) -> Optional[str]:
        path = self.pick(self.engine_mounts("database"))
        if not path:
            return None
        body = self.model.mounts[path]
        connection = body["connections"]["pg"]
        what = self.rng.choice(["password", "allowed_roles", "role", "drop role"])
        if what == "password":
            self.model.env[connection["password"]["env"]] = hex_value(self.rng)  # same spec, new value
        elif what == "allowed_roles":
            connection["allowed_roles"] = ["app", "report"] if connection["allowed_roles"] == ["app"] else ["app"]
        elif what == "drop role" and "roles" in body:
            del body["roles"]
        else:
            body["roles"] = {"app": self.database_role()}
            what = "set role"
        return f"edit database {path}: {what}"

    def edit_kv_settings(self) -> Optional[str]:
        path = self.pick(self.model.kv_mounts("2"))
        if not path:
            return None
        body = self.model.mounts[path]
        if "kv" in body and self.rng.random() < 0.3:
            del body["kv"]
            return f"drop the kv settings of {path} (back to Vault's defaults)"
        body["kv"] = {"max_versions": self.rng.randint(1, 20), "cas_required": self.rng.random() < 0.3}
        if self.rng.random() < 0.5:
            body["kv"]["delete_version_after"] = self.rng.choice(["720h", "24h"])
        return f"set the kv settings of {path}"

    # -- namespaces: the namespace itself, and objects inside it -------------------------
    def inside(self, namespace: str) -> "Walk":
        """A walk over one namespace's model ("a" or "a/b"): the same mutations
        and drifts, applied to what the namespace holds (names stay unique
        across the walk)."""
        walk = Walk(self.rng, self.model.namespace_at(namespace))
        walk.names = self.names
        return walk

    def add_namespace(self) -> str:
        parent = self.pick(self.model.namespace_paths()) if self.rng.random() < 0.3 else None
        if parent:  # a namespace inside a namespace
            return self.inside(parent).add_namespace().replace("add namespace ", f"add namespace {parent}/", 1)
        name = self.new("ns")
        namespace = self.model.namespaces[name] = NamespaceModel(self.model.env)
        if self.rng.random() < 0.6:
            namespace.custom_metadata = {"team": hex_value(self.rng)[:6]}
        walk, held = self.inside(name), []
        for mutation in self.rng.sample(["add_policy", "add_kv_mount", "add_auth"], self.rng.randint(0, 3)):
            held.append(getattr(walk, mutation)())
        if namespace.kv_mounts() and self.rng.random() < 0.7:
            held.append(walk.add_secret())
        return f"add namespace {name}" + (f" holding: {'; '.join(held)}" if held else " (empty)")

    def edit_namespace(self) -> Optional[str]:
        name = self.pick(self.model.namespace_paths())
        if not name:
            return None
        metadata = self.model.namespace_at(name).custom_metadata
        what = self.rng.choice(["set", "add", "drop"])
        if what == "drop" and metadata:
            del metadata[self.rng.choice(sorted(metadata))]
        elif what == "add":
            metadata[self.new("key")] = hex_value(self.rng)[:6]
        else:
            metadata["team"] = hex_value(self.rng)[:6]
            what = "set team"
        return f"edit namespace {name}: custom_metadata {what}"

    def protected(self, path: str) -> bool:
        """Whether the namespace at `path`, or one inside it, is protected (as last applied)."""
        return any((p == path or p.startswith(path + "/")) and
                   (self.model.namespace_at(p).prevent_destroy or f"namespace.{p}" in self.unprotected_now)
                   for p in self.model.namespace_paths())

    def remove_namespace(self) -> Optional[str]:
        # One deleted by hand this round is planned as nothing when removed: not a removal to prove.
        left_alone = self.abandoned | self.edited_by_hand | self.handmade_namespaces
        name = self.pick(p for p in self.model.namespace_paths()
                         if not self.protected(p) and p not in self.destroyed_now
                         and not any(d.startswith(p + "/") for d in left_alone))
        if not name:
            return None
        if name in self.edited_by_hand:
            self.abandoned.add(name)
        parent, _, leaf = name.rpartition("/")
        gone = (self.model.namespace_at(parent) if parent else self.model).namespaces.pop(leaf)
        held = len(gone.policies) + len(gone.mounts) + len(gone.auth) + len(gone.secrets) + len(gone.namespaces)
        return f"remove namespace {name} and the {held} object(s) it holds"

    def toggle_namespace_protection(self) -> Optional[str]:
        name = self.pick(self.model.namespace_paths())
        if not name:
            return None
        namespace = self.model.namespace_at(name)
        if namespace.prevent_destroy:
            namespace.prevent_destroy = False
            self.unprotected_now.add(f"namespace.{name}")
            return f"clear prevent_destroy on namespace {name} (record only)"
        if len([p for p in self.model.namespace_paths() if not self.protected(p)]) < 3:
            return None  # keep some to delete in later rounds
        namespace.prevent_destroy = True
        return f"set prevent_destroy on namespace {name} (record only)"

    def toggle_namespace_prune(self) -> Optional[str]:
        """prune.namespaces at the root or in a declared namespace: mostly
        where namespaces were made by hand, so that some are pruned."""
        where = sorted({h.rpartition("/")[0] for h in self.handmade_namespaces})
        levels = [p for p in where if not p or self.model.namespace_at(p) is not None]
        level = self.pick(levels) if levels and self.rng.random() < 0.8 else \
            self.pick([""] + self.model.namespace_paths())
        model = self.model.namespace_at(level) if level else self.model
        done = Walk(self.rng, model).toggle_prune_key("namespaces")
        return f"in namespace {level}: {done}" if level else done

    NAMESPACED = ["add_policy", "edit_policy", "remove_policy", "add_kv_mount", "tune_mount", "remove_mount",
                  "add_secret", "edit_secret", "remove_secret", "add_auth", "add_role", "edit_role", "remove_role",
                  "remove_auth", "upgrade_kv", "add_token_role", "edit_token_role", "remove_token_role", "add_path",
                  "edit_path", "remove_path", "toggle_prune", "toggle_prune"]

    def in_a_namespace(self) -> Optional[str]:
        name = self.pick(self.model.namespace_paths())
        if not name:
            return None
        walk = self.inside(name)
        for _ in range(8):  # a mutation that applies to what this namespace holds
            done = getattr(walk, self.rng.choice(self.NAMESPACED))()
            if done:
                return f"in namespace {name}: {done}"
        return None

    # One namespace mutation a round, in a shuffled order of these: namespaces
    # are a small share of the kinds, yet every walk of 12 rounds must make,
    # edit and delete some and change what they hold.
    NAMESPACE_MUTATIONS = ["add_namespace", "edit_namespace", "edit_namespace", "remove_namespace",
                           "remove_namespace", "toggle_namespace_protection", "edit_in_a_namespace",
                           "edit_in_a_namespace", "remove_in_a_namespace", "toggle_namespace_prune"] + \
        ["in_a_namespace"] * 2
    EDITS = ["edit_policy", "edit_secret", "edit_role", "edit_token_role", "edit_path"]
    REMOVALS = ["remove_policy", "remove_secret", "remove_role", "remove_token_role", "remove_path", "remove_mount"]

    def _changed_in_a_namespace(self, mutations: List[str]) -> Optional[str]:
        """An object a namespace already holds, changed or removed: what a
        namespace holds was applied in earlier rounds (one namespace mutation
        a round), so this is an update or a delete, not a create."""
        paths = self.model.namespace_paths()
        for name in self.rng.sample(paths, len(paths)):
            walk = self.inside(name)
            for mutation in self.rng.sample(mutations, len(mutations)):
                done = getattr(walk, mutation)()
                if done:
                    return f"in namespace {name}: {done}"
        return self.in_a_namespace()

    def edit_in_a_namespace(self) -> Optional[str]:
        return self._changed_in_a_namespace(self.EDITS)

    def remove_in_a_namespace(self) -> Optional[str]:
        return self._changed_in_a_namespace(self.REMOVALS)

    def mutate_namespaces(self, round_no: int) -> str:
        if round_no == 1:
            self.namespace_schedule = self.rng.sample(self.NAMESPACE_MUTATIONS, len(self.NAMESPACE_MUTATIONS))
        planned = self.namespace_schedule[(round_no - 1) % len(self.namespace_schedule)]
        done = getattr(self, planned)() if self.model.namespaces else None
        while not done:
            done = self.add_namespace() if len(self.model.namespaces) < 2 else \
                getattr(self, self.rng.choice(self.NAMESPACE_MUTATIONS))()
        return done

    def drift_in_namespace(self, client) -> Optional[str]:
        """By hand, in a namespace as last applied: its custom_metadata, an
        object inside it, or the whole namespace deleted (with all it holds)."""
        name = self.pick(self.model.namespace_paths())
        if not name:
            return None
        what = self.rng.choice(["metadata", "metadata", "inside", "inside", "inside", "delete"])
        parent_path, _, leaf = name.rpartition("/")
        parent = hvac.Client(url=client.url, token=client.token, namespace=parent_path) if parent_path else client
        if what == "metadata":
            parent.write(f"sys/namespaces/{leaf}", custom_metadata={"changed": "by-hand"})
            self.edited_by_hand.add(name)
            return f"set the custom_metadata of namespace {name}"
        holds_one = self.model.namespace_at(name).namespaces or any(h.startswith(name + "/")
                                                                     for h in self.handmade_namespaces)
        if what == "delete" and not holds_one:  # OpenBao refuses one holding another
            parent.delete(f"sys/namespaces/{leaf}")
            wait_until_namespace_gone(parent, leaf)
            self.destroyed_now.add(name)
            return f"delete namespace {name} and all it holds"
        walk = self.inside(name)
        inside = hvac.Client(url=client.url, token=client.token, namespace=name)
        for _ in range(6):
            drift = self.rng.choice(["policy_text", "policy_delete", "secret_value", "secret_delete", "mount_tune",
                                     "role_field", "token_role_field", "unmanaged_policy", "unmanaged_mount",
                                     "unmanaged_namespace"])
            if drift == "unmanaged_namespace":  # tracked here, where the walk knows every namespace
                return f"in namespace {name}: {self.drift_unmanaged_namespace(client, name)}"
            done = getattr(walk, f"drift_{drift}")(inside)
            if done:
                return f"in namespace {name}: {done}"
        return None

    MUTATIONS: List[Tuple[int, str]] = [
        (3, "add_policy"), (3, "edit_policy"), (2, "remove_policy"), (2, "add_kv_mount"), (1, "add_transit_mount"),
        (3, "tune_mount"), (1, "remove_mount"), (1, "downgrade_kv"), (1, "upgrade_kv"), (4, "add_secret"),
        (4, "edit_secret"), (2, "remove_secret"), (2, "add_auth"), (2, "tune_auth"), (1, "remove_auth"),
        (3, "edit_k8s_config"), (2, "add_role"), (3, "edit_role"), (2, "remove_role"), (2, "toggle_protection"),
        (1, "toggle_local"), (1, "retype_mount"), (1, "retype_auth"), (1, "drop_k8s_config"), (1, "toggle_prune"),
        (1, "toggle_force_no_cache"), (2, "add_entity"), (2, "edit_entity"), (1, "remove_entity"),
        (1, "add_group"), (2, "edit_group"), (1, "remove_group"), (2, "add_path"), (2, "edit_path"),
        (1, "remove_path"),
        (2, "edit_user"), (1, "remove_user"), (1, "add_token_role"),
        (2, "edit_token_role"), (1, "remove_token_role"),
        # Objects inside secrets engines.
        (2, "add_transit_key"), (2, "edit_transit_key"), (1, "remove_transit_key"), (1, "add_pki"), (2, "edit_pki"),
        (1, "add_database"), (2, "edit_database"), (2, "edit_kv_settings"),
    ]

    def mutate(self) -> str:
        names = [name for weight, name in self.MUTATIONS for _ in range(weight)]
        while True:
            done = getattr(self, self.rng.choice(names))()
            if done:
                return done

    # -- drift: Vault changed by hand, behind vaultform's back --------------------------
    def drift(self, client) -> str:
        drifts = ["policy_text", "policy_delete", "secret_value", "secret_same", "secret_delete", "secret_destroy",
                  "mount_tune", "mount_listing", "auth_tune", "role_field", "role_audience", "k8s_config",
                  "unmanaged_policy", "unmanaged_mount", "deleted_and_removed", "mount_disable", "auth_disable",
                  "user_field", "token_role_field", "unmanaged_namespace"]
        while True:
            done = getattr(self, f"drift_{self.rng.choice(drifts)}")(client)
            if done:
                return "by hand: " + done

    def drift_policy_text(self, client) -> Optional[str]:
        name = self.pick(self.model.policies)
        if name:
            client.sys.create_or_update_policy(name, 'path "drift/*" {\n  capabilities = ["deny"]\n}\n')
            return f"rewrite policy {name}"

    def drift_policy_delete(self, client) -> Optional[str]:
        name = self.pick(self.model.policies)
        if name:
            client.sys.delete_policy(name)
            return f"delete policy {name}"

    def live_mounts(self) -> List[str]:
        return sorted(set(self.model.mounts) - self.disabled_now)

    def live_auth(self, auth_type: Optional[str] = None) -> List[str]:
        return sorted(p for p, body in self.model.auth.items()
                      if p not in self.disabled_now and auth_type in (None, body["type"]))

    def live_secrets(self) -> List[str]:
        return sorted(k for k in self.model.secrets if self._secret_location(k)[0] not in self.disabled_now)

    def live_roles(self) -> List[Tuple[str, str]]:
        return [(p, r) for p, r in self._roles() if p not in self.disabled_now]

    def _secret_location(self, key: str) -> Tuple[str, str, str]:
        mount, path = split_secret(key, set(self.model.mounts))
        return mount, path, self.model.kv_version(mount)

    def _write_secret(self, client, key: str, data: dict) -> None:
        mount, path, version = self._secret_location(key)
        if version == "2":
            # With the current version: a mount may have cas_required (kv_config).
            metadata = client.read(f"{mount}/metadata/{path}")
            current = (metadata or {}).get("data", {}).get("current_version", 0)
            client.write_data(f"{mount}/data/{path}", data={"data": data, "options": {"cas": current}})
        else:
            client.write_data(f"{mount}/{path}", data=data)

    def _read_secret(self, client, key: str) -> Optional[dict]:
        """The secret's data, or None when a drift of this round deleted it."""
        mount, path, version = self._secret_location(key)
        response = client.read(f"{mount}/data/{path}" if version == "2" else f"{mount}/{path}")
        if not response:
            return None
        return response["data"]["data"] if version == "2" else response["data"]

    def drift_secret_value(self, client) -> Optional[str]:
        key = self.pick(self.live_secrets())
        data = self._read_secret(client, key) if key else None
        if data:
            data[self.rng.choice(sorted(data))] = "changed-by-hand"
            self._write_secret(client, key, data)
            return f"change a value of secret {key}"

    def drift_secret_same(self, client) -> Optional[str]:
        key = self.pick(self.live_secrets())
        data = self._read_secret(client, key) if key else None
        if data:
            self._write_secret(client, key, data)  # KV v2 bumps the version
            return f"rewrite secret {key} with the same values"

    def drift_secret_delete(self, client) -> Optional[str]:
        key = self.pick(self.live_secrets())
        if key:
            mount, path, version = self._secret_location(key)
            client.delete(f"{mount}/data/{path}" if version == "2" else f"{mount}/{path}")
            return f"delete secret {key}"

    def drift_secret_destroy(self, client) -> Optional[str]:
        key = self.pick(k for k in self.live_secrets() if self._secret_location(k)[2] == "2")
        if key:
            mount, path, _ = self._secret_location(key)
            client.delete(f"{mount}/metadata/{path}")
            return f"delete every version and the metadata of secret {key}"

    def drift_mount_listing(self, client) -> Optional[str]:
        path = self.pick(self.live_mounts())
        if path:
            client.write_data(f"sys/mounts/{path}/tune", data={"listing_visibility": "unauth"})
            return f"set listing_visibility on mount {path}"

    def drift_mount_disable(self, client) -> Optional[str]:
        path = self.pick(self.live_mounts())
        if path:
            client.sys.disable_secrets_engine(path)
            self.disabled_now.add(path)
            return f"disable mount {path} (its secrets go with it)"

    def drift_auth_disable(self, client) -> Optional[str]:
        path = self.pick(self.live_auth())
        if path:
            client.sys.disable_auth_method(path)
            self.disabled_now.add(path)
            return f"disable auth {path} (its config and roles go with it)"

    def drift_role_audience(self, client) -> Optional[str]:
        roles = [(p, r) for p, r in self.live_roles() if self.model.auth[p]["type"] == "kubernetes"]
        if roles:
            path, name = self.rng.choice(roles)
            client.write_data(f"auth/{path}/role/{name}", data={"audience": "by-hand"})
            return f"set audience on role {path}/{name}"

    def drift_mount_tune(self, client) -> Optional[str]:
        path = self.pick(self.live_mounts())
        if path:
            client.write_data(f"sys/mounts/{path}/tune", data={"description": "changed by hand"})
            return f"tune mount {path}"

    def drift_auth_tune(self, client) -> Optional[str]:
        path = self.pick(self.live_auth())
        if path:
            client.write_data(f"sys/auth/{path}/tune", data={"default_lease_ttl": "3h"})
            return f"tune auth {path}"

    def drift_role_field(self, client) -> Optional[str]:
        roles = self.live_roles()
        if roles:
            path, name = self.rng.choice(roles)
            data = {"token_ttl": "7m"}
            if self.model.auth[path]["type"] == "jwt":
                data["role_type"] = "jwt"  # a jwt role write without it is judged as an oidc role
            client.write_data(f"auth/{path}/role/{name}", data=data)
            return f"change token_ttl of role {path}/{name}"

    def drift_user_field(self, client) -> Optional[str]:
        users = [(p, u) for p, u in self._users() if p not in self.disabled_now]
        if users:
            path, name = self.rng.choice(users)
            client.write_data(f"auth/{path}/users/{name}", data={"token_ttl": "7m"})
            return f"change token_ttl of user {path}/{name}"

    def drift_token_role_field(self, client) -> Optional[str]:
        name = self.pick(self.model.token_roles)
        if name:
            client.write_data(f"auth/token/roles/{name}", data={"orphan": not self.model.token_roles[name]["orphan"]})
            return f"flip orphan of token role {name}"

    def drift_k8s_config(self, client) -> Optional[str]:
        path = self.pick(self.live_auth("kubernetes"))
        if path:
            client.write_data(f"auth/{path}/config", data={"kubernetes_host": "https://by-hand.example:6443",
                                                            "kubernetes_ca_cert": CA_PEM})
            return f"rewrite kubernetes config {path}"

    def drift_unmanaged_mount(self, client) -> str:
        path = self.new("handkv")
        self.handmade[path] = "secrets_engines"
        client.sys.enable_secrets_engine("kv", path=path, options={"version": "2"})
        return f"enable mount {path}, not in the spec (touched only by prune.secrets_engines)"

    def drift_unmanaged_policy(self, client) -> str:
        name = self.new("handmade")
        self.handmade[name] = "policies"
        client.sys.create_or_update_policy(name, 'path "handmade/*" {\n  capabilities = ["read"]\n}\n')
        return f"create policy {name}, not in the spec (touched only by prune.policies)"

    def drift_unmanaged_namespace(self, client, parent: str = "") -> str:
        """A namespace made by hand at the root or in declared namespace
        `parent`, empty or holding a policy (so pruning it needs consent)."""
        leaf = self.new("handns")
        path = f"{parent}/{leaf}" if parent else leaf
        made_in = hvac.Client(url=client.url, token=client.token, namespace=parent) if parent else client
        made_in.write(f"sys/namespaces/{leaf}")
        self.handmade_namespaces.add(path)
        held = ""
        if self.rng.random() < 0.5:
            inside = hvac.Client(url=client.url, token=client.token, namespace=path)
            inside.sys.create_or_update_policy("by-hand", 'path "handmade/*" {\n  capabilities = ["read"]\n}\n')
            held = " holding policy by-hand"
        return f"create namespace {path}{held}, not in the spec (touched only by prune.namespaces there)"

    def drift_deleted_and_removed(self, client) -> Optional[str]:
        name = self.pick(self.model.policies)
        if name and len(self.model.policies) > 2:
            client.sys.delete_policy(name)
            del self.model.policies[name]
            return f"delete policy {name}, and remove it from the spec"


# -- running vaultform -----------------------------------------------------------------


class Fidelity:
    """Runs plan and apply on the spec, each between two audit-log marks."""

    def __init__(self, run_cli, server: BaoDevServer, log: AuditLog, workdir: Path, model: SpecModel):
        self.run_cli, self.server, self.log, self.dir, self.model = run_cli, server, log, workdir, model
        self.spec = workdir / "vault.yaml"
        self.plan_file = workdir / "reviewed.plan"
        self.home = workdir / "home"
        self.home.mkdir(exist_ok=True)
        (workdir / "ca.crt").write_text(CA_PEM, encoding="utf-8")
        (workdir / "jwt.pub").write_text(JWT_PUB, encoding="utf-8")
        self.history: List[str] = []
        self.applied: List[Tuple[str, str, str]] = []  # (address, action, kind) of every applied change

    def write_spec(self) -> None:
        self.spec.write_text(yaml.safe_dump(self.model.document(), sort_keys=False), encoding="utf-8")

    def context(self) -> str:
        return f"seed {SEED}; steps so far:\n  " + "\n  ".join(self.history[-12:])

    def run(self, *args: str):
        mark = self.log.mark()
        result = self.run_cli(list(args), env=cli_env(self.server, self.home, self.model.env))
        assert result.exception is None, f"{result.exception!r}\n{result}\n{self.context()}"
        return result, self.log.writes_since(mark)

    def plan(self, *extra: str) -> dict:
        result, writes = self.run("plan", str(self.spec), "--format", "json", "--allow-destroy", "--force", *extra)
        assert result.exit_code == 0, f"{result}\n{self.context()}"
        assert writes == [], f"plan wrote to Vault: {[str(w) for w in writes]}\n{self.context()}"
        return json.loads(result.stdout)

    def apply(self, saved: bool) -> Tuple[dict, List[Write]]:
        if saved:
            args = ("apply", str(self.plan_file), "--format", "json")
        else:
            args = ("apply", str(self.spec), "--auto-approve", "--format", "json", "--allow-destroy", "--force")
        result, writes = self.run(*args)
        assert result.exit_code == 0, f"{result}\n{self.context()}"
        return json.loads(result.stdout), writes

    def assert_converged(self) -> None:
        result, writes = self.run("plan", str(self.spec), "--detailed-exitcode", "--allow-destroy", "--force")
        assert result.exit_code == 0, f"a second plan is not empty:\n{result}\n{self.context()}"
        assert writes == [], f"plan wrote to Vault: {[str(w) for w in writes]}\n{self.context()}"

    def step(self, before: SpecModel, saved: bool) -> int:
        """Plan, apply and re-plan the current spec; returns how many changes were applied."""
        self.write_spec()
        planned = self.plan("--out", str(self.plan_file)) if saved else self.plan()
        applied, writes = self.apply(saved)
        pairs = [(c["address"], c["action"]) for c in planned["changes"]]
        self.applied += [(c["address"], c["action"], c["kind"]) for c in planned["changes"]]
        assert [(c["address"], c["action"]) for c in applied["changes"]] == pairs, \
            f"apply did not apply the reviewed plan\n{self.context()}"
        assert applied["apply"]["status"] == "complete", f"{applied['apply']}\n{self.context()}"
        assert applied["apply"]["done"] == [a for a, _ in pairs], f"{applied['apply']}\n{self.context()}"

        expected = Counter()
        for change in planned["changes"]:
            expected.update(expected_writes(change, self.model, before))
        # A request Vault refused changed nothing; vaultform sends one again only
        # where Vault asks for a moment (a KV v2 mount still upgrading its storage
        # right after it was enabled: connection.py), so it must be a planned one.
        retried = [w for w in writes if w.refused and not is_bookkeeping(w)]
        assert all(op_class(w) in expected for w in retried), \
            f"apply sent unplanned writes Vault refused: {[str(w) for w in retried]}\n{self.context()}"
        actual = Counter(op_class(w) for w in writes if not is_bookkeeping(w) and not w.refused)
        unplanned, missing = actual - expected, expected - actual
        assert not unplanned and not missing, (
            "apply's writes differ from the plan\n"
            f"  written but not planned: {sorted(unplanned.elements())}\n"
            f"  planned but not written: {sorted(missing.elements())}\n"
            f"  planned: {pairs}\n{self.context()}")
        self.assert_converged()
        return len(pairs)


# -- the tests -------------------------------------------------------------------------


def test_plan_and_apply_write_exactly_the_plan(audited, run_cli, tmp_path):
    server, log = audited
    client = server.client()
    client.sys.disable_secrets_engine("secret")  # the dev server's own kv; out of the way
    rng = random.Random(SEED)
    model = SpecModel()
    walk = Walk(rng, model)
    fidelity = Fidelity(run_cli, server, log, tmp_path, model)

    # A start with a bit of everything, so early rounds have things to edit and delete.
    for mutation in ["add_policy", "add_policy", "add_policy", "add_kv_mount", "add_kv_mount", "add_secret",
                     "add_secret", "add_secret", "add_auth", "add_auth", "add_role", "add_userpass_auth",
                     "add_jwt_auth", "add_token_role", "add_transit_mount",
                     "add_transit_key", "add_pki", "add_database", "edit_kv_settings", "add_namespace",
                     "add_namespace"]:
        fidelity.history.append(getattr(walk, mutation)())
    fidelity.history.append("round 0: first apply")
    before = SpecModel()
    counts = [fidelity.step(before, saved=False)]
    mutations = drifts = 0

    for round_no in range(1, ROUNDS + 1):
        before = copy.deepcopy(model)
        walk.new_round()
        for _ in range(rng.randint(0, 2)):
            fidelity.history.append(walk.drift(client))
            drifts += 1
        if rng.random() < 0.4:
            done = walk.drift_in_namespace(client)
            if done:
                fidelity.history.append(f"by hand: {done}")
        for _ in range(rng.randint(2, 4)):
            fidelity.history.append(walk.mutate())
            mutations += 1
        fidelity.history.append(walk.mutate_namespaces(round_no))
        saved = round_no % 2 == 0  # every other round through a saved plan
        fidelity.history.append(f"round {round_no}: {'plan --out, apply PLANFILE' if saved else 'apply SPEC'}")
        counts.append(fidelity.step(before, saved))
        check_handmade(client, walk, fidelity)

    assert mutations >= 24 and drifts >= 6, (mutations, drifts)
    assert sum(counts) >= 40, f"the walk applied too little to prove much: {counts}"
    # Namespaces: made, edited and deleted, and objects in them made, changed and deleted.
    namespaced = {(kind if address.startswith("namespace.") and ":" not in address else
                   "inside" if in_namespace(address) else "root", action) for address, action, kind in fidelity.applied}
    wanted = {(what, action) for what in ("namespace", "inside") for action in ("create", "update", "delete")}
    if ROUNDS >= len(Walk.NAMESPACE_MUTATIONS):
        assert wanted <= namespaced, f"seed {SEED}: the walk never applied {sorted(wanted - namespaced)}"


def wait_until_namespace_gone(client, name: str, timeout: float = 30.0) -> None:
    """OpenBao deletes a namespace in the background (measured on 2.7.2: the
    DELETE answers {"status": "in-progress"}, then reads 404 once it is gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not (client.read(f"sys/namespaces/{name}") or {}).get("data"):
                return
        except hvac.exceptions.InvalidPath:
            return
        time.sleep(0.05)
    raise AssertionError(f"namespace {name} was still there {timeout:.0f} s after its DELETE")


def check_handmade(client, walk: Walk, fidelity: Fidelity) -> None:
    """Objects made by hand are left alone, unless the spec prunes their kind."""
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    for name, prune_key in sorted(walk.handmade.items()):
        exists = (f"{name}/" in mounts if prune_key == "secrets_engines"
                  else name in client.sys.list_policies()["data"]["policies"])
        if walk.model.prune.get(prune_key):
            assert not exists, f"{name} survived prune.{prune_key}\n{fidelity.context()}"
            del walk.handmade[name]
        else:
            assert exists, f"{name} was made by hand and prune.{prune_key} is off\n{fidelity.context()}"
    for path in sorted(walk.handmade_namespaces):
        parent, _, leaf = path.rpartition("/")
        made_in = hvac.Client(url=client.url, token=client.token, namespace=parent) if parent else client
        exists = f"{leaf}/" in ((made_in.list("sys/namespaces") or {}).get("data") or {}).get("keys", [])
        where = walk.model.namespace_at(parent) if parent else walk.model
        if where.prune.get("namespaces"):
            assert not exists, f"namespace {path} survived prune.namespaces\n{fidelity.context()}"
            walk.handmade_namespaces.discard(path)
        else:
            assert exists, f"namespace {path} was made by hand and prune.namespaces is off\n{fidelity.context()}"


def test_the_audit_log_tells_a_namespaced_write_from_the_root_s(audited):
    """The log's path is relative to the request's namespace: the same
    relative path written at the root and in namespace team must read apart."""
    server, log = audited
    client = server.client()
    client.write("sys/namespaces/team")
    mark = log.mark()
    text = 'path "x/*" {\n  capabilities = ["read"]\n}\n'
    client.write("sys/policies/acl/p", policy=text)
    hvac.Client(url=server.address, token=server.root_token, namespace="team").write("sys/policies/acl/p", policy=text)
    client.write("team/sys/policies/acl/q", policy=text)  # the namespace in the path instead of the header
    client.write("team/sys/namespaces/child")
    hvac.Client(url=server.address, token=server.root_token, namespace="team/child").write("sys/policies/acl/r",
                                                                                          policy=text)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.delete("sys/namespaces/team")  # refused: it holds a namespace
    assert [(w.path, w.namespace, w.refused) for w in log.writes_since(mark)] == [
        ("sys/policies/acl/p", "", False), ("team/sys/policies/acl/p", "team", False),
        ("team/sys/policies/acl/q", "team", False), ("team/sys/namespaces/child", "team", False),
        ("team/child/sys/policies/acl/r", "team/child", False), ("sys/namespaces/team", "", True)]


def _small_spec(model: SpecModel) -> None:
    model.policies["app"] = 'path "kv/data/app" {\n  capabilities = ["read"]\n}\n'
    model.mounts["kv"] = {"type": "kv", "options": {"version": "2"}}
    model.secrets["kv/app"] = {"username": "app", "password": secrets.token_hex(16)}
    model.auth["k8s"] = {"type": "kubernetes",
                         "config": {"kubernetes_host": "https://k8s.example:6443", "kubernetes_ca_cert": {"file": "ca.crt"}},
                         "roles": {"app": {"bound_service_account_names": ["app"],
                                           "bound_service_account_namespaces": ["default"],
                                           "token_policies": ["app"]}}}


def test_apply_with_nothing_to_do_writes_nothing(audited, run_cli, tmp_path):
    server, log = audited
    model = SpecModel()
    _small_spec(model)
    fidelity = Fidelity(run_cli, server, log, tmp_path, model)
    fidelity.step(SpecModel(), saved=False)

    # Converged: nothing to do, so nothing may be written, not even the record or the lock.
    applied, writes = fidelity.apply(saved=False)
    assert applied["changes"] == []
    assert writes == [], f"an apply with nothing to do wrote: {[str(w) for w in writes]}"


def test_a_secret_rewritten_by_hand_with_its_values_is_record_work_only_then_nothing(audited, run_cli, tmp_path):
    """A secret rewritten by hand with the values it had: KV v2 bumps its
    version, so Vault needs no change but the record must learn the version
    (a planner token judges "changed in Vault" by it). The plan says so, and
    apply writes only bookkeeping (record and lock); the apply after that
    writes nothing at all."""
    server, log = audited
    model = SpecModel()
    _small_spec(model)
    fidelity = Fidelity(run_cli, server, log, tmp_path, model)
    fidelity.step(SpecModel(), saved=False)

    Walk(random.Random(SEED), model).drift_secret_same(server.client())
    fidelity.assert_converged()
    applied, writes = fidelity.apply(saved=False)
    assert applied["changes"] == []
    assert writes and all(w.path.startswith("vaultform/") for w in writes), [str(w) for w in writes]
    applied, writes = fidelity.apply(saved=False)
    assert applied["changes"] == [] and writes == [], [str(w) for w in writes]
