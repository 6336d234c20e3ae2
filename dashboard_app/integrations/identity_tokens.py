"""Bearer tokens from an external identity service: a compact JWT signed with a shared secret
(HS256) or with the issuer's published keys (RS256/ES256 from a JWKS URL), verified with joserfc.
Thin adapter over joserfc and httpx; no web or domain imports."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import Key, KeySet, OctKey

SHARED_SECRET_ALGORITHMS = ("HS256",)
PUBLISHED_KEY_ALGORITHMS = ("RS256", "ES256")
# The key type each published-key algorithm needs: an RS256 token never verifies with an EC key.
_KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}
MIN_SECRET_BYTES = 32
MAX_TOKEN_CHARS = 8192


class TokenRejected(Exception):
    """The token cannot be trusted; `reason` is one short word for logs and the 401's detail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedToken:
    issuer: str
    subject: str
    expires_at: datetime
    claims: dict[str, Any]


class _PublishedKeys:
    """The issuer's JWKS, fetched over HTTP and cached. An unknown `kid` refetches, but at most
    once per `min_refetch_seconds` (a flood of made-up kids costs the issuer one request per
    interval), and the cache is refreshed anyway after `max_age_seconds` so removed keys go."""

    def __init__(
        self,
        url: str,
        *,
        min_refetch_seconds: float,
        max_age_seconds: float,
        timeout_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self.url = url
        self.min_refetch_seconds = min_refetch_seconds
        self.max_age_seconds = max_age_seconds
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._fetched_at: float | None = None  # last attempt, successful or not

    def key_for(self, kid: str | None) -> Key:
        with self._lock:
            now = self._clock()
            aged = self._fetched_at is not None and now - self._fetched_at >= self.max_age_seconds
            # Every fetch, the first ones included, waits its turn: an issuer that is down (or
            # a flood of unknown kids) costs one fetch a minute, not one per request.
            if (self._keys is None or aged or self._find(kid) is None) and self._may_refetch(now):
                self._fetch(now)
            if self._keys is None:
                raise TokenRejected("keys_unavailable")
            key = self._find(kid)
        if key is None:
            raise TokenRejected("unknown_key")
        return key

    def _may_refetch(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self.min_refetch_seconds

    def _find(self, kid: str | None) -> Key | None:
        if self._keys is None:
            return None
        if kid is None:
            # Without a kid, only an issuer with a single key is unambiguous.
            return self._keys.keys[0] if len(self._keys.keys) == 1 else None
        return next((key for key in self._keys.keys if key.kid == kid), None)

    def _fetch(self, now: float) -> None:
        self._fetched_at = now
        try:
            response = httpx.get(self.url, timeout=self.timeout_seconds)
            response.raise_for_status()
            document = response.json()
            keys = KeySet.import_key_set(
                {
                    "keys": [
                        k
                        for k in document["keys"]
                        if isinstance(k, dict) and k.get("kty") in ("RSA", "EC")
                    ]
                }
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError, JoseError):
            # Keep the last good keys: the issuer being briefly unreachable rejects nothing new.
            return
        self._keys = keys


class IdentityTokenVerifier:
    """Verifies a compact JWT: algorithm, signature, issuer, audience, expiry, not-before and a
    subject. Give exactly one of `secret` (HS256) and `jwks_url` (RS256/ES256)."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        secret: str | None = None,
        jwks_url: str | None = None,
        leeway_seconds: int = 30,
        jwks_min_refetch_seconds: float = 60.0,
        jwks_max_age_seconds: float = 3600.0,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not issuer or not audience:
            raise ValueError("an identity token verifier needs an issuer and an audience")
        if bool(secret) == bool(jwks_url):
            raise ValueError("give exactly one of a shared secret and a JWKS URL")
        self.issuer = issuer
        self.audience = audience
        self.leeway_seconds = leeway_seconds
        self._secret_key: OctKey | None = None
        self._published: _PublishedKeys | None = None
        if secret:
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ValueError(f"an HS256 secret needs at least {MIN_SECRET_BYTES} bytes")
            self._secret_key = OctKey.import_key(secret.encode())
            self.algorithms: tuple[str, ...] = SHARED_SECRET_ALGORITHMS
        else:
            assert jwks_url is not None
            self._published = _PublishedKeys(
                jwks_url,
                min_refetch_seconds=jwks_min_refetch_seconds,
                max_age_seconds=jwks_max_age_seconds,
                timeout_seconds=timeout_seconds,
                clock=clock,
            )
            self.algorithms = PUBLISHED_KEY_ALGORITHMS

    def verify(self, token: str) -> VerifiedToken:
        """The token's issuer, subject and expiry; raises TokenRejected(reason) otherwise."""
        header = self._header(token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.algorithms:
            raise TokenRejected("algorithm_not_allowed")
        key = self._key(algorithm, header.get("kid"))
        try:
            decoded = jwt.decode(token, key, algorithms=[algorithm])
        except BadSignatureError:
            raise TokenRejected("bad_signature") from None
        except (JoseError, ValueError):
            raise TokenRejected("malformed") from None
        claims = decoded.claims
        self._check_claims(claims)
        try:
            expires_at = datetime.fromtimestamp(claims["exp"], tz=UTC)
        except (OverflowError, OSError, ValueError, TypeError):
            raise TokenRejected("malformed") from None  # an expiry past any calendar
        return VerifiedToken(
            issuer=self.issuer, subject=claims["sub"], expires_at=expires_at, claims=claims
        )

    @staticmethod
    def _header(token: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise TokenRejected("malformed")
        if token.count(".") != 2:
            raise TokenRejected("malformed")
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError, json.JSONDecodeError):
            raise TokenRejected("malformed") from None
        if not isinstance(header, dict):
            raise TokenRejected("malformed")
        return header

    def _key(self, algorithm: str, kid: object) -> Key:
        if self._secret_key is not None:
            return self._secret_key
        assert self._published is not None
        if kid is not None and not isinstance(kid, str):
            raise TokenRejected("malformed")
        key = self._published.key_for(kid)
        # A published key serves only the algorithm its type (and its own `alg`, if any) allows.
        if key.key_type != _KEY_TYPES[algorithm] or key.get("alg") not in (None, algorithm):
            raise TokenRejected("algorithm_not_allowed")
        return key

    def _check_claims(self, claims: dict[str, Any]) -> None:
        registry = jwt.JWTClaimsRegistry(
            leeway=self.leeway_seconds,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            sub={"essential": True},
            exp={"essential": True},
        )
        # Most specific first, so a token both expired and for someone else says which it is.
        for name, reason in (("iss", "wrong_issuer"), ("aud", "wrong_audience")):
            if name not in claims:
                raise TokenRejected(f"missing_{name}")
            try:
                registry.check_value(name, claims[name])
            except JoseError:
                raise TokenRejected(reason) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise TokenRejected("missing_subject")
        if "exp" not in claims:
            raise TokenRejected("missing_exp")
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise TokenRejected("expired") from None
        except InvalidClaimError as error:
            raise TokenRejected(
                "not_yet_valid" if error.claim in ("nbf", "iat") else "malformed"
            ) from None
        except (MissingClaimError, JoseError):
            raise TokenRejected("malformed") from None
