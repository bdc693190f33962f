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
from typing import Any, Callable, Dict, List, Optional, Union
from urllib.parse import urlsplit

import hvac
import requests
import urllib3
from hvac import exceptions as hvac_errors
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from vaultform import concurrency, redact
from vaultform.errors import PermissionDenied, UnsupportedOperation, VaultConnectionError, VaultRequestError
from vaultform.names import path_problem, url_path

HOST_POOLS = 8                   # connection pools kept: one per node address (HA retargets)
MOST_CONNECTIONS = concurrency.MOST  # concurrent reads or changes, at most
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


def address_source(flag: Optional[str]) -> str:
    """Where the address in use came from, for an error message."""
    if flag:
        return "--address"
    return "VAULT_ADDR" if env_first("VAULT_ADDR") else "BAO_ADDR" if env_first("BAO_ADDR") else "vault.address"


def address_problem(address: str) -> Optional[str]:
    """Why `address` cannot be a Vault address, or None. The message never
    repeats the address: it may hold a password (http://user:PASS@host)."""
    if not isinstance(address, str) or not address.strip():
        return "is empty"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7f for ch in address):
        return "contains white space or a control character"
    if "://" not in address:
        return "has no scheme: write it as http://HOST:PORT or https://HOST:PORT"
    if "@" in address:
        # Checked on the whole text: a password holding '/' ends the host early.
        return "holds credentials (user:password@): they are refused and never sent; give the token in VAULT_TOKEN"
    try:
        parts = urlsplit(address)
    except ValueError:
        return "is not a valid URL (an unclosed [ in an IPv6 host?)"
    if parts.scheme.lower() not in ("http", "https"):
        return f"has the scheme {parts.scheme[:20]!r}: Vault is reached over http:// or https://"
    try:
        port = parts.port
    except ValueError:
        return "has a port that is not a number from 1 to 65535"
    if not parts.hostname:
        return "has no host"
    if port == 0:
        return "has port 0"
    if parts.query or parts.fragment or address.rstrip().endswith(("?", "#")):
        return "has a query or fragment (? or #): give only scheme, host, port and an optional path"
    return None


def check_address(address: str, source: str) -> str:
    problem = address_problem(address)
    if problem:
        raise VaultConnectionError(f"the Vault address from {source} {problem}")
    return address.rstrip("/")


def namespace_problem(namespace: str) -> Optional[str]:
    """Why a namespace (sent as the X-Vault-Namespace header) cannot be one, or None."""
    problem = path_problem(namespace.strip("/")) if isinstance(namespace, str) else "is not a string"
    if problem:
        return problem
    if any(ch.isspace() for ch in namespace):
        return "contains white space"
    return None


TOKEN_FILE_SOURCE = "~/.vault-token"


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


def resolve_token(cluster_root_token: Optional[Callable[[], Optional[str]]] = None) -> "tuple[Optional[str], str]":
    """The token every command uses, and where it came from. In this order:
    VAULT_TOKEN, BAO_TOKEN; then, for a spec that runs its own cluster, that
    cluster's root token (init's keys file); then ~/.vault-token.

    The cluster's token comes before ~/.vault-token because the file is
    whatever the user last logged in to (often an old dev server): a stale
    4-byte file once made every plan after the README's apply fail, since
    apply had used the cluster's token and plan the file. plan, apply,
    status and destroy all call this one function, so they pick the same.
    The spec never holds a token.
    """
    for name in ("VAULT_TOKEN", "BAO_TOKEN"):
        if os.environ.get(name):
            return _registered(clean_token(os.environ[name], name)), name
    if cluster_root_token is not None:
        token = cluster_root_token()
        if token:
            return _registered(clean_token(token, CLUSTER_TOKEN_SOURCE)), CLUSTER_TOKEN_SOURCE
    token_file = Path(os.path.expanduser("~")) / ".vault-token"
    try:
        if token_file.is_file():
            token = token_file.read_text(encoding="utf-8")
            if token.strip():
                return _registered(clean_token(token, TOKEN_FILE_SOURCE)), TOKEN_FILE_SOURCE
    except (OSError, UnicodeDecodeError):
        pass  # an unreadable file is no token; "no Vault token" says what to do
    return None, ""


CLUSTER_TOKEN_SOURCE = "the local cluster's keys file (init's root token)"


def _registered(token: str) -> str:
    redact.register(token)
    return token


def choose_another(source: str) -> str:
    """How to pick a different token than the one from `source`."""
    if source in ("VAULT_TOKEN", "BAO_TOKEN"):
        return f"set {source} to a valid token (or unset it to use the next source)"
    if source == CLUSTER_TOKEN_SOURCE:
        return "set VAULT_TOKEN to choose another token"
    return f"set VAULT_TOKEN to choose another token, or log in again to renew {TOKEN_FILE_SOURCE}"


def tls_verify() -> Union[bool, str]:
    skip = (env_first("VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY") or "").lower()
    if skip in ("1", "true", "yes"):
        # Asked for explicitly; urllib3 would otherwise print a two-line
        # InsecureRequestWarning per host, breaking one-line output.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return False
    return env_first("VAULT_CACERT", "BAO_CACERT") or True


