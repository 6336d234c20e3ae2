"""Overview: balances, jobs in progress, recent generations and exports, usage meters,
spending over 30 days, plan and boosts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import reflex as rx
from sqlmodel import Session

from dashboard_app.db import read, session_scope
from dashboard_app.domain import credits
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.dashboard import MemberOverview, member_overview
from dashboard_app.domain.generation import downloads, drafts, library, review
from dashboard_app.models.base import utcnow
from dashboard_app.web import routes
from dashboard_app.web.components.cards import page_heading, stat_card
from dashboard_app.web.components.jobs import progress_bar, status_badge, when
from dashboard_app.web.layout import shell
from dashboard_app.web.media import MediaLinks
from dashboard_app.web.state.auth import AuthState, LivePage, Viewer


@dataclass
class RunningJob:
    title: str
    href: str
    status: str
    progress: int


@dataclass
class RecentResult:
    title: str
    href: str
    thumbnail_url: str


@dataclass
class RecentExport:
    title: str
    when: str


@dataclass(frozen=True)
class Generations:
    """The overview's generation part: jobs in flight, recent results and exports, a draft."""

    running: list[RunningJob]
    recent: list[RecentResult]
    exports: list[RecentExport]
    draft_href: str
    links: dict[str, list]


def _load(
    session: Session, user_id: int, links: dict[str, list], first: bool = True
) -> tuple[MemberOverview, Generations] | None:
    """Everything the overview shows, or, the first time, None when credits are due to expire
    (a write: expired credits leave through an entry before the member sees a balance)."""
    now = utcnow()
    if first and credits.has_due_credits(session, user_id, now):
        return None
    overview = member_overview(session=session, user_id=user_id, catalog=get_catalog(), now=now)
    return overview, _generations(session, user_id, links)


def _expire(user_id: int) -> None:
    with session_scope() as session:
        credits.expire_credits(session=session, user_id=user_id)


def _generations(session: Session, user_id: int, links: dict[str, list]) -> Generations:
    media = MediaLinks(user_id, links)
    running = [
        RunningJob(
            title=job.title,
            href=routes.review_path(job.id or 0),
            status=job.status,
            progress=job.progress,
        )
        for job in review.jobs_in_progress(session=session, user_id=user_id)
    ]
    recent = [
        RecentResult(
            title=asset.title,
            href=routes.review_path(asset.generation_id) if asset.generation_id else "",
            thumbnail_url=media.link(asset, "thumbnail"),
        )
        for asset in library.recent_results(session=session, user_id=user_id, limit=8)
    ]
    exports = [
        RecentExport(title=export.title, when=when(export.exported_at))
        for export in downloads.recent_exports(session=session, user_id=user_id, limit=5)
    ]
    latest = drafts.open_drafts(session=session, user_id=user_id, limit=1)
    draft_href = routes.draft_url(latest[0].id or 0) if latest else ""
    return Generations(running, recent, exports, draft_href, media.kept)


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
    running: list[RunningJob] = []
    recent: list[RecentResult] = []
    exports: list[RecentExport] = []
    draft_href: str = ""
    _links: dict[str, list] = {}

    async def _refresh_page(self, viewer: Viewer) -> None:
        loaded = await read(_load, viewer.user_id, self._links)
        if loaded is None:
            await asyncio.to_thread(_expire, viewer.user_id)
            loaded = await read(_load, viewer.user_id, self._links, False)
        assert loaded is not None
        overview, generations = loaded
        self.running, self.recent, self.exports = (
            generations.running,
            generations.recent,
            generations.exports,
        )
        self.draft_href, self._links = generations.draft_href, generations.links
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


def _actions() -> rx.Component:
    return rx.hstack(
        rx.button(
            rx.icon("sparkles", size=16),
            "Create new reel",
            on_click=rx.redirect(routes.CREATE),
            data_testid="create-new-reel",
        ),
        rx.cond(
            OverviewState.draft_href != "",
            rx.button(
                rx.icon("file-pen-line", size=16),
                "Continue draft",
                variant="soft",
                on_click=rx.redirect(OverviewState.draft_href),
                data_testid="continue-draft",
            ),
        ),
        spacing="3",
        wrap="wrap",
    )


def _running_row(job: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.link(job.title, href=job.href, weight="medium"),
            rx.spacer(),
            status_badge(job.status),
            width="100%",
            align="center",
        ),
        progress_bar(job.progress, "Progress of " + job.title, "running-progress"),
        width="100%",
        spacing="1",
        data_testid="running-job",
    )


def _running_card() -> rx.Component:
    return rx.cond(
        OverviewState.running.length() > 0,
        rx.card(
            rx.vstack(
                rx.heading("In progress", size="4"),
                rx.foreach(OverviewState.running, _running_row),
                spacing="3",
                width="100%",
            ),
            width="100%",
        ),
    )


def _recent_tile(result: rx.Var) -> rx.Component:
    return rx.link(
        rx.image(
            src=result.thumbnail_url,
            alt=result.title,
            width="100%",
            style={"aspectRatio": "9 / 16", "objectFit": "cover", "borderRadius": "6px"},
        ),
        href=result.href,
        data_testid="recent-result",
    )


def _recent_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Recent generations", size="4"),
            rx.cond(
                OverviewState.recent.length() > 0,
                rx.grid(
                    rx.foreach(OverviewState.recent, _recent_tile),
                    columns=rx.breakpoints(initial="4", md="8"),
                    spacing="2",
                    width="100%",
                ),
                rx.text("Your results appear here as they are made.", size="2"),
            ),
            rx.heading("Recent exports", size="3", margin_top="0.5rem"),
            rx.cond(
                OverviewState.exports.length() > 0,
                rx.foreach(
                    OverviewState.exports,
                    lambda export: rx.text(
                        export.title,
                        " · ",
                        export.when,
                        size="2",
                        data_testid="recent-export",
                    ),
                ),
                rx.text("Downloads from your library appear here.", size="2"),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def overview_page() -> rx.Component:
    return shell(
        page_heading("Overview", "Your credits at a glance."),
        rx.vstack(
            _low_balance_warning(),
            _actions(),
            _running_card(),
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
            _recent_card(),
            _spending_chart(),
            spacing="4",
            width="100%",
        ),
        live=OverviewState,
    )
