"""The billing page: packs and plans to buy through Stripe Checkout, and the member's plan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import reflex as rx
from sqlmodel import Session

from dashboard_app.db import read
from dashboard_app.domain import billing
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError
from dashboard_app.domain.plans import current_plan_code
from dashboard_app.integrations.stripe_gateway import get_gateway
from dashboard_app.models import User
from dashboard_app.settings import get_settings
from dashboard_app.web import routes
from dashboard_app.web.components.cards import page_heading
from dashboard_app.web.layout import shell
from dashboard_app.web.pages.billing.common import money, order_row, orders_table
from dashboard_app.web.state.auth import AuthState, Viewer
from dashboard_app.web.state.payloads import Payload, bad_payload, read_payload


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


def _billing_view(session: Session, user_id: int) -> BillingView:
    catalog = get_catalog()
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
                "price": money(p.price_cents, p.currency),
            }
            for p in billing.products(catalog)
            if p.kind == "pack"
        ],
        plans=[
            {
                "code": p.code,
                "name": p.name,
                "credits": f"{p.credits:,} credits every {p.interval}",
                "price": f"{money(p.price_cents, p.currency)} / {p.interval}",
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
        recent_orders=[order_row(order) for order in recent],
    )


class BuyPayload(Payload):
    code: str


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
        view = await read(_billing_view, viewer.user_id)
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
    async def poll_live(self, nudge: int = 0):
        return await self._poll_page(nudge)

    @rx.event
    async def buy(self, code: str | None = None):
        """Start Stripe Checkout for a pack or a plan; the browser goes to Stripe's page."""
        viewer = await self._viewer()
        if viewer is None:
            yield self._to_sign_in()
            return
        payload = read_payload(BuyPayload, {"code": code})
        if payload is None:
            self.error, self.starting = "", ""
            yield bad_payload()
            return
        try:
            product = billing.find_product(get_catalog(), payload.code)
        except DomainError as error:
            self.error, self.starting = error.message, ""
            return
        self.error, self.starting = "", product.code
        yield
        base = get_settings().public_base_url
        try:
            url = await asyncio.to_thread(
                billing.start_checkout,
                engine=None,
                gateway=billing.require_gateway(),
                catalog=get_catalog(),
                user_id=viewer.user_id,
                code=product.code,
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
                gateway=billing.require_gateway(),
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
            orders_table(BillingState.recent_orders),
            rx.text("No orders yet.", color_scheme="gray", data_testid="orders-empty"),
        ),
        live=BillingState,
    )
