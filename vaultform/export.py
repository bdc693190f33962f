"""Turn a live Vault into a spec: `vaultform export`.

The kinds already know how to read each object into its normalised fields
(the form a plan compares); export reads every object Vault holds that a
kind describes and writes back the spec that would produce exactly it:
fields equal to Vault's default are left out, durations are written with
units, and built-ins (the token auth method, sys/, identity/, cubbyhole/,
the root and default policies, entities that logins made) and vaultform's
own record mount are skipped. So `plan` against the exported spec is empty.

Values are never written into the spec:
- a KV secret's keys become `{env: VF_...}` placeholders, or, with a
  directory for secret values, one 0600 file per key referenced as
  `{file: ...}`;
- a write-only field (a userpass password, a reviewer JWT) cannot be read
  back at all, so it is written as a commented-out placeholder: uncommenting
  it puts the field under management.

Namespaces (`namespaces:`) are exported with what each holds, read by the
same code through a namespace context (requests carry X-Vault-Namespace).
Audit devices (`audit:`) come from sys/audit; an option that can carry a
credential (an http device's `headers`, a URI with a user and password) is
left out with a note, since sys/audit returns it in clear.

Output is sorted and carries no timestamp: exporting an unchanged Vault
again gives the same bytes.

Reads run concurrently (concurrency.adaptive_map, as the plan's do): each
section is listed first, then its objects are read with as many requests in
flight as pay, which across a WAN link is what makes a Vault of thousands of
objects take seconds instead of thousands of round trips. The reads only
read: every result (and every error, kept as the object's outcome) is then
applied on the calling thread in the order the objects were listed — put in
the document, noted, a secret value written to its file — so the output,
the notes and the point where an error stops the export are those of
reading one object after another.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

import yaml

from vaultform.concurrency import adaptive_map
from vaultform.errors import PermissionDenied, VaultformError, VaultRequestError
from vaultform.kinds import registry
from vaultform.kinds.audit_device import DEFAULTS as AUDIT_DEFAULTS
from vaultform.kinds.audit_device import carries_credential, read_devices
from vaultform.kinds.base import Kind, counted
from vaultform.kinds.mounts import MOUNT_FLAGS, kv_version
from vaultform.kinds.secrets_engine import KV_LIST_LIMIT, list_kv_secrets
from vaultform.model import Resource
from vaultform.names import segment_problem
from vaultform.namespace_view import CONTENT_SECTIONS, NamespaceContext, namespace_context
from vaultform.render.text import one_line

# Sections export can write, and the kind names that also select them.
SECTIONS = ("secrets_engines", "auth", "policies", "secrets", "identity", "token_roles", "audit", "namespaces")
KIND_SECTIONS = {"secrets_engine": "secrets_engines", "auth_method": "auth", "policy": "policies",
                 "secret": "secrets", "identity_entity": "identity", "identity_group": "identity",
                 "token_role": "token_roles", "audit_device": "audit", "namespace": "namespaces"}
# Where each namespace's secret values go under --secret-values-to: "@" never
# appears in a root mount's directory (_file_name turns it into "_").
NAMESPACE_VALUES_DIR = "@namespaces"
WRITE_ONLY_MARK = "#vaultform-write-only# "
_DURATION_UNITS = (("h", 3600), ("m", 60), ("s", 1))


class ExportError(VaultformError):
    """Export cannot go on (an unsafe directory for secret values)."""


# A file name's longest (NAME_MAX), and a path's longest kept well under PATH_MAX.
NAME_MAX, PATH_MAX = 255, 3800


def _digest(raw: Tuple[str, ...]) -> str:
    return hashlib.sha256(json.dumps(raw).encode("utf-8")).hexdigest()


@dataclass
class _Names:
    """The placeholder variables and value files one export has handed out,
    each with what it holds: names are made from Vault's names with the
    characters a variable or file name cannot hold replaced, and several
    can come out the same (kv/a-b and kv/a_b; keys pass-word and Pass_Word;
    namespaces team-a and team_a; a secret kv/d with a key e beside a
    secret kv/d/e). One name for two values would have an apply write one
    value to both: the second and later get their own, suffixed with a
    digest of what they hold (deterministic: export reads in sorted order)."""
    variables: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    files: Dict[Path, Tuple[str, ...]] = field(default_factory=dict)
    dirs: Set[Path] = field(default_factory=set)

    def variable(self, raw: Tuple[str, ...]) -> str:
        base = name = _env_name(*raw[1:])
        size = 8
        while self.variables.setdefault(name, raw) != raw:
            name, size = f"{base}_{_digest(raw)[:size].upper()}", size + 4
        return name

    def _free(self, path: Path, raw: Tuple[str, ...]) -> bool:
        return (all(len(part.encode("utf-8")) <= NAME_MAX for part in path.parts) and len(str(path)) <= PATH_MAX
                and self.files.get(path, raw) == raw and path not in self.dirs
                and not any(parent in self.files for parent in path.parents))

    def file(self, directory: Path, parts: Tuple[str, ...], raw: Tuple[str, ...]) -> Path:
        """directory/<mount>/<path segments>/<key>, or where that is taken or
        too long, directory/<mount>/<key>@<digest> ('@' is in no other name)."""
        path = directory.joinpath(*map(_file_name, parts))
        size = 16
        while not self._free(path, raw):
            if size > 64:  # the whole digest: only a directory itself too long for the file system is left
                raise ExportError(f"--secret-values-to: no file name fits under {directory} for "
                                  f"{'/'.join(raw[-3:])!r}; choose a shorter directory")
            path = directory / _file_name(parts[0])[:100] / f"{_file_name(parts[-1])[:100]}@{_digest(raw)[:size]}"
            size += 8
        self.files[path] = raw
        self.dirs.update(path.parents)
        return path


@dataclass(frozen=True)
class _Unnamed:
    """A placeholder variable to be named (_Names.variable) from what it holds."""
    raw: Tuple[str, ...]


@dataclass
class Exported:
    doc: Dict[str, Any] = field(default_factory=lambda: {"version": 1})
    notes: List[str] = field(default_factory=list)
    env_placeholders: List[str] = field(default_factory=list)
    # Leads every placeholder variable's name (a namespace's name), so one in
    # a namespace never shares a variable with the root's object of that name.
    env_prefix: Tuple[str, ...] = ()
    # Shared with the namespaces' own: one set of names for the whole export.
    names: _Names = field(default_factory=_Names)

    def put(self, path: Tuple[str, ...], value: Any) -> None:
        if isinstance(value, dict):  # a write-only field's placeholder gets its variable now, in order
            value = {k: "{env: " + self.names.variable(v.raw) + "}" if isinstance(v, _Unnamed) else v
                     for k, v in value.items()}
        node = self.doc
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value


def sections_for(include: Iterable[str]) -> List[str]:
    chosen = []
    for name in include:
        section = KIND_SECTIONS.get(name, name)
        if section not in SECTIONS:
            raise VaultformError(f"--include {name}: not a section or kind export knows "
                                 f"(one of: {', '.join(SECTIONS + tuple(sorted(KIND_SECTIONS)))})")
        chosen.append(section)
    return chosen or list(SECTIONS)


def duration_text(seconds: Any) -> Any:
    """3600 -> "1h", 5400 -> "90m", 45 -> "45s": how people write them."""
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
        return seconds
    for unit, size in _DURATION_UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return seconds


def _env_name(*parts: str) -> str:
    return "VF_" + re.sub(r"[^A-Za-z0-9]+", "_", "_".join(parts)).strip("_").upper()


# -- reading concurrently -----------------------------------------------------------------


class _Failed:
    """What a read raised, kept as its item's outcome."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException):
        self.exc = exc


