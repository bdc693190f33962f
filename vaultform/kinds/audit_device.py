"""audit_device.<path>: an audit device (sys/audit).

    audit:
      file: {type: file, options: {file_path: logs/audit.log}, description: main}

Where a device can be changed depends on the server, so the kind works in
one of three ways (audit_mode):

- A Vault (or an OpenBao with `unsafe_allow_api_audit_creation`) takes
  devices over the API: PUT and DELETE sys/audit/<path>.
- OpenBao 2.3 and later refuse that ("cannot enable audit device via API;
  use declarative, config-based audit device management instead"). For the
  spec's own local cluster, vaultform renders the devices into every node's
  server configuration and sends each node SIGHUP: OpenBao adds the devices
  the configuration gained and disables those it lost, on the active node
  (standbys only compare). No restart, so quorum and seal state are untouched.
  The plan reads the nodes' configuration too (cluster/audit_blocks.py): a
  device changed or removed there by hand is drift even before a reload.
- For any other OpenBao that refuses, vaultform cannot change them: the plan
  says, per device, that it must be set in the server's configuration and
  whether it is there as the spec says.

Neither the API nor OpenBao's configuration can modify a device (OpenBao
refuses a reload whose device differs from its table: "modifications to
audit devices are not allowed"), so every field forces a replace: the device
is removed, then added again. Its log file stays where it was.

A relative file_path is relative to the spec file (the server gets an
absolute one). Options are printed in plans like any other field (a path,
a format), unless one can carry a credential (an http device's headers):
sys/audit returns those in clear, so the whole options field is masked.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from vaultform.cluster.audit_blocks import AuditConfigError, audit_devices_in
from vaultform.errors import ClusterError, SpecError, VaultformError
from vaultform.kinds.base import Kind, KindDoc, counted
from vaultform.model import Resource
from vaultform.planner_rules import READ, Rule

API, LOCAL, CONFIG = "api", "local", "config"
FIELDS = ("type", "description", "local", "options")
# What OpenBao 2.7.2 reports for a device declared with only type and
# options (measured: GET sys/audit after a config device with neither):
# description "" and local false; options exactly as given, no defaults added.
DEFAULTS = {"description": "", "local": False, "options": {}}
# The file device writes to these instead of a file (OpenBao's audit/file).
NOT_FILES = ("stdout", "discard")
RELOAD_TIMEOUT = 15.0
# The apply runs changes side by side, and each local render reads the
# devices rendered so far, adds or drops its own, rewrites every node's
# config and waits for the reload: one at a time, or they overwrite each
# other's (seen: 5 of 7 devices created in one apply lost and timed out).
_LOCAL_RENDER = threading.Lock()
# Options sys/audit returns in clear that can carry a credential (measured on
# OpenBao 2.7.2: an http device's headers, say an Authorization bearer token,
# come back verbatim; a URI may hold a user and password).
CREDENTIAL_OPTIONS = frozenset({"headers"})


def carries_credential(name: str, value: str) -> bool:
    if name in CREDENTIAL_OPTIONS:
        return True
    if "://" in value:
        try:
            parts = urlsplit(value)
            return parts.username is not None or parts.password is not None
        except ValueError:
            return True  # cannot tell: treated as one
    return False


def options_carry_credential(device: Optional[dict]) -> bool:
    return any(carries_credential(k, str(v)) for k, v in ((device or {}).get("options") or {}).items())


def option_text(value: Any) -> str:
    """Vault keeps options as strings: `hmac_accessor: false` is "false"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def desired_device(spec, path: str, body: dict) -> Dict[str, Any]:
    options = {key: option_text(value) for key, value in (body.get("options") or {}).items()}
    file_path = options.get("file_path")
    if body["type"] == "file" and file_path and file_path not in NOT_FILES and not Path(file_path).is_absolute():
        options["file_path"] = str((spec.base_dir / file_path).resolve())
    return {"type": body["type"], "description": body.get("description", DEFAULTS["description"]),
            "local": bool(body.get("local", DEFAULTS["local"])), "options": options}


def audit_mode(ctx) -> Tuple[str, str]:
    """(mode, why): how this run's server takes audit devices."""
    return ctx.cached("audit-mode", lambda: _probe_mode(ctx))


