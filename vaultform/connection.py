"""Reaching Vault: which address and token to use, and one client to do it.

Every request goes through VaultAPI so that errors come out as one line
naming the address and path (never a body), 404 reads as "absent", and a
shared keep-alive session serves the concurrent reads of a plan.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, List, Optional, Union

import hvac
import requests
from hvac import exceptions as hvac_errors
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from vaultform import redact
from vaultform.errors import PermissionDenied, VaultConnectionError, VaultRequestError
from vaultform.names import url_path

POOL_SIZE = 8
_MISSING = object()  # a 404 answer, told apart from an empty one

_CAPABILITY = {"GET": "read", "LIST": "list", "POST": "create/update", "PUT": "create/update", "DELETE": "delete"}


def env_first(*names: str) -> Optional[str]:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def resolve_address(flag: Optional[str], spec_address: Optional[str], local_address: Optional[str]) -> Optional[str]:
    return flag or env_first("VAULT_ADDR", "BAO_ADDR") or spec_address or local_address


def clean_token(token: str, source: str) -> str:
    """The token without surrounding whitespace (a CI secret's trailing
    newline), refused when it holds a character no Vault token has: sent as
    an HTTP header it would make the HTTP library raise an error quoting it.
    The error names where the token came from, never the token."""
    token = token.strip()
    if not token:
        raise VaultConnectionError(f"the Vault token in {source} is empty; set a token there or unset it")
    bad = next((c for c in token if not (0x21 <= ord(c) <= 0x7E)), None)
    if bad is not None:
        what = "a space" if bad.isspace() else ("a control character" if not bad.isprintable() or ord(bad) < 0x20
                                                 else "a non-ASCII character")
        raise VaultConnectionError(f"the Vault token in {source} contains {what}, which no Vault token has; "
                                   f"set it again without it")
    return token


def resolve_token(local_root_token: Callable[[], Optional[str]]) -> "tuple[Optional[str], str]":
    """VAULT_TOKEN/BAO_TOKEN, then ~/.vault-token, then (local cluster) init's root token.

    The spec never holds a token. `local_root_token` is only called when
    nothing else gave one, since reading the keys file is a custody act.
    Every token is stripped and checked (clean_token) before any use.
    """
    source = "VAULT_TOKEN" if os.environ.get("VAULT_TOKEN") else "BAO_TOKEN"
    token = env_first("VAULT_TOKEN", "BAO_TOKEN")
    if not token:
        token_file = Path(os.path.expanduser("~")) / ".vault-token"
        if token_file.is_file():
            source = str(token_file)
            try:
                token = token_file.read_text(encoding="utf-8") or None
            except (OSError, UnicodeDecodeError):
                raise VaultConnectionError(f"the Vault token in {source} cannot be read as text") from None
            if token is not None and not token.strip():
                token = None  # an empty file: as if there were none
    if not token:
        token = local_root_token()
        source = "the local cluster's keys file"
    if token:
        token = clean_token(token, source)
        redact.register(token)
    return token, source


def tls_verify() -> Union[bool, str]:
    skip = (env_first("VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY") or "").lower()
    if skip in ("1", "true", "yes"):
        return False
    return env_first("VAULT_CACERT", "BAO_CACERT") or True


def _session() -> requests.Session:
    session = requests.Session()
    # Only reads are retried: when the connection itself failed, or when the
    # server asked to slow down (429 from a rate-limit quota, honouring
    # Retry-After) or a proxy in front of it had no answer (502, 504), with
    # exponential backoff. A sealed (503) or forbidden answer is a fact to
    # report, not to retry.
    retry = Retry(total=5, connect=3, read=0, status=4, backoff_factor=0.2,
                  status_forcelist=frozenset({429, 502, 504}), respect_retry_after_header=True,
                  raise_on_status=False, allowed_methods=frozenset({"GET", "LIST", "HEAD"}))
    adapter = HTTPAdapter(pool_connections=POOL_SIZE, pool_maxsize=POOL_SIZE, max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _acl_denial(exc: hvac_errors.Forbidden) -> bool:
    """Whether a 403 came from a policy check on a valid token.

    Measured on OpenBao 2.7.2 (Vault answers the same way): an unknown or
    expired token gets `permission denied` as is, while a valid token whose
    policies lack the path gets the ACL's multi-error form
    `1 error occurred: * permission denied`.
    """
    return any("error occurred" in str(e) for e in (getattr(exc, "errors", None) or []))


UPGRADE_WAIT = 15.0


class _Upgrading(Exception):
    """Vault said a KV mount is upgrading and will answer again shortly."""


class VaultAPI:
    """Generic Vault calls over hvac, with errors made user-facing."""

    def __init__(self, address: str, token: Optional[str] = None, namespace: Optional[str] = None,
                 verify: Union[bool, str, None] = None, timeout: float = 30):
        self.address = address.rstrip("/")
        self.namespace = namespace
        self.requests = 0
        self._count_lock = threading.Lock()
        self.client = hvac.Client(url=self.address, token=token, namespace=namespace,
                                  verify=tls_verify() if verify is None else verify,
                                  timeout=timeout, session=_session())
        # hvac falls back to VAULT_TOKEN/~/.vault-token by itself; vaultform
        # resolves the token in its own documented order instead.
        self.client.token = token
        self.token_source = ""

    def set_token(self, token: str, source: str = "") -> None:
        token = clean_token(token, source or "the token given")
        redact.register(token)
        self.client.token = token
        self.token_source = source

    def retarget(self, address: str) -> None:
        """Send every further request to another node of the same cluster."""
        self.address = address.rstrip("/")
        self.client.url = self.address

    def check_token(self) -> None:
        """One lookup per run, so a stale token fails with its source named
        instead of as a 403 on whatever is read first."""
        with self._count_lock:
            self.requests += 1
        try:
            self.client.auth.token.lookup_self()
        except hvac_errors.Forbidden as exc:
            if _acl_denial(exc):
                return  # a valid token without lookup-self (no default policy) may still do the work
            raise VaultConnectionError(
                f"the token from {self.token_source or 'the environment'} is not valid for Vault at {self.address}") from None
        except hvac_errors.VaultDown:
            raise VaultConnectionError(f"Vault at {self.address} is sealed or down") from None
        except requests.exceptions.ConnectionError:
            raise VaultConnectionError(f"cannot reach Vault at {self.address}: connection refused or unreachable") from None
        except hvac_errors.VaultError:
            pass  # a token without lookup-self rights may still do the work

    @property
    def has_token(self) -> bool:
        return bool(self.client.token)

    def _call(self, method: str, path: str, fn: Callable[[], Any], missing: Any = None) -> Any:
        deadline = time.monotonic() + UPGRADE_WAIT
        while True:
            try:
                return self._call_once(method, path, fn, missing)
            except _Upgrading:
                # A KV v2 mount refuses requests for a moment after it is
                # created (it "upgrades" its storage); that is worth waiting for.
                if time.monotonic() > deadline:
                    raise VaultRequestError(f"{method} {path} failed: the KV mount is still upgrading "
                                            f"after {UPGRADE_WAIT:.0f} s") from None
                time.sleep(0.1)

    def _call_once(self, method: str, path: str, fn: Callable[[], Any], missing: Any = None) -> Any:
        with self._count_lock:
            self.requests += 1
        try:
            return fn()
        except hvac_errors.InvalidPath:
            return missing
        except hvac_errors.Forbidden:
            raise PermissionDenied(
                f"permission denied: {method} {path} needs the {_CAPABILITY.get(method, method)!r} capability "
                f"on {path!r} (Vault at {self.address})") from None
        except hvac_errors.VaultDown:
            raise VaultConnectionError(f"Vault at {self.address} is sealed or down ({method} {path})") from None
        except hvac_errors.VaultError as exc:
            detail = "; ".join(str(e) for e in (exc.errors or [])) if getattr(exc, "errors", None) else type(exc).__name__
            if "resume service shortly" in detail:
                raise _Upgrading() from None
            raise VaultRequestError(redact.redact(f"{method} {path} failed: {detail}")) from None
        except requests.exceptions.SSLError:
            raise VaultConnectionError(
                f"TLS verification failed for {self.address} (set VAULT_CACERT to its CA, or VAULT_SKIP_VERIFY for a demo)") from None
        except requests.exceptions.ConnectionError:
            raise VaultConnectionError(f"cannot reach Vault at {self.address}: connection refused or unreachable") from None
        except requests.exceptions.Timeout:
            raise VaultConnectionError(f"Vault at {self.address} did not answer in time ({method} {path})") from None

    # Every request path goes through names.url_path: checked segment by
    # segment and percent-encoded, so a name is never URL syntax.
    def read(self, path: str) -> Optional[dict]:
        url = url_path(path)
        return self._call("GET", path, lambda: self.client.read(url))

    def list(self, path: str) -> List[str]:
        url = url_path(path)
        result = self._call("LIST", path, lambda: self.client.list(url))
        if not result:
            return []
        return list((result.get("data") or {}).get("keys") or [])

    def write(self, path: str, data: dict) -> Any:
        url = url_path(path)
        return self._written("POST", path, self._call("POST", path, lambda: self.client.write_data(url, data=data),
                                                      missing=_MISSING))

    def put(self, path: str, data: dict) -> Any:
        url = url_path(path)
        return self._written("PUT", path, self._call("PUT", path, lambda: self.client.adapter.put(f"/v1/{url}", json=data),
                                                     missing=_MISSING))

    def delete(self, path: str) -> Any:
        url = url_path(path)
        # Deleting what is not there is what a delete wants; Vault says 204.
        return self._call("DELETE", path, lambda: self.client.delete(url))

    def _written(self, method: str, path: str, response: Any) -> Any:
        if response is _MISSING:
            # A 404 on a write is never "done": no mount or route serves the path.
            raise VaultRequestError(f"{method} {path} failed: Vault at {self.address} answered 404: nothing serves "
                                    "this path (is its mount or auth method there?)")
        return response

    def raw_get(self, path: str) -> requests.Response:
        """An unauthenticated-style GET that returns any status (health, seal status)."""
        with self._count_lock:
            self.requests += 1
        try:
            return self.client.session.get(f"{self.address}/v1/{path}", timeout=5,
                                           verify=self.client.adapter._kwargs.get("verify", True))
        except requests.exceptions.RequestException:
            raise VaultConnectionError(f"cannot reach Vault at {self.address}") from None
