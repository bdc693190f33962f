"""Semantic checks the JSON Schema cannot express. All run offline.

Problems are errors (Vault would refuse the spec, or it cannot work);
warnings are things that may be fine (a role naming a policy that exists
only in Vault). What Vault refuses was measured against OpenBao 2.7.2, and
tests/test_validate_offline.py checks every such rule against a real server.
Messages quote names and policy text, never a value that could be a secret
(a value in the wrong field may be one).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from functools import lru_cache
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple


from vaultform import names, policy_hcl, values
from vaultform.errors import Location, SpecError
from vaultform.normalize import NotADuration, duration_seconds
from vaultform.schema import definition
from vaultform.spec import Spec, Warning_

# Measured against OpenBao 2.7.2: these parse, anything else is a 400.
CAPABILITIES = frozenset({"deny", "create", "read", "update", "patch", "delete", "list", "sudo", "scan"})
# Keys OpenBao 2.7.2 accepts in a policy and in its path blocks; any other is
# a 400 ("invalid key"). Vault's own subscribe_event_types is not among them.
POLICY_KEYS = frozenset({"name", "path"})
PATH_KEYS = frozenset({"capabilities", "policy", "comment", "allowed_parameters", "denied_parameters",
                       "required_parameters", "min_wrapping_ttl", "max_wrapping_ttl", "mfa_methods",
                       "control_group", "pagination_limit", "list_scan_response_keys_filter_path", "expiration"})

# Token fields every auth method's roles share (Vault's tokenutil). Legacy
# names (ttl, max_ttl) count only where the type's kind declares them: on
# other types Vault ignores them as unknown fields.
ROLE_TTL, ROLE_MAX_TTL = "token_ttl", "token_max_ttl"
# Vault's default system max lease TTL; a server can be configured higher,
# so exceeding it is a warning, not an error.
SYSTEM_MAX_LEASE_TTL = 768 * 3600


Problems = List[SpecError]
Warnings = List[Warning_]


def semantic_problems(spec: Spec) -> Tuple[Problems, Warnings]:
    """What every command checks once the spec has the schema's shape."""
    problems: Problems = []
    warnings: Warnings = []
    _check_names(spec, problems)
    _check_connection_settings(spec, problems)
    _check_tuning(spec, problems)
    _check_cluster(spec, problems)
    _check_durations(spec, problems, warnings)
    _check_role_policies(spec, warnings)
    _check_sources(spec, problems, warnings)
    _check_test_namespaces(spec, problems)
    _check_yaml_readings(spec, warnings)
    from vaultform.kinds import registry  # late: the kinds import most of vaultform

    for kind in registry():  # each kind's own checks (policy HCL, Kubernetes issuer, ...)
        kind_problems, kind_warnings = kind.checks(spec)
        problems += kind_problems
        warnings += kind_warnings
    return problems, warnings


# YAML 1.1 reads these otherwise than most people mean in free-form data: a
# leading-zero number as octal (a PIN 0123 is 83, a mode 0600 is 384), and
# yes/no/on/off/y/n as booleans (the country code NO is false).
_OCTAL = re.compile(r"[-+]?0[0-7_]+")
_BOOLEAN_WORDS = {"yes", "no", "on", "off", "y", "n"}


def _check_yaml_readings(spec: Spec, warnings: Warnings) -> None:
    """A KV secret's literal values, free-form data, where YAML turned what
    was written into another value: Vault would get that one. Fields the
    schema types (a boolean, a count) take YAML's reading as meant, metadata
    must be strings (the schema says so), and audit options are refused
    (kinds/audit_device.py)."""
    prefix = getattr(spec, "doc_prefix", ())  # a namespace's body is checked as a spec (kinds/namespace.py)
    for path, text in sorted(spec.doc.written.items(), key=lambda item: [str(p) for p in item[0]]):
        octal, boolean = bool(_OCTAL.fullmatch(text)), text.lower() in _BOOLEAN_WORDS
        if path[:len(prefix)] != prefix or path[len(prefix):len(prefix) + 1] != ("secrets",) or \
                not (octal or boolean):
            continue
        field, path = ".".join(str(p) for p in path), path[len(prefix):]
        # Neither what was written nor what YAML made of it is repeated: a
        # literal secret value is still a secret value.
        message = ("YAML 1.1 reads a number written with a leading zero as octal: Vault would get another "
                   "number; quote it to keep the digits as written") if octal else \
            ("YAML 1.1 reads yes, no, on, off, y and n as booleans: Vault would get true or false; quote it to "
             "keep the text")
        warnings.append(Warning_(message, location=spec.loc(*path), field=field))


