"""Saved plans: `plan --out PLANFILE` writes one, `apply PLANFILE` applies exactly it.

What was reviewed must be what gets applied. A plan file therefore records
what the plan was made from, and apply plans again with the same options and
refuses ("stale plan") unless nothing moved:

    {"kind": "vaultform-plan", "format_version": 2,
     "vaultform_version": str, "created_at": "YYYY-MM-DDTHH:MM:SSZ",
     "spec": {"path": as given, "absolute": str, "fingerprint": hmac},
     "options": {"targets": [...], "allow_destroy": bool, "force": bool},
     "vault_address": str (no credentials),
     "key_check": hmac,
     "plan": the `plan --format json` document (sensitive values masked),
     "objects": [{"address", "action", "desired": hmac, "live": hmac,
                  "contents": hmac, "holds": "3 secret(s)"}],   (the last two: a mount it destroys)
     "integrity": hmac}                                         (format 2)

`objects` lists every planned change and, with action "no-op", every object
that already matched, so a refusal can say what moved: the spec, a resolved
value ({env}/{file}) or the live state in Vault. A mount the plan disables or
re-creates also has `contents`, a fingerprint of the secrets (KV) or roles
(auth) it holds: the review approved destroying those, not one written since.

`integrity` is an HMAC over everything else in the file, and the file must be
byte for byte as written: any edit (a change, an option, a target, a
fingerprint, even whitespace) is refused before anything is written to Vault.
Making that HMAC takes the fingerprint key, so whoever can edit the file but
cannot read the key in Vault cannot make an edit pass (docs/saved-plans.md).

A plan file holds no secret value and no token. Fingerprints are HMAC-SHA256
under the ownership record's fingerprint key, which lives only in Vault: with
the plan file alone nobody can test a guess of a value offline. `key_check`
(an HMAC of a constant) tells "the key changed" apart from "everything moved".
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from vaultform import __version__, inputfile, redact
from vaultform.errors import SpecError, VaultformError
from vaultform.model import DELETE, REPLACE, Plan, Resource
from vaultform.planner import PlanOptions
from vaultform.render.json_plan import plain, plan_to_json, public_address
from vaultform.values import Generated

KIND = "vaultform-plan"
# 2: mount contents in `objects`, and `integrity`. Older files are refused (made
# again, not migrated): nothing proves a format 1 file was not edited.
FORMAT_VERSION = 2
NO_OP = "no-op"
GENERATED = "(generated)"
_KEY_CHECK = "vaultform saved-plan key check"
# The integrity key is the fingerprint of this label, which no other
# fingerprint can be: the NUL cannot occur in a spec (YAML refuses it) or in
# canonical JSON (it is escaped there), and this fingerprint is never stored.
_INTEGRITY_LABEL = "\x00vaultform saved-plan integrity key"
_REQUIRED = ("spec", "options", "objects", "key_check", "plan", "integrity")
_MARKERS = (f'"{KIND}"'.encode(), b'"key_check"', b'"integrity"')
_MAX_NAMED = 5


class StalePlan(VaultformError):
    """The spec, a resolved value or Vault moved since the plan was saved."""


class PlanFileError(VaultformError):
    """A plan file cannot be written, read or used."""


# -- fingerprints --------------------------------------------------------------------

def _canonical(value: Any) -> str:
    return json.dumps(plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _desired_view(res: Resource) -> Optional[Dict[str, Any]]:
    """The desired fields with generated values replaced by a marker: every
    plan draws a new random value for a key that Vault lacks, and that is not
    a change in what was reviewed."""
    if res.desired is None:
        return None
    generated = res.meta.get("generated") or ()
    return {name: GENERATED if name in generated or isinstance(value, Generated) else value
            for name, value in res.desired.items()}


def _live_view(res: Resource, live: Optional[Dict[str, Any]]) -> Any:
    """What is fingerprinted of the live state. For a KV v2 secret that is its
    version: every write bumps it, and it is the one thing about a secret that
    both a least-privilege planner token (metadata only) and a full token see,
    so a plan saved with the first can be checked and applied with the second."""
    version = res.meta.get("live_version")
    if live is not None and res.kind.name == "secret" and version is not None:
        return {"kv_version": version}
    return live


def _print(ctx, value: Any) -> str:
    return ctx.record.fingerprint(ctx.api, _canonical(value))


def _contents(res: Resource) -> Optional[Dict[str, Any]]:
    """What disabling a mount destroys with it, as its kind's destroy note
    found it: {"what": "secret(s)", "count": "3", "names": [...]}; count and
    names are None when the token could not list them."""
    return res.meta.get("contents")


def _holds(contents: Dict[str, Any]) -> str:
    count = contents.get("count")
    return f"{count} {contents['what']}" if count is not None else f"uncounted {contents['what']}"


def snapshot(ctx, plan: Plan) -> Dict[str, Dict[str, str]]:
    """address -> {"action", "desired", "live"[, "contents", "holds"]} for
    every change and every no-op object."""
    out: Dict[str, Dict[str, str]] = {}
    for res, live in plan.unchanged:
        out[res.address] = {"action": NO_OP, "desired": _print(ctx, _desired_view(res)),
                            "live": _print(ctx, _live_view(res, live))}
    for change in plan.changes:  # after the no-ops: a re-created object is a change, not a no-op
        entry = {"action": change.action, "desired": _print(ctx, _desired_view(change.resource)),
                 "live": _print(ctx, _live_view(change.resource, change.live))}
        contents = _contents(change.resource) if change.action in (DELETE, REPLACE) else None
        if contents is not None:
            # The names are fingerprinted, not stored: a secret deleted and
            # another written keeps the count but not the fingerprint.
            entry["contents"] = _print(ctx, contents)
            entry["holds"] = _holds(contents)
        out[change.address] = entry
    return out


def spec_fingerprint(ctx) -> str:
    try:
        text = ctx.spec.path.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        raise PlanFileError(f"spec file {ctx.spec.path} cannot be read: {exc.strerror}") from None
    return ctx.record.fingerprint(ctx.api, text)


# -- writing -------------------------------------------------------------------------

def check_savable(plan: Plan) -> None:
    """Only a plan whose every object was read from Vault can be checked at apply time."""
    if any(c.resource.kind.name == "cluster.init" for c in plan.changes):
        raise PlanFileError("cannot save a plan for a local cluster that is not initialised yet: nothing in it "
                            "can be read, so apply could not check the plan; run `vaultform apply SPEC` to "
                            "create the cluster, then save plans")
    if plan.deferred:
        raise PlanFileError("cannot save this plan: the local cluster is not up, so its configuration was not "
                            "planned; run `vaultform apply SPEC` to start and unseal it, then save plans")
    for change in plan.changes:
        contents = _contents(change.resource) if change.action in (DELETE, REPLACE) else None
        if contents is not None and contents.get("names") is None:
            raise PlanFileError(
                f"cannot save this plan: it {'disables' if change.action == DELETE else 're-creates'} "
                f"{change.address}, which destroys the {contents['what']} under it, and this token cannot "
                f"list them, so apply could not check that none was added since the review; save the plan "
                f"with a token that may list them")


def _masked_strings(value: Any) -> Any:
    """The human-readable part of the file passes through the redactor like printed output."""
    if isinstance(value, str):
        return redact.redact(value)
    if isinstance(value, dict):
        return {redact.redact(str(k)): _masked_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked_strings(v) for v in value]
    return value


def file_text(document: Dict[str, Any]) -> str:
    """The plan file's bytes: one canonical layout, so a file that is not
    byte for byte this text of its own content was edited."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _integrity(ctx, document: Dict[str, Any]) -> str:
    """HMAC-SHA256 over the canonical JSON of everything but `integrity`,
    under a key derived from the fingerprint key in Vault."""
    key = hashlib.sha256(ctx.record.fingerprint(ctx.api, _INTEGRITY_LABEL).encode("utf-8")).digest()
    body = _canonical({k: v for k, v in document.items() if k != "integrity"})
    return "hmac-sha256:" + hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def build(ctx, plan: Plan, options: PlanOptions, spec_path_given: str, vault_address: str) -> Dict[str, Any]:
    """The plan file's document. `vault_address` is the address the run was
    configured with (before any move to a cluster's active node), which is
    what apply resolves again and compares."""
    check_savable(plan)
    try:
        # Apply must fingerprint with the same key: persist it now if it is new.
        ctx.record.save_fingerprint_key(ctx.api, ctx.secret_mounts())
    except VaultformError as exc:
        raise PlanFileError(f"cannot save the plan: the fingerprint key beside the ownership record "
                            f"({ctx.record.mount}/{ctx.record.path}) does not exist yet and could not be stored "
                            f"({exc.message}); run `vaultform apply` once with a full token first") from None
    objects = snapshot(ctx, plan)
    document = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "vaultform_version": __version__,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "spec": {"path": spec_path_given, "absolute": str(ctx.spec.path), "fingerprint": spec_fingerprint(ctx)},
        "options": {"targets": list(options.targets), "allow_destroy": options.allow_destroy,
                    "force": options.force},
        "vault_address": public_address(vault_address),
        "key_check": ctx.record.fingerprint(ctx.api, _KEY_CHECK),
        "plan": _masked_strings(plan_to_json(plan, ctx.api.address)),
        "objects": [{"address": a, **o} for a, o in sorted(objects.items())],
    }
    document = json.loads(file_text(document))  # signed exactly as apply will read it back
    document["integrity"] = _integrity(ctx, document)
    return document


