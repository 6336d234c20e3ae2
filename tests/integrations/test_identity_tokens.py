"""The identity-token verifier against a real loopback issuer publishing a JWKS: every reason a
token is refused, and key rotation (a new kid is fetched once, a flood of bad kids is not)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from dashboard_app.integrations.identity_tokens import (
    IdentityTokenVerifier,
    TokenRejected,
)
from tests.support.jwt_issuer import JwtIssuer, make_key

SECRET = "s" * 40


@pytest.fixture(scope="module")
def issuer() -> Iterator[JwtIssuer]:
    server = JwtIssuer()
    server.start()
    yield server
    server.stop()


class FakeClock:
    """Monotonic seconds a test moves forward itself (the refetch interval, not token times)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def published(issuer: JwtIssuer, clock=time.monotonic, **options) -> IdentityTokenVerifier:
    return IdentityTokenVerifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_url=issuer.jwks_url,
        leeway_seconds=30,
        clock=clock,
        **options,
    )


def shared(issuer: JwtIssuer) -> IdentityTokenVerifier:
    return IdentityTokenVerifier(
        issuer=issuer.issuer, audience=issuer.audience, secret=SECRET, leeway_seconds=30
    )


def rejected(verifier: IdentityTokenVerifier, token: str) -> str:
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(token)
    return caught.value.reason


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
def test_a_good_token_from_the_published_keys_names_issuer_subject_and_expiry(
    issuer: JwtIssuer, kid: str
) -> None:
    exp = int(time.time()) + 300
    verified = published(issuer).verify(issuer.mint("partner-7", kid=kid, exp=exp))
    assert (verified.issuer, verified.subject) == (issuer.issuer, "partner-7")
    assert verified.expires_at == datetime.fromtimestamp(exp, tz=UTC)


def test_a_good_hs256_token_verifies_with_the_shared_secret(issuer: JwtIssuer) -> None:
    verified = shared(issuer).verify(issuer.hs256(SECRET, "partner-hs"))
    assert verified.subject == "partner-hs"


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda i: i.expired(), "expired"),
        (lambda i: i.not_yet_valid(), "not_yet_valid"),
        (lambda i: i.wrong_audience(), "wrong_audience"),
        (lambda i: i.wrong_issuer(), "wrong_issuer"),
        (lambda i: i.wrong_key(), "bad_signature"),
        (lambda i: i.alg_none(), "algorithm_not_allowed"),
        (lambda i: i.hs256(SECRET), "algorithm_not_allowed"),
        (lambda i: i.hs256_with_public_key(), "algorithm_not_allowed"),
        (lambda i: i.mint(sub=None), "missing_subject"),
        (lambda i: i.mint(sub=""), "missing_subject"),
        (lambda i: i.mint(aud=None), "missing_aud"),
        (lambda i: i.mint(iss=None), "missing_iss"),
        (lambda i: i.mint(exp=None), "missing_exp"),
        (lambda i: i.mint(header={"kid": "never-published"}), "unknown_key"),
        (lambda i: i.mint(kid="ec-1", header={"kid": "rsa-1"}), "algorithm_not_allowed"),
        (lambda i: "not-a-token", "malformed"),
        (lambda i: "a.b.c", "malformed"),
        (lambda i: "", "malformed"),
    ],
)
def test_published_keys_refuse(issuer: JwtIssuer, make_token, reason: str) -> None:
    assert rejected(published(issuer), make_token(issuer)) == reason


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda i: i.hs256("t" * 40), "bad_signature"),
        (lambda i: i.hs256(SECRET, exp=int(time.time()) - 3600), "expired"),
        (lambda i: i.hs256(SECRET, aud="other"), "wrong_audience"),
        (lambda i: i.mint(), "algorithm_not_allowed"),  # RS256 where only HS256 is configured
        (lambda i: i.alg_none(), "algorithm_not_allowed"),
    ],
)
def test_shared_secret_refuses(issuer: JwtIssuer, make_token, reason: str) -> None:
    assert rejected(shared(issuer), make_token(issuer)) == reason


def test_leeway_accepts_a_token_just_expired_and_refuses_one_past_it(issuer: JwtIssuer) -> None:
    verifier = published(issuer)
    now = int(time.time())
    assert verifier.verify(issuer.mint(exp=now - 10, nbf=now - 100)).subject == "partner-1"
    assert verifier.verify(issuer.mint(nbf=now + 10)).subject == "partner-1"
    assert rejected(verifier, issuer.mint(exp=now - 60, nbf=now - 100)) == "expired"
    assert rejected(verifier, issuer.mint(nbf=now + 60)) == "not_yet_valid"


