"""A fake Kubernetes API server: just enough for OpenBao's kubernetes auth.

It serves the TokenReview endpoint over real TLS (so Vault's CA verification
is exercised) and mints service-account JWTs signed with its own RSA key, the
way the kube-apiserver's token issuer does.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.server
import ipaddress
import json
import os
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from typing import Optional, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
TOKENREVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
CLOCK_SKEW = 60  # seconds of leeway on exp/nbf, like the real apiserver


# -- JWT (RS256 only; no PyJWT dependency) ---------------------------------


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_rs256(claims: dict, key: rsa.RSAPrivateKey, kid: Optional[str] = None) -> str:
    """Encode ``claims`` as a compact RS256 JWS."""
    header = {"alg": "RS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = ".".join(
        b64url_encode(json.dumps(part, separators=(",", ":")).encode())
        for part in (header, claims)
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url_encode(signature)}"


def decode_unverified(token: str) -> tuple[dict, dict]:
    """(header, claims) of a compact JWS, without checking anything."""
    header_b64, claims_b64, _ = token.split(".")
    return json.loads(b64url_decode(header_b64)), json.loads(b64url_decode(claims_b64))


def verify_rs256(token: str, public_key: rsa.RSAPublicKey) -> dict:
    """Return the claims of ``token`` if its RS256 signature is valid.

    Raises ValueError otherwise.  Any other ``alg`` (HS256, none, ...) is
    refused outright, as the apiserver does.
    """
    try:
        header, claims = decode_unverified(token)
        signing_input, _, sig_b64 = token.rpartition(".")
        signature = b64url_decode(sig_b64)
    except (ValueError, TypeError) as exc:  # bad base64/JSON/shape
        raise ValueError(f"malformed token: {exc}") from None
    if header.get("alg") != "RS256":
        raise ValueError(f"unexpected signing algorithm {header.get('alg')!r}")
    try:
        public_key.verify(signature, signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise ValueError("invalid signature") from None
    return claims


# -- TLS material ------------------------------------------------------------


def _make_tls_material() -> tuple[bytes, bytes, bytes]:
    """(ca_pem, server_cert_pem, server_key_pem), EC P-256 (fast to generate).

    The server cert carries SANs because Go ignores the CN, and the usual
    CA/leaf extensions so Go's strict x509 verifier accepts the chain.
    """
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before, not_after = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vaultform-test-kube-ca")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca_cert.public_bytes(pem), cert.public_bytes(pem), key_pem


# -- HTTP handling -------------------------------------------------------------


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """A quiet handler that answers JSON (the fake API servers' shared part)."""

    # HTTP/1.0: one request per connection, so no keep-alive handler threads
    # linger after stop().
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):  # noqa: A002 - keep test output clean
        pass

    def _send_json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Handler(JsonHandler):
    server: "_Server"

    def _send_status(self, code: int, reason: str, message: str) -> None:
        # Shape of a Kubernetes metav1.Status error object.
        self._send_json(code, {
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code,
        })

    def _not_found(self) -> None:
        self._send_status(404, "NotFound", "the server could not find the requested resource")

    do_GET = do_PUT = do_DELETE = do_PATCH = _not_found

    def do_POST(self):
        if self.path.split("?", 1)[0] != TOKENREVIEW_PATH:
            return self._not_found()
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length))
            token = body["spec"]["token"]
            if not isinstance(token, str):
                raise TypeError("spec.token is not a string")
        except (ValueError, KeyError, TypeError) as exc:
            return self._send_status(400, "BadRequest", f"invalid TokenReview: {exc}")
        self.server.api._record(body)
        status = self.server.api.review(token, body["spec"].get("audiences"))
        # The real apiserver answers a TokenReview create with 201 either way;
        # the verdict is in status.
        self._send_json(201, {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "metadata": {"creationTimestamp": None},
            "spec": body["spec"],
            "status": status,
        })


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    api: "FakeKubernetesAPI"

    def handle_error(self, request, client_address):
        # Clients dropping the connection or failing the TLS handshake are
        # normal in tests (and the point of some); don't print tracebacks.
        pass


# -- the fake API ----------------------------------------------------------------