def write(path: str, document: Dict[str, Any], spec_path: Path) -> None:
    target = Path(path)
    if target.resolve() == spec_path.resolve():
        raise PlanFileError(f"--out {path} is the spec file itself; choose another file for the plan")
    text = file_text(document)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        # Written whole or not at all (a half-written plan must not be applied),
        # and private (mode 0600) even though it holds no secret value.
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(temp, 0o600)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise PlanFileError(f"cannot write the plan file {path}: {exc.strerror or exc}") from None


# -- reading -------------------------------------------------------------------------

@dataclass
class SavedPlan:
    file: str
    document: Dict[str, Any]

    @property
    def created_at(self) -> str:
        return self.document.get("created_at", "?")

    @property
    def vault_address(self) -> Optional[str]:
        return self.document.get("vault_address")

    def spec_file(self) -> str:
        """The spec as it was given when planning (relative to the working
        directory, as CI checks out the same tree elsewhere), else its absolute path."""
        spec = self.document["spec"]
        for candidate in (spec.get("path"), spec.get("absolute")):
            if candidate and Path(candidate).is_file():
                return candidate
        raise PlanFileError(f"{self.file}: the spec it was made from is not here (looked for {spec.get('path')} "
                            f"and {spec.get('absolute')}); run apply from the directory plan ran in")

    def options(self) -> PlanOptions:
        stored = self.document.get("options") or {}
        known = {f.name for f in dataclasses.fields(PlanOptions)}
        values = {k: v for k, v in stored.items() if k in known}
        if "targets" in values:
            values["targets"] = tuple(values["targets"])
        return PlanOptions(**values)

    def objects(self) -> Dict[str, Dict[str, str]]:
        return {o["address"]: o for o in self.document.get("objects") or []}


