"""Single sign-on with any OpenID Connect provider: authorization code flow with PKCE, state and
nonce, and a verified ID token. Thin adapter over Authlib and httpx; no Reflex here."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.deprecate import AuthlibDeprecationWarning

with warnings.catch_warnings():
    # Authlib 1.x announces a future move of its httpx integration on import; nothing to act on.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

DISCOVERY_TTL_SECONDS = 3600
CLOCK_SKEW_SECONDS = 60


class SsoError(RuntimeError):
    """The provider's answer could not be trusted or used; the message says why."""


@dataclass(frozen=True)
class SsoIdentity:
    issuer: str
    subject: str
    email: str
    email_verified: bool
    name: str


@dataclass(frozen=True)
class OidcClient:
    discovery_url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scope: str = "openid email profile"

    async def _discovery(self) -> dict[str, Any]:
        cached = _DISCOVERY.get(self.discovery_url)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                response = await http.get(self.discovery_url)
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise SsoError(f"the provider's discovery document is unavailable: {error}") from None
        for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(key), str):
                raise SsoError(f"the provider's discovery document has no {key}")
        _DISCOVERY[self.discovery_url] = (time.monotonic() + DISCOVERY_TTL_SECONDS, document)
        return document

    def _oauth(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=self.scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=10,
        )

    async def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str:
        document = await self._discovery()
        async with self._oauth() as oauth:
            url, _ = oauth.create_authorization_url(
                document["authorization_endpoint"],
                state=state,
                nonce=nonce,
                code_verifier=code_verifier,
            )
        return url

    async def finish(self, *, code: str, code_verifier: str, nonce: str) -> SsoIdentity:
        """Exchange the code, verify the ID token (signature, issuer, audience, expiry, nonce)."""
        document = await self._discovery()
        try:
            async with self._oauth() as oauth:
                token = await oauth.fetch_token(
                    document["token_endpoint"], code=code, code_verifier=code_verifier
                )
            async with httpx.AsyncClient(timeout=10) as http:
                keys = (await http.get(document["jwks_uri"])).raise_for_status().json()
        except (httpx.HTTPError, ValueError) as error:
            raise SsoError(f"the provider refused the sign-in: {error}") from None
        except Exception as error:  # noqa: BLE001 - Authlib raises its own OAuth errors
            raise SsoError(f"the provider refused the sign-in: {error}") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SsoError("the provider sent no ID token")
        try:
            decoded = jwt.decode(id_token, KeySet.import_key_set(keys))
            jwt.JWTClaimsRegistry(
                leeway=CLOCK_SKEW_SECONDS,
                iss={"essential": True, "value": document["issuer"]},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as error:
            raise SsoError(f"the ID token did not verify: {error}") from None
        claims = decoded.claims
        return SsoIdentity(
            issuer=document["issuer"],
            subject=str(claims["sub"]),
            email=str(claims.get("email") or ""),
            email_verified=claims.get("email_verified") is True,
            name=str(claims.get("name") or ""),
        )


_DISCOVERY: dict[str, tuple[float, dict[str, Any]]] = {}
