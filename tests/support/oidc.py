"""oidc-provider-mock, a real OpenID Connect provider, started on loopback for the tests."""

from __future__ import annotations

import json
import subprocess

import httpx

from tests.support.servers import PROJECT_ROOT, free_port, wait_for

SSO_USERS = [
    {
        "sub": "sso-alice",
        "email": "alice.sso@example.com",
        "email_verified": True,
        "name": "Alice Sso",
    },
    {
        "sub": "sso-unverified",
        "email": "unverified.sso@example.com",
        "email_verified": False,
        "name": "Unverified Sso",
    },
]


class OidcProvider:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def discovery_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/openid-configuration"

    def start(self) -> None:
        args = [
            str(PROJECT_ROOT / ".venv/bin/oidc-provider-mock"),
            "--port",
            str(self.port),
            "--require-nonce",
            "true",
        ]
        for user in SSO_USERS:
            args += ["--user-claims", json.dumps(user)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def ready() -> bool:
            try:
                return httpx.get(self.discovery_url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=30, what="the OpenID Connect provider", interval=0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
