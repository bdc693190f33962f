"""namespace.<name>: an OpenBao namespace (sys/namespaces/<name>) and what it holds.

A namespace's body holds its own secrets_engines, auth, policies, secrets
and identity. Every kind plans them as it plans the root's, through a
namespace_view.NamespaceContext (requests carry `X-Vault-Namespace`); their
addresses are prefixed `namespace.<name>:` and they depend on the namespace,
so it is created before what it holds and deleted after it.

Measured on OpenBao 2.7.2:
- a request into a namespace that does not exist answers 404 "namespace not found";
- DELETE of a namespace holding mounts, policies or secrets succeeds and
  destroys them all, asynchronously ({"status": "in-progress"}; the namespace
  reads 404 once it is gone); only one holding child namespaces is refused;
- POST to an existing namespace replaces its custom_metadata (POST {} empties it);
- names may not contain "/" (nesting is a namespace inside a namespace);
- DELETE of a namespace holding another is refused (400 "unable to delete
  namespace containing child namespaces").

A namespace's body may hold `namespaces:` of its own: namespace.a/b is b,
made in a (sys/namespaces/b with X-Vault-Namespace a) after a, deleted
before it; what it holds is addressed namespace.a/b:<address>.

So deleting a namespace that holds anything is refused unless allowed
(--allow-destroy or `allow_destroy:`), like a mount, and
the plan says what it holds.

Namespaces made by hand (neither declared nor recorded) are listed as
unmanaged where they are: at the root, or in the declared namespace they
were made in. `prune: {namespaces: true}` deletes them there, the root's at
the root and a namespace's in it; never one holding a namespace of its own
(that prune never reaches into it, and OpenBao refuses), nor one whose name
no spec could declare: those are left alone, listed, with a warning.
Measured on OpenBao 2.7.2: no built-in namespace is listed (the root's
sys/namespaces LIST answers 404 on a fresh server); a namespace being
deleted is no longer listed; names with ":" or non-ASCII letters are
accepted. The ownership record stays the root's: entries
of objects in a namespace carry its name and the object's own kind.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any, Dict, List, Optional, Tuple

from vaultform.kinds.base import Kind, KindDoc, counted, prevent_destroy_change, record_only
from vaultform.model import FieldChange, Resource
from vaultform.namespace_view import CONTENT_SECTIONS, PRUNE, SECTION, SpecView, namespace_context, namespace_paths
from vaultform.planner_rules import LIST, READ, Rule

PREFIX = "namespace."
SEPARATOR = ":"          # namespace.<name>:<address of the object inside>
DELETE_WAIT = 30.0       # seconds a deletion may take before the run says so
NAME_PATTERN = "^[A-Za-z0-9_][A-Za-z0-9_.-]*$"   # no "/" (OpenBao) and no ":" (the address separator)


def content_prefix(name: str) -> str:
    return f"{PREFIX}{name}{SEPARATOR}"


class InNamespace(Kind):
    """Another kind, applied inside one namespace: every call gets the
    namespace's context instead of the root's. Its name is the kind's own,
    so plans and JSON name it as usual; the address says where it lives."""

    def __init__(self, inner: Kind, namespace: str):
        self.inner, self.namespace = inner, namespace
        self.name, self.rank, self.recorded = inner.name, inner.rank, inner.recorded
        self.defaults, self.replace_fields = inner.defaults, inner.replace_fields
        self.destroys_contents = inner.destroys_contents
        self.prune_key = inner.prune_key

    def __getattr__(self, name: str) -> Any:  # refusal, destroy_verb, auth_type, ...
        return getattr(self.inner, name)

    def _ctx(self, ctx):
        return namespace_context(ctx, self.namespace)

    def read(self, ctx, res):
        child = self._ctx(ctx)
        return None if child.vault_empty else self.inner.read(child, res)

    def diff(self, ctx, res, live):
        return self.inner.diff(self._ctx(ctx), res, live)

    def create(self, ctx, res):
        self.inner.create(self._ctx(ctx), res)

    def update(self, ctx, res, live, changes):
        self.inner.update(self._ctx(ctx), res, live, changes)

    def delete(self, ctx, res):
        self.inner.delete(self._ctx(ctx), res)

    def change_reason(self, change):
        return self.inner.change_reason(change)

    def destroy_notes(self, ctx, res):
        return self.inner.destroy_notes(self._ctx(ctx), res)

    def applied_state(self, res):
        return self.inner.applied_state(res)

    def still_as_recorded(self, ctx, res, live, entry):
        return self.inner.still_as_recorded(self._ctx(ctx), res, live, entry)

    def record_entry(self, ctx, res):
        entry = dict(self.inner.record_entry(self._ctx(ctx), res))
        # Filed under the namespace kind, so a leftover entry comes back
        # through Namespace.from_record, inside its namespace, never at the root.
        entry.update({"kind": Namespace.name, "namespace": self.namespace, "content_kind": self.inner.name})
        return entry

    def pruned(self, ctx) -> bool:
        return self.inner.pruned(self._ctx(ctx))  # the namespace's prune:, never the root's

    def discover(self, ctx):
        return []  # the namespace kind lists what it holds (Namespace.prune_candidates)


def wrap(res: Resource, namespace: str, inner: Kind) -> Resource:
    prefix = content_prefix(namespace)
    if not res.address.startswith(prefix):
        res.address = prefix + res.address
    res.depends_on = [d if d.startswith(prefix) else prefix + d for d in res.depends_on]
    res.depends_on.append(f"{PREFIX}{namespace}")
    res.kind = InNamespace(inner, namespace)
    return res


class Namespace(Kind):
    name = "namespace"
    rank = 20            # before every mount: what lives in it needs it
    destroys_contents = True
    destroy_verb = "delete"
    prune_key = "namespaces"
    parent = ""          # the namespace it is made in ("" the root), whose prune: governs it
    section = SECTION
    counted_as = ("namespace", "namespaces")
    defaults = {"custom_metadata": {}}
    doc = KindDoc("namespaces.<name>", "sys/namespaces/<name>",
                  "an OpenBao namespace holding its own secrets_engines, auth, policies, secrets, identity, "
                  "token_roles, paths, prune and namespaces (addressed namespace.<name>:<address>, a nested one "
                  "namespace.<parent>/<name>); deleting one that holds anything needs consent",
                  address="namespace.<name>")

    @property
    def section_schema(self) -> dict:
        from vaultform.kinds import registry

        sections = {k.section: k.section_schema for k in registry() if k.section in CONTENT_SECTIONS}
        prune_keys = sorted({k.prune_key for k in self.content_kinds() + [self] if k.prune_key})
        return {
            "type": "object",
            "description": "OpenBao namespaces (relative to vault.namespace / VAULT_NAMESPACE), each holding "
                           "its own objects.",
            "propertyNames": {"pattern": NAME_PATTERN},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "custom_metadata": {"type": "object", "additionalProperties": {"type": "string"},
                                        "description": "the namespace's custom metadata (string values)"},
                    "prevent_destroy": {"type": "boolean"},
                    **{name: sections[name] for name in CONTENT_SECTIONS if name in sections},
                    # Namespaces inside it: the same schema again, one level down.
                    SECTION: {"$ref": "#/properties/namespaces"},
                    PRUNE: {"type": "object", "additionalProperties": False,
                            "description": "Opt in, per kind, to deleting objects in this namespace that are "
                                           "neither in its body nor recorded as managed (the root's prune: "
                                           "does not reach into it).",
                            "properties": {key: {"type": "boolean"} for key in prune_keys}},
                },
            },
        }

    def content_kinds(self) -> List[Kind]:
        """The kinds a namespace holds (planned, pruned and listed inside it)."""
        from vaultform.kinds import registry

        return [k for k in registry() if k.rank >= 10 and k is not self and not isinstance(k, Namespace)]

    def at_depth(self, path: str) -> "Namespace":
        """The kind of the namespace at `path`: a child namespace is made
        after its parent and deleted before it (OpenBao refuses to delete a
        namespace holding another), and both before what they hold (rank 30
        and up), so a nested one ranks a hundredth above its parent. One
        kind per parent: its `prune:` decides whether one made by hand goes."""
        parent = path.rpartition("/")[0]
        if not parent:
            return self
        kind = _NESTED.get(parent)
        if kind is None:
            kind = _NESTED[parent] = copy.copy(self)
            kind.rank = Namespace.rank + (parent.count("/") + 1) / 100
            kind.parent = parent
        return kind

    def pruned(self, ctx) -> bool:
        """The prune: of the namespace it is made in (the root's for a top-level one)."""
        return self.pruned_in(ctx, self.parent)

    def pruned_in(self, ctx, parent: str) -> bool:
        """Whether `prune: {namespaces: true}` is on in `parent` ("" the root)."""
        where = namespace_context(ctx, parent) if parent else ctx
        return bool(where.spec.prune(self.prune_key))

    # -- offline ---------------------------------------------------------------
    def summary(self, spec) -> Optional[str]:
        count = len(namespace_paths(spec))
        return counted(count, *self.counted_as) if count else None

    def checks(self, spec):
        from vaultform.checks import semantic_problems

        problems, warnings = [], []
        for name in spec.section(SECTION):
            more, said = semantic_problems(SpecView(spec, name))
            problems += more
            warnings += said
        return problems, warnings

    def planner_rules(self, spec, wildcards, parent: str = ""):
        rules, notes = [], []
        made_in = f"{parent}/" if parent else ""
        if spec.prune(self.prune_key):
            # Namespaces made by hand here, and what each holds (the consent it needs).
            why = f"prune.{self.prune_key}" + (f" in namespace {parent}" if parent else "")
            rules += [Rule(f"{made_in}sys/namespaces/", LIST, f"{why}: find namespaces not in the spec"),
                      Rule(f"{made_in}sys/namespaces/*", READ, f"{why}: every namespace, in the spec or not"),
                      Rule(f"{made_in}+/sys/mounts", READ, f"{why}: what a namespace made by hand holds"),
                      Rule(f"{made_in}+/sys/auth", READ, f"{why}: what a namespace made by hand holds"),
                      Rule(f"{made_in}+/sys/policies/acl/", LIST, f"{why}: what a namespace made by hand holds"),
                      Rule(f"{made_in}+/sys/namespaces/", LIST, f"{why}: what a namespace made by hand holds")]
        for name in sorted(spec.section(SECTION)):
            # A policy in a parent namespace grants on a child's paths prefixed
            # with its name (measured on OpenBao 2.7.2), grandchildren included.
            path = f"{made_in}{name}"
            rules += [Rule(f"{made_in}sys/namespaces/{name}", READ, f"namespace.{path}"),
                      Rule(f"{path}/sys/mounts", READ, f"namespace.{path}: its secrets engines"),
                      Rule(f"{path}/sys/auth", READ, f"namespace.{path}: its auth methods"),
                      Rule(f"{path}/sys/policies/acl/", LIST, f"namespace.{path}: what it holds, when deleted"),
                      Rule(f"{path}/sys/namespaces/", LIST, f"namespace.{path}: what it holds, when deleted")]
            view = SpecView(spec, name)
            for kind in self.content_kinds():
                inner_rules, inner_notes = kind.planner_rules(view, wildcards)
                rules += [Rule(f"{path}/{r.path}", r.capability, f"{content_prefix(path)}{r.why}")
                          for r in inner_rules]
                notes += [f"in namespace {path}: {n}" for n in inner_notes]
            more, said = self.planner_rules(view, wildcards, path)
            rules += more
            notes += said
        return rules, notes

    # -- from the spec -----------------------------------------------------------
    def resources(self, spec, ctx, parent: str = "") -> List[Resource]:
        out: List[Resource] = []
        for name, body in spec.section(SECTION).items():
            body = body or {}
            path = f"{parent}/{name}" if parent else name
            res = Resource(kind=self.at_depth(path), address=f"{PREFIX}{path}", id=path,
                           desired={"custom_metadata": dict(body.get("custom_metadata") or {})},
                           location=spec.key_loc(SECTION, name), prevent_destroy=bool(body.get("prevent_destroy")))
            if parent:
                res.depends_on = [f"{PREFIX}{parent}"]
            out.append(res)
            child = namespace_context(ctx, path)
            for kind in self.content_kinds():
                out += [wrap(r, path, kind) for r in kind.resources(child.spec, child)]
            out += self.resources(child.spec, ctx, path)
        return out

    def from_record(self, address: str, entry: dict) -> Optional[Resource]:
        inner_name = entry.get("content_kind")
        if not inner_name:
            res = super().from_record(address, entry)
            res.kind = self.at_depth(res.id)
            parent = res.id.rpartition("/")[0]
            res.depends_on = [f"{PREFIX}{parent}"] if parent else []
            return res
        from vaultform.kinds import by_name

        inner = by_name().get(inner_name)
        namespace = entry.get("namespace")
        if inner is None or not namespace:
            return None
        res = inner.from_record(address, {**entry, "kind": inner_name})
        return wrap(res, namespace, inner) if res is not None else None

    # -- against Vault -------------------------------------------------------------
    # A namespace is made, read and deleted in its parent (the root's context
    # for a top-level one), by its own name there: OpenBao's sys/namespaces/
    # takes one segment.
    def read(self, ctx, res) -> Optional[Dict[str, Any]]:
        here = namespace_context(ctx, res.id)
        if here.parent.vault_empty:
            return None
        response = here.parent.api.read(f"sys/namespaces/{here.leaf}")
        data = (response or {}).get("data")
        if not data:
            return None  # absent, or being deleted (OpenBao answers {"errors": []} meanwhile)
        return {"custom_metadata": dict(data.get("custom_metadata") or {})}

    def diff(self, ctx, res, live) -> List[FieldChange]:
        return super().diff(ctx, res, live) + prevent_destroy_change(ctx, res)

    def change_reason(self, change) -> str:
        if record_only(change.fields):
            return "prevent_destroy changed in the spec; only the ownership record is written"
        return change.reason

    def create(self, ctx, res) -> None:
        here = namespace_context(ctx, res.id)
        here.parent.api.write(f"sys/namespaces/{here.leaf}", {"custom_metadata": res.desired["custom_metadata"]})
        here.set_exists(True)

    def update(self, ctx, res, live, changes) -> None:
        if any(c.name == "custom_metadata" for c in changes):
            # POST replaces custom_metadata on an existing namespace (measured).
            here = namespace_context(ctx, res.id)
            here.parent.api.write(f"sys/namespaces/{here.leaf}", {"custom_metadata": res.desired["custom_metadata"]})

    def delete(self, ctx, res) -> None:
        from vaultform.errors import VaultRequestError

        here = namespace_context(ctx, res.id)
        api = here.parent.api
        api.delete(f"sys/namespaces/{here.leaf}")
        # OpenBao deletes a namespace in the background: done when it reads 404.
        deadline = time.monotonic() + DELETE_WAIT
        while api.read(f"sys/namespaces/{here.leaf}") is not None:
            if time.monotonic() > deadline:
                raise VaultRequestError(f"namespace {res.id} was still being deleted after {DELETE_WAIT:.0f} s")
            time.sleep(0.1)
        here.set_exists(False)

    def destroy_notes(self, ctx, res) -> List[str]:
        held = self.holdings(ctx, res.id, res.meta)
        if not held:
            res.meta["deletable"] = True  # an empty namespace takes nothing with it
            return [f"namespace {res.id} holds nothing"]
        return [f"deleting namespace {res.id} destroys everything in it: {'; '.join(held)}"]

    def holdings(self, ctx, name: str, meta: Optional[dict] = None) -> List[str]:
        """What the namespace holds, by what OpenBao lists in it (built-ins
        left out); its child namespaces also go into `meta` (for refusal)."""
        api = namespace_context(ctx, name).api
        held = []
        mounts = _table(api, "sys/mounts", {"sys", "identity", "cubbyhole"})
        auths = _table(api, "sys/auth", {"token"})
        policies = [p for p in api.list("sys/policies/acl") if p not in ("default", "root")]
        children = [c.rstrip("/") for c in api.list("sys/namespaces")]
        if meta is not None:
            meta["children"] = children
        for what, names in (("secrets engines", mounts), ("auth methods", auths), ("policies", policies),
                            ("namespaces", children)):
            if names:
                held.append(f"{what} {', '.join(sorted(names))}")
        return held

    def refusal(self, change, changes) -> str:
        """OpenBao refuses to delete a namespace holding another (400 "unable
        to delete namespace containing child namespaces", measured on 2.7.2):
        every child must go in this plan too, before it."""
        if change.action != "delete":
            return ""
        going = {c.address for c in changes if c.action == "delete"}
        kept = sorted(child for child in change.resource.meta.get("children") or ()
                      if f"{PREFIX}{change.resource.id}/{child}" not in going)
        if not kept:
            return ""
        return (f"refusing to delete {change.address}: it holds namespace(s) {', '.join(kept)} that this plan does "
                "not delete (made by hand, or left alone after a change by hand), and OpenBao refuses to delete a "
                "namespace holding another; delete them first, or add them to the spec under "
                f"namespaces.{change.resource.id.replace('/', '.namespaces.')}.namespaces")

    def discover(self, ctx) -> List[Resource]:
        return []

    def unmanaged(self, ctx, known: set) -> Dict[str, List[str]]:
        """Namespaces made by hand (at the root and in every declared
        namespace), and what each declared namespace holds that neither the
        spec nor the record names, by the kinds a namespace holds, addressed
        namespace.<name>:<address>; each namespace's own `prune:` decides
        there. A namespace not made yet holds nothing; one this token may not
        read, or a kind it may not list there, is left out (as at the root)."""
        from vaultform.errors import VaultformError

        kinds = [k for k in self.content_kinds() if k.prune_key]
        found: Dict[str, List[str]] = {}
        for parent in [""] + namespace_paths(ctx.spec):
            try:
                # Those prune: deletes are planned instead; those it leaves alone stay listed.
                found.setdefault(self.name, []).extend(
                    res.address for res, kept in self.made_by_hand(ctx, parent)
                    if res.address not in known and (kept or not self.pruned_in(ctx, parent)))
            except VaultformError:
                pass
        for name in namespace_paths(ctx.spec):
            child = namespace_context(ctx, name)
            try:
                if child.vault_empty:
                    continue
            except VaultformError:
                continue
            for kind in kinds:
                if kind.pruned(child):
                    continue  # planned for deletion instead
                try:
                    addresses = [wrap(r, name, kind).address for r in kind.discover(child)]
                except VaultformError:
                    continue
                found.setdefault(kind.name, []).extend(a for a in addresses if a not in known)
        return {kind: addresses for kind, addresses in found.items() if addresses}

    def prune_candidates(self, ctx) -> List[Resource]:
        """What each `prune:` would delete: namespaces made by hand where it
        is (the root's, or a declared namespace's), and what each declared
        namespace's own `prune:` deletes in it."""
        out: List[Resource] = []
        for parent in [""] + namespace_paths(ctx.spec):
            if not self.pruned_in(ctx, parent):
                continue
            for res, kept in self.made_by_hand(ctx, parent):
                if not kept:
                    if parent:
                        res.meta["reason"] = f"not in the spec, and prune.{self.prune_key} is on in namespace {parent}"
                    out.append(res)
        for name in namespace_paths(ctx.spec):
            child = namespace_context(ctx, name)
            if child.vault_empty:
                continue  # not made yet: it holds nothing
            for kind in self.content_kinds():
                if not kind.pruned(child):
                    continue
                for res in kind.discover(child):
                    res = wrap(res, name, kind)
                    res.meta["reason"] = f"not in the spec, and prune.{kind.prune_key} is on in namespace {name}"
                    out.append(res)
        return out

    def plan_warnings(self, ctx) -> List[str]:
        """Namespaces made by hand that a `prune: {namespaces: true}` leaves alone, and why."""
        from vaultform.errors import VaultformError

        said = []
        for parent in [""] + namespace_paths(ctx.spec):
            if not self.pruned_in(ctx, parent):
                continue
            try:
                left = [(res, kept) for res, kept in self.made_by_hand(ctx, parent) if kept]
            except VaultformError:
                continue
            where = f" in namespace {parent}" if parent else ""
            said += [f"{res.address} is not pruned (prune.{self.prune_key} is on{where}): {kept}" for res, kept in left]
        return said

    def made_by_hand(self, ctx, parent: str) -> List[Tuple[Resource, str]]:
        """The namespaces in `parent` ("" the root) that neither the spec
        nor the record names, each with why prune would leave it alone ("" if
        it would not). Listed once per run (LIST sys/namespaces there)."""
        def load() -> List[Tuple[Resource, str]]:
            where = namespace_context(ctx, parent) if parent else ctx
            if where.vault_empty:
                return []
            known = {f"{PREFIX}{path}" for path in namespace_paths(ctx.spec)} | set(ctx.record.objects)
            out = []
            for key in sorted(where.api.list("sys/namespaces")):
                leaf = key.rstrip("/")
                path = f"{parent}/{leaf}" if parent else leaf
                if f"{PREFIX}{path}" in known:
                    continue
                res = Resource(kind=self.at_depth(path), address=f"{PREFIX}{path}", id=path,
                               depends_on=[f"{PREFIX}{parent}"] if parent else [])
                out.append((res, self._kept(ctx, path)))
            return out

        return ctx.cached(f"namespaces-by-hand:{parent}", load)

    def _kept(self, ctx, path: str) -> str:
        """Why prune leaves the namespace at `path` alone, or ""."""
        leaf = path.rpartition("/")[2]
        if not re.fullmatch(NAME_PATTERN, leaf):
            return "no spec could name it (names are letters, digits, _, - and .)"
        if not self.pruned_in(ctx, path.rpartition("/")[0]):
            return ""  # not asked: only listed, no need to look inside
        children = sorted(c.rstrip("/") for c in namespace_context(ctx, path).api.list("sys/namespaces"))
        if children:
            return (f"it holds namespace(s) {', '.join(children)}, which that prune never reaches into, and OpenBao "
                    "refuses to delete a namespace holding another; delete them first")
        return ""


def _table(api, path: str, builtins) -> List[str]:
    data = api.read(path) or {}
    data = data.get("data") or {k: v for k, v in data.items() if k.endswith("/")}
    return [k.rstrip("/") for k in data if k.endswith("/") and k.rstrip("/") not in builtins]


_NESTED: Dict[str, Namespace] = {}  # parent path -> the kind of namespaces made in it (Namespace.at_depth)

KINDS = [Namespace()]
