"""The caller's orders: `GET /orders` (newest first, cursor paged) and `GET /orders/{order_id}`,
brought up to date from Stripe first when its snapshot is older than 12 hours or missing. With
Stripe out of reach the stored snapshot is answered, with its age."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from dashboard_app.db import session_scope
from dashboard_app.domain import billing
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.integrations.stripe_gateway import get_gateway
from dashboard_app.models import Order
from dashboard_app.models.base import utcnow
from dashboard_app.web.api.v1.auth import ReadCaller
from dashboard_app.web.api.v1.paging import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    Page,
    decode_cursor,
    encode_cursor,
)
from dashboard_app.web.api.v1.problems import PROBLEM_RESPONSES

router = APIRouter(tags=["orders"], responses=PROBLEM_RESPONSES)


class OrderLineOut(BaseModel):
    name: str
    quantity: int
    amount: int = Field(description="In the currency's smallest unit (cents).")


class OrderOut(BaseModel):
    id: int
    kind: str = Field(description="pack (a credit pack) or subscription (an invoice).")
    status: str
    product_code: str
    amount_total: int = Field(description="In the currency's smallest unit (cents).")
    amount_refunded: int
    currency: str
    credits: int = Field(description="Credits this order granted.")
    credits_clawed_back: int = Field(description="Credits taken back after a refund.")
    credits_frozen: int = Field(description="Credits frozen while a dispute is open.")
    receipt_url: str | None
    created_at: datetime
    updated_at: datetime
    refreshed_at: datetime | None = Field(
        description="When the snapshot was last brought up to date from Stripe (null: never)."
    )
    snapshot_age_seconds: int | None = Field(
        description="Seconds since `refreshed_at` (null: never refreshed)."
    )


class OrderDetailOut(OrderOut):
    lines: list[OrderLineOut]
    fresh: bool = Field(
        description="Whether the snapshot is up to date (Stripe answered within the last 12 "
        "hours); false when Stripe could not be reached and the stored snapshot is shown."
    )


def _order_fields(order: Order, now: datetime) -> dict:
    age = None if order.refreshed_at is None else int((now - order.refreshed_at).total_seconds())
    return {
        "id": order.id or 0,
        "kind": order.kind,
        "status": order.status,
        "product_code": order.product_code,
        "amount_total": order.amount_total,
        "amount_refunded": order.amount_refunded,
        "currency": order.currency,
        "credits": order.credits,
        "credits_clawed_back": order.credits_clawed_back,
        "credits_frozen": order.credits_frozen,
        "receipt_url": order.receipt_url,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "refreshed_at": order.refreshed_at,
        "snapshot_age_seconds": max(age, 0) if age is not None else None,
    }


def _lines(order: Order) -> list[OrderLineOut]:
    lines = []
    for item in order.items or []:
        if not isinstance(item, dict):
            continue
        lines.append(
            OrderLineOut(
                name=str(item.get("name", "")),
                quantity=int(item.get("quantity", 1) or 1),
                amount=int(item.get("amount", 0) or 0),
            )
        )
    return lines


@router.get("/orders", response_model=Page[OrderOut], summary="The caller's orders, newest first")
def list_orders(
    caller: ReadCaller, cursor: CursorQuery = None, limit: LimitQuery = DEFAULT_LIMIT
) -> Page[OrderOut]:
    before_id = decode_cursor(cursor)
    now = utcnow()
    with session_scope() as session:
        page = billing.list_orders(
            session=session, user_id=caller.user_id, before_id=before_id, limit=limit
        )
        rows = [OrderOut(**_order_fields(order, now)) for order in page.orders]
    return Page[OrderOut](
        items=rows,
        next_cursor=encode_cursor(page.next_before_id) if page.next_before_id else None,
    )


@router.get(
    "/orders/{order_id}",
    response_model=OrderDetailOut,
    summary="One of the caller's orders",
    description="Brought up to date from Stripe first when the stored snapshot is older than "
    "12 hours or missing; when Stripe cannot be reached the stored snapshot is answered with "
    "`fresh` false and its age. Another member's order is 404, as a missing one.",
)
def get_order(
    caller: ReadCaller, order_id: Annotated[int, Path(description="The order's id.")]
) -> OrderDetailOut:
    gateway = get_gateway()
    if gateway is not None:  # without Stripe keys there is nothing to refresh from
        billing.refresh_order_when_stale(
            engine=None,
            gateway=gateway,
            catalog=get_catalog(),
            user_id=caller.user_id,
            order_id=order_id,
        )
    now = utcnow()
    with session_scope() as session:
        order = billing.get_order(session=session, user_id=caller.user_id, order_id=order_id)
        return OrderDetailOut(
            **_order_fields(order, now),
            lines=_lines(order),
            fresh=billing.snapshot_is_fresh(order, now),
        )