def _gather(ctx, fn, items: Iterable[Any]) -> List[Any]:
    """fn over items, concurrently, outcomes in the items' order. An exception
    is the item's outcome instead of being raised here: the caller applies
    the outcomes in order (_ok) and so raises it where reading one item after
    another would have, after everything before it was applied. fn only
    reads: it must not touch the Exported, the files or anything shared."""
    def attempt(item):
        try:
            return fn(item)
        except Exception as exc:  # noqa: BLE001 -- raised again by _ok, in order
            return _Failed(exc)
    return adaptive_map(attempt, items, pushback=lambda: getattr(ctx.api, "pushback", 0), name="vaultform-export")


def _ok(outcome: Any) -> Any:
    if isinstance(outcome, _Failed):
        raise outcome.exc
    return outcome


# -- objects of one kind ------------------------------------------------------------------


def _body(kind: Kind, live: Dict[str, Any], res: Optional[Resource] = None) -> Dict[str, Any]:
    """The spec fields for what Vault reports: defaults left out, durations with units,
    the flags Vault answers instead of a write-only value left out."""
    flags = set(kind.write_only_fields(res).values()) if res is not None and hasattr(kind, "write_only_fields") \
        else set()
    body = {}
    for name, value in sorted(live.items()):
        if name in flags or (name in kind.defaults and kind.defaults[name] == value):
            continue
        is_duration = getattr(kind, "is_duration", None)
        body[name] = duration_text(value) if is_duration and is_duration(name) else value
    return body