def _looks_like_a_plan(data: bytes) -> bool:
    """A plan file, even an edited one: it starts with "{", or two of these
    keys survive (one edited byte can break only one of them). A spec that
    holds two of them by chance is not to be expected."""
    if data.startswith(b"{"):
        return True
    return sum(marker in data for marker in _MARKERS) >= 2


def _damaged(path: str, why: str) -> PlanFileError:
    return PlanFileError(f"{path}: the plan file is damaged or was altered ({why}); nothing was applied: "
                         "make the plan again")


def load(path: str) -> Optional[SavedPlan]:
    """The plan file at `path`, or None when it is not one (a spec). Recognised
    by its content, never by its name. An edited plan file is refused here
    (one line, before anything is read from Vault) rather than read as a spec."""
    try:
        data = inputfile.read_bytes(path)
    except SpecError:
        return None  # the spec loader reports unreadable, special and oversized files
    if not _looks_like_a_plan(data):
        return None  # a YAML spec never starts with "{" in practice; plan files always do
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if data.startswith(b"{") and not any(marker in data for marker in _MARKERS):
            return None  # not ours: let the spec loader say what is wrong with it
        raise _damaged(path, "not UTF-8") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        if any(marker in data for marker in _MARKERS):
            raise _damaged(path, f"not valid JSON: {exc}") from None
        return None
    if not isinstance(document, dict):
        if any(marker in data for marker in _MARKERS):
            raise _damaged(path, "not a JSON object")
        return None
    if document.get("kind") != KIND:
        if any(marker in data for marker in _MARKERS):
            raise _damaged(path, f"its kind is {document.get('kind')!r}, not {KIND!r}")
        return None
    if document.get("format_version") != FORMAT_VERSION:
        raise PlanFileError(f"{path}: plan file format {document.get('format_version')!r} is not supported by "
                            f"vaultform {__version__} (it reads format {FORMAT_VERSION}); make the plan again")
    missing = [k for k in _REQUIRED if k not in document]
    if missing:
        raise PlanFileError(f"{path}: the plan file is damaged (missing {', '.join(missing)}); make the plan again")
    if text != file_text(document):
        # Checked offline, before the key in Vault can check the content.
        raise PlanFileError(f"{path}: the plan file was altered after it was written (it is not byte for byte "
                            "what `vaultform plan --out` wrote); nothing was applied: make the plan again")
    return SavedPlan(path, document)


# -- checking ------------------------------------------------------------------------

def check_connected_to(saved: SavedPlan, address: str) -> None:
    now = public_address(address)
    if saved.vault_address and (now or "").rstrip("/") != saved.vault_address.rstrip("/"):
        raise PlanFileError(f"{saved.file} was planned against Vault at {saved.vault_address}, but this run "
                            f"would apply it to {now}: point VAULT_ADDR (or --address) at the planned Vault, "
                            "or make the plan again")