def _check_test_namespaces(spec: Spec, problems: Problems) -> None:
    """A test's `as.namespace` names a namespace the spec declares ("a", or
    "a/b" for b under namespaces.a.namespaces): a misspelt one would only
    fail live, with "does not exist in Vault", after a token was asked for."""
    from vaultform.namespace_view import namespace_paths  # late: it imports the connection

    tests = spec.data.get("tests") if isinstance(spec.data, dict) else None
    if not isinstance(tests, list) or not tests:
        return
    declared = set(namespace_paths(spec))
    for i, test in enumerate(tests):
        namespace = ((test or {}).get("as") or {}).get("namespace") if isinstance(test, dict) else None
        if isinstance(namespace, str) and namespace not in declared:
            where = f"namespaces.{namespace.replace('/', '.namespaces.')}"
            problems.append(SpecError(f"namespace {namespace} is not declared in the spec (no {where})",
                                      location=spec.loc("tests", i, "as", "namespace"),
                                      field=f"tests[{i}].as.namespace"))


def problems_despite_schema_errors(spec: Spec, reported: Set[str]) -> Problems:
    """The checks that stand on their own, run even when the schema failed
    elsewhere, so one run reports a bad policy or a name that would not stay
    a name in a URL (`kv/../sys/...`) beside a bad field. `reported`: the
    fields the schema already has an error for (said once)."""
    problems: Problems = []
    policies = spec.data.get("policies") if isinstance(spec.data, dict) else None
    if isinstance(policies, dict) and all(isinstance(v, str) for v in policies.values()):
        problems += policy_problems(spec)
    from vaultform.kinds import registry

    for section in sorted({k.section for k in registry() if k.section and k.section_keys_are_names}):
        body = spec.data.get(section) if isinstance(spec.data, dict) else None
        for key in (body if isinstance(body, dict) else ()):
            problem = names.path_problem(key) if isinstance(key, str) else None
            if problem and f"{section}.{key}" not in reported:
                problems.append(SpecError(f"the name {problem}", location=spec.key_loc(section, key),
                                          field=f"{section}.{key}"))
    return problems


# Keys of a KV secret whose literal value is no secret by its very name, so
# validate does not ask for a value source there (the tutorial's
# `username: static-user` beside a password from the environment).
PUBLIC_SECRET_KEYS = frozenset({"username", "user", "user_name", "login", "email", "host", "hostname", "port",
                                "url", "address", "database"})