class FakeKubernetesAPI:
    """HTTPS TokenReview endpoint on 127.0.0.1 plus a service-account JWT issuer.

    Configure Vault with ``kubernetes_host=api.url``,
    ``kubernetes_ca_cert=api.ca_pem`` and optionally ``issuer=api.issuer`` /
    ``pem_keys=[api.public_key_pem]``; log in with ``api.issue_token(...)``.
    """

    def __init__(self, issuer: str = DEFAULT_ISSUER):
        self.issuer = issuer
        self.url: Optional[str] = None
        self.requests: list[dict] = []  # TokenReview bodies, in arrival order
        self._lock = threading.Lock()
        self._revoked: set[str] = set()

        # Service-account token signing key (the apiserver's --service-account-key-file).
        self._sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_der = self._sa_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = b64url_encode(hashlib.sha256(public_der).digest())
        self.public_key_pem = self._sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

        ca_pem, self._cert_pem, self._key_pem = _make_tls_material()
        self.ca_pem = ca_pem.decode()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> "FakeKubernetesAPI":
        if self._server is not None:
            raise RuntimeError("already started")
        # load_cert_chain only reads files; they are needed just for this call.
        tmpdir = tempfile.mkdtemp(prefix="vaultform-kube-")
        try:
            cert_path, key_path = os.path.join(tmpdir, "tls.crt"), os.path.join(tmpdir, "tls.key")
            with open(cert_path, "wb") as f:
                f.write(self._cert_pem)
            with open(key_path, "wb") as f:
                f.write(self._key_pem)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert_path, key_path)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)

        # Port 0: the kernel picks a free port, so there is no probe/bind race.
        server = _Server(("127.0.0.1", 0), _Handler)
        # Defer the TLS handshake to the per-request thread; otherwise one
        # stalled client would block accept() for everyone.
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        server.api = self
        self._server = server
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name="fake-kube-api", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeKubernetesAPI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- tokens ------------------------------------------------------------------

    def write_ca(self, path) -> str:
        """Write the CA certificate PEM to ``path`` and return the path."""
        with open(path, "w") as f:
            f.write(self.ca_pem)
        return str(path)

    def issue_token(
        self,
        namespace: str,
        name: str,
        uid: Optional[str] = None,
        audiences: Optional[Sequence[str]] = None,
        expires_in: int = 3600,
        issuer: Optional[str] = None,
    ) -> str:
        """An RS256 service-account JWT, shaped like a projected token.

        ``uid`` defaults to a value derived from namespace/name, so tokens for
        the same service account agree (Vault compares it with the review).
        ``audiences`` defaults to ``[self.issuer]``, the apiserver's default.
        A negative ``expires_in`` gives an already-expired token.
        """
        now = int(time.time())
        uid = uid or str(uuid.uuid5(uuid.NAMESPACE_URL, f"serviceaccount/{namespace}/{name}"))
        claims = {
            "aud": list(audiences) if audiences is not None else [self.issuer],
            "exp": now + expires_in,
            "iat": now,
            "nbf": now,
            "iss": issuer or self.issuer,
            # Unique per token (as in k8s >= 1.29): without it two tokens for
            # one SA minted in the same second would be byte-identical, since
            # RS256 signatures are deterministic.
            "jti": str(uuid.uuid4()),
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": name, "uid": uid},
            },
            "sub": f"system:serviceaccount:{namespace}:{name}",
        }
        return self.sign(claims)

    def sign(self, claims: dict) -> str:
        """Sign arbitrary ``claims`` with the SA key (legacy or odd-shaped tokens)."""
        return sign_rs256(claims, self._sa_key, kid=self.key_id)

    def revoke(self, token: str) -> None:
        """Make later reviews of ``token`` unauthenticated (like deleting its SA)."""
        with self._lock:
            self._revoked.add(token)

    # -- review ---------------------------------------------------------------------

    def _record(self, body: dict) -> None:
        with self._lock:
            self.requests.append(body)

    def review(self, token: str, audiences: Optional[Sequence[str]] = None) -> dict:
        """The TokenReview ``status`` the apiserver would return for ``token``.

        The issuer is deliberately not checked: tests can then tell Vault's own
        ``issuer`` validation apart from the review's verdict.
        """
        def denied(error: str) -> dict:
            return {"authenticated": False, "user": {}, "error": error}

        with self._lock:
            if token in self._revoked:
                return denied("[invalid bearer token, service account token has been invalidated]")
        try:
            claims = verify_rs256(token, self._sa_key.public_key())
        except ValueError as exc:
            return denied(f"[invalid bearer token, {exc}]")

        now = time.time()
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] + CLOCK_SKEW < now:
            return denied("[invalid bearer token, service account token has expired]")
        if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] - CLOCK_SKEW > now:
            return denied("[invalid bearer token, service account token is not valid yet]")

        namespace, name, uid = _service_account(claims)
        if not namespace or not name:
            return denied("[invalid bearer token, token lacks service account claims]")

        token_aud = claims.get("aud") or []
        token_aud = [token_aud] if isinstance(token_aud, str) else list(token_aud)
        if audiences:
            # Like the apiserver: the token must be meant for one of the
            # requested audiences, and the answer is their intersection.
            matched = [a for a in audiences if a in token_aud]
            if not matched:
                return denied("[invalid bearer token, token audiences "
                              f"{token_aud!r} is invalid for the target audiences {list(audiences)!r}]")
        else:
            matched = token_aud

        return {
            "authenticated": True,
            "user": {
                "username": f"system:serviceaccount:{namespace}:{name}",
                "uid": uid,
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{namespace}",
                    "system:authenticated",
                ],
            },
            "audiences": matched,
        }


def _service_account(claims: dict) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """(namespace, name, uid) from projected claims, else the legacy ones."""
    projected = claims.get("kubernetes.io")
    if isinstance(projected, dict):
        sa = projected.get("serviceaccount") or {}
        return projected.get("namespace"), sa.get("name"), sa.get("uid")
    return (
        claims.get("kubernetes.io/serviceaccount/namespace"),
        claims.get("kubernetes.io/serviceaccount/service-account.name"),
        claims.get("kubernetes.io/serviceaccount/service-account.uid"),
    )
