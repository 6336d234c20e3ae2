"""Billing: packs and plans to buy through Stripe Checkout, the member's subscription, the
Checkout success page, and the orders list and detail."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import reflex as rx

from dashboard_app.db import session_scope
from dashboard_app.domain import billing
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError, NotFound
from dashboard_app.domain.plans import current_plan_code
from dashboard_app.integrations.stripe_gateway import get_gateway, require_gateway
from dashboard_app.models import Order, User
from dashboard_app.settings import get_settings
from dashboard_app.web import routes
from dashboard_app.web.components.cards import page_heading
from dashboard_app.web.layout import shell
from dashboard_app.web.state.auth import AuthState, Viewer

log = logging.getLogger(__name__)

STATUS_LABELS = {
    "pending": "Awaiting payment",
    "paid": "Paid",
    "failed": "Failed",
    "refunded": "Refunded",
    "partially_refunded": "Partly refunded",
    "disputed": "Disputed",
}
STATUS_COLORS = {"paid": "grass", "failed": "tomato", "disputed": "amber", "pending": "gray"}


def _money(cents: int, currency: str) -> str:
    return billing.format_money(cents, currency)


# --- The billing page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BillingView:
    packs: list[dict[str, str]]
    plans: list[dict[str, str]]
    plan_name: str
    subscription_line: str
    past_due: bool
    can_manage: bool
    has_subscription: bool
    recent_orders: list[dict[str, str]]


def _order_row(order: Order) -> dict[str, str]:
    names = ", ".join(str(item.get("name", "")) for item in order.items) or order.product_code
    return {
        "id": str(order.id),
        "href": f"{routes.ORDERS}/{order.id}",
        "date": f"{order.created_at:%Y-%m-%d}",
        "what": names,
        "kind": "Subscription" if order.kind == "subscription" else "Credit pack",
        "amount": _money(order.amount_total, order.currency),
        "status": STATUS_LABELS.get(order.status, order.status),
        "color": STATUS_COLORS.get(order.status, "blue"),
        "credits": f"{order.credits:,}" if order.credits else "",
    }


def _billing_view(user_id: int) -> BillingView:
    catalog = get_catalog()
    with session_scope() as session:
        user = session.get(User, user_id)
        subscription = billing.live_subscription(session=session, user_id=user_id)
        plan_code = current_plan_code(session=session, user_id=user_id, catalog=catalog)
        line = ""
        if subscription is not None and subscription.current_period_end is not None:
            day = f"{subscription.current_period_end:%Y-%m-%d}"
            line = (
                f"Ends on {day}; it will not renew."
                if subscription.cancel_at_period_end
                else f"Renews on {day}."
            )
        recent = billing.list_orders(session=session, user_id=user_id, limit=5).orders
        return BillingView(
            packs=[
                {
                    "code": p.code,
                    "name": p.name,
                    "credits": f"{p.credits:,} credits",
                    "price": _money(p.price_cents, p.currency),
                }
                for p in billing.products(catalog)
                if p.kind == "pack"
            ],
            plans=[
                {
                    "code": p.code,
                    "name": p.name,
                    "credits": f"{p.credits:,} credits every {p.interval}",
                    "price": f"{_money(p.price_cents, p.currency)} / {p.interval}",
                    "current": "yes" if p.code == plan_code else "",
                }
                for p in billing.products(catalog)
                if p.kind == "subscription"
            ],
            plan_name=catalog.plan(plan_code).name,
            subscription_line=line,
            past_due=billing.past_due(session=session, user_id=user_id),
            can_manage=bool(user and user.stripe_customer_id),
            has_subscription=subscription is not None,
            recent_orders=[_order_row(order) for order in recent],
        )


class BillingState(AuthState):
    configured: bool = False
    packs: list[dict[str, str]] = []
    plans: list[dict[str, str]] = []
    plan_name: str = ""
    subscription_line: str = ""
    past_due: bool = False
    can_manage: bool = False
    has_subscription: bool = False
    recent_orders: list[dict[str, str]] = []
    canceled: bool = False
    error: str = ""
    starting: str = ""

    async def _refresh_page(self, viewer: Viewer) -> None:
        self.configured = get_gateway() is not None
        view = await asyncio.to_thread(_billing_view, viewer.user_id)
        self.packs, self.plans = view.packs, view.plans
        self.plan_name, self.subscription_line = view.plan_name, view.subscription_line
        self.past_due, self.can_manage = view.past_due, view.can_manage
        self.has_subscription = view.has_subscription
        self.recent_orders = view.recent_orders

    @rx.event
    async def load(self):
        self.error, self.starting = "", ""
        self.canceled = self.router.url.query_parameters.get("checkout") == "canceled"
        return await self._load_page()

    @rx.event
    async def poll_live(self, _tick: str = ""):
        return await self._poll_page()

    @rx.event
    async def buy(self, code: str):
        """Start Stripe Checkout for a pack or a plan; the browser goes to Stripe's page."""
        viewer = await self._viewer()
        if viewer is None:
            yield self._to_sign_in()
            return
        if not isinstance(code, str) or len(code) > 32:
            self.error = "There is no such pack or plan"
            return
        self.error, self.starting = "", code
        yield
        base = get_settings().public_base_url
        try:
            url = await asyncio.to_thread(
                billing.start_checkout,
                engine=None,
                gateway=require_gateway(),
                catalog=get_catalog(),
                user_id=viewer.user_id,
                code=code,
                success_url=f"{base}{routes.BILLING_SUCCESS}?session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"{base}{routes.BILLING}?checkout=canceled",
            )
        except DomainError as error:
            self.error, self.starting = error.message, ""
            return
        yield rx.redirect(url)  # another host: a full page load

    @rx.event
    async def manage(self):
        """Open Stripe's Billing Portal for the member's own customer."""
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        self.error = ""
        try:
            url = await asyncio.to_thread(
                billing.portal_url,
                engine=None,
                gateway=require_gateway(),
                user_id=viewer.user_id,
                return_url=f"{get_settings().public_base_url}{routes.BILLING}",
            )
        except DomainError as error:
            self.error = error.message
            return None
        return rx.redirect(url)  # another host: a full page load


