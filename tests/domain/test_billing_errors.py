"""The Stripe adapter raises its own errors; billing turns them into messages a member can act
on, and changes nothing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import Session

from dashboard_app.domain import billing
from dashboard_app.domain.billing.errors import UNREACHABLE
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError, NotFound
from dashboard_app.integrations import stripe_gateway
from dashboard_app.integrations.stripe_gateway import StripeGateway, StripeUnavailable
from dashboard_app.models import Order, User
from dashboard_app.settings import Settings
from tests.factories import count_rows, create_member
from tests.support.servers import free_port

CATALOG = get_catalog()


def test_the_stripe_adapter_imports_neither_domain_nor_web() -> None:
    tree = ast.parse(Path(stripe_gateway.__file__).read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    upward = ("dashboard_app.domain", "dashboard_app.web")
    assert [name for name in imported if name.startswith(upward)] == []
    assert not issubclass(StripeUnavailable, DomainError)


def test_stripe_out_of_reach_gives_a_members_message_and_changes_nothing(engine) -> None:
    member = create_member(engine)
    closed_port = f"http://127.0.0.1:{free_port()}"
    nowhere = StripeGateway("sk_test_nowhere", api_base=closed_port, timeout=2)
    with pytest.raises(billing.PaymentsUnavailable) as refused:
        billing.start_checkout(
            engine=engine,
            gateway=nowhere,
            catalog=CATALOG,
            user_id=member.id,
            code="starter",
            success_url="http://localhost/s",
            cancel_url="http://localhost/c",
        )
    assert refused.value.message == UNREACHABLE
    assert "127.0.0.1" not in refused.value.message  # the adapter's detail stays in the log
    with Session(engine) as session:
        assert session.get(User, member.id).stripe_customer_id is None
    assert count_rows(engine, Order) == 0


def test_an_object_stripe_does_not_know_is_not_found(engine, stripe_standin) -> None:
    with pytest.raises(NotFound):
        billing.sync_refund(engine=engine, gateway=stripe_standin.gateway(), charge_id="ch_nothing")
    assert count_rows(engine, Order) == 0


def test_without_keys_payments_are_not_configured() -> None:
    for key in (None, SecretStr("")):
        settings = Settings(stripe_secret_key=key, stripe_api_base="http://127.0.0.1:9")
        assert settings.stripe_configured is False
        assert stripe_gateway.gateway_from_settings(settings) is None
        with pytest.raises(billing.PaymentsNotConfigured) as refused:
            billing.require_gateway(settings)
        assert "STRIPE_SECRET_KEY" in refused.value.message
    keyed = Settings(stripe_secret_key=SecretStr("sk_test_x"), stripe_api_base="http://127.0.0.1:9")
    gateway = billing.require_gateway(keyed)
    assert gateway.client._requestor.base_addresses["api"] == "http://127.0.0.1:9"
