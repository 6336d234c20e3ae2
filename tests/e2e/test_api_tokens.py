"""The running app (production mode) takes a JWT from the test identity service on its REST
API, as a partner service would call it with curl."""

from __future__ import annotations

import httpx

from tests.factories import create_member
from tests.support.api_callers import link_token


def test_a_partners_token_reads_the_members_credits_from_the_running_app(app, jwt_issuer) -> None:
    member = create_member(app.engine, credits_granted=21)
    token = link_token(app.engine, jwt_issuer, member.id)
    response = httpx.get(
        app.url("/api/v1/credits"), headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json()["current"] == 21
    refused = httpx.get(
        app.url("/api/v1/credits"),
        headers={"Authorization": f"Bearer {jwt_issuer.expired()}"},
        timeout=30,
    )
    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]