def literal_value_warnings(spec: Spec) -> Warnings:
    """Values written into the spec itself where a value source was expected.

    Only `validate` reports these: a literal is legal (plan and apply take it),
    but whatever is in the spec is in version control too.
    """
    warnings: Warnings = []
    for path, keys in spec.section("secrets").items():
        for key, value in (keys if isinstance(keys, dict) else {}).items():
            if values.is_source(value) or value is None or isinstance(value, bool) or value == "":
                continue  # nothing in it to keep secret
            if str(key).lower() in PUBLIC_SECRET_KEYS:
                continue  # names what is not a secret (a user name beside its password)
            warnings.append(Warning_("is a literal value in the spec (and so in version control): take it from "
                                     "{env: NAME}, {file: PATH} or {generate: {length: N}}",
                                     location=spec.key_loc("secrets", path, key), field=f"secrets.{path}.{key}"))
    for mount, body in spec.section("auth").items():
        config = body.get("config") or {}
        for name in sorted(_sensitive_config_fields(body.get("type"))):
            if isinstance(config.get(name), str) and config[name]:
                warnings.append(Warning_("is a literal value in the spec (and so in version control): take it "
                                         "from {env: NAME} or {file: PATH}",
                                         location=spec.key_loc("auth", mount, "config", name),
                                         field=f"auth.{mount}.config.{name}"))
    segments = {"roles": "role", "users": "users", "certs": "certs"}
    for mount, body in spec.section("auth").items():
        for key, name, fields in named_objects(body):
            secret = write_only_fields(body.get("type"), segments[key])
            for field in sorted(f for f in secret if isinstance(fields.get(f), str) and fields[f]):
                warnings.append(Warning_("is a literal value in the spec (and so in version control): take it "
                                         "from {env: NAME} or {file: PATH}",
                                         location=spec.key_loc("auth", mount, key, name, field),
                                         field=f"auth.{mount}.{key}.{name}.{field}"))
    for mount, body in spec.section("secrets_engines").items():
        if not isinstance(body, dict) or body.get("type") != "database":
            continue
        for name, connection in (body.get("connections") or {}).items():
            for field in sorted(write_only_fields("database", "config")):
                value = (connection or {}).get(field)
                if isinstance(value, str) and value:
                    where = ("secrets_engines", mount, "connections", name, field)
                    warnings.append(Warning_("is a literal value in the spec (and so in version control): take it "
                                             "from {env: NAME} or {file: PATH}", location=spec.key_loc(*where),
                                             field=".".join(where)))
    return warnings


def unchecked_type_warnings(spec: Spec) -> Warnings:
    """Auth types no kind describes are passed through as written: their
    config and role fields reach Vault unchecked (Vault ignores unknown ones)."""
    from vaultform.kinds.auth_objects import claimed_types

    claimed = claimed_types(None)
    warnings: Warnings = []
    for mount, body in spec.section("auth").items():
        auth_type = body.get("type")
        if auth_type in claimed or not (body.get("config") or body.get("roles")):
            continue
        warnings.append(Warning_(f"vaultform does not know the fields of auth type {auth_type!r}: its config and "
                                 "roles are passed to Vault unchecked (Vault silently ignores unknown fields), "
                                 "and a field removed from the spec is left as it is in Vault",
                                 location=spec.loc("auth", mount, "type"), field=f"auth.{mount}.type"))
    return warnings


def write_only_fields(auth_type: Any, segment: str) -> frozenset:
    from vaultform.kinds import write_only

    return frozenset(write_only.write_only(auth_type if isinstance(auth_type, str) else None, segment))


def named_objects(body: Any) -> Iterator[Tuple[str, str, dict]]:
    """(spec key, name, fields) of an auth method's named objects: roles,
    userpass users, cert certificates."""
    if not isinstance(body, dict):
        return
    for key in ("roles", "users", "certs"):
        for name, fields in (body.get(key) or {}).items():
            yield key, name, fields if isinstance(fields, dict) else {}


def _auth_kind(auth_type: Any, base_name: str):
    """The kind that knows this auth type's config or roles, if one does."""
    from vaultform.kinds import registry  # late: the kinds import most of vaultform
    from vaultform.kinds import auth_objects

    base = getattr(auth_objects, base_name)
    return next((k for k in registry() if isinstance(k, base) and k.auth_type == auth_type), None)


def _sensitive_config_fields(auth_type: Any) -> frozenset:
    # The kinds and the write-only catalogue know which config fields are
    # secret (kubernetes: token_reviewer_jwt; jwt/oidc: oidc_client_secret, ...).
    from vaultform.kinds import write_only

    kind = _auth_kind(auth_type, "AuthConfig")
    declared = frozenset(kind.sensitive) if kind else frozenset()
    return declared | frozenset(write_only.write_only(auth_type if isinstance(auth_type, str) else None, "config"))


def _names_for(auth_type: Any, field: str) -> List[str]:
    """A role field's current name and the legacy names this type still takes for it."""
    kind = _auth_kind(auth_type, "AuthRole")
    return [field] + sorted(old for old, new in (kind.aliases if kind else {}).items() if new == field)


# -- cluster --------------------------------------------------------------------------