def _write_only_placeholders(kind: Kind, res: Resource, where: str, env_prefix: Tuple[str, ...]) -> Dict[str, str]:
    fields = kind.write_only_fields(res) if hasattr(kind, "write_only_fields") else {}
    # Named by Exported.put, on the calling thread in listing order: names are handed out one by one.
    return {WRITE_ONLY_MARK + name: _Unnamed(("write-only", *env_prefix, where, name)) for name in sorted(fields)}


def _own_mount(ctx, path: str) -> bool:
    """vaultform's record mount is the root's: a namespace's mount of that name is the user's."""
    return not isinstance(ctx, NamespaceContext) and ctx.record.is_own_mount(path)


def _read(kind: Kind, ctx, res: Resource, what: str, notes: List[str]) -> Optional[Dict[str, Any]]:
    try:
        return kind.read(ctx, res)
    except PermissionDenied:
        notes.append(f"{what}: not exported, this token may not read it")
    except VaultRequestError as exc:
        notes.append(f"{what}: not exported ({exc})")
    return None


def _read_all(kind: Kind, ctx, res: Resource, notes: List[str]) -> Optional[Dict[str, Any]]:
    """Every field Vault returns for the object, in the kind's normal form: a
    kind's read keeps only the fields a plan compares (the spec's and the
    defaults), which would leave out the ones without a default (a Kubernetes
    role's bound service accounts)."""
    try:
        data = ((ctx.api.read(res.meta["path"]) or {}).get("data"))
    except PermissionDenied:
        notes.append(f"{res.address}: not exported, this token may not read it")
        return None
    except VaultRequestError as exc:
        notes.append(f"{res.address}: not exported ({exc})")
        return None
    if data is None:
        return None
    if not hasattr(kind, "live_from") or getattr(kind, "engine", None):
        return _read(kind, ctx, res, res.address, notes)  # engine objects know their own reads
    res.meta["state_fields"] = list(data)
    return kind.live_from(res, data)


def _mount_body(kind, ctx, path: str, tune_key: str) -> Dict[str, Any]:
    live = kind.read(ctx, Resource(kind=kind, address=f"{kind.name}.{path}", id=path))
    body: Dict[str, Any] = {"type": live["type"]}
    if live.get("description"):
        body["description"] = live["description"]
    if live.get("options"):
        body["options"] = live["options"]
    tuning = {}
    for name, default in kind.tuning_defaults.items():
        value = live.get(f"config.{name}", default)
        if value != default:
            tuning[name] = duration_text(value) if name.endswith("lease_ttl") else value
    if tuning:
        body[tune_key] = tuning
    for flag in MOUNT_FLAGS:
        if live.get(flag):
            body[flag] = True
    return body


def _mount_paths(kind, mount: str, section: str):
    """Whether the kind has named objects in a mount (roles, users, keys) or
    one config, where they are listed, and the path of each."""
    many = getattr(kind, "many", kind.spec_key not in ("config", "kv", "urls", "root_ca", "intermediate_ca"))
    if section == "auth":
        base = f"auth/{mount}"
        path_of = (lambda name: f"{base}/{kind.role_dir}/{name}") if many else (lambda name: f"{base}/config")
        listing = f"{base}/{getattr(kind, 'role_dir', 'role')}"
    else:
        path_of = lambda name: kind.object_path(mount, name)  # noqa: E731
        listing = f"{mount}/{getattr(kind, 'object_dir', '')}"
    return many, listing, path_of