def _product_card(item: rx.Var, action: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(item["name"], size="4"),
            rx.text(item["credits"], color_scheme="gray"),
            rx.text(item["price"], size="5", weight="bold"),
            rx.cond(
                item.get("current", "") == "yes",
                rx.badge("Your plan", color_scheme="grass"),
                rx.button(
                    rx.cond(BillingState.starting == item["code"], "Opening Stripe…", action),
                    on_click=BillingState.buy(item["code"]),
                    disabled=(~BillingState.configured) | (BillingState.starting != ""),
                    aria_label=f"{action} " + item["name"].to(str),
                    data_testid="buy-" + item["code"].to(str),
                ),
            ),
            spacing="2",
            align="start",
        ),
        min_width="14rem",
    )


def _orders_table(rows: rx.Var) -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Date"),
                    rx.table.column_header_cell("Order"),
                    rx.table.column_header_cell("Credits", text_align="right"),
                    rx.table.column_header_cell("Amount", text_align="right"),
                    rx.table.column_header_cell("Status"),
                )
            ),
            rx.table.body(
                rx.foreach(
                    rows,
                    lambda row: rx.table.row(
                        rx.table.cell(row["date"], white_space="nowrap"),
                        rx.table.cell(
                            rx.link(row["what"], href=row["href"]),
                            rx.text(row["kind"], size="1", color_scheme="gray"),
                        ),
                        rx.table.cell(row["credits"], text_align="right"),
                        rx.table.cell(row["amount"], text_align="right"),
                        rx.table.cell(
                            # High contrast: the soft badges' text is too pale in light mode.
                            rx.badge(row["status"], color_scheme=row["color"], high_contrast=True)
                        ),
                        data_testid="order-row",
                    ),
                )
            ),
            width="100%",
        ),
        overflow_x="auto",
        width="100%",
    )


