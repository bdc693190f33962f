"""The apply lock: one apply (or destroy) at a time against a Vault.

The lock is one KV v2 key beside the ownership record,
`<record mount>/<record path>-lock` (default `vaultform/managed-objects-lock`),
so it lives where the thing it protects lives and needs no other service.
Every change of it is a KV v2 check-and-set write: taking it writes a "held"
version only if the version we read is still the latest, releasing or
breaking it writes a "free" version only if the held version is still the
latest. Two racing applies cannot both win, and a run whose lock was broken
and taken by someone else cannot free the newcomer's lock.

The key never holds a secret: who holds it (user@host, pid, vaultform
version, command) and since when.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shlex
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator, Optional

import click

from vaultform import __version__, redact
from vaultform.errors import VaultConnectionError, VaultformError, VaultRequestError
from vaultform.record import Record

HELD, FREE = "held", "free"
LOCK_SUFFIX = "-lock"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# OpenBao 2.7.2 answers a check-and-set write whose `cas` is not the key's
# current version with 400 and this text (Vault says the same).
_CAS_MISMATCH = "check-and-set parameter did not match"
_UPGRADING = "Upgrading from non-versioned to versioned data"

# Between our read and our write someone may take and release the lock (or,
# between the data and the metadata read, write it); a few fresh looks
# settle that without ever waiting for a holder.
_ATTEMPTS = 3


class LockHeld(VaultformError):
    """Another run holds the apply lock; `holder` is the lock's content."""

    def __init__(self, message: str, holder: Optional[dict] = None):
        super().__init__(message)
        self.holder = holder or {}


class LockChanged(VaultformError):
    """The lock moved between reading it and writing it (check-and-set failed)."""


@dataclass(frozen=True)
class LockLocation:
    mount: str
    key: str

    @classmethod
    def for_record(cls, record_location: dict) -> "LockLocation":
        return cls(record_location["mount"].strip("/"), record_location["path"].strip("/") + LOCK_SUFFIX)

    @property
    def data_path(self) -> str:
        return f"{self.mount}/data/{self.key}"

    @property
    def metadata_path(self) -> str:
        return f"{self.mount}/metadata/{self.key}"

    def __str__(self) -> str:
        return f"{self.mount}/{self.key}"


@dataclass(frozen=True)
class LockState:
    """The lock key as read: its KV v2 version (0 if never written) and content."""

    location: LockLocation
    version: int
    content: Optional[dict]

    @property
    def held(self) -> bool:
        # Anything but vaultform's own "free" marker counts as held, so a key
        # someone wrote by hand is never silently overwritten.
        return self.content is not None and self.content.get("state") != FREE


@dataclass(frozen=True)
class HeldLock:
    location: LockLocation
    version: int  # the version our "held" write created; release is a CAS on it


# -- who and when ------------------------------------------------------------------


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, as in some containers
        return f"uid{os.getuid()}"


def this_holder() -> str:
    return f"{_user()}@{socket.gethostname()}"


def _now() -> str:
    return time.strftime(TIME_FORMAT, time.gmtime())


