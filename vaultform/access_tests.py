"""Access tests: the spec's `tests:` section, checked live or against a plan.

    tests:
      - name: webapp reads only its secret
        as: {auth: kubernetes, role: webapp}     # or {policies: [a, b]}, or {entity: alice}
        can:    {read: [secret/data/webapp/config]}
        cannot: {read: [secret/data/other], update: [secret/data/webapp/config]}
      - name: team-a's reader, inside its namespace
        as: {namespace: team-a, policies: [reader]}   # also with auth+role or entity
        can:    {read: [kv/data/app]}                 # paths inside the namespace

An identity with `namespace` ("team-a", or "team-a/apps" for one nested in
it; validate checks the spec declares it) is resolved inside that OpenBao
namespace (its roles, entities and policies; the root's are not seen
there), and its paths are the namespace's: the test token is made in the
namespace, and a plan's policy texts are those the plan gives that
namespace. A parent's grants on a child's paths ("apps/kv/...") are tested
from the parent: measured on OpenBao 2.7.2, a token acts with the policies
of the namespace it was made in only, matched against the path relative to
that namespace, also when its request goes into a child.

An identity becomes a list of policy names (`policies_of`), looked up in a
source: `LiveSource` reads Vault, `PlannedSource` answers what Vault will
hold after a plan. A checker then says what those policies allow on each
path: `TokenChecker` asks Vault itself (a short-lived orphan token carrying
exactly those policies, sys/capabilities-accessor, then the token revoked),
`TextChecker` evaluates the policy texts with acl_eval (for a plan, whose
policies are not stored yet, or when the token may not create tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from vaultform import redact
from vaultform.acl_eval import DENY, ROOT, ACL, PolicyNotEvaluable
from vaultform.errors import Location, PermissionDenied, VaultformError, VaultRequestError
from vaultform.names import UnsafeName
from vaultform.normalize import lowered_list

CAPABILITIES = ("create", "read", "update", "delete", "list", "patch", "sudo", "deny")
TEST_TOKEN_TTL = "60s"   # a test token lives a minute at most, even if its revocation is lost
VAULT, VAULTFORM = "vault", "vaultform"


class CannotCheck(VaultformError):
    """An identity or a policy that cannot be resolved: the test fails, saying why."""


class CannotMintTokens(VaultformError):
    """The token in use may not create test tokens with arbitrary policies."""


# -- the tests ------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    capability: str
    path: str
    expected: bool          # True: `can`, False: `cannot`
    location: Optional[Location] = None

    def granted(self, capabilities: Sequence[str]) -> bool:
        if self.capability == DENY:  # "can deny": nothing at all is granted there
            return list(capabilities) == [DENY]
        return ROOT in capabilities or self.capability in capabilities

    def holds(self, capabilities: Sequence[str]) -> bool:
        return self.granted(capabilities) == self.expected

    def describe(self) -> str:
        return f"{'can' if self.expected else 'cannot'} {self.capability} {self.path}"


@dataclass
class AccessTest:
    name: str
    identity: Dict[str, Any]
    checks: List[Check]
    location: Optional[Location] = None

    @property
    def namespace(self) -> Optional[str]:
        return self.identity.get("namespace")

    def who(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        if "role" in self.identity:
            return f"role {self.identity['role']} (auth/{self.identity['auth']}){where}"
        if "entity" in self.identity:
            return f"entity {self.identity['entity']}{where}"
        return "policies " + (", ".join(self.identity["policies"]) or "(none)") + where


def load_tests(spec) -> List[AccessTest]:
    """The spec's tests, in order (the schema has checked their shape)."""
    out = []
    for i, body in enumerate(spec.data.get("tests") or []):
        checks = []
        for expect in ("can", "cannot"):
            for capability, paths in (body.get(expect) or {}).items():
                for j, path in enumerate(paths):
                    checks.append(Check(capability, path, expect == "can", spec.loc("tests", i, expect, capability, j)))
        out.append(AccessTest(body["name"], dict(body["as"]), checks, spec.loc("tests", i)))
    return out


# -- whose policies ---------------------------------------------------------------------

def role_policies(role: Dict[str, Any]) -> List[str]:
    """What a login through the role carries: token_policies (or the legacy
    policies), plus default unless token_no_default_policy."""
    names = role.get("token_policies")
    if not names:
        names = role.get("policies")
    policies = lowered_list(names or [])
    if not role.get("token_no_default_policy") and "default" not in policies:
        policies.append("default")
    return policies