def billing_page() -> rx.Component:
    return shell(
        page_heading("Billing", "Credit packs, your subscription and your orders."),
        rx.cond(
            ~BillingState.configured,
            rx.callout(
                "Payments are not configured on this server. To try them, set STRIPE_SECRET_KEY, "
                "STRIPE_PUBLISHABLE_KEY and STRIPE_WEBHOOK_SECRET to Stripe test-mode keys, run "
                "`python -m dashboard_app stripe sync-catalog`, and restart (see the README).",
                icon="info",
                color_scheme="amber",
                high_contrast=True,  # amber text on amber is too pale in the light theme
                data_testid="payments-not-configured",
            ),
        ),
        rx.cond(
            BillingState.canceled,
            rx.callout(
                "Checkout was canceled. Nothing was charged.",
                icon="info",
                data_testid="checkout-canceled",
            ),
        ),
        rx.cond(
            BillingState.past_due,
            rx.callout(
                "Your last subscription payment failed. Update your card with Manage "
                "subscription to keep your plan.",
                icon="triangle_alert",
                color_scheme="red",
                data_testid="past-due",
            ),
        ),
        rx.cond(
            BillingState.error != "",
            rx.callout(
                BillingState.error,
                icon="circle_alert",
                color_scheme="red",
                role="alert",
                data_testid="billing-error",
            ),
        ),
        rx.card(
            rx.hstack(
                rx.vstack(
                    rx.text("Your plan", size="2", color_scheme="gray"),
                    rx.heading(BillingState.plan_name, size="5", data_testid="plan-name"),
                    rx.text(BillingState.subscription_line, size="2"),
                    spacing="1",
                ),
                rx.spacer(),
                rx.cond(
                    BillingState.can_manage & BillingState.configured,
                    rx.button(
                        "Manage subscription",
                        on_click=BillingState.manage,
                        variant="soft",
                        data_testid="manage-subscription",
                    ),
                ),
                width="100%",
                align="center",
            ),
            width="100%",
            margin_y="1rem",
        ),
        rx.heading("Credit packs", size="4", margin_top="0.5rem"),
        rx.text("Bought once; purchased credits never expire.", color_scheme="gray", size="2"),
        rx.flex(
            rx.foreach(BillingState.packs, lambda item: _product_card(item, "Buy")),
            wrap="wrap",
            spacing="4",
            margin_y="1rem",
        ),
        rx.cond(
            ~BillingState.has_subscription,
            rx.fragment(
                rx.heading("Plans", size="4"),
                rx.flex(
                    rx.foreach(BillingState.plans, lambda item: _product_card(item, "Subscribe")),
                    wrap="wrap",
                    spacing="4",
                    margin_y="1rem",
                ),
            ),
        ),
        rx.hstack(
            rx.heading("Recent orders", size="4"),
            rx.spacer(),
            rx.link("All orders", href=routes.ORDERS),
            width="100%",
            margin_top="1rem",
        ),
        rx.cond(
            BillingState.recent_orders.length() > 0,
            _orders_table(BillingState.recent_orders),
            rx.text("No orders yet.", color_scheme="gray", data_testid="orders-empty"),
        ),
        live=BillingState,
    )


# --- After Checkout -------------------------------------------------------------------------


class CheckoutSuccessState(AuthState):
    headline: str = ""
    detail: str = ""
    ok: bool = False

    async def _refresh_page(self, viewer: Viewer) -> None:
        if self.ok:
            return  # fulfilled already; the shell's balance keeps itself current
        session_id = self.router.url.query_parameters.get("session_id", "")
        gateway = get_gateway()
        if gateway is None:
            self.headline, self.detail = "Payments are not configured", ""
            return
        try:
            result = await asyncio.to_thread(
                billing.fulfil_checkout,
                engine=None,
                gateway=gateway,
                catalog=get_catalog(),
                checkout_session_id=str(session_id),
                user_id=viewer.user_id,
            )
        except NotFound:
            self.headline = "We could not find that checkout"
            self.detail = "If you paid, your order appears under Billing within a minute."
            return
        except DomainError as error:
            self.headline, self.detail = "We could not confirm the payment yet", error.message
            return
        if result.mode == "subscription":
            self.ok = True
            self.headline = "Thank you: your subscription has started"
            self.detail = f"Your balance is {result.available:,} credits."
        elif result.status in ("paid", "refunded", "partially_refunded", "disputed"):
            self.ok = True
            self.headline = f"Payment received: {result.credits_granted:,} credits added"
            self.detail = f"Your balance is now {result.available:,} credits."
        else:
            self.headline = "Your payment is being processed"
            self.detail = "Credits are added as soon as Stripe confirms it."
        self.available_credits = result.available

    @rx.event
    async def load(self):
        self.ok, self.headline, self.detail = False, "", ""
        return await self._load_page()

    @rx.event
    async def poll_live(self, _tick: str = ""):
        return await self._poll_page()