def _check_names(spec: Spec, problems: Problems) -> None:
    """Every name that becomes part of a Vault URL (names.py says why)."""
    def check(section: str, key: str, problem, *inner: str) -> None:
        if problem:
            where = ".".join((section, key) + inner)
            problems.append(SpecError(f"the name {problem}", location=spec.key_loc(section, key, *inner),
                                      field=where))

    from vaultform.kinds import registry

    for section in sorted({k.section for k in registry() if k.section and k.section_keys_are_names}):
        for key in spec.section(section):
            check(section, key, names.path_problem(key))
    for path, body in spec.section("auth").items():
        for key, role, _ in named_objects(body):
            check("auth", path, names.role_name_problem(role, str(body.get("type", ""))), key, role)
            if key in ("users", "certs") and role != role.lower():
                # Vault lower-cases these names: "Bob" would be stored as "bob"
                # and never found again under the spec's name.
                check("auth", path, "must be lower case (Vault lower-cases it)", key, role)
    for role in spec.section("token_roles"):
        check("token_roles", role, names.role_name_problem(role))
    _check_object_keys(spec, problems)


def _object_key_problem(auth_type: Any, key: str) -> Optional[str]:
    """Why a typed auth method cannot have this key: Vault has no endpoint
    for it, so it would fail mid-apply with a 404 (or never be written)."""
    if key == "users" and auth_type != "userpass":
        return "only a userpass auth method has `users:`"
    if key == "certs" and auth_type != "cert":
        return "only a cert auth method has `certs:`"
    if key == "roles" and auth_type == "userpass":
        return "userpass keeps users, not roles: put them under `users:`"
    if key == "roles" and auth_type == "cert":
        return "cert keeps trusted certificates, not roles: put them under `certs:`"
    if key == "config" and auth_type in ("approle", "userpass"):
        return f"{auth_type} has no config endpoint"
    return None


def _check_object_keys(spec: Spec, problems: Problems) -> None:
    for path, body in spec.section("auth").items():
        for key in ("config", "roles", "users", "certs"):
            problem = _object_key_problem(body.get("type"), key) if isinstance(body, dict) and key in body else None
            if problem:
                problems.append(SpecError(problem, location=spec.key_loc("auth", path, key), field=f"auth.{path}.{key}"))


def _check_connection_settings(spec: Spec, problems: Problems) -> None:
    """vault.address and vault.namespace, checked as a connection would (never quoting them)."""
    from vaultform.connection import address_problem, namespace_problem  # late: connection imports hvac

    vault = spec.section("vault")
    for name, problem_of in (("address", address_problem), ("namespace", namespace_problem)):
        value = vault.get(name)
        problem = problem_of(value) if isinstance(value, str) else None
        if problem:
            problems.append(SpecError(f"the Vault {name} {problem}", location=spec.loc("vault", name),
                                      field=f"vault.{name}"))


# Tuning fields a mount table ignores (measured on OpenBao 2.7.2): a plan
# would show them changed after every apply.
_IGNORED_TUNING = {
    ("secrets_engines", "config", "token_type"):
        "token_type is for auth methods only: a secrets engine ignores it when enabled and its tune refuses it",
    ("auth", "tune", "force_no_cache"):
        "an auth method ignores force_no_cache, when enabled and when tuned (it stays false); remove it",
}


def _check_tuning(spec: Spec, problems: Problems) -> None:
    for (section, key, field), why in _IGNORED_TUNING.items():
        for path, body in spec.section(section).items():
            tuning = body.get(key) if isinstance(body, dict) else None
            if isinstance(tuning, dict) and field in tuning and tuning[field] not in (False, None):
                problems.append(SpecError(why, location=spec.loc(section, path, key, field),
                                          field=f"{section}.{path}.{key}.{field}"))


def _check_cluster(spec: Spec, problems: Problems) -> None:
    from vaultform.cluster.releases import spec_problems  # the helm provider's releases and values files

    problems.extend(spec_problems(spec))
    init = (spec.cluster or {}).get("init") or {}
    shares, threshold = init.get("key_shares", 5), init.get("key_threshold", 3)
    if threshold > shares:
        problems.append(SpecError(f"key_threshold ({threshold}) is above key_shares ({shares})",
                                  location=spec.loc("cluster", "init", "key_threshold"),
                                  field="cluster.init.key_threshold"))