def _probe_mode(ctx) -> Tuple[str, str]:
    if ctx.cluster is not None and getattr(ctx.cluster, "provider", "") == "local":
        return LOCAL, "the spec's local cluster"
    if ctx.api is None or ctx.vault_empty:
        return API, ""
    # Nothing is written to find out: the sanitized server configuration
    # names the setting on OpenBao 2.3+ (a plain read there, unlike the
    # root-protected sys/audit), and a Vault's has no such key. Without
    # access to it, the version decides: OpenBao 2.3 made API creation
    # opt-in, and Vault's versions are 1.x.
    try:
        state = ctx.api.read("sys/config/state/sanitized")
    except VaultformError:
        state = None
    data = (state or {}).get("data") or {}
    if "unsafe_allow_api_audit_creation" in data:
        if data["unsafe_allow_api_audit_creation"]:
            return API, "unsafe_allow_api_audit_creation is set"
        return CONFIG, ("this OpenBao refuses audit devices over the API: its unsafe_allow_api_audit_creation "
                        "is off")
    if state is not None:
        return API, ""
    try:
        version = str((ctx.api.read("sys/seal-status") or {}).get("version") or "")
    except VaultformError:
        version = ""
    try:
        major, minor = (int(part) for part in version.split("+")[0].split(".")[:2])
    except ValueError:
        return API, ""
    if (major, minor) >= (2, 3):
        return CONFIG, (f"OpenBao {version} refuses audit devices over the API unless its configuration sets "
                        "unsafe_allow_api_audit_creation (judged by version: this token cannot read "
                        "sys/config/state/sanitized)")
    return API, ""


def live_devices(ctx) -> Dict[str, Dict[str, Any]]:
    """path -> the device as sys/audit reports it, in the spec's form (a
    cluster this run initialises has none yet)."""
    if ctx.vault_empty or ctx.api is None:
        return {}
    return ctx.cached("sys/audit", lambda: read_devices(ctx.api))


def read_devices(api) -> Dict[str, Dict[str, Any]]:
    response = api.read("sys/audit") or {}
    data = response.get("data") or {k: v for k, v in response.items() if k.endswith("/")}
    return {path.rstrip("/"): {"type": entry.get("type", ""),
                               "description": entry.get("description") or "",
                               "local": bool(entry.get("local")),
                               "options": {k: option_text(v) for k, v in (entry.get("options") or {}).items()}}
            for path, entry in data.items() if isinstance(entry, dict)}


def configured_devices(ctx) -> List[Tuple[str, Dict[str, Dict[str, Any]]]]:
    """(node name, its configuration's audit devices) for each local node
    that has a configuration file (one never started has none yet)."""
    def read_all():
        out = []
        for node in ctx.cluster.nodes:
            try:
                text = node.config_path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ClusterError(f"cannot read {node.config_path}: {exc.strerror}") from None
            try:
                out.append((node.name, audit_devices_in(text)))
            except AuditConfigError as exc:
                raise ClusterError(f"{node.config_path}: {exc}; vaultform renders its audit blocks itself: "
                                   "put the file back as it was (or remove the broken block)") from None
        return out
    return ctx.cached("audit-config", read_all)


def config_block(path: str, device: Dict[str, Any]) -> str:
    """On one line, the server-configuration block an operator adds."""
    parts = [f"{name} = {json.dumps(device[name])}" for name in ("description", "local")
             if device[name] != DEFAULTS[name]]
    options = ", ".join(f"{key} = {json.dumps(value)}" for key, value in sorted(device["options"].items()))
    parts.append(f"options {{{options}}}")
    return f'an `audit {json.dumps(device["type"])} {json.dumps(path)}` block with {"; ".join(parts)}'


RELOAD_FAILED = "failed to set up audit logs on reload"


def _log_size(node) -> int:
    try:
        return node.log_path.stat().st_size
    except OSError:
        return 0


def _reload_error(nodes, marks: Dict[str, int]) -> str:
    """OpenBao's reason for refusing the audit configuration, from the part
    of a node's log written since `marks` ("" when there is none)."""
    for node in nodes:
        try:
            with open(node.log_path, "rb") as log:
                log.seek(marks.get(node.name, 0))
                text = log.read().decode("utf-8", "replace")
        except OSError:
            continue
        for line in text.splitlines():
            if RELOAD_FAILED in line:
                return line.split(RELOAD_FAILED, 1)[1].strip(": ")
    return ""