def checkout_success_page() -> rx.Component:
    return shell(
        page_heading("Checkout", ""),
        rx.card(
            rx.vstack(
                rx.heading(CheckoutSuccessState.headline, size="5", data_testid="checkout-result"),
                rx.text(CheckoutSuccessState.detail, data_testid="checkout-detail"),
                rx.hstack(
                    rx.link("Back to billing", href=routes.BILLING),
                    rx.link("See your credits", href=routes.CREDITS),
                    spacing="4",
                ),
                spacing="3",
            ),
        ),
        live=CheckoutSuccessState,
    )


# --- Orders ----------------------------------------------------------------------------------


def _orders_page(user_id: int, before_id: int | None) -> tuple[list[dict[str, str]], int | None]:
    with session_scope() as session:
        page = billing.list_orders(session=session, user_id=user_id, before_id=before_id)
        return [_order_row(order) for order in page.orders], page.next_before_id


def _stale_orders(user_id: int) -> list[int]:
    with session_scope() as session:
        return billing.stale_order_ids(session=session, user_id=user_id)


def _refresh_orders(order_ids: list[int]) -> None:
    gateway = get_gateway()
    if gateway is None:
        return
    for order_id in order_ids:
        try:
            billing.refresh_order(
                engine=None, gateway=gateway, catalog=get_catalog(), order_id=order_id
            )
        except DomainError as error:  # one order Stripe cannot explain does not stop the rest
            log.warning("could not refresh order %s: %s", order_id, error.message)


class OrdersState(AuthState):
    rows: list[dict[str, str]] = []
    has_more: bool = False
    refreshing: bool = False
    _cursor: int | None = None
    _stale: list[int] = []

    async def _refresh_page(self, viewer: Viewer) -> None:
        self.rows, self._cursor = await asyncio.to_thread(_orders_page, viewer.user_id, None)
        self.has_more = self._cursor is not None
        self._stale = await asyncio.to_thread(_stale_orders, viewer.user_id)

    @rx.event
    async def load(self):
        result = await self._load_page()
        if result is not None:
            return result
        if self._stale and get_gateway() is not None:
            return OrdersState.refresh_stale
        return None

    @rx.event
    async def poll_live(self, _tick: str = ""):
        return await self._poll_page()

    @rx.event
    async def load_more(self):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        if self._cursor is None:
            return None
        more, self._cursor = await asyncio.to_thread(_orders_page, viewer.user_id, self._cursor)
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
            stale, self._stale, self.refreshing = list(self._stale), [], True
        await asyncio.to_thread(_refresh_orders, stale)
        rows, cursor = await asyncio.to_thread(_orders_page, viewer.user_id, None)
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
            _orders_table(OrdersState.rows),
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


def _order_detail(user_id: int, raw_id: str) -> dict[str, str] | None:
    if not raw_id.isdigit() or len(raw_id) > 12:
        return None
    with session_scope() as session:
        try:
            order = billing.get_order(session=session, user_id=user_id, order_id=int(raw_id))
        except NotFound:
            return None
        row = _order_row(order)
        lines = [
            f"{item.get('name', '')} × {item.get('quantity', 1)}: "
            f"{_money(int(item.get('amount', 0)), order.currency)}"
            for item in order.items
        ]
        return {
            **row,
            "lines": "\n".join(lines),
            "refunded": _money(order.amount_refunded, order.currency)
            if order.amount_refunded
            else "",
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
        found = await asyncio.to_thread(_order_detail, viewer.user_id, raw)
        self.order, self.missing = found or {}, found is None

    @rx.event
    async def load(self):
        return await self._load_page()

    @rx.event
    async def poll_live(self, _tick: str = ""):
        return await self._poll_page()


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