# -- durations ------------------------------------------------------------------------


def vault_duration_seconds(value: Any) -> int:
    """normalize.duration_seconds, with the schema's wording for a malformed one."""
    try:
        return duration_seconds(value)
    except NotADuration:
        raise ValueError(definition("duration")["oneOf"][1]["patternErrorMessage"]) from None


def _is_duration_field(name: str) -> bool:
    # Vault's naming convention (token_ttl, secret_id_ttl, period, ...), as
    # the generic auth kinds use it for types vaultform has no module for.
    return name.endswith("ttl") or name.endswith("period")


def _durations(spec: Spec, fields: Dict[str, Any], path: Tuple[Any, ...], names,
               problems: Problems) -> Dict[str, int]:
    """The named duration fields that parse, in seconds; a problem for each that does not."""
    seconds: Dict[str, int] = {}
    for name in names:
        if name not in fields:
            continue
        try:
            seconds[name] = vault_duration_seconds(fields[name])
        except ValueError as exc:
            problems.append(SpecError(str(exc), location=spec.loc(*path, name),
                                      field=".".join(str(p) for p in path + (name,))))
    return seconds


def _check_durations(spec: Spec, problems: Problems, warnings: Warnings) -> None:
    mounts = [("secrets_engines", mount, "config") for mount in spec.section("secrets_engines")]
    mounts += [("auth", mount, "tune") for mount in spec.section("auth")]
    for path in mounts:
        tune = spec.section(path[0])[path[1]].get(path[2]) or {}
        _check_lease_ttls(spec, path, _durations(spec, tune, path, ("default_lease_ttl", "max_lease_ttl"),
                                                 problems), problems, warnings)
    for mount, body in spec.section("auth").items():
        for key, role, fields in named_objects(body):
            path = ("auth", mount, key, role)
            seconds = _durations(spec, fields, path, [n for n in fields if _is_duration_field(n)], problems)
            _check_role_ttls(spec, path, body.get("type"), seconds, problems)


def _check_lease_ttls(spec: Spec, path, seconds: Dict[str, int], problems: Problems, warnings: Warnings) -> None:
    default, maximum = seconds.get("default_lease_ttl", 0), seconds.get("max_lease_ttl", 0)
    where = spec.loc(*path, "default_lease_ttl")
    field = ".".join(path + ("default_lease_ttl",))
    # 0 means "the system default", so only two set values can contradict.
    if default and maximum and default > maximum:
        problems.append(SpecError(f"{default}s is above max_lease_ttl ({maximum}s); Vault refuses the mount",
                                  location=where, field=field))
    elif default > SYSTEM_MAX_LEASE_TTL and not maximum:
        warnings.append(Warning_(f"{default}s is above Vault's default system max lease TTL (768h): Vault "
                                 "refuses it unless max_lease_ttl is set at least as high here or the server's "
                                 "max_lease_ttl is raised", location=where, field=field))


def _check_role_ttls(spec: Spec, path, auth_type: Any, seconds: Dict[str, int], problems: Problems) -> None:
    ttl_name = next((n for n in _names_for(auth_type, ROLE_TTL) if n in seconds), None)
    max_name = next((n for n in _names_for(auth_type, ROLE_MAX_TTL) if n in seconds), None)
    if ttl_name and max_name and seconds[max_name] and seconds[ttl_name] > seconds[max_name]:
        problems.append(SpecError(f"{seconds[ttl_name]}s is above {max_name} ({seconds[max_name]}s); "
                                  "Vault refuses the role", location=spec.loc(*path, ttl_name),
                                  field=".".join(str(p) for p in path + (ttl_name,))))


# -- policies -------------------------------------------------------------------------


class PolicyParseError(ValueError):
    def __init__(self, detail: str, line: int, column: int):
        super().__init__(detail)
        self.line, self.column = line, column


def _unquote(value: Any) -> Any:
    # python-hcl2 keeps the quotes of HCL strings ('"read"'); JSON has none.
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


