"""PKI engines: pki_root_ca.<mount>, pki_intermediate_ca.<mount>, pki_urls.<mount>
and pki_role.<mount>/<name>.

A CA's private key is generated inside Vault (`.../generate/internal`) and
never leaves it: nothing here ever asks for an exported key. What a CA is
made of (its subject, its key type and size) is fixed when it is generated,
so it is compared by reading the certificate of the mount's default issuer,
never the key, and a change re-generates the CA: that deletes the old key
(`DELETE <mount>/root`, every issuer and key of the mount), so every
certificate it issued and every CA it signed no longer chains to anything
this mount holds. Like disabling a mount it needs --allow-destroy (or the
spec's consent: `deletable`, `allow_destroy`), and `prevent_destroy` refuses
it outright. `ttl` is only asked for at generation (Vault caps it by the
mount's max_lease_ttl and backdates the start by 30 s), so it is not compared.
The issuer's name and leaf_not_after_behavior change in place; a name, once
set, cannot be cleared (Vault refuses an empty one), so removing issuer_name
from the spec leaves the name as it is.

Defaults, read back from OpenBao 2.7.2:
- CA: key_type rsa, key_bits 2048 (256 for ec, none for ed25519), empty
  subject fields, issuer_name "", leaf_not_after_behavior "err".
- config/urls: issuing_certificates, crl_distribution_points, ocsp_servers
  [] and enable_templating false.
- roles: written with `{}` and read back (ROLE_DEFAULTS); key_bits follows
  key_type (ec 256, ed25519 and any 0). A role write replaces the whole role
  (measured: a write without ttl sets it back to 0), so every field is sent.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from vaultform.kinds.base import KindDoc
from vaultform.kinds.engine_objects import SECTION, EngineObjectKind

SUBJECT_FIELDS = ("organization", "ou", "country", "locality", "province")
KEY_BITS = {"rsa": 2048, "ec": 256, "ed25519": 0, "any": 0}
ISSUER_FIELDS = ("issuer_name", "leaf_not_after_behavior")
# What a POST to <mount>/issuer/<ref> sets: any of these left out goes back
# to its default (measured: revocation_signature_algorithm was cleared), so
# an update sends them all, as read, with the spec's changes.
ISSUER_WRITABLE = ("issuer_name", "leaf_not_after_behavior", "usage", "revocation_signature_algorithm",
                   "issuing_certificates", "crl_distribution_points", "ocsp_servers",
                   "enable_aia_url_templating")

ROLE_DEFAULTS: Dict[str, Any] = {
    "allow_any_name": False, "allow_bare_domains": False, "allow_glob_domains": False,
    "allow_globs_in_identity_templates": False, "allow_ip_sans": True, "allow_localhost": True,
    "allow_subdomains": False, "allow_token_displayname": False, "allow_wildcard_certificates": True,
    "allowed_domains": [], "allowed_domains_template": False, "allowed_ip_sans_cidr": [], "allowed_other_sans": [],
    "allowed_serial_numbers": [], "allowed_uri_sans": [], "allowed_uri_sans_template": False,
    "allowed_user_ids": [], "basic_constraints_valid_for_non_ca": False, "client_flag": True,
    "cn_validations": ["email", "hostname"], "code_signing_flag": False, "country": [],
    "email_protection_flag": False, "enforce_hostnames": True, "ext_key_usage": [], "ext_key_usage_oids": [],
    "generate_lease": False, "issuer_ref": "default", "key_bits": 2048, "key_type": "rsa",
    "key_usage": ["DigitalSignature", "KeyAgreement", "KeyEncipherment"], "locality": [], "max_ttl": 0,
    "no_store": False, "not_after": "", "not_after_bound": "permit", "not_before": "", "not_before_bound": "permit",
    "not_before_duration": 30, "organization": [], "ou": [], "policy_identifiers": [], "postal_code": [],
    "province": [], "require_cn": True, "server_flag": True, "signature_bits": 0, "street_address": [],
    "ttl": 0, "use_csr_common_name": True, "use_csr_sans": True, "use_pss": False,
}


def _certificate(pem: str):
    from cryptography import x509  # late: only a plan with a CA in it needs it

    return x509.load_pem_x509_certificate(pem.encode("ascii"))


def _subject(cert) -> Dict[str, Any]:
    from cryptography.x509.oid import NameOID

    def values(oid) -> List[str]:
        return [a.value for a in cert.subject.get_attributes_for_oid(oid)]

    cn = values(NameOID.COMMON_NAME)
    return {"common_name": cn[0] if cn else "", "organization": values(NameOID.ORGANIZATION_NAME),
            "ou": values(NameOID.ORGANIZATIONAL_UNIT_NAME), "country": values(NameOID.COUNTRY_NAME),
            "locality": values(NameOID.LOCALITY_NAME), "province": values(NameOID.STATE_OR_PROVINCE_NAME)}


def _key(cert) -> Dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return {"key_type": "rsa", "key_bits": key.key_size}
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"key_type": "ec", "key_bits": key.curve.key_size}
    if isinstance(key, ed25519.Ed25519PublicKey):
        return {"key_type": "ed25519", "key_bits": 0}
    return {"key_type": type(key).__name__, "key_bits": 0}


def with_key_bits(desired: Dict[str, Any], fields: dict) -> Dict[str, Any]:
    """key_bits left out means the key type's own default (Vault fills it in)."""
    if "key_bits" not in fields:
        desired["key_bits"] = KEY_BITS.get(desired.get("key_type", "rsa"), 0)
    return desired