def _list_in_mount(ctx, kind, mount: str, section: str) -> Tuple[Optional[List[Optional[str]]], List[str]]:
    """The names of the kind's objects in the mount ([None] for its one
    config), or None with a note when this token may not list them."""
    many, listing, _ = _mount_paths(kind, mount, section)
    if not many:
        return [None], []
    try:
        return sorted(n for n in ctx.api.list(listing) if not n.endswith("/")), []
    except PermissionDenied:
        return None, [f"{listing}/: not listed, this token may not list it"]


def _read_in_mount(ctx, kind, mount: str, mount_type: str, section: str, name: Optional[str],
                   env_prefix: Tuple[str, ...]) -> Tuple[Optional[Tuple[str, ...]], Any, List[str]]:
    """One object (or config) of a typed kind: where it goes in the document
    (None: nowhere), its body, and notes. Only reads."""
    many, _, path_of = _mount_paths(kind, mount, section)
    ident = f"{mount}/{name}" if many else mount
    res = Resource(kind=kind, address=f"{kind.name}.{ident}", id=ident,
                   meta={"path": path_of(name), "auth_type": mount_type})
    notes: List[str] = []
    live = _read_all(kind, ctx, res, notes)
    if live is None:
        return None, None, notes
    body = {**_body(kind, live, res), **_write_only_placeholders(kind, res, f"{section}_{ident}", env_prefix)}
    if many:
        return (section, mount, kind.spec_key, name), body, notes
    return ((section, mount, kind.spec_key) if body else None), body, notes


def _typed(section: str, mount_type: str, kv2: bool = False) -> List[Kind]:
    kinds = []
    for kind in registry():
        if kind.mount_section != section or kind.mount_type != mount_type or kind.spec_key_schema is None:
            continue
        if kind.mount_condition is not None and not kv2:
            continue  # the KV v2 settings: only on a KV v2 mount
        kinds.append(kind)
    return kinds


def _export_mounts(ctx, out: Exported, wanted: List[str]) -> None:
    by_name = {k.name: k for k in registry()}
    # What reading mount after mount would do, in its order: a mount's body
    # (from the mount table, already read), a note, the objects of a kind.
    steps: List[Tuple[str, Any]] = []
    if "secrets_engines" in wanted:
        engines = by_name["secrets_engine"]
        for path, entry in sorted(ctx.secret_mounts().items()):
            if path in engines.builtins or _own_mount(ctx, path):
                continue
            steps.append(("put", (("secrets_engines", path), _mount_body(engines, ctx, path, engines.tune_key))))
            version = kv_version(entry.get("type", ""), entry.get("options"))
            for kind in _typed("secrets_engines", "kv" if version else entry.get("type", ""), kv2=version == "2"):
                steps.append(("kind", (kind, path, entry.get("type", ""), "secrets_engines")))
    if "auth" in wanted:
        methods = by_name["auth_method"]
        for path, entry in sorted(ctx.auth_mounts().items()):
            if path in methods.builtins:
                continue
            steps.append(("put", (("auth", path), _mount_body(methods, ctx, path, methods.tune_key))))
            kinds = _typed("auth", entry.get("type", ""))
            if not kinds:
                steps.append(("note", f"auth/{path}/ is of type {entry.get('type')}, which vaultform does not "
                                      "type: its config and roles are not exported"))
            for kind in kinds:
                steps.append(("kind", (kind, path, entry.get("type", ""), "auth")))

    # Every kind's listing, then every object's read: concurrently, each.
    kinds = [what for step, what in steps if step == "kind"]
    listings = _gather(ctx, lambda k: _list_in_mount(ctx, k[0], k[1], k[3]), kinds)
    # Past a listing that failed, reading in order would have stopped.
    failed = next((i for i, o in enumerate(listings) if isinstance(o, _Failed)), len(listings))
    objects = [(i, name) for i, outcome in enumerate(listings[:failed]) for name in (outcome[0] or [])]
    reads = _gather(ctx, lambda item: _read_in_mount(ctx, *kinds[item[0]], item[1], out.env_prefix), objects)
    by_kind: Dict[int, List[Any]] = {}
    for (i, _), outcome in zip(objects, reads):
        by_kind.setdefault(i, []).append(outcome)

    index = 0
    for step, what in steps:
        if step == "put":
            out.put(*what)
        elif step == "note":
            out.notes.append(what)
        else:
            names, notes = _ok(listings[index])
            out.notes += notes
            for outcome in by_kind.get(index, []):
                where, body, notes = _ok(outcome)
                out.notes += notes
                if where is not None:
                    out.put(where, body)
            index += 1


