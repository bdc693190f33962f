# vaultform-applier: what `vaultform apply` needs to manage examples/ci/vault.yaml.
# It can change everything the spec manages (and write policies, so it can
# grant itself more): keep its token in a protected environment, never in a
# job that runs a pull request's code. Name your own mounts in the last blocks.

# Secrets engines and auth methods: list, enable, tune, disable.
# Enabling or disabling an auth method needs sudo.
path "sys/mounts" {
  capabilities = ["read"]
}
path "sys/mounts/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "sys/auth" {
  capabilities = ["read"]
}
path "sys/auth/*" {
  capabilities = ["create", "read", "update", "delete", "sudo"]
}

# ACL policies.
path "sys/policies/acl" {
  capabilities = ["list"]
}
path "sys/policies/acl/*" {
  capabilities = ["create", "read", "update", "delete"]
}

# vaultform's ownership record and apply lock (vault.record.mount, default vaultform).
path "vaultform/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}

# The auth methods the spec configures: their config and roles.
path "auth/approle/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# The secrets engines whose secrets the spec manages.
path "apps/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}
