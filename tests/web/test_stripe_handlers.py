"""The billing pages' event handlers, called over Reflex's websocket as any client can: a
payload of the wrong shape gets the one message for it and reaches nothing at Stripe."""

from __future__ import annotations

import asyncio
import inspect
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import reflex as rx
import socketio

from dashboard_app.models import Order, User
from dashboard_app.web.pages.billing import (
    BillingState,
    CheckoutSuccessState,
    OrderDetailState,
    OrdersState,
)
from dashboard_app.web.state.payloads import BAD_PAYLOAD
from tests.factories import DEFAULT_PASSWORD, count_rows, create_member

HYDRATE = f"{rx.State.get_full_name()}.hydrate"


def sign_in_cookie(app, email: str) -> str:
    response = httpx.post(
        app.url("/auth/sign-in"), data={"email": email, "password": DEFAULT_PASSWORD}
    )
    return f"dash_session={response.cookies['dash_session']}"


async def _emit(base_url: str, cookie: str, calls: list[tuple[str, object]]) -> list[dict]:
    replies: list[dict] = []
    hydrated = asyncio.Event()
    client = socketio.AsyncClient()

    @client.on("event", namespace="/_event")
    async def on_event(data):
        update = json.loads(data) if isinstance(data, str) else data
        replies.append(update)
        if any("is_hydrated_rx_state_" in v for v in update.get("delta", {}).values()):
            hydrated.set()

    await client.connect(
        f"{base_url}?token={uuid.uuid4()}",
        socketio_path="/_event",
        namespaces=["/_event"],
        transports=["websocket"],
        headers={"Cookie": cookie},
    )
    try:
        router_data = {"pathname": "/billing", "query": {}, "asPath": "/billing"}
        for name, payload in [*calls, (HYDRATE, {})]:
            await client.emit(
                "event",
                {"name": name, "payload": payload, "router_data": router_data},
                namespace="/_event",
            )
        await asyncio.wait_for(hydrated.wait(), timeout=30)
    finally:
        await client.disconnect()
    return replies


def emit(app, cookie: str, calls: list[tuple[str, object]]) -> list[dict]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _emit(app.base_url, cookie, calls)).result()


def sent(replies: list[dict]) -> dict[str, object]:
    found: dict[str, object] = {}
    for update in replies:
        for state_name, values in update.get("delta", {}).items():
            for var, value in values.items():
                found[f"{state_name}.{var}"] = value
    return found


def has_customer(app, user_id: int) -> bool:
    customer = User.stripe_customer_id.is_not(None)  # type: ignore[union-attr]
    return count_rows(app.engine, User, User.id == user_id, customer) > 0


BAD_SHAPES = [{}, {"code": None}, {"code": 5}, {"code": ["starter"]}, {"code": {"a": 1}}]


@pytest.mark.parametrize("payload", BAD_SHAPES, ids=json.dumps)
def test_buy_with_a_payload_of_the_wrong_shape_gets_the_message(app, payload) -> None:
    member = create_member(app.engine)
    cookie = sign_in_cookie(app, member.email)
    state = BillingState.get_full_name()
    replies = emit(app, cookie, [(f"{state}.load", {}), (f"{state}.buy", payload)])
    assert BAD_PAYLOAD in json.dumps(replies)  # the one toast every handler answers with
    assert "redirect" not in json.dumps(replies)
    assert count_rows(app.engine, Order, Order.user_id == member.id) == 0
    assert (
        count_rows(app.engine, User, User.id == member.id, User.stripe_customer_id.is_not(None))
        == 0
    )


def test_every_billing_handler_given_junk_for_its_arguments_answers_without_failing(
    app,
) -> None:
    """Each handler called with junk for every argument it takes (and none for those it does
    not): nothing raises inside Reflex, and buy answers with the message."""
    member = create_member(app.engine)
    cookie = sign_in_cookie(app, member.email)
    junk = {"code": {"a": [1]}, "nudge": {"a": [1]}}
    calls = []
    for state in (BillingState, CheckoutSuccessState, OrdersState, OrderDetailState):
        for name, handler in state.event_handlers.items():
            # Reflex's own `setvar` (refused for every var) and the shell's `dismiss_notice`
            # belong to the shell, swept in test_event_security.
            if name.startswith("_") or name in ("setvar", "dismiss_notice"):
                continue
            takes = inspect.signature(handler.fn).parameters
            calls.append(
                (f"{state.get_full_name()}.{name}", {k: v for k, v in junk.items() if k in takes})
            )
    calls.append((f"{BillingState.get_full_name()}.buy", {"code": {"a": [1]}}))
    replies = emit(app, cookie, calls)
    assert "backend_error" not in json.dumps(replies)  # Reflex's toast for a handler that raised
    assert BAD_PAYLOAD in json.dumps(replies)
    assert not has_customer(app, member.id)