_HCL_ESCAPE = re.compile(r'\\(?:[abfnrtv\\"]|x[0-9A-Fa-f]{2}|[0-7]{3}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8})')
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
                   '"': '"'}


def _hcl_string(value: Any) -> Any:
    """A quoted HCL string as OpenBao's HCL 1 reads it: Go's escapes are read
    (\\\\ one backslash, \\t a tab, \\u00e9 an é: the policy's path is that text,
    measured against sys/capabilities), except from ${ to its matching },
    copied as written. The readers here keep the escapes as written."""
    inner = _unquote(value)
    if not isinstance(inner, str) or inner is value or "\\" not in inner:
        return inner
    out, i = [], 0
    while i < len(inner):
        if inner.startswith("${", i):
            depth, j = 1, i + 2
            while j < len(inner) and depth:
                depth += {"{": 1, "}": -1}.get(inner[j], 0)
                j += 1
            out.append(inner[i:j])
            i = j
            continue
        escape = _HCL_ESCAPE.match(inner, i) if inner[i] == "\\" else None
        if escape is None:
            out.append(inner[i])
            i += 1
            continue
        code = escape.group()[1:]
        if code in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[code])
        else:
            out.append(chr(int(code[1:], 16) if code[0] in "xuU" else int(code, 8)))
        i = escape.end()
    return "".join(out)


@lru_cache(maxsize=4096)
def _fast(text: str) -> Optional[Dict[str, Any]]:
    """The common subset of policy HCL, read fast (policy_hcl.py); None: ask python-hcl2."""
    return policy_hcl.read(text)


