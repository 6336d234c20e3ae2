"""The orders list (refreshed from Stripe when its snapshots are old) and one order's detail."""

from __future__ import annotations

import asyncio
import logging

import reflex as rx
from sqlmodel import Session

from dashboard_app.db import read
from dashboard_app.domain import billing
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError, NotFound
from dashboard_app.integrations.stripe_gateway import get_gateway
from dashboard_app.web import routes
from dashboard_app.web.components.cards import page_heading
from dashboard_app.web.layout import shell
from dashboard_app.web.pages.billing.common import (
    money,
    order_row,
    orders_table,
)
from dashboard_app.web.state.auth import AuthState, Viewer
from dashboard_app.web.state.payloads import id_from_text

log = logging.getLogger(__name__)


def _orders_page(
    session: Session, user_id: int, before_id: int | None
) -> tuple[list[dict[str, str]], int | None]:
    page = billing.list_orders(session=session, user_id=user_id, before_id=before_id)
    return [order_row(order) for order in page.orders], page.next_before_id


def _stale_orders(session: Session, user_id: int) -> list[int]:
    return billing.stale_order_ids(session=session, user_id=user_id)


def _first_page(
    session: Session, user_id: int
) -> tuple[tuple[list[dict[str, str]], int | None], list[int]]:
    """The newest orders, and which of them to refresh from Stripe."""
    return _orders_page(session, user_id, None), _stale_orders(session, user_id)


def _refresh_orders(user_id: int) -> None:
    gateway = get_gateway()
    if gateway is None:
        return
    try:
        billing.refresh_stale_orders(
            engine=None, gateway=gateway, catalog=get_catalog(), user_id=user_id
        )
    except DomainError as error:  # limited: the page shows what it has
        log.info("orders of member %s not refreshed: %s", user_id, error.message)


class OrdersState(AuthState):
    rows: list[dict[str, str]] = []
    has_more: bool = False
    refreshing: bool = False
    _cursor: int | None = None
    _stale: list[int] = []

    async def _refresh_page(self, viewer: Viewer) -> None:
        (self.rows, self._cursor), self._stale = await read(_first_page, viewer.user_id)
        self.has_more = self._cursor is not None

    @rx.event
    async def load(self):
        result = await self._load_page()
        if result is not None:
            return result
        if self._stale and get_gateway() is not None:
            return OrdersState.refresh_stale
        return None

    @rx.event
    async def poll_live(self, nudge: int = 0):
        return await self._poll_page(nudge)

    @rx.event
    async def load_more(self):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        if self._cursor is None:
            return None
        more, self._cursor = await read(_orders_page, viewer.user_id, self._cursor)
        self.rows = self.rows + more
        self.has_more = self._cursor is not None
        return None

    @rx.event(background=True)
    async def refresh_stale(self):
        """Snapshots older than the freshness window are brought up to date from Stripe while
        the page shows what it has."""
        async with self:
            viewer = await self._viewer()
            if viewer is None or not self._stale or self.refreshing:
                return
            self._stale, self.refreshing = [], True
        await asyncio.to_thread(_refresh_orders, viewer.user_id)
        rows, cursor = await read(_orders_page, viewer.user_id, None)
        async with self:
            self.rows, self._cursor, self.has_more = rows, cursor, cursor is not None
            self.refreshing = False


def orders_page() -> rx.Component:
    return shell(
        page_heading("Orders", "Credit packs and subscription invoices, newest first."),
        rx.cond(
            OrdersState.refreshing,
            rx.text("Checking with Stripe for updates…", size="2", color_scheme="gray"),
        ),
        rx.cond(
            OrdersState.rows.length() > 0,
            orders_table(OrdersState.rows),
            rx.text("No orders yet.", color_scheme="gray", data_testid="orders-empty"),
        ),
        rx.cond(
            OrdersState.has_more,
            rx.button(
                "Load more", on_click=OrdersState.load_more, variant="soft", margin_top="1rem"
            ),
        ),
        live=OrdersState,
    )


def _order_detail(session: Session, user_id: int, raw_id: str) -> dict[str, str] | None:
    order_id = id_from_text(raw_id)
    if order_id is None:
        return None
    try:
        order = billing.get_order(session=session, user_id=user_id, order_id=order_id)
    except NotFound:
        return None
    row = order_row(order)
    lines = [
        f"{item.get('name', '')} × {item.get('quantity', 1)}: "
        f"{money(int(item.get('amount', 0)), order.currency)}"
        for item in order.items
    ]
    return {
        **row,
        "lines": "\n".join(lines),
        "refunded": money(order.amount_refunded, order.currency) if order.amount_refunded else "",
        "clawed_back": f"{order.credits_clawed_back:,}" if order.credits_clawed_back else "",
        "frozen": f"{order.credits_frozen:,}" if order.credits_frozen else "",
        "receipt": order.receipt_url or "",
        "updated": f"{order.updated_at:%Y-%m-%d %H:%M} UTC",
    }


class OrderDetailState(AuthState):
    order: dict[str, str] = {}
    missing: bool = False

    async def _refresh_page(self, viewer: Viewer) -> None:
        raw = str(self.router.url.path).rstrip("/").rsplit("/", 1)[-1]
        found = await read(_order_detail, viewer.user_id, raw)
        self.order, self.missing = found or {}, found is None

    @rx.event
    async def load(self):
        return await self._load_page()

    @rx.event
    async def poll_live(self, nudge: int = 0):
        return await self._poll_page(nudge)


def _detail_line(label: str, value: rx.Var) -> rx.Component:
    return rx.cond(
        value != "",
        rx.data_list.item(rx.data_list.label(label), rx.data_list.value(value)),
    )


def order_detail_page() -> rx.Component:
    order = OrderDetailState.order
    return shell(
        page_heading("Order", ""),
        rx.cond(
            OrderDetailState.missing,
            rx.text("There is no such order.", data_testid="order-missing"),
            rx.card(
                rx.data_list.root(
                    _detail_line("Order", "#" + order["id"].to(str)),
                    _detail_line("Date", order["date"]),
                    _detail_line("Kind", order["kind"]),
                    _detail_line("Items", order["lines"]),
                    _detail_line("Amount", order["amount"]),
                    _detail_line("Status", order["status"]),
                    _detail_line("Credits", order["credits"]),
                    _detail_line("Refunded", order["refunded"]),
                    _detail_line("Credits taken back", order["clawed_back"]),
                    _detail_line("Credits frozen", order["frozen"]),
                    _detail_line("Last updated", order["updated"]),
                ),
                rx.cond(
                    order["receipt"] != "",
                    rx.el.a("Receipt", href=order["receipt"], target="_blank", rel="noopener"),
                ),
                data_testid="order-detail",
            ),
        ),
        rx.link("All orders", href=routes.ORDERS, margin_top="1rem"),
        live=OrderDetailState,
    )