def _export_discovered(ctx, out: Exported, kind_name: str, where: Tuple[str, ...], wanted: List[str],
                       section: str) -> None:
    if section not in wanted:
        return
    kind = next(k for k in registry() if k.name == kind_name)

    def read(res: Resource) -> Tuple[Optional[Dict[str, Any]], List[str]]:
        notes: List[str] = []
        return _read(kind, ctx, res, res.address, notes), notes

    found = kind.discover(ctx)
    for res, outcome in zip(found, _gather(ctx, read, found)):
        live, notes = _ok(outcome)
        out.notes += notes
        if live is None:
            continue
        value = live["policy"] if kind_name == "policy" else \
            {**_body(kind, live, res), **_write_only_placeholders(kind, res, f"{section}_{res.id}", out.env_prefix)}
        out.put(where + (res.id,), value)


# -- KV secrets ---------------------------------------------------------------------------------


def private_dir(directory: str) -> Path:
    """The directory for secret values: made 0700, refused when others may read it."""
    path = Path(directory)
    if path.is_symlink():
        raise ExportError(f"--secret-values-to {directory}: is a symbolic link; give the directory itself")
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
    if not path.is_dir():
        raise ExportError(f"--secret-values-to {directory}: not a directory")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ExportError(f"--secret-values-to {directory}: others may read or enter it (mode {mode:04o}); "
                          f"chmod 700 it first")
    return path


# A secret's path as the spec's secrets: section takes it (spec-base.json).
_SPEC_SECRET_PATH = re.compile(r"^[^/\s]+(/[^/\s]+)+$")


def _unnamable(path: str) -> str:
    """Why a spec cannot name this secret made by hand, or ""."""
    problems = [segment_problem(part) for part in path.split("/")]
    problem = next((p for p in problems if p), None)
    if problem:
        return f"its path {problem}"
    if not _SPEC_SECRET_PATH.match(path):
        return "its path holds white space, which a spec's secret path cannot"
    return ""