def parse_policy(text: str) -> Tuple[Dict[str, Any], List[Tuple[str, Any]]]:
    """A policy's top-level keys and its path blocks [(path, body)], from HCL
    or JSON (Vault takes both). Raises PolicyParseError with the position."""
    _check_policy_nesting(text)
    path_text = _hcl_string
    if text.lstrip().startswith("{"):
        path_text = _unquote  # JSON has read its escapes
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyParseError(f"not valid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    elif _fast(text) is not None:
        document = _fast(text)
    else:
        import hcl2  # slow to import and to run: only for what the fast reader left

        try:
            document = hcl2.loads(text if text.endswith("\n") else text + "\n")
        except Exception as exc:  # the parser raises several lark error types
            line, column = getattr(exc, "line", 1) or 1, getattr(exc, "column", 1) or 1
            token = getattr(exc, "token", None)
            if token is not None:  # lark's UnexpectedToken: say it as a person would
                detail, line, column = policy_hcl.explain_syntax_error(
                    text, getattr(token, "type", ""), str(token), getattr(exc, "expected", ()), line, column)
            else:
                detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
                # The position is given as the spec's file:line:column instead of the policy's own.
                detail = re.sub(r",? at line \d+,? column \d+\.?$", "", detail)
            raise PolicyParseError(f"not valid HCL: {detail}", line, column) from None
    if not isinstance(document, dict):
        raise PolicyParseError("not a policy: expected path blocks", 1, 1)
    top = {k: v for k, v in document.items() if not k.startswith("__")}
    blocks = top.get("path") or []
    paths: List[Tuple[str, Any]] = []
    for block in blocks if isinstance(blocks, list) else [blocks]:
        for raw_path, body in (block.items() if isinstance(block, dict) else []):
            paths.append((path_text(raw_path), body))
    return top, paths


MAX_POLICY_NESTING = 64


def _check_policy_nesting(text: str) -> None:
    """Both parsers recurse per bracket: thousands of them are a RecursionError
    (an "internal error"), not a policy. Real policies nest three levels."""
    depth, line, column = 0, 1, 0
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        elif char in "{[":
            depth += 1
            if depth > MAX_POLICY_NESTING:
                raise PolicyParseError(f"not valid: brackets nested deeper than {MAX_POLICY_NESTING} levels",
                                       line, column)
        elif char in "}]":
            depth = max(depth - 1, 0)


def _spec_lines(spec: Spec) -> List[str]:
    """The spec file's lines, read once per spec (not once per policy)."""
    lines = getattr(spec, "_file_lines", None)
    if lines is None:
        try:
            lines = spec.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            lines = []
        spec._file_lines = lines
    return lines


class PolicyText:
    """Where a line and column of a policy's text were written in the spec."""

    def __init__(self, spec: Spec, name: str, text: str):
        self.start = spec.loc("policies", name)
        self.text = text
        self.file_lines = _spec_lines(spec)
        opener = self._file_line(self.start.line)[self.start.column - 1:self.start.column]
        self.block = opener in ("|", ">")  # a block scalar's text starts on the next line
        self.quoted = opener in ("'", '"')

    def _file_line(self, number: int) -> str:
        return self.file_lines[number - 1] if 0 < number <= len(self.file_lines) else ""

    def at(self, line: int, column: int) -> Location:
        if self.block:
            file_line = self.start.line + line
            written = self._file_line(file_line)
            text_lines = self.text.splitlines()
            content = text_lines[line - 1] if 0 < line <= len(text_lines) else ""
            indent = len(written) - len(content) if content and written.endswith(content) else None
            return Location(self.start.file, file_line, indent + column if indent is not None else self.start.column)
        if line == 1:
            return Location(self.start.file, self.start.line, self.start.column + column - 1 + int(self.quoted))
        return self.start

    def find(self, *needles: str) -> Location:
        """The location of the last needle (a whole word or quoted string),
        each searched after the one before; the policy's start if not found."""
        offset = 0
        for needle in needles:
            found = re.compile(rf"(?<![\w-]){re.escape(needle)}(?![\w-])").search(self.text, offset)
            if found is None:
                return self.start
            offset = found.start()
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return self.at(line, column)


def policy_problems(spec: Spec) -> Problems:
    """Everything wrong with the spec's policies: names and HCL (kinds/policy.py runs it)."""
    problems: Problems = []
    seen: Dict[str, Tuple[str, Location]] = {}
    for name, text in spec.section("policies").items():
        where, field, lower = spec.key_loc("policies", name), f"policies.{name}", name.lower()
        if name != lower:
            problems.append(SpecError(f"policy names are case-insensitive and Vault stores them lower-cased; "
                                      f"write {lower!r}", location=where, field=field))
        if lower in seen:
            first, first_where = seen[lower]
            problems.append(SpecError(f"collides with policy {first!r} at {first_where}: policy names are "
                                      f"case-insensitive, so Vault would keep one policy {lower!r} for both",
                                      location=where, field=field))
        else:
            seen[lower] = (name, where)
        if lower == "root":
            problems.append(SpecError("the root policy is built in and cannot be written", location=where,
                                      field=field))
        _check_policy_text(spec, name, text, problems)
    return problems


def _check_policy_text(spec: Spec, name: str, text: str, problems: Problems) -> None:
    source, field = PolicyText(spec, name, text), f"policies.{name}"

    def problem(message: str, location: Location) -> None:
        problems.append(SpecError(message, location=location, field=field))

    try:
        top, paths = parse_policy(text)
    except PolicyParseError as exc:
        problem(f"policy is {exc}", source.at(exc.line, exc.column))
        return
    for key in sorted(set(top) - POLICY_KEYS):
        problem(f"unknown key {key!r} (a policy holds only path blocks); Vault refuses the policy",
                source.find(key))
    for path, body in paths:
        header = f'"{path}"'
        if not isinstance(body, dict):
            problem(f"path {header} must be a block {{ capabilities = [...] }}", source.find(header))
            continue
        for key in sorted(k for k in body if not k.startswith("__") and k not in PATH_KEYS):
            hint = difflib.get_close_matches(key, sorted(PATH_KEYS), n=1)
            problem(f"path {header}: unknown key {key!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
                    + "; Vault refuses the policy", source.find(header, key))
        capabilities = body.get("capabilities")
        if capabilities is not None and not isinstance(capabilities, list):
            problem(f'path {header}: capabilities must be a list, e.g. ["read"]; Vault refuses a single string',
                    source.find(header, "capabilities"))
            capabilities = []
        for capability in capabilities or []:
            capability = _unquote(capability)
            if capability not in CAPABILITIES:
                problem(f"path {header}: invalid capability {capability!r} (valid: {', '.join(sorted(CAPABILITIES))})",
                        source.find(header, f'"{capability}"' if isinstance(capability, str) else "capabilities"))
        _check_wrapping_ttls(body, header, source, problem)


def _check_wrapping_ttls(body: dict, header: str, source: PolicyText, problem) -> None:
    seconds = {}
    for key in ("min_wrapping_ttl", "max_wrapping_ttl"):
        if key in body:
            try:
                seconds[key] = vault_duration_seconds(_unquote(body[key]))
            except ValueError as exc:
                problem(f"path {header}: {key} {exc}", source.find(header, key))
    low, high = seconds.get("min_wrapping_ttl", 0), seconds.get("max_wrapping_ttl", 0)
    if low and high and high < low:
        problem(f"path {header}: max_wrapping_ttl ({high}s) is below min_wrapping_ttl ({low}s); "
                "Vault refuses the policy", source.find(header, "max_wrapping_ttl"))


# -- roles and auth config ------------------------------------------------------------


def _check_role_policies(spec: Spec, warnings: Warnings) -> None:
    defined = {n.lower() for n in spec.section("policies")} | {"default"}
    for mount, body in spec.section("auth").items():
        for section, role, fields in named_objects(body):
            for key in ("token_policies", "policies"):
                names = fields.get(key)
                if names is None:
                    continue
                path = ("auth", mount, section, role, key)
                items = [(names, path)] if isinstance(names, str) else [(n, path + (i,)) for i, n in enumerate(names)]
                for item, where in items:
                    for policy in str(item).split(","):
                        if policy.strip() and policy.strip().lower() not in defined:
                            warnings.append(Warning_(
                                f"policy {policy.strip()!r} is not defined in this spec (it may exist in Vault)",
                                location=spec.loc(*where), field=".".join(str(p) for p in path)))


# -- value sources --------------------------------------------------------------------


def _walk_sources(data, path) -> Iterator[Tuple[tuple, dict]]:
    if values.is_source(data):
        yield path, data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from _walk_sources(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _walk_sources(v, path + (i,))


def _check_sources(spec: Spec, problems: Problems, warnings: Warnings) -> None:
    """Files belong to the repository and must exist; env vars may be CI-only."""
    from vaultform.kinds import registry

    # A namespace's sections are checked as a spec of their own (kinds/namespace.py).
    sections = sorted({k.section for k in registry() if k.section and k.section not in ("cluster", "namespaces")
                       and k.takes_value_sources})
    for section in sections:
        for path, source in _walk_sources(spec.section(section), (section,)):
            kind, arg = values.source_of(source)
            field = ".".join(str(p) for p in path)
            if section == "secrets" and len(path) > 3:
                # Only a key's whole value is resolved; a source nested deeper
                # would be written to Vault literally as {"env": ...}.
                problems.append(SpecError("a value source must be the whole value of a secret key, not nested "
                                          "inside a list or mapping", location=spec.loc(*path), field=field))
                continue
            generated = kind == "generate" or values.source_of(source.get("default") or {"env": ""})[0] == "generate"
            if generated and section != "secrets":
                # A KV secret keeps its generated value (made once, then read back);
                # anywhere else nobody could ever read it, and every plan would make a new one.
                problems.append(SpecError("a generated value can only be a key of a KV secret (secrets:), where "
                                          "it is kept and can be read; here it would be unreadable and made "
                                          "anew by every plan: take it from {env} or {file}",
                                          location=spec.loc(*path), field=field))
                continue
            if kind == "file":
                target = Path(arg) if Path(arg).is_absolute() else spec.base_dir / arg
                if not target.is_file():
                    problems.append(SpecError(f"file {target} does not exist", location=spec.loc(*path), field=field))
            elif kind == "env" and arg not in os.environ and "default" not in source:
                warnings.append(Warning_(f"environment variable {arg} is not set here; plan and apply need it",
                                         location=spec.loc(*path), field=field, validate_only=True))