class _CAKind(EngineObjectKind):
    """What a root and an intermediate CA share: read from the default issuer."""

    engine = "pki"
    segment = "ca"
    what = "CA"
    protectable = True
    destroys_contents = True
    destroy_verb = "delete"
    object_path_suffix = "issuer/default"
    # issuer_name is compared only where the spec names it: once set, Vault
    # refuses to clear it ("expected non-empty issuer name", OpenBao 2.7.2).
    defaults = {"key_type": "rsa", "organization": [], "ou": [], "country": [], "locality": [], "province": [],
                "leaf_not_after_behavior": "err"}
    issuer_defaults = {"issuer_name": "", "leaf_not_after_behavior": "err"}
    lists = frozenset(SUBJECT_FIELDS)
    replace_fields = frozenset(("common_name", "key_type", "key_bits") + SUBJECT_FIELDS)
    create_only = ("ttl",)  # sent when the CA is generated, never compared

    def dependencies(self, spec, mount, body, name, fields) -> List[str]:
        deps = [f"secrets_engine.{mount}"]
        return deps + ([f"pki_urls.{mount}"] if "urls" in body else [])

    def prepare(self, spec, res, body, fields):
        for name in self.create_only:
            if name in res.desired:
                res.meta.setdefault("create", {})[name] = res.desired.pop(name)
        res.desired = with_key_bits(res.desired, fields)
        return res

    def read_paths(self, mount, name) -> List[str]:
        return [f"{mount}/config/issuers", f"{mount}/issuer/default"]

    def default_issuer(self, ctx, mount: str) -> Optional[dict]:
        config = ctx.api.read(f"{mount}/config/issuers")
        if not config or not (config.get("data") or {}).get("default"):
            return None  # no CA yet (reading issuer/default would be a 500)
        issuer = ctx.api.read(f"{mount}/issuer/default")
        return (issuer or {}).get("data")

    def read(self, ctx, res) -> Optional[Dict[str, Any]]:
        mount = res.id
        if mount not in ctx.secret_mounts():
            return None
        issuer = self.default_issuer(ctx, mount)
        if issuer is None:
            return None
        cert = _certificate(issuer["certificate"])
        live = {**_subject(cert), **_key(cert), **{k: issuer.get(k, "") for k in ISSUER_FIELDS}}
        live.update(self.read_more(ctx, res, cert))
        return self.live_from(res, live)

    def read_more(self, ctx, res, cert) -> Dict[str, Any]:
        return {}

    def generate_fields(self, res) -> Dict[str, Any]:
        desired = res.desired
        fields = {k: desired[k] for k in ("common_name", "key_type", "key_bits") + SUBJECT_FIELDS if k in desired}
        fields.update(res.meta.get("create") or {})
        return fields

    def finish(self, ctx, res, issuer_id: str) -> None:
        """The new issuer becomes the mount's default; then its name and behaviour."""
        mount = res.id
        ctx.api.write(f"{mount}/config/issuers", {"default": issuer_id})
        if any(res.desired.get(k, self.issuer_defaults[k]) != self.issuer_defaults[k] for k in ISSUER_FIELDS):
            self.write_issuer(ctx, res)

    def write_issuer(self, ctx, res) -> None:
        path = f"{res.id}/issuer/default"
        current = (ctx.api.read(path) or {}).get("data") or {}
        payload = {k: current[k] for k in ISSUER_WRITABLE if current.get(k) is not None}
        payload.update({k: res.desired[k] for k in ISSUER_FIELDS if k in res.desired})
        if not payload.get("issuer_name"):
            payload.pop("issuer_name", None)  # Vault refuses "" even for an unnamed issuer
        ctx.api.write(path, payload)

    def update(self, ctx, res, live, changes) -> None:
        if any(c.name in ISSUER_FIELDS for c in changes):  # else only prevent_destroy: the record alone
            self.write_issuer(ctx, res)

    def delete(self, ctx, res) -> None:
        # Every issuer and key of the mount: the only way Vault deletes a CA's key.
        ctx.api.delete(f"{res.id}/root")

    def destroy_notes(self, ctx, res) -> List[str]:
        return [f"deleting {self.name}.{res.id} destroys its private key (every issuer and key in {res.id}/): "
                "certificates it issued no longer chain to a CA this mount holds"]