def _ci_run() -> Optional[str]:
    """The GitHub Actions run that holds the lock, so a reviewer can find it."""
    parts = [os.environ.get(n) for n in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else None


def _command_name() -> str:
    context = click.get_current_context(silent=True)
    return context.info_name if context is not None and context.info_name else "apply"


def held_content(command: str) -> dict:
    content = {"state": HELD, "holder": this_holder(), "pid": os.getpid(), "vaultform_version": __version__,
               "command": command, "taken_at": _now()}
    run = _ci_run()
    if run:
        content["ci_run"] = run
    return content


def free_content(how: str) -> dict:
    return {"state": FREE, f"{how}_at": _now(), f"{how}_by": f"{this_holder()} (pid {os.getpid()})"}


def _one_line(value) -> str:
    # The key's content comes from Vault and may have been written by hand.
    return " ".join(str(value).split())


def _age(taken_at: str, now: Optional[datetime] = None) -> Optional[str]:
    try:
        taken = datetime.strptime(taken_at, TIME_FORMAT).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None
    seconds = max(0, int(((now or datetime.now(timezone.utc)) - taken).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def describe_holder(content: dict, now: Optional[datetime] = None) -> str:
    """`alice@ci-7 (pid 4242, vaultform 0.1.0, apply) since 2025-11-26T14:33:05Z (3m12s ago)`."""
    holder = _one_line(content.get("holder") or "an unknown holder")
    details = [f"pid {_one_line(content['pid'])}" if content.get("pid") is not None else None,
               f"vaultform {_one_line(content['vaultform_version'])}" if content.get("vaultform_version") else None,
               _one_line(content["command"]) if content.get("command") else None,
               _one_line(content["ci_run"]) if content.get("ci_run") else None]
    text = (holder + " (" + ", ".join(d for d in details if d) + ")") if any(details) else holder
    taken_at = content.get("taken_at")
    if taken_at:
        age = _age(taken_at, now)
        text += f" since {_one_line(taken_at)}" + (f" ({age} ago)" if age else "")
    return text


STALE = "that process no longer runs on this machine, so the lock is stale"


def holder_liveness(content: dict) -> Optional[str]:
    """Whether the holder's process still runs, when it ran on this machine."""
    holder, pid = str(content.get("holder") or ""), content.get("pid")
    if "@" not in holder or holder.rsplit("@", 1)[1] != socket.gethostname() or not isinstance(pid, int):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return STALE
    except PermissionError:
        pass  # another user's live process
    return "that process is still running on this machine"


# -- reading and writing the key ---------------------------------------------------


def read_lock(api, location: LockLocation) -> LockState:
    for _ in range(_ATTEMPTS):
        response = api.read(location.data_path)
        body = (response or {}).get("data") or {}
        if body.get("data") is not None:
            return LockState(location, int((body.get("metadata") or {}).get("version") or 0), body["data"])
        # Never written, or its latest version deleted by hand (which frees
        # it): the metadata knows the version a check-and-set must name.
        metadata = ((api.read(location.metadata_path) or {}).get("data")) or {}
        version = int(metadata.get("current_version") or 0)
        latest = (metadata.get("versions") or {}).get(str(version)) or {}
        if version == 0 or latest.get("deletion_time") or latest.get("destroyed"):
            return LockState(location, version, None)
        # A live latest version that the data read did not see was written
        # between the two reads (measured: racing first takes hit this);
        # taking it for "free" would let two runs win.
    raise LockChanged(f"the apply lock {location} kept changing while it was being read; try again")


def write_if_unchanged(api, location: LockLocation, content: dict, version: int) -> int:
    """Write `content` only if `version` is still the key's latest; return the new version.

    Raises LockChanged when someone else wrote the key since (the CAS failed).
    """
    try:
        response = api.write(location.data_path, {"options": {"cas": version}, "data": content})
    except VaultRequestError as exc:
        if _CAS_MISMATCH in exc.message:
            raise LockChanged(f"the apply lock {location} changed while it was being written") from None
        raise
    new_version = ((response or {}).get("data") or {}).get("version")
    if not new_version:
        # A write under a path no mount serves answers 404, which reads as "absent".
        raise VaultRequestError(f"cannot write the apply lock {location}: there is no KV v2 mount "
                                f"{location.mount}/ (vault.record.mount)")
    return int(new_version)


def take_lock(api, location: LockLocation, command: str = "apply") -> HeldLock:
    """Take the lock now or raise LockHeld naming its holder; never waits for one."""
    for _ in range(_ATTEMPTS):
        state = read_lock(api, location)
        if state.held:
            raise LockHeld(describe_holder(state.content), state.content)
        try:
            return HeldLock(location, write_if_unchanged(api, location, held_content(command), state.version))
        except LockChanged:
            continue  # someone wrote it since our read: look again (most likely they hold it now)
    raise LockChanged(f"the apply lock {location} kept changing while it was being taken; try again")


def release_lock(api, held: HeldLock) -> bool:
    """Free the lock if it is still ours; False if someone broke it meanwhile."""
    try:
        write_if_unchanged(api, held.location, free_content("released"), held.version)
    except LockChanged:
        return False
    return True


def break_lock(api, seen: LockState) -> None:
    """Free a lock as it was seen; LockChanged if it moved since (say, was retaken)."""
    write_if_unchanged(api, seen.location, free_content("broken"), seen.version)


# -- the lock around an apply --------------------------------------------------------


def _ensure_kv2_mount(ctx, location: LockLocation) -> None:
    """The record's mount, created like the record creates it, in the run's mount table."""
    mounts = ctx.secret_mounts()  # the same cached dict the record's save consults
    entry = mounts.get(location.mount)
    if entry is not None:
        if entry.get("type") != "kv" or str((entry.get("options") or {}).get("version")) != "2":
            raise VaultRequestError(f"the record mount {location.mount}/ is not a KV v2 mount; the apply lock "
                                    f"needs KV v2 check-and-set (vault.record.mount)")
        return
    Record(location.mount, "").ensure_mount(ctx.api, mounts)  # tolerates a concurrent first run making it
    _wait_until_readable(ctx.api, location)


def _wait_until_readable(api, location: LockLocation, timeout: float = 10.0) -> None:
    """A new KV v2 mount refuses reads for a moment (measured on OpenBao 2.7.2
    raft storage: ~40 ms of 400 "Upgrading from non-versioned to versioned
    data"; writes are accepted), and taking the lock starts with a read."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            api.read(location.metadata_path)
            return
        except VaultRequestError as exc:
            if _UPGRADING not in exc.message or time.monotonic() > deadline:
                raise
        time.sleep(0.02)


def _local_cluster_down(ctx) -> bool:
    return ctx.cluster is not None and (ctx.vault_empty or ctx.cluster.active_node() is None)


def _warn(message: str) -> None:
    sys.stdout.flush()  # after the stdout lines it follows
    click.echo(redact.redact(f"Warning: {message}"), err=True)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """CI cancels a job with SIGTERM; as an interrupt it runs the release in `finally`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


class _ApplyLock:
    def __init__(self, ctx):
        self.ctx = ctx
        self.location = LockLocation.for_record(ctx.spec.record_location)
        self.held: Optional[HeldLock] = None

    def take(self) -> None:
        """Take the lock (the context has its token by now)."""
        if self.held is not None:
            return
        try:
            _ensure_kv2_mount(self.ctx, self.location)
            self.held = take_lock(self.ctx.api, self.location, _command_name())
        except VaultRequestError as exc:
            raise VaultRequestError(f"cannot take the apply lock {self.location}: {exc.message}") from None
        except LockHeld as exc:
            liveness = holder_liveness(exc.holder)
            advice = (f"{STALE}: break it with: {self.unlock_command}" if liveness == STALE else
                      (f"{liveness}; " if liveness else "")
                      + f"wait for that run to finish, or if it is gone, break the lock with: {self.unlock_command}")
            raise LockHeld(f"the apply lock on Vault at {self.ctx.api.address} ({self.location}) "
                           f"is held by {exc.message}; {advice}", exc.holder) from None

    def _retry_on_new_leader(self, held: HeldLock, wait: float = 15.0) -> bool:
        """The leader went away mid-run (killed, stopped): raft elects another
        within seconds, and the lock lives in the cluster, not in the node."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            active = self.ctx.cluster.active_node()
            if active is not None:
                self.ctx.api.retarget(active.address)
                try:
                    return release_lock(self.ctx.api, held) or True
                except VaultConnectionError:
                    pass
            elif self.ctx.cluster.statuses() and not any(s.running for s in self.ctx.cluster.statuses()):
                return False  # nothing left running: no one will be elected
            time.sleep(0.5)
        return False

    def moved_since(self, seen_version: Optional[int]) -> bool:
        """Whether anyone took the lock between `seen_version` (read before
        planning) and our own take: then the plan may be out of date."""
        if self.held is None:
            return False
        return seen_version is None or self.held.version != seen_version + 1

    @property
    def unlock_command(self) -> str:
        return f"vaultform unlock {shlex.quote(str(self.ctx.spec.doc.file))}"

    def release(self) -> None:
        if self.held is None:
            return
        held, self.held = self.held, None
        try:
            if not release_lock(self.ctx.api, held):
                _warn(f"the apply lock {held.location} was broken while this run held it; "
                      f"left as it is now")
        except VaultConnectionError:
            if self.ctx.cluster is not None and self._retry_on_new_leader(held):
                return
            if self.ctx.cluster is not None and self.ctx.cluster.active_node() is None:
                return  # the local cluster was stopped (destroy): its lock went with it
            _warn(f"could not release the apply lock {held.location} on Vault at {self.ctx.api.address}; "
                  f"break it with: {self.unlock_command}")
        except VaultformError as exc:
            _warn(f"could not release the apply lock {held.location}: {exc}; "
                  f"break it with: {self.unlock_command}")


def version_before_plan(ctx) -> Optional[int]:
    """The lock's version as a plan starts, or None when it cannot be read
    (no token yet, no record mount): a plan made without the lock is then
    made again once the lock is held, if anyone took it in between."""
    if ctx.api is None or (ctx.cluster is not None and not ctx.follow_active_node()):
        return None  # no Vault up to hold the lock yet
    ctx.ensure_token()  # a bad token is reported as such, here as anywhere
    try:
        return read_lock(ctx.api, LockLocation.for_record(ctx.spec.record_location)).version
    except VaultformError:
        return None


@contextlib.contextmanager
def apply_lock(ctx, plan=None) -> Iterator[Optional[_ApplyLock]]:
    """Hold the apply lock for the block; released on success, failure, Ctrl-C and SIGTERM.

    Given a `plan` that changes nothing (not even the ownership record), no
    lock is taken and None is yielded: such an apply writes nothing (it must
    not even bump the lock's version). A local cluster that is not up yet
    (this run starts or initialises it) has no Vault to keep the lock in: it
    is taken just before the first configuration change, which is when that
    run first needs a token.
    """
    if ctx.api is None or (plan is not None and not plan.changes and not plan.record_work):
        yield None
        return
    lock = _ApplyLock(ctx)
    with _sigterm_as_interrupt():
        try:
            if _local_cluster_down(ctx):
                # The executor prepares for the first configuration change
                # once the cluster is up: that is the moment to take it.
                ctx.on_vault_ready(lock.take)
            else:
                ctx.ensure_token()
                lock.take()
            yield lock
        finally:
            ctx.cancel_on_vault_ready(lock.take)
            lock.release()