def _file_name(part: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", part)
    return safe if safe not in ("", ".", "..") else f"_{safe}"


def _write_value(target: Path, value: str) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A fresh 0600 file beside it ('@' starts no value file's name), then renamed.
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix="@tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _list_kv(ctx, mount: str, version: str, unwalkable: List[str]) -> Tuple[List[str], bool]:
    """list_kv_secrets, with each level's directories listed concurrently.
    Where its walk would stop part way (KV_LIST_LIMIT secrets or more) or a
    listing fails, list_kv_secrets walks again one directory at a time, so
    which secrets are returned, and what is raised, are exactly its. A
    folder no URL can carry as a name goes into `unwalkable`, as there."""
    base = f"{mount}/metadata" if version == "2" else mount
    found: List[str] = []
    level = [""]

    def again() -> Tuple[List[str], bool]:
        unwalkable.clear()
        return list_kv_secrets(ctx.api, mount, version, unwalkable=unwalkable)

    while level:
        listings = _gather(ctx, lambda prefix: ctx.api.list(f"{base}/{prefix}".rstrip("/")), level)
        if any(isinstance(outcome, _Failed) for outcome in listings):
            return again()
        deeper = []
        for prefix, keys in zip(level, listings):
            for key in keys:
                if not key.endswith("/"):
                    found.append(prefix + key)
                elif segment_problem(key[:-1]) is not None:
                    unwalkable.append(prefix + key)
                else:
                    deeper.append(prefix + key)
        if len(found) >= KV_LIST_LIMIT:
            return again()
        level = deeper
    return found, not unwalkable


def _read_secret(ctx, mount: str, version: str, key: str) -> Dict[str, Any]:
    response = ctx.api.read(f"{mount}/data/{key}" if version == "2" else f"{mount}/{key}")
    data = ((response or {}).get("data") or {})
    return (data.get("data") or {}) if version == "2" else data


def _export_secrets(ctx, out: Exported, secret_dir: Optional[Path], spec_dir: Path) -> None:
    # Every mount's listing (each concurrent inside), then every secret's read.
    mounts: List[Tuple[str, str, Any]] = []
    for mount, entry in sorted(ctx.secret_mounts().items()):
        version = kv_version(entry.get("type", ""), entry.get("options"))
        if version is None or _own_mount(ctx, mount):
            continue
        unwalkable: List[str] = []
        try:
            listed: Any = _list_kv(ctx, mount, version, unwalkable)
        except Exception as exc:  # noqa: BLE001 -- raised again below, in order
            listed = _Failed(exc)
        mounts.append((mount, version, listed, unwalkable))
        if isinstance(listed, _Failed) and not isinstance(listed.exc, PermissionDenied):
            break  # reading in order would have stopped here
    # A path no spec can name is not read: it is left out with a note below.
    wanted = [(mount, version, key) for mount, version, listed, _ in mounts if not isinstance(listed, _Failed)
              for key in sorted(listed[0]) if not _unnamable(f"{mount}/{key}")]
    values = iter(_gather(ctx, lambda item: _read_secret(ctx, *item), wanted))

    for mount, version, listed, unwalkable in mounts:
        try:
            keys, complete = _ok(listed)
        except PermissionDenied:
            out.notes.append(f"{mount}/: secrets not listed, this token may not list them")
            continue
        for folder in unwalkable:
            out.notes.append(f"secret.{mount}/{folder}: not exported, nor anything under it: "
                             f"{_unnamable(f'{mount}/{folder}'.rstrip('/'))}")
        if not complete and not unwalkable:
            out.notes.append(f"{mount}/: more than {len(keys)} secrets; the first {len(keys)} are exported")
        for key in sorted(keys):
            why = _unnamable(f"{mount}/{key}")
            if why:
                out.notes.append(f"secret.{mount}/{key}: not exported: {why}")
                continue
            data = _ok(next(values))
            if not data:
                continue  # a deleted latest version: nothing to manage
            body = {}
            for name, value in sorted(data.items()):
                if secret_dir is not None and isinstance(value, str):
                    target = out.names.file(secret_dir, (mount, *key.split("/"), name),
                                            ("file", *out.env_prefix, mount, key, name))
                    _write_value(target, value)
                    body[name] = {"file": os.path.relpath(target, spec_dir)}
                else:
                    variable = out.names.variable(("secret", *out.env_prefix, mount, key, name))
                    body[name] = {"env": variable}
                    out.env_placeholders.append(variable)
                    if secret_dir is not None:
                        out.notes.append(f"secret.{mount}/{key}: {name} is not a string; take it from "
                                         f"${variable} (a file gives a string)")
            out.put(("secrets", f"{mount}/{key}"), body)


# -- the document -------------------------------------------------------------------------------


# -- audit devices and namespaces ---------------------------------------------------------------

def _export_audit(ctx, out: Exported) -> None:
    try:
        devices = read_devices(ctx.api)
    except PermissionDenied:
        out.notes.append("audit devices: not exported, this token may not read sys/audit (it needs 'sudo')")
        return
    for path, device in sorted(devices.items()):
        body: Dict[str, Any] = {"type": device["type"]}
        for name in ("description", "local"):
            if device[name] != AUDIT_DEFAULTS[name]:
                body[name] = device[name]
        options = {}
        for name, value in sorted(device["options"].items()):
            if not carries_credential(name, value):
                options[name] = value
            else:
                out.notes.append(f"audit_device.{path}: its option {name} may hold a credential and is not "
                                 "exported; add it to the spec by hand")
        if options:
            body["options"] = options
        out.put(("audit", path), body)


def _export_namespaces(ctx, out: Exported, wanted: List[str], secret_dir: Optional[Path], spec_dir: Path) -> None:
    """Each namespace with what it holds: the sections asked for among a
    namespace's own (all of them when only namespaces were asked for)."""
    try:
        names = sorted(n.rstrip("/") for n in ctx.api.list("sys/namespaces"))
    except PermissionDenied:
        out.notes.append("namespaces: not listed, this token may not list sys/namespaces")
        return
    contents = [s for s in wanted if s in CONTENT_SECTIONS] or list(CONTENT_SECTIONS)
    # Every namespace's metadata at once; what each holds, namespace after
    # namespace (the reads inside each are concurrent).
    metadata = _gather(ctx, lambda name: ctx.api.read(f"sys/namespaces/{name}"), names)
    for name, outcome in zip(names, metadata):
        try:
            data = ((_ok(outcome) or {}).get("data")) or {}
        except PermissionDenied:
            out.notes.append(f"namespace.{name}: its custom metadata is not exported, this token may not read it")
            data = {}
        body: Dict[str, Any] = {}
        if data.get("custom_metadata"):
            body["custom_metadata"] = dict(data["custom_metadata"])
        child = namespace_context(ctx, name)
        inner = Exported(doc={}, env_placeholders=out.env_placeholders, env_prefix=(*out.env_prefix, name),
                         names=out.names)
        values = secret_dir / NAMESPACE_VALUES_DIR / _file_name(name) if secret_dir is not None else None
        try:
            _export_contents(child, inner, contents, values, spec_dir)
        except PermissionDenied as exc:
            out.notes.append(f"namespace.{name}: not wholly exported ({exc.message})")
        else:
            # Its child namespaces, the same way, into its body's namespaces:.
            _export_namespaces(child, inner, wanted, values, spec_dir)
        out.notes += [f"in namespace {name}: {note}" for note in inner.notes]
        out.put(("namespaces", name), {**body, **inner.doc})


def _export_contents(ctx, out: Exported, wanted: List[str], secret_dir: Optional[Path], spec_dir: Path) -> None:
    _export_mounts(ctx, out, wanted)
    _export_discovered(ctx, out, "policy", ("policies",), wanted, "policies")
    if "secrets" in wanted:
        _export_secrets(ctx, out, secret_dir, spec_dir)
    _export_discovered(ctx, out, "token_role", ("token_roles",), wanted, "token_roles")
    _export_discovered(ctx, out, "identity_entity", ("identity", "entities"), wanted, "identity")
    _export_discovered(ctx, out, "identity_group", ("identity", "groups"), wanted, "identity")


def export(ctx, include: Iterable[str] = (), secret_dir: Optional[Path] = None,
           spec_dir: Optional[Path] = None) -> Exported:
    wanted = sections_for(include)
    out = Exported()
    _export_contents(ctx, out, wanted, secret_dir, spec_dir or Path.cwd())
    if "audit" in wanted:
        _export_audit(ctx, out)
    if "namespaces" in wanted:
        _export_namespaces(ctx, out, wanted, secret_dir, spec_dir or Path.cwd())
    return out


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def counts(out: Exported) -> str:
    """What was written, counted by the kinds of the root's sections: "3 secrets engines, 1 policy"."""
    by_section = {k.section: k.counted_as for k in registry() if k.counted_as}
    return ", ".join(counted(len(out.doc.get(section) or {}), *by_section[section])
                     for section in ("secrets_engines", "auth", "policies", "secrets", "audit", "namespaces"))


def render(out: Exported, address: str) -> str:
    text = yaml.dump(out.doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True,
                     width=100)
    # Write-only fields: commented out, with what to do about them.
    pattern = re.compile(r"^(\s*)'?" + re.escape(WRITE_ONLY_MARK) + r"([^':]+)'?: '?(\{env: [A-Z0-9_]+\})'?$",
                         re.M)
    text = pattern.sub(lambda m: f"{m.group(1)}# {m.group(2)}: {m.group(3)}  # write-only: Vault never returns "
                                 "it; uncomment to manage it", text)
    head = ["# yaml-language-server: $schema=https://vaultform.dev/schemas/vaultform.schema.json",
            f"# Exported by `vaultform export` from {address}.",
            "# Values are never in this file: secrets come from the files or variables named below."]
    if out.env_placeholders:
        head.append("# Set these variables before plan/apply: " + ", ".join(sorted(set(out.env_placeholders))))
    head += [f"# Note: {one_line(note)}" for note in sorted(set(out.notes))]  # a name must not end the comment
    return "\n".join(head) + "\n" + text