class PKIRootCA(_CAKind):
    name = "pki_root_ca"
    spec_key = "root_ca"
    spec_key_schema = {"$ref": "pki.schema.json#/$defs/root_ca"}
    misplaced_message = "only a pki engine has a CA"
    doc = KindDoc("secrets_engines.<path>.root_ca (type pki)", "<path>/root/generate/internal",
                  "a root CA generated inside Vault (its key never leaves it); re-generating destroys the old one",
                  address="pki_root_ca.<path>")

    def create(self, ctx, res) -> None:
        response = ctx.api.write(f"{res.id}/root/generate/internal", self.generate_fields(res))
        self.finish(ctx, res, response["data"]["issuer_id"])


class PKIIntermediateCA(_CAKind):
    name = "pki_intermediate_ca"
    spec_key = "intermediate_ca"
    spec_key_schema = {"$ref": "pki.schema.json#/$defs/intermediate_ca"}
    misplaced_message = "only a pki engine has a CA"
    doc = KindDoc("secrets_engines.<path>.intermediate_ca (type pki)", "<path>/intermediate/generate/internal",
                  "an intermediate CA generated inside Vault and signed by another pki mount (signed_by)",
                  address="pki_intermediate_ca.<path>")
    rank = 41  # after the root CA that signs it

    def prepare(self, spec, res, body, fields):
        res = super().prepare(spec, res, body, fields)
        # Recorded, so that one removed from the spec is still read the same way.
        res.meta["signed_by"] = res.meta["record"]["signed_by"] = res.desired["signed_by"]
        return res

    def from_record(self, address, entry):
        res = super().from_record(address, entry)
        res.meta["signed_by"] = (entry.get("meta") or {}).get("signed_by")
        return res

    def dependencies(self, spec, mount, body, name, fields) -> List[str]:
        signer = spec.section(SECTION).get(fields.get("signed_by")) or {}
        deps = super().dependencies(spec, mount, body, name, fields)
        if "root_ca" in signer:
            deps.append(f"pki_root_ca.{fields['signed_by']}")
        elif "intermediate_ca" in signer:
            deps.append(f"pki_intermediate_ca.{fields['signed_by']}")
        return deps

    def read_rules(self, spec, wildcards):
        rules = super().read_rules(spec, wildcards)
        for mount, body in self.engine_mounts(spec):
            signer = body[self.spec_key].get("signed_by")
            if signer:
                rules += [(path, "read", f"{self.name}.{mount}: the CA that signs it")
                          for path in (f"{signer}/config/issuers", f"{signer}/issuer/default")]
        return rules

    def read_more(self, ctx, res, cert) -> Dict[str, Any]:
        """signed_by: the mount whose current CA signed this certificate (checked
        by its signature, so a re-generated signer with the same name does not pass)."""
        signer = res.meta.get("signed_by")
        if not signer:
            return {}
        issuer = self.default_issuer(ctx, signer) if signer in ctx.secret_mounts() else None
        if issuer is not None:
            try:
                cert.verify_directly_issued_by(_certificate(issuer["certificate"]))
                return {"signed_by": signer}
            except Exception:  # noqa: BLE001 - any failure means: not signed by this CA
                pass
        return {"signed_by": "(another CA)"}

    replace_fields = _CAKind.replace_fields | {"signed_by"}

    def create(self, ctx, res) -> None:
        mount, signer = res.id, res.desired["signed_by"]
        fields = self.generate_fields(res)
        csr = ctx.api.write(f"{mount}/intermediate/generate/internal",
                            {k: v for k, v in fields.items() if k != "ttl"})["data"]["csr"]
        sign = {k: v for k, v in fields.items() if k not in ("key_type", "key_bits")}
        signed = ctx.api.write(f"{signer}/root/sign-intermediate", {**sign, "csr": csr})["data"]
        chain = "\n".join([signed["certificate"], *(signed.get("ca_chain") or [signed["issuing_ca"]])])
        imported = ctx.api.write(f"{mount}/intermediate/set-signed", {"certificate": chain})["data"]
        # The issuer that has this mount's key: the new intermediate (the
        # signer's certificates in the chain are imported without one).
        mapping = imported.get("mapping") or {}
        issuer_id = next((i for i, key in mapping.items() if key), None) or imported["imported_issuers"][0]
        self.finish(ctx, res, issuer_id)