def _few(items: List[str]) -> List[str]:
    if len(items) <= _MAX_NAMED:
        return items
    return items[:_MAX_NAMED] + [f"and {len(items) - _MAX_NAMED} more"]


def verify(saved: SavedPlan, ctx) -> None:
    """Refuse a plan file that was edited after it was written, before
    anything is written to Vault (not even the apply lock). Until this
    passes, nothing in the file but the spec path (which found the Vault and
    its key) and the Vault address (refused above if it differs) is used."""
    if ctx.cluster is not None and not ctx.follow_active_node():
        raise StalePlan(f"stale plan: the local cluster is not up, so nothing in {saved.file} can be checked; "
                        "nothing was applied: start and unseal the cluster, then plan again")
    ctx.ensure_token()
    if (not ctx.record.has_fingerprint_key(ctx.api)
            or ctx.record.fingerprint(ctx.api, _KEY_CHECK) != saved.document["key_check"]):
        raise StalePlan(_key_replaced(ctx))
    stored = str(saved.document["integrity"]).encode("utf-8")  # bytes: compare_digest refuses non-ASCII str
    if not hmac.compare_digest(stored, _integrity(ctx, saved.document).encode("utf-8")):
        raise PlanFileError(f"{saved.file}: the plan file was altered after it was written (its integrity "
                            "check with the key in Vault fails); nothing was applied: make the plan again")


def _key_replaced(ctx) -> str:
    return (f"stale plan: the fingerprint key in Vault ({ctx.record.mount}/{ctx.record.path}"
            "-fingerprint-key) is not the one the plan was made with, so nothing in it can be "
            "checked; nothing was applied: run `vaultform plan --out` again")


def _causes(then: Dict[str, str], now: Dict[str, str], spec_moved: bool) -> List[str]:
    causes = []
    if then["desired"] != now["desired"]:
        causes.append("its desired fields changed (the spec or a value source)" if spec_moved
                      else "a resolved value changed (an {env} or {file} source)")
    if then["live"] != now["live"]:
        causes.append("its live state in Vault changed")
    if then.get("contents") != now.get("contents"):
        planned, found = then.get("holds", "nothing counted"), now.get("holds", "nothing counted")
        causes.append(f"what it holds changed ({planned} when planned, now {found})" if planned != found else
                      f"what it holds changed (still {found}, but not the ones planned)")
    return causes


def differences(saved: SavedPlan, current: Dict[str, Dict[str, str]], spec_moved: bool) -> List[str]:
    """One phrase per address whose planned change is not what was saved."""
    before = saved.objects()
    found = []
    for address in sorted(set(before) | set(current)):
        then, now = before.get(address), current.get(address)
        then_action = then["action"] if then else NO_OP
        now_action = now["action"] if now else NO_OP
        if then_action == NO_OP and now_action == NO_OP:
            continue  # nothing to do either way (or outside --target): the plan is unaffected
        causes = _causes(then, now, spec_moved) if then and now else []
        if then_action == now_action:
            if causes:
                found.append(f"{address}: {' and '.join(causes)}")
            continue
        if then_action == NO_OP:
            what = f"{address}: not in the saved plan, now {now_action}"
        elif now_action == NO_OP:
            what = f"{address}: planned {then_action}, now nothing to do"
        else:
            what = f"{address}: planned {then_action}, now {now_action}"
        found.append(what + (f" ({' and '.join(causes)})" if causes else ""))
    return found


def check_fresh(saved: SavedPlan, ctx, plan: Plan) -> None:
    """Refuse unless re-planning now gives exactly the saved plan."""
    if plan.deferred:
        down = ", ".join(c.address for c in plan.changes)
        raise StalePlan(f"stale plan: the local cluster is not up ({down}), so nothing in the plan can be "
                        "checked; nothing was applied: start and unseal the cluster, then plan again")
    if ctx.record.fingerprint(ctx.api, _KEY_CHECK) != saved.document["key_check"]:
        raise StalePlan(_key_replaced(ctx))
    spec_moved = spec_fingerprint(ctx) != saved.document["spec"].get("fingerprint")
    moved = differences(saved, snapshot(ctx, plan), spec_moved)
    if not spec_moved and not moved:
        return
    parts = [f"the spec {saved.document['spec'].get('path')} changed"] if spec_moved else []
    parts += _few(moved)
    raise StalePlan(f"stale plan: {'; '.join(parts)} (since the plan was made at {saved.created_at}); "
                    "nothing was applied: run `vaultform plan` again and review the new plan")