def http_request(method: str, url: str, **kwargs) -> requests.Response:
    """The one way vaultform sends a request outside VaultAPI (health, seal
    status, init, unseal, raft membership): TLS verified as for every Vault
    connection, from VAULT_CACERT / VAULT_SKIP_VERIFY (or BAO_*)."""
    return requests.request(method, url, verify=tls_verify(), **kwargs)


# Answers that mean "slow down": a rate-limit quota (429), a proxy in front
# of Vault with no answer (502, 504), a node not ready (503). Counted for
# the apply's concurrency (vaultform/concurrency.py).
PUSHBACK = frozenset({429, 502, 503, 504})
_READ_METHODS = frozenset({"GET", "LIST", "HEAD"})


class _Retry(Retry):
    """Reads are retried when the connection itself failed, or when the
    server asked to slow down (429, honouring Retry-After) or a proxy in
    front of it had no answer (502, 504), with exponential backoff. Writes
    only on 429: a rate-limit quota refuses a request before handling it,
    while after a 502 or 504 the write may have been done. A sealed (503)
    or forbidden answer is a fact to report, not to retry. Every pushback
    answer is counted (`signal`), retried or not."""

    signal: Optional[Callable[[], None]] = None

    def new(self, **kw: Any) -> "_Retry":
        retry = super().new(**kw)
        retry.signal = self.signal
        return retry

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code in PUSHBACK and self.signal is not None:
            self.signal()
        if method.upper() not in _READ_METHODS and status_code != 429:
            return False
        return super().is_retry(method, status_code, has_retry_after)