def entity_policies_from_spec(identity: Dict[str, Any], name: str) -> Optional[List[str]]:
    """An entity's policies from the spec's `identity:` section, with those of
    the spec's groups that hold it (as `members`, or through `member_groups`
    of groups that do), plus default; None when the spec does not declare
    the entity. Groups Vault holds that the spec does not are not seen."""
    entities = identity.get("entities") or {}
    if name not in entities:
        return None
    entity = entities[name] or {}
    if entity.get("disabled"):
        raise CannotCheck(f"entity {name} is disabled in the spec: Vault refuses its tokens")
    policies = lowered_list(entity.get("policies") or [])
    groups = {group: body or {} for group, body in (identity.get("groups") or {}).items()}
    holding = {group for group, body in groups.items() if name in (body.get("members") or [])}
    while True:  # groups whose member_groups hold a group already found: inherited
        more = {group for group, body in groups.items()
                if group not in holding and holding & set(body.get("member_groups") or [])}
        if not more:
            break
        holding |= more
    for group in sorted(holding):
        policies += lowered_list(groups[group].get("policies") or [])
    return _with_default(policies)


def role_dir(auth_type: str) -> str:
    """Where an auth type keeps what logs in: userpass users/, cert certs/, others role/."""
    from vaultform.kinds import registry
    from vaultform.kinds.auth_objects import AuthRole

    kind = next((k for k in registry() if isinstance(k, AuthRole) and k.auth_type == auth_type), None)
    return kind.role_dir if kind else "role"


def _with_default(policies: List[str]) -> List[str]:
    # A login for an entity (through any auth method) carries default too.
    return list(dict.fromkeys(policies + ["default"]))


