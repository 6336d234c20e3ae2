"""The server routes that set and clear the session cookie, spoken to over plain HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlmodel import select

from dashboard_app.db import build_engine, session_scope
from dashboard_app.models import User, UserSession
from dashboard_app.settings import get_settings
from dashboard_app.web.api.app import build_api
from dashboard_app.web.client_address import router_client_ip
from dashboard_app.web.routes import safe_next
from tests.factories import DEFAULT_PASSWORD, count_rows, create_member, unique_email
from tests.support.tab import run_async


@dataclass
class InProcessRoutes:
    """The server routes run in this process, reached over httpx's ASGI transport from a
    client address of the test's choosing."""

    def request(
        self, method: str, path: str, *, client: str = "127.0.0.1", **kwargs
    ) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=build_api(), client=(client, 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, path, **kwargs)

        # On a thread of its own: Playwright's sync API may own this thread's event loop.
        return run_async(send())

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """The server routes in this process, with some settings changed for the test."""

    def apply(**values: str) -> InProcessRoutes:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return InProcessRoutes()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/billing", "/billing"),
        ("/jobs?page=2", "/jobs?page=2"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/sign-in", "/"),
    ],
)
def test_safe_next_only_allows_local_paths(target, expected) -> None:
    assert safe_next(target) == expected


def sessions_of(engine, user_id: int) -> int:
    return count_rows(engine, UserSession, UserSession.user_id == user_id)


def test_sign_in_sets_an_httponly_lax_cookie_and_redirects(app) -> None:
    member = create_member(app.engine)
    response = httpx.post(
        app.url("/auth/sign-in"),
        data={"email": member.email, "password": DEFAULT_PASSWORD, "next": "/jobs"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/jobs"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("dash_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert sessions_of(app.engine, member.id) == 1


def test_cross_site_sign_in_post_is_refused(app) -> None:
    member = create_member(app.engine)
    response = httpx.post(
        app.url("/auth/sign-in"),
        data={"email": member.email, "password": DEFAULT_PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 303
    assert "error=invalid_request" in response.headers["location"]
    assert "set-cookie" not in response.headers
    assert sessions_of(app.engine, member.id) == 0


def test_oversized_fields_are_refused_without_a_session(app) -> None:
    member = create_member(app.engine)
    response = httpx.post(
        app.url("/auth/sign-in"), data={"email": member.email, "password": "x" * 5000}
    )
    assert "error=invalid_request" in response.headers["location"]
    assert sessions_of(app.engine, member.id) == 0


@pytest.mark.parametrize(
    ("email", "password", "error"),
    [
        ("not-an-email", DEFAULT_PASSWORD, "error=email"),
        (None, "short", "error=password"),
    ],
)
def test_bad_sign_up_input_is_refused_and_creates_nothing(app, email, password, error) -> None:
    email = email or unique_email("bad")
    response = httpx.post(app.url("/auth/sign-up"), data={"email": email, "password": password})
    assert response.status_code == 303
    assert error in response.headers["location"]
    assert "set-cookie" not in response.headers
    assert count_rows(app.engine, User, User.email == email.lower()) == 0


def test_health_and_readiness_answer_on_the_running_app(app) -> None:
    # Database failures, migrations behind and Redis: tests/web/test_operations.py.
    assert httpx.get(app.url("/healthz")).json() == {"status": "ok"}
    assert httpx.get(app.url("/readyz")).json()["status"] == "ok"


# --- The client's address behind proxies ---------------------------------------------------------

SPOOFED = "198.51.100.66"  # what a client writes into X-Forwarded-For itself
CLIENT = "203.0.113.9"  # the client's real address, as the first proxy saw it


def session_address(engine, user_id: int) -> str:
    with session_scope(engine) as session:
        return session.exec(
            select(UserSession.ip_address).where(UserSession.user_id == user_id)
        ).one()


def test_a_spoofed_forwarded_for_header_is_ignored_by_the_running_app(app) -> None:
    member = create_member(app.engine)
    response = httpx.post(
        app.url("/auth/sign-in"),
        data={"email": member.email, "password": DEFAULT_PASSWORD},
        headers={"X-Forwarded-For": SPOOFED},
    )
    assert response.status_code == 303 and "dash_session=" in response.headers["set-cookie"]
    assert session_address(app.engine, member.id) == "127.0.0.1"


@pytest.mark.parametrize(
    ("hops", "peer", "forwarded_for", "expected"),
    [
        # No trusted proxy: the header is the client's own words; the peer is the client.
        (0, CLIENT, SPOOFED, CLIENT),
        # One proxy (at 10.0.0.1) appended the address it was reached from.
        (1, "10.0.0.1", f"{SPOOFED}, {CLIENT}", CLIENT),
        # Two proxies: the outer one appended the client, the inner one the outer proxy.
        (2, "10.0.0.2", f"{SPOOFED}, {CLIENT}, 10.0.0.1", CLIENT),
        # Fewer entries than trusted hops, or garbage: the peer, never a client-chosen value.
        (2, "10.0.0.2", CLIENT, "10.0.0.2"),
        (1, "10.0.0.1", "not-an-address", "10.0.0.1"),
    ],
)
def test_server_routes_take_the_client_address_from_trusted_proxies_only(
    configure, db_url, hops, peer, forwarded_for, expected
) -> None:
    routes = configure(DATABASE_URL=db_url, TRUSTED_PROXY_HOPS=str(hops))
    engine = build_engine(db_url)
    try:
        member = create_member(engine)
        response = routes.post(
            "/auth/sign-in",
            data={"email": member.email, "password": DEFAULT_PASSWORD},
            headers={"X-Forwarded-For": forwarded_for},
            client=peer,
        )
        assert response.status_code == 303 and "dash_session=" in response.headers["set-cookie"]
        assert session_address(engine, member.id) == expected
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("hops", "peer", "forwarded_for", "expected"),
    [
        (0, CLIENT, SPOOFED, CLIENT),
        (1, "10.0.0.1", f"{SPOOFED}, {CLIENT}", CLIENT),
        (2, "10.0.0.2", f"{SPOOFED}, {CLIENT}, 10.0.0.1", CLIENT),
    ],
)
def test_reflex_states_take_the_client_address_the_same_way(
    configure, hops, peer, forwarded_for, expected
) -> None:
    from reflex.istate.data import RouterData

    configure(TRUSTED_PROXY_HOPS=str(hops))
    # The router data Reflex builds for an event from the socket's connection.
    router = RouterData.from_router_data(
        {
            "ip": peer,
            "headers": {"x-forwarded-for": forwarded_for, "asgi-scope-client": peer},
            "pathname": "/profile",
        }
    )
    assert router_client_ip(router) == expected


# --- Sign-in throttling ------------------------------------------------------------------------


def test_parallel_wrong_guesses_get_at_most_lock_after_password_checks(app) -> None:
    member = create_member(app.engine)
    lock_after = 10  # the app runs with the default SIGN_IN_LOCK_AFTER
    guesses = lock_after + 5

    async def guess_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=guesses)
        async with httpx.AsyncClient(base_url=app.base_url, limits=limits, timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/auth/sign-in",
                        data={"email": member.email, "password": f"wrong guess {n}!"},
                    )
                    for n in range(guesses)
                )
            )

    locations = [response.headers["location"] for response in run_async(guess_all())]
    # A guess whose password was checked is told the credentials do not match; the others
    # are refused before any check, with the time the lock ends.
    checked = [location for location in locations if "error=credentials" in location]
    refused = [location for location in locations if "message=" in location]
    assert len(checked) + len(refused) == guesses
    assert 1 <= len(checked) <= lock_after
    # The right password is refused now too.
    right = httpx.post(
        app.url("/auth/sign-in"), data={"email": member.email, "password": DEFAULT_PASSWORD}
    )
    assert "message=" in right.headers["location"] and "set-cookie" not in right.headers


