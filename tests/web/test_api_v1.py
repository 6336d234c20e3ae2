"""The REST API v1 over HTTP: bearer keys only (never the cookie), scopes, per-key limits,
every error a problem document, and the OpenAPI document."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, api_keys
from dashboard_app.web.auth_cookie import SESSION_COOKIE, session_policy
from tests.factories import create_member, delivered_result
from tests.support.api import make_api_key

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, *, detail: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"]
    assert body["instance"] == response.request.url.path
    assert detail in body["detail"]
    return body


def revoke(engine, user_id: int, secret: str) -> None:
    with session_scope(engine) as session:
        key = api_keys.authenticate(session=session, secret=secret)
        api_keys.revoke_api_key(session=session, user_id=user_id, key_id=key.id)


def test_me_answers_the_keys_member_with_balances_and_recent_generations(api, engine) -> None:
    member = create_member(engine, display_name="Ada Reel", credits_granted=50)
    other = create_member(engine, credits_granted=7)
    generation_id, _, asset_id = delivered_result(engine, member.id, title="Sunset reel")
    delivered_result(engine, other.id, title="Not yours")
    response = api.get("/me", key=make_api_key(engine, member.id, scope="read"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["name"], body["email"]) == (member.id, "Ada Reel", member.email)
    assert body["balances"] == {"current": 50, "reserved": 0, "lifetime": 50, "spent": 0}
    [recent] = body["recent_generations"]
    assert (recent["generation_id"], recent["asset_id"], recent["title"]) == (
        generation_id,
        asset_id,
        "Sunset reel",
    )
    assert recent["links"]["media"].startswith("http")
    assert "Not yours" not in response.text


def test_without_a_bearer_the_api_answers_401_with_a_challenge(api, engine) -> None:
    body = assert_problem(api.get("/me"), 401, detail="Authorization: Bearer")
    assert body["title"] == "Unauthorized"
    response = api.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_session_cookie_alone_is_not_enough(api, engine) -> None:
    member = create_member(engine)
    with session_scope(engine) as session:
        user = accounts.get_user(session=session, user_id=member.id)
        token = accounts.start_session(session=session, user=user, policy=session_policy())
    response = api.get("/me", headers={"Cookie": f"{SESSION_COOKIE}={token}"})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert member.email not in response.text


@pytest.mark.parametrize(
    "token",
    ["dk_0123456789ab_" + "A" * 43, "dk_nonsense", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "random"],
)
def test_a_wrong_key_or_a_token_this_server_does_not_take_is_401(api, engine, token) -> None:
    response = api.get("/me", key=token)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_jwt_is_refused_for_now_with_its_own_reason(api) -> None:
    response = api.get("/me", key="eyJhbGciOiJIUzI1NiJ9.e30.c2ln")
    assert_problem(response, 401, detail="JWT bearer tokens are not accepted")


def test_a_revoked_key_is_401_at_once(api, engine) -> None:
    member = create_member(engine)
    secret = make_api_key(engine, member.id)
    assert api.get("/me", key=secret).status_code == 200
    revoke(engine, member.id, secret)
    assert_problem(api.get("/me", key=secret), 401, detail="revoked")


def test_a_call_notes_when_the_key_was_last_used(api, engine) -> None:
    member = create_member(engine)
    secret = make_api_key(engine, member.id)
    with session_scope(engine) as session:
        [key] = api_keys.list_api_keys(session=session, user_id=member.id)
    assert key.last_used_at is None
    api.get("/me", key=secret)
    with session_scope(engine) as session:
        [key] = api_keys.list_api_keys(session=session, user_id=member.id)
    assert key.last_used_at is not None


def test_calls_past_the_per_key_limit_get_429_with_retry_after(api, engine) -> None:
    api.configure(API_RATE_PER_MINUTE="3")
    member = create_member(engine)
    busy, other = make_api_key(engine, member.id), make_api_key(engine, member.id)
    for _ in range(3):
        assert api.get("/me", key=busy).status_code == 200
    response = api.get("/me", key=busy)
    assert_problem(response, 429, detail="At most 3 calls a minute")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert api.get("/me", key=other).status_code == 200  # limits are per key


def test_routing_errors_are_problems(api, engine) -> None:
    secret = make_api_key(engine, create_member(engine).id)
    assert_problem(api.get("/no-such-thing", key=secret), 404)
    response = api.delete("/me", key=secret)
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]
    # A line break inside a path segment still reaches the API (Starlette's Mount stopped at it).
    assert (
        api.get("/library/%0Aabc", key=secret)
        .headers["content-type"]
        .startswith("application/problem+json")
    )


def test_the_openapi_document_is_served_valid_and_documents_problems(api) -> None:
    response = api.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert document["info"]["title"] and document["info"]["version"]
    assert {"url": "/api/v1"} in document["servers"]
    me = document["paths"]["/me"]["get"]
    assert me["security"] == [{"HTTPBearer": []}]
    for status in ("401", "404", "429"):
        assert list(me["responses"][status]["content"]) == [PROBLEM]
    assert list(me["responses"]["200"]["content"]) == ["application/json"]
    docs = api.get("/docs")
    assert docs.status_code == 200 and "/api/v1/openapi.json" in docs.text


def profile_of(engine, user_id: int):
    from dashboard_app.domain import profiles

    with session_scope(engine) as session:
        return profiles.get_profile(session=session, user_id=user_id)


def test_profile_patch_changes_only_the_fields_sent_and_is_audited(api, engine) -> None:
    from dashboard_app.domain.audit import audit_trail

    member = create_member(engine, display_name="Before")
    secret = make_api_key(engine, member.id)
    first = api.patch(
        "/profile", key=secret, json={"address_city": "Lyon", "address_country": "fr"}
    )
    assert first.status_code == 200, first.text
    response = api.patch(
        "/profile", key=secret, json={"display_name": "After"}, client="203.0.113.5"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["display_name"], body["address_city"], body["address_country"]) == (
        "After",
        "Lyon",
        "FR",
    )
    assert body["email"] == member.email
    assert api.get("/profile", key=secret).json() == body
    with session_scope(engine) as session:
        [entry, *_] = audit_trail(session=session, subject_user_id=member.id)
    assert entry.action == "profile.updated" and entry.ip_address == "203.0.113.5"
    assert entry.before == {"display_name": "Before"} and entry.after == {"display_name": "After"}


def test_a_refused_profile_value_is_a_400_naming_each_field_and_saves_nothing(api, engine) -> None:
    member = create_member(engine, display_name="Kept")
    secret = make_api_key(engine, member.id)
    response = api.patch(
        "/profile",
        key=secret,
        json={"display_name": "New", "wallet_address": "0x123", "theme": "neon"},
    )
    body = assert_problem(response, 400)
    assert {error["field"] for error in body["errors"]} == {"wallet_address", "theme"}
    assert profile_of(engine, member.id).display_name == "Kept"


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "new@example.com"},
        {"display_name": None},
        {"display_name": 42},
        {"email_notifications": "maybe"},
        ["display_name"],
    ],
)
def test_unknown_fields_and_wrong_types_are_422_with_errors(api, engine, payload) -> None:
    member = create_member(engine, display_name="Kept")
    response = api.patch("/profile", key=make_api_key(engine, member.id), json=payload)
    body = assert_problem(response, 422)
    assert body["errors"] and all(error["field"] and error["message"] for error in body["errors"])
    assert profile_of(engine, member.id).display_name == "Kept"


def test_a_body_that_is_not_json_is_422(api, engine) -> None:
    member = create_member(engine)
    response = api.patch(
        "/profile",
        key=make_api_key(engine, member.id),
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 422)


def test_a_read_key_may_not_write(api, engine) -> None:
    member = create_member(engine, display_name="Kept")
    secret = make_api_key(engine, member.id, scope="read")
    assert api.get("/profile", key=secret).status_code == 200
    response = api.patch("/profile", key=secret, json={"display_name": "Changed"})
    assert_problem(response, 403, detail="may only read")
    assert profile_of(engine, member.id).display_name == "Kept"


def test_writes_have_their_own_lower_limit(api, engine) -> None:
    api.configure(API_RATE_PER_MINUTE="10", API_WRITE_RATE_PER_MINUTE="2")
    member = create_member(engine)
    secret = make_api_key(engine, member.id)
    for name in ("One", "Two"):
        assert api.patch("/profile", key=secret, json={"display_name": name}).status_code == 200
    response = api.patch("/profile", key=secret, json={"display_name": "Three"})
    assert_problem(response, 429, detail="At most 2 writes a minute")
    assert int(response.headers["retry-after"]) >= 1
    assert profile_of(engine, member.id).display_name == "Two"
    assert api.get("/profile", key=secret).status_code == 200  # reads are counted apart


def test_answers_are_never_stored_by_caches(api, engine) -> None:
    secret = make_api_key(engine, create_member(engine).id)
    for response in (api.get("/me", key=secret), api.get("/me"), api.get("/profile", key=secret)):
        assert response.headers["cache-control"] == "no-store"


def test_the_document_states_the_profile_rules_the_server_applies(api) -> None:
    import re

    from dashboard_app.domain.catalog import get_catalog

    document = api.get("/openapi.json").json()
    fields = document["components"]["schemas"]["ProfilePatch"]["properties"]
    assert fields["display_name"]["maxLength"] == 80
    assert fields["address_city"]["maxLength"] == 100
    assert fields["theme"]["enum"] == ["system", "light", "dark"]
    assert set(fields["default_platform"]["enum"]) == {"", *get_catalog().platforms}
    wallet = re.compile(fields["wallet_address"]["pattern"])
    assert wallet.search("0x" + "ab" * 20) and wallet.search("") and not wallet.search("0x12")
    country = re.compile(fields["address_country"]["pattern"])
    assert country.search("fr") and not country.search("FRA")
    text = re.compile(fields["address_city"]["pattern"])
    assert text.search("Lyon") and not text.search("Ly\x1fon")
    assert all("default" not in field for field in fields.values())


def test_media_links_of_me_work_without_a_cookie_for_their_member_only(
    api, engine, tmp_path
) -> None:
    from urllib.parse import urlsplit

    from dashboard_app.models import Asset
    from dashboard_app.settings import get_settings

    api.configure(DATA_DIR=str(tmp_path))
    member = create_member(engine)
    _, _, asset_id = delivered_result(engine, member.id, title="Reel with a file")
    with session_scope(engine) as session:
        key = session.get(Asset, asset_id).storage_key
    path = get_settings().private_storage / "media" / key
    path.parent.mkdir(parents=True)
    path.write_bytes(b"the reel's bytes")
    secret = make_api_key(engine, member.id)
    [recent] = api.get("/me", key=secret).json()["recent_generations"]
    link = urlsplit(recent["links"]["media"]).path
    fetched = api.get(link, raw=True)  # no cookie, no key: the signed link is enough
    assert fetched.status_code == 200 and fetched.content == b"the reel's bytes"
    # A page's link (for the browser) still needs the member's cookie.
    from dashboard_app.web.media import MediaLinks

    with session_scope(engine) as session:
        page_link = MediaLinks(member.id).link(session.get(Asset, asset_id), "media")
    assert api.get(page_link, raw=True).status_code == 404
    # Once the member is suspended, their API links stop working too.
    with session_scope(engine) as session:
        user = accounts.get_user(session=session, user_id=member.id)
        accounts.suspend_member(session=session, user=user, reason="abuse", actor_user_id=None)
    assert api.get(link, raw=True).status_code == 404


def test_an_api_file_link_naming_another_members_file_is_404(api, engine, tmp_path) -> None:
    from itsdangerous import URLSafeTimedSerializer

    from dashboard_app.models import Asset
    from dashboard_app.settings import get_settings

    api.configure(DATA_DIR=str(tmp_path))
    owner, other = create_member(engine), create_member(engine)
    _, _, asset_id = delivered_result(engine, owner.id, title="Owner's reel")
    with session_scope(engine) as session:
        key = session.get(Asset, asset_id).storage_key
    path = get_settings().private_storage / "media" / key
    path.parent.mkdir(parents=True)
    path.write_bytes(b"owner's bytes")
    serializer = URLSafeTimedSerializer(get_settings().resolved_secret_key(), salt="api-file-link")

    def link(viewer: int) -> str:
        token = serializer.dumps({"a": asset_id, "p": "media", "u": viewer, "d": False})
        return f"/files/{token}"

    assert api.get(link(owner.id), raw=True).status_code == 200  # the control
    for viewer in (other.id, 999_999, "1"):
        assert api.get(link(viewer), raw=True).status_code == 404