class LiveSource:
    """Identities and policies as Vault holds them now."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.api = ctx.api

    @property
    def missing_namespace(self) -> Optional[str]:
        """The namespace this source reads in, when Vault does not hold it:
        then nothing is in it (any request there would answer 404)."""
        name = getattr(self.ctx, "name", None)
        return name if name is not None and self.ctx.vault_empty else None

    def role(self, mount: str, role: str) -> Dict[str, Any]:
        if self.missing_namespace:
            raise CannotCheck(f"namespace {self.missing_namespace} does not exist in Vault")
        mounts = self.ctx.auth_mounts()
        if mount not in mounts:
            raise CannotCheck(f"no auth method is enabled at auth/{mount}/")
        path = f"auth/{mount}/{role_dir(mounts[mount].get('type', ''))}/{role}"
        answer = self.api.read(path)
        if not answer or answer.get("data") is None:
            raise CannotCheck(f"role {role} does not exist ({path})")
        return answer["data"]

    def entity_policies(self, name: str) -> List[str]:
        if self.missing_namespace:
            raise CannotCheck(f"namespace {self.missing_namespace} does not exist in Vault")
        answer = self.api.read(f"identity/entity/name/{name}")
        if not answer or not answer.get("data"):
            raise CannotCheck(f"entity {name} does not exist in Vault")
        data = answer["data"]
        if data.get("disabled"):
            raise CannotCheck(f"entity {name} is disabled: Vault refuses its tokens")
        policies = lowered_list(data.get("policies") or [])
        for group_id in data.get("group_ids") or []:  # direct and inherited groups
            group = self.api.read(f"identity/group/id/{group_id}")
            policies += lowered_list(((group or {}).get("data") or {}).get("policies") or [])
        return _with_default(policies)

    def policy_text(self, name: str) -> Optional[str]:
        if self.missing_namespace:
            return None
        answer = self.api.read(f"sys/policies/acl/{name}")
        return ((answer or {}).get("data") or {}).get("policy") if answer else None


class PlannedSource:
    """Identities and policies as Vault will hold them once `plan` is applied:
    what the plan creates, updates or deletes, and the rest as it is now."""

    def __init__(self, spec, plan, live: LiveSource, namespace: Optional[str] = None):
        from vaultform.kinds.auth_objects import AuthRole
        from vaultform.model import DELETE

        self.spec, self.live, self.namespace = spec, live, namespace
        self.roles: Dict[str, Optional[dict]] = {}
        self.policies: Dict[str, Optional[str]] = {}
        planned = [(c.resource, c.action == DELETE) for c in plan.changes] + \
                  [(res, False) for res, _live in plan.unchanged]
        for res, deleted in planned:
            if getattr(res.kind, "namespace", None) != namespace:
                continue  # another namespace's (or the root's): not what this one's tokens see
            if isinstance(getattr(res.kind, "inner", res.kind), AuthRole):
                self.roles[res.id] = None if deleted else res.desired
            elif res.kind.name == "policy":
                self.policies[res.id.lower()] = None if deleted else (res.desired or {}).get("policy")

    def role(self, mount: str, role: str) -> Dict[str, Any]:
        key = f"{mount}/{role}"
        if key not in self.roles:
            return self.live.role(mount, role)
        if self.roles[key] is None:
            raise CannotCheck(f"the plan deletes role {role} (auth/{mount}/)")
        return self.roles[key]

    def entity_policies(self, name: str) -> List[str]:
        spec = self.spec
        if self.namespace:
            from vaultform.namespace_view import spec_view
            spec = spec_view(spec, self.namespace)  # "a/b": b's body inside a's
        declared = entity_policies_from_spec(spec.section("identity"), name)
        return declared if declared is not None else self.live.entity_policies(name)

    def policy_text(self, name: str) -> Optional[str]:
        if name in self.policies:
            return self.policies[name]
        return self.live.policy_text(name)


def policies_of(test: AccessTest, source) -> List[str]:
    identity = test.identity
    if "policies" in identity:
        return list(dict.fromkeys(lowered_list(identity["policies"])))
    if "entity" in identity:
        return source.entity_policies(identity["entity"])
    return role_policies(source.role(identity["auth"], identity["role"]))


# -- what the policies allow ---------------------------------------------------------------

class TokenChecker:
    """Vault answers: an orphan token with exactly the policies, asked about
    by accessor (its value is never used), revoked at once. It lives
    TEST_TOKEN_TTL at most and cannot be renewed."""

    checked_by = VAULT

    # The token is made, asked about and revoked with the same api, so in the
    # test's namespace: measured on OpenBao 2.7.2, sys/capabilities-accessor
    # asked in any other namespace (a child, or the root) answers 500 "cannot
    # lookup token in different namespace"; asked in the token's own, a path
    # into a child ("b/kv/data/x" from a) gets the answer the token has there.

    def __init__(self, api):
        self.api = api
        self.minted: List[str] = []   # accessors, for tests and for the report

    def capabilities(self, policies: List[str], paths: List[str]) -> Dict[str, List[str]]:
        if not policies:
            # Never mint: a token created without policies inherits its parent's (measured: root).
            return {path: [DENY] for path in paths}
        if ROOT in policies:
            return {path: [ROOT] for path in paths}  # and never mint a root token
        try:
            answer = self.api.write("auth/token/create-orphan", {
                "policies": policies,
                # "default" listed with no_default_policy would be dropped (measured on OpenBao 2.7.2).
                "no_default_policy": "default" not in policies,
                "ttl": TEST_TOKEN_TTL, "explicit_max_ttl": TEST_TOKEN_TTL, "renewable": False,
                "display_name": "vaultform-test"})
        except PermissionDenied:
            raise CannotMintTokens("this token may not create tokens (auth/token/create-orphan needs 'update' "
                                   "and, for policies it does not hold itself, 'sudo')") from None
        except VaultRequestError as exc:
            if "subset of parent" in str(exc):
                raise CannotMintTokens("this token may only create tokens with policies it holds itself "
                                       "(auth/token/create-orphan needs 'sudo' for others)") from None
            raise
        auth = (answer or {}).get("auth") or {}
        redact.register(auth.get("client_token"))  # never printed, whatever goes wrong next
        accessor = auth["accessor"]
        self.minted.append(accessor)
        try:
            found = self.api.write("sys/capabilities-accessor", {"accessor": accessor, "paths": list(paths)})
        finally:
            self.api.write("auth/token/revoke-accessor", {"accessor": accessor})
        data = (found or {}).get("data") or {}
        return {path: sorted(data.get(path) or [DENY]) for path in paths}


class TextChecker:
    """vaultform answers, from the policy texts a source gives (acl_eval)."""

    checked_by = VAULTFORM

    def __init__(self, source):
        self.source = source

    def capabilities(self, policies: List[str], paths: List[str]) -> Dict[str, List[str]]:
        texts: List[Tuple[str, str]] = []
        for name in policies:
            if name == ROOT:
                texts.append((ROOT, ""))
                continue
            try:
                text = self.source.policy_text(name)
            except UnsafeName as exc:
                raise CannotCheck(exc.message) from None
            except PermissionDenied:
                raise CannotCheck(f"this token may not read policy {name} (sys/policies/acl/{name} needs "
                                  "'read')") from None
            if text is not None:  # a policy that does not exist grants nothing, as in Vault
                texts.append((name, text))
        try:
            acl = ACL(texts)
        except PolicyNotEvaluable as exc:
            raise CannotCheck(f"a policy cannot be evaluated: {exc}") from None
        return {path: acl.capabilities(path) for path in paths}


# -- running them ---------------------------------------------------------------------------

@dataclass
class Evaluation:
    """One test against one source: the policies and each check's capabilities."""

    policies: Optional[List[str]] = None
    capabilities: Dict[str, List[str]] = field(default_factory=dict)
    error: Optional[str] = None


