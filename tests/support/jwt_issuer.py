"""A test identity service on loopback: it publishes a JWKS over real HTTP (RSA and EC keys made
with joserfc), counts how often the keys were fetched, rotates keys, and mints tokens good and bad
(expired, not yet valid, wrong audience or issuer, wrong key, alg none, HS256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, Key, OctKey, RSAKey

from tests.support.servers import free_port

AUDIENCE = "dashboard-api-tests"
JWKS_PATH = "/.well-known/jwks.json"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_key(kind: str, kid: str) -> Key:
    if kind == "RS256":
        return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"}, private=True)
    if kind == "ES256":
        return ECKey.generate_key("P-256", parameters={"kid": kid, "use": "sig"}, private=True)
    raise ValueError(kind)


class JwtIssuer:
    """Start it, point API_JWT_JWKS_URL at `jwks_url` and API_JWT_ISSUER at `issuer`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.audience = AUDIENCE
        self.keys: list[Key] = [make_key("RS256", "rsa-1"), make_key("ES256", "ec-1")]
        self.jwks_fetches = 0
        self.available = True  # False: the JWKS answers 503
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}{JWKS_PATH}"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in self.keys]}

    def start(self) -> None:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                with issuer._lock:
                    issuer.jwks_fetches += 1
                    body = json.dumps(issuer.jwks()).encode()
                    available = issuer.available
                if not available:
                    self.send_error(503)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- keys -----------------------------------------------------------------------------------

    def key(self, kid: str) -> Key:
        return next(key for key in self.keys if key.kid == kid)

    def rotate(self, kind: str = "RS256") -> Key:
        """Publish a new key (the old ones stay published) and return it."""
        with self._lock:
            key = make_key(kind, f"{kind.lower()}-{secrets.token_hex(4)}")
            self.keys.append(key)
        return key

    def fetch_count(self) -> int:
        with self._lock:
            return self.jwks_fetches

    # --- tokens ---------------------------------------------------------------------------------

    def claims(self, subject: str = "partner-1", **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def mint(
        self,
        subject: str = "partner-1",
        *,
        kid: str = "rsa-1",
        key: Key | None = None,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A token signed with the published key `kid` (or `key`); claims override the good
        ones (None drops one)."""
        signing_key = key or self.key(kid)
        algorithm = "ES256" if signing_key.key_type == "EC" else "RS256"
        return jwt.encode(
            {"alg": algorithm, "kid": signing_key.kid, **(header or {})},
            self.claims(subject, **claims),
            signing_key,
        )

    def expired(self, subject: str = "partner-1") -> str:
        now = int(time.time())
        return self.mint(subject, iat=now - 7200, nbf=now - 7200, exp=now - 3600)

    def not_yet_valid(self, subject: str = "partner-1") -> str:
        now = int(time.time())
        return self.mint(subject, nbf=now + 3600, exp=now + 7200)

    def wrong_audience(self, subject: str = "partner-1") -> str:
        return self.mint(subject, aud="someone-else")

    def wrong_issuer(self, subject: str = "partner-1") -> str:
        return self.mint(subject, iss="http://127.0.0.1:1/not-the-issuer")

    def wrong_key(self, subject: str = "partner-1") -> str:
        """Signed by a key that claims a published kid but is not the published key."""
        return self.mint(subject, key=make_key("RS256", "rsa-1"))

    def alg_none(self, subject: str = "partner-1") -> str:
        header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(self.claims(subject)).encode())
        return f"{header}.{payload}."

    def hs256(self, secret: str, subject: str = "partner-1", **claims: Any) -> str:
        return jwt.encode(
            {"alg": "HS256"}, self.claims(subject, **claims), OctKey.import_key(secret)
        )

    def hs256_with_public_key(self, subject: str = "partner-1", kid: str = "rsa-1") -> str:
        """The classic confusion attack: HMAC keyed with the published RSA key's JSON."""
        public = json.dumps(self.key(kid).as_dict(private=False), sort_keys=True).encode()
        header = _b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
        payload = _b64(json.dumps(self.claims(subject)).encode())
        signature = hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"
