"""Bearer JWTs on the REST API, from the loopback test issuer: a verified token whose subject
is linked to an active member calls as that member; every other token is a 401 problem."""

from __future__ import annotations

import pytest

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, api_access
from tests.factories import create_member
from tests.support.api_callers import link_token
from tests.support.jwt_issuer import JwtIssuer

PROBLEM = "application/problem+json"
SECRET = "h" * 40


def assert_401(response, detail: str = "") -> dict:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    body = response.json()
    assert body["status"] == 401
    assert detail in body["detail"]
    return body


def test_a_linked_subjects_token_calls_as_its_member(jwt_api, engine, jwt_issuer) -> None:
    member = create_member(engine, credits_granted=12)
    create_member(engine, credits_granted=99)
    response = jwt_api.get("/credits", key=link_token(engine, jwt_issuer, member.id))
    assert response.status_code == 200, response.text
    assert response.json()["current"] == 12


def test_a_sign_in_identity_of_the_same_issuer_just_works(jwt_api, engine, jwt_issuer) -> None:
    with session_scope(engine) as session:
        member = accounts.sign_in_with_sso(
            session=session,
            issuer=jwt_issuer.issuer,
            subject="sso-partner",
            email="sso-partner@example.com",
            email_verified=True,
        )
    response = jwt_api.get("/me", key=jwt_issuer.mint("sso-partner"))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == member.id


@pytest.mark.parametrize(
    ("make_token", "detail"),
    [
        (JwtIssuer.expired, "expired"),
        (JwtIssuer.not_yet_valid, "not valid yet"),
        (JwtIssuer.wrong_audience, "audience"),
        (JwtIssuer.wrong_issuer, "issuer"),
        (JwtIssuer.wrong_key, "signature"),
        (JwtIssuer.alg_none, "algorithm"),
        (JwtIssuer.hs256_with_public_key, "algorithm"),
        (lambda issuer, subject: issuer.hs256(SECRET, subject), "algorithm"),
        (lambda issuer, subject: issuer.mint(subject, sub=None), "subject"),
        (lambda issuer, subject: issuer.mint(subject, header={"kid": "nope"}), "key"),
    ],
)
def test_a_token_that_does_not_verify_is_401_and_says_why(
    jwt_api, engine, jwt_issuer, make_token, detail
) -> None:
    member = create_member(engine, credits_granted=5)
    with session_scope(engine) as session:  # the subject is linked: only the token is wrong
        api_access.link_subject(
            session=session, issuer=jwt_issuer.issuer, subject="partner-1", email=member.email
        )
    body = assert_401(jwt_api.get("/credits", key=make_token(jwt_issuer, "partner-1")), detail)
    assert "current" not in body


def test_an_unlinked_subject_or_a_suspended_member_is_401(jwt_api, engine, jwt_issuer) -> None:
    assert_401(jwt_api.get("/credits", key=jwt_issuer.mint("nobody-linked")), "not linked")
    member = create_member(engine)
    token = link_token(engine, jwt_issuer, member.id)
    assert jwt_api.get("/credits", key=token).status_code == 200
    with session_scope(engine) as session:
        accounts.suspend_member(
            session=session,
            user=accounts.get_user(session=session, user_id=member.id),
            reason="test",
            actor_user_id=None,
        )
    assert_401(jwt_api.get("/credits", key=token), "not linked")


def test_without_an_issuer_configured_tokens_are_not_accepted(api, engine, jwt_issuer) -> None:
    member = create_member(engine)
    token = link_token(engine, jwt_issuer, member.id)
    assert_401(api.get("/credits", key=token), "not accepted")


def test_an_hs256_issuer_verifies_with_its_shared_secret(api, engine, jwt_issuer) -> None:
    api.configure(
        API_JWT_ISSUER=jwt_issuer.issuer,
        API_JWT_AUDIENCE=jwt_issuer.audience,
        API_JWT_SECRET=SECRET,
    )
    member = create_member(engine, credits_granted=3)
    with session_scope(engine) as session:
        api_access.link_subject(
            session=session, issuer=jwt_issuer.issuer, subject="hs-partner", email=member.email
        )
    response = api.get("/credits", key=jwt_issuer.hs256(SECRET, "hs-partner"))
    assert response.status_code == 200, response.text
    assert response.json()["current"] == 3
    assert_401(api.get("/credits", key=jwt_issuer.mint("hs-partner")), "algorithm")


@pytest.mark.parametrize(
    ("scope", "may_write"),
    [("read", False), ("read write", True), ("write", True), ("read writer", False), (None, False)],
)
def test_the_scope_claim_grants_writes_only_when_it_includes_write(
    jwt_api, engine, jwt_issuer, scope, may_write
) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        api_access.link_subject(
            session=session, issuer=jwt_issuer.issuer, subject="scoped", email=member.email
        )
    token = jwt_issuer.mint("scoped", scope=scope)
    response = jwt_api.patch("/profile", key=token, json={"display_name": "Via Token"})
    assert response.status_code == (200 if may_write else 403), response.text
    assert jwt_api.get("/credits", key=token).status_code == 200


def test_calls_are_limited_per_issuer_and_subject(jwt_api, engine, jwt_issuer) -> None:
    jwt_api.configure(API_RATE_PER_MINUTE="2")
    member = create_member(engine)
    first = link_token(engine, jwt_issuer, member.id)
    second = link_token(engine, jwt_issuer, member.id)
    for _ in range(2):
        assert jwt_api.get("/credits", key=first).status_code == 200
    limited = jwt_api.get("/credits", key=first)
    assert limited.status_code == 429, limited.text
    assert int(limited.headers["retry-after"]) > 0
    # Another subject of the same member has limits of its own.
    assert jwt_api.get("/credits", key=second).status_code == 200