def evaluate(tests: List[AccessTest], source, checker) -> List[Evaluation]:
    """Each test's capabilities; a test that cannot be resolved gets its
    reason instead. Tests with the same policies share one token."""
    out: List[Evaluation] = []
    answers: Dict[Tuple[str, ...], Dict[str, List[str]]] = {}
    for test in tests:
        try:
            policies = policies_of(test, source)
        except (CannotCheck, PermissionDenied, UnsafeName) as exc:  # this test fails; the others still run
            out.append(Evaluation(error=exc.message))
            continue
        key = tuple(policies)
        paths = sorted({check.path for check in test.checks})
        if key in answers and set(paths) <= set(answers[key]):
            out.append(Evaluation(policies, answers[key]))
            continue
        try:
            found = checker.capabilities(policies, paths)
        except CannotCheck as exc:
            out.append(Evaluation(policies, error=exc.message))
            continue
        answers[key] = {**answers.get(key, {}), **found}
        out.append(Evaluation(policies, answers[key]))
    return out


@dataclass
class CheckResult:
    check: Check
    after: Optional[List[str]]            # capabilities (live for `test`, planned for `plan --test`)
    before: Optional[List[str]] = None    # `plan --test` only: as Vault is now

    @property
    def passed(self) -> bool:
        return self.after is not None and self.check.holds(self.after)

    @property
    def change(self) -> Optional[str]:
        """'no longer' / 'now' when the plan changes whether the capability is granted."""
        if self.before is None or self.after is None or self.check.capability == DENY:
            return None
        was, will = self.check.granted(self.before), self.check.granted(self.after)
        return None if was == will else ("now" if will else "no longer")


@dataclass
class TestResult:
    test: AccessTest
    checks: List[CheckResult]
    policies: Optional[List[str]] = None
    error: Optional[str] = None
    before_policies: Optional[List[str]] = None
    before_error: Optional[str] = None

    __test__ = False  # not a pytest class

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed for c in self.checks)

    def changes(self) -> List[str]:
        """"after this change, role webapp can no longer read X", per changed check."""
        return [f"after this change, {self.test.who()} can {c.change} {c.check.capability} {c.check.path}"
                for c in self.checks if c.change]


def results(tests: List[AccessTest], after: List[Evaluation],
            before: Optional[List[Evaluation]] = None) -> List[TestResult]:
    out = []
    for i, (test, now) in enumerate(zip(tests, after)):
        was = before[i] if before is not None else None
        checks = [CheckResult(check, now.capabilities.get(check.path) if now.error is None else None,
                              (was.capabilities.get(check.path) if was.error is None else None) if was else None)
                  for check in test.checks]
        out.append(TestResult(test, checks, now.policies, now.error,
                              was.policies if was else None, was.error if was else None))
    return out


@dataclass
class Run:
    """All results, and how they were found."""

    results: List[TestResult]
    checked_by: str
    note: Optional[str] = None
    planned: bool = False

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def in_namespace(ctx, namespace: Optional[str]):
    """The context a test's identity is resolved in: the root's, or its namespace's."""
    if not namespace:
        return ctx
    from vaultform.namespace_view import namespace_context

    return namespace_context(ctx, namespace)


def evaluate_by_namespace(tests: List[AccessTest], make) -> List[Evaluation]:
    """evaluate() for each namespace's tests with make(namespace) -> (source,
    checker), results back in the tests' order. make may raise CannotCheck:
    every test of that namespace then fails with its reason."""
    groups: Dict[Optional[str], List[int]] = {}
    for i, test in enumerate(tests):
        groups.setdefault(test.namespace, []).append(i)
    out: List[Optional[Evaluation]] = [None] * len(tests)
    for namespace, indexes in groups.items():
        try:
            source, checker = make(namespace)
            found = evaluate([tests[i] for i in indexes], source, checker)
        except CannotCheck as exc:
            found = [Evaluation(error=exc.message) for _ in indexes]
        for i, evaluation in zip(indexes, found):
            out[i] = evaluation
    return out  # type: ignore[return-value]