# --- Mail limits -------------------------------------------------------------------------------


def test_the_fourth_reset_request_in_a_quarter_hour_sends_no_mail_and_looks_the_same(
    app, mail
) -> None:
    member = create_member(app.engine)
    answers = [
        httpx.post(app.url("/auth/forgot-password"), data={"email": member.email}) for _ in range(4)
    ]
    assert {(a.status_code, a.headers["location"]) for a in answers} == {
        (303, "/sign-in?notice=reset_sent")
    }
    # Mail is handed to the SMTP server before the answer, so three have arrived by now.
    mail.wait_for(member.email, "Reset your password", count=3)
    assert len(mail.messages_to(member.email)) == 3


# --- Deletion ----------------------------------------------------------------------------------


def test_deletion_removes_the_members_mail_from_the_outbox(configure, db_url, tmp_path) -> None:
    # Without SMTP_HOST (development), mail is written to DATA_DIR/outbox.
    routes = configure(DATABASE_URL=db_url, DATA_DIR=str(tmp_path))
    outbox = tmp_path / "outbox"
    leaving, staying = unique_email("leaving"), unique_email("staying")
    tokens = {}
    for email in (leaving, staying):
        signed_up = routes.post(
            "/auth/sign-up", data={"email": email, "password": DEFAULT_PASSWORD}
        )
        tokens[email] = signed_up.cookies["dash_session"]
        routes.post("/auth/forgot-password", data={"email": email})

    def mail_mentioning(email: str) -> list[str]:
        return [path.name for path in outbox.glob("*.eml") if email in path.read_text()]

    assert len(mail_mentioning(leaving)) == 2 and len(mail_mentioning(staying)) == 2
    deleted = routes.post(
        "/account/delete",
        data={"password": DEFAULT_PASSWORD},
        headers={"Cookie": f"dash_session={tokens[leaving]}"},
    )
    assert deleted.headers["location"] == "/sign-in?notice=account_deleted"
    assert mail_mentioning(leaving) == []
    assert len(mail_mentioning(staying)) == 2


@pytest.mark.parametrize(
    ("posted", "referer", "expected"),
    [
        # Sent before the page filled in its `next` field: the page's own address says where.
        ("", "http://testserver/sign-in?next=/profile", "/profile"),
        ("/billing", "http://testserver/sign-in?next=/profile", "/billing"),
        # Another site's address, or an unsafe `next` in it, is never followed.
        ("", "https://evil.example/sign-in?next=/profile", "/"),
        ("", "http://testserver/sign-in?next=//evil.example/", "/"),
        ("", "", "/"),
    ],
)
def test_sign_in_goes_where_the_page_was_going_even_before_it_was_ready(
    configure, db_url, posted, referer, expected
) -> None:
    routes = configure(DATABASE_URL=db_url)
    engine = build_engine(db_url)
    try:
        member = create_member(engine)
        response = routes.post(
            "/auth/sign-in",
            data={"email": member.email, "password": DEFAULT_PASSWORD, "next": posted},
            headers={"Referer": referer} if referer else {},
        )
    finally:
        engine.dispose()
    assert response.status_code == 303
    assert response.headers["location"] == expected
