"""kubernetes_config.<mount> and kubernetes_role.<mount>/<name>.

Defaults below were read back from OpenBao 2.7.2 for objects written with
only their required fields; a field missing from the spec is compared with
(and reset to) them.
"""

from __future__ import annotations

from vaultform.kinds.auth_objects import AuthConfig, AuthRole
from vaultform.kinds.base import KindDoc
from vaultform.normalize import string_list
from vaultform.spec import Warning_

ROLE_ALIASES = {"policies": "token_policies", "ttl": "token_ttl", "max_ttl": "token_max_ttl",
                "period": "token_period", "bound_cidrs": "token_bound_cidrs", "num_uses": "token_num_uses"}


class KubernetesConfig(AuthConfig):
    name = "kubernetes_config"
    auth_type = "kubernetes"
    defaults = {"kubernetes_ca_cert": "", "pem_keys": [], "issuer": "",
                "disable_iss_validation": True, "disable_local_ca_jwt": False}
    lists = frozenset({"pem_keys"})
    write_only = {"token_reviewer_jwt": "token_reviewer_jwt_set"}
    sensitive = frozenset({"token_reviewer_jwt"})
    spec_key_schema = {"$ref": "kubernetes-auth.schema.json#/$defs/config"}
    doc = KindDoc("auth.<path>.config (type kubernetes)", "auth/<path>/config",
                  "Kubernetes auth config: the API server, its CA and how service-account JWTs are reviewed",
                  address="kubernetes_config.<path>")

    def checks(self, spec):
        """OpenBao and Vault (since 1.9) default disable_iss_validation to true:
        an `issuer` alone is stored and never checked (measured: a JWT from any
        other issuer still logs in). Say so, since the tutorial sets it to have it checked."""
        warnings = []
        for mount, body in spec.section("auth").items():
            config = body.get("config") or {}
            if body.get("type") == "kubernetes" and config.get("issuer") and "disable_iss_validation" not in config:
                warnings.append(Warning_("the issuer is not checked unless disable_iss_validation is false "
                                         "(it defaults to true); set disable_iss_validation: false to enforce it",
                                         location=spec.loc("auth", mount, "config", "issuer"),
                                         field=f"auth.{mount}.config.issuer"))
        return [], warnings

    def normalise_field(self, name, value):
        # Vault trims the whitespace around each PEM key (a file's final newline
        # included) and returns them so; compare them the same way.
        if name == "pem_keys":
            return [key.strip() for key in string_list(value)]
        return super().normalise_field(name, value)

    def update(self, ctx, res, live, changes) -> None:
        # The config endpoint replaces the whole object: a write without the
        # write-only reviewer JWT would silently clear it, so send everything.
        self.create(ctx, res)


class KubernetesRole(AuthRole):
    name = "kubernetes_role"
    auth_type = "kubernetes"
    defaults = {"alias_name_source": "serviceaccount_uid", "audience": "",
                "bound_service_account_namespace_selector": "", "token_bound_cidrs": [],
                "token_explicit_max_ttl": 0, "token_max_ttl": 0, "token_no_default_policy": False,
                "token_num_uses": 0, "token_period": 0, "token_policies": [],
                "token_strictly_bind_ip": False, "token_ttl": 0, "token_type": "default"}
    durations = frozenset({"token_ttl", "token_max_ttl", "token_period", "token_explicit_max_ttl"})
    lists = frozenset({"bound_service_account_names", "bound_service_account_namespaces", "token_bound_cidrs"})
    policy_lists = frozenset({"token_policies"})
    aliases = ROLE_ALIASES
    spec_key_schema = {"additionalProperties": {"$ref": "kubernetes-auth.schema.json#/$defs/role"}}
    doc = KindDoc("auth.<path>.roles.<name> (type kubernetes)", "auth/<path>/role/<name>",
                  "a Kubernetes auth role: which service accounts in which namespaces get which policies",
                  address="kubernetes_role.<path>/<name>")


KINDS = [KubernetesConfig(), KubernetesRole()]
