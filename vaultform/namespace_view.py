"""What the kinds see inside one namespace: a spec view and a context.

A namespace's body (`namespaces.<name>`) is a spec of its own: the kinds
plan it exactly as they plan the root, through a SpecView (the body's
sections, with locations pointing into the real spec file) and a
NamespaceContext (a VaultAPI sending `X-Vault-Namespace: <root>/<name>`,
its own mount-table cache, and the root's ownership record). Nothing else
in vaultform needs to know namespaces exist.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional

from vaultform.connection import VaultAPI
from vaultform.context import Context
from vaultform.errors import VaultformError

SECTION = "namespaces"
# The sections a namespace holds (issue 11: its own engines, auth, policies,
# secrets, identity; and, as at the root, its token store's roles and generic paths).
CONTENT_SECTIONS = ("secrets_engines", "auth", "policies", "secrets", "identity", "token_roles", "paths")
# What else a namespace's body says about what it holds.
PRUNE = "prune"


def full_namespace(root: Optional[str], name: str) -> str:
    """The X-Vault-Namespace of `name`: relative to the root the spec is
    relative to (vault.namespace / VAULT_NAMESPACE)."""
    root = (root or "").strip("/")
    return f"{root}/{name}" if root else name


class SpecView:
    """`namespaces.<name>` read as a spec: the sections are the body's, the
    locations the real file's, settings that belong to the whole spec
    (record, connection) the root's. `prune:` is the body's own: the root's
    prune settings never reach into a namespace, nor the other way round.
    A body's own `namespaces:` nest the same way: the view of `a/b` is the
    view of `b` in the view of `a`."""

    def __init__(self, parent, name: str):
        self.parent, self.name = parent, name
        nested = isinstance(parent, SpecView)
        self.root = parent.root if nested else parent
        self.namespace_path = f"{parent.namespace_path}/{name}" if nested else name
        self.path, self.doc, self.warnings = self.root.path, self.root.doc, self.root.warnings

    @property
    def data(self) -> dict:
        body = self.parent.section(SECTION).get(self.name) or {}
        return {k: v for k, v in body.items() if k in CONTENT_SECTIONS or k in (PRUNE, SECTION)}

    @property
    def doc_prefix(self) -> tuple:
        """Where the body is in the file's document: ("namespaces", "a", "namespaces", "b")."""
        return (*getattr(self.parent, "doc_prefix", ()), SECTION, self.name)

    @property
    def base_dir(self):
        return self.root.base_dir

    def section(self, name: str) -> dict:
        return self.data.get(name) or {}

    def loc(self, *path: Any):
        return self.parent.loc(SECTION, self.name, *path)

    def key_loc(self, *path: Any):
        return self.parent.key_loc(SECTION, self.name, *path)

    @property
    def cluster(self) -> None:
        return None

    @property
    def record_location(self) -> dict:
        return self.root.record_location

    def prune(self, kind_key: str) -> bool:
        # Safe with the root's record: entries of objects in this namespace
        # carry its address prefix, so what this spec made here is known, and
        # nothing outside the namespace is listed from inside it.
        return bool(self.section(PRUNE).get(kind_key))


def spec_view(root, path: str) -> SpecView:
    """The view of namespace `path` ("a" or "a/b", relative to the spec's root)."""
    view = root
    for name in path.split("/"):
        view = SpecView(view, name)
    return view


def namespace_paths(spec) -> List[str]:
    """Every namespace the spec (or a namespace's view) declares, parents
    before their children: "a", "a/b", ..."""
    out: List[str] = []
    for name in spec.section(SECTION):
        out.append(name)
        out += [f"{name}/{child}" for child in namespace_paths(SpecView(spec, name))]
    return out