def _session(signal: Optional[Callable[[], None]] = None) -> requests.Session:
    session = requests.Session()
    retry = _Retry(total=5, connect=3, read=0, status=4, backoff_factor=0.2,
                   status_forcelist=frozenset({429, 502, 504}), respect_retry_after_header=True,
                   raise_on_status=False, allowed_methods=_READ_METHODS | {"POST", "PUT", "DELETE"})
    retry.signal = signal
    # As many connections per node as reads or changes run at once
    # (concurrency.adaptive_map, the executor): one beyond the pool would
    # open and close a connection of its own every time.
    adapter = HTTPAdapter(pool_connections=HOST_POOLS, pool_maxsize=MOST_CONNECTIONS, max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # requests reads the environment again on every request (proxy
    # variables, REQUESTS_CA_BUNDLE, ~/.netrc): about a fifth of the client's
    # CPU per request, measured, on a machine whose two cores the server
    # shares. A run's environment does not change, so VaultAPI reads it once
    # (_pin_environment); a netrc entry never applied (Vault takes a header).
    session.trust_env = False
    return session


def _env_verify(verify: Union[bool, str]) -> Union[bool, str]:
    """What requests would verify against: with verify=True it takes
    REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, when set."""
    if verify is True:
        return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return verify


def _pin_environment(session: requests.Session, address: str) -> None:
    """The proxies requests would take from the environment for `address`
    (HTTP(S)_PROXY, NO_PROXY), read once instead of on every request."""
    session.proxies = requests.utils.get_environ_proxies(address)


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
        self.pushback = 0   # answers that asked to slow down (PUSHBACK), for the apply's concurrency
        self._count_lock = threading.Lock()
        verify = _env_verify(tls_verify() if verify is None else verify)
        session = _session(self._pushed_back)
        _pin_environment(session, self.address)
        # hvac takes a given session's own `verify` over its verify argument:
        # without this, VAULT_CACERT was silently ignored (always the system CAs).
        session.verify = verify
        self.verify = verify
        self.client = hvac.Client(url=self.address, token=token, namespace=namespace,
                                  verify=verify, timeout=timeout, session=session)
        # hvac falls back to VAULT_TOKEN/~/.vault-token by itself; vaultform
        # resolves the token in its own documented order instead.
        self.client.token = token
        self.token_source = ""

    def _pushed_back(self) -> None:
        with self._count_lock:
            self.pushback += 1

    def set_token(self, token: str, source: str = "") -> None:
        redact.register(token)
        self.client.token = token
        self.token_source = source

    def retarget(self, address: str) -> None:
        """Send every further request to another node of the same cluster."""
        self.address = address.rstrip("/")
        self.client.url = self.address
        _pin_environment(self.client.session, self.address)

    def check_token(self) -> None:
        """One lookup per run, so a stale token fails with its source named
        instead of as a 403 on whatever is read first."""
        self.check_is_vault()
        with self._count_lock:
            self.requests += 1
        try:
            answer = self.client.auth.token.lookup_self()
        except hvac_errors.InvalidPath:
            # Every Vault serves lookup-self; a 404 is an ingress, a proxy or a mistyped port.
            raise self.not_vault("auth/token/lookup-self answered 404") from None
        except hvac_errors.Forbidden as exc:
            if _acl_denial(exc):
                return  # a valid token without lookup-self (no default policy) may still do the work
            raise VaultConnectionError(self.token_refused()) from None
        except hvac_errors.VaultDown:
            raise VaultConnectionError(f"Vault at {self.address} is sealed or down") from None
        except requests.exceptions.SSLError:
            raise self._tls_failure() from None
        except requests.exceptions.ConnectionError:
            raise VaultConnectionError(f"cannot reach Vault at {self.address}: connection refused or unreachable") from None
        except requests.exceptions.Timeout:
            raise VaultConnectionError(f"Vault at {self.address} did not answer in time") from None
        except hvac_errors.VaultError:
            return  # a token without lookup-self rights may still do the work
        if not isinstance(answer, dict):
            raise self.not_vault("auth/token/lookup-self did not answer JSON")

    def check_is_vault(self) -> None:
        """Every Vault answers sys/seal-status, without a token, with JSON
        holding "sealed". An ingress, a web server or a mistyped port does
        not; taken for an empty Vault it once got a green "create everything"."""
        with self._count_lock:
            self.requests += 1
        try:
            # verify given per request: requests lets REQUESTS_CA_BUNDLE override a session's own.
            response = self.client.session.get(f"{self.address}/v1/sys/seal-status", timeout=10, verify=self.verify)
        except requests.exceptions.SSLError:
            raise self._tls_failure() from None
        except requests.exceptions.RequestException:
            raise VaultConnectionError(f"cannot reach Vault at {self.address}: connection refused or unreachable") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "sealed" not in body:
            raise self.not_vault(f"sys/seal-status answered HTTP {response.status_code} without Vault's JSON")

    def token_state(self) -> str:
        """"valid", "rejected" (Vault does not know the token) or "unknown"
        (no token, or no answer that tells), for `status`."""
        if not self.client.token:
            return "unknown"
        try:
            answer = self.client.auth.token.lookup_self()
        except hvac_errors.Forbidden as exc:
            return "valid" if _acl_denial(exc) else "rejected"
        except (hvac_errors.VaultError, requests.exceptions.RequestException):
            return "unknown"
        return "valid" if isinstance(answer, dict) else "unknown"

    def token_refused(self) -> str:
        source = self.token_source or "the environment"
        return f"Vault at {self.address} refused the token from {source}: {choose_another(source)}"

    def not_vault(self, why: str) -> VaultConnectionError:
        return VaultConnectionError(f"no Vault API at {self.address}: {why} (is it the right address and port?)")

    def _tls_failure(self) -> VaultConnectionError:
        return VaultConnectionError(f"TLS verification failed for {self.address} (set VAULT_CACERT to its CA, "
                                    "or VAULT_SKIP_VERIFY for a demo)")

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
            answer = fn()
        except hvac_errors.InvalidPath:
            return missing
        except hvac_errors.Forbidden:
            raise PermissionDenied(
                f"permission denied: {method} {path} needs the {_CAPABILITY.get(method, method)!r} capability "
                f"on {path!r} (Vault at {self.address})") from None
        except hvac_errors.UnsupportedOperation:
            raise UnsupportedOperation(f"{method} {path} failed: Vault at {self.address} serves no {method} "
                                       "there (405)") from None
        except hvac_errors.VaultDown:
            raise VaultConnectionError(f"Vault at {self.address} is sealed or down ({method} {path})") from None
        except hvac_errors.VaultError as exc:
            detail = "; ".join(str(e) for e in (exc.errors or [])) if getattr(exc, "errors", None) else type(exc).__name__
            if "resume service shortly" in detail:
                raise _Upgrading() from None
            if "unsupported operation" in detail:  # OpenBao says so with a 400 as often as a 405
                raise UnsupportedOperation(f"{method} {path} failed: Vault at {self.address} serves no {method} "
                                           "there (unsupported operation)") from None
            raise VaultRequestError(redact.redact(f"{method} {path} failed: {detail}")) from None
        except requests.exceptions.SSLError:
            raise self._tls_failure() from None
        except requests.exceptions.ConnectionError:
            raise VaultConnectionError(f"cannot reach Vault at {self.address}: connection refused or unreachable") from None
        except requests.exceptions.Timeout:
            raise VaultConnectionError(f"Vault at {self.address} did not answer in time ({method} {path})") from None
        except requests.exceptions.RequestException as exc:  # an invalid header value, too many redirects, ...
            raise VaultConnectionError(f"{method} {path} to Vault at {self.address} failed: "
                                       f"{type(exc).__name__}") from None
        if isinstance(answer, requests.Response) and answer.status_code != 204 and answer.content:
            # hvac hands back the raw response when its body is not JSON; Vault's never is.
            raise self.not_vault(f"{method} {path} answered HTTP {answer.status_code} that is not JSON")
        return answer

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

    def list_info(self, path: str) -> Dict[str, dict]:
        """A LIST's key_info: key -> what Vault says about it (identity lists
        give each ID's name), {} when there is nothing."""
        url = url_path(path)
        result = self._call("LIST", path, lambda: self.client.list(url))
        return dict(((result or {}).get("data") or {}).get("key_info") or {})

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
            return self.client.session.get(f"{self.address}/v1/{path}", timeout=5, verify=self.verify)
        except requests.exceptions.RequestException:
            raise VaultConnectionError(f"cannot reach Vault at {self.address}") from None
