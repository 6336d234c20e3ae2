"""Overview: balances, usage meters, spending over 30 days, plan and boosts."""

from __future__ import annotations

import asyncio

import reflex as rx

from dashboard_app.db import session_scope
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.dashboard import MemberOverview, member_overview
from dashboard_app.web import routes
from dashboard_app.web.components.cards import page_heading, stat_card
from dashboard_app.web.layout import shell
from dashboard_app.web.state.auth import AuthState, LivePage, Viewer


def _load_overview(user_id: int) -> MemberOverview:
    with session_scope() as session:
        return member_overview(session=session, user_id=user_id, catalog=get_catalog())


def _meter(used: int, limit: int) -> int:
    return 100 if limit == 0 else min(100, round(used * 100 / limit))


class OverviewState(LivePage, AuthState):
    reserved_credits: int = 0
    lifetime_credits: int = 0
    spent_credits: int = 0
    low_balance: bool = False
    plan_name: str = ""
    boosts: list[dict[str, str]] = []
    meters: list[dict[str, str | int]] = []
    meters_reset: str = ""
    spent_chart: list[dict[str, str | int]] = []
    expiry_notice: str = ""

    async def _refresh_page(self, viewer: Viewer) -> None:
        overview = await asyncio.to_thread(_load_overview, viewer.user_id)
        balances = overview.balances
        self.available_credits = balances.available
        self.reserved_credits = balances.reserved
        self.lifetime_credits = balances.lifetime
        self.spent_credits = balances.spent
        self.low_balance = overview.low_balance
        self.plan_name = overview.plan_name
        self.boosts = [
            {"name": b.name, "ends": f"{b.ends_at:%d %b %Y, %H:%M} UTC"} for b in overview.boosts
        ]
        usage, limits = overview.usage, overview.limits
        self.meters = [
            {
                "label": "Exports",
                "used": f"{usage.exports} of {limits.monthly_exports}",
                "percent": _meter(usage.exports, limits.monthly_exports),
            },
            {
                "label": "Processing minutes",
                "used": f"{usage.processing_minutes} of {limits.monthly_minutes}",
                "percent": _meter(usage.processing_minutes, limits.monthly_minutes),
            },
        ]
        self.meters_reset = f"{usage.resets_at:%d %B %Y}"
        self.spent_chart = [
            {"day": f"{day:%d %b}", "spent": spent} for day, spent in overview.spent_per_day
        ]
        self.expiry_notice = (
            f"{overview.next_expiry[1]} credits expire on {overview.next_expiry[0]:%d %B %Y}."
            if overview.next_expiry
            else ""
        )


def _low_balance_warning() -> rx.Component:
    return rx.cond(
        OverviewState.low_balance,
        rx.callout(
            rx.hstack(
                rx.text("Your balance is running low."),
                rx.link(
                    "Buy credits",
                    href=routes.BILLING,
                    weight="bold",
                    high_contrast=True,
                    underline="always",
                ),
                spacing="2",
                wrap="wrap",
            ),
            icon="triangle-alert",
            color_scheme="amber",
            high_contrast=True,  # amber text on amber is too pale in the light theme
            data_testid="low-balance",
            width="100%",
        ),
    )


def _meter_row(meter: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(meter["label"], weight="medium"),
            rx.spacer(),
            rx.text(meter["used"], color_scheme="gray", data_testid="meter-used"),
            width="100%",
        ),
        rx.progress(value=meter["percent"].to(int), width="100%", aria_label=meter["label"]),
        width="100%",
        spacing="1",
    )


def _usage_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("This month", size="4"),
            rx.foreach(OverviewState.meters, _meter_row),
            rx.text("Meters reset on ", OverviewState.meters_reset, size="1", color_scheme="gray"),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _boost_line(boost: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.badge(rx.icon("zap", size=14), boost["name"], color_scheme="amber"),
        rx.text("until ", boost["ends"], size="2", color_scheme="gray"),
        data_testid="active-boost",
        align="center",
    )


def _plan_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Plan", size="4"),
            rx.text(OverviewState.plan_name, size="5", weight="bold", data_testid="plan-name"),
            rx.foreach(OverviewState.boosts, _boost_line),
            rx.cond(
                OverviewState.expiry_notice != "",
                rx.text(OverviewState.expiry_notice, size="2", data_testid="expiry-notice"),
            ),
            rx.link("Change plan", href=routes.BILLING, size="2"),
            spacing="2",
        ),
        width="100%",
    )


def _spending_chart() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Credits spent, last 30 days", size="4"),
            rx.recharts.bar_chart(
                rx.recharts.bar(data_key="spent", fill=rx.color("accent", 9), name="Spent"),
                rx.recharts.x_axis(data_key="day", interval="preserveStartEnd"),
                rx.recharts.y_axis(allow_decimals=False, width=40),
                rx.recharts.graphing_tooltip(),
                data=OverviewState.spent_chart,
                width="100%",
                height=220,
            ),
            width="100%",
        ),
        width="100%",
    )


def overview_page() -> rx.Component:
    return shell(
        page_heading("Overview", "Your credits at a glance."),
        rx.vstack(
            _low_balance_warning(),
            rx.grid(
                stat_card("Available credits", AuthState.available_credits, "balance-available"),
                stat_card("Lifetime credits", OverviewState.lifetime_credits, "balance-lifetime"),
                stat_card("Spent", OverviewState.spent_credits, "balance-spent"),
                rx.cond(
                    OverviewState.reserved_credits > 0,
                    stat_card(
                        "Held for jobs in flight",
                        OverviewState.reserved_credits,
                        "balance-reserved",
                    ),
                ),
                columns=rx.breakpoints(initial="1", sm="2", lg="4"),
                spacing="4",
                width="100%",
            ),
            rx.link("See credit history", href=routes.CREDITS, data_testid="history-link"),
            rx.grid(
                _usage_card(),
                _plan_card(),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="4",
                width="100%",
            ),
            _spending_chart(),
            spacing="4",
            width="100%",
        ),
        live=OverviewState,
    )