def test_a_new_kid_is_fetched_once_and_then_served_from_the_cache(issuer: JwtIssuer) -> None:
    clock = FakeClock()
    verifier = published(issuer, clock=clock, jwks_min_refetch_seconds=60)
    before = issuer.fetch_count()
    verifier.verify(issuer.mint())
    assert issuer.fetch_count() == before + 1
    verifier.verify(issuer.mint(kid="ec-1"))
    assert issuer.fetch_count() == before + 1  # both keys came in the first fetch

    clock.now += 61
    new_key = issuer.rotate("ES256")
    for _ in range(3):
        assert verifier.verify(issuer.mint("rotated", key=new_key)).subject == "rotated"
    assert issuer.fetch_count() == before + 2


def test_a_flood_of_unknown_kids_fetches_the_keys_at_most_once_per_interval(
    issuer: JwtIssuer,
) -> None:
    clock = FakeClock()
    verifier = published(issuer, clock=clock, jwks_min_refetch_seconds=60)
    verifier.verify(issuer.mint())
    before = issuer.fetch_count()
    for number in range(20):
        token = issuer.mint(header={"kid": f"made-up-{number}"})
        assert rejected(verifier, token) == "unknown_key"
    assert issuer.fetch_count() == before  # the first fetch was under a minute ago

    clock.now += 61
    for number in range(20):
        assert rejected(verifier, issuer.mint(header={"kid": f"again-{number}"})) == "unknown_key"
    assert issuer.fetch_count() == before + 1


def test_a_key_published_after_a_refused_kid_is_found_once_the_interval_passes(
    issuer: JwtIssuer,
) -> None:
    clock = FakeClock()
    verifier = published(issuer, clock=clock, jwks_min_refetch_seconds=60)
    verifier.verify(issuer.mint())
    unpublished = make_key("RS256", "later")
    assert rejected(verifier, issuer.mint(key=unpublished)) == "unknown_key"
    issuer.keys.append(unpublished)
    assert rejected(verifier, issuer.mint(key=unpublished)) == "unknown_key"  # still cached
    clock.now += 61
    assert verifier.verify(issuer.mint(key=unpublished)).subject == "partner-1"


def test_an_unreachable_issuer_refuses_tokens_and_keeps_the_last_good_keys(
    issuer: JwtIssuer,
) -> None:
    clock = FakeClock()
    verifier = published(issuer, clock=clock, jwks_min_refetch_seconds=60, jwks_max_age_seconds=600)
    issuer.available = False
    try:
        assert rejected(verifier, issuer.mint()) == "keys_unavailable"
        clock.now += 61
        issuer.available = True
        assert verifier.verify(issuer.mint()).subject == "partner-1"
        issuer.available = False
        clock.now += 601  # the cache is old: refetch fails, the last good keys still serve
        assert verifier.verify(issuer.mint()).subject == "partner-1"
    finally:
        issuer.available = True


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"secret": SECRET, "jwks_url": "http://127.0.0.1:1/jwks"},
        {"secret": "short"},
    ],
)
def test_the_verifier_refuses_a_configuration_it_cannot_use(options) -> None:
    with pytest.raises(ValueError):
        IdentityTokenVerifier(issuer="https://id.example", audience="api", **options)


def test_a_key_the_issuer_withdrew_stops_verifying_once_the_cache_is_old(
    issuer: JwtIssuer,
) -> None:
    clock = FakeClock()
    verifier = published(issuer, clock=clock, jwks_min_refetch_seconds=60, jwks_max_age_seconds=600)
    withdrawn = issuer.rotate("RS256")
    assert verifier.verify(issuer.mint(key=withdrawn)).subject == "partner-1"
    issuer.keys.remove(withdrawn)
    clock.now += 61
    assert verifier.verify(issuer.mint(key=withdrawn)).subject == "partner-1"  # still cached
    clock.now += 600
    assert rejected(verifier, issuer.mint(key=withdrawn)) == "unknown_key"


def test_the_verifier_imports_nothing_from_web_or_domain() -> None:
    import ast
    from pathlib import Path

    import dashboard_app.integrations.identity_tokens as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert [
        n for n in imported if n.startswith(("dashboard_app.domain", "dashboard_app.web"))
    ] == []


def test_an_issuer_down_from_the_start_is_asked_once_per_interval_not_per_token(
    issuer: JwtIssuer,
) -> None:
    """Tokens arrive before any fetch has succeeded: each would have fetched (and waited on the
    issuer, holding up every other caller) without the interval."""
    clock = FakeClock()
    verifier = published(issuer, clock=clock, jwks_min_refetch_seconds=60)
    issuer.available = False
    try:
        before = issuer.fetch_count()
        for _ in range(10):
            assert rejected(verifier, issuer.mint()) == "keys_unavailable"
        assert issuer.fetch_count() == before + 1
    finally:
        issuer.available = True
    clock.now += 61
    assert verifier.verify(issuer.mint()).subject == "partner-1"


def test_an_expiry_past_any_calendar_is_refused_not_a_crash(issuer: JwtIssuer) -> None:
    verifier = published(issuer)
    assert rejected(verifier, issuer.mint(exp=10**20)) == "malformed"
