"""The page Stripe Checkout returns to: confirms the payment and shows the new balance."""

from __future__ import annotations

import asyncio

import reflex as rx

from dashboard_app.domain import billing
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError, NotFound
from dashboard_app.domain.rate_limits import RateLimited
from dashboard_app.integrations.stripe_gateway import get_gateway
from dashboard_app.web import routes
from dashboard_app.web.components.cards import page_heading
from dashboard_app.web.layout import shell
from dashboard_app.web.state.auth import AuthState, Viewer


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
                billing.confirm_checkout,
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
        except RateLimited:
            self.headline = "We are still confirming your payment"
            self.detail = "Your order appears under Billing as soon as Stripe confirms it."
            return
        except DomainError as error:
            self.headline, self.detail = "We could not confirm the payment yet", error.message
            return
        if result.status == "refused_duplicate":
            self.ok = True
            self.headline = "You already have a subscription"
            self.detail = (
                "This second subscription was canceled and its payment refunded; "
                "nothing more will be charged."
            )
        elif result.mode == "subscription":
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
    async def poll_live(self, nudge: int = 0):
        return await self._poll_page(nudge)


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
