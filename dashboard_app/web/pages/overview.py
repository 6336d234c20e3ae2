"""Overview: the member's credit balances."""

from __future__ import annotations

import asyncio

import reflex as rx

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.web.components.cards import page_heading, stat_card
from dashboard_app.web.layout import shell
from dashboard_app.web.state.auth import AuthState


def _balances(user_id: int) -> credits.Balances:
    with session_scope() as session:
        return credits.get_balances(session=session, user_id=user_id)


class OverviewState(AuthState):
    reserved_credits: int = 0
    lifetime_credits: int = 0
    spent_credits: int = 0

    @rx.event
    async def load(self):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        balances = await asyncio.to_thread(_balances, viewer.user_id)
        self.available_credits = balances.available
        self.reserved_credits = balances.reserved
        self.lifetime_credits = balances.lifetime
        self.spent_credits = balances.spent
        return None


def overview_page() -> rx.Component:
    return shell(
        page_heading("Overview", "Your credits at a glance."),
        rx.grid(
            stat_card("Available credits", AuthState.available_credits, "balance-available"),
            stat_card("Reserved for jobs", OverviewState.reserved_credits, "balance-reserved"),
            stat_card("Lifetime credits", OverviewState.lifetime_credits, "balance-lifetime"),
            stat_card("Spent", OverviewState.spent_credits, "balance-spent"),
            columns=rx.breakpoints(initial="1", sm="2", lg="4"),
            spacing="4",
            width="100%",
        ),
    )
