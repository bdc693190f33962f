"""A small OpenID Connect provider on loopback HTTPS, for jwt/oidc auth tests.

It serves what OpenBao's jwt plugin fetches: the discovery document
(/.well-known/openid-configuration), the JWKS (/jwks) and the token endpoint
(/token) of the authorization-code flow, over real TLS with its own CA (so
Vault's oidc_discovery_ca_pem / jwks_ca_pem are exercised). It signs JWTs
(RS256) with its own key, as GitHub Actions' token service does.

The token endpoint checks the client secret Vault sends: a login through the
OIDC flow proves the write-only oidc_client_secret reached Vault.
"""

from __future__ import annotations

import base64
import http.server
import secrets
import ssl
import tempfile
import threading
import time
import urllib.parse
from typing import Dict, Optional

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.kube import JsonHandler, _make_tls_material, b64url_encode, sign_rs256


def _jwk(key: rsa.RSAPublicKey, kid: str) -> dict:
    numbers = key.public_numbers()

    def b64_int(value: int) -> str:
        return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": b64_int(numbers.n), "e": b64_int(numbers.e)}


class _Handler(JsonHandler):
    server: "_Server"

    def do_GET(self):
        provider = self.server.provider
        path = self.path.split("?", 1)[0]
        if path == "/.well-known/openid-configuration":
            return self._send_json(200, provider.discovery())
        if path == "/jwks":
            return self._send_json(200, {"keys": [_jwk(provider.key.public_key(), provider.kid)]})
        return self._send_json(404, {"error": "not found"})

    def do_POST(self):
        provider = self.server.provider
        if self.path.split("?", 1)[0] != "/token":
            return self._send_json(404, {"error": "not found"})
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()))
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            client_id, client_secret = urllib.parse.unquote(user), urllib.parse.unquote(password)
        provider.token_requests.append({"client_id": client_id, "secret_matched": client_secret == provider.client_secret})
        if (client_id, client_secret) != (provider.client_id, provider.client_secret):
            return self._send_json(401, {"error": "invalid_client"})
        id_token = provider.codes.pop(form.get("code", ""), None)
        if id_token is None:
            return self._send_json(400, {"error": "invalid_grant"})
        return self._send_json(200, {"access_token": secrets.token_hex(16), "token_type": "Bearer",
                                "expires_in": 300, "id_token": id_token})


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    provider: "OidcProvider"


class OidcProvider:
    """Loopback HTTPS OIDC provider: `issuer`, `ca_pem`, `sign(claims)`."""

    def __init__(self, client_id: str = "vault", client_secret: Optional[str] = None):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_hex(16)
        self.codes: Dict[str, str] = {}       # authorization code -> the id_token /token hands out
        self.token_requests: list = []        # what /token saw (never the secret itself)
        ca, cert, key = _make_tls_material()
        self.ca_pem = ca.decode()
        self._tmp = tempfile.TemporaryDirectory(prefix="vaultform-oidc-")
        cert_file, key_file = f"{self._tmp.name}/cert.pem", f"{self._tmp.name}/key.pem"
        with open(cert_file, "wb") as f:
            f.write(cert)
        with open(key_file, "wb") as f:
            f.write(key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.provider = self
        self.issuer = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "OidcProvider":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._tmp.cleanup()

    def __enter__(self) -> "OidcProvider":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def public_key_pem(self) -> str:
        return self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def discovery(self) -> dict:
        return {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks",
                "authorization_endpoint": f"{self.issuer}/authorize", "token_endpoint": f"{self.issuer}/token",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"]}

    def sign(self, claims: dict, lifetime: int = 300) -> str:
        now = int(time.time())
        return sign_rs256({"iss": self.issuer, "iat": now, "nbf": now - 5, "exp": now + lifetime, **claims},
                          self.key, kid=self.kid)