def _existing(ctx, namespace: Optional[str]):
    child = in_namespace(ctx, namespace)
    if namespace and child.vault_empty:
        raise CannotCheck(f"namespace {namespace} does not exist in Vault")
    return child


def run_live(ctx, tests: List[AccessTest]) -> Run:
    """`vaultform test`: Vault decides, with short-lived tokens, each made in
    the namespace its identity is in. A token that may not create them still
    gets an answer, from vaultform's evaluation of the live policy texts, and
    the run says so."""
    def by_vault(namespace):
        child = _existing(ctx, namespace)
        return LiveSource(child), TokenChecker(child.api)

    def by_text(namespace):
        source = LiveSource(_existing(ctx, namespace))
        return source, TextChecker(source)

    try:
        return Run(results(tests, evaluate_by_namespace(tests, by_vault)), VAULT)
    except CannotMintTokens as exc:
        note = (f"{exc.message}: the results below are vaultform's evaluation of the live policy texts, "
                "not Vault's answer")
        return Run(results(tests, evaluate_by_namespace(tests, by_text)), VAULTFORM, note)


def run_planned(ctx, plan, tests: List[AccessTest]) -> Run:
    """`plan --test`: before (now) and after (the plan applied), both
    evaluated from policy texts: the planned ones are not in Vault yet, and a
    plan writes nothing, not even a test token. A namespace the plan creates
    has no "before"; after, it holds what the plan puts in it."""
    def now(namespace):
        source = LiveSource(_existing(ctx, namespace))
        return source, TextChecker(source)

    def planned(namespace):
        source = PlannedSource(ctx.spec, plan, LiveSource(in_namespace(ctx, namespace)), namespace)
        return source, TextChecker(source)

    before = evaluate_by_namespace(tests, now)
    after = evaluate_by_namespace(tests, planned)
    return Run(results(tests, after, before), VAULTFORM, planned=True)


def planner_rules(spec) -> list:
    """What `plan --test` (and `test`, when it may not create tokens) reads
    beyond the plan: the identities tests name, and the policies they carry
    that the spec does not hold (planner_policy.py adds these)."""
    from vaultform.planner_rules import READ, Rule

    from vaultform.namespace_view import spec_view

    tests = spec.data.get("tests") or []
    if not tests:
        return []
    # Per namespace (None: the root): the policies tests carry there. A
    # policy in a parent namespace grants on a child's paths prefixed with
    # its name, so a namespace's reads are "<name>/<path>" (kinds/namespace.py).
    # Whether the namespace exists is read by the namespace kind's rules:
    # validate refuses a test naming a namespace the spec does not declare.
    wanted: Dict[Optional[str], set] = {}
    rules = []
    for test in tests:
        identity = test["as"]
        namespace = identity.get("namespace")
        view = spec_view(spec, namespace) if namespace else spec
        prefix = f"{namespace}/" if namespace else ""
        where = f" in namespace {namespace}" if namespace else ""
        policies = wanted.setdefault(namespace, {"default"})
        if "policies" in identity:
            policies.update(p.lower() for p in identity["policies"])
        elif "entity" in identity:
            rules.append(Rule(f"{prefix}identity/entity/name/{identity['entity']}", READ,
                              f"tests: the entity's policies{where}"))
            rules.append(Rule(f"{prefix}identity/group/id/+", READ,
                              f"tests: the policies of the entity's groups{where}"))
            try:
                policies.update(entity_policies_from_spec(view.section("identity"), identity["entity"]) or [])
            except CannotCheck:  # a disabled entity: its test fails on its own; nothing more to read
                pass
        else:
            mount, role = identity["auth"], identity["role"]
            body = view.section("auth").get(mount) or {}
            rules.append(Rule(f"{prefix}auth/{mount}/{role_dir(body.get('type', ''))}/{role}", READ,
                              f"tests: role {role} as Vault holds it now{where}"))
            policies.update(role_policies((body.get("roles") or {}).get(role) or {}))
    for namespace, policies in wanted.items():
        view = spec_view(spec, namespace) if namespace else spec
        held = {name.lower() for name in view.section("policies")}
        prefix = f"{namespace}/" if namespace else ""
        where = f" in namespace {namespace}" if namespace else ""
        rules += [Rule(f"{prefix}sys/policies/acl/{name}", READ,
                       f"tests: policy {name}{where}, which the spec does not hold")
                  for name in sorted(policies - held)]
    return rules