class _RootRecord:
    """The root's ownership record, seen from inside a namespace: entries are
    the root's (addresses carry the namespace), and fingerprints use the
    root's key, read with the root's API whatever API the kind passes."""

    def __init__(self, root_ctx: Context):
        self._root = root_ctx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._root.record, name)

    def fingerprint(self, api, value: str) -> str:
        return self._root.record.fingerprint(self._root.api, value)

    def has_fingerprint_key(self, api) -> bool:
        return self._root.record.has_fingerprint_key(self._root.api)


class NamespacedAPI(VaultAPI):
    """A VaultAPI whose errors say which namespace they happened in (the
    paths alone, such as sys/mounts, would read as the root's)."""

    def _call(self, method, path, fn, missing=None):
        try:
            return super()._call(method, path, fn, missing)
        except VaultformError as exc:
            exc.message = f"{exc.message} (in namespace {self.namespace})"
            exc.args = (exc.message,)
            raise


class NamespaceContext(Context):
    """The root context, with requests sent into one namespace."""

    def __init__(self, root: Context, name: str):  # noqa: the root already did Context's work
        self.root, self.name = root, name  # name: the path from the spec's root, "a" or "a/b"
        self.spec = spec_view(root.spec, name)
        self.cluster = None
        self.initialized_now = False
        self._ready_hooks: List = []
        self._cache: Dict[str, Any] = {}
        self._lock = threading.Lock()
        self._locks: Dict[str, threading.Lock] = {}
        self._api: Optional[VaultAPI] = None
        self._api_lock = threading.Lock()

    @property
    def namespace(self) -> str:
        return full_namespace(self.root.api.namespace if self.root.api else None, self.name)

    @property
    def api(self) -> Optional[VaultAPI]:
        root = self.root.api
        if root is None:
            return None
        with self._api_lock:
            # Made again when the root's token or node changed (a token taken
            # late, a cluster's leader that moved).
            if self._api is None or self._api.address != root.address or \
                    self._api.client.token != root.client.token:
                api = NamespacedAPI(root.address, token=root.client.token, namespace=self.namespace, verify=root.verify)
                api.token_source = root.token_source
                self._api = api
            return self._api

    @property
    def record(self):
        return _RootRecord(self.root)

    @property
    def parent(self) -> Context:
        """The context a namespace is made in: the root's, or its parent namespace's."""
        parent = self.name.rpartition("/")[0]
        return namespace_context(self.root, parent) if parent else self.root

    @property
    def leaf(self) -> str:
        return self.name.rpartition("/")[2]

    @property
    def exists(self) -> bool:
        """Whether the namespace is in Vault (read once per run, then kept
        up to date by the namespace kind's create and delete)."""
        key = f"namespace-exists:{self.name}"
        parent = self.parent
        return self.root.cached(key, lambda: not parent.vault_empty and
                                parent.api.read(f"sys/namespaces/{self.leaf}") is not None)

    def set_exists(self, value: bool) -> None:
        key = f"namespace-exists:{self.name}"
        self.root.forget(key)
        self.root.cached(key, lambda: value)
        if not value:
            self._cache.clear()  # its mount tables went with it

    @property
    def vault_empty(self) -> bool:
        # A namespace not created yet holds nothing; every request into it
        # would be answered "namespace not found" (404, measured on OpenBao 2.7.2).
        return self.root.vault_empty or not self.exists

    @vault_empty.setter
    def vault_empty(self, value: bool) -> None:
        pass  # the root's to say

    def ensure_token(self) -> None:
        self.root.ensure_token()

    def prepare_for_config(self) -> None:
        self.root.prepare_for_config()

    def token(self):
        return self.root.token()

    def follow_active_node(self) -> bool:
        return self.root.follow_active_node()


def namespace_context(root: Context, name: str) -> NamespaceContext:
    """One NamespaceContext per namespace and run (its caches are shared by
    every object in the namespace). `name` is a path ("a/b" is b inside a),
    relative to `root`, which may itself be a namespace's context."""
    if isinstance(root, NamespaceContext):
        root, name = root.root, f"{root.name}/{name}"
    return root.cached(f"namespace-context:{name}", lambda: NamespaceContext(root, name))