class AuditDevice(Kind):
    name = "audit_device"
    rank = 10  # first of the configuration (below 10 is the cluster): what follows is then audited
    section = "audit"
    counted_as = ("audit device", "audit devices")
    section_schema = {"$ref": "audit.schema.json"}
    takes_value_sources = False  # options are plain strings, never secret
    defaults = DEFAULTS
    replace_fields = frozenset(FIELDS)  # a device cannot be modified, only removed and added
    doc = KindDoc("audit.<path>", "sys/audit/<path>",
                  "an audit device; on OpenBao 2.3+ (no API audit devices) rendered into the local cluster's "
                  "server configuration and reloaded, or for another server only reported: set it in its "
                  "configuration", address="audit_device.<path>")

    def summary(self, spec):
        count = len(spec.section("audit"))
        return counted(count, *self.counted_as) if count else None

    # -- from the spec --------------------------------------------------------
    def resources(self, spec, ctx) -> List[Resource]:
        if spec.section("audit") and audit_mode(ctx)[0] == CONFIG:
            return []  # nothing vaultform can change: plan_warnings reports them
        return [Resource(kind=self, address=f"audit_device.{path}", id=path,
                         desired=desired_device(spec, path, body), location=spec.key_loc("audit", path),
                         meta={"path": path})
                for path, body in spec.section("audit").items()]

    def from_record(self, address, entry):
        res = super().from_record(address, entry)
        res.meta["path"] = res.id
        return res

    def plan_warnings(self, ctx) -> List[str]:
        """For a server that takes devices only from its own configuration:
        each device the spec declares, and whether it is there."""
        devices = ctx.spec.section("audit")
        if not devices or audit_mode(ctx)[0] != CONFIG:
            return []
        why = audit_mode(ctx)[1]
        unreadable = ""
        try:
            live: Optional[dict] = live_devices(ctx)
        except VaultformError as exc:
            live, unreadable = None, str(exc)
        out = []
        for path, body in sorted(devices.items()):
            want = desired_device(ctx.spec, path, body)
            head = f"audit_device.{path}: must be set in the server's configuration ({why})"
            if live is None:
                state = f"whether it is present is unknown: {unreadable}"
            elif path not in live:
                state = f"NOT present: add {config_block(path, want)}, then reload the server (SIGHUP)"
            elif live[path] == want:
                state = "present, as the spec says"
            else:
                differ = ", ".join(name for name in FIELDS if live[path].get(name) != want[name])
                state = (f"present but different ({differ}); OpenBao cannot modify a device: remove its block "
                         f"and reload, then add {config_block(path, want)} and reload")
            out.append(f"{head}: {state}")
        return out

    # -- against Vault ------------------------------------------------------------
    def sensitive_fields(self, res) -> Tuple[str, ...]:
        """Options are shown in plans, unless the spec's or the server's
        (read below) hold a credential: then they are masked whole."""
        if res.meta.get("credential_options") or options_carry_credential(res.desired):
            return ("options",)
        return ()

    def read(self, ctx, res) -> Optional[Dict[str, Any]]:
        live = self._read(ctx, res)
        if options_carry_credential(live):
            res.meta["credential_options"] = True
        return live

    def _read(self, ctx, res) -> Optional[Dict[str, Any]]:
        path = res.meta["path"]
        table = live_devices(ctx).get(path)
        if audit_mode(ctx)[0] != LOCAL or ctx.vault_empty:
            return table
        # The nodes' configuration is what a reload or restart applies: a
        # device changed or removed there by hand is drift even while the
        # table still shows it (a changed one is refused on reload, and a
        # node whose configuration differs from its table cannot unseal).
        # The first place that differs from the spec is what the plan shows.
        for name, devices in configured_devices(ctx):
            held = devices.get(path)
            if held != table and (res.desired is None and table is None or table == res.desired):
                res.meta["config_drift"] = name
                if held is None:
                    res.meta["create_reason"] = (f"not in {name}'s server configuration (removed by hand), though "
                                                 "OpenBao's audit table still shows it")
                return held
        return table

    def change_reason(self, change) -> str:
        node = change.resource.meta.get("config_drift")
        if node:
            return f"{node}'s server configuration was changed by hand: it differs from OpenBao's audit table"
        return change.reason

    def create(self, ctx, res) -> None:
        path = res.meta["path"]
        if audit_mode(ctx)[0] == LOCAL:
            with _LOCAL_RENDER:
                devices = ctx.cluster.audit_devices()
                devices[path] = res.desired
                self._render(ctx, devices, path, res.desired)
        else:
            ctx.api.write(f"sys/audit/{path}", res.desired)
            ctx.forget("sys/audit")

    def delete(self, ctx, res) -> None:
        path = res.meta["path"]
        if audit_mode(ctx)[0] == LOCAL:
            with _LOCAL_RENDER:
                devices = ctx.cluster.audit_devices()
                devices.pop(path, None)
                self._render(ctx, devices, path, None)
        else:
            ctx.api.delete(f"sys/audit/{path}")
            ctx.forget("sys/audit")

    def _render(self, ctx, devices: dict, path: str, want: Optional[dict]) -> None:
        """Render into every node's configuration, reload, and wait until the
        active node's table shows it. OpenBao reports a refused reload only in
        its log (and then applies none of the configuration's device changes):
        that line is the error, and the nodes go back to the configuration
        before, since a node restarted with a configuration its table does
        not match fails to unseal."""
        before = ctx.cluster.audit_devices()
        marks = {node.name: _log_size(node) for node in ctx.cluster.nodes}
        ctx.cluster.render_audit_devices(devices)
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while True:
            if read_devices(ctx.api).get(path) == want:
                ctx.forget("sys/audit")
                ctx.forget("audit-config")
                return
            refused = _reload_error(ctx.cluster.nodes, marks)
            if refused or time.monotonic() > deadline:
                ctx.cluster.render_audit_devices(before)
                what = "add" if want is not None else "remove"
                why = (f"OpenBao refused it: {refused}" if refused else
                       f"it did not within {RELOAD_TIMEOUT:.0f} s ({ctx.cluster.logs_hint})")
                raise ClusterError(f"cannot {what} audit device {path!r} by reloading the nodes' configuration: "
                                   f"{why}; the configuration is back as it was")
            time.sleep(0.1)

    def destroy_notes(self, ctx, res) -> List[str]:
        notes = []
        if audit_mode(ctx)[0] == LOCAL:
            notes.append("removed from every node's server configuration, which is then reloaded")
        log = ((res.desired or {}).get("options") or {}).get("file_path")
        if log:
            notes.append(f"its log file {log} stays")
        return notes

    # -- offline ---------------------------------------------------------------
    def planner_rules(self, spec, wildcards):
        if not spec.section("audit"):
            return [], []
        return ([Rule("sys/audit", READ, "audit devices"),
                 Rule("sys/config/state/sanitized", READ, "whether the server takes audit devices over the API")],
                ["sys/audit needs 'sudo' as well as 'read' (a root-protected path): add it there, or the "
                 "plan cannot read audit devices"])

    def checks(self, spec):
        problems = []
        for path, body in spec.section("audit").items():
            options = body.get("options") or {}
            if body.get("type") == "file" and not options.get("file_path"):
                problems.append(SpecError("a file audit device needs options.file_path (a file, stdout or "
                                          "discard)", location=spec.key_loc("audit", path),
                                          field=f"audit.{path}.options.file_path"))
            for key, value in options.items():
                written = spec.doc.written.get(("audit", path, "options", key))
                if written is not None:
                    problems.append(SpecError(
                        f"YAML reads {written} as {json.dumps(value)}, and Vault keeps options as strings: it would "
                        f"get {str(value)!r}; quote it to send it as written", location=spec.loc("audit", path, "options", key),
                        field=f"audit.{path}.options.{key}"))
            if (spec.cluster or {}).get("provider") == "local":
                problems += self._hcl_problems(spec, path, body)
        return problems, []

    @staticmethod
    def _hcl_problems(spec, path: str, body: dict) -> List[SpecError]:
        """Text the local cluster's server configuration cannot carry: HCL 1
        copies what follows `${` verbatim up to its matching `}`, escapes
        unread (`${a"b}` arrives as `${a\\"b}`), and an unmatched `${`
        swallows the rest of the file (measured on OpenBao 2.7.2). The value
        is not repeated: an option may hold a credential."""
        want = desired_device(spec, path, body)
        texts = [("description", want["description"], ("audit", path, "description"))]
        texts += [(f"options.{key}", value, ("audit", path, "options", key))
                  for key, value in sorted(want["options"].items())]
        return [SpecError("holds '${', which OpenBao's configuration (HCL 1) would not read as written (what "
                          "follows it is copied verbatim, escapes unread, up to a matching '}'): the local "
                          "cluster's server configuration cannot carry it", location=spec.loc(*where),
                          field=f"audit.{path}.{name}")
                for name, text, where in texts if "${" in text]


KINDS = [AuditDevice()]