class PKIURLs(EngineObjectKind):
    name = "pki_urls"
    engine = "pki"
    spec_key = "urls"
    spec_key_schema = {"$ref": "pki.schema.json#/$defs/urls"}
    misplaced_message = "only a pki engine has URLs"
    doc = KindDoc("secrets_engines.<path>.urls (type pki)", "<path>/config/urls",
                  "issuing certificate, CRL and OCSP URLs", address="pki_urls.<path>")
    segment = "config/urls"
    what = "URL settings"
    object_path_suffix = "config/urls"
    # Before the mount's CA: generating or signing a CA reads the URLs in a
    # storage transaction, and a URL write beside it made OpenBao 2.7.2 answer
    # "transaction commit failed" (the audit walk, seed 14). So they go first.
    rank = 35
    defaults = {"issuing_certificates": [], "crl_distribution_points": [], "ocsp_servers": [],
                "enable_templating": False}
    lists = frozenset({"issuing_certificates", "crl_distribution_points", "ocsp_servers"})

    def delete(self, ctx, res) -> None:
        # Settings cannot be deleted: set back to Vault's defaults while the mount stays.
        if res.id in ctx.spec.section(SECTION):
            ctx.api.write(res.meta["path"], dict(self.defaults))

    def destroy_notes(self, ctx, res) -> List[str]:
        if res.id in ctx.spec.section(SECTION):
            return [f"{res.id}/config/urls cannot be deleted: it is set back to Vault's defaults (no URLs)"]
        return [f"{res.id}/config/urls goes when secrets_engine.{res.id} is disabled"]


class PKIRole(EngineObjectKind):
    name = "pki_role"
    engine = "pki"
    spec_key = "roles"
    spec_key_schema = {"$ref": "pki.schema.json#/$defs/roles"}
    misplaced_message = "only pki and database engines have roles here"
    doc = KindDoc("secrets_engines.<path>.roles.<name> (type pki)", "<path>/roles/<name>",
                  "a PKI role: which names certificates may carry, key type, TTLs", address="pki_role.<path>/<name>")
    many = True
    object_dir = "roles"
    segment = "roles"
    what = "PKI role"
    prune_key = "pki_roles"
    rank = 42
    defaults = ROLE_DEFAULTS
    durations = frozenset({"ttl", "max_ttl", "not_before_duration"})
    lists = frozenset(k for k, v in ROLE_DEFAULTS.items() if isinstance(v, list))

    def prepare(self, spec, res, body, fields):
        res.desired = with_key_bits(res.desired, fields)
        return res

    def dependencies(self, spec, mount, body, name, fields) -> List[str]:
        deps = [f"secrets_engine.{mount}"] + ([f"pki_urls.{mount}"] if "urls" in body else [])
        for key, kind in (("root_ca", "pki_root_ca"), ("intermediate_ca", "pki_intermediate_ca")):
            if key in body:
                deps.append(f"{kind}.{mount}")  # a role names its issuer: write it once there is one
        return deps


KINDS = [PKIRootCA(), PKIIntermediateCA(), PKIURLs(), PKIRole()]
