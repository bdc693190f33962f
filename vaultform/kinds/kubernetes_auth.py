"""kubernetes_config.<mount> and kubernetes_role.<mount>/<name>.

Defaults below were read back from OpenBao 2.7.2 for objects written with
only their required fields; a field missing from the spec is compared with
(and reset to) them.
"""

from __future__ import annotations

from vaultform.kinds.auth_objects import AuthConfig, AuthRole
from vaultform.normalize import string_list

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


KINDS = [KubernetesConfig(), KubernetesRole()]
