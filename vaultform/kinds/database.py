"""database_connection.<mount>/<name> (<mount>/config/<name>) and
database_role.<mount>/<name> (<mount>/roles/<name>): dynamic credentials.

Read back from OpenBao 2.7.2 (postgresql-database-plugin, a real PostgreSQL):
- a connection answers plugin_name, allowed_roles [], password_policy "",
  plugin_version "", root_credentials_rotate_statements [] and
  connection_details, which holds the plugin's own fields as they were
  written (connection_url, username, max_open_connections, ...): they are
  compared where the spec names them. The password is never returned
  (write-only: compared by an HMAC fingerprint kept in the ownership record,
  kinds/write_only.py), nor verify_connection (sent on every write, never
  compared). A connection write replaces its connection_details, so every
  write sends the password again; a rewrite without it would drop it.
- a role answers credential_type "password", default_ttl 0, max_ttl 0 and
  empty statement lists. Statements are SQL: one string is one statement,
  never split at commas.
"""

from __future__ import annotations

from typing import Any, List

from vaultform.kinds.base import KindDoc
from vaultform.kinds.engine_objects import EngineObjectKind

STATEMENT_FIELDS = ("creation_statements", "revocation_statements", "rollback_statements", "renew_statements",
                    "root_rotation_statements")
CREATE_ONLY = ("verify_connection",)


def statements(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    return list(value) if isinstance(value, (list, tuple)) else value


class DatabaseConnection(EngineObjectKind):
    name = "database_connection"
    engine = "database"
    spec_key = "connections"
    spec_key_schema = {"$ref": "database.schema.json#/$defs/connections"}
    misplaced_message = "only a database engine has connections"
    doc = KindDoc("secrets_engines.<path>.connections.<name> (type database)", "<path>/config/<name>",
                  "a database connection; its password is write-only (compared by fingerprint)",
                  address="database_connection.<path>/<name>")
    many = True
    object_dir = "config"
    segment = "config"           # the write-only catalogue's ("database", "config")
    what = "database connection"
    prune_key = "database_connections"
    defaults = {"allowed_roles": [], "password_policy": "", "root_rotation_statements": []}
    lists = frozenset({"allowed_roles"})
    durations = frozenset({"max_connection_lifetime"})
    aliases = {"root_credentials_rotate_statements": "root_rotation_statements"}
    sensitive = frozenset({"password", "private_key"})

    def normalise_field(self, name, value):
        if name in STATEMENT_FIELDS:
            return statements(value)
        return super().normalise_field(name, value)

    def prepare(self, spec, res, body, fields):
        for name in CREATE_ONLY:
            if name in res.desired:
                res.meta.setdefault("send", {})[name] = res.desired.pop(name)
        return res

    def live_from(self, res, data):
        flat = {k: v for k, v in data.items() if k != "connection_details"}
        flat.update(data.get("connection_details") or {})
        return super().live_from(res, flat)

    def create(self, ctx, res) -> None:
        # Everything, the password included: the write replaces connection_details.
        ctx.api.write(res.meta["path"], {**res.desired, **(res.meta.get("send") or {})})

    def update(self, ctx, res, live, changes) -> None:
        self.create(ctx, res)


class DatabaseRole(EngineObjectKind):
    name = "database_role"
    engine = "database"
    spec_key = "roles"
    spec_key_schema = {"$ref": "database.schema.json#/$defs/roles"}
    misplaced_message = "only pki and database engines have roles here"
    doc = KindDoc("secrets_engines.<path>.roles.<name> (type database)", "<path>/roles/<name>",
                  "a dynamic database role: creation statements and TTLs of the credentials it makes",
                  address="database_role.<path>/<name>")
    many = True
    object_dir = "roles"
    segment = "roles"
    what = "database role"
    prune_key = "database_roles"
    rank = 41  # after the connections they name
    defaults = {"credential_type": "password", "default_ttl": 0, "max_ttl": 0, "revocation_statements": [],
                "rollback_statements": [], "renew_statements": []}
    durations = frozenset({"default_ttl", "max_ttl"})

    def normalise_field(self, name, value):
        if name in STATEMENT_FIELDS:
            return statements(value)
        return super().normalise_field(name, value)

    def dependencies(self, spec, mount, body, name, fields) -> List[str]:
        deps = [f"secrets_engine.{mount}"]
        if fields.get("db_name") in (body.get("connections") or {}):
            deps.append(f"database_connection.{mount}/{fields['db_name']}")
        return deps

    def update(self, ctx, res, live, changes) -> None:
        ctx.api.write(res.meta["path"], res.desired)  # every field: one dropped goes back to its default


KINDS = [DatabaseConnection(), DatabaseRole()]
